/* Principal component analysis and whitening of a data matrix X (N x D):
 *
 *   mean  m = (1/N) sum_n x_n,   Xc = X - m
 *   C     = Xc^T Xc / (N - 1)                 (one GEMM; unbiased, as sklearn)
 *   C     = V diag(lambda) V^T                (LAPACK dsyevd, eigenvalues sorted
 *                                              decreasing; V's rows below)
 *   PCA   Z = Xc V_k^T                          components V_k: k x D
 *   whitened  Z = Xc V_k^T S^-1,  S = diag(sqrt(lambda + eps))
 *   ZCA   Z = Xc V_k^T S^-1 V_k               (whitened, rotated back; Bell &
 *                                              Sejnowski 1997, Kessy et al. 2018)
 *
 * Whitening makes the covariance of Z the identity (up to eps), so the error
 * surface of a linear model on Z is round rather than a long ellipse
 * (LeCun et al., "Efficient BackProp", 1998, section 4.3). Each map is kept as
 * one matrix (fwd) with its inverse (bwd), so transform and inverse are one
 * GEMM each. The sign of each component is fixed (largest-|.| entry positive)
 * so that results do not depend on the LAPACK build. */
#include "linalg/pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "linalg/lapack.h"

/* A contiguous f64 copy of the N x D matrix X, centred; mean gets its column
 * means (D doubles, malloc'd). On failure nothing is left allocated. */
static int centred_copy(const ol_tensor *X, ol_tensor *xc, double **mean, ol_error *err) {
    char b[96];
    memset(xc, 0, sizeof *xc);
    *mean = NULL;
    if (X->ndim != 2)
        return ol_fail(err, "data must be an N x D matrix, got %s", ol_shape_str(X, b, sizeof b));
    int64_t n = X->shape[0], d = X->shape[1];
    if (n < 2) return ol_fail(err, "need at least 2 rows (samples), got %lld", (long long)n);
    if (d < 1) return ol_fail(err, "need at least 1 column (feature), got 0");
    if (ol_tensor_to(X, OL_F64, xc, err)) return -1;
    double *x = ol_tensor_data(xc);
    double *m = calloc((size_t)d, sizeof *m);
    if (!m) {
        ol_tensor_release(xc);
        return ol_fail(err, "out of memory");
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) m[j] += x[i * d + j];
    for (int64_t j = 0; j < d; j++) m[j] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) x[i * d + j] -= m[j];
    *mean = m;
    return 0;
}

/* cov = xc^T xc / (n - 1), D x D (malloc'd). */
static double *covariance(const ol_tensor *xc) {
    int64_t n = xc->shape[0], d = xc->shape[1];
    double *c = malloc((size_t)(d * d) * sizeof *c);
    if (!c) return NULL;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)n, 1.0 / (double)(n - 1),
                ol_tensor_data(xc), (int)d, ol_tensor_data(xc), (int)d, 0.0, c, (int)d);
    return c;
}

void ol_pca_free(ol_pca *p) {
    free(p->mean);
    free(p->components);
    free(p->variance);
    free(p->fwd);
    free(p->bwd);
    memset(p, 0, sizeof *p);
}

int ol_pca_fit(ol_pca *p, const ol_tensor *X, int64_t k, int whiten, int zca, double eps, ol_error *err) {
    memset(p, 0, sizeof *p);
    if (!(eps >= 0)) return ol_fail(err, "eps must be >= 0, got %g", eps);
    if (X->ndim == 2 && (k < 0 || k > X->shape[1]))
        return ol_fail(err, "components must be in 1..%lld, got %lld", (long long)X->shape[1], (long long)k);
    if (X->ndim == 2 && (X->shape[0] > INT32_MAX || X->shape[1] > 46340))
        return ol_fail(err, "data too large for PCA (at most 46340 features)");
    ol_tensor xc;
    double *mean;
    if (centred_copy(X, &xc, &mean, err)) return -1;
    int64_t d = X->shape[1];
    if (k == 0) k = d;
    double *c = covariance(&xc);
    ol_tensor_release(&xc);
    double *w = malloc((size_t)d * sizeof *w);
    p->dtype = X->dtype;
    p->dim = d;
    p->k = k;
    p->out_dim = zca ? d : k;
    p->whiten = whiten;
    p->zca = zca;
    p->eps = eps;
    p->mean = mean;
    p->components = malloc((size_t)(k * d) * sizeof(double));
    p->variance = malloc((size_t)k * sizeof(double));
    p->fwd = malloc((size_t)(d * p->out_dim) * sizeof(double));
    p->bwd = malloc((size_t)(d * p->out_dim) * sizeof(double));
    if (!c || !w || !p->components || !p->variance || !p->fwd || !p->bwd) {
        free(c);
        free(w);
        ol_pca_free(p);
        return ol_fail(err, "out of memory");
    }
    for (int64_t i = 0; i < d; i++) p->total_variance += c[i * d + i];
    /* Eigenvectors overwrite c: column j holds the one for w[j] (ascending). */
    int info = ol_lapack_syevd(OL_F64, 1, (int)d, c, w);
    if (info != 0) {
        free(c);
        free(w);
        ol_pca_free(p);
        return ol_fail(err, "eigendecomposition failed (dsyevd info %d)", (int)info);
    }
    for (int64_t r = 0; r < k; r++) {
        int64_t col = d - 1 - r; /* decreasing variance */
        double *v = p->components + r * d;
        int64_t big = 0;
        for (int64_t i = 0; i < d; i++) {
            v[i] = c[i * d + col];
            if (fabs(v[i]) > fabs(v[big])) big = i;
        }
        if (v[big] < 0)
            for (int64_t i = 0; i < d; i++) v[i] = -v[i];
        /* Rounding can leave tiny negative eigenvalues of a singular covariance. */
        p->variance[r] = w[col] > 0 ? w[col] : 0;
    }
    free(c);
    free(w);

    /* Per-component scale s_r: sqrt(lambda_r + eps) when whitening, else 1. */
    double *s = malloc((size_t)k * sizeof *s);
    if (!s) {
        ol_pca_free(p);
        return ol_fail(err, "out of memory");
    }
    for (int64_t r = 0; r < k; r++) {
        s[r] = whiten ? sqrt(p->variance[r] + eps) : 1.0;
        if (!(s[r] > 0)) {
            free(s);
            ol_pca_free(p);
            return ol_fail(err, "component %lld has zero variance: whitening needs eps > 0", (long long)r + 1);
        }
    }
    const double *v = p->components;
    if (!zca) {
        for (int64_t i = 0; i < d; i++)
            for (int64_t r = 0; r < k; r++) {
                p->fwd[i * k + r] = v[r * d + i] / s[r];
                p->bwd[r * d + i] = v[r * d + i] * s[r];
            }
    } else {
        /* fwd = V^T S^-1 V, bwd = V^T S V (both D x D, symmetric). */
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < d; j++) {
                double f = 0, g = 0;
                for (int64_t r = 0; r < k; r++) {
                    double vv = v[r * d + i] * v[r * d + j];
                    f += vv / s[r];
                    g += vv * s[r];
                }
                p->fwd[i * d + j] = f;
                p->bwd[i * d + j] = g;
            }
    }
    free(s);
    return 0;
}

/* out (dtype dt) = (A - sub) M + add, A: N x rows(M) read in f64, M: rows x cols;
 * sub/add: NULL or one row. */
static int affine(const ol_tensor *A, const double *sub, const double *M, int64_t rows, int64_t cols,
                  const double *add, ol_dtype dt, ol_tensor *out, ol_error *err) {
    ol_tensor a, r;
    memset(out, 0, sizeof *out);
    if (ol_tensor_to(A, OL_F64, &a, err)) return -1;
    int64_t n = A->shape[0];
    double *x = ol_tensor_data(&a);
    if (sub)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < rows; j++) x[i * rows + j] -= sub[j];
    int64_t shape[2] = {n, cols};
    if (ol_tensor_empty(&r, OL_F64, 2, shape, err)) {
        ol_tensor_release(&a);
        return -1;
    }
    double *y = ol_tensor_data(&r);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < cols; j++) y[i * cols + j] = add ? add[j] : 0.0;
    if (n > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)cols, (int)rows, 1.0, x, (int)rows,
                    M, (int)cols, 1.0, y, (int)cols);
    ol_tensor_release(&a);
    if (dt == OL_F64) {
        *out = r;
        return 0;
    }
    int rc = ol_tensor_to(&r, dt, out, err);
    ol_tensor_release(&r);
    return rc;
}

static int check_input(const ol_pca *p, const ol_tensor *A, int64_t cols, const char *what, ol_error *err) {
    char b[96];
    if (A->dtype != p->dtype)
        return ol_fail(err, "%s is %s but the PCA was fitted on %s data", what, ol_dtype_name(A->dtype),
                       ol_dtype_name(p->dtype));
    if (A->ndim != 2 || A->shape[1] != cols)
        return ol_fail(err, "%s must be N x %lld, got %s", what, (long long)cols, ol_shape_str(A, b, sizeof b));
    if (A->shape[0] > INT32_MAX) return ol_fail(err, "%s has too many rows", what);
    return 0;
}

int ol_pca_transform(const ol_pca *p, const ol_tensor *X, ol_tensor *out, ol_error *err) {
    memset(out, 0, sizeof *out);
    if (check_input(p, X, p->dim, "data", err)) return -1;
    return affine(X, p->mean, p->fwd, p->dim, p->out_dim, NULL, p->dtype, out, err);
}

int ol_pca_inverse(const ol_pca *p, const ol_tensor *Z, ol_tensor *out, ol_error *err) {
    memset(out, 0, sizeof *out);
    if (check_input(p, Z, p->out_dim, "transformed data", err)) return -1;
    return affine(Z, NULL, p->bwd, p->out_dim, p->dim, p->mean, p->dtype, out, err);
}

int ol_pca_condition_number(const ol_tensor *X, double *cond, ol_error *err) {
    if (X->ndim == 2 && X->shape[1] > 46340) return ol_fail(err, "data too large (at most 46340 features)");
    ol_tensor xc;
    double *mean;
    if (centred_copy(X, &xc, &mean, err)) return -1;
    free(mean);
    int64_t d = X->shape[1];
    double *c = covariance(&xc);
    ol_tensor_release(&xc);
    double *w = malloc((size_t)d * sizeof *w);
    if (!c || !w) {
        free(c);
        free(w);
        return ol_fail(err, "out of memory");
    }
    int info = ol_lapack_syevd(OL_F64, 0, (int)d, c, w);
    double lo = w[0], hi = w[d - 1];
    free(c);
    free(w);
    if (info != 0) return ol_fail(err, "eigendecomposition failed (dsyevd info %d)", (int)info);
    *cond = lo > 0 ? hi / lo : INFINITY;
    return 0;
}
