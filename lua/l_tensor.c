/* The tensor type's registration: every Lua-visible name of the type, the
 * metamethods that are not arithmetic (__index, __newindex, __len, __gc,
 * __close) and ol.istensor. The methods live in l_tensor_new.c,
 * l_tensor_view.c, l_tensor_math.c and l_tensor_print.c; the userdata and
 * its argument helpers are the kit's (l_common.c). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "l_tensor_priv.h"

/* ---- metamethods other than arithmetic ---- */

/* The userdata at 1 of a metamethod, open. */
static ol_tensor *meta_self(lua_State *L, const char *name) {
    ol_l_tensor *u = (ol_l_tensor *)luaL_testudata(L, 1, OL_TENSOR_MT);
    if (!u) {
        ol_arg_error(L, 1, name, "tensor expected, got %s", luaL_typename(L, 1));
        return NULL;
    }
    if (u->closed) ol_arg_error(L, 1, name, "%s", ol_l_tensor_gone(u));
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
    if (!isint) ol_arg_error(L, 2, "__index", "index must be an integer, got %s", lua_tostring(L, 2));
    return ol_l_index_int(L, t, i);
}

static int m_newindex(lua_State *L) {
    ol_tensor *t = meta_self(L, "__newindex");
    if (lua_type(L, 2) != LUA_TNUMBER)
        ol_arg_error(L, 2, "__newindex", "tensors have no fields to assign, only integer indices (got %s)",
                        luaL_typename(L, 2));
    int isint = 0;
    lua_Integer i = lua_tointegerx(L, 2, &isint);
    if (!isint) ol_arg_error(L, 2, "__newindex", "index must be an integer, got %s", lua_tostring(L, 2));
    ol_l_newindex_int(L, t, i);
    return 0;
}

static int m_len(lua_State *L) {
    ol_tensor *t = meta_self(L, "__len");
    if (t->ndim == 0) ol_arg_error(L, 1, "__len", "a scalar tensor has no length");
    lua_pushinteger(L, (lua_Integer)t->shape[0]);
    return 1;
}

/* Also when called by hand (debug.getmetatable): the header stays behind
 * marked freed. */
static int m_gc(lua_State *L) {
    ol_l_tensor *u = (ol_l_tensor *)luaL_testudata(L, 1, OL_TENSOR_MT);
    if (u) {
        ol_l_check_idle(L, 1, "tensor");
        ol_tensor_release(&u->t);
        u->closed = OL_L_FREED;
    }
    return 0;
}

/* `local t <close> = ...`: storage is released at once; the header stays
 * behind marked closed so later use raises "tensor is closed". */
static int m_close(lua_State *L) {
    ol_l_tensor *u = (ol_l_tensor *)luaL_testudata(L, 1, OL_TENSOR_MT);
    if (u && !u->closed) {
        ol_l_check_idle(L, 1, "tensor");
        ol_tensor_release(&u->t);
        u->closed = OL_L_CLOSED;
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
    {"_rng_state", ol_l_rng_state}, {"_rng_set_state", ol_l_set_rng_state}, {NULL, NULL}};

void ol_open_tensor(lua_State *L) {
    ol_l_new_class(L, OL_TENSOR_MT, tensor_meta, tensor_methods, m_index);
    luaL_setfuncs(L, tensor_functions, 0);
}
