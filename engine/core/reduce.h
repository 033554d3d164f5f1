/* Reductions over plain contiguous arrays of either dtype, for the hot
 * loops that hold a flat buffer rather than a tensor (the training loop's
 * checks of the gradient). The tensor reductions (tensor.h: ol_reduce_all,
 * ol_norm) iterate over any layout; these read one contiguous run.
 *
 * Each sums in a fixed order that depends on n alone, so a result depends
 * on the data alone: the same on every run and at every thread count. */
#ifndef OL_REDUCE_H
#define OL_REDUCE_H

#include <stdint.h>

#include "core/tensor.h"

/* The sum of p[i]^2 over the n values at p (float or double by dt),
 * accumulated in double. */
double ol_sum_squares(ol_dtype dt, const void *p, int64_t n);

/* The same sum cut over the engine's threads (core/parallel.h): the n
 * values in chunks of OL_SUMSQ_CHUNK, each summed as ol_sum_squares sums
 * it into scratch[chunk] (ol_sum_squares_chunks(n) doubles), then the
 * chunks' sums added in chunk order, so that the result is the same on any
 * number of threads (and differs from ol_sum_squares' only by rounding). */
#define OL_SUMSQ_CHUNK 16384
int64_t ol_sum_squares_chunks(int64_t n);
double ol_sum_squares_par(ol_dtype dt, const void *p, int64_t n, double *scratch);

/* 1 when every one of the n values at p is finite, 0 when one is ±Inf or
 * NaN. */
int ol_all_finite(ol_dtype dt, const void *p, int64_t n);

#endif
