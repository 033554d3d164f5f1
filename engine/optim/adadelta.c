/* adadelta: unit-corrected adaptive steps (Zeiler, "ADADELTA: an adaptive
 * learning rate method", 2012, Algorithm 1), with torch's extra lr factor,
 * exactly as torch.optim.Adadelta:
 *
 *   g <- g + weight_decay·w
 *   E[g²]  <- rho·E[g²] + (1 − rho)·g²
 *   dx = sqrt(E[dx²] + eps) / sqrt(E[g²] + eps) · g
 *   E[dx²] <- rho·E[dx²] + (1 − rho)·dx²
 *   w <- w − lr·dx
 *
 * Source: torch/optim/adadelta.py (_single_tensor_adadelta).
 * Options: lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.
 * State: square_avg, acc_delta. */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, RHO, EPS, WEIGHT_DECAY, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1.0}, OL_GE0},
    {.name = "rho", .type = OL_OPT_NUMBER, .slot = RHO, .def = {0.9}, OL_UNIT_CLOSED},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-6}, OL_GT0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
};
static const char *const state_names[] = {"square_avg", "acc_delta"};

#define OL_GENERIC "optim/adadelta.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_adadelta = {
    .name = "adadelta",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 2,
    .step_f32 = adadelta_step_f32,
    .step_f64 = adadelta_step_f64,
    .doc = "Adadelta with lr and weight decay (torch.optim.Adadelta)",
};

#else /* the step for one element type T */

static void S(adadelta_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g,
                             T *const *s) {
    const T lr = (T)c->o[LR], rho = (T)c->o[RHO], eps = (T)c->o[EPS];
    const T one_rho = (T)(1 - c->o[RHO]), wd = (T)c->o[WEIGHT_DECAY];
    T *restrict sq = s[0], *restrict acc = s[1];
    for (int64_t i = 0; i < c->n; i++) {
        const T gi = g[i] + wd * w[i];
        const T v = rho * sq[i] + one_rho * gi * gi;
        sq[i] = v;
        const T dx = sqrt(acc[i] + eps) / sqrt(v + eps) * gi;
        acc[i] = rho * acc[i] + one_rho * dx * dx;
        w[i] -= lr * dx;
    }
}

#endif
