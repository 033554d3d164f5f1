-- Resuming bit-for-bit: for every first-order optimizer, N epochs, a
-- checkpoint, then M more epochs in a NEW PROCESS give files byte-identical
-- to N+M epochs straight (parameters, optimizer state, step count, RNG).
-- The runs shuffle (the RNG matters) and put a schedule on each parameter
-- group's lr that depends on the step (the step count matters).
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
local exe = arg[-1]
local N, M = 2, 3

-- Optimizers that need a closure (several evaluations per step) do not
-- run under ol.train; the child skips whatever ol.train refuses.
local child = dir .. "/child.lua"
local f = assert(io.open(child, "w"))
f:write(string.format([[
local ol = require "optlua"
local phase, dir, N, M = arg[1], %q, %d, %d
local function setup(name, dtype)
  ol.seed(7)
  local ds = ol.data.synthetic{kind = "spirals", n = 75, classes = 3}
  local net = ol.nn.mlp{sizes = {2, 6, 3}, activation = "tanh", dtype = dtype}
  local opt = ol.optim[name](net)
  -- Each group's lr on its own schedule (muon's two groups have their own lr).
  -- (rprop's lr is its initial step size, read at the first step only: it takes no schedule)
  if ol.optim.defaults(name).lr and name ~= "rprop" then
    for _, g in ipairs(opt.groups) do
      local lr0 = g.lr
      g:schedule("lr", function(t) return lr0 * (1 + 3 / t) end)
    end
  end
  return net, opt, ol.data.loader(ds, {batch_size = 16, shuffle = true, dtype = dtype})
end
local function train(net, opt, loader, epochs)
  return pcall(ol.train, {model = net, optimizer = opt, data = loader, epochs = epochs,
                          progress = false})
end
local done = {}
local second_order = {cg = 1, lbfgs = 1, newton = 1, hessian_free = 1}
for _, name in ipairs(ol.optim.list()) do
  if second_order[name] then goto next end
  local dtype = #done %% 2 == 0 and "f32" or "f64"
  local base = dir .. "/" .. name
  if phase == "first" then
    local net, opt, loader = setup(name, dtype)
    if train(net, opt, loader, N + M) then
      ol.save(base .. ".straight", {model = net, optimizer = opt})
      net, opt, loader = setup(name, dtype)
      assert(train(net, opt, loader, N))
      ol.save(base .. ".ck", {model = net, optimizer = opt, meta = {epochs = N}})
      -- A control: the same resume without the RNG must differ.
      local net2, opt2, loader2 = setup(name, dtype)
      ol.load(base .. ".ck"):restore(net2, opt2, {rng = false})
      assert(train(net2, opt2, loader2, M))
      ol.save(base .. ".norng", {model = net2, optimizer = opt2})
      done[#done + 1] = name
    end
  else
    local f = io.open(base .. ".ck", "rb")
    if f then
      f:close()
      local net, opt, loader = setup(name, dtype)
      ol.load(base .. ".ck"):restore(net, opt)
      assert(train(net, opt, loader, M))
      ol.save(base .. ".resumed", {model = net, optimizer = opt})
      done[#done + 1] = name
    end
  end
  ::next::
end
io.write("RAN: ", table.concat(done, " "))
]], dir, N, M))
f:close()

local function run(phase)
  local h = io.popen("'" .. exe .. "' " .. child .. " " .. phase .. " 2>&1")
  local out = h:read("a")
  local ok = h:close()
  return ok, out
end

local function read_all(p)
  local h = io.open(p, "rb")
  if not h then return nil end
  local s = h:read("a")
  h:close()
  return s
end

local ok1, out1 = run("first")
local ok2, out2 = run("resume")
local first = ok1 and out1:match("RAN: ([^\n]*)$") or ""
local second = ok2 and out2:match("RAN: ([^\n]*)$") or ""

T.test("both processes ran", function()
  T.ok(ok1, out1)
  T.ok(ok2, out2)
  T.eq(second, first, "the processes trained different optimizers")
end)

T.test("every first-order optimizer takes part", function()
  local ol = require "optlua"
  local names = {}
  for name in first:gmatch("%S+") do names[name] = true end
  for _, name in ipairs(ol.optim.list()) do
    if not ({cg = 1, lbfgs = 1, newton = 1, hessian_free = 1})[name] then
      T.ok(names[name], name .. " did not run under ol.train")
    end
  end
end)

for name in first:gmatch("%S+") do
  T.test(name .. ": resumed in a new process == straight, byte for byte", function()
    local straight = read_all(dir .. "/" .. name .. ".straight")
    local resumed = read_all(dir .. "/" .. name .. ".resumed")
    T.ok(straight and resumed, "missing output files")
    T.ok(#straight > 100)
    T.ok(straight == resumed, "files differ")
    -- The control shows that the comparison can fail: without the RNG the
    -- shuffled order differs, and so do the parameters.
    T.ok(read_all(dir .. "/" .. name .. ".norng") ~= straight, "the RNG made no difference")
  end)
end

T.test("(remove the temporary directory)", function() os.execute("rm -rf " .. dir) end)
T.run()
