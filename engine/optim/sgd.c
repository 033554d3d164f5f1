/* sgd: stochastic gradient descent with momentum, as torch.optim.SGD.
 *
 *   d <- ±g + weight_decay·w             (− when maximize)
 *   b <- d                                on the first step with momentum
 *   b <- momentum·b + (1 − dampening)·d   afterwards
 *   d <- d + momentum·b   (nesterov)   or   d <- b
 *   w <- w − lr·d
 *
 * Source: torch/optim/sgd.py (PyTorch 2.x, _single_tensor_sgd); momentum
 * after Polyak (1964), the nesterov form after Sutskever et al. (2013).
 * Options: lr=1e-3, momentum=0, dampening=0, nesterov=false,
 * weight_decay=0, maximize=false. State: momentum_buffer.
 * nesterov needs momentum > 0 and dampening = 0, as in torch. */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, MOMENTUM, DAMPENING, NESTEROV, WEIGHT_DECAY, MAXIMIZE, NSLOTS };
enum { SC_BUF_STARTED }; /* 1 once the momentum buffer holds a value */

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-3}, OL_GE0},
    {.name = "momentum", .type = OL_OPT_NUMBER, .slot = MOMENTUM, .def = {0}, OL_GE0},
    {.name = "dampening", .type = OL_OPT_NUMBER, .slot = DAMPENING, .def = {0}, OL_ANY},
    {.name = "nesterov", .type = OL_OPT_BOOL, .slot = NESTEROV, .def = {0}},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "maximize", .type = OL_OPT_BOOL, .slot = MAXIMIZE, .def = {0}},
};
static const char *const state_names[] = {"momentum_buffer"};

static int check(const double *o, ol_error *err) {
    if (o[NESTEROV] != 0 && (o[MOMENTUM] <= 0 || o[DAMPENING] != 0))
        return ol_fail(err, "option 'nesterov' needs momentum > 0 and dampening = 0");
    return 0;
}

/* The step below (#else), read once for float and once for double:
 * sgd_step_f32, sgd_step_f64. */
#define OL_GENERIC "optim/sgd.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_sgd = {
    .name = "sgd",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 1,
    .nscalars = 1,
    .check = check,
    .step_f32 = sgd_step_f32,
    .step_f64 = sgd_step_f64,
    .doc = "SGD with momentum, dampening, nesterov, weight decay (torch.optim.SGD)",
};

#else /* the step for one element type T */

/* Without momentum the buffer is untouched, so that torch's "first step with
 * momentum copies d" holds even if momentum is switched on later. The first
 * step is the general one with the old buffer weighted 0 and d weighted 1;
 * nesterov selects d + momentum·b over b by the weights (nd, nb). */
static void S(sgd_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g, T *const *s) {
    const T lr = (T)c->o[LR], wd = (T)c->o[WEIGHT_DECAY];
    const T sg = c->o[MAXIMIZE] != 0 ? (T)-1 : (T)1;
    const double mu = c->o[MOMENTUM];
    const int64_t n = c->n;
    if (mu == 0) {
        for (int64_t i = 0; i < n; i++) w[i] -= lr * (sg * g[i] + wd * w[i]);
        return;
    }
    const int first = c->scalars[SC_BUF_STARTED] == 0;
    c->scalars[SC_BUF_STARTED] = 1;
    const T keep = first ? (T)0 : (T)mu;
    const T take = first ? (T)1 : (T)(1 - c->o[DAMPENING]);
    const int nest = c->o[NESTEROV] != 0;
    const T nd = nest ? (T)1 : (T)0, nb = nest ? (T)mu : (T)1;
    T *restrict b = s[0];
    for (int64_t i = 0; i < n; i++) {
        const T d = sg * g[i] + wd * w[i];
        const T bi = keep * b[i] + take * d;
        b[i] = bi;
        w[i] -= lr * (nd * d + nb * bi);
    }
}

#endif
