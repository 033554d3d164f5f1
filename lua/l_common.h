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

/* Optimizers built from parts (muon; l_optim_blocks.c), called by l_optim.c:
 * spreads {fallback = {lr = 1}} into {fallback_lr = 1} in the options table
 * at idx, and tells opt where the 2-D weights of the params at idx (a
 * model's :parameters(), or a 2-D tensor) lie in the flat buffer w. */
struct ol_optim;
struct ol_optim_desc;
void ol_l_optim_suboptions(lua_State *L, const struct ol_optim_desc *d, int idx);
void ol_l_optim_blocks(lua_State *L, struct ol_optim *opt, int idx, const ol_tensor *w,
                       const char *fname);

/* Area openers: each adds its functions to the table on top of the stack
 * and registers its metatables. */
void ol_open_tensor(lua_State *L);
void ol_open_pca(lua_State *L); /* ol._pca: C side of ol.pca (l_pca.c) */
void ol_open_optim(lua_State *L); /* ol.optim (l_optim.c) */
/* For C code driving an optimizer made in Lua (the training loop): the
 * ol_optim inside the optimizer userdata at idx, or NULL; and applying its
 * schedules before a step (field <- f(t + 1), raising on a bad value). */
struct ol_optim;
struct ol_optim *ol_l_tooptim(lua_State *L, int idx);
void ol_l_optim_schedules(lua_State *L, int idx);
void ol_open_nn(lua_State *L);   /* ol.nn and ol.init (l_nn.c, l_init.c) */
void ol_open_init(lua_State *L); /* ol.init, called by ol_open_nn */
void ol_open_data(lua_State *L); /* ol.data (l_data.c) */
void ol_open_train(lua_State *L); /* ol.train, ol.evaluate (l_train.c) */
void ol_open_checkpoint(lua_State *L); /* ol.save, ol.load (l_checkpoint.c) */
void ol_open_dist(lua_State *L); /* ol.dist: rank, size, allreduce, ... (l_dist.c) */

void ol_open_second(lua_State *L); /* ol.hessian, ol.hvp, ol.eig, ol.cond, ol.hessian_eigs (l_second.c) */
/* Steps a closure method (newton, cg, lbfgs, hessian_free) for l_optim.c:
 * self, the params tensor and the model (0: none) at these stack indices,
 * the closure (or x, target, kind on a model) from index 2. Returns the
 * number of results (the loss). */
int ol_l_second_step(lua_State *L, struct ol_optim *opt, int self, int params, int model);

/* Models (l_nn.c): the engine model of the model userdata at idx, or NULL
 * if it is not one. Its flat params/grads: ol_model_params/grads, its 2-D
 * weights: ol_model_param_info (engine/nn/nn.h). */
#define OL_MODEL_MT "optlua.model"
typedef struct ol_model ol_model;
ol_model *ol_l_tomodel(lua_State *L, int idx);

#endif
