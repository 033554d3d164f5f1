/* nadam: Adam with Nesterov momentum and a momentum schedule, as
 * torch.optim.NAdam.
 *
 *   g <- ±g (− when maximize)
 *   g <- g + wd·w   or, with decoupled_weight_decay,   w <- w·(1 − lr·wd)
 *   μ_t     = β1·(1 − ½·0.96^(t·ψ))          ψ = momentum_decay
 *   μ_{t+1} = β1·(1 − ½·0.96^((t+1)·ψ))
 *   Π_t     = μ_1·…·μ_t                       (kept as scalar state)
 *   m <- β1·m + (1 − β1)·g
 *   v <- β2·v + (1 − β2)·g²
 *   d  = sqrt(v/(1 − β2^t)) + eps
 *   w <- w − lr·(1 − μ_t)/(1 − Π_t)·g/d − lr·μ_{t+1}/(1 − Π_t·μ_{t+1})·m/d
 *
 * Sources: Dozat, "Incorporating Nesterov Momentum into Adam" (ICLR 2016
 * workshop); the schedule μ_t with 0.96 and ψ = 4e-3 from that paper as
 * implemented in torch/optim/nadam.py (PyTorch 2.x, _single_tensor_nadam),
 * which this follows term by term (eps added after the square root of the
 * bias-corrected v).
 *
 * Options (torch's defaults): lr=2e-3, betas={0.9, 0.999}, eps=1e-8,
 * weight_decay=0, momentum_decay=4e-3, decoupled_weight_decay=false,
 * maximize=false. State: exp_avg, exp_avg_sq; scalar mu_product (Π_t).
 * Difference from torch: Π_t is kept in double (torch keeps it in the
 * default float dtype, float32 unless changed). */
#ifndef OL_GENERIC
#include "optim/optim.h"

enum { LR, BETAS, BETA2, EPS, WEIGHT_DECAY, MOMENTUM_DECAY, DECOUPLED, MAXIMIZE, NSLOTS };
enum { SC_MU_PRODUCT };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {2e-3}, OL_GE0},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.9, 0.999}, OL_UNIT},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-8}, OL_GT0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "momentum_decay", .type = OL_OPT_NUMBER, .slot = MOMENTUM_DECAY, .def = {4e-3},
     OL_GE0},
    {.name = "decoupled_weight_decay", .type = OL_OPT_BOOL, .slot = DECOUPLED, .def = {0}},
    {.name = "maximize", .type = OL_OPT_BOOL, .slot = MAXIMIZE, .def = {0}},
};
static const char *const state_names[] = {"exp_avg", "exp_avg_sq"};

/* The per-step scalars, in double, as torch computes them in Python floats.
 * Π_t starts at 1 on the first step after a reset (scalars are 0 then). */
typedef struct nadam_coef {
    double cg, cm, inv_bc2, l2, decay;
} nadam_coef;

static nadam_coef coef(const ol_optim_ctx *c) {
    const double *o = c->o;
    const double t = (double)c->t, b1 = o[BETAS], psi = o[MOMENTUM_DECAY];
    const double mu = b1 * (1 - 0.5 * pow(0.96, t * psi));
    const double mu_next = b1 * (1 - 0.5 * pow(0.96, (t + 1) * psi));
    const double prod = (c->t == 1 ? 1.0 : c->scalars[SC_MU_PRODUCT]) * mu;
    c->scalars[SC_MU_PRODUCT] = prod;
    const int dec = o[DECOUPLED] != 0;
    nadam_coef k;
    k.cg = o[LR] * (1 - mu) / (1 - prod);
    k.cm = o[LR] * mu_next / (1 - prod * mu_next);
    k.inv_bc2 = 1 / (1 - pow(o[BETA2], t));
    k.l2 = dec ? 0 : o[WEIGHT_DECAY];
    k.decay = dec ? 1 - o[LR] * o[WEIGHT_DECAY] : 1;
    return k;
}

#define OL_GENERIC "optim/nadam.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_nadam = {
    .name = "nadam",
    .kind = OL_OPTIM_FUSED,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 2,
    .nscalars = 1,
    .step_f32 = nadam_step_f32,
    .step_f64 = nadam_step_f64,
    .doc = "NAdam, Nesterov-momentum Adam with mu_t schedule (Dozat 2016; torch.optim.NAdam)",
};

#else /* the step for one element type T */

static void S(nadam_step)(const ol_optim_ctx *c, T *restrict w, const T *restrict g,
                          T *const *s) {
    const nadam_coef k = coef(c);
    const T a1 = (T)(1 - c->o[BETAS]), b2 = (T)c->o[BETA2], a2 = (T)(1 - b2);
    const T eps = (T)c->o[EPS], sg = c->o[MAXIMIZE] != 0 ? (T)-1 : (T)1;
    const T cg = (T)k.cg, cm = (T)k.cm, ib = (T)k.inv_bc2;
    const T l2 = (T)k.l2, decay = (T)k.decay;
    T *restrict m = s[0], *restrict v = s[1];
    for (int64_t i = 0; i < c->n; i++) {
        const T gi = sg * g[i] + l2 * w[i];
        const T mi = m[i] + a1 * (gi - m[i]);
        const T vi = b2 * v[i] + a2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] * decay - (cg * gi + cm * mi) / (sqrt(vi * ib) + eps);
    }
}

#endif
