/* radam: Rectified Adam, as torch.optim.RAdam.
 *
 *   g <- ±g (− when maximize)
 *   g <- g + wd·w   or, with decoupled_weight_decay,   w <- w·(1 − lr·wd)
 *   m <- β1·m + (1 − β1)·g
 *   v <- β2·v + (1 − β2)·g²
 *   ρ∞ = 2/(1 − β2) − 1,   ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t)
 *   if ρ_t > 5:  l = sqrt(1 − β2^t)/(sqrt(v) + eps)
 *                r = sqrt((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t))
 *                w <- w − lr·m/(1 − β1^t)·r·l
 *   else:        w <- w − lr·m/(1 − β1^t)      (un-adapted momentum step)
 *
 * Sources: Liu et al., "On the Variance of the Adaptive Learning Rate and
 * Beyond" (ICLR 2020), Algorithm 2; torch/optim/radam.py (PyTorch 2.x,
 * _single_tensor_radam), whose threshold 5 and placement of eps (added to
 * sqrt(v) before the bias correction) are followed.
 *
 * Options (torch's defaults): lr=1e-3, betas={0.9, 0.999}, eps=1e-8,
 * weight_decay=0, decoupled_weight_decay=false, maximize=false.
 * State: exp_avg, exp_avg_sq. */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, BETAS, BETA2, EPS, WEIGHT_DECAY, DECOUPLED, MAXIMIZE, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-3}, OL_GE0},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.9, 0.999}, OL_UNIT},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-8}, OL_GT0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "decoupled_weight_decay", .type = OL_OPT_BOOL, .slot = DECOUPLED, .def = {0}},
    {.name = "maximize", .type = OL_OPT_BOOL, .slot = MAXIMIZE, .def = {0}},
};
static const char *const state_names[] = {"exp_avg", "exp_avg_sq"};

/* w <- decay·w − step·m/(sqrt(v) + eps) when rectified, − step·m otherwise;
 * rect selects the form once per step. */
typedef struct radam_coef {
    double step, l2, decay;
    int rect;
} radam_coef;

static radam_coef coef(const ol_optim_ctx *c) {
    const double *o = c->o;
    const double t = (double)c->t, b2 = o[BETA2];
    const double bc1 = 1 - pow(o[BETAS], t), bc2 = 1 - pow(b2, t);
    const double rho_inf = 2 / (1 - b2) - 1;
    const double rho_t = rho_inf - 2 * t * pow(b2, t) / bc2;
    const int dec = o[DECOUPLED] != 0;
    radam_coef k = {.l2 = dec ? 0 : o[WEIGHT_DECAY],
                    .decay = dec ? 1 - o[LR] * o[WEIGHT_DECAY] : 1,
                    .rect = rho_t > 5};
    k.step = o[LR] / bc1;
    if (k.rect)
        k.step *= sqrt(bc2) * sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                                   ((rho_inf - 4) * (rho_inf - 2) * rho_t));
    return k;
}

#define OL_GENERIC "optim/radam.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_radam = {
    .name = "radam",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 2,
    .step_f32 = radam_step_f32,
    .step_f64 = radam_step_f64,
    .doc = "RAdam, variance-rectified Adam, rho_t > 5 (Liu et al. 2020; torch.optim.RAdam)",
};

#else /* the step for one element type T */

static void S(radam_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g,
                          T *const *s) {
    const radam_coef k = coef(c);
    const T a1 = (T)(1 - c->o[BETAS]), b2 = (T)c->o[BETA2], a2 = (T)(1 - b2);
    const T eps = (T)c->o[EPS], sg = c->o[MAXIMIZE] != 0 ? (T)-1 : (T)1;
    const T step = (T)k.step, l2 = (T)k.l2, decay = (T)k.decay;
    T *restrict m = s[0], *restrict v = s[1];
    /* Two loops, the test of rect outside them: -O2 does not unswitch a
     * loop, and a branch inside keeps it from vectorising. */
    if (k.rect) {
        for (int64_t i = 0; i < c->n; i++) {
            const T gi = sg * g[i] + l2 * w[i];
            const T mi = m[i] + a1 * (gi - m[i]);
            const T vi = b2 * v[i] + a2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            w[i] = w[i] * decay - step * mi / (sqrt(vi) + eps);
        }
        return;
    }
    for (int64_t i = 0; i < c->n; i++) {
        const T gi = sg * g[i] + l2 * w[i];
        const T mi = m[i] + a1 * (gi - m[i]);
        m[i] = mi;
        v[i] = b2 * v[i] + a2 * gi * gi;
        w[i] = w[i] * decay - step * mi;
    }
}

#endif
