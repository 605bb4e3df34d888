/* qkv_halfbuilt.so: a backend whose `prepare` fails after building part of its handle,
 * as the ABI allows ("release accepts NULL and half-built handles"). Its `release`
 * appends one line to the file QKV_TEST_RELEASE_LOG names, so a test can see that the
 * caller released what the failed prepare built (issue 21: bench_direct.c dropped it). */
#include <stdio.h>
#include <stdlib.h>

#include "test_plugin.h"

static void hb_probe(struct qkv_probe_result *out)
{
	test_plugin_probe_ok(out, "prepare always fails half-way");
}

static enum qkv_status hb_prepare(const struct qkv_problem *pb, const struct qkv_weights *w,
                                  void **handle, char *err, size_t errlen)
{
	(void)pb;
	(void)w;
	*handle = malloc(64); /* the part that was built before the failure */
	snprintf(err, errlen, "halfbuilt: failing after building part of the handle");
	return QKV_ERR_BACKEND;
}

static enum qkv_status hb_project(const void *h, const struct qkv_batch *b, char *err,
                                  size_t errlen)
{
	(void)h;
	(void)b;
	snprintf(err, errlen, "halfbuilt: never prepared");
	return QKV_ERR_BACKEND;
}

static void hb_release(void *h)
{
	const char *log = getenv("QKV_TEST_RELEASE_LOG");
	FILE *f = log ? fopen(log, "a") : NULL;
	if (f) {
		fprintf(f, "release %s\n", h ? "handle" : "NULL");
		fclose(f);
	}
	free(h);
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    QKV_BACKEND_FIELDS(hb, "halfbuilt", "0.0.1", QKV_PRECISION_BIT(QKV_F32)),
};
