/* Linear layer y = x W^T + b (torch.nn.Linear's layout), forward and
 * backward side by side in generic/linear.h, instantiated for f32 and f64
 * over OpenBLAS (cblas_?gemm, ?gemv).
 *
 * Threads: each product runs on OpenBLAS's single-threaded path, and a
 * product big enough to share is cut into contiguous blocks of rows or
 * columns of its result, one per thread of the engine's own pool
 * (core/parallel.h). OpenBLAS's threads stay asleep through a training step.
 * Against OpenBLAS's own 2-thread split of the same products this measured
 * faster on the 2-core machine of bench/RESULTS.md, both for single
 * products and for whole training steps (with the optimizer's step cut
 * the same way, engine/optim/optim.c): the parts need no synchronisation
 * inside the product, and OpenBLAS's threads, which wait for work with
 * sched_yield, do not take turns on a core with the pool's worker during
 * the optimizer step.
 * A product of fewer than 2^19 multiply-adds, or with no side of 32, runs
 * on one thread: a part must outlast the pool's handoff (a few
 * microseconds). Cutting the rows or columns of the result leaves every
 * element's sum over k in the order of the whole product, so a cut
 * product equals the uncut one bit for bit, except where a part is small
 * enough for OpenBLAS's small-matrix kernels (10^6 multiply-adds), which
 * sum in another order: there 1 and 2 threads differ in the last bits
 * (tests/engine/test_nn_linear_split.c). Waiting for 2^21 multiply-adds
 * would keep the bits but measured slower at batch 16 and 1024.
 * A bias gradient summed over the rows of a product cut along its rows is
 * summed per group of OL_GROUP_ROWS rows, and the groups in order after
 * (kernels.h), so it too has the same bits on any number of threads; with
 * that, the input gradients at batch 1024 are cut along their rows, which
 * measured faster than cutting their columns. */
#include <string.h>

#include "nn/kernels.h"
#include "core/parallel.h"
#include "core/threads.h"

#define SPLIT_MIN_MACS ((int64_t)1 << 19)
#define SPLIT_MIN_SIDE 32

/* Whether a product of an m x k by a k x n matrix is cut over the pool. */
static int split_product(int64_t m, int64_t n, int64_t k) {
    return (m >= SPLIT_MIN_SIDE || n >= SPLIT_MIN_SIDE) && m * n * k >= SPLIT_MIN_MACS;
}

/* Batch 1's products stream over W once (gemv, the outer product): cut
 * once W has SPLIT_STREAM elements. */
#ifndef SPLIT_STREAM
#define SPLIT_STREAM ((int64_t)1 << 16)
#endif
static int split_stream(int64_t elements) { return elements >= SPLIT_STREAM; }

/* A weight gradient dW = dz^T x is cut along its rows (each part the
 * weights of its own outputs) while x has at most DW_ROWS_MAX_X elements,
 * although every part then packs all of x: the part of dW a core makes is
 * then the part of the weights it reads in the forward product (cut along
 * the outputs too) and nearly the part the optimizer's step gives it, so
 * fewer cache lines move between the cores. On the 2-core machine this
 * measured faster than cutting the columns at batch 16 and 128; at batch
 * 1024, where x is 3.2 MB, it measured slower, so there the columns are
 * cut. */
#define DW_ROWS_MAX_X ((int64_t)1 << 18)

/* Parts start on multiples of 16 rows or columns (a 64-byte line of
 * f32). */
#define SPLIT_GRAIN 16
_Static_assert(SPLIT_GRAIN % OL_GROUP_ROWS == 0, "a part must start a group of rows");

/* A forward product with at most THIN_MAX_COLS outputs (a classifier's
 * last layer) runs in blocks of THIN_ROWS rows: OpenBLAS 0.3.21 sends
 * x W^T with 10 outputs to its small-matrix kernel only up to 120 rows and
 * packs bigger ones for a kernel that wastes most of its 16 x 4 tile on
 * them (measured on the 2-core machine: blocks of 64 rows beat one
 * packed product at 128 rows and more). */
#define THIN_MAX_COLS 16
#define THIN_ROWS 64

/* OpenBLAS on one thread for the products the nn layer makes (cut or
 * not): blas_one_thread before them returns the user's setting, and
 * blas_restore after them puts it back. */
static int blas_one_thread(void) {
    const int all = ol_get_threads();
    if (all > 1) ol_blas_set_threads(1);
    return all;
}

static void blas_restore(int all) {
    if (all > 1) ol_blas_set_threads(all);
}

#define OL_GENERIC "nn/generic/linear.h"
#include "core/generic.h"
