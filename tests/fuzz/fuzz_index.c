/* libFuzzer target: the model.safetensors.index.json reader and its lookup. Every shard
 * name it returns must be a plain *.safetensors file name (no '/'). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"blk.q", "blk.k", "blk.v", "a",
                                    "model.layers.0.self_attn.q_proj.weight"};

static void read_index(const struct qkv_mapped_file *f)
{
	struct qkv_st_index *ix = NULL;
	char err[256];
	if (qkv_st_index_open(f, &ix, err, sizeof(err)) == QKV_OK) {
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_weight_file(data, size, "fuzz.index.json", read_index);
}
