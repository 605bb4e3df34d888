/* Guarded output buffers and report helpers. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conform_int.h"

/* A NaN bit pattern no arithmetic produces (canonical NaNs are 0x7fc00000). */
#define CF_SENTINEL 0x7fa5a5a5u

static char *progress_buf;
static size_t progress_len;

void cf_progress_set(char *buf, size_t len)
{
	progress_buf = buf;
	progress_len = len;
}

void cf_progress(const char *fmt, ...)
{
	if (!progress_buf || progress_len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(progress_buf, progress_len, fmt, ap);
	va_end(ap);
}

bool cf_fail(struct cf_report *r, const char *fmt, ...)
{
	if (r->result == CF_FAIL)
		return false;
	r->result = CF_FAIL;
	/* the error shown is the failing element's (check_one sets it after), not the
	 * worst of what passed before */
	r->worst_ratio = r->worst_err = r->worst_bound = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return false;
}

void cf_note_error(struct cf_report *r, double err, double bound)
{
	double ratio = bound > 0 ? err / bound : (err > 0 ? 1e300 : 0);
	if (ratio > r->worst_ratio ||
	    (r->worst_bound == 0 && bound > 0 && ratio >= r->worst_ratio)) {
		r->worst_ratio = ratio;
		r->worst_err = err;
		r->worst_bound = bound;
	}
}

bool cf_is_sentinel(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u == CF_SENTINEL;
}

static void fill_sentinel(float *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u = CF_SENTINEL;
		memcpy(&f[i], &u, sizeof(u));
	}
}

bool cf_gbuf_alloc(struct cf_gbuf *b, size_t rows, size_t width, size_t ld, bool unaligned)
{
	memset(b, 0, sizeof(*b));
	size_t span = rows ? (rows - 1) * ld + width : 0;
	b->total = span + 2 * CF_GUARD + 1;
	size_t bytes = (b->total * sizeof(float) + 63) / 64 * 64;
	b->base = aligned_alloc(64, bytes);
	if (!b->base)
		return false;
	fill_sentinel(b->base, b->total);
	b->p = b->base + CF_GUARD + (unaligned ? 1 : 0);
	b->rows = rows;
	b->width = width;
	b->ld = ld;
	return true;
}

bool cf_gbuf_alloc_paged(struct cf_gbuf *b, size_t rows, size_t width, size_t ld, bool at_end)
{
	memset(b, 0, sizeof(*b));
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t span = rows ? (rows - 1) * ld + width : 0;
	size_t pages = (span * sizeof(float) + page - 1) / page;
	pages = pages ? pages : 1;
	b->map_len = (pages + 2) * page;
	b->map = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		return false;
	}
	char *m = b->map;
	if (mprotect(m, page, PROT_NONE) != 0 ||
	    mprotect(m + (pages + 1) * page, page, PROT_NONE) != 0) {
		munmap(b->map, b->map_len);
		b->map = NULL;
		return false;
	}
	b->base = (float *)(void *)(m + page);
	b->total = pages * page / sizeof(float);
	fill_sentinel(b->base, b->total);
	b->p = at_end ? b->base + b->total - span : b->base;
	b->rows = rows;
	b->width = width;
	b->ld = ld;
	return true;
}

void cf_gbuf_free(struct cf_gbuf *b)
{
	if (b->map)
		munmap(b->map, b->map_len);
	else
		free(b->base);
	memset(b, 0, sizeof(*b));
}

/* Count changed floats in base[from, to); the first changed index in *first. */
static size_t changed(const struct cf_gbuf *b, size_t from, size_t to, size_t *first)
{
	size_t n = 0;
	for (size_t i = from; i < to; i++) {
		if (!cf_is_sentinel(b->base[i])) {
			if (n++ == 0)
				*first = i;
		}
	}
	return n;
}

bool cf_gbuf_check(const struct cf_gbuf *b, const char *name, struct cf_report *r, const char *ctx)
{
	size_t start = (size_t)(b->p - b->base), first = 0, n;
	n = changed(b, 0, start, &first);
	if (n)
		return cf_fail(r, "%s: wrote %zu float%s before %s[0] start (first at -%zu)", ctx,
		               n, n == 1 ? "" : "s", name, start - first);
	for (size_t t = 0; t + 1 < b->rows; t++) {
		size_t gap = start + t * b->ld + b->width, next = start + (t + 1) * b->ld;
		n = changed(b, gap, next, &first);
		if (n)
			return cf_fail(
			    r,
			    "%s: wrote %zu float%s into the gap after %s[%zu] (row stride "
			    "%zu, width %zu; first at +%zu past the row end)",
			    ctx, n, n == 1 ? "" : "s", name, t, b->ld, b->width, first - gap);
	}
	size_t end = b->rows ? start + (b->rows - 1) * b->ld + b->width : start;
	n = changed(b, end, b->total, &first);
	if (n) {
		if (b->rows == 0)
			return cf_fail(r, "%s: wrote %zu float%s into %s although T = 0", ctx, n,
			               n == 1 ? "" : "s", name);
		return cf_fail(r, "%s: wrote %zu float%s past %s[T-1] end (T=%zu; first at +%zu)",
		               ctx, n, n == 1 ? "" : "s", name, b->rows, first - end);
	}
	return true;
}

void cf_fill_sentinel(float *f, size_t n)
{
	fill_sentinel(f, n);
}
