/* Tensor methods about shape and place: queries, element access, t[i],
 * views (view, reshape, t, narrow), copies (clone, contiguous, index, to),
 * and the fill/copy in-place methods.
 *
 * Indices and dimensions are 1-based on this side and converted to the
 * engine's 0-based ones here; every index is range-checked before the engine
 * sees it (index out of range is an error, never a read past the end). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "l_tensor_priv.h"

/* ---- queries ---- */

static void push_shape(lua_State *L, const ol_tensor *t) {
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, (lua_Integer)t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

int ol_l_shape(lua_State *L) {
    push_shape(L, ol_l_checktensor(L, 1));
    return 1;
}

/* t:size(dim) -> size along dim; t:size() -> the shape table. */
int ol_l_size(lua_State *L) {
    ol_tensor *t = ol_l_checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        push_shape(L, t);
        return 1;
    }
    int d = ol_l_checkdim(L, 2, t);
    lua_pushinteger(L, (lua_Integer)t->shape[d]);
    return 1;
}

int ol_l_dim(lua_State *L) {
    lua_pushinteger(L, ol_l_checktensor(L, 1)->ndim);
    return 1;
}

int ol_l_numel(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)ol_tensor_numel(ol_l_checktensor(L, 1)));
    return 1;
}

int ol_l_dtype(lua_State *L) {
    lua_pushstring(L, ol_dtype_name(ol_l_checktensor(L, 1)->dtype));
    return 1;
}

/* ---- element access ---- */

/* Reads the ndim 1-based indices at arg.. into idx (0-based). */
static void check_indices(lua_State *L, const ol_tensor *t, int arg, int n, int64_t *idx) {
    if (n != t->ndim)
        ol_arg_error(L, n < t->ndim ? arg + n : arg + t->ndim, NULL, "expected %d ind%s (one per dimension), got %d",
                       t->ndim, t->ndim == 1 ? "ex" : "ices", n);
    for (int d = 0; d < n; d++) {
        lua_Integer i = luaL_checkinteger(L, arg + d);
        if (i < 1 || i > t->shape[d])
            ol_arg_error(L, arg + d, NULL, "index %lld out of range for dimension %d (size %lld)", (long long)i, d + 1,
                           (long long)t->shape[d]);
        idx[d] = (int64_t)i - 1;
    }
}

int ol_l_get(lua_State *L) {
    ol_tensor *t = ol_l_checktensor(L, 1);
    int64_t idx[OL_MAXDIM];
    check_indices(L, t, 2, lua_gettop(L) - 1, idx);
    lua_pushnumber(L, ol_tensor_get(t, idx));
    return 1;
}

/* t:set(i, j, ..., v) -> t */
int ol_l_set(lua_State *L) {
    ol_tensor *t = ol_l_checktensor(L, 1);
    int top = lua_gettop(L);
    if (top < 2) return luaL_typeerror(L, 2, "number");
    double v = luaL_checknumber(L, top);
    int64_t idx[OL_MAXDIM];
    check_indices(L, t, 2, top - 2, idx);
    ol_tensor_set(t, idx, v);
    lua_settop(L, 1);
    return 1;
}

static void check_slice(lua_State *L, const ol_tensor *t, lua_Integer i, const char *meta) {
    if (t->ndim == 0) ol_arg_error(L, 2, meta, "cannot index a scalar tensor");
    if (i < 1 || i > t->shape[0])
        ol_arg_error(L, 2, meta, "index %lld out of range (size %lld)", (long long)i, (long long)t->shape[0]);
}

int ol_l_index_int(lua_State *L, ol_tensor *t, lua_Integer i) {
    ol_error e;
    check_slice(L, t, i, "__index");
    if (t->ndim == 1) {
        int64_t idx = (int64_t)i - 1;
        lua_pushnumber(L, ol_tensor_get(t, &idx));
        return 1;
    }
    ol_tensor *out = ol_l_newtensor(L);
    if (ol_tensor_select(t, 0, (int64_t)i - 1, out, &e) != 0)
        ol_arg_error(L, 2, "__index", "%s", e.msg);
    return 1;
}

void ol_l_newindex_int(lua_State *L, ol_tensor *t, lua_Integer i) {
    ol_error e;
    check_slice(L, t, i, "__newindex");
    ol_tensor *src = ol_l_totensor(L, 3);
    if (!src && lua_type(L, 3) != LUA_TNUMBER)
        ol_arg_error(L, 3, "__newindex", "number or tensor expected, got %s", luaL_typename(L, 3));
    if (t->ndim == 1 && !src) {
        int64_t idx = (int64_t)i - 1;
        ol_tensor_set(t, &idx, lua_tonumber(L, 3));
        return;
    }
    /* The slice is held by a userdata so that an error cannot leak it. */
    ol_tensor *slice = ol_l_newtensor(L);
    if (ol_tensor_select(t, 0, (int64_t)i - 1, slice, &e) != 0)
        ol_arg_error(L, 2, "__newindex", "%s", e.msg);
    if (!src) {
        ol_fill_(slice, lua_tonumber(L, 3));
        return;
    }
    if (src->dtype != t->dtype)
        ol_arg_error(L, 3, "__newindex", "dtype mismatch: %s and %s (convert one with :to())",
                        ol_dtype_name(t->dtype), ol_dtype_name(src->dtype));
    ol_l_checkbroadcast_to(L, src, slice, 3, "__newindex");
    if (ol_tensor_copy_(slice, src, &e) != 0) ol_arg_error(L, 3, "__newindex", "%s", e.msg);
}

/* ---- views ---- */

/* Shape arguments of view/reshape (varargs or a table, one -1 allowed),
 * checked against the element count. */
static int view_shape(lua_State *L, const ol_tensor *t, int64_t *shape) {
    int top = lua_gettop(L);
    int ndim = ol_l_checkshape(L, 2, top, shape, 1);
    int64_t known = 1, numel = ol_tensor_numel(t);
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1) infer = i;
        else known *= shape[i];
    }
    int ok = infer < 0 ? known == numel : (known != 0 && numel % known == 0);
    if (!ok) {
        char buf[128] = "", num[24];
        for (int i = 0; i < ndim; i++) {
            snprintf(num, sizeof num, "%s%lld", i ? "x" : "", (long long)shape[i]);
            strncat(buf, num, sizeof buf - strlen(buf) - 1);
        }
        ol_arg_error(L, 2, NULL, "shape %s is invalid for a tensor of %lld elements", ndim ? buf : "scalar",
                       (long long)numel);
    }
    return ndim;
}

int ol_l_view(lua_State *L) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    int64_t shape[OL_MAXDIM];
    int ndim = view_shape(L, t, shape);
    ol_tensor *out = ol_l_newtensor(L);
    if (ol_tensor_view(t, ndim, shape, out, &e) != 0) ol_l_error(L, 1, &e);
    return 1;
}

int ol_l_reshape(lua_State *L) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    int64_t shape[OL_MAXDIM];
    int ndim = view_shape(L, t, shape);
    ol_tensor *out = ol_l_newtensor(L);
    if (ol_tensor_reshape(t, ndim, shape, out, &e) != 0) ol_l_error(L, 1, &e);
    if (out->st != t->st) ol_l_account(L, out); /* it copied */
    return 1;
}

/* t:t(): the transpose of a 2-D tensor (a view); a 1-D tensor is its own. */
int ol_l_t(lua_State *L) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    if (t->ndim != 1 && t->ndim != 2) ol_arg_error(L, 1, NULL, "expected a 1-D or 2-D tensor, got %d-D", t->ndim);
    ol_tensor *out = ol_l_newtensor(L);
    if (t->ndim == 1) ol_tensor_share(t, out);
    else if (ol_tensor_transpose(t, 0, 1, out, &e) != 0) ol_l_error(L, 1, &e);
    return 1;
}

int ol_l_clone(lua_State *L) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    ol_tensor *out = ol_l_newtensor(L);
    ol_l_done(L, ol_tensor_clone(t, out, &e), out, 1, &e);
    return 1;
}

int ol_l_contiguous(lua_State *L) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    ol_tensor *out = ol_l_newtensor(L);
    if (ol_tensor_contiguous(t, out, &e) != 0) ol_l_error(L, 1, &e);
    if (out->st != t->st) ol_l_account(L, out);
    return 1;
}

/* t:narrow(dim, start, len): elements start..start+len-1 along dim, a view. */
int ol_l_narrow(lua_State *L) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    int d = ol_l_checkdim(L, 2, t);
    lua_Integer start = luaL_checkinteger(L, 3);
    lua_Integer len = luaL_checkinteger(L, 4);
    int64_t size = t->shape[d];
    if (start < 1 || start > size + 1)
        ol_arg_error(L, 3, NULL, "start %lld out of range for dimension %d (size %lld)", (long long)start, d + 1,
                       (long long)size);
    if (len < 0 || len > size - (start - 1)) /* written so that it cannot overflow */
        ol_arg_error(L, 4, NULL, "length %lld from start %lld exceeds size %lld", (long long)len, (long long)start,
                       (long long)size);
    ol_tensor *out = ol_l_newtensor(L);
    if (ol_tensor_narrow(t, d, (int64_t)start - 1, (int64_t)len, out, &e) != 0) ol_l_error(L, 1, &e);
    return 1;
}

/* t:index(idx): rows idx[1], idx[2], ... (1-based) of t, a new tensor. */
int ol_l_index(lua_State *L) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    if (t->ndim == 0) return luaL_argerror(L, 1, "cannot index a scalar tensor");
    ol_tensor *it = ol_l_totensor(L, 2);
    if (!it && !lua_istable(L, 2)) return luaL_typeerror(L, 2, "tensor or table of indices");
    int64_t n;
    if (it) {
        if (it->ndim != 1) {
            char buf[96];
            ol_arg_error(L, 2, NULL, "index tensor must be 1-D, got %d-D (size %s)", it->ndim,
                           ol_shape_str(it, buf, sizeof buf));
        }
        n = it->shape[0];
    } else {
        n = (int64_t)lua_rawlen(L, 2);
    }
    /* Scratch space owned by the collector: an error below cannot leak it. */
    int64_t *idx = (int64_t *)lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(int64_t), 0);
    for (int64_t k = 0; k < n; k++) {
        double v;
        if (it) {
            v = ol_tensor_get(it, &k);
        } else {
            lua_rawgeti(L, 2, (lua_Integer)k + 1);
            if (lua_type(L, -1) != LUA_TNUMBER)
                ol_arg_error(L, 2, NULL, "index [%lld] is a %s, expected an integer", (long long)k + 1,
                               luaL_typename(L, -1));
            v = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        /* range first (NaN fails it), so the cast below is defined */
        if (!(v >= 1 && v <= (double)t->shape[0]))
            ol_arg_error(L, 2, NULL, "index [%lld] = %g out of range (size %lld)", (long long)k + 1, v,
                           (long long)t->shape[0]);
        if (v != floor(v)) ol_arg_error(L, 2, NULL, "index [%lld] = %g is not an integer", (long long)k + 1, v);
        idx[k] = (int64_t)v - 1;
    }
    ol_tensor *out = ol_l_newtensor(L);
    ol_l_done(L, ol_tensor_index(t, idx, n, out, &e), out, 1, &e);
    return 1;
}

/* ---- copies and fills ---- */

int ol_l_copy_(lua_State *L) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    ol_tensor *src = ol_l_checktensor(L, 2);
    ol_l_checksamedtype(L, t, src, 2);
    ol_l_checkbroadcast_to(L, src, t, 2, NULL);
    if (ol_tensor_copy_(t, src, &e) != 0) ol_l_error(L, 2, &e);
    lua_settop(L, 1);
    return 1;
}

int ol_l_fill_(lua_State *L) {
    ol_tensor *t = ol_l_checktensor(L, 1);
    double v = luaL_checknumber(L, 2);
    ol_fill_(t, v);
    lua_settop(L, 1);
    return 1;
}

int ol_l_zero_(lua_State *L) {
    ol_fill_(ol_l_checktensor(L, 1), 0.0);
    lua_settop(L, 1);
    return 1;
}

/* t:to(dtype): a converted copy (a copy even when the dtype is the same). */
int ol_l_to(lua_State *L) {
    ol_error e;
    ol_tensor *t = ol_l_checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) return luaL_typeerror(L, 2, "dtype string (\"f32\" or \"f64\")");
    ol_dtype dt = ol_l_optdtype(L, 2, t->dtype);
    ol_tensor *out = ol_l_newtensor(L);
    ol_l_done(L, ol_tensor_to(t, dt, out, &e), out, 1, &e);
    return 1;
}

/* ---- totable ---- */

static void push_level(lua_State *L, const ol_tensor *t, int d, int64_t *idx) {
    if (d == t->ndim) {
        lua_pushnumber(L, ol_tensor_get(t, idx));
        return;
    }
    int64_t n = t->shape[d];
    lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
    for (idx[d] = 0; idx[d] < n; idx[d]++) {
        push_level(L, t, d + 1, idx);
        lua_rawseti(L, -2, (lua_Integer)idx[d] + 1);
    }
}

/* t:totable() -> nested tables of numbers (a number for a scalar tensor). */
int ol_l_totable(lua_State *L) {
    ol_tensor *t = ol_l_checktensor(L, 1);
    int64_t idx[OL_MAXDIM] = {0};
    luaL_checkstack(L, t->ndim + 4, "tensor too deep");
    push_level(L, t, 0, idx);
    return 1;
}
