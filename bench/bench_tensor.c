/* The physical limits that the tensor binding is measured against, printed
 * as `key value` lines for bench/tensor.sh:
 *   sgemm_gflops   cblas_sgemm 1024x1024x1024 called from C
 *   memcpy_gbs     memcpy of 64 MB (bytes read + written per second)
 *   axpy_gbs       a plain C loop a[i] += b[i] over 16M floats (read 2, write 1)
 * Each figure is the best of several repetitions. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *fill(size_t n) {
    float *p = aligned_alloc(64, n * sizeof(float));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) p[i] = (float)(i % 97) * 0.01f;
    return p;
}

static void axpy_loop(float *restrict a, const float *restrict b, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] += b[i];
}

int main(void) {
    const int m = 1024;
    float *a = fill((size_t)m * m), *b = fill((size_t)m * m), *c = fill((size_t)m * m);
    double best = 1e30;
    for (int r = 0; r < 10; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1.0f, a, m, b, m, 0.0f, c, m);
        double t = now() - t0;
        if (r > 0 && t < best) best = t; /* first call warms up threads */
    }
    printf("sgemm_gflops %.2f\n", 2.0 * m * m * m / best / 1e9);

    const size_t n = (size_t)16 << 20;
    float *x = fill(n), *y = fill(n);
    best = 1e30;
    for (int r = 0; r < 10; r++) {
        double t0 = now();
        memcpy(x, y, n * sizeof(float));
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf("memcpy_gbs %.2f\n", 2.0 * n * sizeof(float) / best / 1e9);

    best = 1e30;
    for (int r = 0; r < 10; r++) {
        double t0 = now();
        axpy_loop(x, y, n);
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf("axpy_gbs %.2f\n", 3.0 * n * sizeof(float) / best / 1e9);
    printf("checksum %g\n", (double)(c[12345] + x[12345]));
    free(a); free(b); free(c); free(x); free(y);
    return 0;
}
