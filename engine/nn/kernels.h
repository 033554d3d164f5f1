/* The nn kernels on plain arrays, one instance per element type (suffix
 * _f32 for float, _f64 for double): declared in generic/kernels.h, written
 * once in generic/activation.h, linear.h and loss.h (core/generic.h).
 * Internal to engine/nn: the model calls them; tests may too. */
#ifndef OL_NN_KERNELS_H
#define OL_NN_KERNELS_H

#include <stdint.h>

#include "nn/nn.h"

/* Rows per partial sum where a sum over a batch's rows is cut over threads
 * (a bias gradient: ol_act_grad's db_groups; the loss: ol_loss_cut): the
 * groups' sums are kept apart and added in order, so the result does not
 * depend on the number of threads. Parts start on a multiple of it. */
#define OL_GROUP_ROWS 16

#define OL_GENERIC "nn/generic/kernels.h"
#include "core/generic.h"

#endif
