/* model.safetensors.index.json, as Hugging Face writes it for sharded checkpoints:
 *
 *   {"metadata": {"total_size": 16060522496, ...},
 *    "weight_map": {"model.layers.0.self_attn.q_proj.weight": "model-00001-of-00004.safetensors",
 *                   ...}}
 *
 * Read with the core's strict JSON reader (json.c): valid UTF-8, at most 64 MiB, only
 * the keys "metadata" (string or whole-number values, ignored) and "weight_map" (required),
 * each at most once; at most 2^20 tensors, each named once; every shard a plain file
 * name ending in .safetensors (no '/', so an index cannot point outside its folder).
 * Lookups are by binary search; the shard names are stored once each. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "near.h"
#include "util.h"
#include "weights.h"

#define IX_MAX_BYTES (64u << 20)
#define IX_MAX_TENSORS (1u << 20)

struct ix_entry {
	char *name;
	size_t shard; /* index into shards */
};

struct qkv_st_index {
	const char *path; /* borrowed */
	struct ix_entry *e;
	size_t n, cap;
	char **shards; /* distinct shard file names */
	size_t n_shards, cap_shards;
};

struct ix_parse {
	struct qkv_json j;
	struct qkv_st_index *ix;
	char *err;
	size_t errlen;
};

static enum qkv_status jfail(struct ix_parse *ps, bool oom)
{
	if (oom)
		return qkv_fail(ps->err, ps->errlen, QKV_ERR_NOMEM, "%s: out of memory",
		                ps->ix->path);
	return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT, "%s: index JSON byte %zu: %s",
	                ps->ix->path, ps->j.err_pos, ps->j.problem);
}

static enum qkv_status nomem(struct ix_parse *ps)
{
	return qkv_fail(ps->err, ps->errlen, QKV_ERR_NOMEM, "%s: out of memory", ps->ix->path);
}

/* "metadata": {"k": "v" | N, ...}; contents ignored. */
static enum qkv_status parse_metadata(struct ix_parse *ps)
{
	if (!qkv_json_expect(&ps->j, '{', "'{' starting \"metadata\""))
		return jfail(ps, false);
	if (qkv_json_accept(&ps->j, '}'))
		return QKV_OK;
	do {
		char *k = NULL, *v = NULL;
		bool oom = false, ok;
		uint64_t num;
		ok = qkv_json_string(&ps->j, &k, &oom) &&
		     qkv_json_expect(&ps->j, ':', "':' in \"metadata\"");
		if (ok) {
			size_t save = ps->j.pos;
			while (save < ps->j.n && (ps->j.s[save] == ' ' || ps->j.s[save] == '\n' ||
			                          ps->j.s[save] == '\t' || ps->j.s[save] == '\r'))
				save++;
			if (save < ps->j.n && ps->j.s[save] == '"')
				ok = qkv_json_string(&ps->j, &v, &oom);
			else
				ok = qkv_json_uint(&ps->j, &num);
		}
		qkv_free(k);
		qkv_free(v);
		if (!ok)
			return jfail(ps, oom);
	} while (qkv_json_accept(&ps->j, ','));
	if (!qkv_json_expect(&ps->j, '}', "',' or '}' in \"metadata\""))
		return jfail(ps, false);
	return QKV_OK;
}

static bool plain_shard_name(const char *s)
{
	size_t n = strlen(s);
	return n > 12 && !strchr(s, '/') && !strcmp(s + n - 12, ".safetensors");
}

/* Index of shard `s` in ix->shards, adding it (taking ownership) when new. */
static enum qkv_status shard_id(struct ix_parse *ps, char *s, size_t *id)
{
	struct qkv_st_index *ix = ps->ix;
	for (size_t i = ix->n_shards; i-- > 0;) /* few shards; recent ones first */
		if (!strcmp(ix->shards[i], s)) {
			qkv_free(s);
			*id = i;
			return QKV_OK;
		}
	if (ix->n_shards == ix->cap_shards) {
		size_t cap = ix->cap_shards ? ix->cap_shards * 2 : 8;
		char **p = qkv_realloc(ix->shards, cap * sizeof(*p));
		if (!p) {
			qkv_free(s);
			return nomem(ps);
		}
		ix->shards = p;
		ix->cap_shards = cap;
	}
	*id = ix->n_shards;
	ix->shards[ix->n_shards++] = s;
	return QKV_OK;
}

static enum qkv_status parse_weight_map(struct ix_parse *ps)
{
	struct qkv_st_index *ix = ps->ix;
	if (!qkv_json_expect(&ps->j, '{', "'{' starting \"weight_map\""))
		return jfail(ps, false);
	if (qkv_json_accept(&ps->j, '}'))
		return QKV_OK;
	do {
		char *name = NULL, *file = NULL;
		bool oom = false;
		if (!qkv_json_string(&ps->j, &name, &oom))
			return jfail(ps, oom);
		if (!qkv_json_expect(&ps->j, ':', "':' after a tensor name in \"weight_map\"") ||
		    !qkv_json_string(&ps->j, &file, &oom)) {
			qkv_free(name);
			return jfail(ps, oom);
		}
		enum qkv_status st = QKV_OK;
		if (!*name)
			st = qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
			              "%s: weight_map: an empty tensor name", ix->path);
		else if (!plain_shard_name(file))
			st = qkv_fail(
			    ps->err, ps->errlen, QKV_ERR_FORMAT,
			    "%s: weight_map: tensor %.200s: shard \"%.200s\" is not a plain "
			    "file name ending in .safetensors (no '/')",
			    ix->path, name, file);
		else if (ix->n == IX_MAX_TENSORS)
			st = qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
			              "%s: weight_map: more than %u tensors", ix->path,
			              IX_MAX_TENSORS);
		if (st == QKV_OK && ix->n == ix->cap) {
			size_t cap = ix->cap ? ix->cap * 2 : 64;
			struct ix_entry *e = qkv_realloc(ix->e, cap * sizeof(*e));
			if (!e)
				st = nomem(ps);
			else {
				ix->e = e;
				ix->cap = cap;
			}
		}
		if (st != QKV_OK) {
			qkv_free(name);
			qkv_free(file);
			return st;
		}
		size_t id = 0;
		st = shard_id(ps, file, &id); /* takes file */
		if (st != QKV_OK) {
			qkv_free(name);
			return st;
		}
		ix->e[ix->n].name = name;
		ix->e[ix->n].shard = id;
		ix->n++;
	} while (qkv_json_accept(&ps->j, ','));
	if (!qkv_json_expect(&ps->j, '}', "',' or '}' in \"weight_map\""))
		return jfail(ps, false);
	return QKV_OK;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct ix_entry *)a)->name, ((const struct ix_entry *)b)->name);
}

static enum qkv_status parse_doc(struct ix_parse *ps)
{
	struct qkv_st_index *ix = ps->ix;
	bool have_meta = false, have_map = false;
	if (!qkv_json_expect(&ps->j, '{', "'{'"))
		return jfail(ps, false);
	if (!qkv_json_accept(&ps->j, '}')) {
		do {
			char *key;
			bool oom = false;
			if (!qkv_json_string(&ps->j, &key, &oom))
				return jfail(ps, oom);
			bool *seen = !strcmp(key, "metadata")     ? &have_meta
			             : !strcmp(key, "weight_map") ? &have_map
			                                          : NULL;
			enum qkv_status st = QKV_OK;
			if (!seen || *seen)
				st = qkv_fail(
				    ps->err, ps->errlen, QKV_ERR_FORMAT,
				    "%s: index: %s key \"%.100s\" (expected \"metadata\" and "
				    "\"weight_map\")",
				    ix->path, seen ? "duplicate" : "unknown", key);
			qkv_free(key);
			if (st != QKV_OK)
				return st;
			*seen = true;
			if (!qkv_json_expect(&ps->j, ':', "':' after a key"))
				return jfail(ps, false);
			st = seen == &have_meta ? parse_metadata(ps) : parse_weight_map(ps);
			if (st != QKV_OK)
				return st;
		} while (qkv_json_accept(&ps->j, ','));
		if (!qkv_json_expect(&ps->j, '}', "',' or '}' at the top level"))
			return jfail(ps, false);
	}
	if (!qkv_json_at_end(&ps->j))
		return qkv_fail(
		    ps->err, ps->errlen, QKV_ERR_FORMAT,
		    "%s: index JSON byte %zu: trailing bytes after the top-level object", ix->path,
		    ps->j.pos);
	if (!have_map)
		return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
		                "%s: index: missing \"weight_map\"", ix->path);
	if (ix->n > 1) {
		qsort(ix->e, ix->n, sizeof(*ix->e), by_name);
		for (size_t i = 1; i < ix->n; i++)
			if (!strcmp(ix->e[i - 1].name, ix->e[i].name))
				return qkv_fail(ps->err, ps->errlen, QKV_ERR_FORMAT,
				                "%s: weight_map: tensor %.200s is listed twice",
				                ix->path, ix->e[i].name);
	}
	return QKV_OK;
}

enum qkv_status qkv_st_index_open(const struct qkv_mapped_file *f, struct qkv_st_index **out,
                                  char *err, size_t errlen)
{
	*out = NULL;
	if (f->size > IX_MAX_BYTES)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: index is %zu bytes; the limit is %u", f->path, f->size,
		                IX_MAX_BYTES);
	size_t bad;
	if (!qkv_json_utf8_valid(f->data, f->size, &bad))
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: index is not valid UTF-8 (byte %zu)", f->path, bad);
	struct qkv_st_index *ix = qkv_calloc(1, sizeof(*ix));
	if (!ix)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM, "%s: out of memory", f->path);
	ix->path = f->path;
	struct ix_parse ps = {.ix = ix, .err = err, .errlen = errlen};
	qkv_json_init(&ps.j, f->data, f->size);
	enum qkv_status st = parse_doc(&ps);
	if (st != QKV_OK) {
		qkv_st_index_close(ix);
		return st;
	}
	*out = ix;
	return QKV_OK;
}

enum qkv_status qkv_st_index_lookup(const struct qkv_st_index *ix, const char *name,
                                    const char **shard, char *err, size_t errlen)
{
	struct ix_entry key = {.name = (char *)name};
	const struct ix_entry *e =
	    ix->n ? bsearch(&key, ix->e, ix->n, sizeof(*ix->e), by_name) : NULL;
	if (!e) {
		struct qkv_near nr = {.name = name};
		for (size_t i = 0; i < ix->n; i++)
			qkv_near_try(&nr, ix->e[i].name);
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "%s: weight_map has no tensor named %s (index lists %zu%s%s%s)",
		                ix->path, name, ix->n, nr.best ? "; did you mean `" : "",
		                nr.best ? nr.best : "", nr.best ? "`?" : "");
	}
	*shard = ix->shards[e->shard];
	return QKV_OK;
}

size_t qkv_st_index_shard_count(const struct qkv_st_index *ix)
{
	return ix->n_shards;
}

void qkv_st_index_close(struct qkv_st_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->n; i++)
		qkv_free(ix->e[i].name);
	for (size_t i = 0; i < ix->n_shards; i++)
		qkv_free(ix->shards[i]);
	qkv_free(ix->e);
	qkv_free(ix->shards);
	qkv_free(ix);
}
