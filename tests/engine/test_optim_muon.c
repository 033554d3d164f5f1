/* Muon against its rule, and the Newton-Schulz quintic's known behaviour.
 *
 * The trajectory tests compare every step of the engine with the reference
 * of optim_muon.h (two matrices and three loose vectors in one flat buffer)
 * over option schedules that switch on each option and change options
 * mid-run, with both, one or no matrices known (the matrices in a muon
 * group, the rest in an adamw group).
 *
 * The quintic is then checked against what it is known to do (Jordan 2024):
 * it maps every singular value of a normalised matrix into about
 * [0.7, 1.2] (the band p(x) = 3.4445x − 4.775x³ + 2.0315x⁵ settles in; its
 * maximum on [0, 1] is p(0.5545) = 1.2025), and so leaves a well-conditioned
 * matrix nearly orthogonal. Singular values come from LAPACK's dgesvd.
 * Muon's defaults, its options' ranges and a step at the defaults are the
 * registry test's (test_optim_registry.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lapacke.h>

#include "optim/optim.h"
#include "optim_options.h"
#include "optim_muon.h"

static void test_trajectories(void **st) {
    (void)st;
    const kv plain[] = {{"nesterov", {0}, 0}, {NULL}};
    const kv wd[] = {{"weight_decay", {0.5}, 0}, {"lr", {0.1}, 0}, {NULL}};
    const kv ns[] = {{"ns_steps", {2}, 0}, {"momentum", {0.5}, 0}, {NULL}};
    const kv fb[] = {{"fallback_lr", {0.05}, 0}, {"fallback_betas", {0.8, 0.9}, 0},
                     {"fallback_eps", {0.1}, 0}, {"fallback_weight_decay", {0.3}, 0},
                     {"fallback_amsgrad", {1}, 0}, {NULL}};
    const kv live[] = {{"lr", {0.1}, 2}, {"momentum", {0.3}, 3}, {"ns_steps", {1}, 4},
                       {"fallback_lr", {0.1}, 3}, {NULL}};
    muon_compare(NULL, MUON_BLOCKS, 2);
    muon_compare(plain, MUON_BLOCKS, 2);
    muon_compare(wd, MUON_BLOCKS, 2);
    muon_compare(ns, MUON_BLOCKS, 2);
    muon_compare(fb, MUON_BLOCKS, 2);
    muon_compare(live, MUON_BLOCKS, 2);
    muon_compare(fb, MUON_BLOCKS + 1, 1); /* one matrix: the rest is adamw */
    muon_compare(fb, NULL, 0);            /* no matrices known: one adamw group */
}

/* The matrices move by lr·scale per step in spectral norm (about), far more
 * than the tolerances; and the fallback part moves too. */
static void test_moves(void **st) {
    (void)st;
    double traj[MUON_STEPS][MUON_NP];
    ref_muon(NULL, MUON_BLOCKS, 2, traj);
    assert_true(fabs(traj[MUON_STEPS - 1][4] - muon_w0_at(4)) > 1e-3); /* in W1 */
    assert_true(fabs(traj[MUON_STEPS - 1][0] - muon_w0_at(0)) > 1e-4); /* fallback */
}

/* ---- Newton-Schulz's output through the engine: lr = 1, momentum 0, w = 0
 * gives w = −sqrt(max(1, r/c))·NS(g). ---- */

static uint64_t lcg = 12345;
static double unif(void) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((lcg >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void) { return sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif()); }

static void engine_ns(ol_dtype dt, const double *gin, int r, int c, double *out) {
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("muon"), dt, r * c, &err), 0);
    const ol_optim_param b = {.offset = 0, .rows = r, .cols = c, .matrix = 1};
    assert_int_equal(ol_optim_set_params(&opt, &b, 1, 1, &err), 0);
    const double one[1] = {1}, zero[1] = {0};
    assert_int_equal(ol_optim_set(&opt, "lr", one, &err), 0);
    assert_int_equal(ol_optim_set(&opt, "momentum", zero, &err), 0);
    assert_int_equal(ol_optim_set(&opt, "nesterov", zero, &err), 0);
    const int64_t shape[1] = {r * c};
    ol_tensor w, g;
    assert_int_equal(ol_tensor_zeros(&w, dt, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&g, dt, 1, shape, &err), 0);
    for (int64_t e = 0; e < r * c; e++) ol_tensor_set(&g, &e, gin[e]);
    assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
    const double scale = sqrt(fmax(1, (double)r / c));
    for (int64_t e = 0; e < r * c; e++) out[e] = -ol_tensor_get(&w, &e) / scale;
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
}

static void singular_values(const double *a, int r, int c, double *s) {
    double *copy = malloc(sizeof(double) * (size_t)(r * c));
    double superb[64];
    memcpy(copy, a, sizeof(double) * (size_t)(r * c));
    assert_int_equal(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', r, c, copy, c, s, NULL, 1, NULL,
                                    1, superb),
                     0);
    free(copy);
}

static void test_ns_band(void **st) {
    (void)st;
    enum { R = 20, C = 12 };
    double g[R * C], gt[R * C], o[R * C], ot[R * C], s[C], s0[C];
    for (int e = 0; e < R * C; e++) g[e] = normal();
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) gt[j * R + i] = g[i * C + j];
    singular_values(g, R, C, s0);
    assert_true(s0[0] / s0[C - 1] > 2); /* the input is far from orthogonal */
    for (int dt = 0; dt < 2; dt++) {
        engine_ns(dt ? OL_F32 : OL_F64, g, R, C, o);
        singular_values(o, R, C, s);
        for (int k = 0; k < C; k++)
            if (!(s[k] > 0.68 && s[k] < 1.21))
                fail_msg("%s: singular value %d of NS(G) is %g, outside [0.68, 1.21]",
                         dt ? "f32" : "f64", k, s[k]);
        /* the wide orientation gives the transpose (no transpose needed there) */
        engine_ns(dt ? OL_F32 : OL_F64, gt, C, R, ot);
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++)
                assert_true(fabs(ot[j * R + i] - o[i * C + j]) < 1e-5);
    }
}

/* A well-conditioned input (a Householder reflection with singular values
 * spread over [1, 1.3]) comes out nearly orthogonal: OᵀO ≈ s²·I with s in the
 * band and off-diagonal entries small. */
static void test_ns_orthogonal(void **st) {
    (void)st;
    enum { K = 8 };
    double v[K], h[K * K], g[K * K], o[K * K], oto[K * K];
    double vv = 0;
    for (int i = 0; i < K; i++) {
        v[i] = normal();
        vv += v[i] * v[i];
    }
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            h[i * K + j] = (i == j) - 2 * v[i] * v[j] / vv;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) g[i * K + j] = h[i * K + j] * (1 + 0.3 * j / (K - 1.0));
    for (int dt = 0; dt < 2; dt++) {
        engine_ns(dt ? OL_F32 : OL_F64, g, K, K, o);
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++) {
                double sum = 0;
                for (int l = 0; l < K; l++) sum += o[l * K + i] * o[l * K + j];
                oto[i * K + j] = sum;
            }
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++) {
                if (i == j) assert_true(oto[i * K + j] > 0.68 * 0.68 && oto[i * K + j] < 1.21 * 1.21);
                else if (!(fabs(oto[i * K + j]) < 0.05))
                    fail_msg("(OᵀO)[%d][%d] = %g", i, j, oto[i * K + j]);
            }
    }
}

/* ---- convergence on a quadratic in a matrix and a bias ---- */
static void test_converges(void **st) {
    (void)st;
    enum { R = 6, C = 4, NQ = R * C + R };
    double target[NQ];
    for (int e = 0; e < NQ; e++) target[e] = 0.5 * sin(2.1 * e + 1);
    for (int dt = 0; dt < 2; dt++) {
        const ol_dtype type = dt ? OL_F32 : OL_F64;
        ol_error err;
        ol_optim opt;
        assert_int_equal(ol_optim_init(&opt, ol_optim_find("muon"), type, NQ, &err), 0);
        /* W in a muon group, the bias in an adamw group (lr 0.02, no decay). */
        const ol_optim_param p[2] = {{.offset = 0, .rows = R, .cols = C, .matrix = 1},
                                     {.offset = R * C, .rows = 1, .cols = R, .group = 1}};
        const double muon[1] = {0}, adamw[1] = {1};
        muon_group_set(&opt, -1, "use", adamw);
        assert_int_equal(ol_optim_set_params(&opt, p, 2, 2, &err), 0);
        muon_group_set(&opt, 0, "use", muon);
        const double fwd[1] = {0}, flr[1] = {0.02};
        muon_group_set(&opt, 1, "weight_decay", fwd);
        muon_group_set(&opt, 1, "lr", flr);
        const int64_t shape[1] = {NQ};
        ol_tensor w, g;
        assert_int_equal(ol_tensor_zeros(&w, type, 1, shape, &err), 0);
        assert_int_equal(ol_tensor_zeros(&g, type, 1, shape, &err), 0);
        double f0 = 0, f = 0;
        for (int e = 0; e < NQ; e++) f0 += 0.5 * target[e] * target[e];
        const int steps = 600;
        for (int t = 1; t <= steps; t++) {
            const double lr[1] = {0.05 * (1 - (t - 1.0) / steps)};
            muon_group_set(&opt, 0, "lr", lr);
            for (int64_t e = 0; e < NQ; e++)
                ol_tensor_set(&g, &e, ol_tensor_get(&w, &e) - target[e]);
            assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
        }
        for (int64_t e = 0; e < NQ; e++) {
            const double d = ol_tensor_get(&w, &e) - target[e];
            f += 0.5 * d * d;
        }
        if (!(f < 1e-4 * f0)) fail_msg("%s: loss %g from %g", dt ? "f32" : "f64", f, f0);
        ol_tensor_release(&w);
        ol_tensor_release(&g);
        ol_optim_free(&opt);
    }
}

/* ---- parameters rejected with their reasons ---- */
static void test_bad_params(void **st) {
    (void)st;
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("muon"), OL_F32, 20, &err), 0);
    const ol_optim_param overlap[2] = {{.offset = 0, .rows = 3, .cols = 3, .matrix = 1},
                                       {.offset = 8, .rows = 2, .cols = 2, .matrix = 1}};
    assert_int_equal(ol_optim_set_params(&opt, overlap, 2, 1, &err), -1);
    assert_non_null(strstr(err.msg, "overlap"));
    const ol_optim_param outside[1] = {{.offset = 10, .rows = 3, .cols = 4, .matrix = 1}};
    assert_int_equal(ol_optim_set_params(&opt, outside, 1, 1, &err), -1);
    if (!strstr(err.msg, "3x4 at offset 10 does not fit in 20")) fail_msg("%s", err.msg);
    const ol_optim_param empty[1] = {{.offset = 0, .rows = 0, .cols = 4, .matrix = 1}};
    assert_int_equal(ol_optim_set_params(&opt, empty, 1, 1, &err), -1);
    /* a vector in a muon group */
    const ol_optim_param vec[2] = {{.offset = 0, .rows = 3, .cols = 3, .matrix = 1},
                                   {.offset = 9, .rows = 1, .cols = 4}};
    assert_int_equal(ol_optim_set_params(&opt, vec, 2, 1, &err), -1);
    if (!strstr(err.msg, "offset 9 (4 elements) is not a matrix")) fail_msg("%s", err.msg);
    const ol_optim_param ok[2] = {{.offset = 9, .rows = 2, .cols = 2, .matrix = 1},
                                  {.offset = 0, .rows = 3, .cols = 3, .matrix = 1}};
    assert_int_equal(ol_optim_set_params(&opt, ok, 2, 1, &err), 0);
    assert_int_equal(opt.nparams, 2);
    assert_int_equal(opt.params[0].offset, 0); /* sorted */
    assert_int_equal(opt.params[1].offset, 9);
    ol_optim_free(&opt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trajectories), cmocka_unit_test(test_moves),
        cmocka_unit_test(test_ns_band),      cmocka_unit_test(test_ns_orthogonal),
        cmocka_unit_test(test_converges),    cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
