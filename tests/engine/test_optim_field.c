/* Option fields (ol_optim_find_field, ol_optim_set_field): a name resolved
 * once to an option and an element, then stores through it that are
 * checked as ol_optim_set checks them: the element's range (the message
 * naming the element), the rules between options, nothing changed on a
 * refusal. The expected values are the ones written here. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "optim/optim.h"

static ol_optim make(const char *name) {
    ol_optim opt;
    ol_error err;
    if (ol_optim_init(&opt, ol_optim_find(name), OL_F64, 4, &err)) fail_msg("%s", err.msg);
    return opt;
}

static double value(const ol_optim *opt, const char *name, int elem) {
    const ol_optim_option *op = ol_optim_find_option(opt->desc, name);
    assert_non_null(op);
    return opt->groups[0].o[op->slot + elem];
}

static void test_find(void **state) {
    (void)state;
    const ol_optim_desc *adam = ol_optim_find("adam");
    ol_optim_field f;
    ol_error err;
    assert_int_equal(ol_optim_find_field(adam, "lr", &f, &err), 0);
    assert_ptr_equal(f.option, ol_optim_find_option(adam, "lr"));
    assert_int_equal(f.elem, 0);
    assert_int_equal(ol_optim_find_field(adam, "betas", &f, &err), 0);
    assert_ptr_equal(f.option, ol_optim_find_option(adam, "betas"));
    assert_int_equal(f.elem, 0);
    assert_int_equal(ol_optim_find_field(adam, "betas[1]", &f, &err), 0);
    assert_ptr_equal(f.option, ol_optim_find_option(adam, "betas"));
    assert_int_equal(f.elem, 1);
    assert_int_equal(ol_optim_find_field(adam, "betas[2]", &f, &err), 0);
    assert_int_equal(f.elem, 2);
    /* rprop's step_sizes: a pair whose name shares a prefix with no other */
    const ol_optim_desc *rprop = ol_optim_find("rprop");
    assert_int_equal(ol_optim_find_field(rprop, "step_sizes[2]", &f, &err), 0);
    assert_ptr_equal(f.option, ol_optim_find_option(rprop, "step_sizes"));
    assert_int_equal(f.elem, 2);

    static const char *const bad[] = {"betas[3]", "betas[0]", "lr[1]",   "betas[",  "betas[1",
                                      "betas[1]]", "betas[12]", "[1]",   "",        "bet[1]",
                                      "betasx[1]", "betas [1]", "lrr",   "betas[-1]", "amsgrad[1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f.option = NULL;
        if (ol_optim_find_field(adam, bad[i], &f, &err) == 0) fail_msg("'%s' was accepted", bad[i]);
        char want[96];
        snprintf(want, sizeof want, "unknown option '%s' for adam", bad[i]);
        assert_string_equal(err.msg, want);
        assert_null(f.option);
    }
}

static void test_set_elements(void **state) {
    (void)state;
    ol_optim opt = make("adam");
    ol_optim_field f;
    ol_error err;
    assert_int_equal(ol_optim_find_field(opt.desc, "betas[2]", &f, &err), 0);
    const double v = 0.95;
    assert_int_equal(ol_optim_set_field(&opt, f, &v, &err), 0);
    assert_true(value(&opt, "betas", 0) == 0.9);
    assert_true(value(&opt, "betas", 1) == 0.95);
    assert_int_equal(ol_optim_find_field(opt.desc, "betas[1]", &f, &err), 0);
    const double one = 1.0;
    assert_int_equal(ol_optim_set_field(&opt, f, &one, &err), -1);
    assert_string_equal(err.msg, "option 'betas' element 1 must be in [0, 1), got 1");
    assert_true(value(&opt, "betas", 0) == 0.9);
    const double nan = NAN;
    assert_int_equal(ol_optim_set_field(&opt, f, &nan, &err), -1);
    assert_string_equal(err.msg, "option 'betas' element 1 must be in [0, 1), got nan");
    const double half = 0.5;
    assert_int_equal(ol_optim_set_field(&opt, f, &half, &err), 0);
    assert_true(value(&opt, "betas", 0) == 0.5);
    assert_true(value(&opt, "betas", 1) == 0.95);
    /* the whole pair */
    assert_int_equal(ol_optim_find_field(opt.desc, "betas", &f, &err), 0);
    const double pair[2] = {0.8, 0.99};
    assert_int_equal(ol_optim_set_field(&opt, f, pair, &err), 0);
    assert_true(value(&opt, "betas", 0) == 0.8 && value(&opt, "betas", 1) == 0.99);
    const double badpair[2] = {0.1, -0.5};
    assert_int_equal(ol_optim_set_field(&opt, f, badpair, &err), -1);
    assert_string_equal(err.msg, "option 'betas' element 2 must be in [0, 1), got -0.5");
    assert_true(value(&opt, "betas", 0) == 0.8 && value(&opt, "betas", 1) == 0.99);
    /* a number, a boolean */
    assert_int_equal(ol_optim_find_field(opt.desc, "lr", &f, &err), 0);
    const double lr = 0.125, neg = -1;
    assert_int_equal(ol_optim_set_field(&opt, f, &lr, &err), 0);
    assert_true(value(&opt, "lr", 0) == 0.125);
    assert_int_equal(ol_optim_set_field(&opt, f, &neg, &err), -1);
    assert_string_equal(err.msg, "option 'lr' must be >= 0, got -1");
    assert_true(value(&opt, "lr", 0) == 0.125);
    assert_int_equal(ol_optim_find_field(opt.desc, "amsgrad", &f, &err), 0);
    const double two = 2;
    assert_int_equal(ol_optim_set_field(&opt, f, &two, &err), -1);
    assert_string_equal(err.msg, "option 'amsgrad' must be a boolean");
    assert_int_equal(ol_optim_set_field(&opt, f, &one, &err), 0);
    assert_true(value(&opt, "amsgrad", 0) == 1);
    ol_optim_free(&opt);
}

/* The rules between options see the element being set with the rest. */
static void test_rules(void **state) {
    (void)state;
    ol_optim opt = make("rprop");
    ol_optim_field f;
    ol_error err;
    assert_int_equal(ol_optim_find_field(opt.desc, "etas[1]", &f, &err), 0);
    const double bad = 1.5, good = 0.25;
    assert_int_equal(ol_optim_set_field(&opt, f, &bad, &err), -1);
    assert_string_equal(err.msg,
                        "option 'etas' must satisfy 0 < eta_minus < 1 < eta_plus, got {1.5, 1.2}");
    assert_true(value(&opt, "etas", 0) == 0.5);
    assert_int_equal(ol_optim_set_field(&opt, f, &good, &err), 0);
    assert_true(value(&opt, "etas", 0) == 0.25 && value(&opt, "etas", 1) == 1.2);
    assert_int_equal(ol_optim_find_field(opt.desc, "step_sizes[1]", &f, &err), 0);
    const double big = 60;
    assert_int_equal(ol_optim_set_field(&opt, f, &big, &err), -1);
    assert_string_equal(err.msg, "option 'step_sizes' must satisfy min <= max, got {60, 50}");
    assert_true(value(&opt, "step_sizes", 0) == 1e-6);
    /* an enum by its index */
    assert_int_equal(ol_optim_find_field(opt.desc, "variant", &f, &err), 0);
    const double plus = 3, none = 4;
    assert_int_equal(ol_optim_set_field(&opt, f, &plus, &err), 0);
    assert_true(value(&opt, "variant", 0) == 3);
    assert_int_equal(ol_optim_set_field(&opt, f, &none, &err), -1);
    assert_string_equal(err.msg, "option 'variant' has no choice 4");
    assert_true(value(&opt, "variant", 0) == 3);
    ol_optim_free(&opt);
}

/* ol_optim_set by name is the same store. */
static void test_set_by_name(void **state) {
    (void)state;
    ol_optim opt = make("sgd");
    ol_error err;
    const double m = 0.75;
    assert_int_equal(ol_optim_set(&opt, "momentum", &m, &err), 0);
    assert_true(value(&opt, "momentum", 0) == 0.75);
    assert_int_equal(ol_optim_set(&opt, "momentum[1]", &m, &err), -1);
    assert_string_equal(err.msg, "unknown option 'momentum[1]' for sgd");
    ol_optim_free(&opt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_set_elements),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_set_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
