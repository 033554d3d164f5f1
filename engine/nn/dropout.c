/* Inverted dropout (as torch.nn.Dropout): in training mode each element
 * is zeroed with probability p and the others multiplied by 1/(1 - p), so
 * the expected output is the input; in evaluation mode the layer is the
 * identity (the model copies instead of calling these).
 *
 * The mask is counter-based, so that it does not depend on how the loop
 * is cut over threads: a forward pass draws one 64-bit key per dropout
 * layer from the engine's RNG (core/rng.h), and element e of the layer's
 * n x w output (row-major, e = row * w + column) is dropped when
 *
 *   u_e = (z_e >> 11) * 2^-53 < p,   z_e = splitmix64(key + (e + 1) * 0x9E3779B97F4A7C15)
 *
 * (z_e is the (e + 1)-th output of a splitmix64 stream seeded with key:
 * Steele, Lea and Flood, "Fast splittable pseudorandom number
 * generators", 2014). The same seed gives the same keys and so the same
 * masks, on any number of threads. The forward pass makes the mask and
 * applies it in one pass and keeps it (one byte per element) for the
 * backward pass: dx = dy * mask / (1 - p). The scale 1/(1 - p) is
 * rounded once to the element type. */
#ifndef OL_GENERIC
#include <math.h>

#include "core/parallel.h"
#include "nn/kernels.h"

/* Elements per part below which a loop is not cut (a part must outlast
 * the pool's handoff). */
#define DROPOUT_MIN_PART 16384

/* The drop test's threshold: element e is dropped when z_e >> 11 is below
 * it (p * 2^53 is exact, so this is u_e < p on the 53-bit grid). */
static uint64_t drop_threshold(double p) { return (uint64_t)ceil(p * 9007199254740992.0); }

/* splitmix64's output for state key + (e + 1) * golden. */
static inline uint64_t draw(uint64_t key, int64_t e) {
    uint64_t z = key + (uint64_t)(e + 1) * 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

#define OL_GENERIC "nn/dropout.c"
#include "core/generic.h"

#else /* generic part: T, S() */

typedef struct S(drop_job) {
    uint64_t key, thr;
    T scale;
    const T *x;
    uint8_t *mask;
    T *y;
} S(drop_job);

static void S(drop_forward_part)(void *ctx, int64_t begin, int64_t end, int part) {
    (void)part;
    const S(drop_job) *j = ctx;
    const T scale = j->scale;
    for (int64_t e = begin; e < end; e++) {
        const uint8_t keep = (draw(j->key, e) >> 11) >= j->thr;
        j->mask[e] = keep;
        j->y[e] = keep ? j->x[e] * scale : (T)0;
    }
}

void S(ol_dropout_forward)(int64_t count, uint64_t key, double p, const T *x, uint8_t *mask,
                           T *y) {
    S(drop_job) j = {key, drop_threshold(p), (T)(1.0 / (1.0 - p)), x, mask, y};
    ol_parallel_for(count, OL_PARALLEL_ALIGN, DROPOUT_MIN_PART, S(drop_forward_part), &j);
}

/* dx = dy * mask * scale: one pass, vectorised; short enough to stay on
 * the calling thread. */
void S(ol_dropout_backward)(int64_t count, double p, const uint8_t *restrict mask,
                            const T *restrict dy, T *restrict dx) {
    const T scale = (T)(1.0 / (1.0 - p));
    for (int64_t e = 0; e < count; e++) dx[e] = mask[e] ? dy[e] * scale : (T)0;
}

#endif
