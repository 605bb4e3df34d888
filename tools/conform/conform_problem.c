/* One prepared problem: build it, call project, check guards and values. */
#include <fenv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/precision.h>

#include "conform_data.h"
#include "conform_rng.h"

static void describe(struct cf_setup *s)
{
	const struct cf_opts *o = &s->o;
	snprintf(s->desc, sizeof(s->desc), "%s T=%zu K=%u heads=%u/%u head_dim=%u %s%s%s%s%s%s%s",
	         o->precision < QKV_PRECISION_COUNT ? qkv_precision_name(o->precision) : "?",
	         s->sh.T, s->sh.d_model, s->sh.n_heads, s->sh.n_kv_heads, s->sh.head_dim,
	         o->layout == QKV_LAYOUT_IN_OUT ? "in_out" : "out_in", o->bias ? " bias" : "",
	         o->x_pad ? " ldx>K" : "", o->y_pad ? " ldy>width" : "",
	         o->unaligned ? " unaligned" : "", o->prequantized ? " prequantized" : "",
	         o->x_paged == 1 ? " X ends at a guard page"
	         : o->x_paged    ? " X starts at a guard page"
	                         : "");
	size_t n = strlen(s->desc);
	snprintf(s->desc + n, sizeof(s->desc) - n, "%s%s%s%s%s%s",
	         o->x_readonly ? " X read-only" : "",
	         o->w_misalign ? " weights at 4 mod 64 (w_i8 odd)" : "",
	         o->w_paged == 1   ? " weights read-only, ending at a guard page"
	         : o->w_paged == 2 ? " weights read-only, starting at a guard page"
	                           : "",
	         o->y_paged == 1   ? " outputs end at a guard page"
	         : o->y_paged == 2 ? " outputs start at a guard page"
	                           : "",
	         o->no_bias && o->bias ? " some biases NULL" : "",
	         o->struct_extra ? " structs larger than sizeof" : "");
}

void cf_setup_free(struct cf_setup *s)
{
	if (s->be && s->handle)
		s->be->release(s->handle);
	for (int p = 0; p < 3; p++) {
		cf_data_wfree(s, 0, p, s->w[p]);
		cf_data_wfree(s, 1, p, s->bias[p]);
		free(s->ref[p]);
		free(s->bound[p]);
		free(s->ref8[p]);
		free(s->bound8[p]);
		cf_data_wfree(s, 2, p, s->w_i8[p]);
		cf_data_wfree(s, 3, p, s->w_scale[p]);
		for (int kind = 0; kind < 4; kind++)
			free(s->wcopy[kind][p]);
	}
	free(s->pb_big);
	free(s->wt_big);
	cf_gbuf_free(&s->x);
	free(s->x_copy);
	memset(s, 0, sizeof(*s));
}

/* prepare s's problem and weights (pb, wt: the structs passed, maybe enlarged) into
 * s->handle; false and a message when it fails or touches what it must not. */
static bool setup_prepare(struct cf_setup *s, const struct qkv_problem *pb,
                          const struct qkv_weights *wt, struct cf_report *r)
{
	char err[256] = "";
	cf_progress("%s: prepare", s->desc);
	struct qkv_problem pb_before = *pb;
	struct qkv_weights wt_before = *wt;
	enum qkv_status st = s->be->prepare(pb, wt, &s->handle, err, sizeof(err));
	if (st == QKV_OK && (memcmp(&pb_before, pb, sizeof(pb_before)) != 0 ||
	                     memcmp(&wt_before, wt, sizeof(wt_before)) != 0))
		return cf_fail(
		    r, "%s: prepare wrote into the problem or weights struct (they are const)",
		    s->desc);
	if (st == QKV_ERR_UNSUPPORTED && pb->precision < QKV_PRECISION_COUNT &&
	    (s->be->precisions & QKV_PRECISION_BIT(pb->precision)) && r->result == CF_PASS) {
		/* a declared precision this machine cannot serve (oneDNN's int8 without VNNI):
		 * the case is skipped, with the backend's reason, never passed */
		r->result = CF_SKIP;
		snprintf(r->msg, sizeof(r->msg), "%s declared, refused on this machine: %s",
		         qkv_precision_name(pb->precision), err);
		return false;
	}
	if (st != QKV_OK)
		return cf_fail(r, "%s: prepare failed (status %d): %s", s->desc, (int)st, err);
	return cf_check_weights(s, "after prepare", r);
}

bool cf_setup_init(struct cf_setup *s, const struct qkv_backend *be, const struct cf_shape *sh,
                   const struct cf_opts *o, uint64_t seed, struct cf_report *r)
{
	memset(s, 0, sizeof(*s));
	s->sh = *sh;
	s->o = *o;
	s->width[QKV_Q] = sh->n_heads * sh->head_dim;
	s->width[QKV_K] = s->width[QKV_V] = sh->n_kv_heads * sh->head_dim;
	describe(s);
	if (!cf_data_make(s, seed) || !cf_ref_make(s) ||
	    (o->prequantized && !cf_data_prequantize(s)) || !cf_data_protect(s)) {
		cf_fail(r, "%s: harness out of memory", s->desc);
		cf_setup_free(s);
		return false;
	}
	s->pb = (struct qkv_problem){
	    .struct_size = sizeof(struct qkv_problem),
	    .precision = o->precision,
	    .d_model = sh->d_model,
	    .n_heads = sh->n_heads,
	    .n_kv_heads = sh->n_kv_heads,
	    .head_dim = sh->head_dim,
	    .d_q = s->width[QKV_Q],
	    .d_kv = s->width[QKV_K],
	    .threads = o->threads ? o->threads : 1,
	};
	s->wt.struct_size = sizeof(struct qkv_weights);
	s->wt.layout = o->layout;
	for (int p = 0; p < 3; p++) {
		s->wt.w[p] = o->prequantized ? NULL : s->w[p];
		s->wt.bias[p] = s->bias[p];
		s->wt.w_i8[p] = s->w_i8[p];
		s->wt.w_scale[p] = s->w_scale[p];
	}
	const struct qkv_problem *pb = &s->pb;
	const struct qkv_weights *wt = &s->wt;
	if (o->struct_extra) { /* a newer core: bigger structs, zeroed tails */
		s->pb_big = calloc(1, sizeof(s->pb) + o->struct_extra);
		s->wt_big = calloc(1, sizeof(s->wt) + o->struct_extra);
		if (!s->pb_big || !s->wt_big) {
			cf_fail(r, "%s: harness out of memory", s->desc);
			cf_setup_free(s);
			return false;
		}
		s->pb.struct_size = (uint32_t)(sizeof(s->pb) + o->struct_extra);
		s->wt.struct_size = (uint32_t)(sizeof(s->wt) + o->struct_extra);
		memcpy(s->pb_big, &s->pb, sizeof(s->pb));
		memcpy(s->wt_big, &s->wt, sizeof(s->wt));
		pb = s->pb_big;
		wt = s->wt_big;
	}
	s->be = be;
	if (!setup_prepare(s, pb, wt, r)) {
		cf_setup_free(s);
		return false;
	}
	return true;
}

bool cf_setup_reprepare(struct cf_setup *s, struct cf_report *r)
{
	s->be->release(s->handle);
	s->handle = NULL;
	return setup_prepare(s, s->pb_big ? s->pb_big : &s->pb, s->wt_big ? s->wt_big : &s->wt, r);
}

void cf_weight_arrays(const struct cf_setup *s, void *arr[4][3])
{
	for (int p = 0; p < 3; p++) {
		arr[0][p] = s->w[p];
		arr[1][p] = s->bias[p];
		arr[2][p] = s->w_i8[p];
		arr[3][p] = s->w_scale[p];
	}
}

bool cf_check_weights(const struct cf_setup *s, const char *when, struct cf_report *r)
{
	static const char *const kind_name[4] = {"weights w", "bias", "w_i8", "w_scale"};
	void *arr[4][3];
	cf_weight_arrays(s, arr);
	for (int kind = 0; kind < 4; kind++)
		for (int p = 0; p < 3; p++)
			if (arr[kind][p] && s->wcopy[kind][p] &&
			    memcmp(arr[kind][p], s->wcopy[kind][p], s->wbytes[kind][p]) != 0)
				return cf_fail(r,
				               "%s: %s[%s] changed %s (the core's weights are "
				               "read-only to a backend)",
				               s->desc, kind_name[kind], qkv_proj_name((unsigned)p),
				               when);
	return true;
}

bool cf_setup_refill_x(struct cf_setup *s, uint64_t seed, struct cf_report *r)
{
	for (int p = 0; p < 3; p++) {
		free(s->ref[p]);
		free(s->bound[p]);
		free(s->ref8[p]);
		free(s->bound8[p]);
		s->ref[p] = s->bound[p] = s->ref8[p] = s->bound8[p] = NULL;
	}
	if (!cf_data_refill_x(s, seed) || !cf_ref_make(s))
		return cf_fail(r, "%s: harness: refilling X failed", s->desc);
	return true;
}

bool cf_out_alloc(struct cf_out *out, const struct cf_setup *s, size_t rows, struct cf_report *r)
{
	memset(out, 0, sizeof(*out));
	for (int p = 0; p < 3; p++) {
		size_t w = s->width[p];
		bool got = s->o.y_paged
		               ? cf_gbuf_alloc_paged(&out->y[p], rows, w, w + s->o.y_pad,
		                                     s->o.y_paged == 1)
		               : cf_gbuf_alloc(&out->y[p], rows, w, w + s->o.y_pad, s->o.unaligned);
		if (!got) {
			cf_out_free(out);
			return cf_fail(r, "harness out of memory");
		}
	}
	return true;
}

void cf_out_free(struct cf_out *out)
{
	for (int p = 0; p < 3; p++)
		cf_gbuf_free(&out->y[p]);
}

bool cf_call(const struct cf_setup *s, size_t t0, size_t rows, struct cf_out *out, uint32_t threads,
             struct cf_report *r)
{
	struct qkv_batch b = {
	    .struct_size = sizeof(struct qkv_batch),
	    .threads = threads ? threads : 1,
	    .T = rows,
	    .x = s->x.p + t0 * s->x.ld,
	    .ldx = s->x.ld,
	};
	for (int p = 0; p < 3; p++) {
		b.out[p] = out->y[p].p;
		b.ld_out[p] = out->y[p].ld;
	}
	char err[256] = "";
	const struct qkv_batch *bp = &b;
	unsigned char big[sizeof(b) + 256];
	if (s->o.struct_extra) {
		size_t extra = s->o.struct_extra < 256 ? s->o.struct_extra : 256;
		memset(big, 0, sizeof(big));
		b.struct_size = (uint32_t)(sizeof(b) + extra);
		memcpy(big, &b, sizeof(b));
		bp = (const struct qkv_batch *)(const void *)big;
	}
	cf_progress("%s: project rows %zu..%zu, threads %u", s->desc, t0, t0 + rows, b.threads);
	unsigned env0 = cf_fp_env();
	struct qkv_batch before = *bp;
	enum qkv_status st = s->be->project(s->handle, bp, err, sizeof(err));
	unsigned env1 = cf_fp_env();
	if (st != QKV_OK)
		return cf_fail(r, "%s: project failed (status %d): %s", s->desc, (int)st, err);
	if (memcmp(&before, bp, sizeof(before)) != 0)
		return cf_fail(r, "%s: project wrote into the batch struct (it is const)", s->desc);
	if (env1 != env0)
		return cf_fail(r,
		               "%s: project changed the caller's floating-point environment "
		               "(rounding / FTZ / DAZ: 0x%x, was 0x%x) and did not restore it",
		               s->desc, env1, env0);
	return true;
}

unsigned cf_fp_env(void)
{
	unsigned v = (unsigned)fegetround();
#if defined(__x86_64__) || defined(__i386__)
	v |= (unsigned)__builtin_ia32_stmxcsr() & 0xffc0u; /* masks, rounding, FTZ, DAZ */
#elif defined(__aarch64__)
	uint64_t fpcr;
	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	v |= (unsigned)fpcr & 0x07c89f00u; /* AHP, DN, FZ, rounding, FZ16, trap enables */
#endif
	return v;
}

bool cf_check_guards(const struct cf_setup *s, const struct cf_out *out, struct cf_report *r)
{
	for (int p = 0; p < 3; p++)
		if (!cf_gbuf_check(&out->y[p], qkv_proj_name((unsigned)p), r, s->desc))
			return false;
	if (memcmp(s->x_copy, s->x.base, s->x.total * sizeof(float)) != 0)
		return cf_fail(r, "%s: project wrote into X (or around it)", s->desc);
	return cf_check_weights(s, "by project", r);
}

static bool same_bits(float a, float b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* One element against one reference; false with a message when outside the bound. */
static bool check_one(const struct cf_setup *s, int p, size_t t, size_t n, float got, double want,
                      double bound, const char *which, struct cf_report *r)
{
	const char *nm = qkv_proj_name((unsigned)p);
	if (cf_is_sentinel(got))
		return cf_fail(r, "%s: row %zu, column %zu of %s was not written (want %.9g)",
		               s->desc, t, n, nm, want);
	if (isnan(want)) {
		if (!isnan(got))
			return cf_fail(r, "%s: row %zu, column %zu of %s: got %.9g want NaN%s",
			               s->desc, t, n, nm, got, which);
		return true;
	}
	if (isinf(want) || s->o.exact) {
		if (!same_bits(got, (float)want) && !((double)got == want && want == 0))
			return cf_fail(r,
			               "%s: row %zu, column %zu of %s differs: got %.9g want %.9g "
			               "(must be exact%s)",
			               s->desc, t, n, nm, got, want, which);
		cf_note_error(r, 0, bound);
		return true;
	}
	double err = fabs((double)got - want);
	if (!(err <= bound)) {
		bool first = r->result != CF_FAIL;
		cf_fail(r,
		        "%s: row %zu, column %zu of %s differs: got %.9g want %.9g "
		        "(error %.3g, bound %.3g%s)",
		        s->desc, t, n, nm, got, want, err, bound, which);
		if (first)
			cf_note_error(r, err, bound); /* the failing element's error and bound */
		return false;
	}
	cf_note_error(r, err, bound);
	return true;
}

bool cf_check_values(const struct cf_setup *s, size_t t0, const struct cf_out *out,
                     struct cf_report *r)
{
	for (int p = 0; p < 3; p++) {
		size_t N = s->width[p];
		const struct cf_gbuf *y = &out->y[p];
		for (size_t t = 0; t < y->rows; t++) {
			for (size_t n = 0; n < N; n++) {
				float got = y->p[t * y->ld + n];
				size_t i = (t0 + t) * N + n;
				/* int8: the exact scheme first, it names the defect best */
				if (s->ref8[p] &&
				    !check_one(s, p, t0 + t, n, got, s->ref8[p][i], s->bound8[p][i],
				               ", vs the exact int8 reference", r))
					return false;
				if (s->ref8[p] && isnan(s->ref8[p][i]))
					continue; /* NaN or Inf in the row: NaN, whatever f32 gives
					           */
				if (!check_one(s, p, t0 + t, n, got, s->ref[p][i], s->bound[p][i],
				               s->ref8[p] ? ", vs the f32 float64 reference" : "",
				               r))
					return false;
			}
		}
	}
	return true;
}

bool cf_check_same(const struct cf_setup *s, const struct cf_out *a, const struct cf_out *b,
                   const char *what, struct cf_report *r)
{
	for (int p = 0; p < 3; p++) {
		const struct cf_gbuf *ya = &a->y[p], *yb = &b->y[p];
		for (size_t t = 0; t < ya->rows; t++)
			for (size_t n = 0; n < ya->width; n++) {
				float fa = ya->p[t * ya->ld + n], fb = yb->p[t * yb->ld + n];
				if (!same_bits(fa, fb))
					return cf_fail(
					    r,
					    "%s: %s: row %zu, column %zu of %s is %.9g, "
					    "the first call gave %.9g (not bit-identical)",
					    s->desc, what, t, n, qkv_proj_name((unsigned)p), fb,
					    fa);
			}
	}
	return true;
}

bool cf_check_problem(const struct qkv_backend *be, const struct cf_shape *sh,
                      const struct cf_opts *o, uint64_t seed, struct cf_report *r)
{
	return cf_check_problem_threads(be, sh, o, o->threads, seed, r);
}

/* Run every shape in both layouts with `o` as a template; each problem gets its own
 * seed from the case seed. */
bool cf_check_shapes(const struct qkv_backend *be, const struct cf_shape *sh, size_t n,
                     struct cf_opts o, uint64_t seed, struct cf_report *r)
{
	struct cf_rng g = {seed};
	for (size_t i = 0; i < n; i++) {
		for (uint32_t l = 0; l < 2; l++) {
			o.layout = (uint32_t)((i + l) % 2);
			if (!cf_check_problem(be, &sh[i], &o, cf_rng_next(&g), r))
				return false;
		}
	}
	return true;
}

bool cf_check_problem_threads(const struct qkv_backend *be, const struct cf_shape *sh,
                              const struct cf_opts *o, uint32_t threads, uint64_t seed,
                              struct cf_report *r)
{
	struct cf_setup s;
	if (!cf_setup_init(&s, be, sh, o, seed, r))
		return false;
	struct cf_out out;
	bool ok = cf_out_alloc(&out, &s, sh->T, r);
	if (ok) {
		ok = cf_call(&s, 0, sh->T, &out, threads, r) && cf_check_guards(&s, &out, r) &&
		     cf_check_values(&s, 0, &out, r);
		cf_out_free(&out);
	}
	cf_setup_free(&s);
	return ok;
}

bool cf_check_stat(const struct cf_setup *s, const struct cf_out *out, double *ms_out,
                   struct cf_report *r)
{
	size_t K = s->sh.d_model;
	double sum = 0, worst = 0;
	size_t count = 0, wp = 0, wt = 0, wn = 0;
	for (int p = 0; p < 3; p++) {
		size_t N = s->width[p];
		const struct cf_gbuf *y = &out->y[p];
		for (size_t t = 0; t < y->rows; t++)
			for (size_t n = 0; n < N; n++) {
				size_t i = t * N + n;
				/* bound = C*(K+1)*u*m + tiny (conform_ref.c): recover m */
				double m =
				    (s->bound[p][i] - CF_TINY) / (CF_C * (double)(K + 1) * CF_U);
				double scale = CF_U * sqrt(2.0 * (double)K + 2.0) * m;
				if (!(scale > 0))
					continue;
				double z = ((double)y->p[t * y->ld + n] - s->ref[p][i]) / scale;
				sum += z * z;
				count++;
				if (fabs(z) > worst) {
					worst = fabs(z);
					wp = (size_t)p;
					wt = t;
					wn = n;
				}
			}
	}
	double ms = count ? sum / (double)count : 0;
	if (ms_out && ms > *ms_out)
		*ms_out = ms;
	if (!(ms <= 1.0))
		return cf_fail(r,
		               "%s: f32 accuracy: mean square of error/(u*sqrt(2K+2)*sum|x*w|) "
		               "over %zu outputs is %.3g, a correct f32 kernel stays below 1 "
		               "(in-tree: < 0.001): reduced precision (bf16/f16 operands or "
		               "accumulators)? worst at row %zu, column %zu of %s",
		               s->desc, count, ms, wt, wn, qkv_proj_name((unsigned)wp));
	return true;
}
