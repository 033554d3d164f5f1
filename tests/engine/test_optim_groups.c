/* Parameter tensors and groups (engine/optim/params.c, optim.c, io.c):
 * each group's options step exactly its tensors, each group keeps its own
 * scalar state, and what sets them refuses bad input changing nothing.
 *
 * Every stepped value is compared with the published rule written out
 * below in plain double loops, element by element (torch.optim.SGD with
 * momentum and dampening, torch.optim.AdamW), never with another run of
 * the engine; only the thread test compares the engine with itself, bit
 * for bit, and checks the rule at the cuts as well.
 *
 *   test_two_groups          sgd and adamw, two groups of different lr and
 *                            weight_decay (sgd: momentum and dampening
 *                            too) over three tensors and a gap; f32, f64
 *   test_scalars_per_group   sgd's first momentum step (the buffer a copy
 *                            of the gradient, not dampened) in every range
 *                            of every group, with group 1 in two ranges
 *   test_set_params_refused  overlap, outside, bad group, bad vector, after
 *                            a step: refused, nothing changed
 *   test_group_set_field     one group, every group, a failure in group 2
 *   test_muon_vectors        a vector in a use = "muon" group: refused by
 *                            set_params, by a later use, and by the step
 *   test_checkpoint_groups   3 groups round-trip; other groups or tensors
 *                            refused; a one-group file
 *   test_closure_groups      lbfgs refuses groups that differ and tensors
 *                            that leave elements out
 *   test_threads             a fused step over two groups, cut on 2
 *                            threads, is the 1-thread step bit for bit */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/parallel.h"
#include "core/threads.h"
#include "io/checkpoint.h"
#include "optim/optim.h"
#include "optim/second.h"

/* ---- helpers ---- */

static void gset(ol_optim *opt, int g, const char *name, double v0, double v1) {
    ol_error err;
    ol_optim_field f;
    const double v[2] = {v0, v1};
    if (ol_optim_find_field(opt->desc, name, &f, &err) ||
        ol_optim_group_set_field(opt, g, f, v, &err))
        fail_msg("%s group %d %s: %s", opt->desc->name, g + 1, name, err.msg);
}

/* Expects group_set_field to refuse with a message containing want. */
static void gset_refused(ol_optim *opt, int g, const char *name, double v0, const char *want) {
    ol_error err;
    ol_optim_field f;
    const double v[2] = {v0, 0};
    assert_int_equal(ol_optim_find_field(opt->desc, name, &f, &err), 0);
    if (ol_optim_group_set_field(opt, g, f, v, &err) == 0)
        fail_msg("%s group %d %s = %g accepted; want \"%s\"", opt->desc->name, g + 1, name, v0,
                 want);
    if (!strstr(err.msg, want)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
}

static double gval(const ol_optim *opt, int g, const char *name, int elem) {
    const ol_optim_option *op = ol_optim_find_option(opt->desc, name);
    assert_non_null(op);
    return opt->groups[g].o[op->slot + elem];
}

static double w0_at(int64_t i) { return 0.5 + 0.25 * cos(0.3 * (double)i); }
static double g_at(int64_t i, int t) { return sin(0.7 * (double)i + 1.3 * t) + 0.2; }

static void tensor_fill(ol_tensor *x, int64_t n, double (*f)(int64_t, int), int t) {
    for (int64_t i = 0; i < n; i++) {
        const double v = f ? f(i, t) : w0_at(i);
        if (x->dtype == OL_F32) ((float *)ol_tensor_data(x))[i] = (float)v;
        else ((double *)ol_tensor_data(x))[i] = v;
    }
}

static double at(const ol_tensor *x, int64_t i) {
    return x->dtype == OL_F32 ? (double)((const float *)ol_tensor_data(x))[i]
                              : ((const double *)ol_tensor_data(x))[i];
}

static void vec(ol_tensor *x, ol_dtype dt, int64_t n) {
    ol_error err;
    const int64_t shape[1] = {n};
    assert_int_equal(ol_tensor_zeros(x, dt, 1, shape, &err), 0);
}

/* ---- the published rules, one element at a time ---- */

/* One group's options as the rules read them. */
typedef struct rule {
    double lr, wd;
    double momentum, dampening; /* sgd */
    int nesterov;
    double b1, b2, eps;         /* adamw */
} rule;

/* Element i after `steps` steps of sgd or adamw under r, from w0_at(i)
 * with gradients g_at(i, t); *buf gets sgd's momentum buffer (adamw: m). */
static double ref_elem(const char *name, const rule *r, int64_t i, int steps, double *buf) {
    double w = w0_at(i), b = 0, m = 0, v = 0;
    for (int t = 1; t <= steps; t++) {
        const double g = g_at(i, t);
        if (strcmp(name, "sgd") == 0) {
            /* torch.optim.SGD: d = g + wd·w; b = d at the first step, else
             * μ·b + (1 − dampening)·d; d = d + μ·b (nesterov) or b */
            double d = g + r->wd * w;
            if (r->momentum != 0) {
                b = t == 1 ? d : r->momentum * b + (1 - r->dampening) * d;
                d = r->nesterov ? d + r->momentum * b : b;
            }
            w -= r->lr * d;
        } else {
            /* torch.optim.AdamW */
            w -= r->lr * r->wd * w;
            m = r->b1 * m + (1 - r->b1) * g;
            v = r->b2 * v + (1 - r->b2) * g * g;
            const double mhat = m / (1 - pow(r->b1, t)), vhat = v / (1 - pow(r->b2, t));
            w -= r->lr * mhat / (sqrt(vhat) + r->eps);
        }
    }
    *buf = strcmp(name, "sgd") == 0 ? b : m;
    return w;
}

/* The engine's options of each group from r. */
static void apply_rule(ol_optim *opt, int g, const rule *r) {
    gset(opt, g, "lr", r->lr, 0);
    gset(opt, g, "weight_decay", r->wd, 0);
    if (strcmp(opt->desc->name, "sgd") == 0) {
        gset(opt, g, "momentum", r->momentum, 0);
        gset(opt, g, "dampening", r->dampening, 0);
        gset(opt, g, "nesterov", r->nesterov, 0);
    } else {
        gset(opt, g, "betas", r->b1, r->b2);
        gset(opt, g, "eps", r->eps, 0);
    }
}

static void run_steps(ol_optim *opt, ol_tensor *w, ol_tensor *g, int64_t n, int steps) {
    ol_error err;
    tensor_fill(w, n, NULL, 0);
    for (int t = 1; t <= steps; t++) {
        tensor_fill(g, n, g_at, t);
        if (ol_optim_step(opt, w, g, NAN, 0, &err)) fail_msg("step %d: %s", t, err.msg);
    }
}

static int near(double got, double want, ol_dtype dt) {
    return fabs(got - want) <= (dt == OL_F32 ? 2e-6 : 1e-13) * (1 + fabs(want));
}

/* ---- two groups, different lr and weight_decay ---- */

/* 30 elements: group 1 at [0, 8) and [20, 30), group 2 a 2x4 matrix at
 * [12, 20), no tensor over [8, 12). */
#define N1 30
static const ol_optim_param LAYOUT1[3] = {
    {.offset = 20, .rows = 1, .cols = 10, .group = 0}, /* unsorted on purpose */
    {.offset = 0, .rows = 1, .cols = 8, .group = 0},
    {.offset = 12, .rows = 2, .cols = 4, .matrix = 1, .group = 1},
};
static int group_of1(int64_t i) { return i < 8 ? 0 : i < 12 ? -1 : i < 20 ? 1 : 0; }

static void two_groups(const char *name, ol_dtype dt) {
    const rule r[2] = {
        {.lr = 0.1, .wd = 0.01, .momentum = 0.9, .dampening = 0.3, .b1 = 0.9, .b2 = 0.999,
         .eps = 1e-8},
        {.lr = 0.03, .wd = 0.2, .momentum = 0.5, .dampening = 0.3, .b1 = 0.8, .b2 = 0.99,
         .eps = 1e-6},
    };
    enum { STEPS = 3 };
    ol_error err;
    ol_optim opt;
    ol_tensor w, g;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find(name), dt, N1, &err), 0);
    if (ol_optim_set_params(&opt, LAYOUT1, 3, 2, &err)) fail_msg("%s", err.msg);
    assert_int_equal(opt.nranges, 3);
    for (int k = 0; k < 2; k++) apply_rule(&opt, k, &r[k]);
    vec(&w, dt, N1);
    vec(&g, dt, N1);
    run_steps(&opt, &w, &g, N1, STEPS);
    for (int64_t i = 0; i < N1; i++) {
        const int k = group_of1(i);
        if (k < 0) { /* in no tensor: untouched, bit for bit, state zero */
            const double w0 = dt == OL_F32 ? (double)(float)w0_at(i) : w0_at(i);
            if (at(&w, i) != w0) fail_msg("%s: w[%lld] outside every tensor moved", name, (long long)i);
            for (int s = 0; s < opt.desc->nstate; s++) assert_true(at(&opt.state[s], i) == 0);
            continue;
        }
        double buf, other;
        const double want = ref_elem(name, &r[k], i, STEPS, &buf);
        if (!near(at(&w, i), want, dt))
            fail_msg("%s %s: w[%lld] (group %d) = %.17g, want %.17g", name, ol_dtype_name(dt),
                     (long long)i, k + 1, at(&w, i), want);
        if (!near(at(&opt.state[0], i), buf, dt))
            fail_msg("%s %s: %s[%lld] = %.17g, want %.17g", name, ol_dtype_name(dt),
                     opt.desc->state_names[0], (long long)i, at(&opt.state[0], i), buf);
        /* the control: the other group's options give another value */
        const double wrong = ref_elem(name, &r[1 - k], i, STEPS, &other);
        assert_false(near(wrong, want, dt));
    }
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
}

static void test_two_groups(void **state) {
    (void)state;
    two_groups("sgd", OL_F64);
    two_groups("sgd", OL_F32);
    two_groups("adamw", OL_F64);
    two_groups("adamw", OL_F32);
}

/* ---- scalar state per group ---- */

/* sgd keeps "buffer started" as scalar state: at the first step the
 * buffer is a copy of d (torch: buf = clone(d)), afterwards μ·b + (1 −
 * dampening)·d. Group 1 lies at [0, 4) and [10, 14), group 2 at [4, 10):
 * each range of each group must take its first step as a first step, and
 * again after a reset. */
static void scalars_per_group(ol_dtype dt) {
    enum { N = 14, STEPS = 3 };
    const ol_optim_param p[3] = {{.offset = 0, .rows = 1, .cols = 4, .group = 0},
                                 {.offset = 4, .rows = 1, .cols = 6, .group = 1},
                                 {.offset = 10, .rows = 1, .cols = 4, .group = 0}};
    const rule r[2] = {{.lr = 0.1, .momentum = 0.9, .dampening = 0.5},
                       {.lr = 0.2, .momentum = 0.6, .dampening = 0.25}};
    ol_error err;
    ol_optim opt;
    ol_tensor w, g;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("sgd"), dt, N, &err), 0);
    assert_int_equal(ol_optim_set_params(&opt, p, 3, 2, &err), 0);
    assert_int_equal(opt.nranges, 3);
    for (int k = 0; k < 2; k++) apply_rule(&opt, k, &r[k]);
    vec(&w, dt, N);
    vec(&g, dt, N);
    for (int pass = 0; pass < 2; pass++) { /* the second after a reset */
        if (pass) ol_optim_reset(&opt);
        tensor_fill(&w, N, NULL, 0);
        for (int t = 1; t <= STEPS; t++) {
            tensor_fill(&g, N, g_at, t);
            assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), 0);
            for (int64_t i = 0; i < N; i++) {
                const int k = i >= 4 && i < 10;
                double buf;
                const double want = ref_elem("sgd", &r[k], i, t, &buf);
                /* the first buffer is the gradient itself, bit for bit */
                if (t == 1 && at(&opt.state[0], i) != at(&g, i))
                    fail_msg("%s pass %d: momentum_buffer[%lld] (group %d) = %.17g after the "
                             "first step, not the gradient %.17g", ol_dtype_name(dt), pass + 1,
                             (long long)i, k + 1, at(&opt.state[0], i), at(&g, i));
                if (!near(at(&opt.state[0], i), buf, dt) || !near(at(&w, i), want, dt))
                    fail_msg("%s pass %d step %d: element %lld (group %d): w %.17g buf %.17g, "
                             "want %.17g and %.17g", ol_dtype_name(dt), pass + 1, t,
                             (long long)i, k + 1, at(&w, i), at(&opt.state[0], i), want, buf);
            }
        }
    }
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
}

static void test_scalars_per_group(void **state) {
    (void)state;
    scalars_per_group(OL_F64);
    scalars_per_group(OL_F32);
}

/* ---- refusals leave the optimizer as it was ---- */

typedef struct snap {
    int nparams, ngroups, nranges;
    ol_optim_param params[8];
    ol_optim_group groups[4];
    int64_t t, state_n;
    const void *state_data;
} snap;

static void take(const ol_optim *opt, snap *s) {
    memset(s, 0, sizeof *s);
    assert_true(opt->nparams <= 8 && opt->ngroups <= 4);
    s->nparams = opt->nparams;
    s->ngroups = opt->ngroups;
    s->nranges = opt->nranges;
    memcpy(s->params, opt->params, sizeof(ol_optim_param) * (size_t)opt->nparams);
    for (int k = 0; k < opt->ngroups; k++) {
        memcpy(s->groups[k].o, opt->groups[k].o, sizeof s->groups[k].o);
        memcpy(s->groups[k].scalars, opt->groups[k].scalars, sizeof s->groups[k].scalars);
    }
    s->t = opt->t;
    s->state_n = ol_optim_state_numel(opt, 0);
    s->state_data = ol_tensor_data(&opt->state[0]);
}

static void assert_unchanged(const ol_optim *opt, const snap *before) {
    snap now;
    take(opt, &now);
    assert_memory_equal(&now, before, sizeof now);
}

static void set_params_refused(ol_optim *opt, const ol_optim_param *p, int np, int ngroups,
                               const char *want) {
    ol_error err;
    snap before;
    take(opt, &before);
    if (ol_optim_set_params(opt, p, np, ngroups, &err) == 0) fail_msg("accepted; want \"%s\"", want);
    if (!strstr(err.msg, want)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
    assert_unchanged(opt, &before);
}

static const ol_optim_param LAYOUT2[3] = {{.offset = 0, .rows = 1, .cols = 5, .group = 0},
                                          {.offset = 5, .rows = 1, .cols = 5, .group = 1},
                                          {.offset = 12, .rows = 2, .cols = 4, .matrix = 1}};

static void test_set_params_refused(void **state) {
    (void)state;
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("sgd"), OL_F64, 20, &err), 0);
    assert_int_equal(ol_optim_set_params(&opt, LAYOUT2, 3, 2, &err), 0);
    gset(&opt, 1, "lr", 0.5, 0);
    const ol_optim_param overlap[2] = {{.offset = 0, .rows = 1, .cols = 6},
                                       {.offset = 5, .rows = 1, .cols = 5, .group = 1}};
    set_params_refused(&opt, overlap, 2, 2, "parameters at offsets 0 and 5 overlap");
    const ol_optim_param outside[1] = {{.offset = 15, .rows = 2, .cols = 3, .matrix = 1}};
    set_params_refused(&opt, outside, 1, 1, "parameter 2x3 at offset 15 does not fit in 20 elements");
    const ol_optim_param negative[1] = {{.offset = -1, .rows = 1, .cols = 3}};
    set_params_refused(&opt, negative, 1, 1, "does not fit in 20 elements");
    const ol_optim_param bad_group[2] = {{.offset = 0, .rows = 1, .cols = 5},
                                         {.offset = 5, .rows = 1, .cols = 5, .group = 2}};
    set_params_refused(&opt, bad_group, 2, 2, "parameter at offset 5 is in group 3 of 2");
    const ol_optim_param neg_group[1] = {{.offset = 0, .rows = 1, .cols = 5, .group = -1}};
    set_params_refused(&opt, neg_group, 1, 2, "parameter at offset 0 is in group 0 of 2");
    const ol_optim_param tall[1] = {{.offset = 0, .rows = 2, .cols = 5}};
    set_params_refused(&opt, tall, 1, 1, "parameter at offset 0: a vector has rows = 1");
    set_params_refused(&opt, LAYOUT2, 3, 0, "3 parameters in 0 groups");
    set_params_refused(&opt, LAYOUT2, -1, 1, "-1 parameters in 1 groups");
    /* after a step */
    ol_tensor w, g;
    vec(&w, OL_F64, 20);
    vec(&g, OL_F64, 20);
    run_steps(&opt, &w, &g, 20, 1);
    set_params_refused(&opt, LAYOUT2, 3, 2,
                       "the parameters of sgd are set before its first step (it has taken 1)");
    /* the same layout is taken after a reset, and new groups start with
     * group 1's options */
    ol_optim_reset(&opt);
    gset(&opt, 0, "momentum", 0.7, 0);
    assert_int_equal(ol_optim_set_params(&opt, LAYOUT2, 3, 3, &err), 0);
    assert_int_equal(opt.ngroups, 3);
    assert_true(gval(&opt, 2, "momentum", 0) == 0.7);
    assert_true(gval(&opt, 1, "lr", 0) == 0.5); /* group 2 kept its own */
    assert_true(gval(&opt, 2, "lr", 0) == gval(&opt, 0, "lr", 0));
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
}

static void test_group_set_field(void **state) {
    (void)state;
    ol_error err;
    ol_optim opt;
    snap before, after;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("sgd"), OL_F64, 20, &err), 0);
    assert_int_equal(ol_optim_set_params(&opt, LAYOUT2, 3, 2, &err), 0);
    const ol_optim_option *lr = ol_optim_find_option(opt.desc, "lr");
    const ol_optim_option *wd = ol_optim_find_option(opt.desc, "weight_decay");
    /* one group: only its lr changes */
    take(&opt, &before);
    gset(&opt, 0, "lr", 0.25, 0);
    take(&opt, &after);
    assert_true(gval(&opt, 0, "lr", 0) == 0.25);
    before.groups[0].o[lr->slot] = 0.25;
    assert_memory_equal(&after, &before, sizeof after);
    assert_int_equal(ol_optim_groups_agree(&opt, lr), 0);
    assert_int_equal(ol_optim_groups_agree(&opt, wd), 1);
    /* every group */
    gset(&opt, -1, "weight_decay", 0.125, 0);
    assert_true(gval(&opt, 0, "weight_decay", 0) == 0.125 && gval(&opt, 1, "weight_decay", 0) == 0.125);
    assert_true(gval(&opt, 0, "lr", 0) == 0.25 && gval(&opt, 1, "lr", 0) == 1e-3);
    /* ol_optim_set is every group too */
    const double half[1] = {0.5};
    assert_int_equal(ol_optim_set(&opt, "lr", half, &err), 0);
    assert_true(gval(&opt, 0, "lr", 0) == 0.5 && gval(&opt, 1, "lr", 0) == 0.5);
    assert_int_equal(ol_optim_groups_agree(&opt, lr), 1);
    /* nesterov needs momentum > 0: group 1 has it, group 2 not; setting it
     * in every group fails in group 2, named, and group 1 keeps its value */
    gset(&opt, 0, "momentum", 0.9, 0);
    take(&opt, &before);
    gset_refused(&opt, -1, "nesterov", 1,
                 "group 2: option 'nesterov' needs momentum > 0 and dampening = 0");
    assert_unchanged(&opt, &before);
    gset(&opt, 0, "nesterov", 1, 0); /* group 1 alone takes it */
    assert_true(gval(&opt, 0, "nesterov", 0) == 1 && gval(&opt, 1, "nesterov", 0) == 0);
    /* a range error in one group, and groups that do not exist */
    take(&opt, &before);
    gset_refused(&opt, 1, "lr", -1, "group 2: option 'lr' must be >= 0, got -1");
    gset_refused(&opt, 2, "lr", 0.1, "sgd has 2 groups, not 3");
    gset_refused(&opt, -2, "lr", 0.1, "sgd has 2 groups");
    assert_unchanged(&opt, &before);
    ol_optim_free(&opt);
}

/* ---- muon: a vector in a use = "muon" group ---- */

static void test_muon_vectors(void **state) {
    (void)state;
    enum { N = 15 };
    ol_error err;
    ol_optim opt;
    snap before;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("muon"), OL_F64, N, &err), 0);
    const ol_optim_param one_group[2] = {{.offset = 0, .rows = 3, .cols = 4, .matrix = 1},
                                         {.offset = 12, .rows = 1, .cols = 3}};
    set_params_refused(&opt, one_group, 2, 1,
                       "the parameter at offset 12 (3 elements) is not a matrix");
    /* the matrix in a muon group, the vector in an adamw group (group 2
     * starts with group 1's options, so adamw first) */
    const ol_optim_param two[2] = {{.offset = 0, .rows = 3, .cols = 4, .matrix = 1},
                                   {.offset = 12, .rows = 1, .cols = 3, .group = 1}};
    set_params_refused(&opt, two, 2, 2, "the parameter at offset 12 (3 elements) is not a matrix");
    gset(&opt, -1, "use", 1, 0);
    assert_int_equal(ol_optim_set_params(&opt, two, 2, 2, &err), 0);
    gset(&opt, 0, "use", 0, 0);
    /* a later use = "muon" for the vector's group */
    take(&opt, &before);
    gset_refused(&opt, 1, "use", 0, "group 2: the parameter at offset 12 (3 elements) is not a matrix");
    gset_refused(&opt, -1, "use", 0, "group 2: the parameter at offset 12");
    assert_unchanged(&opt, &before);
    /* at the step: options that came in another way (a checkpoint whose
     * group 2 is a muon group) */
    ol_tensor w, g;
    vec(&w, OL_F64, N);
    vec(&g, OL_F64, N);
    run_steps(&opt, &w, &g, N, 1);
    ol_checkpoint ck;
    ol_ck_init(&ck);
    assert_int_equal(ol_optim_export(&opt, &ck, &err), 0);
    const char *groups = ol_ck_get_meta(&ck, "optim.groups");
    assert_non_null(groups);
    char edited[1024];
    const char *use = strstr(groups, "\"use\":\"adamw\"");
    assert_non_null(use);
    snprintf(edited, sizeof edited, "%.*s\"use\":\"muon\"%s", (int)(use - groups), groups,
             use + strlen("\"use\":\"adamw\""));
    assert_int_equal(ol_ck_set_meta(&ck, "optim.groups", edited, &err), 0);
    if (ol_optim_import(&opt, &ck, &err) == 0) {
        assert_true(gval(&opt, 1, "use", 0) == 0);
        double wb[N];
        for (int64_t i = 0; i < N; i++) wb[i] = at(&w, i);
        take(&opt, &before);
        tensor_fill(&g, N, g_at, 2);
        assert_int_equal(ol_optim_step(&opt, &w, &g, NAN, 0, &err), -1);
        if (!strstr(err.msg, "the parameter at offset 12 (3 elements) is not a matrix"))
            fail_msg("%s", err.msg);
        assert_unchanged(&opt, &before);
        for (int64_t i = 0; i < N; i++) assert_true(at(&w, i) == wb[i]);
    } else if (!strstr(err.msg, "not a matrix")) {
        fail_msg("import refused for another reason: %s", err.msg);
    }
    ol_ck_free(&ck);
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
}

/* ---- checkpoints with groups ---- */

/* nadam keeps a scalar (the momentum product) that follows each group's
 * betas and momentum_decay, so the three groups' scalars differ. */
#define N3 26
static const ol_optim_param LAYOUT3[4] = {
    {.offset = 0, .rows = 1, .cols = 6, .group = 0},
    {.offset = 6, .rows = 2, .cols = 3, .matrix = 1, .group = 1},
    {.offset = 12, .rows = 1, .cols = 4, .group = 2},
    {.offset = 18, .rows = 1, .cols = 8, .group = 0}, /* [16, 18) in no tensor */
};

static void make3(ol_optim *opt, const ol_optim_param *p, int np, int ngroups, int with_options) {
    ol_error err;
    assert_int_equal(ol_optim_init(opt, ol_optim_find("nadam"), OL_F64, N3, &err), 0);
    if (ol_optim_set_params(opt, p, np, ngroups, &err)) fail_msg("%s", err.msg);
    if (!with_options) return;
    gset(opt, 0, "lr", 0.01, 0);
    if (ngroups > 1) {
        gset(opt, 1, "betas", 0.8, 0.95);
        gset(opt, 1, "weight_decay", 0.1, 0);
    }
    if (ngroups > 2) {
        gset(opt, 2, "momentum_decay", 0.02, 0);
        gset(opt, 2, "decoupled_weight_decay", 1, 0);
        gset(opt, 2, "eps", 1e-3, 0);
    }
}

static void assert_same_state(const ol_optim *a, const ol_optim *b) {
    assert_int_equal(a->t, b->t);
    assert_int_equal(a->ngroups, b->ngroups);
    for (int k = 0; k < a->ngroups; k++) {
        assert_memory_equal(a->groups[k].o, b->groups[k].o, sizeof a->groups[k].o);
        assert_memory_equal(a->groups[k].scalars, b->groups[k].scalars, sizeof a->groups[k].scalars);
    }
    for (int s = 0; s < a->desc->nstate; s++) {
        assert_int_equal(ol_optim_state_numel(a, s), ol_optim_state_numel(b, s));
        assert_memory_equal(ol_tensor_data(&a->state[s]), ol_tensor_data(&b->state[s]),
                            (size_t)ol_optim_state_numel(a, s) * sizeof(double));
    }
}

static void import_refused(ol_optim *opt, const ol_checkpoint *ck, const char *want) {
    ol_error err;
    snap before;
    double state1[N3];
    take(opt, &before);
    memcpy(state1, ol_tensor_data(&opt->state[1]), sizeof state1);
    if (ol_optim_import(opt, ck, &err) == 0) fail_msg("accepted; want \"%s\"", want);
    if (!strstr(err.msg, want)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
    assert_unchanged(opt, &before);
    assert_memory_equal(state1, ol_tensor_data(&opt->state[1]), sizeof state1);
}

static void test_checkpoint_groups(void **state) {
    (void)state;
    ol_error err;
    ol_optim opt, back;
    ol_tensor w, g;
    ol_checkpoint ck;
    vec(&w, OL_F64, N3);
    vec(&g, OL_F64, N3);
    make3(&opt, LAYOUT3, 4, 3, 1);
    run_steps(&opt, &w, &g, N3, 3);
    /* the three groups' scalars differ (the test would not see a mix-up) */
    assert_true(opt.groups[0].scalars[0] != opt.groups[1].scalars[0] &&
                opt.groups[1].scalars[0] != opt.groups[2].scalars[0] &&
                opt.groups[0].scalars[0] != opt.groups[2].scalars[0]);
    ol_ck_init(&ck);
    assert_int_equal(ol_optim_export(&opt, &ck, &err), 0);
    assert_non_null(ol_ck_get_meta(&ck, "optim.groups"));
    assert_non_null(ol_ck_get_meta(&ck, "optim.params"));
    /* into the same tensors and groups at the defaults */
    make3(&back, LAYOUT3, 4, 3, 0);
    if (ol_optim_import(&back, &ck, &err)) fail_msg("import: %s", err.msg);
    assert_same_state(&opt, &back);
    ol_optim_free(&back);

    /* another group count, other tensors: refused, nothing changed */
    const ol_optim_param two_groups[4] = {LAYOUT3[0], LAYOUT3[1],
                                          {.offset = 12, .rows = 1, .cols = 4, .group = 1},
                                          LAYOUT3[3]};
    make3(&back, two_groups, 4, 2, 1);
    run_steps(&back, &w, &g, N3, 1);
    import_refused(&back, &ck, "holds an optimizer with 3 parameter groups, this one has 2");
    ol_optim_free(&back);
    ol_optim_param moved[4];
    memcpy(moved, LAYOUT3, sizeof moved);
    moved[3].offset = 19;
    moved[3].cols = 7;
    make3(&back, moved, 4, 3, 1);
    run_steps(&back, &w, &g, N3, 1);
    import_refused(&back, &ck, "tensor 4 (1x8 at 18, group 1) is not this one's (1x7 at 19, group 1)");
    ol_optim_free(&back);
    make3(&back, LAYOUT3, 3, 3, 1); /* one tensor fewer */
    run_steps(&back, &w, &g, N3, 1);
    import_refused(&back, &ck, "holds an optimizer over 4 parameter tensors, this one has 3");
    ol_optim_free(&back);
    ol_ck_free(&ck);
    ol_optim_free(&opt);

    /* one group: no optim.groups; it imports into a one-group optimizer */
    const ol_optim_param one[2] = {LAYOUT3[0], {.offset = 6, .rows = 2, .cols = 3, .matrix = 1}};
    make3(&opt, one, 2, 1, 1);
    run_steps(&opt, &w, &g, N3, 2);
    ol_ck_init(&ck);
    assert_int_equal(ol_optim_export(&opt, &ck, &err), 0);
    assert_null(ol_ck_get_meta(&ck, "optim.groups"));
    make3(&back, one, 2, 1, 0);
    if (ol_optim_import(&back, &ck, &err)) fail_msg("import: %s", err.msg);
    assert_same_state(&opt, &back);
    ol_optim_free(&back);
    make3(&back, LAYOUT3, 4, 3, 1); /* but not into three groups */
    run_steps(&back, &w, &g, N3, 1);
    import_refused(&back, &ck, "holds an optimizer with 1 parameter groups, this one has 3");
    ol_optim_free(&back);
    ol_ck_free(&ck);
    ol_optim_free(&opt);
    ol_tensor_release(&w);
    ol_tensor_release(&g);
}

/* ---- closure methods ---- */

/* f(w) = ½ wᵀQw − bᵀw, Q = [[3, 1], [1, 2]], b = (1, −1). */
static int q_fg(void *ud, const double *w, double *loss, double *g, ol_error *err) {
    (void)ud;
    (void)err;
    g[0] = 3 * w[0] + w[1] - 1;
    g[1] = w[0] + 2 * w[1] + 1;
    *loss = 0.5 * (3 * w[0] * w[0] + 2 * w[0] * w[1] + 2 * w[1] * w[1]) - w[0] + w[1];
    return 0;
}

static void closure_refused(ol_optim *opt, const char *want) {
    ol_error err;
    ol_closure f = {.n = 2, .fg = q_fg};
    double w[2] = {2, 1.5}, loss = 0;
    if (ol_optim_closure_step(opt, w, &f, &loss, &err) == 0) fail_msg("accepted; want \"%s\"", want);
    if (!strstr(err.msg, want)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
    assert_true(w[0] == 2 && w[1] == 1.5);
    assert_int_equal(opt->t, 0);
}

static void test_closure_groups(void **state) {
    (void)state;
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("lbfgs"), OL_F64, 2, &err), 0);
    const ol_optim_param two[2] = {{.offset = 0, .rows = 1, .cols = 1, .group = 0},
                                   {.offset = 1, .rows = 1, .cols = 1, .group = 1}};
    assert_int_equal(ol_optim_set_params(&opt, two, 2, 2, &err), 0);
    gset(&opt, 1, "lr", 0.5, 0);
    closure_refused(&opt, "lbfgs steps all its parameters as one vector: option 'lr' must be the "
                          "same in every group");
    gset(&opt, 1, "lr", 1, 0);
    gset(&opt, 0, "line_search", 1, 0);
    closure_refused(&opt, "option 'line_search' must be the same in every group");
    gset(&opt, 1, "line_search", 1, 0);
    /* agreeing groups: one step of lbfgs with the strong Wolfe search on a
     * 2-D quadratic ends at the minimum (0.6, −0.8) */
    ol_closure f = {.n = 2, .fg = q_fg};
    double w[2] = {2, 1.5}, loss;
    assert_int_equal(ol_optim_closure_step(&opt, w, &f, &loss, &err), 0);
    assert_int_equal(opt.t, 1);
    if (!(fabs(w[0] - 0.6) < 1e-6 && fabs(w[1] + 0.8) < 1e-6))
        fail_msg("lbfgs ended at (%g, %g), want (0.6, -0.8)", w[0], w[1]);
    ol_optim_free(&opt);
    /* a tensor over element 1 only */
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("lbfgs"), OL_F64, 2, &err), 0);
    assert_int_equal(ol_optim_set_params(&opt, two + 1, 1, 2, &err), 0);
    closure_refused(&opt, "lbfgs steps all its parameters as one vector: 1 of the 2 are in no group");
    ol_optim_free(&opt);
}

/* ---- threads ---- */

/* Two groups over three ranges, each long enough to be cut in two on 2
 * threads, and a gap. */
#define MP OL_OPTIM_MIN_PART
#define NT (6 * MP + 100)
static const ol_optim_param LAYOUT_T[3] = {
    {.offset = 0, .rows = 1, .cols = 2 * MP + 50, .group = 0},
    {.offset = 2 * MP + 50, .rows = 1, .cols = 2 * MP + 10, .group = 1},
    {.offset = 4 * MP + 70, .rows = 1, .cols = 2 * MP + 30, .group = 0}, /* 10 in no tensor */
};

typedef struct trun {
    ol_optim opt;
    ol_tensor w, g;
} trun;

static void trun_steps(trun *r, const char *name, ol_dtype dt, int threads, const rule *rules) {
    ol_error err;
    ol_set_threads(threads);
    assert_int_equal(ol_optim_init(&r->opt, ol_optim_find(name), dt, NT, &err), 0);
    assert_int_equal(ol_optim_set_params(&r->opt, LAYOUT_T, 3, 2, &err), 0);
    for (int k = 0; k < 2; k++) apply_rule(&r->opt, k, &rules[k]);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ol_parallel_parts(LAYOUT_T[i].cols, MP), threads); /* cut in `threads` */
    vec(&r->w, dt, NT);
    vec(&r->g, dt, NT);
    run_steps(&r->opt, &r->w, &r->g, NT, 3);
    ol_set_threads(1);
}

static void trun_free(trun *r) {
    ol_optim_free(&r->opt);
    ol_tensor_release(&r->w);
    ol_tensor_release(&r->g);
}

static void threads_case(const char *name, ol_dtype dt) {
    const rule r[2] = {
        {.lr = 0.05, .wd = 0.01, .momentum = 0.9, .dampening = 0.2, .b1 = 0.9, .b2 = 0.999,
         .eps = 1e-8},
        {.lr = 0.02, .wd = 0.1, .momentum = 0.6, .dampening = 0.2, .b1 = 0.85, .b2 = 0.99,
         .eps = 1e-6},
    };
    trun one, two;
    trun_steps(&one, name, dt, 1, r);
    trun_steps(&two, name, dt, 2, r);
    const size_t es = ol_dtype_size(dt);
    if (memcmp(ol_tensor_data(&one.w), ol_tensor_data(&two.w), NT * es) != 0)
        fail_msg("%s %s: params differ between 1 and 2 threads", name, ol_dtype_name(dt));
    for (int s = 0; s < one.opt.desc->nstate; s++)
        if (memcmp(ol_tensor_data(&one.opt.state[s]), ol_tensor_data(&two.opt.state[s]), NT * es))
            fail_msg("%s %s: state %s differs", name, ol_dtype_name(dt), one.opt.desc->state_names[s]);
    for (int k = 0; k < 2; k++)
        assert_memory_equal(one.opt.groups[k].scalars, two.opt.groups[k].scalars,
                            sizeof one.opt.groups[k].scalars);
    /* and the rule, at each range's ends and cut and in the gap */
    const int64_t probe[] = {0, MP + 24, MP + 25, 2 * MP + 49, 2 * MP + 50, 3 * MP + 30,
                             4 * MP + 59, 4 * MP + 60, 4 * MP + 69, 4 * MP + 70, 5 * MP + 85,
                             NT - 1};
    for (size_t q = 0; q < sizeof probe / sizeof probe[0]; q++) {
        const int64_t i = probe[q];
        const int k = i < 2 * MP + 50 ? 0 : i < 4 * MP + 60 ? 1 : i < 4 * MP + 70 ? -1 : 0;
        double buf;
        const double want = k < 0 ? (dt == OL_F32 ? (double)(float)w0_at(i) : w0_at(i))
                                  : ref_elem(name, &r[k], i, 3, &buf);
        if (k < 0 ? at(&two.w, i) != want : !near(at(&two.w, i), want, dt))
            fail_msg("%s %s: w[%lld] (group %d) = %.17g, want %.17g", name, ol_dtype_name(dt),
                     (long long)i, k + 1, at(&two.w, i), want);
    }
    trun_free(&one);
    trun_free(&two);
}

static void test_threads(void **state) {
    (void)state;
    threads_case("sgd", OL_F32);
    threads_case("sgd", OL_F64);
    threads_case("adamw", OL_F32);
    threads_case("adamw", OL_F64);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_groups),         cmocka_unit_test(test_scalars_per_group),
        cmocka_unit_test(test_set_params_refused), cmocka_unit_test(test_group_set_field),
        cmocka_unit_test(test_muon_vectors),       cmocka_unit_test(test_checkpoint_groups),
        cmocka_unit_test(test_closure_groups),     cmocka_unit_test(test_threads),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ol_parallel_shutdown();
    return rc;
}
