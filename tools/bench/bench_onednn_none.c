/* Built when oneDNN was not found (or `-Donednn=disabled`): no oneDNN rows. */
#include "bench_onednn.h"

#include <stdio.h>

bool bench_onednn_supports(unsigned precision)
{
	(void)precision;
	return false;
}

const char *bench_onednn_status(void)
{
	return "not built (oneDNN, Debian package libdnnl-dev, was not found at build time; "
	       "meson option -Donednn)";
}

void *bench_onednn_prepare(const struct bench_shape *s, const float *w,
                           const struct bench_buffers *b, unsigned precision, unsigned threads,
                           char *detail, size_t dlen, char *err, size_t errlen)
{
	(void)s, (void)w, (void)b, (void)precision, (void)threads, (void)detail, (void)dlen;
	snprintf(err, errlen, "%s", bench_onednn_status());
	return NULL;
}

int bench_onednn_call(void *ctx, size_t buf, char *err, size_t errlen)
{
	(void)ctx, (void)buf;
	snprintf(err, errlen, "%s", bench_onednn_status());
	return 1;
}

void bench_onednn_free(void *ctx)
{
	(void)ctx;
}
