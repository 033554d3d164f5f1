/* Correct counts and evaluation over a dataset (see metrics.h). */
#include "train/metrics.h"

#include <stdlib.h>

#include "core/parallel.h"

#define OL_GENERIC "train/generic/metrics.h"
#include "core/generic.h"

/* A batch is counted in parts over the pool from 2 x COUNT_MIN_ROWS rows,
 * each part its own rows into its own slot. */
#define COUNT_MIN_ROWS 256

typedef struct count_job {
    const void *y;
    int64_t out;
    const int32_t *ids;
    ol_dtype dt;
    int binary;
    int64_t counts[OL_PARALLEL_MAXPARTS];
} count_job;

static void count_part(void *ctx, int64_t lo, int64_t hi, int part) {
    count_job *j = ctx;
    j->counts[part] = OL_DT_CALL(j->dt, count_rows, j->y, j->out, j->ids, j->binary, lo, hi);
}

int64_t ol_count_correct(const ol_model *m, const ol_batch *b) {
    int64_t rows;
    count_job j = {ol_model_output(m, &rows), ol_model_out_features(m), b->ids,
                   ol_model_dtype(m), b->form == OL_TARGET_BINARY, {0}};
    ol_parallel_for(b->n, 1, COUNT_MIN_ROWS, count_part, &j);
    int64_t correct = 0;
    for (int k = 0; k < OL_PARALLEL_MAXPARTS; k++) correct += j.counts[k];
    return correct;
}

int ol_train_target(const ol_model *m, ol_loss_kind loss, int64_t d, int32_t classes,
                    ol_target_form *form, ol_error *err) {
    if (d != ol_model_in_features(m))
        return ol_fail(err, "the data have %lld features but the model takes %lld", (long long)d,
                       (long long)ol_model_in_features(m));
    return ol_target_of_labels(loss, ol_model_out_features(m), classes, form, err);
}

void ol_evaluator_free(ol_evaluator *ev) {
    ol_batch_free(&ev->batch);
    free(ev->idx);
    ev->idx = NULL;
}

int ol_evaluator_fit(ol_evaluator *ev, const ol_dataset *ds, int64_t chunk, ol_dtype dt,
                         ol_target_form form, int64_t width, ol_error *err) {
    const ol_batch *b = &ev->batch;
    if (ev->idx && b->rows >= chunk && b->d == ds->d && b->dtype == dt && b->form == form &&
        (form == OL_TARGET_IDS || b->width == width))
        return 0;
    ol_evaluator_free(ev);
    ev->idx = malloc((size_t)chunk * sizeof *ev->idx);
    if (!ev->idx) return ol_fail(err, "out of memory for a batch of %lld rows", (long long)chunk);
    if (ol_batch_init(&ev->batch, ds, chunk, dt, err) ||
        ol_batch_set_target(&ev->batch, form, width, err)) {
        ol_evaluator_free(ev);
        return -1;
    }
    return 0;
}

double ol_chunk_count(const ol_loss_spec *loss, const ol_batch *b) {
    if (!(loss->kind == OL_LOSS_CROSS_ENTROPY && loss->weight && b->target.ids)) return (double)b->n;
    double dn = 0;
    for (int64_t i = 0; i < b->n; i++) dn += loss->weight[b->target.ids[i]];
    return dn;
}

int ol_evaluate_rows(ol_model *m, const ol_dataset *ds, const ol_loss_spec *loss, int64_t chunk,
                     int64_t begin, int64_t end, ol_evaluator *ev, double *loss_sum,
                     double *count_sum, int64_t *correct, ol_error *err) {
    ol_target_form form;
    *loss_sum = 0;
    *count_sum = 0;
    *correct = 0;
    if (ol_train_target(m, loss->kind, ds->d, ds->classes, &form, err)) return -1;
    if (end <= begin) return 0;
    if (chunk > end - begin) chunk = end - begin;
    if (ol_model_reserve(m, chunk, err) ||
        ol_evaluator_fit(ev, ds, chunk, ol_model_dtype(m), form, ol_model_out_features(m), err))
        return -1;
    ol_batch *b = &ev->batch;
    double total = 0, count = 0;
    int64_t ok = 0;
    const int mode = ol_model_training(m);
    ol_model_set_training(m, 0);
    for (int64_t start = begin; start < end; start += chunk) {
        const int64_t n = end - start < chunk ? end - start : chunk;
        double l;
        for (int64_t i = 0; i < n; i++) ev->idx[i] = start + i;
        ol_batch_gather(b, ds, ev->idx, n, NULL, 0);
        if (ol_model_forward(m, b->x, n, err) || ol_model_loss(m, loss, &b->target, &l, err)) {
            ol_model_set_training(m, mode);
            return -1;
        }
        const double dn = ol_chunk_count(loss, b);
        total += dn > 0 ? l * dn : 0; /* a chunk of weight 0 adds nothing (its mean is NaN) */
        count += dn;
        ok += ol_count_correct(m, b);
    }
    ol_model_set_training(m, mode);
    *loss_sum = total;
    *count_sum = count;
    *correct = ok;
    return 0;
}

int ol_train_evaluate(ol_model *m, const ol_dataset *ds, const ol_loss_spec *loss, int64_t chunk,
                      double *mean_loss, double *accuracy, ol_error *err) {
    if (chunk < 1) return ol_fail(err, "chunk must be >= 1");
    if (ds->n == 0) return ol_fail(err, "the data set is empty");
    ol_evaluator ev = {0};
    double total, count;
    int64_t correct;
    const int rc = ol_evaluate_rows(m, ds, loss, chunk, 0, ds->n, &ev, &total, &count, &correct, err);
    ol_evaluator_free(&ev);
    if (rc) return -1;
    *mean_loss = total / count;
    *accuracy = (double)correct / (double)ds->n;
    return 0;
}
