/* The engine's own worker threads, for the passes that stream over a flat
 * buffer once (optimizer updates, the gradient norm): a loop over [0, n) is
 * cut into one contiguous part per thread and the parts run at the same
 * time, the caller doing the first. OpenBLAS keeps its own pool for the
 * matrix products; this one only ever runs between them.
 *
 * How many threads: ol_get_threads() (threads.h), the user's setting, so
 * that --threads 1 means one thread for everything. A loop of fewer than
 * 2 * min_part elements runs on the caller alone.
 *
 * Results must not depend on the cut: a part's work may only touch its own
 * elements, and a reduction must sum in an order that does not depend on
 * the number of parts (ol_sum_squares in reduce.h cuts its sums into
 * blocks fixed by n alone). Element loops cut on multiples of
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

/* Runs fn over [0, n) in ol_parallel_parts(n, min_part) parts, each
 * starting on a multiple of grain (>= 1), and returns when every part is
 * done. Element loops pass OL_PARALLEL_ALIGN as the grain. */
void ol_parallel_for(int64_t n, int64_t grain, int64_t min_part, ol_range_fn fn, void *ctx);

/* Called before a BLAS call on more than one thread: OpenBLAS's threads
 * are about to need the cores, so idle workers stop polling and sleep
 * until the next job. */
void ol_parallel_blas_threads(void);

/* Stops and joins the workers (they start again on the next call that
 * needs them). For tests and for ol_set_threads lowering the count. */
void ol_parallel_shutdown(void);

#endif
