/* The physical limits that bench/run sets every measured case against, in
 * the same run:
 *   - the GEMM-only time of one training step of the 784-256-128-10 MLP at
 *     batch 1, 16, 128 and 1024: the step's 3 forward products, 3 weight
 *     gradients and 2 input gradients (gemv/ger at batch 1) as bare cblas
 *     calls, each timed three ways, the fastest kept (so the limit is the
 *     best any of these thread policies reaches): on 1 thread, on
 *     OpenBLAS's own threads, and cut along the larger side of the result
 *     into one block per thread, each block a 1-thread call on a thread
 *     that waits for its block by polling (how engine/nn/linear.c cuts
 *     with the engine's pool, but for weight gradients with a small x,
 *     which it cuts along their rows: the limit is still the best of the
 *     three, and timed alone the larger side is the faster cut);
 *   - the in-place update bandwidth a[i] += s*c[i] over 10M f32 (read 2
 *     streams, write 1) on one thread and on all, the limit of an
 *     optimizer step, which is one streaming pass over w, g and its state
 *     (cut over all threads at that size: engine/optim/optim.c).
 * Prints "key value" lines for bench/run: OpenBLAS's build and core
 * (openblas_config, openblas_core, openblas_threads); per call,
 * shape_b<batch>_<in>x<out>_<fwd|dW|dx>_us, the microseconds on 1 thread /
 * OpenBLAS's threads / cut; per batch, the step's sum under each policy
 * (gemm_t1_us_b<batch>, gemm_tall_, gemm_cut_, gemm_best_) and the
 * samples/s it allows (gemm_limit_sps_b<batch>); update_ms and update_gbs
 * on one thread, update_all_ms and update_all_gbs on all. Figures, not a
 * test. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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

/* Whether the cut of a GEMM runs along the columns of its m x cn result:
 * along the larger side. */
static int cut_cols(int kind, int n, int l) {
    const int in = sizes[l], out = sizes[l + 1];
    const int m = kind == 1 ? out : n, cn = kind == 0 ? out : in;
    return cn >= m;
}

/* One BLAS call of the step: kind 0 forward z = x W^T, 1 weight gradient
 * dW = dz^T x, 2 input gradient dx = dz W, for layer l at batch n; only
 * rows or columns [lo, hi) of the result (the larger side, as the engine
 * cuts it), all of it for lo = 0, hi = -1. */
static void call_part(int kind, int n, int l, float *x, float *w, float *z, int lo, int hi) {
    const int in = sizes[l], out = sizes[l + 1];
    if (n == 1) {
        /* gemv cuts the rows of W (forward) or its columns (dx); the outer
         * product the rows of dW */
        if (kind == 0) {
            if (hi < 0) hi = out;
            cblas_sgemv(CblasRowMajor, CblasNoTrans, hi - lo, in, 1, w + (long)lo * in, in, x, 1, 0, z + lo, 1);
        } else if (kind == 1) {
            if (hi < 0) hi = out;
            cblas_sger(CblasRowMajor, hi - lo, in, 1, z + lo, 1, x, 1, w + (long)lo * in, in);
        } else {
            if (hi < 0) hi = in;
            cblas_sgemv(CblasRowMajor, CblasTrans, out, hi - lo, 1, w + lo, in, z, 1, 0, x + lo, 1);
        }
        return;
    }
    const int m = kind == 1 ? out : n, cn = kind == 0 ? out : in, cols = cut_cols(kind, n, l);
    if (hi < 0) hi = cols ? cn : m;
    const int len = hi - lo;
    if (kind == 0) {
        if (cols) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, len, in, 1, x, in, w + (long)lo * in, in, 0, z + lo, out);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, out, in, 1, x + (long)lo * in, in, w, in, 0, z + (long)lo * out, out);
    } else if (kind == 1) {
        if (cols) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, len, n, 1, z, out, x + lo, in, 0, w + lo, in);
        else cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, len, in, n, 1, z + lo, out, x, in, 0, w + (long)lo * in, in);
    } else {
        if (cols) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, len, out, 1, z, out, w + lo, in, 0, x + lo, in);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, in, out, 1, z + (long)lo * out, out, w, in, 0, x + (long)lo * in, in);
    }
}

/* The length of the side the cut runs along. */
static int cut_side(int kind, int n, int l) {
    const int in = sizes[l], out = sizes[l + 1];
    if (n == 1) return kind == 2 ? in : out;
    const int m = kind == 1 ? out : n, cn = kind == 0 ? out : in;
    return cut_cols(kind, n, l) ? cn : m;
}

/* The cut policy's helpers: thread k runs block k of every call posted,
 * the poster block 0; all poll. */
static struct {
    atomic_int gen, done, stop;
    int born;
    int kind, n, l, parts;
    float *x, *w, *z;
} cut;

static void cut_block(int k) {
    const int side = cut_side(cut.kind, cut.n, cut.l);
    int chunk = (side + cut.parts - 1) / cut.parts;
    chunk = (chunk + 15) / 16 * 16;
    const int lo = k * chunk, hi = lo + chunk < side ? lo + chunk : side;
    if (lo < hi) call_part(cut.kind, cut.n, cut.l, cut.x, cut.w, cut.z, lo, hi);
}

static void *cut_helper(void *arg) {
    const int k = (int)(long)arg;
    int seen = cut.born; /* the generation before the first block posted to it */
    for (;;) {
        int g;
        for (int i = 1; (g = atomic_load(&cut.gen)) == seen; i++) {
            __builtin_ia32_pause();
            if ((i & 255) == 0) sched_yield(); /* in case the poster shares the CPU */
        }
        seen = g;
        if (atomic_load(&cut.stop)) return NULL;
        cut_block(k);
        atomic_fetch_add(&cut.done, 1);
    }
}

/* Policy of one timed call: 0 one thread, 1 OpenBLAS's threads, 2 cut. */
static int policy;

static void call(int kind, int n, int l, float *x, float *w, float *z) {
    if (policy != 2) {
        call_part(kind, n, l, x, w, z, 0, -1);
        return;
    }
    cut.kind = kind, cut.n = n, cut.l = l, cut.x = x, cut.w = w, cut.z = z;
    atomic_store(&cut.done, 0);
    atomic_fetch_add(&cut.gen, 1);
    cut_block(0);
    for (int i = 1; atomic_load(&cut.done) < cut.parts - 1; i++) {
        __builtin_ia32_pause();
        if ((i & 255) == 0) sched_yield();
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

int main(int argc, char **argv) {
    (void)argc;
    /* OpenBLAS's idle threads poll (sched_yield) for about 0.1 s after each
     * threaded call before they sleep: timed right after the OpenBLAS
     * policy, the cut's helper then shared a CPU with the poster and ran
     * its block after the poster's, twice the block's own time
     * (bench/HISTORY.md, round 4, has the figures).
     * OpenBLAS reads the poll time (2^N cycles) from its environment when
     * it loads, so the program restarts itself once with 2^20 cycles
     * (under a millisecond): the threads still poll between the timed
     * calls, which follow each other within microseconds. */
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "20", 1);
        execv("/proc/self/exe", argv);
        /* no /proc: go on with the default */
    }
    const int all = openblas_get_num_threads();
    printf("openblas_config %s\n", openblas_get_config());
    printf("openblas_core %s\n", openblas_get_corename());
    printf("openblas_threads %d\n", all);
    const int batches[] = {1, 16, 128, 1024};
    cut.parts = all < MAX_T ? all : MAX_T;
    for (int b = 0; b < 4; b++) {
        const int n = batches[b];
        double t1 = 0, tall = 0, tcut = 0, best = 0;
        for (int l = 0; l < 3; l++) {
            float *x = randv((long)n * sizes[l]), *w = randv((long)sizes[l] * sizes[l + 1]);
            float *z = randv((long)n * sizes[l + 1]);
            for (int kind = 0; kind < 3; kind++) {
                if (kind == 2 && l == 0) continue; /* nobody needs dL/dinput */
                /* interleave the settings so all see the same load */
                double a = 1e30, c = 1e30, d = 1e30;
                for (int k = 0; k < 2; k++) {
                    policy = 0;
                    openblas_set_num_threads(1);
                    double t = time_call(kind, n, l, x, w, z);
                    if (t < a) a = t;
                    policy = 1;
                    openblas_set_num_threads(all);
                    t = time_call(kind, n, l, x, w, z);
                    if (t < c) c = t;
                    if (cut.parts > 1) {
                        /* the helpers poll only while this policy is timed */
                        policy = 2;
                        openblas_set_num_threads(1);
                        pthread_t helpers[MAX_T];
                        atomic_store(&cut.stop, 0);
                        cut.born = atomic_load(&cut.gen);
                        for (int h = 1; h < cut.parts; h++)
                            pthread_create(&helpers[h], NULL, cut_helper, (void *)(long)h);
                        t = time_call(kind, n, l, x, w, z);
                        atomic_store(&cut.stop, 1);
                        atomic_fetch_add(&cut.gen, 1);
                        for (int h = 1; h < cut.parts; h++) pthread_join(helpers[h], NULL);
                        if (t < d) d = t;
                    }
                }
                openblas_set_num_threads(all);
                /* per call, for engine/nn/linear.c's policy */
                static const char *const kinds[] = {"fwd", "dW", "dx"};
                printf("shape_b%d_%dx%d_%s_us %.1f/%.1f/%.1f\n", n, sizes[l], sizes[l + 1],
                       kinds[kind], a * 1e6, c * 1e6, d < 1e30 ? d * 1e6 : c * 1e6);
                t1 += a;
                tall += c;
                tcut += d < 1e30 ? d : c;
                double b3 = a < c ? a : c;
                best += b3 < d ? b3 : d;
            }
            free(x);
            free(w);
            free(z);
        }
        printf("gemm_t1_us_b%d %.1f\ngemm_tall_us_b%d %.1f\ngemm_cut_us_b%d %.1f\ngemm_best_us_b%d %.1f\n",
               n, t1 * 1e6, n, tall * 1e6, n, tcut * 1e6, n, best * 1e6);
        printf("gemm_limit_sps_b%d %.0f\n", n, n / best);
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
