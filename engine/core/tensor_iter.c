/* The strided n-d iterator that all elementwise tensor operations run on.
 * See tensor_kernels.h. */
#include "core/tensor_kernels.h"

#include <string.h>

void ol_iter_init(ol_iter *it, int ndim, const int64_t *shape) {
    memset(it, 0, sizeof *it);
    it->ndim = ndim;
    for (int d = 0; d < ndim; d++) it->shape[d] = shape[d];
}

void ol_iter_add(ol_iter *it, const ol_tensor *t) {
    int k = it->nops++;
    int lead = it->ndim - t->ndim;
    for (int d = 0; d < it->ndim; d++) {
        int td = d - lead;
        it->stride[k][d] = (td < 0 || t->shape[td] == 1) ? 0 : t->stride[td];
    }
    it->base[k] = (char *)ol_tensor_data(t);
    it->esize[k] = ol_dtype_size(t->dtype);
}

/* Drops size-1 dimensions, then merges dimension d into d+1 wherever every
 * operand steps through d exactly as a continuation of d+1. */
static void collapse(ol_iter *it) {
    int nd = 0;
    for (int d = 0; d < it->ndim; d++) {
        if (it->shape[d] == 1) continue;
        it->shape[nd] = it->shape[d];
        for (int k = 0; k < it->nops; k++) it->stride[k][nd] = it->stride[k][d];
        nd++;
    }
    it->ndim = nd;
    if (nd < 2) return;
    int out = nd - 1; /* innermost merged dimension, written from the back */
    for (int d = nd - 2; d >= 0; d--) {
        int ok = 1;
        for (int k = 0; k < it->nops; k++)
            if (it->stride[k][d] != it->stride[k][out] * it->shape[out]) { ok = 0; break; }
        if (ok) {
            it->shape[out] *= it->shape[d];
        } else {
            out--;
            it->shape[out] = it->shape[d];
            for (int k = 0; k < it->nops; k++) it->stride[k][out] = it->stride[k][d];
        }
    }
    /* shift the merged dimensions [out, nd) down to [0, nd - out) */
    int m = nd - out;
    for (int d = 0; d < m; d++) {
        it->shape[d] = it->shape[d + out];
        for (int k = 0; k < it->nops; k++) it->stride[k][d] = it->stride[k][d + out];
    }
    it->ndim = m;
}

void ol_iter_run(ol_iter *it, ol_row_fn fn, void *ctx) {
    for (int d = 0; d < it->ndim; d++)
        if (it->shape[d] == 0) return;
    collapse(it);
    char *p[OL_ITER_MAXOPS];
    int64_t s[OL_ITER_MAXOPS];
    for (int k = 0; k < it->nops; k++) p[k] = it->base[k];
    if (it->ndim == 0) {
        for (int k = 0; k < it->nops; k++) s[k] = 0;
        fn(ctx, 1, p, s);
        return;
    }
    int in = it->ndim - 1;
    int64_t n = it->shape[in];
    for (int k = 0; k < it->nops; k++) s[k] = it->stride[k][in];
    int64_t idx[OL_MAXDIM] = {0};
    for (;;) {
        fn(ctx, n, p, s);
        int d = in - 1;
        for (; d >= 0; d--) {
            for (int k = 0; k < it->nops; k++)
                p[k] += it->stride[k][d] * (int64_t)it->esize[k];
            if (++idx[d] < it->shape[d]) break;
            for (int k = 0; k < it->nops; k++)
                p[k] -= it->stride[k][d] * it->shape[d] * (int64_t)it->esize[k];
            idx[d] = 0;
        }
        if (d < 0) return;
    }
}
