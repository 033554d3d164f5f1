/* Losses: cross_entropy (fused, stable log-softmax + NLL, as
 * torch.nn.CrossEntropyLoss with class indices or class probabilities,
 * label_smoothing and class weights), mse (torch.nn.MSELoss), bce
 * (torch.nn.BCEWithLogitsLoss) and huber (torch.nn.HuberLoss), all with
 * reduction 'mean'; rules in generic/loss.h, instantiated for f32 and f64. */
#include <math.h>
#include <string.h>

#include "nn/kernels.h"
#include "core/parallel.h"

/* The loss is cut over the pool from 2 x LOSS_MIN_ROWS rows: a row of
 * cross-entropy over 10 classes costs 10 scalar exp, so a part of 64 rows
 * outlasts the pool's handoff, and a big batch's loss does not leave the
 * other core idle. */
#define LOSS_MIN_ROWS 64

static const char *const loss_names[] = {"cross_entropy", "mse", "bce", "huber"};
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

int ol_loss_check(const ol_loss_spec *l, int64_t c, ol_error *err) {
    if ((unsigned)l->kind >= OL_LOSS_COUNT) return ol_fail(err, "unknown loss");
    const char *name = ol_loss_name(l->kind);
    const int ce = l->kind == OL_LOSS_CROSS_ENTROPY;
    if (!(l->label_smoothing >= 0 && l->label_smoothing <= 1))
        return ol_fail(err, "%s: label_smoothing must be in [0, 1], got %g", name, l->label_smoothing);
    if (l->label_smoothing != 0 && !ce)
        return ol_fail(err, "%s takes no label_smoothing (cross_entropy does)", name);
    if (l->kind == OL_LOSS_HUBER && !(l->delta > 0 && isfinite(l->delta)))
        return ol_fail(err, "huber: delta must be a finite number > 0, got %g", l->delta);
    if (!l->weight) return 0;
    if (!ce) return ol_fail(err, "%s takes no class weight (cross_entropy does)", name);
    if (l->nweight != c)
        return ol_fail(err, "cross_entropy: weight has %lld values but the model has %lld classes (outputs)",
                       (long long)l->nweight, (long long)c);
    for (int64_t j = 0; j < c; j++)
        if (!(l->weight[j] >= 0 && isfinite(l->weight[j])))
            return ol_fail(err, "cross_entropy: weight[%lld] must be a finite number >= 0, got %g",
                           (long long)j + 1, l->weight[j]);
    return 0;
}

#define OL_GENERIC "nn/generic/loss.h"
#include "core/generic.h"
