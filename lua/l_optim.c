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
 * the schedules table {field = f} (3).
 *
 * Option values cross the boundary as Lua types: numbers, booleans, enum
 * names (strings), pairs as {a, b}. Every assignment goes through the
 * engine's checks (ol_optim_set), so a bad value never reaches a kernel. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "l_common.h"
#include "optim/optim.h"

#define OL_OPTIM_MT "optlua.optim"

enum { UV_PARAMS = 1, UV_MODEL = 2, UV_SCHED = 3 };

typedef struct l_optim {
    ol_optim opt;
    int live; /* ol_optim_init succeeded: __gc must free */
} l_optim;

static l_optim *check_optim(lua_State *L, int idx) {
    return (l_optim *)luaL_checkudata(L, idx, OL_OPTIM_MT);
}

/* Reads the Lua value at idx as option op's value(s) into v; on a type
 * mismatch fills err and returns -1. */
static int to_values(lua_State *L, int idx, const ol_optim_option *op, double *v, ol_error *err) {
    idx = lua_absindex(L, idx);
    switch (op->type) {
    case OL_OPT_NUMBER:
        if (lua_type(L, idx) != LUA_TNUMBER)
            return ol_fail(err, "option '%s' must be a number, got %s", op->name, luaL_typename(L, idx));
        v[0] = lua_tonumber(L, idx);
        return 0;
    case OL_OPT_BOOL:
        if (lua_type(L, idx) != LUA_TBOOLEAN)
            return ol_fail(err, "option '%s' must be a boolean, got %s", op->name, luaL_typename(L, idx));
        v[0] = lua_toboolean(L, idx);
        return 0;
    case OL_OPT_ENUM: {
        /* nil selects a "none" choice where there is one (lbfgs's line_search = nil). */
        if (lua_isnil(L, idx) && ol_optim_enum_index(op, "none") >= 0) {
            v[0] = ol_optim_enum_index(op, "none");
            return 0;
        }
        if (lua_type(L, idx) != LUA_TSTRING)
            return ol_fail(err, "option '%s' must be a string, got %s", op->name, luaL_typename(L, idx));
        int k = ol_optim_enum_index(op, lua_tostring(L, idx));
        if (k < 0) {
            char list[160] = "";
            for (int i = 0; op->choices[i]; i++) {
                if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, op->choices[i], sizeof list - strlen(list) - 1);
            }
            return ol_fail(err, "option '%s' must be one of %s, got '%s'", op->name, list,
                           lua_tostring(L, idx));
        }
        v[0] = k;
        return 0;
    }
    case OL_OPT_PAIR:
        if (lua_type(L, idx) != LUA_TTABLE || lua_rawlen(L, idx) != 2)
            return ol_fail(err, "option '%s' must be a pair {a, b}, got %s", op->name,
                           luaL_typename(L, idx));
        for (int k = 0; k < 2; k++) {
            int t = lua_rawgeti(L, idx, k + 1);
            v[k] = lua_tonumber(L, -1);
            lua_pop(L, 1);
            if (t != LUA_TNUMBER) return ol_fail(err, "option '%s' must be a pair of numbers", op->name);
        }
        return 0;
    }
    return ol_fail(err, "option '%s' has an unknown type", op->name);
}

static void push_value(lua_State *L, const ol_optim_option *op, const double *o) {
    const double *v = o + op->slot;
    switch (op->type) {
    case OL_OPT_NUMBER: lua_pushnumber(L, v[0]); break;
    case OL_OPT_BOOL: lua_pushboolean(L, v[0] != 0); break;
    case OL_OPT_ENUM: lua_pushstring(L, op->choices[(int)v[0]]); break;
    case OL_OPT_PAIR:
        lua_createtable(L, 2, 0);
        lua_pushnumber(L, v[0]);
        lua_rawseti(L, -2, 1);
        lua_pushnumber(L, v[1]);
        lua_rawseti(L, -2, 2);
        break;
    }
}

/* Assigns field `name` from the value at idx; raises "NAME: msg" on error. */
static void assign(lua_State *L, l_optim *u, const char *name, int idx, const char *context) {
    ol_error err;
    double v[2] = {0, 0};
    const ol_optim_option *op = ol_optim_find_option(u->opt.desc, name);
    if (!op) luaL_error(L, "%sunknown option '%s' for %s", context, name, u->opt.desc->name);
    if (to_values(L, idx, op, v, &err) == 0 && ol_optim_set(&u->opt, name, v, &err) == 0) return;
    luaL_error(L, "%s%s: %s", context, u->opt.desc->name, err.msg);
}

/* The flat tensor returned by obj:method(), or a Lua error. */
static ol_tensor *call_method_tensor(lua_State *L, int obj, const char *method, int arg,
                                     const char *fname) {
    obj = lua_absindex(L, obj);
    if (lua_getfield(L, obj, method) == LUA_TNIL)
        luaL_error(L, "bad argument #%d to '%s' (model has no %s() method)", arg, fname, method);
    lua_pushvalue(L, obj);
    lua_call(L, 1, 1);
    ol_tensor *t = ol_l_totensor(L, -1);
    if (!t) luaL_error(L, "bad argument #%d to '%s' (model:%s() did not return a tensor)", arg, fname, method);
    return t;
}

/* Optimizers that work on whole matrices (muon) learn where the 2-D
 * weights lie: from net:parameters() (entries with a 2-D tensor and a
 * 1-based offset into params()) for a model, or the tensor itself when a
 * 2-D tensor is given. */
static void set_blocks(lua_State *L, l_optim *u, int has_model, const ol_tensor *w,
                       const char *fname) {
    ol_error err;
    int nb = 0;
    ol_optim_block *b;
    if (!has_model) {
        if (w->ndim != 2) return;
        b = lua_newuserdatauv(L, sizeof *b, 0);
        b[0] = (ol_optim_block){.offset = 0, .rows = w->shape[0], .cols = w->shape[1]};
        nb = 1;
    } else {
        if (lua_getfield(L, 1, "parameters") == LUA_TNIL) {
            lua_pop(L, 1);
            return;
        }
        lua_pushvalue(L, 1);
        lua_call(L, 1, 1);
        int list = lua_gettop(L);
        if (!lua_istable(L, list))
            luaL_error(L, "bad argument #1 to '%s' (model:parameters() did not return a table)", fname);
        lua_Integer n = (lua_Integer)lua_rawlen(L, list);
        b = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *b, 0);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, list, i);
            lua_getfield(L, -1, "tensor");
            const ol_tensor *t = ol_l_totensor(L, -1);
            lua_getfield(L, -2, "offset");
            if (t && t->ndim == 2 && lua_isinteger(L, -1))
                b[nb++] = (ol_optim_block){.offset = (int64_t)lua_tointeger(L, -1) - 1,
                                           .rows = t->shape[0], .cols = t->shape[1]};
            lua_pop(L, 3);
        }
    }
    if (ol_optim_set_blocks(&u->opt, b, nb, &err))
        luaL_error(L, "bad argument #1 to '%s' (%s)", fname, err.msg);
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
            return luaL_error(L, "bad argument #1 to '%s' (tensor or model expected, got %s)", fname,
                              luaL_typename(L, 1));
        w = call_method_tensor(L, 1, "params", 1, fname); /* 3 */
        has_model = 1;
    }
    if (!ol_tensor_is_contiguous(w))
        return luaL_error(L, "bad argument #1 to '%s' (params must be contiguous)", fname);
    if (!lua_isnil(L, 2) && !lua_istable(L, 2))
        return luaL_error(L, "bad argument #2 to '%s' (options table expected, got %s)", fname,
                          luaL_typename(L, 2));

    if (lua_istable(L, 2)) ol_l_optim_suboptions(L, d, 2); /* {fallback = {...}} */
    l_optim *u = lua_newuserdatauv(L, sizeof *u, 3); /* 4 */
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, OL_OPTIM_MT);
    if (ol_optim_init(&u->opt, d, w->dtype, ol_tensor_numel(w), &err))
        return luaL_error(L, "bad argument #1 to '%s' (%s)", fname, err.msg);
    u->live = 1;

    /* All options first, then the rules between them, so that the order of
     * the table's keys does not matter ({gain_min = 20, gain_max = 30}). */
    double o[OL_OPTIM_MAXSLOTS];
    memcpy(o, u->opt.o, sizeof o);
    if (lua_istable(L, 2)) {
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "bad argument #2 to '%s' (option names must be strings, got %s)",
                                  fname, luaL_typename(L, -2));
            const char *name = lua_tostring(L, -2);
            const ol_optim_option *op = ol_optim_find_option(d, name);
            double v[2] = {0, 0};
            if (!op) ol_fail(&err, "unknown option '%s' for %s", name, fname);
            if (!op || to_values(L, -1, op, v, &err))
                return luaL_error(L, "bad argument #2 to '%s' (%s)", fname, err.msg);
            o[op->slot] = v[0];
            if (op->type == OL_OPT_PAIR) o[op->slot + 1] = v[1];
            lua_pop(L, 1);
        }
    }
    if (ol_optim_check_values(d, o, &err))
        return luaL_error(L, "bad argument #2 to '%s' (%s)", fname, err.msg);
    memcpy(u->opt.o, o, sizeof o);
    if (ol_optim_uses_blocks(&u->opt)) ol_l_optim_blocks(L, &u->opt, 1, w, fname); /* muon */

    if (ol_optim_uses_blocks(&u->opt)) set_blocks(L, u, has_model, w, fname);

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

/* A scheduled field: an option name, or "name[1]" / "name[2]" for one
 * element of a pair (opt:schedule("betas[2]", f)). Returns the option or
 * NULL; *elem is 0 for the whole option, else 1 or 2. */
static const ol_optim_option *parse_field(const ol_optim_desc *d, const char *field, int *elem) {
    char name[64];
    const char *br = strchr(field, '[');
    *elem = 0;
    if (!br) return ol_optim_find_option(d, field);
    size_t len = (size_t)(br - field);
    if (len >= sizeof name || !(br[1] == '1' || br[1] == '2') || strcmp(br + 2, "]") != 0) return NULL;
    memcpy(name, field, len);
    name[len] = 0;
    const ol_optim_option *op = ol_optim_find_option(d, name);
    if (!op || op->type != OL_OPT_PAIR) return NULL;
    *elem = br[1] - '0';
    return op;
}

/* Before a step: field <- f(t) for every schedule, t = the step about to
 * be taken (from 1), through the same checks as an assignment. */
static void run_schedules(lua_State *L, l_optim *u, int idx) {
    lua_getiuservalue(L, idx, UV_SCHED);
    int sched = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, sched)) {
        const char *field = lua_tostring(L, -2);
        int elem;
        const ol_optim_option *op = parse_field(u->opt.desc, field, &elem);
        lua_pushvalue(L, -1);
        lua_pushinteger(L, (lua_Integer)(u->opt.t + 1));
        lua_call(L, 1, 1);
        if (elem && op) {
            ol_error err;
            int isnum;
            double v[2] = {u->opt.o[op->slot], u->opt.o[op->slot + 1]};
            v[elem - 1] = lua_tonumberx(L, -1, &isnum);
            if (!isnum)
                luaL_error(L, "schedule: %s: '%s' must be a number, got %s", u->opt.desc->name, field,
                           luaL_typename(L, -1));
            if (ol_optim_set(&u->opt, op->name, v, &err))
                luaL_error(L, "schedule: %s: %s", u->opt.desc->name, err.msg);
        } else {
            assign(L, u, field, -1, "schedule: ");
        }
        lua_pop(L, 2); /* value, function */
    }
    lua_pop(L, 1);
}

ol_optim *ol_l_tooptim(lua_State *L, int idx) {
    l_optim *u = luaL_testudata(L, idx, OL_OPTIM_MT);
    return u && u->live ? &u->opt : NULL;
}

void ol_l_optim_schedules(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    l_optim *u = check_optim(L, idx);
    run_schedules(L, u, idx);
}

/* opt:step(closure) -> loss; opt:step(grad); opt:step() on a model. */
static int l_step(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    ol_error err;
    if (u->opt.desc->closure_step) { /* newton, cg, lbfgs, hessian_free: l_second.c */
        lua_settop(L, 4);
        run_schedules(L, u, 1);
        lua_getiuservalue(L, 1, UV_PARAMS); /* 5 */
        if (!ol_l_totensor(L, 5)) return luaL_error(L, "optimizer's params tensor was closed");
        int model = lua_getiuservalue(L, 1, UV_MODEL) == LUA_TNIL ? 0 : 6;
        return ol_l_second_step(L, &u->opt, 1, 5, model);
    }
    lua_settop(L, 2);
    run_schedules(L, u, 1);
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
            return luaL_argerror(L, 2, "closure must return loss (a number), grad");
        if (lua_type(L, 4) == LUA_TNUMBER) loss = lua_tonumber(L, 4);
        g = ol_l_totensor(L, 5);
        if (!g) return luaL_argerror(L, 2, lua_pushfstring(L, "closure must return loss, grad (a tensor); got %s as grad",
                                                           luaL_typename(L, 5)));
    } else if (lua_isnil(L, 2)) {
        if (lua_getiuservalue(L, 1, UV_MODEL) == LUA_TNIL)
            return luaL_argerror(L, 2, "closure or gradient tensor expected (the optimizer has no model)");
        g = call_method_tensor(L, -1, "grads", 1, "step");
    } else {
        g = ol_l_totensor(L, 2);
        if (!g) return luaL_typeerror(L, 2, "closure or gradient tensor");
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

/* opt:schedule(field, f) -> opt; f = nil removes the schedule. */
static int l_schedule(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    const char *field = luaL_checkstring(L, 2);
    int elem;
    if (!parse_field(u->opt.desc, field, &elem))
        return luaL_argerror(L, 2, lua_pushfstring(L, "unknown option '%s' for %s", field, u->opt.desc->name));
    /* A function, or anything callable (a schedule object with __call). */
    if (!lua_isnoneornil(L, 3) && !lua_isfunction(L, 3) &&
        !(luaL_getmetafield(L, 3, "__call") != LUA_TNIL && (lua_pop(L, 1), 1)))
        return luaL_typeerror(L, 3, "function or callable");
    lua_settop(L, 3);
    lua_getiuservalue(L, 1, UV_SCHED);
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, field);
    lua_settop(L, 1);
    return 1;
}

/* opt:options() -> {name = value, ...}: a copy of every option. */
static int l_options(lua_State *L) {
    l_optim *u = check_optim(L, 1);
    const ol_optim_desc *d = u->opt.desc;
    lua_createtable(L, 0, d->noptions);
    for (int i = 0; i < d->noptions; i++) {
        push_value(L, &d->options[i], u->opt.o);
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
        push_value(L, op, u->opt.o);
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
    assign(L, u, k, 3, "");
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

/* ol.optim.list() -> names of every optimizer, in registry order. */
/* One option's default as text: "1e-3", "false", "irprop-", "{0.9, 0.999}". */
static void add_default(luaL_Buffer *b, const ol_optim_option *op) {
    char num[64];
    switch (op->type) {
    case OL_OPT_NUMBER:
        snprintf(num, sizeof num, "%.6g", op->def[0]);
        luaL_addstring(b, num);
        break;
    case OL_OPT_BOOL: luaL_addstring(b, op->def[0] != 0 ? "true" : "false"); break;
    case OL_OPT_ENUM: luaL_addstring(b, op->choices[(int)op->def[0]]); break;
    case OL_OPT_PAIR:
        snprintf(num, sizeof num, "{%.6g, %.6g}", op->def[0], op->def[1]);
        luaL_addstring(b, num);
        break;
    }
}

/* tostring(ol.optim.list()): every optimizer with its options and defaults. */
static int list_tostring(lua_State *L) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++) {
        char head[32];
        snprintf(head, sizeof head, "%-15s", (*d)->name);
        luaL_addstring(&b, head);
        for (int i = 0; i < (*d)->noptions; i++) {
            const ol_optim_option *op = &(*d)->options[i];
            if (i) luaL_addstring(&b, ", ");
            luaL_addstring(&b, op->name);
            luaL_addchar(&b, '=');
            add_default(&b, op);
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
    const char *name = luaL_checkstring(L, 1);
    const ol_optim_desc *d = ol_optim_find(name);
    if (!d) return luaL_argerror(L, 1, lua_pushfstring(L, "unknown optimizer '%s'", name));
    double o[OL_OPTIM_MAXSLOTS] = {0};
    for (int i = 0; i < d->noptions; i++) {
        o[d->options[i].slot] = d->options[i].def[0];
        if (d->options[i].type == OL_OPT_PAIR) o[d->options[i].slot + 1] = d->options[i].def[1];
    }
    lua_createtable(L, 0, d->noptions);
    for (int i = 0; i < d->noptions; i++) {
        push_value(L, &d->options[i], o);
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
