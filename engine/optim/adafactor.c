/* adafactor: Adam-like steps from a factored second moment, as
 * torch.optim.Adafactor.
 *
 * For each parameter tensor (one entry of net:parameters(), or the whole
 * tensor when a tensor is passed), at step t:
 *   β2ₜ = 1 − t^beta2_decay
 *   ρ = min(lr, 1/√t)
 *   α = max(eps[2], RMS(w))·ρ             (RMS(x) = ‖x‖/√numel, of w before the decay)
 *   w <- w − lr·wd·w
 *   a matrix (rows x cols):
 *     r <- β2ₜ·r + (1 − β2ₜ)·rowmean(g²)   (rows values)
 *     c <- β2ₜ·c + (1 − β2ₜ)·colmean(g²)   (cols values)
 *     V = r·cᵀ / max(mean(r), eps[1])
 *   a vector:
 *     V <- β2ₜ·V + (1 − β2ₜ)·g²
 *   U = g / max(√V, eps[1])
 *   w <- w − α·U / max(1, RMS(U)/d)
 * eps[1] = 0 (nil in Lua, the default) stands for the machine epsilon of
 * the parameters' type, as torch's eps = (None, 1e-3): a true 0 would
 * divide by zero on a zero gradient.
 *
 * Source: Shazeer & Stern, "Adafactor: Adaptive Learning Rates with
 * Sublinear Memory Cost" (ICML 2018, arXiv:1804.04235), Algorithms 4 and 5
 * with update clipping, in torch.optim.Adafactor's form (its documentation
 * and torch/optim/_adafactor.py, _single_tensor_adafactor), read term by
 * term:
 *   - lr caps ρ and scales the decoupled weight decay (the paper has
 *     neither); α takes RMS(w) before the decay, as torch does.
 *   - eps[1] enters where torch puts it, not where the paper does (added
 *     to g²): torch clamps mean(r) below by eps1 and V by eps1², then takes
 *     rsqrt, which is U = g/max(√V, eps1) as above.
 *   - torch factors any tensor of two or more dimensions over its last
 *     two; here a tensor is a matrix or a vector (ol_optim_param), and a
 *     tensor of higher rank is a vector.
 *   - torch's maximize is not an option here (README's table).
 * Options: lr=1e-2, beta2_decay=-0.8, eps={nil, 1e-3}, d=1, weight_decay=0.
 * State: row_var (r, rows values per matrix), col_var (c, cols values per
 * matrix), variance (V, one value per element of each vector), each packed
 * tensor after tensor (desc->state_len): O(rows + cols) per matrix.
 *
 * The passes (chunks.h for the sums' order). A vector: one chunked pass
 * updates V and sums ‖w‖² and ‖U‖², a second steps. A matrix: its rows
 * fall into blocks of consecutive rows fixed by its shape (block_rows); a
 * pass cut by blocks sums each row's g² and w² (in runs, as chunks.h) and
 * each block's g² per column (in the parameters' type); the blocks' column
 * sums are then added in block order, in double, and the rows' sums in row
 * order. A pass cut by rows sums each row's U², and the last, cut by rows,
 * steps. Every sum is cut the same way on any number of threads. */
#ifndef OL_GENERIC
#include <float.h>

#include "optim/chunks.h"

enum { LR, BETA2_DECAY, EPS, EPS2, D, WEIGHT_DECAY, NSLOTS };
enum { ROW_VAR, COL_VAR, VARIANCE };

/* A matrix's rows fall into blocks of AF_BLOCK_ROWS rows, or more where
 * blocks x cols would pass AF_BLOCK_SUMS: each block sums its columns' g²
 * over its own rows in the parameters' type (a few terms each), into
 * scratch of blocks x cols values. */
#define AF_BLOCK_ROWS 32
#define AF_BLOCK_SUMS (1 << 20)

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-2}, OL_GE0},
    {.name = "beta2_decay", .type = OL_OPT_NUMBER, .slot = BETA2_DECAY, .def = {-0.8},
     .lo = -INFINITY, .hi = 0},
    {.name = "eps", .type = OL_OPT_PAIR, .slot = EPS, .def = {0, 1e-3}, OL_GE0,
     .nil_elem = 1, .nil_value = 0},
    {.name = "d", .type = OL_OPT_NUMBER, .slot = D, .def = {1}, .lo = 1, .hi = INFINITY},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
};
static const char *const state_names[] = {"row_var", "col_var", "variance"};

static int64_t state_len(int k, const ol_optim_param *p, const double *o) {
    (void)o;
    switch (k) {
    case ROW_VAR: return p->matrix ? p->rows : 0;
    case COL_VAR: return p->matrix ? p->cols : 0;
    default: return p->matrix ? 0 : p->rows * p->cols;
    }
}

/* Rows per block of a matrix of rows x cols. */
static int64_t block_rows(int64_t rows, int64_t cols) {
    const int64_t most = AF_BLOCK_SUMS / cols > 1 ? AF_BLOCK_SUMS / cols : 1;
    const int64_t rb = (rows + most - 1) / most;
    return rb > AF_BLOCK_ROWS ? rb : AF_BLOCK_ROWS;
}

static int64_t blocks_of(int64_t rows, int64_t cols) {
    const int64_t rb = block_rows(rows, cols);
    return (rows + rb - 1) / rb;
}

/* Doubles of scratch for one tensor with elements of tsize bytes. A
 * matrix: each row's g² (later its U²), each block's w², each column's g²,
 * and each block's column sums of g² (elements of the parameters' type).
 * A vector: ‖w‖² and ‖U‖² per chunk. */
static int64_t work_of(const ol_optim_param *p, int64_t tsize) {
    if (!p->matrix) return 2 * ol_pt_chunks(p->rows * p->cols);
    const int64_t nb = blocks_of(p->rows, p->cols);
    return p->rows + nb + p->cols + (nb * p->cols * tsize + 7) / 8;
}

static int64_t workspace(const ol_optim *opt) {
    int64_t most = opt->nparams > 0 ? 0 : 2 * ol_pt_chunks(opt->n);
    for (int i = 0; i < opt->nparams; i++) {
        const int64_t w = work_of(&opt->params[i], ol_dtype_size(opt->dtype));
        if (w > most) most = w;
    }
    return ol_pt_work_elems(opt->dtype, most);
}

/* The coefficients of step t that do not depend on the tensor's values. */
typedef struct af_coef {
    double b2, a2;  /* β2ₜ, 1 − β2ₜ */
    double rho, decay, eps2, d;
} af_coef;

static af_coef af_coef_make(const double *o, int64_t t) {
    const double td = (double)t, a2 = pow(td, o[BETA2_DECAY]);
    return (af_coef){.b2 = 1 - a2, .a2 = a2, .rho = fmin(o[LR], 1 / sqrt(td)),
                     .decay = 1 - o[LR] * o[WEIGHT_DECAY], .eps2 = o[EPS2], .d = o[D]};
}

/* The factor of U in the step: α/max(1, RMS(U)/d), from ‖w‖² and ‖U‖². */
static double af_scale(const af_coef *k, double ww, double uu, int64_t n) {
    const double alpha = fmax(k->eps2, sqrt(ww / (double)n)) * k->rho;
    return alpha / fmax(1, sqrt(uu / (double)n) / k->d);
}

#define OL_GENERIC "optim/adafactor.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_adafactor = {
    .name = "adafactor",
    .kind = OL_OPTIM_TENSOR,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 3,
    .step_f32 = adafactor_step_f32,
    .step_f64 = adafactor_step_f64,
    .workspace = workspace,
    .state_len = state_len,
    .doc = "Adafactor, factored second moments with update clipping (Shazeer & Stern 2018; "
           "torch.optim.Adafactor)",
};

#else /* the step for one element type T */

typedef struct S(af_pass) {
    T *w;
    const T *g;
    T *r, *c, *v;          /* row_var, col_var (a matrix) or variance (a vector) */
    int64_t rows, cols;    /* a vector: 1 x n */
    T b2, a2, eps1, decay;
    T ir;                  /* 1/max(mean(r), eps1) */
    T inv_eps1;            /* 1/eps1 */
    T scale;               /* α/max(1, RMS(U)/d), for the last pass */
    /* a matrix */
    int64_t rb, nb;        /* rows per block, blocks */
    double *rowsum;        /* each row's g², then its U² */
    double *blockw;        /* each block's w² */
    double *colsum;        /* each column's g² */
    T *colpart;            /* nb x cols: each block's column sums of g² */
    T *qc;                 /* 1/√c_j, over block 0's column sums */
    /* a vector */
    double *part;          /* ‖w‖² and ‖U‖² per chunk */
} S(af_pass);

/* U from g and the estimate V; the same expression in every pass. */
OL_INLINE T S(af_u)(T g, T v, T eps1) {
    const T root = sqrt(v);
    return g / OL_FMAX(root, eps1);
}

/* ---- a vector ---- */

/* Element i of a vector's first pass: V, and w² and U² into the lanes. */
OL_INLINE void S(af_vec_elem)(const S(af_pass) *k, T *restrict v, const T *restrict w,
                              const T *restrict g, int64_t i, T *wl, T *ul) {
    const T gi = g[i], vi = k->b2 * v[i] + k->a2 * gi * gi;
    const T ui = S(af_u)(gi, vi, k->eps1);
    v[i] = vi;
    *wl += w[i] * w[i];
    *ul += ui * ui;
}

/* Over the chunks in [begin, end): V, and per chunk ‖w‖² and ‖U‖²
 * (chunks.h: lanes of T per run, added into lanes of ACC). */
static void S(af_vec_stats)(void *ctx, int64_t begin, int64_t end, int part) {
    (void)part;
    const S(af_pass) *k = ctx;
    for (int64_t c0 = begin; c0 < end; c0 += OL_OPTIM_CHUNK) {
        const int64_t n = end - c0 < OL_OPTIM_CHUNK ? end - c0 : OL_OPTIM_CHUNK;
        T *restrict v = k->v + c0;
        const T *restrict w = k->w + c0, *restrict g = k->g + c0;
        ACC ww[OL_PT_LANES] = {0}, uu[OL_PT_LANES] = {0};
        for (int64_t r0 = 0; r0 < n; r0 += OL_PT_RUN) {
            const int64_t r1 = n - r0 < OL_PT_RUN ? n : r0 + OL_PT_RUN;
            T wl[OL_PT_LANES] = {0}, ul[OL_PT_LANES] = {0};
            int64_t i = r0;
            for (; i + OL_PT_LANES <= r1; i += OL_PT_LANES)
                for (int l = 0; l < OL_PT_LANES; l++)
                    S(af_vec_elem)(k, v, w, g, i + l, &wl[l], &ul[l]);
            for (; i < r1; i++) S(af_vec_elem)(k, v, w, g, i, &wl[0], &ul[0]);
            for (int l = 0; l < OL_PT_LANES; l++) {
                ww[l] += wl[l];
                uu[l] += ul[l];
            }
        }
        double *p = k->part + 2 * (c0 / OL_OPTIM_CHUNK);
        p[0] = ol_pt_lanes(ww);
        p[1] = ol_pt_lanes(uu);
    }
}

static void S(af_vec_apply)(void *ctx, int64_t begin, int64_t end, int part) {
    (void)part;
    const S(af_pass) *k = ctx;
    T *restrict w = k->w;
    const T *restrict g = k->g, *restrict v = k->v;
    const T decay = k->decay, scale = k->scale, eps1 = k->eps1;
    for (int64_t i = begin; i < end; i++) w[i] = w[i] * decay - scale * S(af_u)(g[i], v[i], eps1);
}

static void S(af_vector)(const af_coef *kc, S(af_pass) *k, int64_t n) {
    ol_pt_for(n, S(af_vec_stats), k);
    const int64_t nc = ol_pt_chunks(n);
    k->scale = (T)af_scale(kc, ol_pt_total(k->part, nc, 2, 0), ol_pt_total(k->part, nc, 2, 1), n);
    ol_pt_for(n, S(af_vec_apply), k);
}

/* ---- a matrix ---- */

/* Element j of a row in a matrix's first pass: g² into the block's column
 * sum and the row's lane, w² into the lane. */
OL_INLINE void S(af_mat_elem)(T *restrict cp, const T *restrict w, const T *restrict g, int64_t j,
                              T *gl, T *wl) {
    const T q = g[j] * g[j];
    cp[j] += q;
    *gl += q;
    *wl += w[j] * w[j];
}

/* Over the row blocks in [b0, b1): each row's g² (rowsum), each block's
 * w² (blockw) and column sums of g² (colpart). A row runs as chunks.h's
 * runs: lanes of T per OL_PT_RUN columns, added into lanes of ACC. */
static void S(af_mat_stats)(void *ctx, int64_t b0, int64_t b1, int part) {
    (void)part;
    const S(af_pass) *k = ctx;
    const int64_t cols = k->cols;
    for (int64_t b = b0; b < b1; b++) {
        T *restrict cp = k->colpart + b * cols;
        const int64_t i1 = (b + 1) * k->rb < k->rows ? (b + 1) * k->rb : k->rows;
        ACC ww[OL_PT_LANES] = {0};
        for (int64_t j = 0; j < cols; j++) cp[j] = 0;
        for (int64_t i = b * k->rb; i < i1; i++) {
            const T *restrict g = k->g + i * cols, *restrict w = k->w + i * cols;
            ACC gg[OL_PT_LANES] = {0};
            for (int64_t r0 = 0; r0 < cols; r0 += OL_PT_RUN) {
                const int64_t r1 = cols - r0 < OL_PT_RUN ? cols : r0 + OL_PT_RUN;
                T gl[OL_PT_LANES] = {0}, wl[OL_PT_LANES] = {0};
                int64_t j = r0;
                for (; j + OL_PT_LANES <= r1; j += OL_PT_LANES)
                    for (int l = 0; l < OL_PT_LANES; l++)
                        S(af_mat_elem)(cp, w, g, j + l, &gl[l], &wl[l]);
                for (; j < r1; j++) S(af_mat_elem)(cp, w, g, j, &gl[0], &wl[0]);
                for (int l = 0; l < OL_PT_LANES; l++) {
                    gg[l] += gl[l];
                    ww[l] += wl[l];
                }
            }
            k->rowsum[i] = ol_pt_lanes(gg);
        }
        k->blockw[b] = ol_pt_lanes(ww);
    }
}

/* A matrix's U without a square root or a division per element: as
 * √V = √(r_i/max(mean(r), eps1))·√c_j, U = g·min(qr_i·qc_j, 1/eps1) with
 * qr_i and qc_j the reciprocals of those roots (an infinite one, from a
 * zero r_i or c_j, gives 1/eps1, as max(√V, eps1) = eps1 does). */
OL_INLINE T S(af_mat_u)(T g, T qr, T qc, T inv_eps1) {
    const T q = qr * qc;
    return g * OL_FMIN(q, inv_eps1);
}

/* 1/√(r_i/max(mean(r), eps1)). */
OL_INLINE T S(af_qr)(const S(af_pass) *k, int64_t i) {
    return (T)1 / sqrt(k->r[i] * k->ir);
}

/* Over the rows in [i0, i1): each row's U², into rowsum[i] (in runs, as
 * the first pass). */
static void S(af_mat_usq)(void *ctx, int64_t i0, int64_t i1, int part) {
    (void)part;
    const S(af_pass) *k = ctx;
    const int64_t cols = k->cols;
    const T *restrict qc = k->qc;
    const T inv_eps1 = k->inv_eps1;
    for (int64_t i = i0; i < i1; i++) {
        const T *restrict g = k->g + i * cols;
        const T qr = S(af_qr)(k, i);
        ACC uu[OL_PT_LANES] = {0};
        for (int64_t r0 = 0; r0 < cols; r0 += OL_PT_RUN) {
            const int64_t r1 = cols - r0 < OL_PT_RUN ? cols : r0 + OL_PT_RUN;
            T ul[OL_PT_LANES] = {0};
            int64_t j = r0;
            for (; j + OL_PT_LANES <= r1; j += OL_PT_LANES)
                for (int l = 0; l < OL_PT_LANES; l++) {
                    const T u = S(af_mat_u)(g[j + l], qr, qc[j + l], inv_eps1);
                    ul[l] += u * u;
                }
            for (; j < r1; j++) {
                const T u = S(af_mat_u)(g[j], qr, qc[j], inv_eps1);
                ul[0] += u * u;
            }
            for (int l = 0; l < OL_PT_LANES; l++) uu[l] += ul[l];
        }
        k->rowsum[i] = ol_pt_lanes(uu);
    }
}

static void S(af_mat_apply)(void *ctx, int64_t i0, int64_t i1, int part) {
    (void)part;
    const S(af_pass) *k = ctx;
    const int64_t cols = k->cols;
    const T *restrict qc = k->qc;
    const T decay = k->decay, scale = k->scale, inv_eps1 = k->inv_eps1;
    for (int64_t i = i0; i < i1; i++) {
        T *restrict w = k->w + i * cols;
        const T *restrict g = k->g + i * cols;
        const T qr = S(af_qr)(k, i);
        for (int64_t j = 0; j < cols; j++)
            w[j] = w[j] * decay - scale * S(af_mat_u)(g[j], qr, qc[j], inv_eps1);
    }
}

/* fn over [0, count) of units of `per` elements each: on the threads for
 * a matrix of at least two chunks, else on the caller (the same sums
 * either way: none depends on the cut). */
static void S(af_mat_for)(const S(af_pass) *k, int64_t count, int64_t per, ol_range_fn fn) {
    if (k->rows * k->cols < 2 * OL_OPTIM_CHUNK) {
        fn((void *)k, 0, count, 0);
        return;
    }
    ol_parallel_for(count, 1, (OL_OPTIM_CHUNK + per - 1) / per, fn, (void *)k);
}

static void S(af_matrix)(const af_coef *kc, S(af_pass) *k) {
    const int64_t rows = k->rows, cols = k->cols;
    S(af_mat_for)(k, k->nb, k->rb * cols, S(af_mat_stats));
    /* r and c from the row and column means of g², then mean(r) */
    double rsum = 0, ww = 0;
    for (int64_t i = 0; i < rows; i++) {
        k->r[i] = (T)(kc->b2 * k->r[i] + kc->a2 * (k->rowsum[i] / (double)cols));
        rsum += k->r[i];
    }
    for (int64_t b = 0; b < k->nb; b++) ww += k->blockw[b];
    /* the blocks' column sums, block after block (row by row in memory) */
    double *restrict cs = k->colsum;
    for (int64_t j = 0; j < cols; j++) cs[j] = k->colpart[j];
    for (int64_t b = 1; b < k->nb; b++) {
        const T *restrict cp = k->colpart + b * cols;
        for (int64_t j = 0; j < cols; j++) cs[j] += cp[j];
    }
    for (int64_t j = 0; j < cols; j++) {
        k->c[j] = (T)(kc->b2 * k->c[j] + kc->a2 * (cs[j] / (double)rows));
        k->qc[j] = (T)1 / sqrt(k->c[j]); /* over block 0's column sums, read above */
    }
    k->ir = (T)(1 / fmax(rsum / (double)rows, (double)k->eps1));
    S(af_mat_for)(k, rows, cols, S(af_mat_usq));
    double uu = 0;
    for (int64_t i = 0; i < rows; i++) uu += k->rowsum[i];
    k->scale = (T)af_scale(kc, ww, uu, rows * cols);
    S(af_mat_for)(k, rows, cols, S(af_mat_apply));
}

static void S(adafactor_step)(const ol_optim_ctx *c, T *w, const T *g, T *const *s) {
    const af_coef kc = af_coef_make(c->o, c->t);
    const ol_optim_param *p = c->param;
    const double eps1 = c->o[EPS] > 0 ? c->o[EPS] : (OL_T_F32 ? FLT_EPSILON : DBL_EPSILON);
    S(af_pass) k = {
        .w = w, .g = g, .r = s[ROW_VAR], .c = s[COL_VAR], .v = s[VARIANCE],
        .b2 = (T)kc.b2, .a2 = (T)kc.a2, .eps1 = (T)eps1, .decay = (T)kc.decay,
    };
    if (p && p->matrix) {
        k.rows = p->rows;
        k.cols = p->cols;
        k.rb = block_rows(k.rows, k.cols);
        k.nb = blocks_of(k.rows, k.cols);
        k.rowsum = c->work;
        k.blockw = k.rowsum + k.rows;
        k.colsum = k.blockw + k.nb;
        k.colpart = (T *)(k.colsum + k.cols);
        k.qc = k.colpart;
        k.inv_eps1 = (T)(1 / eps1);
        S(af_matrix)(&kc, &k);
    } else {
        k.rows = 1;
        k.cols = c->n;
        k.part = c->work;
        S(af_vector)(&kc, &k, c->n);
    }
}

#endif
