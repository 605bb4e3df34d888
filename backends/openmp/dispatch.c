/* Run-time choice of the micro-kernel set: the first usable row of a table ordered fastest
 * first (../kernel_table.h), a SIMD set only when the CPU has the instructions and the OS
 * saves the wider registers (<qkv/cpu_features.h>: CPUID + XCR0, or HWCAP on aarch64).
 * QKV_OPENMP_KERNEL=name forces a row; a name that is absent or not usable here is
 * refused with the reason (the backend then probes unusable). A new ISA is its kernel
 * file plus one row here. */
#include "../kernel_table.h"
#include "kernels.h"

#if defined(__x86_64__) || defined(QKV_SIMDE)
static int has_avx512f(const struct qkv_cpu_features *f)
{
	return f->avx512f;
}
static int has_avx2_fma(const struct qkv_cpu_features *f)
{
	return f->avx2 && f->fma;
}
#endif

static const struct qkv_kernel_row table[] = {
#if defined(__x86_64__) || defined(QKV_SIMDE)
    {"avx512", "avx512f (and the OS saves ZMM and opmask state)", has_avx512f,
     &qkv_omp_kernels_avx512},
    {"avx2", "avx2, fma (and the OS saves YMM state)", has_avx2_fma, &qkv_omp_kernels_avx2},
#endif
#if defined(__aarch64__) || defined(QKV_SIMDE)
    {"neon", "neon (asimd)", qkv_kernel_has_neon, &qkv_omp_kernels_neon},
#endif
    {"c", "no SIMD", qkv_kernel_any_cpu, &qkv_omp_kernels_c},
};

const struct ompb_kernels *qkv_omp_kernels_pick(char *why, size_t len)
{
	char reason[200];
	const struct qkv_kernel_row *row = qkv_kernel_pick(
	    table, sizeof(table) / sizeof(table[0]), "QKV_OPENMP_KERNEL", reason, sizeof(reason));
	if (!row) {
		snprintf(why, len, "%s", reason);
		return NULL;
	}
	const struct ompb_kernels *k = row->set;
	snprintf(why, len, "%s (%s)", k->name, reason);
	return k;
}
