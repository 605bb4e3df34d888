/* attention: a small causal self-attention block with grouped-query attention, using qkv
 * for the Q/K/V projections the way a transformer runtime would.
 *
 * The runtime keeps its own weights in memory and hands qkv the pointers
 * (qkv_model_open_memory). K and V go straight into a KV cache laid out
 * [max_seq x ldc] with ldc > d_kv (padded rows), two ways:
 *   prefill: one qkv_project call for all tokens, K/V rows 0..seq-1 of the cache;
 *   decode:  one call per token (T = 1), K/V written at row p.
 * Both outputs are checked against a float64 reference of the whole block with a
 * per-element bound (attn_ref.c), and against each other. Prints the time spent in
 * the projections versus the rest of the block.
 *
 *   attention [--backend NAME] [--precision f32|bf16|int8] [--layout in_out|out_in]
 *             [--seq N] [--reps N] [--threads N] [--skip-unsupported]
 * Exit: 0 pass, 1 a check failed, 2 bad usage or qkv error (a backend refusing the
 * precision included), 77 a refused precision when --skip-unsupported is given. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qkv/qkv.h>

#include "attn.h"

#define MAX_SEQ 512
#define PAD 5 /* extra floats per cache row: ldc = d_kv + PAD, odd on purpose */

struct opts {
	const char *backend;
	uint32_t precision, layout;
	size_t seq, reps;
	int threads;
	bool skip_unsupported; /* exit 77 instead of 2 when the backend refuses the precision */
};

static int usage(const char *why)
{
	fprintf(stderr,
	        "attention: %s\nusage: attention [--backend NAME] [--precision f32|bf16|int8] "
	        "[--layout in_out|out_in] [--seq 1..%d] [--reps N] [--threads N] "
	        "[--skip-unsupported]\n",
	        why, MAX_SEQ);
	return 2;
}

static int parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || v < lo || v > hi)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){NULL, QKV_F32, QKV_LAYOUT_OUT_IN, 32, 1, 0, false};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		size_t n;
		if (!strcmp(a, "--skip-unsupported")) {
			o->skip_unsupported = true;
			continue;
		}
		if (!v)
			return usage("every option takes a value");
		i++;
		if (!strcmp(a, "--backend"))
			o->backend = v;
		else if (!strcmp(a, "--precision") && !strcmp(v, "f32"))
			o->precision = QKV_F32;
		else if (!strcmp(a, "--precision") && !strcmp(v, "bf16"))
			o->precision = QKV_BF16;
		else if (!strcmp(a, "--precision") && !strcmp(v, "int8"))
			o->precision = QKV_INT8;
		else if (!strcmp(a, "--layout") && !strcmp(v, "in_out"))
			o->layout = QKV_LAYOUT_IN_OUT;
		else if (!strcmp(a, "--layout") && !strcmp(v, "out_in"))
			o->layout = QKV_LAYOUT_OUT_IN;
		else if (!strcmp(a, "--seq") && !parse_size(v, 1, MAX_SEQ, &n))
			o->seq = n;
		else if (!strcmp(a, "--reps") && !parse_size(v, 1, 100000, &n))
			o->reps = n;
		else if (!strcmp(a, "--threads") && !parse_size(v, 0, QKV_MAX_THREADS, &n))
			o->threads = (int)n;
		else {
			fprintf(stderr, "attention: bad option or value: %s %s\n", a, v);
			return usage("see usage");
		}
	}
	return 0;
}

/* Uniform in [-a, a), deterministic (splitmix64). */
static float rnd(uint64_t *st, float a)
{
	uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return a * (2.0f * (float)(z >> 40) / (float)(1ull << 24) - 1.0f);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Largest |got - ref| / bound over n elements; *maxerr gets the largest |got - ref|. */
static double worst(const float *got, const double *ref, const double *bound, size_t n,
                    double *maxerr)
{
	double r = 0.0;
	*maxerr = 0.0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)got[i] - ref[i]);
		if (!(e <= bound[i])) /* NaN fails too */
			r = INFINITY;
		else if (bound[i] > 0.0)
			r = fmax(r, e / bound[i]);
		*maxerr = isnan(e) ? INFINITY : fmax(*maxerr, e);
	}
	return r;
}

/* Everything the block allocates; one free at the end. */
struct bufs {
	float *w[3], *b[3], *wo, *x; /* weights and input X [seq x d_model] */
	float *kc[2], *vc[2];        /* caches [MAX_SEQ x ldc]: prefill, decode */
	float *q, *o, *y[2];         /* Q [seq x d_q], O [seq x d_q], Y [seq x d_model] x2 */
	float *p;                    /* softmax scratch [seq] */
	double *ref, *bound;         /* [seq x d_model] */
	double *ref32;               /* f32-weights reference and its bound [2 x seq x d_model] */
};

static void bufs_free(struct bufs *b)
{
	for (int i = 0; i < 3; i++) {
		free(b->w[i]);
		free(b->b[i]);
	}
	for (int i = 0; i < 2; i++) {
		free(b->kc[i]);
		free(b->vc[i]);
		free(b->y[i]);
	}
	free(b->wo);
	free(b->x);
	free(b->q);
	free(b->o);
	free(b->p);
	free(b->ref);
	free(b->bound);
	free(b->ref32);
}

static int bufs_alloc(struct bufs *b, const struct attn_shape *s, size_t seq, size_t ldc)
{
	int ok = 1;
#define ALLOC(ptr, n) ok &= ((ptr) = malloc((n) * sizeof(*(ptr)))) != NULL
	for (int i = 0; i < 3; i++) {
		size_t d_out = i == 0 ? s->d_q : s->d_kv;
		ALLOC(b->w[i], s->d_model * d_out);
		ALLOC(b->b[i], d_out);
	}
	for (int i = 0; i < 2; i++) {
		ALLOC(b->kc[i], MAX_SEQ * ldc);
		ALLOC(b->vc[i], MAX_SEQ * ldc);
		ALLOC(b->y[i], seq * s->d_model);
	}
	ALLOC(b->wo, s->d_q * s->d_model);
	ALLOC(b->x, seq * s->d_model);
	ALLOC(b->q, seq * s->d_q);
	ALLOC(b->o, seq * s->d_q);
	ALLOC(b->p, seq);
	ALLOC(b->ref, seq * s->d_model);
	ALLOC(b->bound, seq * s->d_model);
	ALLOC(b->ref32, 2 * seq * s->d_model);
#undef ALLOC
	return ok ? 0 : -1;
}

/* Random weights in `layout` scaled so activations stay near 1; NaN-filled caches so a
 * row qkv failed to write shows up in the checks. */
static void fill(struct bufs *b, const struct attn_shape *s, size_t seq, size_t ldc)
{
	uint64_t st = 42;
	float ws = 1.0f / sqrtf((float)s->d_model);
	for (int i = 0; i < 3; i++) {
		size_t d_out = i == 0 ? s->d_q : s->d_kv;
		for (size_t j = 0; j < s->d_model * d_out; j++)
			b->w[i][j] = rnd(&st, 2.0f * ws);
		for (size_t j = 0; j < d_out; j++)
			b->b[i][j] = rnd(&st, 0.1f);
	}
	for (size_t j = 0; j < s->d_q * s->d_model; j++)
		b->wo[j] = rnd(&st, 1.0f / sqrtf((float)s->d_q));
	for (size_t j = 0; j < seq * s->d_model; j++)
		b->x[j] = rnd(&st, 1.0f);
	for (int i = 0; i < 2; i++)
		for (size_t j = 0; j < MAX_SEQ * ldc; j++)
			b->kc[i][j] = b->vc[i][j] = NAN;
}

/* The padding columns of every cache row and the rows past seq stay untouched. */
static int cache_intact(const float *c, size_t seq, size_t d_kv, size_t ldc)
{
	for (size_t r = 0; r < MAX_SEQ; r++)
		for (size_t j = r < seq ? d_kv : 0; j < ldc; j++)
			if (!isnan(c[r * ldc + j]))
				return 0;
	return 1;
}

static int open_model(const struct opts *o, const struct attn_shape *s, const struct bufs *b,
                      qkv_model **m)
{
	struct qkv_model_desc d = {
	    .struct_size = sizeof(d),
	    .d_model = (uint32_t)s->d_model,
	    .n_heads = (uint32_t)s->n_heads,
	    .n_kv_heads = (uint32_t)s->n_kv_heads,
	    .head_dim = (uint32_t)s->head_dim,
	    .precision = o->precision,
	    .layout = o->layout,
	    .w = {b->w[0], b->w[1], b->w[2]},
	    .bias = {b->b[0], b->b[1], b->b[2]},
	    .prefer = o->backend,
	    .threads = o->threads,
	    .strict = o->backend != NULL, /* a named backend or nothing: no silent fallback */
	};
	char err[512];
	enum qkv_status st = qkv_model_open_memory(&d, m, err, sizeof(err));
	if (st == QKV_ERR_UNSUPPORTED && o->skip_unsupported) {
		printf("SKIP: %s\n", err);
		return 77;
	}
	if (st != QKV_OK) {
		fprintf(stderr, "attention: open: %s: %s\n", qkv_status_str(st), err);
		return 2;
	}
	return 0;
}

/* One prefill and one decode of the whole sequence; sets the time spent in qkv in
 * tp[0] (prefill), tp[1] (decode) and the rest in tr[]. */
static int run_block(const qkv_model *m, const struct attn_shape *s, struct bufs *b, size_t seq,
                     size_t ldc, double tp[2], double tr[2])
{
	char err[512];
	double t0 = now();
	enum qkv_status st = qkv_project(m, seq, b->x, s->d_model, b->q, s->d_q, b->kc[0], ldc,
	                                 b->vc[0], ldc, err, sizeof(err));
	double t1 = now();
	if (st != QKV_OK) {
		fprintf(stderr, "attention: prefill: %s: %s\n", qkv_status_str(st), err);
		return 2;
	}
	attn_heads(s, 0, seq, b->q, s->d_q, b->kc[0], b->vc[0], ldc, b->o, s->d_q, b->p);
	attn_out(s, seq, b->o, s->d_q, b->wo, b->y[0]);
	double t2 = now();
	tp[0] = t1 - t0;
	tr[0] = t2 - t1;
	tp[1] = tr[1] = 0.0;

	for (size_t p = 0; p < seq; p++) { /* decode: token p sees cache rows 0..p */
		float *qrow = b->q + p * s->d_q, *orow = b->o + p * s->d_q;
		t0 = now();
		st =
		    qkv_project(m, 1, b->x + p * s->d_model, s->d_model, qrow, s->d_q,
		                b->kc[1] + p * ldc, ldc, b->vc[1] + p * ldc, ldc, err, sizeof(err));
		t1 = now();
		if (st != QKV_OK) {
			fprintf(stderr, "attention: decode %zu: %s: %s\n", p, qkv_status_str(st),
			        err);
			return 2;
		}
		attn_heads(s, p, 1, qrow, s->d_q, b->kc[1], b->vc[1], ldc, orow, s->d_q, b->p);
		attn_out(s, 1, orow, s->d_q, b->wo, b->y[1] + p * s->d_model);
		t2 = now();
		tp[1] += t1 - t0;
		tr[1] += t2 - t1;
	}
	return 0;
}

static int check(const struct attn_shape *s, const struct bufs *b, size_t seq, size_t ldc)
{
	size_t n = seq * s->d_model;
	double e[2], r[2], agree = 0.0, bsum = 0.0;
	r[0] = worst(b->y[0], b->ref, b->bound, n, &e[0]);
	r[1] = worst(b->y[1], b->ref, b->bound, n, &e[1]);
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)b->y[0][i] - b->y[1][i]);
		agree = isnan(d) ? INFINITY : fmax(agree, d / (2.0 * b->bound[i]));
		bsum += b->bound[i];
	}
	printf("check: prefill max|err| %.3g, decode max|err| %.3g, mean bound %.3g\n", e[0], e[1],
	       bsum / (double)n);
	printf(
	    "check: worst err/bound prefill %.3g, decode %.3g; |prefill-decode|/(2 bound) %.3g\n",
	    r[0], r[1], agree);
	int ok = r[0] <= 1.0 && r[1] <= 1.0 && agree <= 1.0;
	for (int i = 0; i < 4; i++) {
		const float *c = i < 2 ? b->kc[i] : b->vc[i - 2];
		if (!cache_intact(c, seq, s->d_kv, ldc)) {
			printf("check: FAIL: cache %d written outside rows 0..%zu x [0, d_kv)\n", i,
			       seq - 1);
			ok = 0;
		}
	}
	printf("%s\n", ok ? "PASS" : "FAIL: outside the documented bound (attn_ref.c)");
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_args(argc, argv, &o))
		return 2;
	const struct attn_shape s = {64, 8, 2, 8, 8 * 8, 2 * 8};
	size_t ldc = s.d_kv + PAD;
	struct bufs b = {0};
	qkv_model *m = NULL;
	int rc = 2;
	if (bufs_alloc(&b, &s, o.seq, ldc)) {
		fprintf(stderr, "attention: out of memory\n");
		goto out;
	}
	fill(&b, &s, o.seq, ldc);
	rc = open_model(&o, &s, &b, &m);
	if (rc)
		goto out;
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	if (qkv_model_get_info(m, &info) == QKV_OK)
		printf("backend: %s %s (%s)\n", info.backend, info.backend_version,
		       info.backend_detail);
	printf("block: d_model %zu, heads %zu, kv heads %zu, head_dim %zu, seq %zu, cache row "
	       "stride %zu floats (d_kv %zu)\n",
	       s.d_model, s.n_heads, s.n_kv_heads, s.head_dim, o.seq, ldc, s.d_kv);

	const struct attn_weights aw = {
	    o.layout, {b.w[0], b.w[1], b.w[2]}, {b.b[0], b.b[1], b.b[2]}, b.wo};
	if (attn_ref(&s, &aw, o.precision, o.seq, b.x, b.ref, b.bound)) {
		fprintf(stderr, "attention: out of memory\n");
		rc = 2;
		goto out;
	}
	if (o.precision != QKV_F32) { /* information: what the scheme itself changes */
		double *ref32 = b.ref32, *b32 = b.ref32 + o.seq * s.d_model, d = 0.0, ymax = 0.0;
		if (attn_ref(&s, &aw, QKV_F32, o.seq, b.x, ref32, b32) == 0) {
			for (size_t i = 0; i < o.seq * s.d_model; i++) {
				d = fmax(d, fabs(ref32[i] - b.ref[i]));
				ymax = fmax(ymax, fabs(ref32[i]));
			}
			printf("scheme: %s operands move the block output by up to %.3g from the "
			       "f32 weights (max |y| %.3g)\n",
			       o.precision == QKV_INT8 ? "int8" : "bf16", d, ymax);
		}
	}
	/* Per pass: [0] prefill, [1] decode; mean and fastest over the passes, because this
	 * machine may be shared and the fastest pass is the least disturbed one. */
	double sp[2] = {0}, sr[2] = {0}, mp[2] = {INFINITY, INFINITY}, mr[2] = {INFINITY, INFINITY};
	for (size_t r = 0; r < o.reps && rc == 0; r++) {
		double tp[2] = {0}, tr[2] = {0};
		rc = run_block(m, &s, &b, o.seq, ldc, tp, tr);
		if (rc == 0 && r == 0)
			rc = check(&s, &b, o.seq, ldc);
		for (int i = 0; i < 2; i++) {
			sp[i] += tp[i];
			sr[i] += tr[i];
			mp[i] = fmin(mp[i], tp[i]);
			mr[i] = fmin(mr[i], tr[i]);
		}
	}
	const char *name[2] = {"prefill", "decode"};
	for (int i = 0; i < 2 && rc == 0; i++)
		printf("time %-7s: projections %8.1f us (min %8.1f), rest %8.1f us (min %8.1f) per "
		       "pass, %zu passes\n",
		       name[i], 1e6 * sp[i] / (double)o.reps, 1e6 * mp[i],
		       1e6 * sr[i] / (double)o.reps, 1e6 * mr[i], o.reps);
out:
	qkv_model_close(m);
	bufs_free(&b);
	return rc;
}
