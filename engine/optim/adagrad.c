/* adagrad: per-weight learning rates from the sum of squared gradients
 * (Duchi, Hazan & Singer, JMLR 2011), exactly as torch.optim.Adagrad:
 *
 *   g <- g + weight_decay·w
 *   clr = lr / (1 + (t − 1)·lr_decay)
 *   G <- G + g²            (G starts at initial_accumulator_value)
 *   w <- w − clr·g / (sqrt(G) + eps)
 *
 * Source: torch/optim/adagrad.py (_single_tensor_adagrad).
 * Options: lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
 * eps=1e-10. State: sum. initial_accumulator_value is read at the first step
 * after a reset (torch reads it at construction). */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, LR_DECAY, WEIGHT_DECAY, INIT_ACC, EPS, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-2}, OL_GE0},
    {.name = "lr_decay", .type = OL_OPT_NUMBER, .slot = LR_DECAY, .def = {0}, OL_GE0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "initial_accumulator_value", .type = OL_OPT_NUMBER, .slot = INIT_ACC, .def = {0},
     OL_GE0, .first_step_only = 1},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-10}, OL_GT0},
};
static const char *const state_names[] = {"sum"};

static void init(const double *o, ol_dtype dt, void *const *s, int64_t n) {
    ol_optim_fill(dt, s[0], n, o[INIT_ACC]);
}

#define OL_GENERIC "optim/adagrad.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_adagrad = {
    .name = "adagrad",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 1,
    .init = init,
    .step_f32 = adagrad_step_f32,
    .step_f64 = adagrad_step_f64,
    .doc = "Adagrad with lr decay and weight decay (torch.optim.Adagrad)",
};

#else /* the step for one element type T */

static void S(adagrad_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g,
                            T *const *s) {
    const T clr = (T)(c->o[LR] / (1 + (double)(c->t - 1) * c->o[LR_DECAY]));
    const T wd = (T)c->o[WEIGHT_DECAY], eps = (T)c->o[EPS];
    T *restrict sum = s[0];
    for (int64_t i = 0; i < c->n; i++) {
        const T gi = g[i] + wd * w[i];
        const T G = sum[i] + gi * gi;
        sum[i] = G;
        w[i] -= clr * gi / (sqrt(G) + eps);
    }
}

#endif
