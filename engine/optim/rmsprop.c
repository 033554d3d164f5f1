/* rmsprop: divide the gradient by a running RMS of recent gradients
 * (Tieleman & Hinton, lecture 6e, 2012), exactly as torch.optim.RMSprop:
 *
 *   g <- g + weight_decay·w
 *   v <- alpha·v + (1 − alpha)·g²
 *   centered:  a <- alpha·a + (1 − alpha)·g;  r = sqrt(v − a²) + eps
 *   otherwise: r = sqrt(v) + eps
 *   momentum > 0: b <- momentum·b + g/r;  u = b, or u = g/r + momentum·b
 *                 with nesterov; w <- w − lr·u
 *   momentum = 0: w <- w − lr·g/r
 *
 * Source: torch/optim/rmsprop.py (_single_tensor_rmsprop). torch has no
 * nesterov for RMSprop: ours is SGD's nesterov applied to the momentum
 * buffer b (u = g/r + momentum·b_new); with momentum = 0 it changes nothing.
 * Options: lr=1e-2, alpha=0.99, eps=1e-8, momentum=0, centered=false,
 * nesterov=false, weight_decay=0. State: square_avg, grad_avg,
 * momentum_buffer (all start at 0, as in torch). */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, ALPHA, EPS, MOMENTUM, CENTERED, NESTEROV, WEIGHT_DECAY, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-2}, OL_GE0},
    {.name = "alpha", .type = OL_OPT_NUMBER, .slot = ALPHA, .def = {0.99}, OL_UNIT_CLOSED},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-8}, OL_GT0},
    {.name = "momentum", .type = OL_OPT_NUMBER, .slot = MOMENTUM, .def = {0}, OL_GE0},
    {.name = "centered", .type = OL_OPT_BOOL, .slot = CENTERED, .def = {0}},
    {.name = "nesterov", .type = OL_OPT_BOOL, .slot = NESTEROV, .def = {0}},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
};
static const char *const state_names[] = {"square_avg", "grad_avg", "momentum_buffer"};
enum { S_SQ, S_AVG, S_BUF };

#define OL_GENERIC "optim/rmsprop.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_rmsprop = {
    .name = "rmsprop",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 3,
    .step_f32 = rmsprop_step_f32,
    .step_f64 = rmsprop_step_f64,
    .doc = "RMSprop with centered, momentum, nesterov, weight decay (torch.optim.RMSprop)",
};

#else /* the step for one element type T */

/* Two loops rather than one with per-element branches: the common plain
 * case stays a short loop over two streams. */
static void S(rmsprop_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g,
                            T *const *s) {
    const T lr = (T)c->o[LR], al = (T)c->o[ALPHA], eps = (T)c->o[EPS];
    const T mu = (T)c->o[MOMENTUM], wd = (T)c->o[WEIGHT_DECAY];
    const T one_al = (T)(1 - c->o[ALPHA]);
    const int centered = c->o[CENTERED] != 0;
    const T nd = c->o[NESTEROV] != 0 ? (T)1 : (T)0;
    const T nb = c->o[NESTEROV] != 0 ? mu : (T)1;
    T *restrict sq = s[S_SQ], *restrict avg = s[S_AVG], *restrict b = s[S_BUF];
    const int64_t n = c->n;
    if (!centered && mu == 0) {
        for (int64_t i = 0; i < n; i++) {
            const T gi = g[i] + wd * w[i];
            const T v = al * sq[i] + one_al * gi * gi;
            sq[i] = v;
            w[i] -= lr * gi / (sqrt(v) + eps);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        const T gi = g[i] + wd * w[i];
        const T v = al * sq[i] + one_al * gi * gi;
        sq[i] = v;
        T r2 = v;
        if (centered) {
            const T a = al * avg[i] + one_al * gi;
            avg[i] = a;
            r2 = v - a * a;
        }
        const T q = gi / (sqrt(r2) + eps);
        if (mu != 0) {
            const T bi = mu * b[i] + q;
            b[i] = bi;
            w[i] -= lr * (nd * q + nb * bi);
        } else {
            w[i] -= lr * q;
        }
    }
}

#endif
