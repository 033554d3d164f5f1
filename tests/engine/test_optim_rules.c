/* Optimizer kernels against the published rules.
 *
 * Each optimizer runs a few steps on a 3-element problem whose gradient is
 * g_i = a_i·(w_i − c_i) + 0.3·sin(1.7·t + i) (so signs flip now and then),
 * once through the engine (ol_optim) and once through a reference written
 * here in plain double arithmetic straight from the rule (torch's code for
 * the torch algorithms, the papers' pseudo-code for the others). Every step
 * of the trajectory is compared, in f64 (1e-12) and f32 (1e-5 relative).
 * Options may change at a given step, which checks that live fields take
 * effect at the next step. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "optim/optim.h"

#define STEPS 8
#include "optim_trajectory.h"

static double sgn(double x) { return (x > 0) - (x < 0); }

/* ---- references: traj[t-1] = w after step t ---- */

static void ref_sgd(const kv *o, double traj[STEPS][N]) {
    double w[N], buf[N] = {0}, g[N];
    int started = 0;
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = get(o, "lr", 1e-3, t), mom = get(o, "momentum", 0, t);
        double damp = get(o, "dampening", 0, t), wd = get(o, "weight_decay", 0, t);
        int nest = get(o, "nesterov", 0, t) != 0, maxi = get(o, "maximize", 0, t) != 0;
        grad_at(w, t, g);
        int first = !started;
        if (mom != 0) started = 1;
        for (int i = 0; i < N; i++) {
            double d = maxi ? -g[i] : g[i];
            if (wd != 0) d = d + wd * w[i];
            if (mom != 0) {
                if (first) buf[i] = d;
                else buf[i] = mom * buf[i] + (1 - damp) * d;
                if (nest) d = d + mom * buf[i];
                else d = buf[i];
            }
            w[i] = w[i] - lr * d;
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* The lookahead form of Sutskever et al. 2013, eq. (3)-(4). */
static void ref_nag(const kv *o, double traj[STEPS][N]) {
    double w[N], p[N] = {0}, look[N], g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = get(o, "lr", 1e-3, t), mu = get(o, "momentum", 0.9, t);
        for (int i = 0; i < N; i++) look[i] = w[i] - mu * p[i];
        grad_at(look, t, g);
        for (int i = 0; i < N; i++) {
            p[i] = mu * p[i] + lr * g[i];
            w[i] = w[i] - p[i];
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* Jacobs 1988 / Hinton lecture 6d, as API.md states it. */
static void ref_gains(const kv *o, double traj[STEPS][N]) {
    double w[N], gain[N] = {1, 1, 1}, prev[N] = {0}, v[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = get(o, "lr", 1e-3, t), up = get(o, "gain_up", 0.05, t);
        double down = get(o, "gain_down", 0.95, t), lo = get(o, "gain_min", 0.1, t);
        double hi = get(o, "gain_max", 10, t), mu = get(o, "momentum", 0, t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            if (g[i] * prev[i] > 0) gain[i] += up;
            else if (g[i] * prev[i] < 0) gain[i] *= down;
            if (gain[i] < lo) gain[i] = lo;
            if (gain[i] > hi) gain[i] = hi;
            prev[i] = g[i];
            v[i] = mu * v[i] - lr * gain[i] * g[i];
            w[i] += v[i];
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* Rprop variants after Igel & Hüsken 2000 (fig. 1-4); irprop- as torch.
 * *backtracks counts weight reversals, so tests can insist they happened. */
static int backtracks;
static int ref_knows_loss; /* irprop+ without the loss must act as irprop- */
static void ref_rprop(const kv *o, double traj[STEPS][N]) {
    double w[N], prev[N] = {0}, dw[N] = {0}, g[N], D[N], prev_loss = NAN;
    int variant = (int)get(o, "variant", 0, 1); /* 0 irprop-, 1 rprop-, 2 rprop+, 3 irprop+ */
    if (variant == 3 && !ref_knows_loss) variant = 0;
    memcpy(w, W0, sizeof w);
    for (int i = 0; i < N; i++) D[i] = get(o, "lr", 1e-2, 1);
    for (int t = 1; t <= STEPS; t++) {
        double em = get2(o, "etas", 0.5, t, 0), ep = get2(o, "etas", 1.2, t, 1);
        double dmin = get2(o, "step_sizes", 1e-6, t, 0), dmax = get2(o, "step_sizes", 50, t, 1);
        grad_at(w, t, g);
        double E = loss_at(w);
        for (int i = 0; i < N; i++) {
            double s = g[i] * prev[i];
            if (s > 0) D[i] = fmin(D[i] * ep, dmax);
            else if (s < 0) D[i] = fmax(D[i] * em, dmin);
            D[i] = fmin(fmax(D[i], dmin), dmax);
            if (s < 0 && variant == 2) { /* rprop+ */
                w[i] -= dw[i];
                dw[i] = -dw[i];
                prev[i] = 0;
                backtracks++;
            } else if (s < 0 && variant == 3) { /* irprop+ */
                if (E > prev_loss) {
                    w[i] -= dw[i];
                    dw[i] = -dw[i];
                    backtracks++;
                } else {
                    dw[i] = 0;
                }
                prev[i] = 0;
            } else if (s < 0 && variant == 0) { /* irprop- */
                dw[i] = 0;
                prev[i] = 0;
            } else {
                dw[i] = -sgn(g[i]) * D[i];
                w[i] += dw[i];
                prev[i] = g[i];
            }
        }
        prev_loss = E;
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* torch.optim.RMSprop, plus nesterov on the buffer as documented. */
static void ref_rmsprop(const kv *o, double traj[STEPS][N]) {
    double w[N], sq[N] = {0}, ga[N] = {0}, buf[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = get(o, "lr", 1e-2, t), alpha = get(o, "alpha", 0.99, t);
        double eps = get(o, "eps", 1e-8, t), mom = get(o, "momentum", 0, t);
        double wd = get(o, "weight_decay", 0, t);
        int centered = get(o, "centered", 0, t) != 0, nest = get(o, "nesterov", 0, t) != 0;
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            double gi = g[i] + wd * w[i];
            sq[i] = alpha * sq[i] + (1 - alpha) * gi * gi;
            double avg;
            if (centered) {
                ga[i] = alpha * ga[i] + (1 - alpha) * gi;
                avg = sqrt(sq[i] - ga[i] * ga[i]) + eps;
            } else {
                avg = sqrt(sq[i]) + eps;
            }
            if (mom > 0) {
                buf[i] = mom * buf[i] + gi / avg;
                w[i] -= lr * (nest ? gi / avg + mom * buf[i] : buf[i]);
            } else {
                w[i] -= lr * gi / avg;
            }
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

static void ref_adagrad(const kv *o, double traj[STEPS][N]) {
    double w[N], sum[N], g[N];
    memcpy(w, W0, sizeof w);
    for (int i = 0; i < N; i++) sum[i] = get(o, "initial_accumulator_value", 0, 1);
    for (int t = 1; t <= STEPS; t++) {
        double lr = get(o, "lr", 1e-2, t), decay = get(o, "lr_decay", 0, t);
        double wd = get(o, "weight_decay", 0, t), eps = get(o, "eps", 1e-10, t);
        grad_at(w, t, g);
        double clr = lr / (1 + (t - 1) * decay);
        for (int i = 0; i < N; i++) {
            double gi = g[i] + wd * w[i];
            sum[i] += gi * gi;
            w[i] -= clr * gi / (sqrt(sum[i]) + eps);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* Zeiler 2012, Algorithm 1, times torch's lr. */
static void ref_adadelta(const kv *o, double traj[STEPS][N]) {
    double w[N], Eg[N] = {0}, Ex[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = get(o, "lr", 1.0, t), rho = get(o, "rho", 0.9, t);
        double eps = get(o, "eps", 1e-6, t), wd = get(o, "weight_decay", 0, t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            double gi = g[i] + wd * w[i];
            Eg[i] = rho * Eg[i] + (1 - rho) * gi * gi;
            double dx = sqrt(Ex[i] + eps) / sqrt(Eg[i] + eps) * gi;
            Ex[i] = rho * Ex[i] + (1 - rho) * dx * dx;
            w[i] -= lr * dx;
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* ---- the engine side ---- */

static void test_sgd(void **st) {
    (void)st;
    const kv cases[][6] = {
        {KV_END},
        {{"lr", {0.1}, 0}, KV_END},
        {{"lr", {0.1}, 0}, {"momentum", {0.9}, 0}, KV_END},
        {{"lr", {0.05}, 0}, {"momentum", {0.8}, 0}, {"dampening", {0.3}, 0}, KV_END},
        {{"lr", {0.05}, 0}, {"momentum", {0.9}, 0}, {"nesterov", {1}, 0}, KV_END},
        {{"lr", {0.1}, 0}, {"weight_decay", {0.2}, 0}, {"momentum", {0.5}, 0}, KV_END},
        {{"lr", {0.01}, 0}, {"maximize", {1}, 0}, {"weight_decay", {0.1}, 0}, KV_END},
        /* live: lr and momentum change at step 4; momentum switched on late
         * starts its buffer from d, as torch */
        {{"lr", {0.1}, 0}, {"lr", {0.02}, 4}, {"momentum", {0.9}, 4}, KV_END},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) compare_run("sgd", ref_sgd, cases[k], 0);
}

/* nag with a closure: the gradient is taken at the lookahead point. */
static void test_nag_closure(void **st) {
    (void)st;
    const kv cases[][4] = {
        {KV_END},
        {{"lr", {0.05}, 0}, {"momentum", {0.8}, 0}, KV_END},
        {{"lr", {0.05}, 0}, {"momentum", {0.5}, 4}, {"lr", {0.01}, 3}, KV_END},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) compare_run("nag", ref_nag, cases[k], 1);
}

/* nag without a closure keeps the lookahead point v = w − mu·p: compare
 * with the reference's lookahead points. */
static void ref_nag_lookahead(const kv *o, double traj[STEPS][N]) {
    double w[N], p[N] = {0}, look[N], g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = get(o, "lr", 1e-3, t), mu = get(o, "momentum", 0.9, t);
        for (int i = 0; i < N; i++) look[i] = w[i] - mu * p[i];
        grad_at(look, t, g);
        for (int i = 0; i < N; i++) {
            p[i] = mu * p[i] + lr * g[i];
            w[i] = w[i] - p[i];
            traj[t - 1][i] = w[i] - mu * p[i];
        }
    }
}
static void test_nag_plain_grad(void **st) {
    (void)st;
    const kv o[] = {{"lr", {0.05}, 0}, {"momentum", {0.8}, 0}, KV_END};
    compare_run("nag", ref_nag_lookahead, o, 0);
}

static void test_adaptive_gains(void **st) {
    (void)st;
    const kv cases[][6] = {
        {{"lr", {0.1}, 0}, KV_END},
        {{"lr", {0.1}, 0}, {"gain_up", {0.3}, 0}, {"gain_down", {0.5}, 0}, KV_END},
        {{"lr", {0.1}, 0}, {"gain_up", {0.5}, 0}, {"gain_max", {1.6}, 0}, KV_END},
        {{"lr", {0.1}, 0}, {"gain_down", {0.2}, 0}, {"gain_min", {0.5}, 0}, KV_END},
        {{"lr", {0.05}, 0}, {"momentum", {0.7}, 0}, {"gain_up", {0.2}, 0}, KV_END},
        {{"lr", {0.1}, 0}, {"gain_max", {1.2}, 3}, {"lr", {0.3}, 5}, KV_END},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        compare_run("adaptive_gains", ref_gains, cases[k], 0);
}

static void test_rprop(void **st) {
    (void)st;
    for (int v = 0; v < 4; v++) {
        const kv cases[][5] = {
            {{"variant", {v}, 0}, KV_END},
            {{"variant", {v}, 0}, {"lr", {0.5}, 0}, KV_END},
            {{"variant", {v}, 0}, {"lr", {0.3}, 0}, {"etas", {0.3, 1.5}, 0}, KV_END},
            {{"variant", {v}, 0}, {"lr", {0.3}, 0}, {"step_sizes", {0.1, 0.4}, 0}, KV_END},
            {{"variant", {v}, 0}, {"lr", {0.3}, 0}, {"etas", {0.7, 2.0}, 3}, KV_END},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            ref_knows_loss = 0;
            compare_run("rprop", ref_rprop, cases[k], 0);
            ref_knows_loss = 1;
            compare_run("rprop", ref_rprop, cases[k], 1);
        }
    }
}

/* The backtracking variants must actually have backtracked in these runs,
 * or the comparison above proves little about them. */
static void test_rprop_backtracks(void **st) {
    (void)st;
    double traj[STEPS][N];
    backtracks = 0;
    const kv plus[] = {{"variant", {2}, 0}, {"lr", {0.5}, 0}, KV_END};
    ref_rprop(plus, traj);
    assert_true(backtracks > 0);
    backtracks = 0;
    const kv iplus[] = {{"variant", {3}, 0}, {"lr", {0.5}, 0}, KV_END};
    ref_knows_loss = 1;
    ref_rprop(iplus, traj);
    assert_true(backtracks > 0);
}

static void test_rmsprop(void **st) {
    (void)st;
    const kv cases[][6] = {
        {KV_END},
        {{"lr", {0.05}, 0}, {"alpha", {0.9}, 0}, KV_END},
        {{"lr", {0.05}, 0}, {"eps", {0.1}, 0}, KV_END},
        {{"lr", {0.05}, 0}, {"centered", {1}, 0}, {"alpha", {0.8}, 0}, KV_END},
        {{"lr", {0.02}, 0}, {"momentum", {0.9}, 0}, KV_END},
        {{"lr", {0.02}, 0}, {"momentum", {0.9}, 0}, {"nesterov", {1}, 0}, {"centered", {1}, 0}, KV_END},
        {{"lr", {0.02}, 0}, {"weight_decay", {0.3}, 0}, {"momentum", {0.5}, 0}, KV_END},
        {{"lr", {0.05}, 0}, {"lr", {0.01}, 3}, {"alpha", {0.5}, 5}, KV_END},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        compare_run("rmsprop", ref_rmsprop, cases[k], 0);
}

static void test_adagrad(void **st) {
    (void)st;
    const kv cases[][5] = {
        {KV_END},
        {{"lr", {0.3}, 0}, {"lr_decay", {0.5}, 0}, KV_END},
        {{"lr", {0.3}, 0}, {"weight_decay", {0.4}, 0}, KV_END},
        {{"lr", {0.3}, 0}, {"initial_accumulator_value", {2.0}, 0}, KV_END},
        {{"lr", {0.3}, 0}, {"eps", {0.5}, 0}, KV_END},
        {{"lr", {0.3}, 0}, {"lr", {0.1}, 4}, {"lr_decay", {1.0}, 6}, KV_END},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        compare_run("adagrad", ref_adagrad, cases[k], 0);
}

static void test_adadelta(void **st) {
    (void)st;
    const kv cases[][5] = {
        {KV_END},
        {{"lr", {0.5}, 0}, {"rho", {0.5}, 0}, KV_END},
        {{"eps", {1e-2}, 0}, KV_END},
        {{"weight_decay", {0.5}, 0}, KV_END},
        {{"lr", {2.0}, 3}, {"rho", {0.95}, 5}, KV_END},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        compare_run("adadelta", ref_adadelta, cases[k], 0);
}

/* Hand-computed first steps, independent of the references above. */
static void test_by_hand(void **st) {
    (void)st;
    ol_error err;
    ol_optim opt;
    const int64_t one[1] = {1};
    ol_tensor w, g;
    int64_t i0 = 0;
    assert_int_equal(ol_tensor_full(&w, OL_F64, 1, one, 1.0, &err), 0);
    assert_int_equal(ol_tensor_full(&g, OL_F64, 1, one, 2.0, &err), 0);
    /* adagrad, lr 0.1: sum = 4, w = 1 − 0.1·2/(2 + 1e-10) */
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("adagrad"), OL_F64, 1, &err), 0);
    assert_int_equal(ol_optim_set(&opt, "lr", (double[]){0.1}, &err), 0);
    assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
    assert_float_equal(ol_tensor_get(&w, &i0), 1 - 0.1 * 2 / (2 + 1e-10), 1e-15);
    ol_optim_free(&opt);
    /* rmsprop defaults: v = 0.01·4 = 0.04, w = 0.9 − 0.01·2/0.2 = 0.8 (minus eps) */
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("rmsprop"), OL_F64, 1, &err), 0);
    ol_tensor_set(&w, &i0, 0.9);
    assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
    assert_float_equal(ol_tensor_get(&w, &i0), 0.8, 1e-7);
    ol_optim_free(&opt);
    /* irprop-: first step moves by lr against the gradient's sign */
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("rprop"), OL_F64, 1, &err), 0);
    ol_tensor_set(&w, &i0, 0);
    assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
    assert_float_equal(ol_tensor_get(&w, &i0), -0.01, 1e-15);
    /* same sign again: step 0.012 */
    assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
    assert_float_equal(ol_tensor_get(&w, &i0), -0.022, 1e-15);
    /* reset: step size back to lr, t to 0 */
    ol_optim_reset(&opt);
    assert_int_equal(opt.t, 0);
    assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
    assert_float_equal(ol_tensor_get(&w, &i0), -0.032, 1e-15);
    ol_optim_free(&opt);
    ol_tensor_release(&w);
    ol_tensor_release(&g);
}

/* ---- bad options ---- */
static void expect_bad(const char *name, const char *opt_name, double v0, double v1,
                       const char *want) {
    ol_error err = {{0}};
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find(name), OL_F32, 2, &err), 0);
    double before[OL_OPTIM_MAXSLOTS];
    memcpy(before, opt.o, sizeof before);
    double v[2] = {v0, v1};
    assert_int_equal(ol_optim_set(&opt, opt_name, v, &err), -1);
    if (strcmp(err.msg, want) != 0) fail_msg("%s.%s: got \"%s\", want \"%s\"", name, opt_name, err.msg, want);
    assert_memory_equal(before, opt.o, sizeof before); /* nothing changed */
    ol_optim_free(&opt);
}

static void test_bad_options(void **st) {
    (void)st;
    expect_bad("sgd", "lr", -1, 0, "option 'lr' must be >= 0, got -1");
    expect_bad("sgd", "lrr", 1, 0, "unknown option 'lrr' for sgd");
    expect_bad("sgd", "momentum", -0.5, 0, "option 'momentum' must be >= 0, got -0.5");
    expect_bad("sgd", "weight_decay", -1, 0, "option 'weight_decay' must be >= 0, got -1");
    expect_bad("sgd", "nesterov", 1, 0, "option 'nesterov' needs momentum > 0 and dampening = 0");
    expect_bad("sgd", "maximize", 2, 0, "option 'maximize' must be a boolean");
    expect_bad("nag", "momentum", -1, 0, "option 'momentum' must be >= 0, got -1");
    expect_bad("adaptive_gains", "gain_min", 20, 0,
               "option 'gain_min' must be <= gain_max, got 20 > 10");
    expect_bad("adaptive_gains", "gain_max", 0.05, 0,
               "option 'gain_min' must be <= gain_max, got 0.1 > 0.05");
    expect_bad("adaptive_gains", "gain_down", 1.5, 0, "option 'gain_down' must be in (0, 1], got 1.5");
    expect_bad("adaptive_gains", "gain_up", -0.1, 0, "option 'gain_up' must be >= 0, got -0.1");
    expect_bad("rprop", "etas", 1.5, 2, "option 'etas' must satisfy 0 < eta_minus < 1 < eta_plus, got {1.5, 2}");
    expect_bad("rprop", "etas", 0, 2, "option 'etas' element 1 must be > 0, got 0");
    expect_bad("rprop", "step_sizes", 2, 1, "option 'step_sizes' must satisfy min <= max, got {2, 1}");
    expect_bad("rprop", "variant", 7, 0, "option 'variant' has no choice 7");
    expect_bad("rmsprop", "eps", 0, 0, "option 'eps' must be > 0, got 0");
    expect_bad("rmsprop", "alpha", 1.5, 0, "option 'alpha' must be in [0, 1], got 1.5");
    expect_bad("adagrad", "lr_decay", -1, 0, "option 'lr_decay' must be >= 0, got -1");
    expect_bad("adagrad", "initial_accumulator_value", -1, 0,
               "option 'initial_accumulator_value' must be >= 0, got -1");
    expect_bad("adadelta", "rho", 1.1, 0, "option 'rho' must be in [0, 1], got 1.1");
    expect_bad("adadelta", "lr", NAN, 0, "option 'lr' must be >= 0, got nan");
}

/* ---- convergence ---- */

/* f(x) = ½ Σ k_i x_i² with condition number 10, minimum at 0. */
static double quad(const double *x, double *g, int n) {
    double f = 0;
    for (int i = 0; i < n; i++) {
        double k = 1 + 9.0 * i / (n - 1);
        f += 0.5 * k * x[i] * x[i];
        g[i] = k * x[i];
    }
    return f;
}
/* Rosenbrock, minimum 0 at (1, 1). */
static double rosen(const double *x, double *g, int n) {
    (void)n;
    double a = 1 - x[0], b = x[1] - x[0] * x[0];
    g[0] = -2 * a - 400 * x[0] * b;
    g[1] = 200 * b;
    return a * a + 100 * b * b;
}

typedef double (*objective)(const double *x, double *g, int n);

static double minimise(const char *name, const kv *o, objective f, int n, const double *x0,
                       int steps, ol_dtype dt) {
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find(name), dt, n, &err), 0);
    set_options(&opt, o, 0);
    const int64_t shape[1] = {n};
    ol_tensor w, g;
    assert_int_equal(ol_tensor_zeros(&w, dt, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&g, dt, 1, shape, &err), 0);
    for (int64_t i = 0; i < n; i++) ol_tensor_set(&w, &i, x0[i]);
    double x[8], gv[8], loss = 0;
    const int prep = ol_optim_has_prepare(&opt);
    for (int t = 0; t < steps; t++) {
        if (prep) ol_optim_prepare(&opt, &w, &err);
        for (int64_t i = 0; i < n; i++) x[i] = ol_tensor_get(&w, &i);
        loss = f(x, gv, n);
        for (int64_t i = 0; i < n; i++) ol_tensor_set(&g, &i, gv[i]);
        assert_int_equal(ol_optim_step(&opt, &w, &g, loss, prep, &err), 0);
    }
    for (int64_t i = 0; i < n; i++) x[i] = ol_tensor_get(&w, &i);
    loss = f(x, gv, n);
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
    return loss;
}

typedef struct conv_case {
    const char *name;
    kv o[4];
    int quad_steps, rosen_steps;
    double rosen_tol;
    double quad_tol; /* 0: 1e-6. rmsprop's steps stay ~lr in size near the
                        minimum, so it hovers there rather than converging */
} conv_case;

static void test_convergence(void **st) {
    (void)st;
    const conv_case cases[] = {
        {"sgd", {{"lr", {0.1}, 0}, KV_END}, 200, 0, 0, 0},
        {"sgd", {{"lr", {1e-3}, 0}, {"momentum", {0.9}, 0}, KV_END}, 2000, 3000, 1e-4, 0},
        {"nag", {{"lr", {1e-3}, 0}, {"momentum", {0.9}, 0}, KV_END}, 2000, 3000, 1e-4, 0},
        {"adaptive_gains", {{"lr", {1e-3}, 0}, {"momentum", {0.9}, 0}, KV_END}, 2000, 3000, 1e-4, 0},
        {"rprop", {KV_END}, 200, 2000, 1e-3, 0},
        {"rprop", {{"variant", {1}, 0}, KV_END}, 300, 3000, 1e-2, 0},
        {"rprop", {{"variant", {2}, 0}, KV_END}, 200, 6000, 1e-3, 0},
        {"rprop", {{"variant", {3}, 0}, KV_END}, 200, 2000, 1e-3, 0},
        {"rmsprop", {{"lr", {1e-3}, 0}, KV_END}, 6000, 0, 0, 1e-4},
        {"rmsprop", {{"lr", {1e-3}, 0}, {"momentum", {0.9}, 0}, {"centered", {1}, 0}, KV_END}, 2000, 4000, 1e-3, 1e-4},
        {"adagrad", {{"lr", {0.5}, 0}, KV_END}, 500, 0, 0, 0},
        {"adadelta", {{"lr", {0.1}, 0}, {"eps", {1e-4}, 0}, KV_END}, 1000, 0, 0, 0},
    };
    const double q0[4] = {1, -2, 0.5, 3}, r0[2] = {-1.5, 2};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const conv_case *c = &cases[k];
        for (int dt = 0; dt < 2; dt++) {
            ol_dtype d = dt ? OL_F32 : OL_F64;
            double fq = minimise(c->name, c->o, quad, 4, q0, c->quad_steps, d);
            if (!(fq < (c->quad_tol ? c->quad_tol : 1e-6))) fail_msg("%s #%zu on the quadratic: loss %g", c->name, k, fq);
            if (c->rosen_steps) {
                double fr = minimise(c->name, c->o, rosen, 2, r0, c->rosen_steps, d);
                if (!(fr < c->rosen_tol * (dt ? 100 : 1)))
                    fail_msg("%s #%zu on Rosenbrock (%s): loss %g", c->name, k, dt ? "f32" : "f64", fr);
            }
        }
    }
}

/* Every registered optimizer: defaults pass their own checks, state names
 * are given, mismatched buffers are refused. */
static void test_registry(void **st) {
    (void)st;
    ol_error err;
    int count = 0;
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++, count++) {
        ol_optim opt;
        assert_int_equal(ol_optim_init(&opt, *d, OL_F32, 4, &err), 0);
        assert_int_equal(ol_optim_check_values(*d, opt.o, &err), 0);
        for (int i = 0; i < (*d)->nstate; i++) assert_non_null((*d)->state_names[i]);
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
    assert_true(count >= 7);
    assert_null(ol_optim_find("nope"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_nag_closure),
        cmocka_unit_test(test_nag_plain_grad),
        cmocka_unit_test(test_adaptive_gains),
        cmocka_unit_test(test_rprop),
        cmocka_unit_test(test_rprop_backtracks),
        cmocka_unit_test(test_rmsprop),
        cmocka_unit_test(test_adagrad),
        cmocka_unit_test(test_adadelta),
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_convergence),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
