/* Per-weight adaptive gains (Jacobs 1988, in the additive-up /
 * multiplicative-down form of Hinton's lecture 6d), shared by
 * adaptive_gains.c and rmsprop.c {gains = true}, so that the rule, its four
 * options and the rule between them are written once. Private to
 * engine/optim.
 *
 * Per element, before the step that uses the gain:
 *   gain <- gain + gain_up    if g·g_prev > 0   (the sign was kept)
 *   gain <- gain · gain_down  if g·g_prev < 0   (the sign flipped)
 *   (unchanged if either is 0, so the first step leaves the gain at 1)
 *   gain <- clip(gain, gain_min, gain_max)
 * The includer keeps gains (starting at 1) and g_prev (starting at 0) as
 * state buffers and stores g as the next g_prev.
 *
 * Included like an optimizer file's two parts: once from the includer's
 * plain part (options and their rule), then by core/generic.h from its
 * generic part, once per element type (the update). */
#ifndef OL_GENERIC
#ifndef OL_OPTIM_GENERIC_GAINS_H
#define OL_OPTIM_GENERIC_GAINS_H

#include "optim/optim.h"

/* The four options, with their defaults and ranges, as entries of an
 * includer's option table at the given slots. gain_max = inf means no
 * upper clip. */
#define OL_GAIN_OPTIONS(s_up, s_down, s_min, s_max)                                                \
    {.name = "gain_up", .type = OL_OPT_NUMBER, .slot = (s_up), .def = {0.05}, OL_GE0},             \
    {.name = "gain_down", .type = OL_OPT_NUMBER, .slot = (s_down), .def = {0.95},                  \
     .lo = 0, .hi = 1, .lo_open = 1},                                                              \
    {.name = "gain_min", .type = OL_OPT_NUMBER, .slot = (s_min), .def = {0.1}, OL_GT0},            \
    {.name = "gain_max", .type = OL_OPT_NUMBER, .slot = (s_max), .def = {10}, OL_GT0,              \
     .inf_is_none = 1}

/* The rule between them, for the includer's desc->check. */
static inline int ol_gains_check(double gain_min, double gain_max, ol_error *err) {
    if (gain_min > gain_max)
        return ol_fail(err, "option 'gain_min' must be <= gain_max, got %g > %g", gain_min,
                       gain_max);
    return 0;
}

#endif
#else /* the update for one element type T */

/* The gain k after a step whose gradient is g, the previous one prev. */
static inline T S(ol_gain_next)(T k, T g, T prev, T up, T down, T lo, T hi) {
    const T agree = g * prev;
    k = agree > 0 ? k + up : agree < 0 ? k * down : k;
    return OL_FMIN(OL_FMAX(k, lo), hi);
}

#endif
