/* Sharded loaders (data-parallel training, loader.h "Shards"): the slices
 * of N shards partition each global batch of N * batch_size samples of one
 * shared order, in the sizes worked out by hand below, drop_last drops the
 * incomplete global batch, and a shard of 1 reads exactly as an unsharded
 * loader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/loader.h"
#include "core/rng.h"

static ol_dataset *make(int64_t n) {
    double *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = (double)i;
    ol_error err = {{0}};
    ol_dataset *ds = ol_dataset_new(OL_DS_F64, n, 1, x, 1, NULL, 0, &err);
    assert_non_null(ds);
    return ds;
}

/* 10 samples, batch 2 per shard, 3 shards: global batches of 6 and 4.
 * q = ceil(m / 3): 2 and 2, so slices [0,2) [2,4) [4,6), then [6,8)
 * [8,10) and an empty one. */
static void test_slices_by_hand(void **state) {
    (void)state;
    ol_dataset *ds = make(10);
    const int64_t want_n[3][2] = {{2, 2}, {2, 2}, {2, 0}};
    const int64_t want_first[3][2] = {{0, 6}, {2, 8}, {4, -1}};
    for (int64_t r = 0; r < 3; r++) {
        ol_loader l;
        ol_error err;
        assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 2}, &err), 0);
        assert_int_equal(ol_loader_set_shard(&l, r, 3, &err), 0);
        assert_int_equal(ol_loader_num_batches(&l), 2);
        ol_loader_start_epoch(&l);
        const int64_t *idx;
        int64_t global;
        for (int k = 0; k < 2; k++) {
            int64_t n = ol_loader_next_shard(&l, &idx, &global);
            assert_int_equal(global, k == 0 ? 6 : 4);
            assert_int_equal(n, want_n[r][k]);
            if (n > 0) assert_int_equal(idx[0], want_first[r][k]);
        }
        assert_int_equal(ol_loader_next_shard(&l, &idx, &global), 0);
        assert_int_equal(global, 0);
        ol_loader_free(&l);
    }
    ol_dataset_free(ds);
}

/* 11 samples, batch 3, 2 shards: global batches 6 and 5 (q = 3: slices of
 * 3 and 2); with drop_last only the first (11 - 11 mod 6 = 6 samples). */
static void test_uneven_and_drop_last(void **state) {
    (void)state;
    ol_dataset *ds = make(11);
    for (int drop = 0; drop <= 1; drop++) {
        int64_t total = 0;
        for (int64_t r = 0; r < 2; r++) {
            ol_loader l;
            ol_error err;
            assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 3, .drop_last = drop}, &err), 0);
            assert_int_equal(ol_loader_set_shard(&l, r, 2, &err), 0);
            assert_int_equal(ol_loader_num_batches(&l), drop ? 1 : 2);
            ol_loader_start_epoch(&l);
            const int64_t *idx;
            int64_t global, n, k = 0;
            while ((n = ol_loader_next_shard(&l, &idx, &global), global > 0)) {
                assert_int_equal(n, k == 0 ? 3 : r == 0 ? 3 : 2);
                total += n;
                k++;
            }
            ol_loader_free(&l);
        }
        assert_int_equal(total, drop ? 6 : 11);
    }
    ol_dataset_free(ds);
}

/* Shuffled: N shards seeded alike read disjoint slices whose union, batch
 * by batch, is the batch one unsharded loader with N * B reads. */
static void test_shuffled_partition(void **state) {
    (void)state;
    enum { N = 3, B = 4, NS = 50 };
    ol_dataset *ds = make(NS);
    int64_t whole[NS], parts[NS];
    ol_error err;
    ol_loader l;
    ol_rng_seed(9);
    assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = N * B, .shuffle = 1}, &err), 0);
    ol_loader_start_epoch(&l);
    const int64_t *idx;
    int64_t n, pos = 0;
    while ((n = ol_loader_next_indices(&l, &idx)) > 0) {
        memcpy(whole + pos, idx, (size_t)n * sizeof *idx);
        pos += n;
    }
    assert_int_equal(pos, NS);
    ol_loader_free(&l);

    int64_t starts[N][8], sizes[N][8], nb = 0;
    for (int64_t r = 0; r < N; r++) {
        ol_rng_seed(9);
        assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = B, .shuffle = 1}, &err), 0);
        assert_int_equal(ol_loader_set_shard(&l, r, N, &err), 0);
        ol_loader_start_epoch(&l);
        int64_t global, k = 0, gpos = 0;
        while ((n = ol_loader_next_shard(&l, &idx, &global), global > 0)) {
            int64_t off = idx ? (int64_t)(idx - l.order) : 0;
            starts[r][k] = off;
            sizes[r][k] = n;
            if (n > 0) memcpy(parts + off, idx, (size_t)n * sizeof *idx);
            assert_true(off >= gpos && off + n <= gpos + global);
            gpos += global;
            k++;
        }
        nb = k;
        ol_loader_free(&l);
    }
    assert_int_equal(nb, 5); /* ceil(50 / 12) */
    for (int64_t k = 0; k < nb; k++) /* the slices tile the global batch in rank order */
        for (int64_t r = 1; r < N; r++) assert_int_equal(starts[r][k], starts[r - 1][k] + sizes[r - 1][k]);
    assert_memory_equal(parts, whole, sizeof whole);
    ol_dataset_free(ds);
}

static void test_bad_shard(void **state) {
    (void)state;
    ol_dataset *ds = make(4);
    ol_loader l;
    ol_error err;
    assert_int_equal(ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 2}, &err), 0);
    assert_int_equal(ol_loader_set_shard(&l, 2, 2, &err), -1);
    assert_non_null(strstr(err.msg, "shard 2 of 2"));
    assert_int_equal(ol_loader_set_shard(&l, 0, 0, &err), -1);
    ol_loader_free(&l);
    ol_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slices_by_hand),
        cmocka_unit_test(test_uneven_and_drop_last),
        cmocka_unit_test(test_shuffled_partition),
        cmocka_unit_test(test_bad_shard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
