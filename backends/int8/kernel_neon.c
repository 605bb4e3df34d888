/* aarch64 int8 kernels, exact, on INT8_X_S8 rows (4 signed values per k group, kernel.h):
 *
 *   neon      (every aarch64 CPU): smull/smull2 multiply 2 columns x 4 k by x[4g..4g+3]
 *             into int16 (|x w| <= 127 * 127 fits), sadalp adds adjacent pairs into int32,
 *             and one addp per 4 columns joins the two halves at the end. 2 x 16 tile.
 *   neon_dot  (FEAT_DotProd, sdot): one sdot by element multiplies 4 columns' 4 k values
 *             by one row's 4 x values and adds into 4 int32 lanes. 4 x 16 tile, 16
 *             accumulators, x loaded 4 groups (16 bytes) at a time.
 *   neon_i8mm (FEAT_I8MM, smmla): a 2 x 8 block of X times a 2 x 8 block of W (two
 *             columns' 8 k, zipped from two k groups of the panel) into a 2 x 2 int32
 *             tile. 4 x 16 tile: 2 row pairs x 8 column pairs, 16 accumulators; an odd
 *             last k group is paired with zeros, an odd last row with a zero row.
 *
 * Natively the functions carry target attributes ("+dotprod", "+i8mm") and run only after
 * dispatch.c's table saw the HWCAP bit; through SIMDe (-DQKV_SIMDE) the same source runs
 * on any machine (smmla through the shim in ../simd_compat.h). Speed on ARM hardware:
 * not yet measured (no ARM machine here); qemu runs prove the logic only.
 */
#include <string.h>

#include "kernel.h"
#include "simd.h"
#include <qkv/precision.h>

#if QKV_NEON_BUILD && (defined(__aarch64__) || defined(QKV_SIMDE))

#define NEON_NR 16
#define NEON_MR 2
#define DOT_MR 4
#define MMLA_MR 4
#define ROW_BYTES (NEON_NR * INT8_KG) /* one k group of a panel: [16 columns][4 k] */
#define INLINE static inline __attribute__((always_inline))

/* x[4g..4g+3] of one row in all four 32-bit lanes */
INLINE int8x16_t x_group(const int8_t *x)
{
	int32_t v;
	memcpy(&v, x, sizeof(v));
	return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

/* ---- plain NEON ---- */

/* a[r][2i]: columns 4i, 4i+1 as (k0+k1, k2+k3) pairs; a[r][2i+1]: columns 4i+2, 4i+3. */
INLINE void neon_tile(const int8_t *x, size_t ldx, const int8_t *panel, size_t kg, int32_t *acc,
                      const size_t rows)
{
	int32x4_t a[NEON_MR][8];
	for (size_t r = 0; r < rows; r++)
		for (int i = 0; i < 8; i++)
			a[r][i] = vdupq_n_s32(0);
	for (size_t g = 0; g < kg; g++) {
		const int8_t *w = panel + g * ROW_BYTES;
		int8x16_t wv[4] = {vld1q_s8(w), vld1q_s8(w + 16), vld1q_s8(w + 32),
		                   vld1q_s8(w + 48)};
		for (size_t r = 0; r < rows; r++) {
			int8x16_t xx = x_group(x + r * ldx + g * INT8_KG);
			for (int i = 0; i < 4; i++) {
				a[r][2 * i] = vpadalq_s16(
				    a[r][2 * i], vmull_s8(vget_low_s8(wv[i]), vget_low_s8(xx)));
				a[r][2 * i + 1] =
				    vpadalq_s16(a[r][2 * i + 1], vmull_high_s8(wv[i], xx));
			}
		}
	}
	for (size_t r = 0; r < rows; r++)
		for (int i = 0; i < 4; i++)
			vst1q_s32(acc + r * NEON_NR + 4 * i,
			          vpaddq_s32(a[r][2 * i], a[r][2 * i + 1]));
}

static void neon_block(const int8_t *x, size_t ldx, size_t mr, const int8_t *panel, size_t kg,
                       const int32_t *comp, int32_t *acc, const int8_t *pf)
{
	(void)pf;   /* kc = 0: no slices to prefetch between */
	(void)comp; /* signed x signed: no offset */
	if (mr == NEON_MR)
		neon_tile(x, ldx, panel, kg, acc, NEON_MR);
	else
		neon_tile(x, ldx, panel, kg, acc, 1);
}

/* ---- dot product ---- */

#define DOT_FN QKV_ISA("arch=armv8.2-a+dotprod")

/* a[r][i] += columns 4i..4i+3 of group j (w) times lane j of xr[r] */
#define DOT_GROUP(j, w)                                                                            \
	do {                                                                                       \
		int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8((w) + 16), w2 = vld1q_s8((w) + 32),      \
		          w3 = vld1q_s8((w) + 48);                                                 \
		for (size_t r = 0; r < rows; r++) {                                                \
			a[r][0] = vdotq_laneq_s32(a[r][0], w0, xr[r], j);                          \
			a[r][1] = vdotq_laneq_s32(a[r][1], w1, xr[r], j);                          \
			a[r][2] = vdotq_laneq_s32(a[r][2], w2, xr[r], j);                          \
			a[r][3] = vdotq_laneq_s32(a[r][3], w3, xr[r], j);                          \
		}                                                                                  \
	} while (0)

DOT_FN INLINE void dot_tile(const int8_t *x, size_t ldx, const int8_t *panel, size_t kg,
                            int32_t *acc, const size_t rows)
{
	int32x4_t a[DOT_MR][4];
	int8x16_t xr[DOT_MR];
	for (size_t r = 0; r < rows; r++)
		for (int i = 0; i < 4; i++)
			a[r][i] = vdupq_n_s32(0);
	size_t g = 0;
	for (; g + 4 <= kg; g += 4) { /* 4 groups: 16 bytes of each row */
		for (size_t r = 0; r < rows; r++)
			xr[r] = vld1q_s8(x + r * ldx + g * INT8_KG);
		const int8_t *w = panel + g * ROW_BYTES;
		DOT_GROUP(0, w);
		DOT_GROUP(1, w + ROW_BYTES);
		DOT_GROUP(2, w + 2 * ROW_BYTES);
		DOT_GROUP(3, w + 3 * ROW_BYTES);
	}
	for (; g < kg; g++) { /* the last 1..3 groups, one at a time */
		for (size_t r = 0; r < rows; r++)
			xr[r] = x_group(x + r * ldx + g * INT8_KG);
		DOT_GROUP(0, panel + g * ROW_BYTES);
	}
	for (size_t r = 0; r < rows; r++)
		for (int i = 0; i < 4; i++)
			vst1q_s32(acc + r * NEON_NR + 4 * i, a[r][i]);
}

DOT_FN static void dot_block(const int8_t *x, size_t ldx, size_t mr, const int8_t *panel, size_t kg,
                             const int32_t *comp, int32_t *acc, const int8_t *pf)
{
	(void)pf; /* kc = 0: no slices to prefetch between */
	(void)comp;
	switch (mr) {
	case 4:
		dot_tile(x, ldx, panel, kg, acc, 4);
		break;
	case 3:
		dot_tile(x, ldx, panel, kg, acc, 3);
		break;
	case 2:
		dot_tile(x, ldx, panel, kg, acc, 2);
		break;
	default:
		dot_tile(x, ldx, panel, kg, acc, 1);
		break;
	}
}

/* ---- int8 matrix multiply ---- */

#define MMLA_FN QKV_ISA("arch=armv8.2-a+i8mm")

/* Rows r and r + 1, k groups g and g + 1 (8 bytes each), as one 2 x 8 operand; a group
 * or a row that does not exist reads as zeros. */
INLINE int8x16_t x_pair(const int8_t *x, size_t ldx, size_t r, size_t rows, size_t g, size_t kg)
{
	int8_t t[16] = {0};
	size_t bytes = (g + 1 < kg ? 2 : 1) * INT8_KG;
	memcpy(t, x + r * ldx + g * INT8_KG, bytes);
	if (r + 1 < rows)
		memcpy(t + 8, x + (r + 1) * ldx + g * INT8_KG, bytes);
	return vld1q_s8(t);
}

/* c[p][j] = [r 2p x c 2j, r 2p x c 2j+1, r 2p+1 x c 2j, r 2p+1 x c 2j+1] */
MMLA_FN INLINE void mmla_tile(const int8_t *x, size_t ldx, const int8_t *panel, size_t kg,
                              int32_t *acc, const size_t rows)
{
	const size_t pairs = (rows + 1) / 2;
	int32x4_t c[MMLA_MR / 2][8];
	for (size_t p = 0; p < pairs; p++)
		for (int j = 0; j < 8; j++)
			c[p][j] = vdupq_n_s32(0);
	for (size_t g = 0; g < kg; g += 2) {
		const int8_t *w = panel + g * ROW_BYTES;
		int8x16_t b[8];
		for (int i = 0; i < 4; i++) { /* columns 4i..4i+3: [c][4 k] in each group */
			int32x4_t lo = vreinterpretq_s32_s8(vld1q_s8(w + 16 * i));
			int32x4_t hi = g + 1 < kg
			                   ? vreinterpretq_s32_s8(vld1q_s8(w + ROW_BYTES + 16 * i))
			                   : vdupq_n_s32(0);
			b[2 * i] = vreinterpretq_s8_s32(vzip1q_s32(lo, hi));     /* c 4i, 4i+1 */
			b[2 * i + 1] = vreinterpretq_s8_s32(vzip2q_s32(lo, hi)); /* c 4i+2, 4i+3 */
		}
		for (size_t p = 0; p < pairs; p++) {
			int8x16_t a = x_pair(x, ldx, 2 * p, rows, g, kg);
			for (int j = 0; j < 8; j++)
				c[p][j] = vmmlaq_s32(c[p][j], a, b[j]);
		}
	}
	for (size_t p = 0; p < pairs; p++)
		for (int j = 0; j < 8; j++) {
			vst1_s32(acc + 2 * p * NEON_NR + 2 * j, vget_low_s32(c[p][j]));
			if (2 * p + 1 < rows)
				vst1_s32(acc + (2 * p + 1) * NEON_NR + 2 * j,
				         vget_high_s32(c[p][j]));
		}
}

MMLA_FN static void mmla_block(const int8_t *x, size_t ldx, size_t mr, const int8_t *panel,
                               size_t kg, const int32_t *comp, int32_t *acc, const int8_t *pf)
{
	(void)pf; /* kc = 0: no slices to prefetch between */
	(void)comp;
	switch (mr) {
	case 4:
		mmla_tile(x, ldx, panel, kg, acc, 4);
		break;
	case 3:
		mmla_tile(x, ldx, panel, kg, acc, 3);
		break;
	case 2:
		mmla_tile(x, ldx, panel, kg, acc, 2);
		break;
	default:
		mmla_tile(x, ldx, panel, kg, acc, 1);
		break;
	}
}

static float neon_quantize(const float *v, size_t n, int8_t *q)
{
	return qkv_int8_quantize(v, n, q);
}

const struct int8_kernel int8_kernel_neon = {
    .desc = "smull + sadalp, int16 products widened exactly",
    .mr = NEON_MR,
    .nr = NEON_NR,
    .kc = 0,
    .x_mode = INT8_X_S8,
    .block = neon_block,
    .quantize = neon_quantize,
};
const struct int8_kernel int8_kernel_neon_dot = {
    .desc = "sdot by element, int32 lanes",
    .mr = DOT_MR,
    .nr = NEON_NR,
    .kc = 0,
    .x_mode = INT8_X_S8,
    .block = dot_block,
    .quantize = neon_quantize,
};
const struct int8_kernel int8_kernel_neon_i8mm = {
    .desc = "smmla 2x8 by 8x2 blocks, int32",
    .mr = MMLA_MR,
    .nr = NEON_NR,
    .kc = 0,
    .x_mode = INT8_X_S8,
    .block = mmla_block,
    .quantize = neon_quantize,
};

#endif
