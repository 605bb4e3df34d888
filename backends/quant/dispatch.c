/* Run-time kernel choice: the first usable entry of a table ordered fastest first. */
#include <stdio.h>
#include <string.h>

#include "kernel.h"

static const struct quant_kernel *const kernels[] = {
#if defined(__x86_64__) || defined(QKV_SIMDE)
    &quant_kernel_avx512vnni,
    &quant_kernel_avxvnni,
    &quant_kernel_avx2,
#endif
    &quant_kernel_c,
};

const struct quant_kernel *quant_kernel_select(const char *want, char *why, size_t whylen)
{
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	size_t used = 0;
	if (why && whylen)
		why[0] = '\0';
	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
		const struct quant_kernel *k = kernels[i];
		if (want && *want && strcmp(want, k->name) != 0)
			continue;
		int ok = k->usable(&f);
		if (why && used < whylen) {
			int n = want && *want ? snprintf(why + used, whylen - used,
			                                 "forced by QKV_QUANT_KERNEL%s",
			                                 ok ? "" : ", but not usable on this CPU")
			        : ok          ? snprintf(why + used, whylen - used, "%sCPU has %s",
                                                used ? "; " : "", k->need)
			             : snprintf(why + used, whylen - used, "%snot %s (needs %s)",
			                        used ? ", " : "", k->name, k->need);
			used += n > 0 ? (size_t)n : 0;
		}
		if (ok)
			return k;
	}
	return NULL;
}
