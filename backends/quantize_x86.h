/* X rows to int8 on x86 with AVX2, bit for bit as qkv_int8_quantize of <qkv/precision.h>
 * does it (the same f32 operations, nearest-even rounding, clamp, 0 and NaN cases), only
 * faster: the reference rounds with nearbyintf, a libm call per value. The int8 backend
 * quantizes its X rows with it and the quant backend its Q8_0 and Q8_K activation blocks
 * (at T = 128 on a Zen 5 the reference took a quarter of a Q8_0 call).
 *
 * Compiled into each backend that uses it, natively on x86-64 (the function carries
 * target("avx2"): call it only when the CPU has AVX2, i.e. from an x86 kernel set) and
 * through SIMDe in the backends' *_simde_test.so builds (../simd_compat.h). */
#ifndef QKV_BACKENDS_QUANTIZE_X86_H
#define QKV_BACKENDS_QUANTIZE_X86_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(QKV_SIMDE)
float qkv_int8_quantize_avx2(const float *v, size_t n, int8_t *q);
#endif

#endif
