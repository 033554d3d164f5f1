/* An optimizer saved and restored by the engine alone (ol_optim_export,
 * ol_optim_import, ol_ck_put_rng/get_rng, engine/io/checkpoint.h's files), as
 * a C program that trains would do it.
 *
 * The model is a linear map y = W·x + b (W 3x5, b 3) fitted by mean squared
 * error to a fixed set of 16 samples; each step draws a batch of 4 samples
 * from the global RNG, so a resumed run needs the RNG as well as the
 * weights and the optimizer. A run takes K steps, saves to a file, goes on
 * for N steps (the reference); fresh objects then load the file and take
 * the same N steps: the weights, state, step count and options must come
 * out the same bit for bit, for adam, sgd with nesterov momentum (W and
 * b in two groups of different lr), rprop, muon (its matrix W by
 * Newton-Schulz in a muon group, b by AdamW in an adamw group), adamw
 * without bias correction, rmsprop with gains and momentum, adabelief and
 * yogi, in f32 and f64. Controls show the comparison can fail: a resume that skips
 * the optimizer, or the RNG, ends elsewhere.
 *
 * Then what a file may get wrong: another optimizer, another dtype, state
 * of another length, a short or non-finite state tensor, a missing one,
 * options unknown or out of range, a bad step count, the wrong number of
 * scalars. Each is refused with a message that says so, and the target
 * optimizer is left as it was. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/checkpoint.h"
#include "optim/optim.h"
#include "core/rng.h"

#define IN 5
#define OUT 3
#define NP (OUT * IN + OUT) /* W row-major, then b */
#define NS 16               /* samples */
#define BATCH 4
#define K 6                 /* steps before the save */
#define N 9                 /* steps after it */

static double X[NS][IN], Y[NS][OUT];
static char path[64];

static int setup(void **state) {
    (void)state;
    snprintf(path, sizeof path, "/tmp/ol_optim_ck_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    close(fd);
    ol_rng_seed(123);
    for (int s = 0; s < NS; s++) {
        for (int i = 0; i < IN; i++) X[s][i] = ol_rng_normal();
        for (int o = 0; o < OUT; o++) Y[s][o] = ol_rng_normal();
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(path);
    return 0;
}

/* ---- the model ---- */

static double get(const ol_tensor *t, int64_t i) { return ol_tensor_get(t, &i); }
static void set(ol_tensor *t, int64_t i, double v) { ol_tensor_set(t, &i, v); }

/* The gradient of the mean squared error over a batch drawn from the RNG. */
static void batch_grad(const ol_tensor *w, ol_tensor *g) {
    double gw[NP] = {0};
    for (int k = 0; k < BATCH; k++) {
        const int s = (int)ol_rng_below(NS);
        for (int o = 0; o < OUT; o++) {
            double r = get(w, OUT * IN + o) - Y[s][o];
            for (int i = 0; i < IN; i++) r += get(w, o * IN + i) * X[s][i];
            for (int i = 0; i < IN; i++) gw[o * IN + i] += r * X[s][i] / BATCH;
            gw[OUT * IN + o] += r / BATCH;
        }
    }
    for (int e = 0; e < NP; e++) set(g, e, gw[e]);
}

static void train(ol_optim *opt, ol_tensor *w, int steps) {
    ol_error err;
    ol_tensor g;
    const int64_t shape[1] = {NP};
    assert_int_equal(ol_tensor_zeros(&g, w->dtype, 1, shape, &err), 0);
    for (int t = 0; t < steps; t++) {
        batch_grad(w, &g);
        if (ol_optim_step(opt, w, &g, NAN, 0, &err)) fail_msg("step: %s", err.msg);
    }
    ol_tensor_release(&g);
}

/* ---- one case: an optimizer with the options of a run ---- */

/* split: W (a matrix) in group 1 and b (a vector) in group 2, with use =
 * "adamw" in group 2 where the optimizer has that option; else the one
 * vector over the buffer that ol_optim_init makes. keys: every group;
 * keys2: group 2 after them. */
typedef struct opt_case {
    const char *name;
    const char *keys[4];
    double values[4][2];
    int split;
    const char *keys2[2];
    double values2[2][2];
} opt_case;

static const opt_case CASES[] = {
    {"adam", {"lr", "betas", "amsgrad"}, {{0.05}, {0.8, 0.99}, {1}}, 0, {NULL}, {{0}}},
    {"sgd", {"lr", "momentum", "nesterov", "weight_decay"}, {{0.03}, {0.9}, {1}, {1e-3}}, 1,
     {"lr"}, {{0.01}}},
    {"rprop", {"lr", "etas", "variant"}, {{0.02}, {0.4, 1.3}, {2}}, 0, {NULL}, {{0}}}, /* rprop+ */
    {"muon", {"lr", "momentum"}, {{0.04}, {0.9}}, 1, {"lr"}, {{0.02}}},
    {"adamw", {"lr", "bias_correction", "amsgrad"}, {{0.02}, {0}, {1}}, 0, {NULL}, {{0}}},
    {"rmsprop", {"lr", "gains", "momentum", "gain_up"}, {{0.01}, {1}, {0.9}, {0.2}}, 0, {NULL},
     {{0}}},
    {"adabelief", {"lr", "betas", "weight_decay", "eps"}, {{0.02}, {0.8, 0.99}, {0.1}, {1e-8}}, 0,
     {NULL}, {{0}}},
    {"yogi", {"lr", "initial_accumulator_value"}, {{0.05}, {0.5}}, 0, {NULL}, {{0}}},
};

static void group_set(ol_optim *opt, int g, const char *name, const double *v) {
    ol_error err;
    ol_optim_field f;
    if (ol_optim_find_field(opt->desc, name, &f, &err) ||
        ol_optim_group_set_field(opt, g, f, v, &err))
        fail_msg("%s, group %d, %s: %s", opt->desc->name, g + 1, name, err.msg);
}

/* An optimizer for NP parameters; with_options: the case's options, else
 * the defaults (a fresh object that the restore must set). */
static void make(ol_optim *opt, const opt_case *c, ol_dtype dt, int64_t n, int with_options) {
    ol_error err;
    const ol_optim_desc *d = ol_optim_find(c->name);
    assert_non_null(d);
    assert_int_equal(ol_optim_init(opt, d, dt, n, &err), 0);
    if (c->split) {
        const ol_optim_param p[2] = {{.offset = 0, .rows = OUT, .cols = IN, .matrix = 1},
                                     {.offset = OUT * IN, .rows = 1, .cols = OUT, .group = 1}};
        const int use = ol_optim_find_option(d, "use") != NULL;
        const double muon[1] = {0}, adamw[1] = {1};
        if (use) group_set(opt, -1, "use", adamw); /* group 2 starts with group 1's */
        if (ol_optim_set_params(opt, p, 2, 2, &err)) fail_msg("%s: %s", c->name, err.msg);
        if (use) group_set(opt, 0, "use", muon);
    }
    for (int k = 0; with_options && k < 4 && c->keys[k]; k++)
        if (ol_optim_set(opt, c->keys[k], c->values[k], &err)) fail_msg("%s: %s", c->name, err.msg);
    for (int k = 0; with_options && k < 2 && c->keys2[k]; k++)
        group_set(opt, 1, c->keys2[k], c->values2[k]);
}

static void make_weights(ol_tensor *w, ol_dtype dt) {
    ol_error err;
    const int64_t shape[1] = {NP};
    assert_int_equal(ol_tensor_zeros(w, dt, 1, shape, &err), 0);
    for (int e = 0; e < NP; e++) set(w, e, 0.5 * ol_rng_normal());
}

/* The model, optimizer and RNG into the file at path. */
static void save(const ol_optim *opt, const ol_tensor *w) {
    ol_checkpoint ck;
    ol_error err;
    ol_rng_state rs;
    ol_ck_init(&ck);
    ol_rng_get_state(&rs);
    if (ol_ck_add(&ck, "w", w, &err) || ol_optim_export(opt, &ck, &err) ||
        ol_ck_put_rng(&ck, &rs, &err) || ol_ck_save(&ck, path, &err))
        fail_msg("save: %s", err.msg);
    ol_ck_free(&ck);
}

static int same_bytes(const ol_tensor *a, const ol_tensor *b) {
    return a->dtype == b->dtype && ol_tensor_numel(a) == ol_tensor_numel(b) &&
           memcmp(ol_tensor_data(a), ol_tensor_data(b),
                  (size_t)ol_tensor_numel(a) * ol_dtype_size(a->dtype)) == 0;
}

/* What a resume restores. */
enum { RESTORE_ALL, SKIP_OPTIMIZER, SKIP_RNG };

/* Fresh weights and optimizer from the file, then N steps. */
static void resume(const opt_case *c, ol_dtype dt, int what, ol_tensor *w, ol_optim *opt) {
    ol_checkpoint ck;
    ol_error err;
    ol_rng_state rs;
    ol_rng_seed(999); /* whatever the RNG did before, the file decides */
    make_weights(w, dt);
    make(opt, c, dt, NP, 0);
    if (ol_ck_load(path, &ck, &err)) fail_msg("load: %s", err.msg);
    const ol_tensor *saved = ol_ck_find(&ck, "w");
    assert_non_null(saved);
    assert_int_equal(ol_tensor_copy_(w, saved, &err), 0);
    if (what != SKIP_OPTIMIZER && ol_optim_import(opt, &ck, &err)) fail_msg("import: %s", err.msg);
    assert_int_equal(ol_ck_get_rng(&ck, &rs, &err), 0);
    if (what != SKIP_RNG) ol_rng_set_state(&rs);
    ol_ck_free(&ck);
    train(opt, w, N);
}

static void run_case(const opt_case *c, ol_dtype dt) {
    ol_tensor w, w2;
    ol_optim opt, opt2;
    ol_rng_seed(7);
    make_weights(&w, dt);
    make(&opt, c, dt, NP, 1);
    train(&opt, &w, K);
    save(&opt, &w);
    train(&opt, &w, N); /* the reference */

    resume(c, dt, RESTORE_ALL, &w2, &opt2);
    if (!same_bytes(&w, &w2))
        fail_msg("%s %s: the resumed weights differ (w[0] %.17g vs %.17g)", c->name,
                 ol_dtype_name(dt), get(&w, 0), get(&w2, 0));
    assert_int_equal(opt2.t, K + N);
    assert_int_equal(opt2.ngroups, opt.ngroups);
    assert_int_equal(opt.ngroups, c->split ? 2 : 1);
    for (int k = 0; k < opt.ngroups; k++) {
        assert_memory_equal(opt2.groups[k].o, opt.groups[k].o, sizeof opt.groups[k].o);
        assert_memory_equal(opt2.groups[k].scalars, opt.groups[k].scalars,
                            sizeof opt.groups[k].scalars);
    }
    for (int i = 0; i < opt.desc->nstate; i++)
        if (!same_bytes(&opt.state[i], &opt2.state[i]))
            fail_msg("%s: state %s differs", c->name, opt.desc->state_names[i]);
    ol_tensor_release(&w2);
    ol_optim_free(&opt2);

    /* Controls: each part of the file matters. */
    for (int what = SKIP_OPTIMIZER; what <= SKIP_RNG; what++) {
        resume(c, dt, what, &w2, &opt2);
        if (same_bytes(&w, &w2))
            fail_msg("%s %s: a resume without the %s ended at the same weights", c->name,
                     ol_dtype_name(dt), what == SKIP_RNG ? "RNG" : "optimizer");
        ol_tensor_release(&w2);
        ol_optim_free(&opt2);
    }
    ol_tensor_release(&w);
    ol_optim_free(&opt);
}

static void test_resume_bit_for_bit(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        run_case(&CASES[k], OL_F32);
        run_case(&CASES[k], OL_F64);
    }
}

/* What ol_optim_read finds is what was exported, value for value. */
static void test_read_back(void **state) {
    (void)state;
    ol_optim opt;
    ol_tensor w;
    ol_checkpoint ck;
    ol_error err;
    ol_rng_seed(3);
    make_weights(&w, OL_F64);
    make(&opt, &CASES[2], OL_F64, NP, 1); /* rprop: scalars, an enum, a pair */
    train(&opt, &w, 4);
    ol_ck_init(&ck);
    assert_int_equal(ol_optim_export(&opt, &ck, &err), 0);
    assert_string_equal(ol_ck_get_meta(&ck, "optim.name"), "rprop");
    assert_string_equal(ol_ck_get_meta(&ck, "optim.dtype"), "f64");
    assert_string_equal(ol_ck_get_meta(&ck, "optim.t"), "4");
    /* The options' JSON as a reader sees it: every number in the shortest
     * %g form that reads back exactly (50 is "5e+01"), the enum by name,
     * every option in the descriptor's order. */
    assert_string_equal(ol_ck_get_meta(&ck, "optim.options"),
                        "{\"lr\":0.02,\"etas\":[0.4,1.3],\"step_sizes\":[1e-06,5e+01],"
                        "\"variant\":\"rprop+\"}");
    ol_optim_saved s;
    assert_int_equal(ol_optim_read(&ck, &s, &err), 0);
    assert_ptr_equal(s.desc, opt.desc);
    assert_int_equal(s.dtype, OL_F64);
    assert_int_equal(s.t, 4);
    assert_int_equal(s.n, NP);
    assert_memory_equal(s.o, opt.groups[0].o, sizeof(double) * (size_t)opt.desc->nslots);
    for (int i = 0; i < opt.desc->noptions; i++) assert_int_equal(s.stored[i], 1);
    assert_memory_equal(s.scalars, opt.groups[0].scalars,
                        sizeof(double) * (size_t)opt.desc->nscalars);
    for (int i = 0; i < opt.desc->nstate; i++) assert_true(same_bytes(s.state[i], &opt.state[i]));
    /* one group (no optim.groups), the one vector over the buffer */
    assert_null(ol_ck_get_meta(&ck, "optim.groups"));
    assert_int_equal(s.ngroups, 1);
    assert_memory_equal(s.groups[0].o, opt.groups[0].o, sizeof(double) * (size_t)opt.desc->nslots);
    assert_int_equal(s.nparams, 1);
    assert_true(s.params[0].offset == 0 && s.params[0].rows == 1 && s.params[0].cols == NP &&
                !s.params[0].matrix && s.params[0].group == 0);
    ol_optim_saved_free(&s);
    ol_ck_free(&ck);
    /* No optimizer in a checkpoint: 1, not an error. */
    ol_ck_init(&ck);
    assert_int_equal(ol_optim_read(&ck, &s, &err), 1);
    ol_ck_free(&ck);
    ol_tensor_release(&w);
    ol_optim_free(&opt);
}

/* ---- refusals ---- */

/* A snapshot of an optimizer, to show that a refused import changed nothing. */
typedef struct snap {
    double o[4][OL_OPTIM_MAXSLOTS], scalars[4][OL_OPTIM_MAXSCALARS];
    int ngroups;
    int64_t t;
    double state0[64];
} snap;

static void take(const ol_optim *opt, snap *s) {
    memset(s, 0, sizeof *s);
    assert_true(opt->ngroups <= 4);
    s->ngroups = opt->ngroups;
    for (int k = 0; k < opt->ngroups; k++) {
        memcpy(s->o[k], opt->groups[k].o, sizeof s->o[k]);
        memcpy(s->scalars[k], opt->groups[k].scalars, sizeof s->scalars[k]);
    }
    s->t = opt->t;
    for (int64_t i = 0; i < opt->n && i < 64; i++) s->state0[i] = get(&opt->state[0], i);
}

static void assert_unchanged(const ol_optim *opt, const snap *s) {
    snap now;
    take(opt, &now);
    assert_int_equal(now.ngroups, s->ngroups);
    assert_memory_equal(now.o, s->o, sizeof s->o);
    assert_memory_equal(now.scalars, s->scalars, sizeof s->scalars);
    assert_int_equal(now.t, s->t);
    assert_memory_equal(now.state0, s->state0, sizeof(double) * (size_t)(opt->n < 64 ? opt->n : 64));
}

/* Imports ck into opt, which must refuse with a message containing want
 * and stay as it was. */
static void refused(ol_optim *opt, const ol_checkpoint *ck, const char *want) {
    ol_error err;
    snap before;
    take(opt, &before);
    if (ol_optim_import(opt, ck, &err) == 0) fail_msg("accepted; expected \"%s\"", want);
    if (!strstr(err.msg, want)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
    assert_unchanged(opt, &before);
}

/* A trained adam (f32, NP parameters) saved to path and loaded into ck. */
static void saved_adam(ol_checkpoint *ck) {
    ol_optim opt;
    ol_tensor w;
    ol_error err;
    ol_rng_seed(5);
    make_weights(&w, OL_F32);
    make(&opt, &CASES[0], OL_F32, NP, 1);
    train(&opt, &w, 3);
    save(&opt, &w);
    ol_tensor_release(&w);
    ol_optim_free(&opt);
    if (ol_ck_load(path, ck, &err)) fail_msg("load: %s", err.msg);
}

/* The entry of tensor name in ck. */
static ol_ck_tensor *entry(ol_checkpoint *ck, const char *name) {
    for (int i = 0; i < ck->ntensors; i++)
        if (strcmp(ck->tensors[i].name, name) == 0) return &ck->tensors[i];
    fail_msg("no tensor %s", name);
    return NULL;
}

/* A trained target (adam, f32, n parameters) with state worth keeping. */
static void target(ol_optim *opt, const char *name, ol_dtype dt, int64_t n) {
    ol_error err;
    const int64_t shape[1] = {n};
    ol_tensor w, g;
    assert_int_equal(ol_optim_init(opt, ol_optim_find(name), dt, n, &err), 0);
    assert_int_equal(ol_tensor_full(&w, dt, 1, shape, 1.0, &err), 0);
    assert_int_equal(ol_tensor_full(&g, dt, 1, shape, 0.25, &err), 0);
    assert_int_equal(ol_optim_step(opt, &w, &g, NAN, 0, &err), 0);
    ol_tensor_release(&w);
    ol_tensor_release(&g);
}

static void test_refuses_mismatches(void **state) {
    (void)state;
    ol_checkpoint ck;
    ol_optim opt;
    saved_adam(&ck);
    char want[200];
    snprintf(want, sizeof want, "checkpoint '%s' holds a adam optimizer, not sgd", path);
    target(&opt, "sgd", OL_F32, NP);
    refused(&opt, &ck, want);
    ol_optim_free(&opt);
    target(&opt, "adam", OL_F64, NP);
    refused(&opt, &ck, "holds an optimizer working in f32, this one works in f64");
    ol_optim_free(&opt);
    target(&opt, "adam", OL_F32, NP + 2);
    refused(&opt, &ck, "holds optimizer state 'exp_avg' of 18 elements, this optimizer's has 20");
    ol_optim_free(&opt);
    ol_checkpoint empty;
    ol_ck_init(&empty);
    target(&opt, "adam", OL_F32, NP);
    refused(&opt, &empty, "checkpoint '(in memory)' holds no optimizer");
    /* The same target takes the good file: the refusals were not its fault. */
    ol_error err;
    assert_int_equal(ol_optim_import(&opt, &ck, &err), 0);
    assert_int_equal(opt.t, 3);
    ol_optim_free(&opt);
    ol_ck_free(&ck);
}

static void test_refuses_bad_state(void **state) {
    (void)state;
    ol_checkpoint ck;
    ol_optim opt;
    ol_error err;
    target(&opt, "adam", OL_F32, NP);

    saved_adam(&ck);
    ol_ck_tensor *e = entry(&ck, "optim.state.exp_avg_sq");
    float *p = ol_tensor_data(&e->t);
    p[4] = NAN;
    refused(&opt, &ck, "tensor 'optim.state.exp_avg_sq' holds a non-finite value at element 5");
    p[4] = INFINITY;
    refused(&opt, &ck, "non-finite value at element 5");
    ol_ck_free(&ck);

    saved_adam(&ck);
    e = entry(&ck, "optim.state.exp_avg");
    ol_tensor shorter;
    const int64_t shape[1] = {NP - 1};
    assert_int_equal(ol_tensor_zeros(&shorter, OL_F32, 1, shape, &err), 0);
    ol_tensor_release(&e->t);
    e->t = shorter;
    refused(&opt, &ck, "holds optimizer state 'exp_avg' of 17 elements, this optimizer's has 18");
    ol_ck_free(&ck);

    saved_adam(&ck);
    e = entry(&ck, "optim.state.max_exp_avg_sq");
    ol_tensor wide;
    const int64_t shape2[2] = {2, NP / 2};
    assert_int_equal(ol_tensor_zeros(&wide, OL_F32, 2, shape2, &err), 0);
    ol_tensor_release(&e->t);
    e->t = wide;
    refused(&opt, &ck, "tensor 'optim.state.max_exp_avg_sq' is 2x9");
    ol_ck_free(&ck);

    saved_adam(&ck);
    e = entry(&ck, "optim.state.exp_avg");
    ol_tensor other;
    const int64_t shape3[1] = {NP};
    assert_int_equal(ol_tensor_zeros(&other, OL_F64, 1, shape3, &err), 0);
    ol_tensor_release(&e->t);
    e->t = other;
    refused(&opt, &ck, "tensor 'optim.state.exp_avg' is f64, the optimizer's state f32");
    free(e->name); /* renamed: as if the file lacked it */
    e->name = strdup("something.else");
    refused(&opt, &ck, "has no tensor 'optim.state.exp_avg'");
    ol_ck_free(&ck);
    ol_optim_free(&opt);
}

/* Sets metadata key of ck, failing the test on error. */
static void meta(ol_checkpoint *ck, const char *key, const char *value) {
    ol_error err;
    assert_int_equal(ol_ck_set_meta(ck, key, value, &err), 0);
}

static void test_refuses_bad_metadata(void **state) {
    (void)state;
    ol_checkpoint ck;
    ol_optim opt;
    target(&opt, "adam", OL_F32, NP);
    saved_adam(&ck);
    const char *good_options = strdup(ol_ck_get_meta(&ck, "optim.options"));
    meta(&ck, "optim.name", "adamm");
    refused(&opt, &ck, "holds a adamm optimizer, not adam");
    meta(&ck, "optim.name", "adam");

    static const char *const bad_t[] = {"-3", "12x", "", " 4", "+4", "99999999999999999999", "0x10"};
    for (size_t i = 0; i < sizeof bad_t / sizeof bad_t[0]; i++) {
        meta(&ck, "optim.t", bad_t[i]);
        refused(&opt, &ck, "metadata 'optim.t' is not a step count");
    }
    meta(&ck, "optim.t", "9007199254740993");
    refused(&opt, &ck, "step count 9007199254740993 is beyond 2^53");
    meta(&ck, "optim.t", "9007199254740992"); /* 2^53 itself is a step count */
    ol_error err;
    ol_optim_saved s;
    assert_int_equal(ol_optim_read(&ck, &s, &err), 0);
    assert_int_equal(s.t, (int64_t)1 << 53);
    ol_optim_saved_free(&s);
    meta(&ck, "optim.t", "3");

    meta(&ck, "optim.dtype", "f16");
    refused(&opt, &ck, "metadata 'optim.dtype' is not f32 or f64");
    meta(&ck, "optim.dtype", "f32");

    meta(&ck, "optim.options", "{\"lr\":-1}");
    refused(&opt, &ck, "option 'lr' must be >= 0, got -1");
    /* ol_optim_read refuses it on its own, before any instance. */
    assert_int_equal(ol_optim_read(&ck, &s, &err), -1);
    assert_non_null(strstr(err.msg, "option 'lr' must be >= 0, got -1"));
    meta(&ck, "optim.options", "{\"betas\":[0.9,0.999],\"amsgrad\":true}");
    assert_int_equal(ol_optim_read(&ck, &s, &err), 0);
    assert_true(s.o[ol_optim_find_option(s.desc, "betas")->slot + 1] == 0.999);
    assert_true(s.o[ol_optim_find_option(s.desc, "amsgrad")->slot] == 1);
    assert_true(s.o[ol_optim_find_option(s.desc, "lr")->slot] == 1e-3); /* the default */
    ol_optim_saved_free(&s);
    meta(&ck, "optim.options", "{\"betas\":[0.9,1.5]}");
    refused(&opt, &ck, "option 'betas' element 2 must be in [0, 1), got 1.5");
    meta(&ck, "optim.options", "{\"betas\":[0.9]}");
    refused(&opt, &ck, "option 'betas' has a bad value");
    meta(&ck, "optim.options", "{\"amsgrad\":1}");
    refused(&opt, &ck, "option 'amsgrad' has a bad value");
    meta(&ck, "optim.options", "{\"eps\":\"nan\"}");
    refused(&opt, &ck, "option 'eps' must be > 0, got nan");
    meta(&ck, "optim.options", "{\"lrr\":0.1}");
    refused(&opt, &ck, "option 'lrr' is unknown to adam");
    meta(&ck, "optim.options", "[1,2]");
    refused(&opt, &ck, "metadata 'optim.options' missing or malformed");
    meta(&ck, "optim.options", "{\"lr\":");
    refused(&opt, &ck, "metadata 'optim.options' is not valid JSON");
    meta(&ck, "optim.options", good_options);
    free((void *)good_options);

    meta(&ck, "optim.scalars", "[1,2]");
    refused(&opt, &ck, "has 2 optimizer scalars in 'optim.scalars', adam keeps 0");
    meta(&ck, "optim.scalars", "[]");
    /* All repaired: the import goes through. */
    assert_int_equal(ol_optim_import(&opt, &ck, &err), 0);
    ol_ck_free(&ck);
    ol_optim_free(&opt);

    /* A scalar that is no number (sgd keeps one). */
    ol_ck_init(&ck);
    target(&opt, "sgd", OL_F64, 4);
    assert_int_equal(ol_optim_export(&opt, &ck, &err), 0);
    meta(&ck, "optim.scalars", "[true]");
    refused(&opt, &ck, "optim.scalars[1] is not a number");
    meta(&ck, "optim.scalars", "[\"inf\"]"); /* inf and nan are numbers here */
    assert_int_equal(ol_optim_import(&opt, &ck, &err), 0);
    assert_true(isinf(opt.groups[0].scalars[0]));
    ol_ck_free(&ck);
    ol_optim_free(&opt);
}

/* Options the file lacks keep the target's values; a closure method's
 * private memory goes, as after a reset. */
static void test_partial_options(void **state) {
    (void)state;
    ol_checkpoint ck;
    ol_optim opt;
    ol_error err;
    target(&opt, "adam", OL_F32, NP);
    ol_ck_init(&ck);
    assert_int_equal(ol_optim_export(&opt, &ck, &err), 0);
    meta(&ck, "optim.options", "{\"lr\":0.25}");
    const double wd = 0.125;
    assert_int_equal(ol_optim_set(&opt, "weight_decay", &wd, &err), 0);
    assert_int_equal(ol_optim_import(&opt, &ck, &err), 0);
    assert_true(opt.groups[0].o[ol_optim_find_option(opt.desc, "lr")->slot] == 0.25);
    assert_true(opt.groups[0].o[ol_optim_find_option(opt.desc, "weight_decay")->slot] == wd);
    ol_optim_saved s;
    assert_int_equal(ol_optim_read(&ck, &s, &err), 0);
    assert_int_equal(s.stored[0], 1);
    for (int i = 1; i < opt.desc->noptions; i++) assert_int_equal(s.stored[i], 0);
    ol_optim_saved_free(&s);
    ol_ck_free(&ck);
    ol_optim_free(&opt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_bit_for_bit), cmocka_unit_test(test_read_back),
        cmocka_unit_test(test_refuses_mismatches), cmocka_unit_test(test_refuses_bad_state),
        cmocka_unit_test(test_refuses_bad_metadata), cmocka_unit_test(test_partial_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
