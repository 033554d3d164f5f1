-- ol.clip: gradient clipping against hand-computed values of torch's
-- clip_grad_norm_ (coef = max_norm / (total + 1e-6), applied when < 1) and
-- clip_grad_value_.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = optlua or require("optlua")

local run_example = T.run_example

T.test("global 2-norm over a list, scaled in place, norm before clipping returned", function()
  local a, b = ol.tensor({3, 4}, "f64"), ol.tensor({{12}}, "f64")
  local total = ol.clip.grad_norm({a, b}, 6.5)
  T.near(total, 13, 1e-12, "sqrt(9 + 16 + 144)")
  local c = 6.5 / (13 + 1e-6)
  T.near_all(a, {3 * c, 4 * c}, 1e-12)
  T.near_all(b, {{12 * c}}, 1e-12)
  -- a second call with the same bound scales again, a hair: the 1e-6 makes
  -- coef = 6.5 / (6.5 - 5e-7 + 1e-6) < 1 (as torch does)
  local n2 = 13 * c
  T.near(ol.clip.grad_norm({a, b}, 6.5), n2, 1e-12)
  local c2 = 6.5 / (n2 + 1e-6)
  T.ok(c2 < 1)
  T.near_all(a, {3 * c * c2, 4 * c * c2}, 1e-12)
  -- a bound above the norm leaves the gradients alone
  T.near(ol.clip.grad_norm({a, b}, 7), n2 * c2, 1e-12)
  T.near_all(a, {3 * c * c2, 4 * c * c2}, 0)
end)

T.test("other norms and a single tensor", function()
  local g = ol.tensor({-3, 4, 12})
  T.near(ol.clip.grad_norm(g, 100, 1), 19, 1e-5, "1-norm")
  T.near_all(g, {-3, 4, 12}, 0, "not clipped")
  T.near(ol.clip.grad_norm(g, 6, "inf"), 12, 1e-5, "max-norm")
  local c = 6 / (12 + 1e-6)
  T.near_all(g, {-3 * c, 4 * c, 12 * c}, 1e-5)
  local h = ol.tensor({1, 1, 1, 1}, "f64")
  T.near(ol.clip.grad_norm(h, 1, 3), 4 ^ (1 / 3), 1e-12, "3-norm")
  T.near_all(h, {1 / (4 ^ (1 / 3) + 1e-6), 1 / (4 ^ (1 / 3) + 1e-6), 1 / (4 ^ (1 / 3) + 1e-6),
                 1 / (4 ^ (1 / 3) + 1e-6)}, 1e-12)
  local z = ol.zeros(3)
  T.eq(ol.clip.grad_norm(z, 1), 0, "zero gradient")
end)

T.test("grad_value clamps in place", function()
  local a, b = ol.tensor({-3, 0.5, 2}), ol.tensor({{-0.1, 7}})
  ol.clip.grad_value({a, b}, 1)
  T.near_all(a, {-1, 0.5, 1}, 1e-7)
  T.near_all(b, {{-0.1, 1}}, 1e-7)
end)

T.test("bad arguments", function()
  T.raises("bad argument #1 to 'grad_norm' (tensor, list of tensors or model expected, got string)",
           ol.clip.grad_norm, "x", 1)
  T.raises("tensor expected at [2]", ol.clip.grad_norm, {ol.zeros(2), 3}, 1)
  T.raises("bad argument #2 to 'grad_norm' (max_norm must be a number >= 0", ol.clip.grad_norm,
           ol.zeros(2), -1)
  T.raises("bad argument #3 to 'grad_norm'", ol.clip.grad_norm, ol.zeros(2), 1, 0)
  T.raises("bad argument #2 to 'grad_value'", ol.clip.grad_value, ol.zeros(2), "big")
  T.raises("empty list", ol.clip.grad_value, {}, 1)
end)

T.test("a model's gradients", function()
  ol.seed(1)
  local net = ol.nn.mlp{sizes = {3, 4, 2}, activation = "tanh", dtype = "f64"}
  local x = ol.randn(5, 3, "f64")
  net:loss(x, ol.tensor({1, 2, 1, 2, 1}, "f64"), "cross_entropy")
  net:backward()
  local before = net:grads():norm()
  T.near(ol.clip.grad_norm(net, before / 2), before, 1e-12)
  T.near(net:grads():norm(), before / 2 * before / (before + 1e-6), 1e-12)
end)

T.test("example: gain_clipping.lua runs", function()
  local r = run_example("gain_clipping.lua")
  T.ok(r.tight > 0 and r.wide > 0 and r.scheduled > 0)
end)

T.run()
