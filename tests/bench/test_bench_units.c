/* Unit tests of the pieces of `qkv bench` that decide things: order statistics, list
 * parsing, the JSON round trip, and the baseline rule (slower by more than the
 * threshold beyond the noise). No timing is measured here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_baseline.h"
#include "bench_direct.h"
#include "bench_kernels.h"
#include "bench_plan.h"
#include "bench_report.h"
#include "bench_stats.h"

/* The read loop (the machine's read bandwidth) reads each value once, whatever the stream
 * count and remainder: small integers sum exactly in float. */
Test(bench_kernels, read_sum_reads_every_value_once)
{
	static float a[100003];
	double want = 0.0;
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		a[i] = (float)(i % 7 + 1);
	static const size_t ns[] = {0, 1, 31, 32, 33, 255, 4113, 100003};
	static const int streams[] = {1, 2, 3, 4, 6, 8};
	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		want = 0.0;
		for (size_t i = 0; i < ns[k]; i++)
			want += a[i];
		for (size_t s = 0; s < sizeof(streams) / sizeof(streams[0]); s++)
			cr_assert_eq((double)bench_read_sum(a, ns[k], streams[s]), want,
			             "n %zu, %d streams: %.1f, want %.1f", ns[k], streams[s],
			             (double)bench_read_sum(a, ns[k], streams[s]), want);
	}
}

Test(bench_stats, order_statistics_match_hand_values)
{
	double s[] = {5, 1, 4, 2, 3};
	struct bench_stats st;
	bench_stats_compute(s, 5, &st);
	cr_assert_float_eq(st.median, 3.0, 1e-12);
	cr_assert_float_eq(st.p10, 1.4, 1e-12); /* 1 + 0.4 * (2 - 1) */
	cr_assert_float_eq(st.p90, 4.6, 1e-12);
	cr_assert_float_eq(st.min, 1.0, 1e-12);
	cr_assert_float_eq(st.mad, 1.0, 1e-12); /* |x - 3| = 2,2,1,1,0 */
	cr_assert_eq(st.n, 5);
	double one = 7;
	bench_stats_compute(&one, 1, &st);
	cr_assert_float_eq(st.median, 7.0, 1e-12);
	cr_assert_float_eq(st.p90 - st.p10, 0.0, 1e-12);
}

Test(bench_stats, size_lists_are_checked)
{
	size_t v[4];
	char err[256];
	cr_assert_eq(bench_parse_sizes("1,16,128", "--tokens", 1000, v, 4, err, sizeof(err)), 3);
	cr_assert_eq(v[0], 1);
	cr_assert_eq(v[2], 128);
	const char *bad[] = {"", "0", "1,,2", "1,", "-1", "x", "2000", "1,2,3,4,5", "1.5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_eq(bench_parse_sizes(bad[i], "--tokens", 1000, v, 4, err, sizeof(err)), 0,
		             "`%s` accepted", bad[i]);
		cr_assert(strstr(err, "--tokens"), "message for `%s` does not name the option: %s",
		          bad[i], err);
	}
}

/* A result with one backend row and one reference row at T = 8. */
static void make_result(struct bench_result *r, double median, double spread)
{
	memset(r, 0, sizeof(*r));
	r->cap = r->n = 2;
	r->rows = calloc(2, sizeof(*r->rows));
	bench_shape_preset("tiny", &r->shape);
	const char *names[2] = {"blas", "cblas_sgemm"};
	for (int i = 0; i < 2; i++) {
		struct bench_row *row = &r->rows[i];
		snprintf(row->backend, sizeof(row->backend), "%s", names[i]);
		row->precision = QKV_F32;
		snprintf(row->status, sizeof(row->status), "ok");
		row->kind = i ? BENCH_REFERENCE : BENCH_BACKEND;
		row->ok = true;
		row->T = 8;
		row->threads = 2;
		row->st.n = 10;
		row->st.median = i ? 1e-3 : median;
		row->st.p10 = row->st.median - spread / 2;
		row->st.p90 = row->st.median + spread / 2;
		row->st.mad = spread / 2;
	}
}

static const struct bench_machine test_machine = {
    .cpu = "Test CPU \"quoted\"", .flags = "avx2 fma", .cores = 2, .n = 1};

static void write_baseline(const char *path, double median, double spread)
{
	struct bench_result r;
	make_result(&r, median, spread);
	struct bench_machine m = test_machine;
	m.threads[0] = 1;
	m.peak_gflops[0] = 100;
	m.read_gbs[0] = 20;
	struct bench_plan p = {.min_time = 0.3};
	FILE *f = fopen(path, "w");
	cr_assert(f);
	cr_assert(bench_report_json(f, &r, &m, &p, "qkv bench --test"));
	cr_assert_eq(fclose(f), 0);
	free(r.rows);
}

Test(bench_baseline, json_round_trip_keeps_keys_and_times)
{
	char path[] = "/tmp/qkv-bench-test-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	write_baseline(path, 2e-3, 1e-4);
	struct bench_baseline b;
	char err[256];
	cr_assert(bench_baseline_load(path, &b, err, sizeof(err)), "%s", err);
	cr_assert_eq(b.n, 2);
	cr_assert_str_eq(b.rows[0].key, "blas/f32/T=8/threads=2");
	cr_assert_str_eq(b.rows[1].key, "cblas_sgemm/f32/T=8/threads=2");
	cr_assert(b.rows[0].ok);
	cr_assert_float_eq(b.rows[0].median, 2e-3, 1e-12);
	cr_assert_float_eq(b.rows[0].p90 - b.rows[0].p10, 1e-4, 1e-12);
	cr_assert_float_eq(b.rows[0].mad, 5e-5, 1e-12);
	cr_assert_float_eq(b.rows[0].reps, 10, 1e-12);
	cr_assert_str_eq(b.cpu, "Test CPU \"quoted\"");
	cr_assert(!b.rows[0].reference && b.rows[1].reference);
	cr_assert_float_eq(b.dims[0], 64, 0); /* the tiny preset */
	bench_baseline_free(&b);
	unlink(path);
}

/* Rows of a result made with make_result compared with a baseline; shape and machine
 * may differ from the baseline's. Returns bench_baseline_compare's count (-1: refused). */
static long compare_layout(double old_med, double old_spread, double new_med, double new_spread,
                           double threshold, bool gate_all, const char *preset, const char *cpu,
                           const char *layout)
{
	char path[] = "/tmp/qkv-bench-test-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	write_baseline(path, old_med, old_spread);
	struct bench_baseline b;
	char err[256];
	cr_assert(bench_baseline_load(path, &b, err, sizeof(err)), "%s", err);
	struct bench_result r;
	make_result(&r, new_med, new_spread);
	bench_shape_preset(preset, &r.shape);
	struct bench_machine m = test_machine;
	bench_strcpy(m.cpu, sizeof(m.cpu), cpu);
	FILE *out = fopen("/dev/null", "w");
	long n = bench_baseline_compare(&b, &r, &m, layout, threshold, gate_all, out);
	fclose(out);
	free(r.rows);
	bench_baseline_free(&b);
	unlink(path);
	return n;
}

/* The same, this run's weights in_out like write_baseline's. */
static long compare(double old_med, double old_spread, double new_med, double new_spread,
                    double threshold, bool gate_all, const char *preset, const char *cpu)
{
	return compare_layout(old_med, old_spread, new_med, new_spread, threshold, gate_all, preset,
	                      cpu, "in_out");
}

static long regressions(double old_med, double old_spread, double new_med, double new_spread,
                        double threshold)
{
	return compare(old_med, old_spread, new_med, new_spread, threshold, false, "tiny",
	               test_machine.cpu);
}

/* Issue 15 point 9: only rows of the same shape and machine are compared, and the
 * reference rows (library calls) do not gate unless asked. make_result's reference row
 * keeps 1 ms; its backend row goes from old_med to new_med. */
Test(bench_baseline, matches_shape_and_machine_and_gates_backend_rows)
{
	cr_assert_eq(compare(1e-3, 0, 1e-3, 0, 10, false, "gpt2-small", test_machine.cpu), -1,
	             "another shape compared");
	cr_assert_eq(compare(1e-3, 0, 1e-3, 0, 10, false, "tiny", "Other CPU"), -1,
	             "another machine compared");
	cr_assert_eq(compare(1e-3, 0, 1e-3, 0, 10, false, "tiny", test_machine.cpu), 0);
	/* Issue 26 item 8: a run of the other layout is not compared with the baseline. */
	cr_assert_eq(
	    compare_layout(1e-3, 0, 1e-3, 0, 10, false, "tiny", test_machine.cpu, "out_in"), -1,
	    "another layout compared");
	/* reference row slower: not gated by default, gated with gate_all */
	char path[] = "/tmp/qkv-bench-test-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	write_baseline(path, 1e-3, 0);
	struct bench_baseline b;
	char err[256];
	cr_assert(bench_baseline_load(path, &b, err, sizeof(err)), "%s", err);
	struct bench_result r;
	make_result(&r, 1e-3, 0);
	r.rows[1].st.median = 5e-3; /* the cblas_sgemm reference row, 5x slower */
	FILE *out = fopen("/dev/null", "w");
	cr_assert_eq(bench_baseline_compare(&b, &r, &test_machine, "in_out", 10, false, out), 0);
	cr_assert_eq(bench_baseline_compare(&b, &r, &test_machine, "in_out", 10, true, out), 1);
	fclose(out);
	free(r.rows);
	bench_baseline_free(&b);
	unlink(path);
}

Test(bench_baseline, threshold_beyond_noise)
{
	/* 1 ms before; 10% threshold: limit = 1.1 ms + noise. */
	cr_assert_eq(regressions(1e-3, 0, 1.05e-3, 0, 10), 0, "5% slower flagged");
	cr_assert_eq(regressions(1e-3, 0, 1.15e-3, 0, 10), 1, "15% slower not flagged");
	cr_assert_eq(regressions(1e-3, 0, 0.5e-3, 0, 10), 0, "faster flagged");
	/* 15% slower but MAD 0.1 ms over 10 calls in both runs: noise = 3 * sqrt(2) * 1.86 *
	 * 0.1 / sqrt(10) = 0.25 ms, limit 1.35 ms. */
	cr_assert_eq(regressions(1e-3, 2e-4, 1.15e-3, 2e-4, 10), 0, "noise not credited");
	cr_assert_eq(regressions(1e-3, 2e-4, 1.5e-3, 2e-4, 10), 1, "50% slower not flagged");
	cr_assert_eq(regressions(1e-3, 0, 1.15e-3, 0, 20), 0, "threshold ignored");
}

Test(bench_baseline, malformed_files_are_refused_with_a_line)
{
	const char *texts[] = {"{\"rows\": [ {\"key\": \"a\", \"median_s\": 1,\n ]}",
	                       "[1, 2]",
	                       "{\"rows\": [{\"median_s\": 1}]}",
	                       "{\"rows\": []}",
	                       "{\"rows\": [{\"key\": \"a\"}]} trailing",
	                       "{\"rows\": [{\"key\": \"a"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char path[] = "/tmp/qkv-bench-test-XXXXXX";
		int fd = mkstemp(path);
		cr_assert(fd >= 0);
		FILE *f = fdopen(fd, "w");
		fputs(texts[i], f);
		fclose(f);
		struct bench_baseline b;
		char err[256] = "";
		cr_assert(!bench_baseline_load(path, &b, err, sizeof(err)), "accepted: %s",
		          texts[i]);
		cr_assert(strstr(err, path), "message does not name the file: %s", err);
		unlink(path);
	}
	struct bench_baseline b;
	char err[256];
	cr_assert(!bench_baseline_load("/nonexistent/x.json", &b, err, sizeof(err)));
	cr_assert(strstr(err, "/nonexistent/x.json"));
}

/* Issue 21: a failed `prepare` may leave a half-built handle, which the caller must
 * release (plugin.h). qkv_halfbuilt.so's release leaves a line in QKV_TEST_RELEASE_LOG. */
Test(bench_direct, failed_prepare_releases_the_half_built_handle)
{
	char log[] = "/tmp/qkv-release-log-XXXXXX";
	int fd = mkstemp(log);
	cr_assert(fd >= 0);
	close(fd);
	setenv("QKV_PLUGIN_PATH", QKV_HALFBUILT_DIR, 1);
	setenv("QKV_TEST_RELEASE_LOG", log, 1);
	struct bench_shape s;
	cr_assert(bench_shape_preset("tiny", &s));
	struct bench_weights w;
	struct bench_buffers b;
	memset(&w, 0, sizeof(w));
	memset(&b, 0, sizeof(b));
	char err[256] = "";
	void *c = bench_direct_prepare("halfbuilt", &s, &w, 0, 0, &b, 1, err, sizeof(err));
	cr_assert_null(c);
	cr_assert(strstr(err, "halfbuilt: failing"), "%s", err);
	FILE *f = fopen(log, "r");
	char line[64] = "";
	cr_assert(f);
	cr_assert(fgets(line, sizeof(line), f), "release was not called");
	fclose(f);
	cr_assert_str_eq(line, "release handle\n");
	unlink(log);
	unsetenv("QKV_PLUGIN_PATH");
	unsetenv("QKV_TEST_RELEASE_LOG");
}

/* Every reference kind runs on exactly its row's thread count, 1 then 2 (the order that
 * hid the defect: OpenBLAS's OpenMP build leaves the caller's team size at the last
 * row's count, and oneDNN fixed its team at creation under it). Counted from each
 * thread's CPU clock, so a busy machine slows the threads but does not hide them. */
Test(bench_reference, rows_run_on_their_thread_count, .timeout = 240)
{
	setenv("QKV_PLUGIN_PATH", "/nonexistent-qkv-test", 1); /* references only */
	struct bench_plan p = {.T = {1, 128},
	                       .nT = 2,
	                       .threads = {1, 2, 1},
	                       .nthreads = 3,
	                       .nbackends = 1,
	                       .precisions =
	                           QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_INT8),
	                       .min_time = 0.05,
	                       .max_call = 10,
	                       .references = true,
	                       .quiet = true};
	snprintf(p.backends[0], sizeof(p.backends[0]), "none");
	cr_assert(bench_shape_preset("gpt2-small", &p.shape));
	struct bench_machine m = {.cores = 2,
	                          .n = 1,
	                          .threads = {1},
	                          .peak_gflops = {1},
	                          .read_gbs = {1},
	                          .peak_int8_gops = {1}};
	struct bench_result r;
	char err[512] = "";
	cr_assert(bench_plan_run(&p, &m, &r, err, sizeof(err)), "%s", err);
	size_t checked = 0;
	for (size_t i = 0; i < r.n; i++) {
		const struct bench_row *row = &r.rows[i];
		if (row->kind != BENCH_REFERENCE)
			continue;
		cr_assert(row->ok, "%s T=%zu threads=%u: %s", row->backend, row->T, row->threads,
		          row->status);
		cr_expect_eq(row->threads_busy, row->threads,
		             "%s T=%zu asked for %u thread(s), %u worked (CPU/wall %.2f)",
		             row->backend, row->T, row->threads, row->threads_busy,
		             row->cpu_per_wall);
		checked++;
	}
	cr_assert_geq(checked, 3 * 3, "only %zu reference rows", checked); /* sgemm, sgemv, f32 */
	bench_result_free(&r);
	unsetenv("QKV_PLUGIN_PATH");
}
