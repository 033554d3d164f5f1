/* Exact Hessian-vector and Gauss-Newton-vector products of a model's mean
 * loss, by the R-operator of Pearlmutter (1994), "Fast exact multiplication
 * by the Hessian", Neural Computation 6(1), and Schraudolph (2002) for the
 * Gauss-Newton product. R{.} is the directional derivative d/de at
 * params + e v. With layer inputs a, linear outputs z = a W^T + b, and
 * activations y = f(u):
 *
 *   forward   Rz = Ra W^T + a V^T + Vb           Ry = f'(u) Ru
 *   loss      R(dL/dy_out) = H_L Ry_out          (H_L: ol_loss_hv)
 *   backward  (da = dL/da, dz = dL/dz, a: the layer's input)
 *     activation: R(du) = R(dy) f'(u) + dy f''(u) Ru
 *     linear:     R(dW) = R(dz)^T a + dz^T Ra,  R(db) = sum_rows R(dz),
 *                 R(da) = R(dz) W + dz V
 *   Hv = (R(dW), R(db)) for every layer.
 * The Gauss-Newton product G v = J^T H_L J v drops every term with a first
 * derivative of the loss (dy f''(u) Ru, dz^T Ra, dz V): the same passes
 * with those terms left out, and without the gradient's own backward pass
 * unless the gradient is asked for. The input is data: R of it, and of
 * the output of every layer before the first linear one, is zero, and the
 * products with it are skipped.
 *
 * The products are those of the model in evaluation mode, whatever its
 * mode: a dropout layer is then the identity, and the pass treats it as
 * the identity activation (f' = 1, f'' = 0), so a model's products equal
 * those of the same model without its dropout layers, exactly. (A product
 * through one drawn mask would be that of one random sub-network, and a
 * new mask per product would make H v change from call to call.)
 *
 * Norm layers (norm.c), with xhat = (u - mean) rstd, y = xhat gamma + beta
 * and (Vgamma, Vbeta) the direction's part for the affine parameters:
 *   batch_norm, in evaluation mode as dropout is, normalises with its
 *   running estimates: an affine map per feature, exact as a linear layer:
 *     Ry = gamma rstd Ru + Vgamma xhat + Vbeta
 *     R(du) = rstd (R(dy) gamma [+ dy Vgamma])
 *     R(dgamma) = sum_rows R(dy) xhat [+ dy rstd Ru],  R(dbeta) = sum_rows R(dy)
 *   layer_norm, per row (means over the row's w features; g = dy gamma):
 *     Rxhat = rstd (Ru - mean(Ru) - xhat mean(xhat Ru)),  R(rstd) = -rstd^2 mean(xhat Ru)
 *     Ry = gamma Rxhat + Vgamma xhat + Vbeta
 *     du = rstd (g - mean(g) - xhat mean(g xhat))
 *     R(du) = rstd (Rg - mean(Rg) - xhat mean(Rg xhat))
 *             [+ R(rstd) du / rstd - rstd (Rxhat mean(g xhat) + xhat mean(g Rxhat))]
 *     Rg = R(dy) gamma [+ dy Vgamma]
 *     R(dgamma) = sum_rows R(dy) xhat [+ dy Rxhat],  R(dbeta) = sum_rows R(dy)
 *   the bracketed terms for the Hessian only (they hold dy).
 *
 * The math of each step is the nn kernels' f64 instances (kernels.h): the
 * linear layer's products (cut over the engine's worker pool as in
 * training, engine/nn/linear.c), f' (ol_act_backward, which computes
 * dy f'(u) for any dy, here Ru and R(dy) too), f'' (ol_act_backward2), the
 * loss's gradient (ol_loss) and its Hessian (ol_loss_hv). Everything is
 * computed in double on a double copy of f32 parameters, so that f32
 * models get products accurate enough for CG and Lanczos. The buffers live
 * in one workspace the model keeps (ol_model_curvature_scratch), laid out
 * afresh by each call: after the first call at a batch size, a call
 * allocates nothing. */
#include <math.h>
#include <stdint.h>

#include "nn/kernels.h"

/* A layer's output (n x width) and its three companions in the pass. */
typedef struct rop_layer {
    const ol_layer_spec *spec;
    int64_t width;
    int64_t w_off, b_off; /* linear: offsets of W and b in the flat buffers */
    double *a, *ra;       /* the output and its R */
    double *da, *rda;     /* dL/d(output) and its R */
    double *stats;        /* norm: means, then rstds (n rows for layer_norm, width features for batch_norm) */
    int64_t buf;          /* batch_norm: the index of its running_mean buffer */
} rop_layer;

/* One product's inputs and outputs, and its buffers in the workspace. */
typedef struct rop_pass {
    int nl, first; /* layers; the first linear one */
    int64_t n;
    const double *x, *P, *v; /* input, parameters, direction */
    double *out;             /* R(dL/dparams) */
    double *grad;            /* dL/dparams when the pass computes it, else NULL */
    int keep_grad;           /* grad is the caller's (else scratch, for da only) */
    int full;                /* Hessian; 0: Gauss-Newton */
    double *tmp;             /* n x the widest layer: a product's second summand */
    rop_layer *L;
} rop_pass;

static size_t round64(size_t b) { return (b + 63) & ~(size_t)63; }

/* Bytes of the workspace for n rows, in this order: the layer table, a
 * double copy of f32 parameters, a gradient for passes that need da but
 * not the gradient, the four buffers of every layer, and tmp. */
static size_t workspace_bytes(const ol_model *m, int64_t n) {
    const int nl = ol_model_nlayers(m);
    const size_t np = (size_t)ol_model_nparams(m), d = sizeof(double);
    size_t bytes = round64((size_t)nl * sizeof(rop_layer));
    bytes += ol_model_dtype(m) == OL_F32 ? round64(np * d) : 0;
    bytes += round64(np * d);
    int64_t w = ol_model_in_features(m), widest = w;
    for (int i = 0; i < nl; i++) {
        const ol_layer_spec *s = ol_model_layer(m, i);
        if (s->kind == OL_LAYER_LINEAR) w = s->out;
        widest = w > widest ? w : widest;
        bytes += 4 * round64((size_t)(n * w) * d);
        if (s->kind == OL_LAYER_LAYER_NORM || s->kind == OL_LAYER_BATCH_NORM)
            bytes += round64(2 * (size_t)(n > w ? n : w) * d);
    }
    return bytes + round64((size_t)(n * widest) * d);
}

/* p->P: the model's parameters in double, its own buffer for f64 models
 * (the model keeps its storage), else a copy made at *base (advanced). */
static void params_in_double(rop_pass *p, const ol_model *m, char **base) {
    const size_t np = (size_t)ol_model_nparams(m);
    ol_tensor pt;
    ol_model_params(m, &pt);
    const void *params = ol_tensor_data(&pt);
    ol_tensor_release(&pt);
    if (ol_model_dtype(m) == OL_F64) {
        p->P = params;
        return;
    }
    double *P = (double *)*base;
    for (size_t i = 0; i < np; i++) P[i] = ((const float *)params)[i];
    p->P = P;
    *base += round64(np * sizeof(double));
}

/* Carves the workspace base (workspace_bytes(m, n) bytes) into p's
 * buffers, in workspace_bytes's order, and fills the layer table. */
static void lay_out(rop_pass *p, const ol_model *m, int64_t n, char *base) {
    const int nl = ol_model_nlayers(m);
    const size_t np = (size_t)ol_model_nparams(m), d = sizeof(double);
    p->L = (rop_layer *)base;
    base += round64((size_t)nl * sizeof(rop_layer));
    params_in_double(p, m, &base);
    if (!p->keep_grad) p->grad = p->full ? (double *)base : NULL;
    base += round64(np * d);
    int64_t w = ol_model_in_features(m), nbuf = 0;
    p->first = -1;
    for (int i = 0; i < nl; i++) {
        rop_layer *l = &p->L[i];
        l->spec = ol_model_layer(m, i);
        if (l->spec->kind == OL_LAYER_LINEAR) {
            w = l->spec->out;
            if (p->first < 0) p->first = i;
        }
        l->width = w;
        const size_t sz = round64((size_t)(n * w) * d);
        l->a = (double *)base;
        l->ra = (double *)(base + sz);
        l->da = (double *)(base + 2 * sz);
        l->rda = (double *)(base + 3 * sz);
        base += 4 * sz;
        l->stats = NULL;
        if (l->spec->kind == OL_LAYER_LAYER_NORM || l->spec->kind == OL_LAYER_BATCH_NORM) {
            l->stats = (double *)base;
            base += round64(2 * (size_t)(n > w ? n : w) * d);
        }
        if (l->spec->kind == OL_LAYER_BATCH_NORM) {
            l->buf = nbuf;
            nbuf += 2;
        }
    }
    p->tmp = (double *)base;
    for (int k = 0; k < ol_model_nparam_tensors(m); k++) {
        ol_param_info pi;
        ol_model_param_info(m, k, &pi);
        if (pi.is_bias) p->L[pi.layer].b_off = pi.offset;
        else p->L[pi.layer].w_off = pi.offset;
    }
}

/* The input of layer i, and its R: zero (NULL) up to the first linear
 * layer, since the input is data. */
static const double *input_of(const rop_pass *p, int i) { return i ? p->L[i - 1].a : p->x; }
static const double *r_input_of(const rop_pass *p, int i) {
    return i > p->first ? p->L[i - 1].ra : NULL;
}

/* d += s over count values: the second summand of a product. */
static void add_into(int64_t count, const double *s, double *d) {
    for (int64_t e = 0; e < count; e++) d[e] += s[e];
}

/* Linear layer i, forward and R-forward: z = a W^T + b,
 * Rz = a V^T + Vb + Ra W^T. */
static void r_forward_linear(const rop_pass *p, int i) {
    const rop_layer *l = &p->L[i];
    const int64_t n = p->n, in = l->spec->in, out = l->spec->out;
    const double *a = input_of(p, i), *ra = r_input_of(p, i);
    const double *W = p->P + l->w_off, *VW = p->v + l->w_off;
    ol_linear_forward_f64(n, in, out, a, W, l->a);
    ol_bias_forward_f64(n, out, l->a, p->P + l->b_off);
    ol_linear_forward_f64(n, in, out, a, VW, l->ra);
    ol_bias_forward_f64(n, out, l->ra, p->v + l->b_off);
    if (ra) {
        ol_linear_forward_f64(n, in, out, ra, W, p->tmp);
        add_into(n * out, p->tmp, l->ra);
    }
}

/* The activation layer i computes: its own, or the identity for a
 * dropout layer (evaluation mode). */
static ol_act act_of(const rop_layer *l) {
    return l->spec->kind == OL_LAYER_DROPOUT ? OL_ACT_IDENTITY : l->spec->act;
}

/* Activation (or dropout) layer i, forward and R-forward: y = f(u),
 * Ry = f'(u) Ru. */
static void r_forward_act(const rop_pass *p, int i) {
    const rop_layer *l = &p->L[i];
    const ol_act act = act_of(l);
    const double slope = l->spec->slope, *u = input_of(p, i), *ru = r_input_of(p, i);
    ol_act_forward_f64(act, slope, p->n, l->width, u, NULL, l->a);
    if (ru) ol_act_backward_f64(act, slope, p->n, l->width, u, NULL, l->a, ru, l->ra, NULL, 0);
}

/* The loss of the output y, dL/dy, and R(dL/dy) = H_L Ry. */
static double r_loss(const rop_pass *p, const ol_loss_spec *spec, const int32_t *ids,
                     const double *dense) {
    const rop_layer *o = &p->L[p->nl - 1];
    ol_loss_hv_f64(spec, p->n, o->width, o->a, ids, dense, o->ra, o->rda);
    return ol_loss_f64(spec, p->n, o->width, o->a, ids, dense, o->da);
}

/* Linear layer i, R-backward (and backward when the pass keeps dz):
 * R(dW) = R(dz)^T a [+ dz^T Ra], R(db) = rows' sum of R(dz),
 * R(da) = R(dz) W [+ dz V]; the bracketed terms for the Hessian only.
 * Below the first linear layer nothing is made (its input is data). */
static void r_backward_linear(const rop_pass *p, int i) {
    const rop_layer *l = &p->L[i];
    rop_layer *below = i > p->first ? &p->L[i - 1] : NULL;
    const int64_t n = p->n, in = l->spec->in, out = l->spec->out;
    const double *a = input_of(p, i), *ra = r_input_of(p, i), *W = p->P + l->w_off;
    double *RdW = p->out + l->w_off;
    ol_linear_backward_f64(n, in, out, a, W, l->rda, below ? below->rda : NULL, RdW, 0);
    ol_bias_backward_f64(n, out, l->rda, p->out + l->b_off, 0);
    if (p->grad && (below || p->keep_grad)) {
        ol_linear_backward_f64(n, in, out, a, W, l->da, below ? below->da : NULL,
                               p->grad + l->w_off, 0);
        ol_bias_backward_f64(n, out, l->da, p->grad + l->b_off, 0);
    }
    if (p->full && ra) { /* ra is not NULL exactly when below is not */
        ol_linear_backward_f64(n, in, out, ra, p->v + l->w_off, l->da, p->tmp, RdW, 1);
        add_into(n * in, p->tmp, below->rda);
    }
}

/* Activation layer i (after the first linear one), R-backward (and
 * backward when the pass keeps dy): R(du) = R(dy) f'(u) [+ dy f''(u) Ru],
 * the bracketed term for the Hessian only; du = dy f'(u), unless u is the
 * first linear layer's output and only the Hessian's terms would read it
 * (they vanish there: the R of its input is zero). */
static void r_backward_act(const rop_pass *p, int i) {
    const rop_layer *l = &p->L[i];
    rop_layer *below = &p->L[i - 1];
    const ol_act act = act_of(l);
    const double slope = l->spec->slope;
    const int64_t n = p->n, w = l->width;
    ol_act_backward_f64(act, slope, n, w, below->a, NULL, l->a, l->rda, below->rda, NULL, 0);
    if (p->full)
        ol_act_backward2_f64(act, slope, n, w, below->a, NULL, l->a, l->da, below->ra, below->rda);
    if (p->grad && (p->keep_grad || i - 1 > p->first))
        ol_act_backward_f64(act, slope, n, w, below->a, NULL, l->a, l->da, below->da, NULL, 0);
}

/* ---- norm layers ---- */

static int is_norm(const rop_layer *l) {
    return l->spec->kind == OL_LAYER_LAYER_NORM || l->spec->kind == OL_LAYER_BATCH_NORM;
}

/* Buffer k of m (a running estimate), value c, in double. */
static double buffer_value(const ol_model *m, int64_t k, int64_t c) {
    ol_tensor t;
    ol_model_buffer_view(m, (int)k, &t);
    const int64_t idx[1] = {c};
    const double v = ol_tensor_get(&t, idx);
    ol_tensor_release(&t);
    return v;
}

/* Norm layer i, forward and R-forward (the header's formulas); the
 * statistics are kept for the backward pass. */
static void r_forward_norm(const rop_pass *p, const ol_model *m, int i) {
    const rop_layer *l = &p->L[i];
    const int64_t n = p->n, w = l->width;
    const double *u = input_of(p, i), *ru = r_input_of(p, i);
    const int affine = l->spec->affine;
    const double *G = affine ? p->P + l->w_off : NULL, *Bt = affine ? p->P + l->b_off : NULL;
    const double *VG = affine ? p->v + l->w_off : NULL, *VB = affine ? p->v + l->b_off : NULL;
    if (l->spec->kind == OL_LAYER_BATCH_NORM) {
        double *mean = l->stats, *rstd = l->stats + w;
        for (int64_t c = 0; c < w; c++) {
            mean[c] = buffer_value(m, l->buf, c);
            rstd[c] = 1 / sqrt(buffer_value(m, l->buf + 1, c) + l->spec->eps);
        }
        for (int64_t r = 0; r < n; r++)
            for (int64_t c = 0; c < w; c++) {
                const int64_t e = r * w + c;
                const double xh = (u[e] - mean[c]) * rstd[c], g = affine ? G[c] : 1;
                l->a[e] = xh * g + (affine ? Bt[c] : 0);
                l->ra[e] = (ru ? g * rstd[c] * ru[e] : 0) + (affine ? VG[c] * xh + VB[c] : 0);
            }
        return;
    }
    for (int64_t r = 0; r < n; r++) {
        const double *ur = u + r * w, *rur = ru ? ru + r * w : NULL;
        double s = 0, v = 0;
        for (int64_t c = 0; c < w; c++) s += ur[c];
        const double mean = s / (double)w;
        for (int64_t c = 0; c < w; c++) v += (ur[c] - mean) * (ur[c] - mean);
        const double rstd = 1 / sqrt(v / (double)w + l->spec->eps);
        l->stats[r] = mean;
        l->stats[n + r] = rstd;
        double m1 = 0, m2 = 0;
        for (int64_t c = 0; rur && c < w; c++) {
            m1 += rur[c];
            m2 += (ur[c] - mean) * rstd * rur[c];
        }
        m1 /= (double)w;
        m2 /= (double)w;
        for (int64_t c = 0; c < w; c++) {
            const int64_t e = r * w + c;
            const double xh = (ur[c] - mean) * rstd, g = affine ? G[c] : 1;
            const double rxh = rur ? rstd * (rur[c] - m1 - xh * m2) : 0;
            l->a[e] = xh * g + (affine ? Bt[c] : 0);
            l->ra[e] = g * rxh + (affine ? VG[c] * xh + VB[c] : 0);
        }
    }
}

/* Norm layer i (after the first linear one), R-backward (and backward
 * when the pass has dy): the header's formulas. */
static void r_backward_norm(const rop_pass *p, int i) {
    const rop_layer *l = &p->L[i];
    rop_layer *below = &p->L[i - 1];
    const int64_t n = p->n, w = l->width;
    const double *u = below->a, *ru = r_input_of(p, i);
    const int affine = l->spec->affine, full = p->full, has_dy = p->grad != NULL;
    const double *G = affine ? p->P + l->w_off : NULL, *VG = affine ? p->v + l->w_off : NULL;
    double *RdG = affine ? p->out + l->w_off : NULL, *RdB = affine ? p->out + l->b_off : NULL;
    double *dG = affine && has_dy ? p->grad + l->w_off : NULL;
    double *dB = affine && has_dy ? p->grad + l->b_off : NULL;
    for (int64_t c = 0; affine && c < w; c++) {
        RdG[c] = RdB[c] = 0;
        if (dG) dG[c] = dB[c] = 0;
    }
    const double *dy = l->da, *rdy = l->rda;
    if (l->spec->kind == OL_LAYER_BATCH_NORM) {
        const double *mean = l->stats, *rstd = l->stats + w;
        for (int64_t r = 0; r < n; r++)
            for (int64_t c = 0; c < w; c++) {
                const int64_t e = r * w + c;
                const double xh = (u[e] - mean[c]) * rstd[c], g = affine ? G[c] : 1;
                below->rda[e] = rstd[c] * (rdy[e] * g + (full && affine ? dy[e] * VG[c] : 0));
                if (has_dy) below->da[e] = rstd[c] * dy[e] * g;
                if (!affine) continue;
                RdG[c] += rdy[e] * xh + (full && ru ? dy[e] * rstd[c] * ru[e] : 0);
                RdB[c] += rdy[e];
                if (dG) {
                    dG[c] += dy[e] * xh;
                    dB[c] += dy[e];
                }
            }
        return;
    }
    for (int64_t r = 0; r < n; r++) {
        const double mean = l->stats[r], rstd = l->stats[n + r];
        const double *ur = u + r * w, *rur = ru ? ru + r * w : NULL;
        const double *dyr = dy + r * w, *rdyr = rdy + r * w;
        double *dx = below->da + r * w, *rdx = below->rda + r * w;
        /* the row's means: m1 = mean(Ru), m2 = mean(xhat Ru), mg = mean(g),
         * mgx = mean(g xhat), mrg = mean(Rg), mrgx = mean(Rg xhat),
         * mgrx = mean(g Rxhat) */
        double m1 = 0, m2 = 0, mg = 0, mgx = 0, mrg = 0, mrgx = 0, mgrx = 0;
        for (int64_t c = 0; rur && c < w; c++) {
            m1 += rur[c];
            m2 += (ur[c] - mean) * rstd * rur[c];
        }
        m1 /= (double)w;
        m2 /= (double)w;
        for (int64_t c = 0; c < w; c++) {
            const double xh = (ur[c] - mean) * rstd, gm = affine ? G[c] : 1;
            const double rg = rdyr[c] * gm + (full && affine ? dyr[c] * VG[c] : 0);
            mrg += rg;
            mrgx += rg * xh;
            if (has_dy) {
                const double g = dyr[c] * gm;
                const double rxh = rur ? rstd * (rur[c] - m1 - xh * m2) : 0;
                mg += g;
                mgx += g * xh;
                mgrx += g * rxh;
            }
        }
        mg /= (double)w;
        mgx /= (double)w;
        mrg /= (double)w;
        mrgx /= (double)w;
        mgrx /= (double)w;
        const double rrstd = -rstd * rstd * m2;
        for (int64_t c = 0; c < w; c++) {
            const double xh = (ur[c] - mean) * rstd, gm = affine ? G[c] : 1;
            const double rg = rdyr[c] * gm + (full && affine ? dyr[c] * VG[c] : 0);
            const double rxh = rur ? rstd * (rur[c] - m1 - xh * m2) : 0;
            double rd = rstd * (rg - mrg - xh * mrgx);
            if (has_dy) {
                const double g = dyr[c] * gm, d = g - mg - xh * mgx;
                dx[c] = rstd * d;
                if (full) rd += rrstd * d - rstd * (rxh * mgx + xh * mgrx);
            }
            rdx[c] = rd;
            if (!affine) continue;
            RdG[c] += rdyr[c] * xh + (full ? dyr[c] * rxh : 0);
            RdB[c] += rdyr[c];
            if (dG) {
                dG[c] += dyr[c] * xh;
                dB[c] += dyr[c];
            }
        }
    }
}

/* The batch's checks: ol_model_loss's, with dense targets in double. */
static int check_batch(const ol_model *m, int64_t n, const ol_loss_spec *spec, const int32_t *ids,
                       const double *dense, ol_error *err) {
    if (n < 1) return ol_fail(err, "batch size must be positive (got %lld)", (long long)n);
    if (ol_loss_check(spec, ol_model_out_features(m), err) != 0) return -1;
    const ol_target t = {ids, dense};
    return ol_target_check(m, spec->kind, &t, n, err);
}

int ol_model_curvature(ol_model *m, const double *x, int64_t n, const ol_loss_spec *spec,
                       const int32_t *ids, const double *dense, const double *v, double *out,
                       int gauss_newton, double *loss, double *grad, ol_error *err) {
    if (check_batch(m, n, spec, ids, dense, err) != 0) return -1;
    char *ws = ol_model_curvature_scratch(m, workspace_bytes(m, n));
    if (!ws) return ol_fail(err, "out of memory (curvature product, batch %lld)", (long long)n);
    rop_pass p = {.nl = ol_model_nlayers(m), .n = n, .x = x, .v = v, .out = out,
                  .grad = grad, .keep_grad = grad != NULL, .full = !gauss_newton};
    lay_out(&p, m, n, ws);
    for (int i = 0; i < p.nl; i++) {
        if (p.L[i].spec->kind == OL_LAYER_LINEAR) r_forward_linear(&p, i);
        else if (is_norm(&p.L[i])) r_forward_norm(&p, m, i);
        else r_forward_act(&p, i);
    }
    const double total = r_loss(&p, spec, ids, dense);
    for (int i = p.nl - 1; i >= p.first; i--) {
        if (p.L[i].spec->kind == OL_LAYER_LINEAR) r_backward_linear(&p, i);
        else if (is_norm(&p.L[i])) r_backward_norm(&p, i);
        else r_backward_act(&p, i);
    }
    if (loss) *loss = total;
    return 0;
}
