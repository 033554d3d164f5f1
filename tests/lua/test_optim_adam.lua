-- ol.optim's adam family, lion and muon from Lua: trajectories against the
-- published rules written here in plain Lua arithmetic, options as live
-- fields (betas as a pair), state names, errors, and muon on a model
-- (its matrices in group 1, use = "muon"; the rest in group 2, use =
-- "adamw", from adamw's defaults and the options under `fallback`).
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local W0 = {1.5, 0.25, -0.75}
local A, C = {1, 4, 0.5}, {0.5, -1, 2}
local function grad_of(x, t)
  local g = {}
  for i = 1, #x do g[i] = A[i] * (x[i] - C[i]) + 0.3 * math.sin(1.7 * t + i) end
  return g
end
local function sign(x) return x > 0 and 1 or (x < 0 and -1 or 0) end

-- Reference rules: step(h, s, w, g, t) updates w (a Lua array) in place.
local ref = {}
function ref.adam(h, s, w, g, t)
  for i = 1, #w do
    local gi = g[i] + (h.decoupled and 0 or h.weight_decay * w[i])
    if h.decoupled then w[i] = w[i] - h.lr * h.weight_decay * w[i] end
    s.m[i] = h.b1 * s.m[i] + (1 - h.b1) * gi
    s.v[i] = h.b2 * s.v[i] + (1 - h.b2) * gi * gi
    s.vmax[i] = math.max(s.vmax[i], s.v[i])
    local vhat = (h.amsgrad and s.vmax[i] or s.v[i]) / (1 - h.b2 ^ t)
    w[i] = w[i] - h.lr * (s.m[i] / (1 - h.b1 ^ t)) / (math.sqrt(vhat) + h.eps)
  end
end
function ref.nadam(h, s, w, g, t)
  local function mu(k) return h.b1 * (1 - 0.5 * 0.96 ^ (k * h.psi)) end
  local p = 1
  for k = 1, t do p = p * mu(k) end
  for i = 1, #w do
    local gi = g[i] + h.weight_decay * w[i]
    s.m[i] = h.b1 * s.m[i] + (1 - h.b1) * gi
    s.v[i] = h.b2 * s.v[i] + (1 - h.b2) * gi * gi
    local mhat = mu(t + 1) * s.m[i] / (1 - p * mu(t + 1)) + (1 - mu(t)) * gi / (1 - p)
    w[i] = w[i] - h.lr * mhat / (math.sqrt(s.v[i] / (1 - h.b2 ^ t)) + h.eps)
  end
end
function ref.radam(h, s, w, g, t)
  local rinf = 2 / (1 - h.b2) - 1
  local rt = rinf - 2 * t * h.b2 ^ t / (1 - h.b2 ^ t)
  for i = 1, #w do
    local gi = g[i] + h.weight_decay * w[i]
    s.m[i] = h.b1 * s.m[i] + (1 - h.b1) * gi
    s.v[i] = h.b2 * s.v[i] + (1 - h.b2) * gi * gi
    local mhat = s.m[i] / (1 - h.b1 ^ t)
    if rt > 5 then
      local l = math.sqrt(1 - h.b2 ^ t) / (math.sqrt(s.v[i]) + h.eps)
      local r = math.sqrt((rt - 4) * (rt - 2) * rinf / ((rinf - 4) * (rinf - 2) * rt))
      w[i] = w[i] - h.lr * mhat * r * l
    else
      w[i] = w[i] - h.lr * mhat
    end
  end
end
function ref.adamax(h, s, w, g, t)
  for i = 1, #w do
    local gi = g[i] + h.weight_decay * w[i]
    s.m[i] = h.b1 * s.m[i] + (1 - h.b1) * gi
    s.v[i] = math.max(h.b2 * s.v[i], math.abs(gi) + h.eps)
    w[i] = w[i] - h.lr / (1 - h.b1 ^ t) * s.m[i] / s.v[i]
  end
end
function ref.lion(h, s, w, g, t)
  for i = 1, #w do
    local u = sign(h.b1 * s.m[i] + (1 - h.b1) * g[i])
    w[i] = w[i] * (1 - h.lr * h.weight_decay) - h.lr * u
    s.m[i] = h.b2 * s.m[i] + (1 - h.b2) * g[i]
  end
end

local cases = {
  {name = "adam", rule = ref.adam, opts = {lr = 0.05, betas = {0.8, 0.9}, eps = 0.1,
                                           weight_decay = 0.2, amsgrad = true}},
  {name = "adamw", rule = ref.adam, decoupled = true,
   opts = {lr = 0.05, weight_decay = 0.5, amsgrad = false}},
  {name = "nadam", rule = ref.nadam, opts = {lr = 0.05, momentum_decay = 0.3, eps = 0.1,
                                             weight_decay = 0.1}},
  {name = "radam", rule = ref.radam, opts = {lr = 0.05, betas = {0.8, 0.95}, eps = 0.1,
                                             weight_decay = 0.1}},
  {name = "adamax", rule = ref.adamax, opts = {lr = 0.05, eps = 0.5, weight_decay = 0.1}},
  {name = "lion", rule = ref.lion, opts = {lr = 0.3, betas = {0.1, 0.99}, weight_decay = 0.3}},
}

for _, c in ipairs(cases) do
  T.test(c.name .. " trajectory follows its rule (f64 and f32), live lr", function()
    for _, dt in ipairs{"f64", "f32"} do
      local w = ol.tensor(W0, dt)
      local opt = ol.optim[c.name](w, c.opts)
      local o = opt:options()
      local h = {lr = o.lr, b1 = o.betas[1], b2 = o.betas[2], eps = o.eps or 0,
                 weight_decay = o.weight_decay, amsgrad = o.amsgrad, psi = o.momentum_decay,
                 decoupled = c.decoupled}
      local s = {m = {0, 0, 0}, v = {0, 0, 0}, vmax = {0, 0, 0}}
      local x = {table.unpack(W0)}
      for t = 1, 10 do
        if t == 6 then opt.lr = 0.01; h.lr = 0.01 end
        local g = grad_of(w:totable(), t)
        c.rule(h, s, x, grad_of(x, t), t)
        opt:step(ol.tensor(g, dt))
        T.near_all(w, x, dt == "f64" and 1e-12 or 1e-5, c.name .. " " .. dt .. " step " .. t)
      end
      T.eq(opt.t, 10)
      T.ok(math.abs(x[1] - W0[1]) > 1e-2, "the steps move w")
    end
  end)
end

T.test("torch's defaults", function()
  local w = ol.tensor({0})
  local function d(name) return ol.optim[name](w):options() end
  T.eq(d("adam").lr, 1e-3); T.eq(d("adam").weight_decay, 0); T.eq(d("adam").amsgrad, false)
  T.eq(d("adamw").weight_decay, 1e-2)
  T.eq(d("nadam").lr, 2e-3); T.eq(d("nadam").momentum_decay, 4e-3)
  T.eq(d("radam").lr, 1e-3); T.eq(d("adamax").lr, 2e-3)
  T.eq(d("lion").lr, 1e-4); T.eq(d("lion").betas[2], 0.99)
  T.eq(d("adam").betas[1], 0.9); T.eq(d("adam").betas[2], 0.999); T.eq(d("adam").eps, 1e-8)
  local m = ol.optim.defaults("muon")
  T.eq(m.lr, 0.02); T.eq(m.momentum, 0.95); T.eq(m.nesterov, true); T.eq(m.ns_steps, 5)
  T.eq(m.weight_decay, 0); T.eq(m.use, "muon")
  T.eq(ol.optim.muon(ol.zeros(2, 2)):options().lr, 0.02, "a matrix: one muon group")
  -- a vector is one adamw group, from adamw's defaults (not muon's)
  local v = d("muon")
  T.eq(v.use, "adamw"); T.eq(v.lr, 1e-3); T.eq(v.weight_decay, 1e-2)
  T.eq(v.betas[1], 0.9); T.eq(v.betas[2], 0.999); T.eq(v.eps, 1e-8); T.eq(v.amsgrad, false)
end)

T.test("betas is a live pair; bad values name the option", function()
  local w = ol.tensor({1, 2})
  local opt = ol.optim.adam(w, {betas = {0.5, 0.6}})
  T.eq(opt.betas[1], 0.5)
  opt.betas = {0.8, 0.99}
  T.eq(opt.betas[2], 0.99)
  T.raises("option 'betas' element 2 must be in [0, 1), got 1", function() opt.betas = {0.9, 1} end)
  T.eq(opt.betas[2], 0.99)
  T.raises("bad argument #2 to 'adamw' (option 'eps' must be > 0, got 0)",
           function() ol.optim.adamw(w, {eps = 0}) end)
  T.raises("bad argument #2 to 'lion' (option 'lr' must be >= 0, got -1)",
           function() ol.optim.lion(w, {lr = -1}) end)
  T.raises("bad argument #2 to 'nadam' (unknown option 'momentum'; did you mean 'momentum_decay'?)",
           function() ol.optim.nadam(w, {momentum = 0.9}) end)
  T.raises("option 'ns_steps' must be an integer",
           function() ol.optim.muon(ol.zeros(2, 2), {ns_steps = 1.5}) end)
  T.raises("bad argument #2 to 'muon' (unknown option 'lrr'; did you mean 'lr'?)",
           function() ol.optim.muon(w, {fallback = {lrr = 1}}) end)
  T.raises("bad argument #2 to 'muon' (option 'fallback' must be a table of adamw options)",
           function() ol.optim.muon(w, {fallback = 0.1}) end)
  T.raises("bad argument #2 to 'muon' (option 'fallback' holds the options of the adamw group; "
           .. "'use' is not one of them)", function() ol.optim.muon(w, {fallback = {use = "muon"}}) end)
  T.raises("bad argument #2 to 'adam' (unknown option 'fallback' (only muon has a fallback))",
           function() ol.optim.adam(w, {fallback = {lr = 1}}) end)
end)

T.test("state names and reset", function()
  local w = ol.tensor({1, 2}, "f64")
  local opt = ol.optim.adam(w, {amsgrad = true})
  opt:step(ol.tensor({0.5, -1}, "f64"))
  local s = opt:state()
  T.near_all(s.exp_avg, {0.05, -0.1}, 1e-15)
  T.near_all(s.exp_avg_sq, {0.00025, 0.001}, 1e-15)
  T.near_all(s.max_exp_avg_sq, {0.00025, 0.001}, 1e-15)
  opt:reset()
  T.eq(opt.t, 0)
  T.near_all(opt:state().exp_avg, {0, 0}, 0)
  T.ok(ol.optim.adamax(w):state().exp_inf)
  T.ok(ol.optim.lion(w):state().exp_avg)
  T.ok(ol.optim.muon(w):state().momentum_buffer)
end)

T.test("closure form on Rosenbrock: adam gets close", function()
  local w = ol.tensor({-1.5, 2}, "f64")
  local opt = ol.optim.adam(w, {lr = 0.02})
  local function f()
    local x, y = w[1], w[2]
    local a, b = 1 - x, y - x * x
    return a * a + 100 * b * b, ol.tensor({-2 * a - 400 * x * b, 200 * b}, "f64")
  end
  local loss
  for _ = 1, 5000 do loss = opt:step(f) end
  T.ok(loss < 1e-4, "loss " .. loss)
  T.near(w[1], 1, 2e-2)
end)

-- The quintic on a rank-1 matrix: u/|u| has the one singular value
-- s0 = |u|/(|u| + 1e-7), and NS maps it through p five times.
local function p5(s)
  for _ = 1, 5 do s = 3.4445 * s - 4.7750 * s ^ 3 + 2.0315 * s ^ 5 end
  return s
end

T.test("muon on a 2-D tensor: one step is -lr*scale*p^5(1)*u/|u| (both orientations)", function()
  for _, shape in ipairs{{1, 4}, {4, 1}} do
    for _, dt in ipairs{"f64", "f32"} do
      local g = {0.3, -1.2, 0.5, 2.0}
      local w = ol.zeros(shape[1], shape[2], dt)
      local opt = ol.optim.muon(w, {lr = 0.1, momentum = 0.5, nesterov = true})
      opt:step(ol.tensor(g, dt):view(shape[1], shape[2]))
      -- b = g, u = g + 0.5 g = 1.5 g
      local norm = 0
      for i = 1, 4 do norm = norm + (1.5 * g[i]) ^ 2 end
      norm = math.sqrt(norm)
      local s = p5(norm / (norm + 1e-7))
      local scale = math.sqrt(math.max(1, shape[1] / shape[2]))
      local want = {}
      for i = 1, 4 do want[i] = -0.1 * scale * s * 1.5 * g[i] / norm end
      T.near_all(w:view(4), want, dt == "f64" and 1e-12 or 1e-6, dt)
    end
  end
end)

T.test("muon on a model: weights by Newton-Schulz (group 1), biases by adamw (group 2)", function()
  ol.seed(7)
  local net = ol.nn.mlp{sizes = {3, 4, 2}, activation = "tanh", dtype = "f64"}
  local x = ol.randn(5, 3, "f64")
  local y = ol.randn(5, 2, "f64")
  local before = {}
  for _, p in ipairs(net:parameters()) do before[p.name] = p.tensor:clone() end
  local opt = ol.optim.muon(net, {lr = 0.05, fallback = {lr = 0.1, weight_decay = 0}})
  local g1, g2 = opt.groups[1], opt.groups[2]
  T.eq(#opt.groups, 2)
  T.eq(g1.use, "muon"); T.eq(g1.lr, 0.05); T.eq(g1.weight_decay, 0)
  T.eq(table.concat(g1.params, " "), "1.weight 3.weight")
  T.eq(g2.use, "adamw"); T.eq(g2.lr, 0.1); T.eq(g2.weight_decay, 0)
  T.eq(table.concat(g2.params, " "), "1.bias 3.bias")
  T.eq(g2.momentum, 0.95, "group 2 holds muon's other options at their defaults")
  T.raises("option 'lr' differs between the groups", function() return opt.lr end)
  T.eq(opt.momentum, 0.95)
  net:zero_grad()
  net:evaluate(x, y, "mse")
  local grads = {}
  for _, p in ipairs(net:parameters()) do grads[p.name] = p.grad:clone() end
  opt:step()
  for _, p in ipairs(net:parameters()) do
    local d = (p.tensor - before[p.name]):totable()
    local g = grads[p.name]:totable()
    if p.tensor:dim() == 1 then
      -- adamw's first step: -lr*g/(|g| + eps') with eps' = 1e-8*sqrt(1-b2) ~ 0
      for i = 1, #d do T.near(d[i], -0.1 * sign(g[i]), 1e-6, p.name) end
    else
      -- O = -d/(lr*scale) has singular values in the quintic's band: check
      -- through the trace of OᵀO, the sum of their squares
      local r, c = p.tensor:size(1), p.tensor:size(2)
      local scale = 0.05 * math.sqrt(math.max(1, r / c))
      local ss = 0
      for i = 1, r do for j = 1, c do ss = ss + (d[i][j] / scale) ^ 2 end end
      local k = math.min(r, c)
      T.ok(ss > 0.68 ^ 2 * k and ss < 1.21 ^ 2 * k, p.name .. ": sum of s^2 = " .. ss)
    end
  end
  -- with group 2's lr at 0 the biases stay put, and the weights move
  opt.groups[2].lr = 0
  T.eq(opt.groups[1].lr, 0.05)
  local b = net:parameters()[2].tensor:clone()
  local wt = net:parameters()[1].tensor:clone()
  net:zero_grad(); net:evaluate(x, y, "mse"); opt:step()
  T.near_all(net:parameters()[2].tensor, b:totable(), 0)
  T.ok((net:parameters()[1].tensor - wt):abs():max() > 1e-4, "the weights moved")
end)

T.test("muon with explicit groups: an adamw group starts from adamw's defaults and fallback", function()
  local net = ol.nn.mlp{sizes = {3, 4, 2}, dtype = "f64"}
  local opt = ol.optim.muon({
    {params = net:select("weight$")},
    {params = net:select("bias$"), use = "adamw", betas = {0.8, 0.9}},
  }, {lr = 0.05, momentum = 0.9, fallback = {weight_decay = 0.5}})
  local g1, g2 = opt.groups[1], opt.groups[2]
  T.eq(g1.lr, 0.05); T.eq(g1.momentum, 0.9); T.eq(g1.use, "muon")
  -- not the second argument's lr and momentum: adamw's lr, fallback's weight_decay, its own betas
  T.eq(g2.lr, 1e-3); T.eq(g2.momentum, 0.95); T.eq(g2.weight_decay, 0.5)
  T.eq(g2.betas[1], 0.8); T.eq(g2.betas[2], 0.9); T.eq(g2.use, "adamw")
  T.raises('bad argument #1 to \'muon\' (group 2: parameter \'1.bias\': the parameter at offset 12 (4 elements) is not a matrix: muon orthogonalises 2-D weights; put it in a group with use = "adamw")', function()
    ol.optim.muon({{params = net:select("weight$")}, {params = net:select("bias$"), use = "muon"}})
  end)
  T.eq(ol.optim.kind("muon"), "tensor")
end)

T.test("muon trains a small mlp", function()
  ol.seed(3)
  local net = ol.nn.mlp{sizes = {2, 16, 1}, activation = "tanh", dtype = "f32"}
  local x = ol.randn(64, 2)
  local xs = x:totable()
  local ys = {}
  for i = 1, 64 do ys[i] = {xs[i][1] * xs[i][2]} end
  local y = ol.tensor(ys)
  local opt = ol.optim.muon(net, {lr = 0.02, fallback = {lr = 0.01}})
  local first, last
  for t = 1, 300 do
    net:zero_grad()
    local loss = net:evaluate(x, y, "mse")
    if t == 1 then first = loss end
    last = loss
    opt:step()
  end
  T.ok(last < 0.3 * first, string.format("loss %g -> %g", first, last))
end)

T.run()
