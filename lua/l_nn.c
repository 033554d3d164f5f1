/* ol.nn: layer descriptors, sequential/mlp models and their methods
 * (README, Models). A model is a userdata holding an engine ol_model;
 * its user values cache the flat params/grads tensors (so params() and
 * grads() return the same tensors every time, and evaluate allocates no
 * new header), keep the last input alive until backward, and hold the
 * buffer that class ids given from Lua are read into.
 *
 * Layer descriptors are plain tables with the metatable "optlua.layer":
 * {kind = "linear", in = 784, out = 256} or {kind = "relu"},
 * {kind = "leaky_relu", slope = 0.01}, {kind = "dropout", p = 0.5},
 * {kind = "layer_norm", n = 256, eps = 1e-5, affine = true},
 * {kind = "batch_norm", n = 256, eps = 1e-5, momentum = 0.1, affine = true}.
 *
 * A model has a mode, training (the default) or evaluation, as torch's
 * Module: net:train() and net:eval() set it, net.training reads it. The
 * step-level calls (forward, loss, evaluate) run in the current mode;
 * net:predict runs in evaluation mode and restores the mode it found. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "l_common.h"
#include "nn/nn.h"

#define LAYER_MT "optlua.layer"

enum { UV_PARAMS = 1, UV_GRADS, UV_INPUT, UV_IDS, UV_COUNT = UV_IDS };

typedef struct l_model {
    ol_model *m;
} l_model;

ol_model *ol_l_tomodel(lua_State *L, int idx) {
    l_model *u = luaL_testudata(L, idx, OL_MODEL_MT);
    return u ? u->m : NULL;
}

static ol_model *checkmodel(lua_State *L) {
    l_model *u = luaL_checkudata(L, 1, OL_MODEL_MT);
    if (!u->m) ol_l_freed(L, "model");
    return u->m;
}

/* ---- layer descriptors ---- */

/* Pushes "dropout(p)", p as %g shows it (0.5, 0.1). */
static void push_dropout(lua_State *L, double p) {
    char buf[48];
    snprintf(buf, sizeof buf, "dropout(%g)", p);
    lua_pushstring(L, buf);
}

static void new_layer(lua_State *L, const char *kind) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    luaL_setmetatable(L, LAYER_MT);
}

static lua_Integer check_size(lua_State *L, int arg, const char *what) {
    if (!lua_isinteger(L, arg) && !(lua_isnumber(L, arg) && lua_tonumber(L, arg) == floor(lua_tonumber(L, arg))))
        return ol_arg_expected(L, arg, "linear", "integer"), 0;
    lua_Integer v = (lua_Integer)lua_tonumber(L, arg);
    if (v < 1) ol_arg_error(L, arg, "linear", "%s must be positive (got %lld)", what, (long long)v);
    return v;
}

/* ol.nn.linear(in_features, out_features) */
/* ol.nn.linear(in, out [, {}]): a layer always with its bias; the options
 * table, when given, takes no option (ol.nn.linear(3, 1, {bias = false})
 * is an error, not a layer with a bias). */
static int l_linear(lua_State *L) {
    lua_Integer in = check_size(L, 1, "in_features"), out = check_size(L, 2, "out_features");
    ol_opts o;
    ol_opts_begin(L, &o, 3, "linear", 0);
    ol_opts_end(&o);
    lua_settop(L, 2);
    new_layer(L, "linear");
    lua_pushinteger(L, in);
    lua_setfield(L, -2, "in");
    lua_pushinteger(L, out);
    lua_setfield(L, -2, "out");
    return 1;
}

/* Activation constructors take no argument (or an empty options table),
 * except leaky_relu(slope) or leaky_relu{slope = s} (default 0.01, as
 * torch's negative_slope). */
static int l_activation(lua_State *L) {
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    int leaky = strcmp(name, "leaky_relu") == 0;
    double slope = 0.01;
    if (leaky && lua_type(L, 1) == LUA_TNUMBER) {
        slope = lua_tonumber(L, 1);
    } else {
        ol_opts o;
        ol_opts_begin(L, &o, 1, name, 0);
        if (leaky) slope = ol_opt_number(&o, "slope", 0.01, OL_R_ANY);
        ol_opts_end(&o);
    }
    new_layer(L, name);
    if (leaky) {
        lua_pushnumber(L, slope);
        lua_setfield(L, -2, "slope");
    }
    return 1;
}

/* ol.nn.dropout(p = 0.5) or ol.nn.dropout{p = 0.5}: inverted dropout
 * (engine/nn/dropout.c), p the probability of zeroing an element, in
 * [0, 1). */
static int l_dropout(lua_State *L) {
    double p;
    if (lua_type(L, 1) == LUA_TNUMBER) {
        p = lua_tonumber(L, 1);
        if (!(p >= 0 && p < 1)) ol_arg_error(L, 1, "dropout", "p must be in [0, 1), got %s", lua_tostring(L, 1));
    } else {
        ol_opts o;
        ol_opts_begin(L, &o, 1, "dropout", 0);
        p = ol_opt_number(&o, "p", 0.5, OL_R_IN_CO(0, 1));
        ol_opts_end(&o);
    }
    new_layer(L, "dropout");
    lua_pushnumber(L, p);
    lua_setfield(L, -2, "p");
    return 1;
}

/* The norm layers' options, as torch.nn.LayerNorm and BatchNorm1d. */
static void push_norm(lua_State *L, const char *fname, int batch) {
    if (!lua_isinteger(L, 1) && !(lua_isnumber(L, 1) && lua_tonumber(L, 1) == floor(lua_tonumber(L, 1))))
        ol_arg_expected(L, 1, fname, "integer (the number of features)");
    lua_Integer n = (lua_Integer)lua_tonumber(L, 1);
    if (n < 1) ol_arg_error(L, 1, fname, "the number of features must be positive (got %lld)", (long long)n);
    ol_opts o;
    ol_opts_begin(L, &o, 2, fname, 0);
    double eps = ol_opt_number(&o, "eps", 1e-5, OL_R_GT(0));
    double momentum = batch ? ol_opt_number(&o, "momentum", 0.1, OL_R_IN(0, 1)) : 0;
    int affine = ol_opt_bool(&o, "affine", 1);
    ol_opts_end(&o);
    new_layer(L, fname);
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    lua_pushnumber(L, eps);
    lua_setfield(L, -2, "eps");
    if (batch) {
        lua_pushnumber(L, momentum);
        lua_setfield(L, -2, "momentum");
    }
    lua_pushboolean(L, affine);
    lua_setfield(L, -2, "affine");
}

/* ol.nn.layer_norm(n [, {eps = 1e-5, affine = true}]): normalises each
 * row over its n features (engine/nn/norm.c). */
static int l_layer_norm(lua_State *L) {
    push_norm(L, "layer_norm", 0);
    return 1;
}

/* ol.nn.batch_norm(n [, {eps = 1e-5, momentum = 0.1, affine = true}]):
 * normalises each of n features over the batch in training mode, with the
 * running estimates in evaluation mode (engine/nn/nn.h). */
static int l_batch_norm(lua_State *L) {
    push_norm(L, "batch_norm", 1);
    return 1;
}

/* Pushes "layer_norm(256)" or "batch_norm(256, eps=0.001, momentum=0.1,
 * affine=false)": the options that differ from the defaults shown. */
static void push_norm_string(lua_State *L, const ol_layer_spec *s) {
    char buf[160];
    int k = snprintf(buf, sizeof buf, "%s(%lld", s->kind == OL_LAYER_LAYER_NORM ? "layer_norm" : "batch_norm",
                     (long long)s->in);
    if (s->eps != 1e-5) k += snprintf(buf + k, sizeof buf - (size_t)k, ", eps=%g", s->eps);
    if (s->kind == OL_LAYER_BATCH_NORM && s->momentum != 0.1)
        k += snprintf(buf + k, sizeof buf - (size_t)k, ", momentum=%g", s->momentum);
    if (!s->affine) k += snprintf(buf + k, sizeof buf - (size_t)k, ", affine=false");
    snprintf(buf + k, sizeof buf - (size_t)k, ")");
    lua_pushstring(L, buf);
}

/* The spec of a norm layer described by the table at idx. */
static ol_layer_spec norm_spec(lua_State *L, int idx, ol_layer_kind kind) {
    ol_layer_spec s = {.kind = kind};
    lua_getfield(L, idx, "n");
    s.in = s.out = lua_tointeger(L, -1);
    lua_getfield(L, idx, "eps");
    s.eps = lua_tonumber(L, -1);
    lua_getfield(L, idx, "momentum");
    s.momentum = lua_tonumber(L, -1);
    lua_getfield(L, idx, "affine");
    s.affine = lua_toboolean(L, -1);
    lua_pop(L, 4);
    return s;
}

/* Reads the descriptor at stack index idx (entry i of argument arg). */
static ol_layer_spec read_layer(lua_State *L, int idx, int arg, int i) {
    ol_layer_spec s = {0};
    if (!lua_getmetatable(L, idx)) goto bad;
    luaL_getmetatable(L, LAYER_MT);
    int ok = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (!ok) goto bad;
    lua_getfield(L, idx, "kind");
    const char *kind = lua_tostring(L, -1);
    if (kind && strcmp(kind, "linear") == 0) {
        s.kind = OL_LAYER_LINEAR;
        lua_getfield(L, idx, "in");
        lua_getfield(L, idx, "out");
        s.in = lua_tointeger(L, -2);
        s.out = lua_tointeger(L, -1);
        lua_pop(L, 2);
    } else if (kind && strcmp(kind, "dropout") == 0) {
        s.kind = OL_LAYER_DROPOUT;
        lua_getfield(L, idx, "p");
        s.p = lua_tonumber(L, -1);
        lua_pop(L, 1);
    } else if (kind && strcmp(kind, "layer_norm") == 0) {
        s = norm_spec(L, idx, OL_LAYER_LAYER_NORM);
    } else if (kind && strcmp(kind, "batch_norm") == 0) {
        s = norm_spec(L, idx, OL_LAYER_BATCH_NORM);
    } else if (kind && ol_act_parse(kind, &s.act) == 0) {
        s.kind = OL_LAYER_ACT;
        lua_getfield(L, idx, "slope");
        s.slope = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0.01;
        lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
        goto bad;
    }
    lua_pop(L, 1);
    return s;
bad:
    ol_arg_error(L, arg, "sequential", "entry %d is not a layer (use ol.nn.linear, ol.nn.relu, ...)", i);
    return s;
}

/* ---- building models ---- */

/* Pushes a new model userdata for specs (dtype dt) and fills its caches. */
static ol_model *push_model(lua_State *L, ol_model *m) {
    l_model *u = lua_newuserdatauv(L, sizeof *u, UV_COUNT);
    u->m = m;
    luaL_setmetatable(L, OL_MODEL_MT);
    ol_tensor t;
    ol_model_params(m, &t);
    ol_l_pushtensor(L, &t, 1);
    lua_setiuservalue(L, -2, UV_PARAMS);
    ol_model_grads(m, &t);
    ol_l_pushtensor(L, &t, 1);
    lua_setiuservalue(L, -2, UV_GRADS);
    return m;
}

static ol_model *new_model(lua_State *L, int arg, const char *fname, const ol_layer_spec *specs, int n,
                           ol_dtype dt) {
    ol_error err;
    ol_model *m = ol_model_new(specs, n, dt, &err);
    if (!m) ol_arg_error(L, arg, fname, "%s", err.msg);
    return push_model(L, m);
}

/* The kaiming nonlinearity matching an activation (the smooth relu-like
 * ones, gelu, silu, elu and softplus, which torch's calculate_gain does not
 * know: relu's gain, the usual choice; identity: linear). */
static const char *kaiming_nonlinearity(ol_act a) {
    switch (a) {
    case OL_ACT_RELU: case OL_ACT_GELU: case OL_ACT_SILU: case OL_ACT_ELU: case OL_ACT_SOFTPLUS:
        return "relu";
    case OL_ACT_LEAKY_RELU: return "leaky_relu";
    case OL_ACT_TANH: return "tanh";
    case OL_ACT_SIGMOID: return "sigmoid";
    default: return "linear";
    }
}

/* The options sequential and mlp share: init = a scheme name or
 * function(weight, name), gain. */
typedef struct init_opts {
    ol_init_scheme scheme;
    int fn; /* init is a function, called on each weight after the scheme */
    double gain;
} init_opts;

static init_opts read_init(ol_opts *o) {
    lua_State *L = o->L;
    init_opts io = {OL_INIT_XAVIER_UNIFORM, 0, 1};
    io.gain = ol_opt_number(o, "gain", 1, OL_R_ANY);
    ol_opt_push(o, "init");
    if (lua_type(L, -1) == LUA_TSTRING) {
        if (ol_init_scheme_parse(lua_tostring(L, -1), &io.scheme) != 0)
            ol_opt_expected(o, "init", "xavier_uniform, xavier_normal, fan_in_uniform, kaiming_uniform, "
                                       "kaiming_normal, orthogonal or a function", -1);
    } else if (lua_isfunction(L, -1)) {
        io.fn = 1;
    } else if (!lua_isnil(L, -1)) {
        ol_opt_expected(o, "init", "a scheme name or a function", -1);
    }
    lua_pop(L, 1);
    return io;
}

/* Initialises the model m (on top of the stack) of fname, whose options
 * table is argument 1, as io says. */
static void init_model(lua_State *L, const char *fname, ol_model *m, const init_opts *io) {
    ol_error err;
    /* The first activation decides kaiming's nonlinearity. */
    ol_act act = OL_ACT_IDENTITY;
    double slope = 0;
    for (int i = 0; i < ol_model_nlayers(m); i++)
        if (ol_model_layer(m, i)->kind == OL_LAYER_ACT) {
            act = ol_model_layer(m, i)->act;
            slope = act == OL_ACT_LEAKY_RELU ? ol_model_layer(m, i)->slope : 0;
            break;
        }
    if (ol_model_init(m, io->scheme, io->gain, slope, kaiming_nonlinearity(act), &err) != 0)
        ol_arg_error(L, 1, fname, "%s", err.msg);
    if (!io->fn) return;
    /* init(weight_view, name) for every linear layer's weight, in layer
     * order (a norm's weight keeps its ones). */
    for (int k = 0; k < ol_model_nparam_tensors(m); k++) {
        ol_param_info pi;
        ol_model_param_info(m, k, &pi);
        if (pi.is_bias || ol_model_layer(m, pi.layer)->kind != OL_LAYER_LINEAR) continue;
        lua_getfield(L, 1, "init");
        ol_tensor v;
        ol_model_param_view(m, k, 0, &v);
        ol_l_pushtensor(L, &v, 0);
        char name[64];
        ol_model_param_name(m, k, name, sizeof name);
        lua_pushstring(L, name);
        lua_call(L, 2, 0);
    }
}

/* ol.nn.sequential{layer, layer, ... [, dtype = "f32", init = ..., gain = ...]} */
static int l_sequential(lua_State *L) {
    ol_opts o;
    ol_opts_begin(L, &o, 1, "sequential", OL_OPTS_REQUIRED | OL_OPTS_LIST);
    ol_dtype dt = ol_opt_dtype(&o, "dtype", OL_F32);
    init_opts io = read_init(&o);
    ol_opts_end(&o);
    int n = (int)luaL_len(L, 1);
    if (n < 1) ol_arg_error(L, 1, "sequential", "expected a list of layers");
    ol_layer_spec *specs = lua_newuserdatauv(L, (size_t)n * sizeof *specs, 0);
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        specs[i - 1] = read_layer(L, lua_gettop(L), 1, i);
        lua_pop(L, 1);
    }
    ol_model *m = new_model(L, 1, "sequential", specs, n, dt);
    init_model(L, "sequential", m, &io);
    return 1;
}

/* ol.nn.mlp{sizes = {in, h1, ..., out}, activation = "relu", slope = 0.01,
 *           dropout = nil, norm = nil, init = "xavier_uniform", gain = nil,
 *           dtype = "f32"}:
 * linear layers with the activation between them, none after the last
 * (its outputs are the logits the losses take); with norm = "layer" or
 * "batch", a layer_norm or batch_norm (default options) after each hidden
 * linear layer, before its activation; with dropout = p, a dropout layer
 * after each hidden activation (linear, norm, act, dropout, ..., linear). */
static int l_mlp(lua_State *L) {
    const char *acts[OL_ACT_COUNT + 1]; /* the engine's activation names */
    for (int i = 0; i < OL_ACT_COUNT; i++) acts[i] = ol_act_name((ol_act)i);
    acts[OL_ACT_COUNT] = NULL;
    ol_opts o;
    ol_opts_begin(L, &o, 1, "mlp", OL_OPTS_REQUIRED);
    ol_opt_require(&o, "sizes");
    ol_opt_push(&o, "sizes"); /* 2 */
    if (!lua_istable(L, 2)) ol_opt_expected(&o, "sizes", "a list of layer widths", 2);
    int ns = (int)luaL_len(L, 2);
    if (ns < 2) ol_opt_error(&o, "option 'sizes' needs at least 2 widths (in and out)");
    int64_t *sizes = lua_newuserdatauv(L, (size_t)ns * sizeof *sizes, 0);
    for (int i = 1; i <= ns; i++) {
        lua_geti(L, 2, i);
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < 1) ol_opt_error(&o, "option 'sizes': sizes[%d] must be a positive integer", i);
        sizes[i - 1] = v;
        lua_pop(L, 1);
    }
    ol_act act = (ol_act)ol_opt_enum(&o, "activation", OL_ACT_RELU, acts);
    double slope = ol_opt_number(&o, "slope", 0.01, OL_R_ANY);
    ol_opt_push(&o, "dropout");
    const int drop = !lua_isnil(L, -1);
    lua_pop(L, 1);
    double p = drop ? ol_opt_number(&o, "dropout", 0, OL_R_IN_CO(0, 1)) : 0;
    static const char *const norms[] = {"none", "layer", "batch", NULL};
    const int norm_kind = ol_opt_enum(&o, "norm", 0, norms);
    const int norm = norm_kind != 0;
    ol_dtype dt = ol_opt_dtype(&o, "dtype", OL_F32);
    init_opts io = read_init(&o);
    ol_opts_end(&o);
    int nl = (2 + drop + norm) * (ns - 2) + 1;
    ol_layer_spec *specs = lua_newuserdatauv(L, (size_t)nl * sizeof *specs, 0);
    for (int i = 0, k = 0; i < ns - 1; i++) {
        specs[k++] = (ol_layer_spec){.kind = OL_LAYER_LINEAR, .in = sizes[i], .out = sizes[i + 1]};
        if (i == ns - 2) break;
        if (norm)
            specs[k++] = (ol_layer_spec){
                .kind = norm_kind == 1 ? OL_LAYER_LAYER_NORM : OL_LAYER_BATCH_NORM,
                .in = sizes[i + 1], .out = sizes[i + 1], .eps = 1e-5,
                .momentum = norm_kind == 2 ? 0.1 : 0, .affine = 1};
        specs[k++] = (ol_layer_spec){.kind = OL_LAYER_ACT, .act = act, .slope = slope};
        if (drop) specs[k++] = (ol_layer_spec){.kind = OL_LAYER_DROPOUT, .p = p};
    }
    ol_model *m = new_model(L, 1, "mlp", specs, nl, dt);
    init_model(L, "mlp", m, &io);
    return 1;
}

/* ---- inputs and targets ---- */

/* x at arg: n x in_features (or one row, 1-D), model dtype. Makes it
 * contiguous if needed and keeps it alive in the model until the next
 * forward. Returns its data. */
static const void *check_input(lua_State *L, ol_model *m, int arg, int64_t *n) {
    ol_tensor *x = ol_l_checktensor(L, arg);
    ol_error err;
    if (ol_model_input_rows(m, x, n, &err) != 0) ol_arg_error(L, arg, NULL, "%s", err.msg);
    lua_pushvalue(L, arg);
    if (!ol_tensor_is_contiguous(x)) {
        ol_tensor c;
        if (ol_tensor_contiguous(x, &c, &err) != 0) ol_l_error(L, arg, &err);
        lua_pop(L, 1);
        x = ol_l_pushtensor(L, &c, 1);
    }
    lua_setiuservalue(L, 1, UV_INPUT);
    return ol_tensor_data(x);
}

/* A buffer for n class ids, kept in the model's user value UV_IDS and
 * replaced when too small, so that a loop of net:evaluate(x, ids)
 * allocates nothing once it has run. The model is at 1. */
static int32_t *id_buffer(lua_State *L, int64_t n) {
    lua_getiuservalue(L, 1, UV_IDS);
    int32_t *ids = lua_touserdata(L, -1);
    if (!ids || (int64_t)(lua_rawlen(L, -1) / sizeof *ids) < n) {
        ids = lua_newuserdatauv(L, (size_t)n * sizeof *ids, 0);
        lua_setiuservalue(L, 1, UV_IDS);
    }
    lua_pop(L, 1);
    return ids;
}

/* The target at arg for the last forward (n rows), as the target rule
 * reads it (nn.h: ol_target_of_given): class ids (a list, or a tensor of
 * n values) for cross_entropy, or a tensor shaped like the output in the
 * model's dtype. */
static ol_target check_target(lua_State *L, ol_model *m, int arg, int64_t n, ol_loss_kind k) {
    ol_error err;
    ol_target_form form;
    const int64_t c = ol_model_out_features(m);
    const int list = lua_istable(L, arg);
    ol_tensor *y = list ? NULL : ol_l_checktensor(L, arg);
    if (ol_target_of_given(k, n, c, y, list ? (int64_t)luaL_len(L, arg) : 0, &form, &err))
        ol_l_error(L, arg, &err);
    if (form == OL_TARGET_IDS) {
        int32_t *ids = id_buffer(L, n);
        for (int64_t r = 0; r < n; r++) {
            double v;
            if (list) {
                lua_geti(L, arg, r + 1);
                if (!lua_isnumber(L, -1)) ol_arg_error(L, arg, NULL, "class id at row %lld is not a number", (long long)r + 1);
                v = lua_tonumber(L, -1);
                lua_pop(L, 1);
            } else {
                int64_t idx[2] = {r, 0};
                v = ol_tensor_get(y, idx);
            }
            if (ol_target_class_id(v, r, c, &ids[r], &err)) ol_l_error(L, arg, &err);
        }
        return (ol_target){ids, NULL};
    }
    if (y->dtype != ol_model_dtype(m))
        ol_arg_error(L, arg, NULL, "target is %s but the model is %s (convert with :to(\"%s\"))",
                  ol_dtype_name(y->dtype), ol_dtype_name(ol_model_dtype(m)), ol_dtype_name(ol_model_dtype(m)));
    if (!ol_tensor_is_contiguous(y)) {
        ol_tensor cy;
        if (ol_tensor_contiguous(y, &cy, &err) != 0) ol_l_error(L, arg, &err);
        y = ol_l_pushtensor(L, &cy, 1); /* stays on the stack for this call */
    }
    return (ol_target){NULL, ol_tensor_data(y)};
}

/* ---- methods ---- */

static void forward(lua_State *L, ol_model *m, int arg) {
    ol_error err;
    int64_t n;
    const void *x = check_input(L, m, arg, &n);
    if (ol_model_forward(m, x, n, &err) != 0) ol_l_error(L, arg, &err);
}

/* net:forward(x) -> N x out (a new tensor) */
static int m_forward(lua_State *L) {
    ol_model *m = checkmodel(L);
    forward(L, m, 2);
    int64_t n;
    const void *y = ol_model_output(m, &n);
    int64_t shape[2] = {n, ol_model_out_features(m)};
    ol_tensor out;
    ol_error err;
    if (ol_tensor_empty(&out, ol_model_dtype(m), 2, shape, &err) != 0) ol_l_error(L, 0, &err);
    memcpy(ol_tensor_data(&out), y, (size_t)(n * shape[1]) * ol_dtype_size(ol_model_dtype(m)));
    ol_l_pushtensor(L, &out, 1);
    return 1;
}

/* The loss of net:loss and net:evaluate (fname): x, target, kind and the
 * loss's options at 2..5. */
static double loss(lua_State *L, ol_model *m, const char *fname) {
    ol_error err;
    ol_loss_kind k = ol_l_check_loss(L, 4, fname);
    lua_settop(L, 5);
    const ol_loss_spec spec = ol_l_loss_options(L, 5, 5, fname, k, ol_model_out_features(m)); /* 6 */
    forward(L, m, 2);
    int64_t n;
    ol_model_output(m, &n);
    ol_target t = check_target(L, m, 3, n, k);
    double v;
    if (ol_model_loss(m, &spec, &t, &v, &err) != 0) ol_l_error(L, 3, &err);
    return v;
}

/* net:loss(x, target [, kind = "cross_entropy" [, options]]) -> number */
static int m_loss(lua_State *L) {
    lua_pushnumber(L, loss(L, checkmodel(L), "loss"));
    return 1;
}

/* net:backward() -> grads (accumulated into, as torch's backward) */
static int m_backward(lua_State *L) {
    ol_model *m = checkmodel(L);
    ol_error err;
    if (ol_model_backward(m, 1, &err) != 0) ol_l_error(L, 0, &err);
    lua_getiuservalue(L, 1, UV_GRADS);
    return 1;
}

/* net:evaluate(x, target [, kind [, options]]) -> loss, grads: the gradient at the
 * current parameters (overwritten, not accumulated), as a closure for
 * opt:step returns it. */
static int m_evaluate(lua_State *L) {
    ol_model *m = checkmodel(L);
    ol_error err;
    double v = loss(L, m, "evaluate");
    if (ol_model_backward(m, 0, &err) != 0) ol_l_error(L, 0, &err);
    lua_pushnumber(L, v);
    lua_getiuservalue(L, 1, UV_GRADS);
    return 2;
}

static int m_zero_grad(lua_State *L) {
    ol_model_zero_grad(checkmodel(L));
    lua_settop(L, 1);
    return 1;
}

static int m_params(lua_State *L) {
    checkmodel(L);
    lua_getiuservalue(L, 1, UV_PARAMS);
    return 1;
}

static int m_grads(lua_State *L) {
    checkmodel(L);
    lua_getiuservalue(L, 1, UV_GRADS);
    return 1;
}

/* net:parameters() -> {{name = "1.weight", tensor = view, grad = view,
 * offset = first index in params(), model = net}, ...}; names count layers
 * from 1 as given to sequential (activations included, as torch's
 * Sequential). */
static int m_parameters(lua_State *L) {
    ol_model *m = checkmodel(L);
    int nt = ol_model_nparam_tensors(m);
    lua_createtable(L, nt, 0);
    for (int k = 0; k < nt; k++) {
        ol_param_info pi;
        ol_tensor v;
        ol_model_param_info(m, k, &pi);
        lua_createtable(L, 0, 4);
        char name[64];
        ol_model_param_name(m, k, name, sizeof name);
        lua_pushstring(L, name);
        lua_setfield(L, -2, "name");
        ol_model_param_view(m, k, 0, &v);
        ol_l_pushtensor(L, &v, 0);
        lua_setfield(L, -2, "tensor");
        ol_model_param_view(m, k, 1, &v);
        ol_l_pushtensor(L, &v, 0);
        lua_setfield(L, -2, "grad");
        lua_pushinteger(L, pi.offset + 1);
        lua_setfield(L, -2, "offset");
        lua_pushvalue(L, 1);
        lua_setfield(L, -2, "model");
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

/* net:select(pattern) -> the entries of net:parameters() whose name
 * matches the Lua pattern (string.find), each with model = net, for
 * parameter groups: ol.optim.adamw({{params = net:select("weight$")}, ...}). */
static int m_select(lua_State *L) {
    checkmodel(L);
    luaL_checkstring(L, 2);
    lua_settop(L, 2);
    lua_pushcfunction(L, m_parameters);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1); /* 3: every entry */
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "string");
    if (!lua_istable(L, -1) || lua_getfield(L, -1, "find") != LUA_TFUNCTION)
        return luaL_error(L, "net:select needs Lua's string library");
    lua_replace(L, 4); /* 4: string.find */
    lua_settop(L, 4);
    lua_newtable(L); /* 5: the result */
    lua_Integer n = 0;
    for (lua_Integer k = 1; k <= (lua_Integer)lua_rawlen(L, 3); k++) {
        lua_rawgeti(L, 3, k); /* 6 */
        lua_pushvalue(L, 4);
        lua_getfield(L, 6, "name");
        lua_pushvalue(L, 2);
        lua_call(L, 2, 1);
        const int hit = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (hit) {
            lua_pushvalue(L, 1);
            lua_setfield(L, 6, "model");
            lua_rawseti(L, 5, ++n);
        } else {
            lua_pop(L, 1);
        }
    }
    return 1;
}

/* net:predict(x) -> 1-D tensor of class ids (1-based argmax of each row),
 * in evaluation mode (the mode found is restored, also on an error). */
static int m_predict(lua_State *L) {
    ol_model *m = checkmodel(L);
    ol_error err;
    int64_t n0;
    const void *x = check_input(L, m, 2, &n0);
    const int mode = ol_model_training(m);
    ol_model_set_training(m, 0);
    const int rc = ol_model_forward(m, x, n0, &err);
    ol_model_set_training(m, mode);
    if (rc != 0) ol_l_error(L, 2, &err);
    int64_t n, c = ol_model_out_features(m);
    const void *y = ol_model_output(m, &n);
    ol_tensor out;
    ol_dtype dt = ol_model_dtype(m);
    if (ol_tensor_empty(&out, dt, 1, &n, &err) != 0) ol_l_error(L, 0, &err);
    for (int64_t r = 0; r < n; r++) {
        int64_t best = 0;
        for (int64_t j = 1; j < c; j++) {
            double a = dt == OL_F32 ? ((const float *)y)[r * c + j] : ((const double *)y)[r * c + j];
            double b = dt == OL_F32 ? ((const float *)y)[r * c + best] : ((const double *)y)[r * c + best];
            if (a > b) best = j;
        }
        if (dt == OL_F32) ((float *)ol_tensor_data(&out))[r] = (float)(best + 1);
        else ((double *)ol_tensor_data(&out))[r] = (double)(best + 1);
    }
    ol_l_pushtensor(L, &out, 1);
    return 1;
}

/* net:to(dtype) -> a copy of the model in dtype (gradients zero) */
static int m_to(lua_State *L) {
    ol_model *m = checkmodel(L);
    ol_dtype dt = ol_l_optdtype(L, 2, ol_model_dtype(m));
    luaL_checkstring(L, 2);
    ol_error err;
    ol_model *c = ol_model_clone(m, dt, &err);
    if (!c) ol_l_error(L, 0, &err);
    push_model(L, c);
    return 1;
}

static int m_dtype(lua_State *L) {
    lua_pushstring(L, ol_dtype_name(ol_model_dtype(checkmodel(L))));
    return 1;
}

static int m_num_params(lua_State *L) {
    lua_pushinteger(L, ol_model_nparams(checkmodel(L)));
    return 1;
}

/* net:sizes() -> {in_features, out_features} */
static int m_sizes(lua_State *L) {
    ol_model *m = checkmodel(L);
    lua_createtable(L, 2, 0);
    lua_pushinteger(L, ol_model_in_features(m));
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, ol_model_out_features(m));
    lua_rawseti(L, -2, 2);
    return 1;
}

/* net:layers() -> {{kind = "linear", ["in"] = 784, out = 256}, {kind = "relu"},
 * {kind = "leaky_relu", slope = 0.01}, ...} in order. */
static int m_layers(lua_State *L) {
    ol_model *m = checkmodel(L);
    int n = ol_model_nlayers(m);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        const ol_layer_spec *sp = ol_model_layer(m, i);
        lua_createtable(L, 0, 3);
        if (sp->kind == OL_LAYER_LINEAR) {
            lua_pushliteral(L, "linear");
            lua_setfield(L, -2, "kind");
            lua_pushinteger(L, (lua_Integer)sp->in);
            lua_setfield(L, -2, "in");
            lua_pushinteger(L, (lua_Integer)sp->out);
            lua_setfield(L, -2, "out");
        } else if (sp->kind == OL_LAYER_DROPOUT) {
            lua_pushliteral(L, "dropout");
            lua_setfield(L, -2, "kind");
            lua_pushnumber(L, sp->p);
            lua_setfield(L, -2, "p");
        } else if (sp->kind == OL_LAYER_LAYER_NORM || sp->kind == OL_LAYER_BATCH_NORM) {
            lua_pushstring(L, sp->kind == OL_LAYER_LAYER_NORM ? "layer_norm" : "batch_norm");
            lua_setfield(L, -2, "kind");
            lua_pushinteger(L, (lua_Integer)sp->in);
            lua_setfield(L, -2, "n");
            lua_pushnumber(L, sp->eps);
            lua_setfield(L, -2, "eps");
            if (sp->kind == OL_LAYER_BATCH_NORM) {
                lua_pushnumber(L, sp->momentum);
                lua_setfield(L, -2, "momentum");
            }
            lua_pushboolean(L, sp->affine);
            lua_setfield(L, -2, "affine");
        } else {
            lua_pushstring(L, ol_act_name(sp->act));
            lua_setfield(L, -2, "kind");
            if (sp->act == OL_ACT_LEAKY_RELU) {
                lua_pushnumber(L, sp->slope);
                lua_setfield(L, -2, "slope");
            }
        }
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int m_tostring(lua_State *L) {
    ol_model *m = checkmodel(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "sequential(");
    for (int i = 0; i < ol_model_nlayers(m); i++) {
        const ol_layer_spec *s = ol_model_layer(m, i);
        if (i) luaL_addstring(&b, ", ");
        if (s->kind == OL_LAYER_LINEAR)
            lua_pushfstring(L, "linear(%I, %I)", (lua_Integer)s->in, (lua_Integer)s->out);
        else if (s->kind == OL_LAYER_DROPOUT)
            push_dropout(L, s->p);
        else if (s->kind == OL_LAYER_LAYER_NORM || s->kind == OL_LAYER_BATCH_NORM)
            push_norm_string(L, s);
        else if (s->act == OL_ACT_LEAKY_RELU)
            lua_pushfstring(L, "leaky_relu(%f)", s->slope);
        else
            lua_pushstring(L, ol_act_name(s->act));
        luaL_addvalue(&b);
    }
    lua_pushfstring(L, ") %s, %I parameters%s", ol_dtype_name(ol_model_dtype(m)),
                    (lua_Integer)ol_model_nparams(m), ol_model_training(m) ? "" : ", eval mode");
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    return 1;
}

/* net:buffers() -> {{name = "2.running_mean", tensor = view}, ...}: the
 * state that is not a parameter (batch_norm's running estimates, nn.h),
 * views into the model's buffer storage; checkpoints save them. */
static int m_buffers(lua_State *L) {
    ol_model *m = checkmodel(L);
    const int nb = ol_model_nbuffers(m);
    lua_createtable(L, nb, 0);
    for (int k = 0; k < nb; k++) {
        lua_createtable(L, 0, 2);
        char name[64];
        ol_model_buffer_name(m, k, name, sizeof name);
        lua_pushstring(L, name);
        lua_setfield(L, -2, "name");
        ol_tensor v;
        ol_model_buffer_view(m, k, &v);
        ol_l_pushtensor(L, &v, 0);
        lua_setfield(L, -2, "tensor");
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

/* net:train() / net:eval() -> net: training or evaluation mode (nn.h:
 * ol_model_set_training). */
static int m_train(lua_State *L) {
    ol_model_set_training(checkmodel(L), 1);
    lua_settop(L, 1);
    return 1;
}

static int m_eval(lua_State *L) {
    ol_model_set_training(checkmodel(L), 0);
    lua_settop(L, 1);
    return 1;
}

/* __index: the methods, then the read-only field `training` (true in
 * training mode, as torch's Module.training). */
static int m_index(lua_State *L) {
    ol_model *m = checkmodel(L);
    lua_settop(L, 2);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "training") == 0) {
        lua_pushboolean(L, ol_model_training(m));
        return 1;
    }
    return 0;
}

static int m_gc(lua_State *L) {
    l_model *u = luaL_checkudata(L, 1, OL_MODEL_MT);
    ol_l_check_idle(L, 1, "model");
    ol_model_free(u->m);
    u->m = NULL;
    return 0;
}

static const luaL_Reg model_methods[] = {
    {"forward", m_forward},   {"loss", m_loss},         {"backward", m_backward},
    {"evaluate", m_evaluate}, {"zero_grad", m_zero_grad}, {"params", m_params},
    {"grads", m_grads},       {"parameters", m_parameters}, {"predict", m_predict}, {"select", m_select},
    {"to", m_to},             {"dtype", m_dtype},       {"num_params", m_num_params},
    {"sizes", m_sizes},       {"layers", m_layers},     {"train", m_train},
    {"eval", m_eval},         {"buffers", m_buffers},   {NULL, NULL}};

static const luaL_Reg model_meta[] = {{"__tostring", m_tostring}, {"__gc", m_gc}, {NULL, NULL}};

static const luaL_Reg nn_funcs[] = {{"linear", l_linear}, {"sequential", l_sequential},
                                    {"mlp", l_mlp}, {"dropout", l_dropout},
                                    {"layer_norm", l_layer_norm}, {"batch_norm", l_batch_norm},
                                    {NULL, NULL}};

static int layer_tostring(lua_State *L) {
    lua_getfield(L, 1, "kind");
    const char *kind = lua_tostring(L, -1);
    if (kind && strcmp(kind, "linear") == 0) {
        lua_getfield(L, 1, "in");
        lua_getfield(L, 1, "out");
        lua_pushfstring(L, "linear(%I, %I)", lua_tointeger(L, -2), lua_tointeger(L, -1));
    } else if (kind && strcmp(kind, "dropout") == 0) {
        lua_getfield(L, 1, "p");
        push_dropout(L, lua_tonumber(L, -1));
    } else if (kind && (strcmp(kind, "layer_norm") == 0 || strcmp(kind, "batch_norm") == 0)) {
        const ol_layer_spec s = norm_spec(L, 1, strcmp(kind, "layer_norm") == 0 ? OL_LAYER_LAYER_NORM
                                                                                 : OL_LAYER_BATCH_NORM);
        push_norm_string(L, &s);
    } else {
        lua_pushfstring(L, "%s()", kind ? kind : "?");
    }
    return 1;
}

void ol_open_nn(lua_State *L) {
    ol_l_new_class(L, OL_MODEL_MT, model_meta, model_methods, m_index);
    luaL_newmetatable(L, LAYER_MT);
    lua_pushcfunction(L, layer_tostring);
    lua_setfield(L, -2, "__tostring");
    ol_l_protect(L, -1);
    lua_pop(L, 1);

    luaL_newlib(L, nn_funcs);
    /* ol.nn.relu() and the others, and ol.nn.activations: the engine's names */
    lua_createtable(L, OL_ACT_COUNT, 0);
    for (int a = 0; a < OL_ACT_COUNT; a++) {
        const char *name = ol_act_name((ol_act)a);
        lua_pushstring(L, name);
        lua_rawseti(L, -2, a + 1);
        lua_pushstring(L, name);
        lua_pushcclosure(L, l_activation, 1);
        lua_setfield(L, -3, name);
    }
    lua_setfield(L, -2, "activations");
    lua_setfield(L, -2, "nn");
    ol_open_init(L);
}
