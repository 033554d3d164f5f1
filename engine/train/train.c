/* The epoch loop (see train.h). One step is: gather the batch from the
 * dataset into a buffer made once, turn its labels into the loss's target,
 * move the weights to the optimizer's evaluation point if it has one (nag's
 * lookahead), forward + loss + backward into the model's flat gradient,
 * check for non-finite values, then one optimizer step over the flat
 * parameter buffer. */
#include "train.h"

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

/* Predictions of the last forward that match the labels of the batch. */
static int64_t count_correct(const ol_model *m, const ol_dataset *ds, const int64_t *idx,
                             int64_t n, target_mode mode) {
    int64_t rows, out = ol_model_out_features(m), correct = 0;
    const void *y = ol_model_output(m, &rows);
    int f32 = ol_model_dtype(m) == OL_F32;
    for (int64_t i = 0; i < n; i++) {
        int32_t label = ol_dataset_label(ds, idx[i]) - 1, pred = 0;
        if (mode == TARGET_BINARY) {
            double v = f32 ? ((const float *)y)[i] : ((const double *)y)[i];
            pred = v > 0;
        } else {
            double best = -INFINITY;
            for (int64_t j = 0; j < out; j++) {
                double v = f32 ? ((const float *)y)[i * out + j] : ((const double *)y)[i * out + j];
                if (v > best) { best = v; pred = (int32_t)j; }
            }
        }
        correct += pred == label;
    }
    return correct;
}

static double sum_squares(const ol_tensor *g) {
    int64_t n = ol_tensor_numel(g);
    double s = 0;
    if (g->dtype == OL_F32) {
        const float *p = ol_tensor_data(g);
        for (int64_t i = 0; i < n; i++) s += (double)p[i] * p[i];
    } else {
        const double *p = ol_tensor_data(g);
        for (int64_t i = 0; i < n; i++) s += p[i] * p[i];
    }
    return s;
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

int ol_train_evaluate(ol_model *m, const ol_dataset *ds, ol_loss_kind loss, int64_t chunk,
                      double *mean_loss, double *accuracy, ol_error *err) {
    target_mode mode;
    buffers b;
    if (chunk < 1) return ol_fail(err, "chunk must be >= 1");
    if (ds->n == 0) return ol_fail(err, "the data set is empty");
    if (choose_target(m, ds, loss, &mode, err)) return -1;
    if (chunk > ds->n) chunk = ds->n;
    if (ol_model_reserve(m, chunk, err)) return -1;
    if (buffers_make(&b, m, chunk, ds->d, mode, 1, err)) return -1;
    double total = 0;
    int64_t correct = 0;
    int rc = 0;
    for (int64_t start = 0; start < ds->n && rc == 0; start += chunk) {
        int64_t n = ds->n - start < chunk ? ds->n - start : chunk;
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
        correct += count_correct(m, ds, b.idx, n, mode);
    }
    buffers_free(&b);
    if (rc) return -1;
    *mean_loss = total / (double)ds->n;
    *accuracy = (double)correct / (double)ds->n;
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

    memset(&s, 0, sizeof s);
    s.epochs = c->epochs;
    s.batches = ol_loader_num_batches(l);
    s.step = c->opt->t;
    s.val_loss = s.val_accuracy = s.grad_norm = NAN;
    double t0 = now();
    int64_t run_steps = 0;

    for (int64_t epoch = 1; epoch <= c->epochs && !stop && rc == 0; epoch++) {
        double loss_sum = 0;
        int64_t seen = 0, correct = 0;
        const int64_t *idx;
        int64_t n;
        s.epoch = epoch;
        s.batch = 0;
        s.epoch_loss = s.epoch_accuracy = NAN;
        ol_loader_start_epoch(l);
        while (!stop && rc == 0 && (n = ol_loader_next_indices(l, &idx)) > 0) {
            int64_t t = c->opt->t + 1;
            if (c->before_step && (rc = verdict(c->before_step(c->ctx, t), &stop, err))) break;
            if (stop) break;
            ol_dataset_gather(ds, idx, n, ol_model_dtype(m), b.x, NULL);
            int32_t *ids = NULL;
            if (mode == TARGET_IDS && !(ids = ol_model_id_buffer(m, n, err))) { rc = -1; break; }
            ol_target target;
            make_target(m, ds, idx, n, mode, ids, b.dense, &target);

            int lookahead = ol_optim_has_prepare(c->opt);
            if (lookahead && ol_optim_prepare(c->opt, &w, err)) { rc = -1; break; }
            double loss;
            if (ol_model_evaluate(m, b.x, n, c->loss, &target, &loss, err)) { rc = -1; break; }
            int want_norm = c->grad_norm || t % c->every == 0 || c->on_nonfinite != OL_NONFINITE_ERROR;
            double gnorm = want_norm ? sqrt(sum_squares(&g)) : NAN;
            if (!isfinite(loss) || (want_norm && !isfinite(gnorm))) {
                if (c->on_nonfinite == OL_NONFINITE_ERROR) {
                    rc = ol_fail(err, "non-finite %s at step %lld (epoch %lld, batch %lld)",
                                 isfinite(loss) ? "gradient" : "loss", (long long)t,
                                 (long long)epoch, (long long)(s.batch + 1));
                    break;
                }
                if (c->on_nonfinite == OL_NONFINITE_STOP) { stop = 1; break; }
                /* skip: no step. An optimizer with a lookahead (nag) has
                 * already moved w to its evaluation point; finishing its
                 * step with a zero gradient leaves w where a step would
                 * (w - momentum*p), so the skipped batch counts as a step
                 * with zero gradient there (documented). */
                if (lookahead) {
                    ol_fill_(&g, 0);
                    if (ol_optim_step(c->opt, &w, &g, NAN, 1, err)) { rc = -1; break; }
                }
                s.batch++;
                continue;
            }
            if (ol_optim_step(c->opt, &w, &g, loss, lookahead, err)) { rc = -1; break; }

            int64_t ok = count_correct(m, ds, idx, n, mode);
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
            if (want_norm) s.grad_norm = gnorm;
            s.elapsed = now() - t0;
            s.samples_per_s = s.elapsed > 0 ? (double)s.samples / s.elapsed : 0;
            if (c->on_batch && (rc = verdict(c->on_batch(c->ctx, &s), &stop, err))) break;
            if (c->on_step && s.step % c->every == 0 &&
                (rc = verdict(c->on_step(c->ctx, &s), &stop, err)))
                break;
            if (c->max_steps > 0 && run_steps >= c->max_steps) stop = 1;
        }
        if (rc) break;
        if (c->validate && !(stop && s.batch == 0)) {
            if (ol_train_evaluate(m, c->validate, c->loss, rows < 1024 ? 1024 : rows, &s.val_loss,
                                  &s.val_accuracy, err)) {
                rc = -1;
                break;
            }
        }
        s.elapsed = now() - t0;
        if (c->on_epoch) rc = verdict(c->on_epoch(c->ctx, &s), &stop, err);
    }
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    buffers_free(&b);
    if (final) *final = s;
    return rc;
}
