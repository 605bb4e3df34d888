#include "bench_progress.h"

#include <stdio.h>
#include <unistd.h>

#include "bench_stats.h"

/* The CLI runs one progress display at a time; this state belongs to it. */
static struct {
	size_t total, done;
	bool tty, quiet, drawn;
	double start;
} pg;

void bench_progress_start(size_t total, bool quiet)
{
	pg.total = total;
	pg.done = 0;
	pg.tty = isatty(STDERR_FILENO);
	pg.quiet = quiet;
	pg.drawn = false;
	pg.start = bench_now();
}

void bench_progress_step(const char *label)
{
	pg.done++;
	if (pg.quiet)
		return;
	double el = bench_now() - pg.start;
	if (!pg.tty) {
		fprintf(stderr, "bench: [%zu/%zu] %s (%.1f s)\n", pg.done, pg.total, label, el);
		return;
	}
	enum { WIDTH = 30 };
	char bar[WIDTH + 1];
	size_t fill = pg.total ? (pg.done - 1) * WIDTH / pg.total : 0;
	for (size_t i = 0; i < WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[WIDTH] = '\0';
	fprintf(stderr, "\r\033[K[%s] %zu/%zu %.1fs %s", bar, pg.done, pg.total, el, label);
	fflush(stderr);
	pg.drawn = true;
}

void bench_progress_end(void)
{
	if (pg.drawn)
		fprintf(stderr, "\r\033[K");
	pg.drawn = false;
}

void bench_log(const char *msg)
{
	if (pg.drawn)
		fprintf(stderr, "\r\033[K");
	fprintf(stderr, "bench: %s\n", msg);
	pg.drawn = false;
}
