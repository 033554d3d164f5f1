/* Linear layer y = x W^T + b (torch.nn.Linear's layout), forward and
 * backward side by side in generic/linear.h, instantiated for f32 and f64
 * over OpenBLAS (cblas_?gemm, ?gemv, ?ger). */
#include <string.h>

#include <cblas.h>

#include "kernels.h"
#include "parallel.h"
#include "threads.h"

/* Threads for one product of an m x k by a k x n matrix: all (0) or one.
 * OpenBLAS splits a GEMM over all its threads once m*n*k passes 65536*4,
 * but on thin or small products the split costs more than it saves.
 * Measured on the 2-core machine of bench/RESULTS.md (bench_ceiling's
 * "shape_" lines, microseconds at 1 thread / 2 threads): the 128->10
 * layer's products at batch 1024 (a side of 10) 35/40 when the other core
 * is idle and 35/102 when it is busy, while 256->128 at batch 16 (2^19
 * multiply-adds, every side >= 16) gains 12.4/7.2 and the products from
 * 4M up gain 1.5-1.9x; with this rule a batch-16 step trains 6% faster
 * than with a 2^21 threshold (A/B, bench/RESULTS.md). gemv/ger at batch 1
 * stay on one thread: threaded they win a few microseconds when the other
 * core is idle and lose 3x when it is busy. The setting is lowered for
 * the call and restored, so ol_get_threads() still reports the user's
 * choice. The choice depends on the shape alone, so a given thread setting
 * gives the same numbers run after run; different settings differ in the
 * last bits, as OpenBLAS's own split already made them. */
static int gemm_threads(int64_t m, int64_t n, int64_t k) {
    int64_t lo = m < n ? (m < k ? m : k) : (n < k ? n : k);
    return lo >= 16 && m * n * k >= ((int64_t)1 << 19) ? 0 : 1;
}

/* Runs one BLAS call with the thread count gemm_threads picks (0: all). */
#define WITH_THREADS(m, n, k, call)                                    \
    do {                                                               \
        const int all_ = ol_get_threads();                             \
        const int one_ = gemm_threads(m, n, k) && all_ > 1;            \
        if (one_) ol_set_threads(1);                                   \
        else if (all_ > 1) ol_parallel_blas_threads();                 \
        call;                                                          \
        if (one_) ol_set_threads(all_);                                \
    } while (0)

#define T float
#define S(name) name##_f32
#define GEMM cblas_sgemm
#define GEMV cblas_sgemv
#define GER cblas_sger
#include "generic/linear.h"
#undef T
#undef S
#undef GEMM
#undef GEMV
#undef GER

#define T double
#define S(name) name##_f64
#define GEMM cblas_dgemm
#define GEMV cblas_dgemv
#define GER cblas_dger
#include "generic/linear.h"
