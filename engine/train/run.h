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
 *              log_err naming log_path and the system's reason.
 *   checkpoint with ck_path set, the model, the optimizer and the RNG are
 *              saved every `every_epochs` epochs and when the run ends
 *              (unless that very step was just saved), in the format that
 *              ol.save writes (engine/io/checkpoint.h, ol_optim_export):
 *              the model's tensors under "LAYER.weight" / "LAYER.bias",
 *              the weight average's part when there is one
 *              (ol_average_export), and meta {epoch, batch, step[,
 *              interrupted]}.
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
 *              actions back. */
#ifndef OL_TRAIN_RUN_H
#define OL_TRAIN_RUN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "train/train.h"

typedef struct ol_run {
    /* set by the caller (ol_run_init clears everything first) */
    const ol_model *model;
    const ol_optim *opt;
    const ol_average *average; /* or NULL: saved with the rest, named in the validation figures */
    int progress;         /* 0 off, 1 plain lines, 2 terminal bar */
    FILE *out, *bar;      /* progress streams (stdout, stderr) */
    FILE *log;            /* JSONL stream or NULL */
    const char *log_path; /* its name, for errors */
    const char *ck_path;  /* checkpoint file or NULL */
    int64_t every_epochs; /* >= 1 */
    /* kept by the rules */
    double last_draw;     /* elapsed at the last progress output */
    int64_t saved_step;   /* opt->t at the last save, -1 before any */
    int64_t epoch, batch; /* the last step's place, for the checkpoint's meta */
    int interrupted;      /* stopped by Ctrl-C */
    int save_failed;      /* a save failed: save_err says why */
    ol_error save_err;
    int log_failed;       /* a log write failed: log_err says why */
    ol_error log_err;
} ol_run;

void ol_run_init(ol_run *r);

/* The live lr and momentum (betas[1] for the Adam family) of opt, NAN when
 * it has no such option: what the log and the hooks' state show. */
void ol_run_optimizer_figures(const ol_optim *opt, double *lr, double *momentum);

/* For the loop's callbacks; each returns as a train.h callback does
 * (0 go on, 1 stop, -1 abort: a failed save, with save_failed set). */
int ol_run_before_step(ol_run *r);                        /* Ctrl-C */
int ol_run_on_batch(ol_run *r, const ol_train_state *s);  /* progress */
/* The log's lines: -1 (log_failed) when one cannot be written. */
int ol_run_on_step(ol_run *r, const ol_train_state *s);
int ol_run_epoch_report(ol_run *r, const ol_train_state *s); /* and the epoch line */
/* After the caller's own epoch hook, so that what it changed is saved. */
int ol_run_epoch_end(ol_run *r, const ol_train_state *s);
/* When the run ended without error: the last checkpoint. */
int ol_run_finish(ol_run *r);
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
