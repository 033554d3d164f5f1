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
 * Conventions as in tensor.h: 0-based, 0 / -1 with an ol_error filled.
 * Inputs and dense targets are contiguous row-major arrays in the model's
 * dtype (float for OL_F32, double for OL_F64). */
#ifndef OL_NN_H
#define OL_NN_H

#include <stdint.h>

#include "error.h"
#include "tensor.h"

/* ---- activations (engine/nn/activation.c) ---- */
typedef enum ol_act {
    OL_ACT_IDENTITY,
    OL_ACT_RELU,
    OL_ACT_LEAKY_RELU, /* max(0,u) + slope * min(0,u) */
    OL_ACT_TANH,
    OL_ACT_SIGMOID,
    OL_ACT_GELU /* exact: u * Phi(u) = u/2 (1 + erf(u/sqrt 2)), torch's default */
} ol_act;

const char *ol_act_name(ol_act a);
int ol_act_parse(const char *name, ol_act *a); /* 0 ok, -1 unknown */

/* ---- losses (engine/nn/loss.c) ---- */
typedef enum ol_loss_kind {
    OL_LOSS_CROSS_ENTROPY, /* log-softmax + NLL, mean over the batch */
    OL_LOSS_MSE,           /* mean over all elements of (y - t)^2 */
    OL_LOSS_BCE            /* binary cross-entropy with logits, mean over all */
} ol_loss_kind;

const char *ol_loss_name(ol_loss_kind k);
int ol_loss_parse(const char *name, ol_loss_kind *k);

/* A target: class ids (0-based, cross_entropy only) or a dense n x out
 * array in the model's dtype (one-hot / probabilities for cross_entropy). */
typedef struct ol_target {
    const int32_t *ids;
    const void *dense;
} ol_target;

/* ---- model (engine/nn/model.c) ---- */
typedef enum ol_layer_kind { OL_LAYER_LINEAR, OL_LAYER_ACT } ol_layer_kind;

typedef struct ol_layer_spec {
    ol_layer_kind kind;
    int64_t in, out; /* linear */
    ol_act act;      /* activation */
    double slope;    /* leaky_relu */
} ol_layer_spec;

typedef struct ol_model ol_model;

/* Builds a model; parameters and gradients start at zero (see
 * ol_model_init). Widths must chain: each linear's in equals the width
 * before it. At least one linear layer. */
ol_model *ol_model_new(const ol_layer_spec *specs, int nlayers, ol_dtype dt, ol_error *err);
/* A copy of m's layers and parameter values in dtype dt (gradients zero). */
ol_model *ol_model_clone(const ol_model *m, ol_dtype dt, ol_error *err);
void ol_model_free(ol_model *m);

ol_dtype ol_model_dtype(const ol_model *m);
int64_t ol_model_in_features(const ol_model *m);
int64_t ol_model_out_features(const ol_model *m);
int64_t ol_model_nparams(const ol_model *m);
int ol_model_nlayers(const ol_model *m);
const ol_layer_spec *ol_model_layer(const ol_model *m, int i);

/* The flat parameter / gradient buffers as 1-D tensors sharing the
 * model's storage (out receives a new reference). */
void ol_model_params(const ol_model *m, ol_tensor *out);
void ol_model_grads(const ol_model *m, ol_tensor *out);

/* The parameter tensors in layer order (weight then bias of each linear).
 * layer: 0-based index of the owning layer; ndim 2 (weight, out x in) or
 * 1 (bias); offset into the flat buffer. Muon takes the ndim == 2 ones. */
typedef struct ol_param_info {
    int layer;
    int is_bias;
    int ndim;
    int64_t shape[2];
    int64_t offset, numel;
} ol_param_info;
int ol_model_nparam_tensors(const ol_model *m);
void ol_model_param_info(const ol_model *m, int k, ol_param_info *info);
/* View of parameter tensor k into the params (grad = 0) or grads buffer. */
void ol_model_param_view(const ol_model *m, int k, int grad, ol_tensor *out);

/* Grows the workspaces to hold n rows (no-op when they already do). */
int ol_model_reserve(ol_model *m, int64_t n, ol_error *err);
/* A buffer of n int32 for class ids inside the workspace (reserves n). */
int32_t *ol_model_id_buffer(ol_model *m, int64_t n, ol_error *err);

/* x: n x in_features, contiguous, model dtype. The model keeps the pointer
 * for backward: x must stay unchanged until then. */
int ol_model_forward(ol_model *m, const void *x, int64_t n, ol_error *err);
/* Output of the last forward: n x out_features, valid until the next one. */
const void *ol_model_output(const ol_model *m, int64_t *n);
/* Loss of the last forward's output against t; also stores dloss/doutput
 * for backward. */
int ol_model_loss(ol_model *m, ol_loss_kind kind, const ol_target *t, double *loss, ol_error *err);
/* Gradients of the last loss: added to the gradient buffer when
 * accumulate, written over it otherwise. */
int ol_model_backward(ol_model *m, int accumulate, ol_error *err);
/* forward + loss + backward (gradient overwritten, not accumulated). */
int ol_model_evaluate(ol_model *m, const void *x, int64_t n, ol_loss_kind kind,
                      const ol_target *t, double *loss, ol_error *err);
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

/* ---- curvature products (engine/nn/rop.c; added by issue 5) ---- */
/* For the batch (x: n x in_features, target as ol_target but dense values
 * in double) at the model's current parameters, in double whatever the
 * model's dtype: out = H v (gauss_newton = 0, the exact Hessian of the
 * mean loss, by Pearlmutter's R-operator: a forward pass of directional
 * derivatives and a backward pass of their adjoints) or out = G v
 * (gauss_newton = 1, G = J^T H_L J, H_L the Hessian of the loss with
 * respect to the output: positive semi-definite for mse, cross_entropy and
 * bce). v and out have nparams values. loss and grad (nparams) receive the
 * loss and its gradient at the same point when not NULL. The model's own
 * workspaces and gradient buffer are not touched. Allocates its scratch
 * per call. Dense cross_entropy targets are taken to sum to 1 per row (a
 * probability vector). */
int ol_model_curvature(const ol_model *m, const double *x, int64_t n, ol_loss_kind kind,
                       const int32_t *ids, const double *dense, const double *v, double *out,
                       int gauss_newton, double *loss, double *grad, ol_error *err);

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
