/* safetensors: an 8-byte little-endian header length N, N bytes of JSON, then the data.
 *
 * The header is parsed fully and strictly before any tensor is used:
 *   { "NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}, ...,
 *     "__metadata__": {"key": "value", ...} }    (metadata optional, ignored)
 * Policy on layout (as the reference safetensors validator): the tensors must cover
 * the data region exactly, in some order, with no overlap, no gap between tensors
 * and no trailing bytes after the last one. Gaps and trailing bytes are refused
 * because a well-formed writer never produces them and they are where a crafted
 * file hides data. Zero-sized tensors ([b, b]) are allowed anywhere.
 * The header may be padded at its end with whitespace (writers pad to 8 bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "near.h"
#include "util.h"
#include "weights.h"

#define ST_MAX_HEADER (100u << 20) /* 100 MiB, as the reference implementation */
#define ST_MAX_DIMS 8

struct st_entry {
	char *name;
	enum qkv_dtype dtype;
	uint32_t ndim;
	uint64_t shape[ST_MAX_DIMS];
	uint64_t begin, end; /* relative to the data region */
};

struct qkv_safetensors {
	const char *path;    /* borrowed from the mapped file */
	const uint8_t *data; /* [data_size] start of the data region */
	size_t data_size;
	struct st_entry *e; /* [n] */
	size_t n, cap;
};

/* Parsing state: the reader plus where to write errors. */
struct st_parse {
	struct qkv_json j;
	struct qkv_safetensors *st;
	char *err;
	size_t errlen;
};

static enum qkv_status json_fail(struct st_parse *ps, bool oom)
{
	if (oom)
		return qkv_fail(ps->err, ps->errlen, QKV_ERR_NOMEM, "%s: out of memory",
		                ps->st->path);
	return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT, "%s: safetensors header byte %zu: %s",
	                ps->st->path, ps->j.err_pos, ps->j.problem);
}

static enum qkv_dtype dtype_from_name(const char *s)
{
	if (!strcmp(s, "F32"))
		return QKV_DT_F32;
	if (!strcmp(s, "F16"))
		return QKV_DT_F16;
	if (!strcmp(s, "BF16"))
		return QKV_DT_BF16;
	if (!strcmp(s, "I8"))
		return QKV_DT_I8;
	return QKV_DT_NONE;
}

static enum qkv_status parse_shape(struct st_parse *ps, struct st_entry *e)
{
	if (!qkv_json_expect(&ps->j, '[', "'[' starting the shape"))
		return json_fail(ps, false);
	if (qkv_json_accept(&ps->j, ']'))
		return QKV_OK; /* a scalar: one element */
	do {
		uint64_t d;
		if (!qkv_json_uint(&ps->j, &d))
			return json_fail(ps, false);
		if (e->ndim == ST_MAX_DIMS)
			return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
			                "%s: tensor %s: shape has more than %d dimensions",
			                ps->st->path, e->name, ST_MAX_DIMS);
		e->shape[e->ndim++] = d;
	} while (qkv_json_accept(&ps->j, ','));
	if (!qkv_json_expect(&ps->j, ']', "',' or ']' in the shape"))
		return json_fail(ps, false);
	return QKV_OK;
}

static enum qkv_status parse_offsets(struct st_parse *ps, struct st_entry *e)
{
	if (!qkv_json_expect(&ps->j, '[', "'[' starting data_offsets") ||
	    !qkv_json_uint(&ps->j, &e->begin) ||
	    !qkv_json_expect(&ps->j, ',', "',' in data_offsets [begin, end]") ||
	    !qkv_json_uint(&ps->j, &e->end) ||
	    !qkv_json_expect(&ps->j, ']', "']' after data_offsets [begin, end]"))
		return json_fail(ps, false);
	return QKV_OK;
}

/* Check one entry against the data region once all its keys are read. */
static enum qkv_status check_entry(struct st_parse *ps, const struct st_entry *e)
{
	const char *path = ps->st->path;
	uint64_t count = 1, bytes;
	for (uint32_t i = 0; i < e->ndim; i++)
		if (__builtin_mul_overflow(count, e->shape[i], &count))
			return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
			                "%s: tensor %s: shape product overflows 64 bits", path,
			                e->name);
	uint64_t isz = qkv_dtype_size(e->dtype);
	if (__builtin_mul_overflow(count, isz, &bytes))
		return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
		                "%s: tensor %s: byte size of %llu elements overflows 64 bits", path,
		                e->name, (unsigned long long)count);
	if (e->end < e->begin)
		return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
		                "%s: tensor %s: data_offsets end %llu < begin %llu", path, e->name,
		                (unsigned long long)e->end, (unsigned long long)e->begin);
	if (e->end > ps->st->data_size)
		return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
		                "%s: tensor %s: data_offsets end %llu is past the end of the data "
		                "(%zu bytes)",
		                path, e->name, (unsigned long long)e->end, ps->st->data_size);
	if (e->end - e->begin != bytes)
		return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
		                "%s: tensor %s: data_offsets span %llu bytes but the shape needs "
		                "%llu (%llu elements x %llu bytes of %s)",
		                path, e->name, (unsigned long long)(e->end - e->begin),
		                (unsigned long long)bytes, (unsigned long long)count,
		                (unsigned long long)isz, qkv_dtype_name(e->dtype));
	return QKV_OK;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]}: each key exactly once. */
static enum qkv_status parse_entry(struct st_parse *ps, struct st_entry *e)
{
	const char *path = ps->st->path;
	bool have_dtype = false, have_shape = false, have_off = false;
	enum qkv_status s;
	if (!qkv_json_expect(&ps->j, '{', "'{' starting a tensor entry"))
		return json_fail(ps, false);
	if (qkv_json_accept(&ps->j, '}'))
		return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
		                "%s: tensor %s: empty entry (needs dtype, shape, data_offsets)",
		                path, e->name);
	do {
		char *key;
		bool oom;
		if (!qkv_json_string(&ps->j, &key, &oom))
			return json_fail(ps, oom);
		bool *seen = !strcmp(key, "dtype")          ? &have_dtype
		             : !strcmp(key, "shape")        ? &have_shape
		             : !strcmp(key, "data_offsets") ? &have_off
		                                            : NULL;
		if (!seen || *seen) {
			s = qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
			             "%s: tensor %s: %s key \"%s\"", path, e->name,
			             seen ? "duplicate" : "unknown", key);
			qkv_free(key);
			return s;
		}
		*seen = true;
		if (!qkv_json_expect(&ps->j, ':', "':' after a key")) {
			qkv_free(key);
			return json_fail(ps, false);
		}
		if (seen == &have_dtype) {
			char *dt;
			if (!qkv_json_string(&ps->j, &dt, &oom)) {
				qkv_free(key);
				return json_fail(ps, oom);
			}
			e->dtype = dtype_from_name(dt);
			s = QKV_OK;
			if (e->dtype == QKV_DT_NONE)
				s = qkv_fail(
				    ps->err, ps->errlen, QKV_ERR_FORMAT,
				    "%s: unsupported dtype %s for tensor %s (supported: F32, "
				    "F16, BF16, I8)",
				    path, dt, e->name);
			qkv_free(dt);
		} else if (seen == &have_shape) {
			s = parse_shape(ps, e);
		} else {
			s = parse_offsets(ps, e);
		}
		qkv_free(key);
		if (s != QKV_OK)
			return s;
	} while (qkv_json_accept(&ps->j, ','));
	if (!qkv_json_expect(&ps->j, '}', "',' or '}' in a tensor entry"))
		return json_fail(ps, false);
	if (!have_dtype || !have_shape || !have_off)
		return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
		                "%s: tensor %s: missing \"%s\"", path, e->name,
		                !have_dtype   ? "dtype"
		                : !have_shape ? "shape"
		                              : "data_offsets");
	return check_entry(ps, e);
}

/* "__metadata__": {"k": "v", ...}, string values only; contents ignored. */
static enum qkv_status parse_metadata(struct st_parse *ps)
{
	if (!qkv_json_expect(&ps->j, '{', "'{' starting __metadata__"))
		return json_fail(ps, false);
	if (qkv_json_accept(&ps->j, '}'))
		return QKV_OK;
	do {
		char *k = NULL, *v = NULL;
		bool oom;
		bool ok = qkv_json_string(&ps->j, &k, &oom) &&
		          qkv_json_expect(&ps->j, ':', "':' in __metadata__") &&
		          qkv_json_string(&ps->j, &v, &oom);
		qkv_free(k);
		qkv_free(v);
		if (!ok)
			return json_fail(ps, oom);
	} while (qkv_json_accept(&ps->j, ','));
	if (!qkv_json_expect(&ps->j, '}', "',' or '}' in __metadata__"))
		return json_fail(ps, false);
	return QKV_OK;
}

static enum qkv_status add_entry(struct st_parse *ps, char *name, struct st_entry **out)
{
	struct qkv_safetensors *st = ps->st;
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 8;
		struct st_entry *e = qkv_realloc(st->e, cap * sizeof(*e));
		if (!e) {
			qkv_free(name);
			return qkv_fail(ps->err, ps->errlen, QKV_ERR_NOMEM, "%s: out of memory",
			                st->path);
		}
		st->e = e;
		st->cap = cap;
	}
	*out = &st->e[st->n++];
	memset(*out, 0, sizeof(**out));
	(*out)->name = name;
	return QKV_OK;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct st_entry *)a)->name, ((const struct st_entry *)b)->name);
}

static int by_offset(const void *a, const void *b)
{
	const struct st_entry *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : (x->end > y->end);
}

/* Duplicates, overlaps, gaps and trailing bytes, over the whole table. Entries are
 * left sorted by name for qkv_safetensors_find. */
static enum qkv_status check_table(struct st_parse *ps)
{
	struct qkv_safetensors *st = ps->st;
	const char *path = st->path;
	if (st->n == 0) {
		if (st->data_size != 0)
			return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
			                "%s: %zu trailing data bytes but no tensors", path,
			                st->data_size);
		return QKV_OK;
	}
	qsort(st->e, st->n, sizeof(*st->e), by_name);
	for (size_t i = 1; i < st->n; i++)
		if (!strcmp(st->e[i - 1].name, st->e[i].name))
			return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
			                "%s: duplicate tensor name %s", path, st->e[i].name);
	qsort(st->e, st->n, sizeof(*st->e), by_offset);
	uint64_t covered = 0;
	const char *prev = NULL;
	for (size_t i = 0; i < st->n; i++) {
		const struct st_entry *e = &st->e[i];
		if (e->begin < covered)
			return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
			                "%s: tensors %s and %s overlap (byte %llu of the data)",
			                path, prev, e->name, (unsigned long long)e->begin);
		if (e->begin > covered)
			return qkv_fail(
			    ps->err, ps->errlen, QKV_ERR_FORMAT,
			    "%s: gap in the data: bytes [%llu, %llu) belong to no tensor", path,
			    (unsigned long long)covered, (unsigned long long)e->begin);
		covered = e->end;
		prev = e->name;
	}
	if (covered != st->data_size)
		return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
		                "%s: %llu trailing data bytes after the last tensor (data is %zu "
		                "bytes, tensors end at %llu)",
		                path, (unsigned long long)(st->data_size - covered), st->data_size,
		                (unsigned long long)covered);
	qsort(st->e, st->n, sizeof(*st->e), by_name);
	return QKV_OK;
}

static enum qkv_status parse_header(struct st_parse *ps)
{
	bool have_meta = false;
	enum qkv_status s;
	if (!qkv_json_expect(&ps->j, '{', "'{'"))
		return json_fail(ps, false);
	if (!qkv_json_accept(&ps->j, '}')) {
		do {
			char *name;
			bool oom;
			if (!qkv_json_string(&ps->j, &name, &oom))
				return json_fail(ps, oom);
			if (!qkv_json_expect(&ps->j, ':', "':' after a tensor name")) {
				qkv_free(name);
				return json_fail(ps, false);
			}
			if (!strcmp(name, "__metadata__")) {
				qkv_free(name);
				if (have_meta)
					return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
					                "%s: duplicate __metadata__", ps->st->path);
				have_meta = true;
				s = parse_metadata(ps);
			} else {
				struct st_entry *e = NULL;
				s = add_entry(ps, name, &e);
				if (s == QKV_OK && e)
					s = parse_entry(ps, e);
			}
			if (s != QKV_OK)
				return s;
		} while (qkv_json_accept(&ps->j, ','));
		if (!qkv_json_expect(&ps->j, '}', "',' or '}' after a tensor entry"))
			return json_fail(ps, false);
	}
	if (!qkv_json_at_end(&ps->j))
		return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
		                "%s: safetensors header byte %zu: trailing bytes after the header "
		                "object",
		                ps->st->path, ps->j.pos);
	return check_table(ps);
}

enum qkv_status qkv_safetensors_open(const struct qkv_mapped_file *f, struct qkv_safetensors **out,
                                     char *err, size_t errlen)
{
	*out = NULL;
	const uint8_t *d = f->data;
	if (f->size < 8)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: file is %zu bytes, too short for a safetensors header "
		                "(8-byte length first)",
		                f->path, f->size);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | d[i];
	if (n > UINT64_MAX - 8)
		return qkv_fail(
		    err, errlen, QKV_ERR_FORMAT,
		    "%s: safetensors header length %llu overflows with the 8-byte prefix", f->path,
		    (unsigned long long)n);
	if (n > ST_MAX_HEADER)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: safetensors header length %llu exceeds the %u-byte limit",
		                f->path, (unsigned long long)n, ST_MAX_HEADER);
	if (n > f->size - 8)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: safetensors header length %llu runs past the end of the file "
		                "(%zu bytes)",
		                f->path, (unsigned long long)n, f->size);
	const uint8_t *hdr = d + 8; /* [n] */
	if (n == 0 || hdr[0] != '{')
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: safetensors header does not start with '{'", f->path);
	size_t bad;
	if (!qkv_json_utf8_valid(hdr, n, &bad))
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: safetensors header is not valid UTF-8 (header byte %zu)",
		                f->path, bad);
	struct qkv_safetensors *st = qkv_calloc(1, sizeof(*st));
	if (!st)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "%s: out of memory", f->path);
	st->path = f->path;
	st->data = hdr + n;
	st->data_size = f->size - 8 - n;
	struct st_parse ps = {.st = st, .err = err, .errlen = errlen};
	qkv_json_init(&ps.j, hdr, n);
	enum qkv_status s = parse_header(&ps);
	if (s != QKV_OK) {
		qkv_safetensors_close(st);
		return s;
	}
	*out = st;
	return QKV_OK;
}

enum qkv_status qkv_safetensors_find(const struct qkv_safetensors *st, const char *name,
                                     struct qkv_tensor_view *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct st_entry key = {.name = (char *)name};
	const struct st_entry *e =
	    st->n ? bsearch(&key, st->e, st->n, sizeof(*st->e), by_name) : NULL;
	if (!e) {
		struct qkv_near nr = {.name = name};
		for (size_t i = 0; i < st->n; i++)
			qkv_near_try(&nr, st->e[i].name);
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: no tensor named %s (file has %zu%s%s%s)", st->path, name,
		                st->n, nr.best ? "; did you mean `" : "", nr.best ? nr.best : "",
		                nr.best ? "`?" : "");
	}
	if (e->ndim > QKV_MAX_DIMS)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: tensor %s has %u dimensions; at most %d are supported",
		                st->path, name, e->ndim, QKV_MAX_DIMS);
	out->dtype = e->dtype;
	out->ndim = e->ndim;
	for (uint32_t i = 0; i < e->ndim; i++)
		out->shape[i] = e->shape[i];
	out->nbytes = (size_t)(e->end - e->begin);
	out->data = st->data + e->begin;
	return QKV_OK;
}

void qkv_safetensors_close(struct qkv_safetensors *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		qkv_free(st->e[i].name);
	qkv_free(st->e);
	qkv_free(st);
}
