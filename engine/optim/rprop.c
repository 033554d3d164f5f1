/* rprop: resilient backpropagation, four variants. Per weight a step size
 * D (starting at lr) adapts to the sign agreement of successive gradients:
 *
 *   s = g·g_prev
 *   D <- clip(D·eta_plus, step_min, step_max)    if s > 0
 *   D <- clip(D·eta_minus, step_min, step_max)   if s < 0
 *   D <- clip(D, step_min, step_max)             if s = 0 (as torch)
 *
 * then, by variant (Igel & Hüsken, "Improving the Rprop learning
 * algorithm", 2000, fig. 1-4; Riedmiller & Braun, ICNN 1993):
 *
 *   "rprop-"  (textbook, no backtracking): w <- w − sign(g)·D always, even
 *             right after a sign change (the weight moves with the new sign
 *             by the shrunk step); g_prev <- g.
 *   "rprop+"  (Riedmiller & Braun 1993, weight backtracking): on s < 0 undo
 *             the previous update (w <- w − dw_prev) and set g_prev <- 0 so
 *             that the next step does not adapt D; otherwise
 *             dw = −sign(g)·D, w <- w + dw, g_prev <- g.
 *   "irprop-" (the default, = torch.optim.Rprop): on s < 0 set g <- 0, so
 *             the weight does not move this step and the next one does not
 *             adapt D; w <- w − sign(g)·D; g_prev <- g.
 *   "irprop+" as irprop-, but on s < 0 the previous update is also undone
 *             when the loss increased (E_t > E_{t-1}). The loss comes from
 *             the closure; without a closure (or on the first step) it is
 *             unknown and irprop+ behaves exactly as irprop-.
 *
 * Options: lr=1e-2 (initial step size; the step sizes are state, so a new lr
 * takes effect at the next reset, as in torch), etas={0.5, 1.2} with
 * 0 < eta_minus < 1 < eta_plus, step_sizes={1e-6, 50}, variant="irprop-".
 * State: step_size, prev_grad, prev_update (dw, used by the + variants). */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, ETA_MINUS, ETA_PLUS, STEP_MIN, STEP_MAX, VARIANT, NSLOTS };
enum { IRPROP_MINUS, RPROP_MINUS, RPROP_PLUS, IRPROP_PLUS };
enum { SC_PREV_LOSS, SC_HAVE_LOSS };

static const char *const variants[] = {"irprop-", "rprop-", "rprop+", "irprop+", NULL};
static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-2}, OL_GE0, .first_step_only = 1},
    {.name = "etas", .type = OL_OPT_PAIR, .slot = ETA_MINUS, .def = {0.5, 1.2}, OL_GT0},
    {.name = "step_sizes", .type = OL_OPT_PAIR, .slot = STEP_MIN, .def = {1e-6, 50}, OL_GE0},
    {.name = "variant", .type = OL_OPT_ENUM, .slot = VARIANT, .def = {IRPROP_MINUS},
     .choices = variants},
};
static const char *const state_names[] = {"step_size", "prev_grad", "prev_update"};
enum { S_STEP, S_PREV, S_DW };

static int check(const double *o, ol_error *err) {
    if (!(o[ETA_MINUS] < 1 && o[ETA_PLUS] > 1))
        return ol_fail(err, "option 'etas' must satisfy 0 < eta_minus < 1 < eta_plus, got {%g, %g}",
                       o[ETA_MINUS], o[ETA_PLUS]);
    if (o[STEP_MIN] > o[STEP_MAX])
        return ol_fail(err, "option 'step_sizes' must satisfy min <= max, got {%g, %g}",
                       o[STEP_MIN], o[STEP_MAX]);
    return 0;
}

static void init(const double *o, ol_dtype dt, void *const *s, int64_t n) {
    ol_optim_fill(dt, s[S_STEP], n, o[LR]);
}

#define OL_GENERIC "optim/rprop.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_rprop = {
    .name = "rprop",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 3,
    .nscalars = 2,
    .check = check,
    .init = init,
    .step_f32 = rprop_step_f32,
    .step_f64 = rprop_step_f64,
    .doc = "resilient backpropagation: irprop- (torch), rprop-, rprop+, irprop+",
};

#else /* the step for one element type T */

/* The variant only decides what happens on a sign change (s < 0): whether
 * the weight moves (move), whether the last update is undone (undo) and
 * whether g_prev remembers g or 0 (forget). */
static void S(rprop_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g, T *const *s) {
    const int v = (int)c->o[VARIANT];
    const T em = (T)c->o[ETA_MINUS], ep = (T)c->o[ETA_PLUS];
    const T dmin = (T)c->o[STEP_MIN], dmax = (T)c->o[STEP_MAX];
    const int worse = v == IRPROP_PLUS && !isnan(c->loss) && c->scalars[SC_HAVE_LOSS] != 0 &&
                      c->loss > c->scalars[SC_PREV_LOSS];
    const int move = v == RPROP_MINUS;
    const int undo = v == RPROP_PLUS || worse;
    T *restrict d = s[S_STEP], *restrict prev = s[S_PREV], *restrict dw = s[S_DW];
    for (int64_t i = 0; i < c->n; i++) {
        const T agree = g[i] * prev[i];
        const T mult = agree > 0 ? ep : agree < 0 ? em : (T)1;
        const T di = OL_FMIN(OL_FMAX(d[i] * mult, dmin), dmax);
        T gi = g[i], dwi;
        d[i] = di;
        if (agree < 0 && !move) {
            dwi = undo ? -dw[i] : (T)0;
            gi = 0;
        } else {
            dwi = -(T)OL_SIGN(gi) * di;
        }
        w[i] += dwi;
        dw[i] = dwi;
        prev[i] = gi;
    }
    if (!isnan(c->loss)) {
        c->scalars[SC_PREV_LOSS] = c->loss;
        c->scalars[SC_HAVE_LOSS] = 1;
    }
}

#endif
