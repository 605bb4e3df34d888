/* Intrinsics for the int8 ISA kernel files: backends/simd_compat.h (one source, built
 * natively with target attributes, or with -DQKV_SIMDE through SIMDe for the tests) plus
 * what the int8 kernels need on top of it:
 *   INT8_TARGET(isa)   the target attribute (empty when emulated);
 *   INT8_PREFETCH_T0   _mm_prefetch to L1;
 *   INT8_PREFETCH_T1   _mm_prefetch to L2 (Zen 4 and later, Intel: not L1);
 *   _mm256_dpbusd_avx_epi32 in the emulated build: SIMDe 0.7.4 has no AVX-VNNI names;
 *                      the VEX form computes exactly what the AVX512VL form does, so it
 *                      maps onto SIMDe's _mm256_dpbusd_epi32.
 * The emulated build is the whole module again (int8_simde_test.so, meson.build), so its
 * symbols need no renaming. Emulated runs prove the logic; they are never timed.
 */
#ifndef QKV_INT8_SIMD_H
#define QKV_INT8_SIMD_H

#include "../simd_compat.h"

#define INT8_TARGET(isa) QKV_ISA(isa)
#define INT8_PREFETCH_T0(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define INT8_PREFETCH_T1(p) _mm_prefetch((const char *)(p), _MM_HINT_T1)

#if QKV_SIMD_EMULATED && !defined(_mm256_dpbusd_avx_epi32)
#define _mm256_dpbusd_avx_epi32(src, a, b) _mm256_dpbusd_epi32(src, a, b)
#endif

#endif
