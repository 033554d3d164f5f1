/* Type-generic row kernels for the tensor operations, written once and
 * instantiated for float and double by tensor_ops.c, which includes this
 * file twice with T (element type), SFX (f32/f64) and M(fn) (the libm
 * function for T: expf or exp) defined, the way Torch7's generic/ files did.
 *
 * Each kernel handles one row handed over by the iterator (tensor_iter.c):
 * n elements, operand k at p[k] with stride s[k]. The unit-stride and
 * broadcast-scalar cases are plain loops over restrict pointers, which the
 * compiler vectorises; the strided case is the fallback. The callers have
 * removed aliasing between a written operand and the operands it reads
 * (tensor_ops.c copies an overlapping source first), except in the unary
 * in-place kernel, which reads and writes the same element in one step and
 * therefore does not use restrict. */

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define K(name) CAT(name, SFX)

/* A unit-stride loop over i in [0, n). GCC 12 at -O2 vectorises only loops
 * whose trip count is a known multiple of the vector width (its "very
 * cheap" cost model), so the bulk runs to n rounded down to 16 and a scalar
 * tail finishes. */
#ifndef OL_VLOOP
#define OL_VLOOP(BODY)                                          \
    do {                                                        \
        const int64_t m_ = n & ~(int64_t)15;                    \
        int64_t i = 0;                                          \
        for (; i < m_; i++) { BODY; }                           \
        for (; i < n; i++) { BODY; }                            \
    } while (0)
#endif

/* out = EXPR(x, y) over a row: x from a, y from b. */
#define BIN_ROW(EXPR)                                                              \
    do {                                                                           \
        if (so == 1 && sa == 1 && sb == 1) {                                       \
            OL_VLOOP(T x = a[i]; T y = b[i]; o[i] = (EXPR)); \
        } else if (so == 1 && sa == 1 && sb == 0) {                                \
            const T y = b[0];                                                      \
            OL_VLOOP(T x = a[i]; o[i] = (EXPR));                                    \
        } else if (so == 1 && sa == 0 && sb == 1) {                                \
            const T x = a[0];                                                      \
            OL_VLOOP(T y = b[i]; o[i] = (EXPR));                                    \
        } else {                                                                   \
            for (int64_t i = 0; i < n; i++) {                                      \
                T x = a[i * sa], y = b[i * sb];                                    \
                o[i * so] = (EXPR);                                                \
            }                                                                      \
        }                                                                          \
    } while (0)

/* dst = dst op src (p[0] = dst, p[1] = src). */
#define INPLACE_ROW(EXPR)                                                          \
    do {                                                                           \
        if (so == 1 && sa == 1) {                                                  \
            OL_VLOOP(T x = o[i]; T y = a[i]; o[i] = (EXPR)); \
        } else if (so == 1 && sa == 0) {                                           \
            const T y = a[0];                                                      \
            OL_VLOOP(T x = o[i]; o[i] = (EXPR));                                    \
        } else {                                                                   \
            for (int64_t i = 0; i < n; i++) {                                      \
                T x = o[i * so], y = a[i * sa];                                    \
                o[i * so] = (EXPR);                                                \
            }                                                                      \
        }                                                                          \
    } while (0)

static void K(copy_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    (void)ctx;
    T *restrict o = (T *)p[0];
    const T *restrict a = (const T *)p[1];
    int64_t so = s[0], sa = s[1];
    if (so == 1 && sa == 1) OL_VLOOP(o[i] = a[i]);
    else if (so == 1 && sa == 0) { const T v = a[0]; OL_VLOOP(o[i] = v); }
    else for (int64_t i = 0; i < n; i++) o[i * so] = a[i * sa];
}

static void K(fill_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    T *restrict o = (T *)p[0];
    const T v = (T)((const op_ctx *)ctx)->s;
    int64_t so = s[0];
    if (so == 1) OL_VLOOP(o[i] = v);
    else for (int64_t i = 0; i < n; i++) o[i * so] = v;
}

static void K(binary_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    T *restrict o = (T *)p[0];
    const T *restrict a = (const T *)p[1];
    const T *restrict b = (const T *)p[2];
    int64_t so = s[0], sa = s[1], sb = s[2];
    switch (((const op_ctx *)ctx)->op) {
    case OL_ADD: BIN_ROW(x + y); break;
    case OL_SUB: BIN_ROW(x - y); break;
    case OL_MUL: BIN_ROW(x * y); break;
    case OL_DIV: BIN_ROW(x / y); break;
    }
}

/* out = a op s, or s op a: the scalar is the stride-0 operand of BIN_ROW. */
static void K(scalar_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const op_ctx *c = ctx;
    T *restrict o = (T *)p[0];
    const T sv = (T)c->s;
    const T *restrict a = (const T *)p[1];
    const T *restrict b = &sv;
    int64_t so = s[0], sa = s[1], sb = 0;
    if (c->scalar_first) {
        b = a; sb = sa;
        a = &sv; sa = 0;
    }
    switch (c->op) {
    case OL_ADD: BIN_ROW(x + y); break;
    case OL_SUB: BIN_ROW(x - y); break;
    case OL_MUL: BIN_ROW(x * y); break;
    case OL_DIV: BIN_ROW(x / y); break;
    }
}

static void K(binary_inplace_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    T *restrict o = (T *)p[0];
    const T *restrict a = (const T *)p[1];
    int64_t so = s[0], sa = s[1];
    switch (((const op_ctx *)ctx)->op) {
    case OL_ADD: INPLACE_ROW(x + y); break;
    case OL_SUB: INPLACE_ROW(x - y); break;
    case OL_MUL: INPLACE_ROW(x * y); break;
    case OL_DIV: INPLACE_ROW(x / y); break;
    }
}

static void K(scalar_inplace_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const op_ctx *c = ctx;
    T *restrict o = (T *)p[0];
    const T sv = (T)c->s;
    const T *restrict a = &sv;
    int64_t so = s[0], sa = 0;
    switch (c->op) {
    case OL_ADD: INPLACE_ROW(x + y); break;
    case OL_SUB: INPLACE_ROW(x - y); break;
    case OL_MUL: INPLACE_ROW(x * y); break;
    case OL_DIV: INPLACE_ROW(x / y); break;
    }
}

static void K(axpy_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    T *restrict o = (T *)p[0];
    const T *restrict a = (const T *)p[1];
    const T al = (T)((const op_ctx *)ctx)->s;
    int64_t so = s[0], sa = s[1];
    INPLACE_ROW(x + al * y);
}

/* dst += value * a * b, or value * a / b. */
static void K(addc_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const op_ctx *c = ctx;
    T *restrict o = (T *)p[0];
    const T *restrict a = (const T *)p[1];
    const T *restrict b = (const T *)p[2];
    const T v = (T)c->s;
    int64_t so = s[0], sa = s[1], sb = s[2];
    if (c->op == OL_MUL) {
        if (so == 1 && sa == 1 && sb == 1) OL_VLOOP(o[i] += v * a[i] * b[i]);
        else for (int64_t i = 0; i < n; i++) o[i * so] += v * a[i * sa] * b[i * sb];
    } else {
        if (so == 1 && sa == 1 && sb == 1) OL_VLOOP(o[i] += v * a[i] / b[i]);
        else for (int64_t i = 0; i < n; i++) o[i * so] += v * a[i * sa] / b[i * sb];
    }
}

/* NaN stays NaN: neither comparison holds for it. */
static void K(clamp_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const op_ctx *c = ctx;
    T *restrict o = (T *)p[0];
    const T lo = (T)c->s, hi = (T)c->p;
    int64_t so = s[0];
    if (so == 1) {
        OL_VLOOP(T x = o[i]; x = x < lo ? lo : x; o[i] = x > hi ? hi : x);
    } else {
        for (int64_t i = 0; i < n; i++) { T x = o[i * so]; x = x < lo ? lo : x; o[i * so] = x > hi ? hi : x; }
    }
}

static inline T K(sigmoid)(T x) {
    /* never exponentiates a large positive number */
    if (x >= 0) return (T)1 / ((T)1 + M(exp)(-x));
    T e = M(exp)(x);
    return e / ((T)1 + e);
}

static inline T K(sign)(T x) { return x > 0 ? (T)1 : x < 0 ? (T)-1 : x; /* 0 and NaN kept */ }

/* In place (p[0] == p[1]) a contiguous row is read and written through one
 * restrict pointer; a fresh output never aliases its input. */
#define UN_ROW(EXPR)                                                               \
    do {                                                                           \
        if (so == 1 && sa == 1 && (char *)o == (const char *)a) {                 \
            T *restrict io = o;                                                    \
            OL_VLOOP(T x = io[i]; io[i] = (EXPR));                                 \
        } else if (so == 1 && sa == 1) {                                           \
            T *restrict ro = o;                                                    \
            const T *restrict ra = a;                                              \
            OL_VLOOP(T x = ra[i]; ro[i] = (EXPR));                                 \
        } else {                                                                   \
            for (int64_t i = 0; i < n; i++) { T x = a[i * sa]; o[i * so] = (EXPR); } \
        }                                                                          \
    } while (0)

static void K(unary_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const op_ctx *c = ctx;
    T *o = (T *)p[0];
    const T *a = (const T *)p[1];
    const T pw = (T)c->p;
    int64_t so = s[0], sa = s[1];
    switch ((ol_unop)c->op) {
    case OL_NEG: UN_ROW(-x); break;
    case OL_ABS: UN_ROW(M(fabs)(x)); break;
    case OL_SQRT: UN_ROW(M(sqrt)(x)); break;
    case OL_EXP: UN_ROW(M(exp)(x)); break;
    case OL_LOG: UN_ROW(M(log)(x)); break;
    case OL_TANH: UN_ROW(M(tanh)(x)); break;
    case OL_SIGMOID: UN_ROW(K(sigmoid)(x)); break;
    case OL_SIGN: UN_ROW(K(sign)(x)); break;
    case OL_POW:
        if (pw == (T)2) UN_ROW(x * x);
        else UN_ROW(M(pow)(x, pw));
        break;
    }
}

/* ---- reductions: accumulate in double ---- */

static void K(sum_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    red_ctx *c = ctx;
    const T *a = (const T *)p[0];
    int64_t sa = s[0];
    double acc = 0;
    if (sa == 1) {
        /* eight independent partial sums: no loop-carried latency chain,
         * and the same order (so the same result) on every run */
        double part[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) part[j] += (double)a[i + j];
        for (; i < n; i++) acc += (double)a[i];
        acc += ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    } else {
        for (int64_t i = 0; i < n; i++) acc += (double)a[i * sa];
    }
    c->acc += acc;
}

/* First extreme wins; a NaN counts as the extreme and sticks (the first
 * NaN is the result), so NaN propagates through max/min/argmax. */
static void K(extreme_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    red_ctx *c = ctx;
    const T *a = (const T *)p[0];
    int64_t sa = s[0];
    double m = c->acc;
    int64_t at = c->at;
    if (c->op == OL_MAX) {
        for (int64_t i = 0; i < n; i++) {
            double x = (double)a[i * sa];
            if (x > m || (x != x && m == m)) { m = x; at = c->seen + i; }
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            double x = (double)a[i * sa];
            if (x < m || (x != x && m == m)) { m = x; at = c->seen + i; }
        }
    }
    c->acc = m;
    c->at = at;
    c->seen += n;
}

static void K(norm_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    red_ctx *c = ctx;
    const T *a = (const T *)p[0];
    int64_t sa = s[0];
    double acc = c->acc, pw = c->p;
    if (pw == 2) {
        for (int64_t i = 0; i < n; i++) { double x = (double)a[i * sa]; acc += x * x; }
    } else if (pw == 1) {
        for (int64_t i = 0; i < n; i++) acc += fabs((double)a[i * sa]);
    } else if (isinf(pw)) {
        for (int64_t i = 0; i < n; i++) {
            double x = fabs((double)a[i * sa]);
            if (x > acc || x != x) acc = x; /* a NaN, once in, stays */
        }
    } else if (pw == 0) {
        for (int64_t i = 0; i < n; i++) acc += a[i * sa] != 0;
    } else {
        for (int64_t i = 0; i < n; i++) acc += pow(fabs((double)a[i * sa]), pw);
    }
    c->acc = acc;
}

static void K(dot_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    red_ctx *c = ctx;
    const T *a = (const T *)p[0], *b = (const T *)p[1];
    int64_t sa = s[0], sb = s[1];
    double acc = 0;
    if (sa == 1 && sb == 1) {
        double part[8] = {0}; /* as in sum_row */
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) part[j] += (double)a[i + j] * (double)b[i + j];
        for (; i < n; i++) acc += (double)a[i] * (double)b[i];
        acc += ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    } else {
        for (int64_t i = 0; i < n; i++) acc += (double)a[i * sa] * (double)b[i * sb];
    }
    c->acc += acc;
}

/* Reduction along one dimension: each output element reduces L inputs
 * spaced c->step apart (p[0] = values, p[1] = input, p[2] = indices). */
static void K(reduce_dim_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const red_ctx *c = ctx;
    T *o = (T *)p[0];
    const T *a = (const T *)p[1];
    T *ix = c->with_indices ? (T *)p[2] : NULL;
    int64_t L = c->len, st = c->step;
    for (int64_t i = 0; i < n; i++) {
        const T *x = a + i * s[1];
        if (c->op == OL_SUM || c->op == OL_MEAN) {
            double acc = 0;
            for (int64_t j = 0; j < L; j++) acc += (double)x[j * st];
            o[i * s[0]] = (T)(c->op == OL_MEAN ? acc / (double)L : acc);
        } else {
            T m = x[0];
            int64_t at = 0;
            for (int64_t j = 1; j < L; j++) {
                T v = x[j * st];
                int better = c->op == OL_MAX ? v > m : v < m;
                if (better || (v != v && m == m)) { m = v; at = j; }
            }
            o[i * s[0]] = m;
            if (ix) ix[i * s[2]] = (T)at;
        }
    }
}

#undef UN_ROW
#undef INPLACE_ROW
#undef BIN_ROW
#undef K
#undef CAT
#undef CAT_
