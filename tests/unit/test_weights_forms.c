/* Checkpoint forms (issue 17): the same logical weights written by qkv-genweights as
 * separate tensors, GPT-2 fused c_attn (in_out, split cols), Phi-3 fused qkv_proj (out_in,
 * split rows), GPT-NeoX/Falcon fused query_key_value (split heads, with GQA), sharded
 * safetensors with an index, and GGUF (F32, F16, BF16, with biases), 3 layers each.
 *
 * 1. Every form's loaded weights and biases equal, element for element, those of the
 *    separate form of the same dtype and layer (the loader path issue 17 did not touch).
 * 2. Every f32 backend's Q/K/V from each form match a float64 reference computed from the
 *    separate (unfused) tensors, within the bound of tests/unit/test_e2e.c:
 *      |y - y64| <= 2 K 2^-24 sum_k |x_k w_kn| (+ |b_n|) + 2^-24 |y64|
 * 3. What is mapped and what is copied: zero copy where the slice is contiguous.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkv/qkv.h>

#include "config.h"
#include "weights.h"

/* preset tiny: d_model 64, 4 heads, 2 KV heads, head_dim 16, biases */
#define DM 64
#define DQ 64
#define DKV 32
#define LAYERS 3
#define T 3

static char dir[] = "/tmp/qkv-forms-XXXXXX";
static char err[2048];

static void gen(const char *form, const char *dtype, const char *out, const char *extra)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "'%s/tools/genweights/qkv-genweights' --preset tiny --seed 7 --layers %d "
	         "--form %s --dtype %s --out '%s/%s' %s > /dev/null",
	         QKV_BUILD_ROOT, LAYERS, form, dtype, dir, out, extra);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	static const char *const dts[] = {"f32", "f16", "bf16"};
	char name[64];
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "sep_%s.safetensors", dts[i]);
		gen("separate", dts[i], name, "");
		snprintf(name, sizeof(name), "m_%s.gguf", dts[i]);
		gen("gguf", dts[i], name, "");
	}
	gen("gpt2", "f32", "gpt2.safetensors", "");
	gen("phi3", "f32", "phi3.safetensors", "");
	gen("neox", "f32", "neox.safetensors", "");
	gen("neox", "bf16", "neox_bf16.safetensors", "");
	gen("sharded", "f32", "model.safetensors.index.json", "--shards 3");
}

static void teardown(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(forms, .init = setup, .fini = teardown, .timeout = 120);

/* Write NAME.yaml in dir with `body` and return its path (static buffer per slot). */
static const char *config(const char *name, const char *body)
{
	static char paths[4][512];
	static int slot;
	char *p = paths[slot++ % 4];
	snprintf(p, 512, "%s/%s.yaml", dir, name);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs(body, f);
	fclose(f);
	return p;
}

#define MODEL "model: {d_model: 64, n_heads: 4, n_kv_heads: 2, n_layers: 3}\n"

static const char *separate_cfg(const char *dtype)
{
	static char body[1024];
	snprintf(body, sizeof(body),
	         MODEL "weights:\n  layout: out_in\n  file: sep_%s.safetensors\n"
	               "  q: {tensor: 'model.layers.{layer}.self_attn.q_proj.weight'}\n"
	               "  k: {tensor: 'model.layers.{layer}.self_attn.k_proj.weight'}\n"
	               "  v: {tensor: 'model.layers.{layer}.self_attn.v_proj.weight'}\n"
	               "  q_bias: {tensor: 'model.layers.{layer}.self_attn.q_proj.bias'}\n"
	               "  k_bias: {tensor: 'model.layers.{layer}.self_attn.k_proj.bias'}\n"
	               "  v_bias: {tensor: 'model.layers.{layer}.self_attn.v_proj.bias'}\n",
	         dtype);
	char name[32];
	snprintf(name, sizeof(name), "sep_%s", dtype);
	return config(name, body);
}

struct form {
	const char *name, *dtype; /* dtype of the separate reference */
	const char *body;
	size_t owned; /* buffers the loader must own (copies) */
};

#define LLAMA_NAMES(pre, suf)                                                                      \
	"  q: {tensor: '" pre "q" suf ".weight'}\n  k: {tensor: '" pre "k" suf ".weight'}\n"       \
	"  v: {tensor: '" pre "v" suf ".weight'}\n  q_bias: {tensor: '" pre "q" suf ".bias'}\n"    \
	"  k_bias: {tensor: '" pre "k" suf ".bias'}\n  v_bias: {tensor: '" pre "v" suf ".bias'}\n"

static const struct form forms[] = {
    /* c_attn [64 x 128] in_out: every weight slice is strided (copied), biases are blocks */
    {"gpt2", "f32",
     MODEL "weights:\n  layout: in_out\n  file: gpt2.safetensors\n"
           "  qkv: {tensor: 'h.{layer}.attn.c_attn.weight', split: cols}\n"
           "  qkv_bias: {tensor: 'h.{layer}.attn.c_attn.bias'}\n",
     3},
    /* qkv_proj [128 x 64] out_in rows q|k|v: all in place; no bias in Phi-3 */
    {"phi3", "f32",
     MODEL "weights:\n  layout: out_in\n  file: phi3.safetensors\n"
           "  qkv: {tensor: 'model.layers.{layer}.self_attn.qkv_proj.weight', split: rows}\n",
     0},
    /* query_key_value, 2 head groups: every slice gathered (weights and biases) */
    {"neox", "f32",
     MODEL "weights:\n  layout: out_in\n  file: neox.safetensors\n"
           "  qkv: {tensor: 'gpt_neox.layers.{layer}.attention.query_key_value.weight', "
           "split: heads}\n"
           "  qkv_bias: {tensor: 'gpt_neox.layers.{layer}.attention.query_key_value.bias'}\n",
     6},
    {"neox_bf16", "bf16",
     MODEL "weights:\n  layout: out_in\n  file: neox_bf16.safetensors\n"
           "  qkv: {tensor: 'gpt_neox.layers.{layer}.attention.query_key_value.weight', "
           "split: heads}\n"
           "  qkv_bias: {tensor: 'gpt_neox.layers.{layer}.attention.query_key_value.bias'}\n",
     6},
    {"sharded", "f32",
     MODEL "weights:\n  layout: out_in\n  file: model.safetensors.index.json\n" LLAMA_NAMES(
         "model.layers.{layer}.self_attn.", "_proj"),
     0},
    /* GGUF: no model dimensions in the config (from the metadata), no layout */
    {"gguf_f32", "f32", "weights:\n  file: m_f32.gguf\n" LLAMA_NAMES("blk.{layer}.attn_", ""), 0},
    {"gguf_f16", "f16", "weights:\n  file: m_f16.gguf\n" LLAMA_NAMES("blk.{layer}.attn_", ""), 6},
    {"gguf_bf16", "bf16", "weights:\n  file: m_bf16.gguf\n" LLAMA_NAMES("blk.{layer}.attn_", ""),
     6},
};
#define N_FORMS (sizeof(forms) / sizeof(forms[0]))

/* Load `path` at `layer` (through the config API, as qkv_model_open does). */
static void load(const char *path, uint32_t layer, struct qkv_config *cfg,
                 struct qkv_loaded_weights *lw)
{
	cr_assert_eq(qkv_config_load(path, cfg, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(qkv_config_set_layer(cfg, layer, "test", err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(qkv_weights_load(cfg, lw, err, sizeof(err)), QKV_OK, "%s: %s", path, err);
}

/* Element (n, k) of projection p's weight, whatever the layout. */
static float w_at(const struct qkv_loaded_weights *lw, int p, size_t d_out, size_t n, size_t k)
{
	return lw->layout == QKV_LAYOUT_OUT_IN ? lw->w[p][n * DM + k] : lw->w[p][k * d_out + n];
}

static bool in_mapping(const struct qkv_loaded_weights *lw, const void *p)
{
	for (size_t i = 0; i < lw->n_files; i++)
		if ((const uint8_t *)p >= lw->files[i].data &&
		    (const uint8_t *)p < lw->files[i].data + lw->files[i].size)
			return true;
	return false;
}

Test(forms, every_form_loads_the_separate_weights)
{
	for (size_t f = 0; f < N_FORMS; f++)
		for (uint32_t layer = 0; layer < LAYERS; layer++) {
			struct qkv_config cr, cf;
			struct qkv_loaded_weights ref, got;
			load(separate_cfg(forms[f].dtype), layer, &cr, &ref);
			load(config(forms[f].name, forms[f].body), layer, &cf, &got);
			cr_assert_eq(cf.d_model, DM);
			cr_assert_eq(cf.n_kv_heads, 2);
			cr_assert_eq(cf.head_dim, 16);
			for (int p = 0; p < 3; p++) {
				size_t d_out = p ? DKV : DQ;
				for (size_t n = 0; n < d_out; n++)
					for (size_t k = 0; k < DM; k++)
						cr_assert_eq(w_at(&got, p, d_out, n, k),
						             w_at(&ref, p, d_out, n, k),
						             "%s layer %u w[%d][%zu][%zu]",
						             forms[f].name, layer, p, n, k);
				bool has_bias = strcmp(forms[f].name, "phi3") != 0;
				cr_assert_eq(got.bias[p] != NULL, has_bias, "%s: bias[%d]",
				             forms[f].name, p);
				for (size_t n = 0; has_bias && n < d_out; n++)
					cr_assert_eq(got.bias[p][n], ref.bias[p][n],
					             "%s layer %u bias[%d][%zu]", forms[f].name,
					             layer, p, n);
			}
			/* Copies only where the slice is not contiguous (or must be widened). */
			cr_assert_eq(got.n_owned, forms[f].owned, "%s: %zu owned buffers, want %zu",
			             forms[f].name, got.n_owned, forms[f].owned);
			if (forms[f].owned == 0)
				for (int p = 0; p < 3; p++)
					cr_assert(in_mapping(&got, got.w[p]),
					          "%s: w[%d] should point into the file",
					          forms[f].name, p);
			qkv_weights_free(&ref);
			qkv_weights_free(&got);
			qkv_config_free(&cr);
			qkv_config_free(&cf);
		}
}

Test(forms, sharded_opens_only_the_shards_it_needs)
{
	/* 3 layers x 6 tensors over 3 shards: layer L lives in shard L + 1 alone. */
	for (uint32_t layer = 0; layer < LAYERS; layer++) {
		struct qkv_config cfg;
		struct qkv_loaded_weights lw;
		load(config("sharded", forms[4].body), layer, &cfg, &lw);
		cr_assert_eq(lw.n_files, 2, "index + one shard, got %zu files", lw.n_files);
		char want[64];
		snprintf(want, sizeof(want), "model-%05u-of-00003.safetensors", layer + 1);
		cr_assert(strstr(lw.files[1].path, want), "layer %u opened %s", layer,
		          lw.files[1].path);
		qkv_weights_free(&lw);
		qkv_config_free(&cfg);
	}
	/* One layer over two shards: weights in shard 1, biases in shard 2, each mapped once. */
	gen("sharded", "f32", "two.index.json", "--shards 2 --layers 1");
	char body[2048];
	snprintf(body, sizeof(body), "%s",
	         MODEL "weights:\n  layout: out_in\n  file: two.index.json\n" LLAMA_NAMES(
	             "model.layers.0.self_attn.", "_proj"));
	struct qkv_config cfg;
	struct qkv_loaded_weights lw;
	load(config("two", body), 0, &cfg, &lw);
	cr_assert_eq(lw.n_files, 3, "index + two shards, got %zu", lw.n_files);
	qkv_weights_free(&lw);
	qkv_config_free(&cfg);
}

static void check(const char *what, const float *x, const struct qkv_loaded_weights *ref, int p,
                  const float *y)
{
	size_t d_out = p ? DKV : DQ;
	for (size_t t = 0; t < T; t++)
		for (size_t n = 0; n < d_out; n++) {
			double r = ref->bias[p] ? ref->bias[p][n] : 0.0, mag = fabs(r);
			for (size_t k = 0; k < DM; k++) {
				double pr =
				    (double)x[t * DM + k] * (double)w_at(ref, p, d_out, n, k);
				r += pr;
				mag += fabs(pr);
			}
			double bound = 2.0 * DM * 0x1p-24 * mag + 0x1p-24 * fabs(r);
			double e = fabs((double)y[t * d_out + n] - r);
			cr_assert(e <= bound,
			          "%s[%zu][%zu] = %.9g, float64 %.9g, error %.3g > %.3g", what, t,
			          n, y[t * d_out + n], r, e, bound);
		}
}

static void project_all_forms(const char *backend)
{
	static float x[T * DM], q[T * DQ], k[T * DKV], v[T * DKV];
	uint64_t s = 99;
	for (size_t i = 0; i < T * DM; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
	}
	for (size_t f = 0; f < N_FORMS; f++) {
		/* The layer comes from the open option; the config names none. */
		struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
		o.backend = backend;
		o.strict = 1;
		o.layer_set = 1;
		o.layer = 2;
		qkv_model *m = NULL;
		const char *path = config(forms[f].name, forms[f].body);
		cr_assert_eq(qkv_model_open(path, &o, &m, err, sizeof(err)), QKV_OK, "%s: %s",
		             forms[f].name, err);
		cr_assert_eq(qkv_project(m, T, x, DM, q, DQ, k, DKV, v, DKV, err, sizeof(err)),
		             QKV_OK, "%s", err);
		struct qkv_config cfg;
		struct qkv_loaded_weights ref;
		load(separate_cfg(forms[f].dtype), 2, &cfg, &ref);
		if (!strcmp(forms[f].name, "phi3")) /* Phi-3 has no bias */
			ref.bias[0] = ref.bias[1] = ref.bias[2] = NULL;
		char what[64];
		snprintf(what, sizeof(what), "%s/%s q", backend, forms[f].name);
		check(what, x, &ref, 0, q);
		what[strlen(what) - 1] = 'k';
		check(what, x, &ref, 1, k);
		what[strlen(what) - 1] = 'v';
		check(what, x, &ref, 2, v);
		qkv_weights_free(&ref);
		qkv_config_free(&cfg);
		qkv_model_close(m);
	}
}

Test(forms, scalar)
{
	project_all_forms("scalar");
}

Test(forms, openmp)
{
	project_all_forms("openmp");
}

Test(forms, blas)
{
	project_all_forms("blas");
}

Test(forms, gguf_dimensions_and_layers_from_metadata)
{
	struct qkv_config cfg;
	cr_assert_eq(qkv_config_load(config("gguf_f32", forms[5].body), &cfg, err, sizeof(err)),
	             QKV_OK, "%s", err);
	cr_assert_eq(cfg.d_model, 64);
	cr_assert_eq(cfg.n_heads, 4);
	cr_assert_eq(cfg.n_kv_heads, 2);
	cr_assert_eq(cfg.head_dim, 16);
	cr_assert_eq(cfg.n_layers, LAYERS);
	cr_assert_eq(cfg.layout, QKV_LAYOUT_OUT_IN);
	cr_assert_eq(qkv_config_set_layer(&cfg, LAYERS, "--layer", err, sizeof(err)),
	             QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "--layer: layer 3 is not below the model's 3 layers"), "%s", err);
	qkv_config_free(&cfg);
	/* Given dimensions are checked against the file. */
	const char *bad =
	    config("gguf_bad", "model: {d_model: 64, n_heads: 4, n_kv_heads: 4}\n"
	                       "weights:\n  file: m_f32.gguf\n" LLAMA_NAMES("blk.0.attn_", ""));
	cr_assert_eq(qkv_config_load(bad, &cfg, err, sizeof(err)), QKV_ERR_CONFIG);
	cr_assert(strstr(err, "gguf_bad.yaml: key `model.n_kv_heads`: the config says 4 but") &&
	              strstr(err, "m_f32.gguf has qwen2.attention.head_count_kv = 2"),
	          "%s", err);
	/* A name with {layer} and no layer anywhere. */
	qkv_model *m = NULL;
	cr_assert_eq(qkv_model_open(config("gguf_f32", forms[5].body), NULL, &m, err, sizeof(err)),
	             QKV_ERR_CONFIG);
	cr_assert(strstr(err, "weights.q: tensor name `blk.{layer}.attn_q.weight` has {layer}"),
	          "%s", err);
	/* The layer from the config, and one out of range from the option. */
	const char *l1 = config("gguf_l1", "weights:\n  file: m_f32.gguf\n  layer: 1\n" LLAMA_NAMES(
	                                       "blk.{layer}.attn_", ""));
	cr_assert_eq(qkv_model_open(l1, NULL, &m, err, sizeof(err)), QKV_OK, "%s", err);
	qkv_model_close(m);
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.layer_set = 1;
	o.layer = 7;
	cr_assert_eq(qkv_model_open(l1, &o, &m, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_assert(strstr(err, "option `layer`: layer 7 is not below the model's 3 layers"), "%s",
	          err);
}

Test(forms, fused_errors_name_the_config_and_the_tensor)
{
	/* n_kv_heads 4 makes N = 192: the c_attn tensor [64 x 128] does not fit. */
	struct qkv_config cfg;
	struct qkv_loaded_weights lw;
	const char *p =
	    config("gpt2_bad", "model: {d_model: 64, n_heads: 4}\nweights:\n  layout: in_out\n"
	                       "  file: gpt2.safetensors\n  layer: 0\n"
	                       "  qkv: {tensor: 'h.{layer}.attn.c_attn.weight', split: cols}\n");
	cr_assert_eq(qkv_config_load(p, &cfg, err, sizeof(err)), QKV_OK, "%s", err);
	cr_assert_eq(qkv_weights_load(&cfg, &lw, err, sizeof(err)), QKV_ERR_FORMAT);
	cr_assert(strstr(err, "gpt2_bad.yaml:6: weights.qkv: ") &&
	              strstr(err, "gpt2.safetensors: tensor h.0.attn.c_attn.weight: fused tensor "
	                          "has shape [64, 128], expected [d_model=64, N=192]"),
	          "%s", err);
	qkv_config_free(&cfg);
	/* split rows is for out_in */
	p = config("phi3_bad", MODEL "weights:\n  layout: in_out\n  file: phi3.safetensors\n"
	                             "  qkv: {tensor: x, split: rows}\n");
	cr_assert_eq(qkv_config_load(p, &cfg, err, sizeof(err)), QKV_ERR_CONFIG);
	cr_assert(strstr(err, "key `weights.qkv.split`: split `rows` needs layout out_in"), "%s",
	          err);
	/* A quantized GGUF tensor is refused by its type's name: see tests/corpus/gguf. */
}
