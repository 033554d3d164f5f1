/* lars: SGD with momentum, its step scaled per parameter tensor by a local
 * learning rate (layer-wise adaptive rate scaling).
 *
 * For each parameter tensor (one entry of net:parameters(), or the whole
 * tensor when a tensor is passed):
 *   d = g + wd·w
 *   r = tc·‖w‖/(‖d‖ + eps), or 1 when ‖w‖ or ‖d‖ is 0
 *   b <- μ·b + lr·r·d
 *   w <- w − b                        (nesterov: w <- w − (lr·r·d + μ·b))
 * with tc the trust_coefficient and b the momentum buffer (0 at the start).
 *
 * Source: You, Gitman & Ginsburg, "Large Batch Training of Convolutional
 * Networks" (arXiv:1708.03888), Algorithm 1, which takes the local rate as
 * η·‖w‖/(‖g‖ + β‖w‖); README's table divides by ‖g + wd·w‖ instead, as
 * here. The reference implementation timm/optim/lars.py (pytorch-image-
 * models, after NVIDIA apex's LARC) also uses ‖g‖ + wd·‖w‖, scales only
 * groups with weight_decay != 0 (unless always_adapt), tests ‖g‖ rather
 * than ‖d‖ for 0, and keeps lr outside the buffer (b <- μ·b + r·d,
 * w <- w − lr·b: the same steps while lr is constant); the table decides.
 * Options: lr=1, momentum=0.9, nesterov=false, weight_decay=0,
 * trust_coefficient=1e-3, eps=0. State: momentum_buffer.
 *
 * Two passes over each tensor (chunks.h): the first sums ‖w‖² and ‖d‖²,
 * the second updates b and w. */
#ifndef OL_GENERIC
#include "optim/chunks.h"

enum { LR, MOMENTUM, NESTEROV, WEIGHT_DECAY, TRUST_COEFFICIENT, EPS, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1}, OL_GE0},
    {.name = "momentum", .type = OL_OPT_NUMBER, .slot = MOMENTUM, .def = {0.9}, OL_GE0},
    {.name = "nesterov", .type = OL_OPT_BOOL, .slot = NESTEROV, .def = {0}},
    {.name = "weight_decay", .type = OL_OPT_NUMBER, .slot = WEIGHT_DECAY, .def = {0}, OL_GE0},
    {.name = "trust_coefficient", .type = OL_OPT_NUMBER, .slot = TRUST_COEFFICIENT,
     .def = {1e-3}, OL_GE0},
    {.name = "eps", .type = OL_OPT_NUMBER, .slot = EPS, .def = {0}, OL_GE0},
};
static const char *const state_names[] = {"momentum_buffer"};

/* Two sums per chunk of the largest tensor: ‖w‖² and ‖d‖². */
static int64_t workspace(const ol_optim *opt) {
    return ol_pt_work_elems(opt->dtype, 2 * ol_pt_max_chunks(opt));
}

#define OL_GENERIC "optim/lars.c"
#include "core/generic.h"

const ol_optim_desc ol_optim_lars = {
    .name = "lars",
    .kind = OL_OPTIM_TENSOR,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 1,
    .step_f32 = lars_step_f32,
    .step_f64 = lars_step_f64,
    .workspace = workspace,
    .doc = "LARS, momentum SGD with the per-tensor rate tc*||w||/||g + wd*w|| "
           "(You, Gitman & Ginsburg 2017)",
};

#else /* the step for one element type T */

typedef struct S(lars_pass) {
    T *w, *b;
    const T *g;
    T wd, mu, step; /* step: lr·r, for the second pass */
    int nesterov;
    double *part;
} S(lars_pass);

/* Element i of the first pass: w² and d² into the lanes. */
OL_INLINE void S(lars_norm)(T wd, const T *restrict w, const T *restrict g, int64_t i, T *wl,
                            T *dl) {
    const T di = g[i] + wd * w[i];
    *wl += w[i] * w[i];
    *dl += di * di;
}

/* First pass over the chunks in [begin, end): ‖w‖² and ‖d‖² per chunk
 * (chunks.h: lanes of T per run, added into lanes of ACC). */
static void S(lars_norms)(void *ctx, int64_t begin, int64_t end, int part) {
    (void)part;
    const S(lars_pass) *k = ctx;
    const T wd = k->wd;
    for (int64_t c0 = begin; c0 < end; c0 += OL_OPTIM_CHUNK) {
        const int64_t n = end - c0 < OL_OPTIM_CHUNK ? end - c0 : OL_OPTIM_CHUNK;
        const T *restrict w = k->w + c0, *restrict g = k->g + c0;
        ACC ww[OL_PT_LANES] = {0}, dd[OL_PT_LANES] = {0};
        for (int64_t r0 = 0; r0 < n; r0 += OL_PT_RUN) {
            const int64_t r1 = n - r0 < OL_PT_RUN ? n : r0 + OL_PT_RUN;
            T wl[OL_PT_LANES] = {0}, dl[OL_PT_LANES] = {0};
            int64_t i = r0;
            for (; i + OL_PT_LANES <= r1; i += OL_PT_LANES)
                for (int l = 0; l < OL_PT_LANES; l++) S(lars_norm)(wd, w, g, i + l, &wl[l], &dl[l]);
            for (; i < r1; i++) S(lars_norm)(wd, w, g, i, &wl[0], &dl[0]);
            for (int l = 0; l < OL_PT_LANES; l++) {
                ww[l] += wl[l];
                dd[l] += dl[l];
            }
        }
        double *p = k->part + 2 * (c0 / OL_OPTIM_CHUNK);
        p[0] = ol_pt_lanes(ww);
        p[1] = ol_pt_lanes(dd);
    }
}

/* Second pass: b <- μ·b + lr·r·d; w <- w − b, or w − (lr·r·d + μ·b).
 * nesterov selects by the weights (nd, nb) so that the loop has no branch. */
static void S(lars_apply)(void *ctx, int64_t begin, int64_t end, int part) {
    (void)part;
    const S(lars_pass) *k = ctx;
    T *restrict w = k->w, *restrict b = k->b;
    const T *restrict g = k->g;
    const T wd = k->wd, mu = k->mu, step = k->step;
    const T nd = k->nesterov ? step : (T)0, nb = k->nesterov ? mu : (T)1;
    for (int64_t i = begin; i < end; i++) {
        const T di = g[i] + wd * w[i];
        const T bi = mu * b[i] + step * di;
        b[i] = bi;
        w[i] -= nd * di + nb * bi;
    }
}

static void S(lars_step)(const ol_optim_ctx *c, T *w, const T *g, T *const *s) {
    const double *o = c->o;
    S(lars_pass) k = {
        .w = w, .b = s[0], .g = g,
        .wd = (T)o[WEIGHT_DECAY], .mu = (T)o[MOMENTUM],
        .nesterov = o[NESTEROV] != 0,
        .part = c->work,
    };
    ol_pt_for(c->n, S(lars_norms), &k);
    const int64_t nc = ol_pt_chunks(c->n);
    const double wn = sqrt(ol_pt_total(k.part, nc, 2, 0)), dn = sqrt(ol_pt_total(k.part, nc, 2, 1));
    const double r = wn > 0 && dn > 0 ? o[TRUST_COEFFICIENT] * wn / (dn + o[EPS]) : 1;
    k.step = (T)(o[LR] * r);
    ol_pt_for(c->n, S(lars_apply), &k);
}

#endif
