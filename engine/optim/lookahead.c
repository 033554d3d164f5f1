/* lookahead: k steps forward, 1 step back (Zhang, Lucas, Hinton and Ba,
 * NeurIPS 2019), around any optimizer, the inner:
 *
 *   φ <- w                               at the first step (after a reset)
 *   w <- inner's step of w               every step; its state is kept
 *   c <- c + 1                           steps since the last sync
 *   when c >= k:  φ <- φ + α·(w − φ),  w <- φ,  c <- 0
 *
 * Source: the authors' implementation, michaelrzhang/lookahead
 * (lookahead_pytorch.py, pullback_momentum = "none"), which counts the
 * inner steps and after the k-th interpolates and copies back. Where it
 * differs: α defaults to 0.5 (the paper's; theirs to 0.8); the update is
 * written φ + α(w − φ) as the API states it (theirs α·w + (1 − α)·φ, the
 * same number up to rounding); φ starts at w at construction and again at
 * the first step after a reset (theirs only at construction; they have no
 * reset); the counter is kept per group, so that groups may have their own
 * k (one counter there); their checkpoint (state_dict) holds the inner's
 * state only, ours holds φ, the counters and the inner too. No "pullback"
 * or "reset" of the inner's momentum.
 *
 * Options: k=5 (an integer >= 1), alpha=0.5 (in [0, 1]), both live and
 * per group: a new k is compared with the steps counted since the last
 * sync. State: slow_weights (φ, full length). Scalar state per group: c.
 * The pass is elementwise over the inner's ranges (elements in no
 * parameter tensor are left alone), cut among the threads as a fused step,
 * so the result does not depend on the number of threads. */
#ifndef OL_GENERIC
#include "optim/optim.h"

#include <string.h>

#include "core/parallel.h"

enum { K, ALPHA, NSLOTS };
enum { SC_SINCE_SYNC };

static const ol_optim_option options[] = {
    {.name = "k", .type = OL_OPT_NUMBER, .slot = K, .def = {5}, .lo = 1, .hi = INFINITY},
    {.name = "alpha", .type = OL_OPT_NUMBER, .slot = ALPHA, .def = {0.5}, OL_UNIT_CLOSED},
};
static const char *const state_names[] = {"slow_weights"};

static int check(const double *o, ol_error *err) {
    if (o[K] != floor(o[K]) || o[K] > 9007199254740992.0)
        return ol_fail(err, "option 'k' must be an integer >= 1, got %g", o[K]);
    return 0;
}

const ol_optim_desc ol_optim_lookahead = {
    .name = "lookahead",
    .kind = OL_OPTIM_WRAPPER,
    .options = options,
    .noptions = sizeof options / sizeof options[0],
    .nslots = NSLOTS,
    .state_names = state_names,
    .nstate = 1,
    .nscalars = 1,
    .check = check,
    .doc = "Lookahead around any optimizer: every k steps φ <- φ + α(w − φ), w <- φ "
           "(Zhang et al. 2019)",
};

const ol_optim_desc *const ol_optim_wrappers[] = {&ol_optim_lookahead, NULL};

/* The sync of one range, for float and double: lookahead_sync_f32, _f64. */
#define OL_GENERIC "optim/lookahead.c"
#include "core/generic.h"

static int check_w(const ol_optim *opt, const ol_tensor *w, ol_error *err) {
    if (w->dtype != opt->dtype)
        return ol_fail(err, "params is %s but the optimizer works in %s", ol_dtype_name(w->dtype),
                       ol_dtype_name(opt->dtype));
    if (ol_tensor_numel(w) != opt->n)
        return ol_fail(err, "params has %lld elements, the parameters %lld",
                       (long long)ol_tensor_numel(w), (long long)opt->n);
    if (!ol_tensor_is_contiguous(w)) return ol_fail(err, "params must be contiguous");
    return 0;
}

int ol_optim_wrap(ol_optim *opt, ol_optim *inner, const ol_tensor *w, ol_error *err) {
    const char *name = opt->desc->name;
    if (opt->desc->kind != OL_OPTIM_WRAPPER) return ol_fail(err, "%s is no wrapper", name);
    if (inner->desc->kind == OL_OPTIM_WRAPPER)
        return ol_fail(err, "%s cannot wrap %s, itself a wrapper: wrap its inner optimizer (%s) "
                       "instead", name, inner->desc->name,
                       inner->inner ? inner->inner->desc->name : "none");
    if (opt->t != 0 || opt->inner)
        return ol_fail(err, "%s wraps an optimizer already", name);
    if (inner->dtype != opt->dtype || inner->n != opt->n)
        return ol_fail(err, "%s works in %s over %lld parameters, the inner optimizer in %s over "
                       "%lld", name, ol_dtype_name(opt->dtype), (long long)opt->n,
                       ol_dtype_name(inner->dtype), (long long)inner->n);
    if (check_w(opt, w, err)) return -1;
    /* The inner's tensors and groups; every group starts from group 1's options. */
    if (ol_optim_set_params(opt, inner->params, inner->nparams, inner->ngroups, err)) return -1;
    memcpy(ol_tensor_data(&opt->state[0]), ol_tensor_data(w),
           (size_t)opt->n * ol_dtype_size(opt->dtype));
    opt->inner = inner;
    opt->eval_mode = inner->eval_mode;
    return 0;
}

int ol_optim_wrapper_begin(ol_optim *opt, const ol_tensor *w, ol_error *err) {
    if (!opt->inner) return ol_fail(err, "%s has no inner optimizer", opt->desc->name);
    if (check_w(opt, w, err)) return -1;
    if (opt->t == 0) /* φ starts at w */
        memcpy(ol_tensor_data(&opt->state[0]), ol_tensor_data(w),
               (size_t)opt->n * ol_dtype_size(opt->dtype));
    return 0;
}

typedef struct sync_job {
    ol_dtype dt;
    void *w, *phi; /* at the range's first element */
    double alpha;
} sync_job;

static void sync_part(void *p, int64_t begin, int64_t end, int part) {
    (void)part;
    const sync_job *j = p;
    if (j->dt == OL_F32)
        lookahead_sync_f32((float *)j->w + begin, (float *)j->phi + begin, end - begin, j->alpha);
    else
        lookahead_sync_f64((double *)j->w + begin, (double *)j->phi + begin, end - begin, j->alpha);
}

int ol_optim_wrapper_end(ol_optim *opt, ol_tensor *w, ol_error *err) {
    if (!opt->inner) return ol_fail(err, "%s has no inner optimizer", opt->desc->name);
    if (check_w(opt, w, err)) return -1;
    for (int i = 0; i < opt->ngroups; i++) opt->groups[i].scalars[SC_SINCE_SYNC] += 1;
    const size_t es = ol_dtype_size(opt->dtype);
    for (int i = 0; i < opt->nranges; i++) {
        const ol_optim_range *r = &opt->ranges[i];
        const ol_optim_group *g = &opt->groups[r->group];
        if (g->scalars[SC_SINCE_SYNC] < g->o[K]) continue;
        sync_job j = {.dt = opt->dtype,
                      .w = (char *)ol_tensor_data(w) + (size_t)r->offset * es,
                      .phi = (char *)ol_tensor_data(&opt->state[0]) + (size_t)r->offset * es,
                      .alpha = g->o[ALPHA]};
        ol_parallel_for(r->n, OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, sync_part, &j);
    }
    for (int i = 0; i < opt->ngroups; i++)
        if (opt->groups[i].scalars[SC_SINCE_SYNC] >= opt->groups[i].o[K])
            opt->groups[i].scalars[SC_SINCE_SYNC] = 0;
    opt->t++;
    return 0;
}

#else /* the sync for one element type T */

/* φ <- φ + α(w − φ), w <- φ over n elements. */
static void S(lookahead_sync)(T *restrict w, T *restrict phi, int64_t n, double alpha) {
    const T a = (T)alpha;
    for (int64_t i = 0; i < n; i++) {
        const T p = phi[i] + a * (w[i] - phi[i]);
        phi[i] = p;
        w[i] = p;
    }
}

#endif
