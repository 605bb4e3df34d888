/* GGUF v3 writer (gguf_out.h). Layout: "GGUF", u32 version 3, u64 n_tensors, u64 n_kv,
 * the key/values (u64-length strings, u32 value type), the tensor infos (name, u32 n_dims,
 * u64 ne[] innermost first, u32 ggml type, u64 offset into the data), zero padding to the
 * alignment, then each tensor's bytes padded to the alignment. */
#include "gguf_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/wtype.h>

enum { GV_UINT32 = 4, GV_STRING = 8 };

static int put_le(FILE *f, uint64_t v, unsigned k)
{
	unsigned char b[8];
	for (unsigned i = 0; i < k; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return fwrite(b, 1, k, f) == k ? 0 : -1;
}

static int put_str(FILE *f, const char *s)
{
	size_t n = strlen(s);
	return put_le(f, n, 8) || fwrite(s, 1, n, f) != n ? -1 : 0;
}

static int put_zeros(FILE *f, uint64_t n)
{
	static const unsigned char z[GGUF_OUT_ALIGN];
	while (n) {
		size_t k = n > sizeof(z) ? sizeof(z) : (size_t)n;
		if (fwrite(z, 1, k, f) != k)
			return -1;
		n -= k;
	}
	return 0;
}

static uint64_t pad_of(uint64_t n)
{
	return (GGUF_OUT_ALIGN - n % GGUF_OUT_ALIGN) % GGUF_OUT_ALIGN;
}

uint64_t gguf_out_bytes(const struct gguf_out_tensor *t)
{
	uint64_t len = t->cols ? t->cols : t->rows, rows = t->cols ? t->rows : 1;
	size_t row = qkv_wtype_row_bytes(t->wtype, (size_t)len);
	return (uint64_t)row * rows;
}

static int put_kv(FILE *f, const struct gguf_out_kv *kv)
{
	if (put_str(f, kv->key))
		return -1;
	if (kv->str)
		return put_le(f, GV_STRING, 4) || put_str(f, kv->str) ? -1 : 0;
	return put_le(f, GV_UINT32, 4) || put_le(f, kv->u32, 4) ? -1 : 0;
}

int gguf_out_header(FILE *f, const struct gguf_out_kv *kv, size_t nkv,
                    const struct gguf_out_tensor *t, size_t nt)
{
	for (size_t i = 0; i < nt; i++)
		if (gguf_out_bytes(&t[i]) == 0) {
			errno = EINVAL;
			return -1;
		}
	struct gguf_out_kv align = {"general.alignment", NULL, GGUF_OUT_ALIGN};
	int bad = fwrite("GGUF", 1, 4, f) != 4 || put_le(f, 3, 4) || put_le(f, nt, 8) ||
	          put_le(f, nkv + 1, 8) || put_kv(f, &align);
	for (size_t i = 0; i < nkv && !bad; i++)
		bad = put_kv(f, &kv[i]);
	uint64_t off = 0;
	for (size_t i = 0; i < nt && !bad; i++) {
		bad = put_str(f, t[i].name) || put_le(f, t[i].cols ? 2 : 1, 4);
		if (t[i].cols) /* ggml order: innermost first */
			bad = bad || put_le(f, t[i].cols, 8);
		bad = bad || put_le(f, t[i].rows, 8) ||
		      put_le(f, qkv_wtype_traits(t[i].wtype)->gguf_type, 4) || put_le(f, off, 8);
		uint64_t nb = gguf_out_bytes(&t[i]);
		off += nb + pad_of(nb);
	}
	long pos = ftell(f);
	if (bad || pos < 0)
		return -1;
	return put_zeros(f, pad_of((uint64_t)pos));
}

int gguf_out_data(FILE *f, const struct gguf_out_tensor *t,
                  void (*fill)(void *ctx, uint64_t row, float *out), void *ctx)
{
	const struct qkv_wtype_traits *r = qkv_wtype_traits(t->wtype);
	uint64_t len = t->cols ? t->cols : t->rows, rows = t->cols ? t->rows : 1;
	size_t row_bytes = qkv_wtype_row_bytes(t->wtype, (size_t)len);
	if (!r || !row_bytes) {
		errno = EINVAL;
		return -1;
	}
	float *v = malloc((size_t)len * sizeof(float)); /* [len] */
	unsigned char *q = malloc(row_bytes);           /* one row in the type */
	_Alignas(16) unsigned char blk[256];
	int bad = !v || !q;
	for (uint64_t i = 0; i < rows && !bad; i++) {
		fill(ctx, i, v);
		for (uint64_t b = 0; b < len / r->block; b++) {
			r->from_f32(v + b * r->block, blk);
			memcpy(q + b * r->bytes, blk, r->bytes);
		}
		bad = fwrite(q, 1, row_bytes, f) != row_bytes;
	}
	free(v);
	free(q);
	if (bad)
		return -1;
	return put_zeros(f, pad_of((uint64_t)row_bytes * rows));
}
