/* Contract cases: ABI metadata, refusals, release paths, determinism, threads. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <qkv/precision.h>

#include "conform_int.h"
#include "conform_list.h"

/* The 1.0 descriptor ends with `release`. */
#define DESC_1_0_SIZE QKV_SIZE_THROUGH(struct qkv_backend, release)

static bool name_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (n >= 31 ||
		    !((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return false;
	return n > 0;
}

void cf_case_abi_metadata(const struct qkv_backend *be, int precision, uint64_t seed,
                          struct cf_report *r)
{
	(void)precision;
	(void)seed;
	if (be->abi_major != QKV_PLUGIN_ABI_MAJOR)
		return (void)cf_fail(r, "ABI major: abi_major is %u, this qkv speaks ABI %d.x",
		                     be->abi_major, QKV_PLUGIN_ABI_MAJOR);
	if (!QKV_HAS_MEMBER(be, struct qkv_backend, release))
		return (void)cf_fail(r, "struct_size is %u, ABI 1.0 needs at least %zu",
		                     be->struct_size, (size_t)DESC_1_0_SIZE);
	if (!be->name || !name_ok(be->name))
		return (void)cf_fail(r, "name `%.40s` is not [a-z0-9_]{1,31}",
		                     be->name ? be->name : "(null)");
	if (!be->version || !be->version[0])
		return (void)cf_fail(r, "version is missing or empty");
	uint32_t known = (1u << QKV_PRECISION_COUNT) - 1;
	if (!(be->precisions & known))
		return (void)cf_fail(r, "precisions 0x%x declares no precision", be->precisions);
	if (be->precisions & ~known)
		return (void)cf_fail(r, "precisions 0x%x has unknown bits 0x%x", be->precisions,
		                     be->precisions & ~known);
	const char *missing = !be->probe     ? "probe"
	                      : !be->prepare ? "prepare"
	                      : !be->project ? "project"
	                      : !be->release ? "release"
	                                     : NULL;
	if (missing)
		return (void)cf_fail(r, "required member `%s` is NULL", missing);
	struct qkv_probe_result pr;
	if (!cf_probe_guarded(be, &pr, r))
		return;
	if (pr.score < 0)
		return (void)cf_fail(r, "probe score %d is negative", pr.score);
	snprintf(r->msg, sizeof(r->msg), "%s %s, ABI %u.%u, probe score %d: %.200s", be->name,
	         be->version, be->abi_major, be->abi_minor, pr.score, pr.detail);
}

/* prepare a small valid f32 problem with `precision`; returns the status. */
static enum qkv_status try_prepare(const struct qkv_backend *be, uint32_t precision, char *err,
                                   size_t errlen)
{
	static const float w[8] = {1, 2, 3, 4, 5, 6, 7, 8}; /* [4 x 2] */
	struct qkv_problem pb = {sizeof(pb), precision, 4, 1, 1, 2, 2, 2, 1, {0}};
	struct qkv_weights wt = {.struct_size = sizeof(wt), .layout = QKV_LAYOUT_IN_OUT};
	for (int p = 0; p < 3; p++)
		wt.w[p] = w;
	void *h = NULL;
	cf_progress("prepare of a 4x2 problem with precision %u", precision);
	enum qkv_status st = be->prepare(&pb, &wt, &h, err, errlen);
	be->release(h); /* after a failure too: the contract says release(*handle) is safe */
	return st;
}

/* Undeclared and unknown precisions: every value up to 70 (a `1u << p` test wraps at
 * 32 and 64: 32, 33, 34, 64, 65, 66 alias the real ones), the powers of two and their
 * neighbours up to 2^31, and 0xffffffff. */
static size_t unknown_precisions(uint32_t *v, size_t cap)
{
	size_t n = 0;
	for (uint32_t p = QKV_PRECISION_COUNT; p <= 70 && n < cap; p++)
		v[n++] = p;
	for (int b = 7; b <= 31 && n + 3 <= cap; b++) {
		uint32_t x = 1u << b;
		v[n++] = x - 1;
		v[n++] = x;
		v[n++] = x + 1;
	}
	if (n < cap)
		v[n++] = 0xffffffffu;
	return n;
}

void cf_case_refuse_undeclared(const struct qkv_backend *be, int precision, uint64_t seed,
                               struct cf_report *r)
{
	(void)precision;
	(void)seed;
	uint32_t list[QKV_PRECISION_COUNT + 160];
	size_t n = 0;
	for (uint32_t p = 0; p < QKV_PRECISION_COUNT; p++)
		if (!(be->precisions & QKV_PRECISION_BIT(p)))
			list[n++] = p;
	n += unknown_precisions(list + n, sizeof(list) / sizeof(list[0]) - n);
	char err[256] = "";
	int refused = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = list[i];
		err[0] = '\0';
		cf_progress("prepare with undeclared precision %u", v);
		enum qkv_status st = try_prepare(be, v, err, sizeof(err));
		char nm[16];
		snprintf(nm, sizeof(nm), "%s",
		         v < QKV_PRECISION_COUNT ? qkv_precision_name(v) : "");
		if (!nm[0])
			snprintf(nm, sizeof(nm), "%u", v);
		if (st != QKV_ERR_UNSUPPORTED)
			return (void)cf_fail(
			    r,
			    "prepare with undeclared precision %s returned status "
			    "%d, want QKV_ERR_UNSUPPORTED (%d)%s",
			    nm, (int)st, QKV_ERR_UNSUPPORTED,
			    v >= 32 && st == QKV_OK ? " (a 1u << precision test that wraps?)" : "");
		if (!err[0])
			return (void)cf_fail(r, "prepare refused precision %s without a message",
			                     nm);
		refused++;
	}
	snprintf(r->msg, sizeof(r->msg), "%d precisions refused with a message", refused);
}

void cf_case_release_after_failed(const struct qkv_backend *be, int precision, uint64_t seed,
                                  struct cf_report *r)
{
	(void)precision;
	(void)seed;
	be->release(NULL);
	char err[256] = "";
	if (try_prepare(be, 0xffffffffu, err, sizeof(err)) == QKV_OK)
		return (void)cf_fail(r, "prepare accepted precision 0xffffffff");
	/* a valid prepare still works after the failed one */
	uint32_t p = 0;
	while (!(be->precisions & QKV_PRECISION_BIT(p)) && p + 1 < QKV_PRECISION_COUNT)
		p++;
	enum qkv_status st = try_prepare(be, p, err, sizeof(err));
	if (st != QKV_OK)
		return (void)cf_fail(r,
		                     "prepare of a valid %s problem after a failed one: status "
		                     "%d: %s",
		                     qkv_precision_name(p), (int)st, err);
	snprintf(r->msg, sizeof(r->msg), "release(NULL), release after failed prepare: fine");
}

void cf_case_determinism(const struct qkv_backend *be, int precision, uint64_t seed,
                         struct cf_report *r)
{
	static const struct cf_shape sh = {64, 257, 3, 1, 32};
	struct cf_opts o = {.precision = (uint32_t)precision, .threads = 2, .bias = true};
	struct cf_setup s;
	if (!cf_setup_init(&s, be, &sh, &o, seed, r))
		return;
	struct cf_out first, again;
	bool have_first = cf_out_alloc(&first, &s, sh.T, r), ok = have_first;
	if (ok && cf_call(&s, 0, sh.T, &first, o.threads, r) && cf_check_guards(&s, &first, r) &&
	    cf_check_values(&s, 0, &first, r)) {
		for (int i = 2; ok && i <= 4; i++) {
			char what[32];
			snprintf(what, sizeof(what), "call %d", i);
			ok = cf_out_alloc(&again, &s, sh.T, r);
			if (ok) {
				ok = cf_call(&s, 0, sh.T, &again, o.threads, r) &&
				     cf_check_guards(&s, &again, r) &&
				     cf_check_same(&s, &first, &again, what, r);
				cf_out_free(&again);
			}
		}
	}
	if (have_first)
		cf_out_free(&first);
	cf_setup_free(&s);
	if (r->result != CF_FAIL)
		snprintf(r->msg, sizeof(r->msg), "4 calls bit-identical");
}

void cf_case_threads(const struct qkv_backend *be, int precision, uint64_t seed,
                     struct cf_report *r)
{
	static const struct cf_shape sh = {64, 300, 5, 5, 24};
	static const uint32_t counts[] = {1, 2, 3, 8};
	struct cf_opts o = {.precision = (uint32_t)precision, .bias = true};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		o.threads = counts[i];
		if (!cf_check_problem(be, &sh, &o, seed, r))
			return;
	}
	/* a call's budget above and below the problem's (per-thread scratch sized by one
	 * and indexed by the other) */
	static const uint32_t pairs[][2] = {{1, 8}, {8, 1}, {2, 5}};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		o.threads = pairs[i][0];
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &sh, &o, seed, r))
			return;
		struct cf_out out;
		bool ok = cf_out_alloc(&out, &s, sh.T, r);
		if (ok) {
			ok = cf_call(&s, 0, sh.T, &out, pairs[i][1], r) &&
			     cf_check_guards(&s, &out, r) && cf_check_values(&s, 0, &out, r);
			cf_out_free(&out);
		}
		cf_setup_free(&s);
		if (!ok) {
			size_t n = strlen(r->msg);
			snprintf(r->msg + n, sizeof(r->msg) - n,
			         " (problem threads %u, batch threads %u)", pairs[i][0],
			         pairs[i][1]);
			return;
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "threads 1, 2, 3, 8, and batch threads above / below the problem's: within "
	         "bound");
}
