/* ol.train{...}: the epoch loop runs in C (engine/train); Lua is called
 * only where the user asked for it: the optimizer's schedules before each
 * step (one call per scheduled field), on_step every `every` steps,
 * on_epoch after each epoch.
 *
 *   local final = ol.train{model = net, optimizer = opt, data = loader,
 *       loss = "cross_entropy", epochs = 10, validate = test_ds, every = 100,
 *       on_step = function(s) end, on_epoch = function(s) end,
 *       progress = true, log = "run.jsonl", max_steps = nil,
 *       on_nonfinite = "error" | "stop" | "skip",
 *       clip_grad_norm = nil, clip_grad_value = nil, accumulate = 1,
 *       before_step = function(s, grads) end,
 *       log_fields = function(s) return {name = number, ...} end,
 *       early_stop = {metric = "val_loss", mode = "min", patience = 5,
 *                     min_delta = 0, restore_best = true},
 *       checkpoint = {path = "run.safetensors", every = 1,
 *                     state = function() return t end, restore = function(t) end},
 *       resume = "run.safetensors",
 *       distributed = false, average = nil}
 *
 * before_step(s, grads): grads is the model's flat gradient (net:grads()),
 * complete, before the checks, clipping and the step; the hook may change
 * it in place; returning false stops the run without taking the step.
 *
 * log_fields(s): called after on_epoch when the run writes a log (rank
 * 0's), its numbers added to that epoch's log line (run.h:
 * ol_run_log_field); the table is checked whole before any goes in.
 *
 * checkpoint.state() returns a table (numbers, strings, booleans, nested
 * tables) saved with every checkpoint as meta "state"; resume calls
 * checkpoint.restore(that table) after restoring the model, optimizer,
 * average and RNG, so that what a script keeps in Lua (a plateau's
 * counters, a cut of the lr) resumes too. resume reads a file that this
 * option wrote (engine/train/run.h: the place, mid-epoch too, and early
 * stopping's record); everything is checked before anything changes.
 *
 * average = ol.average.ema(net) or .swa(net): updated in C after every
 * step; validation runs on it (swapped into the model and back), and the
 * progress line and log say so; the model ends with its trained weights
 * (avg:swap() or avg:copy_to(net) puts the average in); a checkpoint
 * holds it too.
 *
 * distributed = true (under mpiexec): data-parallel over ol.dist's world
 * (loaded then, as ol.dist loads it: l_dist.c), as engine/train/train.h
 * describes; the loader's batch_size is per rank.
 * Hooks run on every rank and see the same global figures; progress, the
 * log and checkpoints are rank 0's alone.
 *
 * Progress, the log, checkpoints and Ctrl-C are the engine's run-level
 * rules (engine/train/run.h); this file reads the options, hands the rules
 * their streams and files, and calls them from the loop's callbacks beside
 * the Lua hooks. Ctrl-C stops the run cleanly (saving first when a
 * checkpoint path is given) and the returned state has interrupted = true;
 * the caller's SIGINT action (the REPL's, lua.c's) is put back when
 * ol.train returns. */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/comm.h"
#include "dist/dist.h" /* OL_DIST_ENTRY: the name of the object's entry point */
#include "io/checkpoint.h"
#include "l_common.h"
#include "optim/average.h"
#include "train/run.h"
#include "train/train.h"

typedef struct run {
    lua_State *L;
    int on_step, on_epoch; /* stack indices of the hooks, 0 if none */
    int before_grads, grads; /* before_step and the gradient tensor it gets, 0 if none */
    int ck_state;         /* checkpoint.state, 0 if none */
    int log_fields;       /* log_fields, 0 if none */
    int opt_idx;          /* stack index of the optimizer userdata */
    int error_ref;        /* registry ref of a hook's error, LUA_NOREF */
    ol_run rules;         /* progress, log, checkpoints, Ctrl-C */
} run;

static void set_num(lua_State *L, const char *k, double v) {
    if (isnan(v)) return; /* absent figures stay nil */
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, int64_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static void push_state(run *r, const ol_train_state *s) {
    lua_State *L = r->L;
    double lr, momentum;
    ol_run_optimizer_figures(r->rules.opt, &lr, &momentum);
    lua_createtable(L, 0, 18);
    set_int(L, "epoch", s->epoch);
    set_int(L, "epochs", s->epochs);
    set_int(L, "batch", s->batch);
    set_int(L, "batches", s->batches);
    set_int(L, "step", s->step);
    set_int(L, "samples", s->samples);
    set_num(L, "loss", s->loss);
    set_num(L, "accuracy", s->accuracy);
    set_num(L, "epoch_loss", s->epoch_loss);
    set_num(L, "epoch_accuracy", s->epoch_accuracy);
    set_num(L, "grad_norm", s->grad_norm);
    set_num(L, "samples_per_s", s->samples_per_s);
    set_num(L, "elapsed", s->elapsed);
    set_num(L, "val_loss", s->val_loss);
    set_num(L, "val_accuracy", s->val_accuracy);
    set_num(L, "comm_time", s->comm_time); /* distributed runs only */
    set_num(L, "lr", lr);
    set_num(L, "momentum", momentum);
}

/* Calls the hook at stack index fn with the state table (and the value at
 * stack index arg, when arg > 0). A hook returning false stops training
 * (1); an error is kept for rethrowing (-1). */
static int call_hook(run *r, int fn, const ol_train_state *s, int arg) {
    lua_State *L = r->L;
    lua_pushvalue(L, fn);
    push_state(r, s);
    if (arg > 0) lua_pushvalue(L, arg);
    if (lua_pcall(L, arg > 0 ? 2 : 1, 1, 0) != LUA_OK) {
        r->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return -1;
    }
    int stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    return stop;
}

static int protected_schedules(lua_State *L) {
    ol_l_optim_schedules(L, 1, (int64_t)lua_tointeger(L, 2));
    return 0;
}

static int cb_before_step(void *ctx, const ol_train_state *s, int64_t t) {
    run *r = ctx;
    lua_State *L = r->L;
    int v = ol_run_before_step(&r->rules, s);
    if (v) return v;
    lua_pushcfunction(L, protected_schedules);
    lua_pushvalue(L, r->opt_idx);
    lua_pushinteger(L, (lua_Integer)t);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        r->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return -1;
    }
    return 0;
}

/* before_step(s, grads): the tensor at r->grads views the gradient g. */
static int cb_grads(void *ctx, const ol_train_state *s, ol_tensor *g) {
    (void)g;
    run *r = ctx;
    return call_hook(r, r->before_grads, s, r->grads);
}

/* checkpoint.state()'s table into the checkpoint as meta "state". */
static int cb_extra(void *ctx, struct ol_checkpoint *ck, ol_error *err) {
    run *r = ctx;
    lua_State *L = r->L;
    lua_pushvalue(L, r->ck_state);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        r->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return ol_fail(err, "checkpoint.state failed");
    }
    if (!lua_istable(L, -1)) {
        lua_pushfstring(L, "train: checkpoint.state must return a table, got %s", luaL_typename(L, -1));
        r->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_pop(L, 1);
        return ol_fail(err, "checkpoint.state returned no table");
    }
    const int top = lua_gettop(L);
    const char *why = "cannot encode";
    json_t *j = ol_l_to_json(L, top, &why);
    if (!j) {
        lua_pushfstring(L, "train: checkpoint.state: %s", why);
        r->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_settop(L, top - 1);
        return ol_fail(err, "checkpoint.state: %s", why);
    }
    lua_settop(L, top - 1);
    json_t *keys = json_array();
    json_array_append_new(keys, json_string("state"));
    if (ol_ck_set_meta_json(ck, "state", j, err)) {
        json_decref(keys);
        return -1;
    }
    return ol_ck_set_meta_json(ck, "optlua.meta_json", keys, err);
}

static int cb_batch(void *ctx, const ol_train_state *s) {
    run *r = ctx;
    return ol_run_on_batch(&r->rules, s);
}

static int cb_step(void *ctx, const ol_train_state *s) {
    run *r = ctx;
    if (ol_run_on_step(&r->rules, s)) return -1;
    return r->on_step ? call_hook(r, r->on_step, s, 0) : 0;
}

/* The error of log_fields (what: a message at the stack top). */
static int log_fields_failed(run *r, int top) {
    lua_State *L = r->L;
    lua_pushfstring(L, "train: log_fields: %s", lua_tostring(L, -1));
    r->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, top);
    return -1;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* log_fields(s) -> {name = number, ...}: the table is checked whole
 * (string keys, finite numbers, none of the log's own names), then its
 * numbers join the epoch's log line in the order of their names (a Lua
 * table's order varies from run to run). */
static int add_log_fields(run *r, const ol_train_state *s) {
    lua_State *L = r->L;
    const int top = lua_gettop(L);
    lua_pushvalue(L, r->log_fields);
    push_state(r, s);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        r->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_settop(L, top);
        return -1;
    }
    if (!lua_istable(L, top + 1)) {
        lua_pushfstring(L, "must return a table {name = number, ...}, got %s", luaL_typename(L, top + 1));
        return log_fields_failed(r, top);
    }
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, top + 1)) {
        ol_error err;
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pushfstring(L, "a key is a %s, not a name", luaL_typename(L, -2));
            return log_fields_failed(r, top);
        }
        const char *name = lua_tostring(L, -2);
        if (lua_type(L, -1) != LUA_TNUMBER) {
            lua_pushfstring(L, "field '%s' is a %s, not a number", name, luaL_typename(L, -1));
            return log_fields_failed(r, top);
        }
        if (ol_run_log_field_check(name, lua_tonumber(L, -1), &err)) {
            lua_pushstring(L, err.msg);
            return log_fields_failed(r, top);
        }
        n++;
        lua_pop(L, 1);
    }
    /* The names stay valid while the table (at top + 1) holds them. */
    const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0);
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, top + 1)) {
        names[k++] = lua_tostring(L, -2);
        lua_pop(L, 1);
    }
    qsort(names, n, sizeof *names, cmp_names);
    for (k = 0; k < n; k++) {
        lua_getfield(L, top + 1, names[k]);
        ol_run_log_field(&r->rules, names[k], lua_tonumber(L, -1));
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    return 0;
}

static int cb_epoch(void *ctx, const ol_train_state *s) {
    run *r = ctx;
    if (ol_run_epoch_report(&r->rules, s)) return -1;
    int v = r->on_epoch ? call_hook(r, r->on_epoch, s, 0) : 0;
    if (v >= 0 && r->log_fields && r->rules.log && add_log_fields(r, s)) v = -1;
    /* The epoch's log line, with log_fields' numbers, also when a hook failed. */
    if (ol_run_log_epoch(&r->rules)) return -1;
    /* After the hook, so that what it changes (opt.lr = ...) is saved too;
     * early stopping may end the run there. */
    if (v >= 0) {
        const int e = ol_run_epoch_end(&r->rules, s);
        if (e) return e < 0 ? -1 : 1;
    }
    return v;
}

/* ol.dist's world (see l_dist.c), loaded and started. */
static const ol_comm *dist_world(lua_State *L) {
    ol_comm_entry entry;
    const ol_comm *w;
    ol_error err;
    if (ol_comm_load(OL_DIST_OBJECT, OL_DIST_ENTRY, &entry, &err)) luaL_error(L, "train: ol.dist: %s", err.msg);
    if (entry(&w, &err)) luaL_error(L, "train: %s", err.msg);
    return w;
}

/* early_stop = {metric, mode, patience, min_delta, restore_best}, at idx. */
static void read_early_stop(lua_State *L, int idx, ol_run_early_stop *es) {
    static const char *const modes[] = {"min", "max", NULL};
    ol_opts o;
    ol_opts_begin(L, &o, idx, "train.early_stop", 0);
    o.arg = 1;
    es->on = 1;
    es->metric = (ol_run_metric)ol_opt_enum(&o, "metric", OL_METRIC_VAL_LOSS, ol_run_metric_names);
    /* The accuracies are better larger; the losses smaller. */
    const int acc = es->metric == OL_METRIC_VAL_ACCURACY || es->metric == OL_METRIC_EPOCH_ACCURACY;
    es->maximize = ol_opt_enum(&o, "mode", acc, modes);
    es->patience = ol_opt_integer(&o, "patience", 5, 0, LUA_MAXINTEGER);
    es->min_delta = ol_opt_number(&o, "min_delta", 0, OL_R_GE(0));
    es->restore_best = ol_opt_bool(&o, "restore_best", 1);
    ol_opts_end(&o);
    es->best = es->maximize ? -HUGE_VAL : HUGE_VAL;
}

/* checkpoint = {path, every, state, restore}, at idx; the path stays
 * valid while the options table holds it. */
static void read_checkpoint(lua_State *L, int idx, run *r) {
    ol_opts o;
    ol_opts_begin(L, &o, idx, "train.checkpoint", 0);
    o.arg = 1;
    ol_opt_require(&o, "path");
    r->rules.ck_path = ol_opt_string(&o, "path", NULL);
    r->rules.every_epochs = ol_opt_integer(&o, "every", 1, 1, LUA_MAXINTEGER);
    ol_opt_function(&o, "state");
    ol_opt_function(&o, "restore");
    lua_pop(L, 2);
    ol_opts_end(&o);
}

/* Reads ol.train's options table at 1 into cfg and r, leaving model,
 * optimizer, data, validate, on_step and on_epoch at 2..7. */
static void read_options(lua_State *L, ol_train_config *cfg, run *r, int *distributed, int *progress,
                         const char **log_path) {
    static const char *const nonfinite_names[] = {"error", "stop", "skip", NULL};
    static const ol_nonfinite nonfinite[] = {OL_NONFINITE_ERROR, OL_NONFINITE_STOP, OL_NONFINITE_SKIP};
    const char *losses[OL_LOSS_COUNT + 1]; /* the engine's loss names, by kind */
    for (int i = 0; i < OL_LOSS_COUNT; i++) losses[i] = ol_loss_name((ol_loss_kind)i);
    losses[OL_LOSS_COUNT] = NULL;
    ol_opts o;
    ol_opts_begin(L, &o, 1, "train", OL_OPTS_REQUIRED);
    lua_settop(L, 1);

    /* model, optimizer, data, validate, on_step, on_epoch at 2..7 */
    ol_opt_require(&o, "model");
    ol_opt_push(&o, "model");
    cfg->model = ol_l_tomodel(L, 2);
    if (!cfg->model) ol_opt_expected(&o, "model", "a model", 2);
    ol_opt_require(&o, "optimizer");
    ol_opt_push(&o, "optimizer");
    cfg->opt = ol_l_tooptim(L, 3);
    if (!cfg->opt) ol_opt_expected(&o, "optimizer", "an optimizer", 3);
    ol_opt_require(&o, "data");
    ol_opt_push(&o, "data");
    cfg->loader = ol_l_toloader(L, 4);
    if (!cfg->loader) ol_opt_expected(&o, "data", "a loader (make one with ol.data.loader(ds, {...}))", 4);
    if (ol_opt_push(&o, "validate") && !(cfg->validate = ol_l_todataset(L, 5)))
        ol_opt_expected(&o, "validate", "a dataset", 5);
    ol_opt_function(&o, "on_step");
    ol_opt_function(&o, "on_epoch");

    cfg->loss = *OL_LOSS_PLAIN((ol_loss_kind)ol_opt_enum(&o, "loss", OL_LOSS_CROSS_ENTROPY, losses));
    ol_opt_table(&o, "loss_options"); /* read by l_train, with the model's width */
    lua_pop(L, 1);
    cfg->on_nonfinite = nonfinite[ol_opt_enum(&o, "on_nonfinite", 0, nonfinite_names)];
    cfg->epochs = ol_opt_integer(&o, "epochs", 1, 1, LUA_MAXINTEGER);
    cfg->every = ol_opt_integer(&o, "every", 100, 1, LUA_MAXINTEGER);
    cfg->max_steps = ol_opt_integer(&o, "max_steps", 0, 0, LUA_MAXINTEGER);
    cfg->grad_norm = ol_opt_bool(&o, "grad_norm", 0);
    cfg->accumulate = ol_opt_integer(&o, "accumulate", 1, 1, LUA_MAXINTEGER);
    ol_opt_function(&o, "before_step");
    lua_pop(L, 1);
    ol_opt_function(&o, "log_fields");
    lua_pop(L, 1);
    if (ol_opt_table(&o, "early_stop")) read_early_stop(L, lua_gettop(L), &r->rules.early_stop);
    lua_pop(L, 1);
    if (ol_opt_push(&o, "resume") && lua_type(L, -1) != LUA_TSTRING) ol_opt_expected(&o, "resume", "a file name", -1);
    lua_pop(L, 1);
    /* gradient clipping in C, before each step (train.h): one or none */
    cfg->clip_grad_norm = ol_opt_number(&o, "clip_grad_norm", 0, OL_R_GT(0));
    cfg->clip_grad_value = ol_opt_number(&o, "clip_grad_value", 0, OL_R_GT(0));
    if (cfg->clip_grad_norm > 0 && cfg->clip_grad_value > 0)
        luaL_error(L, "train: give clip_grad_norm or clip_grad_value, not both");
    /* distributed = true: data-parallel over ol.dist's world
     * (engine/train/train.h); only rank 0 prints, logs and writes
     * checkpoints. */
    *distributed = ol_opt_bool(&o, "distributed", 0);
    /* Distributed: seconds to wait for every rank to reach ol.train. */
    cfg->join_timeout = ol_opt_number(&o, "join_timeout", 60, OL_R_GT(0));
    r->on_step = lua_isnil(L, 6) ? 0 : 6;
    r->on_epoch = lua_isnil(L, 7) ? 0 : 7;
    r->rules.model = cfg->model;
    r->rules.opt = cfg->opt;
    if (ol_opt_push(&o, "checkpoint")) {
        if (!lua_istable(L, -1)) ol_opt_expected(&o, "checkpoint", "a table {path = FILE, every = EPOCHS}", -1);
        read_checkpoint(L, lua_gettop(L), r);
    }
    lua_pop(L, 1);
    if (ol_opt_push(&o, "average") && !(cfg->average = ol_l_toaverage(L, -1)))
        ol_opt_expected(&o, "average", "an average (ol.average.ema or ol.average.swa)", -1);
    lua_pop(L, 1);
    r->rules.average = cfg->average;
    *progress = ol_opt_bool(&o, "progress", 1);
    if (ol_opt_push(&o, "log") && lua_type(L, -1) != LUA_TSTRING) ol_opt_expected(&o, "log", "a file name", -1);
    *log_path = lua_tostring(L, -1); /* anchored in the options table */
    lua_pop(L, 1);
    ol_opts_end(&o);
}

/* The optimizer at 3 must update the model's own parameters: one built
 * over another model of the same size would keep state for weights the
 * loop does not train. Compared by address, opt.params against the
 * model's flat buffer. */
static void check_same_params(lua_State *L, const ol_model *m) {
    ol_tensor mp;
    ol_model_params(m, &mp);
    const void *want = ol_tensor_data(&mp);
    int64_t n = ol_tensor_numel(&mp);
    ol_tensor_release(&mp);
    lua_getfield(L, 3, "params");
    const ol_tensor *p = ol_l_totensor(L, -1);
    int same = p && ol_tensor_data(p) == want && ol_tensor_numel(p) == n;
    lua_pop(L, 1);
    if (!same)
        ol_arg_error(L, 1, "train", "option 'optimizer' updates other parameters than the model's (it was "
                     "built over another model or tensor): build it over the model, ol.optim.NAME(model, ...)");
}

/* The average, when given, must be of the model's own parameters too. */
static void check_same_average(lua_State *L, const ol_model *m, const ol_average *a) {
    if (!a) return;
    ol_tensor mp;
    ol_model_params(m, &mp);
    int same = ol_average_of(a, &mp);
    ol_tensor_release(&mp);
    if (!same)
        ol_arg_error(L, 1, "train", "option 'average' averages other weights than the model's (it was "
                     "built over another model or tensor): build it over the model, ol.average.ema(model, ...)");
}

/* The error of a Lua call that failed (its message at the top), as
 * ol.train's option `name`'s: "bad argument #1 to 'train' (option
 * 'resume': restore: ...)". */
static int option_failed(lua_State *L, ol_run *rules, const char *name) {
    const char *msg = lua_tostring(L, -1);
    ol_run_free(rules);
    if (!msg) return ol_arg_error(L, 1, "train", "option '%s': (error object is not a string)", name);
    /* "bad argument #2 to 'restore' (what)" reads "restore: what" here. */
    const char *to = strstr(msg, " to '"), *open = to ? strchr(to + 5, '\'') : NULL;
    const size_t len = strlen(msg);
    if (strncmp(msg, "bad argument #", 14) == 0 && open && open[1] == ' ' && open[2] == '(' && msg[len - 1] == ')')
        return ol_arg_error(L, 1, "train", "option '%s': %.*s: %.*s", name, (int)(open - to - 5), to + 5,
                            (int)(msg + len - 1 - (open + 3)), open + 3);
    return ol_arg_error(L, 1, "train", "option '%s': %s", name, msg);
}

/* resume = path: the file's place and early stopping's record checked and
 * read (ol_run_resume), then the model, optimizer, average and RNG
 * restored (ck:restore, which checks everything before it changes
 * anything), then checkpoint.restore(meta.state). */
static void resume(lua_State *L, ol_train_config *cfg, run *r, const char *path, int ck_restore,
                   ol_train_resume *res) {
    const int top = lua_gettop(L);
    /* ol.load, from the library table (package.loaded.optlua) */
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "optlua") != LUA_TTABLE || lua_getfield(L, -1, "load") != LUA_TFUNCTION)
        luaL_error(L, "train: resume needs ol.load (package.loaded.optlua.load)");
    lua_pushstring(L, path);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) option_failed(L, &r->rules, "resume");
    const int ck = lua_gettop(L);
    ol_error err;
    if (ol_run_resume(&r->rules, ol_l_tocheckpoint(L, ck), ol_loader_num_batches(cfg->loader), cfg->epochs,
                      res, &err)) {
        lua_pushstring(L, err.msg);
        option_failed(L, &r->rules, "resume");
    }
    lua_getfield(L, ck, "meta");
    lua_getfield(L, -1, "state");
    const int state = lua_gettop(L);
    if (!lua_isnil(L, state) && !ck_restore) {
        lua_pushfstring(L, "'%s' holds a script state (meta.state, from checkpoint.state): give "
                        "checkpoint.restore to take it back", path);
        option_failed(L, &r->rules, "resume");
    }
    lua_getfield(L, ck, "restore");
    lua_pushvalue(L, ck);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_getfield(L, 1, "average");
    if (lua_pcall(L, 4, 0, 0) != LUA_OK) option_failed(L, &r->rules, "resume");
    if (!lua_isnil(L, state)) {
        lua_pushvalue(L, ck_restore);
        lua_pushvalue(L, state);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) option_failed(L, &r->rules, "resume (checkpoint.restore)");
    }
    lua_settop(L, top);
}

static int l_train(lua_State *L) {
    ol_error err;
    ol_train_config cfg;
    memset(&cfg, 0, sizeof cfg);
    run r = {.L = L, .opt_idx = 3, .error_ref = LUA_NOREF};
    ol_run_init(&r.rules);
    int distributed, progress;
    const char *log_path;
    read_options(L, &cfg, &r, &distributed, &progress, &log_path);
    check_same_params(L, cfg.model);
    check_same_average(L, cfg.model, cfg.average);
    /* The loss's options at 8, its weights (or nil) at 9, for the run. */
    lua_settop(L, 7);
    lua_getfield(L, 1, "loss_options");
    cfg.loss = ol_l_loss_options(L, 8, 1, "train", cfg.loss.kind, ol_model_out_features(cfg.model));
    /* The loop evaluates at nag's lookahead point: the closure form. */
    ol_l_optim_check_form(L, 3, cfg.opt, OL_FORM_CLOSURE, "ol.train");
    const ol_run_early_stop *es = &r.rules.early_stop;
    if (es->on && !cfg.validate && (es->metric == OL_METRIC_VAL_LOSS || es->metric == OL_METRIC_VAL_ACCURACY))
        ol_arg_error(L, 1, "train", "option 'early_stop': metric '%s' is computed on validation data: give "
                     "validate = DATASET, or watch 'epoch_loss'", ol_run_metric_names[es->metric]);

    lua_settop(L, 9);
    lua_getfield(L, 1, "checkpoint"); /* 10: stays on the stack for the run */
    /* The model, optimizer, loader, the loader's dataset, the validation
     * set and the average cannot be freed while the loop runs (l_common.h). */
    lua_getfield(L, 4, "dataset"); /* 11 */
    lua_getfield(L, 1, "average"); /* 12 */
    static const int held[] = {2, 3, 4, 5, 11, 12};
    ol_l_hold(L, held, 6); /* 13 */
    lua_getfield(L, 1, "before_step"); /* 14 */
    r.before_grads = lua_isnil(L, 14) ? 0 : 14;
    lua_pushnil(L); /* 15: the gradient it gets */
    if (r.before_grads) {
        lua_getfield(L, 2, "grads");
        lua_pushvalue(L, 2);
        lua_call(L, 1, 1);
        lua_replace(L, 15);
    }
    lua_pushnil(L); /* 16, 17: checkpoint.state, checkpoint.restore */
    lua_pushnil(L);
    if (lua_istable(L, 10)) {
        lua_getfield(L, 10, "state");
        lua_replace(L, 16);
        lua_getfield(L, 10, "restore");
        lua_replace(L, 17);
    }
    r.grads = 15;
    r.ck_state = lua_isnil(L, 16) ? 0 : 16;
    lua_getfield(L, 1, "log_fields"); /* 18 */
    r.log_fields = lua_isnil(L, 18) ? 0 : 18;

    if (distributed) cfg.world = dist_world(L);
    ol_train_resume res;
    lua_getfield(L, 1, "resume");
    const char *resume_path = lua_tostring(L, -1); /* anchored in the options table */
    lua_pop(L, 1);
    if (resume_path) {
        resume(L, &cfg, &r, resume_path, lua_isnil(L, 17) ? 0 : 17, &res);
        cfg.resume = &res;
    }

    int root = ol_comm_rank(cfg.world) == 0;
    if (!root) r.rules.ck_path = NULL; /* rank 0 alone writes checkpoints */
    r.rules.out = stdout;
    r.rules.bar = stderr;
    r.rules.progress = !progress || !root ? 0 : isatty(fileno(stderr)) && isatty(fileno(stdout)) ? 2 : 1;
    /* Opened after every check, so that no error leaks it. */
    if (log_path && root) {
        r.rules.log = fopen(log_path, "w");
        if (!r.rules.log) {
            ol_run_free(&r.rules);
            return ol_arg_error(L, 1, "train", "option 'log': cannot open '%s' for writing", log_path);
        }
        r.rules.log_path = log_path;
    }
    if (resume_path) ol_run_report_resume(&r.rules, resume_path, &res);
    if (r.ck_state) {
        r.rules.extra = cb_extra;
        r.rules.extra_ctx = &r;
    }

    cfg.ctx = &r;
    cfg.before_step = cb_before_step;
    cfg.on_grads = r.before_grads ? cb_grads : NULL;
    cfg.on_batch = cb_batch;
    cfg.on_step = cb_step;
    cfg.on_epoch = cb_epoch;
    ol_train_state s;
    struct sigaction old[OL_RUN_NSIGNALS];
    ol_run_catch_sigint(old, distributed);
    int rc = ol_train_run(&cfg, &s, &err);
    /* Distributed, a Ctrl-C on one rank stops every rank at the same step:
     * each ends as the interrupted one does (rank 0 saves). */
    if (s.stop_asked) r.rules.interrupted = 1;
    ol_l_optim_record_form(L, 3, cfg.opt, OL_FORM_CLOSURE);
    if (rc == 0 && ol_run_finish(&r.rules, &s)) rc = -1;
    /* Distributed: no rank returns before rank 0's last checkpoint is on
     * disk, so a script may ol.load it on every rank right away. */
    if (rc == 0 && ol_comm_barrier(cfg.world, &err)) rc = -1;
    ol_run_release_sigint(old);
    /* The close is checked too: the last lines reach the disk there. */
    if (ol_run_close_log(&r.rules)) rc = -1;
    const ol_run_early_stop done = r.rules.early_stop;
    ol_run_free(&r.rules);
    if (rc) {
        ol_run_abort(&r.rules);
        if (r.error_ref != LUA_NOREF) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, r.error_ref);
            luaL_unref(L, LUA_REGISTRYINDEX, r.error_ref);
            return lua_error(L);
        }
        if (r.rules.save_failed) return luaL_error(L, "save: %s", r.rules.save_err.msg);
        if (r.rules.log_failed) return luaL_error(L, "train: %s", r.rules.log_err.msg);
        if (r.rules.failed) return luaL_error(L, "train: early_stop: %s", r.rules.err.msg);
        return luaL_error(L, "train: %s", err.msg);
    }
    push_state(&r, &s);
    if (r.rules.interrupted) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "interrupted");
    }
    if (s.nonfinite_stop) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "nonfinite");
    }
    lua_pushinteger(L, (lua_Integer)s.skipped);
    lua_setfield(L, -2, "skipped");
    if (done.on) {
        lua_pushboolean(L, done.stopped);
        lua_setfield(L, -2, "early_stopped");
        if (done.best_epoch > 0) {
            set_int(L, "best_epoch", done.best_epoch);
            set_num(L, "best", done.best);
        }
        if (done.restored) set_int(L, "restored_epoch", done.best_epoch);
    }
    return 1;
}

/* ol.evaluate(net, ds [, loss [, loss_options]]) -> mean loss, accuracy
 * over a dataset, in chunks of 1024 rows, in C. */
static int l_evaluate(lua_State *L) {
    ol_model *m = ol_l_tomodel(L, 1);
    if (!m) return ol_arg_expected(L, 1, "evaluate", "model");
    const ol_dataset *ds = ol_l_todataset(L, 2);
    if (!ds) return ol_arg_expected(L, 2, "evaluate", "dataset");
    if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TSTRING)
        return ol_arg_expected(L, 3, "evaluate", "loss name");
    const ol_loss_kind kind = ol_l_check_loss(L, 3, "evaluate");
    lua_settop(L, 4);
    const ol_loss_spec spec = ol_l_loss_options(L, 4, 4, "evaluate", kind, ol_model_out_features(m));
    double loss, acc;
    ol_error err;
    if (ol_train_evaluate(m, ds, &spec, 1024, &loss, &acc, &err))
        return ol_arg_error(L, 2, "evaluate", "%s", err.msg);
    lua_pushnumber(L, loss);
    lua_pushnumber(L, acc);
    return 2;
}

void ol_open_train(lua_State *L) {
    lua_pushcfunction(L, l_train);
    lua_setfield(L, -2, "train");
    lua_pushcfunction(L, l_evaluate);
    lua_setfield(L, -2, "evaluate");
}
