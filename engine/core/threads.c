/* Thread settings: one count for the engine's worker pool (parallel.c) and
 * OpenBLAS, set together. The engine keeps its own copy because the nn
 * layer runs OpenBLAS on one thread while it cuts the products over the
 * pool (engine/nn/linear.c); until the first setting, the count is
 * OpenBLAS's default (all cores, or OPENBLAS_NUM_THREADS). */
#include "core/threads.h"

#include <unistd.h>

#include <cblas.h>

/* openblas_set_num_threads is declared by OpenBLAS's cblas.h. */

int ol_num_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int engine_threads; /* 0: not set yet */

void ol_set_threads(int n) {
    if (n < 1) n = ol_num_cores();
    engine_threads = n;
    openblas_set_num_threads(n);
}

int ol_get_threads(void) {
    if (!engine_threads) engine_threads = openblas_get_num_threads();
    return engine_threads;
}

void ol_blas_set_threads(int n) {
    ol_get_threads(); /* fixes the user's count before OpenBLAS's changes */
    openblas_set_num_threads(n);
}

const char *ol_blas_config(void) {
    const char *s = openblas_get_config();
    return s ? s : "OpenBLAS";
}

const char *ol_blas_core(void) {
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}
