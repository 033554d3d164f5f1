/* The epoch loop (see train.h). A step reads:
 *
 *   next batch  the loader gathers the batch's rows, turns their labels
 *               into the loss's target (data/batch.h), and has the memory
 *               system fetch the rows of the batch after;
 *   evaluate    the optimizer's lookahead move if it has one (nag), then
 *               forward + loss + backward into the model's flat gradient;
 *   count       the correct predictions; a distributed run then sums the
 *               gradient, loss and count over the ranks (reduce);
 *   step        the non-finite check, the gradient norm where it is
 *               reported, one optimizer step over the flat parameters;
 *
 * then the run's figures and the callbacks. In reduce, each rank weights
 * its mean gradient by its share n_r / m of the global batch, so that the
 * sum is the gradient of the mean over the whole global batch, as one
 * process with size * batch_size rows computes it (up to summation order),
 * also when the last global batch is split unevenly. */
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist.h"
#include "core/parallel.h"
#include "core/reduce.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The check before every step, cut over the threads as the optimizer's
 * step will be (ol_optim_step_parts): each core then reads the part of the
 * gradient it is about to update, which stays in its cache for the
 * update, instead of the caller pulling every line in first. A step that
 * is not cut gets a check that is not cut. Each part reports in its own
 * slot. */
typedef struct finite_job {
    const ol_tensor *g;
    int ok[OL_PARALLEL_MAXPARTS];
} finite_job;

static void finite_part(void *p, int64_t begin, int64_t end, int part) {
    finite_job *j = p;
    const char *base = (const char *)ol_tensor_data(j->g) + (size_t)begin * ol_dtype_size(j->g->dtype);
    j->ok[part] = ol_all_finite(j->g->dtype, base, end - begin);
}

int ol_train_grads_finite(const ol_optim *opt, const ol_tensor *g) {
    if (ol_optim_step_parts(opt) < 2)
        return ol_all_finite(g->dtype, ol_tensor_data(g), ol_tensor_numel(g));
    finite_job j = {.g = g};
    for (int k = 0; k < OL_PARALLEL_MAXPARTS; k++) j.ok[k] = 1;
    ol_parallel_for(ol_tensor_numel(g), OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, finite_part, &j);
    for (int k = 0; k < OL_PARALLEL_MAXPARTS; k++)
        if (!j.ok[k]) return 0;
    return 1;
}

/* ---- a run ---- */

/* What the loop keeps from step to step. */
typedef struct run {
    const ol_train_config *c;
    ol_batch batch;       /* the training batches, made at the start */
    ol_evaluator val;     /* validation's batch, made at its first pass */
    ol_tensor w, g;       /* the model's flat parameters and gradient */
    ol_tensor backup;     /* with a lookahead: w before the move */
    int lookahead;        /* the optimizer moves w before the gradient (nag) */
    int sharded;          /* distributed: the loader reads this rank's shard */
    int dist;             /* ... and there is more than one rank */
    int stop;             /* a callback, max_steps or a non-finite batch ends the run */
    double comm;          /* seconds in collectives */
    double t0;            /* when the steps began */
    int64_t steps;        /* steps taken in this run */
    double loss_sum;      /* this epoch: loss x rows, rows and correct rows */
    int64_t seen, correct;
    ol_train_state s;
} run;

/* One batch's figures: mean loss, correct predictions, rows (the global
 * batch's, once reduced). */
typedef struct figures {
    double loss;
    int64_t correct, n;
} figures;

static int check_config(const ol_train_config *c, ol_error *err) {
    if (!c->model || !c->opt || !c->loader) return ol_fail(err, "model, optimizer and data are required");
    if (c->epochs < 1) return ol_fail(err, "epochs must be >= 1, got %lld", (long long)c->epochs);
    if (c->every < 1) return ol_fail(err, "every must be >= 1, got %lld", (long long)c->every);
    if (c->opt->dtype != ol_model_dtype(c->model))
        return ol_fail(err, "the optimizer is %s but the model is %s", ol_dtype_name(c->opt->dtype),
                       ol_dtype_name(ol_model_dtype(c->model)));
    if (c->opt->n != ol_model_nparams(c->model))
        return ol_fail(err, "the optimizer holds %lld parameters but the model has %lld",
                       (long long)c->opt->n, (long long)ol_model_nparams(c->model));
    if (c->validate && c->validate->d != ol_model_in_features(c->model))
        return ol_fail(err, "the validation data have %lld features but the model takes %lld",
                       (long long)c->validate->d, (long long)ol_model_in_features(c->model));
    return 0;
}

/* A callback's verdict v: 0 go on, 1 stop (sets *stop), -1 abort (fails). */
static int verdict(int v, int *stop, ol_error *err) {
    if (v < 0) return ol_fail(err, "stopped by a callback");
    if (v > 0) *stop = 1;
    return 0;
}

/* Checks the configuration; makes the batch for the loader's data with the
 * loss's target and the model's workspaces for it; in a distributed run
 * starts from rank 0's weights and shards the loader. */
static int run_begin(run *r, const ol_train_config *c, ol_error *err) {
    memset(r, 0, sizeof *r);
    r->c = c;
    r->s.epochs = c->epochs;
    r->s.val_loss = r->s.val_accuracy = r->s.grad_norm = r->s.comm_time = NAN;
    if (check_config(c, err)) return -1;
    ol_model *m = c->model;
    ol_target_form form;
    if (ol_loader_batch_init(c->loader, &r->batch, ol_model_dtype(m), err) ||
        ol_train_target(m, c->loss, r->batch.d, r->batch.classes, &form, err))
        return -1;
    if (r->batch.rows < 1) return ol_fail(err, "the data set is empty");
    if (ol_batch_set_target(&r->batch, form, ol_model_out_features(m), err) ||
        ol_model_reserve(m, r->batch.rows, err))
        return -1;
    ol_model_params(m, &r->w);
    ol_model_grads(m, &r->g);
    /* An optimizer with a lookahead (nag) moves w before the gradient is
     * computed; a copy of w from before the move lets a non-finite batch
     * leave the parameters exactly as the last good step left them. */
    r->lookahead = ol_optim_has_prepare(c->opt);
    if (r->lookahead && ol_tensor_clone(&r->w, &r->backup, err)) return -1;
    if (c->distributed) {
        const double t1 = now();
        r->sharded = 1;
        if (ol_dist_init(err) || ol_dist_broadcast_tensor(&r->w, 0, err) ||
            ol_loader_set_shard(c->loader, ol_dist_rank(), ol_dist_size(), err))
            return -1;
        r->dist = ol_dist_size() > 1;
        r->comm += now() - t1;
        r->s.comm_time = r->comm;
    }
    r->s.batches = ol_loader_num_batches(c->loader);
    r->s.step = c->opt->t;
    r->t0 = now();
    return 0;
}

static void run_end(run *r, ol_train_state *final) {
    ol_tensor_release(&r->w);
    ol_tensor_release(&r->g);
    ol_tensor_release(&r->backup);
    if (r->sharded) ol_loader_set_shard(r->c->loader, 0, 1, NULL); /* (0, 1) cannot fail */
    ol_batch_free(&r->batch);
    ol_evaluator_free(&r->val);
    if (final) *final = r->s;
}

/* A new epoch: its order drawn (rank 0's, whatever the other ranks' RNGs
 * did), its sums cleared. */
static int epoch_begin(run *r, int64_t epoch, ol_error *err) {
    r->s.epoch = epoch;
    r->s.batch = 0;
    r->s.epoch_loss = r->s.epoch_accuracy = NAN;
    r->loss_sum = 0;
    r->seen = r->correct = 0;
    ol_loader_start_epoch(r->c->loader);
    if (!r->dist) return 0;
    const double t1 = now();
    if (ol_loader_sync_order(r->c->loader, 0, err)) return -1;
    r->comm += now() - t1;
    return 0;
}

/* ---- a step ---- */

/* Forward, loss and backward of the batch into the model's flat gradient,
 * at the optimizer's evaluation point: with a lookahead, w is kept in
 * backup and moved first. A shard's empty slice computes nothing. */
static int evaluate(run *r, figures *f, ol_error *err) {
    const ol_batch *b = &r->batch;
    *f = (figures){0, 0, b->n};
    if (r->lookahead) {
        memcpy(ol_tensor_data(&r->backup), ol_tensor_data(&r->w),
               (size_t)ol_tensor_numel(&r->w) * ol_dtype_size(r->w.dtype));
        if (ol_optim_prepare(r->c->opt, &r->w, err)) return -1;
    }
    if (b->n == 0) return 0;
    return ol_model_evaluate(r->c->model, b->x, b->n, r->c->loss, &b->target, &f->loss, err);
}

static void count(const run *r, figures *f) {
    if (r->batch.n > 0) f->correct = ol_count_correct(r->c->model, &r->batch);
}

/* Distributed: this rank's mean gradient g over its n of the global
 * batch's m rows becomes the gradient of the global mean, the sum over
 * ranks of (n_r / m) g_r, and the loss and correct count the global
 * batch's; f->n becomes m. An empty slice contributes zeros. */
static int reduce(run *r, figures *f, ol_error *err) {
    const int64_t m = r->batch.global;
    const double t0 = now();
    double sums[2] = {f->n > 0 ? f->loss * (double)f->n : 0, (double)f->correct};
    if (f->n == 0) ol_fill_(&r->g, 0);
    else if (f->n != m) ol_binary_scalar_(OL_MUL, &r->g, (double)f->n / (double)m);
    if (ol_dist_allreduce_tensor(&r->g, OL_DIST_SUM, err) ||
        ol_dist_allreduce(sums, 2, OL_F64, OL_DIST_SUM, err))
        return -1;
    r->comm += now() - t0;
    f->loss = sums[0] / (double)m;
    f->correct = (int64_t)sums[1];
    f->n = m;
    return 0;
}

/* The gradient's norm is taken where it is reported: at on_step's steps,
 * the last batch of an epoch (on_epoch and the epoch log line), the last
 * step of the run, or every step with grad_norm = true. */
static double grad_norm(const run *r, int64_t t) {
    const ol_train_config *c = r->c;
    const int reported = c->grad_norm || t % c->every == 0 || r->s.batch + 1 >= r->s.batches ||
                         (c->max_steps > 0 && r->steps + 1 >= c->max_steps);
    if (!reported) return NAN;
    return sqrt(ol_sum_squares(r->g.dtype, ol_tensor_data(&r->g), ol_tensor_numel(&r->g)));
}

/* A NaN in the gradient must be caught at every step, whatever
 * on_nonfinite says. At batch 1 the model shows it from the factors of
 * the gradient (nn.h), saving a pass; the allreduce of a distributed run
 * brings in other ranks' values. */
static int finite(const run *r, const figures *f) {
    return isfinite(f->loss) && ((!r->dist && ol_model_grads_known_finite(r->c->model)) ||
                                 ol_train_grads_finite(r->c->opt, &r->g));
}

/* A batch with a non-finite loss or gradient takes no step: the lookahead
 * move is undone, so that w and the optimizer's state are those of the
 * last good step; on_nonfinite then fails the run, stops it, or skips the
 * batch (which still counts as one of the epoch's). */
static int nonfinite(run *r, const figures *f, int64_t t, ol_error *err) {
    if (r->lookahead)
        memcpy(ol_tensor_data(&r->w), ol_tensor_data(&r->backup),
               (size_t)ol_tensor_numel(&r->w) * ol_dtype_size(r->w.dtype));
    switch (r->c->on_nonfinite) {
    case OL_NONFINITE_STOP:
        r->s.nonfinite_stop = 1;
        r->stop = 1;
        return 0;
    case OL_NONFINITE_SKIP:
        r->s.skipped++;
        r->s.batch++;
        return 0;
    default:
        return ol_fail(err, "non-finite %s at step %lld (epoch %lld, batch %lld)",
                       isfinite(f->loss) ? "gradient" : "loss", (long long)t,
                       (long long)r->s.epoch, (long long)(r->s.batch + 1));
    }
}

/* The step's figures into the state, then the callbacks after a step. */
static int record(run *r, const figures *f, double gnorm, ol_error *err) {
    const ol_train_config *c = r->c;
    ol_train_state *s = &r->s;
    r->correct += f->correct;
    r->loss_sum += f->loss * (double)f->n;
    r->seen += f->n;
    r->steps++;
    s->batch++;
    s->step = c->opt->t;
    s->samples += f->n;
    s->loss = f->loss;
    s->accuracy = (double)f->correct / (double)f->n;
    s->epoch_loss = r->loss_sum / (double)r->seen;
    s->epoch_accuracy = (double)r->correct / (double)r->seen;
    s->grad_norm = gnorm;
    s->elapsed = now() - r->t0;
    s->samples_per_s = s->elapsed > 0 ? (double)s->samples / s->elapsed : 0;
    if (c->distributed) s->comm_time = r->comm;
    if (c->on_batch && verdict(c->on_batch(c->ctx, s), &r->stop, err)) return -1;
    if (c->on_step && s->step % c->every == 0 && verdict(c->on_step(c->ctx, s), &r->stop, err))
        return -1;
    if (c->max_steps > 0 && r->steps >= c->max_steps) r->stop = 1;
    return 0;
}

/* ---- an epoch's end ---- */

/* Validation figures over c->validate; distributed, rank r evaluates the
 * r-th of `size` contiguous slices of the rows and one allreduce adds the
 * sums up. */
static int validate(run *r, ol_error *err) {
    const ol_dataset *ds = r->c->validate;
    const int64_t chunk = r->batch.rows < 1024 ? 1024 : r->batch.rows;
    int64_t begin = 0, end = ds->n, correct;
    double sums[2];
    if (ds->n == 0) return ol_fail(err, "the data set is empty");
    if (r->dist) {
        const int64_t size = ol_dist_size(), rank = ol_dist_rank(), q = (ds->n + size - 1) / size;
        begin = rank * q < ds->n ? rank * q : ds->n;
        end = begin + q < ds->n ? begin + q : ds->n;
    }
    if (ol_evaluate_rows(r->c->model, ds, r->c->loss, chunk, begin, end, &r->val, &sums[0],
                         &correct, err))
        return -1;
    sums[1] = (double)correct; /* exact up to 2^53 samples */
    if (r->dist) {
        const double t0 = now();
        if (ol_dist_allreduce(sums, 2, OL_F64, OL_DIST_SUM, err)) return -1;
        r->comm += now() - t0;
    }
    r->s.val_loss = sums[0] / (double)ds->n;
    r->s.val_accuracy = sums[1] / (double)ds->n;
    return 0;
}

/* Validation (unless the run stopped before this epoch's first step), then
 * on_epoch. */
static int epoch_end(run *r, ol_error *err) {
    const ol_train_config *c = r->c;
    if (c->validate && !(r->stop && r->s.batch == 0) && validate(r, err)) return -1;
    r->s.elapsed = now() - r->t0;
    if (c->distributed) r->s.comm_time = r->comm;
    return c->on_epoch ? verdict(c->on_epoch(c->ctx, &r->s), &r->stop, err) : 0;
}

int ol_train_run(const ol_train_config *c, ol_train_state *final, ol_error *err) {
    run r;
    int rc = run_begin(&r, c, err);
    for (int64_t epoch = 1; rc == 0 && !r.stop && epoch <= c->epochs; epoch++) {
        rc = epoch_begin(&r, epoch, err);
        while (rc == 0 && !r.stop && ol_loader_next_batch(c->loader, &r.batch) > 0) {
            const int64_t t = c->opt->t + 1;
            if (c->before_step && (rc = verdict(c->before_step(c->ctx, t), &r.stop, err))) break;
            if (r.stop) break;
            figures f;
            if ((rc = evaluate(&r, &f, err))) break;
            count(&r, &f);
            if (r.dist && (rc = reduce(&r, &f, err))) break;
            const double gnorm = grad_norm(&r, t);
            if (!finite(&r, &f)) {
                rc = nonfinite(&r, &f, t, err);
                continue;
            }
            if ((rc = ol_optim_step(c->opt, &r.w, &r.g, f.loss, r.lookahead, err))) break;
            rc = record(&r, &f, gnorm, err);
        }
        if (rc == 0) rc = epoch_end(&r, err);
    }
    run_end(&r, final);
    return rc;
}
