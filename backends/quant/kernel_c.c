/* The portable quant kernel: the reference dot product of <qkv/wtype.h> per X row, so it
 * is right by construction on any CPU; ISA kernels fall back to it for the types they do
 * not speed up (the f32, f16 and bf16 rows of precision stored). */
#include "kernel.h"

#define DEFINE_ROW(T, name)                                                                        \
	static void row_##name(const uint8_t *wrow, const void *const *x, int nt, size_t nb,       \
	                       float *acc)                                                         \
	{                                                                                          \
		size_t K = nb * qkv_wtype_traits(T)->block;                                        \
		for (int i = 0; i < nt; i++)                                                       \
			acc[i] = qkv_wtype_dot(T, wrow, x[i], K);                                  \
	}
DEFINE_ROW(QKV_WT_F32, f32)
DEFINE_ROW(QKV_WT_F16, f16)
DEFINE_ROW(QKV_WT_BF16, bf16)
DEFINE_ROW(QKV_WT_Q8_0, q8_0)
DEFINE_ROW(QKV_WT_Q4_0, q4_0)
DEFINE_ROW(QKV_WT_Q4_K, q4_k)
DEFINE_ROW(QKV_WT_Q5_K, q5_k)
DEFINE_ROW(QKV_WT_Q6_K, q6_k)

const struct quant_kernel quant_kernel_c = {
    .name = "c",
    .desc = "portable C, the reference dot product",
    .row = {row_f32, row_f16, row_bf16, row_q8_0, row_q4_0, row_q4_k, row_q5_k, row_q6_k}};
