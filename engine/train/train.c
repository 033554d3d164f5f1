/* The epoch loop (see train.h). One step is: gather the batch from the
 * dataset into a buffer made once, turn its labels into the loss's target,
 * move the weights to the optimizer's evaluation point if it has one (nag's
 * lookahead), forward + loss + backward into the model's flat gradient,
 * check for non-finite values, then one optimizer step over the flat
 * parameter buffer. Distributed runs (train.h) add, between backward and
 * the check, the weighted allreduce of the gradient and of the batch's
 * loss and correct count; the weighting by n_r / m makes the result the
 * gradient of the mean over the whole global batch, as one process with
 * batch size * batch_size computes it (up to summation order), also when
 * the last global batch is split unevenly. */
#include "train.h"

#include "dist.h"
#include "parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* How a dataset's class labels become the loss's target. */
typedef enum target_mode {
    TARGET_IDS,    /* cross_entropy: 0-based class ids */
    TARGET_ONEHOT, /* mse / bce with one output per class */
    TARGET_BINARY  /* bce with one output and two classes: label - 1 */
} target_mode;

static int choose_target(const ol_model *m, const ol_dataset *ds, ol_loss_kind loss,
                         target_mode *mode, ol_error *err) {
    int64_t out = ol_model_out_features(m);
    if (ds->classes <= 0)
        return ol_fail(err, "the data set has no class labels to train on");
    if (ds->d != ol_model_in_features(m))
        return ol_fail(err, "the data have %lld features but the model takes %lld",
                       (long long)ds->d, (long long)ol_model_in_features(m));
    if (loss == OL_LOSS_CROSS_ENTROPY) {
        if (ds->classes > out)
            return ol_fail(err, "the data have %d classes but the model has %lld outputs",
                           (int)ds->classes, (long long)out);
        *mode = TARGET_IDS;
    } else if (loss == OL_LOSS_BCE && out == 1 && ds->classes == 2) {
        *mode = TARGET_BINARY;
    } else if (out == ds->classes) {
        *mode = TARGET_ONEHOT;
    } else {
        return ol_fail(err, "%s on class labels needs one output per class (%d), the model has %lld",
                       ol_loss_name(loss), (int)ds->classes, (long long)out);
    }
    return 0;
}

/* Fills the target of a batch from its samples' labels. */
static void make_target(ol_model *m, const ol_dataset *ds, const int64_t *idx, int64_t n,
                        target_mode mode, int32_t *ids, void *dense, ol_target *t) {
    int64_t out = ol_model_out_features(m);
    ol_dtype dt = ol_model_dtype(m);
    memset(t, 0, sizeof *t);
    if (mode == TARGET_IDS) {
        for (int64_t i = 0; i < n; i++) ids[i] = ol_dataset_label(ds, idx[i]) - 1;
        t->ids = ids;
        return;
    }
    int64_t width = mode == TARGET_BINARY ? 1 : out;
    for (int64_t i = 0; i < n; i++) {
        int32_t c = ol_dataset_label(ds, idx[i]) - 1;
        for (int64_t j = 0; j < width; j++) {
            double v = mode == TARGET_BINARY ? (double)c : (double)(j == c);
            if (dt == OL_F32) ((float *)dense)[i * width + j] = (float)v;
            else ((double *)dense)[i * width + j] = v;
        }
    }
    t->dense = dense;
}

/* The index of the largest of c values (the first of equal ones; NaN never
 * wins; 0 when none is above -inf). Written with selects rather than
 * branches: which class wins is data, so a branch was mispredicted about
 * once a row (42 us of a 5.8 ms batch-1024 step in the training loop's
 * phase timings, 32 us after; the cut below took it to 3.5 us). */
#define ARGMAX(T, NAME)                                            \
    static int32_t NAME(const T *restrict v, int64_t c) {          \
        T best = -INFINITY;                                        \
        int32_t at = 0;                                            \
        for (int64_t j = 0; j < c; j++) {                          \
            const int more = v[j] > best;                          \
            at = more ? (int32_t)j : at;                           \
            best = more ? v[j] : best;                             \
        }                                                          \
        return at;                                                 \
    }
ARGMAX(float, argmax_f32)
ARGMAX(double, argmax_f64)

/* Predictions of the last forward that match the labels of the batch,
 * cut over the pool from 2 x COUNT_MIN_ROWS rows (each part counts its own
 * rows; integer counts add up the same in any order). The labels come from
 * ids (0-based, the loss's targets) when given, else from the data set. */
#define COUNT_MIN_ROWS 256

typedef struct count_job {
    const ol_dataset *ds;
    const int64_t *idx;
    const int32_t *ids;
    target_mode mode;
    const void *y;
    int64_t out;
    int f32;
    int64_t counts[OL_PARALLEL_MAXPARTS];
} count_job;

static void count_part(void *ctx, int64_t lo, int64_t hi, int part) {
    count_job *j = ctx;
    const int64_t out = j->out;
    int64_t correct = 0;
    for (int64_t i = lo; i < hi; i++) {
        int32_t label = j->ids ? j->ids[i] : ol_dataset_label(j->ds, j->idx[i]) - 1, pred;
        if (j->mode == TARGET_BINARY)
            pred = j->f32 ? ((const float *)j->y)[i] > 0 : ((const double *)j->y)[i] > 0;
        else
            pred = j->f32 ? argmax_f32((const float *)j->y + i * out, out)
                          : argmax_f64((const double *)j->y + i * out, out);
        correct += pred == label;
    }
    j->counts[part] = correct;
}

static int64_t count_correct(const ol_model *m, const ol_dataset *ds, const int64_t *idx,
                             int64_t n, target_mode mode, const int32_t *ids) {
    int64_t rows;
    count_job j = {ds, idx, ids, mode, ol_model_output(m, &rows), ol_model_out_features(m),
                   ol_model_dtype(m) == OL_F32, {0}};
    ol_parallel_for(n, 1, COUNT_MIN_ROWS, count_part, &j);
    int64_t correct = 0;
    for (int k = 0; k < OL_PARALLEL_MAXPARTS; k++) correct += j.counts[k];
    return correct;
}

/* Partial sums in a fixed order: one running sum is a chain of dependent
 * adds (about 4 cycles per element; in perf 9% of a batch-128 step and 23%
 * of a batch-1 step, bench/RESULTS.md). Four vectors of 8 doubles
 * (GCC/Clang vector extensions, so that the accumulators stay in
 * registers) give 32 independent chains; the result still depends on the
 * data alone. */
#if defined(__GNUC__)
typedef double sumsq_v8 __attribute__((vector_size(64)));
#define SUM_SQUARES(T, NAME)                                                  \
    static double NAME(const T *restrict p, int64_t n) {                      \
        sumsq_v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                      \
        int64_t i = 0;                                                        \
        for (; i + 32 <= n; i += 32) {                                        \
            typedef T in8 __attribute__((vector_size(8 * sizeof(T))));        \
            in8 y0, y1, y2, y3; /* unaligned loads */                         \
            memcpy(&y0, p + i, sizeof y0);                                    \
            memcpy(&y1, p + i + 8, sizeof y1);                                \
            memcpy(&y2, p + i + 16, sizeof y2);                               \
            memcpy(&y3, p + i + 24, sizeof y3);                               \
            sumsq_v8 x0 = __builtin_convertvector(y0, sumsq_v8);              \
            sumsq_v8 x1 = __builtin_convertvector(y1, sumsq_v8);              \
            sumsq_v8 x2 = __builtin_convertvector(y2, sumsq_v8);              \
            sumsq_v8 x3 = __builtin_convertvector(y3, sumsq_v8);              \
            a0 += x0 * x0;                                                    \
            a1 += x1 * x1;                                                    \
            a2 += x2 * x2;                                                    \
            a3 += x3 * x3;                                                    \
        }                                                                     \
        double s = 0;                                                         \
        for (; i < n; i++) s += (double)p[i] * (double)p[i];                  \
        for (int k = 0; k < 8; k++) s += (a0[k] + a1[k]) + (a2[k] + a3[k]);   \
        return s;                                                             \
    }
#else
#define SUM_SQUARES(T, NAME)                                                  \
    static double NAME(const T *restrict p, int64_t n) {                      \
        double s = 0;                                                         \
        for (int64_t i = 0; i < n; i++) s += (double)p[i] * (double)p[i];     \
        return s;                                                             \
    }
#endif
SUM_SQUARES(float, sum_squares_f32)
SUM_SQUARES(double, sum_squares_f64)

/* fn_f32 or fn_f64 over n elements of type dt from p. */
#define BY_DTYPE(fn, dt, p, n) \
    ((dt) == OL_F32 ? fn##_f32((const float *)(p), n) : fn##_f64((const double *)(p), n))
/* ... over the elements of the contiguous tensor g. */
#define OVER_ELEMENTS(fn, g) BY_DTYPE(fn, (g)->dtype, ol_tensor_data(g), ol_tensor_numel(g))

/* 1 if every element is finite. x * 0 is 0 for a finite x and NaN for
 * ±Inf and NaN, so a sum of such products is NaN exactly when an element
 * is not finite, and it cannot overflow. No conversions and one stream:
 * about a third of the cost of sum_squares, which only the steps whose
 * norm is reported pay (bench/RESULTS.md). 16-lane vectors, four
 * accumulators; the scalar tail joins the same sum. */
#if defined(__GNUC__)
#define ALL_FINITE(T, NAME)                                                   \
    static int NAME(const T *restrict p, int64_t n) {                         \
        typedef T vec __attribute__((vector_size(64)));                       \
        enum { L = 64 / sizeof(T) };                                          \
        vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, x0, x1, x2, x3;           \
        int64_t i = 0;                                                        \
        for (; i + 4 * L <= n; i += 4 * L) {                                  \
            memcpy(&x0, p + i, sizeof x0); /* unaligned loads */              \
            memcpy(&x1, p + i + L, sizeof x1);                                \
            memcpy(&x2, p + i + 2 * L, sizeof x2);                            \
            memcpy(&x3, p + i + 3 * L, sizeof x3);                            \
            a0 += x0 * 0;                                                     \
            a1 += x1 * 0;                                                     \
            a2 += x2 * 0;                                                     \
            a3 += x3 * 0;                                                     \
        }                                                                     \
        T s = 0;                                                              \
        for (; i < n; i++) s += p[i] * 0;                                     \
        a0 += a1 + a2 + a3;                                                   \
        for (int k = 0; k < L; k++) s += a0[k];                               \
        return s == 0;                                                        \
    }
#else
#define ALL_FINITE(T, NAME)                                                   \
    static int NAME(const T *restrict p, int64_t n) {                         \
        T s = 0;                                                              \
        for (int64_t i = 0; i < n; i++) s += p[i] * 0;                        \
        return s == 0;                                                        \
    }
#endif
ALL_FINITE(float, all_finite_f32)
ALL_FINITE(double, all_finite_f64)

/* all_finite cut over the threads as the optimizer's step will be
 * (ol_optim_step_parts): each core then reads the part of the gradient it
 * is about to update, which stays in its cache for the update, instead of
 * the caller pulling every line in first. A step that is not cut gets a
 * check that is not cut. Each part reports in its own slot. */
typedef struct finite_job {
    const ol_tensor *g;
    int ok[OL_PARALLEL_MAXPARTS];
} finite_job;

static void finite_part(void *p, int64_t begin, int64_t end, int part) {
    finite_job *j = p;
    const char *base = (const char *)ol_tensor_data(j->g) + (size_t)begin * ol_dtype_size(j->g->dtype);
    j->ok[part] = BY_DTYPE(all_finite, j->g->dtype, base, end - begin);
}

int ol_train_grads_finite(const ol_optim *opt, const ol_tensor *g) {
    if (ol_optim_step_parts(opt) < 2) return OVER_ELEMENTS(all_finite, g);
    finite_job j = {.g = g};
    for (int k = 0; k < OL_PARALLEL_MAXPARTS; k++) j.ok[k] = 1;
    ol_parallel_for(ol_tensor_numel(g), OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, finite_part, &j);
    for (int k = 0; k < OL_PARALLEL_MAXPARTS; k++)
        if (!j.ok[k]) return 0;
    return 1;
}

/* Batch buffers of one run, made once. */
typedef struct buffers {
    void *x;       /* rows x d, model dtype */
    void *dense;   /* rows x out (one-hot targets), model dtype, or NULL */
    int64_t *idx;  /* evaluation: rows sample indices */
} buffers;

static void buffers_free(buffers *b) {
    free(b->x);
    free(b->dense);
    free(b->idx);
}

static int buffers_make(buffers *b, const ol_model *m, int64_t rows, int64_t d,
                        target_mode mode, int with_idx, ol_error *err) {
    size_t es = ol_dtype_size(ol_model_dtype(m));
    memset(b, 0, sizeof *b);
    b->x = malloc((size_t)(rows * d) * es);
    if (mode != TARGET_IDS) b->dense = malloc((size_t)(rows * ol_model_out_features(m)) * es);
    if (with_idx) b->idx = malloc((size_t)rows * sizeof *b->idx);
    if (!b->x || (mode != TARGET_IDS && !b->dense) || (with_idx && !b->idx)) {
        buffers_free(b);
        return ol_fail(err, "out of memory for a batch of %lld rows", (long long)rows);
    }
    return 0;
}

/* Sums of the loss (times rows) and of the correct predictions over rows
 * [begin, end) of ds, in chunks of `chunk` rows. */
static int evaluate_rows(ol_model *m, const ol_dataset *ds, ol_loss_kind loss, int64_t chunk,
                         int64_t begin, int64_t end, double *loss_sum, int64_t *correct_sum,
                         ol_error *err) {
    target_mode mode;
    buffers b;
    *loss_sum = 0;
    *correct_sum = 0;
    if (choose_target(m, ds, loss, &mode, err)) return -1;
    if (end <= begin) return 0;
    if (chunk > end - begin) chunk = end - begin;
    if (ol_model_reserve(m, chunk, err)) return -1;
    if (buffers_make(&b, m, chunk, ds->d, mode, 1, err)) return -1;
    double total = 0;
    int64_t correct = 0;
    int rc = 0;
    for (int64_t start = begin; start < end && rc == 0; start += chunk) {
        int64_t n = end - start < chunk ? end - start : chunk;
        for (int64_t i = 0; i < n; i++) b.idx[i] = start + i;
        ol_dataset_gather(ds, b.idx, n, ol_model_dtype(m), b.x, NULL);
        int32_t *ids = mode == TARGET_IDS ? ol_model_id_buffer(m, n, err) : NULL;
        if (mode == TARGET_IDS && !ids) { rc = -1; break; }
        ol_target t;
        double l;
        if (ol_model_forward(m, b.x, n, err)) { rc = -1; break; }
        make_target(m, ds, b.idx, n, mode, ids, b.dense, &t);
        if (ol_model_loss(m, loss, &t, &l, err)) { rc = -1; break; }
        total += l * (double)n;
        correct += count_correct(m, ds, b.idx, n, mode, ids);
    }
    buffers_free(&b);
    if (rc) return -1;
    *loss_sum = total;
    *correct_sum = correct;
    return 0;
}

int ol_train_evaluate(ol_model *m, const ol_dataset *ds, ol_loss_kind loss, int64_t chunk,
                      double *mean_loss, double *accuracy, ol_error *err) {
    double total;
    int64_t correct;
    if (chunk < 1) return ol_fail(err, "chunk must be >= 1");
    if (ds->n == 0) return ol_fail(err, "the data set is empty");
    if (evaluate_rows(m, ds, loss, chunk, 0, ds->n, &total, &correct, err)) return -1;
    *mean_loss = total / (double)ds->n;
    *accuracy = (double)correct / (double)ds->n;
    return 0;
}

/* Distributed validation: rank r evaluates the r-th of `size` contiguous
 * slices of the rows, one allreduce adds the sums up. */
static int evaluate_sharded(ol_model *m, const ol_dataset *ds, ol_loss_kind loss, int64_t chunk,
                            double *mean_loss, double *accuracy, double *comm, ol_error *err) {
    int64_t size = ol_dist_size(), rank = ol_dist_rank();
    int64_t q = (ds->n + size - 1) / size;
    int64_t begin = rank * q < ds->n ? rank * q : ds->n;
    int64_t end = begin + q < ds->n ? begin + q : ds->n;
    double sums[2];
    int64_t correct;
    if (ds->n == 0) return ol_fail(err, "the data set is empty");
    if (evaluate_rows(m, ds, loss, chunk, begin, end, &sums[0], &correct, err)) return -1;
    sums[1] = (double)correct; /* exact up to 2^53 samples */
    double t0 = now();
    if (ol_dist_allreduce(sums, 2, OL_F64, OL_DIST_SUM, err)) return -1;
    *comm += now() - t0;
    *mean_loss = sums[0] / (double)ds->n;
    *accuracy = sums[1] / (double)ds->n;
    return 0;
}

static int check_config(const ol_train_config *c, ol_error *err) {
    if (!c->model || !c->opt || !c->loader) return ol_fail(err, "model, optimizer and data are required");
    if (c->epochs < 1) return ol_fail(err, "epochs must be >= 1, got %lld", (long long)c->epochs);
    if (c->every < 1) return ol_fail(err, "every must be >= 1, got %lld", (long long)c->every);
    if (c->opt->dtype != ol_model_dtype(c->model))
        return ol_fail(err, "the optimizer is %s but the model is %s", ol_dtype_name(c->opt->dtype),
                       ol_dtype_name(ol_model_dtype(c->model)));
    if (c->opt->n != ol_model_nparams(c->model))
        return ol_fail(err, "the optimizer holds %lld parameters but the model has %lld",
                       (long long)c->opt->n, (long long)ol_model_nparams(c->model));
    if (c->validate && c->validate->d != ol_model_in_features(c->model))
        return ol_fail(err, "the validation data have %lld features but the model takes %lld",
                       (long long)c->validate->d, (long long)ol_model_in_features(c->model));
    return 0;
}

/* A callback's verdict r: 0 go on, 1 stop (sets *stop), -1 abort (fails). */
static int verdict(int r, int *stop, ol_error *err) {
    if (r < 0) return ol_fail(err, "stopped by a callback");
    if (r > 0) *stop = 1;
    return 0;
}

/* Forward, loss and backward of one batch (idx, n rows) into the model's
 * flat gradient; *loss is the batch mean, *ok the correct predictions. */
static int batch_gradient(ol_model *m, const ol_loader *l, ol_loss_kind kind, target_mode mode,
                          buffers *b, const int64_t *idx, int64_t n, double *loss, int64_t *ok,
                          ol_error *err) {
    const ol_dataset *ds = l->ds;
    const int64_t *next;
    const int64_t n_next = ol_loader_peek_shard(l, &next);
    ol_dataset_gather_ahead(ds, idx, n, ol_model_dtype(m), b->x, NULL, next, n_next);
    int32_t *ids = NULL;
    if (mode == TARGET_IDS && !(ids = ol_model_id_buffer(m, n, err))) return -1;
    ol_target target;
    make_target(m, ds, idx, n, mode, ids, b->dense, &target);
    if (ol_model_evaluate(m, b->x, n, kind, &target, loss, err)) return -1;
    *ok = count_correct(m, ds, idx, n, mode, ids);
    return 0;
}

/* Distributed: turns this rank's mean gradient g over its n of the global
 * batch's m samples into the gradient of the global mean, sum over ranks
 * of (n_r / m) g_r, and the loss and correct count into the global batch's;
 * *n becomes m. An empty slice contributes zeros. */
static int reduce_batch(ol_tensor *g, int64_t *n, int64_t m, double *loss, int64_t *ok,
                        double *comm, ol_error *err) {
    double t0 = now(), sums[2] = {*n > 0 ? *loss * (double)*n : 0, (double)*ok};
    if (*n == 0) ol_fill_(g, 0);
    else if (*n != m) ol_binary_scalar_(OL_MUL, g, (double)*n / (double)m);
    if (ol_dist_allreduce_tensor(g, OL_DIST_SUM, err) ||
        ol_dist_allreduce(sums, 2, OL_F64, OL_DIST_SUM, err))
        return -1;
    *comm += now() - t0;
    *loss = sums[0] / (double)m;
    *ok = (int64_t)sums[1];
    *n = m;
    return 0;
}

int ol_train_run(const ol_train_config *c, ol_train_state *final, ol_error *err) {
    ol_model *m = c->model;
    ol_loader *l = c->loader;
    const ol_dataset *ds = l->ds;
    target_mode mode;
    buffers b;
    ol_tensor w = {0}, g = {0};
    ol_train_state s;
    int rc = 0, stop = 0;

    if (check_config(c, err) || choose_target(m, ds, c->loss, &mode, err)) return -1;
    int64_t rows = l->opts.batch_size < ds->n ? l->opts.batch_size : ds->n;
    if (rows < 1) return ol_fail(err, "the data set is empty");
    if (buffers_make(&b, m, rows, ds->d, mode, 0, err)) return -1;
    if (ol_model_reserve(m, rows, err)) { buffers_free(&b); return -1; }
    ol_model_params(m, &w);
    ol_model_grads(m, &g);
    /* An optimizer with a lookahead (nag) moves w before the gradient is
     * computed; a copy of w from before the move lets a non-finite batch
     * leave the parameters exactly as the last good step left them. */
    ol_tensor backup = {0};
    int lookahead = ol_optim_has_prepare(c->opt);
    if (lookahead && ol_tensor_clone(&w, &backup, err)) {
        ol_tensor_release(&w);
        ol_tensor_release(&g);
        buffers_free(&b);
        return -1;
    }
    size_t wbytes = (size_t)ol_tensor_numel(&w) * ol_dtype_size(w.dtype);
    /* Distributed: every rank starts from rank 0's weights, reads its shard. */
    int dist = 0;
    double comm = 0;
    if (c->distributed) {
        double t1 = now();
        if (ol_dist_init(err) || ol_dist_broadcast_tensor(&w, 0, err) ||
            ol_loader_set_shard(l, ol_dist_rank(), ol_dist_size(), err))
            rc = -1;
        dist = ol_dist_size() > 1;
        comm += now() - t1;
    }

    memset(&s, 0, sizeof s);
    s.epochs = c->epochs;
    s.batches = ol_loader_num_batches(l);
    s.step = c->opt->t;
    s.val_loss = s.val_accuracy = s.grad_norm = NAN;
    s.comm_time = c->distributed ? comm : NAN;
    double t0 = now();
    int64_t run_steps = 0;

    for (int64_t epoch = 1; epoch <= c->epochs && !stop && rc == 0; epoch++) {
        double loss_sum = 0;
        int64_t seen = 0, correct = 0;
        const int64_t *idx;
        int64_t n, global;
        s.epoch = epoch;
        s.batch = 0;
        s.epoch_loss = s.epoch_accuracy = NAN;
        ol_loader_start_epoch(l);
        if (dist) { /* rank 0's order, whatever the other ranks' RNGs did */
            double t1 = now();
            if ((rc = ol_dist_broadcast_bytes(l->order, (size_t)ds->n * sizeof *l->order, 0, err)))
                break;
            comm += now() - t1;
        }
        while (!stop && rc == 0 && (n = ol_loader_next_shard(l, &idx, &global), global > 0)) {
            int64_t t = c->opt->t + 1;
            if (c->before_step && (rc = verdict(c->before_step(c->ctx, t), &stop, err))) break;
            if (stop) break;

            if (lookahead) memcpy(ol_tensor_data(&backup), ol_tensor_data(&w), wbytes);
            if (lookahead && ol_optim_prepare(c->opt, &w, err)) { rc = -1; break; }
            double loss = 0;
            int64_t ok = 0;
            if (n > 0 && batch_gradient(m, l, c->loss, mode, &b, idx, n, &loss, &ok, err)) {
                rc = -1;
                break;
            }
            if (dist && reduce_batch(&g, &n, global, &loss, &ok, &comm, err)) { rc = -1; break; }
            /* A NaN in the gradient must be caught at every step, whatever
             * on_nonfinite says; the norm is taken where it is reported:
             * at on_step's steps, the last batch of an epoch (on_epoch and
             * the epoch log line), the last step of the run, or every step
             * with grad_norm = true. */
            int report = c->grad_norm || t % c->every == 0 || s.batch + 1 >= s.batches ||
                         (c->max_steps > 0 && run_steps + 1 >= c->max_steps);
            double gnorm = report ? sqrt(OVER_ELEMENTS(sum_squares, &g)) : NAN;
            /* At batch 1 the model shows it from the factors of the
             * gradient (nn.h), saving a pass; the allreduce of a
             * distributed run brings in other ranks' values. */
            int grads_ok = (!dist && ol_model_grads_known_finite(m)) || ol_train_grads_finite(c->opt, &g);
            if (!isfinite(loss) || !grads_ok) {
                /* No step: undo the lookahead move, so that w and the
                 * optimizer's state are those of the last good step. */
                if (lookahead) memcpy(ol_tensor_data(&w), ol_tensor_data(&backup), wbytes);
                if (c->on_nonfinite == OL_NONFINITE_ERROR) {
                    rc = ol_fail(err, "non-finite %s at step %lld (epoch %lld, batch %lld)",
                                 isfinite(loss) ? "gradient" : "loss", (long long)t,
                                 (long long)epoch, (long long)(s.batch + 1));
                    break;
                }
                if (c->on_nonfinite == OL_NONFINITE_STOP) {
                    s.nonfinite_stop = 1;
                    stop = 1;
                    break;
                }
                s.skipped++; /* skip: the batch counts, no step is taken */
                s.batch++;
                continue;
            }
            if (ol_optim_step(c->opt, &w, &g, loss, lookahead, err)) { rc = -1; break; }

            correct += ok;
            loss_sum += loss * (double)n;
            seen += n;
            run_steps++;
            s.batch++;
            s.step = c->opt->t;
            s.samples += n;
            s.loss = loss;
            s.accuracy = (double)ok / (double)n;
            s.epoch_loss = loss_sum / (double)seen;
            s.epoch_accuracy = (double)correct / (double)seen;
            s.grad_norm = gnorm;
            s.elapsed = now() - t0;
            s.samples_per_s = s.elapsed > 0 ? (double)s.samples / s.elapsed : 0;
            if (c->distributed) s.comm_time = comm;
            if (c->on_batch && (rc = verdict(c->on_batch(c->ctx, &s), &stop, err))) break;
            if (c->on_step && s.step % c->every == 0 &&
                (rc = verdict(c->on_step(c->ctx, &s), &stop, err)))
                break;
            if (c->max_steps > 0 && run_steps >= c->max_steps) stop = 1;
        }
        if (rc) break;
        if (c->validate && !(stop && s.batch == 0)) {
            int64_t chunk = rows < 1024 ? 1024 : rows;
            if (dist ? evaluate_sharded(m, c->validate, c->loss, chunk, &s.val_loss,
                                        &s.val_accuracy, &comm, err)
                     : ol_train_evaluate(m, c->validate, c->loss, chunk, &s.val_loss,
                                         &s.val_accuracy, err)) {
                rc = -1;
                break;
            }
        }
        s.elapsed = now() - t0;
        if (c->distributed) s.comm_time = comm;
        if (c->on_epoch) rc = verdict(c->on_epoch(c->ctx, &s), &stop, err);
    }
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_tensor_release(&backup);
    if (c->distributed) ol_loader_set_shard(l, 0, 1, NULL); /* (0, 1) cannot fail */
    buffers_free(&b);
    if (final) *final = s;
    return rc;
}
