/* A test backend that proves where its outputs go: every element it writes holds the
 * low 24 bits of its own address (exact in a float). If the core handed it a scratch
 * buffer and copied afterwards, the caller would see the scratch's addresses instead
 * of its own. Exports only the descriptor, like any backend. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_plugin.h"

static void spy_probe(struct qkv_probe_result *out)
{
	test_plugin_probe_ok(out, "test spy: writes each output's address");
}

static enum qkv_status spy_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                   void **handle, char *err, size_t errlen)
{
	(void)wt;
	*handle = NULL;
	if (pb->precision != QKV_F32) {
		snprintf(err, errlen, "spy: f32 only");
		return QKV_ERR_UNSUPPORTED;
	}
	struct qkv_problem *h = malloc(sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "spy: out of memory");
		return QKV_ERR_NOMEM;
	}
	*h = *pb;
	*handle = h;
	return QKV_OK;
}

static enum qkv_status spy_project(const void *handle, const struct qkv_batch *b, char *err,
                                   size_t errlen)
{
	(void)err;
	(void)errlen;
	const struct qkv_problem *pb = handle;
	for (int p = 0; p < 3; p++) {
		uint32_t width = p == QKV_Q ? pb->d_q : pb->d_kv;
		for (size_t t = 0; t < b->T; t++)
			for (uint32_t n = 0; n < width; n++) {
				float *y = b->out[p] + t * b->ld_out[p] + n;
				*y = (float)((uintptr_t)y & 0xffffffu);
			}
	}
	return QKV_OK;
}

static void spy_release(void *handle)
{
	free(handle);
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    QKV_BACKEND_FIELDS(spy, "spy", "1.0.0", QKV_PRECISION_BIT(QKV_F32)),
};
