/* Run-time kernel choice: the first usable row of a table ordered fastest first
 * (../kernel_table.h). A new ISA is its kernel file plus one row here. */
#include "../kernel_table.h"
#include "kernel.h"

#if defined(__aarch64__) || defined(QKV_SIMDE)
static int has_dotprod(const struct qkv_cpu_features *f)
{
	return f->neon && f->dotprod;
}
#endif

#if defined(__x86_64__) || defined(QKV_SIMDE)
/* the ymm rows and the zmm panels (AVX512F) with their scales widened by F16C */
static int has_avx512vnni_panels(const struct qkv_cpu_features *f)
{
	return qkv_kernel_has_avx512vnni_ymm(f) && f->avx512f && f->f16c;
}
/* the ymm panels widen their scales by F16C (every AVX2 CPU we know has it) */
static int has_avx2_panels(const struct qkv_cpu_features *f)
{
	return qkv_kernel_has_avx2(f) && f->f16c;
}
static int has_avxvnni_panels(const struct qkv_cpu_features *f)
{
	return qkv_kernel_has_avxvnni(f) && f->f16c;
}
#endif

static const struct qkv_kernel_row table[] = {
#if defined(__x86_64__) || defined(QKV_SIMDE)
    {"avx512vnni", "avx2+avx512f+avx512vl+avx512vnni+f16c", has_avx512vnni_panels,
     &quant_kernel_avx512vnni},
    {"avxvnni", "avx2+avxvnni+f16c", has_avxvnni_panels, &quant_kernel_avxvnni},
    {"avx2", "avx2+f16c", has_avx2_panels, &quant_kernel_avx2},
#endif
#if defined(__aarch64__) || defined(QKV_SIMDE)
    {"neon_dot", "dotprod", has_dotprod, &quant_kernel_neon_dot},
#endif
    {"c", "nothing", qkv_kernel_any_cpu, &quant_kernel_c},
};

const struct quant_kernel *quant_kernel_select(char *why, size_t whylen)
{
	const struct qkv_kernel_row *r = qkv_kernel_pick(table, sizeof(table) / sizeof(table[0]),
	                                                 "QKV_QUANT_KERNEL", why, whylen);
	return r ? (const struct quant_kernel *)r->set : NULL;
}
