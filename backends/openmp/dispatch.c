/* Run-time choice of the micro-kernel set: a SIMD set only when the CPU has the
 * instructions (CPUID) and the OS saves the wider registers (XCR0 via xgetbv). */
#include <stdio.h>

#include "kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>

/* XCR0 bits 1 (SSE) and 2 (AVX upper halves): the OS saves YMM state. */
static int os_saves_ymm(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return 0;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 0x6u) == 0x6u;
}
#endif

const struct omp_kernels *qkv_omp_kernels_pick(char *why, size_t len)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	int avx2 = __builtin_cpu_supports("avx2");
	int fma = __builtin_cpu_supports("fma");
	int ymm = os_saves_ymm();
	/* An AVX-512 set would be tested here first (avx512f + XCR0 opmask/ZMM bits). */
	if (avx2 && fma && ymm) {
		snprintf(why, len, "%s (cpu has avx2, fma; OS saves YMM)",
		         qkv_omp_kernels_avx2.name);
		return &qkv_omp_kernels_avx2;
	}
	snprintf(why, len, "%s: %s", qkv_omp_kernels_c.name,
	         !avx2 ? "no avx2" : (!fma ? "no fma" : "OS does not save YMM state"));
	return &qkv_omp_kernels_c;
#else
	snprintf(why, len, "%s: no SIMD kernel for this architecture", qkv_omp_kernels_c.name);
	return &qkv_omp_kernels_c;
#endif
}
