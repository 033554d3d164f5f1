/* Points of a span of parameter vectors (nn.h: ol_model_span_products,
 * ol_model_span_forward), the loss landscapes' fast path.
 *
 * What is asserted:
 *  - An MLP linear -> tanh -> linear (the first activation fused) at
 *    w = k0 v0 + k1 v1 + k2 v2 gives, in f64, the output of a reference
 *    forward pass written out here in double (the point's weights summed
 *    by hand, tanh, the products as loops), to 1e-12, for several k,
 *    including the centre (1, 0, 0), with v1, v2 or both absent.
 *  - In f32 the same within f32 rounding (1e-5 relative).
 *  - A first linear layer followed by layer_norm (not fused) and a
 *    batch_norm in evaluation mode: the output equals ol_model_forward's
 *    with the parameters set to the point by hand (to 1e-12).
 *  - The parameters after the first weight are the point's, the first
 *    weight is untouched.
 *  - A model whose first layer is an activation is refused. */
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

static double uniform(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (double)((*seed >> 9) % 2001) / 1000.0 - 1.0;
}

static void fill(double *p, int64_t k, unsigned seed) {
    for (int64_t i = 0; i < k; i++) p[i] = uniform(&seed);
}

static const double POINTS[][3] = {{1, 0, 0}, {1, 0.5, -0.25}, {1, -1.5, 2}, {0.25, 0.75, 0}};
#define NPOINTS (int)(sizeof POINTS / sizeof POINTS[0])

/* in -> h (tanh) -> out */
enum { N = 37, IN = 5, H = 7, OUT = 3 };
#define NP (H * IN + H + OUT * H + OUT)

/* The reference output at point k, in double. */
static void reference(const double *x, const double *const v[3], const double *k, double *y) {
    double w[NP];
    for (int j = 0; j < NP; j++) {
        w[j] = 0;
        for (int i = 0; i < 3; i++)
            if (v[i]) w[j] += k[i] * v[i][j];
    }
    const double *w1 = w, *b1 = w + H * IN, *w2 = b1 + H, *b2 = w2 + OUT * H;
    for (int r = 0; r < N; r++) {
        double h[H];
        for (int o = 0; o < H; o++) {
            double s = b1[o];
            for (int c = 0; c < IN; c++) s += x[r * IN + c] * w1[o * IN + c];
            h[o] = tanh(s);
        }
        for (int o = 0; o < OUT; o++) {
            double s = b2[o];
            for (int c = 0; c < H; c++) s += h[c] * w2[o * H + c];
            y[r * OUT + o] = s;
        }
    }
}

static ol_model *mlp(ol_dtype dt) {
    ol_layer_spec specs[3] = {{.kind = OL_LAYER_LINEAR, .in = IN, .out = H},
                              {.kind = OL_LAYER_ACT, .act = OL_ACT_TANH},
                              {.kind = OL_LAYER_LINEAR, .in = H, .out = OUT}};
    ol_error err;
    ol_model *m = ol_model_new(specs, 3, dt, &err);
    assert_non_null(m);
    ol_model_set_training(m, 0);
    return m;
}

static void check_mlp(ol_dtype dt) {
    double x[N * IN], v0[NP], v1[NP], v2[NP], want[N * OUT];
    fill(x, N * IN, 1);
    fill(v0, NP, 2);
    fill(v1, NP, 3);
    fill(v2, NP, 4);
    ol_model *m = mlp(dt);
    assert_int_equal(ol_model_nparams(m), NP);
    assert_true(ol_model_span_ok(m));
    const size_t es = dt == OL_F32 ? sizeof(float) : sizeof(double);
    /* the inputs in the model's dtype */
    void *xt = malloc(N * IN * es), *vt[3] = {malloc(NP * es), malloc(NP * es), malloc(NP * es)};
    const double *vd[3] = {v0, v1, v2};
    for (int i = 0; i < N * IN; i++) {
        if (dt == OL_F32) ((float *)xt)[i] = (float)x[i];
        else ((double *)xt)[i] = x[i];
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < NP; j++) {
            if (dt == OL_F32) ((float *)vt[i])[j] = (float)vd[i][j];
            else ((double *)vt[i])[j] = vd[i][j];
        }
    double xr[N * IN], vr[3][NP]; /* what the model sees, as doubles */
    for (int i = 0; i < N * IN; i++) xr[i] = dt == OL_F32 ? (double)((float *)xt)[i] : x[i];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < NP; j++) vr[i][j] = dt == OL_F32 ? (double)((float *)vt[i])[j] : vd[i][j];
    ol_tensor p;
    ol_model_params(m, &p);
    char *params = ol_tensor_data(&p);
    memset(params, 0, NP * es);
    void *q = malloc((size_t)ol_model_span_size(m, N) * es);
    ol_error err;
    /* v1 and v2 given; v2 absent; both absent; v1 absent */
    static const int given[4][2] = {{1, 1}, {1, 0}, {0, 0}, {0, 1}};
    for (int absent = 0; absent < 4; absent++) {
        const void *v[3] = {vt[0], given[absent][0] ? vt[1] : NULL, given[absent][1] ? vt[2] : NULL};
        const double *vref[3] = {vr[0], v[1] ? vr[1] : NULL, v[2] ? vr[2] : NULL};
        assert_int_equal(ol_model_span_products(m, xt, N, v, q, &err), 0);
        for (int k = 0; k < NPOINTS; k++) {
            assert_int_equal(ol_model_span_forward(m, xt, N, v, q, POINTS[k], &err), 0);
            reference(xr, vref, POINTS[k], want);
            int64_t n;
            const void *y = ol_model_output(m, &n);
            assert_int_equal(n, N);
            double worst = 0;
            for (int i = 0; i < N * OUT; i++) {
                const double got = dt == OL_F32 ? (double)((const float *)y)[i] : ((const double *)y)[i];
                const double e = fabs(got - want[i]) / (1 + fabs(want[i]));
                if (e > worst) worst = e;
            }
            if (worst > (dt == OL_F32 ? 1e-5 : 1e-12))
                fail_msg("%s point %d (absent %d): worst relative error %g", dt == OL_F32 ? "f32" : "f64",
                         k, absent, worst);
            /* the parameters past the first weight are the point's, the first weight untouched */
            for (int j = 0; j < NP; j++) {
                const double got = dt == OL_F32 ? (double)((float *)params)[j] : ((double *)params)[j];
                double at = 0;
                for (int i = 0; i < 3; i++)
                    if (vref[i]) at += POINTS[k][i] * vref[i][j];
                if (j < H * IN) assert_true(got == 0);
                else assert_true(fabs(got - at) <= (dt == OL_F32 ? 1e-6 : 1e-15) * (1 + fabs(at)));
            }
        }
    }
    ol_tensor_release(&p);
    free(q);
    free(xt);
    for (int i = 0; i < 3; i++) free(vt[i]);
    ol_model_free(m);
}

static void test_mlp_f64(void **state) {
    (void)state;
    check_mlp(OL_F64);
}

static void test_mlp_f32(void **state) {
    (void)state;
    check_mlp(OL_F32);
}

/* linear -> layer_norm -> relu -> linear -> batch_norm (evaluation mode):
 * span_forward against ol_model_forward at the point set by hand. */
static void test_unfused_norms(void **state) {
    (void)state;
    ol_layer_spec specs[5] = {
        {.kind = OL_LAYER_LINEAR, .in = IN, .out = H},
        {.kind = OL_LAYER_LAYER_NORM, .in = H, .out = H, .eps = 1e-5, .affine = 1},
        {.kind = OL_LAYER_ACT, .act = OL_ACT_RELU},
        {.kind = OL_LAYER_LINEAR, .in = H, .out = OUT},
        {.kind = OL_LAYER_BATCH_NORM, .in = OUT, .out = OUT, .eps = 1e-5, .momentum = 0.1, .affine = 1}};
    ol_error err;
    ol_model *m = ol_model_new(specs, 5, OL_F64, &err);
    assert_non_null(m);
    ol_model_set_training(m, 0);
    const int64_t np = ol_model_nparams(m);
    double x[N * IN], *v0 = malloc(np * sizeof(double)), *v1 = malloc(np * sizeof(double)),
                      *v2 = malloc(np * sizeof(double)), want[N * OUT];
    fill(x, N * IN, 5);
    fill(v0, np, 6);
    fill(v1, np, 7);
    fill(v2, np, 8);
    const void *v[3] = {v0, v1, v2};
    ol_tensor p;
    ol_model_params(m, &p);
    double *params = ol_tensor_data(&p);
    double *q = malloc((size_t)ol_model_span_size(m, N) * sizeof(double));
    assert_int_equal(ol_model_span_products(m, x, N, v, q, &err), 0);
    for (int k = 0; k < NPOINTS; k++) {
        for (int64_t j = 0; j < np; j++)
            params[j] = POINTS[k][0] * v0[j] + POINTS[k][1] * v1[j] + POINTS[k][2] * v2[j];
        assert_int_equal(ol_model_forward(m, x, N, &err), 0);
        memcpy(want, ol_model_output(m, NULL), sizeof want);
        assert_int_equal(ol_model_span_forward(m, x, N, v, q, POINTS[k], &err), 0);
        const double *y = ol_model_output(m, NULL);
        for (int i = 0; i < N * OUT; i++) assert_true(fabs(y[i] - want[i]) <= 1e-12 * (1 + fabs(want[i])));
    }
    ol_tensor_release(&p);
    free(q);
    free(v0);
    free(v1);
    free(v2);
    ol_model_free(m);
}

static void test_first_layer_not_linear(void **state) {
    (void)state;
    ol_layer_spec specs[2] = {{.kind = OL_LAYER_ACT, .act = OL_ACT_TANH},
                              {.kind = OL_LAYER_LINEAR, .in = IN, .out = OUT}};
    ol_error err;
    ol_model *m = ol_model_new(specs, 2, OL_F64, &err);
    assert_non_null(m);
    assert_false(ol_model_span_ok(m));
    double x[IN] = {0}, v0[IN * OUT + OUT] = {0}, q[3 * OUT];
    const void *v[3] = {v0, NULL, NULL};
    assert_int_equal(ol_model_span_products(m, x, 1, v, q, &err), -1);
    assert_non_null(strstr(err.msg, "first layer is not linear"));
    assert_int_equal(ol_model_span_forward(m, x, 1, v, q, POINTS[0], &err), -1);
    ol_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_f64), cmocka_unit_test(test_mlp_f32),
        cmocka_unit_test(test_unfused_norms), cmocka_unit_test(test_first_layer_not_linear)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
