/* lamb: Adam's direction, scaled per parameter tensor by a trust ratio.
 *
 * For each parameter tensor (one entry of net:parameters(), or the whole
 * tensor when a tensor is passed), at step t:
 *   m <- β1·m + (1 − β1)·g
 *   v <- β2·v + (1 − β2)·g²
 *   u = (m/(1 − β1^t)) / (sqrt(v/(1 − β2^t)) + eps) + wd·w
 *   r = ‖w‖/‖u‖, or 1 when either norm is 0
 *   w <- w − lr·r·u
 *
 * Source: You et al., "Large Batch Optimization for Deep Learning: Training
 * BERT in 76 minutes" (ICLR 2020, arXiv:1904.00962), Algorithm 2 with the
 * scaling function φ the identity. The reference implementations differ
 * from it and from each other; README's table decides:
 *   - cybertronai/pytorch-lamb (pytorch_lamb/lamb.py) drops the bias
 *     correction ("paper v3 does not use debiasing") and divides by ‖u‖
 *     unguarded; the paper and NVIDIA apex's FusedLAMB (multi_tensor_lamb.cu,
 *     stage 2) correct the bias, and apex takes r = 1 when either norm is
 *     0, as here.
 *   - apex scales only the tensors of groups with weight_decay != 0 unless
 *     use_nvlamb, clips the gradient by its global norm first
 *     (max_grad_norm = 1) and defaults weight_decay to 0.01: here every
 *     tensor is scaled, nothing is clipped (ol.clip does that) and
 *     weight_decay defaults to 0.
 *   - the paper lets φ clamp ‖w‖ (an early pytorch-lamb clamped it at 10);
 *     here φ(z) = z.
 * Options: lr=1e-3, betas={0.9, 0.999}, eps=1e-6, weight_decay=0.
 * State: exp_avg, exp_avg_sq.
 *
 * Two passes over each tensor (chunks.h): the first updates m and v and
 * sums ‖w‖² and ‖u‖², the second computes u again from the new m and v
 * (the same expression on the same values) and steps. */
#ifndef OL_GENERIC
#include "optim/chunks.h"

enum { LR, BETAS, BETA2, EPS, WEIGHT_DECAY, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-3}, OL_GE0},
    {.name = "betas", .type = OL_OPT_PAIR, .slot = BETAS, .def = {0.9, 0.999}, OL_UNIT},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {1e-6}, OL_GT0},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
};
static const char *const state_names[] = {"exp_avg", "exp_avg_sq"};

/* Two sums per chunk of the largest tensor: ‖w‖² and ‖u‖². */
static int64_t workspace(const ol_optim *opt) {
    return ol_pt_work_elems(opt->dtype, 2 * ol_pt_max_chunks(opt));
}

#define OL_GENERIC "optim/lamb.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_lamb = {
    .name = "lamb",
    .kind = OL_OPTIM_TENSOR,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 2,
    .step_f32 = lamb_step_f32,
    .step_f64 = lamb_step_f64,
    .workspace = workspace,
    .doc = "LAMB, Adam's direction scaled per tensor by the trust ratio ||w||/||u|| "
           "(You et al. 2019)",
};

#else /* the step for one element type T */

/* One tensor's pass: its buffers, the step's coefficients and the chunk
 * sums. */
typedef struct S(lamb_pass) {
    T *w, *m, *v;
    const T *g;
    T b1, a1, b2, a2, ibc1, ibc2, eps, wd;
    T step; /* lr·r, for the second pass */
    double *part;
} S(lamb_pass);

/* u from the new moments m, v and w. */
OL_INLINE T S(lamb_u)(const S(lamb_pass) *k, T m, T v, T w) {
    return m * k->ibc1 / (sqrt(v * k->ibc2) + k->eps) + k->wd * w;
}

/* Element i of the first pass: m, v, and w² and u² into the lanes. */
OL_INLINE void S(lamb_moment)(const S(lamb_pass) *k, T *restrict m, T *restrict v,
                              const T *restrict w, const T *restrict g, int64_t i, T *wl, T *ul) {
    const T gi = g[i];
    const T mi = k->b1 * m[i] + k->a1 * gi;
    const T vi = k->b2 * v[i] + k->a2 * gi * gi;
    const T ui = S(lamb_u)(k, mi, vi, w[i]);
    m[i] = mi;
    v[i] = vi;
    *wl += w[i] * w[i];
    *ul += ui * ui;
}

/* First pass over the chunks in [begin, end): m, v, and per chunk ‖w‖²
 * and ‖u‖² (chunks.h: lanes of T per run, added into lanes of ACC). */
static void S(lamb_moments)(void *ctx, int64_t begin, int64_t end, int part) {
    (void)part;
    const S(lamb_pass) *k = ctx;
    for (int64_t c0 = begin; c0 < end; c0 += OL_OPTIM_CHUNK) {
        const int64_t n = end - c0 < OL_OPTIM_CHUNK ? end - c0 : OL_OPTIM_CHUNK;
        T *restrict m = k->m + c0, *restrict v = k->v + c0;
        const T *restrict w = k->w + c0, *restrict g = k->g + c0;
        ACC ww[OL_PT_LANES] = {0}, uu[OL_PT_LANES] = {0};
        for (int64_t r0 = 0; r0 < n; r0 += OL_PT_RUN) {
            const int64_t r1 = n - r0 < OL_PT_RUN ? n : r0 + OL_PT_RUN;
            T wl[OL_PT_LANES] = {0}, ul[OL_PT_LANES] = {0};
            int64_t i = r0;
            for (; i + OL_PT_LANES <= r1; i += OL_PT_LANES)
                for (int l = 0; l < OL_PT_LANES; l++)
                    S(lamb_moment)(k, m, v, w, g, i + l, &wl[l], &ul[l]);
            for (; i < r1; i++) S(lamb_moment)(k, m, v, w, g, i, &wl[0], &ul[0]);
            for (int l = 0; l < OL_PT_LANES; l++) {
                ww[l] += wl[l];
                uu[l] += ul[l];
            }
        }
        double *p = k->part + 2 * (c0 / OL_OPTIM_CHUNK);
        p[0] = ol_pt_lanes(ww);
        p[1] = ol_pt_lanes(uu);
    }
}

/* Second pass: w <- w − lr·r·u. */
static void S(lamb_apply)(void *ctx, int64_t begin, int64_t end, int part) {
    (void)part;
    const S(lamb_pass) *k = ctx;
    T *restrict w = k->w;
    const T *restrict m = k->m, *restrict v = k->v;
    const T step = k->step;
    for (int64_t i = begin; i < end; i++) w[i] -= step * S(lamb_u)(k, m[i], v[i], w[i]);
}

static void S(lamb_step)(const ol_optim_ctx *c, T *w, const T *g, T *const *s) {
    const double *o = c->o;
    const double t = (double)c->t;
    S(lamb_pass) k = {
        .w = w, .m = s[0], .v = s[1], .g = g,
        .b1 = (T)o[BETAS], .a1 = (T)(1 - o[BETAS]),
        .b2 = (T)o[BETA2], .a2 = (T)(1 - o[BETA2]),
        .ibc1 = (T)(1 / (1 - pow(o[BETAS], t))), .ibc2 = (T)(1 / (1 - pow(o[BETA2], t))),
        .eps = (T)o[EPS], .wd = (T)o[WEIGHT_DECAY],
        .part = c->work,
    };
    ol_pt_for(c->n, S(lamb_moments), &k);
    const int64_t nc = ol_pt_chunks(c->n);
    const double wn = sqrt(ol_pt_total(k.part, nc, 2, 0)), un = sqrt(ol_pt_total(k.part, nc, 2, 1));
    const double r = wn > 0 && un > 0 ? wn / un : 1;
    k.step = (T)(o[LR] * r);
    ol_pt_for(c->n, S(lamb_apply), &k);
}

#endif
