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
 * Computations, sec. 10.1) on the symmetric operator v -> A v on R^n: m
 * steps (1 <= m <= n) from v0 (n values, need not be normalised; NULL: a
 * fixed pseudo-random start), and the whole eigen-decomposition of the
 * m x m tridiagonal T it builds. *steps receives the steps taken: m, or
 * fewer when the start vector spans an invariant subspace of A of that
 * dimension (the Ritz values are then exact eigenvalues). theta (m
 * values) receives the *steps Ritz values, ascending; tau (m values, may
 * be NULL) the squares of the first components of T's unit eigenvectors,
 * which sum to 1: the Gauss quadrature rule of the start vector's
 * spectral measure, sum_j tau_j f(theta_j) ~ v0' f(A) v0 / v0'v0, exact
 * for polynomials f of degree < 2 * steps (Golub & Meurant, Matrices,
 * Moments and Quadrature, ch. 6). lo (k_lo x n, row i the unit Ritz
 * vector of theta[i]) and hi (k_hi x n, row i that of
 * theta[steps - 1 - i]) may be NULL; k_lo, k_hi > *steps is an error.
 * The Ritz values are exact when m = n and converge fastest for
 * well-separated extreme eigenvalues, at both ends alike. */
typedef int (*ol_matvec_fn)(void *ud, const double *v, double *out, ol_error *err);
int ol_lanczos_ritz(int64_t n, ol_matvec_fn av, void *ud, int m, const double *v0, double *theta,
                    double *tau, int k_lo, double *lo, int k_hi, double *hi, int *steps, ol_error *err);

/* The k largest Ritz values (descending) of ol_lanczos_ritz with
 * m = clamp(m, k, n) steps; vecs (k x n, row i the eigenvector of
 * vals[i]) may be NULL. */
int ol_lanczos(int64_t n, ol_matvec_fn av, void *ud, int k, int m, const double *v0,
               double *vals, double *vecs, ol_error *err);

/* How far the operator v -> A v is from symmetric, measured on two fixed
 * pseudo-random vectors u, v (no RNG state touched):
 *   *asym = |u'(A v) - v'(A u)| / (|u| |A v| + |v| |A u|),
 * 0 for a symmetric operator (up to rounding) and for A = 0; at most 1. */
int ol_op_asymmetry(int64_t n, ol_matvec_fn av, void *ud, double *asym, ol_error *err);

#endif
