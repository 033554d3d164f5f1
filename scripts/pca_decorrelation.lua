-- PCA whitening turns a long, narrow error surface into a round one.
--   optlua scripts/pca_decorrelation.lua [small]
-- A linear model fitted by gradient descent on strongly correlated inputs:
-- the loss 0.5/n |Xw - y|^2 has Hessian X^T X / n, whose condition number
-- is that of the inputs' covariance; gradient descent with the largest safe
-- step (1/lambda_max) needs about cond * log(1/tol) steps. On whitened
-- inputs the covariance is the identity, cond = 1, and it needs one or two.
local ol = optlua or require("optlua")
local small = arg and arg[1] == "small"
local n, d = small and 200 or 2000, 6
local max_steps = small and 3000 or 20000
local tol = 1e-8

ol.seed(2)
-- correlated features: each is the previous plus a little noise
local X = ol.randn(n, d, "f64")
for j = 2, d do X:narrow(2, j, 1):mul_(0.15):add_(X:narrow(2, j - 1, 1)) end
local pca = ol.pca.fit(X, {whiten = true, eps = 0})
local Xc = X - pca.mean                -- centred, so no intercept is needed
local y = Xc:mv(ol.randn(d, "f64"))

local function descend(A, name)
  -- the largest eigenvalue of A^T A / n, by the Rayleigh quotient of a few power steps
  local v = ol.ones(d, "f64")
  for _ = 1, 100 do v = A:t():mv(A:mv(v)) / n; v = v / v:norm() end
  local lmax = v:dot(A:t():mv(A:mv(v))) / n
  local w = ol.zeros(d, "f64")
  local opt = ol.optim.sgd(w, {lr = 1 / lmax})
  local function closure()
    local r = A:mv(w) - y
    return 0.5 * r:dot(r) / n, A:t():mv(r) / n
  end
  local loss0 = closure()
  local steps, loss = 0, loss0
  while loss > tol * loss0 and steps < max_steps do
    opt:step(closure)
    loss = closure()
    steps = steps + 1
  end
  local cond = ol.pca.condition_number(A)
  print(string.format("%-9s condition number %10.1f   steps to reduce the loss %g-fold: %d%s",
                      name, cond, 1 / tol, steps, loss > tol * loss0 and " (not reached)" or ""))
  return steps, cond
end

local raw_steps, raw_cond = descend(Xc, "raw")
local white_steps, white_cond = descend(pca:transform(X), "whitened")
print(string.format("explained variance: %s", table.concat((function()
  local t = {} for i, v in ipairs(pca.explained_variance:totable()) do t[i] = string.format("%.3g", v) end
  return t end)(), " ")))
return {raw_steps = raw_steps, white_steps = white_steps, raw_cond = raw_cond, white_cond = white_cond}
