-- ol.landscape: every value of a line or plane against ol.evaluate with
-- the parameters set by hand (in Lua, to (1 - t) w_a + t w_b or
-- c + a d1 + b d2), which checks the engine's first-layer products
-- independently; filter-normalised directions against the centre's row
-- norms; pca directions against a PCA of the covariance built here; the
-- path's projection; the parameters unchanged afterwards; the errors.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = optlua

-- A small trained-ish classifier and its data.
local function setup(dtype, net_fn)
  ol.seed(3)
  local ds = ol.data.synthetic{kind = "spirals", n = 150, classes = 3}
  local net = net_fn and net_fn(dtype) or ol.nn.mlp{sizes = {2, 8, 6, 3}, activation = "tanh", dtype = dtype}
  return net, ds
end

-- The values of a tensor as a Lua list (exact).
local function values(t) return t:contiguous():view(t:numel()):totable() end

local function same_values(a, b, msg)
  local x, y = values(a), values(b)
  T.eq(#x, #y, msg)
  for i = 1, #x do
    if x[i] ~= y[i] then T.ok(false, string.format("%s: differs at %d: %.17g vs %.17g", msg, i, x[i], y[i])) end
  end
end

-- ol.evaluate with net's parameters set to w (then put back).
local function evaluate_at(net, ds, w, loss, loss_options)
  local p = net:params()
  local saved = p:clone()
  p:copy_(w)
  local l, a = ol.evaluate(net, ds, loss, loss_options)
  p:copy_(saved)
  return l, a
end

T.test("plane: the centre value is ol.evaluate's at the centre (f64)", function()
  local net, ds = setup("f64")
  local want, want_acc = ol.evaluate(net, ds)
  local r = ol.landscape.plane(net, ds, {resolution = 5, range = 0.5})
  T.eq(r.xs[3], 0)
  T.eq(r.ys[3], 0)
  T.near(r.losses[3][3], want, 1e-12, "centre loss")
  T.near(r.accuracies[3][3], want_acc, 0, "centre accuracy")
end)

-- Grid points against ol.evaluate at c + a d1 + b d2 set by hand.
local function check_points(dtype, net_fn, tol, loss, loss_options)
  local net, ds = setup(dtype, net_fn)
  local opts = {resolution = 4, range = {-1, 0.5, -0.25, 2}, loss = loss, loss_options = loss_options}
  local r = ol.landscape.plane(net, ds, opts)
  T.near_all(r.xs, {-1, -0.5, 0, 0.5}, 0)
  T.near_all(r.ys, {-0.25, 0.5, 1.25, 2}, 0)
  for _, ij in ipairs{{1, 1}, {4, 2}, {2, 4}, {3, 3}} do
    local i, j = ij[1], ij[2]
    local w = r.center + r.d1 * r.xs[i] + r.d2 * r.ys[j]
    local l, a = evaluate_at(net, ds, w, loss, loss_options)
    T.near(r.losses[j][i], l, tol, string.format("loss at (%g, %g)", r.xs[i], r.ys[j]), tol)
    if (loss or "cross_entropy") == "cross_entropy" then
      T.near(r.accuracies[j][i], a, dtype == "f64" and 0 or 2 / #ds, "accuracy")
    else
      T.eq(r.accuracies, nil, "no accuracy for " .. loss)
    end
  end
end

T.test("plane: grid points equal ol.evaluate at c + a d1 + b d2 (f64, mlp)", function()
  check_points("f64", nil, 1e-10)
end)

T.test("plane: grid points (f32, mlp)", function()
  check_points("f32", nil, 2e-5)
end)

T.test("plane: grid points, first linear layer unfused (layer_norm after it), weighted loss", function()
  check_points("f64", function(dt)
    return ol.nn.sequential{ol.nn.linear(2, 6), ol.nn.layer_norm(6), ol.nn.relu(), ol.nn.linear(6, 3), dtype = dt}
  end, 1e-10, "cross_entropy", {weight = {1, 2, 0.5}, label_smoothing = 0.1})
end)

T.test("plane: grid points, first layer not linear (the plain path), mse", function()
  check_points("f64", function(dt)
    return ol.nn.sequential{ol.nn.tanh(), ol.nn.linear(2, 5), ol.nn.gelu(), ol.nn.linear(5, 3), dtype = dt}
  end, 1e-10, "mse")
end)

T.test("plane: batch_norm and dropout in evaluation mode; the mode is kept", function()
  local net, ds = setup("f64", function(dt)
    return ol.nn.sequential{ol.nn.linear(2, 6), ol.nn.batch_norm(6), ol.nn.relu(), ol.nn.dropout(0.5),
                            ol.nn.linear(6, 3), dtype = dt}
  end)
  -- move the running estimates off their start
  net:train()
  net:forward(ds.x:to("f64"))
  local r = ol.landscape.plane(net, ds, {resolution = 3})
  T.eq(net.training, true, "training mode kept")
  local w = r.center + r.d1 * r.xs[1] + r.d2 * r.ys[3]
  T.near(r.losses[3][1], (evaluate_at(net, ds, w)), 1e-10, "corner")
end)

T.test("line: endpoints and inner points equal ol.evaluate at (1 - t) w_a + t w_b", function()
  for _, dt in ipairs{"f64", "f32"} do
    local net, ds = setup(dt)
    local w_a = net:params():clone()
    local w_b = w_a + ol.randn(net:num_params(), dt) * 0.5
    local r = ol.landscape.line(net, ds, w_a, w_b, {steps = 5, from = -0.5, to = 1.5})
    T.near_all(r.alphas, {-0.5, 0, 0.5, 1, 1.5}, 0)
    local tol = dt == "f64" and 1e-12 or 1e-5
    T.near(r.losses[2], (evaluate_at(net, ds, w_a)), tol, dt .. " at w_a", tol)
    T.near(r.losses[4], (evaluate_at(net, ds, w_b)), tol, dt .. " at w_b", tol)
    for _, k in ipairs{1, 3, 5} do
      local t = r.alphas[k]
      local l, a = evaluate_at(net, ds, w_a * (1 - t) + w_b * t)
      T.near(r.losses[k], l, dt == "f64" and 1e-10 or 1e-5, dt .. " at t = " .. t, dt == "f64" and 1e-10 or 1e-5)
      T.near(r.accuracies[k], a, dt == "f64" and 0 or 2 / #ds, "accuracy")
    end
    same_values(net:params(), w_a, "parameters unchanged")
  end
end)

T.test("line: w_b may be net:params() itself", function()
  local net, ds = setup("f64")
  local w_a = net:params() * 0.5
  local before = net:params():clone()
  local r = ol.landscape.line(net, ds, w_a, net:params(), {steps = 3})
  T.near(r.losses[3], (ol.evaluate(net, ds)), 1e-12, "the trained end")
  T.near(r.losses[1], (evaluate_at(net, ds, w_a)), 1e-12, "the other end")
  same_values(net:params(), before, "parameters unchanged")
  local s = tostring(r)
  T.ok(s:find("3 points from 0 to 1", 1, true), s)
end)

T.test("filter_normalized: row norms of the centre's weights, zero biases and norm parameters", function()
  local net, ds = setup("f64", function(dt)
    return ol.nn.sequential{ol.nn.linear(2, 6), ol.nn.layer_norm(6), ol.nn.relu(), ol.nn.linear(6, 3), dtype = dt}
  end)
  -- a centre other than the parameters, with rows of different norms
  local c = ol.randn(net:num_params(), "f64") * 3
  local r = ol.landscape.plane(net, ds, {center = c, resolution = 2})
  for _, d in ipairs{r.d1, r.d2} do
    for _, p in ipairs(net:parameters()) do
      local n = p.tensor:numel()
      local part = d:narrow(1, p.offset, n)
      if p.tensor:dim() == 2 then
        local rows, cols = p.tensor:size(1), p.tensor:size(2)
        for i = 1, rows do
          local want = 0
          for j = 1, cols do want = want + c[p.offset + (i - 1) * cols + j - 1] ^ 2 end
          want = math.sqrt(want)
          local got = part:view(rows, cols)[i]:norm()
          T.near(got, want, 1e-9 * want, p.name .. " row " .. i)
        end
      else
        T.eq(part:abs():max(), 0, p.name .. " is zero")
      end
    end
  end
  T.ok((r.d1 - r.d2):abs():max() > 0.1, "two independent draws")
end)

T.test("filter_normalized: a seed fixes the directions", function()
  local net, ds = setup("f32")
  ol.seed(7)
  local a = ol.landscape.plane(net, ds, {resolution = 2})
  ol.seed(7)
  local b = ol.landscape.plane(net, ds, {resolution = 2})
  ol.seed(8)
  local c = ol.landscape.plane(net, ds, {resolution = 2})
  same_values(a.d1, b.d1, "same seed, d1")
  same_values(a.d2, b.d2, "same seed, d2")
  T.ok((a.d1 - c.d1):abs():max() > 1e-3, "another seed, another d1")
end)

-- The covariance of the points (rows of a Lua table), P x P, built here.
local function covariance(points)
  local T_, P = #points, #points[1]
  local mean = {}
  for k = 1, P do
    local s = 0
    for i = 1, T_ do s = s + points[i][k] end
    mean[k] = s / T_
  end
  local cov = {}
  for a = 1, P do
    cov[a] = {}
    for b = 1, P do
      local s = 0
      for i = 1, T_ do s = s + (points[i][a] - mean[a]) * (points[i][b] - mean[b]) end
      cov[a][b] = s / (T_ - 1)
    end
  end
  return cov
end

T.test("pca: orthonormal, the covariance's top eigenvectors (up to sign), explained variance", function()
  local net, ds = setup("f64", function(dt) return ol.nn.mlp{sizes = {2, 3, 3}, dtype = dt} end)
  -- a trajectory of 6 points around a line, with a smaller second spread
  local P = net:num_params()
  local base, u, v = ol.randn(P, "f64"), ol.randn(P, "f64"), ol.randn(P, "f64")
  local traj, rows = {}, {}
  for i = 1, 6 do
    local w = base + u * (i * 0.7) + v * (0.2 * math.sin(i)) + ol.randn(P, "f64") * 0.01
    traj[i], rows[i] = w, values(w)
  end
  local r = ol.landscape.plane(net, ds, {directions = "pca", trajectory = traj, resolution = 2})
  T.near(r.d1:norm(), 1, 1e-12, "|d1|")
  T.near(r.d2:norm(), 1, 1e-12, "|d2|")
  T.near(r.d1:dot(r.d2), 0, 1e-12, "d1 . d2")
  local vals, vecs = ol.eig(ol.tensor(covariance(rows), "f64"))
  local total = 0
  for k = 1, P do total = total + vals[k] end
  for k, d in ipairs{r.d1, r.d2} do
    local e = vecs:narrow(2, P - k + 1, 1):contiguous():view(P)
    T.near(math.abs(e:dot(d)), 1, 1e-9, "direction " .. k .. " against the covariance's eigenvector")
    T.near(r.explained[k], vals[P - k + 1] / total, 1e-9, "explained " .. k)
  end
  T.ok(r.explained[1] > r.explained[2] and r.explained[1] + r.explained[2] <= 1 + 1e-12, "shares")
  T.ok(tostring(r):find("pca: d1 explains", 1, true), tostring(r))
end)

T.test("path: the projection of c is (0, 0), of c + 2 d1 - d2 is (2, -1)", function()
  for _, dt in ipairs{"f64", "f32"} do
    local net, ds = setup(dt)
    local P = net:num_params()
    local c, d1, d2 = ol.randn(P, dt), ol.randn(P, dt), ol.randn(P, dt)
    local r = ol.landscape.plane(net, ds, {center = c, directions = {d1, d2}, resolution = 3,
                                           trajectory = {c, c + d1 * 2 - d2, c + d2 * 0.5}})
    local tol = dt == "f64" and 1e-12 or 1e-5
    T.near_all(r.path, {{0, 0}, {2, -1}, {0, 0.5}}, tol, dt .. " path")
    T.eq(r.directions, "given")
  end
end)

T.test("recorder: the initial parameters and one clone per epoch", function()
  local net, ds = setup("f32")
  local rec = ol.landscape.recorder(net)
  local w0 = net:params():clone()
  ol.train{model = net, optimizer = ol.optim.sgd(net, {lr = 0.1}), data = ol.data.loader(ds, {batch_size = 50}),
           epochs = 3, progress = false, on_epoch = rec}
  T.eq(#rec.weights, 4)
  same_values(rec.weights[1], w0, "initial")
  same_values(rec.weights[4], net:params(), "last epoch")
  T.ok((rec.weights[2] - rec.weights[1]):abs():max() > 0, "a copy, not a view")
  T.eq(#ol.landscape.recorder(net, {initial = false}).weights, 0)
  local r = ol.landscape.plane(net, ds, {directions = "pca", trajectory = rec.weights, resolution = 3})
  T.near(r.path[4][1], 0, 1e-5, "the last point projects near the centre")
  T.near(r.path[4][2], 0, 1e-5)
end)

T.test("bad input: clear errors that change nothing", function()
  local net, ds = setup("f64")
  local P = net:num_params()
  local before = net:params():clone()
  local w = net:params():clone()
  local empty = ds:split(0.0)
  -- data of another width: 3 features for a model of 2 inputs
  local d3 = ol.data.dataset(ol.randn(10, 3), ol.tensor{1, 2, 3, 1, 2, 3, 1, 2, 3, 1})
  local rng = ol._rng_state()
  local cases = {
    {"bad argument #2 to 'line' (dataset expected", ol.landscape.line, net, nil, w, w},
    {"bad argument #2 to 'plane' (the data set is empty)", ol.landscape.plane, net, empty},
    {"bad argument #2 to 'line' (the data set is empty)", ol.landscape.line, net, empty, w, w},
    {"bad argument #1 to 'plane' (model expected", ol.landscape.plane, ds, ds},
    {"bad argument #3 to 'line' (w_a has 3 values, the model has " .. P .. " parameters)",
     ol.landscape.line, net, ds, ol.zeros(3, "f64"), w},
    {"bad argument #4 to 'line' (w_b is f32 but the model is f64)", ol.landscape.line, net, ds, w, w:to("f32")},
    {"bad argument #4 to 'line' (w_b must be a tensor", ol.landscape.line, net, ds, w, {}},
    {"bad argument #5 to 'line' (option 'steps' must be", ol.landscape.line, net, ds, w, w, {steps = 1}},
    {"bad argument #5 to 'line' (unknown option 'step'; did you mean 'steps'?)", ol.landscape.line, net, ds, w, w, {step = 3}},
    {"option 'from' must be < 'to'", ol.landscape.line, net, ds, w, w, {from = 1, to = 1}},
    {"bad argument #3 to 'plane' (option 'resolution' must be", ol.landscape.plane, net, ds, {resolution = 1}},
    {"bad argument #3 to 'plane' (unknown directions 'filter_normalised'; did you mean 'filter_normalized'?)",
     ol.landscape.plane, net, ds, {directions = "filter_normalised"}},
    {"unknown directions 'up'; expected 'filter_normalized', 'pca' or {d1, d2}", ol.landscape.plane, net, ds, {directions = "up"}},
    {"directions 'pca' needs a trajectory of at least 3 points (got 0)", ol.landscape.plane, net, ds, {directions = "pca"}},
    {"directions 'pca' needs a trajectory of at least 3 points (got 2)", ol.landscape.plane, net, ds,
     {directions = "pca", trajectory = {w, w}}},
    {"the trajectory's points span fewer than 2 dimensions", ol.landscape.plane, net, ds,
     {directions = "pca", trajectory = {w, w, w}}},
    {"bad argument #3 to 'plane' (directions[2] has 2 values", ol.landscape.plane, net, ds, {directions = {w, ol.zeros(2, "f64")}}},
    {"the directions d1, d2 are linearly dependent", ol.landscape.plane, net, ds, {directions = {w, w * 2}}},
    {"bad argument #3 to 'plane' (center is f32 but the model is f64)", ol.landscape.plane, net, ds, {center = w:to("f32")}},
    {"trajectory[2] has 1 values", ol.landscape.plane, net, ds, {trajectory = {w, ol.zeros(1, "f64")}}},
    {"bad argument #3 to 'plane' (unknown option 'resolutoin'; did you mean 'resolution'?)", ol.landscape.plane, net, ds, {resolutoin = 3}},
    {"option 'range' must be a number > 0", ol.landscape.plane, net, ds, {range = 0}},
    {"option 'range' must have xmin < xmax", ol.landscape.plane, net, ds, {range = {1, -1, 0, 1}}},
    {"unknown loss 'mae'", ol.landscape.line, net, ds, w, w, {loss = "mae"}},
    {"option 'delta' is for huber, not cross_entropy", ol.landscape.plane, net, ds, {loss_options = {delta = 2}}},
    {"bad argument #1 to 'recorder' (model expected", ol.landscape.recorder, ds},
  }
  for _, c in ipairs(cases) do
    local err = T.raises(c[1], table.unpack(c, 2))
    T.ok(not err:find("optlua/landscape.lua", 1, true), "the error points at the caller: " .. err)
  end
  T.raises("bad argument #2 to 'plane' (the data have 3 features but the model takes 2)", ol.landscape.plane, net, d3)
  same_values(net:params(), before, "parameters unchanged")
  T.ok(ol._rng_state() == rng, "RNG unchanged")
end)

T.test("plots: line and plane (with a path) as PNGs", function()
  if not ol.plot.available() then T.skip("gnuplot not found (apt-get install gnuplot-nox)") end
  local path = T.scratch()
  local net, ds = setup("f32")
  local rec = ol.landscape.recorder(net)
  ol.train{model = net, optimizer = ol.optim.adam(net, {lr = 0.02}), data = ol.data.loader(ds, {batch_size = 30}),
           epochs = 4, progress = false, on_epoch = rec}
  local line = ol.landscape.line(net, ds, rec.weights[1], net:params(), {steps = 7})
  local plane = ol.landscape.plane(net, ds, {directions = "pca", trajectory = rec.weights, resolution = 7})
  for _, f in ipairs{line:plot(path("line.png")), plane:plot(path("plane.png")), plane:plot(path("plane.svg"))} do
    local s = T.read_file(f)
    T.ok(#s > 5000, f .. " is a picture")
  end
  local svg = T.read_file(path("plane.svg"))
  T.ok(svg:find("of the variance", 1, true), "the pca axes name the explained variance")
  T.ok(svg:find("trajectory", 1, true), "the path's key")
end)

T.run()
