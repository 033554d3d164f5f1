/* xoshiro256** 1.0 seeded by splitmix64; see rng.h for the streams.
 * Reference: https://prng.di.unimi.it/xoshiro256starstar.c (public domain). */
#include "core/rng.h"

#include <math.h>

/* The generator's state: global by design (one documented RNG). The
 * initial value is ol_rng_seed(0)'s, so a program that never seeds still
 * gets the seed-0 stream. */
static ol_rng_state rng = {{0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL,
                            0x06c45d188009454fULL, 0xf88bb8a8724c81ecULL}};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ol_rng_seed(uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng.s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t ol_rng_next(void) {
    uint64_t *s = rng.s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ol_rng_uniform(void) {
    return (double)(ol_rng_next() >> 11) * 0x1.0p-53;
}

float ol_rng_uniform_f32(void) {
    return (float)(ol_rng_next() >> 40) * 0x1.0p-24f;
}

double ol_rng_normal(void) {
    /* 1 - u1 lies in (0, 1], so the log is finite. */
    double u1 = ol_rng_uniform(), u2 = ol_rng_uniform();
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586476925286766559 * u2);
}

uint64_t ol_rng_below(uint64_t n) {
    /* Rejection from the top of the range keeps every value equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = ol_rng_next(); while (x >= limit);
    return x % n;
}

void ol_rng_get_state(ol_rng_state *out) { *out = rng; }

void ol_rng_set_state(const ol_rng_state *in) { rng = *in; }
