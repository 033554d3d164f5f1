/* The one small interface every optimizer shares.
 *
 * An optimizer is a descriptor (ol_optim_desc): its name, its kind, its
 * typed options with defaults and valid ranges, the names of its state
 * buffers (each as long as the flat parameter vector), and its step. An
 * instance (ol_optim) holds the live option values, the state tensors and
 * the step count; the Lua binding is a thin layer over it.
 *
 * The kind says which of the descriptor's functions exist and how a step
 * runs (ol_optim_kind). A fused or matrix optimizer's step is written once
 * as generic code (core/generic.h) and instantiated for float and double.
 *
 * Adding an optimizer = one file engine/optim/NAME.c defining
 * `const ol_optim_desc ol_optim_NAME = {...};` plus one line in
 * engine/optim/registry.c (see the comment there). sgd.c is the model to
 * copy: its plain part holds the options and the descriptor, its generic
 * part (after #else) the step.
 *
 * Option values live in one double array `o`, indexed by slot (each file
 * names its slots with an enum); a pair (betas) takes slot and slot+1, a
 * bool is 0/1, an enum the 0-based index into its choices.
 *
 * Compatibility: fields may be added at the END of the structs only; every
 * descriptor uses designated initializers, so new fields default to 0/NULL.
 */
#ifndef OL_OPTIM_H
#define OL_OPTIM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

#define OL_OPTIM_MAXSLOTS 16   /* option values per optimizer */
#define OL_OPTIM_MAXSTATE 6    /* state buffers per optimizer */
#define OL_OPTIM_MAXSCALARS 4  /* scalar state per optimizer */

typedef enum ol_optim_type {
    OL_OPT_NUMBER, /* one double */
    OL_OPT_BOOL,   /* 0 or 1 */
    OL_OPT_ENUM,   /* index into choices */
    OL_OPT_PAIR    /* two doubles (slot, slot+1), each checked against lo/hi */
} ol_optim_type;

typedef struct ol_optim_option {
    const char *name;
    ol_optim_type type;
    int slot;
    double def[2];              /* default value(s) */
    /* Valid range of a number (each element of a pair): lo..hi, a bound
     * excluded when its *_open flag is set; -INFINITY/INFINITY for none.
     * Rules between options (gain_min <= gain_max) go in desc->check. */
    double lo, hi;
    int lo_open, hi_open;
    const char *const *choices; /* enum: NULL-terminated names */
    /* Read only by desc->init, at the first step after a reset (rprop's
     * initial step size): a value set later waits for the next reset, so
     * a schedule on it would do nothing and the binding refuses one. */
    int first_step_only;
    /* An upper limit the step only compares against, where +INFINITY means
     * none (adaptive_gains' gain_max); every other number must be finite. */
    int inf_is_none;
    /* Sizes the state or the scratch (shampoo's max_precond_dim): read when
     * the parameters are set, so it is given at construction, per group,
     * and refused afterwards. */
    int sizes_state;
    /* An element that may be given as nil, "not given", which the step
     * reads as its own default (adafactor's eps[1]: the machine epsilon of
     * the parameters' type; soap's shampoo_beta: betas[2]): nil_elem is 1
     * (a number, or a pair's first element) or 2 (a pair's second), 0 for
     * none; nil is stored as nil_value, which the range check accepts
     * besides the range, and Lua reads that value back as nil. */
    int nil_elem;
    double nil_value;
} ol_optim_option;

/* Ranges used by most options, for designated initializers:
 *   {.name = "lr", .type = OL_OPT_NUMBER, .slot = LR, .def = {1e-3}, OL_GE0} */
#define OL_ANY .lo = -INFINITY, .hi = INFINITY
#define OL_GE0 .lo = 0, .hi = INFINITY              /* >= 0 */
#define OL_GT0 .lo = 0, .hi = INFINITY, .lo_open = 1 /* > 0 */
#define OL_UNIT .lo = 0, .hi = 1, .hi_open = 1      /* in [0, 1) */
#define OL_UNIT_CLOSED .lo = 0, .hi = 1             /* in [0, 1] */

/* One parameter tensor inside the flat parameter vector: a matrix (a 2-D
 * weight, rows x cols, row-major) or a vector of rows·cols elements (rows =
 * 1, matrix = 0; a bias, or a tensor of any other rank). Per-tensor rules
 * (a norm, a matrix's row and column statistics) read it; elementwise rules
 * only need the ranges the parameters cover. Set by ol_optim_set_params;
 * by default one vector over the whole buffer. */
typedef struct ol_optim_param {
    int64_t offset, rows, cols;
    int matrix;
    int group;                         /* index into the instance's groups */
    /* Filled by ol_optim_set_params: where the tensor's part of each state
     * buffer starts (its offset for a full-length buffer, see
     * desc->state_len). */
    int64_t soff[OL_OPTIM_MAXSTATE];
} ol_optim_param;

/* A run of consecutive parameters of one group: the unit a fused step is
 * cut into (filled by ol_optim_set_params). */
typedef struct ol_optim_range {
    int64_t offset, n;
    int group;
} ol_optim_range;

/* What a kernel sees besides the buffers. */
typedef struct ol_optim_ctx {
    const double *o;   /* option values by slot */
    int64_t n;         /* elements in w, g and each state buffer */
    int64_t t;         /* the step being taken, from 1 (a mode switch: the
                          steps taken) */
    double loss;       /* loss at the current w when known (closure), else NAN */
    int lookahead;     /* 1: g was evaluated where desc->prepare moved w to */
    double *scalars;   /* desc->nscalars values of this group, all 0 after
                          reset; the kernel may update them, but only to
                          values that follow from the options, t and the
                          loss (a step calls the kernel once per part of a
                          range, or once per tensor, and keeps one copy) */
    void *work;        /* desc->workspace(opt) elements of scratch, or NULL */
    /* A per-tensor step (OL_OPTIM_TENSOR): the tensor being stepped; n is
     * then its element count. NULL for a fused step. */
    const ol_optim_param *param;
    int group;         /* the group whose options o are */
} ol_optim_ctx;

/* One fused pass: reads g, updates w and the state buffers s[0..nstate-1]. */
typedef void (*ol_optim_step_f32)(const ol_optim_ctx *c, float *w, const float *g, float *const *s);
typedef void (*ol_optim_step_f64)(const ol_optim_ctx *c, double *w, const double *g, double *const *s);
/* Optional: moves w to where the closure must be evaluated (nag's lookahead). */
typedef void (*ol_optim_prep_f32)(const ol_optim_ctx *c, float *w, float *const *s);
typedef void (*ol_optim_prep_f64)(const ol_optim_ctx *c, double *w, double *const *s);

struct ol_optim;
struct ol_closure;

/* What an optimizer is, and so which functions its descriptor has (the
 * others NULL) and how ol_optim_step runs it:
 *   OL_OPTIM_FUSED    step_f32, step_f64 (and optionally prepare_f32,
 *                     prepare_f64, and the four to_eval/to_train kernels
 *                     of the modes): one pass over the flat buffers in which
 *                     element i reads and writes only element i, cut among
 *                     the threads
 *   OL_OPTIM_TENSOR   step_f32, step_f64 (and optionally workspace and
 *                     state_len): called once per parameter tensor, in
 *                     offset order, with c->param set and w, g and each
 *                     state buffer at that tensor's part; not cut by the
 *                     engine (the kernel may cut its own elementwise
 *                     passes, see OL_OPTIM_CHUNK). For rules that read
 *                     a whole tensor: a norm (lamb, lars), a matrix's sides
 *                     (muon, adafactor, shampoo, soap).
 *   OL_OPTIM_CLOSURE  closure_step (and priv_free for its memory), no
 *                     step_f32/f64: stepped by ol_optim_closure_step with a
 *                     loss-and-gradient callback (second.h)
 *   OL_OPTIM_WRAPPER  none of them: steps another optimizer (opt->inner)
 *                     and then does its own pass (lookahead.c); not in
 *                     ol_optim_registry but in ol_optim_wrappers, since it
 *                     is built over an optimizer, not over parameters */
typedef enum ol_optim_kind {
    OL_OPTIM_FUSED, OL_OPTIM_TENSOR, OL_OPTIM_CLOSURE, OL_OPTIM_WRAPPER
} ol_optim_kind;

typedef struct ol_optim_desc {
    const char *name;
    const ol_optim_option *options;
    int noptions;
    int nslots;                       /* size of the value array */
    const char *const *state_names;   /* nstate names, for opt:state() */
    int nstate;
    int nscalars;
    /* Rules between options; NULL if none. Returns 0 or fails naming the option. */
    int (*check)(const double *o, ol_error *err);
    /* Optional: fills the state before the first step after a reset (all
     * buffers are zero before it), e.g. adagrad's initial accumulator.
     * Called once per range with that range's group's options and the
     * buffers at its offset, so only for full-length state (no state_len). */
    void (*init)(const double *o, ol_dtype dt, void *const *s, int64_t n);
    ol_optim_step_f32 step_f32;
    ol_optim_step_f64 step_f64;
    ol_optim_prep_f32 prepare_f32;    /* NULL: the closure is evaluated at w */
    ol_optim_prep_f64 prepare_f64;
    const char *doc;                  /* one line: rule and source */
    /* Per-tensor optimizers: scratch elements (of the dtype) a step needs
     * for opt's parameters and their groups' options; NULL for none. */
    int64_t (*workspace)(const struct ol_optim *opt);
    /* Closure methods (newton, cg, lbfgs, hessian_free; engine/optim/
     * second.h): one step, which may evaluate the closure many times. Its
     * private memory (history, previous direction) lives in opt->priv,
     * freed by priv_free on reset and free. */
    int (*closure_step)(struct ol_optim *opt, double *w, const struct ol_closure *f,
                        double *loss, ol_error *err);
    void (*priv_free)(void *priv);
    ol_optim_kind kind;               /* which of the above exist, how a step runs */
    /* Per-tensor optimizers whose state is not one value per parameter
     * element (adafactor's row and column statistics, shampoo's factors):
     * the elements state buffer k needs for tensor p under its group's
     * options o. The buffer then holds the tensors' parts one after the
     * other, in offset order, and is as long as their sum. NULL: every
     * buffer is full-length, indexed as the parameters are. */
    int64_t (*state_len)(int k, const ol_optim_param *p, const double *o);
    /* Optional: whether tensor p can be stepped under options o (muon's
     * rule needs a matrix); 0, or -1 with err saying why. Checked when the
     * parameters are set and when a group's options change. */
    int (*check_param)(const ol_optim_param *p, const double *o, ol_error *err);
    /* Optimizers with two modes (schedule-free): during training the
     * parameters hold another point than the one to evaluate. to_eval
     * moves w to the point to evaluate, to_train back; each is one pass in
     * which element i reads and writes only element i (cut among the
     * threads as a fused step), and sees c->t = the steps taken (0: the
     * state is not made yet). All four NULL for the other optimizers,
     * whose parameters are always the point to evaluate. */
    ol_optim_prep_f32 to_eval_f32, to_train_f32;
    ol_optim_prep_f64 to_eval_f64, to_train_f64;
    /* Optional: what the optimizer does with opt's parameters that its
     * options do not show, into buf (len bytes), "" when nothing; the
     * binding reads it as opt.info (shampoo, soap: the matrices whose side
     * is longer than max_precond_dim and so uses the identity). */
    void (*describe)(const struct ol_optim *opt, char *buf, size_t len);
} ol_optim_desc;

/* min and max for the steps, by a plain comparison: the second operand
 * when either is NaN. */
#define OL_FMIN(a, b) ((a) < (b) ? (a) : (b))
#define OL_FMAX(a, b) ((a) > (b) ? (a) : (b))
/* -1, 0 or 1 in the type of x (0 for 0 and NaN). */
#define OL_SIGN(x) (((x) > 0) - ((x) < 0))

/* Fills n elements of a state buffer of type dt with v (for desc->init).
 * Inline, so that the optimizer files need nothing of optim.c, which finds
 * them through the registry. */
static inline void ol_optim_fill(ol_dtype dt, void *buf, int64_t n, double v) {
    if (dt == OL_F32) {
        float *p = buf, x = (float)v;
        for (int64_t i = 0; i < n; i++) p[i] = x;
    } else {
        double *p = buf;
        for (int64_t i = 0; i < n; i++) p[i] = v;
    }
}

/* ---- the registry (engine/optim/registry.c) ---- */
extern const ol_optim_desc *const ol_optim_registry[]; /* NULL-terminated */
/* The wrappers (lookahead.c), NULL-terminated: optimizers built over
 * another optimizer (kind OL_OPTIM_WRAPPER). */
extern const ol_optim_desc *const ol_optim_wrappers[];
extern const ol_optim_desc ol_optim_lookahead; /* the one wrapper */
/* A registry optimizer or a wrapper by name; NULL if unknown. */
const ol_optim_desc *ol_optim_find(const char *name);
const ol_optim_option *ol_optim_find_option(const ol_optim_desc *d, const char *name);
/* 0-based index of an enum choice, or -1. */
int ol_optim_enum_index(const ol_optim_option *opt, const char *choice);
/* Values an option takes in the value array: 2 for a pair, else 1. */
static inline int ol_optim_option_size(const ol_optim_option *op) {
    return op->type == OL_OPT_PAIR ? 2 : 1;
}
/* Every option of d at its default, into o (d->nslots values). */
void ol_optim_defaults(const ol_optim_desc *d, double *o);

/* ---- an instance (engine/optim/optim.c) ---- */
/* A parameter group: its live option values and its scalar state. */
typedef struct ol_optim_group {
    double o[OL_OPTIM_MAXSLOTS];
    double scalars[OL_OPTIM_MAXSCALARS];
    /* During a step: the scalars as the step found them. Every range or
     * tensor of the group starts from these, as every part of a range
     * does, and the first one's result is kept. */
    double before[OL_OPTIM_MAXSCALARS];
    int kept;
} ol_optim_group;

typedef struct ol_optim {
    const ol_optim_desc *desc;
    ol_dtype dtype;
    int64_t n;
    int64_t t;                          /* steps taken */
    ol_optim_group *groups;             /* ngroups >= 1; see ol_optim_set_params */
    int ngroups;
    ol_optim_param *params;             /* sorted by offset */
    int nparams;
    ol_optim_range *ranges;             /* the params' runs, for fused steps */
    int nranges;
    ol_tensor state[OL_OPTIM_MAXSTATE]; /* contiguous; {n} or desc->state_len's sum */
    ol_tensor work;                     /* desc->workspace elements */
    void *priv;                         /* closure methods: their memory */
    char info[160];                     /* closure methods: what the last step did */
    /* 1: the tensors are ol_optim_init's one whole-buffer vector, which a
     * change of options is not checked against (desc->check_param; muon's
     * rule needs matrices); ol_optim_step checks in any case. Cleared by
     * ol_optim_set_params. */
    int provisional;
    /* 1: the next ol_optim_set_params does not check the tensors against
     * their groups' options, because the caller sets each group's options
     * next (ol_optim_set_group_values checks them). Cleared by it. */
    int defer_check;
    int eval_mode;                      /* 1: w holds the point to evaluate (ol_optim_eval) */
    /* A wrapper (OL_OPTIM_WRAPPER): the optimizer it steps, borrowed (the
     * caller keeps it alive and frees it after the wrapper); NULL for the
     * others. Set by ol_optim_wrap. */
    struct ol_optim *inner;
} ol_optim;

/* Defaults, zeroed state of n elements. */
int ol_optim_init(ol_optim *opt, const ol_optim_desc *d, ol_dtype dt, int64_t n, ol_error *err);
void ol_optim_free(ol_optim *opt);
/* Checks v (1 value, 2 for a pair) against the option's range and the
 * optimizer's rules, then assigns; on failure nothing changes and err reads
 * "option 'lr' must be >= 0, got -1" or "unknown option 'lrr' for sgd". */
int ol_optim_set(ol_optim *opt, const char *name, const double *v, ol_error *err);
/* One option's value(s) v against its own type and range, not the rules
 * between options; 0, or -1 with err naming the option. */
int ol_optim_check_option(const ol_optim_option *op, const double *v, ol_error *err);
/* Like ol_optim_set for a whole value array (construction): checks all, then copies. */
int ol_optim_check_values(const ol_optim_desc *d, const double *o, ol_error *err);
/* The values o (already checked) in element type dt: for f32, a number
 * beyond FLT_MAX (lr = 1e39) would become Inf in the kernel and is an
 * error naming the option. ol_optim_set and ol_optim_step check it. */
int ol_optim_check_dtype(const ol_optim_desc *d, ol_dtype dt, const double *o, ol_error *err);

/* A place among an optimizer's options: a whole option, or one element of
 * a pair. A caller that assigns the same place again and again (a schedule,
 * before every step) resolves its name once and then stores through it. */
typedef struct ol_optim_field {
    const ol_optim_option *option;
    int elem; /* 0: the whole option; 1 or 2: that element of a pair */
} ol_optim_field;
/* Resolves "lr", "betas" or "betas[2]" (elements 1 and 2 of a pair only)
 * for d; on failure err reads "unknown option 'betas[3]' for adam". */
int ol_optim_find_field(const ol_optim_desc *d, const char *name, ol_optim_field *f, ol_error *err);
/* ol_optim_set through a resolved field: v holds the option's value(s)
 * (two for a whole pair), or for an element the one new element, the other
 * keeping its value. Checked as ol_optim_set checks; on failure nothing
 * changes and err names the option (and the element). */
int ol_optim_set_field(ol_optim *opt, ol_optim_field f, const double *v, ol_error *err);
/* t = 0, state zeroed (init runs again before the next step), train
 * mode; the parameters are not touched, and become the next start. */
void ol_optim_reset(ol_optim *opt);
int ol_optim_has_prepare(const ol_optim *opt);
/* Before a closure evaluation: moves w to the point the closure must see. */
int ol_optim_prepare(ol_optim *opt, ol_tensor *w, ol_error *err);
/* One step: w and g contiguous, n elements, opt's dtype. loss: NAN if
 * unknown. lookahead: 1 if ol_optim_prepare ran before g was computed. */
int ol_optim_step(ol_optim *opt, ol_tensor *w, const ol_tensor *g, double loss, int lookahead, ol_error *err);
/* ---- modes (optimizers with desc->to_eval_*: schedule-free) ----
 * Such an optimizer is in train mode after init and reset: w holds the
 * point where gradients are taken. ol_optim_eval moves w to the point to
 * evaluate (schedule-free's average x) and puts the optimizer in eval
 * mode, in which ol_optim_step is refused; ol_optim_train moves it back.
 * Each does nothing when the optimizer is in that mode already, and both
 * do nothing for an optimizer without modes (it is always in train mode).
 * w: the parameters, as for ol_optim_step. */
int ol_optim_has_modes(const ol_optim *opt);
int ol_optim_eval(ol_optim *opt, ol_tensor *w, ol_error *err);
int ol_optim_train(ol_optim *opt, ol_tensor *w, ol_error *err);
/* "train" or "eval". */
const char *ol_optim_mode_name(const ol_optim *opt);

/* ---- wrappers (engine/optim/lookahead.c) ----
 * A wrapper is an instance of a wrapper descriptor (ol_optim_init with
 * the inner's dtype and length) over another optimizer, the inner, which
 * keeps its own options, state and step count. ol_optim_step on the
 * wrapper steps the inner and then does the wrapper's pass; ol_optim_reset
 * resets both; ol_optim_prepare, the mode switches (ol_optim_eval,
 * ol_optim_train) and ol_optim_step_parts are the inner's. An inner that
 * is a closure method is stepped by its caller between
 * ol_optim_wrapper_begin and ol_optim_wrapper_end (the binding does so).
 * A wrapper cannot be an inner. */
/* Makes opt (initialised with a wrapper descriptor, group 1 holding the
 * options every group starts from) the wrapper of inner: the same
 * parameter tensors and groups as inner, its state started from w, the
 * parameters. Before opt's first step; fails, changing nothing, for an
 * inner of another dtype or length, or an inner that is a wrapper. */
int ol_optim_wrap(ol_optim *opt, ol_optim *inner, const ol_tensor *w, ol_error *err);
/* Before the inner's step (the first after a reset starts the state from w). */
int ol_optim_wrapper_begin(ol_optim *opt, const ol_tensor *w, ol_error *err);
/* After the inner's step: the wrapper's pass over w, and opt->t + 1. */
int ol_optim_wrapper_end(ol_optim *opt, ol_tensor *w, ol_error *err);

/* How ol_optim_step cuts its pass over the n elements among the threads:
 * into ol_optim_step_parts(opt) parts as ol_parallel_for(n,
 * OL_PARALLEL_ALIGN, OL_OPTIM_MIN_PART, ...) cuts them (1: not cut). A
 * pass over the gradient just before the step (the training loop's
 * finiteness check) that is cut the same way leaves each part in the
 * cache of the core that updates it. */
#define OL_OPTIM_MIN_PART 16384
int ol_optim_step_parts(const ol_optim *opt);

/* ---- parameters and groups (engine/optim/params.c) ---- */
/* Sets the parameter tensors and their groups: np tensors (copied, sorted
 * by offset), each inside [0, n), none overlapping, each with a group in
 * [0, ngroups). Elements in no tensor are not updated. Groups beyond the
 * current ones start with group 0's options; their scalars are 0. Sizes
 * and zeroes the state (desc->state_len) and the scratch
 * (desc->workspace), so it is called before the first step (t = 0) or it
 * fails. On failure nothing changes. */
int ol_optim_set_params(ol_optim *opt, const ol_optim_param *p, int np, int ngroups,
                        ol_error *err);
/* Options of group g (-1: every group) through a resolved field, checked
 * as ol_optim_set_field checks. An option flagged sizes_state is refused
 * once the parameters are set, unless unchanged. */
int ol_optim_group_set_field(ol_optim *opt, int g, ol_optim_field f, const double *v,
                             ol_error *err);
/* Every option of group g at once (construction: o holds nslots values,
 * checked here as a whole, with the group's tensors). Before the first
 * step a change of a sizes_state option sizes the state again; after it,
 * such a change is refused. On failure nothing changes. */
int ol_optim_set_group_values(ol_optim *opt, int g, const double *o, ol_error *err);
/* The option values of group g. */
static inline const double *ol_optim_group_o(const ol_optim *opt, int g) {
    return opt->groups[g].o;
}
/* 1 if every group holds the same value(s) for option op. Inline, so that
 * the closure methods (second.c) need nothing of optim.c. */
static inline int ol_optim_groups_agree(const ol_optim *opt, const ol_optim_option *op) {
    for (int i = 1; i < opt->ngroups; i++)
        for (int k = 0; k < ol_optim_option_size(op); k++)
            if (opt->groups[i].o[op->slot + k] != opt->groups[0].o[op->slot + k]) return 0;
    return 1;
}
/* Elements of state buffer k. */
static inline int64_t ol_optim_state_numel(const ol_optim *opt, int k) {
    return ol_tensor_numel(&opt->state[k]);
}

/* A per-tensor kernel that cuts an elementwise pass among the threads
 * (ol_parallel_for with grain OL_OPTIM_CHUNK, so that every part is whole
 * chunks) and needs a sum over the tensor (a norm) sums each chunk on its
 * own, into scratch indexed by chunk, and then adds the chunks' sums in
 * chunk order: the result is then the same whatever the number of
 * threads, as every step's must be. */
#define OL_OPTIM_CHUNK 16384

/* ---- an optimizer in a checkpoint (engine/optim/io.c) ----
 * The optimizer's part of a checkpoint file (engine/io/checkpoint.h), which
 * is all a resumed run needs besides the model and the RNG:
 *   tensors   optim.state.NAME  every state buffer, 1-D, in the optimizer's dtype
 *   metadata  optim.name        the descriptor's name
 *             optim.dtype       "f32" or "f64"
 *             optim.t           steps taken, in decimal
 *             optim.options     JSON {"lr": 0.01, "betas": [0.9, 0.999],
 *                               "amsgrad": false, "variant": "irprop-", ...}:
 *                               every option, enums by choice name
 *             optim.scalars     JSON [...]: the scalar state
 *                               (optim.options and optim.scalars: group 1's)
 *             optim.groups      JSON [{"options": {...}, "scalars": [...]}, ...]:
 *                               groups 2.. (absent with one group)
 *             optim.params      JSON [[offset, rows, cols, matrix, group], ...]:
 *                               the parameter tensors (group from 0)
 *             optim.mode        "train" or "eval", for an optimizer with
 *                               modes only (absent: train, as in files
 *                               written before modes existed)
 * A wrapper (lookahead) stores itself under these keys and its inner
 * optimizer under the same keys with the prefix optim.inner instead of
 * optim (optim.inner.name, optim.inner.state.exp_avg, ...); its mode is
 * the inner's (optim.inner.mode). Files of a single optimizer have no
 * optim.inner.* keys.
 * Numbers in the JSON follow ol_ck_set_meta_json (shortest exact form;
 * inf and nan as strings). An import needs the same parameter tensors and
 * groups (the caller builds them again, as it builds the model). A closure
 * method's private memory is not stored (lbfgs's history: import clears
 * it, as a reset does). */
struct ol_checkpoint;

/* Adds opt's state tensors (shared, not copied) and metadata to ck. On
 * failure ck may hold part of them; the caller drops it. */
int ol_optim_export(const ol_optim *opt, struct ol_checkpoint *ck, ol_error *err);

/* An optimizer as a checkpoint holds it, read and checked on its own: a
 * known optimizer; a step count in [0, 2^53]; every option stored known,
 * of its type and in its range, and the rules between options holding
 * (stored options over the defaults); as many scalars as the optimizer
 * keeps (per group); every state tensor present, 1-D, of the stored
 * dtype, and finite; the groups' options and the parameter tensors well
 * formed; a mode, if stored, "train" or "eval", and "eval"
 * only for an optimizer with modes. The tensors are borrowed from ck. */
typedef struct ol_optim_saved {
    const ol_optim_desc *desc;
    ol_dtype dtype;
    int64_t t;
    int64_t n;                               /* length of the first state tensor */
    double o[OL_OPTIM_MAXSLOTS];             /* stored options over the defaults */
    unsigned char stored[OL_OPTIM_MAXSLOTS]; /* by option index: in the file */
    double scalars[OL_OPTIM_MAXSCALARS];
    const ol_tensor *state[OL_OPTIM_MAXSTATE];
    /* Every group (groups[0]: o and scalars above), and the parameter
     * tensors (nparams = -1: the file predates their storing). Owned:
     * ol_optim_saved_free. */
    ol_optim_group *groups;
    int ngroups;
    ol_optim_param *params;
    int nparams;
    int eval_mode;                           /* optim.mode is "eval" */
} ol_optim_saved;
void ol_optim_saved_free(ol_optim_saved *s);
/* 0: *s filled (free it with ol_optim_saved_free); 1: ck holds no
 * optimizer; -1: err says what is wrong, naming the checkpoint. */
int ol_optim_read(const struct ol_checkpoint *ck, ol_optim_saved *s, ol_error *err);
/* The same for the optimizer stored under prefix pre: "optim", or
 * OL_OPTIM_INNER_PREFIX for a wrapper's inner. */
#define OL_OPTIM_INNER_PREFIX "optim.inner"
int ol_optim_read_at(const struct ol_checkpoint *ck, const char *pre, ol_optim_saved *s,
                     ol_error *err);

/* Puts the optimizer stored in ck into opt: state, every group's options
 * (for group 1 those the file holds; the others keep their values) and
 * scalars, and the step count. Refuses, changing nothing, a checkpoint
 * without an optimizer, with another optimizer or dtype, other parameter
 * tensors or groups, state of another length than opt's, options a group's
 * tensors cannot take (desc->check_param), or anything ol_optim_read
 * refuses. The mode is the file's. A wrapper imports its inner too
 * (checked as a whole before either changes); a file of a wrapper over
 * another inner optimizer is refused, naming both. */
int ol_optim_import(ol_optim *opt, const struct ol_checkpoint *ck, ol_error *err);

#endif
