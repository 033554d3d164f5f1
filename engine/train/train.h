/* The epoch loop: batches, forward, loss, backward, optimizer step, in C.
 *
 * The caller (the Lua binding) hands in a model, an optimizer over the
 * model's flat parameters, a loader and plain C callbacks; the loop calls
 * back only at the points the caller asked for:
 *
 *   before_step  before every step, with the step number about to be taken
 *                (the binding applies the optimizer's schedules there);
 *   on_batch     after every step (progress display; cheap, no Lua);
 *   on_step      every `every` steps (the user's hook);
 *   on_epoch     after each epoch, once the validation figures are in.
 *
 * A callback returns 0 to go on, 1 to stop training cleanly, -1 to abort
 * with an error (the callback keeps its own message; the loop returns -1
 * with err saying "stopped by a callback"). The engine never prints.
 *
 * Data-parallel (distributed = 1, over the world of engine/dist/dist.h; a
 * world of one runs the same code with no communication): the parameters
 * are broadcast from rank 0 at the start and each epoch's order is copied
 * from rank 0 (ol_loader_sync_order: the ranks agree even if their RNGs
 * drifted); the loader is sharded for the run (loader.h: rank r takes the
 * r-th slice of each global batch of size * batch_size samples) and
 * unsharded afterwards.
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

#include "data/loader.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "train/metrics.h"

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
    double comm_time;     /* distributed: seconds in collectives this run, else NAN */
    int64_t skipped;      /* batches skipped for a non-finite loss or gradient */
    int nonfinite_stop;   /* 1: the run stopped at a non-finite loss or gradient */
} ol_train_state;

typedef int (*ol_train_step_cb)(void *ctx, int64_t t);
typedef int (*ol_train_state_cb)(void *ctx, const ol_train_state *s);

/* What to do when a loss or gradient is not finite. */
typedef enum ol_nonfinite {
    OL_NONFINITE_ERROR, /* fail naming the step (default) */
    OL_NONFINITE_STOP,  /* stop, keeping the parameters of the last good step */
    OL_NONFINITE_SKIP   /* skip the batch: no step taken */
} ol_nonfinite;

typedef struct ol_train_config {
    ol_model *model;
    ol_optim *opt;            /* over the model's flat parameters */
    ol_loader *loader;
    ol_loss_kind loss;
    int64_t epochs;           /* >= 1 */
    int64_t max_steps;        /* stop after this many steps in the run; 0: no limit */
    const ol_dataset *validate; /* NULL: no validation */
    int64_t every;            /* on_step period in steps (>= 1) */
    int grad_norm;            /* compute the gradient norm at every step */
    ol_nonfinite on_nonfinite;
    int distributed;          /* data-parallel over engine/dist/dist.h (see above) */
    void *ctx;
    ol_train_step_cb before_step;
    ol_train_state_cb on_batch, on_step, on_epoch;
} ol_train_config;

/* Runs the loop. *final (may be NULL) receives the last state. Returns 0
 * when all epochs ran or a callback stopped the run, -1 on error. */
int ol_train_run(const ol_train_config *cfg, ol_train_state *final, ol_error *err);

/* 1 when every element of the contiguous gradient g is finite, 0 when one
 * is ±Inf or NaN: the loop's check before every step, cut over the threads
 * as opt's step will be (ol_optim_step_parts). */
int ol_train_grads_finite(const ol_optim *opt, const ol_tensor *g);

#endif
