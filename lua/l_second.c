/* Curvature tools on the Lua side.
 *
 *   ol.hessian(f, x)  ol.hessian(net, x, target [, kind [, loss_options]])
 *   ol.hvp(f, x, v)   ol.hvp(net, x, target, kind, v [, {gauss_newton = false, loss_options}])
 *   ol.eig(a) -> values (ascending), vectors (columns)   ol.cond(a)
 *   ol.hessian_eigs(net, x, target, kind [, {k = 3, steps, gauss_newton, loss_options}])
 *   ol.hessian_eigs(f, x [, {k = 3, steps}])  -> values (descending), vectors (k x n)
 *   ol._hessian_lanczos(net, x, target, kind, opts) / (f, x, opts): the engine
 *     of ol.spectrum (lua/optlua/spectrum.lua), which checks the user's
 *     options; opts = {fname, steps, start, k_lo, k_hi, gauss_newton,
 *     loss_options} -> {nodes, weights, steps, bottom_vectors, top_vectors}
 *
 * Eigenvalues of a plain function's curvature are refused when its
 * difference operator is not symmetric (ol_op_asymmetry above SYM_TOL_F64
 * for f64 x, SYM_TOL_F32 for f32: the gradient is then not the gradient of
 * one function, or it is too noisy for differences); a model's exact
 * products are symmetric by construction and are not checked.
 *
 * f is a function f(x) -> loss, grad (the ol.fn convention). For plain
 * functions curvature comes from central differences of the gradient; for
 * models it is exact (R-operator, engine/nn/rop.c). The engine calls back
 * into Lua through ol_closure (engine/optim/second.h) with the kit's
 * callbacks (l_closure.c), which keep a Lua error and raise it again here.
 * The closure methods' opt:step is the optimizer binding's (l_optim.c). */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "l_common.h"
#include "linalg/linalg.h"
#include "nn/nn.h"
#include "optim/second.h"

/* ---- curvature tools ---- */

/* For f(x) tools: w = a copy of x the function sees (stack top). */
static ol_tensor *work_copy(lua_State *L, int xi) {
    ol_error err;
    ol_tensor c;
    if (ol_tensor_clone(ol_l_checktensor(L, xi), &c, &err)) ol_l_error(L, xi, &err);
    return ol_l_pushtensor(L, &c, 1);
}

static void check_callable(lua_State *L, int i) {
    if (lua_isfunction(L, i)) return;
    if (luaL_getmetafield(L, i, "__call") != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    ol_arg_expected(L, i, NULL, "function f(x) -> loss, grad, or a model");
}

/* Sets up c for a plain function at 1 and x at 2: pushes errslot and the
 * working copy of x right after it. */
static void setup_fn(lua_State *L, ol_l_cb *c, int fn, int xi) {
    check_callable(L, fn);
    c->L = L;
    c->fn = fn;
    c->pass_w = 1;
    c->what = "f";
    lua_pushnil(L);
    c->errslot = lua_gettop(L);
    c->w = work_copy(L, xi); /* at errslot + 1 */
    const int held[] = {c->errslot + 1}; /* f(w) cannot free w (l_common.h) */
    ol_l_hold(L, held, 1);
}

/* Sets up c for a model at 1 with x, target, kind at 2, 3, 4 and the
 * loss's options at stack index lo (0: none; errors blame argument
 * lo_arg): parameters are the model's own (restored afterwards by the
 * callers). */
static void setup_model(lua_State *L, ol_l_cb *c, const char *fname, int lo, int lo_arg) {
    c->L = L;
    c->model = ol_l_tomodel(L, 1);
    c->b = ol_l_get_batch(L, 1, 2, 3, 4, fname);
    if (lo) /* the weights, if any, stay on the stack for the call */
        c->b.loss = ol_l_loss_options(L, lo, lo_arg, fname, c->b.loss.kind,
                                      ol_model_out_features(c->model));
    lua_getfield(L, 1, "params");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    c->w = ol_l_totensor(L, -1);
    lua_pushnil(L);
    c->errslot = lua_gettop(L);
    /* net:evaluate, which may be Lua, cannot free the model or its params
     * (l_common.h). */
    const int held[] = {1, c->errslot - 1};
    ol_l_hold(L, held, 2);
}

static void push_matrix(lua_State *L, const double *a, int64_t r, int64_t cols, int ndim, ol_dtype dt) {
    ol_error err;
    ol_tensor t;
    int64_t shape[2] = {r, cols};
    if (ndim == 1) shape[0] = r * cols;
    if (ol_tensor_empty(&t, dt, ndim, shape, &err)) ol_l_error(L, 0, &err);
    ol_l_write_vec(&t, a);
    ol_l_pushtensor(L, &t, 1);
}

#define HESSIAN_MAX 5000

/* ol.hessian(f, x) / ol.hessian(net, x, target [, kind [, loss_options]]) -> n x n */
static int l_hessian(lua_State *L) {
    ol_error err;
    ol_l_cb c = {0};
    int64_t n;
    ol_dtype dt;
    double *w;
    if (ol_l_tomodel(L, 1)) {
        lua_settop(L, 5);
        setup_model(L, &c, "hessian", 5, 5);
        c.what = "model";
        n = ol_tensor_numel(c.w);
        dt = c.w->dtype;
    } else {
        lua_settop(L, 2);
        ol_l_checktensor(L, 2);
        setup_fn(L, &c, 1, 2);
        n = ol_tensor_numel(c.w);
        dt = c.w->dtype;
    }
    if (n > HESSIAN_MAX)
        return ol_arg_error(L, 2, "hessian", "%lld parameters: the full Hessian is limited to %d "
                                             "(use ol.hvp or ol.hessian_eigs)", (long long)n, HESSIAN_MAX);
    w = ol_l_new_doubles(L, n);
    ol_l_read_vec(c.w, w);
    double *H = ol_l_new_doubles(L, n * n), *work = ol_l_new_doubles(L, 4 * n);
    ol_closure f = {.n = n, .fg = ol_l_cb_fg, .bv = c.model ? ol_l_cb_bv : NULL, .ud = &c,
                    .eps = c.w->dtype == OL_F32 ? FLT_EPSILON : DBL_EPSILON};
    int rc = ol_closure_hessian(&f, w, H, work, &err);
    ol_l_write_vec(c.w, w);
    if (rc) return ol_l_cb_raise(L, &c, 1, &err);
    push_matrix(L, H, n, n, 2, dt);
    return 1;
}

static void check_vector(lua_State *L, int vi, const ol_tensor *like, int64_t n) {
    const ol_tensor *v = ol_l_checktensor(L, vi);
    ol_l_checksamedtype(L, like, v, vi);
    if (ol_tensor_numel(v) != n)
        ol_arg_error(L, vi, "hvp", "v has %lld elements, the parameters %lld", (long long)ol_tensor_numel(v),
                     (long long)n);
}

/* The gauss_newton option of the options table o: a model's exact
 * Gauss-Newton products; a plain function has only its Hessian (by
 * differences of its gradient), so there the option is an error rather than
 * a request ignored. */
static int opt_gauss_newton(ol_opts *o, int model) {
    if (model) return ol_opt_bool(o, "gauss_newton", 0);
    if (ol_opt_push(o, "gauss_newton"))
        ol_opt_error(o, "option 'gauss_newton' needs a model (a function's curvature is its Hessian)");
    lua_pop(o->L, 1);
    return 0;
}

/* ol.hvp(f, x, v) / ol.hvp(net, x, target, kind, v [, {gauss_newton, loss_options}]) */
static int l_hvp(lua_State *L) {
    ol_error err;
    ol_l_cb c = {0};
    int gn = 0, vi;
    if (ol_l_tomodel(L, 1)) {
        lua_settop(L, 6);
        vi = 5;
        ol_opts o;
        ol_opts_begin(L, &o, 6, "hvp", 0);
        gn = opt_gauss_newton(&o, 1);
        ol_opt_table(&o, "loss_options"); /* 7 */
        ol_opts_end(&o);
        setup_model(L, &c, "hvp", 7, 6);
    } else {
        lua_settop(L, 3);
        ol_l_checktensor(L, 2);
        vi = 3;
        setup_fn(L, &c, 1, 2);
    }
    const int64_t n = ol_tensor_numel(c.w);
    check_vector(L, vi, c.w, n);
    double *w = ol_l_new_doubles(L, n), *v = ol_l_new_doubles(L, n), *out = ol_l_new_doubles(L, n);
    double *work = ol_l_new_doubles(L, 3 * n);
    ol_l_read_vec(c.w, w);
    ol_l_read_vec(ol_l_totensor(L, vi), v);
    ol_closure f = {.n = n, .fg = ol_l_cb_fg, .bv = c.model ? ol_l_cb_bv : NULL, .ud = &c,
                    .eps = c.w->dtype == OL_F32 ? FLT_EPSILON : DBL_EPSILON};
    int rc = ol_closure_bv(&f, w, v, out, gn, work, &err);
    ol_l_write_vec(c.w, w);
    if (rc) return ol_l_cb_raise(L, &c, 1, &err);
    const ol_tensor *x = c.model ? c.w : ol_l_totensor(L, 2);
    ol_tensor t;
    if (ol_tensor_empty(&t, c.w->dtype, x->ndim, x->shape, &err)) ol_l_error(L, 0, &err);
    ol_l_write_vec(&t, out);
    ol_l_pushtensor(L, &t, 1);
    return 1;
}

typedef struct lz {
    ol_closure *f;
    const double *w;
    double *work;
    int gn;
} lz;

static int lz_av(void *ud, const double *v, double *out, ol_error *err) {
    lz *z = ud;
    return ol_closure_bv(z->f, z->w, v, out, z->gn, z->work, err);
}

/* The asymmetry a symmetric operator's central differences stay within:
 * their error is of the order of eps^(2/3) relative (h = cbrt(eps)). */
#define SYM_TOL_F64 1e-6
#define SYM_TOL_F32 1e-2

/* Refuses a plain function whose difference operator is not symmetric. */
static void check_symmetric(lua_State *L, ol_l_cb *c, lz *z, const char *fname) {
    ol_error err;
    double asym, tol = c->w->dtype == OL_F32 ? SYM_TOL_F32 : SYM_TOL_F64;
    if (ol_op_asymmetry(z->f->n, lz_av, z, &asym, &err)) {
        ol_l_write_vec(c->w, z->w);
        ol_l_cb_raise(L, c, 1, &err);
    }
    if (asym > tol)
        ol_arg_error(L, 1, fname, "eigenvalues asked of a non-symmetric operator: the differences of f's "
                                  "gradient give |u'Av - v'Au| / (|u||Av| + |v||Au|) = %.3g > %g "
                                  "(is grad the gradient of loss?)", asym, tol);
}

/* ol.hessian_eigs(net, x, target, kind [, opts]) / (f, x [, opts])
 * -> values {k} (descending, f64), vectors {k, n} (f64) */
static int l_hessian_eigs(lua_State *L) {
    ol_error err;
    ol_l_cb c = {0};
    int oi;
    if (ol_l_tomodel(L, 1)) {
        lua_settop(L, 5);
        oi = 5;
    } else {
        lua_settop(L, 3);
        ol_l_checktensor(L, 2);
        oi = 3;
    }
    ol_opts o;
    ol_opts_begin(L, &o, oi, "hessian_eigs", 0);
    lua_Integer k = ol_opt_integer(&o, "k", 3, 1, LUA_MAXINTEGER);
    lua_Integer steps = ol_opt_integer(&o, "steps", 0, 0, LUA_MAXINTEGER); /* 0: from k */
    int gn = opt_gauss_newton(&o, oi == 5);
    if (oi == 5) ol_opt_table(&o, "loss_options"); /* 6 */
    ol_opts_end(&o);
    if (oi == 5) setup_model(L, &c, "hessian_eigs", 6, 5);
    else setup_fn(L, &c, 1, 2);
    const int64_t n = ol_tensor_numel(c.w);
    if (k > n) return ol_opt_error(&o, "option 'k' must be in 1..%lld, got %lld", (long long)n, (long long)k);
    if (steps == 0) steps = 2 * k + 20 > 40 ? 2 * k + 20 : 40;
    if (steps < k)
        return ol_opt_error(&o, "option 'steps' must be >= k (%lld), got %lld", (long long)k, (long long)steps);
    if (steps > n) steps = n;
    double *w = ol_l_new_doubles(L, n), *vals = ol_l_new_doubles(L, k), *vecs = ol_l_new_doubles(L, k * n);
    double *work = ol_l_new_doubles(L, 3 * n);
    ol_l_read_vec(c.w, w);
    ol_closure f = {.n = n, .fg = ol_l_cb_fg, .bv = c.model ? ol_l_cb_bv : NULL, .ud = &c,
                    .eps = c.w->dtype == OL_F32 ? FLT_EPSILON : DBL_EPSILON};
    lz z = {.f = &f, .w = w, .work = work, .gn = gn};
    if (!c.model) check_symmetric(L, &c, &z, "hessian_eigs");
    int rc = ol_lanczos(n, lz_av, &z, (int)k, (int)steps, NULL, vals, vecs, &err);
    ol_l_write_vec(c.w, w);
    if (rc) return ol_l_cb_raise(L, &c, 1, &err);
    push_matrix(L, vals, k, 1, 1, OL_F64);
    push_matrix(L, vecs, k, n, 2, OL_F64);
    return 2;
}

static void push_list(lua_State *L, const double *a, int n) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, a[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* ol._hessian_lanczos(net, x, target, kind, opts) / (f, x, opts) */
static int l_hessian_lanczos(lua_State *L) {
    ol_error err;
    ol_l_cb c = {0};
    const int model = ol_l_tomodel(L, 1) != NULL;
    const int oi = model ? 5 : 3;
    lua_settop(L, oi);
    if (!model) ol_l_checktensor(L, 2);
    luaL_checktype(L, oi, LUA_TTABLE);
    lua_getfield(L, oi, "fname");
    const char *fname = lua_tostring(L, -1) ? lua_tostring(L, -1) : "_hessian_lanczos";
    lua_pop(L, 1); /* the string stays alive in the options table */
    ol_opts o;
    ol_opts_begin(L, &o, oi, fname, OL_OPTS_REQUIRED);
    ol_opt_string(&o, "fname", NULL);
    lua_Integer steps = ol_opt_integer(&o, "steps", 0, 1, INT_MAX);
    ol_opt_require(&o, "steps");
    lua_Integer k_lo = ol_opt_integer(&o, "k_lo", 0, 0, INT_MAX);
    lua_Integer k_hi = ol_opt_integer(&o, "k_hi", 0, 0, INT_MAX);
    const ol_tensor *start = ol_opt_tensor(&o, "start");
    int gn = opt_gauss_newton(&o, model);
    if (model) ol_opt_table(&o, "loss_options"); /* oi + 1 */
    ol_opts_end(&o);
    if (model) setup_model(L, &c, fname, oi + 1, oi);
    else setup_fn(L, &c, 1, 2);
    const int64_t n = ol_tensor_numel(c.w);
    if (steps > n || k_lo > steps || k_hi > steps)
        return ol_opt_error(&o, "steps must be in 1..%lld (the parameters) and k <= steps, got steps %lld, "
                                "k %lld / %lld", (long long)n, (long long)steps, (long long)k_lo, (long long)k_hi);
    double *v0 = NULL;
    if (start) {
        if (ol_tensor_numel(start) != n)
            return ol_opt_error(&o, "option 'start' has %lld elements, the parameters %lld",
                                (long long)ol_tensor_numel(start), (long long)n);
        v0 = ol_l_new_doubles(L, n);
        ol_l_read_vec(start, v0);
    }
    double *w = ol_l_new_doubles(L, n), *theta = ol_l_new_doubles(L, steps), *tau = ol_l_new_doubles(L, steps);
    double *lo = k_lo ? ol_l_new_doubles(L, k_lo * n) : NULL, *hi = k_hi ? ol_l_new_doubles(L, k_hi * n) : NULL;
    double *work = ol_l_new_doubles(L, 3 * n);
    ol_l_read_vec(c.w, w);
    ol_closure f = {.n = n, .fg = ol_l_cb_fg, .bv = model ? ol_l_cb_bv : NULL, .ud = &c,
                    .eps = c.w->dtype == OL_F32 ? FLT_EPSILON : DBL_EPSILON};
    lz z = {.f = &f, .w = w, .work = work, .gn = gn};
    if (!model) check_symmetric(L, &c, &z, fname);
    int taken = 0;
    int rc = ol_lanczos_ritz(n, lz_av, &z, (int)steps, v0, theta, tau, (int)k_lo, lo, (int)k_hi, hi, &taken, &err);
    ol_l_write_vec(c.w, w);
    if (rc) return ol_l_cb_raise(L, &c, 1, &err);
    lua_createtable(L, 0, 5);
    push_list(L, theta, taken);
    lua_setfield(L, -2, "nodes");
    push_list(L, tau, taken);
    lua_setfield(L, -2, "weights");
    lua_pushinteger(L, taken);
    lua_setfield(L, -2, "steps");
    if (lo) {
        push_matrix(L, lo, k_lo, n, 2, OL_F64);
        lua_setfield(L, -2, "bottom_vectors");
    }
    if (hi) {
        push_matrix(L, hi, k_hi, n, 2, OL_F64);
        lua_setfield(L, -2, "top_vectors");
    }
    return 1;
}

/* ol.eig(a [, tol]) -> values (ascending), vectors (as columns) */
static int l_eig(lua_State *L) {
    ol_error err;
    const ol_tensor *a = ol_l_checktensor(L, 1);
    double tol = luaL_optnumber(L, 2, -1);
    ol_tensor vals, vecs;
    if (ol_eigh(a, tol, &vals, &vecs, &err)) return ol_l_error(L, 1, &err);
    ol_l_pushtensor(L, &vals, 1);
    ol_l_pushtensor(L, &vecs, 1);
    return 2;
}

/* ol.cond(a [, tol]) -> max|lambda| / min|lambda| of a symmetric matrix */
static int l_cond(lua_State *L) {
    ol_error err;
    const ol_tensor *a = ol_l_checktensor(L, 1);
    double tol = luaL_optnumber(L, 2, -1), cond;
    if (ol_cond_sym(a, tol, &cond, &err)) return ol_l_error(L, 1, &err);
    lua_pushnumber(L, cond);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"hessian", l_hessian}, {"hvp", l_hvp}, {"eig", l_eig}, {"cond", l_cond},
    {"hessian_eigs", l_hessian_eigs}, {"_hessian_lanczos", l_hessian_lanczos}, {NULL, NULL},
};

void ol_open_second(lua_State *L) { luaL_setfuncs(L, funcs, 0); }
