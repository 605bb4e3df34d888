/* The driver: threading, blocking, X packing and edges around the micro-kernels.
 *
 * T <= QKV_OMP_GEMV_MAX: each thread takes a contiguous range of panels and streams
 * each panel once through the matrix-vector kernel (X rows read in place).
 * Larger T (BLIS loop order): for NC-panel chunks -> for KC slices of K -> for MC-row
 * blocks (X block packed into per-thread scratch, sized for L2) -> for panels (KC x nr,
 * in L1; KC and the tile mr x nr are the kernel set's) -> for mr-row tiles -> micro-kernel writing
 * straight into the outputs.
 *
 * Threads: one `parallel num_threads(batch->threads)` region split over panels, and
 * over rows too when there are fewer panels than threads. Inside a caller's parallel
 * region (omp_in_parallel) we run serial on the calling thread instead of nesting a
 * team: the caller already owns the cores. Tiny problems also run serial, because a
 * fork/join costs more than it saves.
 */
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ompb.h"

#define MC 288        /* rows per packed X block: MC x KC = 288 KiB in L2 */
#define NC_PANELS 256 /* panels per chunk: a KC x 4096 weight block stays in L3 */
/* Work per thread below which another thread does not pay its fork/join: 2^18 flops is
 * a few microseconds of one core's FMA rate, several times a fork and join with spinning
 * workers. (Was: one thread below 2^19, every thread above; same choice at 2 threads.) */
#define THREAD_MIN_FLOPS (1u << 18)

/* The GEMM tile of one call: the set's own, or its tall one from tall.from_T rows on (f32
 * only: bf16 widens each weight slice once per X block, and the tall tile's smaller blocks
 * and longer slices made that 5-12 % slower at T = 128). */
struct tile {
	size_t mr, kc, mc;
	ompb_gemm_ukr gemm;
	size_t units; /* work units per thread (below: each unit packs its own X blocks) */
};

#define UNITS_PER_THREAD 3

static struct tile pick_tile(const struct ompb_kernels *k, size_t T, int bf16)
{
	/* One unit per thread for the tall tile: its calls are long enough that packing X
	 * once per unit, three times per thread, cost 5 % at 2 threads (T = 128). */
	if (k->tall.gemm && T >= k->tall.from_T && !bf16)
		return (struct tile){k->tall.mr, k->tall.kc, k->tall.mc, k->tall.gemm, 1};
	return (struct tile){k->mr, k->kc, MC, k->gemm, UNITS_PER_THREAD};
}

struct range {
	size_t lo, hi;
};

/* Part `i` of `parts` of [0, n), in units of `unit` (the last part takes the rest). */
static struct range split(size_t n, size_t parts, size_t i, size_t unit)
{
	size_t units = (n + unit - 1) / unit;
	size_t lo = units * i / parts * unit, hi = units * (i + 1) / parts * unit;
	struct range r = {lo < n ? lo : n, hi < n ? hi : n};
	return r;
}

static void gemv_part(const struct ompb_handle *h, const struct qkv_batch *b, struct range pr)
{
	size_t K = h->pb.d_model, nr = h->kern->nr;
	for (size_t j = pr.lo; j < pr.hi; j++) {
		const struct ompb_panel *pn = &h->panels[j];
		const float *bias = h->bias[pn->p] ? h->bias[pn->p] + pn->n0 : NULL;
		float *y = b->out[pn->p] + pn->n0;
		if (h->wb)
			h->kern->gemv_bf16(K, b->x, b->ldx, h->wb + j * K * nr, y, b->ld_out[pn->p],
			                   b->T, pn->nw, bias);
		else
			h->kern->gemv(K, b->x, b->ldx, h->wp + j * K * nr, y, b->ld_out[pn->p],
			              b->T, pn->nw, bias);
	}
}

/* X rows [r0, r0+mc), columns [k0, k0+kc) into tiles xs[tile][k][mr], zero-padded. */
static void pack_x(float *xs, const struct qkv_batch *b, size_t r0, size_t mc, size_t k0, size_t kc,
                   size_t mr)
{
	for (size_t t = 0; t * mr < mc; t++) {
		float *dst = xs + t * kc * mr;
		for (size_t r = 0; r < mr; r++) {
			size_t row = t * mr + r;
			const float *src = b->x + (r0 + row) * b->ldx + k0;
			if (row < mc)
				for (size_t k = 0; k < kc; k++)
					dst[k * mr + r] = src[k];
			else
				for (size_t k = 0; k < kc; k++)
					dst[k * mr + r] = 0.0f;
		}
	}
}

/* Prefetch bytes [from, from+len) of p (clipped to size) into L2: weights come from
 * memory once per call, and the hardware prefetcher cannot know the next panel. */
static void prefetch_lines(const char *p, size_t from, size_t len, size_t size)
{
	if (!p)
		return;
	size_t end = from + len < size ? from + len : size;
	for (size_t o = from; o < end; o += 64)
		__builtin_prefetch(p + o, 0, 2);
}

/* bf16 slice [kc][nr] widened to f32 (exact: bf16 is the upper half of an f32). */
static void widen(float *dst, const uint16_t *src, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		uint32_t u = (uint32_t)src[i] << 16;
		memcpy(dst + i, &u, sizeof(u));
	}
}

/* xs: [MC/mr tiles][KC][mr] packed X; wbuf: [KC][nr] widened bf16 slice (bf16 only). */
static void gemm_part(const struct ompb_handle *h, const struct qkv_batch *b, const struct tile *tl,
                      struct range pr, struct range rr, float *xs, float *wbuf)
{
	size_t K = h->pb.d_model, mr = tl->mr, nr = h->kern->nr, KC = tl->kc, MCB = tl->mc;
	for (size_t jc = pr.lo; jc < pr.hi; jc += NC_PANELS) {
		size_t jend = jc + NC_PANELS < pr.hi ? jc + NC_PANELS : pr.hi;
		for (size_t pc = 0; pc < K; pc += KC) {
			size_t kc = K - pc < KC ? K - pc : KC;
			for (size_t ic = rr.lo; ic < rr.hi; ic += MCB) {
				size_t mc = rr.hi - ic < MCB ? rr.hi - ic : MCB;
				pack_x(xs, b, ic, mc, pc, kc, mr);
				for (size_t j = jc; j < jend; j++) {
					const struct ompb_panel *pn = &h->panels[j];
					const float *wp;
					if (h->wb) {
						widen(wbuf, h->wb + (j * K + pc) * nr, kc * nr);
						wp = wbuf;
					} else {
						wp = h->wp + (j * K + pc) * nr;
					}
					const float *bias =
					    h->bias[pn->p] ? h->bias[pn->p] + pn->n0 : NULL;
					size_t ldc = b->ld_out[pn->p];
					float *c = b->out[pn->p] + ic * ldc + pn->n0;
					/* The next panel's slice, spread over this panel's tiles.
					 */
					const char *next = NULL;
					size_t bytes = kc * nr * (h->wb ? 2 : 4);
					if (j + 1 < jend)
						next =
						    h->wb ? (const char *)(h->wb +
						                           ((j + 1) * K + pc) * nr)
						          : (const char *)(h->wp +
						                           ((j + 1) * K + pc) * nr);
					size_t tiles = (mc + mr - 1) / mr;
					size_t step = (bytes / 64 + tiles - 1) / tiles * 64;
					for (size_t ir = 0, i = 0; ir < mc; ir += mr, i++) {
						/* This tile's share of the next slice: lines
						 * [i*step, (i+1)*step) clipped to the slice. */
						size_t from = i * step < bytes ? i * step : bytes;
						size_t lines =
						    next ? ((from + step < bytes ? from + step
						                                 : bytes) -
						            from) /
						               64
						         : 0;
						if (!h->kern->prefetches)
							prefetch_lines(next, from, step, bytes);
						tl->gemm(kc, xs + ir * kc, wp, c + ir * ldc, ldc,
						         mc - ir < mr ? mc - ir : mr, pn->nw,
						         pc == 0, bias, next ? next + from : NULL,
						         lines);
					}
				}
			}
		}
	}
}

/* Fork/join next to busy cores (issue 15, point 4). A worker thread whose core another
 * process holds starts only when the scheduler gives it a time slice, milliseconds
 * later; libgomp's join then holds the caller that long, even for a 5-microsecond call.
 * Two defences:
 * - Work is claimed in units from a shared counter (UNITS_PER_THREAD per thread; one for
 *   the tall tile, struct tile), so a late thread's share is done by whoever is running; a
 *   thread that arrives late finds nothing left. Panels and rows are split, never K, so results
 * stay bit-identical.
 * - If the caller, once out of units, waited at the join longer than STALL_WAIT plus twice
 *   its own time per unit, another thread was not running (not started, or preempted
 *   in the middle of a unit): the next calls run on the caller's thread alone for a
 *   back-off time (BACKOFF_MIN, doubling up to BACKOFF_MAX while stalls repeat), then
 *   the team is tried again. Process-wide, because core contention is. */
#define STALL_WAIT 50e-6  /* s: a running worker reaches the join well within this */
#define BACKOFF_MIN 10e-3 /* s */
#define BACKOFF_MAX 1.0   /* s: at most one stalled call per second while it lasts */
#define CALM_RESET 1.0    /* s of team calls without a stall before the back-off is forgotten */

static _Atomic double solo_until; /* omp_get_wtime() before which calls run solo */
static _Atomic double backoff;    /* current back-off (s), 0 = none */
static _Atomic double calm_since; /* first team call that went well since the last stall */

/* QKV_OPENMP_BACKOFF=0 turns the back-off off (for comparisons); read once. */
static int backoff_on(void)
{
	static atomic_int on = -1;
	int v = atomic_load_explicit(&on, memory_order_relaxed);
	if (v < 0) {
		const char *e = getenv("QKV_OPENMP_BACKOFF");
		v = !(e && !strcmp(e, "0"));
		atomic_store_explicit(&on, v, memory_order_relaxed);
	}
	return v;
}

/* The calling thread's CPU time (s): a caller preempted while it works (often by its own
 * woken worker when another process holds the other core) shows as wall time beyond it. */
static double caller_cpu(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int team_stalled_recently(void)
{
	return omp_get_wtime() < atomic_load_explicit(&solo_until, memory_order_relaxed);
}

/* A team call that went well does not forget the back-off at once: under steady
 * contention most team calls go well and every few stall, so a reset per good call kept
 * the back-off at its minimum and let 20-99 of 100 decode calls stall (issue 24). It is
 * forgotten after CALM_RESET seconds without a stall; until then each stall doubles it. */
static void note_team_call(int stalled, double now)
{
	if (!stalled) {
		double since = atomic_load_explicit(&calm_since, memory_order_relaxed);
		if (since <= 0)
			atomic_store_explicit(&calm_since, now, memory_order_relaxed);
		else if (now - since >= CALM_RESET)
			atomic_store_explicit(&backoff, 0.0, memory_order_relaxed);
		return;
	}
	atomic_store_explicit(&calm_since, 0.0, memory_order_relaxed);
	double bo = atomic_load_explicit(&backoff, memory_order_relaxed);
	bo = bo <= 0 ? BACKOFF_MIN : (2 * bo < BACKOFF_MAX ? 2 * bo : BACKOFF_MAX);
	atomic_store_explicit(&backoff, bo, memory_order_relaxed);
	atomic_store_explicit(&solo_until, now + bo, memory_order_relaxed);
}

static size_t pick_threads(const struct ompb_handle *h, const struct qkv_batch *b)
{
	if (b->threads <= 1 || omp_in_parallel())
		return 1;
	double flops = 2.0 * (double)b->T * h->pb.d_model * (double)(h->npanels * h->kern->nr);
	if (flops < 2.0 * THREAD_MIN_FLOPS)
		return 1;
	if (backoff_on() && team_stalled_recently())
		return 1;
	/* each thread gets at least THREAD_MIN_FLOPS: a fork it cannot win is not paid */
	double most = flops / THREAD_MIN_FLOPS;
	return most < (double)b->threads ? (size_t)most : b->threads;
}

/* The work of one call as units: panel groups x row groups (rows only when there are
 * fewer panels than threads, in multiples of mr). */
struct units {
	size_t pg, rg, mr;
	atomic_size_t next;
};

static void units_init(struct units *u, size_t npanels, size_t T, size_t nth, size_t mr,
                       size_t per_thread)
{
	/* Each unit packs its own X blocks: keep >= 8 panels per unit beyond one per thread. */
	size_t want = nth == 1 ? 1 : nth * per_thread, cap = npanels / 8;
	if (want > cap)
		want = cap > nth ? cap : nth;
	u->pg = npanels < want ? npanels : want;
	u->rg = npanels >= nth ? 1 : (nth + npanels - 1) / npanels;
	size_t row_tiles = (T + mr - 1) / mr;
	if (u->rg > row_tiles)
		u->rg = row_tiles;
	u->mr = mr;
	atomic_init(&u->next, 0);
}

/* Claim the next unit: its panel and row ranges; 0 when none is left. */
static int units_claim(struct units *u, size_t npanels, size_t T, struct range *pr,
                       struct range *rr)
{
	size_t i = atomic_fetch_add_explicit(&u->next, 1, memory_order_relaxed);
	if (i >= u->pg * u->rg)
		return 0;
	*pr = split(npanels, u->pg, i % u->pg, 1);
	*rr = split(T, u->rg, i / u->pg, u->mr);
	return 1;
}

enum qkv_status qkv_omp_run(const struct ompb_handle *h, const struct qkv_batch *b, char *err,
                            size_t errlen)
{
	size_t nt = pick_threads(h, b);
	int gemv = b->T <= QKV_OMP_GEMV_MAX;
	struct tile tl = pick_tile(h->kern, b->T, h->wb != NULL);
	size_t mr = gemv ? 1 : tl.mr;
	float *xs = NULL;
	size_t per_thread = 0, xs_floats = 0;
	if (!gemv) {
		/* Per-thread X block, no larger than the batch needs (small T stays small). */
		size_t rows = b->T < tl.mc ? b->T : tl.mc;
		size_t kcap = h->pb.d_model < tl.kc ? h->pb.d_model : tl.kc;
		xs_floats = ((rows + mr - 1) / mr * mr * kcap + 15) / 16 * 16;
		size_t wbuf_floats = h->wb ? kcap * h->kern->nr : 0;
		/* whole 64-byte lines: every thread's block stays aligned, and aligned_alloc
		 * needs a size that is a multiple of the alignment (kernels with nr = 12) */
		per_thread = (xs_floats + wbuf_floats + 15) / 16 * 16;
		xs = aligned_alloc(64, nt * per_thread * sizeof(float));
		if (!xs) {
			if (err && errlen)
				snprintf(err, errlen,
				         "openmp: out of memory for %zu packing buffers", nt);
			return QKV_ERR_NOMEM;
		}
	}
	struct units u;
	/* gemv: panels only (all T <= 4 rows stay together: the kernel's order per row
	 * depends on how many rows it gets). */
	units_init(&u, h->npanels, gemv ? 1 : b->T, nt, mr, tl.units);
	double start = nt > 1 ? omp_get_wtime() : 0, caller_done = 0, cpu0 = 0, cpu_done = 0;
	if (nt > 1)
		cpu0 = caller_cpu();
	size_t caller_units = 0;
#pragma omp parallel num_threads((int)nt) if (nt > 1)
	{
		size_t tid = (size_t)omp_get_thread_num(), mine = 0;
		struct range pr, rr;
		while (units_claim(&u, h->npanels, gemv ? 1 : b->T, &pr, &rr)) {
			mine++;
			if (gemv)
				gemv_part(h, b, pr);
			else if (pr.lo < pr.hi && rr.lo < rr.hi)
				gemm_part(h, b, &tl, pr, rr, xs + tid * per_thread,
				          xs + tid * per_thread + xs_floats);
		}
		if (tid == 0) {
			caller_done = omp_get_wtime();
			cpu_done = nt > 1 ? caller_cpu() : 0;
			caller_units = mine;
		}
	}
	if (nt > 1) {
		double now = omp_get_wtime(), units = (double)(caller_units ? caller_units : 1);
		double per_unit = (cpu_done - cpu0) / units; /* on the CPU: preemption excluded */
		double waited = now - caller_done;           /* at the join */
		double off_cpu = (caller_done - start) - (cpu_done - cpu0); /* while working */
		note_team_call(
		    waited > STALL_WAIT + 2 * per_unit || off_cpu > STALL_WAIT + per_unit, now);
	}
	free(xs);
	return QKV_OK;
}
