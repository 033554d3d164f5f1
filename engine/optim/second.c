/* What the closure methods share: the step entry point, vector helpers,
 * curvature products by central differences, and the strong Wolfe line
 * search.
 *
 * Line search: torch/optim/lbfgs.py (_cubic_interpolate, _strong_wolfe),
 * itself Nocedal & Wright, Numerical Optimization (2nd ed.), Alg. 3.5 (the
 * bracketing phase) and Alg. 3.6 (zoom), with the trial steps chosen by the
 * minimiser of the cubic through two points with their slopes (N&W eq.
 * 3.59), clamped to a safeguard interval. Kept line for line with torch's so
 * that lbfgs(line_search = "strong_wolfe") takes torch's steps.
 *
 * Finite-difference curvature: B v ~ (g(w + h v) - g(w - h v)) / 2h, exact
 * for quadratics, error O(h^2) otherwise; h = cbrt(eps) scaled to w and v
 * balances truncation against rounding (N&W sec. 8.1). */
#include "optim/second.h"

#include <float.h>
#include <math.h>
#include <string.h>

double ol_vdot(int64_t n, const double *a, const double *b) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

double ol_vmaxabs(int64_t n, const double *a) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

int ol_closure_at(const ol_closure *f, const double *x, double t, const double *d, double *xt,
                  double *loss, double *g, ol_error *err) {
    for (int64_t i = 0; i < f->n; i++) xt[i] = x[i] + t * d[i];
    return f->fg(f->ud, xt, loss, g, err);
}

int ol_closure_bv(const ol_closure *f, const double *w, const double *v, double *out,
                  int gauss_newton, double *work, ol_error *err) {
    if (f->bv) return f->bv(f->ud, w, v, out, gauss_newton, err);
    const int64_t n = f->n;
    double vmax = ol_vmaxabs(n, v), wmax = ol_vmaxabs(n, w);
    if (vmax == 0) {
        memset(out, 0, (size_t)n * sizeof *out);
        return 0;
    }
    double h = cbrt(f->eps > 0 ? f->eps : DBL_EPSILON) * (wmax > 1 ? wmax : 1) / vmax;
    double lp, lm, *xt = work, *gm = work + n;
    if (ol_closure_at(f, w, h, v, xt, &lp, out, err)) return -1;
    if (ol_closure_at(f, w, -h, v, xt, &lm, gm, err)) return -1;
    for (int64_t i = 0; i < n; i++) out[i] = (out[i] - gm[i]) / (2 * h);
    return 0;
}

int ol_closure_hessian(const ol_closure *f, const double *w, double *H, double *work,
                       ol_error *err) {
    const int64_t n = f->n;
    double *e = work, *col = work + n, *xt = work + 2 * n, *gm = work + 3 * n;
    memset(e, 0, (size_t)n * sizeof *e);
    for (int64_t i = 0; i < n; i++) {
        e[i] = 1;
        if (f->bv) {
            if (f->bv(f->ud, w, e, col, 0, err)) return -1;
        } else {
            /* Per-coordinate step: scaled to w_i, not to the whole vector. */
            double h = cbrt(f->eps > 0 ? f->eps : DBL_EPSILON) * fmax(1, fabs(w[i])), lp, lm;
            if (ol_closure_at(f, w, h, e, xt, &lp, col, err)) return -1;
            if (ol_closure_at(f, w, -h, e, xt, &lm, gm, err)) return -1;
            for (int64_t r = 0; r < n; r++) col[r] = (col[r] - gm[r]) / (2 * h);
        }
        e[i] = 0;
        for (int64_t r = 0; r < n; r++) H[r * n + i] = col[r];
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = r + 1; c < n; c++) {
            double s = 0.5 * (H[r * n + c] + H[c * n + r]);
            H[r * n + c] = H[c * n + r] = s;
        }
    return 0;
}

double ol_cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                            const double *bounds) {
    double lo, hi;
    if (bounds) {
        lo = bounds[0];
        hi = bounds[1];
    } else if (x1 <= x2) {
        lo = x1;
        hi = x2;
    } else {
        lo = x2;
        hi = x1;
    }
    /* Minimiser of the cubic interpolating (x1, f1, g1) and (x2, f2, g2). */
    double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
    double d2sq = d1 * d1 - g1 * g2;
    if (d2sq >= 0) {
        double d2 = sqrt(d2sq), m;
        if (x1 <= x2) m = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2));
        else m = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
        return fmin(fmax(m, lo), hi);
    }
    return (lo + hi) / 2;
}

int ol_strong_wolfe(const ol_closure *f, const ol_wolfe *p, const double *x, double *tp,
                    const double *d, double f0, const double *g0, double gtd, double *f_out,
                    double *g_out, int *evals, double *scratch, ol_error *err) {
    const int64_t n = f->n;
    const size_t vb = (size_t)n * sizeof(double);
    double *xt = scratch, *g_new = g_out;
    /* bracket gradients live in scratch; "g_prev" is bracket slot 0's
     * candidate before a bracket exists. */
    double *bg[2] = {scratch + n, scratch + 2 * n};
    double *g_prev = scratch + 3 * n;
    const double c1 = p->c1, c2 = p->c2;
    double t = *tp, d_norm = ol_vmaxabs(n, d), f_new;
    if (ol_closure_at(f, x, t, d, xt, &f_new, g_new, err)) return -1;
    int ls_evals = 1, ls_iter = 0, done = 0, nb = 0;
    double gtd_new = ol_vdot(n, g_new, d);
    double t_prev = 0, f_prev = f0, gtd_prev = gtd;
    memcpy(g_prev, g0, vb);
    double br[2] = {0, 0}, bf[2] = {0, 0}, bgtd[2] = {0, 0};

    while (ls_iter < p->max_ls) {
        if (f_new > f0 + c1 * t * gtd || (ls_iter > 1 && f_new >= f_prev)) {
            br[0] = t_prev; br[1] = t; bf[0] = f_prev; bf[1] = f_new;
            memcpy(bg[0], g_prev, vb); memcpy(bg[1], g_new, vb);
            bgtd[0] = gtd_prev; bgtd[1] = gtd_new;
            nb = 2;
            break;
        }
        if (fabs(gtd_new) <= -c2 * gtd) {
            br[0] = t; bf[0] = f_new; memcpy(bg[0], g_new, vb);
            nb = 1;
            done = 1;
            break;
        }
        if (gtd_new >= 0) {
            br[0] = t_prev; br[1] = t; bf[0] = f_prev; bf[1] = f_new;
            memcpy(bg[0], g_prev, vb); memcpy(bg[1], g_new, vb);
            bgtd[0] = gtd_prev; bgtd[1] = gtd_new;
            nb = 2;
            break;
        }
        /* Extrapolate: a cubic step within [t + 0.01 (t - t_prev), 10 t]. */
        double bounds[2] = {t + 0.01 * (t - t_prev), t * 10};
        double tmp = t;
        t = ol_cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds);
        t_prev = tmp;
        f_prev = f_new;
        memcpy(g_prev, g_new, vb);
        gtd_prev = gtd_new;
        if (ol_closure_at(f, x, t, d, xt, &f_new, g_new, err)) return -1;
        ls_evals++;
        gtd_new = ol_vdot(n, g_new, d);
        ls_iter++;
    }
    if (ls_iter == p->max_ls) { /* no bracket found: take the better end */
        br[0] = 0; br[1] = t; bf[0] = f0; bf[1] = f_new;
        memcpy(bg[0], g0, vb); memcpy(bg[1], g_new, vb);
        nb = 2;
    }

    /* Zoom (Alg. 3.6): shrink the bracket until a point meets the strong
     * Wolfe conditions. low: the end with the lower loss. */
    int insuf = 0;
    int lo = bf[0] <= bf[nb - 1] ? 0 : 1, hi = 1 - lo;
    while (!done && ls_iter < p->max_ls) {
        if (fabs(br[1] - br[0]) * d_norm < p->tolerance_change) break;
        t = ol_cubic_interpolate(br[0], bf[0], bgtd[0], br[1], bf[1], bgtd[1], NULL);
        /* Safeguard: a trial too close to an end makes little progress;
         * the second time in a row, move it 10% of the width inside. */
        double bmax = fmax(br[0], br[1]), bmin = fmin(br[0], br[1]);
        double eps = 0.1 * (bmax - bmin);
        if (fmin(bmax - t, t - bmin) < eps) {
            if (insuf || t >= bmax || t <= bmin) {
                t = fabs(t - bmax) < fabs(t - bmin) ? bmax - eps : bmin + eps;
                insuf = 0;
            } else {
                insuf = 1;
            }
        } else {
            insuf = 0;
        }
        if (ol_closure_at(f, x, t, d, xt, &f_new, g_new, err)) return -1;
        ls_evals++;
        gtd_new = ol_vdot(n, g_new, d);
        ls_iter++;
        if (f_new > f0 + c1 * t * gtd || f_new >= bf[lo]) {
            br[hi] = t; bf[hi] = f_new; memcpy(bg[hi], g_new, vb); bgtd[hi] = gtd_new;
            lo = bf[0] <= bf[1] ? 0 : 1;
            hi = 1 - lo;
        } else {
            if (fabs(gtd_new) <= -c2 * gtd) {
                done = 1;
            } else if (gtd_new * (br[hi] - br[lo]) >= 0) {
                br[hi] = br[lo]; bf[hi] = bf[lo]; memcpy(bg[hi], bg[lo], vb); bgtd[hi] = bgtd[lo];
            }
            br[lo] = t; bf[lo] = f_new; memcpy(bg[lo], g_new, vb); bgtd[lo] = gtd_new;
        }
    }
    *tp = br[lo];
    *f_out = bf[lo];
    memcpy(g_out, bg[lo], vb);
    *evals = ls_evals;
    return 0;
}

void ol_optim_export_state(ol_optim *opt, int i, const double *v) {
    if (i >= opt->desc->nstate || !opt->state[i].st) return;
    void *dst = ol_tensor_data(&opt->state[i]);
    if (opt->dtype == OL_F64) {
        memcpy(dst, v, (size_t)opt->n * sizeof *v);
    } else {
        float *p = dst;
        for (int64_t k = 0; k < opt->n; k++) p[k] = (float)v[k];
    }
}

int ol_optim_is_closure(const ol_optim *opt) { return opt->desc->kind == OL_OPTIM_CLOSURE; }

int ol_optim_closure_step(ol_optim *opt, double *w, const ol_closure *f, double *loss,
                          ol_error *err) {
    if (!ol_optim_is_closure(opt))
        return ol_fail(err, "%s takes gradients, not a closure step", opt->desc->name);
    if (f->n != opt->n)
        return ol_fail(err, "closure has %lld parameters, the optimizer %lld", (long long)f->n,
                       (long long)opt->n);
    /* A closure method moves all its parameters as one vector along one
     * search direction: groups can only share it. */
    for (int i = 0; i < opt->desc->noptions; i++)
        if (!ol_optim_groups_agree(opt, &opt->desc->options[i]))
            return ol_fail(err, "%s steps all its parameters as one vector: option '%s' must be "
                           "the same in every group", opt->desc->name, opt->desc->options[i].name);
    int64_t covered = 0;
    for (int i = 0; i < opt->nparams; i++) covered += opt->params[i].rows * opt->params[i].cols;
    if (covered != opt->n)
        return ol_fail(err, "%s steps all its parameters as one vector: %lld of the %lld are in "
                       "no group", opt->desc->name, (long long)(opt->n - covered), (long long)opt->n);
    opt->info[0] = 0;
    if (opt->desc->closure_step(opt, w, f, loss, err)) return -1;
    opt->t++;
    return 0;
}
