/* libFuzzer target: the safetensors header parser and tensor lookup on a buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Names the seeds use, and HF-style ones. */
static const char *const names[] = {"a", "b", "weight", "model.layers.0.self_attn.q_proj.weight"};

static void read_safetensors(const struct qkv_mapped_file *f)
{
	struct qkv_safetensors *st = NULL;
	char err[256];
	if (qkv_safetensors_open(f, &st, err, sizeof(err)) == QKV_OK)
		FUZZ_FIND_EACH(qkv_safetensors_find, st, f, names);
	qkv_safetensors_close(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_weight_file(data, size, "fuzz.safetensors", read_safetensors);
}
