/* The table of weight-file formats: one row per kind of file (how it is recognised, what
 * a config reference to it must say, and how the loader opens it and finds a tensor in
 * it). Config parsing, validation and the loader read this table and nothing else, so a
 * new format is its own weights_<format>.c, one row in weights_format.c and its tests
 * (HACKING.md, "What a change touches"). */
#ifndef QKV_CORE_WEIGHTS_FORMAT_H
#define QKV_CORE_WEIGHTS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct qkv_mapped_file;
struct qkv_tensor_view;

/* What a format's files are like (flags of a row). */
enum {
	QKV_FMT_NAMED = 1u << 0,  /* holds many tensors: a reference needs `tensor: NAME` */
	QKV_FMT_TYPED = 1u << 1,  /* records each tensor's dtype (else `dtype:` is required) */
	QKV_FMT_OUT_IN = 1u << 2, /* its only layout is out_in ([d_out x d_model]) */
	QKV_FMT_DIMS = 1u << 3    /* holds the model's dimensions in its metadata */
};

struct qkv_format_row {
	enum qkv_file_format id;
	enum qkv_file_format family; /* what `weights.format` calls it (the index: safetensors) */
	const char *name;            /* `weights.format` spelling (the family's), messages */
	const char *const *ext;      /* file endings that name it, NULL-terminated */
	unsigned flags;
	/* Parse a mapped file once (NULL: nothing to parse). *parsed borrows f->path. */
	enum qkv_status (*open)(const struct qkv_mapped_file *f, void **parsed, char *err,
	                        size_t errlen);
	/* The tensor `name` (NULL for unnamed formats), or for raw files `count` elements
	 * of `dtype`. */
	enum qkv_status (*find)(const void *parsed, const struct qkv_mapped_file *f,
	                        const char *name, enum qkv_dtype dtype, uint64_t count,
	                        struct qkv_tensor_view *out, char *err, size_t errlen);
	/* A format whose tensors live in other files (a sharded index): the file, relative
	 * to this one's folder, that holds `name`. NULL for the others. */
	enum qkv_status (*shard_of)(const void *parsed, const char *name, const char **file,
	                            char *err, size_t errlen);
	void (*close)(void *parsed);
};

/* The row of format `id` (NULL for QKV_FMT_AUTO or out of range). */
const struct qkv_format_row *qkv_format_row(enum qkv_file_format id);

/* The row a file's ending names (NULL when none does). */
const struct qkv_format_row *qkv_format_row_of_path(const char *path);

/* The row a file of a config whose format is `family` is read with: the one its ending
 * names when that belongs to the family (a .json index among safetensors), else the
 * family's own row. QKV_FMT_AUTO: by the ending, raw when it names none. */
const struct qkv_format_row *qkv_format_row_for(enum qkv_file_format family, const char *path);

/* The `weights.format` names, in table order, for config parsing: names[i] is the
 * family ids[i]; returns the count (<= QKV_FMT_COUNT). */
size_t qkv_format_config_names(const char **names, enum qkv_file_format *ids);

/* ".safetensors, .json, .gguf, .npy, .bin, .raw" (every ending of the table) for messages. */
void qkv_format_endings(char *buf, size_t len);

/* The `weights.format` family a file's ending names (QKV_FMT_AUTO when none does), its
 * name ("safetensors", "npy", "raw", "gguf"; "unknown"), and whether its row has `flag`. */
enum qkv_file_format qkv_format_of(const char *path);
const char *qkv_format_name(enum qkv_file_format f);
bool qkv_format_has(enum qkv_file_format f, unsigned flag);

#endif
