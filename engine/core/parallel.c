/* The engine's worker pool (see parallel.h).
 *
 * A job is published by bumping a generation counter; each worker runs its
 * part of the job of the generation it sees and counts itself done. Every
 * worker acknowledges every job, even one without a part for it, so that
 * no worker can still be reading one job's fields when the next is posted.
 *
 * Waiting, as measured on the 2-core machine of bench/RESULTS.md: at
 * batch 1 a training step posts jobs so often that waking a sleeping
 * thread for each would take a large share of the step, so an idle worker
 * polls (a pause loop) for up to SPIN_NS, then sleeps on a condition
 * variable. It stops polling early in two cases:
 *  - a matrix product is about to run on OpenBLAS's threads (ol.mm calls
 *    ol_parallel_blas_threads; the nn layer and the curvature products cut
 *    their products over this pool instead): a polling worker would take
 *    a core from them and halve the product's speed;
 *  - it finds itself on the CPU the job was posted from: polling there
 *    takes the poster's time, and the scheduler may keep the two together
 *    for seconds (slowing a whole batch-1 run badly), while a thread
 *    woken from sleep is placed on an idle CPU.
 * The poster waits for the workers by polling too, yielding now and then
 * in case a worker shares its CPU. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getcpu */
#endif
#include "core/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "core/threads.h"

#define MAX_WORKERS (OL_PARALLEL_MAXPARTS - 1)
/* Polling time of an idle worker before it sleeps. */
#define SPIN_NS 200000

static struct {
    pthread_mutex_t mu;   /* guards starting, stopping and sleeping */
    pthread_cond_t wake;
    pthread_mutex_t busy; /* held by the thread posting a job */
    pthread_t th[MAX_WORKERS];
    uint_least64_t born[MAX_WORKERS]; /* gen when worker k was started */
    int nworkers;
    atomic_uint_least64_t gen; /* the job's number */
    atomic_int pending;        /* workers that have not finished the job */
    atomic_int sleepers;
    atomic_int stop;
    atomic_int blas;       /* set by ol_parallel_blas_threads: idle workers sleep */
    atomic_int poster_cpu; /* the CPU the last job was posted from */
    /* the job, written before gen is bumped */
    ol_range_fn fn;
    void *ctx;
    int64_t n, chunk;
    int parts;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .busy = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local int in_worker;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

/* The caller runs the last part, worker k the part before the caller's
 * k-th: in a training step the caller has just written the gradient from
 * its end (the last layers) back to its start, and a model's small last
 * layers are the ones the caller reads and writes in forward and backward
 * anyway, so the caller keeping them moves the fewest cache lines between
 * cores (measured faster at batch 1 than the caller running the first
 * part). */
static void run_part(int k) {
    int part = pool.parts - 1 - k;
    if (part < 0) return;
    int64_t begin = (int64_t)part * pool.chunk;
    int64_t end = begin + pool.chunk < pool.n ? begin + pool.chunk : pool.n;
    if (begin < end) pool.fn(pool.ctx, begin, end, part);
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int current_cpu(void) {
#if defined(__linux__)
    return sched_getcpu();
#else
    return -1;
#endif
}

/* Waits until gen differs from seen; returns the new value. Polls for
 * SPIN_NS unless OpenBLAS is about to need the cores or this thread finds
 * itself on the poster's CPU (where polling would take the poster's time:
 * asleep, it is woken on a free CPU), then sleeps. */
static uint_least64_t wait_job(uint_least64_t seen) {
    uint_least64_t g;
    double t0 = now_ns();
    for (int i = 1;; i++) {
        if ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) != seen) return g;
        cpu_relax();
        if ((i & 63) == 0 &&
            (atomic_load_explicit(&pool.blas, memory_order_relaxed) || now_ns() - t0 > SPIN_NS ||
             current_cpu() == atomic_load_explicit(&pool.poster_cpu, memory_order_relaxed)))
            break;
    }
    pthread_mutex_lock(&pool.mu);
    atomic_fetch_add(&pool.sleepers, 1);
    while ((g = atomic_load(&pool.gen)) == seen) pthread_cond_wait(&pool.wake, &pool.mu);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.mu);
    return g;
}

void ol_parallel_blas_threads(void) {
    if (!atomic_load_explicit(&pool.blas, memory_order_relaxed))
        atomic_store_explicit(&pool.blas, 1, memory_order_relaxed);
}

static void *worker(void *arg) {
    const int part = (int)(intptr_t)arg;
    uint_least64_t seen = pool.born[part - 1];
    in_worker = 1;
    for (;;) {
        seen = wait_job(seen);
        if (atomic_load(&pool.stop)) break;
        run_part(part);
        atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_release);
    }
    return NULL;
}

/* A child of fork() has none of the parent's workers: it starts with an
 * empty pool (and fresh locks, which the fork may have caught held). */
static void after_fork_in_child(void) {
    pthread_mutex_init(&pool.mu, NULL);
    pthread_mutex_init(&pool.busy, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pool.nworkers = 0;
    atomic_store(&pool.pending, 0);
    atomic_store(&pool.sleepers, 0);
    atomic_store(&pool.stop, 0);
}

static void register_fork_handler(void) { pthread_atfork(NULL, NULL, after_fork_in_child); }

/* Starts workers until there are `want` (called with busy held). */
static void grow(int want) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork_handler);
    if (want > MAX_WORKERS) want = MAX_WORKERS;
    pthread_mutex_lock(&pool.mu);
    while (pool.nworkers < want) {
        /* The job about to be posted is the first it must run. */
        pool.born[pool.nworkers] = atomic_load(&pool.gen);
        if (pthread_create(&pool.th[pool.nworkers], NULL, worker,
                           (void *)(intptr_t)(pool.nworkers + 1)) != 0)
            break; /* run with the workers there are */
        pool.nworkers++;
    }
    pthread_mutex_unlock(&pool.mu);
}

int ol_parallel_parts(int64_t n, int64_t min_part) {
    if (min_part < 1) min_part = 1;
    int threads = ol_get_threads();
    if (threads <= 1 || in_worker || n < 2 * min_part) return 1;
    int64_t parts = n / min_part;
    if (parts > threads) parts = threads;
    if (parts > MAX_WORKERS + 1) parts = MAX_WORKERS + 1;
    return (int)parts;
}

void ol_parallel_for(int64_t n, int64_t grain, int64_t min_part, ol_range_fn fn, void *ctx) {
    int parts = ol_parallel_parts(n, min_part);
    if (parts > 1 && pthread_mutex_trylock(&pool.busy) != 0) parts = 1;
    if (parts <= 1) {
        if (n > 0) fn(ctx, 0, n, 0);
        return;
    }
    if (pool.nworkers < parts - 1) grow(parts - 1);
    if (pool.nworkers < parts - 1) parts = pool.nworkers + 1;
    int64_t chunk = (n + parts - 1) / parts;
    if (grain < 1) grain = 1;
    chunk = (chunk + grain - 1) / grain * grain;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.chunk = chunk;
    pool.parts = parts;
    atomic_store(&pool.pending, pool.nworkers);
    atomic_store_explicit(&pool.blas, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.poster_cpu, current_cpu(), memory_order_relaxed);
    atomic_fetch_add(&pool.gen, 1); /* seq_cst: ordered before reading sleepers */
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.mu);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.mu);
    }
    run_part(0);
    /* The workers' parts take about as long as ours: poll, and give the
     * core away if a worker shares it. */
    for (int i = 1; atomic_load_explicit(&pool.pending, memory_order_acquire) > 0; i++) {
        cpu_relax();
        if ((i & 255) == 0) sched_yield();
    }
    pthread_mutex_unlock(&pool.busy);
}

void ol_parallel_shutdown(void) {
    pthread_mutex_lock(&pool.busy);
    if (pool.nworkers > 0) {
        atomic_store(&pool.stop, 1);
        pthread_mutex_lock(&pool.mu);
        atomic_fetch_add(&pool.gen, 1);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.mu);
        for (int i = 0; i < pool.nworkers; i++) pthread_join(pool.th[i], NULL);
        pool.nworkers = 0;
        atomic_store(&pool.stop, 0);
    }
    pthread_mutex_unlock(&pool.busy);
}
