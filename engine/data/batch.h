/* A batch: the rows one step reads, as one value. The loader fills it
 * (loader.h: ol_loader_next_batch); an evaluation over a dataset fills it
 * with ol_batch_gather. Its buffers are made once, for the largest batch,
 * so that filling it allocates nothing.
 *
 * Labels are read once per batch, when its rows are gathered: their class
 * ids (0-based) go to ids, and the target the loss takes is made from the
 * ids by the target rule of nn.h (ol_target_of_labels chooses the form): it
 * is the ids themselves, or dense values written from them. A step then
 * reads x, target and ids (for the accuracy), nothing of the dataset.
 *
 *   ol_batch b;
 *   ol_target_form form;
 *   if (ol_loader_batch_init(&l, &b, OL_F32, &err) ||
 *       ol_target_of_labels(OL_LOSS_MSE, out, b.classes, &form, &err) ||
 *       ol_batch_set_target(&b, form, out, &err)) ...
 *   while (ol_loader_next_batch(&l, &b) > 0) { ... b.x, b.target, b.n ... }
 *   ol_batch_free(&b);
 */
#ifndef OL_DATA_BATCH_H
#define OL_DATA_BATCH_H

#include <stdint.h>

#include "nn/nn.h" /* ol_target and the target rule: what a loss takes */
#include "data/dataset.h"

typedef struct ol_batch {
    void *x;          /* n x d features, row-major, element type dtype */
    int32_t *ids;     /* n class ids, 0-based (label - 1); -1 when unlabelled */
    void *dense;      /* forms ONEHOT and BINARY: n x width values of dtype */
    ol_target target; /* what the loss reads: {ids, NULL} or {NULL, dense} */
    int64_t n;        /* rows in this batch (a shard's slice, when sharded) */
    int64_t global;   /* rows of the global batch the slice is of (else n) */
    /* fixed when made */
    int64_t rows;     /* the most rows it holds */
    int64_t d;        /* features per row */
    int32_t classes;  /* labels are 1..classes; 0: unlabelled */
    ol_dtype dtype;
    ol_target_form form; /* of target; OL_TARGET_IDS until set */
    int64_t width;       /* dense values per row; 0 for the ids */
} ol_batch;

/* Buffers for up to rows rows (at least one is made) of ds's features and
 * class ids, features in dt; the target is the ids. */
int ol_batch_init(ol_batch *b, const ol_dataset *ds, int64_t rows, ol_dtype dt, ol_error *err);
/* Sets the target's form: OL_TARGET_IDS, or OL_TARGET_ONEHOT or
 * OL_TARGET_BINARY with width values per row (the model's outputs: the
 * classes, or 1), made in a buffer of its own. */
int ol_batch_set_target(ol_batch *b, ol_target_form form, int64_t width, ol_error *err);
void ol_batch_free(ol_batch *b); /* a zeroed batch too */

/* Fills b with samples idx[0..n-1] of ds (n <= b->rows; ds of b's width
 * and classes): features, ids, and the target made from the ids. n and
 * global become n. The features of samples next[0..n_next-1] are
 * requested from memory meanwhile (a hint: no effect on any value). */
void ol_batch_gather(ol_batch *b, const ol_dataset *ds, const int64_t *idx, int64_t n,
                     const int64_t *next, int64_t n_next);

#endif
