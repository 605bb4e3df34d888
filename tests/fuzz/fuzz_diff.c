/* libFuzzer target, differential: random small shapes and data through every in-tree
 * backend plugin (via the plugin ABI, as the core calls them) against the scalar
 * reference.
 *
 * Values are k/16 with |k| <= 128 and d_model <= 24, so every product and partial sum
 * is exact in f32 (and every weight exact in bf16): f32 and bf16 backends must match
 * scalar bit for bit whatever their summation order. int8 backends must match scalar's
 * int8 within a few ulps (docs/DESIGN.md: the integer part is exact). Each output carries
 * guard elements in its stride gap and after its last row; a write there is a bug. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PLUGINS 16
#define GUARD 0x7fc0dead /* a NaN no backend computes */

static struct qkv_plugin *plugins[MAX_PLUGINS];
static size_t n_plugins;
static struct qkv_plugin *scalar;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char **dirs = qkv_search_path(NULL);
	char **files = qkv_plugin_list(dirs);
	char err[256];
	for (size_t i = 0; files && files[i] && n_plugins < MAX_PLUGINS; i++) {
		struct qkv_plugin *p;
		if (qkv_plugin_load_file(files[i], &p, err, sizeof(err)) != QKV_OK)
			continue;
		if (p->probe.score <= 0) {
			qkv_plugin_unref(p);
			continue;
		}
		if (!strcmp(p->be->name, "scalar"))
			scalar = p;
		else
			plugins[n_plugins++] = p;
	}
	qkv_search_path_free(files);
	qkv_search_path_free(dirs);
	if (!scalar)
		__builtin_trap(); /* set QKV_PLUGIN_PATH to the build's backends */
	return 0;
}

/* Bytes in, one at a time; zeros once they run out. */
struct src {
	const uint8_t *p;
	size_t n;
};

static uint8_t next(struct src *s)
{
	if (!s->n)
		return 0;
	s->n--;
	return *s->p++;
}

static float value(struct src *s)
{
	return (float)(int8_t)next(s) / 16.0f;
}

static float guard_value(void)
{
	uint32_t u = GUARD;
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

static int is_guard(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u == GUARD;
}

struct outs {
	float *buf[3];
	size_t ld[3], len[3], width[3];
};

static int outs_alloc(struct outs *o, size_t T, const uint32_t width[3], const size_t pad[3])
{
	for (int p = 0; p < 3; p++) {
		o->width[p] = width[p];
		o->ld[p] = width[p] + pad[p];
		o->len[p] = (T ? T : 1) * o->ld[p] + 4; /* 4 guards after the last row */
		o->buf[p] = malloc(o->len[p] * sizeof(float));
		if (!o->buf[p])
			return 0;
		for (size_t i = 0; i < o->len[p]; i++)
			o->buf[p][i] = guard_value();
	}
	return 1;
}

static void outs_free(struct outs *o)
{
	for (int p = 0; p < 3; p++)
		free(o->buf[p]);
}

/* Run one backend; returns 0 when it declined (prepare failed cleanly). */
static int run(struct qkv_plugin *pl, const struct qkv_problem *pb, const struct qkv_weights *w,
               const struct qkv_batch *b0, struct outs *o)
{
	char err[256];
	void *h = NULL;
	if (pl->be->prepare(pb, w, &h, err, sizeof(err)) != QKV_OK) {
		pl->be->release(h);
		return 0;
	}
	struct qkv_batch b = *b0;
	for (int p = 0; p < 3; p++) {
		b.out[p] = o->buf[p];
		b.ld_out[p] = o->ld[p];
	}
	enum qkv_status st = pl->be->project(h, &b, err, sizeof(err));
	pl->be->release(h);
	if (st != QKV_OK)
		__builtin_trap(); /* a valid call on prepared weights must succeed */
	return 1;
}

static void compare(const struct outs *ref, const struct outs *got, size_t T, uint32_t precision,
                    const float *const bias[3])
{
	for (int p = 0; p < 3; p++)
		for (size_t i = 0; i < got->len[p]; i++) {
			size_t t = i / got->ld[p], n = i % got->ld[p];
			int addressed = t < T && n < got->width[p];
			float g = got->buf[p][i];
			if (!addressed) {
				if (!is_guard(g))
					__builtin_trap(); /* wrote outside its rows */
				continue;
			}
			float r = ref->buf[p][t * ref->ld[p] + n];
			if (precision != QKV_INT8) {
				if (memcmp(&r, &g, sizeof(r)) != 0)
					__builtin_trap(); /* exact arithmetic differs */
				continue;
			}
			float bn = bias[p] ? fabsf(bias[p][n]) : 0.0f;
			float tol = 8.0f * FLT_EPSILON * (fabsf(r) + bn) + FLT_MIN;
			if (!(fabsf(r - g) <= tol))
				__builtin_trap(); /* int8 disagrees with the scalar int8 reference
				                   */
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct src s = {data, size};
	uint8_t b0 = next(&s), b1 = next(&s), b2 = next(&s), b3 = next(&s), b4 = next(&s),
	        b5 = next(&s);
	struct qkv_problem pb = {.struct_size = sizeof(pb)};
	pb.d_model = 1 + b0 % 24u;
	pb.n_kv_heads = 1 + b1 % 3u;
	pb.n_heads = pb.n_kv_heads * (1 + (b1 >> 2) % 3u);
	pb.head_dim = 1 + b2 % 8u;
	pb.d_q = pb.n_heads * pb.head_dim;
	pb.d_kv = pb.n_kv_heads * pb.head_dim;
	pb.precision = (b4 >> 2) % QKV_PRECISION_COUNT;
	pb.threads = 1 + (b4 >> 4) % 2u;
	size_t T = b3 % 10u;
	uint32_t width[3] = {pb.d_q, pb.d_kv, pb.d_kv};
	size_t pad[3] = {b5 % 3u, (b5 >> 2) % 3u, (b5 >> 4) % 3u};
	size_t ldx = pb.d_model + (b5 >> 6);

	struct qkv_weights w = {.struct_size = sizeof(w), .layout = b4 & 1u};
	float *wbuf[3] = {0}, *bbuf[3] = {0};
	float *x = malloc(((T ? T : 1) * ldx) * sizeof(float));
	struct outs ref = {0}, got = {0};
	int ok = x != NULL;
	for (int p = 0; ok && p < 3; p++) {
		size_t count = (size_t)pb.d_model * width[p];
		wbuf[p] = malloc(count * sizeof(float));
		bbuf[p] = malloc(width[p] * sizeof(float));
		ok = wbuf[p] && bbuf[p];
		for (size_t i = 0; ok && i < count; i++)
			wbuf[p][i] = value(&s);
		for (size_t i = 0; ok && i < width[p]; i++)
			bbuf[p][i] = value(&s);
		w.w[p] = wbuf[p];
		w.bias[p] = (b4 & 2u) ? bbuf[p] : NULL;
	}
	for (size_t i = 0; ok && i < (T ? T : 1) * ldx; i++)
		x[i] = value(&s);
	struct qkv_batch batch = {
	    .struct_size = sizeof(batch), .threads = pb.threads, .T = T, .x = x, .ldx = ldx};
	if (ok && outs_alloc(&ref, T, width, pad) &&
	    (scalar->be->precisions & QKV_PRECISION_BIT(pb.precision)) &&
	    run(scalar, &pb, &w, &batch, &ref)) {
		for (size_t i = 0; i < n_plugins; i++) {
			if (!(plugins[i]->be->precisions & QKV_PRECISION_BIT(pb.precision)))
				continue;
			memset(&got, 0, sizeof(got));
			if (outs_alloc(&got, T, width, pad) &&
			    run(plugins[i], &pb, &w, &batch, &got))
				compare(&ref, &got, T, pb.precision, w.bias);
			outs_free(&got);
		}
	}
	outs_free(&ref);
	for (int p = 0; p < 3; p++) {
		free(wbuf[p]);
		free(bbuf[p]);
	}
	free(x);
	return 0;
}
