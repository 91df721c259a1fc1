/*
** xoshiro256** with splitmix64 seeding (see rng.h).
*/
#include "rng.h"

#include <assert.h>
#include <math.h>

/* One splitmix64 step of state *x: spreads a seed over the 256-bit state. */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Seed r from one 64-bit seed (four splitmix64 outputs, never all zero). */
void rng_seed(rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

/* Rotate x left by k bits, 0 < k < 64. */
static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

/* The next 64 random bits of state s (xoshiro256**); inlined into the
** loops that draw many. */
static inline uint64_t next(uint64_t *restrict s) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rng_u64(rng *r) {
    return next(r->s);
}

/* The float of rng_uniform from 64 random bits. */
static inline float uniform_of(uint64_t x) {
    return (float)(x >> 40) * (1.0f / 16777216.0f);
}

float rng_uniform(rng *r) {
    return uniform_of(next(r->s));
}

void rng_keep_mask(rng *r, unsigned char *mask, size_t n, float p) {
    uint64_t s[4] = {r->s[0], r->s[1], r->s[2], r->s[3]}; /* in registers */
    for (size_t i = 0; i < n; i++)
        mask[i] = uniform_of(next(s)) >= p;
    for (int i = 0; i < 4; i++)
        r->s[i] = s[i];
}

double rng_uniform_double(rng *r) {
    return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t rng_below(rng *r, uint64_t n) {
    assert(n > 0);
    /* Rejection of the short top range keeps every value equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = rng_u64(r);
    while (x >= limit);
    return x % n;
}

double rng_normal(rng *r) {
    double u1 = rng_uniform_double(r), u2 = rng_uniform_double(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t rng_derive(uint64_t seed, uint64_t k) {
    uint64_t x = seed ^ (k * 0xd1b54a32d192ed03ULL);
    splitmix64(&x);
    return splitmix64(&x);
}
