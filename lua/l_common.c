/* The kit's implementation beside the argument readers (l_args.c): the
 * tensor userdata and its argument helpers, and the converter between an
 * optimizer option's values and its Lua value (l_common.h).
 *
 * Memory visible to the collector: tensor storage is malloc'd by the engine,
 * outside Lua's heap, so a loop that makes temporaries would look tiny to
 * the collector and never trigger a cycle (the Torch7 problem, torch7 issue
 * 229). Every fresh storage is therefore reported with
 * lua_gc(L, LUA_GCSTEP, kbytes), which adds its size to the collector's
 * debt and runs the steps that debt calls for; storage under 1 KB is left
 * to the userdata header's own accounting. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "l_common.h"
#include "io/checkpoint.h"
#include "optim/optim.h"

/* ---- the userdata ---- */

ol_tensor *ol_l_newtensor(lua_State *L) {
    ol_l_tensor *u = (ol_l_tensor *)lua_newuserdatauv(L, sizeof(ol_l_tensor), 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, OL_TENSOR_MT);
    return &u->t;
}

void ol_l_account_bytes(lua_State *L, size_t nbytes) {
    if (nbytes < 1024) return;
    /* A step runs even when the script stopped the collector; respect that. */
    if (!lua_gc(L, LUA_GCISRUNNING)) return;
    size_t kb = nbytes / 1024;
    lua_gc(L, LUA_GCSTEP, kb > INT_MAX ? INT_MAX : (int)kb);
}

void ol_l_account(lua_State *L, const ol_tensor *t) {
    if (t->st) ol_l_account_bytes(L, t->st->nbytes);
}

void ol_l_done(lua_State *L, int status, const ol_tensor *t, int arg, const ol_error *e) {
    if (status != 0) ol_l_error(L, arg, e);
    ol_l_account(L, t);
}

ol_tensor *ol_l_pushtensor(lua_State *L, ol_tensor *t, int fresh) {
    ol_tensor *h = ol_l_newtensor(L);
    *h = *t;
    memset(t, 0, sizeof *t);
    if (fresh) ol_l_account(L, h);
    return h;
}

const char *ol_l_tensor_gone(const ol_l_tensor *u) {
    return u->closed == OL_L_FREED ? "tensor used after it was freed" : "tensor is closed";
}

ol_tensor *ol_l_totensor(lua_State *L, int idx) {
    ol_l_tensor *u = (ol_l_tensor *)luaL_testudata(L, idx, OL_TENSOR_MT);
    return (u && !u->closed) ? &u->t : NULL;
}

ol_tensor *ol_l_checktensor(lua_State *L, int idx) {
    ol_l_tensor *u = (ol_l_tensor *)luaL_testudata(L, idx, OL_TENSOR_MT);
    if (!u) {
        luaL_typeerror(L, idx, "tensor");
        return NULL;
    }
    if (u->closed) luaL_argerror(L, idx, ol_l_tensor_gone(u));
    return &u->t;
}

/* ---- objects' lifetime (l_common.h) ----
 * Busy objects are counted in a weak-keyed registry table, BUSY_KEY: object
 * -> how many runs hold it (a hook may start another ol.train on the same
 * model). The guard of ol_l_hold keeps, as its user value, the list of what
 * it marked, and empties it when it unmarks, so closing twice is harmless. */

#define BUSY_KEY "optlua.busy"
#define GUARD_MT "optlua.busy_guard"

void ol_l_protect(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (k && (strcmp(k, "__gc") == 0 || strcmp(k, "__close") == 0 || strcmp(k, "__metatable") == 0)) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    lua_setfield(L, idx, "__metatable");
}

int ol_l_freed(lua_State *L, const char *what) {
    return luaL_error(L, "%s used after it was freed", what);
}

/* Pushes the busy table. */
static void push_busy(lua_State *L) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, BUSY_KEY) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, BUSY_KEY);
}

/* busy[v] += delta for the value v at idx, the busy table at busy. */
static void add_busy(lua_State *L, int busy, int idx, lua_Integer delta) {
    lua_pushvalue(L, idx);
    lua_rawget(L, busy);
    lua_Integer n = lua_tointeger(L, -1) + delta;
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    if (n > 0) lua_pushinteger(L, n);
    else lua_pushnil(L);
    lua_rawset(L, busy);
}

static int guard_close(lua_State *L) {
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) return 0;
    int list = lua_gettop(L);
    push_busy(L);
    for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, list); i <= n; i++) {
        lua_rawgeti(L, list, i);
        add_busy(L, list + 1, list + 2, -1);
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    lua_setiuservalue(L, 1, 1);
    return 0;
}

void ol_l_hold(lua_State *L, const int *idx, int n) {
    int top = lua_gettop(L);
    lua_createtable(L, n, 0);
    int list = lua_gettop(L);
    push_busy(L);
    for (int i = 0; i < n; i++) {
        int k = idx[i] < 0 ? top + idx[i] + 1 : idx[i];
        if (lua_type(L, k) != LUA_TUSERDATA) continue;
        add_busy(L, list + 1, k, 1);
        lua_pushvalue(L, k);
        lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
    }
    lua_pop(L, 1);
    lua_newuserdatauv(L, 1, 1);
    if (luaL_newmetatable(L, GUARD_MT)) {
        lua_pushcfunction(L, guard_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, guard_close);
        lua_setfield(L, -2, "__gc");
        ol_l_protect(L, -1);
    }
    lua_setmetatable(L, -2);
    lua_insert(L, list); /* the guard below its list */
    lua_setiuservalue(L, list, 1);
    lua_toclose(L, list);
}

void ol_l_check_idle(lua_State *L, int idx, const char *what) {
    idx = lua_absindex(L, idx);
    if (lua_getfield(L, LUA_REGISTRYINDEX, BUSY_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_pushvalue(L, idx);
    int busy = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    if (busy) luaL_error(L, "cannot free the %s while it is in use (by ol.train or a step)", what);
}

/* ---- errors ---- */

/* An engine error as an argument error (arg 0: a plain error naming the
 * function), the function named as luaL_argerror names it. */
int ol_l_error(lua_State *L, int arg, const ol_error *e) {
    return ol_arg_error(L, arg, NULL, "%s", e->msg);
}

ol_dtype ol_l_optdtype(lua_State *L, int idx, ol_dtype def) {
    if (lua_isnoneornil(L, idx)) return def;
    if (lua_type(L, idx) != LUA_TSTRING) luaL_typeerror(L, idx, "dtype string (\"f32\" or \"f64\")");
    ol_dtype dt;
    const char *name = lua_tostring(L, idx);
    if (ol_dtype_parse(name, &dt) != 0)
        ol_arg_error(L, idx, NULL, "unknown dtype '%s' (expected \"f32\" or \"f64\")", name);
    return dt;
}

void ol_l_checksamedtype(lua_State *L, const ol_tensor *a, const ol_tensor *b, int arg_b) {
    if (a->dtype != b->dtype)
        ol_arg_error(L, arg_b, NULL, "dtype mismatch: %s and %s (convert one with :to())",
                       ol_dtype_name(a->dtype), ol_dtype_name(b->dtype));
}

/* ---- argument helpers ---- */

int ol_l_checkdim(lua_State *L, int arg, const ol_tensor *t) {
    lua_Integer d = luaL_checkinteger(L, arg);
    if (d < 1 || d > t->ndim) {
        if (t->ndim == 0) ol_arg_error(L, arg, NULL, "dimension %lld out of range (tensor is a scalar)", (long long)d);
        ol_arg_error(L, arg, NULL, "dimension %lld out of range (expected 1..%d)", (long long)d, t->ndim);
    }
    return (int)d - 1;
}

/* One shape entry: an integer >= 0, or -1 when inference is allowed. */
static int64_t shape_entry(lua_State *L, int arg, int isint, lua_Integer v, int allow_infer,
                           const char *where) {
    if (!isint) ol_arg_error(L, arg, NULL, "size%s must be an integer", where);
    if (v < 0 && !(allow_infer && v == -1))
        ol_arg_error(L, arg, NULL, "size%s must be >= 0%s, got %lld", where,
                       allow_infer ? " (or -1 to infer)" : "", (long long)v);
    return (int64_t)v;
}

int ol_l_checkshape(lua_State *L, int arg, int last, int64_t *shape, int allow_infer) {
    int ndim = 0, infer = 0;
    if (lua_istable(L, arg)) {
        lua_Unsigned n = lua_rawlen(L, arg);
        if (n > OL_MAXDIM) ol_arg_error(L, arg, NULL, "too many dimensions (%llu, at most %d)", (unsigned long long)n, OL_MAXDIM);
        for (int i = 0; i < (int)n; i++) {
            int isint = 0;
            lua_rawgeti(L, arg, i + 1);
            lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
            lua_pop(L, 1);
            char where[32];
            snprintf(where, sizeof where, " [%d]", i + 1);
            shape[ndim++] = shape_entry(L, arg, isint, v, allow_infer, where);
        }
    } else {
        if (arg > last) luaL_typeerror(L, arg, "size or shape table");
        if (last - arg + 1 > OL_MAXDIM) ol_arg_error(L, arg, NULL, "too many dimensions (%d, at most %d)", last - arg + 1, OL_MAXDIM);
        for (int a = arg; a <= last; a++) {
            if (lua_type(L, a) != LUA_TNUMBER) luaL_typeerror(L, a, "integer size");
            int isint = 0;
            lua_Integer v = lua_tointegerx(L, a, &isint);
            shape[ndim++] = shape_entry(L, a, isint, v, allow_infer, "");
        }
    }
    /* At most one -1, and no element count that overflows. */
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1) {
            if (infer++) ol_arg_error(L, arg, NULL, "only one size may be -1");
            continue;
        }
        if (shape[i] != 0 && numel > ((int64_t)1 << 40) / shape[i])
            ol_arg_error(L, arg, NULL, "shape too large");
        numel *= shape[i];
    }
    return ndim;
}

int ol_l_shape_dtype(lua_State *L, int arg, int64_t *shape, ol_dtype *dt) {
    if (lua_istable(L, arg)) {
        *dt = ol_l_optdtype(L, arg + 1, OL_F32);
        return ol_l_checkshape(L, arg, arg, shape, 0);
    }
    int last = lua_gettop(L);
    *dt = OL_F32;
    if (last >= arg && lua_type(L, last) == LUA_TSTRING) {
        *dt = ol_l_optdtype(L, last, OL_F32);
        last--;
    }
    return ol_l_checkshape(L, arg, last, shape, 0);
}

static const char *shape_str(const ol_tensor *t, char *buf) { return ol_shape_str(t, buf, 96); }

void ol_l_checkbroadcast_to(lua_State *L, const ol_tensor *src, const ol_tensor *dst, int arg,
                            const char *meta) {
    int ok = src->ndim <= dst->ndim;
    for (int i = 1; ok && i <= src->ndim; i++) {
        int64_t s = src->shape[src->ndim - i], d = dst->shape[dst->ndim - i];
        ok = s == d || s == 1;
    }
    if (ok) return;
    char a[96], b[96];
    if (meta)
        ol_arg_error(L, arg, meta, "size %s cannot be broadcast to %s", shape_str(src, a), shape_str(dst, b));
    ol_arg_error(L, arg, NULL, "size %s cannot be broadcast to %s", shape_str(src, a), shape_str(dst, b));
}

void ol_l_checkbroadcast(lua_State *L, const ol_tensor *a, const ol_tensor *b, int arg,
                         const char *meta) {
    int n = a->ndim < b->ndim ? a->ndim : b->ndim, ok = 1;
    for (int i = 1; ok && i <= n; i++) {
        int64_t x = a->shape[a->ndim - i], y = b->shape[b->ndim - i];
        ok = x == y || x == 1 || y == 1;
    }
    if (ok) return;
    char sa[96], sb[96];
    if (meta) ol_arg_error(L, arg, meta, "sizes %s and %s do not broadcast", shape_str(a, sa), shape_str(b, sb));
    ol_arg_error(L, arg, NULL, "sizes %s and %s do not broadcast", shape_str(a, sa), shape_str(b, sb));
}


/* ---- the option converter ----
 * An option's Lua form: a number, a boolean, an enum choice by name (nil
 * for a "none" choice), a pair as {a, b}; one element of a pair is a
 * number. An element that may be "not given" (op->nil_elem) is nil or a
 * number, nil stored as op->nil_value and that value read back as nil. */

/* 1 if element k (1 or 2; 1 for a number) of op may be given as nil. */
static int nil_allowed(const ol_optim_option *op, int k) {
    return op->nil_elem == k;
}

int ol_l_optim_check_option(lua_State *L, int idx, const ol_optim_option *op, int elem, double *v,
                            ol_error *err) {
    idx = lua_absindex(L, idx);
    if ((op->type == OL_OPT_NUMBER || elem) && lua_isnil(L, idx) &&
        nil_allowed(op, elem ? elem : 1)) {
        v[0] = op->nil_value;
        return 0;
    }
    if (elem) { /* one element of a pair */
        if (lua_type(L, idx) != LUA_TNUMBER)
            return ol_fail(err, "option '%s' element %d must be a number, got %s", op->name, elem,
                           luaL_typename(L, idx));
        v[0] = lua_tonumber(L, idx);
        return 0;
    }
    switch (op->type) {
    case OL_OPT_NUMBER:
        if (lua_type(L, idx) != LUA_TNUMBER)
            return ol_fail(err, "option '%s' must be a number, got %s", op->name, luaL_typename(L, idx));
        v[0] = lua_tonumber(L, idx);
        return 0;
    case OL_OPT_BOOL:
        if (lua_type(L, idx) != LUA_TBOOLEAN)
            return ol_fail(err, "option '%s' must be a boolean, got %s", op->name, luaL_typename(L, idx));
        v[0] = lua_toboolean(L, idx);
        return 0;
    case OL_OPT_ENUM: {
        /* nil selects a "none" choice where there is one (lbfgs's line_search = nil). */
        if (lua_isnil(L, idx) && ol_optim_enum_index(op, "none") >= 0) {
            v[0] = ol_optim_enum_index(op, "none");
            return 0;
        }
        if (lua_type(L, idx) != LUA_TSTRING)
            return ol_fail(err, "option '%s' must be a string, got %s", op->name, luaL_typename(L, idx));
        int k = ol_optim_enum_index(op, lua_tostring(L, idx));
        if (k < 0) {
            char list[160] = "";
            for (int i = 0; op->choices[i]; i++) {
                if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, op->choices[i], sizeof list - strlen(list) - 1);
            }
            return ol_fail(err, "option '%s' must be one of %s, got '%s'", op->name, list,
                           lua_tostring(L, idx));
        }
        v[0] = k;
        return 0;
    }
    case OL_OPT_PAIR: {
        /* {nil, 1e-3} need not have length 2: its length may be 0 or 2 */
        int len_ok = lua_type(L, idx) == LUA_TTABLE && lua_rawlen(L, idx) == 2;
        if (!len_ok && op->nil_elem && lua_type(L, idx) == LUA_TTABLE) {
            len_ok = lua_rawgeti(L, idx, 3) == LUA_TNIL;
            lua_pop(L, 1);
        }
        if (!len_ok)
            return ol_fail(err, "option '%s' must be a pair {a, b}, got %s", op->name,
                           luaL_typename(L, idx));
        for (int k = 0; k < 2; k++) {
            int t = lua_rawgeti(L, idx, k + 1);
            v[k] = t == LUA_TNIL && nil_allowed(op, k + 1) ? op->nil_value : lua_tonumber(L, -1);
            lua_pop(L, 1);
            if (t == LUA_TNIL && nil_allowed(op, k + 1)) continue;
            if (t != LUA_TNUMBER) return ol_fail(err, "option '%s' must be a pair of numbers", op->name);
        }
        return 0;
    }
    }
    return ol_fail(err, "option '%s' has an unknown type", op->name);
}

void ol_l_optim_push_option(lua_State *L, const ol_optim_option *op, const double *v) {
    switch (op->type) {
    case OL_OPT_NUMBER:
        if (v[0] == op->nil_value && nil_allowed(op, 1)) lua_pushnil(L);
        else lua_pushnumber(L, v[0]);
        break;
    case OL_OPT_BOOL: lua_pushboolean(L, v[0] != 0); break;
    case OL_OPT_ENUM: lua_pushstring(L, op->choices[(int)v[0]]); break;
    case OL_OPT_PAIR:
        lua_createtable(L, 2, 0);
        for (int k = 0; k < 2; k++) {
            if (v[k] == op->nil_value && nil_allowed(op, k + 1)) continue; /* left nil */
            lua_pushnumber(L, v[k]);
            lua_rawseti(L, -2, k + 1);
        }
        break;
    }
}

/* ---- nag's two forms (l_common.h) ----
 * The user value holds t * 4 + form, t the step count after the call that
 * recorded it. */

void ol_l_optim_check_form(lua_State *L, int idx, const ol_optim *opt, int form, const char *how) {
    static const char *const forms[] = {[OL_FORM_CLOSURE] = "closure", [OL_FORM_GRADIENT] = "gradient"};
    if (!ol_optim_has_prepare(opt) || opt->t == 0) return;
    lua_getiuservalue(L, idx, OL_OPTIM_UV_FORM);
    lua_Integer v = lua_tointeger(L, -1);
    lua_pop(L, 1);
    int had = (int)(v & 3);
    if (v >> 2 != opt->t || had == 0 || had == form) return;
    luaL_error(L, "%s: %s steps in the %s form, but this run took its %I step%s in the %s form (the closure "
               "form, opt:step(closure) and ol.train, keeps w in the parameters; the gradient form, "
               "opt:step(grad) and opt:step(), keeps the lookahead point w - momentum*p); keep to one form, "
               "or call opt:reset() to start a new run",
               opt->desc->name, how, forms[form], (lua_Integer)opt->t, opt->t == 1 ? "" : "s", forms[had]);
}

void ol_l_optim_record_form(lua_State *L, int idx, const ol_optim *opt, int form) {
    if (!ol_optim_has_prepare(opt)) return;
    lua_pushinteger(L, (lua_Integer)opt->t * 4 + form);
    lua_setiuservalue(L, idx, OL_OPTIM_UV_FORM);
}

ol_loss_kind ol_l_check_loss(lua_State *L, int arg, const char *fname) {
    const char *name = luaL_optstring(L, arg, "cross_entropy");
    ol_loss_kind k;
    if (ol_loss_parse(name, &k) == 0) return k;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; i < OL_LOSS_COUNT; i++) {
        if (i) luaL_addstring(&b, i + 1 < OL_LOSS_COUNT ? ", " : " or ");
        luaL_addstring(&b, ol_loss_name((ol_loss_kind)i));
    }
    luaL_pushresult(&b);
    ol_arg_error(L, arg, fname, "unknown loss '%s' (expected %s)", name, lua_tostring(L, -1));
    return k;
}

ol_loss_spec ol_l_loss_options(lua_State *L, int idx, int arg, const char *fname, ol_loss_kind kind,
                               int64_t c) {
    ol_loss_spec spec = *OL_LOSS_PLAIN(kind);
    const char *name = ol_loss_name(kind);
    idx = lua_absindex(L, idx);
    if (!lua_isnoneornil(L, idx) && !lua_istable(L, idx))
        ol_arg_expected(L, arg, fname, "a table of loss options");
    ol_opts o;
    ol_opts_begin(L, &o, idx, fname, 0);
    o.arg = arg;
    /* Every loss option is read for every kind, so that one of another
     * loss is named as such rather than as unknown. */
    static const struct { const char *opt; ol_loss_kind of; } owner[] = {
        {"label_smoothing", OL_LOSS_CROSS_ENTROPY}, {"weight", OL_LOSS_CROSS_ENTROPY},
        {"delta", OL_LOSS_HUBER}};
    for (size_t i = 0; i < sizeof owner / sizeof *owner; i++) {
        const int given = ol_opt_push(&o, owner[i].opt);
        lua_pop(L, 1);
        if (given && owner[i].of != kind)
            ol_opt_error(&o, "option '%s' is for %s, not %s", owner[i].opt, ol_loss_name(owner[i].of),
                         name);
    }
    spec.label_smoothing = ol_opt_number(&o, "label_smoothing", 0, OL_R_IN(0, 1));
    spec.delta = ol_opt_number(&o, "delta", 1, OL_R_GT(0));
    double *w = NULL;
    if (ol_opt_push(&o, "weight")) {
        const int v = lua_gettop(L);
        const ol_tensor *t = ol_l_totensor(L, v);
        if (!t && !lua_istable(L, v)) ol_opt_expected(&o, "weight", "a tensor or a list of class weights", v);
        const int64_t len = t ? ol_tensor_numel(t) : (int64_t)luaL_len(L, v);
        if ((t && t->ndim != 1) || len != c)
            ol_opt_error(&o, "option 'weight' must hold one value per class (%lld, the model's outputs), got %s%lld",
                         (long long)c, t && t->ndim != 1 ? "a tensor of dimension " : "",
                         t && t->ndim != 1 ? (long long)t->ndim : (long long)len);
        w = ol_l_new_doubles(L, c);
        if (t) {
            ol_l_read_vec(t, w);
        } else {
            for (int64_t j = 0; j < c; j++) {
                lua_geti(L, v, j + 1);
                if (!lua_isnumber(L, -1))
                    ol_opt_error(&o, "option 'weight' must hold numbers, got %s at [%lld]",
                                 luaL_typename(L, -1), (long long)j + 1);
                w[j] = lua_tonumber(L, -1);
                lua_pop(L, 1);
            }
        }
        for (int64_t j = 0; j < c; j++)
            if (!(w[j] >= 0 && isfinite(w[j])))
                ol_opt_error(&o, "option 'weight' must hold finite values >= 0, got %g at [%lld]", w[j],
                             (long long)j + 1);
        lua_replace(L, v); /* the doubles in place of the option's value */
        spec.weight = w;
        spec.nweight = c;
    }
    ol_opts_end(&o);
    return spec;
}

void ol_l_new_class(lua_State *L, const char *mt, const luaL_Reg *meta, const luaL_Reg *methods,
                    lua_CFunction index) {
    luaL_newmetatable(L, mt);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1); /* also __methods, for the REPL's completion */
    lua_setfield(L, -3, "__methods");
    lua_pushcclosure(L, index, 1);
    lua_setfield(L, -2, "__index");
    ol_l_protect(L, -1);
    lua_pop(L, 1);
}

/* ---- Lua values <-> JSON (checkpoint metadata) ----
 * Numbers as JSON numbers (reals in the shortest form that reads back the
 * same, inf and nan as the strings io/checkpoint.h uses), booleans,
 * strings, and tables as arrays (keys 1..n) or objects (string keys), at
 * most MAX_DEPTH deep. */

#define MAX_DEPTH 32


/* The Lua value at idx as JSON, or NULL with the reason in why (no Lua
 * error here: a longjmp would leak the half-built tree). */
static json_t *to_json(lua_State *L, int idx, int depth, const char **why) {
    idx = lua_absindex(L, idx);
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TSTRING: {
        json_t *j = json_string(lua_tostring(L, idx));
        if (!j) *why = "strings must be UTF-8";
        return j;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return json_integer((json_int_t)lua_tointeger(L, idx));
        return ol_ck_json_double(lua_tonumber(L, idx));
    case LUA_TTABLE: break;
    default:
        *why = lua_pushfstring(L, "cannot store a %s", luaL_typename(L, idx));
        return NULL;
    }
    if (depth > MAX_DEPTH) {
        *why = "tables nested too deep (a cycle?)";
        return NULL;
    }
    luaL_checkstack(L, 4, "meta");
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        lua_pop(L, 1);
    }
    if (n > 0 && count == n) { /* a sequence */
        json_t *out = json_array();
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            json_t *v = to_json(L, -1, depth + 1, why);
            lua_pop(L, 1);
            if (!v || json_array_append_new(out, v)) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    json_t *out = json_object();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        json_t *v = NULL;
        if (lua_type(L, -2) != LUA_TSTRING) *why = "table keys must be strings or 1..n";
        else v = to_json(L, -1, depth + 1, why);
        if (v && json_object_set_new(out, lua_tostring(L, -2), v)) {
            *why = "keys must be UTF-8";
            v = NULL;
        }
        if (!v) {
            lua_pop(L, 2);
            json_decref(out);
            return NULL;
        }
        lua_pop(L, 1);
    }
    return out;
}

void ol_l_push_json(lua_State *L, json_t *j) {
    luaL_checkstack(L, 3, "checkpoint metadata");
    if (json_is_object(j)) {
        lua_createtable(L, 0, (int)json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            ol_l_push_json(L, v);
            lua_setfield(L, -2, k);
        }
    } else if (json_is_array(j)) {
        lua_createtable(L, (int)json_array_size(j), 0);
        for (size_t i = 0; i < json_array_size(j); i++) {
            ol_l_push_json(L, json_array_get(j, i));
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    } else if (json_is_integer(j)) {
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
    } else if (json_is_real(j)) {
        lua_pushnumber(L, json_real_value(j));
    } else if (json_is_string(j)) {
        double d; /* inf and nan, which JSON lacks, are stored as these strings (to_json) */
        if (ol_ck_json_to_double(j, &d) == 0) lua_pushnumber(L, d);
        else lua_pushlstring(L, json_string_value(j), json_string_length(j));
    } else if (json_is_boolean(j)) {
        lua_pushboolean(L, json_is_true(j));
    } else {
        lua_pushnil(L);
    }
}

json_t *ol_l_to_json(lua_State *L, int idx, const char **why) {
    return to_json(L, idx, 0, why);
}
