/* The adaptive optimizers against the published rules: those that scale
 * each element's step by running statistics of its gradients (rmsprop,
 * with and without its gains, adagrad, adadelta, the Adam family: adam and
 * adamw with and without bias correction, nadam, radam, adamax, adabelief,
 * yogi) and Lion, Adam's sign-based relative.
 *
 * Each optimizer runs STEPS steps on the 3-element problem of
 * optim_trajectory.h, once through the engine and once through the
 * reference of optim_reference.h, over option schedules that switch on each
 * option and change options mid-run (live fields take effect at the next
 * step); every step is compared in f64 (1e-12) and f32 (1e-5 relative).
 * Large eps values (0.1, 0.5) make the placement of eps visible. Then each
 * converges on known minima, and reset starts a run over. The defaults, the
 * options' ranges and a step at the defaults are the registry test's
 * (test_optim_registry.c). */
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
#include "optim_reference.h"
#include "optim_convergence.h"

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

/* rmsprop's gains (API.md §13): alone, with their options, clipped, with
 * momentum (b <- μb + gain·g/r), with nesterov and centered, with weight
 * decay, and switched on mid-run; then the runs must have raised, lowered
 * and clipped gains, and the gains must change the trajectory. */
static void test_rmsprop_gains(void **st) {
    (void)st;
    const kv on = {"gains", {1}, 0};
    const kv cases[][6] = {
        {on, {"lr", {0.02}, 0}, KV_END},
        {on, {"lr", {0.02}, 0}, {"gain_up", {0.3}, 0}, {"gain_down", {0.5}, 0}, KV_END},
        {on, {"lr", {0.02}, 0}, {"gain_up", {0.5}, 0}, {"gain_max", {1.4}, 0}, KV_END},
        {on, {"lr", {0.02}, 0}, {"gain_down", {0.3}, 0}, {"gain_min", {0.6}, 0}, KV_END},
        {on, {"lr", {0.02}, 0}, {"momentum", {0.9}, 0}, {"gain_up", {0.2}, 0}, KV_END},
        {on, {"lr", {0.02}, 0}, {"momentum", {0.9}, 0}, {"nesterov", {1}, 0}, {"centered", {1}, 0},
         KV_END},
        {on, {"lr", {0.02}, 0}, {"weight_decay", {0.3}, 0}, {"momentum", {0.5}, 0}, KV_END},
        {{"lr", {0.02}, 0}, {"gains", {1}, 4}, {"gain_up", {0.4}, 7}, {"gains", {0}, 10}, KV_END},
    };
    memset(ref_gain_moves, 0, sizeof ref_gain_moves);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        compare_run("rmsprop", ref_rmsprop, cases[k], 0);
    for (int i = 0; i < 3; i++) assert_true(ref_gain_moves[i] > 3);
    const kv plain[] = {{"lr", {0.02}, 0}, {"gain_up", {0.3}, 0}, KV_END};
    double a[STEPS][N], b[STEPS][N];
    ref_rmsprop(plain, a);
    ref_rmsprop(cases[1], b);
    assert_true(fabs(a[STEPS - 1][1] - b[STEPS - 1][1]) > 1e-3);
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

static void test_adam(void **st) {
    (void)st;
    const kv lr[] = {{"lr", {0.05}, 0}, KV_END};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0}, KV_END};
    const kv ams[] = {{"lr", {0.05}, 0}, {"amsgrad", {1}, 0}, {"betas", {0.8, 0.9}, 0}, KV_END};
    const kv all[] = {{"lr", {0.05}, 0},   {"betas", {0.5, 0.7}, 0}, {"eps", {0.1}, 0},
                      {"weight_decay", {0.2}, 0}, {"amsgrad", {1}, 0}, {"maximize", {1}, 0},
                      KV_END};
    const kv live[] = {{"lr", {0.05}, 0}, {"lr", {0.2}, 4}, {"betas", {0.5, 0.9}, 6},
                       {"eps", {0.5}, 8}, {"weight_decay", {0.1}, 9}, KV_END};
    compare_run("adam", ref_adam, NULL, 0);
    compare_run("adam", ref_adam, lr, 0);
    compare_run("adam", ref_adam, wd, 0);
    compare_run("adam", ref_adam, ams, 0);
    compare_run("adam", ref_adam, all, 0);
    compare_run("adam", ref_adam, live, 0);
    assert_moves(ref_adam, lr);
}

/* bias_correction = false (API.md §13): m and v as they are, with L2 or
 * decoupled decay, amsgrad, large eps, and switched mid-run; the
 * corrections must matter on this problem. */
static void test_adam_no_bias_correction(void **st) {
    (void)st;
    const kv off = {"bias_correction", {0}, 0};
    const kv cases[][6] = {
        {off, KV_END},
        {off, {"lr", {0.05}, 0}, KV_END},
        {off, {"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0}, {"eps", {0.1}, 0}, KV_END},
        {off, {"lr", {0.05}, 0}, {"amsgrad", {1}, 0}, {"betas", {0.8, 0.9}, 0}, KV_END},
        {off, {"lr", {0.05}, 0}, {"maximize", {1}, 0}, KV_END},
        {{"lr", {0.05}, 0}, {"bias_correction", {0}, 3}, {"bias_correction", {1}, 8}, KV_END},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        compare_run("adam", ref_adam, cases[k], 0);
        compare_run("adamw", ref_adamw, cases[k], 0);
    }
    double a[STEPS][N], b[STEPS][N];
    ref_adam(cases[1] + 1, a);
    ref_adam(cases[1], b);
    assert_true(fabs(a[STEPS - 1][1] - b[STEPS - 1][1]) > 1e-3);
}

static void test_adamw(void **st) {
    (void)st;
    const kv lr[] = {{"lr", {0.05}, 0}, KV_END};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.5}, 0}, {"eps", {0.1}, 0}, KV_END};
    const kv ams[] = {{"lr", {0.05}, 0}, {"amsgrad", {1}, 0}, {"betas", {0.8, 0.9}, 0}, KV_END};
    const kv maxi[] = {{"lr", {0.05}, 0}, {"maximize", {1}, 0}, KV_END};
    const kv live[] = {{"lr", {0.05}, 0}, {"weight_decay", {0}, 3}, {"amsgrad", {1}, 5},
                       {"lr", {0.1}, 7}, KV_END};
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
    const kv plain[] = {{"lr", {0.05}, 0}, {"betas", {0.8, 0.9}, 0}, KV_END};
    const kv ams[] = {{"lr", {0.05}, 0}, {"betas", {0.8, 0.9}, 0}, {"amsgrad", {1}, 0}, KV_END};
    double a[STEPS][N], b[STEPS][N];
    ref_adam(plain, a);
    ref_adam(ams, b);
    assert_true(fabs(a[STEPS - 1][1] - b[STEPS - 1][1]) > 1e-4);
}

static void test_nadam(void **st) {
    (void)st;
    const kv lr[] = {{"lr", {0.05}, 0}, KV_END};
    const kv psi[] = {{"lr", {0.05}, 0}, {"momentum_decay", {0.5}, 0}, {"eps", {0.1}, 0}, KV_END};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0}, KV_END};
    const kv dwd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0},
                      {"decoupled_weight_decay", {1}, 0}, KV_END};
    const kv maxi[] = {{"lr", {0.05}, 0}, {"maximize", {1}, 0}, {"betas", {0.6, 0.8}, 0}, KV_END};
    const kv live[] = {{"lr", {0.05}, 0}, {"lr", {0.01}, 5}, {"eps", {0.5}, 7}, KV_END};
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
    const kv lr[] = {{"lr", {0.05}, 0}, {"eps", {0.1}, 0}, KV_END};
    const kv b2[] = {{"lr", {0.05}, 0}, {"betas", {0.8, 0.9}, 0}, KV_END};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0}, KV_END};
    const kv dwd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0},
                      {"decoupled_weight_decay", {1}, 0}, KV_END};
    const kv maxi[] = {{"lr", {0.05}, 0}, {"maximize", {1}, 0}, KV_END};
    const kv live[] = {{"lr", {0.05}, 0}, {"betas", {0.7, 0.99}, 4}, {"lr", {0.2}, 9}, KV_END};
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
    const kv lr[] = {{"lr", {0.05}, 0}, KV_END};
    const kv eps[] = {{"lr", {0.05}, 0}, {"eps", {0.5}, 0}, {"betas", {0.5, 0.6}, 0}, KV_END};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.3}, 0}, KV_END};
    const kv maxi[] = {{"lr", {0.05}, 0}, {"maximize", {1}, 0}, KV_END};
    const kv live[] = {{"lr", {0.05}, 0}, {"lr", {0.01}, 3}, {"betas", {0.5, 0.5}, 6}, KV_END};
    compare_run("adamax", ref_adamax, NULL, 0);
    compare_run("adamax", ref_adamax, lr, 0);
    compare_run("adamax", ref_adamax, eps, 0);
    compare_run("adamax", ref_adamax, wd, 0);
    compare_run("adamax", ref_adamax, maxi, 0);
    compare_run("adamax", ref_adamax, live, 0);
    assert_moves(ref_adamax, lr);
}

/* adabelief: the options one by one, large eps (it enters s and the
 * denominator), decoupled weight decay, options changed mid-run. */
static void test_adabelief(void **st) {
    (void)st;
    const kv lr[] = {{"lr", {0.05}, 0}, KV_END};
    const kv eps[] = {{"lr", {0.05}, 0}, {"eps", {0.1}, 0}, KV_END};
    const kv betas[] = {{"lr", {0.05}, 0}, {"betas", {0.5, 0.7}, 0}, {"eps", {1e-4}, 0}, KV_END};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.5}, 0}, KV_END};
    const kv live[] = {{"lr", {0.05}, 0}, {"lr", {0.01}, 4}, {"betas", {0.8, 0.9}, 6},
                       {"eps", {0.5}, 8}, {"weight_decay", {1}, 9}, KV_END};
    compare_run("adabelief", ref_adabelief, NULL, 0);
    compare_run("adabelief", ref_adabelief, lr, 0);
    compare_run("adabelief", ref_adabelief, eps, 0);
    compare_run("adabelief", ref_adabelief, betas, 0);
    compare_run("adabelief", ref_adabelief, wd, 0);
    compare_run("adabelief", ref_adabelief, live, 0);
    assert_moves(ref_adabelief, lr);
}

/* yogi: v must both grow (v < g²) and shrink (v > g²) in these runs: a
 * large initial accumulator and a small β2 make it shrink. */
static void test_yogi(void **st) {
    (void)st;
    const kv lr[] = {{"lr", {0.05}, 0}, KV_END};
    const kv b2[] = {{"lr", {0.05}, 0}, {"betas", {0.8, 0.2}, 0}, KV_END};
    const kv acc[] = {{"initial_accumulator_value", {4}, 0}, {"lr", {0.2}, 0}, KV_END};
    const kv eps[] = {{"lr", {0.05}, 0}, {"eps", {0.5}, 0}, {"initial_accumulator_value", {0}, 0},
                      KV_END};
    const kv live[] = {{"lr", {0.05}, 0}, {"lr", {0.1}, 4}, {"betas", {0.5, 0.5}, 6},
                       {"eps", {0.1}, 8}, KV_END};
    memset(ref_yogi_moves, 0, sizeof ref_yogi_moves);
    compare_run("yogi", ref_yogi, NULL, 0);
    compare_run("yogi", ref_yogi, lr, 0);
    compare_run("yogi", ref_yogi, b2, 0);
    compare_run("yogi", ref_yogi, acc, 0);
    compare_run("yogi", ref_yogi, eps, 0);
    compare_run("yogi", ref_yogi, live, 0);
    assert_true(ref_yogi_moves[0] > 10);
    assert_true(ref_yogi_moves[1] > 10);
    assert_moves(ref_yogi, lr);
}

static void test_lion(void **st) {
    (void)st;
    const kv lr[] = {{"lr", {0.05}, 0}, KV_END};
    const kv betas[] = {{"lr", {0.05}, 0}, {"betas", {0.5, 0.8}, 0}, KV_END};
    const kv wd[] = {{"lr", {0.05}, 0}, {"weight_decay", {0.5}, 0}, KV_END};
    const kv maxi[] = {{"lr", {0.05}, 0}, {"maximize", {1}, 0}, KV_END};
    const kv live[] = {{"lr", {0.05}, 0}, {"lr", {0.01}, 3}, {"weight_decay", {1}, 5}, KV_END};
    compare_run("lion", ref_lion, NULL, 0);
    compare_run("lion", ref_lion, lr, 0);
    compare_run("lion", ref_lion, betas, 0);
    compare_run("lion", ref_lion, wd, 0);
    compare_run("lion", ref_lion, maxi, 0);
    compare_run("lion", ref_lion, live, 0);
    assert_moves(ref_lion, lr);
}

/* Reset clears the moments, the accumulators (adagrad's and yogi's start
 * again at initial_accumulator_value, rmsprop's gains at 1) and the NAdam
 * product: a second run after it repeats the first bit for bit. */
static void test_reset(void **st) {
    (void)st;
    const char *names[] = {"rmsprop", "adagrad", "adadelta", "adam",      "adamw", "nadam",
                           "radam",   "adamax",  "lion",     "adabelief", "yogi"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        double first[STEPS][N], again[STEPS][N];
        ol_error err;
        ol_optim opt;
        assert_int_equal(ol_optim_init(&opt, ol_optim_find(names[k]), OL_F64, N, &err), 0);
        if (strcmp(names[k], "adagrad") == 0 || strcmp(names[k], "yogi") == 0) {
            const double acc[1] = {0.5};
            assert_int_equal(ol_optim_set(&opt, "initial_accumulator_value", acc, &err), 0);
        }
        if (strcmp(names[k], "rmsprop") == 0) {
            const double on[1] = {1};
            assert_int_equal(ol_optim_set(&opt, "gains", on, &err), 0);
        }
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

/* rmsprop, adagrad, adadelta on the quadratic and Rosenbrock. */
static void test_converges_known_minima(void **st) {
    (void)st;
    const conv_case cases[] = {
        {"rmsprop", {{"lr", {1e-3}, 0}, KV_END}, 6000, 0, 0, 1e-4},
        {"rmsprop", {{"lr", {1e-3}, 0}, {"momentum", {0.9}, 0}, {"centered", {1}, 0}, KV_END},
         2000, 4000, 1e-3, 1e-4},
        {"adagrad", {{"lr", {0.5}, 0}, KV_END}, 500, 0, 0, 0},
        {"adadelta", {{"lr", {0.1}, 0}, {"eps", {1e-4}, 0}, KV_END}, 1000, 0, 0, 0},
    };
    check_convergence(cases, sizeof cases / sizeof cases[0]);
}

/* The Adam family and lion on an ill-conditioned quadratic, with lr
 * decaying linearly to 0. */
static void test_converges_decaying_lr(void **st) {
    (void)st;
    struct {
        const char *name;
        double lr;
    } cases[] = {{"adam", 0.05},  {"adamw", 0.05},     {"nadam", 0.05}, {"radam", 0.05},
                 {"adamax", 0.1}, {"adabelief", 0.05}, {"yogi", 0.05},  {"lion", 0.01}};
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsprop),       cmocka_unit_test(test_rmsprop_gains),
        cmocka_unit_test(test_adagrad),
        cmocka_unit_test(test_adadelta),      cmocka_unit_test(test_adam),
        cmocka_unit_test(test_adamw),         cmocka_unit_test(test_adam_no_bias_correction),
        cmocka_unit_test(test_amsgrad_matters),
        cmocka_unit_test(test_nadam),         cmocka_unit_test(test_radam),
        cmocka_unit_test(test_adamax),        cmocka_unit_test(test_adabelief),
        cmocka_unit_test(test_yogi),          cmocka_unit_test(test_lion),
        cmocka_unit_test(test_reset),         cmocka_unit_test(test_converges_known_minima),
        cmocka_unit_test(test_converges_decaying_lr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
