/* Optimizer options for the tests, written independently of engine/optim:
 *
 *   PUBLISHED   every optimizer of the registry with its kind, state
 *               buffers and options as its source states them (torch.optim's
 *               documentation, the papers, README's tables for optlua's
 *               own choices): type, default(s), valid range or choices.
 *               The registry test checks each descriptor against it; the
 *               references read their defaults from it (pget).
 *   kv          option schedules: a list of option values, each in force
 *               from a given step, read by the references (pget, pget2)
 *               and applied to the engine's optimizer (set_options).
 *
 * Include after <cmocka.h> and "optim/optim.h". */
#ifndef OL_TEST_OPTIM_OPTIONS_H
#define OL_TEST_OPTIM_OPTIONS_H

#include <string.h>

/* ---- the published options ---- */

/* range: for a number or each element of a pair, as the user reads it in
 * an error message: ">= 0", "> 0", "in [0, 1)", "a number"; for an enum,
 * its choices in order, "a|b|c". */
typedef struct pub_option {
    const char *name;
    ol_optim_type type;
    double def[2];
    const char *range;
} pub_option;

typedef struct pub_optim {
    const char *name;
    ol_optim_kind kind;
    const char *state; /* the state buffers' names, in order, comma-separated */
    pub_option options[16]; /* ends at the first without a name */
} pub_optim;

#define PUB_NUM(name, def, range) {name, OL_OPT_NUMBER, {def, 0}, range}
#define PUB_PAIR(name, d1, d2, range) {name, OL_OPT_PAIR, {d1, d2}, range}
#define PUB_BOOL(name, def) {name, OL_OPT_BOOL, {def, 0}, NULL}
#define PUB_ENUM(name, def, choices) {name, OL_OPT_ENUM, {def, 0}, choices}
#define PUB_ADAM_BETAS PUB_PAIR("betas", 0.9, 0.999, "in [0, 1)")

static const pub_optim PUBLISHED[] = {
    /* torch.optim.SGD */
    {"sgd", OL_OPTIM_FUSED, "momentum_buffer",
     {PUB_NUM("lr", 1e-3, ">= 0"), PUB_NUM("momentum", 0, ">= 0"),
      PUB_NUM("dampening", 0, "a number"), PUB_BOOL("nesterov", 0),
      PUB_NUM("weight_decay", 0, ">= 0"), PUB_BOOL("maximize", 0)}},
    /* Sutskever et al. 2013; README */
    {"nag", OL_OPTIM_FUSED, "velocity",
     {PUB_NUM("lr", 1e-3, ">= 0"), PUB_NUM("momentum", 0.9, ">= 0")}},
    /* Jacobs 1988, Hinton lecture 6d; README */
    {"adaptive_gains", OL_OPTIM_FUSED, "gains,prev_grad,velocity",
     {PUB_NUM("lr", 1e-3, ">= 0"), PUB_NUM("gain_up", 0.05, ">= 0"),
      PUB_NUM("gain_down", 0.95, "in (0, 1]"), PUB_NUM("gain_min", 0.1, "> 0"),
      PUB_NUM("gain_max", 10, "> 0"), PUB_NUM("momentum", 0, ">= 0")}},
    /* torch.optim.Rprop; the variants after Igel & Hüsken 2000 */
    {"rprop", OL_OPTIM_FUSED, "step_size,prev_grad,prev_update",
     {PUB_NUM("lr", 1e-2, ">= 0"), PUB_PAIR("etas", 0.5, 1.2, "> 0"),
      PUB_PAIR("step_sizes", 1e-6, 50, ">= 0"),
      PUB_ENUM("variant", 0, "irprop-|rprop-|rprop+|irprop+")}},
    /* torch.optim.RMSprop; gains as adaptive_gains' (API.md §13) */
    {"rmsprop", OL_OPTIM_FUSED, "square_avg,grad_avg,momentum_buffer,gains,prev_grad",
     {PUB_NUM("lr", 1e-2, ">= 0"), PUB_NUM("alpha", 0.99, "in [0, 1]"), PUB_NUM("eps", 1e-8, "> 0"),
      PUB_NUM("momentum", 0, ">= 0"), PUB_BOOL("centered", 0), PUB_BOOL("nesterov", 0),
      PUB_NUM("weight_decay", 0, ">= 0"), PUB_BOOL("gains", 0), PUB_NUM("gain_up", 0.05, ">= 0"),
      PUB_NUM("gain_down", 0.95, "in (0, 1]"), PUB_NUM("gain_min", 0.1, "> 0"),
      PUB_NUM("gain_max", 10, "> 0")}},
    /* torch.optim.Adagrad; full_matrix after Duchi et al. 2011 (API.md
     * section 13), per tensor, so the kind is per tensor */
    {"adagrad", OL_OPTIM_TENSOR, "sum,sum_matrix",
     {PUB_NUM("lr", 1e-2, ">= 0"), PUB_NUM("lr_decay", 0, ">= 0"),
      PUB_NUM("weight_decay", 0, ">= 0"), PUB_NUM("initial_accumulator_value", 0, ">= 0"),
      PUB_NUM("eps", 1e-10, "> 0"), PUB_BOOL("full_matrix", 0)}},
    /* torch.optim.Adadelta */
    {"adadelta", OL_OPTIM_FUSED, "square_avg,acc_delta",
     {PUB_NUM("lr", 1.0, ">= 0"), PUB_NUM("rho", 0.9, "in [0, 1]"), PUB_NUM("eps", 1e-6, "> 0"),
      PUB_NUM("weight_decay", 0, ">= 0")}},
    /* torch.optim.Adam; bias_correction from API.md §13 */
    {"adam", OL_OPTIM_FUSED, "exp_avg,exp_avg_sq,max_exp_avg_sq",
     {PUB_NUM("lr", 1e-3, ">= 0"), PUB_ADAM_BETAS, PUB_NUM("eps", 1e-8, "> 0"),
      PUB_NUM("weight_decay", 0, ">= 0"), PUB_BOOL("amsgrad", 0), PUB_BOOL("maximize", 0),
      PUB_BOOL("bias_correction", 1)}},
    /* torch.optim.AdamW; bias_correction from API.md §13 */
    {"adamw", OL_OPTIM_FUSED, "exp_avg,exp_avg_sq,max_exp_avg_sq",
     {PUB_NUM("lr", 1e-3, ">= 0"), PUB_ADAM_BETAS, PUB_NUM("eps", 1e-8, "> 0"),
      PUB_NUM("weight_decay", 1e-2, ">= 0"), PUB_BOOL("amsgrad", 0), PUB_BOOL("maximize", 0),
      PUB_BOOL("bias_correction", 1)}},
    /* torch.optim.NAdam */
    {"nadam", OL_OPTIM_FUSED, "exp_avg,exp_avg_sq",
     {PUB_NUM("lr", 2e-3, ">= 0"), PUB_ADAM_BETAS, PUB_NUM("eps", 1e-8, "> 0"),
      PUB_NUM("weight_decay", 0, ">= 0"), PUB_NUM("momentum_decay", 4e-3, ">= 0"),
      PUB_BOOL("decoupled_weight_decay", 0), PUB_BOOL("maximize", 0)}},
    /* torch.optim.RAdam */
    {"radam", OL_OPTIM_FUSED, "exp_avg,exp_avg_sq",
     {PUB_NUM("lr", 1e-3, ">= 0"), PUB_ADAM_BETAS, PUB_NUM("eps", 1e-8, "> 0"),
      PUB_NUM("weight_decay", 0, ">= 0"), PUB_BOOL("decoupled_weight_decay", 0),
      PUB_BOOL("maximize", 0)}},
    /* torch.optim.Adamax */
    {"adamax", OL_OPTIM_FUSED, "exp_avg,exp_inf",
     {PUB_NUM("lr", 2e-3, ">= 0"), PUB_ADAM_BETAS, PUB_NUM("eps", 1e-8, "> 0"),
      PUB_NUM("weight_decay", 0, ">= 0"), PUB_BOOL("maximize", 0)}},
    /* Zhuang et al. 2020; API.md §13 (the state named as the authors' code) */
    {"adabelief", OL_OPTIM_FUSED, "exp_avg,exp_avg_var",
     {PUB_NUM("lr", 1e-3, ">= 0"), PUB_ADAM_BETAS, PUB_NUM("eps", 1e-16, "> 0"),
      PUB_NUM("weight_decay", 0, ">= 0")}},
    /* Zaheer et al. 2018; API.md §13 */
    {"yogi", OL_OPTIM_FUSED, "exp_avg,exp_avg_sq",
     {PUB_NUM("lr", 1e-2, ">= 0"), PUB_ADAM_BETAS, PUB_NUM("eps", 1e-3, "> 0"),
      PUB_NUM("initial_accumulator_value", 1e-6, ">= 0")}},
    /* Chen et al. 2023 */
    {"lion", OL_OPTIM_FUSED, "exp_avg",
     {PUB_NUM("lr", 1e-4, ">= 0"), PUB_PAIR("betas", 0.9, 0.99, "in [0, 1)"),
      PUB_NUM("weight_decay", 0, ">= 0"), PUB_BOOL("maximize", 0)}},
    /* README's table (API §13): the authors' AdamWScheduleFree and
     * SGDScheduleFree v1.2 (github.com/facebookresearch/schedule_free);
     * momentum in (0, 1) as SGDScheduleFree checks it */
    {"sf_adamw", OL_OPTIM_FUSED, "z,exp_avg_sq",
     {PUB_NUM("lr", 0.0025, ">= 0"), PUB_ADAM_BETAS, PUB_NUM("eps", 1e-8, "> 0"),
      PUB_NUM("weight_decay", 0, ">= 0"), PUB_NUM("warmup_steps", 0, ">= 0"),
      PUB_NUM("r", 0, ">= 0"), PUB_NUM("weight_lr_power", 2, ">= 0")}},
    {"sf_sgd", OL_OPTIM_FUSED, "z",
     {PUB_NUM("lr", 1, ">= 0"), PUB_NUM("momentum", 0.9, "in (0, 1)"),
      PUB_NUM("weight_decay", 0, ">= 0"), PUB_NUM("warmup_steps", 0, ">= 0"),
      PUB_NUM("r", 0, ">= 0"), PUB_NUM("weight_lr_power", 2, ">= 0")}},
    /* Jordan 2024 with README's lr and weight_decay; use = "adamw" steps a
     * group by torch's AdamW with the group's lr, betas, eps, weight_decay
     * and amsgrad (MuonWithAuxAdam's use_muon flag) */
    {"muon", OL_OPTIM_TENSOR, "momentum_buffer,exp_avg,exp_avg_sq,max_exp_avg_sq",
     {PUB_NUM("lr", 0.02, ">= 0"), PUB_NUM("momentum", 0.95, "in [0, 1)"), PUB_BOOL("nesterov", 1),
      PUB_NUM("ns_steps", 5, "in [0, 100]"), PUB_NUM("weight_decay", 0, ">= 0"),
      PUB_ENUM("use", 0, "muon|adamw"), PUB_ADAM_BETAS, PUB_NUM("eps", 1e-8, "> 0"),
      PUB_BOOL("amsgrad", 0)}},
    /* You et al. 2019, Algorithm 2; README */
    {"lamb", OL_OPTIM_TENSOR, "exp_avg,exp_avg_sq",
     {PUB_NUM("lr", 1e-3, ">= 0"), PUB_ADAM_BETAS, PUB_NUM("eps", 1e-6, "> 0"),
      PUB_NUM("weight_decay", 0, ">= 0")}},
    /* You, Gitman & Ginsburg 2017; README */
    {"lars", OL_OPTIM_TENSOR, "momentum_buffer",
     {PUB_NUM("lr", 1, ">= 0"), PUB_NUM("momentum", 0.9, ">= 0"), PUB_BOOL("nesterov", 0),
      PUB_NUM("weight_decay", 0, ">= 0"), PUB_NUM("trust_coefficient", 1e-3, ">= 0"),
      PUB_NUM("eps", 0, ">= 0")}},
    /* torch.optim.Adafactor, whose eps = (None, 1e-3) is {0, 1e-3} here (0:
     * the machine epsilon) */
    {"adafactor", OL_OPTIM_TENSOR, "row_var,col_var,variance",
     {PUB_NUM("lr", 1e-2, ">= 0"), PUB_NUM("beta2_decay", -0.8, "<= 0"),
      PUB_PAIR("eps", 0, 1e-3, ">= 0"), PUB_NUM("d", 1, ">= 1"),
      PUB_NUM("weight_decay", 0, ">= 0")}},
    /* Gupta et al. 2018 with API.md section 13's momentum, update_every
     * and max_precond_dim */
    {"shampoo", OL_OPTIM_TENSOR, "momentum_buffer,left,right,left_root,right_root,diag",
     {PUB_NUM("lr", 0.1, ">= 0"), PUB_NUM("eps", 1e-4, "> 0"), PUB_NUM("momentum", 0, "in [0, 1)"),
      PUB_NUM("update_every", 1, "in [1, 1e+09]"),
      PUB_NUM("max_precond_dim", 2048, "in [1, 1e+09]")}},
    /* nikhilvyas/SOAP soap.py's defaults; shampoo_beta's -1 (nil in Lua)
     * follows betas[2], as the reference's -1 does */
    {"soap", OL_OPTIM_TENSOR, "exp_avg,exp_avg_sq,gg_left,gg_right,q_left,q_right",
     {PUB_NUM("lr", 3e-3, ">= 0"), PUB_PAIR("betas", 0.95, 0.95, "in [0, 1)"),
      PUB_NUM("shampoo_beta", -1, "in [0, 1)"), PUB_NUM("eps", 1e-8, "> 0"),
      PUB_NUM("weight_decay", 0.01, ">= 0"), PUB_NUM("precondition_frequency", 10, "in [1, 1e+09]"),
      PUB_NUM("max_precond_dim", 10000, "in [1, 1e+09]")}},
    /* README: the second-order methods */
    {"newton", OL_OPTIM_CLOSURE, "direction",
     {PUB_NUM("damping", 1e-4, ">= 0"), PUB_NUM("lr", 1, "> 0")}},
    {"cg", OL_OPTIM_CLOSURE, "direction,prev_grad",
     {PUB_NUM("max_iter", 20, "in [1, 1e+09]"), PUB_NUM("tol", 1e-7, ">= 0"),
      PUB_ENUM("beta", 0, "polak_ribiere|fletcher_reeves"), PUB_NUM("c1", 1e-4, "in (0, 1)"),
      PUB_NUM("c2", 0.1, "in (0, 1)"), PUB_NUM("restart", 0, "in [0, 1e+09]")}},
    /* torch.optim.LBFGS */
    {"lbfgs", OL_OPTIM_CLOSURE, "d,prev_flat_grad",
     {PUB_NUM("lr", 1, "> 0"), PUB_NUM("max_iter", 20, "in [1, 1e+09]"),
      PUB_NUM("max_eval", 0, "in [0, 1e+09]"), PUB_NUM("history_size", 100, "in [1, 1e+06]"),
      PUB_NUM("tolerance_grad", 1e-7, ">= 0"), PUB_NUM("tolerance_change", 1e-9, ">= 0"),
      PUB_ENUM("line_search", 0, "none|strong_wolfe")}},
    /* Martens 2010; README */
    {"hessian_free", OL_OPTIM_CLOSURE, "delta",
     {PUB_NUM("damping", 1, ">= 0"), PUB_NUM("cg_iters", 50, "in [1, 1e+09]"),
      PUB_NUM("decay", 0.95, "in [0, 1]"), PUB_BOOL("gauss_newton", 1)}},
};
#define NPUBLISHED ((int)(sizeof PUBLISHED / sizeof PUBLISHED[0]))

/* The published entry of an optimizer, NULL if there is none. */
static inline const pub_optim *pub_find(const char *name) {
    for (int i = 0; i < NPUBLISHED; i++)
        if (strcmp(PUBLISHED[i].name, name) == 0) return &PUBLISHED[i];
    return NULL;
}

/* Option k of optimizer `optim` as published, NULL if it has none. */
static inline const pub_option *pub_option_of(const char *optim, const char *k) {
    const pub_optim *p = pub_find(optim);
    for (const pub_option *op = p ? p->options : NULL; op && op->name; op++)
        if (strcmp(op->name, k) == 0) return op;
    return NULL;
}

/* ---- option schedules ---- */

/* An option value, in force from step `at` on (0: from the start). */
typedef struct kv {
    const char *k;
    double v[2];
    int at;
} kv;

#define KV_END {NULL, {0, 0}, 0}

/* Element `which` of option k at step t, def if never set by then. */
static inline double get2(const kv *o, const char *k, double def, int t, int which) {
    double r = def;
    for (; o && o->k; o++)
        if (strcmp(o->k, k) == 0 && o->at <= t) r = o->v[which];
    return r;
}

static inline double get(const kv *o, const char *k, double def, int t) {
    return get2(o, k, def, t, 0);
}

/* Element `which` of option k of optimizer `optim` at step t: from o, else
 * the published default. */
static inline double pget2(const kv *o, const char *optim, const char *k, int t, int which) {
    const pub_option *op = pub_option_of(optim, k);
    if (!op) fail_msg("%s has no published option %s", optim, k);
    return get2(o, k, op->def[which], t, which);
}

static inline double pget(const kv *o, const char *optim, const char *k, int t) {
    return pget2(o, optim, k, t, 0);
}

/* Assigns the values that take effect at step t, through the engine's checks. */
static inline void set_options(ol_optim *opt, const kv *o, int t) {
    ol_error err;
    for (; o && o->k; o++)
        if (o->at == t && ol_optim_set(opt, o->k, o->v, &err) != 0)
            fail_msg("setting %s: %s", o->k, err.msg);
}

#endif
