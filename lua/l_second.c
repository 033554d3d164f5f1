/* Second-order methods and curvature tools on the Lua side.
 *
 *   opt:step(closure)          newton, cg, lbfgs, hessian_free (ol.optim.*):
 *   opt:step(x, target, kind)  on an optimizer built on a model: the closure
 *                              is net:evaluate(x, target, kind) and the
 *                              curvature products are exact (R-operator,
 *                              engine/nn/rop.c) instead of differences
 *   ol.hessian(f, x)  ol.hessian(net, x, target [, kind])
 *   ol.hvp(f, x, v)   ol.hvp(net, x, target, kind, v [, {gauss_newton = false}])
 *   ol.eig(a) -> values (ascending), vectors (columns)   ol.cond(a)
 *   ol.hessian_eigs(net, x, target, kind [, {k = 3, steps, gauss_newton}])
 *   ol.hessian_eigs(f, x [, {k = 3, steps}])  -> values (descending), vectors (k x n)
 *
 * f is a function f(x) -> loss, grad (the ol.fn convention). For plain
 * functions curvature comes from central differences of the gradient; for
 * models it is exact. The engine calls back into Lua through ol_closure
 * (engine/optim/second.h); the callbacks use lua_pcall so that a Lua error
 * unwinds through no engine frame: it is kept, the engine returns -1, and
 * the error is raised again here. Buffers are Lua userdata, so an error
 * anywhere leaks nothing. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "l_common.h"
#include "linalg.h"
#include "nn/nn.h"
#include "optim/second.h"

/* ---- callbacks ---- */

typedef struct batch {
    const double *x, *dense;
    const int32_t *ids;
    int64_t n;
    ol_loss_kind kind;
} batch;

typedef struct cb {
    lua_State *L;
    ol_tensor *w;   /* where the closure reads the parameters */
    int fn;         /* stack index of the closure */
    int pass_w;     /* call fn(w) rather than fn() */
    int errslot;    /* stack index that receives a Lua error */
    int failed;
    const char *what;
    ol_model *model; /* exact products when not NULL */
    batch b;
} cb;

static void write_w(ol_tensor *t, const double *w) {
    const int64_t n = ol_tensor_numel(t);
    if (t->dtype == OL_F64) {
        memcpy(ol_tensor_data(t), w, (size_t)n * sizeof *w);
    } else {
        float *p = ol_tensor_data(t);
        for (int64_t i = 0; i < n; i++) p[i] = (float)w[i];
    }
}

/* n values of any tensor as doubles. */
static void read_vec(const ol_tensor *t, double *out) {
    const int64_t n = ol_tensor_numel(t);
    if (ol_tensor_is_contiguous(t)) {
        if (t->dtype == OL_F64) memcpy(out, ol_tensor_data(t), (size_t)n * sizeof *out);
        else
            for (int64_t i = 0; i < n; i++) out[i] = ((const float *)ol_tensor_data(t))[i];
        return;
    }
    int64_t idx[OL_MAXDIM] = {0};
    for (int64_t k = 0; k < n; k++) {
        out[k] = ol_tensor_get(t, idx);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

static int cb_fail(cb *c, ol_error *err) {
    lua_replace(c->L, c->errslot); /* the error object */
    c->failed = 1;
    return ol_fail(err, "the closure raised an error");
}

static int cb_fg(void *ud, const double *w, double *loss, double *g, ol_error *err) {
    cb *c = ud;
    lua_State *L = c->L;
    write_w(c->w, w);
    lua_pushvalue(L, c->fn);
    if (c->pass_w) lua_pushvalue(L, c->errslot + 1); /* the w tensor's userdata */
    if (lua_pcall(L, c->pass_w, 2, 0) != LUA_OK) return cb_fail(c, err);
    const ol_tensor *gt = ol_l_totensor(L, -1);
    if (lua_type(L, -2) != LUA_TNUMBER || !gt) {
        lua_pushfstring(L, "%s must return loss (a number), grad (a tensor); got %s, %s", c->what,
                        luaL_typename(L, -2), luaL_typename(L, -1));
        return cb_fail(c, err);
    }
    if (ol_tensor_numel(gt) != ol_tensor_numel(c->w)) {
        lua_pushfstring(L, "%s returned a gradient of %I elements for %I parameters", c->what,
                        (lua_Integer)ol_tensor_numel(gt), (lua_Integer)ol_tensor_numel(c->w));
        return cb_fail(c, err);
    }
    *loss = lua_tonumber(L, -2);
    read_vec(gt, g);
    lua_pop(L, 2);
    return 0;
}

static int cb_bv(void *ud, const double *w, const double *v, double *out, int gn, ol_error *err) {
    cb *c = ud;
    write_w(c->w, w);
    return ol_model_curvature(c->model, c->b.x, c->b.n, c->b.kind, c->b.ids, c->b.dense, v, out, gn,
                              NULL, NULL, err);
}

/* Raises the kept Lua error, or the engine's message for argument arg. */
static int raise(lua_State *L, const cb *c, int arg, const ol_error *err) {
    if (c->failed) {
        lua_pushvalue(L, c->errslot);
        return lua_error(L);
    }
    return ol_l_error(L, arg, err);
}

static double *new_doubles(lua_State *L, int64_t n) {
    return lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(double), 0);
}

/* ---- batches for models ---- */

/* Rewrites net:loss's "bad argument #k to '?' (...)" (on top of the stack)
 * for the caller: its name, and k - shift (methods count from self). */
static void rename_error(lua_State *L, const char *fname, int shift) {
    const char *msg = lua_tostring(L, -1), *p = strstr(msg, "bad argument #");
    char *end;
    long k = p ? strtol(p + 14, &end, 10) : 0;
    if (!p || strncmp(end, " to '?'", 7) != 0) return;
    lua_pushfstring(L, "bad argument #%d to '%s'%s", (int)(k - shift), fname, end + 7);
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
}

/* Calls net:loss(x, target, kind) (the model's own argument checks and
 * errors), then reads x and the target into doubles left on the stack. */
static batch get_batch(lua_State *L, int net, int xi, int ti, int ki, const char *fname) {
    ol_model *m = ol_l_tomodel(L, net);
    batch b = {0};
    lua_getfield(L, net, "loss");
    lua_pushvalue(L, net);
    lua_pushvalue(L, xi);
    lua_pushvalue(L, ti);
    lua_pushvalue(L, ki);
    if (lua_pcall(L, 4, 1, 0) != LUA_OK) {
        /* The checks are net:loss's, and its argument numbers are ours
         * (x #2, target #3, kind #4); only the function name differs. */
        if (lua_type(L, -1) == LUA_TSTRING) rename_error(L, fname, strcmp(fname, "step") == 0);
        lua_error(L);
    }
    lua_pop(L, 1);
    const char *kname = luaL_optstring(L, ki, "cross_entropy");
    ol_loss_parse(kname, &b.kind);
    const ol_tensor *x = ol_l_checktensor(L, xi);
    const int64_t in = ol_model_in_features(m), c = ol_model_out_features(m);
    b.n = ol_tensor_numel(x) / in;
    double *xd = new_doubles(L, b.n * in);
    read_vec(x, xd);
    b.x = xd;
    if (lua_istable(L, ti)) {
        int32_t *ids = lua_newuserdatauv(L, (size_t)b.n * sizeof *ids, 0);
        for (int64_t r = 0; r < b.n; r++) {
            lua_geti(L, ti, r + 1);
            ids[r] = (int32_t)lua_tonumber(L, -1) - 1;
            lua_pop(L, 1);
        }
        b.ids = ids;
        return b;
    }
    const ol_tensor *y = ol_l_checktensor(L, ti);
    /* The rule of net:loss (l_nn.c): class ids or a dense target. */
    int ids_shape = y->ndim == 1 ? y->shape[0] == b.n
                                 : (y->ndim == 2 && y->shape[0] == b.n && y->shape[1] == 1 && c > 1);
    double *yd = new_doubles(L, ol_tensor_numel(y));
    read_vec(y, yd);
    if (b.kind == OL_LOSS_CROSS_ENTROPY && ids_shape && !(c == 1 && y->ndim == 2)) {
        int32_t *ids = lua_newuserdatauv(L, (size_t)b.n * sizeof *ids, 0);
        for (int64_t r = 0; r < b.n; r++) ids[r] = (int32_t)yd[r] - 1;
        b.ids = ids;
    } else {
        b.dense = yd;
    }
    return b;
}

/* ---- the optimizers' step (called by l_optim.c) ---- */

static int evaluate_closure(lua_State *L) {
    /* upvalues: net, x, target, kind */
    lua_getfield(L, lua_upvalueindex(1), "evaluate");
    for (int i = 1; i <= 4; i++) lua_pushvalue(L, lua_upvalueindex(i));
    lua_call(L, 4, 2);
    return 2;
}

int ol_l_second_step(lua_State *L, ol_optim *opt, int self, int params, int model) {
    ol_error err;
    ol_tensor *w = ol_l_totensor(L, params);
    cb c = {.L = L, .w = w, .what = "closure"};
    int exact = 0;
    if (lua_isfunction(L, 2)) {
        c.fn = 2;
    } else if (model && ol_l_tomodel(L, model) && ol_l_totensor(L, 2)) {
        /* opt:step(x, target [, kind]) */
        c.model = ol_l_tomodel(L, model);
        c.b = get_batch(L, model, 2, 3, 4, "step");
        lua_pushvalue(L, model);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, 3);
        lua_pushvalue(L, 4);
        lua_pushcclosure(L, evaluate_closure, 4);
        c.fn = lua_gettop(L);
        c.what = "net:evaluate";
        exact = 1;
    } else {
        return luaL_argerror(L, 2, model ? "closure or (x, target [, kind]) expected"
                                         : "closure expected (this optimizer evaluates the loss several times per step)");
    }
    (void)self;
    lua_pushnil(L);
    c.errslot = lua_gettop(L);
    double *wd = new_doubles(L, opt->n);
    read_vec(w, wd);
    ol_closure f = {.n = opt->n, .fg = cb_fg, .bv = exact ? cb_bv : NULL, .ud = &c,
                     .eps = w->dtype == OL_F32 ? FLT_EPSILON : DBL_EPSILON};
    double loss = NAN;
    int rc = ol_optim_closure_step(opt, wd, &f, &loss, &err);
    write_w(w, wd); /* also after a failure: a point the closure has seen */
    if (rc) return raise(L, &c, 2, &err);
    lua_pushnumber(L, loss);
    return 1;
}

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
    luaL_typeerror(L, i, "function f(x) -> loss, grad, or a model");
}

/* Sets up c for a plain function at 1 and x at 2: pushes errslot and the
 * working copy of x right after it. */
static void setup_fn(lua_State *L, cb *c, int fn, int xi) {
    check_callable(L, fn);
    c->L = L;
    c->fn = fn;
    c->pass_w = 1;
    c->what = "f";
    lua_pushnil(L);
    c->errslot = lua_gettop(L);
    c->w = work_copy(L, xi); /* at errslot + 1 */
}

/* Sets up c for a model at 1 with x, target, kind at 2, 3, 4: parameters
 * are the model's own (restored afterwards by the callers). */
static void setup_model(lua_State *L, cb *c, const char *fname) {
    c->L = L;
    c->model = ol_l_tomodel(L, 1);
    c->b = get_batch(L, 1, 2, 3, 4, fname);
    lua_getfield(L, 1, "params");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    c->w = ol_l_totensor(L, -1);
    lua_pushnil(L);
    c->errslot = lua_gettop(L);
}

static void push_matrix(lua_State *L, const double *a, int64_t r, int64_t cols, int ndim, ol_dtype dt) {
    ol_error err;
    ol_tensor t;
    int64_t shape[2] = {r, cols};
    if (ndim == 1) shape[0] = r * cols;
    if (ol_tensor_empty(&t, dt, ndim, shape, &err)) ol_l_error(L, 0, &err);
    write_w(&t, a);
    ol_l_pushtensor(L, &t, 1);
}

#define HESSIAN_MAX 5000

/* ol.hessian(f, x) / ol.hessian(net, x, target [, kind]) -> n x n */
static int l_hessian(lua_State *L) {
    ol_error err;
    cb c = {0};
    int64_t n;
    ol_dtype dt;
    double *w;
    if (ol_l_tomodel(L, 1)) {
        lua_settop(L, 4);
        setup_model(L, &c, "hessian");
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
        return luaL_argerror(L, 2, lua_pushfstring(L, "%I parameters: the full Hessian is limited to %d "
                                                   "(use ol.hvp or ol.hessian_eigs)", (lua_Integer)n, HESSIAN_MAX));
    w = new_doubles(L, n);
    read_vec(c.w, w);
    double *H = new_doubles(L, n * n), *work = new_doubles(L, 4 * n);
    ol_closure f = {.n = n, .fg = cb_fg, .bv = c.model ? cb_bv : NULL, .ud = &c,
                    .eps = c.w->dtype == OL_F32 ? FLT_EPSILON : DBL_EPSILON};
    int rc = ol_closure_hessian(&f, w, H, work, &err);
    write_w(c.w, w);
    if (rc) return raise(L, &c, 1, &err);
    push_matrix(L, H, n, n, 2, dt);
    return 1;
}

static void check_vector(lua_State *L, int vi, const ol_tensor *like, int64_t n) {
    const ol_tensor *v = ol_l_checktensor(L, vi);
    ol_l_checksamedtype(L, like, v, vi);
    if (ol_tensor_numel(v) != n)
        luaL_argerror(L, vi, lua_pushfstring(L, "v has %I elements, the parameters %I",
                                             (lua_Integer)ol_tensor_numel(v), (lua_Integer)n));
}

static int opt_bool(lua_State *L, int t, const char *key, int def) {
    if (lua_isnoneornil(L, t)) return def;
    luaL_checktype(L, t, LUA_TTABLE);
    lua_getfield(L, t, key);
    int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static lua_Integer opt_int(lua_State *L, int t, const char *key, lua_Integer def) {
    if (lua_isnoneornil(L, t)) return def;
    luaL_checktype(L, t, LUA_TTABLE);
    lua_getfield(L, t, key);
    lua_Integer v = def;
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1))
            luaL_argerror(L, t, lua_pushfstring(L, "option '%s' must be an integer", key));
        v = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* ol.hvp(f, x, v) / ol.hvp(net, x, target, kind, v [, {gauss_newton}]) */
static int l_hvp(lua_State *L) {
    ol_error err;
    cb c = {0};
    int gn = 0, vi;
    if (ol_l_tomodel(L, 1)) {
        lua_settop(L, 6);
        vi = 5;
        gn = opt_bool(L, 6, "gauss_newton", 0);
        setup_model(L, &c, "hvp");
    } else {
        lua_settop(L, 3);
        ol_l_checktensor(L, 2);
        vi = 3;
        setup_fn(L, &c, 1, 2);
    }
    const int64_t n = ol_tensor_numel(c.w);
    check_vector(L, vi, c.w, n);
    double *w = new_doubles(L, n), *v = new_doubles(L, n), *out = new_doubles(L, n);
    double *work = new_doubles(L, 3 * n);
    read_vec(c.w, w);
    read_vec(ol_l_totensor(L, vi), v);
    ol_closure f = {.n = n, .fg = cb_fg, .bv = c.model ? cb_bv : NULL, .ud = &c,
                    .eps = c.w->dtype == OL_F32 ? FLT_EPSILON : DBL_EPSILON};
    int rc = ol_closure_bv(&f, w, v, out, gn, work, &err);
    write_w(c.w, w);
    if (rc) return raise(L, &c, 1, &err);
    const ol_tensor *x = c.model ? c.w : ol_l_totensor(L, 2);
    ol_tensor t;
    if (ol_tensor_empty(&t, c.w->dtype, x->ndim, x->shape, &err)) ol_l_error(L, 0, &err);
    write_w(&t, out);
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

/* ol.hessian_eigs(net, x, target, kind [, opts]) / (f, x [, opts])
 * -> values {k} (descending, f64), vectors {k, n} (f64) */
static int l_hessian_eigs(lua_State *L) {
    ol_error err;
    cb c = {0};
    int oi;
    if (ol_l_tomodel(L, 1)) {
        lua_settop(L, 5);
        oi = 5;
    } else {
        lua_settop(L, 3);
        ol_l_checktensor(L, 2);
        oi = 3;
    }
    lua_Integer k = opt_int(L, oi, "k", 3), steps = opt_int(L, oi, "steps", 0);
    int gn = opt_bool(L, oi, "gauss_newton", 0);
    if (oi == 5) setup_model(L, &c, "hessian_eigs");
    else setup_fn(L, &c, 1, 2);
    const int64_t n = ol_tensor_numel(c.w);
    if (k < 1 || k > n)
        return luaL_argerror(L, oi, lua_pushfstring(L, "k must be in 1..%I, got %I", (lua_Integer)n, k));
    if (steps == 0) steps = 2 * k + 20 > 40 ? 2 * k + 20 : 40;
    if (steps < k) return luaL_argerror(L, oi, "steps must be >= k");
    if (steps > n) steps = n;
    double *w = new_doubles(L, n), *vals = new_doubles(L, k), *vecs = new_doubles(L, k * n);
    double *work = new_doubles(L, 3 * n);
    read_vec(c.w, w);
    ol_closure f = {.n = n, .fg = cb_fg, .bv = c.model ? cb_bv : NULL, .ud = &c,
                    .eps = c.w->dtype == OL_F32 ? FLT_EPSILON : DBL_EPSILON};
    lz z = {.f = &f, .w = w, .work = work, .gn = gn};
    int rc = ol_lanczos(n, lz_av, &z, (int)k, (int)steps, NULL, vals, vecs, &err);
    write_w(c.w, w);
    if (rc) return raise(L, &c, 1, &err);
    push_matrix(L, vals, k, 1, 1, OL_F64);
    push_matrix(L, vecs, k, n, 2, OL_F64);
    return 2;
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
    {"hessian_eigs", l_hessian_eigs}, {NULL, NULL},
};

void ol_open_second(lua_State *L) { luaL_setfuncs(L, funcs, 0); }
