#include "bench_stored.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkv/wtype.h>

#include "gguf_out.h"

#define GGUF_NAME "weights.gguf"
#define CONFIG_NAME "model.yaml"

/* One projection's rows for the writer: row j (output j, out_in as GGUF stores it) is
 * column first + j of the fused [k x n] matrix. */
struct fill_ctx {
	const float *fused;
	size_t n, first, k;
};

static void fill(void *ctx, uint64_t row, float *out)
{
	const struct fill_ctx *c = ctx;
	for (size_t i = 0; i < c->k; i++)
		out[i] = c->fused[i * c->n + c->first + row];
}

static bool write_gguf(const char *path, const struct bench_shape *s, const float *fused,
                       uint32_t wtype)
{
	static const char *const keys[5] = {
	    "llama.block_count", "llama.embedding_length", "llama.attention.head_count",
	    "llama.attention.head_count_kv", "llama.attention.key_length"};
	uint32_t vals[5] = {1, s->d_model, s->n_heads, s->n_kv_heads, s->head_dim};
	struct gguf_out_kv kv[7] = {{"general.architecture", "llama", 0},
	                            {"general.name", s->name, 0}};
	for (int i = 0; i < 5; i++)
		kv[2 + i] = (struct gguf_out_kv){keys[i], NULL, vals[i]};
	char names[3][32];
	struct gguf_out_tensor t[3];
	uint64_t rows[3] = {s->d_q, s->d_kv, s->d_kv}, first[3] = {0, s->d_q, s->d_q + s->d_kv};
	for (int p = 0; p < 3; p++) {
		snprintf(names[p], sizeof(names[p]), "blk.0.attn_%s.weight", qkv_proj_name(p));
		t[p] = (struct gguf_out_tensor){names[p], wtype, rows[p], s->d_model};
	}
	FILE *f = fopen(path, "wb");
	if (!f)
		return false;
	int bad = gguf_out_header(f, kv, 7, t, 3);
	for (int p = 0; p < 3 && !bad; p++) {
		struct fill_ctx c = {fused, s->n, first[p], s->d_model};
		bad = gguf_out_data(f, &t[p], fill, &c);
	}
	return !(fclose(f) | bad);
}

static bool write_config(const char *path, const struct bench_shape *s, uint32_t wtype)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	fprintf(f,
	        "# qkv bench: preset %s with its weights in %s (written for this run)\n"
	        "model:\n  precision: stored\n"
	        "weights:\n  file: " GGUF_NAME "\n",
	        s->name, qkv_wtype_name(wtype));
	for (int p = 0; p < 3; p++)
		fprintf(f, "  %s: {tensor: blk.0.attn_%s.weight}\n", qkv_proj_name(p),
		        qkv_proj_name(p));
	return fclose(f) == 0;
}

bool bench_stored_make(const struct bench_shape *s, const struct bench_weights *w, uint32_t wtype,
                       struct bench_stored *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const struct qkv_wtype_traits *tr = qkv_wtype_traits(wtype);
	if (!tr || s->d_model % tr->block) {
		snprintf(err, errlen, "--precision %s: d_model %u of %s is not whole blocks of %u",
		         tr ? tr->name : "?", s->d_model, s->name, tr ? tr->block : 0);
		return false;
	}
	const char *tmp = getenv("TMPDIR");
	snprintf(out->dir, sizeof(out->dir), "%s/qkv-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(out->dir)) {
		snprintf(err, errlen, "--precision %s: cannot make a folder %s: %s", tr->name,
		         out->dir, strerror(errno));
		out->dir[0] = '\0';
		return false;
	}
	char gguf[300];
	snprintf(gguf, sizeof(gguf), "%s/" GGUF_NAME, out->dir);
	snprintf(out->config, sizeof(out->config), "%s/" CONFIG_NAME, out->dir);
	if (!write_gguf(gguf, s, w->fused, wtype) || !write_config(out->config, s, wtype)) {
		snprintf(err, errlen, "--precision %s: cannot write %s: %s", tr->name, out->dir,
		         strerror(errno));
		bench_stored_remove(out);
		return false;
	}
	return true;
}

void bench_stored_remove(struct bench_stored *st)
{
	if (!st->dir[0])
		return;
	char path[300];
	snprintf(path, sizeof(path), "%s/" GGUF_NAME, st->dir);
	unlink(path);
	unlink(st->config);
	rmdir(st->dir);
	st->dir[0] = '\0';
}
