/* ol.average: weight averages (engine/optim/average.h) as Lua objects.
 *
 *   local ema = ol.average.ema(net, {decay = 0.999, warmup = false})
 *   local swa = ol.average.swa(net, {start = 1000, every = 1})
 *   avg:update()  avg:swap()  avg:copy_to(other)   -- each returns avg
 *   avg.weights  avg.t  avg.n  avg.kind  avg.dtype  avg.decay ...
 *
 * The first argument is a model (its flat parameters are averaged) or a
 * contiguous tensor. The average starts as a copy of those weights.
 * avg.weights is a view of the average, of the weights' shape (a model's
 * are flat); avg.t counts the updates, avg.n (swa) the weight vectors in
 * the average. The options are fixed at construction and readable as
 * fields; every field is read-only. ol.train{average = avg} updates it
 * after every step in C (l_train.c), ol.save / ck:restore store and
 * restore it (l_checkpoint.c).
 *
 * The userdata keeps the model or tensor it was made over as user value
 * 1, so that the weights it writes in swap() stay the ones it was made
 * over; the engine holds its own reference to their storage. */
#include <string.h>

#include "l_common.h"
#include "optim/average.h"

#define OL_AVERAGE_MT "optlua.average"

enum { UV_SOURCE = 1, NUV = 1 };

typedef struct l_average {
    ol_average a;
    int live; /* made: __gc must free */
} l_average;

static l_average *check_average(lua_State *L, int idx) {
    l_average *u = luaL_checkudata(L, idx, OL_AVERAGE_MT);
    if (!u->live) ol_l_freed(L, "average");
    return u;
}

ol_average *ol_l_toaverage(lua_State *L, int idx) {
    l_average *u = luaL_testudata(L, idx, OL_AVERAGE_MT);
    if (!u) return NULL;
    if (!u->live) ol_l_freed(L, "average");
    return &u->a;
}

/* The flat weights of the model, or the tensor, at idx into *w (a new
 * reference); fname names the caller in errors. */
static void source_weights(lua_State *L, int idx, const char *fname, ol_tensor *w) {
    const ol_model *m = ol_l_tomodel(L, idx);
    if (m) {
        ol_model_params(m, w);
        return;
    }
    const ol_tensor *t = ol_l_totensor(L, idx);
    if (!t) ol_arg_expected(L, idx, fname, "model or tensor");
    ol_tensor_share(t, w);
}

/* ol.average.ema / ol.average.swa: reads the options, then makes the
 * average over the weights at 1. */
static int make(lua_State *L, ol_average_kind kind) {
    const char *fname = ol_average_kind_name(kind);
    lua_settop(L, 2);
    if (!ol_l_tomodel(L, 1) && !ol_l_totensor(L, 1)) return ol_arg_expected(L, 1, fname, "model or tensor");
    ol_opts o;
    ol_opts_begin(L, &o, 2, fname, 0);
    double decay = 0;
    int warmup = 0;
    lua_Integer start = 0, every = 1;
    if (kind == OL_AVERAGE_EMA) {
        decay = ol_opt_number(&o, "decay", 0.999, OL_R_IN_CO(0, 1));
        warmup = ol_opt_bool(&o, "warmup", 0);
    } else {
        start = ol_opt_integer(&o, "start", 1000, 0, LUA_MAXINTEGER);
        every = ol_opt_integer(&o, "every", 1, 1, LUA_MAXINTEGER);
    }
    ol_opts_end(&o);
    l_average *u = lua_newuserdatauv(L, sizeof *u, NUV); /* 3 */
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, OL_AVERAGE_MT);
    ol_tensor w;
    ol_error err;
    source_weights(L, 1, fname, &w);
    int rc = kind == OL_AVERAGE_EMA ? ol_average_init_ema(&u->a, &w, decay, warmup, &err)
                                    : ol_average_init_swa(&u->a, &w, (int64_t)start, (int64_t)every, &err);
    ol_tensor_release(&w);
    /* The engine's own option checks (counts beyond 2^53) blame the
     * options; a tensor not contiguous or no memory, the weights. */
    if (rc) return ol_arg_error(L, strncmp(err.msg, "option", 6) == 0 ? 2 : 1, fname, "%s", err.msg);
    u->live = 1;
    ol_l_account(L, &u->a.e);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, 3, UV_SOURCE);
    return 1;
}

static int l_ema(lua_State *L) {
    return make(L, OL_AVERAGE_EMA);
}

static int l_swa(lua_State *L) {
    return make(L, OL_AVERAGE_SWA);
}

/* avg:update() -> avg: one update from the weights as they are now. */
static int l_update(lua_State *L) {
    ol_average_update(&check_average(L, 1)->a);
    lua_settop(L, 1);
    return 1;
}

/* avg:swap() -> avg: the model (or tensor) and the average change places. */
static int l_swap(lua_State *L) {
    ol_average_swap(&check_average(L, 1)->a);
    lua_settop(L, 1);
    return 1;
}

/* When both the average's source and the destination are models, their
 * parameter tensors must match one by one (names aside), not only in
 * number: a model of other layers with as many weights is refused. */
static void check_same_layout(lua_State *L, const ol_model *src, const ol_model *dst) {
    const int n = ol_model_nparam_tensors(src);
    if (ol_model_nparam_tensors(dst) != n)
        ol_arg_error(L, 2, "copy_to", "the model has %d parameter tensors, the averaged one %d",
                     ol_model_nparam_tensors(dst), n);
    for (int k = 0; k < n; k++) {
        ol_tensor a, b;
        ol_model_param_view(src, k, 0, &a);
        ol_model_param_view(dst, k, 0, &b);
        int same = a.ndim == b.ndim;
        for (int d = 0; same && d < a.ndim; d++) same = a.shape[d] == b.shape[d];
        char name[64], sa[96], sb[96];
        ol_model_param_name(dst, k, name, sizeof name);
        ol_shape_str(&a, sa, sizeof sa);
        ol_shape_str(&b, sb, sizeof sb);
        ol_tensor_release(&a);
        ol_tensor_release(&b);
        if (!same)
            ol_arg_error(L, 2, "copy_to", "the model's parameter '%s' is %s, the averaged model's %s", name, sb, sa);
    }
}

/* avg:copy_to(other) -> avg: the average written into another model of
 * the same layers (or the model it averages), or a contiguous tensor of
 * as many elements; the dtype must match. */
static int l_copy_to(lua_State *L) {
    l_average *u = check_average(L, 1);
    lua_settop(L, 2);
    const ol_model *dst = ol_l_tomodel(L, 2);
    if (!dst && !ol_l_totensor(L, 2)) return ol_arg_expected(L, 2, "copy_to", "model or tensor");
    lua_getiuservalue(L, 1, UV_SOURCE); /* 3 */
    const ol_model *src = ol_l_tomodel(L, 3);
    if (dst && src) check_same_layout(L, src, dst);
    ol_tensor w;
    ol_error err;
    source_weights(L, 2, "copy_to", &w);
    int rc = ol_average_copy_to(&u->a, &w, &err);
    ol_tensor_release(&w);
    if (rc) return ol_arg_error(L, 2, "copy_to", "%s", err.msg);
    lua_settop(L, 1);
    return 1;
}

static const luaL_Reg methods[] = {
    {"update", l_update}, {"swap", l_swap}, {"copy_to", l_copy_to}, {NULL, NULL},
};

/* The read-only fields; the options are the kind's own. */
static const char *const fields[] = {"kind", "t", "n", "weights", "dtype", "decay", "warmup", "start", "every",
                                     NULL};

/* Pushes field k of the average; 0 (nothing pushed) when it has none. */
static int push_field(lua_State *L, const ol_average *a, const char *k) {
    const int ema = a->kind == OL_AVERAGE_EMA;
    if (strcmp(k, "kind") == 0) lua_pushstring(L, ol_average_kind_name(a->kind));
    else if (strcmp(k, "t") == 0) lua_pushinteger(L, (lua_Integer)a->t);
    else if (strcmp(k, "n") == 0 && !ema) lua_pushinteger(L, (lua_Integer)a->n);
    else if (strcmp(k, "dtype") == 0) lua_pushstring(L, ol_dtype_name(a->e.dtype));
    else if (strcmp(k, "decay") == 0 && ema) lua_pushnumber(L, a->decay);
    else if (strcmp(k, "warmup") == 0 && ema) lua_pushboolean(L, a->warmup);
    else if (strcmp(k, "start") == 0 && !ema) lua_pushinteger(L, (lua_Integer)a->start);
    else if (strcmp(k, "every") == 0 && !ema) lua_pushinteger(L, (lua_Integer)a->every);
    else if (strcmp(k, "weights") == 0) {
        ol_tensor v;
        ol_tensor_share(&a->e, &v);
        ol_l_pushtensor(L, &v, 0);
    } else return 0;
    return 1;
}

/* avg.KEY: methods, then the fields; nil for anything else. */
static int l_index(lua_State *L) {
    l_average *u = check_average(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    return push_field(L, &u->a, lua_tostring(L, 2));
}

static int l_newindex(lua_State *L) {
    l_average *u = check_average(L, 1);
    const char *k = luaL_checkstring(L, 2);
    for (int i = 0; fields[i]; i++)
        if (strcmp(fields[i], k) == 0)
            return luaL_error(L, "%s: field '%s' is read-only (the options are set at construction)",
                              ol_average_kind_name(u->a.kind), k);
    const char *close = ol_arg_closest(k, fields, -1);
    return luaL_error(L, "%s has no field '%s'%s%s%s", ol_average_kind_name(u->a.kind), k,
                      close ? "; did you mean '" : "", close ? close : "", close ? "'?" : "");
}

/* tostring(avg): "ema{decay=0.999, warmup=false} f32, 17 weights, t = 5";
 * swa adds n. */
static int l_tostring(lua_State *L) {
    const ol_average *a = &check_average(L, 1)->a;
    const lua_Integer n = (lua_Integer)ol_tensor_numel(&a->e), t = (lua_Integer)a->t;
    const char *dt = ol_dtype_name(a->e.dtype);
    if (a->kind == OL_AVERAGE_EMA)
        lua_pushfstring(L, "ema{decay=%f, warmup=%s} %s, %I weights, t = %I", a->decay,
                        a->warmup ? "true" : "false", dt, n, t);
    else
        lua_pushfstring(L, "swa{start=%I, every=%I} %s, %I weights, t = %I, n = %I", (lua_Integer)a->start,
                        (lua_Integer)a->every, dt, n, t, (lua_Integer)a->n);
    return 1;
}

static int l_gc(lua_State *L) {
    l_average *u = luaL_checkudata(L, 1, OL_AVERAGE_MT);
    ol_l_check_idle(L, 1, "average");
    if (u->live) ol_average_free(&u->a);
    u->live = 0;
    return 0;
}

void ol_open_average(lua_State *L) {
    static const luaL_Reg meta[] = {
        {"__newindex", l_newindex}, {"__tostring", l_tostring}, {"__gc", l_gc}, {NULL, NULL}};
    ol_l_new_class(L, OL_AVERAGE_MT, meta, methods, l_index);

    lua_createtable(L, 0, 2); /* ol.average */
    lua_pushcfunction(L, l_ema);
    lua_setfield(L, -2, "ema");
    lua_pushcfunction(L, l_swa);
    lua_setfield(L, -2, "swa");
    lua_setfield(L, -2, "average");
}
