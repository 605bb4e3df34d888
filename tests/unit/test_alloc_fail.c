/* Allocation-failure loop (SQLite style): fail allocation 1, 2, 3, ... of
 * open + project + close until a run completes without reaching the failure. Every run
 * that hit the failure must either fail cleanly (a status and a message, *out NULL) or,
 * when the code could do without that allocation, succeed with the exact results.
 * Leaks: each run must hand back every byte to malloc (mallinfo2 after a warm-up run, with
 * glibc's per-thread cache off so the count is exact; plain glibc only), and the ASan and
 * valgrind runs (tools/check-*.sh) check every leak. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkv/qkv.h>

#include "conform_heap.h"
#include "test_model.h"
#include "util.h"

#define T 3
#define D 4   /* d_model of tests/corpus/config/ok.yaml */
#define DQ 4  /* 2 heads of 2 */
#define DKV 2 /* 1 KV head */
#define MAX_RUNS 100000

static char config[512];
static float x[T * D]; /* [T x D] */

struct result {
	float q[T * DQ], k[T * DKV], v[T * DKV];
};

static void setup(void)
{
	snprintf(config, sizeof(config), "%s/tests/corpus/config/ok.yaml", QKV_SOURCE_ROOT);
	for (int i = 0; i < T * D; i++)
		x[i] = (float)(i % 5) - 1.5f;
}

/* open + project + close; the status of the first failing step. */
static enum qkv_status sequence(const char *backend, struct result *r, char *err, size_t errlen)
{
	struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
	o.backend = backend;
	o.strict = 1;
	qkv_model *m = (qkv_model *)1;
	enum qkv_status st = qkv_model_open(config, &o, &m, err, errlen);
	if (st != QKV_OK) {
		cr_expect_null(m, "*out not NULL after a failed open");
		return st;
	}
	memset(r, 0, sizeof(*r));
	st = qkv_project(m, T, x, D, r->q, DQ, r->k, DKV, r->v, DKV, err, errlen);
	qkv_model_close(m);
	return st;
}

/* glibc's tcache keeps freed chunks counted as in use, so heap counts drift by a few
 * hundred bytes between identical runs: the binary starts again once with the tcache off
 * (tools/conform/conform_heap.h). Not under ASan or valgrind: their allocators replace
 * glibc's, and they find leaks themselves. */
__attribute__((constructor)) static void exact_heap(void)
{
	cf_heap_exact_reexec();
}

static bool heap_counts_exact(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return false;
#else
	return cf_heap_exact();
#endif
}

static size_t heap_in_use(void)
{
	return heap_counts_exact() ? cf_heap_in_use() : 0;
}

/* The loop for one backend, with sticky (every later allocation fails too) or single
 * failures. */
static void loop(const char *backend, bool sticky)
{
	char err[512];
	struct result want, got;
	qkv_alloc_fail_at(0, false);
	enum qkv_status st = sequence(backend, &want, err, sizeof(err));
	cr_assert_eq(st, QKV_OK, "%s without faults: %s", backend, err);
	size_t heap = heap_in_use(); /* after the warm-up: lazily made runtime state exists */
	cr_assert_eq(sequence(backend, &want, err, sizeof(err)), QKV_OK, "%s", err);
	cr_expect_eq(heap_in_use(), heap, "%s: a clean run leaked %zu bytes", backend,
	             heap_in_use() - heap);

	unsigned long n;
	unsigned long failed = 0, recovered = 0, misreported = 0;
	for (n = 1; n < MAX_RUNS; n++) {
		heap = heap_in_use();
		err[0] = '\0';
		qkv_alloc_fail_at(n, sticky);
		st = sequence(backend, &got, err, sizeof(err));
		unsigned long attempted = qkv_alloc_count();
		qkv_alloc_fail_at(0, false);
		cr_expect_eq(heap_in_use(), heap, "%s: allocation %lu%s failing leaked %zu bytes",
		             backend, n, sticky ? "+" : "", heap_in_use() - heap);
		if (attempted < n) { /* the failure point was never reached: done */
			cr_expect_eq(st, QKV_OK, "%s: run %lu did not hit a fault but failed: %s",
			             backend, n, err);
			break;
		}
		if (st == QKV_OK) {
			recovered++;
			cr_expect(memcmp(&got, &want, sizeof(got)) == 0,
			          "%s: allocation %lu failed, the call succeeded, results differ",
			          backend, n);
			continue;
		}
		failed++;
		cr_expect(err[0] != '\0', "%s: allocation %lu: status %s with no message", backend,
		          n, qkv_status_str(st));
		/* Reported as something else ("not found"): misleading but clean; logged
		 * for the owner of that code rather than failing the suite. */
		if (st != QKV_ERR_NOMEM && !strstr(err, "memory")) {
			misreported++;
			cr_log_info("%s: allocation %lu failing reported as %s: %s", backend, n,
			            qkv_status_str(st), err);
		}
	}
	cr_expect_lt(n, MAX_RUNS, "never finished");
	cr_expect_gt(failed, 0, "no allocation failure was ever reported");
	cr_log_info("%s (%s): %lu allocations, %lu runs failed cleanly (%lu not as NOMEM), "
	            "%lu recovered; heap counts %s",
	            backend, sticky ? "sticky" : "single", n - 1, failed, misreported, recovered,
	            heap_counts_exact() ? "exact" : "not checked (ASan/valgrind check leaks)");
}

TestSuite(alloc_fail, .init = setup, .timeout = 120);

Test(alloc_fail, scalar_single)
{
	loop("scalar", false);
}

Test(alloc_fail, scalar_sticky)
{
	loop("scalar", true);
}

/* The in-memory open allocates too (model, log, prepared handle). */
Test(alloc_fail, open_memory_sticky)
{
	static float wq[D * DQ], wk[D * DKV], wv[D * DKV];
	struct qkv_model_desc d = test_model_desc(D, 2, 1, 0, QKV_LAYOUT_IN_OUT, wq, wk, wv);
	d.precision = QKV_F32;
	d.prefer = "scalar";
	char err[512];
	unsigned long n;
	for (n = 1; n < MAX_RUNS; n++) {
		qkv_model *m = (qkv_model *)1;
		qkv_alloc_fail_at(n, true);
		enum qkv_status st = qkv_model_open_memory(&d, &m, err, sizeof(err));
		unsigned long attempted = qkv_alloc_count();
		qkv_alloc_fail_at(0, false);
		if (st == QKV_OK)
			qkv_model_close(m);
		else
			cr_expect_null(m);
		if (attempted < n) {
			cr_expect_eq(st, QKV_OK, "%s", err);
			break;
		}
	}
	cr_expect_lt(n, MAX_RUNS);
}

/* The checkpoint forms of issue 17 (tests/corpus/model, the same shape as ok.yaml): a GGUF
 * file with dimensions from its metadata and {layer} names, a sharded index, and a fused
 * tensor split by head groups (every slice copied). */
static void loop_model(const char *name, bool sticky)
{
	snprintf(config, sizeof(config), "%s/tests/corpus/model/%s", QKV_SOURCE_ROOT, name);
	loop("scalar", sticky);
}

Test(alloc_fail, gguf_layer_sticky)
{
	loop_model("gguf_ok.yaml", true);
}

Test(alloc_fail, sharded_index_sticky)
{
	loop_model("index_ok.yaml", true);
}

Test(alloc_fail, fused_heads_single_and_sticky)
{
	loop_model("fused_heads_ok.yaml", false);
	loop_model("fused_heads_ok.yaml", true);
}
