/* The linear layer's products cut over the engine's pool (engine/nn/linear.c)
 * on 1 and 2 threads: GEMM cut along the columns of the result and along its
 * rows (the weight gradient while x is small, and tall batches), batch 1's
 * gemv cut along the rows of W and the outer product cut along the rows of
 * dW, with sizes that leave a short last part; the fused epilogues (bias
 * gradients summed by groups of rows), thin forward products in blocks of
 * rows, and the loss cut over the pool.
 *
 * What is asserted, and why:
 *  - Every result (forward z, weight gradient dW overwritten and then
 *    accumulated, input gradient dx) on either thread count lies within the
 *    rounding-error bound of its dot products, |fl(sum_k a b) - sum_k a b|
 *    <= gamma_k sum_k |a b| with gamma_k = k u / (1 - k u), u = 2^-24 (any
 *    order of summation, with or without fused multiply-adds), against the
 *    formula z = x W^T, dW (+)= dz^T x, dx = dz W summed in double here.
 *  - Where OpenBLAS sums, 1 and 2 threads are not compared bit for bit: the
 *    kernel that makes a part may sum in another order than the one that
 *    makes the whole, and which kernels run depends on the CPU (the core
 *    OpenBLAS selects). The bound above holds for both.
 *  - Bit for bit across thread counts only where the engine owns the order:
 *    its own loops (batch 1's outer product, the epilogues' grouped sums,
 *    the loss), and calls that are the same call on any thread count (an
 *    uncut product, thin forward blocks). With small integers as inputs
 *    every product and partial sum is exact whatever the order, so the cut
 *    products must then give the same bits on 1 and 2 threads: a part put in
 *    the wrong place, lost or made twice shows there on every core. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cmocka.h>

#include "nn/kernels.h"
#include "core/parallel.h"
#include "core/threads.h"

typedef struct shape {
    int64_t n, in, out;
} shape;

static void fill(float *p, int64_t k, unsigned seed) {
    for (int64_t i = 0; i < k; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 9) % 2001) / 1000.0f - 1.0f;
    }
}

/* Integers in [-2, 2]: products and their sums are exact in f32 up to
 * 2^24, so any order of summation gives the same bits. */
static void fill_int(float *p, int64_t k, unsigned seed) {
    for (int64_t i = 0; i < k; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((int)((seed >> 9) % 5) - 2);
    }
}

/* gamma_k of f32 (Higham, Accuracy and Stability of Numerical Algorithms,
 * Lemma 3.1): the relative bound of a sum of k rounded products. */
static double gamma_f32(int64_t k) {
    const double u = ldexp(1.0, -24);
    return (double)k * u / (1 - (double)k * u);
}

/* sum_i a[i*sa] b[i*sb] over k terms in double, and sum |a b| in *mag:
 * the formula and the size of its rounding bound. */
static double ref_dot(const float *a, int64_t sa, const float *b, int64_t sb, int64_t k,
                      double *mag) {
    double acc = 0, m = 0;
    for (int64_t i = 0; i < k; i++) {
        const double p = (double)a[i * sa] * b[i * sb];
        acc += p, m += fabs(p);
    }
    *mag = m;
    return acc;
}

/* got must lie within tol of want (the formula in double). */
static void check_bound(const char *what, const shape *s, int64_t i, double got, double want,
                        double tol) {
    if (!(fabs(got - want) <= tol))
        fail_msg("%s of %lldx%lldx%lld at %lld: %.9g, formula %.9g, off by %.3g > bound %.3g "
                 "(BLAS core %s)",
                 what, (long long)s->n, (long long)s->in, (long long)s->out, (long long)i, got,
                 want, fabs(got - want), tol, ol_blas_core());
}

static void check_bits(const char *what, const shape *s, const float *a, const float *b,
                       int64_t k) {
    for (int64_t i = 0; i < k; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            fail_msg("%s of %lldx%lldx%lld at %lld: %.9g on 1 thread, %.9g on 2 (BLAS core %s)",
                     what, (long long)s->n, (long long)s->in, (long long)s->out, (long long)i,
                     a[i], b[i], ol_blas_core());
}

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

/* Which results are the same call, or the engine's own loop, on any
 * number of threads, and so must match bit for bit with any inputs. */
enum { BITS_Z = 1, BITS_DW = 2, BITS_DX = 4 };

static void check_shape(const shape *s, int same_bits) {
    const int64_t n = s->n, in = s->in, out = s->out;
    float *x = malloc(sizeof(float) * n * in), *w = malloc(sizeof(float) * out * in);
    float *dz = malloc(sizeof(float) * n * out);
    float *z[2], *dw[2], *dx[2];
    for (int t = 0; t < 2; t++) {
        z[t] = malloc(sizeof(float) * n * out);
        dw[t] = malloc(sizeof(float) * out * in);
        dx[t] = malloc(sizeof(float) * n * in);
    }
    /* Exact inputs: the cut must not move a bit. */
    fill_int(x, n * in, 1);
    fill_int(w, out * in, 2);
    fill_int(dz, n * out, 3);
    run(s, 1, x, w, dz, z[0], dw[0], dx[0]);
    run(s, 2, x, w, dz, z[1], dw[1], dx[1]);
    check_bits("exact z", s, z[0], z[1], n * out);
    check_bits("exact dW", s, dw[0], dw[1], out * in);
    check_bits("exact dx", s, dx[0], dx[1], n * in);
    /* Rounded inputs: each thread count within the bound of the formula. */
    fill(x, n * in, 1);
    fill(w, out * in, 2);
    fill(dz, n * out, 3);
    run(s, 1, x, w, dz, z[0], dw[0], dx[0]);
    run(s, 2, x, w, dz, z[1], dw[1], dx[1]);
    if (same_bits & BITS_Z) check_bits("z", s, z[0], z[1], n * out);
    if (same_bits & BITS_DW) check_bits("dW", s, dw[0], dw[1], out * in);
    if (same_bits & BITS_DX) check_bits("dx", s, dx[0], dx[1], n * in);
    for (int t = 0; t < 2; t++) {
        for (int64_t r = 0; r < n; r++)
            for (int64_t o = 0; o < out; o++) {
                double mag, acc = ref_dot(x + r * in, 1, w + o * in, 1, in, &mag);
                check_bound(t ? "z, 2 threads" : "z, 1 thread", s, r * out + o,
                            z[t][r * out + o], acc, gamma_f32(in) * mag);
            }
        /* dW = d1 + d2, each a sum of n products, then one more rounding:
         * within gamma_{n+1} (|d1| + sum |dz x|) + gamma_n sum |dz x|. */
        for (int64_t o = 0; o < out; o++)
            for (int64_t i = 0; i < in; i++) {
                double mag, acc = ref_dot(dz + o, out, x + i, in, n, &mag);
                check_bound(t ? "dW (twice), 2 threads" : "dW (twice), 1 thread", s,
                            o * in + i, dw[t][o * in + i], 2 * acc,
                            3 * gamma_f32(n + 1) * mag);
            }
        for (int64_t r = 0; r < n; r++)
            for (int64_t i = 0; i < in; i++) {
                double mag, acc = ref_dot(dz + r * out, 1, w + i, in, out, &mag);
                check_bound(t ? "dx, 2 threads" : "dx, 1 thread", s, r * in + i,
                            dx[t][r * in + i], acc, gamma_f32(out) * mag);
            }
    }
    free(x), free(w), free(dz);
    for (int t = 0; t < 2; t++) free(z[t]), free(dw[t]), free(dx[t]);
}

static void test_gemm_cut_columns(void **state) {
    (void)state;
    const shape s = {128, 784, 256}; /* z and dx by columns, dW by rows */
    check_shape(&s, 0);
    const shape big_x = {400, 800, 64}; /* x past DW_ROWS_MAX_X: dW by columns */
    check_shape(&big_x, 0);
}

static void test_gemm_cut_rows(void **state) {
    (void)state;
    const shape s = {600, 128, 64}; /* z and dx are tall: cut along their rows */
    check_shape(&s, 0);
}

/* The MLP's other products at batch 16 and 1024. */
static void test_mlp_shapes(void **state) {
    (void)state;
    const shape s[] = {{16, 784, 256}, {16, 256, 128}, {16, 128, 10}, {1024, 128, 10}};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) check_shape(&s[i], 0);
}

/* Thin forward products (at most 16 outputs: a classifier's last layer)
 * run in blocks of 64 rows on any thread count, the blocks cut over the
 * pool: the same OpenBLAS calls either way, so the same bits. */
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
        check_bits("thin z", &s[k], z1, z2, n * out);
        for (int64_t r = 0; r < n; r++)
            for (int64_t o = 0; o < out; o++) {
                double mag, acc = ref_dot(x + r * in, 1, w + o * in, 1, in, &mag);
                check_bound("thin z", &s[k], r * out + o, z2[r * out + o], acc,
                            gamma_f32(in) * mag);
            }
        free(x), free(w), free(z1), free(z2);
    }
}

/* Batch 1: the forward gemv is cut along the rows of W (OpenBLAS sums);
 * dW is the engine's outer product (one product per element) and dx's
 * transposed gemv is never cut, so those two keep their bits. */
static void test_batch1_cut(void **state) {
    (void)state;
    const shape a = {1, 784, 256}, b = {1, 333, 250}; /* b: short last parts */
    check_shape(&a, BITS_DW | BITS_DX);
    check_shape(&b, BITS_DW | BITS_DX);
}

static void test_small_not_cut(void **state) {
    (void)state;
    const shape s = {3, 20, 10}; /* below every threshold: the same calls */
    check_shape(&s, BITS_Z | BITS_DW | BITS_DX);
}

/* The fused forms: y = tanh(x W^T + b) with the activation applied to each
 * part of the product, and the backward product whose dx goes at once
 * through the activation x = tanh(u) that made its input: dz = dx (1 - x^2)
 * and db = column sums of dz (overwritten, then accumulated), each within
 * its rounding bound of the formula on 2 threads, at sizes where the
 * products are cut. db is summed per group of OL_GROUP_ROWS rows and the
 * groups in order, so the backward product may be cut along its rows: with
 * W and dz small integers, dx = dz W is exact in any order, and dz and db
 * must then equal the 1-thread result bit for bit (the engine's order). */
static void check_fused(int64_t n, int64_t in, int64_t out, int accumulate, int exact) {
    const double u = ldexp(1.0, -24);
    float *x = malloc(sizeof(float) * n * in), *w = malloc(sizeof(float) * out * in);
    float *b = malloc(sizeof(float) * out), *z = malloc(sizeof(float) * n * out);
    float *y = malloc(sizeof(float) * n * out), *dz = malloc(sizeof(float) * n * out);
    float *uu = malloc(sizeof(float) * n * in), *ub = malloc(sizeof(float) * in);
    float *dx = malloc(sizeof(float) * n * in), *du = malloc(sizeof(float) * n * in);
    float *dub = malloc(sizeof(float) * in), *dw = malloc(sizeof(float) * out * in);
    fill(uu, n * in, 6);
    fill(ub, in, 7);
    for (int64_t i = 0; i < n * in; i++) x[i] = tanhf(uu[i] + ub[i % in]);
    (exact ? fill_int : fill)(w, out * in, 8);
    fill(b, out, 9);
    (exact ? fill_int : fill)(dz, n * out, 10);
    for (int64_t j = 0; j < in; j++) dub[j] = 0.5f; /* what accumulate adds to */
    ol_set_threads(2);
    ol_linear_act_forward_f32(n, in, out, x, w, b, OL_ACT_TANH, 0, z, y);
    float *groups = malloc(sizeof(float) * ((n + OL_GROUP_ROWS - 1) / OL_GROUP_ROWS) * in);
    ol_act_grad_f32 g = {OL_ACT_TANH, 0, uu, ub, x, du, dub, accumulate, groups};
    ol_linear_backward_act_f32(n, in, out, x, w, dz, dx, dw, 0, &g);
    ol_set_threads(1);
    const shape s = {n, in, out};
    if (exact) {
        float *du1 = malloc(sizeof(float) * n * in), *dub1 = malloc(sizeof(float) * in);
        for (int64_t j = 0; j < in; j++) dub1[j] = 0.5f;
        ol_act_grad_f32 g1 = {OL_ACT_TANH, 0, uu, ub, x, du1, dub1, accumulate, groups};
        float *dx1 = malloc(sizeof(float) * n * in);
        ol_linear_backward_act_f32(n, in, out, x, w, dz, dx1, dw, 0, &g1);
        check_bits("exact dx", &s, dx1, dx, n * in);
        check_bits("dz of the activation", &s, du1, du, n * in);
        check_bits("db of the activation", &s, dub1, dub, in);
        free(du1), free(dub1), free(dx1);
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) {
            double mag, acc = ref_dot(x + r * in, 1, w + o * in, 1, in, &mag);
            const double tz = gamma_f32(in) * mag, want = tanh(acc + b[o]);
            check_bound("z", &s, r * out + o, z[r * out + o], acc, tz);
            /* tanh is 1-Lipschitz: z's error, the rounding of z + b, and
             * tanhf's own error (at most 2 ulp in glibc, 2 ulp <= 4 u |y|) */
            check_bound("y", &s, r * out + o, y[r * out + o], want,
                        tz + u * (fabs(acc) + fabs(b[o]) + tz) + 4 * u * fabs(want));
        }
    for (int64_t i = 0; i < in; i++) {
        double col = accumulate ? 0.5 : 0, col_mag = fabs(col), col_tol = 0;
        for (int64_t r = 0; r < n; r++) {
            double mag, acc = ref_dot(dz + r * out, 1, w + i, in, out, &mag);
            const double xv = x[r * in + i], f = 1 - xv * xv, want = acc * f;
            const double tdx = gamma_f32(out) * mag;
            check_bound("dx", &s, r * in + i, dx[r * in + i], acc, tdx);
            /* du = fl(dx fl(1 - fl(x x))): fl(1 - x x) is within
             * 2u (x^2 + |f|) of f, then one rounding of the product */
            const double ef = 2 * u * (xv * xv + fabs(f)), big_f = fabs(f) + ef;
            const double tdu = tdx * big_f + fabs(acc) * ef + u * (fabs(acc) + tdx) * big_f;
            check_bound("dz of the activation", &s, r * in + i, du[r * in + i], want, tdu);
            col += want, col_mag += fabs(want) + tdu, col_tol += tdu;
        }
        /* n + 1 rounded additions of the rounded dz */
        check_bound("db of the activation", &s, i, dub[i], col,
                    col_tol + gamma_f32(n + 1) * col_mag);
    }
    free(x), free(w), free(b), free(z), free(y), free(dz), free(uu), free(ub), free(dx);
    free(du), free(dub), free(dw), free(groups);
}

static void test_fused_activation(void **state) {
    (void)state;
    for (int exact = 0; exact < 2; exact++) {
        check_fused(128, 256, 128, 0, exact); /* the MLP's second layer, batch 128 */
        check_fused(128, 256, 128, 1, exact);
        check_fused(600, 96, 48, 0, exact); /* tall: the forward is cut along rows */
        check_fused(1, 784, 256, 0, exact); /* batch 1: gemv */
        /* cut along the rows with a short last group (1000 = 62 x 16 + 8) */
        check_fused(1000, 256, 128, 0, exact);
        check_fused(1000, 256, 128, 1, exact);
        check_fused(1024, 128, 10, 1, exact); /* the last layer's dx at batch 1024 */
    }
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
        const double got = ol_loss_cut_f32(OL_LOSS_PLAIN(k), n, c, y, id, tt, dy, groups);
        ol_set_threads(1);
        const double serial = ol_loss_f32(OL_LOSS_PLAIN(k), n, c, y, id, tt, dy1);
        assert_memory_equal(&got, &serial, sizeof got);
        const shape sl = {n, c, c};
        check_bits("dy", &sl, dy1, dy, n * c);
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

/* A product made inside a pool part runs on the caller alone, uncut: the
 * same call, so the same bits, as the uncut product on one thread. */
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
    ol_set_threads(1);
    ol_linear_forward_f32(s.n, s.in, s.out, x, w, z1);
    ol_set_threads(2);
    nested j = {&s, x, w, z2};
    ol_parallel_for(2 * 64, 64, 64, nested_part, &j);
    /* the user's setting survives, OpenBLAS's included */
    assert_int_equal(ol_get_threads(), 2);
    assert_int_equal(openblas_get_num_threads(), 2);
    ol_set_threads(1);
    check_bits("z made inside a part", &s, z1, z2, s.n * s.out);
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
    /* Which kernels OpenBLAS runs decides the order of its sums. */
    printf("BLAS: %s (core %s)\n", ol_blas_config(), ol_blas_core());
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ol_parallel_shutdown();
    return rc;
}
