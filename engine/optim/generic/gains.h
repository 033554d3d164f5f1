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
 * plain part (the rule between the options), then by core/generic.h from
 * its generic part, once per element type (the update). And a third time
 * inside the includer's option table, with OL_GAIN_OPTION_ENTRIES defined:
 * the four options' entries, with their defaults and ranges, at the
 * includer's slots GAIN_UP, GAIN_DOWN, GAIN_MIN and GAIN_MAX (gain_max =
 * inf means no upper clip). */
#if defined(OL_GAIN_OPTION_ENTRIES)
#undef OL_GAIN_OPTION_ENTRIES
{.name = "gain_up", .type = OL_OPT_NUMBER, .slot = GAIN_UP, .def = {0.05}, OL_GE0},
{.name = "gain_down", .type = OL_OPT_NUMBER, .slot = GAIN_DOWN, .def = {0.95}, .lo = 0, .hi = 1,
 .lo_open = 1},
{.name = "gain_min", .type = OL_OPT_NUMBER, .slot = GAIN_MIN, .def = {0.1}, OL_GT0},
{.name = "gain_max", .type = OL_OPT_NUMBER, .slot = GAIN_MAX, .def = {10}, OL_GT0,
 .inf_is_none = 1},
#elif !defined(OL_GENERIC)
#ifndef OL_OPTIM_GENERIC_GAINS_H
#define OL_OPTIM_GENERIC_GAINS_H

#include "optim/optim.h"

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
