/* The per-tensor optimizers lamb, lars and adafactor (kind OL_OPTIM_TENSOR)
 * against their rules as README's table states them, written out here in
 * double precision independently of engine/optim:
 *
 *   - a model-like layout (a 3x4 matrix, a 4-vector, a 2x3 matrix, a
 *     2-vector, and one element between them in no tensor) over STEPS
 *     steps with weight decay on: each rule applied tensor by tensor must
 *     match within 1e-12 in f64 and within f32 rounding in f32, the element
 *     in no tensor must not move, and adafactor's state must be the packed
 *     row, column and vector statistics (state_len);
 *   - steps worked out by hand (the numbers computed separately in
 *     python3), on two tensors of different norms, so that a rule applied
 *     to the flat buffer as one tensor fails;
 *   - the trust ratios' zero-norm cases (r = 1), and adafactor on a zero
 *     gradient (no division by zero);
 *   - bit-identical steps on 1 and 2 threads for tensors large enough to
 *     be cut (a vector and a matrix of more than 2·OL_OPTIM_CHUNK elements);
 *   - a run saved mid-way (ol_optim_export, a checkpoint file) and
 *     restored into a fresh optimizer continues bit for bit, and a resume
 *     without the optimizer does not. */
#include <float.h>
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

#include "core/threads.h"
#include "io/checkpoint.h"
#include "optim/optim.h"

#define STEPS 10

/* ---- the layout ---- */

static const ol_optim_param MODEL[] = {
    {.offset = 0, .rows = 3, .cols = 4, .matrix = 1},
    {.offset = 12, .rows = 1, .cols = 4},
    /* element 16 is in no tensor */
    {.offset = 17, .rows = 2, .cols = 3, .matrix = 1},
    {.offset = 23, .rows = 1, .cols = 2},
};
#define NMODEL 4
#define MODEL_N 25
#define GAP 16

/* ---- options, by name, applied through the engine ---- */

typedef struct opt_kv {
    const char *k;
    double v[2];
} opt_kv;

#define KV_MAX 6

static double kv_get(const opt_kv *o, const char *k, int elem) {
    for (int i = 0; i < KV_MAX && o[i].k; i++)
        if (strcmp(o[i].k, k) == 0) return o[i].v[elem];
    fail_msg("the test gives no option %s", k);
    return NAN;
}

/* An optimizer of n elements of type dt with options o and parameters p. */
static void make(ol_optim *opt, const char *name, ol_dtype dt, int64_t n, const opt_kv *o,
                 const ol_optim_param *p, int np) {
    ol_error err;
    const ol_optim_desc *d = ol_optim_find(name);
    if (!d) fail_msg("no optimizer %s", name);
    assert_int_equal(ol_optim_init(opt, d, dt, n, &err), 0);
    for (int i = 0; o && i < KV_MAX && o[i].k; i++)
        if (ol_optim_set(opt, o[i].k, o[i].v, &err)) fail_msg("%s.%s: %s", name, o[i].k, err.msg);
    if (ol_optim_set_params(opt, p, np, 1, &err)) fail_msg("%s: set_params: %s", name, err.msg);
}

static ol_tensor vec(ol_dtype dt, int64_t n) {
    ol_error err;
    ol_tensor t;
    const int64_t shape[1] = {n};
    assert_int_equal(ol_tensor_zeros(&t, dt, 1, shape, &err), 0);
    return t;
}

static double at(const ol_tensor *t, int64_t i) {
    return t->dtype == OL_F32 ? ((const float *)ol_tensor_data(t))[i]
                              : ((const double *)ol_tensor_data(t))[i];
}

static void put(ol_tensor *t, int64_t i, double v) {
    if (t->dtype == OL_F32) ((float *)ol_tensor_data(t))[i] = (float)v;
    else ((double *)ol_tensor_data(t))[i] = v;
}

static void step(ol_optim *opt, ol_tensor *w, const ol_tensor *g) {
    ol_error err;
    if (ol_optim_step(opt, w, g, NAN, 0, &err)) fail_msg("%s: step: %s", opt->desc->name, err.msg);
}

static double sumsq(const double *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

/* ---- the rules, one tensor at a time, in double ----
 * x: the tensor's n elements of w; g likewise; state as the rule needs,
 * full-length buffers indexed like w (adafactor's r and c at the tensor's
 * offset: rows, cols <= its size). */

/* lamb: m, v as Adam with bias correction; u = m̂/(√v̂ + eps) + wd·w;
 * r = ‖w‖/‖u‖ (1 when either is 0); w <- w − lr·r·u. */
static void ref_lamb(const opt_kv *o, int t, double *x, const double *g, double *m, double *v,
                     int64_t n) {
    const double lr = kv_get(o, "lr", 0), b1 = kv_get(o, "betas", 0), b2 = kv_get(o, "betas", 1);
    const double eps = kv_get(o, "eps", 0), wd = kv_get(o, "weight_decay", 0);
    double u[64];
    assert_true(n <= 64);
    for (int64_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        const double mh = m[i] / (1 - pow(b1, t)), vh = v[i] / (1 - pow(b2, t));
        u[i] = mh / (sqrt(vh) + eps) + wd * x[i];
    }
    const double wn = sqrt(sumsq(x, n)), un = sqrt(sumsq(u, n));
    const double r = wn > 0 && un > 0 ? wn / un : 1;
    for (int64_t i = 0; i < n; i++) x[i] -= lr * r * u[i];
}

/* lars: d = g + wd·w; r = tc·‖w‖/(‖d‖ + eps) (1 when ‖w‖ or ‖d‖ is 0);
 * b <- μb + lr·r·d; w <- w − b, or w − (lr·r·d + μb) with nesterov. */
static void ref_lars(const opt_kv *o, int t, double *x, const double *g, double *b, double *unused,
                     int64_t n) {
    (void)t;
    (void)unused;
    const double lr = kv_get(o, "lr", 0), mu = kv_get(o, "momentum", 0);
    const double wd = kv_get(o, "weight_decay", 0), tc = kv_get(o, "trust_coefficient", 0);
    const double eps = kv_get(o, "eps", 0);
    const int nest = kv_get(o, "nesterov", 0) != 0;
    double d[64];
    assert_true(n <= 64);
    for (int64_t i = 0; i < n; i++) d[i] = g[i] + wd * x[i];
    const double wn = sqrt(sumsq(x, n)), dn = sqrt(sumsq(d, n));
    const double r = wn > 0 && dn > 0 ? tc * wn / (dn + eps) : 1;
    for (int64_t i = 0; i < n; i++) {
        b[i] = mu * b[i] + lr * r * d[i];
        x[i] -= nest ? lr * r * d[i] + mu * b[i] : b[i];
    }
}

/* adafactor as torch.optim.Adafactor (README's table): see the header of
 * engine/optim/adafactor.c for the rule; eps[1] = 0 is machine_eps. */
static void ref_adafactor(const opt_kv *o, int t, const ol_optim_param *p, double *x,
                          const double *g, double *r, double *c, double *v, double machine_eps) {
    const double lr = kv_get(o, "lr", 0), dec = kv_get(o, "beta2_decay", 0);
    const double e1 = kv_get(o, "eps", 0) > 0 ? kv_get(o, "eps", 0) : machine_eps;
    const double e2 = kv_get(o, "eps", 1), d = kv_get(o, "d", 0);
    const double wd = kv_get(o, "weight_decay", 0);
    const int64_t R = p->rows, C = p->cols, n = R * C;
    const double b2 = 1 - pow(t, dec), rho = fmin(lr, 1 / sqrt(t));
    const double alpha = fmax(e2, sqrt(sumsq(x, n) / (double)n)) * rho;
    double u[64];
    assert_true(n <= 64);
    for (int64_t i = 0; i < n; i++) x[i] -= lr * wd * x[i];
    if (p->matrix) {
        double mean_r = 0;
        for (int64_t i = 0; i < R; i++) {
            double s = 0;
            for (int64_t j = 0; j < C; j++) s += g[i * C + j] * g[i * C + j];
            r[i] = b2 * r[i] + (1 - b2) * s / (double)C;
            mean_r += r[i] / (double)R;
        }
        for (int64_t j = 0; j < C; j++) {
            double s = 0;
            for (int64_t i = 0; i < R; i++) s += g[i * C + j] * g[i * C + j];
            c[j] = b2 * c[j] + (1 - b2) * s / (double)R;
        }
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = 0; j < C; j++) {
                const double V = r[i] * c[j] / fmax(mean_r, e1);
                u[i * C + j] = g[i * C + j] / fmax(sqrt(V), e1);
            }
    } else {
        for (int64_t i = 0; i < n; i++) {
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            u[i] = g[i] / fmax(sqrt(v[i]), e1);
        }
    }
    const double rms_u = sqrt(sumsq(u, n) / (double)n);
    for (int64_t i = 0; i < n; i++) x[i] -= alpha * u[i] / fmax(1, rms_u / d);
}

/* ---- the model-like run ---- */

static double w_start(int64_t i) { return 0.8 * cos(1.1 * (double)i) + 0.1; }

/* A gradient that depends on the step and, a little, on w. */
static double grad_of(int64_t i, int t, double w) {
    return sin(0.9 * (double)i + 0.37 * t) * (1 + 0.2 * (double)(i % 3)) + 0.25 * w;
}

typedef struct trajectory {
    const char *name;
    opt_kv o[KV_MAX];
} trajectory;

static const trajectory RUNS[] = {
    {"lamb", {{"lr", {0.05}}, {"betas", {0.8, 0.99}}, {"eps", {1e-6}}, {"weight_decay", {0.1}}}},
    {"lars",
     {{"lr", {0.5}}, {"momentum", {0.9}}, {"nesterov", {0}}, {"weight_decay", {0.01}},
      {"trust_coefficient", {0.02}}, {"eps", {1e-8}}}},
    {"lars",
     {{"lr", {0.3}}, {"momentum", {0.8}}, {"nesterov", {1}}, {"weight_decay", {0.05}},
      {"trust_coefficient", {0.01}}, {"eps", {0}}}},
    {"adafactor",
     {{"lr", {0.05}}, {"beta2_decay", {-0.6}}, {"eps", {0, 1e-3}}, {"d", {1}},
      {"weight_decay", {0.1}}}},
    {"adafactor",
     {{"lr", {0.02}}, {"beta2_decay", {-0.8}}, {"eps", {0.9, 2}}, {"d", {1}},
      {"weight_decay", {0.2}}}},
};

/* The reference's whole step: every tensor of MODEL by its rule. */
static void ref_step(const trajectory *tr, int t, double *x, const double *g, double *s0,
                     double *s1, double *s2, double machine_eps) {
    for (int k = 0; k < NMODEL; k++) {
        const ol_optim_param *p = &MODEL[k];
        const int64_t off = p->offset, n = p->rows * p->cols;
        if (strcmp(tr->name, "lamb") == 0)
            ref_lamb(tr->o, t, x + off, g + off, s0 + off, s1 + off, n);
        else if (strcmp(tr->name, "lars") == 0)
            ref_lars(tr->o, t, x + off, g + off, s0 + off, NULL, n);
        else
            ref_adafactor(tr->o, t, p, x + off, g + off, s0 + off, s1 + off, s2 + off, machine_eps);
    }
}

static void check_run(const trajectory *tr, ol_dtype dt) {
    const double tol = dt == OL_F64 ? 1e-12 : 2e-5;
    const double meps = dt == OL_F64 ? DBL_EPSILON : FLT_EPSILON;
    ol_optim opt;
    make(&opt, tr->name, dt, MODEL_N, tr->o, MODEL, NMODEL);
    ol_tensor w = vec(dt, MODEL_N), g = vec(dt, MODEL_N);
    double x[MODEL_N], gr[MODEL_N], s0[MODEL_N] = {0}, s1[MODEL_N] = {0}, s2[MODEL_N] = {0};
    for (int64_t i = 0; i < MODEL_N; i++) {
        put(&w, i, w_start(i));
        x[i] = at(&w, i); /* the same start, rounded to dt */
    }
    const double gap = at(&w, GAP);
    for (int t = 1; t <= STEPS; t++) {
        for (int64_t i = 0; i < MODEL_N; i++) {
            put(&g, i, grad_of(i, t, at(&w, i)));
            gr[i] = dt == OL_F64 ? at(&g, i) : grad_of(i, t, x[i]);
        }
        step(&opt, &w, &g);
        ref_step(tr, t, x, gr, s0, s1, s2, meps);
        for (int64_t i = 0; i < MODEL_N; i++) {
            if (i == GAP) continue;
            if (!(fabs(at(&w, i) - x[i]) <= tol * (1 + fabs(x[i]))))
                fail_msg("%s %s step %d: w[%lld] = %.17g, the rule gives %.17g", tr->name,
                         ol_dtype_name(dt), t, (long long)i, at(&w, i), x[i]);
        }
        if (at(&w, GAP) != gap) fail_msg("%s: the element in no tensor moved", tr->name);
    }
    if (strcmp(tr->name, "adafactor") == 0) {
        /* row_var: the matrices' rows; col_var: their columns; variance: the
         * vectors' elements; each tensor after tensor, in offset order */
        const int64_t want_len[3] = {3 + 2, 4 + 3, 4 + 2};
        double want[3][8];
        int k = 0;
        for (int i = 0; i < 3; i++) want[0][k++] = s0[i];
        for (int i = 0; i < 2; i++) want[0][k++] = s0[17 + i];
        k = 0;
        for (int j = 0; j < 4; j++) want[1][k++] = s1[j];
        for (int j = 0; j < 3; j++) want[1][k++] = s1[17 + j];
        k = 0;
        for (int i = 0; i < 4; i++) want[2][k++] = s2[12 + i];
        for (int i = 0; i < 2; i++) want[2][k++] = s2[23 + i];
        for (int b = 0; b < 3; b++) {
            assert_int_equal(ol_optim_state_numel(&opt, b), want_len[b]);
            for (int64_t i = 0; i < want_len[b]; i++)
                if (!(fabs(at(&opt.state[b], i) - want[b][i]) <= tol * (1 + fabs(want[b][i]))))
                    fail_msg("adafactor %s: %s[%lld] = %.17g, want %.17g", ol_dtype_name(dt),
                             opt.desc->state_names[b], (long long)i, at(&opt.state[b], i),
                             want[b][i]);
        }
    }
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
}

static void test_rules(void **st) {
    (void)st;
    for (size_t k = 0; k < sizeof RUNS / sizeof RUNS[0]; k++) {
        check_run(&RUNS[k], OL_F64);
        check_run(&RUNS[k], OL_F32);
    }
}

/* ---- steps by hand ---- */

/* Two vectors A = w[0..1], B = w[2..3]. */
static const ol_optim_param TWO[] = {{.offset = 0, .rows = 1, .cols = 2},
                                     {.offset = 2, .rows = 1, .cols = 2}};

/* Runs `steps` steps of name with options o on TWO (or p) from w0 with the
 * gradient g0 every step, in f64, and compares with want. */
static void by_hand(const char *name, const opt_kv *o, const ol_optim_param *p, int np, int n,
                    const double *w0, const double *g0, int steps, const double *want) {
    ol_optim opt;
    make(&opt, name, OL_F64, n, o, p, np);
    ol_tensor w = vec(OL_F64, n), g = vec(OL_F64, n);
    for (int i = 0; i < n; i++) {
        put(&w, i, w0[i]);
        put(&g, i, g0[i]);
    }
    for (int s = 0; s < steps; s++) step(&opt, &w, &g);
    for (int i = 0; i < n; i++)
        if (!(fabs(at(&w, i) - want[i]) <= 1e-14 * (1 + fabs(want[i]))))
            fail_msg("%s by hand, %d step(s): w[%d] = %.17g, want %.17g", name, steps, i,
                     at(&w, i), want[i]);
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
}

/* lamb, lr 0.1, wd 0.5, A = (3, 4) with g = (1, −2), B = (0, 1) with
 * g = (0.5, 0): at t = 1, m̂ = g and v̂ = g², so u = g/(|g| + 1e-6) + wd·w:
 * A: u = (2.4999990, 1.0000005), r = 5/‖u‖;  B: u = (0.99999800, 0.5),
 * r = 1/‖u‖. One tensor of four would take one r for both. */
static void test_lamb_by_hand(void **st) {
    (void)st;
    const opt_kv o[] = {{"lr", {0.1}}, {"weight_decay", {0.5}}, {NULL, {0}}};
    const double w0[4] = {3, 4, 0, 1}, g0[4] = {1, -2, 0.5, 0};
    const double want[4] = {2.5357617121869547, 3.814304517749052, -0.089442683322889627,
                            0.95527856889587182};
    by_hand("lamb", o, TWO, 2, 4, w0, g0, 1, want);
}

/* lars, lr 0.5, momentum 0.9, wd 0.1, tc 1e-3, the same tensors and
 * gradients, two steps (the second with the buffer), plain and nesterov. */
static void test_lars_by_hand(void **st) {
    (void)st;
    const double w0[4] = {3, 4, 0, 1}, g0[4] = {1, -2, 0.5, 0};
    const opt_kv plain[] = {{"lr", {0.5}}, {"weight_decay", {0.1}}, {NULL, {0}}};
    const double want[4] = {2.9954280121061485, 4.0056270620232013, -0.0014217939617636598,
                            0.99971564120764722};
    by_hand("lars", plain, TWO, 2, 4, w0, g0, 2, want);
    const opt_kv nest[] = {{"lr", {0.5}}, {"weight_decay", {0.1}}, {"nesterov", {1}}, {NULL, {0}}};
    const double want_n[4] = {2.9927317285768931, 4.0089455648284389, -0.0022600653040453786,
                              0.999547986939191};
    by_hand("lars", nest, TWO, 2, 4, w0, g0, 2, want_n);
}

/* adafactor at its defaults but wd = 0.5, in f64 (eps[1] = 2^−52): a 2x2
 * matrix W = [[1, −2], [0.5, 3]] with G = [[0.3, −1], [2, 0.1]] and a
 * vector (1, 2) with g = (0.4, −0.2). At t = 1, β2 = 0: r = (0.545, 2.005),
 * c = (2.045, 0.505), V = r cᵀ/mean(r); for the vector V = g², U = sign(g),
 * RMS(U) = 1, α = 0.01·RMS(w) = 0.01·√2.5, so w = 0.995·w − α·sign(g).
 * At t = 2 the same gradient keeps r, c and V. */
static void test_adafactor_by_hand(void **st) {
    (void)st;
    const ol_optim_param p[] = {{.offset = 0, .rows = 2, .cols = 2, .matrix = 1},
                                {.offset = 4, .rows = 1, .cols = 2}};
    const opt_kv o[] = {{"weight_decay", {0.5}}, {NULL, {0}}};
    const double w0[6] = {1, -2, 0.5, 3, 1, 2}, g0[6] = {0.3, -1, 2, 0.1, 0.4, -0.2};
    const double one[6] = {0.99005171762659139, -1.9568079415160109, 0.48030095715989268,
                           2.9832694854717103, 0.97918861169915805, 2.0058113883008417};
    const double two[6] = {0.98020731612920065, -1.9141949996936178, 0.46088858532772664,
                           2.9666415571827769, 0.95850962447497812, 2.0115653755250213};
    by_hand("adafactor", o, p, 2, 6, w0, g0, 1, one);
    by_hand("adafactor", o, p, 2, 6, w0, g0, 2, two);
}

/* eps[1]: 0 (nil, the default) is the machine epsilon of the dtype. One
 * vector w = (1, 1), g = (tiny, 1) at t = 1, tiny about half the machine
 * epsilon: V = g², so √V = tiny < eps1 and U = (tiny/eps1, 1); RMS(U) < 1,
 * α = 1e-2·RMS(w) = 1e-2. An explicit eps[1] of 1e-3 gives U = (tiny/1e-3, 1). */
static void test_adafactor_eps1(void **st) {
    (void)st;
    const ol_optim_param one[] = {{.offset = 0, .rows = 1, .cols = 2}};
    const ol_dtype dts[2] = {OL_F64, OL_F32};
    const double tiny[2] = {1e-16, 5e-8}, meps[2] = {DBL_EPSILON, FLT_EPSILON};
    for (int d = 0; d < 2; d++)
        for (int explicit = 0; explicit < 2; explicit++) {
            const opt_kv o[] = {{"eps", {explicit ? 1e-3 : 0, 1e-3}}, {NULL, {0}}};
            ol_optim opt;
            make(&opt, "adafactor", dts[d], 2, o, one, 1);
            ol_tensor w = vec(dts[d], 2), g = vec(dts[d], 2);
            put(&w, 0, 1), put(&w, 1, 1);
            put(&g, 0, tiny[d]), put(&g, 1, 1);
            step(&opt, &w, &g);
            const double e1 = explicit ? 1e-3 : meps[d];
            const double want = 1 - 1e-2 * at(&g, 0) / e1;
            if (!(fabs(at(&w, 0) - want) <= 1e-6) || !(fabs(at(&w, 1) - 0.99) <= 1e-6))
                fail_msg("adafactor %s eps[1] = %g: w = (%.17g, %.17g), want (%.17g, 0.99)",
                         ol_dtype_name(dts[d]), o[0].v[0], at(&w, 0), at(&w, 1), want);
            ol_tensor_release(&w);
            ol_tensor_release(&g);
            ol_optim_free(&opt);
        }
}

/* ---- zero norms ---- */

/* A = 0 with g = (1, −2): ‖w‖ = 0, so r = 1; B = (3, 4) with g = 0 and no
 * decay: u (lamb) and d (lars) are 0, so r = 1 and B stays. */
static void test_zero_norms(void **st) {
    (void)st;
    const double w0[4] = {0, 0, 3, 4}, g0[4] = {1, -2, 0, 0};
    const opt_kv lamb[] = {{"lr", {0.1}}, {NULL, {0}}};
    /* u = g/(|g| + 1e-6) at t = 1 */
    const double want_lamb[4] = {-0.1 / (1 + 1e-6), 0.1 * 2 / (2 + 1e-6), 3, 4};
    by_hand("lamb", lamb, TWO, 2, 4, w0, g0, 1, want_lamb);
    const opt_kv lars[] = {{"lr", {0.5}}, {NULL, {0}}};
    /* b = lr·r·g with r = 1 */
    const double want_lars[4] = {-0.5, 1, 3, 4};
    by_hand("lars", lars, TWO, 2, 4, w0, g0, 1, want_lars);
    /* adafactor on a zero gradient: V = 0, U = 0, only the decay acts */
    const opt_kv af[] = {{"weight_decay", {0.5}}, {NULL, {0}}};
    const ol_optim_param m[] = {{.offset = 0, .rows = 2, .cols = 2, .matrix = 1}};
    const double w1[4] = {1, 2, 3, 4}, zero[4] = {0};
    const double want_af[4] = {0.995, 1.99, 2.985, 3.98};
    by_hand("adafactor", af, m, 1, 4, w1, zero, 1, want_af);
    /* adafactor from w = 0: RMS(w) = 0, so α = eps[2]·ρ = 1e-3·1e-2, U = sign(g) */
    const double w2[2] = {0, 0}, g2[2] = {0.4, -0.2}, want_w0[2] = {-1e-5, 1e-5};
    by_hand("adafactor", NULL, TWO, 1, 2, w2, g2, 1, want_w0);
}

/* ---- threads ---- */

/* A vector of 3 chunks and a bit, a 200 x 300 matrix, a short vector. */
#define BIG_V (3 * OL_OPTIM_CHUNK + 123)
#define BIG_R 200
#define BIG_C 300
#define BIG_N (BIG_V + BIG_R * BIG_C + 5)
static const ol_optim_param BIG[] = {
    {.offset = 0, .rows = 1, .cols = BIG_V},
    {.offset = BIG_V, .rows = BIG_R, .cols = BIG_C, .matrix = 1},
    {.offset = BIG_V + BIG_R * BIG_C, .rows = 1, .cols = 5},
};

static void big_run(const trajectory *tr, ol_dtype dt, int threads, ol_optim *opt, ol_tensor *w) {
    ol_set_threads(threads);
    make(opt, tr->name, dt, BIG_N, tr->o, BIG, 3);
    *w = vec(dt, BIG_N);
    ol_tensor g = vec(dt, BIG_N);
    for (int64_t i = 0; i < BIG_N; i++) put(w, i, w_start(i));
    for (int t = 1; t <= 3; t++) {
        for (int64_t i = 0; i < BIG_N; i++) put(&g, i, grad_of(i, t, at(w, i)));
        step(opt, w, &g);
    }
    ol_tensor_release(&g);
}

static int same_bytes(const ol_tensor *a, const ol_tensor *b) {
    return a->dtype == b->dtype && ol_tensor_numel(a) == ol_tensor_numel(b) &&
           memcmp(ol_tensor_data(a), ol_tensor_data(b),
                  (size_t)ol_tensor_numel(a) * ol_dtype_size(a->dtype)) == 0;
}

static void test_threads(void **st) {
    (void)st;
    const ol_dtype dts[2] = {OL_F32, OL_F64};
    for (size_t k = 0; k < sizeof RUNS / sizeof RUNS[0]; k++)
        for (int d = 0; d < 2; d++) {
            ol_optim a, b;
            ol_tensor wa, wb;
            big_run(&RUNS[k], dts[d], 1, &a, &wa);
            big_run(&RUNS[k], dts[d], 2, &b, &wb);
            if (!same_bytes(&wa, &wb))
                fail_msg("%s %s: 1 and 2 threads step differently", RUNS[k].name,
                         ol_dtype_name(dts[d]));
            for (int s = 0; s < a.desc->nstate; s++)
                if (!same_bytes(&a.state[s], &b.state[s]))
                    fail_msg("%s %s: state %s differs on 1 and 2 threads", RUNS[k].name,
                             ol_dtype_name(dts[d]), a.desc->state_names[s]);
            ol_tensor_release(&wa);
            ol_tensor_release(&wb);
            ol_optim_free(&a);
            ol_optim_free(&b);
        }
    ol_set_threads(0);
}

/* ---- checkpoints ---- */

static char ck_path[64];

static void train(ol_optim *opt, ol_tensor *w, int t0, int steps) {
    ol_tensor g = vec(w->dtype, MODEL_N);
    for (int t = t0 + 1; t <= t0 + steps; t++) {
        for (int64_t i = 0; i < MODEL_N; i++) put(&g, i, grad_of(i, t, at(w, i)));
        step(opt, w, &g);
    }
    ol_tensor_release(&g);
}

#define K_SAVE 4
#define N_MORE 5

static void resume_case(const trajectory *tr, ol_dtype dt) {
    ol_error err;
    ol_optim opt, fresh;
    ol_checkpoint ck;
    ol_tensor w = vec(dt, MODEL_N), w2 = vec(dt, MODEL_N);
    make(&opt, tr->name, dt, MODEL_N, tr->o, MODEL, NMODEL);
    for (int64_t i = 0; i < MODEL_N; i++) put(&w, i, w_start(i));
    train(&opt, &w, 0, K_SAVE);
    ol_ck_init(&ck);
    if (ol_ck_add(&ck, "w", &w, &err) || ol_optim_export(&opt, &ck, &err) ||
        ol_ck_save(&ck, ck_path, &err))
        fail_msg("%s: save: %s", tr->name, err.msg);
    ol_ck_free(&ck);
    train(&opt, &w, K_SAVE, N_MORE); /* the reference */

    for (int restore = 1; restore >= 0; restore--) {
        make(&fresh, tr->name, dt, MODEL_N, NULL, MODEL, NMODEL);
        if (!restore) /* the control: the options but not the state */
            for (int i = 0; i < KV_MAX && tr->o[i].k; i++)
                assert_int_equal(ol_optim_set(&fresh, tr->o[i].k, tr->o[i].v, &err), 0);
        if (ol_ck_load(ck_path, &ck, &err)) fail_msg("load: %s", err.msg);
        assert_int_equal(ol_tensor_copy_(&w2, ol_ck_find(&ck, "w"), &err), 0);
        if (restore && ol_optim_import(&fresh, &ck, &err))
            fail_msg("%s %s: import: %s", tr->name, ol_dtype_name(dt), err.msg);
        ol_ck_free(&ck);
        train(&fresh, &w2, K_SAVE, N_MORE);
        if (restore) {
            if (!same_bytes(&w, &w2))
                fail_msg("%s %s: the resumed run ends elsewhere", tr->name, ol_dtype_name(dt));
            assert_int_equal(fresh.t, K_SAVE + N_MORE);
            assert_memory_equal(fresh.groups[0].o, opt.groups[0].o, sizeof opt.groups[0].o);
            for (int s = 0; s < opt.desc->nstate; s++)
                if (!same_bytes(&opt.state[s], &fresh.state[s]))
                    fail_msg("%s: state %s differs after the resume", tr->name,
                             opt.desc->state_names[s]);
        } else if (same_bytes(&w, &w2)) {
            fail_msg("%s %s: a resume without the optimizer ends at the same weights", tr->name,
                     ol_dtype_name(dt));
        }
        ol_optim_free(&fresh);
    }
    ol_tensor_release(&w);
    ol_tensor_release(&w2);
    ol_optim_free(&opt);
}

static void test_resume(void **st) {
    (void)st;
    for (size_t k = 0; k < sizeof RUNS / sizeof RUNS[0]; k++) {
        resume_case(&RUNS[k], OL_F32);
        resume_case(&RUNS[k], OL_F64);
    }
}

static int setup(void **st) {
    (void)st;
    snprintf(ck_path, sizeof ck_path, "/tmp/ol_pertensor_ck_XXXXXX");
    const int fd = mkstemp(ck_path);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    unlink(ck_path);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_lamb_by_hand),
        cmocka_unit_test(test_lars_by_hand),
        cmocka_unit_test(test_adafactor_by_hand),
        cmocka_unit_test(test_adafactor_eps1),
        cmocka_unit_test(test_zero_norms),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_resume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
