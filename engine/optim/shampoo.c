/* shampoo: a Kronecker-factored preconditioner per parameter tensor (Gupta,
 * Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization",
 * ICML 2018, Algorithm 1 for a matrix, with the diagonal AdaGrad form for a
 * vector).
 *
 * For a matrix G (m x n, the gradient of one 2-D weight):
 *   L <- L + G·Gᵀ,  R <- R + Gᵀ·G          (both start at eps·I)
 *   at t = 1 and every update_every steps (t % update_every = 0):
 *     L^{-1/4}, R^{-1/4} from the symmetric eigendecompositions
 *     L = V·diag(λ)·Vᵀ (LAPACK ?syevd): V·diag(λ^{-1/4})·Vᵀ
 *   P = L^{-1/4}·G·R^{-1/4}
 * a side longer than max_precond_dim keeps no statistic and uses the
 * identity for its root (P = L^{-1/4}·G, or G·R^{-1/4}, or G); for a
 * vector (a bias, or a tensor that is not 2-D):
 *   H <- H + g²  (starts at eps),  P = g/sqrt(H)
 * then for both:
 *   b <- momentum·b + P
 *   w <- w − lr·b
 *
 * This is API.md's rule; the paper's Algorithm 1 has no momentum (b = P)
 * and recomputes the roots every step (update_every = 1, the default).
 * With update_every > 1 the roots of t = 1 come from one gradient, L =
 * eps·I + G₁·G₁ᵀ, and give every direction G₁ misses the factor
 * eps^{-1/4} (10 at the default eps) until the next refresh: the steps in
 * between can be far larger than later ones.
 * An eigenvalue below eps, which L ≥ eps·I excludes but rounding can
 * produce, is taken as eps. The roots between refreshes are state, so a
 * checkpoint resumes exactly.
 *
 * The identity on a long side is never silent: max_precond_dim is given
 * at construction (it sizes the state), and desc->describe (opt.info)
 * names every matrix whose side it leaves unpreconditioned.
 *
 * Options: lr=0.1, eps=1e-4, momentum=0, update_every=1,
 * max_precond_dim=2048. eps is read at the first step after a reset, where
 * it sets the statistics' start. State (compact, each tensor's part in
 * offset order): momentum_buffer (every element), left and left_root (m x m
 * per matrix whose rows are preconditioned), right and right_root (n x n,
 * the columns), diag (a vector's H); left and right hold the statistic's
 * upper triangle (generic/precond.h). */
#ifndef OL_GENERIC
#include "optim/generic/precond.h"

enum { LR, EPS, MOMENTUM, UPDATE_EVERY, MAX_PRECOND_DIM, NSLOTS };
enum { MOM, LEFT, RIGHT, LEFT_ROOT, RIGHT_ROOT, DIAG, NSTATE };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {0.1}, OL_GE0},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-4}, OL_GT0,
     .first_step_only = 1},
    {.name = "momentum", .type = OL_OPT_NUMBER, .slot = MOMENTUM, .def = {0}, OL_UNIT},
    {.name = "update_every", .type = OL_OPT_NUMBER, .slot = UPDATE_EVERY, .def = {1}, .lo = 1,
     .hi = 1e9},
    {.name = "max_precond_dim", .type = OL_OPT_NUMBER, .slot = MAX_PRECOND_DIM, .def = {2048},
     .lo = 1, .hi = 1e9, .sizes_state = 1},
};
static const char *const state_names[] = {"momentum_buffer", "left",       "right",
                                          "left_root",       "right_root", "diag"};

static int check(const double *o, ol_error *err) {
    if (o[UPDATE_EVERY] != floor(o[UPDATE_EVERY]) ||
        o[MAX_PRECOND_DIM] != floor(o[MAX_PRECOND_DIM]))
        return ol_fail(err, "options 'update_every' and 'max_precond_dim' must be integers");
    return 0;
}

static int64_t state_len(int k, const ol_optim_param *p, const double *o) {
    const int rows = p->matrix && ol_precond_side(p->rows, o[MAX_PRECOND_DIM]);
    const int cols = p->matrix && ol_precond_side(p->cols, o[MAX_PRECOND_DIM]);
    switch (k) {
    case MOM: return p->rows * p->cols;
    case LEFT:
    case LEFT_ROOT: return rows ? p->rows * p->rows : 0;
    case RIGHT:
    case RIGHT_ROOT: return cols ? p->cols * p->cols : 0;
    default: return p->matrix ? 0 : p->rows * p->cols;
    }
}

/* The larger of a matrix's product scratch (L^{-1/4}·G, m x n) and a
 * root's (V, λ, V·diag(f(λ)) and ?syevd's scratch), over the matrices. */
static int64_t workspace(const ol_optim *opt) {
    int64_t most = 0;
    for (int i = 0; i < opt->nparams; i++) {
        const ol_optim_param *p = &opt->params[i];
        if (!p->matrix) continue;
        const double maxd = opt->groups[p->group].o[MAX_PRECOND_DIM];
        int64_t need = p->rows * p->cols;
        for (int side = 0; side < 2; side++) {
            const int64_t d = side ? p->cols : p->rows;
            if (!ol_precond_side(d, maxd)) continue;
            const int64_t e = ol_precond_eigh_size(opt->dtype, d);
            if (e < 0) return -1;
            if (2 * d * d + d + e > need) need = 2 * d * d + d + e;
        }
        if (need > most) most = need;
    }
    return most;
}

static void describe(const ol_optim *opt, char *buf, size_t len) {
    ol_precond_describe(opt, MAX_PRECOND_DIM, buf, len);
}

/* λ^{-1/4}, with λ at least eps. */
static double inv_fourth_root(double lambda, double eps) { return pow(fmax(lambda, eps), -0.25); }

#define OL_GENERIC "optim/shampoo.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_shampoo = {
    .name = "shampoo",
    .kind = OL_OPTIM_TENSOR,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = NSTATE,
    .check = check,
    .step_f32 = shampoo_step_f32,
    .step_f64 = shampoo_step_f64,
    .doc = "Shampoo, L^(-1/4) G R^(-1/4) with Kronecker factors per matrix, diagonal for "
           "vectors (Gupta et al. 2018)",
    .workspace = workspace,
    .state_len = state_len,
    .describe = describe,
};

#else /* the step for one element type T */

#include "optim/generic/precond.h"

/* One side's root: root = (stat)^{-1/4} by its eigendecomposition; NaN in
 * every element when LAPACK fails (a NaN in the statistic), so that the
 * step shows it. */
static void S(shampoo_root)(const T *stat, int64_t d, double eps, T *root, T *work) {
    T *vec = work, *val = vec + d * d, *tmp = val + d, *scratch = tmp + d * d;
    if (S(ol_precond_eigh)(stat, d, 0, vec, val, scratch) != 0) {
        for (int64_t e = 0; e < d * d; e++) root[e] = (T)NAN;
        return;
    }
    S(ol_precond_apply)(root, vec, val, d, inv_fourth_root, eps, tmp);
}

/* A matrix: statistics, roots when due, then b <- μ·b + L^{-1/4}·G·R^{-1/4}
 * with the products as GEMMs that add μ·b in place. */
static void S(shampoo_matrix)(const ol_optim_ctx *c, const T *g, T *const *s, T *work) {
    const double *o = c->o;
    const int64_t m = c->param->rows, n = c->param->cols;
    const int left = ol_precond_side(m, o[MAX_PRECOND_DIM]);
    const int right = ol_precond_side(n, o[MAX_PRECOND_DIM]);
    const int refresh = c->t == 1 || c->t % (int64_t)o[UPDATE_EVERY] == 0;
    const T mu = (T)o[MOMENTUM];
    T *b = s[MOM];
    for (int side = 0; side < 2; side++) {
        if (!(side ? right : left)) continue;
        const int64_t d = side ? n : m;
        T *stat = s[side ? RIGHT : LEFT];
        if (c->t == 1)
            for (int64_t e = 0; e < d * d; e++) stat[e] = e % (d + 1) == 0 ? (T)o[EPS] : 0;
        S(ol_precond_stat)(stat, g, m, n, side, 1, 1);
        if (refresh) S(shampoo_root)(stat, d, o[EPS], s[side ? RIGHT_ROOT : LEFT_ROOT], work);
    }
    const T *lg = g; /* L^{-1/4}·G, or G */
    if (left && right) {
        BLAS(gemm)(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)m, 1,
                   s[LEFT_ROOT], (int)m, g, (int)n, 0, work, (int)n);
        lg = work;
    } else if (left) {
        BLAS(gemm)(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)m, 1,
                   s[LEFT_ROOT], (int)m, g, (int)n, mu, b, (int)n);
        return;
    }
    if (right) {
        BLAS(gemm)(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)n, 1, lg,
                   (int)n, s[RIGHT_ROOT], (int)n, mu, b, (int)n);
        return;
    }
    for (int64_t e = 0; e < m * n; e++) b[e] = mu * b[e] + g[e];
}

/* A vector: b <- μ·b + g/sqrt(H), H <- H + g². */
static void S(shampoo_vector)(const ol_optim_ctx *c, const T *restrict g, T *restrict b,
                              T *restrict h) {
    const T mu = (T)c->o[MOMENTUM];
    if (c->t == 1) ol_optim_fill(OL_T_DT, h, c->n, c->o[EPS]);
    for (int64_t i = 0; i < c->n; i++) {
        const T hi = h[i] + g[i] * g[i];
        h[i] = hi;
        b[i] = mu * b[i] + g[i] / sqrt(hi);
    }
}

static void S(shampoo_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g,
                            T *const *s) {
    if (c->param->matrix) S(shampoo_matrix)(c, g, s, c->work);
    else S(shampoo_vector)(c, g, s[MOM], s[DIAG]);
    const T lr = (T)c->o[LR];
    const T *restrict b = s[MOM];
    for (int64_t i = 0; i < c->n; i++) w[i] -= lr * b[i];
}

#endif
