/* ol.dist: the process world of data-parallel training (core/comm.h).
 * Under an MPI launcher (`mpirun -np N optlua train.lua`) the calls talk to
 * the other ranks; in a plain `optlua` they work as a world of one (rank
 * 0, size 1; allreduce and broadcast leave the tensor as it is), so the
 * same script runs either way. MPI starts on the first call, never in a
 * plain run.
 *
 * The world is engine/dist, built as a shared object of its own
 * (OL_DIST_OBJECT, where ol_comm_load looks) and loaded at the first call
 * that needs it, so that a script that never uses ol.dist never loads MPI.
 * Without that file, such a call fails with "ol.dist: cannot load PATH:
 * REASON".
 *
 * Ranks are MPI's ranks, 0 .. size-1, not 1-based: they are names of
 * processes (the ones mpirun prints and OMPI_COMM_WORLD_RANK holds), not
 * positions in a Lua array, and rank 0 is the root that prints and writes.
 * broadcast's root is such a rank (default 0).
 *
 *   ol.dist.rank()  ol.dist.size()  ol.dist.barrier()
 *   ol.dist.allreduce(t [, "sum" | "mean" | "max"]) -> t   (in place)
 *   ol.dist.broadcast(t [, root = 0]) -> t                  (in place)
 *   ol.dist.is_initialized() -> true once MPI runs
 *   ol.dist.backend            "mpi" or "none" (built without MPI) */
#include <string.h>

#include "core/comm.h"
#include "dist/dist.h" /* OL_DIST_ENTRY: the name of the object's entry point */
#include "l_common.h"

/* Upvalue 1 of every function of ol.dist: the object's entry point, once
 * loaded. */
typedef struct loaded {
    ol_comm_entry entry;
} loaded;

/* The world, loaded and started on first use. */
static const ol_comm *world(lua_State *L) {
    loaded *u = lua_touserdata(L, lua_upvalueindex(1));
    ol_error err;
    if (!u->entry && ol_comm_load(OL_DIST_OBJECT, OL_DIST_ENTRY, &u->entry, &err))
        luaL_error(L, "ol.dist: %s", err.msg);
    const ol_comm *w;
    if (u->entry(&w, &err)) ol_l_error(L, 0, &err);
    return w;
}

static int l_rank(lua_State *L) {
    lua_pushinteger(L, ol_comm_rank(world(L)));
    return 1;
}

static int l_size(lua_State *L) {
    lua_pushinteger(L, ol_comm_size(world(L)));
    return 1;
}

static int l_is_initialized(lua_State *L) {
    lua_pushboolean(L, world(L)->started());
    return 1;
}

/* A tensor the collectives can work on in place: contiguous. */
static ol_tensor *check_contiguous(lua_State *L, int idx, const char *fname) {
    ol_tensor *t = ol_l_totensor(L, idx);
    if (!t) ol_arg_expected(L, idx, fname, "tensor");
    if (!ol_tensor_is_contiguous(t)) {
        char shape[96];
        ol_arg_error(L, idx, fname, "contiguous tensor expected, got a strided %s view "
                                    "(use :contiguous() and copy back)",
                     ol_shape_str(t, shape, sizeof shape));
    }
    return t;
}

static int l_allreduce(lua_State *L) {
    static const char *const ops[] = {"sum", "mean", "max", NULL};
    static const ol_comm_op codes[] = {OL_COMM_SUM, OL_COMM_MEAN, OL_COMM_MAX};
    ol_tensor *t = check_contiguous(L, 1, "allreduce");
    int op = 0; /* "sum" when absent */
    if (!lua_isnoneornil(L, 2)) {
        const char *name = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
        while (ops[op] && !(name && strcmp(ops[op], name) == 0)) op++;
        if (!ops[op])
            return ol_arg_error(L, 2, "allreduce", "operation must be 'sum', 'mean' or 'max', got %s%s%s",
                                name ? "'" : "", name ? name : luaL_typename(L, 2), name ? "'" : "");
    }
    lua_settop(L, 1);
    ol_error err;
    if (ol_comm_allreduce_tensor(world(L), t, codes[op], &err)) return ol_l_error(L, 0, &err);
    return 1;
}

static int l_broadcast(lua_State *L) {
    ol_tensor *t = check_contiguous(L, 1, "broadcast");
    if (!lua_isnoneornil(L, 2) && !lua_isinteger(L, 2)) return ol_arg_expected(L, 2, "broadcast", "integer");
    lua_Integer root = luaL_optinteger(L, 2, 0);
    const ol_comm *w = world(L);
    int size = ol_comm_size(w);
    if (root < 0 || root >= size)
        return ol_arg_error(L, 2, "broadcast", "root %lld is not a rank (0..%d)", (long long)root, size - 1);
    lua_settop(L, 1);
    ol_error err;
    if (ol_comm_broadcast_tensor(w, t, (int)root, &err)) return ol_l_error(L, 0, &err);
    return 1;
}

static int l_barrier(lua_State *L) {
    ol_error err;
    if (ol_comm_barrier(world(L), &err)) return ol_l_error(L, 0, &err);
    return 0;
}

/* ol.dist's __index: `backend` is the loaded world's. */
static int l_index(lua_State *L) {
    const char *key = lua_tostring(L, 2);
    if (!key || strcmp(key, "backend") != 0) return 0;
    lua_pushstring(L, world(L)->backend);
    return 1;
}

static const luaL_Reg dist_funcs[] = {
    {"rank", l_rank},           {"size", l_size},           {"allreduce", l_allreduce},
    {"broadcast", l_broadcast}, {"barrier", l_barrier},     {"is_initialized", l_is_initialized},
    {NULL, NULL}};

void ol_open_dist(lua_State *L) {
    luaL_newlibtable(L, dist_funcs);
    loaded *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->entry = NULL;
    lua_createtable(L, 0, 1); /* ol.dist's metatable */
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, l_index, 1);
    lua_setfield(L, -2, "__index");
    ol_l_protect(L, -1);
    lua_setmetatable(L, -3);
    luaL_setfuncs(L, dist_funcs, 1);
    lua_setfield(L, -2, "dist");
}
