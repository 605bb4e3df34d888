/* The x86 quant kernels: kernel_x86.inc's rows compiled for three integer dot products.
 *   avx512vnni  vpdpbusd ymm, EVEX (AVX512VL): Ice Lake, Sapphire Rapids, Zen 4/5
 *   avxvnni     vpdpbusd ymm, VEX: Alder Lake and later client cores, Sapphire Rapids, Zen 5
 *   avx2        vpmaddubsw + vpmaddwd (no 16-bit saturation: every u8 operand is <= 128
 *               and every s8 one >= -127, so a pair sums to at most 32512)
 * Built for baseline x86-64: only these functions carry target attributes, and they run
 * only after dispatch.c's table said the CPU has them. With QKV_SIMDE the same source runs
 * emulated. Speed is the companion issue's work; these are the correct, vectorized first kernels.
 */
#if defined(__x86_64__) || defined(QKV_SIMDE)
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* the float steps are specified without FMA */
#endif
#include "kernel.h"
#include "simd.h"

/* ---- AVX2 ---- */
#define Q_SFX avx2
#define Q_TARGET QKV_ISA("avx2")
#define Q_DOT(u, s) _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
#include "kernel_x86.inc"
#undef Q_SFX
#undef Q_TARGET
#undef Q_DOT

/* ---- AVX-VNNI (VEX) ---- */
#define Q_SFX avxvnni
#define Q_TARGET QKV_ISA("avx2,avxvnni")
#define Q_DOT(u, s) _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s)
#include "kernel_x86.inc"
#undef Q_SFX
#undef Q_TARGET
#undef Q_DOT

/* ---- AVX-512 VNNI, ymm (EVEX) ---- */
#define Q_SFX avx512vnni
#define Q_TARGET QKV_ISA("avx2,avx512f,avx512vl,avx512vnni")
#define Q_DOT(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
#include "kernel_x86.inc"
#undef Q_SFX
#undef Q_TARGET
#undef Q_DOT

#define ROWS(s)                                                                                    \
	{NULL, NULL, NULL, row_q8_0_##s, row_q4_0_##s, row_q4_k_##s, row_q5_k_##s, row_q6_k_##s},  \
	{                                                                                          \
		NULL, NULL, NULL, rows8_q8_0_##s, rows8_q4_0_##s, NULL, NULL, NULL                 \
	}
const struct quant_kernel quant_kernel_avx512vnni = {"avx512vnni", "vpdpbusd ymm (EVEX)",
                                                     ROWS(avx512vnni)};
const struct quant_kernel quant_kernel_avxvnni = {"avxvnni", "vpdpbusd ymm (VEX)", ROWS(avxvnni)};
const struct quant_kernel quant_kernel_avx2 = {"avx2", "vpmaddubsw + vpmaddwd ymm", ROWS(avx2)};
#endif
