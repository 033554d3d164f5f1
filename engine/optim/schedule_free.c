/* sf_adamw and sf_sgd: schedule-free AdamW and SGD (Defazio et al., "The
 * Road Less Scheduled", 2024), as the authors' AdamWScheduleFree and
 * SGDScheduleFree of schedulefree v1.2.
 *
 * The parameters hold y, the point where the gradient is taken; the state
 * holds z, the base sequence, which starts at w (the first step after a
 * reset copies w into z). Step t (from 1), with β = betas[1] (sf_adamw) or
 * momentum (sf_sgd) and wd = weight_decay:
 *
 *   s = min(1, t/warmup_steps)              (1 when warmup_steps = 0)
 *   lrₜ = lr·s·√(1 − β2ᵗ)   (sf_adamw)   or   lr·s   (sf_sgd)
 *   lr_max <- max(lr_max, lrₜ)
 *   weight = tʳ·lr_max^weight_lr_power;  weight_sum <- weight_sum + weight
 *   c = weight/weight_sum                   (0 while weight_sum is 0)
 *   sf_adamw: v <- β2·v + (1 − β2)·g²;  u = g/(√v + eps) + wd·y
 *   sf_sgd:   u = g + wd·y
 *   y <- y + c·(z − y)                      (= (1 − c)·y + c·z)
 *   y <- y + lrₜ·(β(1 − c) − 1)·u
 *   z <- z − lrₜ·u
 *
 * The average x, the point to evaluate, is not stored: it is
 * x = y + (1 − 1/β)(z − y), and y = x + (1 − β)(z − x). ol_optim_eval
 * moves the parameters to x, ol_optim_train back to y (desc->to_eval,
 * to_train); a step is refused in eval mode. Before the first step z does
 * not exist yet (x = y = z = w), so a switch then only changes the mode.
 * The switch reads β as it is: change betas or momentum in train mode.
 *
 * Source: github.com/facebookresearch/schedule_free, schedulefree/
 * adamw_schedulefree.py and sgd_schedulefree.py at v1.2.7 (commit 8bac1d9),
 * step(), eval() and train(). Where optlua differs from them:
 *   - the optimizer starts in train mode, as v1.2 does; from v1.3 on the
 *     authors start in eval mode and refuse a step until train() is called;
 *   - v1.3 and later divide v by (1 − β2ᵗ) under the root and drop the
 *     √(1 − β2ᵗ) from lrₜ (and so from lr_max and the weights): eps then
 *     enters as eps·√(1 − β2ᵗ) relative to the v1.2 form kept here;
 *   - lr_max starts at 0 (theirs at −1): the same for every lr >= 0;
 *   - momentum must lie in (0, 1) as in sgd_schedulefree.py's check, and
 *     betas[1] must be > 0 (x divides by it; adamw_schedulefree.py leaves
 *     β1 = 0 to a division by zero); warmup_steps must be an integer >= 0
 *     and r, weight_lr_power >= 0, which the reference does not check.
 *
 * Options: sf_adamw lr=0.0025, betas={0.9, 0.999}, eps=1e-8,
 * weight_decay=0, warmup_steps=0, r=0, weight_lr_power=2; sf_sgd lr=1,
 * momentum=0.9, weight_decay=0, warmup_steps=0, r=0, weight_lr_power=2.
 * State: z, and sf_adamw's exp_avg_sq (v). Scalars: lr_max, weight_sum,
 * computed from the options and t alone, so that every part of a step cut
 * among the threads ends with the same values (optim.c, step_job).
 *
 * One file serves both: they share the interpolation, the weights and the
 * mode switch, and differ only in lrₜ and u. */
#ifndef OL_GENERIC
#include "optim/optim.h"

/* Slots: sf_adamw uses BETAS and BETA2 where sf_sgd has MOMENTUM, and EPS. */
enum { LR, BETAS, BETA2, EPS, WEIGHT_DECAY, WARMUP_STEPS, R, WEIGHT_LR_POWER, NSLOTS };
enum { MOMENTUM = BETAS };
enum { SC_LR_MAX, SC_WEIGHT_SUM };

static const ol_optim_option adamw_options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {0.0025}, OL_GE0},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.9, 0.999}, OL_UNIT},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-8}, OL_GT0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "warmup_steps", .type = OL_OPT_NUMBER, .slot = WARMUP_STEPS, .def = {0}, OL_GE0},
    {.name = "r", .type = OL_OPT_NUMBER, .slot = R, .def = {0}, OL_GE0},
    {.name = "weight_lr_power", .type = OL_OPT_NUMBER, .slot = WEIGHT_LR_POWER, .def = {2}, OL_GE0},
};
static const ol_optim_option sgd_options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1}, OL_GE0},
    {.name = "momentum", .type = OL_OPT_NUMBER, .slot = MOMENTUM, .def = {0.9}, .lo = 0, .hi = 1,
     .lo_open = 1, .hi_open = 1},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "warmup_steps", .type = OL_OPT_NUMBER, .slot = WARMUP_STEPS, .def = {0}, OL_GE0},
    {.name = "r", .type = OL_OPT_NUMBER, .slot = R, .def = {0}, OL_GE0},
    {.name = "weight_lr_power", .type = OL_OPT_NUMBER, .slot = WEIGHT_LR_POWER, .def = {2}, OL_GE0},
};
static const char *const adamw_state[] = {"z", "exp_avg_sq"};
static const char *const sgd_state[] = {"z"};

static int check_warmup(const double *o, ol_error *err) {
    if (o[WARMUP_STEPS] != floor(o[WARMUP_STEPS]))
        return ol_fail(err, "option 'warmup_steps' must be an integer, got %g", o[WARMUP_STEPS]);
    return 0;
}

static int check_adamw(const double *o, ol_error *err) {
    if (o[BETAS] == 0)
        return ol_fail(err, "option 'betas' element 1 must be > 0: the average x = y + (1 - 1/beta1)(z - y) "
                       "divides by it");
    return check_warmup(o, err);
}

/* What a step needs besides the buffers: lrₜ, c and the per-element
 * constants, in double; updates lr_max and weight_sum. */
typedef struct sf_coef {
    double lr, ymul, eps, wd, b2;
    double c;
    int first; /* t = 1: z <- w first */
} sf_coef;

static sf_coef coef(const ol_optim_ctx *ctx, int adam) {
    const double *o = ctx->o;
    const double t = (double)ctx->t, ws = o[WARMUP_STEPS];
    const double s = ws > 0 && t < ws ? t / ws : 1;
    const double beta = o[BETAS];
    sf_coef k = {.eps = o[EPS], .wd = o[WEIGHT_DECAY], .b2 = adam ? o[BETA2] : 0,
                 .first = ctx->t == 1};
    k.lr = o[LR] * s * (adam ? sqrt(1 - pow(o[BETA2], t)) : 1);
    double *sc = ctx->scalars;
    sc[SC_LR_MAX] = OL_FMAX(sc[SC_LR_MAX], k.lr);
    const double weight = pow(t, o[R]) * pow(sc[SC_LR_MAX], o[WEIGHT_LR_POWER]);
    sc[SC_WEIGHT_SUM] += weight;
    k.c = sc[SC_WEIGHT_SUM] > 0 ? weight / sc[SC_WEIGHT_SUM] : 0;
    k.ymul = k.lr * (beta * (1 - k.c) - 1);
    return k;
}

/* The weights of the mode switch, w <- w + a·(z − w): to x, a = 1 − 1/β;
 * to y, a = 1 − β. */
static double to_eval_weight(const double *o) { return 1 - 1 / o[BETAS]; }
static double to_train_weight(const double *o) { return 1 - o[BETAS]; }

/* The kernels below (#else), read once for float and once for double. */
#define OL_GENERIC "optim/schedule_free.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_sf_adamw = {
    .name = "sf_adamw",
    .kind = OL_OPTIM_FUSED,
    .options = adamw_options,
    .noptions = sizeof adamw_options / sizeof adamw_options[0],
    .nslots = NSLOTS,
    .state_names = adamw_state,
    .nstate = 2,
    .nscalars = 2,
    .check = check_adamw,
    .step_f32 = sf_adamw_step_f32,
    .step_f64 = sf_adamw_step_f64,
    .doc = "schedule-free AdamW (Defazio et al. 2024; the authors' AdamWScheduleFree v1.2)",
    .to_eval_f32 = sf_to_eval_f32,
    .to_eval_f64 = sf_to_eval_f64,
    .to_train_f32 = sf_to_train_f32,
    .to_train_f64 = sf_to_train_f64,
};

const ol_optim_desc ol_optim_sf_sgd = {
    .name = "sf_sgd",
    .kind = OL_OPTIM_FUSED,
    .options = sgd_options,
    .noptions = sizeof sgd_options / sizeof sgd_options[0],
    .nslots = NSLOTS,
    .state_names = sgd_state,
    .nstate = 1,
    .nscalars = 2,
    .check = check_warmup,
    .step_f32 = sf_sgd_step_f32,
    .step_f64 = sf_sgd_step_f64,
    .doc = "schedule-free SGD (Defazio et al. 2024; the authors' SGDScheduleFree v1.2)",
    .to_eval_f32 = sf_to_eval_f32,
    .to_eval_f64 = sf_to_eval_f64,
    .to_train_f32 = sf_to_train_f32,
    .to_train_f64 = sf_to_train_f64,
};

#else /* the kernels for one element type T */

/* The step of either: u is g normalised by √v + eps (sf_adamw, v = s[1])
 * or g itself (sf_sgd, s[1] NULL), plus wd·y. */
static void S(sf_step)(const ol_optim_ctx *ctx, T *restrict w, const T *restrict g, T *const *s,
                       int adam) {
    const sf_coef k = coef(ctx, adam);
    const T c = (T)k.c, lr = (T)k.lr, ymul = (T)k.ymul, wd = (T)k.wd, eps = (T)k.eps;
    const T b2 = (T)k.b2, one_b2 = (T)(1 - k.b2);
    T *restrict z = s[0];
    T *restrict v = adam ? s[1] : NULL;
    const int64_t n = ctx->n;
    if (k.first)
        for (int64_t i = 0; i < n; i++) z[i] = w[i];
    /* Two loops, the test of `adam` outside them: -O2 does not unswitch a
     * loop, and a branch inside keeps it from vectorising. */
    if (adam) {
        for (int64_t i = 0; i < n; i++) {
            const T vi = b2 * v[i] + one_b2 * g[i] * g[i];
            const T u = g[i] / (sqrt(vi) + eps) + wd * w[i];
            const T y = w[i] + c * (z[i] - w[i]);
            v[i] = vi;
            w[i] = y + ymul * u;
            z[i] -= lr * u;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        const T u = g[i] + wd * w[i];
        const T y = w[i] + c * (z[i] - w[i]);
        w[i] = y + ymul * u;
        z[i] -= lr * u;
    }
}

static void S(sf_adamw_step)(const ol_optim_ctx *c, T *w, const T *g, T *const *s) {
    S(sf_step)(c, w, g, s, 1);
}

static void S(sf_sgd_step)(const ol_optim_ctx *c, T *w, const T *g, T *const *s) {
    S(sf_step)(c, w, g, s, 0);
}

/* w <- w + a·(z − w); nothing before the first step (c->t = 0: z not made). */
static void S(sf_lerp)(const ol_optim_ctx *c, T *restrict w, const T *restrict z, double a) {
    if (c->t == 0) return;
    const T at = (T)a;
    for (int64_t i = 0; i < c->n; i++) w[i] += at * (z[i] - w[i]);
}

static void S(sf_to_eval)(const ol_optim_ctx *c, T *w, T *const *s) {
    S(sf_lerp)(c, w, s[0], to_eval_weight(c->o));
}

static void S(sf_to_train)(const ol_optim_ctx *c, T *w, T *const *s) {
    S(sf_lerp)(c, w, s[0], to_train_weight(c->o));
}

#endif
