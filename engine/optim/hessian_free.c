/* hessian_free: truncated Newton after Martens (2010), "Deep learning via
 * Hessian-free optimization" (ICML), one outer iteration per opt:step:
 *
 *   g = grad f(w); B = the Gauss-Newton matrix G (models with mse,
 *   cross_entropy or bce, exact products through the nn engine; option
 *   gauss_newton) or the Hessian H (plain closures: central differences of
 *   the gradient, see second.c);
 *   p ~ argmin q(p) = g.p + p.(B + damping I)p / 2 by linear CG (N&W
 *   Alg. 5.2), at most cg_iters iterations, started from decay * (the
 *   previous step's p) (Martens sec. 4.5), stopped early by Martens'
 *   relative-progress rule (sec. 4.4: i > k and
 *   (phi_i - phi_{i-k}) / phi_i < k * 5e-4, k = max(10, i / 10)), or at
 *   negative curvature (d.Bd <= 0, possible with the Hessian);
 *   rho = (f(w + p) - f(w)) / (g.p + p.Bp / 2)   (the reduction ratio);
 *   damping *= 3/2 if rho < 1/4, *= 2/3 if rho > 3/4 (Levenberg-Marquardt
 *   heuristic, Martens sec. 4.1) -- written back to the live option
 *   `damping`, so opt.damping shows the adapted value;
 *   w <- w + a p, a = 1, 0.8, 0.64, ... the first meeting the Armijo
 *   condition f(w + a p) <= f(w) + 1e-2 a g.p (Martens sec. 4.6; at most 20
 *   tries, else no move).
 * Options: damping=1, cg_iters=50, decay=0.95, gauss_newton=true.
 * State: delta (the CG solution carried to the next step). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/second.h"

enum { DAMPING, CG_ITERS, DECAY, GAUSS_NEWTON, NSLOTS };

static const ol_optim_option options[] = {
    {.name = "damping", .type = OL_OPT_NUMBER, .slot = DAMPING, .def = {1}, OL_GE0},
    {.name = "cg_iters", .type = OL_OPT_NUMBER, .slot = CG_ITERS, .def = {50}, .lo = 1, .hi = 1e9},
    {.name = "decay", .type = OL_OPT_NUMBER, .slot = DECAY, .def = {0.95}, OL_UNIT_CLOSED},
    {.name = "gauss_newton", .type = OL_OPT_BOOL, .slot = GAUSS_NEWTON, .def = {1}},
};
static const char *const state_names[] = {"delta"};

static int check(const double *o, ol_error *err) {
    if (o[CG_ITERS] != floor(o[CG_ITERS])) return ol_fail(err, "option 'cg_iters' must be an integer");
    return 0;
}

typedef struct mem {
    double *x, *g, *r, *dir, *Ad, *xt, *gt, *work, *phi;
    int phi_len; /* entries of phi: cg_iters + 1 at its largest so far */
} mem;

static void mem_free(void *pv) {
    mem *m = pv;
    if (!m) return;
    free(m->x); free(m->g); free(m->r); free(m->dir); free(m->Ad);
    free(m->xt); free(m->gt); free(m->work); free(m->phi);
    free(m);
}

static mem *mem_get(ol_optim *opt, ol_error *err) {
    mem *m = opt->priv;
    const int iters = (int)opt->groups[0].o[CG_ITERS];
    const size_t n = (size_t)opt->n + 1;
    if (!m) {
        m = calloc(1, sizeof *m);
        if (m) {
            m->x = calloc(n, sizeof(double));
            m->g = calloc(n, sizeof(double));
            m->r = calloc(n, sizeof(double));
            m->dir = calloc(n, sizeof(double));
            m->Ad = calloc(n, sizeof(double));
            m->xt = calloc(n, sizeof(double));
            m->gt = calloc(n, sizeof(double));
            m->work = calloc(3 * n, sizeof(double));
        }
        if (!m || !m->x || !m->g || !m->r || !m->dir || !m->Ad || !m->xt || !m->gt || !m->work) {
            mem_free(m);
            return ol_fail(err, "out of memory (hessian_free with %lld parameters)", (long long)opt->n), NULL;
        }
        opt->priv = m;
    }
    /* cg_iters is live: phi grows when it does, and a step at a size
     * already seen allocates nothing. Each step writes phi[0..it] before
     * reading them. */
    if (m->phi_len < iters + 1) {
        double *phi = calloc((size_t)iters + 1, sizeof(double));
        if (!phi) return ol_fail(err, "out of memory"), NULL;
        free(m->phi);
        m->phi = phi;
        m->phi_len = iters + 1;
    }
    return m;
}

/* out = (B + lambda I) v */
static int apply(const ol_closure *f, const double *w, int gn, double lambda, const double *v,
                 double *out, double *work, ol_error *err) {
    if (ol_closure_bv(f, w, v, out, gn, work, err)) return -1;
    for (int64_t i = 0; i < f->n; i++) out[i] += lambda * v[i];
    return 0;
}

static int hf_step(ol_optim *opt, double *w, const ol_closure *f, double *loss, ol_error *err) {
    const int64_t n = opt->n;
    mem *m = mem_get(opt, err);
    if (!m) return -1;
    const double lambda = opt->groups[0].o[DAMPING];
    const int gn = opt->groups[0].o[GAUSS_NEWTON] != 0 && f->bv != NULL;
    const int max_cg = (int)opt->groups[0].o[CG_ITERS];
    double *x = m->x, *g = m->g, *r = m->r, *dir = m->dir, *Ad = m->Ad;
    double f0;
    if (f->fg(f->ud, w, &f0, g, err)) return -1;
    *loss = f0;
    if (ol_vmaxabs(n, g) == 0) {
        snprintf(opt->info, sizeof opt->info, "gradient is zero: no step");
        return 0;
    }

    /* Linear CG on (B + lambda I) x = -g from the decayed previous x. */
    for (int64_t i = 0; i < n; i++) x[i] *= opt->groups[0].o[DECAY];
    if (apply(f, w, gn, lambda, x, Ad, m->work, err)) return -1;
    for (int64_t i = 0; i < n; i++) r[i] = -g[i] - Ad[i];
    memcpy(dir, r, (size_t)n * sizeof *r);
    double rr = ol_vdot(n, r, r);
    /* phi(x) = g.x + x.Ax/2 = (g.x - r.x)/2 since Ax = -g - r. */
    m->phi[0] = 0.5 * (ol_vdot(n, g, x) - ol_vdot(n, r, x));
    int it = 0;
    const char *why = "cg_iters";
    const double gnorm2 = ol_vdot(n, g, g);
    while (it < max_cg) {
        if (rr <= 1e-20 * gnorm2) { why = "residual"; break; }
        if (apply(f, w, gn, lambda, dir, Ad, m->work, err)) return -1;
        double curv = ol_vdot(n, dir, Ad);
        if (!(curv > 0)) { why = "negative curvature"; break; }
        double a = rr / curv;
        for (int64_t i = 0; i < n; i++) {
            x[i] += a * dir[i];
            r[i] -= a * Ad[i];
        }
        double rr_new = ol_vdot(n, r, r);
        it++;
        m->phi[it] = 0.5 * (ol_vdot(n, g, x) - ol_vdot(n, r, x));
        int k = it / 10 > 10 ? it / 10 : 10;
        if (it > k && m->phi[it] < 0 && (m->phi[it] - m->phi[it - k]) / m->phi[it] < k * 5e-4) {
            why = "relative progress";
            break;
        }
        for (int64_t i = 0; i < n; i++) dir[i] = r[i] + (rr_new / rr) * dir[i];
        rr = rr_new;
    }
    double gx = ol_vdot(n, g, x);
    if (!(gx < 0)) {
        /* The warm start or negative curvature left no descent direction:
         * fall back to steepest descent, scaled by its curvature. */
        if (apply(f, w, gn, lambda, g, Ad, m->work, err)) return -1;
        double c = ol_vdot(n, g, Ad);
        double s = c > 0 ? gnorm2 / c : 1e-3;
        for (int64_t i = 0; i < n; i++) x[i] = -s * g[i];
        gx = ol_vdot(n, g, x);
        why = "steepest-descent fallback";
    }
    /* Model reduction with the undamped B: q = g.x + x.Bx/2. */
    if (ol_closure_bv(f, w, x, Ad, gn, m->work, err)) return -1;
    double q = gx + 0.5 * ol_vdot(n, x, Ad);

    double f1;
    if (ol_closure_at(f, w, 1.0, x, m->xt, &f1, m->gt, err)) return -1;
    double rho = q < 0 ? (f1 - f0) / q : -INFINITY;
    double new_lambda = lambda;
    if (rho < 0.25) new_lambda = lambda * 1.5;
    else if (rho > 0.75) new_lambda = lambda * (2.0 / 3.0);

    double a = 1, fa = f1;
    int tries = 0;
    while (!(fa <= f0 + 1e-2 * a * gx) && tries < 20) {
        a *= 0.8;
        tries++;
        if (ol_closure_at(f, w, a, x, m->xt, &fa, m->gt, err)) return -1;
    }
    if (!(fa <= f0 + 1e-2 * a * gx)) a = 0;
    for (int64_t i = 0; i < n; i++) w[i] += a * x[i];
    for (int i = 0; i < opt->ngroups; i++) opt->groups[i].o[DAMPING] = new_lambda;
    snprintf(opt->info, sizeof opt->info,
             "%d CG iterations (%s, %s), rho = %.3g, damping %g -> %g, step %g", it,
             gn ? "Gauss-Newton" : "Hessian", why, rho, lambda, new_lambda, a);
    ol_optim_export_state(opt, 0, x);
    return 0;
}

const ol_optim_desc ol_optim_hessian_free = {
    .name = "hessian_free",
    .kind = OL_OPTIM_CLOSURE,
    .options = options,
    .noptions = sizeof options / sizeof *options,
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 1,
    .check = check,
    .doc = "truncated Newton: CG on Gauss-Newton/Hessian products, LM damping (Martens 2010)",
    .closure_step = hf_step,
    .priv_free = mem_free,
};
