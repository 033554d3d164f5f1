/* The nn kernels' declarations for T (core/generic.h); nn/kernels.h says
 * what they are. All arrays are row-major and contiguous; n is the batch
 * (rows). */

/* An activation y = f(u), u = pre + bias, to take the gradient through:
 * dz = dy * f'(u) and db (+)= column sums of dz (db may be NULL).
 * db_groups, needed with db: scratch of ceil(n / OL_GROUP_ROWS) rows of
 * the full width; db is summed per group of rows there and over the
 * groups in order after, so the product can be cut along its rows with
 * the same bits on any number of threads. */
typedef struct S(ol_act_grad) {
    ol_act act;
    double slope;
    const T *pre, *bias, *y;
    T *dz, *db;
    int accumulate;
    T *db_groups;
} S(ol_act_grad);

/* z = x W^T (no bias); W is out x in. */
void S(ol_linear_forward)(int64_t n, int64_t in, int64_t out, const T *x, const T *w, T *z);
/* z = x W^T and y = f(z + b), each part of z as soon as it is made. */
void S(ol_linear_act_forward)(int64_t n, int64_t in, int64_t out, const T *x, const T *w,
                              const T *b, ol_act a, double slope, T *z, T *y);
/* dW (+)= dz^T x; dx = dz W unless dx is NULL. */
void S(ol_linear_backward)(int64_t n, int64_t in, int64_t out, const T *x, const T *w,
                           const T *dz, T *dx, T *dw, int accumulate);
/* The same, when x = f(u) came out of an activation: each part of dx is
 * then carried through it at once (ol_act_backward's dx and db, given in
 * *before). */
void S(ol_linear_backward_act)(int64_t n, int64_t in, int64_t out, const T *x, const T *w,
                               const T *dz, T *dx, T *dw, int accumulate,
                               const S(ol_act_grad) *before);
/* z += b on every row (linear without a fused activation). */
void S(ol_bias_forward)(int64_t n, int64_t w, T *z, const T *b);
/* db (+)= column sums of dz. */
void S(ol_bias_backward)(int64_t n, int64_t w, const T *dz, T *db, int accumulate);

/* y = f(u), u = pre + bias (bias per column, may be NULL). */
void S(ol_act_forward)(ol_act a, double slope, int64_t n, int64_t w, const T *pre, const T *bias,
                       T *y);
/* The same on an n x w block of rows ld apart. */
void S(ol_act_forward_ld)(ol_act a, double slope, int64_t n, int64_t w, int64_t ld, const T *pre,
                          const T *bias, T *y);
/* dx = dy * f'(u); db (+)= column sums of dx when db is not NULL. */
void S(ol_act_backward)(ol_act a, double slope, int64_t n, int64_t w, const T *pre, const T *bias,
                        const T *y, const T *dy, T *dx, T *db, int accumulate);
void S(ol_act_backward_ld)(ol_act a, double slope, int64_t n, int64_t w, int64_t ld,
                           const T *pre, const T *bias, const T *y, const T *dy, T *dx, T *db,
                           int accumulate);
/* dx += dy * f''(u) * ru: the term of an activation's R-backward that its
 * second derivative makes (rop.c); nothing for the piecewise-linear ones. */
void S(ol_act_backward2)(ol_act a, double slope, int64_t n, int64_t w, const T *pre,
                         const T *bias, const T *y, const T *dy, const T *ru, T *dx);

/* Loss L (its options checked: ol_loss_check) of y (n x c) against ids
 * (0-based, in range) or dense t; writes dloss/dy into dy and returns the
 * loss. */
double S(ol_loss)(const ol_loss_spec *L, int64_t n, int64_t c, const T *y, const int32_t *ids,
                  const T *t, T *dy);
/* The same, cut into blocks of rows over the pool, with the same bits:
 * groups is scratch of ceil(n / OL_GROUP_ROWS) doubles. */
double S(ol_loss_cut)(const ol_loss_spec *L, int64_t n, int64_t c, const T *y, const int32_t *ids,
                      const T *t, T *dy, double *groups);
/* hv = H v, H the Hessian of ol_loss's loss (the mean) with respect to y,
 * v and hv n x c (y, ids, t as ol_loss): the R-operator's loss step. */
void S(ol_loss_hv)(const ol_loss_spec *L, int64_t n, int64_t c, const T *y, const int32_t *ids,
                   const T *t, const T *v, T *hv);

/* Inverted dropout over count elements (dropout.c): y = x * mask / (1 - p),
 * the mask (1 kept, 0 dropped) drawn from key and written to mask. */
void S(ol_dropout_forward)(int64_t count, uint64_t key, double p, const T *x, uint8_t *mask,
                           T *y);
/* dx = dy * mask / (1 - p). */
void S(ol_dropout_backward)(int64_t count, double p, const uint8_t *mask, const T *dy, T *dx);

/* Normalisation layers (norm.c). stats holds 2 k doubles: k means, then k
 * reciprocal standard deviations rstd = 1 / sqrt(var + eps), k the rows
 * (layer norm) or the features (batch norm); the backward pass reads what
 * the forward pass wrote there. gamma and beta are NULL without affine
 * parameters; dgamma and dbeta are then NULL too, and are written (or
 * added to, with accumulate) otherwise. sums: scratch of 2 w doubles.
 * xhat = (x - mean) rstd, y = xhat gamma + beta. */
/* Layer norm over each of n rows of w features (biased variance). */
void S(ol_layer_norm_forward)(int64_t n, int64_t w, double eps, const T *x, const T *gamma,
                              const T *beta, double *stats, T *y);
/* dx = rstd (g - mean(g) - xhat mean(g xhat)) per row, g = dy gamma;
 * dgamma (+)= column sums of dy xhat, dbeta (+)= column sums of dy. */
void S(ol_layer_norm_backward)(int64_t n, int64_t w, const T *x, const T *gamma,
                               const double *stats, const T *dy, T *dx, T *dgamma, T *dbeta,
                               int accumulate, double *sums);
/* Batch norm over n rows for each of w features: with batch (training
 * mode, n > 1), the batch's mean and biased variance, and the running
 * estimates rmean, rvar updated with momentum (unbiased variance); without,
 * the running estimates. */
void S(ol_batch_norm_forward)(int64_t n, int64_t w, double eps, double momentum, int batch,
                              const T *x, const T *gamma, const T *beta, T *rmean, T *rvar,
                              double *stats, T *y);
/* With batch: dx = gamma rstd (dy - mean(dy) - xhat mean(dy xhat)), the
 * means over the rows; without: dx = dy gamma rstd. dgamma, dbeta as for
 * layer norm. */
void S(ol_batch_norm_backward)(int64_t n, int64_t w, int batch, const T *x, const T *gamma,
                               const double *stats, const T *dy, T *dx, T *dgamma, T *dbeta,
                               int accumulate, double *sums);
