/* Weight averages in the engine alone (optim/average.h), as a C program
 * that trains would use them.
 *
 * The rules against loops written here in double: ema with and without
 * warm-up, swa with start and every; the same bits on one thread and on
 * two (a buffer long enough to be cut); swap twice is the identity; the
 * average's part of a checkpoint read back as written; and what a file
 * may get wrong (kind, counts, options, the tensor missing, shaped or
 * non-finite), each refused with a message that says so, and an average
 * of another kind or size refused by the fit check. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/rng.h"
#include "core/threads.h"
#include "io/checkpoint.h"
#include "optim/average.h"

#define N 7
#define STEPS 9

static ol_tensor vec(const double *v, int64_t n, ol_dtype dt) {
    ol_tensor t;
    ol_error err;
    assert_int_equal(ol_tensor_zeros(&t, dt, 1, &n, &err), 0);
    for (int64_t i = 0; i < n; i++) {
        if (dt == OL_F64) ((double *)ol_tensor_data(&t))[i] = v[i];
        else ((float *)ol_tensor_data(&t))[i] = (float)v[i];
    }
    return t;
}

static double at(const ol_tensor *t, int64_t i) {
    return t->dtype == OL_F64 ? ((const double *)ol_tensor_data(t))[i] : ((const float *)ol_tensor_data(t))[i];
}

static void set(ol_tensor *t, int64_t i, double v) {
    if (t->dtype == OL_F64) ((double *)ol_tensor_data(t))[i] = v;
    else ((float *)ol_tensor_data(t))[i] = (float)v;
}

static double seq[STEPS][N], w0[N];

static int setup(void **state) {
    (void)state;
    ol_rng_seed(99);
    for (int i = 0; i < N; i++) w0[i] = ol_rng_normal();
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++) seq[s][i] = ol_rng_normal();
    return 0;
}

/* The value x takes in the tensor's type. */
static double rounded(ol_dtype dt, double x) {
    return dt == OL_F32 ? (double)(float)x : x;
}

static void test_ema(void **state) {
    (void)state;
    for (int dt = 0; dt < 2; dt++)
        for (int warmup = 0; warmup < 2; warmup++) {
            const ol_dtype d = (ol_dtype)dt;
            const double tol = d == OL_F64 ? 1e-14 : 2e-6, decay = 0.75;
            ol_tensor w = vec(w0, N, d);
            ol_average a;
            ol_error err;
            assert_int_equal(ol_average_init_ema(&a, &w, decay, warmup, &err), 0);
            double e[N];
            for (int i = 0; i < N; i++) e[i] = rounded(d, w0[i]);
            for (int s = 0; s < STEPS; s++) {
                for (int i = 0; i < N; i++) set(&w, i, seq[s][i]);
                const double dd = warmup ? fmin(decay, (1.0 + s) / (10.0 + s)) : decay;
                assert_true(ol_average_next_decay(&a) == dd);
                ol_average_update(&a);
                for (int i = 0; i < N; i++) e[i] = dd * e[i] + (1 - dd) * rounded(d, seq[s][i]);
            }
            assert_int_equal(a.t, STEPS);
            for (int i = 0; i < N; i++) assert_true(fabs(at(&a.e, i) - e[i]) <= tol);
            ol_average_free(&a);
            ol_tensor_release(&w);
        }
}

static void test_swa(void **state) {
    (void)state;
    const int64_t cases[][2] = {{3, 2}, {1, 1}, {0, 4}};
    for (int dt = 0; dt < 2; dt++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            const ol_dtype d = (ol_dtype)dt;
            const double tol = d == OL_F64 ? 1e-14 : 2e-6;
            const int64_t start = cases[c][0], every = cases[c][1];
            ol_tensor w = vec(w0, N, d);
            ol_average a;
            ol_error err;
            assert_int_equal(ol_average_init_swa(&a, &w, start, every, &err), 0);
            double sum[N];
            int64_t n = 0;
            for (int i = 0; i < N; i++) sum[i] = start == 0 ? rounded(d, w0[i]) : 0;
            n = start == 0;
            for (int s = 0; s < STEPS; s++) {
                const int64_t t = s + 1;
                for (int i = 0; i < N; i++) set(&w, i, seq[s][i]);
                ol_average_update(&a);
                if (t >= start && (t - start) % every == 0) {
                    for (int i = 0; i < N; i++) sum[i] += rounded(d, seq[s][i]);
                    n++;
                }
                assert_int_equal(a.n, n);
            }
            for (int i = 0; i < N; i++) assert_true(fabs(at(&a.e, i) - sum[i] / (double)n) <= tol);
            ol_average_free(&a);
            ol_tensor_release(&w);
        }
}

/* 100003 elements: cut into parts on two threads. */
static void run_long(int threads, ol_tensor *e_out, ol_tensor *w_out) {
    ol_set_threads(threads);
    const int64_t n = 100003;
    ol_error err;
    ol_tensor w;
    assert_int_equal(ol_tensor_zeros(&w, OL_F32, 1, &n, &err), 0);
    ol_rng_seed(5);
    for (int64_t i = 0; i < n; i++) set(&w, i, ol_rng_normal());
    ol_average ema, swa;
    assert_int_equal(ol_average_init_ema(&ema, &w, 0.9, 1, &err), 0);
    assert_int_equal(ol_average_init_swa(&swa, &w, 0, 1, &err), 0);
    for (int s = 0; s < 3; s++) {
        for (int64_t i = 0; i < n; i++) set(&w, i, ol_rng_normal());
        ol_average_update(&ema);
        ol_average_update(&swa);
    }
    ol_average_swap(&swa);
    /* e_out: the ema, then the swa's; w_out: w after the swap */
    int64_t n2 = 2 * n;
    assert_int_equal(ol_tensor_zeros(e_out, OL_F32, 1, &n2, &err), 0);
    memcpy(ol_tensor_data(e_out), ol_tensor_data(&ema.e), (size_t)n * sizeof(float));
    memcpy((float *)ol_tensor_data(e_out) + n, ol_tensor_data(&swa.e), (size_t)n * sizeof(float));
    assert_int_equal(ol_tensor_clone(&w, w_out, &err), 0);
    ol_average_free(&ema);
    ol_average_free(&swa);
    ol_tensor_release(&w);
}

static void test_threads(void **state) {
    (void)state;
    const int saved = ol_get_threads();
    ol_tensor e1, w1, e2, w2;
    run_long(1, &e1, &w1);
    run_long(2, &e2, &w2);
    ol_set_threads(saved);
    assert_memory_equal(ol_tensor_data(&e1), ol_tensor_data(&e2), (size_t)ol_tensor_numel(&e1) * sizeof(float));
    assert_memory_equal(ol_tensor_data(&w1), ol_tensor_data(&w2), (size_t)ol_tensor_numel(&w1) * sizeof(float));
    ol_tensor_release(&e1);
    ol_tensor_release(&w1);
    ol_tensor_release(&e2);
    ol_tensor_release(&w2);
}

static void test_swap(void **state) {
    (void)state;
    ol_tensor w = vec(w0, N, OL_F64);
    ol_average a;
    ol_error err;
    assert_int_equal(ol_average_init_ema(&a, &w, 0.5, 0, &err), 0);
    for (int i = 0; i < N; i++) set(&w, i, seq[0][i]);
    ol_average_update(&a);
    double wb[N], eb[N];
    memcpy(wb, ol_tensor_data(&w), sizeof wb);
    memcpy(eb, ol_tensor_data(&a.e), sizeof eb);
    ol_average_swap(&a);
    assert_memory_equal(ol_tensor_data(&w), eb, sizeof eb);
    assert_memory_equal(ol_tensor_data(&a.e), wb, sizeof wb);
    ol_average_swap(&a);
    assert_memory_equal(ol_tensor_data(&w), wb, sizeof wb);
    assert_memory_equal(ol_tensor_data(&a.e), eb, sizeof eb);
    /* copy_to: the average exactly, or a clear refusal */
    ol_tensor dst;
    int64_t n = N, n1 = N + 1;
    assert_int_equal(ol_tensor_zeros(&dst, OL_F64, 1, &n, &err), 0);
    assert_int_equal(ol_average_copy_to(&a, &dst, &err), 0);
    assert_memory_equal(ol_tensor_data(&dst), eb, sizeof eb);
    ol_tensor_release(&dst);
    assert_int_equal(ol_tensor_zeros(&dst, OL_F64, 1, &n1, &err), 0);
    assert_int_equal(ol_average_copy_to(&a, &dst, &err), -1);
    assert_non_null(strstr(err.msg, "the average has 7 weights, the destination 8"));
    ol_tensor_release(&dst);
    ol_average_free(&a);
    ol_tensor_release(&w);
}

/* An swa of N f64 weights after a few updates, exported into ck. */
static void saved_swa(ol_checkpoint *ck, ol_average *a, ol_tensor *w) {
    ol_error err;
    *w = vec(w0, N, OL_F64);
    assert_int_equal(ol_average_init_swa(a, w, 2, 3, &err), 0);
    for (int s = 0; s < 6; s++) {
        for (int i = 0; i < N; i++) set(w, i, seq[s][i]);
        ol_average_update(a);
    }
    ol_ck_init(ck);
    assert_int_equal(ol_average_export(a, ck, &err), 0);
}

static void test_checkpoint(void **state) {
    (void)state;
    ol_checkpoint ck;
    ol_average a, b;
    ol_tensor w, wb;
    ol_error err;
    saved_swa(&ck, &a, &w);
    ol_average_saved s;
    assert_int_equal(ol_average_read(&ck, &s, &err), 0);
    assert_int_equal(s.kind, OL_AVERAGE_SWA);
    assert_int_equal(s.t, 6);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.start, 2);
    assert_int_equal(s.every, 3);
    /* into a fresh average of the same kind and size: the same state */
    wb = vec(w0, N, OL_F64);
    assert_int_equal(ol_average_init_swa(&b, &wb, 1, 1, &err), 0);
    assert_int_equal(ol_average_check_saved(&b, &s, "x", &err), 0);
    ol_average_set_saved(&b, &s);
    assert_int_equal(b.t, 6);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.start, 2);
    assert_int_equal(b.every, 3);
    assert_memory_equal(ol_tensor_data(&b.e), ol_tensor_data(&a.e), N * sizeof(double));
    ol_average_free(&b);
    ol_tensor_release(&wb);
    /* what does not fit: another kind, another size */
    wb = vec(w0, N - 1, OL_F64);
    assert_int_equal(ol_average_init_swa(&b, &wb, 1, 1, &err), 0);
    assert_int_equal(ol_average_check_saved(&b, &s, "x", &err), -1);
    assert_non_null(strstr(err.msg, "holds an average of 7 weights, this one has 6"));
    ol_average_free(&b);
    ol_tensor_release(&wb);
    wb = vec(w0, N, OL_F64);
    assert_int_equal(ol_average_init_ema(&b, &wb, 0.9, 0, &err), 0);
    assert_int_equal(ol_average_check_saved(&b, &s, "x", &err), -1);
    assert_non_null(strstr(err.msg, "holds an swa average, this one is ema"));
    ol_average_free(&b);
    ol_tensor_release(&wb);
    /* no average at all */
    ol_checkpoint empty;
    ol_ck_init(&empty);
    assert_int_equal(ol_average_read(&empty, &s, &err), 1);
    ol_ck_free(&empty);
    ol_ck_free(&ck);
    ol_average_free(&a);
    ol_tensor_release(&w);
}

/* Each damage of a saved swa's metadata, and the message it must give. */
static void test_bad_files(void **state) {
    (void)state;
    static const struct { const char *key, *value, *msg; } damage[] = {
        {"average.kind", "sma", "metadata 'average.kind' is not 'ema' or 'swa'"},
        {"average.t", "-1", "metadata 'average.t' is not a count"},
        {"average.t", "12x", "metadata 'average.t' is not a count"},
        {"average.t", "9007199254740993", "metadata 'average.t' is not a count"},
        {"average.n", "8", "average.n (8) does not fit average.t (6)"},
        {"average.options", "[1]", "metadata 'average.options' missing or malformed"},
        {"average.options", "{\"start\": 2}", "average option 'every' missing or not an integer"},
        {"average.options", "{\"start\": 2, \"every\": 0}", "option 'every' must be an integer in 1..2^53, got 0"},
        {"average.options", "{\"start\": 2.5, \"every\": 1}", "average option 'start' missing or not an integer"},
        {"average.kind", "ema", "average options 'decay' and 'warmup' missing or malformed"},
    };
    for (size_t k = 0; k < sizeof damage / sizeof damage[0]; k++) {
        ol_checkpoint ck;
        ol_average a;
        ol_tensor w;
        ol_error err;
        saved_swa(&ck, &a, &w);
        assert_int_equal(ol_ck_set_meta(&ck, damage[k].key, damage[k].value, &err), 0);
        ol_average_saved s;
        assert_int_equal(ol_average_read(&ck, &s, &err), -1);
        if (!strstr(err.msg, damage[k].msg)) fail_msg("%s=%s: got '%s'", damage[k].key, damage[k].value, err.msg);
        ol_ck_free(&ck);
        ol_average_free(&a);
        ol_tensor_release(&w);
    }
    /* an ema whose decay is out of range */
    {
        ol_checkpoint ck;
        ol_average a;
        ol_tensor w;
        ol_error err;
        saved_swa(&ck, &a, &w);
        assert_int_equal(ol_ck_set_meta(&ck, "average.kind", "ema", &err), 0);
        assert_int_equal(ol_ck_set_meta(&ck, "average.n", "0", &err), 0);
        assert_int_equal(ol_ck_set_meta(&ck, "average.options", "{\"decay\": 1, \"warmup\": false}", &err), 0);
        ol_average_saved s;
        assert_int_equal(ol_average_read(&ck, &s, &err), -1);
        assert_non_null(strstr(err.msg, "option 'decay' must be in [0, 1), got 1"));
        ol_ck_free(&ck);
        ol_average_free(&a);
        ol_tensor_release(&w);
    }
    /* the tensor: missing, not a vector, not finite */
    {
        ol_checkpoint ck;
        ol_error err;
        ol_average_saved s;
        ol_ck_init(&ck);
        assert_int_equal(ol_ck_set_meta(&ck, "average.kind", "swa", &err), 0);
        assert_int_equal(ol_ck_set_meta(&ck, "average.t", "1", &err), 0);
        assert_int_equal(ol_ck_set_meta(&ck, "average.n", "1", &err), 0);
        assert_int_equal(ol_ck_set_meta(&ck, "average.options", "{\"start\": 1, \"every\": 1}", &err), 0);
        assert_int_equal(ol_average_read(&ck, &s, &err), -1);
        assert_non_null(strstr(err.msg, "has no tensor 'average.weights'"));
        ol_tensor m;
        const int64_t shape[2] = {2, 2};
        assert_int_equal(ol_tensor_zeros(&m, OL_F32, 2, shape, &err), 0);
        assert_int_equal(ol_ck_add(&ck, "average.weights", &m, &err), 0);
        assert_int_equal(ol_average_read(&ck, &s, &err), -1);
        assert_non_null(strstr(err.msg, "tensor 'average.weights' is 2x2, not a vector"));
        ol_tensor_release(&m);
        ol_ck_free(&ck);
        ol_ck_init(&ck);
        assert_int_equal(ol_ck_set_meta(&ck, "average.kind", "swa", &err), 0);
        assert_int_equal(ol_ck_set_meta(&ck, "average.t", "1", &err), 0);
        assert_int_equal(ol_ck_set_meta(&ck, "average.n", "1", &err), 0);
        assert_int_equal(ol_ck_set_meta(&ck, "average.options", "{\"start\": 1, \"every\": 1}", &err), 0);
        const double bad[3] = {1, NAN, 2};
        ol_tensor v = vec(bad, 3, OL_F64);
        assert_int_equal(ol_ck_add(&ck, "average.weights", &v, &err), 0);
        assert_int_equal(ol_average_read(&ck, &s, &err), -1);
        assert_non_null(strstr(err.msg, "holds a non-finite value"));
        ol_tensor_release(&v);
        ol_ck_free(&ck);
    }
}

static void test_bad_options(void **state) {
    (void)state;
    ol_tensor w = vec(w0, N, OL_F32);
    ol_average a;
    ol_error err;
    assert_int_equal(ol_average_init_ema(&a, &w, 1, 0, &err), -1);
    assert_non_null(strstr(err.msg, "option 'decay' must be in [0, 1), got 1"));
    assert_int_equal(ol_average_init_ema(&a, &w, NAN, 0, &err), -1);
    assert_int_equal(ol_average_init_swa(&a, &w, -1, 1, &err), -1);
    assert_int_equal(ol_average_init_swa(&a, &w, 0, 0, &err), -1);
    assert_non_null(strstr(err.msg, "option 'every'"));
    ol_tensor m, tr;
    const int64_t shape[2] = {2, 3};
    assert_int_equal(ol_tensor_zeros(&m, OL_F32, 2, shape, &err), 0);
    assert_int_equal(ol_tensor_transpose(&m, 0, 1, &tr, &err), 0);
    assert_int_equal(ol_average_init_ema(&a, &tr, 0.9, 0, &err), -1);
    assert_non_null(strstr(err.msg, "contiguous"));
    ol_tensor_release(&tr);
    ol_tensor_release(&m);
    ol_tensor_release(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ema),        cmocka_unit_test(test_swa),
        cmocka_unit_test(test_threads),    cmocka_unit_test(test_swap),
        cmocka_unit_test(test_checkpoint), cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
