/* shampoo, soap and adagrad's full_matrix against double-precision
 * references of their rules, written here independently of engine/optim:
 * the eigendecompositions by the cyclic Jacobi method and soap's QR by
 * modified Gram-Schmidt (the engine uses LAPACK's ?syevd, ?geqrf and
 * ?orgqr), soap term by term as nikhilvyas/SOAP soap.py (including its
 * change of basis of exp_avg after every step, which the engine does only
 * when the bases change).
 *
 * The layout: a 3x4 matrix, a gap element no tensor covers (it must stay
 * as it is), a 4-vector, a 2x5 matrix; the gradient is a fixed quadratic's
 * plus a term that changes with t. Each run compares every element after
 * every one of STEPS steps: f64 to about 1e-10, f32 to f32's precision.
 * Then: the identity on a side longer than max_precond_dim, reported by
 * desc->describe and sizing the state; max_precond_dim refused after the
 * first step; adagrad's full_matrix refused over 4096 elements, and
 * against its reference on a 6-element vector; a checkpoint taken mid-run
 * and restored into a fresh optimizer continues bit-identically. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/checkpoint.h"
#include "optim/optim.h"
#include "optim_options.h"

#define NP 27
#define GAP 12
#define STEPS 12
#define MAXD 5

typedef struct tens {
    int offset, rows, cols, matrix;
} tens;
static const tens LAYOUT[3] = {{0, 3, 4, 1}, {13, 1, 4, 0}, {17, 2, 5, 1}};

static double w0_at(int e) { return 0.7 * sin(1.1 * e + 0.4); }

/* The gradient at w for step t (every element, the gap's too). */
static void grad_at(const double *w, int t, double *g, int n) {
    for (int e = 0; e < n; e++) g[e] = (0.5 + 0.3 * (e % 5)) * w[e] + 0.4 * cos(0.8 * e + 0.9 * t);
}

/* ---- small dense algebra for the references (row-major) ---- */

/* C (m x n) = op(A)·op(B), op(X) = X or Xᵀ, k the inner size. */
static void mm(const double *a, int ta, const double *b, int tb, double *c, int m, int k, int n) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            c[i * n + j] = s;
        }
}

/* Eigenvalues (ascending) and eigenvectors (columns of v) of the symmetric
 * n x n a, by cyclic Jacobi rotations. */
static void jacobi(const double *a_in, int n, double *val, double *v) {
    double a[MAXD * MAXD * 4];
    memcpy(a, a_in, sizeof(double) * (size_t)(n * n));
    for (int i = 0; i < n * n; i++) v[i] = i % (n + 1) == 0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, all = 0;
        for (int i = 0; i < n * n; i++) {
            all += a[i] * a[i];
            if (i % (n + 1)) off += a[i] * a[i];
        }
        if (off <= 1e-34 * all) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                const double apq = a[p * n + q];
                if (apq == 0) continue;
                const double th = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                const double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                const double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    const double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q */
                    const double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    const double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++) val[i] = a[i * n + i];
    for (int i = 1; i < n; i++) /* insertion sort, ascending, columns along */
        for (int j = i; j > 0 && val[j - 1] > val[j]; j--) {
            const double x = val[j];
            val[j] = val[j - 1];
            val[j - 1] = x;
            for (int k = 0; k < n; k++) {
                const double y = v[k * n + j];
                v[k * n + j] = v[k * n + j - 1];
                v[k * n + j - 1] = y;
            }
        }
}

/* out = V·diag(f(λ))·Vᵀ of the symmetric n x n a. */
static void matfun(const double *a, int n, double (*f)(double, double), double p, double *out) {
    double val[MAXD * 2], v[MAXD * MAXD * 4], vf[MAXD * MAXD * 4];
    jacobi(a, n, val, v);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) vf[i * n + j] = v[i * n + j] * f(val[j], p);
    mm(vf, 0, v, 1, out, n, n, n);
}

/* The Q of a = Q·R (n x n, full rank) by modified Gram-Schmidt, twice. */
static void mgs(double *a, int n) {
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < n; j++) {
            for (int k = 0; k < j; k++) {
                double d = 0;
                for (int i = 0; i < n; i++) d += a[i * n + k] * a[i * n + j];
                for (int i = 0; i < n; i++) a[i * n + j] -= d * a[i * n + k];
            }
            double s = 0;
            for (int i = 0; i < n; i++) s += a[i * n + j] * a[i * n + j];
            for (int i = 0; i < n; i++) a[i * n + j] /= sqrt(s);
        }
}

/* ---- the engine side ---- */

typedef struct run {
    ol_optim opt;
    ol_tensor w, g;
    void *wd, *gd;
} run;

static double at(const run *r, int e) {
    return r->opt.dtype == OL_F32 ? ((float *)r->wd)[e] : ((double *)r->wd)[e];
}
static void put(void *buf, ol_dtype dt, int e, double v) {
    if (dt == OL_F32) ((float *)buf)[e] = (float)v;
    else ((double *)buf)[e] = v;
}

/* The options of o that apply from step 0, as construction gives them
 * (max_precond_dim and full_matrix are refused later). */
static void construct(ol_optim *opt, const kv *o) {
    ol_error err;
    double v[OL_OPTIM_MAXSLOTS];
    memcpy(v, ol_optim_group_o(opt, 0), sizeof v);
    for (; o && o->k; o++) {
        if (o->at != 0) continue;
        const ol_optim_option *op = ol_optim_find_option(opt->desc, o->k);
        if (!op) fail_msg("%s has no option %s", opt->desc->name, o->k);
        memcpy(v + op->slot, o->v, sizeof(double) * (size_t)ol_optim_option_size(op));
    }
    if (ol_optim_set_group_values(opt, 0, v, &err)) fail_msg("%s: %s", opt->desc->name, err.msg);
}

/* An optimizer over LAYOUT (or the one vector of n elements when layout is
 * NULL) with the options of o that apply from step 0. */
static void run_init(run *r, const char *name, ol_dtype dt, const kv *o, const tens *layout, int nt,
                     int n) {
    ol_error err;
    const int64_t shape[1] = {n};
    assert_int_equal(ol_optim_init(&r->opt, ol_optim_find(name), dt, n, &err), 0);
    construct(&r->opt, o);
    if (layout) {
        ol_optim_param p[3];
        for (int i = 0; i < nt; i++)
            p[i] = (ol_optim_param){.offset = layout[i].offset, .rows = layout[i].rows,
                                    .cols = layout[i].cols, .matrix = layout[i].matrix};
        if (ol_optim_set_params(&r->opt, p, nt, 1, &err)) fail_msg("%s: %s", name, err.msg);
    }
    assert_int_equal(ol_tensor_zeros(&r->w, dt, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&r->g, dt, 1, shape, &err), 0);
    r->wd = ol_tensor_data(&r->w);
    r->gd = ol_tensor_data(&r->g);
    for (int e = 0; e < n; e++) put(r->wd, dt, e, w0_at(e));
}

/* Step t: the options set at t, the gradient at the current w. */
static void run_step(run *r, const kv *o, int t, int n) {
    ol_error err;
    double w[NP], g[NP];
    if (t > 1) set_options(&r->opt, o, t);
    for (int e = 0; e < n; e++) w[e] = at(r, e);
    grad_at(w, t, g, n);
    for (int e = 0; e < n; e++) put(r->gd, r->opt.dtype, e, g[e]);
    if (ol_optim_step(&r->opt, &r->w, &r->g, NAN, 0, &err)) fail_msg("step %d: %s", t, err.msg);
}

static void run_free(run *r) {
    ol_optim_free(&r->opt);
    ol_tensor_release(&r->w);
    ol_tensor_release(&r->g);
}

typedef void (*ref_fn)(const kv *o, double traj[STEPS][NP]);

/* Every step of the engine against the reference's trajectory. */
static void compare(const char *name, ref_fn ref, const kv *o, ol_dtype dt, double tol) {
    double traj[STEPS][NP];
    ref(o, traj);
    run r;
    run_init(&r, name, dt, o, LAYOUT, 3, NP);
    double worst = 0;
    for (int t = 1; t <= STEPS; t++) {
        run_step(&r, o, t, NP);
        for (int e = 0; e < NP; e++) {
            const double want = traj[t - 1][e], got = at(&r, e);
            const double d = fabs(got - want) / (1 + fabs(want));
            if (d > worst) worst = d;
            if (!(d <= tol))
                fail_msg("%s (%s), step %d, w[%d] = %.17g, want %.17g", name,
                         dt == OL_F32 ? "f32" : "f64", t, e, got, want);
        }
        if (at(&r, GAP) != (dt == OL_F32 ? (double)(float)w0_at(GAP) : w0_at(GAP)))
            fail_msg("%s: the gap element moved", name);
    }
    /* the rule moved every tensor, by far more than the tolerance */
    for (int i = 0; i < 3; i++)
        assert_true(fabs(traj[STEPS - 1][LAYOUT[i].offset] - w0_at(LAYOUT[i].offset)) > 1e-3);
    print_message("%s %s: worst relative difference %.3g\n", name, dt == OL_F32 ? "f32" : "f64",
                  worst);
    run_free(&r);
}

/* ---- shampoo's reference ---- */

static double inv4(double l, double eps) { return pow(fmax(l, eps), -0.25); }

static void ref_shampoo(const kv *o, double traj[STEPS][NP]) {
    double w[NP], g[NP], b[NP] = {0}, h[NP] = {0};
    double stat[3][2][MAXD * MAXD], root[3][2][MAXD * MAXD];
    for (int e = 0; e < NP; e++) w[e] = w0_at(e);
    for (int t = 1; t <= STEPS; t++) {
        const double lr = pget(o, "shampoo", "lr", t), eps = pget(o, "shampoo", "eps", 1);
        const double mu = pget(o, "shampoo", "momentum", t);
        const int every = (int)pget(o, "shampoo", "update_every", t);
        const double maxd = pget(o, "shampoo", "max_precond_dim", 0);
        grad_at(w, t, g, NP);
        for (int i = 0; i < 3; i++) {
            const tens *p = &LAYOUT[i];
            const double *G = g + p->offset;
            double P[MAXD * MAXD], tmp[MAXD * MAXD];
            const int n = p->rows * p->cols;
            if (!p->matrix) {
                for (int e = p->offset; e < p->offset + n; e++) {
                    if (t == 1) h[e] = eps;
                    h[e] += g[e] * g[e];
                    P[e - p->offset] = g[e] / sqrt(h[e]);
                }
            } else {
                memcpy(P, G, sizeof(double) * (size_t)n);
                for (int side = 0; side < 2; side++) {
                    const int d = side ? p->cols : p->rows;
                    if (d > maxd) continue;
                    double x[MAXD * MAXD];
                    if (side) mm(G, 1, G, 0, x, d, p->rows, d);
                    else mm(G, 0, G, 1, x, d, p->cols, d);
                    for (int e = 0; e < d * d; e++)
                        stat[i][side][e] = (t == 1 ? (e % (d + 1) == 0) * eps : stat[i][side][e]) + x[e];
                    if (t == 1 || t % every == 0) matfun(stat[i][side], d, inv4, eps, root[i][side]);
                    if (side) mm(P, 0, root[i][side], 0, tmp, p->rows, d, d);
                    else mm(root[i][side], 0, P, 0, tmp, d, d, p->cols);
                    memcpy(P, tmp, sizeof(double) * (size_t)n);
                }
            }
            for (int e = 0; e < n; e++) {
                b[p->offset + e] = mu * b[p->offset + e] + P[e];
                w[p->offset + e] -= lr * b[p->offset + e];
            }
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* ---- soap's reference: soap.py's step, update_preconditioner, project,
 * project_back, get_orthogonal_matrix and get_orthogonal_matrix_QR for a
 * 2-D tensor and a 1-D one (precondition_1d False) ---- */

typedef struct soap_state {
    int step;
    double m[MAXD * MAXD], v[MAXD * MAXD];
    double gg[2][MAXD * MAXD], q[2][MAXD * MAXD];
    int has[2];
} soap_state;

/* project (back = 0): Q_Lᵀ·X·Q_R; project_back (back = 1): Q_L·X·Q_Rᵀ;
 * a side without a basis is the identity. */
static void soap_rot(const soap_state *s, const tens *p, int back, const double *x, double *out) {
    double a[MAXD * MAXD], b[MAXD * MAXD];
    memcpy(a, x, sizeof(double) * (size_t)(p->rows * p->cols));
    if (p->matrix && s->has[0]) {
        mm(s->q[0], !back, a, 0, b, p->rows, p->rows, p->cols);
        memcpy(a, b, sizeof b);
    }
    if (p->matrix && s->has[1]) {
        mm(a, 0, s->q[1], back, b, p->rows, p->cols, p->cols);
        memcpy(a, b, sizeof b);
    }
    memcpy(out, a, sizeof(double) * (size_t)(p->rows * p->cols));
}

static void soap_update_preconditioner(soap_state *s, const tens *p, const double *G, double sb,
                                       int freq, int first) {
    if (!first) soap_rot(s, p, 1, s->m, s->m);
    for (int side = 0; side < 2 && p->matrix; side++) {
        if (!s->has[side]) continue;
        const int d = side ? p->cols : p->rows;
        double x[MAXD * MAXD];
        if (side) mm(G, 1, G, 0, x, d, p->rows, d);
        else mm(G, 0, G, 1, x, d, p->cols, d);
        for (int e = 0; e < d * d; e++) s->gg[side][e] += (1 - sb) * (x[e] - s->gg[side][e]);
    }
    for (int side = 0; side < 2 && p->matrix; side++) {
        if (!s->has[side]) continue;
        const int d = side ? p->cols : p->rows;
        if (first) { /* eigh(GG + 1e-30·I), flipped to descending order */
            double a[MAXD * MAXD], val[MAXD], v[MAXD * MAXD];
            memcpy(a, s->gg[side], sizeof a);
            for (int i = 0; i < d; i++) a[i * d + i] += 1e-30;
            jacobi(a, d, val, v);
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) s->q[side][i * d + j] = v[i * d + d - 1 - j];
        } else if (s->step > 0 && s->step % freq == 0) {
            double mq[MAXD * MAXD], est[MAXD], po[MAXD * MAXD], v2[MAXD * MAXD];
            int idx[MAXD];
            mm(s->gg[side], 0, s->q[side], 0, mq, d, d, d);
            for (int j = 0; j < d; j++) {
                est[j] = 0;
                for (int i = 0; i < d; i++) est[j] += s->q[side][i * d + j] * mq[i * d + j];
                idx[j] = j;
            }
            for (int i = 1; i < d; i++) /* argsort, descending */
                for (int j = i; j > 0 && est[idx[j - 1]] < est[idx[j]]; j--) {
                    const int k = idx[j];
                    idx[j] = idx[j - 1];
                    idx[j - 1] = k;
                }
            memcpy(v2, s->v, sizeof v2);
            for (int i = 0; i < p->rows; i++) /* exp_avg_sq.index_select(side, idx) */
                for (int j = 0; j < p->cols; j++)
                    s->v[i * p->cols + j] =
                        side ? v2[i * p->cols + idx[j]] : v2[idx[i] * p->cols + j];
            double o[MAXD * MAXD];
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) o[i * d + j] = s->q[side][i * d + idx[j]];
            mm(s->gg[side], 0, o, 0, po, d, d, d);
            mgs(po, d);
            memcpy(s->q[side], po, sizeof po);
        }
    }
    if (s->step > 0) soap_rot(s, p, 0, s->m, s->m);
}

static void ref_soap(const kv *o, double traj[STEPS][NP]) {
    double w[NP], g[NP];
    soap_state st[3];
    memset(st, 0, sizeof st);
    for (int e = 0; e < NP; e++) w[e] = w0_at(e);
    const double maxd = pget(o, "soap", "max_precond_dim", 0);
    for (int i = 0; i < 3; i++)
        for (int side = 0; side < 2; side++)
            st[i].has[side] = LAYOUT[i].matrix && (side ? LAYOUT[i].cols : LAYOUT[i].rows) <= maxd;
    for (int t = 1; t <= STEPS; t++) {
        const double lr = pget(o, "soap", "lr", t), eps = pget(o, "soap", "eps", t);
        const double b1 = pget2(o, "soap", "betas", t, 0), b2 = pget2(o, "soap", "betas", t, 1);
        const double sbo = pget(o, "soap", "shampoo_beta", t), sb = sbo >= 0 ? sbo : b2;
        const double wd = pget(o, "soap", "weight_decay", t);
        const int freq = (int)pget(o, "soap", "precondition_frequency", t);
        grad_at(w, t, g, NP);
        for (int i = 0; i < 3; i++) {
            const tens *p = &LAYOUT[i];
            soap_state *s = &st[i];
            const int n = p->rows * p->cols;
            double *G = g + p->offset, *W = w + p->offset;
            if (t == 1) {
                soap_update_preconditioner(s, p, G, sb, freq, 1);
                continue;
            }
            double gp[MAXD * MAXD], x[MAXD * MAXD], nrm[MAXD * MAXD];
            soap_rot(s, p, 0, G, gp);
            s->step++;
            for (int e = 0; e < n; e++) {
                s->m[e] = s->m[e] * b1 + (1 - b1) * gp[e];
                s->v[e] = s->v[e] * b2 + (1 - b2) * gp[e] * gp[e];
                x[e] = s->m[e] / (sqrt(s->v[e]) + eps);
            }
            const double step = lr * sqrt(1 - pow(b2, s->step)) / (1 - pow(b1, s->step));
            soap_rot(s, p, 1, x, nrm);
            for (int e = 0; e < n; e++) W[e] -= step * nrm[e];
            if (wd > 0)
                for (int e = 0; e < n; e++) W[e] -= lr * wd * W[e];
            soap_update_preconditioner(s, p, G, sb, freq, 0);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* ---- the runs ---- */

static const kv SH_LIVE[] = {{"update_every", {3}, 0}, {"momentum", {0.9}, 0},
                             {"lr", {0.05}, 0},        {"eps", {1e-3}, 0},
                             {"lr", {0.02}, 5},        {"momentum", {0.5}, 7},
                             KV_END};
static const kv SH_SMALL[] = {{"max_precond_dim", {4}, 0}, {"update_every", {4}, 0}, KV_END};
static const kv SH_TINY[] = {{"max_precond_dim", {2}, 0}, {"momentum", {0.3}, 0}, KV_END};

static void test_shampoo(void **st) {
    (void)st;
    compare("shampoo", ref_shampoo, NULL, OL_F64, 1e-10);
    compare("shampoo", ref_shampoo, SH_LIVE, OL_F64, 1e-10);
    compare("shampoo", ref_shampoo, SH_SMALL, OL_F64, 1e-10);
    compare("shampoo", ref_shampoo, SH_TINY, OL_F64, 1e-10);
    compare("shampoo", ref_shampoo, NULL, OL_F32, 2e-4);
    compare("shampoo", ref_shampoo, SH_LIVE, OL_F32, 2e-4);
}

/* The 2x5 matrix's columns (5 > 4) use the identity: a 5 x 5 statistic
 * after one step has a 3-dimensional null space, whose basis no two
 * eigensolvers need agree on, and soap's Adam is not invariant to it. */
static const kv SO_BASE[] = {{"max_precond_dim", {4}, 0}, {"precondition_frequency", {3}, 0},
                             KV_END};
static const kv SO_LIVE[] = {{"max_precond_dim", {4}, 0}, {"precondition_frequency", {4}, 0},
                             {"betas", {0.9, 0.99}, 0},   {"shampoo_beta", {0.8}, 0},
                             {"weight_decay", {0.1}, 0},  {"lr", {0.01}, 0},
                             {"eps", {1e-6}, 0},          {"lr", {0.02}, 6},
                             {"shampoo_beta", {-1}, 7},   KV_END};
static const kv SO_NOWD[] = {{"max_precond_dim", {3}, 0}, {"weight_decay", {0}, 0},
                             {"precondition_frequency", {2}, 0}, KV_END};

/* GG follows the latest gradients closely, so that a refresh reorders
 * the basis (and exp_avg_sq with it). */
static const kv SO_FAST[] = {{"max_precond_dim", {4}, 0}, {"precondition_frequency", {2}, 0},
                             {"shampoo_beta", {0.2}, 0}, {"betas", {0.9, 0.999}, 0}, KV_END};

static void test_soap(void **st) {
    (void)st;
    compare("soap", ref_soap, SO_FAST, OL_F64, 1e-10);
    compare("soap", ref_soap, SO_BASE, OL_F64, 1e-10);
    compare("soap", ref_soap, SO_LIVE, OL_F64, 1e-10);
    compare("soap", ref_soap, SO_NOWD, OL_F64, 1e-10);
    compare("soap", ref_soap, SO_BASE, OL_F32, 2e-3);
}

/* The first soap step only sets the bases: w and the moments stay. */
static void test_soap_first_step(void **st) {
    (void)st;
    run r;
    run_init(&r, "soap", OL_F64, SO_BASE, LAYOUT, 3, NP);
    run_step(&r, SO_BASE, 1, NP);
    for (int e = 0; e < NP; e++) assert_true(at(&r, e) == w0_at(e));
    for (int k = 0; k < 2; k++) {
        const double *m = ol_tensor_data(&r.opt.state[k]);
        for (int64_t i = 0; i < ol_optim_state_numel(&r.opt, k); i++) assert_true(m[i] == 0);
    }
    run_free(&r);
}

/* max_precond_dim: the identity on a longer side, named by describe and
 * sizing the state; refused once the first step is taken. */
static void test_max_precond_dim(void **st) {
    (void)st;
    static const char *const names[2] = {"shampoo", "soap"};
    static const kv two_max[] = {{"max_precond_dim", {2}, 0}, KV_END};
    for (int k = 0; k < 2; k++) {
        char buf[400];
        run r;
        run_init(&r, names[k], OL_F64, NULL, LAYOUT, 3, NP);
        assert_non_null(r.opt.desc->describe);
        r.opt.desc->describe(&r.opt, buf, sizeof buf);
        assert_string_equal(buf, "");
        run_free(&r);

        run_init(&r, names[k], OL_F64, two_max, LAYOUT, 3, NP);
        r.opt.desc->describe(&r.opt, buf, sizeof buf);
        assert_string_equal(buf, "identity on the rows and columns of param 1 (3x4, "
                                 "max_precond_dim 2); identity on the columns of param 3 (2x5, "
                                 "max_precond_dim 2)");
        /* left: the 2x5's 2 x 2 only; right: none */
        const int left = k == 0 ? 1 : 2, right = k == 0 ? 2 : 3;
        assert_int_equal(ol_optim_state_numel(&r.opt, left), 4);
        assert_int_equal(ol_optim_state_numel(&r.opt, right), 0);
        /* a live assignment is refused, the construction's value too once
         * the first step is taken; the same value passes */
        ol_error err;
        const double four = 4, two = 2;
        assert_int_equal(ol_optim_set(&r.opt, "max_precond_dim", &four, &err), -1);
        assert_non_null(strstr(err.msg, "max_precond_dim"));
        run_step(&r, two_max, 1, NP);
        double v[OL_OPTIM_MAXSLOTS];
        memcpy(v, ol_optim_group_o(&r.opt, 0), sizeof v);
        const ol_optim_option *op = ol_optim_find_option(r.opt.desc, "max_precond_dim");
        v[op->slot] = 4;
        assert_int_equal(ol_optim_set_group_values(&r.opt, 0, v, &err), -1);
        assert_non_null(strstr(err.msg, "first step"));
        assert_int_equal(ol_optim_state_numel(&r.opt, left), 4);
        assert_int_equal(ol_optim_set(&r.opt, "max_precond_dim", &two, &err), 0);
        run_free(&r);
    }
}

/* ---- adagrad, full_matrix ---- */

#define FN 6

static double inv_root(double l, double eps) { return 1 / (eps + sqrt(fmax(l, 0))); }

static void ref_adagrad_full(const kv *o, double traj[STEPS][NP]) {
    double w[FN], g[FN], G[FN * FN], D[FN * FN];
    for (int e = 0; e < FN; e++) w[e] = w0_at(e);
    for (int t = 1; t <= STEPS; t++) {
        const double lr = pget(o, "adagrad", "lr", t), decay = pget(o, "adagrad", "lr_decay", t);
        const double wd = pget(o, "adagrad", "weight_decay", t), eps = pget(o, "adagrad", "eps", t);
        const double iav = pget(o, "adagrad", "initial_accumulator_value", 1);
        grad_at(w, t, g, FN);
        for (int e = 0; e < FN; e++) g[e] += wd * w[e];
        for (int i = 0; i < FN; i++)
            for (int j = 0; j < FN; j++)
                G[i * FN + j] = (t == 1 ? (i == j) * iav : G[i * FN + j]) + g[i] * g[j];
        matfun(G, FN, inv_root, eps, D);
        const double clr = lr / (1 + (t - 1) * decay);
        for (int i = 0; i < FN; i++) {
            double d = 0;
            for (int j = 0; j < FN; j++) d += D[i * FN + j] * g[j];
            w[i] -= clr * d;
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

static void compare_full(const kv *o, ol_dtype dt, double tol) {
    double traj[STEPS][NP];
    ref_adagrad_full(o, traj);
    run r;
    run_init(&r, "adagrad", dt, o, NULL, 0, FN);
    assert_int_equal(ol_optim_state_numel(&r.opt, 0), 0);
    assert_int_equal(ol_optim_state_numel(&r.opt, 1), FN * FN);
    for (int t = 1; t <= STEPS; t++) {
        run_step(&r, o, t, FN);
        for (int e = 0; e < FN; e++) {
            const double want = traj[t - 1][e], got = at(&r, e);
            if (!(fabs(got - want) <= tol * (1 + fabs(want))))
                fail_msg("adagrad full_matrix, step %d, w[%d] = %.17g, want %.17g", t, e, got,
                         want);
        }
    }
    assert_true(fabs(traj[STEPS - 1][0] - w0_at(0)) > 1e-2);
    run_free(&r);
}

/* G has rank t < 6 in the first steps: a positive initial accumulator or
 * a large eps keeps (eps·I + G^{1/2})⁻¹ well conditioned, so that the
 * rounding of two eigensolvers stays far below the tolerance. */
static void test_adagrad_full(void **st) {
    (void)st;
    const kv acc[] = {{"full_matrix", {1}, 0}, {"initial_accumulator_value", {0.5}, 0},
                      {"lr", {0.1}, 0},        KV_END};
    const kv all[] = {{"full_matrix", {1}, 0}, {"initial_accumulator_value", {0.2}, 0},
                      {"lr", {0.2}, 0},        {"lr_decay", {0.1}, 0},
                      {"weight_decay", {0.3}, 0}, {"eps", {1e-3}, 0},
                      {"lr", {0.1}, 5},        KV_END};
    const kv eps[] = {{"full_matrix", {1}, 0}, {"eps", {0.1}, 0}, {"lr", {0.1}, 0}, KV_END};
    compare_full(acc, OL_F64, 1e-10);
    compare_full(all, OL_F64, 1e-10);
    compare_full(eps, OL_F64, 1e-10);
    compare_full(acc, OL_F32, 1e-4);
}

/* Over 4096 elements full_matrix is refused, naming the option and the
 * size; a step then refuses too. */
static void test_adagrad_full_limit(void **st) {
    (void)st;
    ol_error err;
    ol_optim opt;
    double v[OL_OPTIM_MAXSLOTS];
    const char *want = "option 'full_matrix' takes tensors of at most 4096 elements (an n x n "
                       "matrix each), got one of 4097";
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("adagrad"), OL_F32, 4097, &err), 0);
    const ol_optim_option *op = ol_optim_find_option(opt.desc, "full_matrix");
    memcpy(v, ol_optim_group_o(&opt, 0), sizeof v);
    v[op->slot] = 1;
    /* the one tensor of 4097 elements */
    const ol_optim_param big = {.offset = 0, .rows = 1, .cols = 4097};
    assert_int_equal(ol_optim_set_params(&opt, &big, 1, 1, &err), 0);
    assert_int_equal(ol_optim_set_group_values(&opt, 0, v, &err), -1);
    assert_string_equal(err.msg, want);
    assert_int_equal(ol_optim_state_numel(&opt, 1), 0);
    /* full_matrix first, then the tensors: refused there */
    const ol_optim_param small = {.offset = 0, .rows = 1, .cols = 97};
    assert_int_equal(ol_optim_set_params(&opt, &small, 1, 1, &err), 0);
    assert_int_equal(ol_optim_set_group_values(&opt, 0, v, &err), 0);
    assert_int_equal(ol_optim_state_numel(&opt, 1), 97 * 97);
    assert_int_equal(ol_optim_set_params(&opt, &big, 1, 1, &err), -1);
    assert_string_equal(err.msg, want);
    /* two tensors of 97 and 4000 elements are each within the limit (not
     * made here: 4000 x 4000 is 64 MB in f32) */
    ol_optim_free(&opt);
}

/* ---- checkpoints ---- */

static int same_bytes(const ol_tensor *a, const ol_tensor *b) {
    return a->dtype == b->dtype && ol_tensor_numel(a) == ol_tensor_numel(b) &&
           (ol_tensor_numel(a) == 0 || memcmp(ol_tensor_data(a), ol_tensor_data(b),
                  (size_t)ol_tensor_numel(a) * ol_dtype_size(a->dtype)) == 0);
}

/* STEPS steps straight, against 5 steps, a checkpoint file, a fresh
 * optimizer and weights restored from it, and the other steps: the same
 * bytes in w and in every state buffer. */
static void resume_case(const char *name, const kv *o, const tens *layout, int nt, int n,
                        ol_dtype dt) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/ol_precond_ck_XXXXXX");
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    run a, b;
    ol_error err;
    run_init(&a, name, dt, o, layout, nt, n);
    for (int t = 1; t <= STEPS; t++) run_step(&a, o, t, n);

    run_init(&b, name, dt, o, layout, nt, n);
    for (int t = 1; t <= 5; t++) run_step(&b, o, t, n);
    ol_checkpoint ck;
    ol_ck_init(&ck);
    if (ol_ck_add(&ck, "w", &b.w, &err) || ol_optim_export(&b.opt, &ck, &err) ||
        ol_ck_save(&ck, path, &err))
        fail_msg("%s: save: %s", name, err.msg);
    ol_ck_free(&ck);
    run_free(&b);

    run_init(&b, name, dt, o, layout, nt, n);
    if (ol_ck_load(path, &ck, &err)) fail_msg("%s: load: %s", name, err.msg);
    const ol_tensor *saved = ol_ck_find(&ck, "w");
    assert_non_null(saved);
    assert_int_equal(ol_tensor_copy_(&b.w, saved, &err), 0);
    if (ol_optim_import(&b.opt, &ck, &err)) fail_msg("%s: import: %s", name, err.msg);
    ol_ck_free(&ck);
    unlink(path);
    assert_int_equal(b.opt.t, 5);
    for (int t = 6; t <= STEPS; t++) run_step(&b, o, t, n);
    if (!same_bytes(&a.w, &b.w)) fail_msg("%s: the resumed run's weights differ", name);
    for (int k = 0; k < a.opt.desc->nstate; k++)
        if (!same_bytes(&a.opt.state[k], &b.opt.state[k]))
            fail_msg("%s: the resumed run's %s differs", name, a.opt.desc->state_names[k]);
    run_free(&a);
    run_free(&b);
}

static void test_resume(void **st) {
    (void)st;
    const kv full[] = {{"full_matrix", {1}, 0}, {"initial_accumulator_value", {0.5}, 0}, KV_END};
    resume_case("shampoo", SH_LIVE, LAYOUT, 3, NP, OL_F32);
    resume_case("shampoo", SH_SMALL, LAYOUT, 3, NP, OL_F64);
    resume_case("soap", SO_BASE, LAYOUT, 3, NP, OL_F32);
    resume_case("soap", SO_LIVE, LAYOUT, 3, NP, OL_F64);
    resume_case("adagrad", full, NULL, 0, FN, OL_F64);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shampoo),          cmocka_unit_test(test_soap),
        cmocka_unit_test(test_soap_first_step),  cmocka_unit_test(test_max_precond_dim),
        cmocka_unit_test(test_adagrad_full),     cmocka_unit_test(test_adagrad_full_limit),
        cmocka_unit_test(test_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
