/* Loss landscapes: the mean loss and accuracy of a model over a dataset at
 * many points of parameter space, for ol.landscape's lines and planes
 * (Goodfellow et al. 2015; Li et al. 2018).
 *
 * A point is w = k0 v0 + k1 v1 + k2 v2 for three flat parameter vectors
 * (v1, v2 may be NULL, standing for zero): a plane through a centre c is
 * v = {c, d1, d2}, k = {1, a, b}; the segment from w_a to w_b is
 * v = {w_a, w_b, NULL}, k = {1 - t, t, 0}. */
#ifndef OL_TRAIN_LANDSCAPE_H
#define OL_TRAIN_LANDSCAPE_H

#include <stdint.h>

#include "data/dataset.h"
#include "nn/nn.h"

/* losses[p] and accuracies[p], p < npoints, at the points whose
 * coefficients are k[3p], k[3p + 1], k[3p + 2]: the values ol_train_evaluate
 * gives with the parameters set to the point (same chunks, same sums), in
 * evaluation mode. The rows are read chunk rows at a time, once for all
 * the points. When the model's first layer is linear, its products are
 * made once per chunk (nn.h: ol_model_span_products) and a point costs
 * the rest of the forward pass; otherwise each point sets the parameters
 * and runs the whole forward pass. The model's parameters and mode are
 * as they were afterwards, bit for bit, also after a failure. v[i]: the
 * model's dtype, nparams values each, apart from the parameter buffer or
 * the parameter buffer itself (read from a copy). */
int ol_landscape_evaluate(ol_model *m, const ol_dataset *ds, const ol_loss_spec *loss,
                          int64_t chunk, const void *const v[3], int64_t npoints, const double *k,
                          double *losses, double *accuracies, ol_error *err);

#endif
