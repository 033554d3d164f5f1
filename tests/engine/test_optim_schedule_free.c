/* sf_adamw and sf_sgd (engine/optim/schedule_free.c) against the rule of
 * README's table, written out in plain double arithmetic in
 * optim_reference.h (ref_sf_run), not from the engine:
 *
 *   - 20 steps of the 3-element problem of optim_trajectory.h, in f64
 *     (1e-12) and f32 (1e-5), at the defaults and with warm-up, r > 0,
 *     weight decay and an lr lowered mid-run (lr_max keeps the peak);
 *   - the mode switch: after steps 1, 7 and 20 ol_optim_eval sets the
 *     parameters to the reference's average x = y + (1 − 1/β)(z − y),
 *     a second eval changes nothing, a step in eval mode is refused naming
 *     opt:train(), and ol_optim_train brings back y to rounding; before
 *     the first step a switch changes the mode only; reset returns to
 *     train mode; an optimizer without modes ignores both;
 *   - the checkpoint records the mode: export and import keep it, a file
 *     without optim.mode is in train mode, a bad value or "eval" for an
 *     optimizer without modes is refused;
 *   - bad options: warmup_steps negative or not an integer, betas[1] = 0,
 *     momentum 0 or 1, each refused with its message. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "io/checkpoint.h"
#include "optim/optim.h"

#define STEPS 20
#include "optim_trajectory.h"
#include "optim_reference.h"

/* warm-up over 5 steps, linear weighting r = 1, decay, and an lr lowered
 * at step 12 (below lr_max, which then keeps the peak) */
static const kv ADAMW_OPTS[] = {{"lr", {0.05, 0}, 0},      {"betas", {0.8, 0.99}, 0},
                                {"weight_decay", {0.1, 0}, 0}, {"warmup_steps", {5, 0}, 0},
                                {"r", {1, 0}, 0},          {"lr", {0.02, 0}, 12},
                                KV_END};
static const kv SGD_OPTS[] = {{"lr", {0.2, 0}, 0},       {"momentum", {0.7, 0}, 0},
                              {"weight_decay", {0.05, 0}, 0}, {"warmup_steps", {4, 0}, 0},
                              {"r", {0.5, 0}, 0},        {"weight_lr_power", {1, 0}, 0},
                              {"lr", {0.1, 0}, 9},       KV_END};

static void test_rule(void **st) {
    (void)st;
    compare_run("sf_adamw", ref_sf_adamw, NULL, 0);
    compare_run("sf_adamw", ref_sf_adamw, ADAMW_OPTS, 0);
    compare_run("sf_sgd", ref_sf_sgd, NULL, 0);
    compare_run("sf_sgd", ref_sf_sgd, SGD_OPTS, 0);
}

/* ---- the mode switch ---- */

typedef struct one {
    ol_optim opt;
    ol_tensor w, g;
} one;

static void one_init(one *u, const char *name, const kv *o) {
    ol_error err;
    const int64_t shape[1] = {N};
    assert_int_equal(ol_optim_init(&u->opt, ol_optim_find(name), OL_F64, N, &err), 0);
    assert_int_equal(ol_tensor_zeros(&u->w, OL_F64, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&u->g, OL_F64, 1, shape, &err), 0);
    memcpy(ol_tensor_data(&u->w), W0, sizeof W0);
    set_options(&u->opt, o, 0);
}

static double *wd(one *u) { return ol_tensor_data(&u->w); }

/* Step t, as run_engine (optim_trajectory.h) takes it. */
static int one_step(one *u, const kv *o, int t, ol_error *err) {
    if (t > 1) set_options(&u->opt, o, t);
    grad_at(wd(u), t, ol_tensor_data(&u->g));
    return ol_optim_step(&u->opt, &u->w, &u->g, NAN, 0, err);
}

static void one_free(one *u) {
    ol_optim_free(&u->opt);
    ol_tensor_release(&u->w);
    ol_tensor_release(&u->g);
}

static void assert_near3(const char *what, int t, const double *got, const double *want, double tol) {
    for (int i = 0; i < N; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i]))))
            fail_msg("%s after step %d: w[%d] = %.17g, want %.17g", what, t, i, got[i], want[i]);
}

static void check_modes(const char *name, const kv *o, const char *beta_name) {
    double y[STEPS][N], z[STEPS][N];
    ref_sf_run(o, name, y, z);
    one u;
    ol_error err;
    one_init(&u, name, o);
    /* Before the first step there is no z: the mode changes, w does not. */
    assert_string_equal(ol_optim_mode_name(&u.opt), "train");
    assert_int_equal(ol_optim_eval(&u.opt, &u.w, &err), 0);
    assert_string_equal(ol_optim_mode_name(&u.opt), "eval");
    assert_memory_equal(wd(&u), W0, sizeof W0);
    assert_int_equal(ol_optim_train(&u.opt, &u.w, &err), 0);
    assert_memory_equal(wd(&u), W0, sizeof W0);
    for (int t = 1; t <= STEPS; t++) {
        if (one_step(&u, o, t, &err)) fail_msg("step %d: %s", t, err.msg);
        if (t != 1 && t != 7 && t != STEPS) continue;
        const double beta = pget2(o, name, beta_name, t, 0); /* betas[1] or momentum */
        double x[N], before[N], w_eval[N];
        for (int i = 0; i < N; i++) x[i] = y[t - 1][i] + (1 - 1 / beta) * (z[t - 1][i] - y[t - 1][i]);
        memcpy(before, wd(&u), sizeof before);
        assert_int_equal(ol_optim_eval(&u.opt, &u.w, &err), 0);
        assert_near3("eval: the average x", t, wd(&u), x, 1e-12);
        assert_string_equal(ol_optim_mode_name(&u.opt), "eval");
        memcpy(w_eval, wd(&u), sizeof w_eval);
        assert_int_equal(ol_optim_eval(&u.opt, &u.w, &err), 0); /* idempotent */
        assert_memory_equal(wd(&u), w_eval, sizeof w_eval);
        /* a step in eval mode is refused, changing nothing */
        assert_int_equal(one_step(&u, o, t + 1, &err), -1);
        char want[160];
        snprintf(want, sizeof want, "%s is in eval mode (the parameters hold the point to evaluate): "
                 "call opt:train() before the next step", name);
        assert_string_equal(err.msg, want);
        assert_int_equal(u.opt.t, t);
        assert_memory_equal(wd(&u), w_eval, sizeof w_eval);
        assert_int_equal(ol_optim_train(&u.opt, &u.w, &err), 0);
        assert_near3("train: back to y", t, wd(&u), y[t - 1], 1e-13);
        assert_near3("train: back to y (the engine's own)", t, wd(&u), before, 1e-13);
        assert_int_equal(ol_optim_train(&u.opt, &u.w, &err), 0); /* idempotent */
        assert_near3("train twice", t, wd(&u), before, 1e-13);
        /* keep to the uninterrupted trajectory exactly for what follows */
        memcpy(wd(&u), before, sizeof before);
    }
    /* reset in eval mode: train mode again, w left where it is */
    assert_int_equal(ol_optim_eval(&u.opt, &u.w, &err), 0);
    double x[N];
    memcpy(x, wd(&u), sizeof x);
    ol_optim_reset(&u.opt);
    assert_string_equal(ol_optim_mode_name(&u.opt), "train");
    assert_memory_equal(wd(&u), x, sizeof x);
    assert_int_equal(one_step(&u, o, 1, &err), 0);
    one_free(&u);
}

static void test_modes(void **st) {
    (void)st;
    check_modes("sf_adamw", NULL, "betas");
    check_modes("sf_adamw", ADAMW_OPTS, "betas");
    check_modes("sf_sgd", NULL, "momentum");
    check_modes("sf_sgd", SGD_OPTS, "momentum");
}

/* An optimizer without modes: eval and train leave w and the mode alone,
 * and steps go on. */
static void test_no_modes(void **st) {
    (void)st;
    one u;
    ol_error err;
    one_init(&u, "adam", NULL);
    assert_false(ol_optim_has_modes(&u.opt));
    assert_int_equal(one_step(&u, NULL, 1, &err), 0);
    double w[N];
    memcpy(w, wd(&u), sizeof w);
    assert_int_equal(ol_optim_eval(&u.opt, &u.w, &err), 0);
    assert_string_equal(ol_optim_mode_name(&u.opt), "train");
    assert_memory_equal(wd(&u), w, sizeof w);
    assert_int_equal(one_step(&u, NULL, 2, &err), 0);
    assert_int_equal(ol_optim_train(&u.opt, &u.w, &err), 0);
    one_free(&u);
    one_init(&u, "sf_sgd", NULL);
    assert_true(ol_optim_has_modes(&u.opt));
    one_free(&u);
}

/* ---- the mode in a checkpoint ---- */

static void export_to(one *u, ol_checkpoint *ck) {
    ol_error err;
    ol_ck_init(ck);
    if (ol_optim_export(&u->opt, ck, &err)) fail_msg("%s", err.msg);
}

static void test_checkpoint_mode(void **st) {
    (void)st;
    ol_error err;
    one a, b;
    ol_checkpoint ck;
    one_init(&a, "sf_adamw", ADAMW_OPTS);
    for (int t = 1; t <= 3; t++) assert_int_equal(one_step(&a, ADAMW_OPTS, t, &err), 0);
    /* train mode: recorded, and imported */
    export_to(&a, &ck);
    assert_string_equal(ol_ck_get_meta(&ck, "optim.mode"), "train");
    one_init(&b, "sf_adamw", NULL);
    assert_int_equal(ol_optim_eval(&b.opt, &b.w, &err), 0);
    assert_int_equal(ol_optim_import(&b.opt, &ck, &err), 0);
    assert_string_equal(ol_optim_mode_name(&b.opt), "train");
    ol_ck_free(&ck);
    /* eval mode: recorded, and imported into an optimizer in train mode */
    assert_int_equal(ol_optim_eval(&a.opt, &a.w, &err), 0);
    export_to(&a, &ck);
    assert_string_equal(ol_ck_get_meta(&ck, "optim.mode"), "eval");
    assert_int_equal(ol_optim_import(&b.opt, &ck, &err), 0);
    assert_string_equal(ol_optim_mode_name(&b.opt), "eval");
    assert_int_equal(b.opt.t, 3);
    /* a bad value is refused and changes nothing */
    assert_int_equal(ol_ck_set_meta(&ck, "optim.mode", "evaluate", &err), 0);
    assert_int_equal(ol_optim_import(&b.opt, &ck, &err), -1);
    assert_non_null(strstr(err.msg, "metadata 'optim.mode' is not \"train\" or \"eval\""));
    assert_string_equal(ol_optim_mode_name(&b.opt), "eval");
    ol_ck_free(&ck);
    /* a file written before modes existed (no optim.mode) is in train mode:
     * rebuilt here with every key but that one */
    export_to(&a, &ck);
    ol_checkpoint old;
    ol_ck_init(&old);
    for (int i = 0; i < a.opt.desc->nstate; i++) {
        char key[64];
        snprintf(key, sizeof key, "optim.state.%s", a.opt.desc->state_names[i]);
        assert_int_equal(ol_ck_add(&old, key, ol_ck_find(&ck, key), &err), 0);
    }
    const char *keys[] = {"optim.name", "optim.dtype", "optim.t", "optim.options", "optim.scalars"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(ol_ck_set_meta(&old, keys[i], ol_ck_get_meta(&ck, keys[i]), &err), 0);
    assert_int_equal(ol_optim_import(&b.opt, &old, &err), 0);
    assert_string_equal(ol_optim_mode_name(&b.opt), "train");
    ol_ck_free(&old);
    ol_ck_free(&ck);
    one_free(&a);
    one_free(&b);
    /* an optimizer without modes writes no mode and refuses "eval" */
    one_init(&a, "sgd", NULL);
    export_to(&a, &ck);
    assert_null(ol_ck_get_meta(&ck, "optim.mode"));
    assert_int_equal(ol_ck_set_meta(&ck, "optim.mode", "eval", &err), 0);
    assert_int_equal(ol_optim_import(&a.opt, &ck, &err), -1);
    assert_non_null(strstr(err.msg, "metadata 'optim.mode' is \"eval\", but sgd has no modes"));
    ol_ck_free(&ck);
    one_free(&a);
}

/* ---- bad options ---- */

static void refused(const char *optim, const char *k, double v0, double v1, const char *want) {
    ol_optim opt;
    ol_error err;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find(optim), OL_F64, 2, &err), 0);
    const double v[2] = {v0, v1};
    if (ol_optim_set(&opt, k, v, &err) != -1) fail_msg("%s.%s = %g was accepted", optim, k, v0);
    if (strcmp(err.msg, want) != 0) fail_msg("%s.%s = %g: \"%s\", want \"%s\"", optim, k, v0, err.msg, want);
    ol_optim_free(&opt);
}

static void test_bad_options(void **st) {
    (void)st;
    const char *both[2] = {"sf_adamw", "sf_sgd"};
    for (int i = 0; i < 2; i++) {
        refused(both[i], "warmup_steps", -1, 0, "option 'warmup_steps' must be >= 0, got -1");
        refused(both[i], "warmup_steps", 2.5, 0, "option 'warmup_steps' must be an integer, got 2.5");
        refused(both[i], "warmup_steps", INFINITY, 0, "option 'warmup_steps' must be finite, got inf");
        refused(both[i], "r", -0.5, 0, "option 'r' must be >= 0, got -0.5");
    }
    refused("sf_adamw", "betas", 0, 0.999,
            "option 'betas' element 1 must be > 0: the average x = y + (1 - 1/beta1)(z - y) divides by it");
    refused("sf_sgd", "momentum", 0, 0, "option 'momentum' must be in (0, 1), got 0");
    refused("sf_sgd", "momentum", 1, 0, "option 'momentum' must be in (0, 1), got 1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_no_modes),
        cmocka_unit_test(test_checkpoint_mode),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
