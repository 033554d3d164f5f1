-- ol.train{checkpoint = {path, every, state, restore}, resume = path}: a
-- run stopped by a real SIGINT (sent by a hook to its own process) and
-- resumed in a NEW PROCESS from the checkpoint it left ends with weights
-- bit-identical to a run never stopped (same thread count): sgd with
-- dropout (the RNG mid-epoch), adam with a weight average, a schedule with
-- a plateau cut kept in Lua, accumulation, early stopping with its best
-- weights, and a stop landing in the epoch hook. Then what resume refuses.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
local exe = arg[-1]

-- The child: CASE PHASE, PHASE one of straight (never stopped), first
-- (stopped by SIGINT at step STOP, or in the epoch hook), resume (from the
-- first phase's checkpoint). It writes the weights (%a) and the figures.
local child = dir .. "/child.lua"
local f = assert(io.open(child, "w"))
f:write(string.format([[
local ol = require "optlua"
local case, phase, dir = arg[1], arg[2], %q
local C = ({
  sgd      = {opt = "sgd", options = {lr = 0.05, momentum = 0.9}, dropout = 0.2, stop = 23},
  adam     = {opt = "adam", ema = true, stop = 23},
  plateau  = {opt = "sgd", options = {lr = 0.1, momentum = 0.9}, plateau = true, stop = 40},
  accum    = {opt = "adam", accumulate = 3, stop = 7},
  early    = {opt = "sgd", options = {lr = 0.1}, early = true, stop = 30, jump = 3},
  in_epoch = {opt = "adam", stop_epoch = 3},
})[case]
ol.seed(5)
local ds = ol.data.synthetic{kind = "spirals", n = 90, classes = 3}
local train, val = ds:split(0.8)
local net = ol.nn.mlp{sizes = {2, 16, 3}, activation = "relu", dropout = C.dropout}
local opt = ol.optim[C.opt](net, C.options)
local avg = C.ema and ol.average.ema(net, {decay = 0.9}) or nil
local loader = ol.data.loader(train, {batch_size = 8, shuffle = true})
-- What the script keeps in Lua: a plateau detector and the cut it made,
-- applied by the lr's schedule.
local plateau = ol.plateau{mode = "min", patience = 0, threshold = 0.02}
local cut, cuts = 1, {}
local lr0 = opt.lr
if C.plateau then opt:schedule("lr", function(t) return lr0 * cut * (1 + 10 / t) end) end
local path = dir .. "/" .. case .. ".ck"
local opts = {model = net, optimizer = opt, data = loader, epochs = 7, validate = val, every = 1,
  average = avg, accumulate = C.accumulate,
  early_stop = C.early and {patience = 2} or nil,
  checkpoint = phase ~= "straight" and {path = path,
    state = function() return {cut = cut, plateau = plateau:state()} end,
    restore = function(t) if phase ~= "amnesia" then cut = t.cut plateau:load_state(t.plateau) end end} or nil,
  on_epoch = function(s)
    if C.plateau and plateau:update(s.val_loss) then cut = cut * 0.5 cuts[#cuts + 1] = s.epoch end
    if C.jump and s.epoch == C.jump then opt.lr = 20 end
    if phase == "first" and s.epoch == C.stop_epoch then io.popen("kill -INT $PPID"):close() end
  end}
if phase == "first" and C.stop then
  opts.on_step = function(s) if s.step == C.stop then io.popen("kill -INT $PPID"):close() end end
end
if phase == "resume" or phase == "amnesia" then opts.resume = path end
local r = ol.train(opts)
local out = assert(io.open(dir .. "/" .. case .. "." .. phase, "w"))
local p = net:params()
for i = 1, p:numel() do out:write(string.format("%%a\n", p[i])) end
if avg then
  for i = 1, avg.weights:numel() do out:write(string.format("avg %%a\n", avg.weights[i])) end
end
out:write(string.format("step %%d cut %%a best_epoch %%s early %%s\n", opt.t, cut, tostring(r.best_epoch),
                        tostring(r.early_stopped)))
out:close()
print(string.format("RESULT interrupted=%%s step=%%d cut=%%g cuts=%%s", tostring(r.interrupted), opt.t, cut,
                    table.concat(cuts, ",")))
]], dir))
f:close()

local function run(case, phase)
  local h = io.popen("'" .. exe .. "' " .. child .. " " .. case .. " " .. phase .. " 2>&1; echo EXIT $?")
  local out = h:read("a")
  h:close()
  T.ok(out:find("EXIT 0", 1, true), case .. " " .. phase .. " failed:\n" .. out)
  return out
end

local function read(case, phase)
  local fh = assert(io.open(dir .. "/" .. case .. "." .. phase, "rb"))
  local s = fh:read("a")
  fh:close()
  return s
end

local function resumes(case, check)
  return function()
    local straight = run(case, "straight")
    local first = run(case, "first")
    T.ok(first:find("RESULT interrupted=true", 1, true), "the first run was interrupted:\n" .. first)
    T.ok(first:match("interrupted at epoch %d+, step %d+; saved to "), "the progress line says so:\n" .. first)
    T.ok(not first:find("nan", 1, true), "no line of an epoch that never ran:\n" .. first)
    local resumed = run(case, "resume")
    T.ok(resumed:match("resuming from [^\n]+ at epoch %d+, batch %d+ %(step %d+%)"), resumed)
    T.ok(read(case, "resume") == read(case, "straight"), case .. ": resumed and uninterrupted differ")
    if check then check(straight, first, resumed) end
  end
end

T.test("sgd with dropout: stopped mid-epoch, resumed = uninterrupted, bit for bit", resumes("sgd",
  function(_, first)
    T.ok(first:find("interrupted at epoch 3, step 23", 1, true), first)
  end))

T.test("adam with a weight average: resumed = uninterrupted, the average too", resumes("adam",
  function() T.ok(read("adam", "straight"):find("avg ", 1, true), "the average is compared") end))

T.test("a schedule with a plateau cut kept in Lua: resumed = uninterrupted", resumes("plateau",
  function(straight, first)
    -- The plateau cut the lr before the stop and again after it.
    local before = first:match("cuts=([%d,]*)")
    local all = straight:match("cuts=([%d,]*)")
    T.ok(before ~= "" and #all > #before, "cuts before the stop: " .. before .. ", in all: " .. all)
    -- A control: the same resume without the script's state differs (from
    -- the first run's checkpoint again: the resumed run saved over it).
    run("plateau", "first")
    run("plateau", "amnesia")
    T.ok(read("plateau", "amnesia") ~= read("plateau", "straight"), "the Lua state matters here")
  end))

T.test("accumulate = 3: stopped and resumed at a step's boundary = uninterrupted", resumes("accum"))

T.test("early stopping's record and best weights resume too", resumes("early",
  function()
    local s = read("early", "straight")
    T.ok(s:find("early true", 1, true) and s:find("best_epoch 3", 1, true), s:sub(-80))
  end))

T.test("a Ctrl-C in the epoch hook: no step of the next epoch, no line for it, resumed = uninterrupted",
  resumes("in_epoch", function(_, first)
    T.ok(first:find("interrupted at epoch 4, step 27", 1, true), first)
    T.ok(not first:find("epoch 4/7", 1, true), "no epoch line for epoch 4:\n" .. first)
  end))

-- What resume refuses, before anything changes ---------------------------------

local function setup(sizes, name, bs)
  ol.seed(2)
  local ds = ol.data.synthetic{kind = "spirals", n = 40, classes = 3}
  local net = ol.nn.mlp{sizes = sizes or {2, 6, 3}, activation = "tanh"}
  local opt = ol.optim[name or "sgd"](net)
  return net, opt, ol.data.loader(ds, {batch_size = bs or 8, shuffle = true})
end

T.test("resume refuses another model, optimizer, batch size, a plain ol.save file, a finished run", function()
  local path = dir .. "/ref.ck"
  local net, opt, loader = setup()
  ol.train{model = net, optimizer = opt, data = loader, epochs = 2, progress = false, every = 1,
           checkpoint = {path = path}, on_step = function(s) if s.step == 7 then return false end end}
  T.eq(ol.load(path).meta.batch, 2, "stopped in epoch 2 after 2 of its 5 batches")
  local log = dir .. "/keep.jsonl"
  local fh = assert(io.open(log, "w"))
  fh:write("kept\n")
  fh:close()
  local function refused(pattern, n, o, l, extra)
    local before, t = n:params():clone(), o.t
    local cfg = {model = n, optimizer = o, data = l, epochs = 3, progress = false, resume = path, log = log}
    for k, v in pairs(extra or {}) do cfg[k] = v end
    T.raises(pattern, ol.train, cfg)
    T.eq((n:params() - before):abs():max(), 0, pattern .. ": the weights are untouched")
    T.eq(o.t, t, pattern .. ": the optimizer is untouched")
    local h = assert(io.open(log))
    T.eq(h:read("a"), "kept\n", pattern .. ": the log is not opened")
    h:close()
  end
  refused("bad argument #1 to 'train' (option 'resume': restore: tensor '1.weight' is 6x2 in the "
          .. "checkpoint but 7x2 here)", setup({2, 7, 3}))
  refused("option 'resume': restore: ", setup(nil, "adam"))
  refused("is of a run with 5 batches per epoch, this one has 3 (another batch_size, data set or "
          .. "drop_last?)", setup(nil, nil, 16))
  local plain = dir .. "/plain.ck"
  ol.save(plain, {model = net, optimizer = opt})
  local n2, o2, l2 = setup()
  T.raises("was not written by ol.train's checkpoint option", ol.train,
           {model = n2, optimizer = o2, data = l2, progress = false, resume = plain})
  T.raises("cannot open", ol.train, {model = n2, optimizer = o2, data = l2, progress = false,
                                     resume = dir .. "/missing.ck"})
  -- hand-made meta that claims a place without what resuming there needs
  local forged = dir .. "/forged.ck"
  ol.save(forged, {model = net, optimizer = opt, meta = {epoch = 1, batch = 2, batches = 5}})
  local n4, o4, l4 = setup()
  refused("stopped in the middle of epoch 1 but lacks the RNG as the epoch began", n4, o4, l4, {resume = forged})
  ol.save(forged, {model = net, optimizer = opt, meta = {epoch = 1, batch = 9, batches = 5}})
  refused("was not written by ol.train's checkpoint option", n4, o4, l4, {resume = forged})
  -- a damaged file
  local fh2 = assert(io.open(path, "rb"))
  local bytes = fh2:read("a")
  fh2:close()
  fh2 = assert(io.open(forged, "wb"))
  fh2:write(bytes:sub(1, #bytes - 7))
  fh2:close()
  refused("option 'resume': load: checkpoint", n4, o4, l4, {resume = forged})
  -- a run that ended: nothing left for epochs = 2
  ol.train{model = net, optimizer = opt, data = loader, epochs = 2, progress = false,
           checkpoint = {path = path}, resume = path}
  refused("is at the end of epoch 2: nothing is left to train in a run of 2 epochs", n2, o2, l2, {epochs = 2})
  -- a state saved by checkpoint.state needs checkpoint.restore to take it back
  local n3, o3, l3 = setup()
  ol.train{model = n3, optimizer = o3, data = l3, epochs = 1, progress = false,
           checkpoint = {path = path, state = function() return {x = 1} end}}
  refused("holds a script state (meta.state, from checkpoint.state): give checkpoint.restore", setup())
  T.raises("option 'resume' must be a file name", ol.train,
           {model = n3, optimizer = o3, data = l3, progress = false, resume = 3})
end)

T.test("checkpoint.state must return a table of storable values", function()
  local n, o, l = setup()
  T.raises("train: checkpoint.state must return a table, got number", ol.train,
           {model = n, optimizer = o, data = l, progress = false,
            checkpoint = {path = dir .. "/s.ck", state = function() return 3 end}})
  T.raises("train: checkpoint.state: cannot store a function", ol.train,
           {model = n, optimizer = o, data = l, progress = false,
            checkpoint = {path = dir .. "/s.ck", state = function() return {f = print} end}})
  -- what it returns comes back as ck.meta.state, inf and nested tables included
  ol.train{model = n, optimizer = o, data = l, progress = false,
           checkpoint = {path = dir .. "/s.ck", state = function() return {a = {b = math.huge}, s = "x"} end}}
  local st = ol.load(dir .. "/s.ck").meta.state
  T.eq(st.a.b, math.huge)
  T.eq(st.s, "x")
end)

T.run()
os.execute("rm -rf " .. dir)
