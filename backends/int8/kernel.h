/* int8 micro-kernels: the interface every ISA file implements.
 *
 * Each kernel declares its own tile: up to `mr` rows of X per call against one panel of
 * `nr` columns (a multiple of INT8_KG lanes' worth: 8 for ymm, 16 for zmm). The packing
 * follows the kernel chosen at prepare (pack.h builds both operands):
 *   W panel: [kg][nr][4] int8: for every group of 4 consecutive k, the 4 bytes of each of
 *            the nr columns side by side, so one 32-bit lane holds one column's 4 k
 *            values (the layout of vpmaddubsw and vpdpbusd); zero past d_model and N.
 *   X rows:  row stride ldx bytes, per k group `xg` bytes, in the kernel's x_mode:
 *            INT8_X_SIGN: the 4 int8 values x[4g..4g+3] then their 4 absolute values (the
 *                         u8 operand of the AVX2 sign trick, computed once per call);
 *            INT8_X_U8:   the 4 values + 128 as u8 (x ^ 0x80), the u8 operand of
 *                         vpdpbusd; zero padding past d_model is stored as 0x80.
 *            INT8_X_S8:   the 4 int8 values as they are (NEON sdot/smmla/smull are
 *                         signed x signed).
 *   comp:    [nr] int32 per panel, -128 * sum_k w[k][c] (wrapped to 32 bits): the
 *            compensation of INT8_X_U8 kernels, which start their accumulators from it:
 *            comp + sum (x + 128) w = sum x w.
 * A kernel computes acc[r * nr + c] = sum_k x[r][k] * w[k][c] exactly in int32, for
 * r < mr_call <= mr and c < nr. It sees dimensions and pointers only. Kernels with
 * kc > 0 are called per block of at most kc k groups (the panel slice then stays in L1
 * while every row group of the block uses it): the first block with comp, later ones
 * with comp NULL, meaning "add to acc". Kernels with kc == 0 see all of k in one call.
 *
 * pf (kc > 0 kernels; others ignore it): NULL, or the panel bytes the driver wants in L2
 * by the time this call's slice is done (the next slice of k, or the next panel's first):
 * the kernel prefetches pf[0 .. kg * nr * 4) a k group at a time, spread between its
 * multiply-adds. The driver passes it to one row group per slice, so the slice comes from
 * L2, not memory, when the next block starts (the hardware prefetcher cannot run ahead
 * into it in time: T = 16, 1 thread, 0.80-0.84 x the time on a Zen 5, backends/int8/README.md).
 *
 * Exactness of the offset: vpdpbusd adds in 32-bit two's complement (it wraps, it does
 * not saturate), so the sum is exact modulo 2^32; the true result is bounded by
 * 127 * 127 * d_model < 2^31 (d_model <= 133144, precision.h), so it is exact. Partial
 * sums stay within 128 * 127 * d_model, inside int32 up to d_model 132104.
 *
 * Every ISA file is compiled twice: natively (its functions carry target attributes and
 * run only after dispatch.c's table said the CPU has the features) and, for the tests,
 * through SIMDe (simd.h) into the non-installed module int8_simde_test.so, where every
 * row of the table is usable (../kernel_table.h).
 *
 * Adding an ISA = one new file defining a `const struct int8_kernel`, one row in
 * dispatch.c's table (name for QKV_INT8_KERNEL, features, usable test), one line in
 * meson.build, and its name in the test's kernel list.
 */
#ifndef QKV_INT8_KERNEL_H
#define QKV_INT8_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel_table.h"
#include "../quantize_x86.h"

#define INT8_MR_MAX 8  /* largest mr of any kernel */
#define INT8_NR_MAX 64 /* largest nr of any kernel */
#define INT8_KG 4      /* k values per 32-bit lane */
#define INT8_XG_MAX 8  /* largest bytes per k group of a packed X row */

enum int8_x_mode { INT8_X_SIGN, INT8_X_U8, INT8_X_S8 };

/* acc: [mr_call][nr]; pf: see above */
typedef void (*int8_block_fn)(const int8_t *x, size_t ldx, size_t mr_call, const int8_t *panel,
                              size_t kg, const int32_t *comp, int32_t *acc, const int8_t *pf);

/* Quantize n floats into q[n] and return the scale, bit for bit as qkv_int8_quantize
 * of precision.h does (same f32 operations, nearest-even rounding, clamp, 0 and NaN
 * cases); only faster. */
typedef float (*int8_quantize_fn)(const float *v, size_t n, int8_t *q);

struct int8_kernel {
	const char *desc; /* instruction sequence, for probe ("vpdpbusd zmm, u8+128 ...") */
	unsigned mr, nr;  /* tile: rows per call (<= INT8_MR_MAX), panel width */
	unsigned kc;      /* k groups per call (0: all of k in one call, acc not read) */
	enum int8_x_mode x_mode;
	int8_block_fn block;
	int8_quantize_fn quantize;
};

/* bytes per k group of a packed X row */
static inline size_t int8_xg(const struct int8_kernel *k)
{
	return k->x_mode == INT8_X_SIGN ? 8 : 4;
}

extern const struct int8_kernel int8_kernel_c;
#if defined(__x86_64__) || defined(QKV_SIMDE)
extern const struct int8_kernel int8_kernel_avx2;
extern const struct int8_kernel int8_kernel_avxvnni;
extern const struct int8_kernel int8_kernel_avx512vnni_ymm;
extern const struct int8_kernel int8_kernel_avx512vnni;
#endif
#if defined(__aarch64__) || defined(QKV_SIMDE)
extern const struct int8_kernel int8_kernel_neon;
extern const struct int8_kernel int8_kernel_neon_dot;
extern const struct int8_kernel int8_kernel_neon_i8mm;
#endif

/* The table row (../kernel_table.h; row->set is a struct int8_kernel) of the kernel to
 * use: QKV_INT8_KERNEL's if set, else the fastest usable here. NULL only when
 * QKV_INT8_KERNEL names a kernel that is absent or not usable here. why (may be NULL)
 * gets the reason. */
const struct qkv_kernel_row *int8_kernel_select(char *why, size_t whylen);

/* 1 in int8_simde_test.so (kernels compiled through SIMDe, for the tests), else 0 */
extern const int int8_emulated;

#endif
