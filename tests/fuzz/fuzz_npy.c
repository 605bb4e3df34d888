/* libFuzzer target: the .npy reader on a buffer wrapped as a mapped file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy so reads past `size` hit ASan's redzone (the fuzzer's buffer is
	 * exact-sized too, but this keeps the target honest under replay). */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	struct qkv_mapped_file f = {.path = (char *)"fuzz.npy", .data = copy, .size = size};
	struct qkv_tensor_view v;
	char err[256];
	if (qkv_npy_parse(&f, QKV_NPY_WEIGHTS, "weights", &v, err, sizeof(err)) == QKV_OK)
		fuzz_touch_view(&f, &v);
	free(copy);
	return 0;
}
