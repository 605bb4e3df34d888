/* Memory protection: X, weights and outputs against PROT_NONE pages, X and weights
 * read-only, X refilled in place, and weights at the alignment a mapped file gives; the
 * last two at every size class too. */
#include <stdio.h>
#include <string.h>

#include "conform_classes.h"
#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

void cf_case_x_bounds(const struct qkv_backend *be, int precision, uint64_t seed,
                      struct cf_report *r)
{
	/* odd K: a vector loop that over-reads the last row's tail touches the page */
	static const struct cf_shape sh[] = {{7, 33, 2, 2, 9}, {1, 1, 1, 1, 3}, {64, 100, 4, 2, 8}};
	struct cf_opts o = cf_opts_make(precision, 0, true);
	struct cf_rng g = {seed};
	for (int placement = 1; placement <= 2; placement++) {
		o.x_paged = placement;
		if (!cf_check_shapes(be, sh, CF_COUNT(sh), o, cf_rng_next(&g), r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "no read outside X (PROT_NONE pages on both sides)");
}

static const struct cf_shape mem_shapes[] = {
    {7, 33, 2, 2, 9}, {1, 1, 1, 1, 3}, {70, 100, 4, 2, 8}, {3, 257, 3, 3, 5}};

/* X in read-only pages during every call: a backend writing into X (even to restore
 * it afterwards) faults. */
void cf_case_x_readonly(const struct qkv_backend *be, int precision, uint64_t seed,
                        struct cf_report *r)
{
	struct cf_rng g = {seed};
	for (size_t i = 0; i < CF_COUNT(mem_shapes); i++) {
		struct cf_opts o = cf_opts_make(precision, (uint32_t)(i % 2), true);
		o.x_paged = 1 + (int)(i % 2);
		o.x_readonly = true;
		o.x_pad = i % 2;
		o.threads = 1 + (uint32_t)(i % 2);
		if (!cf_check_problem(be, &mem_shapes[i], &o, cf_rng_next(&g), r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg), "X read-only during project: not written");
}

/* One problem for x_refill: `calls` calls with batch budget `threads`, X refilled in
 * place before every call but the first. */
static bool refill_problem(const struct qkv_backend *be, const struct cf_shape *sh,
                           const struct cf_opts *o, uint32_t threads, int calls, struct cf_rng *g,
                           struct cf_report *r)
{
	struct cf_setup s;
	if (!cf_setup_init(&s, be, sh, o, cf_rng_next(g), r))
		return false;
	bool ok = true;
	for (int call = 0; ok && call < calls; call++) {
		struct cf_out out;
		if (call > 0)
			ok = cf_setup_refill_x(&s, cf_rng_next(g), r);
		if (ok && (ok = cf_out_alloc(&out, &s, s.sh.T, r))) {
			ok = cf_call(&s, 0, s.sh.T, &out, threads, r) &&
			     cf_check_guards(&s, &out, r) && cf_check_values(&s, 0, &out, r);
			cf_out_free(&out);
		}
		if (!ok && call > 0) {
			size_t n = strlen(r->msg);
			snprintf(r->msg + n, sizeof(r->msg) - n,
			         " (call %d with batch threads %u, after X was refilled in place: "
			         "stale data cached by X's address?)",
			         call + 1, threads);
		}
	}
	cf_setup_free(&s);
	return ok;
}

/* The same X pointer with new contents between calls: a backend caching anything
 * keyed by the X pointer (quantized rows, results) gives stale outputs. Three calls on
 * a few shapes, then two on every point of the size classes (conform_classes.h), X
 * read-only against a guard page, both layouts, budgets 1-16 on a model of 4. */
void cf_case_x_refill(const struct qkv_backend *be, int precision, uint64_t seed,
                      struct cf_report *r)
{
	struct cf_rng g = {seed};
	for (size_t i = 0; i < CF_COUNT(mem_shapes); i++) {
		struct cf_opts o = cf_opts_make(precision, (uint32_t)(i % 2), true);
		o.x_paged = 1;
		o.x_readonly = true;
		o.threads = 1 + (uint32_t)(i % 2);
		if (!refill_problem(be, &mem_shapes[i], &o, o.threads, 3, &g, r))
			return;
	}
	for (size_t n = 0; n < CF_CLASS_POINTS; n++) {
		struct cf_class_point c = cf_class_point(n);
		struct cf_shape sh = {c.T, c.K, 2, 1 + (uint32_t)(n % 2), 8};
		struct cf_opts o = cf_opts_make(precision, (uint32_t)(n / 2 % 2), true);
		o.x_paged = 1 + (int)(n % 2);
		o.x_readonly = true;
		o.x_pad = n % 3;
		o.threads = CF_MODEL_THREADS;
		if (!refill_problem(be, &sh, &o, c.threads, 2, &g, r))
			return;
	}
	snprintf(r->msg, sizeof(r->msg),
	         "X refilled in place between calls, T = 1..2049 x K = 33..48, threads 1-16: "
	         "fresh results");
}

/* Weights, biases and int8 scales read-only, each array against a PROT_NONE page
 * (after it, then before it): a write into them or a read past them faults; they
 * are also compared with copies after prepare and after every call. */
void cf_case_w_readonly(const struct qkv_backend *be, int precision, uint64_t seed,
                        struct cf_report *r)
{
	struct cf_rng g = {seed};
	for (size_t i = 0; i < CF_COUNT(mem_shapes); i++) {
		for (int place = 1; place <= 2; place++) {
			struct cf_opts o =
			    cf_opts_make(precision, (uint32_t)((i + (size_t)place) % 2), true);
			o.w_paged = place;
			o.prequantized = precision == QKV_INT8 && place == 2;
			o.threads = 2;
			if (!cf_check_problem(be, &mem_shapes[i], &o, cf_rng_next(&g), r))
				return;
		}
	}
	snprintf(r->msg, sizeof(r->msg), "weights read-only between guard pages: unchanged");
}

/* Each output's rows against a PROT_NONE page (the last row ends at it, then the first
 * starts at it): a read-modify-write or vector load past the rows faults, even one
 * that writes back what it read. */
void cf_case_out_pages(const struct qkv_backend *be, int precision, uint64_t seed,
                       struct cf_report *r)
{
	struct cf_rng g = {seed};
	for (size_t i = 0; i < CF_COUNT(mem_shapes); i++) {
		for (int place = 1; place <= 2; place++) {
			struct cf_opts o = cf_opts_make(precision, (uint32_t)(i % 2), true);
			o.y_paged = place;
			o.y_pad = i % 2 ? 3 : 0;
			o.threads = 1 + (uint32_t)(i % 2);
			if (!cf_check_problem(be, &mem_shapes[i], &o, cf_rng_next(&g), r))
				return;
		}
	}
	snprintf(r->msg, sizeof(r->msg), "no access outside the output rows (guard pages)");
}

/* One misaligned_weights problem in precision p, layout l. */
static bool misaligned_problem(const struct qkv_backend *be, int p, uint32_t l,
                               const struct cf_shape *sh, size_t i, uint32_t model_threads,
                               uint32_t threads, struct cf_rng *g, struct cf_report *r)
{
	struct cf_opts o = cf_opts_make(p, l, true);
	o.w_misalign = true;
	o.no_bias = i % 4 == 3 ? 4 : 0;
	o.prequantized = p == QKV_INT8 && (i + l) % 2 == 1;
	o.threads = model_threads;
	return cf_check_problem_threads(be, sh, &o, threads, cf_rng_next(g), r);
}

/* Weights used in place from a mapped safetensors or GGUF file are only as aligned as
 * their offset in the file: w, bias and w_scale start at 4 mod 64 here, w_i8 at an
 * odd address. A kernel that loads them with aligned vector loads faults (x86) or
 * reads the wrong elements. Both layouts, biases, and pre-quantized int8; widths and
 * K that are multiples of 8 and 16 too, where a vector path is most likely; then every
 * point of the size classes (conform_classes.h: a blocked path for large T may be the
 * only one with aligned loads), widths 16 and 8 or 16, layouts alternating. */
void cf_case_misaligned_weights(const struct qkv_backend *be, int precision, uint64_t seed,
                                struct cf_report *r)
{
	(void)precision;
	static const struct cf_shape sh[] = {
	    {7, 64, 2, 2, 16}, {70, 96, 4, 2, 32}, {5, 33, 3, 3, 8}, {3, 17, 2, 1, 5}};
	struct cf_rng g = {seed};
	int runs = 0;
	for (int p = 0; p < QKV_PRECISION_COUNT; p++) {
		if (!cf_declares(be, p))
			continue;
		for (size_t i = 0; i < CF_COUNT(sh); i++)
			for (uint32_t l = 0; l < 2; l++, runs++) {
				uint32_t t = 1 + (uint32_t)(i % 2);
				if (!misaligned_problem(be, p, l, &sh[i], i, t, t, &g, r))
					return;
			}
		for (size_t n = 0; n < CF_CLASS_POINTS; n++, runs++) {
			struct cf_class_point c = cf_class_point(n);
			struct cf_shape s = {c.T, c.K, 2, 1 + (uint32_t)(n % 2), 8};
			if (!misaligned_problem(be, p, (uint32_t)(n / 2 % 2), &s, n,
			                        CF_MODEL_THREADS, c.threads, &g, r)) {
				size_t len = strlen(r->msg);
				snprintf(r->msg + len, sizeof(r->msg) - len,
				         " (batch threads %u, model's %u)", c.threads,
				         CF_MODEL_THREADS);
				return;
			}
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "%d problems, T = 1..2049 x K = 33..96, threads 1-16: weights, biases, scales "
	         "at 4 mod 64, w_i8 odd, both layouts: within bound",
	         runs);
}
