/* The harness's own PRNG (splitmix64): the same stream on every machine and libc,
 * so a seed replays a case exactly. */
#ifndef QKV_CONFORM_RNG_H
#define QKV_CONFORM_RNG_H

#include <stdint.h>

struct cf_rng {
	uint64_t s;
};

static inline uint64_t cf_rng_next(struct cf_rng *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [-1, 1) on a 2^-23 grid: exact in f32. */
static inline float cf_rng_unit(struct cf_rng *g)
{
	return (float)(cf_rng_next(g) >> 40) * 0x1p-23f - 1.0f;
}

/* Uniform integer in [lo, hi]. */
static inline int cf_rng_int(struct cf_rng *g, int lo, int hi)
{
	return lo + (int)(cf_rng_next(g) % (uint64_t)(hi - lo + 1));
}

/* FNV-1a of the bytes of `s`, continuing from `h` (start: CF_FNV_BASIS). */
#define CF_FNV_BASIS 0xcbf29ce484222325ull
static inline uint64_t cf_fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* A seed for the stream named `name` under base seed `seed` (FNV-1a of the name). */
static inline uint64_t cf_seed_mix(uint64_t seed, const char *name)
{
	struct cf_rng g = {seed ^ cf_fnv1a(CF_FNV_BASIS, name)};
	return cf_rng_next(&g);
}

#endif
