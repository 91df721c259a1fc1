/*
** A small, fast, seedable random number generator (xoshiro256**, seeded
** through splitmix64).  Its whole state is 32 bytes, so it can be saved in
** a checkpoint and restored for an exact resume.  The same seed gives the
** same stream on every machine and thread count.
*/
#ifndef QUILL_RNG_H
#define QUILL_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_u64(rng *r);
/* Uniform in [0, 1) with 24 random bits (exactly representable floats). */
float rng_uniform(rng *r);
/* mask[i] = rng_uniform(r) >= p for i = 0 .. n-1, in order (a dropout
** keep-mask: 1 keeps, 0 drops), the same draws as n calls of rng_uniform
** at a fraction of their cost. */
void rng_keep_mask(rng *r, unsigned char *mask, size_t n, float p);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform_double(rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t rng_below(rng *r, uint64_t n);
/* Standard normal (Box-Muller on doubles). */
double rng_normal(rng *r);
/* Derive an independent seed for stream number k of a master seed (for one
** output of many, one rank of many): the same (seed, k) gives the same. */
uint64_t rng_derive(uint64_t seed, uint64_t k);

#endif
