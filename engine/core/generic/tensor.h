/* The row kernels of the tensor operations (tensor_ops.c), written once for
 * T (core/generic.h).
 *
 * Each kernel handles one row handed over by the iterator (tensor_iter.c):
 * n elements, operand k at p[k] with stride s[k]. The unit-stride and
 * broadcast-scalar cases are plain loops over restrict pointers, which the
 * compiler vectorises; the strided case is the fallback. The callers have
 * removed aliasing between a written operand and the operands it reads
 * (tensor_ops.c copies an overlapping source first), except in the unary
 * in-place kernel, which reads and writes the same element in one step
 * and therefore reads and writes through one pointer.
 *
 * An operator is a constant argument of an inlined loop (OL_INLINE): each
 * case of a kernel's switch calls the loop with its own operator, the
 * loop's switch folds to that one operator, and every case is then a loop
 * of its own that vectorises. */

/* x op y, op an ol_binop. */
OL_INLINE T S(binop)(int op, T x, T y) {
    switch (op) {
    case OL_ADD: return x + y;
    case OL_SUB: return x - y;
    case OL_MUL: return x * y;
    default: return x / y; /* OL_DIV */
    }
}

/* o = a op b over a row: a or b may be a broadcast scalar (stride 0). */
OL_INLINE void S(binary_loop)(int op, int64_t n, T *restrict o, int64_t so, const T *restrict a,
                              int64_t sa, const T *restrict b, int64_t sb) {
    if (so == 1 && sa == 1 && sb == 1) {
        for (int64_t i = 0; i < n; i++) o[i] = S(binop)(op, a[i], b[i]);
    } else if (so == 1 && sa == 1 && sb == 0) {
        const T y = b[0];
        for (int64_t i = 0; i < n; i++) o[i] = S(binop)(op, a[i], y);
    } else if (so == 1 && sa == 0 && sb == 1) {
        const T x = a[0];
        for (int64_t i = 0; i < n; i++) o[i] = S(binop)(op, x, b[i]);
    } else {
        for (int64_t i = 0; i < n; i++) o[i * so] = S(binop)(op, a[i * sa], b[i * sb]);
    }
}

/* o = o op a over a row: a may be a broadcast scalar. */
OL_INLINE void S(inplace_loop)(int op, int64_t n, T *restrict o, int64_t so, const T *restrict a,
                               int64_t sa) {
    if (so == 1 && sa == 1) {
        for (int64_t i = 0; i < n; i++) o[i] = S(binop)(op, o[i], a[i]);
    } else if (so == 1 && sa == 0) {
        const T y = a[0];
        for (int64_t i = 0; i < n; i++) o[i] = S(binop)(op, o[i], y);
    } else {
        for (int64_t i = 0; i < n; i++) o[i * so] = S(binop)(op, o[i * so], a[i * sa]);
    }
}

static void S(copy_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    (void)ctx;
    T *restrict o = (T *)p[0];
    const T *restrict a = (const T *)p[1];
    const int64_t so = s[0], sa = s[1];
    if (so == 1 && sa == 1) {
        for (int64_t i = 0; i < n; i++) o[i] = a[i];
    } else if (so == 1 && sa == 0) {
        const T v = a[0];
        for (int64_t i = 0; i < n; i++) o[i] = v;
    } else {
        for (int64_t i = 0; i < n; i++) o[i * so] = a[i * sa];
    }
}

static void S(fill_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    T *restrict o = (T *)p[0];
    const T v = (T)((const op_ctx *)ctx)->s;
    const int64_t so = s[0];
    if (so == 1) {
        for (int64_t i = 0; i < n; i++) o[i] = v;
    } else {
        for (int64_t i = 0; i < n; i++) o[i * so] = v;
    }
}

/* p[0] = p[1] op p[2]. */
static void S(binary_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    T *o = (T *)p[0];
    const T *a = (const T *)p[1], *b = (const T *)p[2];
    switch (((const op_ctx *)ctx)->op) {
    case OL_ADD: S(binary_loop)(OL_ADD, n, o, s[0], a, s[1], b, s[2]); break;
    case OL_SUB: S(binary_loop)(OL_SUB, n, o, s[0], a, s[1], b, s[2]); break;
    case OL_MUL: S(binary_loop)(OL_MUL, n, o, s[0], a, s[1], b, s[2]); break;
    case OL_DIV: S(binary_loop)(OL_DIV, n, o, s[0], a, s[1], b, s[2]); break;
    }
}

/* p[0] = p[1] op s, or s op p[1]: the scalar is a stride-0 operand. */
static void S(scalar_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const op_ctx *c = ctx;
    T *o = (T *)p[0];
    const T sv = (T)c->s;
    const T *a = (const T *)p[1], *b = &sv;
    int64_t sa = s[1], sb = 0;
    if (c->scalar_first) {
        b = a, sb = sa;
        a = &sv, sa = 0;
    }
    switch (c->op) {
    case OL_ADD: S(binary_loop)(OL_ADD, n, o, s[0], a, sa, b, sb); break;
    case OL_SUB: S(binary_loop)(OL_SUB, n, o, s[0], a, sa, b, sb); break;
    case OL_MUL: S(binary_loop)(OL_MUL, n, o, s[0], a, sa, b, sb); break;
    case OL_DIV: S(binary_loop)(OL_DIV, n, o, s[0], a, sa, b, sb); break;
    }
}

/* p[0] = p[0] op p[1]. */
static void S(binary_inplace_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    T *o = (T *)p[0];
    const T *a = (const T *)p[1];
    switch (((const op_ctx *)ctx)->op) {
    case OL_ADD: S(inplace_loop)(OL_ADD, n, o, s[0], a, s[1]); break;
    case OL_SUB: S(inplace_loop)(OL_SUB, n, o, s[0], a, s[1]); break;
    case OL_MUL: S(inplace_loop)(OL_MUL, n, o, s[0], a, s[1]); break;
    case OL_DIV: S(inplace_loop)(OL_DIV, n, o, s[0], a, s[1]); break;
    }
}

/* p[0] = p[0] op s. */
static void S(scalar_inplace_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const op_ctx *c = ctx;
    T *o = (T *)p[0];
    const T sv = (T)c->s;
    switch (c->op) {
    case OL_ADD: S(inplace_loop)(OL_ADD, n, o, s[0], &sv, 0); break;
    case OL_SUB: S(inplace_loop)(OL_SUB, n, o, s[0], &sv, 0); break;
    case OL_MUL: S(inplace_loop)(OL_MUL, n, o, s[0], &sv, 0); break;
    case OL_DIV: S(inplace_loop)(OL_DIV, n, o, s[0], &sv, 0); break;
    }
}

/* p[0] += alpha * p[1]. */
static void S(axpy_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    T *restrict o = (T *)p[0];
    const T *restrict a = (const T *)p[1];
    const T al = (T)((const op_ctx *)ctx)->s;
    const int64_t so = s[0], sa = s[1];
    if (so == 1 && sa == 1) {
        for (int64_t i = 0; i < n; i++) o[i] = o[i] + al * a[i];
    } else if (so == 1 && sa == 0) {
        const T y = a[0];
        for (int64_t i = 0; i < n; i++) o[i] = o[i] + al * y;
    } else {
        for (int64_t i = 0; i < n; i++) o[i * so] = o[i * so] + al * a[i * sa];
    }
}

/* p[0] += value * p[1] * p[2], or value * p[1] / p[2]. */
static void S(addc_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const op_ctx *c = ctx;
    T *restrict o = (T *)p[0];
    const T *restrict a = (const T *)p[1];
    const T *restrict b = (const T *)p[2];
    const T v = (T)c->s;
    const int64_t so = s[0], sa = s[1], sb = s[2];
    const int unit = so == 1 && sa == 1 && sb == 1;
    if (c->op == OL_MUL) {
        if (unit) for (int64_t i = 0; i < n; i++) o[i] += v * a[i] * b[i];
        else for (int64_t i = 0; i < n; i++) o[i * so] += v * a[i * sa] * b[i * sb];
    } else {
        if (unit) for (int64_t i = 0; i < n; i++) o[i] += v * a[i] / b[i];
        else for (int64_t i = 0; i < n; i++) o[i * so] += v * a[i * sa] / b[i * sb];
    }
}

/* x limited to [lo, hi]; NaN stays NaN: neither comparison holds for it. */
static inline T S(clamp)(T x, T lo, T hi) {
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

static void S(clamp_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const op_ctx *c = ctx;
    T *restrict o = (T *)p[0];
    const T lo = (T)c->s, hi = (T)c->p;
    const int64_t so = s[0];
    if (so == 1) {
        for (int64_t i = 0; i < n; i++) o[i] = S(clamp)(o[i], lo, hi);
    } else {
        for (int64_t i = 0; i < n; i++) o[i * so] = S(clamp)(o[i * so], lo, hi);
    }
}

static inline T S(sigmoid)(T x) {
    /* never exponentiates a large positive number */
    if (x >= 0) return (T)1 / ((T)1 + exp(-x));
    T e = exp(x);
    return e / ((T)1 + e);
}

/* 0 and NaN kept. */
static inline T S(sign)(T x) { return x > 0 ? (T)1 : x < 0 ? (T)-1 : x; }

/* op x, op an ol_unop or UNARY_SQUARE (tensor_ops.c); pw: OL_POW's
 * exponent. */
OL_INLINE T S(unop)(int op, T x, T pw) {
    switch (op) {
    case OL_NEG: return -x;
    case OL_ABS: return fabs(x);
    case OL_SQRT: return sqrt(x);
    case OL_EXP: return exp(x);
    case OL_LOG: return log(x);
    case OL_TANH: return tanh(x);
    case OL_SIGMOID: return S(sigmoid)(x);
    case OL_SIGN: return S(sign)(x);
    case UNARY_SQUARE: return x * x;
    default: return pow(x, pw); /* OL_POW */
    }
}

/* o = op a over a row. In place (o == a, unit strides) the row is read and
 * written through one restrict pointer; a fresh output never aliases its
 * input. */
OL_INLINE void S(unary_loop)(int op, T pw, int64_t n, T *o, int64_t so, const T *a, int64_t sa) {
    if (so == 1 && sa == 1 && (const T *)o == a) {
        T *restrict io = o;
        for (int64_t i = 0; i < n; i++) io[i] = S(unop)(op, io[i], pw);
    } else if (so == 1 && sa == 1) {
        T *restrict ro = o;
        const T *restrict ra = a;
        for (int64_t i = 0; i < n; i++) ro[i] = S(unop)(op, ra[i], pw);
    } else {
        for (int64_t i = 0; i < n; i++) o[i * so] = S(unop)(op, a[i * sa], pw);
    }
}

/* p[0] = op p[1] (p[0] may be p[1]). */
static void S(unary_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const op_ctx *c = ctx;
    T *o = (T *)p[0];
    const T *a = (const T *)p[1];
    const T pw = (T)c->p;
    const int64_t so = s[0], sa = s[1];
    switch ((ol_unop)c->op) {
    case OL_NEG: S(unary_loop)(OL_NEG, pw, n, o, so, a, sa); break;
    case OL_ABS: S(unary_loop)(OL_ABS, pw, n, o, so, a, sa); break;
    case OL_SQRT: S(unary_loop)(OL_SQRT, pw, n, o, so, a, sa); break;
    case OL_EXP: S(unary_loop)(OL_EXP, pw, n, o, so, a, sa); break;
    case OL_LOG: S(unary_loop)(OL_LOG, pw, n, o, so, a, sa); break;
    case OL_TANH: S(unary_loop)(OL_TANH, pw, n, o, so, a, sa); break;
    case OL_SIGMOID: S(unary_loop)(OL_SIGMOID, pw, n, o, so, a, sa); break;
    case OL_SIGN: S(unary_loop)(OL_SIGN, pw, n, o, so, a, sa); break;
    case OL_POW:
        if (pw == (T)2) S(unary_loop)(UNARY_SQUARE, pw, n, o, so, a, sa);
        else S(unary_loop)(OL_POW, pw, n, o, so, a, sa);
        break;
    }
}

/* ---- reductions: accumulate in double ---- */

static void S(sum_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    red_ctx *c = ctx;
    const T *a = (const T *)p[0];
    const int64_t sa = s[0];
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
static void S(extreme_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    red_ctx *c = ctx;
    const T *a = (const T *)p[0];
    const int64_t sa = s[0];
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

static void S(norm_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    red_ctx *c = ctx;
    const T *a = (const T *)p[0];
    const int64_t sa = s[0];
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

static void S(dot_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    red_ctx *c = ctx;
    const T *a = (const T *)p[0], *b = (const T *)p[1];
    const int64_t sa = s[0], sb = s[1];
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
static void S(reduce_dim_row)(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    const red_ctx *c = ctx;
    T *o = (T *)p[0];
    const T *a = (const T *)p[1];
    T *ix = c->with_indices ? (T *)p[2] : NULL;
    const int64_t L = c->len, st = c->step;
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
