/* The Adam family and Lion against their published rules.
 *
 * Each optimizer runs STEPS steps on a 3-element problem whose gradient is
 * g_i = a_i·(w_i − c_i) + 0.3·sin(1.7·t + i) (signs flip now and then), once
 * through the engine (ol_optim) and once through a reference written here in
 * plain double arithmetic from the rule as published: the formulas of
 * torch.optim's documentation for adam, adamw, nadam, radam and adamax
 * (textbook bias-corrected forms such as m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t),
 * the NAdam products Π μ_i recomputed from scratch every step), and the Lion
 * paper's Algorithm 2. Every step is compared in f64 (1e-12) and f32 (1e-5
 * relative). Options may change at a given step, which checks that live
 * fields take effect at the next step. Large eps values (0.1, 0.5) make the
 * placement of eps visible in the trajectories. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "optim/optim.h"

#define STEPS 12
#include "optim_trajectory.h"

/* The options every reference reads, with one optimizer's defaults. */
typedef struct hp {
    double lr, b1, b2, eps, wd, psi;
    int amsgrad, maximize, decoupled;
} hp;
static hp hp_at(const kv *o, hp def, int t) {
    hp h;
    h.lr = get(o, "lr", def.lr, t);
    h.b1 = get2(o, "betas", def.b1, t, 0);
    h.b2 = get2(o, "betas", def.b2, t, 1);
    h.eps = get(o, "eps", def.eps, t);
    h.wd = get(o, "weight_decay", def.wd, t);
    h.psi = get(o, "momentum_decay", def.psi, t);
    h.amsgrad = get(o, "amsgrad", def.amsgrad, t) != 0;
    h.maximize = get(o, "maximize", def.maximize, t) != 0;
    h.decoupled = get(o, "decoupled_weight_decay", def.decoupled, t) != 0;
    return h;
}

static const hp ADAM_DEF = {.lr = 1e-3, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8};
static const hp ADAMW_DEF = {.lr = 1e-3, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .wd = 1e-2};
static const hp NADAM_DEF = {.lr = 2e-3, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .psi = 4e-3};
static const hp RADAM_DEF = {.lr = 1e-3, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8};
static const hp ADAMAX_DEF = {.lr = 2e-3, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8};
static const hp LION_DEF = {.lr = 1e-4, .b1 = 0.9, .b2 = 0.99};

/* ---- references: traj[t-1] = w after step t ---- */

/* torch.optim.Adam / AdamW documentation (decoupled = AdamW). */
static void ref_adam_gen(const kv *o, hp def, int decoupled, double traj[STEPS][N]) {
    double w[N], m[N] = {0}, v[N] = {0}, vmax[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, def, t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            double gi = h.maximize ? -g[i] : g[i];
            if (decoupled) w[i] = w[i] - h.lr * h.wd * w[i];
            else gi = gi + h.wd * w[i];
            m[i] = h.b1 * m[i] + (1 - h.b1) * gi;
            v[i] = h.b2 * v[i] + (1 - h.b2) * gi * gi;
            double mhat = m[i] / (1 - pow(h.b1, t)), vhat;
            if (h.amsgrad) {
                vmax[i] = fmax(vmax[i], v[i]);
                vhat = vmax[i] / (1 - pow(h.b2, t));
            } else {
                vhat = v[i] / (1 - pow(h.b2, t));
            }
            w[i] = w[i] - h.lr * mhat / (sqrt(vhat) + h.eps);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}
static void ref_adam(const kv *o, double traj[STEPS][N]) { ref_adam_gen(o, ADAM_DEF, 0, traj); }
static void ref_adamw(const kv *o, double traj[STEPS][N]) { ref_adam_gen(o, ADAMW_DEF, 1, traj); }

/* torch.optim.NAdam documentation; the products of μ_i are recomputed from
 * i = 1 every step with the options in force now (the engine keeps a
 * running product, which agrees as long as betas and ψ stay fixed). */
static double nadam_mu(hp h, int t) { return h.b1 * (1 - 0.5 * pow(0.96, t * h.psi)); }
static void ref_nadam(const kv *o, double traj[STEPS][N]) {
    double w[N], m[N] = {0}, v[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, NADAM_DEF, t);
        grad_at(w, t, g);
        double prod_t = 1, prod_t1;
        for (int i = 1; i <= t; i++) prod_t *= nadam_mu(h, i);
        prod_t1 = prod_t * nadam_mu(h, t + 1);
        double mu_t = nadam_mu(h, t), mu_t1 = nadam_mu(h, t + 1);
        for (int i = 0; i < N; i++) {
            double gi = h.maximize ? -g[i] : g[i];
            if (h.wd != 0) {
                if (h.decoupled) w[i] = w[i] - h.lr * h.wd * w[i];
                else gi = gi + h.wd * w[i];
            }
            m[i] = h.b1 * m[i] + (1 - h.b1) * gi;
            v[i] = h.b2 * v[i] + (1 - h.b2) * gi * gi;
            double mhat = mu_t1 * m[i] / (1 - prod_t1) + (1 - mu_t) * gi / (1 - prod_t);
            double vhat = v[i] / (1 - pow(h.b2, t));
            w[i] = w[i] - h.lr * mhat / (sqrt(vhat) + h.eps);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* torch.optim.RAdam documentation; counts the steps taken in each branch. */
static int radam_rectified, radam_plain;
static void ref_radam(const kv *o, double traj[STEPS][N]) {
    double w[N], m[N] = {0}, v[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, RADAM_DEF, t);
        grad_at(w, t, g);
        double rho_inf = 2 / (1 - h.b2) - 1;
        double rho_t = rho_inf - 2 * t * pow(h.b2, t) / (1 - pow(h.b2, t));
        if (rho_t > 5) radam_rectified++;
        else radam_plain++;
        for (int i = 0; i < N; i++) {
            double gi = h.maximize ? -g[i] : g[i];
            if (h.wd != 0) {
                if (h.decoupled) w[i] = w[i] - h.lr * h.wd * w[i];
                else gi = gi + h.wd * w[i];
            }
            m[i] = h.b1 * m[i] + (1 - h.b1) * gi;
            v[i] = h.b2 * v[i] + (1 - h.b2) * gi * gi;
            double mhat = m[i] / (1 - pow(h.b1, t));
            if (rho_t > 5) {
                double l = sqrt(1 - pow(h.b2, t)) / (sqrt(v[i]) + h.eps);
                double r = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                                ((rho_inf - 4) * (rho_inf - 2) * rho_t));
                w[i] = w[i] - h.lr * mhat * r * l;
            } else {
                w[i] = w[i] - h.lr * mhat;
            }
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* torch.optim.Adamax documentation. */
static void ref_adamax(const kv *o, double traj[STEPS][N]) {
    double w[N], m[N] = {0}, u[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, ADAMAX_DEF, t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            double gi = h.maximize ? -g[i] : g[i];
            gi = gi + h.wd * w[i];
            m[i] = h.b1 * m[i] + (1 - h.b1) * gi;
            u[i] = fmax(h.b2 * u[i], fabs(gi) + h.eps);
            w[i] = w[i] - h.lr * m[i] / ((1 - pow(h.b1, t)) * u[i]);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* Chen et al. 2023, Algorithm 2 (decoupled weight decay). */
static void ref_lion(const kv *o, double traj[STEPS][N]) {
    double w[N], m[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, LION_DEF, t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            double gi = h.maximize ? -g[i] : g[i];
            double c = h.b1 * m[i] + (1 - h.b1) * gi;
            double s = (c > 0) - (c < 0);
            w[i] = w[i] - h.lr * (s + h.wd * w[i]);
            m[i] = h.b2 * m[i] + (1 - h.b2) * gi;
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* ---- the engine side ---- */

/* ---- the cases: defaults, each option, live changes ---- */

static void test_adam(void **st) {
    (void)st;
    const kv lr[] = {{"lr", {0.05}, 0}, {NULL}};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0}, {NULL}};
    const kv ams[] = {{"lr", {0.05}, 0}, {"amsgrad", {1}, 0}, {"betas", {0.8, 0.9}, 0}, {NULL}};
    const kv all[] = {{"lr", {0.05}, 0},         {"betas", {0.5, 0.7}, 0},
                      {"eps", {0.1}, 0},         {"weight_decay", {0.2}, 0},
                      {"amsgrad", {1}, 0},       {"maximize", {1}, 0},
                      {NULL}};
    const kv live[] = {{"lr", {0.05}, 0}, {"lr", {0.2}, 4}, {"betas", {0.5, 0.9}, 6},
                       {"eps", {0.5}, 8}, {"weight_decay", {0.1}, 9}, {NULL}};
    compare_run("adam", ref_adam, NULL, 0);
    compare_run("adam", ref_adam, lr, 0);
    compare_run("adam", ref_adam, wd, 0);
    compare_run("adam", ref_adam, ams, 0);
    compare_run("adam", ref_adam, all, 0);
    compare_run("adam", ref_adam, live, 0);
    assert_moves(ref_adam, lr);
}

static void test_adamw(void **st) {
    (void)st;
    const kv lr[] = {{"lr", {0.05}, 0}, {NULL}};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.5}, 0}, {"eps", {0.1}, 0}, {NULL}};
    const kv ams[] = {{"lr", {0.05}, 0}, {"amsgrad", {1}, 0}, {"betas", {0.8, 0.9}, 0}, {NULL}};
    const kv maxi[] = {{"lr", {0.05}, 0}, {"maximize", {1}, 0}, {NULL}};
    const kv live[] = {{"lr", {0.05}, 0}, {"weight_decay", {0}, 3}, {"amsgrad", {1}, 5},
                       {"lr", {0.1}, 7}, {NULL}};
    compare_run("adamw", ref_adamw, NULL, 0);
    compare_run("adamw", ref_adamw, lr, 0);
    compare_run("adamw", ref_adamw, wd, 0);
    compare_run("adamw", ref_adamw, ams, 0);
    compare_run("adamw", ref_adamw, maxi, 0);
    compare_run("adamw", ref_adamw, live, 0);
}

/* amsgrad must differ from plain adam on this problem, or its comparison
 * would not test anything. */
static void test_amsgrad_matters(void **st) {
    (void)st;
    const kv plain[] = {{"lr", {0.05}, 0}, {"betas", {0.8, 0.9}, 0}, {NULL}};
    const kv ams[] = {{"lr", {0.05}, 0}, {"betas", {0.8, 0.9}, 0}, {"amsgrad", {1}, 0}, {NULL}};
    double a[STEPS][N], b[STEPS][N];
    ref_adam(plain, a);
    ref_adam(ams, b);
    assert_true(fabs(a[STEPS - 1][1] - b[STEPS - 1][1]) > 1e-4);
}

static void test_nadam(void **st) {
    (void)st;
    const kv lr[] = {{"lr", {0.05}, 0}, {NULL}};
    const kv psi[] = {{"lr", {0.05}, 0}, {"momentum_decay", {0.5}, 0}, {"eps", {0.1}, 0}, {NULL}};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0}, {NULL}};
    const kv dwd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0},
                      {"decoupled_weight_decay", {1}, 0}, {NULL}};
    const kv maxi[] = {{"lr", {0.05}, 0}, {"maximize", {1}, 0}, {"betas", {0.6, 0.8}, 0}, {NULL}};
    const kv live[] = {{"lr", {0.05}, 0}, {"lr", {0.01}, 5}, {"eps", {0.5}, 7}, {NULL}};
    compare_run("nadam", ref_nadam, NULL, 0);
    compare_run("nadam", ref_nadam, lr, 0);
    compare_run("nadam", ref_nadam, psi, 0);
    compare_run("nadam", ref_nadam, wd, 0);
    compare_run("nadam", ref_nadam, dwd, 0);
    compare_run("nadam", ref_nadam, maxi, 0);
    compare_run("nadam", ref_nadam, live, 0);
    assert_moves(ref_nadam, lr);
}

static void test_radam(void **st) {
    (void)st;
    /* β2 = 0.999 crosses ρ_t > 5 after a few steps; β2 = 0.9 almost at once */
    const kv lr[] = {{"lr", {0.05}, 0}, {"eps", {0.1}, 0}, {NULL}};
    const kv b2[] = {{"lr", {0.05}, 0}, {"betas", {0.8, 0.9}, 0}, {NULL}};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0}, {NULL}};
    const kv dwd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0},
                      {"decoupled_weight_decay", {1}, 0}, {NULL}};
    const kv maxi[] = {{"lr", {0.05}, 0}, {"maximize", {1}, 0}, {NULL}};
    const kv live[] = {{"lr", {0.05}, 0}, {"betas", {0.7, 0.99}, 4}, {"lr", {0.2}, 9}, {NULL}};
    radam_rectified = radam_plain = 0;
    compare_run("radam", ref_radam, NULL, 0);
    compare_run("radam", ref_radam, lr, 0);
    compare_run("radam", ref_radam, b2, 0);
    compare_run("radam", ref_radam, wd, 0);
    compare_run("radam", ref_radam, dwd, 0);
    compare_run("radam", ref_radam, maxi, 0);
    compare_run("radam", ref_radam, live, 0);
    assert_true(radam_rectified > 10); /* both branches were compared */
    assert_true(radam_plain > 10);
    assert_moves(ref_radam, lr);
}

static void test_adamax(void **st) {
    (void)st;
    const kv lr[] = {{"lr", {0.05}, 0}, {NULL}};
    const kv eps[] = {{"lr", {0.05}, 0}, {"eps", {0.5}, 0}, {"betas", {0.5, 0.6}, 0}, {NULL}};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0}, {NULL}};
    const kv maxi[] = {{"lr", {0.05}, 0}, {"maximize", {1}, 0}, {NULL}};
    const kv live[] = {{"lr", {0.05}, 0}, {"lr", {0.01}, 3}, {"betas", {0.5, 0.5}, 6}, {NULL}};
    compare_run("adamax", ref_adamax, NULL, 0);
    compare_run("adamax", ref_adamax, lr, 0);
    compare_run("adamax", ref_adamax, eps, 0);
    compare_run("adamax", ref_adamax, wd, 0);
    compare_run("adamax", ref_adamax, maxi, 0);
    compare_run("adamax", ref_adamax, live, 0);
    assert_moves(ref_adamax, lr);
}

static void test_lion(void **st) {
    (void)st;
    const kv lr[] = {{"lr", {0.05}, 0}, {NULL}};
    const kv betas[] = {{"lr", {0.05}, 0}, {"betas", {0.5, 0.8}, 0}, {NULL}};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.5}, 0}, {NULL}};
    const kv maxi[] = {{"lr", {0.05}, 0}, {"maximize", {1}, 0}, {NULL}};
    const kv live[] = {{"lr", {0.05}, 0}, {"lr", {0.01}, 3}, {"weight_decay", {1}, 5}, {NULL}};
    compare_run("lion", ref_lion, NULL, 0);
    compare_run("lion", ref_lion, lr, 0);
    compare_run("lion", ref_lion, betas, 0);
    compare_run("lion", ref_lion, wd, 0);
    compare_run("lion", ref_lion, maxi, 0);
    compare_run("lion", ref_lion, live, 0);
    assert_moves(ref_lion, lr);
}

/* ---- by hand: the first Adam step is lr·sign(g) (m̂ = g, v̂ = g²) ---- */
static void test_by_hand(void **st) {
    (void)st;
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("adam"), OL_F64, 2, &err), 0);
    const double lr[1] = {0.1}, eps[1] = {1e-12};
    assert_int_equal(ol_optim_set(&opt, "lr", lr, &err), 0);
    assert_int_equal(ol_optim_set(&opt, "eps", eps, &err), 0);
    const int64_t shape[1] = {2};
    ol_tensor w, g;
    assert_int_equal(ol_tensor_zeros(&w, OL_F64, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&g, OL_F64, 1, shape, &err), 0);
    double *wd = ol_tensor_data(&w), *gd = ol_tensor_data(&g);
    wd[0] = 1;
    wd[1] = 1;
    gd[0] = 3;
    gd[1] = -0.01;
    assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
    assert_true(fabs(wd[0] - 0.9) < 1e-10);
    assert_true(fabs(wd[1] - 1.1) < 1e-10);
    /* adamax's first step is lr·g/(|g| + eps) too (u = |g| + eps) */
    ol_optim_free(&opt);
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("adamax"), OL_F64, 2, &err), 0);
    const double lr2[1] = {0.2}, eps2[1] = {1};
    assert_int_equal(ol_optim_set(&opt, "lr", lr2, &err), 0);
    assert_int_equal(ol_optim_set(&opt, "eps", eps2, &err), 0);
    const double w0 = wd[0], w1 = wd[1];
    assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
    assert_true(fabs(wd[0] - (w0 - 0.2 * 3 / 4.0)) < 1e-12);
    assert_true(fabs(wd[1] - (w1 + 0.2 * 0.01 / 1.01)) < 1e-12);
    ol_optim_free(&opt);
    ol_tensor_release(&w);
    ol_tensor_release(&g);
}

/* ---- reset clears moments and the NAdam product ---- */
static void test_reset(void **st) {
    (void)st;
    const char *names[] = {"adam", "adamw", "nadam", "radam", "adamax", "lion"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        double first[STEPS][N], again[STEPS][N];
        ol_error err;
        ol_optim opt;
        assert_int_equal(ol_optim_init(&opt, ol_optim_find(names[k]), OL_F64, N, &err), 0);
        const int64_t shape[1] = {N};
        ol_tensor w, g;
        assert_int_equal(ol_tensor_zeros(&w, OL_F64, 1, shape, &err), 0);
        assert_int_equal(ol_tensor_zeros(&g, OL_F64, 1, shape, &err), 0);
        double *wd = ol_tensor_data(&w), *gd = ol_tensor_data(&g);
        for (int run = 0; run < 2; run++) {
            memcpy(wd, W0, sizeof W0);
            for (int t = 1; t <= STEPS; t++) {
                grad_at(wd, t, gd);
                assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
                memcpy(run ? again[t - 1] : first[t - 1], wd, sizeof W0);
            }
            ol_optim_reset(&opt);
            assert_int_equal(opt.t, 0);
        }
        assert_memory_equal(first, again, sizeof first);
        ol_tensor_release(&w);
        ol_tensor_release(&g);
        ol_optim_free(&opt);
    }
}

/* ---- convergence on an ill-conditioned quadratic ---- */
static void test_converges(void **st) {
    (void)st;
    struct {
        const char *name;
        double lr;
    } cases[] = {{"adam", 0.05}, {"adamw", 0.05}, {"nadam", 0.05}, {"radam", 0.05},
                 {"adamax", 0.1}, {"lion", 0.01}};
    enum { D = 4 };
    const double a[D] = {1, 10, 100, 0.1}, c[D] = {1, -2, 0.5, 3};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int dt = 0; dt < 2; dt++) {
            ol_error err;
            ol_optim opt;
            const ol_dtype type = dt ? OL_F32 : OL_F64;
            assert_int_equal(ol_optim_init(&opt, ol_optim_find(cases[k].name), type, D, &err), 0);
            const double zero[1] = {0};
            if (ol_optim_find_option(opt.desc, "weight_decay"))
                assert_int_equal(ol_optim_set(&opt, "weight_decay", zero, &err), 0);
            const int64_t shape[1] = {D};
            ol_tensor w, g;
            assert_int_equal(ol_tensor_zeros(&w, type, 1, shape, &err), 0);
            assert_int_equal(ol_tensor_zeros(&g, type, 1, shape, &err), 0);
            const int steps = 3000;
            for (int t = 1; t <= steps; t++) {
                /* linear decay to 0: lets lion's fixed-size steps settle */
                const double lr[1] = {cases[k].lr * (1 - (t - 1.0) / steps)};
                assert_int_equal(ol_optim_set(&opt, "lr", lr, &err), 0);
                for (int64_t i = 0; i < D; i++)
                    ol_tensor_set(&g, &i, a[i] * (ol_tensor_get(&w, &i) - c[i]));
                assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
            }
            for (int64_t i = 0; i < D; i++)
                if (!(fabs(ol_tensor_get(&w, &i) - c[i]) < 2e-2))
                    fail_msg("%s %s: w[%d] = %g, want %g", cases[k].name, dt ? "f32" : "f64",
                             (int)i, ol_tensor_get(&w, &i), c[i]);
            ol_tensor_release(&w);
            ol_tensor_release(&g);
            ol_optim_free(&opt);
        }
}

/* ---- defaults and bad options ---- */
static void expect_default(const char *name, const char *opt_name, double v0, double v1) {
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find(name), OL_F32, 1, &err), 0);
    const ol_optim_option *op = ol_optim_find_option(opt.desc, opt_name);
    if (!op) fail_msg("%s has no option %s", name, opt_name);
    if (opt.o[op->slot] != v0 || (op->type == OL_OPT_PAIR && opt.o[op->slot + 1] != v1))
        fail_msg("%s.%s defaults to %g, want %g", name, opt_name, opt.o[op->slot], v0);
    ol_optim_free(&opt);
}

static void test_defaults(void **st) {
    (void)st;
    /* torch.optim's documented defaults; lion's from Chen et al. 2023 */
    expect_default("adam", "lr", 1e-3, 0);
    expect_default("adam", "betas", 0.9, 0.999);
    expect_default("adam", "eps", 1e-8, 0);
    expect_default("adam", "weight_decay", 0, 0);
    expect_default("adam", "amsgrad", 0, 0);
    expect_default("adamw", "weight_decay", 1e-2, 0);
    expect_default("adamw", "lr", 1e-3, 0);
    expect_default("nadam", "lr", 2e-3, 0);
    expect_default("nadam", "momentum_decay", 4e-3, 0);
    expect_default("nadam", "betas", 0.9, 0.999);
    expect_default("nadam", "eps", 1e-8, 0);
    expect_default("nadam", "weight_decay", 0, 0);
    expect_default("radam", "lr", 1e-3, 0);
    expect_default("radam", "betas", 0.9, 0.999);
    expect_default("radam", "eps", 1e-8, 0);
    expect_default("adamax", "lr", 2e-3, 0);
    expect_default("adamax", "betas", 0.9, 0.999);
    expect_default("adamax", "eps", 1e-8, 0);
    expect_default("lion", "lr", 1e-4, 0);
    expect_default("lion", "betas", 0.9, 0.99);
    expect_default("lion", "weight_decay", 0, 0);
}

static void expect_bad(const char *name, const char *opt_name, double v0, double v1,
                       const char *want) {
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find(name), OL_F32, 1, &err), 0);
    const double v[2] = {v0, v1};
    assert_int_equal(ol_optim_set(&opt, opt_name, v, &err), -1);
    if (!strstr(err.msg, want)) fail_msg("%s.%s: message '%s' lacks '%s'", name, opt_name, err.msg, want);
    ol_optim_free(&opt);
}

static void test_bad_options(void **st) {
    (void)st;
    const char *names[] = {"adam", "adamw", "nadam", "radam", "adamax", "lion"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        expect_bad(names[k], "lr", -1, 0, "option 'lr' must be >= 0, got -1");
        expect_bad(names[k], "betas", 1, 0.9, "option 'betas' element 1 must be in [0, 1)");
        expect_bad(names[k], "betas", 0.9, 1, "option 'betas' element 2 must be in [0, 1)");
        expect_bad(names[k], "betas", 0.9, -0.1, "option 'betas' element 2");
        expect_bad(names[k], "weight_decay", -0.1, 0, "option 'weight_decay' must be >= 0");
        expect_bad(names[k], "lrr", 1, 0, "unknown option 'lrr'");
    }
    expect_bad("adam", "eps", 0, 0, "option 'eps' must be > 0, got 0");
    expect_bad("nadam", "eps", -1, 0, "option 'eps' must be > 0");
    expect_bad("radam", "eps", 0, 0, "option 'eps' must be > 0");
    expect_bad("adamax", "eps", 0, 0, "option 'eps' must be > 0");
    expect_bad("nadam", "momentum_decay", -1, 0, "option 'momentum_decay' must be >= 0");
    expect_bad("adam", "amsgrad", 2, 0, "option 'amsgrad' must be a boolean");
    expect_bad("lion", "eps", 1, 0, "unknown option 'eps' for lion");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam),       cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_amsgrad_matters), cmocka_unit_test(test_nadam),
        cmocka_unit_test(test_radam),      cmocka_unit_test(test_adamax),
        cmocka_unit_test(test_lion),       cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_reset),      cmocka_unit_test(test_converges),
        cmocka_unit_test(test_defaults),   cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
