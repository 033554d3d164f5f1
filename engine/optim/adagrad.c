/* adagrad: per-weight learning rates from the sum of squared gradients
 * (Duchi, Hazan & Singer, JMLR 2011), exactly as torch.optim.Adagrad:
 *
 *   g <- g + weight_decay·w
 *   clr = lr / (1 + (t − 1)·lr_decay)
 *   G <- G + g²            (G starts at initial_accumulator_value)
 *   w <- w − clr·g / (sqrt(G) + eps)
 *
 * Source: torch/optim/adagrad.py (_single_tensor_adagrad).
 *
 * full_matrix = true: the paper's full-matrix form (Duchi et al. 2011,
 * Section 1.1, with δ = eps) over each parameter tensor flattened (the
 * whole vector when a tensor is optimised; API.md's rules "per parameter
 * tensor where a matrix is involved"), of at most 4096 elements:
 *
 *   g <- g + weight_decay·w,  clr as above        (torch's two terms, kept)
 *   G <- G + g·gᵀ          (G starts at initial_accumulator_value·I)
 *   G = V·diag(λ)·Vᵀ       (LAPACK ?syevd, every step)
 *   w <- w − clr·V·diag(1/(eps + sqrt(λ)))·Vᵀ·g    = (eps·I + G^{1/2})⁻¹ g
 *
 * so that with one element, or a G that stays diagonal, it is the
 * diagonal rule. An eigenvalue below 0, which G ≥ 0 excludes but rounding
 * can produce, is taken as 0.
 *
 * Options: lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
 * eps=1e-10, full_matrix=false. initial_accumulator_value is read at the
 * first step after a reset (torch reads it at construction); full_matrix
 * sizes the state, so it is given at construction. State: sum (every
 * element; empty with full_matrix), sum_matrix (n x n per tensor with
 * full_matrix, its upper triangle, generic/precond.h; empty without).
 *
 * The kind is per tensor, as full_matrix needs each tensor whole (and
 * its matrix placed per tensor); without it the step is the elementwise
 * loop of the fused optimizers, cut among the threads here as the engine
 * cuts a fused pass. */
#ifndef OL_GENERIC
#include "core/parallel.h"
#include "optim/generic/precond.h"

enum { LR, LR_DECAY, WEIGHT_DECAY, INIT_ACC, EPS, FULL_MATRIX, NSLOTS };
enum { SUM, SUM_MATRIX, NSTATE };

/* The largest tensor full_matrix takes: its matrix is 128 MB in f64. */
#define FULL_MAX 4096

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-2}, OL_GE0},
    {.name = "lr_decay", .type = OL_OPT_NUMBER, .slot = LR_DECAY, .def = {0}, OL_GE0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "initial_accumulator_value", .type = OL_OPT_NUMBER, .slot = INIT_ACC, .def = {0},
     OL_GE0, .first_step_only = 1},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-10}, OL_GT0},
    {.name = "full_matrix", .type = OL_OPT_BOOL, .slot = FULL_MATRIX, .def = {0},
     .sizes_state = 1},
};
static const char *const state_names[] = {"sum", "sum_matrix"};

static int64_t state_len(int k, const ol_optim_param *p, const double *o) {
    const int64_t n = p->rows * p->cols;
    const int full = o[FULL_MATRIX] != 0;
    return k == SUM ? (full ? 0 : n) : (full ? n * n : 0);
}

static int check_param(const ol_optim_param *p, const double *o, ol_error *err) {
    const int64_t n = p->rows * p->cols;
    if (o[FULL_MATRIX] != 0 && n > FULL_MAX)
        return ol_fail(err, "option 'full_matrix' takes tensors of at most %d elements (an n x n "
                       "matrix each), got one of %lld",
                       FULL_MAX, (long long)n);
    return 0;
}

/* full_matrix: V and λ, Vᵀ·g and the direction (n each), ?syevd's scratch,
 * for the largest tensor. */
static int64_t workspace(const ol_optim *opt) {
    int64_t most = 0;
    for (int i = 0; i < opt->nparams; i++) {
        const ol_optim_param *p = &opt->params[i];
        const int64_t n = p->rows * p->cols;
        if (opt->groups[p->group].o[FULL_MATRIX] == 0 || n > FULL_MAX) continue;
        const int64_t e = ol_precond_eigh_size(opt->dtype, n);
        if (e < 0) return -1;
        if (n * n + 3 * n + e > most) most = n * n + 3 * n + e;
    }
    return most;
}

/* 1/(eps + sqrt(λ)), with λ at least 0. */
static double inv_root_eps(double lambda, double eps) { return 1 / (eps + sqrt(fmax(lambda, 0))); }

#define OL_GENERIC "optim/adagrad.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_adagrad = {
    .name = "adagrad",
    .kind = OL_OPTIM_TENSOR,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = NSTATE,
    .step_f32 = adagrad_step_f32,
    .step_f64 = adagrad_step_f64,
    .doc = "Adagrad with lr decay and weight decay (torch.optim.Adagrad); full_matrix: "
           "(eps I + G^(1/2))^-1 g per tensor (Duchi et al. 2011)",
    .workspace = workspace,
    .state_len = state_len,
    .check_param = check_param,
};

#else /* the step for one element type T */

#include "optim/generic/precond.h"

/* A part of the elementwise pass, for ol_parallel_for. */
typedef struct S(adagrad_job) {
    const ol_optim_ctx *c;
    T *w;
    const T *g;
    T *sum;
} S(adagrad_job);

static void S(adagrad_part)(void *ctx, int64_t begin, int64_t end, int part) {
    (void)part;
    const S(adagrad_job) *j = ctx;
    const ol_optim_ctx *c = j->c;
    const T clr = (T)(c->o[LR] / (1 + (double)(c->t - 1) * c->o[LR_DECAY]));
    const T wd = (T)c->o[WEIGHT_DECAY], eps = (T)c->o[EPS];
    T *restrict w = j->w, *restrict sum = j->sum;
    const T *restrict g = j->g;
    if (c->t == 1) ol_optim_fill(OL_T_DT, sum + begin, end - begin, c->o[INIT_ACC]);
    for (int64_t i = begin; i < end; i++) {
        const T gi = g[i] + wd * w[i];
        const T G = sum[i] + gi * gi;
        sum[i] = G;
        w[i] -= clr * gi / (sqrt(G) + eps);
    }
}

/* full_matrix on one tensor of n elements. */
static void S(adagrad_full)(const ol_optim_ctx *c, T *w, const T *g, T *gm) {
    const int64_t n = c->n;
    const double *o = c->o;
    T *vec = c->work, *val = vec + n * n, *u = val + n, *gd = u + n, *scratch = gd + n;
    const T wd = (T)o[WEIGHT_DECAY];
    const double clr = o[LR] / (1 + (double)(c->t - 1) * o[LR_DECAY]);
    if (c->t == 1)
        for (int64_t e = 0; e < n * n; e++) gm[e] = e % (n + 1) == 0 ? (T)o[INIT_ACC] : 0;
    for (int64_t i = 0; i < n; i++) gd[i] = g[i] + wd * w[i];
    S(ol_precond_stat)(gm, gd, n, 1, 0, 1, 1);
    if (S(ol_precond_eigh)(gm, n, 0, vec, val, scratch) != 0) {
        for (int64_t i = 0; i < n; i++) w[i] = (T)NAN; /* a NaN in G: show it */
        return;
    }
    BLAS(gemv)(CblasRowMajor, CblasTrans, (int)n, (int)n, 1, vec, (int)n, gd, 1, 0, u, 1);
    for (int64_t j = 0; j < n; j++) u[j] *= (T)inv_root_eps((double)val[j], o[EPS]);
    BLAS(gemv)(CblasRowMajor, CblasNoTrans, (int)n, (int)n, (T)-clr, vec, (int)n, u, 1, 1, w, 1);
}

static void S(adagrad_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g,
                            T *const *s) {
    if (c->o[FULL_MATRIX] != 0) {
        S(adagrad_full)(c, w, g, s[SUM_MATRIX]);
        return;
    }
    S(adagrad_job) j = {c, w, g, s[SUM]};
    ol_parallel_for(c->n, OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, S(adagrad_part), &j);
}

#endif
