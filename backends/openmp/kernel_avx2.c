/* AVX2+FMA micro-kernels: a 6x16 GEMM tile (12 ymm accumulators, 2 weight loads and one
 * broadcast per k: 15 of 16 registers) and a 1..4-row matrix-vector kernel that streams
 * a packed panel once. Compiled for the baseline ISA with per-function target
 * attributes; dispatch.c calls them only after checking CPU and OS support. The tests
 * also build this file through SIMDe (-DQKV_SIMDE, ../simd_compat.h) into
 * openmp_simde_test.so, run on any CPU. */
#include "../simd_compat.h"
#if QKV_SIMD_BUILD
#include "kernels.h"

#define AVX2 QKV_ISA("avx2,fma")
#define MR_AVX2 6
#define NR_AVX2 16

/* Store one row of a tile: first -> acc (+bias), else C += acc. Full 16 columns. */
AVX2 static inline void store_row(float *y, __m256 lo, __m256 hi, int first, const float *bias)
{
	if (first) {
		if (bias) {
			lo = _mm256_add_ps(lo, _mm256_loadu_ps(bias));
			hi = _mm256_add_ps(hi, _mm256_loadu_ps(bias + 8));
		}
	} else {
		lo = _mm256_add_ps(lo, _mm256_loadu_ps(y));
		hi = _mm256_add_ps(hi, _mm256_loadu_ps(y + 8));
	}
	_mm256_storeu_ps(y, lo);
	_mm256_storeu_ps(y + 8, hi);
}

/* Edge tile: only rows < m and columns < n of C are touched. */
static void store_edge(const float *acc, float *c, size_t ldc, size_t m, size_t n, int first,
                       const float *bias)
{
	for (size_t r = 0; r < m; r++) {
		float *y = c + r * ldc;
		const float *a = acc + r * NR_AVX2;
		for (size_t j = 0; j < n; j++) {
			if (!first)
				y[j] += a[j];
			else
				y[j] = bias ? a[j] + bias[j] : a[j];
		}
	}
}

#define ROW_FMA(r)                                                                                 \
	do {                                                                                       \
		if (M > (r)) {                                                                     \
			__m256 a = _mm256_broadcast_ss(xp + (r));                                  \
			c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                                 \
			c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);                                 \
		}                                                                                  \
	} while (0)

/* An M-row tile (M a constant after inlining: edge tiles of T % 6 rows do only their
 * own FMAs). xp keeps the packed stride of 6 floats per k. */
AVX2 static inline __attribute__((always_inline)) void gemm_tile(size_t kc, const float *xp,
                                                                 const float *wp, float *c,
                                                                 size_t ldc, const int M, size_t n,
                                                                 int first, const float *bias)
{
	__m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
	__m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
	/* C is read (or written) only after the k loop: fetch its lines now so the
	 * tile's loads and stores do not wait on L3 or memory. */
	for (int r = 0; r < M; r++) {
		_mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
		_mm_prefetch((const char *)(c + r * ldc + n - 1), _MM_HINT_T0);
	}
	QKV_UNROLL(4)
	for (size_t k = 0; k < kc; k++) {
		__m256 b0 = _mm256_load_ps(wp);
		__m256 b1 = _mm256_load_ps(wp + 8);
		ROW_FMA(0);
		ROW_FMA(1);
		ROW_FMA(2);
		ROW_FMA(3);
		ROW_FMA(4);
		ROW_FMA(5);
		xp += MR_AVX2;
		wp += NR_AVX2;
	}
	if (M == MR_AVX2 && n == NR_AVX2) {
		store_row(c, c00, c01, first, bias);
		store_row(c + ldc, c10, c11, first, bias);
		store_row(c + 2 * ldc, c20, c21, first, bias);
		store_row(c + 3 * ldc, c30, c31, first, bias);
		store_row(c + 4 * ldc, c40, c41, first, bias);
		store_row(c + 5 * ldc, c50, c51, first, bias);
		return;
	}
	float acc[MR_AVX2 * NR_AVX2]; /* [6][16] */
#define ROW_SPILL(r)                                                                               \
	if (M > (r)) {                                                                             \
		_mm256_storeu_ps(acc + 16 * (r), c##r##0);                                         \
		_mm256_storeu_ps(acc + 16 * (r) + 8, c##r##1);                                     \
	}
	ROW_SPILL(0)
	ROW_SPILL(1)
	ROW_SPILL(2)
	ROW_SPILL(3)
	ROW_SPILL(4)
	ROW_SPILL(5)
#undef ROW_SPILL
	store_edge(acc, c, ldc, (size_t)M, n, first, bias);
}

AVX2 static void gemm_avx2(size_t kc, const float *xp, const float *wp, float *c, size_t ldc,
                           size_t m, size_t n, int first, const float *bias, const char *pf,
                           size_t pf_lines)
{
	(void)pf; /* the driver prefetches for this set */
	(void)pf_lines;
	switch (m) {
	case 1:
		gemm_tile(kc, xp, wp, c, ldc, 1, n, first, bias);
		break;
	case 2:
		gemm_tile(kc, xp, wp, c, ldc, 2, n, first, bias);
		break;
	case 3:
		gemm_tile(kc, xp, wp, c, ldc, 3, n, first, bias);
		break;
	case 4:
		gemm_tile(kc, xp, wp, c, ldc, 4, n, first, bias);
		break;
	case 5:
		gemm_tile(kc, xp, wp, c, ldc, 5, n, first, bias);
		break;
	default:
		gemm_tile(kc, xp, wp, c, ldc, 6, n, first, bias);
		break;
	}
}

/* Row k of a panel as two ymm: f32 loads, or bf16 widened by a 16-bit shift. */
AVX2 static inline __attribute__((always_inline)) void
panel_row(const void *wp, size_t k, const int bf16, __m256 *b0, __m256 *b1)
{
	if (bf16) {
		__m256i v = _mm256_load_si256((const __m256i *)((const uint16_t *)wp + k * 16));
		__m256i lo = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(v));
		__m256i hi = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(v, 1));
		*b0 = _mm256_castsi256_ps(_mm256_slli_epi32(lo, 16));
		*b1 = _mm256_castsi256_ps(_mm256_slli_epi32(hi, 16));
	} else {
		*b0 = _mm256_load_ps((const float *)wp + k * 16);
		*b1 = _mm256_load_ps((const float *)wp + k * 16 + 8);
	}
}

/* Row r's partial sums into y (+bias): lo/hi columns 0-7/8-15. */
AVX2 static inline void gemv_store(float *yr, __m256 lo, __m256 hi, size_t n, const float *bias)
{
	if (n == NR_AVX2) {
		store_row(yr, lo, hi, 1, bias);
		return;
	}
	float tmp[NR_AVX2]; /* [NR] */
	_mm256_storeu_ps(tmp, lo);
	_mm256_storeu_ps(tmp + 8, hi);
	store_edge(tmp, yr, 0, 1, n, 1, bias);
}

#define GEMV_FMA(r, a, b0, b1, lo, hi)                                                             \
	do {                                                                                       \
		if (R > (r)) {                                                                     \
			lo = _mm256_fmadd_ps(a, b0, lo);                                           \
			hi = _mm256_fmadd_ps(a, b1, hi);                                           \
		}                                                                                  \
	} while (0)

/* One or two rows against one panel, reading the panel as 4/R streams at once (K cut
 * into segments, each with its own accumulators): several concurrent streams keep
 * more memory requests in flight than one, which is what limits T = 1. No software
 * prefetch: measured, the hardware prefetchers do better on these streams alone
 * (prefetching 1-4 KiB ahead was 5-25 % slower). */
AVX2 static inline __attribute__((always_inline)) void
gemv_streams(size_t K, const float *x, size_t ldx, const void *wp, const int bf16, float *y,
             size_t ldy, const int R, size_t n, const float *bias)
{
	const int S = R == 1 ? 4 : 2; /* streams */
	const size_t seg = K / (size_t)S;
	const float *x0 = x, *x1 = R > 1 ? x + ldx : x;
	__m256 l0 = _mm256_setzero_ps(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0,
	       h3 = l0;
	for (size_t k = 0; k < seg; k++) {
		__m256 b0, b1, b2, b3;
		panel_row(wp, k, bf16, &b0, &b1);
		panel_row(wp, k + seg, bf16, &b2, &b3);
		__m256 a = _mm256_broadcast_ss(x0 + k);
		l0 = _mm256_fmadd_ps(a, b0, l0);
		h0 = _mm256_fmadd_ps(a, b1, h0);
		a = _mm256_broadcast_ss(x0 + k + seg);
		l1 = _mm256_fmadd_ps(a, b2, l1);
		h1 = _mm256_fmadd_ps(a, b3, h1);
		if (R == 1) { /* streams 3 and 4 */
			size_t k2 = k + 2 * seg, k3 = k + 3 * seg;
			panel_row(wp, k2, bf16, &b0, &b1);
			panel_row(wp, k3, bf16, &b2, &b3);
			a = _mm256_broadcast_ss(x0 + k2);
			l2 = _mm256_fmadd_ps(a, b0, l2);
			h2 = _mm256_fmadd_ps(a, b1, h2);
			a = _mm256_broadcast_ss(x0 + k3);
			l3 = _mm256_fmadd_ps(a, b2, l3);
			h3 = _mm256_fmadd_ps(a, b3, h3);
		} else { /* row 1 on the same two streams */
			a = _mm256_broadcast_ss(x1 + k);
			l2 = _mm256_fmadd_ps(a, b0, l2);
			h2 = _mm256_fmadd_ps(a, b1, h2);
			a = _mm256_broadcast_ss(x1 + k + seg);
			l3 = _mm256_fmadd_ps(a, b2, l3);
			h3 = _mm256_fmadd_ps(a, b3, h3);
		}
	}
	for (size_t k = (size_t)S * seg; k < K; k++) { /* the K % S remainder */
		__m256 b0, b1;
		panel_row(wp, k, bf16, &b0, &b1);
		__m256 a = _mm256_broadcast_ss(x0 + k);
		l0 = _mm256_fmadd_ps(a, b0, l0);
		h0 = _mm256_fmadd_ps(a, b1, h0);
		if (R == 2) {
			a = _mm256_broadcast_ss(x1 + k);
			l2 = _mm256_fmadd_ps(a, b0, l2);
			h2 = _mm256_fmadd_ps(a, b1, h2);
		}
	}
	if (R == 1) {
		gemv_store(y, _mm256_add_ps(_mm256_add_ps(l0, l1), _mm256_add_ps(l2, l3)),
		           _mm256_add_ps(_mm256_add_ps(h0, h1), _mm256_add_ps(h2, h3)), n, bias);
		return;
	}
	gemv_store(y, _mm256_add_ps(l0, l1), _mm256_add_ps(h0, h1), n, bias);
	gemv_store(y + ldy, _mm256_add_ps(l2, l3), _mm256_add_ps(h2, h3), n, bias);
}

/* Three or four rows against one panel: 6-8 independent chains, one stream. */
AVX2 static inline __attribute__((always_inline)) void
gemv_rows(size_t K, const float *x, size_t ldx, const void *wp, const int bf16, float *y,
          size_t ldy, const int R, size_t n, const float *bias)
{
	const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx, *x3 = R > 3 ? x + 3 * ldx : x;
	__m256 l0 = _mm256_setzero_ps(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0,
	       h3 = l0;
	for (size_t k = 0; k < K; k++) {
		__m256 b0, b1;
		panel_row(wp, k, bf16, &b0, &b1);
		GEMV_FMA(0, _mm256_broadcast_ss(x0 + k), b0, b1, l0, h0);
		GEMV_FMA(1, _mm256_broadcast_ss(x1 + k), b0, b1, l1, h1);
		GEMV_FMA(2, _mm256_broadcast_ss(x2 + k), b0, b1, l2, h2);
		GEMV_FMA(3, _mm256_broadcast_ss(x3 + k), b0, b1, l3, h3);
	}
	gemv_store(y, l0, h0, n, bias);
	gemv_store(y + ldy, l1, h1, n, bias);
	gemv_store(y + 2 * ldy, l2, h2, n, bias);
	if (R == 4)
		gemv_store(y + 3 * ldy, l3, h3, n, bias);
}

#define GEMV_SWITCH(wp, bf16)                                                                      \
	switch (m) {                                                                               \
	case 1:                                                                                    \
		gemv_streams(K, x, ldx, wp, bf16, y, ldy, 1, n, bias);                             \
		break;                                                                             \
	case 2:                                                                                    \
		gemv_streams(K, x, ldx, wp, bf16, y, ldy, 2, n, bias);                             \
		break;                                                                             \
	case 3:                                                                                    \
		gemv_rows(K, x, ldx, wp, bf16, y, ldy, 3, n, bias);                                \
		break;                                                                             \
	default:                                                                                   \
		gemv_rows(K, x, ldx, wp, bf16, y, ldy, 4, n, bias);                                \
		break;                                                                             \
	}

AVX2 static void gemv_avx2(size_t K, const float *x, size_t ldx, const float *wp, float *y,
                           size_t ldy, size_t m, size_t n, const float *bias){GEMV_SWITCH(wp, 0)}

AVX2 static void gemv_bf16_avx2(size_t K, const float *x, size_t ldx, const uint16_t *wb, float *y,
                                size_t ldy, size_t m, size_t n, const float *bias)
{
	GEMV_SWITCH(wb, 1)
}

const struct ompb_kernels qkv_omp_kernels_avx2 = {
    .name = QKV_SIMD_EMULATED ? "avx2+fma 6x16 (SIMDe)" : "avx2+fma 6x16",
    .mr = MR_AVX2,
    .nr = NR_AVX2,
    .kc = 256, /* 16 KiB panel slice */
    .gemm = gemm_avx2,
    .gemv = gemv_avx2,
    .gemv_bf16 = gemv_bf16_avx2,
};
#endif
