/* libFuzzer target: the model.safetensors.index.json reader and its lookup. Every shard
 * name it returns must be a plain *.safetensors file name (no '/'). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"blk.q", "blk.k", "blk.v", "a",
                                    "model.layers.0.self_attn.q_proj.weight"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	struct qkv_mapped_file f = {.path = (char *)"fuzz.index.json", .data = copy, .size = size};
	struct qkv_st_index *ix = NULL;
	char err[256];
	if (qkv_st_index_open(&f, &ix, err, sizeof(err)) == QKV_OK) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			const char *shard = NULL;
			if (qkv_st_index_lookup(ix, names[i], &shard, err, sizeof(err)) != QKV_OK)
				continue;
			size_t n = strlen(shard);
			if (strchr(shard, '/') || n <= 12 || strcmp(shard + n - 12, ".safetensors"))
				__builtin_trap();
		}
	}
	qkv_st_index_close(ix);
	free(copy);
	return 0;
}
