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
#include <sys/stat.h>
#include <unistd.h>

#include "data/loader.h"
#include "data/readers.h"
#include "l_common.h"

/* ---- datasets ---- */

#define OL_DATASET_MT "optlua.dataset"
#define OL_LOADER_MT "optlua.loader"
#define OL_STANDARDIZER_MT "optlua.standardizer"

typedef struct ol_l_dataset {
    ol_dataset *ds;
    ol_dtype dtype;   /* of ds.x, ds.y and (by default) its loaders' batches */
} ol_l_dataset;

/* The loader keeps its dataset's userdata alive (user value 1). */
typedef struct ol_l_loader {
    ol_loader l;
    ol_dtype dtype;   /* of the batches */
} ol_l_loader;

/* ds->ds is NULL only once freed: a dataset is filled before it is returned. */
static ol_l_dataset *check_dataset(lua_State *L, int idx) {
    ol_l_dataset *u = (ol_l_dataset *)luaL_checkudata(L, idx, OL_DATASET_MT);
    if (!u->ds) ol_l_freed(L, "dataset");
    return u;
}

/* Pushes an empty dataset userdata; fill ->ds before anything can fail. */
static ol_l_dataset *new_dataset(lua_State *L, ol_dtype dt) {
    ol_l_dataset *u = (ol_l_dataset *)lua_newuserdatauv(L, sizeof *u, 0);
    u->ds = NULL;
    u->dtype = dt;
    luaL_setmetatable(L, OL_DATASET_MT);
    return u;
}

/* Pushes ds (or raises with err blaming argument arg of fname when ds is
 * NULL: a file error always says which reader). */
static int push_dataset(lua_State *L, ol_dataset *ds, ol_dtype dt, int arg, const char *fname,
                        const ol_error *err) {
    if (!ds) return ol_arg_error(L, arg, fname, "%s", err->msg);
    ol_l_dataset *u = new_dataset(L, dt);
    u->ds = ds;
    return 1;
}

static int ds_gc(lua_State *L) {
    ol_l_dataset *u = (ol_l_dataset *)luaL_checkudata(L, 1, OL_DATASET_MT);
    ol_l_check_idle(L, 1, "dataset");
    ol_dataset_free(u->ds);
    u->ds = NULL;
    return 0;
}

static int ds_len(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)check_dataset(L, 1)->ds->n);
    return 1;
}

static int ds_tostring(lua_State *L) {
    ol_l_dataset *u = check_dataset(L, 1);
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
    ol_l_dataset *u = check_dataset(L, 1);
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
    ol_l_dataset *u = check_dataset(L, 1);
    lua_Number frac = luaL_checknumber(L, 2);
    luaL_argcheck(L, frac >= 0 && frac <= 1, 2, "fraction must be in [0, 1]");
    ol_l_dataset *a = new_dataset(L, u->dtype), *b = new_dataset(L, u->dtype);
    ol_error err;
    if (ol_dataset_split(u->ds, frac, &a->ds, &b->ds, &err) != 0) return ol_l_error(L, 2, &err);
    return 2;
}

/* ---- standardisers ---- */

/* A fitted standardiser has its means; ol_standardizer_free clears them. */
static ol_standardizer *check_std(lua_State *L, int idx) {
    ol_standardizer *s = (ol_standardizer *)luaL_checkudata(L, idx, OL_STANDARDIZER_MT);
    if (!s->mean) ol_l_freed(L, "standardizer");
    return s;
}

static int std_gc(lua_State *L) {
    ol_standardizer_free((ol_standardizer *)luaL_checkudata(L, 1, OL_STANDARDIZER_MT));
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
    ol_l_dataset *u = check_dataset(L, 1);
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
    ol_l_dataset *u = check_dataset(L, 2);
    ol_error err;
    if (ol_dataset_standardize(u->ds, s, &err) != 0) return ol_l_error(L, 2, &err);
    lua_settop(L, 2);
    return 1;
}

/* ---- loaders ---- */

/* The loader userdata at idx, NULL if it is none; *why says what is gone
 * when it or its dataset (user value 1) was freed (l.ds is NULL only once
 * the loader is freed). */
static ol_l_loader *test_loader(lua_State *L, int idx, const char **why) {
    ol_l_loader *u = luaL_testudata(L, idx, OL_LOADER_MT);
    *why = NULL;
    if (!u) return NULL;
    if (!u->l.ds) *why = "loader";
    else {
        lua_getiuservalue(L, idx, 1);
        const ol_l_dataset *d = luaL_testudata(L, -1, OL_DATASET_MT);
        if (!d || d->ds != u->l.ds) *why = "loader's dataset";
        lua_pop(L, 1);
    }
    return u;
}

static ol_l_loader *check_loader(lua_State *L, int idx) {
    const char *why;
    ol_l_loader *u = test_loader(L, idx, &why);
    if (!u) luaL_typeerror(L, idx, OL_LOADER_MT);
    if (why) ol_l_freed(L, why);
    return u;
}

ol_loader *ol_l_toloader(lua_State *L, int idx) {
    const char *why;
    ol_l_loader *u = test_loader(L, idx, &why);
    return u && !why ? &u->l : NULL;
}

const ol_dataset *ol_l_todataset(lua_State *L, int idx) {
    ol_l_dataset *u = luaL_testudata(L, idx, OL_DATASET_MT);
    return u ? u->ds : NULL;
}

static int ld_gc(lua_State *L) {
    ol_l_loader *u = luaL_checkudata(L, 1, OL_LOADER_MT);
    ol_l_check_idle(L, 1, "loader");
    ol_loader_free(&u->l);
    return 0;
}

static int ld_len(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)ol_loader_num_batches(&check_loader(L, 1)->l));
    return 1;
}

static int ld_index(lua_State *L) {
    ol_l_loader *u = check_loader(L, 1);
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
    ol_l_loader *u = check_loader(L, 1);
    lua_pushfstring(L, "loader: %I batches of %I%s%s%s", (lua_Integer)ol_loader_num_batches(&u->l),
                    (lua_Integer)u->l.opts.batch_size, u->l.opts.shuffle ? ", shuffled" : "",
                    u->l.opts.balanced ? ", class-balanced" : "",
                    u->l.opts.drop_last ? ", drop_last" : "");
    return 1;
}

/* The iterator of loader:batches(): the next x, y, or nil at the end. */
static int ld_next(lua_State *L) {
    ol_l_loader *u = check_loader(L, lua_upvalueindex(1));
    const int64_t *idx;
    int64_t n = ol_loader_next_indices(&u->l, &idx);
    if (n == 0) {
        lua_pushnil(L);
        return 1;
    }
    const ol_dataset *ds = u->l.ds;
    int64_t shx[2] = {n, ds->d}, shy[1] = {n};
    void *x = push_new_tensor(L, u->dtype, 2, shx);
    ol_dataset_gather(ds, idx, n, u->dtype, x, NULL);
    if (ds->classes == 0) {
        lua_pushnil(L);
        return 2;
    }
    void *y = push_new_tensor(L, u->dtype, 1, shy); /* the labels, 1-based as ds.y */
    for (int64_t k = 0; k < n; k++) {
        const int32_t c = ol_dataset_label(ds, idx[k]);
        if (u->dtype == OL_F32) ((float *)y)[k] = (float)c;
        else ((double *)y)[k] = c;
    }
    return 2;
}

/* loader:batches() -> iterator over a new epoch (restarts any epoch in
 * progress). */
static int ld_batches(lua_State *L) {
    ol_l_loader *u = check_loader(L, 1);
    ol_loader_start_epoch(&u->l);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, ld_next, 1);
    return 1;
}

/* The dataset argument of fname at arg. */
static ol_l_dataset *arg_dataset(lua_State *L, int arg, const char *fname) {
    ol_l_dataset *d = luaL_testudata(L, arg, OL_DATASET_MT);
    if (!d) ol_arg_expected(L, arg, fname, "dataset");
    if (!d->ds) ol_l_freed(L, "dataset");
    return d;
}

/* ol.data.loader(ds, {batch_size = 128, shuffle = true, balanced = false,
 * drop_last = false, dtype = ds.dtype}) */
static int l_loader(lua_State *L) {
    ol_l_dataset *d = arg_dataset(L, 1, "loader");
    ol_opts opts;
    ol_loader_opts o;
    ol_opts_begin(L, &opts, 2, "loader", 0);
    o.batch_size = ol_opt_integer(&opts, "batch_size", 128, 1, LUA_MAXINTEGER);
    o.shuffle = ol_opt_bool(&opts, "shuffle", 1);
    o.balanced = ol_opt_bool(&opts, "balanced", 0);
    o.drop_last = ol_opt_bool(&opts, "drop_last", 0);
    ol_dtype dt = ol_opt_dtype(&opts, "dtype", d->dtype);
    ol_opts_end(&opts);
    if (o.balanced && d->ds->classes < 1)
        return ol_arg_error(L, 1, "loader", "balanced batches need a labelled dataset");
    ol_l_loader *u = (ol_l_loader *)lua_newuserdatauv(L, sizeof *u, 1);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, OL_LOADER_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    u->dtype = dt;
    ol_error err;
    if (ol_loader_init(&u->l, d->ds, &o, &err) != 0) return ol_arg_error(L, 2, "loader", "%s", err.msg);
    return 1;
}

/* ---- readers ---- */

/* The file name argument of fname at arg (optional: NULL when nil). */
static const char *arg_path(lua_State *L, int arg, const char *fname, int optional) {
    if (optional && lua_isnoneornil(L, arg)) return NULL;
    if (lua_type(L, arg) != LUA_TSTRING) ol_arg_expected(L, arg, fname, "file name");
    return lua_tostring(L, arg);
}

/* ol.data.idx(images_path [, labels_path] [, {classes = nil, dtype = "f32"}]) */
static int l_idx(lua_State *L) {
    const char *im = arg_path(L, 1, "idx", 0);
    const char *lb = arg_path(L, 2, "idx", 1);
    ol_opts opts;
    ol_opts_begin(L, &opts, 3, "idx", 0);
    lua_Integer classes = ol_opt_integer(&opts, "classes", 0, 0, INT32_MAX);
    ol_dtype dt = ol_opt_dtype(&opts, "dtype", OL_F32);
    ol_opts_end(&opts);
    ol_error err;
    ol_dataset *ds = ol_read_idx(im, lb, (int32_t)classes, &err);
    return push_dataset(L, ds, dt, 1, "idx", &err);
}

/* ol.data.fashion_mnist{split = "train" | "test", dir = nil, dtype = "f32"}
 * Without dir, Debian's dataset-fashion-mnist; a missing file there means
 * the package is not installed. A dir given must hold the split's two IDX
 * files, each gzipped (.gz) or not: the error names the ones it lacks. */
static int l_fashion_mnist(lua_State *L) {
    static const char *const splits[] = {"train", "test", NULL};
    static const char *const stems[] = {"train", "t10k"};
    ol_opts opts;
    ol_opts_begin(L, &opts, 1, "fashion_mnist", 0);
    int split = ol_opt_enum(&opts, "split", 0, splits);
    const char *stem = stems[split];
    const char *dir = ol_opt_string(&opts, "dir", NULL);
    int given = dir != NULL;
    if (!given) dir = "/usr/share/datasets/fashion-mnist";
    ol_dtype dt = ol_opt_dtype(&opts, "dtype", OL_F32);
    ol_opts_end(&opts);
    struct stat st;
    if (given && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        return ol_arg_error(L, 1, "fashion_mnist", "option 'dir': no directory '%s'", dir);
    char path[2][1024], missing[2][64];
    int nmissing = 0;
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
            if (!given)
                return luaL_error(L, "Fashion-MNIST is not installed: %s not found; "
                                     "`apt-get install dataset-fashion-mnist` installs it "
                                     "(or pass dir = the directory holding the IDX files)", path[k]);
            snprintf(missing[nmissing++], sizeof missing[0], "%s-%s", stem, what[k]);
        }
    }
    if (nmissing == 2)
        return ol_arg_error(L, 1, "fashion_mnist", "option 'dir': '%s' has no Fashion-MNIST IDX files of split "
                            "'%s' (looked for %s and %s, each gzipped (.gz) or not)", dir, splits[split],
                            missing[0], missing[1]);
    if (nmissing == 1)
        return ol_arg_error(L, 1, "fashion_mnist", "option 'dir': '%s' has no Fashion-MNIST IDX file %s of "
                            "split '%s' (looked for %s.gz and %s)", dir, missing[0], splits[split], missing[0],
                            missing[0]);
    ol_error err;
    ol_dataset *ds = ol_read_idx(path[0], path[1], 10, &err);
    return push_dataset(L, ds, dt, 1, "fashion_mnist", &err);
}

/* ol.data.csv(path, {header = auto, label = last column (name, 1-based
 * index, or false), delimiter = ",", label_base = auto, classes = nil,
 * dtype = "f32"}) */
static int l_csv(lua_State *L) {
    const char *path = arg_path(L, 1, "csv", 0);
    ol_opts opts;
    ol_opts_begin(L, &opts, 2, "csv", 0);
    ol_csv_opts o = {.header = -1, .label_index = -1, .label_base = -1, .delimiter = ','};
    o.header = ol_opt_bool(&opts, "header", -1); /* -1: decided by the first row */
    ol_opt_push(&opts, "label");
    int ty = lua_type(L, -1);
    if (ty == LUA_TSTRING) o.label_name = lua_tostring(L, -1); /* anchored in the table */
    else if (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1)) o.label_index = 0;
    else if (ty == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1)
        o.label_index = lua_tointeger(L, -1);
    else if (ty != LUA_TNIL)
        ol_opt_expected(&opts, "label", "a column name, a column number >= 1 or false", -1);
    lua_pop(L, 1);
    const char *delim = ol_opt_string(&opts, "delimiter", ",");
    if (strlen(delim) != 1) {
        ol_opt_push(&opts, "delimiter");
        ol_opt_expected(&opts, "delimiter", "one character", -1);
    }
    o.delimiter = delim[0];
    o.label_base = (int)ol_opt_integer(&opts, "label_base", -1, 0, 1); /* -1: from the labels */
    o.classes = (int32_t)ol_opt_integer(&opts, "classes", 0, 0, INT32_MAX); /* 0: max label */
    ol_dtype dt = ol_opt_dtype(&opts, "dtype", OL_F32);
    ol_opts_end(&opts);
    ol_error err;
    ol_dataset *ds = ol_read_csv(path, &o, &err);
    return push_dataset(L, ds, dt, 1, "csv", &err);
}

/* ol.data.synthetic{kind = "spirals" | "xor" | "blobs", n = 1000,
 * classes = 3 (xor: 2), noise = kind's default, dim = 2, dtype = "f32"} */
static int l_synthetic(lua_State *L) {
    static const char *const kinds[] = {"spirals", "xor", "blobs", NULL};
    ol_opts opts;
    ol_synth_opts o;
    ol_opts_begin(L, &opts, 1, "synthetic", OL_OPTS_REQUIRED);
    ol_synth_kind_parse(kinds[ol_opt_enum(&opts, "kind", -1, kinds)], &o.kind);
    o.n = ol_opt_integer(&opts, "n", 1000, 1, LUA_MAXINTEGER);
    o.classes = (int32_t)ol_opt_integer(&opts, "classes", o.kind == OL_SYNTH_XOR ? 2 : 3, 1, 1 << 20);
    o.dim = ol_opt_integer(&opts, "dim", 2, 1, LUA_MAXINTEGER);
    o.noise = ol_opt_number(&opts, "noise", -1, OL_R_GE(0)); /* -1: the kind's default */
    ol_dtype dt = ol_opt_dtype(&opts, "dtype", OL_F32);
    ol_opts_end(&opts);
    ol_error err;
    ol_dataset *ds = ol_synthetic(&o, &err);
    return push_dataset(L, ds, dt, 1, "synthetic", &err);
}

/* ol.data.dataset(x [, y] [, {classes = max(y)}]): x an N x D tensor (a
 * 1-D x is N x 1), y N class ids (tensor or table), copied. */
static int l_dataset(lua_State *L) {
    ol_tensor *x = ol_l_totensor(L, 1);
    if (!x) return ol_arg_expected(L, 1, "dataset", "tensor");
    ol_tensor *yt = NULL;
    int has_y = !lua_isnoneornil(L, 2);
    if (has_y) {
        yt = ol_l_totensor(L, 2);
        if (!yt && !lua_istable(L, 2)) return ol_arg_expected(L, 2, "dataset", "tensor or table of class ids");
    }
    ol_opts opts;
    ol_opts_begin(L, &opts, 3, "dataset", 0);
    lua_Integer classes = ol_opt_integer(&opts, "classes", 0, 0, INT32_MAX); /* 0: max label */
    ol_opts_end(&opts);
    if (x->ndim != 1 && x->ndim != 2) return ol_arg_error(L, 1, "dataset", "expected a 1-D or 2-D tensor");
    int64_t n = x->shape[0], d = x->ndim == 2 ? x->shape[1] : 1;
    int64_t ny = !has_y ? n : yt ? ol_tensor_numel(yt) : (int64_t)lua_rawlen(L, 2);
    if (yt && yt->ndim != 1) return ol_arg_error(L, 2, "dataset", "labels must be a 1-D tensor");
    if (ny != n)
        return ol_arg_error(L, 2, "dataset", "%lld labels for %lld samples", (long long)ny, (long long)n);
    ol_l_dataset *u = new_dataset(L, x->dtype);
    ol_error err;
    ol_tensor c;
    if (ol_tensor_contiguous(x, &c, &err) != 0) return ol_arg_error(L, 1, "dataset", "%s", err.msg);
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
                return ol_arg_error(L, 2, "dataset", "label %lld is %.14g, out of range 1..%lld",
                                    (long long)i + 1, v, (long long)classes);
            return ol_arg_error(L, 2, "dataset", "label %lld is not a class id >= 1", (long long)i + 1);
        }
        y[i] = (int32_t)v;
        if (y[i] > maxl) maxl = y[i];
    }
    u->ds = ol_dataset_new(x->dtype == OL_F32 ? OL_DS_F32 : OL_DS_F64, n, d, buf, 1.0, y,
                           classes > 0 ? (int32_t)classes : maxl, &err);
    if (!u->ds) return ol_arg_error(L, 1, "dataset", "%s", err.msg);
    return 1;
}

/* ---- registration ---- */

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
    ol_l_new_class(L, OL_DATASET_MT, ds_meta, ds_methods, ds_index);
    ol_l_new_class(L, OL_STANDARDIZER_MT, std_meta, std_methods, std_index);
    ol_l_new_class(L, OL_LOADER_MT, ld_meta, ld_methods, ld_index);

    static const luaL_Reg funcs[] = {
        {"idx", l_idx},     {"fashion_mnist", l_fashion_mnist}, {"csv", l_csv},
        {"synthetic", l_synthetic}, {"loader", l_loader}, {"dataset", l_dataset},
        {NULL, NULL}};
    luaL_newlib(L, funcs);
    lua_setfield(L, -2, "data");
}
