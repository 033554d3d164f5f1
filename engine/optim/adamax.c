/* adamax: Adam with the infinity norm, as torch.optim.Adamax.
 *
 *   g <- ±g (− when maximize) + wd·w
 *   m <- β1·m + (1 − β1)·g
 *   u <- max(β2·u, |g| + eps)
 *   w <- w − lr/(1 − β1^t) · m/u
 *
 * Sources: Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR
 * 2015), section 7.1, Algorithm 2; torch/optim/adamax.py (PyTorch 2.x,
 * _single_tensor_adamax), which adds eps inside the max (so u > 0 and no
 * division by zero) and is followed here.
 *
 * Options (torch's defaults): lr=2e-3, betas={0.9, 0.999}, eps=1e-8,
 * weight_decay=0, maximize=false. State: exp_avg, exp_inf. */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, BETAS, BETA2, EPS, WEIGHT_DECAY, MAXIMIZE, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {2e-3}, OL_GE0},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.9, 0.999}, OL_UNIT},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-8}, OL_GT0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "maximize", .type = OL_OPT_BOOL, .slot = MAXIMIZE, .def = {0}},
};
static const char *const state_names[] = {"exp_avg", "exp_inf"};

#define OL_GENERIC "optim/adamax.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_adamax = {
    .name = "adamax",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 2,
    .step_f32 = adamax_step_f32,
    .step_f64 = adamax_step_f64,
    .doc = "Adamax, Adam with the infinity norm (Kingma & Ba 2015; torch.optim.Adamax)",
};

#else /* the step for one element type T */

static void S(adamax_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g,
                           T *const *s) {
    const double *o = c->o;
    const T a1 = (T)(1 - o[BETAS]), b2 = (T)o[BETA2], eps = (T)o[EPS];
    const T wd = (T)o[WEIGHT_DECAY], sg = o[MAXIMIZE] != 0 ? (T)-1 : (T)1;
    const T clr = (T)(o[LR] / (1 - pow(o[BETAS], (double)c->t)));
    T *restrict m = s[0], *restrict u = s[1];
    for (int64_t i = 0; i < c->n; i++) {
        const T gi = sg * g[i] + wd * w[i];
        const T mi = m[i] + a1 * (gi - m[i]);
        const T ui = OL_FMAX(b2 * u[i], fabs(gi) + eps);
        m[i] = mi;
        u[i] = ui;
        w[i] -= clr * mi / ui;
    }
}

#endif
