/* Row strides whose offsets do not fit 32 bits. */
#define _DEFAULT_SOURCE /* MAP_NORESERVE, MAP_ANONYMOUS */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <qkv/precision.h>

#include "conform_int.h"
#include "conform_list.h"
#include "conform_rng.h"

#define HUGE_PAD 16 /* sentinel floats checked before and after each row */

/* A sparse mapping of `rows` rows `ld` floats apart; only the pages the rows and their
 * pads touch get memory. NULL when the address space cannot be reserved. */
static float *sparse_rows(size_t rows, size_t width, size_t ld, size_t *len)
{
	*len = ((rows - 1) * ld + width + 2 * HUGE_PAD) * sizeof(float);
	void *m = mmap(NULL, *len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return m == MAP_FAILED ? NULL : (float *)m + HUGE_PAD;
}

struct huge {
	float *x, *y[3];
	size_t len_x, len_y[3];
};

static void huge_free(struct huge *h)
{
	if (h->x)
		munmap(h->x - HUGE_PAD, h->len_x);
	for (int p = 0; p < 3; p++)
		if (h->y[p])
			munmap(h->y[p] - HUGE_PAD, h->len_y[p]);
	memset(h, 0, sizeof(*h));
}

/* One call with ldx = ld_out = `ld`, checked row by row against the references. */
static bool huge_call(struct cf_setup *s, size_t ld, uint32_t threads, struct cf_report *r)
{
	size_t T = s->sh.T, K = s->sh.d_model;
	struct huge h;
	memset(&h, 0, sizeof(h));
	bool ok = (h.x = sparse_rows(T, K, ld, &h.len_x)) != NULL;
	for (int p = 0; ok && p < 3; p++)
		ok = (h.y[p] = sparse_rows(T, s->width[p], ld, &h.len_y[p])) != NULL;
	if (!ok) {
		huge_free(&h);
		return cf_fail(r, "harness: cannot reserve %zu GiB of address space",
		               (T * ld * sizeof(float)) >> 30);
	}
	for (size_t t = 0; t < T; t++) {
		memcpy(h.x + t * ld, s->x.p + t * s->x.ld, K * sizeof(float));
		for (int p = 0; p < 3; p++)
			cf_fill_sentinel(h.y[p] + t * ld - HUGE_PAD, s->width[p] + 2 * HUGE_PAD);
	}
	struct qkv_batch b = {
	    .struct_size = sizeof(b), .threads = threads, .T = T, .x = h.x, .ldx = ld};
	for (int p = 0; p < 3; p++) {
		b.out[p] = h.y[p];
		b.ld_out[p] = ld;
	}
	char err[256] = "";
	cf_progress("%s: project with ldx = ld_out = %zu floats (row offsets past 2^32 bytes), "
	            "threads %u",
	            s->desc, ld, threads);
	enum qkv_status st = s->be->project(s->handle, &b, err, sizeof(err));
	if (st != QKV_OK)
		ok = cf_fail(r, "%s: project with ldx = ld_out = %zu failed (status %d): %s",
		             s->desc, ld, (int)st, err);
	for (int p = 0; ok && p < 3; p++)
		for (size_t t = 0; ok && t < T; t++) {
			const float *row = h.y[p] + t * ld;
			for (size_t i = 1; ok && i <= HUGE_PAD; i++)
				if (!cf_is_sentinel(row[-(ptrdiff_t)i]) ||
				    !cf_is_sentinel(row[s->width[p] - 1 + i]))
					ok = cf_fail(
					    r,
					    "%s: with ld_out = %zu, a float next to row %zu of "
					    "%s was written",
					    s->desc, ld, t, qkv_proj_name((unsigned)p));
		}
	if (ok) { /* the values, through an output view with the huge stride */
		struct cf_out view;
		memset(&view, 0, sizeof(view));
		for (int p = 0; p < 3; p++)
			view.y[p] = (struct cf_gbuf){
			    .p = h.y[p], .rows = T, .width = s->width[p], .ld = ld};
		ok = cf_check_values(s, 0, &view, r);
		if (!ok) {
			size_t n = strlen(r->msg);
			snprintf(r->msg + n, sizeof(r->msg) - n,
			         " (ldx = ld_out = %zu: row offsets computed in 32 bits wrap)", ld);
		}
	}
	for (size_t t = 0; ok && t < T; t++)
		if (memcmp(h.x + t * ld, s->x.p + t * s->x.ld, K * sizeof(float)) != 0)
			ok = cf_fail(r, "%s: project wrote into X (row %zu, ldx = %zu)", s->desc, t,
			             ld);
	huge_free(&h);
	return ok;
}

/* Three rows 2^29 + 27 and then 2^31 + 27 floats apart in X and in every output (row 2
 * starts past 2^32 and then past 2^34 bytes): a backend computing row offsets as
 * `int` or `uint32_t` products (t * ldx) reads another row or faults. Only the pages the
 * rows touch are ever mapped in. */
void cf_case_huge_strides(const struct qkv_backend *be, int precision, uint64_t seed,
                          struct cf_report *r)
{
	(void)precision;
	static const struct cf_shape sh = {3, 24, 2, 1, 8};
	static const size_t lds[2] = {((size_t)1 << 29) + 27, ((size_t)1 << 31) + 27};
	struct cf_rng g = {seed};
	for (int p = 0; p < QKV_PRECISION_COUNT; p++) {
		if (!cf_declares(be, p))
			continue;
		struct cf_opts o = {.precision = (uint32_t)p, .threads = 2, .bias = true};
		struct cf_setup s;
		if (!cf_setup_init(&s, be, &sh, &o, cf_rng_next(&g), r))
			return;
		bool ok = true;
		for (int i = 0; ok && i < 2; i++)
			ok = huge_call(&s, lds[i], 1 + (uint32_t)i, r);
		cf_setup_free(&s);
		if (!ok)
			return;
	}
	snprintf(r->msg, sizeof(r->msg),
	         "row strides of 2^29 + 27 and 2^31 + 27 floats in X and outputs: right rows");
}
