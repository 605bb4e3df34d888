/* The format table (weights_format.h): one row per weight-file kind, with thin adapters
 * from the table's uniform calls to each format's own parser. */
#include <stdio.h>
#include <string.h>

#include "weights.h"
#include "weights_format.h"

static enum qkv_status st_open(const struct qkv_mapped_file *f, void **parsed, char *err,
                               size_t errlen)
{
	return qkv_safetensors_open(f, (struct qkv_safetensors **)parsed, err, errlen);
}

static enum qkv_status st_find(const void *parsed, const struct qkv_mapped_file *f,
                               const char *name, enum qkv_dtype dtype, uint64_t count,
                               struct qkv_tensor_view *out, char *err, size_t errlen)
{
	(void)f, (void)dtype, (void)count;
	return qkv_safetensors_find(parsed, name, out, err, errlen);
}

static void st_close(void *parsed)
{
	qkv_safetensors_close(parsed);
}

static enum qkv_status ix_open(const struct qkv_mapped_file *f, void **parsed, char *err,
                               size_t errlen)
{
	return qkv_st_index_open(f, (struct qkv_st_index **)parsed, err, errlen);
}

static enum qkv_status ix_shard(const void *parsed, const char *name, const char **file, char *err,
                                size_t errlen)
{
	return qkv_st_index_lookup(parsed, name, file, err, errlen);
}

static void ix_close(void *parsed)
{
	qkv_st_index_close(parsed);
}

static enum qkv_status gg_open(const struct qkv_mapped_file *f, void **parsed, char *err,
                               size_t errlen)
{
	return qkv_gguf_open(f, (struct qkv_gguf **)parsed, err, errlen);
}

static enum qkv_status gg_find(const void *parsed, const struct qkv_mapped_file *f,
                               const char *name, enum qkv_dtype dtype, uint64_t count,
                               struct qkv_tensor_view *out, char *err, size_t errlen)
{
	(void)f, (void)dtype, (void)count;
	return qkv_gguf_find(parsed, name, out, err, errlen);
}

static void gg_close(void *parsed)
{
	qkv_gguf_close(parsed);
}

static enum qkv_status npy_find(const void *parsed, const struct qkv_mapped_file *f,
                                const char *name, enum qkv_dtype dtype, uint64_t count,
                                struct qkv_tensor_view *out, char *err, size_t errlen)
{
	(void)parsed, (void)name, (void)dtype, (void)count;
	return qkv_npy_parse(f, QKV_NPY_WEIGHTS, "weights", out, err, errlen);
}

static enum qkv_status raw_find(const void *parsed, const struct qkv_mapped_file *f,
                                const char *name, enum qkv_dtype dtype, uint64_t count,
                                struct qkv_tensor_view *out, char *err, size_t errlen)
{
	(void)parsed, (void)name;
	return qkv_raw_view(f, dtype, count, out, err, errlen);
}

static const char *const st_ext[] = {".safetensors", NULL};
static const char *const ix_ext[] = {".json", NULL};
static const char *const gg_ext[] = {".gguf", NULL};
static const char *const npy_ext[] = {".npy", NULL};
static const char *const raw_ext[] = {".bin", ".raw", NULL};

/* Indexed by enum qkv_file_format; the order of the config names is the table's. */
static const struct qkv_format_row rows[QKV_FMT_COUNT] = {
    [QKV_FMT_SAFETENSORS] = {QKV_FMT_SAFETENSORS, QKV_FMT_SAFETENSORS, "safetensors", st_ext,
                             QKV_FMT_NAMED | QKV_FMT_TYPED, st_open, st_find, NULL, st_close},
    [QKV_FMT_NPY] = {QKV_FMT_NPY, QKV_FMT_NPY, "npy", npy_ext, QKV_FMT_TYPED, NULL, npy_find, NULL,
                     NULL},
    [QKV_FMT_RAW] = {QKV_FMT_RAW, QKV_FMT_RAW, "raw", raw_ext, 0, NULL, raw_find, NULL, NULL},
    [QKV_FMT_GGUF] = {QKV_FMT_GGUF, QKV_FMT_GGUF, "gguf", gg_ext,
                      QKV_FMT_NAMED | QKV_FMT_TYPED | QKV_FMT_OUT_IN | QKV_FMT_DIMS, gg_open,
                      gg_find, NULL, gg_close},
    [QKV_FMT_ST_INDEX] = {QKV_FMT_ST_INDEX, QKV_FMT_SAFETENSORS, "safetensors", ix_ext,
                          QKV_FMT_NAMED | QKV_FMT_TYPED, ix_open, NULL, ix_shard, ix_close},
};

const struct qkv_format_row *qkv_format_row(enum qkv_file_format id)
{
	if ((unsigned)id >= QKV_FMT_COUNT || !rows[id].name)
		return NULL;
	return &rows[id];
}

const struct qkv_format_row *qkv_format_row_of_path(const char *path)
{
	const char *base = strrchr(path, '/');
	const char *dot = strrchr(base ? base : path, '.');
	for (size_t i = 0; dot && i < QKV_FMT_COUNT; i++)
		for (const char *const *e = rows[i].ext; e && *e; e++)
			if (strcmp(dot, *e) == 0)
				return &rows[i];
	return NULL;
}

const struct qkv_format_row *qkv_format_row_for(enum qkv_file_format family, const char *path)
{
	const struct qkv_format_row *r = qkv_format_row_of_path(path);
	if (family == QKV_FMT_AUTO)
		return r ? r : &rows[QKV_FMT_RAW];
	if (r && r->family == family)
		return r;
	return qkv_format_row(family);
}

enum qkv_file_format qkv_format_of(const char *path)
{
	const struct qkv_format_row *r = qkv_format_row_of_path(path);
	return r ? r->family : QKV_FMT_AUTO;
}

const char *qkv_format_name(enum qkv_file_format f)
{
	const struct qkv_format_row *r = qkv_format_row(f);
	return r ? r->name : "unknown";
}

bool qkv_format_has(enum qkv_file_format f, unsigned flag)
{
	const struct qkv_format_row *r = qkv_format_row(f);
	return r && (r->flags & flag);
}

size_t qkv_format_config_names(const char **names, enum qkv_file_format *ids)
{
	size_t n = 0;
	for (size_t i = 0; i < QKV_FMT_COUNT; i++)
		if (rows[i].name && rows[i].family == rows[i].id) {
			names[n] = rows[i].name;
			ids[n++] = rows[i].id;
		}
	return n;
}

void qkv_format_endings(char *buf, size_t len)
{
	size_t w = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < QKV_FMT_COUNT; i++)
		for (const char *const *e = rows[i].ext; e && *e && w < len; e++)
			w += (size_t)snprintf(buf + w, len - w, "%s%s", w ? ", " : "", *e);
}
