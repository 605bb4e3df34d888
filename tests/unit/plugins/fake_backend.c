/* A backend with one configurable defect, for the registry's refusal tests.
 * Built several times by meson.build with one -DFAKE_* flag each. It computes
 * nothing useful: the registry must refuse it before any call, or (FAKE_OK) select it. */
#include <stdio.h>

#include <qkv/plugin.h>

/* Some variants leave functions unreferenced on purpose. */
#define FAKE_FN static __attribute__((unused))

#ifndef FAKE_NAME
#define FAKE_NAME "fake"
#endif

FAKE_FN void fake_probe(struct qkv_probe_result *out)
{
#ifdef FAKE_PROBE_REFUSES
	out->score = 0;
	snprintf(out->detail, sizeof(out->detail), "needs the imaginary ISA extension xyz");
#else
	out->score = 1;
	snprintf(out->detail, sizeof(out->detail), "fake backend for tests");
#endif
}

FAKE_FN enum qkv_status fake_prepare(const struct qkv_problem *pb, const struct qkv_weights *w,
                                     void **handle, char *err, size_t errlen)
{
	(void)pb;
	(void)w;
	*handle = NULL;
#ifdef FAKE_PREPARE_FAILS
	snprintf(err, errlen, "fake: refusing to prepare");
	return QKV_ERR_BACKEND;
#elif defined(FAKE_PREPARE_UNSUPPORTED)
	snprintf(err, errlen, "fake: this machine lacks what the precision needs");
	return QKV_ERR_UNSUPPORTED;
#else
	(void)err;
	(void)errlen;
	return QKV_OK;
#endif
}

FAKE_FN enum qkv_status fake_project(const void *h, const struct qkv_batch *b, char *err,
                                     size_t errlen)
{
	(void)h;
	(void)b;
	snprintf(err, errlen, "fake: computes nothing");
	return QKV_ERR_BACKEND;
}

FAKE_FN void fake_release(void *h)
{
	(void)h;
}

#ifndef FAKE_NO_SYMBOL
QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
#ifdef FAKE_ABI_MAJOR
    .abi_major = FAKE_ABI_MAJOR,
#else
    .abi_major = QKV_PLUGIN_ABI_MAJOR,
#endif
    .abi_minor = QKV_PLUGIN_ABI_MINOR,
#ifdef FAKE_SHORT_STRUCT
    .struct_size = 24,
#else
    .struct_size = sizeof(struct qkv_backend),
#endif
    .precisions = QKV_PRECISION_BIT(QKV_F32),
    .name = FAKE_NAME,
    .version = "0.0.1",
    .probe = fake_probe,
    .prepare = fake_prepare,
#ifndef FAKE_NULL_PROJECT
    .project = fake_project,
#endif
    .release = fake_release,
};
#else
/* Exports something, just not the entry symbol. */
QKV_PLUGIN_EXPORT int qkv_backend_descriptr = 1;
#endif
