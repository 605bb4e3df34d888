/* What a handle says it holds (ABI 1.2 `memory`). A handle that keeps nothing of the
 * weights it was given (keeps_weights 0) must give the same bits after the caller's
 * weights, biases and scales are overwritten: on that word the core drops a weight file's
 * pages and frees its own copies, and programs free their buffers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

/* Overwrite every weight array the handle was given (NaN floats, 0x55 bytes), or put the
 * copies back (restore). */
static void overwrite_weights(struct cf_setup *s, bool restore)
{
	void *arr[4][3];
	cf_weight_arrays(s, arr);
	for (int kind = 0; kind < 4; kind++)
		for (int p = 0; p < 3; p++) {
			if (!arr[kind][p] || !s->wcopy[kind][p])
				continue;
			if (restore) {
				memcpy(arr[kind][p], s->wcopy[kind][p], s->wbytes[kind][p]);
			} else if (kind == 2) {
				memset(arr[kind][p], 0x55, s->wbytes[kind][p]);
			} else {
				float *f = arr[kind][p];
				for (size_t i = 0; i < s->wbytes[kind][p] / sizeof(float); i++)
					f[i] = NAN;
			}
		}
}

/* One prepared problem: the report's fields are sane, and keeps_weights 0 holds. */
static bool check_one(const struct qkv_backend *be, const struct cf_shape *sh,
                      const struct cf_opts *o, uint64_t seed, unsigned *let_go, struct cf_report *r)
{
	struct cf_setup s;
	if (!cf_setup_init(&s, be, sh, o, seed, r))
		return false;
	struct qkv_handle_memory m = {.struct_size = sizeof(m), .keeps_weights = 7};
	be->memory(s.handle, &m);
	bool ok = true;
	if (m.struct_size != sizeof(m))
		ok = cf_fail(r, "%s: memory changed struct_size (%u, the core sets it)", s.desc,
		             m.struct_size);
	else if (m.keeps_weights > 1)
		ok = cf_fail(r, "%s: memory left keeps_weights %u (it must say 0 or 1)", s.desc,
		             m.keeps_weights);
	struct cf_out a, b;
	bool have_a = ok && cf_out_alloc(&a, &s, sh->T, r);
	ok = have_a && cf_call(&s, 0, sh->T, &a, o->threads, r) && cf_check_values(&s, 0, &a, r);
	if (ok && m.keeps_weights == 0) {
		overwrite_weights(&s, false);
		bool have_b = cf_out_alloc(&b, &s, sh->T, r);
		ok = have_b && cf_call(&s, 0, sh->T, &b, o->threads, r) &&
		     cf_check_same(&s, &a, &b,
		                   "after the weights it was given were overwritten (memory said "
		                   "keeps_weights 0: the core frees them)",
		                   r);
		if (have_b)
			cf_out_free(&b);
		overwrite_weights(&s, true);
		*let_go += ok;
	}
	if (have_a)
		cf_out_free(&a);
	cf_setup_free(&s);
	return ok;
}

void cf_case_weights_let_go(const struct qkv_backend *be, int precision, uint64_t seed,
                            struct cf_report *r)
{
	(void)precision;
	if (!QKV_HAS_MEMBER(be, struct qkv_backend, memory) || !be->memory) {
		snprintf(
		    r->msg, sizeof(r->msg),
		    "no `memory` member (ABI 1.2): the core keeps the weights for this backend");
		return;
	}
	/* a small call and a blocked one (T past 128, where backends switch paths) */
	static const struct cf_shape sh[] = {{3, 40, 2, 2, 8}, {130, 96, 4, 2, 32}};
	struct cf_rng g = {seed};
	unsigned let_go = 0, tried = 0;
	for (int p = 0; p < QKV_PRECISION_COUNT; p++) {
		if (!cf_declares(be, p))
			continue;
		for (size_t i = 0; i < CF_COUNT(sh); i++)
			for (uint32_t l = 0; l < 2; l++) {
				struct cf_opts o = cf_opts_make(p, l, true);
				o.prequantized = p == QKV_INT8 && l == 1;
				o.no_bias = i ? 2 : 0;
				o.threads = 2;
				tried++;
				if (!check_one(be, &sh[i], &o, cf_rng_next(&g), &let_go, r))
					return;
			}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "memory sane; %u of %u handles keep nothing of the weights and gave the same "
	         "bits with them overwritten",
	         let_go, tried);
}
