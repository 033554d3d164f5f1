/* soap: Adam in the eigenbasis of Shampoo's preconditioner (Vyas et al.,
 * "SOAP: Improving and Stabilizing Shampoo using Adam", 2024), term by term
 * as the authors' reference implementation, nikhilvyas/SOAP soap.py, for
 * a 2-D weight and a vector.
 *
 * For a matrix G (m x n) with statistics GG_L (m x m), GG_R (n x n) and
 * eigenbases Q_L, Q_R; sb = shampoo_beta, or betas[2] when it is nil:
 *   t = 1 (the reference's first step, which only initialises the bases
 *   and leaves w and the moments alone):
 *     GG_L = (1 − sb)·G·Gᵀ,  GG_R = (1 − sb)·Gᵀ·G      (lerp from 0)
 *     Q = the eigenvectors of GG + 1e-30·I (?syevd), in descending order
 *         of eigenvalue                                 (get_orthogonal_matrix)
 *   t > 1, with s = t − 1 (the reference's state["step"]):
 *     G' = Q_Lᵀ·G·Q_R                                   (project)
 *     m <- β1·m + (1 − β1)·G',  v <- β2·v + (1 − β2)·G'²
 *     N = Q_L·(m / (sqrt(v) + eps))·Q_Rᵀ                 (project_back)
 *     w <- w − lr·sqrt(1 − β2^s)/(1 − β1^s)·N
 *     w <- w − lr·wd·w                                  (when wd > 0)
 *     GG <- sb·GG + (1 − sb)·(G·Gᵀ or Gᵀ·G)              (update_preconditioner)
 *     when s % precondition_frequency = 0 (get_orthogonal_matrix_QR),
 *     with m taken back to the original basis first (m <- Q_L·m·Q_Rᵀ), for
 *     each side in turn (rows, then columns):
 *       e_j = (Qᵀ·GG·Q)_jj; order the columns of Q by e descending, and
 *       v's rows (columns) the same way; Q <- the Q of the QR of GG·Q
 *     then m <- Q_Lᵀ·m·Q_R in the new bases.
 * A side longer than max_precond_dim keeps no statistic and uses the
 * identity for Q (the reference's empty GG entry). A vector (a bias, or a
 * tensor that is not 2-D) is Adam with the same first step skipped and s
 * = t − 1 (the reference's default precondition_1d = False).
 *
 * The reference's other arguments, at their defaults and not options:
 * normalize_grads = False, correct_bias = True, merge_dims = False,
 * precondition_1d = False, data_format = "channels_first" (optlua's
 * tensors of other rank are vectors, so neither of the last two has
 * anything to act on). Where this file differs from soap.py:
 *   - the reference moves m back to the original basis and into the
 *     bases again after every step; when the bases did not change that is
 *     the identity (QᵀQ = I), so it is done only on the steps that refresh
 *     them;
 *   - the reference computes the eigenvectors and the QR in float32 for
 *     any parameter dtype; here they are in the parameters' dtype (f64
 *     runs are then exact to f64 rounding). The QR is LAPACK's ?geqrf and
 *     ?orgqr, as torch.linalg.qr. The step does not depend on the signs of
 *     the basis vectors: flipping one flips the matching row (column) of
 *     G' and of m, leaves v, and cancels in N; and Householder QR gives
 *     the same Q for GG·Q with any column's sign flipped;
 *   - GG's update is written β·GG + (1 − β)·X where torch's lerp_ computes
 *     GG + (1 − β)·(X − GG): equal but for rounding;
 *   - the step and the decay, w <- (w − step·N)·(1 − lr·wd), are one
 *     accumulation (1 − lr·wd)·w − step·(1 − lr·wd)·N in the GEMM that
 *     makes N, so that they cost no pass over w: equal but for rounding.
 * The identity on a long side is never silent: max_precond_dim is given
 * at construction (it sizes the state), and desc->describe (opt.info)
 * names every matrix whose side it leaves unpreconditioned.
 *
 * Options: lr=3e-3, betas={0.95, 0.95}, shampoo_beta=nil (stored as -1: a
 * negative value follows betas[2], as in the reference), eps=1e-8,
 * weight_decay=0.01, precondition_frequency=10, max_precond_dim=10000.
 * State: exp_avg and exp_avg_sq (every element; exp_avg of a matrix in
 * its eigenbasis), gg_left and q_left (m x m per matrix whose rows are
 * preconditioned), gg_right and q_right (n x n, the columns); gg_* hold
 * the statistic's upper triangle (generic/precond.h). */
#ifndef OL_GENERIC
#include "optim/generic/precond.h"

enum { LR, BETAS, BETA2, SHAMPOO_BETA, EPS, WEIGHT_DECAY, FREQUENCY, MAX_PRECOND_DIM, NSLOTS };
enum { EXP_AVG, EXP_AVG_SQ, GG_LEFT, GG_RIGHT, Q_LEFT, Q_RIGHT, NSTATE };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {3e-3}, OL_GE0},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.95, 0.95}, OL_UNIT},
    {.name = "shampoo_beta", .type = OL_OPT_NUMBER, .slot = SHAMPOO_BETA, .def = {-1}, OL_UNIT,
     .nil_elem = 1, .nil_value = -1},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-8}, OL_GT0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0.01}, OL_GE0},
    {.name = "precondition_frequency", .type = OL_OPT_NUMBER, .slot = FREQUENCY, .def = {10},
     .lo = 1, .hi = 1e9},
    {.name = "max_precond_dim", .type = OL_OPT_NUMBER, .slot = MAX_PRECOND_DIM, .def = {10000},
     .lo = 1, .hi = 1e9, .sizes_state = 1},
};
static const char *const state_names[] = {"exp_avg", "exp_avg_sq", "gg_left",
                                          "gg_right", "q_left",   "q_right"};

static int check(const double *o, ol_error *err) {
    if (o[FREQUENCY] != floor(o[FREQUENCY]) || o[MAX_PRECOND_DIM] != floor(o[MAX_PRECOND_DIM]))
        return ol_fail(err,
                       "options 'precondition_frequency' and 'max_precond_dim' must be integers");
    return 0;
}

static int64_t state_len(int k, const ol_optim_param *p, const double *o) {
    const int rows = p->matrix && ol_precond_side(p->rows, o[MAX_PRECOND_DIM]);
    const int cols = p->matrix && ol_precond_side(p->cols, o[MAX_PRECOND_DIM]);
    switch (k) {
    case EXP_AVG:
    case EXP_AVG_SQ: return p->rows * p->cols;
    case GG_LEFT:
    case Q_LEFT: return rows ? p->rows * p->rows : 0;
    default: return cols ? p->cols * p->cols : 0;
    }
}

/* Scratch of one preconditioned side of d: the eigendecomposition's
 * vectors and values and ?syevd's scratch (first step), or GG·Q, the
 * estimated eigenvalues, their order (d ints) and ?geqrf/?orgqr's scratch
 * (refresh); -1 when a LAPACK query fails. */
static int64_t side_size(ol_dtype dt, int64_t d) {
    const int64_t e = ol_precond_eigh_size(dt, d), q = ol_lapack_qr_size(dt, (int)d, (int)d);
    if (e < 0 || q < 0) return -1;
    const int64_t order = (d * (int64_t)sizeof(int) + (int64_t)ol_dtype_size(dt) - 1) /
                          (int64_t)ol_dtype_size(dt);
    return 2 * d * d + d + order + (e > q ? e : q);
}

/* A matrix: two m x n buffers for the rotations, then the larger side's
 * scratch; a vector: its Adam direction (n). */
static int64_t workspace(const ol_optim *opt) {
    int64_t most = 0;
    for (int i = 0; i < opt->nparams; i++) {
        const ol_optim_param *p = &opt->params[i];
        if (!p->matrix) {
            if (p->rows * p->cols > most) most = p->rows * p->cols;
            continue;
        }
        const double maxd = opt->groups[p->group].o[MAX_PRECOND_DIM];
        int64_t side = 0;
        for (int k = 0; k < 2; k++) {
            const int64_t d = k ? p->cols : p->rows;
            if (!ol_precond_side(d, maxd)) continue;
            const int64_t e = side_size(opt->dtype, d);
            if (e < 0) return -1;
            if (e > side) side = e;
        }
        if (2 * p->rows * p->cols + side > most) most = 2 * p->rows * p->cols + side;
    }
    return most;
}

static void describe(const ol_optim *opt, char *buf, size_t len) {
    ol_precond_describe(opt, MAX_PRECOND_DIM, buf, len);
}

/* The statistics' β: shampoo_beta, or betas[2] when it is nil (-1). */
static double shampoo_beta(const double *o) {
    return o[SHAMPOO_BETA] >= 0 ? o[SHAMPOO_BETA] : o[BETA2];
}

/* The update w <- beta·w + alpha·N of step s (the reference's s):
 * w − step·N, step = lr·sqrt(1 − β2^s)/(1 − β1^s), then w·(1 − lr·wd)
 * when wd > 0 (the reference's p.add_(p, alpha=-lr·wd) after the step),
 * as one product. */
static void update_coef(const double *o, int64_t s, double *alpha, double *beta) {
    const double bc1 = 1 - pow(o[BETAS], (double)s), bc2 = 1 - pow(o[BETA2], (double)s);
    const double keep = o[WEIGHT_DECAY] > 0 ? 1 - o[LR] * o[WEIGHT_DECAY] : 1;
    *alpha = -o[LR] * sqrt(bc2) / bc1 * keep;
    *beta = keep;
}

#define OL_GENERIC "optim/soap.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_soap = {
    .name = "soap",
    .kind = OL_OPTIM_TENSOR,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = NSTATE,
    .check = check,
    .step_f32 = soap_step_f32,
    .step_f64 = soap_step_f64,
    .doc = "SOAP, Adam in the eigenbasis of Shampoo's preconditioner (Vyas et al. 2024, "
           "nikhilvyas/SOAP)",
    .workspace = workspace,
    .state_len = state_len,
    .describe = describe,
};

#else /* the step for one element type T */

#include "optim/generic/precond.h"

/* The sides of one matrix: its size, and each side's basis (NULL: the
 * identity). */
typedef struct S(soap_mat) {
    int64_t m, n;
    T *ql, *qr;
} S(soap_mat);

/* out <- alpha·R(x) + beta·out with R(x) = Q_Lᵀ·x·Q_R (back = 0, project)
 * or Q_L·x·Q_Rᵀ (back = 1, project_back): the last product carries alpha
 * and beta (beta = 0: out is only written), so that the step's update of
 * w is that GEMM's accumulation and no pass of its own. tmp is m x n; out
 * must not be x. */
static void S(soap_rotate)(const S(soap_mat) *a, int back, const T *x, T *out, T *tmp, T alpha,
                           T beta) {
    const int m = (int)a->m, n = (int)a->n;
    const CBLAS_TRANSPOSE tl = back ? CblasNoTrans : CblasTrans;
    const CBLAS_TRANSPOSE tr = back ? CblasTrans : CblasNoTrans;
    if (a->ql && a->qr) {
        BLAS(gemm)(CblasRowMajor, tl, CblasNoTrans, m, n, m, 1, a->ql, m, x, n, 0, tmp, n);
        BLAS(gemm)(CblasRowMajor, CblasNoTrans, tr, m, n, n, alpha, tmp, n, a->qr, n, beta, out, n);
    } else if (a->ql) {
        BLAS(gemm)(CblasRowMajor, tl, CblasNoTrans, m, n, m, alpha, a->ql, m, x, n, beta, out, n);
    } else if (a->qr) {
        BLAS(gemm)(CblasRowMajor, CblasNoTrans, tr, m, n, n, alpha, x, n, a->qr, n, beta, out, n);
    } else if (beta == 0) {
        for (int64_t e = 0; e < (int64_t)m * n; e++) out[e] = alpha * x[e];
    } else {
        for (int64_t e = 0; e < (int64_t)m * n; e++) out[e] = beta * out[e] + alpha * x[e];
    }
}

/* The first step's basis: the eigenvectors of gg + 1e-30·I, by descending
 * eigenvalue; NaN when LAPACK fails (a NaN in the statistic). */
static void S(soap_eigenbasis)(const T *gg, int64_t d, T *q, T *work) {
    T *vec = work, *val = vec + d * d, *scratch = val + d;
    if (S(ol_precond_eigh)(gg, d, (T)1e-30, vec, val, scratch) != 0) {
        for (int64_t e = 0; e < d * d; e++) q[e] = (T)NAN;
        return;
    }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) q[i * d + j] = vec[i * d + d - 1 - j];
}

/* One side's refresh (get_orthogonal_matrix_QR): e = diag(Qᵀ·GG·Q), the
 * columns of GG·Q and the rows (side 0) or columns (side 1) of v ordered
 * by e descending (a stable insertion sort), Q <- the Q of their QR. */
static void S(soap_refresh)(const S(soap_mat) *a, int side, const T *gg, T *q, T *v, T *vtmp,
                            T *work) {
    const int64_t d = side ? a->n : a->m, m = a->m, n = a->n;
    T *gq = work, *p = gq + d * d, *est = p + d * d;
    int *order = (int *)(void *)(est + d);
    T *scratch = est + d +
                 (d * (int64_t)sizeof(int) + (int64_t)sizeof(T) - 1) / (int64_t)sizeof(T);
    BLAS(symm)(CblasRowMajor, CblasLeft, CblasUpper, (int)d, (int)d, 1, gg, (int)d, q, (int)d, 0,
               gq, (int)d);
    for (int64_t j = 0; j < d; j++) {
        ACC e = 0;
        for (int64_t i = 0; i < d; i++) e += (ACC)q[i * d + j] * gq[i * d + j];
        est[j] = (T)e;
    }
    for (int j = 0; j < (int)d; j++) {
        int i = j;
        for (; i > 0 && est[order[i - 1]] < est[j]; i--) order[i] = order[i - 1];
        order[i] = j;
    }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) p[i * d + j] = gq[i * d + order[j]];
    for (int64_t e = 0; e < m * n; e++) vtmp[e] = v[e];
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            v[i * n + j] = side ? vtmp[i * n + order[j]] : vtmp[order[i] * n + j];
    if (ol_lapack_qr_work(OL_T_DT, (int)d, (int)d, p, NULL, scratch) != 0)
        for (int64_t e = 0; e < d * d; e++) p[e] = (T)NAN;
    for (int64_t e = 0; e < d * d; e++) q[e] = p[e];
}

/* Adam on G' (n elements) into x = m/(sqrt(v) + eps); x may be gp (each
 * element is read before it is written), which saves a cold stream. */
static void S(soap_adam)(const double *o, const T *gp, T *restrict m, T *restrict v, T *x,
                         int64_t n) {
    const T b1 = (T)o[BETAS], b2 = (T)o[BETA2], eps = (T)o[EPS];
    const T c1 = (T)(1 - o[BETAS]), c2 = (T)(1 - o[BETA2]);
    for (int64_t i = 0; i < n; i++) {
        const T mi = m[i] * b1 + gp[i] * c1, vi = v[i] * b2 + gp[i] * gp[i] * c2;
        m[i] = mi;
        v[i] = vi;
        x[i] = mi / (sqrt(vi) + eps);
    }
}

static void S(soap_matrix)(const ol_optim_ctx *c, T *w, const T *g, T *const *s) {
    const double *o = c->o;
    const int64_t m = c->param->rows, n = c->param->cols;
    const int left = ol_precond_side(m, o[MAX_PRECOND_DIM]);
    const int right = ol_precond_side(n, o[MAX_PRECOND_DIM]);
    const S(soap_mat) a = {m, n, left ? s[Q_LEFT] : NULL, right ? s[Q_RIGHT] : NULL};
    const T sb = (T)shampoo_beta(o);
    T *buf = c->work, *tmp = buf + m * n, *work = tmp + m * n;
    if (c->t == 1) {
        for (int side = 0; side < 2; side++) {
            if (!(side ? right : left)) continue;
            T *gg = s[side ? GG_RIGHT : GG_LEFT];
            S(ol_precond_stat)(gg, g, m, n, side, 1 - sb, sb);
            S(soap_eigenbasis)(gg, side ? n : m, side ? a.qr : a.ql, work);
        }
        return;
    }
    const int64_t st = c->t - 1;
    double alpha, beta;
    update_coef(o, st, &alpha, &beta);
    S(soap_rotate)(&a, 0, g, buf, tmp, 1, 0);
    S(soap_adam)(o, buf, s[EXP_AVG], s[EXP_AVG_SQ], buf, m * n);
    S(soap_rotate)(&a, 1, buf, w, tmp, (T)alpha, (T)beta);
    for (int side = 0; side < 2; side++)
        if (side ? right : left)
            S(ol_precond_stat)(s[side ? GG_RIGHT : GG_LEFT], g, m, n, side, 1 - sb, sb);
    if ((!left && !right) || st % (int64_t)o[FREQUENCY] != 0) return;
    S(soap_rotate)(&a, 1, s[EXP_AVG], buf, tmp, 1, 0);
    for (int side = 0; side < 2; side++)
        if (side ? right : left)
            S(soap_refresh)(&a, side, s[side ? GG_RIGHT : GG_LEFT], side ? a.qr : a.ql,
                            s[EXP_AVG_SQ], tmp, work);
    S(soap_rotate)(&a, 0, buf, s[EXP_AVG], tmp, 1, 0);
}

static void S(soap_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g, T *const *s) {
    if (c->param->matrix) {
        S(soap_matrix)(c, w, g, s);
        return;
    }
    if (c->t == 1) return; /* the first step only initialises (a vector has no basis) */
    const S(soap_mat) a = {1, c->n, NULL, NULL};
    double alpha, beta;
    update_coef(c->o, c->t - 1, &alpha, &beta);
    S(soap_adam)(c->o, g, s[EXP_AVG], s[EXP_AVG_SQ], c->work, c->n);
    S(soap_rotate)(&a, 1, c->work, w, NULL, (T)alpha, (T)beta);
}

#endif
