/* Closure methods and the linear algebra under them, on problems whose
 * answers are known in closed form: SPD systems with a chosen solution,
 * diagonal spectra, a 1-D function for the Wolfe conditions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "linalg/linalg.h"
#include "optim/second.h"

/* f(w) = 1/2 w'Aw - b'w, A = diag(d) + 0.1 * ones */
typedef struct quad {
    int n;
    double A[64];
    double b[8];
    int evals;
    int fail_at; /* 0: never */
} quad;

static int quad_fg(void *ud, const double *w, double *loss, double *g, ol_error *err) {
    quad *q = ud;
    if (q->fail_at && ++q->evals >= q->fail_at) return ol_fail(err, "boom");
    double f = 0;
    for (int i = 0; i < q->n; i++) {
        double s = 0;
        for (int j = 0; j < q->n; j++) s += q->A[i * q->n + j] * w[j];
        g[i] = s - q->b[i];
        f += 0.5 * w[i] * s - q->b[i] * w[i];
    }
    *loss = f;
    return 0;
}

/* x* = (1, -2, 3, -4, ...); b = A x*. */
static void quad_make(quad *q, int n, double decades) {
    memset(q, 0, sizeof *q);
    q->n = n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            q->A[i * n + j] = (i == j ? pow(10, decades * i / (n - 1)) : 0) + 0.1;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < n; j++) s += q->A[i * n + j] * ((j % 2 ? -1 : 1) * (j + 1.0));
        q->b[i] = s;
    }
}

static void assert_solution(const char *name, const double *w, int n, double tol) {
    double worst = 0;
    for (int j = 0; j < n; j++) worst = fmax(worst, fabs(w[j] - (j % 2 ? -1 : 1) * (j + 1.0)));
    if (!(worst < tol)) fail_msg("%s: error %g (tolerance %g)", name, worst, tol);
}

static void test_cholesky_damped(void **st) {
    (void)st;
    ol_error err;
    /* [[4, 2], [2, 3]] x = [2, 1]: x = (0.5, 0) */
    double H[4] = {4, 2, 2, 3}, b[2] = {2, 1}, x[2], work[4], lam = 0;
    int raised;
    assert_int_equal(ol_chol_solve_damped(2, H, b, &lam, x, &raised, work, &err), 0);
    assert_int_equal(raised, 0);
    assert_true(fabs(x[0] - 0.5) < 1e-15 && fabs(x[1]) < 1e-15);
    /* indefinite diag(1, -1): damping must pass 1 */
    double J[4] = {1, 0, 0, -1}, c[2] = {1, 1};
    lam = 0.5;
    assert_int_equal(ol_chol_solve_damped(2, J, c, &lam, x, &raised, work, &err), 0);
    assert_true(raised >= 1 && lam > 1);
    assert_true(fabs(x[0] - 1 / (1 + lam)) < 1e-12 && fabs(x[1] - 1 / (lam - 1)) < 1e-12);
    double N[1] = {NAN}, d[1] = {1};
    lam = 0;
    assert_int_equal(ol_chol_solve_damped(1, N, d, &lam, x, &raised, work, &err), -1);
}

static void test_eigh(void **st) {
    (void)st;
    ol_error err;
    ol_tensor a, vals, vecs;
    const int64_t n = 3;
    /* [[2, -1, 0], [-1, 2, -1], [0, -1, 2]]: 2 - sqrt 2, 2, 2 + sqrt 2 */
    assert_int_equal(ol_tensor_zeros(&a, OL_F64, 2, (int64_t[]){n, n}, &err), 0);
    double *p = ol_tensor_data(&a);
    double m[9] = {2, -1, 0, -1, 2, -1, 0, -1, 2};
    memcpy(p, m, sizeof m);
    assert_int_equal(ol_eigh(&a, -1, &vals, &vecs, &err), 0);
    const double *v = ol_tensor_data(&vals);
    assert_true(fabs(v[0] - (2 - sqrt(2))) < 1e-14 && fabs(v[1] - 2) < 1e-14 &&
                fabs(v[2] - (2 + sqrt(2))) < 1e-14);
    /* the eigenvector of 2 is (1, 0, -1)/sqrt 2 (up to sign), in column 2 */
    const double *V = ol_tensor_data(&vecs);
    assert_true(fabs(fabs(V[0 * 3 + 1]) - sqrt(0.5)) < 1e-14 && fabs(V[1 * 3 + 1]) < 1e-14);
    double cond;
    assert_int_equal(ol_cond_sym(&a, -1, &cond, &err), 0);
    assert_true(fabs(cond - (2 + sqrt(2)) / (2 - sqrt(2))) < 1e-12);
    p[1] = 5; /* not symmetric */
    assert_int_equal(ol_eigh(&a, -1, &vals, &vecs, &err), -1);
    assert_non_null(strstr(err.msg, "not symmetric"));
    ol_tensor_release(&a);
    ol_tensor_release(&vals);
    ol_tensor_release(&vecs);
    assert_int_equal(ol_tensor_zeros(&a, OL_F32, 2, (int64_t[]){2, 3}, &err), 0);
    assert_int_equal(ol_eigh(&a, -1, &vals, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "not square"));
    ol_tensor_release(&a);
}

static int diag_av(void *ud, const double *v, double *out, ol_error *err) {
    (void)err;
    int n = *(int *)ud;
    for (int i = 0; i < n; i++) out[i] = (i + 1.0) * v[i];
    return 0;
}

static void test_lanczos(void **st) {
    (void)st;
    ol_error err;
    int n = 60;
    double vals[3], vecs[3 * 60];
    assert_int_equal(ol_lanczos(n, diag_av, &n, 3, 40, NULL, vals, vecs, &err), 0);
    assert_true(fabs(vals[0] - 60) < 1e-6 && fabs(vals[1] - 59) < 1e-4 && fabs(vals[2] - 58) < 1e-3);
    assert_true(fabs(fabs(vecs[59]) - 1) < 1e-3); /* e_60 */
    /* m = n: exact */
    assert_int_equal(ol_lanczos(n, diag_av, &n, 2, n, NULL, vals, NULL, &err), 0);
    assert_true(fabs(vals[0] - 60) < 1e-9 && fabs(vals[1] - 59) < 1e-9);
    assert_int_equal(ol_lanczos(n, diag_av, &n, 61, 70, NULL, vals, NULL, &err), -1);
}

/* phi(t) along d = 1 from x = 0 of f(x) = x^4 - 3x: f' = 4x^3 - 3. */
static int quartic(void *ud, const double *w, double *loss, double *g, ol_error *err) {
    (void)ud;
    (void)err;
    *loss = pow(w[0], 4) - 3 * w[0];
    g[0] = 4 * pow(w[0], 3) - 3;
    return 0;
}

static void test_strong_wolfe(void **st) {
    (void)st;
    ol_error err;
    ol_closure f = {.n = 1, .fg = quartic};
    double x = 0, d = 1, g0 = -3, fnew, gnew, scratch[4];
    int evals;
    for (double t0 = 0.01; t0 < 100; t0 *= 7) {
        double t = t0;
        ol_wolfe p = {.c1 = 1e-4, .c2 = 0.9, .tolerance_change = 1e-9, .max_ls = 25};
        assert_int_equal(ol_strong_wolfe(&f, &p, &x, &t, &d, 0, &g0, -3, &fnew, &gnew, &evals, scratch, &err), 0);
        assert_true(fnew <= 0 + 1e-4 * t * -3);   /* sufficient decrease */
        assert_true(fabs(gnew) <= 0.9 * 3);       /* curvature (strong) */
        assert_true(fabs(fnew - (pow(t, 4) - 3 * t)) < 1e-12);
        assert_true(evals >= 1 && evals <= 25);
    }
    /* the cubic step is exact on a parabola: (x1, f1, g1) = (0, 0, -2) and
     * (3, 3, 4) of f = x^2 - 2x: minimum at 1 */
    assert_true(fabs(ol_cubic_interpolate(0, 0, -2, 3, 3, 4, NULL) - 1) < 1e-14);
}

static void run_method(const char *name, int n, double decades, const double *opts, int nopts,
                       int steps, double tol) {
    ol_error err;
    quad q;
    quad_make(&q, n, decades);
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find(name), OL_F64, n, &err), 0);
    for (int i = 0; i < nopts; i++)
        assert_int_equal(ol_optim_set(&opt, opt.desc->options[(int)opts[2 * i]].name, &opts[2 * i + 1], &err), 0);
    double w[8] = {0}, loss;
    ol_closure f = {.n = n, .fg = quad_fg, .ud = &q};
    for (int s = 0; s < steps; s++) assert_int_equal(ol_optim_closure_step(&opt, w, &f, &loss, &err), 0);
    assert_int_equal(opt.t, steps);
    assert_solution(name, w, n, tol);
    ol_optim_free(&opt);
}

static void test_methods_on_quadratics(void **st) {
    (void)st;
    /* newton (options: 0 damping, 1 lr), damping 0: one step */
    const double newton_o[] = {0, 0};
    run_method("newton", 5, 3, newton_o, 1, 1, 1e-6);
    /* cg (0 max_iter, 1 tol, 2 beta, 3 c1, 4 c2): n iterations with an exact line search */
    const double cg_o[] = {0, 6, 1, 0, 3, 1e-10, 4, 1e-9};
    run_method("cg", 6, 2, cg_o, 4, 1, 1e-6);
    const double cg_fr[] = {0, 6, 1, 0, 2, 1, 3, 1e-10, 4, 1e-9};
    run_method("cg", 6, 2, cg_fr, 5, 1, 1e-6);
    /* lbfgs (6 line_search = strong_wolfe), a few steps of 20 iterations */
    const double lb_o[] = {6, 1};
    run_method("lbfgs", 6, 2, lb_o, 1, 3, 1e-5); /* |g|inf <= 1e-7 stops it */
    /* hessian_free: Hessian products by differences, exact on a quadratic */
    const double hf_o[] = {0, 1e-6};
    run_method("hessian_free", 6, 2, hf_o, 1, 3, 1e-5);
}

static void test_closure_failure_and_limits(void **st) {
    (void)st;
    ol_error err;
    quad q;
    quad_make(&q, 4, 1);
    q.fail_at = 3;
    const char *names[] = {"newton", "cg", "lbfgs", "hessian_free"};
    for (int k = 0; k < 4; k++) {
        ol_optim opt;
        q.evals = 0;
        assert_int_equal(ol_optim_init(&opt, ol_optim_find(names[k]), OL_F64, 4, &err), 0);
        double w[4] = {0}, loss;
        ol_closure f = {.n = 4, .fg = quad_fg, .ud = &q};
        assert_int_equal(ol_optim_closure_step(&opt, w, &f, &loss, &err), -1);
        assert_string_equal(err.msg, "boom");
        assert_int_equal(opt.t, 0);
        /* closure methods refuse a plain gradient step */
        ol_tensor tw, tg;
        assert_int_equal(ol_tensor_zeros(&tw, OL_F64, 1, (int64_t[]){4}, &err), 0);
        assert_int_equal(ol_tensor_zeros(&tg, OL_F64, 1, (int64_t[]){4}, &err), 0);
        assert_int_equal(ol_optim_step(&opt, &tw, &tg, NAN, 0, &err), -1);
        assert_non_null(strstr(err.msg, "needs a closure"));
        ol_tensor_release(&tw);
        ol_tensor_release(&tg);
        ol_optim_reset(&opt);
        assert_null(opt.priv);
        ol_optim_free(&opt);
    }
    /* newton's exact Hessian is for small problems */
    ol_optim opt;
    assert_int_equal(ol_optim_init(&opt, ol_optim_find("newton"), OL_F64, 6000, &err), 0);
    double *w = calloc(6000, sizeof *w), loss;
    ol_closure f = {.n = 6000, .fg = quad_fg, .ud = &q};
    assert_int_equal(ol_optim_closure_step(&opt, w, &f, &loss, &err), -1);
    assert_non_null(strstr(err.msg, "more than 5000"));
    free(w);
    ol_optim_free(&opt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cholesky_damped),
        cmocka_unit_test(test_eigh),
        cmocka_unit_test(test_lanczos),
        cmocka_unit_test(test_strong_wolfe),
        cmocka_unit_test(test_methods_on_quadratics),
        cmocka_unit_test(test_closure_failure_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
