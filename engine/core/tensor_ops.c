/* Elementwise operations (broadcast NumPy-style), copies between layouts
 * and dtypes, reductions, norms and dot products, and the tensors made by
 * filling or copying (full, clone, contiguous, index).
 *
 * Every operation builds an ol_iter over its operands (tensor_iter.c) and
 * runs one of the row kernels of core/generic/tensor.h, instantiated here
 * for float and double (core/generic.h).
 *
 * Rules:
 *  - in-place ops whose source shares storage with the destination and may
 *    overlap it (x:add_(x:t()), a shifted narrow of itself) first copy the
 *    source, so the result is as if all of it were read before any write;
 *  - a destination must not itself be an expanded (stride-0) view;
 *  - sums, means, norms and dots accumulate in double whatever the dtype;
 *  - NaN propagates: through sums naturally, and max/min/argmax treat the
 *    first NaN as the extreme (NumPy's rule); clamp keeps NaN. */
#include "core/tensor.h"

#include <string.h>

#include "core/tensor_kernels.h"

typedef struct op_ctx {
    int op;
    int scalar_first;
    double s; /* scalar operand, alpha, value, or clamp's lo */
    double p; /* pow exponent, or clamp's hi */
} op_ctx;

typedef struct red_ctx {
    int op;
    int with_indices;
    double acc, p;
    int64_t at, seen;      /* extreme: its flat index, elements seen so far */
    int64_t len, step;     /* reduce_dim: length and stride of the reduced dim */
} red_ctx;

/* The unary kernel's code for OL_POW with exponent 2: x * x, a loop that
 * vectorises where pow's does not. */
enum { UNARY_SQUARE = -1 };

#define OL_GENERIC "core/generic/tensor.h"
#include "core/generic.h"

/* Conversions between the two dtypes (ol_tensor_to). */
static void f32_to_f64_row(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    (void)ctx;
    double *restrict o = (double *)p[0];
    const float *restrict a = (const float *)p[1];
    for (int64_t i = 0; i < n; i++) o[i * s[0]] = (double)a[i * s[1]];
}

static void f64_to_f32_row(void *ctx, int64_t n, char *const *p, const int64_t *s) {
    (void)ctx;
    float *restrict o = (float *)p[0];
    const double *restrict a = (const double *)p[1];
    for (int64_t i = 0; i < n; i++) o[i * s[0]] = (float)a[i * s[1]];
}

/* src itself, or a private copy of it when it may overlap dst (*tmp then
 * owns the copy and must be released). */
static int unaliased(const ol_tensor *dst, const ol_tensor *src, ol_tensor *tmp, const ol_tensor **use,
                     ol_error *err) {
    memset(tmp, 0, sizeof *tmp);
    *use = src;
    if (!ol_tensors_overlap(dst, src)) return 0;
    if (ol_tensor_clone(src, tmp, err)) return -1;
    *use = tmp;
    return 0;
}

/* ---- copies ---- */

int ol_tensor_copy_(ol_tensor *dst, const ol_tensor *src, ol_error *err) {
    if (ol_check_dtype(dst, src, err) || ol_check_broadcast_to(src, dst->ndim, dst->shape, err)) return -1;
    ol_tensor tmp;
    const ol_tensor *s;
    if (unaliased(dst, src, &tmp, &s, err)) return -1;
    ol_iter it;
    ol_iter_init(&it, dst->ndim, dst->shape);
    ol_iter_add(&it, dst);
    ol_iter_add(&it, s);
    ol_iter_run(&it, OL_DT_PICK(dst->dtype, copy_row), NULL);
    ol_tensor_release(&tmp);
    return 0;
}

int ol_tensor_to(const ol_tensor *t, ol_dtype dt, ol_tensor *out, ol_error *err) {
    if (t->dtype == dt) return ol_tensor_clone(t, out, err);
    ol_tensor r;
    if (ol_tensor_empty(&r, dt, t->ndim, t->shape, err)) {
        if (out != t) memset(out, 0, sizeof *out);
        return -1;
    }
    ol_iter it;
    ol_iter_init(&it, t->ndim, t->shape);
    ol_iter_add(&it, &r);
    ol_iter_add(&it, t);
    ol_iter_run(&it, dt == OL_F64 ? f32_to_f64_row : f64_to_f32_row, NULL);
    if (out == t) ol_tensor_release(out);
    *out = r;
    return 0;
}

/* ---- elementwise ---- */

int ol_binary(ol_binop op, const ol_tensor *a, const ol_tensor *b, ol_tensor *out, ol_error *err) {
    int nd;
    int64_t shape[OL_MAXDIM];
    ol_tensor r;
    memset(&r, 0, sizeof r);
    if (ol_check_dtype(a, b, err) || ol_broadcast_shape(a, b, &nd, shape, err) ||
        ol_tensor_empty(&r, a->dtype, nd, shape, err)) {
        if (out != a && out != b) memset(out, 0, sizeof *out);
        return -1;
    }
    op_ctx c = {.op = (int)op};
    ol_iter it;
    ol_iter_init(&it, nd, shape);
    ol_iter_add(&it, &r);
    ol_iter_add(&it, a);
    ol_iter_add(&it, b);
    ol_iter_run(&it, OL_DT_PICK(a->dtype, binary_row), &c);
    if (out == a || out == b) ol_tensor_release(out);
    *out = r;
    return 0;
}

int ol_binary_scalar(ol_binop op, const ol_tensor *a, double s, int scalar_first, ol_tensor *out,
                     ol_error *err) {
    ol_tensor r;
    if (ol_tensor_empty(&r, a->dtype, a->ndim, a->shape, err)) {
        if (out != a) memset(out, 0, sizeof *out);
        return -1;
    }
    op_ctx c = {.op = (int)op, .scalar_first = scalar_first, .s = s};
    ol_iter it;
    ol_iter_init(&it, a->ndim, a->shape);
    ol_iter_add(&it, &r);
    ol_iter_add(&it, a);
    ol_iter_run(&it, OL_DT_PICK(a->dtype, scalar_row), &c);
    if (out == a) ol_tensor_release(out);
    *out = r;
    return 0;
}

/* dst op= src through kernel fn, src broadcast to dst. */
static int inplace2(ol_row_fn fn, op_ctx *c, ol_tensor *dst, const ol_tensor *src, ol_error *err) {
    if (ol_check_dtype(dst, src, err) || ol_check_broadcast_to(src, dst->ndim, dst->shape, err)) return -1;
    ol_tensor tmp;
    const ol_tensor *s;
    if (unaliased(dst, src, &tmp, &s, err)) return -1;
    ol_iter it;
    ol_iter_init(&it, dst->ndim, dst->shape);
    ol_iter_add(&it, dst);
    ol_iter_add(&it, s);
    ol_iter_run(&it, fn, c);
    ol_tensor_release(&tmp);
    return 0;
}

int ol_binary_(ol_binop op, ol_tensor *dst, const ol_tensor *src, ol_error *err) {
    op_ctx c = {.op = (int)op};
    return inplace2(OL_DT_PICK(dst->dtype, binary_inplace_row), &c, dst, src, err);
}

int ol_axpy_(ol_tensor *dst, double alpha, const ol_tensor *src, ol_error *err) {
    op_ctx c = {.s = alpha};
    return inplace2(OL_DT_PICK(dst->dtype, axpy_row), &c, dst, src, err);
}

/* In-place ops on dst alone. */
static void inplace1(ol_row_fn fn, op_ctx *c, ol_tensor *dst) {
    if (!dst->st) return;
    ol_iter it;
    ol_iter_init(&it, dst->ndim, dst->shape);
    ol_iter_add(&it, dst);
    ol_iter_run(&it, fn, c);
}

void ol_binary_scalar_(ol_binop op, ol_tensor *dst, double s) {
    op_ctx c = {.op = (int)op, .s = s};
    inplace1(OL_DT_PICK(dst->dtype, scalar_inplace_row), &c, dst);
}

void ol_fill_(ol_tensor *t, double v) {
    op_ctx c = {.s = v};
    inplace1(OL_DT_PICK(t->dtype, fill_row), &c, t);
}

void ol_clamp_(ol_tensor *t, double lo, double hi) {
    op_ctx c = {.s = lo, .p = hi};
    inplace1(OL_DT_PICK(t->dtype, clamp_row), &c, t);
}

int ol_unary(ol_unop op, const ol_tensor *a, double p, ol_tensor *out, ol_error *err) {
    ol_tensor r;
    if (ol_tensor_empty(&r, a->dtype, a->ndim, a->shape, err)) {
        if (out != a) memset(out, 0, sizeof *out);
        return -1;
    }
    op_ctx c = {.op = (int)op, .p = p};
    ol_iter it;
    ol_iter_init(&it, a->ndim, a->shape);
    ol_iter_add(&it, &r);
    ol_iter_add(&it, a);
    ol_iter_run(&it, OL_DT_PICK(a->dtype, unary_row), &c);
    if (out == a) ol_tensor_release(out);
    *out = r;
    return 0;
}

void ol_unary_(ol_unop op, ol_tensor *t, double p) {
    if (!t->st) return;
    op_ctx c = {.op = (int)op, .p = p};
    ol_iter it;
    ol_iter_init(&it, t->ndim, t->shape);
    ol_iter_add(&it, t);
    ol_iter_add(&it, t); /* same element read then written: no overlap issue */
    ol_iter_run(&it, OL_DT_PICK(t->dtype, unary_row), &c);
}

static int addc(int op, ol_tensor *dst, const ol_tensor *a, const ol_tensor *b, double value, ol_error *err) {
    if (ol_check_dtype(dst, a, err) || ol_check_dtype(dst, b, err) ||
        ol_check_broadcast_to(a, dst->ndim, dst->shape, err) ||
        ol_check_broadcast_to(b, dst->ndim, dst->shape, err))
        return -1;
    ol_tensor ta, tb;
    const ol_tensor *ua, *ub;
    if (unaliased(dst, a, &ta, &ua, err)) return -1;
    if (unaliased(dst, b, &tb, &ub, err)) {
        ol_tensor_release(&ta);
        return -1;
    }
    op_ctx c = {.op = op, .s = value};
    ol_iter it;
    ol_iter_init(&it, dst->ndim, dst->shape);
    ol_iter_add(&it, dst);
    ol_iter_add(&it, ua);
    ol_iter_add(&it, ub);
    ol_iter_run(&it, OL_DT_PICK(dst->dtype, addc_row), &c);
    ol_tensor_release(&ta);
    ol_tensor_release(&tb);
    return 0;
}

int ol_addcmul_(ol_tensor *dst, const ol_tensor *a, const ol_tensor *b, double value, ol_error *err) {
    return addc(OL_MUL, dst, a, b, value, err);
}

int ol_addcdiv_(ol_tensor *dst, const ol_tensor *a, const ol_tensor *b, double value, ol_error *err) {
    return addc(OL_DIV, dst, a, b, value, err);
}

/* ---- reductions ---- */

static void run1(const ol_tensor *t, ol_row_fn fn, red_ctx *c) {
    ol_iter it;
    ol_iter_init(&it, t->ndim, t->shape);
    ol_iter_add(&it, t);
    ol_iter_run(&it, fn, c);
}

static double first_element(const ol_tensor *t) {
    return t->dtype == OL_F32 ? (double)*(const float *)ol_tensor_data(t) : *(const double *)ol_tensor_data(t);
}

static const char *redop_name(ol_redop op) {
    switch (op) {
    case OL_SUM: return "sum";
    case OL_MEAN: return "mean";
    case OL_MAX: return "max";
    case OL_MIN: return "min";
    }
    return "reduction";
}

int ol_reduce_all(ol_redop op, const ol_tensor *t, double *result, ol_error *err) {
    int64_t n = ol_tensor_numel(t);
    if (n == 0) {
        if (op == OL_SUM) { *result = 0; return 0; }
        return ol_fail(err, "%s of an empty tensor", redop_name(op));
    }
    red_ctx c = {.op = (int)op};
    if (op == OL_SUM || op == OL_MEAN) {
        run1(t, OL_DT_PICK(t->dtype, sum_row), &c);
        *result = op == OL_MEAN ? c.acc / (double)n : c.acc;
    } else {
        c.acc = first_element(t);
        run1(t, OL_DT_PICK(t->dtype, extreme_row), &c);
        *result = c.acc;
    }
    return 0;
}

int ol_argmax_all(const ol_tensor *t, int64_t *result, ol_error *err) {
    if (ol_tensor_numel(t) == 0) return ol_fail(err, "argmax of an empty tensor");
    red_ctx c = {.op = OL_MAX, .acc = first_element(t)};
    run1(t, OL_DT_PICK(t->dtype, extreme_row), &c);
    *result = c.at;
    return 0;
}

int ol_reduce_dim(ol_redop op, const ol_tensor *t, int dim, ol_tensor *values, ol_tensor *indices,
                  ol_error *err) {
    memset(values, 0, sizeof *values);
    if (indices) memset(indices, 0, sizeof *indices);
    if (dim < 0 || dim >= t->ndim)
        return ol_fail(err, "dimension %d out of range (tensor has %d)", dim, t->ndim);
    int64_t L = t->shape[dim];
    if (L == 0 && op != OL_SUM)
        return ol_fail(err, "%s over dimension %d of size 0", redop_name(op), dim);
    /* the input with dim removed: the iterator walks the outputs, the
     * kernel walks dim */
    ol_tensor in = *t;
    for (int d = dim; d < t->ndim - 1; d++) {
        in.shape[d] = t->shape[d + 1];
        in.stride[d] = t->stride[d + 1];
    }
    in.ndim = t->ndim - 1;
    if (ol_tensor_empty(values, t->dtype, in.ndim, in.shape, err)) return -1;
    int with_ix = indices && (op == OL_MAX || op == OL_MIN);
    if (with_ix && ol_tensor_empty(indices, t->dtype, in.ndim, in.shape, err)) {
        ol_tensor_release(values);
        return -1;
    }
    red_ctx c = {.op = (int)op, .with_indices = with_ix, .len = L, .step = t->stride[dim]};
    ol_iter it;
    ol_iter_init(&it, in.ndim, in.shape);
    ol_iter_add(&it, values);
    ol_iter_add(&it, &in);
    if (with_ix) ol_iter_add(&it, indices);
    ol_iter_run(&it, OL_DT_PICK(t->dtype, reduce_dim_row), &c);
    return 0;
}

int ol_norm(const ol_tensor *t, double p, double *result, ol_error *err) {
    if (isnan(p) || p < 0) return ol_fail(err, "norm order %g is not >= 0", p);
    red_ctx c = {.p = p};
    run1(t, OL_DT_PICK(t->dtype, norm_row), &c);
    if (p == 2) *result = sqrt(c.acc);
    else if (p == 1 || p == 0 || isinf(p)) *result = c.acc;
    else *result = pow(c.acc, 1.0 / p);
    return 0;
}

int ol_dot(const ol_tensor *a, const ol_tensor *b, double *result, ol_error *err) {
    if (ol_check_dtype(a, b, err)) return -1;
    int64_t na = ol_tensor_numel(a), nb = ol_tensor_numel(b);
    if (na != nb) {
        char b1[96], b2[96];
        return ol_fail(err, "sizes differ: %lld and %lld elements (%s and %s)", (long long)na, (long long)nb,
                       ol_shape_str(a, b1, sizeof b1), ol_shape_str(b, b2, sizeof b2));
    }
    red_ctx c = {0};
    int same = a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == b->shape[d];
    if (same) {
        ol_iter it;
        ol_iter_init(&it, a->ndim, a->shape);
        ol_iter_add(&it, a);
        ol_iter_add(&it, b);
        ol_iter_run(&it, OL_DT_PICK(a->dtype, dot_row), &c);
    } else {
        /* different shapes, same count: pair the elements in row-major
         * order through flat contiguous copies */
        ol_tensor fa, fb;
        if (ol_tensor_reshape(a, 1, &na, &fa, err)) return -1;
        if (ol_tensor_reshape(b, 1, &nb, &fb, err)) {
            ol_tensor_release(&fa);
            return -1;
        }
        ol_iter it;
        ol_iter_init(&it, 1, &na);
        ol_iter_add(&it, &fa);
        ol_iter_add(&it, &fb);
        ol_iter_run(&it, OL_DT_PICK(a->dtype, dot_row), &c);
        ol_tensor_release(&fa);
        ol_tensor_release(&fb);
    }
    *result = c.acc;
    return 0;
}

/* ---- tensors made by filling or copying ---- */

int ol_tensor_full(ol_tensor *out, ol_dtype dt, int ndim, const int64_t *shape, double v, ol_error *err) {
    if (ol_tensor_empty(out, dt, ndim, shape, err)) return -1;
    ol_fill_(out, v);
    return 0;
}

int ol_tensor_clone(const ol_tensor *t, ol_tensor *out, ol_error *err) {
    ol_tensor r;
    if (ol_tensor_empty(&r, t->dtype, t->ndim, t->shape, err)) {
        if (out != t) memset(out, 0, sizeof *out);
        return -1;
    }
    if (ol_tensor_copy_(&r, t, err)) { /* cannot fail: same shape and dtype */
        ol_tensor_release(&r);
        if (out != t) memset(out, 0, sizeof *out);
        return -1;
    }
    if (out == t) ol_tensor_release(out);
    *out = r;
    return 0;
}

int ol_tensor_contiguous(const ol_tensor *t, ol_tensor *out, ol_error *err) {
    if (ol_tensor_is_contiguous(t)) {
        ol_tensor_share(t, out);
        return 0;
    }
    return ol_tensor_clone(t, out, err);
}

int ol_tensor_index(const ol_tensor *t, const int64_t *idx, int64_t n, ol_tensor *out, ol_error *err) {
    memset(out, 0, sizeof *out);
    if (t->ndim < 1) return ol_fail(err, "cannot index a scalar tensor");
    if (n < 0) return ol_fail(err, "negative index count %lld", (long long)n);
    for (int64_t k = 0; k < n; k++)
        if (idx[k] < 0 || idx[k] >= t->shape[0])
            return ol_fail(err, "index %lld out of range for dimension 0 of size %lld", (long long)idx[k],
                           (long long)t->shape[0]);
    int64_t shape[OL_MAXDIM];
    shape[0] = n;
    for (int d = 1; d < t->ndim; d++) shape[d] = t->shape[d];
    ol_tensor r;
    if (ol_tensor_empty(&r, t->dtype, t->ndim, shape, err)) return -1;
    size_t es = ol_dtype_size(t->dtype);
    int64_t row = 1;
    for (int d = 1; d < t->ndim; d++) row *= t->shape[d];
    ol_tensor sub = {0};
    sub.dtype = t->dtype;
    sub.ndim = t->ndim - 1;
    for (int d = 1; d < t->ndim; d++) {
        sub.shape[d - 1] = t->shape[d];
        sub.stride[d - 1] = t->stride[d];
    }
    int contiguous_rows = ol_tensor_is_contiguous(&sub);
    for (int64_t k = 0; k < n; k++) {
        char *dst = (char *)r.st->data + (size_t)(k * row) * es;
        if (contiguous_rows) {
            memcpy(dst, (char *)ol_tensor_data(t) + (size_t)(idx[k] * t->stride[0]) * es, (size_t)row * es);
        } else {
            ol_tensor src, d;
            ol_tensor_select(t, 0, idx[k], &src, NULL);
            ol_tensor_select(&r, 0, k, &d, NULL);
            ol_tensor_copy_(&d, &src, NULL); /* fresh destination: no overlap */
            ol_tensor_release(&src);
            ol_tensor_release(&d);
        }
    }
    *out = r;
    return 0;
}

int ol_tensor_reshape(const ol_tensor *t, int ndim, const int64_t *shape, ol_tensor *out, ol_error *err) {
    int64_t ns[OL_MAXDIM], nst[OL_MAXDIM];
    int layout = ol_view_layout(t, ndim, shape, ns, nst, err);
    if (layout < 0) {
        if (out != t) memset(out, 0, sizeof *out);
        return -1;
    }
    if (layout == 0) return ol_tensor_view(t, ndim, ns, out, err);
    ol_tensor c;
    if (ol_tensor_clone(t, &c, err)) {
        if (out != t) memset(out, 0, sizeof *out);
        return -1;
    }
    int rc = ol_tensor_view(&c, ndim, ns, &c, err); /* a contiguous tensor always views */
    if (out == t) ol_tensor_release(out);
    *out = c;
    return rc;
}
