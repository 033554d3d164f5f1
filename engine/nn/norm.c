/* Normalisation layers, as torch.nn.LayerNorm (over the last dimension)
 * and torch.nn.BatchNorm1d (over the batch, per feature):
 *
 *   xhat = (x - mean) / sqrt(var + eps),  y = xhat gamma + beta
 *
 * with the biased variance (divided by the count). Layer norm takes the
 * mean and variance of each row's w features; batch norm those of each
 * feature over the n rows in training mode, and its running estimates in
 * evaluation mode (model.c keeps them, nn.h says how they move).
 *
 * Backward, with g = dy gamma and the means over what was normalised:
 *
 *   dx = rstd (g - mean(g) - xhat mean(g xhat))     (batch statistics)
 *   dx = rstd g                                     (running estimates)
 *   dgamma = sum over rows of dy xhat,  dbeta = sum over rows of dy
 *
 * Every statistic is summed in double in an order the engine fixes, so the
 * results do not depend on the number of threads: a row's sums run over
 * its features in order (layer norm cuts the rows over the pool, a row
 * never being split), and the sums over rows (batch norm's statistics,
 * dgamma and dbeta) run over the rows in order on the calling thread,
 * vectorised across the features. */
#ifndef OL_GENERIC
#include <math.h>
#include <string.h>

#include "core/parallel.h"
#include "nn/kernels.h"

/* Elements per part below which a loop over rows is not cut. */
#define NORM_MIN_PART 16384

static int64_t min_rows(int64_t w) { return w >= NORM_MIN_PART ? 1 : NORM_MIN_PART / w; }

#define OL_GENERIC "nn/norm.c"
#include "core/generic.h"

#else /* generic part: T, S() */

typedef struct S(ln_job) {
    int64_t w;
    double eps;
    const T *x, *gamma, *beta, *dy;
    double *stats; /* n means, then n rstds */
    int64_t n;
    T *y, *dx;
} S(ln_job);

static void S(ln_forward_part)(void *ctx, int64_t begin, int64_t end, int part) {
    (void)part;
    const S(ln_job) *j = ctx;
    const int64_t w = j->w;
    for (int64_t r = begin; r < end; r++) {
        const T *x = j->x + r * w;
        T *y = j->y + r * w;
        double s = 0, v = 0;
        for (int64_t c = 0; c < w; c++) s += (double)x[c];
        const double mean = s / (double)w;
        for (int64_t c = 0; c < w; c++) {
            const double d = (double)x[c] - mean;
            v += d * d;
        }
        const double rstd = 1 / sqrt(v / (double)w + j->eps);
        j->stats[r] = mean;
        j->stats[j->n + r] = rstd;
        if (j->gamma)
            for (int64_t c = 0; c < w; c++)
                y[c] = (T)(((double)x[c] - mean) * rstd * (double)j->gamma[c] + (double)j->beta[c]);
        else
            for (int64_t c = 0; c < w; c++) y[c] = (T)(((double)x[c] - mean) * rstd);
    }
}

void S(ol_layer_norm_forward)(int64_t n, int64_t w, double eps, const T *x, const T *gamma,
                              const T *beta, double *stats, T *y) {
    S(ln_job) j = {.w = w, .eps = eps, .x = x, .gamma = gamma, .beta = beta, .stats = stats,
                   .n = n, .y = y};
    ol_parallel_for(n, 1, min_rows(w), S(ln_forward_part), &j);
}

static void S(ln_backward_part)(void *ctx, int64_t begin, int64_t end, int part) {
    (void)part;
    const S(ln_job) *j = ctx;
    const int64_t w = j->w;
    for (int64_t r = begin; r < end; r++) {
        const T *x = j->x + r * w, *dy = j->dy + r * w;
        T *dx = j->dx + r * w;
        const double mean = j->stats[r], rstd = j->stats[j->n + r];
        double sg = 0, sgx = 0;
        for (int64_t c = 0; c < w; c++) {
            const double g = (double)dy[c] * (j->gamma ? (double)j->gamma[c] : 1.0);
            sg += g;
            sgx += g * ((double)x[c] - mean) * rstd;
        }
        const double mg = sg / (double)w, mgx = sgx / (double)w;
        for (int64_t c = 0; c < w; c++) {
            const double g = (double)dy[c] * (j->gamma ? (double)j->gamma[c] : 1.0);
            dx[c] = (T)(rstd * (g - mg - ((double)x[c] - mean) * rstd * mgx));
        }
    }
}

/* dgamma (+)= sum_r dy xhat, dbeta (+)= sum_r dy over the rows in order,
 * xhat from per-row (row_stats) or per-feature statistics (n, w: the
 * statistics' counts). */
static void S(affine_grads)(int64_t n, int64_t w, int row_stats, const T *x, const double *stats,
                            const T *dy, T *dgamma, T *dbeta, int acc, double *sums) {
    double *sdx = sums, *sd = sums + w;
    memset(sums, 0, 2 * (size_t)w * sizeof *sums);
    const int64_t k = row_stats ? n : w;
    for (int64_t r = 0; r < n; r++) {
        const T *xr = x + r * w, *dyr = dy + r * w;
        if (row_stats) {
            const double mean = stats[r], rstd = stats[k + r];
            for (int64_t c = 0; c < w; c++) {
                sdx[c] += (double)dyr[c] * ((double)xr[c] - mean) * rstd;
                sd[c] += (double)dyr[c];
            }
        } else {
            for (int64_t c = 0; c < w; c++) {
                sdx[c] += (double)dyr[c] * ((double)xr[c] - stats[c]) * stats[k + c];
                sd[c] += (double)dyr[c];
            }
        }
    }
    if (!dgamma) return;
    for (int64_t c = 0; c < w; c++) {
        dgamma[c] = acc ? (T)((double)dgamma[c] + sdx[c]) : (T)sdx[c];
        dbeta[c] = acc ? (T)((double)dbeta[c] + sd[c]) : (T)sd[c];
    }
}

void S(ol_layer_norm_backward)(int64_t n, int64_t w, const T *x, const T *gamma,
                               const double *stats, const T *dy, T *dx, T *dgamma, T *dbeta,
                               int accumulate, double *sums) {
    S(ln_job) j = {.w = w, .x = x, .gamma = gamma, .dy = dy, .stats = (double *)stats, .n = n,
                   .dx = dx};
    if (dx) ol_parallel_for(n, 1, min_rows(w), S(ln_backward_part), &j);
    if (dgamma) S(affine_grads)(n, w, 1, x, stats, dy, dgamma, dbeta, accumulate, sums);
}

void S(ol_batch_norm_forward)(int64_t n, int64_t w, double eps, double momentum, int batch,
                              const T *x, const T *gamma, const T *beta, T *rmean, T *rvar,
                              double *stats, T *y) {
    double *mean = stats, *rstd = stats + w;
    if (batch) { /* mean, then the sum of squared deviations, over the rows in order */
        memset(stats, 0, 2 * (size_t)w * sizeof *stats);
        for (int64_t r = 0; r < n; r++)
            for (int64_t c = 0; c < w; c++) mean[c] += (double)x[r * w + c];
        for (int64_t c = 0; c < w; c++) mean[c] /= (double)n;
        for (int64_t r = 0; r < n; r++)
            for (int64_t c = 0; c < w; c++) {
                const double d = (double)x[r * w + c] - mean[c];
                rstd[c] += d * d;
            }
        for (int64_t c = 0; c < w; c++) {
            const double ss = rstd[c];
            rstd[c] = 1 / sqrt(ss / (double)n + eps);
            rmean[c] = (T)((1 - momentum) * (double)rmean[c] + momentum * mean[c]);
            rvar[c] = (T)((1 - momentum) * (double)rvar[c] + momentum * (ss / (double)(n - 1)));
        }
    } else {
        for (int64_t c = 0; c < w; c++) {
            mean[c] = (double)rmean[c];
            rstd[c] = 1 / sqrt((double)rvar[c] + eps);
        }
    }
    for (int64_t r = 0; r < n; r++) {
        const T *xr = x + r * w;
        T *yr = y + r * w;
        if (gamma)
            for (int64_t c = 0; c < w; c++)
                yr[c] = (T)(((double)xr[c] - mean[c]) * rstd[c] * (double)gamma[c] + (double)beta[c]);
        else
            for (int64_t c = 0; c < w; c++) yr[c] = (T)(((double)xr[c] - mean[c]) * rstd[c]);
    }
}

void S(ol_batch_norm_backward)(int64_t n, int64_t w, int batch, const T *x, const T *gamma,
                               const double *stats, const T *dy, T *dx, T *dgamma, T *dbeta,
                               int accumulate, double *sums) {
    const double *mean = stats, *rstd = stats + w;
    /* sums[c] = sum_r dy xhat, sums[w + c] = sum_r dy: batch statistics'
     * dx needs them whether or not there are affine parameters */
    S(affine_grads)(n, w, 0, x, stats, dy, dgamma, dbeta, accumulate, sums);
    if (!dx) return;
    const double *sdx = sums, *sd = sums + w;
    for (int64_t r = 0; r < n; r++) {
        const T *xr = x + r * w, *dyr = dy + r * w;
        T *dxr = dx + r * w;
        for (int64_t c = 0; c < w; c++) {
            const double gs = (gamma ? (double)gamma[c] : 1.0) * rstd[c];
            if (batch) {
                const double xhat = ((double)xr[c] - mean[c]) * rstd[c];
                dxr[c] = (T)(gs * ((double)dyr[c] - sd[c] / (double)n - xhat * sdx[c] / (double)n));
            } else {
                dxr[c] = (T)(gs * (double)dyr[c]);
            }
        }
    }
}

#endif
