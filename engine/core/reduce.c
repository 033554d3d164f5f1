/* Reductions over contiguous arrays (see reduce.h); the kernels are in
 * core/generic/reduce.h, instantiated here for float and double. */
#include "core/reduce.h"

#include <string.h>

#include "core/parallel.h"

#if defined(__GNUC__)
typedef double sumsq_v8 __attribute__((vector_size(64)));
#endif

#define OL_GENERIC "core/generic/reduce.h"
#include "core/generic.h"

double ol_sum_squares(ol_dtype dt, const void *p, int64_t n) {
    return OL_DT_CALL(dt, sum_squares, p, n);
}

int64_t ol_sum_squares_chunks(int64_t n) {
    return (n + OL_SUMSQ_CHUNK - 1) / OL_SUMSQ_CHUNK;
}

typedef struct sumsq_job {
    ol_dtype dt;
    const char *p;
    int64_t n;
    double *sums;
} sumsq_job;

/* Parts are whole chunks (the grain), so a chunk never straddles two. */
static void sumsq_part(void *ctx, int64_t begin, int64_t end, int part) {
    (void)part;
    const sumsq_job *j = ctx;
    const size_t es = ol_dtype_size(j->dt);
    for (int64_t c = begin / OL_SUMSQ_CHUNK; c * OL_SUMSQ_CHUNK < end; c++) {
        const int64_t a = c * OL_SUMSQ_CHUNK, b = a + OL_SUMSQ_CHUNK < j->n ? a + OL_SUMSQ_CHUNK : j->n;
        j->sums[c] = ol_sum_squares(j->dt, j->p + (size_t)a * es, b - a);
    }
}

double ol_sum_squares_par(ol_dtype dt, const void *p, int64_t n, double *scratch) {
    sumsq_job j = {dt, p, n, scratch};
    ol_parallel_for(n, OL_SUMSQ_CHUNK, OL_SUMSQ_CHUNK, sumsq_part, &j);
    double s = 0;
    for (int64_t c = 0; c < ol_sum_squares_chunks(n); c++) s += scratch[c];
    return s;
}

int ol_all_finite(ol_dtype dt, const void *p, int64_t n) {
    return OL_DT_CALL(dt, all_finite, p, n);
}
