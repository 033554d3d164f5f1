/* The LAPACK calls of the engine. LAPACK comes from OpenBLAS, which holds
 * BLAS and LAPACK in one library, so the engine links nothing else for
 * them (no LAPACKE, no reference LAPACK or BLAS beside it).
 *
 * Each function calls the Fortran routine as LAPACKE, LAPACK's C
 * interface, does for the same layout: the input checked for NaN first
 * (returning minus the number of the LAPACKE argument that holds it), the
 * workspace sized by LAPACK's own query, row-major matrices copied to and
 * from column-major ones. Each returns LAPACK's info: 0 on success, < 0 a
 * bad argument (numbered as LAPACKE numbers them), > 0 the routine's own
 * failure (see its documentation), OL_LAPACK_NOMEM when a workspace could
 * not be allocated. Sizes are LAPACK's 32-bit integers. */
#ifndef OL_LINALG_LAPACK_H
#define OL_LINALG_LAPACK_H

#include <stdint.h>

#include "core/tensor.h"

/* LAPACKE's LAPACK_WORK_MEMORY_ERROR. */
#define OL_LAPACK_NOMEM (-1010)

/* Eigenvalues (ascending, into w) of the symmetric n x n row-major matrix
 * a of dtype dt (f32: ssyevd, f64: dsyevd; divide and conquer), reading
 * its upper triangle; with vectors, a is replaced by the matching unit
 * eigenvectors as its columns. A NaN in a: -5. */
int ol_lapack_syevd(ol_dtype dt, int vectors, int n, void *a, void *w);

/* ol_lapack_syevd on scratch the caller holds, for a loop that must not
 * allocate (an optimizer's step): ol_lapack_syevd_size gives the scratch
 * an n x n problem needs, in elements of dt (the column-major copy,
 * LAPACK's work and, stored in the same block, its integer iwork), from
 * LAPACK's workspace query, or -1 when the query fails. work must hold
 * that many elements, aligned for dt. ol_lapack_syevd is this with
 * scratch it allocates. */
int64_t ol_lapack_syevd_size(ol_dtype dt, int vectors, int n);
int ol_lapack_syevd_work(ol_dtype dt, int vectors, int n, void *a, void *w, void *work);

/* Eigenvalues (ascending, into d) and unit eigenvectors (the columns of
 * the n x n row-major z) of the symmetric tridiagonal matrix with diagonal
 * d (n) and off-diagonal e (n - 1; destroyed): dstev. A NaN in d: -4, in
 * e: -5. */
int ol_lapack_stev(int n, double *d, double *e, double *z);

/* Cholesky factor L (a = L L^T) of the symmetric positive definite n x n
 * column-major matrix a, in its lower triangle: dpotrf. A NaN in the
 * lower triangle: -4; > 0: not positive definite. */
int ol_lapack_potrf_lower(int n, double *a);
/* Solves a x = b with the factor ol_lapack_potrf_lower left in a; x
 * replaces b (n): dpotrs. A NaN in the factor: -5, in b: -7. */
int ol_lapack_potrs_lower(int n, const double *a, double *b);

/* Thin QR of the m x n row-major matrix a, m >= n >= 1: a = Q R with Q
 * m x n with orthonormal columns, R upper triangular (dgeqrf, then
 * dorgqr). a is replaced by Q and rdiag (n) receives R's diagonal. A NaN
 * in a: -4. */
int ol_lapack_qr(int m, int n, double *a, double *rdiag);

/* ol_lapack_qr in either dtype (?geqrf, ?orgqr) on scratch the caller
 * holds, for a loop that must not allocate: ol_lapack_qr_size gives the
 * elements of dt it needs (the column-major copy, tau and LAPACK's work,
 * from LAPACK's workspace queries), or -1 when a query fails; rdiag may
 * be NULL. ol_lapack_qr is this with scratch it allocates. */
int64_t ol_lapack_qr_size(ol_dtype dt, int m, int n);
int ol_lapack_qr_work(ol_dtype dt, int m, int n, void *a, void *rdiag, void *work);

#endif
