/* Failure paths of prepare: release(NULL), release after a refused prepare. */
#include <stdio.h>

#include <qkv/precision.h>

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
