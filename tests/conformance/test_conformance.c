/* Criterion runner: every conformance case on the backend in $QKV_CONFORM_PLUGIN,
 * one Criterion test per case (each forked: a crash is a reported failure).
 * $QKV_CONFORM_SEED replaces the default seed (the flake loop uses it). The plugin is
 * loaded through the public API, as `qkv conform` loads it. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdlib.h>

#include "conform.h"
#include "conform_heap.h"
#include "conform_list.h"
#include "plugin_load.h"

/* no_leaks needs exact heap counts: start again with glibc's tcache off */
__attribute__((constructor)) static void exact_heap(void)
{
	cf_heap_exact_reexec();
}

static uint64_t env_seed(void)
{
	const char *s = getenv("QKV_CONFORM_SEED");
	return s && *s ? strtoull(s, NULL, 0) : CF_DEFAULT_SEED;
}

static void run_named(const char *name)
{
	const char *path = getenv("QKV_CONFORM_PLUGIN");
	cr_assert(path && *path, "QKV_CONFORM_PLUGIN is not set");
	const struct cf_case *c = cf_case_find(name);
	cr_assert(c, "no case %s", name);
	char err[512] = "";
	qkv_plugin_set *set = NULL;
	const struct qkv_backend *be = test_plugin_load(path, &set, err, sizeof(err));
	uint64_t seed = env_seed();
	struct cf_report r;
	cf_case_run(c, be, err, seed, &r);
	qkv_plugins_free(set);
	if (r.result == CF_SKIP)
		cr_skip_test("%s", r.msg);
	cr_assert(r.result == CF_PASS, "%s on %s (seed %" PRIu64 "): %s", name, path, seed, r.msg);
	cr_log_info("%s: %s (worst error %.3g vs bound %.3g)", name, r.msg, r.worst_err,
	            r.worst_bound);
}

#define CF_TEST(name, prec, fn, what)                                                              \
	Test(conformance, name, .timeout = 300)                                                    \
	{                                                                                          \
		run_named(#name);                                                                  \
	}
CF_CASES(CF_TEST)
