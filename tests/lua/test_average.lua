-- Weight averaging (ol.average): the ema and swa rules against reference
-- loops written here in plain Lua doubles, swap and copy_to, ol.train
-- with an average (updated after every step, validation on it, the model
-- left as without it), checkpoints (round trip, bit-exact resume, bad
-- files), and bad input.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local at = T.scratch()

-- The largest |a - b| over two tensors or tables of numbers.
local function maxdiff(a, b)
  a = type(a) == "userdata" and a:totable() or a
  b = type(b) == "userdata" and b:totable() or b
  T.eq(#a, #b, "lengths")
  local m = 0
  for i = 1, #a do
    local d = math.abs(a[i] - b[i])
    if d ~= d then return math.huge end
    if d > m then m = d end
  end
  return m
end

-- Bit-identical: every element equal (and no NaN).
local function same(a, b, msg)
  T.eq(maxdiff(a, b), 0, msg)
end

-- A sequence of k weight vectors of n numbers (plain Lua), fixed by seed.
local function weight_sequence(k, n, seed)
  ol.seed(seed)
  local seq = {}
  for i = 1, k do seq[i] = ol.randn(n, "f64"):totable() end
  return seq
end

-- ---- the rules ---------------------------------------------------------------

-- e starts at w0; after each update e = d*e + (1 - d)*w, d = decay or, with
-- warmup, min(decay, (1 + t)/(10 + t)), t the updates before this one.
local function ema_reference(w0, seq, decay, warmup)
  local e = {}
  for i = 1, #w0 do e[i] = w0[i] end
  for t, w in ipairs(seq) do
    local d = decay
    if warmup then d = math.min(decay, (1 + (t - 1)) / (10 + (t - 1))) end
    for i = 1, #e do e[i] = d * e[i] + (1 - d) * w[i] end
  end
  return e
end

T.test("ema follows d*e + (1-d)*w, with and without warmup, f64 and f32", function()
  local seq = weight_sequence(7, 5, 11)
  local w0 = {0.5, -1, 2, 0.25, 3}
  for _, dtype in ipairs{"f64", "f32"} do
    -- f64 to a few ulps; f32 to its rounding over seven updates
    local tol = dtype == "f64" and 1e-14 or 2e-6
    for _, warmup in ipairs{false, true} do
      local w = ol.tensor(w0, dtype)
      local ema = ol.average.ema(w, {decay = 0.8, warmup = warmup})
      local start = dtype == "f64" and w0 or ol.tensor(w0, "f32"):totable()
      same(ema.weights, start, "a copy at construction")
      for t, v in ipairs(seq) do
        w:copy_(ol.tensor(v, dtype))
        T.eq(ema:update(), ema, "update returns the average")
        T.eq(ema.t, t)
      end
      -- the reference from what the tensor held (f32: the rounded inputs)
      local rounded = {}
      for k, v in ipairs(seq) do rounded[k] = ol.tensor(v, dtype):totable() end
      local want = ema_reference(start, rounded, 0.8, warmup)
      T.ok(maxdiff(ema.weights, want) <= tol,
           string.format("%s warmup=%s: off by %g", dtype, tostring(warmup), maxdiff(ema.weights, want)))
      T.ok(maxdiff(w, seq[#seq]) <= tol, "the weights are untouched")
    end
  end
  -- warmup: the first update weighs the new weights by 0.9, whatever decay
  local w = ol.tensor({0}, "f64")
  local ema = ol.average.ema(w, {decay = 0.999, warmup = true})
  w:fill_(10)
  ema:update()
  T.near(ema.weights:get(1), 9, 1e-15, "first warmup update: d = (1 + 0)/(10 + 0)")
  -- weights that stay put keep their average exactly (e + (1-d)(w - e))
  local c = ol.tensor({0.1, 1 / 3, 7}, "f32")
  local still = ol.average.ema(c, {decay = 0.999})
  for _ = 1, 20 do still:update() end
  same(still.weights, c, "constant weights")
end)

T.test("swa is the mean of the weights at steps start, start + every, ...", function()
  local seq = weight_sequence(10, 4, 12)
  local w0 = {1, 2, 3, 4}
  for _, dtype in ipairs{"f64", "f32"} do
    local tol = dtype == "f64" and 1e-14 or 2e-6
    for _, case in ipairs{{start = 3, every = 2}, {start = 1, every = 1}, {start = 0, every = 3},
                          {start = 11, every = 1}} do
      local w = ol.tensor(w0, dtype)
      local swa = ol.average.swa(w, case)
      local counted = {}
      if case.start == 0 then counted[1] = w0 end -- step 0: the weights at construction
      for t, v in ipairs(seq) do
        w:copy_(ol.tensor(v, dtype))
        swa:update()
        if t >= case.start and (t - case.start) % case.every == 0 then
          counted[#counted + 1] = ol.tensor(v, dtype):totable()
        end
        T.eq(swa.t, t)
        T.eq(swa.n, #counted, "n counts the weight vectors averaged")
      end
      local what = string.format("%s start=%d every=%d", dtype, case.start, case.every)
      if #counted == 0 then
        same(swa.weights, ol.tensor(w0, dtype), what .. ": nothing counted yet: the copy from construction")
      else
        local mean = {}
        for i = 1, #w0 do
          local s = 0
          for _, v in ipairs(counted) do s = s + v[i] end
          mean[i] = s / #counted
        end
        T.ok(maxdiff(swa.weights, mean) <= tol, what .. ": off by " .. maxdiff(swa.weights, mean))
      end
    end
  end
end)

T.test("the result does not depend on the thread count", function()
  local threads = ol.threads()
  local n = 70001 -- cut into parts on two threads
  local function run(nt)
    ol.threads(nt)
    ol.seed(5)
    local w = ol.randn(n)
    local ema = ol.average.ema(w, {decay = 0.9, warmup = true})
    local swa = ol.average.swa(w, {start = 1})
    for _ = 1, 3 do
      w:copy_(ol.randn(n))
      ema:update()
      swa:update()
    end
    ema:swap()
    return ema.weights, swa.weights, w
  end
  local e1, s1, w1 = run(1)
  local e2, s2, w2 = run(2)
  ol.threads(threads)
  T.eq((e1 - e2):abs():max(), 0, "ema")
  T.eq((s1 - s2):abs():max(), 0, "swa")
  T.eq((w1 - w2):abs():max(), 0, "swapped weights")
end)

-- ---- swap and copy_to -------------------------------------------------------------

T.test("swap exchanges the weights and the average; twice is bit-identical", function()
  ol.seed(3)
  local net = ol.nn.mlp{sizes = {3, 5, 2}, dtype = "f64"}
  local ema = ol.average.ema(net, {decay = 0.7})
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local x, y = ol.randn(4, 3, "f64"), {1, 2, 2, 1}
  for _ = 1, 3 do
    net:zero_grad()
    net:evaluate(x, y, "cross_entropy")
    opt:step()
    ema:update()
  end
  local w, e = net:params():clone(), ema.weights:clone()
  T.ok(maxdiff(w, e) > 0, "the average differs from the weights")
  T.eq(ema:swap(), ema)
  same(net:params(), e, "the model holds the average")
  same(ema.weights, w, "the average holds the weights")
  ema:swap()
  same(net:params(), w, "swapped back")
  same(ema.weights, e, "average back")
end)

T.test("copy_to writes the average into a model of the same layers, or a tensor", function()
  ol.seed(4)
  local net = ol.nn.mlp{sizes = {2, 3, 2}}
  local swa = ol.average.swa(net, {start = 1})
  net:params():add_(ol.ones(net:num_params()))
  swa:update()
  local other = ol.nn.mlp{sizes = {2, 3, 2}}
  T.eq(swa:copy_to(other), swa)
  same(other:params(), swa.weights, "other model")
  local t = ol.zeros(net:num_params())
  swa:copy_to(t)
  same(t, swa.weights, "tensor")
  -- the averaged model itself
  local before = net:params():clone()
  swa:copy_to(net)
  same(net:params(), before, "a single update: the average is the weights")
  -- what does not fit
  T.raises("bad argument #1 to 'copy_to' (the model has 6 parameter tensors, the averaged one 4)",
           function() return swa:copy_to(ol.nn.mlp{sizes = {2, 3, 3, 2}}) end)
  T.raises("the model's parameter '1.weight' is 2x3, the averaged model's 3x2", swa.copy_to, swa,
           ol.nn.sequential{ol.nn.linear(3, 2), ol.nn.linear(2, 3)}) -- 17 weights in 4 tensors too
  T.raises("the average has 17 weights, the destination 18", swa.copy_to, swa, ol.zeros(18))
  T.raises("the average is f32, the destination f64", swa.copy_to, swa, ol.zeros(17, "f64"))
  T.raises("the average is f32, the destination f64", swa.copy_to, swa, ol.nn.mlp{sizes = {2, 3, 2}, dtype = "f64"})
  T.raises("model or tensor expected", swa.copy_to, swa, {})
  same(other:params(), swa.weights, "nothing written by a failed copy")
end)

T.test("fields, tostring and a tensor's shape", function()
  local w = ol.zeros(2, 3, "f64")
  local ema = ol.average.ema(w)
  T.eq(ema.kind, "ema")
  T.eq(ema.decay, 0.999)
  T.eq(ema.warmup, false)
  T.eq(ema.n, nil)
  T.eq(ema.dtype, "f64")
  T.eq(table.concat(ema.weights:shape(), "x"), "2x3", "the weights' shape")
  T.eq(tostring(ema), "ema{decay=0.999, warmup=false} f64, 6 weights, t = 0")
  local swa = ol.average.swa(w, {start = 5, every = 2})
  T.eq(tostring(swa), "swa{start=5, every=2} f64, 6 weights, t = 0, n = 0")
  T.eq(swa.start, 5)
  T.eq(swa.every, 2)
  T.eq(ol.average.swa(w).start, 1000, "default start (API.md: start = 1000)")
  T.eq(ol.average.swa(w, {start = 0}).n, 1, "start = 0 counts the weights at construction")
  T.raises("ema: field 't' is read-only", function() ema.t = 3 end)
  T.raises("ema: field 'decay' is read-only", function() ema.decay = 0.5 end)
  T.raises("ema has no field 'deacy'; did you mean 'decay'?", function() ema.deacy = 0.5 end)
  -- avg.weights is a view: writing it writes the average
  ema.weights:fill_(2)
  T.eq(ema.weights:get(1, 1), 2)
end)

-- ---- bad input ----------------------------------------------------------------------

T.test("bad input: options, arguments, a freed average", function()
  local net = ol.nn.mlp{sizes = {2, 3, 2}}
  T.raises("bad argument #2 to 'ema' (unknown option 'decy'; did you mean 'decay'?)", ol.average.ema, net, {decy = 0.9})
  T.raises("bad argument #2 to 'swa' (unknown option 'strat'; did you mean 'start'?)", ol.average.swa, net, {strat = 1})
  T.raises("bad argument #2 to 'ema' (option 'decay' must be in [0, 1), got 1)", ol.average.ema, net, {decay = 1})
  T.raises("bad argument #2 to 'ema' (option 'decay' must be in [0, 1), got -0.1)", ol.average.ema, net, {decay = -0.1})
  T.raises("bad argument #2 to 'ema' (option 'warmup' must be a boolean, got 1)", ol.average.ema, net, {warmup = 1})
  T.raises("bad argument #2 to 'swa' (option 'every' must be >= 1, got 0)", ol.average.swa, net, {every = 0})
  T.raises("bad argument #2 to 'swa' (option 'start' must be >= 0, got -1)", ol.average.swa, net, {start = -1})
  T.raises("bad argument #2 to 'swa' (option 'start' must be an integer >= 0, got 1.5)", ol.average.swa, net, {start = 1.5})
  T.raises("bad argument #1 to 'ema' (model or tensor expected, got string)", ol.average.ema, "net")
  T.raises("bad argument #1 to 'swa' (the weights must be contiguous)", ol.average.swa, ol.zeros(2, 3):t())
  local ema = ol.average.ema(net)
  debug.getmetatable(ema).__gc(ema)
  for _, f in ipairs{function() return ema:update() end, function() return ema:swap() end,
                     function() return ema:copy_to(net) end, function() return ema.t end,
                     function() return tostring(ema) end} do
    T.raises("average used after it was freed", f)
  end
  local ds = ol.data.synthetic{kind = "blobs", n = 16, classes = 2}
  local opt = ol.optim.sgd(net)
  local loader = ol.data.loader(ds, {batch_size = 8})
  T.raises("average used after it was freed", ol.train,
           {model = net, optimizer = opt, data = loader, average = ema, progress = false})
  T.raises("bad argument #1 to 'train' (option 'average' must be an average (ol.average.ema or ol.average.swa), got optlua.optim)",
           ol.train, {model = net, optimizer = opt, data = loader, average = opt, progress = false})
  -- an average of another model, or of a tensor: refused before any step
  local other = ol.nn.mlp{sizes = {2, 3, 2}}
  local before = net:params():clone()
  T.raises("bad argument #1 to 'train' (option 'average' averages other weights than the model's",
           ol.train, {model = net, optimizer = opt, data = loader, average = ol.average.ema(other), progress = false})
  T.raises("option 'average' averages other weights than the model's", ol.train,
           {model = net, optimizer = opt, data = loader, average = ol.average.swa(net:params():clone()), progress = false})
  same(net:params(), before, "no step taken")
  T.eq(opt.t, 0)
end)

T.test("a hook cannot free the average ol.train drives", function()
  local ds = ol.data.synthetic{kind = "blobs", n = 32, classes = 2}
  local net = ol.nn.mlp{sizes = {2, 3, 2}}
  local opt = ol.optim.sgd(net)
  local ema = ol.average.ema(net)
  T.raises("cannot free the average while it is in use", ol.train, {
    model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 8}), average = ema, every = 1,
    progress = false, on_step = function() debug.getmetatable(ema).__gc(ema) end})
  T.eq(ema.t, 1, "still live")
end)

-- ---- ol.train ---------------------------------------------------------------------

-- A tiny problem in f64, the same for every run: blobs, a small mlp, sgd
-- with momentum, shuffled batches.
local function setup()
  ol.seed(21)
  local ds = ol.data.synthetic{kind = "blobs", n = 96, classes = 3}
  local train, val = ds:split(0.75)
  local net = ol.nn.mlp{sizes = {2, 8, 3}, activation = "tanh", dtype = "f64"}
  local opt = ol.optim.sgd(net, {lr = 0.2, momentum = 0.9})
  local loader = ol.data.loader(train, {batch_size = 16, shuffle = true, dtype = "f64"})
  return net, opt, loader, val
end

T.test("ol.train updates the average after every step and validates on it", function()
  -- without an average
  local net0, opt0, loader0, val0 = setup()
  local s0 = ol.train{model = net0, optimizer = opt0, data = loader0, validate = val0, epochs = 3, progress = false}
  -- with one; on_step records the weights after every step
  local net, opt, loader, val = setup()
  local w0 = net:params():totable()
  local ema = ol.average.ema(net, {decay = 0.9, warmup = true})
  local seen = {}
  local log = at("run.jsonl")
  local s = ol.train{model = net, optimizer = opt, data = loader, validate = val, epochs = 3, every = 1,
                     average = ema, progress = false, log = log,
                     on_step = function(st)
                       seen[#seen + 1] = net:params():totable()
                       T.eq(ema.t, st.step, "updated before the hook")
                     end}
  T.eq(#seen, s.step)
  T.eq(ema.t, s.step, "one update per step")
  -- the model ends as without the average, bit for bit
  same(net:params(), net0:params(), "the trained weights")
  T.eq(s.loss, s0.loss, "the training figures")
  -- the average is the reference ema of the weights after each step
  local want = ema_reference(w0, seen, 0.9, true)
  T.ok(maxdiff(ema.weights, want) <= 1e-13, "average off by " .. maxdiff(ema.weights, want))
  -- the validation figures are the average's
  local copy = ol.nn.mlp{sizes = {2, 8, 3}, activation = "tanh", dtype = "f64"}
  ema:copy_to(copy)
  local loss, acc = ol.evaluate(copy, val)
  T.near(s.val_loss, loss, 1e-12, "val_loss is the average's")
  T.near(s.val_accuracy, acc, 1e-12, "val_accuracy is the average's")
  T.ok(math.abs(s.val_loss - s0.val_loss) > 1e-9, "and not the last weights'")
  -- the log says validation used the average
  local text = T.read_file(log)
  local epochs = 0
  for line in text:gmatch("[^\n]+") do
    if line:find('"event":"epoch"', 1, true) then
      epochs = epochs + 1
      T.ok(line:find('"val_average":"ema"', 1, true), "epoch line: " .. line)
    else
      T.ok(not line:find("val_average", 1, true), "step line: " .. line)
    end
  end
  T.eq(epochs, 3)
end)

T.test("swa under ol.train: the mean of the weights from step start", function()
  local net, opt, loader = setup()
  local swa = ol.average.swa(net, {start = 4, every = 3})
  local seen = {}
  ol.train{model = net, optimizer = opt, data = loader, epochs = 2, every = 1, average = swa, progress = false,
           on_step = function(st)
             if st.step >= 4 and (st.step - 4) % 3 == 0 then seen[#seen + 1] = net:params():totable() end
           end}
  T.eq(swa.n, #seen)
  local mean = {}
  for i = 1, #seen[1] do
    local s = 0
    for _, v in ipairs(seen) do s = s + v[i] end
    mean[i] = s / #seen
  end
  T.ok(maxdiff(swa.weights, mean) <= 1e-13, "off by " .. maxdiff(swa.weights, mean))
end)

-- ---- checkpoints ------------------------------------------------------------------

T.test("checkpoint round trip and bit-exact resume with an average", function()
  local path = at("avg.safetensors")
  -- four epochs straight
  local net, opt, loader = setup()
  local ema = ol.average.ema(net, {decay = 0.95, warmup = true})
  ol.train{model = net, optimizer = opt, data = loader, epochs = 4, average = ema, progress = false}
  -- two, a checkpoint, two more in fresh objects
  local net1, opt1, loader1 = setup()
  local ema1 = ol.average.ema(net1, {decay = 0.95, warmup = true})
  ol.train{model = net1, optimizer = opt1, data = loader1, epochs = 2, average = ema1, progress = false}
  ol.save(path, {model = net1, optimizer = opt1, average = ema1})
  local ck = ol.load(path)
  T.eq(ck.average.kind, "ema")
  T.eq(ck.average.t, ema1.t)
  T.eq(ck.average.options.decay, 0.95)
  T.eq(ck.average.options.warmup, true)
  same(ck.tensors["average.weights"], ema1.weights, "stored as it was")
  local net2, opt2, loader2 = setup()
  -- other options: the file's win, as an optimizer's do
  local ema2 = ol.average.ema(net2, {decay = 0.5})
  T.eq(ck:restore(net2, opt2, ema2), ck)
  T.eq(ema2.t, ema1.t)
  T.eq(ema2.decay, 0.95)
  T.eq(ema2.warmup, true)
  same(ema2.weights, ema1.weights, "restored")
  ol.train{model = net2, optimizer = opt2, data = loader2, epochs = 2, average = ema2, progress = false}
  same(net2:params(), net:params(), "weights resumed bit for bit")
  same(ema2.weights, ema.weights, "average resumed bit for bit")
  T.eq(ema2.t, ema.t)
  -- swa, restored with the options table after it
  local swa = ol.average.swa(net1, {start = 2, every = 2})
  for _ = 1, 5 do swa:update() end
  ol.save(path, {model = net1, average = swa})
  local swa2 = ol.average.swa(ol.nn.mlp{sizes = {2, 8, 3}, activation = "tanh", dtype = "f64"})
  ol.load(path):restore(nil, nil, swa2, {rng = false})
  T.eq(swa2.t, 5)
  T.eq(swa2.n, 2)
  T.eq(swa2.start, 2)
  same(swa2.weights, swa.weights, "swa restored")
  -- ol.train's own checkpoints hold the average
  local net3, opt3, loader3 = setup()
  local ema3 = ol.average.ema(net3)
  ol.train{model = net3, optimizer = opt3, data = loader3, epochs = 1, average = ema3, progress = false,
           checkpoint = {path = path}}
  local ck3 = ol.load(path)
  T.eq(ck3.average.t, ema3.t)
  same(ck3.tensors["average.weights"], ema3.weights, "ol.train's checkpoint")
end)

T.test("a file whose average does not fit, or is damaged: a clear error, nothing changed", function()
  local path = at("bad.safetensors")
  local small = ol.nn.mlp{sizes = {2, 3, 2}}
  local ema = ol.average.ema(small)
  small:params():add_(ol.ones(17))
  ema:update()
  ol.save(path, {model = small, average = ema})
  local ck = ol.load(path)
  -- another size
  local big = ol.nn.mlp{sizes = {2, 4, 2}}
  local big_ema = ol.average.ema(big)
  local before = big_ema.weights:clone()
  T.raises("holds an average of 17 weights, this one has 22", ck.restore, ck, nil, nil, big_ema)
  same(big_ema.weights, before, "unchanged")
  T.eq(big_ema.t, 0)
  -- another kind, a file without one: the model is not restored either
  local net = ol.nn.mlp{sizes = {2, 3, 2}}
  local w = net:params():clone()
  local swa = ol.average.swa(net)
  T.raises("holds an ema average, this one is swa", ck.restore, ck, net, nil, swa)
  same(net:params(), w, "model unchanged")
  T.eq(swa.t, 0)
  local opt = ol.optim.adam(net)
  ol.save(path, {model = small, optimizer = ol.optim.adam(small)})
  T.raises("holds no average", ol.load(path).restore, ol.load(path), net, opt, ol.average.ema(net))
  same(net:params(), w, "model unchanged")
  T.eq(opt.t, 0)
  -- damaged: a non-finite average, a stray tensor of the average's name
  local inf = ol.tensor({1, 0 / 0})
  ol.save(path, {average = ol.average.ema(inf)})
  T.raises("'average.weights' holds a non-finite value", ol.load, path)
  ol.save(path, {tensors = {["average.weights"] = ol.zeros(3)}})
  T.raises("metadata 'average.kind' is not 'ema' or 'swa'", ol.load, path)
  T.raises("meta key 'average.t' is reserved", ol.save, path, {meta = {["average.t"] = 1}})
  T.raises("option 'average' must be an average", ol.save, path, {average = net})
  -- a model:parameters() that frees the average while restore runs
  local victim = ol.average.ema(small)
  ol.save(path, {model = small, average = victim})
  local methods = debug.getmetatable(small).__methods
  local parameters = methods.parameters
  methods.parameters = function(m) debug.getmetatable(victim).__gc(victim) return parameters(m) end
  local ok, err = pcall(ck.restore, ol.load(path), small, nil, victim)
  methods.parameters = parameters
  T.ok(not ok and tostring(err):find("average used after it was freed", 1, true), tostring(err))
end)

T.run()
