/* After the first step at a batch size, a training step (forward + loss +
 * backward, or evaluate) performs no heap allocation. The test is linked
 * with -Wl,--wrap=malloc,... (tests/CMakeLists.txt), so every call to the
 * C allocator from the engine's code lands in the counters below; calls
 * made inside shared libraries (OpenBLAS, libc) are not seen.
 * At one thread with a small model, and at two with one large enough for
 * the worker pool to cut the products (batch 1's too) and the loss; plain
 * nets, nets with dropout and nets with layer and batch norm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "nn/nn.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/threads.h"

#include "alloc_count.h"

/* Widths of in -> h1 -> act -> h2 -> act -> tanh -> out, and the batch
 * sizes stepped through, the first the largest. */
typedef struct sizes {
    int64_t in, h1, h2, out;
    int64_t batches[5];
    int nbatches;
} sizes;

/* One thread. */
static const sizes SMALL = {20, 16, 8, 5, {64, 1, 17, 64}, 4};
/* Two threads: the first product is cut at 192 and 130 rows (over 2^19
 * multiply-adds) and at batch 1 (a weight of 2^16 elements), the loss from
 * 128 rows; the last layer (10 outputs) runs in blocks of rows. */
static const sizes LARGE = {256, 256, 64, 10, {192, 1, 17, 130, 192}, 5};

static void *filled(ol_dtype dt, int64_t n, int normal) {
    void *p = malloc((size_t)n * ol_dtype_size(dt));
    assert_non_null(p);
    for (int64_t i = 0; i < n; i++) {
        double v = normal ? ol_rng_normal() : ol_rng_uniform();
        if (dt == OL_F32) ((float *)p)[i] = (float)v;
        else ((double *)p)[i] = v;
    }
    return p;
}

/* The nets stepped through: plain, with dropout, with norms. */
enum { PLAIN, DROPOUT, NORM };

/* DROPOUT: a dropout layer after each hidden activation, in training mode
 * (a mask drawn every forward), and the last step's evaluation-mode copy.
 * NORM: layer norm after the first hidden linear layer, batch norm after
 * the second, in training mode (batch 1 in evaluation mode, which batch
 * norm needs) and in evaluation mode. */
static void step_allocations(ol_dtype dt, ol_act a, const sizes *z, int variant) {
    const int drop = variant == DROPOUT;
    ol_error err;
    ol_layer_spec s[] = {
        {.kind = OL_LAYER_LINEAR, .in = z->in, .out = z->h1}, {.kind = OL_LAYER_ACT, .act = a},
        {.kind = OL_LAYER_DROPOUT, .p = 0.3},
        {.kind = OL_LAYER_LINEAR, .in = z->h1, .out = z->h2}, {.kind = OL_LAYER_ACT, .act = a},
        {.kind = OL_LAYER_ACT, .act = OL_ACT_TANH}, {.kind = OL_LAYER_DROPOUT, .p = 0.5},
        {.kind = OL_LAYER_LINEAR, .in = z->h2, .out = z->out}};
    ol_layer_spec plain[6] = {s[0], s[1], s[3], s[4], s[5], s[7]};
    ol_layer_spec norms[8] = {
        s[0], {.kind = OL_LAYER_LAYER_NORM, .in = z->h1, .out = z->h1, .eps = 1e-5, .affine = 1},
        s[1], s[3],
        {.kind = OL_LAYER_BATCH_NORM, .in = z->h2, .out = z->h2, .eps = 1e-5, .momentum = 0.1, .affine = 1},
        s[4], s[5], s[7]};
    ol_model *m = variant == DROPOUT ? ol_model_new(s, 8, dt, &err)
                  : variant == NORM  ? ol_model_new(norms, 8, dt, &err)
                                     : ol_model_new(plain, 6, dt, &err);
    assert_non_null(m);
    assert_int_equal(ol_model_init(m, OL_INIT_XAVIER_UNIFORM, 1, 0, "relu", &err), 0);
    const int64_t most = z->batches[0];
    void *x = filled(dt, 2 * most * z->in, 1); /* twice: the control below */
    void *t = filled(dt, most * z->out, 0);
    int32_t *ids = malloc((size_t)most * sizeof *ids);
    assert_non_null(ids);
    for (int64_t i = 0; i < most; i++) ids[i] = (int32_t)ol_rng_below((uint64_t)z->out);
    ol_target tid = {ids, NULL}, tdense = {NULL, t};
    double loss;
    /* First step at the largest batch: workspaces are made here. */
    assert_int_equal(ol_model_evaluate(m, x, most, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), &tid, &loss, &err), 0);
    ol_model_set_training(m, variant != NORM);
    assert_int_equal(ol_model_evaluate(m, x, 1, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), &tid, &loss, &err), 0);
    ol_model_set_training(m, 1);
    long before = allocs;
    for (int rep = 0; rep < 3; rep++) {
        for (int b = 0; b < z->nbatches; b++) {
            int64_t n = z->batches[b];
            ol_model_set_training(m, !(variant == NORM && n == 1));
            assert_int_equal(ol_model_evaluate(m, x, n, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), &tid, &loss, &err), 0);
            assert_int_equal(ol_model_forward(m, x, n, &err), 0);
            assert_int_equal(ol_model_loss(m, OL_LOSS_PLAIN(OL_LOSS_MSE), &tdense, &loss, &err), 0);
            assert_int_equal(ol_model_backward(m, 1, &err), 0);
            assert_int_equal(ol_model_evaluate(m, x, n, OL_LOSS_PLAIN(OL_LOSS_BCE), &tdense, &loss, &err), 0);
            if (variant != PLAIN) { /* evaluation mode runs in the same buffers */
                ol_model_set_training(m, 0);
                assert_int_equal(ol_model_evaluate(m, x, n, OL_LOSS_PLAIN(OL_LOSS_MSE), &tdense, &loss, &err), 0);
                ol_model_set_training(m, 1);
            }
            ol_model_zero_grad(m);
        }
    }
    if (allocs - before != 0)
        fail_msg("%s%s, %s, %d thread(s): %ld allocations in steady-state steps", ol_act_name(a),
                 drop ? " with dropout" : variant == NORM ? " with norms" : "", ol_dtype_name(dt), ol_get_threads(),
                 (long)(allocs - before));
    /* The counter does see the engine's allocations: a bigger batch grows
     * the workspace. */
    assert_int_equal(ol_model_forward(m, x, 2 * most, &err), 0);
    assert_true(allocs - before >= 1);
    free(x);
    free(t);
    free(ids);
    ol_model_free(m);
}

static void test_no_allocation_in_steady_state(void **state) {
    (void)state;
    ol_set_threads(1);
    for (int a = OL_ACT_IDENTITY; a <= OL_ACT_GELU; a++)
        for (int variant = PLAIN; variant <= NORM; variant++) {
            step_allocations(OL_F32, (ol_act)a, &SMALL, variant);
            step_allocations(OL_F64, (ol_act)a, &SMALL, variant);
        }
}

static void test_no_allocation_on_two_threads(void **state) {
    (void)state;
    ol_set_threads(2);
    for (int a = OL_ACT_IDENTITY; a <= OL_ACT_GELU; a++)
        for (int variant = PLAIN; variant <= NORM; variant++) {
            step_allocations(OL_F32, (ol_act)a, &LARGE, variant);
            step_allocations(OL_F64, (ol_act)a, &LARGE, variant);
        }
    ol_set_threads(1);
    ol_parallel_shutdown();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_allocation_in_steady_state),
        cmocka_unit_test(test_no_allocation_on_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
