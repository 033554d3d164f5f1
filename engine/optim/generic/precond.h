/* The matrix pieces of the preconditioned optimizers, shared by shampoo.c,
 * soap.c and adagrad.c (full_matrix) so that each is written once. Private
 * to engine/optim.
 *
 *   ol_precond_stat   A <- beta·A + alpha·X, X = G·Gᵀ (side 0) or Gᵀ·G
 *                     (side 1) of an r x c matrix G: a side's second-moment
 *                     statistic (shampoo's L and R, soap's GG, adagrad's
 *                     g·gᵀ as an n x 1 G). A rank-k update (syrk) of the
 *                     upper triangle only: every reader of A (?syevd, symm)
 *                     reads that triangle, and a mirror would be a strided
 *                     pass over d² elements every step. The strictly lower
 *                     triangle keeps whatever it held (0 from a reset).
 *   ol_precond_eigh   the eigenvalues (ascending) and unit eigenvectors (the
 *                     columns of V) of a symmetric d x d A: LAPACK's ?syevd
 *                     on scratch held by the optimizer (a step allocates
 *                     nothing).
 *   ol_precond_apply  out = V·diag(f(λ))·Vᵀ: a matrix function of A from its
 *                     eigendecomposition (shampoo's A^{-1/4}; adagrad needs
 *                     only its product with g, two GEMVs of its own).
 *
 * Besides: ol_precond_side (is a side preconditioned under max_precond_dim)
 * and ol_precond_describe (shampoo's and soap's desc->describe).
 * Every product is a cblas call in the parameters' element type. Included
 * like an optimizer file's two parts: once from the includer's plain part
 * (the sizes), then by core/generic.h from its generic part, once per
 * element type. */
#ifndef OL_GENERIC
#ifndef OL_OPTIM_GENERIC_PRECOND_H
#define OL_OPTIM_GENERIC_PRECOND_H

#include <stddef.h>
#include <stdio.h>

#include "linalg/lapack.h"
#include "optim/optim.h"

/* Scratch elements (of dt) of ol_precond_eigh for a d x d matrix besides V
 * and λ: LAPACK's, from its workspace query (-1 when it fails). */
static inline int64_t ol_precond_eigh_size(ol_dtype dt, int64_t d) {
    return ol_lapack_syevd_size(dt, 1, (int)d);
}

/* 1 if a side of d elements gets a preconditioner under max_precond_dim
 * maxd (a longer side uses the identity). */
static inline int ol_precond_side(int64_t d, double maxd) { return (double)d <= maxd; }

/* desc->describe of shampoo and soap: names the matrices with a side
 * longer than their group's max_precond_dim (option slot maxd_slot), on
 * which that side uses the identity, e.g. "identity on the rows of
 * param 1 (784x512, max_precond_dim 500)"; "" when there is none. */
static inline void ol_precond_describe(const ol_optim *opt, int maxd_slot, char *buf, size_t len) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < opt->nparams && at < len; i++) {
        const ol_optim_param *p = &opt->params[i];
        const double maxd = opt->groups[p->group].o[maxd_slot];
        const int rows = !ol_precond_side(p->rows, maxd), cols = !ol_precond_side(p->cols, maxd);
        if (!p->matrix || (!rows && !cols)) continue;
        const int k = snprintf(buf + at, len - at, "%sidentity on the %s of param %d (%lldx%lld, "
                               "max_precond_dim %g)", at ? "; " : "",
                               rows && cols ? "rows and columns" : rows ? "rows" : "columns", i + 1,
                               (long long)p->rows, (long long)p->cols, maxd);
        if (k < 0) break;
        at += (size_t)k;
    }
}

#endif
#else /* generic part: T */

/* A <- beta·A + alpha·X with X = G·Gᵀ (side 0, A is r x r) or Gᵀ·G (side 1,
 * A is c x c), G r x c row-major. */
static inline void S(ol_precond_stat)(T *a, const T *g, int64_t r, int64_t c, int side, T alpha, T beta) {
    const int d = (int)(side ? c : r), k = (int)(side ? r : c);
    BLAS(syrk)(CblasRowMajor, CblasUpper, side ? CblasTrans : CblasNoTrans, d, k, alpha, g,
               (int)c, beta, a, d);
}

/* Eigenvalues (ascending, into val) and eigenvectors (the columns of the
 * d x d row-major vec) of the symmetric d x d a (its upper triangle), with
 * diag added to its diagonal; scratch holds ol_precond_eigh_size elements. Returns LAPACK's
 * info (0 on success; -5: a NaN in a). */
static inline int S(ol_precond_eigh)(const T *a, int64_t d, T diag, T *vec, T *val, T *scratch) {
    for (int64_t e = 0; e < d * d; e++) vec[e] = a[e];
    for (int64_t i = 0; i < d; i++) vec[i * d + i] += diag;
    return ol_lapack_syevd_work(OL_T_DT, 1, (int)d, vec, val, scratch);
}

/* out = V·diag(f(λ, p))·Vᵀ for the eigendecomposition (vec, val) of a d x d
 * matrix; tmp holds d·d elements. */
static inline void S(ol_precond_apply)(T *out, const T *vec, const T *val, int64_t d,
                                double (*f)(double lambda, double p), double p, T *tmp) {
    for (int64_t j = 0; j < d; j++) {
        const T fj = (T)f((double)val[j], p);
        for (int64_t i = 0; i < d; i++) tmp[i * d + j] = vec[i * d + j] * fj;
    }
    BLAS(gemm)(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)d, 1, tmp, (int)d,
               vec, (int)d, 0, out, (int)d);
}

#endif
