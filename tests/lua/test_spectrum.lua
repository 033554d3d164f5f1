-- ol.spectrum: eigenvalues at both ends, the density by stochastic Lanczos
-- quadrature, the tracker, and the plateau diagnosis' use of them.
-- Expected values: quadratics whose Hessian is built here with a chosen
-- spectrum (A = Q diag(lambda) Q^T, Q orthonormalised by Gram-Schmidt from
-- a random matrix), diagonal Hessians whose quadrature sums are known in
-- closed form, the exact Hessian of a small f64 MLP (ol.hessian, ol.eig),
-- and the Gaussian's mass within 3 sigma, erf(3 / sqrt 2).
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- An n x n orthogonal matrix (rows of a table): Gram-Schmidt, twice, on
-- the columns of a random matrix.
local function orthogonal(n, seed)
  ol.seed(seed)
  local a = ol.randn(n, n, "f64"):totable()
  local q = {}
  for j = 1, n do
    local v = {}
    for i = 1, n do v[i] = a[i][j] end
    for _ = 1, 2 do
      for l = 1, j - 1 do
        local c = 0
        for i = 1, n do c = c + v[i] * q[l][i] end
        for i = 1, n do v[i] = v[i] - c * q[l][i] end
      end
    end
    local s = 0
    for i = 1, n do s = s + v[i] * v[i] end
    s = math.sqrt(s)
    for i = 1, n do v[i] = v[i] / s end
    q[j] = v -- column j
  end
  return q
end

-- A = Q diag(lambda) Q^T and f(x) = 1/2 x'Ax -> loss, Ax.
local function quadratic(lambda, seed)
  local n = #lambda
  local q = orthogonal(n, seed)
  local A = {}
  for i = 1, n do
    A[i] = {}
    for j = 1, n do
      local s = 0
      for l = 1, n do s = s + q[l][i] * lambda[l] * q[l][j] end
      A[i][j] = s
    end
  end
  local function f(x)
    local g, loss = {}, 0
    local xs = x:totable()
    for i = 1, n do
      local s = 0
      for j = 1, n do s = s + A[i][j] * xs[j] end
      g[i] = s
      loss = loss + 0.5 * xs[i] * s
    end
    return loss, ol.tensor(g, x:dtype())
  end
  return f, A
end

local function sorted(t)
  local s = {table.unpack(t)}
  table.sort(s)
  return s
end

local function diag_fn(d)
  return function(x)
    local g, loss = {}, 0
    for i = 1, #d do
      g[i] = d[i] * x[i]
      loss = loss + 0.5 * d[i] * x[i] ^ 2
    end
    return loss, ol.tensor(g, x:dtype())
  end
end

T.test("eigs: both ends of a quadratic with a known spectrum, one eigenvalue negative", function()
  local lambda = {}
  for i = 1, 20 do lambda[i] = 0.5 * i end
  lambda[7] = -3 -- the saddle direction
  lambda[12] = -0.25
  local f, A = quadratic(lambda, 11)
  local s = sorted(lambda)
  local x = ol.zeros(20, "f64")
  local e = ol.spectrum.eigs(f, x, {k = 4, steps = 20, vectors = true})
  T.eq(#e.top, 4)
  T.eq(#e.bottom, 4)
  for i = 1, 4 do
    T.near(e.top[i], s[21 - i], 1e-8, "top " .. i)
    T.near(e.bottom[i], s[i], 1e-8, "bottom " .. i)
  end
  T.ok(e.bottom[1] < 0, "a saddle: the smallest eigenvalue is negative")
  -- Ritz vectors: unit vectors with A y = lambda y.
  for _, side in ipairs{"top", "bottom"} do
    local Y = e[side .. "_vectors"]:totable()
    T.eq(#Y, 4)
    for r = 1, 4 do
      local norm, res = 0, 0
      for i = 1, 20 do
        local ay = 0
        for j = 1, 20 do ay = ay + A[i][j] * Y[r][j] end
        res = math.max(res, math.abs(ay - e[side][r] * Y[r][i]))
        norm = norm + Y[r][i] ^ 2
      end
      T.near(norm, 1, 1e-10, side .. " vector " .. r .. " norm")
      T.ok(res < 1e-7, side .. " vector " .. r .. ": residual " .. res)
    end
  end
  -- which = "top" / "bottom" give one end only, without vectors by default.
  local top = ol.spectrum.eigs(f, x, {k = 2, which = "top", steps = 20})
  T.eq(top.bottom, nil)
  T.eq(top.top_vectors, nil)
  T.near(top.top[1], 10, 1e-8)
  local bottom = ol.spectrum.eigs(f, x, {k = 1, which = "bottom", steps = 20})
  T.eq(bottom.top, nil)
  T.near(bottom.bottom[1], -3, 1e-8)
  T.ok(tostring(e):find("bottom {-3, -0.25", 1, true), tostring(e))
end)

T.test("eigs: well-separated ends converge with far fewer steps than n", function()
  local lambda = {}
  for i = 1, 60 do lambda[i] = 1 + i / 60 end
  lambda[5] = -20
  lambda[40] = 30
  local f = quadratic(lambda, 5)
  local e = ol.spectrum.eigs(f, ol.zeros(60, "f64"), {k = 1, steps = 25})
  T.eq(e.steps, 25)
  T.near(e.top[1], 30, 1e-8)
  T.near(e.bottom[1], -20, 1e-8)
  -- the default steps, max(3k, 30) = 30 here
  local d = ol.spectrum.eigs(f, ol.zeros(60, "f64"), {k = 1})
  T.eq(d.steps, 30)
  T.near(d.top[1], 30, 1e-8)
end)

T.test("eigs of a small f64 MLP equal the exact Hessian's eigenvalues", function()
  ol.seed(3)
  local net = ol.nn.mlp{sizes = {3, 4, 2}, activation = "tanh", dtype = "f64"}
  local X = ol.tensor({{0.5, -1, 0.2}, {1.5, 0.3, -0.4}, {-0.2, 0.8, 1}, {0.1, 0.1, -1.2}, {1, -0.5, 0.5}}, "f64")
  local ids = {1, 2, 2, 1, 2}
  local H = ol.hessian(net, X, ids, "cross_entropy")
  local all = ol.eig(H):totable()
  local n = #all
  T.ok(all[1] < 0, "this net sits at a saddle (the test needs a negative eigenvalue)")
  local before = net:params():totable()
  -- default steps: min(n, 30) = n; Lanczos stops early on the invariant
  -- subspace its start vector spans (cross-entropy's Hessian has a null
  -- space, and a repeated eigenvalue is one Ritz value)
  local e = ol.spectrum.eigs(net, X, ids, "cross_entropy", {k = 3})
  T.ok(e.steps <= n and e.steps >= 6, "steps " .. e.steps)
  for i = 1, 3 do
    T.near(e.top[i], all[n + 1 - i], 1e-8, "top " .. i)
    T.near(e.bottom[i], all[i], 1e-8, "bottom " .. i)
  end
  T.near_all(net:params(), before, 0, "parameters unchanged")
  -- Gauss-Newton products: positive semi-definite for cross-entropy.
  local gn = ol.spectrum.eigs(net, X, ids, "cross_entropy", {k = 1, gauss_newton = true})
  T.ok(gn.bottom[1] > -1e-10, "Gauss-Newton is PSD, got " .. gn.bottom[1])
end)

-- Trapezoid integral of the piecewise-linear density over [a, b].
local function mass(d, a, b)
  local g, y, s = d.grid, d.density, 0
  local function at(x, i) return y[i] + (y[i + 1] - y[i]) * (x - g[i]) / (g[i + 1] - g[i]) end
  for i = 1, #g - 1 do
    local lo, hi = math.max(a, g[i]), math.min(b, g[i + 1])
    if hi > lo then s = s + 0.5 * (at(lo, i) + at(hi, i)) * (hi - lo) end
  end
  return s
end

T.test("density: integrates to 1, with each eigenvalue's share of the mass at it", function()
  -- eigenvalues -1 (x2), 2 (x4), 5 (x6): a diagonal Hessian, so every
  -- Rademacher vector weighs them exactly by multiplicity / n.
  local d = {-1, 2, 5, 5, 2, -1, 5, 2, 5, 5, 2, 5}
  ol.seed(7)
  local r = ol.spectrum.density(diag_fn(d), ol.zeros(12, "f64"), {vectors = 4, points = 100000})
  T.eq(#r.nodes, 4)
  T.eq(r.steps, 12) -- the default 80, capped at n
  T.near(r.sigma, math.sqrt(1e-5 * 6), 1e-15, "the paper code's kernel width")
  T.near(mass(r, r.grid[1], r.grid[#r.grid]), 1, 2e-6, "integral over the grid")
  local within3 = 0.99730020393674 -- erf(3 / sqrt 2)
  local share = {[-1] = 2 / 12, [2] = 4 / 12, [5] = 6 / 12}
  for lam, w in pairs(share) do
    T.near(mass(r, lam - 3 * r.sigma, lam + 3 * r.sigma), w * within3, 1e-5, "mass at " .. lam)
  end
  -- nothing away from the eigenvalues
  for i, x in ipairs(r.grid) do
    if math.abs(x + 1) > 8 * r.sigma and math.abs(x - 2) > 8 * r.sigma and math.abs(x - 5) > 8 * r.sigma then
      T.ok(r.density[i] < 1e-12, "density at " .. x .. " is " .. r.density[i])
    end
  end
  T.ok(tostring(r):find("4 vectors x 12 steps", 1, true), tostring(r))
end)

T.test("density: nodes and weights are the Gauss quadrature of v'f(A)v / v'v", function()
  -- A diagonal with distinct entries and a Rademacher v: v'f(A)v / v'v =
  -- mean f(d_i) whatever the signs, so with steps = n the nodes are the
  -- d_i and each weight is 1/n.
  local d = {3, -0.5, 1.25, 7, 2}
  local r = ol.spectrum.density(diag_fn(d), ol.zeros(5, "f64"), {vectors = 1, steps = 5, sigma = 0.1, points = 50})
  local s = sorted(d)
  local m1, m2, q1, q2 = 0, 0, 0, 0
  for j = 1, 5 do
    T.near(r.nodes[1][j], s[j], 1e-8, "node " .. j)
    T.near(r.weights[1][j], 1 / 5, 1e-8, "weight " .. j)
    m1, m2 = m1 + d[j] / 5, m2 + d[j] ^ 2 / 5
    q1, q2 = q1 + r.weights[1][j] * r.nodes[1][j], q2 + r.weights[1][j] * r.nodes[1][j] ^ 2
  end
  T.near(q1, m1, 1e-8, "f = identity")
  T.near(q2, m2, 1e-8, "f = square")
  T.eq(r.sigma, 0.1)
  T.eq(#r.grid, 50)
  T.near(r.grid[1], -0.5 - 0.5, 1e-12, "the grid starts 5 sigma below the lowest node")
  T.near(r.grid[50], 7 + 0.5, 1e-12)
  -- a fixed seed fixes the start vectors
  ol.seed(9)
  local a = ol.spectrum.density(diag_fn({1, 2, 3, 4, 5, 6}), ol.zeros(6, "f64"), {vectors = 2, steps = 2, points = 10})
  ol.seed(9)
  local b = ol.spectrum.density(diag_fn({1, 2, 3, 4, 5, 6}), ol.zeros(6, "f64"), {vectors = 2, steps = 2, points = 10})
  T.near_all(a.nodes, b.nodes, 0)
end)

-- A small f64 classification set and net.
local function problem(rows)
  ol.seed(21)
  local x = ol.randn(rows, 3, "f64")
  local y = {}
  for i = 1, rows do y[i] = (x:get(i, 1) + x:get(i, 2) > 0) and 1 or 2 end
  local ds = ol.data.dataset(x, ol.tensor(y, "f64"))
  local net = ol.nn.mlp{sizes = {3, 5, 2}, activation = "tanh", dtype = "f64"}
  return ds, net, x, y
end

T.test("track: one record per epoch with the optimizer's lr, eigenvalues of the fixed batch", function()
  local ds, net, x, y = problem(40)
  local opt = ol.optim.sgd(net, {lr = 0.05, momentum = 0.5})
  local tracker = ol.spectrum.track{model = net, optimizer = opt, data = ds, rows = 20, k = 2}
  T.eq(tracker.rows, 20)
  local lrs = {0.05, 0.02, 0.01}
  ol.train{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 10, dtype = "f64"}), epochs = 3,
           progress = false, on_epoch = function(s)
             tracker(s)
             opt.lr = lrs[s.epoch + 1] or opt.lr
           end}
  T.eq(#tracker.history, 3)
  for e, r in ipairs(tracker.history) do
    T.eq(r.epoch, e)
    T.eq(r.step, 4 * e)
    T.eq(r.lr, lrs[e])
    T.eq(r.momentum, 0.5)
    T.near(r.threshold, (2 + 2 * 0.5) / lrs[e], 1e-12, "heavy-ball bound")
    T.eq(#r.top, 2)
    T.eq(#r.bottom, 2)
  end
  -- the last record against the exact Hessian on the first 20 rows
  local rows = {}
  for i = 1, 20 do rows[i] = {x:get(i, 1), x:get(i, 2), x:get(i, 3)} end
  local all = ol.eig(ol.hessian(net, ol.tensor(rows, "f64"), {table.unpack(y, 1, 20)}, "cross_entropy")):totable()
  local last = tracker.history[3]
  T.near(last.top[1], all[#all], 1e-8)
  T.near(last.bottom[1], all[1], 1e-8)
  T.ok(tostring(tracker):find("3 records", 1, true), tostring(tracker))
  -- every = 2, driven by ol.train directly
  local t2 = ol.spectrum.track{model = net, optimizer = opt, data = ds, k = 1, every = 2, which = "top"}
  ol.train{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 40, dtype = "f64"}), epochs = 4,
           progress = false, on_epoch = t2}
  T.eq(#t2.history, 2)
  T.eq(t2.history[1].epoch, 2)
  T.eq(t2.history[2].epoch, 4)
  T.eq(t2.history[1].bottom, nil)
end)

T.test("track: the edge-of-stability bound of each optimizer", function()
  local _, net = problem(4)
  local th = ol.spectrum._threshold
  T.near(th(ol.optim.sgd(net, {lr = 0.1})), 20, 1e-12)
  T.near(th(ol.optim.sgd(net, {lr = 0.1, momentum = 0.9})), 3.8 / 0.1, 1e-9)
  T.near(th(ol.optim.sgd(net, {lr = 0.1, momentum = 0.9, dampening = 0.5})), 3.8 / 0.05, 1e-9)
  T.near(th(ol.optim.sgd(net, {lr = 0.1, momentum = 0.9, nesterov = true})), 3.8 / (0.1 * 2.8), 1e-9)
  T.near(th(ol.optim.nag(net, {lr = 0.1, momentum = 0.5})), 3 / (0.1 * 2), 1e-9)
  T.eq(th(ol.optim.adam(net, {lr = 0.1})), nil)
end)

T.test("track: the plots", function()
  if not ol.plot.available() then T.skip("gnuplot not found (apt-get install gnuplot-nox)") end
  local path = T.scratch()
  local ds, net = problem(20)
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local tracker = ol.spectrum.track{model = net, optimizer = opt, data = ds, k = 2}
  T.raises("no records yet", tracker.plot, tracker, path("t.png"))
  tracker()
  tracker()
  T.eq(tracker.history[2].epoch, 2, "the call count stands for the epoch")
  T.eq(tracker:plot(path("t.png")), path("t.png"))
  T.eq(T.read_file(path("t.png")):sub(2, 4), "PNG")
  local d = ol.spectrum.density(diag_fn({1, 2, 3}), ol.zeros(3, "f64"), {vectors = 1})
  T.eq(d:plot(path("d.png")), path("d.png"))
  T.eq(T.read_file(path("d.png")):sub(2, 4), "PNG")
end)

T.test("plateau: the diagnosis says saddle on negative curvature, and only then", function()
  local function due(p, ...)
    T.eq(p:update(1.0, ...), false)
    T.eq(p:update(1.0, ...), true)
    return p.diagnosis
  end
  local d = due(ol.plateau{patience = 0, curvature = {bottom = {-0.5}, top = {3}}})
  T.eq(d.saddle, true)
  T.eq(d.lambda_min, -0.5)
  T.ok(d.message:find("negative curvature (λ_min = -0.5, λ_max = 3): a saddle, not a minimum", 1, true), d.message)
  -- within the tolerance (1e-3 of |lambda_max|): no saddle
  local flat = due(ol.plateau{patience = 0, curvature = {bottom = {-1e-4}, top = {3}}})
  T.eq(flat.saddle, false)
  T.ok(not flat.message:find("saddle, not", 1, true), flat.message)
  -- with a model: the saddle sentence opens the usual diagnosis
  local ds, net = problem(8)
  net:evaluate(ds.x, ds.y:totable(), "cross_entropy")
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local tracker = ol.spectrum.track{model = net, optimizer = opt, data = ds, k = 1}
  tracker.history[1] = {epoch = 1, bottom = {-2}, top = {4}}
  local p = ol.plateau{patience = 0}
  local m = due(p, net, nil, {curvature = tracker})
  T.ok(m.message:find("^negative curvature %(λ_min = %-2, λ_max = 4%): a saddle, not a minimum; "), m.message)
  T.ok(#m.message > 70 and m.grad_norm ~= nil, "the rest of the diagnosis is kept")
  local healthy = due(ol.plateau{patience = 0}, net, nil, {curvature = {bottom = {0.1}, top = {4}}})
  T.eq(healthy.saddle, false)
  T.ok(not healthy.message:find("saddle", 1, true), healthy.message)
  local none = due(ol.plateau{patience = 0}, net)
  T.eq(none.saddle, nil)
  T.raises("unknown option 'curvatur'; did you mean 'curvature'?", function() p:update(1, net, nil, {curvatur = {}}) end)
  T.raises("unknown option 'curvatur'", function() ol.plateau{curvatur = {}} end)
end)

T.test("bad input: clear errors that change nothing", function()
  local f = diag_fn({1, 2})
  local x = ol.tensor({0.5, -0.25}, "f64")
  T.raises("bad argument #3 to 'spectrum.eigs' (option 'k' must be in 1..2 (the parameters), got 3)",
           ol.spectrum.eigs, f, x, {k = 3})
  T.raises("option 'steps' must be <= 2 (the parameters), got 5", ol.spectrum.eigs, f, x, {k = 1, steps = 5})
  T.raises("option 'steps' must be >= k (2), got 1", ol.spectrum.eigs, f, x, {k = 2, steps = 1})
  T.raises("option 'steps' must be <= 2 (the parameters), got 3", ol.spectrum.density, f, x, {steps = 3})
  T.raises("option 'which' must be 'both', 'top' or 'bottom', got 'tpo'; did you mean 'top'?",
           ol.spectrum.eigs, f, x, {k = 1, which = "tpo"})
  T.raises("unknown option 'kk'; did you mean 'k'?", ol.spectrum.eigs, f, x, {kk = 1})
  T.raises("unknown option 'vector'; did you mean 'vectors'?", ol.spectrum.density, f, x, {vector = 2})
  T.raises("option 'gauss_newton' needs a model", ol.spectrum.eigs, f, x, {k = 1, gauss_newton = true})
  T.raises("function f(x) -> loss, grad, or a model expected, got number", ol.spectrum.eigs, 42, x)
  T.raises("x (a tensor) expected, got nil", ol.spectrum.eigs, f)
  -- a gradient that is no gradient: B x with B not symmetric
  local function skew(w) return 0, ol.tensor({w[1] + 2 * w[2], w[2]}, w:dtype()) end
  T.raises("eigenvalues asked of a non-symmetric operator", ol.spectrum.eigs, skew, x, {k = 1})
  ol.seed(5)
  local want = ol.rand(1, "f64")[1]
  ol.seed(5)
  T.raises("eigenvalues asked of a non-symmetric operator", ol.spectrum.density, skew, x, {vectors = 1})
  T.eq(ol.rand(1, "f64")[1], want, "the RNG is as it was")
  T.near_all(x, {0.5, -0.25}, 0, "x unchanged")
  -- models: a batch that does not fit, and the tracker's checks
  local ds, net = problem(10)
  local before = net:params():totable()
  T.raises("bad argument #2 to 'spectrum.eigs'", ol.spectrum.eigs, net, ol.zeros(4, 5, "f64"), {1, 2, 1, 2},
           "cross_entropy", {k = 1})
  T.raises("bad argument #3 to 'spectrum.eigs'", ol.spectrum.eigs, net, ol.zeros(4, 3, "f64"), {1, 2, 1},
           "cross_entropy", {k = 1})
  T.raises("option 'k' must be in 1..32 (the parameters), got 40", ol.spectrum.eigs, net, ds.x, ds.y:totable(),
           "cross_entropy", {k = 40})
  T.near_all(net:params(), before, 0, "parameters unchanged")
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local wide = ol.data.dataset(ol.zeros(4, 5, "f64"), ol.tensor({1, 2, 1, 2}, "f64"))
  T.raises("option 'data': the dataset has 5 features, the model takes 3",
           ol.spectrum.track, {model = net, optimizer = opt, data = wide})
  T.raises("option 'model' is required", ol.spectrum.track, {optimizer = opt, data = ds})
  T.raises("option 'data' must be a dataset", ol.spectrum.track, {model = net, optimizer = opt, data = {}})
  T.raises("option 'every' must be", ol.spectrum.track, {model = net, optimizer = opt, data = ds, every = 0})
  T.raises("option 'k' must be in 1..32 (the parameters), got 33",
           ol.spectrum.track, {model = net, optimizer = opt, data = ds, k = 33})
  T.raises("unknown option 'evry'; did you mean 'every'?",
           ol.spectrum.track, {model = net, optimizer = opt, data = ds, evry = 2})
  T.raises("did you mean 'bottom'?", ol.spectrum.track, {model = net, optimizer = opt, data = ds, which = "botom"})
end)

T.run()
