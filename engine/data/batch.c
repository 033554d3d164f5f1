/* Batches (see batch.h): buffers made once, filled by one gather of the
 * rows and their class ids, the target written from the ids by the forms
 * of nn.h's target rule. */
#include "data/batch.h"

#include <stdlib.h>
#include <string.h>

int ol_batch_init(ol_batch *b, const ol_dataset *ds, int64_t rows, ol_dtype dt, ol_error *err) {
    memset(b, 0, sizeof *b);
    const size_t r = (size_t)(rows > 0 ? rows : 1), es = ol_dtype_size(dt);
    b->x = malloc(r * (size_t)(ds->d > 0 ? ds->d : 1) * es);
    b->ids = malloc(r * sizeof *b->ids);
    if (!b->x || !b->ids) {
        ol_batch_free(b);
        return ol_fail(err, "out of memory for a batch of %lld rows", (long long)rows);
    }
    b->rows = rows;
    b->d = ds->d;
    b->classes = ds->classes;
    b->dtype = dt;
    b->form = OL_TARGET_IDS;
    b->target = (ol_target){b->ids, NULL};
    return 0;
}

int ol_batch_set_target(ol_batch *b, ol_target_form form, int64_t width, ol_error *err) {
    free(b->dense);
    b->dense = NULL;
    b->form = OL_TARGET_IDS;
    b->width = 0;
    b->target = (ol_target){b->ids, NULL};
    if (form == OL_TARGET_IDS) return 0;
    if ((form != OL_TARGET_ONEHOT && form != OL_TARGET_BINARY) || width < 1 ||
        (form == OL_TARGET_BINARY && width != 1))
        return ol_fail(err, "a batch's target is made from class labels: ids, one-hot rows or one binary value");
    const size_t r = (size_t)(b->rows > 0 ? b->rows : 1);
    b->dense = malloc(r * (size_t)width * ol_dtype_size(b->dtype));
    if (!b->dense) return ol_fail(err, "out of memory for a batch of %lld rows", (long long)b->rows);
    b->form = form;
    b->width = width;
    b->target = (ol_target){NULL, b->dense};
    return 0;
}

void ol_batch_free(ol_batch *b) {
    free(b->x);
    free(b->ids);
    free(b->dense);
    memset(b, 0, sizeof *b);
}

#define OL_GENERIC "data/generic/batch.h"
#include "core/generic.h"

void ol_batch_gather(ol_batch *b, const ol_dataset *ds, const int64_t *idx, int64_t n,
                     const int64_t *next, int64_t n_next) {
    b->n = b->global = n;
    if (n == 0) return;
    ol_dataset_gather_ahead(ds, idx, n, b->dtype, b->x, b->ids, next, n_next);
    if (b->dense)
        OL_DT_CALL(b->dtype, write_dense, b->ids, n, b->width, b->form == OL_TARGET_BINARY,
                   b->dense);
}
