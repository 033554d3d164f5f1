/* ol.train{...}: the epoch loop runs in C (engine/train); Lua is called
 * only where the user asked for it: the optimizer's schedules before each
 * step (one call per scheduled field), on_step every `every` steps,
 * on_epoch after each epoch. Progress on a terminal is a bar redrawn at
 * most ten times a second; otherwise a plain line every few seconds. A
 * JSONL log gets one object per hook point (every `every` steps and each
 * epoch), written with jansson.
 *
 *   local final = ol.train{model = net, optimizer = opt, data = loader,
 *       loss = "cross_entropy", epochs = 10, validate = test_ds, every = 100,
 *       on_step = function(s) end, on_epoch = function(s) end,
 *       progress = true, log = "run.jsonl", max_steps = nil,
 *       on_nonfinite = "error" | "stop" | "skip",
 *       checkpoint = "run.safetensors", every_epochs = 1,
 *       distributed = false}
 *
 * distributed = true (under mpiexec): data-parallel over ol.dist, as
 * engine/train/train.h describes; the loader's batch_size is per rank.
 * Hooks run on every rank and see the same global figures; progress, the
 * log and checkpoints are rank 0's alone.
 *
 * Checkpoints (l_checkpoint.c): with `checkpoint`, the model, optimizer and
 * RNG are saved every `every_epochs` epochs and when the run ends (unless
 * that point was just saved). Ctrl-C (SIGINT) during the run sets a flag
 * that the loop reads before the next step: it saves (when a checkpoint
 * path is given), stops cleanly, and the returned state has interrupted =
 * true; a second Ctrl-C ends the program at once. The caller's SIGINT
 * action (the REPL's, lua.c's) is put back when ol.train returns. */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist.h"
#include "l_checkpoint.h"
#include "l_common.h"
#include "l_data.h"
#include "train/train.h"

static ol_loader *to_loader(lua_State *L, int idx) {
    ol_l_loader *u = luaL_testudata(L, idx, OL_LOADER_MT);
    return u ? &u->l : NULL;
}

static const ol_dataset *to_dataset(lua_State *L, int idx) {
    ol_l_dataset *u = luaL_testudata(L, idx, OL_DATASET_MT);
    return u ? u->ds : NULL;
}

typedef struct run {
    lua_State *L;
    int opt_idx;          /* stack index of the optimizer userdata */
    const ol_optim *opt;
    int on_step, on_epoch; /* stack indices of the hooks, 0 if none */
    int error_ref;        /* registry ref of a hook's error, LUA_NOREF */
    int progress;         /* 0 off, 1 plain lines, 2 terminal bar */
    double last_draw;     /* elapsed at the last progress output */
    FILE *log;
    const char *log_path;
    const char *ck_path;   /* checkpoint file, or NULL */
    int64_t every_epochs;
    int64_t saved_step;    /* opt->t at the last save, -1 before any */
    int64_t epoch, batch;  /* the last step's place, for the checkpoint's meta */
    int interrupted;       /* stopped by Ctrl-C */
} run;

/* Ctrl-C during ol.train: a signal handler may only set a flag; the loop
 * polls it before each step (a file-scope flag, as signal handlers take no
 * pointer). */
static volatile sig_atomic_t sigint_seen = 0;

static void on_sigint(int sig) {
    if (sigint_seen) { /* the second Ctrl-C: the default action, now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    sigint_seen = 1;
}

/* Saves the model, optimizer and RNG to r->ck_path through ol.save, with
 * meta {epoch, batch, step[, interrupted]}; an error is kept (-1). */
static int save_checkpoint(run *r, int interrupted) {
    lua_State *L = r->L;
    if (!r->ck_path) return 0;
    lua_pushcfunction(L, ol_l_save);
    lua_pushstring(L, r->ck_path);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "model");
    lua_pushvalue(L, r->opt_idx);
    lua_setfield(L, -2, "optimizer");
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)r->epoch);
    lua_setfield(L, -2, "epoch");
    lua_pushinteger(L, (lua_Integer)r->batch);
    lua_setfield(L, -2, "batch");
    lua_pushinteger(L, (lua_Integer)r->opt->t);
    lua_setfield(L, -2, "step");
    if (interrupted) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "interrupted");
    }
    lua_setfield(L, -2, "meta");
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        r->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return -1;
    }
    r->saved_step = r->opt->t;
    return 0;
}

/* The live value of option `name` (the first of a pair), NAN if the
 * optimizer has no such option. */
static double option_value(const ol_optim *opt, const char *name) {
    const ol_optim_option *op = ol_optim_find_option(opt->desc, name);
    return op ? opt->o[op->slot] : NAN;
}

/* The live lr and momentum (betas[1] for the Adam family). */
static void optimizer_figures(run *r, double *lr, double *momentum) {
    *lr = option_value(r->opt, "lr");
    *momentum = option_value(r->opt, "momentum");
    if (isnan(*momentum)) *momentum = option_value(r->opt, "betas");
}

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
    optimizer_figures(r, &lr, &momentum);
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

static void log_state(run *r, const char *event, const ol_train_state *s) {
    if (!r->log) return;
    double lr, momentum;
    optimizer_figures(r, &lr, &momentum);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(event));
    json_object_set_new(o, "epoch", json_integer(s->epoch));
    json_object_set_new(o, "step", json_integer(s->step));
    json_object_set_new(o, "batch", json_integer(s->batch));
    json_object_set_new(o, "samples", json_integer(s->samples));
    const struct { const char *k; double v; } nums[] = {
        {"loss", s->loss}, {"accuracy", s->accuracy}, {"epoch_loss", s->epoch_loss},
        {"epoch_accuracy", s->epoch_accuracy}, {"grad_norm", s->grad_norm},
        {"samples_per_s", s->samples_per_s}, {"elapsed", s->elapsed},
        {"val_loss", s->val_loss}, {"val_accuracy", s->val_accuracy},
        {"lr", lr}, {"momentum", momentum}};
    int is_step = strcmp(event, "step") == 0;
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        /* A step line carries the step's figures, not the last epoch's validation. */
        if (is_step && strncmp(nums[i].k, "val_", 4) == 0) continue;
        if (isfinite(nums[i].v)) json_object_set_new(o, nums[i].k, json_real(nums[i].v));
    }
    json_dumpf(o, r->log, JSON_COMPACT | JSON_REAL_PRECISION(10));
    fputc('\n', r->log);
    fflush(r->log);
    json_decref(o);
}

/* Calls the hook at stack index fn with the state table. A hook returning
 * false stops training (1); an error is kept for rethrowing (-1). */
static int call_hook(run *r, int fn, const ol_train_state *s) {
    lua_State *L = r->L;
    lua_pushvalue(L, fn);
    push_state(r, s);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        r->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return -1;
    }
    int stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    return stop;
}

static int protected_schedules(lua_State *L) {
    ol_l_optim_schedules(L, 1);
    return 0;
}

static int cb_before_step(void *ctx, int64_t t) {
    run *r = ctx;
    lua_State *L = r->L;
    (void)t; /* the optimizer knows its own step count */
    if (sigint_seen) {
        r->interrupted = 1;
        return save_checkpoint(r, 1) ? -1 : 1;
    }
    lua_pushcfunction(L, protected_schedules);
    lua_pushvalue(L, r->opt_idx);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        r->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return -1;
    }
    return 0;
}

static void fmt_count(char *buf, size_t size, double v) {
    if (v >= 1e6) snprintf(buf, size, "%.2fM", v / 1e6);
    else if (v >= 1e3) snprintf(buf, size, "%.1fk", v / 1e3);
    else snprintf(buf, size, "%.0f", v);
}

static int cb_batch(void *ctx, const ol_train_state *s) {
    run *r = ctx;
    r->epoch = s->epoch;
    r->batch = s->batch;
    if (!r->progress) return 0;
    int last = s->batch == s->batches;
    double period = r->progress == 2 ? 0.1 : 5.0;
    if (!last && s->elapsed - r->last_draw < period) return 0;
    if (last && r->progress == 1) return 0; /* the epoch line follows */
    r->last_draw = s->elapsed;
    char rate[32];
    fmt_count(rate, sizeof rate, s->samples_per_s);
    if (r->progress == 2) {
        const int width = 24;
        int filled = (int)((double)width * (double)s->batch / (double)(s->batches ? s->batches : 1));
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
        bar[width] = 0;
        /* ETA of the whole run from the rate so far. */
        double total = (double)s->batches * (double)s->epochs;
        double done = (double)(s->epoch - 1) * (double)s->batches + (double)s->batch;
        double eta = done > 0 ? s->elapsed * (total - done) / done : 0;
        fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  loss %.4f  %s samples/s  ETA %.0fs",
                (long long)s->epoch, (long long)s->epochs, bar, (long long)s->batch,
                (long long)s->batches, s->epoch_loss, rate, eta);
        fflush(stderr);
    } else {
        printf("epoch %lld/%lld  batch %lld/%lld  loss %.4f  %s samples/s  %.1fs\n",
               (long long)s->epoch, (long long)s->epochs, (long long)s->batch,
               (long long)s->batches, s->epoch_loss, rate, s->elapsed);
        fflush(stdout);
    }
    return 0;
}

static int cb_step(void *ctx, const ol_train_state *s) {
    run *r = ctx;
    log_state(r, "step", s);
    return r->on_step ? call_hook(r, r->on_step, s) : 0;
}

static int cb_epoch(void *ctx, const ol_train_state *s) {
    run *r = ctx;
    if (r->progress) {
        char rate[32];
        fmt_count(rate, sizeof rate, s->samples_per_s);
        if (r->progress == 2) fprintf(stderr, "\r\033[K");
        printf("epoch %lld/%lld  loss %.4f", (long long)s->epoch, (long long)s->epochs, s->epoch_loss);
        if (!isnan(s->epoch_accuracy)) printf("  acc %.2f%%", 100 * s->epoch_accuracy);
        if (!isnan(s->val_loss)) printf("  val_loss %.4f", s->val_loss);
        if (!isnan(s->val_accuracy)) printf("  val_acc %.2f%%", 100 * s->val_accuracy);
        printf("  %s samples/s  %.1fs\n", rate, s->elapsed);
        fflush(stdout);
    }
    log_state(r, "epoch", s);
    int v = r->on_epoch ? call_hook(r, r->on_epoch, s) : 0;
    /* After the hook, so that what it changes (opt.lr = ...) is saved too. */
    r->epoch = s->epoch;
    r->batch = s->batch;
    if (v >= 0 && !r->interrupted && s->epoch % r->every_epochs == 0 && save_checkpoint(r, 0)) return -1;
    return v;
}

static const char *const loss_names[] = {"cross_entropy", "mse", "bce", NULL};
static const char *const nonfinite_names[] = {"error", "stop", "skip", NULL};

/* Integer option `name` of the table at 1, >= lo, or def when absent. */
static int64_t opt_int(lua_State *L, const char *name, int64_t def, int64_t lo) {
    int64_t v = def;
    if (lua_getfield(L, 1, name) != LUA_TNIL) {
        int isnum;
        lua_Integer i = lua_tointegerx(L, -1, &isnum);
        if (!isnum || i < lo)
            luaL_error(L, "bad option '%s' to 'train' (integer >= %d expected, got %s)", name, (int)lo,
                       luaL_tolstring(L, -1, NULL));
        v = (int64_t)i;
    }
    lua_pop(L, 1);
    return v;
}

static int l_train(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    ol_error err;
    ol_train_config cfg;
    memset(&cfg, 0, sizeof cfg);

    lua_getfield(L, 1, "model"); /* 2 */
    cfg.model = ol_l_tomodel(L, 2);
    if (!cfg.model) return luaL_error(L, "bad option 'model' to 'train' (model expected, got %s)", luaL_typename(L, 2));
    lua_getfield(L, 1, "optimizer"); /* 3 */
    cfg.opt = ol_l_tooptim(L, 3);
    if (!cfg.opt) return luaL_error(L, "bad option 'optimizer' to 'train' (optimizer expected, got %s)", luaL_typename(L, 3));
    lua_getfield(L, 1, "data"); /* 4: a loader, or a dataset batched with defaults */
    cfg.loader = to_loader(L, 4);
    if (!cfg.loader) return luaL_error(L, "bad option 'data' to 'train' (loader expected, got %s; make one with ol.data.loader(ds, {...}))", luaL_typename(L, 4));
    lua_getfield(L, 1, "validate"); /* 5 */
    if (!lua_isnil(L, 5)) {
        cfg.validate = to_dataset(L, 5);
        if (!cfg.validate) return luaL_error(L, "bad option 'validate' to 'train' (dataset expected, got %s)", luaL_typename(L, 5));
    }
    lua_getfield(L, 1, "on_step");  /* 6 */
    lua_getfield(L, 1, "on_epoch"); /* 7 */
    for (int i = 6; i <= 7; i++)
        if (!lua_isnil(L, i) && !lua_isfunction(L, i))
            return luaL_error(L, "bad option '%s' to 'train' (function expected, got %s)",
                              i == 6 ? "on_step" : "on_epoch", luaL_typename(L, i));

    lua_getfield(L, 1, "loss");
    int k = luaL_checkoption(L, -1, "cross_entropy", loss_names);
    cfg.loss = k == 0 ? OL_LOSS_CROSS_ENTROPY : k == 1 ? OL_LOSS_MSE : OL_LOSS_BCE;
    lua_pop(L, 1);
    lua_getfield(L, 1, "on_nonfinite");
    k = luaL_checkoption(L, -1, "error", nonfinite_names);
    cfg.on_nonfinite = k == 0 ? OL_NONFINITE_ERROR : k == 1 ? OL_NONFINITE_STOP : OL_NONFINITE_SKIP;
    lua_pop(L, 1);
    cfg.epochs = opt_int(L, "epochs", 1, 1);
    cfg.every = opt_int(L, "every", 100, 1);
    cfg.max_steps = opt_int(L, "max_steps", 0, 0);
    lua_getfield(L, 1, "grad_norm");
    cfg.grad_norm = lua_toboolean(L, -1);
    lua_pop(L, 1);
    /* distributed = true: data-parallel over ol.dist (engine/train/train.h);
     * only rank 0 prints, logs and writes checkpoints. */
    lua_getfield(L, 1, "distributed");
    cfg.distributed = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (cfg.distributed && ol_dist_init(&err)) return luaL_error(L, "train: %s", err.msg);
    int root = !cfg.distributed || ol_dist_rank() == 0;

    run r = {.L = L, .opt_idx = 3, .opt = cfg.opt, .on_step = lua_isnil(L, 6) ? 0 : 6,
             .on_epoch = lua_isnil(L, 7) ? 0 : 7, .error_ref = LUA_NOREF};
    /* Checked before the log file is opened, so that no error leaks it. */
    lua_getfield(L, 1, "checkpoint");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "bad option 'checkpoint' to 'train' (file name expected, got %s)", luaL_typename(L, -1));
    lua_pop(L, 1);
    r.every_epochs = opt_int(L, "every_epochs", 1, 1);
    r.saved_step = -1;
    lua_getfield(L, 1, "progress");
    int progress = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
    r.progress = !progress || !root ? 0 : isatty(fileno(stderr)) && isatty(fileno(stdout)) ? 2 : 1;
    lua_getfield(L, 1, "log");
    if (!lua_isnil(L, -1) && root) {
        r.log_path = luaL_tolstring(L, -1, NULL);
        r.log = fopen(r.log_path, "w");
        if (!r.log) return luaL_error(L, "bad option 'log' to 'train' (cannot open '%s' for writing)", r.log_path);
    }
    lua_settop(L, 7);
    lua_getfield(L, 1, "checkpoint"); /* 8: stays on the stack for the run */
    r.ck_path = root ? lua_tostring(L, 8) : NULL;

    cfg.ctx = &r;
    cfg.before_step = cb_before_step;
    cfg.on_batch = cb_batch;
    cfg.on_step = cb_step;
    cfg.on_epoch = cb_epoch;
    ol_train_state s;
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_sigint;
    sigemptyset(&act.sa_mask);
    sigint_seen = 0;
    sigaction(SIGINT, &act, &old);
    int rc = ol_train_run(&cfg, &s, &err);
    /* The end of the run is saved unless that very step was just saved. */
    if (rc == 0 && r.ck_path && r.saved_step != cfg.opt->t && save_checkpoint(&r, r.interrupted)) rc = -1;
    /* Distributed: no rank returns before rank 0's last checkpoint is on
     * disk, so a script may ol.load it on every rank right away. */
    if (rc == 0 && cfg.distributed && ol_dist_barrier(&err)) rc = -1;
    sigaction(SIGINT, &old, NULL);
    sigint_seen = 0;
    if (r.log) fclose(r.log);
    if (rc) {
        if (r.progress == 2) fprintf(stderr, "\n");
        if (r.error_ref != LUA_NOREF) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, r.error_ref);
            luaL_unref(L, LUA_REGISTRYINDEX, r.error_ref);
            return lua_error(L);
        }
        return luaL_error(L, "train: %s", err.msg);
    }
    push_state(&r, &s);
    if (r.interrupted) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "interrupted");
    }
    if (s.nonfinite_stop) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "nonfinite");
    }
    lua_pushinteger(L, (lua_Integer)s.skipped);
    lua_setfield(L, -2, "skipped");
    return 1;
}

/* ol.evaluate(net, ds [, loss]) -> mean loss, accuracy over a dataset,
 * in chunks of 1024 rows, in C. */
static int l_evaluate(lua_State *L) {
    ol_model *m = ol_l_tomodel(L, 1);
    if (!m) return luaL_typeerror(L, 1, "model");
    const ol_dataset *ds = to_dataset(L, 2);
    if (!ds) return luaL_typeerror(L, 2, "dataset");
    int k = luaL_checkoption(L, 3, "cross_entropy", loss_names);
    ol_loss_kind kind = k == 0 ? OL_LOSS_CROSS_ENTROPY : k == 1 ? OL_LOSS_MSE : OL_LOSS_BCE;
    double loss, acc;
    ol_error err;
    if (ol_train_evaluate(m, ds, kind, 1024, &loss, &acc, &err)) return ol_l_error(L, 2, &err);
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
