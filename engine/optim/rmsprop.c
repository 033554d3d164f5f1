/* rmsprop: divide the gradient by a running RMS of recent gradients
 * (Tieleman & Hinton, lecture 6e, 2012), exactly as torch.optim.RMSprop,
 * with per-weight gains (Hinton's lecture 6d) as an option:
 *
 *   g <- g + weight_decay·w
 *   v <- alpha·v + (1 − alpha)·g²
 *   centered:  a <- alpha·a + (1 − alpha)·g;  r = sqrt(v − a²) + eps
 *   otherwise: r = sqrt(v) + eps
 *   gains:     gain <- the rule of generic/gains.h on g and g_prev, then
 *              g_prev <- g;  q = gain·g/r
 *   otherwise: q = g/r
 *   momentum > 0: b <- momentum·b + q;  u = b, or u = q + momentum·b
 *                 with nesterov; w <- w − lr·u
 *   momentum = 0: w <- w − lr·q
 *
 * Source: torch/optim/rmsprop.py (_single_tensor_rmsprop). torch has no
 * nesterov for RMSprop: ours is SGD's nesterov applied to the momentum
 * buffer b (u = q + momentum·b_new); with momentum = 0 it changes nothing.
 * torch has no gains either: they are adaptive_gains' (Jacobs 1988), as
 * API.md §13 states them: the step is lr·gain·g/r, and with momentum
 * b <- momentum·b + gain·g/r, w <- w − lr·b. The gain scales only the
 * step, so it combines with the rest term by term: the gains compare
 * successive gradients after weight decay (g above, the gradient of the
 * decayed loss, which is also what enters v), centered changes only r,
 * and nesterov's u = q + momentum·b takes the gained q. With gains off the
 * gains and prev_grad buffers are not touched; switched on mid-run, they
 * go on from what they hold (1 and 0 since the last reset).
 *
 * Options: lr=1e-2, alpha=0.99, eps=1e-8, momentum=0, centered=false,
 * nesterov=false, weight_decay=0, gains=false, gain_up=0.05,
 * gain_down=0.95, gain_min=0.1, gain_max=10 (gain_min <= gain_max).
 * State: square_avg, grad_avg, momentum_buffer (all start at 0, as in
 * torch), gains (start at 1), prev_grad (starts at 0). */
#ifndef OL_GENERIC
#include "optim/generic/gains.h"

enum {
    LR, ALPHA, EPS, MOMENTUM, CENTERED, NESTEROV, WEIGHT_DECAY,
    GAINS, GAIN_UP, GAIN_DOWN, GAIN_MIN, GAIN_MAX, NSLOTS
};

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-2}, OL_GE0},
    {.name = "alpha", .type = OL_OPT_NUMBER, .slot = ALPHA, .def = {0.99}, OL_UNIT_CLOSED},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-8}, OL_GT0},
    {.name = "momentum", .type = OL_OPT_NUMBER, .slot = MOMENTUM, .def = {0}, OL_GE0},
    {.name = "centered", .type = OL_OPT_BOOL, .slot = CENTERED, .def = {0}},
    {.name = "nesterov", .type = OL_OPT_BOOL, .slot = NESTEROV, .def = {0}},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "gains", .type = OL_OPT_BOOL, .slot = GAINS, .def = {0}},
#define OL_GAIN_OPTION_ENTRIES
#include "optim/generic/gains.h"
};
static const char *const state_names[] = {"square_avg", "grad_avg", "momentum_buffer", "gains",
                                          "prev_grad"};
enum { S_SQ, S_AVG, S_BUF, S_GAIN, S_PREV };

static int check(const double *o, ol_error *err) {
    return ol_gains_check(o[GAIN_MIN], o[GAIN_MAX], err);
}

/* Gains start at 1 whether or not they are on, so that switching them on
 * later starts from there. */
static void init(const double *o, ol_dtype dt, void *const *s, int64_t n) {
    (void)o;
    ol_optim_fill(dt, s[S_GAIN], n, 1.0);
}

#define OL_GENERIC "optim/rmsprop.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_rmsprop = {
    .name = "rmsprop",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 5,
    .check = check,
    .init = init,
    .step_f32 = rmsprop_step_f32,
    .step_f64 = rmsprop_step_f64,
    .doc = "RMSprop with centered, momentum, nesterov, weight decay (torch.optim.RMSprop), "
           "per-weight gains",
};

#else /* the step for one element type T */

#include "optim/generic/gains.h"

/* Two loops rather than one with per-element branches: the common plain
 * case stays a short loop over two streams. */
static void S(rmsprop_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g,
                            T *const *s) {
    const T lr = (T)c->o[LR], al = (T)c->o[ALPHA], eps = (T)c->o[EPS];
    const T mu = (T)c->o[MOMENTUM], wd = (T)c->o[WEIGHT_DECAY];
    const T one_al = (T)(1 - c->o[ALPHA]);
    const int centered = c->o[CENTERED] != 0, gains = c->o[GAINS] != 0;
    const T nd = c->o[NESTEROV] != 0 ? (T)1 : (T)0;
    const T nb = c->o[NESTEROV] != 0 ? mu : (T)1;
    const T up = (T)c->o[GAIN_UP], down = (T)c->o[GAIN_DOWN];
    const T lo = (T)c->o[GAIN_MIN], hi = (T)c->o[GAIN_MAX];
    T *restrict sq = s[S_SQ], *restrict avg = s[S_AVG], *restrict b = s[S_BUF];
    T *restrict gain = s[S_GAIN], *restrict prev = s[S_PREV];
    const int64_t n = c->n;
    if (!centered && mu == 0 && !gains) {
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
        T q = gi / (sqrt(r2) + eps);
        if (gains) {
            const T k = S(ol_gain_next)(gain[i], gi, prev[i], up, down, lo, hi);
            gain[i] = k;
            prev[i] = gi;
            q = k * q;
        }
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
