-- Guards for the fast paths of the training loop (bench/HISTORY.md has the
-- measurements that motivated them), each checked against values computed
-- another way:
--  * the gradient norm ol.train reports (engine/train/train.c sums squares
--    in 32 vector lanes plus a scalar tail) equals the norm of the same
--    gradient taken by net:evaluate and summed here in plain Lua;
--  * the batch-1 weight gradient (an outer-product loop instead of BLAS
--    ger) equals x_i * dz_o formed here from the layer's input and the
--    gradient of its bias (which is dz itself at batch 1);
--  * a step leaves the thread setting as the user made it, although
--    engine/nn/linear.c lowers it to one thread around thin products;
--  * the norm, now taken only where it is reported, still reaches on_epoch
--    (the last batch of an epoch) whatever `every` is, equal to the norm
--    of the last batch's gradient summed here;
--  * at batch 1 the loop skips its pass over the gradient when the model
--    shows from the factors x and dz that dz x^T is finite (engine/nn/nn.h):
--    a gradient that overflows f32 from finite factors must still stop the
--    run, and one just inside the range must not;
--  * determinism as it holds (README, "Determinism"): the same seed and
--    thread count train to the same bits; across thread counts the
--    optimizer's step and the batch gather (the engine's own loops) keep
--    their bits, while a product that OpenBLAS sums lies within its
--    rounding bound gamma_k sum |x w| of a double-precision reference on
--    either thread count (1 and 2 threads are not compared bit for bit:
--    the kernel OpenBLAS runs for a part may sum in another order than the
--    one for the whole product, and it depends on the CPU).
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local function sumsq(t)
  local s = 0
  for _, v in ipairs(t:totable()) do s = s + v * v end
  return s
end

for _, dt in ipairs{"f64", "f32"} do
  T.test("ol.train's grad_norm equals the norm of net:evaluate's gradient, " .. dt, function()
    -- 2-40-3: 243 parameters, so the lanes and the scalar tail both count
    local ds = ol.data.synthetic{kind = "spirals", n = 90, classes = 3}
    ol.seed(7)
    local net = ol.nn.mlp{sizes = {2, 40, 3}, activation = "tanh", dtype = dt}
    T.eq(net:params():numel(), 243)
    -- lr = 0: the step leaves the weights where the gradient was taken
    local opt = ol.optim.sgd(net, {lr = 0})
    local seen
    ol.train{model = net, optimizer = opt, progress = false, every = 1, grad_norm = true,
             max_steps = 1, data = ol.data.loader(ds, {batch_size = 90, shuffle = false}),
             on_step = function(s) seen = s.grad_norm end}
    local x = ds.x:to(dt)
    local _, grads = net:evaluate(x, ds.y, "cross_entropy")
    local want = math.sqrt(sumsq(grads))
    T.ok(want > 0)
    -- the loader's batch and ds.x round the inputs differently (about 1e-9
    -- relative); a lost lane or tail element would move the norm by percents
    T.near(seen, want, 0, "grad_norm", 1e-6)
  end)
end

T.test("batch-1 weight gradient is the outer product dz x^T", function()
  ol.seed(3)
  local net = ol.nn.mlp{sizes = {5, 4, 3}, activation = "relu", dtype = "f64"}
  local x = ol.randn(1, 5, "f64")
  local p = net:parameters() -- 1.weight 1.bias 2.weight 2.bias (names per layer)
  -- accumulate first, to see that a later overwrite drops the old values
  net:evaluate(x, {2}, "cross_entropy")
  net:evaluate(x, {2}, "cross_entropy")
  local grads = net:grads()
  local gw2 = {} -- layer 2: input is relu(W1 x + b1), dz = d bias
  local off = 0
  for _, e in ipairs(p) do e.offset = off; off = off + e.tensor:numel() end
  local function gview(e) return grads:narrow(1, e.offset + 1, e.tensor:numel()):totable() end
  local w1, b1 = p[1].tensor, p[2].tensor
  local h = {}
  for o = 1, 4 do
    local u = b1[o]
    for i = 1, 5 do u = u + w1:get(o, i) * x:get(1, i) end
    h[o] = u > 0 and u or 0
  end
  local dz2, dw2 = gview(p[4]), gview(p[3])
  for o = 1, 3 do
    for i = 1, 4 do
      T.near(dw2[(o - 1) * 4 + i], dz2[o] * h[i], 1e-14, "dW2[" .. o .. "," .. i .. "]")
    end
  end
  local dz1, dw1 = gview(p[2]), gview(p[1])
  for o = 1, 4 do
    for i = 1, 5 do
      T.near(dw1[(o - 1) * 5 + i], dz1[o] * x:get(1, i), 1e-14, "dW1[" .. o .. "," .. i .. "]")
    end
  end
end)

T.test("same thread setting, same gradient: the per-shape choice is fixed", function()
  ol.seed(5)
  local net = ol.nn.mlp{sizes = {784, 256, 128, 10}, activation = "relu"}
  local x, y = ol.rand(1024, 784), ol.ones(1024):mul_(2)
  local _, g1 = net:evaluate(x, y, "cross_entropy")
  g1 = g1:clone()
  local _, g2 = net:evaluate(x, y, "cross_entropy")
  T.eq((g1 - g2):abs():max(), 0)
end)

T.test("a step keeps the user's thread setting", function()
  local before = ol.threads()
  local net = ol.nn.mlp{sizes = {784, 256, 128, 10}, activation = "relu"}
  for _, n in ipairs{1, 16, 1024} do -- gemv, thin and threaded products
    net:evaluate(ol.rand(n, 784), ol.ones(n):mul_(3), "cross_entropy")
    T.eq(ol.threads(), before, "threads after batch " .. n)
  end
end)

for _, drop in ipairs{false, true} do
  T.test("on_epoch sees the last batch's gradient norm, every = 1000, drop_last = " .. tostring(drop), function()
    local ds = ol.data.synthetic{kind = "spirals", n = 90, classes = 3}
    ol.seed(8)
    local net = ol.nn.mlp{sizes = {2, 16, 3}, activation = "tanh", dtype = "f64"}
    local opt = ol.optim.sgd(net, {lr = 0}) -- the weights stay put
    local seen, steps = {}, 0
    ol.train{model = net, optimizer = opt, progress = false, every = 1000, epochs = 2,
             data = ol.data.loader(ds, {batch_size = 20, shuffle = false, drop_last = drop}),
             on_step = function() steps = steps + 1 end,
             on_epoch = function(s) seen[#seen + 1] = s.grad_norm end}
    T.eq(steps, 0)
    T.eq(#seen, 2)
    local want = math.sqrt(sumsq(net:grads())) -- the last batch of epoch 2
    T.ok(want > 0)
    T.near(seen[2], want, 0, "grad_norm", 1e-12)
    T.near(seen[1], want, 0, "grad_norm of epoch 1 (same batch, same weights)", 1e-12)
  end)
end

-- One linear layer 2 -> 2 with W = I and b = 0, so that y = x, and mse
-- against the one-hot target: dz = y - t (2/(n c) = 1), dW = dz x^T.
local function identity_net()
  local net = ol.nn.mlp{sizes = {2, 2}, dtype = "f32"}
  net:params():copy_(ol.tensor({1, 0, 0, 1, 0, 0}, "f32"))
  return net
end

local function one_sample(v)
  return ol.data.loader(ol.data.dataset(ol.tensor({{v, 0}}, "f32"), ol.tensor({2})),
                        {batch_size = 1, shuffle = false})
end

T.test("batch 1: a weight gradient that overflows f32 from finite x and dz is caught", function()
  -- x1 = 1e38: dz1 = 1e38, dW11 = 1e76 = inf in f32; the loss (in double) stays finite
  local net = identity_net()
  T.raises("non-finite gradient at step 1", ol.train,
           {model = net, optimizer = ol.optim.sgd(net, {lr = 0}), data = one_sample(1e38),
            loss = "mse", progress = false})
  -- Skipped, that one batch leaves no step taken: a failure too.
  net = identity_net()
  T.raises("every batch (1) was skipped", ol.train,
           {model = net, optimizer = ol.optim.sgd(net, {lr = 0}), data = one_sample(1e38),
            loss = "mse", progress = false, on_nonfinite = "skip"})
end)

T.test("batch 1: a large but finite gradient trains", function()
  -- x1 = 1e18: dW11 = 1e36 < 3.4e38, shown finite from the factors
  local net = identity_net()
  local s = ol.train{model = net, optimizer = ol.optim.sgd(net, {lr = 0}), data = one_sample(1e18),
                     loss = "mse", progress = false}
  T.eq(s.skipped, 0)
  T.eq(s.step, 1)
  T.near(net:grads()[1], 1e36, 0, "dW11", 1e-6)
  T.near(s.grad_norm, 1e36, 0, "grad_norm", 1e-6)
end)

local blas = ol.blas()
local core = " (BLAS core " .. blas.core .. ")"

-- The main job's network on 256 images of 784 inputs, classes 1..10.
local function images()
  ol.seed(11)
  local x = ol.rand(256, 784)
  local y = ol.ones(256)
  for i = 1, 256 do y[i] = (i * 7) % 10 + 1 end
  return ol.data.dataset(x, y)
end

local function trained(name, batch, threads, ds)
  local before = ol.threads()
  ol.threads(threads)
  ol.seed(12)
  local net = ol.nn.mlp{sizes = {784, 256, 128, 10}, activation = "relu"}
  local initial = net:params():clone()
  local opt = name == "sgd" and ol.optim.sgd(net, {lr = 0.05, momentum = 0.9})
              or ol.optim.adam(net, {lr = 1e-3})
  ol.train{model = net, optimizer = opt, progress = false, max_steps = batch == 1 and 40 or 6,
           data = ol.data.loader(ds, {batch_size = batch, shuffle = true})}
  ol.threads(before)
  return net:params():clone(), initial
end

for _, name in ipairs{"sgd", "adam"} do
  for _, b in ipairs{1, 16, 128} do
    T.test("same seed, same threads: the same bits, " .. name .. " batch " .. b, function()
      local ds = images()
      for _, threads in ipairs{1, 2} do
        local w1, initial = trained(name, b, threads, ds)
        local w2 = trained(name, b, threads, ds)
        T.eq((w1 - w2):abs():max(), 0, threads .. " thread(s), largest difference" .. core)
        -- the run moved the weights away from the same seed's initial ones
        T.ok((w1 - initial):abs():max() > 1e-4, "training did not move the weights")
      end
    end)
  end
end

-- A step over the main job's 235k parameters is cut into one part per
-- thread; each element is updated by the same code either way.
for _, name in ipairs{"sgd", "adam"} do
  T.test("1 and 2 threads: the same gradient steps to the same bits, " .. name, function()
    local before = ol.threads()
    ol.seed(13)
    local w0, grads = ol.randn(235146), {}
    for i = 1, 3 do grads[i] = ol.randn(235146) end
    local out = {}
    for _, threads in ipairs{1, 2} do
      ol.threads(threads)
      local w = w0:clone()
      local opt = name == "sgd" and ol.optim.sgd(w, {lr = 0.05, momentum = 0.9, nesterov = true})
                  or ol.optim.adam(w, {lr = 1e-3})
      for i = 1, 3 do opt:step(grads[i]) end
      out[threads] = w
    end
    ol.threads(before)
    T.eq((out[1] - out[2]):abs():max(), 0, "largest difference")
    T.ok((out[1] - w0):abs():max() > 1e-4, "the steps did not move the weights")
  end)
end

T.test("1 and 2 threads: the same batches, bit for bit", function()
  local before = ol.threads()
  local ds = images()
  local seen = {}
  for _, threads in ipairs{1, 2} do
    ol.threads(threads)
    ol.seed(14)
    local xs = {}
    for x in ol.data.loader(ds, {batch_size = 128, shuffle = true}):batches() do
      xs[#xs + 1] = x:clone()
    end
    seen[threads] = xs
  end
  ol.threads(before)
  T.eq(#seen[1], 2)
  for i = 1, 2 do T.eq((seen[1][i] - seen[2][i]):abs():max(), 0, "batch " .. i) end
end)

-- z = x W^T + b of one 784 -> 64 layer at batch 64 (3.2M multiply-adds: cut
-- over the pool on 2 threads) against the same sum in double here. A sum
-- of k rounded products in any order is within gamma_k sum |x w| of the
-- exact one (gamma_k = k u / (1 - k u), u = 2^-24), and adding b rounds
-- once more.
T.test("1 and 2 threads: a product within its rounding bound of a double reference", function()
  local before = ol.threads()
  ol.seed(15)
  local net = ol.nn.mlp{sizes = {784, 64}}
  local p = net:parameters()
  p[2].tensor:copy_(ol.randn(64))
  local x = ol.randn(64, 784)
  local w, b, xt = p[1].tensor:totable(), p[2].tensor:totable(), x:totable()
  local u = 2.0 ^ -24
  local gamma = 784 * u / (1 - 784 * u)
  for _, threads in ipairs{1, 2} do
    ol.threads(threads)
    local z = net:forward(x):totable()
    for r = 1, 64 do
      local xr = xt[r]
      for o = 1, 64 do
        local wo, acc, mag = w[o], 0, 0
        for i = 1, 784 do
          local q = xr[i] * wo[i]
          acc, mag = acc + q, mag + math.abs(q)
        end
        local tz = gamma * mag
        local tol = tz + u * (math.abs(acc + b[o]) + tz)
        local err = math.abs(z[r][o] - (acc + b[o]))
        if not (err <= tol) then
          error(string.format("z[%d][%d] on %d thread(s) is %.3g off, bound %.3g%s",
                              r, o, threads, err, tol, core))
        end
      end
    end
  end
  ol.threads(before)
end)

T.run()
