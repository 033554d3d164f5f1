/* Models: sequential stacks of linear layers and activations, their losses
 * and initialisers.
 *
 * A model owns ONE flat parameter buffer and ONE flat gradient buffer
 * (ol_storage, so that tensors can share them); every layer's weight and
 * bias are views into them, weights stored out x in (row-major) as
 * torch.nn.Linear, each weight followed by its bias. Forward and backward
 * run over workspaces sized for the largest batch seen so far: after the
 * first step at that size, forward + loss + backward allocate nothing.
 *
 * Conventions as in core/tensor.h: 0-based, 0 / -1 with an ol_error filled.
 * Inputs and dense targets are contiguous row-major arrays in the model's
 * dtype (float for OL_F32, double for OL_F64). */
#ifndef OL_NN_H
#define OL_NN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

/* ---- activations (engine/nn/activation.c) ---- */
typedef enum ol_act {
    OL_ACT_IDENTITY,
    OL_ACT_RELU,
    OL_ACT_LEAKY_RELU, /* max(0,u) + slope * min(0,u) */
    OL_ACT_TANH,
    OL_ACT_SIGMOID,
    OL_ACT_GELU, /* exact: u * Phi(u) = u/2 (1 + erf(u/sqrt 2)), torch's default */
    OL_ACT_SILU, /* u * sigmoid(u) (torch.nn.SiLU) */
    OL_ACT_ELU,  /* u if u > 0 else exp(u) - 1 (torch.nn.ELU, alpha = 1) */
    OL_ACT_SOFTPLUS /* log(1 + exp(u)), u above 20 (torch.nn.Softplus, beta 1, threshold 20) */
} ol_act;
#define OL_ACT_COUNT (OL_ACT_SOFTPLUS + 1) /* the number of activations */

const char *ol_act_name(ol_act a);
int ol_act_parse(const char *name, ol_act *a); /* 0 ok, -1 unknown */

/* ---- losses (engine/nn/loss.c) ---- */
typedef enum ol_loss_kind {
    OL_LOSS_CROSS_ENTROPY, /* log-softmax + NLL, mean over the batch */
    OL_LOSS_MSE,           /* mean over all elements of (y - t)^2 */
    OL_LOSS_BCE,           /* binary cross-entropy with logits, mean over all */
    OL_LOSS_HUBER          /* torch.nn.HuberLoss, mean over all elements */
} ol_loss_kind;
#define OL_LOSS_COUNT (OL_LOSS_HUBER + 1) /* the number of losses */

const char *ol_loss_name(ol_loss_kind k);
int ol_loss_parse(const char *name, ol_loss_kind *k);

/* A loss with its options, as torch.nn.CrossEntropyLoss and HuberLoss
 * take them (the formulas: generic/loss.h). */
typedef struct ol_loss_spec {
    ol_loss_kind kind;
    double label_smoothing; /* cross_entropy: epsilon in [0, 1]; 0: none */
    const double *weight;   /* cross_entropy: one finite weight >= 0 per class
                             * (nweight = the model's outputs), or NULL */
    int64_t nweight;
    double delta;           /* huber: > 0 */
} ol_loss_spec;
/* kind with the default options: no smoothing, no weight, delta 1. */
#define OL_LOSS_PLAIN(k) (&(const ol_loss_spec){(k), 0.0, NULL, 0, 1.0})
/* Checks l's options for a model of c outputs: the kind known, smoothing in
 * [0, 1], weight (cross_entropy only) of c finite values >= 0, delta > 0;
 * -1 with the message naming the option otherwise. */
int ol_loss_check(const ol_loss_spec *l, int64_t c, ol_error *err);

/* A target: class ids (0-based, cross_entropy only) or a dense n x out
 * array in the model's dtype (one-hot / probabilities for cross_entropy). */
typedef struct ol_target {
    const int32_t *ids;
    const void *dense;
} ol_target;

/* ---- the target rule (engine/nn/model.c) ----
 * Class labels are 1..C; on a model of `out` outputs a loss takes them as
 *
 *   cross_entropy (C <= out)      OL_TARGET_IDS     the class ids, 0-based:
 *                                                   label - 1
 *   bce, one output, two classes  OL_TARGET_BINARY  one value per row:
 *                                                   label - 1
 *   mse or bce, out = C           OL_TARGET_ONEHOT  a row of out values:
 *                                                   1 at label - 1, else 0
 *
 * and nothing else. A target given as values shaped like the output is
 * OL_TARGET_DENSE. The loader turns a dataset's labels into these forms
 * (data/batch.h); the bindings read a caller's targets by the same rule. */
typedef enum ol_target_form {
    OL_TARGET_IDS,
    OL_TARGET_ONEHOT,
    OL_TARGET_BINARY,
    OL_TARGET_DENSE
} ol_target_form;

/* The form loss kind takes from labels 1..classes (0: unlabelled) on a
 * model of out outputs; -1 when there is none. */
int ol_target_of_labels(ol_loss_kind kind, int64_t out, int32_t classes, ol_target_form *form,
                        ol_error *err);
/* The form of a target given for n rows of out outputs: a list of len
 * class ids (t NULL), or the tensor t. Class ids (a list, n values, or
 * n x 1 when out > 1) are OL_TARGET_IDS and for cross_entropy only;
 * values shaped like the output (n x out, or n values when out is 1) are
 * OL_TARGET_DENSE. -1 otherwise, the message naming the shapes kind takes.
 * The values themselves are not read (ol_target_class_id checks an id). */
int ol_target_of_given(ol_loss_kind kind, int64_t n, int64_t out, const ol_tensor *t, int64_t len,
                       ol_target_form *form, ol_error *err);
/* The 0-based id of class label v (row: 0-based, for the message): v must
 * be a whole number in 1..classes. */
int ol_target_class_id(double v, int64_t row, int64_t classes, int32_t *id, ol_error *err);

/* ---- model (engine/nn/model.c) ----
 * A norm layer must come after the first linear layer (normalise the data
 * themselves otherwise). */
typedef enum ol_layer_kind {
    OL_LAYER_LINEAR,
    OL_LAYER_ACT,
    OL_LAYER_DROPOUT, /* inverted dropout (dropout.c); no parameters */
    OL_LAYER_LAYER_NORM, /* over each row's features (norm.c) */
    OL_LAYER_BATCH_NORM  /* over the batch, per feature, with running estimates (norm.c) */
} ol_layer_kind;

typedef struct ol_layer_spec {
    ol_layer_kind kind;
    int64_t in, out; /* linear */
    ol_act act;      /* activation */
    double slope;    /* leaky_relu */
    double p;        /* dropout: the probability of zeroing an element, in [0, 1) */
    /* layer_norm, batch_norm: in = out = the features, which must equal the
     * width before; eps > 0 added to the variance; affine: a weight
     * (gamma, starting at 1) and a bias (beta, starting at 0) per feature,
     * parameters named "LAYER.weight" and "LAYER.bias"; batch_norm's
     * momentum in [0, 1], the weight of a batch in the running estimates. */
    double eps, momentum;
    int affine;
} ol_layer_spec;

typedef struct ol_model ol_model;
/* A loss's target for n rows of model m's output, as the engine's losses
 * take it: class ids (0-based, below the output count) for cross_entropy
 * only, or dense values. -1 with the message otherwise. */
int ol_target_check(const ol_model *m, ol_loss_kind kind, const ol_target *t, int64_t n,
                    ol_error *err);

/* Builds a model; parameters and gradients start at zero (see
 * ol_model_init), a norm's weight at one. Widths must chain: each linear's in equals the width
 * before it. At least one linear layer. A new model is in training mode. */
ol_model *ol_model_new(const ol_layer_spec *specs, int nlayers, ol_dtype dt, ol_error *err);
/* A copy of m's layers, parameter values and mode in dtype dt (gradients
 * zero). */
ol_model *ol_model_clone(const ol_model *m, ol_dtype dt, ol_error *err);
void ol_model_free(ol_model *m);

ol_dtype ol_model_dtype(const ol_model *m);
int64_t ol_model_in_features(const ol_model *m);
int64_t ol_model_out_features(const ol_model *m);
int64_t ol_model_nparams(const ol_model *m);
int ol_model_nlayers(const ol_model *m);
const ol_layer_spec *ol_model_layer(const ol_model *m, int i);

/* The model's mode, which layers that act differently in training and in
 * evaluation read at each forward pass (as torch's Module.training):
 * training (1, the default) or evaluation (0). Dropout zeroes elements
 * only in training mode and is the identity in evaluation mode. The
 * evaluation over a data set (ol_evaluate_rows, train/metrics.h) runs in
 * evaluation mode and restores the mode it found; the curvature products
 * (rop.c) always use evaluation mode. */
void ol_model_set_training(ol_model *m, int training);
int ol_model_training(const ol_model *m);

/* Buffers: state that a forward pass keeps which is not a parameter (not
 * in the flat buffers, not stepped by optimizers) but belongs in a
 * checkpoint: each batch_norm layer's running estimates "LAYER.running_mean"
 * and "LAYER.running_var" (n values each, model dtype, starting at 0 and 1;
 * torch's names, without its num_batches_tracked, which momentum-based
 * running estimates do not read). In training mode a batch_norm forward
 * pass normalises with the batch's mean and biased variance and updates
 *   running_mean = (1 - momentum) running_mean + momentum mean
 *   running_var  = (1 - momentum) running_var  + momentum var * n / (n - 1)
 * (the unbiased variance, as torch.nn.BatchNorm1d); in evaluation mode it
 * normalises with the running estimates. */
int ol_model_nbuffers(const ol_model *m);
void ol_model_buffer_name(const ol_model *m, int k, char *buf, size_t size);
/* A 1-D view of buffer k sharing the model's buffer storage. */
void ol_model_buffer_view(const ol_model *m, int k, ol_tensor *out);

/* The flat parameter / gradient buffers as 1-D tensors sharing the
 * model's storage (out receives a new reference). */
void ol_model_params(const ol_model *m, ol_tensor *out);
void ol_model_grads(const ol_model *m, ol_tensor *out);

/* The parameter tensors in layer order (weight then bias of each linear,
 * weight then bias of each affine norm).
 * layer: 0-based index of the owning layer; ndim 2 (weight, out x in) or
 * 1 (bias, a norm's weight); offset into the flat buffer. Muon takes the
 * ndim == 2 ones. */
typedef struct ol_param_info {
    int layer;
    int is_bias;
    int ndim;
    int64_t shape[2];
    int64_t offset, numel;
} ol_param_info;
int ol_model_nparam_tensors(const ol_model *m);
void ol_model_param_info(const ol_model *m, int k, ol_param_info *info);
/* The name of parameter tensor k, "LAYER.weight" or "LAYER.bias" with
 * layers counted from 1 as given to sequential (activations included, as
 * torch's Sequential): net:parameters() and checkpoints use it. */
void ol_model_param_name(const ol_model *m, int k, char *buf, size_t size);
/* View of parameter tensor k into the params (grad = 0) or grads buffer. */
void ol_model_param_view(const ol_model *m, int k, int grad, ol_tensor *out);

/* The rows of an input x for m: x is n x in_features, or one row of
 * in_features, in the model's dtype, with at least one row. -1 with the
 * message otherwise. */
int ol_model_input_rows(const ol_model *m, const ol_tensor *x, int64_t *n, ol_error *err);

/* Grows the workspaces to hold n rows (no-op when they already do). */
int ol_model_reserve(ol_model *m, int64_t n, ol_error *err);

/* x: n x in_features, contiguous, model dtype. The model keeps the pointer
 * for backward: x must stay unchanged until then. In training mode each
 * dropout layer with p > 0 draws one value from the engine's RNG for its
 * mask (dropout.c); in evaluation mode a forward pass draws nothing. */
int ol_model_forward(ol_model *m, const void *x, int64_t n, ol_error *err);
/* Output of the last forward: n x out_features, valid until the next one. */
/* The mask of dropout layer i (0-based) in the last forward: n x width
 * bytes, 1 kept, 0 dropped; NULL when that forward did not drop (evaluation
 * mode, p = 0) or layer i is not a dropout layer. For tests. */
const uint8_t *ol_model_dropout_mask(const ol_model *m, int i);
const void *ol_model_output(const ol_model *m, int64_t *n);
/* Loss of the last forward's output against t; also stores dloss/doutput
 * for backward. */
int ol_model_loss(ol_model *m, const ol_loss_spec *loss, const ol_target *t, double *value,
                  ol_error *err);
/* Gradients of the last loss: added to the gradient buffer when
 * accumulate, written over it otherwise. */
int ol_model_backward(ol_model *m, int accumulate, ol_error *err);
/* forward + loss + backward (gradient overwritten, not accumulated). */
int ol_model_evaluate(ol_model *m, const void *x, int64_t n, const ol_loss_spec *loss,
                      const ol_target *t, double *value, ol_error *err);
void ol_model_zero_grad(ol_model *m);
/* 1 when the last backward (batch 1, written over the gradient) showed
 * from its factors that every gradient element is finite: at batch 1 a
 * weight gradient is the outer product dz x^T and a bias gradient is dz,
 * so finite x and dz with max|dz| * max|x| below the type's largest value
 * prove it without reading the gradient. 0 when not shown (other batch
 * sizes, accumulation, or large or non-finite factors): the caller then
 * checks the buffer itself. Cleared by anything else that writes the
 * gradient through the model; valid until the buffer is written from
 * outside (the training loop asks right after ol_model_evaluate). */
int ol_model_grads_known_finite(const ol_model *m);

/* ---- points of a span of parameter vectors (model.c) ----
 * For loss landscapes: the model at many points w = k0 v0 + k1 v1 + k2 v2
 * of flat parameter vectors v0, v1, v2 (nparams values each, the model's
 * dtype; v1 and v2 may be NULL, standing for zero) on one batch x. The
 * first linear layer's output is linear in its weight and bias:
 *   x (k0 W0 + k1 W1 + k2 W2)^T + b = k0 (x W0^T) + k1 (x W1^T) + k2 (x W2^T) + b
 * so ol_model_span_products makes the products x Wi^T once per batch,
 * and each point then costs their combination and the rest of the forward
 * pass. Only for a model whose first layer is linear (ol_model_span_ok). */
int ol_model_span_ok(const ol_model *m);
/* The values (of the model's dtype) ol_model_span_products writes for n
 * rows: 3 x n x the first layer's outputs. */
int64_t ol_model_span_size(const ol_model *m, int64_t n);
/* q[i] = x Vi^T for each non-NULL v[i], Vi the first layer's weight in
 * v[i]; x: n x in_features; q: ol_model_span_size(m, n) values. */
int ol_model_span_products(ol_model *m, const void *x, int64_t n, const void *const v[3], void *q,
                           ol_error *err);
/* The forward pass of x (whose products q holds) at the point k: sets the
 * model's parameters after its first layer's weight to k0 v0 + k1 v1 +
 * k2 v2 (summed in double, rounded once to the dtype), makes the first
 * layer's output from q, and runs the other layers as ol_model_forward
 * does, in the model's mode. The first layer's weight is not read and is
 * left as it was: the parameters are then at no single point, and the
 * caller puts them back. The output is ol_model_output's. */
int ol_model_span_forward(ol_model *m, const void *x, int64_t n, const void *const v[3],
                          const void *q, const double k[3], ol_error *err);

/* ---- curvature products (engine/nn/rop.c) ---- */
/* For the batch (x: n x in_features, target as ol_target but dense values
 * in double) at the model's current parameters, in double whatever the
 * model's dtype, in evaluation mode whatever the model's mode (dropout is
 * the identity: the products are those of the model without its dropout
 * layers, exactly; batch_norm is the affine map of its running estimates;
 * layer_norm is exact, its second derivatives included): out = H v (gauss_newton = 0, the exact Hessian of the
 * mean loss, by Pearlmutter's R-operator: a forward pass of directional
 * derivatives and a backward pass of their adjoints) or out = G v
 * (gauss_newton = 1, G = J^T H_L J, H_L the Hessian of the loss with
 * respect to the output: positive semi-definite for mse, bce, huber, and
 * cross_entropy with non-negative targets and weights). v and out have nparams values.
 * loss and grad (nparams) receive the loss and its gradient at the same
 * point when not NULL. The model's forward workspaces and gradient buffer
 * are not touched: the products run in a workspace of their own that the
 * model keeps (ol_model_curvature_scratch), so a call allocates nothing
 * once one at the same or a larger batch has run; two calls on one model
 * must not run at the same time. */
int ol_model_curvature(ol_model *m, const double *x, int64_t n, const ol_loss_spec *spec,
                       const int32_t *ids, const double *dense, const double *v, double *out,
                       int gauss_newton, double *loss, double *grad, ol_error *err);
/* The curvature products' workspace (laid out by rop.c): at least bytes,
 * 64-byte aligned, kept by the model and freed with it; when it is smaller
 * it is replaced by a new one (contents dropped). NULL when out of memory. */
void *ol_model_curvature_scratch(ol_model *m, size_t bytes);

/* ---- initialisers (engine/nn/init.c), torch.nn.init's rules ---- */
typedef enum ol_init_scheme {
    OL_INIT_XAVIER_UNIFORM,
    OL_INIT_XAVIER_NORMAL,
    OL_INIT_FAN_IN_UNIFORM,
    OL_INIT_KAIMING_UNIFORM,
    OL_INIT_KAIMING_NORMAL,
    OL_INIT_ORTHOGONAL
} ol_init_scheme;
int ol_init_scheme_parse(const char *name, ol_init_scheme *s);

/* torch.nn.init.calculate_gain; param is leaky_relu's slope, NAN for the
 * default 0.01. */
int ol_init_gain(const char *nonlinearity, double param, double *gain, ol_error *err);
/* fan_in = size(1) * receptive field, fan_out = size(0) * receptive field. */
int ol_init_fans(const ol_tensor *t, double *fan_in, double *fan_out, ol_error *err);
int ol_init_xavier_uniform(ol_tensor *t, double gain, ol_error *err);
int ol_init_xavier_normal(ol_tensor *t, double gain, ol_error *err);
int ol_init_fan_in_uniform(ol_tensor *t, double gain, ol_error *err);
/* mode_fan_out: 0 "fan_in", 1 "fan_out"; a: leaky_relu's slope. */
int ol_init_kaiming_uniform(ol_tensor *t, double a, int mode_fan_out, const char *nonlinearity, ol_error *err);
int ol_init_kaiming_normal(ol_tensor *t, double a, int mode_fan_out, const char *nonlinearity, ol_error *err);
int ol_init_orthogonal(ol_tensor *t, double gain, ol_error *err);

/* Initialises every weight of m with scheme, in layer order (kaiming:
 * nonlinearity and a, mode fan_in; the others: gain), every bias to zero. */
int ol_model_init(ol_model *m, ol_init_scheme scheme, double gain, double a,
                  const char *nonlinearity, ol_error *err);

#endif
