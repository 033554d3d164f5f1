/* Matrix blocks of an optimizer instance: where the 2-D weights lie inside
 * the flat parameter vector. Muon needs them (it orthogonalises each matrix
 * as a whole); the flat-buffer interface alone cannot tell a 256x784 weight
 * from 200704 loose numbers. The scratch a step needs is allocated here,
 * once, so that a step allocates nothing. */
#include "optim/optim.h"

#include <stdlib.h>
#include <string.h>

int ol_optim_uses_blocks(const ol_optim *opt) {
    return opt->desc && opt->desc->kind == OL_OPTIM_MATRIX;
}

static int by_offset(const void *a, const void *b) {
    const ol_optim_block *x = a, *y = b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

int ol_optim_set_blocks(ol_optim *opt, const ol_optim_block *b, int nb, ol_error *err) {
    ol_optim_block *copy = NULL;
    ol_tensor work = {0};
    if (nb < 0) return ol_fail(err, "negative block count %d", nb);
    if (nb > 0) {
        copy = malloc((size_t)nb * sizeof *copy);
        if (!copy) return ol_fail(err, "out of memory for %d matrix blocks", nb);
        memcpy(copy, b, (size_t)nb * sizeof *copy);
        qsort(copy, (size_t)nb, sizeof *copy, by_offset);
        for (int i = 0; i < nb; i++) {
            const ol_optim_block k = copy[i], prev = i > 0 ? copy[i - 1] : k;
            if (k.rows < 1 || k.cols < 1 || k.offset < 0 || k.rows > (opt->n - k.offset) / k.cols) {
                free(copy);
                return ol_fail(err, "matrix %lldx%lld at offset %lld does not fit in %lld parameters",
                               (long long)k.rows, (long long)k.cols, (long long)k.offset,
                               (long long)opt->n);
            }
            if (i > 0 && prev.offset + prev.rows * prev.cols > k.offset) {
                free(copy);
                return ol_fail(err, "matrices at offsets %lld and %lld overlap",
                               (long long)prev.offset, (long long)k.offset);
            }
        }
        const int64_t nw = ol_optim_uses_blocks(opt) ? opt->desc->workspace(copy, nb) : 0;
        if (nw > 0) {
            const int64_t shape[1] = {nw};
            if (ol_tensor_zeros(&work, opt->dtype, 1, shape, err)) {
                free(copy);
                return -1;
            }
        }
    }
    free(opt->blocks);
    ol_tensor_release(&opt->work);
    opt->blocks = copy;
    opt->nblocks = nb;
    opt->work = work;
    return 0;
}
