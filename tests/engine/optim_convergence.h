/* Convergence of the first-order optimizers on two known minima: an
 * ill-conditioned quadratic (condition number 10, minimum 0 at 0) and
 * Rosenbrock's function (minimum 0 at (1, 1)), in f64 and f32.
 *
 * Include after <cmocka.h>, "optim/optim.h" and "optim_options.h". */
#ifndef OL_TEST_OPTIM_CONVERGENCE_H
#define OL_TEST_OPTIM_CONVERGENCE_H

#include <math.h>
#include <stddef.h>

/* f(x) = ½ Σ k_i x_i², k from 1 to 10. */
static inline double quad(const double *x, double *g, int n) {
    double f = 0;
    for (int i = 0; i < n; i++) {
        double k = 1 + 9.0 * i / (n - 1);
        f += 0.5 * k * x[i] * x[i];
        g[i] = k * x[i];
    }
    return f;
}
/* Rosenbrock, minimum 0 at (1, 1). */
static inline double rosen(const double *x, double *g, int n) {
    (void)n;
    double a = 1 - x[0], b = x[1] - x[0] * x[0];
    g[0] = -2 * a - 400 * x[0] * b;
    g[1] = 200 * b;
    return a * a + 100 * b * b;
}

typedef double (*objective)(const double *x, double *g, int n);

/* The loss after `steps` steps from x0, with the gradient taken at the
 * lookahead point when the optimizer has one. */
static inline double minimise(const char *name, const kv *o, objective f, int n, const double *x0,
                              int steps, ol_dtype dt) {
    ol_error err;
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find(name), dt, n, &err), 0);
    set_options(&opt, o, 0);
    const int64_t shape[1] = {n};
    ol_tensor w, g;
    assert_int_equal(ol_tensor_zeros(&w, dt, 1, shape, &err), 0);
    assert_int_equal(ol_tensor_zeros(&g, dt, 1, shape, &err), 0);
    for (int64_t i = 0; i < n; i++) ol_tensor_set(&w, &i, x0[i]);
    double x[8], gv[8], loss = 0;
    const int prep = ol_optim_has_prepare(&opt);
    for (int t = 0; t < steps; t++) {
        if (prep) ol_optim_prepare(&opt, &w, &err);
        for (int64_t i = 0; i < n; i++) x[i] = ol_tensor_get(&w, &i);
        loss = f(x, gv, n);
        for (int64_t i = 0; i < n; i++) ol_tensor_set(&g, &i, gv[i]);
        assert_int_equal(ol_optim_step(&opt, &w, &g, loss, prep, &err), 0);
    }
    for (int64_t i = 0; i < n; i++) x[i] = ol_tensor_get(&w, &i);
    loss = f(x, gv, n);
    ol_tensor_release(&w);
    ol_tensor_release(&g);
    ol_optim_free(&opt);
    return loss;
}

typedef struct conv_case {
    const char *name;
    kv o[4];
    int quad_steps, rosen_steps; /* rosen_steps 0: the quadratic only */
    double rosen_tol;            /* f64; f32 gets 100 times it */
    double quad_tol;             /* 0: 1e-6. rmsprop's steps stay ~lr in size
                                    near the minimum, so it hovers there
                                    rather than converging */
} conv_case;

static inline void check_convergence(const conv_case *cases, size_t ncases) {
    const double q0[4] = {1, -2, 0.5, 3}, r0[2] = {-1.5, 2};
    for (size_t k = 0; k < ncases; k++) {
        const conv_case *c = &cases[k];
        for (int dt = 0; dt < 2; dt++) {
            ol_dtype d = dt ? OL_F32 : OL_F64;
            double fq = minimise(c->name, c->o, quad, 4, q0, c->quad_steps, d);
            if (!(fq < (c->quad_tol ? c->quad_tol : 1e-6)))
                fail_msg("%s #%zu on the quadratic: loss %g", c->name, k, fq);
            if (c->rosen_steps) {
                double fr = minimise(c->name, c->o, rosen, 2, r0, c->rosen_steps, d);
                if (!(fr < c->rosen_tol * (dt ? 100 : 1)))
                    fail_msg("%s #%zu on Rosenbrock (%s): loss %g", c->name, k, dt ? "f32" : "f64",
                             fr);
            }
        }
    }
}

#endif
