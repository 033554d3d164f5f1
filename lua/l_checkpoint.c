/* ol.save, ol.load, ck:restore: training checkpoints as safetensors files
 * (engine/checkpoint.c does the format; this file decides what goes in).
 *
 *   ol.save(path, {model = net, optimizer = opt, meta = {epoch = 3},
 *                  tensors = {name = tensor, ...}})
 *   local ck = ol.load(path)   -- ck.meta, ck.tensors, ck.optimizer, ck.rng
 *   ck:restore(net, opt [, {rng = true}])
 *
 * What a file holds, so that training resumes bit-for-bit:
 *  - tensors: the model's parameters under their net:parameters() names
 *    ("1.weight", ...), the optimizer's state as "optim.state.NAME", and
 *    any extra `tensors`;
 *  - __metadata__ (strings only, as the format demands):
 *      optim.name, optim.dtype, optim.t        the optimizer and its step count
 *      optim.options  JSON {name: value}       every live option
 *      optim.scalars  JSON [...]               scalar state
 *      rng.state      JSON ["hex64" x 4]       the global RNG (rng.h)
 *      optlua.format  "1"
 *      optlua.meta_json  JSON [keys]           user keys stored as JSON
 *    and the user's meta: strings as they are, numbers, booleans and
 *    tables as JSON text (listed in optlua.meta_json, decoded on load).
 *    Doubles are written with 17 significant digits, which read back to
 *    the same double; inf and nan, which JSON lacks, as strings.
 *
 * Schedules are Lua functions f(t) of the optimizer's step count, so
 * restoring opt.t puts every schedule where it was; a closure's own
 * upvalues are not saved. The data loader draws an epoch's order from the
 * RNG when the epoch starts: a checkpoint taken at an epoch boundary
 * resumes exactly; one taken mid-epoch (Ctrl-C) resumes at the start of a
 * fresh epoch. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "l_checkpoint.h"
#include "l_common.h"
#include "optim/optim.h"
#include "rng.h"

#define CKBOX_MT "optlua.ckbox"
#define CK_MT "optlua.checkpoint"
#define MAX_DEPTH 32

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

/* The shortest %g form of v that reads back as v (at most 17 digits, which
 * always suffice), so that 0.05 is written "0.05", not
 * "0.050000000000000003" as jansson's fixed precision would. */
static void shortest(double v, char *buf, size_t size) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, size, "%.*g", p, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", size - strlen(buf) - 1); /* stays a real */
}

/* Compact JSON text of j into b: reals through shortest(), the rest
 * (strings, integers, true/false/null) as jansson writes them. */
static void dump_json(json_t *j, luaL_Buffer *b) {
    char num[40];
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        int first = 1;
        luaL_addchar(b, '{');
        json_object_foreach(j, k, v) {
            if (!first) luaL_addchar(b, ',');
            first = 0;
            json_t *key = json_string(k);
            dump_json(key, b);
            json_decref(key);
            luaL_addchar(b, ':');
            dump_json(v, b);
        }
        luaL_addchar(b, '}');
    } else if (json_is_array(j)) {
        luaL_addchar(b, '[');
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i) luaL_addchar(b, ',');
            dump_json(json_array_get(j, i), b);
        }
        luaL_addchar(b, ']');
    } else if (json_is_real(j)) {
        shortest(json_real_value(j), num, sizeof num);
        luaL_addstring(b, num);
    } else {
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s) luaL_addstring(b, s);
        free(s);
    }
}

/* The JSON text of j (freed here), set as metadata k. */
static void set_meta_json(lua_State *L, ol_checkpoint *ck, const char *k, json_t *j) {
    if (!j) luaL_error(L, "save: cannot encode '%s' as JSON", k);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    dump_json(j, &b);
    json_decref(j);
    luaL_pushresult(&b);
    ol_error err;
    if (ol_ck_set_meta(ck, k, lua_tostring(L, -1), &err)) ol_l_error(L, 0, &err);
    lua_pop(L, 1);
}

/* A double as JSON: a number, or "inf" / "-inf" / "nan". */
static json_t *json_double(double v) {
    if (isnan(v)) return json_string("nan");
    if (isinf(v)) return json_string(v > 0 ? "inf" : "-inf");
    return json_real(v);
}

static int double_of_json(json_t *j, double *v) {
    if (json_is_number(j)) {
        *v = json_number_value(j);
        return 0;
    }
    if (!json_is_string(j)) return -1;
    const char *s = json_string_value(j);
    if (strcmp(s, "nan") == 0) *v = NAN;
    else if (strcmp(s, "inf") == 0) *v = INFINITY;
    else if (strcmp(s, "-inf") == 0) *v = -INFINITY;
    else return -1;
    return 0;
}

/* ---- Lua values <-> JSON (user metadata) ---- */

/* The Lua value at idx as JSON, or NULL with the reason in why (no Lua
 * error here: a longjmp would leak the half-built tree). */
static json_t *to_json(lua_State *L, int idx, int depth, const char **why) {
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TSTRING: {
        json_t *j = json_string(lua_tostring(L, idx));
        if (!j) *why = "strings must be UTF-8";
        return j;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return json_integer((json_int_t)lua_tointeger(L, idx));
        return json_double(lua_tonumber(L, idx));
    case LUA_TTABLE: break;
    default:
        *why = lua_pushfstring(L, "cannot store a %s", luaL_typename(L, idx));
        return NULL;
    }
    if (depth > MAX_DEPTH) {
        *why = "tables nested too deep (a cycle?)";
        return NULL;
    }
    luaL_checkstack(L, 4, "meta");
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        lua_pop(L, 1);
    }
    if (n > 0 && count == n) { /* a sequence */
        json_t *out = json_array();
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            json_t *v = to_json(L, -1, depth + 1, why);
            lua_pop(L, 1);
            if (!v || json_array_append_new(out, v)) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    json_t *out = json_object();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        json_t *v = NULL;
        if (lua_type(L, -2) != LUA_TSTRING) *why = "table keys must be strings or 1..n";
        else v = to_json(L, -1, depth + 1, why);
        if (v && json_object_set_new(out, lua_tostring(L, -2), v)) {
            *why = "keys must be UTF-8";
            v = NULL;
        }
        if (!v) {
            lua_pop(L, 2);
            json_decref(out);
            return NULL;
        }
        lua_pop(L, 1);
    }
    return out;
}

static void push_json(lua_State *L, json_t *j) {
    luaL_checkstack(L, 3, "checkpoint metadata");
    if (json_is_object(j)) {
        lua_createtable(L, 0, (int)json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            push_json(L, v);
            lua_setfield(L, -2, k);
        }
    } else if (json_is_array(j)) {
        lua_createtable(L, (int)json_array_size(j), 0);
        for (size_t i = 0; i < json_array_size(j); i++) {
            push_json(L, json_array_get(j, i));
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    } else if (json_is_integer(j)) {
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
    } else if (json_is_real(j)) {
        lua_pushnumber(L, json_real_value(j));
    } else if (json_is_string(j)) {
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
    } else if (json_is_boolean(j)) {
        lua_pushboolean(L, json_is_true(j));
    } else {
        lua_pushnil(L);
    }
}

/* ---- saving ---- */

static int reserved(const char *k) {
    return strncmp(k, "optim.", 6) == 0 || strncmp(k, "rng.", 4) == 0 || strncmp(k, "optlua.", 7) == 0;
}

static void add_tensor(lua_State *L, ol_checkpoint *ck, const char *name, const ol_tensor *t, const char *what) {
    ol_error err;
    if (ol_ck_add(ck, name, t, &err))
        luaL_error(L, "bad argument #2 to 'save' (%s '%s': %s)", what, name, err.msg);
}

static void save_model(lua_State *L, ol_checkpoint *ck, int idx) {
    if (!ol_l_tomodel(L, idx))
        luaL_error(L, "bad argument #2 to 'save' (model: model expected, got %s)", luaL_typename(L, idx));
    lua_getfield(L, idx, "parameters");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    int list = lua_gettop(L);
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, list); i++) {
        lua_rawgeti(L, list, i);
        lua_getfield(L, -1, "name");
        lua_getfield(L, -2, "tensor");
        add_tensor(L, ck, lua_tostring(L, -2), ol_l_checktensor(L, -1), "model tensor");
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
}

static void save_optimizer(lua_State *L, ol_checkpoint *ck, int idx) {
    ol_optim *o = ol_l_tooptim(L, idx);
    if (!o) luaL_error(L, "bad argument #2 to 'save' (optimizer: optimizer expected, got %s)", luaL_typename(L, idx));
    const ol_optim_desc *d = o->desc;
    char name[128];
    for (int i = 0; i < d->nstate; i++) {
        snprintf(name, sizeof name, "optim.state.%s", d->state_names[i]);
        add_tensor(L, ck, name, &o->state[i], "optimizer state");
    }
    set_meta(L, ck, "optim.name", d->name);
    set_meta(L, ck, "optim.dtype", ol_dtype_name(o->dtype));
    snprintf(name, sizeof name, "%lld", (long long)o->t);
    set_meta(L, ck, "optim.t", name);
    json_t *opts = json_object();
    for (int i = 0; i < d->noptions; i++) {
        const ol_optim_option *op = &d->options[i];
        const double *v = o->o + op->slot;
        json_t *j;
        switch (op->type) {
        case OL_OPT_BOOL: j = json_boolean(v[0] != 0); break;
        case OL_OPT_ENUM: j = json_string(op->choices[(int)v[0]]); break;
        case OL_OPT_PAIR:
            j = json_array();
            json_array_append_new(j, json_double(v[0]));
            json_array_append_new(j, json_double(v[1]));
            break;
        default: j = json_double(v[0]); break;
        }
        json_object_set_new(opts, op->name, j);
    }
    set_meta_json(L, ck, "optim.options", opts);
    json_t *sc = json_array();
    for (int i = 0; i < d->nscalars; i++) json_array_append_new(sc, json_double(o->scalars[i]));
    set_meta_json(L, ck, "optim.scalars", sc);
}

static void save_rng(lua_State *L, ol_checkpoint *ck) {
    ol_rng_state s;
    ol_rng_get_state(&s);
    json_t *a = json_array();
    char hex[20];
    for (int i = 0; i < 4; i++) {
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)s.s[i]);
        json_array_append_new(a, json_string(hex));
    }
    set_meta_json(L, ck, "rng.state", a);
}

static void save_meta(lua_State *L, ol_checkpoint *ck, int idx) {
    if (!lua_istable(L, idx))
        luaL_error(L, "bad argument #2 to 'save' (meta: table expected, got %s)", luaL_typename(L, idx));
    lua_newtable(L); /* the keys stored as JSON, as a Lua sequence until the end */
    int keys = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "bad argument #2 to 'save' (meta keys must be strings, got %s)", luaL_typename(L, -2));
        const char *k = lua_tostring(L, -2);
        if (reserved(k) || strcmp(k, "__metadata__") == 0)
            luaL_error(L, "bad argument #2 to 'save' (meta key '%s' is reserved: optim.*, rng.* and optlua.* are optlua's)", k);
        if (lua_type(L, -1) == LUA_TSTRING) {
            set_meta(L, ck, k, lua_tostring(L, -1));
        } else {
            const char *why = "cannot encode";
            int top = lua_gettop(L);
            json_t *j = to_json(L, -1, 0, &why);
            if (!j) luaL_error(L, "bad argument #2 to 'save' (meta.%s: %s)", k, why);
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
    if (!lua_istable(L, idx))
        luaL_error(L, "bad argument #2 to 'save' (tensors: table expected, got %s)", luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "bad argument #2 to 'save' (tensors: names must be strings)");
        const ol_tensor *t = ol_l_totensor(L, -1);
        if (!t) luaL_error(L, "bad argument #2 to 'save' (tensors.%s: tensor expected, got %s)", lua_tostring(L, -2), luaL_typename(L, -1));
        add_tensor(L, ck, lua_tostring(L, -2), t, "tensor");
        lua_pop(L, 1);
    }
}

int ol_l_save(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    static const char *const known[] = {"model", "optimizer", "meta", "tensors", NULL};
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        int ok = 0;
        for (int i = 0; known[i] && lua_type(L, -2) == LUA_TSTRING; i++)
            ok |= strcmp(lua_tostring(L, -2), known[i]) == 0;
        if (!ok)
            return luaL_error(L, "bad argument #2 to 'save' (unknown field '%s'; expected model, optimizer, meta, tensors)",
                              luaL_tolstring(L, -2, NULL));
        lua_pop(L, 1);
    }
    ol_checkpoint *ck = new_box(L); /* 3 */
    if (lua_getfield(L, 2, "model") != LUA_TNIL) save_model(L, ck, 4);
    lua_settop(L, 3);
    if (lua_getfield(L, 2, "optimizer") != LUA_TNIL) save_optimizer(L, ck, 4);
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

/* Parses metadata key k as JSON (NULL when absent); raises when malformed. */
static json_t *meta_json(lua_State *L, const ol_checkpoint *ck, const char *path, const char *k) {
    const char *s = ol_ck_get_meta(ck, k);
    if (!s) return NULL;
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
    if (!j) luaL_error(L, "load: checkpoint '%s': metadata '%s' is not valid JSON (%s)", path, k, je.text);
    return j;
}

/* ck.optimizer = {name, dtype, t, options, scalars} when the file has one. */
static void push_optimizer(lua_State *L, const ol_checkpoint *ck, const char *path) {
    const char *name = ol_ck_get_meta(ck, "optim.name");
    if (!name) return;
    lua_createtable(L, 0, 5);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    const char *dt = ol_ck_get_meta(ck, "optim.dtype");
    lua_pushstring(L, dt ? dt : "");
    lua_setfield(L, -2, "dtype");
    const char *t = ol_ck_get_meta(ck, "optim.t");
    char *end = NULL;
    long long tv = t ? strtoll(t, &end, 10) : -1;
    if (!t || *end || tv < 0) luaL_error(L, "load: checkpoint '%s': metadata 'optim.t' is not a step count", path);
    lua_pushinteger(L, (lua_Integer)tv);
    lua_setfield(L, -2, "t");
    const char *keys[2] = {"optim.options", "optim.scalars"}, *fields[2] = {"options", "scalars"};
    for (int i = 0; i < 2; i++) {
        json_t *j = meta_json(L, ck, path, keys[i]);
        if (!j || !(i == 0 ? json_is_object(j) : json_is_array(j))) {
            json_decref(j);
            luaL_error(L, "load: checkpoint '%s': metadata '%s' missing or malformed", path, keys[i]);
        }
        /* Numbers keep the JSON "inf"/"nan" spelling out of Lua: decode here. */
        lua_newtable(L);
        const char *k;
        json_t *v;
        size_t n;
        if (i == 0) {
            json_object_foreach(j, k, v) {
                double d;
                if (json_is_array(v) && json_array_size(v) == 2) { /* a pair */
                    lua_createtable(L, 2, 0);
                    for (size_t e = 0; e < 2; e++) {
                        if (double_of_json(json_array_get(v, e), &d)) d = NAN;
                        lua_pushnumber(L, d);
                        lua_rawseti(L, -2, (lua_Integer)e + 1);
                    }
                } else if (double_of_json(v, &d) == 0) { /* a number, "inf", "nan" */
                    lua_pushnumber(L, d);
                } else { /* a boolean or an enum choice */
                    push_json(L, v);
                }
                lua_setfield(L, -2, k);
            }
        } else {
            json_array_foreach(j, n, v) {
                double d;
                if (double_of_json(v, &d)) {
                    json_decref(j);
                    luaL_error(L, "load: checkpoint '%s': optim.scalars[%d] is not a number", path, (int)n + 1);
                }
                lua_pushnumber(L, d);
                lua_rawseti(L, -2, (lua_Integer)n + 1);
            }
        }
        json_decref(j);
        lua_setfield(L, -2, fields[i]);
    }
    lua_setfield(L, -2, "optimizer");
}

/* ck.rng = {4 hex strings} when present and well-formed. */
static void push_rng(lua_State *L, const ol_checkpoint *ck, const char *path) {
    json_t *j = meta_json(L, ck, path, "rng.state");
    if (!j) return;
    int ok = json_is_array(j) && json_array_size(j) == 4;
    for (size_t i = 0; ok && i < 4; i++) {
        json_t *h = json_array_get(j, i);
        const char *s = json_is_string(h) ? json_string_value(h) : "";
        ok = strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
    }
    if (!ok) {
        json_decref(j);
        luaL_error(L, "load: checkpoint '%s': metadata 'rng.state' is not four 64-bit hex words", path);
    }
    lua_createtable(L, 4, 0);
    for (size_t i = 0; i < 4; i++) {
        lua_pushstring(L, json_string_value(json_array_get(j, i)));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    json_decref(j);
    lua_setfield(L, -2, "rng");
}

/* ck.meta: the user's keys, JSON-encoded ones decoded. */
static void push_meta(lua_State *L, const ol_checkpoint *ck, const char *path) {
    json_t *jk = meta_json(L, ck, path, "optlua.meta_json");
    lua_newtable(L);
    for (int i = 0; i < ck->nmeta; i++) {
        const char *k = ck->meta[i].key;
        if (reserved(k)) continue;
        int is_json = 0;
        size_t n;
        json_t *v;
        if (json_is_array(jk))
            json_array_foreach(jk, n, v) is_json |= json_is_string(v) && strcmp(json_string_value(v), k) == 0;
        json_error_t je;
        json_t *j = is_json ? json_loads(ck->meta[i].value, JSON_DECODE_ANY, &je) : NULL;
        if (j) {
            double d;
            if (json_is_string(j) && double_of_json(j, &d) == 0) lua_pushnumber(L, d);
            else push_json(L, j);
            json_decref(j);
        } else {
            lua_pushstring(L, ck->meta[i].value);
        }
        lua_setfield(L, -2, k);
    }
    json_decref(jk);
    lua_setfield(L, -2, "meta");
}

/* ol.load(path) -> ck */
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
    push_meta(L, ck, path);
    push_optimizer(L, ck, path);
    push_rng(L, ck, path);
    ol_ck_free(ck);
    luaL_setmetatable(L, CK_MT);
    return 1;
}

/* ---- restoring ---- */

static const char *ck_path(lua_State *L) {
    lua_getfield(L, 1, "path");
    const char *p = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by ck */
    return p ? p : "?";
}

/* The tensor ck.tensors[name], or NULL. Leaves nothing on the stack. */
static ol_tensor *ck_tensor(lua_State *L, const char *name) {
    lua_getfield(L, 1, "tensors");
    if (!lua_istable(L, -1)) luaL_error(L, "bad argument #1 to 'restore' (not a checkpoint from ol.load)");
    lua_getfield(L, -1, name);
    ol_tensor *t = ol_l_totensor(L, -1);
    lua_pop(L, 2); /* ck.tensors keeps it alive */
    return t;
}

static void check_like(lua_State *L, int arg, const ol_tensor *src, const ol_tensor *dst, const char *name) {
    char a[96], b[96];
    if (!src)
        luaL_error(L, "bad argument #%d to 'restore' (checkpoint '%s' has no tensor '%s')", arg, ck_path(L), name);
    if (src->dtype != dst->dtype)
        luaL_error(L, "bad argument #%d to 'restore' (tensor '%s' is %s in the checkpoint but %s here)", arg, name,
                   ol_dtype_name(src->dtype), ol_dtype_name(dst->dtype));
    int same = src->ndim == dst->ndim;
    for (int d = 0; same && d < src->ndim; d++) same = src->shape[d] == dst->shape[d];
    if (!same)
        luaL_error(L, "bad argument #%d to 'restore' (tensor '%s' is %s in the checkpoint but %s here)", arg, name,
                   ol_shape_str(src, a, sizeof a), ol_shape_str(dst, b, sizeof b));
}

/* Reads option op's checkpoint value (at the stack top) into v. */
static int option_from_lua(lua_State *L, const ol_optim_option *op, double *v) {
    switch (op->type) {
    case OL_OPT_NUMBER:
        if (lua_type(L, -1) != LUA_TNUMBER) return -1;
        v[0] = lua_tonumber(L, -1);
        return 0;
    case OL_OPT_BOOL:
        if (!lua_isboolean(L, -1)) return -1;
        v[0] = lua_toboolean(L, -1);
        return 0;
    case OL_OPT_ENUM: {
        int k = lua_type(L, -1) == LUA_TSTRING ? ol_optim_enum_index(op, lua_tostring(L, -1)) : -1;
        v[0] = k;
        return k < 0 ? -1 : 0;
    }
    case OL_OPT_PAIR:
        if (!lua_istable(L, -1)) return -1;
        for (int e = 0; e < 2; e++) {
            lua_rawgeti(L, -1, e + 1);
            int ok = lua_type(L, -1) == LUA_TNUMBER;
            v[e] = lua_tonumber(L, -1);
            lua_pop(L, 1);
            if (!ok) return -1;
        }
        return 0;
    }
    return -1;
}

/* Everything needed to set the optimizer, checked before anything changes. */
typedef struct opt_plan {
    ol_optim *o;
    double values[OL_OPTIM_MAXSLOTS];
    double scalars[OL_OPTIM_MAXSCALARS];
    int64_t t;
    const ol_tensor *state[OL_OPTIM_MAXSTATE];
} opt_plan;

static void plan_optimizer(lua_State *L, int arg, opt_plan *p) {
    ol_optim *o = p->o;
    const ol_optim_desc *d = o->desc;
    const char *path = ck_path(L);
    if (lua_getfield(L, 1, "optimizer") != LUA_TTABLE)
        luaL_error(L, "bad argument #%d to 'restore' (checkpoint '%s' holds no optimizer)", arg, path);
    int ot = lua_gettop(L);
    lua_getfield(L, ot, "name");
    if (!lua_isstring(L, -1) || strcmp(lua_tostring(L, -1), d->name) != 0)
        luaL_error(L, "bad argument #%d to 'restore' (checkpoint '%s' holds a %s optimizer, not %s)", arg, path,
                   luaL_tolstring(L, -1, NULL), d->name);
    lua_getfield(L, ot, "t");
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
        luaL_error(L, "bad argument #%d to 'restore' (ck.optimizer.t is not a step count)", arg);
    p->t = (int64_t)lua_tointeger(L, -1);
    memcpy(p->values, o->o, sizeof p->values);
    lua_getfield(L, ot, "options");
    int opts = lua_gettop(L);
    if (!lua_istable(L, opts)) luaL_error(L, "bad argument #1 to 'restore' (ck.optimizer.options is not a table)");
    lua_pushnil(L);
    while (lua_next(L, opts)) {
        const char *k = lua_tostring(L, -2);
        const ol_optim_option *op = ol_optim_find_option(d, k);
        double v[2] = {0, 0};
        if (!op) luaL_error(L, "bad argument #%d to 'restore' (checkpoint option '%s' is unknown to %s)", arg, k, d->name);
        if (option_from_lua(L, op, v))
            luaL_error(L, "bad argument #%d to 'restore' (checkpoint option '%s' has a bad value)", arg, k);
        p->values[op->slot] = v[0];
        if (op->type == OL_OPT_PAIR) p->values[op->slot + 1] = v[1];
        lua_pop(L, 1);
    }
    ol_error err;
    if (ol_optim_check_values(d, p->values, &err))
        luaL_error(L, "bad argument #%d to 'restore' (checkpoint '%s': %s)", arg, path, err.msg);
    lua_getfield(L, ot, "scalars");
    if (!lua_istable(L, -1) || (int)lua_rawlen(L, -1) != d->nscalars)
        luaL_error(L, "bad argument #%d to 'restore' (checkpoint '%s' has %d optimizer scalars, %s keeps %d)", arg,
                   path, lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0, d->name, d->nscalars);
    for (int i = 0; i < d->nscalars; i++) {
        lua_rawgeti(L, -1, i + 1);
        p->scalars[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    char name[128];
    for (int i = 0; i < d->nstate; i++) {
        snprintf(name, sizeof name, "optim.state.%s", d->state_names[i]);
        p->state[i] = ck_tensor(L, name);
        check_like(L, arg, p->state[i], &o->state[i], name);
    }
    lua_settop(L, ot - 1);
}

static int hexword(const char *s, uint64_t *v) {
    char *end;
    *v = strtoull(s, &end, 16);
    return *end == 0 ? 0 : -1;
}

/* ck:restore(net, opt [, {rng = true}]) -> ck: either of net and opt may
 * be nil. Everything is checked before anything changes. */
static int l_restore(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 4);
    ol_model *m = NULL;
    if (!lua_isnil(L, 2) && !(m = ol_l_tomodel(L, 2))) return luaL_typeerror(L, 2, "model or nil");
    opt_plan plan;
    memset(&plan, 0, sizeof plan);
    if (!lua_isnil(L, 3) && !(plan.o = ol_l_tooptim(L, 3))) return luaL_typeerror(L, 3, "optimizer or nil");
    if (!lua_isnil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
    int want_rng = 1;
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "rng");
        want_rng = lua_isnil(L, -1) || lua_toboolean(L, -1);
        lua_pop(L, 1);
    }

    /* Check the model's tensors: pairs (dst view, src) at 6.. */
    int list = 0;
    lua_Integer np = 0;
    if (m) {
        lua_getfield(L, 2, "parameters");
        lua_pushvalue(L, 2);
        lua_call(L, 1, 1);
        list = lua_gettop(L);
        np = (lua_Integer)lua_rawlen(L, list);
        for (lua_Integer i = 1; i <= np; i++) {
            lua_rawgeti(L, list, i);
            lua_getfield(L, -1, "name");
            lua_getfield(L, -2, "tensor");
            const char *name = lua_tostring(L, -2);
            check_like(L, 1, ck_tensor(L, name), ol_l_checktensor(L, -1), name);
            lua_pop(L, 3);
        }
    }
    /* Messages count arguments after self, as luaL_argerror does for methods. */
    if (plan.o) plan_optimizer(L, 2, &plan);
    ol_rng_state rs;
    int set_rng = 0;
    if (want_rng && lua_getfield(L, 1, "rng") == LUA_TTABLE) {
        set_rng = 1;
        for (int i = 0; i < 4; i++) {
            lua_rawgeti(L, -1, i + 1);
            const char *s = lua_tostring(L, -1);
            if (!s || hexword(s, &rs.s[i])) return luaL_argerror(L, 1, "ck.rng is not four hex words");
            lua_pop(L, 1);
        }
    }

    /* Apply. */
    ol_error err;
    for (lua_Integer i = 1; i <= np; i++) {
        lua_rawgeti(L, list, i);
        lua_getfield(L, -1, "name");
        lua_getfield(L, -2, "tensor");
        if (ol_tensor_copy_(ol_l_checktensor(L, -1), ck_tensor(L, lua_tostring(L, -2)), &err))
            return ol_l_error(L, 2, &err);
        lua_pop(L, 3);
    }
    if (plan.o) {
        ol_optim *o = plan.o;
        for (int i = 0; i < o->desc->nstate; i++)
            if (ol_tensor_copy_(&o->state[i], plan.state[i], &err)) return ol_l_error(L, 3, &err);
        memcpy(o->o, plan.values, sizeof o->o);
        memcpy(o->scalars, plan.scalars, sizeof o->scalars);
        o->t = plan.t;
    }
    if (set_rng) ol_rng_set_state(&rs);
    lua_settop(L, 1);
    return 1;
}

static int ck_tostring(lua_State *L) {
    lua_getfield(L, 1, "path");
    lua_pushfstring(L, "optlua.checkpoint (%s)", luaL_optstring(L, -1, "?"));
    return 1;
}

void ol_open_checkpoint(lua_State *L) {
    luaL_newmetatable(L, CKBOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, CK_MT);
    lua_newtable(L);
    lua_pushcfunction(L, l_restore);
    lua_setfield(L, -2, "restore");
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ck_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    lua_pushcfunction(L, ol_l_save);
    lua_setfield(L, -2, "save");
    lua_pushcfunction(L, l_load);
    lua_setfield(L, -2, "load");
}
