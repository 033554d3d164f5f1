/* Reductions over contiguous arrays (see reduce.h); the kernels are in
 * core/generic/reduce.h, instantiated here for float and double. */
#include "core/reduce.h"

#include <string.h>

#if defined(__GNUC__)
typedef double sumsq_v8 __attribute__((vector_size(64)));
#endif

#define OL_GENERIC "core/generic/reduce.h"
#include "core/generic.h"

double ol_sum_squares(ol_dtype dt, const void *p, int64_t n) {
    return OL_DT_CALL(dt, sum_squares, p, n);
}

int ol_all_finite(ol_dtype dt, const void *p, int64_t n) {
    return OL_DT_CALL(dt, all_finite, p, n);
}
