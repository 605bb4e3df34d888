/* qkv-genweights: write deterministic Hugging Face-style safetensors for the shipped
 * model shapes, so the configs in configs/ can be run without downloading a model.
 *
 * Layout out_in ([d_out x d_model], nn.Linear), one tensor per projection, values as
 * gen.h specifies. Tensor names:
 *   llama2-7b, llama3-8b, tiny:  model.layers.0.self_attn.{q,k,v}_proj.weight
 *                                (tiny also .bias, as Qwen2 which has GQA and biases)
 *   gpt2-small:                  h.0.attn.{q,k,v}.weight and h.0.attn.{q,k,v}.bias
 *                                (GPT-2 fuses them in c_attn; qkv keeps them apart)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

struct preset {
	const char *name;
	unsigned d_model, n_heads, n_kv_heads, head_dim;
	int bias;
	const char *prefix, *wfmt; /* tensor name = prefix + printf(wfmt, "q") + ".weight" */
};

static const struct preset presets[] = {
    {"tiny", 64, 4, 2, 16, 1, "model.layers.0.self_attn.", "%s_proj"},
    {"gpt2-small", 768, 12, 12, 64, 1, "h.0.attn.", "%s"},
    {"llama2-7b", 4096, 32, 32, 128, 0, "model.layers.0.self_attn.", "%s_proj"},
    {"llama3-8b", 4096, 32, 8, 128, 0, "model.layers.0.self_attn.", "%s_proj"},
};

enum dtype { DT_F32, DT_BF16, DT_F16 };
static const char *const dtype_st[] = {"F32", "BF16", "F16"};
static const size_t dtype_size[] = {4, 2, 2};

struct tensor {
	char name[96];
	unsigned role;       /* gen.h role */
	uint64_t rows, cols; /* cols = 0 for a vector */
	uint64_t begin, end;
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: qkv-genweights --preset tiny|gpt2-small|llama2-7b|llama3-8b --out FILE\n"
	        "                      [--seed S] [--dtype f32|bf16|f16]\n"
	        "Writes one layer's Q/K/V weights (and biases where the model has them) as\n"
	        "Hugging Face-style safetensors, out_in layout, N(0, 0.02) values from a\n"
	        "deterministic generator (same preset + seed + dtype = same bytes).\n");
}

static int put_values(FILE *f, enum dtype dt, uint64_t base, uint64_t count)
{
	unsigned char buf[4096 * 4];
	size_t isz = dtype_size[dt], fill = 0;
	for (uint64_t i = 0; i < count; i++) {
		float v = (float)gen_value(base, i);
		uint32_t u;
		if (dt == DT_F32)
			memcpy(&u, &v, 4);
		else
			u = dt == DT_BF16 ? gen_f32_to_bf16(v) : gen_f32_to_f16(v);
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

static int write_file(const char *path, const struct preset *p, enum dtype dt, uint64_t seed)
{
	struct tensor t[6];
	unsigned nt = 0;
	uint64_t off = 0;
	static const char *const pn[3] = {"q", "k", "v"};
	for (unsigned g = 0; g < (p->bias ? 2u : 1u); g++)
		for (unsigned r = 0; r < 3; r++) {
			struct tensor *x = &t[nt++];
			char mid[32];
			snprintf(mid, sizeof(mid), p->wfmt, pn[r]);
			snprintf(x->name, sizeof(x->name), "%s%s.%s", p->prefix, mid,
			         g ? "bias" : "weight");
			x->role = g * 3 + r;
			x->rows = (uint64_t)(r == 0 ? p->n_heads : p->n_kv_heads) * p->head_dim;
			x->cols = g ? 0 : p->d_model;
			x->begin = off;
			off += x->rows * (x->cols ? x->cols : 1) * dtype_size[dt];
			x->end = off;
		}
	char hdr[2048];
	int n = snprintf(hdr, sizeof(hdr),
	                 "{\"__metadata__\":{\"format\":\"pt\",\"generator\":\"qkv-genweights\","
	                 "\"preset\":\"%s\",\"seed\":\"%llu\"}",
	                 p->name, (unsigned long long)seed);
	for (unsigned i = 0; i < nt; i++) {
		char shape[64];
		if (t[i].cols)
			snprintf(shape, sizeof(shape), "%llu,%llu", (unsigned long long)t[i].rows,
			         (unsigned long long)t[i].cols);
		else
			snprintf(shape, sizeof(shape), "%llu", (unsigned long long)t[i].rows);
		n += snprintf(
		    hdr + n, sizeof(hdr) - (size_t)n,
		    ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%llu,%llu]}",
		    t[i].name, dtype_st[dt], shape, (unsigned long long)t[i].begin,
		    (unsigned long long)t[i].end);
	}
	n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "}");
	while (n % 8) /* pad so the data starts 8-byte aligned (8 + n) */
		hdr[n++] = ' ';
	FILE *f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "qkv-genweights: %s: %s\n", path, strerror(errno));
		return -1;
	}
	unsigned char len[8];
	for (int b = 0; b < 8; b++)
		len[b] = (unsigned char)((uint64_t)n >> (8 * b));
	int bad = fwrite(len, 1, 8, f) != 8 || fwrite(hdr, 1, (size_t)n, f) != (size_t)n;
	for (unsigned i = 0; i < nt && !bad; i++)
		bad = put_values(f, dt, gen_base(seed, t[i].role),
		                 t[i].rows * (t[i].cols ? t[i].cols : 1)) != 0;
	if (fclose(f) != 0)
		bad = 1;
	if (bad) {
		fprintf(stderr, "qkv-genweights: %s: write failed: %s\n", path, strerror(errno));
		remove(path);
		return -1;
	}
	printf("wrote %s: preset %s, %s, seed %llu, %u tensors, %llu bytes\n", path, p->name,
	       dtype_st[dt], (unsigned long long)seed, nt,
	       (unsigned long long)(8 + (uint64_t)n + off));
	return 0;
}

int main(int argc, char **argv)
{
	const char *preset = NULL, *out = NULL, *dts = "f32";
	uint64_t seed = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc || (strcmp(a, "--preset") != 0 && strcmp(a, "--out") != 0 &&
		                      strcmp(a, "--seed") != 0 && strcmp(a, "--dtype") != 0)) {
			fprintf(stderr, "qkv-genweights: unknown or incomplete argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
		const char *v = argv[++i];
		if (!strcmp(a, "--preset")) {
			preset = v;
		} else if (!strcmp(a, "--out")) {
			out = v;
		} else if (!strcmp(a, "--dtype")) {
			dts = v;
		} else {
			char *end;
			errno = 0;
			unsigned long long s = strtoull(v, &end, 10);
			if (errno || end == v || *end || v[0] == '-') {
				fprintf(stderr,
				        "qkv-genweights: --seed '%s' is not a non-negative "
				        "integer\n",
				        v);
				return 2;
			}
			seed = s;
		}
	}
	const struct preset *p = NULL;
	for (size_t i = 0; preset && i < sizeof(presets) / sizeof(presets[0]); i++)
		if (!strcmp(presets[i].name, preset))
			p = &presets[i];
	if (!p || !out) {
		fprintf(stderr, "qkv-genweights: %s\n",
		        !preset ? "--preset is required"
		        : !p    ? "unknown --preset (tiny, gpt2-small, llama2-7b, llama3-8b)"
		                : "--out is required");
		return 2;
	}
	enum dtype dt;
	if (!strcmp(dts, "f32"))
		dt = DT_F32;
	else if (!strcmp(dts, "bf16"))
		dt = DT_BF16;
	else if (!strcmp(dts, "f16"))
		dt = DT_F16;
	else {
		fprintf(stderr, "qkv-genweights: unknown --dtype '%s' (f32, bf16, f16)\n", dts);
		return 2;
	}
	return write_file(out, p, dt, seed) == 0 ? 0 : 1;
}
