-- ol.noise against closed forms: linear regression with Gaussian inputs
-- and Gaussian noise, where the gradient and the per-example gradients'
-- covariance are known; the cosine of successive gradients on a
-- noise-free problem and on pure noise; what the calls leave unchanged;
-- bad input; ol.train's log_fields in the JSONL log.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- The problem: x ~ N(0, I_d), y = xᵀw* + ε, ε ~ N(0, s²), N rows, and a
-- linear model (weight w, bias b; w* and b* = 0) in f64 with loss "mse",
-- which is the mean of (f(x) - y)² (no ½): one example's gradient is
-- g = c z (zᵀδ - ε), c = 2, z = (x, 1), δ = (w - w*, b).
local function problem(N, d, wstar, s, seed)
  ol.seed(seed)
  local x = ol.randn(N, d, "f64")
  local col = {}
  for i = 1, d do col[i] = {wstar[i]} end
  local y = x:mm(ol.tensor(col, "f64"))
  if s > 0 then y = y + ol.randn(N, 1, "f64") * s end
  return {x = x, y = y}
end

local function linear(d, w, b)
  local net = ol.nn.sequential{ol.nn.linear(d, 1), dtype = "f64"}
  local p = net:params()
  for i = 1, d do p[i] = w[i] end
  p[d + 1] = b
  return net
end

-- The closed forms at δ = (dw, β): E g = c δ, and (Isserlis for the
-- Gaussian block, the constant input worked out by hand)
--   E[g gᵀ]'s trace = c² ((d + 1)(|dw|² + β² + s²) + 2 |dw|²),
-- so tr Σ = that - |G|², |G|² = c² (|dw|² + β²). isserlis = false drops the
-- 2 δδᵀ term (the wrong formula the test must be able to tell apart).
local function closed_form(d, dw, beta, s, isserlis)
  local c, d2 = 2, 0
  for i = 1, d do d2 = d2 + dw[i] ^ 2 end
  local g2 = c ^ 2 * (d2 + beta ^ 2)
  local second = c ^ 2 * ((d + 1) * (d2 + beta ^ 2 + s ^ 2) + (isserlis == false and 0 or 2 * d2))
  return (second - g2) / g2, second - g2, g2
end

-- Mean and standard error of a list.
local function mean_se(v)
  local n, m = #v, 0
  for i = 1, n do m = m + v[i] end
  m = m / n
  local ss = 0
  for i = 1, n do ss = ss + (v[i] - m) ^ 2 end
  return m, math.sqrt(ss / (n - 1) / n)
end

-- The standard error of mean(a)/mean(b) from paired draws (the delta method).
local function ratio_se(a, b)
  local n = #a
  local ma, mb = mean_se(a), mean_se(b)
  local r = ma / mb
  local v = 0
  for i = 1, n do v = v + ((a[i] - r * b[i]) / mb) ^ 2 end
  return math.sqrt(v / (n - 1) / n)
end

-- The data set's own G and tr Σ by a double-precision loop over its rows,
-- and the standard error that drawing the data set adds to a B_simple
-- near the population's (from the spread of the per-example gradients).
local function dataset_reference(data, w, b)
  local xs, ys = data.x:totable(), data.y:totable()
  local N, d = #xs, #xs[1]
  local G, sq = {}, 0
  for j = 1, d + 1 do G[j] = 0 end
  local gs = {}
  for i = 1, N do
    local x, r = xs[i], b - ys[i][1]
    for j = 1, d do r = r + w[j] * x[j] end
    local g = {}
    for j = 1, d do g[j] = 2 * x[j] * r end
    g[d + 1] = 2 * r
    gs[i] = g
    for j = 1, d + 1 do G[j] = G[j] + g[j] end
  end
  local g2 = 0
  for j = 1, d + 1 do
    G[j] = G[j] / N
    g2 = g2 + G[j] ^ 2
  end
  local dev, proj = {}, {}
  for i = 1, N do
    local e, p = 0, 0
    for j = 1, d + 1 do
      e = e + (gs[i][j] - G[j]) ^ 2
      p = p + gs[i][j] * G[j]
    end
    dev[i], proj[i] = e, p
    sq = sq + e
  end
  local tr = sq / N
  local _, se_tr = mean_se(dev)
  local _, se_p = mean_se(proj)
  local B = tr / g2
  -- |Ḡ|² moves by 2 Ḡᵀ(Ḡ - G); tr Σ_N by its mean's error
  local se = B * math.sqrt((se_tr / tr) ^ 2 + (2 * se_p / g2) ^ 2)
  return B, tr, g2, se
end

T.test("noise.scale matches B_simple = tr Σ / |G|² of linear regression within its sampling error", function()
  local d, wstar, s = 3, {0.5, -1.0, 0.25}, 0.5
  local data = problem(100000, d, wstar, s, 11)
  local w, b = {1.25, -0.5, 0.75}, 0.5
  local net = linear(d, w, b)
  local dw = {}
  for i = 1, d do dw[i] = w[i] - wstar[i] end
  local want, want_tr, want_g2 = closed_form(d, dw, b, s)
  local wrong = closed_form(d, dw, b, s, false)
  local B_N, tr_N, g2_N, se_pop = dataset_reference(data, w, b)
  ol.seed(5)
  local r = ol.noise.scale(net, data, {small = 4, big = 64, batches = 8000, loss = "mse"})
  T.eq(r.small, 4)
  T.eq(r.big, 64)
  T.eq(r.batches, 8000)
  T.eq(#r.draws.b_simple, 8000)
  local se = ratio_se(r.draws.trace_sigma, r.draws.grad_sq)
  -- the means are the draws' means, and the ratio theirs
  local tr, se_tr = mean_se(r.draws.trace_sigma)
  local g2, se_g2 = mean_se(r.draws.grad_sq)
  T.near(r.trace_sigma, tr, 1e-9 * math.abs(tr))
  T.near(r.grad_sq, g2, 1e-9 * g2)
  T.near(r.b_simple, tr / g2, 1e-12 * r.b_simple)
  -- each draw's estimates from its two squared norms, by the published formulas
  local k = 7
  local sq_s, sq_b = r.draws.small_sq[k], r.draws.big_sq[k]
  T.near(r.draws.trace_sigma[k], (sq_s - sq_b) / (1 / 4 - 1 / 64), 1e-9 * math.abs(r.draws.trace_sigma[k]))
  T.near(r.draws.grad_sq[k], (64 * sq_b - 4 * sq_s) / 60, 1e-9 * math.abs(r.draws.grad_sq[k]) + 1e-12)
  -- against the data set's own values (the estimator's error alone)
  T.ok(math.abs(r.b_simple - B_N) < 4 * se, string.format("B_simple %.4f, the data set's %.4f (se %.4f)",
       r.b_simple, B_N, se))
  T.ok(math.abs(tr - tr_N) < 4 * se_tr, string.format("tr Σ %.4f, the data set's %.4f (se %.4f)", tr, tr_N, se_tr))
  T.ok(math.abs(g2 - g2_N) < 4 * se_g2, string.format("|G|² %.4f, the data set's %.4f (se %.4f)", g2, g2_N, se_g2))
  -- against the closed form (the estimator's error and the data set's)
  local se_all = math.sqrt(se ^ 2 + se_pop ^ 2)
  T.ok(math.abs(r.b_simple - want) < 4 * se_all, string.format("B_simple %.4f, formula %.4f (se %.4f)",
       r.b_simple, want, se_all))
  T.ok(math.abs(tr - want_tr) < 4 * math.sqrt(se_tr ^ 2 + (se_pop / want * want_g2) ^ 2),
       string.format("tr Σ %.4f, formula %.4f", tr, want_tr))
  T.ok(math.abs(g2 - want_g2) < 0.05 * want_g2, string.format("|G|² %.4f, formula %.4f", g2, want_g2))
  -- the test can fail: a formula without Isserlis's 2δδᵀ, and the two
  -- batch sizes swapped in the estimate, are far outside
  T.ok(math.abs(r.b_simple - wrong) > 4 * se_all, string.format("wrong formula %.4f is within reach of %.4f",
       wrong, r.b_simple))
  local swapped_tr, swapped_g2 = 0, 0
  for i = 1, r.batches do
    local a, c = r.draws.small_sq[i], r.draws.big_sq[i]
    swapped_tr = swapped_tr + (c - a) / (1 / 4 - 1 / 64)
    swapped_g2 = swapped_g2 + (64 * a - 4 * c) / 60
  end
  T.ok(math.abs(swapped_tr / swapped_g2 - want) > 4 * se_all, "swapped batch sizes")
end)

T.test("noise.cosine: 1 for two full batches, near 0 on pure noise", function()
  local d, wstar = 3, {0.5, -1.0, 0.25}
  local clean = problem(500, d, wstar, 0, 3)
  local net = linear(d, {1, 1, 1}, 0.2)
  local c = ol.noise.cosine(net, clean, {batch_size = 500, pairs = 3, loss = "mse"})
  T.eq(#c.values, 3)
  T.eq(c.pairs, 3)
  T.eq(c.batch_size, 500)
  for i = 1, 3 do T.near(c.values[i], 1, 1e-12) end
  T.near(c.mean, 1, 1e-12)
  -- δ = 0: every gradient is noise, mean 0; pairs independent
  local noisy = problem(20000, d, wstar, 1.0, 4)
  local at = linear(d, wstar, 0)
  local z = ol.noise.cosine(at, noisy, {batch_size = 32, pairs = 400, loss = "mse"})
  local m, se = mean_se(z.values)
  T.near(z.mean, m, 1e-12)
  T.ok(math.abs(m) < 4 * se, string.format("mean cosine %.4f (se %.4f)", m, se))
  for i = 1, #z.values do T.ok(z.values[i] >= -1 - 1e-12 and z.values[i] <= 1 + 1e-12) end
  -- and with a signal it is clearly positive
  local far = linear(d, {3, 3, 3}, 0)
  local p = ol.noise.cosine(far, noisy, {batch_size = 32, pairs = 50, loss = "mse"})
  T.ok(p.mean > 0.5, "cosine with a strong signal " .. p.mean)
end)

T.test("parameters, gradients, buffers and mode unchanged; a dataset with cross_entropy", function()
  ol.seed(8)
  local ds = ol.data.synthetic{kind = "blobs", n = 300, classes = 3}
  local net = ol.nn.mlp{sizes = {2, 8, 3}, norm = "batch", dropout = 0.1}
  local x = ol.randn(5, 2)
  net:evaluate(x, {1, 2, 3, 1, 2}) -- a gradient in the buffer
  net:eval()
  local p, g = net:params():clone(), net:grads():clone()
  local bufs = {}
  for k, b in ipairs(net:buffers()) do bufs[k] = b.tensor:clone() end
  local r = ol.noise.scale(net, ds, {small = 8, big = 64, batches = 4})
  T.ok(r.trace_sigma == r.trace_sigma and r.grad_sq == r.grad_sq, "finite estimates")
  local c = ol.noise.cosine(net, ds, {batch_size = 16, pairs = 2})
  T.ok(c.mean >= -1 and c.mean <= 1)
  T.eq((net:params() - p):abs():max(), 0, "parameters")
  T.eq((net:grads() - g):abs():max(), 0, "gradient buffer")
  for k, b in ipairs(net:buffers()) do T.eq((b.tensor - bufs[k]):abs():max(), 0, b.name) end
  T.eq(net.training, false, "evaluation mode kept")
  net:train()
  ol.noise.scale(net, ds, {small = 8, big = 64, batches = 2})
  T.eq(net.training, true, "training mode kept")
end)

T.test("bad input: clear errors, nothing changed", function()
  ol.seed(9)
  local ds = ol.data.synthetic{kind = "blobs", n = 100, classes = 3}
  local net = ol.nn.mlp{sizes = {2, 4, 3}}
  local g = net:grads():clone()
  local empty = ds:split(0)
  if #empty ~= 0 then empty = select(2, ds:split(1)) end
  T.eq(#empty, 0, "an empty split")
  local x3, x2, y1, y49 = ol.randn(50, 3), ol.randn(50, 2), ol.ones(50), ol.ones(49)
  local y50x3, y50x7 = ol.randn(50, 3), ol.randn(50, 7)
  local state = ol._rng_state()
  T.raises("bad argument #3 to 'noise.scale' (option 'small' (64) must be less than option 'big' (32))",
           ol.noise.scale, net, ds, {small = 64, big = 32})
  T.raises("option 'small' (32) must be less than option 'big' (32)", ol.noise.scale, net, ds, {small = 32, big = 32})
  T.raises("option 'big' (512) is larger than the data (100 rows)", ol.noise.scale, net, ds, {})
  T.raises("option 'batch_size' (128) is larger than the data (100 rows)", ol.noise.cosine, net, ds)
  T.raises("option 'batches'", ol.noise.scale, net, ds, {small = 4, big = 8, batches = 1})
  T.raises("unknown option 'batch'", ol.noise.scale, net, ds, {small = 4, big = 8, batch = 4})
  T.raises("did you mean 'batches'", ol.noise.scale, net, ds, {small = 4, big = 8, batchs = 4})
  T.raises("unknown option 'batch'", ol.noise.cosine, net, ds, {batch = 4})
  local err = T.raises("bad argument #3 to 'noise.cosine' (option 'loss': unknown loss 'l2'",
                       function() local r = ol.noise.cosine(net, ds, {loss = "l2"}) return r end)
  T.ok(err:find("^[^:]*test_noise.lua:%d+:"), "the error points at the caller: " .. err)
  err = T.raises("the data have 3 features", function() local r = ol.noise.cosine(net, {x = x3, y = y1}) return r end)
  T.ok(err:find("^[^:]*test_noise.lua:%d+:"), "the error points at the caller: " .. err)
  err = T.raises("option 'batch_size' (128) is larger", function() local r = ol.noise.cosine(net, ds) return r end)
  T.ok(err:find("^[^:]*test_noise.lua:%d+:"), "the error points at the caller: " .. err)
  err = T.raises("must be less than", function() local r = ol.noise.scale(net, ds, {small = 9, big = 8}) return r end)
  T.ok(err:find("^[^:]*test_noise.lua:%d+:"), "the error points at the caller: " .. err)
  T.raises("bad argument #3 to 'noise.scale' (option 'loss_options': unknown option 'deltaa'; did you mean 'delta'?)",
           ol.noise.scale, net, {x = x2, y = y50x3}, {small = 4, big = 8, loss = "huber", loss_options = {deltaa = 1}})
  T.raises("bad argument #2 to 'noise.scale' (data.y: wrong target shape: 1x7; mse takes a 1x3 target",
           ol.noise.scale, net, {x = x2, y = y50x7}, {small = 4, big = 8, loss = "mse"})
  T.raises("bad argument #2 to 'noise.scale' (the data set is empty)", ol.noise.scale, net, empty, {})
  T.raises("the data set is empty", ol.noise.cosine, net, {x = ol.zeros(0, 2), y = ol.zeros(0)})
  T.raises("the data have 3 features, the model takes 2", ol.noise.scale, net,
           {x = x3, y = y1}, {small = 4, big = 8})
  T.raises("data.x has 50 rows but data.y 49", ol.noise.scale, net, {x = x2, y = y49},
           {small = 4, big = 8})
  T.raises("for loss 'mse' give data = {x = X, y = T}", ol.noise.scale, net, ds, {small = 4, big = 8, loss = "mse"})
  T.raises("bad argument #1 to 'noise.cosine' (model expected, got table)", ol.noise.cosine, {}, ds)
  T.raises("bad argument #2 to 'noise.cosine' (dataset or {x = X, y = T} expected, got number)",
           ol.noise.cosine, net, 3)
  T.eq((net:grads() - g):abs():max(), 0, "gradient buffer")
  T.eq(ol._rng_state(), state, "no draw made")
  -- an error inside (a class id out of range past the first row) still
  -- restores the buffer and the mode
  net:eval()
  local ids = ol.ones(50)
  ids[30] = 9
  T.raises("evaluate", ol.noise.scale, net, {x = x2, y = ids}, {small = 49, big = 50, batches = 2})
  T.eq((net:grads() - g):abs():max(), 0, "gradient buffer after an error")
  T.eq(net.training, false, "mode after an error")
end)

-- ---- ol.train's log_fields ----

local function log_lines(path)
  local lines = {}
  for line in io.lines(path) do lines[#lines + 1] = ol.plot._parse_flat_json(line) end
  return lines
end

local function small_run(extra)
  ol.seed(12)
  local ds = ol.data.synthetic{kind = "blobs", n = 60, classes = 3}
  local net = ol.nn.mlp{sizes = {2, 4, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local o = {model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 20}), epochs = 3,
             progress = false, every = 2}
  for k, v in pairs(extra) do o[k] = v end
  return o, opt
end

T.test("log_fields: numbers in each epoch line of the JSONL log, after on_epoch", function()
  local path = T.scratch()("run.jsonl")
  local calls = {}
  local opt
  local o
  o, opt = small_run{log = path,
    on_epoch = function(s)
      calls[#calls + 1] = "on_epoch " .. s.epoch
      opt.lr = 0.05 -- after the epoch's line was made: the line keeps 0.1
    end,
    log_fields = function(s)
      calls[#calls + 1] = "log_fields " .. s.epoch
      return {zeta = 10 * s.epoch, alpha = -0.25, ["noise.b_simple"] = 2 ^ 0.5}
    end}
  opt.lr = 0.1
  ol.train(o)
  T.eq(table.concat(calls, ","), "on_epoch 1,log_fields 1,on_epoch 2,log_fields 2,on_epoch 3,log_fields 3")
  local epochs, steps = 0, 0
  for _, l in ipairs(log_lines(path)) do
    if l.event == "epoch" then
      epochs = epochs + 1
      T.eq(l.epoch, epochs)
      T.eq(l.zeta, 10 * epochs)
      T.eq(l.alpha, -0.25)
      T.near(l["noise.b_simple"], 2 ^ 0.5, 1e-9)
      T.near(l.lr, epochs == 1 and 0.1 or 0.05, 1e-12, "the epoch's own lr")
      T.ok(l.epoch_loss and l.samples, "standard fields kept")
    else
      steps = steps + 1
      T.eq(l.zeta, nil, "step lines carry no extra fields")
    end
  end
  T.eq(epochs, 3)
  T.eq(steps, 4)
  -- the fields follow the standard ones, in the order of their names
  local line = T.read_file(path):match('[^\n]*"event":"epoch"[^\n]*')
  T.ok(line:find('"momentum":0.0,"alpha":%-0.25,"noise.b_simple":1.41421356[0-9]*,"zeta":10.0}$'), line)
  -- without a log it is not called
  local called = false
  ol.train((small_run{log_fields = function() called = true return {} end}))
  T.eq(called, false, "not called without a log")
end)

T.test("log_fields: bad tables are errors naming the field; the epoch line is still written", function()
  local at = T.scratch()
  local cases = {
    {function() return 3 end, "train: log_fields: must return a table {name = number, ...}, got number"},
    {function() return {1} end, "train: log_fields: a key is a number, not a name"},
    {function() return {a = "x"} end, "train: log_fields: field 'a' is a string, not a number"},
    {function() return {a = 0 / 0} end, "train: log_fields: field 'a' is nan, not a finite number"},
    {function() return {a = math.huge} end, "field 'a' is inf, not a finite number"},
    {function() return {val_loss = 1} end, "train: log_fields: field 'val_loss' is one of the log's own fields"},
    {function() return {event = 1} end, "field 'event' is one of the log's own fields"},
    {function() return {[""] = 1} end, "train: log_fields: a field's name is empty"},
    {function() error("boom") end, "boom"},
  }
  for i, c in ipairs(cases) do
    local path = at("bad" .. i .. ".jsonl")
    T.raises(c[2], ol.train, (small_run{log = path, log_fields = c[1]}))
    local lines = log_lines(path)
    local last = lines[#lines]
    T.eq(last.event, "epoch", "case " .. i)
    T.eq(last.epoch, 1)
    T.eq(last.a, nil, "no field of a rejected table")
  end
  -- a good field beside a bad one is not written either: the table is checked whole
  local path = at("half.jsonl")
  T.raises("field 'b'", ol.train, (small_run{log = path, log_fields = function() return {a = 1, b = "x"} end}))
  local lines = log_lines(path)
  T.eq(lines[#lines].a, nil)
  T.raises("option 'log_fields' must be a function", ol.train, (small_run{log_fields = 3}))
  T.raises("unknown option 'log_field'; did you mean 'log_fields'?", ol.train,
           (small_run{log_field = function() end}))
end)

T.run()
