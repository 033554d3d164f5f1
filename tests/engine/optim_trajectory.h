/* The trajectory harness of the first-order optimizer tests: a 3-element
 * problem whose gradient g_i = a_i·(w_i − c_i) + 0.3·sin(1.7·t + i) flips
 * sign now and then, run STEPS steps through the engine (f64 and f32) and
 * compared step by step with a reference written in the test from the
 * published rule. Define STEPS before including; include after <cmocka.h>
 * and "optim/optim.h". */
#ifndef OL_TEST_OPTIM_TRAJECTORY_H
#define OL_TEST_OPTIM_TRAJECTORY_H

#include <math.h>

#include "optim_options.h"

#define N 3

static const double A[N] = {1.0, 4.0, 0.5};
static const double C[N] = {0.5, -1.0, 2.0};
static const double W0[N] = {1.5, 0.25, -0.75};

static inline void grad_at(const double *w, int t, double *g) {
    for (int i = 0; i < N; i++) g[i] = A[i] * (w[i] - C[i]) + 0.3 * sin(1.7 * t + i);
}

/* The loss whose gradient grad_at is, but for the sin term (irprop+ only
 * compares losses). */
static inline double loss_at(const double *w) {
    double f = 0;
    for (int i = 0; i < N; i++) f += 0.5 * A[i] * (w[i] - C[i]) * (w[i] - C[i]);
    return f;
}

/* closure: call prepare before taking the gradient (nag's lookahead) and
 * pass the loss (irprop+). */
static inline void run_engine(const char *name, ol_dtype dt, const kv *o, int closure,
                              double traj[STEPS][N]) {
    ol_error err;
    ol_optim opt;
    const ol_optim_desc *d = ol_optim_find(name);
    assert_non_null(d);
    assert_int_equal(ol_optim_init(&opt, d, dt, N, &err), 0);
    const int64_t shape[1] = {N};
    ol_tensor w, g;
    assert_int_equal(ol_tensor_zeros(&w, dt, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&g, dt, 1, shape, &err), 0);
    for (int64_t i = 0; i < N; i++) ol_tensor_set(&w, &i, W0[i]);
    set_options(&opt, o, 0);
    for (int t = 1; t <= STEPS; t++) {
        if (t > 1) set_options(&opt, o, t);
        if (closure) assert_int_equal(ol_optim_prepare(&opt, &w, &err), 0);
        double wv[N], gv[N];
        for (int64_t i = 0; i < N; i++) wv[i] = ol_tensor_get(&w, &i);
        grad_at(wv, t, gv);
        for (int64_t i = 0; i < N; i++) ol_tensor_set(&g, &i, gv[i]);
        double loss = closure ? loss_at(wv) : NAN;
        assert_int_equal(ol_optim_step(&opt, &w, &g, loss, closure, &err), 0);
        for (int64_t i = 0; i < N; i++) traj[t - 1][i] = ol_tensor_get(&w, &i);
    }
    assert_int_equal(opt.t, STEPS);
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
}

typedef void (*ref_fn)(const kv *o, double traj[STEPS][N]);

/* Every step in f64 (1e-12) and f32 (1e-5 relative) against the reference. */
static inline void compare_run(const char *name, ref_fn ref, const kv *o, int closure) {
    double want[STEPS][N], got[STEPS][N];
    ref(o, want);
    for (int dt = 0; dt < 2; dt++) {
        run_engine(name, dt == 0 ? OL_F64 : OL_F32, o, closure, got);
        double tol = dt == 0 ? 1e-12 : 1e-5;
        for (int t = 0; t < STEPS; t++)
            for (int i = 0; i < N; i++)
                if (!(fabs(got[t][i] - want[t][i]) <= tol * (1 + fabs(want[t][i]))))
                    fail_msg("%s (%s, first option %s = %g): step %d, w[%d] = %.17g, want %.17g",
                             name, dt == 0 ? "f64" : "f32", o && o->k ? o->k : "none",
                             o && o->k ? o->v[0] : 0, t + 1, i, got[t][i], want[t][i]);
    }
}

/* The steps must move w by more than the tolerances, or the comparisons
 * would pass for an optimizer that does nothing. */
static inline void assert_moves(ref_fn ref, const kv *o) {
    double traj[STEPS][N];
    ref(o, traj);
    double moved = 0;
    for (int i = 0; i < N; i++) moved = fmax(moved, fabs(traj[STEPS - 1][i] - W0[i]));
    assert_true(moved > 1e-3);
}

#endif
