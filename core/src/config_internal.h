/* Internals of the config reader, shared by its three steps:
 *   config_tree.c      YAML events -> a small node tree (YAML-level refusals: syntax, UTF-8,
 *                      documents, anchors, aliases, tags, depth);
 *   config_parse.c     tree -> plain structs (keys, types, number syntax, ranges);
 *   config_validate.c  structs -> checked and completed (defaults, shapes, formats, routes).
 * config.c holds the entry points declared in config.h. */
#ifndef QKV_CORE_CONFIG_INTERNAL_H
#define QKV_CORE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* A mapping or list with more entries than this is refused while reading: no config
 * needs it, and it bounds the work hostile input can cause. */
#define CFG_MAX_ENTRIES 256

enum cfg_kind { CFG_SCALAR, CFG_MAP, CFG_SEQ };

/* One YAML node. A mapping holds its pairs as kids[2i] (key, always a scalar) and
 * kids[2i + 1] (value). */
struct cfg_node {
	enum cfg_kind kind;
	struct qkv_mark mark; /* 1-based start of the node in the file */
	char *str;            /* scalar text, NUL-terminated; may hold NULs (see len) */
	size_t len;           /* scalar length in bytes */
	bool plain;           /* scalar written without quotes and not as a block scalar */
	size_t n;             /* number of kids (2 per mapping pair) */
	size_t cap;
	struct cfg_node **kids;
};

/* Where messages go and what they name. */
struct cfg_ctx {
	const char *name; /* file name for messages */
	const char *dir;  /* folder relative paths resolve against */
	char *err;
	size_t errlen;
};

/* A dotted key path such as `backend.routes[1].t_min`, for messages. */
struct cfg_path {
	char buf[192];
	size_t len;
	size_t saved[QKV_CONFIG_MAX_DEPTH + 4];
	size_t depth;
};

void cfg_path_key(struct cfg_path *p, const char *key);
void cfg_path_index(struct cfg_path *p, size_t i);
void cfg_path_pop(struct cfg_path *p);

/* Write "NAME:LINE:COL: key `PATH`: message" (the key part only when path is not
 * empty) and return status. */
enum qkv_status cfg_fail(const struct cfg_ctx *c, struct qkv_mark m, const char *path,
                         enum qkv_status status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Copy s[len] into out[outlen] for a message: printable ASCII kept, anything else as
 * '?', cut with "..." when long. Returns out. */
const char *cfg_show(const char *s, size_t len, char *out, size_t outlen);

/* Step 1: read YAML text into a tree. On success *root is a mapping the caller frees
 * with cfg_tree_free. */
enum qkv_status cfg_tree_read(const struct cfg_ctx *c, const char *text, size_t len,
                              struct cfg_node **root);
void cfg_tree_free(struct cfg_node *n);

/* The value of `key` in mapping `map` (first occurrence), or NULL. */
const struct cfg_node *cfg_get(const struct cfg_node *map, const char *key);

/* Step 2 helpers (config_values.c). Each reads node `n` named `path` for messages;
 * strings from cfg_get_text point into the tree, the others are owned by the caller. */
extern const char *const cfg_precision_names[QKV_PRECISION_COUNT]; /* <qkv/precision.h> */
const char *cfg_kind_name(const struct cfg_node *n);
bool cfg_is_null(const struct cfg_node *n);
/* `map` must be a mapping whose keys are all in keys[n] (n <= 32), each at most once;
 * `hint` (may be NULL) is added to the unknown-key message. */
enum qkv_status cfg_check_keys(const struct cfg_ctx *c, const struct cfg_node *map,
                               struct cfg_path *path, const char *const *keys, size_t n,
                               const char *hint);
/* A list of at most QKV_CONFIG_MAX_LIST entries. */
enum qkv_status cfg_check_list(const struct cfg_ctx *c, const struct cfg_node *n, const char *path);
enum qkv_status cfg_get_uint(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                             uint64_t min, uint64_t max, uint64_t *out);
enum qkv_status cfg_get_bool(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                             int32_t *out);
enum qkv_status cfg_get_text(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                             const char **out);
enum qkv_status cfg_get_strdup(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                               char **out);
enum qkv_status cfg_get_enum(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                             const char *const *names, size_t count, uint32_t *out);
enum qkv_status cfg_get_path(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                             char **out);
/* Push `k` on path and return its value in `map` (NULL when absent); pop after use. */
const struct cfg_node *cfg_field(const struct cfg_node *map, struct cfg_path *path, const char *k);
/* "required key is missing", at the mapping's line, naming the key on path. */
enum qkv_status cfg_missing(const struct cfg_ctx *c, const struct cfg_node *map,
                            struct cfg_path *path);

/* Step 2: fill structs from a tree. */
enum qkv_status cfg_parse_model(const struct cfg_ctx *c, const struct cfg_node *root,
                                struct qkv_config *cfg);
/* The `backend:` section `n` (model config or profile) into b; path names it. */
enum qkv_status cfg_parse_backend(const struct cfg_ctx *c, const struct cfg_node *n,
                                  struct cfg_path *path, struct qkv_backend_cfg *b);
enum qkv_status cfg_parse_machine(const struct cfg_ctx *c, const struct cfg_node *root,
                                  struct qkv_backend_cfg *b);

/* Step 3: check and complete the structs (defaults, cross-key rules). The tree is
 * only used to point messages at the right line. */
enum qkv_status cfg_validate_model(const struct cfg_ctx *c, const struct cfg_node *root,
                                   struct qkv_config *cfg);
enum qkv_status cfg_validate_backend(const struct cfg_ctx *c, const struct cfg_node *section,
                                     const char *path, struct qkv_backend_cfg *b);

/* Reset a backend section to "nothing set" (-1 for numbers) without freeing. */
void cfg_backend_init(struct qkv_backend_cfg *b);

/* A machine profile from memory (the file-based qkv_machine_load reads and calls this). */
enum qkv_status qkv_machine_parse(const char *name, const char *dir, const char *text, size_t len,
                                  struct qkv_backend_cfg *out, char *err, size_t errlen);

#endif
