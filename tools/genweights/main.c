/* qkv-genweights: write deterministic checkpoints for the shipped model shapes, in the
 * forms people hold them, so the configs in configs/ run without downloading a model.
 *
 * The logical weights are the same in every form: for layer L, projection p (0 q, 1 k,
 * 2 v), Wp is [d_out x d_model] (nn.Linear) with element i = gen.h's value for role
 * 6L + p (biases: role 6L + 3 + p), so layer 0 of any form equals the historical
 * single-layer file. Forms (--form):
 *   separate  one tensor per projection, out_in. Names as the preset's family:
 *             tiny, llama*: model.layers.L.self_attn.{q,k,v}_proj.{weight,bias}
 *             gpt2-small:   h.L.attn.{q,k,v}.{weight,bias}
 *   gpt2      GPT-2's Conv1D h.L.attn.c_attn.weight [d_model x N] (in_out, columns
 *             q | k | v) and h.L.attn.c_attn.bias [N]             (config split: cols)
 *   phi3      model.layers.L.self_attn.qkv_proj.weight [N x d_model], rows q | k | v
 *             (out_in, no bias)                                     (config split: rows)
 *   neox      gpt_neox.layers.L.attention.query_key_value.{weight,bias} [N x d_model],
 *             rows per K/V head group: its query heads, its K head, its V head
 *             (GPT-NeoX; Falcon with GQA)                           (config split: heads)
 *   sharded   the separate form's Llama names split over --shards files
 *             model-0000i-of-0000S.safetensors (in order, a layer may straddle two)
 *             plus --out = model.safetensors.index.json with the weight_map
 *   gguf      GGUF v3, llama.cpp names blk.L.attn_{q,k,v}.{weight,bias}, ggml dims
 *             [d_model, d_out], metadata general.architecture (llama, or qwen2 when
 *             the preset has biases) and <arch>.embedding_length, .block_count,
 *             .attention.head_count, .attention.head_count_kv
 * N = d_q + 2 d_kv. --layers L writes layers 0..L-1.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/plugin.h>
#include <qkv/wtype.h>

#include "gen.h"
#include "gguf_out.h"

struct preset {
	const char *name;
	unsigned d_model, n_heads, n_kv_heads, head_dim;
	int bias;
	const char *prefix, *wfmt; /* separate: prefix(L) + printf(wfmt, "q") + ".weight" */
};

static const struct preset presets[] = {
    {"tiny", 64, 4, 2, 16, 1, "model.layers.%u.self_attn.", "%s_proj"},
    /* the smallest shape whose d_model is whole super-blocks of the K types */
    {"tiny256", 256, 4, 2, 64, 1, "model.layers.%u.self_attn.", "%s_proj"},
    {"gpt2-small", 768, 12, 12, 64, 1, "h.%u.attn.", "%s"},
    {"llama2-7b", 4096, 32, 32, 128, 0, "model.layers.%u.self_attn.", "%s_proj"},
    {"llama3-8b", 4096, 32, 8, 128, 0, "model.layers.%u.self_attn.", "%s_proj"},
};

enum dtype { DT_F32, DT_BF16, DT_F16 };
static const char *const dtype_st[] = {"F32", "BF16", "F16"};
static const size_t dtype_size[] = {4, 2, 2};
static const uint32_t dtype_wtype[] = {QKV_WT_F32, QKV_WT_BF16, QKV_WT_F16};

enum form { F_SEPARATE, F_GPT2, F_PHI3, F_NEOX, F_SHARDED, F_GGUF };
static const char *const form_names[] = {"separate", "gpt2", "phi3", "neox", "sharded", "gguf"};

/* How a file tensor's elements map to the logical weights. */
enum kind { K_SEP, K_COLS, K_ROWS, K_HEADS, K_BIAS_BLOCKS, K_BIAS_HEADS };

struct tensor {
	char name[128];
	enum kind kind;
	unsigned layer, proj; /* proj: K_SEP only (0..2 weight, 3..5 bias) */
	uint64_t rows, cols;  /* outermost first; cols = 0 for a vector */
	uint64_t begin, end;  /* byte range in its file's data */
};

struct gen {
	const struct preset *p;
	enum dtype dt;
	uint32_t wtype[3]; /* gguf: the weights' types (q, k, v), default the --dtype's */
	uint64_t seed;
	uint64_t d_q, d_kv, n;
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: qkv-genweights --preset tiny|tiny256|gpt2-small|llama2-7b|llama3-8b --out "
	        "FILE\n"
	        "                      [--seed S] [--dtype f32|bf16|f16] [--layers L]\n"
	        "                      [--wtype T | --wtype TQ,TK,TV] (gguf: f32 f16 bf16 q8_0\n"
	        "                      q4_0 q4_k q5_k q6_k; e.g. q4_k,q4_k,q6_k as Q4_K_M)\n"
	        "                      [--form separate|gpt2|phi3|neox|sharded|gguf] "
	        "[--shards S]\n"
	        "Writes Q/K/V weights (and biases where the model has them) of layers 0..L-1\n"
	        "(default 1) with N(0, 0.02) values from a deterministic generator (same\n"
	        "preset + seed + dtype = same values in every form). Forms:\n"
	        "  separate  Hugging Face safetensors, one out_in tensor per projection\n"
	        "  gpt2      fused Conv1D c_attn [d_model x N] (in_out, split cols) + bias\n"
	        "  phi3      fused qkv_proj [N x d_model] (out_in, split rows), no bias\n"
	        "  neox      fused query_key_value, rows per head group (split heads) + bias\n"
	        "  sharded   separate tensors over S shard files (default 2); FILE is the\n"
	        "            model.safetensors.index.json written next to them\n"
	        "  gguf      GGUF v3, llama.cpp names blk.L.attn_{q,k,v}, dims in metadata\n");
}

/* Projection and output index of fused output n. */
static void fused_out(const struct gen *g, bool heads, uint64_t n, unsigned *p, uint64_t *o)
{
	if (!heads) {
		*p = n < g->d_q ? 0 : n < g->d_q + g->d_kv ? 1 : 2;
		*o = *p == 0 ? n : *p == 1 ? n - g->d_q : n - g->d_q - g->d_kv;
		return;
	}
	uint64_t hd = g->p->head_dim, qpk = g->p->n_heads / g->p->n_kv_heads, gs = (qpk + 2) * hd;
	uint64_t grp = n / gs, w = n % gs;
	if (w < qpk * hd) {
		*p = 0;
		*o = grp * qpk * hd + w;
	} else {
		*p = w < (qpk + 1) * hd ? 1 : 2;
		*o = grp * hd + w - (qpk + (*p - 1)) * hd;
	}
}

/* Element e (row-major in the file tensor's shape) as a double. */
static double value_at(const struct gen *g, const struct tensor *t, uint64_t e)
{
	uint64_t dm = g->p->d_model;
	unsigned role, p;
	uint64_t i, o;
	switch (t->kind) {
	case K_SEP:
		role = t->proj, i = e;
		break;
	case K_COLS: /* [d_model x N] */
		fused_out(g, false, e % g->n, &p, &o);
		role = p, i = o * dm + e / g->n;
		break;
	case K_ROWS:
	case K_HEADS: /* [N x d_model] */
		fused_out(g, t->kind == K_HEADS, e / dm, &p, &o);
		role = p, i = o * dm + e % dm;
		break;
	default: /* biases [N] */
		fused_out(g, t->kind == K_BIAS_HEADS, e, &p, &o);
		role = 3 + p, i = o;
		break;
	}
	return gen_value(gen_base(g->seed, 6 * t->layer + role), i);
}

static int put_tensor(FILE *f, const struct gen *g, const struct tensor *t)
{
	unsigned char buf[4096 * 4];
	size_t isz = dtype_size[g->dt], fill = 0;
	uint64_t count = t->rows * (t->cols ? t->cols : 1);
	for (uint64_t e = 0; e < count; e++) {
		float v = (float)value_at(g, t, e);
		uint32_t u;
		if (g->dt == DT_F32)
			memcpy(&u, &v, 4);
		else
			u = g->dt == DT_BF16 ? gen_f32_to_bf16(v) : gen_f32_to_f16(v);
		for (size_t b = 0; b < isz; b++) /* little-endian */
			buf[fill++] = (unsigned char)(u >> (8 * b));
		if (fill == sizeof(buf)) {
			if (fwrite(buf, 1, fill, f) != fill)
				return -1;
			fill = 0;
		}
	}
	return fwrite(buf, 1, fill, f) == fill ? 0 : -1;
}

static int put_le(FILE *f, uint64_t v, unsigned k)
{
	unsigned char b[8];
	for (unsigned i = 0; i < k; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return fwrite(b, 1, k, f) == k ? 0 : -1;
}

static int finish(FILE *f, const char *path, int bad)
{
	if (fclose(f) != 0)
		bad = 1;
	if (bad) {
		fprintf(stderr, "qkv-genweights: %s: write failed: %s\n", path, strerror(errno));
		remove(path);
		return -1;
	}
	return 0;
}

static FILE *open_out(const char *path)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		fprintf(stderr, "qkv-genweights: %s: %s\n", path, strerror(errno));
	return f;
}

/* One safetensors file holding t[0..nt). */
static int write_safetensors(const char *path, const struct gen *g, struct tensor *t, size_t nt,
                             uint64_t *bytes)
{
	size_t cap = 512 + 256 * nt;
	char *hdr = malloc(cap);
	if (!hdr)
		return -1;
	uint64_t off = 0;
	int n = snprintf(hdr, cap,
	                 "{\"__metadata__\":{\"format\":\"pt\",\"generator\":\"qkv-genweights\","
	                 "\"preset\":\"%s\",\"seed\":\"%llu\"}",
	                 g->p->name, (unsigned long long)g->seed);
	for (size_t i = 0; i < nt; i++) {
		char shape[64];
		t[i].begin = off;
		off += t[i].rows * (t[i].cols ? t[i].cols : 1) * dtype_size[g->dt];
		t[i].end = off;
		if (t[i].cols)
			snprintf(shape, sizeof(shape), "%llu,%llu", (unsigned long long)t[i].rows,
			         (unsigned long long)t[i].cols);
		else
			snprintf(shape, sizeof(shape), "%llu", (unsigned long long)t[i].rows);
		n += snprintf(
		    hdr + n, cap - (size_t)n,
		    ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%llu,%llu]}",
		    t[i].name, dtype_st[g->dt], shape, (unsigned long long)t[i].begin,
		    (unsigned long long)t[i].end);
	}
	n += snprintf(hdr + n, cap - (size_t)n, "}");
	while (n % 8) /* pad so the data starts 8-byte aligned (8 + n) */
		hdr[n++] = ' ';
	FILE *f = open_out(path);
	if (!f) {
		free(hdr);
		return -1;
	}
	int bad = put_le(f, (uint64_t)n, 8) || fwrite(hdr, 1, (size_t)n, f) != (size_t)n;
	free(hdr);
	for (size_t i = 0; i < nt && !bad; i++)
		bad = put_tensor(f, g, &t[i]) != 0;
	*bytes = 8 + (uint64_t)n + off;
	return finish(f, path, bad);
}

struct fill_ctx {
	const struct gen *g;
	const struct tensor *t;
};

/* Row r of a tensor (or the whole vector) as f32, for the GGUF writer. */
static void fill_row(void *ctx, uint64_t r, float *out)
{
	const struct fill_ctx *c = ctx;
	uint64_t len = c->t->cols ? c->t->cols : c->t->rows;
	for (uint64_t i = 0; i < len; i++)
		out[i] = (float)value_at(c->g, c->t, r * len + i);
}

/* GGUF through the tools' writer: weights in g->wtype[projection] (block types quantized
 * by the type table's reference quantizer), biases in the --dtype's type. */
static int write_gguf(const char *path, const struct gen *g, struct tensor *t, size_t nt,
                      unsigned layers, uint64_t *bytes)
{
	const struct preset *p = g->p;
	const char *arch = p->bias ? "qwen2" : "llama";
	char keys[5][96];
	static const char *const suffix[5] = {"block_count", "embedding_length",
	                                      "attention.head_count", "attention.head_count_kv",
	                                      "attention.key_length"};
	uint32_t vals[5] = {layers, p->d_model, p->n_heads, p->n_kv_heads, p->head_dim};
	struct gguf_out_kv kv[7] = {{"general.architecture", arch, 0},
	                            {"general.name", p->name, 0}};
	for (int i = 0; i < 5; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%s.%s", arch, suffix[i]);
		kv[2 + i] = (struct gguf_out_kv){keys[i], NULL, vals[i]};
	}
	struct gguf_out_tensor *ot = calloc(nt ? nt : 1, sizeof(*ot));
	FILE *f = ot ? open_out(path) : NULL;
	if (!f) {
		free(ot);
		return -1;
	}
	*bytes = 0;
	for (size_t i = 0; i < nt; i++) {
		bool weight = t[i].proj < 3;
		ot[i] = (struct gguf_out_tensor){t[i].name,
		                                 weight ? g->wtype[t[i].proj] : dtype_wtype[g->dt],
		                                 t[i].rows, t[i].cols};
		*bytes += gguf_out_bytes(&ot[i]);
	}
	int bad = gguf_out_header(f, kv, 7, ot, nt);
	for (size_t i = 0; i < nt && !bad; i++) {
		struct fill_ctx c = {g, &t[i]};
		bad = gguf_out_data(f, &ot[i], fill_row, &c);
	}
	free(ot);
	return finish(f, path, bad);
}

/* The tensors of `form`, layer by layer. */
static size_t list_tensors(const struct gen *g, enum form form, unsigned layers, struct tensor *t)
{
	const struct preset *p = g->p;
	size_t nt = 0;
	for (unsigned L = 0; L < layers; L++) {
		if (form == F_SEPARATE || form == F_SHARDED || form == F_GGUF) {
			for (unsigned b = 0; b < (p->bias ? 2u : 1u); b++)
				for (unsigned r = 0; r < 3; r++) {
					struct tensor *x = &t[nt++];
					memset(x, 0, sizeof(*x));
					char pre[64], mid[32];
					snprintf(pre, sizeof(pre), p->prefix, L);
					snprintf(mid, sizeof(mid), p->wfmt, qkv_proj_name(r));
					if (form == F_GGUF)
						snprintf(x->name, sizeof(x->name),
						         "blk.%u.attn_%s.%s", L, qkv_proj_name(r),
						         b ? "bias" : "weight");
					else
						snprintf(x->name, sizeof(x->name), "%s%s.%s", pre,
						         mid, b ? "bias" : "weight");
					x->kind = K_SEP;
					x->layer = L;
					x->proj = b * 3 + r;
					x->rows = r == 0 ? g->d_q : g->d_kv;
					x->cols = b ? 0 : p->d_model;
				}
			continue;
		}
		struct tensor *w = &t[nt++];
		memset(w, 0, sizeof(*w));
		w->layer = L;
		w->rows = form == F_GPT2 ? p->d_model : g->n;
		w->cols = form == F_GPT2 ? g->n : p->d_model;
		w->kind = form == F_GPT2 ? K_COLS : form == F_PHI3 ? K_ROWS : K_HEADS;
		const char *fmt = form == F_GPT2 ? "h.%u.attn.c_attn.%s"
		                  : form == F_PHI3
		                      ? "model.layers.%u.self_attn.qkv_proj.%s"
		                      : "gpt_neox.layers.%u.attention.query_key_value.%s";
		snprintf(w->name, sizeof(w->name), fmt, L, "weight");
		if (form == F_PHI3 || !p->bias)
			continue;
		struct tensor *b = &t[nt++];
		memset(b, 0, sizeof(*b));
		b->layer = L;
		b->rows = g->n;
		b->kind = form == F_GPT2 ? K_BIAS_BLOCKS : K_BIAS_HEADS;
		snprintf(b->name, sizeof(b->name), fmt, L, "bias");
	}
	return nt;
}

static int write_sharded(const char *index, const struct gen *g, struct tensor *t, size_t nt,
                         unsigned shards, uint64_t *bytes)
{
	const char *slash = strrchr(index, '/');
	int dl = slash ? (int)(slash - index + 1) : 0;
	size_t per = (nt + shards - 1) / shards;
	*bytes = 0;
	for (unsigned s = 0; s < shards; s++) {
		size_t a = s * per, b = a + per > nt ? nt : a + per;
		char path[4200];
		snprintf(path, sizeof(path), "%.*smodel-%05u-of-%05u.safetensors", dl, index, s + 1,
		         shards);
		uint64_t n = 0;
		if (write_safetensors(path, g, t + a, b > a ? b - a : 0, &n) != 0)
			return -1;
		*bytes += n;
	}
	FILE *f = open_out(index);
	if (!f)
		return -1;
	int bad = fprintf(f, "{\n  \"metadata\": {\"total_size\": %llu},\n  \"weight_map\": {",
	                  (unsigned long long)*bytes) < 0;
	for (size_t i = 0; i < nt && !bad; i++)
		bad = fprintf(f, "%s\n    \"%s\": \"model-%05u-of-%05u.safetensors\"", i ? "," : "",
		              t[i].name, (unsigned)(i / per) + 1, shards) < 0;
	bad = bad || fprintf(f, "\n  }\n}\n") < 0;
	return finish(f, index, bad);
}

static int parse_count(const char *opt, const char *v, unsigned long long max,
                       unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long s = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || s > max) {
		fprintf(stderr, "qkv-genweights: %s '%s' is not an integer in 0..%llu\n", opt, v,
		        max);
		return -1;
	}
	*out = s;
	return 0;
}

/* --wtype T or TQ,TK,TV: the weights' types (GGUF only); without it, the --dtype's. */
static int parse_wtypes(const char *s, bool gguf, struct gen *g)
{
	for (int p = 0; p < 3; p++)
		g->wtype[p] = dtype_wtype[g->dt];
	if (!s)
		return 0;
	if (!gguf) {
		fprintf(stderr, "qkv-genweights: --wtype needs --form gguf (safetensors has no "
		                "block-quantized types)\n");
		return -1;
	}
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	int n = 0;
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","), n++)
		if (n >= 3 || !qkv_wtype_parse(tok, &g->wtype[n])) {
			fprintf(stderr,
			        "qkv-genweights: --wtype '%s': give one type or three (q,k,v) of "
			        "f32 f16 bf16 q8_0 q4_0 q4_k q5_k q6_k\n",
			        s);
			return -1;
		}
	if (n == 1)
		g->wtype[1] = g->wtype[2] = g->wtype[0];
	else if (n != 3) {
		fprintf(stderr, "qkv-genweights: --wtype '%s': one type or three\n", s);
		return -1;
	}
	for (int p = 0; p < 3; p++) {
		uint32_t blk = qkv_wtype_traits(g->wtype[p])->block;
		if (g->p->d_model % blk) {
			fprintf(
			    stderr,
			    "qkv-genweights: --wtype %s needs d_model a multiple of %u; preset %s "
			    "has %u\n",
			    qkv_wtype_name(g->wtype[p]), blk, g->p->name, g->p->d_model);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *preset = NULL, *out = NULL, *dts = "f32", *forms = "separate", *wts = NULL;
	unsigned long long seed = 1, layers = 1, shards = 2;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		static const char *const opts[] = {"--preset", "--out",  "--seed",   "--dtype",
		                                   "--layers", "--form", "--shards", "--wtype"};
		size_t k = 0;
		while (k < 8 && strcmp(a, opts[k]))
			k++;
		if (i + 1 >= argc || k == 8) {
			fprintf(stderr, "qkv-genweights: unknown or incomplete argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
		const char *v = argv[++i];
		int bad = 0;
		switch (k) {
		case 0:
			preset = v;
			break;
		case 1:
			out = v;
			break;
		case 2:
			bad = parse_count("--seed", v, ~0ull, &seed);
			break;
		case 3:
			dts = v;
			break;
		case 4:
			bad = parse_count("--layers", v, 1024, &layers) || (layers == 0);
			break;
		case 5:
			forms = v;
			break;
		case 7:
			wts = v;
			break;
		default:
			bad = parse_count("--shards", v, 99, &shards) || (shards == 0);
			break;
		}
		if (bad) {
			if (layers == 0 || shards == 0)
				fprintf(stderr, "qkv-genweights: %s must be at least 1\n", a);
			return 2;
		}
	}
	const struct preset *p = NULL;
	for (size_t i = 0; preset && i < sizeof(presets) / sizeof(presets[0]); i++)
		if (!strcmp(presets[i].name, preset))
			p = &presets[i];
	if (!p || !out) {
		fprintf(stderr, "qkv-genweights: %s\n",
		        !preset ? "--preset is required"
		        : !p ? "unknown --preset (tiny, tiny256, gpt2-small, llama2-7b, llama3-8b)"
		             : "--out is required");
		return 2;
	}
	struct gen g = {.p = p, .seed = seed};
	if (!strcmp(dts, "f32"))
		g.dt = DT_F32;
	else if (!strcmp(dts, "bf16"))
		g.dt = DT_BF16;
	else if (!strcmp(dts, "f16"))
		g.dt = DT_F16;
	else {
		fprintf(stderr, "qkv-genweights: unknown --dtype '%s' (f32, bf16, f16)\n", dts);
		return 2;
	}
	enum form form = F_SEPARATE;
	while (form <= F_GGUF && strcmp(forms, form_names[form]))
		form++;
	if (form > F_GGUF) {
		fprintf(stderr,
		        "qkv-genweights: unknown --form '%s' (separate, gpt2, phi3, neox, sharded, "
		        "gguf)\n",
		        forms);
		return 2;
	}
	if (parse_wtypes(wts, form == F_GGUF, &g) != 0)
		return 2;
	g.d_q = (uint64_t)p->n_heads * p->head_dim;
	g.d_kv = (uint64_t)p->n_kv_heads * p->head_dim;
	g.n = g.d_q + 2 * g.d_kv;
	struct tensor *t = calloc((size_t)layers * 6, sizeof(*t));
	if (!t)
		return 1;
	size_t nt = list_tensors(&g, form, (unsigned)layers, t);
	uint64_t bytes = 0;
	int rc = form == F_GGUF      ? write_gguf(out, &g, t, nt, (unsigned)layers, &bytes)
	         : form == F_SHARDED ? write_sharded(out, &g, t, nt, (unsigned)shards, &bytes)
	                             : write_safetensors(out, &g, t, nt, &bytes);
	free(t);
	if (rc != 0)
		return 1;
	char types[48];
	snprintf(types, sizeof(types), "%s", dtype_st[g.dt]);
	if (wts)
		snprintf(types, sizeof(types), "weights %s,%s,%s", qkv_wtype_name(g.wtype[0]),
		         qkv_wtype_name(g.wtype[1]), qkv_wtype_name(g.wtype[2]));
	printf("wrote %s: preset %s, form %s, %s, seed %llu, %llu layer%s, %zu tensors, %llu "
	       "bytes\n",
	       out, p->name, form_names[form], types, seed, layers, layers > 1 ? "s" : "", nt,
	       (unsigned long long)bytes);
	return 0;
}
