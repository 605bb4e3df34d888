/* `qkv quantize CONFIG --out FILE.safetensors`: quantize an f32 model's weights with the
 * int8 scheme (<qkv/precision.h>), write them as I8 weights + F32 per-column
 * scales (+ F32 biases), print the config that loads them and an int8-vs-f32 accuracy
 * report on random Gaussian inputs. One layer (the config's, or --layer N) or every
 * layer (--all-layers) of a config whose tensor names hold {layer}.
 *
 * Tensor names in the output: SRC.qweight (I8, the source's shape and layout) and
 * SRC.scale (F32 [d_out]) where SRC is the source tensor name as the file spells it
 * (model.layers.3.self_attn.q_proj.weight), SRC.q/.k/.v when q, k and v share one fused
 * tensor, or q/k/v when the source has none (npy/raw); biases keep their name (SRC.q
 * when fused, q_bias.. when unnamed). The printed config names them with {layer} again.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/precision.h>
#include <qkv/qkv.h>
#include <qkv/wtype.h>

#include "commands.h"
#include "jsonw.h"
#include "quantize_gguf.h"
#include "quantize_report.h"
#include "st_write.h"
#include "yaml_out.h"

#define QUANT_BLOCK 64 /* columns gathered at once from an in_out matrix */

struct quant_opts {
	const char *config, *out, *config_out;
	size_t rows;
	uint64_t seed;
	uint32_t layer_set, layer;
	bool all_layers;
	const char *json; /* --json FILE, or NULL */
	const char *type; /* --type T: GGUF of that weight type instead of int8 safetensors */
	FILE *text;       /* the config and the report: stdout, or stderr with --json - */
};

static const struct cli_opt quantize_opts[] = {
    {OPT_OUT, "FILE", "the file to write (required): int8 safetensors, or GGUF with --type"},
    {OPT_TYPE, NULL,
     "write GGUF (llama.cpp names and metadata) of weight type T instead:\n"
     "q8_0 q4_0 q4_k q5_k q6_k (or f16 bf16 f32), loaded with precision stored"},
    {OPT_CONFIG_OUT, NULL, "also write the config that loads it to FILE"},
    {OPT_LAYER, NULL, NULL},
    {OPT_ALL_LAYERS, NULL,
     "every layer of the model (model.n_layers, or GGUF block_count) into\n"
     "one file; the config loads any of them (weights.layer, --layer N)"},
    {OPT_TOKENS, NULL,
     "random Gaussian rows of the accuracy report (default 32;\n"
     "--rows: the same, the old name)"},
    {OPT_SEED, NULL, "xorshift64* seed of those rows (default 42)"},
    {OPT_JSON, NULL, "the accuracy report, per layer and projection, as JSON (- = stdout)"},
    {OPT_COUNT, NULL, NULL},
};

/* quantize reads the weights with the checkpoint API and computes its report itself: no
 * backend is selected, so the options that steer a selection have nothing to act on. */
#define NO_BACKEND                                                                                 \
	"quantize runs no backend: it writes weights and computes its\n"                           \
	"accuracy report itself; give these to qkv run or bench with the\n"                        \
	"config it prints"
static const struct cli_refused quantize_refused[] = {
    {OPT_BACKEND, NO_BACKEND},
    {OPT_THREADS, NO_BACKEND},
    {OPT_PLUGIN_DIR, NO_BACKEND},
    {OPT_MACHINE, NO_BACKEND},
    {OPT_STRICT, NO_BACKEND},
    {OPT_PRECISION, "the output's type is --type T (GGUF) or int8\n(safetensors without --type)"},
    {OPT_SHARD, "quantize writes the whole model; a slice is chosen where\n"
                "it is opened (--shard on qkv run, info, bench)"},
    {OPT_COUNT, NULL},
};

const struct cli_spec qkv_quantize_spec = {
    "quantize",
    "CONFIG --out FILE.safetensors | --type T --out FILE.gguf [options]",
    "Quantize an f32 model to int8 (per-column weights in [-127, 127] + F32 scales),\n"
    "or with --type to a GGUF block type (Q4_K etc., <qkv/wtype.h>); print the config\n"
    "that loads the file and the accuracy against f32 on random Gaussian rows. For a\n"
    "config with {layer} in its tensor names: the config's weights.layer, --layer N,\n"
    "or --all-layers.\n",
    quantize_opts,
    1,
    1,
    NULL,
    quantize_refused};

/* 0 go on, -1 exit 0 (help), else the exit status of a usage error. */
static int parse_args(int argc, char **argv, struct quant_opts *o)
{
	const struct cli_spec *sp = &qkv_quantize_spec;
	struct cli_args a;
	memset(o, 0, sizeof(*o));
	int rc = cli_parse(sp, argc, argv, &a);
	if (rc)
		return rc;
	unsigned long long rows, seed;
	uint32_t layer_set, layer;
	if (cli_uint(sp, &a, OPT_TOKENS, 1, 1u << 16, 32, &rows) ||
	    cli_uint(sp, &a, OPT_SEED, 0, UINT64_MAX, 42, &seed) ||
	    cli_layer(sp, &a, &layer_set, &layer))
		return QKV_EXIT_USAGE;
	if (!a.val[OPT_OUT])
		return cli_usage_error(sp, "--out FILE is required");
	uint32_t wt;
	if (a.val[OPT_TYPE] && !qkv_wtype_parse(a.val[OPT_TYPE], &wt))
		return cli_usage_error(sp,
		                       "--type: give one of q8_0 q4_0 q4_k q5_k q6_k f16 bf16 f32");
	if (layer_set && a.val[OPT_ALL_LAYERS])
		return cli_usage_error(sp, "give --layer N or --all-layers, not both");
	if (cli_check_output(sp, &a, OPT_OUT) || cli_check_output(sp, &a, OPT_CONFIG_OUT) ||
	    cli_check_output(sp, &a, OPT_JSON))
		return QKV_EXIT_ERROR;
	const char *json = a.val[OPT_JSON];
	*o = (struct quant_opts){.config = a.pos[0],
	                         .out = a.val[OPT_OUT],
	                         .config_out = a.val[OPT_CONFIG_OUT],
	                         .rows = (size_t)rows,
	                         .seed = (uint64_t)seed,
	                         .layer_set = layer_set,
	                         .layer = layer,
	                         .all_layers = a.val[OPT_ALL_LAYERS] != NULL,
	                         .json = json,
	                         .type = a.val[OPT_TYPE],
	                         .text = json && !strcmp(json, "-") ? stderr : stdout};
	return 0;
}

/* Quantize each column of one [K x d_out] matrix (through layout) into q (same shape and
 * layout) and scale [d_out], exactly as the backends do at prepare. */
static int quantize_matrix(const float *w, uint32_t layout, size_t K, size_t d_out, int8_t *q,
                           float *scale)
{
	if (layout == QKV_LAYOUT_OUT_IN) { /* columns are contiguous */
		for (size_t n = 0; n < d_out; n++)
			scale[n] = qkv_int8_quantize(w + n * K, K, q + n * K);
		return 0;
	}
	float *col = malloc(QUANT_BLOCK * K * sizeof(float)); /* [QUANT_BLOCK][K] */
	int8_t *qc = malloc(K);                               /* [K] */
	if (!col || !qc) {
		free(col);
		free(qc);
		return -1;
	}
	for (size_t n0 = 0; n0 < d_out; n0 += QUANT_BLOCK) {
		size_t m = d_out - n0 < QUANT_BLOCK ? d_out - n0 : QUANT_BLOCK;
		for (size_t k = 0; k < K; k++) /* read rows, so each cache line is used whole */
			for (size_t c = 0; c < m; c++)
				col[c * K + k] = w[k * d_out + n0 + c];
		for (size_t c = 0; c < m; c++) {
			scale[n0 + c] = qkv_int8_quantize(col + c * K, K, qc);
			for (size_t k = 0; k < K; k++)
				q[k * d_out + n0 + c] = qc[k];
		}
	}
	free(col);
	free(qc);
	return 0;
}

/* The names of the output tensors of one layer (or, from the config's names, their
 * {layer} form for the printed config). */
struct out_names {
	char qweight[3][600], scale[3][600], bias[3][600];
};

static int same_name(const char *const *names, int p)
{
	for (int o = 0; o < 3; o++)
		if (o != p && names[o] && !strcmp(names[o], names[p]))
			return 1;
	return 0;
}

/* SRC, SRC.q when the tensor is shared (fused), or `fallback` when unnamed. */
static void base_name(char *out, size_t len, const char *const *src, int p, const char *fallback)
{
	if (!src[p])
		snprintf(out, len, "%s", fallback);
	else if (same_name(src, p))
		snprintf(out, len, "%s.%s", src[p], qkv_proj_name((unsigned)p));
	else
		snprintf(out, len, "%s", src[p]);
}

static void make_names(const char *const tensor[3], const char *const bias[3], struct out_names *nm)
{
	for (int p = 0; p < 3; p++) {
		char base[520], fallback[16];
		base_name(base, sizeof(base), tensor, p, qkv_proj_name((unsigned)p));
		snprintf(nm->qweight[p], sizeof(nm->qweight[p]), "%s.qweight", base);
		snprintf(nm->scale[p], sizeof(nm->scale[p]), "%s.scale", base);
		snprintf(fallback, sizeof(fallback), "%s_bias", qkv_proj_name((unsigned)p));
		base_name(nm->bias[p], sizeof(nm->bias[p]), bias, p, fallback);
	}
}

/* One quantized layer: its checkpoint (f32 weights and biases stay mapped until the
 * file is written), the int8 weights and scales, the output names and the report. */
struct quant_layer {
	uint32_t layer;
	qkv_checkpoint *ck;
	struct qkv_checkpoint_info info;
	int8_t *q[3];
	float *sc[3];
	struct out_names nm;
	struct quant_error e[3];
};

/* What the printed config says beyond the dimensions: the {layer} names and the layer. */
struct config_out {
	const struct qkv_checkpoint_info *ck; /* the source config, names as written */
	struct out_names nm;
	bool has_layer;
	uint32_t layer;
	bool bias[3]; /* the model has this bias */
};

/* The config that loads the int8 file, through libyaml's emitter. */
static bool print_config(FILE *f, const struct config_out *c, const char *file)
{
	const struct qkv_checkpoint_info *ck = c->ck;
	struct yaml_out y;
	if (!yo_begin(&y, f))
		return false;
	yo_map(&y, false);
	yo_str(&y, "model");
	yo_map(&y, false);
	yo_kv_uint(&y, "d_model", ck->d_model);
	yo_kv_uint(&y, "n_heads", ck->n_heads);
	yo_kv_uint(&y, "n_kv_heads", ck->n_kv_heads);
	yo_kv_uint(&y, "head_dim", ck->head_dim);
	if (c->has_layer && ck->n_layers)
		yo_kv_uint(&y, "n_layers", ck->n_layers);
	yo_kv_str(&y, "precision", "int8");
	yo_end_map(&y);
	yo_str(&y, "weights");
	yo_map(&y, false);
	yo_str(&y, "file");
	yo_quoted(&y, file);
	yo_kv_str(&y, "layout", ck->layout == QKV_LAYOUT_IN_OUT ? "in_out" : "out_in");
	if (c->has_layer)
		yo_kv_uint(&y, "layer", c->layer);
	for (int p = 0; p < 3; p++) {
		const char *names[3] = {c->nm.qweight[p], c->nm.scale[p], c->nm.bias[p]};
		for (int t = 0; t < 3; t++) {
			if (t == 2 && !c->bias[p])
				continue;
			char key[16];
			snprintf(key, sizeof(key), "%s%s", qkv_proj_name((unsigned)p),
			         t == 0   ? ""
			         : t == 1 ? "_scale"
			                  : "_bias");
			yo_str(&y, key);
			yo_map(&y, true);
			yo_str(&y, "tensor");
			yo_quoted(&y, names[t]);
			yo_end_map(&y);
		}
	}
	yo_end_map(&y);
	yo_end_map(&y);
	return yo_finish(&y);
}

/* The weights file as the printed config should name it: relative to the config-out
 * folder when both sit in the same folder, else absolute. */
static void config_file_path(const struct quant_opts *o, char *buf, size_t len)
{
	char out_abs[PATH_MAX], dir_a[PATH_MAX], dir_b[PATH_MAX];
	if (!realpath(o->out, out_abs)) {
		snprintf(buf, len, "%s", o->out);
		return;
	}
	snprintf(buf, len, "%s", out_abs);
	if (!o->config_out)
		return;
	char *tmp = strdup(o->config_out);
	if (!tmp)
		return;
	snprintf(dir_a, sizeof(dir_a), "%s", out_abs);
	int same = realpath(dirname(tmp), dir_b) && !strcmp(dirname(dir_a), dir_b);
	free(tmp);
	if (same) {
		snprintf(dir_a, sizeof(dir_a), "%s", out_abs);
		snprintf(buf, len, "%s", basename(dir_a));
	}
}

static void print_report(FILE *f, const struct quant_opts *o, const struct quant_layer *l,
                         bool layered)
{
	const struct quant_error *e = l->e;
	char tag[32] = "";
	if (layered)
		snprintf(tag, sizeof(tag), " of layer %u", l->layer);
	fprintf(f,
	        "# accuracy%s of int8 against f32: %zu Gaussian rows (mean 0, variance 1, "
	        "xorshift64* seed %" PRIu64 ")\n",
	        tag, o->rows, o->seed);
	fprintf(f, "#   proj  max_rel_err  nmse        max_abs_err  max|y_f32|   err/bound\n");
	double worst_rel = 0, worst_nmse = 0, worst_b = 0;
	for (int p = 0; p < 3; p++) {
		fprintf(f, "#   %-4s  %.4e   %.4e  %.4e   %.4e   %.3f\n",
		        qkv_proj_name((unsigned)p), e[p].max_rel, e[p].nmse, e[p].max_abs,
		        e[p].max_ref, e[p].bound_use);
		worst_rel = e[p].max_rel > worst_rel ? e[p].max_rel : worst_rel;
		worst_nmse = e[p].nmse > worst_nmse ? e[p].nmse : worst_nmse;
		worst_b = e[p].bound_use > worst_b ? e[p].bound_use : worst_b;
	}
	fprintf(f,
	        "# max relative error %.4e, NMSE %.4e (max_rel = max|y8-y| / max|y|;\n"
	        "# err/bound <= 1 means every element is within the worst-case bound: %s)\n",
	        worst_rel, worst_nmse, worst_b <= 1.0 ? "yes" : "NO");
}

/* --json: the accuracy of every layer and projection, for scripts. */
static int write_json(const struct quant_opts *o, const struct quant_layer *L, size_t n,
                      bool layered)
{
	FILE *f = cli_open_output(o->json);
	if (!f) {
		fprintf(stderr, "qkv quantize: --json %s: %s\n", o->json, strerror(errno));
		return QKV_EXIT_ERROR;
	}
	struct jsonw w;
	jsonw_init(&w, f, 2);
	jsonw_object(&w);
	jsonw_kv_string(&w, "config", o->config);
	jsonw_kv_string(&w, "out", o->out);
	jsonw_kv_uint(&w, "rows", o->rows);
	jsonw_kv_uint(&w, "seed", o->seed);
	jsonw_key(&w, "layers");
	jsonw_array(&w);
	for (size_t i = 0; i < n; i++) {
		jsonw_object(&w);
		jsonw_key(&w, "layer");
		if (layered)
			jsonw_uint(&w, L[i].layer);
		else
			jsonw_null(&w);
		for (unsigned p = 0; p < 3; p++) {
			const struct quant_error *e = &L[i].e[p];
			jsonw_key(&w, qkv_proj_name(p));
			jsonw_object(&w);
			jsonw_kv_double(&w, "max_rel_err", e->max_rel, 6);
			jsonw_kv_double(&w, "nmse", e->nmse, 6);
			jsonw_kv_double(&w, "max_abs_err", e->max_abs, 6);
			jsonw_kv_double(&w, "err_over_bound", e->bound_use, 6);
			jsonw_end(&w);
		}
		jsonw_end(&w);
	}
	jsonw_end(&w);
	jsonw_end(&w);
	return cli_close_output(&qkv_quantize_spec, f, o->json) ? QKV_EXIT_ERROR : QKV_EXIT_OK;
}

/* The int8 weights, scales and biases of every layer, in one file. */
static int write_file(const struct quant_opts *o, const struct quant_layer *L, size_t n_layers)
{
	struct st_tensor *t = calloc(9 * n_layers, sizeof(*t));
	size_t n = 0;
	char err[512];
	if (!t) {
		fprintf(stderr, "qkv quantize: out of memory\n");
		return -1;
	}
	for (size_t i = 0; i < n_layers; i++) {
		const struct qkv_checkpoint_info *c = &L[i].info;
		for (int p = 0; p < 3; p++) {
			uint64_t d_out = p == QKV_Q ? c->d_q : c->d_kv;
			int in_out = c->layout == QKV_LAYOUT_IN_OUT;
			t[n++] = (struct st_tensor){
			    L[i].nm.qweight[p],
			    "I8",
			    2,
			    {in_out ? c->d_model : d_out, in_out ? d_out : c->d_model},
			    L[i].q[p],
			    (size_t)(c->d_model * d_out)};
			t[n++] =
			    (struct st_tensor){L[i].nm.scale[p], "F32",      1,
			                       {d_out, 0},       L[i].sc[p], d_out * sizeof(float)};
			if (c->bias[p])
				t[n++] = (struct st_tensor){
				    L[i].nm.bias[p], "F32",      1,
				    {d_out, 0},      c->bias[p], d_out * sizeof(float)};
		}
	}
	int rc = st_write(o->out, t, n, err, sizeof(err)) == QKV_OK ? 0 : -1;
	if (rc)
		fprintf(stderr, "qkv quantize: %s\n", err);
	free(t);
	return rc;
}

static int write_config(const struct quant_opts *o, const struct config_out *c)
{
	char file[PATH_MAX];
	config_file_path(o, file, sizeof(file));
	print_config(o->text, c, file);
	if (!o->config_out)
		return 0;
	FILE *f = fopen(o->config_out, "w");
	if (!f) {
		fprintf(stderr, "qkv quantize: %s: cannot create: %s\n", o->config_out,
		        strerror(errno));
		return -1;
	}
	fprintf(f, "# written by: qkv quantize %s\n", o->config);
	bool ok = print_config(f, c, file);
	if (fclose(f) != 0 || !ok) {
		fprintf(stderr, "qkv quantize: %s: write failed\n", o->config_out);
		return -1;
	}
	return 0;
}

/* Open one layer (layered: through qkv_checkpoint_open_layer), quantize it, measure it. */
static int quantize_layer(const struct quant_opts *o, bool layered, struct quant_layer *l)
{
	char err[1024];
	enum qkv_status st =
	    layered
	        ? qkv_checkpoint_open_layer(o->config, l->layer, QKV_CHECKPOINT_WEIGHTS, &l->ck,
	                                    err, sizeof(err))
	        : qkv_checkpoint_open(o->config, QKV_CHECKPOINT_WEIGHTS, &l->ck, err, sizeof(err));
	if (st != QKV_OK) {
		fprintf(stderr, "qkv quantize: %s\n", err);
		return -1;
	}
	l->info = (struct qkv_checkpoint_info)QKV_CHECKPOINT_INFO_INIT;
	qkv_checkpoint_get_info(l->ck, &l->info);
	const struct qkv_checkpoint_info *c = &l->info;
	struct quant_proj proj[3];
	for (int p = 0; p < 3; p++) {
		if (!c->w[p]) {
			fprintf(stderr,
			        "qkv quantize: %s: weights %s are already int8; give an f32 "
			        "model\n",
			        o->config, qkv_proj_name((unsigned)p));
			return -1;
		}
		size_t d_out = p == QKV_Q ? c->d_q : c->d_kv;
		l->q[p] = malloc((size_t)c->d_model * d_out);
		l->sc[p] = malloc(d_out * sizeof(float));
		if (!l->q[p] || !l->sc[p] ||
		    quantize_matrix(c->w[p], c->layout, c->d_model, d_out, l->q[p], l->sc[p])) {
			fprintf(stderr, "qkv quantize: out of memory\n");
			return -1;
		}
		proj[p] = (struct quant_proj){c->w[p], l->q[p], l->sc[p], c->bias[p], d_out};
	}
	make_names(c->tensor, c->bias_tensor, &l->nm);
	if (quant_report(proj, c->d_model, c->layout, o->rows, o->seed, l->e)) {
		fprintf(stderr, "qkv quantize: out of memory for the accuracy report\n");
		return -1;
	}
	return 0;
}

static bool has_layer_tag(const struct qkv_checkpoint_info *c)
{
	for (int p = 0; p < 3; p++)
		if ((c->tensor_pattern[p] && strstr(c->tensor_pattern[p], "{layer}")) ||
		    (c->bias_pattern[p] && strstr(c->bias_pattern[p], "{layer}")))
			return true;
	return false;
}

/* Which layers: --all-layers, --layer N, the config's weights.layer, or none (a config
 * without {layer}). 0 and the range in *first, *count, or 1 after printing why not. */
static int pick_layers(const struct quant_opts *o, const struct qkv_checkpoint_info *src,
                       bool *layered, uint32_t *first, uint32_t *count)
{
	*layered = has_layer_tag(src);
	*first = o->layer_set ? o->layer : src->layer_set ? src->layer : 0;
	*count = 1;
	if (!*layered && (o->layer_set || o->all_layers)) {
		fprintf(stderr,
		        "qkv quantize: --%s: the tensor names of %s hold no {layer}: it is one "
		        "layer\n",
		        o->all_layers ? "all-layers" : "layer", o->config);
		return 1;
	}
	if (o->all_layers) {
		if (!src->n_layers) {
			fprintf(stderr,
			        "qkv quantize: --all-layers: %s does not say how many layers the "
			        "model has: set model.n_layers\n",
			        o->config);
			return 1;
		}
		*first = 0;
		*count = src->n_layers;
	} else if (*layered && !o->layer_set && !src->layer_set) {
		fprintf(stderr,
		        "qkv quantize: %s has {layer} in its tensor names and no weights.layer: "
		        "give --layer N or --all-layers\n",
		        o->config);
		return 1;
	}
	return 0;
}

int qkv_cmd_quantize(int argc, char **argv)
{
	struct quant_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc < 0 ? QKV_EXIT_OK : rc;
	qkv_checkpoint *src_ck = NULL;
	char err[1024];
	if (qkv_checkpoint_open(o.config, 0, &src_ck, err, sizeof(err)) != QKV_OK) {
		fprintf(stderr, "qkv quantize: %s\n", err);
		return QKV_EXIT_ERROR;
	}
	struct qkv_checkpoint_info src = QKV_CHECKPOINT_INFO_INIT;
	qkv_checkpoint_get_info(src_ck, &src);
	bool layered;
	uint32_t first, count;
	struct quant_layer *L = NULL;
	rc = QKV_EXIT_ERROR;
	if (pick_layers(&o, &src, &layered, &first, &count) || !(L = calloc(count, sizeof(*L)))) {
		qkv_checkpoint_close(src_ck);
		return QKV_EXIT_ERROR;
	}
	if (o.type) { /* GGUF of a block type: layers streamed, no int8 report */
		uint32_t wt = 0;
		qkv_wtype_parse(o.type, &wt);
		struct gguf_job j = {o.config, o.out, o.config_out, wt,     layered, first,
		                     count,    &src,  o.rows,       o.seed, o.text};
		rc = quantize_gguf(&j);
		free(L);
		qkv_checkpoint_close(src_ck);
		return rc;
	}
	size_t done = 0;
	for (; done < count; done++) {
		L[done].layer = first + (uint32_t)done;
		if (quantize_layer(&o, layered, &L[done])) {
			done++;
			goto out;
		}
	}
	struct config_out c = {.ck = &src, .has_layer = layered, .layer = first};
	make_names(src.tensor_pattern, src.bias_pattern, &c.nm);
	for (int p = 0; p < 3; p++)
		c.bias[p] = L[0].info.bias[p] != NULL;
	if (write_file(&o, L, count) || write_config(&o, &c))
		goto out;
	for (size_t i = 0; i < count; i++)
		print_report(o.text, &o, &L[i], layered);
	rc = o.json ? write_json(&o, L, count, layered) : QKV_EXIT_OK;
out:
	for (size_t i = 0; i < done; i++) {
		for (int p = 0; p < 3; p++) {
			free(L[i].q[p]);
			free(L[i].sc[p]);
		}
		qkv_checkpoint_close(L[i].ck);
	}
	free(L);
	qkv_checkpoint_close(src_ck);
	return rc;
}
