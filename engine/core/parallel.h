/* The engine's own worker threads: a loop over [0, n) is cut into one
 * contiguous part per thread and the parts run at the same time, the
 * caller doing the last one (parallel.c says why). The nn layer's matrix
 * products (blocks of rows or columns of the result, engine/nn/linear.c),
 * optimizer steps, the batch gather and the training loop's finiteness
 * check all run on it,
 * so a training step uses one set of threads and OpenBLAS's own stay
 * asleep, and so do the models' exact curvature products (engine/nn/rop.c);
 * other BLAS callers (ol.mm, LAPACK) use OpenBLAS's threads.
 *
 * How many threads: ol_get_threads() (threads.h), the user's setting, so
 * that --threads 1 means one thread for everything. A loop of fewer than
 * 2 * min_part elements runs on the caller alone.
 *
 * Results must not depend on the cut: a part's work may only touch its own
 * elements, and a reduction must sum in an order that does not depend on
 * the number of parts (the finiteness check combines its parts with an
 * AND, which does not). Element loops cut on multiples of
 * OL_PARALLEL_ALIGN elements, so that two threads never write the same
 * cache line and each part's vector loop starts aligned like the whole.
 *
 * The pool and its threads are the engine's thread settings (threads.h),
 * its one other global state besides the RNG. A call from a worker, or
 * from a second thread while the pool is busy, runs on the caller alone. */
#ifndef OL_PARALLEL_H
#define OL_PARALLEL_H

#include <stdint.h>

#define OL_PARALLEL_ALIGN 64
#define OL_PARALLEL_MAXPARTS 64 /* parts of one loop, whatever the threads */

/* Work on elements [begin, end); part is 0 .. parts - 1. */
typedef void (*ol_range_fn)(void *ctx, int64_t begin, int64_t end, int part);

/* The number of parts ol_parallel_for would cut n elements into: one per
 * thread, but none smaller than min_part elements. */
int ol_parallel_parts(int64_t n, int64_t min_part);

/* Runs fn over [0, n) in ol_parallel_parts(n, min_part) parts (one, part
 * 0, when called from a part or while another thread uses the pool), each
 * of ceil(n / parts) elements rounded up to a multiple of grain (>= 1) but
 * the last, and returns when every part is done. Element loops pass
 * OL_PARALLEL_ALIGN as the grain. */
void ol_parallel_for(int64_t n, int64_t grain, int64_t min_part, ol_range_fn fn, void *ctx);

/* Called before a BLAS call on OpenBLAS's threads: they are about to need
 * the cores, so idle workers stop polling and sleep until the next job. */
void ol_parallel_blas_threads(void);

/* Stops and joins the workers (they start again on the next call that
 * needs them); for tests. */
void ol_parallel_shutdown(void);

#endif
