/* After the first curvature product at a batch size, ol_model_curvature
 * performs no heap allocation, at that batch or a smaller one, for every
 * loss, activation, dtype, with and without the Gauss-Newton switch and the
 * gradient; a larger batch grows the model's workspace once. The test is
 * linked with -Wl,--wrap=malloc,... (tests/CMakeLists.txt, as every engine
 * test named *_alloc), so every call to the C allocator from the engine's
 * code lands in the counter below; calls made inside shared libraries
 * (OpenBLAS, libc) are not seen.
 * At one thread with a small model and every activation, and at two with
 * one large enough for the worker pool to cut the products, with a
 * piecewise-linear activation and a smooth one. */
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

/* Widths of act -> in -> h1 -> act -> h2 -> act -> tanh -> out, and the
 * batch sizes, the first the largest. */
typedef struct sizes {
    int64_t in, h1, h2, out;
    int64_t batches[4];
    int nbatches;
} sizes;

/* One thread. */
static const sizes SMALL = {20, 16, 8, 5, {64, 1, 17}, 3};
/* Two threads: the first layers' products are cut at 64 and 33 rows (over
 * 2^19 multiply-adds) and at batch 1 (a weight of 2^16 elements). */
static const sizes LARGE = {256, 256, 32, 10, {64, 1, 33}, 3};

static double *filled(int64_t n, int normal) {
    double *p = malloc((size_t)n * sizeof *p);
    assert_non_null(p);
    for (int64_t i = 0; i < n; i++) p[i] = normal ? ol_rng_normal() : ol_rng_uniform();
    return p;
}

/* Every kind of product at batch n: losses with both kinds of
 * cross_entropy target, Hessian and Gauss-Newton, with and without the
 * loss and gradient. */
static void products(ol_model *m, const double *x, int64_t n, const int32_t *ids,
                     const double *t, const double *v, double *out, double *g) {
    ol_error err;
    double loss;
    static const ol_loss_kind kinds[] = {OL_LOSS_CROSS_ENTROPY, OL_LOSS_CROSS_ENTROPY,
                                         OL_LOSS_MSE, OL_LOSS_BCE};
    for (int k = 0; k < 4; k++)
        for (int gn = 0; gn < 2; gn++)
            for (int with_grad = 0; with_grad < 2; with_grad++)
                if (ol_model_curvature(m, x, n, OL_LOSS_PLAIN(kinds[k]), k == 0 ? ids : NULL, k == 0 ? NULL : t, v,
                                       out, gn, with_grad ? &loss : NULL, with_grad ? g : NULL,
                                       &err))
                    fail_msg("curvature: %s", err.msg);
}

/* norms: layer norm after the first hidden linear layer, batch norm
 * after the second (its running estimates read in the products). */
static void curvature_allocations(ol_dtype dt, ol_act a, const sizes *z, int norms) {
    ol_error err;
    ol_layer_spec s[] = {
        {.kind = OL_LAYER_ACT, .act = a},
        {.kind = OL_LAYER_LINEAR, .in = z->in, .out = z->h1}, {.kind = OL_LAYER_ACT, .act = a},
        {.kind = OL_LAYER_LINEAR, .in = z->h1, .out = z->h2}, {.kind = OL_LAYER_ACT, .act = a},
        {.kind = OL_LAYER_ACT, .act = OL_ACT_TANH},
        {.kind = OL_LAYER_LINEAR, .in = z->h2, .out = z->out}};
    ol_layer_spec sn[] = {
        s[0], s[1], {.kind = OL_LAYER_LAYER_NORM, .in = z->h1, .out = z->h1, .eps = 1e-5, .affine = 1},
        s[2], s[3],
        {.kind = OL_LAYER_BATCH_NORM, .in = z->h2, .out = z->h2, .eps = 1e-5, .momentum = 0.1, .affine = 1},
        s[4], s[5], s[6]};
    ol_model *m = norms ? ol_model_new(sn, 9, dt, &err) : ol_model_new(s, 7, dt, &err);
    assert_non_null(m);
    assert_int_equal(ol_model_init(m, OL_INIT_XAVIER_UNIFORM, 1, 0, "relu", &err), 0);
    const int64_t most = z->batches[0], np = ol_model_nparams(m);
    double *x = filled(2 * most * z->in, 1); /* twice: the growth below */
    double *t = filled(2 * most * z->out, 0);
    double *v = filled(np, 1), *out = filled(np, 0), *g = filled(np, 0);
    int32_t *ids = malloc((size_t)(2 * most) * sizeof *ids);
    assert_non_null(ids);
    for (int64_t i = 0; i < 2 * most; i++) ids[i] = (int32_t)ol_rng_below((uint64_t)z->out);

    /* The first product at the largest batch makes the workspace: the
     * counter sees the engine's allocations. */
    long before = allocs;
    products(m, x, most, ids, t, v, out, g);
    assert_true(allocs - before >= 1);
    before = allocs;
    for (int rep = 0; rep < 2; rep++)
        for (int b = 0; b < z->nbatches; b++) products(m, x, z->batches[b], ids, t, v, out, g);
    if (allocs - before != 0)
        fail_msg("%s%s, %s, %d thread(s): %ld allocations in products after the first",
                 ol_act_name(a), norms ? " with norms" : "", ol_dtype_name(dt), ol_get_threads(), (long)(allocs - before));
    /* A larger batch grows it once, and then it is reused again. */
    products(m, x, 2 * most, ids, t, v, out, g);
    assert_true(allocs - before >= 1);
    before = allocs;
    products(m, x, 2 * most, ids, t, v, out, g);
    products(m, x, most, ids, t, v, out, g);
    assert_int_equal(allocs - before, 0);
    free(x), free(t), free(v), free(out), free(g), free(ids);
    ol_model_free(m);
}

static void test_no_allocation_after_the_first(void **state) {
    (void)state;
    ol_set_threads(1);
    for (int a = OL_ACT_IDENTITY; a <= OL_ACT_GELU; a++) {
        for (int norms = 0; norms < 2; norms++) {
            curvature_allocations(OL_F32, (ol_act)a, &SMALL, norms);
            curvature_allocations(OL_F64, (ol_act)a, &SMALL, norms);
        }
    }
}

static void test_no_allocation_on_two_threads(void **state) {
    (void)state;
    ol_set_threads(2);
    const ol_act acts[] = {OL_ACT_RELU, OL_ACT_GELU};
    for (int a = 0; a < 2; a++) {
        for (int norms = 0; norms < 2; norms++) {
            curvature_allocations(OL_F32, acts[a], &LARGE, norms);
            curvature_allocations(OL_F64, acts[a], &LARGE, norms);
        }
    }
    ol_set_threads(1);
    ol_parallel_shutdown();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_allocation_after_the_first),
        cmocka_unit_test(test_no_allocation_on_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
