/* ol.dist: the process world of data-parallel training (engine/dist/dist.h).
 * Under an MPI launcher (`mpirun -np N optlua train.lua`) the calls talk to
 * the other ranks; in a plain `optlua` they work as a world of one (rank
 * 0, size 1; allreduce and broadcast leave the tensor as it is), so the
 * same script runs either way. MPI starts on the first call, never in a
 * plain run.
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

#include "dist/dist.h"
#include "l_common.h"

static void check_world(lua_State *L) {
    ol_error err;
    if (ol_dist_init(&err)) ol_l_error(L, 0, &err);
}

static int l_rank(lua_State *L) {
    check_world(L);
    lua_pushinteger(L, ol_dist_rank());
    return 1;
}

static int l_size(lua_State *L) {
    check_world(L);
    lua_pushinteger(L, ol_dist_size());
    return 1;
}

static int l_is_initialized(lua_State *L) {
    check_world(L);
    lua_pushboolean(L, ol_dist_is_initialized());
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
    static const ol_dist_op codes[] = {OL_DIST_SUM, OL_DIST_MEAN, OL_DIST_MAX};
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
    if (ol_dist_allreduce_tensor(t, codes[op], &err)) return ol_l_error(L, 0, &err);
    return 1;
}

static int l_broadcast(lua_State *L) {
    ol_tensor *t = check_contiguous(L, 1, "broadcast");
    if (!lua_isnoneornil(L, 2) && !lua_isinteger(L, 2)) return ol_arg_expected(L, 2, "broadcast", "integer");
    lua_Integer root = luaL_optinteger(L, 2, 0);
    check_world(L);
    int size = ol_dist_size();
    if (root < 0 || root >= size)
        return ol_arg_error(L, 2, "broadcast", "root %lld is not a rank (0..%d)", (long long)root, size - 1);
    lua_settop(L, 1);
    ol_error err;
    if (ol_dist_broadcast_tensor(t, (int)root, &err)) return ol_l_error(L, 0, &err);
    return 1;
}

static int l_barrier(lua_State *L) {
    ol_error err;
    if (ol_dist_barrier(&err)) return ol_l_error(L, 0, &err);
    return 0;
}

static const luaL_Reg dist_funcs[] = {
    {"rank", l_rank},           {"size", l_size},           {"allreduce", l_allreduce},
    {"broadcast", l_broadcast}, {"barrier", l_barrier},     {"is_initialized", l_is_initialized},
    {NULL, NULL}};

void ol_open_dist(lua_State *L) {
    luaL_newlib(L, dist_funcs);
    lua_pushstring(L, ol_dist_backend());
    lua_setfield(L, -2, "backend");
    lua_setfield(L, -2, "dist");
}
