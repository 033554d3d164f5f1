/* Synthetic sets: stated sizes and class counts, seeded, and the geometry
 * each recipe promises (synthetic.c): spiral radii, xor quadrants, blob
 * centres. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/readers.h"
#include "core/rng.h"

static ol_dataset *make(ol_synth_kind kind, int64_t n, int32_t C, int64_t dim, double noise) {
    ol_error err = {{0}};
    ol_dataset *ds = ol_synthetic(&(ol_synth_opts){kind, n, C, dim, noise}, &err);
    if (!ds) fail_msg("%s", err.msg);
    return ds;
}

static double *all_x(const ol_dataset *ds) {
    int64_t *idx = malloc((size_t)ds->n * sizeof *idx);
    double *x = malloc((size_t)(ds->n * ds->d) * sizeof *x);
    for (int64_t i = 0; i < ds->n; i++) idx[i] = i;
    ol_dataset_gather(ds, idx, ds->n, OL_F64, x, NULL);
    free(idx);
    return x;
}

static void test_sizes_and_classes(void **state) {
    (void)state;
    const ol_synth_kind kinds[] = {OL_SYNTH_SPIRALS, OL_SYNTH_XOR, OL_SYNTH_BLOBS};
    for (int k = 0; k < 3; k++) {
        int32_t C = kinds[k] == OL_SYNTH_XOR ? 2 : 3;
        ol_dataset *ds = make(kinds[k], 11, C, kinds[k] == OL_SYNTH_BLOBS ? 5 : 2, -1);
        assert_int_equal(ds->n, 11);
        assert_int_equal(ds->d, kinds[k] == OL_SYNTH_BLOBS ? 5 : 2);
        assert_int_equal(ds->classes, C);
        int cnt[4] = {0};
        for (int64_t i = 0; i < 11; i++) cnt[ol_dataset_label(ds, i)]++;
        if (C == 3) assert_true(cnt[1] == 4 && cnt[2] == 4 && cnt[3] == 3);
        else assert_true(cnt[1] == 6 && cnt[2] == 5);
        ol_dataset_free(ds);
    }
}

static void test_seeded(void **state) {
    (void)state;
    ol_rng_seed(5);
    ol_dataset *a = make(OL_SYNTH_BLOBS, 50, 4, 3, -1);
    ol_rng_seed(5);
    ol_dataset *b = make(OL_SYNTH_BLOBS, 50, 4, 3, -1);
    ol_dataset *c = make(OL_SYNTH_BLOBS, 50, 4, 3, -1); /* the stream has moved on */
    double *xa = all_x(a), *xb = all_x(b), *xc = all_x(c);
    assert_memory_equal(xa, xb, 150 * sizeof(double));
    assert_true(memcmp(xa, xc, 150 * sizeof(double)) != 0);
    free(xa);
    free(xb);
    free(xc);
    ol_dataset_free(a);
    ol_dataset_free(b);
    ol_dataset_free(c);
}

static void test_geometry(void **state) {
    (void)state;
    /* spirals: the noise moves the angle only, so |p| = j / (m - 1) */
    ol_dataset *s = make(OL_SYNTH_SPIRALS, 30, 3, 2, 0.5);
    double *x = all_x(s);
    for (int64_t i = 0; i < 30; i++) {
        double r = (double)(i % 10) / 9.0;
        assert_true(fabs(hypot(x[2 * i], x[2 * i + 1]) - r) < 1e-12);
    }
    free(x);
    ol_dataset_free(s);
    /* without noise the angle is 4(k-1) + 4r: the last point of class 1 is
     * at angle 4, that of class 2 at 8 */
    s = make(OL_SYNTH_SPIRALS, 30, 3, 2, 0);
    x = all_x(s);
    assert_true(fabs(x[2 * 9] - sin(4.0)) < 1e-12 && fabs(x[2 * 9 + 1] - cos(4.0)) < 1e-12);
    assert_true(fabs(x[2 * 19] - sin(8.0)) < 1e-12 && fabs(x[2 * 19 + 1] - cos(8.0)) < 1e-12);
    free(x);
    ol_dataset_free(s);

    /* xor without noise: class 1 in quadrants I/III, class 2 in II/IV */
    ol_dataset *xr = make(OL_SYNTH_XOR, 200, 2, 2, -1);
    x = all_x(xr);
    for (int64_t i = 0; i < 200; i++) {
        double p = x[2 * i] * x[2 * i + 1];
        assert_true(fabs(x[2 * i]) <= 1 && fabs(x[2 * i + 1]) <= 1);
        if (ol_dataset_label(xr, i) == 1) assert_true(p >= 0);
        else assert_true(p <= 0);
    }
    free(x);
    ol_dataset_free(xr);

    /* blobs without noise: one point per class, inside [-10, 10]^dim */
    ol_dataset *bl = make(OL_SYNTH_BLOBS, 20, 4, 3, 0);
    x = all_x(bl);
    for (int64_t i = 0; i < 20; i++) {
        int64_t first = (ol_dataset_label(bl, i) - 1) * 5;
        for (int c = 0; c < 3; c++) {
            assert_true(x[3 * i + c] == x[3 * first + c]);
            assert_true(fabs(x[3 * i + c]) <= 10);
        }
    }
    free(x);
    ol_dataset_free(bl);
}

static void test_bad_options(void **state) {
    (void)state;
    ol_error err = {{0}};
    assert_null(ol_synthetic(&(ol_synth_opts){OL_SYNTH_XOR, 10, 3, 2, -1}, &err));
    assert_non_null(strstr(err.msg, "xor has 2 classes"));
    assert_null(ol_synthetic(&(ol_synth_opts){OL_SYNTH_SPIRALS, 10, 3, 3, -1}, &err));
    assert_non_null(strstr(err.msg, "dim must be 2"));
    assert_null(ol_synthetic(&(ol_synth_opts){OL_SYNTH_BLOBS, 0, 3, 3, -1}, &err));
    assert_non_null(strstr(err.msg, "n must be"));
    ol_synth_kind k;
    assert_int_equal(ol_synth_kind_parse("moons", &k), -1);
    assert_int_equal(ol_synth_kind_parse("xor", &k), 0);
    assert_int_equal(k, OL_SYNTH_XOR);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_and_classes),
        cmocka_unit_test(test_seeded),
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
