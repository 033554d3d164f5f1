/* Every optimizer the library knows, in the order `ol.optim` lists them.
 *
 * To add one: write engine/optim/NAME.c defining
 *     const ol_optim_desc ol_optim_NAME = { .name = "NAME", ... };
 * (copy sgd.c), then add ONE extern line in the block below and ONE row in
 * the table, each in its family's section. Nothing else: the Lua binding,
 * the benchmark and the generic tests walk this table. */
#include "optim/optim.h"

/* first-order optimizers without adaptive moments */
extern const ol_optim_desc ol_optim_sgd;
extern const ol_optim_desc ol_optim_nag;
extern const ol_optim_desc ol_optim_adaptive_gains;
extern const ol_optim_desc ol_optim_rprop;
extern const ol_optim_desc ol_optim_rmsprop;
extern const ol_optim_desc ol_optim_adagrad;
extern const ol_optim_desc ol_optim_adadelta;
/* the adam family, lion, muon */
extern const ol_optim_desc ol_optim_adam;
extern const ol_optim_desc ol_optim_adamax;
extern const ol_optim_desc ol_optim_adamw;
extern const ol_optim_desc ol_optim_lion;
extern const ol_optim_desc ol_optim_muon;
extern const ol_optim_desc ol_optim_nadam;
extern const ol_optim_desc ol_optim_radam;
/* closure methods (engine/optim/second.h) */
extern const ol_optim_desc ol_optim_newton;
extern const ol_optim_desc ol_optim_cg;
extern const ol_optim_desc ol_optim_lbfgs;
extern const ol_optim_desc ol_optim_hessian_free;

const ol_optim_desc *const ol_optim_registry[] = {
    /* first-order, without adaptive moments */
    &ol_optim_sgd,
    &ol_optim_nag,
    &ol_optim_adaptive_gains,
    &ol_optim_rprop,
    &ol_optim_rmsprop,
    &ol_optim_adagrad,
    &ol_optim_adadelta,
    /* the adam family, lion, muon */
    &ol_optim_adam,
    &ol_optim_adamax,
    &ol_optim_adamw,
    &ol_optim_lion,
    &ol_optim_muon,
    &ol_optim_nadam,
    &ol_optim_radam,
    /* closure methods */
    &ol_optim_newton,
    &ol_optim_cg,
    &ol_optim_lbfgs,
    &ol_optim_hessian_free,
    NULL,
};
