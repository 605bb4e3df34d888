/* The ABI cases: the descriptor (judged by <qkv/plugin.h>'s qkv_descriptor_check, as the
 * core's loader judges it) and the probe's struct bounds, refusals of precisions,
 * structs larger than this header's sizeof, and the error buffer. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <qkv/precision.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

/* The 1.0 descriptor ends with `release`. */
#define DESC_1_0_SIZE QKV_SIZE_THROUGH(struct qkv_backend, release)

/* The descriptor's fields, judged by <qkv/plugin.h>'s qkv_descriptor_check: the loader
 * of the core decides with the same function, so the two never disagree. */
static bool descriptor_ok(const struct qkv_backend *be, struct cf_report *r)
{
	switch (qkv_descriptor_check(be)) {
	case QKV_DESCRIPTOR_OK:
		return true;
	case QKV_DESCRIPTOR_NULL:
		return cf_fail(r, "the descriptor is NULL");
	case QKV_DESCRIPTOR_ABI_MAJOR:
		return cf_fail(r, "ABI major: abi_major is %u, this qkv speaks ABI %d.x",
		               be->abi_major, QKV_PLUGIN_ABI_MAJOR);
	case QKV_DESCRIPTOR_STRUCT_SIZE:
		return cf_fail(r, "struct_size is %u, ABI 1.0 needs at least %zu", be->struct_size,
		               (size_t)DESC_1_0_SIZE);
	case QKV_DESCRIPTOR_NAME:
		return cf_fail(r, "name `%.40s` is not [a-z0-9_]{1,31}",
		               be->name ? be->name : "(null)");
	case QKV_DESCRIPTOR_VERSION:
		return cf_fail(r, "version is missing or empty");
	case QKV_DESCRIPTOR_NO_PRECISION:
		return cf_fail(r, "precisions 0x%x declares no precision", be->precisions);
	case QKV_DESCRIPTOR_UNKNOWN_PRECISION:
		return cf_fail(r,
		               "precisions 0x%x has unknown bits 0x%x, and the plugin was built "
		               "for ABI %u.%u (only a newer minor may declare them)",
		               be->precisions,
		               be->precisions & ~qkv_precisions_at_minor(be->abi_minor),
		               be->abi_major, be->abi_minor);
	case QKV_DESCRIPTOR_MEMBERS:
		break;
	}
	return cf_fail(r, "required member `%s` is NULL",
	               !be->probe     ? "probe"
	               : !be->prepare ? "prepare"
	               : !be->project ? "project"
	                              : "release");
}

/* Probe into a result that ends at a PROT_NONE page, then into one that starts right
 * after one (a probe writing past its struct faults there), each first filled with
 * 0x5a; copies the second into *out. False and a message when struct_size changed or
 * detail has no NUL. */
static bool probe_guarded(const struct qkv_backend *be, struct qkv_probe_result *out,
                          struct cf_report *r)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return cf_fail(r, "harness: cannot map guard pages");
	if (mprotect(m + page, page, PROT_NONE) != 0) {
		munmap(m, 3 * page);
		return cf_fail(r, "harness: cannot protect a guard page");
	}
	struct qkv_probe_result *at[2] = {
	    (struct qkv_probe_result *)(void *)(m + page - sizeof(struct qkv_probe_result)),
	    (struct qkv_probe_result *)(void *)(m + 2 * page)};
	bool ok = true;
	for (int i = 0; ok && i < 2; i++) {
		memset(at[i], 0x5a, sizeof(*at[i]));
		at[i]->struct_size = sizeof(*at[i]);
		cf_progress("probe with its result %s a PROT_NONE page (a write past the "
		            "struct faults)",
		            i == 0 ? "ending at" : "starting after");
		be->probe(at[i]);
		if (at[i]->struct_size != sizeof(*at[i]))
			ok = cf_fail(r, "probe changed struct_size to %u", at[i]->struct_size);
		else if (!memchr(at[i]->detail, '\0', sizeof(at[i]->detail)))
			ok = cf_fail(r, "probe left detail without a terminating NUL");
	}
	if (ok)
		*out = *at[1];
	munmap(m, 3 * page);
	return ok;
}

void cf_case_abi_metadata(const struct qkv_backend *be, int precision, uint64_t seed,
                          struct cf_report *r)
{
	(void)precision;
	(void)seed;
	if (!descriptor_ok(be, r))
		return;
	struct qkv_probe_result pr;
	if (!probe_guarded(be, &pr, r))
		return;
	if (pr.score < 0)
		return (void)cf_fail(r, "probe score %d is negative", pr.score);
	snprintf(r->msg, sizeof(r->msg), "%s %s, ABI %u.%u, probe score %d: %.200s", be->name,
	         be->version, be->abi_major, be->abi_minor, pr.score, pr.detail);
}

void cf_case_refuse_undeclared(const struct qkv_backend *be, int precision, uint64_t seed,
                               struct cf_report *r)
{
	(void)precision;
	(void)seed;
	int refused = cf_refuse_unknown(be, r);
	if (refused >= 0)
		snprintf(r->msg, sizeof(r->msg), "%d precisions refused with a message", refused);
}

/* struct_size larger than this header's sizeof, zeroed tail: what a core of a later
 * 1.x minor passes. The backend must accept problem, weights, batch and probe result
 * and compute the same as with exact sizes. */
void cf_case_abi_struct_sizes(const struct qkv_backend *be, int precision, uint64_t seed,
                              struct cf_report *r)
{
	(void)precision;
	unsigned char big[sizeof(struct qkv_probe_result) + 64];
	memset(big, 0, sizeof(big));
	struct qkv_probe_result *pr = (struct qkv_probe_result *)(void *)big;
	pr->struct_size = (uint32_t)sizeof(big);
	be->probe(pr);
	if (!memchr(pr->detail, '\0', sizeof(pr->detail)))
		return (void)cf_fail(r, "probe with struct_size %zu left detail without a NUL",
		                     sizeof(big));
	static const struct cf_shape sh = {7, 40, 2, 1, 8};
	struct cf_rng g = {seed};
	for (int p = 0; p < QKV_PRECISION_COUNT; p++) {
		if (!(be->precisions & QKV_PRECISION_BIT(p)))
			continue;
		for (size_t extra = 8; extra <= 64; extra *= 8) {
			struct cf_opts o = {.precision = (uint32_t)p,
			                    .threads = 2,
			                    .bias = true,
			                    .struct_extra = extra,
			                    .prequantized = p == QKV_INT8 && extra == 64};
			if (!cf_check_problem(be, &sh, &o, cf_rng_next(&g), r)) {
				size_t n = strlen(r->msg);
				snprintf(r->msg + n, sizeof(r->msg) - n,
				         " (struct_size = sizeof + %zu, zeroed tail: a newer 1.x "
				         "core passes that)",
				         extra);
				return;
			}
		}
	}
	snprintf(r->msg, sizeof(r->msg),
	         "struct_size = sizeof + 8 and + 64 accepted, same results");
}

/* The error message stays inside err[errlen] and ends with a NUL there: errlen 0
 * (nothing written), 1, 7 and 300, on a refused precision. */
void cf_case_error_buffer(const struct qkv_backend *be, int precision, uint64_t seed,
                          struct cf_report *r)
{
	(void)precision;
	(void)seed;
	static const float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const size_t lens[] = {0, 1, 7, 300};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char buf[400];
		memset(buf, 0x5a, sizeof(buf));
		struct qkv_problem pb = {sizeof(pb), 0xffffffffu, 4, 1, 1, 2, 2, 2, 1, {0}};
		struct qkv_weights wt = {.struct_size = sizeof(wt), .layout = QKV_LAYOUT_IN_OUT};
		for (int p = 0; p < 3; p++)
			wt.w[p] = w;
		void *h = NULL;
		cf_progress("prepare with a refused precision, errlen %zu", lens[i]);
		enum qkv_status st = be->prepare(&pb, &wt, &h, buf, lens[i]);
		be->release(h);
		if (st == QKV_OK)
			return (void)cf_fail(r, "prepare accepted precision 0xffffffff");
		for (size_t k = lens[i]; k < sizeof(buf); k++)
			if (buf[k] != 0x5a)
				return (void)cf_fail(
				    r,
				    "prepare's error message wrote byte %zu of err "
				    "with errlen %zu (must stay inside err[errlen])",
				    k, lens[i]);
		if (lens[i] > 0 && !memchr(buf, '\0', lens[i]))
			return (void)cf_fail(r,
			                     "prepare's error message is not NUL-terminated within "
			                     "errlen %zu",
			                     lens[i]);
	}
	snprintf(r->msg, sizeof(r->msg), "messages stay in err[errlen], NUL-terminated");
}
