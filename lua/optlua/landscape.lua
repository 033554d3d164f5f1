-- ol.landscape: the loss of a model over a dataset along a line and over a
-- plane of parameter space.
--
--   ol.landscape.line(net, data, w_a, w_b, {steps = 25, from = 0, to = 1,
--                     loss = "cross_entropy", loss_options = nil})
--     the loss at w = (1 - t) w_a + t w_b for `steps` values of t evenly
--     from `from` to `to` (Goodfellow et al. 2015, "Qualitatively
--     characterizing neural network optimization problems").
--     -> r.alphas, r.losses, r.accuracies (cross_entropy only), r:plot(file)
--   ol.landscape.plane(net, data, {center = net:params(), directions =
--                      "filter_normalized" | "pca" | {d1, d2}, trajectory =
--                      {w_1, ..., w_T}, range = 1 | {xmin, xmax, ymin, ymax},
--                      resolution = 41, loss =, loss_options =})
--     (range for pca: by default the path's extent and the centre, widened
--     by a quarter of it each side)
--     the loss over the grid c + a d1 + b d2 (Li et al. 2018, "Visualizing
--     the Loss Landscape of Neural Nets").
--     -> r.xs, r.ys, r.losses[j][i] (at xs[i], ys[j]), r.accuracies, r.d1,
--        r.d2, r.path, r.explained (pca), r:plot(file)
--   ol.landscape.recorder(net [, {initial = true}]) -> rec, a callable for
--     ol.train's on_epoch: rec.weights, one clone of net:params() per call
--     (and the parameters at the time it was made first, unless initial =
--     false)
--
-- w_a, w_b, center, d1, d2 and the trajectory's points are flat parameter
-- vectors like net:params(), in the model's dtype. data is an ol.data
-- dataset; every row is read, in evaluation mode, as ol.evaluate reads it
-- (and the value at a point is ol.evaluate's with the parameters set to
-- it). The model's parameters are as they were afterwards, bit for bit,
-- also after an error.
--
-- Directions of a plane:
--   "filter_normalized" (Li et al., section 4; the reference code's
--     norm = 'filter', ignore = 'biasbn'): a Gaussian vector drawn from
--     ol's RNG (ol.seed fixes it) for every weight matrix, each row (the
--     incoming weights of one output unit: a filter) scaled to the norm of
--     the same row of the centre's weights; zero for biases and for the
--     parameters of norm layers. d1 and d2 are two independent draws.
--   "pca" (Li et al., section 7): the two principal axes of the
--     trajectory's points (at least 3), from the T x T Gram matrix of the
--     centred points w_i - mean (the points' covariance, up to a factor,
--     shares its nonzero eigenvalues and gives its eigenvectors as
--     (W - mean)^T u / sqrt(lambda)), unit norm, each with the share of the
--     variance it explains (r.explained), its largest entry positive.
--   {d1, d2}: given, linearly independent.
-- The path (with a trajectory) is each w_i - c in the basis d1, d2 by
-- least squares: the coordinates (a, b) of the nearest point of the plane.
--
-- Speed: when the first layer is linear (any ol.nn.mlp), its products with
-- the data are made once per chunk of 1024 rows for all the points, since
-- x (W + a D1 + b D2)^T = x W^T + a x D1^T + b x D2^T; a point then costs
-- the rest of the forward pass (engine/train/landscape.h). A model whose
-- first layer is another one runs the whole forward pass at every point.
local ol = package.loaded.optlua or optlua or require("optlua")
local args = ol._args
local C = ol._landscape

local M = {}

local function user_level() return ol.plot._user_level() - 1 end

local function argerr(fname, i, msg) args.error(fname, i, msg, user_level()) end

local function is_model(v)
  local mt = type(v) == "userdata" and getmetatable(v)
  return mt and mt.__name == "optlua.model" or false
end

local function is_dataset(v)
  local mt = type(v) == "userdata" and getmetatable(v)
  return mt and mt.__name == "optlua.dataset" or false
end

-- The model and data of fname(net, data, ...): a model, and a non-empty
-- dataset of its input width.
local function check_net_data(fname, net, data)
  if not is_model(net) then argerr(fname, 1, "model expected, got " .. type(net)) end
  if not is_dataset(data) then
    argerr(fname, 2, "dataset expected (ol.data), got " .. (data == nil and "no value" or type(data)))
  end
  if #data == 0 then argerr(fname, 2, "the data set is empty") end
  local inputs = net:sizes()[1]
  if data.features ~= inputs then
    argerr(fname, 2, string.format("the data have %d features but the model takes %d", data.features, inputs))
  end
end

-- A flat parameter vector of net (what = its name in messages), made
-- contiguous.
local function check_vector(fname, i, what, t, net)
  if not ol.istensor(t) then argerr(fname, i, what .. " must be a tensor of the model's parameters") end
  if t:dtype() ~= net:dtype() then
    argerr(fname, i, string.format("%s is %s but the model is %s", what, t:dtype(), net:dtype()))
  end
  if t:numel() ~= net:num_params() then
    argerr(fname, i, string.format("%s has %d values, the model has %d parameters", what, t:numel(),
                                   net:num_params()))
  end
  return t:contiguous():view(t:numel())
end

-- C.evaluate's results, its errors raised at the user's call.
local function evaluate(...)
  local ok, losses, accs = pcall(C.evaluate, ...)
  if not ok then error(losses, user_level()) end
  return losses, accs
end

-- The loss options shared by line and plane.
local LOSS = {loss = {"string", default = "cross_entropy"}, loss_options = {"table"}}
local function with_loss(spec)
  for k, v in pairs(LOSS) do spec[k] = v end
  return spec
end

-- ---- line ----

local Line = {}
Line.__index = Line
Line.__name = "optlua.landscape.line"

function M.line(net, data, w_a, w_b, opts)
  check_net_data("line", net, data)
  local a = check_vector("line", 3, "w_a", w_a, net)
  local b = check_vector("line", 4, "w_b", w_b, net)
  local o = args.options("line", 5, opts, with_loss{
    steps = {"integer", default = 25, min = 2},
    from = {"number", default = 0},
    to = {"number", default = 1},
  }, user_level())
  if not (o.from < o.to) then argerr("line", 5, "option 'from' must be < 'to'") end
  local alphas, k = {}, {}
  for i = 1, o.steps do
    local t = i == o.steps and o.to or o.from + (o.to - o.from) * (i - 1) / (o.steps - 1)
    alphas[i] = t
    k[#k + 1], k[#k + 2], k[#k + 3] = 1 - t, t, 0
  end
  local losses, accs = evaluate("line", 2, 5, net, data, a, b, nil, k, o.loss, o.loss_options)
  return setmetatable({alphas = alphas, losses = losses,
                       accuracies = o.loss == "cross_entropy" and accs or nil,
                       loss = o.loss, rows = #data}, Line)
end

function Line:__tostring()
  local out = {string.format("loss along a line (%s over %d rows): %d points from %g to %g",
                             self.loss, self.rows, #self.alphas, self.alphas[1], self.alphas[#self.alphas])}
  out[#out + 1] = self.accuracies and string.format("%10s %12s %9s", "alpha", "loss", "accuracy")
                  or string.format("%10s %12s", "alpha", "loss")
  for i, t in ipairs(self.alphas) do
    out[#out + 1] = self.accuracies and string.format("%10.4g %12.6g %8.2f%%", t, self.losses[i],
                                                      100 * self.accuracies[i])
                    or string.format("%10.4g %12.6g", t, self.losses[i])
  end
  return table.concat(out, "\n")
end

-- r:plot(file [, {title =}]): the loss against alpha (log scale when every
-- loss is > 0), and the accuracy below it for cross_entropy.
function Line:plot(file, opts)
  local o = args.options("plot", 2, opts, {title = {"string"}}, user_level())
  local P = ol.plot
  local positive = true
  for _, v in ipairs(self.losses) do if not (v > 0) then positive = false end end
  local xr = {self.alphas[1], self.alphas[#self.alphas]}
  local panels = {P._lines_panel("plot", {series = {{name = "loss", x = self.alphas, y = self.losses}},
                                          logy = positive, ylabel = self.loss .. " loss", xrange = xr,
                                          lmargin = 12, xlabel = not self.accuracies and "alpha" or nil,
                                          title = o.title or "loss along (1 - alpha) w_a + alpha w_b"}, "a")}
  if self.accuracies then
    panels[2] = P._lines_panel("plot", {series = {{name = "accuracy", x = self.alphas, y = self.accuracies,
                                                   color = P.colors[2]}},
                                        ylabel = "accuracy", xlabel = "alpha", xrange = xr, lmargin = 12}, "b")
  end
  return P._render_panels("plot", file, panels, {#panels, 1}, 800, #panels == 2 and 700 or 450)
end

-- ---- directions ----

-- Two filter-normalised random directions at centre c (Li et al. sec. 4).
local function filter_normalized(net, c)
  local dt, np = net:dtype(), net:num_params()
  local dirs = {}
  for k = 1, 2 do
    local d = ol.zeros(np, dt)
    for _, p in ipairs(net:parameters()) do
      local t = p.tensor
      if t:dim() == 2 then -- a linear layer's weight, out x in: one row per filter
        local rows, cols = t:size(1), t:size(2)
        local r = ol.randn(rows, cols, dt)
        local cw = c:narrow(1, p.offset, rows * cols):view(rows, cols)
        for i = 1, rows do
          local row = r[i]
          row:mul_(cw[i]:norm() / (row:norm() + 1e-10))
        end
        d:narrow(1, p.offset, rows * cols):view(rows, cols):copy_(r)
      end -- biases and norm layers' parameters stay zero
    end
    dirs[k] = d
  end
  return dirs[1], dirs[2]
end

-- The top two principal axes of the trajectory's points (unit norm, the
-- largest entry of each positive) and the shares of the variance they
-- explain (Li et al. sec. 7).
local function pca_directions(net, traj)
  local T, np = #traj, net:num_params()
  local W = ol.zeros(T, np, "f64")
  for i, w in ipairs(traj) do W[i]:copy_(w:to("f64")) end
  local Wc = W - W:mean(1):view(1, np)
  local G = Wc:mm(Wc:t())
  local vals, vecs = ol.eig(G)
  local total = 0
  for i = 1, T do total = total + math.max(vals[i], 0) end
  local dirs, explained = {}, {}
  for k = 1, 2 do
    local lambda = vals[T - k + 1]
    if not (lambda > 1e-12 * total) or total <= 0 then return nil end
    local u = vecs:narrow(2, T - k + 1, 1):contiguous():view(T)
    local d = Wc:t():mv(u)
    d:div_(d:norm())
    local imax = (d:abs()):argmax()
    if d[imax] < 0 then d:mul_(-1) end
    dirs[k], explained[k] = d:to(net:dtype()), lambda / total
  end
  return dirs[1], dirs[2], explained
end

-- (w - c) in the basis d1, d2 by least squares, in f64.
local function projector(c, d1, d2)
  local c64, a64, b64 = c:to("f64"), d1:to("f64"), d2:to("f64")
  local g11, g12, g22 = a64:dot(a64), a64:dot(b64), b64:dot(b64)
  local det = g11 * g22 - g12 * g12
  local independent = det > 1e-12 * g11 * g22
  return function(w)
    local r = w:to("f64") - c64
    local p, q = a64:dot(r), b64:dot(r)
    return {(g22 * p - g12 * q) / det, (g11 * q - g12 * p) / det}
  end, independent
end

-- ---- plane ----

local Plane = {}
Plane.__index = Plane
Plane.__name = "optlua.landscape.plane"

local DIRECTIONS = {"filter_normalized", "pca"}

function M.plane(net, data, opts)
  check_net_data("plane", net, data)
  local o = args.options("plane", 3, opts, with_loss{
    center = {"tensor"},
    directions = {"string|table", default = "filter_normalized"},
    trajectory = {"table"},
    range = {"number|table"},
    resolution = {"integer", default = 41, min = 2},
  }, user_level())
  -- the loss and data checked before the directions draw from the RNG
  evaluate("plane", 2, 3, net, data, net:params(), nil, nil, {}, o.loss, o.loss_options)
  local c = o.center and check_vector("plane", 3, "center", o.center, net) or net:params():clone()
  local traj = {}
  for i, w in ipairs(o.trajectory or {}) do
    traj[i] = check_vector("plane", 3, "trajectory[" .. i .. "]", w, net)
  end
  local range = o.range or (o.directions ~= "pca" and 1 or nil)
  if range == nil then -- pca: set below from the path
  elseif type(range) == "number" then
    if not (range > 0 and range < math.huge) then argerr("plane", 3, "option 'range' must be a number > 0") end
    range = {-range, range, -range, range}
  else
    for i = 1, 4 do
      if type(range[i]) ~= "number" or range[i] ~= range[i] or math.abs(range[i]) == math.huge then
        argerr("plane", 3, "option 'range' must be a number > 0 or {xmin, xmax, ymin, ymax}")
      end
    end
    if not (range[1] < range[2] and range[3] < range[4]) then
      argerr("plane", 3, "option 'range' must have xmin < xmax and ymin < ymax")
    end
  end
  local dname, d1, d2, explained = o.directions, nil, nil, nil
  if type(dname) == "table" then
    d1 = check_vector("plane", 3, "directions[1]", dname[1], net)
    d2 = check_vector("plane", 3, "directions[2]", dname[2], net)
    dname = "given"
  elseif dname == "pca" then
    if #traj < 3 then
      argerr("plane", 3, string.format("directions 'pca' needs a trajectory of at least 3 points (got %d)", #traj))
    end
    d1, d2, explained = pca_directions(net, traj)
    if not d1 then argerr("plane", 3, "the trajectory's points span fewer than 2 dimensions: no pca plane") end
  elseif dname == "filter_normalized" then
    d1, d2 = filter_normalized(net, c)
  else
    local guess = args.closest(dname, DIRECTIONS)
    argerr("plane", 3, string.format("unknown directions '%s'; %s", dname,
                                     guess and ("did you mean '" .. guess .. "'?")
                                     or "expected 'filter_normalized', 'pca' or {d1, d2}"))
  end
  local project, independent = projector(c, d1, d2)
  if not independent then argerr("plane", 3, "the directions d1, d2 are linearly dependent (or zero)") end
  local path
  if #traj > 0 then
    path = {}
    for i, w in ipairs(traj) do path[i] = project(w) end
  end
  if not range then -- the path's extent and the centre, widened by a quarter each side
    local lo, hi = {0, 0}, {0, 0}
    for _, pt in ipairs(path) do
      for d = 1, 2 do lo[d], hi[d] = math.min(lo[d], pt[d]), math.max(hi[d], pt[d]) end
    end
    range = {}
    for d = 1, 2 do
      local m = 0.25 * (hi[d] - lo[d])
      if not (m > 0) then m = 1 end
      range[2 * d - 1], range[2 * d] = lo[d] - m, hi[d] + m
    end
  end
  local n = o.resolution
  local xs, ys, k = {}, {}, {}
  for i = 1, n do
    xs[i] = i == n and range[2] or range[1] + (range[2] - range[1]) * (i - 1) / (n - 1)
    ys[i] = i == n and range[4] or range[3] + (range[4] - range[3]) * (i - 1) / (n - 1)
  end
  for j = 1, n do
    for i = 1, n do k[#k + 1], k[#k + 2], k[#k + 3] = 1, xs[i], ys[j] end
  end
  local flat, flat_acc = evaluate("plane", 2, 3, net, data, c, d1, d2, k, o.loss, o.loss_options)
  local losses, accs = {}, {}
  for j = 1, n do
    losses[j], accs[j] = {}, {}
    for i = 1, n do
      losses[j][i], accs[j][i] = flat[(j - 1) * n + i], flat_acc[(j - 1) * n + i]
    end
  end
  return setmetatable({xs = xs, ys = ys, losses = losses, accuracies = o.loss == "cross_entropy" and accs or nil,
                       d1 = d1, d2 = d2, center = o.center and c:clone() or c, path = path, explained = explained,
                       directions = dname, loss = o.loss, rows = #data}, Plane)
end

-- The least loss of the grid and where.
local function grid_min(self)
  local best, bi, bj = math.huge, 1, 1
  for j, row in ipairs(self.losses) do
    for i, v in ipairs(row) do if v < best then best, bi, bj = v, i, j end end
  end
  return best, self.xs[bi], self.ys[bj]
end

-- The loss at the centre (a = b = 0) when it is a grid point.
local function centre_value(self)
  for j, y in ipairs(self.ys) do
    if y == 0 then
      for i, x in ipairs(self.xs) do if x == 0 then return self.losses[j][i] end end
    end
  end
end

function Plane:__tostring()
  local n = #self.xs
  local lo, x, y = grid_min(self)
  local out = {string.format("loss landscape (%s over %d rows): %dx%d grid, directions %s, a in [%g, %g], b in [%g, %g]",
                             self.loss, self.rows, n, n, self.directions, self.xs[1], self.xs[n], self.ys[1], self.ys[n])}
  local c = centre_value(self)
  if c then out[#out + 1] = string.format("  loss at the centre %.6g", c) end
  out[#out + 1] = string.format("  least loss %.6g at (%g, %g)", lo, x, y)
  if self.explained then
    out[#out + 1] = string.format("  pca: d1 explains %.2f%%, d2 %.2f%% of the trajectory's variance",
                                  100 * self.explained[1], 100 * self.explained[2])
  end
  if self.path then
    local p = self.path[#self.path]
    out[#out + 1] = string.format("  path of %d points, ending at (%.4g, %.4g)", #self.path, p[1], p[2])
  end
  return table.concat(out, "\n")
end

-- r:plot(file [, {title =, levels = 20}]): contours of the loss over the
-- plane, the trajectory's projected path on it.
function Plane:plot(file, opts)
  local o = args.options("plot", 2, opts, {title = {"string"}, levels = {"number|table"}}, user_level())
  local xl, yl = "d1", "d2"
  if self.explained then
    xl = string.format("d1 (pca: %.1f%% of the variance)", 100 * self.explained[1])
    yl = string.format("d2 (pca: %.1f%% of the variance)", 100 * self.explained[2])
  end
  return ol.plot.contour{xs = self.xs, ys = self.ys, z = self.losses, file = file,
                         paths = self.path and {{name = "trajectory", points = self.path}} or nil,
                         xlabel = xl, ylabel = yl, zlabel = "log10 " .. self.loss .. " loss",
                         scale = "log", levels = o.levels or 20,
                         title = o.title or string.format("%s loss, %s directions", self.loss, self.directions)}
end

-- ---- recorder ----

local Recorder = {}
Recorder.__index = Recorder
Recorder.__name = "optlua.landscape.recorder"

function M.recorder(net, opts)
  if not is_model(net) then argerr("recorder", 1, "model expected, got " .. type(net)) end
  local o = args.options("recorder", 2, opts, {initial = {"boolean", default = true}}, user_level())
  local rec = setmetatable({net = net, weights = {}}, Recorder)
  if o.initial then rec.weights[1] = net:params():clone() end
  return rec
end

-- rec(state): appends a clone of the parameters (ol.train's on_epoch).
function Recorder:__call()
  self.weights[#self.weights + 1] = self.net:params():clone()
end

function Recorder:__tostring()
  return string.format("landscape recorder: %d parameter vectors", #self.weights)
end

return M
