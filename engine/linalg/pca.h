/* PCA of the rows of a data matrix: mean, covariance by GEMM,
 * eigendecomposition by LAPACK (dsyevd), and the linear maps that project
 * (optionally whiten, optionally rotate back: ZCA) and undo that.
 *
 * Every computation runs in double, whatever the data's dtype; results are
 * handed out in the data's dtype by the caller. */
#ifndef OL_PCA_H
#define OL_PCA_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct ol_pca {
    ol_dtype dtype;      /* of the data it was fitted on */
    int64_t dim;         /* D: features */
    int64_t k;           /* components kept */
    int64_t out_dim;     /* k, or D with zca */
    int whiten, zca;
    double eps;
    double *mean;        /* D */
    double *components;  /* k x D row-major: unit eigenvectors, decreasing variance */
    double *variance;    /* k: their eigenvalues (covariance with N - 1), clamped at 0 */
    double total_variance; /* trace of the covariance */
    double *fwd;         /* D x out_dim: Z = (X - mean) fwd */
    double *bwd;         /* out_dim x D: X = Z bwd + mean */
} ol_pca;

/* Fits X (N x D, N >= 2). k: components to keep, 0 for all D. whiten:
 * divide each component by sqrt(variance + eps); zca: rotate back into the
 * input coordinates (out_dim = D). Each component's sign is fixed so that its
 * largest-magnitude entry (the first one on ties) is positive. On failure p
 * owns nothing. */
int ol_pca_fit(ol_pca *p, const ol_tensor *X, int64_t k, int whiten, int zca, double eps, ol_error *err);
void ol_pca_free(ol_pca *p);

/* out = (X - mean) fwd, X: N x D of the fitted dtype; out is N x out_dim. */
int ol_pca_transform(const ol_pca *p, const ol_tensor *X, ol_tensor *out, ol_error *err);
/* out = Z bwd + mean, Z: N x out_dim; exact inverse when k = D, otherwise the
 * reconstruction from the kept components. */
int ol_pca_inverse(const ol_pca *p, const ol_tensor *Z, ol_tensor *out, ol_error *err);

/* Condition number lambda_max / lambda_min of the covariance of X's rows
 * (N x D, N >= 2); INFINITY when lambda_min <= 0. */
int ol_pca_condition_number(const ol_tensor *X, double *cond, ol_error *err);

#endif
