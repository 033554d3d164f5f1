/* Every optimizer of the registry, walked one by one, against tables
 * written here and in optim_options.h independently of engine/optim:
 *
 *   - each descriptor has a PUBLISHED entry and a step check below (an
 *     optimizer added to the registry without them fails here), and every
 *     entry has a descriptor;
 *   - its kind is the published one, and exactly the functions of that
 *     kind are set (optim.h, ol_optim_kind);
 *   - its options, their types, defaults, ranges and choices, and its state
 *     buffers are the published ones;
 *   - every option is refused, with the documented message and nothing
 *     changed, when out of its range, at an excluded bound, infinite where
 *     bounded, NaN, not a boolean, not a choice, or unknown; the rules
 *     between options (RULES) too;
 *   - buffers of another dtype or length are refused;
 *   - a step at the defaults agrees with an independent double-precision
 *     reference of the published rule: the references of optim_reference.h
 *     and optim_muon.h, and first steps worked out by hand (closure methods
 *     on a 2-D quadratic, with closed-form solutions). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "optim/optim.h"
#include "optim/second.h"

#define STEPS 12
#include "optim_trajectory.h"
#include "optim_reference.h"
#include "optim_muon.h"

/* ---- first steps by hand ---- */

/* A 1-element f64 optimizer with w and g, for the hand-computed steps. */
typedef struct one {
    ol_optim opt;
    ol_tensor w, g;
    double *wd, *gd;
} one;

static void one_init(one *u, const char *name, int64_t n) {
    ol_error err;
    const int64_t shape[1] = {n};
    assert_int_equal(ol_optim_init(&u->opt, ol_optim_find(name), OL_F64, n, &err), 0);
    assert_int_equal(ol_tensor_zeros(&u->w, OL_F64, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&u->g, OL_F64, 1, shape, &err), 0);
    u->wd = ol_tensor_data(&u->w);
    u->gd = ol_tensor_data(&u->g);
}

static void one_set(one *u, const char *k, double v) {
    ol_error err;
    if (ol_optim_set(&u->opt, k, &v, &err)) fail_msg("%s", err.msg);
}

static void one_step(one *u) {
    ol_error err;
    if (ol_optim_step(&u->opt, &u->w, &u->g, NAN, 0, &err)) fail_msg("%s", err.msg);
}

static void one_free(one *u) {
    ol_optim_free(&u->opt);
    ol_tensor_release(&u->w);
    ol_tensor_release(&u->g);
}

/* adagrad, lr 0.1, w = 1, g = 2: sum = 4, w = 1 − 0.1·2/(2 + 1e-10) */
static void adagrad_by_hand(void) {
    one u;
    one_init(&u, "adagrad", 1);
    one_set(&u, "lr", 0.1);
    u.wd[0] = 1;
    u.gd[0] = 2;
    one_step(&u);
    assert_float_equal(u.wd[0], 1 - 0.1 * 2 / (2 + 1e-10), 1e-15);
    one_free(&u);
}

/* rmsprop at its defaults, w = 0.9, g = 2: v = 0.01·4 = 0.04,
 * w = 0.9 − 0.01·2/0.2 = 0.8 (minus eps) */
static void rmsprop_by_hand(void) {
    one u;
    one_init(&u, "rmsprop", 1);
    u.wd[0] = 0.9;
    u.gd[0] = 2;
    one_step(&u);
    assert_float_equal(u.wd[0], 0.8, 1e-7);
    one_free(&u);
}

/* irprop- at its defaults: the first step moves by lr against the
 * gradient's sign, the next with the same sign by 1.2·lr; reset brings the
 * step size back to lr and t to 0. */
static void rprop_by_hand(void) {
    one u;
    one_init(&u, "rprop", 1);
    u.gd[0] = 2;
    one_step(&u);
    assert_float_equal(u.wd[0], -0.01, 1e-15);
    one_step(&u);
    assert_float_equal(u.wd[0], -0.022, 1e-15);
    ol_optim_reset(&u.opt);
    assert_int_equal(u.opt.t, 0);
    one_step(&u);
    assert_float_equal(u.wd[0], -0.032, 1e-15);
    one_free(&u);
}

/* The first Adam step is lr·sign(g) (m̂ = g, v̂ = g²). */
static void adam_by_hand(void) {
    one u;
    one_init(&u, "adam", 2);
    one_set(&u, "lr", 0.1);
    one_set(&u, "eps", 1e-12);
    u.wd[0] = u.wd[1] = 1;
    u.gd[0] = 3;
    u.gd[1] = -0.01;
    one_step(&u);
    assert_true(fabs(u.wd[0] - 0.9) < 1e-10);
    assert_true(fabs(u.wd[1] - 1.1) < 1e-10);
    one_free(&u);
}

/* adamax's first step is lr·g/(|g| + eps) (u = |g| + eps). */
static void adamax_by_hand(void) {
    one u;
    one_init(&u, "adamax", 2);
    one_set(&u, "lr", 0.2);
    one_set(&u, "eps", 1);
    u.wd[0] = 0.9;
    u.wd[1] = 1.1;
    u.gd[0] = 3;
    u.gd[1] = -0.01;
    const double w0 = u.wd[0], w1 = u.wd[1];
    one_step(&u);
    assert_true(fabs(u.wd[0] - (w0 - 0.2 * 3 / 4.0)) < 1e-12);
    assert_true(fabs(u.wd[1] - (w1 + 0.2 * 0.01 / 1.01)) < 1e-12);
    one_free(&u);
}

/* adabelief, lr 0.1, eps 0.01, weight_decay 0.5, w = 1, g = 2 then −1
 * (β1 = 0.9, β2 = 0.999), by the rule with eps inside s and outside:
 *   t = 1: w = 0.95; m = 0.2; s = 0.001·1.8² + 0.01 = 0.01324;
 *          w = 0.95 − 0.1·(0.2/0.1)/(sqrt(0.01324/0.001) + 0.01)
 *            = 0.8951856724033859
 *   t = 2: w = 0.95·w; m = 0.18 − 0.1 = 0.08;
 *          s = 0.999·0.01324 + 0.001·1.08² + 0.01 = 0.02439316;
 *          w = w − 0.1·(0.08/0.19)/(sqrt(0.02439316/0.001999) + 0.01)
 *            = 0.8384074179259499
 * At the defaults (lr 1e-3, eps 1e-16) the first step is lr/β1 against g's
 * sign: m = 0.1g, s = 0.001·(0.9g)² (+1e-16), so m̂ = g, sqrt(ŝ) = 0.9|g|
 * and w = 1 − 1e-3/0.9. */
static void adabelief_by_hand(void) {
    one u;
    one_init(&u, "adabelief", 1);
    one_set(&u, "lr", 0.1);
    one_set(&u, "eps", 0.01);
    one_set(&u, "weight_decay", 0.5);
    u.wd[0] = 1;
    u.gd[0] = 2;
    one_step(&u);
    const double *m = ol_tensor_data(&u.opt.state[0]), *s = ol_tensor_data(&u.opt.state[1]);
    assert_float_equal(m[0], 0.2, 1e-15);
    assert_float_equal(s[0], 0.01324, 1e-15);
    assert_float_equal(u.wd[0], 0.8951856724033859, 1e-14);
    u.gd[0] = -1;
    one_step(&u);
    assert_float_equal(m[0], 0.08, 1e-15);
    assert_float_equal(s[0], 0.02439316, 1e-15);
    assert_float_equal(u.wd[0], 0.8384074179259499, 1e-14);
    one_free(&u);

    one_init(&u, "adabelief", 1);
    u.wd[0] = 1;
    u.gd[0] = 2;
    one_step(&u);
    assert_float_equal(u.wd[0], 1 - 1e-3 / 0.9, 1e-15);
    one_free(&u);
}

/* yogi at its defaults (lr 0.01, β1 = 0.9, β2 = 0.999, eps 1e-3, v from
 * 1e-6, m from 0), w = 1, g = 2 then 0.01:
 *   t = 1: m = 0.2; v < g², so v = 1e-6 + 0.001·4 = 0.004001;
 *          w = 1 − 0.01·0.2/(sqrt(0.004001) + 1e-3) = 0.9688732707982631
 *   t = 2: m = 0.18 + 0.001 = 0.181; v > g² = 1e-4, so
 *          v = 0.004001 − 0.001·1e-4 = 0.0040009;
 *          w = w − 0.01·0.181/(sqrt(0.0040009) + 1e-3) = 0.9407032343099662 */
static void yogi_by_hand(void) {
    one u;
    one_init(&u, "yogi", 1);
    u.wd[0] = 1;
    u.gd[0] = 2;
    one_step(&u);
    const double *m = ol_tensor_data(&u.opt.state[0]), *v = ol_tensor_data(&u.opt.state[1]);
    assert_float_equal(m[0], 0.2, 1e-15);
    assert_float_equal(v[0], 0.004001, 1e-15);
    assert_float_equal(u.wd[0], 0.9688732707982631, 1e-14);
    u.gd[0] = 0.01;
    one_step(&u);
    assert_float_equal(m[0], 0.181, 1e-15);
    assert_float_equal(v[0], 0.0040009, 1e-15);
    assert_float_equal(u.wd[0], 0.9407032343099662, 1e-14);
    one_free(&u);
}

static void muon_at_defaults(void) { muon_compare(NULL, MUON_BLOCKS, 2); }

/* lamb at its defaults on one vector, w = (3, 4), g = (1, −2): m̂ = g and
 * v̂ = g², so u = g/(|g| + 1e-6), r = ‖w‖/‖u‖ = 5/‖u‖, w ← w − 1e-3·r·u. */
static void lamb_by_hand(void) {
    one u;
    one_init(&u, "lamb", 2);
    u.wd[0] = 3, u.wd[1] = 4;
    u.gd[0] = 1, u.gd[1] = -2;
    one_step(&u);
    const double u0 = 1 / (1 + 1e-6), u1 = -2 / (2 + 1e-6), r = 5 / sqrt(u0 * u0 + u1 * u1);
    assert_float_equal(u.wd[0], 3 - 1e-3 * r * u0, 1e-15);
    assert_float_equal(u.wd[1], 4 - 1e-3 * r * u1, 1e-15);
    one_free(&u);
}

/* lars at its defaults on one vector, w = (3, 4), g = (1, −2): d = g,
 * r = 1e-3·5/√5, b = lr·r·d with lr = 1, w ← w − b. */
static void lars_by_hand(void) {
    one u;
    one_init(&u, "lars", 2);
    u.wd[0] = 3, u.wd[1] = 4;
    u.gd[0] = 1, u.gd[1] = -2;
    one_step(&u);
    const double r = 1e-3 * 5 / sqrt(5);
    assert_float_equal(u.wd[0], 3 - r, 1e-15);
    assert_float_equal(u.wd[1], 4 + 2 * r, 1e-15);
    one_free(&u);
}

/* adafactor at its defaults on one vector, w = (1, 2), g = (0.4, −0.2): at
 * t = 1, β2 = 0, V = g², U = sign(g), RMS(U) = 1, α = min(1e-2, 1)·RMS(w) =
 * 1e-2·√2.5, w ← w − α·U. */
static void adafactor_by_hand(void) {
    one u;
    one_init(&u, "adafactor", 2);
    u.wd[0] = 1, u.wd[1] = 2;
    u.gd[0] = 0.4, u.gd[1] = -0.2;
    one_step(&u);
    const double alpha = 1e-2 * sqrt(2.5);
    assert_float_equal(u.wd[0], 1 - alpha, 1e-15);
    assert_float_equal(u.wd[1], 2 + alpha, 1e-15);
    one_free(&u);
}

/* The closure methods on f(w) = ½ wᵀQw − bᵀw with exact products Qv, from
 * W_START: Q = [[3, 1], [1, 2]], b = (1, −1), minimum x* = Q⁻¹b = (0.6, −0.8). */
static const double Q[2][2] = {{3, 1}, {1, 2}}, B[2] = {1, -1}, W_START[2] = {2, 1.5};

static void q_grad(const double *w, double *g) {
    for (int i = 0; i < 2; i++) g[i] = Q[i][0] * w[0] + Q[i][1] * w[1] - B[i];
}
static int q_fg(void *ud, const double *w, double *loss, double *g, ol_error *err) {
    (void)ud;
    (void)err;
    q_grad(w, g);
    *loss = 0;
    for (int i = 0; i < 2; i++)
        *loss += 0.5 * w[i] * (Q[i][0] * w[0] + Q[i][1] * w[1]) - B[i] * w[i];
    return 0;
}
static int q_bv(void *ud, const double *w, const double *v, double *out, int gn, ol_error *err) {
    (void)ud;
    (void)w;
    (void)gn;
    (void)err;
    for (int i = 0; i < 2; i++) out[i] = Q[i][0] * v[0] + Q[i][1] * v[1];
    return 0;
}
static const ol_closure QUAD = {.n = 2, .fg = q_fg, .bv = q_bv};

/* (Q + lam I)⁻¹ v by the 2x2 inverse. */
static void q_solve(double lam, const double *v, double *out) {
    const double a = Q[0][0] + lam, d = Q[1][1] + lam, c = Q[0][1], det = a * d - c * c;
    out[0] = (d * v[0] - c * v[1]) / det;
    out[1] = (a * v[1] - c * v[0]) / det;
}

/* One closure step of `name` with options o (name, value pairs) from W_START. */
static void q_run(ol_optim *opt, const char *name, const char *const *k, const double *v, int nk,
                  double *w) {
    ol_error err;
    double loss;
    assert_int_equal(ol_optim_init(opt, ol_optim_find(name), OL_F64, 2, &err), 0);
    for (int i = 0; i < nk; i++)
        if (ol_optim_set(opt, k[i], &v[i], &err)) fail_msg("%s", err.msg);
    memcpy(w, W_START, sizeof W_START);
    if (ol_optim_closure_step(opt, w, &QUAD, &loss, &err)) fail_msg("%s: %s", name, err.msg);
    assert_int_equal(opt->t, 1);
}

static void assert_near2(const char *what, const double *got, const double *want, double tol) {
    for (int i = 0; i < 2; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i]))))
            fail_msg("%s: w[%d] = %.17g, want %.17g", what, i, got[i], want[i]);
}

/* newton at its defaults: p = −(Q + damping·I)⁻¹g, w ← w + lr·p. */
static void newton_by_hand(void) {
    ol_optim opt;
    double w[2], g[2], p[2], want[2];
    q_run(&opt, "newton", NULL, NULL, 0, w);
    q_grad(W_START, g);
    q_solve(1e-4, g, p);
    for (int i = 0; i < 2; i++) want[i] = W_START[i] - 1 * p[i];
    assert_near2("newton", w, want, 1e-12);
    const double *dir = ol_tensor_data(&opt.state[0]);
    const double minus_p[2] = {-p[0], -p[1]};
    assert_near2("newton direction", dir, minus_p, 1e-12);
    ol_optim_free(&opt);
}

/* cg: one iteration with an exact line search is steepest descent to the
 * line's minimum, t* = gᵀg / gᵀQg; at its defaults one step (20
 * iterations, |g|inf <= 1e-7) ends at the minimum. */
static void cg_by_hand(void) {
    ol_optim opt;
    double w[2], g[2], qg[2], want[2];
    const char *const k[] = {"max_iter", "c1", "c2"};
    const double v[] = {1, 1e-10, 1e-9};
    q_run(&opt, "cg", k, v, 3, w);
    q_grad(W_START, g);
    q_bv(NULL, NULL, g, qg, 0, NULL);
    const double ts = (g[0] * g[0] + g[1] * g[1]) / (g[0] * qg[0] + g[1] * qg[1]);
    for (int i = 0; i < 2; i++) want[i] = W_START[i] - ts * g[i];
    assert_near2("cg, one exact line search", w, want, 1e-8);
    ol_optim_free(&opt);
    q_run(&opt, "cg", NULL, NULL, 0, w);
    const double xs[2] = {0.6, -0.8};
    assert_near2("cg at its defaults", w, xs, 1e-6);
    ol_optim_free(&opt);
}

/* lbfgs (torch's rule, no line search, lr = 1): the first iteration steps
 * t = min(1, 1/|g|_1)·lr along −g; the second along −H g with the BFGS
 * inverse update of H0 = (yᵀs/yᵀy)·I by the pair s = w1 − w0, y = g1 − g0:
 * H = (I − ρsyᵀ)H0(I − ρysᵀ) + ρssᵀ, ρ = 1/yᵀs, and step lr. */
static void lbfgs_by_hand(void) {
    ol_optim opt;
    double w[2], g0[2], g1[2], w1[2], s[2], y[2];
    const char *const k1[] = {"max_iter"};
    const double v1[] = {1};
    q_run(&opt, "lbfgs", k1, v1, 1, w);
    q_grad(W_START, g0);
    const double t = fmin(1, 1 / (fabs(g0[0]) + fabs(g0[1])));
    for (int i = 0; i < 2; i++) w1[i] = W_START[i] - t * g0[i];
    assert_near2("lbfgs, first iteration", w, w1, 1e-12);
    ol_optim_free(&opt);

    const char *const k2[] = {"max_iter", "max_eval"};
    const double v2[] = {2, 10};
    q_run(&opt, "lbfgs", k2, v2, 2, w);
    q_grad(w1, g1);
    for (int i = 0; i < 2; i++) {
        s[i] = w1[i] - W_START[i];
        y[i] = g1[i] - g0[i];
    }
    const double ys = y[0] * s[0] + y[1] * s[1], rho = 1 / ys,
                 h0 = ys / (y[0] * y[0] + y[1] * y[1]);
    double L[2][2], H[2][2], want[2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) L[i][j] = (i == j) - rho * s[i] * y[j]; /* I − ρsyᵀ */
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) /* L·h0·Lᵀ + ρssᵀ, as (I − ρysᵀ) = Lᵀ */
            H[i][j] = h0 * (L[i][0] * L[j][0] + L[i][1] * L[j][1]) + rho * s[i] * s[j];
    for (int i = 0; i < 2; i++) want[i] = w1[i] - (H[i][0] * g1[0] + H[i][1] * g1[1]);
    assert_near2("lbfgs, second iteration", w, want, 1e-12);
    ol_optim_free(&opt);
}

/* hessian_free at its defaults: CG from 0 solves (Q + damping·I)x = −g
 * exactly in n = 2 iterations; on a quadratic the reduction ratio is 1, so
 * the full step is taken (Armijo holds) and damping becomes damping·2/3. */
static void hessian_free_by_hand(void) {
    ol_optim opt;
    double w[2], g[2], x[2], want[2];
    q_run(&opt, "hessian_free", NULL, NULL, 0, w);
    q_grad(W_START, g);
    q_solve(1, g, x);
    for (int i = 0; i < 2; i++) want[i] = W_START[i] - x[i];
    assert_near2("hessian_free", w, want, 1e-12);
    const ol_optim_option *damping = ol_optim_find_option(opt.desc, "damping");
    assert_non_null(damping);
    assert_float_equal(opt.groups[0].o[damping->slot], 2.0 / 3.0, 1e-15);
    ol_optim_free(&opt);
}

/* shampoo at its defaults on a 2x2 matrix G = diag(3, 4): L = R = eps·I +
 * diag(9, 16), so P = diag(3/sqrt(9 + eps), 4/sqrt(16 + eps)) and w moves
 * by 0.1·P; on a 2-vector g = (3, −4): P = g/sqrt(eps + g²). */
static void shampoo_by_hand(void) {
    one u;
    ol_error err;
    const double eps = 1e-4;
    one_init(&u, "shampoo", 6);
    const ol_optim_param p[2] = {{.offset = 0, .rows = 2, .cols = 2, .matrix = 1},
                                 {.offset = 4, .rows = 1, .cols = 2}};
    if (ol_optim_set_params(&u.opt, p, 2, 1, &err)) fail_msg("%s", err.msg);
    const double g[6] = {3, 0, 0, 4, 3, -4};
    for (int i = 0; i < 6; i++) u.wd[i] = 1, u.gd[i] = g[i];
    one_step(&u);
    const double want[6] = {1 - 0.1 * 3 / sqrt(9 + eps), 1, 1, 1 - 0.1 * 4 / sqrt(16 + eps),
                            1 - 0.1 * 3 / sqrt(9 + eps), 1 + 0.1 * 4 / sqrt(16 + eps)};
    for (int i = 0; i < 6; i++) assert_float_equal(u.wd[i], want[i], 1e-14);
    one_free(&u);
}

/* soap at its defaults on a 2-vector: the first step leaves w alone; the
 * second is Adam's first (s = 1) with lr·sqrt(1 − β2)/(1 − β1), then the
 * decoupled decay w·(1 − lr·wd). */
static void soap_by_hand(void) {
    one u;
    one_init(&u, "soap", 2);
    u.wd[0] = u.wd[1] = 1;
    u.gd[0] = 3;
    u.gd[1] = -0.5;
    one_step(&u);
    assert_true(u.wd[0] == 1 && u.wd[1] == 1);
    one_step(&u);
    const double lr = 3e-3, b = 0.95, eps = 1e-8, wd = 0.01;
    for (int i = 0; i < 2; i++) {
        const double g = u.gd[i], m = (1 - b) * g, v = (1 - b) * g * g;
        const double w1 = 1 - lr * sqrt(1 - b) / (1 - b) * m / (sqrt(v) + eps);
        assert_float_equal(u.wd[i], w1 * (1 - lr * wd), 1e-14);
    }
    one_free(&u);
}

/* ---- the step check of each optimizer ---- */

typedef struct step_check {
    const char *name;
    ref_fn ref;            /* the trajectory reference, compared at the defaults */
    int closure;           /* run it in the closure form (nag's lookahead) */
    void (*by_hand)(void); /* first steps worked out by hand, or the reference's run */
} step_check;

static const step_check CHECKS[] = {
    {"sgd", ref_sgd, 0, NULL},
    {"nag", ref_nag, 1, NULL},
    {"adaptive_gains", ref_gains, 0, NULL},
    {"rprop", ref_rprop, 0, rprop_by_hand},
    {"rmsprop", ref_rmsprop, 0, rmsprop_by_hand},
    {"adagrad", ref_adagrad, 0, adagrad_by_hand},
    {"adadelta", ref_adadelta, 0, NULL},
    {"adam", ref_adam, 0, adam_by_hand},
    {"adamw", ref_adamw, 0, NULL},
    {"nadam", ref_nadam, 0, NULL},
    {"radam", ref_radam, 0, NULL},
    {"adamax", ref_adamax, 0, adamax_by_hand},
    {"adabelief", ref_adabelief, 0, adabelief_by_hand},
    {"yogi", ref_yogi, 0, yogi_by_hand},
    {"lion", ref_lion, 0, NULL},
    {"sf_adamw", ref_sf_adamw, 0, NULL},
    {"sf_sgd", ref_sf_sgd, 0, NULL},
    {"muon", NULL, 0, muon_at_defaults},
    {"lamb", NULL, 0, lamb_by_hand},
    {"lars", NULL, 0, lars_by_hand},
    {"adafactor", NULL, 0, adafactor_by_hand},
    {"shampoo", NULL, 0, shampoo_by_hand},
    {"soap", NULL, 0, soap_by_hand},
    {"newton", NULL, 0, newton_by_hand},
    {"cg", NULL, 0, cg_by_hand},
    {"lbfgs", NULL, 0, lbfgs_by_hand},
    {"hessian_free", NULL, 0, hessian_free_by_hand},
};

static const step_check *check_of(const char *name) {
    for (size_t i = 0; i < sizeof CHECKS / sizeof CHECKS[0]; i++)
        if (strcmp(CHECKS[i].name, name) == 0) return &CHECKS[i];
    return NULL;
}

/* ---- the rules between options: a value that breaks one, and the message ---- */

typedef struct rule {
    const char *optim, *option;
    double v[2];
    const char *msg;
} rule;

static const rule RULES[] = {
    {"sgd", "nesterov", {1}, "option 'nesterov' needs momentum > 0 and dampening = 0"},
    {"adaptive_gains", "gain_min", {20}, "option 'gain_min' must be <= gain_max, got 20 > 10"},
    {"adaptive_gains", "gain_max", {0.05}, "option 'gain_min' must be <= gain_max, got 0.1 > 0.05"},
    {"rmsprop", "gain_min", {20}, "option 'gain_min' must be <= gain_max, got 20 > 10"},
    {"rmsprop", "gain_max", {0.05}, "option 'gain_min' must be <= gain_max, got 0.1 > 0.05"},
    {"rprop", "etas", {1.5, 2},
     "option 'etas' must satisfy 0 < eta_minus < 1 < eta_plus, got {1.5, 2}"},
    {"rprop", "etas", {0.5, 0.9},
     "option 'etas' must satisfy 0 < eta_minus < 1 < eta_plus, got {0.5, 0.9}"},
    {"rprop", "step_sizes", {2, 1}, "option 'step_sizes' must satisfy min <= max, got {2, 1}"},
    {"muon", "ns_steps", {2.5}, "option 'ns_steps' must be an integer, got 2.5"},
    {"shampoo", "update_every", {2.5},
     "options 'update_every' and 'max_precond_dim' must be integers"},
    {"soap", "precondition_frequency", {2.5},
     "options 'precondition_frequency' and 'max_precond_dim' must be integers"},
    {"cg", "max_iter", {2.5}, "options 'max_iter' and 'restart' must be integers"},
    {"cg", "restart", {1.5}, "options 'max_iter' and 'restart' must be integers"},
    {"cg", "c1", {0.5}, "option 'c1' must be < c2 (got 0.5, 0.1)"},
    {"lbfgs", "max_iter", {1.5},
     "options 'max_iter', 'max_eval' and 'history_size' must be integers"},
    {"lbfgs", "max_eval", {1.5},
     "options 'max_iter', 'max_eval' and 'history_size' must be integers"},
    {"lbfgs", "history_size", {1.5},
     "options 'max_iter', 'max_eval' and 'history_size' must be integers"},
    {"hessian_free", "cg_iters", {2.5}, "option 'cg_iters' must be an integer"},
    {"sf_adamw", "warmup_steps", {2.5}, "option 'warmup_steps' must be an integer, got 2.5"},
    {"sf_adamw", "betas", {0, 0.999},
     "option 'betas' element 1 must be > 0: the average x = y + (1 - 1/beta1)(z - y) divides by it"},
    {"sf_sgd", "warmup_steps", {0.5}, "option 'warmup_steps' must be an integer, got 0.5"},
};
#define NRULES ((int)(sizeof RULES / sizeof RULES[0]))

/* ---- helpers ---- */

static int count_options(const pub_optim *p) {
    int n = 0;
    while (n < (int)(sizeof p->options / sizeof p->options[0]) && p->options[n].name) n++;
    return n;
}

/* Sets name to v (one value, two for a pair) and expects the refusal `want`
 * with every option value unchanged. */
static void expect_refused(ol_optim *opt, const char *name, const double *v, const char *want) {
    ol_error err = {{0}};
    double before[OL_OPTIM_MAXSLOTS];
    memcpy(before, opt->groups[0].o, sizeof before);
    if (ol_optim_set(opt, name, v, &err) != -1)
        fail_msg("%s.%s = {%g, %g} was accepted, want \"%s\"", opt->desc->name, name, v[0], v[1],
                 want);
    if (strcmp(err.msg, want) != 0)
        fail_msg("%s.%s = {%g, %g}: got \"%s\", want \"%s\"", opt->desc->name, name, v[0], v[1],
                 err.msg, want);
    assert_memory_equal(before, opt->groups[0].o, sizeof before);
}

/* A published range: bounds and which are excluded. */
typedef struct range {
    double lo, hi;
    int lo_open, hi_open;
} range;

static range parse_range(const char *optim, const pub_option *op) {
    range r = {-INFINITY, INFINITY, 0, 0};
    const char *s = op->range;
    char l, h;
    double a, b;
    if (strcmp(s, "a number") == 0) return r;
    if (sscanf(s, "in %c%lf, %lf%c", &l, &a, &b, &h) == 4 && (l == '[' || l == '(') &&
        (h == ']' || h == ')')) {
        r.lo = a, r.hi = b, r.lo_open = l == '(', r.hi_open = h == ')';
    } else if (strncmp(s, ">= ", 3) == 0) {
        r.lo = strtod(s + 3, NULL);
    } else if (strncmp(s, "> ", 2) == 0) {
        r.lo = strtod(s + 2, NULL), r.lo_open = 1;
    } else if (strncmp(s, "<= ", 3) == 0) {
        r.hi = strtod(s + 3, NULL);
    } else if (strncmp(s, "< ", 2) == 0) {
        r.hi = strtod(s + 2, NULL), r.hi_open = 1;
    } else {
        fail_msg("%s.%s: unreadable range \"%s\"", optim, op->name, s);
    }
    return r;
}

/* Values outside r: below and above by 0.1, 0.5 and 1, an excluded bound
 * itself, the infinity beyond a finite bound, and NaN. */
static int outside(range r, double *v) {
    int n = 0;
    const double by[3] = {0.1, 0.5, 1};
    if (isfinite(r.lo)) {
        for (int i = 0; i < 3; i++) v[n++] = r.lo - by[i];
        if (r.lo_open) v[n++] = r.lo;
        v[n++] = -INFINITY;
    }
    if (isfinite(r.hi)) {
        for (int i = 0; i < 3; i++) v[n++] = r.hi + by[i];
        if (r.hi_open) v[n++] = r.hi;
        v[n++] = INFINITY;
    }
    v[n++] = NAN;
    return n;
}

/* Splits "a|b|c" into names (at most max), returns the count. */
static int split_choices(const char *s, char names[][32], int max) {
    int n = 0;
    while (s && *s && n < max) {
        const char *bar = strchr(s, '|');
        size_t len = bar ? (size_t)(bar - s) : strlen(s);
        assert_true(len < 32);
        memcpy(names[n], s, len);
        names[n++][len] = 0;
        s = bar ? bar + 1 : NULL;
    }
    return n;
}

/* d's published entry; fails naming d when it has none. */
static const pub_optim *published(const ol_optim_desc *d) {
    const pub_optim *p = pub_find(d->name);
    if (!p) fail_msg("%s is in the registry but not in PUBLISHED (optim_options.h)", d->name);
    return p;
}

static int count_registry(void) {
    int n = 0;
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++) n++;
    return n;
}

/* ---- the tests ---- */

/* Every descriptor has its tables here, and every table entry its
 * descriptor: an optimizer added without them fails. */
static void test_every_optimizer_has_tables(void **st) {
    (void)st;
    int count = 0;
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++, count++) {
        published(*d);
        const step_check *c = check_of((*d)->name);
        if (!c) fail_msg("%s is in the registry but has no step check in CHECKS", (*d)->name);
        if (!c->ref && !c->by_hand) fail_msg("%s: its step check checks nothing", (*d)->name);
        assert_ptr_equal(ol_optim_find((*d)->name), *d);
        for (const ol_optim_desc *const *e = ol_optim_registry; e != d; e++)
            if (strcmp((*e)->name, (*d)->name) == 0) fail_msg("%s is registered twice", (*d)->name);
    }
    for (int i = 0; i < NPUBLISHED; i++)
        if (!ol_optim_find(PUBLISHED[i].name))
            fail_msg("PUBLISHED lists %s, the registry does not", PUBLISHED[i].name);
    for (size_t i = 0; i < sizeof CHECKS / sizeof CHECKS[0]; i++)
        if (!ol_optim_find(CHECKS[i].name))
            fail_msg("CHECKS lists %s, the registry does not", CHECKS[i].name);
    for (int i = 0; i < NRULES; i++)
        if (!ol_optim_find(RULES[i].optim))
            fail_msg("RULES lists %s, the registry does not", RULES[i].optim);
    assert_int_equal(count, NPUBLISHED);
    assert_null(ol_optim_find("nope"));
}

/* The published kind, and exactly the functions of that kind. */
static void test_kind(void **st) {
    (void)st;
    for (const ol_optim_desc *const *dp = ol_optim_registry; *dp; dp++) {
        const ol_optim_desc *d = *dp;
        const pub_optim *p = published(d);
        if (d->kind != p->kind)
            fail_msg("%s: kind %d, published %d", d->name, (int)d->kind, (int)p->kind);
        const int steps = d->step_f32 && d->step_f64, no_steps = !d->step_f32 && !d->step_f64;
        const int prep_pair = !d->prepare_f32 == !d->prepare_f64;
        switch (d->kind) {
        case OL_OPTIM_FUSED:
            if (!steps || !prep_pair || d->workspace || d->state_len || d->closure_step ||
                d->priv_free)
                fail_msg("%s: a fused optimizer has step_f32/f64 (and maybe prepare_f32/f64), "
                         "no workspace, state_len, closure_step or priv_free",
                         d->name);
            break;
        case OL_OPTIM_TENSOR:
            if (!steps || d->prepare_f32 || d->prepare_f64 || d->closure_step || d->priv_free ||
                (d->init && d->state_len))
                fail_msg("%s: a per-tensor optimizer has step_f32/f64 (and maybe workspace and "
                         "state_len), no prepare, closure_step or priv_free, and init only "
                         "with full-length state",
                         d->name);
            break;
        case OL_OPTIM_CLOSURE:
            if (!no_steps || !d->closure_step || d->prepare_f32 || d->prepare_f64 || d->workspace ||
                d->init || d->state_len)
                fail_msg("%s: a closure method has closure_step, no step_f32/f64, prepare, "
                         "workspace, state_len or init",
                         d->name);
            break;
        default:
            fail_msg("%s: no kind", d->name);
        }
        /* the mode switch: all four kernels or none, fused optimizers only */
        const int modes = !!d->to_eval_f32 + !!d->to_eval_f64 + !!d->to_train_f32 + !!d->to_train_f64;
        if (modes != 0 && (modes != 4 || d->kind != OL_OPTIM_FUSED))
            fail_msg("%s: a fused optimizer with modes has to_eval_f32/f64 and to_train_f32/f64", d->name);
        /* what the engine decides from the kind */
        ol_error err;
        ol_optim opt;
        assert_int_equal(ol_optim_init(&opt, d, OL_F32, 1 << 16, &err), 0);
        /* one group, one vector over the whole buffer; full-length state
         * unless the optimizer sizes it per tensor */
        assert_int_equal(opt.ngroups, 1);
        assert_int_equal(opt.nparams, 1);
        assert_true(opt.params[0].offset == 0 && opt.params[0].rows == 1 &&
                    opt.params[0].cols == 1 << 16 && !opt.params[0].matrix);
        for (int k = 0; k < d->nstate && !d->state_len; k++)
            assert_int_equal(ol_optim_state_numel(&opt, k), 1 << 16);
        assert_int_equal(ol_optim_is_closure(&opt), p->kind == OL_OPTIM_CLOSURE);
        if (p->kind != OL_OPTIM_FUSED) assert_int_equal(ol_optim_step_parts(&opt), 1);
        ol_optim_free(&opt);
    }
}

/* Options (names, order, types, defaults, choices) and state buffers as
 * published; the defaults pass the optimizer's own checks. */
static void test_defaults(void **st) {
    (void)st;
    for (const ol_optim_desc *const *dp = ol_optim_registry; *dp; dp++) {
        const ol_optim_desc *d = *dp;
        const pub_optim *p = published(d);
        const int n = count_options(p);
        if (d->noptions != n) fail_msg("%s has %d options, published %d", d->name, d->noptions, n);
        ol_error err;
        ol_optim opt;
        assert_int_equal(ol_optim_init(&opt, d, OL_F64, 3, &err), 0);
        for (int i = 0; i < n; i++) {
            const pub_option *po = &p->options[i];
            const ol_optim_option *op = &d->options[i];
            if (strcmp(op->name, po->name) != 0)
                fail_msg("%s: option %d is %s, published %s", d->name, i + 1, op->name, po->name);
            if (op->type != po->type)
                fail_msg("%s.%s: type %d, published %d", d->name, po->name, (int)op->type,
                         (int)po->type);
            const int size = po->type == OL_OPT_PAIR ? 2 : 1;
            for (int k = 0; k < size; k++)
                if (opt.groups[0].o[op->slot + k] != po->def[k])
                    fail_msg("%s.%s defaults to %g (element %d), published %g", d->name, po->name,
                             opt.groups[0].o[op->slot + k], k + 1, po->def[k]);
            if (po->type == OL_OPT_ENUM) {
                char names[8][32];
                const int nc = split_choices(po->range, names, 8);
                for (int c = 0; c < nc; c++) {
                    if (ol_optim_enum_index(op, names[c]) != c)
                        fail_msg("%s.%s: choice %s is not number %d", d->name, po->name, names[c],
                                 c + 1);
                }
                assert_null(op->choices[nc]);
                assert_int_equal(ol_optim_enum_index(op, "nope"), -1);
            }
        }
        assert_int_equal(ol_optim_check_values(d, opt.groups[0].o, &err), 0);
        char names[160] = "";
        for (int i = 0; i < d->nstate; i++) {
            assert_non_null(d->state_names[i]);
            if (i) strcat(names, ",");
            strcat(names, d->state_names[i]);
        }
        if (strcmp(names, p->state) != 0)
            fail_msg("%s: state %s, published %s", d->name, names, p->state);
        ol_optim_free(&opt);
    }
}

/* Every option out of its range, excluded bound, infinite or NaN; bools
 * that are not 0 or 1; enums that are no choice; names the optimizer does
 * not have (a typo of its own, another optimizer's options): each refused
 * with its message, nothing changed. Each choice of an enum is accepted. */
static void test_bad_options(void **st) {
    (void)st;
    for (const ol_optim_desc *const *dp = ol_optim_registry; *dp; dp++) {
        const ol_optim_desc *d = *dp;
        const pub_optim *p = published(d);
        ol_error err;
        ol_optim opt;
        assert_int_equal(ol_optim_init(&opt, d, OL_F32, 2, &err), 0);
        char want[200];
        for (const pub_option *po = p->options; po->name; po++) {
            double bad[16];
            int nbad;
            switch (po->type) {
            case OL_OPT_NUMBER:
            case OL_OPT_PAIR: {
                const range r = parse_range(d->name, po);
                nbad = outside(r, bad);
                for (int k = 0; k < (po->type == OL_OPT_PAIR ? 2 : 1); k++)
                    for (int i = 0; i < nbad; i++) {
                        /* a default is valid, also where it stands for
                         * "not given" outside the range (soap's
                         * shampoo_beta = -1, nil in Lua) */
                        if (bad[i] == po->def[k]) continue;
                        double v[2] = {po->def[0], po->def[1]};
                        v[k] = bad[i];
                        if (po->type == OL_OPT_PAIR)
                            snprintf(want, sizeof want, "option '%s' element %d must be %s, got %g",
                                     po->name, k + 1, po->range, bad[i]);
                        else
                            snprintf(want, sizeof want, "option '%s' must be %s, got %g", po->name,
                                     po->range, bad[i]);
                        expect_refused(&opt, po->name, v, want);
                    }
                break;
            }
            case OL_OPT_BOOL: {
                const double v[4] = {2, -1, 0.5, NAN};
                snprintf(want, sizeof want, "option '%s' must be a boolean", po->name);
                for (int i = 0; i < 4; i++)
                    expect_refused(&opt, po->name, (double[]){v[i], 0}, want);
                break;
            }
            case OL_OPT_ENUM: {
                char names[8][32];
                const int nc = split_choices(po->range, names, 8);
                const double v[5] = {nc, nc + 3, -1, 0.5, NAN};
                for (int i = 0; i < 5; i++) {
                    snprintf(want, sizeof want, "option '%s' has no choice %g", po->name, v[i]);
                    expect_refused(&opt, po->name, (double[]){v[i], 0}, want);
                }
                const ol_optim_option *op = ol_optim_find_option(d, po->name);
                for (int c = nc - 1; c >= 0; c--) {
                    assert_int_equal(ol_optim_set(&opt, po->name, (double[]){c, 0}, &err), 0);
                    assert_true(opt.groups[0].o[op->slot] == c);
                }
                break;
            }
            }
        }
        /* a typo of its first option's name, a name nobody has, and every
         * other optimizer's option it does not have */
        char typo[64];
        snprintf(typo, sizeof typo, "%s%c", p->options[0].name,
                 p->options[0].name[strlen(p->options[0].name) - 1]);
        const char *own[2] = {typo, "nope"};
        for (int i = 0; i < 2; i++) {
            snprintf(want, sizeof want, "unknown option '%s' for %s", own[i], d->name);
            expect_refused(&opt, own[i], (double[]){1, 1}, want);
        }
        for (int j = 0; j < NPUBLISHED; j++)
            for (const pub_option *other = PUBLISHED[j].options; other->name; other++)
                if (!pub_option_of(d->name, other->name)) {
                    snprintf(want, sizeof want, "unknown option '%s' for %s", other->name, d->name);
                    expect_refused(&opt, other->name, (double[]){1, 1}, want);
                }
        ol_optim_free(&opt);
    }
}

/* The rules between options: refused with their message, nothing changed;
 * an optimizer has rules exactly when it has a check. */
static void test_rules(void **st) {
    (void)st;
    for (const ol_optim_desc *const *dp = ol_optim_registry; *dp; dp++) {
        const ol_optim_desc *d = *dp;
        int nrules = 0;
        ol_error err;
        ol_optim opt;
        assert_int_equal(ol_optim_init(&opt, d, OL_F32, 2, &err), 0);
        for (int i = 0; i < NRULES; i++)
            if (strcmp(RULES[i].optim, d->name) == 0) {
                expect_refused(&opt, RULES[i].option, RULES[i].v, RULES[i].msg);
                nrules++;
            }
        if ((nrules > 0) != (d->check != NULL))
            fail_msg("%s: %d rules in RULES, but it %s a check", d->name, nrules,
                     d->check ? "has" : "has no");
        ol_optim_free(&opt);
    }
}

/* Parameters and gradients of another dtype or length are refused. */
static void test_buffers_refused(void **st) {
    (void)st;
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++) {
        ol_error err;
        ol_optim opt;
        assert_int_equal(ol_optim_init(&opt, *d, OL_F32, 4, &err), 0);
        ol_tensor w, g;
        const int64_t four[1] = {4}, five[1] = {5};
        assert_int_equal(ol_tensor_zeros(&w, OL_F32, 1, four, &err), 0);
        assert_int_equal(ol_tensor_zeros(&g, OL_F64, 1, four, &err), 0);
        assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), -1);
        assert_string_equal(err.msg, "grad is f64 but the optimizer works in f32");
        ol_tensor_release(&g);
        assert_int_equal(ol_tensor_zeros(&g, OL_F32, 1, five, &err), 0);
        assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), -1);
        assert_string_equal(err.msg, "grad has 5 elements, the parameters 4");
        ol_tensor_release(&g);
        ol_tensor_release(&w);
        ol_optim_free(&opt);
    }
}

/* A step at the defaults against the reference of the published rule. */
static void test_step_at_defaults(void **st) {
    (void)st;
    assert_int_equal(count_registry(), (int)(sizeof CHECKS / sizeof CHECKS[0]));
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++) {
        const step_check *c = check_of((*d)->name);
        if (!c) fail_msg("%s is in the registry but has no step check in CHECKS", (*d)->name);
        ref_knows_loss = c->closure;
        if (c->ref) compare_run(c->name, c->ref, NULL, c->closure);
        if (c->by_hand) c->by_hand();
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_optimizer_has_tables),
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_buffers_refused),
        cmocka_unit_test(test_step_at_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
