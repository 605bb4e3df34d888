/* Portable int8 kernel: plain int32 loops over the packed layout of kernel.h. */
#include "kernel.h"
#include <qkv/precision.h>

static void c_block(const int8_t *x, size_t ldx, size_t mr, const int8_t *panel, size_t kg,
                    int32_t acc[INT8_MR * INT8_NR])
{
	for (size_t i = 0; i < INT8_MR * INT8_NR; i++)
		acc[i] = 0;
	for (size_t g = 0; g < kg; g++) {
		const int8_t *w = panel + g * INT8_NR * INT8_KG; /* [INT8_NR][4] */
		for (size_t r = 0; r < mr; r++) {
			const int8_t *xr = x + r * ldx + g * INT8_XG; /* [4] values */
			int32_t *a = acc + r * INT8_NR;
			for (size_t c = 0; c < INT8_NR; c++) {
				const int8_t *wc = w + c * INT8_KG;
				a[c] +=
				    xr[0] * wc[0] + xr[1] * wc[1] + xr[2] * wc[2] + xr[3] * wc[3];
			}
		}
	}
}

static int c_usable(void)
{
	return 1;
}

static float c_quantize(const float *v, size_t n, int8_t *q)
{
	return qkv_int8_quantize(v, n, q);
}

const struct int8_kernel int8_kernel_c = {"c", c_usable, c_block, c_quantize};
