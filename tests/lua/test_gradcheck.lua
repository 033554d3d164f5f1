-- ol.gradcheck: every activation (fused after a linear and standalone),
-- every loss and target form and the losses' options, 1-3 hidden layers, f32 nets, functions;
-- and it must report a wrong gradient.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local acts = {"relu", "leaky_relu", "tanh", "sigmoid", "gelu", "identity", "silu", "elu", "softplus"}

local function targets(n, c)
  local ids = {}
  for i = 1, n do ids[i] = (i - 1) % c + 1 end
  local probs = ol.rand(n, c, "f64") + 0.1
  probs = probs / (probs:sum(2):view(n, 1) * ol.ones(1, c, "f64"))
  local w = {1, 2, 0.5, 1.5}
  return {
    {ids, "cross_entropy"}, {probs, "cross_entropy"},
    {ol.randn(n, c, "f64"), "mse"}, {ol.rand(n, c, "f64"), "bce"},
    -- the losses' options (gradcheck's loss_options, as net:loss takes them)
    {ids, "cross_entropy", {label_smoothing = 0.1}}, {ids, "cross_entropy", {weight = w}},
    {ids, "cross_entropy", {label_smoothing = 0.2, weight = ol.tensor(w)}},
    {probs, "cross_entropy", {label_smoothing = 0.1, weight = w}},
    {ol.randn(n, c, "f64"), "huber"}, {ol.randn(n, c, "f64") * 2, "huber", {delta = 0.5}},
  }
end

T.test("every activation and loss", function()
  ol.seed(21)
  for _, a in ipairs(acts) do
    local ctor = ol.nn[a]
    local fused = ol.nn.sequential{ol.nn.linear(3, 5), ctor(), ol.nn.linear(5, 4), dtype = "f64"}
    local alone = ol.nn.sequential{ctor(), ol.nn.linear(3, 5), ol.nn.tanh(), ctor(),
                                   ol.nn.linear(5, 4), ctor(), dtype = "f64"}
    for _, net in ipairs{fused, alone} do
      -- random biases too: with zero ones an all-negative input row puts
      -- relu exactly at its kink, where one-sided slopes differ
      ol.init.normal(net:params(), 0, 0.7)
      for _, n in ipairs{1, 6} do
        local x = ol.randn(n, 3, "f64")
        for _, tk in ipairs(targets(n, 4)) do
          local ok, abs, rel, where = ol.gradcheck(net, x, tk[1], tk[2], {loss_options = tk[3]})
          T.ok(ok, string.format("%s %s%s batch %d: abs %g rel %g at %s", a, tk[2], tk[3] and " (options)" or "",
                                 n, abs, rel, where))
        end
      end
    end
  end
end)

T.test("1 to 3 hidden layers, f32 nets", function()
  ol.seed(22)
  for hidden = 1, 3 do
    local sizes = {4}
    for h = 1, hidden do sizes[#sizes + 1] = 6 - h end
    sizes[#sizes + 1] = 3
    local net = ol.nn.mlp{sizes = sizes, activation = "tanh"} -- f32: checked on an f64 copy
    local x = ol.randn(10, 4)
    local ok, abs, rel, where = ol.gradcheck(net, x, {1, 2, 3, 1, 2, 3, 1, 2, 3, 1}, "cross_entropy",
                                             {eps = 1e-6, atol = 1e-7, rtol = 1e-5})
    T.ok(ok, string.format("%d hidden: abs %g rel %g at %s", hidden, abs, rel, where))
    T.ok(abs < 1e-8)
    T.eq(net:dtype(), "f32", "the net given is untouched")
  end
end)

T.test("functions", function()
  -- f(x) = sum(x^2 * c): grad 2 c x
  local ok, abs = ol.gradcheck(function(x) return (x * x * 3):sum(), x * 6 end, ol.randn(3, 2))
  T.ok(ok); T.ok(abs < 1e-7)
end)

T.test("a wrong gradient is caught and located", function()
  local ok, abs, rel, where = ol.gradcheck(function(x)
    local g = x * 2
    g:set(2, 2, g:get(2, 2) + 0.01) -- element 4 (row-major) is off
    return (x * x):sum(), g
  end, ol.randn(3, 2, "f64"))
  T.eq(ok, false)
  T.near(abs, 0.01, 1e-6)
  T.ok(rel > 0)
  T.ok(where:find("x[4]", 1, true), where)
end)

T.test("bad arguments", function()
  T.raises("bad argument #1 to 'gradcheck' (model or function expected", function() ol.gradcheck(42) end)
  T.raises("bad argument #3 to 'gradcheck' (option 'loss_options' is for a model",
           function() ol.gradcheck(function(x) return 0, x end, ol.zeros(2, "f64"), {loss_options = {}}) end)
  local net = ol.nn.mlp{sizes = {2, 3}, dtype = "f64"}
  T.raises("bad argument #4 to 'evaluate' (option 'delta' is for huber, not cross_entropy)",
           function() ol.gradcheck(net, ol.zeros(1, 2, "f64"), {1}, "cross_entropy", {loss_options = {delta = 1}}) end)
end)

T.run()
