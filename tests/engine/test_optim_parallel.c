/* A step cut into parts that run on several threads (engine/optim/optim.c,
 * run_kernel) must be the step taken on one thread, bit for bit, for every
 * first-order optimizer and its scalar state (sgd's first momentum step,
 * nadam's momentum product, irprop+'s last loss), nag's lookahead move
 * and schedule-free's move to the average (ol_optim_eval) too. The
 * one-thread kernels are checked against the published rules in
 * test_optim_sgd_family.c, test_optim_adaptive.c, test_optim_registry.c
 * and test_optim_schedule_free.c; here sgd with momentum and adam are
 * also checked directly against their rules, written out below, at
 * elements of every part, so that a part that skipped its elements or
 * applied another's offset cannot pass by matching itself.
 *
 * Sizes: 8.8 MB of parameters (2.2M f32, 1.1M f64), past the size from
 * which run_kernel cuts every optimizer's step. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "optim/optim.h"
#include "optim_options.h"
#include "core/parallel.h"
#include "core/threads.h"

#define STEPS 4

/* Gradients of both signs that change from step to step (sign flips
 * drive rprop and adaptive_gains), cheap to make for millions. */
static double grad_value(int64_t i, int t) {
    uint64_t h = (uint64_t)i * 2654435761u + (uint64_t)t * 40503u;
    return 1e-5 * (double)((int64_t)(h % 2001) - 1000);
}
static double loss_value(int t) { return t == 3 ? 5.0 : 4.0 - t; } /* rises once: irprop+ backtracks */

typedef struct run {
    ol_optim opt;
    ol_tensor w, g;
} run;

static void run_steps(run *r, const ol_optim_desc *d, ol_dtype dt, int64_t n, int threads,
                      const kv *o) {
    ol_error err;
    ol_set_threads(threads);
    assert_int_equal(ol_optim_init(&r->opt, d, dt, n, &err), 0);
    set_options(&r->opt, o, 0);
    const int64_t shape[1] = {n};
    assert_int_equal(ol_tensor_zeros(&r->w, dt, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&r->g, dt, 1, shape, &err), 0);
    for (int64_t i = 0; i < n; i++) {
        double w0 = 0.5 + 0.25 * cos(0.11 * (double)i);
        if (dt == OL_F32) ((float *)ol_tensor_data(&r->w))[i] = (float)w0;
        else ((double *)ol_tensor_data(&r->w))[i] = w0;
    }
    for (int t = 1; t <= STEPS; t++) {
        if (ol_optim_has_prepare(&r->opt)) assert_int_equal(ol_optim_prepare(&r->opt, &r->w, &err), 0);
        for (int64_t i = 0; i < n; i++) {
            if (dt == OL_F32) ((float *)ol_tensor_data(&r->g))[i] = (float)grad_value(i, t);
            else ((double *)ol_tensor_data(&r->g))[i] = grad_value(i, t);
        }
        assert_int_equal(ol_optim_step(&r->opt, &r->w, &r->g, loss_value(t),
                                       ol_optim_has_prepare(&r->opt), &err), 0);
    }
    ol_set_threads(1);
}

static void run_free(run *r) {
    ol_optim_free(&r->opt);
    ol_tensor_release(&r->w);
    ol_tensor_release(&r->g);
}

static void assert_same_bytes(const ol_tensor *a, const ol_tensor *b, int64_t n, const char *what,
                              const char *name) {
    if (n == 0) return; /* an empty buffer may have no storage */
    size_t es = ol_dtype_size(a->dtype);
    const unsigned char *pa = ol_tensor_data(a), *pb = ol_tensor_data(b);
    if (memcmp(pa, pb, (size_t)n * es) != 0) {
        int64_t i = 0;
        while (memcmp(pa + i * (int64_t)es, pb + i * (int64_t)es, es) == 0) i++;
        fail_msg("%s: %s differs at element %lld of %lld", name, what, (long long)i, (long long)n);
    }
}

static void assert_near(double got, double want, double rel, const char *what, int64_t i) {
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("%s at element %lld: %.17g, want %.17g", what, (long long)i, got, want);
}

typedef struct variant {
    const char *name;
    kv o[4];
} variant;

static const variant variants[] = {
    {"sgd", {{"momentum", {0.9, 0}, 0}, {"nesterov", {1, 0}, 0}, KV_END}},
    {"sgd", {{"momentum", {0.9, 0}, 0}, {"dampening", {0.1, 0}, 0}, {"weight_decay", {1e-3, 0}, 0}, KV_END}},
    {"nag", {KV_END}},
    {"adaptive_gains", {{"momentum", {0.5, 0}, 0}, KV_END}},
    {"rprop", {{"variant", {3, 0}, 0}, KV_END}}, /* irprop+: uses the loss */
    {"rprop", {{"variant", {2, 0}, 0}, KV_END}}, /* rprop+ */
    {"rmsprop", {{"centered", {1, 0}, 0}, {"momentum", {0.9, 0}, 0}, KV_END}},
    {"adagrad", {{"lr_decay", {0.01, 0}, 0}, KV_END}},
    {"adadelta", {KV_END}},
    {"adam", {{"amsgrad", {1, 0}, 0}, KV_END}},
    {"adam", {{"weight_decay", {1e-2, 0}, 0}, KV_END}},
    {"adamw", {KV_END}},
    {"adamax", {KV_END}},
    {"lion", {KV_END}},
    {"nadam", {KV_END}},
    {"radam", {KV_END}},
    {"sf_adamw", {{"warmup_steps", {3, 0}, 0}, {"r", {1, 0}, 0}, {"weight_decay", {1e-2, 0}, 0}, KV_END}},
    {"sf_sgd", {{"lr", {0.1, 0}, 0}, {"warmup_steps", {2, 0}, 0}, {"r", {0.5, 0}, 0}, KV_END}},
};

static void check_variant(const variant *v, ol_dtype dt, int64_t n) {
    const ol_optim_desc *d = ol_optim_find(v->name);
    assert_non_null(d);
    ol_set_threads(2);
    assert_int_equal(ol_parallel_parts(n, 16384), 2); /* the step is cut */
    run one, two;
    run_steps(&one, d, dt, n, 1, v->o);
    run_steps(&two, d, dt, n, 2, v->o);
    assert_same_bytes(&one.w, &two.w, n, "params", v->name);
    for (int s = 0; s < d->nstate; s++) /* a buffer may be compact or empty (desc->state_len) */
        assert_same_bytes(&one.opt.state[s], &two.opt.state[s],
                          ol_optim_state_numel(&one.opt, s), d->state_names[s], v->name);
    for (int s = 0; s < d->nscalars; s++)
        if (one.opt.groups[0].scalars[s] != two.opt.groups[0].scalars[s]) fail_msg("%s: scalar %d differs", v->name, s);
    assert_int_equal(one.opt.t, STEPS);
    assert_int_equal(two.opt.t, STEPS);
    if (ol_optim_has_modes(&one.opt)) { /* the switch to the average, cut as a step */
        ol_error err;
        ol_set_threads(1);
        assert_int_equal(ol_optim_eval(&one.opt, &one.w, &err), 0);
        ol_set_threads(2);
        assert_int_equal(ol_optim_eval(&two.opt, &two.w, &err), 0);
        ol_set_threads(1);
        assert_same_bytes(&one.w, &two.w, n, "params in eval mode", v->name);
    }
    run_free(&one);
    run_free(&two);
}

static void test_same_as_one_thread_f32(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof variants / sizeof variants[0]; k++)
        check_variant(&variants[k], OL_F32, 2200000);
}

static void test_same_as_one_thread_f64(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof variants / sizeof variants[0]; k++)
        check_variant(&variants[k], OL_F64, 1100000);
}

/* The rules themselves at elements of both parts and at the cut, in f64:
 *   sgd (momentum μ, first step b = g):  b <- μ b + g,  w <- w − lr b
 *   adam:  m <- β1 m + (1 − β1) g,  v <- β2 v + (1 − β2) g²,
 *          w <- w − lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps) */
static void test_rules_in_every_part(void **state) {
    (void)state;
    const int64_t n = 1100000;
    const int64_t probe[] = {0, 1, 549999, 550000, 550015, 550016, 550079, 550080, 1099999};
    const kv sgd_o[] = {{"lr", {0.1, 0}, 0}, {"momentum", {0.9, 0}, 0}, KV_END};
    run r;
    run_steps(&r, ol_optim_find("sgd"), OL_F64, n, 2, sgd_o);
    for (size_t k = 0; k < sizeof probe / sizeof probe[0]; k++) {
        int64_t i = probe[k];
        double w = 0.5 + 0.25 * cos(0.11 * (double)i), b = 0;
        for (int t = 1; t <= STEPS; t++) {
            double g = grad_value(i, t);
            b = t == 1 ? g : 0.9 * b + g;
            w -= 0.1 * b;
        }
        assert_near(((double *)ol_tensor_data(&r.w))[i], w, 1e-15, "sgd w", i);
        assert_near(((double *)ol_tensor_data(&r.opt.state[0]))[i], b, 1e-14, "sgd momentum_buffer", i);
    }
    run_free(&r);
    const kv adam_o[] = {{"lr", {0.01, 0}, 0}, KV_END};
    run_steps(&r, ol_optim_find("adam"), OL_F64, n, 2, adam_o);
    for (size_t k = 0; k < sizeof probe / sizeof probe[0]; k++) {
        int64_t i = probe[k];
        double w = 0.5 + 0.25 * cos(0.11 * (double)i), m = 0, v = 0;
        for (int t = 1; t <= STEPS; t++) {
            double g = grad_value(i, t);
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            w -= 0.01 / (1 - pow(0.9, t)) * m / (sqrt(v) / sqrt(1 - pow(0.999, t)) + 1e-8);
        }
        assert_near(((double *)ol_tensor_data(&r.w))[i], w, 1e-12, "adam w", i);
    }
    run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_one_thread_f32),
        cmocka_unit_test(test_same_as_one_thread_f64),
        cmocka_unit_test(test_rules_in_every_part),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ol_parallel_shutdown();
    return rc;
}
