-- ol.nn: forward values and losses against hand-computed numbers, the flat
-- buffers and their views, predict, dtypes and bad-input errors.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- 2 -> 2 relu -> 1 with weights chosen so every number is exact.
local function small(dtype)
  local net = ol.nn.sequential{ol.nn.linear(2, 2), ol.nn.relu(), ol.nn.linear(2, 1), dtype = dtype}
  local p = net:params()
  local vals = {1, 2, 3, -4, 0.5, -1, 1, -1, 0.25}
  for i, v in ipairs(vals) do p:set(i, v) end
  return net
end

T.test("forward by hand", function()
  for _, dt in ipairs{"f32", "f64"} do
    local net = small(dt)
    -- row 1: z = (3.5, -2) -> relu (3.5, 0) -> 3.5 + .25; row 2: z = (.5, 9) -> .5 - 9 + .25
    local y = net:forward(ol.tensor({{1, 1}, {2, -1}}, dt))
    T.eq(y:dtype(), dt)
    T.near_all(y, {{3.75}, {-8.25}}, 0)
    T.near_all(net:forward(ol.tensor({2, -1}, dt)), {{-8.25}}, 0) -- one row, 1-D
  end
end)

T.test("layer names and views", function()
  local net = small("f64")
  local ps = net:parameters()
  T.eq(#ps, 4)
  T.eq(ps[1].name, "1.weight"); T.eq(ps[2].name, "1.bias")
  T.eq(ps[3].name, "3.weight"); T.eq(ps[4].name, "3.bias")
  T.near_all(ps[1].tensor, {{1, 2}, {3, -4}}, 0) -- out x in, as torch.nn.Linear
  T.near_all(ps[3].tensor, {{1, -1}}, 0)
  -- views share the flat buffers both ways
  ps[4].tensor:fill_(7)
  T.eq(net:params():get(9), 7)
  net:params():set(1, 42)
  T.eq(ps[1].tensor:get(1, 1), 42)
  T.ok(rawequal(net:params(), net:params()))
  T.ok(rawequal(net:grads(), net:grads()))
  T.eq(net:params():numel(), 9)
  T.eq(net:num_params(), 9)
end)

T.test("losses by hand", function()
  -- one identity linear layer: the output is the input
  local net = ol.nn.sequential{ol.nn.linear(3, 3), dtype = "f64"}
  net:params():zero_()
  local w = net:parameters()[1].tensor
  for i = 1, 3 do w:set(i, i, 1) end
  local x = ol.tensor({{1, 2, 3}, {-1, 0, 4}}, "f64")
  local e = math.exp
  local l1 = math.log(e(1) + e(2) + e(3)) - 3
  local l2 = math.log(e(-1) + e(0) + e(4)) + 1
  T.near(net:loss(x, {3, 1}, "cross_entropy"), (l1 + l2) / 2, 1e-14)
  T.near(net:loss(x, {3, 1}), (l1 + l2) / 2, 1e-14, "default kind")
  T.near(net:loss(x, ol.tensor({3, 1}, "f32"), "cross_entropy"), (l1 + l2) / 2, 1e-14, "id tensor")
  T.near(net:loss(x, ol.tensor({{0, 0, 1}, {1, 0, 0}}, "f64"), "cross_entropy"), (l1 + l2) / 2, 1e-14, "one-hot")
  local t = ol.tensor({{0, 2, 1}, {1, 0, 0}}, "f64")
  T.near(net:loss(x, t, "mse"), (1 + 0 + 4 + 4 + 0 + 16) / 6, 1e-14)
  local tb = ol.tensor({{1, 0, 1}, {0, 1, 0.25}}, "f64")
  local bce, xs, ts = 0, {1, 2, 3, -1, 0, 4}, {1, 0, 1, 0, 1, 0.25}
  for i = 1, 6 do
    local s = 1 / (1 + e(-xs[i]))
    bce = bce - (ts[i] * math.log(s) + (1 - ts[i]) * math.log(1 - s))
  end
  T.near(net:loss(x, tb, "bce"), bce / 6, 1e-14)
  -- huge logits stay finite
  T.near(net:loss(ol.tensor({{1000, 0, -1000}}, "f64"), {2}), 1000, 1e-9)
end)

T.test("evaluate, backward, zero_grad", function()
  ol.seed(1)
  local net = ol.nn.mlp{sizes = {3, 5, 2}, activation = "tanh", dtype = "f64"}
  local x = ol.randn(4, 3, "f64")
  local loss, g = net:evaluate(x, {1, 2, 2, 1})
  T.ok(rawequal(g, net:grads()))
  T.near(loss, net:loss(x, {1, 2, 2, 1}), 1e-15)
  local g1 = g:clone()
  net:backward() -- accumulates
  for i = 1, g:numel() do T.near(g:get(i), 2 * g1:get(i), 1e-15) end
  net:evaluate(x, {1, 2, 2, 1}) -- overwrites
  for i = 1, g:numel() do T.near(g:get(i), g1:get(i), 1e-15) end
  net:zero_grad()
  T.eq(g:norm(), 0)
  -- the gradient of the output bias of cross_entropy: mean of softmax - onehot
  local y = net:forward(x)
  net:evaluate(x, {1, 2, 2, 1})
  local ids = {1, 2, 2, 1}
  local want = {0, 0}
  for r = 1, 4 do
    local a, b = y:get(r, 1), y:get(r, 2)
    local p1 = 1 / (1 + math.exp(b - a))
    want[1] = want[1] + (p1 - (ids[r] == 1 and 1 or 0)) / 4
    want[2] = want[2] + ((1 - p1) - (ids[r] == 2 and 1 or 0)) / 4
  end
  local gb = net:parameters()[4].grad
  T.near(gb:get(1), want[1], 1e-14); T.near(gb:get(2), want[2], 1e-14)
end)

T.test("predict", function()
  local net = ol.nn.sequential{ol.nn.linear(2, 3), dtype = "f64"}
  net:params():zero_()
  local w = net:parameters()[1].tensor
  w:set(1, 1, 1); w:set(2, 2, 1); w:set(3, 1, -1)
  T.near_all(net:predict(ol.tensor({{5, 1}, {0, 2}, {-3, 1}}, "f64")), {1, 2, 3}, 0)
end)

T.test("f32 model equals its f64 copy to f32 precision", function()
  ol.seed(2)
  local net = ol.nn.mlp{sizes = {6, 10, 4}, activation = "gelu"}
  local n64 = net:to("f64")
  T.eq(n64:dtype(), "f64"); T.eq(net:dtype(), "f32")
  local x = ol.randn(8, 6)
  local l32 = net:loss(x, {1, 2, 3, 4, 1, 2, 3, 4})
  local l64 = n64:loss(x:to("f64"), {1, 2, 3, 4, 1, 2, 3, 4})
  T.near(l32, l64, 1e-5)
end)

T.test("mlp options", function()
  for _, a in ipairs{"relu", "leaky_relu", "tanh", "sigmoid", "gelu", "identity"} do
    for _, init in ipairs{"xavier_uniform", "xavier_normal", "fan_in_uniform",
                          "kaiming_uniform", "kaiming_normal", "orthogonal"} do
      local net = ol.nn.mlp{sizes = {4, 7, 5, 2}, activation = a, init = init}
      T.eq(net:num_params(), 4 * 7 + 7 + 7 * 5 + 5 + 5 * 2 + 2)
      T.eq(net:parameters()[2].tensor:norm(), 0, "biases start at zero")
    end
  end
  local seen = {}
  local net = ol.nn.mlp{sizes = {3, 4, 2}, init = function(w, name) seen[#seen + 1] = name; w:fill_(0.5) end}
  T.eq(table.concat(seen, ","), "1.weight,3.weight")
  T.eq(net:parameters()[3].tensor:get(2, 4), 0.5)
  local g = ol.nn.mlp{sizes = {100, 50}, gain = 3}
  T.ok(g:parameters()[1].tensor:abs():max() > math.sqrt(6 / 150) * 1.5, "gain honoured")
  T.ok(g:parameters()[1].tensor:abs():max() <= 3 * math.sqrt(6 / 150) + 1e-6)
  T.eq(tostring(ol.nn.leaky_relu{slope = 0.2}), "leaky_relu()")
  T.eq(ol.nn.leaky_relu().slope, 0.01)
  T.eq(ol.nn.leaky_relu(0.3).slope, 0.3)
end)

T.test("symmetry breaking", function()
  ol.seed(3)
  for _, init in ipairs{"xavier_uniform", "kaiming_normal", "orthogonal", "fan_in_uniform"} do
    local net = ol.nn.mlp{sizes = {10, 32, 3}, init = init}
    local w = net:parameters()[1].tensor
    local seen = {}
    for i = 1, 32 do
      local key = table.concat(w[i]:totable(), ",")
      T.ok(not seen[key], "two hidden units are identical under " .. init)
      seen[key] = true
    end
  end
end)

T.test("same seed, same weights", function()
  ol.seed(5); local a = ol.nn.mlp{sizes = {5, 6, 2}}:params():clone()
  ol.seed(5); local b = ol.nn.mlp{sizes = {5, 6, 2}}:params()
  T.eq((a - b):abs():max(), 0)
end)

T.test("bad input", function()
  local net = ol.nn.mlp{sizes = {4, 8, 3}}
  local x = ol.randn(5, 4)
  T.raises("bad argument #3 to 'linear' (unknown option 'bias'; this function takes no options)",
           ol.nn.linear, 3, 1, {bias = false})
  T.eq(tostring(ol.nn.linear(3, 1, {})), "linear(3, 1)", "an empty options table is fine")
  T.raises("bad argument #1 to 'forward' (input width differs from in_features: input is 5x3, model takes N x 4)",
           function() net:forward(ol.randn(5, 3)) end)
  T.raises("bad argument #2 to 'loss' (class id 4 out of range 1..3 (row 5))",
           function() net:loss(x, {1, 2, 3, 1, 4}) end)
  T.raises("bad argument #2 to 'evaluate' (class id 0 out of range 1..3 (row 1))",
           function() net:evaluate(x, ol.tensor{0, 1, 1, 1, 1}, "cross_entropy") end)
  T.raises("bad argument #2 to 'loss' (class id 1.5 out of range",
           function() net:loss(x, {1.5, 1, 1, 1, 1}) end)
  T.raises("bad argument #1 to 'forward' (input is f64 but the model is f32",
           function() net:forward(x:to("f64")) end)
  T.raises("bad argument #2 to 'loss' (target is f64 but the model is f32",
           function() net:loss(x, ol.zeros(5, 3, "f64"), "mse") end)
  T.raises("bad argument #2 to 'loss' (wrong target shape: 5x2; mse takes a 5x3 target",
           function() net:loss(x, ol.zeros(5, 2), "mse") end)
  T.raises("bad argument #2 to 'loss' (wrong target shape: 2 class ids for a batch of 5)",
           function() net:loss(x, {1, 2}) end)
  T.raises("bad argument #2 to 'loss' (wrong target shape: 4x3; cross_entropy takes 5 class ids or a 5x3 one-hot",
           function() net:loss(x, ol.zeros(4, 3)) end)
  T.raises("bad argument #3 to 'loss' (unknown loss 'hinge'",
           function() net:loss(x, {1, 1, 1, 1, 1}, "hinge") end)
  T.raises("bad argument #1 to 'sequential' (layer 3: linear expects 5 inputs but the layer before gives 4)",
           function() ol.nn.sequential{ol.nn.linear(3, 4), ol.nn.relu(), ol.nn.linear(5, 2)} end)
  T.raises("bad argument #1 to 'sequential' (entry 2 is not a layer",
           function() ol.nn.sequential{ol.nn.linear(3, 4), "relu"} end)
  T.raises("bad argument #1 to 'mlp' (option 'activation' must be 'identity', 'relu', 'leaky_relu', 'tanh', "
           .. "'sigmoid', 'gelu', 'silu', 'elu' or 'softplus', got 'swish')",
           function() ol.nn.mlp{sizes = {2, 2}, activation = "swish"} end)
  T.raises("bad argument #1 to 'mlp' (option 'init' must be xavier_uniform, xavier_normal, fan_in_uniform, "
           .. "kaiming_uniform, kaiming_normal, orthogonal or a function, got 'magic')",
           function() ol.nn.mlp{sizes = {2, 2}, init = "magic"} end)
  T.raises("bad argument #2 to 'linear' (out_features must be positive (got 0))",
           function() ol.nn.linear(3, 0) end)
  T.raises("no loss to differentiate", function() ol.nn.mlp{sizes = {2, 2}}:backward() end)
end)

T.test("layers lists the layers in order", function()
  local net = ol.nn.sequential{ol.nn.linear(3, 5), ol.nn.leaky_relu(0.2), ol.nn.linear(5, 2), ol.nn.tanh()}
  local l = net:layers()
  T.eq(#l, 4)
  T.eq(l[1].kind, "linear") T.eq(l[1]["in"], 3) T.eq(l[1].out, 5)
  T.eq(l[2].kind, "leaky_relu") T.near(l[2].slope, 0.2, 1e-15)
  T.eq(l[3].kind, "linear") T.eq(l[3]["in"], 5) T.eq(l[3].out, 2)
  T.eq(l[4].kind, "tanh")
end)

-- A net whose output is its input: the losses see the logits given.
local function passthrough(n, dtype)
  local net = ol.nn.mlp{sizes = {n, n}, dtype = dtype}
  net:params():zero_()
  local w = net:parameters()[1].tensor
  for i = 1, n do w:set(i, i, 1) end
  return net
end

T.test("loss options by hand: label smoothing, class weights, huber's delta", function()
  -- values by mpmath from torch's formulas term by term (tests/engine/test_nn_actloss.c)
  local Y = {{1.0, 2.0, 0.5}, {0.3, -1.2, 2.2}, {-0.5, 0.0, 0.5}}
  local ids = {2, 3, 1}
  for _, dt in ipairs{"f64", "f32"} do
    local tol = dt == "f64" and 1e-14 or 1e-6
    local net = passthrough(3, dt)
    local x = ol.tensor(Y, dt)
    T.near(net:loss(x, ids, "cross_entropy", {label_smoothing = 0.1, weight = {1, 2, 0.5}}),
           0.85481434189066009, tol)
    T.near(net:loss(x, ids, "cross_entropy", {label_smoothing = 0.1}), 0.84088097232321817, tol)
    T.near(net:loss(x, ids, "cross_entropy", {weight = ol.tensor({1, 2, 0.5})}), 0.76943127713360337, tol)
    local P = ol.tensor({{0.2, 0.7, 0.1}, {0.0, 0.0, 1.0}, {0.5, 0.25, 0.25}}, dt)
    T.near(net:loss(x, P, "cross_entropy", {label_smoothing = 0.1, weight = {1, 2, 0.5}}),
           0.98153478919016761, tol)
    -- net:evaluate takes them the same way; defaults are the plain loss
    local l = net:evaluate(x, ids, "cross_entropy", {label_smoothing = 0, weight = {1, 1, 1}})
    T.near(l, net:loss(x, ids), tol)
    -- huber around |x| = delta: x = -1.5, -1, -0.999, 0.3, 1, 2.5
    local h = passthrough(6, dt)
    local hy = ol.tensor({{0, 1, 2, 3, 4, 5}}, dt)
    local ht = ol.tensor({{1.5, 2, 2.999, 2.7, 3, 2.5}}, dt)
    T.near(h:loss(hy, ht, "huber"), 0.75733341666666667, tol)
    T.near(h:loss(hy, ht, "huber", {delta = 1}), 0.75733341666666667, tol)
    local _, g = h:evaluate(hy, ht, "huber", {delta = 0.5})
    -- d loss / d bias = d loss / d output: delta sign(x) / 6 beyond delta, x / 6 inside
    T.near_all(g:narrow(1, 37, 6), {-0.5 / 6, -0.5 / 6, -0.5 / 6, 0.3 / 6, 0.5 / 6, 0.5 / 6},
               dt == "f64" and 1e-15 or 1e-7)
  end
end)

T.test("bad loss options name the option and the function", function()
  local net = passthrough(3, "f64")
  local x, ids, t = ol.zeros(2, 3, "f64"), {1, 2}, ol.zeros(2, 3, "f64")
  local cases = {
    {{label_smoothing = 1.5}, "bad argument #4 to 'loss' (option 'label_smoothing' must be in [0, 1], got 1.5)"},
    {{label_smoothing = -0.1}, "bad argument #4 to 'loss' (option 'label_smoothing' must be in [0, 1], got -0.1)"},
    {{weight = {1, 2}}, "bad argument #4 to 'loss' (option 'weight' must hold one value per class (3, the model's outputs), got 2)"},
    {{weight = ol.ones(3, 1)}, "bad argument #4 to 'loss' (option 'weight' must hold one value per class (3, the model's outputs), got a tensor of dimension 2)"},
    {{weight = {1, -1, 1}}, "bad argument #4 to 'loss' (option 'weight' must hold finite values >= 0, got -1 at [2])"},
    {{weight = {1, 1, math.huge}}, "bad argument #4 to 'loss' (option 'weight' must hold finite values >= 0, got inf at [3])"},
    {{weight = {1, "a", 1}}, "bad argument #4 to 'loss' (option 'weight' must hold numbers, got string at [2])"},
    {{weight = "heavy"}, "bad argument #4 to 'loss' (option 'weight' must be a tensor or a list of class weights, got 'heavy')"},
    {{smoothing = 0.1}, "bad argument #4 to 'loss' (unknown option 'smoothing'"},
    {{delta = 1}, "bad argument #4 to 'loss' (option 'delta' is for huber, not cross_entropy)"},
  }
  for _, c in ipairs(cases) do
    T.raises(c[2], function() net:loss(x, ids, "cross_entropy", c[1]) end)
  end
  T.raises("bad argument #4 to 'loss' (option 'delta' must be > 0, got 0)",
           function() net:loss(x, t, "huber", {delta = 0}) end)
  T.raises("bad argument #4 to 'loss' (option 'delta' must be > 0, got -1)",
           function() net:loss(x, t, "huber", {delta = -1}) end)
  T.raises("bad argument #4 to 'evaluate' (option 'label_smoothing' is for cross_entropy, not mse)",
           function() net:evaluate(x, t, "mse", {label_smoothing = 0.1}) end)
  T.raises("bad argument #4 to 'loss' (a table of loss options expected, got number)",
           function() net:loss(x, ids, "cross_entropy", 3) end)
  T.raises("bad argument #3 to 'loss' (unknown loss 'hinge' (expected cross_entropy, mse, bce or huber))",
           function() net:loss(x, ids, "hinge") end)
  local ds = ol.data.synthetic{kind = "blobs", n = 20, classes = 3}
  local net2 = ol.nn.mlp{sizes = {2, 3}}
  T.raises("bad argument #4 to 'evaluate' (option 'weight' must hold one value per class (3, the model's outputs), got 4)",
           function() ol.evaluate(net2, ds, "cross_entropy", {weight = {1, 1, 1, 1}}) end)
end)

T.test("silu, elu, softplus layers: net:layers, tostring, mlp", function()
  for _, a in ipairs{"silu", "elu", "softplus"} do
    local net = ol.nn.mlp{sizes = {2, 3, 2}, activation = a, dtype = "f64"}
    T.eq(net:layers()[2].kind, a)
    T.ok(tostring(net):find(a, 1, true), tostring(net))
    T.eq(tostring(ol.nn[a]()), a .. "()")
    -- the layer computes the activation: out = f(x) through an identity linear
    local seq = ol.nn.sequential{ol.nn.linear(3, 3), ol.nn[a](), dtype = "f64"}
    seq:params():zero_()
    for i = 1, 3 do seq:parameters()[1].tensor:set(i, i, 1) end
    local y = seq:forward(ol.tensor({{-30, 0.5, 25}}, "f64"))
    local want = {
      silu = {-2.8072868906517897e-12, 3.1122966560092728e-1, 2.4999999999652801e+1},
      elu = {-9.9999999999990642e-1, 0.5, 25},
      softplus = {9.3576229688397368e-14, 9.7407698418010668e-1, 25},
    }
    for j = 1, 3 do T.near(y:get(1, j), want[a][j], 1e-14 * math.max(1, math.abs(want[a][j]))) end
  end
end)

T.run()
