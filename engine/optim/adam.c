/* adam and adamw: Adam with bias-corrected moments, as torch.optim.Adam and
 * torch.optim.AdamW.
 *
 *   g <- ±g (− when maximize)
 *   adam:  g <- g + wd·w            (L2 penalty, coupled into the moments)
 *   adamw: w <- w·(1 − lr·wd)       (decoupled decay, Loshchilov & Hutter 2019)
 *   m <- β1·m + (1 − β1)·g
 *   v <- β2·v + (1 − β2)·g²
 *   v̂ <- max(v̂, v) when amsgrad (Reddi et al. 2018), else v̂ = v
 *   w <- w − lr/(1 − β1^t) · m / (sqrt(v̂)/sqrt(1 − β2^t) + eps)
 *   bias_correction = false: w <- w − lr · m / (sqrt(v̂) + eps)
 *
 * Sources: Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR
 * 2015), Algorithm 1; torch/optim/adam.py and adamw.py (PyTorch 2.x,
 * _single_tensor_adam), whose placement of eps (added after dividing by
 * sqrt(1 − β2^t)) and amsgrad (max of the raw second moments) are followed.
 *
 * bias_correction = false (API.md §13; torch has no such option) drops
 * both corrections: m and v are used as they are.
 *
 * Options: lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0 (adam) or
 * 1e-2 (adamw), amsgrad=false, maximize=false, bias_correction=true.
 * State: exp_avg, exp_avg_sq, max_exp_avg_sq (zero and unused unless amsgrad).
 *
 * One file serves both: they differ only in where weight_decay enters, and
 * the loop itself lives in generic/adam.h because muon's fallback runs it too. */
#ifndef OL_GENERIC
#include "optim/generic/adam.h"

enum { LR, BETAS, BETA2, EPS, WEIGHT_DECAY, AMSGRAD, MAXIMIZE, BIAS_CORRECTION, NSLOTS };

/* adamw's options are adam's but for weight_decay's default. */
static const ol_optim_option adam_options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-3}, OL_GE0},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.9, 0.999}, OL_UNIT},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-8}, OL_GT0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "amsgrad", .type = OL_OPT_BOOL, .slot = AMSGRAD, .def = {0}},
    {.name = "maximize", .type = OL_OPT_BOOL, .slot = MAXIMIZE, .def = {0}},
    {.name = "bias_correction", .type = OL_OPT_BOOL, .slot = BIAS_CORRECTION, .def = {1}},
};
static const ol_optim_option adamw_options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-3}, OL_GE0},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.9, 0.999}, OL_UNIT},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-8}, OL_GT0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {1e-2}, OL_GE0},
    {.name = "amsgrad", .type = OL_OPT_BOOL, .slot = AMSGRAD, .def = {0}},
    {.name = "maximize", .type = OL_OPT_BOOL, .slot = MAXIMIZE, .def = {0}},
    {.name = "bias_correction", .type = OL_OPT_BOOL, .slot = BIAS_CORRECTION, .def = {1}},
};
static const char *const state_names[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

static ol_adam_coef coef(const ol_optim_ctx *c, int decoupled) {
    const double *o = c->o;
    return ol_adam_coef_make(o[LR], o[BETAS], o[BETA2], o[EPS], o[WEIGHT_DECAY], decoupled,
                             o[AMSGRAD] != 0, o[MAXIMIZE] != 0, o[BIAS_CORRECTION] != 0, c->t);
}

#define OL_GENERIC "optim/adam.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_adam = {
    .name = "adam",
    .kind = OL_OPTIM_FUSED,
    .options = adam_options,
    .noptions = sizeof adam_options / sizeof adam_options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 3,
    .step_f32 = adam_step_f32,
    .step_f64 = adam_step_f64,
    .doc = "Adam, L2 weight decay, amsgrad (Kingma & Ba 2015; torch.optim.Adam)",
};

const ol_optim_desc ol_optim_adamw = {
    .name = "adamw",
    .kind = OL_OPTIM_FUSED,
    .options = adamw_options,
    .noptions = sizeof adamw_options / sizeof adamw_options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 3,
    .step_f32 = adamw_step_f32,
    .step_f64 = adamw_step_f64,
    .doc = "AdamW, decoupled weight decay (Loshchilov & Hutter 2019; torch.optim.AdamW)",
};

#else /* the steps for one element type T */

#include "optim/generic/adam.h"

static void S(adam_step)(const ol_optim_ctx *c, T *w, const T *g, T *const *s) {
    const ol_adam_coef k = coef(c, 0);
    S(ol_adam_update)(&k, w, g, s[0], s[1], s[2], c->n);
}

static void S(adamw_step)(const ol_optim_ctx *c, T *w, const T *g, T *const *s) {
    const ol_adam_coef k = coef(c, 1);
    S(ol_adam_update)(&k, w, g, s[0], s[1], s[2], c->n);
}

#endif
