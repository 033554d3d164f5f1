/* lookahead (engine/optim/lookahead.c) against the rule of API.md's table,
 * written out here in plain double arithmetic with its own inner
 * optimizers (sgd with momentum and adam, as torch.optim states them), not
 * from the engine:
 *
 *   - 10 steps on a quadratic, k = 3, alpha = 0.5, over sgd (momentum
 *     0.9) and adam: f64 to 1e-12, f32 to 1e-5 relative; the slow weights
 *     and the inner's state are compared too;
 *   - two groups with their own k (2 and 3) and alpha, an element in no
 *     tensor left alone; a buffer long enough to be cut among two threads
 *     gives the same bits as one thread;
 *   - reset: both start afresh, the slow weights again at w;
 *   - checkpoints: a file written mid-run and imported into a fresh pair
 *     continues bit-identically; a file of lookahead(adam) is refused by
 *     lookahead(sgd) and by plain adam, a file of plain adam by
 *     lookahead(adam), each naming both, nothing changed;
 *   - the inner's modes (sf_sgd) and prepare (nag) are the wrapper's;
 *   - refused: a wrapper as inner, another dtype or length, k = 0, 2.5,
 *     alpha outside [0, 1]. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/threads.h"
#include "io/checkpoint.h"
#include "optim/optim.h"

#define N 7
#define STEPS 10

/* f(w) = 1/2 sum a_i (w_i - c_i)^2 + 1/4 sum w_i^4 / 10: g_i = a_i (w_i - c_i) + w_i^3 / 10. */
static double grad_at(int64_t i, double w) {
    const double a = 0.5 + 0.3 * (double)(i % 5), c = 1.0 - 0.25 * (double)(i % 3);
    return a * (w - c) + w * w * w / 10;
}

static double start_at(int64_t i) {
    return 0.8 - 0.37 * (double)(i % 11) + 0.01 * (double)(i % 13);
}

/* ---- the reference: inner rules and the lookahead, in double ---- */

typedef enum { REF_SGD, REF_ADAM } ref_kind;

typedef struct ref {
    ref_kind kind;
    double lr, mu;          /* sgd: lr, momentum */
    double b1, b2, eps;     /* adam */
    int64_t t;              /* inner steps */
    double *w, *phi, *m, *v;
    int64_t n;
} ref;

/* torch.optim.SGD (dampening 0): b = g at the first step, then b = mu b + g; w -= lr b.
 * torch.optim.Adam: m, v moments; w -= lr m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps). */
static void ref_inner_step(ref *r, const unsigned char *in_tensor) {
    r->t++;
    for (int64_t i = 0; i < r->n; i++) {
        if (!in_tensor[i]) continue;
        const double g = grad_at(i, r->w[i]);
        if (r->kind == REF_SGD) {
            r->m[i] = r->t == 1 ? g : r->mu * r->m[i] + g;
            r->w[i] -= r->lr * r->m[i];
        } else {
            r->m[i] = r->b1 * r->m[i] + (1 - r->b1) * g;
            r->v[i] = r->b2 * r->v[i] + (1 - r->b2) * g * g;
            const double mh = r->m[i] / (1 - pow(r->b1, (double)r->t));
            const double vh = r->v[i] / (1 - pow(r->b2, (double)r->t));
            r->w[i] -= r->lr * mh / (sqrt(vh) + r->eps);
        }
    }
}

/* The sync of element i, with alpha. */
static void ref_sync(ref *r, int64_t i, double alpha) {
    r->phi[i] = r->phi[i] + alpha * (r->w[i] - r->phi[i]);
    r->w[i] = r->phi[i];
}

static void ref_init(ref *r, ref_kind kind, int64_t n) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->n = n;
    r->w = calloc((size_t)n, sizeof(double));
    r->phi = calloc((size_t)n, sizeof(double));
    r->m = calloc((size_t)n, sizeof(double));
    r->v = calloc((size_t)n, sizeof(double));
    for (int64_t i = 0; i < n; i++) r->w[i] = r->phi[i] = start_at(i);
    if (kind == REF_SGD) {
        r->lr = 0.05;
        r->mu = 0.9;
    } else {
        r->lr = 0.02;
        r->b1 = 0.9;
        r->b2 = 0.999;
        r->eps = 1e-8;
    }
}

static void ref_free(ref *r) {
    free(r->w);
    free(r->phi);
    free(r->m);
    free(r->v);
}

/* ---- the engine's pair ---- */

typedef struct pair {
    ol_optim inner, la;
    ol_tensor w, g;
    ol_dtype dt;
} pair;

static double get(const ol_tensor *t, int64_t i) {
    return t->dtype == OL_F32 ? (double)((const float *)ol_tensor_data(t))[i]
                              : ((const double *)ol_tensor_data(t))[i];
}

static void put(ol_tensor *t, int64_t i, double v) {
    if (t->dtype == OL_F32) ((float *)ol_tensor_data(t))[i] = (float)v;
    else ((double *)ol_tensor_data(t))[i] = v;
}

static void set1(ol_optim *o, const char *name, double v) {
    ol_error err;
    if (ol_optim_set(o, name, (double[]){v, 0}, &err)) fail_msg("%s: %s", name, err.msg);
}

/* inner: "sgd" (lr 0.05, momentum 0.9) or "adam" (lr 0.02); lookahead k, alpha. */
static void pair_make(pair *p, const char *inner, ol_dtype dt, int64_t n, double k, double alpha) {
    ol_error err;
    memset(p, 0, sizeof *p);
    p->dt = dt;
    const int64_t shape[1] = {n};
    assert_int_equal(ol_tensor_zeros(&p->w, dt, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&p->g, dt, 1, shape, &err), 0);
    for (int64_t i = 0; i < n; i++) put(&p->w, i, start_at(i));
    if (ol_optim_init(&p->inner, ol_optim_find(inner), dt, n, &err)) fail_msg("%s", err.msg);
    if (strcmp(inner, "sgd") == 0) {
        set1(&p->inner, "lr", 0.05);
        set1(&p->inner, "momentum", 0.9);
    } else if (strcmp(inner, "adam") == 0) {
        set1(&p->inner, "lr", 0.02);
    }
    assert_int_equal(ol_optim_init(&p->la, &ol_optim_lookahead, dt, n, &err), 0);
    set1(&p->la, "k", k);
    set1(&p->la, "alpha", alpha);
    if (ol_optim_wrap(&p->la, &p->inner, &p->w, &err)) fail_msg("wrap: %s", err.msg);
}

static void pair_free(pair *p) {
    ol_optim_free(&p->la);
    ol_optim_free(&p->inner);
    ol_tensor_release(&p->w);
    ol_tensor_release(&p->g);
}

static void pair_step(pair *p) {
    ol_error err;
    for (int64_t i = 0; i < ol_tensor_numel(&p->w); i++) put(&p->g, i, grad_at(i, get(&p->w, i)));
    if (ol_optim_step(&p->la, &p->w, &p->g, NAN, 0, &err)) fail_msg("step: %s", err.msg);
}

/* |a - b| <= tol * max(1, |b|) */
static void near(double a, double b, double tol, const char *what, int step, int64_t i) {
    if (!(fabs(a - b) <= tol * fmax(1, fabs(b))))
        fail_msg("%s[%lld] at step %d: %.17g, reference %.17g", what, (long long)i, step, a, b);
}

/* ---- the rule ---- */

static void run_against_reference(const char *inner, ref_kind kind, ol_dtype dt, double tol) {
    pair p;
    ref r;
    pair_make(&p, inner, dt, N, 3, 0.5);
    ref_init(&r, kind, N);
    unsigned char all[N];
    memset(all, 1, sizeof all);
    /* the engine starts from the f32-rounded point: so does the reference */
    for (int64_t i = 0; i < N; i++) r.w[i] = r.phi[i] = get(&p.w, i);
    for (int s = 1; s <= STEPS; s++) {
        pair_step(&p);
        ref_inner_step(&r, all);
        if (s % 3 == 0)
            for (int64_t i = 0; i < N; i++) ref_sync(&r, i, 0.5);
        assert_int_equal(p.la.t, s);
        assert_int_equal(p.inner.t, s);
        for (int64_t i = 0; i < N; i++) {
            near(get(&p.w, i), r.w[i], tol, "w", s, i);
            near(get(&p.la.state[0], i), r.phi[i], tol, "slow_weights", s, i);
            near(get(&p.inner.state[0], i), r.m[i], tol, kind == REF_SGD ? "momentum_buffer" : "exp_avg", s, i);
        }
        /* at a sync, w is the slow weights exactly */
        if (s % 3 == 0)
            for (int64_t i = 0; i < N; i++) assert_true(get(&p.w, i) == get(&p.la.state[0], i));
    }
    ref_free(&r);
    pair_free(&p);
}

static void test_sgd_momentum(void **st) {
    (void)st;
    run_against_reference("sgd", REF_SGD, OL_F64, 1e-12);
    run_against_reference("sgd", REF_SGD, OL_F32, 1e-5);
}

static void test_adam(void **st) {
    (void)st;
    run_against_reference("adam", REF_ADAM, OL_F64, 1e-12);
    run_against_reference("adam", REF_ADAM, OL_F32, 1e-5);
}

/* A sync by hand: w0 = 1, sgd without momentum, lr 0.1, g = w (as
 * grad_at is not): w1 = 0.9, w2 = 0.81; k = 2, alpha = 0.25: phi = 1 +
 * 0.25 (0.81 - 1) = 0.9525 = w. */
static void test_one_sync_by_hand(void **st) {
    (void)st;
    ol_error err;
    pair p;
    pair_make(&p, "sgd", OL_F64, 1, 2, 0.25);
    set1(&p.inner, "momentum", 0);
    set1(&p.inner, "lr", 0.1);
    put(&p.w, 0, 1);
    for (int s = 0; s < 2; s++) {
        put(&p.g, 0, get(&p.w, 0));
        assert_int_equal(ol_optim_step(&p.la, &p.w, &p.g, NAN, 0, &err), 0);
    }
    assert_true(fabs(get(&p.w, 0) - 0.9525) < 1e-15);
    assert_true(fabs(get(&p.la.state[0], 0) - 0.9525) < 1e-15);
    pair_free(&p);
}

/* ---- groups, elements in no tensor, threads ---- */

/* Two tensors [0, a) and [a + 1, n) in groups 1 and 2; element a in none. */
static void set_two_groups(pair *p, int64_t n, int64_t a) {
    ol_error err;
    const ol_optim_param ps[2] = {{.offset = 0, .rows = 1, .cols = a, .group = 0},
                                  {.offset = a + 1, .rows = 1, .cols = n - a - 1, .group = 1}};
    /* the inner's tensors first, then wrap again over them */
    ol_optim_free(&p->la);
    if (ol_optim_set_params(&p->inner, ps, 2, 2, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ol_optim_init(&p->la, &ol_optim_lookahead, p->dt, n, &err), 0);
    assert_int_equal(ol_optim_wrap(&p->la, &p->inner, &p->w, &err), 0);
    assert_int_equal(p->la.ngroups, 2);
    assert_int_equal(p->la.nparams, 2);
    const ol_optim_field k = {ol_optim_find_option(&ol_optim_lookahead, "k"), 0};
    const ol_optim_field al = {ol_optim_find_option(&ol_optim_lookahead, "alpha"), 0};
    assert_int_equal(ol_optim_group_set_field(&p->la, 0, k, (double[]){2}, &err), 0);
    assert_int_equal(ol_optim_group_set_field(&p->la, 1, k, (double[]){3}, &err), 0);
    assert_int_equal(ol_optim_group_set_field(&p->la, 0, al, (double[]){0.5}, &err), 0);
    assert_int_equal(ol_optim_group_set_field(&p->la, 1, al, (double[]){0.8}, &err), 0);
}

static void run_groups(int64_t n, int64_t a, int threads, pair *p, double tol) {
    ref r;
    pair_make(p, "sgd", OL_F64, n, 5, 0.5);
    set_two_groups(p, n, a);
    ref_init(&r, REF_SGD, n);
    unsigned char *in = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) in[i] = i != a;
    ol_set_threads(threads);
    for (int s = 1; s <= STEPS; s++) {
        pair_step(p);
        ref_inner_step(&r, in);
        for (int64_t i = 0; i < n; i++) {
            if (i < a && s % 2 == 0) ref_sync(&r, i, 0.5);
            if (i > a && s % 3 == 0) ref_sync(&r, i, 0.8);
        }
        for (int64_t i = 0; i < n; i++) near(get(&p->w, i), r.w[i], tol, "w", s, i);
    }
    assert_true(get(&p->w, a) == start_at(a)); /* in no tensor: untouched */
    /* the counters since the last sync, per group: 10 % 2 = 0, 10 % 3 = 1 */
    assert_true(p->la.groups[0].scalars[0] == 0 && p->la.groups[1].scalars[0] == 1);
    ol_set_threads(0);
    free(in);
    ref_free(&r);
}

static void test_groups_and_threads(void **st) {
    (void)st;
    pair p1, p2;
    run_groups(N + 4, 4, 1, &p1, 1e-12);
    pair_free(&p1);
    /* long enough to be cut in two parts: the same bits with one thread or two */
    const int64_t big = 3 * OL_OPTIM_MIN_PART + 5;
    run_groups(big, OL_OPTIM_MIN_PART + 3, 1, &p1, 1e-12);
    run_groups(big, OL_OPTIM_MIN_PART + 3, 2, &p2, 1e-12);
    assert_memory_equal(ol_tensor_data(&p1.w), ol_tensor_data(&p2.w), (size_t)big * sizeof(double));
    assert_memory_equal(ol_tensor_data(&p1.la.state[0]), ol_tensor_data(&p2.la.state[0]),
                        (size_t)big * sizeof(double));
    pair_free(&p1);
    pair_free(&p2);
}

/* ---- reset ---- */

static void test_reset(void **st) {
    (void)st;
    pair p;
    pair_make(&p, "adam", OL_F64, N, 3, 0.5);
    for (int s = 0; s < 4; s++) pair_step(&p);
    ol_optim_reset(&p.la);
    assert_int_equal(p.la.t, 0);
    assert_int_equal(p.inner.t, 0);
    assert_true(p.la.groups[0].scalars[0] == 0);
    for (int64_t i = 0; i < N; i++) assert_true(get(&p.inner.state[0], i) == 0);
    /* the next step starts the slow weights at w again: after 3 more steps
     * the pair is where a fresh pair started at this w is */
    pair q;
    pair_make(&q, "adam", OL_F64, N, 3, 0.5);
    memcpy(ol_tensor_data(&q.w), ol_tensor_data(&p.w), N * sizeof(double));
    for (int s = 0; s < 3; s++) {
        pair_step(&p);
        pair_step(&q);
    }
    assert_memory_equal(ol_tensor_data(&p.w), ol_tensor_data(&q.w), N * sizeof(double));
    assert_memory_equal(ol_tensor_data(&p.la.state[0]), ol_tensor_data(&q.la.state[0]), N * sizeof(double));
    pair_free(&p);
    pair_free(&q);
}

/* ---- checkpoints ---- */

static char path[64];

static void save(const ol_optim *opt, const ol_tensor *w) {
    ol_error err;
    ol_checkpoint ck;
    ol_ck_init(&ck);
    if (ol_ck_add(&ck, "w", w, &err) || ol_optim_export(opt, &ck, &err) || ol_ck_save(&ck, path, &err))
        fail_msg("save: %s", err.msg);
    ol_ck_free(&ck);
}

static void test_checkpoint_resume(void **st) {
    (void)st;
    ol_error err;
    snprintf(path, sizeof path, "/tmp/ol_lookahead_%d.safetensors", (int)getpid());
    for (int d = 0; d < 2; d++) {
        const ol_dtype dt = d ? OL_F32 : OL_F64;
        pair a, b;
        pair_make(&a, "adam", dt, N, 3, 0.5);
        for (int s = 0; s < 4; s++) pair_step(&a); /* mid-cycle: one step since the sync */
        save(&a.la, &a.w);
        for (int s = 0; s < 6; s++) pair_step(&a);
        /* a fresh pair from the file */
        pair_make(&b, "adam", dt, N, 5, 0.9); /* the file's k and alpha replace these */
        ol_checkpoint ck;
        if (ol_ck_load(path, &ck, &err)) fail_msg("load: %s", err.msg);
        assert_string_equal(ol_ck_get_meta(&ck, "optim.name"), "lookahead");
        assert_string_equal(ol_ck_get_meta(&ck, "optim.inner.name"), "adam");
        assert_non_null(ol_ck_find(&ck, "optim.state.slow_weights"));
        assert_non_null(ol_ck_find(&ck, "optim.inner.state.exp_avg"));
        if (ol_optim_import(&b.la, &ck, &err)) fail_msg("import: %s", err.msg);
        assert_int_equal(ol_tensor_copy_(&b.w, ol_ck_find(&ck, "w"), &err), 0);
        ol_ck_free(&ck);
        assert_int_equal(b.la.t, 4);
        assert_int_equal(b.inner.t, 4);
        assert_true(b.la.groups[0].o[0] == 3 && b.la.groups[0].o[1] == 0.5);
        for (int s = 0; s < 6; s++) pair_step(&b);
        const size_t bytes = N * ol_dtype_size(dt);
        assert_memory_equal(ol_tensor_data(&a.w), ol_tensor_data(&b.w), bytes);
        assert_memory_equal(ol_tensor_data(&a.la.state[0]), ol_tensor_data(&b.la.state[0]), bytes);
        for (int k = 0; k < 2; k++)
            assert_memory_equal(ol_tensor_data(&a.inner.state[k]), ol_tensor_data(&b.inner.state[k]), bytes);
        pair_free(&a);
        pair_free(&b);
    }
    unlink(path);
}

/* import of ck's file into opt must fail with msg, changing nothing */
static void expect_refused(ol_optim *opt, const char *msg) {
    ol_error err;
    ol_checkpoint ck;
    if (ol_ck_load(path, &ck, &err)) fail_msg("load: %s", err.msg);
    const int64_t t = opt->t;
    assert_int_equal(ol_optim_import(opt, &ck, &err), -1);
    if (!strstr(err.msg, msg)) fail_msg("'%s' does not say '%s'", err.msg, msg);
    assert_int_equal(opt->t, t);
    ol_ck_free(&ck);
}

static void test_checkpoint_refused(void **st) {
    (void)st;
    snprintf(path, sizeof path, "/tmp/ol_lookahead_r%d.safetensors", (int)getpid());
    pair a, sgd;
    pair_make(&a, "adam", OL_F64, N, 3, 0.5);
    pair_make(&sgd, "sgd", OL_F64, N, 3, 0.5);
    pair_step(&a);
    pair_step(&sgd);
    save(&a.la, &a.w);
    expect_refused(&sgd.la, "holds a lookahead over adam, not over sgd");
    expect_refused(&a.inner, "holds a lookahead over adam optimizer, not adam");
    save(&a.inner, &a.w); /* a plain adam file */
    expect_refused(&a.la, "holds a adam optimizer, not lookahead over adam");
    /* the inner of a lookahead(adam) file keeps its state after a refusal */
    assert_int_equal(a.inner.t, 1);
    pair_free(&a);
    pair_free(&sgd);
    unlink(path);
}

/* ---- the inner's modes and prepare ---- */

static void test_modes_and_prepare(void **st) {
    (void)st;
    ol_error err;
    pair p;
    pair_make(&p, "sf_sgd", OL_F64, N, 2, 0.5);
    assert_true(ol_optim_has_modes(&p.la));
    for (int s = 0; s < 3; s++) pair_step(&p);
    double y[N];
    memcpy(y, ol_tensor_data(&p.w), sizeof y);
    assert_int_equal(ol_optim_eval(&p.la, &p.w, &err), 0);
    assert_string_equal(ol_optim_mode_name(&p.la), "eval");
    assert_int_equal(p.inner.eval_mode, 1);
    assert_int_equal(ol_optim_step(&p.la, &p.w, &p.g, NAN, 0, &err), -1);
    assert_non_null(strstr(err.msg, "eval mode"));
    assert_int_equal(p.la.t, 3);
    assert_int_equal(ol_optim_train(&p.la, &p.w, &err), 0);
    assert_string_equal(ol_optim_mode_name(&p.la), "train");
    for (int64_t i = 0; i < N; i++) assert_true(fabs(get(&p.w, i) - y[i]) < 1e-12);
    pair_free(&p);
    pair_make(&p, "nag", OL_F64, N, 2, 0.5);
    assert_true(ol_optim_has_prepare(&p.la));
    assert_false(ol_optim_has_modes(&p.la));
    pair_free(&p);
}

/* ---- refusals ---- */

static void test_refused(void **st) {
    (void)st;
    ol_error err;
    pair p;
    pair_make(&p, "adam", OL_F32, N, 3, 0.5);
    ol_optim la2;
    assert_int_equal(ol_optim_init(&la2, &ol_optim_lookahead, OL_F32, N, &err), 0);
    assert_int_equal(ol_optim_wrap(&la2, &p.la, &p.w, &err), -1);
    assert_string_equal(err.msg, "lookahead cannot wrap lookahead, itself a wrapper: wrap its inner "
                                 "optimizer (adam) instead");
    ol_optim_free(&la2);
    assert_int_equal(ol_optim_init(&la2, &ol_optim_lookahead, OL_F64, N, &err), 0);
    assert_int_equal(ol_optim_wrap(&la2, &p.inner, &p.w, &err), -1);
    assert_string_equal(err.msg, "lookahead works in f64 over 7 parameters, the inner optimizer in "
                                 "f32 over 7");
    ol_optim_free(&la2);
    assert_int_equal(ol_optim_init(&la2, &ol_optim_lookahead, OL_F32, N + 1, &err), 0);
    assert_int_equal(ol_optim_wrap(&la2, &p.inner, &p.w, &err), -1);
    ol_optim_free(&la2);
    struct {
        const char *name;
        double v;
        const char *msg;
    } bad[] = {{"k", 0, "option 'k' must be >= 1, got 0"},
               {"k", 2.5, "option 'k' must be an integer >= 1, got 2.5"},
               {"k", INFINITY, "option 'k' must be finite, got inf"},
               {"alpha", -0.1, "option 'alpha' must be in [0, 1], got -0.1"},
               {"alpha", 1.5, "option 'alpha' must be in [0, 1], got 1.5"},
               {"lr", 0.1, "unknown option 'lr' for lookahead"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ol_optim_set(&p.la, bad[i].name, (double[]){bad[i].v, 0}, &err), -1);
        assert_string_equal(err.msg, bad[i].msg);
    }
    assert_true(p.la.groups[0].o[0] == 3 && p.la.groups[0].o[1] == 0.5);
    /* alpha = 1 is the inner alone; alpha = 0 keeps w at its start */
    set1(&p.la, "alpha", 0);
    set1(&p.la, "k", 1);
    float w0[N];
    memcpy(w0, ol_tensor_data(&p.w), sizeof w0);
    pair_step(&p);
    assert_memory_equal(w0, ol_tensor_data(&p.w), sizeof w0);
    pair_free(&p);
    assert_non_null(ol_optim_find("lookahead"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_one_sync_by_hand),
        cmocka_unit_test(test_groups_and_threads),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_checkpoint_resume),
        cmocka_unit_test(test_checkpoint_refused),
        cmocka_unit_test(test_modes_and_prepare),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
