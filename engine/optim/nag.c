/* nag: Nesterov's accelerated gradient in the lookahead form of Sutskever,
 * Martens, Dahl & Hinton, "On the importance of initialization and momentum
 * in deep learning" (ICML 2013), eq. (3)-(4):
 *
 *   p <- momentum·p + lr·∇f(w − momentum·p)
 *   w <- w − p
 *
 * With a closure (opt:step(closure)) the gradient really is taken at the
 * lookahead point: prepare() moves w to w − momentum·p, the closure is
 * evaluated there, and the step finishes with p <- momentum·p + lr·g,
 * w <- (w − momentum·p_old) − lr·g, which is w_old − p_new.
 *
 * Without a closure (opt:step(grad), opt:step() on a model) the gradient
 * can only be taken where the parameters are, so the parameters are taken
 * to BE the lookahead point v = w − momentum·p (the reparametrisation of
 * Bengio, Boulanger-Lewandowski & Pascanu 2013): p <- momentum·p + lr·g,
 * v <- v − lr·g − momentum·p_new. The sequence of points visited is the
 * same lookahead sequence; do not mix the two forms in one run.
 *
 * Options: lr=1e-3, momentum=0.9. State: velocity p (starts at 0). */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, MOMENTUM, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-3}, OL_GE0},
    {.name = "momentum", .type = OL_OPT_NUMBER, .slot = MOMENTUM, .def = {0.9}, OL_GE0},
};
static const char *const state_names[] = {"velocity"};

#define OL_GENERIC "optim/nag.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_nag = {
    .name = "nag",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 1,
    .step_f32 = nag_step_f32,
    .step_f64 = nag_step_f64,
    .prepare_f32 = nag_prepare_f32,
    .prepare_f64 = nag_prepare_f64,
    .doc = "Nesterov accelerated gradient, lookahead form (Sutskever et al. 2013)",
};

#else /* the prepare and the step for one element type T */

static void S(nag_prepare)(const ol_optim_ctx *c, T *restrict w, T *const *s) {
    const T mu = (T)c->o[MOMENTUM];
    const T *restrict p = s[0];
    for (int64_t i = 0; i < c->n; i++) w[i] -= mu * p[i];
}

/* shift = 0 after a lookahead evaluation, momentum otherwise (see above). */
static void S(nag_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g, T *const *s) {
    const T lr = (T)c->o[LR], mu = (T)c->o[MOMENTUM];
    const T shift = c->lookahead ? (T)0 : mu;
    T *restrict p = s[0];
    for (int64_t i = 0; i < c->n; i++) {
        const T step = lr * g[i];
        const T pi = mu * p[i] + step;
        p[i] = pi;
        w[i] -= step + shift * pi;
    }
}

#endif
