/* Muon against its rule, and the Newton-Schulz quintic's known behaviour.
 *
 * The trajectory tests lay two matrices (3x5 and 5x3, so both orientations
 * of the transpose rule run) and three loose vectors in one flat buffer, as
 * a model's parameters are laid out, and compare every step with a
 * reference written here in plain double loops: momentum, nesterov, the
 * Frobenius normalisation with 1e-7, the quintic iteration with
 * a, b, c = 3.4445, −4.7750, 2.0315 on the wide orientation, the
 * sqrt(max(1, rows/cols)) scale, decoupled weight decay, and AdamW (torch's
 * documented rule) on everything outside the matrices.
 *
 * The quintic is then checked against what it is known to do (Jordan 2024):
 * it maps every singular value of a normalised matrix into about
 * [0.7, 1.2] (the band p(x) = 3.4445x − 4.775x³ + 2.0315x⁵ settles in; its
 * maximum on [0, 1] is p(0.5545) = 1.2025), and so leaves a well-conditioned
 * matrix nearly orthogonal. Singular values come from LAPACK's dgesvd. */
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

/* ---- layout: bias(3) W1 3x5 bias(2) W2 5x3 bias(1) ---- */
#define NP 36
#define STEPS 4
static const ol_optim_block BLOCKS[2] = {{20, 5, 3}, {3, 3, 5}}; /* unsorted on purpose */

static double w0_at(int e) { return 0.8 * sin(0.9 * e + 0.3); }
static double a_at(int e) { return 0.5 + (e % 4); }
static double c_at(int e) { return 0.4 * cos(1.3 * e); }
static void grad_at(const double *w, int t, double *g) {
    for (int e = 0; e < NP; e++) g[e] = a_at(e) * (w[e] - c_at(e)) + 0.3 * sin(1.7 * t + e);
}


/* ---- reference ---- */

/* C = A·B for row-major A (n x k), B (k x m). */
static void matmul(const double *a, const double *b, double *c, int n, int k, int m) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int l = 0; l < k; l++) s += a[i * k + l] * b[l * m + j];
            c[i * m + j] = s;
        }
}

/* Newton-Schulz quintic on an r x c matrix u, result in o (r x c). */
static void ref_ns(const double *u, double *o, int r, int c, int steps) {
    const int tr = r > c, m = tr ? c : r, k = tr ? r : c;
    double x[64], xt[64], a[64], aa[64], b[64], bx[64];
    double nrm = 0;
    for (int i = 0; i < r * c; i++) nrm += u[i] * u[i];
    nrm = sqrt(nrm);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) {
            double v = u[i * c + j] / (nrm + 1e-7);
            if (tr) x[j * r + i] = v;
            else x[i * c + j] = v;
        }
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < k; j++) xt[j * m + i] = x[i * k + j];
        matmul(x, xt, a, m, k, m);
        matmul(a, a, aa, m, m, m);
        for (int i = 0; i < m * m; i++) b[i] = -4.7750 * a[i] + 2.0315 * aa[i];
        matmul(b, x, bx, m, m, k);
        for (int i = 0; i < m * k; i++) x[i] = 3.4445 * x[i] + bx[i];
    }
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) o[i * c + j] = tr ? x[j * r + i] : x[i * c + j];
}

static int in_block(int e, const ol_optim_block *blk, int nb) {
    for (int i = 0; i < nb; i++)
        if (e >= blk[i].offset && e < blk[i].offset + blk[i].rows * blk[i].cols) return 1;
    return 0;
}

static void ref_muon(const kv *o, const ol_optim_block *blk, int nb, double traj[STEPS][NP]) {
    double w[NP], g[NP], buf[NP] = {0}, m[NP] = {0}, v[NP] = {0}, vmax[NP] = {0};
    for (int e = 0; e < NP; e++) w[e] = w0_at(e);
    for (int t = 1; t <= STEPS; t++) {
        const double lr = get(o, "lr", 0.02, t), mu = get(o, "momentum", 0.95, t);
        const int nest = get(o, "nesterov", 1, t) != 0, steps = (int)get(o, "ns_steps", 5, t);
        const double wd = get(o, "weight_decay", 0, t);
        const double flr = get(o, "fallback_lr", 1e-3, t);
        const double b1 = get2(o, "fallback_betas", 0.9, t, 0);
        const double b2 = get2(o, "fallback_betas", 0.999, t, 1);
        const double eps = get(o, "fallback_eps", 1e-8, t);
        const double fwd = get(o, "fallback_weight_decay", 1e-2, t);
        const int ams = get(o, "fallback_amsgrad", 0, t) != 0;
        grad_at(w, t, g);
        for (int i = 0; i < nb; i++) {
            const int off = (int)blk[i].offset, r = (int)blk[i].rows, c = (int)blk[i].cols;
            double u[64], out[64];
            for (int e = 0; e < r * c; e++) {
                buf[off + e] = mu * buf[off + e] + g[off + e];
                u[e] = nest ? g[off + e] + mu * buf[off + e] : buf[off + e];
            }
            ref_ns(u, out, r, c, steps);
            const double scale = sqrt(fmax(1, (double)r / c));
            for (int e = 0; e < r * c; e++)
                w[off + e] = w[off + e] * (1 - lr * wd) - lr * scale * out[e];
        }
        for (int e = 0; e < NP; e++) {
            if (in_block(e, blk, nb)) continue;
            w[e] = w[e] - flr * fwd * w[e];
            m[e] = b1 * m[e] + (1 - b1) * g[e];
            v[e] = b2 * v[e] + (1 - b2) * g[e] * g[e];
            vmax[e] = fmax(vmax[e], v[e]);
            double vhat = (ams ? vmax[e] : v[e]) / (1 - pow(b2, t));
            w[e] = w[e] - flr * (m[e] / (1 - pow(b1, t))) / (sqrt(vhat) + eps);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* ---- engine ---- */

static void run_engine(ol_dtype dt, const kv *o, const ol_optim_block *blk, int nb,
                       double traj[STEPS][NP]) {
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("muon"), dt, NP, &err), 0);
    assert_true(ol_optim_uses_blocks(&opt));
    if (ol_optim_set_blocks(&opt, blk, nb, &err)) fail_msg("%s", err.msg);
    const int64_t shape[1] = {NP};
    ol_tensor w, g;
    assert_int_equal(ol_tensor_zeros(&w, dt, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&g, dt, 1, shape, &err), 0);
    for (int64_t e = 0; e < NP; e++) ol_tensor_set(&w, &e, w0_at((int)e));
    set_options(&opt, o, 0);
    for (int t = 1; t <= STEPS; t++) {
        if (t > 1) set_options(&opt, o, t);
        double wv[NP], gv[NP];
        for (int64_t e = 0; e < NP; e++) wv[e] = ol_tensor_get(&w, &e);
        grad_at(wv, t, gv);
        for (int64_t e = 0; e < NP; e++) ol_tensor_set(&g, &e, gv[e]);
        if (ol_optim_step(&opt, &w, &g, NAN, 0, &err)) fail_msg("%s", err.msg);
        for (int64_t e = 0; e < NP; e++) traj[t - 1][e] = ol_tensor_get(&w, &e);
    }
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
}

static void compare(const kv *o, const ol_optim_block *blk, int nb) {
    double want[STEPS][NP], got[STEPS][NP];
    ref_muon(o, blk, nb, want);
    for (int dt = 0; dt < 2; dt++) {
        run_engine(dt == 0 ? OL_F64 : OL_F32, o, blk, nb, got);
        const double tol = dt == 0 ? 1e-11 : 2e-5;
        for (int t = 0; t < STEPS; t++)
            for (int e = 0; e < NP; e++)
                if (!(fabs(got[t][e] - want[t][e]) <= tol * (1 + fabs(want[t][e]))))
                    fail_msg("muon %s (first option %s): step %d w[%d] = %.17g, want %.17g",
                             dt == 0 ? "f64" : "f32", o && o->k ? o->k : "none", t + 1, e,
                             got[t][e], want[t][e]);
    }
}

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
    compare(NULL, BLOCKS, 2);
    compare(plain, BLOCKS, 2);
    compare(wd, BLOCKS, 2);
    compare(ns, BLOCKS, 2);
    compare(fb, BLOCKS, 2);
    compare(live, BLOCKS, 2);
    compare(fb, BLOCKS + 1, 1); /* one matrix: the rest is fallback */
    compare(fb, NULL, 0);       /* no matrices known: all adamw */
}

/* The matrices move by lr·scale per step in spectral norm (about), far more
 * than the tolerances; and the fallback part moves too. */
static void test_moves(void **st) {
    (void)st;
    double traj[STEPS][NP];
    ref_muon(NULL, BLOCKS, 2, traj);
    assert_true(fabs(traj[STEPS - 1][4] - w0_at(4)) > 1e-3);  /* in W1 */
    assert_true(fabs(traj[STEPS - 1][0] - w0_at(0)) > 1e-4);  /* fallback */
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
    const ol_optim_block b = {0, r, c};
    assert_int_equal(ol_optim_set_blocks(&opt, &b, 1, &err), 0);
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
        const ol_optim_block b = {0, R, C};
        assert_int_equal(ol_optim_set_blocks(&opt, &b, 1, &err), 0);
        const double fwd[1] = {0}, flr[1] = {0.02};
        assert_int_equal(ol_optim_set(&opt, "fallback_weight_decay", fwd, &err), 0);
        assert_int_equal(ol_optim_set(&opt, "fallback_lr", flr, &err), 0);
        const int64_t shape[1] = {NQ};
        ol_tensor w, g;
        assert_int_equal(ol_tensor_zeros(&w, type, 1, shape, &err), 0);
        assert_int_equal(ol_tensor_zeros(&g, type, 1, shape, &err), 0);
        double f0 = 0, f = 0;
        for (int e = 0; e < NQ; e++) f0 += 0.5 * target[e] * target[e];
        const int steps = 600;
        for (int t = 1; t <= steps; t++) {
            const double lr[1] = {0.05 * (1 - (t - 1.0) / steps)};
            assert_int_equal(ol_optim_set(&opt, "lr", lr, &err), 0);
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

/* ---- blocks and options rejected with their reasons ---- */
static void test_bad_blocks(void **st) {
    (void)st;
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("muon"), OL_F32, 20, &err), 0);
    const ol_optim_block overlap[2] = {{0, 3, 3}, {8, 2, 2}};
    assert_int_equal(ol_optim_set_blocks(&opt, overlap, 2, &err), -1);
    assert_non_null(strstr(err.msg, "overlap"));
    const ol_optim_block outside[1] = {{10, 3, 4}};
    assert_int_equal(ol_optim_set_blocks(&opt, outside, 1, &err), -1);
    if (!strstr(err.msg, "3x4 at offset 10 does not fit in 20")) fail_msg("%s", err.msg);
    const ol_optim_block empty[1] = {{0, 0, 4}};
    assert_int_equal(ol_optim_set_blocks(&opt, empty, 1, &err), -1);
    const ol_optim_block ok[2] = {{9, 2, 2}, {0, 3, 3}};
    assert_int_equal(ol_optim_set_blocks(&opt, ok, 2, &err), 0);
    assert_int_equal(opt.nblocks, 2);
    assert_int_equal(opt.blocks[0].offset, 0); /* sorted */
    const double bad[2] = {2.5, 0};
    assert_int_equal(ol_optim_set(&opt, "ns_steps", bad, &err), -1);
    assert_non_null(strstr(err.msg, "option 'ns_steps' must be an integer"));
    const double neg[2] = {-1, 0};
    assert_int_equal(ol_optim_set(&opt, "ns_steps", neg, &err), -1);
    const double one[2] = {1, 0};
    assert_int_equal(ol_optim_set(&opt, "momentum", one, &err), -1);
    assert_non_null(strstr(err.msg, "option 'momentum' must be in [0, 1)"));
    const double b[2] = {0.9, 1};
    assert_int_equal(ol_optim_set(&opt, "fallback_betas", b, &err), -1);
    assert_non_null(strstr(err.msg, "option 'fallback_betas' element 2"));
    const double z[2] = {0, 0};
    assert_int_equal(ol_optim_set(&opt, "fallback_eps", z, &err), -1);
    ol_optim_free(&opt);
    /* optimizers without matrices say so */
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("adam"), OL_F32, 20, &err), 0);
    assert_false(ol_optim_uses_blocks(&opt));
    ol_optim_free(&opt);
}

static void test_defaults(void **st) {
    (void)st;
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("muon"), OL_F64, 1, &err), 0);
    struct {
        const char *k;
        double v;
    } want[] = {{"lr", 0.02}, {"momentum", 0.95}, {"nesterov", 1}, {"ns_steps", 5},
                {"weight_decay", 0}, {"fallback_lr", 1e-3}, {"fallback_eps", 1e-8},
                {"fallback_weight_decay", 1e-2}, {"fallback_amsgrad", 0}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const ol_optim_option *op = ol_optim_find_option(opt.desc, want[i].k);
        assert_non_null(op);
        assert_true(opt.o[op->slot] == want[i].v);
    }
    ol_optim_free(&opt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trajectories), cmocka_unit_test(test_moves),
        cmocka_unit_test(test_ns_band),      cmocka_unit_test(test_ns_orthogonal),
        cmocka_unit_test(test_converges),    cmocka_unit_test(test_bad_blocks),
        cmocka_unit_test(test_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
