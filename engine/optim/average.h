/* Weight averaging: an average e of a weight vector w kept beside it and
 * updated after each optimizer step, for evaluating (or keeping) a
 * smoother set of weights than the last iterate.
 *
 *   ema   e ← d·e + (1 − d)·w, computed as e ← e + (1 − d)·(w − e) (the
 *         same value; the second form keeps e exactly where w stays put);
 *         d = decay, or with warmup d = min(decay, (1 + t)/(10 + t)), t
 *         the number of updates before this one, so that the first update
 *         uses d = 0.1: the num_updates form of TensorFlow's
 *         tf.train.ExponentialMovingAverage (decay = min(decay,
 *         (1 + num_updates) / (10 + num_updates))).
 *   swa   the equal average of the weights at steps start, start + every,
 *         start + 2·every, ...: the update numbered t (t = 1, 2, ... the
 *         updates since construction; step 0 is w at construction) counts
 *         when t >= start and (t − start) is a multiple of every, and is
 *         e ← w for the first weights counted, e ← e + (w − e)/(n + 1)
 *         afterwards, n the weight vectors in e so far: the rule of
 *         torch.optim.swa_utils.AveragedModel (n_averaged, its default
 *         avg_fn). Updates that do not count change nothing but t.
 *
 * e starts as a copy of w (as AveragedModel's deepcopy and timm's
 * ModelEmaV2), so it is usable before the first update; for swa with
 * start = 0 that copy is the first weights counted (n = 1), otherwise it
 * is replaced by the first counted update (n = 0 until then).
 *
 * The average refers to w (a shared reference to its storage) and owns e,
 * a contiguous tensor of w's dtype and shape. Update, swap and copy are
 * one elementwise pass, cut among the threads as a fused optimizer step is
 * (ol_parallel_for with OL_PARALLEL_ALIGN and OL_OPTIM_MIN_PART), and each
 * element's result depends on that element alone: the same bits whatever
 * the thread count. */
#ifndef OL_OPTIM_AVERAGE_H
#define OL_OPTIM_AVERAGE_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

struct ol_checkpoint;

typedef enum ol_average_kind { OL_AVERAGE_EMA, OL_AVERAGE_SWA } ol_average_kind;

typedef struct ol_average {
    ol_average_kind kind;
    double decay;      /* ema: in [0, 1) */
    int warmup;        /* ema: 1 for the (1 + t)/(10 + t) form */
    int64_t start;     /* swa: >= 0 */
    int64_t every;     /* swa: >= 1 */
    int64_t t;         /* updates since construction (or as restored) */
    int64_t n;         /* swa: weight vectors in e; ema: 0 */
    ol_tensor w;       /* the weights averaged (shared with their owner) */
    ol_tensor e;       /* the average: contiguous, w's dtype and shape */
} ol_average;

/* 1 when a averages the weights w (the same memory, dtype and element
 * count), else 0. */
int ol_average_of(const ol_average *a, const ol_tensor *w);

/* "ema" / "swa" */
const char *ol_average_kind_name(ol_average_kind k);

/* Makes an average of the contiguous tensor w, e a copy of w. Fails on a
 * non-contiguous w or an option out of range (decay not in [0, 1), start
 * < 0, every < 1); *a owns nothing then. */
int ol_average_init_ema(ol_average *a, const ol_tensor *w, double decay, int warmup, ol_error *err);
int ol_average_init_swa(ol_average *a, const ol_tensor *w, int64_t start, int64_t every, ol_error *err);
void ol_average_free(ol_average *a); /* owns nothing afterwards */

/* The decay the next ema update uses (d above, for t = a->t). */
double ol_average_next_decay(const ol_average *a);

/* One update from the current w (see the top). */
void ol_average_update(ol_average *a);
/* Exchanges w and e element by element: twice is the identity, bit for bit. */
void ol_average_swap(ol_average *a);
/* Writes e into dst, which must have e's dtype and element count and be
 * contiguous; dst may be w. */
int ol_average_copy_to(const ol_average *a, ol_tensor *dst, ol_error *err);

/* ---- in a checkpoint ----
 * Tensor "average.weights" (e, flat), metadata "average.kind" ("ema" |
 * "swa"), "average.t" and "average.n" (decimal counts), "average.options"
 * (JSON: {"decay": d, "warmup": b} or {"start": s, "every": k}). */
int ol_average_export(const ol_average *a, struct ol_checkpoint *ck, ol_error *err);

/* What a file holds, read and checked on its own (counts, options in
 * range, the tensor present, flat and finite). */
typedef struct ol_average_saved {
    ol_average_kind kind;
    double decay;
    int warmup;
    int64_t start, every, t, n;
    const ol_tensor *e; /* the checkpoint's tensor, valid while ck is */
} ol_average_saved;

/* 0 with *s filled; 1 when ck holds no average; -1 when it is malformed. */
int ol_average_read(const struct ol_checkpoint *ck, ol_average_saved *s, ol_error *err);
/* 0 when s fits a (same kind, dtype and element count), else -1 naming
 * the difference; changes nothing. */
int ol_average_check_saved(const ol_average *a, const ol_average_saved *s, const char *source,
                           ol_error *err);
/* Puts s into a: options, t, n and e (call ol_average_check_saved first). */
void ol_average_set_saved(ol_average *a, const ol_average_saved *s);

#endif
