/* Run-time kernel choice: the first usable row of a table ordered fastest first
 * (../kernel_table.h). A new ISA is its kernel file plus one row here. */
#include "kernel.h"

#if defined(QKV_SIMDE)
const int int8_emulated = 1;
#else
const int int8_emulated = 0;
#endif

#if defined(__x86_64__) || defined(QKV_SIMDE)
static int has_zmm_vnni(const struct qkv_cpu_features *f)
{
	return f->avx2 && f->avx512f && f->avx512vnni;
}
#endif
#if defined(__aarch64__) || defined(QKV_SIMDE)
static int has_i8mm(const struct qkv_cpu_features *f)
{
	return f->neon && f->i8mm;
}
static int has_dotprod(const struct qkv_cpu_features *f)
{
	return f->neon && f->dotprod;
}
#endif

static const struct qkv_kernel_row table[] = {
#if defined(__x86_64__) || defined(QKV_SIMDE)
    {"avx512vnni", "avx512f+avx512vnni", has_zmm_vnni, &int8_kernel_avx512vnni},
    {"avx512vnni_ymm", "avx512vl+avx512vnni", qkv_kernel_has_avx512vnni_ymm,
     &int8_kernel_avx512vnni_ymm},
    {"avxvnni", "avxvnni", qkv_kernel_has_avxvnni, &int8_kernel_avxvnni},
    {"avx2", "avx2", qkv_kernel_has_avx2, &int8_kernel_avx2},
#endif
#if defined(__aarch64__) || defined(QKV_SIMDE)
    {"neon_i8mm", "i8mm", has_i8mm, &int8_kernel_neon_i8mm},
    {"neon_dot", "dotprod", has_dotprod, &int8_kernel_neon_dot},
    {"neon", "neon", qkv_kernel_has_neon, &int8_kernel_neon},
#endif
    {"c", "no SIMD", qkv_kernel_any_cpu, &int8_kernel_c},
};

const struct qkv_kernel_row *int8_kernel_select(char *why, size_t whylen)
{
	return qkv_kernel_pick(table, sizeof(table) / sizeof(table[0]), "QKV_INT8_KERNEL", why,
	                       whylen);
}
