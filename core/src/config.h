/* Model configs and machine profiles: YAML (libyaml) parsed into plain structs,
 * then validated in a separate step. Every error names file, line, column and key. */
#ifndef QKV_CORE_CONFIG_H
#define QKV_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qkv/plugin.h>

#define QKV_CONFIG_MAX_BYTES (1u << 20) /* a config is small; refuse larger files */
#define QKV_CONFIG_MAX_DEPTH 16         /* mapping/sequence nesting cap */
#define QKV_CONFIG_MAX_LIST 64          /* prefer / plugin_dirs / routes entries */
#define QKV_NAME_MAX 31                 /* backend names: [a-z0-9_]{1,31} */

/* Where a value came from, for error messages (1-based line and column). */
struct qkv_mark {
	unsigned line, column;
};

/* Weight file formats; each has one row in the format table (weights_format.h), which
 * says how it is recognised and read. QKV_FMT_ST_INDEX is a file kind of the safetensors
 * family (a sharded checkpoint's index), not a `weights.format` name. */
enum qkv_file_format {
	QKV_FMT_AUTO = 0,
	QKV_FMT_SAFETENSORS,
	QKV_FMT_NPY,
	QKV_FMT_RAW,
	QKV_FMT_GGUF,
	QKV_FMT_ST_INDEX
};
#define QKV_FMT_COUNT 6

/* Key names of the tensor references under `weights:`, one table for the parser, the
 * validator and the loader's messages: [0] q k v, [1] their biases, [2] their int8 scales,
 * [3] the fused forms by projection (qkv, qkv_bias, qkv). */
extern const char *const qkv_ref_names[4][3];

/* How a fused `qkv:` tensor holds q, k and v along its output dimension (weights_fused.c). */
enum qkv_split { QKV_SPLIT_NONE = 0, QKV_SPLIT_ROWS, QKV_SPLIT_COLS, QKV_SPLIT_HEADS };

/* Element types of tensors in files. */
enum qkv_dtype {
	QKV_DT_NONE = 0,
	QKV_DT_F32,
	QKV_DT_F16,
	QKV_DT_BF16,
	QKV_DT_I8,
	QKV_DT_BLOCK /* a block-quantized type of <qkv/wtype.h>, named by the view's wtype */
};

/* One tensor reference: `q: {tensor: name, file: path, dtype: f32}`. */
struct qkv_tensor_ref {
	bool present;
	char *file;   /* resolved path (against the config's folder), or NULL = weights.file */
	char *tensor; /* safetensors tensor name, or NULL */
	enum qkv_dtype dtype; /* raw files: required; others: QKV_DT_NONE */
	enum qkv_split split; /* `qkv:` only: rows | cols | heads */
	struct qkv_mark mark; /* where the reference was written */
};

/* A T range routed to one backend (written by `qkv tune`). */
struct qkv_route {
	uint64_t t_min, t_max; /* inclusive; t_max = UINT64_MAX for "and above" */
	uint32_t precision;    /* enum qkv_precision this route is for */
	char name[QKV_NAME_MAX + 1];
};

/* The `backend:` section of a model config or of a machine profile. */
struct qkv_backend_cfg {
	char *prefer[QKV_CONFIG_MAX_LIST]; /* backend names, most preferred first */
	size_t n_prefer;
	int32_t threads;                        /* -1 = not set, 0 = all cores, else the budget */
	int32_t strict;                         /* -1 = not set, 0 or 1 */
	char *plugin_dirs[QKV_CONFIG_MAX_LIST]; /* resolved against the file's folder */
	size_t n_plugin_dirs;
	struct qkv_route routes[QKV_CONFIG_MAX_LIST]; /* from `routes:` (qkv tune) */
	size_t n_routes;
	char *cpu;     /* `cpu:` the profile was tuned on, or NULL */
	char *path;    /* the file this section came from */
	char *flags;   /* `tuned.flags` of a machine profile, or NULL */
	char *date;    /* `tuned.date` of a machine profile, or NULL */
	char *version; /* `tuned.qkv_version`: the qkv that measured it, or NULL */
	char *shape;   /* `tuned.shape`: "d_model,n_heads,n_kv_heads,head_dim", or NULL */
};

struct qkv_config {
	char *path; /* as given */
	char *dir;  /* folder relative paths resolve against */
	/* model: */
	uint32_t d_model, n_heads, n_kv_heads, head_dim;
	uint32_t precision; /* enum qkv_precision */
	/* weights: */
	uint32_t layout; /* enum qkv_layout */
	enum qkv_file_format format;
	char *file; /* weights.file resolved, or NULL */
	struct qkv_tensor_ref w[3], bias[3];
	struct qkv_tensor_ref scale[3];      /* int8 pre-quantized: per-column f32 scales */
	struct qkv_tensor_ref qkv, qkv_bias; /* fused q|k|v (then w[] and bias[] are unset) */
	bool has_layer;                      /* weights.layer (or an override) is set: */
	uint32_t layer;                      /* substituted for {layer} in tensor names */
	uint32_t n_layers; /* model.n_layers, or GGUF <arch>.block_count; 0 = unknown */
	/* backend: */
	struct qkv_backend_cfg backend;
	/* shard: (tensor parallelism by heads, see shard.h); world 0 = not set */
	uint32_t shard_rank, shard_world;
	struct qkv_mark shard_mark;     /* the `shard:` section */
	struct qkv_mark shard_marks[2]; /* its `rank` and `world` values */
};

/* Parse and validate a model config. On failure returns QKV_ERR_CONFIG (or IO/NOMEM)
 * with "FILE:LINE:COL: key `a.b`: problem" in err; *cfg is then empty. */
enum qkv_status qkv_config_load(const char *path, struct qkv_config *cfg, char *err, size_t errlen);

/* Parse a machine profile: a file with only a `backend:` section. */
enum qkv_status qkv_machine_load(const char *path, struct qkv_backend_cfg *out, char *err,
                                 size_t errlen);

/* Parse a config from memory (fuzzing, tests); `name` is used in messages and
 * relative paths resolve against `dir`. */
enum qkv_status qkv_config_parse(const char *name, const char *dir, const char *text, size_t len,
                                 struct qkv_config *cfg, char *err, size_t errlen);

void qkv_config_free(struct qkv_config *cfg);
void qkv_backend_cfg_free(struct qkv_backend_cfg *b);

/* Is `name` a valid backend name ([a-z0-9_]{1,31})? */
bool qkv_backend_name_valid(const char *name);

#endif
