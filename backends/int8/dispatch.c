/* Run-time kernel choice: the first usable entry of a table ordered fastest first.
 * A new ISA (e.g. NEON dotprod) is one file plus one line here. */
#include <stdio.h>
#include <string.h>

#include "kernel.h"

#if defined(QKV_SIMDE)
const int int8_emulated = 1;
#else
const int int8_emulated = 0;
#endif

static const struct int8_kernel *const kernels[] = {
#if defined(__x86_64__) || defined(QKV_SIMDE)
    &int8_kernel_avx512vnni, &int8_kernel_avx512vnni_ymm, &int8_kernel_avxvnni, &int8_kernel_avx2,
#endif
    &int8_kernel_c,
};

const struct int8_kernel *int8_kernel_select(const char *want, char *why, size_t whylen)
{
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	size_t used = 0;
	if (why && whylen)
		why[0] = '\0';
	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
		const struct int8_kernel *k = kernels[i];
		if (want && *want && strcmp(want, k->name) != 0)
			continue;
		int ok = k->usable(&f);
		if (why && used < whylen) {
			int n;
			if (want && *want)
				n = snprintf(why + used, whylen - used,
				             "forced by QKV_INT8_KERNEL%s",
				             ok ? "" : ", but not usable on this CPU");
			else if (ok)
				n = snprintf(why + used, whylen - used, "%sCPU has %s",
				             used ? "; " : "", k->need);
			else
				n = snprintf(why + used, whylen - used, "%snot %s (needs %s)",
				             used ? ", " : "", k->name, k->need);
			used += n > 0 ? (size_t)n : 0;
		}
		if (ok)
			return k;
	}
	return NULL;
}
