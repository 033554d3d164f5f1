-- Second-order methods against first-order ones on ill-conditioned
-- problems: how many closure evaluations each needs, and the curvature
-- tools that explain why (ol.hessian, ol.eig, ol.cond, ol.hessian_eigs).
--   optlua scripts/second_order.lua
local ol = require "optlua"

-- Runs opt on closure f until loss - fmin <= tol or the evaluation budget
-- is spent; returns steps, evaluations, final loss.
local function run(name, options, f, x0, fmin, tol, budget, step_args)
  local w = ol.tensor(x0, "f64")
  local opt = ol.optim[name](w, options)
  local evals = 0
  local function closure()
    evals = evals + 1
    return f(w)
  end
  local steps, loss = 0, f(w)
  while loss - fmin > tol and evals < budget do
    opt:step(step_args or closure)
    steps = steps + 1
    loss = f(w)
  end
  return steps, evals, loss, opt
end

local function report(label, steps, evals, loss, budget)
  print(string.format("  %-40s %6d steps %7d evaluations  loss %-10.3g%s", label, steps, evals, loss,
                      evals >= budget and "  (budget spent)" or ""))
end

-- 1. A rotated 20-D quadratic with condition number 1e4.
local f = ol.fn.quadratic{dim = 20, cond = 1e4, rotation = true, seed = 1}
local x0 = {}
for i = 1, 20 do x0[i] = (i % 3) - 1 + 0.5 end
local H = ol.hessian(f, ol.tensor(x0, "f64"))
local eig = ol.eig(H)
print(string.format("quadratic: 20-D, Hessian eigenvalues %.3g .. %.3g, cond = %.4g (ol.cond)",
                    eig[1], eig[20], ol.cond(H)))
local lmax = eig[20]
local budget, tol = 20000, 1e-10
local cases = {
  {"sgd lr=1/lambda_max", "sgd", {lr = 1 / lmax}},
  {"nag lr=1/lambda_max momentum=0.99", "nag", {lr = 1 / lmax, momentum = 0.99}},
  {"adam lr=0.05", "adam", {lr = 0.05}},
  {"newton damping=0", "newton", {damping = 0}},
  {"cg (one iteration per step)", "cg", {max_iter = 1}},
  {"cg with an exact line search", "cg", {max_iter = 1, c1 = 1e-10, c2 = 1e-9}},
  -- torch's stopping rule g.d > -tolerance_change stalls lbfgs near a
  -- minimum whose loss is this small: a smaller tolerance_change lets it finish
  {"lbfgs strong_wolfe tolerance_change=0", "lbfgs", {max_iter = 1, line_search = "strong_wolfe", tolerance_change = 0}},
  {"hessian_free damping=1e-3", "hessian_free", {damping = 1e-3}},
}
for _, c in ipairs(cases) do
  local steps, evals, loss = run(c[2], c[3], f, x0, 0, tol, budget)
  report(c[1], steps, evals, loss, budget)
end

-- 2. Rosenbrock's curved valley (Hessian condition ~2500 at the minimum).
local r = ol.fn.rosenbrock()
print(string.format("\nrosenbrock from (-1.5, 2): cond of the Hessian at (1, 1) = %.4g",
                    ol.cond(ol.hessian(r, ol.tensor({1, 1}, "f64")))))
local rcases = {
  {"sgd lr=1e-3", "sgd", {lr = 1e-3}},
  {"adam lr=0.02", "adam", {lr = 0.02}},
  {"newton", "newton", {}},
  {"cg", "cg", {max_iter = 1}},
  {"lbfgs (torch defaults)", "lbfgs", {max_iter = 1}},
  {"lbfgs strong_wolfe tolerance_change=0", "lbfgs", {max_iter = 1, line_search = "strong_wolfe", tolerance_change = 0}},
  {"hessian_free", "hessian_free", {damping = 1e-2}},
}
for _, c in ipairs(rcases) do
  local steps, evals, loss = run(c[2], c[3], r, {-1.5, 2}, 0, 1e-10, budget)
  report(c[1], steps, evals, loss, budget)
end

-- 3. An MLP on a regression: Hessian-free with exact Gauss-Newton products
--    (opt:step(x, target, kind)) against Adam, and the sharpest directions
--    of the loss (Lanczos on exact Hessian-vector products).
local xs, ys = {}, {}
for i = 0, 11 do
  for j = 0, 11 do
    local a, b = -1 + 2 * i / 11, -1 + 2 * j / 11
    xs[#xs + 1], ys[#ys + 1] = {a, b}, {math.sin(3 * a) * math.cos(2 * b)}
  end
end
local x, y = ol.tensor(xs, "f64"), ol.tensor(ys, "f64")
local function net0()
  ol.seed(1)
  return ol.nn.mlp{sizes = {2, 16, 16, 1}, activation = "tanh", dtype = "f64"}
end
print(string.format("\nMLP 2-16-16-1 (tanh), %d points, mse:", #xs))
local net = net0()
local top = ol.hessian_eigs(net, x, y, "mse", {k = 3})
print(string.format("  at init: loss %.4g, top Hessian eigenvalues %.4g %.4g %.4g",
                    net:loss(x, y, "mse"), top[1], top[2], top[3]))
local hf = ol.optim.hessian_free(net, {damping = 1})
for _ = 1, 30 do hf:step(x, y, "mse") end
top = ol.hessian_eigs(net, x, y, "mse", {k = 3})
print(string.format("  hessian_free, 30 steps:  loss %.4g  (damping now %.3g; top eigenvalues %.4g %.4g %.4g)",
                    net:loss(x, y, "mse"), hf.damping, top[1], top[2], top[3]))
print("    last step: " .. hf.info)
for _, lr in ipairs{0.003, 0.01, 0.03} do
  local n2 = net0()
  local adam = ol.optim.adam(n2, {lr = lr})
  for _ = 1, 1000 do adam:step(function() return n2:evaluate(x, y, "mse") end) end
  print(string.format("  adam lr=%-5g 1000 steps:   loss %.4g", lr, n2:loss(x, y, "mse")))
end
local n3 = net0()
local lb = ol.optim.lbfgs(n3, {line_search = "strong_wolfe", max_iter = 30})
for _ = 1, 10 do lb:step(function() return n3:evaluate(x, y, "mse") end) end
print(string.format("  lbfgs 10 x 30 iterations:   loss %.4g", n3:loss(x, y, "mse")))
