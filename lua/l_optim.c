/* ol.optim: every optimizer in the engine's registry, as Lua objects with
 * live option fields.
 *
 *   local opt = ol.optim.NAME(params, {option = value, ...})
 *   local la = ol.optim.lookahead(opt, {k = 5, alpha = 0.5})   a wrapper
 *   opt:step(closure) / opt:step(grad) / opt:step()   opt.lr = 0.01
 *   opt.t   opt:state()   opt:reset()   opt:schedule(field, f)
 *   opt:eval()   opt:train()   opt.mode
 *
 * params is a tensor updated in place, or a model: anything with
 * :params() and :grads() methods returning flat tensors (called through
 * Lua, so this file knows nothing of the model's internals). The userdata
 * keeps, as user values, the params tensor (1), the model or nil (2), the
 * schedules' functions (3), an array in the order they were attached, and
 * the form of a lookahead optimizer's run (OL_OPTIM_UV_FORM, the kit's:
 * l_common.h); the option field each schedule sets is resolved when it is
 * attached and kept beside the engine's optimizer.
 *
 * Besides the options, opt.t, opt.name, opt.dtype, opt.params (the tensor
 * it updates), opt.mode ("train" or "eval") and, for the closure methods
 * and the optimizers with a desc->describe (shampoo, soap: which matrices'
 * sides use the identity), opt.info are read-only fields;
 * pairs(opt) walks the options, then these (the REPL completes from it).
 * ol.optim.NAME of a name that is no optimizer is an error naming the
 * known ones.
 *
 * A wrapper (lookahead) has its own options (k, alpha), fields and state
 * (slow_weights), and opt.inner, the optimizer it steps. A name that is
 * none of its own options or fields is its inner's: la.lr reads and sets
 * the inner's lr, la:schedule("lr", f) schedules it (the inner's
 * schedules run before each step of the wrapper, at the inner's step
 * number), so that code written for one optimizer drives the pair.
 * opt:reset() resets both; opt:eval()/opt:train() switch the inner.
 *
 * Option values cross the boundary as Lua types: numbers, booleans, enum
 * names (strings), pairs as {a, b}; ol_l_optim_check_option and
 * ol_l_optim_push_option (the kit, l_common.c) are the one converter, used by the
 * constructors, the live fields, schedules, options(), defaults(), list()
 * and checkpoints. Every assignment goes through the engine's checks
 * (ol_optim_set_field), so a bad value never reaches a kernel. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l_common.h"
#include "optim/optim.h"
#include "optim/second.h"

#define OL_OPTIM_MT "optlua.optim"

/* UV_INNER: a wrapper's (lookahead's) inner optimizer userdata, nil for the others. */
enum { UV_PARAMS = 1, UV_MODEL = 2, UV_SCHED = 3, UV_NAMES = OL_OPTIM_UV_FORM + 1, UV_INNER, NUV = UV_INNER };
#define OL_GROUP_MT "optlua.optim.group"

/* A schedule: the field it sets, in one group or in all (-1). */
typedef struct l_sched {
    ol_optim_field f;
    int group;
} l_sched;

typedef struct l_optim {
    ol_optim opt;
    int live; /* ol_optim_init succeeded: __gc must free */
    int wrapped; /* wrappers built over this optimizer and not freed: it cannot be freed */
    int nsched, capsched;
    l_sched *sched; /* set by the functions at UV_SCHED[1..nsched] */
    int held;       /* ol._hold_schedules: the schedules are not run */
} l_optim;

static l_optim *check_optim(lua_State *L, int idx) {
    l_optim *u = (l_optim *)luaL_checkudata(L, idx, OL_OPTIM_MT);
    if (!u->live) ol_l_freed(L, "optimizer");
    return u;
}

/* ---- closure methods' step (newton, cg, lbfgs, hessian_free) ----
 * The closure is at 2, or x, target, kind at 2..4 on an optimizer built on
 * a model (the model at stack index `model`, 0: none): then the closure is
 * net:evaluate(x, target, kind) and the curvature products are exact
 * (R-operator, engine/nn/rop.c) instead of differences. params: the stack
 * index of the params tensor. Returns the number of results (the loss). */

static int evaluate_closure(lua_State *L) {
    /* upvalues: net, x, target, kind */
    lua_getfield(L, lua_upvalueindex(1), "evaluate");
    for (int i = 1; i <= 4; i++) lua_pushvalue(L, lua_upvalueindex(i));
    lua_call(L, 4, 2);
    return 2;
}

static int closure_step(lua_State *L, ol_optim *opt, int params, int model) {
    ol_error err;
    ol_tensor *w = ol_l_totensor(L, params);
    ol_l_cb c = {.L = L, .w = w, .what = "closure"};
    int exact = 0;
    if (lua_isfunction(L, 2)) {
        c.fn = 2;
    } else if (model && ol_l_tomodel(L, model) && ol_l_totensor(L, 2)) {
        /* opt:step(x, target [, kind]) */
        c.model = ol_l_tomodel(L, model);
        c.b = ol_l_get_batch(L, model, 2, 3, 4, "step");
        lua_pushvalue(L, model);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, 3);
        lua_pushvalue(L, 4);
        lua_pushcclosure(L, evaluate_closure, 4);
        c.fn = lua_gettop(L);
        c.what = "net:evaluate";
        exact = 1;
    } else {
        return ol_arg_error(L, 2, NULL, "%s", model ? "closure or (x, target [, kind]) expected"
                                                    : "closure expected (this optimizer evaluates the loss several times per step)");
    }
    lua_pushnil(L);
    c.errslot = lua_gettop(L);
    double *wd = ol_l_new_doubles(L, opt->n);
    ol_l_read_vec(w, wd);
    ol_closure f = {.n = opt->n, .fg = ol_l_cb_fg, .bv = exact ? ol_l_cb_bv : NULL, .ud = &c,
                     .eps = w->dtype == OL_F32 ? FLT_EPSILON : DBL_EPSILON};
    double loss = NAN;
    int rc = ol_optim_closure_step(opt, wd, &f, &loss, &err);
    ol_l_write_vec(w, wd); /* also after a failure: a point the closure has seen */
    if (rc) return ol_l_cb_raise(L, &c, 2, &err);
    lua_pushnumber(L, loss);
    return 1;
}

/* Stores the Lua value at idx into field f of group g (-1: every group),
 * through the converter and the engine's checks; 0, or -1 with err. */
static int store(lua_State *L, l_optim *u, int g, ol_optim_field f, int idx, ol_error *err) {
    double v[2] = {0, 0};
    if (ol_l_optim_check_option(L, idx, f.option, f.elem, v, err)) return -1;
    return ol_optim_group_set_field(&u->opt, g, f, v, err);
}

/* The names of d's options, for an unknown option's did-you-mean. */
static int option_names(const ol_optim_desc *d, const char **names, int max) {
    int n = 0;
    for (int i = 0; i < d->noptions && n < max; i++) names[n++] = d->options[i].name;
    return n;
}

/* ol.optim.NAME(params [, options]); upvalue 1: the descriptor. Errors
 * name the constructor: `bad argument #2 to 'sgd' (option 'lr' must be ...)`.
 * params: a tensor, a model or a list of groups (l_optim_params.c). */
static int l_new(lua_State *L) {
    const ol_optim_desc *d = lua_touserdata(L, lua_upvalueindex(1));
    lua_settop(L, 2);
    l_optim *u = lua_newuserdatauv(L, sizeof *u, NUV); /* 3 */
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, OL_OPTIM_MT);
    ol_l_optim_build(L, d, &u->opt, &u->live); /* 4: buffer, 5: model or nil, 6: names */
    /* The state lives outside Lua's heap: tell the collector its size, as
     * for a tensor's storage (l_common.c). */
    size_t bytes = u->opt.work.st ? u->opt.work.st->nbytes : 0;
    for (int i = 0; i < OL_OPTIM_MAXSTATE; i++)
        if (u->opt.state[i].st) bytes += u->opt.state[i].st->nbytes;
    ol_l_account_bytes(L, bytes);
    lua_pushvalue(L, 4);
    lua_setiuservalue(L, 3, UV_PARAMS);
    lua_pushvalue(L, 5);
    lua_setiuservalue(L, 3, UV_MODEL);
    lua_pushvalue(L, 6);
    lua_setiuservalue(L, 3, UV_NAMES);
    lua_newtable(L);
    lua_setiuservalue(L, 3, UV_SCHED);
    lua_settop(L, 3);
    return 1;
}

/* ol.optim.WRAPPER(inner [, options]) (lookahead); upvalue 1: the
 * descriptor. The wrapper steps the optimizer inner (kept alive as user
 * value UV_INNER, and kept from being freed while the wrapper lives) and
 * updates the same parameters: its params, model and tensor names are
 * inner's. Its options apply to every group (opt.groups[i] sets one). */
static int l_new_wrapper(lua_State *L) {
    const ol_optim_desc *d = lua_touserdata(L, lua_upvalueindex(1));
    lua_settop(L, 2);
    l_optim *in = luaL_testudata(L, 1, OL_OPTIM_MT);
    if (!in) return ol_arg_expected(L, 1, d->name, "optimizer");
    if (!in->live) return ol_arg_error(L, 1, d->name, "the inner optimizer was freed");
    if (!lua_isnil(L, 2) && !lua_istable(L, 2))
        return ol_arg_error(L, 2, d->name, "options table expected, got %s", luaL_typename(L, 2));
    ol_error err;
    double o[OL_OPTIM_MAXSLOTS] = {0};
    ol_optim_defaults(d, o);
    if (lua_istable(L, 2)) for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return ol_arg_error(L, 2, d->name, "option names must be strings, got %s",
                                luaL_typename(L, -2));
        const char *k = lua_tostring(L, -2);
        const ol_optim_option *op = ol_optim_find_option(d, k);
        if (!op && ol_optim_find_option(in->opt.desc, k))
            return ol_arg_error(L, 2, d->name, "unknown option '%s': it is an option of the inner "
                                "optimizer (%s), given when that is built", k, in->opt.desc->name);
        if (!op) {
            const char *names[64];
            const char *close = ol_arg_closest(k, names, option_names(d, names, 64));
            return ol_arg_error(L, 2, d->name, "unknown option '%s'%s%s%s", k,
                                close ? "; did you mean '" : "", close ? close : "", close ? "'?" : "");
        }
        double v[2] = {0, 0};
        if (ol_l_optim_check_option(L, -1, op, 0, v, &err)) return ol_arg_error(L, 2, d->name, "%s", err.msg);
        memcpy(o + op->slot, v, sizeof(double) * (size_t)ol_optim_option_size(op));
    }
    lua_getiuservalue(L, 1, UV_PARAMS); /* 3 */
    ol_tensor *w = ol_l_totensor(L, 3);
    if (!w) return ol_arg_error(L, 1, d->name, "the inner optimizer's params tensor was closed");
    l_optim *u = lua_newuserdatauv(L, sizeof *u, NUV); /* 4 */
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, OL_OPTIM_MT);
    if (ol_optim_init(&u->opt, d, in->opt.dtype, in->opt.n, &err)) return ol_arg_error(L, 1, d->name, "%s", err.msg);
    u->live = 1;
    if (ol_optim_set_group_values(&u->opt, 0, o, &err)) return ol_arg_error(L, 2, d->name, "%s", err.msg);
    if (ol_optim_wrap(&u->opt, &in->opt, w, &err)) return ol_arg_error(L, 1, d->name, "%s", err.msg);
    in->wrapped++;
    ol_l_account_bytes(L, u->opt.state[0].st ? u->opt.state[0].st->nbytes : 0);
    lua_pushvalue(L, 3);
    lua_setiuservalue(L, 4, UV_PARAMS);
    lua_getiuservalue(L, 1, UV_MODEL);
    lua_setiuservalue(L, 4, UV_MODEL);
    lua_getiuservalue(L, 1, UV_NAMES);
    lua_setiuservalue(L, 4, UV_NAMES);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, 4, UV_INNER);
    lua_newtable(L);
    lua_setiuservalue(L, 4, UV_SCHED);
    lua_settop(L, 4);
    return 1;
}

/* Before step t: every schedule's field <- f(t), in the order attached,
 * through the same checks as an assignment; nothing while held (a
 * wrapper's hold covers its inner's schedules, which run through it). */
static void run_schedules(lua_State *L, l_optim *u, int idx, int64_t t) {
    if (u->held) return;
    if (u->opt.inner) { /* a wrapper: its inner's schedules too, at the inner's next step */
        lua_getiuservalue(L, idx, UV_INNER);
        l_optim *in = check_optim(L, -1);
        run_schedules(L, in, lua_gettop(L), in->opt.t + 1);
        lua_pop(L, 1);
    }
    if (u->nsched == 0) return;
    lua_getiuservalue(L, idx, UV_SCHED);
    for (int i = 0; i < u->nsched; i++) {
        ol_error err;
        lua_rawgeti(L, -1, i + 1);
        lua_pushinteger(L, (lua_Integer)t);
        lua_call(L, 1, 1);
        if (store(L, u, u->sched[i].group, u->sched[i].f, -1, &err))
            luaL_error(L, "schedule: %s: %s (step %I)", u->opt.desc->name, err.msg, (lua_Integer)t);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

ol_optim *ol_l_tooptim(lua_State *L, int idx) {
    l_optim *u = luaL_testudata(L, idx, OL_OPTIM_MT);
    return u && u->live ? &u->opt : NULL;
}

void ol_l_optim_schedules(lua_State *L, int idx, int64_t t) {
    idx = lua_absindex(L, idx);
    l_optim *u = check_optim(L, idx);
    run_schedules(L, u, idx, t);
}

/* opt:step(closure) -> loss; opt:step(grad); opt:step() on a model. */
static int l_step(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    ol_error err;
    if (ol_optim_is_closure(&u->opt)) { /* newton, cg, lbfgs, hessian_free */
        lua_settop(L, 4);
        run_schedules(L, u, 1, u->opt.t + 1);
        lua_getiuservalue(L, 1, UV_PARAMS); /* 5 */
        if (!ol_l_totensor(L, 5)) return luaL_error(L, "optimizer's params tensor was closed");
        int model = lua_getiuservalue(L, 1, UV_MODEL) == LUA_TNIL ? 0 : 6;
        /* The closure runs inside the engine's step: what the step reads
         * cannot be freed meanwhile. */
        static const int held[] = {1, 5, 6};
        ol_l_hold(L, held, 3); /* 7 */
        return closure_step(L, &u->opt, 5, model);
    }
    if (u->opt.inner && ol_optim_is_closure(u->opt.inner)) { /* lookahead over lbfgs, ... */
        lua_settop(L, 4);
        run_schedules(L, u, 1, u->opt.t + 1);
        lua_getiuservalue(L, 1, UV_PARAMS); /* 5 */
        ol_tensor *w = ol_l_totensor(L, 5);
        if (!w) return luaL_error(L, "optimizer's params tensor was closed");
        int model = lua_getiuservalue(L, 1, UV_MODEL) == LUA_TNIL ? 0 : 6;
        lua_getiuservalue(L, 1, UV_INNER); /* 7 */
        static const int held[] = {1, 5, 6, 7};
        ol_l_hold(L, held, 4); /* 8 */
        if (ol_optim_wrapper_begin(&u->opt, w, &err)) return ol_l_error(L, 0, &err);
        const int nres = closure_step(L, u->opt.inner, 5, model);
        if (!(w = ol_l_totensor(L, 5))) return luaL_error(L, "optimizer's params tensor was closed");
        if (ol_optim_wrapper_end(&u->opt, w, &err)) return ol_l_error(L, 0, &err);
        return nres;
    }
    lua_settop(L, 2);
    int lookahead = 0, closure = lua_isfunction(L, 2);
    int form = closure ? OL_FORM_CLOSURE : OL_FORM_GRADIENT;
    ol_l_optim_check_form(L, 1, &u->opt, form,
                          closure ? "opt:step(closure)" : lua_isnil(L, 2) ? "opt:step()" : "opt:step(grad)");
    run_schedules(L, u, 1, u->opt.t + 1);
    lua_getiuservalue(L, 1, UV_PARAMS); /* 3 */
    ol_tensor *w = ol_l_totensor(L, 3);
    if (!w) return luaL_error(L, "optimizer's params tensor was closed");
    double loss = NAN;
    ol_tensor *g;
    if (closure) {
        if (ol_optim_has_prepare(&u->opt)) {
            if (ol_optim_prepare(&u->opt, w, &err)) return ol_l_error(L, 2, &err);
            lookahead = 1;
        }
        lua_pushvalue(L, 2);
        lua_call(L, 0, 2); /* 4: loss, 5: grad */
        if (!lua_isnil(L, 4) && lua_type(L, 4) != LUA_TNUMBER)
            return ol_arg_error(L, 2, NULL, "closure must return loss (a number), grad");
        if (lua_type(L, 4) == LUA_TNUMBER) loss = lua_tonumber(L, 4);
        g = ol_l_totensor(L, 5);
        if (!g) return ol_arg_error(L, 2, NULL, "closure must return loss, grad (a tensor); got %s as grad",
                                    luaL_typename(L, 5));
    } else if (lua_isnil(L, 2)) {
        if (lua_getiuservalue(L, 1, UV_MODEL) == LUA_TNIL)
            return ol_arg_error(L, 2, NULL, "closure or gradient tensor expected (the optimizer has no model)");
        lua_getfield(L, -1, "grads");
        lua_insert(L, -2);
        lua_call(L, 1, 1);
        g = ol_l_totensor(L, -1);
        if (!g) return ol_arg_error(L, 1, "step", "model:grads() did not return a tensor");
    } else {
        g = ol_l_totensor(L, 2);
        if (!g) return ol_arg_expected(L, 2, NULL, "closure or gradient tensor");
    }
    /* The closure (or the model's grads()) may have freed the optimizer or
     * closed its params by hand. */
    if (!u->live) return ol_l_freed(L, "optimizer");
    if (!(w = ol_l_totensor(L, 3))) return luaL_error(L, "optimizer's params tensor was closed");
    if (ol_optim_step(&u->opt, w, g, loss, lookahead, &err)) return ol_l_error(L, 2, &err);
    ol_l_optim_record_form(L, 1, &u->opt, form);
    if (!closure) return 0;
    lua_pushvalue(L, 4);
    return 1;
}

/* opt:state() -> {name = tensor view, ...} */
static int l_state(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    lua_createtable(L, 0, u->opt.desc->nstate);
    for (int i = 0; i < u->opt.desc->nstate; i++) {
        ol_tensor v;
        ol_tensor_share(&u->opt.state[i], &v);
        ol_l_pushtensor(L, &v, 0);
        lua_setfield(L, -2, u->opt.desc->state_names[i]);
    }
    return 1;
}

static int l_reset(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    ol_optim_reset(&u->opt);
    lua_settop(L, 1);
    return 1;
}

/* opt:eval() -> opt and opt:train() -> opt: the engine's mode switch
 * (ol_optim_eval, ol_optim_train) on the params tensor; for an optimizer
 * without modes both do nothing, so that a script written for
 * schedule-free runs with any optimizer. */
static int switch_mode(lua_State *L, int eval) {
    l_optim *u = check_optim(L, 1);
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, UV_PARAMS);
    ol_tensor *w = ol_l_totensor(L, 2);
    if (!w) return luaL_error(L, "optimizer's params tensor was closed");
    ol_error err;
    if ((eval ? ol_optim_eval : ol_optim_train)(&u->opt, w, &err))
        return luaL_error(L, "%s: %s", eval ? "eval" : "train", err.msg);
    lua_settop(L, 1);
    return 1;
}

static int l_eval(lua_State *L) { return switch_mode(L, 1); }
static int l_train(lua_State *L) { return switch_mode(L, 0); }

static int is_callable(lua_State *L, int idx) {
    if (lua_isfunction(L, idx)) return 1;
    if (luaL_getmetafield(L, idx, "__call") == LUA_TNIL) return 0;
    lua_pop(L, 1);
    return 1;
}

/* A schedule with a __bind metafield has no base value of its own (ol.schedule's
 * step, exponential, ... without `from`): it scales the value the option has
 * when attached. Replaces the schedule at 3 by __bind(schedule, value), the
 * value being the option's, or the element's for "betas[2]". */
static void bind_schedule(lua_State *L, l_optim *u, ol_optim_field f, int g) {
    if (luaL_getmetafield(L, 3, "__bind") == LUA_TNIL) return;
    const ol_optim_option *op = f.option;
    if (op->type == OL_OPT_PAIR && f.elem == 0)
        ol_arg_error(L, 3, "schedule", "option '%s' is a pair: attach a schedule without a base value to one "
                     "element, '%s[1]' or '%s[2]'", op->name, op->name, op->name);
    if (op->type != OL_OPT_NUMBER && op->type != OL_OPT_PAIR)
        ol_arg_error(L, 3, "schedule", "option '%s' has no number to scale", op->name);
    lua_pushvalue(L, 3);
    lua_pushnumber(L, u->opt.groups[g].o[op->slot + (f.elem ? f.elem - 1 : 0)]);
    lua_call(L, 2, 1);
    if (!is_callable(L, -1))
        ol_arg_error(L, 3, "schedule", "its __bind returned %s, not a function", luaL_typename(L, -1));
    lua_replace(L, 3);
}

/* Sets schedule (field f, group g) to the function at 3, or removes it
 * when 3 is nil; the function table is at tab. */
static void put_schedule(lua_State *L, l_optim *u, ol_optim_field f, int g, int tab) {
    int i = 0;
    while (i < u->nsched && !(u->sched[i].f.option == f.option && u->sched[i].f.elem == f.elem &&
                              u->sched[i].group == g))
        i++;
    if (!lua_isnil(L, 3)) {
        if (i == u->nsched) {
            if (u->nsched == u->capsched) {
                const int cap = u->capsched ? 2 * u->capsched : 8;
                l_sched *grown = realloc(u->sched, (size_t)cap * sizeof *grown);
                if (!grown) luaL_error(L, "out of memory for schedules");
                u->sched = grown;
                u->capsched = cap;
            }
            u->sched[u->nsched++] = (l_sched){.f = f, .group = g};
        }
        lua_pushvalue(L, 3);
        lua_rawseti(L, tab, i + 1);
    } else if (i < u->nsched) { /* remove entry i, keeping the order of the rest */
        for (; i + 1 < u->nsched; i++) {
            u->sched[i] = u->sched[i + 1];
            lua_rawgeti(L, tab, i + 2);
            lua_rawseti(L, tab, i + 1);
        }
        lua_pushnil(L);
        lua_rawseti(L, tab, u->nsched--);
    }
}

/* opt:schedule(field, f) -> opt, for every group; group:schedule(field, f)
 * for one (group: 0-based, -1 for all). f = nil removes the schedule. The
 * field ("lr", "betas", "betas[2]") is resolved here, once; attaching to a
 * field again replaces its function in place. A schedule without a base
 * value (__bind) scales each group's own value, so it is attached once per
 * group. An option that only the first step after a reset reads (rprop's
 * lr) takes no schedule: it would do nothing. */
static int schedule_at(lua_State *L, l_optim *u, int optidx, int g) {
    const char *field = luaL_checkstring(L, 2);
    ol_optim_field f;
    ol_error err;
    if (u->opt.inner && g < 0 && ol_optim_find_field(u->opt.desc, field, &f, &err)) {
        /* a wrapper: a field that is not its own is its inner's */
        lua_getiuservalue(L, optidx, UV_INNER);
        const int in = lua_gettop(L);
        const int rc = schedule_at(L, check_optim(L, in), in, g);
        lua_settop(L, in - 1);
        return rc;
    }
    if (ol_optim_find_field(u->opt.desc, field, &f, &err)) return ol_l_error(L, 2, &err);
    /* A function, or anything callable (a schedule object with __call). */
    if (!lua_isnoneornil(L, 3) && !is_callable(L, 3)) return ol_arg_expected(L, 3, NULL, "function or callable");
    if (!lua_isnil(L, 3) && f.option->first_step_only)
        return ol_arg_error(L, 2, "schedule", "%s's option '%s' is read only at the first step after a "
                            "reset, so a schedule on it would have no effect (set it, then opt:reset())",
                            u->opt.desc->name, f.option->name);
    if (!lua_isnil(L, 3) && f.option->sizes_state)
        return ol_arg_error(L, 2, "schedule", "%s's option '%s' sizes the state: it is given at "
                            "construction and takes no schedule", u->opt.desc->name, f.option->name);
    lua_getiuservalue(L, optidx, UV_SCHED);
    const int tab = lua_gettop(L);
    const int bind = !lua_isnil(L, 3) && luaL_getmetafield(L, 3, "__bind") != LUA_TNIL;
    if (bind) lua_pop(L, 1);
    if (bind && g < 0 && u->opt.ngroups > 1) {
        /* once per group, each scaling its own value */
        lua_pushvalue(L, 3);
        const int unbound = lua_gettop(L);
        for (int k = 0; k < u->opt.ngroups; k++) {
            lua_pushvalue(L, unbound);
            lua_replace(L, 3);
            bind_schedule(L, u, f, k);
            put_schedule(L, u, f, k, tab);
        }
    } else {
        if (bind) bind_schedule(L, u, f, g < 0 ? 0 : g);
        put_schedule(L, u, f, g, tab);
    }
    if (lua_isnil(L, 3) && g < 0) /* removing for all removes the per-group ones too */
        for (int k = 0; k < u->opt.ngroups; k++) put_schedule(L, u, f, k, tab);
    return 0;
}

static int l_schedule(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    lua_settop(L, 3);
    schedule_at(L, u, 1, -1);
    lua_settop(L, 1);
    return 1;
}

/* opt:options() -> {name = value, ...}: a copy of every option. */
static void push_group_options(lua_State *L, const l_optim *u, int g, int only_agreed) {
    const ol_optim_desc *d = u->opt.desc;
    lua_createtable(L, 0, d->noptions);
    for (int i = 0; i < d->noptions; i++) {
        if (only_agreed && !ol_optim_groups_agree(&u->opt, &d->options[i])) continue;
        ol_l_optim_push_option(L, &d->options[i], u->opt.groups[g].o + d->options[i].slot);
        lua_setfield(L, -2, d->options[i].name);
    }
}

/* With groups, the options every group shares, and `groups`: each group's
 * options in full. */
static int l_options(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    push_group_options(L, u, 0, 1);
    if (u->opt.ngroups > 1) {
        lua_createtable(L, u->opt.ngroups, 0);
        for (int g = 0; g < u->opt.ngroups; g++) {
            push_group_options(L, u, g, 0);
            lua_rawseti(L, -2, g + 1);
        }
        lua_setfield(L, -2, "groups");
    }
    return 1;
}

static const luaL_Reg methods[] = {
    {"step", l_step},   {"state", l_state},     {"reset", l_reset},
    {"schedule", l_schedule}, {"options", l_options}, {"eval", l_eval},
    {"train", l_train},       {NULL, NULL},
};

/* The read-only fields, in the order pairs(opt) gives them after the
 * options; info is the closure methods' (what the last step did) and the
 * describing optimizers' (desc->describe) alone; inner a wrapper's. */
static const char *const fields[] = {"t", "name", "dtype", "params", "groups", "mode", "info", "inner", NULL};

static int has_field(const l_optim *u, const char *k) {
    for (int i = 0; fields[i]; i++)
        if (strcmp(fields[i], k) == 0) {
            if (strcmp(k, "info") == 0)
                return ol_optim_is_closure(&u->opt) || u->opt.desc->describe != NULL;
            if (strcmp(k, "inner") == 0) return u->opt.inner != NULL;
            return 1;
        }
    return 0;
}

/* Pushes opt.info: desc->describe's text, or what a closure method's last
 * step did. */
static void push_info(lua_State *L, const l_optim *u) {
    if (!u->opt.desc->describe) {
        lua_pushstring(L, u->opt.info); /* l_second.c */
        return;
    }
    char buf[1024];
    u->opt.desc->describe(&u->opt, buf, sizeof buf);
    lua_pushstring(L, buf);
}

/* ---- groups: opt.groups[i] ----
 * A group is a small userdata holding its index; its user value is the
 * optimizer, so a group keeps it alive and sees it freed. */

typedef struct l_group {
    int g;
} l_group;

/* The optimizer of the group at idx (pushed), and the group's index. */
static l_optim *group_optim(lua_State *L, int idx, int *g) {
    l_group *p = luaL_checkudata(L, idx, OL_GROUP_MT);
    lua_getiuservalue(L, idx, 1);
    l_optim *u = check_optim(L, -1);
    if (p->g >= u->opt.ngroups) luaL_error(L, "optimizer group %d no longer exists", p->g + 1);
    *g = p->g;
    return u;
}

static void push_groups(lua_State *L, l_optim *u, int idx) {
    idx = lua_absindex(L, idx);
    lua_createtable(L, u->opt.ngroups, 0);
    for (int g = 0; g < u->opt.ngroups; g++) {
        l_group *p = lua_newuserdatauv(L, sizeof *p, 1);
        p->g = g;
        luaL_setmetatable(L, OL_GROUP_MT);
        lua_pushvalue(L, idx);
        lua_setiuservalue(L, -2, 1);
        lua_rawseti(L, -2, g + 1);
    }
}

/* group:schedule(field, f) -> group */
static int group_schedule(lua_State *L) {
    int g;
    l_optim *u = group_optim(L, 1, &g);
    lua_settop(L, 3);
    lua_getiuservalue(L, 1, 1); /* 4: the optimizer */
    schedule_at(L, u, 4, g);
    lua_settop(L, 1);
    return 1;
}

static const char *const group_fields[] = {"index", "params", NULL};

/* group.KEY: an option of this group, index (from 1), params (the tensors'
 * names), or schedule. */
static int group_index(lua_State *L) {
    int g;
    l_optim *u = group_optim(L, 1, &g);
    const char *k = luaL_checkstring(L, 2);
    const ol_optim_option *op = ol_optim_find_option(u->opt.desc, k);
    if (op) {
        ol_l_optim_push_option(L, op, u->opt.groups[g].o + op->slot);
    } else if (strcmp(k, "index") == 0) {
        lua_pushinteger(L, g + 1);
    } else if (strcmp(k, "params") == 0) {
        lua_getiuservalue(L, -1, UV_NAMES);
        lua_rawgeti(L, -1, g + 1);
        const lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        lua_createtable(L, (int)n, 0); /* a copy: the names stay the optimizer's */
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -2, i);
            lua_rawseti(L, -2, i);
        }
    } else if (strcmp(k, "schedule") == 0) {
        lua_pushcfunction(L, group_schedule);
    } else {
        const char *names[64];
        const char *close = ol_arg_closest(k, names, option_names(u->opt.desc, names, 64));
        return luaL_error(L, "unknown option '%s' for %s%s%s%s", k, u->opt.desc->name,
                          close ? "; did you mean '" : "", close ? close : "", close ? "'?" : "");
    }
    return 1;
}

/* group.KEY = v: an option of this group only. */
static int group_newindex(lua_State *L) {
    int g;
    l_optim *u = group_optim(L, 1, &g);
    const char *k = luaL_checkstring(L, 2);
    const ol_optim_option *op = ol_optim_find_option(u->opt.desc, k);
    if (!op) {
        for (int i = 0; group_fields[i]; i++)
            if (strcmp(group_fields[i], k) == 0)
                return luaL_error(L, "%s group: field '%s' is read-only", u->opt.desc->name, k);
        const char *names[64];
        const char *close = ol_arg_closest(k, names, option_names(u->opt.desc, names, 64));
        return luaL_error(L, "unknown option '%s' for %s%s%s%s", k, u->opt.desc->name,
                          close ? "; did you mean '" : "", close ? close : "", close ? "'?" : "");
    }
    ol_error err;
    if (store(L, u, g, (ol_optim_field){.option = op, .elem = 0}, 3, &err))
        return luaL_error(L, "%s: %s", u->opt.desc->name, err.msg);
    return 0;
}

static void add_options(lua_State *L, luaL_Buffer *b, const ol_optim_desc *d, const double *o);

/* "group 2 of adamw{lr=0.001, ...}: 3 tensors" */
static int group_tostring(lua_State *L) {
    int g;
    l_optim *u = group_optim(L, 1, &g);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "group %d of %s{", g + 1, u->opt.desc->name);
    luaL_addvalue(&b);
    add_options(L, &b, u->opt.desc, u->opt.groups[g].o);
    int nt = 0;
    for (int i = 0; i < u->opt.nparams; i++) nt += u->opt.params[i].group == g;
    lua_pushfstring(L, "}: %d tensor%s", nt, nt == 1 ? "" : "s");
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    return 1;
}

/* Pushes the value of option or field k of the optimizer at idx; 0 (nothing
 * pushed) when it has none of that name. */
static int push_value(lua_State *L, l_optim *u, int idx, const char *k) {
    const ol_optim_option *op = ol_optim_find_option(u->opt.desc, k);
    if (op && !ol_optim_groups_agree(&u->opt, op))
        return luaL_error(L, "%s: option '%s' differs between the groups: read "
                          "opt.groups[i].%s (or opt:options())", u->opt.desc->name, k, k);
    if (op) ol_l_optim_push_option(L, op, u->opt.groups[0].o + op->slot);
    else if (!has_field(u, k) && u->opt.inner) { /* a wrapper: the inner's options */
        lua_getiuservalue(L, idx, UV_INNER);
        const int in = lua_gettop(L);
        const int found = push_value(L, check_optim(L, in), in, k);
        if (found) lua_remove(L, in);
        else lua_pop(L, 1);
        return found;
    }
    else if (!has_field(u, k)) return 0;
    else if (strcmp(k, "inner") == 0) lua_getiuservalue(L, idx, UV_INNER);
    else if (strcmp(k, "groups") == 0) push_groups(L, u, idx);
    else if (strcmp(k, "t") == 0) lua_pushinteger(L, (lua_Integer)u->opt.t);
    else if (strcmp(k, "name") == 0) lua_pushstring(L, u->opt.desc->name);
    else if (strcmp(k, "dtype") == 0) lua_pushstring(L, ol_dtype_name(u->opt.dtype));
    else if (strcmp(k, "params") == 0) lua_getiuservalue(L, idx, UV_PARAMS);
    else if (strcmp(k, "mode") == 0) lua_pushstring(L, ol_optim_mode_name(&u->opt));
    else push_info(L, u);
    return 1;
}

/* opt.KEY: methods, then the options and the fields. */
static int l_index(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    return push_value(L, u, 1, lua_tostring(L, 2));
}

/* opt.KEY = v: options only, checked as at construction; on a wrapper,
 * a name that is none of its options nor fields is its inner's. */
static int l_newindex(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (has_field(u, k)) return luaL_error(L, "%s: field '%s' is read-only", u->opt.desc->name, k);
    const ol_optim_option *op = ol_optim_find_option(u->opt.desc, k);
    if (!op && u->opt.inner) {
        lua_settop(L, 3);
        lua_getiuservalue(L, 1, UV_INNER);
        lua_replace(L, 1);
        return l_newindex(L);
    }
    if (!op) {
        const char *names[64];
        const char *close = ol_arg_closest(k, names, option_names(u->opt.desc, names, 64));
        return luaL_error(L, "unknown option '%s' for %s%s%s%s", k, u->opt.desc->name,
                          close ? "; did you mean '" : "", close ? close : "", close ? "'?" : "");
    }
    ol_error err;
    if (store(L, u, -1, (ol_optim_field){.option = op, .elem = 0}, 3, &err))
        return luaL_error(L, "%s: %s", u->opt.desc->name, err.msg);
    return 0;
}

/* The iterator of pairs(opt): the options in the descriptor's order, then
 * the fields. */
static int next_field(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    const ol_optim_desc *d = u->opt.desc;
    int nfields = 0;
    while (fields[nfields]) nfields++;
    int i = 0; /* the position after key 2: options 0..noptions-1, then fields */
    if (!lua_isnil(L, 2)) {
        const char *k = luaL_checkstring(L, 2);
        while (i < d->noptions + nfields &&
               strcmp(k, i < d->noptions ? d->options[i].name : fields[i - d->noptions]) != 0)
            i++;
        i++;
    }
    for (; i < d->noptions + nfields; i++) {
        const char *k = i < d->noptions ? d->options[i].name : fields[i - d->noptions];
        lua_pushstring(L, k);
        if (push_value(L, u, 1, k)) return 2;
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    return 1;
}

static int l_pairs(lua_State *L) {
    check_optim(L, 1);
    lua_pushcfunction(L, next_field);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int l_gc(lua_State *L) {
    l_optim *u = luaL_checkudata(L, 1, OL_OPTIM_MT);
    ol_l_check_idle(L, 1, "optimizer");
    if (u->live && u->wrapped > 0)
        return luaL_error(L, "cannot free the optimizer while a %s wraps it (its inner optimizer)",
                          "lookahead");
    if (u->live && u->opt.inner) { /* the inner may be freed once no wrapper uses it */
        lua_getiuservalue(L, 1, UV_INNER);
        l_optim *in = luaL_testudata(L, -1, OL_OPTIM_MT);
        if (in && in->wrapped > 0) in->wrapped--;
        lua_pop(L, 1);
        u->opt.inner = NULL;
    }
    if (u->live) ol_optim_free(&u->opt);
    u->live = 0;
    free(u->sched);
    u->sched = NULL;
    u->nsched = u->capsched = 0;
    return 0;
}

/* The option value at the top of the stack (popped) as the listing shows
 * it, into buf: numbers to 6 digits, "true", "irprop-", "{0.9, 0.999}",
 * "nil" (soap's shampoo_beta not given). */
static void value_text(lua_State *L, char *buf, size_t size) {
    buf[0] = 0;
    switch (lua_type(L, -1)) {
    case LUA_TNUMBER: snprintf(buf, size, "%.6g", lua_tonumber(L, -1)); break;
    case LUA_TBOOLEAN: snprintf(buf, size, "%s", lua_toboolean(L, -1) ? "true" : "false"); break;
    case LUA_TNIL: snprintf(buf, size, "nil"); break;
    case LUA_TTABLE: {
        char part[40];
        strncat(buf, "{", size - 1);
        for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
            if (i > 1) strncat(buf, ", ", size - strlen(buf) - 1);
            lua_rawgeti(L, -1, i);
            value_text(L, part, sizeof part);
            strncat(buf, part, size - strlen(buf) - 1);
        }
        strncat(buf, "}", size - strlen(buf) - 1);
        break;
    }
    default: snprintf(buf, size, "%s", lua_tostring(L, -1)); break;
    }
    lua_pop(L, 1);
}

/* Adds "lr=0.001, betas={0.9, 0.999}, ...", the values o of d's options,
 * to b: the form of the listing and of tostring(opt). */
static void add_options(lua_State *L, luaL_Buffer *b, const ol_optim_desc *d, const double *o) {
    for (int i = 0; i < d->noptions; i++) {
        const ol_optim_option *op = &d->options[i];
        char text[96];
        if (i) luaL_addstring(b, ", ");
        luaL_addstring(b, op->name);
        luaL_addchar(b, '=');
        ol_l_optim_push_option(L, op, o + op->slot);
        value_text(L, text, sizeof text);
        luaL_addstring(b, text);
    }
}

/* tostring(opt): "adam{lr=0.001, betas={0.9, 0.999}, ...} f32, 17
 * parameters, t = 0": the name and the live options, as a model shows
 * its layers, then dtype, size and steps taken; with groups, group 1's
 * options and ", 2 groups (differing: lr, weight_decay)"; then "; " and
 * opt.info's text where desc->describe gives one (shampoo, soap). */
static int l_tostring(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, u->opt.desc->name);
    luaL_addchar(&b, '{');
    add_options(L, &b, u->opt.desc, u->opt.groups[0].o);
    luaL_addchar(&b, '}');
    lua_pushfstring(L, " %s, %I parameters, t = %I", ol_dtype_name(u->opt.dtype), (lua_Integer)u->opt.n,
                    (lua_Integer)u->opt.t);
    luaL_addvalue(&b);
    if (u->opt.inner) {
        lua_pushfstring(L, ", over %s", u->opt.inner->desc->name);
        luaL_addvalue(&b);
    }
    if (u->opt.ngroups > 1) {
        /* the options above are group 1's: name those the groups differ in */
        lua_pushfstring(L, ", %d groups", u->opt.ngroups);
        luaL_addvalue(&b);
        const char *sep = " (differing: ";
        for (int i = 0; i < u->opt.desc->noptions; i++)
            if (!ol_optim_groups_agree(&u->opt, &u->opt.desc->options[i])) {
                luaL_addstring(&b, sep);
                luaL_addstring(&b, u->opt.desc->options[i].name);
                sep = ", ";
            }
        if (sep[0] == ',') luaL_addchar(&b, ')');
    }
    if (u->opt.desc->describe) { /* what the options do not show (opt.info) */
        push_info(L, u);
        if (lua_rawlen(L, -1) > 0) {
            luaL_addstring(&b, "; ");
            luaL_addvalue(&b);
        } else {
            lua_pop(L, 1);
        }
    }
    luaL_pushresult(&b);
    return 1;
}

/* tostring(ol.optim.list()): every optimizer with its options and defaults. */
/* Every optimizer's descriptor, the registry's then the wrappers', or NULL
 * past the last: ol.optim.list()'s order. */
static const ol_optim_desc *nth_optim(int i) {
    int n = 0;
    while (ol_optim_registry[n]) n++;
    if (i < n) return ol_optim_registry[i];
    return ol_optim_wrappers[i - n];
}

static int list_tostring(lua_State *L) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; nth_optim(i); i++) {
        const ol_optim_desc *d = nth_optim(i);
        char head[32];
        snprintf(head, sizeof head, "%-15s", d->name);
        luaL_addstring(&b, head);
        double o[OL_OPTIM_MAXSLOTS] = {0};
        ol_optim_defaults(d, o);
        add_options(L, &b, d, o);
        luaL_addchar(&b, '\n');
    }
    luaL_pushresult(&b);
    return 1;
}

/* Pushes "unknown optimizer 'adamm'; did you mean 'adam'? (known: sgd,
 * nag, ...)", the did-you-mean only when a name is close. */
static const char *push_unknown_optimizer(lua_State *L, const char *name) {
    const char *names[64] = {0};
    int n = 0;
    for (int i = 0; nth_optim(i) && n < 64; i++) names[n++] = nth_optim(i)->name;
    const char *close = ol_arg_closest(name, names, n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "unknown optimizer '%s'; ", name);
    luaL_addvalue(&b);
    if (close) {
        lua_pushfstring(L, "did you mean '%s'? (", close);
        luaL_addvalue(&b);
    }
    luaL_addstring(&b, "known: ");
    for (int i = 0; i < n; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, names[i]);
    }
    if (close) luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* ol.optim.NAME for a NAME that is none of ol.optim's functions (the
 * __index of ol.optim): an error at the caller, instead of a nil that
 * fails later as "attempt to call a nil value". */
static int optim_index(lua_State *L) {
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    luaL_where(L, 1);
    push_unknown_optimizer(L, lua_tostring(L, 2));
    lua_pushfstring(L, "ol.optim: %s", lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_concat(L, 2);
    return lua_error(L);
}

/* ol._hold_schedules(opt, hold) -> whether they were held: private, for
 * Lua-side tools that set the options before each step themselves
 * (ol.lr_find's sweep). While held, the schedules attached to opt (and, on
 * a wrapper, to its inner) stay attached but are not run before a step,
 * by opt:step or ol.train; released, they run again. */
static int l_hold_schedules(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    lua_pushboolean(L, u->held);
    u->held = lua_toboolean(L, 2);
    return 1;
}

/* ol.optim.kind(name) -> "fused" | "tensor" | "closure" | "wrapper", or
 * nil and why when name is no optimizer. The kind says how the optimizer
 * steps (engine/optim/optim.h): "closure" ones need opt:step(closure),
 * which they may call several times, so ol.train cannot drive them;
 * a "wrapper" (lookahead) is built over another optimizer and steps it. */
static int l_kind(lua_State *L) {
    static const char *const kinds[] = {[OL_OPTIM_FUSED] = "fused", [OL_OPTIM_TENSOR] = "tensor",
                                        [OL_OPTIM_CLOSURE] = "closure",
                                        [OL_OPTIM_WRAPPER] = "wrapper"};
    if (lua_type(L, 1) != LUA_TSTRING) return ol_arg_expected(L, 1, "kind", "optimizer name");
    const ol_optim_desc *d = ol_optim_find(lua_tostring(L, 1));
    if (!d) {
        lua_pushnil(L);
        push_unknown_optimizer(L, lua_tostring(L, 1));
        return 2;
    }
    lua_pushstring(L, kinds[d->kind]);
    return 1;
}

/* ol.optim.list() -> {names} in registry order; printed (as the REPL does)
 * it lists every optimizer with its options and defaults. */
static int l_list(lua_State *L) {
    lua_newtable(L);
    for (int i = 0; nth_optim(i); i++) {
        lua_pushstring(L, nth_optim(i)->name);
        lua_rawseti(L, -2, i + 1);
    }
    if (luaL_newmetatable(L, "optlua.optim.list")) {
        lua_pushcfunction(L, list_tostring);
        lua_setfield(L, -2, "__tostring");
        ol_l_protect(L, -1);
    }
    lua_setmetatable(L, -2);
    return 1;
}

/* ol.optim.defaults(name) -> {option = default, ...} */
static int l_defaults(lua_State *L) {
    if (lua_type(L, 1) != LUA_TSTRING) return ol_arg_expected(L, 1, "defaults", "optimizer name");
    const char *name = lua_tostring(L, 1);
    const ol_optim_desc *d = ol_optim_find(name);
    if (!d) return ol_arg_error(L, 1, "defaults", "%s", push_unknown_optimizer(L, name));
    double o[OL_OPTIM_MAXSLOTS] = {0};
    ol_optim_defaults(d, o);
    lua_createtable(L, 0, d->noptions);
    for (int i = 0; i < d->noptions; i++) {
        ol_l_optim_push_option(L, &d->options[i], o + d->options[i].slot);
        lua_setfield(L, -2, d->options[i].name);
    }
    return 1;
}

void ol_open_optim(lua_State *L) {
    static const luaL_Reg meta[] = {{"__newindex", l_newindex}, {"__tostring", l_tostring},
                                    {"__pairs", l_pairs},       {"__gc", l_gc},
                                    {NULL, NULL}};
    ol_l_new_class(L, OL_OPTIM_MT, meta, methods, l_index);
    static const luaL_Reg group_meta[] = {
        {"__index", group_index}, {"__newindex", group_newindex}, {"__tostring", group_tostring},
        {NULL, NULL}};
    luaL_newmetatable(L, OL_GROUP_MT);
    luaL_setfuncs(L, group_meta, 0);
    ol_l_protect(L, -1);
    lua_pop(L, 1);

    lua_newtable(L); /* ol.optim */
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++) {
        lua_pushlightuserdata(L, (void *)*d);
        lua_pushcclosure(L, l_new, 1);
        lua_setfield(L, -2, (*d)->name);
    }
    for (const ol_optim_desc *const *d = ol_optim_wrappers; *d; d++) {
        lua_pushlightuserdata(L, (void *)*d);
        lua_pushcclosure(L, l_new_wrapper, 1);
        lua_setfield(L, -2, (*d)->name);
    }
    lua_pushcfunction(L, l_list);
    lua_setfield(L, -2, "list");
    lua_pushcfunction(L, l_defaults);
    lua_setfield(L, -2, "defaults");
    lua_pushcfunction(L, l_kind);
    lua_setfield(L, -2, "kind");
    lua_newtable(L); /* its metatable: unknown names are errors */
    lua_pushcfunction(L, optim_index);
    lua_setfield(L, -2, "__index");
    ol_l_protect(L, -1);
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "optim");
    lua_pushcfunction(L, l_hold_schedules);
    lua_setfield(L, -2, "_hold_schedules");
}
