-- ol.train's gradient clipping (clip_grad_norm, clip_grad_value), applied
-- in C before each step: checked against the same steps taken by hand in
-- Lua, with the clipping written out from torch.nn.utils' definitions.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- A small labelled set: 3 classes of 2-D points, f64 for exact comparisons.
local function tiny()
  local x = ol.tensor({{0.5, -1.0}, {1.5, 0.25}, {-0.75, 0.5}, {0.1, 0.9},
                       {-1.2, -0.3}, {0.8, -0.6}}, "f64")
  local y = ol.tensor({1, 2, 3, 1, 2, 3}, "f64")
  return ol.data.dataset(x, y), x, y
end

-- Two equal nets, sgd on the first through ol.train (full batch, dataset
-- order), and the grad norms ol.train reported at each step.
local function run(opts, steps)
  local ds = tiny()
  ol.seed(5)
  local net = ol.nn.mlp{sizes = {2, 5, 3}, activation = "tanh", dtype = "f64"}
  local ref = ol.nn.mlp{sizes = {2, 5, 3}, activation = "tanh", dtype = "f64"}
  ref:params():copy_(net:params())
  local reported = {}
  local cfg = {model = net, optimizer = ol.optim.sgd(net, {lr = 0.5}), epochs = steps,
               progress = false, every = 1,
               data = ol.data.loader(ds, {batch_size = #ds, shuffle = false, dtype = "f64"}),
               on_step = function(s) reported[s.step] = s.grad_norm end}
  for k, v in pairs(opts) do cfg[k] = v end
  ol.train(cfg)
  return net, ref, reported
end

T.test("clip_grad_norm: the gradient scaled to the norm when above it, the norm before reported", function()
  local _, x, y = tiny()
  local MAX = 0.05 -- below the gradient's norm at every step here, so every step clips
  local net, ref, reported = run({clip_grad_norm = MAX}, 4)
  local clipped = 0
  for k = 1, 4 do
    local _, g = ref:evaluate(x, y, "cross_entropy")
    local ss = 0
    for i = 1, g:numel() do ss = ss + g:get(i) ^ 2 end
    local n = math.sqrt(ss)
    T.near(reported[k], n, 1e-12, "step " .. k .. ": grad_norm is the norm before clipping")
    local coef = MAX / (n + 1e-6)
    if coef < 1 then clipped = clipped + 1 else coef = 1 end
    local p = ref:params()
    for i = 1, p:numel() do p:set(i, p:get(i) - 0.5 * coef * g:get(i)) end
  end
  T.eq(clipped, 4, "every step clipped")
  T.ok((net:params() - ref:params()):abs():max() < 1e-14, "params differ from the hand-made steps")
end)

T.test("clip_grad_norm above the gradient's norm changes nothing", function()
  local a = run({clip_grad_norm = 1e6}, 3)
  local b = run({}, 3)
  T.ok((a:params() - b:params()):abs():max() == 0, "a loose clip must not touch the gradient")
end)

T.test("clip_grad_value: every element clamped to [-v, v]", function()
  local _, x, y = tiny()
  local V = 0.01
  local net, ref = run({clip_grad_value = V}, 3)
  local hit = 0
  for _ = 1, 3 do
    local _, g = ref:evaluate(x, y, "cross_entropy")
    local p = ref:params()
    for i = 1, p:numel() do
      local gi = g:get(i)
      if gi > V then gi = V; hit = hit + 1 elseif gi < -V then gi = -V; hit = hit + 1 end
      p:set(i, p:get(i) - 0.5 * gi)
    end
  end
  T.ok(hit > 0, "some element was clamped")
  T.ok((net:params() - ref:params()):abs():max() < 1e-14, "params differ from the hand-made steps")
end)

T.test("bad clipping options are errors before any step", function()
  local ds = tiny()
  local net = ol.nn.mlp{sizes = {2, 5, 3}, dtype = "f64"}
  local before = net:params():clone()
  local function train(opts)
    local cfg = {model = net, optimizer = ol.optim.sgd(net, {lr = 0.5}), progress = false,
                 data = ol.data.loader(ds, {batch_size = #ds, dtype = "f64"})}
    for k, v in pairs(opts) do cfg[k] = v end
    return ol.train(cfg)
  end
  T.raises("option 'clip_grad_norm' must be", function() train{clip_grad_norm = -1} end)
  T.raises("option 'clip_grad_norm' must be", function() train{clip_grad_norm = 0} end)
  T.raises("option 'clip_grad_value' must be", function() train{clip_grad_value = 0 / 0} end)
  T.raises("give clip_grad_norm or clip_grad_value, not both",
           function() train{clip_grad_norm = 1, clip_grad_value = 1} end)
  T.raises("unknown option 'clip_grad'", function() train{clip_grad = 1} end)
  T.ok((net:params() - before):abs():max() == 0, "nothing trained")
end)

T.run()
