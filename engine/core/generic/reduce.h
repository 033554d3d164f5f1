/* The kernels of reduce.c (see reduce.h), written once for T
 * (core/generic.h). */

/* A single running sum is a chain of dependent adds, one add's latency per
 * element. Four vectors of 8 doubles (GCC/Clang vector extensions, so that
 * the accumulators stay in registers) give 32 independent chains, summed
 * in a fixed order at the end. */
static double S(sum_squares)(const T *restrict p, int64_t n) {
#if defined(__GNUC__)
    typedef T in8 __attribute__((vector_size(8 * sizeof(T))));
    sumsq_v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        in8 y0, y1, y2, y3; /* unaligned loads */
        memcpy(&y0, p + i, sizeof y0);
        memcpy(&y1, p + i + 8, sizeof y1);
        memcpy(&y2, p + i + 16, sizeof y2);
        memcpy(&y3, p + i + 24, sizeof y3);
        sumsq_v8 x0 = __builtin_convertvector(y0, sumsq_v8);
        sumsq_v8 x1 = __builtin_convertvector(y1, sumsq_v8);
        sumsq_v8 x2 = __builtin_convertvector(y2, sumsq_v8);
        sumsq_v8 x3 = __builtin_convertvector(y3, sumsq_v8);
        a0 += x0 * x0;
        a1 += x1 * x1;
        a2 += x2 * x2;
        a3 += x3 * x3;
    }
    double s = 0;
    for (; i < n; i++) s += (double)p[i] * (double)p[i];
    for (int k = 0; k < 8; k++) s += (a0[k] + a1[k]) + (a2[k] + a3[k]);
    return s;
#else
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)p[i] * (double)p[i];
    return s;
#endif
}

/* x * 0 is 0 for a finite x and NaN for ±Inf and NaN, so a sum of such
 * products is NaN exactly when an element is not finite, and it cannot
 * overflow. No conversions and one stream, so cheaper than sum_squares.
 * 64-byte vectors, four accumulators; the scalar tail joins the same sum. */
static int S(all_finite)(const T *restrict p, int64_t n) {
#if defined(__GNUC__)
    typedef T vec __attribute__((vector_size(64)));
    enum { L = 64 / sizeof(T) };
    vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, x0, x1, x2, x3;
    int64_t i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
        memcpy(&x0, p + i, sizeof x0); /* unaligned loads */
        memcpy(&x1, p + i + L, sizeof x1);
        memcpy(&x2, p + i + 2 * L, sizeof x2);
        memcpy(&x3, p + i + 3 * L, sizeof x3);
        a0 += x0 * 0;
        a1 += x1 * 0;
        a2 += x2 * 0;
        a3 += x3 * 0;
    }
    T s = 0;
    for (; i < n; i++) s += p[i] * 0;
    a0 += a1 + a2 + a3;
    for (int k = 0; k < L; k++) s += a0[k];
    return s == 0;
#else
    T s = 0;
    for (int64_t i = 0; i < n; i++) s += p[i] * 0;
    return s == 0;
#endif
}
