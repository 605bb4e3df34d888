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

bool bench_onednn_time(const struct bench_shape *s, const float *w, const struct bench_buffers *b,
                       unsigned precision, unsigned threads, double min_time,
                       struct bench_stats *st, char *detail, size_t dlen, char *err, size_t errlen)
{
	(void)s, (void)w, (void)b, (void)precision, (void)threads, (void)min_time, (void)st;
	(void)detail, (void)dlen;
	snprintf(err, errlen, "%s", bench_onednn_status());
	return false;
}
