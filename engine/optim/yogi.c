/* yogi: Adam with an additive second-moment update, whose change is
 * (1 − β2)·g² in size whichever way it goes, so that v grows or shrinks by
 * at most that much per step (Zaheer et al., "Adaptive Methods for
 * Nonconvex Optimization", NeurIPS 2018, Algorithm 2), as API.md §13
 * states it:
 *
 *   m <- β1·m + (1 − β1)·g
 *   v <- v − (1 − β2)·sign(v − g²)·g²
 *   w <- w − lr·m / (sqrt(v) + eps)
 *
 * No bias correction, as in the paper's Algorithm 2. v starts at
 * initial_accumulator_value, m at 0: the paper starts both at 0, and the
 * authors' TensorFlow implementation (tensorflow/addons,
 * tensorflow_addons/optimizers/yogi.py, _create_slots) starts v at
 * initial_accumulator_value and m at 0, which is kept. That
 * implementation differs from the rule here in scaling lr by
 * sqrt(1 − β2^t)/(1 − β1^t) (Adam's bias corrections) and in its l1/l2
 * proximal steps; the PyTorch port (jettify/pytorch-optimizer, yogi.py)
 * also bias-corrects, and starts m at initial_accumulator_value too.
 * v never turns negative from v >= 0: when v > g² it loses (1 − β2)·g²,
 * which is less than v. initial_accumulator_value is read at the first
 * step after a reset (as adagrad's).
 *
 * Options: lr=1e-2, betas={0.9, 0.999}, eps=1e-3,
 * initial_accumulator_value=1e-6. State: exp_avg (m), exp_avg_sq (v). */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, BETAS, BETA2, EPS, INIT_ACC, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-2}, OL_GE0},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.9, 0.999}, OL_UNIT},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-3}, OL_GT0},
    {.name = "initial_accumulator_value", .type = OL_OPT_NUMBER, .slot = INIT_ACC, .def = {1e-6},
     OL_GE0, .first_step_only = 1},
};
static const char *const state_names[] = {"exp_avg", "exp_avg_sq"};

static void init(const double *o, ol_dtype dt, void *const *s, int64_t n) {
    ol_optim_fill(dt, s[1], n, o[INIT_ACC]);
}

#define OL_GENERIC "optim/yogi.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_yogi = {
    .name = "yogi",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 2,
    .init = init,
    .step_f32 = yogi_step_f32,
    .step_f64 = yogi_step_f64,
    .doc = "Yogi, additive second moment, no bias correction (Zaheer et al. 2018)",
};

#else /* the step for one element type T */

static void S(yogi_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g, T *const *s) {
    const T lr = (T)c->o[LR], eps = (T)c->o[EPS];
    const T b1 = (T)c->o[BETAS], a1 = (T)(1 - c->o[BETAS]), a2 = (T)(1 - c->o[BETA2]);
    T *restrict m = s[0], *restrict v = s[1];
    for (int64_t i = 0; i < c->n; i++) {
        const T mi = b1 * m[i] + a1 * g[i];
        const T g2 = g[i] * g[i];
        const T vi = v[i] - a2 * (T)OL_SIGN(v[i] - g2) * g2;
        m[i] = mi;
        v[i] = vi;
        w[i] -= lr * mi / (sqrt(vi) + eps);
    }
}

#endif
