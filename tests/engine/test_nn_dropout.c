/* Dropout in the engine (engine/nn/dropout.c): the mask follows the
 * documented counter-based rule (recomputed here from the rule's text:
 * key = the RNG's next draw, element e dropped when the top 53 bits of
 * splitmix64(key + (e + 1) * golden) as a fraction are below p), is the
 * same on 1 and 2 threads, and survivors are x / (1 - p) rounded once to
 * the element type; evaluation mode copies and draws nothing; p outside
 * [0, 1) is refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/parallel.h"
#include "core/rng.h"
#include "core/threads.h"
#include "nn/nn.h"

/* The rule's draw for element e. */
static uint64_t rule_draw(uint64_t key, uint64_t e) {
    uint64_t z = key + (e + 1) * 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* linear(in, w) with weights 1 / (k + 1) on input k, bias 0, then
 * dropout(p): the dropout layer's input is known exactly. */
static ol_model *net(ol_dtype dt, int64_t in, int64_t w, double p) {
    ol_error err;
    ol_layer_spec s[] = {{.kind = OL_LAYER_LINEAR, .in = in, .out = w},
                         {.kind = OL_LAYER_DROPOUT, .p = p}};
    ol_model *m = ol_model_new(s, 2, dt, &err);
    assert_non_null(m);
    ol_tensor pt;
    ol_model_params(m, &pt);
    for (int64_t j = 0; j < w; j++)
        for (int64_t k = 0; k < in; k++) {
            if (dt == OL_F32) ((float *)ol_tensor_data(&pt))[j * in + k] = (float)(j % 7 + 1);
            else ((double *)ol_tensor_data(&pt))[j * in + k] = (double)(j % 7 + 1);
        }
    ol_tensor_release(&pt);
    return m;
}

static double at(ol_dtype dt, const void *p, int64_t i) {
    return dt == OL_F32 ? ((const float *)p)[i] : ((const double *)p)[i];
}

/* n rows of ones: the dropout layer's input is then (j % 7 + 1) * in. */
static void check_rule(ol_dtype dt, int threads, double p) {
    const int64_t n = 96, in = 2, w = 700; /* 67200 elements: cut over 2 threads */
    ol_set_threads(threads);
    ol_model *m = net(dt, in, w, p);
    void *x = calloc((size_t)(n * in), ol_dtype_size(dt));
    assert_non_null(x);
    for (int64_t i = 0; i < n * in; i++) {
        if (dt == OL_F32) ((float *)x)[i] = 1;
        else ((double *)x)[i] = 1;
    }
    ol_rng_seed(1234);
    ol_rng_state st;
    ol_rng_get_state(&st);
    const uint64_t key = ol_rng_next();
    ol_rng_set_state(&st);
    ol_error err;
    assert_int_equal(ol_model_forward(m, x, n, &err), 0);
    const uint8_t *mask = ol_model_dropout_mask(m, 1);
    assert_non_null(mask);
    assert_null(ol_model_dropout_mask(m, 0));
    int64_t out_n;
    const void *y = ol_model_output(m, &out_n);
    assert_int_equal(out_n, n);
    const double scale = dt == OL_F32 ? (double)(float)(1.0 / (1.0 - p)) : 1.0 / (1.0 - p);
    int64_t dropped = 0;
    for (int64_t e = 0; e < n * w; e++) {
        const int drop = (double)(rule_draw(key, (uint64_t)e) >> 11) * 0x1p-53 < p;
        dropped += drop;
        if (mask[e] != !drop) fail_msg("element %lld: mask %d, rule %d", (long long)e, mask[e], !drop);
        const double in_e = (double)((e % w) % 7 + 1) * (double)in;
        const double want = drop ? 0 : (dt == OL_F32 ? (double)((float)in_e * (float)scale)
                                                     : in_e * scale);
        if (at(dt, y, e) != want)
            fail_msg("element %lld: %.17g, want %.17g", (long long)e, at(dt, y, e), want);
    }
    /* the share dropped: within 5 standard deviations of p */
    const double total = (double)(n * w), share = (double)dropped / total;
    assert_true(fabs(share - p) < 5 * sqrt(p * (1 - p) / total) + 1e-12);
    /* evaluation mode: a copy, no mask, nothing drawn */
    ol_model_set_training(m, 0);
    assert_int_equal(ol_model_training(m), 0);
    ol_rng_seed(99);
    assert_int_equal(ol_model_forward(m, x, n, &err), 0);
    const uint64_t next = ol_rng_next();
    ol_rng_seed(99);
    assert_true(next == ol_rng_next());
    assert_null(ol_model_dropout_mask(m, 1));
    y = ol_model_output(m, &out_n);
    for (int64_t e = 0; e < n * w; e++)
        assert_true(at(dt, y, e) == (double)((e % w) % 7 + 1) * (double)in);
    free(x);
    ol_model_free(m);
    ol_set_threads(1);
}

static void test_mask_follows_the_rule(void **state) {
    (void)state;
    const double ps[] = {0.1, 0.5, 1.0 / 3, 0.9};
    for (int i = 0; i < 4; i++)
        for (int th = 1; th <= 2; th++) {
            check_rule(OL_F32, th, ps[i]);
            check_rule(OL_F64, th, ps[i]);
        }
    ol_parallel_shutdown();
}

static void test_one_draw_per_layer(void **state) {
    (void)state;
    ol_model *m = net(OL_F64, 2, 8, 0.5);
    double x[4] = {1, 2, 3, 4};
    ol_error err;
    ol_rng_seed(5);
    assert_int_equal(ol_model_forward(m, x, 2, &err), 0);
    const uint64_t after = ol_rng_next();
    ol_rng_seed(5);
    ol_rng_next();
    assert_true(after == ol_rng_next());
    ol_model_free(m);
    /* p = 0 draws nothing and keeps everything */
    m = net(OL_F64, 2, 8, 0);
    ol_rng_seed(5);
    assert_int_equal(ol_model_forward(m, x, 2, &err), 0);
    const uint64_t next = ol_rng_next();
    ol_rng_seed(5);
    assert_true(next == ol_rng_next());
    assert_null(ol_model_dropout_mask(m, 1));
    ol_model_free(m);
}

static void test_bad_p(void **state) {
    (void)state;
    const double bad[] = {1, -0.1, 1.5, NAN, INFINITY};
    for (int i = 0; i < 5; i++) {
        ol_error err;
        ol_layer_spec s[] = {{.kind = OL_LAYER_LINEAR, .in = 2, .out = 2},
                             {.kind = OL_LAYER_DROPOUT, .p = bad[i]}};
        assert_null(ol_model_new(s, 2, OL_F32, &err));
        assert_non_null(strstr(err.msg, "layer 2: dropout p must be in [0, 1)"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_follows_the_rule),
        cmocka_unit_test(test_one_draw_per_layer),
        cmocka_unit_test(test_bad_p),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
