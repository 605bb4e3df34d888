/* Replays every file case of the manifest through the real entry points: each must get
 * its expected status class and a message naming the file and the fault. A surface is
 * compiled in only when its part of the core has landed (HAVE_* from meson). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/qkv.h>

#include "config.h"
#include "corpus.h"
#include "weights.h"

#define ERRLEN 512

/* Run every case of `surface` through fn; report each mismatch, then fail once. */
typedef enum qkv_status (*case_fn)(const struct corpus_case *c, char *err, size_t errlen);

static void run_surface(const char *surface, case_fn fn)
{
	const struct corpus_case *cases;
	size_t n = corpus_load(surface, &cases);
	cr_assert_gt(n, 0, "no `%s` cases in tests/corpus/cases.txt", surface);
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		char err[ERRLEN] = "";
		char why[2 * ERRLEN];
		enum qkv_status st = fn(&cases[i], err, sizeof(err));
		cr_expect(memchr(err, '\0', sizeof(err)) != NULL, "%s: unterminated message",
		          cases[i].rel);
		if (!corpus_check(&cases[i], st, err, why, sizeof(why))) {
			cr_log_error("%s", why);
			bad++;
		}
	}
	cr_expect_eq(bad, 0, "%zu of %zu `%s` cases did not get their expected error", bad, n,
	             surface);
}

#ifdef HAVE_CONFIG
static enum qkv_status run_config(const struct corpus_case *c, char *err, size_t errlen)
{
	struct qkv_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	enum qkv_status st = qkv_config_load(c->path, &cfg, err, errlen);
	qkv_config_free(&cfg);
	return st;
}

static enum qkv_status run_machine(const struct corpus_case *c, char *err, size_t errlen)
{
	struct qkv_backend_cfg b;
	memset(&b, 0, sizeof(b));
	enum qkv_status st = qkv_machine_load(c->path, &b, err, errlen);
	qkv_backend_cfg_free(&b);
	return st;
}

Test(corpus, config)
{
	run_surface("config", run_config);
}

Test(corpus, machine)
{
	run_surface("machine", run_machine);
}
#endif

#ifdef HAVE_WEIGHTS_FILE
/* Map c->path and hand it to parse; unmaps afterwards. */
static enum qkv_status with_mapped(const struct corpus_case *c, char *err, size_t errlen,
                                   enum qkv_status (*parse)(const struct corpus_case *,
                                                            const struct qkv_mapped_file *, char *,
                                                            size_t))
{
	struct qkv_mapped_file f;
	memset(&f, 0, sizeof(f));
	enum qkv_status st = qkv_file_map(c->path, &f, err, errlen);
	if (st != QKV_OK)
		return st;
	st = parse(c, &f, err, errlen);
	qkv_file_unmap(&f);
	return st;
}

static enum qkv_dtype dtype_arg(const char *s)
{
	return !strcmp(s, "f32")    ? QKV_DT_F32
	       : !strcmp(s, "f16")  ? QKV_DT_F16
	       : !strcmp(s, "bf16") ? QKV_DT_BF16
	       : !strcmp(s, "i8")   ? QKV_DT_I8
	                            : QKV_DT_NONE;
}

static enum qkv_status parse_raw(const struct corpus_case *c, const struct qkv_mapped_file *f,
                                 char *err, size_t errlen)
{
	cr_assert_eq(c->n_args, 2, "%s: raw cases need DTYPE COUNT", c->rel);
	struct qkv_tensor_view v;
	uint64_t count = strtoull(c->args[1], NULL, 10);
	enum qkv_status st = qkv_raw_view(f, dtype_arg(c->args[0]), count, &v, err, errlen);
	if (st == QKV_OK)
		cr_expect_eq(v.nbytes, f->size, "%s: view covers %zu of %zu bytes", c->rel,
		             v.nbytes, f->size);
	return st;
}

static enum qkv_status run_raw(const struct corpus_case *c, char *err, size_t errlen)
{
	return with_mapped(c, err, errlen, parse_raw);
}

Test(corpus, raw)
{
	run_surface("raw", run_raw);
}
#endif

#ifdef HAVE_NPY
/* A parsed view must lie inside the mapping. */
static void expect_inside(const struct corpus_case *c, const struct qkv_mapped_file *f,
                          const struct qkv_tensor_view *v)
{
	cr_expect(v->data >= f->data && v->nbytes <= f->size &&
	              (size_t)(v->data - f->data) <= f->size - v->nbytes,
	          "%s: tensor data outside the file", c->rel);
}

static enum qkv_status parse_npy(const struct corpus_case *c, const struct qkv_mapped_file *f,
                                 char *err, size_t errlen)
{
	struct qkv_tensor_view v;
	enum qkv_status st = qkv_npy_parse(f, QKV_NPY_WEIGHTS, "weights", &v, err, errlen);
	if (st == QKV_OK)
		expect_inside(c, f, &v);
	return st;
}

static enum qkv_status run_npy(const struct corpus_case *c, char *err, size_t errlen)
{
	return with_mapped(c, err, errlen, parse_npy);
}

Test(corpus, npy)
{
	run_surface("npy", run_npy);
}
#endif

#ifdef HAVE_SAFETENSORS
static enum qkv_status parse_st(const struct corpus_case *c, const struct qkv_mapped_file *f,
                                char *err, size_t errlen)
{
	struct qkv_safetensors *st = NULL;
	enum qkv_status s = qkv_safetensors_open(f, &st, err, errlen);
	if (s != QKV_OK) {
		cr_expect_null(st, "%s: handle left set after a failed open", c->rel);
		qkv_safetensors_close(st);
		return s;
	}
	if (c->n_args > 0) {
		struct qkv_tensor_view v;
		s = qkv_safetensors_find(st, c->args[0], &v, err, errlen);
		if (s == QKV_OK)
			cr_expect(v.data >= f->data &&
			              (size_t)(v.data - f->data) + v.nbytes <= f->size,
			          "%s: tensor data outside the file", c->rel);
	}
	qkv_safetensors_close(st);
	return s;
}

static enum qkv_status run_st(const struct corpus_case *c, char *err, size_t errlen)
{
	return with_mapped(c, err, errlen, parse_st);
}

Test(corpus, safetensors)
{
	run_surface("safetensors", run_st);
}
#endif

#ifdef HAVE_SAFETENSORS
/* GGUF (weights_gguf.c) and model.safetensors.index.json (weights_index.c), with an
 * optional tensor name to look up, as the safetensors surface. */
static enum qkv_status parse_gguf(const struct corpus_case *c, const struct qkv_mapped_file *f,
                                  char *err, size_t errlen)
{
	struct qkv_gguf *g = NULL;
	enum qkv_status s = qkv_gguf_open(f, &g, err, errlen);
	if (s != QKV_OK) {
		cr_expect_null(g, "%s: handle left set after a failed open", c->rel);
		return s;
	}
	if (c->n_args > 0) {
		struct qkv_tensor_view v;
		s = qkv_gguf_find(g, c->args[0], &v, err, errlen);
		if (s == QKV_OK)
			cr_expect(v.data >= f->data &&
			              (size_t)(v.data - f->data) + v.nbytes <= f->size,
			          "%s: tensor data outside the file", c->rel);
	}
	qkv_gguf_close(g);
	return s;
}

static enum qkv_status run_gguf(const struct corpus_case *c, char *err, size_t errlen)
{
	return with_mapped(c, err, errlen, parse_gguf);
}

Test(corpus, gguf)
{
	run_surface("gguf", run_gguf);
}

static enum qkv_status parse_index(const struct corpus_case *c, const struct qkv_mapped_file *f,
                                   char *err, size_t errlen)
{
	struct qkv_st_index *ix = NULL;
	enum qkv_status s = qkv_st_index_open(f, &ix, err, errlen);
	if (s != QKV_OK) {
		cr_expect_null(ix, "%s: handle left set after a failed open", c->rel);
		return s;
	}
	if (c->n_args > 0) {
		const char *shard = NULL;
		s = qkv_st_index_lookup(ix, c->args[0], &shard, err, errlen);
		if (s == QKV_OK)
			cr_expect(shard && strstr(shard, ".safetensors"), "%s: bad shard name",
			          c->rel);
	}
	qkv_st_index_close(ix);
	return s;
}

static enum qkv_status run_index(const struct corpus_case *c, char *err, size_t errlen)
{
	return with_mapped(c, err, errlen, parse_index);
}

Test(corpus, index)
{
	run_surface("index", run_index);
}
#endif

#ifdef HAVE_MODEL
static enum qkv_status run_model(const struct corpus_case *c, char *err, size_t errlen)
{
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.backend = "scalar";
	qkv_model *m = (qkv_model *)1;
	enum qkv_status st = qkv_model_open(c->path, &o, &m, err, errlen);
	if (st != QKV_OK)
		cr_expect_null(m, "%s: *out not NULL after a failed open", c->rel);
	else
		qkv_model_close(m);
	return st;
}

Test(corpus, model, .timeout = 60)
{
	run_surface("model", run_model);
}
#endif
