/* After the first step at a batch size, a training step (forward + loss +
 * backward, or evaluate) performs no heap allocation. The test is linked
 * with -Wl,--wrap=malloc,... (tests/CMakeLists.txt), so every call to the
 * C allocator from the engine's code lands in the counters below.
 * OpenBLAS runs at one thread (its own buffers are made on first use). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "nn/nn.h"
#include "rng.h"
#include "threads.h"

static long allocs;

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void __real_free(void *p);

void *__wrap_malloc(size_t n) { allocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { allocs++; return __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { allocs++; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { allocs++; return __real_aligned_alloc(a, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { allocs++; return __real_posix_memalign(p, a, n); }
void __wrap_free(void *p) { __real_free(p); }

static void step_allocations(ol_dtype dt, ol_act a) {
    ol_error err;
    ol_layer_spec s[] = {
        {.kind = OL_LAYER_LINEAR, .in = 20, .out = 16}, {.kind = OL_LAYER_ACT, .act = a},
        {.kind = OL_LAYER_LINEAR, .in = 16, .out = 8},  {.kind = OL_LAYER_ACT, .act = a},
        {.kind = OL_LAYER_ACT, .act = OL_ACT_TANH},     {.kind = OL_LAYER_LINEAR, .in = 8, .out = 5}};
    ol_model *m = ol_model_new(s, 6, dt, &err);
    assert_non_null(m);
    assert_int_equal(ol_model_init(m, OL_INIT_XAVIER_UNIFORM, 1, 0, "relu", &err), 0);
    static double xd[64 * 20], td[64 * 5];
    static float xf[64 * 20], tf[64 * 5];
    static int32_t ids[64];
    for (int i = 0; i < 64 * 20; i++) xf[i] = (float)(xd[i] = ol_rng_normal());
    for (int i = 0; i < 64 * 5; i++) tf[i] = (float)(td[i] = ol_rng_uniform());
    for (int i = 0; i < 64; i++) ids[i] = (int32_t)ol_rng_below(5);
    const void *x = dt == OL_F32 ? (void *)xf : (void *)xd;
    const void *t = dt == OL_F32 ? (void *)tf : (void *)td;
    ol_target tid = {ids, NULL}, tdense = {NULL, t};
    double loss;
    /* First step at the largest batch: workspaces are made here. */
    assert_int_equal(ol_model_evaluate(m, x, 64, OL_LOSS_CROSS_ENTROPY, &tid, &loss, &err), 0);
    assert_int_equal(ol_model_evaluate(m, x, 1, OL_LOSS_CROSS_ENTROPY, &tid, &loss, &err), 0);
    long before = allocs;
    for (int rep = 0; rep < 3; rep++) {
        int64_t batches[] = {64, 1, 17, 64};
        for (int b = 0; b < 4; b++) {
            int64_t n = batches[b];
            assert_int_equal(ol_model_evaluate(m, x, n, OL_LOSS_CROSS_ENTROPY, &tid, &loss, &err), 0);
            assert_int_equal(ol_model_forward(m, x, n, &err), 0);
            assert_int_equal(ol_model_loss(m, OL_LOSS_MSE, &tdense, &loss, &err), 0);
            assert_int_equal(ol_model_backward(m, 1, &err), 0);
            assert_int_equal(ol_model_evaluate(m, x, n, OL_LOSS_BCE, &tdense, &loss, &err), 0);
            assert_non_null(ol_model_id_buffer(m, n, &err));
            ol_model_zero_grad(m);
        }
    }
    assert_int_equal(allocs - before, 0);
    /* The counter does see the engine's allocations: a bigger batch grows
     * the workspace. */
    static double big[128 * 20];
    static float bigf[128 * 20];
    assert_int_equal(ol_model_forward(m, dt == OL_F32 ? (void *)bigf : (void *)big, 128, &err), 0);
    assert_true(allocs - before >= 1);
    ol_model_free(m);
}

static void test_no_allocation_in_steady_state(void **state) {
    (void)state;
    ol_set_threads(1);
    for (int a = OL_ACT_IDENTITY; a <= OL_ACT_GELU; a++) {
        step_allocations(OL_F32, (ol_act)a);
        step_allocations(OL_F64, (ol_act)a);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_allocation_in_steady_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
