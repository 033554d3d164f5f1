/* The SGD family against the published rules: sgd, nag, adaptive_gains and
 * rprop, the optimizers that step along the gradient (or its sign) without
 * dividing by a running second moment.
 *
 * Each optimizer runs STEPS steps on the 3-element problem of
 * optim_trajectory.h, once through the engine and once through the
 * reference of optim_reference.h, over option schedules that switch on each
 * option and change options mid-run (live fields take effect at the next
 * step); every step is compared in f64 (1e-12) and f32 (1e-5 relative).
 * Then each converges on a quadratic and on Rosenbrock's function. The
 * defaults, the options' ranges and a step at the defaults are the registry
 * test's (test_optim_registry.c). */
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
#include "optim_reference.h"
#include "optim_convergence.h"

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

/* Every variant without the loss (irprop+ then acts as irprop-) and with it. */
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
    ref_backtracks = 0;
    const kv plus[] = {{"variant", {2}, 0}, {"lr", {0.5}, 0}, KV_END};
    ref_rprop(plus, traj);
    assert_true(ref_backtracks > 0);
    ref_backtracks = 0;
    const kv iplus[] = {{"variant", {3}, 0}, {"lr", {0.5}, 0}, KV_END};
    ref_knows_loss = 1;
    ref_rprop(iplus, traj);
    assert_true(ref_backtracks > 0);
}

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
    };
    check_convergence(cases, sizeof cases / sizeof cases[0]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_nag_closure),
        cmocka_unit_test(test_nag_plain_grad),
        cmocka_unit_test(test_adaptive_gains),
        cmocka_unit_test(test_rprop),
        cmocka_unit_test(test_rprop_backtracks),
        cmocka_unit_test(test_convergence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
