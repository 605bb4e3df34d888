/* AVX2+FMA micro-kernels: a 6x16 GEMM tile (12 ymm accumulators, 2 weight loads and one
 * broadcast per k: 15 of 16 registers) and a 1..4-row matrix-vector kernel that streams
 * a packed panel once. Compiled for the baseline ISA with per-function target
 * attributes; dispatch.c calls them only after checking CPU and OS support. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels.h"

#define AVX2 __attribute__((target("avx2,fma")))
#define MR_AVX2 6
#ifndef GEMV_PF
#define GEMV_PF 512 /* floats ahead in the weight stream (2 KiB): hides memory latency */
#endif

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
		const float *a = acc + r * QKV_OMP_NR;
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
		__m256 a = _mm256_broadcast_ss(xp + (r));                                          \
		c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                                         \
		c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);                                         \
	} while (0)

AVX2 static void gemm_avx2(size_t kc, const float *xp, const float *wp, float *c, size_t ldc,
			   size_t m, size_t n, int first, const float *bias)
{
	__m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
	__m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
	/* C is read (or written) only after the k loop: fetch its lines now so the
	 * tile's loads and stores do not wait on L3 or memory. */
	for (size_t r = 0; r < m; r++) {
		_mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
		_mm_prefetch((const char *)(c + r * ldc + n - 1), _MM_HINT_T0);
	}
#pragma GCC unroll 4
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
		wp += QKV_OMP_NR;
	}
	if (m == MR_AVX2 && n == QKV_OMP_NR) {
		store_row(c, c00, c01, first, bias);
		store_row(c + ldc, c10, c11, first, bias);
		store_row(c + 2 * ldc, c20, c21, first, bias);
		store_row(c + 3 * ldc, c30, c31, first, bias);
		store_row(c + 4 * ldc, c40, c41, first, bias);
		store_row(c + 5 * ldc, c50, c51, first, bias);
		return;
	}
	float acc[MR_AVX2 * QKV_OMP_NR]; /* [6][16] */
	__m256 all[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
	for (int i = 0; i < 12; i++)
		_mm256_storeu_ps(acc + 8 * i, all[i]);
	store_edge(acc, c, ldc, m, n, first, bias);
}

/* R rows (compile-time after inlining) against one panel. With one or two rows the
 * FMA chains are split over even and odd k so latency does not limit the stream. */
AVX2 static inline __attribute__((always_inline)) void gemv_rows(size_t K, const float *x,
								  size_t ldx, const float *wp,
								  float *y, size_t ldy, const int R,
								  size_t n, const float *bias)
{
	__m256 acc[QKV_OMP_GEMV_MAX][2], odd[2][2];
	for (int r = 0; r < R; r++)
		acc[r][0] = acc[r][1] = _mm256_setzero_ps();
	for (int r = 0; r < 2; r++)
		odd[r][0] = odd[r][1] = _mm256_setzero_ps();
	size_t k = 0;
	if (R <= 2) {
		for (; k + 2 <= K; k += 2) {
			const float *w = wp + k * QKV_OMP_NR;
			_mm_prefetch((const char *)(w + GEMV_PF), _MM_HINT_T0);
			_mm_prefetch((const char *)(w + GEMV_PF + 16), _MM_HINT_T0);
			__m256 b0 = _mm256_load_ps(w), b1 = _mm256_load_ps(w + 8);
			__m256 b2 = _mm256_load_ps(w + 16), b3 = _mm256_load_ps(w + 24);
			for (int r = 0; r < R; r++) {
				__m256 a0 = _mm256_broadcast_ss(x + r * ldx + k);
				__m256 a1 = _mm256_broadcast_ss(x + r * ldx + k + 1);
				acc[r][0] = _mm256_fmadd_ps(a0, b0, acc[r][0]);
				acc[r][1] = _mm256_fmadd_ps(a0, b1, acc[r][1]);
				odd[r][0] = _mm256_fmadd_ps(a1, b2, odd[r][0]);
				odd[r][1] = _mm256_fmadd_ps(a1, b3, odd[r][1]);
			}
		}
	}
	for (; k < K; k++) {
		const float *w = wp + k * QKV_OMP_NR;
		_mm_prefetch((const char *)(w + GEMV_PF), _MM_HINT_T0);
		__m256 b0 = _mm256_load_ps(w), b1 = _mm256_load_ps(w + 8);
		for (int r = 0; r < R; r++) {
			__m256 a = _mm256_broadcast_ss(x + r * ldx + k);
			acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
			acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
		}
	}
	for (int r = 0; r < R; r++) {
		__m256 lo = acc[r][0], hi = acc[r][1];
		if (R <= 2) {
			lo = _mm256_add_ps(lo, odd[r][0]);
			hi = _mm256_add_ps(hi, odd[r][1]);
		}
		float *yr = y + r * ldy;
		if (n == QKV_OMP_NR) {
			store_row(yr, lo, hi, 1, bias);
			continue;
		}
		float tmp[QKV_OMP_NR]; /* [NR] */
		_mm256_storeu_ps(tmp, lo);
		_mm256_storeu_ps(tmp + 8, hi);
		store_edge(tmp, yr, ldy, 1, n, 1, bias);
	}
}

AVX2 static void gemv_avx2(size_t K, const float *x, size_t ldx, const float *wp, float *y,
			   size_t ldy, size_t m, size_t n, const float *bias)
{
	switch (m) {
	case 1:
		gemv_rows(K, x, ldx, wp, y, ldy, 1, n, bias);
		break;
	case 2:
		gemv_rows(K, x, ldx, wp, y, ldy, 2, n, bias);
		break;
	case 3:
		gemv_rows(K, x, ldx, wp, y, ldy, 3, n, bias);
		break;
	default:
		gemv_rows(K, x, ldx, wp, y, ldy, 4, n, bias);
		break;
	}
}

const struct omp_kernels qkv_omp_kernels_avx2 = {
	.name = "avx2+fma 6x16",
	.mr = MR_AVX2,
	.gemm = gemm_avx2,
	.gemv = gemv_avx2,
};
#endif
