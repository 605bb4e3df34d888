/* Over 800 lines on purpose: one correct backend with every defect behind its own #ifdef,
 * so each plugin differs from the correct one by exactly one defect.
 *
 * A small f32 + int8 backend that is correct except for the one defect selected by
 * -DBROKEN_<NAME>, to prove the conformance cases catch it. Each defect is written
 * the way a backend author makes it; see tests/conformance/test_broken.c for the
 * case that catches each one and the message it gives.
 *
 * The first set (caught by the original cases):
 *   DROP_TAIL       a block-of-8 loop that drops the last column when N % 8 != 0
 *   IGNORE_BIAS     never adds the biases
 *   IGNORE_STRIDE   treats X and the outputs as packed (ldx = K, ld = width)
 *   WRITE_PAST      a tail store that writes one float past the last row
 *   STATIC_SCRATCH  one static accumulator row shared by concurrent calls
 *   NAN_FLUSH       "sanitises" NaN outputs to 0
 *   INT8_SATURATE   int8 through u8*s8 pairs summed in saturating 16 bits
 *   WRONG_ABI       built for ABI major 2
 *   OVER_READ       reads X in blocks of 8, past the end of the row when K % 8 != 0
 * Issue 13 (each passes every original case):
 *   BIAS_T64        a "GEMM path" for T > 64 that forgets the biases
 *   STRIDE_T_SMALL  a T = 2..4 path that writes the outputs packed
 *   TAIL_T1024      rows are done in blocks of 1024; the rows after the last full one
 *                   are dropped
 *   K_BLOCK_4096    K in blocks of 4096; the partial last block is dropped
 *   INT8_ZERO       a zero W column is skipped (not written); a zero X row gives 0
 *                   without the bias
 *   INT8_NAN        int8 absmax ignores NaN/Inf (fmaxf style): finite outputs
 *   INT8_SUBNORMAL  the old scheme: 127/amax = Inf for a subnormal amax
 *   INT8_ROUND_AWAY quantizes with roundf (ties away from zero), not nearest-even
 *   BF16_LARGE_K    f32 weights rounded to bf16 at prepare when K >= 2048
 *   F16_LARGE_K     f32 weights rounded to f16 precision at prepare when K >= 512
 *   FTZ             project sets FTZ/DAZ in MXCSR (aarch64: FZ in FPCR) and leaves it set
 *   LAZY_INIT       packs the weights on the first project call, unsynchronised
 *   HANDLE_SCRATCH  multi-threaded calls (threads > 1) use one scratch row per handle
 *   SELF_TUNE       after 40 calls on a handle switches to another summation order
 *   STATIC_WEIGHTS  keeps the weight pointers of the last prepare in a global
 *   WRITES_X        scales X in place by 2 and back (restores it after the call)
 *   CACHE_X         remembers the last call's outputs by X's address and T
 *   WRITES_W        prepare writes weights of >= 64 elements back in place (w + 0)
 *   W_OVER_READ     prepare reads one float past the end of each weight array
 *   OUT_RMW         stores the outputs 8 floats at a time by read-modify-write
 *   SHIFT_WRAP      the precision test is precisions & (1u << (p & 31))
 *   STRICT_SIZE     refuses struct_size != sizeof (a newer core's larger structs)
 *   ERRLEN          writes its error message as if err had 256 bytes
 *   PRINTS          prints a line to stderr in prepare
 *   LEAKS           keeps every call's scratch in a list that is never trimmed
 *   EXPORTS         exports a helper function besides the descriptor
 *   BAD_MESSAGE     f32 prepare fails with quotes, control bytes, invalid UTF-8
 * Issue 13, second round (each passes every case above):
 *   OMP_ICV         project sets the caller's omp_set_num_threads(budget), not restored
 *   SIG_HANDLER     probe installs a SIGILL handler to test an instruction, left there
 *   PINS_CALLER     project pins the calling thread to the CPU it is on, not restored
 *   SETENV          prepare sets OMP_NUM_THREADS to the model's thread budget
 *   IGNORES_BUDGET  splits the rows over problem.threads threads, not batch.threads
 *   PROBE_OVERRUN   probe fills a member of a newer, larger probe struct
 *   LEAKS_FD        prepare opens /dev/null for a debug log and never closes it
 *   LEAKS_THREAD    prepare starts a detached prefetch thread that never ends
 *   LEAKS_MAP       prepare maps a 64 KiB arena and release never unmaps it
 *   CACHE_W_PTR     one global copy of the weights, reused when w[0]'s address and the
 *                   shape match the last prepare's
 *   SELF_TUNE_1000  switches to another summation order after 1000 calls on a handle
 *   RACY_INIT       the first prepare calibrates a global kernel pointer, publishing a
 *                   placeholder (returns 0) before it is done
 *   STACK_VLA       copies each X row to the stack (K floats) "for alignment"
 *   USES_RAND       prepare picks a tile order with the C library's rand()
 *   U32_OFFSETS     row offsets t * ldx computed in 32 bits
 *   SILENCES_STDOUT prepare points fd 1 at /dev/null to quiet a chatty library
 * Issue 25, each passing every case before the size-class and prepare-failure cases:
 *   X_BLOCK8_T128   the T >= 128 path loads X rows in blocks of 8 floats (reads past X
 *                   when d_model % 8 != 0)
 *   HANDLE_SUM_T128 the T >= 128 path keeps its partial sums in one buffer of the handle,
 *                   shared by concurrent calls
 *   STATIC_THREADS4 calls with batch.threads >= 4 share one static buffer
 *   FREE_ON_FAIL    prepare frees its half-built handle when weights are missing and
 *                   leaves *handle set: the caller's release uses it after free
 *   OOM_DOUBLE_FREE when an allocation of the int8 weights fails halfway, prepare frees
 *                   what it got but leaves the pointers in the handle: release frees them
 *                   again
 * Issue 25, second round (each passes every case before x_refill, misaligned_weights,
 * recycled_addresses and huge_strides were swept over the size classes):
 *   CACHE_X_T128    the T >= 128 path remembers the last call's outputs by X's address
 *                   and T (CACHE_X, only on the large path)
 *   ALIGNED_W_T128  the T >= 128 blocked path loads W rows (in_out, N % 8 == 0) with
 *                   aligned 16-byte loads (ALIGNED_W, only on the large path)
 *   CACHE_W_T128    the T >= 128 path packs the weights once per process, keyed by w[0]'s
 *                   address, the shape and T (its panel plan): new weights at a released
 *                   model's address get the old panels
 *   U32_OFFSETS_T128 the T >= 128 path computes row offsets t * ldx in 32 bits
 * The memory report (ABI 1.2), passing every case before weights_let_go:
 *   LIES_LET_GO     memory says keeps_weights 0, yet project reads the weights and biases
 *                   in place (the core would free them under it)
 * The descriptor rule shared by the core and the harness (qkv_descriptor_check):
 *   UNKNOWN_PRECISION declares precision bit 5, which ABI 1.0 does not have: refused
 *   FUTURE_PRECISION  the same bit from a plugin built for minor + 1: accepted, a newer
 *                     plugin on an older core (not a defect; the rule's other half)
 * Not a defect, a check's false alarm (seen on onednn: issue 25's flake check):
 *   SIZE_CHURN      prepare allocates and frees 7 blocks of a size that changes every
 *                   second prepare; glibc keeps freed blocks per size class (tcache) and
 *                   counts them as in use, so heap use rises for 128 prepares, bounded
 * and two that test the runner itself rather than a case:
 *   CRASH           project dereferences NULL (SIGSEGV)
 *   HANG            project never returns
 * Edge cases (each passes every case before nonfinite_weights, edge_sizes and
 * misaligned_weights):
 *   SKIP_ZERO_X     terms with a zero activation are skipped ("sparsity"): 0 * Inf lost
 *   SKIP_ZERO_W     terms with a zero weight are skipped (pruned weights): Inf * 0 lost
 *   TAIL_T2048      rows are done in blocks of 2048; the rows after the last full one
 *                   are dropped
 *   N_U16           the weight column index is kept in 16 bits: columns from 65536 on
 *                   read the weights of column n - 65536
 *   THREAD_ARRAY    each worker's sub-batch in a table of 64 entries indexed by worker id
 *                   mod 64 (no check that threads <= 64): with more workers, later
 *                   entries replace earlier ones and those rows are never computed
 *   ALIGNED_W       an in_out path for N % 8 == 0 loads W rows with aligned 16-byte
 *                   loads (movaps; elsewhere like AltiVec lvx, the low address bits
 *                   ignored), assuming the weights are at least malloc-aligned
 */
#if defined(BROKEN_PINS_CALLER) || defined(BROKEN_LEAKS_MAP)
#define _GNU_SOURCE /* pthread_setaffinity_np, sched_getcpu, MAP_ANONYMOUS */
#endif
#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkv/plugin.h>

#if defined(BROKEN_PINS_CALLER)
#include <sched.h>
#endif
#if defined(BROKEN_OMP_ICV)
#include <omp.h>
#endif
#if defined(BROKEN_LEAKS_FD) || defined(BROKEN_SILENCES_STDOUT)
#include <fcntl.h>
#endif
#if defined(BROKEN_LEAKS_MAP)
#include <sys/mman.h>
#endif
#if defined(BROKEN_STACK_VLA)
#include <alloca.h>
#endif
#if defined(BROKEN_RACY_INIT) || defined(BROKEN_SIZE_CHURN)
#include <stdatomic.h>
#endif
#if defined(BROKEN_SIG_HANDLER)
#include <signal.h>
#endif

#include <qkv/precision.h>

#if defined(BROKEN_UNKNOWN_PRECISION) || defined(BROKEN_FUTURE_PRECISION)
/* a precision bit this header does not know (5) */
#define PRECISIONS (QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_INT8) | (1u << 5))
#else
#define PRECISIONS (QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_INT8))
#endif
/* Defects that live on one path: the smallest T that takes it (1 = every call). */
#if defined(BROKEN_CACHE_X)
#define CACHE_X_FROM_T 1
#elif defined(BROKEN_CACHE_X_T128)
#define CACHE_X_FROM_T 128
#endif
#if defined(BROKEN_ALIGNED_W)
#define ALIGNED_W_FROM_T 1
#elif defined(BROKEN_ALIGNED_W_T128)
#define ALIGNED_W_FROM_T 128
#endif
#if defined(BROKEN_U32_OFFSETS)
#define U32_OFFSETS_FROM_T 1
#elif defined(BROKEN_U32_OFFSETS_T128)
#define U32_OFFSETS_FROM_T 128
#endif

#ifdef BROKEN_FUTURE_PRECISION
#define ABI_MINOR (QKV_PLUGIN_ABI_MINOR + 1) /* built against a newer 1.x header */
#else
#define ABI_MINOR QKV_PLUGIN_ABI_MINOR
#endif

struct handle {
	struct qkv_problem pb;
	uint32_t layout;
	const float *w[3], *bias[3];
	float *wcopy[3];  /* BF16_LARGE_K, F16_LARGE_K: rounded weights */
	int8_t *wq[3];    /* int8: [d_out x d_model] column-major */
	float *ws[3];     /* int8: [d_out] */
	int32_t *wsum[3]; /* int8: sum_k wq, for the +128 offset correction */
	pthread_mutex_t mu;
	float *packed[3];    /* LAZY_INIT: [d_out x d_model] */
	float *scratch;      /* HANDLE_SCRATCH: one row */
	unsigned long calls; /* SELF_TUNE */
	int log_fd;          /* LEAKS_FD */
	void *arena;         /* LEAKS_MAP */
	const float *last_x; /* CACHE_X */
	size_t last_T;
	float *last_out[3];
};

#define PB(h) (&(h)->pb)
#ifdef BROKEN_STATIC_WEIGHTS
static const float *last_w[3]; /* the defect: per-handle state in a global */
#define WP(h, p) (last_w[p])
#else
#define WP(h, p) ((h)->w[p])
#endif

static uint32_t width(const struct qkv_problem *pb, int p)
{
	return p == QKV_Q ? pb->d_q : pb->d_kv;
}

static float w_at(const struct handle *h, int p, size_t k, size_t n)
{
	size_t K = PB(h)->d_model, N = width(PB(h), p);
	return WP(h, p)[h->layout == QKV_LAYOUT_IN_OUT ? k * N + n : n * K + k];
}

#ifdef BROKEN_EXPORTS
/* the defect: a helper with default visibility ends up in the dynamic symbol table */
QKV_PLUGIN_EXPORT float broken_helper_dot(const float *a, const float *b, size_t n)
{
	float s = 0;
	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}
#endif

static void broken_release(void *hv)
{
	struct handle *h = hv;
	if (!h)
		return;
	for (int p = 0; p < 3; p++) {
		free(h->wq[p]);
		free(h->ws[p]);
		free(h->wsum[p]);
		free(h->wcopy[p]);
		free(h->packed[p]);
		free(h->last_out[p]);
	}
	free(h->scratch);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* ---- int8 -------------------------------------------------------------------------- */

static float quantize8(const float *v, size_t n, int8_t *q)
{
#if defined(BROKEN_INT8_NAN) || defined(BROKEN_INT8_SUBNORMAL) || defined(BROKEN_INT8_ROUND_AWAY)
	float amax = 0;
	for (size_t i = 0; i < n; i++) {
		float a = fabsf(v[i]);
#ifdef BROKEN_INT8_NAN
		if (!isfinite(a))
			continue; /* the defect: fmaxf-style, NaN and Inf ignored */
#endif
		amax = a > amax || a != a ? a : amax;
	}
#ifndef BROKEN_INT8_NAN
	if (!isfinite(amax)) {
		memset(q, 0, n);
		return NAN;
	}
#endif
	if (amax == 0) { /* the INT8_SUBNORMAL defect: only exact zero is special */
		memset(q, 0, n);
		return 0;
	}
	float inv = 127.0f / amax;
	for (size_t i = 0; i < n; i++) {
#ifdef BROKEN_INT8_ROUND_AWAY
		float r = roundf(v[i] * inv); /* the defect: ties away from zero */
#else
		float r = nearbyintf(v[i] * inv);
#endif
		if (r != r)
			r = 0; /* 0 * Inf (no UB in the test plugin itself) */
		r = r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r);
		q[i] = (int8_t)r;
	}
	return amax / 127.0f;
#else
	return qkv_int8_quantize(v, n, q);
#endif
}

static enum qkv_status quantize(struct handle *h, const struct qkv_weights *wt)
{
	size_t K = h->pb.d_model;
	float *col = malloc(K * sizeof(float));
	if (!col)
		return QKV_ERR_NOMEM;
	for (int p = 0; p < 3; p++) {
		size_t N = width(&h->pb, p);
		h->wq[p] = malloc(K * N);
		h->ws[p] = malloc(N * sizeof(float));
		h->wsum[p] = malloc(N * sizeof(int32_t));
		if (!h->wq[p] || !h->ws[p] || !h->wsum[p]) {
			free(col);
#ifdef BROKEN_OOM_DOUBLE_FREE
			for (int q = 0; q <= p; q++) { /* the defect: pointers left in the handle */
				free(h->wq[q]);
				free(h->ws[q]);
				free(h->wsum[q]);
			}
#endif
			return QKV_ERR_NOMEM;
		}
		for (size_t n = 0; n < N; n++) {
			if (wt->w_i8[p]) { /* pre-quantized: used as given */
				for (size_t k = 0; k < K; k++)
					h->wq[p][n * K + k] =
					    wt->w_i8[p][h->layout == QKV_LAYOUT_IN_OUT ? k * N + n
					                                               : n * K + k];
				h->ws[p][n] = wt->w_scale[p][n];
			} else {
				for (size_t k = 0; k < K; k++)
					col[k] = w_at(h, p, k, n);
				h->ws[p][n] = quantize8(col, K, h->wq[p] + n * K);
			}
			h->wsum[p][n] = 0;
			for (size_t k = 0; k < K; k++)
				h->wsum[p][n] += h->wq[p][n * K + k];
		}
	}
	free(col);
	return QKV_OK;
}

/* u8*s8 products summed in pairs into a saturating int16, as vpmaddubsw does. */
static int32_t dot8(const int8_t *x, const int8_t *w, size_t K, int32_t wsum)
{
#ifdef BROKEN_INT8_SATURATE
	int32_t acc = 0;
	for (size_t k = 0; k < K; k += 2) {
		int32_t s = (x[k] + 128) * w[k];
		if (k + 1 < K)
			s += (x[k + 1] + 128) * w[k + 1];
		acc += s > 32767 ? 32767 : (s < -32768 ? -32768 : s);
	}
	return acc - 128 * wsum; /* undo the +128 offset */
#else
	(void)wsum;
	int32_t acc = 0;
	for (size_t k = 0; k < K; k++)
		acc += x[k] * w[k];
	return acc;
#endif
}

static enum qkv_status project_int8(const struct handle *h, const struct qkv_batch *b)
{
	size_t K = h->pb.d_model;
	int8_t *xq = malloc(K);
	if (!xq)
		return QKV_ERR_NOMEM;
	for (size_t t = 0; t < b->T; t++) {
		float sx = quantize8(b->x + t * b->ldx, K, xq);
		for (int p = 0; p < 3; p++) {
			float *y = b->out[p] + t * b->ld_out[p];
			for (size_t n = 0; n < width(&h->pb, p); n++) {
				float bias = h->bias[p] ? h->bias[p][n] : 0.0f;
#ifdef BROKEN_INT8_ZERO
				if (h->ws[p][n] == 0)
					continue; /* the defect: "nothing to do" for a zero column
					           */
				if (sx == 0)
					bias = 0; /* the defect: a zero row gives 0 */
#endif
				int32_t acc = dot8(xq, h->wq[p] + n * K, K, h->wsum[p][n]);
				y[n] = qkv_int8_dequant(acc, sx, h->ws[p][n], bias);
			}
		}
	}
	free(xq);
	return QKV_OK;
}

/* ---- f32 ----------------------------------------------------------------------------- */

#if defined(BROKEN_BF16_LARGE_K) || defined(BROKEN_F16_LARGE_K)
/* Round to 8 (bf16) or 11 (f16) significant bits, nearest-even; finite input only. */
static float round_bits(float f, int bits)
{
	uint32_t u, drop = 24u - (uint32_t)bits, half = (1u << (drop - 1)) - 1;
	memcpy(&u, &f, sizeof(u));
	u += half + ((u >> drop) & 1u);
	u &= ~((1u << drop) - 1u);
	memcpy(&f, &u, sizeof(f));
	return f;
}
#endif

static enum qkv_status keep_weights(struct handle *h, const struct qkv_weights *wt)
{
	size_t K = h->pb.d_model;
	for (int p = 0; p < 3; p++) {
		h->w[p] = wt->w[p];
		h->bias[p] = wt->bias[p];
		size_t count = K * width(&h->pb, p);
		(void)count;
#ifdef BROKEN_W_OVER_READ
		if (wt->w[p]) { /* the defect: the last 8-float block loaded whole */
			if (count % 8) {
				volatile float tail = wt->w[p][(count + 7) / 8 * 8 - 1];
				(void)tail;
			}
		}
#endif
#ifdef BROKEN_WRITES_W
		if (wt->w[p] && count >= 64) { /* the defect: "normalises" big weights in place */
			float *w = (float *)(uintptr_t)wt->w[p];
			for (size_t i = 0; i < count; i++)
				w[i] = w[i] + 0.0f;
		}
#endif
#if defined(BROKEN_BF16_LARGE_K) || defined(BROKEN_F16_LARGE_K)
#ifdef BROKEN_BF16_LARGE_K
		int bits = 8, big = K >= 2048;
#else
		int bits = 11, big = K >= 512;
#endif
		if (big && wt->w[p] && h->pb.precision == QKV_F32) {
			h->wcopy[p] = malloc(count * sizeof(float));
			if (!h->wcopy[p])
				return QKV_ERR_NOMEM;
			for (size_t i = 0; i < count; i++)
				h->wcopy[p][i] = isfinite(wt->w[p][i])
				                     ? round_bits(wt->w[p][i], bits)
				                     : wt->w[p][i];
			h->w[p] = h->wcopy[p];
		}
#endif
	}
	return QKV_OK;
}

#ifdef BROKEN_RACY_INIT
static void calibrate(void);
#endif

#ifdef BROKEN_LEAKS_THREAD
static pthread_mutex_t prefetch_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t prefetch_cv = PTHREAD_COND_INITIALIZER;
static void *prefetch_loop(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&prefetch_mu);
	for (;;) /* waits for work that never comes */
		pthread_cond_wait(&prefetch_cv, &prefetch_mu);
	return NULL;
}
#endif

#ifdef BROKEN_CACHE_W_PTR
/* The defect: one process-wide copy of the last weights, keyed by the address of
 * w[0] and the shape ("models share weights"): a new model whose weights sit where a
 * released one's were gets the old copy. */
static struct {
	const float *key;
	uint32_t K, dq, dkv, layout;
	float *copy[3];
} wcache;
static pthread_mutex_t wcache_mu = PTHREAD_MUTEX_INITIALIZER;

static enum qkv_status cached_weights(struct handle *h, const struct qkv_weights *wt)
{
	enum qkv_status st = QKV_OK;
	pthread_mutex_lock(&wcache_mu);
	if (wcache.key != wt->w[0] || wcache.K != h->pb.d_model || wcache.dq != h->pb.d_q ||
	    wcache.dkv != h->pb.d_kv || wcache.layout != h->layout) {
		for (int p = 0; p < 3; p++) {
			size_t bytes = (size_t)h->pb.d_model * width(&h->pb, p) * sizeof(float);
			free(wcache.copy[p]);
			wcache.copy[p] = malloc(bytes ? bytes : 1);
			if (!wcache.copy[p]) {
				st = QKV_ERR_NOMEM;
				wcache.key = NULL;
				break;
			}
			memcpy(wcache.copy[p], wt->w[p], bytes);
		}
		if (st == QKV_OK) {
			wcache.key = wt->w[0];
			wcache.K = h->pb.d_model;
			wcache.dq = h->pb.d_q;
			wcache.dkv = h->pb.d_kv;
			wcache.layout = h->layout;
		}
	}
	for (int p = 0; st == QKV_OK && p < 3; p++)
		h->w[p] = wcache.copy[p];
	pthread_mutex_unlock(&wcache_mu);
	return st;
}
#endif

static enum qkv_status broken_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                      void **out, char *err, size_t errlen)
{
	*out = NULL;
#ifdef BROKEN_ERRLEN
	errlen = 256; /* the defect: assumes the caller's buffer is big */
#endif
#ifdef BROKEN_SHIFT_WRAP
	int declared = (PRECISIONS & (1u << (pb->precision & 31))) != 0; /* wraps at 32 */
#else
	int declared =
	    pb->precision < QKV_PRECISION_COUNT && (PRECISIONS & QKV_PRECISION_BIT(pb->precision));
#endif
	if (!declared) {
		snprintf(err, errlen, "broken: precision %u is not supported by this backend",
		         pb->precision);
		return QKV_ERR_UNSUPPORTED;
	}
#ifdef BROKEN_SIZE_CHURN
	{ /* scratch of a size that depends on a counter, as a planner's might */
		static atomic_uint prepares;
		size_t size = 24 + 16 * ((atomic_fetch_add(&prepares, 1) / 2) % 64);
		void *blocks[7];
		for (int i = 0; i < 7; i++)
			blocks[i] = malloc(size);
		for (int i = 0; i < 7; i++)
			free(blocks[i]);
	}
#endif
#ifdef BROKEN_STRICT_SIZE
	if (pb->struct_size != sizeof(*pb) || wt->struct_size != sizeof(*wt)) {
		snprintf(err, errlen, "broken: struct_size mismatch");
		return QKV_ERR_ARGUMENT;
	}
#endif
#ifdef BROKEN_BAD_MESSAGE
	if (pb->precision == QKV_F32) {
		snprintf(err, errlen,
		         "bad \"quote\" back\\slash\nnew line\ttab \x01\x1f ctl \xff\xfe bad "
		         "\xc3( utf8 \xe2\x82 cut");
		return QKV_ERR_BACKEND;
	}
#endif
#ifdef BROKEN_PRINTS
	fprintf(stderr, "broken: preparing a %ux%u problem\n", pb->d_model, pb->d_q);
#endif
	struct handle *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "broken: out of memory");
		return QKV_ERR_NOMEM;
	}
	pthread_mutex_init(&h->mu, NULL);
	*out = h;
	for (int p = 0; p < 3; p++) {
		if (wt->w[p] || (pb->precision == QKV_INT8 && wt->w_i8[p] && wt->w_scale[p]))
			continue;
#ifdef BROKEN_FREE_ON_FAIL
		broken_release(h); /* the defect: "clean up", and *out still points at it */
#endif
		snprintf(err, errlen, "broken: weights of projection %d missing", p);
		return QKV_ERR_ARGUMENT;
	}
#ifdef BROKEN_LEAKS_FD
	h->log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC); /* the defect: never closed */
#endif
#ifdef BROKEN_LEAKS_THREAD
	pthread_t prefetcher; /* the defect: never told to stop, never joined */
	if (pthread_create(&prefetcher, NULL, prefetch_loop, NULL) == 0)
		pthread_detach(prefetcher);
#endif
#ifdef BROKEN_LEAKS_MAP
	h->arena = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
	                0); /* the defect: release never unmaps it */
#endif
#ifdef BROKEN_SETENV
	char budget[16];
	snprintf(budget, sizeof(budget), "%u", pb->threads);
	setenv("OMP_NUM_THREADS", budget, 1); /* the defect: for "our OpenMP loops" */
#endif
#ifdef BROKEN_RACY_INIT
	calibrate();
#endif
#ifdef BROKEN_SILENCES_STDOUT
	int quiet = open("/dev/null", O_WRONLY | O_CLOEXEC); /* the defect: the caller's stdout */
	if (quiet >= 0) {
		dup2(quiet, STDOUT_FILENO);
		close(quiet);
	}
#endif
#ifdef BROKEN_USES_RAND
	h->calls = (unsigned long)rand() % 4; /* the defect: the caller's random sequence */
#endif
	h->pb = *pb;
	h->pb.struct_size = sizeof(h->pb);
	h->layout = wt->layout;
	size_t wmax = pb->d_q > pb->d_kv ? pb->d_q : pb->d_kv;
	h->scratch = malloc((wmax ? wmax : 1) * sizeof(float));
	enum qkv_status kept = keep_weights(h, wt);
#ifdef BROKEN_CACHE_W_PTR
	if (kept == QKV_OK && pb->precision == QKV_F32)
		kept = cached_weights(h, wt);
#endif
#ifdef BROKEN_STATIC_WEIGHTS
	for (int p = 0; p < 3; p++)
		last_w[p] = h->w[p];
#endif
	if (!h->scratch || kept != QKV_OK ||
	    (pb->precision == QKV_INT8 && quantize(h, wt) != QKV_OK)) {
		snprintf(err, errlen, "broken: out of memory");
		return QKV_ERR_NOMEM;
	}
	return QKV_OK;
}

#ifdef BROKEN_STATIC_SCRATCH
static float scratch[1 << 16]; /* the defect: shared by every concurrent call */
#endif
#ifdef BROKEN_STATIC_THREADS4
static float scratch4[1 << 16]; /* the defect: shared by calls with threads >= 4 */
#endif

#ifdef BROKEN_LAZY_INIT
/* The defect: the first call packs W^T; the pointer is published before the copy is
 * filled and without a lock, so concurrent first calls read zeros. */
static const float *packed(const struct handle *hc, int p)
{
	struct handle *h = (struct handle *)(uintptr_t)hc;
	float *have = __atomic_load_n(&h->packed[p], __ATOMIC_ACQUIRE);
	if (!have) {
		size_t K = h->pb.d_model, N = width(&h->pb, p);
		float *w = calloc(K * N, sizeof(float));
		if (!w)
			return NULL;
		/* published first, filled after: the others read zeros meanwhile */
		if (!__atomic_compare_exchange_n(&h->packed[p], &have, w, false, __ATOMIC_ACQ_REL,
		                                 __ATOMIC_ACQUIRE)) {
			free(w); /* another call won the race: use its (maybe unfilled) copy */
			return have;
		}
		for (size_t n = N; n-- > 0;) /* panels packed last to first */
			for (size_t k = 0; k < K; k++)
				w[n * K + k] = w_at(h, p, k, n);
	}
	return h->packed[p];
}
#endif

#ifdef ALIGNED_W_FROM_T
/* Four floats from p, which the defect assumes is 16-byte aligned (weights that came
 * from malloc always were). */
static void load4_aligned(const float *p, float out[4])
{
#if defined(__x86_64__)
	float v __attribute__((vector_size(16)));
	__asm__("movaps %1, %0" : "=x"(v) : "m"(*(const float(*)[4])p)); /* faults if not */
	memcpy(out, &v, sizeof(v));
#else
	/* an aligned vector load that ignores the low address bits (AltiVec lvx) */
	memcpy(out, (const void *)((uintptr_t)p & ~(uintptr_t)15), 4 * sizeof(float));
#endif
}

/* The vector path for in_out weights with N % 8 == 0: W's row k loaded 4 columns at a
 * time, aligned. */
static float dot_aligned(const struct handle *h, int p, const float *x, size_t n)
{
	size_t K = PB(h)->d_model, N = width(PB(h), p);
	float acc = 0.0f;
	for (size_t k = 0; k < K; k++) {
		float wv[4];
		load4_aligned(WP(h, p) + k * N + n / 4 * 4, wv);
		acc += x[k] * wv[n % 4];
	}
	return acc;
}
#endif

static float dot(const struct handle *h, int p, const float *x, size_t n, int reverse)
{
	size_t K = PB(h)->d_model;
#ifdef BROKEN_K_BLOCK_4096
	if (K > 4096)
		K = K / 4096 * 4096; /* the defect: the partial last block is dropped */
#endif
	float acc = 0.0f;
#ifdef BROKEN_N_U16
	n = (uint16_t)n; /* the defect: the column index kept in 16 bits, wraps at 65536 */
#endif
#if defined(BROKEN_SKIP_ZERO_X) || defined(BROKEN_SKIP_ZERO_W)
	(void)reverse;
	for (size_t k = 0; k < K; k++) {
		float w = w_at(h, p, k, n);
#ifdef BROKEN_SKIP_ZERO_X
		if (x[k] == 0.0f)
			continue; /* the defect: a zero activation contributes nothing... */
#else
		if (w == 0.0f)
			continue; /* the defect: a pruned weight contributes nothing... */
#endif
		acc += x[k] * w; /* ...but 0 * Inf and 0 * NaN are NaN */
	}
	return acc;
#endif
#ifdef BROKEN_LAZY_INIT
	const float *wp = packed(h, p);
	if (wp) {
		for (size_t k = 0; k < K; k++)
			acc += x[k] * wp[n * K + k];
		return acc;
	}
#endif
	if (reverse)
		for (size_t k = K; k-- > 0;)
			acc += x[k] * w_at(h, p, k, n);
	else
		for (size_t k = 0; k < K; k++)
			acc += x[k] * w_at(h, p, k, n);
	return acc;
}

#ifdef BROKEN_RACY_INIT
typedef float (*dot_fn)(const struct handle *, int, const float *, size_t, int);
static float dot_placeholder(const struct handle *h, int p, const float *x, size_t n, int rev)
{
	(void)h, (void)p, (void)x, (void)n, (void)rev;
	return 0.0f;
}
static _Atomic(dot_fn) dot_kernel; /* NULL until the first prepare calibrates */

/* The defect: the first prepare claims the calibration by publishing a placeholder,
 * times the kernel for a while, then publishes the real one; a prepare on another
 * thread meanwhile sees "calibrated" and its calls use the placeholder. */
static void calibrate(void)
{
	dot_fn none = NULL;
	if (!atomic_compare_exchange_strong(&dot_kernel, &none, dot_placeholder))
		return;
	volatile float sink = 0;
	for (long i = 0; i < 20000000; i++) /* the timing runs */
		sink = sink * 0.5f + 1.0f;
	atomic_store(&dot_kernel, dot);
}
#endif

static void project_row(const struct handle *h, const struct qkv_batch *b, int p, const float *x,
                        float *y, int reverse)
{
	size_t K = PB(h)->d_model, N = width(PB(h), p);
	(void)K;
	(void)b;
#ifdef BROKEN_DROP_TAIL
	if (N % 8)
		N--; /* the defect: the remainder loop stops one short */
#endif
#ifdef BROKEN_STATIC_SCRATCH
	float *acc = scratch;
#elif defined(BROKEN_HANDLE_SCRATCH)
	/* the defect: multi-threaded calls use the handle's one scratch row */
	float *acc = b->threads > 1 ? h->scratch : y;
#elif defined(BROKEN_HANDLE_SUM_T128)
	float *acc = b->T >= 128 ? h->scratch : y; /* the defect: the "GEMM path"'s sums */
#elif defined(BROKEN_STATIC_THREADS4)
	float *acc = b->threads >= 4 && N <= (1 << 16) ? scratch4 : y; /* the defect */
#else
	float *acc = y;
#endif
#ifdef BROKEN_STACK_VLA
	float *xs = alloca(K * sizeof(float)); /* the defect: K floats on the caller's stack */
	memcpy(xs, x, K * sizeof(float));
	x = xs;
#endif
#ifdef BROKEN_X_BLOCK8_T128
	if (b->T >= 128 && K % 8) { /* the defect: the T >= 128 path loads 8 floats at a time */
		volatile float tail = x[(K + 7) / 8 * 8 - 1];
		(void)tail;
	}
#endif
#ifdef BROKEN_OVER_READ
	if (K % 8) { /* the defect: a full 8-float load of the row's last block */
		volatile float tail = x[(K + 7) / 8 * 8 - 1];
		(void)tail;
	}
#endif
#ifdef BROKEN_RACY_INIT
	dot_fn kernel = atomic_load(&dot_kernel);
	for (size_t n = 0; n < N; n++)
		acc[n] = kernel(h, p, x, n, reverse);
#elif defined(ALIGNED_W_FROM_T)
	/* the defect: the path assumes malloc-aligned weights */
	bool vec = b->T >= ALIGNED_W_FROM_T && h->layout == QKV_LAYOUT_IN_OUT && N % 8 == 0;
	for (size_t n = 0; n < N; n++)
		acc[n] = vec ? dot_aligned(h, p, x, n) : dot(h, p, x, n, reverse);
#else
	for (size_t n = 0; n < N; n++)
		acc[n] = dot(h, p, x, n, reverse);
#endif
	for (size_t n = 0; n < N; n++) {
		float v = acc[n];
#ifndef BROKEN_IGNORE_BIAS
#ifdef BROKEN_BIAS_T64
		if (h->bias[p] && b->T <= 64) /* the defect: the T > 64 path has no bias */
#else
		if (h->bias[p])
#endif
			v += h->bias[p][n];
#endif
#ifdef BROKEN_NAN_FLUSH
		if (v != v)
			v = 0.0f;
#endif
#ifdef BROKEN_OUT_RMW
		(void)v; /* stored below, 8 at a time */
		acc[n] = v;
#else
		y[n] = v;
#endif
	}
#ifdef BROKEN_OUT_RMW
	/* the defect: 8-wide read-modify-write stores; the lanes past N are read and
	 * written back unchanged, so no guard value changes */
	for (size_t n = 0; n < N; n += 8) {
		float lanes[8];
		memcpy(lanes, y + n, sizeof(lanes));
		for (size_t l = 0; l < 8 && n + l < N; l++)
			lanes[l] = acc[n + l];
		memcpy(y + n, lanes, sizeof(lanes));
	}
#endif
}

#ifdef BROKEN_LEAKS
struct kept {
	struct kept *next;
	char bytes[48];
};
static struct kept *kept_list; /* the defect: grows by one block a call, forever */
static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;
#endif

#ifdef BROKEN_CACHE_W_T128
/* The defect: the large path's packed panels ([N x K] per projection), one set per
 * process, keyed by w[0]'s address, the shape and T (the panel plan depends on T), and
 * kept after release: a new model whose weights sit where a released one's were, called
 * with the same T, gets the old panels. */
static struct {
	const float *key;
	size_t T;
	uint32_t K, dq, dkv, layout;
	float *panel[3];
} panels;
static pthread_mutex_t panels_mu = PTHREAD_MUTEX_INITIALIZER;

/* The panels for h at T, packed when the key differs; call with panels_mu held. */
static bool panels_get(const struct handle *h, size_t T)
{
	if (panels.key == h->w[0] && panels.T == T && panels.K == h->pb.d_model &&
	    panels.dq == h->pb.d_q && panels.dkv == h->pb.d_kv && panels.layout == h->layout)
		return true;
	panels.key = NULL;
	size_t K = h->pb.d_model;
	for (int p = 0; p < 3; p++) {
		size_t N = width(&h->pb, p);
		free(panels.panel[p]);
		panels.panel[p] = malloc((K * N + 1) * sizeof(float));
		if (!panels.panel[p])
			return false;
		for (size_t n = 0; n < N; n++)
			for (size_t k = 0; k < K; k++)
				panels.panel[p][n * K + k] = w_at(h, p, k, n);
	}
	panels.key = h->w[0];
	panels.T = T;
	panels.K = h->pb.d_model;
	panels.dq = h->pb.d_q;
	panels.dkv = h->pb.d_kv;
	panels.layout = h->layout;
	return true;
}

static enum qkv_status project_panels(const struct handle *h, const struct qkv_batch *b)
{
	size_t K = h->pb.d_model;
	pthread_mutex_lock(&panels_mu);
	if (!panels_get(h, b->T)) {
		pthread_mutex_unlock(&panels_mu);
		return QKV_ERR_NOMEM;
	}
	for (int p = 0; p < 3; p++)
		for (size_t t = 0; t < b->T; t++) {
			const float *x = b->x + t * b->ldx;
			float *y = b->out[p] + t * b->ld_out[p];
			for (size_t n = 0; n < width(&h->pb, p); n++) {
				float acc = 0.0f;
				for (size_t k = 0; k < K; k++)
					acc += x[k] * panels.panel[p][n * K + k];
				y[n] = acc + (h->bias[p] ? h->bias[p][n] : 0.0f);
			}
		}
	pthread_mutex_unlock(&panels_mu);
	return QKV_OK;
}
#endif

static enum qkv_status project_f32(const struct handle *h, const struct qkv_batch *b)
{
	size_t T = b->T;
#ifdef BROKEN_CACHE_W_T128
	if (T >= 128)
		return project_panels(h, b);
#endif
#ifdef BROKEN_TAIL_T1024
	if (T > 1024)
		T = T / 1024 * 1024; /* the defect: only whole blocks of 1024 rows */
#endif
#ifdef BROKEN_TAIL_T2048
	if (T > 2048)
		T = T / 2048 * 2048; /* the defect: only whole blocks of 2048 rows */
#endif
	int reverse = 0;
#if defined(BROKEN_SELF_TUNE) || defined(BROKEN_SELF_TUNE_1000)
	struct handle *hm = (struct handle *)(uintptr_t)h;
	pthread_mutex_lock(&hm->mu);
#ifdef BROKEN_SELF_TUNE_1000
	reverse = ++hm->calls > 1000; /* the defect: "tuned" kernel after 1000 calls */
#else
	reverse = ++hm->calls > 40; /* the defect: "tuned" kernel after 40 calls */
#endif
	pthread_mutex_unlock(&hm->mu);
#endif
	for (int p = 0; p < 3; p++) {
		size_t ldx = b->ldx, ld = b->ld_out[p];
#ifdef BROKEN_IGNORE_STRIDE
		ldx = PB(h)->d_model;
		ld = width(PB(h), p);
#endif
#ifdef BROKEN_STRIDE_T_SMALL
		if (T >= 2 && T <= 4)
			ld = width(PB(h), p); /* the defect: the small-T path writes packed */
#endif
#ifdef U32_OFFSETS_FROM_T
		if (T >= U32_OFFSETS_FROM_T) { /* the defect: 32-bit row offsets "for speed" */
			for (size_t t = 0; t < T; t++)
				project_row(h, b, p, b->x + (uint32_t)(t * ldx),
				            b->out[p] + (uint32_t)(t * ld), reverse);
			continue;
		}
#endif
		for (size_t t = 0; t < T; t++)
			project_row(h, b, p, b->x + t * ldx, b->out[p] + t * ld, reverse);
#ifdef BROKEN_WRITE_PAST
		b->out[p][(T - 1) * ld + width(PB(h), p)] = 0.0f; /* a tail store too wide */
#endif
	}
	return QKV_OK;
}

#ifdef BROKEN_IGNORES_BUDGET
struct part {
	const struct handle *h;
	struct qkv_batch b;
};
static void *part_run(void *arg)
{
	struct part *pt = arg;
	project_f32(pt->h, &pt->b);
	return NULL;
}
/* The defect: the rows are split over the model's budget (problem.threads), not the
 * call's (batch.threads). */
static enum qkv_status project_split(const struct handle *h, const struct qkv_batch *b)
{
	struct part pt[8];
	pthread_t tid[8];
	int n = h->pb.threads < 8 ? (int)h->pb.threads : 8, started = 0;
	if (n < 1)
		return project_f32(h, b);
	size_t chunk = (b->T + (size_t)n - 1) / (size_t)n;
	for (int i = 0; i < n; i++) {
		size_t t0 = (size_t)i * chunk, t1 = t0 + chunk < b->T ? t0 + chunk : b->T;
		pt[i].h = h;
		pt[i].b = *b;
		pt[i].b.T = t1 > t0 ? t1 - t0 : 0;
		pt[i].b.x = b->x + t0 * b->ldx;
		for (int p = 0; p < 3; p++)
			pt[i].b.out[p] = b->out[p] + t0 * b->ld_out[p];
	}
	for (int i = 1; i < n; i++)
		if (pthread_create(&tid[i], NULL, part_run, &pt[i]) == 0)
			started = i;
		else
			part_run(&pt[i]);
	part_run(&pt[0]);
	for (int i = 1; i <= started; i++)
		pthread_join(tid[i], NULL);
	return QKV_OK;
}
#endif

static enum qkv_status broken_project(const void *hv, const struct qkv_batch *b, char *err,
                                      size_t errlen)
{
	const struct handle *h = hv;
	(void)err;
	(void)errlen;
	if (b->T == 0)
		return QKV_OK;
#ifdef BROKEN_CRASH
	volatile uintptr_t null_addr = 0;
	*(volatile float *)null_addr = 1.0f; /* SIGSEGV */
#endif
#ifdef BROKEN_HANG
	for (;;)
		pause();
#endif
#ifdef BROKEN_OMP_ICV
	omp_set_num_threads((int)b->threads); /* the defect: the caller's setting, not restored */
#endif
#ifdef BROKEN_PINS_CALLER
	int cpu = sched_getcpu(); /* the defect: "keep the caller on its cache", left pinned */
	if (cpu >= 0) {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
	}
#endif
#ifdef BROKEN_IGNORES_BUDGET
	if (h->pb.precision == QKV_F32 && b->T >= 8 && h->pb.threads > 1)
		return project_split(h, b);
#endif
#ifdef BROKEN_FTZ
#if defined(__x86_64__)
	__builtin_ia32_ldmxcsr(__builtin_ia32_stmxcsr() | 0x8040u); /* the defect: left set */
#elif defined(__aarch64__)
	uint64_t fpcr;
	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	__asm__ volatile("msr fpcr, %0" : : "r"(fpcr | (1u << 24))); /* FZ, left set */
#endif
#endif
#ifdef BROKEN_LEAKS
	struct kept *k = malloc(sizeof(*k));
	if (k) {
		pthread_mutex_lock(&kept_mu);
		k->next = kept_list;
		kept_list = k;
		pthread_mutex_unlock(&kept_mu);
	}
#endif
#ifdef BROKEN_WRITES_X
	/* the defect: pre-scales X in place (and undoes it afterwards) */
	float *xw = (float *)(uintptr_t)b->x;
	for (size_t t = 0; t < b->T; t++)
		for (size_t k = 0; k < h->pb.d_model; k++)
			xw[t * b->ldx + k] *= 2.0f;
	for (size_t t = 0; t < b->T; t++)
		for (size_t k = 0; k < h->pb.d_model; k++)
			xw[t * b->ldx + k] *= 0.5f;
#endif
#ifdef CACHE_X_FROM_T
	/* the defect: the last call's outputs, remembered by X's address and T */
	struct handle *hm = (struct handle *)(uintptr_t)h;
	bool cached = b->T >= CACHE_X_FROM_T;
	pthread_mutex_lock(&hm->mu);
	if (cached && hm->last_x == b->x && hm->last_T == b->T && hm->last_out[0]) {
		for (int p = 0; p < 3; p++)
			for (size_t t = 0; t < b->T; t++)
				memcpy(b->out[p] + t * b->ld_out[p],
				       hm->last_out[p] + t * width(&h->pb, p),
				       width(&h->pb, p) * sizeof(float));
		pthread_mutex_unlock(&hm->mu);
		return QKV_OK;
	}
	pthread_mutex_unlock(&hm->mu);
#endif
#ifdef BROKEN_THREAD_ARRAY
	/* the defect: the workers' sub-batches in a fixed table of 64, indexed by worker id
	 * mod 64 with no check that there are at most 64 workers */
	struct qkv_batch part[64];
	size_t nw = b->threads ? b->threads : 1, chunk = (b->T + nw - 1) / nw;
	for (size_t i = 0; i < 64; i++) {
		part[i] = *b;
		part[i].T = 0;
	}
	for (size_t w = 0; w < nw; w++) {
		size_t lo = w * chunk < b->T ? w * chunk : b->T;
		struct qkv_batch *pw = &part[w % 64];
		pw->T = lo + chunk < b->T ? chunk : b->T - lo;
		pw->x = b->x + lo * b->ldx;
		for (int p = 0; p < 3; p++)
			pw->out[p] = b->out[p] + lo * b->ld_out[p];
	}
	enum qkv_status st = QKV_OK;
	for (size_t i = 0; i < 64 && st == QKV_OK; i++)
		if (part[i].T)
			st = h->pb.precision == QKV_INT8 ? project_int8(h, &part[i])
			                                 : project_f32(h, &part[i]);
#else
	enum qkv_status st = h->pb.precision == QKV_INT8 ? project_int8(h, b) : project_f32(h, b);
#endif
#ifdef CACHE_X_FROM_T
	pthread_mutex_lock(&hm->mu);
	for (int p = 0; cached && p < 3; p++) {
		size_t N = width(&h->pb, p);
		float *c = realloc(hm->last_out[p], b->T * N * sizeof(float));
		if (!c)
			break;
		hm->last_out[p] = c;
		for (size_t t = 0; t < b->T; t++)
			memcpy(c + t * N, b->out[p] + t * b->ld_out[p], N * sizeof(float));
	}
	if (cached) {
		hm->last_x = b->x;
		hm->last_T = b->T;
	}
	pthread_mutex_unlock(&hm->mu);
#endif
	return st;
}

#ifdef BROKEN_SIG_HANDLER
static void on_sigill(int sig)
{
	(void)sig;
	_exit(3);
}
#endif
#ifdef BROKEN_PROBE_OVERRUN
struct probe_result_newer { /* the defect: a newer header's struct, filled blindly */
	struct qkv_probe_result v1;
	uint32_t cores;
};
#endif

static void broken_probe(struct qkv_probe_result *out)
{
#ifdef BROKEN_SIG_HANDLER
	/* the defect: a handler for the instruction test, never put back */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigill;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGILL, &sa, NULL);
#endif
#ifdef BROKEN_PROBE_OVERRUN
	((struct probe_result_newer *)(void *)out)->cores = 2;
#endif
	out->score = 1;
	snprintf(out->detail, sizeof(out->detail), "deliberately broken test plugin");
}

#ifdef BROKEN_WRONG_ABI
#define ABI_MAJOR (QKV_PLUGIN_ABI_MAJOR + 1)
#else
#define ABI_MAJOR QKV_PLUGIN_ABI_MAJOR
#endif

#ifdef BROKEN_LIES_LET_GO
static void broken_memory(const void *h, struct qkv_handle_memory *out)
{
	(void)h;
	out->keeps_weights = 0; /* the defect: h->w and h->bias are the caller's */
	out->bytes_made = sizeof(struct handle);
}
#endif

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    .abi_major = ABI_MAJOR,
    .abi_minor = ABI_MINOR,
    .struct_size = sizeof(struct qkv_backend),
    .precisions = PRECISIONS,
    .name = "broken",
    .version = "0.0.1",
    .probe = broken_probe,
    .prepare = broken_prepare,
    .project = broken_project,
    .release = broken_release,
#ifdef BROKEN_LIES_LET_GO
    .memory = broken_memory,
#endif
};
