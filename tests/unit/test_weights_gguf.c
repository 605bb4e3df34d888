/* The GGUF reader and the safetensors index reader on files built here byte by byte:
 * dimension order, dtypes and values, metadata, and every truncation of a valid file.
 * (Each malformed form has its own case with its message in tests/corpus/cases.txt.) */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <qkv/wtype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weights.h"

struct buf {
	uint8_t b[4096];
	size_t n;
};

static void put(struct buf *b, uint64_t v, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		b->b[b->n++] = (uint8_t)(v >> (8 * i));
}

static void put_str(struct buf *b, const char *s)
{
	put(b, strlen(s), 8);
	memcpy(b->b + b->n, s, strlen(s));
	b->n += strlen(s);
}

static void kv_u32(struct buf *b, const char *k, uint32_t v)
{
	put_str(b, k);
	put(b, 4, 4);
	put(b, v, 4);
}

/* arch qwen2, d_model 4, 2 heads, 1 KV head, key_length 3, 5 blocks, alignment 64;
 * a vocabulary array of strings to skip; tensors:
 *   w  F16 ne [4, 3] (shape [3, 4]) values i - 5.5 (exact in f16)
 *   b  BF16 ne [3]  values 1, -2, 0.5
 *   e  Q8_0 ne [32, 1] (34 bytes: d = 0.5, q = i - 16), or of type `etype` */
static void build_typed(struct buf *b, uint32_t etype)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->b, "GGUF", 4);
	b->n = 4;
	put(b, 3, 4);
	put(b, 3, 8); /* tensors */
	put(b, 9, 8); /* key/values */
	put_str(b, "general.architecture");
	put(b, 8, 4);
	put_str(b, "qwen2");
	kv_u32(b, "general.alignment", 64);
	kv_u32(b, "qwen2.embedding_length", 4);
	kv_u32(b, "qwen2.attention.head_count", 2);
	kv_u32(b, "qwen2.attention.head_count_kv", 1);
	kv_u32(b, "qwen2.attention.key_length", 3);
	kv_u32(b, "qwen2.block_count", 5);
	put_str(b, "tokenizer.ggml.tokens"); /* ARRAY of STRING */
	put(b, 9, 4);
	put(b, 8, 4);
	put(b, 3, 8);
	put_str(b, "a");
	put_str(b, "bc");
	put_str(b, "");
	put_str(b, "qwen2.rope.freq_base"); /* FLOAT32 */
	put(b, 6, 4);
	put(b, 0x461c4000u, 4);
	put_str(b, "w");
	put(b, 2, 4);
	put(b, 4, 8);
	put(b, 3, 8);
	put(b, 1, 4);
	put(b, 0, 8);
	put_str(b, "b");
	put(b, 1, 4);
	put(b, 3, 8);
	put(b, 30, 4);
	put(b, 64, 8);
	put_str(b, "e");
	put(b, 2, 4);
	put(b, 32, 8);
	put(b, 1, 8);
	put(b, etype, 4);
	put(b, 128, 8);
	while (b->n % 64)
		b->b[b->n++] = 0;
	size_t data = b->n;
	static const uint16_t f16[12] = {0xc580, 0xc480, 0xc300, 0xc100, 0xbe00, 0xb800,
	                                 0x3800, 0x3e00, 0x4100, 0x4300, 0x4480, 0x4580};
	for (int i = 0; i < 12; i++)
		put(b, f16[i], 2);
	b->n = data + 64;
	put(b, 0x3f80, 2); /* bf16 1 */
	put(b, 0xc000, 2); /* -2 */
	put(b, 0x3f00, 2); /* 0.5 */
	b->n = data + 128;
	put(b, 0x3800, 2); /* fp16 0.5 */
	for (int i = 0; i < 32; i++)
		put(b, (uint8_t)(int8_t)(i - 16), 1);
}

static void build(struct buf *b)
{
	build_typed(b, 8);
}

static struct qkv_mapped_file file_of(struct buf *b, size_t n)
{
	return (struct qkv_mapped_file){.path = (char *)"t.gguf", .data = b->b, .size = n};
}

/* A ggml type without a row in <qkv/wtype.h> (Q4_1 = 3) is refused by name. */
Test(gguf, types_without_a_row_are_refused_by_name)
{
	struct buf b;
	build_typed(&b, 3); /* Q4_1: 20 bytes per 32, fits the 34 written */
	struct qkv_mapped_file f = file_of(&b, b.n);
	struct qkv_gguf *g = NULL;
	char err[512];
	cr_assert_eq(qkv_gguf_open(&f, &g, err, sizeof(err)), QKV_OK, "%s", err);
	struct qkv_tensor_view v;
	cr_assert_eq(qkv_gguf_find(g, "e", &v, err, sizeof(err)), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "t.gguf: tensor e has ggml type Q4_1, which qkv does not read"), "%s",
	          err);
	qkv_gguf_close(g);
}

Test(gguf, dims_values_and_metadata)
{
	struct buf b;
	build(&b);
	struct qkv_mapped_file f = file_of(&b, b.n);
	struct qkv_gguf *g = NULL;
	char err[512];
	cr_assert_eq(qkv_gguf_open(&f, &g, err, sizeof(err)), QKV_OK, "%s", err);
	const struct qkv_gguf_dims *d = qkv_gguf_dims(g);
	cr_assert_str_eq(d->arch, "qwen2");
	cr_assert_eq(d->d_model, 4);
	cr_assert_eq(d->n_heads, 2);
	cr_assert_eq(d->n_kv_heads, 1);
	cr_assert_eq(d->head_dim, 3);
	cr_assert_eq(d->n_layers, 5);
	struct qkv_tensor_view v;
	cr_assert_eq(qkv_gguf_find(g, "w", &v, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(v.dtype, QKV_DT_F16);
	cr_assert_eq(v.ndim, 2);
	cr_assert_eq(v.shape[0], 3, "ggml ne[1] is the outer dimension");
	cr_assert_eq(v.shape[1], 4);
	cr_assert_eq(v.nbytes, 24);
	float w[12];
	qkv_convert_to_f32(&v, w, 12);
	for (int i = 0; i < 12; i++)
		cr_assert_eq(w[i], (float)i - 5.5f, "w[%d] = %g", i, (double)w[i]);
	cr_assert_eq(qkv_gguf_find(g, "b", &v, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(v.dtype, QKV_DT_BF16);
	cr_assert_eq((size_t)(v.data - b.b) % 64, 0, "data aligned to general.alignment");
	float bias[3];
	qkv_convert_to_f32(&v, bias, 3);
	cr_assert(bias[0] == 1.0f && bias[1] == -2.0f && bias[2] == 0.5f);
	cr_assert_eq(qkv_gguf_find(g, "e", &v, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(v.dtype, QKV_DT_BLOCK);
	cr_assert_eq(v.wtype, QKV_WT_Q8_0);
	cr_assert_eq(v.nbytes, 34);
	cr_assert_eq(v.shape[0], 1);
	cr_assert_eq(v.shape[1], 32);
	float e[32];
	qkv_convert_to_f32(&v, e, 32);
	for (int i = 0; i < 32; i++)
		cr_assert_eq(e[i], 0.5f * (float)(i - 16), "e[%d] = %g", i, (double)e[i]);
	cr_assert_eq(qkv_gguf_find(g, "x", &v, err, sizeof(err)), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "t.gguf: no tensor named x (file has 3)"), "%s", err);
	qkv_gguf_close(g);
}

Test(gguf, every_truncation_is_refused)
{
	struct buf b;
	build(&b);
	char err[512];
	/* The Q8_0 tensor ends the file: any shorter file cuts the header or a tensor. */
	for (size_t n = 0; n < b.n; n++) {
		struct qkv_mapped_file f = file_of(&b, n);
		struct qkv_gguf *g = (struct qkv_gguf *)&b;
		err[0] = '\0';
		cr_assert_eq(qkv_gguf_open(&f, &g, err, sizeof(err)), QKV_ERR_FORMAT,
		             "prefix of %zu bytes accepted", n);
		cr_assert_null(g);
		cr_assert(strstr(err, "t.gguf"), "prefix %zu: %s", n, err);
	}
}

Test(gguf, header_field_changes_are_refused)
{
	struct buf b;
	char err[512];
	/* Flip each byte of the fixed header (magic, version, counts) in turn. */
	for (size_t i = 0; i < 24; i++) {
		build(&b);
		b.b[i] ^= 0x80;
		struct qkv_mapped_file f = file_of(&b, b.n);
		struct qkv_gguf *g = NULL;
		cr_assert_neq(qkv_gguf_open(&f, &g, err, sizeof(err)), QKV_OK, "byte %zu", i);
		cr_assert_null(g);
	}
}

/* Dimensions taken from a GGUF file follow the same rules as a config's own (dims.h):
 * the int8 d_model limit included, named by key, before any weight is read. */
static void set_u32(struct buf *b, const char *key, uint32_t v)
{
	uint8_t *at = memmem(b->b, b->n, key, strlen(key));
	cr_assert_not_null(at, "%s", key);
	at += strlen(key) + 4; /* the key, then its type */
	for (unsigned i = 0; i < 4; i++)
		at[i] = (uint8_t)(v >> (8 * i));
}

static enum qkv_status gguf_config_dims(struct buf *b, uint32_t precision, char *err, size_t errlen)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/qkv-gguf-dims-%d.gguf", (int)getpid());
	FILE *fp = fopen(path, "wb");
	cr_assert_not_null(fp);
	cr_assert_eq(fwrite(b->b, 1, b->n, fp), b->n);
	fclose(fp);
	struct qkv_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.path = (char *)"t.yaml";
	cfg.file = path;
	cfg.format = QKV_FMT_GGUF;
	cfg.precision = precision;
	enum qkv_status st = qkv_config_gguf_dims(&cfg, err, errlen);
	unlink(path);
	return st;
}

Test(gguf, dims_from_the_file_follow_the_shared_rules)
{
	struct buf b;
	char err[512];
	build(&b);
	cr_assert_eq(gguf_config_dims(&b, QKV_INT8, err, sizeof(err)), QKV_OK, "%s", err);
	set_u32(&b, "qwen2.attention.head_count_kv", 3);
	cr_assert_eq(gguf_config_dims(&b, QKV_F32, err, sizeof(err)), QKV_ERR_CONFIG);
	cr_assert(strstr(err, "model.n_kv_heads") && strstr(err, "not a multiple"), "%s", err);
	build(&b);
	set_u32(&b, "qwen2.embedding_length", 133145);
	cr_assert_eq(gguf_config_dims(&b, QKV_F32, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(gguf_config_dims(&b, QKV_INT8, err, sizeof(err)), QKV_ERR_UNSUPPORTED, "%s",
	             err);
	cr_assert(strstr(err, "model.d_model") && strstr(err, "above 133144"), "%s", err);
}

static const char index_json[] =
    "{\"metadata\": {\"total_size\": 10, \"note\": \"x\"},\n"
    " \"weight_map\": {\"b\": \"s2.safetensors\", \"a\": \"s1.safetensors\",\n"
    "                \"c\": \"s1.safetensors\"}}\n";

Test(index, lookup_and_every_truncation)
{
	char err[512];
	struct qkv_mapped_file f = {.path = (char *)"m.index.json",
	                            .data = (const uint8_t *)index_json,
	                            .size = sizeof(index_json) - 1};
	struct qkv_st_index *ix = NULL;
	cr_assert_eq(qkv_st_index_open(&f, &ix, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(qkv_st_index_shard_count(ix), 2, "shard names stored once each");
	const char *s = NULL;
	cr_assert_eq(qkv_st_index_lookup(ix, "a", &s, err, sizeof(err)), QKV_OK);
	cr_assert_str_eq(s, "s1.safetensors");
	cr_assert_eq(qkv_st_index_lookup(ix, "b", &s, err, sizeof(err)), QKV_OK);
	cr_assert_str_eq(s, "s2.safetensors");
	cr_assert_eq(qkv_st_index_lookup(ix, "z", &s, err, sizeof(err)), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "m.index.json: weight_map has no tensor named z"), "%s", err);
	qkv_st_index_close(ix);
	/* Every prefix that cuts the top-level object is refused. */
	size_t end = strrchr(index_json, '}') - index_json;
	for (size_t n = 0; n <= end; n++) {
		f.size = n;
		ix = NULL;
		cr_assert_eq(qkv_st_index_open(&f, &ix, err, sizeof(err)), QKV_ERR_FORMAT,
		             "prefix of %zu bytes accepted", n);
		cr_assert_null(ix);
		cr_assert(strstr(err, "m.index.json"), "%s", err);
	}
}
