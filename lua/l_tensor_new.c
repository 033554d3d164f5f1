/* Tensor constructors: ol.tensor, zeros, ones, empty, full, eye, arange,
 * rand, randn, and ol.seed.
 *
 * Conventions (README, Tensors): the default dtype is "f32"; shapes are
 * given as sizes d1, d2, ... or one table {d1, d2, ...}, with an optional
 * dtype string last; ol.arange counts like Lua's numeric for, inclusive of
 * both ends and 1-based: arange(n) is 1, 2, ..., n. The generator behind
 * rand/randn/seed is documented in engine/core/rng.h (xoshiro256**, Box-Muller). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "l_tensor_priv.h"
#include "core/rng.h"

/* ---- ol.tensor(values [, dtype]) ---- */

typedef struct fill_state {
    ol_dtype dt;
    void *data;
    int64_t pos;
    int ndim;
    const int64_t *shape;
} fill_state;

/* Appends "[i]" to a path such as "values[2]" for error messages. */
static void path_push(char *path, size_t size, lua_Integer i) {
    size_t n = strlen(path);
    if (n + 24 < size) snprintf(path + n, size - n, "[%lld]", (long long)i);
}

/* The table on top of the stack is the nested level `depth`; its entries
 * go to data in row-major order. */
static void fill_level(lua_State *L, fill_state *fs, int depth, char *path, size_t psize) {
    int64_t n = (int64_t)lua_rawlen(L, -1);
    if (n != fs->shape[depth])
        ol_arg_error(L, 1, NULL, "ragged nested table: %s has %lld element%s, expected %lld", path,
                       (long long)n, n == 1 ? "" : "s", (long long)fs->shape[depth]);
    size_t plen = strlen(path);
    for (int64_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        path_push(path, psize, (lua_Integer)i);
        if (depth + 1 < fs->ndim) {
            if (!lua_istable(L, -1))
                ol_arg_error(L, 1, NULL, "ragged nested table: %s is a %s, expected a table", path,
                               luaL_typename(L, -1));
            fill_level(L, fs, depth + 1, path, psize);
        } else {
            if (lua_type(L, -1) != LUA_TNUMBER)
                ol_arg_error(L, 1, NULL, "%s%s is a %s, expected a number",
                               lua_istable(L, -1) ? "ragged nested table: " : "", path,
                               luaL_typename(L, -1));
            double v = lua_tonumber(L, -1);
            if (fs->data && fs->dt == OL_F32) /* data is NULL in the checking pass */
                ((float *)fs->data)[fs->pos++] = (float)v;
            else if (fs->data)
                ((double *)fs->data)[fs->pos++] = v;
        }
        path[plen] = '\0';
        lua_pop(L, 1);
    }
}

int ol_l_tensor_new(lua_State *L) {
    ol_error e;
    int64_t shape[OL_MAXDIM];
    ol_tensor *src = ol_l_totensor(L, 1);
    if (src) { /* a converting copy */
        ol_dtype dt = ol_l_optdtype(L, 2, src->dtype);
        ol_tensor *out = ol_l_newtensor(L);
        ol_l_done(L, ol_tensor_to(src, dt, out, &e), out, 1, &e);
        return 1;
    }
    ol_dtype dt = ol_l_optdtype(L, 2, OL_F32);
    if (lua_type(L, 1) == LUA_TNUMBER) { /* a scalar (0-dimensional) tensor */
        double v = lua_tonumber(L, 1);
        ol_tensor *out = ol_l_newtensor(L);
        ol_l_done(L, ol_tensor_empty(out, dt, 0, shape, &e), out, 1, &e);
        ol_tensor_set(out, shape, v);
        return 1;
    }
    if (!lua_istable(L, 1)) return luaL_typeerror(L, 1, "number, table or tensor");
    lua_settop(L, 2);
    /* The shape is read down the first elements; fill_level then checks
     * every level against it. */
    int ndim = 0;
    lua_pushvalue(L, 1);
    while (lua_istable(L, -1)) {
        if (ndim == OL_MAXDIM)
            ol_arg_error(L, 1, NULL, "nested more than %d levels deep", OL_MAXDIM);
        shape[ndim++] = (int64_t)lua_rawlen(L, -1);
        if (shape[ndim - 1] == 0) break;
        lua_rawgeti(L, -1, 1);
    }
    lua_settop(L, 2);
    luaL_checkstack(L, ndim + 8, "nested table too deep");
    /* Two passes: check every level first, so that a ragged table whose
     * first elements promise a huge shape fails before any allocation. */
    fill_state fs = {dt, NULL, 0, ndim, shape};
    char path[256] = "values";
    lua_pushvalue(L, 1);
    fill_level(L, &fs, 0, path, sizeof path);
    lua_pop(L, 1);
    ol_tensor *out = ol_l_newtensor(L);
    ol_l_done(L, ol_tensor_empty(out, dt, ndim, shape, &e), out, 1, &e);
    fs.data = ol_tensor_data(out);
    lua_pushvalue(L, 1);
    fill_level(L, &fs, 0, path, sizeof path);
    lua_pop(L, 1);
    return 1;
}

/* ---- shape-only constructors ---- */

typedef enum { K_ZEROS, K_ONES, K_EMPTY, K_RAND, K_RANDN } fill_kind;

static int make_shaped(lua_State *L, fill_kind kind) {
    ol_error e;
    int64_t shape[OL_MAXDIM];
    ol_dtype dt;
    int ndim = ol_l_shape_dtype(L, 1, shape, &dt);
    ol_tensor *out = ol_l_newtensor(L);
    int rc;
    switch (kind) {
    case K_ZEROS: rc = ol_tensor_zeros(out, dt, ndim, shape, &e); break;
    case K_ONES: rc = ol_tensor_full(out, dt, ndim, shape, 1.0, &e); break;
    default: rc = ol_tensor_empty(out, dt, ndim, shape, &e); break;
    }
    ol_l_done(L, rc, out, 1, &e);
    if (kind == K_RAND) ol_tensor_uniform_(out, 0.0, 1.0);
    if (kind == K_RANDN) ol_tensor_normal_(out, 0.0, 1.0);
    return 1;
}

int ol_l_zeros(lua_State *L) { return make_shaped(L, K_ZEROS); }
int ol_l_ones(lua_State *L) { return make_shaped(L, K_ONES); }
int ol_l_empty(lua_State *L) { return make_shaped(L, K_EMPTY); }
int ol_l_rand(lua_State *L) { return make_shaped(L, K_RAND); }
int ol_l_randn(lua_State *L) { return make_shaped(L, K_RANDN); }

/* ol.full(shape, value [, dtype]); shape is a table or one size. */
int ol_l_full(lua_State *L) {
    ol_error e;
    int64_t shape[OL_MAXDIM];
    int ndim = ol_l_checkshape(L, 1, 1, shape, 0);
    double v = luaL_checknumber(L, 2);
    ol_dtype dt = ol_l_optdtype(L, 3, OL_F32);
    ol_tensor *out = ol_l_newtensor(L);
    ol_l_done(L, ol_tensor_full(out, dt, ndim, shape, v, &e), out, 1, &e);
    return 1;
}

int ol_l_eye(lua_State *L) {
    ol_error e;
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0 && n <= (1 << 20), 1, "size must be in 0..1048576");
    ol_dtype dt = ol_l_optdtype(L, 2, OL_F32);
    ol_tensor *out = ol_l_newtensor(L);
    ol_l_done(L, ol_tensor_eye(out, dt, (int64_t)n, &e), out, 1, &e);
    return 1;
}

/* ol.arange(n [, dtype]) -> 1..n; ol.arange(first, last [, step] [, dtype])
 * -> first, first+step, ... up to last inclusive, as `for i = first, last, step`. */
int ol_l_arange(lua_State *L) {
    ol_error e;
    int nnum = 0;
    while (nnum < 3 && lua_type(L, nnum + 1) == LUA_TNUMBER) nnum++;
    if (nnum == 0) return luaL_typeerror(L, 1, "number");
    ol_dtype dt = ol_l_optdtype(L, nnum + 1, OL_F32);
    if (!lua_isnone(L, nnum + 2)) return luaL_argerror(L, nnum + 2, "no more arguments expected");
    double first = 1, last, step = 1;
    if (nnum == 1) {
        last = lua_tonumber(L, 1);
    } else {
        first = lua_tonumber(L, 1);
        last = lua_tonumber(L, 2);
        if (nnum == 3) step = lua_tonumber(L, 3);
    }
    for (int a = 1; a <= nnum; a++)
        if (!isfinite(lua_tonumber(L, a))) return luaL_argerror(L, a, "must be finite");
    if (step == 0) return luaL_argerror(L, 3, "step must not be 0");
    double count = floor((last - first) / step) + 1;
    if (count > (double)((int64_t)1 << 40)) return luaL_argerror(L, nnum == 1 ? 1 : 2, "range too long");
    ol_tensor *out = ol_l_newtensor(L);
    ol_l_done(L, ol_tensor_range(out, dt, first, last, step, &e), out, 1, &e);
    return 1;
}

int ol_l_seed(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    ol_rng_seed((uint64_t)n);
    return 0;
}

/* ol._rng_state() -> the RNG's whole state as a string, and
 * ol._rng_set_state(s): private, for Lua-side tools that must hold the
 * random draws fixed (gradcheck through dropout in training mode). */
int ol_l_rng_state(lua_State *L) {
    ol_rng_state s;
    ol_rng_get_state(&s);
    lua_pushlstring(L, (const char *)&s, sizeof s);
    return 1;
}

int ol_l_set_rng_state(lua_State *L) {
    size_t len;
    const char *p = luaL_checklstring(L, 1, &len);
    ol_rng_state s;
    if (len != sizeof s) return luaL_argerror(L, 1, "not an RNG state");
    memcpy(&s, p, sizeof s);
    ol_rng_set_state(&s);
    return 0;
}
