/* The int8 backend: docs/DESIGN.md's int8 scheme with packed weights and SIMD kernels.
 *
 *   prepare: pick the kernel for this CPU (dispatch.c); quantize each W column (or take
 *            w_i8 + w_scale), repack q|k|v fused into panels of the kernel's nr
 *            columns (pack.c).
 *   project: quantize each X row into a per-call buffer in the kernel's X layout, exact
 *            int32 products per mr x nr block, then y = ((float)acc * sx) * sw + b,
 *            the order of qkv_int8_dequant, so results equal the scalar reference.
 * Work is split over OpenMP threads by (panel, row block) tasks, panel outer: the
 * weights are streamed from memory once per call, each thread reading its own panels.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QKV_BACKEND_NAME "int8"
#include <qkv/backend_util.h>
#include <qkv/plugin.h>
#include <qkv/precision.h>

#include "kernel.h"
#include "pack.h"

/* rows of X kept hot while the panels stream past (rounded down to a multiple of the
 * kernel's mr) */
#define INT8_MB 64

/* rows quantized per pass: bounds the per-call scratch (8 MB at d_model 4096) */
#define INT8_TCHUNK 1024

/* row blocks from which a task runs all of k in one kernel call per row group (kc = 0):
 * with this many blocks of the same panel in a row the panel is in L2 for all but the
 * first, and slicing k would only add accumulator round trips (T >= 256 2-3 % faster on
 * a Zen 5; below, the slices keep the panel in L1 while it arrives from memory) */
#define INT8_WHOLE_K_BLOCKS 4

/* multiply-adds per thread below which another thread does not pay for its wake-up */
#define INT8_MIN_WORK ((size_t)1 << 20)

struct int8_handle {
	struct qkv_problem pb;
	const struct int8_kernel *kern;
	struct int8_weights w;
};

static void int8_release(void *h)
{
	struct int8_handle *s = h;
	if (!s)
		return;
	int8_weights_free(&s->w);
	free(s);
}

static void int8_memory(const void *h, struct qkv_handle_memory *out)
{
	const struct int8_weights *w = &((const struct int8_handle *)h)->w;
	size_t cols = w->n_panels * w->nr;
	out->keeps_weights = 0; /* packed int8 panels, scales, biases and sums are copies */
	out->bytes_made = w->panels_bytes + cols * (2 * sizeof(float) + sizeof(int32_t)) +
	                  sizeof(struct int8_handle);
}

static enum qkv_status int8_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                    void **handle, char *err, size_t errlen)
{
	*handle = NULL;
	if (!pb || !wt)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "NULL problem or weights");
	if (!QKV_HAS_MEMBER(pb, struct qkv_problem, threads) ||
	    !QKV_HAS_MEMBER(wt, struct qkv_weights, w_scale))
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
		                        "problem or weights struct_size below ABI 1.0's");
	if (pb->precision != QKV_INT8)
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED,
		                        "only precision int8 is supported");
	if (pb->d_model > QKV_INT8_MAX_D_MODEL)
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED,
		                        "d_model above %u could overflow the int32 accumulator",
		                        QKV_INT8_MAX_D_MODEL);
	struct int8_handle *s = calloc(1, sizeof(*s));
	if (!s)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	*handle = s;
	s->pb = *pb;
	char why[256];
	const struct qkv_kernel_row *row = int8_kernel_select(why, sizeof(why));
	if (!row)
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED, "%s", why);
	s->kern = row->set;
	return int8_weights_pack(pb, wt, s->kern, pb->threads, &s->w, err, errlen);
}

/* The run of columns from n (< n_end) that lies in one projection: its length; *p is
 * the projection, *p0 its first fused column. Panels may straddle the q|k|v seams. */
static size_t proj_run(const struct int8_handle *s, size_t n, size_t n_end, int *p, size_t *p0)
{
	*p = int8_fused_proj(&s->pb, n, p0);
	size_t p_end = *p0 + qkv_out_width(&s->pb, *p);
	return (p_end < n_end ? p_end : n_end) - n;
}

/* Last column + 1 of a panel that exists (N is padded to whole panels). */
static size_t panel_end(const struct int8_handle *s, size_t panel)
{
	size_t n_end = (panel + 1) * s->w.nr;
	return n_end < s->w.n ? n_end : s->w.n;
}

/* Rescale one mr x nr block and write the columns that exist, split at the
 * q|k|v boundaries. */
static void store_block(const struct int8_handle *s, const struct qkv_batch *b, size_t t0,
                        size_t mr, size_t panel, const float *xs, const int32_t *acc)
{
	size_t nr = s->w.nr, n0 = panel * nr, n_end = panel_end(s, panel);
	const float *sw = s->w.scale, *bias = s->w.bias;
	for (size_t n = n0, m; n < n_end; n += m) {
		int p;
		size_t p0;
		m = proj_run(s, n, n_end, &p, &p0);
		for (size_t r = 0; r < mr; r++) {
			float *y = b->out[p] + (t0 + r) * b->ld_out[p] + (n - p0); /* [m] */
			const int32_t *a = acc + r * nr + (n - n0);                /* [m] */
			for (size_t i = 0; i < m; i++)
				y[i] = ((float)a[i] * xs[r]) * sw[n + i] + bias[n + i];
		}
	}
}

/* Ask for the output lines store_block will write for batch rows [t0, t0 + rows) of a
 * panel, into L2 with intent to write: issued one k block before the stores, so they
 * do not each wait on a read-for-ownership from memory (a block's rows are ld_out
 * apart, too far apart for the hardware prefetcher). On a Zen 5 the stores took 5-7 % of
 * a T >= 128 call; this took about 2 % off (backends/int8/README.md). */
static void prefetch_out(const struct int8_handle *s, const struct qkv_batch *b, size_t t0,
                         size_t rows, size_t panel)
{
	size_t n_end = panel_end(s, panel);
	for (size_t n = panel * s->w.nr, m; n < n_end; n += m) {
		int p;
		size_t p0;
		m = proj_run(s, n, n_end, &p, &p0);
		for (size_t r = 0; r < rows; r++) {
			const float *y = b->out[p] + (t0 + r) * b->ld_out[p] + (n - p0); /* [m] */
			uintptr_t line = (uintptr_t)y & ~(uintptr_t)63, end = (uintptr_t)(y + m);
			for (; line < end; line += 64) /* every line y[0..m) touches */
				__builtin_prefetch((const void *)line, 1, 2);
		}
	}
}

/* Bytes between packed X rows: the kernel's layout, whole cache lines, and not a
 * multiple of 4096 (rows read together would share L1 sets: 4K aliasing). */
static size_t x_stride(const struct int8_handle *s)
{
	size_t ldq = (s->w.kg * int8_xg(s->kern) + 63) / 64 * 64;
	return ldq % 4096 == 0 ? ldq + 64 : ldq;
}

/* Rows [t0, t1) of the current chunk (batch rows r0 + t) against one panel; `again`: the
 * next task is the same panel's next row block (project_chunk's order); `whole_k`: one
 * kernel call per row group for all of k (INT8_WHOLE_K_BLOCKS). */
static void run_task(const struct int8_handle *s, const struct qkv_batch *b, const int8_t *xq,
                     size_t ldq, const float *xs, size_t r0, size_t t0, size_t t1, size_t panel,
                     int again, int whole_k)
{
	size_t nr = s->w.nr, mr_max = s->kern->mr, kg = s->w.kg, xg = int8_xg(s->kern);
	size_t kc = s->kern->kc && !whole_k ? s->kern->kc : kg;
	size_t group_bytes = nr * INT8_KG, all = s->w.n_panels * kg * group_bytes;
	size_t at = panel * kg * group_bytes; /* this panel's offset in s->w.panels */
	const int8_t *pw = s->w.panels + at;
	const int32_t *comp = s->w.comp + panel * nr;
	/* the row group that prefetches the next slice: the second (the first brings the
	 * current slice in), or the only one */
	size_t t_pf = t1 - t0 > mr_max ? t0 + mr_max : t0;
	int32_t acc[INT8_MB * INT8_NR_MAX];      /* [t1 - t0][nr] */
	for (size_t g0 = 0; g0 < kg; g0 += kc) { /* k blocks: the slice stays in L1 (or all k) */
		size_t n = kg - g0 < kc ? kg - g0 : kc;
		/* next block of k; after the last, the first of the panel the next task reads
		 * (this one again, or the next: panels are contiguous; skipping it when it is
		 * this one measured 0-1.5 % slower); NULL past the end, so the kernel never
		 * prefetches outside the panels */
		size_t next = g0 + n < kg || !again ? at + (g0 + n) * group_bytes : at;
		const int8_t *pf = next + n * group_bytes <= all ? s->w.panels + next : NULL;
		if (g0 + n >= kg) /* the last block of k: its results are stored next */
			prefetch_out(s, b, r0 + t0, t1 - t0, panel);
		for (size_t t = t0; t < t1; t += mr_max) {
			size_t mr = t1 - t < mr_max ? t1 - t : mr_max;
			s->kern->block(xq + t * ldq + g0 * xg, ldq, mr, pw + g0 * group_bytes, n,
			               g0 ? NULL : comp, acc + (t - t0) * nr,
			               t == t_pf ? pf : NULL);
		}
	}
	for (size_t t = t0; t < t1; t += mr_max) {
		size_t mr = t1 - t < mr_max ? t1 - t : mr_max;
		store_block(s, b, r0 + t, mr, panel, xs + t, acc + (t - t0) * nr);
	}
}

/* Batch rows [r0, r0 + rows): quantize them into xq [rows][ldq] and xs [rows], then
 * every (panel, 64-row block) task. */
static void project_chunk(const struct int8_handle *s, const struct qkv_batch *b, int8_t *xq,
                          float *xs, size_t ldq, size_t r0, size_t rows)
{
	size_t k = s->w.k, mb = INT8_MB / s->kern->mr * s->kern->mr;
	size_t n_rb = (rows + mb - 1) / mb;
	size_t tasks = n_rb * s->w.n_panels;
	size_t want = b->threads < 1 ? 1 : b->threads;
	double worth = (double)rows * (double)k * (double)s->w.n / (double)INT8_MIN_WORK;
	want = want < tasks ? want : tasks;
	if ((double)want > worth) /* small calls: waking a thread costs more than it saves */
		want = worth >= 1.0 ? (size_t)worth : 1;
	int nt = omp_in_parallel() ? 1 : (int)want;
	/* Tasks run panel outer, row block inner: a panel comes from memory once per call
	 * and stays in L2 while every row block uses it, X (rows x K bytes) comes from L2/L3
	 * (row block outer re-read the weights from memory once per block: 2-4 % slower on
	 * 1 thread at T >= 128, README). Chunks of ~1/8 of a thread's share are taken
	 * dynamically: each thread still streams contiguous runs of panels, and a thread the
	 * OS delays (a shared machine) does not hold the whole call back. */
	size_t chunk = tasks / ((size_t)nt * 8);
	int ch = chunk < 1 ? 1 : (chunk > 1u << 20 ? 1 << 20 : (int)chunk);
#pragma omp parallel num_threads(nt) if (nt > 1)
	{
#pragma omp for schedule(static)
		for (size_t t = 0; t < rows; t++)
			int8_quantize_row(s->kern, b->x + (r0 + t) * b->ldx, k, s->w.kg,
			                  xq + t * ldq, xs + t);
#pragma omp for schedule(dynamic, ch)
		for (size_t task = 0; task < tasks; task++) {
			size_t panel = task / n_rb, rb = task % n_rb;
			size_t t0 = rb * mb, t1 = t0 + mb < rows ? t0 + mb : rows;
			run_task(s, b, xq, ldq, xs, r0, t0, t1, panel, rb + 1 < n_rb,
			         n_rb >= INT8_WHOLE_K_BLOCKS);
		}
	}
}

static enum qkv_status int8_project(const void *h, const struct qkv_batch *b, char *err,
                                    size_t errlen)
{
	const struct int8_handle *s = h;
	if (!s || !b)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "NULL handle or batch");
	if (!QKV_HAS_MEMBER(b, struct qkv_batch, ld_out))
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
		                        "batch struct_size below ABI 1.0's");
	if (b->T == 0)
		return QKV_OK;
	if (!b->x || !b->out[0] || !b->out[1] || !b->out[2])
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "NULL x or output");
	size_t T = b->T, ldq = x_stride(s);
	size_t rows = T < INT8_TCHUNK ? T : INT8_TCHUNK;
	int8_t *xq = malloc(rows * ldq);          /* per call: [rows][ldq] */
	float *xs = malloc(rows * sizeof(float)); /* per call: [rows] row scales */
	if (!xq || !xs) {
		free(xq);
		free(xs);
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
		                        "out of memory for quantized rows");
	}
	for (size_t r0 = 0; r0 < T; r0 += rows)
		project_chunk(s, b, xq, xs, ldq, r0, T - r0 < rows ? T - r0 : rows);
	free(xq);
	free(xs);
	return QKV_OK;
}

static void int8_probe(struct qkv_probe_result *out)
{
	char why[200];
	const struct qkv_kernel_row *row = int8_kernel_select(why, sizeof(why));
	if (!row) {
		out->score = 0;
		snprintf(out->detail, sizeof(out->detail), "%s", why);
		return;
	}
	const struct int8_kernel *k = row->set;
	out->score = k == &int8_kernel_c ? 2 : 40;
	snprintf(out->detail, sizeof(out->detail), "int8 kernel %s%s (%ux%u tile, %s): %s",
	         row->name, int8_emulated ? " emulated by SIMDe" : "", k->mr, k->nr, k->desc, why);
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    QKV_BACKEND_FIELDS(int8, "int8", "1.0.0", QKV_PRECISION_BIT(QKV_INT8)),
    .memory = int8_memory,
};
