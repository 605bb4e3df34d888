/* End-to-end tests of `qkv bench` and `qkv tune` on the tiny preset with a tiny
 * --min-time: the rows and fields of the JSON, the plot and CSV files, usage errors,
 * a deliberately slowed backend flagged by --baseline, and a tune profile that the
 * core's machine-profile parser accepts. Timings are never asserted, only structure
 * (and the 5x slow-down, which the slowed plugin guarantees by construction). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench_baseline.h"
#include "config.h"
#include "test_tmpdir.h"

static char dir[256];

static void setup(void)
{
	cr_assert(getenv("QKV_EXE"), "QKV_EXE not set (run through meson test)");
	test_tmpdir_make(dir, sizeof(dir), "bench-cli");
}

static void teardown(void)
{
	test_tmpdir_remove(dir);
}

/* Run `qkv ARGS` with stdout and stderr to files in dir; returns the exit status. */
static int qkv(const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "'%s' %s >'%s/out.txt' 2>'%s/err.txt'", getenv("QKV_EXE"), args,
	         dir, dir);
	int st = system(cmd);
	cr_assert(WIFEXITED(st), "qkv did not exit: %s", cmd);
	return WEXITSTATUS(st);
}

static char *slurp(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "%s missing", path);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static const struct bench_base_row *find(const struct bench_baseline *b, const char *key)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->rows[i].key, key))
			return &b->rows[i];
	return NULL;
}

TestSuite(bench_cli, .init = setup, .fini = teardown, .timeout = 300);

Test(bench_cli, json_has_reference_and_backend_rows_with_every_field)
{
	char args[1024];
	snprintf(args, sizeof(args),
	         "bench --preset tiny --tokens 1,4 --backends scalar --threads 1 --min-time 0.01 "
	         "--overhead --json %s/r.json --csv %s/r.csv --plot %s/r.svg",
	         dir, dir, dir);
	cr_assert_eq(qkv(args), 0, "exit status; stderr: %s", slurp("err.txt"));
	char path[512];
	snprintf(path, sizeof(path), "%s/r.json", dir);
	struct bench_baseline b;
	char err[512];
	cr_assert(bench_baseline_load(path, &b, err, sizeof(err)), "%s", err);
	const char *keys[] = {"cblas_sgemm/f32/T=1/threads=1", "cblas_sgemv/f32/T=1/threads=1",
	                      "scalar/f32/T=1/threads=1", "cblas_sgemm/f32/T=4/threads=1",
	                      "scalar/f32/T=4/threads=1"};
	for (size_t i = 0; i < 5; i++) {
		const struct bench_base_row *row = find(&b, keys[i]);
		cr_assert(row, "row %s missing", keys[i]);
		cr_assert(row->ok, "row %s not measured", keys[i]);
		cr_assert(row->median > 0 && row->p10 <= row->median && row->median <= row->p90,
		          "row %s: bad times", keys[i]);
	}
	cr_assert(!find(&b, "cblas_sgemv/f32/T=4/threads=1"), "sgemv is a T = 1 reference");
	cr_assert(find(&b, "scalar_direct/f32/T=4/threads=1"), "--overhead row missing");
	bench_baseline_free(&b);
	const char *json = slurp("r.json");
	const char *fields[] = {
	    "\"backend\"",   "\"precision\"",   "\"T\"",        "\"threads\"", "\"median_s\"",
	    "\"gflops\"",    "\"weight_gbs\"",  "\"peak_pct\"", "\"bw_pct\"",  "\"vs_sgemm\"",
	    "\"vs_sgemv\"",  "\"peak_gflops\"", "\"read_gbs\"", "\"machine\"", "\"shape\"",
	    "\"prepare_s\"", "\"first_call_s\""};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		cr_assert(strstr(json, fields[i]), "JSON lacks %s", fields[i]);
	/* the first call of a row is timed (a cold call takes some time, never none) */
	const char *first = strstr(json, "\"first_call_s\"");
	first = strchr(first, ':');
	cr_assert(first && strtod(first + 1, NULL) > 0.0, "first_call_s is not measured");
	const char *svg = slurp("r.svg");
	cr_assert(!strncmp(svg, "<svg", 4) && strstr(svg, "scalar f32 1t") &&
	          strstr(svg, "</svg>"));
	const char *csv = slurp("r.csv");
	cr_assert(!strncmp(csv, "shape,backend,", 14));
	cr_assert(strstr(csv, "\"tiny\",scalar,backend,f32,4,1,\"ok\""), "%s", csv);
	const char *table = slurp("out.txt");
	cr_assert(strstr(table, "machine:") && strstr(table, "*cblas_sgemm") &&
	          strstr(table, "%peak"));
}

Test(bench_cli, usage_errors_name_the_option)
{
	struct {
		const char *args, *needle;
	} bad[] = {
	    {"bench --preset tiny --tokens 0", "--tokens"},
	    {"bench --preset nope", "nope"},
	    {"bench --preset tiny --backends 'Bad!'", "Bad!"},
	    {"bench --preset tiny --backend opnemp", "did you mean `openmp`?"},
	    {"bench --preset tiny --plot out.pdf", ".svg or .png"},
	    {"bench --preset tiny --gate some", "--gate"},
	    {"bench --preset tiny --min-time=x", "--min-time"},
	    {"run", "usage: qkv run"},
	    {"run x.yaml --tokens", "--tokens needs a value"},
	    {"run x.yaml --verbose=1", "--verbose takes no value"},
	    {"info --backend=nosuch", "nosuch"},
	    {"bench --preset tiny --threshold x", "--threshold"},
	    {"bench --preset tiny --precision f64", "f64"},
	    {"bench --preset tiny --frobnicate", "--frobnicate"},
	    {"bench", "CONFIG"},
	    {"bench --preset tiny --min-time", "--min-time"},
	    {"tune --preset tiny --threads 1,2", "--threads"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(qkv(bad[i].args), 2, "`qkv %s` did not exit 2", bad[i].args);
		cr_assert(strstr(slurp("err.txt"), bad[i].needle), "`qkv %s`: %s", bad[i].args,
		          slurp("err.txt"));
	}
	char args[512];
	snprintf(args, sizeof(args), "bench --preset tiny --baseline %s/none.json", dir);
	cr_assert_eq(qkv(args), 1);
	cr_assert(strstr(slurp("err.txt"), "none.json"));
	/* Issue 15 point 10: outputs are checked before anything is measured (no table). */
	snprintf(args, sizeof(args), "bench --preset tiny --json %s/no/such/dir/x.json", dir);
	cr_assert_eq(qkv(args), 1);
	cr_assert(strstr(slurp("err.txt"), "no/such/dir/x.json"), "%s", slurp("err.txt"));
	cr_assert(!strstr(slurp("out.txt"), "backend"), "measured first: %s", slurp("out.txt"));
	cr_assert_eq(qkv("bench --preset llama3-8b --tokens 1000000"), 1);
	cr_assert(strstr(slurp("err.txt"), "--tokens 1000000"), "%s", slurp("err.txt"));
	cr_assert_eq(qkv("tune --preset tiny --tokens 1 --out /nonexistent/dir/m.yaml"), 1);
	cr_assert(strstr(slurp("err.txt"), "/nonexistent/dir/m.yaml"), "%s", slurp("err.txt"));
	cr_assert_eq(qkv("bench --help"), 0);
	cr_assert(strstr(slurp("out.txt"), "--baseline"));
	/* Issue 15 point 12: every command's help shows its own options and the exit codes,
	 * and `qkv help CMD` is `qkv CMD --help`. */
	const char *cmds[] = {"run", "info", "bench", "tune", "quantize", "conform"};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char help[64], usage[64];
		snprintf(help, sizeof(help), "help %s", cmds[i]);
		snprintf(usage, sizeof(usage), "usage: qkv %s", cmds[i]);
		cr_assert_eq(qkv(help), 0, "qkv %s", help);
		const char *out = slurp("out.txt");
		cr_assert(strstr(out, usage), "qkv %s: %s", help, out);
		cr_assert(strstr(out, "xit status"), "qkv %s: no exit codes: %s", help, out);
	}
}

/* Issue 23: a preset in a block type is measured from a GGUF file the run writes into
 * $TMPDIR and removes; its rows have precision stored; wrong uses are refused. */
Test(bench_cli, preset_in_a_block_type)
{
	char args[1024];
	snprintf(
	    args, sizeof(args),
	    "bench --preset gpt2-small --precision f32,q8_0 --tokens 1,3 --backends quant,scalar "
	    "--threads 1 --min-time 0.01 --no-reference --json %s/r.json",
	    dir);
	char env[600];
	snprintf(env, sizeof(env), "TMPDIR='%s/tmp' ", dir); /* so leftovers can be seen */
	char cmd[3000];
	snprintf(cmd, sizeof(cmd), "mkdir '%s/tmp' && env %s'%s' %s", dir, env, getenv("QKV_EXE"),
	         args);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	char path[512];
	snprintf(path, sizeof(path), "%s/r.json", dir);
	struct bench_baseline b;
	char err[512];
	cr_assert(bench_baseline_load(path, &b, err, sizeof(err)), "%s", err);
	const char *keys[] = {"quant/stored/T=1/threads=1", "quant/stored/T=3/threads=1",
	                      "scalar/stored/T=3/threads=1", "scalar/f32/T=3/threads=1"};
	for (size_t i = 0; i < 4; i++) {
		const struct bench_base_row *row = find(&b, keys[i]);
		cr_assert(row && row->ok, "row %s missing or not measured", keys[i]);
	}
	bench_baseline_free(&b);
	cr_assert(strstr(slurp("r.json"), "stored q8_0"), "the shape does not name the type");
	snprintf(cmd, sizeof(cmd), "rmdir '%s/tmp'", dir); /* fails unless the run cleaned up */
	cr_assert_eq(system(cmd), 0, "bench left files in its TMPDIR");
	struct {
		const char *args, *needle;
		int status;
	} bad[] = {
	    {"bench --preset gpt2-small --precision q8_0,q4_k", "one block type per run", 2},
	    {"bench --preset tiny --precision q4_k --tokens 1", "not whole blocks of 256", 1},
	    {"bench --preset tiny --precision stored --tokens 1", "needs a block type", 1},
	    {"bench --preset tiny --precision q5", "block type", 2},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(qkv(bad[i].args), bad[i].status, "`qkv %s`", bad[i].args);
		cr_assert(strstr(slurp("err.txt"), bad[i].needle), "`qkv %s`: %s", bad[i].args,
		          slurp("err.txt"));
	}
	snprintf(args, sizeof(args), "bench %s/x.yaml --precision q4_0", dir);
	cr_assert_eq(qkv(args), 2);
	cr_assert(strstr(slurp("err.txt"), "block types are for --preset"), "%s", slurp("err.txt"));
}

Test(bench_cli, slowed_backend_is_flagged_by_baseline)
{
	const char *slow = getenv("QKV_BENCH_SLOW_DIR");
	cr_assert(slow);
	char args[1024];
	const char *common = "bench --preset tiny --tokens 1,8 --backends scalar --threads 1 "
	                     "--min-time 0.05 --no-reference";
	snprintf(args, sizeof(args), "%s --json %s/base.json", common, dir);
	cr_assert_eq(qkv(args), 0, "%s", slurp("err.txt"));
	/* The same backend again passes even a generous threshold... */
	snprintf(args, sizeof(args), "%s --baseline %s/base.json --threshold 200", common, dir);
	cr_assert_eq(qkv(args), 0, "unchanged backend flagged: %s", slurp("out.txt"));
	/* ...while the plugin that sleeps 4x its compute time is flagged at the default 10%. */
	snprintf(args, sizeof(args), "%s --plugin-dir %s --baseline %s/base.json", common, slow,
	         dir);
	cr_assert_eq(qkv(args), 3, "slowed backend not flagged: %s", slurp("out.txt"));
	const char *out = slurp("out.txt");
	cr_assert(strstr(out, "scalar/f32/T=1/threads=1"), "%s", out);
	cr_assert(strstr(out, "SLOWER"), "%s", out);
	cr_assert(strstr(out, "2 of 2 compared rows slower"), "%s", out);
}

Test(bench_cli, tune_writes_a_profile_the_core_accepts)
{
	char args[1024];
	snprintf(args, sizeof(args),
	         "tune --preset tiny --tokens 1,4,16 --threads 1 --min-time 0.01 --force --out "
	         "%s/m.yaml",
	         dir);
	cr_assert_eq(qkv(args), 0, "%s", slurp("err.txt"));
	char path[512];
	snprintf(path, sizeof(path), "%s/m.yaml", dir);
	struct qkv_backend_cfg bc;
	char err[512];
	cr_assert_eq(qkv_machine_load(path, &bc, err, sizeof(err)), QKV_OK, "%s\n%s", err,
	             slurp("m.yaml"));
	cr_assert_eq(bc.threads, 1);
	cr_assert(bc.n_prefer >= 1);
	cr_assert_str_eq(bc.prefer[bc.n_prefer - 1], "scalar", "scalar is not last");
	cr_assert(bc.n_routes >= 2, "one route per precision at least");
	bool f32_from_1 = false, f32_open_end = false;
	for (size_t i = 0; i < bc.n_routes; i++) {
		if (bc.routes[i].precision != QKV_F32)
			continue;
		f32_from_1 |= bc.routes[i].t_min == 1;
		f32_open_end |= bc.routes[i].t_max == UINT64_MAX;
	}
	cr_assert(f32_from_1 && f32_open_end, "f32 routes do not cover 1..inf:\n%s",
	          slurp("m.yaml"));
	cr_assert(bc.cpu && bc.cpu[0]);
	qkv_backend_cfg_free(&bc);
}

/* Issue 6, point 2: `qkv run` with the tuned profile uses, for T = 1 and T = 512, the
 * backend the tune measured fastest there. */
Test(bench_cli, run_follows_the_tuned_routes)
{
	const char *root = getenv("QKV_SOURCE_ROOT");
	cr_assert(root);
	char args[1024];
	snprintf(args, sizeof(args),
	         "tune %s/configs/default.yaml --tokens 1,16,512 --min-time 0.02 --force --out "
	         "%s/m.yaml",
	         root, dir);
	cr_assert_eq(qkv(args), 0, "%s", slurp("err.txt"));
	char path[512];
	snprintf(path, sizeof(path), "%s/m.yaml", dir);
	struct qkv_backend_cfg bc;
	char err[512];
	cr_assert_eq(qkv_machine_load(path, &bc, err, sizeof(err)), QKV_OK, "%s", err);
	const size_t Ts[] = {1, 512};
	for (size_t i = 0; i < 2; i++) {
		const char *want = NULL;
		for (size_t r = 0; r < bc.n_routes; r++)
			if (bc.routes[r].precision == QKV_F32 && bc.routes[r].t_min <= Ts[i] &&
			    Ts[i] <= bc.routes[r].t_max)
				want = bc.routes[r].name;
		cr_assert(want, "no f32 route for T=%zu:\n%s", Ts[i], slurp("m.yaml"));
		snprintf(args, sizeof(args),
		         "run %s/configs/default.yaml --machine %s --tokens %zu", root, path,
		         Ts[i]);
		cr_assert_eq(qkv(args), 0, "%s", slurp("err.txt"));
		char needle[64];
		snprintf(needle, sizeof(needle), "backend=%s ", want);
		const char *out = slurp("out.txt");
		const char *all = strstr(out, "backend=") ? out : slurp("err.txt");
		cr_assert(strstr(all, needle), "T=%zu: tune chose %s, run said: %s", Ts[i], want,
		          all);
	}
	qkv_backend_cfg_free(&bc);
}

/* Issue 24: a route winner far slower on the budget's threads than the same backend on
 * one thread (a steady stall: spread cannot show it) is refused like a noisy row. */
Test(bench_cli, tune_refuses_a_row_stalled_by_its_threads, .init = setup, .fini = teardown)
{
	const char *slow = getenv("QKV_BENCH_SLOW_DIR");
	cr_assert(slow);
	setenv("QKV_TEST_STALL_THREADS", "1", 1);
	char args[1024];
	snprintf(args, sizeof(args),
	         "tune --preset tiny --tokens 1 --threads 2 --backend scalar --plugin-dir %s "
	         "--min-time 0.02 --out %s/m.yaml",
	         slow, dir);
	int rc = qkv(args);
	unsetenv("QKV_TEST_STALL_THREADS");
	const char *out = slurp("out.txt");
	cr_assert_eq(rc, 1, "tune wrote a profile from a stalled row: %s", out);
	cr_assert(strstr(out, "its threads waited for busy cores"), "%s", out);
	cr_assert(strstr(slurp("err.txt"), "ran far slower than on 1 thread"), "%s",
	          slurp("err.txt"));
}
