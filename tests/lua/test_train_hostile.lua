-- ol.train against bad values and misuse: non-finite or overflowing
-- optimizer options, a step that overflows, a run that skips every batch,
-- a log that cannot be written, a hook that reads the training loader.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local function same(a, b)
  return (a - b):abs():max() == 0
end

local function net_of(dtype)
  ol.seed(4)
  return ol.nn.mlp{sizes = {2, 8, 3}, activation = "relu", dtype = dtype}
end

T.test("non-finite option values are refused at construction and assignment", function()
  local net = net_of("f64")
  T.raises("option 'lr' must be finite, got inf", ol.optim.sgd, net, {lr = math.huge})
  T.raises("option 'momentum' must be finite, got inf", ol.optim.sgd, net, {momentum = math.huge})
  T.raises("option 'eps' must be finite, got inf", ol.optim.adam, net, {eps = math.huge})
  T.raises("option 'etas' element 2 must be finite, got inf", ol.optim.rprop, net, {etas = {0.5, math.huge}})
  -- A limit where infinity means none stays allowed.
  T.eq(ol.optim.adaptive_gains(net, {gain_max = math.huge}).gain_max, math.huge)
  local opt = ol.optim.sgd(net, {lr = 0.1})
  T.raises("option 'lr' must be finite, got inf", function() opt.lr = math.huge end)
  T.eq(opt.lr, 0.1)
end)

T.test("an f32 optimizer refuses a value beyond the largest f32", function()
  local net = net_of("f32")
  local opt = ol.optim.sgd(net, {lr = 0.1})
  T.raises("option 'lr' is 1e+39, beyond the largest f32", function() opt.lr = 1e39 end)
  T.eq(opt.lr, 0.1)
  opt.lr = 3e38 -- in range
  -- At construction too, and +inf where it means no limit stays allowed.
  T.raises("option 'lr' is 1e+39, beyond the largest f32", ol.optim.sgd, net, {lr = 1e39})
  T.eq(ol.optim.adaptive_gains(net, {gain_max = math.huge}).gain_max, math.huge)
  -- A schedule's value meets the element type at the step, before any
  -- parameter moves.
  local ds = ol.data.synthetic{kind = "blobs", n = 20, classes = 3}
  local sched = ol.optim.sgd(net, {lr = 0.1})
  sched:schedule("lr", function() return 1e39 end)
  local before = net:params():clone()
  T.raises("option 'lr' is 1e+39, beyond the largest f32", ol.train,
           {model = net, optimizer = sched, data = ol.data.loader(ds, {batch_size = 5}), progress = false})
  T.ok(same(net:params(), before), "the parameters moved")
  -- An f64 optimizer takes it.
  ol.optim.sgd(net_of("f64"), {lr = 1e39})
end)

-- Six samples in order, batch size 1. Sample 3 is far out, so its gradient
-- is in the hundreds: the step that lr = 1.7e308 takes there overflows
-- (finite gradient, finite lr, infinite result). The schedule gives that
-- lr once, at the first attempt at step 3.
local xs = {{0.5, -1}, {1.5, 0.25}, {1000, -1000}, {0.1, 0.9}, {-1.2, -0.3}, {0.8, -0.6}}
local ys = {1, 2, 3, 1, 2, 3}

local function build(name, opts, keep, huge)
  local x, y = {}, {}
  for i = 1, 6 do
    if keep(i) then x[#x + 1] = xs[i]; y[#y + 1] = ys[i] end
  end
  local net = net_of("f64")
  local opt = ol.optim[name](net, opts)
  if huge then
    local given = false
    opt:schedule("lr", function(t)
      if t == 3 and not given then given = true; return 1.7e308 end
      return opts.lr
    end)
  end
  local ds = ol.data.dataset(ol.tensor(x, "f64"), ol.tensor(y, "f64"))
  return net, opt, ol.data.loader(ds, {batch_size = 1, shuffle = false, dtype = "f64"})
end

for _, case in ipairs({{"sgd", {lr = 0.1}}, {"sgd", {lr = 0.1, momentum = 0.9}},
                       {"nag", {lr = 0.1, momentum = 0.9}}}) do
  local name, opts = case[1], case[2]
  local label = name .. (opts.momentum and " with momentum" or "")

  T.test(label .. ": a step that overflows fails naming it", function()
    local net, opt, loader = build(name, opts, function() return true end, true)
    T.raises("non-finite parameters after step 3 (epoch 1, batch 3)", ol.train,
             {model = net, optimizer = opt, data = loader, progress = false})
  end)

  T.test(label .. ": on_nonfinite = 'stop' at an overflowing step keeps step 2", function()
    local net, opt, loader = build(name, opts, function() return true end, true)
    local s = ol.train{model = net, optimizer = opt, data = loader, progress = false,
                       on_nonfinite = "stop"}
    T.eq(s.nonfinite, true)
    T.eq(s.step, 2)
    T.eq(opt.t, 2)
    local ref, ropt, rl = build(name, opts, function(i) return i <= 2 end)
    ol.train{model = ref, optimizer = ropt, data = rl, progress = false}
    T.ok(same(net:params(), ref:params()), "not the parameters of step 2")
    for k, v in pairs(opt:state()) do T.ok(same(v, ropt:state()[k]), "state " .. k) end
  end)

  T.test(label .. ": on_nonfinite = 'skip' undoes the overflowing step", function()
    local net, opt, loader = build(name, opts, function() return true end, true)
    local s = ol.train{model = net, optimizer = opt, data = loader, progress = false,
                       on_nonfinite = "skip"}
    T.eq(s.skipped, 1)
    T.eq(opt.t, 5)
    local ref, ropt, rl = build(name, opts, function(i) return i ~= 3 end)
    ol.train{model = ref, optimizer = ropt, data = rl, progress = false}
    T.ok(same(net:params(), ref:params()), "the skipped step changed the parameters")
    for k, v in pairs(opt:state()) do T.ok(same(v, ropt:state()[k]), "state " .. k) end
  end)
end

T.test("a run that skips every batch fails", function()
  local x = ol.tensor({{0 / 0, 1}, {1, 0 / 0}, {0 / 0, 0 / 0}}, "f64")
  local ds = ol.data.dataset(x, ol.tensor({1, 2, 3}, "f64"))
  local net = net_of("f64")
  local before = net:params():clone()
  T.raises("every batch (6) was skipped", ol.train,
           {model = net, optimizer = ol.optim.sgd(net, {lr = 0.1}), progress = false,
            data = ol.data.loader(ds, {batch_size = 1, dtype = "f64"}), epochs = 2,
            on_nonfinite = "skip"})
  T.ok(same(net:params(), before), "the parameters moved")
end)

T.test("a log that cannot be written fails the run naming the file", function()
  local f = io.open("/dev/full", "w")
  if not f then return T.skip("no /dev/full") end
  f:close()
  local net = net_of("f64")
  local ds = ol.data.synthetic{kind = "blobs", n = 60, classes = 3}
  -- One line per step and per epoch: the first flush already fails.
  T.raises("log '/dev/full': cannot write: No space left on device", ol.train,
           {model = net, optimizer = ol.optim.sgd(net, {lr = 0.1}), progress = false,
            data = ol.data.loader(ds, {batch_size = 10}), epochs = 2, every = 1,
            log = "/dev/full"})
  -- Only epoch lines: the failure is found as well.
  T.raises("log '/dev/full': cannot write", ol.train,
           {model = net, optimizer = ol.optim.sgd(net, {lr = 0.1}), progress = false,
            data = ol.data.loader(ds, {batch_size = 10}), every = 1000, log = "/dev/full"})
end)

-- A hook or schedule that iterates the training loader would restart its
-- epoch forever; the guard turns a regression into a failure, not a hang.
local function looping_run(where)
  local net = net_of("f64")
  local ds = ol.data.synthetic{kind = "blobs", n = 40, classes = 3}
  local loader = ol.data.loader(ds, {batch_size = 10})
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local calls = 0
  local function read()
    calls = calls + 1
    if calls > 100 then error("the loop did not end") end
    for _ in loader:batches() do end
  end
  local cfg = {model = net, optimizer = opt, data = loader, progress = false, epochs = 2, every = 1}
  if where == "schedule" then
    opt:schedule("lr", function() read(); return 0.1 end)
  else
    cfg[where] = function() read() end
  end
  return ol.train, cfg
end

for _, where in ipairs({"schedule", "on_step"}) do
  T.test("reading the training loader in " .. where .. " is an error", function()
    T.raises("the training data's loader was read by a schedule or hook during the run",
             looping_run(where))
  end)
end

T.test("on_epoch may read the training loader: the next epoch starts afresh", function()
  local train, cfg = looping_run("on_epoch")
  local s = train(cfg)
  T.eq(s.step, 8)
end)

T.run()
