/* The Adam/AdamW inner loop, shared by adam.c (adam, adamw) and muon.c
 * (its adamw fallback for the parameters that are not matrices), so that
 * the rule is written and tested once. Private to engine/optim.
 *
 * Per element, as torch/optim/adam.py (_single_tensor_adam, PyTorch 2.x):
 *   g <- ±g (− when maximize) + l2·w       (l2: adam's coupled weight decay)
 *   w <- decay·w                            (decay = 1 − lr·wd: adamw's decoupled decay)
 *   m <- m + (1 − β1)(g − m)                (torch's lerp form of β1·m + (1 − β1)·g)
 *   v <- β2·v + (1 − β2)·g²
 *   vmax <- max(vmax, v)                    (amsgrad; the denominator then uses vmax)
 *   w <- w − step·m / (sqrt(v)/sqrt(1 − β2^t) + eps),  step = lr/(1 − β1^t)
 * The bias corrections are computed once per step in double, by the caller;
 * without them (adam's bias_correction = false) step = lr and the
 * denominator is sqrt(v) + eps: m and v are used as they are.
 *
 * Included like an optimizer file's two parts: once from the includer's
 * plain part (the coefficients), then by core/generic.h from its generic
 * part, once per element type (the update). */
#ifndef OL_GENERIC
#ifndef OL_OPTIM_GENERIC_ADAM_H
#define OL_OPTIM_GENERIC_ADAM_H

#include "optim/optim.h"

typedef struct ol_adam_coef {
    double b1, b2, eps;
    double l2;          /* coupled weight decay (adam), 0 otherwise */
    double decay;       /* 1 − lr·wd for adamw, 1 otherwise */
    double step;        /* lr / (1 − β1^t), or lr without bias correction */
    double inv_bc2;     /* 1 / sqrt(1 − β2^t), or 1 without bias correction */
    double sign;        /* −1 when maximize */
    int amsgrad;
} ol_adam_coef;

/* Coefficients for step t (from 1). */
static inline ol_adam_coef ol_adam_coef_make(double lr, double b1, double b2, double eps,
                                             double wd, int decoupled, int amsgrad,
                                             int maximize, int bias_correction, int64_t t) {
    ol_adam_coef k = {.b1 = b1, .b2 = b2, .eps = eps, .amsgrad = amsgrad};
    k.l2 = decoupled ? 0 : wd;
    k.decay = decoupled ? 1 - lr * wd : 1;
    k.step = bias_correction ? lr / (1 - pow(b1, (double)t)) : lr;
    k.inv_bc2 = bias_correction ? 1 / sqrt(1 - pow(b2, (double)t)) : 1;
    k.sign = maximize ? -1 : 1;
    return k;
}

#endif
#else /* the update for one element type T */

/* amsgrad is a separate loop so that the common one stays branch-free and
 * vectorises; vm may be NULL when amsgrad is off. */
static inline void S(ol_adam_update)(const ol_adam_coef *k, T *restrict w, const T *restrict g,
                                     T *restrict m, T *restrict v, T *restrict vm, int64_t n) {
    const T a1 = (T)(1 - k->b1), b2 = (T)k->b2, a2 = (T)(1 - k->b2);
    const T eps = (T)k->eps, l2 = (T)k->l2, decay = (T)k->decay;
    const T step = (T)k->step, ib = (T)k->inv_bc2, sg = (T)k->sign;
    if (!k->amsgrad) {
        for (int64_t i = 0; i < n; i++) {
            const T wi = w[i] * decay, gi = sg * g[i] + l2 * w[i];
            const T mi = m[i] + a1 * (gi - m[i]);
            const T vi = b2 * v[i] + a2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            w[i] = wi - step * mi / (sqrt(vi) * ib + eps);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            const T wi = w[i] * decay, gi = sg * g[i] + l2 * w[i];
            const T mi = m[i] + a1 * (gi - m[i]);
            const T vi = b2 * v[i] + a2 * gi * gi;
            const T vmi = OL_FMAX(vm[i], vi);
            m[i] = mi;
            v[i] = vi;
            vm[i] = vmi;
            w[i] = wi - step * mi / (sqrt(vmi) * ib + eps);
        }
    }
}

#endif
