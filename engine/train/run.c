/* Run-level rules beside the epoch loop (run.h): progress, the JSONL log,
 * the checkpoint cadence, Ctrl-C. */
#include "train/run.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "core/rng.h"

void ol_run_init(ol_run *r) {
    memset(r, 0, sizeof *r);
    r->every_epochs = 1;
    r->saved_step = -1;
}

static void free_best(ol_run_early_stop *es, int nbuf) {
    ol_tensor_release(&es->best_w);
    ol_tensor_release(&es->best_avg);
    for (int k = 0; es->best_buf && k < nbuf; k++) ol_tensor_release(&es->best_buf[k]);
    free(es->best_buf);
    es->best_buf = NULL;
}

void ol_run_free(ol_run *r) {
    free_best(&r->early_stop, r->model ? ol_model_nbuffers(r->model) : 0);
    json_decref(r->epoch_line);
    r->epoch_line = NULL;
}

const char *const ol_run_metric_names[OL_METRIC_COUNT + 1] = {"val_loss", "val_accuracy", "epoch_loss",
                                                             "epoch_accuracy", NULL};

double ol_run_metric_value(const ol_train_state *s, ol_run_metric m) {
    switch (m) {
    case OL_METRIC_VAL_LOSS: return s->val_loss;
    case OL_METRIC_VAL_ACCURACY: return s->val_accuracy;
    case OL_METRIC_EPOCH_LOSS: return s->epoch_loss;
    case OL_METRIC_EPOCH_ACCURACY: return s->epoch_accuracy;
    default: return NAN;
    }
}

/* The place of the state s, for the checkpoint's meta. */
static void note_place(ol_run *r, const ol_train_state *s) {
    r->epoch = s->epoch;
    r->batch = s->batch;
    r->batches = s->batches;
    r->sums = s->sums;
    r->epoch_rng = s->epoch_rng;
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

/* What a resumed run needs besides the model, optimizer and RNG, as JSON
 * in optlua.train: the epoch's sums (mid-epoch) and early stopping's
 * record; with restore_best, the best weights as tensors. */
static int save_train_record(ol_run *r, ol_checkpoint *ck, ol_error *err) {
    json_t *o = json_object();
    if (r->batch < r->batches) {
        json_t *sums = json_array();
        json_array_append_new(sums, ol_ck_json_double(r->sums.loss));
        json_array_append_new(sums, ol_ck_json_double(r->sums.count));
        json_array_append_new(sums, json_integer((json_int_t)r->sums.seen));
        json_array_append_new(sums, json_integer((json_int_t)r->sums.correct));
        json_object_set_new(o, "sums", sums);
    }
    const ol_run_early_stop *es = &r->early_stop;
    if (es->on) {
        json_t *e = json_object();
        json_object_set_new(e, "metric", json_string(ol_run_metric_names[es->metric]));
        json_object_set_new(e, "best", ol_ck_json_double(es->best));
        json_object_set_new(e, "best_epoch", json_integer((json_int_t)es->best_epoch));
        json_object_set_new(e, "wait", json_integer((json_int_t)es->wait));
        if (es->best_avg.st) {
            json_object_set_new(e, "average_t", json_integer((json_int_t)es->best_avg_t));
            json_object_set_new(e, "average_n", json_integer((json_int_t)es->best_avg_n));
        }
        json_object_set_new(o, "early_stop", e);
    }
    int rc = ol_ck_set_meta_json(ck, "optlua.train", o, err);
    if (!rc && es->on && es->best_w.st) {
        rc = ol_ck_add(ck, "early_stop.best", &es->best_w, err);
        for (int k = 0; !rc && k < ol_model_nbuffers(r->model); k++) {
            char name[64], full[96];
            ol_model_buffer_name(r->model, k, name, sizeof name);
            snprintf(full, sizeof full, "early_stop.best.%s", name);
            rc = ol_ck_add(ck, full, &es->best_buf[k], err);
        }
        if (!rc && es->best_avg.st) rc = ol_ck_add(ck, "early_stop.best.average", &es->best_avg, err);
    }
    return rc;
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
    /* Mid-epoch (begun, not ended): the RNG as the epoch began, to draw
     * its order again. */
    const int mid = r->batch < r->batches;
    if (!rc && mid) rc = ol_ck_put_rng_at(&ck, "rng.epoch_start", &r->epoch_rng, err);
    if (!rc) rc = save_train_record(r, &ck, err);
    json_t *keys = json_array();
    if (!rc) rc = add_meta_json(&ck, keys, "epoch", json_integer((json_int_t)r->epoch), err);
    if (!rc) rc = add_meta_json(&ck, keys, "batch", json_integer((json_int_t)r->batch), err);
    if (!rc) rc = add_meta_json(&ck, keys, "batches", json_integer((json_int_t)r->batches), err);
    if (!rc) rc = add_meta_json(&ck, keys, "step", json_integer((json_int_t)r->opt->t), err);
    if (!rc && interrupted) rc = add_meta_json(&ck, keys, "interrupted", json_true(), err);
    if (!rc && r->extra) rc = r->extra(r->extra_ctx, &ck, err);
    /* The caller's keys are JSON too when extra listed them in
     * optlua.meta_json; the list is merged, not replaced. */
    json_t *more = NULL;
    if (!rc && r->extra) rc = ol_ck_get_meta_json(&ck, "optlua.meta_json", &more, err);
    if (more && json_is_array(more)) json_array_extend(keys, more);
    json_decref(more);
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

int ol_run_before_step(ol_run *r, const ol_train_state *s) {
    if (!sigint_seen) return 0;
    note_place(r, s);
    r->interrupted = 1;
    return ol_run_save(r, 1) ? -1 : 1;
}

/* Copies the model's weights, buffers and the average's state into the
 * best copies (back = 0), made at the first call, or back from them. */
static int best_copy(ol_run *r, int back, ol_error *err) {
    ol_run_early_stop *es = &r->early_stop;
    const int nbuf = ol_model_nbuffers(r->model);
    ol_tensor w;
    ol_model_params(r->model, &w);
    int rc = 0;
    if (!es->best_w.st) {
        rc = ol_tensor_clone(&w, &es->best_w, err);
        if (!rc && nbuf > 0 && !(es->best_buf = calloc((size_t)nbuf, sizeof *es->best_buf)))
            rc = ol_fail(err, "out of memory for early stopping's best weights");
        for (int k = 0; !rc && k < nbuf; k++) {
            ol_tensor v;
            ol_model_buffer_view(r->model, k, &v);
            rc = ol_tensor_clone(&v, &es->best_buf[k], err);
            ol_tensor_release(&v);
        }
        if (!rc && r->average) rc = ol_tensor_clone(&r->average->e, &es->best_avg, err);
    }
    if (!rc) rc = back ? ol_tensor_copy_(&w, &es->best_w, err) : ol_tensor_copy_(&es->best_w, &w, err);
    for (int k = 0; !rc && k < nbuf; k++) {
        ol_tensor v;
        ol_model_buffer_view(r->model, k, &v);
        rc = back ? ol_tensor_copy_(&v, &es->best_buf[k], err) : ol_tensor_copy_(&es->best_buf[k], &v, err);
        ol_tensor_release(&v);
    }
    if (!rc && r->average) {
        ol_average *a = r->average;
        rc = back ? ol_tensor_copy_(&a->e, &es->best_avg, err) : ol_tensor_copy_(&es->best_avg, &a->e, err);
        if (back) {
            a->t = es->best_avg_t;
            a->n = es->best_avg_n;
        } else {
            es->best_avg_t = a->t;
            es->best_avg_n = a->n;
        }
    }
    ol_tensor_release(&w);
    return rc;
}

/* Early stopping's verdict on the epoch just validated: 1 stop, 0 go on,
 * -1 (failed, err) when the best weights cannot be kept. An epoch whose
 * metric is not finite is no improvement. */
static int early_stop_epoch(ol_run *r, const ol_train_state *s) {
    ol_run_early_stop *es = &r->early_stop;
    if (!es->on) return 0;
    const double v = ol_run_metric_value(s, es->metric);
    const int improved = isfinite(v) && (es->best_epoch == 0 || (es->maximize ? v > es->best + es->min_delta
                                                                              : v < es->best - es->min_delta));
    if (improved) {
        es->best = v;
        es->best_epoch = s->epoch;
        es->wait = 0;
        if (es->restore_best && best_copy(r, 0, &r->err)) {
            r->failed = 1;
            return -1;
        }
        return 0;
    }
    es->wait++;
    if (es->wait < es->patience) return 0;
    es->stopped = 1;
    return 1;
}

int ol_run_epoch_end(ol_run *r, const ol_train_state *s) {
    if (ol_run_log_epoch(r)) return -1;
    note_place(r, s);
    r->last_epoch = s->epoch;
    /* A stop asked for on another rank of a world is this rank's interrupt too. */
    if (s->stop_asked) r->interrupted = 1;
    const int stop = r->interrupted ? 0 : early_stop_epoch(r, s);
    if (stop < 0) return -1;
    if (!r->interrupted && (s->epoch % r->every_epochs == 0 || stop) && ol_run_save(r, 0)) return -1;
    return stop;
}

int ol_run_finish(ol_run *r, const ol_train_state *s) {
    /* The end of the run is saved unless that very step was just saved. */
    if (r->ck_path && r->saved_step != r->opt->t && ol_run_save(r, r->interrupted)) return -1;
    ol_run_early_stop *es = &r->early_stop;
    FILE *out = r->progress ? r->out : NULL;
    if (out && r->progress == 2) fprintf(r->bar, "\r\033[K");
    if (r->interrupted) {
        if (out) {
            fprintf(out, "interrupted at epoch %lld, step %lld", (long long)s->epoch, (long long)s->step);
            if (r->ck_path) fprintf(out, "; saved to %s", r->ck_path);
            fprintf(out, "\n");
        }
    } else if (es->on) {
        const char *m = ol_run_metric_names[es->metric];
        const int restore = es->restore_best && es->best_w.st && es->best_epoch != r->last_epoch;
        if (restore && best_copy(r, 1, &r->err)) {
            r->failed = 1;
            return -1;
        }
        es->restored = restore;
        if (out && es->stopped) {
            fprintf(out, "early stop at epoch %lld: %s has not improved on %.6g (epoch %lld)",
                    (long long)r->last_epoch, m, es->best, (long long)es->best_epoch);
            if (es->min_delta > 0) fprintf(out, " by more than %g", es->min_delta);
            fprintf(out, " for %lld epoch%s", (long long)es->wait, es->wait == 1 ? "" : "s");
        }
        if (out && restore)
            fprintf(out, "%srestored the weights of epoch %lld (%s %.6g)", es->stopped ? "; " : "",
                    (long long)es->best_epoch, m, es->best);
        if (out && (es->stopped || restore)) fprintf(out, "\n");
    }
    if (out) fflush(out);
    return 0;
}

/* An integer meta key (JSON), or -1 when absent or not an integer >= 0. */
static int64_t meta_int(const ol_checkpoint *ck, const char *k, ol_error *err) {
    json_t *j = NULL;
    if (ol_ck_get_meta_json(ck, k, &j, err)) return -2;
    const int64_t v = json_is_integer(j) && json_integer_value(j) >= 0 ? (int64_t)json_integer_value(j) : -1;
    json_decref(j);
    return v;
}

/* Early stopping's record from o (optlua.train's "early_stop"), and its
 * best weights from ck, checked against the model. */
static int resume_early_stop(ol_run *r, const ol_checkpoint *ck, json_t *e, ol_error *err) {
    ol_run_early_stop *es = &r->early_stop;
    const char *name = ol_ck_name(ck);
    json_t *metric = json_object_get(e, "metric");
    double best;
    if (!json_is_string(metric) || ol_ck_json_to_double(json_object_get(e, "best"), &best) ||
        !json_is_integer(json_object_get(e, "best_epoch")) || !json_is_integer(json_object_get(e, "wait")))
        return ol_fail(err, "checkpoint '%.80s': optlua.train's early_stop record is malformed", name);
    if (strcmp(json_string_value(metric), ol_run_metric_names[es->metric]) != 0)
        return ol_fail(err, "checkpoint '%.80s' stopped early on %s, this run on %s", name,
                       json_string_value(metric), ol_run_metric_names[es->metric]);
    es->best = best;
    es->best_epoch = (int64_t)json_integer_value(json_object_get(e, "best_epoch"));
    es->wait = (int64_t)json_integer_value(json_object_get(e, "wait"));
    if (!es->restore_best || es->best_epoch < 1) return 0;
    const ol_tensor *bw = ol_ck_find(ck, "early_stop.best");
    if (!bw) return 0; /* saved without restore_best: the best is kept from here on */
    ol_tensor w;
    ol_model_params(r->model, &w);
    const int fits = bw->dtype == w.dtype && ol_tensor_numel(bw) == ol_tensor_numel(&w);
    ol_tensor_release(&w);
    if (!fits) return ol_fail(err, "checkpoint '%.80s': early_stop.best does not fit the model", name);
    if (best_copy(r, 0, err)) return -1; /* makes the copies; then the file's values */
    if (ol_tensor_copy_(&es->best_w, bw, err)) return -1;
    for (int k = 0; k < ol_model_nbuffers(r->model); k++) {
        char b[64], full[96];
        ol_model_buffer_name(r->model, k, b, sizeof b);
        snprintf(full, sizeof full, "early_stop.best.%s", b);
        const ol_tensor *t = ol_ck_find(ck, full);
        if (!t || t->dtype != es->best_buf[k].dtype || ol_tensor_numel(t) != ol_tensor_numel(&es->best_buf[k]))
            return ol_fail(err, "checkpoint '%.80s': %s is missing or does not fit the model", name, full);
        if (ol_tensor_copy_(&es->best_buf[k], t, err)) return -1;
    }
    if (r->average) {
        const ol_tensor *t = ol_ck_find(ck, "early_stop.best.average");
        if (!t || t->dtype != es->best_avg.dtype || ol_tensor_numel(t) != ol_tensor_numel(&es->best_avg))
            return ol_fail(err, "checkpoint '%.80s': early_stop.best.average is missing or does not fit "
                           "the average", name);
        json_t *at = json_object_get(e, "average_t"), *an = json_object_get(e, "average_n");
        if (!json_is_integer(at) || !json_is_integer(an))
            return ol_fail(err, "checkpoint '%.80s': optlua.train's early_stop record lacks the average's "
                           "counts", name);
        if (ol_tensor_copy_(&es->best_avg, t, err)) return -1;
        es->best_avg_t = (int64_t)json_integer_value(at);
        es->best_avg_n = (int64_t)json_integer_value(an);
    }
    return 0;
}

void ol_run_report_resume(const ol_run *r, const char *path, const ol_train_resume *res) {
    if (!r->progress) return;
    fprintf(r->out, "resuming from %s at epoch %lld, batch %lld (step %lld)\n", path, (long long)res->epoch,
            (long long)res->batch, (long long)r->opt->t);
    fflush(r->out);
}

int ol_run_resume(ol_run *r, const ol_checkpoint *ck, int64_t batches, int64_t epochs,
                  ol_train_resume *res, ol_error *err) {
    const char *name = ol_ck_name(ck);
    memset(res, 0, sizeof *res);
    const int64_t epoch = meta_int(ck, "epoch", err), batch = meta_int(ck, "batch", err),
                  had = meta_int(ck, "batches", err);
    if (epoch < -1 || batch < -1 || had < -1) return -1;
    if (epoch < 1 || batch < 0 || had < 1 || batch > had)
        return ol_fail(err, "checkpoint '%.80s' was not written by ol.train's checkpoint option (its meta "
                       "lacks epoch, batch and batches): restore it with ol.load(path):restore(...)", name);
    if (had != batches)
        return ol_fail(err, "checkpoint '%.80s' is of a run with %lld batches per epoch, this one has %lld "
                       "(another batch_size, data set or drop_last?)", name, (long long)had, (long long)batches);
    res->epoch = batch == had ? epoch + 1 : epoch;
    res->batch = batch == had ? 0 : batch;
    res->begun = batch < had;
    if (res->epoch > epochs)
        return ol_fail(err, "checkpoint '%.80s' is at the end of epoch %lld: nothing is left to train in a "
                       "run of %lld epochs (raise epochs to train on)", name, (long long)epoch, (long long)epochs);
    json_t *o = NULL;
    if (ol_ck_get_meta_json(ck, "optlua.train", &o, err)) return -1;
    int rc = 0;
    if (res->begun) {
        json_t *sums = json_object_get(o, "sums");
        if (ol_ck_get_rng_at(ck, "rng.epoch_start", &res->epoch_rng, err) != 0 || !json_is_array(sums) ||
            json_array_size(sums) != 4 || ol_ck_json_to_double(json_array_get(sums, 0), &res->sums.loss) ||
            ol_ck_json_to_double(json_array_get(sums, 1), &res->sums.count) ||
            !json_is_integer(json_array_get(sums, 2)) || !json_is_integer(json_array_get(sums, 3)))
            rc = ol_fail(err, "checkpoint '%.80s' stopped in the middle of epoch %lld but lacks the RNG as "
                         "the epoch began (rng.epoch_start) or its sums (optlua.train)", name, (long long)epoch);
        else {
            res->sums.seen = (int64_t)json_integer_value(json_array_get(sums, 2));
            res->sums.correct = (int64_t)json_integer_value(json_array_get(sums, 3));
        }
    }
    json_t *e = json_object_get(o, "early_stop");
    if (!rc && r->early_stop.on && e) rc = resume_early_stop(r, ck, e, err);
    json_decref(o);
    return rc;
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

/* The log's own fields: the event, the integers, the numbers (in the
 * order of log_line's list) and val_average. A caller's field
 * (ol_run_log_field) takes none of these names. */
static const char *const log_names[] = {
    "event", "epoch", "step", "batch", "samples",
    "loss", "accuracy", "epoch_loss", "epoch_accuracy", "grad_norm", "samples_per_s", "elapsed",
    "val_loss", "val_accuracy", "lr", "momentum",
    "val_average", NULL};
enum { LOG_FIRST_NUMBER = 5, LOG_NUMBERS = 11, LOG_VAL_AVERAGE = 16 };

/* The line of event ("step" or "epoch") at the state s. */
static json_t *log_line(const ol_run *r, const char *event, const ol_train_state *s) {
    double lr, momentum;
    ol_run_optimizer_figures(r->opt, &lr, &momentum);
    json_t *o = json_object();
    json_object_set_new(o, log_names[0], json_string(event));
    const int64_t ints[] = {s->epoch, s->step, s->batch, s->samples};
    for (int i = 0; i < 4; i++) json_object_set_new(o, log_names[1 + i], json_integer(ints[i]));
    const double nums[LOG_NUMBERS] = {s->loss, s->accuracy, s->epoch_loss, s->epoch_accuracy, s->grad_norm,
                                      s->samples_per_s, s->elapsed, s->val_loss, s->val_accuracy, lr, momentum};
    int is_step = strcmp(event, "step") == 0;
    for (int i = 0; i < LOG_NUMBERS; i++) {
        const char *k = log_names[LOG_FIRST_NUMBER + i];
        /* A step line carries the step's figures, not the last epoch's validation. */
        if (is_step && strncmp(k, "val_", 4) == 0) continue;
        if (isfinite(nums[i])) json_object_set_new(o, k, json_real(nums[i]));
    }
    if (!is_step && r->average && isfinite(s->val_loss))
        json_object_set_new(o, log_names[LOG_VAL_AVERAGE], json_string(ol_average_kind_name(r->average->kind)));
    return o;
}

/* Writes the line o (and frees it). */
static int log_write(ol_run *r, json_t *o) {
    if (r->log_failed) {
        json_decref(o);
        return -1;
    }
    errno = 0;
    int bad = json_dumpf(o, r->log, JSON_COMPACT | JSON_REAL_PRECISION(10)) != 0;
    bad = fputc('\n', r->log) == EOF || bad;
    bad = fflush(r->log) != 0 || bad;
    json_decref(o);
    return bad || ferror(r->log) ? log_failed(r, errno) : 0;
}

int ol_run_log_field_check(const char *name, double v, ol_error *err) {
    if (!name[0]) return ol_fail(err, "a field's name is empty");
    for (int i = 0; log_names[i]; i++)
        if (strcmp(name, log_names[i]) == 0)
            return ol_fail(err, "field '%.80s' is one of the log's own fields", name);
    if (!isfinite(v))
        return ol_fail(err, "field '%.80s' is %s, not a finite number", name, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    return 0;
}

void ol_run_log_field(ol_run *r, const char *name, double v) {
    if (r->epoch_line) json_object_set_new(r->epoch_line, name, json_real(v));
}

int ol_run_log_epoch(ol_run *r) {
    json_t *o = r->epoch_line;
    r->epoch_line = NULL;
    return o ? log_write(r, o) : 0;
}

int ol_run_close_log(ol_run *r) {
    if (!r->log) return 0;
    ol_run_log_epoch(r); /* a line made is written */
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
    note_place(r, s);
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
    if (!r->log) return 0;
    return r->log_failed ? -1 : log_write(r, log_line(r, "step", s));
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
    if (!r->log) return 0;
    if (r->log_failed) return -1;
    /* Written by ol_run_log_epoch, once the caller added its fields. */
    json_decref(r->epoch_line);
    r->epoch_line = log_line(r, "epoch", s);
    return 0;
}
