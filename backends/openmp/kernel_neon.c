/* aarch64 NEON micro-kernels: an 8x12 GEMM tile (24 q-register accumulators, 3 weight
 * loads and 2 loads of 4 packed x values per k, fmla by element: 29 of 32 registers, the
 * shape ARM's own sgemm kernels use) and a 1..4-row matrix-vector kernel over the same
 * 12-column panels. NEON (fmla) is in every aarch64 CPU, so this set needs no HWCAP bit
 * beyond asimd. The tests also build this file through SIMDe (-DQKV_SIMDE,
 * ../simd_compat.h) as qkv_omp_kernels_neon_simde, run on any CPU.
 * Speed on ARM hardware: not yet measured (no ARM machine here).
 */
#include "../simd_compat.h"
#if QKV_NEON_BUILD
#include <string.h>

#include "kernels.h"

#define MR_NEON 8
#define NR_NEON 12

/* Only rows < m and columns < n of C are touched: the edge tiles (T % 8 rows, the last
 * panel's N % 12 columns) go through this. */
static void store_edge(const float *acc, float *c, size_t ldc, size_t m, size_t n, int first,
                       const float *bias)
{
	for (size_t r = 0; r < m; r++) {
		float *y = c + r * ldc;
		const float *a = acc + r * NR_NEON;
		for (size_t j = 0; j < n; j++) {
			if (!first)
				y[j] += a[j];
			else
				y[j] = bias ? a[j] + bias[j] : a[j];
		}
	}
}

/* One full row of a tile: first -> acc (+bias), else C += acc. */
static inline void store_row(float *y, float32x4_t a0, float32x4_t a1, float32x4_t a2, int first,
                             const float *bias)
{
	if (!first) {
		a0 = vaddq_f32(a0, vld1q_f32(y));
		a1 = vaddq_f32(a1, vld1q_f32(y + 4));
		a2 = vaddq_f32(a2, vld1q_f32(y + 8));
	} else if (bias) {
		a0 = vaddq_f32(a0, vld1q_f32(bias));
		a1 = vaddq_f32(a1, vld1q_f32(bias + 4));
		a2 = vaddq_f32(a2, vld1q_f32(bias + 8));
	}
	vst1q_f32(y, a0);
	vst1q_f32(y + 4, a1);
	vst1q_f32(y + 8, a2);
}

static void gemm_neon(size_t kc, const float *xp, const float *wp, float *c, size_t ldc, size_t m,
                      size_t n, int first, const float *bias, const char *pf, size_t pf_lines)
{
	(void)pf; /* the driver prefetches for this set */
	(void)pf_lines;
	float32x4_t acc[MR_NEON][3];
	for (int r = 0; r < MR_NEON; r++)
		acc[r][0] = acc[r][1] = acc[r][2] = vdupq_n_f32(0.0f);
	for (size_t k = 0; k < kc; k++) {
		const float *w = wp + k * NR_NEON;
		float32x4_t b0 = vld1q_f32(w), b1 = vld1q_f32(w + 4), b2 = vld1q_f32(w + 8);
		float32x4_t xl = vld1q_f32(xp + k * MR_NEON), xh = vld1q_f32(xp + k * MR_NEON + 4);
#define ROW(r, xv, lane)                                                                           \
	do {                                                                                       \
		acc[r][0] = vfmaq_laneq_f32(acc[r][0], b0, xv, lane);                              \
		acc[r][1] = vfmaq_laneq_f32(acc[r][1], b1, xv, lane);                              \
		acc[r][2] = vfmaq_laneq_f32(acc[r][2], b2, xv, lane);                              \
	} while (0)
		ROW(0, xl, 0);
		ROW(1, xl, 1);
		ROW(2, xl, 2);
		ROW(3, xl, 3);
		ROW(4, xh, 0);
		ROW(5, xh, 1);
		ROW(6, xh, 2);
		ROW(7, xh, 3);
#undef ROW
	}
	if (m == MR_NEON && n == NR_NEON) {
		for (int r = 0; r < MR_NEON; r++)
			store_row(c + (size_t)r * ldc, acc[r][0], acc[r][1], acc[r][2], first,
			          bias);
		return;
	}
	float tile[MR_NEON * NR_NEON]; /* [mr][nr] */
	for (int r = 0; r < MR_NEON; r++)
		for (int j = 0; j < 3; j++)
			vst1q_f32(tile + r * NR_NEON + 4 * j, acc[r][j]);
	store_edge(tile, c, ldc, m, n, first, bias);
}

/* One panel row k as three f32 vectors; bf16 panels widen (f32 bits = bf16 << 16). */
static inline void panel_row(const void *wp, size_t k, int bf16, float32x4_t b[3])
{
	if (!bf16) {
		const float *w = (const float *)wp + k * NR_NEON;
		b[0] = vld1q_f32(w);
		b[1] = vld1q_f32(w + 4);
		b[2] = vld1q_f32(w + 8);
		return;
	}
	const uint16_t *w = (const uint16_t *)wp + k * NR_NEON;
	for (int j = 0; j < 3; j++)
		b[j] = vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(w + 4 * j), 16));
}

/* y rows < m (1..4) = x rows . panel (+bias), columns < n. */
static void gemv_any(size_t K, const float *x, size_t ldx, const void *wp, int bf16, float *y,
                     size_t ldy, size_t m, size_t n, const float *bias)
{
	float32x4_t acc[QKV_OMP_GEMV_MAX][3];
	for (size_t r = 0; r < m; r++)
		acc[r][0] = acc[r][1] = acc[r][2] = vdupq_n_f32(0.0f);
	for (size_t k = 0; k < K; k++) {
		float32x4_t b[3];
		panel_row(wp, k, bf16, b);
		for (size_t r = 0; r < m; r++) {
			float32x4_t a = vdupq_n_f32(x[r * ldx + k]);
			for (int j = 0; j < 3; j++)
				acc[r][j] = vfmaq_f32(acc[r][j], a, b[j]);
		}
	}
	float row[NR_NEON];
	for (size_t r = 0; r < m; r++) {
		for (int j = 0; j < 3; j++)
			vst1q_f32(row + 4 * j, acc[r][j]);
		store_edge(row, y + r * ldy, 0, 1, n, 1, bias);
	}
}

static void gemv_neon(size_t K, const float *x, size_t ldx, const float *wp, float *y, size_t ldy,
                      size_t m, size_t n, const float *bias)
{
	gemv_any(K, x, ldx, wp, 0, y, ldy, m, n, bias);
}

static void gemv_bf16_neon(size_t K, const float *x, size_t ldx, const uint16_t *wb, float *y,
                           size_t ldy, size_t m, size_t n, const float *bias)
{
	gemv_any(K, x, ldx, wb, 1, y, ldy, m, n, bias);
}

const struct ompb_kernels qkv_omp_kernels_neon = {
    .name = QKV_SIMD_EMULATED ? "neon fmla 8x12 (SIMDe)" : "neon fmla 8x12",
    .mr = MR_NEON,
    .nr = NR_NEON,
    .kc = 256, /* 12 KiB panel slice */
    .gemm = gemm_neon,
    .gemv = gemv_neon,
    .gemv_bf16 = gemv_bf16_neon,
};
#endif
