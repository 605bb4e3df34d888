/* `qkv quantize CONFIG --out FILE.safetensors`: quantize an f32 model's weights with the
 * int8 scheme (<qkv/precision.h>), write them as I8 weights + F32 per-column
 * scales (+ F32 biases), print the config that loads them and an int8-vs-f32 accuracy
 * report on random Gaussian inputs.
 *
 * Tensor names in the output: SRC.qweight (I8, the source's shape and layout) and
 * SRC.scale (F32 [d_out]) where SRC is the source tensor name, or q/k/v when the source
 * has none (npy/raw) or two sources share a name; biases keep their name (or q_bias..).
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

#include "commands.h"
#include "quantize_report.h"
#include "st_write.h"
#include "yaml_out.h"

#define QUANT_BLOCK 64 /* columns gathered at once from an in_out matrix */

static const char *const roles[3] = {"q", "k", "v"};

struct quant_opts {
	const char *config, *out, *config_out;
	size_t rows;
	uint64_t seed;
};

static const struct cli_opt quantize_opts[] = {
    {OPT_OUT, "FILE.safetensors", "the int8 weights file to write (required)"},
    {OPT_CONFIG_OUT, NULL, "also write the config that loads it to FILE"},
    {OPT_ROWS, NULL, "random Gaussian rows of the accuracy report (default 32)"},
    {OPT_SEED, NULL, "xorshift64* seed of those rows (default 42)"},
    {OPT_COUNT, NULL, NULL},
};

const struct cli_spec qkv_quantize_spec = {
    "quantize",
    "CONFIG --out FILE.safetensors [options]",
    "Quantize an f32 model to int8 (per-column weights in [-127, 127] + F32 scales),\n"
    "print the config that loads the file, and the accuracy of int8 against f32\n"
    "on random Gaussian rows.\n",
    quantize_opts,
    1,
    1,
    NULL};

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
	if (cli_uint(sp, &a, OPT_ROWS, 1, 1u << 16, 32, &rows) ||
	    cli_uint(sp, &a, OPT_SEED, 0, UINT64_MAX, 42, &seed))
		return QKV_EXIT_USAGE;
	if (!a.val[OPT_OUT])
		return cli_usage_error(sp, "--out FILE.safetensors is required");
	if (cli_check_output(sp, &a, OPT_OUT) || cli_check_output(sp, &a, OPT_CONFIG_OUT))
		return QKV_EXIT_ERROR;
	*o = (struct quant_opts){a.pos[0], a.val[OPT_OUT], a.val[OPT_CONFIG_OUT], (size_t)rows,
	                         (uint64_t)seed};
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

/* The names of the output tensors. */
struct out_names {
	char qweight[3][320], scale[3][320], bias[3][320];
};

static int same_name(const char *const *names, int p)
{
	for (int o = 0; o < 3; o++)
		if (o != p && names[o] && !strcmp(names[o], names[p]))
			return 1;
	return 0;
}

static void make_names(const struct qkv_checkpoint_info *ck, struct out_names *nm)
{
	for (int p = 0; p < 3; p++) {
		const char *base =
		    ck->tensor[p] && !same_name(ck->tensor, p) ? ck->tensor[p] : roles[p];
		snprintf(nm->qweight[p], sizeof(nm->qweight[p]), "%s.qweight", base);
		snprintf(nm->scale[p], sizeof(nm->scale[p]), "%s.scale", base);
		if (ck->bias_tensor[p] && !same_name(ck->bias_tensor, p))
			snprintf(nm->bias[p], sizeof(nm->bias[p]), "%s", ck->bias_tensor[p]);
		else
			snprintf(nm->bias[p], sizeof(nm->bias[p]), "%s_bias", roles[p]);
	}
}

/* The config that loads the int8 file, through libyaml's emitter. */
static bool print_config(FILE *f, const struct qkv_checkpoint_info *ck, const char *file,
                         const struct out_names *nm)
{
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
	yo_kv_str(&y, "precision", "int8");
	yo_end_map(&y);
	yo_str(&y, "weights");
	yo_map(&y, false);
	yo_str(&y, "file");
	yo_quoted(&y, file);
	yo_kv_str(&y, "layout", ck->layout == QKV_LAYOUT_IN_OUT ? "in_out" : "out_in");
	for (int p = 0; p < 3; p++) {
		const char *names[3] = {nm->qweight[p], nm->scale[p], nm->bias[p]};
		for (int t = 0; t < 3; t++) {
			if (t == 2 && !ck->bias[p])
				continue;
			char key[16];
			snprintf(key, sizeof(key), "%s%s", roles[p],
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

static void print_report(FILE *f, const struct quant_opts *o, const struct quant_error *e)
{
	fprintf(f,
	        "# accuracy of int8 against f32: %zu Gaussian rows (mean 0, variance 1, "
	        "xorshift64* seed %" PRIu64 ")\n",
	        o->rows, o->seed);
	fprintf(f, "#   proj  max_rel_err  nmse        max_abs_err  max|y_f32|   err/bound\n");
	double worst_rel = 0, worst_nmse = 0, worst_b = 0;
	for (int p = 0; p < 3; p++) {
		fprintf(f, "#   %-4s  %.4e   %.4e  %.4e   %.4e   %.3f\n", roles[p], e[p].max_rel,
		        e[p].nmse, e[p].max_abs, e[p].max_ref, e[p].bound_use);
		worst_rel = e[p].max_rel > worst_rel ? e[p].max_rel : worst_rel;
		worst_nmse = e[p].nmse > worst_nmse ? e[p].nmse : worst_nmse;
		worst_b = e[p].bound_use > worst_b ? e[p].bound_use : worst_b;
	}
	fprintf(f,
	        "# max relative error %.4e, NMSE %.4e (max_rel = max|y8-y| / max|y|;\n"
	        "# err/bound <= 1 means every element is within the worst-case bound: %s)\n",
	        worst_rel, worst_nmse, worst_b <= 1.0 ? "yes" : "NO");
}

static int write_outputs(const struct quant_opts *o, const struct qkv_checkpoint_info *cfg,
                         int8_t *const q[3], float *const sc[3])
{
	struct out_names nm;
	struct st_tensor t[9];
	size_t n = 0;
	char err[512];
	make_names(cfg, &nm);
	const struct qkv_checkpoint_info *lw = cfg;
	for (int p = 0; p < 3; p++) {
		uint64_t d_out =
		    (uint64_t)(p == QKV_Q ? cfg->n_heads : cfg->n_kv_heads) * cfg->head_dim;
		int in_out = cfg->layout == QKV_LAYOUT_IN_OUT;
		t[n++] = (struct st_tensor){
		    nm.qweight[p],
		    "I8",
		    2,
		    {in_out ? cfg->d_model : d_out, in_out ? d_out : cfg->d_model},
		    q[p],
		    (size_t)(cfg->d_model * d_out)};
		t[n++] = (struct st_tensor){nm.scale[p], "F32", 1,
		                            {d_out, 0},  sc[p], (size_t)d_out * sizeof(float)};
		if (lw->bias[p])
			t[n++] = (struct st_tensor){nm.bias[p],  "F32",
			                            1,           {d_out, 0},
			                            lw->bias[p], (size_t)d_out * sizeof(float)};
	}
	if (st_write(o->out, t, n, err, sizeof(err)) != QKV_OK) {
		fprintf(stderr, "qkv quantize: %s\n", err);
		return -1;
	}
	char file[PATH_MAX];
	config_file_path(o, file, sizeof(file));
	print_config(stdout, cfg, file, &nm);
	if (o->config_out) {
		FILE *f = fopen(o->config_out, "w");
		if (!f) {
			fprintf(stderr, "qkv quantize: %s: cannot create: %s\n", o->config_out,
			        strerror(errno));
			return -1;
		}
		fprintf(f, "# written by: qkv quantize %s\n", o->config);
		bool ok = print_config(f, cfg, file, &nm);
		if (fclose(f) != 0 || !ok) {
			fprintf(stderr, "qkv quantize: %s: write failed\n", o->config_out);
			return -1;
		}
	}
	return 0;
}

static int quantize_all(const struct quant_opts *o, const struct qkv_checkpoint_info *cfg,
                        int8_t *q[3], float *sc[3])
{
	struct quant_proj proj[3];
	struct quant_error e[3];
	const struct qkv_checkpoint_info *lw = cfg;
	for (int p = 0; p < 3; p++) {
		if (!lw->w[p]) {
			fprintf(stderr,
			        "qkv quantize: %s: weights %s are already int8; give an f32 "
			        "model\n",
			        o->config, roles[p]);
			return -1;
		}
		size_t d_out =
		    (size_t)(p == QKV_Q ? cfg->n_heads : cfg->n_kv_heads) * cfg->head_dim;
		q[p] = malloc((size_t)cfg->d_model * d_out);
		sc[p] = malloc(d_out * sizeof(float));
		if (!q[p] || !sc[p] ||
		    quantize_matrix(lw->w[p], cfg->layout, cfg->d_model, d_out, q[p], sc[p])) {
			fprintf(stderr, "qkv quantize: out of memory\n");
			return -1;
		}
		proj[p] = (struct quant_proj){lw->w[p], q[p], sc[p], lw->bias[p], d_out};
	}
	if (write_outputs(o, cfg, q, sc))
		return -1;
	if (quant_report(proj, cfg->d_model, cfg->layout, o->rows, o->seed, e)) {
		fprintf(stderr, "qkv quantize: out of memory for the accuracy report\n");
		return -1;
	}
	print_report(stdout, o, e);
	return 0;
}

int qkv_cmd_quantize(int argc, char **argv)
{
	struct quant_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc < 0 ? QKV_EXIT_OK : rc;
	qkv_checkpoint *ck = NULL;
	char err[1024];
	if (qkv_checkpoint_open(o.config, QKV_CHECKPOINT_WEIGHTS, &ck, err, sizeof(err)) !=
	    QKV_OK) {
		fprintf(stderr, "qkv quantize: %s\n", err);
		return QKV_EXIT_ERROR;
	}
	struct qkv_checkpoint_info info = {.struct_size = sizeof(info)};
	qkv_checkpoint_get_info(ck, &info);
	int8_t *q[3] = {0};
	float *sc[3] = {0};
	rc = quantize_all(&o, &info, q, sc) ? QKV_EXIT_ERROR : QKV_EXIT_OK;
	for (int p = 0; p < 3; p++) {
		free(q[p]);
		free(sc[p]);
	}
	qkv_checkpoint_close(ck);
	return rc;
}
