/* libFuzzer target: the .npy reader on a buffer wrapped as a mapped file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_npy(const struct qkv_mapped_file *f)
{
	struct qkv_tensor_view v;
	char err[256];
	if (qkv_npy_parse(f, QKV_NPY_WEIGHTS, "weights", &v, err, sizeof(err)) == QKV_OK)
		fuzz_touch_view(f, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_weight_file(data, size, "fuzz.npy", read_npy);
}
