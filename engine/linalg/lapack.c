/* The engine's LAPACK calls (see lapack.h): OpenBLAS's Fortran routines,
 * declared here as gfortran compiles them (every argument by reference;
 * after the arguments, the length of each character argument, by value),
 * with LAPACKE's checks, workspace queries and layout copies around them.
 * The copies between layouts move values without arithmetic. */
#ifndef OL_GENERIC
#include "linalg/lapack.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w,
             float *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len,
             size_t uplo_len);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len,
             size_t uplo_len);
void dstev_(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
            double *work, int *info, size_t jobz_len);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info, size_t uplo_len);
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau, float *work,
             const int *lwork, int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda, const float *tau,
             float *work, const int *lwork, int *info);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
             const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau,
             double *work, const int *lwork, int *info);

/* LAPACK's own numbering of a bad argument, moved past LAPACKE's first
 * argument (the layout), as LAPACKE reports it. */
static int lapacke_info(int info) { return info < 0 ? info - 1 : info; }

static int any_nan(const double *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (isnan(x[i])) return 1;
    return 0;
}

/* The lower triangle (with the diagonal) of a column-major n x n matrix. */
static int lower_has_nan(int n, const double *a) {
    for (int j = 0; j < n; j++)
        if (any_nan(a + (size_t)j * n + j, n - j)) return 1;
    return 0;
}

#define OL_GENERIC "linalg/lapack.c"
#include "core/generic.h"

int64_t ol_lapack_syevd_size(ol_dtype dt, int vectors, int n) {
    return OL_DT_CALL(dt, syevd_size, vectors ? 'V' : 'N', n);
}

int ol_lapack_syevd_work(ol_dtype dt, int vectors, int n, void *a, void *w, void *work) {
    return OL_DT_CALL(dt, syevd_work, vectors ? 'V' : 'N', n, a, w, work);
}

/* The scratch of ol_lapack_syevd_work, allocated for this one call. */
int ol_lapack_syevd(ol_dtype dt, int vectors, int n, void *a, void *w) {
    const int64_t size = ol_lapack_syevd_size(dt, vectors, n);
    if (size < 0) return -4; /* only a bad n (LAPACKE's argument 4) fails the query */
    void *work = malloc((size_t)(size > 0 ? size : 1) * ol_dtype_size(dt));
    if (!work) return OL_LAPACK_NOMEM;
    const int info = ol_lapack_syevd_work(dt, vectors, n, a, w, work);
    free(work);
    return info;
}

int ol_lapack_stev(int n, double *d, double *e, double *z) {
    if (any_nan(d, n)) return -4;
    if (any_nan(e, n - 1)) return -5;
    const int ld = n > 1 ? n : 1;
    double *work = malloc((size_t)(2 * n - 2 > 1 ? 2 * n - 2 : 1) * sizeof *work);
    double *zt = malloc((size_t)ld * (size_t)ld * sizeof *zt);
    int info = OL_LAPACK_NOMEM;
    if (work && zt) {
        dstev_("V", &n, d, e, zt, &ld, work, &info, 1);
        info = lapacke_info(info);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) z[(size_t)i * n + j] = zt[i + (size_t)j * ld];
    }
    free(work);
    free(zt);
    return info;
}

int ol_lapack_potrf_lower(int n, double *a) {
    if (lower_has_nan(n, a)) return -4;
    int info;
    dpotrf_("L", &n, a, &n, &info, 1);
    return lapacke_info(info);
}

int ol_lapack_potrs_lower(int n, const double *a, double *b) {
    if (lower_has_nan(n, a)) return -5;
    if (any_nan(b, n)) return -7;
    const int one = 1;
    int info;
    dpotrs_("L", &n, &one, a, &n, b, &n, &info, 1);
    return lapacke_info(info);
}

int64_t ol_lapack_qr_size(ol_dtype dt, int m, int n) {
    return OL_DT_CALL(dt, qr_size, m, n);
}

int ol_lapack_qr_work(ol_dtype dt, int m, int n, void *a, void *rdiag, void *work) {
    return OL_DT_CALL(dt, qr_work, m, n, a, rdiag, work);
}

/* The scratch of ol_lapack_qr_work, allocated for this one call. */
int ol_lapack_qr(int m, int n, double *a, double *rdiag) {
    const int64_t size = ol_lapack_qr_size(OL_F64, m, n);
    if (size < 0) return m < 0 ? -2 : -3; /* only a bad m or n fails the queries */
    double *work = malloc((size_t)(size > 0 ? size : 1) * sizeof *work);
    if (!work) return OL_LAPACK_NOMEM;
    const int info = ol_lapack_qr_work(OL_F64, m, n, a, rdiag, work);
    free(work);
    return info;
}

#else /* generic part: T */

#if OL_T_F32
#define SYEVD ssyevd_
#define GEQRF sgeqrf_
#define ORGQR sorgqr_
#else
#define SYEVD dsyevd_
#define GEQRF dgeqrf_
#define ORGQR dorgqr_
#endif

/* LAPACK's workspace query of ?syevd: 0 and the sizes, or its info. */
static int S(syevd_query)(char jobz, int n, int *lwork, int *liwork) {
    const int ld = n > 1 ? n : 1, lquery = -1;
    T aq = 0, w = 0, wq = 0;
    int iq = 0, info;
    SYEVD(&jobz, "U", &n, &aq, &ld, &w, &wq, &lquery, &iq, &lquery, &info, 1, 1);
    *lwork = (int)wq;
    *liwork = iq;
    return info;
}

/* The scratch holds the column-major copy (ld x ld), then LAPACK's work
 * (lwork elements), then its iwork (liwork ints, rounded up to elements). */
static int64_t S(syevd_size)(char jobz, int n) {
    int lwork, liwork;
    if (S(syevd_query)(jobz, n, &lwork, &liwork)) return -1;
    const int64_t ld = n > 1 ? n : 1;
    return ld * ld + lwork + ((int64_t)liwork * (int64_t)sizeof(int) + (int64_t)sizeof(T) - 1) /
                                 (int64_t)sizeof(T);
}

/* ?syevd on the row-major a: its upper triangle copied into the upper
 * triangle of a column-major matrix, the eigenvectors copied back. */
static int S(syevd_work)(char jobz, int n, T *a, T *w, T *scratch) {
    for (int64_t i = 0; i < (int64_t)n * n; i++)
        if (isnan(a[i])) return -5;
    int lwork, liwork, info = S(syevd_query)(jobz, n, &lwork, &liwork);
    if (info) return lapacke_info(info);
    const int ld = n > 1 ? n : 1;
    T *at = scratch, *work = at + (size_t)ld * ld;
    int *iwork = (int *)(void *)(work + lwork);
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) at[i + (size_t)j * ld] = a[(size_t)i * n + j];
    SYEVD(&jobz, "U", &n, at, &ld, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    info = lapacke_info(info);
    if (jobz == 'V')
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) a[(size_t)i * n + j] = at[i + (size_t)j * ld];
    return info;
}

/* LAPACK's workspace queries of ?geqrf and ?orgqr: 0 and the larger
 * size, or the info of the query that failed. */
static int S(qr_query)(int m, int n, int *lwork) {
    const int ld = m > 1 ? m : 1, lquery = -1;
    T aq = 0, tq = 0, q1 = 0, q2 = 0;
    int info;
    GEQRF(&m, &n, &aq, &ld, &tq, &q1, &lquery, &info);
    if (info == 0) ORGQR(&m, &n, &n, &aq, &ld, &tq, &q2, &lquery, &info);
    *lwork = (int)(q1 > q2 ? q1 : q2);
    return info;
}

/* The scratch holds the column-major copy (ld x n), tau (n), LAPACK's work. */
static int64_t S(qr_size)(int m, int n) {
    int lwork;
    if (S(qr_query)(m, n, &lwork)) return -1;
    const int64_t ld = m > 1 ? m : 1;
    return ld * (n > 1 ? n : 1) + n + lwork;
}

/* ?geqrf then ?orgqr on one column-major copy of a. */
static int S(qr_work)(int m, int n, T *a, T *rdiag, T *scratch) {
    for (int64_t i = 0; i < (int64_t)m * n; i++)
        if (isnan(a[i])) return -4;
    int lwork, info = S(qr_query)(m, n, &lwork);
    if (info) return lapacke_info(info);
    const int ld = m > 1 ? m : 1;
    T *at = scratch, *tau = at + (size_t)ld * (size_t)(n > 1 ? n : 1), *work = tau + n;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) at[i + (size_t)j * ld] = a[(size_t)i * n + j];
    GEQRF(&m, &n, at, &ld, tau, work, &lwork, &info);
    if (info == 0) {
        if (rdiag)
            for (int j = 0; j < n; j++) rdiag[j] = at[j + (size_t)j * ld];
        ORGQR(&m, &n, &n, at, &ld, tau, work, &lwork, &info);
    }
    info = lapacke_info(info);
    if (info == 0)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) a[(size_t)i * n + j] = at[i + (size_t)j * ld];
    return info;
}

#undef SYEVD
#undef GEQRF
#undef ORGQR
#endif
