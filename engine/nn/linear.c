/* Linear layer y = x W^T + b (torch.nn.Linear's layout), forward and
 * backward side by side in generic/linear.h, instantiated for f32 and f64
 * over OpenBLAS (cblas_?gemm, ?gemv, ?ger). */
#include <string.h>

#include <cblas.h>

#include "kernels.h"
#include "threads.h"

/* Threads for one product of an m x k by a k x n matrix. OpenBLAS splits a
 * GEMM over all its threads once m*n*k passes a small fixed threshold, but
 * on thin shapes the split costs more than it saves: measured on a 2-core
 * Haswell-class machine (bench/bench_ceiling.c, /tmp shape sweeps, see
 * bench/RESULTS.md), a second thread made the 128->10 layer's products at
 * batch 1024 2-7x slower, the batch-16 and 256->128-at-batch-128 products
 * 0.6-1.6x (faster when the other core is idle, slower when it is busy),
 * and batch-1 gemv/ger calls up to 3x slower under load, while the large
 * products (784->256 at batch >= 128, 256->128 at 1024) gain 1.6-1.9x.
 * So: all threads only for products of at least 2^23 multiply-adds with
 * every side >= 64; one thread otherwise. The setting is lowered for the
 * call and restored, so ol_get_threads() still reports the user's choice;
 * results do not depend on it (OpenBLAS splits the output, not the sums). */
static int gemm_threads(int64_t m, int64_t n, int64_t k) {
    int64_t lo = m < n ? m : n;
    if (k < lo) lo = k;
    return lo >= 64 && m * n * k >= ((int64_t)1 << 23) ? 0 : 1;
}

/* Runs one BLAS call with the thread count gemm_threads picks (0: all). */
#define WITH_THREADS(m, n, k, call)                                     \
    do {                                                                \
        int all_ = ol_get_threads(), one_ = gemm_threads(m, n, k) && all_ > 1; \
        if (one_) ol_set_threads(1);                                    \
        call;                                                           \
        if (one_) ol_set_threads(all_);                                 \
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
