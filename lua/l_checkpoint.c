/* ol.save, ol.load, ck:restore: training checkpoints as safetensors files
 * (engine/io/checkpoint.c does the format and the RNG's part of it,
 * engine/optim/io.c the optimizer's; this file decides what goes in and
 * shows what came out).
 *
 *   ol.save(path, {model = net, optimizer = opt, average = avg,
 *                  meta = {epoch = 3}, tensors = {name = tensor, ...}})
 *   local ck = ol.load(path)   -- ck.meta, ck.tensors, ck.optimizer,
 *                              -- ck.average, ck.rng
 *   ck:restore(net, opt [, avg] [, {rng = true}])
 *
 * What a file holds, so that training resumes bit-for-bit:
 *  - tensors: the model's parameters under their net:parameters() names
 *    ("1.weight", ...), its buffers under their net:buffers() names
 *    (batch_norm's "2.running_mean", "2.running_var", as torch's
 *    state_dict names them), the optimizer's state as "optim.state.NAME", a
 *    weight average (ol.average) as "average.weights", and any extra
 *    `tensors`;
 *  - __metadata__ (strings only, as the format demands):
 *      optim.name, optim.dtype, optim.t        the optimizer and its step count
 *      optim.options  JSON {name: value}       every live option
 *      optim.scalars  JSON [...]               scalar state
 *      optim.mode     "train" | "eval"         schedule-free optimizers only
 *      average.kind, average.t, average.n      the average: "ema" | "swa",
 *                                              its updates and (swa) the
 *                                              weight vectors in it
 *      average.options  JSON                   {decay, warmup} | {start, every}
 *      rng.state      JSON ["hex64" x 4]       the global RNG (core/rng.h)
 *      optlua.format  "1"
 *      optlua.meta_json  JSON [keys]           user keys stored as JSON
 *      optlua.crc32, optlua.crc32.header       checksums, which the engine
 *                                              writes and checks (io/checkpoint.h)
 *    and the user's meta: strings as they are, numbers, booleans and
 *    tables as JSON text (listed in optlua.meta_json, decoded on load).
 *    Doubles are written in the shortest form that reads back as the same
 *    double; inf and nan, which JSON lacks, as the strings "inf", "-inf" and
 *    "nan", read back as numbers at any depth (so the string "inf" itself
 *    comes back as a number).
 *
 * ol.load reads and checks the whole file, the optimizer's part included
 * (ol_optim_read), and keeps it beside ck (a weak table maps ck to it), so
 * that ck:restore imports the optimizer and RNG from what was read, not
 * from the Lua tables that show it.
 *
 * Schedules are Lua functions f(t) of the optimizer's step count, so
 * restoring opt.t puts every schedule where it was; a closure's own
 * upvalues are not saved. The data loader draws an epoch's order from the
 * RNG when the epoch starts: a checkpoint taken at an epoch boundary
 * resumes exactly; one taken mid-epoch (Ctrl-C) and restored here resumes
 * at the start of a fresh epoch, while ol.train{resume = path} continues
 * that epoch (engine/train/run.h: the file keeps the RNG as the epoch
 * began). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "l_common.h"
#include "optim/average.h"
#include "optim/optim.h"
#include "core/rng.h"

#define CKBOX_MT "optlua.ckbox"
#define CK_MT "optlua.checkpoint"

/* An ol_checkpoint in a userdata, so that a Lua error anywhere frees it. */
static ol_checkpoint *new_box(lua_State *L) {
    ol_checkpoint *ck = lua_newuserdatauv(L, sizeof *ck, 0);
    ol_ck_init(ck);
    luaL_setmetatable(L, CKBOX_MT);
    return ck;
}

static int box_gc(lua_State *L) {
    ol_ck_free(luaL_checkudata(L, 1, CKBOX_MT));
    return 0;
}

static void set_meta(lua_State *L, ol_checkpoint *ck, const char *k, const char *v) {
    ol_error err;
    if (ol_ck_set_meta(ck, k, v, &err)) ol_l_error(L, 0, &err);
}

/* Sets metadata k to the JSON text of j (taken over). */
static void set_meta_json(lua_State *L, ol_checkpoint *ck, const char *k, json_t *j) {
    ol_error err;
    if (ol_ck_set_meta_json(ck, k, j, &err)) luaL_error(L, "save: %s", err.msg);
}

/* ---- saving ---- */

static int reserved(const char *k) {
    return strncmp(k, "optim.", 6) == 0 || strncmp(k, "rng.", 4) == 0 || strncmp(k, "optlua.", 7) == 0 ||
           strncmp(k, "average.", 8) == 0;
}

static void add_tensor(lua_State *L, ol_checkpoint *ck, const char *name, const ol_tensor *t, const char *what) {
    ol_error err;
    if (ol_ck_add(ck, name, t, &err))
        ol_arg_error(L, 2, "save", "%s '%s': %s", what, name, err.msg);
}

/* Calls model:parameters() for the model at idx and checks what comes
 * back, since a script may replace the method: a list whose entries are
 * tables with a string `name` and a tensor `tensor`, read raw (no
 * metamethod runs, so a second pass over the list sees the same).
 * Leaves the list on the stack and returns its length. */
static lua_Integer model_parameters(lua_State *L, int idx, int arg, const char *fname) {
    lua_getfield(L, idx, "parameters");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    if (!lua_istable(L, -1))
        ol_arg_error(L, arg, fname, "model:parameters(): list expected, got %s", luaL_typename(L, -1));
    const int list = lua_gettop(L);
    const lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, list, i) != LUA_TTABLE)
            ol_arg_error(L, arg, fname, "model:parameters()[%d]: table expected, got %s", (int)i,
                         luaL_typename(L, -1));
        lua_pushliteral(L, "name");
        if (lua_rawget(L, -2) != LUA_TSTRING)
            ol_arg_error(L, arg, fname, "model:parameters()[%d].name: string expected, got %s", (int)i,
                         luaL_typename(L, -1));
        lua_pushliteral(L, "tensor");
        lua_rawget(L, -3);
        if (!ol_l_totensor(L, -1))
            ol_arg_error(L, arg, fname, "model:parameters()[%d].tensor: tensor expected, got %s", (int)i,
                         luaL_typename(L, -1));
        lua_pop(L, 3);
    }
    return n;
}

/* Entry i of a list model_parameters checked: its name and tensor, the
 * entry's values left on the stack (3 slots: entry, name, tensor). */
static const char *param_entry(lua_State *L, int list, lua_Integer i, ol_tensor **t) {
    lua_rawgeti(L, list, i);
    lua_pushliteral(L, "name");
    lua_rawget(L, -2);
    lua_pushliteral(L, "tensor");
    lua_rawget(L, -3);
    *t = ol_l_totensor(L, -1);
    return lua_tostring(L, -2);
}

static void save_model(lua_State *L, ol_checkpoint *ck, int idx) {
    const lua_Integer n = model_parameters(L, idx, 2, "save");
    const int list = lua_gettop(L);
    for (lua_Integer i = 1; i <= n; i++) {
        ol_tensor *t;
        const char *name = param_entry(L, list, i, &t);
        add_tensor(L, ck, name, t, "model tensor");
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
    ol_model *m = ol_l_tomodel(L, idx);
    for (int k = 0; m && k < ol_model_nbuffers(m); k++) {
        char name[64];
        ol_tensor v;
        ol_model_buffer_name(m, k, name, sizeof name);
        ol_model_buffer_view(m, k, &v);
        ol_error err;
        const int rc = ol_ck_add(ck, name, &v, &err);
        ol_tensor_release(&v);
        if (rc) ol_arg_error(L, 2, "save", "model buffer '%s': %s", name, err.msg);
    }
}

static void save_optimizer(lua_State *L, ol_checkpoint *ck, int idx) {
    ol_optim *o = ol_l_tooptim(L, idx);
    ol_error err;
    if (ol_optim_export(o, ck, &err)) ol_arg_error(L, 2, "save", "%s", err.msg);
}

static void save_average(lua_State *L, ol_checkpoint *ck, int idx) {
    ol_error err;
    if (ol_average_export(ol_l_toaverage(L, idx), ck, &err)) ol_arg_error(L, 2, "save", "%s", err.msg);
}

static void save_rng(lua_State *L, ol_checkpoint *ck) {
    ol_rng_state s;
    ol_error err;
    ol_rng_get_state(&s);
    if (ol_ck_put_rng(ck, &s, &err)) luaL_error(L, "save: %s", err.msg);
}

static void save_meta(lua_State *L, ol_checkpoint *ck, int idx) {
    lua_newtable(L); /* the keys stored as JSON, as a Lua sequence until the end */
    int keys = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            ol_arg_error(L, 2, "save", "meta keys must be strings, got %s", luaL_typename(L, -2));
        const char *k = lua_tostring(L, -2);
        if (reserved(k) || strcmp(k, "__metadata__") == 0)
            ol_arg_error(L, 2, "save", "meta key '%s' is reserved: optim.*, average.*, rng.* and optlua.* "
                         "are optlua's", k);
        if (lua_type(L, -1) == LUA_TSTRING) {
            set_meta(L, ck, k, lua_tostring(L, -1));
        } else {
            const char *why = "cannot encode";
            int top = lua_gettop(L);
            json_t *j = ol_l_to_json(L, -1, &why);
            if (!j) ol_arg_error(L, 2, "save", "meta.%s: %s", k, why);
            lua_settop(L, top);
            set_meta_json(L, ck, k, j);
            lua_pushvalue(L, -2);
            lua_rawseti(L, keys, (lua_Integer)lua_rawlen(L, keys) + 1);
        }
        lua_pop(L, 1);
    }
    json_t *a = json_array();
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, keys); i++) {
        lua_rawgeti(L, keys, i);
        json_array_append_new(a, json_string(lua_tostring(L, -1)));
        lua_pop(L, 1);
    }
    set_meta_json(L, ck, "optlua.meta_json", a);
    lua_pop(L, 1);
}

static void save_extra(lua_State *L, ol_checkpoint *ck, int idx) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            ol_arg_error(L, 2, "save", "tensors: names must be strings");
        const ol_tensor *t = ol_l_totensor(L, -1);
        if (!t)
            ol_arg_error(L, 2, "save", "tensors.%s: tensor expected, got %s", lua_tostring(L, -2),
                         luaL_typename(L, -1));
        add_tensor(L, ck, lua_tostring(L, -2), t, "tensor");
        lua_pop(L, 1);
    }
}

static int l_save(lua_State *L) {
    if (lua_type(L, 1) != LUA_TSTRING) return ol_arg_expected(L, 1, "save", "file name");
    const char *path = lua_tostring(L, 1);
    lua_settop(L, 2);
    ol_opts o;
    ol_opts_begin(L, &o, 2, "save", OL_OPTS_REQUIRED);
    if (ol_opt_push(&o, "model") && !ol_l_tomodel(L, -1)) ol_opt_expected(&o, "model", "a model", -1);
    if (ol_opt_push(&o, "optimizer") && !ol_l_tooptim(L, -1))
        ol_opt_expected(&o, "optimizer", "an optimizer", -1);
    if (ol_opt_push(&o, "average") && !ol_l_toaverage(L, -1))
        ol_opt_expected(&o, "average", "an average (ol.average.ema or ol.average.swa)", -1);
    ol_opt_table(&o, "meta");
    ol_opt_table(&o, "tensors");
    ol_opts_end(&o);
    lua_settop(L, 2);
    ol_checkpoint *ck = new_box(L); /* 3 */
    if (lua_getfield(L, 2, "model") != LUA_TNIL) save_model(L, ck, 4);
    lua_settop(L, 3);
    if (lua_getfield(L, 2, "optimizer") != LUA_TNIL) save_optimizer(L, ck, 4);
    lua_settop(L, 3);
    if (lua_getfield(L, 2, "average") != LUA_TNIL) save_average(L, ck, 4);
    lua_settop(L, 3);
    if (lua_getfield(L, 2, "tensors") != LUA_TNIL) save_extra(L, ck, 4);
    lua_settop(L, 3);
    save_rng(L, ck);
    set_meta(L, ck, "optlua.format", "1");
    if (lua_getfield(L, 2, "meta") != LUA_TNIL) save_meta(L, ck, 4);
    lua_settop(L, 3);
    ol_error err;
    if (ol_ck_save(ck, path, &err)) return luaL_error(L, "save: %s", err.msg);
    ol_ck_free(ck);
    return 0;
}

/* ---- loading ---- */

/* Metadata key k as JSON (NULL when absent); raises when malformed. */
static json_t *meta_json(lua_State *L, const ol_checkpoint *ck, const char *k) {
    json_t *j;
    ol_error err;
    if (ol_ck_get_meta_json(ck, k, &j, &err)) luaL_error(L, "load: %s", err.msg);
    return j;
}

/* ck.optimizer = {name, dtype, t, options, scalars, mode[, groups][, inner]}
 * when the file has one: what ol_optim_read found, the options the file
 * holds (in their Lua form), scalars as numbers (group 1's), mode "train"
 * or "eval", with several groups each group's {options, scalars}, and for
 * a wrapper (lookahead) its inner optimizer's the same way. Set as field
 * `field` of the table on top of the stack; pre: the keys' prefix. */
static void push_optimizer_at(lua_State *L, const ol_checkpoint *ck, const char *pre,
                              const char *field) {
    ol_optim_saved s;
    ol_error err;
    int rc = ol_optim_read_at(ck, pre, &s, &err);
    if (rc < 0) luaL_error(L, "load: %s", err.msg);
    if (rc > 0) return;
    /* The groups into Lua's memory before anything can raise. */
    const int ng = s.ngroups, eval_mode = s.eval_mode;
    ol_optim_group *groups = lua_newuserdatauv(L, sizeof *groups * (size_t)ng, 0);
    memcpy(groups, s.groups, sizeof *groups * (size_t)ng);
    ol_optim_saved_free(&s);
    const int gslot = lua_gettop(L);
    const ol_optim_desc *d = s.desc;
    lua_createtable(L, 0, 6);
    lua_pushstring(L, d->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, ol_dtype_name(s.dtype));
    lua_setfield(L, -2, "dtype");
    lua_pushinteger(L, (lua_Integer)s.t);
    lua_setfield(L, -2, "t");
    lua_createtable(L, 0, d->noptions);
    for (int i = 0; i < d->noptions; i++) {
        if (!s.stored[i]) continue;
        ol_l_optim_push_option(L, &d->options[i], s.o + d->options[i].slot);
        lua_setfield(L, -2, d->options[i].name);
    }
    lua_setfield(L, -2, "options");
    lua_createtable(L, d->nscalars, 0);
    for (int i = 0; i < d->nscalars; i++) {
        lua_pushnumber(L, s.scalars[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "scalars");
    lua_pushstring(L, eval_mode ? "eval" : "train");
    lua_setfield(L, -2, "mode");
    if (ng > 1) { /* every group's options and scalars */
        lua_createtable(L, ng, 0);
        for (int g = 0; g < ng; g++) {
            lua_createtable(L, 0, 2);
            lua_createtable(L, 0, d->noptions);
            for (int i = 0; i < d->noptions; i++) {
                ol_l_optim_push_option(L, &d->options[i], groups[g].o + d->options[i].slot);
                lua_setfield(L, -2, d->options[i].name);
            }
            lua_setfield(L, -2, "options");
            lua_createtable(L, d->nscalars, 0);
            for (int i = 0; i < d->nscalars; i++) {
                lua_pushnumber(L, groups[g].scalars[i]);
                lua_rawseti(L, -2, i + 1);
            }
            lua_setfield(L, -2, "scalars");
            lua_rawseti(L, -2, g + 1);
        }
        lua_setfield(L, -2, "groups");
    }
    if (d->kind == OL_OPTIM_WRAPPER) push_optimizer_at(L, ck, OL_OPTIM_INNER_PREFIX, "inner");
    lua_setfield(L, -3, field); /* into the table under the groups' block */
    lua_settop(L, gslot - 1);
}

/* ck.average = {kind, t, n, options = {...}} when the file has one: what
 * ol_average_read found (n is swa's alone). */
static void push_average(lua_State *L, const ol_checkpoint *ck) {
    ol_average_saved s;
    ol_error err;
    int rc = ol_average_read(ck, &s, &err);
    if (rc < 0) luaL_error(L, "load: %s", err.msg);
    if (rc > 0) return;
    const int ema = s.kind == OL_AVERAGE_EMA;
    lua_createtable(L, 0, 4);
    lua_pushstring(L, ol_average_kind_name(s.kind));
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, (lua_Integer)s.t);
    lua_setfield(L, -2, "t");
    if (!ema) {
        lua_pushinteger(L, (lua_Integer)s.n);
        lua_setfield(L, -2, "n");
    }
    lua_createtable(L, 0, 2);
    if (ema) {
        lua_pushnumber(L, s.decay);
        lua_setfield(L, -2, "decay");
        lua_pushboolean(L, s.warmup);
        lua_setfield(L, -2, "warmup");
    } else {
        lua_pushinteger(L, (lua_Integer)s.start);
        lua_setfield(L, -2, "start");
        lua_pushinteger(L, (lua_Integer)s.every);
        lua_setfield(L, -2, "every");
    }
    lua_setfield(L, -2, "options");
    lua_setfield(L, -2, "average");
}

/* ck.rng = {4 hex strings} when present. */
static void push_rng(lua_State *L, const ol_checkpoint *ck) {
    ol_rng_state s;
    ol_error err;
    int rc = ol_ck_get_rng(ck, &s, &err);
    if (rc < 0) luaL_error(L, "load: %s", err.msg);
    if (rc > 0) return;
    lua_createtable(L, 4, 0);
    for (int i = 0; i < 4; i++) {
        char hex[20];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)s.s[i]);
        lua_pushstring(L, hex);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "rng");
}

/* ck.meta: the user's keys, JSON-encoded ones decoded. */
static void push_meta(lua_State *L, const ol_checkpoint *ck) {
    /* The keys stored as JSON (optlua.meta_json), as a Lua set. */
    json_t *jk = meta_json(L, ck, "optlua.meta_json");
    lua_newtable(L);
    const int json_keys = lua_gettop(L);
    size_t n;
    json_t *v;
    if (json_is_array(jk))
        json_array_foreach(jk, n, v) if (json_is_string(v)) {
            lua_pushboolean(L, 1);
            lua_setfield(L, json_keys, json_string_value(v));
        }
    json_decref(jk);
    lua_newtable(L);
    for (int i = 0; i < ck->nmeta; i++) {
        const char *k = ck->meta[i].key;
        if (reserved(k)) continue;
        lua_getfield(L, json_keys, k);
        const int is_json = lua_toboolean(L, -1);
        lua_pop(L, 1);
        json_error_t je;
        json_t *j = is_json ? json_loads(ck->meta[i].value, JSON_DECODE_ANY, &je) : NULL;
        if (j) {
            double d;
            if (json_is_string(j) && ol_ck_json_to_double(j, &d) == 0) lua_pushnumber(L, d);
            else ol_l_push_json(L, j);
            json_decref(j);
        } else {
            lua_pushstring(L, ck->meta[i].value);
        }
        lua_setfield(L, -2, k);
    }
    lua_remove(L, json_keys);
    lua_setfield(L, -2, "meta");
}

#define CK_BOXES "optlua.checkpoint.boxes" /* registry: the weak table {ck = its box} */

const ol_checkpoint *ol_l_tocheckpoint(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx)) return NULL;
    lua_getfield(L, LUA_REGISTRYINDEX, CK_BOXES);
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    const ol_checkpoint *ck = luaL_testudata(L, -1, CKBOX_MT);
    lua_pop(L, 2); /* ck keeps its box alive */
    return ck;
}

/* ol.load(path) -> ck; upvalue 1: the weak table {ck = its checkpoint box}. */
static int l_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    ol_checkpoint *ck = new_box(L); /* 2 */
    ol_error err;
    if (ol_ck_load(path, ck, &err)) return luaL_error(L, "load: %s", err.msg);
    lua_newtable(L); /* 3: ck */
    lua_pushvalue(L, 1);
    lua_setfield(L, 3, "path");
    lua_createtable(L, 0, ck->ntensors);
    for (int i = 0; i < ck->ntensors; i++) {
        ol_tensor t;
        ol_tensor_share(&ck->tensors[i].t, &t);
        ol_l_pushtensor(L, &t, 1);
        lua_setfield(L, -2, ck->tensors[i].name);
    }
    lua_setfield(L, 3, "tensors");
    push_meta(L, ck);
    push_optimizer_at(L, ck, "optim", "optimizer");
    push_average(L, ck);
    push_rng(L, ck);
    luaL_setmetatable(L, CK_MT);
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 2);
    lua_rawset(L, lua_upvalueindex(1));
    return 1;
}

/* ---- restoring ---- */

/* The tensor ck.tensors[name], or NULL, read raw (ck is a plain table a
 * script may change; no metamethod runs). Leaves nothing on the stack. */
static ol_tensor *ck_tensor(lua_State *L, const char *name) {
    lua_pushliteral(L, "tensors");
    if (lua_rawget(L, 1) != LUA_TTABLE)
        ol_arg_error(L, 1, "restore", "ck.tensors: table expected, got %s", luaL_typename(L, -1));
    lua_pushstring(L, name);
    lua_rawget(L, -2);
    ol_tensor *t = ol_l_totensor(L, -1);
    lua_pop(L, 2); /* ck.tensors keeps it alive */
    return t;
}

static void check_like(lua_State *L, int arg, const ol_checkpoint *ck, const ol_tensor *src,
                       const ol_tensor *dst, const char *name) {
    char a[96], b[96];
    if (!src)
        ol_arg_error(L, arg, "restore", "checkpoint '%s' has no tensor '%s'", ol_ck_name(ck), name);
    if (src->dtype != dst->dtype)
        ol_arg_error(L, arg, "restore", "tensor '%s' is %s in the checkpoint but %s here", name,
                     ol_dtype_name(src->dtype), ol_dtype_name(dst->dtype));
    int same = src->ndim == dst->ndim;
    for (int d = 0; same && d < src->ndim; d++) same = src->shape[d] == dst->shape[d];
    if (!same)
        ol_arg_error(L, arg, "restore", "tensor '%s' is %s in the checkpoint but %s here", name,
                     ol_shape_str(src, a, sizeof a), ol_shape_str(dst, b, sizeof b));
}

/* ck:restore(net, opt [, avg] [, {rng = true}]) -> ck: any of net, opt
 * and avg may be nil; an average (a userdata) before the options table
 * is avg, so the older ck:restore(net, opt, {rng = false}) still reads
 * as it did. Everything is checked before anything changes: the model's
 * tensors, the average and the RNG state here, the optimizer by
 * ol_optim_import, which changes nothing unless all of it fits, and is
 * the last check. Upvalue 1: as l_load's. */
static int l_restore(lua_State *L) {
    lua_settop(L, 5);
    /* The average's and the options' stack indices: (4, 5), or (0, 4) in
     * the form without an average. */
    const int with_avg = lua_type(L, 4) == LUA_TUSERDATA || (lua_isnil(L, 4) && !lua_isnil(L, 5));
    const int ai = with_avg ? 4 : 0, oi = with_avg ? 5 : 4;
    lua_pushvalue(L, 1);
    lua_rawget(L, lua_upvalueindex(1)); /* 6: the box */
    const ol_checkpoint *ck = luaL_testudata(L, 6, CKBOX_MT);
    /* Arguments by stack index: the kit counts them after self, as
     * luaL_argerror does for a method call (ck:restore(net) blames net as #1). */
    if (!ck) return ol_arg_error(L, 1, "restore", "not a checkpoint from ol.load");
    ol_model *m = NULL;
    ol_optim *o = NULL;
    if (!lua_isnil(L, 2) && !(m = ol_l_tomodel(L, 2))) return ol_arg_expected(L, 2, "restore", "model or nil");
    if (!lua_isnil(L, 3) && !(o = ol_l_tooptim(L, 3))) return ol_arg_expected(L, 3, "restore", "optimizer or nil");
    ol_average *a = NULL;
    if (ai && !lua_isnil(L, ai) && !(a = ol_l_toaverage(L, ai)))
        return ol_arg_expected(L, ai, "restore", "average (ol.average.ema or .swa) or nil");
    ol_opts opts;
    ol_opts_begin(L, &opts, oi, "restore", 0);
    int want_rng = ol_opt_bool(&opts, "rng", 1);
    ol_opts_end(&opts);

    /* Check the model's tensors. */
    int list = 0;
    lua_Integer np = 0;
    if (m) {
        np = model_parameters(L, 2, 2, "restore");
        list = lua_gettop(L);
        for (lua_Integer i = 1; i <= np; i++) {
            ol_tensor *dst;
            const char *name = param_entry(L, list, i, &dst);
            check_like(L, 2, ck, ck_tensor(L, name), dst, name);
            lua_pop(L, 3);
        }
        for (int k = 0; k < ol_model_nbuffers(m); k++) {
            char name[64];
            ol_tensor v;
            ol_model_buffer_name(m, k, name, sizeof name);
            ol_model_buffer_view(m, k, &v);
            check_like(L, 2, ck, ck_tensor(L, name), &v, name);
            ol_tensor_release(&v);
        }
    }
    ol_error err;
    ol_average_saved as;
    /* model:parameters() above ran Lua, which may have freed the average
     * by hand: fetched again (raising if so). */
    if (a) a = ol_l_toaverage(L, ai);
    if (a) {
        const int rc = ol_average_read(ck, &as, &err); /* ol.load checked it */
        if (rc > 0) return ol_arg_error(L, 4, "restore", "checkpoint '%s' holds no average", ol_ck_name(ck));
        if (rc < 0 || ol_average_check_saved(a, &as, ol_ck_name(ck), &err))
            return ol_arg_error(L, 4, "restore", "%s", err.msg);
    }
    ol_rng_state rs;
    int set_rng = want_rng && ol_ck_get_rng(ck, &rs, &err) == 0; /* ol.load checked it */
    if (o && ol_optim_import(o, ck, &err)) return ol_arg_error(L, 3, "restore", "%s", err.msg);

    /* Apply the rest. */
    for (lua_Integer i = 1; i <= np; i++) {
        ol_tensor *dst;
        const char *name = param_entry(L, list, i, &dst);
        if (ol_tensor_copy_(dst, ck_tensor(L, name), &err))
            return ol_arg_error(L, 2, "restore", "%s", err.msg);
        lua_pop(L, 3);
    }
    for (int k = 0; m && k < ol_model_nbuffers(m); k++) {
        char name[64];
        ol_tensor v;
        ol_model_buffer_name(m, k, name, sizeof name);
        ol_model_buffer_view(m, k, &v);
        const int rc = ol_tensor_copy_(&v, ck_tensor(L, name), &err);
        ol_tensor_release(&v);
        if (rc) return ol_arg_error(L, 2, "restore", "%s", err.msg);
    }
    if (a) ol_average_set_saved(a, &as);
    if (set_rng) ol_rng_set_state(&rs);
    lua_settop(L, 1);
    return 1;
}

static int ck_tostring(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushliteral(L, "path");
    lua_rawget(L, 1);
    lua_pushfstring(L, "optlua.checkpoint (%s)", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    return 1;
}

void ol_open_checkpoint(lua_State *L) {
    luaL_newmetatable(L, CKBOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    ol_l_protect(L, -1);
    lua_pop(L, 1);
    /* ck -> its checkpoint box, for as long as ck lives. */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    const int boxes = lua_gettop(L);
    lua_pushvalue(L, boxes);
    lua_setfield(L, LUA_REGISTRYINDEX, CK_BOXES);
    luaL_newmetatable(L, CK_MT);
    lua_newtable(L);
    lua_pushvalue(L, boxes);
    lua_pushcclosure(L, l_restore, 1);
    lua_setfield(L, -2, "restore");
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ck_tostring);
    lua_setfield(L, -2, "__tostring");
    ol_l_protect(L, -1);
    lua_pop(L, 1);
    lua_pushcfunction(L, l_save);
    lua_setfield(L, -3, "save");
    lua_pushvalue(L, boxes);
    lua_pushcclosure(L, l_load, 1);
    lua_setfield(L, -3, "load");
    lua_pop(L, 1); /* boxes */
}
