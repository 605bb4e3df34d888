/* AVX-512F micro-kernels: an MR_512 x 32 GEMM tile (2 zmm of weights per k, one
 * broadcast of X per row, MR_512 x 2 zmm accumulators) and a 1..4-row matrix-vector
 * kernel on zmm that streams a packed 32-column panel once (f32, or bf16 widened in
 * registers). Why this tile: README.md, "AVX-512 tile". Compiled for the baseline ISA
 * with per-function target attributes; dispatch.c calls them only after checking that
 * the CPU has avx512f and the OS saves ZMM and opmask state. The tests also build this
 * file through SIMDe (-DQKV_SIMDE, ../simd_compat.h) as qkv_omp_kernels_avx512_simde.
 * Edges: rows < MR_512 are a tile of M rows (M constant), columns < 32 use masked loads
 * and stores (SIMDe 0.7.4 lacks them: ../simd_compat.h gives the emulated build a shim). */
#include "../simd_compat.h"
#if QKV_SIMD_BUILD
#include "kernels.h"

#define AVX512 QKV_ISA("avx512f")
#ifndef MR_512
#define MR_512 8 /* rows of the GEMM tile (<= 14) */
#endif
#define NR_512 32  /* columns: 2 zmm */
#define KC_512 512 /* a 64 KiB weight slice, read from L2: README "AVX-512 tile" */
/* The tall tile for large T (README "AVX-512 tile"): 12 rows, K slices of 4096 (C is written
 * once on layers up to 4096 wide, not read back; a 512 KiB weight slice read from L2) and X
 * blocks of 144 rows. */
#ifndef MR_TALL
#define MR_TALL 12
#endif
#define KC_TALL 4096
#define MC_TALL 144
#define TALL_FROM 48 /* T from which the tall tile is used: a T = 16 batch stays 2 x 8 */

/* Store one full row of a tile: first -> acc (+bias), else C += acc. */
AVX512 static inline void store_row(float *y, __m512 lo, __m512 hi, int first, const float *bias)
{
	if (first) {
		if (bias) {
			lo = _mm512_add_ps(lo, _mm512_loadu_ps(bias));
			hi = _mm512_add_ps(hi, _mm512_loadu_ps(bias + 16));
		}
	} else {
		lo = _mm512_add_ps(lo, _mm512_loadu_ps(y));
		hi = _mm512_add_ps(hi, _mm512_loadu_ps(y + 16));
	}
	_mm512_storeu_ps(y, lo);
	_mm512_storeu_ps(y + 16, hi);
}

/* The same for a row with n < 32 valid columns: masked loads and stores touch only
 * columns < n (no local tile: ASan's fake stack does not keep 64-byte alignment). */
AVX512 static inline void store_row_part(float *y, __m512 lo, __m512 hi, size_t n, int first,
                                         const float *bias)
{
	uint16_t m0 = (uint16_t)(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
	uint16_t m1 = (uint16_t)(n <= 16 ? 0u : (n >= 32 ? 0xFFFFu : (1u << (n - 16)) - 1u));
	if (first) {
		if (bias) {
			lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(m0, bias));
			hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(m1, bias + 16));
		}
	} else {
		lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(m0, y));
		hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(m1, y + 16));
	}
	_mm512_mask_storeu_ps(y, m0, lo);
	_mm512_mask_storeu_ps(y + 16, m1, hi);
}

/* Rows 0..13: accumulators c<r>0 (columns 0-15) and c<r>1 (16-31). Rows at or past M
 * compile away (M is a constant after inlining). */
#define ROW_FMA(r)                                                                                 \
	do {                                                                                       \
		if (M > (r)) {                                                                     \
			__m512 a = _mm512_set1_ps(xp[(r)]);                                        \
			c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                                 \
			c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);                                 \
		}                                                                                  \
	} while (0)
#define ROW_STORE(r)                                                                               \
	do {                                                                                       \
		if (M > (r))                                                                       \
			store_row(c + (r)*ldc, c##r##0, c##r##1, first, bias);                     \
	} while (0)
#define ROW_STORE_PART(r)                                                                          \
	do {                                                                                       \
		if (M > (r))                                                                       \
			store_row_part(c + (r)*ldc, c##r##0, c##r##1, n, first, bias);             \
	} while (0)
#define ALL_ROWS(X)                                                                                \
	X(0);                                                                                      \
	X(1);                                                                                      \
	X(2);                                                                                      \
	X(3);                                                                                      \
	X(4);                                                                                      \
	X(5);                                                                                      \
	X(6);                                                                                      \
	X(7);                                                                                      \
	X(8);                                                                                      \
	X(9);                                                                                      \
	X(10);                                                                                     \
	X(11);                                                                                     \
	X(12);                                                                                     \
	X(13)

/* An M-row tile; xp keeps the packed stride of MR floats per k (the tile height X was
 * packed for: MR_512, or MR_TALL for the tall tile). */
AVX512 static inline __attribute__((always_inline)) void
gemm_tile(size_t kc, const float *xp, const float *wp, float *c, size_t ldc, const int M,
          const int MR, size_t n, int first, const float *bias, const char *pf, size_t pf_lines)
{
	__m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
	__m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00;
	__m512 c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00, c90 = c00, c91 = c00;
	__m512 c100 = c00, c101 = c00, c110 = c00, c111 = c00, c120 = c00, c121 = c00;
	__m512 c130 = c00, c131 = c00;
	/* C is read (or written) only after the k loop: fetch its lines now. */
	for (int r = 0; r < M; r++) {
		_mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
		_mm_prefetch((const char *)(c + r * ldc + n - 1), _MM_HINT_T0);
	}
	QKV_UNROLL(4)
	for (size_t k = 0; k < kc; k++) {
		/* The next panel's slice, one line per k: spread out, the prefetches do not
		 * queue behind each other (a burst of them at the tile start stalls). */
		if (k < pf_lines)
			_mm_prefetch(pf + 64 * k, _MM_HINT_T1);
		if (k + kc < pf_lines) /* one tile for the whole slice (T <= MR_512) */
			_mm_prefetch(pf + 64 * (k + kc), _MM_HINT_T1);
		__m512 b0 = _mm512_load_ps(wp);
		__m512 b1 = _mm512_load_ps(wp + 16);
		ALL_ROWS(ROW_FMA);
		xp += MR;
		wp += NR_512;
	}
	if (n == NR_512) {
		ALL_ROWS(ROW_STORE);
		return;
	}
	ALL_ROWS(ROW_STORE_PART);
}

#define TILE_CASE(m, MR)                                                                           \
	case m:                                                                                    \
		if ((MR) >= (m)) {                                                                 \
			gemm_tile(kc, xp, wp, c, ldc, (m) <= (MR) ? (m) : (MR), MR, n, first,      \
			          bias, pf, pf_lines);                                             \
			return;                                                                    \
		}                                                                                  \
		break

/* Tiles of MR rows (m < MR: an m-row tile, its FMAs only). */
#define GEMM_BODY(MR)                                                                              \
	switch (m) {                                                                               \
		TILE_CASE(1, MR);                                                                  \
		TILE_CASE(2, MR);                                                                  \
		TILE_CASE(3, MR);                                                                  \
		TILE_CASE(4, MR);                                                                  \
		TILE_CASE(5, MR);                                                                  \
		TILE_CASE(6, MR);                                                                  \
		TILE_CASE(7, MR);                                                                  \
		TILE_CASE(8, MR);                                                                  \
		TILE_CASE(9, MR);                                                                  \
		TILE_CASE(10, MR);                                                                 \
		TILE_CASE(11, MR);                                                                 \
		TILE_CASE(12, MR);                                                                 \
		TILE_CASE(13, MR);                                                                 \
	default:                                                                                   \
		break;                                                                             \
	}                                                                                          \
	gemm_tile(kc, xp, wp, c, ldc, MR, MR, n, first, bias, pf, pf_lines)

AVX512 static void gemm_avx512(size_t kc, const float *xp, const float *wp, float *c, size_t ldc,
                               size_t m, size_t n, int first, const float *bias, const char *pf,
                               size_t pf_lines)
{
	GEMM_BODY(MR_512);
}

AVX512 static void gemm_tall_avx512(size_t kc, const float *xp, const float *wp, float *c,
                                    size_t ldc, size_t m, size_t n, int first, const float *bias,
                                    const char *pf, size_t pf_lines)
{
	GEMM_BODY(MR_TALL);
}

/* Row k of a panel as two zmm: f32 loads, or bf16 widened (zero-extend, shift by 16). */
AVX512 static inline __attribute__((always_inline)) void
panel_row(const void *wp, size_t k, const int bf16, __m512 *b0, __m512 *b1)
{
	if (bf16) {
		__m512i v = _mm512_load_si512((const void *)((const uint16_t *)wp + k * NR_512));
		__m512i lo = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(v));
		__m512i hi = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(v, 1));
		*b0 = _mm512_castsi512_ps(_mm512_slli_epi32(lo, 16));
		*b1 = _mm512_castsi512_ps(_mm512_slli_epi32(hi, 16));
	} else {
		*b0 = _mm512_load_ps((const float *)wp + k * NR_512);
		*b1 = _mm512_load_ps((const float *)wp + k * NR_512 + 16);
	}
}

/* Row r's sums into y (+bias): lo/hi columns 0-15/16-31. */
AVX512 static inline void gemv_store(float *yr, __m512 lo, __m512 hi, size_t n, const float *bias)
{
	if (n == NR_512)
		store_row(yr, lo, hi, 1, bias);
	else
		store_row_part(yr, lo, hi, n, 1, bias);
}

/* One or two rows against one panel, reading it as 4/R concurrent streams (K cut into
 * segments with their own accumulators), as the AVX2 kernel does: more requests in
 * flight is what limits T = 1 and 2. */
AVX512 static inline __attribute__((always_inline)) void
gemv_streams(size_t K, const float *x, size_t ldx, const void *wp, const int bf16, float *y,
             size_t ldy, const int R, size_t n, const float *bias)
{
	const int S = R == 1 ? 4 : 2;
	const size_t seg = K / (size_t)S;
	const float *x0 = x, *x1 = R > 1 ? x + ldx : x;
	__m512 l0 = _mm512_setzero_ps(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0,
	       h3 = l0;
	for (size_t k = 0; k < seg; k++) {
		__m512 b0, b1, b2, b3;
		panel_row(wp, k, bf16, &b0, &b1);
		panel_row(wp, k + seg, bf16, &b2, &b3);
		__m512 a = _mm512_set1_ps(x0[k]);
		l0 = _mm512_fmadd_ps(a, b0, l0);
		h0 = _mm512_fmadd_ps(a, b1, h0);
		a = _mm512_set1_ps(x0[k + seg]);
		l1 = _mm512_fmadd_ps(a, b2, l1);
		h1 = _mm512_fmadd_ps(a, b3, h1);
		if (R == 1) {
			size_t k2 = k + 2 * seg, k3 = k + 3 * seg;
			panel_row(wp, k2, bf16, &b0, &b1);
			panel_row(wp, k3, bf16, &b2, &b3);
			a = _mm512_set1_ps(x0[k2]);
			l2 = _mm512_fmadd_ps(a, b0, l2);
			h2 = _mm512_fmadd_ps(a, b1, h2);
			a = _mm512_set1_ps(x0[k3]);
			l3 = _mm512_fmadd_ps(a, b2, l3);
			h3 = _mm512_fmadd_ps(a, b3, h3);
		} else {
			a = _mm512_set1_ps(x1[k]);
			l2 = _mm512_fmadd_ps(a, b0, l2);
			h2 = _mm512_fmadd_ps(a, b1, h2);
			a = _mm512_set1_ps(x1[k + seg]);
			l3 = _mm512_fmadd_ps(a, b2, l3);
			h3 = _mm512_fmadd_ps(a, b3, h3);
		}
	}
	for (size_t k = (size_t)S * seg; k < K; k++) { /* the K % S remainder */
		__m512 b0, b1;
		panel_row(wp, k, bf16, &b0, &b1);
		__m512 a = _mm512_set1_ps(x0[k]);
		l0 = _mm512_fmadd_ps(a, b0, l0);
		h0 = _mm512_fmadd_ps(a, b1, h0);
		if (R == 2) {
			a = _mm512_set1_ps(x1[k]);
			l2 = _mm512_fmadd_ps(a, b0, l2);
			h2 = _mm512_fmadd_ps(a, b1, h2);
		}
	}
	if (R == 1) {
		gemv_store(y, _mm512_add_ps(_mm512_add_ps(l0, l1), _mm512_add_ps(l2, l3)),
		           _mm512_add_ps(_mm512_add_ps(h0, h1), _mm512_add_ps(h2, h3)), n, bias);
		return;
	}
	gemv_store(y, _mm512_add_ps(l0, l1), _mm512_add_ps(h0, h1), n, bias);
	gemv_store(y + ldy, _mm512_add_ps(l2, l3), _mm512_add_ps(h2, h3), n, bias);
}

#define GEMV_FMA(r, xr, b0, b1, lo, hi)                                                            \
	do {                                                                                       \
		if (R > (r)) {                                                                     \
			__m512 a = _mm512_set1_ps((xr)[k]);                                        \
			lo = _mm512_fmadd_ps(a, b0, lo);                                           \
			hi = _mm512_fmadd_ps(a, b1, hi);                                           \
		}                                                                                  \
	} while (0)

/* Three or four rows against one panel: 6-8 independent chains, one stream. */
AVX512 static inline __attribute__((always_inline)) void
gemv_rows(size_t K, const float *x, size_t ldx, const void *wp, const int bf16, float *y,
          size_t ldy, const int R, size_t n, const float *bias)
{
	const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx, *x3 = R > 3 ? x + 3 * ldx : x;
	__m512 l0 = _mm512_setzero_ps(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0,
	       h3 = l0;
	for (size_t k = 0; k < K; k++) {
		__m512 b0, b1;
		panel_row(wp, k, bf16, &b0, &b1);
		GEMV_FMA(0, x0, b0, b1, l0, h0);
		GEMV_FMA(1, x1, b0, b1, l1, h1);
		GEMV_FMA(2, x2, b0, b1, l2, h2);
		GEMV_FMA(3, x3, b0, b1, l3, h3);
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

AVX512 static void gemv_avx512(size_t K, const float *x, size_t ldx, const float *wp, float *y,
                               size_t ldy, size_t m, size_t n,
                               const float *bias){GEMV_SWITCH(wp, 0)}

AVX512 static void gemv_bf16_avx512(size_t K, const float *x, size_t ldx, const uint16_t *wb,
                                    float *y, size_t ldy, size_t m, size_t n, const float *bias)
{
	GEMV_SWITCH(wb, 1)
}

#define STR2(x) #x
#define STR(x) STR2(x)
const struct ompb_kernels qkv_omp_kernels_avx512 = {
    .name =
        QKV_SIMD_EMULATED
            ? "avx512f " STR(MR_512) "x32, " STR(MR_TALL) "x32 from T = " STR(TALL_FROM) " (SIMDe)"
            : "avx512f " STR(MR_512) "x32, " STR(MR_TALL) "x32 from T = " STR(TALL_FROM),
    .mr = MR_512,
    .nr = NR_512,
    .kc = KC_512,
    .prefetches = 1,
    .gemm = gemm_avx512,
    .tall = {.mr = MR_TALL,
             .kc = KC_TALL,
             .mc = MC_TALL,
             .from_T = TALL_FROM,
             .gemm = gemm_tall_avx512},
    .gemv = gemv_avx512,
    .gemv_bf16 = gemv_bf16_avx512,
};
#endif
