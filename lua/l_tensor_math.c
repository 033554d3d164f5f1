/* Tensor arithmetic from Lua: the in-place methods (add_, mul_, addcmul_,
 * clamp_, ...), elementwise functions (abs ... pow), reductions (sum, mean,
 * max, min, argmax, norm, dot), BLAS products (mm, mv) and the arithmetic
 * metamethods (+ - * / and unary -).
 *
 * Rules (README, Tensors): a scalar may stand on either side of an
 * operator; tensor operands broadcast as NumPy does (a row vector {n}
 * stretches over the rows of an {m,n} matrix); in-place ops broadcast the
 * argument onto self and never change self's shape; f32 and f64 never mix.
 * Every condition the engine would reject is checked here first, so that the
 * error can name the argument at fault. Indices returned to Lua (max/min
 * with a dimension, argmax) are 1-based. */
#include <math.h>

#include "l_tensor_priv.h"

/* ---- in-place ---- */

/* t:OP_(number or tensor); self returned. alpha scales a tensor argument
 * (add_/sub_ only; 1 otherwise). */
static int inplace_binary(lua_State *L, ol_binop op, int has_alpha) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    double alpha = has_alpha ? luaL_optnumber(L, 3, 1.0) : 1.0;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        double s = lua_tonumber(L, 2);
        ol_binary_scalar_(op, t, has_alpha ? s * alpha : s);
    } else {
        ol_tensor *u = ol_l_totensor(L, 2);
        if (!u) {
            if (luaL_testudata(L, 2, OL_TENSOR_MT)) ol_l_checktensor(L, 2); /* closed */
            return luaL_typeerror(L, 2, "number or tensor");
        }
        ol_l_checksamedtype(L, t, u, 2);
        ol_l_checkbroadcast_to(L, u, t, 2, NULL);
        int rc = (has_alpha && alpha != 1.0) ? ol_axpy_(t, op == OL_SUB ? -alpha : alpha, u, &e)
                                             : ol_binary_(op, t, u, &e);
        if (rc != 0) ol_l_error(L, 2, &e);
    }
    lua_settop(L, 1);
    return 1;
}

int ol_l_add_(lua_State *L) { return inplace_binary(L, OL_ADD, 1); }
int ol_l_sub_(lua_State *L) { return inplace_binary(L, OL_SUB, 1); }
int ol_l_mul_(lua_State *L) { return inplace_binary(L, OL_MUL, 0); }
int ol_l_div_(lua_State *L) { return inplace_binary(L, OL_DIV, 0); }

/* t += value * a (op) b, with op = * or /. */
static int addc(lua_State *L, ol_binop op) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    ol_tensor *a = ol_l_checktensor(L, 2);
    ol_tensor *b = ol_l_checktensor(L, 3);
    double value = luaL_optnumber(L, 4, 1.0);
    ol_l_checksamedtype(L, t, a, 2);
    ol_l_checksamedtype(L, t, b, 3);
    ol_l_checkbroadcast_to(L, a, t, 2, NULL);
    ol_l_checkbroadcast_to(L, b, t, 3, NULL);
    int rc = op == OL_MUL ? ol_addcmul_(t, a, b, value, &e) : ol_addcdiv_(t, a, b, value, &e);
    if (rc != 0) ol_l_error(L, 2, &e);
    lua_settop(L, 1);
    return 1;
}

int ol_l_addcmul_(lua_State *L) { return addc(L, OL_MUL); }
int ol_l_addcdiv_(lua_State *L) { return addc(L, OL_DIV); }

/* t:clamp_(lo, hi); either bound may be nil (unbounded on that side). */
int ol_l_clamp_(lua_State *L) {
    ol_tensor *t = ol_l_checktensor(L, 1);
    double lo = luaL_optnumber(L, 2, -HUGE_VAL);
    double hi = luaL_optnumber(L, 3, HUGE_VAL);
    if (isnan(lo)) return luaL_argerror(L, 2, "lower bound is NaN");
    if (isnan(hi)) return luaL_argerror(L, 3, "upper bound is NaN");
    if (lo > hi) return ol_arg_error(L, 3, NULL, "upper bound %g is below lower bound %g", hi, lo);
    ol_clamp_(t, lo, hi);
    lua_settop(L, 1);
    return 1;
}

/* ---- elementwise functions: new tensors ---- */

static int unary(lua_State *L, ol_unop op, double p) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    ol_tensor *out = ol_l_newtensor(L);
    ol_l_done(L, ol_unary(op, t, p, out, &e), out, 1, &e);
    return 1;
}

int ol_l_abs(lua_State *L) { return unary(L, OL_ABS, 0); }
int ol_l_sqrt(lua_State *L) { return unary(L, OL_SQRT, 0); }
int ol_l_exp(lua_State *L) { return unary(L, OL_EXP, 0); }
int ol_l_log(lua_State *L) { return unary(L, OL_LOG, 0); }
int ol_l_tanh(lua_State *L) { return unary(L, OL_TANH, 0); }
int ol_l_sigmoid(lua_State *L) { return unary(L, OL_SIGMOID, 0); }
int ol_l_sign(lua_State *L) { return unary(L, OL_SIGN, 0); }

int ol_l_pow(lua_State *L) {
    ol_l_checktensor(L, 1);
    double p = luaL_checknumber(L, 2);
    lua_settop(L, 1);
    return unary(L, OL_POW, p);
}

/* ---- reductions ---- */

/* t:sum() -> number; t:sum(dim) -> tensor with dim removed. */
static int reduce(lua_State *L, ol_redop op) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        double r;
        if (ol_reduce_all(op, t, &r, &e) != 0) ol_l_error(L, 1, &e);
        lua_pushnumber(L, r);
        return 1;
    }
    int d = ol_l_checkdim(L, 2, t);
    ol_tensor *out = ol_l_newtensor(L);
    ol_l_done(L, ol_reduce_dim(op, t, d, out, NULL, &e), out, 1, &e);
    return 1;
}

int ol_l_sum(lua_State *L) { return reduce(L, OL_SUM); }
int ol_l_mean(lua_State *L) { return reduce(L, OL_MEAN); }

/* t:max() -> number; t:max(dim) -> values, indices (1-based, t's dtype). */
static int extreme(lua_State *L, ol_redop op, int want_values) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        if (want_values) {
            double r;
            if (ol_reduce_all(op, t, &r, &e) != 0) ol_l_error(L, 1, &e);
            lua_pushnumber(L, r);
        } else {
            int64_t i;
            if (ol_argmax_all(t, &i, &e) != 0) ol_l_error(L, 1, &e);
            lua_pushinteger(L, (lua_Integer)i + 1);
        }
        return 1;
    }
    int d = ol_l_checkdim(L, 2, t);
    ol_tensor *values = ol_l_newtensor(L);
    ol_tensor *indices = ol_l_newtensor(L);
    if (ol_reduce_dim(op, t, d, values, indices, &e) != 0) ol_l_error(L, 1, &e);
    ol_binary_scalar_(OL_ADD, indices, 1.0); /* 0-based -> 1-based */
    ol_l_account(L, values);
    ol_l_account(L, indices);
    if (!want_values) return 1; /* the indices, on top */
    return 2;
}

int ol_l_max(lua_State *L) { return extreme(L, OL_MAX, 1); }
int ol_l_min(lua_State *L) { return extreme(L, OL_MIN, 1); }
int ol_l_argmax(lua_State *L) { return extreme(L, OL_MAX, 0); }

/* t:norm([p]): the p-norm of all elements, p = 2 by default, math.huge for max-abs. */
int ol_l_norm(lua_State *L) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    double p = luaL_optnumber(L, 2, 2.0);
    if (!(p >= 0)) return ol_arg_error(L, 2, NULL, "norm order must be >= 0, got %g", p);
    double r;
    if (ol_norm(t, p, &r, &e) != 0) ol_l_error(L, 1, &e);
    lua_pushnumber(L, r);
    return 1;
}

/* t:dot(u): sum of t[i]*u[i] over tensors of the same element count. */
int ol_l_dot(lua_State *L) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    ol_tensor *u = ol_l_checktensor(L, 2);
    ol_l_checksamedtype(L, t, u, 2);
    if (ol_tensor_numel(t) != ol_tensor_numel(u)) {
        char a[96], b[96];
        ol_arg_error(L, 2, NULL, "sizes differ: %s and %s", ol_shape_str(t, a, sizeof a), ol_shape_str(u, b, sizeof b));
    }
    double r;
    if (ol_dot(t, u, &r, &e) != 0) ol_l_error(L, 2, &e);
    lua_pushnumber(L, r);
    return 1;
}

/* ---- BLAS ---- */

static void check_ndim(lua_State *L, int arg, const ol_tensor *t, int ndim) {
    if (t->ndim != ndim) {
        char buf[96];
        ol_arg_error(L, arg, NULL, "expected a %d-D tensor, got %d-D (size %s)", ndim, t->ndim,
                       ol_shape_str(t, buf, sizeof buf));
    }
}

/* a x b through BLAS: a is {m,k}, b is {k,n} (mm, gemm) or {k} (mv, gemv). */
typedef int (*product_fn)(const ol_tensor *, const ol_tensor *, ol_tensor *, ol_error *);

static int product(lua_State *L, int b_ndim, product_fn op) {
    ol_error e;
    ol_tensor *a = ol_l_checktensor(L, 1);
    ol_tensor *b = ol_l_checktensor(L, 2);
    check_ndim(L, 1, a, 2);
    check_ndim(L, 2, b, b_ndim);
    ol_l_checksamedtype(L, a, b, 2);
    if (a->shape[1] != b->shape[0]) {
        char sa[96], sb[96];
        ol_arg_error(L, 2, NULL, "inner sizes differ: %s and %s", ol_shape_str(a, sa, sizeof sa),
                       ol_shape_str(b, sb, sizeof sb));
    }
    ol_tensor *out = ol_l_newtensor(L);
    ol_l_done(L, op(a, b, out, &e), out, 2, &e);
    return 1;
}

/* ol.mm(a, b) and a:mm(b): {m,k} x {k,n} -> {m,n}. */
int ol_l_mm(lua_State *L) { return product(L, 2, ol_mm); }

/* a:mv(x): {m,n} x {n} -> {m}. */
int ol_l_mv(lua_State *L) { return product(L, 1, ol_mv); }

/* ---- arithmetic metamethods ---- */

/* Operand idx of a metamethod: a tensor, or NULL for a number. */
static ol_tensor *operand(lua_State *L, int idx, const char *name) {
    if (lua_type(L, idx) == LUA_TNUMBER) return NULL;
    ol_l_tensor *u = (ol_l_tensor *)luaL_testudata(L, idx, OL_TENSOR_MT);
    if (!u) {
        ol_arg_error(L, idx, name, "tensor or number expected, got %s", luaL_typename(L, idx));
        return NULL;
    }
    if (u->closed) ol_arg_error(L, idx, name, "%s", ol_l_tensor_gone(u));
    return &u->t;
}

static int meta_binary(lua_State *L, ol_binop op, const char *name) {
    ol_error e;
    ol_tensor *a = operand(L, 1, name);
    ol_tensor *b = operand(L, 2, name);
    int rc;
    if (a && b) {
        if (a->dtype != b->dtype)
            ol_arg_error(L, 2, name, "dtype mismatch: %s and %s (convert one with :to())",
                            ol_dtype_name(a->dtype), ol_dtype_name(b->dtype));
        ol_l_checkbroadcast(L, a, b, 2, name);
        ol_tensor *out = ol_l_newtensor(L);
        rc = ol_binary(op, a, b, out, &e);
        if (rc == 0) ol_l_account(L, out);
    } else if (a) {
        ol_tensor *out = ol_l_newtensor(L);
        rc = ol_binary_scalar(op, a, lua_tonumber(L, 2), 0, out, &e);
        if (rc == 0) ol_l_account(L, out);
    } else { /* Lua calls a metamethod only when one operand is not a number */
        ol_tensor *out = ol_l_newtensor(L);
        rc = ol_binary_scalar(op, b, lua_tonumber(L, 1), 1, out, &e);
        if (rc == 0) ol_l_account(L, out);
    }
    if (rc != 0) ol_arg_error(L, 1, name, "%s", e.msg);
    return 1;
}

int ol_l_meta_add(lua_State *L) { return meta_binary(L, OL_ADD, "__add"); }
int ol_l_meta_sub(lua_State *L) { return meta_binary(L, OL_SUB, "__sub"); }
int ol_l_meta_mul(lua_State *L) { return meta_binary(L, OL_MUL, "__mul"); }
int ol_l_meta_div(lua_State *L) { return meta_binary(L, OL_DIV, "__div"); }

int ol_l_meta_unm(lua_State *L) {
    ol_error e;
    ol_tensor *a = operand(L, 1, "__unm");
    if (!a) return ol_arg_error(L, 1, "__unm", "tensor expected");
    ol_tensor *out = ol_l_newtensor(L);
    if (ol_unary(OL_NEG, a, 0, out, &e) != 0) ol_arg_error(L, 1, "__unm", "%s", e.msg);
    ol_l_account(L, out);
    return 1;
}
