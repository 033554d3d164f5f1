/* lbfgs: limited-memory BFGS exactly as torch.optim.LBFGS (PyTorch 2.x,
 * torch/optim/lbfgs.py), one opt:step(closure) running up to max_iter
 * inner iterations:
 *
 *   first iteration ever: d = -g, H0 = 1, t = min(1, 1/|g|_1) lr;
 *   later: y = g - g_prev, s = t d; if y.s > 1e-10 push (s, y, rho = 1/y.s)
 *     (dropping the oldest beyond history_size) and H0 = y.s / y.y;
 *     d = -H g by the two-loop recursion (Nocedal & Wright, Alg. 7.4):
 *       q = -g; for i newest..oldest: a_i = rho_i s_i.q, q -= a_i y_i
 *       r = H0 q; for i oldest..newest: b = rho_i y_i.r, r += (a_i - b) s_i
 *     t = lr;
 *   stop if g.d > -tolerance_change; then w += t d, with t from the strong
 *   Wolfe line search (second.c, torch's _strong_wolfe) when line_search =
 *   "strong_wolfe", else fixed (and the closure re-evaluated unless this
 *   was the last iteration);
 *   stop after max_iter iterations, max_eval evaluations (0: max_iter*5/4,
 *   torch's default), |g|inf <= tolerance_grad, |t d|inf <=
 *   tolerance_change or |loss - prev_loss| < tolerance_change.
 * d, t, the history and the previous gradient carry over between steps, as
 * torch's state does. Returns the loss at the start of the step.
 * Changing history_size between steps clears the history.
 * State: d, prev_flat_grad. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/second.h"

enum { LR, MAX_ITER, MAX_EVAL, HISTORY, TOL_GRAD, TOL_CHANGE, LINE_SEARCH, NSLOTS };

static const char *const ls_choices[] = {"none", "strong_wolfe", NULL};
static const ol_optim_option options[] = {
    {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1}, OL_GT0},
    {.name = "max_iter", .type = OL_OPT_NUMBER, .slot = MAX_ITER, .def = {20}, .lo = 1, .hi = 1e9},
    {.name = "max_eval", .type = OL_OPT_NUMBER, .slot = MAX_EVAL, .def = {0}, .lo = 0, .hi = 1e9},
    {.name = "history_size", .type = OL_OPT_NUMBER, .slot = HISTORY, .def = {100}, .lo = 1, .hi = 1e6},
    {.name = "tolerance_grad", .type = OL_OPT_NUMBER, .slot = TOL_GRAD, .def = {1e-7}, OL_GE0},
    {.name = "tolerance_change", .type = OL_OPT_NUMBER, .slot = TOL_CHANGE, .def = {1e-9}, OL_GE0},
    {.name = "line_search", .type = OL_OPT_ENUM, .slot = LINE_SEARCH, .def = {0}, .choices = ls_choices},
};
static const char *const state_names[] = {"d", "prev_flat_grad"};

static int check(const double *o, ol_error *err) {
    if (o[MAX_ITER] != floor(o[MAX_ITER]) || o[HISTORY] != floor(o[HISTORY]) ||
        o[MAX_EVAL] != floor(o[MAX_EVAL]))
        return ol_fail(err, "options 'max_iter', 'max_eval' and 'history_size' must be integers");
    return 0;
}

typedef struct mem {
    int64_t n;
    int cap, count, head; /* ring: entry k (0 oldest) at (head + k) % cap */
    double *S, *Y, *ro, *al;
    double *d, *g, *prev_g, *x0, *scratch;
    double H_diag, t;
    int64_t n_iter, func_evals;
} mem;

static void mem_free(void *pv) {
    mem *m = pv;
    if (!m) return;
    free(m->S); free(m->Y); free(m->ro); free(m->al);
    free(m->d); free(m->g); free(m->prev_g); free(m->x0); free(m->scratch);
    free(m);
}

static int history_alloc(mem *m, int cap, ol_error *err) {
    free(m->S); free(m->Y); free(m->ro); free(m->al);
    m->cap = cap;
    m->count = m->head = 0;
    m->S = malloc((size_t)cap * (size_t)m->n * sizeof(double));
    m->Y = malloc((size_t)cap * (size_t)m->n * sizeof(double));
    m->ro = malloc((size_t)cap * sizeof(double));
    m->al = malloc((size_t)cap * sizeof(double));
    if (!m->S || !m->Y || !m->ro || !m->al)
        return ol_fail(err, "out of memory (L-BFGS history of %d x %lld)", cap, (long long)m->n);
    return 0;
}

static mem *mem_get(ol_optim *opt, ol_error *err) {
    mem *m = opt->priv;
    const int cap = (int)opt->groups[0].o[HISTORY];
    if (m) {
        if (m->cap != cap && history_alloc(m, cap, err)) return NULL;
        return m;
    }
    const size_t n = (size_t)opt->n;
    m = calloc(1, sizeof *m);
    if (!m) return ol_fail(err, "out of memory"), NULL;
    m->n = opt->n;
    m->d = calloc(n + 1, sizeof(double));
    m->g = calloc(n + 1, sizeof(double));
    m->prev_g = calloc(n + 1, sizeof(double));
    m->x0 = calloc(n + 1, sizeof(double));
    m->scratch = calloc(4 * n + 1, sizeof(double));
    if (!m->d || !m->g || !m->prev_g || !m->x0 || !m->scratch || history_alloc(m, cap, err)) {
        mem_free(m);
        ol_fail(err, "out of memory (L-BFGS with %lld parameters)", (long long)n);
        return NULL;
    }
    opt->priv = m;
    return m;
}

#define AT(M, k) ((M) + (size_t)(((m->head + (k)) % m->cap)) * (size_t)n)
#define RO(k) m->ro[(m->head + (k)) % m->cap]

static void push_pair(mem *m, const double *y, const double *d, double t, double ys) {
    const int64_t n = m->n;
    int k;
    if (m->count == m->cap) { /* drop the oldest */
        m->head = (m->head + 1) % m->cap;
        k = m->cap - 1;
    } else {
        k = m->count++;
    }
    double *Yk = AT(m->Y, k), *Sk = AT(m->S, k);
    for (int64_t i = 0; i < n; i++) {
        Yk[i] = y[i];
        Sk[i] = t * d[i];
    }
    RO(k) = 1 / ys;
}

static int lbfgs_step(ol_optim *opt, double *w, const ol_closure *f, double *loss, ol_error *err) {
    const int64_t n = opt->n;
    mem *m = mem_get(opt, err);
    if (!m) return -1;
    const double lr = opt->groups[0].o[LR], tol_grad = opt->groups[0].o[TOL_GRAD], tol_change = opt->groups[0].o[TOL_CHANGE];
    const int max_iter = (int)opt->groups[0].o[MAX_ITER];
    const int max_eval = opt->groups[0].o[MAX_EVAL] > 0 ? (int)opt->groups[0].o[MAX_EVAL] : max_iter * 5 / 4;
    const int wolfe = opt->groups[0].o[LINE_SEARCH] == 1;
    double *g = m->g, *d = m->d;

    double f_cur;
    if (f->fg(f->ud, w, &f_cur, g, err)) return -1;
    *loss = f_cur;
    int current_evals = 1, iters = 0;
    m->func_evals++;
    if (ol_vmaxabs(n, g) <= tol_grad) {
        snprintf(opt->info, sizeof opt->info, "converged: |g|inf <= tolerance_grad");
        return 0;
    }
    const char *why = "max_iter";
    while (iters < max_iter) {
        iters++;
        m->n_iter++;
        if (m->n_iter == 1) {
            for (int64_t i = 0; i < n; i++) d[i] = -g[i];
            m->count = m->head = 0;
            m->H_diag = 1;
        } else {
            double *y = m->scratch; /* y = g - g_prev; s = t d */
            for (int64_t i = 0; i < n; i++) y[i] = g[i] - m->prev_g[i];
            double ys = m->t * ol_vdot(n, y, d);
            if (ys > 1e-10) {
                push_pair(m, y, d, m->t, ys);
                m->H_diag = ys / ol_vdot(n, y, y);
            }
            /* Two-loop recursion: d = -H g. */
            double *q = d;
            for (int64_t i = 0; i < n; i++) q[i] = -g[i];
            for (int k = m->count - 1; k >= 0; k--) {
                const double *Sk = AT(m->S, k), *Yk = AT(m->Y, k);
                m->al[k] = ol_vdot(n, Sk, q) * RO(k);
                for (int64_t i = 0; i < n; i++) q[i] -= m->al[k] * Yk[i];
            }
            for (int64_t i = 0; i < n; i++) d[i] = q[i] * m->H_diag;
            for (int k = 0; k < m->count; k++) {
                const double *Sk = AT(m->S, k), *Yk = AT(m->Y, k);
                double be = ol_vdot(n, Yk, d) * RO(k);
                for (int64_t i = 0; i < n; i++) d[i] += (m->al[k] - be) * Sk[i];
            }
        }
        memcpy(m->prev_g, g, (size_t)n * sizeof *g);
        double prev_loss = f_cur;
        if (m->n_iter == 1) {
            double s1 = 0;
            for (int64_t i = 0; i < n; i++) s1 += fabs(g[i]);
            m->t = fmin(1.0, 1.0 / s1) * lr;
        } else {
            m->t = lr;
        }
        double gtd = ol_vdot(n, g, d);
        if (gtd > -tol_change) {
            why = "not a descent direction (g.d > -tolerance_change)";
            break;
        }
        int ls_evals = 0, opt_cond = 0;
        if (wolfe) {
            memcpy(m->x0, w, (size_t)n * sizeof *w);
            ol_wolfe p = {.c1 = 1e-4, .c2 = 0.9, .tolerance_change = 1e-9, .max_ls = 25};
            if (ol_strong_wolfe(f, &p, m->x0, &m->t, d, f_cur, m->prev_g, gtd, &f_cur, g, &ls_evals,
                                m->scratch, err))
                return -1;
            for (int64_t i = 0; i < n; i++) w[i] = m->x0[i] + m->t * d[i];
            opt_cond = ol_vmaxabs(n, g) <= tol_grad;
        } else {
            for (int64_t i = 0; i < n; i++) w[i] += m->t * d[i];
            if (iters != max_iter) {
                if (f->fg(f->ud, w, &f_cur, g, err)) return -1;
                opt_cond = ol_vmaxabs(n, g) <= tol_grad;
                ls_evals = 1;
            }
        }
        current_evals += ls_evals;
        m->func_evals += ls_evals;
        if (iters == max_iter) break;
        if (current_evals >= max_eval) { why = "max_eval"; break; }
        if (opt_cond) { why = "|g|inf <= tolerance_grad"; break; }
        if (m->t * ol_vmaxabs(n, d) <= tol_change) { why = "|t d|inf <= tolerance_change"; break; }
        if (fabs(f_cur - prev_loss) < tol_change) { why = "loss change < tolerance_change"; break; }
    }
    snprintf(opt->info, sizeof opt->info, "%d iterations, %d evaluations, stopped by %s", iters,
             current_evals, why);
    ol_optim_export_state(opt, 0, d);
    ol_optim_export_state(opt, 1, m->prev_g);
    return 0;
}

const ol_optim_desc ol_optim_lbfgs = {
    .name = "lbfgs",
    .kind = OL_OPTIM_CLOSURE,
    .options = options,
    .noptions = sizeof options / sizeof *options,
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 2,
    .check = check,
    .doc = "L-BFGS as torch.optim.LBFGS (two-loop recursion, N&W Alg. 7.4; optional strong Wolfe)",
    .closure_step = lbfgs_step,
    .priv_free = mem_free,
};
