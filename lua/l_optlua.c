/* The optlua library table: engine areas registered from C, the Lua-side
 * modules (the files under lua/optlua) found in the binary by a package searcher and
 * loaded on first use as fields of the table (ol.schedule, ol.plot, ...). */
#include <string.h>
#include <time.h>

#include "embedded.h"
#include "l_common.h"
#include "l_optlua.h"
#include "core/threads.h"

static const ol_embedded_module *find_embedded(const char *name) {
    for (const ol_embedded_module *m = ol_embedded_modules; m->name; m++)
        if (strcmp(m->name, name) == 0) return m;
    return NULL;
}

/* package.searchers entry: embedded modules come right after preload. */
static int searcher_embedded(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    const ol_embedded_module *m = find_embedded(name);
    if (!m) {
        lua_pushfstring(L, "no embedded module '%s'", name);
        return 1;
    }
    if (luaL_loadbufferx(L, m->source, m->len, m->chunkname, "t") != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, m->chunkname + 1);
    return 2;
}

static void install_searcher(lua_State *L) {
    lua_getglobal(L, "package");
    if (!lua_istable(L, -1)) { lua_pop(L, 1); return; }
    lua_getfield(L, -1, "searchers");
    if (lua_istable(L, -1)) {
        /* Skip if already installed (the module may be required twice). */
        int n = (int)lua_rawlen(L, -1), found = 0;
        for (int i = 1; i <= n && !found; i++) {
            lua_rawgeti(L, -1, i);
            found = lua_tocfunction(L, -1) == searcher_embedded;
            lua_pop(L, 1);
        }
        if (!found) {
            for (int i = n; i >= 2; i--) { /* shift up, insert at 2 */
                lua_rawgeti(L, -1, i);
                lua_rawseti(L, -2, i + 1);
            }
            lua_pushcfunction(L, searcher_embedded);
            lua_rawseti(L, -2, 2);
        }
    }
    lua_pop(L, 2);
}

/* ol.NAME for a Lua-side module optlua/NAME.lua: required on first access. */
static int lazy_index(lua_State *L) {
    const char *key = lua_tostring(L, 2);
    if (!key) return 0;
    lua_pushfstring(L, "optlua.%s", key);
    const char *modname = lua_tostring(L, -1);
    if (!find_embedded(modname)) return 0;
    lua_getglobal(L, "require");
    lua_pushvalue(L, -2);
    lua_call(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

/* ol.threads([n]) -> the thread count in force (after setting it to n). */
static int l_threads(lua_State *L) {
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer n = luaL_checkinteger(L, 1);
        luaL_argcheck(L, n >= 0, 1, "thread count must be >= 0 (0: all cores)");
        ol_set_threads((int)n);
    }
    lua_pushinteger(L, ol_get_threads());
    return 1;
}

/* ol.clock() -> seconds on the monotonic wall clock (os.clock is CPU time,
 * which BLAS threads inflate): for timing steps and benchmarks. */
static int l_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + 1e-9 * (lua_Number)ts.tv_nsec);
    return 1;
}

/* ol.blas() -> {config = "OpenBLAS 0.3.21 ...", core = "Haswell"}: the BLAS
 * build and the core whose kernels it runs here. Results of products can
 * differ in their last bits from one core to another. */
static int l_blas(lua_State *L) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, ol_blas_config());
    lua_setfield(L, -2, "config");
    lua_pushstring(L, ol_blas_core());
    lua_setfield(L, -2, "core");
    return 1;
}

/* ol.modules() -> sorted names of the embedded Lua modules (REPL help,
 * completion). */
static int l_modules(lua_State *L) {
    lua_newtable(L);
    int i = 0;
    for (const ol_embedded_module *m = ol_embedded_modules; m->name; m++) {
        lua_pushstring(L, m->name);
        lua_rawseti(L, -2, ++i);
    }
    return 1;
}

int ol_luaopen(lua_State *L) {
    /* One table per state: require "optlua" and the global are the same. */
    lua_getfield(L, LUA_REGISTRYINDEX, "optlua.lib");
    if (lua_istable(L, -1)) return 1;
    lua_pop(L, 1);

    install_searcher(L);
    lua_newtable(L);
    ol_open_tensor(L);
    ol_open_tensor_print(L);
    OL_AREA_OPENERS(L);
    lua_pushcfunction(L, l_threads);
    lua_setfield(L, -2, "threads");
    lua_pushcfunction(L, l_clock);
    lua_setfield(L, -2, "clock");
    lua_pushcfunction(L, l_blas);
    lua_setfield(L, -2, "blas");
    lua_pushcfunction(L, l_modules);
    lua_setfield(L, -2, "modules");
    lua_pushliteral(L, OL_VERSION);
    lua_setfield(L, -2, "version");

    lua_newtable(L); /* metatable: lazy Lua-side modules */
    lua_pushcfunction(L, lazy_index);
    lua_setfield(L, -2, "__index");
    ol_l_protect(L, -1);
    lua_setmetatable(L, -2);

    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "optlua.lib");
    return 1;
}
