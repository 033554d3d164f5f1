-- ol.spectrum: the curvature of a loss, during training too.
--
--   ol.spectrum.eigs(net, x, target, kind [, {k = 5, which = "both", steps,
--                    vectors = false, gauss_newton = false, loss_options}])
--   ol.spectrum.eigs(f, x [, {k, which, steps, vectors}])
--     -> {top = {descending}, bottom = {ascending}, steps = taken,
--         top_vectors = {k, n}, bottom_vectors = {k, n} (with vectors = true)}
--   ol.spectrum.density(net, x, target, kind [, {vectors = 10, steps = 80,
--                       sigma, points = 10000, gauss_newton, loss_options}])
--   ol.spectrum.density(f, x [, {...}])
--     -> d with d.nodes, d.weights (one list per start vector), d.grid,
--        d.density, d.sigma; d:plot(file [, {title, logy = true}]), tostring(d)
--   ol.spectrum.track{model =, optimizer =, data = dataset, rows = 1000,
--                     loss = "cross_entropy", loss_options, k = 5, every = 1,
--                     which = "both", steps, gauss_newton = false}
--     -> tracker: ol.train{on_epoch = tracker} or tracker(s) from a hook;
--        tracker.history, tracker:plot(file [, {title}]), tostring(tracker)
--   ol.spectrum.extremes(c) -> lambda_min, lambda_max (nil when unknown) of
--     an eigs result or a tracker's latest record
--
-- The operator is the Hessian of the loss in the parameters: for a model,
-- exact products by the R-operator (or Gauss-Newton products with
-- gauss_newton = true); for f(x) -> loss, grad, central differences of the
-- gradient, refused when they are not symmetric (ol._hessian_lanczos in
-- lua/l_second.c holds the tolerance). Both go through Lanczos with full
-- reorthogonalisation (ol_lanczos_ritz, engine/linalg/linalg.h).
--
-- eigs: one Lanczos run of `steps` steps (default min(n, max(3k, 30)),
-- n the parameter count) from a fixed start vector (no RNG drawn); its
-- largest and smallest Ritz values. They are the exact eigenvalues when
-- steps = n and converge fastest when the ends of the spectrum are well
-- separated from the rest; a negative bottom value tells a saddle from a
-- minimum.
--
-- density: stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019,
-- "An Investigation into Neural Net Optimization via Hessian Eigenvalue
-- Density"; their code google/spectral-density). For each of `vectors`
-- Rademacher start vectors v (entries +-1 with equal chance, by the sign
-- of a uniform draw of ol's RNG: ol.seed fixes them), `steps` Lanczos steps
-- give nodes theta_j (the Ritz values) and weights tau_j (the squared first
-- components of the tridiagonal's unit eigenvectors, summing to 1), the
-- Gauss quadrature of v'f(H)v / v'v. The density is
--   phi(lambda) = (1/vectors) sum_v sum_j tau_j N(lambda; theta_j, sigma^2),
-- a mixture of unit Gaussians whose weights sum to 1, so it integrates to
-- 1. sigma defaults to the paper code's kernel width, variance 1e-5 *
-- max(1, theta_max - theta_min) (theta over every node of every vector).
-- The grid holds `points` evenly spaced values from theta_min - 5 sigma to
-- theta_max + 5 sigma (the paper's code extends its grid by 0.01 only and
-- rescales the density to sum to 1 over it; this grid holds every kernel's
-- mass to within 3e-7, so no rescaling is done). Each kernel is summed over
-- the grid points within 8 sigma of its node (beyond, it is below 1.3e-14
-- of its peak). When steps > n the steps are n (for the default) or an
-- error (when asked for).
--
-- track: at every `every`-th call (epoch), the top-k and bottom-k Hessian
-- eigenvalues of the model's loss on a fixed batch, the dataset's first
-- `rows` rows (its own order, no RNG drawn), as eigs computes them, and the
-- optimizer's lr and momentum (group 1's). Each record:
--   {epoch, step, top = {descending}, bottom = {ascending}, lr, momentum,
--    threshold}
-- threshold is the edge of stability (Cohen et al. 2021, "Gradient Descent
-- on Neural Networks Typically Occurs at the Edge of Stability"): gradient
-- descent on a quadratic diverges along a direction of curvature lambda
-- once lambda > 2/lr. With heavy-ball momentum beta (sgd's momentum,
-- dampening d: a step of lr (1 - d)) the bound is (2 + 2 beta) / (lr (1 - d));
-- with Nesterov momentum (sgd's nesterov, nag) it is
-- (2 + 2 beta) / (lr (1 + 2 beta)) (the roots of the two-step recurrence on
-- a quadratic reach -1 there). Other optimizers have no such bound (nil).
-- The computation overwrites the model's gradient (net:grads()) with the
-- fixed batch's and changes nothing else of the model or optimizer.
local ol = require "optlua"
local args = ol._args

local M = {}

local type_name = args.typename
local function is(v, name) return v ~= nil and args.typename(v) == name end

-- The operator's arguments: (net, x, target, kind, opts) or (f, x, opts).
-- Returns the argument list for ol._hessian_lanczos less its options, the
-- options table, its argument number, the parameter count and whether it
-- is a model. level: the user's call, as error() counts it from here.
local function operator(fname, level, a)
  if is(a[1], "optlua.model") then
    if not ol.istensor(a[2]) then
      args.error(fname, 2, "input x (a tensor) expected, got " .. type_name(a[2]), level + 1)
    end
    return {a[1], a[2], a[3], a[4], n = 4}, a[5], 5, a[1]:num_params(), true
  end
  local f = a[1]
  local mt = getmetatable(f)
  if type(f) ~= "function" and not (type(mt) == "table" and mt.__call) then
    args.error(fname, 1, "function f(x) -> loss, grad, or a model expected, got " .. type_name(f), level + 1)
  end
  if not ol.istensor(a[2]) then
    args.error(fname, 2, "x (a tensor) expected, got " .. type_name(a[2]), level + 1)
  end
  return {f, a[2], n = 2}, a[3], 3, a[2]:numel(), false
end

-- The internal options of ol._hessian_lanczos.
local function lanczos(base, opts)
  local a, count = {}, base.n
  for i = 1, count do a[i] = base[i] end
  a[count + 1] = opts
  return ol._hessian_lanczos(table.unpack(a, 1, count + 1))
end

-- steps: given (checked against k and n) or min(n, default).
local function steps_for(fname, argn, given, default, k, n, level)
  if given == nil then return math.min(n, default) end
  if given > n then
    args.error(fname, argn, string.format("option 'steps' must be <= %d (the parameters), got %d", n, given), level + 1)
  end
  if given < k then
    args.error(fname, argn, string.format("option 'steps' must be >= k (%d), got %d", k, given), level + 1)
  end
  return given
end

local function check_k(fname, argn, k, n, level)
  if k > n then
    args.error(fname, argn, string.format("option 'k' must be in 1..%d (the parameters), got %d", n, k), level + 1)
  end
end

local WHICH = {"both", "top", "bottom"}

-- ---- eigs -------------------------------------------------------------------

local EIGS = {
  k = {"integer", default = 5, min = 1},
  which = {"string", default = "both", one_of = WHICH},
  steps = {"integer", min = 1},
  vectors = {"boolean", default = false},
  gauss_newton = {"boolean"},
  loss_options = {"table"},
}

-- The eigs result of one Lanczos run r (ol._hessian_lanczos's table).
local function ends(r, k, which)
  local out = {steps = r.steps}
  local nodes = r.nodes
  if which ~= "bottom" then
    out.top = {}
    for i = 1, k do out.top[i] = nodes[#nodes + 1 - i] end
    out.top_vectors = r.top_vectors
  end
  if which ~= "top" then
    out.bottom = {}
    for i = 1, k do out.bottom[i] = nodes[i] end
    out.bottom_vectors = r.bottom_vectors
  end
  return out
end

local Eigs = {__name = "optlua.spectrum.eigs"}
Eigs.__index = Eigs

local function list(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = string.format("%.6g", v) end
  return "{" .. table.concat(s, ", ") .. "}"
end

function Eigs.__tostring(e)
  local parts = {}
  if e.top then parts[#parts + 1] = "top " .. list(e.top) end
  if e.bottom then parts[#parts + 1] = "bottom " .. list(e.bottom) end
  return string.format("Hessian eigenvalues (Lanczos, %d steps): %s", e.steps, table.concat(parts, ", "))
end

-- gauss_newton is a model's option: a function's curvature is its Hessian.
local function check_gauss_newton(fname, argn, o, model)
  if not model and o.gauss_newton ~= nil then
    args.error(fname, argn, "option 'gauss_newton' needs a model (a function's curvature is its Hessian)", 3)
  end
end

function M.eigs(...)
  local fname = "spectrum.eigs"
  local base, opts, argn, n, model = operator(fname, 2, {...})
  local o = args.options(fname, argn, opts, EIGS, 2)
  check_gauss_newton(fname, argn, o, model)
  check_k(fname, argn, o.k, n, 2)
  local steps = steps_for(fname, argn, o.steps, math.max(3 * o.k, 30), o.k, n, 2)
  local r = lanczos(base, {
    fname = fname, steps = steps, gauss_newton = o.gauss_newton, loss_options = o.loss_options,
    k_lo = (o.vectors and o.which ~= "top") and o.k or 0,
    k_hi = (o.vectors and o.which ~= "bottom") and o.k or 0,
  })
  if r.steps < o.k then
    args.error(fname, argn, string.format("the start vector spans an invariant subspace of dimension %d < k = %d",
               r.steps, o.k), 2)
  end
  return setmetatable(ends(r, o.k, o.which), Eigs)
end

-- lambda_min, lambda_max of an eigs result or a tracker (its latest
-- record), each nil when not computed.
function M.extremes(c)
  if type(c) ~= "table" then return nil, nil end
  local r = c
  if type(c.history) == "table" then r = c.history[#c.history] end
  if type(r) ~= "table" then return nil, nil end
  return r.bottom and r.bottom[1], r.top and r.top[1]
end

-- ---- density ----------------------------------------------------------------

local DENSITY = {
  vectors = {"integer", default = 10, min = 1},
  steps = {"integer", min = 1},
  sigma = {"number", gt = 0},
  points = {"integer", default = 10000, min = 2},
  gauss_newton = {"boolean"},
  loss_options = {"table"},
}

-- The kernel width of the paper's code for nodes spanning [lo, hi].
local function default_sigma(lo, hi) return math.sqrt(1e-5 * math.max(1, hi - lo)) end

-- The density on a uniform grid of `points` values over [lo - 5 sigma,
-- hi + 5 sigma] of the mixture of nodes[v][j], weights[v][j].
local function smooth(nodes, weights, sigma, points)
  local lo, hi = math.huge, -math.huge
  for _, t in ipairs(nodes) do
    for _, x in ipairs(t) do lo, hi = math.min(lo, x), math.max(hi, x) end
  end
  sigma = sigma or default_sigma(lo, hi)
  local a, b = lo - 5 * sigma, hi + 5 * sigma
  local dx = (b - a) / (points - 1)
  local grid, dens = {}, {}
  for g = 1, points do grid[g], dens[g] = a + (g - 1) * dx, 0 end
  local c = 1 / (#nodes * sigma * math.sqrt(2 * math.pi))
  for v, t in ipairs(nodes) do
    for j, x in ipairs(t) do
      local w = weights[v][j] * c
      local g0 = math.max(1, math.floor((x - 8 * sigma - a) / dx) + 1)
      local g1 = math.min(points, math.ceil((x + 8 * sigma - a) / dx) + 1)
      for g = g0, g1 do
        local z = (grid[g] - x) / sigma
        dens[g] = dens[g] + w * math.exp(-0.5 * z * z)
      end
    end
  end
  return grid, dens, sigma
end

local Density = {__name = "optlua.spectrum.density"}
Density.__index = Density

function Density.__tostring(d)
  return string.format("spectral density (stochastic Lanczos quadrature): %d vectors x %d steps, "
    .. "nodes in [%.6g, %.6g], sigma %.3g, %d grid points", #d.nodes, d.steps, d.grid[1] + 5 * d.sigma,
    d.grid[#d.grid] - 5 * d.sigma, d.sigma, #d.grid)
end

-- d:plot(file [, {title, logy = true}]): the density against lambda, with
-- a margin of 3% of the grid's width on either side; on a log scale (as in
-- the paper) values below 1e-7 of the peak are drawn at that floor.
function Density:plot(file, opts)
  opts = args.options("plot", 2, opts, {title = {"string"}, logy = {"boolean", default = true}}, 2)
  if type(file) ~= "string" then args.error("plot", 1, "picture file name expected", 2) end
  local peak = 0
  for _, v in ipairs(self.density) do peak = math.max(peak, v) end
  local y = {}
  for i, v in ipairs(self.density) do y[i] = opts.logy and math.max(v, 1e-7 * peak) or v end
  local lo, hi = self.grid[1], self.grid[#self.grid]
  local pad = 0.03 * (hi - lo)
  return ol.plot.lines{
    series = {{name = string.format("density (%d vectors, %d steps, sigma %.2g)", #self.nodes, self.steps, self.sigma),
               x = self.grid, y = y}},
    logy = opts.logy, xlabel = "eigenvalue lambda", ylabel = "density", xrange = {lo - pad, hi + pad},
    title = opts.title or "Hessian eigenvalue density (stochastic Lanczos quadrature)", file = file}
end

function M.density(...)
  local fname = "spectrum.density"
  local base, opts, argn, n, model = operator(fname, 2, {...})
  local o = args.options(fname, argn, opts, DENSITY, 2)
  check_gauss_newton(fname, argn, o, model)
  local steps = steps_for(fname, argn, o.steps, 80, 1, n, 2)
  local d = setmetatable({nodes = {}, weights = {}, steps = steps, vectors = o.vectors}, Density)
  -- a failed run (an operator refused, a loss error) leaves the RNG as it was
  local rng = ol._rng_state()
  local ok, err = pcall(function()
    for v = 1, o.vectors do
      local start = (ol.rand(n, "f64") * 2 - 1):sign()
      local r = lanczos(base, {fname = fname, steps = steps, start = start, gauss_newton = o.gauss_newton,
                               loss_options = o.loss_options})
      d.nodes[v], d.weights[v] = r.nodes, r.weights
    end
  end)
  if not ok then
    ol._rng_set_state(rng)
    error(err, 0)
  end
  d.grid, d.density, d.sigma = smooth(d.nodes, d.weights, o.sigma, o.points)
  return d
end

-- ---- track ------------------------------------------------------------------

local TRACK = {
  model = {"any", required = true},
  optimizer = {"any", required = true},
  data = {"any", required = true},
  rows = {"integer", default = 1000, min = 1},
  loss = {"string", default = "cross_entropy"},
  loss_options = {"table"},
  k = {"integer", default = 5, min = 1},
  every = {"integer", default = 1, min = 1},
  which = {"string", default = "both", one_of = WHICH},
  steps = {"integer", min = 1},
  gauss_newton = {"boolean", default = false},
}

-- An option of the optimizer (group 1's), nil when it has none.
local function field(opt, name)
  local ok, v = pcall(function() return opt[name] end)
  if ok then return v end
  return nil
end

-- The edge-of-stability bound of opt at its current options (see the top).
local function threshold(opt)
  local lr = field(opt, "lr")
  if type(lr) ~= "number" or lr <= 0 then return nil end
  local name = opt.name
  if name == "sgd" then
    local beta = field(opt, "momentum") or 0
    if beta == 0 then return 2 / lr end
    if field(opt, "nesterov") then return (2 + 2 * beta) / (lr * (1 + 2 * beta)) end
    local step = lr * (1 - (field(opt, "dampening") or 0))
    return step > 0 and (2 + 2 * beta) / step or nil
  elseif name == "nag" then
    local beta = field(opt, "momentum") or 0
    return (2 + 2 * beta) / (lr * (1 + 2 * beta))
  end
  return nil
end
M._threshold = threshold

-- The name of the bound drawn for opt (for the plot's key).
local function threshold_name(opt)
  local beta = field(opt, "momentum") or 0
  if opt.name == "nag" or (opt.name == "sgd" and beta > 0 and field(opt, "nesterov")) then
    return "(2+2b)/(lr(1+2b)), Nesterov b = " .. string.format("%.3g", beta)
  elseif opt.name == "sgd" and beta > 0 then
    return "(2+2b)/lr, heavy ball b = " .. string.format("%.3g", beta)
  end
  return "2/lr"
end

local Tracker = {__name = "optlua.spectrum.tracker"}
Tracker.__index = Tracker

-- tracker(s): s is ol.train's state (s.epoch, s.step) or nil (then the
-- call count stands for the epoch). Returns nothing, so that training
-- goes on.
function Tracker.__call(self, s)
  self.calls = self.calls + 1
  local epoch = type(s) == "table" and s.epoch or self.calls
  if epoch % self.every ~= 0 then return end
  local r = lanczos({self.model, self.x, self.target, self.loss, n = 4}, {
    fname = "spectrum.track", steps = self.steps, gauss_newton = self.gauss_newton or nil,
    loss_options = self.loss_options})
  local rec = ends(r, math.min(self.k, r.steps), self.which)
  rec.top_vectors, rec.bottom_vectors = nil, nil
  rec.epoch, rec.step = epoch, type(s) == "table" and s.step or nil
  rec.lr, rec.momentum = field(self.optimizer, "lr"), field(self.optimizer, "momentum")
  rec.threshold = threshold(self.optimizer)
  self.history[#self.history + 1] = rec
end

function Tracker.__tostring(t)
  local last = t.history[#t.history]
  if not last then return string.format("spectrum tracker (k = %d, every %d): no records yet", t.k, t.every) end
  local lmin, lmax = M.extremes(t)
  return string.format("spectrum tracker (k = %d, every %d): %d records; epoch %d: lambda_max %s, lambda_min %s, "
    .. "lr %.3g%s", t.k, t.every, #t.history, last.epoch, lmax and string.format("%.6g", lmax) or "-",
    lmin and string.format("%.6g", lmin) or "-", last.lr or 0 / 0,
    last.threshold and string.format(", edge of stability %.6g", last.threshold) or "")
end

-- tracker:plot(file [, {title}]): the top eigenvalues against the epoch
-- beside the edge-of-stability bound (2/lr, or its momentum form: the key
-- names the one drawn), and the bottom ones on a second panel with the
-- zero line (below it: negative curvature, a saddle).
function Tracker:plot(file, opts)
  opts = args.options("plot", 2, opts, {title = {"string"}}, 2)
  if type(file) ~= "string" then args.error("plot", 1, "picture file name expected", 2) end
  if #self.history == 0 then args.error("plot", 0, "no records yet (call the tracker, e.g. from on_epoch)", 2) end
  local P, colors = ol.plot, ol.plot.colors
  local epochs = {}
  for i, r in ipairs(self.history) do epochs[i] = r.epoch end
  local function column(part, i)
    local y = {}
    for j, r in ipairs(self.history) do y[j] = r[part] and r[part][i] or 0 / 0 end
    return y
  end
  local panels = {}
  if self.which ~= "bottom" then
    local series = {}
    for i = 1, self.k do
      series[#series + 1] = {name = i == 1 and "lambda_max" or ("lambda_" .. i), x = epochs, y = column("top", i),
                             color = colors[(i - 1) % #colors + 1], width = i == 1 and 2.5 or 1.2}
    end
    local th, any = {}, false
    for j, r in ipairs(self.history) do
      th[j] = r.threshold or 0 / 0
      any = any or r.threshold ~= nil
    end
    if any then
      series[#series + 1] = {name = "edge of stability " .. threshold_name(self.optimizer), x = epochs, y = th,
                             color = "#000000", width = 1.5}
    end
    panels[#panels + 1] = P._lines_panel("plot", {
      series = series, xlabel = "epoch", ylabel = "eigenvalue", lmargin = 12, key_room = true,
      title = opts.title or "largest Hessian eigenvalues"}, "a")
  end
  if self.which ~= "top" then
    local series = {}
    for i = 1, self.k do
      series[#series + 1] = {name = i == 1 and "lambda_min" or ("lambda_min," .. i), x = epochs,
                             y = column("bottom", i), color = colors[(i - 1) % #colors + 1],
                             width = i == 1 and 2.5 or 1.2}
    end
    local zero = {}
    for j = 1, #epochs do zero[j] = 0 end
    series[#series + 1] = {name = "0 (below: negative curvature)", x = epochs, y = zero, color = "#7f7f7f", width = 1}
    panels[#panels + 1] = P._lines_panel("plot", {
      series = series, xlabel = "epoch", ylabel = "eigenvalue", lmargin = 12, key_room = true,
      title = #panels == 0 and opts.title or "smallest Hessian eigenvalues"}, "b")
  end
  return P._render_panels("plot", file, panels, {#panels, 1}, 900, 380 * #panels)
end

-- The dataset's first `rows` rows as one batch in the model's dtype.
local function fixed_batch(ds, rows, dtype)
  local loader = ol.data.loader(ds, {batch_size = math.min(rows, #ds), shuffle = false, dtype = dtype})
  for x, y in loader:batches() do return x, y end
end

function M.track(opts)
  local fname = "spectrum.track"
  local o = args.options(fname, 1, opts, TRACK, 2)
  local function check(cond, msg) if not cond then args.error(fname, 1, msg, 3) end end
  check(is(o.model, "optlua.model"), "option 'model' must be a model, got " .. type_name(o.model))
  check(is(o.optimizer, "optlua.optim"), "option 'optimizer' must be an optimizer, got " .. type_name(o.optimizer))
  check(is(o.data, "optlua.dataset"), "option 'data' must be a dataset (ol.data.*), got " .. type_name(o.data))
  check(#o.data > 0, "option 'data': the dataset is empty")
  local net = o.model
  local first = net:layers()[1]
  if first and first.kind == "linear" then
    check(first["in"] == o.data.features, string.format("option 'data': the dataset has %d features, the model "
          .. "takes %d", o.data.features, first["in"]))
  end
  local n = net:num_params()
  check(o.k <= n, string.format("option 'k' must be in 1..%d (the parameters), got %d", n, o.k))
  if o.steps then
    check(o.steps <= n, string.format("option 'steps' must be <= %d (the parameters), got %d", n, o.steps))
    check(o.steps >= o.k, string.format("option 'steps' must be >= k (%d), got %d", o.k, o.steps))
  end
  local x, y = fixed_batch(o.data, o.rows, net:dtype())
  local t = setmetatable({
    model = net, optimizer = o.optimizer, x = x, target = y, loss = o.loss, loss_options = o.loss_options,
    k = o.k, every = o.every, which = o.which, gauss_newton = o.gauss_newton,
    steps = o.steps or math.min(n, math.max(3 * o.k, 30)), rows = x:size(1), history = {}, calls = 0,
  }, Tracker)
  return t
end

return M
