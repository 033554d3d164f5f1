-- ol.pca: input decorrelation by PCA / whitening / ZCA (numerics in C:
-- engine/linalg/pca.c, covariance by GEMM, eigenvectors by LAPACK dsyevd).
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

local args = (package.loaded.optlua or optlua or require("optlua"))._args

function M.fit(X, opts)
  local o = args.options("fit", 2, opts, {
    components = {"integer", min = 1},
    whiten = {"boolean", default = true},
    zca = {"boolean", default = false},
    eps = {"number", default = 1e-5, min = 0},
  })
  local k, whiten, zca, eps = o.components, o.whiten, o.zca, o.eps
  local pca = C.fit(X, k or 0, whiten, zca, eps)
  return pca
end

M.condition_number = C.condition_number

return M
