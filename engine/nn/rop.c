/* Exact Hessian-vector and Gauss-Newton-vector products of a model's mean
 * loss, by the R-operator of Pearlmutter (1994), "Fast exact multiplication
 * by the Hessian", Neural Computation 6(1), and Schraudolph (2002) for the
 * Gauss-Newton product. R{.} is the directional derivative d/de at
 * params + e v. With layer inputs a, linear outputs z = a W^T + b, and
 * activations y = f(u):
 *
 *   forward   Rz = Ra W^T + a V^T + Vb           Ry = f'(u) Ru
 *   loss      R(dL/dy_out) = H_L Ry_out  (mse: 2/(nc) I; bce: s(1-s)/(nc);
 *             cross_entropy, row r: (diag p - p p^T)/n, p = softmax)
 *   backward  (da = dL/da, dz = dL/dz, a: the layer's input)
 *     activation: R(du) = R(dy) f'(u) + dy f''(u) Ru
 *     linear:     R(dW) = R(dz)^T a + dz^T Ra,  R(db) = sum_rows R(dz),
 *                 R(da) = R(dz) W + dz V
 *   Hv = (R(dW), R(db)) for every layer.
 * The Gauss-Newton product G v = J^T H_L J v drops every term with a first
 * derivative of the loss (dy f''(u) Ru, dz^T Ra, dz V): the same passes
 * with those terms left out.
 * Everything is computed in double on a double copy of the parameters, so
 * that f32 models get products accurate enough for CG and Lanczos. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "parallel.h"

/* f'(u) and f''(u) for one activation. */
static void act_d12(ol_act a, double slope, double u, double *d1, double *d2) {
    switch (a) {
    case OL_ACT_IDENTITY: *d1 = 1; *d2 = 0; return;
    case OL_ACT_RELU: *d1 = u > 0; *d2 = 0; return;
    case OL_ACT_LEAKY_RELU: *d1 = u > 0 ? 1 : slope; *d2 = 0; return;
    case OL_ACT_TANH: {
        double y = tanh(u);
        *d1 = 1 - y * y;
        *d2 = -2 * y * (1 - y * y);
        return;
    }
    case OL_ACT_SIGMOID: {
        double s = u >= 0 ? 1 / (1 + exp(-u)) : exp(u) / (1 + exp(u));
        *d1 = s * (1 - s);
        *d2 = s * (1 - s) * (1 - 2 * s);
        return;
    }
    case OL_ACT_GELU: {
        /* y = u Phi(u): y' = Phi + u phi, y'' = phi (2 - u^2). */
        double phi = exp(-0.5 * u * u) * 0.39894228040143267794;
        double Phi = 0.5 * (1 + erf(u * 0.70710678118654752440));
        *d1 = Phi + u * phi;
        *d2 = phi * (2 - u * u);
        return;
    }
    }
    *d1 = 1;
    *d2 = 0;
}

static double act_f(ol_act a, double slope, double u) {
    switch (a) {
    case OL_ACT_IDENTITY: return u;
    case OL_ACT_RELU: return u > 0 ? u : 0;
    case OL_ACT_LEAKY_RELU: return u > 0 ? u : slope * u;
    case OL_ACT_TANH: return tanh(u);
    case OL_ACT_SIGMOID: return u >= 0 ? 1 / (1 + exp(-u)) : exp(u) / (1 + exp(u));
    case OL_ACT_GELU: return 0.5 * u * (1 + erf(u * 0.70710678118654752440));
    }
    return u;
}

int ol_model_curvature(const ol_model *m, const double *x, int64_t n, ol_loss_kind kind,
                       const int32_t *ids, const double *dense, const double *v, double *out,
                       int gauss_newton, double *loss, double *grad, ol_error *err) {
    const int nl = ol_model_nlayers(m);
    const int64_t np = ol_model_nparams(m), c = ol_model_out_features(m);
    if (n < 1) return ol_fail(err, "batch size must be positive (got %lld)", (long long)n);
    if ((unsigned)kind > OL_LOSS_BCE) return ol_fail(err, "unknown loss");
    if (ids && kind != OL_LOSS_CROSS_ENTROPY) return ol_fail(err, "class ids are targets for cross_entropy only");
    if (!ids && !dense) return ol_fail(err, "no target");
    ol_parallel_blas_threads(); /* its products run on OpenBLAS's threads */
    if (ids)
        for (int64_t r = 0; r < n; r++)
            if (ids[r] < 0 || ids[r] >= c)
                return ol_fail(err, "class id %d out of range 0..%lld at row %lld", (int)ids[r],
                               (long long)(c - 1), (long long)r);

    /* Widths: w[0] = input, w[i+1] = output of layer i. Buffers per layer
     * output: A (value), RA (its R), and for the backward dA, RdA. */
    int64_t *wd = malloc((size_t)(nl + 1) * sizeof *wd);
    double **A = calloc((size_t)nl + 1, sizeof *A), **RA = calloc((size_t)nl + 1, sizeof *RA);
    double **dA = calloc((size_t)nl + 1, sizeof *dA), **RdA = calloc((size_t)nl + 1, sizeof *RdA);
    double *P = malloc((size_t)(np ? np : 1) * sizeof *P), *G = calloc((size_t)(np ? np : 1), sizeof *G);
    int64_t *woff = calloc((size_t)nl, sizeof *woff), *boff = calloc((size_t)nl, sizeof *boff);
    int rc = -1;
    if (!wd || !A || !RA || !dA || !RdA || !P || !G || !woff || !boff) goto oom;
    {
        ol_tensor pt;
        ol_model_params(m, &pt);
        const void *pd = ol_tensor_data(&pt);
        for (int64_t i = 0; i < np; i++)
            P[i] = ol_model_dtype(m) == OL_F32 ? ((const float *)pd)[i] : ((const double *)pd)[i];
        ol_tensor_release(&pt);
    }
    for (int k = 0; k < ol_model_nparam_tensors(m); k++) {
        ol_param_info pi;
        ol_model_param_info(m, k, &pi);
        if (pi.is_bias) boff[pi.layer] = pi.offset;
        else woff[pi.layer] = pi.offset;
    }
    wd[0] = ol_model_in_features(m);
    for (int i = 0; i < nl; i++) {
        const ol_layer_spec *s = ol_model_layer(m, i);
        wd[i + 1] = s->kind == OL_LAYER_LINEAR ? s->out : wd[i];
    }
    for (int i = 0; i <= nl; i++) {
        size_t sz = (size_t)(n * wd[i]) * sizeof(double);
        A[i] = malloc(sz);
        RA[i] = calloc(1, sz);
        dA[i] = calloc(1, sz);
        RdA[i] = calloc(1, sz);
        if (!A[i] || !RA[i] || !dA[i] || !RdA[i]) goto oom;
    }
    memcpy(A[0], x, (size_t)(n * wd[0]) * sizeof(double)); /* RA[0] = 0: x is data */

    /* ---- forward and R-forward ---- */
    for (int i = 0; i < nl; i++) {
        const ol_layer_spec *s = ol_model_layer(m, i);
        const int64_t wi = wd[i], wo = wd[i + 1];
        if (s->kind == OL_LAYER_LINEAR) {
            const double *W = P + woff[i], *b = P + boff[i], *VW = v + woff[i], *Vb = v + boff[i];
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)wo, (int)wi, 1, A[i],
                        (int)wi, W, (int)wi, 0, A[i + 1], (int)wo);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)wo, (int)wi, 1, RA[i],
                        (int)wi, W, (int)wi, 0, RA[i + 1], (int)wo);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)wo, (int)wi, 1, A[i],
                        (int)wi, VW, (int)wi, 1, RA[i + 1], (int)wo);
            for (int64_t r = 0; r < n; r++)
                for (int64_t j = 0; j < wo; j++) {
                    A[i + 1][r * wo + j] += b[j];
                    RA[i + 1][r * wo + j] += Vb[j];
                }
        } else {
            for (int64_t e = 0; e < n * wo; e++) {
                double d1, d2;
                act_d12(s->act, s->slope, A[i][e], &d1, &d2);
                A[i + 1][e] = act_f(s->act, s->slope, A[i][e]);
                RA[i + 1][e] = d1 * RA[i][e];
            }
        }
    }

    /* ---- loss, dL/dy and H_L Ry ---- */
    const double *y = A[nl], *Ry = RA[nl];
    double *dy = dA[nl], *Rdy = RdA[nl];
    double total = 0;
    if (kind == OL_LOSS_CROSS_ENTROPY) {
        for (int64_t r = 0; r < n; r++) {
            const double *yr = y + r * c, *Rr = Ry + r * c;
            double mx = yr[0];
            for (int64_t j = 1; j < c; j++) mx = fmax(mx, yr[j]);
            double s = 0;
            for (int64_t j = 0; j < c; j++) s += exp(yr[j] - mx);
            double lse = mx + log(s), pR = 0, st = 1;
            if (ids) {
                total += lse - yr[ids[r]];
            } else {
                st = 0;
                for (int64_t j = 0; j < c; j++) {
                    st += dense[r * c + j];
                    total += dense[r * c + j] * (lse - yr[j]);
                }
            }
            for (int64_t j = 0; j < c; j++) pR += exp(yr[j] - lse) * Rr[j];
            for (int64_t j = 0; j < c; j++) {
                double p = exp(yr[j] - lse);
                double t = ids ? (j == ids[r]) : dense[r * c + j];
                dy[r * c + j] = (p * st - t) / (double)n;
                Rdy[r * c + j] = st * p * (Rr[j] - pR) / (double)n;
            }
        }
        total /= (double)n;
    } else {
        const double inv = 1.0 / (double)(n * c);
        for (int64_t e = 0; e < n * c; e++) {
            if (kind == OL_LOSS_MSE) {
                double d = y[e] - dense[e];
                total += d * d;
                dy[e] = 2 * d * inv;
                Rdy[e] = 2 * Ry[e] * inv;
            } else {
                double u = y[e], ex = exp(-fabs(u));
                double s = u >= 0 ? 1 / (1 + ex) : ex / (1 + ex);
                total += (u > 0 ? u : 0) - u * dense[e] + log1p(ex);
                dy[e] = (s - dense[e]) * inv;
                Rdy[e] = s * (1 - s) * Ry[e] * inv;
            }
        }
        total *= inv;
    }

    /* ---- backward and R-backward ---- */
    memset(out, 0, (size_t)np * sizeof *out);
    const int full = !gauss_newton;
    for (int i = nl - 1; i >= 0; i--) {
        const ol_layer_spec *s = ol_model_layer(m, i);
        const int64_t wi = wd[i], wo = wd[i + 1];
        const double *dz = dA[i + 1], *Rdz = RdA[i + 1];
        if (s->kind == OL_LAYER_LINEAR) {
            const double *W = P + woff[i], *VW = v + woff[i];
            double *RdW = out + woff[i], *Rdb = out + boff[i];
            double *gW = G + woff[i], *gb = G + boff[i];
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)wo, (int)wi, (int)n, 1, Rdz,
                        (int)wo, A[i], (int)wi, 0, RdW, (int)wi);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)wo, (int)wi, (int)n, 1, dz,
                        (int)wo, A[i], (int)wi, 0, gW, (int)wi);
            if (full)
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)wo, (int)wi, (int)n, 1, dz,
                            (int)wo, RA[i], (int)wi, 1, RdW, (int)wi);
            for (int64_t r = 0; r < n; r++)
                for (int64_t j = 0; j < wo; j++) {
                    Rdb[j] += Rdz[r * wo + j];
                    gb[j] += dz[r * wo + j];
                }
            if (i > 0) {
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)wi, (int)wo, 1, dz,
                            (int)wo, W, (int)wi, 0, dA[i], (int)wi);
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)wi, (int)wo, 1, Rdz,
                            (int)wo, W, (int)wi, 0, RdA[i], (int)wi);
                if (full)
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)wi, (int)wo, 1,
                                dz, (int)wo, VW, (int)wi, 1, RdA[i], (int)wi);
            }
        } else if (i > 0) {
            for (int64_t e = 0; e < n * wo; e++) {
                double d1, d2;
                act_d12(s->act, s->slope, A[i][e], &d1, &d2);
                dA[i][e] = dz[e] * d1;
                RdA[i][e] = Rdz[e] * d1 + (full ? dz[e] * d2 * RA[i][e] : 0);
            }
        }
    }
    if (loss) *loss = total;
    if (grad) memcpy(grad, G, (size_t)np * sizeof *grad);
    rc = 0;
    goto done;
oom:
    ol_fail(err, "out of memory (curvature product, batch %lld)", (long long)n);
done:
    for (int i = 0; wd && A && RA && dA && RdA && i <= nl; i++) {
        free(A[i]);
        free(RA[i]);
        free(dA[i]);
        free(RdA[i]);
    }
    free(wd); free(A); free(RA); free(dA); free(RdA);
    free(P); free(G); free(woff); free(boff);
    return rc;
}
