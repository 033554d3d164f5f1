/* Private to the tensor binding (lua/l_tensor*.c): its method and function
 * groups, which l_tensor.c registers. The userdata and the argument helpers
 * these files share are the kit's (l_common.h). */
#ifndef OL_L_TENSOR_PRIV_H
#define OL_L_TENSOR_PRIV_H

#include "l_common.h"

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
int ol_l_rng_state(lua_State *L);
int ol_l_set_rng_state(lua_State *L);

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
