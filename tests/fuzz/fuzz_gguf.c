/* libFuzzer target: the GGUF reader (header, key/value metadata, tensor table) and tensor
 * lookup on a buffer; every view it hands out is read in full. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Names the seeds use (llama.cpp's) and one that is never there. */
static const char *const names[] = {"blk.0.attn_q.weight", "blk.0.attn_k.weight",
                                    "blk.1.attn_v.weight", "token_embd.weight", "a"};

static void read_gguf(const struct qkv_mapped_file *f)
{
	struct qkv_gguf *g = NULL;
	char err[256];
	if (qkv_gguf_open(f, &g, err, sizeof(err)) == QKV_OK) {
		const struct qkv_gguf_dims *d = qkv_gguf_dims(g);
		if (d->arch && strlen(d->arch) > 64)
			__builtin_trap(); /* the reader bounds the architecture name */
		FUZZ_FIND_EACH(qkv_gguf_find, g, f, names);
	}
	qkv_gguf_close(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_weight_file(data, size, "fuzz.gguf", read_gguf);
}
