/* vpdpbusd kernels (u8 x s8 -> int32, 4 products per lane per instruction, wrapping
 * adds), three encodings of one algorithm (kernel_vnni.inc), each with its own tile:
 *
 *   avx512vnni      EVEX zmm, 16 columns per register, 8 x 32 tile: 16 accumulators
 *                   + 2 panel registers + 1 broadcast of 32 zmm. Current AVX-512 cores
 *                   (Ice Lake/Sapphire Rapids: 2 vpdpbusd zmm per cycle on ports 0 and
 *                   5, latency 5; Zen 4 double-pumps zmm, 1 per cycle) need >= 10
 *                   independent accumulators to hide the latency. Per k group 2 panel
 *                   loads + 8 broadcasts feed 16 vpdpbusd: 1.25 loads per cycle at 2
 *                   vpdpbusd per cycle, under the 2-3 load ports.
 *   avx512vnni_ymm  EVEX ymm (AVX512VL): Cascade Lake+, Zen 4; parts that lower their
 *                   clock for zmm do not for ymm. 32 registers: 8 x 24 tile, 24
 *                   accumulators + 3 panel + 1 broadcast.
 *   avxvnni         VEX ymm (Alder Lake+ client cores, Zen 5, Sapphire Rapids): only 16
 *                   registers, so 6 x 16: 12 accumulators + 2 panel + 1 broadcast.
 *
 * Built for baseline x86-64: only these functions carry target attributes, and they run
 * only after dispatch.c's table said the CPU has the features. With QKV_SIMDE (simd.h) the same
 * source is compiled through SIMDe for the tests on any CPU.
 */
#if defined(__x86_64__) || defined(QKV_SIMDE)
#include <string.h>

#include "kernel.h"
#include "simd.h"

/* Bytes ahead in the panel stream; the AVX2 kernel's measured distance (kernel_avx2.c),
 * one prefetch per 64-byte line of a k group. */
#define VNNI_PREFETCH 2048

/* k groups per call: 128 (512 k) keep a panel slice of 8-16 KB (nr 16-32) in L1 while
 * every row group of a 64-row block uses it, with the X slices (8 x 512 bytes). */
#ifndef VNNI_KC
#define VNNI_KC 128
#endif

/* ---- AVX-512 VNNI, zmm ---- */
#define V_NAME zmm
#define V_ISA "avx512f,avx512vnni"
#define V_VEC __m512i
#define V_LANES 16
#define V_LOADU(p) _mm512_loadu_si512((const void *)(p))
#define V_SET1(i) _mm512_set1_epi32(i)
#define V_DP(acc, u, s) _mm512_dpbusd_epi32(acc, u, s)
#define V_STOREU(p, v) _mm512_storeu_si512((void *)(p), v)
#define V_MR 8
#define V_NR 32
#include "kernel_vnni.inc"
enum { ZMM_MR = V_MR, ZMM_NR = V_NR }; /* values now: V_ are redefined below */
#undef V_NAME
#undef V_ISA
#undef V_VEC
#undef V_LANES
#undef V_LOADU
#undef V_SET1
#undef V_DP
#undef V_STOREU
#undef V_MR
#undef V_NR

/* ---- AVX-512 VNNI on ymm (AVX512VL) ---- */
#define V_NAME ymm512
#define V_ISA "avx512f,avx512vl,avx512vnni"
#define V_VEC __m256i
#define V_LANES 8
#define V_LOADU(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define V_SET1(i) _mm256_set1_epi32(i)
#define V_DP(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define V_STOREU(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define V_MR 8
#define V_NR 24
#include "kernel_vnni.inc"
enum { YMM512_MR = V_MR, YMM512_NR = V_NR };
#undef V_NAME
#undef V_ISA
#undef V_DP
#undef V_MR
#undef V_NR

/* ---- AVX-VNNI (VEX), ymm0-15 only ---- */
#define V_NAME avxvnni
#define V_ISA "avx2,avxvnni"
#define V_DP(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define V_MR 6
#define V_NR 16
#include "kernel_vnni.inc"
enum { AVXVNNI_MR = V_MR, AVXVNNI_NR = V_NR };

const struct int8_kernel int8_kernel_avx512vnni = {
    .desc = "vpdpbusd zmm, u8 = x + 128, column-sum compensation",
    .mr = ZMM_MR,
    .nr = ZMM_NR,
    .kc = VNNI_KC,
    .x_mode = INT8_X_U8,
    .block = zmm_block,
    .quantize = qkv_int8_quantize_avx2,
};
const struct int8_kernel int8_kernel_avx512vnni_ymm = {
    .desc = "EVEX vpdpbusd ymm, u8 = x + 128, column-sum compensation",
    .mr = YMM512_MR,
    .nr = YMM512_NR,
    .kc = VNNI_KC,
    .x_mode = INT8_X_U8,
    .block = ymm512_block,
    .quantize = qkv_int8_quantize_avx2,
};
const struct int8_kernel int8_kernel_avxvnni = {
    .desc = "VEX vpdpbusd ymm, u8 = x + 128, column-sum compensation",
    .mr = AVXVNNI_MR,
    .nr = AVXVNNI_NR,
    .kc = VNNI_KC,
    .x_mode = INT8_X_U8,
    .block = avxvnni_block,
    .quantize = qkv_int8_quantize_avx2,
};
#endif
