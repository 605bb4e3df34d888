/* Portable C micro-kernels with the same packing as the SIMD ones: the fallback on
 * CPUs without AVX2+FMA and on other architectures. The fixed-size inner loops let
 * the compiler vectorise with the baseline ISA. */
#include <string.h>

#include "kernels.h"

#define MR_C 4
#define NR_C 16

static void gemm_c(size_t kc, const float *xp, const float *wp, float *c, size_t ldc, size_t m,
                   size_t n, int first, const float *bias, const char *pf, size_t pf_lines)
{
	(void)pf; /* the driver prefetches for this set */
	(void)pf_lines;
	float acc[MR_C][NR_C] = {{0}}; /* [mr][NR] */
	for (size_t k = 0; k < kc; k++) {
		const float *w = wp + k * NR_C;
		for (int r = 0; r < MR_C; r++) {
			float a = xp[k * MR_C + r];
			for (int j = 0; j < NR_C; j++)
				acc[r][j] += a * w[j];
		}
	}
	for (size_t r = 0; r < m; r++) {
		float *y = c + r * ldc;
		for (size_t j = 0; j < n; j++) {
			if (!first)
				y[j] += acc[r][j];
			else
				y[j] = bias ? acc[r][j] + bias[j] : acc[r][j];
		}
	}
}

static void gemv_c(size_t K, const float *x, size_t ldx, const float *wp, float *y, size_t ldy,
                   size_t m, size_t n, const float *bias)
{
	for (size_t r = 0; r < m; r++) {
		float acc[NR_C] = {0};
		const float *xr = x + r * ldx;
		for (size_t k = 0; k < K; k++) {
			const float *w = wp + k * NR_C;
			for (int j = 0; j < NR_C; j++)
				acc[j] += xr[k] * w[j];
		}
		float *yr = y + r * ldy;
		for (size_t j = 0; j < n; j++)
			yr[j] = bias ? acc[j] + bias[j] : acc[j];
	}
}

static void gemv_bf16_c(size_t K, const float *x, size_t ldx, const uint16_t *wb, float *y,
                        size_t ldy, size_t m, size_t n, const float *bias)
{
	for (size_t r = 0; r < m; r++) {
		float acc[NR_C] = {0};
		const float *xr = x + r * ldx;
		for (size_t k = 0; k < K; k++) {
			const uint16_t *w = wb + k * NR_C;
			for (int j = 0; j < NR_C; j++) {
				uint32_t u = (uint32_t)w[j] << 16;
				float f;
				memcpy(&f, &u, sizeof(f));
				acc[j] += xr[k] * f;
			}
		}
		float *yr = y + r * ldy;
		for (size_t j = 0; j < n; j++)
			yr[j] = bias ? acc[j] + bias[j] : acc[j];
	}
}

const struct ompb_kernels qkv_omp_kernels_c = {
    .name = "portable C 4x16",
    .mr = MR_C,
    .nr = NR_C,
    .kc = 256, /* 16 KiB panel slice */
    .gemm = gemm_c,
    .gemv = gemv_c,
    .gemv_bf16 = gemv_bf16_c,
};
