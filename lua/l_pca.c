/* The C side of ol.pca (engine/linalg/pca.c): ol._pca.fit and
 * ol._pca.condition_number, and the fitted-PCA userdata with its methods
 * transform and inverse. lua/optlua/pca.lua checks the options and is what
 * users call (ol.pca.fit); the userdata is what ol.pca.fit returns, so its
 * methods raise errors in the user's own argument numbering.
 *
 * The fields a user reads (mean, components, explained_variance, ...) are
 * tensors made once at fit time and kept in the userdata's user value, a
 * table; __index looks up methods first, then that table. */
#include <string.h>

#include "l_common.h"
#include "linalg/pca.h"

#define OL_PCA_MT "optlua.pca"

static ol_pca *check_pca(lua_State *L, int idx) {
    ol_pca *p = (ol_pca *)luaL_checkudata(L, idx, OL_PCA_MT);
    if (!p->mean) ol_l_freed(L, "PCA");
    return p;
}

/* A fresh tensor of dtype dt and the given shape, filled from v. */
static void push_array(lua_State *L, const double *v, int ndim, const int64_t *shape, ol_dtype dt) {
    ol_tensor t;
    ol_error err;
    if (ol_tensor_empty(&t, dt, ndim, shape, &err)) ol_l_error(L, 0, &err);
    int64_t n = ol_tensor_numel(&t);
    if (dt == OL_F64) memcpy(ol_tensor_data(&t), v, (size_t)n * sizeof(double));
    else {
        float *f = ol_tensor_data(&t);
        for (int64_t i = 0; i < n; i++) f[i] = (float)v[i];
    }
    ol_l_pushtensor(L, &t, 1);
}

/* _pca.fit(X, k, whiten, zca, eps) -> pca */
static int l_fit(lua_State *L) {
    ol_tensor *x = ol_l_checktensor(L, 1);
    lua_Integer k = luaL_optinteger(L, 2, 0);
    int whiten = lua_toboolean(L, 3), zca = lua_toboolean(L, 4);
    double eps = luaL_optnumber(L, 5, 1e-5);
    luaL_argcheck(L, k >= 0, 2, "components must be > 0");
    ol_pca *p = (ol_pca *)lua_newuserdatauv(L, sizeof(ol_pca), 1);
    memset(p, 0, sizeof *p);
    luaL_setmetatable(L, OL_PCA_MT);
    ol_error err;
    if (ol_pca_fit(p, x, (int64_t)k, whiten, zca, eps, &err)) ol_l_error(L, 1, &err);

    lua_createtable(L, 0, 10);
    int64_t d = p->dim, kk = p->k;
    push_array(L, p->mean, 1, &d, p->dtype);
    lua_setfield(L, -2, "mean");
    push_array(L, p->components, 2, (int64_t[]){kk, d}, p->dtype);
    lua_setfield(L, -2, "components");
    push_array(L, p->variance, 1, &kk, p->dtype);
    lua_setfield(L, -2, "explained_variance");
    double *ratio = lua_newuserdatauv(L, (size_t)kk * sizeof(double), 0); /* scratch, collected */
    for (int64_t r = 0; r < kk; r++) ratio[r] = p->total_variance > 0 ? p->variance[r] / p->total_variance : 0;
    push_array(L, ratio, 1, &kk, p->dtype);
    lua_setfield(L, -3, "explained_variance_ratio");
    lua_pop(L, 1);
    lua_pushnumber(L, p->total_variance);
    lua_setfield(L, -2, "total_variance");
    lua_pushinteger(L, (lua_Integer)kk);
    lua_setfield(L, -2, "n_components");
    lua_pushinteger(L, (lua_Integer)p->out_dim);
    lua_setfield(L, -2, "out_dim");
    lua_pushboolean(L, p->whiten);
    lua_setfield(L, -2, "whiten");
    lua_pushboolean(L, p->zca);
    lua_setfield(L, -2, "zca");
    lua_pushnumber(L, p->eps);
    lua_setfield(L, -2, "eps");
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* pca:transform(X) -> (X - mean) W */
static int l_transform(lua_State *L) {
    ol_pca *p = check_pca(L, 1);
    ol_tensor *x = ol_l_checktensor(L, 2);
    ol_tensor out;
    ol_error err;
    if (ol_pca_transform(p, x, &out, &err)) ol_l_error(L, 2, &err);
    ol_l_pushtensor(L, &out, 1);
    return 1;
}

/* pca:inverse(Z) -> Z W^-1 + mean */
static int l_inverse(lua_State *L) {
    ol_pca *p = check_pca(L, 1);
    ol_tensor *z = ol_l_checktensor(L, 2);
    ol_tensor out;
    ol_error err;
    if (ol_pca_inverse(p, z, &out, &err)) ol_l_error(L, 2, &err);
    ol_l_pushtensor(L, &out, 1);
    return 1;
}

/* _pca.condition_number(X) -> lambda_max / lambda_min of X's covariance */
static int l_condition_number(lua_State *L) {
    ol_tensor *x = ol_l_checktensor(L, 1);
    double c;
    ol_error err;
    if (ol_pca_condition_number(x, &c, &err)) ol_l_error(L, 1, &err);
    lua_pushnumber(L, c);
    return 1;
}

static int l_index(lua_State *L) {
    luaL_checkudata(L, 1, OL_PCA_MT);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) return 0;
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int l_tostring(lua_State *L) {
    ol_pca *p = check_pca(L, 1);
    lua_pushfstring(L, "pca(%d -> %d%s%s, %s)", (int)p->dim, (int)p->out_dim, p->whiten ? ", whitened" : "",
                    p->zca ? ", zca" : "", ol_dtype_name(p->dtype));
    return 1;
}

static int l_gc(lua_State *L) {
    ol_pca *p = (ol_pca *)luaL_checkudata(L, 1, OL_PCA_MT);
    ol_l_check_idle(L, 1, "PCA");
    ol_pca_free(p);
    return 0;
}

static const luaL_Reg pca_methods[] = {
    {"transform", l_transform},
    {"inverse", l_inverse},
    {NULL, NULL},
};

static const luaL_Reg pca_funcs[] = {
    {"fit", l_fit},
    {"condition_number", l_condition_number},
    {NULL, NULL},
};

void ol_open_pca(lua_State *L) {
    if (luaL_newmetatable(L, OL_PCA_MT)) {
        luaL_newlib(L, pca_methods);
        lua_pushcclosure(L, l_index, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_tostring);
        lua_setfield(L, -2, "__tostring");
        ol_l_protect(L, -1);
    }
    lua_pop(L, 1);
    luaL_newlib(L, pca_funcs);
    lua_setfield(L, -2, "_pca");
}
