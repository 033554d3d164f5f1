/* Batches (data/batch.h): a gather fills features, class ids and the
 * target in each of its forms, values checked against the formulas of
 * nn.h's target rule worked out here from the labels; and the loader's
 * ol_loader_next_batch hands out the slices ol_loader_next_shard does,
 * sharded or not, over epochs started explicitly and lazily. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/loader.h"
#include "core/rng.h"

/* n samples of 3 features (i, 10 i, -i) with labels lab[i] (NULL: none). */
static ol_dataset *make(int64_t n, const int32_t *lab, int32_t classes) {
    double *x = malloc((size_t)n * 3 * sizeof *x);
    int32_t *y = lab ? malloc((size_t)n * sizeof *y) : NULL;
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) {
        x[3 * i] = (double)i;
        x[3 * i + 1] = 10.0 * (double)i;
        x[3 * i + 2] = -(double)i;
        if (y) y[i] = lab[i];
    }
    ol_error err = {{0}};
    ol_dataset *ds = ol_dataset_new(OL_DS_F64, n, 3, x, 1, y, classes, &err);
    assert_non_null(ds);
    return ds;
}

static double at(const ol_batch *b, const void *p, int64_t k) {
    return b->dtype == OL_F32 ? (double)((const float *)p)[k] : ((const double *)p)[k];
}

/* Poisons everything a gather must write for rows [0, rows). */
static void poison(ol_batch *b) {
    memset(b->x, 0xff, (size_t)(b->rows * b->d) * ol_dtype_size(b->dtype));
    for (int64_t i = 0; i < b->rows; i++) b->ids[i] = -9;
    if (b->dense) memset(b->dense, 0xff, (size_t)(b->rows * b->width) * ol_dtype_size(b->dtype));
}

/* Rows idx[0..n-1] of a dataset made by make() with labels lab: features,
 * ids, and the target of b's form. */
static void check_rows(const ol_batch *b, const int64_t *idx, int64_t n, const int32_t *lab) {
    assert_int_equal(b->n, n);
    for (int64_t k = 0; k < n; k++) {
        const int64_t i = idx[k];
        const int32_t id = lab ? lab[i] - 1 : -1;
        for (int j = 0; j < 3; j++) {
            const double want = j == 0 ? (double)i : j == 1 ? 10.0 * (double)i : -(double)i;
            if (at(b, b->x, k * 3 + j) != want)
                fail_msg("row %lld feature %d: %g, want %g", (long long)k, j, at(b, b->x, k * 3 + j), want);
        }
        assert_int_equal(b->ids[k], id);
        for (int64_t j = 0; j < b->width; j++) {
            const double want = b->form == OL_TARGET_BINARY ? (double)id : (double)(j == id);
            if (at(b, b->dense, k * b->width + j) != want)
                fail_msg("row %lld target %lld: %g, want %g", (long long)k, (long long)j,
                         at(b, b->dense, k * b->width + j), want);
        }
    }
}

static void test_gather_forms(void **state) {
    (void)state;
    const int32_t lab3[8] = {3, 1, 2, 2, 1, 3, 3, 1}, lab2[8] = {2, 1, 1, 2, 2, 1, 2, 1};
    ol_dataset *three = make(8, lab3, 3), *two = make(8, lab2, 2), *none = make(8, NULL, 0);
    const int64_t idx[5] = {5, 0, 7, 2, 3};
    ol_error err = {{0}};
    for (int k = 0; k < 2; k++) {
        const ol_dtype dt = k ? OL_F64 : OL_F32;
        ol_batch b;
        /* the ids: the target the loss reads is the ids themselves */
        assert_int_equal(ol_batch_init(&b, three, 5, dt, &err), 0);
        assert_int_equal(b.rows, 5);
        assert_int_equal(b.d, 3);
        assert_int_equal(b.classes, 3);
        assert_int_equal(b.form, OL_TARGET_IDS);
        poison(&b);
        ol_batch_gather(&b, three, idx, 5, NULL, 0);
        assert_int_equal(b.global, 5);
        check_rows(&b, idx, 5, lab3);
        assert_ptr_equal(b.target.ids, b.ids);
        assert_null(b.target.dense);
        /* one-hot rows of 3 */
        assert_int_equal(ol_batch_set_target(&b, OL_TARGET_ONEHOT, 3, &err), 0);
        poison(&b);
        ol_batch_gather(&b, three, idx + 1, 4, NULL, 0);
        check_rows(&b, idx + 1, 4, lab3);
        assert_null(b.target.ids);
        assert_ptr_equal(b.target.dense, b.dense);
        /* forms that do not come from labels, or widths that do not fit
         * them, are refused; the target is the ids again */
        assert_int_equal(ol_batch_set_target(&b, OL_TARGET_DENSE, 3, &err), -1);
        assert_int_equal(ol_batch_set_target(&b, OL_TARGET_BINARY, 2, &err), -1);
        assert_int_equal(ol_batch_set_target(&b, OL_TARGET_ONEHOT, 0, &err), -1);
        assert_int_equal(b.form, OL_TARGET_IDS);
        assert_ptr_equal(b.target.ids, b.ids);
        assert_null(b.dense);
        ol_batch_free(&b);

        /* one value per row, the id, for two classes */
        assert_int_equal(ol_batch_init(&b, two, 5, dt, &err), 0);
        assert_int_equal(ol_batch_set_target(&b, OL_TARGET_BINARY, 1, &err), 0);
        poison(&b);
        ol_batch_gather(&b, two, idx, 5, idx, 2); /* with a prefetch hint */
        check_rows(&b, idx, 5, lab2);
        ol_batch_free(&b);

        /* no labels: ids -1 */
        assert_int_equal(ol_batch_init(&b, none, 3, dt, &err), 0);
        assert_int_equal(b.classes, 0);
        poison(&b);
        ol_batch_gather(&b, none, idx, 3, NULL, 0);
        check_rows(&b, idx, 3, NULL);
        /* an empty gather: no rows, nothing written */
        poison(&b);
        ol_batch_gather(&b, none, NULL, 0, NULL, 0);
        assert_int_equal(b.n, 0);
        assert_int_equal(b.global, 0);
        assert_int_equal(b.ids[0], -9);
        ol_batch_free(&b);
    }
    ol_batch b = {0};
    ol_batch_free(&b); /* a zeroed batch */
    ol_dataset_free(three);
    ol_dataset_free(two);
    ol_dataset_free(none);
}

/* ol_loader_next_batch against a twin loader read with
 * ol_loader_next_shard: the same slices and global sizes, their rows and
 * ids, 0 with n = global = 0 at each epoch's end; two epochs started with
 * ol_loader_start_epoch, then two started by the next call; 1 to 3 shards,
 * shuffled, with a short last batch. */
static void test_next_batch(void **state) {
    (void)state;
    int32_t lab[10];
    for (int i = 0; i < 10; i++) lab[i] = 1 + (i * 7) % 3;
    ol_dataset *ds = make(10, lab, 3);
    ol_error err = {{0}};
    for (int shards = 1; shards <= 3; shards++) {
        for (int r = 0; r < shards; r++) {
            ol_loader l, twin;
            ol_batch b;
            const ol_loader_opts o = {.batch_size = 3, .shuffle = 1};
            assert_int_equal(ol_loader_init(&l, ds, &o, &err), 0);
            assert_int_equal(ol_loader_init(&twin, ds, &o, &err), 0);
            assert_int_equal(ol_loader_set_shard(&l, r, shards, &err), 0);
            assert_int_equal(ol_loader_set_shard(&twin, r, shards, &err), 0);
            assert_int_equal(ol_loader_batch_init(&l, &b, OL_F32, &err), 0);
            assert_int_equal(b.rows, 3);
            for (int epoch = 0; epoch < 4; epoch++) {
                /* the twin's epoch, from a seed */
                const uint64_t seed = 100 + (uint64_t)epoch;
                const int64_t *idx[8];
                int64_t n[8], global[8], nb = 0;
                ol_rng_seed(seed);
                if (epoch < 2) ol_loader_start_epoch(&twin);
                do {
                    assert_true(nb < 8);
                    n[nb] = ol_loader_next_shard(&twin, &idx[nb], &global[nb]);
                } while (global[nb++] > 0);
                assert_int_equal(nb - 1, ol_loader_num_batches(&l));
                /* the same epoch batch by batch */
                ol_rng_seed(seed);
                if (epoch < 2) ol_loader_start_epoch(&l);
                for (int64_t k = 0; k < nb; k++) {
                    poison(&b);
                    assert_int_equal(ol_loader_next_batch(&l, &b), global[k] > 0);
                    assert_int_equal(b.global, global[k]);
                    check_rows(&b, idx[k], n[k], lab);
                }
            }
            ol_batch_free(&b);
            ol_loader_free(&l);
            ol_loader_free(&twin);
        }
    }
    /* a batch larger than the dataset holds all of it */
    ol_loader l;
    ol_batch b;
    assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 25}, &err), 0);
    assert_int_equal(ol_loader_batch_init(&l, &b, OL_F64, &err), 0);
    assert_int_equal(b.rows, 10);
    assert_int_equal(ol_loader_next_batch(&l, &b), 1);
    const int64_t all[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    check_rows(&b, all, 10, lab);
    assert_int_equal(ol_loader_next_batch(&l, &b), 0);
    ol_batch_free(&b);
    ol_loader_free(&l);
    ol_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_forms),
        cmocka_unit_test(test_next_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
