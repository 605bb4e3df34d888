/* Run-time kernel choice: the first usable entry of a table ordered fastest first.
 * A new ISA (e.g. AVX-512 VNNI, AVX-VNNI, NEON dotprod) is one file plus one line here. */
#include <stddef.h>
#include <string.h>

#include "kernel.h"

static const struct int8_kernel *const kernels[] = {
#if defined(__x86_64__)
    &int8_kernel_avx2,
#endif
    &int8_kernel_c,
};

const struct int8_kernel *int8_kernel_select(const char *want)
{
	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
		if (want && *want && strcmp(want, kernels[i]->name) != 0)
			continue;
		if (kernels[i]->usable())
			return kernels[i];
	}
	return NULL;
}
