/* aarch64 peak loops (bench_peak_neon.h). The sdot and smmla loops carry target
 * attributes, so the tool stays baseline armv8-a; HWCAP (<qkv/cpu_features.h>) decides
 * which one may run. */
#include "bench_peak_neon.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

#include <qkv/cpu_features.h>

static volatile float fsink;    /* keeps results observable */
static volatile uint32_t isink; /* unsigned: the sums wrap */

#define X16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

/* 16 chains: Neoverse V1/V2 retire 4 fmla v.4s per cycle with a latency of 4, N1 and
 * Cortex-A76 2, so 16 chains cover every current core; 16 + 2 of 32 registers. */
double bench_neon_fma_loop(size_t iters)
{
	const float32x4_t m = vdupq_n_f32(0.9999999f), c = vdupq_n_f32(1e-7f);
#define DECL(j) float32x4_t a##j = vdupq_n_f32(1.0f + 0.01f * (float)(j));
#define STEP(j) a##j = vfmaq_f32(c, a##j, m);
#define SUM(j) s = vaddq_f32(s, a##j);
	X16(DECL)
	for (size_t i = 0; i < iters; i++) {
		X16(STEP)
	}
	float32x4_t s = vdupq_n_f32(0.0f);
	X16(SUM)
#undef DECL
#undef STEP
#undef SUM
	fsink = vaddvq_f32(s);
	return (double)iters * 16.0 * 4.0 * 2.0;
}

/* 16 independent chains of one int8 instruction OP(acc, x, w) (defined before each use)
 * doing MACS multiply-adds: sdot 16, smmla 32. Each loop is its own function with its own
 * target attribute. */
#define INT8_CHAINS(name, isa, MACS)                                                               \
	__attribute__((target(isa))) static double name(size_t iters)                              \
	{                                                                                          \
		const int8x16_t x = vdupq_n_s8(3), w = vdupq_n_s8(-5);                             \
		X16(DECL)                                                                          \
		for (size_t i = 0; i < iters; i++) {                                               \
			X16(STEP)                                                                  \
		}                                                                                  \
		int32x4_t s = vdupq_n_s32(0);                                                      \
		X16(SUM)                                                                           \
		isink = (uint32_t)vaddvq_s32(s);                                                   \
		return (double)iters * 16.0 * (MACS)*2.0;                                          \
	}
#define DECL(j) int32x4_t a##j = vdupq_n_s32(j);
#define STEP(j) a##j = OP(a##j, x, w);
#define SUM(j) s = vaddq_s32(s, a##j);
#define OP vdotq_s32
INT8_CHAINS(sdot_loop, "arch=armv8.2-a+dotprod", 16)
#undef OP
#define OP vmmlaq_s32
INT8_CHAINS(smmla_loop, "arch=armv8.2-a+i8mm", 32)
#undef OP
#undef DECL
#undef STEP
#undef SUM

/* The plain NEON sequence per 16 multiply-adds: smull + smull2 into int16, two sadalp
 * into int32. 4 chains of two accumulators, each with its own w (kept opaque by the
 * empty asm, so nothing is hoisted). */
static double smull_loop(size_t iters)
{
	const int8x16_t x = vdupq_n_s8(3);
	int8x16_t w0 = vdupq_n_s8(-5), w1 = vdupq_n_s8(7), w2 = vdupq_n_s8(-9), w3 = vdupq_n_s8(11);
	int32x4_t a0 = vdupq_n_s32(0), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0,
	          b3 = a0;
#define STEP(j)                                                                                    \
	a##j = vpadalq_s16(a##j, vmull_s8(vget_low_s8(w##j), vget_low_s8(x)));                     \
	b##j = vpadalq_s16(b##j, vmull_high_s8(w##j, x));
	for (size_t i = 0; i < iters; i++) {
		__asm__("" : "+w"(w0), "+w"(w1), "+w"(w2), "+w"(w3));
		STEP(0) STEP(1) STEP(2) STEP(3)
	}
#undef STEP
	int32x4_t s = vaddq_s32(vaddq_s32(vaddq_s32(a0, b0), vaddq_s32(a1, b1)),
	                        vaddq_s32(vaddq_s32(a2, b2), vaddq_s32(a3, b3)));
	isink = (uint32_t)vaddvq_s32(s);
	return (double)iters * 4.0 * 16.0 * 2.0;
}

enum seq { SEQ_SMULL, SEQ_SDOT, SEQ_SMMLA };

static enum seq pick(void)
{
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	return f.i8mm ? SEQ_SMMLA : (f.dotprod ? SEQ_SDOT : SEQ_SMULL);
}

double bench_neon_int8_loop(size_t iters)
{
	static double (*const loops[])(size_t) = {smull_loop, sdot_loop, smmla_loop};
	return loops[pick()](iters);
}

const char *bench_neon_int8_name(void)
{
	static const char *const names[] = {"smull+sadalp (neon)", "sdot (dotprod)",
	                                    "smmla (i8mm)"};
	return names[pick()];
}
#endif
