/* Matrix products through OpenBLAS: ol_mm (C = A B, cblas_sgemm/dgemm) and
 * ol_mv (y = A x, cblas_sgemv/dgemv), row-major.
 *
 * An operand goes to BLAS as it lies whenever BLAS can address it: rows
 * contiguous (stride {ld, 1}, ld >= cols) as NoTrans, or columns
 * contiguous (stride {1, ld}, ld >= rows: a transposed view) as Trans with
 * leading dimension ld. Only other layouts (stride-0 expansions, both
 * strides > 1) are first copied to a contiguous block. */
#include "core/tensor.h"

#include <limits.h>
#include <string.h>

#include <cblas.h>

#include "core/parallel.h"
#include "core/tensor_kernels.h"

/* How BLAS should read a rows x cols matrix view. */
typedef struct blas_operand {
    ol_tensor tmp; /* owns a contiguous copy when one was needed */
    const void *data;
    enum CBLAS_TRANSPOSE trans;
    int ld;
} blas_operand;

static int prepare(const ol_tensor *t, blas_operand *op, ol_error *err) {
    memset(&op->tmp, 0, sizeof op->tmp);
    int64_t rows = t->shape[0], cols = t->shape[1];
    /* the stride of a size-1 dimension is never used: normalise it */
    int64_t s0 = rows == 1 ? (cols > 1 ? cols : 1) : t->stride[0];
    int64_t s1 = cols == 1 ? 1 : t->stride[1];
    int64_t need_r = cols > 1 ? cols : 1, need_c = rows > 1 ? rows : 1;
    if (s1 == 1 && s0 >= need_r && s0 <= INT_MAX) {
        op->trans = CblasNoTrans;
        op->ld = (int)s0;
        op->data = ol_tensor_data(t);
        return 0;
    }
    /* columns contiguous: with cols == 1 the normalised s1 is 1, so the
     * column-major test needs its own normalisation */
    int64_t c0 = rows == 1 ? 1 : t->stride[0];
    int64_t c1 = cols == 1 ? need_c : t->stride[1];
    if (c0 == 1 && c1 >= need_c && c1 <= INT_MAX) {
        op->trans = CblasTrans;
        op->ld = (int)c1;
        op->data = ol_tensor_data(t);
        return 0;
    }
    if (ol_tensor_clone(t, &op->tmp, err)) return -1;
    op->trans = CblasNoTrans;
    op->ld = (int)need_r;
    op->data = ol_tensor_data(&op->tmp);
    return 0;
}

#define OL_GENERIC "core/generic/blas.h"
#include "core/generic.h"

static int check_matrix(const ol_tensor *t, const char *what, ol_error *err) {
    char b[96];
    if (t->ndim != 2)
        return ol_fail(err, "%s must be a matrix, got shape %s", what, ol_shape_str(t, b, sizeof b));
    if (t->shape[0] > INT_MAX || t->shape[1] > INT_MAX)
        return ol_fail(err, "matrix %s is too large for BLAS", ol_shape_str(t, b, sizeof b));
    return 0;
}

int ol_mm(const ol_tensor *a, const ol_tensor *b, ol_tensor *out, ol_error *err) {
    char b1[96], b2[96];
    memset(out, 0, sizeof *out);
    if (check_matrix(a, "left operand", err) || check_matrix(b, "right operand", err)) return -1;
    if (ol_check_dtype(a, b, err)) return -1;
    if (a->shape[1] != b->shape[0])
        return ol_fail(err, "inner sizes differ: %s and %s", ol_shape_str(a, b1, sizeof b1),
                       ol_shape_str(b, b2, sizeof b2));
    int m = (int)a->shape[0], k = (int)a->shape[1], n = (int)b->shape[1];
    int64_t shape[2] = {m, n};
    if (ol_tensor_zeros(out, a->dtype, 2, shape, err)) return -1;
    if (m == 0 || n == 0 || k == 0) return 0; /* empty sum: zeros */
    blas_operand pa, pb;
    if (prepare(a, &pa, err)) {
        ol_tensor_release(out);
        return -1;
    }
    if (prepare(b, &pb, err)) {
        ol_tensor_release(&pa.tmp);
        ol_tensor_release(out);
        return -1;
    }
    ol_parallel_blas_threads(); /* OpenBLAS's threads need the cores */
    OL_DT_CALL(a->dtype, gemm, &pa, &pb, m, n, k, out->st->data);
    ol_tensor_release(&pa.tmp);
    ol_tensor_release(&pb.tmp);
    return 0;
}

int ol_mv(const ol_tensor *a, const ol_tensor *x, ol_tensor *out, ol_error *err) {
    char b1[96], b2[96];
    memset(out, 0, sizeof *out);
    if (check_matrix(a, "matrix operand", err)) return -1;
    if (x->ndim != 1)
        return ol_fail(err, "vector expected, got shape %s", ol_shape_str(x, b1, sizeof b1));
    if (ol_check_dtype(a, x, err)) return -1;
    if (a->shape[1] != x->shape[0])
        return ol_fail(err, "inner sizes differ: %s and %s", ol_shape_str(a, b1, sizeof b1),
                       ol_shape_str(x, b2, sizeof b2));
    int m = (int)a->shape[0], n = (int)a->shape[1];
    int64_t shape[1] = {m};
    if (ol_tensor_zeros(out, a->dtype, 1, shape, err)) return -1;
    if (m == 0 || n == 0) return 0;
    blas_operand pa;
    if (prepare(a, &pa, err)) {
        ol_tensor_release(out);
        return -1;
    }
    /* BLAS needs a nonzero increment: an expanded vector is copied */
    ol_tensor xt = {0};
    const ol_tensor *xv = x;
    int64_t inc = n == 1 ? 1 : x->stride[0];
    if (inc <= 0 || inc > INT_MAX) {
        if (ol_tensor_clone(x, &xt, err)) {
            ol_tensor_release(&pa.tmp);
            ol_tensor_release(out);
            return -1;
        }
        xv = &xt;
        inc = 1;
    }
    /* gemv's m, n are those of the matrix as stored: for a Trans operand the
     * stored matrix is n x m */
    int sm = pa.trans == CblasNoTrans ? m : n, sn = pa.trans == CblasNoTrans ? n : m;
    OL_DT_CALL(a->dtype, gemv, &pa, sm, sn, ol_tensor_data(xv), (int)inc, out->st->data);
    ol_tensor_release(&pa.tmp);
    ol_tensor_release(&xt);
    return 0;
}
