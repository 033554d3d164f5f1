/* cg: non-linear conjugate gradient with a strong Wolfe line search; one
 * opt:step(closure) runs up to max_iter iterations.
 *
 *   d_0 = -g_0;  d_k = -g_k + beta_k d_{k-1}
 *   beta = "polak_ribiere" (PR+): max(0, g_k.(g_k - g_{k-1}) / |g_{k-1}|^2)
 *          "fletcher_reeves":     |g_k|^2 / |g_{k-1}|^2
 *   w_{k+1} = w_k + t_k d_k, t_k from the strong Wolfe line search (second.c;
 *   N&W Alg. 3.5/3.6, c1 = 1e-4, c2 = 0.1 as N&W advise for CG).
 * Restart (d = -g) every `restart` iterations (0: every n, the number of
 * parameters) and whenever d is not a descent direction (g.d >= 0).
 * First trial step: min(1, 1/|g|_1) on the first iteration after a reset,
 * then t_{k-1} (g_{k-1}.d_{k-1}) / (g_k.d_k) (N&W eq. 3.60).
 * Stops when |g|inf <= tol or the step no longer moves w.
 * On a quadratic with an exact line search (a small c2) this is linear CG
 * and reaches the minimum of an n-dimensional quadratic in at most n
 * iterations (N&W Thm. 5.3; the cubic interpolation of the line search is
 * exact on a parabola).
 * Source: Nocedal & Wright, Numerical Optimization (2nd ed.), sec. 5.2.
 * Options: max_iter=20, tol=1e-7, beta="polak_ribiere", c1=1e-4, c2=0.1,
 * restart=0. State: direction, prev_grad. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/second.h"

enum { MAX_ITER, TOL, BETA, C1, C2, RESTART, NSLOTS };

static const char *const beta_choices[] = {"polak_ribiere", "fletcher_reeves", NULL};
static const ol_optim_option options[] = {
    {.name = "max_iter", .type = OL_OPT_NUMBER, .slot = MAX_ITER, .def = {20}, .lo = 1, .hi = 1e9},
    {.name = "tol", .type = OL_OPT_NUMBER, .slot = TOL, .def = {1e-7}, OL_GE0},
    {.name = "beta", .type = OL_OPT_ENUM, .slot = BETA, .def = {0}, .choices = beta_choices},
    {.name = "c1", .type = OL_OPT_NUMBER, .slot = C1, .def = {1e-4}, .lo = 0, .hi = 1, .lo_open = 1, .hi_open = 1},
    {.name = "c2", .type = OL_OPT_NUMBER, .slot = C2, .def = {0.1}, .lo = 0, .hi = 1, .lo_open = 1, .hi_open = 1},
    {.name = "restart", .type = OL_OPT_NUMBER, .slot = RESTART, .def = {0}, .lo = 0, .hi = 1e9},
};
static const char *const state_names[] = {"direction", "prev_grad"};

static int check(const double *o, ol_error *err) {
    if (o[MAX_ITER] != floor(o[MAX_ITER]) || o[RESTART] != floor(o[RESTART]))
        return ol_fail(err, "options 'max_iter' and 'restart' must be integers");
    if (!(o[C1] < o[C2])) return ol_fail(err, "option 'c1' must be < c2 (got %g, %g)", o[C1], o[C2]);
    return 0;
}

typedef struct mem {
    double *d, *g, *gp, *x0, *scratch;
    int64_t since_restart;
    int started;
    double t_prev, gtd_prev;
} mem;

static void mem_free(void *pv) {
    mem *m = pv;
    if (!m) return;
    free(m->d); free(m->g); free(m->gp); free(m->x0); free(m->scratch);
    free(m);
}

static mem *mem_get(ol_optim *opt, ol_error *err) {
    if (opt->priv) return opt->priv;
    const size_t n = (size_t)opt->n + 1;
    mem *m = calloc(1, sizeof *m);
    if (m) {
        m->d = calloc(n, sizeof(double));
        m->g = calloc(n, sizeof(double));
        m->gp = calloc(n, sizeof(double));
        m->x0 = calloc(n, sizeof(double));
        m->scratch = calloc(4 * n, sizeof(double));
    }
    if (!m || !m->d || !m->g || !m->gp || !m->x0 || !m->scratch) {
        mem_free(m);
        return ol_fail(err, "out of memory (cg with %lld parameters)", (long long)opt->n), NULL;
    }
    opt->priv = m;
    return m;
}

static int cg_step(ol_optim *opt, double *w, const ol_closure *f, double *loss, ol_error *err) {
    const int64_t n = opt->n;
    mem *m = mem_get(opt, err);
    if (!m) return -1;
    const int max_iter = (int)opt->groups[0].o[MAX_ITER];
    const int64_t restart = opt->groups[0].o[RESTART] > 0 ? (int64_t)opt->groups[0].o[RESTART] : (n > 0 ? n : 1);
    const int fr = opt->groups[0].o[BETA] == 1;
    ol_wolfe p = {.c1 = opt->groups[0].o[C1], .c2 = opt->groups[0].o[C2], .tolerance_change = 1e-12, .max_ls = 25};
    double *g = m->g, *d = m->d;
    double fc;
    if (f->fg(f->ud, w, &fc, g, err)) return -1;
    *loss = fc;
    int iters = 0, evals = 1, restarts = 0;
    const char *why = "max_iter";
    while (iters < max_iter) {
        if (ol_vmaxabs(n, g) <= opt->groups[0].o[TOL]) { why = "|g|inf <= tol"; break; }
        int fresh = !m->started || m->since_restart >= restart;
        if (!fresh) {
            double gg_prev = ol_vdot(n, m->gp, m->gp), beta;
            if (fr) {
                beta = ol_vdot(n, g, g) / gg_prev;
            } else {
                double num = 0;
                for (int64_t i = 0; i < n; i++) num += g[i] * (g[i] - m->gp[i]);
                beta = fmax(0, num / gg_prev);
            }
            for (int64_t i = 0; i < n; i++) d[i] = -g[i] + beta * d[i];
            if (ol_vdot(n, g, d) >= 0) fresh = 1; /* not a descent direction */
        }
        if (fresh) {
            for (int64_t i = 0; i < n; i++) d[i] = -g[i];
            m->since_restart = 0;
            restarts += m->started;
        }
        double gtd = ol_vdot(n, g, d), t;
        if (!m->started) {
            double s1 = 0;
            for (int64_t i = 0; i < n; i++) s1 += fabs(g[i]);
            t = fmin(1.0, 1.0 / s1);
        } else {
            t = m->t_prev * m->gtd_prev / gtd;
        }
        memcpy(m->x0, w, (size_t)n * sizeof *w);
        memcpy(m->gp, g, (size_t)n * sizeof *g);
        int ls_evals = 0;
        double f_new;
        if (ol_strong_wolfe(f, &p, m->x0, &t, d, fc, m->gp, gtd, &f_new, g, &ls_evals, m->scratch, err))
            return -1;
        for (int64_t i = 0; i < n; i++) w[i] = m->x0[i] + t * d[i];
        evals += ls_evals;
        iters++;
        m->since_restart++;
        m->started = 1;
        m->t_prev = t;
        m->gtd_prev = gtd;
        fc = f_new;
        if (t * ol_vmaxabs(n, d) <= 1e-300 || t == 0) { why = "the line search made no progress"; break; }
    }
    snprintf(opt->info, sizeof opt->info, "%d iterations, %d evaluations, %d restarts, stopped by %s",
             iters, evals, restarts, why);
    ol_optim_export_state(opt, 0, d);
    ol_optim_export_state(opt, 1, m->gp);
    return 0;
}

const ol_optim_desc ol_optim_cg = {
    .name = "cg",
    .kind = OL_OPTIM_CLOSURE,
    .options = options,
    .noptions = sizeof options / sizeof *options,
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 2,
    .check = check,
    .doc = "non-linear conjugate gradient, PR+ or FR, strong Wolfe line search (N&W 5.2)",
    .closure_step = cg_step,
    .priv_free = mem_free,
};
