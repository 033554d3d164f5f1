/* muon: MomentUm Orthogonalized by Newton-Schulz, for the 2-D weights; the
 * other parameters go to groups whose option use = "adamw" steps them by
 * AdamW (built so by the binding when no groups are given: the matrices in
 * one group, the rest in another).
 *
 * For each matrix W (rows x cols) of a group with use = "muon", with
 * gradient G and buffer B:
 *   B <- μ·B + G
 *   U  = G + μ·B  (nesterov)   or   U = B
 *   X  = U/(‖U‖_F + 1e-7), transposed first when rows > cols (so X is
 *        m x k with m <= k and X·Xᵀ is the small m x m Gram matrix)
 *   ns_steps times:  A = X·Xᵀ,  X <- a·X + (b·A + c·A·A)·X
 *        with the quintic's a, b, c = 3.4445, −4.7750, 2.0315
 *   O  = X, transposed back
 *   W <- W·(1 − lr·wd) − lr·sqrt(max(1, rows/cols))·O
 * Each tensor of a group with use = "adamw": AdamW (generic/adam.h) with
 * the group's lr, betas, eps, weight_decay and amsgrad.
 *
 * The quintic does not converge to the polar factor: it pushes every
 * singular value of X (all in (0, 1] after the normalisation) into roughly
 * [0.7, 1.2] in five steps, which is what the method wants (Jordan 2024).
 *
 * Sources: K. Jordan et al., "Muon: An optimizer for hidden layers in neural
 * networks" (kellerjordan.github.io/posts/muon, 2024) and KellerJordan/Muon
 * (zeropower_via_newtonschulz5: coefficients, Frobenius normalisation with
 * 1e-7, transpose when rows > cols; MuonWithAuxAdam: the use_muon flag per
 * parameter group); momentum, nesterov, the decoupled weight decay
 * W·(1 − lr·wd) (unscaled lr) and the sqrt(max(1, rows/cols)) scale exactly
 * as torch.optim.Muon's documented algorithm (PyTorch 2.9,
 * adjust_lr_fn=None), whose defaults differ: optlua's are lr=0.02,
 * weight_decay=0 (README, Optimizers) where torch has lr=1e-3,
 * weight_decay=0.1.
 *
 * Options: lr=0.02, momentum=0.95, nesterov=true, ns_steps=5,
 * weight_decay=0, use="muon" ("muon" | "adamw"), and for adamw groups
 * betas={0.9, 0.999}, eps=1e-8, amsgrad=false. A matrix in a muon group
 * only: a vector there is an error (check_param).
 * State: momentum_buffer (muon tensors), exp_avg, exp_avg_sq,
 * max_exp_avg_sq (adamw tensors). All are full-length, so a state tensor
 * is zero where the other rule applies.
 *
 * The Newton-Schulz products are cblas GEMMs in the parameters' element
 * type, on scratch sized when the parameters are set (2·m·k + 2·m·m
 * elements for the largest matrix). */
#ifndef OL_GENERIC
#include "optim/generic/adam.h"

enum { LR, MOMENTUM, NESTEROV, NS_STEPS, WEIGHT_DECAY, USE, BETAS, BETA2, EPS, AMSGRAD, NSLOTS };
enum { USE_MUON, USE_ADAMW };

static const char *const uses[] = {"muon", "adamw", NULL};
static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {0.02}, OL_GE0},
    {.name = "momentum", .type = OL_OPT_NUMBER, .slot = MOMENTUM, .def = {0.95}, OL_UNIT},
    {.name = "nesterov", .type = OL_OPT_BOOL, .slot = NESTEROV, .def = {1}},
    {.name = "ns_steps", .type = OL_OPT_NUMBER, .slot = NS_STEPS, .def = {5}, .lo = 0, .hi = 100},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "use", .type = OL_OPT_ENUM, .slot = USE, .def = {USE_MUON}, .choices = uses},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.9, 0.999}, OL_UNIT},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-8}, OL_GT0},
    {.name = "amsgrad", .type = OL_OPT_BOOL, .slot = AMSGRAD, .def = {0}},
};
static const char *const state_names[] = {"momentum_buffer", "exp_avg", "exp_avg_sq",
                                          "max_exp_avg_sq"};

static int check(const double *o, ol_error *err) {
    if (o[NS_STEPS] != floor(o[NS_STEPS]))
        return ol_fail(err, "option 'ns_steps' must be an integer, got %g", o[NS_STEPS]);
    return 0;
}

static int check_param(const ol_optim_param *p, const double *o, ol_error *err) {
    if (o[USE] == USE_MUON && !p->matrix)
        return ol_fail(err, "the parameter at offset %lld (%lld elements) is not a matrix: muon "
                       "orthogonalises 2-D weights; put it in a group with use = \"adamw\"",
                       (long long)p->offset, (long long)(p->rows * p->cols));
    return 0;
}

/* Scratch for the largest matrix: X and its next iterate (m x k each), the
 * Gram matrix A and the polynomial B (m x m each). Every matrix counts, as
 * a group's use may change between steps. */
static int64_t workspace(const ol_optim *opt) {
    int64_t most = 0;
    for (int i = 0; i < opt->nparams; i++) {
        const ol_optim_param *b = &opt->params[i];
        if (!b->matrix) continue;
        const int64_t m = b->rows < b->cols ? b->rows : b->cols;
        const int64_t k = b->rows < b->cols ? b->cols : b->rows;
        if (2 * m * k + 2 * m * m > most) most = 2 * m * k + 2 * m * m;
    }
    return most;
}

/* NS_A, NS_B, NS_C: the quintic's coefficients (KellerJordan/Muon). */
#define NS_A 3.4445
#define NS_B (-4.7750)
#define NS_C 2.0315

static ol_adam_coef adamw_coef(const ol_optim_ctx *c) {
    const double *o = c->o;
    return ol_adam_coef_make(o[LR], o[BETAS], o[BETA2], o[EPS], o[WEIGHT_DECAY], 1,
                             o[AMSGRAD] != 0, 0, 1, c->t);
}

#define OL_GENERIC "optim/muon.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_muon = {
    .name = "muon",
    .kind = OL_OPTIM_TENSOR,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 4,
    .check = check,
    .check_param = check_param,
    .step_f32 = muon_step_f32,
    .step_f64 = muon_step_f64,
    .doc = "Muon, Newton-Schulz orthogonalised momentum on 2-D weights, adamw groups for the "
           "rest (Jordan 2024)",
    .workspace = workspace,
};

#else /* the step for one element type T */

#include "optim/generic/adam.h"

/* One matrix at w, g, buf (rows x cols, row-major). Element (i, j) of U
 * goes to X[i][j], or to X[j][i] when transposed (rows > cols). */
static void S(muon_matrix)(const double *o, const ol_optim_param *blk, T *w, const T *g, T *buf,
                           T *work) {
    const int64_t r = blk->rows, cc = blk->cols;
    const int tr = r > cc;
    const int m = (int)(tr ? cc : r), k = (int)(tr ? r : cc);
    T *x = work, *y = x + (int64_t)m * k, *a = y + (int64_t)m * k, *bm = a + (int64_t)m * m;
    const T mu = (T)o[MOMENTUM];
    const int nest = o[NESTEROV] != 0;
    double ss = 0;
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < cc; j++) {
            const int64_t e = i * cc + j;
            const T bi = mu * buf[e] + g[e];
            const T ui = nest ? g[e] + mu * bi : bi;
            buf[e] = bi;
            x[tr ? j * r + i : e] = ui;
            ss += (double)ui * ui;
        }
    const T scale = (T)(1 / (sqrt(ss) + 1e-7));
    for (int64_t e = 0; e < (int64_t)m * k; e++) x[e] *= scale;
    const int steps = (int)o[NS_STEPS];
    for (int s = 0; s < steps; s++) {
        BLAS(gemm)(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, k, 1, x, k, x, k, 0, a, m);
        for (int64_t e = 0; e < (int64_t)m * m; e++) bm[e] = a[e];
        BLAS(gemm)(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, (T)NS_C, a, m, a, m,
                   (T)NS_B, bm, m);
        for (int64_t e = 0; e < (int64_t)m * k; e++) y[e] = x[e];
        BLAS(gemm)(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, m, 1, bm, m, x, k, (T)NS_A,
                   y, k);
        T *swap = x;
        x = y;
        y = swap;
    }
    const T decay = (T)(1 - o[LR] * o[WEIGHT_DECAY]);
    const T lr = (T)(o[LR] * sqrt(fmax(1.0, (double)r / (double)cc)));
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < cc; j++) {
            const int64_t e = i * cc + j;
            w[e] = w[e] * decay - lr * x[tr ? j * r + i : e];
        }
}

/* One tensor: muon's rule on a matrix of a muon group, AdamW otherwise
 * (check_param keeps vectors out of muon groups). */
static void S(muon_step)(const ol_optim_ctx *c, T *w, const T *g, T *const *s) {
    if (c->o[USE] == USE_ADAMW) {
        const ol_adam_coef k = adamw_coef(c);
        S(ol_adam_update)(&k, w, g, s[1], s[2], s[3], c->n);
        return;
    }
    S(muon_matrix)(c->o, c->param, w, g, s[0], c->work);
}

#endif
