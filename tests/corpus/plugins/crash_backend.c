/* A well-formed backend whose `project` crashes (SIGILL), as a buggy or hostile plugin
 * would. The core cannot contain a crash inside plugin code; the corpus test checks it
 * is reported as that backend's failure (Criterion runs each test in its own process)
 * and that the core refuses bad arguments before they ever reach a plugin. */
#include <signal.h>
#include <stdlib.h>

#include "test_plugin.h"

static void crash_probe(struct qkv_probe_result *out)
{
	test_plugin_probe_ok(out, "");
}

static enum qkv_status crash_prepare(const struct qkv_problem *pb, const struct qkv_weights *w,
                                     void **handle, char *err, size_t errlen)
{
	(void)pb;
	(void)w;
	(void)err;
	(void)errlen;
	*handle = malloc(1);
	return *handle ? QKV_OK : QKV_ERR_NOMEM;
}

static enum qkv_status crash_project(const void *h, const struct qkv_batch *b, char *err,
                                     size_t errlen)
{
	(void)h;
	(void)err;
	(void)errlen;
	if (b->T > 0)
		raise(SIGILL); /* SIGILL: sanitizers leave it to the default action */
	return QKV_OK;
}

static void crash_release(void *h)
{
	free(h);
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    QKV_BACKEND_FIELDS(crash, "corpus_crash", "0", QKV_PRECISION_BIT(QKV_F32)),
};
