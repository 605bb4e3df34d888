/* The tools' one GGUF writer (GGUF v3, little-endian, data aligned to 32 bytes, as
 * llama.cpp's reader expects): string and u32 metadata, then tensors of any type of
 * <qkv/wtype.h>, streamed row by row and quantized to their type on the way out, so a
 * large model never has to be held in memory. Used by qkv-genweights and qkv quantize. */
#ifndef QKV_TOOLS_GGUF_OUT_H
#define QKV_TOOLS_GGUF_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GGUF_OUT_ALIGN 32

struct gguf_out_kv {
	const char *key;
	const char *str; /* a STRING value, or NULL for the UINT32 below */
	uint32_t u32;
};

/* A tensor of `rows` rows of `cols` values (cols 0: a vector of `rows` values), row-major;
 * ggml writes it as ne = [cols, rows]. Every row (the vector) is whole blocks of wtype. */
struct gguf_out_tensor {
	const char *name;
	uint32_t wtype; /* enum qkv_wtype */
	uint64_t rows, cols;
};

/* Bytes of the tensor's data in its type (0 when a row is not whole blocks). */
uint64_t gguf_out_bytes(const struct gguf_out_tensor *t);

/* The header: metadata (general.alignment is added), then the tensor table with offsets
 * in the order given, then padding. Returns 0, or -1 with errno set (EINVAL for a tensor
 * whose rows are not whole blocks). */
int gguf_out_header(FILE *f, const struct gguf_out_kv *kv, size_t nkv,
                    const struct gguf_out_tensor *t, size_t nt);

/* Tensor t's data, in the header's order: row r's values from fill(ctx, r, out[cols or
 * rows]), quantized with the type's reference quantizer, then padding. 0 or -1. */
int gguf_out_data(FILE *f, const struct gguf_out_tensor *t,
                  void (*fill)(void *ctx, uint64_t row, float *out), void *ctx);

#endif
