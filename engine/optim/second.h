/* Closure methods: optimizers that evaluate the loss several times per
 * step (line searches) or need curvature (Hessian- or Gauss-Newton-vector
 * products): newton, cg, lbfgs, hessian_free.
 *
 * They share the descriptor of optim.h for everything the user sees (live
 * options with ranges, opt.t, opt:state(), opt:reset(), the registry), but
 * are of kind OL_OPTIM_CLOSURE: instead of a fused kernel they have
 * desc->closure_step, which drives an ol_closure. They compute in double on a double copy of the parameters
 * (the binding converts f32 parameters on the way in and out): the extra
 * memory is O(n) per history vector and these methods are for problems
 * where curvature pays, not for the largest models.
 *
 * The closure is a C callback so that the engine never sees Lua: the
 * binding's callback writes w into the parameters and calls the Lua
 * function. A callback that fails returns -1 (err filled); the method then
 * stops and returns -1 with w at a point the callback has seen. */
#ifndef OL_OPTIM_SECOND_H
#define OL_OPTIM_SECOND_H

#include <stdint.h>

#include "optim/optim.h"

typedef struct ol_closure {
    int64_t n;
    /* loss and gradient (n values) at w. */
    int (*fg)(void *ud, const double *w, double *loss, double *g, ol_error *err);
    /* out = B v at w, B the Hessian (gauss_newton = 0) or the Gauss-Newton
     * matrix (1). NULL: the methods take central differences of fg's
     * gradient (and the Hessian in place of the Gauss-Newton matrix). */
    int (*bv)(void *ud, const double *w, const double *v, double *out, int gauss_newton,
              ol_error *err);
    void *ud;
    /* Relative precision of the closure's arithmetic (FLT_EPSILON for f32
     * parameters), which sets the finite-difference steps; 0: double's. */
    double eps;
} ol_closure;

/* One step of a closure method: w (n doubles, updated in place), the loss
 * at the starting w in *loss. opt->t is incremented; opt->info says what
 * happened (e.g. "damping raised to 1e-2: H + damping*I was not positive
 * definite"). The state tensors (opt:state()) are refreshed from the
 * method's memory. */
int ol_optim_closure_step(ol_optim *opt, double *w, const ol_closure *f, double *loss,
                          ol_error *err);
int ol_optim_is_closure(const ol_optim *opt);

/* ---- shared numerics (engine/optim/second.c) ---- */
double ol_vdot(int64_t n, const double *a, const double *b);
double ol_vmaxabs(int64_t n, const double *a);
/* out = B v by the closure's bv, or by central differences of its gradient:
 * (g(w + h v) - g(w - h v)) / 2h, h = cbrt(eps) * max(1, |w|inf) / |v|inf.
 * work: 3n doubles. */
int ol_closure_bv(const ol_closure *f, const double *w, const double *v, double *out,
                  int gauss_newton, double *work, ol_error *err);
/* The symmetrised Hessian at w into H (n x n, row-major): columns by
 * products with unit vectors when f->bv exists (exact), else by central
 * differences of the gradient with h = cbrt(eps) max(1, |w_i|) per
 * coordinate; then (H + H^T) / 2. work: 4n doubles. */
int ol_closure_hessian(const ol_closure *f, const double *w, double *H, double *work,
                       ol_error *err);
/* phi(t) = f(x + t d): loss and gradient at x + t d (xt: n doubles scratch). */
int ol_closure_at(const ol_closure *f, const double *x, double t, const double *d, double *xt,
                  double *loss, double *g, ol_error *err);

/* Line search for the strong Wolfe conditions (Nocedal & Wright, Alg. 3.5
 * with zoom, Alg. 3.6), with safeguarded cubic interpolation: the rule of
 * torch.optim.lbfgs._strong_wolfe, line for line. From x along d with
 * first trial step *t, loss f0, gradient g0 and gtd = g0.d; on return *t is
 * the step taken, *f_new, g_new (n) the loss and gradient there, *evals the
 * closure calls. Scratch: xt (n), gp, gt (n each). */
typedef struct ol_wolfe {
    double c1, c2, tolerance_change;
    int max_ls;
} ol_wolfe;
int ol_strong_wolfe(const ol_closure *f, const ol_wolfe *p, const double *x, double *t,
                    const double *d, double f0, const double *g0, double gtd, double *f_new,
                    double *g_new, int *evals, double *scratch, ol_error *err);
/* torch.optim.lbfgs._cubic_interpolate; bounds NULL: [min(x1,x2), max(x1,x2)]. */
double ol_cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                            const double *bounds);

/* Copies n doubles into state tensor i of opt (its dtype). */
void ol_optim_export_state(ol_optim *opt, int i, const double *v);

#endif
