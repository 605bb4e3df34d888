#include "gen.h"

#include <math.h>
#include <string.h>

uint64_t gen_splitmix64(uint64_t x)
{
	uint64_t z = x + 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

uint64_t gen_base(uint64_t seed, unsigned role)
{
	return gen_splitmix64(gen_splitmix64(seed) + role);
}

double gen_value(uint64_t base, uint64_t i)
{
	const double two53 = 9007199254740992.0;
	double u1 = (double)((gen_splitmix64(base + 2 * i) >> 11) + 1) / two53;
	double u2 = (double)(gen_splitmix64(base + 2 * i + 1) >> 11) / two53;
	return GEN_STD * sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925287 * u2);
}

uint16_t gen_f32_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

uint16_t gen_f32_to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
	x &= 0x7fffffffu;
	if (x > 0x7f800000u)
		return sign | 0x7e00; /* NaN */
	if (x >= 0x477ff000u)
		return sign | 0x7c00; /* rounds to infinity (|f| >= 65520) */
	if (x < 0x38800000u) {
		/* f16 subnormal: f * 2^24 is exact in f32; nearbyintf rounds ties to even. */
		float a;
		memcpy(&a, &x, 4);
		return sign | (uint16_t)nearbyintf(a * 16777216.0f);
	}
	x += 0xfffu + ((x >> 13) & 1u);
	return sign | (uint16_t)((x - 0x38000000u) >> 13);
}
