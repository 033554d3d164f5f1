/* Strided n-dimensional tensors of float (f32) or double (f64) over
 * reference-counted storage.
 *
 * An ol_tensor is a small value (a header: dtype, shape, strides, offset)
 * that points into an ol_storage. Views (narrow, select, transpose, view)
 * are new headers over the same storage; the storage is freed when its last
 * header is released. Headers live wherever the caller puts them (on the C
 * stack, inside a Lua userdata); ol_tensor_release() drops the header's
 * reference, and a released or zero-initialised header owns nothing.
 *
 * Conventions:
 *  - all dimensions and indices here are 0-based (the Lua binding converts);
 *  - functions returning int give 0 on success, -1 on failure with err set;
 *  - an `out` argument is an uninitialised header that receives a new
 *    reference on success and is left owning nothing on failure;
 *  - operands of one op must share a dtype: mixing f32 and f64 is an error,
 *    never a silent cast;
 *  - binary ops broadcast as NumPy does (trailing dimensions are aligned;
 *    a dimension of size 1, or a missing leading one, stretches), so a row
 *    vector {n} or {1,n} broadcasts over the rows of an {m,n} matrix.
 */
#ifndef OL_TENSOR_H
#define OL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define OL_MAXDIM 8

typedef enum ol_dtype { OL_F32 = 0, OL_F64 = 1 } ol_dtype;

typedef struct ol_storage {
    void *data;    /* 64-byte aligned */
    size_t nbytes;
    long refs;
} ol_storage;

typedef struct ol_tensor {
    ol_storage *st;  /* NULL: the header owns nothing */
    int64_t offset;  /* in elements, from st->data */
    ol_dtype dtype;
    int ndim;        /* 0 is a scalar tensor holding one element */
    int64_t shape[OL_MAXDIM];
    int64_t stride[OL_MAXDIM]; /* in elements; 0 allowed (broadcast) */
} ol_tensor;

/* ---- dtype helpers ---- */
size_t ol_dtype_size(ol_dtype dt);
const char *ol_dtype_name(ol_dtype dt);          /* "f32" / "f64" */
int ol_dtype_parse(const char *name, ol_dtype *dt); /* 0 ok, -1 unknown */

/* ---- storage ---- */
ol_storage *ol_storage_new(size_t nbytes); /* refs = 1; NULL if out of memory */
void ol_storage_retain(ol_storage *st);
void ol_storage_release(ol_storage *st);   /* frees at zero; NULL is fine */

/* ---- headers ---- */
void ol_tensor_release(ol_tensor *t);      /* drop reference; t owns nothing after */
/* New header over the same storage (reference taken). */
void ol_tensor_share(const ol_tensor *src, ol_tensor *out);
int64_t ol_tensor_numel(const ol_tensor *t);
int ol_tensor_is_contiguous(const ol_tensor *t);  /* row-major, no gaps */
void *ol_tensor_data(const ol_tensor *t);         /* address of element 0 */
/* "3x4", "10", "scalar": for error messages. buf of at least 96 bytes. */
const char *ol_shape_str(const ol_tensor *t, char *buf, size_t size);

/* ---- constructors (contiguous, fresh storage) ---- */
int ol_tensor_empty(ol_tensor *out, ol_dtype dt, int ndim, const int64_t *shape, ol_error *err);
int ol_tensor_zeros(ol_tensor *out, ol_dtype dt, int ndim, const int64_t *shape, ol_error *err);
int ol_tensor_full(ol_tensor *out, ol_dtype dt, int ndim, const int64_t *shape, double v, ol_error *err);
int ol_tensor_eye(ol_tensor *out, ol_dtype dt, int64_t n, ol_error *err);
/* first, first+step, ... while within [first, last] (inclusive, as Lua's
 * numeric for); step != 0. */
int ol_tensor_range(ol_tensor *out, ol_dtype dt, double first, double last, double step, ol_error *err);

/* ---- random numbers: see rng.h for the generator ---- */
void ol_tensor_uniform_(ol_tensor *t, double lo, double hi);   /* U[lo, hi) */
void ol_tensor_normal_(ol_tensor *t, double mean, double std);

/* ---- views (share storage) ---- */
/* shape may contain one -1, inferred. view fails unless the strides allow it;
 * reshape copies when they do not. */
int ol_tensor_view(const ol_tensor *t, int ndim, const int64_t *shape, ol_tensor *out, ol_error *err);
int ol_tensor_reshape(const ol_tensor *t, int ndim, const int64_t *shape, ol_tensor *out, ol_error *err);
int ol_tensor_transpose(const ol_tensor *t, int d0, int d1, ol_tensor *out, ol_error *err);
int ol_tensor_narrow(const ol_tensor *t, int dim, int64_t start, int64_t len, ol_tensor *out, ol_error *err);
/* Removes dimension dim, fixing it at index i. */
int ol_tensor_select(const ol_tensor *t, int dim, int64_t i, ol_tensor *out, ol_error *err);
/* Stretches size-1 / missing leading dims to shape with stride 0 (read-only use). */
int ol_tensor_expand(const ol_tensor *t, int ndim, const int64_t *shape, ol_tensor *out, ol_error *err);

/* ---- copies ---- */
int ol_tensor_clone(const ol_tensor *t, ol_tensor *out, ol_error *err);      /* contiguous copy */
int ol_tensor_contiguous(const ol_tensor *t, ol_tensor *out, ol_error *err); /* share if already contiguous */
int ol_tensor_to(const ol_tensor *t, ol_dtype dt, ol_tensor *out, ol_error *err); /* converting copy */
/* dst <- src, src broadcast to dst's shape; same dtype. Overlap-safe. */
int ol_tensor_copy_(ol_tensor *dst, const ol_tensor *src, ol_error *err);
/* Gathers slices along dim 0: out[k] = t[idx[k]], idx 0-based. */
int ol_tensor_index(const ol_tensor *t, const int64_t *idx, int64_t n, ol_tensor *out, ol_error *err);

/* ---- element access (index has t->ndim entries, 0-based, in range) ---- */
double ol_tensor_get(const ol_tensor *t, const int64_t *index);
void ol_tensor_set(ol_tensor *t, const int64_t *index, double v);

/* ---- elementwise ---- */
typedef enum ol_binop { OL_ADD, OL_SUB, OL_MUL, OL_DIV } ol_binop;
typedef enum ol_unop {
    OL_NEG, OL_ABS, OL_SQRT, OL_EXP, OL_LOG, OL_TANH, OL_SIGMOID, OL_SIGN, OL_POW
} ol_unop;

/* out = a op b, broadcast. */
int ol_binary(ol_binop op, const ol_tensor *a, const ol_tensor *b, ol_tensor *out, ol_error *err);
/* out = a op s, or s op a when scalar_first. */
int ol_binary_scalar(ol_binop op, const ol_tensor *a, double s, int scalar_first, ol_tensor *out, ol_error *err);
/* dst = dst op src, src broadcast to dst's shape. */
int ol_binary_(ol_binop op, ol_tensor *dst, const ol_tensor *src, ol_error *err);
void ol_binary_scalar_(ol_binop op, ol_tensor *dst, double s);
/* p is the exponent for OL_POW, ignored otherwise. */
int ol_unary(ol_unop op, const ol_tensor *a, double p, ol_tensor *out, ol_error *err);
void ol_unary_(ol_unop op, ol_tensor *t, double p);

int ol_axpy_(ol_tensor *dst, double alpha, const ol_tensor *src, ol_error *err);             /* dst += alpha*src */
int ol_addcmul_(ol_tensor *dst, const ol_tensor *a, const ol_tensor *b, double value, ol_error *err); /* dst += value*a*b */
int ol_addcdiv_(ol_tensor *dst, const ol_tensor *a, const ol_tensor *b, double value, ol_error *err); /* dst += value*a/b */
void ol_fill_(ol_tensor *t, double v);
void ol_clamp_(ol_tensor *t, double lo, double hi);

/* ---- reductions ---- */
typedef enum ol_redop { OL_SUM, OL_MEAN, OL_MAX, OL_MIN } ol_redop;
/* Over all elements (sums accumulate in double). numel 0: sum 0, others fail. */
int ol_reduce_all(ol_redop op, const ol_tensor *t, double *result, ol_error *err);
/* 0-based flat (row-major) index of the first maximum. */
int ol_argmax_all(const ol_tensor *t, int64_t *result, ol_error *err);
/* Along dim, which is removed from the result. For OL_MAX/OL_MIN, indices
 * (if not NULL) receives the 0-based positions, in t's dtype. */
int ol_reduce_dim(ol_redop op, const ol_tensor *t, int dim, ol_tensor *values, ol_tensor *indices, ol_error *err);
/* p-norm over all elements; p = INFINITY gives the max-abs norm. */
int ol_norm(const ol_tensor *t, double p, double *result, ol_error *err);
int ol_dot(const ol_tensor *a, const ol_tensor *b, double *result, ol_error *err); /* same numel */

/* ---- BLAS ---- */
int ol_mm(const ol_tensor *a, const ol_tensor *b, ol_tensor *out, ol_error *err); /* {m,k}x{k,n} */
int ol_mv(const ol_tensor *a, const ol_tensor *x, ol_tensor *out, ol_error *err); /* {m,n}x{n} */

#endif
