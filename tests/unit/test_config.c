/* Config reader: valid model configs and machine profiles, and every class of error,
 * each with a check that the message names the file, the line and the key. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "weights_format.h"
#include "config_internal.h"
#include "util.h"

#define DATA QKV_SOURCE_ROOT "/tests/unit/data/config"

static char err[512];

static enum qkv_status parse(const char *text, struct qkv_config *cfg)
{
	err[0] = '\0';
	return qkv_config_parse("t.yaml", "/cfg", text, strlen(text), cfg, err, sizeof(err));
}

static bool config_is_empty(const struct qkv_config *cfg)
{
	return !cfg->path && !cfg->dir && !cfg->file && !cfg->w[0].file && !cfg->w[0].tensor &&
	       cfg->d_model == 0 && cfg->backend.n_prefer == 0 && cfg->backend.threads == -1 &&
	       cfg->backend.strict == -1 && !cfg->backend.path;
}

/* Parse `text`, expect `status`, and expect each non-NULL fragment in the message. */
static void expect_fail(const char *text, enum qkv_status status, const char *where,
                        const char *key, const char *problem)
{
	struct qkv_config cfg;
	enum qkv_status st = parse(text, &cfg);
	cr_assert_eq(st, status, "status %d, want %d; message: %s\ninput:\n%s", st, status, err,
	             text);
	cr_assert(config_is_empty(&cfg), "cfg not emptied after failure");
	if (where)
		cr_assert(strncmp(err, where, strlen(where)) == 0, "want `%s` at start of: %s",
		          where, err);
	if (key) {
		char k[96];
		snprintf(k, sizeof(k), "key `%s`", key);
		cr_assert(strstr(err, k), "want `%s` in: %s", k, err);
	}
	if (problem)
		cr_assert(strstr(err, problem), "want `%s` in: %s", problem, err);
	qkv_config_free(&cfg);
}

#define MODEL "model:\n  d_model: 768\n  n_heads: 12\n"
#define WEIGHTS_ST                                                                                 \
	"weights:\n  layout: out_in\n  file: layer0.safetensors\n  q: {tensor: wq}\n"              \
	"  k: {tensor: wk}\n  v: {tensor: wv}\n"

/* ---- valid configs ---- */

Test(config_valid, full)
{
	const char *text = "model:\n"
	                   "  d_model: 768\n"
	                   "  n_heads: 12\n"
	                   "  n_kv_heads: 12\n"
	                   "  head_dim: 64\n"
	                   "  precision: bf16\n"
	                   "weights:\n"
	                   "  layout: out_in\n"
	                   "  file: layer0.safetensors\n"
	                   "  q: {tensor: h.0.attn.q.weight}\n"
	                   "  k: {tensor: h.0.attn.k.weight}\n"
	                   "  v: {tensor: h.0.attn.v.weight, file: /abs/other.safetensors}\n"
	                   "  q_bias: {tensor: h.0.attn.q.bias}\n"
	                   "  v_bias: {tensor: h.0.attn.v.bias}\n"
	                   "backend:\n"
	                   "  prefer: [blas, openmp, scalar]\n"
	                   "  threads: 0\n"
	                   "  strict: true\n"
	                   "  plugin_dirs: [plugins, /opt/qkv]\n";
	struct qkv_config cfg;
	cr_assert_eq(parse(text, &cfg), QKV_OK, "%s", err);
	cr_expect_str_eq(cfg.path, "t.yaml");
	cr_expect_str_eq(cfg.dir, "/cfg");
	cr_expect_eq(cfg.d_model, 768);
	cr_expect_eq(cfg.n_heads, 12);
	cr_expect_eq(cfg.n_kv_heads, 12);
	cr_expect_eq(cfg.head_dim, 64);
	cr_expect_eq(cfg.precision, QKV_BF16);
	cr_expect_eq(cfg.layout, QKV_LAYOUT_OUT_IN);
	cr_expect_eq(cfg.format, QKV_FMT_SAFETENSORS);
	cr_expect_str_eq(cfg.file, "/cfg/layer0.safetensors");
	cr_expect(cfg.w[0].present && cfg.w[1].present && cfg.w[2].present);
	cr_expect_str_eq(cfg.w[0].tensor, "h.0.attn.q.weight");
	cr_expect_null(cfg.w[0].file);
	cr_expect_str_eq(cfg.w[2].file, "/abs/other.safetensors");
	cr_expect_eq(cfg.w[2].mark.line, 12);
	cr_expect_eq(cfg.w[2].mark.column, 6);
	cr_expect(cfg.bias[0].present && !cfg.bias[1].present && cfg.bias[2].present);
	cr_expect_str_eq(cfg.bias[2].tensor, "h.0.attn.v.bias");
	cr_expect(!cfg.scale[0].present);
	cr_expect_eq(cfg.backend.n_prefer, 3);
	cr_expect_str_eq(cfg.backend.prefer[0], "blas");
	cr_expect_str_eq(cfg.backend.prefer[2], "scalar");
	cr_expect_eq(cfg.backend.threads, 0);
	cr_expect_eq(cfg.backend.strict, 1);
	cr_expect_eq(cfg.backend.n_plugin_dirs, 2);
	cr_expect_str_eq(cfg.backend.plugin_dirs[0], "/cfg/plugins");
	cr_expect_str_eq(cfg.backend.plugin_dirs[1], "/opt/qkv");
	cr_expect_str_eq(cfg.backend.path, "t.yaml");
	qkv_config_free(&cfg);
	cr_expect(config_is_empty(&cfg));
	qkv_config_free(&cfg); /* twice is harmless */
}

Test(config_valid, minimal_defaults)
{
	struct qkv_config cfg;
	cr_assert_eq(parse("model: {d_model: 10, n_heads: 5}\n"
	                   "weights: {layout: in_out, q: {file: wq.npy}, k: {file: wk.npy},"
	                   " v: {file: wv.npy}}\n",
	                   &cfg),
	             QKV_OK, "%s", err);
	cr_expect_eq(cfg.n_kv_heads, 5);
	cr_expect_eq(cfg.head_dim, 2);
	cr_expect_eq(cfg.precision, QKV_F32);
	cr_expect_eq(cfg.layout, QKV_LAYOUT_IN_OUT);
	cr_expect_eq(cfg.format, QKV_FMT_NPY);
	cr_expect_null(cfg.file);
	cr_expect_str_eq(cfg.w[1].file, "/cfg/wk.npy");
	cr_expect_eq(cfg.w[1].dtype, QKV_DT_NONE);
	cr_expect_eq(cfg.backend.threads, -1);
	cr_expect_eq(cfg.backend.strict, -1);
	cr_expect_eq(cfg.backend.n_prefer, 0);
	cr_expect_null(cfg.backend.path);
	qkv_config_free(&cfg);
}

Test(config_valid, gqa_llama3)
{
	struct qkv_config cfg;
	cr_assert_eq(parse("model:\n  d_model: 4096\n  n_heads: 32\n  n_kv_heads: 8\n"
	                   "  head_dim: 128\n" WEIGHTS_ST,
	                   &cfg),
	             QKV_OK, "%s", err);
	cr_expect_eq(cfg.n_heads, 32);
	cr_expect_eq(cfg.n_kv_heads, 8);
	cr_expect_eq(cfg.head_dim, 128);
	qkv_config_free(&cfg);
}

Test(config_valid, raw_and_int8_scales)
{
	struct qkv_config cfg;
	cr_assert_eq(parse("model: {d_model: 4, n_heads: 2, precision: int8}\n"
	                   "weights:\n  layout: in_out\n  format: raw\n"
	                   "  q: {file: q.dat, dtype: i8}\n  k: {file: k.dat, dtype: i8}\n"
	                   "  v: {file: v.dat, dtype: i8}\n"
	                   "  q_scale: {file: qs.dat, dtype: f32}\n"
	                   "  k_scale: {file: ks.dat, dtype: f32}\n"
	                   "  v_scale: {file: vs.dat, dtype: f32}\n",
	                   &cfg),
	             QKV_OK, "%s", err);
	cr_expect_eq(cfg.format, QKV_FMT_RAW);
	cr_expect_eq(cfg.precision, QKV_INT8);
	cr_expect_eq(cfg.w[0].dtype, QKV_DT_I8);
	cr_expect_eq(cfg.scale[2].dtype, QKV_DT_F32);
	cr_expect_str_eq(cfg.scale[2].file, "/cfg/vs.dat");
	qkv_config_free(&cfg);
}

Test(config_valid, raw_extension_and_quoted_strings)
{
	struct qkv_config cfg;
	cr_assert_eq(parse("model: {d_model: 2, n_heads: 1, precision: \"f32\"}\n"
	                   "weights: {layout: 'in_out', file: w.bin,\n"
	                   "  q: {dtype: f16}, k: {dtype: bf16}, v: {dtype: f32}}\n",
	                   &cfg),
	             QKV_OK, "%s", err);
	cr_expect_eq(cfg.format, QKV_FMT_RAW);
	cr_expect_eq(cfg.w[0].dtype, QKV_DT_F16);
	cr_expect_eq(cfg.w[1].dtype, QKV_DT_BF16);
	cr_expect_str_eq(cfg.file, "/cfg/w.bin");
	qkv_config_free(&cfg);
}

Test(config_valid, crlf_and_bom)
{
	struct qkv_config cfg;
	cr_assert_eq(parse("\xef\xbb\xbfmodel:\r\n  d_model: 6\r\n  n_heads: 3\r\n"
	                   "weights: {layout: in_out, format: npy, file: w,\r\n"
	                   "  q: {}, k: {file: k}, v: {file: v}}\r\n",
	                   &cfg),
	             QKV_ERR_CONFIG);
	/* CRLF lines count as one line each: the empty reference is on line 5. */
	cr_expect(strncmp(err, "t.yaml:5:6: key `weights.q`: ", 29) == 0, "%s", err);
	cr_assert_eq(parse("\xef\xbb\xbfmodel:\r\n  d_model: 6\r\n  n_heads: 3\r\n"
	                   "weights: {layout: in_out, format: npy, file: w,\r\n"
	                   "  q: {tensor: x}, k: {file: k}, v: {file: v}}\r\n",
	                   &cfg),
	             QKV_ERR_CONFIG);
	cr_expect(strstr(err, "only applies to files of many tensors"), "%s", err);
	cr_assert_eq(parse("\xef\xbb\xbfmodel:\r\n  d_model: 6\r\n  n_heads: 3\r\n"
	                   "weights: {layout: in_out, format: npy, file: w,\r\n"
	                   "  q: {file: q}, k: {file: k}, v: {file: v}}\r\n",
	                   &cfg),
	             QKV_OK, "%s", err);
	cr_expect_eq(cfg.head_dim, 2);
	cr_expect_str_eq(cfg.file, "/cfg/w");
	qkv_config_free(&cfg);
}

Test(config_valid, load_resolves_relative_paths)
{
	struct qkv_config cfg;
	cr_assert_eq(qkv_config_load(DATA "/model.yaml", &cfg, err, sizeof(err)), QKV_OK, "%s",
	             err);
	cr_expect_str_eq(cfg.path, DATA "/model.yaml");
	cr_expect_str_eq(cfg.dir, DATA);
	cr_expect_str_eq(cfg.file, DATA "/weights/layer0.safetensors");
	cr_expect_str_eq(cfg.w[2].file, "/abs/v.safetensors");
	cr_expect_str_eq(cfg.backend.plugin_dirs[0], DATA "/../plugins");
	cr_expect_str_eq(cfg.backend.path, DATA "/model.yaml");
	qkv_config_free(&cfg);
}

Test(config_valid, load_from_current_folder)
{
	struct qkv_config cfg;
	cr_assert_eq(chdir(DATA), 0);
	cr_assert_eq(qkv_config_load("model.yaml", &cfg, err, sizeof(err)), QKV_OK, "%s", err);
	cr_expect_str_eq(cfg.dir, ".");
	cr_expect_str_eq(cfg.file, "./weights/layer0.safetensors");
	qkv_config_free(&cfg);
}

Test(config_valid, machine_profile_with_routes)
{
	struct qkv_backend_cfg b;
	cr_assert_eq(qkv_machine_load(DATA "/machine.yaml", &b, err, sizeof(err)), QKV_OK, "%s",
	             err);
	cr_expect_eq(b.n_prefer, 2);
	cr_expect_str_eq(b.prefer[0], "int8");
	cr_expect_eq(b.threads, 2);
	cr_expect_eq(b.strict, 0);
	cr_expect_eq(b.n_plugin_dirs, 1);
	cr_expect_str_eq(b.plugin_dirs[0], DATA "/my_plugins");
	cr_assert_eq(b.n_routes, 3);
	cr_expect_eq(b.routes[0].precision, QKV_F32);
	cr_expect_eq(b.routes[0].t_min, 1);
	cr_expect_eq(b.routes[0].t_max, 8);
	cr_expect_str_eq(b.routes[0].name, "openmp");
	cr_expect_eq(b.routes[1].t_min, 9);
	cr_expect_eq(b.routes[1].t_max, UINT64_MAX);
	cr_expect_str_eq(b.routes[1].name, "blas");
	cr_expect_eq(b.routes[2].precision, QKV_INT8);
	cr_expect_str_eq(b.cpu, "AMD EPYC 7B13");
	cr_expect_str_eq(b.flags, "avx2 fma f16c");
	cr_expect_str_eq(b.date, "2026-11-25");
	cr_expect_str_eq(b.path, DATA "/machine.yaml");
	qkv_backend_cfg_free(&b);
	cr_expect_null(b.path);
	cr_expect_eq(b.n_routes, 0);
	cr_expect_eq(b.threads, -1);
}

/* ---- YAML-level refusals ---- */

Test(config_yaml, empty_file)
{
	expect_fail("", QKV_ERR_CONFIG, "t.yaml:1:1: ", NULL, "empty");
	expect_fail("# only a comment\n\n", QKV_ERR_CONFIG, "t.yaml:", NULL, "the file is empty");
}

Test(config_yaml, empty_document)
{
	expect_fail("---\n", QKV_ERR_CONFIG, "t.yaml:", NULL, "the document is empty");
	expect_fail("--- ~\n", QKV_ERR_CONFIG, "t.yaml:1:5: ", NULL, "must be a mapping");
}

Test(config_yaml, top_level_not_mapping)
{
	expect_fail("- a\n- b\n", QKV_ERR_CONFIG, "t.yaml:1:1: ", NULL, "must be a mapping");
	expect_fail("hello\n", QKV_ERR_CONFIG, "t.yaml:1:1: ", NULL, "must be a mapping");
}

Test(config_yaml, two_documents)
{
	expect_fail(MODEL WEIGHTS_ST "---\n" MODEL, QKV_ERR_CONFIG, "t.yaml:10:1: ", NULL,
	            "more than one YAML document");
}

Test(config_yaml, invalid_utf8)
{
	expect_fail(MODEL "weights:\n  layout: out\xff_in\n", QKV_ERR_CONFIG, "t.yaml:5:14: ", NULL,
	            "UTF-8");
	expect_fail("model:\n  d_model: \xc3\x28\n", QKV_ERR_CONFIG, "t.yaml:2:", NULL, "UTF-8");
}

Test(config_yaml, control_bytes)
{
	expect_fail(MODEL "weights:\n  layout: \x01\n", QKV_ERR_CONFIG, "t.yaml:5:11: ", NULL,
	            "control characters");
	const char text[] = "model:\n  d_model: 7\0\n";
	struct qkv_config cfg;
	cr_assert_eq(
	    qkv_config_parse("t.yaml", ".", text, sizeof(text) - 1, &cfg, err, sizeof(err)),
	    QKV_ERR_CONFIG);
	cr_expect(strncmp(err, "t.yaml:2:", 9) == 0, "%s", err);
	cr_expect(strstr(err, "control characters"), "%s", err);
}

Test(config_yaml, syntax_error)
{
	expect_fail(MODEL "weights: [a, b\n", QKV_ERR_CONFIG, "t.yaml:5:1: ", "weights[2]",
	            "YAML syntax");
	expect_fail("model:\n  d_model: 1\n n_heads: 2\n", QKV_ERR_CONFIG, "t.yaml:3:", NULL,
	            "YAML syntax");
}

/* {layer} unquoted in a flow mapping: YAML reads its braces as a mapping; the parser
 * names the line and column of the {layer} and says to quote it (every caller gets it). */
Test(config_yaml, unquoted_layer_in_flow_mapping)
{
	expect_fail(MODEL "weights:\n  file: a.safetensors\n  q: {tensor: m.{layer}.q}\n",
	            QKV_ERR_CONFIG, "t.yaml:6:17: ", NULL,
	            "a name holding {layer} inside { } must be quoted");
	/* one over several lines: the line of the {layer} */
	expect_fail(MODEL "weights:\n  q: {file: a.safetensors,\n      tensor: m.{layer}.q}\n",
	            QKV_ERR_CONFIG, "t.yaml:6:17: ", NULL, "must be quoted");
	/* quoted, the same line reads; a syntax error elsewhere gets no such hint */
	struct qkv_config cfg;
	cr_assert_eq(parse(MODEL "weights:\n  layout: out_in\n  file: a.safetensors\n  layer: 0\n"
	                         "  q: {tensor: 'm.{layer}.q'}\n  k: {tensor: \"m.{layer}.k\"}\n"
	                         "  v: {tensor: m.v}\n",
	                   &cfg),
	             QKV_OK, "%s", err);
	qkv_config_free(&cfg);
	expect_fail(MODEL "weights:\n  q: {tensor: 'm.{layer}.q'}\n  k: {tensor: m.k}}\n",
	            QKV_ERR_CONFIG, "t.yaml:6:", NULL, "YAML syntax");
	cr_assert(!strstr(err, "must be quoted"), "%s", err);
}

Test(config_yaml, anchors_and_aliases)
{
	expect_fail("model: &m {d_model: 4, n_heads: 1}\n", QKV_ERR_CONFIG, "t.yaml:1:8: ", "model",
	            "anchors (`&m`) are not allowed");
	expect_fail("a: &a [*a]\n", QKV_ERR_CONFIG, "t.yaml:1:4: ", "a",
	            "anchors (`&a`) are not allowed");
	expect_fail("model:\n  d_model: *x\n", QKV_ERR_CONFIG, "t.yaml:2:12: ", "model.d_model",
	            "aliases (`*x`) are not allowed");
}

Test(config_yaml, alias_bomb)
{
	expect_fail("a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
	            QKV_ERR_CONFIG, "t.yaml:1:4: ", "a", "anchors");
}

Test(config_yaml, tags)
{
	expect_fail("model:\n  d_model: !!int 768\n", QKV_ERR_CONFIG,
	            "t.yaml:2:12: ", "model.d_model",
	            "tags (`tag:yaml.org,2002:int`) are not allowed");
	expect_fail("model: !custom {d_model: 1}\n", QKV_ERR_CONFIG, "t.yaml:1:8: ", "model",
	            "tags");
	expect_fail("--- !!map\nmodel: {}\n", QKV_ERR_CONFIG, "t.yaml:1:5: ", NULL, "tags");
}

Test(config_yaml, nesting_200000_deep_flow)
{
	size_t depth = 200000;
	char *text = malloc(depth + 16);
	cr_assert(text);
	memcpy(text, "model: ", 7);
	memset(text + 7, '[', depth);
	text[7 + depth] = '\0';
	struct qkv_config cfg;
	cr_assert_eq(qkv_config_parse("t.yaml", ".", text, strlen(text), &cfg, err, sizeof(err)),
	             QKV_ERR_CONFIG);
	cr_expect(strstr(err, "nesting is deeper than 16 levels"), "%s", err);
	cr_expect(strncmp(err, "t.yaml:1:23: ", 13) == 0, "%s", err);
	cr_expect(strstr(err, "key `model[0][0]"), "%s", err);
	free(text);
}

Test(config_yaml, nesting_200000_deep_block)
{
	size_t depth = 200000;
	char *text = malloc(2 * depth + 16);
	cr_assert(text);
	memcpy(text, "model:\n", 7);
	for (size_t i = 0; i < depth; i++)
		memcpy(text + 7 + 2 * i, "- ", 2);
	memcpy(text + 7 + 2 * depth, "x\n", 3);
	struct qkv_config cfg;
	cr_assert_eq(qkv_config_parse("t.yaml", ".", text, strlen(text), &cfg, err, sizeof(err)),
	             QKV_ERR_CONFIG);
	cr_expect(strstr(err, "nesting is deeper than 16 levels"), "%s", err);
	free(text);
}

Test(config_yaml, nesting_at_the_cap_is_read)
{
	/* 16 levels are YAML-legal here; the schema then refuses the shape. */
	expect_fail("a: [[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]\n", QKV_ERR_CONFIG, "t.yaml:1:1: ", "a",
	            "unknown key `a`");
}

Test(config_yaml, over_size_cap_in_memory)
{
	size_t n = QKV_CONFIG_MAX_BYTES + 1;
	char *text = malloc(n);
	cr_assert(text);
	memset(text, '#', n);
	struct qkv_config cfg;
	cr_assert_eq(qkv_config_parse("big.yaml", ".", text, n, &cfg, err, sizeof(err)),
	             QKV_ERR_CONFIG);
	cr_expect(strstr(err, "big.yaml:1:1: "), "%s", err);
	cr_expect(strstr(err, "larger than 1048576 bytes"), "%s", err);
	free(text);
}

Test(config_yaml, over_size_cap_file)
{
	char dir[] = "/tmp/qkv_cfg_XXXXXX";
	cr_assert(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/big.yaml", dir);
	FILE *f = fopen(path, "w");
	cr_assert(f);
	for (size_t i = 0; i < QKV_CONFIG_MAX_BYTES / 8 + 1; i++)
		fputs("# 45678\n", f);
	fclose(f);
	struct qkv_config cfg;
	cr_expect_eq(qkv_config_load(path, &cfg, err, sizeof(err)), QKV_ERR_CONFIG);
	cr_expect(strstr(err, path) == err, "%s", err);
	cr_expect(strstr(err, "at most 1048576"), "%s", err);
	unlink(path);
	rmdir(dir);
}

Test(config_yaml, too_many_entries)
{
	size_t n = CFG_MAX_ENTRIES + 1;
	char *text = malloc(16 + 3 * n);
	cr_assert(text);
	strcpy(text, "a: [");
	for (size_t i = 0; i < n; i++)
		strcat(text, "1, ");
	strcat(text, "]");
	expect_fail(text, QKV_ERR_CONFIG, "t.yaml:1:773: ", "a[256]", "more than 256 entries");
	free(text);
}

Test(config_yaml, non_scalar_key)
{
	expect_fail("? [a, b]\n: 1\n", QKV_ERR_CONFIG, "t.yaml:1:3: ", NULL,
	            "a key must be a plain name");
}

/* ---- keys ---- */

Test(config_keys, duplicate)
{
	expect_fail("model:\n  d_model: 768\n  n_heads: 12\n  d_model: 769\n" WEIGHTS_ST,
	            QKV_ERR_CONFIG, "t.yaml:4:3: ", "model.d_model", "duplicate key `d_model`");
	expect_fail(MODEL WEIGHTS_ST MODEL, QKV_ERR_CONFIG, "t.yaml:10:1: ", "model",
	            "duplicate key");
}

Test(config_keys, misspelled_with_hint)
{
	expect_fail("model:\n  d_modle: 768\n  n_heads: 12\n" WEIGHTS_ST, QKV_ERR_CONFIG,
	            "t.yaml:2:3: ", "model.d_modle",
	            "unknown key `d_modle` (did you mean `d_model`?)");
	expect_fail(MODEL "weights:\n  layuot: out_in\n", QKV_ERR_CONFIG,
	            "t.yaml:5:3: ", "weights.layuot", "(did you mean `layout`?)");
	expect_fail(MODEL WEIGHTS_ST "backend: {prefre: [blas]}\n", QKV_ERR_CONFIG,
	            "t.yaml:10:11: ", "backend.prefre", "(did you mean `prefer`?)");
	expect_fail(MODEL WEIGHTS_ST "backnd: {}\n", QKV_ERR_CONFIG, "t.yaml:10:1: ", "backnd",
	            "(did you mean `backend`?)");
}

Test(config_keys, unknown_without_hint)
{
	expect_fail(MODEL WEIGHTS_ST "colour: blue\n", QKV_ERR_CONFIG, "t.yaml:10:1: ", "colour",
	            "unknown key `colour`");
	struct qkv_config cfg;
	parse(MODEL WEIGHTS_ST "colour: blue\n", &cfg);
	cr_expect_null(strstr(err, "did you mean"), "%s", err);
}

Test(config_keys, missing_required)
{
	expect_fail("model:\n  n_heads: 12\n" WEIGHTS_ST, QKV_ERR_CONFIG,
	            "t.yaml:2:3: ", "model.d_model", "required key is missing");
	expect_fail(MODEL, QKV_ERR_CONFIG, "t.yaml:1:1: ", "weights", "required key is missing");
	expect_fail(WEIGHTS_ST, QKV_ERR_CONFIG, "t.yaml:1:1: ", "model", "required key");
	expect_fail(MODEL "weights:\n  file: a.npy\n  q: {}\n", QKV_ERR_CONFIG,
	            "t.yaml:5:3: ", "weights.layout", "required key is missing");
	expect_fail(MODEL "weights:\n  layout: in_out\n  q: {file: a.npy}\n  v: {file: b.npy}\n",
	            QKV_ERR_CONFIG, "t.yaml:5:3: ", "weights.k", "required key is missing");
}

Test(config_keys, tuned_only_in_machine_profile)
{
	expect_fail(MODEL WEIGHTS_ST "tuned: {cpu: x}\n", QKV_ERR_CONFIG, "t.yaml:10:1: ", "tuned",
	            "machine profile");
}

Test(config_keys, nul_in_key_and_value)
{
	expect_fail("\"d\\0x\": 1\n", QKV_ERR_CONFIG, "t.yaml:1:1: ", "d?x", "unknown key `d?x`");
	expect_fail(MODEL "weights:\n  layout: \"in_out\\0evil\"\n", QKV_ERR_CONFIG,
	            "t.yaml:5:11: ", "weights.layout", "NUL byte");
}

/* ---- types and numbers ---- */

Test(config_types, wrong_kind)
{
	expect_fail("model: 5\n", QKV_ERR_CONFIG, "t.yaml:1:8: ", "model",
	            "expected a mapping of keys, got a plain value");
	expect_fail("model: [1, 2]\n", QKV_ERR_CONFIG, "t.yaml:1:8: ", "model", "got a list");
	expect_fail("model:\n  d_model: {a: 1}\n", QKV_ERR_CONFIG, "t.yaml:2:12: ", "model.d_model",
	            "expected a whole number, got a mapping");
	expect_fail(MODEL "weights:\n  layout: [out_in]\n", QKV_ERR_CONFIG,
	            "t.yaml:5:11: ", "weights.layout", "expected a string, got a list");
	expect_fail(MODEL "weights:\n  layout: out_in\n  q: wq.npy\n", QKV_ERR_CONFIG,
	            "t.yaml:6:6: ", "weights.q", "expected a tensor reference");
	expect_fail(MODEL WEIGHTS_ST "backend: {prefer: blas}\n", QKV_ERR_CONFIG,
	            "t.yaml:10:19: ", "backend.prefer", "expected a list");
	expect_fail(MODEL WEIGHTS_ST "backend: {prefer: [[blas]]}\n", QKV_ERR_CONFIG,
	            "t.yaml:10:20: ", "backend.prefer[0]", "expected a string, got a list");
	expect_fail(MODEL WEIGHTS_ST "backend: {routes: [blas]}\n", QKV_ERR_CONFIG,
	            "t.yaml:10:20: ", "backend.routes[0]", "expected a mapping");
}

static void expect_bad_dmodel(const char *value, const char *problem)
{
	char text[256];
	snprintf(text, sizeof(text), "model:\n  n_heads: 1\n  d_model: %s\n" WEIGHTS_ST, value);
	expect_fail(text, QKV_ERR_CONFIG, "t.yaml:3:1", "model.d_model", problem);
}

Test(config_types, numbers_not_plain_decimal)
{
	expect_bad_dmodel("\"768\"", "quoted string \"768\"");
	expect_bad_dmodel("'768'", "quoted string");
	expect_bad_dmodel("0x300", "hexadecimal is not allowed");
	expect_bad_dmodel("0o1400", "octal");
	expect_bad_dmodel("01400", "leading zero");
	expect_bad_dmodel("768.0", "without a fraction or exponent");
	expect_bad_dmodel("7.68e2", "without a fraction or exponent");
	expect_bad_dmodel("1e3", "without a fraction or exponent");
	expect_bad_dmodel("-768", "must not be negative");
	expect_bad_dmodel("+768", "leading `+`");
	expect_bad_dmodel("768x", "plain decimal number");
	expect_bad_dmodel(".inf", "fraction");
	expect_bad_dmodel("1_000", "plain decimal number");
	expect_bad_dmodel("", "got no value");
	expect_bad_dmodel("~", "got no value");
	expect_bad_dmodel("true", "plain decimal number");
}

Test(config_types, numbers_out_of_range)
{
	expect_bad_dmodel("0", "0 is below the minimum 1");
	expect_bad_dmodel("1048577", "1048577 is above the maximum 1048576");
	expect_bad_dmodel("99999999999999999999999999", "is above the maximum 1048576");
	expect_fail(MODEL WEIGHTS_ST "backend: {threads: 1025}\n", QKV_ERR_CONFIG,
	            "t.yaml:10:20: ", "backend.threads", "above the maximum 1024");
	expect_fail(MODEL WEIGHTS_ST "backend: {threads: -1}\n", QKV_ERR_CONFIG,
	            "t.yaml:10:20: ", "backend.threads", "negative");
	expect_fail("model: {d_model: 8, n_heads: 0}\n" WEIGHTS_ST, QKV_ERR_CONFIG,
	            "t.yaml:1:30: ", "model.n_heads", "below the minimum 1");
	expect_fail("model: {d_model: 8, n_heads: 1, head_dim: 0}\n" WEIGHTS_ST, QKV_ERR_CONFIG,
	            "t.yaml:1:43: ", "model.head_dim", "below the minimum 1");
}

Test(config_types, booleans)
{
	const char *bad[] = {"yes", "True", "on", "1", "\"true\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), MODEL WEIGHTS_ST "backend:\n  strict: %s\n", bad[i]);
		expect_fail(text, QKV_ERR_CONFIG, "t.yaml:11:11: ", "backend.strict",
		            "expected true or false");
	}
	struct qkv_config cfg;
	cr_assert_eq(parse(MODEL WEIGHTS_ST "backend:\n  strict: false\n", &cfg), QKV_OK, "%s",
	             err);
	cr_expect_eq(cfg.backend.strict, 0);
	qkv_config_free(&cfg);
}

Test(config_types, enums)
{
	expect_fail("model: {d_model: 8, n_heads: 1, precision: fp16}\n" WEIGHTS_ST, QKV_ERR_CONFIG,
	            "t.yaml:1:44: ", "model.precision", "`fp16` is not one of f32 | bf16 | int8");
	expect_fail(MODEL "weights:\n  layout: row_major\n", QKV_ERR_CONFIG,
	            "t.yaml:5:11: ", "weights.layout", "not one of in_out | out_in");
	expect_fail(MODEL "weights:\n  layout: in_out\n  format: onnx\n", QKV_ERR_CONFIG,
	            "t.yaml:6:11: ", "weights.format", "not one of safetensors | npy | raw | gguf");
	expect_fail(MODEL "weights:\n  layout: in_out\n  q: {file: a.bin, dtype: f64}\n",
	            QKV_ERR_CONFIG, "t.yaml:6:27: ", "weights.q.dtype", "not one of f32 | f16");
}

/* ---- shapes ---- */

Test(config_shapes, heads)
{
	expect_fail("model:\n  d_model: 768\n  n_heads: 12\n  n_kv_heads: 5\n" WEIGHTS_ST,
	            QKV_ERR_CONFIG, "t.yaml:4:15: ", "model.n_kv_heads",
	            "n_heads 12 is not a multiple of n_kv_heads 5");
	expect_fail("model:\n  d_model: 768\n  n_heads: 12\n  n_kv_heads: 24\n" WEIGHTS_ST,
	            QKV_ERR_CONFIG, "t.yaml:4:15: ", "model.n_kv_heads", "not a multiple");
	expect_fail("model:\n  d_model: 10\n  n_heads: 3\n" WEIGHTS_ST, QKV_ERR_CONFIG,
	            "t.yaml:3:12: ", "model.n_heads",
	            "d_model 10 is not divisible by n_heads 3; set head_dim");
	struct qkv_config cfg;
	cr_assert_eq(parse("model:\n  d_model: 10\n  n_heads: 3\n  head_dim: 4\n" WEIGHTS_ST, &cfg),
	             QKV_OK, "%s", err);
	cr_expect_eq(cfg.head_dim, 4);
	qkv_config_free(&cfg);
}

/* The int8 limit (<qkv/precision.h>) is a dimension rule like the others: the config
 * names the key and line, before any weight is read. */
Test(config_shapes, int8_d_model_limit)
{
	expect_fail("model:\n  d_model: 133145\n  n_heads: 1\n  precision: int8\n" WEIGHTS_ST,
	            QKV_ERR_UNSUPPORTED, "t.yaml:2:12: ", "model.d_model", "above 133144");
	struct qkv_config cfg;
	cr_assert_eq(
	    parse("model:\n  d_model: 133144\n  n_heads: 1\n  precision: int8\n" WEIGHTS_ST, &cfg),
	    QKV_OK, "%s", err);
	qkv_config_free(&cfg);
	cr_assert_eq(parse("model:\n  d_model: 133145\n  n_heads: 1\n" WEIGHTS_ST, &cfg), QKV_OK,
	             "f32 has no such limit: %s", err);
	qkv_config_free(&cfg);
}

Test(config_shapes, width_overflow)
{
	expect_fail("model:\n  d_model: 1048576\n  n_heads: 65536\n  head_dim: 65536\n" WEIGHTS_ST,
	            QKV_ERR_CONFIG, "t.yaml:4:13: ", "model.head_dim", "overflow");
	/* d_q fits in 32 bits, d_q + 2 d_kv does not. */
	expect_fail("model:\n  d_model: 8\n  n_heads: 32768\n  head_dim: 65535\n" WEIGHTS_ST,
	            QKV_ERR_CONFIG, "t.yaml:4:13: ", "model.head_dim", "overflow");
}

/* ---- tensor references and formats ---- */

Test(config_refs, format_rules)
{
	expect_fail(MODEL "weights:\n  layout: in_out\n  file: w.safetensors\n"
	                  "  q: {tensor: a}\n  k: {file: k.safetensors}\n  v: {tensor: c}\n",
	            QKV_ERR_CONFIG, "t.yaml:8:6: ", "weights.k", "needs `tensor: NAME`");
	expect_fail(MODEL "weights:\n  layout: in_out\n  q: {file: a.bin}\n  k: {file: b.bin}\n"
	                  "  v: {file: c.bin}\n",
	            QKV_ERR_CONFIG, "t.yaml:6:6: ", "weights.q", "needs `dtype:`");
	expect_fail(MODEL "weights:\n  layout: in_out\n  q: {file: a.npy, tensor: x}\n"
	                  "  k: {file: b.npy}\n  v: {file: c.npy}\n",
	            QKV_ERR_CONFIG, "t.yaml:6:6: ", "weights.q",
	            "only applies to files of many tensors");
	expect_fail(MODEL "weights:\n  layout: in_out\n  q: {file: a.npy, dtype: f32}\n"
	                  "  k: {file: b.npy}\n  v: {file: c.npy}\n",
	            QKV_ERR_CONFIG, "t.yaml:6:6: ", "weights.q", "only applies to raw files");
}

Test(config_refs, files)
{
	expect_fail(MODEL "weights:\n  layout: in_out\n  format: npy\n  q: {file: a.npy}\n"
	                  "  k: {file: b.npy}\n  v: {dtype: f32}\n",
	            QKV_ERR_CONFIG, "t.yaml:9:6: ", "weights.v", "no file for this tensor");
	expect_fail(MODEL "weights:\n  layout: in_out\n  q: {tensor: a}\n  k: {tensor: b}\n"
	                  "  v: {tensor: c}\n",
	            QKV_ERR_CONFIG, "t.yaml:5:3: ", "weights.file", "no weight file");
	expect_fail(MODEL "weights:\n  layout: in_out\n  file: w.onnx\n  q: {tensor: a}\n"
	                  "  k: {tensor: b}\n  v: {tensor: c}\n",
	            QKV_ERR_CONFIG, "t.yaml:6:9: ", "weights.file",
	            "cannot tell the format of `/cfg/w.onnx`");
	expect_fail(MODEL "weights:\n  layout: in_out\n  file: w.safetensors\n  q: {tensor: a}\n"
	                  "  k: {tensor: b}\n  v: {tensor: c}\n  q_bias: {file: bq.npy}\n",
	            QKV_ERR_CONFIG, "t.yaml:10:11: ", "weights.q_bias.file",
	            "is a npy file but `weights.file`");
	expect_fail(MODEL "weights:\n  layout: in_out\n  q: {file: \"\"}\n", QKV_ERR_CONFIG,
	            "t.yaml:6:13: ", "weights.q.file", "got no value");
	expect_fail(MODEL "weights:\n  layout: in_out\n  q: {}\n", QKV_ERR_CONFIG,
	            "t.yaml:6:6: ", "weights.q", "empty tensor reference");
}

Test(config_refs, scales)
{
	expect_fail(MODEL "weights:\n  layout: in_out\n  format: npy\n  q: {file: a}\n"
	                  "  k: {file: b}\n  v: {file: c}\n  q_scale: {file: s}\n"
	                  "  k_scale: {file: s}\n  v_scale: {file: s}\n",
	            QKV_ERR_CONFIG, "t.yaml:10:12: ", "weights.q_scale",
	            "set model.precision to int8");
	expect_fail("model: {d_model: 8, n_heads: 1, precision: int8}\n"
	            "weights:\n  layout: in_out\n  format: npy\n  q: {file: a}\n"
	            "  k: {file: b}\n  v: {file: c}\n  q_scale: {file: s}\n",
	            QKV_ERR_CONFIG, "t.yaml:3:3: ", "weights.k_scale", "come together");
}

/* ---- backend section ---- */

Test(config_backend, names)
{
	expect_fail(MODEL WEIGHTS_ST "backend:\n  prefer: [blas, Open-MP]\n", QKV_ERR_CONFIG,
	            "t.yaml:11:18: ", "backend.prefer[1]", "`Open-MP` is not a backend name");
	expect_fail(MODEL WEIGHTS_ST "backend:\n  prefer: [blas, scalar, blas]\n", QKV_ERR_CONFIG,
	            "t.yaml:11:26: ", "backend.prefer[2]", "`blas` is listed twice");
	expect_fail(MODEL WEIGHTS_ST "backend:\n  prefer: [abcdefghijklmnopqrstuvwxyz0123456]\n",
	            QKV_ERR_CONFIG, "t.yaml:11:12: ", "backend.prefer[0]", "not a backend name");
	expect_fail(MODEL WEIGHTS_ST "backend:\n  prefer: [\"\"]\n", QKV_ERR_CONFIG,
	            "t.yaml:11:12: ", "backend.prefer[0]", "no value");
}

Test(config_backend, list_cap)
{
	char text[1024] = MODEL WEIGHTS_ST "backend:\n  prefer: [";
	for (int i = 0; i <= QKV_CONFIG_MAX_LIST; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "b%d, ", i);
	strcat(text, "]\n");
	expect_fail(text, QKV_ERR_CONFIG, "t.yaml:11:", "backend.prefer",
	            "a list of 65 entries; at most 64");
}

Test(config_backend, routes)
{
	expect_fail(MODEL WEIGHTS_ST "backend:\n  routes:\n"
	                             "    - {precision: f32, t_min: 1, t_max: 16, backend: a}\n"
	                             "    - {precision: f32, t_min: 16, backend: b}\n",
	            QKV_ERR_CONFIG, "t.yaml:13:7: ", "backend.routes[1]",
	            "overlaps routes[0] for precision f32");
	expect_fail(MODEL WEIGHTS_ST "backend:\n  routes:\n"
	                             "    - {precision: f32, t_min: 9, t_max: 8, backend: a}\n",
	            QKV_ERR_CONFIG, "t.yaml:12:7: ", "backend.routes[0]",
	            "t_max 8 is below t_min 9");
	expect_fail(MODEL WEIGHTS_ST "backend:\n  routes:\n    - {precision: f32, backend: a}\n",
	            QKV_ERR_CONFIG, "t.yaml:12:7: ", "backend.routes[0].t_min",
	            "required key is missing");
	expect_fail(MODEL WEIGHTS_ST "backend:\n  routes:\n"
	                             "    - {precision: f32, t_min: 1, backend: A}\n",
	            QKV_ERR_CONFIG, "t.yaml:12:43: ", "backend.routes[0].backend",
	            "not a backend name");
	/* The same range for two precisions is fine. */
	struct qkv_config cfg;
	cr_assert_eq(parse(MODEL WEIGHTS_ST "backend:\n  routes:\n"
	                                    "    - {precision: f32, t_min: 1, backend: a}\n"
	                                    "    - {precision: int8, t_min: 1, backend: b}\n",
	                   &cfg),
	             QKV_OK, "%s", err);
	cr_expect_eq(cfg.backend.n_routes, 2);
	qkv_config_free(&cfg);
}

Test(config_backend, machine_profile_errors)
{
	struct qkv_backend_cfg b;
	const char *t1 = "backend: {prefer: [blas]}\nmodel: {d_model: 1}\n";
	cr_assert_eq(qkv_machine_parse("m.yaml", ".", t1, strlen(t1), &b, err, sizeof(err)),
	             QKV_ERR_CONFIG);
	cr_expect(strstr(err, "m.yaml:2:1: key `model`: unknown key `model`"), "%s", err);
	cr_expect(strstr(err, "holds only `backend` and `tuned`"), "%s", err);
	cr_expect_eq(b.n_prefer, 0);
	cr_expect_null(b.path);
	const char *t2 = "tuned: {cpu: x}\n";
	cr_assert_eq(qkv_machine_parse("m.yaml", ".", t2, strlen(t2), &b, err, sizeof(err)),
	             QKV_ERR_CONFIG);
	cr_expect(strstr(err, "m.yaml:1:1: key `backend`: required key is missing"), "%s", err);
	const char *t3 = "backend: {}\ntuned: {cpu: x, flag: y}\n";
	cr_assert_eq(qkv_machine_parse("m.yaml", ".", t3, strlen(t3), &b, err, sizeof(err)),
	             QKV_ERR_CONFIG);
	cr_expect(strstr(err, "m.yaml:2:17: key `tuned.flag`: unknown key `flag` (did you mean "
	                      "`flags`?)"),
	          "%s", err);
	const char *t4 = "backend: {threads: 4}\ntuned: {date: [2026]}\n";
	cr_assert_eq(qkv_machine_parse("m.yaml", ".", t4, strlen(t4), &b, err, sizeof(err)),
	             QKV_ERR_CONFIG);
	cr_expect(strstr(err, "m.yaml:2:15: key `tuned.date`: expected a string"), "%s", err);
	cr_expect_eq(b.threads, -1);
}

/* ---- files and arguments ---- */

Test(config_files, io_errors)
{
	struct qkv_config cfg;
	cr_expect_eq(qkv_config_load(DATA "/does-not-exist.yaml", &cfg, err, sizeof(err)),
	             QKV_ERR_IO);
	cr_expect(strstr(err, "does-not-exist.yaml: cannot open"), "%s", err);
	cr_expect(config_is_empty(&cfg));
	cr_expect_eq(qkv_config_load(DATA, &cfg, err, sizeof(err)), QKV_ERR_IO);
	cr_expect(strstr(err, "not a regular file"), "%s", err);
	struct qkv_backend_cfg b;
	cr_expect_eq(qkv_machine_load(DATA "/nope.yaml", &b, err, sizeof(err)), QKV_ERR_IO);
}

Test(config_files, fifo_does_not_block)
{
	char dir[] = "/tmp/qkv_cfg_XXXXXX";
	cr_assert(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/fifo.yaml", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	struct qkv_config cfg;
	cr_expect_eq(qkv_config_load(path, &cfg, err, sizeof(err)), QKV_ERR_IO);
	cr_expect(strstr(err, "not a regular file"), "%s", err);
	unlink(path);
	rmdir(dir);
}

Test(config_files, error_in_file_names_the_file)
{
	struct qkv_config cfg;
	cr_expect_eq(qkv_config_load(DATA "/bad_key.yaml", &cfg, err, sizeof(err)), QKV_ERR_CONFIG);
	cr_expect(strstr(err, DATA "/bad_key.yaml:3:3: key `model.n_haeds`: unknown key "
	                           "`n_haeds` (did you mean `n_heads`?)"),
	          "%s", err);
}

Test(config_files, bad_arguments)
{
	struct qkv_config cfg;
	cr_expect_eq(qkv_config_parse("x", ".", NULL, 5, &cfg, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_expect_eq(qkv_config_parse("x", ".", "a: 1", 4, NULL, err, sizeof(err)),
	             QKV_ERR_ARGUMENT);
	cr_expect_eq(qkv_config_load(NULL, &cfg, err, sizeof(err)), QKV_ERR_ARGUMENT);
	cr_expect_eq(qkv_config_parse(NULL, NULL, NULL, 0, &cfg, NULL, 0), QKV_ERR_CONFIG);
	cr_expect_eq(qkv_config_parse(NULL, NULL, "", 0, &cfg, err, sizeof(err)), QKV_ERR_CONFIG);
	cr_expect(strncmp(err, "<memory>:1:1: ", 14) == 0, "%s", err);
	/* A tiny buffer is truncated, never overrun. */
	char small[8];
	memset(small, 'x', sizeof(small));
	cr_expect_eq(qkv_config_parse("t.yaml", ".", "", 0, &cfg, small, 4), QKV_ERR_CONFIG);
	cr_expect_eq(small[3], '\0');
	cr_expect_eq(small[4], 'x');
}

/* ---- robustness ---- */

static const char full_text[] =
    "model:\n  d_model: 64\n  n_heads: 8\n  n_kv_heads: 2\n"
    "  precision: int8\n"
    "weights:\n  layout: out_in\n  file: w.safetensors\n"
    "  q: {tensor: q}\n  k: {tensor: k}\n  v: {tensor: v, file: v.safetensors}\n"
    "  q_bias: {tensor: bq}\n"
    "  q_scale: {tensor: sq}\n  k_scale: {tensor: sk}\n"
    "  v_scale: {tensor: sv}\n"
    "backend:\n  prefer: [int8, scalar]\n  threads: 2\n  strict: false\n"
    "  plugin_dirs: [a, b]\n"
    "  routes:\n    - {precision: int8, t_min: 1, t_max: 4, backend: int8}\n";

/* SQLite's loop: fail allocation 1, 2, 3, ... until parsing succeeds. Each failure must
 * be a clean QKV_ERR_NOMEM with an empty config (leaks: run under valgrind). */
Test(config_robust, allocation_failures)
{
	unsigned long n;
	for (n = 1;; n++) {
		struct qkv_config cfg;
		qkv_alloc_fail_at(n, false);
		enum qkv_status st = parse(full_text, &cfg);
		qkv_alloc_fail_at(0, false);
		if (st == QKV_OK) {
			cr_expect_eq(cfg.n_kv_heads, 2);
			qkv_config_free(&cfg);
			break;
		}
		cr_assert_eq(st, QKV_ERR_NOMEM, "allocation %lu: status %d: %s", n, st, err);
		cr_assert(config_is_empty(&cfg), "allocation %lu: cfg not empty", n);
		cr_assert(strstr(err, "out of memory"), "allocation %lu: %s", n, err);
	}
	cr_expect_gt(n, 50, "only %lu allocations: is the loop reaching the parser?", n);
}

Test(config_robust, allocation_failures_machine)
{
	char path[] = DATA "/machine.yaml";
	for (unsigned long n = 1;; n++) {
		struct qkv_backend_cfg b;
		qkv_alloc_fail_at(n, false);
		enum qkv_status st = qkv_machine_load(path, &b, err, sizeof(err));
		qkv_alloc_fail_at(0, false);
		if (st == QKV_OK) {
			qkv_backend_cfg_free(&b);
			break;
		}
		cr_assert_eq(st, QKV_ERR_NOMEM, "allocation %lu: %s", n, err);
		cr_assert(!b.path && b.n_prefer == 0 && b.n_routes == 0);
	}
}

/* Every prefix and many byte mutations of a valid config either parse or fail with
 * QKV_ERR_CONFIG and a "t.yaml:LINE:COL: " message; none crash (run under ASan/valgrind
 * for memory errors). Deterministic: a fixed xorshift seed. */
Test(config_robust, prefixes_and_mutations)
{
	size_t len = strlen(full_text);
	char buf[sizeof(full_text)];
	for (size_t cut = 0; cut <= len; cut++) {
		struct qkv_config cfg;
		enum qkv_status st =
		    qkv_config_parse("t.yaml", ".", full_text, cut, &cfg, err, sizeof(err));
		cr_assert(st == QKV_OK || st == QKV_ERR_CONFIG, "prefix %zu: %d %s", cut, st, err);
		if (st != QKV_OK)
			cr_assert(strncmp(err, "t.yaml:", 7) == 0, "prefix %zu: %s", cut, err);
		qkv_config_free(&cfg);
	}
	static const char alphabet[] = "[]{}:,-&*!|>'\"#\n \t0x9.ea\xff\x01\\";
	uint64_t s = 0x9e3779b97f4a7c15u;
	for (int iter = 0; iter < 20000; iter++) {
		memcpy(buf, full_text, len);
		for (int m = 0; m < 1 + iter % 4; m++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			buf[s % len] = alphabet[(s >> 32) % (sizeof(alphabet) - 1)];
		}
		struct qkv_config cfg;
		enum qkv_status st =
		    qkv_config_parse("t.yaml", ".", buf, len, &cfg, err, sizeof(err));
		cr_assert(st == QKV_OK || st == QKV_ERR_CONFIG, "iteration %d: %d %s", iter, st,
		          err);
		if (st != QKV_OK)
			cr_assert(strncmp(err, "t.yaml:", 7) == 0, "iteration %d: %s", iter, err);
		qkv_config_free(&cfg);
	}
}

/* The format table: every `weights.format` name is a row of its own family, every ending
 * names exactly one row, and a .json index reads as safetensors. */
Test(format_table, rows_agree_with_their_names)
{
	const char *names[QKV_FMT_COUNT];
	enum qkv_file_format ids[QKV_FMT_COUNT];
	size_t n = qkv_format_config_names(names, ids);
	cr_assert_eq(n, 4);
	for (size_t i = 0; i < n; i++) {
		const struct qkv_format_row *r = qkv_format_row(ids[i]);
		cr_assert_not_null(r);
		cr_expect_str_eq(qkv_format_name(ids[i]), names[i]);
		cr_expect_eq(r->family, ids[i]);
		cr_expect(r->find || r->shard_of, "%s", names[i]);
		for (const char *const *e = r->ext; *e; e++) {
			char path[32];
			snprintf(path, sizeof(path), "/d/w%s", *e);
			cr_expect_eq(qkv_format_row_of_path(path), r, "%s", path);
		}
	}
	cr_expect_eq(qkv_format_of("/a.b/x.json"), QKV_FMT_SAFETENSORS);
	cr_expect_eq(qkv_format_row_for(QKV_FMT_SAFETENSORS, "m.json")->id, QKV_FMT_ST_INDEX);
	cr_expect_eq(qkv_format_row_for(QKV_FMT_NPY, "m.json")->id, QKV_FMT_NPY);
	cr_expect_eq(qkv_format_row_for(QKV_FMT_AUTO, "noext")->id, QKV_FMT_RAW);
	cr_expect_eq(qkv_format_of("/a.gguf/x"), QKV_FMT_AUTO);
	cr_expect_null(qkv_format_row(QKV_FMT_AUTO));
	cr_expect(qkv_format_has(QKV_FMT_GGUF, QKV_FMT_DIMS));
	cr_expect(!qkv_format_has(QKV_FMT_RAW, QKV_FMT_TYPED));
}
