/* The epoch loop (see train.h). A step reads:
 *
 *   next batch  the loader gathers the batch's rows, turns their labels
 *               into the loss's target (data/batch.h), and has the memory
 *               system fetch the rows of the batch after;
 *   evaluate    (with on_nonfinite stop or skip, a copy of w and the
 *               optimizer's state first) the optimizer's lookahead move
 *               if it has one (nag), then forward + loss + backward into
 *               the model's flat gradient;
 *   count       the correct predictions; a distributed run then sums the
 *               gradient, loss, count and stop requests over the ranks
 *               (reduce);
 *   step        the non-finite check, the gradient norm where it is
 *               reported, one optimizer step over the flat parameters,
 *               the check that the new parameters are finite;
 *   average     with a weight average, its update from the new w;
 *
 * then the run's figures and the callbacks. In reduce, each rank weights
 * its mean gradient by its share n_r / m of the global batch, so that the
 * sum is the gradient of the mean over the whole global batch, as one
 * process with size * batch_size rows computes it (up to summation order),
 * also when the last global batch is split unevenly. */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/parallel.h"
#include "core/reduce.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The finiteness checks, the gradient's before a step and the
 * parameters' after it, are cut over the threads as the optimizer's step
 * is (ol_optim_step_parts): each core then reads the part of the buffer
 * it is about to update or has just updated, which is in its cache,
 * instead of the caller pulling every line in. A step that is not cut
 * gets a check that is not cut. Each part reports in its own slot. */
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

/* A copy of a buffer, cut over the threads as the step is (so that each
 * core copies what it then updates): the snapshot before a step and its
 * restore. */
typedef struct copy_job {
    char *dst;
    const char *src;
    size_t esize;
} copy_job;

static void copy_part(void *p, int64_t begin, int64_t end, int part) {
    (void)part;
    const copy_job *j = p;
    const size_t off = (size_t)begin * j->esize, len = (size_t)(end - begin) * j->esize;
    memcpy(j->dst + off, j->src + off, len);
}

static void copy_buffer(const ol_optim *opt, copy_job *j, int64_t n) {
    if (ol_optim_step_parts(opt) < 2) copy_part(j, 0, n, 0);
    else ol_parallel_for(n, OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, copy_part, j);
}

/* ---- a run ---- */

/* One batch's figures (or a step's batches', with accumulation): mean
 * loss, correct predictions, rows (the global batch's, once reduced), the
 * global batch's rows; stops: ranks that asked to stop before it; count:
 * what the loss's mean divides by (loss_count). */
typedef struct figures {
    double loss;
    int64_t correct, n, global;
    int stops;
    double count;
} figures;

/* What the loop keeps from step to step. */
typedef struct run {
    const ol_train_config *c;
    ol_batch batch;       /* the training batches, made at the start */
    ol_evaluator val;     /* validation's batch, made at its first pass */
    ol_tensor w, g;       /* the model's flat parameters and gradient */
    ol_tensor backup;     /* keep or a lookahead: w before the step (and the move) */
    ol_tensor saved[OL_OPTIM_MAXSTATE]; /* keep: the optimizer's state before the step */
    ol_optim_group *saved_groups;       /* keep: each group's scalars before the step */
    int64_t saved_t;
    /* keep, for a wrapper (lookahead): the same of its inner optimizer */
    ol_tensor saved_inner[OL_OPTIM_MAXSTATE];
    ol_optim_group *saved_inner_groups;
    int64_t saved_inner_t;
    int keep;             /* on_nonfinite stop or skip: a bad step is undone */
    int lookahead;        /* the optimizer moves w before the gradient (nag) */
    int sharded;          /* with a world: the loader reads this rank's shard */
    int dist;             /* ... and there is more than one rank */
    int stop;             /* a callback, max_steps or a non-finite batch ends the run */
    double comm;          /* seconds in collectives */
    double t0;            /* when the steps began */
    int64_t steps;        /* steps taken in this run */
    int64_t at_pos, at_epoch; /* the loader's place after the loop's last read */
    /* accumulate > 1: the step's batches so far, the sum of their mean
     * gradients each times its count, their figures summed (loss x count) */
    int64_t in_window;
    ol_tensor acc;
    figures win;
    double *sumsq;        /* the gradient norm's chunk sums (core/reduce.h) */
    int asked;            /* before_step asked to stop before this step */
    ol_train_state s;
} run;

/* The count the mean loss of batch b divides by: its rows, or for
 * cross_entropy with class weights the sum of its rows' class weights
 * (torch's weighted mean), so that batches and ranks combine into the mean
 * over all their rows. */
static double loss_count(const ol_loss_spec *l, const ol_batch *b) {
    if (l->kind != OL_LOSS_CROSS_ENTROPY || !l->weight || !b->target.ids) return (double)b->n;
    double d = 0;
    for (int64_t i = 0; i < b->n; i++) d += l->weight[b->target.ids[i]];
    return d;
}

static int check_config(const ol_train_config *c, ol_error *err) {
    if (!c->model || !c->opt || !c->loader) return ol_fail(err, "model, optimizer and data are required");
    if (c->epochs < 1) return ol_fail(err, "epochs must be >= 1, got %lld", (long long)c->epochs);
    if (c->every < 1) return ol_fail(err, "every must be >= 1, got %lld", (long long)c->every);
    if (c->accumulate < 0)
        return ol_fail(err, "accumulate must be >= 1, got %lld", (long long)c->accumulate);
    if (c->resume && (c->resume->epoch < 1 || c->resume->epoch > c->epochs || c->resume->batch < 0))
        return ol_fail(err, "cannot resume at epoch %lld, batch %lld of a run of %lld epochs",
                       (long long)c->resume->epoch, (long long)c->resume->batch, (long long)c->epochs);
    if (ol_loss_check(&c->loss, ol_model_out_features(c->model), err)) return -1;
    if (!(c->clip_grad_norm >= 0) || !isfinite(c->clip_grad_norm))
        return ol_fail(err, "clip_grad_norm must be a finite number > 0, got %g", c->clip_grad_norm);
    if (!(c->clip_grad_value >= 0) || !isfinite(c->clip_grad_value))
        return ol_fail(err, "clip_grad_value must be a finite number > 0, got %g", c->clip_grad_value);
    if (c->clip_grad_norm > 0 && c->clip_grad_value > 0)
        return ol_fail(err, "give clip_grad_norm or clip_grad_value, not both");
    if (c->opt->dtype != ol_model_dtype(c->model))
        return ol_fail(err, "the optimizer is %s but the model is %s", ol_dtype_name(c->opt->dtype),
                       ol_dtype_name(ol_model_dtype(c->model)));
    if (c->opt->n != ol_model_nparams(c->model))
        return ol_fail(err, "the optimizer holds %lld parameters but the model has %lld",
                       (long long)c->opt->n, (long long)ol_model_nparams(c->model));
    for (int i = 0; i < c->opt->ngroups; i++)
        if (ol_optim_check_dtype(c->opt->desc, c->opt->dtype, c->opt->groups[i].o, err)) return -1;
    if (c->opt->eval_mode || (c->opt->inner && c->opt->inner->eval_mode))
        return ol_fail(err, "the optimizer (%s) is in eval mode: call opt:train() before training",
                       c->opt->desc->name);
    if (c->average) {
        ol_tensor w;
        ol_model_params(c->model, &w);
        const int same = ol_average_of(c->average, &w);
        ol_tensor_release(&w);
        if (!same)
            return ol_fail(err, "the average is of other weights than the model's (it was built over "
                           "another model or tensor): build it over the model");
    }
    if (c->validate && c->validate->d != ol_model_in_features(c->model))
        return ol_fail(err, "the validation data have %lld features but the model takes %lld",
                       (long long)c->validate->d, (long long)ol_model_in_features(c->model));
    return 0;
}

/* ---- what the ranks must agree on ---- */

/* The fields every rank sends, as doubles (counts are exact below 2^53),
 * then the optimizer's option values by slot. */
enum {
    AG_DTYPE, AG_NPARAMS, AG_LAYERS, AG_ARCH, AG_OPTIM, AG_STEP, AG_LOSS, AG_NONFINITE,
    AG_BATCH, AG_DROP_LAST, AG_EPOCHS, AG_MAX_STEPS, AG_SAMPLES, AG_FEATURES, AG_CLASSES,
    AG_VALIDATE, AG_AVERAGE, AG_LOSS_OPTIONS, AG_OPTIONS
};
/* After the options: a digest of the groups (groups_digest), compared
 * last so that a difference in group 1's options is named first. */
#define AG_GROUPS (AG_OPTIONS + OL_OPTIM_MAXSLOTS)
#define AG_FIELDS (AG_GROUPS + 1)

static const char *const ag_names[AG_OPTIONS] = {
    "dtype", "parameter count", "layer count", "layers", "optimizer", "step (opt.t)", "loss",
    "on_nonfinite", "batch_size", "drop_last", "epochs", "max_steps", "dataset size",
    "feature count", "class count", "validation set size", "average update count (avg.t)",
    "loss options"};

/* FNV-1a over n bytes, from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t k = 0; k < n; k++) h = (h ^ b[k]) * 1099511628211u;
    return h;
}

/* The layers' kinds, widths and activations, hashed (FNV-1a) to 52 bits,
 * which a double holds exactly. */
static double arch_digest(const ol_model *m) {
    uint64_t h = 1469598103934665603u;
    for (int i = 0; i < ol_model_nlayers(m); i++) {
        const ol_layer_spec *l = ol_model_layer(m, i);
        const int64_t v[4] = {(int64_t)l->kind, l->in, l->out, (int64_t)l->act};
        h = fnv(h, v, sizeof v);
        if (l->kind == OL_LAYER_LAYER_NORM || l->kind == OL_LAYER_BATCH_NORM) {
            const double d[3] = {l->eps, l->momentum, (double)l->affine};
            h = fnv(h, d, sizeof d);
        }
        if (l->kind == OL_LAYER_DROPOUT) h = fnv(h, &l->p, sizeof l->p);
        if (l->kind == OL_LAYER_ACT && l->act == OL_ACT_LEAKY_RELU) h = fnv(h, &l->slope, sizeof l->slope);
    }
    return (double)(h >> 12);
}

/* The optimizer's groups: their count, every group's options, and the
 * tensors with their groups, hashed (FNV-1a) to 52 bits. Group 1's options
 * are also sent one by one, so a difference there is named. */
static uint64_t groups_hash(const ol_optim *opt) {
    uint64_t h = fnv(1469598103934665603u, &opt->ngroups, sizeof opt->ngroups);
    for (int i = 0; i < opt->ngroups; i++) h = fnv(h, opt->groups[i].o, sizeof opt->groups[i].o);
    for (int i = 0; i < opt->nparams; i++) {
        const ol_optim_param *p = &opt->params[i];
        const int64_t v[4] = {p->offset, p->rows, p->cols, p->group};
        h = fnv(h, v, sizeof v);
    }
    if (opt->inner) { /* a wrapper (lookahead): its inner's name, step count and groups too */
        const ol_optim *in = opt->inner;
        const uint64_t ih = groups_hash(in);
        h = fnv(h, in->desc->name, strlen(in->desc->name));
        h = fnv(h, &in->t, sizeof in->t);
        h = fnv(h, &ih, sizeof ih);
    }
    return h;
}

/* The loss's options (smoothing, delta, class weights), hashed to 52 bits. */
static double loss_digest(const ol_loss_spec *l) {
    uint64_t h = fnv(1469598103934665603u, &l->label_smoothing, sizeof l->label_smoothing);
    h = fnv(h, &l->delta, sizeof l->delta);
    h = fnv(h, &l->nweight, sizeof l->nweight);
    if (l->weight) h = fnv(h, l->weight, (size_t)l->nweight * sizeof *l->weight);
    return (double)(h >> 12);
}

static double groups_digest(const ol_optim *opt) {
    return (double)(groups_hash(opt) >> 12);
}

static void agree_fields(const ol_train_config *c, double *v) {
    const ol_optim *opt = c->opt;
    int idx = -1;
    for (int i = 0; ol_optim_registry[i]; i++)
        if (ol_optim_registry[i] == opt->desc) idx = i;
    for (int k = 0; k < AG_FIELDS; k++) v[k] = 0;
    v[AG_DTYPE] = (double)ol_model_dtype(c->model);
    v[AG_NPARAMS] = (double)ol_model_nparams(c->model);
    v[AG_LAYERS] = (double)ol_model_nlayers(c->model);
    v[AG_ARCH] = arch_digest(c->model);
    v[AG_OPTIM] = (double)idx;
    v[AG_STEP] = (double)opt->t;
    v[AG_LOSS] = (double)c->loss.kind;
    v[AG_LOSS_OPTIONS] = loss_digest(&c->loss);
    v[AG_NONFINITE] = (double)c->on_nonfinite;
    v[AG_BATCH] = (double)c->loader->opts.batch_size;
    v[AG_DROP_LAST] = (double)c->loader->opts.drop_last;
    v[AG_EPOCHS] = (double)c->epochs;
    v[AG_MAX_STEPS] = (double)c->max_steps;
    v[AG_SAMPLES] = (double)c->loader->ds->n;
    v[AG_FEATURES] = (double)c->loader->ds->d;
    v[AG_CLASSES] = (double)c->loader->ds->classes;
    v[AG_VALIDATE] = c->validate ? (double)c->validate->n : -1;
    v[AG_AVERAGE] = c->average ? (double)c->average->t : -1;
    v[AG_GROUPS] = groups_digest(opt);
    for (int k = 0; k < opt->desc->nslots && k < OL_OPTIM_MAXSLOTS; k++)
        v[AG_OPTIONS + k] = opt->groups[0].o[k];
}

/* Field k's value v as the message shows it (an option's with `digits`
 * significant digits). */
static void ag_value(const ol_optim_desc *d, int k, double v, char *buf, size_t size, int digits) {
    static const char *const nonfinite[] = {"error", "stop", "skip"};
    int i = (int)v;
    if (k == AG_DTYPE) snprintf(buf, size, "%s", ol_dtype_name((ol_dtype)i));
    else if (k == AG_OPTIM) snprintf(buf, size, "%s", i >= 0 ? ol_optim_registry[i]->name : "?");
    else if (k == AG_LOSS) snprintf(buf, size, "%s", ol_loss_name((ol_loss_kind)i));
    else if (k == AG_NONFINITE) snprintf(buf, size, "%s", i >= 0 && i < 3 ? nonfinite[i] : "?");
    else if (k == AG_DROP_LAST) snprintf(buf, size, "%s", i ? "true" : "false");
    else if ((k == AG_VALIDATE || k == AG_AVERAGE) && v < 0) snprintf(buf, size, "none");
    else if (k >= AG_OPTIONS && d) snprintf(buf, size, "%.*g", digits, v);
    else snprintf(buf, size, "%.0f", v);
}

/* The name of option slot `slot` of d: "lr", "betas[2]". */
static void slot_name(const ol_optim_desc *d, int slot, char *buf, size_t size) {
    snprintf(buf, size, "option slot %d", slot);
    for (int i = 0; i < d->noptions; i++) {
        const ol_optim_option *op = &d->options[i];
        const int n = ol_optim_option_size(op);
        if (slot >= op->slot && slot < op->slot + n) {
            if (n == 2) snprintf(buf, size, "%s[%d]", op->name, slot - op->slot + 1);
            else snprintf(buf, size, "%s", op->name);
        }
    }
}

/* Every rank gets to the barrier within join_timeout, then gathers every
 * rank's fields and fails (all alike) at the first that differs from
 * rank 0's. */
static int agree(const ol_train_config *c, ol_error *err) {
    const ol_comm *w = c->world;
    const int size = ol_comm_size(w), rank = ol_comm_rank(w);
    const double wait = c->join_timeout > 0 ? c->join_timeout : 60;
    int rc = ol_comm_barrier_within(w, wait, err);
    if (rc > 0)
        return ol_fail(err, "rank %d: not every one of the %d ranks started the run within %g s "
                       "(join_timeout): does every rank call ol.train with distributed = true?",
                       rank, size, wait);
    if (rc < 0) return -1;
    double *v = malloc(sizeof(double) * AG_FIELDS * (size_t)(size + 1));
    if (!v) return ol_fail(err, "out of memory");
    double *all = v + AG_FIELDS;
    agree_fields(c, v);
    rc = ol_comm_allgather(w, v, all, sizeof(double) * AG_FIELDS, err);
    for (int k = 0; rc == 0 && k < AG_FIELDS; k++)
        for (int r = 1; r < size; r++) {
            const double mine = all[(size_t)r * AG_FIELDS + k], root = all[k];
            if (mine == root) continue;
            /* Options are compared only between the same optimizers, which
             * an earlier field has made sure of. */
            const ol_optim_desc *d = c->opt->desc;
            char name[64], a[64], b[64];
            if (k == AG_GROUPS) {
                rc = ol_fail(err, "ranks disagree: rank %d's optimizer has other parameter groups "
                             "(their tensors or options%s) than rank 0's", r,
                             c->opt->inner ? ", or the inner optimizer, its step or groups" : "");
                break;
            }
            if (k >= AG_OPTIONS) slot_name(d, k - AG_OPTIONS, name, sizeof name);
            else snprintf(name, sizeof name, "%s", ag_names[k]);
            if (k == AG_LOSS_OPTIONS) {
                rc = ol_fail(err, "ranks disagree: rank %d's loss options (label_smoothing, weight "
                             "or delta) differ from rank 0's", r);
                break;
            }
            if (k == AG_ARCH) {
                rc = ol_fail(err, "ranks disagree: rank %d's model has other layers (widths or "
                             "activations) than rank 0's", r);
                break;
            }
            ag_value(d, k, mine, a, sizeof a, 15);
            ag_value(d, k, root, b, sizeof b, 15);
            if (strcmp(a, b) == 0) { /* 15 digits hide the difference: all 17 */
                ag_value(d, k, mine, a, sizeof a, 17);
                ag_value(d, k, root, b, sizeof b, 17);
            }
            rc = ol_fail(err, "ranks disagree: rank %d has %s %s, rank 0 has %s", r, name, a, b);
            break;
        }
    free(v);
    return rc;
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
    if (ol_comm_size(c->world) > 1 && agree(c, err)) return -1;
    ol_model *m = c->model;
    ol_target_form form;
    if (ol_loader_batch_init(c->loader, &r->batch, ol_model_dtype(m), err) ||
        ol_train_target(m, c->loss.kind, r->batch.d, r->batch.classes, &form, err))
        return -1;
    if (r->batch.rows < 1) return ol_fail(err, "the data set is empty");
    if (ol_batch_set_target(&r->batch, form, ol_model_out_features(m), err) ||
        ol_model_reserve(m, r->batch.rows, err))
        return -1;
    ol_model_params(m, &r->w);
    ol_model_grads(m, &r->g);
    /* An optimizer with a lookahead (nag) moves w before the gradient is
     * computed; a copy of w from before the move lets a non-finite batch
     * leave the parameters exactly as the last good step left them. With
     * on_nonfinite stop or skip, a step whose result is not finite is
     * undone too: w and the optimizer's state are copied before each step
     * (memory for one more copy of each, a copy pass per step). */
    r->lookahead = ol_optim_has_prepare(c->opt);
    r->keep = c->on_nonfinite != OL_NONFINITE_ERROR;
    if ((r->lookahead || r->keep) && ol_tensor_clone(&r->w, &r->backup, err)) return -1;
    for (int i = 0; r->keep && i < c->opt->desc->nstate; i++)
        if (ol_tensor_clone(&c->opt->state[i], &r->saved[i], err)) return -1;
    if (r->keep && !(r->saved_groups = calloc((size_t)c->opt->ngroups, sizeof *r->saved_groups)))
        return ol_fail(err, "out of memory for the optimizer's groups");
    const ol_optim *in = c->opt->inner;
    for (int i = 0; r->keep && in && i < in->desc->nstate; i++)
        if (ol_tensor_clone(&in->state[i], &r->saved_inner[i], err)) return -1;
    if (r->keep && in &&
        !(r->saved_inner_groups = calloc((size_t)in->ngroups, sizeof *r->saved_inner_groups)))
        return ol_fail(err, "out of memory for the optimizer's groups");
    const int64_t n = ol_tensor_numel(&r->g);
    if (c->accumulate > 1 && ol_tensor_zeros(&r->acc, r->g.dtype, 1, &n, err)) return -1;
    if (!(r->sumsq = malloc(sizeof(double) * (size_t)(ol_sum_squares_chunks(n) + 1))))
        return ol_fail(err, "out of memory for the gradient norm's sums");
    if (c->world) {
        const double t1 = now();
        r->sharded = 1;
        /* An average made on each rank from its own first weights starts
         * from rank 0's too. */
        if (ol_comm_broadcast_tensor(c->world, &r->w, 0, err) ||
            (c->average && ol_comm_broadcast_tensor(c->world, &c->average->e, 0, err)) ||
            ol_loader_set_shard(c->loader, ol_comm_rank(c->world), ol_comm_size(c->world), err))
            return -1;
        r->dist = ol_comm_size(c->world) > 1;
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
    ol_tensor_release(&r->acc);
    free(r->sumsq);
    r->sumsq = NULL;
    for (int i = 0; i < OL_OPTIM_MAXSTATE; i++) ol_tensor_release(&r->saved[i]);
    for (int i = 0; i < OL_OPTIM_MAXSTATE; i++) ol_tensor_release(&r->saved_inner[i]);
    free(r->saved_groups);
    free(r->saved_inner_groups);
    r->saved_groups = r->saved_inner_groups = NULL;
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
    memset(&r->s.sums, 0, sizeof r->s.sums);
    ol_rng_get_state(&r->s.epoch_rng);
    ol_loader_start_epoch(r->c->loader);
    if (!r->dist) return 0;
    const double t1 = now();
    if (ol_loader_sync_order(r->c->loader, r->c->world, 0, err)) return -1;
    r->comm += now() - t1;
    return 0;
}

/* A resumed epoch (train.h, ol_train_resume): its order drawn from the RNG
 * as it was when the epoch began, the batches done passed over, the RNG
 * then as the checkpoint left it, the figures from the sums so far. */
static int epoch_resume(run *r, const ol_train_resume *res, ol_error *err) {
    if (res->batch > r->s.batches)
        return ol_fail(err, "cannot resume after batch %lld of an epoch of %lld batches",
                       (long long)res->batch, (long long)r->s.batches);
    ol_rng_state now_state;
    ol_rng_get_state(&now_state);
    ol_rng_set_state(&res->epoch_rng);
    const int rc = epoch_begin(r, res->epoch, err);
    ol_rng_set_state(&now_state);
    if (rc) return -1;
    for (int64_t k = 0; k < res->batch; k++) {
        const int64_t *idx;
        int64_t global;
        ol_loader_next_shard(r->c->loader, &idx, &global);
    }
    r->s.batch = res->batch;
    r->s.sums = res->sums;
    if (res->sums.count > 0) r->s.epoch_loss = res->sums.loss / res->sums.count;
    if (res->sums.seen > 0) r->s.epoch_accuracy = (double)res->sums.correct / (double)res->sums.seen;
    return 0;
}

/* The loop alone reads the loader during an epoch. A schedule or step
 * hook that iterates it too moves its place, and the loop would never
 * reach the epoch's end: the place is noted after each read and compared
 * after those callbacks. (on_epoch may read it: the next epoch starts
 * afresh anyway.) */
static void mark_place(run *r) {
    r->at_pos = r->c->loader->pos;
    r->at_epoch = r->c->loader->epoch;
}

static int same_place(const run *r, ol_error *err) {
    const ol_loader *l = r->c->loader;
    if (l->pos == r->at_pos && l->epoch == r->at_epoch) return 0;
    return ol_fail(err, "the training data's loader was read by a schedule or hook during the run "
                   "(epoch %lld, batch %lld): iterating it there would keep the loop from ending; "
                   "use another loader over the same data", (long long)r->s.epoch,
                   (long long)(r->s.batch + 1));
}

/* ---- a step ---- */

/* One optimizer's state (buffers, scalars, step count) into the copies
 * saved, groups, t (back = 0), or back from them (back = 1). */
static void snapshot_optim(run *r, ol_optim *opt, ol_tensor *saved, ol_optim_group *groups,
                           int64_t *t, int back) {
    for (int k = 0; k < opt->desc->nstate; k++) {
        char *live = ol_tensor_data(&opt->state[k]), *copy = ol_tensor_data(&saved[k]);
        copy_job j = {.dst = back ? live : copy, .src = back ? copy : live,
                      .esize = ol_dtype_size(r->w.dtype)};
        copy_buffer(r->c->opt, &j, ol_tensor_numel(&opt->state[k]));
    }
    for (int i = 0; i < opt->ngroups; i++) {
        double *live = opt->groups[i].scalars, *copy = groups[i].scalars;
        memcpy(back ? live : copy, back ? copy : live, sizeof opt->groups[i].scalars);
    }
    if (back) opt->t = *t;
    else *t = opt->t;
}

/* keep: w and the optimizer's state (and a wrapper's inner's) into their
 * copies (back = 0), or back from them (back = 1). */
static void snapshot(run *r, int back) {
    ol_optim *opt = r->c->opt;
    char *live = ol_tensor_data(&r->w), *copy = ol_tensor_data(&r->backup);
    copy_job j = {.dst = back ? live : copy, .src = back ? copy : live,
                  .esize = ol_dtype_size(r->w.dtype)};
    copy_buffer(opt, &j, ol_tensor_numel(&r->w));
    snapshot_optim(r, opt, r->saved, r->saved_groups, &r->saved_t, back);
    if (opt->inner)
        snapshot_optim(r, opt->inner, r->saved_inner, r->saved_inner_groups, &r->saved_inner_t,
                       back);
}

/* Before a step's first batch: with keep, w and the optimizer's state
 * copied; with a lookahead, w kept in backup and moved to the point where
 * the step's gradient is taken. */
static int step_begin(run *r, ol_error *err) {
    if (r->keep) snapshot(r, 0);
    else if (r->lookahead)
        memcpy(ol_tensor_data(&r->backup), ol_tensor_data(&r->w),
               (size_t)ol_tensor_numel(&r->w) * ol_dtype_size(r->w.dtype));
    return r->lookahead ? ol_optim_prepare(r->c->opt, &r->w, err) : 0;
}

/* What step_begin did, undone before a step that is not taken: with keep,
 * w and the optimizer's state back from their copies; with a lookahead
 * alone, the move (w as the last step left it). */
static void step_undo(run *r) {
    if (r->keep) snapshot(r, 1);
    else if (r->lookahead)
        memcpy(ol_tensor_data(&r->w), ol_tensor_data(&r->backup),
               (size_t)ol_tensor_numel(&r->w) * ol_dtype_size(r->w.dtype));
}

/* Forward, loss and backward of the batch into the model's flat gradient.
 * A shard's empty slice computes nothing. */
static int evaluate(run *r, figures *f, ol_error *err) {
    const ol_batch *b = &r->batch;
    *f = (figures){0, 0, b->n, b->global, 0, loss_count(&r->c->loss, b)};
    if (b->n == 0) return 0;
    return ol_model_evaluate(r->c->model, b->x, b->n, &r->c->loss, &b->target, &f->loss, err);
}

/* The accumulation's elementwise passes, cut over the threads as the
 * step is (the same bits on any number of threads): SET acc = a g, ADD
 * acc += a g, TAKE g = b acc, and ADD_TAKE g = b (acc + a g), the last
 * batch's ADD and the TAKE in one pass (the same roundings). */
enum { ACC_SET, ACC_ADD, ACC_TAKE, ACC_ADD_TAKE };
typedef struct acc_job {
    void *acc, *g;
    ol_dtype dt;
    int op;
    double a, b;
} acc_job;

static void acc_part(void *p, int64_t begin, int64_t end, int part) {
    (void)part;
    const acc_job *j = p;
    if (j->dt == OL_F32) {
        float *acc = j->acc, *g = j->g;
        const float a = (float)j->a, b = (float)j->b;
        for (int64_t i = begin; i < end; i++) {
            if (j->op == ACC_SET) acc[i] = a * g[i];
            else if (j->op == ACC_ADD) acc[i] += a * g[i];
            else if (j->op == ACC_TAKE) g[i] = b * acc[i];
            else g[i] = b * (acc[i] + a * g[i]);
        }
    } else {
        double *acc = j->acc, *g = j->g;
        const double a = j->a, b = j->b;
        for (int64_t i = begin; i < end; i++) {
            if (j->op == ACC_SET) acc[i] = a * g[i];
            else if (j->op == ACC_ADD) acc[i] += a * g[i];
            else if (j->op == ACC_TAKE) g[i] = b * acc[i];
            else g[i] = b * (acc[i] + a * g[i]);
        }
    }
}

static void acc_pass(run *r, int op, double a, double b) {
    acc_job j = {ol_tensor_data(&r->acc), ol_tensor_data(&r->g), r->g.dtype, op, a, b};
    const int64_t n = ol_tensor_numel(&r->g);
    if (ol_optim_step_parts(r->c->opt) < 2) acc_part(&j, 0, n, 0);
    else ol_parallel_for(n, OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, acc_part, &j);
}

/* accumulate > 1: the batch's figures into the step's, and its mean
 * gradient, times its count, into acc; the first batch of a step sets
 * them (a first batch with no rows, a shard's empty slice, sets acc to
 * zero: g holds no gradient of it). On the step's last batch (last), the
 * gradient of the mean over all the step's rows goes into g instead, and
 * the figures into f (a rank whose slices were all empty has count 0: its
 * gradient is zero and the reduce gives it no weight). */
static void add_batch(run *r, figures *f, int last) {
    figures *w = &r->win;
    const int rows = f->n > 0 && f->count > 0;
    if (r->in_window == 0) *w = (figures){0, 0, 0, 0, 0, 0};
    if (rows) {
        w->loss += f->loss * f->count;
        w->count += f->count;
    }
    w->correct += f->correct;
    w->n += f->n;
    w->global += f->global;
    const double b = w->count > 0 ? 1 / w->count : 0;
    if (!last) {
        if (rows) acc_pass(r, r->in_window == 0 ? ACC_SET : ACC_ADD, f->count, 0);
        else if (r->in_window == 0) ol_fill_(&r->acc, 0);
        return;
    }
    if (w->count == 0) ol_fill_(&r->g, 0);
    else if (!rows) acc_pass(r, ACC_TAKE, 0, b);
    else if (r->in_window > 0) acc_pass(r, ACC_ADD_TAKE, f->count, b);
    /* else a step of one batch: its gradient as it is */
    if (w->count > 0) w->loss /= w->count;
    *f = *w;
}

static void count(const run *r, figures *f) {
    if (r->batch.n > 0) f->correct = ol_count_correct(r->c->model, &r->batch);
}

/* Distributed: this rank's mean gradient g over its n of the global
 * batch's m rows becomes the gradient of the global mean, the sum over
 * ranks of (d_r / D) g_r, d_r the count this rank's mean divided by
 * (f->count: its rows, or the sum of their class weights) and D the sum of
 * them (m without class weights); the loss and correct count become the
 * global batch's; f->n becomes m; f->stops the number of ranks that asked
 * to stop. The small allreduce (these figures) goes first, since the
 * gradient's scale needs D. A slice of count 0 contributes zeros. */
static int reduce(run *r, figures *f, ol_error *err) {
    const int64_t m = f->global;
    const double t0 = now();
    const double d = f->n > 0 ? f->count : 0;
    double sums[4] = {d > 0 ? f->loss * d : 0, (double)f->correct, (double)f->stops, d};
    if (ol_comm_allreduce(r->c->world, sums, 4, OL_F64, OL_COMM_SUM, err)) return -1;
    if (d == 0) ol_fill_(&r->g, 0);
    else if (d != sums[3]) ol_binary_scalar_(OL_MUL, &r->g, d / sums[3]);
    if (ol_comm_allreduce_tensor(r->c->world, &r->g, OL_COMM_SUM, err)) return -1;
    r->comm += now() - t0;
    f->loss = sums[0] / sums[3];
    f->correct = (int64_t)sums[1];
    f->stops = (int)sums[2];
    f->n = m;
    f->count = sums[3];
    return 0;
}

/* The gradient's norm is taken where it is reported: at on_step's steps,
 * the last batch of an epoch (on_epoch and the epoch log line), the last
 * step of the run, or every step with grad_norm = true or clip_grad_norm;
 * cut over the threads in fixed chunks (ol_sum_squares_par), so that it is
 * the same on any number of threads. */
static double grad_norm(const run *r, int64_t t, int64_t nb) {
    const ol_train_config *c = r->c;
    const int reported = c->grad_norm || c->clip_grad_norm > 0 || t % c->every == 0 ||
                         r->s.batch + nb >= r->s.batches ||
                         (c->max_steps > 0 && r->steps + 1 >= c->max_steps);
    if (!reported) return NAN;
    return sqrt(ol_sum_squares_par(r->g.dtype, ol_tensor_data(&r->g), ol_tensor_numel(&r->g), r->sumsq));
}

/* Gradient clipping (train.h), on a finite gradient whose norm before
 * clipping is gnorm (computed at every step when clip_grad_norm is set):
 * an elementwise pass (the same bits on any number of threads), cut over
 * the threads as the step is, so that each core touches the part it then
 * updates. */
typedef struct clip_job {
    void *g;
    ol_dtype dt;
    int scale;     /* 1: g *= v; 0: g clamped to [-v, v] */
    double v;
} clip_job;

static void clip_part(void *p, int64_t begin, int64_t end, int part) {
    (void)part;
    const clip_job *j = p;
    if (j->dt == OL_F32) {
        float *g = (float *)j->g;
        const float v = (float)j->v;
        if (j->scale)
            for (int64_t i = begin; i < end; i++) g[i] *= v;
        else
            for (int64_t i = begin; i < end; i++) g[i] = g[i] < -v ? -v : g[i] > v ? v : g[i];
    } else {
        double *g = (double *)j->g;
        const double v = j->v;
        if (j->scale)
            for (int64_t i = begin; i < end; i++) g[i] *= v;
        else
            for (int64_t i = begin; i < end; i++) g[i] = g[i] < -v ? -v : g[i] > v ? v : g[i];
    }
}

static void clip(run *r, double gnorm) {
    const ol_train_config *c = r->c;
    clip_job j = {ol_tensor_data(&r->g), r->g.dtype, 0, c->clip_grad_value};
    if (c->clip_grad_norm > 0) {
        j.scale = 1;
        j.v = c->clip_grad_norm / (gnorm + 1e-6);
        if (!(j.v < 1)) return;
    } else if (!(c->clip_grad_value > 0)) {
        return;
    }
    const int64_t n = ol_tensor_numel(&r->g);
    if (ol_optim_step_parts(c->opt) < 2) clip_part(&j, 0, n, 0);
    else ol_parallel_for(n, OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, clip_part, &j);
}

/* A NaN in the gradient must be caught at every step, whatever
 * on_nonfinite says. A finite norm (gnorm, when it was taken: a sum of
 * squares in double is finite only when every element is) shows it
 * without another pass, and so does the model at batch 1, from the factors
 * of the gradient (nn.h), unless the allreduce of a distributed run
 * brought in other ranks' values. */
static int finite(const run *r, const figures *f, double gnorm) {
    return isfinite(f->loss) && (isfinite(gnorm) || (!r->dist && ol_model_grads_known_finite(r->c->model)) ||
                                 ol_train_grads_finite(r->c->opt, &r->g));
}

/* A batch with a non-finite loss or gradient takes no step, and a step
 * that made a parameter non-finite (an overflow: lr too large for the
 * gradient) is undone: with keep, w and the optimizer's state go back to
 * their copies from before the step; otherwise the lookahead move is
 * undone (a step already taken cannot be: with "error" the parameters
 * keep that step's values). on_nonfinite then fails the run, stops it
 * with the last good step's parameters, or skips the batch (which still
 * counts as one of the epoch's). */
static int nonfinite(run *r, const figures *f, int64_t t, int64_t nb, int stepped, ol_error *err) {
    if (r->keep || !stepped) step_undo(r);
    switch (r->c->on_nonfinite) {
    case OL_NONFINITE_STOP:
        r->s.nonfinite_stop = 1;
        r->stop = 1;
        return 0;
    case OL_NONFINITE_SKIP:
        r->s.skipped += nb;
        r->s.batch += nb;
        return 0;
    default:
        if (stepped)
            return ol_fail(err, "non-finite parameters after step %lld (epoch %lld, batch %lld): "
                           "the step overflowed (are lr and the other options too large?)",
                           (long long)t, (long long)r->s.epoch, (long long)(r->s.batch + 1));
        return ol_fail(err, "non-finite %s at step %lld (epoch %lld, batch %lld)",
                       isfinite(f->loss) ? "gradient" : "loss", (long long)t,
                       (long long)r->s.epoch, (long long)(r->s.batch + 1));
    }
}

/* The step's figures (over its nb batches) into the state, then the
 * callbacks after a step. */
static int record(run *r, const figures *f, int64_t nb, double gnorm, ol_error *err) {
    const ol_train_config *c = r->c;
    ol_train_state *s = &r->s;
    s->sums.correct += f->correct;
    s->sums.loss += f->count > 0 ? f->loss * f->count : 0;
    s->sums.count += f->count;
    s->sums.seen += f->n;
    r->steps++;
    s->batch += nb;
    s->step = c->opt->t;
    s->samples += f->n;
    s->loss = f->loss;
    s->accuracy = (double)f->correct / (double)f->n;
    s->epoch_loss = s->sums.loss / s->sums.count;
    s->epoch_accuracy = (double)s->sums.correct / (double)s->sums.seen;
    s->grad_norm = gnorm;
    s->elapsed = now() - r->t0;
    s->samples_per_s = s->elapsed > 0 ? (double)s->samples / s->elapsed : 0;
    if (c->world) s->comm_time = r->comm;
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
static int validate_rows(run *r, ol_error *err) {
    const ol_dataset *ds = r->c->validate;
    const int64_t chunk = r->batch.rows < 1024 ? 1024 : r->batch.rows;
    int64_t begin = 0, end = ds->n, correct;
    double sums[3];
    if (ds->n == 0) return ol_fail(err, "the data set is empty");
    if (r->dist) {
        const int64_t size = ol_comm_size(r->c->world), rank = ol_comm_rank(r->c->world),
                      q = (ds->n + size - 1) / size;
        begin = rank * q < ds->n ? rank * q : ds->n;
        end = begin + q < ds->n ? begin + q : ds->n;
    }
    double count;
    if (ol_evaluate_rows(r->c->model, ds, &r->c->loss, chunk, begin, end, &r->val, &sums[0],
                         &count, &correct, err))
        return -1;
    sums[1] = (double)correct; /* exact up to 2^53 samples */
    sums[2] = count;
    if (r->dist) {
        const double t0 = now();
        if (ol_comm_allreduce(r->c->world, sums, 3, OL_F64, OL_COMM_SUM, err)) return -1;
        r->comm += now() - t0;
    }
    r->s.val_loss = sums[0] / sums[2];
    r->s.val_accuracy = sums[1] / (double)ds->n;
    return 0;
}

/* The validation figures of the point to evaluate: the weight average
 * when there is one (swapped in, then out again: the same bits);
 * otherwise, for an optimizer with modes (schedule-free), its eval point,
 * then back in train mode, also after a failure, so that the hooks, the
 * checkpoints and the next step see the training point. */
static int validate(run *r, ol_error *err) {
    ol_average *avg = r->c->average;
    if (avg) {
        ol_average_swap(avg);
        const int rc = validate_rows(r, err);
        ol_average_swap(avg);
        return rc;
    }
    if (ol_optim_eval(r->c->opt, &r->w, err)) return -1;
    int rc = validate_rows(r, err);
    ol_error e;
    if (ol_optim_train(r->c->opt, &r->w, rc ? &e : err)) rc = -1;
    return rc;
}

/* Validation, then on_epoch; neither when before_step asked to stop
 * (Ctrl-C): the epoch has not ended, and a resumed run ends it. */
static int epoch_end(run *r, ol_error *err) {
    const ol_train_config *c = r->c;
    if (r->s.stop_asked) return 0;
    if (c->validate && validate(r, err)) return -1;
    r->s.elapsed = now() - r->t0;
    if (c->world) r->s.comm_time = r->comm;
    return c->on_epoch ? verdict(c->on_epoch(c->ctx, &r->s), &r->stop, err) : 0;
}

/* A batch's part of a step: before the step's first batch, before_step
 * (which may ask to stop) and step_begin; then the batch's gradient.
 * Returns 1 when the step's batches are all in (f then holds the step's
 * figures and g its gradient), 0 when more are to come, -1 on error; a
 * stop asked for alone (not distributed) sets r->stop and returns 0. */
static int take_batch(run *r, figures *f, int64_t *nb, ol_error *err) {
    const ol_train_config *c = r->c;
    const int64_t k = c->accumulate > 1 ? c->accumulate : 1;
    mark_place(r);
    if (r->in_window == 0) {
        int asked = 0;
        if (c->before_step && verdict(c->before_step(c->ctx, &r->s, c->opt->t + 1), &asked, err)) return -1;
        if (same_place(r, err)) return -1;
        /* Distributed, a stop asked for here waits for the reduce, so
         * that every rank stops before this same step. */
        if (asked && !r->dist) {
            r->s.stop_asked = r->stop = 1;
            return 0;
        }
        r->asked = asked;
        if (step_begin(r, err)) return -1;
    }
    ol_model_set_training(c->model, 1); /* steps in training mode, whatever a hook set */
    if (evaluate(r, f, err)) return -1;
    count(r, f);
    const int last = r->in_window + 1 == k || r->s.batch + r->in_window + 1 >= r->s.batches;
    if (k > 1) add_batch(r, f, last);
    *nb = ++r->in_window;
    if (!last) return 0;
    r->in_window = 0;
    f->stops = r->asked;
    return 1;
}

/* The step of the batches taken: reduce, on_grads, the checks, clipping,
 * the optimizer's step, the average, the figures and callbacks. */
static int step(run *r, figures *f, int64_t nb, ol_error *err) {
    const ol_train_config *c = r->c;
    const int64_t t = c->opt->t + 1;
    if (r->dist && reduce(r, f, err)) return -1;
    if (f->stops > 0) {
        step_undo(r);
        r->s.stop_asked = r->stop = 1;
        return 0;
    }
    if (c->on_grads) {
        ol_train_state p = r->s; /* the step's own figures, as on_step will see them */
        p.step = t;
        p.batch += nb;
        p.loss = f->loss;
        p.accuracy = (double)f->correct / (double)f->n;
        if (verdict(c->on_grads(c->ctx, &p, &r->g), &r->stop, err)) return -1;
        if (r->stop) { /* a stop asked for here: the step is not taken */
            step_undo(r);
            return 0;
        }
    }
    const double gnorm = grad_norm(r, t, nb);
    if (!finite(r, f, gnorm)) return nonfinite(r, f, t, nb, 0, err);
    clip(r, gnorm);
    if (ol_optim_step(c->opt, &r->w, &r->g, f->loss, r->lookahead, err)) return -1;
    /* The step's own result: w, just written, read back part by part in
     * the cache of the core that wrote it. */
    if (!ol_train_grads_finite(c->opt, &r->w)) return nonfinite(r, f, t, nb, 1, err);
    if (c->average) ol_average_update(c->average);
    return record(r, f, nb, gnorm, err) ? -1 : same_place(r, err);
}

int ol_train_run(const ol_train_config *c, ol_train_state *final, ol_error *err) {
    run r;
    const int mode = ol_model_training(c->model); /* restored at the end */
    int rc = run_begin(&r, c, err);
    const int64_t first = c->resume ? c->resume->epoch : 1;
    for (int64_t epoch = first; rc == 0 && !r.stop && epoch <= c->epochs; epoch++) {
        rc = epoch == first && c->resume && c->resume->begun ? epoch_resume(&r, c->resume, err)
                                                             : epoch_begin(&r, epoch, err);
        while (rc == 0 && !r.stop && ol_loader_next_batch(c->loader, &r.batch) > 0) {
            figures f;
            int64_t nb = 0;
            rc = take_batch(&r, &f, &nb, err);
            if (rc > 0) rc = step(&r, &f, nb, err);
            else if (rc == 0 && r.stop) break;
            rc = rc < 0 ? -1 : 0;
        }
        if (rc == 0) rc = epoch_end(&r, err);
    }
    /* Skipping every batch trains nothing: that is a failure, not a result. */
    if (rc == 0 && r.steps == 0 && r.s.skipped > 0)
        rc = ol_fail(err, "every batch (%lld) was skipped for a non-finite loss, gradient or step: "
                     "no step succeeded", (long long)r.s.skipped);
    run_end(&r, final);
    ol_model_set_training(c->model, mode);
    return rc;
}
