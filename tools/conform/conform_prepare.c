/* Small prepares the contract checks share: one valid 4 x 2 problem with a chosen
 * precision, the refused ones, and the sweep over every undeclared and unknown
 * precision (the refusal case, and the process and output checks that walk every
 * entry point's error path). */
#include <stdio.h>

#include <qkv/precision.h>

#include "conform_int.h"

enum qkv_status cf_try_prepare(const struct qkv_backend *be, uint32_t precision, char *err,
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

void cf_failed_prepare(const struct qkv_backend *be)
{
	char err[256];
	cf_try_prepare(be, 0xffffffffu, err, sizeof(err));
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

int cf_refuse_unknown(const struct qkv_backend *be, struct cf_report *r)
{
	uint32_t list[QKV_PRECISION_COUNT + 160];
	size_t n = 0;
	for (uint32_t p = 0; p < QKV_PRECISION_COUNT; p++)
		if (!(be->precisions & QKV_PRECISION_BIT(p)))
			list[n++] = p;
	n += unknown_precisions(list + n, CF_COUNT(list) - n);
	char err[256] = "";
	int refused = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = list[i];
		err[0] = '\0';
		cf_progress("prepare with undeclared precision %u", v);
		enum qkv_status st = cf_try_prepare(be, v, err, sizeof(err));
		char nm[16];
		snprintf(nm, sizeof(nm), "%s",
		         v < QKV_PRECISION_COUNT ? qkv_precision_name(v) : "");
		if (!nm[0])
			snprintf(nm, sizeof(nm), "%u", v);
		if (st != QKV_ERR_UNSUPPORTED)
			return cf_fail(r,
			               "prepare with undeclared precision %s returned status "
			               "%d, want QKV_ERR_UNSUPPORTED (%d)%s",
			               nm, (int)st, QKV_ERR_UNSUPPORTED,
			               v >= 32 && st == QKV_OK
			                   ? " (a 1u << precision test that wraps?)"
			                   : ""),
			       -1;
		if (!err[0])
			return cf_fail(r, "prepare refused precision %s without a message", nm), -1;
		refused++;
	}
	return refused;
}
