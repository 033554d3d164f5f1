/* The helper kit every binding file shares, with the argument readers
 * (l_args.h): a binding file (lua/l_*.c) includes only this header, l_args.h,
 * engine headers and its own area's headers (tests/structure/check_deps.py).
 * Declared here: the tensor userdata and its argument helpers, engine
 * errors as Lua errors, the optimizer option converter (l_common.c), Lua
 * closures as the engine's ol_closure callbacks (l_closure.c); the area
 * openers; and the few userdata accessors one area offers the others
 * (models, optimizers, loaders, datasets).
 *
 * A tensor on the Lua side is a full userdata holding an ol_tensor header
 * (metatable OL_TENSOR_MT). Its storage is malloc'd by the engine, so the
 * bindings tell Lua's collector about it (ol_l_pushtensor), which keeps
 * scripts that make many temporary tensors within bounded memory. */
#ifndef OL_L_COMMON_H
#define OL_L_COMMON_H

#include <lauxlib.h>
#include <lua.h>

#include "l_args.h"
#include "nn/nn.h"
#include "core/tensor.h"

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

/* ---- the tensor userdata's helpers (l_common.c) ----
 * Argument numbers: every helper takes the Lua STACK index of the argument
 * and reports it through luaL_argerror, which (like Lua's own string
 * methods) does not count self in a method call: `a:mm(b)` blames b as
 * `bad argument #1 to 'mm'`, `ol.mm(a, b)` as `bad argument #2 to 'mm'`,
 * and a problem with self reads `calling 'mm' on bad self (...)`.
 * Metamethods have no Lua-visible name, so their errors name the
 * metamethod itself: `bad argument #2 to '__add' (...)`. */

/* The userdata: the header first, so a pointer to it is an ol_tensor *. */
typedef struct ol_l_tensor {
    ol_tensor t;
    int closed; /* OL_L_CLOSED or OL_L_FREED: later use is an error, not a crash */
} ol_l_tensor;
enum { OL_L_CLOSED = 1, OL_L_FREED = 2 };
/* Why the tensor u cannot be used: "tensor is closed" (by __close) or
 * "tensor used after it was freed" (by a __gc called by hand). */
const char *ol_l_tensor_gone(const ol_l_tensor *u);

/* Pushes a userdata holding an empty header and returns the header, so that
 * an engine call can fill it in place: nothing leaks if the call (or a Lua
 * error) fails half-way, since the collector owns the userdata already. */
ol_tensor *ol_l_newtensor(lua_State *L);
/* Reports the storage of a tensor filled by ol_l_newtensor to the collector. */
void ol_l_account(lua_State *L, const ol_tensor *t);
/* Reports nbytes of fresh engine memory owned by a new userdata (an
 * optimizer's state) to the collector, as ol_l_account does a tensor's. */
void ol_l_account_bytes(lua_State *L, size_t nbytes);
/* ol_l_newtensor + engine status in one: raises on -1 (blaming arg), else
 * accounts the fresh storage. */
void ol_l_done(lua_State *L, int status, const ol_tensor *t, int arg, const ol_error *e);

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

/* An optimizer's tensors, groups and options from its constructor's
 * arguments (l_optim_params.c), called by l_optim.c: reads 1 (a tensor, a
 * model or a list of groups) and 2 (options) into opt, owned by the
 * userdata at 3 (ol_optim_init, then *live = 1), and leaves 4: the flat
 * parameter buffer, 5: the model or nil, 6: {group -> {tensor names}}. */
struct ol_optim;
struct ol_optim_desc;
void ol_l_optim_build(lua_State *L, const struct ol_optim_desc *d, struct ol_optim *opt, int *live);

/* ---- objects' lifetime (l_common.c) ----
 * Every metatable the bindings make is protected: getmetatable(x) returns
 * a copy of its fields without __gc and __close (so __name, __index and
 * __methods stay readable), and a script cannot free a live object by
 * hand. debug.getmetatable bypasses that, so every __gc may also be called
 * more than once: it leaves its object freed, and every method and
 * metamethod checks that ("optimizer used after it was freed").
 * ol.train, and a step that calls Lua from inside the engine, mark the
 * objects they drive busy for as long as they run: their __gc then raises
 * instead of freeing. */
/* Protects the metatable at idx (call it once its fields are set). */
void ol_l_protect(lua_State *L, int idx);
/* Registers the metatable mt of a binding's objects: the metamethods meta,
 * the methods (kept as __methods too, for the REPL's completion), and
 * __index = index with the method table as its upvalue (index looks there
 * first, then at the object's fields); protected as above. */
void ol_l_new_class(lua_State *L, const char *mt, const luaL_Reg *meta, const luaL_Reg *methods,
                    lua_CFunction index);
/* Raises "<what> used after it was freed". Never returns. */
int ol_l_freed(lua_State *L, const char *what);
/* Marks the values at the stack indices idx[0..n-1] busy, and pushes a
 * to-be-closed guard that unmarks them when the calling C function
 * returns or raises. */
void ol_l_hold(lua_State *L, const int *idx, int n);
/* Raises "cannot free the <what> while it is in use (by ol.train or a
 * step)" when the value at idx is busy: the first check of every __gc and
 * __close. */
void ol_l_check_idle(lua_State *L, int idx, const char *what);

/* Area openers: each adds its functions to the table on top of the stack
 * and registers its metatables. */
void ol_open_tensor(lua_State *L);
void ol_open_tensor_print(lua_State *L); /* ol.print_options (l_tensor_print.c) */
void ol_open_pca(lua_State *L); /* ol._pca: C side of ol.pca (l_pca.c) */
void ol_open_optim(lua_State *L); /* ol.optim (l_optim.c) */
/* For C code driving an optimizer made in Lua (the training loop): the
 * ol_optim inside the optimizer userdata at idx, or NULL; and applying its
 * schedules before step t, the step about to be taken (from 1): field <-
 * f(t) for each, raising on a bad value with the option and t named. */
struct ol_optim;
struct ol_optim *ol_l_tooptim(lua_State *L, int idx);
void ol_l_optim_schedules(lua_State *L, int idx, int64_t t);
/* An optimizer with a lookahead (nag: engine/optim/nag.c) steps in one of
 * two forms, which keep different points in the parameters: the closure
 * form (opt:step(closure), and ol.train) keeps w, the gradient form
 * (opt:step(grad), opt:step()) the lookahead point. A run keeps to one
 * form: its optimizer userdata (at idx) records the form and the step
 * count after each stepping call in user value OL_OPTIM_UV_FORM. check
 * raises, naming both forms, when the run so far was in the other form;
 * how names the call ("ol.train", "opt:step(grad)"). A step count other
 * than the recorded one (after opt:reset(), ck:restore) starts afresh.
 * Both do nothing for optimizers without a lookahead. */
#define OL_OPTIM_UV_FORM 4
enum { OL_FORM_CLOSURE = 1, OL_FORM_GRADIENT = 2 };
void ol_l_optim_check_form(lua_State *L, int idx, const struct ol_optim *opt, int form, const char *how);
void ol_l_optim_record_form(lua_State *L, int idx, const struct ol_optim *opt, int form);
/* The one converter between an optimizer option's values and its Lua value
 * (l_common.c): a number, a boolean, an enum choice's name, a pair {a, b}.
 * check reads the value at idx into v (elem 0: the whole option, v[0] and
 * for a pair v[1]; elem 1 or 2: that element of a pair, a number, into
 * v[0]), or fails with err ("option 'lr' must be a number, got string");
 * ranges are the engine's to check. push pushes the value of op whose
 * value(s) start at v (an instance's o + op->slot). */
struct ol_optim_option;
int ol_l_optim_check_option(lua_State *L, int idx, const struct ol_optim_option *op, int elem,
                            double *v, ol_error *err);
void ol_l_optim_push_option(lua_State *L, const struct ol_optim_option *op, const double *v);
void ol_open_nn(lua_State *L);   /* ol.nn and ol.init (l_nn.c, l_init.c) */
void ol_open_init(lua_State *L); /* ol.init, called by ol_open_nn */
void ol_open_data(lua_State *L); /* ol.data (l_data.c) */
void ol_open_train(lua_State *L); /* ol.train, ol.evaluate (l_train.c) */
void ol_open_checkpoint(lua_State *L); /* ol.save, ol.load (l_checkpoint.c) */
void ol_open_dist(lua_State *L); /* ol.dist: rank, size, allreduce, ... (l_dist.c) */
void ol_open_average(lua_State *L); /* ol.average: ema, swa (l_average.c) */
/* Weight averages (l_average.c): the engine average inside the average
 * userdata at idx, or NULL if it is not one; raises "average used after
 * it was freed" for a freed one. For ol.train and checkpoints. */
struct ol_average;
struct ol_average *ol_l_toaverage(lua_State *L, int idx);

/* l_checkpoint.c: the checkpoint ol.load read for the ck table at idx, or
 * NULL. */
struct ol_checkpoint;
const struct ol_checkpoint *ol_l_tocheckpoint(lua_State *L, int idx);
/* Lua values to and from the JSON of checkpoint metadata (l_common.c):
 * to: NULL with *why set (no Lua error) when the value cannot be stored. */
struct json_t;
struct json_t *ol_l_to_json(lua_State *L, int idx, const char **why);
void ol_l_push_json(lua_State *L, struct json_t *j);

void ol_open_second(lua_State *L); /* ol.hessian, ol.hvp, ol.eig, ol.cond, ol.hessian_eigs (l_second.c) */
void ol_open_landscape(lua_State *L); /* ol._landscape: C side of ol.landscape (l_landscape.c) */

/* ---- Lua closures as the engine's ol_closure callbacks (l_closure.c) ----
 * For the optimizers' closure step (l_optim.c) and the curvature tools
 * (l_second.c). A batch for a model, as doubles (x, and class ids or dense
 * targets), and the callbacks' context: the closure at stack index fn
 * (called as fn(w) when pass_w, w's userdata at errslot + 1), the Lua error
 * slot, and the model for exact curvature products. */
typedef struct ol_l_batch {
    const double *x, *dense;
    const int32_t *ids;
    int64_t n;
    ol_loss_spec loss; /* the weights, if any, kept on the stack by the caller */
} ol_l_batch;

typedef struct ol_l_cb {
    lua_State *L;
    ol_tensor *w;   /* where the closure reads the parameters */
    int fn;         /* stack index of the closure */
    int pass_w;     /* call fn(w) rather than fn() */
    int errslot;    /* stack index that receives a Lua error */
    int failed;
    const char *what;
    ol_model *model; /* exact products when not NULL */
    ol_l_batch b;
} ol_l_cb;

/* The n values of t from doubles / as doubles (any strides when reading). */
void ol_l_write_vec(ol_tensor *t, const double *w);
void ol_l_read_vec(const ol_tensor *t, double *out);
/* ol_closure's fg and bv over an ol_l_cb. */
int ol_l_cb_fg(void *ud, const double *w, double *loss, double *g, ol_error *err);
int ol_l_cb_bv(void *ud, const double *w, const double *v, double *out, int gn, ol_error *err);
/* Raises the kept Lua error, or the engine's message for argument arg. */
int ol_l_cb_raise(lua_State *L, const ol_l_cb *c, int arg, const ol_error *err);
/* n doubles in a new userdata pushed on the stack. */
double *ol_l_new_doubles(lua_State *L, int64_t n);
/* The loss named at arg ("cross_entropy" when absent), or `bad argument
 * #arg to 'fname' (unknown loss 'x' (expected cross_entropy, mse, bce or huber))`
 * with the engine's names (fname NULL: named as luaL_argerror does). */
ol_loss_kind ol_l_check_loss(lua_State *L, int arg, const char *fname);
/* The loss kind with its options from the table at stack index idx (nil or
 * none: the defaults) for a model of c outputs, read by the option kit:
 * cross_entropy takes label_smoothing (in [0, 1], default 0) and weight (c
 * finite values >= 0, a tensor or a list), huber takes delta (> 0, default
 * 1); an option of another loss, or an unknown one, is an error naming it
 * and fname, blaming argument arg. Pushes one value, the weights as doubles
 * in a userdata (nil without): spec.weight points into it, so the caller
 * keeps it on the stack while the engine reads spec. */
ol_loss_spec ol_l_loss_options(lua_State *L, int idx, int arg, const char *fname, ol_loss_kind kind,
                               int64_t c);
/* Checks x (#xi), the target (#ti) and the loss (#ki) for the model at net
 * by the engine's input and target rules (nn.h), errors naming fname, then
 * reads x and the target into doubles left on the stack. */
ol_l_batch ol_l_get_batch(lua_State *L, int net, int xi, int ti, int ki, const char *fname);

/* Models (l_nn.c): the engine model of the model userdata at idx, or NULL
 * if it is not one. Its flat params/grads: ol_model_params/grads, its 2-D
 * weights: ol_model_param_info (engine/nn/nn.h). */
#define OL_MODEL_MT "optlua.model"
typedef struct ol_model ol_model;
ol_model *ol_l_tomodel(lua_State *L, int idx);

/* Data (l_data.c): the engine loader or dataset of the userdata at idx,
 * or NULL if it is not one; for bindings that drive them from C (the
 * training loop, ol.evaluate). */
typedef struct ol_loader ol_loader;
typedef struct ol_dataset ol_dataset;
ol_loader *ol_l_toloader(lua_State *L, int idx);
const ol_dataset *ol_l_todataset(lua_State *L, int idx);

#endif
