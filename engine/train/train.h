/* The epoch loop: batches, forward, loss, backward, optimizer step, in C.
 *
 * The caller (the Lua binding) hands in a model, an optimizer over the
 * model's flat parameters, a loader and plain C callbacks; the loop calls
 * back only at the points the caller asked for:
 *
 *   before_step  before every step, with the state so far and the step
 *                number about to be taken (the binding applies the
 *                optimizer's schedules there and polls Ctrl-C);
 *   on_grads     with the step's gradient, complete (accumulated and, in a
 *                distributed run, all-reduced), before the non-finite
 *                check, the norm, clipping and the step: the callback may
 *                read and change it (NULL: no call, nothing copied);
 *   on_batch     after every step (progress display; cheap, no Lua);
 *   on_step      every `every` steps (the user's hook);
 *   on_epoch     after each epoch, once the validation figures are in.
 *
 * A callback returns 0 to go on, 1 to stop training cleanly, -1 to abort
 * with an error (the callback keeps its own message; the loop returns -1
 * with err saying "stopped by a callback"). The engine never prints.
 *
 * Data-parallel (world set: over that world, core/comm.h; a world of one
 * runs the same code with no communication): the parameters
 * (and a weight average's values) are broadcast from rank 0 at the start
 * and each epoch's order is copied
 * from rank 0 (ol_loader_sync_order: the ranks agree even if their RNGs
 * drifted); the loader is sharded for the run (loader.h: rank r takes the
 * r-th slice of each global batch of size * batch_size samples) and
 * unsharded afterwards.
 * Before any of that, the ranks meet at a barrier that waits at most
 * join_timeout seconds (a rank that never calls the loop is an error, not
 * a hang), then compare what must agree, gathered from every rank: the
 * model (dtype, parameter count, layers), the optimizer (name, options,
 * step count), the loss, on_nonfinite, the loader (batch size, drop_last),
 * epochs, max_steps, the data (samples, features, classes, validation
 * rows) and the weight average's update count. A difference fails the run on every rank with the same message,
 * "ranks disagree: rank 1 has batch_size 64, rank 0 has 32".
 * A stop that before_step asks for on one rank (Ctrl-C) rides on the
 * step's small allreduce: every rank stops before the same step.
 * After backward, each rank scales its mean gradient by its share of the
 * global batch (n_r / m) and one in-place allreduce sums the flat gradient
 * buffer, giving the gradient of the global batch's mean loss, identical
 * on every rank, before the non-finite check and the optimizer step, so
 * the steps stay identical; a second, tiny allreduce sums the batch's loss
 * and correct counts, so every rank holds (and its hooks see) the global
 * figures. Validation is sharded by contiguous rows and reduced the same
 * way. Callbacks run on every rank and must decide alike (they do when
 * they depend only on the state, which is the same everywhere); printing
 * and writing on rank 0 only is the caller's business. The optimizer's
 * state must already agree (fresh, or restored from the same checkpoint).
 *
 * The loop reads the data only as batches (data/batch.h) that the loader
 * hands out, each with its target made once from its labels. The batch is
 * made once per run, validation's at its first pass; a step allocates
 * nothing once the model's workspaces have grown to the batch size (first
 * step), and an epoch nothing once the first has ended. */
#ifndef OL_TRAIN_H
#define OL_TRAIN_H

#include <stdint.h>

#include "core/comm.h"
#include "core/rng.h"
#include "data/loader.h"
#include "nn/nn.h"
#include "optim/average.h"
#include "optim/optim.h"
#include "train/metrics.h"

/* The sums behind an epoch's running figures (epoch_loss =
 * loss / count, epoch_accuracy = correct / seen), kept so that a run
 * resumed mid-epoch reports the figures an uninterrupted one does. */
typedef struct ol_train_sums {
    double loss;          /* the batches' mean losses, each times its count */
    double count;         /* the counts the means divide by (rows, or class weights) */
    int64_t seen, correct;
} ol_train_sums;

typedef struct ol_train_state {
    int64_t epoch;        /* 1-based, the epoch in progress or just done */
    int64_t epochs;
    int64_t batch;        /* 1-based within the epoch */
    int64_t batches;      /* per epoch */
    int64_t step;         /* optimizer steps taken (opt->t) */
    int64_t samples;      /* samples seen in this run */
    double loss;          /* last batch */
    double accuracy;      /* last batch, cross_entropy only (else NAN) */
    double epoch_loss;    /* mean over the epoch so far */
    double epoch_accuracy;
    double grad_norm;     /* of the last step's gradient (NAN unless computed) */
    double samples_per_s; /* over this run so far */
    double elapsed;       /* seconds since the run began */
    double val_loss;      /* after an epoch with validation data, else NAN */
    double val_accuracy;
    double comm_time;     /* with a world: seconds in collectives this run, else NAN */
    int64_t skipped;      /* batches skipped for a non-finite loss, gradient or step */
    int nonfinite_stop;   /* 1: the run stopped at a non-finite loss, gradient or step */
    int stop_asked;       /* 1: before_step asked to stop (with a world: on some rank) */
    ol_train_sums sums;   /* this epoch's, so far */
    ol_rng_state epoch_rng; /* the RNG as this epoch began, before its order was drawn */
} ol_train_state;

typedef int (*ol_train_step_cb)(void *ctx, const ol_train_state *s, int64_t t);
typedef int (*ol_train_state_cb)(void *ctx, const ol_train_state *s);
/* g: the model's flat gradient, which the callback may change in place. */
typedef int (*ol_train_grads_cb)(void *ctx, const ol_train_state *s, ol_tensor *g);

/* Where a resumed run starts (run.h's ol_run_resume reads it from a
 * checkpoint): in epoch `epoch` after its first `batch` batches. When the
 * epoch had begun (begun: its order drawn, even if no step was taken) the
 * loop sets the RNG to epoch_rng, draws the epoch's order from it as the
 * interrupted run did, passes over the batches done, and puts the RNG
 * back as it found it (the state the checkpoint restored); the epoch's
 * figures continue from sums. Otherwise the epoch starts as any does. */
typedef struct ol_train_resume {
    int64_t epoch, batch;
    int begun;
    ol_rng_state epoch_rng;
    ol_train_sums sums;
} ol_train_resume;

/* What to do when a loss or gradient is not finite, or a step makes a
 * parameter non-finite (checked after every step). STOP and SKIP copy the
 * parameters and the optimizer's state before each step (memory for one
 * more copy of each and a copy pass per step) and put them back after a
 * bad step; ERROR copies nothing, so a step that overflowed leaves its
 * values in the parameters. */
typedef enum ol_nonfinite {
    OL_NONFINITE_ERROR, /* fail naming the step (default) */
    OL_NONFINITE_STOP,  /* stop, keeping the parameters and state of the last good step */
    OL_NONFINITE_SKIP   /* skip the batch: parameters and state as before it; a run
                         * that skips every batch fails */
} ol_nonfinite;

typedef struct ol_train_config {
    ol_model *model;
    ol_optim *opt;            /* over the model's flat parameters */
    ol_loader *loader;
    ol_loss_spec loss;        /* the loss and its options (weight: kept by the caller) */
    int64_t epochs;           /* >= 1 */
    int64_t max_steps;        /* stop after this many steps in the run; 0: no limit */
    const ol_dataset *validate; /* NULL: no validation */
    int64_t every;            /* on_step period in steps (>= 1) */
    int grad_norm;            /* compute the gradient norm at every step */
    ol_nonfinite on_nonfinite;
    const ol_comm *world;     /* data-parallel over this world (see above); NULL: alone */
    /* A weight average (optim/average.h) of the model's own flat
     * parameters, or NULL: updated after every step that succeeded (before
     * on_batch and on_step, which see it updated), and swapped into the
     * model for validation, so that val_loss and val_accuracy are the
     * average's; the model keeps its trained weights otherwise. With a
     * world, every rank holds the same parameters after each step (the
     * gradient is all-reduced before it), so every rank's average is the
     * same without any communication. */
    ol_average *average;
    double join_timeout;      /* with a world: seconds to wait for every rank to start (0: 60) */
    void *ctx;
    ol_train_step_cb before_step;
    ol_train_grads_cb on_grads;
    ol_train_state_cb on_batch, on_step, on_epoch;
    /* Gradient accumulation: one step per `accumulate` batches (>= 1; 0
     * reads as 1), with the gradient of the mean loss over all their rows
     * (each batch's mean gradient weighted by its count), which is one
     * batch that many times larger up to rounding (without batch norm,
     * whose statistics are per batch, and dropout, whose masks differ).
     * The last step of an epoch takes the batches left. The step's
     * callbacks, the non-finite check and on_nonfinite act per step; a
     * skipped step skips all its batches. before_step (Ctrl-C) is asked
     * before a step's first batch, so a stop lands between steps. */
    int64_t accumulate;
    const ol_train_resume *resume; /* NULL: from epoch 1 */
    /* Gradient clipping, as torch.nn.utils, applied to the gradient after
     * it is complete (after the all-reduce of a distributed run) and
     * before the step; at most one of them > 0, 0 for none:
     * clip_grad_norm: the gradient's 2-norm n (over the whole flat
     * gradient) is computed at every step and, when max/(n + 1e-6) < 1,
     * the gradient is multiplied by it; the state's grad_norm is n, the
     * norm before clipping. clip_grad_value: every element clamped to
     * [-v, v]. */
    double clip_grad_norm, clip_grad_value;
} ol_train_config;

/* Runs the loop. *final (may be NULL) receives the last state. Returns 0
 * when all epochs ran or a callback stopped the run, -1 on error.
 * With resume, epochs counts from the run's beginning (the resumed epoch
 * is resume->epoch of epochs) and max_steps from this call's first step.
 * An optimizer with modes (schedule-free, optim.h) must be in train mode;
 * validation switches it to eval mode (its average) and back, and the loop
 * leaves it in train mode, the parameters at the training point.
 * The model's mode (nn.h: ol_model_set_training): every step runs in
 * training mode (set before each, whatever a hook left), validation in
 * evaluation mode (ol_evaluate_rows); the loop restores the mode it found. */
int ol_train_run(const ol_train_config *cfg, ol_train_state *final, ol_error *err);

/* 1 when every element of the contiguous buffer g of opt->n elements is
 * finite, 0 when one is ±Inf or NaN: the loop's check of the gradient
 * before every step and of the parameters after it, cut over the threads
 * as opt's step is (ol_optim_step_parts). */
int ol_train_grads_finite(const ol_optim *opt, const ol_tensor *g);

#endif
