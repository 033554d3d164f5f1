/* The linear layer's products cut over the engine's pool (engine/nn/linear.c):
 * on two threads every result (forward z, weight gradient dW overwritten
 * and accumulated, input gradient dx) matches a plain double-precision
 * loop of the formula
 * z = x W^T, dW (+)= dz^T x, dx = dz W, and for the big products equals
 * the one-thread result bit for bit. The shapes make each kind of cut
 * happen: GEMM cut along the columns of the result and along its rows (the
 * weight gradient while x is small, and tall batches), batch 1's gemv cut along
 * the rows of W (forward; its transposed gemv for dx is never cut, as a
 * cut changes its bits) and the outer product cut along the rows of dW,
 * with sizes that leave a short last part. Also the fused epilogues (bias
 * gradients summed by groups of rows or by columns), thin forward products
 * in blocks of rows, and the loss cut over the pool. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cmocka.h>

#include "nn/kernels.h"
#include "parallel.h"
#include "threads.h"

typedef struct shape {
    int64_t n, in, out;
} shape;

static void fill(float *p, int64_t k, unsigned seed) {
    for (int64_t i = 0; i < k; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 9) % 2001) / 1000.0f - 1.0f;
    }
}

/* Shapes whose cut products all keep more than 10^6 multiply-adds per part
 * (or are gemv and outer products) give the same bits on 1 and 2 threads;
 * smaller GEMMs may go to OpenBLAS's small-matrix kernels, which sum in
 * another order for a part than for the whole, so there only the formula
 * is checked. */

/* Runs forward and backward (overwrite, then accumulate on top) at the
 * given thread count into z, dw, dx. */
static void run(const shape *s, int threads, const float *x, const float *w, const float *dz,
                float *z, float *dw, float *dx) {
    ol_set_threads(threads);
    ol_linear_forward_f32(s->n, s->in, s->out, x, w, z);
    ol_linear_backward_f32(s->n, s->in, s->out, x, w, dz, dx, dw, 0);
    ol_linear_backward_f32(s->n, s->in, s->out, x, w, dz, NULL, dw, 1);
    ol_set_threads(1);
}

static void check_close(const char *what, const shape *s, int64_t i, double got, double want) {
    double tol = 1e-4 * (1.0 + fabs(want)) * sqrt((double)(s->in > s->n ? s->in : s->n));
    if (!(fabs(got - want) <= tol))
        fail_msg("%s of %lldx%lldx%lld at %lld: %.9g, formula %.9g", what, (long long)s->n,
                 (long long)s->in, (long long)s->out, (long long)i, got, want);
}

static void check_shape(const shape *s, int same_bits) {
    const int64_t n = s->n, in = s->in, out = s->out;
    float *x = malloc(sizeof(float) * n * in), *w = malloc(sizeof(float) * out * in);
    float *dz = malloc(sizeof(float) * n * out);
    float *z1 = malloc(sizeof(float) * n * out), *z2 = malloc(sizeof(float) * n * out);
    float *dw1 = malloc(sizeof(float) * out * in), *dw2 = malloc(sizeof(float) * out * in);
    float *dx1 = malloc(sizeof(float) * n * in), *dx2 = malloc(sizeof(float) * n * in);
    fill(x, n * in, 1);
    fill(w, out * in, 2);
    fill(dz, n * out, 3);
    run(s, 1, x, w, dz, z1, dw1, dx1);
    run(s, 2, x, w, dz, z2, dw2, dx2);
    if (same_bits) {
        assert_memory_equal(z1, z2, sizeof(float) * n * out);
        assert_memory_equal(dw1, dw2, sizeof(float) * out * in);
        assert_memory_equal(dx1, dx2, sizeof(float) * n * in);
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) {
            double acc = 0;
            for (int64_t i = 0; i < in; i++) acc += (double)x[r * in + i] * w[o * in + i];
            check_close("z", s, r * out + o, z2[r * out + o], acc);
        }
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++) {
            double acc = 0;
            for (int64_t r = 0; r < n; r++) acc += (double)dz[r * out + o] * x[r * in + i];
            check_close("dW (twice)", s, o * in + i, dw2[o * in + i], 2 * acc);
        }
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < in; i++) {
            double acc = 0;
            for (int64_t o = 0; o < out; o++) acc += (double)dz[r * out + o] * w[o * in + i];
            check_close("dx", s, r * in + i, dx2[r * in + i], acc);
        }
    free(x), free(w), free(dz), free(z1), free(z2), free(dw1), free(dw2), free(dx1), free(dx2);
}

static void test_gemm_cut_columns(void **state) {
    (void)state;
    const shape s = {128, 784, 256}; /* z and dx by columns, dW by rows */
    check_shape(&s, 1);
    const shape big_x = {400, 800, 64}; /* x past DW_ROWS_MAX_X: dW by columns */
    check_shape(&big_x, 1);
}

static void test_gemm_cut_rows(void **state) {
    (void)state;
    const shape s = {600, 128, 64}; /* z and dx are tall: cut along their rows */
    check_shape(&s, 1);
}

/* The MLP's other products at batch 16 and 1024, cut into parts that may
 * run on OpenBLAS's small-matrix kernels. */
static void test_mlp_shapes(void **state) {
    (void)state;
    const shape big = {16, 784, 256};
    check_shape(&big, 1);
    const shape s[] = {{16, 256, 128}, {16, 128, 10}, {1024, 128, 10}};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) check_shape(&s[i], 0);
}

/* Thin forward products (at most 16 outputs: a classifier's last layer)
 * run in blocks of 64 rows, cut on those blocks: against the formula, and
 * the same bits on 1 and 2 threads (the blocks do not move). */
static void test_thin_forward(void **state) {
    (void)state;
    const shape s[] = {{1000, 128, 10}, {128, 128, 10}, {200, 50, 3}, {64, 128, 16}};
    for (size_t k = 0; k < sizeof s / sizeof s[0]; k++) {
        const int64_t n = s[k].n, in = s[k].in, out = s[k].out;
        float *x = malloc(sizeof(float) * n * in), *w = malloc(sizeof(float) * out * in);
        float *z1 = malloc(sizeof(float) * n * out), *z2 = malloc(sizeof(float) * n * out);
        fill(x, n * in, 11);
        fill(w, out * in, 12);
        ol_set_threads(1);
        ol_linear_forward_f32(n, in, out, x, w, z1);
        ol_set_threads(2);
        ol_linear_forward_f32(n, in, out, x, w, z2);
        ol_set_threads(1);
        assert_memory_equal(z1, z2, sizeof(float) * n * out);
        for (int64_t r = 0; r < n; r++)
            for (int64_t o = 0; o < out; o++) {
                double acc = 0;
                for (int64_t i = 0; i < in; i++) acc += (double)x[r * in + i] * w[o * in + i];
                check_close("thin z", &s[k], r * out + o, z2[r * out + o], acc);
            }
        free(x), free(w), free(z1), free(z2);
    }
}

static void test_batch1_cut(void **state) {
    (void)state;
    const shape a = {1, 784, 256}, b = {1, 333, 250}; /* b: short last parts */
    check_shape(&a, 1);
    check_shape(&b, 1);
}

static void test_small_not_cut(void **state) {
    (void)state;
    const shape s = {3, 20, 10}; /* below every threshold: not cut at all */
    check_shape(&s, 1);
}

/* The fused forms: y = tanh(x W^T + b) with the activation applied to each
 * part of the product, and the backward product whose dx goes at once
 * through the activation x = tanh(u) that made its input: dz = dx (1 - x^2)
 * and db = column sums of dz (overwritten, then accumulated), each checked
 * against the formula on 2 threads, at a size where the products are cut.
 * db is summed per group of rows (db_groups), so the backward product may
 * be cut along its rows; where its parts outgrow OpenBLAS's small-matrix
 * kernels (same_bits) dz and db must equal the 1-thread result bit for
 * bit. */
static void check_fused(int64_t n, int64_t in, int64_t out, int accumulate, int same_bits) {
    float *x = malloc(sizeof(float) * n * in), *w = malloc(sizeof(float) * out * in);
    float *b = malloc(sizeof(float) * out), *z = malloc(sizeof(float) * n * out);
    float *y = malloc(sizeof(float) * n * out), *dz = malloc(sizeof(float) * n * out);
    float *u = malloc(sizeof(float) * n * in), *ub = malloc(sizeof(float) * in);
    float *dx = malloc(sizeof(float) * n * in), *du = malloc(sizeof(float) * n * in);
    float *dub = malloc(sizeof(float) * in), *dw = malloc(sizeof(float) * out * in);
    fill(u, n * in, 6);
    fill(ub, in, 7);
    for (int64_t i = 0; i < n * in; i++) x[i] = tanhf(u[i] + ub[i % in]);
    fill(w, out * in, 8);
    fill(b, out, 9);
    fill(dz, n * out, 10);
    for (int64_t j = 0; j < in; j++) dub[j] = 0.5f; /* what accumulate adds to */
    ol_set_threads(2);
    ol_linear_act_forward_f32(n, in, out, x, w, b, OL_ACT_TANH, 0, z, y);
    float *groups = malloc(sizeof(float) * ((n + OL_GROUP_ROWS - 1) / OL_GROUP_ROWS) * in);
    ol_act_grad_f32 g = {OL_ACT_TANH, 0, u, ub, x, du, dub, accumulate, groups};
    ol_linear_backward_act_f32(n, in, out, x, w, dz, dx, dw, 0, &g);
    ol_set_threads(1);
    if (same_bits) {
        float *du1 = malloc(sizeof(float) * n * in), *dub1 = malloc(sizeof(float) * in);
        for (int64_t j = 0; j < in; j++) dub1[j] = 0.5f;
        ol_act_grad_f32 g1 = {OL_ACT_TANH, 0, u, ub, x, du1, dub1, accumulate, groups};
        float *dx1 = malloc(sizeof(float) * n * in);
        ol_linear_backward_act_f32(n, in, out, x, w, dz, dx1, dw, 0, &g1);
        assert_memory_equal(du, du1, sizeof(float) * n * in);
        assert_memory_equal(dub, dub1, sizeof(float) * in);
        free(du1), free(dub1), free(dx1);
    }
    const shape s = {n, in, out};
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) {
            double acc = 0;
            for (int64_t i = 0; i < in; i++) acc += (double)x[r * in + i] * w[o * in + i];
            check_close("z", &s, r * out + o, z[r * out + o], acc);
            check_close("y", &s, r * out + o, y[r * out + o], tanh(acc + b[o]));
        }
    for (int64_t i = 0; i < in; i++) {
        double col = accumulate ? 0.5 : 0;
        for (int64_t r = 0; r < n; r++) {
            double acc = 0;
            for (int64_t o = 0; o < out; o++) acc += (double)dz[r * out + o] * w[o * in + i];
            const double xv = x[r * in + i], want = acc * (1 - xv * xv);
            check_close("dx", &s, r * in + i, dx[r * in + i], acc);
            check_close("dz of the activation", &s, r * in + i, du[r * in + i], want);
            col += want;
        }
        check_close("db of the activation", &s, i, dub[i], col);
    }
    free(x), free(w), free(b), free(z), free(y), free(dz), free(u), free(ub), free(dx);
    free(du), free(dub), free(dw), free(groups);
}

static void test_fused_activation(void **state) {
    (void)state;
    check_fused(128, 256, 128, 0, 1); /* the MLP's second layer, batch 128 */
    check_fused(128, 256, 128, 1, 1);
    check_fused(600, 96, 48, 0, 0); /* tall: the forward is cut along rows */
    check_fused(1, 784, 256, 0, 0); /* batch 1: gemv */
    /* cut along the rows with a short last group (1000 = 62 x 16 + 8) */
    check_fused(1000, 256, 128, 0, 1);
    check_fused(1000, 256, 128, 1, 1);
    check_fused(1024, 128, 10, 1, 0); /* the last layer's dx at batch 1024 */
}

/* The loss cut over the pool (ol_loss_cut, the training step's) on 2
 * threads: every loss at a batch of 1000 rows (cut in two, a short last
 * group) against the formula summed here in double, dy against its
 * formula, and loss and dy bit for bit equal to the serial ol_loss. */
static void test_loss_cut(void **state) {
    (void)state;
    const int64_t n = 1000, c = 10;
    float *y = malloc(sizeof(float) * n * c), *t = malloc(sizeof(float) * n * c);
    float *dy = malloc(sizeof(float) * n * c), *dy1 = malloc(sizeof(float) * n * c);
    float *probs = malloc(sizeof(float) * n * c);
    int32_t *ids = malloc(sizeof(int32_t) * n);
    double *groups = malloc(sizeof(double) * ((n + OL_GROUP_ROWS - 1) / OL_GROUP_ROWS));
    fill(y, n * c, 21);
    for (int64_t i = 0; i < n * c; i++) y[i] *= 4;
    fill(t, n * c, 22);
    for (int64_t r = 0; r < n; r++) {
        ids[r] = (int32_t)((r * 7 + 3) % c);
        double sum = 0;
        for (int64_t j = 0; j < c; j++) sum += probs[r * c + j] = 1.1f + t[r * c + j];
        for (int64_t j = 0; j < c; j++) probs[r * c + j] = (float)(probs[r * c + j] / sum);
    }
    for (int kind = 0; kind < 4; kind++) {
        const ol_loss_kind k = kind < 2    ? OL_LOSS_CROSS_ENTROPY
                               : kind == 2 ? OL_LOSS_MSE
                                           : OL_LOSS_BCE;
        const int32_t *id = kind == 0 ? ids : NULL;
        const float *tt = kind == 1 || kind == 3 ? probs : t; /* bce: targets in [0, 1] */
        ol_set_threads(2);
        const double got = ol_loss_cut_f32(k, n, c, y, id, tt, dy, groups);
        ol_set_threads(1);
        const double serial = ol_loss_f32(k, n, c, y, id, tt, dy1);
        assert_memory_equal(&got, &serial, sizeof got);
        assert_memory_equal(dy, dy1, sizeof(float) * n * c);
        double want = 0;
        for (int64_t r = 0; r < n; r++) {
            const float *yr = y + r * c, *tr = tt ? tt + r * c : NULL;
            double mx = yr[0], se = 0;
            for (int64_t j = 1; j < c; j++) mx = fmax(mx, yr[j]);
            for (int64_t j = 0; j < c; j++) se += exp(yr[j] - mx);
            const double lse = mx + log(se);
            for (int64_t j = 0; j < c; j++) {
                const double p = exp(yr[j] - mx) / se, u = yr[j];
                double g;
                if (kind == 0) {
                    g = (p - (j == id[r])) / (double)n;
                    if (j == id[r]) want += lse - u;
                } else if (kind == 1) {
                    g = (p - tr[j]) / (double)n; /* the probabilities sum to 1 */
                    want += tr[j] * (lse - u);
                } else if (kind == 2) {
                    g = 2 * (u - tr[j]) / (double)(n * c);
                    want += (u - tr[j]) * (u - tr[j]);
                } else {
                    const double sg = 1 / (1 + exp(-u));
                    g = (sg - tr[j]) / (double)(n * c);
                    want -= tr[j] * log(sg) + (1 - tr[j]) * log(1 - sg);
                }
                if (!(fabs(dy[r * c + j] - g) <= 1e-6 * (1e-3 + fabs(g))))
                    fail_msg("loss %d: dy[%lld][%lld] %.9g, formula %.9g", kind, (long long)r,
                             (long long)j, dy[r * c + j], g);
            }
        }
        want /= kind < 2 ? (double)n : (double)(n * c);
        if (!(fabs(got - want) <= 1e-6 * fabs(want)))
            fail_msg("loss %d: %.12g, formula %.12g", kind, got, want);
    }
    free(y), free(t), free(dy), free(dy1), free(probs), free(ids), free(groups);
}

/* A product made inside a pool part (the pool then runs it on the caller
 * alone) gives the same bits as on the top level. */
typedef struct nested {
    const shape *s;
    const float *x, *w;
    float *z;
} nested;

static void nested_part(void *ctx, int64_t begin, int64_t end, int part) {
    (void)begin, (void)end;
    nested *j = ctx;
    if (part == 0) ol_linear_forward_f32(j->s->n, j->s->in, j->s->out, j->x, j->w, j->z);
}

static void test_nested_runs_alone(void **state) {
    (void)state;
    const shape s = {128, 784, 256};
    float *x = malloc(sizeof(float) * s.n * s.in), *w = malloc(sizeof(float) * s.out * s.in);
    float *z1 = malloc(sizeof(float) * s.n * s.out), *z2 = malloc(sizeof(float) * s.n * s.out);
    fill(x, s.n * s.in, 4);
    fill(w, s.out * s.in, 5);
    ol_set_threads(2);
    ol_linear_forward_f32(s.n, s.in, s.out, x, w, z1);
    nested j = {&s, x, w, z2};
    ol_parallel_for(2 * 64, 64, 64, nested_part, &j);
    /* the user's setting survives, OpenBLAS's included */
    assert_int_equal(ol_get_threads(), 2);
    assert_int_equal(openblas_get_num_threads(), 2);
    ol_set_threads(1);
    assert_memory_equal(z1, z2, sizeof(float) * s.n * s.out);
    free(x), free(w), free(z1), free(z2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_cut_columns), cmocka_unit_test(test_gemm_cut_rows),
        cmocka_unit_test(test_mlp_shapes),       cmocka_unit_test(test_batch1_cut),
        cmocka_unit_test(test_small_not_cut),    cmocka_unit_test(test_fused_activation),
        cmocka_unit_test(test_nested_runs_alone), cmocka_unit_test(test_loss_cut),
        cmocka_unit_test(test_thin_forward),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ol_parallel_shutdown();
    return rc;
}
