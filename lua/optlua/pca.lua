-- ol.pca: input decorrelation by PCA / whitening / ZCA (numerics in C:
-- engine/pca.c, covariance by GEMM, eigenvectors by LAPACK dsyevd).
--
--   local pca = ol.pca.fit(X, {components = nil, whiten = true, zca = false, eps = 1e-5})
--   local Xd = pca:transform(X)        -- (X - mean) V^T S^-1    (N x k)
--   pca:inverse(Xd)                    -- back to the input space
--   pca.mean (D), pca.components (k x D, rows by decreasing variance, each
--   signed so its largest-|.| entry is positive), pca.explained_variance (k,
--   eigenvalues of the covariance with N - 1), pca.explained_variance_ratio,
--   pca.total_variance, pca.n_components, pca.out_dim
--   ol.pca.condition_number(X)         -- lambda_max / lambda_min of cov(X)
--
-- whiten: S = diag(sqrt(lambda + eps)), else S = I (plain rotation onto the
-- components). zca: rotate back into input coordinates, Z = Xc V^T S^-1 V
-- (output D columns, as close to X as a whitening can be). With
-- components = k < D the inverse is the reconstruction from k components.
local M = {}

local C = (package.loaded.optlua or optlua or require("optlua"))._pca

local known = {components = true, whiten = true, zca = true, eps = true}

function M.fit(X, opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("bad argument #2 to 'fit' (options table expected, got " .. type(opts) .. ")", 2)
  end
  for k in pairs(opts) do
    if not known[k] then error("bad argument #2 to 'fit' (unknown option '" .. tostring(k) .. "')", 2) end
  end
  local k = opts.components
  if k ~= nil and (math.type(k) ~= "integer" and not (type(k) == "number" and k == math.floor(k))
                   or k < 1) then
    error("bad argument #2 to 'fit' (option 'components' must be an integer >= 1, got "
          .. tostring(k) .. ")", 2)
  end
  local whiten, zca, eps = opts.whiten, opts.zca, opts.eps
  if whiten == nil then whiten = true end
  if zca == nil then zca = false end
  if eps == nil then eps = 1e-5 end
  if type(whiten) ~= "boolean" then
    error("bad argument #2 to 'fit' (option 'whiten' must be a boolean, got " .. type(whiten) .. ")", 2)
  end
  if type(zca) ~= "boolean" then
    error("bad argument #2 to 'fit' (option 'zca' must be a boolean, got " .. type(zca) .. ")", 2)
  end
  if type(eps) ~= "number" or eps < 0 then
    error("bad argument #2 to 'fit' (option 'eps' must be a number >= 0, got " .. tostring(eps) .. ")", 2)
  end
  local pca = C.fit(X, k and math.tointeger(k) or 0, whiten, zca, eps)
  return pca
end

M.condition_number = C.condition_number

return M
