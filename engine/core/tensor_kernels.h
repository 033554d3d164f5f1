/* Private to the tensor files (tensor.c, tensor_iter.c, tensor_ops.c,
 * tensor_blas.c): the strided n-dimensional iterator that every elementwise
 * op, copy and reduction runs on (tensor_iter.c), and the shape, broadcasting,
 * dtype and overlap rules they share (tensor.c). Not part of the engine's public interface.
 *
 * The iterator visits elements in row-major logical order. Before running
 * it drops size-1 dimensions and merges dimensions that are laid out
 * back-to-back in every operand, so that contiguous tensors (and a
 * contiguous matrix with a broadcast row vector) reach the row function as
 * few long rows with unit strides: those rows are where the fast, vectorised
 * loops live. */
#ifndef OL_TENSOR_KERNELS_H
#define OL_TENSOR_KERNELS_H

#include "core/tensor.h"

#define OL_ITER_MAXOPS 4

typedef struct ol_iter {
    int nops;
    int ndim;
    int64_t shape[OL_MAXDIM];
    int64_t stride[OL_ITER_MAXOPS][OL_MAXDIM]; /* elements; 0 = broadcast */
    char *base[OL_ITER_MAXOPS];
    size_t esize[OL_ITER_MAXOPS];
} ol_iter;

/* Called once per innermost row: n elements; operand k starts at p[k] and
 * advances s[k] elements per step. */
typedef void (*ol_row_fn)(void *ctx, int64_t n, char *const *p, const int64_t *s);

void ol_iter_init(ol_iter *it, int ndim, const int64_t *shape);
/* Adds t as the next operand. t's shape must broadcast to the iteration
 * shape (the caller has checked): missing leading and size-1 dimensions
 * get stride 0. */
void ol_iter_add(ol_iter *it, const ol_tensor *t);
void ol_iter_run(ol_iter *it, ol_row_fn fn, void *ctx);

/* The shape t would take as (ndim, shape), one size of which may be -1,
 * into newshape: 0 when t can be viewed so (its strides into newstride),
 * 1 when that needs a copy, -1 with err filled when the element counts
 * disagree. */
int ol_view_layout(const ol_tensor *t, int ndim, const int64_t *shape, int64_t *newshape,
                   int64_t *newstride, ol_error *err);
/* "3x4" from a bare shape (ndim 0: "scalar"). */
const char *ol_dims_str(int ndim, const int64_t *shape, char *buf, size_t size);
/* Broadcast shape of a and b, or "shapes 2x3 and 4 cannot broadcast". */
int ol_broadcast_shape(const ol_tensor *a, const ol_tensor *b, int *ndim, int64_t *shape, ol_error *err);
/* src stretches to exactly (ndim, shape), or "shape 2x3 cannot broadcast to 3". */
int ol_check_broadcast_to(const ol_tensor *src, int ndim, const int64_t *shape, ol_error *err);
/* "f32 and f64 mixed" unless a and b share a dtype. */
int ol_check_dtype(const ol_tensor *a, const ol_tensor *b, ol_error *err);
/* Nonzero when a and b use the same storage and the address ranges they
 * can touch intersect (a conservative test: equal layouts also count). */
int ol_tensors_overlap(const ol_tensor *a, const ol_tensor *b);

#endif
