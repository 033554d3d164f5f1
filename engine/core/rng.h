/* The global random number generator: xoshiro256** 1.0 (Blackman and
 * Vigna, "Scrambled linear pseudorandom number generators", 2021), seeded
 * by expanding a 64-bit seed with splitmix64 into the four state words.
 *
 *  - uniform double in [0,1): (x >> 11) * 2^-53 (53 random bits);
 *  - uniform float in [0,1):  (x >> 40) * 2^-24 (24 random bits);
 *  - standard normal: Box-Muller, z = sqrt(-2 ln(1 - u1)) cos(2 pi u2), one
 *    normal from two doubles, no cached second value, so the stream depends
 *    only on the seed and the count of draws.
 *
 * Integer arithmetic makes the uniform streams identical on every machine;
 * the normal stream uses libm's log/cos, correctly rounded in glibc for
 * these arguments. The state is the engine's one piece of global mutable
 * state (with the thread setting); the default seed is 0. */
#ifndef OL_RNG_H
#define OL_RNG_H

#include <stdint.h>

typedef struct ol_rng_state {
    uint64_t s[4];
} ol_rng_state;

void ol_rng_seed(uint64_t seed);
uint64_t ol_rng_next(void);          /* raw 64 bits */
double ol_rng_uniform(void);         /* [0, 1), 53 bits */
float ol_rng_uniform_f32(void);      /* [0, 1), 24 bits */
double ol_rng_normal(void);          /* N(0, 1) */
uint64_t ol_rng_below(uint64_t n);   /* uniform in [0, n), unbiased; n > 0 */

/* Save and restore the whole state (checkpoints). */
void ol_rng_get_state(ol_rng_state *out);
void ol_rng_set_state(const ol_rng_state *in);

#endif
