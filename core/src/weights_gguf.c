/* GGUF (llama.cpp) v2/v3, little-endian: a strict reader of the header, the key/value
 * metadata and the tensor table, enough to hand out the tensors of every type of
 * <qkv/wtype.h> (F32, F16, BF16 and the block types Q8_0, Q4_0, Q4_K, Q5_K, Q6_K).
 *
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x  { string key, u32 type, value }          (arrays: u32 type, u64 count, items)
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
 *   padding to general.alignment (default 32), then the data region.
 *   string = u64 length + bytes (no NUL terminator).
 *
 * Everything is checked before use, with overflow-checked arithmetic: every count is
 * bounded by the bytes that remain (and by a fixed cap), every string by its own cap,
 * dimensions are 1..4 and each >= 1 (a zero dimension is refused), the element count
 * and the byte size must fit in 63 bits (before and after padding to the alignment),
 * offsets must be aligned and the tensors must lie inside the data region without
 * overlapping. Keys and tensor names must be unique. Arrays of arrays are refused.
 * Every ggml type is sized (so the table can be checked); a type without a row in
 * <qkv/wtype.h> is refused by qkv_gguf_find with a message naming it. ggml orders dimensions
 * innermost first; views report them outermost first, so ne = [d_model, d_out] is the row-major
 * [d_out x d_model] of the out_in layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/wtype.h>

#include "dims.h"
#include "near.h"
#include "util.h"
#include "weights.h"

#define GG_MAX_TENSORS (1u << 20)
#define GG_MAX_KV (1u << 20)
#define GG_MAX_NAME 4096u /* keys and tensor names (ggml itself allows 64) */
#define GG_MAX_STRING (1u << 26)
#define GG_MAX_ALIGN (1u << 16)
#define GG_MAX_DIMS 4

enum gg_vtype {
	GV_U8,
	GV_I8,
	GV_U16,
	GV_I16,
	GV_U32,
	GV_I32,
	GV_F32,
	GV_BOOL,
	GV_STRING,
	GV_ARRAY,
	GV_U64,
	GV_I64,
	GV_F64,
	GV_COUNT
};

static const char *const vtype_names[GV_COUNT] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                                  "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                                  "UINT64", "INT64",   "FLOAT64"};
static const uint8_t vtype_size[GV_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* ggml tensor types: name, elements per block, bytes per block (0 = unknown id). */
struct gg_type {
	const char *name;
	uint16_t blck, size;
};
static const struct gg_type ggml_types[] = {
    [0] = {"F32", 1, 4},         [1] = {"F16", 1, 2},         [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},      [6] = {"Q5_0", 32, 22},      [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},      [9] = {"Q8_1", 32, 36},      [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},   [12] = {"Q4_K", 256, 144},   [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},   [15] = {"Q8_K", 256, 292},   [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74},  [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},   [21] = {"IQ3_S", 256, 110},  [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},         [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},        [27] = {"I64", 1, 8},        [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},   [30] = {"BF16", 1, 2},       [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},   [39] = {"MXFP4", 32, 17},
};
#define GG_N_TYPES (sizeof(ggml_types) / sizeof(ggml_types[0]))

struct gg_tensor {
	char *name;
	uint32_t type, ndim;
	uint64_t ne[GG_MAX_DIMS]; /* ggml order: ne[0] innermost */
	uint64_t offset, nbytes;  /* relative to the data region */
};

struct qkv_gguf {
	const char *path; /* borrowed from the mapped file */
	uint32_t version, alignment;
	const uint8_t *data; /* [data_size] */
	size_t data_size;
	struct gg_tensor *t; /* [n], sorted by name after parsing */
	size_t n;
	char *arch;
	struct qkv_gguf_dims dims;
};

struct gg_rd {
	const uint8_t *p;
	size_t n, pos;
	struct qkv_gguf *g;
	char *err;
	size_t errlen;
	char where[96]; /* "key general.name" / "tensor info 3" for messages */
};

static enum qkv_status truncated(struct gg_rd *r, const char *what)
{
	return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
	                "%s: GGUF %s%s%s: file ends at byte %zu (truncated)", r->g->path, r->where,
	                *r->where ? ": " : "", what, r->n);
}

static bool take(struct gg_rd *r, size_t k, const uint8_t **out)
{
	if (r->n - r->pos < k)
		return false;
	*out = r->p + r->pos;
	r->pos += k;
	return true;
}

static uint64_t le(const uint8_t *b, unsigned k)
{
	uint64_t v = 0;
	for (unsigned i = k; i-- > 0;)
		v = v << 8 | b[i];
	return v;
}

static enum qkv_status rd_u32(struct gg_rd *r, const char *what, uint32_t *out)
{
	const uint8_t *b;
	*out = 0;
	if (!take(r, 4, &b))
		return truncated(r, what);
	*out = (uint32_t)le(b, 4);
	return QKV_OK;
}

static enum qkv_status rd_u64(struct gg_rd *r, const char *what, uint64_t *out)
{
	const uint8_t *b;
	*out = 0;
	if (!take(r, 8, &b))
		return truncated(r, what);
	*out = le(b, 8);
	return QKV_OK;
}

/* A string's length and bytes, checked against `cap` and the bytes left. */
static enum qkv_status rd_str(struct gg_rd *r, const char *what, uint64_t cap, const uint8_t **s,
                              uint64_t *len)
{
	enum qkv_status st = rd_u64(r, what, len);
	if (st != QKV_OK)
		return st;
	if (*len > cap)
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF %s%s%s: length %llu exceeds the limit of %llu bytes",
		                r->g->path, r->where, *r->where ? ": " : "", what,
		                (unsigned long long)*len, (unsigned long long)cap);
	if (!take(r, (size_t)*len, s))
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF %s%s%s: length %llu runs past the end of the file "
		                "(%zu bytes)",
		                r->g->path, r->where, *r->where ? ": " : "", what,
		                (unsigned long long)*len, r->n);
	return QKV_OK;
}

/* A name (key or tensor): non-empty, no NUL, copied. */
static enum qkv_status rd_name(struct gg_rd *r, const char *what, char **out)
{
	const uint8_t *s = NULL;
	uint64_t len = 0;
	enum qkv_status st = rd_str(r, what, GG_MAX_NAME, &s, &len);
	if (st != QKV_OK)
		return st;
	if (len == 0 || memchr(s, 0, (size_t)len))
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT, "%s: GGUF %s: %s %s", r->g->path,
		                r->where, what, len == 0 ? "is empty" : "contains a NUL byte");
	*out = qkv_malloc((size_t)len + 1);
	if (!*out)
		return qkv_fail(r->err, r->errlen, QKV_ERR_NOMEM, "%s: out of memory", r->g->path);
	memcpy(*out, s, (size_t)len);
	(*out)[len] = '\0';
	return QKV_OK;
}

/* Skip one value of scalar or string type `t`; for integers set *ival. */
static enum qkv_status skip_value(struct gg_rd *r, uint32_t t, uint64_t *ival, bool *is_int)
{
	*is_int = false;
	if (t == GV_STRING) {
		const uint8_t *s;
		uint64_t len;
		return rd_str(r, "string value", GG_MAX_STRING, &s, &len);
	}
	const uint8_t *b;
	if (!take(r, vtype_size[t], &b))
		return truncated(r, "value");
	uint64_t v = le(b, vtype_size[t]);
	switch (t) {
	case GV_U8:
	case GV_U16:
	case GV_U32:
	case GV_U64:
		*ival = v;
		*is_int = true;
		break;
	case GV_I8:
	case GV_I16:
	case GV_I32:
	case GV_I64: {
		unsigned bits = 8u * vtype_size[t];
		bool neg = (v >> (bits - 1)) & 1;
		*ival = v;
		*is_int = !neg;
		break;
	}
	default:
		break;
	}
	return QKV_OK;
}

static enum qkv_status bad_type(struct gg_rd *r, uint32_t t, const char *what)
{
	return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
	                "%s: GGUF %s: %s type %u is not a GGUF value type (0..12)", r->g->path,
	                r->where, what, t);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *key, const char *arch, const char *suffix)
{
	size_t la = strlen(arch);
	return !strncmp(key, arch, la) && key[la] == '.' && !strcmp(key + la + 1, suffix);
}

struct kv_note {
	char *key;
	uint32_t type;
	bool is_int;
	uint64_t ival;
};

/* The architecture's dimensions, once every key is read (the architecture key may come
 * after them). Integer keys of an unsigned or non-negative signed type only. */
static enum qkv_status note_dims(struct gg_rd *r, struct kv_note *kv, size_t n)
{
	struct qkv_gguf *g = r->g;
	static const char *const suffix[5] = {"embedding_length", "attention.head_count",
	                                      "attention.head_count_kv", "attention.key_length",
	                                      "block_count"};
	uint64_t *dst[5] = {&g->dims.d_model, &g->dims.n_heads, &g->dims.n_kv_heads,
	                    &g->dims.head_dim, &g->dims.n_layers};
	if (!g->arch)
		return QKV_OK;
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 5; k++) {
			if (!ends_with(kv[i].key, g->arch, suffix[k]))
				continue;
			if (kv[i].type == GV_ARRAY) /* per-layer values: not used */
				continue;
			if (!kv[i].is_int || kv[i].ival == 0 || kv[i].ival > (1u << 20))
				return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
				                "%s: GGUF key %s: expected a whole number in 1..%u "
				                "(type %s)",
				                g->path, kv[i].key, 1u << 20,
				                vtype_names[kv[i].type]);
			*dst[k] = kv[i].ival;
		}
	return QKV_OK;
}

/* An array value: its element type and count checked against the bytes left, then
 * skipped (strings one by one, for their lengths). */
static enum qkv_status skip_array(struct gg_rd *r)
{
	struct qkv_gguf *g = r->g;
	uint32_t et = 0;
	uint64_t count = 0;
	enum qkv_status st = rd_u32(r, "array element type", &et);
	if (st == QKV_OK && et >= GV_COUNT)
		st = bad_type(r, et, "array element");
	if (st == QKV_OK && et == GV_ARRAY)
		st = qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		              "%s: GGUF %s: arrays of arrays are not supported", g->path, r->where);
	if (st == QKV_OK)
		st = rd_u64(r, "array count", &count);
	if (st != QKV_OK)
		return st;
	/* Each element takes at least one byte (8 for a string's length). */
	uint64_t min = et == GV_STRING ? 8 : vtype_size[et];
	if (count > (r->n - r->pos) / min)
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF %s: array of %llu %s elements needs more bytes "
		                "than the file has left (%zu)",
		                g->path, r->where, (unsigned long long)count, vtype_names[et],
		                r->n - r->pos);
	if (et != GV_STRING) {
		r->pos += (size_t)(count * min);
		return QKV_OK;
	}
	for (uint64_t k = 0; k < count && st == QKV_OK; k++) {
		bool is_int;
		uint64_t v;
		st = skip_value(r, GV_STRING, &v, &is_int);
	}
	return st;
}

/* general.architecture's string value: once, 1..64 bytes without NUL, kept. */
static enum qkv_status note_arch(struct gg_rd *r, const uint8_t *sval, uint64_t len)
{
	struct qkv_gguf *g = r->g;
	if (g->arch)
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF key general.architecture appears twice", g->path);
	if (len == 0 || len > 64 || memchr(sval, 0, (size_t)len))
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF key general.architecture: expected a "
		                "name of 1..64 bytes without NUL",
		                g->path);
	g->arch = qkv_malloc((size_t)len + 1);
	if (!g->arch)
		return qkv_fail(r->err, r->errlen, QKV_ERR_NOMEM, "%s: out of memory", g->path);
	memcpy(g->arch, sval, (size_t)len);
	g->arch[len] = '\0';
	return QKV_OK;
}

/* The keys the reader itself uses, by type and value: general.alignment (a power of two
 * up to GG_MAX_ALIGN) and general.architecture (a string). */
static enum qkv_status check_known_key(struct gg_rd *r, const struct kv_note *e)
{
	struct qkv_gguf *g = r->g;
	if (!strcmp(e->key, "general.alignment")) {
		if (e->type != GV_U32)
			return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
			                "%s: GGUF key general.alignment: type %s, expected "
			                "UINT32",
			                g->path, vtype_names[e->type]);
		if (e->ival == 0 || (e->ival & (e->ival - 1)) || e->ival > GG_MAX_ALIGN)
			return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
			                "%s: GGUF key general.alignment: %llu is not a power of "
			                "two in 1..%u",
			                g->path, (unsigned long long)e->ival, GG_MAX_ALIGN);
		g->alignment = (uint32_t)e->ival;
	} else if (!strcmp(e->key, "general.architecture") && e->type != GV_STRING) {
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF key general.architecture: type %s, expected STRING",
		                g->path, vtype_names[e->type]);
	}
	return QKV_OK;
}

/* No key twice: a sorted copy of the key pointers. */
static enum qkv_status unique_keys(struct gg_rd *r, const struct kv_note *kv, size_t done)
{
	struct qkv_gguf *g = r->g;
	if (done < 2)
		return QKV_OK;
	char **keys = qkv_malloc(done * sizeof(char *));
	if (!keys)
		return qkv_fail(r->err, r->errlen, QKV_ERR_NOMEM, "%s: out of memory", g->path);
	enum qkv_status st = QKV_OK;
	for (size_t i = 0; i < done; i++)
		keys[i] = kv[i].key;
	qsort(keys, done, sizeof(char *), by_name);
	for (size_t i = 1; i < done && st == QKV_OK; i++)
		if (!strcmp(keys[i - 1], keys[i]))
			st = qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
			              "%s: GGUF key %.80s appears twice", g->path, keys[i]);
	qkv_free(keys);
	return st;
}

static enum qkv_status read_kv(struct gg_rd *r, uint64_t n_kv)
{
	struct qkv_gguf *g = r->g;
	struct kv_note *kv = n_kv ? qkv_calloc((size_t)n_kv, sizeof(*kv)) : NULL;
	if (n_kv && !kv)
		return qkv_fail(r->err, r->errlen, QKV_ERR_NOMEM, "%s: out of memory", g->path);
	enum qkv_status st = QKV_OK;
	size_t done = 0;
	for (uint64_t i = 0; i < n_kv && st == QKV_OK; i++) {
		snprintf(r->where, sizeof(r->where), "key/value %llu", (unsigned long long)i);
		struct kv_note *e = &kv[i];
		st = rd_name(r, "key", &e->key);
		if (st != QKV_OK)
			break;
		done++;
		snprintf(r->where, sizeof(r->where), "key %.80s", e->key);
		st = rd_u32(r, "value type", &e->type);
		if (st == QKV_OK && e->type >= GV_COUNT)
			st = bad_type(r, e->type, "value");
		if (st != QKV_OK)
			break;
		if (e->type == GV_ARRAY) {
			st = skip_array(r);
			continue;
		}
		if (e->type == GV_STRING) {
			const uint8_t *sval = NULL;
			uint64_t len;
			st = rd_str(r, "string value", GG_MAX_STRING, &sval, &len);
			if (st == QKV_OK && !strcmp(e->key, "general.architecture"))
				st = note_arch(r, sval, len);
		} else {
			st = skip_value(r, e->type, &e->ival, &e->is_int);
		}
		if (st == QKV_OK)
			st = check_known_key(r, e);
	}
	if (st == QKV_OK)
		st = unique_keys(r, kv, done);
	if (st == QKV_OK)
		st = note_dims(r, kv, done);
	for (size_t i = 0; i < done; i++)
		qkv_free(kv[i].key);
	qkv_free(kv);
	return st;
}

static enum qkv_status read_tensor_info(struct gg_rd *r, struct gg_tensor *t)
{
	struct qkv_gguf *g = r->g;
	enum qkv_status st = rd_name(r, "tensor name", &t->name);
	if (st != QKV_OK)
		return st;
	snprintf(r->where, sizeof(r->where), "tensor %.80s", t->name);
	st = rd_u32(r, "number of dimensions", &t->ndim);
	if (st != QKV_OK)
		return st;
	if (t->ndim == 0 || t->ndim > GG_MAX_DIMS)
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF %s: %u dimensions; 1..%d are allowed", g->path, r->where,
		                t->ndim, GG_MAX_DIMS);
	uint64_t count = 1;
	for (uint32_t d = 0; d < t->ndim; d++) {
		st = rd_u64(r, "dimension", &t->ne[d]);
		if (st != QKV_OK)
			return st;
		if (t->ne[d] == 0)
			return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
			                "%s: GGUF %s: dimension %u is 0", g->path, r->where, d);
		if (__builtin_mul_overflow(count, t->ne[d], &count) || count > INT64_MAX)
			return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
			                "%s: GGUF %s: element count overflows 63 bits at dimension "
			                "%u",
			                g->path, r->where, d);
	}
	st = rd_u32(r, "type", &t->type);
	if (st == QKV_OK)
		st = rd_u64(r, "offset", &t->offset);
	if (st != QKV_OK)
		return st;
	if (t->type >= GG_N_TYPES || ggml_types[t->type].blck == 0)
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF %s: unknown ggml type %u", g->path, r->where, t->type);
	const struct gg_type *ty = &ggml_types[t->type];
	if (t->ne[0] % ty->blck)
		return qkv_fail(
		    r->err, r->errlen, QKV_ERR_FORMAT,
		    "%s: GGUF %s: first dimension %llu is not a multiple of the %s block "
		    "size %u",
		    g->path, r->where, (unsigned long long)t->ne[0], ty->name, ty->blck);
	uint64_t bytes;
	if (__builtin_mul_overflow(count / ty->blck, (uint64_t)ty->size, &bytes) ||
	    bytes > INT64_MAX)
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF %s: byte size of %llu %s elements overflows 63 bits",
		                g->path, r->where, (unsigned long long)count, ty->name);
	t->nbytes = bytes;
	return QKV_OK;
}

static int by_offset(const void *a, const void *b)
{
	const struct gg_tensor *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int tensor_by_name(const void *a, const void *b)
{
	return strcmp(((const struct gg_tensor *)a)->name, ((const struct gg_tensor *)b)->name);
}

/* Alignment, bounds (with the size padded to the alignment, as ggml allocates it),
 * overlaps and duplicate names, over the whole table. */
static enum qkv_status check_table(struct gg_rd *r)
{
	struct qkv_gguf *g = r->g;
	uint64_t a = g->alignment;
	for (size_t i = 0; i < g->n; i++) {
		const struct gg_tensor *t = &g->t[i];
		uint64_t padded, end;
		if (t->offset % a)
			return qkv_fail(
			    r->err, r->errlen, QKV_ERR_FORMAT,
			    "%s: GGUF tensor %.80s: offset %llu is not a multiple of the "
			    "alignment %llu",
			    g->path, t->name, (unsigned long long)t->offset, (unsigned long long)a);
		if (__builtin_add_overflow(t->nbytes, a - 1, &padded) ||
		    __builtin_add_overflow(t->offset, padded & ~(a - 1), &end))
			return qkv_fail(
			    r->err, r->errlen, QKV_ERR_FORMAT,
			    "%s: GGUF tensor %.80s: offset %llu + size %llu padded to %llu "
			    "overflows 64 bits",
			    g->path, t->name, (unsigned long long)t->offset,
			    (unsigned long long)t->nbytes, (unsigned long long)a);
		if (t->offset > g->data_size || t->nbytes > g->data_size - t->offset)
			return qkv_fail(
			    r->err, r->errlen, QKV_ERR_FORMAT,
			    "%s: GGUF tensor %.80s: bytes [%llu, %llu) run past the end "
			    "of the data region (%zu bytes)",
			    g->path, t->name, (unsigned long long)t->offset,
			    (unsigned long long)(t->offset + t->nbytes), g->data_size);
	}
	if (g->n > 1) {
		qsort(g->t, g->n, sizeof(*g->t), by_offset);
		for (size_t i = 1; i < g->n; i++) {
			const struct gg_tensor *p = &g->t[i - 1], *t = &g->t[i];
			if (t->offset < p->offset + p->nbytes)
				return qkv_fail(
				    r->err, r->errlen, QKV_ERR_FORMAT,
				    "%s: GGUF tensors %.80s and %.80s overlap (data byte "
				    "%llu)",
				    g->path, p->name, t->name, (unsigned long long)t->offset);
		}
		qsort(g->t, g->n, sizeof(*g->t), tensor_by_name);
		for (size_t i = 1; i < g->n; i++)
			if (!strcmp(g->t[i - 1].name, g->t[i].name))
				return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
				                "%s: GGUF tensor name %.80s appears twice", g->path,
				                g->t[i].name);
	}
	return QKV_OK;
}

static enum qkv_status parse(struct gg_rd *r)
{
	struct qkv_gguf *g = r->g;
	const uint8_t *b;
	if (!take(r, 4, &b) || memcmp(b, "GGUF", 4))
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: not a GGUF file (the first 4 bytes are not \"GGUF\")",
		                g->path);
	enum qkv_status st = rd_u32(r, "version", &g->version);
	if (st != QKV_OK)
		return st;
	if (g->version == 0x03000000u || g->version == 0x02000000u)
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF version field reads as big-endian; only little-endian "
		                "GGUF is supported",
		                g->path);
	if (g->version != 2 && g->version != 3)
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF version %u is not supported (2 and 3 are)", g->path,
		                g->version);
	uint64_t n_t = 0, n_kv = 0;
	st = rd_u64(r, "tensor count", &n_t);
	if (st == QKV_OK)
		st = rd_u64(r, "key/value count", &n_kv);
	if (st != QKV_OK)
		return st;
	/* A key/value takes at least 8 + 1 + 4 + 1 bytes, a tensor info 8 + 1 + 4 + 8 + 4 + 8. */
	size_t left = r->n - r->pos;
	if (n_kv > GG_MAX_KV || n_kv > left / 14)
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF key/value count %llu is more than the file can hold "
		                "(limit %u)",
		                g->path, (unsigned long long)n_kv, GG_MAX_KV);
	if (n_t > GG_MAX_TENSORS || n_t > left / 33)
		return qkv_fail(r->err, r->errlen, QKV_ERR_FORMAT,
		                "%s: GGUF tensor count %llu is more than the file can hold "
		                "(limit %u)",
		                g->path, (unsigned long long)n_t, GG_MAX_TENSORS);
	g->alignment = 32;
	st = read_kv(r, n_kv);
	if (st != QKV_OK)
		return st;
	g->t = n_t ? qkv_calloc((size_t)n_t, sizeof(*g->t)) : NULL;
	if (n_t && !g->t)
		return qkv_fail(r->err, r->errlen, QKV_ERR_NOMEM, "%s: out of memory", g->path);
	for (uint64_t i = 0; i < n_t; i++) {
		snprintf(r->where, sizeof(r->where), "tensor info %llu", (unsigned long long)i);
		g->n++;
		st = read_tensor_info(r, &g->t[i]);
		if (st != QKV_OK)
			return st;
	}
	r->where[0] = '\0';
	size_t start = r->pos, a = g->alignment;
	if (start % a) {
		if (a - start % a > r->n - start)
			return qkv_fail(
			    r->err, r->errlen, QKV_ERR_FORMAT,
			    "%s: GGUF: the file ends (%zu bytes) before the data region, "
			    "which starts at the next multiple of %zu after byte %zu",
			    g->path, r->n, a, start);
		start += a - start % a;
	}
	g->data = r->p + start;
	g->data_size = r->n - start;
	return check_table(r);
}

enum qkv_status qkv_gguf_open(const struct qkv_mapped_file *f, struct qkv_gguf **out, char *err,
                              size_t errlen)
{
	*out = NULL;
	struct qkv_gguf *g = qkv_calloc(1, sizeof(*g));
	if (!g)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "%s: out of memory", f->path);
	g->path = f->path;
	struct gg_rd r = {.p = f->data, .n = f->size, .g = g, .err = err, .errlen = errlen};
	enum qkv_status st = parse(&r);
	if (st != QKV_OK) {
		qkv_gguf_close(g);
		return st;
	}
	g->dims.arch = g->arch;
	*out = g;
	return QKV_OK;
}

const struct qkv_gguf_dims *qkv_gguf_dims(const struct qkv_gguf *g)
{
	return &g->dims;
}

enum qkv_status qkv_gguf_find(const struct qkv_gguf *g, const char *name,
                              struct qkv_tensor_view *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct gg_tensor key = {.name = (char *)name};
	const struct gg_tensor *t =
	    g->n ? bsearch(&key, g->t, g->n, sizeof(*g->t), tensor_by_name) : NULL;
	if (!t) {
		struct qkv_near nr = {.name = name};
		for (size_t i = 0; i < g->n; i++)
			qkv_near_try(&nr, g->t[i].name);
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: no tensor named %s (file has %zu%s%s%s)", g->path, name, g->n,
		                nr.best ? "; did you mean `" : "", nr.best ? nr.best : "",
		                nr.best ? "`?" : "");
	}
	uint32_t wt;
	if (!qkv_wtype_of_gguf(t->type, &wt))
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: tensor %s has ggml type %s, which qkv does not read (it reads "
		                "F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K: requantize the "
		                "model to one of those)",
		                g->path, name, ggml_types[t->type].name);
	static const enum qkv_dtype plain[3] = {QKV_DT_F32, QKV_DT_F16, QKV_DT_BF16};
	out->dtype = wt <= QKV_WT_BF16 ? plain[wt] : QKV_DT_BLOCK;
	out->wtype = wt;
	out->ndim = t->ndim;
	for (uint32_t d = 0; d < t->ndim; d++)
		out->shape[d] = t->ne[t->ndim - 1 - d];
	out->nbytes = (size_t)t->nbytes;
	out->data = g->data + t->offset;
	return QKV_OK;
}

void qkv_gguf_close(struct qkv_gguf *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++)
		qkv_free(g->t[i].name);
	qkv_free(g->t);
	qkv_free(g->arch);
	qkv_free(g);
}

/* One dimension: fill from the file when the config leaves it out, else compare. */
static enum qkv_status dim_from_file(const struct qkv_config *cfg, const char *file,
                                     const char *arch, const char *key, const char *meta_key,
                                     uint64_t meta, uint64_t max, uint32_t *val, char *err,
                                     size_t errlen)
{
	const char *cp = cfg->path ? cfg->path : "(config)";
	if (*val == 0) {
		if (meta > max)
			return qkv_fail(err, errlen, QKV_ERR_FORMAT,
			                "%s: GGUF key %s.%s = %llu is above the limit %llu for %s",
			                file, arch, meta_key, (unsigned long long)meta,
			                (unsigned long long)max, key);
		*val = (uint32_t)meta;
		return QKV_OK;
	}
	if (meta && meta != *val)
		return qkv_fail(err, errlen, QKV_ERR_CONFIG,
		                "%s: key `%s`: the config says %u but %s has %s.%s = %llu", cp, key,
		                *val, file, arch, meta_key, (unsigned long long)meta);
	return QKV_OK;
}

enum qkv_status qkv_config_gguf_dims(struct qkv_config *cfg, char *err, size_t errlen)
{
	if (cfg->format != QKV_FMT_GGUF)
		return QKV_OK;
	const char *cp = cfg->path ? cfg->path : "(config)";
	const char *file = cfg->file          ? cfg->file
	                   : cfg->qkv.present ? cfg->qkv.file
	                                      : cfg->w[0].file;
	if (!file)
		return qkv_fail(err, errlen, QKV_ERR_CONFIG, "%s: key `weights.file`: no GGUF file",
		                cp);
	struct qkv_mapped_file f;
	struct qkv_gguf *g = NULL;
	enum qkv_status st = qkv_file_map(file, &f, err, errlen);
	if (st != QKV_OK)
		return st;
	st = qkv_gguf_open(&f, &g, err, errlen);
	struct qkv_gguf_dims d = {0};
	if (st == QKV_OK)
		d = *qkv_gguf_dims(g);
	const char *arch = d.arch ? d.arch : "<arch>";
	if (st == QKV_OK && (!cfg->d_model || !cfg->n_heads) && !d.arch)
		st = qkv_fail(err, errlen, QKV_ERR_FORMAT,
		              "%s: the config leaves out model.%s and the GGUF file has no "
		              "general.architecture to find it under",
		              file, !cfg->d_model ? "d_model" : "n_heads");
	static const char *const miss =
	    "%s: key `model.%s`: not in the config, and %s has no %s.%s";
	if (st == QKV_OK && !cfg->d_model && !d.d_model)
		st = qkv_fail(err, errlen, QKV_ERR_CONFIG, miss, cp, "d_model", file, arch,
		              "embedding_length");
	if (st == QKV_OK && !cfg->n_heads && !d.n_heads)
		st = qkv_fail(err, errlen, QKV_ERR_CONFIG, miss, cp, "n_heads", file, arch,
		              "attention.head_count");
	if (st == QKV_OK)
		st = dim_from_file(cfg, file, arch, "model.d_model", "embedding_length", d.d_model,
		                   1u << 20, &cfg->d_model, err, errlen);
	if (st == QKV_OK)
		st = dim_from_file(cfg, file, arch, "model.n_heads", "attention.head_count",
		                   d.n_heads, 1u << 16, &cfg->n_heads, err, errlen);
	if (st == QKV_OK)
		st = dim_from_file(cfg, file, arch, "model.n_kv_heads", "attention.head_count_kv",
		                   d.n_kv_heads, 1u << 16, &cfg->n_kv_heads, err, errlen);
	if (st == QKV_OK)
		st = dim_from_file(cfg, file, arch, "model.head_dim", "attention.key_length",
		                   d.head_dim, 1u << 16, &cfg->head_dim, err, errlen);
	if (st == QKV_OK)
		st = dim_from_file(cfg, file, arch, "model.n_layers", "block_count", d.n_layers,
		                   1u << 16, &cfg->n_layers, err, errlen);
	qkv_gguf_close(g);
	qkv_file_unmap(&f);
	if (st != QKV_OK)
		return st;
	/* The dimension rules (dims.h), as config_validate.c applies them to a config's own. */
	struct qkv_dims dims = {.d_model = cfg->d_model,
	                        .n_heads = cfg->n_heads,
	                        .n_kv_heads = cfg->n_kv_heads,
	                        .head_dim = cfg->head_dim,
	                        .precision = cfg->precision};
	char msg[400];
	enum qkv_status bad_st;
	const char *bad = qkv_dims_check(&dims, msg, sizeof(msg), &bad_st);
	if (bad)
		return qkv_fail(err, errlen,
		                bad_st == QKV_ERR_UNSUPPORTED ? bad_st : QKV_ERR_CONFIG,
		                "%s: key `model.%s`: %s (dimensions from the config and %s)", cp,
		                bad, msg, file);
	cfg->n_kv_heads = dims.n_kv_heads;
	cfg->head_dim = dims.head_dim;
	if (cfg->has_layer && cfg->n_layers && cfg->layer >= cfg->n_layers)
		return qkv_fail(err, errlen, QKV_ERR_CONFIG,
		                "%s: key `weights.layer`: layer %u is not below n_layers %u (%s)",
		                cp, cfg->layer, cfg->n_layers, file);
	return QKV_OK;
}
