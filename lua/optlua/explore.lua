-- ol.explore: runs one optimizer on a test function (ol.fn) and records
-- its trajectory.
--
--   local run = ol.explore(f, "adam", {lr = 0.01},
--                          {x0 = {-1.5, 2}, steps = 500, tol = 1e-8, diverge = 1e6})
--
-- Recorded, for k = 0..steps (index k + 1; index 1 is the start x0):
--   run.path[k+1]       the point after k steps (a Lua array)
--   run.losses[k+1]     f there;   run.grad_norms[k+1]  ||grad f|| there
-- (f is evaluated once more after every step, so these are the values at
-- the iterates themselves, not at NAG's lookahead points.)
--   run.converged_at    the first k with f - f_min <= tol when f's minimum
--                       value is known (f.min_value), else the first k with
--                       ||grad f|| <= tol; nil if never
--   run.stationary_at   the first k with ||grad f|| <= tol (a minimum, a
--                       local minimum or a saddle point); nil if never
--   run.diverged_at     the first k with f not finite or |f| > diverge; the
--                       run stops there; nil if it never happened
--   run.final           {x, loss, grad_norm, distance (to the nearest
--                       known minimum, nil without one), steps}
--   run.evals           closure calls made by the optimizer
--   run:plot(file [, opts])   contour of f with the path (2-D f), beside
--                       the loss curve; opts: loss = false, contour = false,
--                       levels, bounds, grid, title
--   run:path_tensor()   the path as an N x D f64 tensor
-- run_options.stop_at_tol = true ends the run when converged_at is reached.
local ol = require "optlua"

local Run = {}
Run.__index = Run
Run.__name = "optlua.run"

-- Argument errors of explore and compare (which runs explore for each
-- entry), at the user's call: ol._args <- argerr <- explore [<- compare] <- caller.
local function argerr(fname, i, msg)
  ol._args.error(fname, i, msg, fname == "compare" and 4 or 3)
end

local function is_callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return mt ~= nil and type(mt) == "table" and mt.__call ~= nil
end

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

-- Euclidean distance from p to the nearest point of f.minimum, or nil.
local function nearest_minimum(f, p)
  local best
  if type(f) ~= "table" or type(f.minimum) ~= "table" then return nil end
  for _, m in ipairs(f.minimum) do
    local s = 0
    for i = 1, #p do s = s + (p[i] - (m[i] or 0)) ^ 2 end
    s = math.sqrt(s)
    if not best or s < best then best = s end
  end
  return best
end

local function copy_options(o)
  local c = {}
  for k, v in pairs(o or {}) do c[k] = v end
  return c
end

-- The run options: explore's argument 4, compare's 3 (which adds print).
local function run_options(fname, ro)
  local spec = {
    x0 = {"table|tensor"}, steps = {"integer", default = 500, min = 0},
    tol = {"number", default = 1e-8}, diverge = {"number", default = 1e6},
    stop_at_tol = {"boolean", default = false}, label = {"string"},
  }
  if fname == "compare" then spec.print = {"boolean", default = true} end
  -- ol._args <- run_options <- explore [<- compare] <- caller
  return ol._args.options(fname, fname == "compare" and 3 or 4, ro, spec, fname == "compare" and 4 or 3)
end

local function explore(f, name, options, ro, fname)
  fname = fname or "explore"
  if not is_callable(f) then argerr(fname, 1, "function expected (e.g. ol.fn.rosenbrock()), got " .. type(f)) end
  if type(name) ~= "string" then argerr(fname, 2, "optimizer name expected, got " .. type(name)) end
  local kind, why = ol.optim.kind(name)
  if not kind then argerr(fname, 2, why) end
  local ctor = ol.optim[name]
  if options ~= nil and type(options) ~= "table" then argerr(fname, 3, "options table expected, got " .. type(options)) end
  ro = run_options(fname, ro)
  local ro_arg = fname == "compare" and 3 or 4
  local x0 = ro.x0 or (type(f) == "table" and f.start)
  if ol.istensor(x0) then x0 = x0:reshape(x0:numel()):totable() end
  if type(x0) ~= "table" or #x0 == 0 then argerr(fname, ro_arg, "x0 (the starting point) expected") end
  for i = 1, #x0 do
    if type(x0[i]) ~= "number" then argerr(fname, ro_arg, "x0 must be a list of numbers") end
  end
  local steps, tol, diverge = ro.steps, ro.tol, ro.diverge

  local w = ol.tensor(x0, "f64")
  local opt = ctor(w, options and copy_options(options) or nil)
  local evals = 0
  local function closure()
    evals = evals + 1
    return f(w)
  end
  local fmin = type(f) == "table" and f.min_value or nil
  local run = setmetatable({
    f = f, optimizer_name = name, options = copy_options(options), label = ro.label or name,
    optimizer = opt, tol = tol, diverge = diverge, x0 = x0,
    path = {}, losses = {}, grad_norms = {},
  }, Run)
  local function record(k)
    local loss, g = f(w)
    local gn = g:norm()
    run.path[k + 1], run.losses[k + 1], run.grad_norms[k + 1] = w:totable(), loss, gn
    if not finite(loss) or math.abs(loss) > diverge then
      run.diverged_at = k
      return false
    end
    if not run.stationary_at and gn <= tol then run.stationary_at = k end
    if not run.converged_at then
      if (fmin and loss - fmin <= tol) or (not fmin and gn <= tol) then run.converged_at = k end
    end
    return not (ro.stop_at_tol and run.converged_at)
  end
  local k = 0
  if record(0) then
    for i = 1, steps do
      opt:step(closure)
      k = i
      if not record(i) then break end
    end
  end
  local last = #run.path
  run.evals = evals
  run.final = {x = run.path[last], loss = run.losses[last], grad_norm = run.grad_norms[last],
               distance = nearest_minimum(f, run.path[last]), steps = k}
  return run
end

-- The path as an N x D f64 tensor.
function Run:path_tensor()
  return ol.tensor(self.path, "f64")
end

-- The loss panel's series and axis. With f's minimum value known the
-- curves are f - f_min on a log axis, else f on a linear one. The axis
-- spans what the curves have to say:
--   * the range (linear) or the top (log) comes from the runs that did not
--     diverge (from all of them when every one did): a run that diverged
--     leaves the picture and its key entry says when;
--   * the log axis' floor: the lowest of the counted runs' lowest values
--     that is within SPAN of the top. A run that drops further (landing on
--     the minimum exactly, or passing through it: f - f_min of 1e-30 or 0)
--     would squash every other curve into the top of the picture; it runs
--     off the bottom instead, and its key entry says how low it went (0:
--     "f_min reached"). SPAN is 20 decades, more than double precision
--     resolves below the top (about 16): a fast method's descent to 1e-12
--     stays in view beside a slow one still near 1.
local SPAN = 1e20
local function loss_panel(fname, runs)
  local f = runs[1].f
  local fmin = type(f) == "table" and f.min_value or nil
  local logy = fmin ~= nil
  local some_finish = false
  for _, r in ipairs(runs) do some_finish = some_finish or not r.diverged_at end
  local values, counted, hi, lows = {}, {}, -math.huge, {}
  for i, r in ipairs(runs) do
    local y, low = {}, math.huge
    for k, v in ipairs(r.losses) do
      y[k] = logy and v - fmin or v
      if finite(y[k]) and (not logy or y[k] > 0) then low = math.min(low, y[k]) end
    end
    values[i] = y
    if not (some_finish and r.diverged_at) then
      for _, v in ipairs(y) do
        if finite(v) and (not logy or v > 0) then counted[#counted + 1], hi = v, math.max(hi, v) end
      end
      if low < math.huge then lows[#lows + 1] = low end
    end
  end
  local yrange
  if logy and #counted > 0 then
    local floor = hi
    for _, low in ipairs(lows) do
      if low >= hi / SPAN then floor = math.min(floor, low) end
    end
    yrange = ol.plot._log_range(floor, hi)
  elseif not logy then
    yrange = ol.plot._axis_range(counted, false)
  end
  local series = {}
  for i, r in ipairs(runs) do
    local y, notes = values[i], {}
    if yrange then
      local low, low_at, zero_at = math.huge, nil, nil
      for k, v in ipairs(y) do
        if logy and finite(v) and v <= 0 then
          zero_at = zero_at or k - 1
          y[k] = yrange[1] / 10 -- off the bottom, so the line drops out of the picture
        elseif finite(v) and v < low then
          low, low_at = v, k - 1
        elseif v == math.huge or v == -math.huge then -- off the axis on its side
          y[k] = logy and yrange[2] * 10
                 or (v > 0 and yrange[2] + (yrange[2] - yrange[1]) or yrange[1] - (yrange[2] - yrange[1]))
        end
      end
      if zero_at then
        notes[#notes + 1] = string.format("f_min reached at step %d", zero_at)
      elseif logy and low < yrange[1] then
        notes[#notes + 1] = string.format("down to %.2g at step %d", low, low_at)
      end
    end
    if r.diverged_at then notes[#notes + 1] = string.format("diverged at step %d", r.diverged_at) end
    local x = {}
    for k = 1, #y do x[k] = k - 1 end
    series[i] = {name = #notes > 0 and (r.label .. " (" .. table.concat(notes, ", ") .. ")") or r.label,
                 x = x, y = y, color = ol.plot.colors[(i - 1) % #ol.plot.colors + 1]}
  end
  return ol.plot._lines_panel(fname, {
    series = series, logy = logy, yrange = yrange, key_room = true, xlabel = "step", ylabel = logy and "f - f_min" or "f",
    title = (type(f) == "table" and f.name or "f") .. ": loss"}, "b")
end

-- f's bounds widened to show the paths, unless a path ran far away
-- (diverged): then the bounds stay and the path is clipped.
local function plot_bounds(f, runs)
  local b = f.bounds
  local x0, x1, y0, y1 = b[1][1], b[1][2], b[2][1], b[2][2]
  local w, h = x1 - x0, y1 - y0
  for _, r in ipairs(runs) do
    for _, p in ipairs(r.path) do
      if finite(p[1]) and finite(p[2]) and p[1] > b[1][1] - 2 * w and p[1] < b[1][2] + 2 * w
         and p[2] > b[2][1] - 2 * h and p[2] < b[2][2] + 2 * h then
        x0, x1 = math.min(x0, p[1]), math.max(x1, p[1])
        y0, y1 = math.min(y0, p[2]), math.max(y1, p[2])
      end
    end
  end
  if x0 < b[1][1] or x1 > b[1][2] then local m = 0.03 * (x1 - x0); x0, x1 = x0 - m, x1 + m end
  if y0 < b[2][1] or y1 > b[2][2] then local m = 0.03 * (y1 - y0); y0, y1 = y0 - m, y1 + m end
  return {{x0, x1}, {y0, y1}}
end

-- Draws runs of one function: contour with the paths (2-D f with bounds)
-- and/or the loss curves. Shared by run:plot and comparison:plot.
-- opts is argument 2 of run:plot and cmp:plot, which tail-call this.
local function plot_runs(fname, runs, file, opts)
  opts = ol._args.options(fname, 2, opts, {
    loss = {"boolean", default = true}, contour = {"boolean", default = true},
    levels = {"number|table"}, bounds = {"table"}, grid = {"integer", min = 2},
    title = {"string"}, only = {"table"},
  })
  if opts.only then -- a subset by label, in the order given
    local by, sub = {}, {}
    for _, r in ipairs(runs) do by[r.label] = r end
    for _, l in ipairs(opts.only) do
      if not by[l] then ol._args.error(fname, 2, string.format("no run labelled '%s'", tostring(l))) end
      sub[#sub + 1] = by[l]
    end
    runs = sub
  end
  local P = ol.plot
  local f = runs[1].f
  local panels = {}
  local two_d = type(f) == "table" and f.dim == 2 and f.bounds
  if two_d and opts.contour ~= false then
    local paths = {}
    for i, r in ipairs(runs) do paths[i] = {name = r.label, points = r.path} end
    panels[#panels + 1] = P._contour_panel(fname, {
      f = f, bounds = opts.bounds or plot_bounds(f, runs), paths = paths, levels = opts.levels,
      title = opts.title or (f.name .. ": trajectories"), grid = opts.grid}, "a")
  end
  if opts.loss ~= false or #panels == 0 then panels[#panels + 1] = loss_panel(fname, runs) end
  local w = #panels == 2 and 1400 or 800
  return P._render_panels(fname, file, panels, {1, #panels}, w, 600)
end

function Run:plot(file, opts)
  return plot_runs("plot", {self}, file, opts)
end

function Run:__tostring()
  local fin = self.final
  return string.format("optlua.run (%s on %s: %d steps, loss %.6g, converged_at %s, diverged_at %s)",
                       self.label, type(self.f) == "table" and self.f.name or "f", fin.steps, fin.loss,
                       tostring(self.converged_at), tostring(self.diverged_at))
end

return setmetatable({run = explore, Run = Run, _plot_runs = plot_runs}, {
  __call = function(_, ...) return explore(...) end,
})
