/* Muon as published, in plain double loops, and the harness that runs it
 * against the engine (test_optim_muon.c over many options, the registry
 * test at the defaults).
 *
 * Two matrices (3x5 and 5x3, so both orientations of the transpose rule
 * run) and three loose vectors lie in one flat buffer, as a model's
 * parameters do: bias(3) W1 3x5 bias(2) W2 5x3 bias(1). The reference:
 * momentum, nesterov, the Frobenius normalisation with 1e-7, the quintic
 * iteration with a, b, c = 3.4445, −4.7750, 2.0315 on the wide
 * orientation, the sqrt(max(1, rows/cols)) scale, decoupled weight decay,
 * and AdamW (torch's documented rule) on everything outside the matrices;
 * defaults from PUBLISHED (optim_options.h). The AdamW part's options are
 * the test's own keys fallback_lr, fallback_betas, fallback_eps,
 * fallback_weight_decay, fallback_amsgrad, with adamw's published defaults.
 *
 * The engine sees the matrices as matrix parameters in group 1 (use =
 * "muon", the schedule's other options) and each gap between them as a
 * vector in group 2 (use = "adamw", lr, betas, eps, weight_decay and
 * amsgrad from the fallback_* values); with no matrix known, the whole
 * buffer is one vector in one adamw group.
 *
 * Include after <cmocka.h>, "optim/optim.h" and "optim_options.h". */
#ifndef OL_TEST_OPTIM_MUON_H
#define OL_TEST_OPTIM_MUON_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MUON_NP 36
#define MUON_STEPS 4
/* A matrix of the buffer: rows x cols at offset, row-major. */
typedef struct muon_block {
    int offset, rows, cols;
} muon_block;
static const muon_block MUON_BLOCKS[2] = {{20, 5, 3}, {3, 3, 5}}; /* unsorted on purpose */

/* Element `which` of the AdamW option fallback_NAME at step t, adamw's
 * published default for NAME if never set. */
static inline double fget2(const kv *o, const char *name, int t, int which) {
    char key[64];
    snprintf(key, sizeof key, "fallback_%s", name);
    const pub_option *op = pub_option_of("adamw", name);
    if (!op) fail_msg("adamw has no published option %s", name);
    return get2(o, key, op->def[which], t, which);
}
static inline double fget(const kv *o, const char *name, int t) { return fget2(o, name, t, 0); }

static inline double muon_w0_at(int e) { return 0.8 * sin(0.9 * e + 0.3); }
static inline double muon_a_at(int e) { return 0.5 + (e % 4); }
static inline double muon_c_at(int e) { return 0.4 * cos(1.3 * e); }
static inline void muon_grad_at(const double *w, int t, double *g) {
    for (int e = 0; e < MUON_NP; e++)
        g[e] = muon_a_at(e) * (w[e] - muon_c_at(e)) + 0.3 * sin(1.7 * t + e);
}

/* ---- reference ---- */

/* C = A·B for row-major A (n x k), B (k x m). */
static inline void ref_matmul(const double *a, const double *b, double *c, int n, int k, int m) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int l = 0; l < k; l++) s += a[i * k + l] * b[l * m + j];
            c[i * m + j] = s;
        }
}

/* Newton-Schulz quintic on an r x c matrix u, result in o (r x c). */
static inline void ref_ns(const double *u, double *o, int r, int c, int steps) {
    const int tr = r > c, m = tr ? c : r, k = tr ? r : c;
    double x[64], xt[64], a[64], aa[64], b[64], bx[64];
    double nrm = 0;
    for (int i = 0; i < r * c; i++) nrm += u[i] * u[i];
    nrm = sqrt(nrm);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) {
            double v = u[i * c + j] / (nrm + 1e-7);
            if (tr) x[j * r + i] = v;
            else x[i * c + j] = v;
        }
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < k; j++) xt[j * m + i] = x[i * k + j];
        ref_matmul(x, xt, a, m, k, m);
        ref_matmul(a, a, aa, m, m, m);
        for (int i = 0; i < m * m; i++) b[i] = -4.7750 * a[i] + 2.0315 * aa[i];
        ref_matmul(b, x, bx, m, m, k);
        for (int i = 0; i < m * k; i++) x[i] = 3.4445 * x[i] + bx[i];
    }
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) o[i * c + j] = tr ? x[j * r + i] : x[i * c + j];
}

static inline int in_block(int e, const muon_block *blk, int nb) {
    for (int i = 0; i < nb; i++)
        if (e >= blk[i].offset && e < blk[i].offset + blk[i].rows * blk[i].cols) return 1;
    return 0;
}

static inline void ref_muon(const kv *o, const muon_block *blk, int nb,
                            double traj[MUON_STEPS][MUON_NP]) {
    double w[MUON_NP], g[MUON_NP], buf[MUON_NP] = {0}, m[MUON_NP] = {0}, v[MUON_NP] = {0};
    double vmax[MUON_NP] = {0};
    for (int e = 0; e < MUON_NP; e++) w[e] = muon_w0_at(e);
    for (int t = 1; t <= MUON_STEPS; t++) {
        const double lr = pget(o, "muon", "lr", t), mu = pget(o, "muon", "momentum", t);
        const int nest = pget(o, "muon", "nesterov", t) != 0;
        const int steps = (int)pget(o, "muon", "ns_steps", t);
        const double wd = pget(o, "muon", "weight_decay", t);
        const double flr = fget(o, "lr", t);
        const double b1 = fget2(o, "betas", t, 0);
        const double b2 = fget2(o, "betas", t, 1);
        const double eps = fget(o, "eps", t);
        const double fwd = fget(o, "weight_decay", t);
        const int ams = fget(o, "amsgrad", t) != 0;
        muon_grad_at(w, t, g);
        for (int i = 0; i < nb; i++) {
            const int off = (int)blk[i].offset, r = (int)blk[i].rows, c = (int)blk[i].cols;
            double u[64], out[64];
            for (int e = 0; e < r * c; e++) {
                buf[off + e] = mu * buf[off + e] + g[off + e];
                u[e] = nest ? g[off + e] + mu * buf[off + e] : buf[off + e];
            }
            ref_ns(u, out, r, c, steps);
            const double scale = sqrt(fmax(1, (double)r / c));
            for (int e = 0; e < r * c; e++)
                w[off + e] = w[off + e] * (1 - lr * wd) - lr * scale * out[e];
        }
        for (int e = 0; e < MUON_NP; e++) {
            if (in_block(e, blk, nb)) continue;
            w[e] = w[e] - flr * fwd * w[e];
            m[e] = b1 * m[e] + (1 - b1) * g[e];
            v[e] = b2 * v[e] + (1 - b2) * g[e] * g[e];
            vmax[e] = fmax(vmax[e], v[e]);
            double vhat = (ams ? vmax[e] : v[e]) / (1 - pow(b2, t));
            w[e] = w[e] - flr * (m[e] / (1 - pow(b1, t))) / (sqrt(vhat) + eps);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* ---- the engine ---- */

/* The engine's parameters for blocks blk: each matrix in group 0, each gap
 * between them a vector in group 1; with no matrix, one vector over the
 * buffer in group 0. Returns their count; *ngroups gets the groups'. */
static inline int muon_params(const muon_block *blk, int nb, ol_optim_param *p, int *ngroups) {
    int np = 0, at = 0;
    *ngroups = nb > 0 ? 2 : 1;
    while (at < MUON_NP) {
        const muon_block *next = NULL;
        for (int i = 0; i < nb; i++)
            if (blk[i].offset >= at && (!next || blk[i].offset < next->offset)) next = &blk[i];
        const int end = next ? next->offset : MUON_NP;
        if (end > at)
            p[np++] = (ol_optim_param){.offset = at, .rows = 1, .cols = end - at,
                                       .group = nb > 0 ? 1 : 0};
        if (!next) break;
        p[np++] = (ol_optim_param){.offset = next->offset, .rows = next->rows, .cols = next->cols,
                                   .matrix = 1, .group = 0};
        at = next->offset + next->rows * next->cols;
    }
    return np;
}

/* Option name (v: its value(s)) of group g, through the engine's checks. */
static inline void muon_group_set(ol_optim *opt, int g, const char *name, const double *v) {
    ol_error err;
    ol_optim_field f;
    if (ol_optim_find_field(opt->desc, name, &f, &err) ||
        ol_optim_group_set_field(opt, g, f, v, &err))
        fail_msg("group %d, %s: %s", g + 1, name, err.msg);
}

/* The AdamW group's options at step t, from the fallback_* values. */
static inline void muon_adamw_options(ol_optim *opt, int g, const kv *o, int t) {
    static const char *const names[] = {"lr", "betas", "eps", "weight_decay", "amsgrad"};
    for (int i = 0; i < 5; i++) {
        const double v[2] = {fget2(o, names[i], t, 0), fget2(o, names[i], t, 1)};
        muon_group_set(opt, g, names[i], v);
    }
}

/* The schedule's muon options that take effect at step t, into group 0. */
static inline void muon_options(ol_optim *opt, const kv *o, int t) {
    for (; o && o->k; o++)
        if (o->at == t && strncmp(o->k, "fallback_", 9) != 0) muon_group_set(opt, 0, o->k, o->v);
}

static inline void muon_run_engine(ol_dtype dt, const kv *o, const muon_block *blk, int nb,
                                   double traj[MUON_STEPS][MUON_NP]) {
    ol_error err;
    ol_optim opt;
    ol_optim_param params[2 * MUON_NP];
    int ngroups;
    const int np = muon_params(blk, nb, params, &ngroups);
    const int adamw = ngroups - 1; /* the adamw group */
    const double use_muon[1] = {0}, use_adamw[1] = {1};
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("muon"), dt, MUON_NP, &err), 0);
    assert_int_equal(opt.desc->kind, OL_OPTIM_TENSOR);
    /* New groups start with group 1's options: adamw while the vectors
     * join, then muon for the matrices' group. */
    muon_group_set(&opt, -1, "use", use_adamw);
    if (ol_optim_set_params(&opt, params, np, ngroups, &err)) fail_msg("%s", err.msg);
    if (nb > 0) muon_group_set(&opt, 0, "use", use_muon);
    const int64_t shape[1] = {MUON_NP};
    ol_tensor w, g;
    assert_int_equal(ol_tensor_zeros(&w, dt, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&g, dt, 1, shape, &err), 0);
    for (int64_t e = 0; e < MUON_NP; e++) ol_tensor_set(&w, &e, muon_w0_at((int)e));
    if (nb > 0) muon_options(&opt, o, 0);
    for (int t = 1; t <= MUON_STEPS; t++) {
        if (t > 1 && nb > 0) muon_options(&opt, o, t);
        muon_adamw_options(&opt, adamw, o, t);
        double wv[MUON_NP], gv[MUON_NP];
        for (int64_t e = 0; e < MUON_NP; e++) wv[e] = ol_tensor_get(&w, &e);
        muon_grad_at(wv, t, gv);
        for (int64_t e = 0; e < MUON_NP; e++) ol_tensor_set(&g, &e, gv[e]);
        if (ol_optim_step(&opt, &w, &g, NAN, 0, &err)) fail_msg("%s", err.msg);
        for (int64_t e = 0; e < MUON_NP; e++) traj[t - 1][e] = ol_tensor_get(&w, &e);
    }
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
}

/* Every step in f64 (1e-11) and f32 (2e-5 relative) against the reference. */
static inline void muon_compare(const kv *o, const muon_block *blk, int nb) {
    double want[MUON_STEPS][MUON_NP], got[MUON_STEPS][MUON_NP];
    ref_muon(o, blk, nb, want);
    for (int dt = 0; dt < 2; dt++) {
        muon_run_engine(dt == 0 ? OL_F64 : OL_F32, o, blk, nb, got);
        const double tol = dt == 0 ? 1e-11 : 2e-5;
        for (int t = 0; t < MUON_STEPS; t++)
            for (int e = 0; e < MUON_NP; e++)
                if (!(fabs(got[t][e] - want[t][e]) <= tol * (1 + fabs(want[t][e]))))
                    fail_msg("muon %s (first option %s): step %d w[%d] = %.17g, want %.17g",
                             dt == 0 ? "f64" : "f32", o && o->k ? o->k : "none", t + 1, e,
                             got[t][e], want[t][e]);
    }
}

#endif
