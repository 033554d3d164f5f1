/* Initialisers: gains equal torch.nn.init.calculate_gain's values, and
 * 100k draws of each scheme have the bounds, mean and variance of the
 * published rule (torch.nn.init; Glorot 2010; He 2015; Saxe 2014). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/nn.h"
#include "core/rng.h"

static void test_gain(void **state) {
    (void)state;
    ol_error err;
    double g;
    struct { const char *nl; double param, want; } cases[] = {
        {"linear", NAN, 1}, {"conv2d", NAN, 1}, {"sigmoid", NAN, 1},
        {"tanh", NAN, 5.0 / 3}, {"relu", NAN, 1.4142135623730951},
        {"leaky_relu", NAN, 1.4141428569978354}, /* sqrt(2 / 1.0001) */
        {"leaky_relu", 0.2, 1.3867504905630728}, /* sqrt(2 / 1.04) */
        {"leaky_relu", 0, 1.4142135623730951}, {"selu", NAN, 0.75}};
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(ol_init_gain(cases[i].nl, cases[i].param, &g, &err), 0);
        assert_true(fabs(g - cases[i].want) < 1e-15);
    }
    assert_int_equal(ol_init_gain("swish", NAN, &g, &err), -1);
    assert_non_null(strstr(err.msg, "unsupported nonlinearity 'swish'"));
}

typedef struct stats { double min, max, mean, var, within1; } stats;

static stats stats_of(const ol_tensor *t, double sd) {
    int64_t n = ol_tensor_numel(t);
    stats s = {INFINITY, -INFINITY, 0, 0, 0};
    for (int64_t i = 0; i < n; i++) {
        double v = t->dtype == OL_F32 ? ((float *)ol_tensor_data(t))[i] : ((double *)ol_tensor_data(t))[i];
        s.min = fmin(s.min, v);
        s.max = fmax(s.max, v);
        s.mean += v;
        s.var += v * v;
        s.within1 += fabs(v) <= sd;
    }
    s.mean /= (double)n;
    s.var = s.var / (double)n - s.mean * s.mean;
    s.within1 /= (double)n;
    return s;
}

/* 250 x 400: fan_in 400, fan_out 250, 100k draws. */
static void check_uniform(const ol_tensor *t, double bound, const char *what) {
    stats s = stats_of(t, bound);
    double sd = bound / sqrt(3);
    if (s.min < -bound || s.max > bound || s.max < 0.999 * bound || s.min > -0.999 * bound ||
        fabs(s.mean) > 5 * sd / sqrt(1e5) || fabs(s.var / (sd * sd) - 1) > 0.02)
        fail_msg("%s: min %g max %g mean %g var %g, want bound %g var %g", what, s.min, s.max, s.mean,
                 s.var, bound, sd * sd);
}

static void check_normal(const ol_tensor *t, double sd, const char *what) {
    stats s = stats_of(t, sd);
    if (fabs(s.mean) > 5 * sd / sqrt(1e5) || fabs(s.var / (sd * sd) - 1) > 0.03 ||
        fabs(s.within1 - 0.6826894921370859) > 0.01)
        fail_msg("%s: mean %g var %g within-1sd %g, want var %g", what, s.mean, s.var, s.within1, sd * sd);
}

static void test_schemes(void **state) {
    (void)state;
    ol_error err;
    ol_rng_seed(7);
    const double fi = 400, fo = 250;
    for (int dt = 0; dt < 2; dt++) {
        ol_tensor t;
        int64_t shape[] = {250, 400};
        assert_int_equal(ol_tensor_zeros(&t, (ol_dtype)dt, 2, shape, &err), 0);
        assert_int_equal(ol_init_xavier_uniform(&t, 2.0, &err), 0);
        check_uniform(&t, 2.0 * sqrt(6 / (fi + fo)), "xavier_uniform");
        assert_int_equal(ol_init_xavier_normal(&t, 0.5, &err), 0);
        check_normal(&t, 0.5 * sqrt(2 / (fi + fo)), "xavier_normal");
        assert_int_equal(ol_init_fan_in_uniform(&t, 3.0, &err), 0);
        check_uniform(&t, 3.0 / sqrt(fi), "fan_in_uniform");
        assert_int_equal(ol_init_kaiming_uniform(&t, 0, 0, "relu", &err), 0);
        check_uniform(&t, sqrt(3) * sqrt(2) / sqrt(fi), "kaiming_uniform relu fan_in");
        assert_int_equal(ol_init_kaiming_uniform(&t, 0.2, 1, "leaky_relu", &err), 0);
        check_uniform(&t, sqrt(3) * sqrt(2 / 1.04) / sqrt(fo), "kaiming_uniform leaky fan_out");
        assert_int_equal(ol_init_kaiming_normal(&t, 0, 0, "leaky_relu", &err), 0);
        check_normal(&t, sqrt(2) / sqrt(fi), "kaiming_normal");
        assert_int_equal(ol_init_kaiming_normal(&t, 0, 1, "tanh", &err), 0);
        check_normal(&t, 5.0 / 3 / sqrt(fo), "kaiming_normal tanh fan_out");
        ol_tensor_release(&t);
    }
    ol_tensor v;
    int64_t one[] = {10};
    assert_int_equal(ol_tensor_zeros(&v, OL_F32, 1, one, &err), 0);
    assert_int_equal(ol_init_xavier_uniform(&v, 1, &err), -1);
    assert_non_null(strstr(err.msg, "2 or more dimensions"));
    ol_tensor_release(&v);
}

/* W W^T = gain^2 I when rows <= cols, W^T W = gain^2 I otherwise. */
static void test_orthogonal(void **state) {
    (void)state;
    ol_error err;
    ol_rng_seed(9);
    int64_t shapes[][2] = {{6, 10}, {10, 6}, {7, 7}};
    for (int k = 0; k < 3; k++) {
        ol_tensor t;
        assert_int_equal(ol_tensor_zeros(&t, OL_F64, 2, shapes[k], &err), 0);
        assert_int_equal(ol_init_orthogonal(&t, 1.5, &err), 0);
        const double *w = ol_tensor_data(&t);
        int64_t r = shapes[k][0], c = shapes[k][1];
        int rows_dot = r <= c;
        int64_t nv = rows_dot ? r : c, len = rows_dot ? c : r;
        for (int64_t i = 0; i < nv; i++)
            for (int64_t j = 0; j < nv; j++) {
                double s = 0;
                for (int64_t l = 0; l < len; l++)
                    s += rows_dot ? w[i * c + l] * w[j * c + l] : w[l * c + i] * w[l * c + j];
                assert_true(fabs(s - (i == j ? 2.25 : 0)) < 1e-12);
            }
        ol_tensor_release(&t);
    }
}

/* Model init: weights drawn, biases zero, no two hidden units identical,
 * and the same seed gives the same weights. */
static void test_model_init(void **state) {
    (void)state;
    ol_error err;
    ol_layer_spec s[] = {{.kind = OL_LAYER_LINEAR, .in = 5, .out = 32},
                         {.kind = OL_LAYER_ACT, .act = OL_ACT_RELU},
                         {.kind = OL_LAYER_LINEAR, .in = 32, .out = 3}};
    for (int scheme = OL_INIT_XAVIER_UNIFORM; scheme <= OL_INIT_ORTHOGONAL; scheme++) {
        ol_model *m = ol_model_new(s, 3, OL_F32, &err), *m2 = ol_model_new(s, 3, OL_F32, &err);
        ol_tensor p, p2;
        ol_model_params(m, &p);
        ol_model_params(m2, &p2);
        ol_fill_(&p, 1); /* biases must be reset, not left over */
        ol_rng_seed(42);
        assert_int_equal(ol_model_init(m, (ol_init_scheme)scheme, 1, 0, "relu", &err), 0);
        ol_rng_seed(42);
        assert_int_equal(ol_model_init(m2, (ol_init_scheme)scheme, 1, 0, "relu", &err), 0);
        const float *w = ol_tensor_data(&p);
        assert_memory_equal(w, ol_tensor_data(&p2), (size_t)ol_model_nparams(m) * sizeof(float));
        for (int i = 0; i < 32; i++) {
            assert_true(w[5 * 32 + i] == 0.0f); /* bias of layer 1 */
            for (int j = 0; j < i; j++)
                assert_memory_not_equal(w + i * 5, w + j * 5, 5 * sizeof(float));
        }
        ol_tensor_release(&p);
        ol_tensor_release(&p2);
        ol_model_free(m);
        ol_model_free(m2);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gain),
        cmocka_unit_test(test_schemes),
        cmocka_unit_test(test_orthogonal),
        cmocka_unit_test(test_model_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
