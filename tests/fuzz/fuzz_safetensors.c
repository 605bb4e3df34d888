/* libFuzzer target: the safetensors header parser and tensor lookup on a buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Names the seeds use, and HF-style ones. */
static const char *const names[] = {"a", "b", "weight", "model.layers.0.self_attn.q_proj.weight"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	struct qkv_mapped_file f = {.path = (char *)"fuzz.safetensors", .data = copy, .size = size};
	struct qkv_safetensors *st = NULL;
	char err[256];
	if (qkv_safetensors_open(&f, &st, err, sizeof(err)) == QKV_OK) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			struct qkv_tensor_view v;
			if (qkv_safetensors_find(st, names[i], &v, err, sizeof(err)) == QKV_OK)
				fuzz_touch_view(&f, &v);
		}
	}
	qkv_safetensors_close(st);
	free(copy);
	return 0;
}
