/* Dense symmetric linear algebra through LAPACK (lapack.h): damped Cholesky
 * solves, symmetric eigendecomposition, condition numbers, and Lanczos for
 * the extreme eigenvalues of an operator known only by its products.
 * Conventions as in tensor.h: 0 / -1 with an ol_error filled. */
#ifndef OL_LINALG_H
#define OL_LINALG_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

/* Solves (H + lambda I) x = b for symmetric H (n x n, row-major, not
 * modified) by Cholesky (dpotrf/dpotrs). When H + lambda I is not positive
 * definite, lambda is raised: to 1e-8 * max(1, max|H_ii|) if it is 0, then
 * x10 per try, up to 40 tries. *lambda is updated to the damping used,
 * *raised to the number of raises. work: n*n doubles. */
int ol_chol_solve_damped(int64_t n, const double *H, const double *b, double *lambda,
                         double *x, int *raised, double *work, ol_error *err);

/* Eigen-decomposition of a symmetric matrix (2-D, square, f32 or f64;
 * asymmetry beyond tol * max|a| is an error): eigenvalues ascending in vals
 * {n}, the matching unit eigenvectors as the columns of vecs {n, n} (vecs
 * may be NULL), both in a's dtype (ssyevd / dsyevd). tol < 0: the dtype's
 * default (1e-10 for f64, 1e-5 for f32). */
int ol_eigh(const ol_tensor *a, double tol, ol_tensor *vals, ol_tensor *vecs, ol_error *err);

/* Condition number of a symmetric matrix: max|lambda| / min|lambda|
 * (INFINITY when singular). */
int ol_cond_sym(const ol_tensor *a, double tol, double *cond, ol_error *err);

/* Lanczos with full reorthogonalisation (Golub & Van Loan, Matrix
 * Computations, sec. 10.1): the k largest eigenvalues (descending) of the
 * symmetric operator v -> A v on R^n, from m >= k steps (m <= n) started at
 * v0 (n values, need not be normalised; NULL: a fixed pseudo-random start).
 * vecs (k x n, row i the eigenvector of vals[i]) may be NULL. The Ritz
 * values are exact when m = n and converge fastest for well-separated
 * extreme eigenvalues. */
typedef int (*ol_matvec_fn)(void *ud, const double *v, double *out, ol_error *err);
int ol_lanczos(int64_t n, ol_matvec_fn av, void *ud, int k, int m, const double *v0,
               double *vals, double *vecs, ol_error *err);

#endif
