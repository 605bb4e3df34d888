/* Many threads on one model: every call succeeds and is bit-identical to the same call
 * made alone, for every in-tree backend; calls from inside the caller's OpenMP region
 * neither hang (the timeout) nor start nested teams (OS thread count). */
#include <criterion/criterion.h>

#include "stress.h"

static void expect_clean(const char *backend, const struct stress_report *r)
{
	cr_expect_eq(r->failures, 0, "%s: %lu of %lu calls failed: %s", backend, r->failures,
	             r->calls, r->msg);
	cr_expect_eq(r->mismatch, 0, "%s: %lu of %lu calls differ from the serial result", backend,
	             r->mismatch, r->calls);
}

Test(stress, threads_16x1000_every_backend, .timeout = 600)
{
	int tested = 0;
	for (int b = 0; stress_backends[b]; b++) {
		struct stress_report r;
		stress_threads(stress_backends[b], 16, 1000, &r);
		if (!r.opened) {
			cr_log_info("%s: not available here: %s", stress_backends[b], r.msg);
			continue;
		}
		tested++;
		cr_expect_eq(r.calls, 16000);
		expect_clean(stress_backends[b], &r);
	}
	cr_expect_geq(tested, 1, "no backend could be opened");
}

Test(stress, inside_callers_omp_region, .timeout = 300)
{
	for (int b = 0; stress_backends[b]; b++) {
		struct stress_report r;
		stress_omp_region(stress_backends[b], 4, 200, &r);
		if (!r.opened)
			continue;
		expect_clean(stress_backends[b], &r);
		/* Nested teams of the model's budget (2) would add 4 threads; one spare for a
		 * library's lazily started helper. */
		cr_expect_leq(r.thread_growth, 1, "%s: %ld OS threads appeared: nested teams",
		              stress_backends[b], r.thread_growth);
	}
}
