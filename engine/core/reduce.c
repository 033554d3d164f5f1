/* Reductions over contiguous arrays (see reduce.h); the kernels are in
 * reduce_generic.h, instantiated here for float and double. */
#include "core/reduce.h"

#include <string.h>

#if defined(__GNUC__)
typedef double sumsq_v8 __attribute__((vector_size(64)));
#endif

#define T float
#define SFX f32
#include "core/reduce_generic.h"
#undef SFX
#undef T

#define T double
#define SFX f64
#include "core/reduce_generic.h"
#undef SFX
#undef T

double ol_sum_squares(ol_dtype dt, const void *p, int64_t n) {
    return dt == OL_F32 ? sum_squares_f32(p, n) : sum_squares_f64(p, n);
}

int ol_all_finite(ol_dtype dt, const void *p, int64_t n) {
    return dt == OL_F32 ? all_finite_f32(p, n) : all_finite_f64(p, n);
}
