/* The steady state beyond the model: once its first epoch is done, the
 * training loop (ol_train_run) allocates nothing for the rest of the run,
 * validation included; and once it has taken its first steps, every
 * optimizer of the registry steps without allocating, at its defaults and
 * with each of its switches turned (variants_of; one that sizes the state
 * given as construction gives it), in f32 and f64. A switch the larger model's tensors
 * refuse (adagrad's full_matrix over more than 4096 elements) is skipped
 * there, loudly; on the small model every switch runs.
 *
 * The test is linked with -Wl,--wrap=malloc,... (tests/CMakeLists.txt, as
 * every engine test named *_alloc), so every call to the C allocator from
 * the engine's code lands in the counter below. Calls made inside shared
 * libraries (OpenBLAS with its LAPACK, libc) are not seen.
 *
 * Everything runs at one thread and at two. At two, the model and data are
 * large enough for the worker pool to cut the products, the batch gather,
 * the loss, the accuracy count and the optimizer steps; the pool's threads
 * are started by the warm-up, before any counting. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "optim/second.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/threads.h"
#include "train/train.h"

#include "alloc_count.h"

static long count(void) { return atomic_load(&allocs); }

/* ---- a model and batches for it ---- */

/* in -> hidden -> tanh -> out. At two threads the sizes below give the
 * optimizer over 2 x OL_OPTIM_MIN_PART parameters and the first product
 * over the nn layer's threshold for cutting (engine/nn/linear.c). */
typedef struct shape {
    int64_t in, hidden, out;
    double dropout; /* > 0: a dropout layer of that p after tanh */
    int norm; /* OL_LAYER_LAYER_NORM or OL_LAYER_BATCH_NORM before tanh; 0: none */
} shape;
static const shape SMALL = {12, 16, 3, 0, 0};
static const shape LARGE = {256, 128, 3, 0, 0};

static ol_model *model_new(ol_dtype dt, shape s) {
    ol_error err;
    ol_layer_spec spec[5] = {{.kind = OL_LAYER_LINEAR, .in = s.in, .out = s.hidden}};
    int n = 1;
    if (s.norm == OL_LAYER_LAYER_NORM || s.norm == OL_LAYER_BATCH_NORM)
        spec[n++] = (ol_layer_spec){.kind = (ol_layer_kind)s.norm, .in = s.hidden, .out = s.hidden, .eps = 1e-5,
                                    .momentum = 0.1, .affine = 1};
    spec[n++] = (ol_layer_spec){.kind = OL_LAYER_ACT, .act = OL_ACT_TANH};
    if (s.dropout > 0) spec[n++] = (ol_layer_spec){.kind = OL_LAYER_DROPOUT, .p = s.dropout};
    spec[n++] = (ol_layer_spec){.kind = OL_LAYER_LINEAR, .in = s.hidden, .out = s.out};
    ol_model *m = ol_model_new(spec, n, dt, &err);
    if (!m) fail_msg("ol_model_new: %s", err.msg);
    if (ol_model_init(m, OL_INIT_XAVIER_UNIFORM, 1, 0, "tanh", &err)) fail_msg("init: %s", err.msg);
    return m;
}

/* A model and NROWS rows of data, evaluated `batch` rows at a time from
 * row `at`: each step moves to the next batch, as training does, so that
 * the methods that run to convergence within a step find work at the
 * next. */
#define NROWS 64
typedef struct net {
    ol_model *m;
    ol_tensor w, g; /* the model's flat parameters and gradient */
    void *x;        /* NROWS x in, model dtype */
    double *xd;     /* the same rows in double: the curvature products' input */
    int32_t ids[NROWS];
    int64_t in, batch, at;
} net;

static void net_make(net *t, ol_dtype dt, shape s, int64_t batch) {
    memset(t, 0, sizeof *t);
    assert_true(NROWS % batch == 0);
    t->m = model_new(dt, s);
    t->in = s.in;
    t->batch = batch;
    t->x = malloc((size_t)(NROWS * s.in) * ol_dtype_size(dt));
    assert_non_null(t->x);
    t->xd = malloc((size_t)(NROWS * s.in) * sizeof *t->xd);
    assert_non_null(t->xd);
    for (int64_t i = 0; i < NROWS * s.in; i++) {
        double v = ol_rng_normal();
        if (dt == OL_F32) ((float *)t->x)[i] = (float)v;
        else ((double *)t->x)[i] = v;
        t->xd[i] = dt == OL_F32 ? (double)(float)v : v;
    }
    for (int64_t i = 0; i < NROWS; i++) t->ids[i] = (int32_t)ol_rng_below((uint64_t)s.out);
    ol_model_params(t->m, &t->w);
    ol_model_grads(t->m, &t->g);
}

static void net_free(net *t) {
    ol_tensor_release(&t->w);
    ol_tensor_release(&t->g);
    free(t->x);
    free(t->xd);
    ol_model_free(t->m);
}

/* Step s's batch. */
static void net_move(net *t, int s) {
    t->at = (s * t->batch) % NROWS;
}

/* Loss and gradient of the current batch at the model's parameters. */
static int net_eval(net *t, double *loss, ol_error *err) {
    const char *x = (const char *)t->x + (size_t)(t->at * t->in) * ol_dtype_size(t->w.dtype);
    ol_target tg = {t->ids + t->at, NULL};
    return ol_model_evaluate(t->m, x, t->batch, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), &tg, loss, err);
}

/* ---- 1. the epoch loop ---- */

#define EPOCHS 4
#define TRAIN_N 203 /* not a multiple of any batch size below: a short last batch */
#define VALID_N 1100 /* over the loop's validation chunk of 1024 rows: a short chunk */

typedef struct watch {
    int64_t batch_size;
    long at_epoch[EPOCHS + 1];   /* counter at on_epoch of each epoch */
    long at_batch2, at_last1;    /* counter after step 2 and after the last step of epoch 1 */
    int64_t epochs_seen, steps_seen, hooks_seen;
    int64_t prev_samples;
    int64_t short_batches;       /* batches after the first epoch shorter than batch_size */
    int val_ok;                  /* every epoch reported finite validation figures */
} watch;

static int before_step(void *ctx, const ol_train_state *s, int64_t t) {
    (void)s;
    watch *w = ctx;
    if (t != w->steps_seen + 1) return -1;
    return 0;
}

static int on_batch(void *ctx, const ol_train_state *s) {
    watch *w = ctx;
    int64_t rows = s->samples - w->prev_samples;
    w->prev_samples = s->samples;
    w->steps_seen++;
    if (s->epoch == 1 && s->batch == 2) w->at_batch2 = count();
    if (s->epoch == 1 && s->batch == s->batches) w->at_last1 = count();
    if (s->epoch > 1 && rows < w->batch_size) w->short_batches++;
    return 0;
}

static int on_step(void *ctx, const ol_train_state *s) {
    watch *w = ctx;
    (void)s;
    w->hooks_seen++;
    return 0;
}

static int on_epoch(void *ctx, const ol_train_state *s) {
    watch *w = ctx;
    if (s->epoch < 1 || s->epoch > EPOCHS) return -1;
    w->at_epoch[s->epoch] = count();
    w->epochs_seen++;
    if (!isfinite(s->val_loss) || !(s->val_accuracy >= 0 && s->val_accuracy <= 1)) w->val_ok = 0;
    return 0;
}

/* n samples of `in` features in classes 1..classes. */
static ol_dataset *dataset_new(int64_t n, int64_t in, int classes) {
    ol_error err;
    double *x = malloc((size_t)(n * in) * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    assert_true(x && y);
    for (int64_t i = 0; i < n; i++) {
        y[i] = 1 + (int32_t)ol_rng_below((uint64_t)classes);
        for (int64_t j = 0; j < in; j++)
            x[i * in + j] = ol_rng_normal() + 0.5 * (j % classes == y[i] - 1);
    }
    ol_dataset *ds = ol_dataset_new(OL_DS_F64, n, in, x, 1, y, classes, &err);
    if (!ds) fail_msg("dataset: %s", err.msg);
    return ds;
}

/* One way to run the loop: the loss (and so how labels become targets),
 * the loader's order and the optimizer (nag moves the weights before the
 * gradient, with a backup copy for a non-finite batch). */
typedef struct scenario {
    ol_loss_spec loss;
    int classes;  /* outputs: classes, or 1 for bce on two classes */
    int balanced; /* class-balanced batches (shuffled within classes) */
    const char *optim;
    const char *option; /* set to 0.9 when not NULL */
    double dropout;     /* the model's (shape.dropout) */
    int norm;           /* the model's (shape.norm) */
    double clip_norm, clip_value; /* the loop's gradient clipping */
    int64_t accumulate;           /* batches per step (0: 1) */
} scenario;

static const double CLASS_WEIGHT[3] = {1, 2, 0.5};

static const scenario SCENARIOS[] = {
    {{OL_LOSS_CROSS_ENTROPY, 0, NULL, 0, 1.0}, 3, 0, "adam", NULL, 0, 0, 0, 0, 0}, /* class ids */
    {{OL_LOSS_MSE, 0, NULL, 0, 1.0}, 3, 1, "nag", NULL, 0, 0, 0, 0, 0},            /* one-hot targets */
    {{OL_LOSS_BCE, 0, NULL, 0, 1.0}, 2, 0, "sgd", "momentum", 0, 0, 0, 0, 0},      /* one output, label - 1 */
    /* class ids, label smoothing and class weights */
    {{OL_LOSS_CROSS_ENTROPY, 0.1, CLASS_WEIGHT, 3, 1.0}, 3, 0, "adam", NULL, 0, 0, 0, 0, 0},
    {{OL_LOSS_HUBER, 0, NULL, 0, 0.5}, 3, 1, "nag", NULL, 0, 0, 0, 0, 0},        /* one-hot targets */
    /* dropout: a mask per step */
    {{OL_LOSS_CROSS_ENTROPY, 0, NULL, 0, 1.0}, 3, 0, "adam", NULL, 0.5, 0, 0, 0, 0},
    /* layer norm and dropout */
    {{OL_LOSS_CROSS_ENTROPY, 0, NULL, 0, 1.0}, 3, 0, "adam", NULL, 0.1, OL_LAYER_LAYER_NORM, 0, 0, 0},
    /* batch norm: the running estimates move */
    {{OL_LOSS_MSE, 0, NULL, 0, 1.0}, 3, 0, "sgd", "momentum", 0, OL_LAYER_BATCH_NORM, 0, 0, 0},
    /* gradient clipping: by the norm (small enough to clip), by value */
    {{OL_LOSS_CROSS_ENTROPY, 0, NULL, 0, 1.0}, 3, 0, "adam", NULL, 0, 0, 1e-3, 0, 0},
    {{OL_LOSS_MSE, 0, NULL, 0, 1.0}, 3, 1, "sgd", "momentum", 0, 0, 0, 1e-3, 0},
    /* gradient accumulation: two batches a step (the sum in its own buffer) */
    {{OL_LOSS_CROSS_ENTROPY, 0, NULL, 0, 1.0}, 3, 0, "nag", NULL, 0, 0, 1.0, 0, 2},
};

static void run_loop(const scenario *sc, ol_dtype dt, int threads) {
    ol_error err;
    const shape sh = threads > 1 ? LARGE : SMALL;
    const shape ms = {sh.in, sh.hidden, sc->loss.kind == OL_LOSS_BCE ? 1 : sc->classes, sc->dropout,
                      sc->norm};
    /* At two threads, 128 rows: the loss is cut from there (engine/nn/loss.c). */
    const int64_t batch = threads > 1 ? 128 : 16;
    ol_model *m = model_new(dt, ms);
    ol_dataset *train = dataset_new(TRAIN_N, sh.in, sc->classes);
    ol_dataset *valid = dataset_new(VALID_N, sh.in, sc->classes);
    ol_loader l;
    ol_loader_opts lo = {.batch_size = batch, .shuffle = 1, .balanced = sc->balanced};
    assert_int_equal(ol_loader_init(&l, train, &lo, &err), 0);
    ol_optim opt;
    const ol_optim_desc *d = ol_optim_find(sc->optim);
    assert_non_null(d);
    assert_int_equal(ol_optim_init(&opt, d, dt, ol_model_nparams(m), &err), 0);
    if (sc->option) assert_int_equal(ol_optim_set(&opt, sc->option, (double[]){0.9, 0}, &err), 0);
    if (threads > 1) assert_int_equal(ol_optim_step_parts(&opt), 2);

    const int64_t acc = sc->accumulate > 1 ? sc->accumulate : 1;
    watch w = {.batch_size = batch * acc, .val_ok = 1};
    ol_train_config c = {.model = m, .opt = &opt, .loader = &l, .loss = sc->loss,
                         .epochs = EPOCHS, .validate = valid, .every = 3, .grad_norm = 1,
                         .ctx = &w, .before_step = before_step, .on_batch = on_batch,
                         .on_step = on_step, .on_epoch = on_epoch,
                         .clip_grad_norm = sc->clip_norm, .clip_grad_value = sc->clip_value,
                         .accumulate = sc->accumulate};
    ol_train_state fin;
    const long start = count();
    if (ol_train_run(&c, &fin, &err)) fail_msg("ol_train_run: %s", err.msg);

    char what[96];
    snprintf(what, sizeof what, "%s on %s%s%s%s, %s, %d thread(s)", sc->optim, ol_loss_name(sc->loss.kind),
             sc->dropout > 0 ? " with dropout" : "", acc > 1 ? " accumulating" : "",
             sc->norm == OL_LAYER_LAYER_NORM ? " with layer norm"
             : sc->norm == OL_LAYER_BATCH_NORM ? " with batch norm" : "",
             ol_dtype_name(dt), threads);
    /* The loop did what the windows below rely on. */
    const int64_t per_epoch = ((TRAIN_N + batch - 1) / batch + acc - 1) / acc; /* steps */
    assert_int_equal(w.epochs_seen, EPOCHS);
    assert_int_equal(w.steps_seen, EPOCHS * per_epoch);
    assert_int_equal(w.hooks_seen, EPOCHS * per_epoch / 3);
    assert_int_equal(fin.samples, EPOCHS * TRAIN_N);
    assert_int_equal(opt.t, EPOCHS * per_epoch);
    assert_int_equal(w.short_batches, EPOCHS - 1);
    assert_true(w.val_ok);
    assert_true(isfinite(fin.loss));
    /* The run's own buffers are made at its start. */
    if (!(w.at_batch2 > start)) fail_msg("%s: the run allocated nothing at its start", what);
    if (w.at_last1 != w.at_batch2)
        fail_msg("%s: %ld allocations in steps 3..%lld of the first epoch", what,
                 w.at_last1 - w.at_batch2, (long long)per_epoch);
    if (w.at_epoch[EPOCHS] != w.at_epoch[1])
        fail_msg("%s: %ld allocations in epochs 2..%d (steps, validation and hooks)", what,
                 w.at_epoch[EPOCHS] - w.at_epoch[1], EPOCHS);

    /* The counter is live: another run makes its batch buffers again. */
    c.epochs = 1;
    c.validate = NULL;
    const long before = count();
    if (ol_train_run(&c, &fin, &err)) fail_msg("ol_train_run: %s", err.msg);
    if (!(count() > before)) fail_msg("%s: a new run was not seen to allocate", what);

    ol_optim_free(&opt);
    ol_loader_free(&l);
    ol_dataset_free(train);
    ol_dataset_free(valid);
    ol_model_free(m);
}

static void test_epochs_allocate_nothing(void **state) {
    (void)state;
    const int threads[] = {1, 2};
    for (int k = 0; k < 2; k++) {
        ol_set_threads(threads[k]);
        for (size_t s = 0; s < sizeof SCENARIOS / sizeof *SCENARIOS; s++) {
            run_loop(&SCENARIOS[s], OL_F32, threads[k]);
            run_loop(&SCENARIOS[s], OL_F64, threads[k]);
        }
    }
    ol_set_threads(1);
    ol_parallel_shutdown();
}

/* ---- 2. every optimizer's step ---- */

/* Option values set for one run: at most a few. */
typedef struct setting {
    const char *k;
    double v[2];
} setting;
#define MAX_SETTINGS 3
typedef struct variant {
    setting s[MAX_SETTINGS];
    int ns;
} variant;

/* Settings that the optimizers' rules accept only together; each covers
 * an option that is rejected on its own (see variants_of). */
static const struct {
    const char *optim;
    variant v;
} COMBINED[] = {
    {"sgd", {{{"momentum", {0.9, 0}}, {"nesterov", {1, 0}}}, 2}},
    {"sgd", {{{"momentum", {0.9, 0}}, {"dampening", {0.5, 0}}}, 2}},
    {"rmsprop", {{{"momentum", {0.9, 0}}, {"centered", {1, 0}}}, 2}},
    {"rmsprop", {{{"momentum", {0.9, 0}}, {"nesterov", {1, 0}}}, 2}},
};
#define NCOMBINED (sizeof COMBINED / sizeof *COMBINED)

/* Gives o the settings of v, an option that sizes the state (adagrad's
 * full_matrix) as construction gives it (ol_optim_set refuses a change of
 * one), the others as ol_optim_set does. 0 or -1 with err. */
static int construct(ol_optim *o, const variant *v, ol_error *err) {
    for (int i = 0; i < v->ns; i++) {
        const ol_optim_option *op = ol_optim_find_option(o->desc, v->s[i].k);
        if (!op) return ol_fail(err, "unknown option '%s'", v->s[i].k);
        if (!op->sizes_state) {
            if (ol_optim_set(o, v->s[i].k, v->s[i].v, err)) return -1;
            continue;
        }
        double vals[OL_OPTIM_MAXSLOTS];
        memcpy(vals, ol_optim_group_o(o, 0), sizeof vals);
        memcpy(vals + op->slot, v->s[i].v, sizeof(double) * (size_t)ol_optim_option_size(op));
        if (ol_optim_set_group_values(o, 0, vals, err)) return -1;
    }
    return 0;
}

static int accepted(const ol_optim_desc *d, const variant *v) {
    ol_error err;
    ol_optim o;
    if (ol_optim_init(&o, d, OL_F64, 1, &err)) fail_msg("%s: %s", d->name, err.msg);
    const int ok = construct(&o, v, &err) == 0;
    ol_optim_free(&o);
    return ok;
}

static int combined_sets(const char *optim, const char *key) {
    for (size_t c = 0; c < NCOMBINED; c++)
        if (strcmp(COMBINED[c].optim, optim) == 0)
            for (int i = 0; i < COMBINED[c].v.ns; i++)
                if (strcmp(COMBINED[c].v.s[i].k, key) == 0) return 1;
    return 0;
}

/* The variants of d, read from its options: the defaults; each boolean
 * flipped; each other choice of an enum; each number whose default is 0
 * (a momentum, a weight decay, a restart period) set to 0.5, or to 2 where
 * it must be an integer; then the combinations of COMBINED for d. A single
 * setting that d's rules reject must appear in a combination, so that no
 * option is left at its default unnoticed. */
#define MAX_VARIANTS 32
static int variants_of(const ol_optim_desc *d, variant *out) {
    int nv = 0;
    out[nv++] = (variant){.ns = 0};
    for (int i = 0; i < d->noptions; i++) {
        const ol_optim_option *op = &d->options[i];
        double tries[8];
        int nt = 0;
        if (op->type == OL_OPT_BOOL) {
            tries[nt++] = 1 - op->def[0];
        } else if (op->type == OL_OPT_ENUM) {
            for (int c = 0; op->choices[c]; c++)
                if (c != (int)op->def[0]) {
                    assert_true(nt < 8);
                    tries[nt++] = c;
                }
        } else if (op->type == OL_OPT_NUMBER && op->def[0] == 0) {
            variant half = {{{op->name, {0.5, 0}}}, 1};
            tries[nt++] = accepted(d, &half) ? 0.5 : 2;
        }
        for (int t = 0; t < nt; t++) {
            variant v = {{{op->name, {tries[t], 0}}}, 1};
            if (accepted(d, &v)) {
                assert_true(nv < MAX_VARIANTS);
                out[nv++] = v;
            } else if (!combined_sets(d->name, op->name)) {
                fail_msg("%s: option %s = %g is rejected on its own and no combination in "
                         "COMBINED sets it", d->name, op->name, tries[t]);
            }
        }
    }
    for (size_t c = 0; c < NCOMBINED; c++) {
        if (strcmp(COMBINED[c].optim, d->name) != 0) continue;
        if (!accepted(d, &COMBINED[c].v))
            fail_msg("%s: a combination of COMBINED is rejected", d->name);
        assert_true(nv < MAX_VARIANTS);
        out[nv++] = COMBINED[c].v;
    }
    return nv;
}

static void variant_str(const ol_optim_desc *d, const variant *v, char *buf, size_t size) {
    size_t at = 0;
    buf[0] = 0;
    if (v->ns == 0) snprintf(buf, size, "defaults");
    for (int i = 0; i < v->ns && at < size; i++) {
        const ol_optim_option *op = ol_optim_find_option(d, v->s[i].k);
        if (op && op->type == OL_OPT_ENUM)
            at += (size_t)snprintf(buf + at, size - at, "%s%s=%s", i ? " " : "", v->s[i].k,
                                   op->choices[(int)v->s[i].v[0]]);
        else
            at += (size_t)snprintf(buf + at, size - at, "%s%s=%g", i ? " " : "", v->s[i].k,
                                   v->s[i].v[0]);
    }
}


/* The model's parameter tensors, as the binding passes them: a matrix for
 * each 2-D weight, a vector for each other tensor. An optimizer with a
 * per-group rule choice (muon's use) gets two groups, the matrices in
 * group 1 under the choice in force and the vectors in group 2 with use =
 * "adamw"; any other optimizer, one group. 0, or -1 with err when the
 * optimizer refuses a tensor under its options. */
static int set_model_params(ol_optim *o, const ol_model *m, ol_error *err) {
    ol_optim_param p[16];
    int np = 0, nmat = 0;
    const ol_optim_option *use = ol_optim_find_option(o->desc, "use");
    for (int k = 0; k < ol_model_nparam_tensors(m); k++) {
        ol_param_info pi;
        ol_model_param_info(m, k, &pi);
        assert_true(np < 16);
        int64_t numel = 1;
        for (int d = 0; d < pi.ndim; d++) numel *= pi.shape[d];
        if (pi.ndim == 2) {
            p[np++] = (ol_optim_param){.offset = pi.offset, .rows = pi.shape[0],
                                       .cols = pi.shape[1], .matrix = 1};
            nmat++;
        } else {
            p[np++] = (ol_optim_param){.offset = pi.offset, .rows = 1, .cols = numel,
                                       .group = use ? 1 : 0};
        }
    }
    assert_true(nmat == 2);
    if (!use) return ol_optim_set_params(o, p, np, 1, err);
    /* Group 2 starts with group 1's options: adamw while the vectors join. */
    ol_optim_field f;
    const double chosen = o->groups[0].o[use->slot];
    const double adamw = ol_optim_enum_index(use, "adamw");
    assert_true(adamw >= 0);
    assert_int_equal(ol_optim_find_field(o->desc, "use", &f, err), 0);
    return ol_optim_group_set_field(o, -1, f, &adamw, err) ||
                   ol_optim_set_params(o, p, np, 2, err) ||
                   ol_optim_group_set_field(o, 0, f, &chosen, err)
               ? -1
               : 0;
}

#define WARMUP 2
#define COUNTED 5

/* Steps of a fused optimizer over the model's parameters, each with the
 * gradient at the point the optimizer asks for; returns the allocations
 * made by its own calls (prepare and step) in the COUNTED steps after
 * WARMUP. */
static long fused_run(ol_optim *o, net *t) {
    ol_error err;
    const int look = ol_optim_has_prepare(o);
    long n = 0;
    double loss = NAN;
    for (int s = 0; s < WARMUP + COUNTED; s++) {
        const long a0 = count();
        if (look && ol_optim_prepare(o, &t->w, &err)) fail_msg("prepare: %s", err.msg);
        const long a1 = count();
        net_move(t, s);
        if (net_eval(t, &loss, &err)) fail_msg("evaluate: %s", err.msg);
        const long a2 = count();
        if (ol_optim_step(o, &t->w, &t->g, loss, look, &err)) fail_msg("step: %s", err.msg);
        if (s >= WARMUP) n += (a1 - a0) + (count() - a2);
    }
    if (!isfinite(loss)) fail_msg("%s: the loss went non-finite", o->desc->name);
    return n;
}

/* Closures of the closure methods (second.h). */

/* Loss and gradient of a model at w, in double, as the binding's closure
 * over a model computes them (parameters written, evaluate, gradient
 * read); curvature products either from the methods' central differences
 * (bv NULL) or exact (net_bv), as the binding's closures over a model. */
static void net_write(net *t, const double *w) {
    const int64_t n = ol_tensor_numel(&t->w);
    void *pw = ol_tensor_data(&t->w);
    for (int64_t i = 0; i < n; i++) {
        if (t->w.dtype == OL_F32) ((float *)pw)[i] = (float)w[i];
        else ((double *)pw)[i] = w[i];
    }
}

static int net_fg(void *ud, const double *w, double *loss, double *g, ol_error *err) {
    net *t = ud;
    const int64_t n = ol_tensor_numel(&t->w);
    const int f32 = t->w.dtype == OL_F32;
    const void *pg = ol_tensor_data(&t->g);
    net_write(t, w);
    if (net_eval(t, loss, err)) return -1;
    for (int64_t i = 0; i < n; i++) g[i] = f32 ? ((const float *)pg)[i] : ((const double *)pg)[i];
    return 0;
}

/* Exact products of the model on the current batch (ol_model_curvature). */
static int net_bv(void *ud, const double *w, const double *v, double *out, int gauss_newton,
                  ol_error *err) {
    net *t = ud;
    net_write(t, w);
    return ol_model_curvature(t->m, t->xd + t->at * t->in, t->batch, OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY),
                              t->ids + t->at, NULL, v, out, gauss_newton, NULL, NULL, err);
}

/* f(w) = w.Aw/2 - b.w with A tridiagonal (i + 1 on the diagonal, 0.3 beside
 * it: positive definite) and b moved at every step, so that every step has
 * work left; exact products B v = A v for either matrix. */
#define QN 10
typedef struct quad {
    int k;
} quad;

static void quad_av(const double *v, double *out) {
    for (int i = 0; i < QN; i++)
        out[i] = (i + 1) * v[i] + (i > 0 ? 0.3 * v[i - 1] : 0) + (i + 1 < QN ? 0.3 * v[i + 1] : 0);
}

static int quad_fg(void *ud, const double *w, double *loss, double *g, ol_error *err) {
    const quad *q = ud;
    (void)err;
    quad_av(w, g);
    double f = 0;
    for (int i = 0; i < QN; i++) {
        const double b = sin(q->k + i);
        f += 0.5 * w[i] * g[i] - b * w[i];
        g[i] -= b;
    }
    *loss = f;
    return 0;
}

static void quad_move(void *ud, int s) { ((quad *)ud)->k = s; }
static void net_move_ud(void *ud, int s) { net_move(ud, s); }

static int quad_bv(void *ud, const double *w, const double *v, double *out, int gauss_newton,
                   ol_error *err) {
    (void)ud, (void)w, (void)gauss_newton, (void)err;
    quad_av(v, out);
    return 0;
}

/* Steps of a closure method, move(f->ud, s) giving step s its problem;
 * returns the allocations made in the COUNTED steps after WARMUP (the
 * closure's evaluations included: neither closure allocates). */
static long closure_run(ol_optim *o, const ol_closure *f, double *w, void (*move)(void *, int)) {
    ol_error err;
    long n = 0;
    double loss = NAN;
    for (int s = 0; s < WARMUP + COUNTED; s++) {
        move(f->ud, s);
        const long a0 = count();
        if (ol_optim_closure_step(o, w, f, &loss, &err)) fail_msg("closure step: %s", err.msg);
        if (s >= WARMUP) n += count() - a0;
    }
    if (!isfinite(loss)) fail_msg("%s: the loss went non-finite (%s)", o->desc->name, o->info);
    return n;
}

/* One optimizer in one variant: a fresh instance over a fresh model. */
/* Why optim_run returned -1: a variant the model's tensors refuse. */
static char skip_why[sizeof(ol_error)];

/* The allocations of one run, or -1 when the model has a tensor that the
 * variant's rule refuses (skip_why says which rule). */
static long optim_run(const ol_optim_desc *d, const variant *v, ol_dtype dt, int threads,
                      int blocks, int exact, int model_bv) {
    ol_error err;
    net t;
    ol_optim o;
    const int closure = d->kind == OL_OPTIM_CLOSURE;
    /* Closure methods work on small problems (newton forms the Hessian). */
    net_make(&t, dt, closure || threads == 1 ? SMALL : LARGE, closure ? 8 : 32);
    const int64_t np = ol_model_nparams(t.m);
    if (ol_optim_init(&o, d, dt, closure && exact ? QN : np, &err))
        fail_msg("%s: %s", d->name, err.msg);
    if (construct(&o, v, &err)) { /* the whole buffer refused (full_matrix on a large one) */
        snprintf(skip_why, sizeof skip_why, "%s", err.msg);
        ol_optim_free(&o);
        net_free(&t);
        return -1;
    }
    long n;
    if (!closure) {
        if (!d->step_f32 || !d->step_f64) fail_msg("%s has no kernel for f32 or f64", d->name);
        const ol_optim_option *use = ol_optim_find_option(d, "use");
        if (blocks && set_model_params(&o, t.m, &err)) {
            snprintf(skip_why, sizeof skip_why, "%s", err.msg);
            ol_optim_free(&o);
            net_free(&t);
            return -1;
        }
        if (blocks) {
        } else if (d->kind == OL_OPTIM_TENSOR && use) {
            /* no matrices known: the whole buffer is one adamw vector */
            const double adamw[2] = {ol_optim_enum_index(use, "adamw"), 0};
            if (ol_optim_set(&o, "use", adamw, &err)) fail_msg("%s: %s", d->name, err.msg);
        }
        if (threads > 1 && d->kind == OL_OPTIM_FUSED && ol_optim_step_parts(&o) != 2)
            fail_msg("%s: the step is not cut at 2 threads", d->name);
        n = fused_run(&o, &t);
    } else if (exact) {
        quad q = {0};
        ol_closure f = {.n = QN, .fg = quad_fg, .bv = quad_bv, .ud = &q};
        double w[QN] = {0};
        n = closure_run(&o, &f, w, quad_move);
    } else {
        double *w = malloc((size_t)np * sizeof *w);
        assert_non_null(w);
        for (int64_t i = 0; i < np; i++) w[i] = ol_tensor_get(&t.w, &i);
        ol_closure f = {.n = np, .fg = net_fg, .bv = model_bv ? net_bv : NULL, .ud = &t,
                        .eps = dt == OL_F32 ? FLT_EPSILON : 0};
        n = closure_run(&o, &f, w, net_move_ud);
        free(w);
    }
    ol_optim_free(&o);
    net_free(&t);
    return n;
}

static void check_optimizer(const ol_optim_desc *d, int threads) {
    variant v[MAX_VARIANTS];
    const int nv = variants_of(d, v);
    const int closure = d->kind == OL_OPTIM_CLOSURE;
    int runs = 0, skipped = 0;
    for (int i = 0; i < nv; i++)
        for (int k = 0; k < 2; k++) {
            const ol_dtype dt = k ? OL_F64 : OL_F32;
            /* Per-tensor optimizers run over the model's tensors and, at
             * use = "adamw", over the one vector of the whole buffer (no
             * matrices known); closure methods over a model and over a
             * quadratic with exact curvature products. */
            const int uses_blocks = d->kind == OL_OPTIM_TENSOR;
            for (int alt = 0; alt < 3; alt++) {
                if (alt && !closure && !(uses_blocks && v[i].ns == 0 && alt == 1)) continue;
                const int blocks = uses_blocks && !alt, exact = closure && alt == 1;
                const int model_bv = closure && alt == 2;
                const long n = optim_run(d, &v[i], dt, threads, blocks, exact, model_bv);
                if (n < 0) {
                    char vs[160];
                    variant_str(d, &v[i], vs, sizeof vs);
                    print_message("%s (%s, %s, %d thread(s)): skipped, the model's tensors are "
                                  "refused: %s\n",
                                  d->name, vs, ol_dtype_name(dt), threads, skip_why);
                    skipped++;
                    continue;
                }
                runs++;
                if (n != 0) {
                    char vs[160];
                    variant_str(d, &v[i], vs, sizeof vs);
                    fail_msg("%s (%s, %s%s%s, %d thread(s)): %ld allocations in %d steps after %d",
                             d->name, vs, ol_dtype_name(dt),
                             uses_blocks ? (blocks ? ", matrices" : ", no matrices") : "",
                             closure ? (exact      ? ", quadratic closure"
                                        : model_bv ? ", model closure, exact products"
                                                   : ", model closure")
                                     : "",
                             threads, n, COUNTED, WARMUP);
                }
            }
        }
    print_message("%-15s %2d variants, %3d runs at %d thread(s): no allocation%s\n", d->name, nv,
                  runs, threads, skipped ? " (some skipped, above)" : "");
    /* every variant runs on the small model at one thread */
    if (threads == 1 && skipped) fail_msg("%s: %d runs skipped on the small model", d->name, skipped);
}

static void test_optimizer_steps_allocate_nothing(void **state) {
    (void)state;
    const int threads[] = {1, 2};
    for (int k = 0; k < 2; k++) {
        ol_set_threads(threads[k]);
        int seen = 0;
        for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++, seen++)
            check_optimizer(*d, threads[k]);
        assert_true(seen > 0);
    }
    ol_set_threads(1);
    ol_parallel_shutdown();
}

/* lookahead (a wrapper, not in the registry) over inner optimizers of
 * each kind that ol.train drives, with k = 2 so that the counted steps
 * sync: its step (the inner's, then the slow-weight pass) allocates
 * nothing either. */
static void test_lookahead_steps_allocate_nothing(void **state) {
    (void)state;
    static const char *const inners[] = {"sgd", "adam", "nag", "sf_sgd", "muon"};
    for (int th = 1; th <= 2; th++) {
        ol_set_threads(th);
        for (size_t i = 0; i < sizeof inners / sizeof inners[0]; i++)
            for (int k = 0; k < 2; k++) {
                ol_error err;
                const ol_dtype dt = k ? OL_F64 : OL_F32;
                const ol_optim_desc *d = ol_optim_find(inners[i]);
                assert_non_null(d);
                net t;
                ol_optim in, la;
                net_make(&t, dt, th == 1 ? SMALL : LARGE, 32);
                const int64_t np = ol_model_nparams(t.m);
                if (ol_optim_init(&in, d, dt, np, &err)) fail_msg("%s: %s", d->name, err.msg);
                if (strcmp(inners[i], "sgd") == 0)
                    assert_int_equal(ol_optim_set(&in, "momentum", (double[]){0.9, 0}, &err), 0);
                if (set_model_params(&in, t.m, &err)) fail_msg("%s: %s", d->name, err.msg);
                assert_int_equal(ol_optim_init(&la, &ol_optim_lookahead, dt, np, &err), 0);
                assert_int_equal(ol_optim_set(&la, "k", (double[]){2, 0}, &err), 0);
                if (ol_optim_wrap(&la, &in, &t.w, &err)) fail_msg("wrap: %s", err.msg);
                if (th > 1 && d->kind == OL_OPTIM_FUSED && ol_optim_step_parts(&la) != 2)
                    fail_msg("lookahead(%s): the step is not cut at 2 threads", d->name);
                const long n = fused_run(&la, &t);
                if (n != 0)
                    fail_msg("lookahead(%s) (%s, %d thread(s)): %ld allocations in %d steps after %d",
                             d->name, ol_dtype_name(dt), th, n, COUNTED, WARMUP);
                assert_true(la.t == WARMUP + COUNTED && in.t == la.t);
                ol_optim_free(&la);
                ol_optim_free(&in);
                net_free(&t);
            }
        print_message("lookahead over %d inner optimizers at %d thread(s): no allocation\n",
                      (int)(sizeof inners / sizeof inners[0]), th);
    }
    ol_set_threads(1);
    ol_parallel_shutdown();
}

/* The counter sees an optimizer's allocations: a closure method's memory
 * is made at its first step, and again when an option sizes it anew
 * (hessian_free's cg_iters raised, lbfgs's history_size changed); a matrix
 * optimizer's scratch is made with its parameter tensors. */
static void test_counter_is_live(void **state) {
    (void)state;
    ol_error err;
    ol_set_threads(1);
    quad q = {0};
    ol_closure f = {.n = QN, .fg = quad_fg, .bv = quad_bv, .ud = &q};
    const struct {
        const char *optim, *option;
        double value;
    } resized[] = {{"hessian_free", "cg_iters", 80}, {"lbfgs", "history_size", 7}};
    for (int i = 0; i < 2; i++) {
        const char *name = resized[i].optim;
        const ol_optim_desc *d = ol_optim_find(name);
        double w[QN] = {0}, loss;
        ol_optim o;
        assert_non_null(d);
        assert_int_equal(ol_optim_init(&o, d, OL_F64, QN, &err), 0);
        long a = count();
        q.k = 0;
        assert_int_equal(ol_optim_closure_step(&o, w, &f, &loss, &err), 0);
        if (!(count() > a)) fail_msg("%s: its first step was not seen to allocate", name);
        q.k = 1;
        a = count();
        assert_int_equal(ol_optim_closure_step(&o, w, &f, &loss, &err), 0);
        if (count() != a) fail_msg("%s: its second step allocated", name);
        const double v[2] = {resized[i].value, 0};
        assert_int_equal(ol_optim_set(&o, resized[i].option, v, &err), 0);
        q.k = 2;
        a = count();
        assert_int_equal(ol_optim_closure_step(&o, w, &f, &loss, &err), 0);
        if (!(count() > a))
            fail_msg("%s: a step after %s changed was not seen to allocate", name,
                     resized[i].option);
        ol_optim_free(&o);
    }

    net t;
    ol_optim o;
    net_make(&t, OL_F32, SMALL, 8);
    const ol_optim_desc *muon = ol_optim_find("muon");
    assert_non_null(muon);
    assert_int_equal(ol_optim_init(&o, muon, OL_F32, ol_model_nparams(t.m), &err), 0);
    const long a = count();
    if (set_model_params(&o, t.m, &err)) fail_msg("set_params: %s", err.msg);
    assert_true(count() > a);
    ol_optim_free(&o);
    net_free(&t);
}

int main(void) {
    ol_rng_seed(42);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_is_live),
        cmocka_unit_test(test_epochs_allocate_nothing),
        cmocka_unit_test(test_optimizer_steps_allocate_nothing),
        cmocka_unit_test(test_lookahead_steps_allocate_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
