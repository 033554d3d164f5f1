/* Thread settings: how many threads OpenBLAS and the engine's own worker
 * pool (parallel.h) may use. With the pool, the engine's other piece of
 * global state. */
#ifndef OL_THREADS_H
#define OL_THREADS_H

void ol_set_threads(int n); /* n < 1: all cores */
int ol_get_threads(void);
int ol_num_cores(void);
/* OpenBLAS's own count alone, for the engine's calls that run on one
 * thread or cut their products over the pool themselves. */
void ol_blas_set_threads(int n);
/* The BLAS the engine runs on: OpenBLAS's build line ("OpenBLAS 0.3.21
 * DYNAMIC_ARCH ...") and the name of the core whose kernels it chose for
 * this CPU ("Haswell", "SkylakeX", ...). Which kernels run decides the
 * order of the sums inside a product, so results that depend on it are
 * reported with it. */
const char *ol_blas_config(void);
const char *ol_blas_core(void);

#endif
