/* Linear layer y = x W^T + b (torch.nn.Linear's layout), forward and
 * backward side by side in generic/linear.h, instantiated for f32 and f64
 * over OpenBLAS (cblas_?gemm, ?gemv, ?ger). */
#include <string.h>

#include <cblas.h>

#include "kernels.h"

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
