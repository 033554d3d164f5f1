/* Losses: cross_entropy (fused, stable log-softmax + NLL, as
 * torch.nn.CrossEntropyLoss with class indices or class probabilities),
 * mse (torch.nn.MSELoss) and bce (torch.nn.BCEWithLogitsLoss), all with
 * reduction 'mean'; rules in generic/loss.h, instantiated for f32 and f64. */
#include <string.h>

#include "nn/kernels.h"
#include "core/parallel.h"

/* The loss is cut over the pool from 2 x LOSS_MIN_ROWS rows: a row of
 * cross-entropy over 10 classes costs 10 scalar exp, so a part of 64 rows
 * outlasts the pool's handoff, and a big batch's loss does not leave the
 * other core idle. */
#define LOSS_MIN_ROWS 64

static const char *const loss_names[] = {"cross_entropy", "mse", "bce"};
_Static_assert(sizeof loss_names / sizeof *loss_names == OL_LOSS_COUNT, "a name per loss");

const char *ol_loss_name(ol_loss_kind k) {
    return (unsigned)k < sizeof loss_names / sizeof *loss_names ? loss_names[k] : "?";
}

int ol_loss_parse(const char *name, ol_loss_kind *k) {
    for (unsigned i = 0; i < sizeof loss_names / sizeof *loss_names; i++)
        if (strcmp(name, loss_names[i]) == 0) {
            *k = (ol_loss_kind)i;
            return 0;
        }
    return -1;
}

#define OL_GENERIC "nn/generic/loss.h"
#include "core/generic.h"
