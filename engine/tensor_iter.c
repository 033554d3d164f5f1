/* The strided n-d iterator and the broadcasting rules (NumPy's: trailing
 * dimensions aligned, size 1 or missing leading dimensions stretch) that
 * all tensor operations share. See tensor_kernels.h. */
#include "tensor_kernels.h"

#include <stdio.h>
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

const char *ol_dims_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    if (size == 0) return buf;
    if (ndim == 0) {
        snprintf(buf, size, "scalar");
        return buf;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < ndim && used < size; d++) {
        int w = snprintf(buf + used, size - used, d ? "x%lld" : "%lld", (long long)shape[d]);
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}

int ol_broadcast_shape(const ol_tensor *a, const ol_tensor *b, int *ndim, int64_t *shape, ol_error *err) {
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t sa = da < 0 ? 1 : a->shape[da], sb = db < 0 ? 1 : b->shape[db];
        if (sa != sb && sa != 1 && sb != 1) {
            char b1[96], b2[96];
            return ol_fail(err, "shapes %s and %s cannot broadcast", ol_shape_str(a, b1, sizeof b1),
                           ol_shape_str(b, b2, sizeof b2));
        }
        shape[d] = sa == 1 ? sb : sa;
    }
    *ndim = nd;
    return 0;
}

int ol_check_broadcast_to(const ol_tensor *src, int ndim, const int64_t *shape, ol_error *err) {
    int ok = src->ndim <= ndim;
    for (int d = 0; ok && d < src->ndim; d++) {
        int64_t ss = src->shape[d], ts = shape[d + ndim - src->ndim];
        if (ss != ts && ss != 1) ok = 0;
    }
    if (ok) return 0;
    char b1[96], b2[96];
    return ol_fail(err, "shape %s cannot broadcast to %s", ol_shape_str(src, b1, sizeof b1),
                   ol_dims_str(ndim, shape, b2, sizeof b2));
}

int ol_check_dtype(const ol_tensor *a, const ol_tensor *b, ol_error *err) {
    if (a->dtype == b->dtype) return 0;
    return ol_fail(err, "%s and %s mixed", ol_dtype_name(a->dtype), ol_dtype_name(b->dtype));
}

/* Lowest and highest element offsets a tensor can touch. */
static void span(const ol_tensor *t, int64_t *lo, int64_t *hi) {
    int64_t l = t->offset, h = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        int64_t ext = t->stride[d] * (t->shape[d] - 1);
        if (ext < 0) l += ext; else h += ext;
    }
    *lo = l;
    *hi = h;
}

int ol_tensors_overlap(const ol_tensor *a, const ol_tensor *b) {
    if (!a->st || a->st != b->st) return 0;
    if (ol_tensor_numel(a) == 0 || ol_tensor_numel(b) == 0) return 0;
    int64_t al, ah, bl, bh;
    span(a, &al, &ah);
    span(b, &bl, &bh);
    /* offsets are in elements of each tensor's dtype; a storage is used by
     * one dtype at a time, so compare in bytes to be safe. */
    int64_t ea = (int64_t)ol_dtype_size(a->dtype), eb = (int64_t)ol_dtype_size(b->dtype);
    return al * ea < (bh + 1) * eb && bl * eb < (ah + 1) * ea;
}
