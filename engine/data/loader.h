/* Mini-batches over a dataset, for the C training loop and the Lua
 * binding alike. The loader decides which samples make each batch (the
 * epoch's order) and hands out either their indices or the batch itself
 * (batch.h: features, class ids and the loss's target), filled into
 * buffers made once, so that a loop pulls every batch of every epoch
 * without allocating and without calling Lua.
 *
 *   ol_loader l;
 *   ol_batch b;
 *   ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 128, .shuffle = 1}, &err);
 *   ol_loader_batch_init(&l, &b, OL_F32, &err);
 *   for (int epoch = 0; epoch < 10; epoch++)
 *       while (ol_loader_next_batch(&l, &b) > 0) { ... b.n rows ... }
 *   ol_batch_free(&b);
 *   ol_loader_free(&l);
 *
 * An epoch visits every sample exactly once (drop_last drops the last
 * n mod batch_size samples of the epoch's order, which differ from epoch
 * to epoch when shuffling). The order of each epoch:
 *
 *  - shuffle = 0, balanced = 0: samples in dataset order;
 *  - shuffle = 1: a Fisher-Yates permutation drawn from the global RNG
 *    (ol_rng_below) when the epoch starts, so a seed fixes every epoch;
 *  - balanced = 1 (needs labels): the samples of each class form a queue
 *    (shuffled when shuffle is set, else in dataset order) and the queues are
 *    interleaved round-robin: one sample of each class in turn, in a class
 *    order fixed for the epoch (a random permutation of the classes when
 *    shuffling, else 1..C), skipping the classes whose queue is empty.
 *    Because the sequence then repeats the same class pattern, every run of
 *    B consecutive samples, hence every batch, holds each class that still
 *    has samples left at the batch's end floor(B/C') or ceil(B/C') times
 *    (C' such classes): with equal class sizes every batch is balanced to
 *    within one sample; once the small classes run out, the remaining
 *    batches hold the larger ones, since each sample is still used exactly
 *    once per epoch (no oversampling).
 *
 * Shards (data-parallel training over a world, core/comm.h; set with
 * ol_loader_set_shard, unsharded after init): with N > 1 shards
 * the epoch's order is read in global batches of N * batch_size
 * consecutive samples, and shard r (0-based) takes the r-th of N equal
 * contiguous slices of each: of a global batch of m samples, slice r is
 * [r*q, min((r+1)*q, m)) with q = ceil(m / N), so full global batches give
 * every shard exactly batch_size samples, and the last, shorter one is cut
 * as evenly as it goes (a shard's slice can be empty when m < N). Every
 * shard must draw the same order (same RNG state, or the order copied
 * from one of them: ol_loader_sync_order). drop_last then drops the last
 * n mod (N * batch_size) samples, the incomplete global batch. A sharded
 * loader's batch (or ol_loader_next_shard) also reports the global batch's
 * size, so that a shard's gradient can be weighted by its share of it. */
#ifndef OL_DATA_LOADER_H
#define OL_DATA_LOADER_H

#include <stdint.h>

#include "core/comm.h"
#include "data/batch.h"
#include "data/dataset.h"

typedef struct ol_loader_opts {
    int64_t batch_size; /* >= 1; larger than the dataset: one batch of all */
    int shuffle;
    int balanced;
    int drop_last;
} ol_loader_opts;

typedef struct ol_loader {
    const ol_dataset *ds; /* not owned: must outlive the loader */
    ol_loader_opts opts;
    int64_t *order;       /* ds->n sample indices of the current epoch */
    int64_t len;          /* samples served per epoch (after drop_last) */
    int64_t pos;          /* next position in order; -1: no epoch begun */
    int64_t epoch;        /* epochs begun so far */
    int64_t *work;        /* balanced: per-class queue storage */
    int64_t *counts;      /* balanced: classes + 1 entries */
    int64_t shard_rank;   /* this loader's shard, 0-based */
    int64_t shard_size;   /* shards reading the order together (1: none) */
} ol_loader;

int ol_loader_init(ol_loader *l, const ol_dataset *ds, const ol_loader_opts *opts, ol_error *err);
void ol_loader_free(ol_loader *l);

/* Switches to shard `rank` of `size` (size 1: unsharded) and rewinds. */
int ol_loader_set_shard(ol_loader *l, int64_t rank, int64_t size, ol_error *err);

/* Batches per epoch: ceil(n / B), or floor(n / B) with drop_last; with
 * shards, global batches (B = N * batch_size). */
int64_t ol_loader_num_batches(const ol_loader *l);

/* Draws the order of a new epoch (shuffling if asked) and rewinds. */
void ol_loader_start_epoch(ol_loader *l);
/* Makes every rank's order of the epoch just started that of rank `root`
 * of world (core/comm.h: one broadcast; NULL, a world of one: nothing to
 * do), so that the shards agree whatever their RNGs did. */
int ol_loader_sync_order(ol_loader *l, const ol_comm *world, int root, ol_error *err);

/* Buffers for l's batches (batch.h), features in dt: as many rows as its
 * largest batch (or shard slice). */
int ol_loader_batch_init(const ol_loader *l, ol_batch *b, ol_dtype dt, ol_error *err);
/* Fills b with the next batch of the epoch (this shard's slice of the next
 * global batch: b->n rows, possibly 0, of b->global), and has the memory
 * system fetch the rows of the batch after while the caller computes on
 * this one. Returns 1 for a batch, 0 at the end of the epoch (b->n =
 * b->global = 0; the next call starts a new epoch). */
int ol_loader_next_batch(ol_loader *l, ol_batch *b);

/* The sample indices (0-based) of the next batch: returns its size and
 * points *idx into the loader's order, or returns 0 at the end of the epoch
 * (the next call then starts a new one). */
int64_t ol_loader_next_indices(ol_loader *l, const int64_t **idx);

/* Sharded form of the above: stores the next global batch's size in
 * *global (0 at the end of the epoch) and returns the size of this
 * shard's slice of it (possibly 0), with *idx pointing at the slice. */
int64_t ol_loader_next_shard(ol_loader *l, const int64_t **idx, int64_t *global);

#endif
