#include "bench_stats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Linear interpolation between order statistics of a sorted sample. */
static double quantile(const double *s, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t i = (size_t)pos;
	if (i + 1 >= n)
		return s[n - 1];
	double f = pos - (double)i;
	return s[i] + f * (s[i + 1] - s[i]);
}

void bench_stats_compute(double *s, size_t n, struct bench_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	qsort(s, n, sizeof(*s), cmp_double);
	out->n = n;
	out->min = s[0];
	out->median = quantile(s, n, 0.5);
	out->p10 = quantile(s, n, 0.1);
	out->p90 = quantile(s, n, 0.9);
	out->max = s[n - 1];
	for (size_t i = n; i-- > 0 && s[i] > BENCH_STALL * out->median;)
		out->stalls++;
	double *dev = malloc(n * sizeof(*dev)); /* [n] |s - median| */
	if (!dev)
		return;
	for (size_t i = 0; i < n; i++)
		dev[i] = fabs(s[i] - out->median);
	qsort(dev, n, sizeof(*dev), cmp_double);
	out->mad = quantile(dev, n, 0.5);
	free(dev);
}

double bench_stats_spread(const struct bench_stats *st)
{
	return st->median > 0 ? (st->p90 - st->p10) / st->median : 0.0;
}

bool bench_stats_noisy(const struct bench_stats *st)
{
	return bench_stats_spread(st) > BENCH_NOISY_SPREAD ||
	       (double)st->stalls > BENCH_NOISY_STALLS * (double)st->n;
}

size_t bench_parse_sizes(const char *text, const char *what, size_t limit, size_t *v, size_t max,
                         char *err, size_t errlen)
{
	size_t n = 0;
	const char *p = text;
	while (p && *p) {
		char *end;
		errno = 0;
		unsigned long long x = strtoull(p, &end, 10);
		if (end == p || errno || x == 0 || x > limit || (*end && *end != ',') ||
		    *p == '-' || *p == '+') {
			snprintf(err, errlen,
			         "%s: `%s` is not a comma-separated list of integers in 1..%zu",
			         what, text, limit);
			return 0;
		}
		if (n == max) {
			snprintf(err, errlen, "%s: more than %zu values", what, max);
			return 0;
		}
		v[n++] = (size_t)x;
		p = *end ? end + 1 : end;
		if (*end && !*p) {
			snprintf(err, errlen, "%s: trailing comma in `%s`", what, text);
			return 0;
		}
	}
	if (n == 0)
		snprintf(err, errlen, "%s: empty list", what);
	return n;
}

void bench_strcpy(char *dst, size_t len, const char *src)
{
	if (!len)
		return;
	size_t n = strlen(src);
	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}
