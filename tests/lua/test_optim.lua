-- ol.optim: the binding (options as live fields, the three step forms,
-- state, reset, schedules, errors), checked against values computed here
-- by hand or from the published rules in plain Lua arithmetic.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local function vec(t, dt) return ol.tensor(t, dt or "f64") end

-- f(w) = 1/2 sum a_i (w_i - c_i)^2 as a closure over a tensor w.
local A, C = {1, 4, 0.5}, {0.5, -1, 2}
local function quad_closure(w)
  return function()
    local x = w:totable()
    local f, g = 0, {}
    for i = 1, #x do
      f = f + 0.5 * A[i] * (x[i] - C[i]) ^ 2
      g[i] = A[i] * (x[i] - C[i])
    end
    return f, ol.tensor(g, w:dtype())
  end
end

local function rosen_closure(w)
  return function()
    local x, y = w[1], w[2]
    local a, b = 1 - x, y - x * x
    return a * a + 100 * b * b, ol.tensor({-2 * a - 400 * x * b, 200 * b}, w:dtype())
  end
end

T.test("sgd momentum trajectory matches torch's rule", function()
  for _, dt in ipairs{"f64", "f32"} do
    local w = vec({1, -2}, dt)
    local opt = ol.optim.sgd(w, {lr = 0.1, momentum = 0.9, dampening = 0.5})
    local ww, b = {1, -2}, {0, 0}
    local grads = {{1, 2}, {-1, 0.5}, {0.25, -3}}
    for t, g in ipairs(grads) do
      opt:step(ol.tensor(g, dt))
      for i = 1, 2 do
        b[i] = t == 1 and g[i] or 0.9 * b[i] + 0.5 * g[i]  -- torch: buffer = d at first
        ww[i] = ww[i] - 0.1 * b[i]
      end
      T.near_all(w, ww, dt == "f64" and 1e-14 or 1e-6, dt .. " step " .. t)
    end
    T.eq(opt.t, 3)
    T.eq(opt.dtype, dt)
  end
end)

T.test("options are live fields: a new lr applies at the next step", function()
  local w = vec({1})
  local opt = ol.optim.sgd(w, {lr = 0.5})
  opt:step(vec({1}))
  T.near(w[1], 0.5)
  opt.lr = 0.25
  T.eq(opt.lr, 0.25)
  opt:step(vec({1}))
  T.near(w[1], 0.25)
  opt.momentum = 0.5   -- buffer starts at d on the first step with momentum
  opt:step(vec({1}))
  T.near(w[1], 0.0)
  opt:step(vec({1}))   -- b = 0.5*1 + 1 = 1.5
  T.near(w[1], -0.375)
  T.eq(opt.nesterov, false)
  opt.nesterov = true
  T.eq(opt.nesterov, true)
  local o = opt:options()
  T.eq(o.lr, 0.25); T.eq(o.momentum, 0.5); T.eq(o.maximize, false)
end)

T.test("pairs and enums read and write as Lua values", function()
  local opt = ol.optim.rprop(vec({0, 0}))
  T.near_all(opt.etas, {0.5, 1.2})
  T.near_all(opt.step_sizes, {1e-6, 50})
  T.eq(opt.variant, "irprop-")
  opt.etas = {0.3, 1.5}
  T.near_all(opt.etas, {0.3, 1.5})
  opt.variant = "rprop+"
  T.eq(opt.variant, "rprop+")
  T.raises("option 'etas' must satisfy 0 < eta_minus < 1 < eta_plus", function() opt.etas = {0.3, 0.9} end)
  T.raises("option 'etas' must be a pair {a, b}", function() opt.etas = 3 end)
  T.raises("option 'variant' must be one of irprop-, rprop-, rprop+, irprop+, got 'x'",
           function() opt.variant = "x" end)
  T.near_all(opt.etas, {0.3, 1.5}) -- unchanged by the failed assignments
end)

T.test("bad options are errors naming the option, at construction and assignment", function()
  local w = vec({1, 2})
  T.raises("bad argument #2 to 'sgd' (option 'lr' must be >= 0, got -1)", ol.optim.sgd, w, {lr = -1})
  T.raises("bad argument #2 to 'sgd' (unknown option 'lrr'; did you mean 'lr'?)", ol.optim.sgd, w, {lrr = 1})
  T.raises("bad argument #2 to 'sgd' (option 'nesterov' must be a boolean, got number)",
           ol.optim.sgd, w, {nesterov = 1})
  T.raises("option 'nesterov' needs momentum > 0 and dampening = 0", ol.optim.sgd, w, {nesterov = true})
  T.raises("bad argument #2 to 'rmsprop' (option 'eps' must be > 0, got 0)", ol.optim.rmsprop, w, {eps = 0})
  T.raises("bad argument #2 to 'rmsprop' (option 'alpha' must be in [0, 1], got 2)",
           ol.optim.rmsprop, w, {alpha = 2})
  T.raises("option 'gain_min' must be <= gain_max, got 5 > 2", ol.optim.adaptive_gains, w,
           {gain_min = 5, gain_max = 2})
  -- the rules between options see every option of the table at once
  local g = ol.optim.adaptive_gains(w, {gain_min = 20, gain_max = 30})
  T.eq(g.gain_min, 20)
  T.raises("adaptive_gains: option 'gain_min' must be <= gain_max, got 20 > 15",
           function() g.gain_max = 15 end)
  T.eq(g.gain_max, 30)
  T.raises("adagrad: option 'lr_decay' must be >= 0, got -1",
           function() ol.optim.adagrad(w).lr_decay = -1 end)
  T.raises("adadelta: option 'rho' must be in [0, 1], got 1.5",
           function() ol.optim.adadelta(w).rho = 1.5 end)
  T.raises("unknown option 'lrr' for nag; did you mean 'lr'?", function() ol.optim.nag(w).lrr = 1 end)
  T.raises("bad argument #2 to 'yogi' (option 'initial_accumulator_value' must be >= 0, got -1)",
           ol.optim.yogi, w, {initial_accumulator_value = -1})
  T.raises("bad argument #2 to 'rmsprop' (option 'gain_min' must be <= gain_max, got 3 > 2)",
           ol.optim.rmsprop, w, {gains = true, gain_min = 3, gain_max = 2})
  T.raises("rmsprop: option 'gain_min' must be <= gain_max, got 0.1 > 0.05",
           function() ol.optim.rmsprop(w).gain_max = 0.05 end)
  T.raises("bad argument #2 to 'adabelief' (unknown option 'amsgrad'", ol.optim.adabelief, w, {amsgrad = true})
  T.raises("bad argument #2 to 'adam' (option 'bias_correction' must be a boolean, got number)",
           ol.optim.adam, w, {bias_correction = 0})
  T.raises("field 't' is read-only", function() ol.optim.nag(w).t = 3 end)
  T.raises("bad argument #1 to 'sgd' (tensor, model or list of groups expected, got number)", ol.optim.sgd, 3)
  T.raises("bad argument #2 to 'sgd' (options table expected, got string)", ol.optim.sgd, w, "x")
end)

T.test("a gradient of the other dtype or size is an error", function()
  local opt = ol.optim.sgd(vec({1, 2}, "f32"))
  T.raises("bad argument #1 to 'step' (grad is f64 but the optimizer works in f32)",
           function() opt:step(vec({1, 2}, "f64")) end)
  T.raises("grad has 3 elements, the parameters 2", function() opt:step(ol.tensor({1, 2, 3})) end)
  T.raises("closure or gradient tensor expected (the optimizer has no model)", function() opt:step() end)
  T.raises("closure must return loss, grad (a tensor)", function() opt:step(function() return 1 end) end)
  T.eq(opt.t, 0)
end)

T.test("opt:step(closure) returns the loss; nag evaluates at the lookahead point", function()
  local w = vec({1, 1})
  local opt = ol.optim.nag(w, {lr = 0.1, momentum = 0.5})
  local seen = {}
  local function closure()
    seen[#seen + 1] = w:totable()
    return 7, vec({1, -1})
  end
  T.eq(opt:step(closure), 7)
  -- p = 0.1*g = {0.1, -0.1}; w = {0.9, 1.1}
  T.near_all(w, {0.9, 1.1}, 1e-15)
  opt:step(closure)
  -- evaluated at w - 0.5 p = {0.85, 1.15}; p = {0.05 + 0.1, -0.15}; w = {0.75, 1.25}
  T.near_all(seen[2], {0.85, 1.15}, 1e-15)
  T.near_all(w, {0.75, 1.25}, 1e-15)
  T.near_all(opt:state().velocity, {0.15, -0.15}, 1e-15)
end)

T.test("nag without a closure keeps the lookahead point", function()
  -- same gradients as above: the params now hold w - momentum*p
  local w = vec({1, 1})
  local opt = ol.optim.nag(w, {lr = 0.1, momentum = 0.5})
  opt:step(vec({1, -1}))
  T.near_all(w, {0.9 - 0.05, 1.1 + 0.05}, 1e-15)
  opt:step(vec({1, -1}))
  T.near_all(w, {0.75 - 0.075, 1.25 + 0.075}, 1e-15)
end)

T.test("a model: opt:step() takes its gradients through net:grads()", function()
  -- any object with params() and grads() serves; a real model is below
  local p, g = vec({1, 2, 3}), vec({0.5, 0.5, -1})
  local net = {params = function() return p end, grads = function() return g end}
  local opt = ol.optim.sgd(net, {lr = 0.2})
  opt:step()
  T.near_all(p, {0.9, 1.9, 3.2}, 1e-15)
  g[1] = 1
  opt:step()
  T.near_all(p, {0.7, 1.8, 3.4}, 1e-15)
end)

T.test("a real model", function()
  local net = ol.nn.mlp{sizes = {2, 4, 1}, activation = "tanh", dtype = "f64"}
  local x = ol.tensor({{0, 1}, {1, 0}, {1, 1}, {0, 0}}, "f64")
  local y = ol.tensor({{1}, {1}, {0}, {0}}, "f64")
  local opt = ol.optim.adagrad(net, {lr = 0.1})
  local first
  for _ = 1, 50 do
    net:zero_grad()
    local l = net:loss(x, y, "mse")
    net:backward()
    first = first or l
    opt:step()
  end
  T.ok(net:loss(x, y, "mse") < first, "loss decreases")
  -- one sgd step moves net:params() by -lr * net:grads()
  local sgd = ol.optim.sgd(net, {lr = 0.1})
  net:zero_grad(); net:loss(x, y, "mse"); net:backward()
  local before, g = net:params():clone(), net:grads():clone()
  sgd:step()
  local p, b, gg = net:params():totable(), before:totable(), g:totable()
  for i = 1, #p do T.near(p[i], b[i] - 0.1 * gg[i], 1e-15) end
  -- net:evaluate as the closure
  local l = sgd:step(function() return net:evaluate(x, y, "mse") end)
  T.ok(type(l) == "number")
end)

T.test("state views, reset, t", function()
  local w = vec({0, 0})
  local opt = ol.optim.adagrad(w, {lr = 1, initial_accumulator_value = 0.5})
  opt:step(vec({1, 2}))
  local s = opt:state()
  T.near_all(s.sum, {1.5, 4.5}, 1e-15)
  T.near_all(w, {-1 / (math.sqrt(1.5) + 1e-10), -2 / (math.sqrt(4.5) + 1e-10)}, 1e-15)
  T.eq(opt.t, 1)
  T.eq(opt:reset(), opt)
  T.eq(opt.t, 0)
  T.near_all(s.sum, {0, 0})     -- the view sees the cleared state
  opt:step(vec({1, 1}))
  T.near_all(s.sum, {1.5, 1.5}, 1e-15)  -- initial value again after reset
  local names = {}
  for k in pairs(ol.optim.rmsprop(w):state()) do names[#names + 1] = k end
  table.sort(names)
  T.eq(table.concat(names, ","), "gains,grad_avg,momentum_buffer,prev_grad,square_avg")
end)

T.test("schedules: f(t) before each step, t from 1, through the checks", function()
  local w = vec({0})
  local opt = ol.optim.sgd(w)
  local ts = {}
  opt:schedule("lr", function(t) ts[#ts + 1] = t; return 0.1 * t end)
  for _ = 1, 3 do opt:step(vec({1})) end
  T.eq(table.concat(ts, ","), "1,2,3")
  T.near(w[1], -(0.1 + 0.2 + 0.3), 1e-15)
  T.near(opt.lr, 0.3, 1e-15)
  opt:schedule("lr", function() return -1 end)
  T.raises("schedule: sgd: option 'lr' must be >= 0, got -1", function() opt:step(vec({1})) end)
  opt:schedule("lr", nil)
  opt:step(vec({1}))
  T.raises("unknown option 'lrr' for sgd", function() opt:schedule("lrr", print) end)
  -- a pair field
  local r = ol.optim.rprop(vec({0}))
  r:schedule("etas", function(t) return {0.5, 1 + 0.1 * t} end)
  r:step(vec({1}))
  T.near_all(r.etas, {0.5, 1.1}, 1e-15)
end)

T.test("rmsprop gains, adam without bias correction, yogi, adabelief: first steps by hand", function()
  -- rmsprop{gains}: gains 1 at the first step (no previous gradient), then
  -- 1.05 when the sign is kept, 1.05*0.95 when it flips
  local w = vec({1})
  local r = ol.optim.rmsprop(w, {lr = 0.01, alpha = 0.5, gains = true})
  r:step(vec({2}))   -- v = 2: w = 1 - 0.01*2/sqrt(2)
  T.near(w[1], 1 - 0.02 / (math.sqrt(2) + 1e-8), 1e-15)
  r:step(vec({2}))   -- v = 3, gain 1.05
  T.near(w[1], 1 - 0.02 / (math.sqrt(2) + 1e-8) - 0.01 * 1.05 * 2 / (math.sqrt(3) + 1e-8), 1e-15)
  r:step(vec({-2}))  -- v = 3.5, gain 0.9975
  T.near(w[1], 1 - 0.02 / (math.sqrt(2) + 1e-8) - 0.021 / (math.sqrt(3) + 1e-8)
                 + 0.01 * 0.9975 * 2 / (math.sqrt(3.5) + 1e-8), 1e-15)
  T.near_all(r:state().gains, {0.9975}, 1e-15)
  T.near_all(r:state().prev_grad, {-2})
  -- adam{bias_correction = false}: m = 0.1 g, v = 0.001 g^2
  w = vec({1})
  ol.optim.adam(w, {lr = 0.1, bias_correction = false}):step(vec({2}))
  T.near(w[1], 1 - 0.1 * 0.2 / (math.sqrt(0.004) + 1e-8), 1e-15)
  -- yogi at its defaults: m = 0.2, v = 1e-6 + 0.001*4
  w = vec({1})
  local y = ol.optim.yogi(w)
  y:step(vec({2}))
  T.near(w[1], 1 - 0.01 * 0.2 / (math.sqrt(0.004001) + 1e-3), 1e-15)
  T.near_all(y:state().exp_avg_sq, {0.004001}, 1e-15)
  -- adabelief at its defaults: the first step is lr/beta1 against the sign of g
  w = vec({1})
  ol.optim.adabelief(w):step(vec({-3}))
  T.near(w[1], 1 + 1e-3 / 0.9, 1e-15)
end)

T.test("rmsprop, adadelta, adaptive_gains: first steps by hand", function()
  local w = vec({1})
  ol.optim.rmsprop(w, {lr = 0.01, alpha = 0.9}):step(vec({2}))
  -- v = 0.1*4 = 0.4: w = 1 - 0.01*2/(sqrt(0.4) + 1e-8)
  T.near(w[1], 1 - 0.02 / (math.sqrt(0.4) + 1e-8), 1e-15)
  w = vec({1})
  ol.optim.adadelta(w):step(vec({2}))
  -- E[g^2] = 0.4; dx = sqrt(1e-6)/sqrt(0.4 + 1e-6)*2
  T.near(w[1], 1 - math.sqrt(1e-6) / math.sqrt(0.4 + 1e-6) * 2, 1e-15)
  w = vec({1})
  local ag = ol.optim.adaptive_gains(w, {lr = 0.1, gain_up = 0.5, gain_max = 1.8})
  ag:step(vec({1})); ag:step(vec({1})); ag:step(vec({1})); ag:step(vec({-1}))
  -- gains 1, 1.5, 1.8 (clipped), then 1.8*0.95 = 1.71 on the flip
  T.near(w[1], 1 - 0.1 - 0.15 - 0.18 + 0.171, 1e-14)
  T.near_all(ag:state().gains, {1.71}, 1e-14)
end)

T.test("rprop variants on a sign change", function()
  -- gradients +1, +1, -1: irprop- holds still, rprop- steps back by the
  -- shrunk step, rprop+ undoes the last update.
  local want = {
    ["irprop-"] = -0.01 - 0.012,
    ["rprop-"] = -0.01 - 0.012 + 0.006,
    ["rprop+"] = -0.01,
    ["irprop+"] = -0.01 - 0.012,   -- no loss known: as irprop-
  }
  for variant, v in pairs(want) do
    local w = vec({0})
    local opt = ol.optim.rprop(w, {variant = variant})
    for _, g in ipairs{1, 1, -1} do opt:step(vec({g})) end
    T.near(w[1], v, 1e-15, variant)
  end
  -- irprop+ with a loss that went up: backtrack
  local w = vec({0})
  local opt = ol.optim.rprop(w, {variant = "irprop+"})
  for _, s in ipairs{{1, 1}, {2, 1}, {3, -1}} do
    opt:step(function() return s[1], vec({s[2]}) end)
  end
  T.near(w[1], -0.01, 1e-15)
end)

T.test("convergence on Rosenbrock and a quadratic, f32 and f64", function()
  local runs = {
    {"sgd", {lr = 1e-3, momentum = 0.9}, 3000, 1e-4},
    {"nag", {lr = 1e-3, momentum = 0.9}, 3000, 1e-4},
    {"rprop", {}, 2000, 1e-3},
    {"rmsprop", {lr = 1e-3, momentum = 0.9, centered = true}, 4000, 1e-3},
    {"adaptive_gains", {lr = 1e-3, momentum = 0.9}, 3000, 1e-4},
  }
  for _, r in ipairs(runs) do
    for _, dt in ipairs{"f64", "f32"} do
      local w = vec({-1.5, 2}, dt)
      local opt = ol.optim[r[1]](w, r[2])
      local f = rosen_closure(w)
      for _ = 1, r[3] do opt:step(f) end
      local loss = f()
      T.ok(loss < r[4] * (dt == "f32" and 100 or 1),
           string.format("%s %s: Rosenbrock loss %g", r[1], dt, loss))
    end
  end
  for _, name in ipairs{"adagrad", "adadelta"} do
    local w = vec({1.5, 0.25, -0.75})
    local opt = ol.optim[name](w, name == "adagrad" and {lr = 0.5} or {lr = 0.1, eps = 1e-4})
    local f = quad_closure(w)
    for _ = 1, 1000 do opt:step(f) end
    T.ok(f() < 1e-6, name .. " on the quadratic: " .. f())
  end
end)

T.test("every registered optimizer builds with defaults and steps in f32 and f64", function()
  for _, name in ipairs(ol.optim.list()) do
    for _, dt in ipairs{"f32", "f64"} do
      local w = vec({0.5, -0.5}, dt)
      local opt = ol.optim[name](w)
      T.eq(opt.name, name)
      opt:step(function() return 0, w:clone() end)
      T.eq(opt.t, 1)
      T.ok(tostring(opt):find(name, 1, true))
    end
  end
end)

T.test("schedule one element of a pair, and callable schedule objects", function()
  local w = ol.zeros(3, "f64")
  local opt = ol.optim.adam(w, {lr = 0.1})
  opt:schedule("betas[2]", function(t) return 0.9 + 0.01 * t end)
  opt:schedule("lr", setmetatable({}, {__call = function(_, t) return 0.5 / t end}))
  opt:step(ol.ones(3, "f64"))
  T.eq(opt.betas[1], 0.9, "the other element is kept")
  T.near(opt.betas[2], 0.91, 1e-15)
  T.eq(opt.lr, 0.5)
  -- Adam's first step: m/(1-b1) = g = 1, v/(1-b2) = g^2 = 1, so w = -lr/(1 + eps)
  T.near(w[1], -0.5 / (1 + 1e-8), 1e-15)
  opt:step(ol.ones(3, "f64"))
  T.near(opt.betas[2], 0.92, 1e-15)
  T.eq(opt.lr, 0.25)
  T.raises("unknown option 'betas[3]'", opt.schedule, opt, "betas[3]", print)
  T.raises("unknown option 'lr[1]'", opt.schedule, opt, "lr[1]", print)
  T.raises("function or callable expected", opt.schedule, opt, "lr", 5)
  opt:schedule("betas[1]", function() return 1.5 end)
  T.raises("betas", opt.step, opt, ol.ones(3, "f64"))
end)

T.test("list names every optimizer and prints their defaults; defaults(name)", function()
  local names = ol.optim.list()
  local want = {"sgd", "nag", "adaptive_gains", "rprop", "rmsprop", "adagrad", "adadelta", "adam",
                "adamw", "nadam", "radam", "adamax", "lion", "muon"}
  local have = {}
  for _, n in ipairs(names) do have[n] = true end
  for _, n in ipairs(want) do T.ok(have[n], n .. " listed") end
  local text = tostring(names)
  T.ok(text:find("sgd%s+lr=0.001, momentum=0, dampening=0, nesterov=false, weight_decay=0, maximize=false"), text)
  T.ok(text:find("rprop%s+lr=0.01, etas={0.5, 1.2}, step_sizes={1e%-06, 50}, variant=irprop%-"), text)
  local d = ol.optim.defaults("adamw")
  T.eq(d.lr, 1e-3) T.eq(d.weight_decay, 1e-2) T.eq(d.betas[1], 0.9) T.eq(d.betas[2], 0.999)
  T.eq(d.amsgrad, false)
  T.eq(ol.optim.defaults("rprop").variant, "irprop-")
  T.raises("unknown optimizer 'adamm'", ol.optim.defaults, "adamm")
end)

T.run()
