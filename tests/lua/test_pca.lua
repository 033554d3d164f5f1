-- ol.pca through the Lua API, on data with a known rotation and known
-- variances: X = Z diag(sigma) R^T + m, Z's columns orthogonal, zero mean,
-- unit sample variance (Hadamard columns). Expected values come from R,
-- sigma and m, not from the code.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = optlua or require("optlua")

local N, D = 8, 2
local th = math.pi / 3
local R = {{math.cos(th), -math.sin(th)}, {math.sin(th), math.cos(th)}}
local sigma = {4, 0.5}
local mu = {10, -3}

local function popodd(x) local c = 0 while x > 0 do c = c + (x & 1); x = x >> 1 end return c % 2 == 1 end
local function data(dtype)
  local rows = {}
  for i = 0, N - 1 do
    local z = {}
    for c, col in ipairs({1, 2}) do z[c] = (popodd(i & col) and -1 or 1) * math.sqrt((N - 1) / N) end
    rows[i + 1] = {}
    for j = 1, D do
      local v = mu[j]
      for c = 1, D do v = v + z[c] * sigma[c] * R[j][c] end
      rows[i + 1][j] = v
    end
  end
  return ol.tensor(rows, dtype or "f64"), rows
end

-- sample covariance of the columns of a table of rows
local function cov(rows)
  local n, k = #rows, #rows[1]
  local m = {}
  for a = 1, k do m[a] = 0 for i = 1, n do m[a] = m[a] + rows[i][a] end m[a] = m[a] / n end
  local c = {}
  for a = 1, k do
    c[a] = {}
    for b = 1, k do
      local s = 0
      for i = 1, n do s = s + (rows[i][a] - m[a]) * (rows[i][b] - m[b]) end
      c[a][b] = s / (n - 1)
    end
  end
  return c
end

local run_example = T.run_example

T.test("known rotation, variances and mean recovered", function()
  local X = data()
  local pca = ol.pca.fit(X, {whiten = false})
  T.near_all(pca.mean, mu, 1e-12, "mean")
  T.near_all(pca.explained_variance, {16, 0.25}, 1e-12, "variances = sigma^2")
  T.near_all(pca.explained_variance_ratio, {16 / 16.25, 0.25 / 16.25}, 1e-12)
  -- components: R's columns, signed so the largest-|.| entry is positive
  local c1 = {R[1][1], R[2][1]}  -- (0.5, 0.866): already positive
  local c2 = {R[1][2], R[2][2]}  -- (-0.866, 0.5) -> (0.866, -0.5)
  c2 = {-c2[1], -c2[2]}
  T.near_all(pca.components, {c1, c2}, 1e-12, "components")
  T.eq(pca.n_components, 2)
  T.near(ol.pca.condition_number(X), 64, 1e-9, "(4 / 0.5)^2")
end)

T.test("whitened covariance is the identity; inverse undoes transform", function()
  for _, dtype in ipairs({"f64", "f32"}) do
    local X = data(dtype)
    local tol = dtype == "f64" and 1e-9 or 1e-4
    for _, zca in ipairs({false, true}) do
      local pca = ol.pca.fit(X, {zca = zca, eps = 1e-10})
      local Z = pca:transform(X)
      T.eq(Z:dtype(), dtype)
      T.near_all(cov(Z:totable()), {{1, 0}, {0, 1}}, tol, "whitened covariance " .. dtype)
      T.near_all(pca:inverse(Z), select(2, data()), tol * 100, "inverse(transform(X))")
      T.near(ol.pca.condition_number(Z), 1, tol * 10)
    end
  end
end)

T.test("ZCA stays close to the input: its map is R diag(1/sigma) R^T", function()
  local X = data()
  local pca = ol.pca.fit(X, {zca = true, eps = 0})
  local Z = pca:transform(X):totable()
  local rows = select(2, data())
  for i = 1, N do
    for j = 1, D do
      local want = 0
      for k = 1, D do
        local w = 0
        for r = 1, D do w = w + R[k][r] * R[j][r] / sigma[r] end
        want = want + (rows[i][k] - mu[k]) * w
      end
      T.near(Z[i][j], want, 1e-10)
    end
  end
end)

T.test("fewer components: projection and reconstruction", function()
  local X, rows = data()
  local pca = ol.pca.fit(X, {components = 1, whiten = false})
  local Z = pca:transform(X)
  T.eq(Z:size(2), 1)
  T.near(cov(Z:totable())[1][1], 16, 1e-10)
  local back = pca:inverse(Z):totable()
  local sq = 0
  for i = 1, N do for j = 1, D do sq = sq + (rows[i][j] - back[i][j]) ^ 2 end end
  T.near(sq, (N - 1) * 0.25, 1e-10, "lost variance = dropped component's")
end)

T.test("bad options and inputs", function()
  local X = data()
  T.raises("bad argument #2 to 'fit' (unknown option 'whitening'; did you mean 'whiten'?)",
           ol.pca.fit, X, {whitening = true})
  T.raises("bad argument #2 to 'fit' (option 'components' must be >= 1, got 0)", ol.pca.fit, X, {components = 0})
  T.raises("bad argument #2 to 'fit' (option 'components' must be an integer >= 1, got 1.5)",
           ol.pca.fit, X, {components = 1.5})
  T.raises("bad argument #2 to 'fit' (option 'eps' must be >= 0, got -1)", ol.pca.fit, X, {eps = -1})
  T.raises("components must be in 1..2", ol.pca.fit, X, {components = 3})
  T.raises("at least 2 rows", ol.pca.fit, ol.zeros(1, 2))
  T.raises("tensor expected", ol.pca.fit, {{1, 2}})
  local pca = ol.pca.fit(X)
  T.raises("bad argument #1 to 'transform' (data must be N x 2, got 3x3)",
           function() local z = pca:transform(ol.zeros(3, 3, "f64")); return z end)
  T.raises("fitted on f64", function() local z = pca:transform(ol.zeros(3, 2)); return z end)
  T.raises("must be N x 2", function() local z = pca:inverse(ol.zeros(3, 1, "f64")); return z end)
end)

T.test("example: pca_decorrelation.lua, whitening converges far faster", function()
  local r = run_example("pca_decorrelation.lua")
  T.ok(r.raw_cond > 100, "raw inputs are ill-conditioned")
  T.near(r.white_cond, 1, 1e-6, "whitened: round")
  T.ok(r.white_steps <= 3 and r.raw_steps > 100 * r.white_steps,
       string.format("steps raw %d, whitened %d", r.raw_steps, r.white_steps))
end)

T.run()
