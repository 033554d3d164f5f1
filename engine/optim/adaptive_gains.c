/* adaptive_gains: separate adaptive learning rates, one gain per weight
 * (Jacobs 1988, "Increased rates of convergence through learning rate
 * adaptation", in the simple additive-up / multiplicative-down form of
 * Hinton's Neural Networks for Machine Learning, lecture 6d):
 *
 *   gain <- gain + gain_up    if g·g_prev > 0   (the sign was kept)
 *   gain <- gain · gain_down  if g·g_prev < 0   (the sign flipped)
 *   (unchanged if either is 0, so the first step leaves gains at 1)
 *   gain <- clip(gain, gain_min, gain_max)
 *   v <- momentum·v − lr·gain·g
 *   w <- w + v
 *
 * Momentum applies to the gain-scaled step (Hinton: "combine adaptive gains
 * with momentum" by feeding the gained gradient into the velocity); with
 * momentum = 0 this is w <- w − lr·gain·g. The gain rule, its options and
 * the rule between them live in generic/gains.h (rmsprop's gains use them).
 * Options: lr=1e-3, gain_up=0.05, gain_down=0.95, gain_min=0.1,
 * gain_max=10, momentum=0. State: gains (start at 1), prev_grad, velocity. */
#ifndef OL_GENERIC
#include "optim/generic/gains.h"

enum { LR, GAIN_UP, GAIN_DOWN, GAIN_MIN, GAIN_MAX, MOMENTUM, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-3}, OL_GE0},
#define OL_GAIN_OPTION_ENTRIES
#include "optim/generic/gains.h"
    {.name = "momentum", .type = OL_OPT_NUMBER, .slot = MOMENTUM, .def = {0}, OL_GE0},
};
static const char *const state_names[] = {"gains", "prev_grad", "velocity"};
enum { S_GAIN, S_PREV, S_VEL };

static int check(const double *o, ol_error *err) {
    return ol_gains_check(o[GAIN_MIN], o[GAIN_MAX], err);
}

static void init(const double *o, ol_dtype dt, void *const *s, int64_t n) {
    (void)o;
    ol_optim_fill(dt, s[S_GAIN], n, 1.0);
}

#define OL_GENERIC "optim/adaptive_gains.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_adaptive_gains = {
    .name = "adaptive_gains",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 3,
    .check = check,
    .init = init,
    .step_f32 = gains_step_f32,
    .step_f64 = gains_step_f64,
    .doc = "per-weight adaptive gains, delta-bar-delta style (Jacobs 1988; Hinton lecture 6d)",
};

#else /* the step for one element type T */

#include "optim/generic/gains.h"

static void S(gains_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g, T *const *s) {
    const T lr = (T)c->o[LR], up = (T)c->o[GAIN_UP], down = (T)c->o[GAIN_DOWN];
    const T lo = (T)c->o[GAIN_MIN], hi = (T)c->o[GAIN_MAX];
    const T mu = (T)c->o[MOMENTUM];
    T *restrict gain = s[S_GAIN], *restrict prev = s[S_PREV];
    T *restrict v = s[S_VEL];
    for (int64_t i = 0; i < c->n; i++) {
        const T k = S(ol_gain_next)(gain[i], g[i], prev[i], up, down, lo, hi);
        gain[i] = k;
        prev[i] = g[i];
        const T vi = mu * v[i] - lr * k * g[i];
        v[i] = vi;
        w[i] += vi;
    }
}

#endif
