-- ol.nn.dropout and the model's modes (API.md sec. 15): the mask's
-- statistics and scaling, its seeding, backward against a gradient
-- recomputed here from the mask read back, evaluation mode as the
-- identity, gradient checks in both modes, curvature products in
-- evaluation mode, ol.train / ol.evaluate / net:predict and the modes,
-- thread counts, checkpoints and bad input.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- A net whose dropout output is the mask times 1/(1 - p): linear(1, w)
-- with weights 1 and bias 0 turns a column of ones into rows of ones.
local function mask_net(w, p, dtype)
  local net = ol.nn.sequential{ol.nn.linear(1, w), ol.nn.dropout(p), dtype = dtype}
  local params = net:params()
  params:zero_()
  params:narrow(1, 1, w):fill_(1)
  return net
end

-- The mask scaled, n x w, as a Lua table of rows: the first forward pass
-- of mask_net after ol.seed(seed) (the net is made before: its
-- initialisation draws from the RNG).
local function scaled_mask(n, w, p, seed, dtype)
  dtype = dtype or "f32"
  local net = mask_net(w, p, dtype)
  ol.seed(seed)
  return net:forward(ol.ones(n, 1, dtype)):totable()
end

T.test("the share zeroed is p within a binomial bound; survivors are scaled exactly", function()
  for _, dt in ipairs{"f32", "f64"} do
    for _, p in ipairs{0.1, 0.5, 0.9, 1 / 3} do
      local n, w = 200, 1000
      local m = scaled_mask(n, w, p, 42, dt)
      -- 1/(1 - p) rounded to the element type once (a tensor of that type rounds it)
      local scale = ol.tensor({1 / (1 - p)}, dt)[1]
      local zeros, other = 0, 0
      for r = 1, n do
        for c = 1, w do
          local v = m[r][c]
          if v == 0 then zeros = zeros + 1 elseif v ~= scale then other = other + 1 end
        end
      end
      T.eq(other, 0, dt .. " p = " .. p .. ": every survivor is 1/(1 - p)")
      local total = n * w
      local bound = 5 * math.sqrt(p * (1 - p) / total) -- five standard deviations
      T.ok(math.abs(zeros / total - p) < bound,
           string.format("%s p = %g: zeroed %.5f, bound %.5f", dt, p, zeros / total, bound))
    end
  end
end)

T.test("p = 0 keeps everything; p near 1 keeps few", function()
  local m = scaled_mask(10, 50, 0, 1, "f64")
  for r = 1, 10 do for c = 1, 50 do T.eq(m[r][c], 1) end end
  m = scaled_mask(100, 100, 0.999, 1, "f64")
  local kept = 0
  for r = 1, 100 do for c = 1, 100 do if m[r][c] ~= 0 then kept = kept + 1 end end end
  T.ok(kept < 60, "p = 0.999 keeps about 10 of 10000, kept " .. kept)
end)

T.test("the same seed gives the same mask, another seed or the next pass another", function()
  local a, b, c = scaled_mask(8, 64, 0.5, 7), scaled_mask(8, 64, 0.5, 7), scaled_mask(8, 64, 0.5, 8)
  T.near_all(ol.tensor(a), b, 0, "same seed")
  local differ = 0
  for r = 1, 8 do for k = 1, 64 do if a[r][k] ~= c[r][k] then differ = differ + 1 end end end
  T.ok(differ > 100, "another seed: " .. differ .. " of 512 differ")
  local net = mask_net(64, 0.5)
  ol.seed(7)
  local first, second = net:forward(ol.ones(8, 1)):totable(), net:forward(ol.ones(8, 1)):totable()
  T.near_all(ol.tensor(first), a, 0, "the first pass after the seed")
  differ = 0
  for r = 1, 8 do for k = 1, 64 do if first[r][k] ~= second[r][k] then differ = differ + 1 end end end
  T.ok(differ > 100, "the next pass draws a new mask: " .. differ .. " of 512 differ")
end)

-- Plain Lua matrices for the reference: a * b^T and friends.
local function mat(t) return type(t) == "table" and t or t:totable() end

T.test("backward is the mask times the incoming gradient times 1/(1 - p)", function()
  local n, d, w, c, p = 6, 3, 40, 2, 0.4
  ol.seed(5)
  local net = ol.nn.sequential{ol.nn.linear(d, w), ol.nn.tanh(), ol.nn.dropout(p), ol.nn.linear(w, c),
                               dtype = "f64"}
  local x, t = ol.randn(n, d, "f64"), ol.randn(n, c, "f64")
  local M = scaled_mask(n, w, p, 99, "f64") -- the mask the next pass after ol.seed(99) draws
  ol.seed(99)
  local loss, g = net:evaluate(x, t, "mse")
  -- The reference, by hand in double: h = tanh(x W1^T + b1), a = h .* M,
  -- y = a W2^T + b2, loss = mean (y - t)^2, and its gradient.
  local ps = {}
  for _, e in ipairs(net:parameters()) do ps[e.name] = mat(e.tensor) end
  local W1, b1, W2, b2 = ps["1.weight"], ps["1.bias"], ps["4.weight"], ps["4.bias"]
  local X, Tt = mat(x), mat(t)
  local h, a, y = {}, {}, {}
  local ref_loss = 0
  for r = 1, n do
    h[r], a[r], y[r] = {}, {}, {}
    for j = 1, w do
      local z = b1[j]
      for k = 1, d do z = z + X[r][k] * W1[j][k] end
      h[r][j] = math.tanh(z)
      a[r][j] = h[r][j] * M[r][j]
    end
    for o = 1, c do
      local z = b2[o]
      for j = 1, w do z = z + a[r][j] * W2[o][j] end
      y[r][o] = z
      ref_loss = ref_loss + (z - Tt[r][o]) ^ 2 / (n * c)
    end
  end
  T.near(loss, ref_loss, 1e-12 * ref_loss)
  local dW1, db1, dW2, db2 = {}, {}, {}, {}
  for j = 1, w do dW1[j] = {0, 0, 0}; db1[j] = 0 end
  for o = 1, c do dW2[o] = {}; for j = 1, w do dW2[o][j] = 0 end; db2[o] = 0 end
  for r = 1, n do
    local dy = {}
    for o = 1, c do
      dy[o] = 2 * (y[r][o] - Tt[r][o]) / (n * c)
      db2[o] = db2[o] + dy[o]
      for j = 1, w do dW2[o][j] = dW2[o][j] + dy[o] * a[r][j] end
    end
    for j = 1, w do
      local da = 0
      for o = 1, c do da = da + dy[o] * W2[o][j] end
      local dz = da * M[r][j] * (1 - h[r][j] ^ 2) -- through the mask, then tanh
      db1[j] = db1[j] + dz
      for k = 1, d do dW1[j][k] = dW1[j][k] + dz * X[r][k] end
    end
  end
  local gs = {}
  for _, e in ipairs(net:parameters()) do gs[e.name] = e.grad end
  T.near_all(gs["1.weight"], dW1, 1e-13)
  T.near_all(gs["1.bias"], db1, 1e-13)
  T.near_all(gs["4.weight"], dW2, 1e-13)
  T.near_all(gs["4.bias"], db2, 1e-13)
  T.ok(g:norm() > 0)
end)

-- The same net without its dropout layers: the same parameters (dropout
-- has none, so the flat buffers line up).
local function without_dropout(net)
  local layers = {}
  for _, l in ipairs(net:layers()) do
    if l.kind == "linear" then layers[#layers + 1] = ol.nn.linear(l["in"], l.out)
    elseif l.kind ~= "dropout" then layers[#layers + 1] = ol.nn[l.kind]() end
  end
  layers.dtype = net:dtype()
  local plain = ol.nn.sequential(layers)
  plain:params():copy_(net:params())
  return plain
end

T.test("evaluation mode is the identity, bit for bit, and draws nothing", function()
  for _, dt in ipairs{"f32", "f64"} do
    ol.seed(1)
    local net = ol.nn.mlp{sizes = {5, 30, 20, 3}, dropout = 0.5, dtype = dt}
    local plain = without_dropout(net)
    local x = ol.randn(17, 5, dt)
    T.ok(net.training, "a new net is in training mode")
    T.eq(net:eval(), net, "eval returns the net")
    T.eq(net.training, false)
    ol.seed(3)
    local y = net:forward(x)
    local after = ol.rand(1)[1]
    ol.seed(3)
    T.eq(ol.rand(1)[1], after, "an evaluation-mode forward draws nothing from the RNG")
    T.near_all(y, plain:forward(x):totable(), 0, dt)
    local l1, g1 = net:evaluate(x, {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2})
    local l2, g2 = plain:evaluate(x, {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2})
    T.eq(l1, l2)
    T.near_all(g1, g2:totable(), 0, dt .. " gradient")
    T.eq(net:train(), net, "train returns the net")
    T.eq(net.training, true)
    T.ok(math.abs(net:loss(x, {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2}) - l2) > 1e-6,
         "training mode drops")
  end
end)

T.test("layers, names and tostring count the dropout layer", function()
  local net = ol.nn.mlp{sizes = {4, 8, 6, 2}, activation = "tanh", dropout = 0.2}
  local names = {}
  for _, e in ipairs(net:parameters()) do names[#names + 1] = e.name end
  T.eq(table.concat(names, " "), "1.weight 1.bias 4.weight 4.bias 7.weight 7.bias")
  T.eq(tostring(net), "sequential(linear(4, 8), tanh, dropout(0.2), linear(8, 6), tanh, dropout(0.2), "
                      .. "linear(6, 2)) f32, 108 parameters")
  T.eq(tostring(net:eval()), "sequential(linear(4, 8), tanh, dropout(0.2), linear(8, 6), tanh, dropout(0.2), "
                             .. "linear(6, 2)) f32, 108 parameters, eval mode")
  local ls = net:layers()
  T.eq(ls[3].kind, "dropout"); T.eq(ls[3].p, 0.2)
  T.eq(tostring(ol.nn.dropout()), "dropout(0.5)")
  T.eq(ol.nn.dropout{p = 0.25}.p, 0.25)
  T.eq(#ol.nn.mlp{sizes = {4, 8, 2}, dropout = 0}:layers(), 4, "dropout = 0 still adds the layer")
  T.eq(#ol.nn.mlp{sizes = {4, 2}, dropout = 0.5}:layers(), 1, "no hidden layer, no dropout")
  local copy = net:to("f64")
  T.eq(copy.training, false, "to() keeps the mode")
  -- the mode is read-only from Lua
  T.raises("", function() net.training = true end)
end)

T.test("gradcheck through dropout in both modes", function()
  ol.seed(2)
  local net = ol.nn.mlp{sizes = {3, 7, 5, 2}, activation = "tanh", dropout = 0.3, dtype = "f64"}
  local x, ids = ol.randn(6, 3, "f64"), {1, 2, 2, 1, 2, 1}
  net:eval()
  local ok, abs, _, where = ol.gradcheck(net, x, ids)
  T.ok(ok, "evaluation mode: " .. where)
  T.ok(abs < 1e-7, "evaluation mode: max abs error " .. abs)
  net:train()
  ol.seed(9)
  local before = ol.rand(1)[1]
  ol.seed(9)
  ok, abs, _, where = ol.gradcheck(net, x, ids)
  T.ok(ok, "training mode, masks held: " .. where)
  T.ok(abs < 1e-7, "training mode: max abs error " .. abs)
  T.eq(ol.rand(1)[1], before, "gradcheck leaves the RNG as it found it")
  T.eq(net.training, true)
  -- The same check written by hand: re-seeding before each evaluation
  -- fixes the mask, and the function form sees one sub-network.
  local p = net:params()
  local function f(w)
    p:copy_(w)
    ol.seed(4)
    local l, g = net:evaluate(x, ids)
    return l, g:clone()
  end
  ok, abs, _, where = ol.gradcheck(f, p:clone())
  T.ok(ok, "function form, re-seeded: " .. where)
  -- and without holding the masks the check fails: training mode is random
  local function g_free(w)
    p:copy_(w)
    local l, g = net:evaluate(x, ids)
    return l, g:clone()
  end
  T.ok(not ol.gradcheck(g_free, p:clone()), "fresh masks each evaluation fail the check")
end)

T.test("curvature products use evaluation mode: those of the net without dropout, exactly", function()
  ol.seed(6)
  local net = ol.nn.mlp{sizes = {3, 6, 5, 2}, activation = "tanh", dropout = 0.5, dtype = "f64"}
  local plain = without_dropout(net)
  local x, ids = ol.randn(7, 3, "f64"), {1, 2, 2, 1, 2, 1, 1}
  local v = ol.randn(net:params():numel(), "f64")
  for _, mode in ipairs{"train", "eval"} do
    net[mode](net)
    for _, gn in ipairs{false, true} do
      local a = ol.hvp(net, x, ids, "cross_entropy", v, {gauss_newton = gn})
      local b = ol.hvp(plain, x, ids, "cross_entropy", v, {gauss_newton = gn})
      T.near_all(a, b:totable(), 0, mode .. (gn and " gauss-newton" or " hessian"))
    end
    T.near_all(ol.hessian(net, x, ids), ol.hessian(plain, x, ids):totable(), 0, mode .. " ol.hessian")
  end
  -- mse and bce through the same path
  local y = ol.randn(7, 2, "f64")
  T.near_all(ol.hvp(net, x, y, "mse", v), ol.hvp(plain, x, y, "mse", v):totable(), 0, "mse")
end)

-- A small classification problem: a dropout net and the same net without.
local function problem(dropout, dtype)
  ol.seed(21)
  local ds = ol.data.synthetic{kind = "spirals", n = 256, classes = 3}
  local train, val = ds:split(0.75)
  local net = ol.nn.mlp{sizes = {2, 64, 3}, activation = "tanh", dropout = dropout, dtype = dtype}
  local loader = ol.data.loader(train, {batch_size = 32, shuffle = false, dtype = dtype})
  return net, loader, val, train
end

T.test("ol.train steps in training mode and validates in evaluation mode, then restores the mode", function()
  local net, loader, val, train = problem(0.5)
  local plain = without_dropout(net)
  -- The first step's loss: that of the first batch through the first
  -- mask the seed gives (the loader does not shuffle, so it draws nothing).
  local x, y
  for bx, by in loader:batches() do x, y = bx, by; break end
  ol.seed(77)
  local by_hand = net:loss(x, y)
  local function first_loss(model)
    local l
    ol.seed(77)
    ol.train{model = model, optimizer = ol.optim.sgd(model, {lr = 0.1}), data = loader, max_steps = 1,
             every = 1, progress = false, on_step = function(s) l = s.loss end}
    return l
  end
  net:eval()
  local copy = without_dropout(net) -- the same start
  T.eq(first_loss(net), by_hand, "the step's loss is the training-mode loss")
  T.eq(net.training, false, "ol.train restores the mode it found")
  T.ok(math.abs(first_loss(copy) - by_hand) > 1e-4, "and differs from the net without dropout")
  -- validation: equals ol.evaluate's, in evaluation mode, whatever the hooks do
  net:train()
  local opt = ol.optim.adam(net, {lr = 0.01})
  local modes, vals = {}, {}
  ol.train{model = net, optimizer = opt, data = loader, epochs = 2, validate = val, progress = false, every = 1,
           on_step = function() modes[#modes + 1] = net.training; net:eval() end,
           on_epoch = function(s) vals[#vals + 1] = s.val_loss end}
  T.eq(#modes, 12, "6 batches, 2 epochs")
  for i, m in ipairs(modes) do T.eq(m, true, "step " .. i .. " ran in training mode") end
  T.eq(net.training, true, "restored")
  local vloss, vacc = ol.evaluate(net, val)
  T.eq(vals[2], vloss, "the last validation equals ol.evaluate")
  T.eq(net.training, true, "ol.evaluate restores the mode")
  plain:params():copy_(net:params())
  local ploss, pacc = ol.evaluate(plain, val)
  T.eq(vloss, ploss, "ol.evaluate is in evaluation mode: the net without dropout's loss")
  T.eq(vacc, pacc)
  net:eval()
  ol.evaluate(net, val)
  T.eq(net.training, false, "ol.evaluate restores evaluation mode too")
  -- predict: evaluation mode, the mode restored
  net:train()
  local pred = net:predict(val.x)
  T.eq(net.training, true, "predict restores the mode")
  T.near_all(pred, plain:predict(val.x):totable(), 0, "predict is in evaluation mode")
  local _ = train
end)

T.test("training with dropout is bit-identical on 1 and 2 threads", function()
  local threads = ol.threads()
  local function run(n)
    ol.threads(n)
    ol.seed(5)
    local ds = ol.data.synthetic{kind = "blobs", n = 512, classes = 3}
    -- 128 x 512 dropout elements: cut in parts on 2 threads. Every matrix
    -- product stays under the size that is cut over threads (2^19
    -- multiply-adds, engine/nn/linear.c), so the engine owns the order of
    -- every sum and the claim holds on any BLAS core (README, Determinism).
    local net = ol.nn.mlp{sizes = {2, 512, 3}, dropout = 0.3}
    local loader = ol.data.loader(ds, {batch_size = 128, shuffle = true})
    ol.train{model = net, optimizer = ol.optim.adam(net), data = loader, epochs = 2, progress = false}
    return net:params():clone()
  end
  local a, b = run(1), run(2)
  ol.threads(threads)
  T.eq((a - b):abs():max(), 0, "1 vs 2 threads")
  T.eq((a - run(1)):abs():max(), 0, "run to run")
  ol.threads(threads)
end)

T.test("checkpoints: a net with dropout round-trips and resumes bit-identically", function()
  local path = T.scratch()
  local function setup()
    local net, loader = problem(0.3, "f64")
    return net, ol.optim.adam(net, {lr = 0.01}), loader
  end
  local function train(net, opt, loader, epochs)
    ol.train{model = net, optimizer = opt, data = loader, epochs = epochs, progress = false}
  end
  local net, opt, loader = setup()
  train(net, opt, loader, 3)
  local straight = net:params():clone()
  net, opt, loader = setup()
  train(net, opt, loader, 1)
  ol.save(path("ck.safetensors"), {model = net, optimizer = opt})
  ol.seed(12345) -- the checkpoint's RNG state must win
  local net2, opt2, loader2 = setup()
  ol.load(path("ck.safetensors")):restore(net2, opt2)
  T.near_all(net2:params(), net:params():totable(), 0, "restored")
  train(net2, opt2, loader2, 2)
  T.near_all(net2:params(), straight:totable(), 0, "resumed = uninterrupted")
end)

T.test("bad p and bad options", function()
  local function msg(f, ...)
    local ok, e = pcall(f, ...)
    T.ok(not ok)
    return e
  end
  T.eq(msg(ol.nn.dropout, 1), "bad argument #1 to 'dropout' (p must be in [0, 1), got 1)")
  T.eq(msg(ol.nn.dropout, -0.1), "bad argument #1 to 'dropout' (p must be in [0, 1), got -0.1)")
  T.ok(msg(ol.nn.dropout, 0 / 0):find("p must be in [0, 1)", 1, true))
  T.eq(msg(ol.nn.dropout, {p = 1}), "bad argument #1 to 'dropout' (option 'p' must be in [0, 1), got 1)")
  T.ok(msg(ol.nn.dropout, {q = 0.5}):find("unknown option 'q'", 1, true))
  T.ok(msg(ol.nn.dropout, "half"):find("options table expected", 1, true))
  T.eq(msg(ol.nn.mlp, {sizes = {2, 3, 2}, dropout = 1}),
       "bad argument #1 to 'mlp' (option 'dropout' must be in [0, 1), got 1)")
  T.ok(msg(ol.nn.mlp, {sizes = {2, 3, 2}, dropout = "x"}):find("option 'dropout' must be", 1, true))
  -- a descriptor changed by hand after it was made is still checked by the engine
  local d = ol.nn.dropout(0.5)
  d.p = 2
  T.ok(msg(ol.nn.sequential, {ol.nn.linear(2, 2), d}):find("dropout p must be in [0, 1)", 1, true))
end)

T.run()
