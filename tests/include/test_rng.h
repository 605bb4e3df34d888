/* The tests' reproducible random numbers: xorshift64 on a state each test file keeps and
 * seeds itself (`static uint64_t rng = SEED;`), so every run draws the same data. */
#ifndef QKV_TEST_RNG_H
#define QKV_TEST_RNG_H

#include <math.h>
#include <stdint.h>

static inline uint64_t test_rng_next(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Uniform in [0, 1), 53 bits. */
static inline double test_rng_unit(uint64_t *state)
{
	return (double)(test_rng_next(state) >> 11) / 9007199254740992.0;
}

/* Uniform in [-1, 1). */
static inline float test_rng_sym(uint64_t *state)
{
	return (float)((double)(test_rng_next(state) >> 11) / 4503599627370496.0 - 1.0);
}

/* Standard normal (Box-Muller on two uniforms). */
static inline float test_rng_gauss(uint64_t *state)
{
	return (float)(sqrt(-2.0 * log(1.0 - test_rng_unit(state))) *
	               cos(6.283185307179586 * test_rng_unit(state)));
}

#endif
