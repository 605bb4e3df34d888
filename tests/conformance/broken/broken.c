/* A small f32 (and, for one defect, int8) backend that is correct except for the
 * one defect selected by -DBROKEN_<NAME>, to prove the conformance cases catch it:
 *
 *   DROP_TAIL       a block-of-8 loop that drops the last column when N % 8 != 0
 *   IGNORE_BIAS     never adds the biases
 *   IGNORE_STRIDE   treats X and the outputs as packed (ldx = K, ld = width)
 *   WRITE_PAST      a tail store that writes one float past the last row
 *   STATIC_SCRATCH  one static accumulator row shared by concurrent calls
 *   NAN_FLUSH       "sanitises" NaN outputs to 0
 *   INT8_SATURATE   int8 through u8*s8 pairs summed in saturating 16 bits
 *                   (a naive vpmaddubsw path with the +128 offset trick)
 *   WRONG_ABI       built for ABI major 2
 *   OVER_READ       reads X in blocks of 8, past the end of the row when K % 8 != 0
 * and two that test the runner itself rather than a case:
 *   CRASH           project dereferences NULL (SIGSEGV)
 *   HANG            project never returns
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <qkv/plugin.h>

#include <qkv/precision.h>

#ifdef BROKEN_INT8_SATURATE
#define PRECISIONS (QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_INT8))
#else
#define PRECISIONS QKV_PRECISION_BIT(QKV_F32)
#endif

struct handle {
	struct qkv_problem pb;
	uint32_t layout;
	const float *w[3], *bias[3];
	int8_t *wq[3];    /* int8: [d_out x d_model] column-major */
	float *ws[3];     /* int8: [d_out] */
	int32_t *wsum[3]; /* int8: sum_k wq, for the +128 offset correction */
};

static uint32_t width(const struct qkv_problem *pb, int p)
{
	return p == QKV_Q ? pb->d_q : pb->d_kv;
}

static float w_at(const struct handle *h, int p, size_t k, size_t n)
{
	size_t K = h->pb.d_model, N = width(&h->pb, p);
	return h->w[p][h->layout == QKV_LAYOUT_IN_OUT ? k * N + n : n * K + k];
}

static void broken_release(void *hv)
{
	struct handle *h = hv;
	if (!h)
		return;
	for (int p = 0; p < 3; p++) {
		free(h->wq[p]);
		free(h->ws[p]);
		free(h->wsum[p]);
	}
	free(h);
}

static enum qkv_status quantize(struct handle *h)
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
			return QKV_ERR_NOMEM;
		}
		for (size_t n = 0; n < N; n++) {
			for (size_t k = 0; k < K; k++)
				col[k] = w_at(h, p, k, n);
			h->ws[p][n] = qkv_int8_quantize(col, K, h->wq[p] + n * K);
			h->wsum[p][n] = 0;
			for (size_t k = 0; k < K; k++)
				h->wsum[p][n] += h->wq[p][n * K + k];
		}
	}
	free(col);
	return QKV_OK;
}

static enum qkv_status broken_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                      void **out, char *err, size_t errlen)
{
	*out = NULL;
	if (pb->precision >= 32 || !(PRECISIONS & QKV_PRECISION_BIT(pb->precision))) {
		snprintf(err, errlen, "broken: precision %u not supported", pb->precision);
		return QKV_ERR_UNSUPPORTED;
	}
	struct handle *h = calloc(1, sizeof(*h));
	if (!h)
		return QKV_ERR_NOMEM;
	*out = h;
	h->pb = *pb;
	h->layout = wt->layout;
	for (int p = 0; p < 3; p++) {
		h->w[p] = wt->w[p];
		h->bias[p] = wt->bias[p];
	}
	if (pb->precision == QKV_INT8 && quantize(h) != QKV_OK) {
		snprintf(err, errlen, "broken: out of memory");
		return QKV_ERR_NOMEM;
	}
	return QKV_OK;
}

/* u8*s8 products summed in pairs into a saturating int16, as vpmaddubsw does. */
static int32_t dot_u8s8_sat16(const int8_t *x, const int8_t *w, size_t K, int32_t wsum)
{
	int32_t acc = 0;
	for (size_t k = 0; k < K; k += 2) {
		int32_t s = (x[k] + 128) * w[k];
		if (k + 1 < K)
			s += (x[k + 1] + 128) * w[k + 1];
		acc += s > 32767 ? 32767 : (s < -32768 ? -32768 : s);
	}
	return acc - 128 * wsum; /* undo the +128 offset */
}

static enum qkv_status project_int8(const struct handle *h, const struct qkv_batch *b)
{
	size_t K = h->pb.d_model;
	int8_t *xq = malloc(K);
	if (!xq)
		return QKV_ERR_NOMEM;
	for (size_t t = 0; t < b->T; t++) {
		float sx = qkv_int8_quantize(b->x + t * b->ldx, K, xq);
		for (int p = 0; p < 3; p++) {
			float *y = b->out[p] + t * b->ld_out[p];
			for (size_t n = 0; n < width(&h->pb, p); n++) {
				int32_t acc =
				    dot_u8s8_sat16(xq, h->wq[p] + n * K, K, h->wsum[p][n]);
				y[n] = qkv_int8_dequant(acc, sx, h->ws[p][n],
				                        h->bias[p] ? h->bias[p][n] : 0.0f);
			}
		}
	}
	free(xq);
	return QKV_OK;
}

#ifdef BROKEN_STATIC_SCRATCH
static float scratch[1 << 16]; /* the defect: shared by every concurrent call */
#endif

static void project_row(const struct handle *h, int p, const float *x, float *y)
{
	size_t K = h->pb.d_model, N = width(&h->pb, p);
#ifdef BROKEN_DROP_TAIL
	if (N % 8)
		N--; /* the defect: the remainder loop stops one short */
#endif
#ifdef BROKEN_STATIC_SCRATCH
	float *acc = scratch;
#else
	float *acc = y;
#endif
#ifdef BROKEN_OVER_READ
	if (K % 8) { /* the defect: a full 8-float load of the row's last block */
		volatile float tail = x[(K + 7) / 8 * 8 - 1];
		(void)tail;
	}
#endif
	for (size_t n = 0; n < N; n++) {
		acc[n] = 0.0f;
		for (size_t k = 0; k < K; k++)
			acc[n] += x[k] * w_at(h, p, k, n);
	}
	for (size_t n = 0; n < N; n++) {
		float v = acc[n];
#ifndef BROKEN_IGNORE_BIAS
		if (h->bias[p])
			v += h->bias[p][n];
#endif
#ifdef BROKEN_NAN_FLUSH
		if (v != v)
			v = 0.0f;
#endif
		y[n] = v;
	}
}

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
	if (h->pb.precision == QKV_INT8)
		return project_int8(h, b);
	for (int p = 0; p < 3; p++) {
		size_t ldx = b->ldx, ld = b->ld_out[p];
#ifdef BROKEN_IGNORE_STRIDE
		ldx = h->pb.d_model;
		ld = width(&h->pb, p);
#endif
		for (size_t t = 0; t < b->T; t++)
			project_row(h, p, b->x + t * ldx, b->out[p] + t * ld);
#ifdef BROKEN_WRITE_PAST
		b->out[p][(b->T - 1) * ld + width(&h->pb, p)] = 0.0f; /* a tail store too wide */
#endif
	}
	return QKV_OK;
}

static void broken_probe(struct qkv_probe_result *out)
{
	out->score = 1;
	snprintf(out->detail, sizeof(out->detail), "deliberately broken test plugin");
}

#ifdef BROKEN_WRONG_ABI
#define ABI_MAJOR (QKV_PLUGIN_ABI_MAJOR + 1)
#else
#define ABI_MAJOR QKV_PLUGIN_ABI_MAJOR
#endif

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    .abi_major = ABI_MAJOR,
    .abi_minor = QKV_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(struct qkv_backend),
    .precisions = PRECISIONS,
    .name = "broken",
    .version = "0.0.1",
    .probe = broken_probe,
    .prepare = broken_prepare,
    .project = broken_project,
    .release = broken_release,
};
