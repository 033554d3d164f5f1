/* Synthetic classification sets, drawn from the global RNG (core/rng.h) so a
 * seed fixes them. Samples come class by class; class k (1-based) holds
 * n / C samples, the first n mod C classes one more.
 *
 *  - spirals (the CS231n "spiral data" of Karpathy's neural-network case
 *    study, cs231n.github.io/neural-networks-case-study): for class k with
 *    m samples, sample i has radius r = i / (m - 1) and angle
 *    t = 4 (k - 1) + 4 r + noise * N(0, 1); the point is (r sin t, r cos t).
 *    Default noise 0.2. dim must be 2.
 *  - xor: u, v uniform in [0, 1) and a random sign s; class 1 is (s u, s v)
 *    (first and third quadrants), class 2 is (s u, -s v); then each
 *    coordinate gets noise * N(0, 1) (default noise 0, so the classes are
 *    separated by the axes). classes must be 2, dim 2.
 *  - blobs (as scikit-learn's make_blobs): C centres uniform in
 *    [-10, 10]^dim, drawn first; each sample is its class's centre plus
 *    noise * N(0, 1) per coordinate. Default noise 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/readers.h"
#include "core/rng.h"

int ol_synth_kind_parse(const char *name, ol_synth_kind *kind) {
    if (strcmp(name, "spirals") == 0) *kind = OL_SYNTH_SPIRALS;
    else if (strcmp(name, "xor") == 0) *kind = OL_SYNTH_XOR;
    else if (strcmp(name, "blobs") == 0) *kind = OL_SYNTH_BLOBS;
    else return -1;
    return 0;
}

ol_dataset *ol_synthetic(const ol_synth_opts *o, ol_error *err) {
    int64_t n = o->n, C = o->classes, D = o->dim;
    if (n < 1) return ol_fail(err, "n must be >= 1, got %lld", (long long)n), NULL;
    if (C < 1) return ol_fail(err, "classes must be >= 1, got %lld", (long long)C), NULL;
    if (D < 1) return ol_fail(err, "dim must be >= 1, got %lld", (long long)D), NULL;
    if (o->kind != OL_SYNTH_BLOBS && D != 2)
        return ol_fail(err, "dim must be 2 for %s, got %lld",
                       o->kind == OL_SYNTH_XOR ? "xor" : "spirals", (long long)D), NULL;
    if (o->kind == OL_SYNTH_XOR && C != 2)
        return ol_fail(err, "xor has 2 classes, got classes = %lld", (long long)C), NULL;
    if (n > INT64_MAX / 8 / D) return ol_fail(err, "n x dim too large"), NULL;
    double noise = o->noise;
    if (noise < 0) noise = o->kind == OL_SYNTH_SPIRALS ? 0.2 : o->kind == OL_SYNTH_XOR ? 0.0 : 1.0;

    double *x = malloc((size_t)(n * D) * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    double *centres = o->kind == OL_SYNTH_BLOBS ? malloc((size_t)(C * D) * sizeof *centres) : NULL;
    if (!x || !y || (o->kind == OL_SYNTH_BLOBS && !centres)) {
        free(x);
        free(y);
        free(centres);
        return ol_fail(err, "out of memory"), NULL;
    }
    if (centres)
        for (int64_t k = 0; k < C * D; k++) centres[k] = -10 + 20 * ol_rng_uniform();

    int64_t i = 0;
    for (int64_t k = 0; k < C; k++) {
        int64_t m = n / C + (k < n % C);
        for (int64_t j = 0; j < m; j++, i++) {
            double *p = x + i * D;
            y[i] = (int32_t)k + 1;
            switch (o->kind) {
            case OL_SYNTH_SPIRALS: {
                double r = m > 1 ? (double)j / (double)(m - 1) : 0;
                double t = 4.0 * (double)k + 4.0 * r + noise * ol_rng_normal();
                p[0] = r * sin(t);
                p[1] = r * cos(t);
                break;
            }
            case OL_SYNTH_XOR: {
                double u = ol_rng_uniform(), v = ol_rng_uniform();
                double s = ol_rng_below(2) ? 1.0 : -1.0;
                p[0] = s * u;
                p[1] = (k == 0 ? s : -s) * v;
                if (noise > 0) {
                    p[0] += noise * ol_rng_normal();
                    p[1] += noise * ol_rng_normal();
                }
                break;
            }
            case OL_SYNTH_BLOBS:
                for (int64_t c = 0; c < D; c++) p[c] = centres[k * D + c] + noise * ol_rng_normal();
                break;
            }
        }
    }
    free(centres);
    return ol_dataset_new(OL_DS_F64, n, D, x, 1.0, y, (int32_t)C, err);
}
