/* The blas backend: Q, K and V through OpenBLAS's CBLAS interface (f32 only).
 *
 * prepare builds one fused weight matrix W_qkv holding q|k|v, in the orientation of
 * the source so the copy is plain (out_in: rows concatenated, used with the
 * transpose flag; in_out: rows interleaved). A call then takes one of two paths:
 *   - outputs adjacent as one fused row [q | k | v] with one stride (qkv_project_fused):
 *     one GEMM (T >= 2) or one GEMV (T = 1) straight into the output;
 *   - separate outputs: three GEMMs (GEMVs) on the sub-blocks of W_qkv, each straight
 *     into its strided output, so no temporary and no copy-out.
 * Biases become C's initial rows and beta = 1, so there is no second sweep.
 * Measured on GPT-2 small and Llama-2-7B shapes (README.md): one fused GEMM is 2-8%
 * faster than three GEMMs for small T; for separate outputs three direct GEMMs and
 * one GEMM into a temporary plus copy-out are within noise of each other, so the
 * path without the temporary was kept.
 *
 * Threads: see blas_threads_use below and README.md.
 */
#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QKV_BACKEND_NAME "blas"
#include <qkv/backend_util.h>
#include <qkv/cpu_features.h>
#include <qkv/plugin.h>

struct blas_handle {
	struct qkv_problem pb;
	uint32_t layout; /* enum qkv_layout of w */
	size_t n;        /* N = d_q + 2*d_kv */
	float *w;        /* in_out: [d_model x N]; out_in: [N x d_model] */
	float *bias[3];  /* [d_out] each or NULL: copies (the handle keeps nothing) */
	uint64_t bytes;  /* what the handle allocated (qkv_handle_memory) */
	size_t col0[3];  /* first column of projection p inside N */
};

/* OpenBLAS's thread count is one process-wide setting. We set it to the call's budget
 * (capped at the cores OpenBLAS sees) only when it differs, and leave it so: restoring
 * it after the call would race with concurrent calls on other threads. The effect a
 * caller can see: after a qkv call, other OpenBLAS users in the process run with that
 * call's thread count until someone changes it. */
static int blas_threads_cap(uint32_t want)
{
	int procs = openblas_get_num_procs();
	int n = want > (uint32_t)INT_MAX ? INT_MAX : (int)want;
	if (procs > 0 && n > procs)
		n = procs;
	return n < 1 ? 1 : n;
}

/* pthreads OpenBLAS: the process-wide count, set and left as described above. */
static void blas_threads_use(uint32_t want)
{
	int n = blas_threads_cap(want);
	if (openblas_get_num_threads() != n)
		openblas_set_num_threads(n);
}

/* OpenMP OpenBLAS (openblas_get_parallel() == 2, Debian's libopenblas0-openmp): each
 * call runs on the calling thread's OpenMP team size, omp_get_max_threads(), and on 1
 * thread inside an active parallel region (OpenBLAS 0.3.21 num_cpu_avail). So the
 * budget is that ICV, set for the call and restored after: a per-thread setting, no
 * process-wide state, and the threads are libgomp's, the same pool as the caller's
 * own parallel loops. openblas_set_num_threads is not called: in this build it also
 * sets the caller's ICV. Returns the value to restore, or -1 for nothing to do. */
static int blas_threads_enter_omp(uint32_t want)
{
	if (omp_in_parallel())
		return -1; /* OpenBLAS runs 1 thread here: no nested team */
	int n = blas_threads_cap(want), old = omp_get_max_threads();
	if (old == n)
		return -1;
	omp_set_num_threads(n);
	return old;
}

static void blas_release(void *h)
{
	struct blas_handle *s = h;
	if (!s)
		return;
	free(s->w);
	for (int p = 0; p < 3; p++)
		free(s->bias[p]);
	free(s);
}

static void blas_memory(const void *h, struct qkv_handle_memory *out)
{
	out->keeps_weights = 0; /* the fused copy and the bias copies */
	out->bytes_made = ((const struct blas_handle *)h)->bytes;
}

static enum qkv_status blas_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                    void **handle, char *err, size_t errlen)
{
	*handle = NULL;
	if (pb->precision != QKV_F32)
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED,
		                        "only precision f32 is supported");
	if (wt->layout != QKV_LAYOUT_IN_OUT && wt->layout != QKV_LAYOUT_OUT_IN)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "unknown weight layout");
	for (int p = 0; p < 3; p++)
		if (!wt->w[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
			                        "f32 weights missing");
	size_t k = pb->d_model;
	size_t n = (size_t)pb->d_q + 2 * (size_t)pb->d_kv;
	/* Every dimension handed to CBLAS is an int: refuse what does not fit, because
	 * OpenBLAS's xerbla may end the process on a bad argument. */
	if (k == 0 || pb->d_q == 0 || pb->d_kv == 0 || k > INT_MAX || n > INT_MAX)
		return qkv_backend_fail(
		    err, errlen, QKV_ERR_UNSUPPORTED,
		    "d_model or d_q + 2*d_kv is 0 or exceeds the BLAS int range");
	if (n > SIZE_MAX / sizeof(float) / k)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
		                        "d_model * N overflows size_t");
	struct blas_handle *s = calloc(1, sizeof(*s));
	if (!s)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	*handle = s;
	s->pb = *pb;
	s->layout = wt->layout;
	s->n = n;
	s->col0[QKV_Q] = 0;
	s->col0[QKV_K] = pb->d_q;
	s->col0[QKV_V] = (size_t)pb->d_q + pb->d_kv;
	s->w = malloc(k * n * sizeof(float));
	long long bias_bytes = s->w ? qkv_biases_copy(pb, wt, s->bias) : -1;
	if (bias_bytes < 0)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
		                        "out of memory for the fused weights");
	s->bytes = k * n * sizeof(float) + (uint64_t)bias_bytes + sizeof(*s);
	for (int p = 0; p < 3; p++) {
		size_t d = qkv_out_width(pb, p);
		if (wt->layout == QKV_LAYOUT_OUT_IN) {
			memcpy(s->w + s->col0[p] * k, wt->w[p], d * k * sizeof(float));
		} else {
			for (size_t r = 0; r < k; r++)
				memcpy(s->w + r * n + s->col0[p], wt->w[p] + r * d,
				       d * sizeof(float));
		}
	}
	return QKV_OK;
}

/* Columns [c0, c0+cols) of X.W_qkv for `rows` rows into y (stride ldy). C starts as
 * the bias rows (beta = 1). GEMV always gets beta = 1 over a filled y, because
 * whether beta = 0 clears a NaN already in y differs between OpenBLAS versions.
 * All sizes were checked to fit in int; strides too when rows > 1. */
static void gemm_cols(const struct blas_handle *s, const float *x, size_t ldx, size_t rows,
                      size_t c0, size_t cols, float *y, size_t ldy, float beta)
{
	int k = (int)s->pb.d_model;
	int out_in = s->layout == QKV_LAYOUT_OUT_IN;
	const float *w = out_in ? s->w + c0 * s->pb.d_model : s->w + c0; /* sub-block */
	int ldw = out_in ? k : (int)s->n;
	if (rows == 1 && out_in) /* W block [cols x k] row-major: y = W.x */
		cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)cols, k, 1.0f, w, ldw, x, 1, 1.0f, y,
		            1);
	else if (rows == 1) /* W block [k x cols]: y = W^T.x */
		cblas_sgemv(CblasRowMajor, CblasTrans, k, (int)cols, 1.0f, w, ldw, x, 1, 1.0f, y,
		            1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, out_in ? CblasTrans : CblasNoTrans,
		            (int)rows, (int)cols, k, 1.0f, x, (int)ldx, w, ldw, beta, y, (int)ldy);
}

/* Fill columns [c0, c0+cols) of `rows` rows with the bias (zeros when bias is NULL
 * and `zero`); returns the beta the GEMM must use. */
static float fill_c(float *y, size_t ldy, size_t rows, size_t cols, const float *bias, int zero)
{
	if (!bias && !zero)
		return 0.0f;
	for (size_t t = 0; t < rows; t++) {
		if (bias)
			memcpy(y + t * ldy, bias, cols * sizeof(float));
		else
			memset(y + t * ldy, 0, cols * sizeof(float));
	}
	return 1.0f;
}

/* Outputs laid out as one fused row q|k|v with one stride (qkv_project_fused). */
static int outputs_fused(const struct blas_handle *s, const struct qkv_batch *b)
{
	return b->out[QKV_K] == b->out[QKV_Q] + s->pb.d_q &&
	       b->out[QKV_V] == b->out[QKV_K] + s->pb.d_kv &&
	       b->ld_out[QKV_K] == b->ld_out[QKV_Q] && b->ld_out[QKV_V] == b->ld_out[QKV_Q];
}

static enum qkv_status blas_project(const void *h, const struct qkv_batch *b, char *err,
                                    size_t errlen)
{
	const struct blas_handle *s = h;
	if (!s || !b)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "NULL handle or batch");
	if (b->T == 0)
		return QKV_OK;
	if (!b->x || b->ldx < s->pb.d_model)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
		                        "x is NULL or ldx is below d_model");
	/* a stride past BLAS's int: one row at a time (GEMV never sees a stride) */
	int strides_fit = b->ldx <= INT_MAX;
	for (int p = 0; p < 3; p++) {
		if (!b->out[p] || b->ld_out[p] < qkv_out_width(&s->pb, p))
			return qkv_backend_fail(
			    err, errlen, QKV_ERR_ARGUMENT,
			    "an output is NULL or its stride is below its width");
		strides_fit = strides_fit && b->ld_out[p] <= INT_MAX;
	}
	int omp_old = -1;
	if (openblas_get_parallel() == 2)
		omp_old = blas_threads_enter_omp(b->threads);
	else
		blas_threads_use(b->threads);
	int fused = outputs_fused(s, b);
	int any_bias = s->bias[QKV_Q] || s->bias[QKV_K] || s->bias[QKV_V];
	/* Rows in chunks that fit BLAS's int; one chunk for any realistic T. */
	const size_t chunk = strides_fit ? (size_t)1 << 30 : 1;
	for (size_t t0 = 0; t0 < b->T; t0 += chunk) {
		size_t rows = b->T - t0 < chunk ? b->T - t0 : chunk;
		const float *x = b->x + t0 * b->ldx;
		if (fused) { /* one call over all N columns */
			float *y = b->out[QKV_Q] + t0 * b->ld_out[QKV_Q];
			float beta = 0.0f;
			for (int p = 0; p < 3; p++)
				beta = fill_c(y + s->col0[p], b->ld_out[QKV_Q], rows,
				              qkv_out_width(&s->pb, p), s->bias[p],
				              any_bias || rows == 1);
			gemm_cols(s, x, b->ldx, rows, 0, s->n, y, b->ld_out[QKV_Q], beta);
			continue;
		}
		for (int p = 0; p < 3; p++) {
			size_t d = qkv_out_width(&s->pb, p);
			float *y = b->out[p] + t0 * b->ld_out[p];
			float beta = fill_c(y, b->ld_out[p], rows, d, s->bias[p], rows == 1);
			gemm_cols(s, x, b->ldx, rows, s->col0[p], d, y, b->ld_out[p], beta);
		}
	}
	if (omp_old >= 0)
		omp_set_num_threads(omp_old);
	return QKV_OK;
}

/* OpenBLAS cores (0.3.21 names, case-insensitive) with AVX2 or AVX-512 sgemm kernels.
 * A DYNAMIC_ARCH OpenBLAS that does not know a CPU model falls back to a generic core
 * (Prescott, Katmai, Nehalem, ...) with SSE kernels: 3-5x slower on an AVX2/AVX-512
 * machine (README.md). OPENBLAS_CORETYPE chooses the core instead. */
static int core_has_avx2_kernels(const char *core)
{
	static const char *const fast[] = {"haswell",        "zen",      "skylakex", "cooperlake",
	                                   "sapphirerapids", "excavator"};
	for (size_t i = 0; core && i < sizeof(fast) / sizeof(fast[0]); i++)
		if (!strcasecmp(core, fast[i]))
			return 1;
	return 0;
}

/* The core to ask for on this CPU: SkylakeX for AVX-512 (its sgemm kernels are also
 * the ones Cooperlake and SapphireRapids use), Zen for AMD AVX2, Haswell otherwise. */
static const char *core_fix(const struct qkv_cpu_features *f)
{
	if (f->avx512f && f->avx512dq && f->avx512bw && f->avx512vl)
		return "SkylakeX";
	return f->vendor_amd ? "Zen" : "Haswell";
}

static void blas_probe(struct qkv_probe_result *out)
{
	const char *core = openblas_get_corename();
	const char *config = openblas_get_config();
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	int par = openblas_get_parallel();
	int n = snprintf(out->detail, sizeof(out->detail), "OpenBLAS core %s, %d procs, %s (%s)",
	                 core ? core : "unknown", openblas_get_num_procs(),
	                 par == 2   ? "OpenMP threads"
	                 : par == 1 ? "pthreads"
	                            : "single-threaded",
	                 config ? config : "no config");
	out->score = 50;
	if (f.avx2 && f.fma && !core_has_avx2_kernels(core)) {
		/* Generic kernels on an AVX2/AVX-512 CPU: rank below openmp (60) and onednn,
		 * above the portable C kernels (10) and scalar (1). */
		out->score = 15;
		if (n > 0 && (size_t)n < sizeof(out->detail))
			snprintf(out->detail + n, sizeof(out->detail) - (size_t)n,
			         "; generic core on a CPU with %s: slow, set "
			         "OPENBLAS_CORETYPE=%s",
			         f.avx512f ? "AVX-512" : "AVX2", core_fix(&f));
	}
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    QKV_BACKEND_FIELDS(blas, "blas", "1.0.0", QKV_PRECISION_BIT(QKV_F32)),
    .memory = blas_memory,
};
