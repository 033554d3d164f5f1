/* The loss at many points of parameter space over a dataset (see
 * landscape.h). */
#include "train/landscape.h"

#include <stdlib.h>
#include <string.h>

#include "train/metrics.h"

/* The model's parameters at k0 v0 + k1 v1 + k2 v2, summed in double left
 * to right and rounded once, as ol_model_span_forward sets the others. */
static void set_point(ol_model *m, const void *const v[3], const double *k) {
    ol_tensor p;
    ol_model_params(m, &p);
    const int64_t n = ol_model_nparams(m);
    void *dst = ol_tensor_data(&p);
    for (int64_t j = 0; j < n; j++) {
        double s = 0;
        for (int i = 0; i < 3; i++) {
            if (!v[i]) continue;
            const double x = ol_model_dtype(m) == OL_F32 ? (double)((const float *)v[i])[j]
                                                         : ((const double *)v[i])[j];
            s = i == 0 ? k[0] * x : s + k[i] * x;
        }
        if (ol_model_dtype(m) == OL_F32) ((float *)dst)[j] = (float)s;
        else ((double *)dst)[j] = s;
    }
    ol_tensor_release(&p);
}

int ol_landscape_evaluate(ol_model *m, const ol_dataset *ds, const ol_loss_spec *loss,
                          int64_t chunk, const void *const v[3], int64_t npoints, const double *k,
                          double *losses, double *accuracies, ol_error *err) {
    ol_target_form form;
    if (chunk < 1) return ol_fail(err, "chunk must be >= 1");
    if (ds->n == 0) return ol_fail(err, "the data set is empty");
    if (npoints < 1) return ol_fail(err, "no points to evaluate");
    if (!v[0]) return ol_fail(err, "no parameter vector");
    if (ol_loss_check(loss, ol_model_out_features(m), err) ||
        ol_train_target(m, loss->kind, ds->d, ds->classes, &form, err))
        return -1;
    if (chunk > ds->n) chunk = ds->n;
    const int fast = ol_model_span_ok(m);
    const int64_t np = ol_model_nparams(m);
    const size_t es = ol_dtype_size(ol_model_dtype(m));
    ol_evaluator ev = {0};
    double *sums = calloc((size_t)npoints * 2, sizeof *sums);
    int64_t *correct = calloc((size_t)npoints, sizeof *correct);
    void *saved = malloc((size_t)np * es);
    void *q = fast ? malloc((size_t)ol_model_span_size(m, chunk) * es) : NULL;
    if (!sums || !correct || !saved || (fast && !q)) {
        free(sums), free(correct), free(saved), free(q);
        return ol_fail(err, "out of memory for a landscape of %lld points", (long long)npoints);
    }
    ol_tensor params;
    ol_model_params(m, &params);
    memcpy(saved, ol_tensor_data(&params), (size_t)np * es);
    /* A vector that is the parameter buffer itself (net:params()) is read
     * from the copy, since the points are written there. */
    const void *vs[3];
    for (int i = 0; i < 3; i++) vs[i] = v[i] == ol_tensor_data(&params) ? saved : v[i];
    v = vs;
    const int mode = ol_model_training(m);
    ol_model_set_training(m, 0);
    int rc = ol_model_reserve(m, chunk, err) ||
             ol_evaluator_fit(&ev, ds, chunk, ol_model_dtype(m), form, ol_model_out_features(m), err);
    ol_batch *b = &ev.batch;
    for (int64_t start = 0; !rc && start < ds->n; start += chunk) {
        const int64_t n = ds->n - start < chunk ? ds->n - start : chunk;
        for (int64_t i = 0; i < n; i++) ev.idx[i] = start + i;
        ol_batch_gather(b, ds, ev.idx, n, NULL, 0);
        const double dn = ol_chunk_count(loss, b);
        if (fast) rc = ol_model_span_products(m, b->x, n, v, q, err);
        for (int64_t p = 0; !rc && p < npoints; p++) {
            double l;
            if (fast) {
                rc = ol_model_span_forward(m, b->x, n, v, q, k + 3 * p, err);
            } else {
                set_point(m, v, k + 3 * p);
                rc = ol_model_forward(m, b->x, n, err);
            }
            if (!rc) rc = ol_model_loss(m, loss, &b->target, &l, err);
            if (rc) break;
            sums[2 * p] += dn > 0 ? l * dn : 0; /* as ol_evaluate_rows sums */
            sums[2 * p + 1] += dn;
            correct[p] += ol_count_correct(m, b);
        }
    }
    memcpy(ol_tensor_data(&params), saved, (size_t)np * es);
    ol_tensor_release(&params);
    ol_model_set_training(m, mode);
    for (int64_t p = 0; !rc && p < npoints; p++) {
        losses[p] = sums[2 * p] / sums[2 * p + 1];
        accuracies[p] = (double)correct[p] / (double)ds->n;
    }
    ol_evaluator_free(&ev);
    free(sums), free(correct), free(saved), free(q);
    return rc ? -1 : 0;
}
