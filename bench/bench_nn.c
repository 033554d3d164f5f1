/* The nn layer's overhead over its products: a training step (forward +
 * cross_entropy + backward, no optimizer) of a 784-256-128-10 relu MLP in
 * f32 at batch 1, 16, 128 and 1024, in samples/s, and its time over the
 * time of the same products alone through the same linear kernels (the
 * step's 3 forward products, 3 weight gradients and 2 input gradients:
 * gemm, or gemv/ger at batch 1), each the best of 3 rounds of about 0.1 s,
 * the products timed before and after the step and the better kept.
 * Prints figures, not a test. Threads: OPENBLAS_NUM_THREADS (default all
 * cores). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nn/kernels.h"
#include "core/rng.h"
#include "core/threads.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const int64_t sizes[] = {784, 256, 128, 10};

/* The BLAS work of one step on buffers shaped like the model's. */
typedef struct gemm_bufs { float *x, *w[3], *dw[3], *a[3], *da[3]; } gemm_bufs;

static void gemms_only(int64_t n, gemm_bufs *b) {
    const float *in = b->x;
    for (int l = 0; l < 3; l++) {
        ol_linear_forward_f32(n, sizes[l], sizes[l + 1], in, b->w[l], b->a[l]);
        in = b->a[l];
    }
    for (int l = 2; l >= 0; l--)
        ol_linear_backward_f32(n, sizes[l], sizes[l + 1], l ? b->a[l - 1] : b->x, b->w[l], b->da[l],
                               l ? b->da[l - 1] : NULL, b->dw[l], 0);
}

static float *randv(int64_t n) {
    float *p = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
    for (int64_t i = 0; i < n; i++) p[i] = (float)(ol_rng_normal() * 0.1);
    return p;
}

/* Seconds per call of fn, over enough repetitions to last about 0.3 s;
 * the best of 3 such rounds. */
#define TIME(result, body)                                          \
    do {                                                            \
        body;                                                       \
        int reps = 1;                                               \
        for (;;) {                                                  \
            double t0 = now();                                      \
            for (int r_ = 0; r_ < reps; r_++) { body; }             \
            if (now() - t0 > 0.1) break;                            \
            reps *= 2;                                              \
        }                                                           \
        result = 1e30;                                              \
        for (int round = 0; round < 3; round++) {                   \
            double t0 = now();                                      \
            for (int r_ = 0; r_ < reps; r_++) { body; }             \
            double t = (now() - t0) / reps;                         \
            if (t < result) result = t;                             \
        }                                                           \
    } while (0)

int main(void) {
    ol_error err;
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    printf("threads: %d (OPENBLAS_NUM_THREADS=%s)\n", ol_get_threads(), env ? env : "unset");
    ol_layer_spec s[] = {{.kind = OL_LAYER_LINEAR, .in = 784, .out = 256}, {.kind = OL_LAYER_ACT, .act = OL_ACT_RELU},
                         {.kind = OL_LAYER_LINEAR, .in = 256, .out = 128}, {.kind = OL_LAYER_ACT, .act = OL_ACT_RELU},
                         {.kind = OL_LAYER_LINEAR, .in = 128, .out = 10}};
    ol_model *m = ol_model_new(s, 5, OL_F32, &err);
    if (!m || ol_model_init(m, OL_INIT_XAVIER_UNIFORM, 1, 0, "relu", &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("%-6s %14s %12s %12s %8s\n", "batch", "samples/s", "step (us)", "gemms (us)", "ratio");
    const int64_t batches[] = {1, 16, 128, 1024};
    for (int bi = 0; bi < 4; bi++) {
        int64_t n = batches[bi];
        float *x = randv(n * 784);
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)ol_rng_below(10);
        ol_target t = {ids, NULL};
        gemm_bufs b = {.x = x};
        for (int l = 0; l < 3; l++) {
            b.w[l] = randv(sizes[l] * sizes[l + 1]);
            b.dw[l] = randv(sizes[l] * sizes[l + 1]);
            b.a[l] = randv(n * sizes[l + 1]);
            b.da[l] = randv(n * sizes[l + 1]);
        }
        double loss, t_step, t_gemm;
        /* Interleave so that both see the same machine state. */
        TIME(t_gemm, gemms_only(n, &b));
        TIME(t_step, ol_model_evaluate(m, x, n, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), &t, &loss, &err));
        double t_gemm2;
        TIME(t_gemm2, gemms_only(n, &b));
        if (t_gemm2 < t_gemm) t_gemm = t_gemm2;
        printf("%-6lld %14.0f %12.1f %12.1f %8.3f\n", (long long)n, (double)n / t_step, t_step * 1e6,
               t_gemm * 1e6, t_step / t_gemm);
        for (int l = 0; l < 3; l++) {
            free(b.w[l]);
            free(b.dw[l]);
            free(b.a[l]);
            free(b.da[l]);
        }
        free(x);
        free(ids);
    }
    ol_model_free(m);
    return 0;
}
