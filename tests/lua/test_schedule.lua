-- ol.schedule: values against PyTorch's schedulers, written out here from
-- their documented closed forms / recursions (torch.optim.lr_scheduler), in
-- torch's own terms: torch value at last_epoch e is our f(e + 1).
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = optlua or require("optlua")
local S = ol.schedule

local function curve(f, n) local v = {} for t = 1, n do v[t] = f(t) end return v end
local function same(got, want, atol, what)
  T.eq(#got, #want, what .. ": length")
  for i = 1, #want do T.near(got[i], want[i], atol or 1e-12, what .. " at t=" .. i, 1e-12) end
end

local run_example = T.run_example

T.test("constant", function()
  T.eq(S.constant(0.3)(1), 0.3)
  T.eq(S.constant{value = 2}(1000), 2)
end)

T.test("step = StepLR(step_size=3, gamma=0.5)", function()
  -- StepLR recursion: lr is multiplied by gamma when epoch % step_size == 0 (epoch > 0)
  local want, lr = {}, 0.2
  for e = 0, 10 do
    if e > 0 and e % 3 == 0 then lr = lr * 0.5 end
    want[e + 1] = lr
  end
  same(curve(S.step{from = 0.2, every = 3, gamma = 0.5}, 11), want, 1e-15, "step")
  -- hand values: t = 1..3 -> 0.2, t = 4 -> 0.1, t = 7 -> 0.05
  local f = S.step{from = 0.2, every = 3, gamma = 0.5}
  T.eq(f(3), 0.2); T.eq(f(4), 0.1); T.eq(f(7), 0.05)
  T.near(S.step{from = 1, every = 2}(3), 0.1, 1e-15, "default gamma 0.1")
end)

T.test("multistep = MultiStepLR(milestones={2,5,5}, gamma=0.1)", function()
  -- recursion: at epoch e, lr *= gamma^(number of times e appears in milestones)
  local ms, want, lr = {5, 2, 5}, {}, 1.0
  for e = 0, 8 do
    for _, m in ipairs(ms) do if m == e then lr = lr * 0.1 end end
    want[e + 1] = lr
  end
  same(curve(S.multistep{from = 1, milestones = ms, gamma = 0.1}, 9), want, 1e-15, "multistep")
  T.near(S.multistep{from = 1, milestones = {2, 5, 5}}(6), 1e-3, 1e-15)
end)

T.test("exponential = ExponentialLR(gamma=0.9)", function()
  local want, lr = {}, 0.5
  for e = 0, 6 do want[e + 1] = lr; lr = lr * 0.9 end
  same(curve(S.exponential{from = 0.5, gamma = 0.9}, 7), want, 1e-15, "exponential")
end)

T.test("cosine = CosineAnnealingLR(T_max=8, eta_min=0.01)", function()
  -- torch's recursive form (used by scheduler.step()):
  --   e == 0: base; (e - 1 - T_max) % (2 T_max) == 0: lr + (base - eta_min)(1 - cos(pi/T_max))/2
  --   else (1 + cos(pi e/T)) / (1 + cos(pi (e-1)/T)) * (lr - eta_min) + eta_min
  local base, eta, Tm = 0.1, 0.01, 8
  local want, lr = {}, base
  for e = 0, Tm do
    if e > 0 then
      if (e - 1 - Tm) % (2 * Tm) == 0 then
        lr = lr + (base - eta) * (1 - math.cos(math.pi / Tm)) / 2
      else
        lr = (1 + math.cos(math.pi * e / Tm)) / (1 + math.cos(math.pi * (e - 1) / Tm))
             * (lr - eta) + eta
      end
    end
    want[e + 1] = lr
  end
  same(curve(S.cosine{from = base, to = eta, steps = Tm}, Tm + 1), want, 1e-14, "cosine")
  T.near(S.cosine{from = base, to = eta, steps = Tm}(5), (base + eta) / 2, 1e-15, "half way")
  T.eq(S.cosine{from = base, to = eta, steps = Tm}(100), eta, "held at to")
end)

T.test("cosine_restarts = CosineAnnealingWarmRestarts", function()
  -- incremental step(): T_cur += 1; if T_cur >= T_i: T_cur -= T_i, T_i *= T_mult
  local function torch(T0, mult, base, eta, n)
    local out, Tcur, Ti = {}, 0, T0
    for e = 0, n - 1 do
      if e > 0 then
        Tcur = Tcur + 1
        if Tcur >= Ti then Tcur = Tcur - Ti; Ti = Ti * mult end
      end
      out[e + 1] = eta + (base - eta) * (1 + math.cos(math.pi * Tcur / Ti)) / 2
    end
    return out
  end
  same(curve(S.cosine_restarts{from = 1, to = 0.1, period = 4}, 13),
       torch(4, 1, 1, 0.1, 13), 1e-14, "mult 1")
  same(curve(S.cosine_restarts{from = 1, to = 0, period = 3, mult = 2}, 30),
       torch(3, 2, 1, 0, 30), 1e-14, "mult 2")
  local f = S.cosine_restarts{from = 1, period = 3, mult = 2}
  T.eq(f(4), 1, "restart after 3 steps"); T.eq(f(10), 1, "then after 6 more")
end)

T.test("poly = PolynomialLR(total_iters=5, power=2)", function()
  -- recursion: e == 0 or e > T: unchanged; else lr *= ((1 - e/T)/(1 - (e-1)/T))^power
  local want, lr, Tt, p = {}, 0.3, 5, 2
  for e = 0, 8 do
    if e > 0 and e <= Tt then
      lr = lr * ((1 - e / Tt) / (1 - (e - 1) / Tt)) ^ p
    end
    want[e + 1] = lr
  end
  same(curve(S.poly{from = 0.3, steps = 5, power = 2}, 9), want, 1e-15, "poly")
  -- with an end value: to + (from - to) (1 - e/T)^p
  T.near(S.poly{from = 1, to = 0.5, steps = 4, power = 1}(3), 0.75, 1e-15)
end)

T.test("linear and warmup", function()
  same(curve(S.linear{from = 1, to = 0, steps = 4}, 6), {1, 0.75, 0.5, 0.25, 0, 0}, 1e-15, "linear")
  same(curve(S.warmup{steps = 4, to = 0.2}, 6), {0.05, 0.1, 0.15, 0.2, 0.2, 0.2}, 1e-15, "warmup")
  same(curve(S.warmup{steps = 2, from = 0.1, to = 0.3}, 3), {0.2, 0.3, 0.3}, 1e-15, "warmup from")
end)

T.test("one_cycle = OneCycleLR(max_lr=1, total_steps=10)", function()
  -- defaults div_factor 25, final_div_factor 1e4, pct_start 0.3, cos anneal:
  -- phase 1 ends at step 0.3*10-1 = 2 (0.04 -> 1), phase 2 at 9 (1 -> 4e-6)
  local init, final = 1 / 25, 1 / 25 / 1e4
  local function cosan(a, b, pct) return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1) end
  local want = {}
  for e = 0, 9 do
    if e <= 2 then want[e + 1] = cosan(init, 1, e / 2)
    else want[e + 1] = cosan(1, final, (e - 2) / 7) end
  end
  local f = S.one_cycle{max = 1, steps = 10}
  same(curve(f, 10), want, 1e-14, "one_cycle")
  T.near(f(1), 0.04, 1e-15, "starts at max/25")
  T.near(f(3), 1, 1e-15, "peak")
  T.near(f(10), 4e-6, 1e-15, "ends at max/25/1e4")
  T.near(f(50), 4e-6, 1e-15, "held")
  -- linear, three phase: ends at 2 (init->max), 4 (max->init), 9 (init->final)
  local g = S.one_cycle{max = 1, steps = 10, anneal = "linear", three_phase = true}
  T.near(g(2), init + (1 - init) / 2, 1e-15)
  T.near(g(4), 1 + (init - 1) / 2, 1e-15)
  T.near(g(5), init, 1e-15)
  T.near(g(10), final, 1e-15)
end)

T.test("cyclic = CyclicLR modes", function()
  -- step_size_up = 2, step_size_down = 2 (period 4), base 0.1, max 0.5
  same(curve(S.cyclic{low = 0.1, high = 0.5, period = 4}, 9),
       {0.1, 0.3, 0.5, 0.3, 0.1, 0.3, 0.5, 0.3, 0.1}, 1e-15, "triangular")
  same(curve(S.cyclic{low = 0.1, high = 0.5, period = 4, mode = "triangular2"}, 9),
       {0.1, 0.3, 0.5, 0.3, 0.1, 0.2, 0.3, 0.2, 0.1}, 1e-15, "triangular2")
  -- exp_range: amplitude scaled by gamma^iteration
  local g = 0.9
  same(curve(S.cyclic{low = 0.1, high = 0.5, period = 4, mode = "exp_range", gamma = g}, 5),
       {0.1, 0.1 + 0.2 * g, 0.1 + 0.4 * g ^ 2, 0.1 + 0.2 * g ^ 3, 0.1}, 1e-15, "exp_range")
  -- asymmetric: up 1, down 3
  same(curve(S.cyclic{low = 0, high = 1, period = 4, up = 1}, 5),
       {0, 1, 2 / 3, 1 / 3, 0}, 1e-15, "up=1")
end)

T.test("sequence: warm-up then cosine, segments counted from 1", function()
  local f = S.sequence{{S.warmup{steps = 4, to = 0.4}, 4},
                       {S.cosine{from = 0.4, to = 0, steps = 4}}}
  same(curve(f, 10), {0.1, 0.2, 0.3, 0.4, 0.4, 0.4 * (1 + math.cos(math.pi / 4)) / 2,
                      0.2, 0.4 * (1 + math.cos(3 * math.pi / 4)) / 2, 0, 0}, 1e-15, "sequence")
  local seen = {}
  local g = S.sequence{{function(t) seen[#seen + 1] = t return 1 end, 2},
                       {function(t) seen[#seen + 1] = -t return 2 end, 3}, {7}}
  same(curve(g, 7), {1, 1, 2, 2, 2, 7, 7}, 0, "values")
  same(seen, {1, 2, -1, -2, -3}, 0, "relative t")
end)

T.test("any Lua function is a schedule", function()
  local f = S.sequence{{function(t) return 1 / t end, 2}, {0.5}}
  T.eq(f(2), 0.5); T.eq(f(3), 0.5)
end)

T.test("momentum_warmup: log shape, lr keeps the effective step", function()
  local w = S.momentum_warmup{from = 0.9, to = 0.99, steps = 10}
  T.near(w(1), 0.9, 1e-15); T.near(w(11), 0.99, 1e-15); T.near(w(100), 0.99, 1e-15)
  -- linear in log(1 - beta): half way, 1 - beta = sqrt(0.1 * 0.01)
  T.near(w(6), 1 - math.sqrt(0.001), 1e-15, "geometric mean of 1-beta")
  T.near(w:lr_scale(1), 1, 1e-15); T.near(w:lr_scale(11), 0.1, 1e-14, "0.9 -> 0.99 divides lr by ten")
  for t = 1, 11 do
    -- effective lr: lr * scale / (1 - beta) is constant
    T.near(w:lr_scale(t) / (1 - w(t)), 1 / (1 - 0.9), 1e-9, "effective lr at " .. t)
  end
  local lr = w:lr(S.constant(0.5))
  T.near(lr(11), 0.05, 1e-15)
  local lin = S.momentum_warmup{from = 0.5, to = 0.9, steps = 4, shape = "linear",
                                keep_effective_lr = false}
  T.near(lin(3), 0.7, 1e-15); T.eq(lin:lr_scale(3), 1)
end)

T.test("momentum_warmup:attach schedules both fields", function()
  local w = ol.zeros(2, "f64")
  local opt = ol.optim.sgd(w, {lr = 0.2, momentum = 0.9})
  S.momentum_warmup{from = 0.9, to = 0.99, steps = 10}:attach(opt)
  for _ = 1, 11 do opt:step(ol.zeros(2, "f64")) end
  T.near(opt.momentum, 0.99, 1e-15, "step 11: beta at `to`")
  T.near(opt.lr, 0.02, 1e-15, "0.2 * (1 - 0.99) / (1 - 0.9)")
  -- nag's velocity p <- beta p + lr g: the lr follows a given base schedule
  local nag = ol.optim.nag(ol.zeros(2, "f64"), {lr = 1, momentum = 0.9})
  S.momentum_warmup{from = 0.9, to = 0.99, steps = 10}:attach(nag, {lr = S.linear{from = 1, to = 0, steps = 10}})
  for _ = 1, 6 do nag:step(ol.zeros(2, "f64")) end
  local beta6 = 1 - 0.1 * 10 ^ (-5 / 10) -- 1 - beta shrinks geometrically from 0.1 to 0.01
  T.near(nag.momentum, beta6, 1e-15)
  T.near(nag.lr, 0.5 * (1 - beta6) / 0.1, 1e-15, "the base schedule (0.5 at t = 6) times the correction")
  -- keep_effective_lr = false: any beta, the lr untouched
  local adam = ol.optim.adam(ol.zeros(2, "f64"), {lr = 0.01, betas = {0.8, 0.999}})
  S.momentum_warmup{from = 0.8, to = 0.95, steps = 4, keep_effective_lr = false}:attach(adam, {field = "betas[1]"})
  for _ = 1, 5 do adam:step(ol.zeros(2, "f64")) end
  T.near(adam.betas[1], 0.95, 1e-15); T.eq(adam.betas[2], 0.999, "other half kept"); T.eq(adam.lr, 0.01)
end)

T.test("momentum_warmup: keep_effective_lr only where the step grows as 1/(1 - beta)", function()
  local function warm() return S.momentum_warmup{from = 0.9, to = 0.99, steps = 10} end
  local w = ol.zeros(2, "f64")
  -- Adam's m <- beta m + (1 - beta) g: a steady g gives m = g, the step does
  -- not depend on beta, so dividing the lr by ten would divide the step by ten
  local adam = ol.optim.adam(w, {lr = 1e-3})
  local err = T.raises("bad argument #1 to 'attach' (keep_effective_lr", function()
    warm():attach(adam, {field = "betas[1]"}) end)
  T.ok(err:find("adam's 'betas[1]': its first moment is an average", 1, true), err)
  T.ok(err:find("keep_effective_lr = false", 1, true), err)
  T.eq(adam.lr, 1e-3, "nothing attached"); adam:step(ol.zeros(2, "f64")); T.eq(adam.lr, 1e-3)
  -- sgd with dampening = beta: b <- beta b + (1 - beta) g is an average too
  local sgd = ol.optim.sgd(w, {lr = 0.1, momentum = 0.9, dampening = 0.9})
  err = T.raises("sgd with dampening = 0.9", function() warm():attach(sgd) end)
  T.ok(err:find("not the heavy-ball buffer of dampening = 0", 1, true), err)
  -- Muon orthogonalises its update: its scale does not follow 1/(1 - beta)
  local muon = ol.optim.muon(ol.zeros(4, 4, "f64"))
  T.raises("muon's 'momentum': its update is orthogonalised", function() warm():attach(muon) end)
  T.raises("lion's 'betas[1]': its step is lr·sign(...)", function()
    warm():attach(ol.optim.lion(w), {field = "betas[1]"}) end)
  -- the position is the caller's line
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, e = pcall(function() warm():attach(adam, {field = "betas[1]"}) end)
  T.ok(not ok and e:find("test_schedule.lua:" .. line .. ":", 1, true), e)
  -- where it holds it is applied: rmsprop's b <- beta b + g / r
  local rms = ol.optim.rmsprop(w, {lr = 0.01, momentum = 0.9})
  warm():attach(rms)
  for _ = 1, 11 do rms:step(ol.zeros(2, "f64")) end
  T.near(rms.lr, 0.001, 1e-15, "0.01 * (1 - 0.99) / (1 - 0.9)")
end)

T.test("step, exponential, multistep without from scale the option's value when attached", function()
  -- API.md's forms; torch's schedulers scale the optimizer's initial lr
  local function lrs(opt, n)
    local out = {}
    for t = 1, n do opt:step(ol.zeros(2, "f64")); out[t] = opt.lr end
    return out
  end
  local opt = ol.optim.sgd(ol.zeros(2, "f64"), {lr = 0.4})
  opt:schedule("lr", S.step{every = 10, gamma = 0.5})
  local v = lrs(opt, 21)
  T.eq(v[10], 0.4); T.eq(v[11], 0.2); T.eq(v[21], 0.1) -- 0.4 * 0.5^floor((t - 1) / 10)
  opt = ol.optim.sgd(ol.zeros(2, "f64"), {lr = 2})
  opt:schedule("lr", S.exponential{gamma = 0.9})
  v = lrs(opt, 3)
  T.eq(v[1], 2); T.near(v[2], 1.8, 1e-15); T.near(v[3], 1.62, 1e-15)
  opt = ol.optim.sgd(ol.zeros(2, "f64"), {lr = 0.3})
  opt:schedule("lr", S.multistep{milestones = {10}, gamma = 0.1})
  v = lrs(opt, 11)
  T.eq(v[10], 0.3); T.near(v[11], 0.03, 1e-16)
  -- the value at attach time, not at construction or at the first step
  opt = ol.optim.sgd(ol.zeros(2, "f64"), {lr = 1})
  local f = S.exponential{gamma = 0.5}
  opt.lr = 0.8
  opt:schedule("lr", f)
  opt.lr = 5
  T.eq(lrs(opt, 2)[2], 0.4, "0.8 * 0.5")
  -- one element of a pair
  local adam = ol.optim.adam(ol.zeros(2, "f64"), {betas = {0.9, 0.99}})
  adam:schedule("betas[2]", S.step{every = 1, gamma = 0.5})
  adam:step(ol.zeros(2, "f64")); adam:step(ol.zeros(2, "f64"))
  T.eq(adam.betas[1], 0.9); T.near(adam.betas[2], 0.495, 1e-15)
  -- in a sequence: both segments scale the same value
  opt = ol.optim.sgd(ol.zeros(2, "f64"), {lr = 0.6})
  opt:schedule("lr", S.sequence{{S.warmup{steps = 2, to = 0.6}, 2}, {S.exponential{gamma = 0.5}}})
  v = lrs(opt, 4)
  T.near(v[1], 0.3, 1e-15); T.near(v[2], 0.6, 1e-15); T.near(v[3], 0.6, 1e-15); T.near(v[4], 0.3, 1e-15)
  -- as momentum_warmup's lr base
  opt = ol.optim.sgd(ol.zeros(2, "f64"), {lr = 0.2, momentum = 0.9})
  S.momentum_warmup{from = 0.9, to = 0.99, steps = 10}:attach(opt, {lr = S.step{every = 100, gamma = 0.1}})
  T.near(lrs(opt, 11)[11], 0.02, 1e-15)
  -- unattached, or on a pair, it says why
  T.raises("ol.schedule.step without from has no base value", S.step{every = 3}, 1)
  T.raises("bad argument #2 to 'schedule' (option 'betas' is a pair", function()
    adam:schedule("betas", S.exponential{gamma = 0.9}) end)
  -- the optimizer's own argument errors keep their words and position
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, err = pcall(function() opt:schedule("lrr", S.step{every = 2}) end)
  T.ok(not ok and err:find("test_schedule.lua:" .. line .. ": bad argument #1 to 'schedule' (unknown option 'lrr'", 1, true), err)
end)

T.test("opt:schedule itself binds a schedule with __bind to the option's value", function()
  -- the optimizer's own method, not a Lua wrapper around it
  local methods = getmetatable(ol.optim.sgd(ol.zeros(1))).__methods
  T.eq(debug.getinfo(methods.schedule, "S").what, "C")
  local seen = {}
  local Scale = {__call = function() error("unbound") end,
                 __bind = function(self, base)
                   seen[#seen + 1] = base
                   return function(t) return base * self.k ^ t end
                 end}
  local opt = ol.optim.adam(ol.zeros(2, "f64"), {lr = 0.2, betas = {0.8, 0.99}})
  opt:schedule("lr", setmetatable({k = 0.5}, Scale))
  opt:schedule("betas[1]", setmetatable({k = 1}, Scale))
  T.eq(seen[1], 0.2, "the option's value"); T.eq(seen[2], 0.8, "the element's value")
  opt:step(ol.zeros(2, "f64"))
  T.eq(opt.lr, 0.1, "0.2 * 0.5^1"); T.eq(opt.betas[1], 0.8)
  T.raises("bad argument #2 to 'schedule' (option 'betas' is a pair: attach a schedule without a base value to "
           .. "one element, 'betas[1]' or 'betas[2]')", function() opt:schedule("betas", setmetatable({k = 1}, Scale)) end)
  T.raises("bad argument #2 to 'schedule' (option 'amsgrad' has no number to scale)",
           function() opt:schedule("amsgrad", setmetatable({k = 1}, Scale)) end)
  T.eq(#seen, 2, "no __bind call where the field refuses one")
  T.raises("bad argument #2 to 'schedule' (its __bind returned number, not a function)",
           function() opt:schedule("eps", setmetatable({}, {__call = print, __bind = function() return 3 end})) end)
  -- the built-in relative schedules are such objects
  T.eq(type(getmetatable(S.step{every = 2}).__bind), "function")
end)

T.test("reduce_on_plateau without base scales the option's value when attached", function()
  -- ReduceLROnPlateau{factor = 0.5, patience = 0, min = 0.05} on an lr of 0.4
  local opt = ol.optim.sgd(ol.zeros(2, "f64"), {lr = 0.4})
  local r = S.reduce_on_plateau{factor = 0.5, patience = 0, min = 0.05}
  r:attach(opt)
  opt:step(ol.zeros(2, "f64")); T.eq(opt.lr, 0.4)
  r:update(1); r:update(1) -- not better: reduce
  opt:step(ol.zeros(2, "f64")); T.eq(opt.lr, 0.2)
  for _ = 1, 4 do r:update(1) end -- 0.1, 0.05, then floored
  opt:step(ol.zeros(2, "f64")); T.eq(opt.lr, 0.05)
  -- through opt:schedule as well
  local opt2 = ol.optim.sgd(ol.zeros(2, "f64"), {lr = 3})
  local r2 = S.reduce_on_plateau{factor = 0.1, patience = 0}
  opt2:schedule("lr", r2)
  r2:update(2); r2:update(2)
  opt2:step(ol.zeros(2, "f64")); T.near(opt2.lr, 0.3, 1e-15)
  T.raises("reduce_on_plateau without base has no base value", function() return S.reduce_on_plateau{}(1) end)
end)

T.test("reduce_on_plateau composes with a warm-up", function()
  local base = S.sequence{{S.warmup{steps = 4, to = 1}, 4}, {1}}
  local r = S.reduce_on_plateau{base = base, factor = 0.5, patience = 1, min = 0.3}
  T.near(r(1), 0.25, 1e-15, "warm-up untouched, even below min")
  T.near(r(4), 1, 1e-15)
  T.eq(r:update(1.0), false); T.eq(r:update(1.0), false)
  T.eq(r:update(1.0), true, "patience 1: third flat value reduces")
  T.near(r(5), 0.5, 1e-15); T.near(r.fn(6), 0.5, 1e-15)
  T.eq(r:update(1.0), false); T.eq(r:update(1.0), true)
  T.near(r(7), 0.3, 1e-15, "floored at min")
  T.eq(r:update(1.0), false); T.eq(r:update(1.0), false, "at the floor: no more reductions")
  T.eq(r.reductions, 2)
  T.near(r(1), 0.25, 1e-15, "floor never lifts a value above its base")
  -- state round trip
  local r2 = S.reduce_on_plateau{base = 1, factor = 0.5, patience = 1}
  r2:load_state(r:state())
  T.eq(r2.scale, r.scale); T.eq(r2.plateau.best, 1.0)
end)

T.test("attached to a real optimizer: applied before each step", function()
  local w = ol.zeros(3, "f64")
  local g = ol.ones(3, "f64")
  local opt = ol.optim.sgd(w, {lr = 0.2, momentum = 0.9})
  S.momentum_warmup{from = 0.9, to = 0.99, steps = 4}:attach(opt)
  local seen = {}
  for t = 1, 6 do
    opt:step(g)
    seen[t] = {opt.momentum, opt.lr}
  end
  for t = 1, 6 do
    local frac = math.min(t - 1, 4) / 4
    local beta = 1 - 0.1 * 10 ^ (-frac)     -- 1 - beta: 0.1 -> 0.01 geometrically
    T.near(seen[t][1], beta, 1e-12, "momentum at " .. t)
    T.near(seen[t][2], 0.2 * (1 - beta) / 0.1, 1e-12, "lr at " .. t)
  end
  -- reduce_on_plateau over a cosine, attached as the lr
  local opt2 = ol.optim.sgd(ol.zeros(2, "f64"), {lr = 1})
  local r = S.reduce_on_plateau{base = S.cosine{from = 1, to = 0, steps = 10}, patience = 0, factor = 0.5}
  r:attach(opt2)
  opt2:step(ol.zeros(2, "f64")); T.near(opt2.lr, 1, 1e-15)
  r:update(1); r:update(2) -- second is worse: reduce
  opt2:step(ol.zeros(2, "f64"))
  T.near(opt2.lr, 0.5 * (1 + math.cos(math.pi / 10)) / 2, 1e-12, "cosine(2) halved")
end)

T.test("bad options are errors naming the option, at the caller", function()
  T.raises("'every' is required", S.step, {from = 1})
  T.raises("option 'gamma' must be > 0", S.exponential, {from = 1, gamma = 0})
  T.raises("option 'steps' must be > 0", S.cosine, {from = 1, steps = -3})
  T.raises("unknown option 'stepz'", S.linear, {from = 1, to = 0, stepz = 3})
  T.raises("option 'mode' must be 'triangular'", S.cyclic, {low = 0, high = 1, period = 2, mode = "tri"})
  T.raises("option 'from' must be a number", S.step, {from = "x", every = 2})
  T.raises("option 'steps' must be an integer", S.poly, {from = 1, steps = 2.5})
  T.raises("option 'mult' must be >= 1", S.cosine_restarts, {from = 1, period = 2, mult = 0})
  T.raises("segment 1 needs a step count", S.sequence, {{1}, {2}})
  T.raises("option 'to' must be in [0, 1)", S.momentum_warmup, {from = 0.5, to = 1, steps = 3})
  T.raises("option 'factor' must be in (0, 1)", S.reduce_on_plateau, {base = 1, factor = 2})
  T.raises("option 'mode' must be 'min' or 'max'", S.reduce_on_plateau, {base = 1, mode = "up"})
  T.raises("bad argument #1 to 'step'", S.step, {from = 1, every = 0})
  -- the position is the caller's line
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, err = pcall(function() local f = S.step{from = 1}; return f end)
  T.ok(not ok and err:find("test_schedule.lua:" .. line .. ":", 1, true), err)
  line = debug.getinfo(1, "l").currentline + 1
  ok, err = pcall(function() local f = S.reduce_on_plateau{base = 1, mode = "x"}; return f end)
  T.ok(not ok and err:find("test_schedule.lua:" .. line .. ":", 1, true), err)
end)

T.test("examples: schedule_custom.lua and momentum_warmup.lua run", function()
  local r = run_example("schedule_custom.lua")
  T.ok(r.noam < 0.05 and r.warmup_cosine < 0.05, "both schedules train")
  local m = run_example("momentum_warmup.lua")
  T.ok(m["warm-up"] < m["fixed 0.99"], "warm-up beats starting at 0.99")
end)

T.run()
