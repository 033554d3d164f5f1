/* The worker pool (engine/core/parallel.c): every element of [0, n) is visited
 * exactly once, by the part the documented cut assigns it to (one part per
 * thread, parts on multiples of the grain, none below min_part), parts run
 * on more than one thread, and the pool survives what training throws at
 * it: a job after the workers went to sleep, after a BLAS signal, a call
 * from inside a part, two callers at once, a shutdown and restart. The
 * chunked sum of squares (core/reduce.h) is the sum, the same bits on 1,
 * 2 and 3 threads.
 *
 * The tests run with OPENBLAS_NUM_THREADS=1 (tests/CMakeLists.txt), so each
 * sets the thread count it needs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/parallel.h"
#include "core/reduce.h"
#include "core/threads.h"

typedef struct visit {
    int64_t n;
    unsigned char *seen;   /* times element i was visited */
    int64_t begin[OL_PARALLEL_MAXPARTS], end[OL_PARALLEL_MAXPARTS];
    pthread_t who[OL_PARALLEL_MAXPARTS];
    int calls[OL_PARALLEL_MAXPARTS];
} visit;

/* Runs on any thread: records, never asserts (cmocka's asserts belong to
 * the test's own thread). An out-of-range part shows as an unvisited range. */
static void mark(void *p, int64_t b, int64_t e, int part) {
    visit *v = p;
    if (part < 0 || part >= OL_PARALLEL_MAXPARTS) return;
    v->begin[part] = b;
    v->end[part] = e;
    v->who[part] = pthread_self();
    v->calls[part]++;
    for (int64_t i = b; i < e; i++) v->seen[i]++;
}

/* Runs one loop and checks it against the cut written out here: parts =
 * min(threads, n / min_part) (1 below 2 * min_part), each part
 * ceil(n / parts) rounded up to the grain, the last one shorter. */
static void check_loop(int threads, int64_t n, int64_t grain, int64_t min_part) {
    ol_set_threads(threads);
    visit v;
    memset(&v, 0, sizeof v);
    v.n = n;
    v.seen = calloc((size_t)(n > 0 ? n : 1), 1);
    assert_non_null(v.seen);
    int64_t want = n < 2 * min_part ? 1 : n / min_part < threads ? n / min_part : threads;
    assert_int_equal(ol_parallel_parts(n, min_part), want);
    ol_parallel_for(n, grain, min_part, mark, &v);
    for (int64_t i = 0; i < n; i++)
        if (v.seen[i] != 1) fail_msg("n=%lld element %lld visited %d times", (long long)n, (long long)i, v.seen[i]);
    if (n > 0 && want > 1) {
        int64_t chunk = (n + want - 1) / want;
        chunk = (chunk + grain - 1) / grain * grain;
        for (int k = 0; k < want; k++) {
            int64_t b = k * chunk, e = b + chunk < n ? b + chunk : n;
            if (b >= e) continue;
            assert_int_equal(v.calls[k], 1);
            assert_int_equal(v.begin[k], b);
            assert_int_equal(v.end[k], e);
            assert_int_equal(v.begin[k] % grain, 0);
        }
    } else if (n > 0) {
        assert_int_equal(v.calls[0], 1);
        assert_int_equal(v.begin[0], 0);
        assert_int_equal(v.end[0], n);
    }
    free(v.seen);
}

static void test_cover(void **state) {
    (void)state;
    const int64_t ns[] = {0, 1, 63, 64, 65, 1000, 4096, 100003, (1 << 20) + 7};
    const int64_t grains[] = {1, 64, 1000};
    const int64_t mins[] = {1, 64, 16384};
    for (int t = 1; t <= 4; t++)
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (size_t b = 0; b < sizeof grains / sizeof grains[0]; b++)
                for (size_t c = 0; c < sizeof mins / sizeof mins[0]; c++)
                    check_loop(t, ns[a], grains[b], mins[c]);
    ol_set_threads(1);
}

/* With two threads the two parts run on two different threads, the
 * caller one of them. */
static void test_two_threads(void **state) {
    (void)state;
    ol_set_threads(2);
    visit v;
    memset(&v, 0, sizeof v);
    v.n = 1 << 16;
    v.seen = calloc((size_t)v.n, 1);
    ol_parallel_for(v.n, OL_PARALLEL_ALIGN, 1024, mark, &v);
    assert_int_equal(v.calls[0] + v.calls[1], 2);
    assert_false(pthread_equal(v.who[0], v.who[1]));
    assert_true(pthread_equal(v.who[0], pthread_self()) || pthread_equal(v.who[1], pthread_self()));
    free(v.seen);
    ol_set_threads(1);
}

static void sleep_ms(int ms) {
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Jobs after the workers have gone to sleep, after the BLAS signal, and
 * after a shutdown (the workers start again). */
static void test_sleep_signal_restart(void **state) {
    (void)state;
    for (int round = 0; round < 6; round++) {
        if (round % 3 == 1) sleep_ms(5); /* past the polling time */
        if (round % 3 == 2) ol_parallel_blas_threads();
        if (round == 4) ol_parallel_shutdown();
        check_loop(2, 200000, OL_PARALLEL_ALIGN, 16384);
    }
    ol_parallel_shutdown();
    ol_parallel_shutdown(); /* twice is harmless */
    check_loop(3, 300000, OL_PARALLEL_ALIGN, 16384);
    ol_parallel_shutdown();
    ol_set_threads(1);
}

/* A loop started from inside a part runs on that thread alone. */
typedef struct nested {
    visit inner[OL_PARALLEL_MAXPARTS];
} nested;

static void outer_part(void *p, int64_t b, int64_t e, int part) {
    nested *x = p;
    visit *v = &x->inner[part];
    v->n = e - b;
    v->seen = calloc((size_t)v->n, 1);
    if (v->seen) ol_parallel_for(v->n, 1, 1, mark, v);
}

static void test_nested(void **state) {
    (void)state;
    ol_set_threads(2);
    nested x;
    memset(&x, 0, sizeof x);
    ol_parallel_for(4096, 64, 1024, outer_part, &x);
    for (int k = 0; k < 2; k++) {
        visit *v = &x.inner[k];
        assert_non_null(v->seen);
        for (int64_t i = 0; i < v->n; i++) assert_int_equal(v->seen[i], 1);
        /* inside a part the pool is taken: each inner loop ran in one piece */
        assert_int_equal(v->calls[0], 1);
        for (int j = 0; j < OL_PARALLEL_MAXPARTS; j++) assert_true(v->calls[j] <= 1);
        free(v->seen);
    }
    ol_set_threads(1);
}

/* Two callers at once: the one that finds the pool busy runs alone; both
 * loops are complete. */
static void *caller(void *arg) {
    visit *v = arg;
    for (int r = 0; r < 50; r++) {
        memset(v->seen, 0, (size_t)v->n);
        ol_parallel_for(v->n, OL_PARALLEL_ALIGN, 1024, mark, v);
        for (int64_t i = 0; i < v->n; i++)
            if (v->seen[i] != 1) return (void *)1;
    }
    return NULL;
}

static void test_two_callers(void **state) {
    (void)state;
    ol_set_threads(2);
    visit a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.n = b.n = 100000;
    a.seen = calloc((size_t)a.n, 1);
    b.seen = calloc((size_t)b.n, 1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, caller, &a), 0);
    void *rb = caller(&b), *ra;
    pthread_join(t, &ra);
    assert_null(ra);
    assert_null(rb);
    free(a.seen);
    free(b.seen);
    ol_parallel_shutdown();
    ol_set_threads(1);
}

/* A child of fork() has no workers: its first loop starts its own rather
 * than waiting for the parent's. The child reports by its exit status and
 * is killed by an alarm if it hangs. */
/* ol_sum_squares_par against a sum in long double, and alike on any
 * thread count, for sizes around the chunk's. */
static void test_sum_squares_par(void **state) {
    (void)state;
    const int64_t sizes[] = {0, 1, 100, OL_SUMSQ_CHUNK, OL_SUMSQ_CHUNK + 1, 5 * OL_SUMSQ_CHUNK + 77};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        const int64_t n = sizes[k];
        float *x = malloc(sizeof(float) * (size_t)(n + 1));
        double *scratch = malloc(sizeof(double) * (size_t)(ol_sum_squares_chunks(n) + 1));
        assert_non_null(x);
        assert_non_null(scratch);
        long double ref = 0;
        for (int64_t i = 0; i < n; i++) {
            x[i] = (float)((double)((i * 7919) % 1013) / 97.0 - 5.0);
            ref += (long double)x[i] * (long double)x[i];
        }
        double got[3];
        for (int t = 1; t <= 3; t++) {
            ol_set_threads(t);
            got[t - 1] = ol_sum_squares_par(OL_F32, x, n, scratch);
        }
        assert_true(fabsl((long double)got[0] - ref) <= 1e-13L * (ref + 1));
        assert_memory_equal(&got[0], &got[1], sizeof got[0]);
        assert_memory_equal(&got[0], &got[2], sizeof got[0]);
        free(x);
        free(scratch);
    }
    ol_set_threads(1);
}

static void test_fork(void **state) {
    (void)state;
    check_loop(2, 200000, OL_PARALLEL_ALIGN, 16384); /* the parent has a worker */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        ol_set_threads(2);
        visit v;
        memset(&v, 0, sizeof v);
        v.n = 200000;
        v.seen = calloc((size_t)v.n, 1);
        ol_parallel_for(v.n, OL_PARALLEL_ALIGN, 16384, mark, &v);
        for (int64_t i = 0; i < v.n; i++)
            if (v.seen[i] != 1) _exit(2);
        _exit(v.calls[0] + v.calls[1] == 2 ? 0 : 3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    ol_set_threads(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cover),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_sleep_signal_restart),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_two_callers),
        cmocka_unit_test(test_fork),
        cmocka_unit_test(test_sum_squares_par),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
