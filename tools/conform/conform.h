/* The conformance case library: every case a qkv backend must pass, run on a
 * `const struct qkv_backend *` however it was loaded. Linked by the Criterion suite
 * (tests/conformance/test_conformance.c; sources in tools/conform/) and by `qkv conform`.
 *
 * Everything a case does is deterministic from its seed (own PRNG), so a failure
 * replays with the same seed. A case never prints; it fills a cf_report.
 */
#ifndef QKV_CONFORM_H
#define QKV_CONFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qkv/plugin.h>

#define CF_DEFAULT_SEED 20260611u

enum cf_result {
	CF_PASS = 0,
	CF_FAIL = 1,
	CF_SKIP = 2 /* a precision the backend does not declare, or declares and refuses on this
	             * machine with QKV_ERR_UNSUPPORTED (conform_problem.c); never a pass */
};

struct cf_report {
	enum cf_result result;
	uint64_t seed;      /* the run's seed: `--seed` replays it */
	double worst_ratio; /* max over checked elements of |error| / bound (0: none) */
	double worst_err;   /* |error| and bound at that element */
	double worst_bound;
	char msg[512]; /* what was wrong, or a one-line summary of what passed */
};

struct cf_case {
	const char *name;
	int precision; /* enum qkv_precision the case needs, or -1 for none */
	const char *what;
	void (*run)(const struct qkv_backend *be, int precision, uint64_t seed,
	            struct cf_report *r);
};

size_t cf_case_count(void);
const struct cf_case *cf_case_at(size_t i);
const struct cf_case *cf_case_find(const char *name);

/* True when `name` matches `pattern`: comma-separated shell globs ("f32_*,abi_*");
 * NULL or "" matches everything. */
bool cf_name_matches(const char *name, const char *pattern);

/* Run one case on `be` with base seed `seed` (each case derives its own stream from
 * it and its name). When the plugin could not be loaded, pass be = NULL and the
 * loader's message in load_err: abi_metadata then fails with it, and every other
 * case fails as "not run". */
void cf_case_run(const struct cf_case *c, const struct qkv_backend *be, const char *load_err,
                 uint64_t seed, struct cf_report *r);

const char *cf_result_str(enum cf_result res);

/* Where a case is (one line, "f32 T=7 K=33 ...: project with X read-only"), written
 * into buf[len] as the case goes, so a runner whose child crashes or hangs can say
 * where (`qkv conform` passes a page shared with the child). NULL: not recorded. */
void cf_progress_set(char *buf, size_t len);
void cf_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
