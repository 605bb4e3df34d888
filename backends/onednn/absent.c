/* Built as qkv_onednn.so in place of the real backend when oneDNN was not built
 * (meson option onednn disabled, or libdnnl not found): `qkv info` then lists onednn
 * as unusable with the reason, and a config asking for it gets that reason instead of
 * "no such backend". Computes nothing. */
#include <stdio.h>

#include <qkv/backend_util.h>

#ifndef ONEDNN_ABSENT_REASON
#define ONEDNN_ABSENT_REASON "not built"
#endif

static void absent_probe(struct qkv_probe_result *out)
{
	out->score = 0;
	snprintf(out->detail, sizeof(out->detail),
	         "absent: %s; install libdnnl-dev (tools/install-deps.sh) and rebuild",
	         ONEDNN_ABSENT_REASON);
}

static enum qkv_status absent_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                      void **handle, char *err, size_t errlen)
{
	(void)pb;
	(void)wt;
	*handle = NULL;
	if (err && errlen)
		snprintf(err, errlen, "onednn: absent: %s", ONEDNN_ABSENT_REASON);
	return QKV_ERR_UNSUPPORTED;
}

static enum qkv_status absent_project(const void *handle, const struct qkv_batch *b, char *err,
                                      size_t errlen)
{
	(void)handle;
	(void)b;
	if (err && errlen)
		snprintf(err, errlen, "onednn: absent: %s", ONEDNN_ABSENT_REASON);
	return QKV_ERR_UNSUPPORTED;
}

static void absent_release(void *handle)
{
	(void)handle;
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    QKV_BACKEND_FIELDS(absent, "onednn", "absent",
                       QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_INT8)),
};
