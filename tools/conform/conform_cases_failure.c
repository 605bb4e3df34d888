/* Failure paths of prepare: release(NULL) and after a refused prepare; then failure at
 * every step: each projection's weights and (int8) scales missing in turn, biases missing
 * in turn (valid), and the n-th allocation of the plugin failing for every n, each
 * followed by the release of what prepare left, under the interposed allocator's guard
 * (conform_alloc.h), which catches a double free or a use after free without ASan. */
#include <stdio.h>
#include <string.h>

#include <qkv/precision.h>

#include "conform_alloc.h"
#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

void cf_case_release_after_failed(const struct qkv_backend *be, int precision, uint64_t seed,
                                  struct cf_report *r)
{
	(void)precision;
	(void)seed;
	be->release(NULL);
	char err[256] = "";
	if (cf_try_prepare(be, 0xffffffffu, err, sizeof(err)) == QKV_OK)
		return (void)cf_fail(r, "prepare accepted precision 0xffffffff");
	/* a valid prepare still works after the failed one */
	uint32_t p = 0;
	while (!(be->precisions & QKV_PRECISION_BIT(p)) && p + 1 < QKV_PRECISION_COUNT)
		p++;
	enum qkv_status st = cf_try_prepare(be, p, err, sizeof(err));
	if (st != QKV_OK)
		return (void)cf_fail(r,
		                     "prepare of a valid %s problem after a failed one: status "
		                     "%d: %s",
		                     qkv_precision_name(p), (int)st, err);
	snprintf(r->msg, sizeof(r->msg), "release(NULL), release after failed prepare: fine");
}

/* ---- failure at every step ------------------------------------------------------------- */

struct step {
	const struct cf_setup *s;
	struct qkv_weights wt; /* the weights this step passes */
	const char *what;      /* "w[k] NULL", "allocation 3 failing" */
	void *h;
	enum qkv_status st;
	char err[256];
};

static void step_prepare(void *arg)
{
	struct step *c = arg;
	c->h = NULL;
	c->err[0] = '\0';
	c->st = c->s->be->prepare(&c->s->pb, &c->wt, &c->h, c->err, sizeof(c->err));
}

static void step_release(void *arg)
{
	struct step *c = arg;
	c->s->be->release(c->h);
}

/* A prepare that succeeded under the guard computes what the reference says. */
static bool step_call(struct cf_setup *s, void *h, const char *what, struct cf_report *r)
{
	void *own = s->handle;
	s->handle = h;
	struct cf_out out;
	bool ok = cf_out_alloc(&out, s, s->sh.T, r);
	if (ok) {
		ok = cf_call(s, 0, s->sh.T, &out, 2, r) && cf_check_guards(s, &out, r) &&
		     cf_check_values(s, 0, &out, r);
		cf_out_free(&out);
	}
	s->handle = own;
	if (!ok) {
		size_t n = strlen(r->msg);
		snprintf(r->msg + n, sizeof(r->msg) - n,
		         " (after a prepare with %s that succeeded)", what);
	}
	return ok;
}

/* prepare with c->wt and allocation `fail_at` failing (0: none), then release, both under
 * the guard; c->st says how prepare went and *count how many allocations it made. False
 * with a message on a use after free, a double free, a block of prepare that release did
 * not free, or a successful prepare that computes wrongly. */
static bool guarded_step(struct cf_setup *s, struct step *c, unsigned fail_at, bool call,
                         unsigned *count, struct cf_report *r)
{
	unsigned block = 0;
	struct cf_alloc_stats st;
	cf_progress("%s: prepare with %s", s->desc, c->what);
	cf_alloc_begin(fail_at);
	bool ok = cf_alloc_trap(step_prepare, c, &block);
	cf_alloc_end();
	cf_alloc_stats(&st);
	*count = st.count;
	if (!ok) {
		cf_alloc_reset();
		return cf_fail(r,
		               "%s: prepare with %s used memory it had freed (block of "
		               "allocation %u of prepare): a use after free",
		               s->desc, c->what, block);
	}
	if (ok && call && c->st == QKV_OK)
		ok = step_call(s, c->h, c->what, r);
	cf_progress("%s: release after a prepare with %s (status %d)", s->desc, c->what,
	            (int)c->st);
	bool released = cf_alloc_trap(step_release, c, &block); /* after a failed call too */
	if (ok && !released)
		ok = cf_fail(r,
		             "%s: release after a prepare with %s (status %d) used freed memory "
		             "(block of allocation %u of prepare): a use after free; did prepare "
		             "free its half-built handle and leave *handle set?",
		             s->desc, c->what, (int)c->st, block);
	cf_alloc_stats(&st);
	if (ok && st.double_free)
		ok = cf_fail(r,
		             "%s: release after a prepare with %s (status %d) freed allocation %u "
		             "of prepare a second time (a double free; %u in all): a failed "
		             "prepare leaves *handle releasable, nothing freed twice",
		             s->desc, c->what, (int)c->st, st.double_free_of, st.double_free);
	if (ok && st.live)
		ok = cf_fail(r,
		             "%s: after a prepare with %s (status %d) and its release, %u of its "
		             "%u allocations are still in use (first: allocation %u): release "
		             "leaks what prepare built",
		             s->desc, c->what, (int)c->st, st.live, st.count, st.first_live);
	cf_alloc_reset();
	return ok;
}

/* Each projection's weights, then (int8 pre-quantized) scales, missing in turn: prepare
 * must refuse with a message; each bias missing in turn is valid and must prepare. */
static bool missing_inputs(struct cf_setup *s, struct cf_report *r)
{
	for (int kind = 0; kind < 3; kind++) {
		if (kind == 1 && !s->o.prequantized)
			continue;
		for (int p = 0; p < 3; p++) {
			static const char *const names[3] = {"weights", "w_scale", "bias"};
			char what[64];
			struct step c = {.s = s, .wt = s->wt, .what = what};
			snprintf(what, sizeof(what), "%s[%s] NULL", names[kind],
			         qkv_proj_name((unsigned)p));
			if (kind == 0) {
				c.wt.w[p] = NULL;
				c.wt.w_i8[p] = NULL;
			} else if (kind == 1) {
				c.wt.w_scale[p] = NULL;
			} else {
				c.wt.bias[p] = NULL;
			}
			unsigned count;
			if (!guarded_step(s, &c, 0, false, &count, r))
				return false;
			if (kind < 2 && c.st == QKV_OK)
				return cf_fail(
				    r,
				    "%s: prepare with %s returned QKV_OK: it cannot compute "
				    "%s without them (refuse with QKV_ERR_ARGUMENT)",
				    s->desc, what, qkv_proj_name((unsigned)p));
			if (kind < 2 && !c.err[0])
				return cf_fail(r, "%s: prepare with %s failed without a message",
				               s->desc, what);
			if (kind == 2 && c.st != QKV_OK)
				return cf_fail(
				    r,
				    "%s: prepare with %s (no bias: valid) failed, status %d: "
				    "%s",
				    s->desc, what, (int)c.st, c.err);
		}
	}
	return true;
}

/* Allocation n of prepare failing, for every n the successful prepare makes. Returns the
 * number of allocations, or -1 on a failure. */
static long failing_allocations(struct cf_setup *s, struct cf_report *r)
{
	char what[96];
	struct step c = {.s = s, .wt = s->wt, .what = "every allocation succeeding"};
	unsigned count, n_fail;
	if (!guarded_step(s, &c, 0, true, &count, r))
		return -1;
	if (c.st != QKV_OK)
		return cf_fail(r, "%s: prepare failed under the counting allocator (status %d): %s",
		               s->desc, (int)c.st, c.err),
		       -1;
	for (unsigned n = 1; n <= count; n++) {
		snprintf(what, sizeof(what), "allocation %u of %u failing", n, count);
		c = (struct step){.s = s, .wt = s->wt, .what = what};
		if (!guarded_step(s, &c, n, true, &n_fail, r))
			return -1;
		if (c.st != QKV_OK && !c.err[0])
			return cf_fail(r, "%s: prepare with %s failed without a message", s->desc,
			               what),
			       -1;
	}
	return count;
}

void cf_case_prepare_failures(const struct qkv_backend *be, int precision, uint64_t seed,
                              struct cf_report *r)
{
	(void)precision;
	char why[160];
	if (!cf_alloc_attach(be, why, sizeof(why)))
		return (void)cf_fail(r, "harness: cannot interpose the plugin's allocator: %s",
		                     why);
	static const struct cf_shape sh = {5, 24, 2, 1, 8};
	int prec[QKV_PRECISION_COUNT], n = cf_declared(be, prec), steps = 0;
	long most = 0;
	struct cf_rng g = {seed};
	for (int i = 0; i < n; i++) {
		for (int v = 0; v < (prec[i] == QKV_INT8 ? 3 : 2); v++) {
			struct cf_opts o = cf_opts_make(prec[i], (uint32_t)(v % 2), true);
			o.threads = 2;
			o.prequantized = v == 2;
			struct cf_setup s;
			if (!cf_setup_init(&s, be, &sh, &o, cf_rng_next(&g), r))
				return;
			long allocs = missing_inputs(&s, r) ? failing_allocations(&s, r) : -1;
			cf_setup_free(&s);
			if (allocs < 0)
				return;
			most = allocs > most ? allocs : most;
			steps += (int)allocs + (o.prequantized ? 9 : 6);
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "%d failing prepares (weights, scales missing, up to %ld allocations failing "
	         "one by one), each released: no double free, no use after free, no leak",
	         steps, most);
}
