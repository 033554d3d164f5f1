/* The training loop's finiteness check (ol_train_grads_finite): one ±Inf
 * or NaN anywhere in the gradient, in the first or last element of any
 * part the check is cut into, at the cut and in the scalar tail, is found,
 * whether the check runs on one thread or is cut over two as the step
 * is; a finite gradient, negative zeros and huge values included, passes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "optim/optim.h"
#include "core/parallel.h"
#include "core/threads.h"
#include "train/train.h"

static void check_dtype(ol_dtype dt, const char *name, int64_t n, int threads, int want_parts) {
    ol_error err;
    ol_optim opt;
    ol_set_threads(threads);
    assert_int_equal(ol_optim_init(&opt, ol_optim_find(name), dt, n, &err), 0);
    assert_int_equal(ol_optim_step_parts(&opt), want_parts);
    const int64_t shape[1] = {n};
    ol_tensor g;
    assert_int_equal(ol_tensor_zeros(&g, dt, 1, shape, &err), 0);
    for (int64_t i = 0; i < n; i++) {
        double v = i % 7 == 0 ? -0.0 : i % 5 == 0 ? (dt == OL_F32 ? 3e38 : 1e300) : 0.25 * (double)(i % 11) - 1;
        ol_tensor_set(&g, &i, v);
    }
    assert_int_equal(ol_train_grads_finite(&opt, &g), 1);
    /* the cut of a 2-part loop (core/parallel.h): ceil(n / 2) rounded up to 64 */
    int64_t cut = ((n + 1) / 2 + OL_PARALLEL_ALIGN - 1) / OL_PARALLEL_ALIGN * OL_PARALLEL_ALIGN;
    const int64_t at[] = {0, 1, cut - 1, cut, cut + 1, n - 65, n - 64, n - 2, n - 1};
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t a = 0; a < sizeof at / sizeof at[0]; a++)
        for (size_t b = 0; b < 3; b++) {
            double keep = ol_tensor_get(&g, &at[a]);
            ol_tensor_set(&g, &at[a], bad[b]);
            if (ol_train_grads_finite(&opt, &g) != 0)
                fail_msg("%s %s, %d thread(s): %g at %lld of %lld not found", name,
                         ol_dtype_name(dt), threads, bad[b], (long long)at[a], (long long)n);
            ol_tensor_set(&g, &at[a], keep);
        }
    assert_int_equal(ol_train_grads_finite(&opt, &g), 1);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
    ol_set_threads(1);
}

static void test_finite_check(void **state) {
    (void)state;
    const int64_t n = 100003; /* odd: a scalar tail in every part */
    for (int dt = 0; dt < 2; dt++) {
        ol_dtype t = dt ? OL_F64 : OL_F32;
        check_dtype(t, "adam", n, 1, 1);
        check_dtype(t, "adam", n, 2, 2); /* cut as adam's step is */
        check_dtype(t, "sgd", n, 2, 2);
        check_dtype(t, "sgd", 2 * OL_OPTIM_MIN_PART - 1, 2, 1); /* too small to cut */
    }
    ol_parallel_shutdown();
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_finite_check)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
