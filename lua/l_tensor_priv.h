/* Private to the tensor binding (lua/l_tensor*.c): the userdata layout and
 * the argument helpers the binding files share. Other areas use l_common.h.
 *
 * Argument numbers: every helper takes the Lua STACK index of the argument
 * and reports it through luaL_argerror, which (like Lua's own string
 * methods) does not count self in a method call: `a:mm(b)` blames b as
 * `bad argument #1 to 'mm'`, `ol.mm(a, b)` as `bad argument #2 to 'mm'`,
 * and a problem with self reads `calling 'mm' on bad self (...)`.
 * Metamethods have no Lua-visible name, so their errors name the
 * metamethod itself: `bad argument #2 to '__add' (...)`. */
#ifndef OL_L_TENSOR_PRIV_H
#define OL_L_TENSOR_PRIV_H

#include "l_common.h"

/* The userdata: the header first, so a pointer to it is an ol_tensor *. */
typedef struct ol_l_tensor {
    ol_tensor t;
    int closed; /* set by __close: later use is an error, not a crash */
} ol_l_tensor;

/* Pushes a userdata holding an empty header and returns the header, so that
 * an engine call can fill it in place: nothing leaks if the call (or a Lua
 * error) fails half-way, since the collector owns the userdata already. */
ol_tensor *ol_l_newtensor(lua_State *L);
/* Reports the storage of a tensor filled by ol_l_newtensor to the collector. */
void ol_l_account(lua_State *L, const ol_tensor *t);
/* ol_l_newtensor + engine status in one: raises on -1 (blaming arg), else
 * accounts the fresh storage. */
void ol_l_done(lua_State *L, int status, const ol_tensor *t, int arg, const ol_error *e);

/* `bad argument #arg to 'fn' (fmt...)`, through luaL_argerror. */
int ol_l_argerrorf(lua_State *L, int arg, const char *fmt, ...);
/* The same for metamethods, naming them explicitly (e.g. "__add"). */
int ol_l_metaerrorf(lua_State *L, int arg, const char *name, const char *fmt, ...);

/* A 1-based dimension argument in 1..ndim, returned 0-based. */
int ol_l_checkdim(lua_State *L, int arg, const ol_tensor *t);
/* Shape from a table at arg or from integers at arg..last (one -1 allowed
 * when allow_infer); returns ndim. Each entry must be an integer >= 0. */
int ol_l_checkshape(lua_State *L, int arg, int last, int64_t *shape, int allow_infer);
/* Shape arguments followed by an optional dtype: d1, d2, ... [, dtype] or
 * {d1, d2, ...} [, dtype]. Returns ndim. */
int ol_l_shape_dtype(lua_State *L, int arg, int64_t *shape, ol_dtype *dt);
/* src broadcasts onto dst's shape (in-place ops), or raises at arg. */
void ol_l_checkbroadcast_to(lua_State *L, const ol_tensor *src, const ol_tensor *dst, int arg,
                            const char *meta);
/* a and b broadcast together (a op b), or raises at arg. */
void ol_l_checkbroadcast(lua_State *L, const ol_tensor *a, const ol_tensor *b, int arg,
                         const char *meta);

/* Method and function groups, defined in the l_tensor_*.c files and
 * registered in l_tensor.c. */
/* l_tensor_new.c: constructors (ol.*) */
int ol_l_tensor_new(lua_State *L);
int ol_l_zeros(lua_State *L);
int ol_l_ones(lua_State *L);
int ol_l_empty(lua_State *L);
int ol_l_full(lua_State *L);
int ol_l_eye(lua_State *L);
int ol_l_arange(lua_State *L);
int ol_l_rand(lua_State *L);
int ol_l_randn(lua_State *L);
int ol_l_seed(lua_State *L);

/* l_tensor_view.c: shape queries, element access, views and copies */
int ol_l_shape(lua_State *L);
int ol_l_size(lua_State *L);
int ol_l_dim(lua_State *L);
int ol_l_numel(lua_State *L);
int ol_l_dtype(lua_State *L);
int ol_l_get(lua_State *L);
int ol_l_set(lua_State *L);
int ol_l_view(lua_State *L);
int ol_l_reshape(lua_State *L);
int ol_l_t(lua_State *L);
int ol_l_clone(lua_State *L);
int ol_l_contiguous(lua_State *L);
int ol_l_narrow(lua_State *L);
int ol_l_index(lua_State *L);
int ol_l_copy_(lua_State *L);
int ol_l_fill_(lua_State *L);
int ol_l_zero_(lua_State *L);
int ol_l_to(lua_State *L);
int ol_l_totable(lua_State *L);
/* t[i] and t[i] = v on the header (self at 1, key at 2, value at 3). */
int ol_l_index_int(lua_State *L, ol_tensor *t, lua_Integer i);
void ol_l_newindex_int(lua_State *L, ol_tensor *t, lua_Integer i);

/* l_tensor_math.c: arithmetic, elementwise functions, reductions, BLAS */
int ol_l_add_(lua_State *L);
int ol_l_sub_(lua_State *L);
int ol_l_mul_(lua_State *L);
int ol_l_div_(lua_State *L);
int ol_l_addcmul_(lua_State *L);
int ol_l_addcdiv_(lua_State *L);
int ol_l_clamp_(lua_State *L);
int ol_l_abs(lua_State *L);
int ol_l_sqrt(lua_State *L);
int ol_l_exp(lua_State *L);
int ol_l_log(lua_State *L);
int ol_l_tanh(lua_State *L);
int ol_l_sigmoid(lua_State *L);
int ol_l_sign(lua_State *L);
int ol_l_pow(lua_State *L);
int ol_l_sum(lua_State *L);
int ol_l_mean(lua_State *L);
int ol_l_max(lua_State *L);
int ol_l_min(lua_State *L);
int ol_l_argmax(lua_State *L);
int ol_l_norm(lua_State *L);
int ol_l_dot(lua_State *L);
int ol_l_mm(lua_State *L);
int ol_l_mv(lua_State *L);
int ol_l_meta_add(lua_State *L);
int ol_l_meta_sub(lua_State *L);
int ol_l_meta_mul(lua_State *L);
int ol_l_meta_div(lua_State *L);
int ol_l_meta_unm(lua_State *L);

/* l_tensor_print.c */
int ol_l_tostring(lua_State *L);

#endif
