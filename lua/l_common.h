/* What every binding file shares: the tensor userdata, argument checks that
 * word errors the Lua way, and turning engine errors into Lua errors.
 *
 * A tensor on the Lua side is a full userdata holding an ol_tensor header
 * (metatable OL_TENSOR_MT). Its storage is malloc'd by the engine, so the
 * bindings tell Lua's collector about it (ol_l_pushtensor), which keeps
 * scripts that make many temporary tensors within bounded memory. */
#ifndef OL_L_COMMON_H
#define OL_L_COMMON_H

#include <lauxlib.h>
#include <lua.h>

#include "tensor.h"

#define OL_TENSOR_MT "optlua.tensor"

/* The tensor at idx, or a `bad argument #idx to 'fn' (tensor expected, got X)` error. */
ol_tensor *ol_l_checktensor(lua_State *L, int idx);
/* The tensor at idx or NULL. */
ol_tensor *ol_l_totensor(lua_State *L, int idx);
/* Moves the header *t into a new userdata pushed on the stack (t owns nothing
 * afterwards). fresh: the storage was just allocated for this tensor, so its
 * size is reported to the garbage collector. Returns the userdata's header. */
ol_tensor *ol_l_pushtensor(lua_State *L, ol_tensor *t, int fresh);
/* Raises `bad argument #arg to 'fn' (msg)`, or a plain error naming the
 * function when arg is 0. Never returns. */
int ol_l_error(lua_State *L, int arg, const ol_error *e);
/* Optional dtype name ("f32"/"f64") at idx, def when absent or nil. */
ol_dtype ol_l_optdtype(lua_State *L, int idx, ol_dtype def);
/* Both tensors share a dtype, or `bad argument #arg_b to ... (f32 and f64 mixed...)`. */
void ol_l_checksamedtype(lua_State *L, const ol_tensor *a, const ol_tensor *b, int arg_b);

/* Area openers: each adds its functions to the table on top of the stack
 * and registers its metatables. */
void ol_open_tensor(lua_State *L);

#endif
