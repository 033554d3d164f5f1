/* What a model scores on data: the correct predictions of a batch, and the
 * mean loss and accuracy over a dataset, read in chunks through a batch
 * (data/batch.h) as training reads its batches.
 *
 * A prediction is the class of the largest output (the first of equal
 * ones; NaN never wins), or, for a model of one output trained on two
 * classes (bce), the second class when the output (a logit) is above 0. */
#ifndef OL_TRAIN_METRICS_H
#define OL_TRAIN_METRICS_H

#include <stdint.h>

#include "data/batch.h"
#include "nn/nn.h"

/* The rows of b whose prediction by the model's last forward (of b) is
 * their class id: the accuracy's numerator. Cut over the worker pool for a
 * large batch; an integer count, so the same at every thread count. */
int64_t ol_count_correct(const ol_model *m, const ol_batch *b);

/* The target form loss takes from data of d features and labels
 * 1..classes on m: the target rule of nn.h, once the features match. */
int ol_train_target(const ol_model *m, ol_loss_kind loss, int64_t d, int32_t classes,
                    ol_target_form *form, ol_error *err);

/* An evaluation's batch and its row indices, made at its first use and
 * kept while the chunks, dataset and loss stay alike (so repeated
 * validation allocates nothing). Zero-initialise; free with
 * ol_evaluator_free. */
typedef struct ol_evaluator {
    ol_batch batch;
    int64_t *idx;
} ol_evaluator;
void ol_evaluator_free(ol_evaluator *ev);
/* Makes ev hold chunk rows of ds in dt with the target in form (width
 * values per row when dense), unless it does already. */
int ol_evaluator_fit(ol_evaluator *ev, const ol_dataset *ds, int64_t chunk, ol_dtype dt,
                     ol_target_form form, int64_t width, ol_error *err);
/* The count the mean loss of batch b divides by: its rows, or for
 * cross_entropy with class weights the sum of its rows' class weights. */
double ol_chunk_count(const ol_loss_spec *loss, const ol_batch *b);

/* Sums over rows [begin, end) of ds, chunk rows at a time through ev, in
 * evaluation mode (the model's mode found is restored, also after a
 * failure): of
 * the loss times the count its mean divides by (loss_sum), of that count
 * (count_sum: the rows, or for cross_entropy with class weights the sum of
 * the rows' class weights, so that loss_sum / count_sum is the loss's
 * mean over all the rows), and of the correct predictions. */
int ol_evaluate_rows(ol_model *m, const ol_dataset *ds, const ol_loss_spec *loss, int64_t chunk,
                     int64_t begin, int64_t end, ol_evaluator *ev, double *loss_sum,
                     double *count_sum, int64_t *correct, ol_error *err);

/* Mean loss and accuracy of the model over ds, in chunks of `chunk` rows
 * (the model's workspaces grow to that size once). */
int ol_train_evaluate(ol_model *m, const ol_dataset *ds, const ol_loss_spec *loss, int64_t chunk,
                      double *mean_loss, double *accuracy, ol_error *err);

#endif
