/* The optimizer instance: live option values (validated on every
 * assignment), state buffers, step count, and the dispatch of a step to the
 * descriptor's kernel for the instance's element type. */
#include "optim/optim.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"

const ol_optim_desc *ol_optim_find(const char *name) {
    for (const ol_optim_desc *const *d = ol_optim_registry; *d; d++)
        if (strcmp((*d)->name, name) == 0) return *d;
    for (const ol_optim_desc *const *d = ol_optim_wrappers; *d; d++)
        if (strcmp((*d)->name, name) == 0) return *d;
    return NULL;
}

const ol_optim_option *ol_optim_find_option(const ol_optim_desc *d, const char *name) {
    for (int i = 0; i < d->noptions; i++)
        if (strcmp(d->options[i].name, name) == 0) return &d->options[i];
    return NULL;
}

int ol_optim_enum_index(const ol_optim_option *opt, const char *choice) {
    if (opt->type != OL_OPT_ENUM || !opt->choices) return -1;
    for (int i = 0; opt->choices[i]; i++)
        if (strcmp(opt->choices[i], choice) == 0) return i;
    return -1;
}

void ol_optim_defaults(const ol_optim_desc *d, double *o) {
    for (int i = 0; i < d->noptions; i++)
        memcpy(o + d->options[i].slot, d->options[i].def,
               sizeof(double) * (size_t)ol_optim_option_size(&d->options[i]));
}

/* "must be >= 0", "must be in [0, 1)": the range as the user reads it. */
static void range_str(const ol_optim_option *op, char *buf, size_t size) {
    int lo = isfinite(op->lo), hi = isfinite(op->hi);
    if (lo && hi)
        snprintf(buf, size, "in %c%g, %g%c", op->lo_open ? '(' : '[', op->lo, op->hi,
                 op->hi_open ? ')' : ']');
    else if (lo)
        snprintf(buf, size, "%s %g", op->lo_open ? ">" : ">=", op->lo);
    else if (hi)
        snprintf(buf, size, "%s %g", op->hi_open ? "<" : "<=", op->hi);
    else
        snprintf(buf, size, "a number");
}

static int in_range(const ol_optim_option *op, double v) {
    if (isnan(v)) return 0;
    if (op->lo_open ? !(v > op->lo) : !(v >= op->lo)) return 0;
    if (op->hi_open ? !(v < op->hi) : !(v <= op->hi)) return 0;
    return 1;
}

/* One option's own range (not the rules between options). A number in
 * range must also be finite (but +Inf for an option flagged inf_is_none): an
 * infinite lr or eps turns every parameter into Inf or NaN at the first
 * step. */
/* Whether element k (0-based) of v is the option's nil (op->nil_elem). */
static int is_nil(const ol_optim_option *op, const double *v, int k) {
    return op->nil_elem == k + 1 && v[k] == op->nil_value;
}

int ol_optim_check_option(const ol_optim_option *op, const double *v, ol_error *err) {
    char r[64];
    switch (op->type) {
    case OL_OPT_BOOL:
        if (v[0] != 0 && v[0] != 1)
            return ol_fail(err, "option '%s' must be a boolean", op->name);
        return 0;
    case OL_OPT_ENUM: {
        int n = 0;
        while (op->choices && op->choices[n]) n++;
        if (!(v[0] >= 0 && v[0] < n) || v[0] != floor(v[0]))
            return ol_fail(err, "option '%s' has no choice %g", op->name, v[0]);
        return 0;
    }
    case OL_OPT_NUMBER:
        if (is_nil(op, v, 0)) return 0;
        if (!in_range(op, v[0])) {
            range_str(op, r, sizeof r);
            return ol_fail(err, "option '%s' must be %s, got %g", op->name, r, v[0]);
        }
        if (isinf(v[0]) && !(op->inf_is_none && v[0] > 0))
            return ol_fail(err, "option '%s' must be finite, got %g", op->name, v[0]);
        return 0;
    case OL_OPT_PAIR:
        for (int k = 0; k < 2; k++) {
            if (is_nil(op, v, k)) continue;
            if (!in_range(op, v[k])) {
                range_str(op, r, sizeof r);
                return ol_fail(err, "option '%s' element %d must be %s, got %g", op->name, k + 1,
                               r, v[k]);
            }
            if (isinf(v[k]))
                return ol_fail(err, "option '%s' element %d must be finite, got %g", op->name, k + 1,
                               v[k]);
        }
        return 0;
    }
    return ol_fail(err, "option '%s' has an unknown type", op->name);
}

int ol_optim_check_values(const ol_optim_desc *d, const double *o, ol_error *err) {
    for (int i = 0; i < d->noptions; i++)
        if (ol_optim_check_option(&d->options[i], o + d->options[i].slot, err)) return -1;
    return d->check ? d->check(o, err) : 0;
}

int ol_optim_check_dtype(const ol_optim_desc *d, ol_dtype dt, const double *o, ol_error *err) {
    if (dt != OL_F32) return 0;
    for (int i = 0; i < d->noptions; i++) {
        const ol_optim_option *op = &d->options[i];
        if (op->type != OL_OPT_NUMBER && op->type != OL_OPT_PAIR) continue;
        for (int k = 0; k < ol_optim_option_size(op); k++) /* +Inf: checked as inf_is_none */
            if (isfinite(o[op->slot + k]) && fabs(o[op->slot + k]) > FLT_MAX)
                return ol_fail(err, "option '%s' is %g, beyond the largest f32 (%g) the optimizer "
                               "works in", op->name, o[op->slot + k], (double)FLT_MAX);
    }
    return 0;
}

int ol_optim_init(ol_optim *opt, const ol_optim_desc *d, ol_dtype dt, int64_t n, ol_error *err) {
    memset(opt, 0, sizeof *opt);
    if (d->nslots > OL_OPTIM_MAXSLOTS || d->nstate > OL_OPTIM_MAXSTATE ||
        d->nscalars > OL_OPTIM_MAXSCALARS)
        return ol_fail(err, "optimizer '%s' exceeds the interface limits", d->name);
    if (n < 0) return ol_fail(err, "negative parameter count %lld", (long long)n);
    opt->desc = d;
    opt->dtype = dt;
    opt->n = n;
    /* One group at the defaults, one vector over the whole buffer. */
    opt->groups = calloc(1, sizeof *opt->groups);
    if (!opt->groups) return ol_fail(err, "out of memory for an optimizer");
    opt->ngroups = 1;
    ol_optim_defaults(d, opt->groups[0].o);
    const ol_optim_param whole = {.offset = 0, .rows = 1, .cols = n, .group = 0};
    opt->defer_check = 1;
    if (ol_optim_set_params(opt, &whole, n > 0, 1, err)) {
        ol_optim_free(opt);
        return -1;
    }
    opt->provisional = 1; /* until the caller sets the tensors */
    return 0;
}

/* Closure methods keep their memory in priv; it goes with a reset. */
static void priv_drop(ol_optim *opt) {
    if (opt->priv && opt->desc && opt->desc->priv_free) opt->desc->priv_free(opt->priv);
    opt->priv = NULL;
    opt->info[0] = 0;
}

void ol_optim_free(ol_optim *opt) {
    priv_drop(opt);
    for (int i = 0; i < OL_OPTIM_MAXSTATE; i++) ol_tensor_release(&opt->state[i]);
    ol_tensor_release(&opt->work);
    free(opt->params);
    free(opt->ranges);
    free(opt->groups);
    opt->params = NULL;
    opt->ranges = NULL;
    opt->groups = NULL;
    opt->nparams = opt->nranges = opt->ngroups = 0;
    opt->desc = NULL;
}

int ol_optim_find_field(const ol_optim_desc *d, const char *name, ol_optim_field *f, ol_error *err) {
    const char *br = strchr(name, '[');
    f->elem = 0;
    f->option = NULL;
    if (!br) {
        f->option = ol_optim_find_option(d, name);
    } else if ((br[1] == '1' || br[1] == '2') && strcmp(br + 2, "]") == 0) {
        /* "name[k]": the option is the part before the bracket. */
        for (int i = 0; i < d->noptions; i++) {
            const ol_optim_option *op = &d->options[i];
            if (op->type == OL_OPT_PAIR && strlen(op->name) == (size_t)(br - name) &&
                strncmp(op->name, name, (size_t)(br - name)) == 0) {
                f->option = op;
                f->elem = br[1] - '0';
            }
        }
    }
    if (!f->option) return ol_fail(err, "unknown option '%.60s' for %s", name, d->name);
    return 0;
}

/* The values of group g with field f set to v, checked, into o. */
static int field_values(const ol_optim *opt, int g, ol_optim_field f, const double *v, double *o,
                        ol_error *err) {
    const ol_optim_desc *d = opt->desc;
    const ol_optim_option *op = f.option;
    memcpy(o, opt->groups[g].o, sizeof(double) * OL_OPTIM_MAXSLOTS);
    if (f.elem) o[op->slot + f.elem - 1] = v[0];
    else memcpy(o + op->slot, v, sizeof(double) * (size_t)ol_optim_option_size(op));
    /* The other element of a pair holds a checked value already, so a
     * range error can only name the element being set. */
    if (ol_optim_check_option(op, o + op->slot, err)) return -1;
    if (op->sizes_state &&
        memcmp(o + op->slot, opt->groups[g].o + op->slot,
               sizeof(double) * (size_t)ol_optim_option_size(op)) != 0)
        return ol_fail(err, "option '%s' sizes the optimizer's state: give it at construction "
                       "(per group)", op->name);
    if (d->check && d->check(o, err)) return -1;
    if (d->check_param && !opt->provisional)
        for (int i = 0; i < opt->nparams; i++)
            if (opt->params[i].group == g && d->check_param(&opt->params[i], o, err)) return -1;
    return ol_optim_check_dtype(d, opt->dtype, o, err);
}

int ol_optim_group_set_field(ol_optim *opt, int g, ol_optim_field f, const double *v,
                             ol_error *err) {
    if (g < -1 || g >= opt->ngroups)
        return ol_fail(err, "%s has %d groups, not %d", opt->desc->name, opt->ngroups, g + 1);
    const int lo = g < 0 ? 0 : g, hi = g < 0 ? opt->ngroups : g + 1;
    /* Every group checked before any changes: on failure nothing does. */
    for (int i = lo; i < hi; i++) {
        double o[OL_OPTIM_MAXSLOTS];
        if (field_values(opt, i, f, v, o, err)) {
            if (opt->ngroups > 1) {
                char msg[sizeof err->msg];
                snprintf(msg, sizeof msg, "%s", err->msg);
                return ol_fail(err, "group %d: %s", i + 1, msg);
            }
            return -1;
        }
    }
    for (int i = lo; i < hi; i++) field_values(opt, i, f, v, opt->groups[i].o, err);
    return 0;
}

int ol_optim_set_field(ol_optim *opt, ol_optim_field f, const double *v, ol_error *err) {
    return ol_optim_group_set_field(opt, -1, f, v, err);
}


int ol_optim_set(ol_optim *opt, const char *name, const double *v, ol_error *err) {
    const ol_optim_option *op = ol_optim_find_option(opt->desc, name);
    if (!op) return ol_fail(err, "unknown option '%s' for %s", name, opt->desc->name);
    return ol_optim_set_field(opt, (ol_optim_field){.option = op, .elem = 0}, v, err);
}

void ol_optim_reset(ol_optim *opt) {
    if (opt->inner) ol_optim_reset(opt->inner); /* a wrapper: both start afresh */
    priv_drop(opt);
    opt->t = 0;
    opt->eval_mode = 0;
    for (int i = 0; i < opt->ngroups; i++) memset(opt->groups[i].scalars, 0, sizeof opt->groups[i].scalars);
    for (int i = 0; i < opt->desc->nstate; i++) ol_fill_(&opt->state[i], 0);
}

static void state_ptrs(const ol_optim *opt, void **s) {
    for (int i = 0; i < OL_OPTIM_MAXSTATE; i++)
        s[i] = i < opt->desc->nstate ? ol_tensor_data(&opt->state[i]) : NULL;
}

static int check_buffer(const ol_optim *opt, const ol_tensor *x, const char *what, ol_error *err) {
    if (x->dtype != opt->dtype)
        return ol_fail(err, "%s is %s but the optimizer works in %s", what,
                       ol_dtype_name(x->dtype), ol_dtype_name(opt->dtype));
    if (ol_tensor_numel(x) != opt->n)
        return ol_fail(err, "%s has %lld elements, the parameters %lld", what,
                       (long long)ol_tensor_numel(x), (long long)opt->n);
    if (!ol_tensor_is_contiguous(x)) return ol_fail(err, "%s must be contiguous", what);
    return 0;
}

static ol_optim_ctx make_ctx(ol_optim *opt, int group, int64_t t, double loss, int lookahead) {
    ol_optim_ctx c = {.o = opt->groups[group].o, .n = opt->n, .t = t, .loss = loss,
                      .lookahead = lookahead, .scalars = opt->groups[group].scalars,
                      .group = group,
                      .work = opt->work.st ? ol_tensor_data(&opt->work) : NULL};
    return c;
}

/* The kernels that take no gradient: the prepare and the mode switches. */
typedef enum move_kernel { MOVE_PREPARE, MOVE_TO_EVAL, MOVE_TO_TRAIN } move_kernel;

/* The step (g != NULL; move is then not read) or the kernel `move` (g ==
 * NULL) with the buffers at element `begin` of w and g and at soff[k] of
 * state buffer k: a part of a fused range (soff = begin, element i reads
 * and writes only element i), or one tensor. */
static void call_kernel(const ol_optim *opt, const ol_optim_ctx *c, void *w, const void *g,
                        move_kernel move, int64_t begin, const int64_t *soff) {
    const ol_optim_desc *d = opt->desc;
    const ol_optim_prep_f32 m32 = move == MOVE_PREPARE ? d->prepare_f32
                                  : move == MOVE_TO_EVAL ? d->to_eval_f32 : d->to_train_f32;
    const ol_optim_prep_f64 m64 = move == MOVE_PREPARE ? d->prepare_f64
                                  : move == MOVE_TO_EVAL ? d->to_eval_f64 : d->to_train_f64;
    const size_t es = ol_dtype_size(opt->dtype);
    void *s[OL_OPTIM_MAXSTATE];
    state_ptrs(opt, s);
    for (int i = 0; i < d->nstate; i++)
        s[i] = (char *)s[i] + (size_t)(soff ? soff[i] : begin) * es;
    w = (char *)w + (size_t)begin * es;
    if (g) g = (const char *)g + (size_t)begin * es;
    if (opt->dtype == OL_F32) {
        if (g) d->step_f32(c, w, g, (float *const *)s);
        else m32(c, w, (float *const *)s);
    } else {
        if (g) d->step_f64(c, w, g, (double *const *)s);
        else m64(c, w, (double *const *)s);
    }
}

/* When a fused range is cut into one part per thread: whenever it has two
 * parts of OL_OPTIM_MIN_PART elements (below that a part costs more to
 * hand over than to run). The nn layer cuts its products over the same
 * threads (engine/nn/linear.c), so after a backward pass each core holds
 * much of the part of the gradient and weights it updates; a large step
 * also gains from the second core's memory bandwidth (bench/HISTORY.md has
 * the figures). */
static int split_parts(const ol_optim *opt, int64_t n) {
    if (opt->desc->kind != OL_OPTIM_FUSED) return 1; /* only a flat pass is cut */
    return ol_parallel_parts(n, OL_OPTIM_MIN_PART);
}

int ol_optim_step_parts(const ol_optim *opt) {
    if (opt->inner) return ol_optim_step_parts(opt->inner);
    return split_parts(opt, opt->n);
}

typedef struct step_job {
    const ol_optim *opt;
    const ol_optim_ctx *c;
    void *w;
    const void *g;
    move_kernel move;
    int64_t begin; /* the range's first element */
    /* Each part updates its own copy of the group's scalar state. The
     * kernels set scalars from the options, the step count and the loss
     * alone (sgd's "buffer started", nadam's momentum product, rprop's last
     * loss), so every copy ends the same and the first is kept. */
    double scalars[OL_PARALLEL_MAXPARTS][OL_OPTIM_MAXSCALARS];
} step_job;

static void step_part(void *p, int64_t begin, int64_t end, int part) {
    step_job *j = p;
    ol_optim_ctx c = *j->c;
    c.n = end - begin;
    c.scalars = j->scalars[part];
    memcpy(c.scalars, j->c->scalars, sizeof j->scalars[part]);
    call_kernel(j->opt, &c, j->w, j->g, j->move, j->begin + begin, NULL);
}

/* One fused range, on every thread where that pays (split_parts); the
 * result is the same whatever the number of parts. */
static void run_range(ol_optim *opt, ol_optim_ctx *c, const ol_optim_range *r, void *w,
                      const void *g, move_kernel move) {
    c->n = r->n;
    if (split_parts(opt, r->n) < 2) {
        call_kernel(opt, c, w, g, move, r->offset, NULL);
        return;
    }
    step_job j = {.opt = opt, .c = c, .w = w, .g = g, .begin = r->offset, .move = move};
    ol_parallel_for(r->n, OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, step_part, &j);
    memcpy(c->scalars, j.scalars[0], sizeof j.scalars[0]);
}

/* Runs one range or tensor of group gi with a copy of the group's scalars
 * as the step found them; the first run of the group keeps its copy. */
static void run_one(ol_optim *opt, ol_optim_ctx *c, const ol_optim_range *r,
                    const ol_optim_param *p, void *w, const void *g, move_kernel move) {
    ol_optim_group *grp = &opt->groups[c->group];
    double sc[OL_OPTIM_MAXSCALARS];
    memcpy(sc, grp->before, sizeof sc);
    c->scalars = sc;
    if (r) {
        run_range(opt, c, r, w, g, move);
    } else {
        c->n = p->rows * p->cols;
        c->param = p;
        call_kernel(opt, c, w, g, move, p->offset, p->soff);
    }
    if (!grp->kept) memcpy(grp->scalars, sc, sizeof sc);
    grp->kept = 1;
}

/* The kernel over every parameter: a fused optimizer's over each range
 * with its group's options, a per-tensor one's over each tensor. Elements
 * in no tensor are not touched. g == NULL: the kernel `move`. */
static void run_kernel(ol_optim *opt, int64_t t, double loss, int lookahead, void *w,
                       const void *g, move_kernel move) {
    for (int i = 0; i < opt->ngroups; i++) {
        memcpy(opt->groups[i].before, opt->groups[i].scalars, sizeof opt->groups[i].before);
        opt->groups[i].kept = 0;
    }
    const int fused = opt->desc->kind == OL_OPTIM_FUSED;
    const int count = fused ? opt->nranges : opt->nparams;
    for (int i = 0; i < count; i++) {
        const ol_optim_range *r = fused ? &opt->ranges[i] : NULL;
        const ol_optim_param *p = fused ? NULL : &opt->params[i];
        ol_optim_ctx c = make_ctx(opt, fused ? r->group : p->group, t, loss, lookahead);
        run_one(opt, &c, r, p, w, g, move);
    }
}

int ol_optim_has_prepare(const ol_optim *opt) {
    if (opt->inner) return ol_optim_has_prepare(opt->inner); /* a wrapper's is its inner's */
    return opt->desc->prepare_f32 != NULL;
}

/* The first step after a reset fills the state first (desc->init). */
static void maybe_init(ol_optim *opt) {
    if (opt->t != 0 || !opt->desc->init) return;
    for (int i = 0; i < opt->nranges; i++) {
        const ol_optim_range *r = &opt->ranges[i];
        void *s[OL_OPTIM_MAXSTATE];
        state_ptrs(opt, s);
        for (int k = 0; k < opt->desc->nstate; k++)
            s[k] = (char *)s[k] + (size_t)r->offset * ol_dtype_size(opt->dtype);
        opt->desc->init(opt->groups[r->group].o, opt->dtype, s, r->n);
    }
}

int ol_optim_prepare(ol_optim *opt, ol_tensor *w, ol_error *err) {
    if (check_buffer(opt, w, "params", err)) return -1;
    if (opt->inner) return ol_optim_prepare(opt->inner, w, err);
    if (!ol_optim_has_prepare(opt)) return 0;
    maybe_init(opt);
    run_kernel(opt, opt->t + 1, NAN, 1, ol_tensor_data(w), NULL, MOVE_PREPARE);
    return 0;
}

int ol_optim_has_modes(const ol_optim *opt) {
    if (opt->inner) return ol_optim_has_modes(opt->inner);
    return opt->desc->to_eval_f32 != NULL;
}

const char *ol_optim_mode_name(const ol_optim *opt) {
    if (opt->inner) return ol_optim_mode_name(opt->inner);
    return opt->eval_mode ? "eval" : "train";
}

/* Into mode `eval` (0: train), moving w there unless it is there already. */
static int switch_mode(ol_optim *opt, ol_tensor *w, int eval, ol_error *err) {
    if (check_buffer(opt, w, "params", err)) return -1;
    if (opt->inner) { /* a wrapper's mode is its inner's */
        const int rc = switch_mode(opt->inner, w, eval, err);
        opt->eval_mode = opt->inner->eval_mode;
        return rc;
    }
    if (!ol_optim_has_modes(opt) || opt->eval_mode == eval) return 0;
    run_kernel(opt, opt->t, NAN, 0, ol_tensor_data(w), NULL, eval ? MOVE_TO_EVAL : MOVE_TO_TRAIN);
    opt->eval_mode = eval;
    return 0;
}

int ol_optim_eval(ol_optim *opt, ol_tensor *w, ol_error *err) {
    return switch_mode(opt, w, 1, err);
}

int ol_optim_train(ol_optim *opt, ol_tensor *w, ol_error *err) {
    return switch_mode(opt, w, 0, err);
}

int ol_optim_step(ol_optim *opt, ol_tensor *w, const ol_tensor *g, double loss, int lookahead,
                  ol_error *err) {
    if (check_buffer(opt, w, "params", err) || check_buffer(opt, g, "grad", err)) return -1;
    if (opt->desc->kind == OL_OPTIM_CLOSURE) /* see second.h */
        return ol_fail(err, "%s needs a closure: opt:step(closure)", opt->desc->name);
    if (opt->desc->kind == OL_OPTIM_WRAPPER) { /* lookahead.c */
        if (!opt->inner) return ol_fail(err, "%s has no inner optimizer", opt->desc->name);
        if (ol_optim_check_dtype(opt->desc, opt->dtype, opt->groups[0].o, err) ||
            ol_optim_wrapper_begin(opt, w, err) ||
            ol_optim_step(opt->inner, w, g, loss, lookahead, err))
            return -1;
        return ol_optim_wrapper_end(opt, w, err);
    }
    if (ol_tensor_data(w) == ol_tensor_data(g) && opt->n > 0)
        return ol_fail(err, "grad and params share memory");
    if (opt->eval_mode)
        return ol_fail(err, "%s is in eval mode (the parameters hold the point to evaluate): call "
                       "opt:train() before the next step", opt->desc->name);
    /* Values set without the element type in view (construction, a
     * checkpoint's options) meet it here: a few comparisons per step. */
    for (int i = 0; i < opt->ngroups; i++)
        if (ol_optim_check_dtype(opt->desc, opt->dtype, opt->groups[i].o, err)) return -1;
    if (opt->desc->check_param) /* a group's rule may not fit its tensors (muon) */
        for (int i = 0; i < opt->nparams; i++)
            if (opt->desc->check_param(&opt->params[i], opt->groups[opt->params[i].group].o, err))
                return -1;
    maybe_init(opt);
    run_kernel(opt, opt->t + 1, loss, lookahead, ol_tensor_data(w), ol_tensor_data(g), MOVE_PREPARE);
    opt->t++;
    return 0;
}

int ol_optim_set_group_values(ol_optim *opt, int g, const double *o, ol_error *err) {
    const ol_optim_desc *d = opt->desc;
    if (g < 0 || g >= opt->ngroups)
        return ol_fail(err, "%s has %d groups, not %d", d->name, opt->ngroups, g + 1);
    if (ol_optim_check_values(d, o, err) || ol_optim_check_dtype(d, opt->dtype, o, err)) return -1;
    if (d->check_param)
        for (int i = 0; i < opt->nparams; i++)
            if (opt->params[i].group == g && d->check_param(&opt->params[i], o, err)) return -1;
    int resize = 0;
    for (int i = 0; i < d->noptions; i++) {
        const ol_optim_option *op = &d->options[i];
        if (op->sizes_state && memcmp(o + op->slot, opt->groups[g].o + op->slot,
                                      sizeof(double) * (size_t)ol_optim_option_size(op)))
            resize = 1;
    }
    if (!resize) {
        memcpy(opt->groups[g].o, o, sizeof(double) * (size_t)d->nslots);
        return 0;
    }
    if (opt->t != 0)
        return ol_fail(err, "%s: an option that sizes the state changes only before the first step",
                       d->name);
    double keep[OL_OPTIM_MAXSLOTS];
    memcpy(keep, opt->groups[g].o, sizeof keep);
    memcpy(opt->groups[g].o, o, sizeof(double) * (size_t)d->nslots);
    /* The same tensors again: the layout follows the new options. */
    ol_optim_param *same = malloc((size_t)(opt->nparams > 0 ? opt->nparams : 1) * sizeof *same);
    int rc = same ? 0 : ol_fail(err, "out of memory for %d parameters", opt->nparams);
    if (same) memcpy(same, opt->params, (size_t)opt->nparams * sizeof *same);
    if (rc == 0) rc = ol_optim_set_params(opt, same, opt->nparams, opt->ngroups, err);
    free(same);
    if (rc) memcpy(opt->groups[g].o, keep, sizeof keep);
    return rc;
}
