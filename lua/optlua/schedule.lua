-- ol.schedule: schedules are plain functions f(t) -> value, t = optimizer
-- step from 1, attached to a live option with opt:schedule(field, f).
--
-- The built-ins follow the closed forms of PyTorch's schedulers
-- (torch.optim.lr_scheduler: StepLR, MultiStepLR, ExponentialLR,
-- CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR,
-- PolynomialLR). Step mapping: torch's value after k calls of
-- scheduler.step() is the lr of optimizer step k+1, so here
--     f(t) = torch value at last_epoch = t - 1.
-- Where torch takes the base value from the optimizer's initial lr, these
-- take it as the option `from` (one_cycle: `max`; cyclic: `low`/`high`).
-- step, multistep and exponential without `from` (and reduce_on_plateau
-- without `base`) scale the option's value at the time they are attached,
-- as torch's schedulers do (see "relative schedules" below).
--
-- Formulas, with e = t - 1 (see README, "Schedules"):
--   constant(v)            v
--   step{every, gamma}     from * gamma^floor(e / every)
--   multistep{milestones}  from * gamma^#{m in milestones : m <= e}
--   exponential{gamma}     from * gamma^e
--   linear{from,to,steps}  from + (to - from) * min(e, steps) / steps
--   poly{..., power}       to + (from - to) * (1 - min(e, steps) / steps)^power
--   cosine{from,to,steps}  to + (from - to) * (1 + cos(pi * min(e, steps) / steps)) / 2
--   cosine_restarts        as cosine, restarting after period, period*mult, ...
--   warmup{steps, to}      from + (to - from) * min(t, steps) / steps  (from = 0)
--   one_cycle, cyclic      as OneCycleLR / CyclicLR (see the functions)
--   sequence{{f, n}, ...}  f_i(t - start_i), each segment counted from 1
local M = {}

local floor, cos, pi, log, exp = math.floor, math.cos, math.pi, math.log, math.exp
local max, min = math.max, math.min

-- ---- option checking ----------------------------------------------------
-- Through ol._args (lua/l_args.c), which words every option error of the
-- library. Errors are raised at the caller of the built-in.

local args = (package.loaded.optlua or optlua or require("optlua"))._args

-- A plain argument error of built-in fname; level: 3 when called from a
-- built-in (bad <- built-in <- caller).
local function bad(fname, msg, level)
  args.error(fname, 1, msg, level or 3)
end

local function is_callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end
M.is_callable = is_callable

-- The checked options of built-in fname (see ol._args.options for spec).
local function check(fname, opts, spec)
  return args.options(fname, 1, opts, spec, 3) -- C <- check <- built-in <- caller
end

-- The value of a number-or-schedule at t.
local function value_at(v, t)
  if type(v) == "number" then return v end
  return v(t)
end
M.value_at = value_at

-- ---- relative schedules ----------------------------------------------------
-- A built-in given no base value (step, multistep, exponential without
-- `from`; reduce_on_plateau without `base`; a sequence holding one of
-- these) is relative: it scales the value the option has when the
-- schedule is attached. It is a callable object whose metatable has
-- __bind(schedule, base) -> the schedule on that base: opt:schedule(field,
-- f) calls it with the option's current value (lua/l_optim.c) and stores
-- what it returns, and the attach methods here do the same through bind.
-- Called unbound, it raises.
local Relative = {}
Relative.__name = "optlua.schedule.relative"
Relative.__call = function(r)
  error(string.format("%s has no base value: it scales the option's value when attached with "
                      .. "opt:schedule(field, f); give from = ... to call it on its own", r.what), 2)
end
Relative.__bind = function(r, base) return r.on(base) end

local function relative(what, on)
  return setmetatable({what = what, on = on}, Relative)
end

-- The __bind of f, when f is relative.
local function binder(f)
  local mt = getmetatable(f)
  return type(mt) == "table" and rawget(mt, "__bind") or nil
end

-- f bound to base when f is relative, else f itself.
local function bind(f, base)
  local b = binder(f)
  if b then return b(f, base) end
  return f
end

-- ---- the built-ins --------------------------------------------------------

-- constant(v) or constant{value = v}
function M.constant(v)
  if type(v) == "table" then
    v = check("constant", v, {value = {"number", required = true}}).value
  elseif type(v) ~= "number" then
    bad("constant", "number or {value = number} expected, got " .. type(v))
  end
  return function() return v end
end

-- StepLR: lr = base * gamma^floor(epoch / step_size)
function M.step(opts)
  local o = check("step", opts, {
    from = {"number"},
    every = {"integer", required = true, gt = 0},
    gamma = {"number", default = 0.1, gt = 0},
  })
  local function on(from)
    return function(t) return from * o.gamma ^ floor(max(t - 1, 0) / o.every) end
  end
  return o.from and on(o.from) or relative("ol.schedule.step without from", on)
end

-- MultiStepLR: lr = base * gamma^bisect_right(milestones, epoch)
function M.multistep(opts)
  local o = check("multistep", opts, {
    from = {"number"},
    milestones = {"table", required = true},
    gamma = {"number", default = 0.1, gt = 0},
  })
  local ms = {}
  for i, m in ipairs(o.milestones) do
    if type(m) ~= "number" or m ~= floor(m) or m < 0 then
      bad("multistep", string.format("option 'milestones' must hold integers >= 0, got %s at [%d]",
                                     tostring(m), i))
    end
    ms[i] = m
  end
  table.sort(ms)
  local function on(from)
    return function(t)
      local e, n = max(t - 1, 0), 0
      for _, m in ipairs(ms) do
        if m <= e then n = n + 1 else break end
      end
      return from * o.gamma ^ n
    end
  end
  return o.from and on(o.from) or relative("ol.schedule.multistep without from", on)
end

-- ExponentialLR: lr = base * gamma^epoch
function M.exponential(opts)
  local o = check("exponential", opts, {
    from = {"number"},
    gamma = {"number", required = true, gt = 0},
  })
  local function on(from)
    return function(t) return from * o.gamma ^ max(t - 1, 0) end
  end
  return o.from and on(o.from) or relative("ol.schedule.exponential without from", on)
end

-- PolynomialLR (to = 0): lr = base * (1 - min(total_iters, epoch) / total_iters)^power;
-- with `to` the curve ends at `to` instead of 0 (TF's PolynomialDecay).
function M.poly(opts)
  local o = check("poly", opts, {
    from = {"number", required = true},
    to = {"number", default = 0},
    steps = {"integer", required = true, gt = 0},
    power = {"number", default = 1, gt = 0},
  })
  return function(t)
    local e = min(max(t - 1, 0), o.steps)
    return o.to + (o.from - o.to) * (1 - e / o.steps) ^ o.power
  end
end

-- Linear interpolation, from at t = 1 to `to` at t = steps + 1, then held
-- (torch's LinearLR mapping).
function M.linear(opts)
  local o = check("linear", opts, {
    from = {"number", required = true},
    to = {"number", required = true},
    steps = {"integer", required = true, gt = 0},
  })
  return function(t)
    local e = min(max(t - 1, 0), o.steps)
    return o.from + (o.to - o.from) * e / o.steps
  end
end

-- CosineAnnealingLR: eta_min + (base - eta_min) * (1 + cos(pi * epoch / T_max)) / 2.
-- Held at `to` after steps (torch's curve would rise again after T_max).
function M.cosine(opts)
  local o = check("cosine", opts, {
    from = {"number", required = true},
    to = {"number", default = 0},
    steps = {"integer", required = true, gt = 0},
  })
  return function(t)
    local e = min(max(t - 1, 0), o.steps)
    return o.to + (o.from - o.to) * (1 + cos(pi * e / o.steps)) / 2
  end
end

-- CosineAnnealingWarmRestarts(T_0 = period, T_mult = mult, eta_min = to):
-- T_cur counts steps since the last restart, T_i is the current period.
function M.cosine_restarts(opts)
  local o = check("cosine_restarts", opts, {
    from = {"number", required = true},
    to = {"number", default = 0},
    period = {"integer", required = true, gt = 0},
    mult = {"integer", default = 1, min = 1},
  })
  return function(t)
    local cur, len = max(t - 1, 0), o.period
    if o.mult == 1 then
      cur = cur % len
    else
      while cur >= len do cur, len = cur - len, len * o.mult end
    end
    return o.to + (o.from - o.to) * (1 + cos(pi * cur / len)) / 2
  end
end

-- Linear warm-up to `to` over `steps`: from + (to - from) * min(t, steps) / steps.
-- Unlike linear, it reaches `to` AT step `steps` (so no step is taken with
-- lr = 0) and a following segment of a sequence starts from `to`.
function M.warmup(opts)
  local o = check("warmup", opts, {
    from = {"number", default = 0},
    to = {"number", required = true},
    steps = {"integer", required = true, gt = 0},
  })
  return function(t)
    return o.from + (o.to - o.from) * min(max(t, 0), o.steps) / o.steps
  end
end

-- OneCycleLR(max_lr = max, total_steps = steps, pct_start, anneal_strategy,
-- div_factor, final_div_factor, three_phase). Phases end at (0-based) steps
-- pct_start*steps - 1 and steps - 1 (three_phase: pct*steps - 1,
-- 2*pct*steps - 2, steps - 1); within a phase the value is anneal(start,
-- end, pct). After `steps` the final value is held (torch raises).
function M.one_cycle(opts)
  local o = check("one_cycle", opts, {
    max = {"number", required = true, gt = 0},
    steps = {"integer", required = true, gt = 0},
    pct_start = {"number", default = 0.3, min = 0, max = 1},
    anneal = {"string", default = "cos", one_of = {"cos", "linear"}},
    div_factor = {"number", default = 25, gt = 0},
    final_div_factor = {"number", default = 1e4, gt = 0},
    three_phase = {"boolean", default = false},
  })
  local initial = o.max / o.div_factor
  local final = initial / o.final_div_factor
  local n = o.steps
  local phases
  if o.three_phase then
    phases = {{o.pct_start * n - 1, initial, o.max},
              {2 * o.pct_start * n - 2, o.max, initial},
              {n - 1, initial, final}}
  else
    phases = {{o.pct_start * n - 1, initial, o.max},
              {n - 1, o.max, final}}
  end
  local anneal
  if o.anneal == "cos" then
    anneal = function(a, b, pct) return b + (a - b) / 2 * (cos(pi * pct) + 1) end
  else
    anneal = function(a, b, pct) return (b - a) * pct + a end
  end
  return function(t)
    local e = min(max(t - 1, 0), n - 1)
    local start = 0
    for i, ph in ipairs(phases) do
      if e <= ph[1] or i == #phases then
        local span = ph[1] - start
        -- torch divides by zero here for degenerate phases; take the end value
        local pct = span ~= 0 and (e - start) / span or 1
        return anneal(ph[2], ph[3], pct)
      end
      start = ph[1]
    end
  end
end

-- CyclicLR(base_lr = low, max_lr = high, step_size_up = up,
-- step_size_down = period - up, mode, gamma). period is the full cycle
-- length in steps; up defaults to period / 2.
--   cycle = floor(1 + e / period); x = 1 + e / period - cycle
--   s = x / r if x <= r else (x - 1) / (r - 1), r = up / period
--   value = low + (high - low) * s * scale
--   scale: triangular 1; triangular2 1 / 2^(cycle - 1); exp_range gamma^e
function M.cyclic(opts)
  local o = check("cyclic", opts, {
    low = {"number", required = true},
    high = {"number", required = true},
    period = {"number", required = true, gt = 0},
    up = {"number", gt = 0},
    mode = {"string", default = "triangular", one_of = {"triangular", "triangular2", "exp_range"}},
    gamma = {"number", default = 1, gt = 0},
  })
  local up = o.up or o.period / 2
  if up > o.period then
    bad("cyclic", string.format("option 'up' must be <= period (%s), got %s", o.period, up))
  end
  local ratio = up / o.period
  return function(t)
    local e = max(t - 1, 0)
    local cycle = floor(1 + e / o.period)
    local x = 1 + e / o.period - cycle
    local s = x <= ratio and x / ratio or (x - 1) / (ratio - 1)
    local scale = 1
    if o.mode == "triangular2" then scale = 1 / 2 ^ (cycle - 1)
    elseif o.mode == "exp_range" then scale = o.gamma ^ e end
    return o.low + (o.high - o.low) * s * scale
  end
end

-- sequence{{f1, n1}, {f2, n2}, ..., {fk [, nk]}}: segment i runs for n_i
-- steps and calls f_i with t counted from 1 at its start; the last segment
-- runs on. A number in place of f is a constant.
function M.sequence(segs)
  if type(segs) ~= "table" or #segs == 0 then
    bad("sequence", "non-empty list of {schedule, steps} expected")
  end
  for k in pairs(segs) do
    if math.type(k) ~= "integer" or k < 1 or k > #segs then
      bad("sequence", "unknown option '" .. tostring(k) .. "' (a list of {schedule, steps} expected)")
    end
  end
  local fs, ends, acc, rel = {}, {}, 0, false
  for i, s in ipairs(segs) do
    if type(s) ~= "table" or (type(s[1]) ~= "number" and not is_callable(s[1])) then
      bad("sequence", string.format("segment %d must be {schedule, steps}", i))
    end
    local n = s[2]
    if n == nil and i < #segs then
      bad("sequence", string.format("segment %d needs a step count", i))
    end
    if n ~= nil and (type(n) ~= "number" or n ~= floor(n) or n <= 0) then
      bad("sequence", string.format("segment %d: steps must be an integer > 0, got %s", i, tostring(n)))
    end
    fs[i] = s[1]
    rel = rel or binder(s[1]) ~= nil
    acc = acc + (n or 0)
    ends[i] = acc
  end
  local function on(segments)
    return function(t)
      local start = 0
      for i = 1, #segments - 1 do
        if t <= ends[i] then return value_at(segments[i], t - start) end
        start = ends[i]
      end
      return value_at(segments[#segments], t - start)
    end
  end
  if not rel then return on(fs) end
  -- relative segments scale the same attach-time value
  return relative("ol.schedule.sequence with a segment without from", function(base)
    local bound = {}
    for i, f in ipairs(fs) do bound[i] = bind(f, base) end
    return on(bound)
  end)
end

-- ---- β warm-up --------------------------------------------------------------
-- momentum_warmup{from, to, steps, keep_effective_lr = true, shape = "log"}
--
-- β rises from `from` at t = 1 to `to` at t = steps + 1 and is then held.
-- shape "log" (default) is linear in log(1 - β): 1 - β shrinks by the same
-- factor every step, so the averaging horizon 1/(1 - β) grows geometrically
-- and the lr correction below changes by the same ratio each step;
-- shape "linear" is linear in β.
-- With keep_effective_lr, the lr is multiplied by (1 - β(t)) / (1 - from):
-- the effective step lr / (1 - β) of heavy-ball momentum stays put, and
-- β 0.9 -> 0.99 divides the lr by ten. That holds where the step grows as
-- 1/(1 - β): a buffer b <- β·b + g (or + lr·g) under a steady gradient g
-- settles at g/(1 - β). attach checks the optimizer and field against
-- HEAVY_BALL and raises, saying why, where the step does not grow so.
--
--   local w = ol.schedule.momentum_warmup{from = 0.5, to = 0.99, steps = 1000}
--   w(t) or w.beta(t) -> β (w.beta is the plain function opt:schedule takes)
--   w:lr_scale(t) -> (1-β(t))/(1-from)     w:lr(base) -> lr schedule
--   w:attach(opt [, {field = "momentum", lr = base}])
-- attach schedules `field` (e.g. "momentum", or "betas[1]": then the pair
-- betas with its other half fixed) with β and, when
-- keep_effective_lr, "lr" with base(t) * lr_scale(t); base is a number or a
-- schedule and defaults to the optimizer's current lr.
local Warmup = {}
Warmup.__index = Warmup
Warmup.__call = function(w, t) return w.beta(t) end

function M.momentum_warmup(opts)
  local o = check("momentum_warmup", opts, {
    from = {"number", required = true, min = 0, lt = 1},
    to = {"number", required = true, min = 0, lt = 1},
    steps = {"integer", required = true, gt = 0},
    keep_effective_lr = {"boolean", default = true},
    shape = {"string", default = "log", one_of = {"log", "linear"}},
  })
  local w = setmetatable({from = o.from, to = o.to, steps = o.steps,
                          keep_effective_lr = o.keep_effective_lr, shape = o.shape}, Warmup)
  local a, b = o.from, o.to
  if o.shape == "log" then
    local la, lb = log(1 - a), log(1 - b)
    w.beta = function(t)
      local f = min(max(t - 1, 0), o.steps) / o.steps
      return 1 - exp(la + (lb - la) * f)
    end
  else
    w.beta = function(t)
      local f = min(max(t - 1, 0), o.steps) / o.steps
      return a + (b - a) * f
    end
  end
  return w
end

function Warmup:lr_scale(t)
  if not self.keep_effective_lr then return 1 end
  return (1 - self.beta(t)) / (1 - self.from)
end

function Warmup:lr(base)
  if type(base) ~= "number" and not is_callable(base) then
    args.error("lr", 1, "number or schedule expected, got " .. type(base), 2)
  end
  return function(t) return value_at(base, t) * self:lr_scale(t) end
end

-- The fields whose step grows as 1/(1 - β), by optimizer (rules as in
-- API.md): sgd (b <- β·b + (1 - dampening)·g with dampening 0, nesterov or
-- not), nag (p <- β·p + lr·g), adaptive_gains (v <- β·v − lr·gain·g),
-- rmsprop (b <- β·b + g/r), lars (b <- β·b + lr·r·d), shampoo (b <- β·b + P).
local HEAVY_BALL = {sgd = "momentum", nag = "momentum", adaptive_gains = "momentum",
                    rmsprop = "momentum", lars = "momentum", shampoo = "momentum"}

-- Why (1 - β)/(1 - β0) does not keep the step of these: the first moment
-- of the Adam family is an average, m <- β·m + (1 - β)·g, so a steady g gives
-- m = g whatever β; lion steps by a sign; muon orthogonalises the update,
-- which fixes its scale; schedule-free sgd interpolates with β.
local AVERAGED = "its first moment is an average, m <- β·m + (1 − β)·g, so the step does not grow "
                 .. "as 1/(1 − β)"
local NOT_HEAVY_BALL = {
  adam = AVERAGED, adamw = AVERAGED, nadam = AVERAGED, radam = AVERAGED, adamax = AVERAGED,
  adabelief = AVERAGED, lamb = AVERAGED, yogi = AVERAGED, soap = AVERAGED, sf_adamw = AVERAGED,
  lion = "its step is lr·sign(...), of the same size whatever β",
  muon = "its update is orthogonalised (Newton–Schulz), which fixes its scale whatever β",
  sf_sgd = "β interpolates between iterates (schedule-free), the step itself is lr·g",
}

-- Raises unless keep_effective_lr's correction holds for opt's field.
local function check_effective_lr(opt, field)
  local name = opt.name
  local function refuse(why)
    args.error("attach", 1, string.format("keep_effective_lr = true scales the lr by (1 − β)/(1 − β0), which "
      .. "keeps the step only where it grows as 1/(1 − β) (heavy-ball momentum); %s: use "
      .. "keep_effective_lr = false", why), 4) -- ol._args <- refuse <- check <- attach <- caller
  end
  if HEAVY_BALL[name] == field then
    if name == "sgd" and opt.dampening ~= 0 then
      refuse(string.format("sgd with dampening = %g has b <- β·b + (1 − dampening)·g (an average of the "
                           .. "gradients when dampening = β), not the heavy-ball buffer of dampening = 0",
                           opt.dampening))
    end
    return
  end
  if NOT_HEAVY_BALL[name] then refuse(string.format("%s's '%s': %s", name, field, NOT_HEAVY_BALL[name])) end
  refuse(string.format("%s's '%s' is not known to be a heavy-ball momentum (known: %s)", tostring(name), field,
    (function()
      local k = {}
      for n, f in pairs(HEAVY_BALL) do k[#k + 1] = n .. "'s " .. f end
      table.sort(k)
      return table.concat(k, ", ")
    end)()))
end

function Warmup:attach(opt, o)
  o = args.options("attach", 2, o, {field = {"string", default = "momentum"}, lr = {"number|function"}})
  local field = o.field
  if self.keep_effective_lr then check_effective_lr(opt, field) end
  local beta = self.beta
  -- "betas[1]": the optimizer's option is the pair; schedule the pair, the
  -- other half kept at its value at attach time.
  local pair, idx = field:match("^([%w_]+)%[([12])%]$")
  if pair then
    local cur = opt[pair]
    local keep = {cur[1], cur[2]}
    idx = tonumber(idx)
    opt:schedule(pair, function(t)
      local v = {keep[1], keep[2]}
      v[idx] = beta(t)
      return v
    end)
  else
    opt:schedule(field, function(t) return beta(t) end)
  end
  if self.keep_effective_lr then
    opt:schedule("lr", self:lr(bind(o.lr or opt.lr, opt.lr)))
  end
  return opt
end

-- ---- reduce on plateau --------------------------------------------------------
-- reduce_on_plateau{base, factor = 0.1, patience = 10, min = 0, mode,
--                   threshold, threshold_mode, cooldown, eps = 1e-8}
-- A schedule r(t) = base(t) * r.scale, floored at `min` (but never raised
-- above base(t), so a warm-up still starts low): the plateau factor
-- multiplies whatever curve base is (a number, a warm-up, a cosine, a
-- sequence). Without base (or with a relative one) it is relative: the
-- option's value when attached is the base (ReduceLROnPlateau starts from
-- the optimizer's lr), set on r itself, since r keeps one run's state:
-- until then r's metatable is Unbound, whose __bind sets it. Feed it the
-- validation metric with r:update(metric [, net]); each time ol.plateau
-- says a reduction is due, scale *= factor (unless the floor was already
-- reached). r.plateau is the underlying ol.plateau, and r.diagnosis its
-- diagnosis. Attach with r:attach(opt [, field = "lr"]) or
-- opt:schedule("lr", r); r.fn is r as a plain function.
local Reduce = {}
Reduce.__index = Reduce
Reduce.__call = function(r, t) return r:value(t) end

local Unbound = {__index = Reduce, __call = Reduce.__call}
Unbound.__bind = function(r, value)
  r.base = r.base == nil and value or bind(r.base, value)
  setmetatable(r, Reduce)
  return r.fn
end

function M.reduce_on_plateau(opts)
  local o = check("reduce_on_plateau", opts, {
    base = {"number|function"},
    factor = {"number", default = 0.1, gt = 0, lt = 1},
    patience = {"integer", default = 10, min = 0},
    min = {"number", default = 0, min = 0},
    mode = {"string", default = "min", one_of = {"min", "max"}},
    threshold = {"number", default = 1e-4, min = 0},
    threshold_mode = {"string", default = "rel", one_of = {"rel", "abs"}},
    cooldown = {"integer", default = 0, min = 0},
    eps = {"number", default = 1e-8, min = 0},
  })
  local plateau = require("optlua.plateau")
  local ok, p = pcall(plateau, {mode = o.mode, patience = o.patience, threshold = o.threshold,
                                threshold_mode = o.threshold_mode, cooldown = o.cooldown,
                                factor = o.factor, min = o.min})
  if not ok then
    local msg = tostring(p):gsub("^[^\n]-:%d+: ", ""):gsub("'plateau'", "'reduce_on_plateau'")
    error(msg, 2)
  end
  local r = setmetatable({base = o.base, factor = o.factor, min = o.min, eps = o.eps,
                          scale = 1, plateau = p, reductions = 0, t = 0},
                         (o.base == nil or binder(o.base)) and Unbound or Reduce)
  r.fn = function(t) return r:value(t) end  -- a plain function, for APIs that want one
  return r
end

-- opt:schedule binds an unbound r and stores r.fn.
function Reduce:attach(opt, field)
  opt:schedule(field or "lr", getmetatable(self) == Unbound and self or self.fn)
  return opt
end

function Reduce:value(t)
  if getmetatable(self) == Unbound then
    error("ol.schedule.reduce_on_plateau without base has no base value: it scales the option's value when "
          .. "attached with r:attach(opt) or opt:schedule(field, r); give base = ... to call it on its own", 2)
  end
  self.t = t
  local b = value_at(self.base, t)
  local v = b * self.scale
  if v < self.min then v = math.min(self.min, b) end
  return v
end

-- Returns true when the value was reduced. The floor test uses the value at
-- the last step seen (as torch compares old and new lr, with eps).
function Reduce:update(metric, net)
  if not self.plateau:update(metric, net) then
    self.diagnosis = self.plateau.diagnosis
    return false
  end
  self.diagnosis = self.plateau.diagnosis
  if getmetatable(self) == Unbound then -- not attached yet: no base to floor against
    self.scale = self.scale * self.factor
    self.reductions = self.reductions + 1
    return true
  end
  local b = value_at(self.base, math.max(self.t, 1))
  local old = b * self.scale
  local new = math.max(old * self.factor, self.min)
  if old - new > self.eps then
    self.scale = b ~= 0 and new / b or self.scale * self.factor
    self.reductions = self.reductions + 1
    return true
  end
  return false
end
Reduce.step = Reduce.update

-- Plain-table state for checkpoints, and its restore.
function Reduce:state()
  return {scale = self.scale, reductions = self.reductions, t = self.t,
          plateau = self.plateau:state()}
end

function Reduce:load_state(s)
  self.scale, self.reductions, self.t = s.scale, s.reductions, s.t
  self.plateau:load_state(s.plateau)
  return self
end

return M
