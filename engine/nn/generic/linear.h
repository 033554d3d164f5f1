/* The linear layer, written once for T (core/generic.h), over OpenBLAS's
 * BLAS(gemm) and BLAS(gemv).
 *
 * y = x W^T + b, W: out x in (torch.nn.Linear), x: n x in.
 * Backward (dz = dL/dy): dW = dz^T x, db = sum over rows of dz,
 * dx = dz W. Every product is one BLAS call per part (linear.c cuts the
 * big ones over the engine's pool); batch 1 uses gemv, which skips GEMM's
 * packing of a one-row operand, and writes the weight gradient dz x^T
 * with a plain outer-product loop. The bias lives in the fused activation
 * pass (activation.c) or in bias_forward below. */

/* One product C = op(A) op(B) (+ beta C), row-major, cut along the rows
 * (cut_cols 0) or the columns of C: a GEMM, a gemv (batch 1's forward and
 * dx, C one row) or batch 1's outer product dW = dz x^T. */
typedef enum { S(K_GEMM), S(K_GEMV), S(K_OUTER) } S(kind);

typedef struct S(product) {
    S(kind) kind;
    int ta, tb, cut_cols;
    int64_t m, n, k, lda, ldb, ldc;
    const T *a, *b;
    T beta;
    T *c;
    /* What each part then does with its block of C, while it is in cache:
     * fwd: y = f(C + bias) (act_y: y, same layout as C);
     * back: C is dL/dx for x = f(u), carried through (back->dz, back->db). */
    const T *bias;
    T *act_y;
    ol_act act;
    double slope;
    const S(ol_act_grad) *back;
} S(product);

/* The epilogue on rows [r0, r1) x columns [c0, c1) of C. */
static void S(after_block)(const S(product) *p, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    const int64_t ld = p->ldc, off = r0 * ld + c0;
    if (p->act_y) {
        S(ol_act_forward_ld)(p->act, p->slope, r1 - r0, c1 - c0, ld, p->c + off,
                             p->bias ? p->bias + c0 : NULL, p->act_y + off);
    } else if (p->back && p->back->db) {
        /* db's partial sum of each group of rows into its own row of
         * db_groups (r0 starts a group: parts start on the grain) */
        const S(ol_act_grad) *g = p->back;
        for (int64_t r = r0; r < r1; r += OL_GROUP_ROWS) {
            const int64_t e = r + OL_GROUP_ROWS < r1 ? r + OL_GROUP_ROWS : r1;
            const int64_t o = r * ld + c0;
            S(ol_act_backward_ld)(g->act, g->slope, e - r, c1 - c0, ld, g->pre + o,
                                  g->bias ? g->bias + c0 : NULL, g->y + o, p->c + o, g->dz + o,
                                  g->db_groups + (r / OL_GROUP_ROWS) * p->n + c0, 0);
        }
    } else if (p->back) {
        const S(ol_act_grad) *g = p->back;
        S(ol_act_backward_ld)(g->act, g->slope, r1 - r0, c1 - c0, ld, g->pre + off,
                              g->bias ? g->bias + c0 : NULL, g->y + off, p->c + off, g->dz + off,
                              NULL, 0);
    }
}

/* db (+)= the groups' partial sums in order (after_block wrote them). */
static void S(sum_db_groups)(const S(product) *p) {
    const S(ol_act_grad) *g = p->back;
    const int64_t w = p->n, rows = p->kind == S(K_GEMM) ? p->m : 1; /* a gemv's C: one row */
    const int64_t groups = (rows + OL_GROUP_ROWS - 1) / OL_GROUP_ROWS;
    T *restrict db = g->db;
    if (!g->accumulate)
        for (int64_t j = 0; j < w; j++) db[j] = 0;
    for (int64_t k = 0; k < groups; k++) {
        const T *restrict part = g->db_groups + k * w;
        for (int64_t j = 0; j < w; j++) db[j] += part[j];
    }
}

/* A forward product z = x W^T with few outputs (the last layer's). */
static int S(thin)(const S(product) *p) {
    return p->kind == S(K_GEMM) && !p->ta && p->tb && p->n <= THIN_MAX_COLS;
}

/* Rows or columns [lo, hi) of C. */
static void S(product_part)(void *ctx, int64_t lo, int64_t hi, int part) {
    const S(product) *p = ctx;
    const int64_t len = hi - lo;
    if (p->kind == S(K_OUTER)) {
        /* C (m x n) = a b^T, rows lo..hi: a is dz (m), b is x (n). */
        for (int64_t o = lo; o < hi; o++) {
            const T d = p->a[o];
            T *restrict row = p->c + o * p->ldc;
            for (int64_t i = 0; i < p->n; i++) row[i] = d * p->b[i];
        }
        return;
    }
    if (p->kind == S(K_GEMV)) {
        /* c = op(A) b with A stored m x n (lda); NoTrans cuts rows of A,
         * Trans (run whole, see run_product) its columns. */
        if (!p->ta)
            BLAS(gemv)(CblasRowMajor, CblasNoTrans, (int)len, (int)p->n, 1, p->a + lo * p->lda,
                       (int)p->lda, p->b, 1, 0, p->c + lo, 1);
        else
            BLAS(gemv)(CblasRowMajor, CblasTrans, (int)p->m, (int)len, 1, p->a + lo, (int)p->lda,
                       p->b, 1, 0, p->c + lo, 1);
        S(after_block)(p, 0, 1, lo, hi); /* c is one row */
        return;
    }
    if (S(thin)(p) && !p->cut_cols && len > THIN_ROWS) {
        /* in blocks of THIN_ROWS rows from a multiple of it (linear.c) */
        for (int64_t r = lo; r < hi; r += THIN_ROWS)
            S(product_part)(ctx, r, r + THIN_ROWS < hi ? r + THIN_ROWS : hi, part);
        return;
    }
    const T *a = p->a, *b = p->b;
    T *c;
    int64_t m = p->m, n = p->n;
    if (p->cut_cols) {
        b += p->tb ? lo * p->ldb : lo;
        c = p->c + lo;
        n = len;
    } else {
        a += p->ta ? lo : lo * p->lda;
        c = p->c + lo * p->ldc;
        m = len;
    }
    BLAS(gemm)(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans,
               (int)m, (int)n, (int)p->k, 1, a, (int)p->lda, b, (int)p->ldb, p->beta, c,
               (int)p->ldc);
    if (p->cut_cols) S(after_block)(p, 0, p->m, lo, hi);
    else S(after_block)(p, lo, hi, 0, p->n);
}

/* Whether a GEMM is cut along the columns of C (linear.c says why):
 * along its larger side, so that the operand each part packs whole is the
 * smaller one, except
 *  - a weight gradient dW = dz^T x along its rows while x is small;
 *  - along the other side when this one has fewer than two grains. */
static int S(gemm_cut_cols)(const S(product) *p) {
    int cols;
    if (p->ta && p->k * p->n <= DW_ROWS_MAX_X) cols = 0;
    else cols = p->n >= p->m;
    const int64_t side = cols ? p->n : p->m, other = cols ? p->m : p->n;
    if (side < 2 * SPLIT_GRAIN && other >= 2 * SPLIT_GRAIN) cols = !cols;
    return cols;
}

/* Runs a product, cut over the pool when linear.c says it is worth it. */
static void S(run_product)(S(product) *p) {
    int64_t side;
    if (p->kind == S(K_GEMM)) {
        p->cut_cols = S(gemm_cut_cols)(p);
        side = p->cut_cols ? p->n : p->m;
    } else {
        side = p->kind == S(K_GEMV) && p->ta ? p->n : p->m;
    }
    /* OpenBLAS's transposed gemv sums a column in a different order when
     * handed fewer columns (measured: the last bits of dx change), so it is
     * never cut; the MLPs' batch-1 dx products are small anyway. */
    const int cut = p->kind == S(K_GEMM)   ? split_product(p->m, p->n, p->k)
                    : p->kind == S(K_GEMV) && p->ta ? 0
                                                    : split_stream(p->m * p->n);
    /* a thin product's parts start on its blocks, so that the blocks are
     * the same on any number of threads */
    const int64_t grain = S(thin)(p) && !p->cut_cols ? THIN_ROWS : SPLIT_GRAIN;
    const int threads = blas_one_thread();
    if (cut) ol_parallel_for(side, grain, grain, S(product_part), p);
    else S(product_part)(p, 0, side, 0);
    blas_restore(threads);
    if (p->back && p->back->db) S(sum_db_groups)(p);
}

/* z = x W^T, then y = f(z + b) per part when act_y is not NULL. */
static void S(forward)(int64_t n, int64_t in, int64_t out, const T *x, const T *w, T *z,
                       const T *b, ol_act a, double slope, T *act_y) {
    S(product) p = {.kind = S(K_GEMM), .tb = 1, .m = n, .n = out, .k = in, .lda = in, .ldb = in,
                    .ldc = out, .a = x, .b = w, .c = z, .bias = b, .act_y = act_y, .act = a,
                    .slope = slope};
    if (n == 1) /* z = W x */
        p.kind = S(K_GEMV), p.tb = 0, p.m = out, p.n = in, p.a = w, p.b = x;
    S(run_product)(&p);
}

void S(ol_linear_forward)(int64_t n, int64_t in, int64_t out,
                          const T *x, const T *w, T *z) {
    S(forward)(n, in, out, x, w, z, NULL, OL_ACT_IDENTITY, 0, NULL);
}

void S(ol_linear_act_forward)(int64_t n, int64_t in, int64_t out, const T *x, const T *w,
                              const T *b, ol_act a, double slope, T *z, T *y) {
    S(forward)(n, in, out, x, w, z, b, a, slope, y);
}

void S(ol_linear_backward)(int64_t n, int64_t in, int64_t out,
                           const T *x, const T *w, const T *dz, T *dx,
                           T *dw, int accumulate) {
    S(ol_linear_backward_act)(n, in, out, x, w, dz, dx, dw, accumulate, NULL);
}

void S(ol_linear_backward_act)(int64_t n, int64_t in, int64_t out, const T *x, const T *w,
                               const T *dz, T *dx, T *dw, int accumulate,
                               const S(ol_act_grad) *before) {
    if (n == 1) {
        /* The weight gradient dz x^T: GEMV-shaped GEMMs would pack a
         * one-row operand, and ger only accumulates (clearing dw first
         * would be three passes over the largest array of a batch-1 step),
         * so the overwrite is one vectorised pass of its own. */
        if (accumulate) {
            S(product) p = {.kind = S(K_GEMM), .ta = 1, .m = out, .n = in, .k = 1, .lda = out,
                            .ldb = in, .ldc = in, .a = dz, .b = x, .beta = 1, .c = dw};
            S(run_product)(&p);
        } else {
            S(product) p = {.kind = S(K_OUTER), .m = out, .n = in, .ldc = in, .a = dz, .b = x,
                            .c = dw};
            S(run_product)(&p);
        }
        if (dx) {
            S(product) p = {.kind = S(K_GEMV), .ta = 1, .m = out, .n = in, .lda = in, .a = w,
                            .b = dz, .c = dx, .back = before};
            S(run_product)(&p);
        }
        return;
    }
    S(product) g = {.kind = S(K_GEMM), .ta = 1, .m = out, .n = in, .k = n, .lda = out, .ldb = in,
                    .ldc = in, .a = dz, .b = x, .beta = accumulate ? 1 : 0, .c = dw};
    S(run_product)(&g);
    if (dx) {
        S(product) p = {.kind = S(K_GEMM), .m = n, .n = in, .k = out, .lda = out, .ldb = in,
                        .ldc = in, .a = dz, .b = w, .c = dx, .back = before};
        S(run_product)(&p);
    }
}

void S(ol_bias_forward)(int64_t n, int64_t w, T *z, const T *b) {
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < w; j++) z[r * w + j] += b[j];
}

void S(ol_bias_backward)(int64_t n, int64_t w, const T *dz, T *db, int accumulate) {
    if (!accumulate)
        for (int64_t j = 0; j < w; j++) db[j] = 0;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < w; j++) db[j] += dz[r * w + j];
}
