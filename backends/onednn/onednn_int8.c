/* The onednn backend's int8 path: weights quantized per column by the project's scheme
 * (<qkv/precision.h>) and fused, X rows quantized and shifted to u8, our own rescale of
 * the exact int32 sums, and the self-check that the kernel oneDNN picked sums exactly. */
#include "onednn_impl.h"

#include <qkv/cpu_features.h>

/* Quantize (or copy pre-quantized) int8 weights into a fused plain buffer of the
 * source's orientation: in_out -> wq [K x N]; out_in -> wq [N x K]. */
enum qkv_status fuse_int8(struct onednn_handle *h, const struct qkv_weights *wt, uint32_t layout,
                          int8_t *wq, char *err, size_t errlen)
{
	size_t K = h->K, N = h->N;
	float *col = malloc(K * sizeof(float));
	int8_t *qcol = malloc(K);
	if (!col || !qcol) {
		free(col);
		free(qcol);
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
		                        "out of memory for int8 weights");
	}
	enum qkv_status st = QKV_OK;
	for (int p = 0; p < 3 && st == QKV_OK; p++) {
		size_t d = qkv_out_width(&h->pb, p), c0 = h->col0[p];
		int pre = wt->w_i8[p] && wt->w_scale[p];
		if (!pre && !wt->w[p]) {
			st = qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
			                      "int8 needs f32 or int8 weights");
			break;
		}
		if (pre) {
			size_t cnt = K * d;
			for (size_t i = 0; i < cnt; i++)
				if (wt->w_i8[p][i] < -127) {
					char m[160];
					snprintf(
					    m, sizeof(m),
					    "pre-quantized weights of %c hold %d at element %zu "
					    "(must be in [-127, 127])",
					    "qkv"[p], wt -> w_i8[p][i], i);
					st = qkv_backend_fail(err, errlen, QKV_ERR_FORMAT, "%s", m);
					break;
				}
			if (st != QKV_OK)
				break;
		}
		for (size_t n = 0; n < d; n++) {
			const int8_t *q;
			if (pre) {
				h->wscale[c0 + n] = wt->w_scale[p][n];
				if (layout == QKV_LAYOUT_OUT_IN) {
					q = wt->w_i8[p] + n * K;
				} else {
					for (size_t k = 0; k < K; k++)
						qcol[k] = wt->w_i8[p][k * d + n];
					q = qcol;
				}
			} else {
				for (size_t k = 0; k < K; k++)
					col[k] = layout == QKV_LAYOUT_OUT_IN ? wt->w[p][n * K + k]
					                                     : wt->w[p][k * d + n];
				h->wscale[c0 + n] = qkv_int8_quantize(col, K, qcol);
				q = qcol;
			}
			if (layout == QKV_LAYOUT_OUT_IN)
				memcpy(wq + (c0 + n) * K, q, K);
			else
				for (size_t k = 0; k < K; k++)
					wq[k * N + c0 + n] = q[k];
		}
	}
	free(col);
	free(qcol);
	return st;
}

/* q + 128 as u8, in place: oneDNN then runs u8 x s8 (vpdpbusd / tdpbusd), whose
 * int32 sums are exact, and project subtracts 128 * sum_k w[k][n] (h->comp). s8 src
 * would make oneDNN do that shift itself, with a weights layout of its own for the
 * VNNI kernel; oneDNN 2.6 got one of those sums wrong by 1 at K = 3001 (README.md). */
void to_u8(int8_t *q, size_t n)
{
	uint8_t *u = (uint8_t *)q;
	for (size_t i = 0; i < n; i++)
		u[i] ^= 0x80u;
}

/* One X row: qkv_int8_quantize (the scheme's function, unchanged) then the u8 shift.
 * Compiled twice: baseline, and for SSE4.1, where nearbyintf becomes one roundss
 * instead of a libm call (same IEEE result: round to nearest even in the default
 * mode; no FMA is enabled, so nothing is contracted). */
static inline __attribute__((always_inline)) void quant_row_body(const float *x, size_t K,
                                                                 int8_t *q, float *sx)
{
	*sx = qkv_int8_quantize(x, K, q);
	to_u8(q, K);
}

static void quant_row(const float *x, size_t K, int8_t *q, float *sx)
{
	quant_row_body(x, K, q, sx);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("sse4.1"))) static void quant_row_sse41(const float *x, size_t K, int8_t *q,
                                                              float *sx)
{
	quant_row_body(x, K, q, sx);
}
#endif

void (*quant_pick(void))(const float *, size_t, int8_t *, float *)
{
#if defined(__x86_64__) || defined(__i386__)
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	if (f.sse41)
		return quant_row_sse41;
#endif
	return quant_row;
}

/* One output row: y[n] = ((float)(acc[n] - comp[n]) * sx) * sw[n] + bias[n], i.e.
 * qkv_int8_dequant after the u8 compensation. acc may be y itself (fused outputs: the
 * int32 sums sit in the output's slots): each element is read before it is written.
 * Compiled also for AVX2 and AVX-512F: the module is ISO C (-std=c11), so GCC does
 * not contract the multiply and add into an FMA, and these targets do not enable FMA
 * contraction either way (no -ffp-contract=fast): the same IEEE operations in the
 * same order, only wider. A missing bias is a row of zeros (scalar adds 0.0f too). */
static inline __attribute__((always_inline)) void rescale_body(const char *acc,
                                                               const uint32_t *comp, float sx,
                                                               const float *sw, const float *bias,
                                                               float *y, size_t d)
{
	uint32_t u[256]; /* a block of sums copied out first: y may be acc itself */
	for (size_t n0 = 0; n0 < d; n0 += 256) {
		size_t len = d - n0 < 256 ? d - n0 : 256;
		memcpy(u, acc + n0 * 4, len * 4);
		for (size_t i = 0; i < len; i++) {
			int32_t a = (int32_t)(u[i] - comp[n0 + i]); /* exact: |a| <= 127*127*K */
			y[n0 + i] = qkv_int8_dequant(a, sx, sw[n0 + i], bias[n0 + i]);
		}
	}
}

static void rescale_row(const char *acc, const uint32_t *comp, float sx, const float *sw,
                        const float *bias, float *y, size_t d)
{
	rescale_body(acc, comp, sx, sw, bias, y, d);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void rescale_row_avx2(const char *acc, const uint32_t *comp,
                                                             float sx, const float *sw,
                                                             const float *bias, float *y, size_t d)
{
	rescale_body(acc, comp, sx, sw, bias, y, d);
}

__attribute__((target("avx512f"))) static void
rescale_row_avx512(const char *acc, const uint32_t *comp, float sx, const float *sw,
                   const float *bias, float *y, size_t d)
{
	rescale_body(acc, comp, sx, sw, bias, y, d);
}
#endif

void (*rescale_pick(void))(const char *, const uint32_t *, float, const float *, const float *,
                           float *, size_t)
{
#if defined(__x86_64__) || defined(__i386__)
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	if (f.avx512f)
		return rescale_row_avx512;
	if (f.avx2)
		return rescale_row_avx2;
#endif
	return rescale_row;
}

enum qkv_status int8_selfcheck(struct onednn_handle *h, const int8_t *wq, uint32_t layout,
                               char *err, size_t errlen)
{
	/* Two row counts: kernels (and weight layouts) differ between small and large T. */
	static const size_t rows[2] = {2, 16};
	size_t K = h->K, N = h->N;
	int8_t *x = malloc(16 * K);
	int32_t *y = malloc(16 * N * sizeof(int32_t));
	int64_t *ref = malloc(2 * N * sizeof(int64_t));
	enum qkv_status st = QKV_OK;
	int nthr = threads_for(1);
	int old = threads_enter(nthr);
	if (!x || !y || !ref) {
		st = qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t t = 0; t < 16; t++) /* even rows all +127, odd rows alternate signs */
		for (size_t k = 0; k < K; k++)
			x[t * K + k] = (int8_t)(t % 2 && k % 2 ? -127 : 127);
	for (size_t n = 0; n < N; n++) {
		ref[n] = ref[N + n] = 0;
		for (size_t k = 0; k < K; k++) {
			int w = layout == QKV_LAYOUT_OUT_IN ? wq[n * K + k] : wq[k * N + n];
			ref[n] += (int64_t)x[k] * w;
			ref[N + n] += (int64_t)x[K + k] * w;
		}
	}
	for (int r = 0; r < 2 && st == QKV_OK; r++) {
		struct prim *p = NULL;
		struct slot *sl = NULL;
		st = prim_get(h, rows[r], K, N, nthr, &p, err, errlen);
		if (st == QKV_OK) {
			sl = slot_get(h, p->scratch_bytes > ALIGN ? p->scratch_bytes : ALIGN);
			to_u8(x, 16 * K);
			st = sl ? execute(h, p, sl, sl->buf, x, y, err, errlen)
			        : qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
			to_u8(x, 16 * K);
		}
		for (size_t t = 0; st == QKV_OK && t < rows[r]; t++)
			for (size_t n = 0; n < N; n++)
				if ((int32_t)((uint32_t)y[t * N + n] - h->comp[n]) !=
				    ref[(t % 2) * N + n]) {
					st = qkv_backend_fail(
					    err, errlen, QKV_ERR_UNSUPPORTED,
					    "int8: oneDNN's int32 sums are not exact on this "
					    "CPU (self-check with saturating rows failed)");
					break;
				}
		if (sl)
			slot_put(h, sl);
		if (p)
			prim_put(h, p);
	}
out:
	threads_leave(old, nthr);
	free(x);
	free(y);
	free(ref);
	return st;
}
