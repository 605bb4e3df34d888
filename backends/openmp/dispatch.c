/* Run-time choice of the micro-kernel set: a SIMD set only when the CPU has the
 * instructions and the OS saves the wider registers (<qkv/cpu_features.h>: CPUID + XCR0).
 * QKV_OPENMP_KERNEL=avx512|avx2|c forces a set (tests, comparisons); a forced set the
 * CPU cannot run is refused with the reason, and the best usable one is taken. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include <qkv/cpu_features.h>

/* Why `name` cannot run here, or NULL when it can. */
static const char *unusable(const char *name, const struct qkv_cpu_features *f)
{
	if (!strcmp(name, "c"))
		return NULL;
#if defined(__x86_64__)
	if (!strcmp(name, "avx2"))
		return !f->avx2 ? "no usable avx2 (CPU or OS YMM state)"
		                : (!f->fma ? "no usable fma" : NULL);
	if (!strcmp(name, "avx512"))
		return f->avx512f ? NULL : "no usable avx512f (CPU or OS ZMM/opmask state)";
#else
	(void)f;
#endif
	return "no SIMD kernel for this architecture";
}

static const struct ompb_kernels *by_name(const char *name)
{
#if defined(__x86_64__)
	if (!strcmp(name, "avx512"))
		return &qkv_omp_kernels_avx512;
	if (!strcmp(name, "avx2"))
		return &qkv_omp_kernels_avx2;
#endif
	(void)name;
	return &qkv_omp_kernels_c;
}

const struct ompb_kernels *qkv_omp_kernels_pick(char *why, size_t len)
{
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	char note[96] = "";
	const char *env = getenv("QKV_OPENMP_KERNEL");
	if (env && *env) {
		if (strcmp(env, "avx512") && strcmp(env, "avx2") && strcmp(env, "c")) {
			snprintf(note, sizeof(note),
			         "; QKV_OPENMP_KERNEL=%.24s ignored (avx512, avx2 or c)", env);
		} else {
			const char *no = unusable(env, &f);
			if (!no) {
				const struct ompb_kernels *k = by_name(env);
				snprintf(why, len, "%s (forced by QKV_OPENMP_KERNEL=%s)", k->name,
				         env);
				return k;
			}
			snprintf(note, sizeof(note), "; QKV_OPENMP_KERNEL=%s refused: %s", env, no);
		}
	}
#if defined(__x86_64__)
	if (f.avx512f) {
		snprintf(why, len, "%s (cpu has avx512f; OS saves ZMM and opmask state)%s",
		         qkv_omp_kernels_avx512.name, note);
		return &qkv_omp_kernels_avx512;
	}
	if (f.avx2 && f.fma) {
		snprintf(why, len, "%s (cpu has avx2, fma; OS saves YMM; no usable avx512f)%s",
		         qkv_omp_kernels_avx2.name, note);
		return &qkv_omp_kernels_avx2;
	}
	snprintf(why, len, "%s: %s%s", qkv_omp_kernels_c.name, unusable("avx2", &f), note);
	return &qkv_omp_kernels_c;
#else
	snprintf(why, len, "%s: no SIMD kernel for this architecture%s", qkv_omp_kernels_c.name,
	         note);
	return &qkv_omp_kernels_c;
#endif
}
