/* Loader invariants (every sample exactly once per epoch, batch sizes,
 * drop_last, determinism under a seed, balance of balanced batches), and
 * the dataset operations it relies on: split, subset, standardisation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/loader.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/threads.h"

/* n samples, 2 features: (i, -i) so a batch row tells its sample; labels
 * from lab (or none). */
static ol_dataset *make(int64_t n, const int32_t *lab, int32_t classes) {
    double *x = malloc((size_t)n * 2 * sizeof *x);
    int32_t *y = lab ? malloc((size_t)n * sizeof *y) : NULL;
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = (double)i;
        x[2 * i + 1] = -(double)i;
        if (y) y[i] = lab[i];
    }
    ol_error err = {{0}};
    ol_dataset *ds = ol_dataset_new(OL_DS_F64, n, 2, x, 1, y, classes, &err);
    assert_non_null(ds);
    return ds;
}

/* Runs one epoch; returns the samples in order (out, n entries) and checks
 * each batch's size and that its features and class id agree with the
 * sample. */
static int64_t epoch(ol_loader *l, int64_t *out, int64_t *sizes) {
    int64_t B = l->opts.batch_size, total = 0, nb = 0;
    ol_batch b;
    ol_error err = {{0}};
    assert_int_equal(ol_loader_batch_init(l, &b, OL_F64, &err), 0);
    while (ol_loader_next_batch(l, &b) > 0) {
        const int64_t n = b.n;
        const double *x = b.x;
        assert_true(n >= 1 && n <= B);
        assert_int_equal(b.global, n);
        for (int64_t k = 0; k < n; k++) {
            int64_t i = (int64_t)x[2 * k];
            assert_true(x[2 * k + 1] == -(double)i);
            assert_int_equal(b.ids[k], ol_dataset_label(l->ds, i) - 1); /* -1: unlabelled */
            out[total++] = i;
        }
        if (sizes) sizes[nb] = n;
        nb++;
    }
    assert_int_equal(b.n, 0);
    assert_int_equal(b.global, 0);
    assert_int_equal(nb, ol_loader_num_batches(l));
    ol_batch_free(&b);
    return total;
}

static void check_permutation(const int64_t *order, int64_t n) {
    char *seen = calloc((size_t)n, 1);
    for (int64_t k = 0; k < n; k++) {
        assert_true(order[k] >= 0 && order[k] < n);
        assert_int_equal(seen[order[k]], 0);
        seen[order[k]] = 1;
    }
    free(seen);
}

static void test_each_sample_once(void **state) {
    (void)state;
    ol_dataset *ds = make(10, NULL, 0);
    int64_t order[10], sizes[16];
    const int64_t bs[] = {1, 3, 4, 10, 11};
    for (size_t t = 0; t < sizeof bs / sizeof *bs; t++) {
        for (int shuffle = 0; shuffle <= 1; shuffle++) {
            ol_loader l;
            ol_error err = {{0}};
            assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = bs[t], .shuffle = shuffle}, &err), 0);
            for (int e = 0; e < 3; e++) {
                assert_int_equal(epoch(&l, order, sizes), 10);
                check_permutation(order, 10);
                int64_t B = bs[t], nb = (10 + B - 1) / B;
                for (int64_t b = 0; b < nb; b++)
                    assert_int_equal(sizes[b], b < nb - 1 || 10 % B == 0 ? (B < 10 ? B : 10) : 10 % B);
                if (!shuffle)
                    for (int64_t k = 0; k < 10; k++) assert_int_equal(order[k], k);
            }
            assert_int_equal(l.epoch, 3);
            ol_loader_free(&l);
        }
    }
    ol_dataset_free(ds);
}

static void test_drop_last(void **state) {
    (void)state;
    ol_dataset *ds = make(10, NULL, 0);
    ol_loader l;
    ol_error err = {{0}};
    int64_t order[10], sizes[8];
    assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 3, .shuffle = 1, .drop_last = 1}, &err), 0);
    assert_int_equal(ol_loader_num_batches(&l), 3);
    assert_int_equal(epoch(&l, order, sizes), 9);
    for (int b = 0; b < 3; b++) assert_int_equal(sizes[b], 3);
    /* the 9 served are distinct */
    for (int a = 0; a < 9; a++)
        for (int b = a + 1; b < 9; b++) assert_true(order[a] != order[b]);
    ol_loader_free(&l);
    /* batch larger than the data with drop_last: nothing */
    assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 11, .drop_last = 1}, &err), 0);
    assert_int_equal(ol_loader_num_batches(&l), 0);
    assert_int_equal(epoch(&l, order, NULL), 0);
    ol_loader_free(&l);
    ol_dataset_free(ds);
}

static void test_seeded(void **state) {
    (void)state;
    ol_dataset *ds = make(50, NULL, 0);
    int64_t a[50], b[50], c[50];
    ol_loader l;
    ol_error err = {{0}};
    ol_loader_opts o = {.batch_size = 7, .shuffle = 1};
    ol_rng_seed(42);
    ol_loader_init(&l, ds, &o, &err);
    epoch(&l, a, NULL);
    epoch(&l, c, NULL);
    ol_loader_free(&l);
    assert_true(memcmp(a, c, sizeof a) != 0); /* a new order each epoch */
    ol_rng_seed(42);
    ol_loader_init(&l, ds, &o, &err);
    epoch(&l, b, NULL);
    ol_loader_free(&l);
    assert_memory_equal(a, b, sizeof a);
    ol_rng_seed(43);
    ol_loader_init(&l, ds, &o, &err);
    epoch(&l, b, NULL);
    ol_loader_free(&l);
    assert_true(memcmp(a, b, sizeof a) != 0);
    ol_dataset_free(ds);
}

/* Every batch: the classes that still have samples after the batch appear
 * in it floor(B/C') or ceil(B/C') times, C' = their count (loader.h). */
static void check_balanced(int32_t *lab, int64_t n, int32_t C, int64_t B, int shuffle) {
    ol_dataset *ds = make(n, lab, C);
    ol_loader l;
    ol_error err = {{0}};
    assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = B, .shuffle = shuffle, .balanced = 1}, &err), 0);
    int64_t *order = malloc((size_t)n * sizeof *order);
    for (int e = 0; e < 2; e++) {
        assert_int_equal(epoch(&l, order, NULL), n);
        check_permutation(order, n);
        int64_t left[64] = {0};
        for (int64_t i = 0; i < n; i++) left[lab[i]]++;
        for (int64_t s = 0; s < n; s += B) {
            int64_t m = n - s < B ? n - s : B, cnt[64] = {0};
            for (int64_t k = 0; k < m; k++) cnt[lab[order[s + k]]]++;
            for (int c = 1; c <= C; c++) left[c] -= cnt[c];
            int64_t lo = INT64_MAX, hi = -1;
            for (int c = 1; c <= C; c++) {
                if (left[c] == 0) continue;
                lo = cnt[c] < lo ? cnt[c] : lo;
                hi = cnt[c] > hi ? cnt[c] : hi;
            }
            if (hi >= 0) assert_true(hi - lo <= 1);
        }
    }
    free(order);
    ol_loader_free(&l);
    ol_dataset_free(ds);
}

static void test_balanced(void **state) {
    (void)state;
    int32_t lab[200];
    /* equal classes, sorted by class: every batch of 6 holds 2 of each */
    for (int i = 0; i < 90; i++) lab[i] = 1 + i / 30;
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        ol_dataset *ds = make(90, lab, 3);
        ol_loader l;
        ol_error err = {{0}};
        ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 6, .shuffle = shuffle, .balanced = 1}, &err);
        int64_t order[90];
        epoch(&l, order, NULL);
        for (int s = 0; s < 90; s += 6) {
            int cnt[4] = {0};
            for (int k = 0; k < 6; k++) cnt[lab[order[s + k]]]++;
            assert_true(cnt[1] == 2 && cnt[2] == 2 && cnt[3] == 2);
        }
        ol_loader_free(&l);
        ol_dataset_free(ds);
        check_balanced(lab, 90, 3, 4, shuffle);
    }
    /* unequal classes 1:100, 2:60, 3:25, 4:15, scattered */
    for (int i = 0; i < 200; i++) lab[i] = i % 2 == 0 ? 1 : i % 5 == 1 ? 4 : i % 3 == 0 ? 3 : 2;
    int sizes[5] = {0};
    for (int i = 0; i < 200; i++) sizes[lab[i]]++;
    assert_true(sizes[1] != sizes[2] && sizes[3] != sizes[4]);
    const int64_t bs[] = {1, 5, 7, 16, 200};
    for (size_t t = 0; t < sizeof bs / sizeof *bs; t++) {
        check_balanced(lab, 200, 4, bs[t], 0);
        check_balanced(lab, 200, 4, bs[t], 1);
    }
    /* a class with no samples at all */
    for (int i = 0; i < 30; i++) lab[i] = i % 2 ? 1 : 3;
    check_balanced(lab, 30, 3, 4, 1);
}

static void test_bad_options(void **state) {
    (void)state;
    ol_dataset *ds = make(5, NULL, 0);
    ol_loader l;
    ol_error err = {{0}};
    assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 0}, &err), -1);
    assert_non_null(strstr(err.msg, "batch_size"));
    assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 2, .balanced = 1}, &err), -1);
    assert_non_null(strstr(err.msg, "labelled"));
    ol_dataset_free(ds);
    int32_t bad[2] = {1, 4};
    double *x = calloc(4, sizeof *x);
    int32_t *y = malloc(2 * sizeof *y);
    memcpy(y, bad, sizeof bad);
    assert_null(ol_dataset_new(OL_DS_F64, 2, 2, x, 1, y, 3, &err));
    assert_non_null(strstr(err.msg, "label 4 of sample 2"));
}

static void test_split_subset(void **state) {
    (void)state;
    int32_t lab[10] = {1, 2, 1, 2, 1, 2, 1, 2, 1, 2};
    ol_dataset *ds = make(10, lab, 2), *a, *b, *a2, *b2;
    ol_error err = {{0}};
    ol_rng_seed(7);
    assert_int_equal(ol_dataset_split(ds, 0.7, &a, &b, &err), 0);
    assert_int_equal(a->n, 7);
    assert_int_equal(b->n, 3);
    assert_int_equal(a->classes, 2);
    int64_t all[10];
    double x[2];
    for (int64_t i = 0; i < 10; i++) {
        ol_dataset *p = i < 7 ? a : b;
        int64_t k = i < 7 ? i : i - 7;
        int32_t id = -9;
        ol_dataset_gather(p, &k, 1, OL_F64, x, &id);
        all[i] = (int64_t)x[0];
        assert_int_equal(id, lab[all[i]] - 1);
    }
    check_permutation(all, 10);
    ol_rng_seed(7);
    assert_int_equal(ol_dataset_split(ds, 0.7, &a2, &b2, &err), 0);
    for (int64_t i = 0; i < 7; i++) assert_int_equal(ol_dataset_row(a, i), ol_dataset_row(a2, i));
    /* a subset of a subset maps to the original rows */
    int64_t pick[2] = {2, 0};
    ol_dataset *s = ol_dataset_subset(a, pick, 2, &err);
    assert_int_equal(ol_dataset_row(s, 0), ol_dataset_row(a, 2));
    assert_int_equal(ol_dataset_row(s, 1), ol_dataset_row(a, 0));
    ol_dataset_free(ds); /* the store lives on in the subsets */
    int64_t second = 1;
    ol_dataset_gather(s, &second, 1, OL_F64, x, NULL);
    assert_true(x[0] == (double)ol_dataset_row(a, 0));
    ol_dataset_free(a2);
    ol_dataset_free(b2);
    assert_int_equal(ol_dataset_split(a, 1.5, &a2, &b2, &err), -1);
    assert_null(a2);
    ol_dataset_free(s);
    ol_dataset_free(a);
    ol_dataset_free(b);
}

static void test_standardize(void **state) {
    (void)state;
    /* features (i, -i), i = 0..3: mean (1.5, -1.5), population std sqrt(1.25) */
    ol_dataset *tr = make(4, NULL, 0), *te = make(6, NULL, 0);
    ol_standardizer s;
    ol_error err = {{0}};
    assert_int_equal(ol_standardizer_fit(tr, &s, &err), 0);
    assert_true(fabs(s.mean[0] - 1.5) < 1e-15 && fabs(s.mean[1] + 1.5) < 1e-15);
    assert_true(fabs(s.std[0] - sqrt(1.25)) < 1e-15 && fabs(s.std[1] - sqrt(1.25)) < 1e-15);
    assert_int_equal(ol_dataset_standardize(te, &s, &err), 0);
    int64_t i = 5;
    double x[2];
    ol_dataset_gather(te, &i, 1, OL_F64, x, NULL);
    assert_true(fabs(x[0] - 3.5 / sqrt(1.25)) < 1e-14 && fabs(x[1] + 3.5 / sqrt(1.25)) < 1e-14);
    ol_standardizer_free(&s);

    /* bytes {0, 255} and a constant column of 7: scale 1/255 gives
     * (0, 1): mean 0.5, std 0.5 -> -1, 1; the constant column: std 1, centred */
    uint8_t *b = malloc(4);
    b[0] = 0; b[1] = 7; b[2] = 255; b[3] = 7;
    ol_dataset *im = ol_dataset_new(OL_DS_U8, 2, 2, b, 1.0 / 255, NULL, 0, &err);
    assert_int_equal(ol_standardizer_fit(im, &s, &err), 0);
    assert_true(fabs(s.std[1] - 1) < 1e-15);
    assert_int_equal(ol_dataset_standardize(im, &s, &err), 0);
    float xf[4];
    int64_t both[2] = {0, 1};
    ol_dataset_gather(im, both, 2, OL_F32, xf, NULL);
    assert_true(fabsf(xf[0] + 1) < 1e-6f && fabsf(xf[2] - 1) < 1e-6f);
    assert_true(fabsf(xf[1]) < 1e-6f && fabsf(xf[3]) < 1e-6f);
    ol_standardizer_free(&s);
    /* a fit on 3 features does not apply to 2 */
    ol_standardizer s3 = {.d = 3};
    assert_int_equal(ol_dataset_standardize(im, &s3, &err), -1);
    assert_non_null(strstr(err.msg, "3 features"));
    ol_dataset_free(im);
    ol_dataset_free(tr);
    ol_dataset_free(te);
}

/* A batch gathered on 2 threads (cut into blocks of rows, dataset.c): byte
 * images scaled into f32 (gathered with the next batch's prefetch) and f64,
 * with and without standardisation, in a shuffled order with a short last
 * block, each value against the formula byte * scale (- mean) / std
 * computed here, labels too. */
static void test_gather_threads(void **state) {
    (void)state;
    const int64_t n = 300, d = 37, rows = 131;
    uint8_t *x = malloc((size_t)(n * d));
    int32_t *y = malloc(sizeof(int32_t) * n);
    for (int64_t i = 0; i < n * d; i++) x[i] = (uint8_t)((i * 53 + 7) % 256);
    for (int64_t i = 0; i < n; i++) y[i] = (int32_t)(i % 4) + 1;
    ol_error err = {{0}};
    ol_dataset *ds = ol_dataset_new(OL_DS_U8, n, d, x, 1.0 / 255, y, 4, &err);
    assert_non_null(ds);
    int64_t idx[131];
    for (int64_t k = 0; k < rows; k++) idx[k] = (k * 97 + 11) % n;
    double *out = malloc(sizeof(double) * rows * d);
    int32_t ids[131];
    for (int standardized = 0; standardized < 2; standardized++) {
        double mean[37], sd[37];
        if (standardized) {
            for (int64_t j = 0; j < d; j++) mean[j] = 0.01 * (double)j, sd[j] = 0.5 + 0.02 * (double)j;
            ol_standardizer st = {.d = d, .mean = mean, .std = sd};
            assert_int_equal(ol_dataset_standardize(ds, &st, &err), 0);
        }
        for (int dt = 0; dt < 2; dt++) {
            for (int64_t k = 0; k < rows; k++) ids[k] = -9; /* each gather writes them anew */
            ol_set_threads(2);
            if (dt) {
                ol_dataset_gather(ds, idx, rows, OL_F64, out, ids);
            } else {
                /* with the next batch's prefetch (a hint) in the parts: its
                 * own array, so that ASan sees a read past its end */
                const int64_t n_next = 57;
                int64_t *next = malloc(sizeof *next * (size_t)n_next);
                for (int64_t k = 0; k < n_next; k++) next[k] = (k * 31 + 5) % n;
                ol_dataset_gather_ahead(ds, idx, rows, OL_F32, out, ids, next, n_next);
                free(next);
            }
            ol_set_threads(1);
            for (int64_t k = 0; k < rows; k++) {
                const int32_t want_id = (int32_t)(idx[k] % 4); /* label - 1 */
                if (ids[k] != want_id)
                    fail_msg("class id of row %lld: %d, want %d", (long long)k, (int)ids[k], (int)want_id);
                for (int64_t j = 0; j < d; j++) {
                    double v = (double)x[idx[k] * d + j] / 255;
                    if (standardized) v = (v - mean[j]) / sd[j];
                    double got = dt ? out[k * d + j] : (double)((float *)out)[k * d + j];
                    if (!(fabs(got - v) <= (dt ? 1e-12 : 1e-5) * (1 + fabs(v))))
                        fail_msg("row %lld col %lld (%s%s): %.9g, want %.9g", (long long)k,
                                 (long long)j, dt ? "f64" : "f32", standardized ? ", standardized" : "",
                                 got, v);
                }
            }
        }
    }
    free(out);
    ol_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_sample_once),
        cmocka_unit_test(test_drop_last),
        cmocka_unit_test(test_seeded),
        cmocka_unit_test(test_balanced),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_split_subset),
        cmocka_unit_test(test_standardize),
        cmocka_unit_test(test_gather_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
