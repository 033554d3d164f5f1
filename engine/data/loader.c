/* Mini-batch loader: per-epoch order (in order, Fisher-Yates shuffled, or
 * class-balanced by round-robin interleaving of per-class queues), sliced
 * into batches and shards, each batch gathered into a batch made once
 * (batch.h). The rules and the balance guarantee are stated in loader.h. */
#include "data/loader.h"

#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/rng.h"

int ol_loader_init(ol_loader *l, const ol_dataset *ds, const ol_loader_opts *opts, ol_error *err) {
    memset(l, 0, sizeof *l);
    if (opts->batch_size < 1)
        return ol_fail(err, "batch_size must be >= 1, got %lld", (long long)opts->batch_size);
    if (opts->balanced && ds->classes < 1)
        return ol_fail(err, "balanced batches need a labelled dataset");
    int64_t n = ds->n;
    l->ds = ds;
    l->opts = *opts;
    l->order = malloc((size_t)(n > 0 ? n : 1) * sizeof *l->order);
    if (opts->balanced) {
        l->work = malloc((size_t)(n > 0 ? n : 1) * sizeof *l->work);
        /* start, head and the class order: 3 arrays of classes + 1 */
        l->counts = calloc(3 * ((size_t)ds->classes + 1), sizeof *l->counts);
    }
    if (!l->order || (opts->balanced && (!l->work || !l->counts))) {
        ol_loader_free(l);
        return ol_fail(err, "out of memory");
    }
    l->pos = -1;
    return ol_loader_set_shard(l, 0, 1, err);
}

/* Samples read together per step: the global batch. */
static int64_t global_batch(const ol_loader *l) {
    return l->opts.batch_size * l->shard_size;
}

int ol_loader_set_shard(ol_loader *l, int64_t rank, int64_t size, ol_error *err) {
    if (size < 1 || rank < 0 || rank >= size)
        return ol_fail(err, "shard %lld of %lld does not exist", (long long)rank, (long long)size);
    l->shard_rank = rank;
    l->shard_size = size;
    int64_t n = l->ds->n, g = global_batch(l);
    l->len = l->opts.drop_last ? n - n % g : n;
    l->pos = -1;
    return 0;
}

void ol_loader_free(ol_loader *l) {
    free(l->order);
    free(l->work);
    free(l->counts);
    memset(l, 0, sizeof *l);
}

int64_t ol_loader_num_batches(const ol_loader *l) {
    int64_t b = global_batch(l);
    return (l->len + b - 1) / b;
}

/* Bucket the samples by class into work (stable, so the queues keep
 * dataset order), shuffle each queue if asked, then deal one sample per
 * class in a fixed class order until every queue is empty. */
static void balanced_order(ol_loader *l) {
    const ol_dataset *ds = l->ds;
    int64_t n = ds->n, C = ds->classes;
    /* bound[c]: end of class c's queue in work (= start of class c + 1's);
     * head[c]: its next sample; active: classes with samples left. */
    int64_t *bound = l->counts, *head = l->counts + (C + 1), *active = l->counts + 2 * (C + 1);
    memset(bound, 0, (size_t)(C + 1) * sizeof *bound);
    for (int64_t i = 0; i < n; i++) bound[ol_dataset_label(ds, i)]++;
    for (int64_t c = 1; c <= C; c++) bound[c] += bound[c - 1];
    for (int64_t c = 1; c <= C; c++) head[c] = bound[c - 1];
    for (int64_t i = 0; i < n; i++) l->work[head[ol_dataset_label(ds, i)]++] = i;
    for (int64_t c = 1; c <= C; c++) head[c] = bound[c - 1];
    if (l->opts.shuffle)
        for (int64_t c = 1; c <= C; c++) ol_shuffle_i64(l->work + head[c], bound[c] - head[c]);

    int64_t na = 0;
    for (int64_t c = 1; c <= C; c++)
        if (bound[c] > head[c]) active[na++] = c;
    if (l->opts.shuffle) ol_shuffle_i64(active, na);
    int64_t k = 0;
    while (na > 0) {
        int64_t keep = 0;
        for (int64_t a = 0; a < na; a++) {
            int64_t c = active[a];
            l->order[k++] = l->work[head[c]++];
            if (head[c] < bound[c]) active[keep++] = c; /* order preserved */
        }
        na = keep;
    }
}

void ol_loader_start_epoch(ol_loader *l) {
    int64_t n = l->ds->n;
    if (l->opts.balanced) {
        balanced_order(l);
    } else {
        for (int64_t i = 0; i < n; i++) l->order[i] = i;
        if (l->opts.shuffle) ol_shuffle_i64(l->order, n);
    }
    l->pos = 0;
    l->epoch++;
}

int ol_loader_sync_order(ol_loader *l, const ol_comm *world, int root, ol_error *err) {
    return ol_comm_broadcast(world, l->order, (size_t)l->ds->n * sizeof *l->order, root, err);
}

/* The global batch that starts at position pos of the epoch's order: its
 * size in *global (0 past the end) and this shard's slice of it, returned
 * with *idx pointing at it (NULL past the end). */
static int64_t slice_at(const ol_loader *l, int64_t pos, const int64_t **idx, int64_t *global) {
    int64_t left = l->len - pos, g = global_batch(l);
    if (left <= 0) {
        *idx = NULL;
        *global = 0;
        return 0;
    }
    int64_t m = left < g ? left : g;
    int64_t q = (m + l->shard_size - 1) / l->shard_size;
    int64_t lo = l->shard_rank * q, hi = lo + q;
    if (lo > m) lo = m;
    if (hi > m) hi = m;
    *idx = l->order + pos + lo;
    *global = m;
    return hi - lo;
}

int64_t ol_loader_next_shard(ol_loader *l, const int64_t **idx, int64_t *global) {
    if (l->pos < 0) ol_loader_start_epoch(l);
    int64_t n = slice_at(l, l->pos, idx, global);
    l->pos = *global > 0 ? l->pos + *global : -1;
    return n;
}

int64_t ol_loader_next_indices(ol_loader *l, const int64_t **idx) {
    int64_t global;
    return ol_loader_next_shard(l, idx, &global);
}

int ol_loader_batch_init(const ol_loader *l, ol_batch *b, ol_dtype dt, ol_error *err) {
    const int64_t n = l->ds->n, rows = l->opts.batch_size < n ? l->opts.batch_size : n;
    return ol_batch_init(b, l->ds, rows, dt, err);
}

int ol_loader_next_batch(ol_loader *l, ol_batch *b) {
    const int64_t *idx, *next;
    int64_t global, global_next;
    const int64_t n = ol_loader_next_shard(l, &idx, &global);
    if (global == 0) {
        b->n = b->global = 0;
        return 0;
    }
    /* The slice after, within this epoch: none after its last batch (the
     * next epoch's order is not drawn yet). */
    const int64_t n_next = slice_at(l, l->pos, &next, &global_next);
    ol_batch_gather(b, l->ds, idx, n, next, n_next);
    b->global = global;
    return 1;
}
