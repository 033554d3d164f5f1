/* Curvature: the second derivatives beside the first (kernels.h) and the
 * exact products of engine/nn/rop.c, all against central differences in
 * f64 of values the code under test does not make:
 *  - f'' of every activation (ol_act_backward2) against differences of f'
 *    (ol_act_backward);
 *  - the loss's Hessian-vector product (ol_loss_hv) against differences of
 *    its gradient (ol_loss), for every loss and both kinds of target, and
 *    cross_entropy's label smoothing and class weights, huber's delta;
 *  - H v (ol_model_curvature) against differences of the gradient of
 *    ol_model_evaluate along v, and G v = J^T H_L J v against J^T (the
 *    model's backward) of differences of the loss's gradient at the output
 *    moved along J v (itself differences of the output), for every
 *    activation and loss, on two small models at batch 5 and 1;
 *  - the loss and gradient it returns against ol_model_evaluate's, f32
 *    models against their f64 copy, and its argument errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/kernels.h"
#include "nn/nn.h"
#include "core/rng.h"

#define NACT OL_ACT_COUNT

static ol_layer_spec lin(int64_t in, int64_t out) {
    return (ol_layer_spec){.kind = OL_LAYER_LINEAR, .in = in, .out = out};
}
static ol_layer_spec act(ol_act a) {
    return (ol_layer_spec){.kind = OL_LAYER_ACT, .act = a, .slope = 0.1};
}

static void *pdata(const ol_model *m) {
    ol_tensor t;
    ol_model_params(m, &t);
    void *p = ol_tensor_data(&t);
    ol_tensor_release(&t);
    return p;
}
static const double *gdata(const ol_model *m) {
    ol_tensor t;
    ol_model_grads(m, &t);
    const double *p = ol_tensor_data(&t);
    ol_tensor_release(&t);
    return p;
}

static double *doubles(int64_t n) {
    double *p = calloc((size_t)n, sizeof *p);
    assert_non_null(p);
    return p;
}

/* Largest |a - b| over n values, and largest |b|. */
static double worst(const double *a, const double *b, int64_t n, double *scale) {
    double w = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        w = fmax(w, fabs(a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    if (scale) *scale = s;
    return w;
}

/* ---- activations: f'' against differences of f' ---- */

/* f'(u) for one activation at the points u (count), by ol_act_backward
 * with dy = 1. */
static void first(ol_act a, const double *u, int64_t count, double *d1) {
    double y[16], one[16];
    assert_true(count <= 16);
    for (int64_t i = 0; i < count; i++) one[i] = 1;
    ol_act_forward_f64(a, 0.1, 1, count, u, NULL, y);
    ol_act_backward_f64(a, 0.1, 1, count, u, NULL, y, one, d1, NULL, 0);
}

static void test_act_second_derivatives(void **state) {
    (void)state;
    /* away from relu's kink at 0 */
    const double u[] = {-3.1, -1.7, -0.6, -0.15, 0.2, 0.7, 1.3, 2.9};
    enum { K = sizeof u / sizeof *u };
    const double h = 1e-4;
    for (int a = 0; a < NACT; a++) {
        double up[K], um[K], dp[K], dm[K], y[K], one[K], zero[K], d2[K];
        for (int i = 0; i < K; i++) {
            up[i] = u[i] + h;
            um[i] = u[i] - h;
            one[i] = 1;
            zero[i] = 0;
        }
        first((ol_act)a, up, K, dp);
        first((ol_act)a, um, K, dm);
        ol_act_forward_f64((ol_act)a, 0.1, 1, K, u, NULL, y);
        memcpy(d2, zero, sizeof d2);
        ol_act_backward2_f64((ol_act)a, 0.1, 1, K, u, NULL, y, one, one, d2);
        for (int i = 0; i < K; i++) {
            const double fd = (dp[i] - dm[i]) / (2 * h);
            if (fabs(d2[i] - fd) > 1e-7)
                fail_msg("%s'' at %g: %.12g, differences of f' %.12g", ol_act_name((ol_act)a), u[i],
                         d2[i], fd);
        }
        /* dx += dy f''(u) r, with u = pre + bias per column, in two rows */
        double pre[2 * K], bias[K], y2[2 * K], dy[2 * K], r[2 * K], dx[2 * K];
        for (int j = 0; j < K; j++) bias[j] = 0.25 * (j % 3) - 0.25;
        for (int i = 0; i < 2 * K; i++) {
            pre[i] = u[i % K] - bias[i % K];
            dy[i] = 0.5 + 0.1 * i;
            r[i] = 1.5 - 0.2 * i;
            dx[i] = 0.3 * i - 1;
        }
        ol_act_forward_f64((ol_act)a, 0.1, 2, K, pre, bias, y2);
        ol_act_backward2_f64((ol_act)a, 0.1, 2, K, pre, bias, y2, dy, r, dx);
        for (int i = 0; i < 2 * K; i++)
            assert_true(fabs(dx[i] - (0.3 * i - 1 + dy[i] * d2[i % K] * r[i])) <= 1e-12);
        /* the f32 instance: the same rule */
        float uf[K], yf[K], onef[K], d2f[K];
        for (int i = 0; i < K; i++) {
            uf[i] = (float)u[i];
            onef[i] = 1;
            d2f[i] = 0;
        }
        ol_act_forward_f32((ol_act)a, 0.1, 1, K, uf, NULL, yf);
        ol_act_backward2_f32((ol_act)a, 0.1, 1, K, uf, NULL, yf, onef, onef, d2f);
        for (int i = 0; i < K; i++) assert_true(fabs(d2f[i] - d2[i]) <= 1e-5);
    }
}

/* ---- losses: H v against differences of the gradient ---- */

enum { NB = 5, NC = 3 };

/* A target of kind case_ (0: class ids, 1: dense cross_entropy weights
 * that do not sum to 1, 2: mse, 3: bce, 4 and 5: cross_entropy as 0 and 1
 * with label smoothing 0.1 and class weights, 6: huber with delta 0.5)
 * for n rows of c outputs. */
enum { NCASES = 7 };
static const double CLASS_WEIGHT[NC] = {1, 2, 0.5};

typedef struct target {
    ol_loss_spec loss;
    int32_t ids[NB];
    double dense[NB * NC];
    const int32_t *pids;
    const double *pdense;
} target;

static void make_target(target *t, int case_, int64_t n, int64_t c) {
    static const ol_loss_kind kinds[] = {OL_LOSS_CROSS_ENTROPY, OL_LOSS_CROSS_ENTROPY, OL_LOSS_MSE,
                                         OL_LOSS_BCE, OL_LOSS_CROSS_ENTROPY, OL_LOSS_CROSS_ENTROPY,
                                         OL_LOSS_HUBER};
    assert_true(c == NC);
    t->loss = *OL_LOSS_PLAIN(kinds[case_]);
    if (case_ == 4 || case_ == 5) {
        t->loss.label_smoothing = 0.1;
        t->loss.weight = CLASS_WEIGHT;
        t->loss.nweight = NC;
    }
    if (case_ == 6) t->loss.delta = 0.5;
    for (int64_t i = 0; i < n; i++) t->ids[i] = (int32_t)ol_rng_below((uint64_t)c);
    for (int64_t i = 0; i < n * c; i++)
        t->dense[i] = case_ == 2 || case_ == 6   ? ol_rng_normal()
                      : case_ == 1 || case_ == 5 ? 0.1 + ol_rng_uniform()
                                                 : ol_rng_uniform();
    t->pids = case_ == 0 || case_ == 4 ? t->ids : NULL;
    t->pdense = t->pids ? NULL : t->dense;
}

static const char *case_name(int case_) {
    static const char *const names[] = {"cross_entropy (ids)", "cross_entropy (dense)", "mse",
                                        "bce", "cross_entropy (ids, smoothing, weight)",
                                        "cross_entropy (dense, smoothing, weight)", "huber"};
    return names[case_];
}

static void test_loss_hessian_vector(void **state) {
    (void)state;
    ol_rng_seed(7);
    enum { N = 4, C = 3 };
    const double h = 1e-5;
    for (int case_ = 0; case_ < NCASES; case_++) {
        target t;
        make_target(&t, case_, N, C);
        double y[N * C], v[N * C], yp[N * C], ym[N * C], dp[N * C], dm[N * C], hv[N * C],
            fd[N * C];
        for (int i = 0; i < N * C; i++) {
            y[i] = 2 * ol_rng_normal();
            v[i] = ol_rng_normal();
            yp[i] = y[i] + h * v[i];
            ym[i] = y[i] - h * v[i];
        }
        ol_loss_f64(&t.loss, N, C, yp, t.pids, t.pdense, dp);
        ol_loss_f64(&t.loss, N, C, ym, t.pids, t.pdense, dm);
        for (int i = 0; i < N * C; i++) fd[i] = (dp[i] - dm[i]) / (2 * h);
        ol_loss_hv_f64(&t.loss, N, C, y, t.pids, t.pdense, v, hv);
        double scale, w = worst(hv, fd, N * C, &scale);
        if (w > 1e-8 * fmax(scale, 1e-3))
            fail_msg("%s: H v off the differences of the gradient by %g (scale %g)",
                     case_name(case_), w, scale);
        /* the f32 instance */
        float yf[N * C], vf[N * C], tf[N * C], hvf[N * C];
        for (int i = 0; i < N * C; i++) {
            yf[i] = (float)y[i];
            vf[i] = (float)v[i];
            tf[i] = (float)t.dense[i];
        }
        ol_loss_hv_f32(&t.loss, N, C, yf, t.pids, t.pdense ? tf : NULL, vf, hvf);
        for (int i = 0; i < N * C; i++) assert_true(fabs(hvf[i] - hv[i]) <= 1e-5 * fmax(scale, 1));
    }
}

/* ---- models: H v and G v against differences ---- */

/* Two shapes around activation a: a plain MLP, and one with an activation
 * on the input (before the first linear layer: R of it is zero), two in a
 * row, and one on the output. */
static int shape(int which, ol_act a, ol_layer_spec *s) {
    if (which == 0) {
        s[0] = lin(4, 6), s[1] = act(a), s[2] = lin(6, 5), s[3] = act(a), s[4] = lin(5, NC);
        return 5;
    }
    s[0] = act(a), s[1] = lin(4, 5), s[2] = act(a), s[3] = act(OL_ACT_TANH), s[4] = lin(5, NC);
    s[5] = act(a);
    return 6;
}

static ol_model *make_model(int which, ol_act a, ol_dtype dt) {
    ol_error err;
    ol_layer_spec s[6];
    const int nl = shape(which, a, s);
    ol_model *m = ol_model_new(s, nl, OL_F64, &err);
    assert_non_null(m);
    /* weights of unit scale, so that the second derivatives matter */
    double *p = pdata(m);
    for (int64_t i = 0; i < ol_model_nparams(m); i++) p[i] = 0.7 * ol_rng_normal();
    if (dt == OL_F64) return m;
    ol_model *c = ol_model_clone(m, dt, &err);
    assert_non_null(c);
    ol_model_free(m);
    return c;
}

/* The gradient of the mean loss at the model's parameters, and the loss. */
static double gradient(ol_model *m, const double *x, int64_t n, const target *t, double *g) {
    ol_error err;
    ol_target tt = {t->pids, t->pdense};
    double loss;
    if (ol_model_evaluate(m, x, n, &t->loss, &tt, &loss, &err)) fail_msg("evaluate: %s", err.msg);
    memcpy(g, gdata(m), (size_t)ol_model_nparams(m) * sizeof *g);
    return loss;
}

/* The model's output at its parameters (n x NC). */
static void output(ol_model *m, const double *x, int64_t n, double *y) {
    ol_error err;
    if (ol_model_forward(m, x, n, &err)) fail_msg("forward: %s", err.msg);
    memcpy(y, ol_model_output(m, NULL), (size_t)(n * NC) * sizeof *y);
}

/* params = p0 + s v */
static void move(ol_model *m, const double *p0, const double *v, double s) {
    double *p = pdata(m);
    for (int64_t i = 0; i < ol_model_nparams(m); i++) p[i] = p0[i] + s * v[i];
}

static double *saved(const ol_model *m) {
    double *p0 = doubles(ol_model_nparams(m));
    memcpy(p0, pdata(m), (size_t)ol_model_nparams(m) * sizeof *p0);
    return p0;
}

static void restore(ol_model *m, double *p0) {
    memcpy(pdata(m), p0, (size_t)ol_model_nparams(m) * sizeof *p0);
    free(p0);
}

/* (g(w + h v) - g(w - h v)) / 2h, g the gradient by ol_model_evaluate. */
static void hv_by_differences(ol_model *m, const double *x, int64_t n, const target *t,
                              const double *v, double h, double *out) {
    const int64_t np = ol_model_nparams(m);
    double *gm = doubles(np), *p0 = saved(m);
    move(m, p0, v, h);
    gradient(m, x, n, t, out);
    move(m, p0, v, -h);
    gradient(m, x, n, t, gm);
    restore(m, p0);
    for (int64_t i = 0; i < np; i++) out[i] = (out[i] - gm[i]) / (2 * h);
    free(gm);
}

/* J^T u: the backward pass from dL/dy = u, through an mse loss whose
 * target makes its gradient u (dy = 2 (y - t) / (n c)). */
static void jt(ol_model *m, const double *x, int64_t n, const double *u, double *out) {
    ol_error err;
    double y[NB * NC], tgt[NB * NC], loss;
    output(m, x, n, y);
    for (int64_t i = 0; i < n * NC; i++) tgt[i] = y[i] - u[i] * (double)(n * NC) / 2;
    ol_target tt = {NULL, tgt};
    if (ol_model_loss(m, OL_LOSS_PLAIN(OL_LOSS_MSE), &tt, &loss, &err) || ol_model_backward(m, 0, &err))
        fail_msg("J^T u: %s", err.msg);
    memcpy(out, gdata(m), (size_t)ol_model_nparams(m) * sizeof *out);
}

/* G v = J^T H_L J v: J v by differences of the output along v, H_L (J v)
 * by differences of the loss's gradient at the output along J v. */
static void gv_by_differences(ol_model *m, const double *x, int64_t n, const target *t,
                              const double *v, double h, double *out) {
    double y0[NB * NC], yp[NB * NC], ym[NB * NC], jv[NB * NC], dp[NB * NC], dm[NB * NC],
        u[NB * NC];
    const int64_t k = n * NC;
    double *p0 = saved(m);
    output(m, x, n, y0);
    move(m, p0, v, h);
    output(m, x, n, yp);
    move(m, p0, v, -h);
    output(m, x, n, ym);
    restore(m, p0);
    for (int64_t i = 0; i < k; i++) {
        jv[i] = (yp[i] - ym[i]) / (2 * h);
        yp[i] = y0[i] + h * jv[i];
        ym[i] = y0[i] - h * jv[i];
    }
    ol_loss_f64(&t->loss, n, NC, yp, t->pids, t->pdense, dp);
    ol_loss_f64(&t->loss, n, NC, ym, t->pids, t->pdense, dm);
    for (int64_t i = 0; i < k; i++) u[i] = (dp[i] - dm[i]) / (2 * h);
    jt(m, x, n, u, out);
}

/* Compares a product with its differences; the worst error over the
 * largest value must stay under tol. */
static void expect_near(const double *got, const double *want, int64_t np, double tol,
                        const char *what, ol_act a, int which, int case_, int64_t n) {
    double scale, w = worst(got, want, np, &scale);
    if (w > tol * fmax(scale, 1e-2))
        fail_msg("%s, %s, shape %d, %s, batch %lld: off the differences by %g (largest %g)", what,
                 ol_act_name(a), which, case_name(case_), (long long)n, w, scale);
}

static void test_products_against_differences(void **state) {
    (void)state;
    ol_error err;
    ol_rng_seed(11);
    const int64_t batches[] = {NB, 1};
    for (int a = 0; a < NACT; a++)
        for (int which = 0; which < 2; which++)
            for (int case_ = 0; case_ < NCASES; case_++)
                for (int b = 0; b < 2; b++) {
                    const int64_t n = batches[b];
                    ol_model *m = make_model(which, (ol_act)a, OL_F64);
                    const int64_t np = ol_model_nparams(m);
                    double x[NB * 4];
                    for (int i = 0; i < NB * 4; i++) x[i] = ol_rng_normal();
                    target t;
                    make_target(&t, case_, n, NC);
                    double *v = doubles(np), *hv = doubles(np), *fd = doubles(np),
                           *g = doubles(np), *g0 = doubles(np), *hv2 = doubles(np);
                    for (int64_t i = 0; i < np; i++) v[i] = ol_rng_normal();
                    for (int gn = 0; gn < 2; gn++) {
                        double loss = NAN;
                        if (ol_model_curvature(m, x, n, &t.loss, t.pids, t.pdense, v, hv, gn, &loss,
                                               g, &err))
                            fail_msg("curvature: %s", err.msg);
                        if (gn) gv_by_differences(m, x, n, &t, v, 1e-5, fd);
                        else hv_by_differences(m, x, n, &t, v, 1e-5, fd);
                        expect_near(hv, fd, np, 2e-7, gn ? "G v" : "H v", (ol_act)a, which,
                                    case_, n);
                        /* the loss and gradient it returns are evaluate's */
                        const double loss0 = gradient(m, x, n, &t, g0);
                        assert_true(fabs(loss - loss0) <= 1e-13 * fmax(fabs(loss0), 1));
                        expect_near(g, g0, np, 1e-13, "gradient", (ol_act)a, which, case_, n);
                        /* and without them the product is the same */
                        ol_model_curvature(m, x, n, &t.loss, t.pids, t.pdense, v, hv2, gn, NULL,
                                           NULL, &err);
                        assert_memory_equal(hv, hv2, (size_t)np * sizeof *hv);
                        if (gn) { /* G is positive semi-definite */
                            double vgv = 0, vv = 0;
                            for (int64_t i = 0; i < np; i++) vgv += v[i] * hv[i], vv += v[i] * v[i];
                            assert_true(vgv >= -1e-12 * vv);
                        }
                    }
                    free(v), free(hv), free(fd), free(g), free(g0), free(hv2);
                    ol_model_free(m);
                }
}

/* An f32 model's products are its f64 copy's: both run in double on the
 * same parameter values. */
static void test_f32_model(void **state) {
    (void)state;
    ol_error err;
    ol_rng_seed(5);
    for (int a = 0; a < NACT; a++) {
        ol_model *m32 = make_model(0, (ol_act)a, OL_F32);
        ol_model *m64 = ol_model_clone(m32, OL_F64, &err);
        assert_non_null(m64);
        const int64_t np = ol_model_nparams(m32);
        double x[NB * 4], *v = doubles(np), *h32 = doubles(np), *h64 = doubles(np);
        for (int i = 0; i < NB * 4; i++) x[i] = ol_rng_normal();
        for (int64_t i = 0; i < np; i++) v[i] = ol_rng_normal();
        target t;
        make_target(&t, 0, NB, NC);
        for (int gn = 0; gn < 2; gn++) {
            assert_int_equal(ol_model_curvature(m32, x, NB, &t.loss, t.pids, NULL, v, h32, gn, NULL,
                                                NULL, &err), 0);
            assert_int_equal(ol_model_curvature(m64, x, NB, &t.loss, t.pids, NULL, v, h64, gn, NULL,
                                                NULL, &err), 0);
            double scale, w = worst(h32, h64, np, &scale);
            assert_true(scale > 0);
            assert_true(w <= 1e-13 * scale);
        }
        free(v), free(h32), free(h64);
        ol_model_free(m32);
        ol_model_free(m64);
    }
}

static void test_errors(void **state) {
    (void)state;
    ol_error err;
    ol_model *m = make_model(0, OL_ACT_TANH, OL_F64);
    const int64_t np = ol_model_nparams(m);
    double x[NB * 4] = {0}, dense[NB * NC] = {0}, *v = doubles(np), *out = doubles(np);
    int32_t ids[NB] = {0, 1, 2, 0, 1}, bad[NB] = {0, 1, 3, 0, 1};
    const struct {
        int64_t n;
        ol_loss_kind kind;
        const int32_t *ids;
        const double *dense;
        const char *msg;
    } cases[] = {
        {0, OL_LOSS_MSE, NULL, dense, "batch size must be positive"},
        {NB, OL_LOSS_MSE, ids, NULL, "class ids are targets for cross_entropy only"},
        {NB, OL_LOSS_BCE, NULL, NULL, "no target"},
        {NB, OL_LOSS_CROSS_ENTROPY, bad, NULL, "class id 3 out of range 0..2 at row 2"},
        {NB, (ol_loss_kind)7, NULL, dense, "unknown loss"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (int gn = 0; gn < 2; gn++) {
            assert_int_equal(ol_model_curvature(m, x, cases[k].n, OL_LOSS_PLAIN(cases[k].kind), cases[k].ids,
                                                cases[k].dense, v, out, gn, NULL, NULL, &err),
                             -1);
            assert_non_null(strstr(err.msg, cases[k].msg));
        }
    /* the loss's options, checked as ol_model_loss checks them */
    const double short_w[2] = {1, 1}, neg_w[NC] = {1, -1, 1}, nan_w[NC] = {1, NAN, 1};
    const struct {
        ol_loss_spec loss;
        const char *msg;
    } specs[] = {
        {{OL_LOSS_CROSS_ENTROPY, 1.5, NULL, 0, 1}, "label_smoothing must be in [0, 1], got 1.5"},
        {{OL_LOSS_CROSS_ENTROPY, -0.1, NULL, 0, 1}, "label_smoothing must be in [0, 1], got -0.1"},
        {{OL_LOSS_CROSS_ENTROPY, 0, short_w, 2, 1}, "weight has 2 values but the model has 3 classes"},
        {{OL_LOSS_CROSS_ENTROPY, 0, neg_w, NC, 1}, "weight[2] must be a finite number >= 0, got -1"},
        {{OL_LOSS_CROSS_ENTROPY, 0, nan_w, NC, 1}, "weight[2] must be a finite number >= 0, got nan"},
        {{OL_LOSS_HUBER, 0, NULL, 0, 0}, "huber: delta must be a finite number > 0, got 0"},
        {{OL_LOSS_HUBER, 0, NULL, 0, -1}, "huber: delta must be a finite number > 0, got -1"},
        {{OL_LOSS_MSE, 0.1, NULL, 0, 1}, "mse takes no label_smoothing"},
        {{OL_LOSS_BCE, 0, CLASS_WEIGHT, NC, 1}, "bce takes no class weight"},
    };
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        const int ce = specs[k].loss.kind == OL_LOSS_CROSS_ENTROPY;
        assert_int_equal(ol_model_curvature(m, x, NB, &specs[k].loss, ce ? ids : NULL,
                                            ce ? NULL : dense, v, out, 0, NULL, NULL, &err),
                         -1);
        if (!strstr(err.msg, specs[k].msg)) fail_msg("case %zu: got '%s'", k, err.msg);
    }
    assert_int_equal(ol_model_curvature(m, x, NB, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), ids, NULL, v, out, 0,
                                        NULL, NULL, &err),
                     0);
    free(v), free(out);
    ol_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_act_second_derivatives),
        cmocka_unit_test(test_loss_hessian_vector),
        cmocka_unit_test(test_products_against_differences),
        cmocka_unit_test(test_f32_model),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
