/* Tensors: reference-counted 64-byte aligned storage, headers over it,
 * empty/zero/eye/range constructors, random fills (core/generic/random.h),
 * views (view/reshape/transpose/narrow/select/expand), the shape rules
 * (broadcasting as NumPy's: trailing dimensions aligned, size-1 or missing
 * leading dimensions stretch) and element access. Views follow PyTorch's
 * semantics (a view shares storage; reshape copies only when the strides
 * forbid a view). This file calls nothing of the other tensor files: the
 * elementwise machinery (tensor_iter.c, tensor_ops.c) and the tensors made
 * by filling or copying (full, clone, contiguous, index, in tensor_ops.c)
 * build on it. */
#include "core/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/tensor_kernels.h"

/* ---- dtype helpers ---- */

size_t ol_dtype_size(ol_dtype dt) { return dt == OL_F64 ? sizeof(double) : sizeof(float); }

const char *ol_dtype_name(ol_dtype dt) { return dt == OL_F64 ? "f64" : "f32"; }

int ol_dtype_parse(const char *name, ol_dtype *dt) {
    if (name && strcmp(name, "f32") == 0) { *dt = OL_F32; return 0; }
    if (name && strcmp(name, "f64") == 0) { *dt = OL_F64; return 0; }
    return -1;
}

/* ---- storage ---- */

ol_storage *ol_storage_new(size_t nbytes) {
    /* aligned_alloc needs a size that is a multiple of the alignment; an
     * empty tensor still gets one block so that data is never NULL. */
    if (nbytes > SIZE_MAX - 64) return NULL;
    size_t rounded = (nbytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    ol_storage *st = malloc(sizeof *st);
    if (!st) return NULL;
    st->data = aligned_alloc(64, rounded);
    if (!st->data) {
        free(st);
        return NULL;
    }
    st->nbytes = nbytes;
    st->refs = 1;
    return st;
}

void ol_storage_retain(ol_storage *st) {
    if (st) st->refs++;
}

void ol_storage_release(ol_storage *st) {
    if (!st) return;
    if (--st->refs == 0) {
        free(st->data);
        free(st);
    }
}

/* ---- headers ---- */

void ol_tensor_release(ol_tensor *t) {
    if (!t) return;
    ol_storage_release(t->st);
    memset(t, 0, sizeof *t);
}

void ol_tensor_share(const ol_tensor *src, ol_tensor *out) {
    ol_tensor tmp = *src; /* src and out may be the same header */
    ol_storage_retain(tmp.st);
    *out = tmp;
}

int64_t ol_tensor_numel(const ol_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

int ol_tensor_is_contiguous(const ol_tensor *t) {
    /* Size-1 dimensions may have any stride: no step is ever taken. */
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] == 0) return 1;
        if (t->shape[d] != 1 && t->stride[d] != expect) return 0;
        expect *= t->shape[d];
    }
    return 1;
}

void *ol_tensor_data(const ol_tensor *t) {
    if (!t->st) return NULL;
    return (char *)t->st->data + t->offset * (int64_t)ol_dtype_size(t->dtype);
}

const char *ol_shape_str(const ol_tensor *t, char *buf, size_t size) {
    return ol_dims_str(t->ndim, t->shape, buf, size);
}

/* ---- constructors ---- */

/* Largest element count accepted: keeps every byte size and offset far from
 * overflow (2^48 elements is 1 PB of floats). */
#define OL_MAX_NUMEL ((int64_t)1 << 48)

static void set_contiguous_strides(ol_tensor *t) {
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        t->stride[d] = s;
        s *= t->shape[d];
    }
}

int ol_tensor_empty(ol_tensor *out, ol_dtype dt, int ndim, const int64_t *shape, ol_error *err) {
    memset(out, 0, sizeof *out);
    if (dt != OL_F32 && dt != OL_F64) return ol_fail(err, "unknown dtype %d", (int)dt);
    if (ndim < 0 || ndim > OL_MAXDIM)
        return ol_fail(err, "%d dimensions (at most %d)", ndim, OL_MAXDIM);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return ol_fail(err, "negative size %lld in dimension %d", (long long)shape[d], d);
        if (shape[d] > 0 && n > OL_MAX_NUMEL / shape[d]) {
            char b[96];
            return ol_fail(err, "shape %s is too large", ol_dims_str(ndim, shape, b, sizeof b));
        }
        n *= shape[d];
    }
    if (n > OL_MAX_NUMEL) {
        char b[96];
        return ol_fail(err, "shape %s is too large", ol_dims_str(ndim, shape, b, sizeof b));
    }
    ol_storage *st = ol_storage_new((size_t)n * ol_dtype_size(dt));
    if (!st) {
        char b[96];
        return ol_fail(err, "out of memory for a %s %s tensor", ol_dims_str(ndim, shape, b, sizeof b),
                       ol_dtype_name(dt));
    }
    out->st = st;
    out->offset = 0;
    out->dtype = dt;
    out->ndim = ndim;
    for (int d = 0; d < ndim; d++) out->shape[d] = shape[d];
    set_contiguous_strides(out);
    return 0;
}

int ol_tensor_zeros(ol_tensor *out, ol_dtype dt, int ndim, const int64_t *shape, ol_error *err) {
    if (ol_tensor_empty(out, dt, ndim, shape, err)) return -1;
    /* all-zero bytes are +0.0 in IEEE 754 */
    memset(out->st->data, 0, out->st->nbytes);
    return 0;
}

int ol_tensor_eye(ol_tensor *out, ol_dtype dt, int64_t n, ol_error *err) {
    if (n < 0) return ol_fail(err, "negative size %lld", (long long)n);
    int64_t shape[2] = {n, n};
    if (ol_tensor_zeros(out, dt, 2, shape, err)) return -1;
    for (int64_t i = 0; i < n; i++) {
        if (dt == OL_F32) ((float *)out->st->data)[i * n + i] = 1.0f;
        else ((double *)out->st->data)[i * n + i] = 1.0;
    }
    return 0;
}

int ol_tensor_range(ol_tensor *out, ol_dtype dt, double first, double last, double step, ol_error *err) {
    memset(out, 0, sizeof *out);
    if (!isfinite(first) || !isfinite(last) || !isfinite(step))
        return ol_fail(err, "range %g to %g step %g is not finite", first, last, step);
    if (step == 0) return ol_fail(err, "range step is 0");
    /* Elements are first + k*step (not repeated addition, which drifts),
     * k = 0, 1, ... while the value stays within [first, last]. The count
     * from the quotient is corrected by a step either way for rounding. */
    double q = floor((last - first) / step);
    int64_t n;
    if (q < 0) {
        n = 0;
    } else {
        if (q >= (double)OL_MAX_NUMEL)
            return ol_fail(err, "range %g to %g step %g has too many elements", first, last, step);
        n = (int64_t)q + 1;
        while (step > 0 ? first + (double)n * step <= last : first + (double)n * step >= last) n++;
        while (n > 0 && (step > 0 ? first + (double)(n - 1) * step > last
                                  : first + (double)(n - 1) * step < last))
            n--;
    }
    if (ol_tensor_empty(out, dt, 1, &n, err)) return -1;
    for (int64_t k = 0; k < n; k++) {
        double v = first + (double)k * step;
        if (dt == OL_F32) ((float *)out->st->data)[k] = (float)v;
        else ((double *)out->st->data)[k] = v;
    }
    return 0;
}

/* ---- random numbers ---- */

/* The offset of the element after the one at off, whose index idx is
 * advanced with it, in row-major logical order. */
static int64_t next_offset(const ol_tensor *t, int64_t *idx, int64_t off) {
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += t->stride[d];
        if (++idx[d] < t->shape[d]) break;
        off -= t->stride[d] * t->shape[d];
        idx[d] = 0;
    }
    return off;
}

#define OL_GENERIC "core/generic/random.h"
#include "core/generic.h"

void ol_tensor_uniform_(ol_tensor *t, double lo, double hi) {
    if (t->st) OL_DT_CALL(t->dtype, uniform_fill, t, lo, hi);
}

void ol_tensor_normal_(ol_tensor *t, double mean, double std) {
    if (t->st) OL_DT_CALL(t->dtype, normal_fill, t, mean, std);
}

/* ---- views ---- */

static int check_dim(const ol_tensor *t, int dim, ol_error *err) {
    if (dim < 0 || dim >= t->ndim)
        return ol_fail(err, "dimension %d out of range (tensor has %d)", dim, t->ndim);
    return 0;
}

/* Resolves one -1 in shape into newshape; checks the element count. */
static int infer_shape(const ol_tensor *t, int ndim, const int64_t *shape, int64_t *newshape,
                       ol_error *err) {
    if (ndim < 0 || ndim > OL_MAXDIM)
        return ol_fail(err, "%d dimensions (at most %d)", ndim, OL_MAXDIM);
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < ndim; d++) {
        newshape[d] = shape[d];
        if (shape[d] == -1) {
            if (infer >= 0) return ol_fail(err, "only one size may be -1");
            infer = d;
        } else if (shape[d] < 0) {
            return ol_fail(err, "negative size %lld in dimension %d", (long long)shape[d], d);
        } else {
            if (shape[d] > 0 && known > OL_MAX_NUMEL / shape[d]) known = OL_MAX_NUMEL + 1;
            else known *= shape[d];
        }
    }
    int64_t n = ol_tensor_numel(t);
    char b1[96], b2[96];
    if (infer >= 0) {
        if (known == 0 || n % known != 0) {
            newshape[infer] = 1; /* for the message */
            return ol_fail(err, "shape %s is not compatible with %s (%lld elements)",
                           ol_dims_str(ndim, shape, b1, sizeof b1), ol_shape_str(t, b2, sizeof b2),
                           (long long)n);
        }
        newshape[infer] = n / known;
        known = n;
    }
    if (known != n)
        return ol_fail(err, "shape %s is not compatible with %s (%lld vs %lld elements)",
                       ol_dims_str(ndim, shape, b1, sizeof b1), ol_shape_str(t, b2, sizeof b2),
                       (long long)known, (long long)n);
    return 0;
}

/* Strides for viewing t as newshape without copying, or -1 when the layout
 * does not allow it. PyTorch's rule (computeStride): t's dimensions are cut
 * into chunks that are each contiguous in memory; every chunk must map onto
 * a run of new dimensions with the same element count. */
static int view_strides(const ol_tensor *t, int ndim, const int64_t *newshape, int64_t *newstride) {
    int64_t numel = ol_tensor_numel(t);
    if (numel == 0 || t->ndim == 0) {
        int64_t s = 1;
        for (int d = ndim - 1; d >= 0; d--) {
            newstride[d] = s;
            s *= newshape[d] > 0 ? newshape[d] : 1;
        }
        return 0;
    }
    int view_d = ndim - 1;
    int64_t chunk_base_stride = t->stride[t->ndim - 1];
    int64_t tensor_numel = 1, view_numel = 1;
    for (int td = t->ndim - 1; td >= 0; td--) {
        tensor_numel *= t->shape[td];
        if (td == 0 || (t->shape[td - 1] != 1 && t->stride[td - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || newshape[view_d] == 1)) {
                newstride[view_d] = view_numel * chunk_base_stride;
                view_numel *= newshape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return -1;
            if (td > 0) {
                chunk_base_stride = t->stride[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1 ? 0 : -1;
}

int ol_view_layout(const ol_tensor *t, int ndim, const int64_t *shape, int64_t *newshape,
                   int64_t *newstride, ol_error *err) {
    if (infer_shape(t, ndim, shape, newshape, err)) return -1;
    return view_strides(t, ndim, newshape, newstride) ? 1 : 0;
}

int ol_tensor_view(const ol_tensor *t, int ndim, const int64_t *shape, ol_tensor *out, ol_error *err) {
    int64_t ns[OL_MAXDIM], nst[OL_MAXDIM];
    if (infer_shape(t, ndim, shape, ns, err)) {
        if (out != t) memset(out, 0, sizeof *out);
        return -1;
    }
    if (view_strides(t, ndim, ns, nst)) {
        char b1[96], b2[96];
        if (out != t) memset(out, 0, sizeof *out);
        return ol_fail(err, "a non-contiguous %s tensor cannot be viewed as %s without a copy (use reshape)",
                       ol_shape_str(t, b1, sizeof b1), ol_dims_str(ndim, ns, b2, sizeof b2));
    }
    ol_tensor r;
    ol_tensor_share(t, &r);
    r.ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        r.shape[d] = ns[d];
        r.stride[d] = nst[d];
    }
    if (out == t) ol_tensor_release(out);
    *out = r;
    return 0;
}

int ol_tensor_transpose(const ol_tensor *t, int d0, int d1, ol_tensor *out, ol_error *err) {
    if (check_dim(t, d0, err) || check_dim(t, d1, err)) {
        if (out != t) memset(out, 0, sizeof *out);
        return -1;
    }
    ol_tensor r;
    ol_tensor_share(t, &r);
    int64_t s = r.shape[d0];
    r.shape[d0] = r.shape[d1];
    r.shape[d1] = s;
    s = r.stride[d0];
    r.stride[d0] = r.stride[d1];
    r.stride[d1] = s;
    if (out == t) ol_tensor_release(out);
    *out = r;
    return 0;
}

int ol_tensor_narrow(const ol_tensor *t, int dim, int64_t start, int64_t len, ol_tensor *out, ol_error *err) {
    if (check_dim(t, dim, err)) goto fail;
    if (start < 0 || start > t->shape[dim]) {
        ol_fail(err, "start %lld out of range for dimension %d of size %lld", (long long)start, dim,
                (long long)t->shape[dim]);
        goto fail;
    }
    if (len < 0 || len > t->shape[dim] - start) {
        ol_fail(err, "length %lld from %lld out of range for dimension %d of size %lld", (long long)len,
                (long long)start, dim, (long long)t->shape[dim]);
        goto fail;
    }
    ol_tensor r;
    ol_tensor_share(t, &r);
    r.shape[dim] = len;
    if (len > 0) r.offset += start * r.stride[dim];
    if (out == t) ol_tensor_release(out);
    *out = r;
    return 0;
fail:
    if (out != t) memset(out, 0, sizeof *out);
    return -1;
}

int ol_tensor_select(const ol_tensor *t, int dim, int64_t i, ol_tensor *out, ol_error *err) {
    if (check_dim(t, dim, err)) goto fail;
    if (i < 0 || i >= t->shape[dim]) {
        ol_fail(err, "index %lld out of range for dimension %d of size %lld", (long long)i, dim,
                (long long)t->shape[dim]);
        goto fail;
    }
    ol_tensor r;
    ol_tensor_share(t, &r);
    r.offset += i * r.stride[dim];
    for (int d = dim; d < r.ndim - 1; d++) {
        r.shape[d] = r.shape[d + 1];
        r.stride[d] = r.stride[d + 1];
    }
    r.ndim--;
    r.shape[r.ndim] = 0;
    r.stride[r.ndim] = 0;
    if (out == t) ol_tensor_release(out);
    *out = r;
    return 0;
fail:
    if (out != t) memset(out, 0, sizeof *out);
    return -1;
}

int ol_tensor_expand(const ol_tensor *t, int ndim, const int64_t *shape, ol_tensor *out, ol_error *err) {
    if (ndim < 0 || ndim > OL_MAXDIM) {
        if (out != t) memset(out, 0, sizeof *out);
        return ol_fail(err, "%d dimensions (at most %d)", ndim, OL_MAXDIM);
    }
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0) {
            if (out != t) memset(out, 0, sizeof *out);
            return ol_fail(err, "negative size %lld in dimension %d", (long long)shape[d], d);
        }
    if (ol_check_broadcast_to(t, ndim, shape, err)) {
        if (out != t) memset(out, 0, sizeof *out);
        return -1;
    }
    ol_tensor r;
    ol_tensor_share(t, &r);
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++) {
        int td = d - lead;
        r.shape[d] = shape[d];
        r.stride[d] = (td < 0 || (t->shape[td] == 1 && shape[d] != 1)) ? 0 : t->stride[td];
    }
    r.ndim = ndim;
    if (out == t) ol_tensor_release(out);
    *out = r;
    return 0;
}

/* ---- shape rules ---- */

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

/* ---- element access ---- */

static int64_t element_offset(const ol_tensor *t, const int64_t *index) {
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++) off += index[d] * t->stride[d];
    return off;
}

double ol_tensor_get(const ol_tensor *t, const int64_t *index) {
    int64_t off = element_offset(t, index);
    return t->dtype == OL_F32 ? (double)((float *)t->st->data)[off] : ((double *)t->st->data)[off];
}

void ol_tensor_set(ol_tensor *t, const int64_t *index, double v) {
    int64_t off = element_offset(t, index);
    if (t->dtype == OL_F32) ((float *)t->st->data)[off] = (float)v;
    else ((double *)t->st->data)[off] = v;
}
