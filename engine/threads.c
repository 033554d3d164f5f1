/* Thread settings, kept by OpenBLAS: the engine's worker pool
 * (parallel.c) reads the same count, so one setting governs both. */
#include "threads.h"

#include <unistd.h>

#include <cblas.h>

/* openblas_set_num_threads is declared by OpenBLAS's cblas.h. */

int ol_num_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void ol_set_threads(int n) {
    if (n < 1) n = ol_num_cores();
    openblas_set_num_threads(n);
}

int ol_get_threads(void) {
    return openblas_get_num_threads();
}
