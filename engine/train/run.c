/* Run-level rules beside the epoch loop (run.h): progress, the JSONL log,
 * the checkpoint cadence, Ctrl-C. */
#include "train/run.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "io/checkpoint.h"
#include "core/rng.h"

void ol_run_init(ol_run *r) {
    memset(r, 0, sizeof *r);
    r->every_epochs = 1;
    r->saved_step = -1;
}

/* The live value of option `name` (the first of a pair) in group 1, NAN
 * if the optimizer has no such option. */
static double option_value(const ol_optim *opt, const char *name) {
    const ol_optim_option *op = ol_optim_find_option(opt->desc, name);
    if (!op && opt->inner) return option_value(opt->inner, name); /* lookahead: its inner's */
    return op ? opt->groups[0].o[op->slot] : NAN;
}

void ol_run_optimizer_figures(const ol_optim *opt, double *lr, double *momentum) {
    *lr = option_value(opt, "lr");
    *momentum = option_value(opt, "momentum");
    if (isnan(*momentum)) *momentum = option_value(opt, "betas");
}

/* ---- Ctrl-C ----
 * A signal handler may only set a flag; the loop polls it before each step
 * (a file-scope flag, as signal handlers take no pointer). */
static volatile sig_atomic_t sigint_seen = 0;

static void on_sigint(int sig) {
    if (sigint_seen) { /* the second Ctrl-C: the default action, now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    sigint_seen = 1;
}

static const int stop_signals[OL_RUN_NSIGNALS] = {SIGINT, SIGTERM, SIGUSR1};

void ol_run_catch_sigint(struct sigaction old[OL_RUN_NSIGNALS], int distributed) {
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_sigint;
    sigemptyset(&act.sa_mask);
    sigint_seen = 0;
    for (int i = 0; i < OL_RUN_NSIGNALS; i++) {
        /* A signal left alone keeps its action, recorded as it is. */
        if (i == 0 || distributed) sigaction(stop_signals[i], &act, &old[i]);
        else sigaction(stop_signals[i], NULL, &old[i]);
    }
}

void ol_run_release_sigint(const struct sigaction old[OL_RUN_NSIGNALS]) {
    for (int i = 0; i < OL_RUN_NSIGNALS; i++) sigaction(stop_signals[i], &old[i], NULL);
    sigint_seen = 0;
}

/* ---- checkpoints ---- */

static int add_meta_json(ol_checkpoint *ck, json_t *keys, const char *k, json_t *v, ol_error *err) {
    json_array_append_new(keys, json_string(k));
    return ol_ck_set_meta_json(ck, k, v, err);
}

/* The file ol.save writes for {model, optimizer, average, meta}: the
 * model's tensors, the optimizer (ol_optim_export), the average
 * (ol_average_export) when the run has one, the RNG, optlua.format and
 * the meta numbers as JSON, listed in optlua.meta_json. */
static int save_to(ol_run *r, int interrupted, ol_error *err) {
    ol_checkpoint ck;
    ol_ck_init(&ck);
    int rc = 0;
    int nt = ol_model_nparam_tensors(r->model);
    for (int k = 0; k < nt && !rc; k++) {
        ol_tensor v;
        char name[64];
        ol_model_param_name(r->model, k, name, sizeof name);
        ol_model_param_view(r->model, k, 0, &v);
        rc = ol_ck_add(&ck, name, &v, err);
        ol_tensor_release(&v);
    }
    for (int k = 0; k < ol_model_nbuffers(r->model) && !rc; k++) { /* batch_norm's running estimates */
        ol_tensor v;
        char name[64];
        ol_model_buffer_name(r->model, k, name, sizeof name);
        ol_model_buffer_view(r->model, k, &v);
        rc = ol_ck_add(&ck, name, &v, err);
        ol_tensor_release(&v);
    }
    if (!rc) rc = ol_optim_export(r->opt, &ck, err);
    if (!rc && r->average) rc = ol_average_export(r->average, &ck, err);
    ol_rng_state s;
    ol_rng_get_state(&s);
    if (!rc) rc = ol_ck_put_rng(&ck, &s, err);
    if (!rc) rc = ol_ck_set_meta(&ck, "optlua.format", "1", err);
    json_t *keys = json_array();
    if (!rc) rc = add_meta_json(&ck, keys, "epoch", json_integer((json_int_t)r->epoch), err);
    if (!rc) rc = add_meta_json(&ck, keys, "batch", json_integer((json_int_t)r->batch), err);
    if (!rc) rc = add_meta_json(&ck, keys, "step", json_integer((json_int_t)r->opt->t), err);
    if (!rc && interrupted) rc = add_meta_json(&ck, keys, "interrupted", json_true(), err);
    if (!rc) rc = ol_ck_set_meta_json(&ck, "optlua.meta_json", keys, err);
    else json_decref(keys);
    if (!rc) rc = ol_ck_save(&ck, r->ck_path, err);
    ol_ck_free(&ck);
    return rc;
}

int ol_run_save(ol_run *r, int interrupted) {
    if (!r->ck_path) return 0;
    if (save_to(r, interrupted, &r->save_err)) {
        r->save_failed = 1;
        return -1;
    }
    r->saved_step = r->opt->t;
    return 0;
}

int ol_run_before_step(ol_run *r) {
    if (!sigint_seen) return 0;
    r->interrupted = 1;
    return ol_run_save(r, 1) ? -1 : 1;
}

int ol_run_epoch_end(ol_run *r, const ol_train_state *s) {
    r->epoch = s->epoch;
    r->batch = s->batch;
    /* A stop asked for on another rank of a world is this rank's interrupt too. */
    if (s->stop_asked) r->interrupted = 1;
    if (!r->interrupted && s->epoch % r->every_epochs == 0) return ol_run_save(r, 0);
    return 0;
}

int ol_run_finish(ol_run *r) {
    /* The end of the run is saved unless that very step was just saved. */
    if (r->ck_path && r->saved_step != r->opt->t) return ol_run_save(r, r->interrupted);
    return 0;
}

void ol_run_abort(ol_run *r) {
    if (r->progress == 2) fprintf(r->bar, "\n");
}

/* ---- progress and the log ---- */

/* A failed write (a full disk) ends the run: a log cut short would pass
 * for a whole one. errno says why; the message names the file. */
static int log_failed(ol_run *r, int e) {
    r->log_failed = 1;
    return ol_fail(&r->log_err, "log '%s': cannot write: %s", r->log_path ? r->log_path : "(stream)",
                   strerror(e ? e : EIO));
}

static int log_state(ol_run *r, const char *event, const ol_train_state *s) {
    if (!r->log) return 0;
    if (r->log_failed) return -1;
    double lr, momentum;
    ol_run_optimizer_figures(r->opt, &lr, &momentum);
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
    if (!is_step && r->average && isfinite(s->val_loss))
        json_object_set_new(o, "val_average", json_string(ol_average_kind_name(r->average->kind)));
    errno = 0;
    int bad = json_dumpf(o, r->log, JSON_COMPACT | JSON_REAL_PRECISION(10)) != 0;
    bad = fputc('\n', r->log) == EOF || bad;
    bad = fflush(r->log) != 0 || bad;
    json_decref(o);
    return bad || ferror(r->log) ? log_failed(r, errno) : 0;
}

int ol_run_close_log(ol_run *r) {
    if (!r->log) return 0;
    errno = 0;
    int bad = ferror(r->log) || fflush(r->log) != 0;
    int e = errno;
    if (fclose(r->log) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    r->log = NULL;
    if (bad && !r->log_failed) return log_failed(r, e);
    return r->log_failed ? -1 : 0;
}

static void fmt_count(char *buf, size_t size, double v) {
    if (v >= 1e6) snprintf(buf, size, "%.2fM", v / 1e6);
    else if (v >= 1e3) snprintf(buf, size, "%.1fk", v / 1e3);
    else snprintf(buf, size, "%.0f", v);
}

int ol_run_on_batch(ol_run *r, const ol_train_state *s) {
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
        fprintf(r->bar, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  loss %.4f  %s samples/s  ETA %.0fs",
                (long long)s->epoch, (long long)s->epochs, bar, (long long)s->batch,
                (long long)s->batches, s->epoch_loss, rate, eta);
        fflush(r->bar);
    } else {
        fprintf(r->out, "epoch %lld/%lld  batch %lld/%lld  loss %.4f  %s samples/s  %.1fs\n",
                (long long)s->epoch, (long long)s->epochs, (long long)s->batch,
                (long long)s->batches, s->epoch_loss, rate, s->elapsed);
        fflush(r->out);
    }
    return 0;
}

int ol_run_on_step(ol_run *r, const ol_train_state *s) {
    return log_state(r, "step", s);
}

int ol_run_epoch_report(ol_run *r, const ol_train_state *s) {
    if (r->progress) {
        FILE *out = r->out;
        char rate[32];
        fmt_count(rate, sizeof rate, s->samples_per_s);
        if (r->progress == 2) fprintf(r->bar, "\r\033[K");
        fprintf(out, "epoch %lld/%lld  loss %.4f", (long long)s->epoch, (long long)s->epochs, s->epoch_loss);
        if (!isnan(s->epoch_accuracy)) fprintf(out, "  acc %.2f%%", 100 * s->epoch_accuracy);
        if (!isnan(s->val_loss)) fprintf(out, "  val_loss %.4f", s->val_loss);
        if (!isnan(s->val_accuracy)) fprintf(out, "  val_acc %.2f%%", 100 * s->val_accuracy);
        if (!isnan(s->val_loss) && r->average) fprintf(out, " (%s)", ol_average_kind_name(r->average->kind));
        fprintf(out, "  %s samples/s  %.1fs\n", rate, s->elapsed);
        fflush(out);
    }
    return log_state(r, "epoch", s);
}
