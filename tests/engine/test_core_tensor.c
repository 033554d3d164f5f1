/* Tensor engine tests: storage and views, constructors, elementwise ops
 * with broadcasting, overlap, reductions, BLAS products, error messages.
 * Every expected value is worked out by hand in the comments. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/rng.h"
#include "core/tensor.h"

/* A contiguous tensor holding vals (row-major). */
static ol_tensor mk(ol_dtype dt, int nd, const int64_t *shape, const double *vals) {
    ol_tensor t;
    ol_error e;
    assert_int_equal(ol_tensor_empty(&t, dt, nd, shape, &e), 0);
    int64_t n = ol_tensor_numel(&t);
    for (int64_t i = 0; i < n; i++) {
        if (dt == OL_F32) ((float *)t.st->data)[i] = (float)vals[i];
        else ((double *)t.st->data)[i] = vals[i];
    }
    return t;
}

static ol_tensor mk1(ol_dtype dt, int64_t n, const double *vals) { return mk(dt, 1, &n, vals); }

static ol_tensor mk2(ol_dtype dt, int64_t r, int64_t c, const double *vals) {
    int64_t s[2] = {r, c};
    return mk(dt, 2, s, vals);
}

static double at1(const ol_tensor *t, int64_t i) { return ol_tensor_get(t, &i); }

static double at2(const ol_tensor *t, int64_t i, int64_t j) {
    int64_t ix[2] = {i, j};
    return ol_tensor_get(t, ix);
}

/* t (2-D) equals want elementwise, read through t's own strides. */
static void expect2(const ol_tensor *t, int64_t r, int64_t c, const double *want, double tol) {
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], r);
    assert_int_equal(t->shape[1], c);
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) assert_true(fabs(at2(t, i, j) - want[i * c + j]) <= tol);
}

static void expect1(const ol_tensor *t, int64_t n, const double *want, double tol) {
    assert_int_equal(t->ndim, 1);
    assert_int_equal(t->shape[0], n);
    for (int64_t i = 0; i < n; i++) assert_true(fabs(at1(t, i) - want[i]) <= tol);
}

static const double M23[] = {1, 2, 3, 4, 5, 6}; /* [[1,2,3],[4,5,6]] */

/* ---- storage, headers ---- */

static void test_storage_refcount(void **state) {
    (void)state;
    ol_tensor a = mk2(OL_F32, 2, 3, M23), v, w;
    assert_true(((uintptr_t)a.st->data % 64) == 0);
    ol_error e;
    assert_int_equal(ol_tensor_transpose(&a, 0, 1, &v, &e), 0);
    assert_int_equal(ol_tensor_narrow(&a, 1, 1, 2, &w, &e), 0);
    assert_ptr_equal(v.st, a.st);
    assert_int_equal(a.st->refs, 3);
    ol_tensor_release(&a);
    assert_null(a.st);
    assert_int_equal(v.st->refs, 2);
    /* the views still read the data: v = a^T, w = a[:, 1:3] */
    assert_true(at2(&v, 2, 1) == 6);
    assert_true(at2(&w, 1, 0) == 5);
    ol_tensor_release(&v);
    assert_int_equal(w.st->refs, 1);
    ol_tensor_release(&w); /* frees; ASan reports a leak or double free otherwise */
    ol_tensor_release(&w); /* a released header owns nothing: harmless */
    ol_tensor z = {0};
    ol_tensor_release(&z);
}

static void test_shape_str_and_dtype(void **state) {
    (void)state;
    char b[96];
    int64_t s[3] = {3, 4, 5};
    ol_tensor t, sc;
    assert_int_equal(ol_tensor_zeros(&t, OL_F64, 3, s, NULL), 0);
    assert_string_equal(ol_shape_str(&t, b, sizeof b), "3x4x5");
    assert_int_equal(ol_tensor_zeros(&sc, OL_F32, 0, NULL, NULL), 0);
    assert_string_equal(ol_shape_str(&sc, b, sizeof b), "scalar");
    assert_int_equal(ol_tensor_numel(&sc), 1);
    assert_int_equal(ol_dtype_size(OL_F32), 4);
    assert_int_equal(ol_dtype_size(OL_F64), 8);
    assert_string_equal(ol_dtype_name(OL_F64), "f64");
    ol_dtype dt;
    assert_int_equal(ol_dtype_parse("f32", &dt), 0);
    assert_int_equal(dt, OL_F32);
    assert_int_equal(ol_dtype_parse("f16", &dt), -1);
    ol_tensor_release(&t);
    ol_tensor_release(&sc);
}

/* ---- constructors ---- */

static void test_constructors(void **state) {
    (void)state;
    ol_tensor t;
    ol_error e;
    int64_t s[2] = {2, 3};
    assert_int_equal(ol_tensor_full(&t, OL_F64, 2, s, 2.5, &e), 0);
    expect2(&t, 2, 3, (double[]){2.5, 2.5, 2.5, 2.5, 2.5, 2.5}, 0);
    ol_tensor_release(&t);
    assert_int_equal(ol_tensor_eye(&t, OL_F32, 3, &e), 0);
    expect2(&t, 3, 3, (double[]){1, 0, 0, 0, 1, 0, 0, 0, 1}, 0);
    ol_tensor_release(&t);
    int64_t bad[2] = {2, -3};
    assert_int_equal(ol_tensor_zeros(&t, OL_F32, 2, bad, &e), -1);
    assert_null(t.st);
    assert_string_equal(e.msg, "negative size -3 in dimension 1");
    int64_t huge[2] = {INT64_MAX / 2, 4};
    assert_int_equal(ol_tensor_empty(&t, OL_F32, 2, huge, &e), -1);
    assert_null(t.st);
}

static void test_range(void **state) {
    (void)state;
    ol_tensor t;
    ol_error e;
    assert_int_equal(ol_tensor_range(&t, OL_F64, 1, 5, 1, &e), 0); /* 1..5 */
    expect1(&t, 5, (double[]){1, 2, 3, 4, 5}, 0);
    ol_tensor_release(&t);
    assert_int_equal(ol_tensor_range(&t, OL_F64, 5, 1, -2, &e), 0); /* 5, 3, 1 */
    expect1(&t, 3, (double[]){5, 3, 1}, 0);
    ol_tensor_release(&t);
    assert_int_equal(ol_tensor_range(&t, OL_F64, 0, 1, 0.25, &e), 0); /* last included */
    expect1(&t, 5, (double[]){0, 0.25, 0.5, 0.75, 1}, 0);
    ol_tensor_release(&t);
    /* 0 + 3*0.1 = 0.30000000000000004 > 0.3: as in `for x = 0, 0.3, 0.1` */
    assert_int_equal(ol_tensor_range(&t, OL_F64, 0, 0.3, 0.1, &e), 0);
    assert_int_equal(t.shape[0], 3);
    ol_tensor_release(&t);
    assert_int_equal(ol_tensor_range(&t, OL_F32, 3, 1, 1, &e), 0); /* loop runs 0 times */
    assert_int_equal(t.shape[0], 0);
    ol_tensor_release(&t);
    assert_int_equal(ol_tensor_range(&t, OL_F32, 0, 1, 0, &e), -1);
    assert_string_equal(e.msg, "range step is 0");
    assert_null(t.st);
    assert_int_equal(ol_tensor_range(&t, OL_F32, 0, 1e300, 1, &e), -1);
    assert_non_null(strstr(e.msg, "too many elements"));
}

/* ---- views ---- */

static void test_views(void **state) {
    (void)state;
    ol_error e;
    ol_tensor a = mk2(OL_F64, 2, 3, M23), t, n, s, v, r;
    assert_true(ol_tensor_is_contiguous(&a));
    assert_int_equal(ol_tensor_transpose(&a, 0, 1, &t, &e), 0);
    assert_false(ol_tensor_is_contiguous(&t));
    expect2(&t, 3, 2, (double[]){1, 4, 2, 5, 3, 6}, 0);
    /* narrow columns 1..2: [[2,3],[5,6]] */
    assert_int_equal(ol_tensor_narrow(&a, 1, 1, 2, &n, &e), 0);
    expect2(&n, 2, 2, (double[]){2, 3, 5, 6}, 0);
    assert_false(ol_tensor_is_contiguous(&n));
    /* select row 1: [4,5,6]; column 2 of the transpose = row... t[2] = [3,6] */
    assert_int_equal(ol_tensor_select(&a, 0, 1, &s, &e), 0);
    expect1(&s, 3, (double[]){4, 5, 6}, 0);
    ol_tensor_release(&s);
    assert_int_equal(ol_tensor_select(&t, 0, 2, &s, &e), 0);
    expect1(&s, 2, (double[]){3, 6}, 0);
    /* writes through a view reach the storage */
    int64_t i0 = 1;
    ol_tensor_set(&s, &i0, 60);
    assert_true(at2(&a, 1, 2) == 60);
    ol_tensor_set(&s, &i0, 6);
    /* view with -1 */
    int64_t sh[2] = {3, -1};
    assert_int_equal(ol_tensor_view(&a, 2, sh, &v, &e), 0);
    expect2(&v, 3, 2, (double[]){1, 2, 3, 4, 5, 6}, 0);
    assert_ptr_equal(v.st, a.st);
    /* the transpose cannot be flattened without a copy; reshape copies:
     * t in row-major order is 1 4 2 5 3 6 */
    int64_t flat = 6;
    assert_int_equal(ol_tensor_view(&t, 1, &flat, &r, &e), -1);
    assert_null(r.st);
    assert_non_null(strstr(e.msg, "reshape"));
    assert_int_equal(ol_tensor_reshape(&t, 1, &flat, &r, &e), 0);
    expect1(&r, 6, (double[]){1, 4, 2, 5, 3, 6}, 0);
    assert_ptr_not_equal(r.st, a.st);
    ol_tensor_release(&r);
    /* the transpose does view as 3x2x1 or 3x1x2 (size-1 dims need no stride) */
    int64_t sh3[3] = {3, 1, 2};
    assert_int_equal(ol_tensor_view(&t, 3, sh3, &r, &e), 0);
    assert_ptr_equal(r.st, a.st);
    int64_t ix3[3] = {2, 0, 1};
    assert_true(ol_tensor_get(&r, ix3) == 6);
    ol_tensor_release(&r);
    /* a narrowed row block of a contiguous matrix views as a vector */
    ol_tensor rows;
    assert_int_equal(ol_tensor_narrow(&a, 0, 1, 1, &rows, &e), 0);
    int64_t three = 3;
    assert_int_equal(ol_tensor_view(&rows, 1, &three, &r, &e), 0);
    expect1(&r, 3, (double[]){4, 5, 6}, 0);
    ol_tensor_release(&r);
    ol_tensor_release(&rows);
    /* contiguous() shares when it can, copies when it must */
    assert_int_equal(ol_tensor_contiguous(&a, &r, &e), 0);
    assert_ptr_equal(r.st, a.st);
    ol_tensor_release(&r);
    assert_int_equal(ol_tensor_contiguous(&t, &r, &e), 0);
    assert_ptr_not_equal(r.st, a.st);
    assert_true(ol_tensor_is_contiguous(&r));
    expect2(&r, 3, 2, (double[]){1, 4, 2, 5, 3, 6}, 0);
    ol_tensor_release(&r);
    /* in place on the same header */
    ol_tensor a2;
    ol_tensor_share(&a, &a2);
    assert_int_equal(ol_tensor_transpose(&a2, 0, 1, &a2, &e), 0);
    assert_int_equal(a.st->refs, 6); /* a, t, n, s, v, a2 */
    ol_tensor_release(&a2);
    ol_tensor_release(&a);
    ol_tensor_release(&t);
    ol_tensor_release(&n);
    ol_tensor_release(&s);
    ol_tensor_release(&v);
}

static void test_view_errors(void **state) {
    (void)state;
    ol_error e;
    int64_t s44[2] = {4, 4}, s35[2] = {3, 5};
    ol_tensor a, r;
    assert_int_equal(ol_tensor_zeros(&a, OL_F32, 2, s44, &e), 0);
    assert_int_equal(ol_tensor_view(&a, 2, s35, &r, &e), -1);
    assert_string_equal(e.msg, "shape 3x5 is not compatible with 4x4 (15 vs 16 elements)");
    int64_t two_inf[2] = {-1, -1};
    assert_int_equal(ol_tensor_view(&a, 2, two_inf, &r, &e), -1);
    assert_string_equal(e.msg, "only one size may be -1");
    assert_int_equal(ol_tensor_transpose(&a, 0, 3, &r, &e), -1);
    assert_string_equal(e.msg, "dimension 3 out of range (tensor has 2)");
    ol_tensor v;
    int64_t s5 = 5;
    assert_int_equal(ol_tensor_zeros(&v, OL_F32, 1, &s5, &e), 0);
    assert_int_equal(ol_tensor_select(&v, 0, 7, &r, &e), -1);
    assert_string_equal(e.msg, "index 7 out of range for dimension 0 of size 5");
    assert_null(r.st);
    assert_int_equal(ol_tensor_narrow(&v, 0, 3, 3, &r, &e), -1);
    assert_string_equal(e.msg, "length 3 from 3 out of range for dimension 0 of size 5");
    assert_int_equal(ol_tensor_narrow(&v, 0, 6, 0, &r, &e), -1);
    assert_int_equal(ol_tensor_narrow(&v, 0, 5, 0, &r, &e), 0); /* empty at the end is fine */
    assert_int_equal(r.shape[0], 0);
    ol_tensor_release(&r);
    int64_t idx[2] = {0, 5};
    assert_int_equal(ol_tensor_index(&v, idx, 2, &r, &e), -1);
    assert_string_equal(e.msg, "index 5 out of range for dimension 0 of size 5");
    ol_tensor_release(&a);
    ol_tensor_release(&v);
}

static void test_expand(void **state) {
    (void)state;
    ol_error e;
    ol_tensor row = mk1(OL_F32, 3, (double[]){1, 2, 3}), x, c;
    int64_t s[2] = {2, 3};
    assert_int_equal(ol_tensor_expand(&row, 2, s, &x, &e), 0);
    assert_int_equal(x.stride[0], 0);
    expect2(&x, 2, 3, (double[]){1, 2, 3, 1, 2, 3}, 0);
    assert_int_equal(ol_tensor_clone(&x, &c, &e), 0);
    expect2(&c, 2, 3, (double[]){1, 2, 3, 1, 2, 3}, 0);
    int64_t bad[2] = {2, 4};
    ol_tensor y;
    assert_int_equal(ol_tensor_expand(&row, 2, bad, &y, &e), -1);
    assert_string_equal(e.msg, "shape 3 cannot broadcast to 2x4");
    ol_tensor_release(&row);
    ol_tensor_release(&x);
    ol_tensor_release(&c);
}

/* ---- copies ---- */

static void test_copy_index_to(void **state) {
    (void)state;
    ol_error e;
    ol_tensor a = mk2(OL_F32, 3, 2, (double[]){1, 2, 3, 4, 5, 6}), r, t, d;
    int64_t idx[3] = {2, 0, 2};
    assert_int_equal(ol_tensor_index(&a, idx, 3, &r, &e), 0);
    expect2(&r, 3, 2, (double[]){5, 6, 1, 2, 5, 6}, 0);
    ol_tensor_release(&r);
    /* from a non-contiguous source: t = a^T = [[1,3,5],[2,4,6]]; rows 1, 0 */
    assert_int_equal(ol_tensor_transpose(&a, 0, 1, &t, &e), 0);
    int64_t idx2[2] = {1, 0};
    assert_int_equal(ol_tensor_index(&t, idx2, 2, &r, &e), 0);
    expect2(&r, 2, 3, (double[]){2, 4, 6, 1, 3, 5}, 0);
    ol_tensor_release(&r);
    /* converting copy of a strided f32 view to f64 */
    assert_int_equal(ol_tensor_to(&t, OL_F64, &d, &e), 0);
    assert_int_equal(d.dtype, OL_F64);
    expect2(&d, 2, 3, (double[]){1, 3, 5, 2, 4, 6}, 0);
    /* copy_ into a transposed destination with broadcasting */
    ol_tensor row = mk1(OL_F32, 3, (double[]){7, 8, 9});
    assert_int_equal(ol_tensor_copy_(&t, &row, &e), 0);
    expect2(&a, 3, 2, (double[]){7, 7, 8, 8, 9, 9}, 0);
    /* mixed dtypes are rejected */
    assert_int_equal(ol_tensor_copy_(&t, &d, &e), -1);
    assert_string_equal(e.msg, "f32 and f64 mixed");
    ol_tensor_release(&row);
    ol_tensor_release(&d);
    ol_tensor_release(&t);
    ol_tensor_release(&a);
}

/* dst and src are views of one storage that overlap, shifted by one. */
static void test_overlap(void **state) {
    (void)state;
    ol_error e;
    ol_tensor x = mk1(OL_F64, 5, (double[]){1, 2, 3, 4, 5}), d, s;
    ol_tensor_narrow(&x, 0, 1, 4, &d, &e);
    ol_tensor_narrow(&x, 0, 0, 4, &s, &e);
    /* x[1:5] = x[0:4] reading the old values: 1 1 2 3 4 (a naive forward
     * loop would smear to 1 1 1 1 1) */
    assert_int_equal(ol_tensor_copy_(&d, &s, &e), 0);
    expect1(&x, 5, (double[]){1, 1, 2, 3, 4}, 0);
    /* x[1:5] += x[0:4]: from 1 1 2 3 4 -> 1, 1+1, 2+1, 3+2, 4+3 */
    assert_int_equal(ol_binary_(OL_ADD, &d, &s, &e), 0);
    expect1(&x, 5, (double[]){1, 2, 3, 5, 7}, 0);
    /* the other direction: x[0:4] -= x[1:5] -> 1-2, 2-3, 3-5, 5-7, 7 */
    assert_int_equal(ol_binary_(OL_SUB, &s, &d, &e), 0);
    expect1(&x, 5, (double[]){-1, -1, -2, -2, 7}, 0);
    ol_tensor_release(&d);
    ol_tensor_release(&s);
    ol_tensor_release(&x);
    /* m += m^T: [[1,2],[3,4]] + [[1,3],[2,4]] = [[2,5],[5,8]] */
    ol_tensor m = mk2(OL_F32, 2, 2, (double[]){1, 2, 3, 4}), mt;
    ol_tensor_transpose(&m, 0, 1, &mt, &e);
    assert_int_equal(ol_binary_(OL_ADD, &m, &mt, &e), 0);
    expect2(&m, 2, 2, (double[]){2, 5, 5, 8}, 0);
    /* m.addcmul_(m^T, m, 1): m + m^T*m elementwise with old values:
     * [[2,5],[5,8]] + [[2*2,5*5],[5*5,8*8]] = [[6,30],[30,72]] */
    assert_int_equal(ol_addcmul_(&m, &mt, &m, 1, &e), 0);
    expect2(&m, 2, 2, (double[]){6, 30, 30, 72}, 0);
    /* axpy with itself: m += 0.5 m */
    assert_int_equal(ol_axpy_(&m, 0.5, &m, &e), 0);
    expect2(&m, 2, 2, (double[]){9, 45, 45, 108}, 0);
    ol_tensor_release(&mt);
    ol_tensor_release(&m);
}

/* ---- elementwise ---- */

static void test_binary_broadcast(void **state) {
    (void)state;
    ol_error e;
    ol_tensor a = mk2(OL_F32, 2, 3, M23), row = mk1(OL_F32, 3, (double[]){10, 20, 30});
    ol_tensor col = mk2(OL_F32, 2, 1, (double[]){100, 200}), r;
    assert_int_equal(ol_binary(OL_ADD, &a, &row, &r, &e), 0);
    expect2(&r, 2, 3, (double[]){11, 22, 33, 14, 25, 36}, 0);
    ol_tensor_release(&r);
    assert_int_equal(ol_binary(OL_SUB, &row, &a, &r, &e), 0); /* row on the left */
    expect2(&r, 2, 3, (double[]){9, 18, 27, 6, 15, 24}, 0);
    ol_tensor_release(&r);
    assert_int_equal(ol_binary(OL_MUL, &a, &col, &r, &e), 0);
    expect2(&r, 2, 3, (double[]){100, 200, 300, 800, 1000, 1200}, 0);
    ol_tensor_release(&r);
    /* outer: {2,1} / {3} -> 2x3 */
    assert_int_equal(ol_binary(OL_DIV, &col, &row, &r, &e), 0);
    expect2(&r, 2, 3, (double[]){10, 5, 100.0 / 30, 20, 10, 200.0 / 30}, 1e-5);
    ol_tensor_release(&r);
    /* non-contiguous: a^T (3x2) + [1, 2] -> [[2,6],[3,7],[4,8]] */
    ol_tensor at, v2 = mk1(OL_F32, 2, (double[]){1, 2});
    ol_tensor_transpose(&a, 0, 1, &at, &e);
    assert_int_equal(ol_binary(OL_ADD, &at, &v2, &r, &e), 0);
    expect2(&r, 3, 2, (double[]){2, 6, 3, 7, 4, 8}, 0);
    ol_tensor_release(&r);
    /* a^T * a^T */
    assert_int_equal(ol_binary(OL_MUL, &at, &at, &r, &e), 0);
    expect2(&r, 3, 2, (double[]){1, 16, 4, 25, 9, 36}, 0);
    ol_tensor_release(&r);
    /* errors */
    ol_tensor four;
    int64_t s4 = 4;
    ol_tensor_zeros(&four, OL_F32, 1, &s4, &e);
    assert_int_equal(ol_binary(OL_ADD, &a, &four, &r, &e), -1);
    assert_string_equal(e.msg, "shapes 2x3 and 4 cannot broadcast");
    assert_null(r.st);
    ol_tensor d64 = mk2(OL_F64, 2, 3, M23);
    assert_int_equal(ol_binary(OL_ADD, &a, &d64, &r, &e), -1);
    assert_string_equal(e.msg, "f32 and f64 mixed");
    /* in place: the source must stretch to the destination's shape */
    assert_int_equal(ol_binary_(OL_ADD, &row, &a, &e), -1);
    assert_string_equal(e.msg, "shape 2x3 cannot broadcast to 3");
    assert_int_equal(ol_binary_(OL_ADD, &a, &d64, &e), -1);
    assert_string_equal(e.msg, "f32 and f64 mixed");
    assert_int_equal(ol_addcmul_(&a, &row, &d64, 1, &e), -1);
    assert_int_equal(ol_axpy_(&a, 1, &four, &e), -1);
    /* in place with a broadcast row on a transposed destination:
     * a^T (3x2) *= [1, 2] -> a = [[1,2,3],[8,10,12]] */
    assert_int_equal(ol_binary_(OL_MUL, &at, &v2, &e), 0);
    expect2(&a, 2, 3, (double[]){1, 2, 3, 8, 10, 12}, 0);
    ol_tensor_release(&four);
    ol_tensor_release(&d64);
    ol_tensor_release(&at);
    ol_tensor_release(&v2);
    ol_tensor_release(&a);
    ol_tensor_release(&row);
    ol_tensor_release(&col);
}

static void test_scalar_ops(void **state) {
    (void)state;
    ol_error e;
    ol_tensor a = mk1(OL_F64, 3, (double[]){1, 2, 4}), r;
    assert_int_equal(ol_binary_scalar(OL_SUB, &a, 10, 0, &r, &e), 0); /* a - 10 */
    expect1(&r, 3, (double[]){-9, -8, -6}, 0);
    ol_tensor_release(&r);
    assert_int_equal(ol_binary_scalar(OL_SUB, &a, 10, 1, &r, &e), 0); /* 10 - a */
    expect1(&r, 3, (double[]){9, 8, 6}, 0);
    ol_tensor_release(&r);
    assert_int_equal(ol_binary_scalar(OL_DIV, &a, 8, 1, &r, &e), 0); /* 8 / a */
    expect1(&r, 3, (double[]){8, 4, 2}, 0);
    ol_tensor_release(&r);
    ol_binary_scalar_(OL_MUL, &a, 3); /* 3 6 12 */
    ol_binary_scalar_(OL_ADD, &a, 1); /* 4 7 13 */
    expect1(&a, 3, (double[]){4, 7, 13}, 0);
    /* on a strided view: every other element of 0..5 */
    ol_tensor b = mk2(OL_F64, 3, 2, (double[]){0, 1, 2, 3, 4, 5}), c0;
    ol_tensor_select(&b, 1, 0, &c0, &e); /* column 0: 0 2 4 */
    ol_binary_scalar_(OL_DIV, &c0, 2);
    expect2(&b, 3, 2, (double[]){0, 1, 1, 3, 2, 5}, 0);
    ol_fill_(&c0, -1);
    expect2(&b, 3, 2, (double[]){-1, 1, -1, 3, -1, 5}, 0);
    ol_clamp_(&b, 0, 4);
    expect2(&b, 3, 2, (double[]){0, 1, 0, 3, 0, 4}, 0);
    ol_tensor_release(&c0);
    ol_tensor_release(&b);
    ol_tensor_release(&a);
}

static void test_unary(void **state) {
    (void)state;
    ol_error e;
    for (int dt = 0; dt < 2; dt++) {
        ol_tensor a = mk1((ol_dtype)dt, 4, (double[]){-2, 0, 1, 4}), r;
        double tol = dt == OL_F32 ? 1e-6 : 1e-15;
        struct { ol_unop op; double p; double want[4]; } cases[] = {
            {OL_NEG, 0, {2, -0.0, -1, -4}},
            {OL_ABS, 0, {2, 0, 1, 4}},
            {OL_SIGN, 0, {-1, 0, 1, 1}},
            {OL_POW, 2, {4, 0, 1, 16}},
            {OL_POW, 3, {-8, 0, 1, 64}},
            /* exp(1) = e, tanh(1) = (e^2-1)/(e^2+1) */
            {OL_EXP, 0, {0.1353352832366127, 1, 2.718281828459045, 54.598150033144236}},
            {OL_TANH, 0, {-0.9640275800758169, 0, 0.7615941559557649, 0.999329299739067}},
            /* 1/(1+e^2), 1/2, 1/(1+e^-1), 1/(1+e^-4) */
            {OL_SIGMOID, 0, {0.11920292202211755, 0.5, 0.7310585786300049, 0.9820137900379085}},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            assert_int_equal(ol_unary(cases[k].op, &a, cases[k].p, &r, &e), 0);
            for (int i = 0; i < 4; i++)
                assert_true(fabs(at1(&r, i) - cases[k].want[i]) <= tol * (1 + fabs(cases[k].want[i])));
            ol_tensor_release(&r);
        }
        ol_tensor b = mk1((ol_dtype)dt, 3, (double[]){1, 4, 9});
        ol_unary_(OL_SQRT, &b, 0);
        expect1(&b, 3, (double[]){1, 2, 3}, 0);
        ol_unary_(OL_LOG, &b, 0); /* 0, ln 2, ln 3 */
        expect1(&b, 3, (double[]){0, 0.6931471805599453, 1.0986122886681098}, tol);
        ol_unary_(OL_POW, &b, 0.5);
        expect1(&b, 3, (double[]){0, 0.8325546111576977, 1.048147073968205}, tol);
        ol_tensor_release(&b);
        /* sigmoid saturates without NaN */
        ol_tensor big = mk1((ol_dtype)dt, 2, (double[]){-1000, 1000});
        ol_unary_(OL_SIGMOID, &big, 0);
        expect1(&big, 2, (double[]){0, 1}, 0);
        ol_tensor_release(&big);
        ol_tensor_release(&a);
    }
    /* unary on a transposed view, in place: only the viewed elements change */
    ol_tensor m = mk2(OL_F32, 2, 3, M23), n;
    ol_tensor_narrow(&m, 1, 1, 2, &n, &e);
    ol_unary_(OL_NEG, &n, 0);
    expect2(&m, 2, 3, (double[]){1, -2, -3, 4, -5, -6}, 0);
    ol_tensor_release(&n);
    ol_tensor_release(&m);
}

static void test_axpy_addc(void **state) {
    (void)state;
    ol_error e;
    ol_tensor d = mk2(OL_F64, 2, 2, (double[]){1, 1, 1, 1});
    ol_tensor a = mk2(OL_F64, 2, 2, (double[]){1, 2, 3, 4}), at;
    ol_tensor b = mk1(OL_F64, 2, (double[]){2, 4});
    ol_tensor_transpose(&a, 0, 1, &at, &e); /* [[1,3],[2,4]] */
    assert_int_equal(ol_axpy_(&d, 2, &at, &e), 0); /* 1 + 2*[[1,3],[2,4]] */
    expect2(&d, 2, 2, (double[]){3, 7, 5, 9}, 0);
    assert_int_equal(ol_addcmul_(&d, &at, &b, 0.5, &e), 0); /* + 0.5*[[2,12],[4,16]] */
    expect2(&d, 2, 2, (double[]){4, 13, 7, 17}, 0);
    assert_int_equal(ol_addcdiv_(&d, &a, &b, 2, &e), 0); /* + 2*[[1/2,2/4],[3/2,4/4]] */
    expect2(&d, 2, 2, (double[]){5, 14, 10, 19}, 0);
    ol_tensor_release(&a);
    ol_tensor_release(&at);
    ol_tensor_release(&b);
    ol_tensor_release(&d);
}

/* ---- reductions ---- */

static void test_reduce_all(void **state) {
    (void)state;
    ol_error e;
    double r;
    int64_t k;
    ol_tensor a = mk2(OL_F32, 2, 3, (double[]){3, -1, 7, 7, 0, -5}), at;
    ol_tensor_transpose(&a, 0, 1, &at, &e); /* row-major order 3 7 -1 0 7 -5 */
    assert_int_equal(ol_reduce_all(OL_SUM, &a, &r, &e), 0);
    assert_true(r == 11);
    assert_int_equal(ol_reduce_all(OL_MEAN, &at, &r, &e), 0);
    assert_true(fabs(r - 11.0 / 6) < 1e-12);
    assert_int_equal(ol_reduce_all(OL_MAX, &at, &r, &e), 0);
    assert_true(r == 7);
    assert_int_equal(ol_reduce_all(OL_MIN, &a, &r, &e), 0);
    assert_true(r == -5);
    assert_int_equal(ol_argmax_all(&a, &k, &e), 0);
    assert_int_equal(k, 2); /* first of the two 7s */
    assert_int_equal(ol_argmax_all(&at, &k, &e), 0);
    assert_int_equal(k, 1); /* in at's own row-major order */
    /* sums accumulate in double: 2^24 + 100 ones is exact, a float sum
     * would stay at 2^24 */
    double v[101];
    v[0] = 16777216;
    for (int i = 1; i < 101; i++) v[i] = 1;
    ol_tensor big = mk1(OL_F32, 101, v);
    assert_int_equal(ol_reduce_all(OL_SUM, &big, &r, &e), 0);
    assert_true(r == 16777316);
    /* NaN propagates */
    ol_tensor nan = mk1(OL_F64, 4, (double[]){1, NAN, 5, NAN});
    assert_int_equal(ol_reduce_all(OL_SUM, &nan, &r, &e), 0);
    assert_true(isnan(r));
    assert_int_equal(ol_reduce_all(OL_MAX, &nan, &r, &e), 0);
    assert_true(isnan(r));
    assert_int_equal(ol_reduce_all(OL_MIN, &nan, &r, &e), 0);
    assert_true(isnan(r));
    assert_int_equal(ol_argmax_all(&nan, &k, &e), 0);
    assert_int_equal(k, 1);
    /* empty: sum 0, others fail */
    int64_t z = 0;
    ol_tensor empty;
    ol_tensor_zeros(&empty, OL_F32, 1, &z, &e);
    assert_int_equal(ol_reduce_all(OL_SUM, &empty, &r, &e), 0);
    assert_true(r == 0);
    assert_int_equal(ol_reduce_all(OL_MAX, &empty, &r, &e), -1);
    assert_string_equal(e.msg, "max of an empty tensor");
    assert_int_equal(ol_argmax_all(&empty, &k, &e), -1);
    ol_tensor_release(&empty);
    ol_tensor_release(&nan);
    ol_tensor_release(&big);
    ol_tensor_release(&at);
    ol_tensor_release(&a);
}

static void test_reduce_dim(void **state) {
    (void)state;
    ol_error e;
    ol_tensor a = mk2(OL_F64, 2, 3, (double[]){1, 9, 3, 9, 5, 0}), v, ix, at;
    assert_int_equal(ol_reduce_dim(OL_SUM, &a, 0, &v, NULL, &e), 0);
    expect1(&v, 3, (double[]){10, 14, 3}, 0);
    ol_tensor_release(&v);
    assert_int_equal(ol_reduce_dim(OL_MEAN, &a, 1, &v, NULL, &e), 0);
    expect1(&v, 2, (double[]){13.0 / 3, 14.0 / 3}, 1e-15);
    ol_tensor_release(&v);
    assert_int_equal(ol_reduce_dim(OL_MAX, &a, 1, &v, &ix, &e), 0);
    expect1(&v, 2, (double[]){9, 9}, 0);
    expect1(&ix, 2, (double[]){1, 0}, 0);
    assert_int_equal(ix.dtype, OL_F64);
    ol_tensor_release(&v);
    ol_tensor_release(&ix);
    assert_int_equal(ol_reduce_dim(OL_MIN, &a, 0, &v, &ix, &e), 0);
    expect1(&v, 3, (double[]){1, 5, 0}, 0);
    expect1(&ix, 3, (double[]){0, 1, 1}, 0);
    ol_tensor_release(&v);
    ol_tensor_release(&ix);
    /* on the transpose [[1,9],[9,5],[3,0]]: max over dim 1 -> 9 9 3 at 1 0 0 */
    ol_tensor_transpose(&a, 0, 1, &at, &e);
    assert_int_equal(ol_reduce_dim(OL_MAX, &at, 1, &v, &ix, &e), 0);
    expect1(&v, 3, (double[]){9, 9, 3}, 0);
    expect1(&ix, 3, (double[]){1, 0, 0}, 0);
    ol_tensor_release(&v);
    ol_tensor_release(&ix);
    /* 1-D gives a scalar tensor */
    ol_tensor r1;
    ol_tensor_select(&a, 0, 0, &r1, &e);
    assert_int_equal(ol_reduce_dim(OL_SUM, &r1, 0, &v, NULL, &e), 0);
    assert_int_equal(v.ndim, 0);
    assert_true(ol_tensor_get(&v, NULL) == 13);
    ol_tensor_release(&v);
    ol_tensor_release(&r1);
    /* 3-D, middle dimension: x[i][j][k] = 100i + 10j + k, 2x3x2, sum over j
     * -> 3*(100i + k) + 30 */
    double vals[12];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++) vals[i * 6 + j * 2 + k] = 100 * i + 10 * j + k;
    int64_t s3[3] = {2, 3, 2};
    ol_tensor c = mk(OL_F32, 3, s3, vals);
    assert_int_equal(ol_reduce_dim(OL_SUM, &c, 1, &v, NULL, &e), 0);
    expect2(&v, 2, 2, (double[]){30, 33, 330, 333}, 0);
    ol_tensor_release(&v);
    ol_tensor_release(&c);
    assert_int_equal(ol_reduce_dim(OL_SUM, &a, 2, &v, NULL, &e), -1);
    assert_string_equal(e.msg, "dimension 2 out of range (tensor has 2)");
    assert_null(v.st);
    ol_tensor_release(&at);
    ol_tensor_release(&a);
}

static void test_norm_dot(void **state) {
    (void)state;
    ol_error e;
    double r;
    ol_tensor a = mk1(OL_F32, 2, (double[]){3, -4});
    assert_int_equal(ol_norm(&a, 2, &r, &e), 0);
    assert_true(fabs(r - 5) < 1e-12);
    assert_int_equal(ol_norm(&a, 1, &r, &e), 0);
    assert_true(r == 7);
    assert_int_equal(ol_norm(&a, INFINITY, &r, &e), 0);
    assert_true(r == 4);
    assert_int_equal(ol_norm(&a, 3, &r, &e), 0); /* (27 + 64)^(1/3) */
    assert_true(fabs(r - cbrt(91)) < 1e-12);
    assert_int_equal(ol_norm(&a, -1, &r, &e), -1);
    ol_tensor m = mk2(OL_F64, 2, 3, M23), mt, v = mk1(OL_F64, 6, (double[]){1, 1, 1, 2, 2, 2});
    ol_tensor_transpose(&m, 0, 1, &mt, &e); /* row-major 1 4 2 5 3 6 */
    /* same shape, strided: m^T . m^T = 91 */
    assert_int_equal(ol_dot(&mt, &mt, &r, &e), 0);
    assert_true(r == 91);
    /* different shapes, same count: 1+4+2 + 2*(5+3+6) = 35 */
    assert_int_equal(ol_dot(&mt, &v, &r, &e), 0);
    assert_true(r == 35);
    assert_int_equal(ol_dot(&m, &a, &r, &e), -1);
    assert_string_equal(e.msg, "f64 and f32 mixed");
    ol_tensor v5 = mk1(OL_F64, 5, (double[]){1, 2, 3, 4, 5});
    assert_int_equal(ol_dot(&m, &v5, &r, &e), -1);
    assert_string_equal(e.msg, "sizes differ: 6 and 5 elements (2x3 and 5)");
    ol_tensor_release(&v5);
    ol_tensor_release(&v);
    ol_tensor_release(&mt);
    ol_tensor_release(&m);
    ol_tensor_release(&a);
}

/* ---- BLAS ---- */

static void test_mm(void **state) {
    (void)state;
    ol_error e;
    for (int dt = 0; dt < 2; dt++) {
        /* [[1,2,3],[4,5,6]] [[7,8],[9,10],[11,12]] = [[58,64],[139,154]] */
        ol_tensor a = mk2((ol_dtype)dt, 2, 3, M23);
        ol_tensor b = mk2((ol_dtype)dt, 3, 2, (double[]){7, 8, 9, 10, 11, 12}), c;
        const double want[4] = {58, 64, 139, 154};
        assert_int_equal(ol_mm(&a, &b, &c, &e), 0);
        expect2(&c, 2, 2, want, 0);
        ol_tensor_release(&c);
        /* transposed operands: a as (a^T)^T, b as (b^T)^T */
        ol_tensor a2 = mk2((ol_dtype)dt, 3, 2, (double[]){1, 4, 2, 5, 3, 6}), a2t;
        ol_tensor b2 = mk2((ol_dtype)dt, 2, 3, (double[]){7, 9, 11, 8, 10, 12}), b2t;
        ol_tensor_transpose(&a2, 0, 1, &a2t, &e);
        ol_tensor_transpose(&b2, 0, 1, &b2t, &e);
        assert_int_equal(ol_mm(&a2t, &b, &c, &e), 0);
        expect2(&c, 2, 2, want, 0);
        ol_tensor_release(&c);
        assert_int_equal(ol_mm(&a, &b2t, &c, &e), 0);
        expect2(&c, 2, 2, want, 0);
        ol_tensor_release(&c);
        assert_int_equal(ol_mm(&a2t, &b2t, &c, &e), 0);
        expect2(&c, 2, 2, want, 0);
        ol_tensor_release(&c);
        /* row-strided: columns 1..2 of a 3x4 block (ld 4 > cols 2):
         * [[2,3],[6,7],[10,11]] times [[1],[1]] = [[5],[13],[21]] */
        ol_tensor big = mk2((ol_dtype)dt, 3, 4, (double[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}), nb;
        ol_tensor ones = mk2((ol_dtype)dt, 2, 1, (double[]){1, 1});
        ol_tensor_narrow(&big, 1, 1, 2, &nb, &e);
        assert_int_equal(ol_mm(&nb, &ones, &c, &e), 0);
        expect2(&c, 3, 1, (double[]){5, 13, 21}, 0);
        ol_tensor_release(&c);
        /* both strides > 1 (every other column of big^T) forces a copy:
         * big^T rows 0 and 2 = [[1,5,9],[3,7,11]] times b =
         * [[7+45+99, 8+50+108], [21+63+121, 24+70+132]] */
        ol_tensor bt, sel;
        ol_tensor_transpose(&big, 0, 1, &bt, &e);
        int64_t s2[2] = {2, 3};
        sel = bt;
        sel.shape[0] = 2;
        sel.shape[1] = 3;
        sel.stride[0] = 2 * bt.stride[0];
        (void)s2;
        ol_storage_retain(sel.st);
        assert_int_equal(ol_mm(&sel, &b, &c, &e), 0);
        expect2(&c, 2, 2, (double[]){151, 166, 205, 226}, 0);
        ol_tensor_release(&c);
        /* an expanded (stride-0) operand: [1,1,1] stretched to 2x3 */
        ol_tensor one3 = mk1((ol_dtype)dt, 3, (double[]){1, 1, 1}), ex;
        int64_t s23[2] = {2, 3};
        ol_tensor_expand(&one3, 2, s23, &ex, &e);
        assert_int_equal(ol_mm(&ex, &b, &c, &e), 0);
        expect2(&c, 2, 2, (double[]){27, 30, 27, 30}, 0);
        ol_tensor_release(&c);
        /* mv: a [1, 0, -1] = [-2, -2]; on a^T-of-a2 too; strided x */
        ol_tensor x = mk1((ol_dtype)dt, 3, (double[]){1, 0, -1}), y, xc;
        assert_int_equal(ol_mv(&a, &x, &y, &e), 0);
        expect1(&y, 2, (double[]){-2, -2}, 0);
        ol_tensor_release(&y);
        assert_int_equal(ol_mv(&a2t, &x, &y, &e), 0);
        expect1(&y, 2, (double[]){-2, -2}, 0);
        ol_tensor_release(&y);
        ol_tensor_select(&big, 1, 0, &xc, &e); /* column 0 of big: 1 5 9, stride 4 */
        assert_int_equal(ol_mv(&a, &xc, &y, &e), 0); /* [1+10+27, 4+25+54] */
        expect1(&y, 2, (double[]){38, 83}, 0);
        ol_tensor_release(&y);
        ol_tensor exv;
        int64_t s3 = 3;
        ol_tensor one1 = mk1((ol_dtype)dt, 1, (double[]){2});
        ol_tensor_expand(&one1, 1, &s3, &exv, &e); /* [2,2,2], stride 0 */
        assert_int_equal(ol_mv(&a, &exv, &y, &e), 0);
        expect1(&y, 2, (double[]){12, 30}, 0);
        ol_tensor_release(&y);
        /* errors */
        assert_int_equal(ol_mm(&a, &a, &c, &e), -1);
        assert_string_equal(e.msg, "inner sizes differ: 2x3 and 2x3");
        assert_null(c.st);
        assert_int_equal(ol_mv(&a, &one1, &y, &e), -1);
        assert_string_equal(e.msg, "inner sizes differ: 2x3 and 1");
        assert_int_equal(ol_mm(&a, &x, &c, &e), -1);
        assert_string_equal(e.msg, "right operand must be a matrix, got shape 3");
        ol_tensor_release(&one1);
        ol_tensor_release(&exv);
        ol_tensor_release(&x);
        ol_tensor_release(&xc);
        ol_tensor_release(&one3);
        ol_tensor_release(&ex);
        ol_tensor_release(&sel);
        ol_tensor_release(&bt);
        ol_tensor_release(&ones);
        ol_tensor_release(&nb);
        ol_tensor_release(&big);
        ol_tensor_release(&a2);
        ol_tensor_release(&a2t);
        ol_tensor_release(&b2);
        ol_tensor_release(&b2t);
        ol_tensor_release(&a);
        ol_tensor_release(&b);
    }
    /* the message from the brief, and dtype mixing */
    int64_t s34[2] = {3, 4}, s52[2] = {5, 2};
    ol_tensor p, q, c;
    ol_tensor_zeros(&p, OL_F32, 2, s34, &e);
    ol_tensor_zeros(&q, OL_F32, 2, s52, &e);
    assert_int_equal(ol_mm(&p, &q, &c, &e), -1);
    assert_string_equal(e.msg, "inner sizes differ: 3x4 and 5x2");
    ol_tensor_release(&q);
    int64_t s42[2] = {4, 2};
    ol_tensor_zeros(&q, OL_F64, 2, s42, &e);
    assert_int_equal(ol_mm(&p, &q, &c, &e), -1);
    assert_string_equal(e.msg, "f32 and f64 mixed");
    ol_tensor_release(&q);
    /* k = 0: the empty sum is zero */
    int64_t s30[2] = {3, 0}, s02[2] = {0, 2};
    ol_tensor_release(&p);
    ol_tensor_zeros(&p, OL_F64, 2, s30, &e);
    ol_tensor_zeros(&q, OL_F64, 2, s02, &e);
    assert_int_equal(ol_mm(&p, &q, &c, &e), 0);
    expect2(&c, 3, 2, (double[]){0, 0, 0, 0, 0, 0}, 0);
    ol_tensor_release(&c);
    ol_tensor_release(&p);
    ol_tensor_release(&q);
}

/* ---- random fills ---- */

static void test_random_fill_layout(void **state) {
    (void)state;
    ol_error e;
    int64_t s34[2] = {3, 4}, s43[2] = {4, 3};
    ol_tensor a, b, bt;
    ol_tensor_zeros(&a, OL_F32, 2, s34, &e);
    ol_tensor_zeros(&b, OL_F32, 2, s43, &e);
    ol_tensor_transpose(&b, 0, 1, &bt, &e); /* 3x4 view, column-major storage */
    ol_rng_seed(7);
    ol_tensor_uniform_(&a, -1, 1);
    ol_rng_seed(7);
    ol_tensor_uniform_(&bt, -1, 1);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            double x = at2(&a, i, j);
            assert_true(x == at2(&bt, i, j));
            assert_true(x >= -1 && x < 1);
        }
    /* element (0,0) is the first draw: -1 + 2u with u the first f32 draw */
    ol_rng_seed(7);
    float u = ol_rng_uniform_f32();
    assert_true(at2(&a, 0, 0) == (double)(float)(-1 + 2 * (double)u));
    /* f64 normal draws come in the same logical order */
    ol_tensor d;
    ol_tensor_zeros(&d, OL_F64, 2, s34, &e);
    ol_rng_seed(9);
    ol_tensor_normal_(&d, 1, 2);
    ol_rng_seed(9);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) assert_true(at2(&d, i, j) == 1 + 2 * ol_rng_normal());
    ol_tensor_release(&d);
    ol_tensor_release(&a);
    ol_tensor_release(&b);
    ol_tensor_release(&bt);
}

/* Every layout the iterator may meet (permuted, narrowed, broadcast in any
 * dimension), checked element by element against a direct computation
 * through ol_tensor_get, which does not use the iterator. */
static void test_iterator_layouts(void **state) {
    (void)state;
    ol_error e;
    double vals[120], bv[4] = {10, 20, 30, 40};
    for (int i = 0; i < 120; i++) vals[i] = i;
    int64_t s[3] = {4, 5, 6}, sb[2] = {4, 1};
    ol_tensor x = mk(OL_F64, 3, s, vals), b = mk(OL_F64, 2, sb, bv);
    for (int perm = 0; perm < 3; perm++) {
        ol_tensor v, w, r;
        ol_tensor_transpose(&x, perm, 2, &v, &e);   /* 3-D with the last dim moved */
        ol_tensor_narrow(&v, 1, 1, 4, &w, &e);       /* and a gap in dimension 1 */
        /* w is {a, 4, c}; b {4,1} stretches over dims 0 and 2 */
        assert_int_equal(ol_binary(OL_SUB, &w, &b, &r, &e), 0);
        double sum = 0;
        for (int64_t i = 0; i < w.shape[0]; i++)
            for (int64_t j = 0; j < 4; j++)
                for (int64_t k = 0; k < w.shape[2]; k++) {
                    int64_t ix[3] = {i, j, k}, jb[2] = {j, 0};
                    double want = ol_tensor_get(&w, ix) - ol_tensor_get(&b, jb);
                    assert_true(ol_tensor_get(&r, ix) == want);
                    sum += ol_tensor_get(&w, ix);
                }
        double got;
        assert_int_equal(ol_reduce_all(OL_SUM, &w, &got, &e), 0);
        assert_true(got == sum);
        /* in place, then back */
        assert_int_equal(ol_binary_(OL_ADD, &w, &b, &e), 0);
        assert_int_equal(ol_axpy_(&w, -1, &b, &e), 0);
        for (int i = 0; i < 120; i++) assert_true(((double *)x.st->data)[i] == i);
        ol_tensor_release(&r);
        ol_tensor_release(&w);
        ol_tensor_release(&v);
    }
    ol_tensor_release(&x);
    ol_tensor_release(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storage_refcount),
        cmocka_unit_test(test_shape_str_and_dtype),
        cmocka_unit_test(test_constructors),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_view_errors),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_copy_index_to),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_binary_broadcast),
        cmocka_unit_test(test_scalar_ops),
        cmocka_unit_test(test_unary),
        cmocka_unit_test(test_axpy_addc),
        cmocka_unit_test(test_reduce_all),
        cmocka_unit_test(test_reduce_dim),
        cmocka_unit_test(test_norm_dot),
        cmocka_unit_test(test_mm),
        cmocka_unit_test(test_random_fill_layout),
        cmocka_unit_test(test_iterator_layouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
