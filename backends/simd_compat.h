/* One kernel source, two builds (issue 12): the native build runs the ISA itself, with
 * per-function target attributes and run-time dispatch; the emulated build compiles the
 * SAME source through SIMDe (Debian libsimde-dev, header-only) so the tests run every
 * kernel set on any machine, whatever its CPU has.
 *
 *   native   (default): <immintrin.h> on x86-64, <arm_neon.h> on aarch64; QKV_ISA("avx512f")
 *            is __attribute__((target("avx512f"))).
 *   emulated (compile with -DQKV_SIMDE, any architecture): SIMDe with native aliases, so
 *            _mm512_fmadd_ps, __m512, vdotq_s32 ... resolve to SIMDe's portable versions;
 *            SIMDe is told to use no native ISA at all (SIMDE_NO_NATIVE), so what runs is
 *            the emulation whatever -march says; QKV_ISA(...) is empty.
 *
 * The one SIMDe scheme of every backend with ISA kernels (openmp, int8): the whole module
 * is built a second time with -DQKV_SIMDE as <backend>_simde_test.so (not installed, not
 * named qkv_*.so, so the plugin search never takes it); in that build every row of its
 * kernel table is usable (../kernel_table.h), and the tests load it and force each row
 * with QKV_<BACKEND>_KERNEL, exactly as they force the native module's rows.
 *
 * QKV_SIMD_BUILD is 1 when this translation unit should compile its x86 kernels (native on
 * x86-64, emulated anywhere); QKV_NEON_BUILD the same for the aarch64 NEON kernels (native
 * on aarch64: <arm_neon.h>, QKV_ISA("+dotprod") is __attribute__((target("+dotprod"))); or
 * emulated anywhere through SIMDe's arm/neon.h); QKV_SIMD_EMULATED is 1 in the emulated
 * build.
 *
 * What SIMDe 0.7.4 lacks gets a small portable shim here, under the Intel name, in the
 * emulated build only: _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps, _mm512_cvtepu16_epi32,
 * _mm512_cvtepi32_ps,
 * and NEON's vmmlaq_s32 (smmla, i8mm).
 * Add others the same
 * way (check with `grep -rn 'define _mm512_NAME' /usr/include/simde`).
 *
 * Emulated f32 results may differ from native ones in the last bits (SIMDe's FMA need not
 * be fused); integer results are identical. Emulated runs are for logic, never timed.
 *
 * QKV_UNROLL(n) before a loop is `#pragma GCC unroll n` natively and nothing emulated:
 * each SIMDe intrinsic is a loop of its own, and unrolled 8 x 6 ways they made quant's
 * SIMDe kernel_x86.c (now panel_avx512.c) the longest step of every build (CI, 2026-12-05: 131 s of
 * wall at -O3, 920 s under ASan+UBSan; now 29 s and 34 s of CPU). The native code is unchanged
 * (same disassembly), and so is the emulated logic.
 *
 * Meson (backends/meson.build): `have_simde`, and `simde_c_args` = -DQKV_SIMDE plus
 * -Wno-psabi (SIMDe's 256/512-bit types are passed by value without AVX enabled; the
 * ABI warning is moot for static inline code). See backends/int8/meson.build.
 */
#ifndef QKV_SIMD_COMPAT_H
#define QKV_SIMD_COMPAT_H

#define QKV_PRAGMA(text) _Pragma(#text)
#if defined(QKV_SIMDE)
#define QKV_UNROLL(n)
#else
#define QKV_UNROLL(n) QKV_PRAGMA(GCC unroll n)
#endif

#if defined(QKV_SIMDE)
#define QKV_SIMD_BUILD 1
#define QKV_SIMD_EMULATED 1
#ifndef SIMDE_NO_NATIVE
#define SIMDE_NO_NATIVE
#endif
#ifndef SIMDE_ENABLE_NATIVE_ALIASES
#define SIMDE_ENABLE_NATIVE_ALIASES
#endif
#include <simde/arm/neon.h>
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h> /* not pulled in by avx512.h */
#include <stdint.h>
#include <string.h>
#define QKV_NEON_BUILD 1
#define QKV_ISA(isa)

#if !defined(vmmlaq_s32)
/* smmla: r[2i + j] += sum_k a[8i + k] * b[8j + k] for i, j < 2, k < 8 (a, b: 2 x 8 int8
 * row-major; r: 2 x 2 int32), exact. */
static inline int32x4_t qkv_simde_vmmlaq_s32(int32x4_t r, int8x16_t a, int8x16_t b)
{
	int8_t ta[16], tb[16];
	int32_t tr[4];
	vst1q_s8(ta, a);
	vst1q_s8(tb, b);
	vst1q_s32(tr, r);
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			for (int k = 0; k < 8; k++)
				tr[2 * i + j] += ta[8 * i + k] * tb[8 * j + k];
	return vld1q_s32(tr);
}
#define vmmlaq_s32(r, a, b) qkv_simde_vmmlaq_s32((r), (a), (b))
#endif

#if !defined(_mm512_maskz_loadu_ps)
/* Lanes whose bit in k is 0 read as 0.0f and their memory is not touched. */
static inline __m512 qkv_simde_mm512_maskz_loadu_ps(simde__mmask16 k, const void *p)
{
	float t[16] = {0};
	for (int i = 0; i < 16; i++)
		if ((k >> i) & 1)
			memcpy(&t[i], (const char *)p + 4 * i, 4);
	return _mm512_loadu_ps(t);
}
#define _mm512_maskz_loadu_ps(k, p) qkv_simde_mm512_maskz_loadu_ps((k), (p))
#endif

#if !defined(_mm512_mask_storeu_ps)
/* Only lanes whose bit in k is 1 are written. */
static inline void qkv_simde_mm512_mask_storeu_ps(void *p, simde__mmask16 k, __m512 v)
{
	float t[16];
	_mm512_storeu_ps(t, v);
	for (int i = 0; i < 16; i++)
		if ((k >> i) & 1)
			memcpy((char *)p + 4 * i, &t[i], 4);
}
#define _mm512_mask_storeu_ps(p, k, v) qkv_simde_mm512_mask_storeu_ps((p), (k), (v))
#endif

#if !defined(_mm512_cvtepu16_epi32)
/* Zero-extend 16 unsigned 16-bit lanes to 32 bits (vpmovzxwd). */
static inline __m512i qkv_simde_mm512_cvtepu16_epi32(__m256i a)
{
	uint16_t t[16];
	uint32_t u[16];
	_mm256_storeu_si256((__m256i *)(void *)t, a);
	for (int i = 0; i < 16; i++)
		u[i] = t[i];
	return _mm512_loadu_si512(u);
}
#define _mm512_cvtepu16_epi32(a) qkv_simde_mm512_cvtepu16_epi32(a)
#endif

#if !defined(_mm512_cvtepi32_ps)
/* 16 int32 lanes to float, rounded to nearest even (vcvtdq2ps, default MXCSR). */
static inline __m512 qkv_simde_mm512_cvtepi32_ps(__m512i a)
{
	int32_t t[16];
	float u[16];
	_mm512_storeu_si512(t, a);
	for (int i = 0; i < 16; i++)
		u[i] = (float)t[i];
	return _mm512_loadu_ps(u);
}
#define _mm512_cvtepi32_ps(a) qkv_simde_mm512_cvtepi32_ps(a)
#endif

#elif defined(__x86_64__)
#define QKV_SIMD_BUILD 1
#define QKV_NEON_BUILD 0
#define QKV_SIMD_EMULATED 0
#include <immintrin.h>
#define QKV_ISA(isa) __attribute__((target(isa)))

#elif defined(__aarch64__)
#define QKV_SIMD_BUILD 0
#define QKV_NEON_BUILD 1
#define QKV_SIMD_EMULATED 0
#include <arm_neon.h>
#define QKV_ISA(isa) __attribute__((target(isa)))

#else
#define QKV_SIMD_BUILD 0
#define QKV_NEON_BUILD 0
#define QKV_SIMD_EMULATED 0
#define QKV_ISA(isa)
#endif

#endif /* QKV_SIMD_COMPAT_H */
