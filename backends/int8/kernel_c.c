/* Portable int8 kernel: plain int32 loops over the packed layout of kernel.h
 * (INT8_X_SIGN rows; the absolute values are not used here). */
#include "kernel.h"
#include <qkv/precision.h>

#define C_MR 4
#define C_NR 16
#define C_XG 8

static void c_block(const int8_t *x, size_t ldx, size_t mr, const int8_t *panel, size_t kg,
                    const int32_t *comp, int32_t *acc, const int8_t *pf)
{
	(void)pf;   /* kc = 0: no slices to prefetch between */
	(void)comp; /* INT8_X_SIGN: no offset */
	for (size_t i = 0; i < mr * C_NR; i++)
		acc[i] = 0;
	for (size_t g = 0; g < kg; g++) {
		const int8_t *w = panel + g * C_NR * INT8_KG; /* [C_NR][4] */
		for (size_t r = 0; r < mr; r++) {
			const int8_t *xr = x + r * ldx + g * C_XG; /* [4] values */
			int32_t *a = acc + r * C_NR;
			for (size_t c = 0; c < C_NR; c++) {
				const int8_t *wc = w + c * INT8_KG;
				a[c] +=
				    xr[0] * wc[0] + xr[1] * wc[1] + xr[2] * wc[2] + xr[3] * wc[3];
			}
		}
	}
}

static float c_quantize(const float *v, size_t n, int8_t *q)
{
	return qkv_int8_quantize(v, n, q);
}

const struct int8_kernel int8_kernel_c = {
    .desc = "portable C int32 loops",
    .mr = C_MR,
    .nr = C_NR,
    .kc = 0,
    .x_mode = INT8_X_SIGN,
    .block = c_block,
    .quantize = c_quantize,
};
