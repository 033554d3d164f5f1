-- ol.plateau: ReduceLROnPlateau decisions on constructed metric sequences.
-- Expected decisions are worked out by hand from torch's rules (see
-- lua/optlua/plateau.lua) and written as literal lists.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = optlua or require("optlua")

local function run(p, values)
  local out = {}
  for i, v in ipairs(values) do out[i] = p:update(v) and 1 or 0 end
  return table.concat(out)
end

local run_example = T.run_example

T.test("min/rel: first value becomes best, patience counts strictly", function()
  local p = ol.plateau{patience = 2}
  T.eq(p.best, math.huge)
  T.eq(p:update(5), false); T.eq(p.best, 5); T.eq(p.bad_epochs, 0)
  -- 5 * (1 - 1e-4) = 4.9995: 4.9996 is not better
  T.eq(p:update(4.9996), false); T.eq(p.bad_epochs, 1); T.eq(p.best, 5)
  T.eq(p:update(4.9994), false, "better by more than rel threshold"); T.eq(p.bad_epochs, 0)
  T.eq(p.best, 4.9994)
  -- three bad epochs in a row: reduce on the third (bad_epochs 3 > patience 2)
  T.eq(run(p, {6, 6, 6, 6, 6, 6, 6}), "0010010")
  T.eq(p.reductions, 2)
end)

T.test("min/abs threshold", function()
  local p = ol.plateau{patience = 0, threshold = 0.5, threshold_mode = "abs"}
  -- best 10; 9.6 not better (needs < 9.5) -> bad 1 > 0 -> reduce; 9.4 better
  -- 9.0 is not below 9.4 - 0.5 -> reduce; 8.8 is
  T.eq(run(p, {10, 9.6, 9.4, 9.0, 8.8}), "01010")
  T.eq(p.best, 8.8)
end)

T.test("max modes", function()
  local p = ol.plateau{mode = "max", patience = 1, threshold = 0.1}
  -- rel: better if a > best * 1.1. best 1 -> 1.05 bad, 1.2 better, 1.3 bad, 1.31 bad -> reduce
  T.eq(p.best, -math.huge)
  T.eq(run(p, {1, 1.05, 1.2, 1.3, 1.31}), "00001")
  T.eq(p.best, 1.2)
  local q = ol.plateau{mode = "max", patience = 1, threshold = 0.1, threshold_mode = "abs"}
  T.eq(run(q, {1, 1.05, 1.2, 1.3, 1.31}), "00000", "abs: 1.2 and 1.31 beat their best by > 0.1, 1.3 does not")
  T.eq(q.best, 1.31)
end)

T.test("cooldown: bad epochs inside it do not count", function()
  local p = ol.plateau{patience = 1, cooldown = 2}
  -- e1 best; e2,e3 bad -> reduce at e3, cooldown 2; e4,e5 in cooldown (bad
  -- reset to 0); e6 bad 1; e7 bad 2 -> reduce
  T.eq(run(p, {1, 1, 1, 1, 1, 1, 1}), "0010001")
  T.eq(p.cooldown_counter, 2)
  -- improvement during cooldown still updates best
  local q = ol.plateau{patience = 0, cooldown = 1}
  T.eq(run(q, {3, 3, 2, 2, 2}), "01010")
  T.eq(q.best, 2)
end)

T.test("reduce, state and reset", function()
  local p = ol.plateau{factor = 0.5, min_lr = 0.1}
  T.eq(p:reduce(1), 0.5); T.eq(p:reduce(0.15), 0.1)
  p:update(3); p:update(4)
  local s = p:state()
  local q = ol.plateau{factor = 0.5}:load_state(s)
  T.eq(q.best, 3); T.eq(q.bad_epochs, 1); T.eq(q.epochs, 2)
  p:reset(); T.eq(p.best, math.huge); T.eq(p.bad_epochs, 0)
end)

T.test("NaN is never better", function()
  local p = ol.plateau{patience = 0}
  T.eq(run(p, {1, 0 / 0}), "01")
end)

T.test("bad options", function()
  T.raises("option 'mode' must be 'min' or 'max'", ol.plateau, {mode = "lowest"})
  T.raises("option 'threshold_mode' must be 'rel' or 'abs'", ol.plateau, {threshold_mode = "x"})
  T.raises("bad argument #1 to 'plateau' (option 'patience' must be >= 0, got -1)", ol.plateau, {patience = -1})
  T.raises("bad argument #1 to 'plateau' (option 'cooldown' must be an integer >= 0, got 1.5)",
           ol.plateau, {cooldown = 1.5})
  T.raises("bad argument #1 to 'plateau' (option 'factor' must be in (0, 1), got 1)", ol.plateau, {factor = 1})
  T.raises("bad argument #1 to 'plateau' (unknown option 'patient'; did you mean 'patience'?)",
           ol.plateau, {patient = 3})
  T.raises("number expected", function() ol.plateau{}:update("x") end)
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, err = pcall(function() local p = ol.plateau{mode = 1}; return p end)
  T.ok(not ok and err:find("test_plateau.lua:" .. line .. ":", 1, true), err)
end)

-- A net whose units are saturated / dead by construction.
local function net_with(act, wscale, bias)
  ol.seed(3)
  local net = ol.nn.mlp{sizes = {4, 16, 2}, activation = act, dtype = "f64"}
  local ps = net:parameters()
  ps[1].tensor:fill_(0):add_(ol.randn(16, 4, "f64"), wscale) -- weight 16 x 4
  ps[2].tensor:fill_(bias or 0)
  return net
end

T.test("diagnosis: deliberately saturated tanh net", function()
  local net = net_with("tanh", 40)
  local x = ol.randn(64, 4, "f64")
  local ids = {}
  for i = 1, 64 do ids[i] = i % 2 + 1 end
  net:loss(x, ol.tensor(ids, "f64"), "cross_entropy")
  net:backward()
  local p = ol.plateau{patience = 0}
  p:update(1, net, x)
  T.eq(p.diagnosis, nil, "no diagnosis before a reduction")
  T.eq(p:update(1, net, x), true)
  local d = p.diagnosis
  -- pre-activation std = 40 * |x| ~ 40 * 2: |u| > 2.65 on nearly every sample
  T.ok(d.saturated > 0.8, "saturated share " .. tostring(d.saturated))
  T.eq(d.tanh_sigmoid_units, 16)
  T.near(d.grad_norm, net:grads():norm(), 1e-12)
  local w1, w2 = net:parameters()[1].tensor:norm(), net:parameters()[3].tensor:norm()
  T.near(d.weight_norm, math.sqrt(w1 ^ 2 + w2 ^ 2), 1e-9, "weights only")
  T.ok(d.message:find("of the tanh/sigmoid outputs are saturated (the units pass back", 1, true)
       and d.message:find("and the weights are large", 1, true), d.message)
end)

T.test("diagnosis: healthy and dead-ReLU nets", function()
  local x = ol.randn(64, 4, "f64")
  local d = ol.plateau.diagnose(net_with("tanh", 0.1), x)
  T.eq(d.saturated, 0, "small weights: no saturation")
  T.ok(not d.message:find("saturated and", 1, true), d.message)
  d = ol.plateau.diagnose(net_with("sigmoid", 0.1), x)
  T.eq(d.saturated, 0)
  d = ol.plateau.diagnose(net_with("relu", 0.1, -100), x)
  T.eq(d.dead, 1, "bias -100: every ReLU is dead"); T.eq(d.relu_units, 16)
  T.ok(d.message:find("100% of ReLU units are dead", 1, true), d.message)
  d = ol.plateau.diagnose(net_with("relu", 0.1, 100), x)
  T.eq(d.dead, 0)
  -- hand-made: one sigmoid unit's bias +10 saturates exactly that unit
  local net = net_with("sigmoid", 0.01)
  net:parameters()[2].tensor[5] = 10
  d = ol.plateau.diagnose(net, x)
  T.eq(d.saturated_units, 1)
  -- without a batch: norms only
  d = ol.plateau.diagnose(net)
  T.eq(d.saturated, nil); T.ok(d.message:find("no batch given", 1, true), d.message)
end)

-- A 1-4-1 net on four one-feature samples, every hidden unit the same:
-- weight w, bias b, so each unit's pre-activations are w * x + b.
local X4 = {0.01, 0.02, 1, 2}
local function net4(act, w, b)
  local net = ol.nn.mlp{sizes = {1, 4, 1}, activation = act, dtype = "f64"}
  local ps = net:parameters()
  ps[1].tensor:fill_(w)
  ps[2].tensor:fill_(b)
  ps[3].tensor:fill_(0.5)
  ps[4].tensor:fill_(0)
  local x = ol.tensor({{X4[1]}, {X4[2]}, {X4[3]}, {X4[4]}}, "f64")
  net:evaluate(x, ol.tensor({{3}, {-3}, {3}, {-3}}, "f64"), "mse")
  return net, x
end

-- tanh'(u) = 1 - tanh(u)^2, tanh from exp (Lua 5.4 has no math.tanh)
local function dtanh(u)
  local t = (math.exp(2 * u) - 1) / (math.exp(2 * u) + 1)
  if u > 20 then t = 1 end
  return 1 - t * t
end

T.test("diagnosis carries the batch through silu, elu and softplus", function()
  -- x -> act -> tanh: act(-30), act(-1), act(0.5) stay inside |u| < 2.65 and
  -- act(25) = 25 saturates, so a quarter of the tanh outputs are saturated
  -- (half, were the activation skipped)
  local x = ol.tensor({{-30}, {-1}, {0.5}, {25}}, "f64")
  for _, a in ipairs{"silu", "elu", "softplus"} do
    local net = ol.nn.sequential{ol.nn.linear(1, 1), ol.nn[a](), ol.nn.linear(1, 1), ol.nn.tanh(),
                                 ol.nn.linear(1, 1), dtype = "f64"}
    net:params():fill_(1)
    for _, i in ipairs{2, 4, 6} do net:params()[i] = 0 end -- biases
    local d = ol.plateau.diagnose(net, x)
    T.eq(d.saturated, 0.25, a)
  end
end)

T.test("diagnosis on constructed nets: each told for what it is", function()
  -- Saturated tanh: weight 30, so u = 0.3, 0.6, 30, 60: every unit sits on
  -- its asymptote (|u| > 2.647) for half the samples; no unit does for 90%
  -- of them, yet half the gradient paths are cut. The units pass back
  -- mean(tanh'(u)) of the gradient.
  local net, x = net4("tanh", 30, 0)
  local d = ol.plateau.diagnose(net, x)
  T.eq(d.saturated, 0.5, "saturated share of (unit, sample) pairs")
  T.eq(d.saturated_units, 0, "no unit saturated on 90% of the samples")
  T.near(d.gain, (dtanh(0.3) + dtanh(0.6) + dtanh(30) + dtanh(60)) / 4, 1e-12)
  T.near(d.weight_scale, 30, 1e-12, "RMS row norm of the first layer: sqrt(4 * 30^2 / 4)")
  T.ok(d.message:find("^50%% of the tanh/sigmoid outputs are saturated") and d.message:find("weights are large", 1, true)
       and not d.message:find("healthy", 1, true), d.message)
  -- the same net without a batch: the large weights alone point at saturation
  d = ol.plateau.diagnose(net)
  T.ok(d.message:find("the weights are large (scale 30.0", 1, true)
       and d.message:find("saturated units are likely", 1, true), d.message)

  -- Dead ReLUs: bias -100, so u = x - 100 < 0 on every sample.
  net, x = net4("relu", 1, -100)
  d = ol.plateau.diagnose(net, x)
  T.eq(d.dead, 1); T.eq(d.dead_units, 4)
  T.ok(d.message:find("^100%% of ReLU units are dead"), d.message)

  -- Healthy tanh (weight 0.5: |u| <= 1, well inside the linear range) with
  -- a gradient that is not small: the lr is what is left to blame.
  net, x = net4("tanh", 0.5, 0)
  d = ol.plateau.diagnose(net, x)
  T.eq(d.saturated, 0); T.eq(d.saturated_units, 0)
  T.ok(d.grad_norm > 0.1, "the targets are far: a real gradient " .. d.grad_norm)
  T.ok(d.message:find("^units are healthy") and d.message:find("lr is probably too large", 1, true), d.message)

  -- The same healthy net at a point where the gradient vanishes.
  net:zero_grad()
  d = ol.plateau.diagnose(net, x)
  T.eq(d.grad_norm, 0)
  T.ok(d.message:find("^the gradient is tiny") and d.message:find("units are healthy", 1, true)
       and d.message:find("genuine minimum", 1, true), d.message)
end)

T.test("example: plateau.lua diagnoses its saturated start", function()
  local r = run_example("plateau.lua")
  T.ok(r.diagnosis and r.diagnosis.saturated > 0.5, "saturation found")
  T.ok(r.loss_normal < r.loss_saturated, "normal start ends lower")
end)

T.run()
