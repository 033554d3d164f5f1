/* ol.optim: every optimizer in the engine's registry, as Lua objects with
 * live option fields.
 *
 *   local opt = ol.optim.NAME(params, {option = value, ...})
 *   opt:step(closure) / opt:step(grad) / opt:step()   opt.lr = 0.01
 *   opt.t   opt:state()   opt:reset()   opt:schedule(field, f)
 *
 * params is a tensor updated in place, or a model: anything with
 * :params() and :grads() methods returning flat tensors (called through
 * Lua, so this file knows nothing of the model's internals). The userdata
 * keeps, as user values, the params tensor (1), the model or nil (2) and
 * the schedules' functions (3), an array in the order they were attached;
 * the option field each one sets is resolved when it is attached and kept
 * beside the engine's optimizer.
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
#include <string.h>

#include "l_common.h"
#include "optim/optim.h"
#include "optim/second.h"

#define OL_OPTIM_MT "optlua.optim"

enum { UV_PARAMS = 1, UV_MODEL = 2, UV_SCHED = 3 };

/* Distinct fields a schedule can set: every option whole, and each element
 * of a pair. */
#define MAXSCHED (3 * OL_OPTIM_MAXSLOTS)

typedef struct l_optim {
    ol_optim opt;
    int live; /* ol_optim_init succeeded: __gc must free */
    int nsched;
    ol_optim_field sched[MAXSCHED]; /* set by the functions at UV_SCHED[1..nsched] */
} l_optim;

static l_optim *check_optim(lua_State *L, int idx) {
    return (l_optim *)luaL_checkudata(L, idx, OL_OPTIM_MT);
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

/* Stores the Lua value at idx into field f, through the converter and the
 * engine's checks; 0, or -1 with err. */
static int store(lua_State *L, l_optim *u, ol_optim_field f, int idx, ol_error *err) {
    double v[2] = {0, 0};
    if (ol_l_optim_check_option(L, idx, f.option, f.elem, v, err)) return -1;
    return ol_optim_set_field(&u->opt, f, v, err);
}

/* The flat tensor returned by obj:method(), or a Lua error. */
static ol_tensor *call_method_tensor(lua_State *L, int obj, const char *method, int arg,
                                     const char *fname) {
    obj = lua_absindex(L, obj);
    if (lua_getfield(L, obj, method) == LUA_TNIL)
        ol_arg_error(L, arg, fname, "model has no %s() method", method);
    lua_pushvalue(L, obj);
    lua_call(L, 1, 1);
    ol_tensor *t = ol_l_totensor(L, -1);
    if (!t) ol_arg_error(L, arg, fname, "model:%s() did not return a tensor", method);
    return t;
}

/* The names of d's options, for an unknown option's did-you-mean. */
static int option_names(const ol_optim_desc *d, const char **names, int max) {
    int n = 0;
    for (int i = 0; i < d->noptions && n < max; i++) names[n++] = d->options[i].name;
    return n;
}

/* ol.optim.NAME(params [, options]); upvalue 1: the descriptor. Errors
 * name the constructor: `bad argument #2 to 'sgd' (option 'lr' must be ...)`. */
static int l_new(lua_State *L) {
    const ol_optim_desc *d = lua_touserdata(L, lua_upvalueindex(1));
    const char *fname = d->name;
    ol_error err;
    lua_settop(L, 2);
    int has_model = 0;
    ol_tensor *w = ol_l_totensor(L, 1);
    if (w) {
        lua_pushvalue(L, 1); /* 3: the params tensor */
    } else {
        int tt = lua_type(L, 1);
        if (tt != LUA_TTABLE && tt != LUA_TUSERDATA)
            return ol_arg_expected(L, 1, fname, "tensor or model");
        w = call_method_tensor(L, 1, "params", 1, fname); /* 3 */
        has_model = 1;
    }
    if (!ol_tensor_is_contiguous(w)) return ol_arg_error(L, 1, fname, "params must be contiguous");
    if (!lua_isnil(L, 2) && !lua_istable(L, 2))
        return ol_arg_error(L, 2, fname, "options table expected, got %s", luaL_typename(L, 2));

    if (lua_istable(L, 2)) ol_l_optim_suboptions(L, d, 2); /* {fallback = {...}} */
    l_optim *u = lua_newuserdatauv(L, sizeof *u, 3); /* 4 */
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, OL_OPTIM_MT);
    if (ol_optim_init(&u->opt, d, w->dtype, ol_tensor_numel(w), &err))
        return ol_arg_error(L, 1, fname, "%s", err.msg);
    u->live = 1;

    /* All options first, then the rules between them, so that the order of
     * the table's keys does not matter ({gain_min = 20, gain_max = 30}). */
    double o[OL_OPTIM_MAXSLOTS];
    memcpy(o, u->opt.o, sizeof o);
    if (lua_istable(L, 2)) {
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return ol_arg_error(L, 2, fname, "option names must be strings, got %s", luaL_typename(L, -2));
            const char *name = lua_tostring(L, -2);
            const ol_optim_option *op = ol_optim_find_option(d, name);
            double v[2] = {0, 0};
            if (!op) {
                const char *names[64];
                return ol_arg_unknown(L, 2, fname, name, names, option_names(d, names, 64));
            }
            if (ol_l_optim_check_option(L, -1, op, 0, v, &err)) return ol_arg_error(L, 2, fname, "%s", err.msg);
            memcpy(o + op->slot, v, sizeof(double) * (size_t)ol_optim_option_size(op));
            lua_pop(L, 1);
        }
    }
    if (ol_optim_check_values(d, o, &err)) return ol_arg_error(L, 2, fname, "%s", err.msg);
    memcpy(u->opt.o, o, sizeof o);
    if (ol_optim_uses_blocks(&u->opt)) ol_l_optim_blocks(L, &u->opt, 1, w, fname); /* muon */

    lua_pushvalue(L, 3);
    lua_setiuservalue(L, 4, UV_PARAMS);
    if (has_model) {
        lua_pushvalue(L, 1);
        lua_setiuservalue(L, 4, UV_MODEL);
    }
    lua_newtable(L);
    lua_setiuservalue(L, 4, UV_SCHED);
    lua_settop(L, 4);
    return 1;
}

/* Before step t: every schedule's field <- f(t), in the order attached,
 * through the same checks as an assignment. */
static void run_schedules(lua_State *L, l_optim *u, int idx, int64_t t) {
    if (u->nsched == 0) return;
    lua_getiuservalue(L, idx, UV_SCHED);
    for (int i = 0; i < u->nsched; i++) {
        ol_error err;
        lua_rawgeti(L, -1, i + 1);
        lua_pushinteger(L, (lua_Integer)t);
        lua_call(L, 1, 1);
        if (store(L, u, u->sched[i], -1, &err))
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
    if (u->opt.desc->closure_step) { /* newton, cg, lbfgs, hessian_free: closure_step */
        lua_settop(L, 4);
        run_schedules(L, u, 1, u->opt.t + 1);
        lua_getiuservalue(L, 1, UV_PARAMS); /* 5 */
        if (!ol_l_totensor(L, 5)) return luaL_error(L, "optimizer's params tensor was closed");
        int model = lua_getiuservalue(L, 1, UV_MODEL) == LUA_TNIL ? 0 : 6;
        return closure_step(L, &u->opt, 5, model);
    }
    lua_settop(L, 2);
    run_schedules(L, u, 1, u->opt.t + 1);
    lua_getiuservalue(L, 1, UV_PARAMS); /* 3 */
    ol_tensor *w = ol_l_totensor(L, 3);
    if (!w) return luaL_error(L, "optimizer's params tensor was closed");
    double loss = NAN;
    int lookahead = 0, closure = lua_isfunction(L, 2);
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
        g = call_method_tensor(L, -1, "grads", 1, "step");
    } else {
        g = ol_l_totensor(L, 2);
        if (!g) return ol_arg_expected(L, 2, NULL, "closure or gradient tensor");
    }
    if (ol_optim_step(&u->opt, w, g, loss, lookahead, &err)) return ol_l_error(L, 2, &err);
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

/* opt:schedule(field, f) -> opt; f = nil removes the schedule. The field
 * ("lr", "betas", "betas[2]") is resolved here, once; attaching to a field
 * again replaces its function in place. */
static int l_schedule(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    const char *field = luaL_checkstring(L, 2);
    ol_optim_field f;
    ol_error err;
    if (ol_optim_find_field(u->opt.desc, field, &f, &err)) return ol_l_error(L, 2, &err);
    /* A function, or anything callable (a schedule object with __call). */
    if (!lua_isnoneornil(L, 3) && !lua_isfunction(L, 3) &&
        !(luaL_getmetafield(L, 3, "__call") != LUA_TNIL && (lua_pop(L, 1), 1)))
        return ol_arg_expected(L, 3, NULL, "function or callable");
    lua_settop(L, 3);
    lua_getiuservalue(L, 1, UV_SCHED); /* 4 */
    int i = 0;
    while (i < u->nsched && !(u->sched[i].option == f.option && u->sched[i].elem == f.elem)) i++;
    if (!lua_isnil(L, 3)) {
        if (i == u->nsched) u->sched[u->nsched++] = f; /* at most MAXSCHED distinct fields */
        lua_pushvalue(L, 3);
        lua_rawseti(L, 4, i + 1);
    } else if (i < u->nsched) { /* remove entry i, keeping the order of the rest */
        for (; i + 1 < u->nsched; i++) {
            u->sched[i] = u->sched[i + 1];
            lua_rawgeti(L, 4, i + 2);
            lua_rawseti(L, 4, i + 1);
        }
        lua_pushnil(L);
        lua_rawseti(L, 4, u->nsched--);
    }
    lua_settop(L, 1);
    return 1;
}

/* opt:options() -> {name = value, ...}: a copy of every option. */
static int l_options(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    const ol_optim_desc *d = u->opt.desc;
    lua_createtable(L, 0, d->noptions);
    for (int i = 0; i < d->noptions; i++) {
        ol_l_optim_push_option(L, &d->options[i], u->opt.o + d->options[i].slot);
        lua_setfield(L, -2, d->options[i].name);
    }
    return 1;
}

static const luaL_Reg methods[] = {
    {"step", l_step},   {"state", l_state},     {"reset", l_reset},
    {"schedule", l_schedule}, {"options", l_options}, {NULL, NULL},
};

/* opt.KEY: methods, then t, name, dtype, then the options. */
static int l_index(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    const char *k = lua_tostring(L, 2);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    if (strcmp(k, "t") == 0) {
        lua_pushinteger(L, (lua_Integer)u->opt.t);
    } else if (strcmp(k, "name") == 0) {
        lua_pushstring(L, u->opt.desc->name);
    } else if (strcmp(k, "dtype") == 0) {
        lua_pushstring(L, ol_dtype_name(u->opt.dtype));
    } else if (strcmp(k, "info") == 0 && u->opt.desc->closure_step) {
        lua_pushstring(L, u->opt.info); /* what the last step did (l_second.c) */
    } else {
        const ol_optim_option *op = ol_optim_find_option(u->opt.desc, k);
        if (!op) return 0;
        ol_l_optim_push_option(L, op, u->opt.o + op->slot);
    }
    return 1;
}

/* opt.KEY = v: options only, checked as at construction. */
static int l_newindex(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "t") == 0 || strcmp(k, "name") == 0 || strcmp(k, "dtype") == 0 ||
        (strcmp(k, "info") == 0 && u->opt.desc->closure_step))
        return luaL_error(L, "%s: field '%s' is read-only", u->opt.desc->name, k);
    const ol_optim_option *op = ol_optim_find_option(u->opt.desc, k);
    if (!op) {
        const char *names[64];
        const char *close = ol_arg_closest(k, names, option_names(u->opt.desc, names, 64));
        return luaL_error(L, "unknown option '%s' for %s%s%s%s", k, u->opt.desc->name,
                          close ? "; did you mean '" : "", close ? close : "", close ? "'?" : "");
    }
    ol_error err;
    if (store(L, u, (ol_optim_field){.option = op, .elem = 0}, 3, &err))
        return luaL_error(L, "%s: %s", u->opt.desc->name, err.msg);
    return 0;
}

static int l_tostring(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    lua_pushfstring(L, "optlua.optim.%s (%s, %I parameters, t = %I)", u->opt.desc->name,
                    ol_dtype_name(u->opt.dtype), (lua_Integer)u->opt.n, (lua_Integer)u->opt.t);
    return 1;
}

static int l_gc(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    if (u->live) ol_optim_free(&u->opt);
    u->live = 0;
    return 0;
}

/* The option value at the top of the stack (popped) as the listing shows
 * it, into buf: numbers to 6 digits, "true", "irprop-", "{0.9, 0.999}". */
static void value_text(lua_State *L, char *buf, size_t size) {
    buf[0] = 0;
    switch (lua_type(L, -1)) {
    case LUA_TNUMBER: snprintf(buf, size, "%.6g", lua_tonumber(L, -1)); break;
    case LUA_TBOOLEAN: snprintf(buf, size, "%s", lua_toboolean(L, -1) ? "true" : "false"); break;
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


/* tostring(ol.optim.list()): every optimizer with its options and defaults. */
static int list_tostring(lua_State *L) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++) {
        char head[32];
        snprintf(head, sizeof head, "%-15s", (*d)->name);
        luaL_addstring(&b, head);
        double o[OL_OPTIM_MAXSLOTS] = {0};
        ol_optim_defaults(*d, o);
        for (int i = 0; i < (*d)->noptions; i++) {
            const ol_optim_option *op = &(*d)->options[i];
            if (i) luaL_addstring(&b, ", ");
            luaL_addstring(&b, op->name);
            luaL_addchar(&b, '=');
            char text[96];
            ol_l_optim_push_option(L, op, o + op->slot);
            value_text(L, text, sizeof text);
            luaL_addstring(&b, text);
        }
        luaL_addchar(&b, '\n');
    }
    luaL_pushresult(&b);
    return 1;
}

/* ol.optim.list() -> {names} in registry order; printed (as the REPL does)
 * it lists every optimizer with its options and defaults. */
static int l_list(lua_State *L) {
    lua_newtable(L);
    int i = 0;
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++) {
        lua_pushstring(L, (*d)->name);
        lua_rawseti(L, -2, ++i);
    }
    if (luaL_newmetatable(L, "optlua.optim.list")) {
        lua_pushcfunction(L, list_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);
    return 1;
}

/* ol.optim.defaults(name) -> {option = default, ...} */
static int l_defaults(lua_State *L) {
    if (lua_type(L, 1) != LUA_TSTRING) return ol_arg_expected(L, 1, "defaults", "optimizer name");
    const char *name = lua_tostring(L, 1);
    const ol_optim_desc *d = ol_optim_find(name);
    if (!d) return ol_arg_error(L, 1, "defaults", "unknown optimizer '%s'", name);
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
    luaL_newmetatable(L, OL_OPTIM_MT);
    luaL_newlib(L, methods);
    lua_pushvalue(L, -1); /* also __methods, for the REPL's completion */
    lua_setfield(L, -3, "__methods");
    lua_pushcclosure(L, l_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    lua_newtable(L); /* ol.optim */
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++) {
        lua_pushlightuserdata(L, (void *)*d);
        lua_pushcclosure(L, l_new, 1);
        lua_setfield(L, -2, (*d)->name);
    }
    lua_pushcfunction(L, l_list);
    lua_setfield(L, -2, "list");
    lua_pushcfunction(L, l_defaults);
    lua_setfield(L, -2, "defaults");
    lua_setfield(L, -2, "optim");
}
