/* newton: damped Newton's method (Levenberg-Marquardt style) for small
 * problems, one Newton step per opt:step(closure).
 *
 *   g = grad f(w),  H = the Hessian at w (symmetrised),
 *   solve (H + damping I) p = -g by Cholesky (LAPACK dpotrf/dpotrs),
 *   w <- w + lr p.
 *
 * H: exact products with unit vectors when the closure gives them (models,
 * through the nn engine's R-operator), else column i by central
 * differences of the gradient, (g(w + h e_i) - g(w - h e_i)) / 2h with
 * h = cbrt(eps) max(1, |w_i|) (Nocedal & Wright, 2nd ed., sec. 8.1), then
 * (H + H^T) / 2. Cost: n products or 2n gradients and O(n^3) for the
 * factorisation, so the problem is capped at 5000 parameters.
 *
 * Fallback, never a silent NaN: when H + damping I is not positive definite
 * (a saddle, a maximum, or too little damping) the damping used for this
 * step is raised (from 0 to 1e-8 max(1, max|H_ii|), then x10 per try)
 * until the matrix factors; opt.info says so. The option itself is left as
 * set. With damping = 0 and H positive definite, a quadratic is solved in
 * one step. Source: Nocedal & Wright, sec. 3.4 (modified Newton by adding
 * a multiple of I) and Levenberg (1944) / Marquardt (1963).
 * Options: damping=1e-4, lr=1. State: direction (the last p). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg/linalg.h"
#include "optim/second.h"

enum { DAMPING, LR, NSLOTS };
#define NEWTON_MAX_PARAMS 5000

static const ol_optim_option options[] = {
    {.name = "damping", .type = OL_OPT_NUMBER, .slot = DAMPING, .def = {1e-4}, OL_GE0},
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1}, OL_GT0},
};
static const char *const state_names[] = {"direction"};

typedef struct mem {
    double *H, *W, *g, *p, *col, *work;
} mem;

static void mem_free(void *pv) {
    mem *m = pv;
    if (!m) return;
    free(m->H);
    free(m->W);
    free(m->g);
    free(m->p);
    free(m->col);
    free(m->work);
    free(m);
}

static mem *mem_get(ol_optim *opt, ol_error *err) {
    if (opt->priv) return opt->priv;
    const size_t n = (size_t)opt->n;
    mem *m = calloc(1, sizeof *m);
    if (m) {
        m->H = malloc(n * n * sizeof(double));
        m->W = malloc(n * n * sizeof(double));
        m->g = malloc(n * sizeof(double));
        m->p = malloc(n * sizeof(double));
        m->col = malloc(n * sizeof(double));
        m->work = malloc(4 * n * sizeof(double));
    }
    if (!m || !m->H || !m->W || !m->g || !m->p || !m->col || !m->work) {
        mem_free(m);
        ol_fail(err, "out of memory (Hessian of %lld parameters)", (long long)n);
        return NULL;
    }
    opt->priv = m;
    return m;
}

static int newton_step(ol_optim *opt, double *w, const ol_closure *f, double *loss, ol_error *err) {
    const int64_t n = opt->n;
    if (n > NEWTON_MAX_PARAMS)
        return ol_fail(err, "newton forms the exact Hessian: %lld parameters is more than %d "
                       "(use lbfgs or hessian_free)", (long long)n, NEWTON_MAX_PARAMS);
    if (n == 0) return 0;
    mem *m = mem_get(opt, err);
    if (!m) return -1;
    if (f->fg(f->ud, w, loss, m->g, err)) return -1;
    if (ol_closure_hessian(f, w, m->H, m->work, err)) return -1;
    for (int64_t i = 0; i < n; i++) m->col[i] = -m->g[i];
    double lam = opt->groups[0].o[DAMPING];
    int raised;
    if (ol_chol_solve_damped(n, m->H, m->col, &lam, m->p, &raised, m->W, err)) return -1;
    if (raised)
        snprintf(opt->info, sizeof opt->info,
                 "damping raised from %g to %g: H + damping*I was not positive definite",
                 opt->groups[0].o[DAMPING], lam);
    else
        snprintf(opt->info, sizeof opt->info, "Cholesky with damping %g", lam);
    const double lr = opt->groups[0].o[LR];
    for (int64_t i = 0; i < n; i++) w[i] += lr * m->p[i];
    ol_optim_export_state(opt, 0, m->p);
    return 0;
}

const ol_optim_desc ol_optim_newton = {
    .name = "newton",
    .kind = OL_OPTIM_CLOSURE,
    .options = options,
    .noptions = sizeof options / sizeof *options,
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 1,
    .doc = "damped Newton: solve (H + damping I) p = -g by Cholesky, w += lr p "
           "(Nocedal & Wright 3.4; Levenberg-Marquardt damping)",
    .closure_step = newton_step,
    .priv_free = mem_free,
};
