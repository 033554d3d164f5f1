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

int ol_lapack_syevd(ol_dtype dt, int vectors, int n, void *a, void *w) {
    return OL_DT_CALL(dt, syevd, vectors ? 'V' : 'N', n, a, w);
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

/* dgeqrf then dorgqr on one column-major copy of a, each with the
 * workspace its query asks for. */
int ol_lapack_qr(int m, int n, double *a, double *rdiag) {
    if (any_nan(a, (int64_t)m * n)) return -4;
    const int ld = m > 1 ? m : 1, lquery = -1;
    double *tau = malloc((size_t)n * sizeof *tau), q1 = 0, q2 = 0;
    int info = OL_LAPACK_NOMEM;
    if (!tau) return info;
    dgeqrf_(&m, &n, a, &ld, tau, &q1, &lquery, &info);
    if (info == 0) dorgqr_(&m, &n, &n, a, &ld, tau, &q2, &lquery, &info);
    if (info) {
        free(tau);
        return lapacke_info(info);
    }
    const int lw1 = (int)q1, lw2 = (int)q2;
    double *at = malloc((size_t)ld * (size_t)(n > 1 ? n : 1) * sizeof *at);
    double *work = malloc((size_t)(lw1 > lw2 ? lw1 : lw2) * sizeof *work);
    info = OL_LAPACK_NOMEM;
    if (at && work) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) at[i + (size_t)j * ld] = a[(size_t)i * n + j];
        dgeqrf_(&m, &n, at, &ld, tau, work, &lw1, &info);
        if (info == 0) {
            for (int j = 0; j < n; j++) rdiag[j] = at[j + (size_t)j * ld];
            dorgqr_(&m, &n, &n, at, &ld, tau, work, &lw2, &info);
        }
        info = lapacke_info(info);
        if (info == 0)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) a[(size_t)i * n + j] = at[i + (size_t)j * ld];
    }
    free(at);
    free(tau);
    free(work);
    return info;
}

#else /* generic part: T */

#if OL_T_F32
#define SYEVD ssyevd_
#else
#define SYEVD dsyevd_
#endif

/* ?syevd on the row-major a: its upper triangle copied into the upper
 * triangle of a column-major matrix, the eigenvectors copied back. */
static int S(syevd)(char jobz, int n, T *a, T *w) {
    for (int64_t i = 0; i < (int64_t)n * n; i++)
        if (isnan(a[i])) return -5;
    const int ld = n > 1 ? n : 1, lquery = -1;
    T wq;
    int iq, info;
    SYEVD(&jobz, "U", &n, a, &ld, w, &wq, &lquery, &iq, &lquery, &info, 1, 1);
    if (info) return lapacke_info(info);
    const int lwork = (int)wq, liwork = iq;
    T *at = malloc((size_t)ld * (size_t)ld * sizeof *at), *work = malloc((size_t)lwork * sizeof *work);
    int *iwork = malloc((size_t)liwork * sizeof *iwork);
    info = OL_LAPACK_NOMEM;
    if (at && work && iwork) {
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) at[i + (size_t)j * ld] = a[(size_t)i * n + j];
        SYEVD(&jobz, "U", &n, at, &ld, w, work, &lwork, iwork, &liwork, &info, 1, 1);
        info = lapacke_info(info);
        if (jobz == 'V')
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) a[(size_t)i * n + j] = at[i + (size_t)j * ld];
    }
    free(at);
    free(work);
    free(iwork);
    return info;
}

#undef SYEVD
#endif
