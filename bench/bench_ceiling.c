/* The physical limits that bench/run sets every measured case against, in
 * the same run:
 *   - the GEMM-only time of one training step of the 784-256-128-10 MLP at
 *     batch 1, 16, 128 and 1024: the step's 3 forward products, 3 weight
 *     gradients and 2 input gradients (gemv/ger at batch 1) as bare cblas
 *     calls, each timed at 1 thread and at all threads, the faster kept
 *     (so the ceiling is the best any thread policy could reach);
 *   - the in-place update bandwidth a[i] += s*c[i] over 10M f32 (read 2
 *     streams, write 1) on one thread and on all, the limit of an
 *     optimizer step, which is one streaming pass over w, g and its state
 *     (cut over all threads at that size: engine/optim/optim.c).
 * Prints "key value" lines for bench/run (per call, "shape_..." gives the
 * 1-thread/all-threads microseconds). Figures, not a test. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>

/* Declared by OpenBLAS (not in every cblas.h). */
char *openblas_get_config(void);
char *openblas_get_corename(void);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *randv(long n) {
    float *p = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
    for (long i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

static const int sizes[] = {784, 256, 128, 10};

/* a[i] += s * c[i] over one thread's part. */
#define MAX_T 64
typedef struct update_job {
    float *a;
    const float *c;
    long n;
} update_job;

static void *update_part(void *p) {
    update_job *j = p;
    for (long i = 0; i < j->n; i++) j->a[i] += 1e-7f * j->c[i];
    return NULL;
}

/* One BLAS call of the step: kind 0 forward z = x W^T, 1 weight gradient
 * dW = dz^T x, 2 input gradient dx = dz W, for layer l at batch n. */
static void call(int kind, int n, int l, float *x, float *w, float *z) {
    const int in = sizes[l], out = sizes[l + 1];
    if (n == 1) {
        if (kind == 0) cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1, w, in, x, 1, 0, z, 1);
        else if (kind == 1) cblas_sger(CblasRowMajor, out, in, 1, z, 1, x, 1, w, in);
        else cblas_sgemv(CblasRowMajor, CblasTrans, out, in, 1, w, in, z, 1, 0, x, 1);
    } else if (kind == 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1, x, in, w, in, 0, z, out);
    } else if (kind == 1) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1, z, out, x, in, 0, w, in);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1, z, out, w, in, 0, x, in);
    }
}

/* Seconds per call at the current thread count: repetitions enough for
 * about 10 ms, best of 3 rounds. */
static double time_call(int kind, int n, int l, float *x, float *w, float *z) {
    call(kind, n, l, x, w, z);
    int reps = 1;
    for (;;) {
        double t0 = now();
        for (int r = 0; r < reps; r++) call(kind, n, l, x, w, z);
        if (now() - t0 > 0.01) break;
        reps *= 2;
    }
    double best = 1e30;
    for (int round = 0; round < 3; round++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) call(kind, n, l, x, w, z);
        double t = (now() - t0) / reps;
        if (t < best) best = t;
    }
    return best;
}

int main(void) {
    const int all = openblas_get_num_threads();
    printf("openblas_config %s\n", openblas_get_config());
    printf("openblas_core %s\n", openblas_get_corename());
    printf("openblas_threads %d\n", all);
    const int batches[] = {1, 16, 128, 1024};
    for (int b = 0; b < 4; b++) {
        const int n = batches[b];
        double t1 = 0, tall = 0, best = 0;
        for (int l = 0; l < 3; l++) {
            float *x = randv((long)n * sizes[l]), *w = randv((long)sizes[l] * sizes[l + 1]);
            float *z = randv((long)n * sizes[l + 1]);
            for (int kind = 0; kind < 3; kind++) {
                if (kind == 2 && l == 0) continue; /* nobody needs dL/dinput */
                /* interleave the two settings so both see the same load */
                double a = 1e30, c = 1e30;
                for (int k = 0; k < 2; k++) {
                    openblas_set_num_threads(1);
                    double t = time_call(kind, n, l, x, w, z);
                    if (t < a) a = t;
                    openblas_set_num_threads(all);
                    t = time_call(kind, n, l, x, w, z);
                    if (t < c) c = t;
                }
                /* per call: 1 thread / all threads, for engine/nn/linear.c's policy */
                static const char *const kinds[] = {"fwd", "dW", "dx"};
                printf("shape_b%d_%dx%d_%s_us %.1f/%.1f\n", n, sizes[l], sizes[l + 1], kinds[kind],
                       a * 1e6, c * 1e6);
                t1 += a;
                tall += c;
                best += a < c ? a : c;
            }
            free(x);
            free(w);
            free(z);
        }
        printf("gemm_t1_us_b%d %.1f\ngemm_tall_us_b%d %.1f\ngemm_best_us_b%d %.1f\n", n, t1 * 1e6, n,
               tall * 1e6, n, best * 1e6);
        printf("gemm_ceiling_sps_b%d %.0f\n", n, n / best);
    }

    /* In-place update bandwidth on one thread and on all (each thread its
     * contiguous part, as engine/optim cuts a step over 8 MB). */
    const long N = 10000000;
    float *a = randv(N), *c = randv(N);
    const int counts[2] = {1, all < MAX_T ? all : MAX_T};
    for (int q = 0; q < (all > 1 ? 2 : 1); q++) {
        const int nt = counts[q];
        update_job jobs[MAX_T];
        pthread_t th[MAX_T];
        for (int k = 0; k < nt; k++)
            jobs[k] = (update_job){a + N / nt * k, c + N / nt * k, k == nt - 1 ? N - N / nt * k : N / nt};
        double best = 1e30;
        for (int r = 0; r < 8; r++) {
            double t0 = now();
            for (int k = 1; k < nt; k++) pthread_create(&th[k], NULL, update_part, &jobs[k]);
            update_part(&jobs[0]);
            for (int k = 1; k < nt; k++) pthread_join(th[k], NULL);
            double t = now() - t0;
            if (r > 0 && t < best) best = t; /* the first pass touches fresh pages */
        }
        const char *sfx = nt == 1 ? "" : "_all";
        printf("update%s_ms %.3f\nupdate%s_gbs %.2f\n", sfx, best * 1e3, sfx, 3.0 * 4 * N / best / 1e9);
    }
    printf("checksum %g\n", (double)a[N / 2]); /* keeps the loop */
    free(a);
    free(c);
    return 0;
}
