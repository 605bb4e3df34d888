/* Timing and statistics for `qkv bench`: a monotonic clock, order statistics of a
 * sample of call times, and parsing of the comma-separated lists the options take. */
#ifndef QKV_TOOL_BENCH_STATS_H
#define QKV_TOOL_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>

/* Seconds from an arbitrary start (CLOCK_MONOTONIC). */
double bench_now(void);

/* Summary of n > 0 samples (seconds). Sorts `s` in place. */
struct bench_stats {
	double median, p10, p90, min, max, mad; /* mad: median absolute deviation */
	size_t n;
	size_t stalls; /* samples above BENCH_STALL x the median: a descheduled thread */
};
#define BENCH_STALL 5.0
/* A measurement the machine disturbed: p10-p90 spread above BENCH_NOISY_SPREAD of the
 * median, or more than BENCH_NOISY_STALLS of the samples stalled. */
#define BENCH_NOISY_SPREAD 0.5
#define BENCH_NOISY_STALLS 0.01
bool bench_stats_noisy(const struct bench_stats *st);
double bench_stats_spread(const struct bench_stats *st); /* (p90 - p10) / median */
void bench_stats_compute(double *s, size_t n, struct bench_stats *out);

/* Parse "1,16,128" into v[max]: positive integers no larger than `limit`. Returns the
 * count, or 0 and a message naming `what` in err when the text is not such a list. */
size_t bench_parse_sizes(const char *text, const char *what, size_t limit, size_t *v, size_t max,
                         char *err, size_t errlen);

/* Copy src into dst[len], truncating, always NUL-terminated. */
void bench_strcpy(char *dst, size_t len, const char *src);

#endif
