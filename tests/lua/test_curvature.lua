-- Curvature tools: ol.hessian, ol.hvp, ol.eig, ol.cond, ol.hessian_eigs
-- (API.md sec. 10). Expected values: analytic Hessians written here,
-- matrices with spectra known by construction, and finite differences of
-- net:evaluate gradients for models.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local function rosen(w)
  local a, b = w[1], w[2]
  return (1 - a) ^ 2 + 100 * (b - a * a) ^ 2,
         ol.tensor({-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)}, w:dtype())
end
-- d2f/da2 = 2 - 400 (b - 3a^2), d2f/dadb = -400 a, d2f/db2 = 200
local function rosen_hessian(a, b)
  return {{2 - 400 * b + 1200 * a * a, -400 * a}, {-400 * a, 200}}
end

T.test("the Hessian of Rosenbrock equals the analytic one", function()
  for _, p in ipairs{{1, 1}, {-1.5, 2}, {0.3, -0.7}, {2, 4}} do
    local H = ol.hessian(rosen, ol.tensor(p, "f64"))
    T.eq(H:dtype(), "f64")
    T.near_all(H, rosen_hessian(p[1], p[2]), 1e-5 * (1 + 1200 * p[1] * p[1]))
  end
  local H32 = ol.hessian(rosen, ol.tensor({0.3, -0.7}, "f32"))
  T.eq(H32:dtype(), "f32")
  T.near_all(H32, rosen_hessian(0.3, -0.7), 0.5)
end)

T.test("hvp of a function equals H v", function()
  local x = ol.tensor({-1.5, 2}, "f64")
  local H = rosen_hessian(-1.5, 2)
  for _, v in ipairs{{1, 0}, {0, 1}, {0.3, -2}} do
    local hv = ol.hvp(rosen, x, ol.tensor(v, "f64"))
    T.near_all(hv, {H[1][1] * v[1] + H[1][2] * v[2], H[2][1] * v[1] + H[2][2] * v[2]}, 1e-4)
  end
  T.eq(x[1], -1.5, "x is not modified")
end)

-- A tiny f64 net and a batch.
local function tiny(act, sizes)
  ol.seed(3)
  return ol.nn.mlp{sizes = sizes or {3, 4, 2}, activation = act, dtype = "f64"}
end
local X = ol.tensor({{0.5, -1, 0.2}, {1.5, 0.3, -0.4}, {-0.2, 0.8, 1}, {0.1, 0.1, -1.2}, {1, -0.5, 0.5}}, "f64")
local IDS = {1, 2, 2, 1, 2}
local Y2 = ol.tensor({{0.3, -1}, {1, 0.5}, {0, 0}, {-0.5, 0.2}, {0.7, 0.1}}, "f64")

-- Central difference of net:evaluate's gradient along v.
local function fd_hvp(net, x, target, kind, v, h)
  h = h or 1e-5
  local p = net:params()
  p:add_(v, h)
  local _, gp = net:evaluate(x, target, kind)
  gp = gp:clone()
  p:add_(v, -2 * h)
  local _, gm = net:evaluate(x, target, kind)
  gm = gm:clone()
  p:add_(v, h)
  return ((gp - gm) / (2 * h)):totable()
end

T.test("model hvp equals finite differences of net:evaluate gradients", function()
  for _, act in ipairs{"tanh", "sigmoid", "gelu", "relu"} do
    for _, case in ipairs{{"cross_entropy", IDS}, {"mse", Y2}, {"bce", ol.tensor({{1, 0}, {0, 1}, {1, 1}, {0, 0}, {1, 0}}, "f64")}} do
      local net = tiny(act)
      ol.seed(11)
      local v = ol.randn(net:params():numel(), "f64")
      local p0 = net:params():clone()
      local hv = ol.hvp(net, X, case[2], case[1], v)
      T.near_all(net:params(), p0:totable(), 0, "params restored")
      T.near_all(hv, fd_hvp(net, X, case[2], case[1], v), 2e-6, act .. " " .. case[1])
    end
  end
end)

T.test("silu, elu, softplus: model hvp and Gauss-Newton products against differences", function()
  local H1 = ol.tensor({{1, 0}, {0, 1}, {1, 1}, {0, 0}, {1, 0}}, "f64")
  local cases = {{"cross_entropy", IDS}, {"mse", Y2}, {"bce", H1}, {"huber", Y2 * 3, {delta = 0.7}},
                 {"cross_entropy", IDS, {label_smoothing = 0.1, weight = {2, 0.5}}}}
  for _, act in ipairs{"silu", "elu", "softplus"} do
    for _, case in ipairs(cases) do
      local net = tiny(act)
      ol.init.normal(net:params(), 0, 1.5) -- pre-activations on both sides of elu's 0
      ol.seed(12)
      local v = ol.randn(net:params():numel(), "f64")
      local what = act .. " " .. case[1] .. (case[3] and " (options)" or "")
      local hv = ol.hvp(net, X, case[2], case[1], v, {loss_options = case[3]})
      -- differences of the gradient with the same options
      local p, h = net:params(), 1e-5
      p:add_(v, h)
      local _, gp = net:evaluate(X, case[2], case[1], case[3])
      gp = gp:clone()
      p:add_(v, -2 * h)
      local _, gm = net:evaluate(X, case[2], case[1], case[3])
      p:add_(v, h)
      T.near_all(hv, ((gp - gm) / (2 * h)):totable(), 2e-6, what)
      -- G v: J^T H_L J v is symmetric positive semi-definite, v.Gv >= 0
      local gv = ol.hvp(net, X, case[2], case[1], v, {gauss_newton = true, loss_options = case[3]})
      T.ok(gv:dot(v) >= -1e-12, what .. ": v.Gv >= 0")
      -- the full Hessian takes the options too, and its product is hv
      local H = ol.hessian(net, X, case[2], case[1], case[3])
      T.near_all(H:mv(v), hv:totable(), 1e-10, what .. " hessian")
    end
  end
  local net = tiny("silu")
  T.raises("bad argument #6 to 'hvp' (option 'label_smoothing' must be in [0, 1], got 2)", function()
    ol.hvp(net, X, IDS, "cross_entropy", ol.zeros(net:params():numel(), "f64"),
           {loss_options = {label_smoothing = 2}})
  end)
  T.raises("bad argument #5 to 'hessian_eigs' (option 'weight' must hold one value per class (2, the model's outputs), got 3)",
           function() ol.hessian_eigs(net, X, IDS, "cross_entropy", {loss_options = {weight = {1, 1, 1}}}) end)
end)

T.test("tiny net: the exact Hessian equals the finite-difference Hessian", function()
  local net = tiny("tanh", {2, 2, 2})
  local x = ol.tensor({{0.5, -1}, {1.5, 0.3}, {-0.2, 0.8}}, "f64")
  local ids = {1, 2, 2}
  local n = net:params():numel()
  local H = ol.hessian(net, x, ids, "cross_entropy")
  T.eq(H:size(1), n)
  for j = 1, n do
    local e = ol.zeros(n, "f64")
    e[j] = 1
    local col = fd_hvp(net, x, ids, "cross_entropy", e)
    for i = 1, n do T.near(H:get(i, j), col[i], 2e-6, "H[" .. i .. "][" .. j .. "]") end
  end
  -- and H v = (H) * v for a random v
  ol.seed(5)
  local v = ol.randn(n, "f64")
  T.near_all(ol.hvp(net, x, ids, "cross_entropy", v), H:mv(v):totable(), 1e-10)
end)

T.test("Gauss-Newton products: G = H for a linear model with mse; G is PSD", function()
  local net = ol.nn.sequential{ol.nn.linear(3, 2)}:to("f64")
  ol.init.normal(net:params(), 0, 1)
  ol.seed(9)
  local v = ol.randn(net:params():numel(), "f64")
  local gv = ol.hvp(net, X, Y2, "mse", v, {gauss_newton = true})
  T.near_all(gv, fd_hvp(net, X, Y2, "mse", v), 1e-7)
  -- a tanh net: v.Gv >= 0 for many v while v.Hv may be negative
  local net2 = tiny("tanh")
  for s = 1, 10 do
    ol.seed(s)
    local u = ol.randn(net2:params():numel(), "f64")
    T.ok(u:dot(ol.hvp(net2, X, IDS, "cross_entropy", u, {gauss_newton = true})) >= -1e-12)
  end
end)

T.test("f32 models get products in double precision", function()
  local net = tiny("tanh")
  local n32 = net:to("f32")
  ol.seed(2)
  local v = ol.randn(net:params():numel(), "f64")
  local hv = ol.hvp(net, X, IDS, "cross_entropy", v)
  local hv32 = ol.hvp(n32, X:to("f32"), IDS, "cross_entropy", v:to("f32"))
  T.eq(hv32:dtype(), "f32")
  T.near_all(hv32, hv:totable(), 1e-4)
end)

-- Q = I - 2 u u' / u'u (a Householder reflection: orthogonal, symmetric).
local function reflected(diag)
  local n = #diag
  local u, uu = {}, 0
  for i = 1, n do u[i] = i - 0.5 * n; uu = uu + u[i] ^ 2 end
  local Q = {}
  for i = 1, n do
    Q[i] = {}
    for j = 1, n do Q[i][j] = (i == j and 1 or 0) - 2 * u[i] * u[j] / uu end
  end
  local A = {}
  for i = 1, n do
    A[i] = {}
    for j = 1, n do
      local s = 0
      for k = 1, n do s = s + Q[i][k] * diag[k] * Q[j][k] end
      A[i][j] = s
    end
  end
  return A, Q
end

T.test("eig on matrices with known spectra", function()
  local vals, vecs = ol.eig(ol.tensor({{2, 1}, {1, 2}}, "f64"))
  T.near_all(vals, {1, 3}, 1e-14)
  local c = vecs:get(1, 2) * vecs:get(2, 2)
  T.near(c, 0.5, 1e-14, "eigenvector of 3 is (1, 1)/sqrt 2")
  local diag = {5, -2, 0.5, 3, 10}
  local A = reflected(diag)
  for _, dt in ipairs{"f64", "f32"} do
    local At = ol.tensor(A, dt)
    local v, V = ol.eig(At)
    T.eq(v:dtype(), dt)
    local tol = dt == "f64" and 1e-12 or 1e-4
    T.near_all(v, {-2, 0.5, 3, 5, 10}, tol * 10)
    -- A v_k = lambda_k v_k, |v_k| = 1
    for k = 1, 5 do
      local col = V:narrow(2, k, 1):contiguous():view(5)
      T.near(col:norm(), 1, tol)
      T.near_all(At:mv(col), (col * v[k]):totable(), tol * 100)
    end
  end
  T.near(ol.cond(ol.tensor(A, "f64")), 10 / 0.5, 1e-10)
  T.eq(ol.cond(ol.tensor({{1, 0}, {0, 0}}, "f64")), math.huge)
end)

T.test("hessian_eigs: Lanczos finds the largest Hessian eigenvalues", function()
  -- a quadratic with a known spectrum (a plain function: differences)
  local diag = {}
  for i = 1, 30 do diag[i] = i * i / 10 end
  local function f(w)
    local g = {}
    local s = 0
    for i = 1, 30 do g[i] = diag[i] * w[i]; s = s + 0.5 * diag[i] * w[i] ^ 2 end
    return s, ol.tensor(g, w:dtype())
  end
  local vals, vecs = ol.hessian_eigs(f, ol.zeros(30, "f64"), {k = 3})
  T.near_all(vals, {90, 84.1, 78.4}, 1e-5)
  T.eq(vecs:size(1), 3)
  T.near(math.abs(vecs:get(1, 30)), 1, 1e-6)
  -- a model: against the eigenvalues of its full (exact) Hessian
  local net = tiny("tanh")
  local H = ol.hessian(net, X, IDS, "cross_entropy")
  local all = ol.eig(H):totable()
  local top = ol.hessian_eigs(net, X, IDS, "cross_entropy", {k = 2, steps = H:size(1)})
  T.near(top[1], all[#all], 1e-9)
  T.near(top[2], all[#all - 1], 1e-9)
end)

T.test("bad input gives clear errors", function()
  T.raises("not square", ol.eig, ol.zeros(2, 3, "f64"))
  T.raises("not square", ol.eig, ol.zeros(4, "f64"))
  T.raises("not symmetric", ol.eig, ol.tensor({{1, 2}, {0, 1}}, "f64"))
  T.raises("not symmetric", ol.cond, ol.tensor({{1, 2}, {0, 1}}, "f64"))
  T.raises("bad argument #1 to", ol.eig, ol.tensor({{1, 2}, {0, 1}}, "f64"))
  T.raises("non-finite", ol.eig, ol.tensor({{0 / 0, 0}, {0, 1}}, "f64"))
  T.raises("f32 and f64", ol.hvp, rosen, ol.tensor({1, 1}, "f32"), ol.tensor({1, 0}, "f64"))
  T.raises("v has 3 elements, the parameters 2", ol.hvp, rosen, ol.tensor({1, 1}, "f64"), ol.zeros(3, "f64"))
  T.raises("function f(x) -> loss, grad, or a model expected", ol.hessian, 42, ol.zeros(2))
  T.raises("must return loss (a number), grad", ol.hessian, function() return 1 end, ol.zeros(2, "f64"))
  T.raises("limited to 5000", ol.hessian, function(x) return 0, x end, ol.zeros(5001, "f64"))
  T.raises("bad argument #3 to 'hessian_eigs' (option 'k' must be in 1..2, got 3)",
           ol.hessian_eigs, rosen, ol.zeros(2, "f64"), {k = 3})
  local net = tiny("tanh")
  T.raises("input is f32 but the model is f64", ol.hvp, net, X:to("f32"), IDS, "cross_entropy", ol.zeros(net:params():numel(), "f64"))
  T.raises("class id 3 out of range", ol.hessian, net, X, {1, 2, 3, 1, 1}, "cross_entropy")
end)

T.run()
