/* Intrinsics for the quant ISA kernel files: backends/simd_compat.h (native with target
 * attributes, or with -DQKV_SIMDE through SIMDe for the tests) plus the AVX-VNNI name
 * SIMDe 0.7.4 lacks (the VEX form computes what the AVX512VL form does). */
#ifndef QKV_QUANT_SIMD_H
#define QKV_QUANT_SIMD_H

#include "../simd_compat.h"

#if QKV_SIMD_EMULATED && !defined(_mm256_dpbusd_avx_epi32)
#define _mm256_dpbusd_avx_epi32(src, a, b) _mm256_dpbusd_epi32(src, a, b)
#endif

#endif
