/* engine/linalg/linalg.c's Lanczos (ol_lanczos_ritz, ol_lanczos) and
 * ol_op_asymmetry against operators whose spectra are known by
 * construction: A = Q diag(lambda) Q^T with Q a Householder reflection
 * I - 2 u u^T / u^T u (orthogonal, so A's eigenvalues are lambda and its
 * eigenvectors Q's columns), and diagonal matrices, whose quadrature sums
 * v^T f(D) v / v^T v are computed here term by term. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "linalg/linalg.h"

#define NMAX 200

typedef struct dense {
    int64_t n;
    double a[NMAX * NMAX];
    int calls, fail_at;
} dense;

static int dense_av(void *ud, const double *v, double *out, ol_error *err) {
    dense *d = ud;
    if (++d->calls == d->fail_at) return ol_fail(err, "product %d refused", d->calls);
    for (int64_t i = 0; i < d->n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d->n; j++) s += d->a[i * d->n + j] * v[j];
        out[i] = s;
    }
    return 0;
}

/* d->a = Q diag(lambda) Q^T, Q = I - 2 u u^T / u^T u, u_i = 1 + sin(i). */
static void make_rotated(dense *d, int64_t n, const double *lambda) {
    double u[NMAX], uu = 0, q[NMAX][NMAX];
    for (int64_t i = 0; i < n; i++) {
        u[i] = 1 + sin((double)i);
        uu += u[i] * u[i];
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) q[i][j] = (i == j) - 2 * u[i] * u[j] / uu;
    d->n = n;
    d->calls = 0;
    d->fail_at = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t l = 0; l < n; l++) s += q[i][l] * lambda[l] * q[j][l];
            d->a[i * n + j] = s;
        }
}

static void make_diag(dense *d, int64_t n, const double *lambda) {
    d->n = n;
    d->calls = 0;
    d->fail_at = 0;
    memset(d->a, 0, sizeof d->a);
    for (int64_t i = 0; i < n; i++) d->a[i * n + i] = lambda[i];
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static dense D;

/* m = n: every Ritz value is an eigenvalue, the weights sum to 1 and the
 * Ritz vectors at both ends satisfy A y = theta y with |y| = 1. */
static void test_full_spectrum_both_ends(void **state) {
    (void)state;
    const int64_t n = 12;
    double lambda[12] = {3, -2.5, 7, 0.5, 1, -0.75, 2, 4, 5.5, 6, 9, 10};
    make_rotated(&D, n, lambda);
    double sorted[12];
    memcpy(sorted, lambda, sizeof sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp);
    double theta[12], tau[12], lo[2 * 12], hi[2 * 12];
    int steps = 0;
    ol_error err;
    assert_int_equal(ol_lanczos_ritz(n, dense_av, &D, (int)n, NULL, theta, tau, 2, lo, 2, hi, &steps, &err), 0);
    assert_int_equal(steps, n);
    assert_int_equal(D.calls, n);
    double wsum = 0;
    for (int64_t j = 0; j < n; j++) {
        assert_true(fabs(theta[j] - sorted[j]) < 1e-10);
        assert_true(tau[j] >= 0);
        wsum += tau[j];
    }
    assert_true(fabs(wsum - 1) < 1e-12);
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < 2; i++) {
            const double *y = (e ? hi : lo) + i * n;
            double t = e ? theta[n - 1 - i] : theta[i], ay[12], res = 0, nrm = 0;
            dense_av(&D, y, ay, &err);
            for (int64_t r = 0; r < n; r++) {
                res = fmax(res, fabs(ay[r] - t * y[r]));
                nrm += y[r] * y[r];
            }
            assert_true(res < 1e-9);
            assert_true(fabs(nrm - 1) < 1e-12);
        }
}

/* Well-separated ends converge in far fewer steps than n: with n = 200,
 * lambda = -40, then 1..2 evenly, then 60, 30 steps give both ends to
 * 1e-8. */
static void test_fewer_steps_separated_ends(void **state) {
    (void)state;
    const int64_t n = 200;
    double lambda[200];
    for (int64_t i = 0; i < n; i++) lambda[i] = 1 + (double)i / (double)(n - 1);
    lambda[17] = -40;
    lambda[101] = 60;
    make_rotated(&D, n, lambda);
    double theta[30];
    int steps = 0;
    ol_error err;
    assert_int_equal(ol_lanczos_ritz(n, dense_av, &D, 30, NULL, theta, NULL, 0, NULL, 0, NULL, &steps, &err), 0);
    assert_int_equal(steps, 30);
    assert_true(fabs(theta[0] + 40) < 1e-8);
    assert_true(fabs(theta[29] - 60) < 1e-8);
    /* The thin form: the top value, descending. */
    double vals[2];
    assert_int_equal(ol_lanczos(n, dense_av, &D, 2, 30, NULL, vals, NULL, &err), 0);
    assert_true(fabs(vals[0] - 60) < 1e-8);
    assert_true(vals[1] <= 2 + 1e-12 && vals[1] > 1.9);
}

/* Gauss quadrature: sum_j tau_j f(theta_j) = v^T f(D) v / v^T v for
 * f = 1, x, x^2, x^3 (exact for degree < 2 steps), computed here directly. */
static void test_quadrature_diagonal(void **state) {
    (void)state;
    const int64_t n = 6;
    double lambda[6] = {-1, 0.5, 2, 3, 4.25, 8};
    double v[6] = {1, -1, 1, 1, -1, 1};
    make_diag(&D, n, lambda);
    for (int m = 2; m <= 6; m += 4) {
        double theta[6], tau[6];
        int steps = 0;
        ol_error err;
        assert_int_equal(ol_lanczos_ritz(n, dense_av, &D, m, v, theta, tau, 0, NULL, 0, NULL, &steps, &err), 0);
        assert_int_equal(steps, m);
        for (int p = 0; p <= 3 && p < 2 * m; p++) {
            double want = 0, vv = 0, got = 0;
            for (int64_t i = 0; i < n; i++) {
                want += v[i] * v[i] * pow(lambda[i], p);
                vv += v[i] * v[i];
            }
            for (int j = 0; j < steps; j++) got += tau[j] * pow(theta[j], p);
            assert_true(fabs(got - want / vv) < 1e-10 * fmax(1, fabs(want / vv)));
        }
    }
}

/* A start vector inside a 3-dimensional invariant subspace: Lanczos stops
 * after 3 steps with the 3 distinct eigenvalues, each weighted by its share
 * of the (all-ones) start vector. */
static void test_invariant_subspace(void **state) {
    (void)state;
    const int64_t n = 8;
    double lambda[8] = {-1, 2, 2, 5, 5, 5, -1, 5};
    double ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    make_diag(&D, n, lambda);
    double theta[8], tau[8];
    int steps = 0;
    ol_error err;
    assert_int_equal(ol_lanczos_ritz(n, dense_av, &D, 8, ones, theta, tau, 0, NULL, 0, NULL, &steps, &err), 0);
    assert_int_equal(steps, 3);
    const double want[3] = {-1, 2, 5}, share[3] = {2.0 / 8, 2.0 / 8, 4.0 / 8};
    for (int j = 0; j < 3; j++) {
        assert_true(fabs(theta[j] - want[j]) < 1e-12);
        assert_true(fabs(tau[j] - share[j]) < 1e-12);
    }
    /* Asking for more Ritz vectors than the subspace holds is an error. */
    double lo[4 * 8];
    assert_int_equal(ol_lanczos_ritz(n, dense_av, &D, 8, ones, theta, tau, 4, lo, 0, NULL, &steps, &err), -1);
    assert_non_null(strstr(err.msg, "invariant subspace of dimension 3 < k = 4"));
}

static void test_asymmetry(void **state) {
    (void)state;
    const int64_t n = 5;
    double lambda[5] = {1, -2, 3, 0.5, 7};
    make_rotated(&D, n, lambda);
    double asym = -1;
    ol_error err;
    assert_int_equal(ol_op_asymmetry(n, dense_av, &D, &asym, &err), 0);
    assert_true(asym >= 0 && asym < 1e-14);
    D.a[0 * n + 1] += 3; /* A[1][2] != A[2][1] */
    assert_int_equal(ol_op_asymmetry(n, dense_av, &D, &asym, &err), 0);
    assert_true(asym > 1e-2 && asym <= 1);
    memset(D.a, 0, sizeof D.a); /* the zero operator is symmetric */
    assert_int_equal(ol_op_asymmetry(n, dense_av, &D, &asym, &err), 0);
    assert_true(asym == 0);
}

static void test_errors(void **state) {
    (void)state;
    const int64_t n = 4;
    double lambda[4] = {1, 2, 3, 4}, theta[5], zero[4] = {0, 0, 0, 0};
    make_diag(&D, n, lambda);
    int steps = -7;
    ol_error err;
    assert_int_equal(ol_lanczos_ritz(n, dense_av, &D, 5, NULL, theta, NULL, 0, NULL, 0, NULL, &steps, &err), -1);
    assert_non_null(strstr(err.msg, "steps must be in 1..4, got 5"));
    assert_int_equal(ol_lanczos_ritz(n, dense_av, &D, 0, NULL, theta, NULL, 0, NULL, 0, NULL, &steps, &err), -1);
    assert_int_equal(ol_lanczos_ritz(n, dense_av, &D, 2, NULL, theta, NULL, 3, theta, 0, NULL, &steps, &err), -1);
    assert_non_null(strstr(err.msg, "with 2 steps"));
    assert_int_equal(ol_lanczos_ritz(n, dense_av, &D, 2, zero, theta, NULL, 0, NULL, 0, NULL, &steps, &err), -1);
    assert_non_null(strstr(err.msg, "start vector is zero"));
    D.fail_at = 2; /* an operator's error comes back as is */
    assert_int_equal(ol_lanczos_ritz(n, dense_av, &D, 3, NULL, theta, NULL, 0, NULL, 0, NULL, &steps, &err), -1);
    assert_non_null(strstr(err.msg, "product 2 refused"));
    assert_int_equal(steps, -7); /* untouched on failure */
    double vals[5];
    assert_int_equal(ol_lanczos(n, dense_av, &D, 5, 5, NULL, vals, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "k must be in 1..4, got 5"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_spectrum_both_ends), cmocka_unit_test(test_fewer_steps_separated_ends),
        cmocka_unit_test(test_quadrature_diagonal),     cmocka_unit_test(test_invariant_subspace),
        cmocka_unit_test(test_asymmetry),               cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
