/* lion: EvoLved Sign Momentum.
 *
 *   g <- ±g (− when maximize)
 *   w <- w·(1 − lr·wd)                        (decoupled weight decay)
 *   w <- w − lr·sign(β1·m + (1 − β1)·g)
 *   m <- β2·m + (1 − β2)·g
 *
 * Source: Chen et al., "Symbolic Discovery of Optimization Algorithms"
 * (NeurIPS 2023), Algorithm 2 and Program 1; sign(0) = 0 as torch.sign in
 * the authors' reference code (google/automl lion_pytorch.py).
 *
 * Options (the paper's): lr=1e-4, betas={0.9, 0.99}, weight_decay=0,
 * maximize=false. State: exp_avg. torch.optim has no Lion. */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, BETAS, BETA2, WEIGHT_DECAY, MAXIMIZE, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-4}, OL_GE0},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.9, 0.99}, OL_UNIT},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "maximize", .type = OL_OPT_BOOL, .slot = MAXIMIZE, .def = {0}},
};
static const char *const state_names[] = {"exp_avg"};

#define OL_GENERIC "optim/lion.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_lion = {
    .name = "lion",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 1,
    .step_f32 = lion_step_f32,
    .step_f64 = lion_step_f64,
    .doc = "Lion, sign of interpolated momentum (Chen et al. 2023)",
};

#else /* the step for one element type T */

static void S(lion_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g, T *const *s) {
    const double *o = c->o;
    const T b1 = (T)o[BETAS], a1 = (T)(1 - o[BETAS]);
    const T b2 = (T)o[BETA2], a2 = (T)(1 - o[BETA2]);
    const T lr = (T)o[LR], decay = (T)(1 - o[LR] * o[WEIGHT_DECAY]);
    const T sg = o[MAXIMIZE] != 0 ? (T)-1 : (T)1;
    T *restrict m = s[0];
    for (int64_t i = 0; i < c->n; i++) {
        const T gi = sg * g[i];
        const T d = b1 * m[i] + a1 * gi;
        w[i] = w[i] * decay - lr * (T)OL_SIGN(d);
        m[i] = b2 * m[i] + a2 * gi;
    }
}

#endif
