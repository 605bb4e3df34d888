/* Proof the harness bites: each plugin in tests/conformance/broken/ has one defect,
 * and the case meant for it must fail with a message that says what was wrong. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform.h"
#include "registry.h"

/* Any seed must catch every defect: the flake loop runs this with many. */
static uint64_t env_seed(void)
{
	const char *s = getenv("QKV_CONFORM_SEED");
	return s && *s ? strtoull(s, NULL, 0) : CF_DEFAULT_SEED;
}

static void expect_caught(const char *plugin, const char *case_name, const char *needle)
{
	const char *dir = getenv("QKV_CONFORM_BROKEN_DIR");
	cr_assert(dir && *dir, "QKV_CONFORM_BROKEN_DIR is not set");
	char path[1024];
	snprintf(path, sizeof(path), "%s/qkv_broken_%s.so", dir, plugin);
	char err[512] = "";
	struct qkv_plugin *pl = NULL;
	qkv_plugin_load_file(path, &pl, err, sizeof(err));
	const struct cf_case *c = cf_case_find(case_name);
	cr_assert(c, "no case %s", case_name);
	struct cf_report r;
	cf_case_run(c, pl ? pl->be : NULL, err, env_seed(), &r);
	qkv_plugin_unref(pl);
	cr_assert_eq(r.result, CF_FAIL, "%s passed %s: %s", plugin, case_name, r.msg);
	cr_assert(strstr(r.msg, needle), "%s failed %s without \"%s\": %s", plugin, case_name,
	          needle, r.msg);
	cr_log_info("%s caught by %s: %s", plugin, case_name, r.msg);
}

/* A broken plugin still passes a case its defect does not touch: the harness names
 * the defect, it does not just reject everything. */
static void expect_pass(const char *plugin, const char *case_name)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/qkv_broken_%s.so", getenv("QKV_CONFORM_BROKEN_DIR"),
	         plugin);
	char err[512] = "";
	struct qkv_plugin *pl = NULL;
	cr_assert_eq(qkv_plugin_load_file(path, &pl, err, sizeof(err)), QKV_OK, "%s", err);
	struct cf_report r;
	cf_case_run(cf_case_find(case_name), pl->be, NULL, env_seed(), &r);
	qkv_plugin_unref(pl);
	cr_assert_eq(r.result, CF_PASS, "%s fails %s: %s", plugin, case_name, r.msg);
}

Test(broken, drop_tail)
{
	expect_caught("drop_tail", "f32_random_sizes", "was not written");
	expect_pass("drop_tail", "f32_t_zero");
}

Test(broken, ignore_bias)
{
	expect_caught("ignore_bias", "f32_bias", "differs");
	expect_pass("ignore_bias", "f32_seed_example");
}

Test(broken, ignore_stride)
{
	expect_caught("ignore_stride", "f32_strides", "into the gap after q[0]");
	expect_pass("ignore_stride", "f32_seed_example");
}

Test(broken, write_past)
{
	expect_caught("write_past", "f32_guard_bytes", "wrote 1 float past q[T-1] end");
	expect_pass("write_past", "f32_t_zero");
}

Test(broken, static_scratch, .timeout = 300)
{
	expect_caught("static_scratch", "f32_concurrency", "not bit-identical");
	expect_pass("static_scratch", "f32_random_sizes");
}

Test(broken, nan_flush)
{
	expect_caught("nan_flush", "f32_nan_inf", "want NaN");
	expect_pass("nan_flush", "f32_random_sizes");
}

Test(broken, int8_saturate)
{
	expect_caught("int8_saturate", "int8_saturation", "exact int8 reference");
	expect_pass("int8_saturate", "f32_random_sizes");
}

Test(broken, wrong_abi)
{
	expect_caught("wrong_abi", "abi_metadata", "ABI major");
	expect_caught("wrong_abi", "f32_seed_example", "not run");
}

/* A read past X hits a PROT_NONE page: the case crashes, which Criterion (like
 * `qkv conform`) reports as a failure. */
Test(broken, over_read, .signal = SIGSEGV)
{
	expect_pass("over_read", "f32_random_sizes"); /* malloc'd X: the read goes unnoticed */
	expect_caught("over_read", "f32_x_bounds", "(unreachable: it crashes)");
}
