/* The tensor userdata: its metatable, the helpers every binding shares
 * (l_common.h), argument checks, and the metamethods that are not
 * arithmetic (__index, __newindex, __len, __gc, __close).
 *
 * Memory visible to the collector: tensor storage is malloc'd by the engine,
 * outside Lua's heap, so a loop that makes temporaries would look tiny to
 * the collector and never trigger a cycle (the Torch7 problem, torch7 issue
 * 229). Every fresh storage is therefore reported with
 * lua_gc(L, LUA_GCSTEP, kbytes), which adds its size to the collector's
 * debt and runs the steps that debt calls for; storage under 1 KB is left
 * to the userdata header's own accounting. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "l_tensor_priv.h"

/* ---- the userdata ---- */

ol_tensor *ol_l_newtensor(lua_State *L) {
    ol_l_tensor *u = (ol_l_tensor *)lua_newuserdatauv(L, sizeof(ol_l_tensor), 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, OL_TENSOR_MT);
    return &u->t;
}

void ol_l_account(lua_State *L, const ol_tensor *t) {
    if (!t->st || t->st->nbytes < 1024) return;
    /* A step runs even when the script stopped the collector; respect that. */
    if (!lua_gc(L, LUA_GCISRUNNING)) return;
    size_t kb = t->st->nbytes / 1024;
    lua_gc(L, LUA_GCSTEP, kb > INT_MAX ? INT_MAX : (int)kb);
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
    if (u->closed) luaL_argerror(L, idx, "tensor is closed");
    return &u->t;
}

/* ---- errors ---- */

int ol_l_argerrorf(lua_State *L, int arg, const char *fmt, ...) {
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return luaL_argerror(L, arg, msg);
}

int ol_l_metaerrorf(lua_State *L, int arg, const char *name, const char *fmt, ...) {
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, name, msg);
}

int ol_l_error(lua_State *L, int arg, const ol_error *e) {
    if (arg > 0) return luaL_argerror(L, arg, e->msg);
    lua_Debug ar;
    const char *name = "?";
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name) name = ar.name;
    return luaL_error(L, "bad call to '%s' (%s)", name, e->msg);
}

ol_dtype ol_l_optdtype(lua_State *L, int idx, ol_dtype def) {
    if (lua_isnoneornil(L, idx)) return def;
    if (lua_type(L, idx) != LUA_TSTRING) luaL_typeerror(L, idx, "dtype string (\"f32\" or \"f64\")");
    ol_dtype dt;
    const char *name = lua_tostring(L, idx);
    if (ol_dtype_parse(name, &dt) != 0)
        ol_l_argerrorf(L, idx, "unknown dtype '%s' (expected \"f32\" or \"f64\")", name);
    return dt;
}

void ol_l_checksamedtype(lua_State *L, const ol_tensor *a, const ol_tensor *b, int arg_b) {
    if (a->dtype != b->dtype)
        ol_l_argerrorf(L, arg_b, "dtype mismatch: %s and %s (convert one with :to())",
                       ol_dtype_name(a->dtype), ol_dtype_name(b->dtype));
}

/* ---- argument helpers ---- */

int ol_l_checkdim(lua_State *L, int arg, const ol_tensor *t) {
    lua_Integer d = luaL_checkinteger(L, arg);
    if (d < 1 || d > t->ndim) {
        if (t->ndim == 0) ol_l_argerrorf(L, arg, "dimension %lld out of range (tensor is a scalar)", (long long)d);
        ol_l_argerrorf(L, arg, "dimension %lld out of range (expected 1..%d)", (long long)d, t->ndim);
    }
    return (int)d - 1;
}

/* One shape entry: an integer >= 0, or -1 when inference is allowed. */
static int64_t shape_entry(lua_State *L, int arg, int isint, lua_Integer v, int allow_infer,
                           const char *where) {
    if (!isint) ol_l_argerrorf(L, arg, "size%s must be an integer", where);
    if (v < 0 && !(allow_infer && v == -1))
        ol_l_argerrorf(L, arg, "size%s must be >= 0%s, got %lld", where,
                       allow_infer ? " (or -1 to infer)" : "", (long long)v);
    return (int64_t)v;
}

int ol_l_checkshape(lua_State *L, int arg, int last, int64_t *shape, int allow_infer) {
    int ndim = 0, infer = 0;
    if (lua_istable(L, arg)) {
        lua_Unsigned n = lua_rawlen(L, arg);
        if (n > OL_MAXDIM) ol_l_argerrorf(L, arg, "too many dimensions (%llu, at most %d)", (unsigned long long)n, OL_MAXDIM);
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
        if (last - arg + 1 > OL_MAXDIM) ol_l_argerrorf(L, arg, "too many dimensions (%d, at most %d)", last - arg + 1, OL_MAXDIM);
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
            if (infer++) ol_l_argerrorf(L, arg, "only one size may be -1");
            continue;
        }
        if (shape[i] != 0 && numel > ((int64_t)1 << 40) / shape[i])
            ol_l_argerrorf(L, arg, "shape too large");
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
        ol_l_metaerrorf(L, arg, meta, "size %s cannot be broadcast to %s", shape_str(src, a), shape_str(dst, b));
    ol_l_argerrorf(L, arg, "size %s cannot be broadcast to %s", shape_str(src, a), shape_str(dst, b));
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
    if (meta) ol_l_metaerrorf(L, arg, meta, "sizes %s and %s do not broadcast", shape_str(a, sa), shape_str(b, sb));
    ol_l_argerrorf(L, arg, "sizes %s and %s do not broadcast", shape_str(a, sa), shape_str(b, sb));
}

/* ---- metamethods other than arithmetic ---- */

/* The userdata at 1 of a metamethod, open. */
static ol_tensor *meta_self(lua_State *L, const char *name) {
    ol_l_tensor *u = (ol_l_tensor *)luaL_testudata(L, 1, OL_TENSOR_MT);
    if (!u) {
        ol_l_metaerrorf(L, 1, name, "tensor expected, got %s", luaL_typename(L, 1));
        return NULL;
    }
    if (u->closed) ol_l_metaerrorf(L, 1, name, "tensor is closed");
    return &u->t;
}

/* t[i] (integer i, 1-based) or t.method; upvalue 1 is the method table. */
static int m_index(lua_State *L) {
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));
        return 1;
    }
    ol_tensor *t = meta_self(L, "__index");
    if (lua_type(L, 2) != LUA_TNUMBER) return 0;
    int isint = 0;
    lua_Integer i = lua_tointegerx(L, 2, &isint);
    if (!isint) ol_l_metaerrorf(L, 2, "__index", "index must be an integer, got %s", lua_tostring(L, 2));
    return ol_l_index_int(L, t, i);
}

static int m_newindex(lua_State *L) {
    ol_tensor *t = meta_self(L, "__newindex");
    if (lua_type(L, 2) != LUA_TNUMBER)
        ol_l_metaerrorf(L, 2, "__newindex", "tensors have no fields to assign, only integer indices (got %s)",
                        luaL_typename(L, 2));
    int isint = 0;
    lua_Integer i = lua_tointegerx(L, 2, &isint);
    if (!isint) ol_l_metaerrorf(L, 2, "__newindex", "index must be an integer, got %s", lua_tostring(L, 2));
    ol_l_newindex_int(L, t, i);
    return 0;
}

static int m_len(lua_State *L) {
    ol_tensor *t = meta_self(L, "__len");
    if (t->ndim == 0) ol_l_metaerrorf(L, 1, "__len", "a scalar tensor has no length");
    lua_pushinteger(L, (lua_Integer)t->shape[0]);
    return 1;
}

static int m_gc(lua_State *L) {
    ol_l_tensor *u = (ol_l_tensor *)luaL_testudata(L, 1, OL_TENSOR_MT);
    if (u) ol_tensor_release(&u->t);
    return 0;
}

/* `local t <close> = ...`: storage is released at once; the header stays
 * behind marked closed so later use raises "tensor is closed". */
static int m_close(lua_State *L) {
    ol_l_tensor *u = (ol_l_tensor *)luaL_testudata(L, 1, OL_TENSOR_MT);
    if (u) {
        ol_tensor_release(&u->t);
        u->closed = 1;
    }
    return 0;
}

/* ---- registration: every Lua-visible name of the type in one place ---- */

static const luaL_Reg tensor_methods[] = {
    {"shape", ol_l_shape},       {"size", ol_l_size},       {"dim", ol_l_dim},
    {"numel", ol_l_numel},       {"dtype", ol_l_dtype},     {"get", ol_l_get},
    {"set", ol_l_set},           {"view", ol_l_view},       {"reshape", ol_l_reshape},
    {"t", ol_l_t},               {"clone", ol_l_clone},     {"contiguous", ol_l_contiguous},
    {"narrow", ol_l_narrow},     {"index", ol_l_index},     {"copy_", ol_l_copy_},
    {"fill_", ol_l_fill_},       {"zero_", ol_l_zero_},     {"to", ol_l_to},
    {"totable", ol_l_totable},   {"add_", ol_l_add_},       {"sub_", ol_l_sub_},
    {"mul_", ol_l_mul_},         {"div_", ol_l_div_},       {"addcmul_", ol_l_addcmul_},
    {"addcdiv_", ol_l_addcdiv_}, {"clamp_", ol_l_clamp_},   {"abs", ol_l_abs},
    {"sqrt", ol_l_sqrt},         {"exp", ol_l_exp},         {"log", ol_l_log},
    {"tanh", ol_l_tanh},         {"sigmoid", ol_l_sigmoid}, {"sign", ol_l_sign},
    {"pow", ol_l_pow},           {"sum", ol_l_sum},         {"mean", ol_l_mean},
    {"max", ol_l_max},           {"min", ol_l_min},         {"argmax", ol_l_argmax},
    {"norm", ol_l_norm},         {"dot", ol_l_dot},         {"mm", ol_l_mm},
    {"mv", ol_l_mv},             {NULL, NULL}};

static const luaL_Reg tensor_meta[] = {
    {"__newindex", m_newindex}, {"__len", m_len},           {"__gc", m_gc},
    {"__close", m_close},       {"__tostring", ol_l_tostring}, {"__add", ol_l_meta_add},
    {"__sub", ol_l_meta_sub},   {"__mul", ol_l_meta_mul},   {"__div", ol_l_meta_div},
    {"__unm", ol_l_meta_unm},   {NULL, NULL}};

/* ol.istensor(x) -> boolean (closed tensors included). */
static int l_istensor(lua_State *L) {
    lua_pushboolean(L, luaL_testudata(L, 1, OL_TENSOR_MT) != NULL);
    return 1;
}

static const luaL_Reg tensor_functions[] = {
    {"tensor", ol_l_tensor_new}, {"zeros", ol_l_zeros},  {"ones", ol_l_ones},
    {"empty", ol_l_empty},       {"full", ol_l_full},    {"eye", ol_l_eye},
    {"arange", ol_l_arange},     {"rand", ol_l_rand},    {"randn", ol_l_randn},
    {"seed", ol_l_seed},         {"mm", ol_l_mm},        {"istensor", l_istensor},
    {NULL, NULL}};

void ol_open_tensor(lua_State *L) {
    if (luaL_newmetatable(L, OL_TENSOR_MT)) {
        luaL_setfuncs(L, tensor_meta, 0);
        luaL_newlib(L, tensor_methods);
        /* The method table is kept as __methods too, so tools (the REPL's
         * completion) can list what follows `t:`. */
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "__methods");
        lua_pushcclosure(L, m_index, 1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, tensor_functions, 0);
}
