/* Step 2 of reading a config: node tree -> plain structs, for the model config's
 * `model` and `weights` sections (config_backend.c reads `backend` and machine profiles).
 *
 * Each key is looked up in the schema (unknown keys are refused with the closest valid
 * key as a hint; duplicates are refused) and each value is checked for its type, syntax
 * and range. Rules that involve several keys (defaults, shapes, formats, route overlaps)
 * are the next step's, in config_validate.c. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "weights_format.h"
#include "util.h"

/* Does the config's `weights:` name a GGUF file (format: gguf, or a .gguf weights.file)?
 * Then the model's dimensions and the layout may come from the file. */
static bool weights_are_gguf(const struct cfg_node *root)
{
	const struct cfg_node *w = cfg_get(root, "weights");
	if (!w || w->kind != CFG_MAP)
		return false;
	const struct cfg_node *f = cfg_get(w, "format");
	if (f && f->kind == CFG_SCALAR)
		return strcmp(f->str, "gguf") == 0;
	f = cfg_get(w, "file");
	return f && f->kind == CFG_SCALAR && f->len >= 5 &&
	       strcmp(f->str + f->len - 5, ".gguf") == 0;
}

static enum qkv_status parse_model_section(const struct cfg_ctx *c, const struct cfg_node *m,
                                           struct cfg_path *path, struct qkv_config *cfg, bool gguf)
{
	static const char *const keys[] = {"d_model",  "n_heads",   "n_kv_heads",
	                                   "head_dim", "precision", "n_layers"};
	/* key, maximum, destination, required; the minimum is 1 (absent optional keys stay 0
	 * and get their defaults in validation) */
	struct {
		const char *key;
		uint64_t max;
		uint32_t *dst;
		bool required;
	} dims[] = {
	    {"d_model", 1u << 20, &cfg->d_model, !gguf},
	    {"n_heads", 1u << 16, &cfg->n_heads, !gguf},
	    {"n_kv_heads", 1u << 16, &cfg->n_kv_heads, false},
	    {"head_dim", 1u << 16, &cfg->head_dim, false},
	    {"n_layers", 1u << 16, &cfg->n_layers, false},
	};
	enum qkv_status st = cfg_check_keys(c, m, path, keys, 6, NULL);
	for (size_t i = 0; st == QKV_OK && i < sizeof(dims) / sizeof(dims[0]); i++) {
		const struct cfg_node *v = cfg_field(m, path, dims[i].key);
		uint64_t x = 0;
		if (v)
			st = cfg_get_uint(c, v, path->buf, 1, dims[i].max, &x);
		else if (dims[i].required)
			st = cfg_missing(c, m, path);
		*dims[i].dst = (uint32_t)x; /* 0 = not set: defaults come in validation */
		cfg_path_pop(path);
	}
	if (st != QKV_OK)
		return st;
	const struct cfg_node *v = cfg_field(m, path, "precision");
	cfg->precision = QKV_F32;
	if (v)
		st = cfg_get_enum(c, v, path->buf, cfg_precision_names, QKV_PRECISION_COUNT,
		                  &cfg->precision);
	cfg_path_pop(path);
	return st;
}

static enum qkv_status parse_ref(const struct cfg_ctx *c, const struct cfg_node *n,
                                 struct cfg_path *path, struct qkv_tensor_ref *ref, bool fused)
{
	static const char *const keys[] = {"tensor", "file", "dtype", "split"};
	static const char *const dtypes[] = {"none", "f32", "f16", "bf16", "i8"};
	ref->mark = n->mark;
	if (n->kind != CFG_MAP)
		return cfg_fail(c, n->mark, path->buf, QKV_ERR_CONFIG,
		                "expected a tensor reference such as {tensor: NAME} or "
		                "{file: PATH}, got %s",
		                cfg_kind_name(n));
	enum qkv_status st = cfg_check_keys(c, n, path, keys, fused ? 4 : 3,
	                                    fused ? NULL : "(`split` is for weights.qkv)");
	if (st != QKV_OK)
		return st;
	if (n->n == 0)
		return cfg_fail(c, n->mark, path->buf, QKV_ERR_CONFIG,
		                "an empty tensor reference: give `tensor`, `file` or both");
	ref->present = true;
	const struct cfg_node *v = cfg_field(n, path, "tensor");
	if (v)
		st = cfg_get_strdup(c, v, path->buf, &ref->tensor);
	cfg_path_pop(path);
	v = cfg_field(n, path, "file");
	if (v && st == QKV_OK)
		st = cfg_get_path(c, v, path->buf, &ref->file);
	cfg_path_pop(path);
	v = cfg_field(n, path, "dtype");
	if (v && st == QKV_OK) {
		uint32_t d = 0;
		st = cfg_get_enum(c, v, path->buf, dtypes + 1, 4, &d);
		ref->dtype = (enum qkv_dtype)(d + 1);
	}
	cfg_path_pop(path);
	if (!fused || st != QKV_OK)
		return st;
	static const char *const splits[] = {"rows", "cols", "heads"};
	v = cfg_field(n, path, "split");
	uint32_t sp = 0;
	st = v ? cfg_get_enum(c, v, path->buf, splits, 3, &sp) : cfg_missing(c, n, path);
	ref->split = (enum qkv_split)(QKV_SPLIT_ROWS + sp);
	cfg_path_pop(path);
	return st;
}

static enum qkv_status parse_weights_section(const struct cfg_ctx *c, const struct cfg_node *w,
                                             struct cfg_path *path, struct qkv_config *cfg,
                                             bool gguf)
{
	static const char *const keys[] = {"layout",  "file",    "format", "q",        "k",
	                                   "v",       "q_bias",  "k_bias", "v_bias",   "q_scale",
	                                   "k_scale", "v_scale", "qkv",    "qkv_bias", "layer"};
	static const char *const layouts[] = {"in_out", "out_in"}; /* enum qkv_layout order */
	enum qkv_status st = cfg_check_keys(c, w, path, keys, 15, NULL);
	if (st != QKV_OK)
		return st;
	const struct cfg_node *v = cfg_field(w, path, "layout");
	cfg->layout = QKV_LAYOUT_OUT_IN; /* GGUF's only layout */
	if (v)
		st = cfg_get_enum(c, v, path->buf, layouts, 2, &cfg->layout);
	else if (!gguf)
		st = cfg_missing(c, w, path);
	cfg_path_pop(path);
	v = cfg_field(w, path, "layer");
	if (v && st == QKV_OK) {
		uint64_t l = 0;
		st = cfg_get_uint(c, v, path->buf, 0, (1u << 16) - 1, &l);
		cfg->layer = (uint32_t)l;
		cfg->has_layer = true;
	}
	cfg_path_pop(path);
	v = cfg_field(w, path, "qkv");
	if (v && st == QKV_OK)
		st = parse_ref(c, v, path, &cfg->qkv, true);
	cfg_path_pop(path);
	v = cfg_field(w, path, "qkv_bias");
	if (v && st == QKV_OK)
		st = parse_ref(c, v, path, &cfg->qkv_bias, false);
	cfg_path_pop(path);
	v = cfg_field(w, path, "file");
	if (v && st == QKV_OK)
		st = cfg_get_path(c, v, path->buf, &cfg->file);
	cfg_path_pop(path);
	v = cfg_field(w, path, "format");
	if (v && st == QKV_OK) {
		const char *formats[QKV_FMT_COUNT];
		enum qkv_file_format ids[QKV_FMT_COUNT];
		uint32_t f = 0;
		size_t n = qkv_format_config_names(formats, ids);
		st = cfg_get_enum(c, v, path->buf, formats, n, &f);
		cfg->format = st == QKV_OK ? ids[f] : QKV_FMT_AUTO;
	}
	cfg_path_pop(path);
	struct qkv_tensor_ref *dst[3] = {cfg->w, cfg->bias, cfg->scale};
	for (size_t g = 0; g < 3 && st == QKV_OK; g++) {
		for (size_t p = 0; p < 3 && st == QKV_OK; p++) {
			v = cfg_field(w, path, qkv_ref_names[g][p]);
			if (v)
				st = parse_ref(c, v, path, &dst[g][p], false);
			else if (g == 0 && !cfg->qkv.present)
				st = cfg_missing(c, w, path);
			cfg_path_pop(path);
		}
	}
	return st;
}

/* `shard: {rank: R, world: W}`; the rules across keys are checked in validation. */
static enum qkv_status parse_shard_section(const struct cfg_ctx *c, const struct cfg_node *n,
                                           struct cfg_path *path, struct qkv_config *cfg)
{
	static const char *const keys[] = {"rank", "world"};
	if (n->kind != CFG_MAP)
		return cfg_fail(c, n->mark, path->buf, QKV_ERR_CONFIG,
		                "expected a mapping {rank: R, world: W}, got %s", cfg_kind_name(n));
	enum qkv_status st = cfg_check_keys(c, n, path, keys, 2, NULL);
	cfg->shard_mark = n->mark;
	uint64_t world = 1, rank = 0;
	const struct cfg_node *v = cfg_field(n, path, "world");
	cfg->shard_marks[1] = v ? v->mark : n->mark;
	if (st == QKV_OK)
		st = v ? cfg_get_uint(c, v, path->buf, 1, 1u << 16, &world)
		       : cfg_missing(c, n, path);
	cfg_path_pop(path);
	v = cfg_field(n, path, "rank");
	cfg->shard_marks[0] = v ? v->mark : n->mark;
	if (st == QKV_OK)
		st = v ? cfg_get_uint(c, v, path->buf, 0, (1u << 16) - 1, &rank)
		       : cfg_missing(c, n, path);
	cfg_path_pop(path);
	cfg->shard_world = (uint32_t)world;
	cfg->shard_rank = (uint32_t)rank;
	return st;
}

enum qkv_status cfg_parse_model(const struct cfg_ctx *c, const struct cfg_node *root,
                                struct qkv_config *cfg)
{
	static const char *const keys[] = {"model", "weights", "backend", "shard"};
	struct cfg_path path = {.len = 0};
	const struct cfg_node *tuned = cfg_get(root, "tuned");
	if (tuned) {
		const struct cfg_node *k = root->kids[0];
		for (size_t i = 0; i < root->n; i += 2)
			if (root->kids[i + 1] == tuned)
				k = root->kids[i];
		return cfg_fail(c, k->mark, "tuned", QKV_ERR_CONFIG,
		                "`tuned` belongs in a machine profile (--machine FILE), not in a "
		                "model config");
	}
	enum qkv_status st = cfg_check_keys(c, root, &path, keys, 4, NULL);
	if (st != QKV_OK)
		return st;
	const struct cfg_node *v = cfg_field(root, &path, "model");
	bool gguf = weights_are_gguf(root);
	st = v      ? parse_model_section(c, v, &path, cfg, gguf)
	     : gguf ? QKV_OK /* every dimension from the file, precision f32 */
	            : cfg_missing(c, root, &path);
	cfg_path_pop(&path);
	if (st != QKV_OK)
		return st;
	v = cfg_field(root, &path, "weights");
	st = v ? parse_weights_section(c, v, &path, cfg, gguf) : cfg_missing(c, root, &path);
	cfg_path_pop(&path);
	if (st != QKV_OK)
		return st;
	v = cfg_field(root, &path, "backend");
	if (v)
		st = cfg_parse_backend(c, v, &path, &cfg->backend);
	cfg_path_pop(&path);
	v = cfg_field(root, &path, "shard");
	if (v && st == QKV_OK)
		st = parse_shard_section(c, v, &path, cfg);
	cfg_path_pop(&path);
	return st;
}
