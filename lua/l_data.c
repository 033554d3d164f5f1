/* ol.data: readers (IDX, Fashion-MNIST, CSV, synthetic, tensors), datasets
 * (ds.x, ds.y, #ds, ds:split, ds:standardize) and loaders
 * (for x, y in loader:batches() do ... end), over engine/data.
 *
 * Datasets keep their samples in the engine (bytes for images) and make
 * tensors on demand: ds.x and ds.y build new N x D and N tensors on every
 * access, and each batch of loader:batches() is a pair of fresh tensors,
 * so a batch can be kept after the loop moves on. Batches and ds.x/ds.y
 * have the dataset's dtype ("f32" unless the constructor was given
 * dtype = "f64"), or the loader's dtype option. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/readers.h"
#include "l_common.h"
#include "l_data.h"

/* ---- options tables ---- */

/* Raises on keys of the options table at t that are not in names (a typo
 * such as batchsize = 64 would otherwise be ignored silently). */
static void check_keys(lua_State *L, int t, int arg, const char *const *names) {
    if (lua_isnoneornil(L, t)) return;
    luaL_checktype(L, t, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *n = names; *n && !ok; n++) ok = strcmp(*n, lua_tostring(L, -1)) == 0;
        if (!ok) {
            const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1);
            luaL_error(L, "bad argument #%d to '%s' (unknown option '%s')", arg,
                       lua_tostring(L, lua_upvalueindex(1)), k);
        }
    }
}

/* Pushes field name of the options table at t (nil when t is absent). */
static int opt_get(lua_State *L, int t, const char *name) {
    if (lua_isnoneornil(L, t)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, t, name);
}

static int opt_error(lua_State *L, int arg, const char *name, const char *want) {
    return luaL_error(L, "bad argument #%d to '%s' (option '%s' must be %s, got %s)", arg,
                      lua_tostring(L, lua_upvalueindex(1)), name, want, luaL_typename(L, -1));
}

static lua_Integer opt_int(lua_State *L, int t, int arg, const char *name, lua_Integer def) {
    if (opt_get(L, t, name) == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok) opt_error(L, arg, name, "an integer");
    lua_pop(L, 1);
    return v;
}

static lua_Number opt_num(lua_State *L, int t, int arg, const char *name, lua_Number def) {
    if (opt_get(L, t, name) == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (lua_type(L, -1) != LUA_TNUMBER) opt_error(L, arg, name, "a number");
    lua_Number v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

static int opt_bool(lua_State *L, int t, int arg, const char *name, int def) {
    int ty = opt_get(L, t, name);
    if (ty == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (ty != LUA_TBOOLEAN) opt_error(L, arg, name, "a boolean");
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* The string stays valid while the options table holds it. */
static const char *opt_str(lua_State *L, int t, int arg, const char *name, const char *def) {
    int ty = opt_get(L, t, name);
    if (ty == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (ty != LUA_TSTRING) opt_error(L, arg, name, "a string");
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1);
    return v;
}

static ol_dtype opt_dtype(lua_State *L, int t, int arg, ol_dtype def) {
    const char *s = opt_str(L, t, arg, "dtype", NULL);
    ol_dtype dt = def;
    if (s && ol_dtype_parse(s, &dt) != 0)
        luaL_error(L, "bad argument #%d to '%s' (unknown dtype '%s', expected \"f32\" or \"f64\")",
                   arg, lua_tostring(L, lua_upvalueindex(1)), s);
    return dt;
}

/* ---- datasets ---- */

ol_l_dataset *ol_l_checkdataset(lua_State *L, int idx) {
    return (ol_l_dataset *)luaL_checkudata(L, idx, OL_DATASET_MT);
}

/* Pushes an empty dataset userdata; fill ->ds before anything can fail. */
static ol_l_dataset *new_dataset(lua_State *L, ol_dtype dt) {
    ol_l_dataset *u = (ol_l_dataset *)lua_newuserdatauv(L, sizeof *u, 0);
    u->ds = NULL;
    u->dtype = dt;
    luaL_setmetatable(L, OL_DATASET_MT);
    return u;
}

/* `bad argument #arg to 'NAME' (err)` in a function of ol.data, whose
 * name is its upvalue 1: luaL_argerror finds no name for a function
 * called through pcall, and a file error should always say which reader. */
static int fn_error(lua_State *L, int arg, const ol_error *err) {
    return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, lua_tostring(L, lua_upvalueindex(1)),
                      err->msg);
}

/* Pushes ds (or raises with err blaming arg when ds is NULL). */
static int push_dataset(lua_State *L, ol_dataset *ds, ol_dtype dt, int arg, const ol_error *err) {
    if (!ds) return fn_error(L, arg, err);
    ol_l_dataset *u = new_dataset(L, dt);
    u->ds = ds;
    return 1;
}

static int ds_gc(lua_State *L) {
    ol_l_dataset *u = ol_l_checkdataset(L, 1);
    ol_dataset_free(u->ds);
    u->ds = NULL;
    return 0;
}

static int ds_len(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)ol_l_checkdataset(L, 1)->ds->n);
    return 1;
}

static int ds_tostring(lua_State *L) {
    ol_l_dataset *u = ol_l_checkdataset(L, 1);
    const ol_dataset *ds = u->ds;
    const char *kind = ds->st->kind == OL_DS_U8 ? ", stored as bytes" : "";
    lua_pushfstring(L, "dataset: %I samples x %I features, %d classes, %s%s%s",
                    (lua_Integer)ds->n, (lua_Integer)ds->d, (int)ds->classes,
                    ol_dtype_name(u->dtype), kind, ds->mean ? ", standardised" : "");
    return 1;
}

/* A fresh contiguous tensor of ndim/shape, pushed, data returned. */
static void *push_new_tensor(lua_State *L, ol_dtype dt, int ndim, const int64_t *shape) {
    ol_tensor t;
    ol_error err;
    if (ol_tensor_empty(&t, dt, ndim, shape, &err) != 0) ol_l_error(L, 0, &err);
    ol_tensor *h = ol_l_pushtensor(L, &t, 1);
    return ol_tensor_data(h);
}

/* ds.x (N x D) or ds.y (N), made now. */
static void push_all(lua_State *L, const ol_l_dataset *u, int labels) {
    const ol_dataset *ds = u->ds;
    int64_t shx[2] = {ds->n, ds->d}, shy[1] = {ds->n};
    int64_t *idx = (int64_t *)lua_newuserdatauv(L, (size_t)(ds->n > 0 ? ds->n : 1) * sizeof *idx, 0);
    for (int64_t i = 0; i < ds->n; i++) idx[i] = i;
    if (labels) {
        /* labels alone: gather one feature-less row per sample is not
         * possible, so read them directly */
        void *y = push_new_tensor(L, u->dtype, 1, shy);
        for (int64_t i = 0; i < ds->n; i++) {
            int32_t c = ol_dataset_label(ds, i);
            if (u->dtype == OL_F32) ((float *)y)[i] = (float)c;
            else ((double *)y)[i] = c;
        }
    } else {
        void *x = push_new_tensor(L, u->dtype, 2, shx);
        ol_dataset_gather(ds, idx, ds->n, u->dtype, x, NULL);
    }
    lua_remove(L, -2); /* the index scratch */
}

static int ds_index(lua_State *L) {
    ol_l_dataset *u = ol_l_checkdataset(L, 1);
    const char *k = lua_tostring(L, 2);
    if (!k) return 0;
    if (strcmp(k, "x") == 0) {
        push_all(L, u, 0);
    } else if (strcmp(k, "y") == 0) {
        if (u->ds->classes > 0) push_all(L, u, 1);
        else lua_pushnil(L);
    } else if (strcmp(k, "classes") == 0) {
        lua_pushinteger(L, u->ds->classes);
    } else if (strcmp(k, "features") == 0) {
        lua_pushinteger(L, (lua_Integer)u->ds->d);
    } else if (strcmp(k, "dtype") == 0) {
        lua_pushstring(L, ol_dtype_name(u->dtype));
    } else if (strcmp(k, "standardized") == 0) {
        lua_pushboolean(L, u->ds->mean != NULL);
    } else {
        lua_getfield(L, lua_upvalueindex(1), k); /* methods */
    }
    return 1;
}

/* ds:split(frac) -> first (round(frac * #ds) samples), second; seeded. */
static int ds_split(lua_State *L) {
    ol_l_dataset *u = ol_l_checkdataset(L, 1);
    lua_Number frac = luaL_checknumber(L, 2);
    luaL_argcheck(L, frac >= 0 && frac <= 1, 2, "fraction must be in [0, 1]");
    ol_l_dataset *a = new_dataset(L, u->dtype), *b = new_dataset(L, u->dtype);
    ol_error err;
    if (ol_dataset_split(u->ds, frac, &a->ds, &b->ds, &err) != 0) return ol_l_error(L, 2, &err);
    return 2;
}

/* ---- standardisers ---- */

static ol_standardizer *check_std(lua_State *L, int idx) {
    return (ol_standardizer *)luaL_checkudata(L, idx, OL_STANDARDIZER_MT);
}

static int std_gc(lua_State *L) {
    ol_standardizer_free(check_std(L, 1));
    return 0;
}

static int std_index(lua_State *L) {
    ol_standardizer *s = check_std(L, 1);
    const char *k = lua_tostring(L, 2);
    if (!k) return 0;
    if (strcmp(k, "mean") == 0 || strcmp(k, "std") == 0) {
        int64_t sh[1] = {s->d};
        double *v = push_new_tensor(L, OL_F64, 1, sh);
        memcpy(v, k[0] == 'm' ? s->mean : s->std, (size_t)s->d * sizeof *v);
    } else if (strcmp(k, "features") == 0) {
        lua_pushinteger(L, (lua_Integer)s->d);
    } else {
        lua_getfield(L, lua_upvalueindex(1), k);
    }
    return 1;
}

/* ds:standardize() fits on ds, applies, returns the standardiser;
 * ds:standardize(s) applies s (fitted on another dataset), returns s. */
static int ds_standardize(lua_State *L) {
    ol_l_dataset *u = ol_l_checkdataset(L, 1);
    ol_error err;
    if (lua_isnoneornil(L, 2)) {
        ol_standardizer *s = (ol_standardizer *)lua_newuserdatauv(L, sizeof *s, 0);
        memset(s, 0, sizeof *s);
        luaL_setmetatable(L, OL_STANDARDIZER_MT);
        if (ol_standardizer_fit(u->ds, s, &err) != 0) return ol_l_error(L, 1, &err);
    } else {
        check_std(L, 2);
        lua_settop(L, 2);
    }
    if (ol_dataset_standardize(u->ds, check_std(L, -1), &err) != 0) return ol_l_error(L, 2, &err);
    return 1;
}

/* s:apply(ds) -> ds, standardised with s. */
static int std_apply(lua_State *L) {
    ol_standardizer *s = check_std(L, 1);
    ol_l_dataset *u = ol_l_checkdataset(L, 2);
    ol_error err;
    if (ol_dataset_standardize(u->ds, s, &err) != 0) return ol_l_error(L, 2, &err);
    lua_settop(L, 2);
    return 1;
}

/* ---- loaders ---- */

ol_l_loader *ol_l_checkloader(lua_State *L, int idx) {
    return (ol_l_loader *)luaL_checkudata(L, idx, OL_LOADER_MT);
}

static int ld_gc(lua_State *L) {
    ol_loader_free(&ol_l_checkloader(L, 1)->l);
    return 0;
}

static int ld_len(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)ol_loader_num_batches(&ol_l_checkloader(L, 1)->l));
    return 1;
}

static int ld_index(lua_State *L) {
    ol_l_loader *u = ol_l_checkloader(L, 1);
    const char *k = lua_tostring(L, 2);
    if (!k) return 0;
    const ol_loader_opts *o = &u->l.opts;
    if (strcmp(k, "batch_size") == 0) lua_pushinteger(L, (lua_Integer)o->batch_size);
    else if (strcmp(k, "shuffle") == 0) lua_pushboolean(L, o->shuffle);
    else if (strcmp(k, "balanced") == 0) lua_pushboolean(L, o->balanced);
    else if (strcmp(k, "drop_last") == 0) lua_pushboolean(L, o->drop_last);
    else if (strcmp(k, "epoch") == 0) lua_pushinteger(L, (lua_Integer)u->l.epoch);
    else if (strcmp(k, "samples") == 0) lua_pushinteger(L, (lua_Integer)u->l.len);
    else if (strcmp(k, "dtype") == 0) lua_pushstring(L, ol_dtype_name(u->dtype));
    else if (strcmp(k, "dataset") == 0) lua_getiuservalue(L, 1, 1);
    else lua_getfield(L, lua_upvalueindex(1), k);
    return 1;
}

static int ld_tostring(lua_State *L) {
    ol_l_loader *u = ol_l_checkloader(L, 1);
    lua_pushfstring(L, "loader: %I batches of %I%s%s%s", (lua_Integer)ol_loader_num_batches(&u->l),
                    (lua_Integer)u->l.opts.batch_size, u->l.opts.shuffle ? ", shuffled" : "",
                    u->l.opts.balanced ? ", class-balanced" : "",
                    u->l.opts.drop_last ? ", drop_last" : "");
    return 1;
}

/* The iterator of loader:batches(): the next x, y, or nil at the end. */
static int ld_next(lua_State *L) {
    ol_l_loader *u = ol_l_checkloader(L, lua_upvalueindex(1));
    const int64_t *idx;
    int64_t n = ol_loader_next_indices(&u->l, &idx);
    if (n == 0) {
        lua_pushnil(L);
        return 1;
    }
    const ol_dataset *ds = u->l.ds;
    int64_t shx[2] = {n, ds->d}, shy[1] = {n};
    void *x = push_new_tensor(L, u->dtype, 2, shx);
    void *y = ds->classes > 0 ? push_new_tensor(L, u->dtype, 1, shy) : NULL;
    ol_dataset_gather(ds, idx, n, u->dtype, x, y);
    if (!y) lua_pushnil(L);
    return 2;
}

/* loader:batches() -> iterator over a new epoch (restarts any epoch in
 * progress). */
static int ld_batches(lua_State *L) {
    ol_l_loader *u = ol_l_checkloader(L, 1);
    ol_loader_start_epoch(&u->l);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, ld_next, 1);
    return 1;
}

static const char *const loader_keys[] = {"batch_size", "shuffle", "balanced", "drop_last", "dtype",
                                          NULL};

/* ol.data.loader(ds, {batch_size = 128, shuffle = true, balanced = false,
 * drop_last = false, dtype = ds.dtype}) */
static int l_loader(lua_State *L) {
    ol_l_dataset *d = ol_l_checkdataset(L, 1);
    check_keys(L, 2, 2, loader_keys);
    ol_loader_opts o;
    o.batch_size = opt_int(L, 2, 2, "batch_size", 128);
    o.shuffle = opt_bool(L, 2, 2, "shuffle", 1);
    o.balanced = opt_bool(L, 2, 2, "balanced", 0);
    o.drop_last = opt_bool(L, 2, 2, "drop_last", 0);
    ol_dtype dt = opt_dtype(L, 2, 2, d->dtype);
    if (o.batch_size < 1)
        return luaL_error(L, "bad argument #2 to 'loader' (batch_size must be >= 1, got %I)",
                          (lua_Integer)o.batch_size);
    if (o.balanced && d->ds->classes < 1)
        return luaL_error(L, "bad argument #1 to 'loader' (balanced batches need a labelled dataset)");
    ol_l_loader *u = (ol_l_loader *)lua_newuserdatauv(L, sizeof *u, 1);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, OL_LOADER_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    u->dtype = dt;
    ol_error err;
    if (ol_loader_init(&u->l, d->ds, &o, &err) != 0) return fn_error(L, 2, &err);
    return 1;
}

/* ---- readers ---- */

static const char *const idx_keys[] = {"classes", "dtype", NULL};

/* ol.data.idx(images_path [, labels_path] [, {classes = nil, dtype = "f32"}]) */
static int l_idx(lua_State *L) {
    const char *im = luaL_checkstring(L, 1);
    const char *lb = luaL_optstring(L, 2, NULL);
    check_keys(L, 3, 3, idx_keys);
    lua_Integer classes = opt_int(L, 3, 3, "classes", 0);
    ol_dtype dt = opt_dtype(L, 3, 3, OL_F32);
    ol_error err;
    ol_dataset *ds = ol_read_idx(im, lb, (int32_t)classes, &err);
    return push_dataset(L, ds, dt, 1, &err);
}

static const char *const fm_keys[] = {"split", "dir", "dtype", NULL};

/* ol.data.fashion_mnist{split = "train" | "test", dir = nil, dtype = "f32"} */
static int l_fashion_mnist(lua_State *L) {
    check_keys(L, 1, 1, fm_keys);
    const char *split = opt_str(L, 1, 1, "split", "train");
    const char *dir = opt_str(L, 1, 1, "dir", "/usr/share/datasets/fashion-mnist");
    ol_dtype dt = opt_dtype(L, 1, 1, OL_F32);
    const char *stem;
    if (strcmp(split, "train") == 0) stem = "train";
    else if (strcmp(split, "test") == 0) stem = "t10k";
    else return luaL_error(L, "bad argument #1 to 'fashion_mnist' (split must be \"train\" or "
                              "\"test\", got \"%s\")", split);
    char path[2][1024];
    const char *what[2] = {"images-idx3-ubyte", "labels-idx1-ubyte"};
    for (int k = 0; k < 2; k++) {
        snprintf(path[k], sizeof path[k], "%s/%s-%s.gz", dir, stem, what[k]);
        if (access(path[k], R_OK) != 0) {
            /* also accept the files decompressed */
            char raw[1024];
            snprintf(raw, sizeof raw, "%s/%s-%s", dir, stem, what[k]);
            if (access(raw, R_OK) == 0) {
                memcpy(path[k], raw, sizeof raw);
                continue;
            }
            return luaL_error(L, "Fashion-MNIST is not installed: %s not found; "
                                 "`apt-get install dataset-fashion-mnist` installs it "
                                 "(or pass dir = the directory holding the IDX files)", path[k]);
        }
    }
    ol_error err;
    ol_dataset *ds = ol_read_idx(path[0], path[1], 10, &err);
    return push_dataset(L, ds, dt, 1, &err);
}

static const char *const csv_keys[] = {"header", "label", "delimiter", "label_base", "classes",
                                       "dtype", NULL};

/* ol.data.csv(path, {header = auto, label = last column (name, 1-based
 * index, or false), delimiter = ",", label_base = auto, classes = nil,
 * dtype = "f32"}) */
static int l_csv(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    check_keys(L, 2, 2, csv_keys);
    ol_csv_opts o = {.header = -1, .label_index = -1, .label_base = -1, .delimiter = ','};
    int ty = opt_get(L, 2, "header");
    if (ty == LUA_TBOOLEAN) o.header = lua_toboolean(L, -1);
    else if (ty != LUA_TNIL) opt_error(L, 2, "header", "a boolean");
    lua_pop(L, 1);
    ty = opt_get(L, 2, "label");
    if (ty == LUA_TSTRING) o.label_name = lua_tostring(L, -1); /* anchored in the table */
    else if (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1)) o.label_index = 0;
    else if (ty == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1)
        o.label_index = lua_tointeger(L, -1);
    else if (ty != LUA_TNIL) opt_error(L, 2, "label", "a column name, a column number >= 1 or false");
    lua_pop(L, 1);
    const char *delim = opt_str(L, 2, 2, "delimiter", ",");
    if (strlen(delim) != 1)
        return luaL_error(L, "bad argument #2 to 'csv' (delimiter must be one character, got '%s')",
                          delim);
    o.delimiter = delim[0];
    lua_Integer base = opt_int(L, 2, 2, "label_base", -1);
    if (base != -1 && base != 0 && base != 1)
        return luaL_error(L, "bad argument #2 to 'csv' (label_base must be 0 or 1, got %I)", base);
    o.label_base = (int)base;
    lua_Integer classes = opt_int(L, 2, 2, "classes", 0);
    if (classes < 0 || classes > INT32_MAX)
        return luaL_error(L, "bad argument #2 to 'csv' (classes must be >= 1, got %I)", classes);
    o.classes = (int32_t)classes;
    ol_dtype dt = opt_dtype(L, 2, 2, OL_F32);
    ol_error err;
    ol_dataset *ds = ol_read_csv(path, &o, &err);
    return push_dataset(L, ds, dt, 1, &err);
}

static const char *const synth_keys[] = {"kind", "n", "classes", "noise", "dim", "dtype", NULL};

/* ol.data.synthetic{kind = "spirals" | "xor" | "blobs", n = 1000,
 * classes = 3 (xor: 2), noise = kind's default, dim = 2, dtype = "f32"} */
static int l_synthetic(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    check_keys(L, 1, 1, synth_keys);
    const char *kind = opt_str(L, 1, 1, "kind", NULL);
    ol_synth_opts o;
    if (!kind)
        return luaL_error(L, "bad argument #1 to 'synthetic' (option 'kind' (\"spirals\", \"xor\" "
                             "or \"blobs\") is required)");
    if (ol_synth_kind_parse(kind, &o.kind) != 0)
        return luaL_error(L, "bad argument #1 to 'synthetic' (unknown kind '%s', expected "
                             "\"spirals\", \"xor\" or \"blobs\")", kind);
    o.n = opt_int(L, 1, 1, "n", 1000);
    lua_Integer classes = opt_int(L, 1, 1, "classes", o.kind == OL_SYNTH_XOR ? 2 : 3);
    if (classes < 1 || classes > 1 << 20)
        return luaL_error(L, "bad argument #1 to 'synthetic' (classes must be in 1..%d, got %I)",
                          1 << 20, classes);
    o.classes = (int32_t)classes;
    o.dim = opt_int(L, 1, 1, "dim", 2);
    o.noise = opt_num(L, 1, 1, "noise", -1); /* -1: the kind's default */
    if (o.noise < 0 && o.noise != -1)
        return luaL_error(L, "bad argument #1 to 'synthetic' (noise must be >= 0, got %f)", o.noise);
    ol_dtype dt = opt_dtype(L, 1, 1, OL_F32);
    ol_error err;
    ol_dataset *ds = ol_synthetic(&o, &err);
    return push_dataset(L, ds, dt, 1, &err);
}

static const char *const dataset_keys[] = {"classes", NULL};

/* ol.data.dataset(x [, y] [, {classes = max(y)}]): x an N x D tensor (a
 * 1-D x is N x 1), y N class ids (tensor or table), copied. */
static int l_dataset(lua_State *L) {
    ol_tensor *x = ol_l_checktensor(L, 1);
    ol_tensor *yt = NULL;
    int has_y = !lua_isnoneornil(L, 2);
    if (has_y) {
        yt = ol_l_totensor(L, 2);
        if (!yt && !lua_istable(L, 2)) return luaL_typeerror(L, 2, "tensor or table of class ids");
    }
    check_keys(L, 3, 3, dataset_keys);
    lua_Integer classes = opt_int(L, 3, 3, "classes", 0);
    if (x->ndim != 1 && x->ndim != 2)
        return luaL_error(L, "bad argument #1 to 'dataset' (expected a 1-D or 2-D tensor)");
    int64_t n = x->shape[0], d = x->ndim == 2 ? x->shape[1] : 1;
    int64_t ny = !has_y ? n : yt ? ol_tensor_numel(yt) : (int64_t)lua_rawlen(L, 2);
    if (yt && yt->ndim != 1)
        return luaL_error(L, "bad argument #2 to 'dataset' (labels must be a 1-D tensor)");
    if (ny != n)
        return luaL_error(L, "bad argument #2 to 'dataset' (%I labels for %I samples)",
                          (lua_Integer)ny, (lua_Integer)n);
    ol_l_dataset *u = new_dataset(L, x->dtype);
    ol_error err;
    ol_tensor c;
    if (ol_tensor_contiguous(x, &c, &err) != 0) return fn_error(L, 1, &err);
    size_t es = ol_dtype_size(x->dtype), nb = (size_t)(n * d) * es;
    void *buf = malloc(nb ? nb : 1);
    int32_t *y = has_y ? malloc((size_t)(n > 0 ? n : 1) * sizeof *y) : NULL;
    if (!buf || (has_y && !y)) {
        free(buf);
        free(y);
        ol_tensor_release(&c);
        return luaL_error(L, "not enough memory");
    }
    memcpy(buf, ol_tensor_data(&c), nb);
    ol_tensor_release(&c);
    int32_t maxl = 0;
    for (int64_t i = 0; i < n && has_y; i++) {
        /* no Lua call here may raise: buf and y are not yet owned */
        int ok = 1;
        double v = 0;
        if (yt) {
            int64_t ix[1] = {i};
            v = ol_tensor_get(yt, ix);
        } else {
            lua_rawgeti(L, 2, (lua_Integer)i + 1);
            ok = lua_type(L, -1) == LUA_TNUMBER;
            v = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        if (!ok || !(v >= 1 && v <= INT32_MAX && v == (double)(int64_t)v) ||
            (classes > 0 && v > (double)classes)) {
            free(buf);
            free(y);
            if (classes > 0 && ok && v > (double)classes)
                return luaL_error(L, "bad argument #2 to 'dataset' (label %I is %f, out of range "
                                     "1..%I)", (lua_Integer)i + 1, v, classes);
            return luaL_error(L, "bad argument #2 to 'dataset' (label %I is not a class id >= 1)",
                              (lua_Integer)i + 1);
        }
        y[i] = (int32_t)v;
        if (y[i] > maxl) maxl = y[i];
    }
    u->ds = ol_dataset_new(x->dtype == OL_F32 ? OL_DS_F32 : OL_DS_F64, n, d, buf, 1.0, y,
                           classes > 0 ? (int32_t)classes : maxl, &err);
    if (!u->ds) return fn_error(L, 1, &err);
    return 1;
}

/* ---- registration ---- */

static void new_class(lua_State *L, const char *mt, const luaL_Reg *meta, const luaL_Reg *methods,
                      lua_CFunction index) {
    luaL_newmetatable(L, mt);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1); /* also __methods, for the REPL's completion */
    lua_setfield(L, -3, "__methods");
    lua_pushcclosure(L, index, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void ol_open_data(lua_State *L) {
    static const luaL_Reg ds_meta[] = {
        {"__gc", ds_gc}, {"__len", ds_len}, {"__tostring", ds_tostring}, {NULL, NULL}};
    static const luaL_Reg ds_methods[] = {
        {"split", ds_split}, {"standardize", ds_standardize}, {NULL, NULL}};
    static const luaL_Reg std_meta[] = {{"__gc", std_gc}, {NULL, NULL}};
    static const luaL_Reg std_methods[] = {{"apply", std_apply}, {NULL, NULL}};
    static const luaL_Reg ld_meta[] = {
        {"__gc", ld_gc}, {"__len", ld_len}, {"__tostring", ld_tostring}, {NULL, NULL}};
    static const luaL_Reg ld_methods[] = {{"batches", ld_batches}, {NULL, NULL}};
    new_class(L, OL_DATASET_MT, ds_meta, ds_methods, ds_index);
    new_class(L, OL_STANDARDIZER_MT, std_meta, std_methods, std_index);
    new_class(L, OL_LOADER_MT, ld_meta, ld_methods, ld_index);

    /* Each function gets its own name as upvalue 1, for option errors. */
    static const luaL_Reg funcs[] = {
        {"idx", l_idx},     {"fashion_mnist", l_fashion_mnist}, {"csv", l_csv},
        {"synthetic", l_synthetic}, {"loader", l_loader}, {"dataset", l_dataset},
        {NULL, NULL}};
    lua_newtable(L);
    for (const luaL_Reg *f = funcs; f->name; f++) {
        lua_pushstring(L, f->name);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, -2, f->name);
    }
    lua_setfield(L, -2, "data");
}
