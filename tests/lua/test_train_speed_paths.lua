-- Guards for the performance work of issue 10 (bench/RESULTS.md), each
-- checked against values computed another way:
--  * the gradient norm ol.train reports (engine/train/train.c sums squares
--    in 32 vector lanes plus a scalar tail) equals the norm of the same
--    gradient taken by net:evaluate and summed here in plain Lua;
--  * the batch-1 weight gradient (an outer-product loop instead of BLAS
--    ger) equals x_i * dz_o formed here from the layer's input and the
--    gradient of its bias (which is dz itself at batch 1);
--  * a step leaves the thread setting as the user made it, although
--    engine/nn/linear.c lowers it to one thread around thin products.
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
  local before = ol.threads and ol.threads() or nil
  local net = ol.nn.mlp{sizes = {784, 256, 128, 10}, activation = "relu"}
  for _, n in ipairs{1, 16, 1024} do -- gemv, thin and threaded products
    net:evaluate(ol.rand(n, 784), ol.ones(n):mul_(3), "cross_entropy")
    if before then T.eq(ol.threads(), before, "threads after batch " .. n) end
  end
end)

T.run()
