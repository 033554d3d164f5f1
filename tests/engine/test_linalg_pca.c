/* engine/linalg/pca.c against data built with a known rotation and known scales:
 * X = Z diag(sigma) R^T + m, where the columns of Z are orthogonal, zero-mean
 * and of unit sample variance (columns of a Hadamard matrix). Its covariance
 * is then exactly R diag(sigma^2) R^T: the components are R's columns, the
 * explained variances sigma^2 and the condition number (sigma_1/sigma_3)^2. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "linalg/pca.h"
#include "core/rng.h"
#include "core/tensor.h"

#define N 8
#define D 3

static const double sigma[D] = {3.0, 2.0, 0.5};
static const double mu[D] = {1.0, -2.0, 0.5};
static double R[D][D]; /* rotation: Rz(30 deg) Rx(45 deg) */

static void make_rotation(void) {
    const double pi = 3.14159265358979323846;
    double a = pi / 6, b = pi / 4;
    double rz[3][3] = {{cos(a), -sin(a), 0}, {sin(a), cos(a), 0}, {0, 0, 1}};
    double rx[3][3] = {{1, 0, 0}, {0, cos(b), -sin(b)}, {0, sin(b), cos(b)}};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            R[i][j] = 0;
            for (int k = 0; k < 3; k++) R[i][j] += rz[i][k] * rx[k][j];
        }
}

/* Fills a fresh N x D tensor of dtype dt with the constructed data. */
static void make_data(ol_tensor *x, ol_dtype dt) {
    /* Sylvester Hadamard matrix H8: H[i][j] = (-1)^popcount(i & j); columns
     * 1, 2, 4 are orthogonal with zero mean. */
    static const int cols[D] = {1, 2, 4};
    make_rotation();
    int64_t shape[2] = {N, D};
    ol_error err;
    assert_int_equal(ol_tensor_empty(x, dt, 2, shape, &err), 0);
    for (int i = 0; i < N; i++) {
        double z[D];
        for (int c = 0; c < D; c++)
            z[c] = (__builtin_popcount((unsigned)(i & cols[c])) % 2 ? -1.0 : 1.0) * sqrt((N - 1) / (double)N);
        for (int j = 0; j < D; j++) {
            double v = mu[j];
            for (int c = 0; c < D; c++) v += z[c] * sigma[c] * R[j][c];
            ol_tensor_set(x, (int64_t[]){i, j}, v);
        }
    }
}

static double at(const ol_tensor *t, int64_t i, int64_t j) { return ol_tensor_get(t, (int64_t[]){i, j}); }

static void test_known_rotation_recovered(void **state) {
    (void)state;
    ol_tensor x;
    ol_pca p;
    ol_error err;
    make_data(&x, OL_F64);
    assert_int_equal(ol_pca_fit(&p, &x, 0, 0, 0, 0.0, &err), 0);
    assert_int_equal(p.k, D);
    for (int j = 0; j < D; j++) assert_true(fabs(p.mean[j] - mu[j]) < 1e-12);
    for (int r = 0; r < D; r++) {
        assert_true(fabs(p.variance[r] - sigma[r] * sigma[r]) < 1e-12);
        /* expected: column r of R, signed so its largest-|.| entry is positive */
        int big = 0;
        for (int i = 1; i < D; i++)
            if (fabs(R[i][r]) > fabs(R[big][r])) big = i;
        double sgn = R[big][r] < 0 ? -1 : 1;
        for (int i = 0; i < D; i++) assert_true(fabs(p.components[r * D + i] - sgn * R[i][r]) < 1e-12);
    }
    assert_true(fabs(p.total_variance - (9 + 4 + 0.25)) < 1e-12);
    double cond;
    assert_int_equal(ol_pca_condition_number(&x, &cond, &err), 0);
    assert_true(fabs(cond - 36.0) < 1e-9);
    ol_pca_free(&p);
    ol_tensor_release(&x);
}

/* Sample covariance of the columns of z (n x k). */
static void sample_cov(const ol_tensor *z, double *c) {
    int64_t n = z->shape[0], k = z->shape[1];
    for (int64_t a = 0; a < k; a++)
        for (int64_t b = 0; b < k; b++) {
            double ma = 0, mb = 0, s = 0;
            for (int64_t i = 0; i < n; i++) ma += at(z, i, a), mb += at(z, i, b);
            ma /= (double)n, mb /= (double)n;
            for (int64_t i = 0; i < n; i++) s += (at(z, i, a) - ma) * (at(z, i, b) - mb);
            c[a * k + b] = s / (double)(n - 1);
        }
}

static void check_whitening(int zca, ol_dtype dt, double tol) {
    ol_tensor x, z, back;
    ol_pca p;
    ol_error err;
    make_data(&x, dt);
    const double eps = 1e-9;
    assert_int_equal(ol_pca_fit(&p, &x, 0, 1, zca, eps, &err), 0);
    assert_int_equal(ol_pca_transform(&p, &x, &z, &err), 0);
    assert_int_equal(z.dtype, dt);
    assert_int_equal(z.shape[0], N);
    assert_int_equal(z.shape[1], D);
    double c[D * D];
    sample_cov(&z, c);
    for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++) assert_true(fabs(c[a * D + b] - (a == b)) < tol);
    if (!zca) {
        /* first whitened coordinate = projection on R's first column / sigma_1 */
        double proj = 0;
        for (int j = 0; j < D; j++) proj += (at(&x, 0, j) - mu[j]) * R[j][0];
        assert_true(fabs(fabs(at(&z, 0, 0)) - fabs(proj) / sigma[0]) < tol);
    } else {
        /* ZCA's map is symmetric: R diag(1/sigma) R^T */
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) {
                double want = 0;
                for (int r = 0; r < D; r++) want += R[i][r] * R[j][r] / sigma[r];
                assert_true(fabs(p.fwd[i * D + j] - want) < 1e-6);
            }
    }
    assert_int_equal(ol_pca_inverse(&p, &z, &back, &err), 0);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) assert_true(fabs(at(&back, i, j) - at(&x, i, j)) < tol * 10);
    ol_tensor_release(&back);
    ol_tensor_release(&z);
    ol_pca_free(&p);
    ol_tensor_release(&x);
}

static void test_whitened_identity_f64(void **state) {
    (void)state;
    check_whitening(0, OL_F64, 1e-8);
}
static void test_zca_f64(void **state) {
    (void)state;
    check_whitening(1, OL_F64, 1e-8);
}
static void test_whitened_f32(void **state) {
    (void)state;
    check_whitening(0, OL_F32, 1e-5);
}

static void test_truncated_projection(void **state) {
    (void)state;
    ol_tensor x, z, back;
    ol_pca p;
    ol_error err;
    make_data(&x, OL_F64);
    assert_int_equal(ol_pca_fit(&p, &x, 2, 0, 0, 0.0, &err), 0);
    assert_int_equal(ol_pca_transform(&p, &x, &z, &err), 0);
    assert_int_equal(z.shape[1], 2);
    /* variance of the kept coordinates = sigma_1^2, sigma_2^2 */
    double c[4];
    sample_cov(&z, c);
    assert_true(fabs(c[0] - 9) < 1e-10 && fabs(c[3] - 4) < 1e-10 && fabs(c[1]) < 1e-10);
    /* reconstruction error = the dropped component: |x - back|^2 summed
     * over rows = (N - 1) sigma_3^2 */
    assert_int_equal(ol_pca_inverse(&p, &z, &back, &err), 0);
    double sq = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) sq += pow(at(&x, i, j) - at(&back, i, j), 2);
    assert_true(fabs(sq - (N - 1) * 0.25) < 1e-10);
    ol_tensor_release(&back);
    ol_tensor_release(&z);
    ol_pca_free(&p);
    ol_tensor_release(&x);
}

static void test_errors(void **state) {
    (void)state;
    ol_tensor x, y, z;
    ol_pca p;
    ol_error err;
    int64_t one[2] = {1, 3};
    assert_int_equal(ol_tensor_zeros(&y, OL_F64, 2, one, &err), 0);
    assert_int_equal(ol_pca_fit(&p, &y, 0, 0, 0, 0, &err), -1);
    assert_non_null(strstr(err.msg, "at least 2 rows"));
    ol_tensor_release(&y);
    make_data(&x, OL_F64);
    assert_int_equal(ol_pca_fit(&p, &x, 4, 0, 0, 0, &err), -1);
    assert_non_null(strstr(err.msg, "components must be in 1..3"));
    assert_int_equal(ol_pca_fit(&p, &x, 0, 1, 0, -1, &err), -1);
    assert_non_null(strstr(err.msg, "eps"));
    /* a constant column has zero variance: whitening without eps fails */
    int64_t sh[2] = {4, 2};
    assert_int_equal(ol_tensor_zeros(&y, OL_F64, 2, sh, &err), 0);
    for (int i = 0; i < 4; i++) ol_tensor_set(&y, (int64_t[]){i, 0}, i);
    assert_int_equal(ol_pca_fit(&p, &y, 0, 1, 0, 0, &err), -1);
    assert_non_null(strstr(err.msg, "zero variance"));
    double cond;
    assert_int_equal(ol_pca_condition_number(&y, &cond, &err), 0);
    assert_true(isinf(cond));
    ol_tensor_release(&y);
    assert_int_equal(ol_pca_fit(&p, &x, 0, 1, 0, 1e-5, &err), 0);
    assert_int_equal(ol_tensor_zeros(&y, OL_F32, 2, (int64_t[]){2, 3}, &err), 0);
    assert_int_equal(ol_pca_transform(&p, &y, &z, &err), -1);
    assert_non_null(strstr(err.msg, "fitted on f64"));
    ol_tensor_release(&y);
    assert_int_equal(ol_tensor_zeros(&y, OL_F64, 2, (int64_t[]){2, 4}, &err), 0);
    assert_int_equal(ol_pca_transform(&p, &y, &z, &err), -1);
    assert_non_null(strstr(err.msg, "N x 3"));
    ol_tensor_release(&y);
    ol_pca_free(&p);
    ol_tensor_release(&x);
}

/* Random correlated data: whitening still gives the identity covariance,
 * and the condition number drops to 1. */
static void test_random_correlated(void **state) {
    (void)state;
    ol_error err;
    ol_tensor x, z;
    ol_pca p;
    int64_t sh[2] = {500, 4};
    ol_rng_seed(7);
    assert_int_equal(ol_tensor_empty(&x, OL_F64, 2, sh, &err), 0);
    ol_tensor_normal_(&x, 0, 1);
    for (int i = 0; i < 500; i++) { /* mix: column 1 follows column 0 closely */
        double a = at(&x, i, 0), b = at(&x, i, 1);
        ol_tensor_set(&x, (int64_t[]){i, 1}, a + 0.05 * b);
    }
    double before, after;
    assert_int_equal(ol_pca_condition_number(&x, &before, &err), 0);
    assert_true(before > 100);
    assert_int_equal(ol_pca_fit(&p, &x, 0, 1, 0, 0, &err), 0);
    assert_int_equal(ol_pca_transform(&p, &x, &z, &err), 0);
    assert_int_equal(ol_pca_condition_number(&z, &after, &err), 0);
    assert_true(fabs(after - 1) < 1e-8);
    ol_tensor_release(&z);
    ol_pca_free(&p);
    ol_tensor_release(&x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_rotation_recovered),
        cmocka_unit_test(test_whitened_identity_f64),
        cmocka_unit_test(test_zca_f64),
        cmocka_unit_test(test_whitened_f32),
        cmocka_unit_test(test_truncated_projection),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_random_correlated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
