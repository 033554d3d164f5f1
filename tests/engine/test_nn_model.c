/* Models: forward values against hand-computed numbers, losses against
 * their formulas, and every gradient (each activation fused and standalone,
 * each loss, 1-3 hidden layers, batch 1 and larger) against central
 * differences of the loss computed here in f64. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/nn.h"
#include "core/rng.h"

static ol_layer_spec lin(int64_t in, int64_t out) {
    return (ol_layer_spec){.kind = OL_LAYER_LINEAR, .in = in, .out = out};
}
static ol_layer_spec act(ol_act a, double slope) {
    return (ol_layer_spec){.kind = OL_LAYER_ACT, .act = a, .slope = slope};
}

static void *pdata(ol_model *m) {
    ol_tensor t;
    ol_model_params(m, &t);
    void *p = ol_tensor_data(&t);
    ol_tensor_release(&t);
    return p;
}
static void *gdata(ol_model *m) {
    ol_tensor t;
    ol_model_grads(m, &t);
    void *p = ol_tensor_data(&t);
    ol_tensor_release(&t);
    return p;
}

/* 2 -> 2 relu -> 1, weights chosen so every number below is exact. */
static void test_forward_by_hand(void **state) {
    (void)state;
    ol_error err;
    ol_layer_spec s[] = {lin(2, 2), act(OL_ACT_RELU, 0), lin(2, 1)};
    for (int dt = 0; dt < 2; dt++) {
        ol_model *m = ol_model_new(s, 3, (ol_dtype)dt, &err);
        assert_non_null(m);
        assert_int_equal(ol_model_nparams(m), 4 + 2 + 2 + 1);
        double p[] = {1, 2, 3, -4, 0.5, -1, 1, -1, 0.25};
        double x[] = {1, 1, 2, -1};
        float pf[9], xf[4];
        for (int i = 0; i < 9; i++) pf[i] = (float)p[i];
        for (int i = 0; i < 4; i++) xf[i] = (float)x[i];
        memcpy(pdata(m), dt ? (void *)p : (void *)pf, dt ? sizeof p : sizeof pf);
        assert_int_equal(ol_model_forward(m, dt ? (void *)x : (void *)xf, 2, &err), 0);
        int64_t n;
        const void *y = ol_model_output(m, &n);
        assert_int_equal(n, 2);
        /* row 1: z = (1+2+.5, 3-4-1) = (3.5, -2) -> relu (3.5, 0) -> 3.5+.25
         * row 2: z = (2-2+.5, 6+4-1) = (.5, 9) -> (.5, 9) -> .5-9+.25 */
        double y0 = dt ? ((const double *)y)[0] : ((const float *)y)[0];
        double y1 = dt ? ((const double *)y)[1] : ((const float *)y)[1];
        assert_true(y0 == 3.75);
        assert_true(y1 == -8.25);
        /* batch 1 goes through gemv: same numbers */
        assert_int_equal(ol_model_forward(m, dt ? (void *)(x + 2) : (void *)(xf + 2), 1, &err), 0);
        y = ol_model_output(m, &n);
        assert_true((dt ? ((const double *)y)[0] : ((const float *)y)[0]) == -8.25);
        ol_model_free(m);
    }
}

/* One linear identity layer so the output equals the input: the loss
 * values are then pure formulas of the numbers given. */
static double loss_of(ol_loss_kind k, int64_t n, int64_t c, const double *y, const int32_t *ids,
                      const double *t) {
    ol_error err;
    ol_layer_spec s[] = {lin(c, c)};
    ol_model *m = ol_model_new(s, 1, OL_F64, &err);
    double *p = pdata(m);
    for (int64_t i = 0; i < c; i++) p[i * c + i] = 1;
    double loss = NAN;
    ol_target tg = {ids, t};
    assert_int_equal(ol_model_forward(m, y, n, &err), 0);
    assert_int_equal(ol_model_loss(m, OL_LOSS_PLAIN(k), &tg, &loss, &err), 0);
    ol_model_free(m);
    return loss;
}

static void test_loss_values(void **state) {
    (void)state;
    double y[] = {1, 2, 3, -1, 0, 4};
    int32_t ids[] = {2, 0};
    /* cross_entropy: mean of logsumexp(row) - y[id] */
    double l1 = log(exp(1) + exp(2) + exp(3)) - 3, l2 = log(exp(-1) + exp(0) + exp(4)) - (-1);
    assert_true(fabs(loss_of(OL_LOSS_CROSS_ENTROPY, 2, 3, y, ids, NULL) - (l1 + l2) / 2) < 1e-14);
    /* one-hot gives the same; a soft target the weighted sum */
    double onehot[] = {0, 0, 1, 1, 0, 0};
    assert_true(fabs(loss_of(OL_LOSS_CROSS_ENTROPY, 2, 3, y, NULL, onehot) - (l1 + l2) / 2) < 1e-14);
    double soft[] = {0.5, 0, 0.5, 0, 0, 1};
    double s1 = log(exp(1) + exp(2) + exp(3)) - 0.5 * 1 - 0.5 * 3;
    double s2 = log(exp(-1) + exp(0) + exp(4)) - 4;
    assert_true(fabs(loss_of(OL_LOSS_CROSS_ENTROPY, 2, 3, y, NULL, soft) - (s1 + s2) / 2) < 1e-14);
    /* huge logits stay finite (log-sum-exp shifted by the max) */
    double big[] = {1000, 0, -1000};
    int32_t id0[] = {0};
    assert_true(fabs(loss_of(OL_LOSS_CROSS_ENTROPY, 1, 3, big, id0, NULL) - 0) < 1e-12);
    int32_t id1[] = {1};
    assert_true(fabs(loss_of(OL_LOSS_CROSS_ENTROPY, 1, 3, big, id1, NULL) - 1000) < 1e-9);
    /* mse: mean over all 6 elements */
    double t[] = {0, 2, 1, 1, 0, 0};
    double mse = (1 + 0 + 4 + 4 + 0 + 16) / 6.0;
    assert_true(fabs(loss_of(OL_LOSS_MSE, 2, 3, y, NULL, t) - mse) < 1e-14);
    /* bce with logits: -(t log s(y) + (1-t) log(1 - s(y))), mean */
    double tb[] = {1, 0, 1, 0, 1, 0.25}, bce = 0;
    for (int i = 0; i < 6; i++) {
        double sg = 1 / (1 + exp(-y[i]));
        bce -= tb[i] * log(sg) + (1 - tb[i]) * log(1 - sg);
    }
    assert_true(fabs(loss_of(OL_LOSS_BCE, 2, 3, y, NULL, tb) - bce / 6) < 1e-14);
    double huge[] = {-800, 800}, th[] = {1, 0};
    assert_true(fabs(loss_of(OL_LOSS_BCE, 1, 2, huge, NULL, th) - 800) < 1e-9);
}

/* Max over parameters of |analytic - central difference| / max(1, |fd|). */
static double fd_error(ol_model *m, const double *x, int64_t n, ol_loss_kind k, const ol_target *t) {
    ol_error err;
    double loss, worst = 0;
    assert_int_equal(ol_model_evaluate(m, x, n, OL_LOSS_PLAIN(k), t, &loss, &err), 0);
    int64_t np = ol_model_nparams(m);
    double *ga = malloc((size_t)np * sizeof *ga);
    memcpy(ga, gdata(m), (size_t)np * sizeof *ga);
    double *p = pdata(m);
    const double h = 1e-6;
    for (int64_t i = 0; i < np; i++) {
        double v = p[i], lp, lm;
        p[i] = v + h;
        ol_model_forward(m, x, n, &err);
        ol_model_loss(m, OL_LOSS_PLAIN(k), t, &lp, &err);
        p[i] = v - h;
        ol_model_forward(m, x, n, &err);
        ol_model_loss(m, OL_LOSS_PLAIN(k), t, &lm, &err);
        p[i] = v;
        double fd = (lp - lm) / (2 * h);
        double e = fabs(fd - ga[i]) / fmax(1, fabs(fd));
        if (e > worst) worst = e;
    }
    free(ga);
    return worst;
}

static void randomise(ol_model *m, double scale) {
    double *p = pdata(m);
    for (int64_t i = 0; i < ol_model_nparams(m); i++) p[i] = scale * ol_rng_normal();
}

/* Random data and targets of every kind for an n x c output. */
typedef struct data {
    double x[64 * 8];
    int32_t ids[64];
    double dense[64 * 8], probs[64 * 8], bits[64 * 8];
} data;

static void make_data(data *d, int64_t n, int64_t in, int64_t c) {
    for (int64_t i = 0; i < n * in; i++) d->x[i] = ol_rng_normal();
    for (int64_t r = 0; r < n; r++) {
        d->ids[r] = (int32_t)ol_rng_below((uint64_t)c);
        double s = 0;
        for (int64_t j = 0; j < c; j++) s += d->probs[r * c + j] = ol_rng_uniform() + 0.1;
        for (int64_t j = 0; j < c; j++) {
            d->probs[r * c + j] /= s;
            d->dense[r * c + j] = ol_rng_normal();
            d->bits[r * c + j] = ol_rng_uniform() < 0.5;
        }
    }
}

static void check_all_losses(ol_model *m, data *d, int64_t n, const char *what) {
    ol_target t_ids = {d->ids, NULL}, t_probs = {NULL, d->probs};
    ol_target t_dense = {NULL, d->dense}, t_bits = {NULL, d->bits};
    struct { ol_loss_kind k; ol_target *t; const char *name; } cases[] = {
        {OL_LOSS_CROSS_ENTROPY, &t_ids, "ce ids"},
        {OL_LOSS_CROSS_ENTROPY, &t_probs, "ce probs"},
        {OL_LOSS_MSE, &t_dense, "mse"},
        {OL_LOSS_BCE, &t_bits, "bce"},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        double e = fd_error(m, d->x, n, cases[i].k, cases[i].t);
        if (e > 1e-6) fail_msg("%s, %s, batch %lld: gradient error %g", what, cases[i].name, (long long)n, e);
    }
}

static void test_gradients_activations(void **state) {
    (void)state;
    ol_error err;
    ol_rng_seed(11);
    data d;
    for (int a = OL_ACT_IDENTITY; a <= OL_ACT_GELU; a++) {
        double slope = a == OL_ACT_LEAKY_RELU ? 0.1 : 0;
        /* fused (linear + act), standalone (act after act, act first) */
        ol_layer_spec fused[] = {lin(3, 5), act((ol_act)a, slope), lin(5, 4)};
        ol_layer_spec alone[] = {act((ol_act)a, slope), lin(3, 5), act(OL_ACT_TANH, 0),
                                 act((ol_act)a, slope), lin(5, 4), act((ol_act)a, slope)};
        struct { ol_layer_spec *s; int n; const char *name; } nets[] = {{fused, 3, "fused"}, {alone, 6, "standalone"}};
        for (int k = 0; k < 2; k++) {
            ol_model *m = ol_model_new(nets[k].s, nets[k].n, OL_F64, &err);
            assert_non_null(m);
            randomise(m, 0.7);
            for (int64_t n = 1; n <= 7; n += 6) {
                make_data(&d, n, 3, 4);
                char what[64];
                snprintf(what, sizeof what, "%s %s", ol_act_name((ol_act)a), nets[k].name);
                check_all_losses(m, &d, n, what);
            }
            ol_model_free(m);
        }
    }
}

static void test_gradients_depth(void **state) {
    (void)state;
    ol_error err;
    ol_rng_seed(12);
    data d;
    int sizes[] = {4, 6, 5, 3, 3};
    for (int hidden = 1; hidden <= 3; hidden++) {
        ol_layer_spec s[8];
        int nl = 0;
        for (int h = 0; h <= hidden; h++) {
            int64_t out = h == hidden ? 3 : sizes[h + 1];
            s[nl++] = lin(sizes[h], out);
            if (h < hidden) s[nl++] = act(h % 2 ? OL_ACT_SIGMOID : OL_ACT_RELU, 0);
        }
        ol_model *m = ol_model_new(s, nl, OL_F64, &err);
        assert_non_null(m);
        randomise(m, 0.8);
        make_data(&d, 16, 4, 3);
        char what[32];
        snprintf(what, sizeof what, "%d hidden", hidden);
        check_all_losses(m, &d, 16, what);
        ol_model_free(m);
    }
}

/* backward(accumulate) adds; evaluate overwrites. */
static void test_accumulate(void **state) {
    (void)state;
    ol_error err;
    ol_rng_seed(3);
    ol_layer_spec s[] = {lin(3, 4), act(OL_ACT_TANH, 0), lin(4, 2)};
    for (int64_t n = 1; n <= 5; n += 4) {
        ol_model *m = ol_model_new(s, 3, OL_F64, &err);
        randomise(m, 1);
        data d;
        make_data(&d, n, 3, 2);
        ol_target t = {d.ids, NULL};
        double loss;
        assert_int_equal(ol_model_evaluate(m, d.x, n, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), &t, &loss, &err), 0);
        int64_t np = ol_model_nparams(m);
        double g1[64];
        memcpy(g1, gdata(m), (size_t)np * sizeof(double));
        assert_int_equal(ol_model_backward(m, 1, &err), 0);
        double *g = gdata(m);
        for (int64_t i = 0; i < np; i++) assert_true(fabs(g[i] - 2 * g1[i]) <= 1e-15 * fabs(g1[i]) + 1e-300);
        assert_int_equal(ol_model_evaluate(m, d.x, n, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), &t, &loss, &err), 0);
        for (int64_t i = 0; i < np; i++) assert_true(g[i] == g1[i]);
        ol_model_zero_grad(m);
        for (int64_t i = 0; i < np; i++) assert_true(g[i] == 0);
        ol_model_free(m);
    }
}

/* An f32 model computes what its f64 clone does, to f32 precision. */
static void test_f32_matches_f64(void **state) {
    (void)state;
    ol_error err;
    ol_rng_seed(5);
    ol_layer_spec s[] = {lin(8, 16), act(OL_ACT_GELU, 0), lin(16, 4)};
    ol_model *m64 = ol_model_new(s, 3, OL_F64, &err);
    randomise(m64, 0.5);
    ol_model *m32 = ol_model_clone(m64, OL_F32, &err);
    assert_non_null(m32);
    data d;
    make_data(&d, 32, 8, 4);
    float xf[32 * 8];
    for (int i = 0; i < 32 * 8; i++) xf[i] = (float)d.x[i];
    ol_target t = {d.ids, NULL};
    double l64, l32;
    assert_int_equal(ol_model_evaluate(m64, d.x, 32, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), &t, &l64, &err), 0);
    assert_int_equal(ol_model_evaluate(m32, xf, 32, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), &t, &l32, &err), 0);
    assert_true(fabs(l64 - l32) < 1e-5);
    const double *g64 = gdata(m64);
    const float *g32 = gdata(m32);
    for (int64_t i = 0; i < ol_model_nparams(m64); i++) assert_true(fabs(g64[i] - g32[i]) < 1e-5);
    ol_model_free(m32);
    ol_model_free(m64);
}

static void test_errors(void **state) {
    (void)state;
    ol_error err;
    ol_layer_spec bad[] = {lin(3, 4), act(OL_ACT_RELU, 0), lin(5, 2)};
    assert_null(ol_model_new(bad, 3, OL_F32, &err));
    assert_non_null(strstr(err.msg, "layer 3: linear expects 5 inputs but the layer before gives 4"));
    ol_layer_spec none[] = {act(OL_ACT_RELU, 0)};
    assert_null(ol_model_new(none, 1, OL_F32, &err));
    ol_layer_spec ok[] = {lin(2, 3)};
    ol_model *m = ol_model_new(ok, 1, OL_F64, &err);
    double x[] = {1, 2}, loss;
    int32_t ids[] = {3};
    ol_target t = {ids, NULL};
    assert_int_equal(ol_model_backward(m, 0, &err), -1);
    assert_int_equal(ol_model_forward(m, x, 1, &err), 0);
    assert_int_equal(ol_model_loss(m, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), &t, &loss, &err), -1);
    assert_non_null(strstr(err.msg, "class id 3 out of range"));
    assert_int_equal(ol_model_loss(m, OL_LOSS_PLAIN(OL_LOSS_MSE), &t, &loss, &err), -1);
    assert_int_equal(ol_model_forward(m, x, 0, &err), -1);
    ol_model_free(m);
}

/* The parameter table: weight (out x in) then bias, offsets contiguous. */
static void test_param_layout(void **state) {
    (void)state;
    ol_error err;
    ol_layer_spec s[] = {lin(784, 256), act(OL_ACT_RELU, 0), lin(256, 128), act(OL_ACT_RELU, 0), lin(128, 10)};
    ol_model *m = ol_model_new(s, 5, OL_F32, &err);
    assert_int_equal(ol_model_nparams(m), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
    assert_int_equal(ol_model_nparam_tensors(m), 6);
    int64_t off = 0;
    int layers[] = {0, 0, 2, 2, 4, 4};
    for (int k = 0; k < 6; k++) {
        ol_param_info pi;
        ol_model_param_info(m, k, &pi);
        assert_int_equal(pi.offset, off);
        assert_int_equal(pi.layer, layers[k]);
        assert_int_equal(pi.ndim, k % 2 ? 1 : 2);
        off += pi.numel;
        ol_tensor v;
        ol_model_param_view(m, k, 1, &v);
        assert_int_equal(ol_tensor_numel(&v), pi.numel);
        assert_ptr_equal(ol_tensor_data(&v), (char *)gdata(m) + pi.offset * 4);
        ol_tensor_release(&v);
    }
    ol_param_info w0;
    ol_model_param_info(m, 0, &w0);
    assert_int_equal(w0.shape[0], 256);
    assert_int_equal(w0.shape[1], 784);
    assert_int_equal(off, ol_model_nparams(m));
    ol_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_by_hand),
        cmocka_unit_test(test_loss_values),
        cmocka_unit_test(test_gradients_activations),
        cmocka_unit_test(test_gradients_depth),
        cmocka_unit_test(test_accumulate),
        cmocka_unit_test(test_f32_matches_f64),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_param_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
