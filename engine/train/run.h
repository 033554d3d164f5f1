/* Run-level rules beside the epoch loop: progress output, the JSONL log,
 * the checkpoint cadence and Ctrl-C. The loop (train.h) knows none of
 * them; a caller calls these from its own callbacks, so that any C
 * program driving ol_train_run gets the same behaviour as ol.train.
 *
 *   progress   1: a plain line on `out` every few seconds; 2: a bar on
 *              `bar` (a terminal) redrawn at most ten times a second. Both
 *              print one line per epoch on `out`. The streams are the
 *              caller's (the engine never picks stdout or stderr itself).
 *   log        a stream (opened by the caller, closed by ol_run_close_log)
 *              that gets one JSON object per line: every `every` steps
 *              ("step") and after each epoch ("epoch"). Every line is
 *              checked as it is flushed, and the close too: a failed
 *              write (a full disk) stops the run with log_failed set and
 *              log_err naming log_path and the system's reason. The
 *              epoch line is made by ol_run_epoch_report and written by
 *              ol_run_log_epoch (or ol_run_epoch_end), so that the caller
 *              may add its own numbers to it in between (ol_run_log_field:
 *              ol.train's log_fields).
 *   checkpoint with ck_path set, the model, the optimizer and the RNG are
 *              saved every `every_epochs` epochs and when the run ends
 *              (unless that very step was just saved), in the format that
 *              ol.save writes (engine/io/checkpoint.h, ol_optim_export):
 *              the model's tensors under "LAYER.weight" / "LAYER.bias",
 *              the weight average's part when there is one
 *              (ol_average_export), and meta {epoch, batch, batches,
 *              step[, interrupted]} (batch: the batches of that epoch
 *              done). What a resumed run needs besides: mid-epoch, the RNG
 *              as the epoch began (rng.epoch_start) and the epoch's sums,
 *              and early stopping's record (optlua.train, JSON) with its
 *              best weights (tensors "early_stop.best" and
 *              "early_stop.best.BUFFER", "early_stop.best.average");
 *              `extra` may add the caller's own keys.
 *   resume     ol_run_resume reads such a file's place into a
 *              ol_train_resume (train.h) and early stopping's record; the
 *              caller restores the model, optimizer, average and RNG
 *              (ol.train: ck:restore) before the run.
 *   early stop with early_stop.on, after each epoch (after the caller's
 *              hook), the metric is compared with the best so far; after
 *              `patience` epochs without an improvement by more than
 *              min_delta the run stops. With restore_best, the best
 *              epoch's weights (and buffers, and the average's state) are
 *              kept and put back when the run ends, unless it was
 *              interrupted; the progress output says so.
 *   average    with a weight average, validation ran on it: the epoch
 *              line says so ("val_loss 0.1234 (ema)") and the log's epoch
 *              lines carry "val_average": "ema" or "swa".
 *   Ctrl-C     ol_run_catch_sigint installs a SIGINT handler that only
 *              sets a flag, which ol_run_before_step reads before each
 *              step: it saves (when a checkpoint path is set) and stops
 *              the run cleanly; a second Ctrl-C takes the default action
 *              (ends the program) at once. In a distributed run SIGTERM
 *              (what mpirun sends its ranks on its own Ctrl-C, killing
 *              them soon after) and SIGUSR1 (which mpirun forwards to
 *              every rank: `kill -USR1 MPIRUN_PID` stops a job cleanly)
 *              are caught alike. ol_run_release_sigint puts the caller's
 *              actions back. ol_run_finish prints "interrupted at epoch
 *              e, step s" when the run stopped so. */
#ifndef OL_TRAIN_RUN_H
#define OL_TRAIN_RUN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "train/train.h"

/* The figures early stopping can watch, by the state's names. */
typedef enum ol_run_metric {
    OL_METRIC_VAL_LOSS, OL_METRIC_VAL_ACCURACY, OL_METRIC_EPOCH_LOSS, OL_METRIC_EPOCH_ACCURACY,
    OL_METRIC_COUNT
} ol_run_metric;
extern const char *const ol_run_metric_names[OL_METRIC_COUNT + 1]; /* NULL-terminated */
double ol_run_metric_value(const ol_train_state *s, ol_run_metric m);

typedef struct ol_run_early_stop {
    int on;
    ol_run_metric metric;
    int maximize;         /* mode "max" (the accuracies' default) */
    int64_t patience;     /* epochs without improvement before stopping, >= 0 */
    double min_delta;     /* >= 0: an improvement is by more than this */
    int restore_best;
    /* kept by the rule */
    double best;          /* +-inf before the first epoch */
    int64_t best_epoch, wait; /* 0 before the first epoch; epochs since the best */
    int stopped, restored;
    ol_tensor best_w, best_avg;  /* restore_best: the best epoch's weights and average */
    ol_tensor *best_buf;         /* and the model's buffers */
    int64_t best_avg_t, best_avg_n;
} ol_run_early_stop;

struct ol_checkpoint;
struct json_t;

typedef struct ol_run {
    /* set by the caller (ol_run_init clears everything first) */
    ol_model *model;
    const ol_optim *opt;
    ol_average *average; /* or NULL: saved with the rest, named in the validation figures */
    int progress;         /* 0 off, 1 plain lines, 2 terminal bar */
    FILE *out, *bar;      /* progress streams (stdout, stderr) */
    FILE *log;            /* JSONL stream or NULL */
    const char *log_path; /* its name, for errors */
    const char *ck_path;  /* checkpoint file or NULL */
    int64_t every_epochs; /* >= 1 */
    ol_run_early_stop early_stop;
    /* Adds the caller's keys to a checkpoint about to be saved (or NULL). */
    int (*extra)(void *ctx, struct ol_checkpoint *ck, ol_error *err);
    void *extra_ctx;
    /* kept by the rules */
    double last_draw;     /* elapsed at the last progress output */
    int64_t saved_step;   /* opt->t at the last save, -1 before any */
    int64_t epoch, batch; /* the place of the last step (batch: of that epoch, done) */
    int64_t batches;      /* per epoch */
    ol_train_sums sums;   /* that epoch's so far */
    ol_rng_state epoch_rng; /* the RNG as that epoch began */
    int interrupted;      /* stopped by Ctrl-C */
    int save_failed;      /* a save failed: save_err says why */
    ol_error save_err;
    struct json_t *epoch_line; /* the log's epoch line, made and not yet written */
    int log_failed;       /* a log write failed: log_err says why */
    ol_error log_err;
    int failed;           /* early stopping could not keep or restore its weights: err says why */
    ol_error err;
    int64_t last_epoch;   /* the last epoch ended (validated) */
} ol_run;

void ol_run_init(ol_run *r);
/* Frees what the rules hold (early stopping's best weights). */
void ol_run_free(ol_run *r);

/* The live lr and momentum (betas[1] for the Adam family) of opt, NAN when
 * it has no such option: what the log and the hooks' state show. */
void ol_run_optimizer_figures(const ol_optim *opt, double *lr, double *momentum);

/* For the loop's callbacks; each returns as a train.h callback does
 * (0 go on, 1 stop, -1 abort: a failed save, with save_failed set). */
int ol_run_before_step(ol_run *r, const ol_train_state *s); /* Ctrl-C */
int ol_run_on_batch(ol_run *r, const ol_train_state *s);  /* progress */
/* The log's lines: -1 (log_failed) when one cannot be written. */
int ol_run_on_step(ol_run *r, const ol_train_state *s);
int ol_run_epoch_report(ol_run *r, const ol_train_state *s); /* and the epoch line */
/* The caller's own number for the epoch's log line that
 * ol_run_epoch_report made: ol_run_log_field_check says whether name and v
 * may go in (0, or -1 with err: an empty name, a name of the log's own
 * fields, a value that is not finite); ol_run_log_field adds it (nothing
 * without a log). ol_run_log_epoch writes the line, once (0 when there is
 * none; -1 with log_failed when it cannot be written). */
int ol_run_log_field_check(const char *name, double v, ol_error *err);
void ol_run_log_field(ol_run *r, const char *name, double v);
int ol_run_log_epoch(ol_run *r);
/* After the caller's own epoch hook, so that what it changed is saved:
 * the epoch's log line if not yet written, early stopping's verdict (1:
 * stop), then the cadence's checkpoint. */
int ol_run_epoch_end(ol_run *r, const ol_train_state *s);
/* When the run ended without error: the last checkpoint, then early
 * stopping's restore, and the lines saying so or that it was interrupted
 * (s: the final state). */
int ol_run_finish(ol_run *r, const ol_train_state *s);
/* The place to resume from, read from a checkpoint that ol_run_save
 * wrote, for a loader with `batches` batches per epoch and a run of
 * `epochs` epochs, into *res; with early_stop.on, its record too (the
 * model's shape must match: the caller restored it from the same file).
 * Fails, naming the file, on a file without ol.train's meta, another
 * number of batches per epoch, or nothing left to train. */
int ol_run_resume(ol_run *r, const struct ol_checkpoint *ck, int64_t batches, int64_t epochs,
                  ol_train_resume *res, ol_error *err);
/* The progress line saying where the run resumes ("resuming from P at
 * epoch e, batch b (step t)"). */
void ol_run_report_resume(const ol_run *r, const char *path, const ol_train_resume *res);
/* Called on an aborted run: ends a bar's line. */
void ol_run_abort(ol_run *r);

/* Flushes and closes the log (log = NULL after); 0, or -1 with log_failed
 * when that or an earlier write failed. */
int ol_run_close_log(ol_run *r);

/* Saves now (model, optimizer, RNG, meta); 0 or -1 with save_failed. */
int ol_run_save(ol_run *r, int interrupted);

#define OL_RUN_NSIGNALS 3 /* SIGINT, and distributed also SIGTERM, SIGUSR1 */
void ol_run_catch_sigint(struct sigaction old[OL_RUN_NSIGNALS], int distributed);
void ol_run_release_sigint(const struct sigaction old[OL_RUN_NSIGNALS]);

#endif
