/* Every optimizer the library knows, one line each, grouped by kind (in
 * the order of README's table); `ol.optim.list()` gives them in this order.
 *
 * To add one: write engine/optim/NAME.c defining
 *     const ol_optim_desc ol_optim_NAME = {.name = "NAME", .kind = ..., ...};
 * (copy sgd.c), then add the line OL_OPTIM(NAME) to its kind's group below.
 * Nothing else in the engine: the Lua binding and the benchmark walk this
 * table; the registry test (tests/engine/test_optim_registry.c) then asks
 * for NAME's published options and a reference of its rule.
 *
 * The list is read twice (the file includes itself): once declaring each
 * descriptor, once taking its address into the table. */
#ifdef OL_OPTIM

/* fused: one pass over the flat buffers */
OL_OPTIM(sgd)
OL_OPTIM(nag)
OL_OPTIM(adaptive_gains)
OL_OPTIM(rprop)
OL_OPTIM(rmsprop)
OL_OPTIM(adagrad) /* per tensor (full_matrix), kept here in README's order */
OL_OPTIM(adadelta)
OL_OPTIM(adam)
OL_OPTIM(adamw)
OL_OPTIM(nadam)
OL_OPTIM(radam)
OL_OPTIM(adamax)
OL_OPTIM(adabelief)
OL_OPTIM(yogi)
OL_OPTIM(lion)
OL_OPTIM(sf_adamw)
OL_OPTIM(sf_sgd)
/* per tensor: rules that read a whole parameter tensor (a norm, a matrix's sides) */
OL_OPTIM(muon)
OL_OPTIM(lamb)
OL_OPTIM(lars)
OL_OPTIM(adafactor)
OL_OPTIM(shampoo)
OL_OPTIM(soap)
/* closure: stepped with a loss-and-gradient callback (second.h) */
OL_OPTIM(newton)
OL_OPTIM(cg)
OL_OPTIM(lbfgs)
OL_OPTIM(hessian_free)

#else

#include "optim/optim.h"

#define OL_OPTIM(name) extern const ol_optim_desc ol_optim_##name;
#include "optim/registry.c"
#undef OL_OPTIM

#define OL_OPTIM(name) &ol_optim_##name,
const ol_optim_desc *const ol_optim_registry[] = {
#include "optim/registry.c"
    NULL,
};
#undef OL_OPTIM

#endif
