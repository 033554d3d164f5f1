/* adabelief: Adam whose second moment tracks the "belief" (g − m)², the
 * squared distance of the gradient from its running mean, instead of g²
 * (Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
 * Observed Gradients", NeurIPS 2020, Algorithm 2), without rectification,
 * with decoupled weight decay, as API.md §13 states it:
 *
 *   w <- w·(1 − lr·wd)
 *   m <- β1·m + (1 − β1)·g
 *   s <- β2·s + (1 − β2)·(g − m)² + eps      (the new m)
 *   w <- w − lr·(m/(1 − β1^t)) / (sqrt(s/(1 − β2^t)) + eps)
 *
 * eps enters twice, inside s (so it accumulates in the state) and in the
 * denominator, as in the paper and in the authors' reference
 * implementation (juntang-zhuang/Adabelief-Optimizer,
 * pypi_packages/adabelief_pytorch0.2.1/adabelief_pytorch/AdaBelief.py),
 * whose non-rectified path with weight_decouple = True and fixed_decay =
 * False this is. Where that reference differs, API.md's rule is kept:
 * its defaults are rectify = True (a RAdam-style rectified step, with an
 * SGD step while the variance estimate is unreliable) and weight_decouple
 * = True (False adds wd·w to g instead); it has amsgrad (a max over s) and
 * fixed_decay (w <- w·(1 − wd)); none of these are options here.
 *
 * Options: lr=1e-3, betas={0.9, 0.999}, eps=1e-16, weight_decay=0.
 * State: exp_avg (m), exp_avg_var (s), both starting at 0, as the
 * reference names them. */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, BETAS, BETA2, EPS, WEIGHT_DECAY, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-3}, OL_GE0},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.9, 0.999}, OL_UNIT},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-16}, OL_GT0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
};
static const char *const state_names[] = {"exp_avg", "exp_avg_var"};

#define OL_GENERIC "optim/adabelief.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_adabelief = {
    .name = "adabelief",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 2,
    .step_f32 = adabelief_step_f32,
    .step_f64 = adabelief_step_f64,
    .doc = "AdaBelief, decoupled weight decay, no rectification (Zhuang et al. 2020)",
};

#else /* the step for one element type T */

/* The bias corrections are computed once per step in double:
 * step = lr/(1 − β1^t), ib = 1/sqrt(1 − β2^t). */
static void S(adabelief_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g,
                              T *const *s) {
    const double lr = c->o[LR], b1 = c->o[BETAS], b2 = c->o[BETA2];
    const T decay = (T)(1 - lr * c->o[WEIGHT_DECAY]);
    const T step = (T)(lr / (1 - pow(b1, (double)c->t)));
    const T ib = (T)(1 / sqrt(1 - pow(b2, (double)c->t)));
    const T tb1 = (T)b1, a1 = (T)(1 - b1), tb2 = (T)b2, a2 = (T)(1 - b2);
    const T eps = (T)c->o[EPS];
    T *restrict m = s[0], *restrict v = s[1];
    for (int64_t i = 0; i < c->n; i++) {
        const T mi = tb1 * m[i] + a1 * g[i];
        const T d = g[i] - mi;
        const T vi = tb2 * v[i] + a2 * d * d + eps;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] * decay - step * mi / (sqrt(vi) * ib + eps);
    }
}

#endif
