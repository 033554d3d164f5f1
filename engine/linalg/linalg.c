/* Symmetric dense linear algebra over LAPACK (lapack.h): Cholesky
 * (dpotrf/dpotrs) with Levenberg-Marquardt damping raised until the matrix
 * factors, eigendecomposition (ssyevd/dsyevd, divide and conquer), and
 * Lanczos with full reorthogonalisation (Golub & Van Loan, 4th ed.,
 * Alg. 10.1.1, each new vector re-orthogonalised twice against all earlier
 * ones, which keeps the Ritz values free of ghost copies) whose
 * tridiagonal matrix is solved by dstev. */
#include "linalg/linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg/lapack.h"

int ol_chol_solve_damped(int64_t n, const double *H, const double *b, double *lambda,
                         double *x, int *raised, double *work, ol_error *err) {
    if (n < 1) return ol_fail(err, "empty system");
    double lam = *lambda, dmax = 1;
    for (int64_t i = 0; i < n; i++) dmax = fmax(dmax, fabs(H[i * n + i]));
    *raised = 0;
    for (int tries = 0; tries < 40; tries++) {
        if (!isfinite(lam)) break;
        memcpy(work, H, (size_t)(n * n) * sizeof *work);
        for (int64_t i = 0; i < n; i++) work[i * n + i] += lam;
        /* Column-major: a symmetric matrix reads the same either way, and
         * a row-major call would need a transposed copy of the matrix (and
         * of b) at every call. */
        int info = ol_lapack_potrf_lower((int)n, work);
        if (info == 0) {
            memcpy(x, b, (size_t)n * sizeof *x);
            info = ol_lapack_potrs_lower((int)n, work, x);
            if (info != 0) return ol_fail(err, "dpotrs failed (info %d)", (int)info);
            *lambda = lam;
            return 0;
        }
        if (info < 0) return ol_fail(err, "dpotrf: bad argument %d", (int)-info);
        /* Not positive definite: damp more (Levenberg-Marquardt). */
        lam = lam > 0 ? lam * 10 : 1e-8 * dmax;
        (*raised)++;
    }
    return ol_fail(err, "matrix not positive definite even with damping %g (NaN or Inf in it?)", lam);
}

static int check_sym(const ol_tensor *a, double tol, ol_error *err) {
    char buf[96];
    if (a->ndim != 2 || a->shape[0] != a->shape[1])
        return ol_fail(err, "symmetric matrix expected, got shape %s (not square)",
                       ol_shape_str(a, buf, sizeof buf));
    if (a->shape[0] < 1) return ol_fail(err, "empty matrix");
    const int64_t n = a->shape[0];
    if (tol < 0) tol = a->dtype == OL_F64 ? 1e-10 : 1e-5;
    double amax = 0, worst = 0;
    int64_t wi = 0, wj = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t ij[2] = {i, j}, ji[2] = {j, i};
            double v = ol_tensor_get(a, ij), u = ol_tensor_get(a, ji);
            if (!isfinite(v)) return ol_fail(err, "matrix has a non-finite entry at (%lld, %lld)",
                                             (long long)i + 1, (long long)j + 1);
            amax = fmax(amax, fabs(v));
            if (fabs(v - u) > worst) {
                worst = fabs(v - u);
                wi = i;
                wj = j;
            }
        }
    if (worst > tol * amax)
        return ol_fail(err, "matrix is not symmetric: a[%lld][%lld] - a[%lld][%lld] = %g (tolerance %g)",
                       (long long)wi + 1, (long long)wj + 1, (long long)wj + 1, (long long)wi + 1,
                       worst, tol * amax);
    return 0;
}

int ol_eigh(const ol_tensor *a, double tol, ol_tensor *vals, ol_tensor *vecs, ol_error *err) {
    if (check_sym(a, tol, err)) return -1;
    const int64_t n = a->shape[0];
    ol_tensor A;
    if (ol_tensor_clone(a, &A, err)) return -1; /* contiguous, row-major */
    if (ol_tensor_empty(vals, a->dtype, 1, &n, err)) {
        ol_tensor_release(&A);
        return -1;
    }
    /* Eigenvectors come back as the columns of A. */
    int info = ol_lapack_syevd(a->dtype, vecs != NULL, (int)n, ol_tensor_data(&A), ol_tensor_data(vals));
    if (info != 0) {
        ol_tensor_release(&A);
        ol_tensor_release(vals);
        return ol_fail(err, "eigensolver (?syevd) failed to converge (info %d)", (int)info);
    }
    if (vecs) *vecs = A; /* hands over the reference */
    else ol_tensor_release(&A);
    return 0;
}

int ol_cond_sym(const ol_tensor *a, double tol, double *cond, ol_error *err) {
    ol_tensor v;
    if (ol_eigh(a, tol, &v, NULL, err)) return -1;
    const int64_t n = v.shape[0];
    double lo = INFINITY, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = fabs(ol_tensor_get(&v, &i));
        lo = fmin(lo, x);
        hi = fmax(hi, x);
    }
    ol_tensor_release(&v);
    *cond = lo == 0 ? INFINITY : hi / lo;
    return 0;
}

/* Row i of out (k x n): the Ritz vector sum_l Z[l][col(i)] q_l. */
static void ritz_vectors(int64_t n, int steps, const double *Q, const double *Z, int k, int descending,
                         double *out) {
    for (int i = 0; i < k; i++) {
        int col = descending ? steps - 1 - i : i;
        double *y = out + (size_t)i * n;
        memset(y, 0, (size_t)n * sizeof *y);
        for (int l = 0; l < steps; l++) {
            double z = Z[(size_t)l * steps + col];
            const double *ql = Q + (size_t)l * n;
            for (int64_t r = 0; r < n; r++) y[r] += z * ql[r];
        }
    }
}

int ol_lanczos_ritz(int64_t n, ol_matvec_fn av, void *ud, int m, const double *v0, double *theta,
                    double *tau, int k_lo, double *lo, int k_hi, double *hi, int *steps_out, ol_error *err) {
    if (n < 1) return ol_fail(err, "empty operator");
    if (m < 1 || m > n) return ol_fail(err, "steps must be in 1..%lld, got %d", (long long)n, m);
    if (k_lo < 0 || k_hi < 0 || k_lo > m || k_hi > m)
        return ol_fail(err, "Ritz vectors asked: %d and %d, with %d steps", k_lo, k_hi, m);
    double *Q = malloc((size_t)(m + 1) * (size_t)n * sizeof *Q);
    double *alpha = calloc((size_t)m, sizeof *alpha), *beta = calloc((size_t)m + 1, sizeof *beta);
    double *Z = malloc((size_t)m * (size_t)m * sizeof *Z);
    int rc = -1;
    if (!Q || !alpha || !beta || !Z) {
        ol_fail(err, "out of memory (Lanczos with %d vectors of %lld)", m, (long long)n);
        goto done;
    }
    /* Start vector: v0, or a fixed sequence with every component nonzero
     * (no RNG state touched, so results do not depend on the global seed). */
    double nrm = 0;
    for (int64_t i = 0; i < n; i++) {
        Q[i] = v0 ? v0[i] : 1.0 + 0.5 * sin(1.0 + 2.3 * (double)i);
        nrm += Q[i] * Q[i];
    }
    if (!(nrm > 0) || !isfinite(nrm)) {
        ol_fail(err, nrm == 0 ? "start vector is zero" : "start vector is not finite");
        goto done;
    }
    nrm = sqrt(nrm);
    for (int64_t i = 0; i < n; i++) Q[i] /= nrm;
    int steps = m;
    for (int j = 0; j < m; j++) {
        double *q = Q + (size_t)j * n, *w = Q + (size_t)(j + 1) * n;
        if (av(ud, q, w, err)) goto done;
        double a = 0;
        for (int64_t i = 0; i < n; i++) a += w[i] * q[i];
        alpha[j] = a;
        /* Full reorthogonalisation, twice ("twice is enough"). */
        for (int pass = 0; pass < 2; pass++)
            for (int l = 0; l <= j; l++) {
                const double *ql = Q + (size_t)l * n;
                double c = 0;
                for (int64_t i = 0; i < n; i++) c += w[i] * ql[i];
                for (int64_t i = 0; i < n; i++) w[i] -= c * ql[i];
            }
        double b = 0;
        for (int64_t i = 0; i < n; i++) b += w[i] * w[i];
        b = sqrt(b);
        beta[j] = b;
        if (j + 1 == m) break;
        if (b <= 1e-12 * fmax(1, fabs(a))) { /* invariant subspace found: exact */
            steps = j + 1;
            break;
        }
        for (int64_t i = 0; i < n; i++) w[i] /= b;
    }
    if (steps < k_lo || steps < k_hi) {
        ol_fail(err, "the start vector spans an invariant subspace of dimension %d < k = %d", steps,
                k_lo > k_hi ? k_lo : k_hi);
        goto done;
    }
    /* Eigen-pairs of the tridiagonal T = tridiag(beta, alpha, beta). */
    int info = ol_lapack_stev(steps, alpha, beta, Z);
    if (info != 0) {
        ol_fail(err, "tridiagonal eigensolver (dstev) failed (info %d)", (int)info);
        goto done;
    }
    for (int j = 0; j < steps; j++) {
        theta[j] = alpha[j];
        if (tau) tau[j] = Z[j] * Z[j]; /* row 0 of Z: first components */
    }
    if (lo) ritz_vectors(n, steps, Q, Z, k_lo, 0, lo);
    if (hi) ritz_vectors(n, steps, Q, Z, k_hi, 1, hi);
    *steps_out = steps;
    rc = 0;
done:
    free(Q);
    free(alpha);
    free(beta);
    free(Z);
    return rc;
}

int ol_lanczos(int64_t n, ol_matvec_fn av, void *ud, int k, int m, const double *v0,
               double *vals, double *vecs, ol_error *err) {
    if (n < 1) return ol_fail(err, "empty operator");
    if (k < 1 || k > n) return ol_fail(err, "k must be in 1..%lld, got %d", (long long)n, k);
    if (m < k) m = k;
    if (m > n) m = (int)n;
    double *theta = malloc((size_t)m * sizeof *theta);
    if (!theta) return ol_fail(err, "out of memory (Lanczos with %d steps)", m);
    int steps = 0;
    int rc = ol_lanczos_ritz(n, av, ud, m, v0, theta, NULL, 0, NULL, k, vecs, &steps, err);
    if (rc == 0)
        for (int i = 0; i < k; i++) vals[i] = theta[steps - 1 - i];
    free(theta);
    return rc;
}

int ol_op_asymmetry(int64_t n, ol_matvec_fn av, void *ud, double *asym, ol_error *err) {
    if (n < 1) return ol_fail(err, "empty operator");
    double *buf = malloc(4 * (size_t)n * sizeof *buf);
    if (!buf) return ol_fail(err, "out of memory (symmetry check of %lld)", (long long)n);
    double *u = buf, *v = buf + n, *au = buf + 2 * n, *avv = buf + 3 * n;
    /* Two fixed sequences of mixed signs, unrelated to each other and to
     * Lanczos' default start. */
    for (int64_t i = 0; i < n; i++) {
        u[i] = sin(0.7 + 1.9 * (double)i);
        v[i] = cos(2.1 + 3.7 * (double)i * (double)(i % 7 + 1));
    }
    int rc = -1;
    if (av(ud, v, avv, err) || av(ud, u, au, err)) goto done;
    double uav = 0, vau = 0, nu = 0, nv = 0, nau = 0, nav = 0;
    for (int64_t i = 0; i < n; i++) {
        uav += u[i] * avv[i];
        vau += v[i] * au[i];
        nu += u[i] * u[i];
        nv += v[i] * v[i];
        nau += au[i] * au[i];
        nav += avv[i] * avv[i];
    }
    double scale = sqrt(nu) * sqrt(nav) + sqrt(nv) * sqrt(nau);
    if (!isfinite(uav) || !isfinite(vau) || !isfinite(scale)) {
        ol_fail(err, "the operator's products are not finite");
        goto done;
    }
    *asym = scale > 0 ? fabs(uav - vau) / scale : 0;
    rc = 0;
done:
    free(buf);
    return rc;
}
