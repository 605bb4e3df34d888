/* Step 3 of reading a config: rules across keys, on the parsed structs.
 *
 * Defaults are applied here (n_kv_heads, head_dim, format), shapes are checked by the
 * rules the API uses too (dims.h), every tensor reference is checked against the file format,
 * and routes are checked for empty and overlapping T ranges. The tree is used only to
 * point each message at the line of the key at fault. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <qkv/precision.h>

#include "config_internal.h"
#include "dims.h"
#include "weights.h"
#include "weights_format.h"
#include "shard.h"
#include "util.h"

/* The node of `section.key` (or of the section, or the root, when absent) for marks. */
static struct qkv_mark mark_at(const struct cfg_node *root, const char *section, const char *key)
{
	const struct cfg_node *s = cfg_get(root, section);
	const struct cfg_node *k = key ? cfg_get(s, key) : NULL;
	return k ? k->mark : s ? s->mark : root->mark;
}

/* A GGUF config's dimensions are completed and checked against the file's metadata when
 * it is loaded (qkv_config_gguf_dims), not here. */
static bool dims_from_gguf(const struct qkv_config *cfg)
{
	enum qkv_file_format f = cfg->format;
	if (f == QKV_FMT_AUTO && cfg->file)
		f = qkv_format_of(cfg->file);
	return qkv_format_has(f, QKV_FMT_DIMS);
}

static enum qkv_status validate_dims(const struct cfg_ctx *c, const struct cfg_node *root,
                                     struct qkv_config *cfg)
{
	if (dims_from_gguf(cfg))
		return QKV_OK;
	struct qkv_dims d = {.d_model = cfg->d_model,
	                     .n_heads = cfg->n_heads,
	                     .n_kv_heads = cfg->n_kv_heads,
	                     .head_dim = cfg->head_dim,
	                     .precision = cfg->precision};
	char msg[400], key[32];
	enum qkv_status st;
	const char *bad = qkv_dims_check(&d, msg, sizeof(msg), &st);
	if (bad) {
		snprintf(key, sizeof(key), "model.%s", bad);
		return cfg_fail(c, mark_at(root, "model", bad), key,
		                st == QKV_ERR_UNSUPPORTED ? st : QKV_ERR_CONFIG, "%s", msg);
	}
	cfg->n_kv_heads = d.n_kv_heads;
	cfg->head_dim = d.head_dim;
	return QKV_OK;
}

static struct qkv_tensor_ref *ref_at(struct qkv_config *cfg, size_t g, size_t p)
{
	if (g == 3)
		return p == 1 ? &cfg->qkv_bias : &cfg->qkv;
	return g == 0 ? &cfg->w[p] : g == 1 ? &cfg->bias[p] : &cfg->scale[p];
}

/* Without `format:`, every file's extension must name the same format. */
static enum qkv_status resolve_format(const struct cfg_ctx *c, const struct cfg_node *root,
                                      struct qkv_config *cfg)
{
	if (cfg->format != QKV_FMT_AUTO)
		return QKV_OK;
	const char *first = NULL, *first_key = NULL;
	char key[32];
	for (size_t i = 0; i < 12; i++) {
		const char *file;
		struct qkv_mark m;
		if (i == 0) {
			file = cfg->file;
			m = mark_at(root, "weights", "file");
			snprintf(key, sizeof(key), "weights.file");
		} else {
			struct qkv_tensor_ref *r = ref_at(cfg, (i - 1) / 3, (i - 1) % 3);
			file = r->present ? r->file : NULL;
			m = r->mark;
			snprintf(key, sizeof(key), "weights.%s.file",
			         qkv_ref_names[(i - 1) / 3][(i - 1) % 3]);
		}
		if (!file)
			continue;
		enum qkv_file_format f = qkv_format_of(file);
		char shown[64], shown_first[64];
		cfg_show(file, strlen(file), shown, sizeof(shown));
		if (f == QKV_FMT_AUTO) {
			char endings[128];
			qkv_format_endings(endings, sizeof(endings));
			return cfg_fail(c, m, key, QKV_ERR_CONFIG,
			                "cannot tell the format of `%s` from its extension "
			                "(%s); set weights.format",
			                shown, endings);
		}
		if (cfg->format == QKV_FMT_AUTO) {
			cfg->format = f;
			first = file;
			first_key =
			    i == 0 ? "weights.file" : qkv_ref_names[(i - 1) / 3][(i - 1) % 3];
		} else if (f != cfg->format) {
			return cfg_fail(
			    c, m, key, QKV_ERR_CONFIG,
			    "`%s` is a %s file but `%s` (%s) is %s: one config uses one "
			    "format",
			    shown, qkv_format_name(f), first_key,
			    cfg_show(first, strlen(first), shown_first, sizeof(shown_first)),
			    qkv_format_name(cfg->format));
		}
	}
	if (cfg->format == QKV_FMT_AUTO)
		return cfg_fail(c, mark_at(root, "weights", NULL), "weights.file", QKV_ERR_CONFIG,
		                "no weight file: set weights.file or `file:` in each tensor "
		                "reference");
	return QKV_OK;
}

static enum qkv_status validate_ref(const struct cfg_ctx *c, const struct qkv_config *cfg,
                                    const struct qkv_tensor_ref *r, const char *name)
{
	char key[32];
	snprintf(key, sizeof(key), "weights.%s", name);
	if (!r->file && !cfg->file)
		return cfg_fail(c, r->mark, key, QKV_ERR_CONFIG,
		                "no file for this tensor: give `file:` here or set weights.file");
	bool named = qkv_format_has(cfg->format, QKV_FMT_NAMED);
	bool typed = qkv_format_has(cfg->format, QKV_FMT_TYPED);
	if (named && !r->tensor)
		return cfg_fail(c, r->mark, key, QKV_ERR_CONFIG,
		                "a %s reference needs `tensor: NAME`",
		                qkv_format_name(cfg->format));
	if (!named && r->tensor)
		return cfg_fail(c, r->mark, key, QKV_ERR_CONFIG,
		                "`tensor:` only applies to files of many tensors; a %s file "
		                "holds one tensor",
		                qkv_format_name(cfg->format));
	if (!typed && r->dtype == QKV_DT_NONE)
		return cfg_fail(c, r->mark, key, QKV_ERR_CONFIG,
		                "a %s file reference needs `dtype:` (f32 | f16 | bf16 | i8)",
		                qkv_format_name(cfg->format));
	if (typed && r->dtype != QKV_DT_NONE)
		return cfg_fail(c, r->mark, key, QKV_ERR_CONFIG,
		                "`dtype:` only applies to raw files; a %s file records its dtype",
		                qkv_format_name(cfg->format));
	return QKV_OK;
}

/* weights.qkv / qkv_bias against the separate references, the split against the
 * layout, and weights.layer against model.n_layers. */
static enum qkv_status validate_fused(const struct cfg_ctx *c, const struct cfg_node *root,
                                      const struct qkv_config *cfg)
{
	if (cfg->has_layer && cfg->n_layers && cfg->layer >= cfg->n_layers)
		return cfg_fail(c, mark_at(root, "weights", "layer"), "weights.layer",
		                QKV_ERR_CONFIG,
		                "layer %" PRIu32 " is not below model.n_layers %" PRIu32,
		                cfg->layer, cfg->n_layers);
	char key[32];
	if (cfg->qkv_bias.present && !cfg->qkv.present)
		return cfg_fail(c, cfg->qkv_bias.mark, "weights.qkv_bias", QKV_ERR_CONFIG,
		                "a fused bias goes with a fused weights.qkv (whose `split` it "
		                "follows); give q_bias, k_bias and v_bias instead");
	for (size_t p = 0; p < 3; p++) {
		const struct qkv_tensor_ref *r =
		    cfg->qkv.present && cfg->w[p].present           ? &cfg->w[p]
		    : cfg->qkv_bias.present && cfg->bias[p].present ? &cfg->bias[p]
		    : cfg->qkv.present && cfg->scale[p].present     ? &cfg->scale[p]
		                                                    : NULL;
		if (!r)
			continue;
		size_t g = r == &cfg->w[p] ? 0 : r == &cfg->bias[p] ? 1 : 2;
		snprintf(key, sizeof(key), "weights.%s", qkv_ref_names[g][p]);
		return cfg_fail(c, r->mark, key, QKV_ERR_CONFIG, "%s",
		                g == 0 ? "weights.qkv (fused) is given: q, k and v come from it"
		                : g == 1
		                    ? "weights.qkv_bias (fused) is given: the biases come from it"
		                    : "scales are not supported with a fused weights.qkv");
	}
	if (qkv_format_has(cfg->format, QKV_FMT_OUT_IN) && cfg->layout != QKV_LAYOUT_OUT_IN)
		return cfg_fail(c, mark_at(root, "weights", "layout"), "weights.layout",
		                QKV_ERR_CONFIG,
		                "GGUF tensors are [d_out x d_model] (ggml dims [d_model, d_out]): "
		                "the layout is out_in (or leave it out)");
	const struct qkv_tensor_ref *r = &cfg->qkv;
	if (r->present && ((r->split == QKV_SPLIT_ROWS && cfg->layout != QKV_LAYOUT_OUT_IN) ||
	                   (r->split == QKV_SPLIT_COLS && cfg->layout != QKV_LAYOUT_IN_OUT)))
		return cfg_fail(c, r->mark, "weights.qkv.split", QKV_ERR_CONFIG,
		                "split `%s` needs layout %s (q|k|v along the output dimension); "
		                "this config's layout is %s",
		                qkv_split_name(r->split),
		                r->split == QKV_SPLIT_ROWS ? "out_in" : "in_out",
		                cfg->layout == QKV_LAYOUT_OUT_IN ? "out_in" : "in_out");
	return QKV_OK;
}

static enum qkv_status validate_weights(const struct cfg_ctx *c, const struct cfg_node *root,
                                        struct qkv_config *cfg)
{
	enum qkv_status st = resolve_format(c, root, cfg);
	for (size_t g = 0; g < 4 && st == QKV_OK; g++)
		for (size_t p = 0; p < (g == 3 ? 2 : 3) && st == QKV_OK; p++)
			if (ref_at(cfg, g, p)->present)
				st = validate_ref(c, cfg, ref_at(cfg, g, p), qkv_ref_names[g][p]);
	if (st == QKV_OK)
		st = validate_fused(c, root, cfg);
	if (st != QKV_OK)
		return st;
	size_t n_scales = 0;
	for (size_t p = 0; p < 3; p++)
		n_scales += cfg->scale[p].present;
	for (size_t p = 0; p < 3 && n_scales; p++) {
		char key[32];
		snprintf(key, sizeof(key), "weights.%s", qkv_ref_names[2][p]);
		if (cfg->precision != QKV_INT8 && cfg->scale[p].present)
			return cfg_fail(c, cfg->scale[p].mark, key, QKV_ERR_CONFIG,
			                "scales are only for pre-quantized weights: set "
			                "model.precision to int8");
		if (!cfg->scale[p].present)
			return cfg_fail(c, mark_at(root, "weights", NULL), key, QKV_ERR_CONFIG,
			                "required key is missing: q_scale, k_scale and v_scale "
			                "come together");
	}
	return QKV_OK;
}

enum qkv_status cfg_validate_backend(const struct cfg_ctx *c, const struct cfg_node *section,
                                     const char *path, struct qkv_backend_cfg *b)
{
	const struct cfg_node *routes = cfg_get(section, "routes");
	for (size_t i = 0; i < b->n_routes; i++) {
		const struct qkv_route *r = &b->routes[i];
		struct qkv_mark m = routes ? routes->kids[i]->mark : section->mark;
		char key[64];
		snprintf(key, sizeof(key), "%s.routes[%zu]", path, i);
		if (r->t_max < r->t_min)
			return cfg_fail(c, m, key, QKV_ERR_CONFIG,
			                "empty T range: t_max %" PRIu64 " is below t_min %" PRIu64,
			                r->t_max, r->t_min);
		for (size_t j = 0; j < i; j++) {
			const struct qkv_route *o = &b->routes[j];
			if (o->precision == r->precision && r->t_min <= o->t_max &&
			    o->t_min <= r->t_max)
				return cfg_fail(c, m, key, QKV_ERR_CONFIG,
				                "T range overlaps routes[%zu] for precision %s: "
				                "each T goes to one backend",
				                j, qkv_precision_name(r->precision));
		}
	}
	return QKV_OK;
}

/* `shard:` against the model's heads (shard.h has the rules), the message at the line of
 * the key at fault. Also run by qkv_config_load once a GGUF file has given the heads. */
enum qkv_status qkv_config_shard_check(const struct qkv_config *cfg, char *err, size_t errlen)
{
	if (cfg->shard_world == 0)
		return QKV_OK;
	struct qkv_shard plan;
	char why[200];
	enum qkv_shard_fault f = qkv_shard_plan(cfg->n_heads, cfg->n_kv_heads, cfg->shard_rank,
	                                        cfg->shard_world, &plan, why, sizeof(why));
	if (f == QKV_SHARD_OK)
		return QKV_OK;
	bool rank = f == QKV_SHARD_BAD_RANK;
	struct qkv_mark m = cfg->shard_marks[rank ? 0 : 1];
	return qkv_fail(err, errlen, QKV_ERR_CONFIG, "%s:%u:%u: key `shard.%s`: %s",
	                cfg->path ? cfg->path : "(config)", m.line, m.column,
	                rank ? "rank" : "world", why);
}

enum qkv_status cfg_validate_model(const struct cfg_ctx *c, const struct cfg_node *root,
                                   struct qkv_config *cfg)
{
	enum qkv_status st = validate_dims(c, root, cfg);
	if (st == QKV_OK && !dims_from_gguf(cfg))
		st = qkv_config_shard_check(cfg, c->err, c->errlen);
	if (st == QKV_OK)
		st = validate_weights(c, root, cfg);
	const struct cfg_node *backend = cfg_get(root, "backend");
	if (st == QKV_OK && backend)
		st = cfg_validate_backend(c, backend, "backend", &cfg->backend);
	return st;
}
