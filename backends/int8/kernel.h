/* int8 micro-kernels: the interface every ISA file implements.
 *
 * Packed operands (pack.h builds them):
 *   X block: mr rows, row stride ldx bytes; per k group INT8_XG = 8 bytes: the 4
 *            int8 values x[4g..4g+3] then their 4 absolute values (the u8 operand of
 *            the AVX2 sign trick, computed once per call rather than once per panel);
 *            zero past d_model.
 *   W panel: [kg][INT8_NR][4] int8: for every group of 4 consecutive k, the 4 bytes
 *            of each of the INT8_NR columns side by side, so one 32-bit lane holds
 *            one column's 4 k values (the layout of vpmaddubsw and vpdpbusd).
 * A kernel computes acc[r][c] = sum_k x[r][k] * w[k][c] exactly in int32, for
 * r < mr <= INT8_MR and c < INT8_NR. It sees dimensions and pointers only.
 *
 * Adding an ISA = one new file defining a `const struct int8_kernel`, one line in
 * dispatch.c's table and one in meson.build.
 */
#ifndef QKV_INT8_KERNEL_H
#define QKV_INT8_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#define INT8_MR 4  /* rows per micro-kernel call */
#define INT8_NR 16 /* columns per packed panel */
#define INT8_KG 4  /* k values per 32-bit lane */
#define INT8_XG 8  /* bytes of a packed X row per k group: 4 values, 4 absolute values */

typedef void (*int8_block_fn)(const int8_t *x, size_t ldx, size_t mr, const int8_t *panel,
                              size_t kg, int32_t acc[INT8_MR * INT8_NR]);

/* Quantize n floats into q[n] and return the scale, bit for bit as qkv_int8_quantize
 * of precision.h does (same f32 operations, nearest-even rounding, clamp, 0 and NaN
 * cases); only faster. */
typedef float (*int8_quantize_fn)(const float *v, size_t n, int8_t *q);

struct int8_kernel {
	const char *name;    /* "avx2", "c": shown by probe */
	int (*usable)(void); /* CPU and OS support it here */
	int8_block_fn block;
	int8_quantize_fn quantize;
};

extern const struct int8_kernel int8_kernel_c;
#if defined(__x86_64__)
extern const struct int8_kernel int8_kernel_avx2;
#endif

/* The fastest kernel usable on this machine, or, when `want` is a non-empty name, that
 * kernel if it is usable here. NULL only when `want` names no usable kernel (with
 * want NULL or "" the C kernel always qualifies). */
const struct int8_kernel *int8_kernel_select(const char *want);

#endif
