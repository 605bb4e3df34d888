/* oneDNN reference rows: the matmul primitive on X [T x K] . W [K x N], weights
 * reordered once into the layout the primitive asks for (format_tag_any), like a
 * prepared backend. int8: u8 activations (already quantized: the per-call
 * quantization our int8 backends do is not in this time) times s8 weights with a
 * per-column output scale, f32 out. Threads: the library uses the OpenMP runtime, so
 * the row's count is set with omp_set_num_threads around the timing and restored. */
#include "bench_onednn.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include <qkv/plugin.h>

#include "onednn_isa.h" /* the onednn backend's ISA table: is int8 exact here */

struct dnn {
	dnnl_engine_t eng;
	dnnl_stream_t str;
	dnnl_primitive_desc_t pd;
	dnnl_primitive_t mm;
	dnnl_memory_t wmem;                /* weights in the primitive's layout */
	dnnl_memory_t src[BENCH_MAX_BUFS]; /* wrap X (f32) or src_u8 */
	dnnl_memory_t dst[BENCH_MAX_BUFS]; /* wrap Y [T x N] */
	uint8_t *src_u8[BENCH_MAX_BUFS];   /* [T x K] */
	size_t nbuf;
	int threads;
};

bool bench_onednn_supports(unsigned precision)
{
	return precision == QKV_F32 || precision == QKV_INT8;
}

const char *bench_onednn_status(void)
{
	static char s[64]; /* CLI: filled once, read-only after */
	const dnnl_version_t *v = dnnl_version();
	snprintf(s, sizeof(s), "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
	return s;
}

int bench_onednn_call(void *ctx, size_t buf, char *err, size_t errlen)
{
	struct dnn *d = ctx;
	int old = omp_get_max_threads(); /* the library runs on our OpenMP runtime */
	omp_set_num_threads(d->threads);
	dnnl_exec_arg_t args[3] = {
	    {DNNL_ARG_SRC, d->src[buf]}, {DNNL_ARG_WEIGHTS, d->wmem}, {DNNL_ARG_DST, d->dst[buf]}};
	bool ok = dnnl_primitive_execute(d->mm, d->str, 3, args) == dnnl_success &&
	          dnnl_stream_wait(d->str) == dnnl_success;
	omp_set_num_threads(old);
	if (!ok) {
		snprintf(err, errlen, "oneDNN matmul failed");
		return 1;
	}
	return 0;
}

void bench_onednn_free(void *ctx)
{
	struct dnn *d = ctx;
	if (!d)
		return;
	for (size_t i = 0; i < BENCH_MAX_BUFS; i++) {
		if (d->src[i])
			dnnl_memory_destroy(d->src[i]);
		if (d->dst[i])
			dnnl_memory_destroy(d->dst[i]);
		free(d->src_u8[i]);
	}
	if (d->wmem)
		dnnl_memory_destroy(d->wmem);
	if (d->mm)
		dnnl_primitive_destroy(d->mm);
	if (d->pd)
		dnnl_primitive_desc_destroy(d->pd);
	if (d->str)
		dnnl_stream_destroy(d->str);
	if (d->eng)
		dnnl_engine_destroy(d->eng);
	free(d);
}

/* Quantize W [K x N] per column into s8 (the int8 row's weights); scale[n] gets the
 * dequantization factor of column n times an activation scale of 1/127. */
static int8_t *quantize_w(const float *w, size_t K, size_t N, float *scale)
{
	int8_t *q = malloc(K * N); /* [K x N] */
	float *amax = calloc(N, sizeof(float));
	if (!q || !amax) {
		free(q);
		free(amax);
		return NULL;
	}
	for (size_t k = 0; k < K; k++)
		for (size_t n = 0; n < N; n++)
			amax[n] = fmaxf(amax[n], fabsf(w[k * N + n]));
	for (size_t k = 0; k < K; k++)
		for (size_t n = 0; n < N; n++)
			q[k * N + n] =
			    (int8_t)(amax[n] > 0 ? nearbyintf(w[k * N + n] * 127 / amax[n]) : 0);
	for (size_t n = 0; n < N; n++)
		scale[n] = amax[n] / 127 / 127;
	free(amax);
	return q;
}

#define CHECK(x, what)                                                                             \
	do {                                                                                       \
		if ((x) != dnnl_success) {                                                         \
			snprintf(err, errlen, "oneDNN: %s failed", what);                          \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

void *bench_onednn_prepare(const struct bench_shape *s, const float *w,
                           const struct bench_buffers *b, unsigned precision, unsigned threads,
                           char *detail, size_t dlen, char *err, size_t errlen)
{
	struct dnn *dp = calloc(1, sizeof(*dp));
	if (!dp) {
		snprintf(err, errlen, "oneDNN: out of memory");
		return NULL;
	}
	struct dnn d = {0};
	d.threads = (int)threads;
	bool ok = false, i8 = precision == QKV_INT8;
	int8_t *wq = NULL;
	float *scale = NULL;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_desc_t rpd = NULL;
	dnnl_primitive_t reorder = NULL;
	dnnl_memory_t wuser = NULL;
	size_t T = b->T, K = s->d_model, N = s->n;
	dnnl_memory_desc_t src_md, w_md, wuser_md, dst_md;
	dnnl_dims_t sd = {(dnnl_dim_t)T, (dnnl_dim_t)K}, wd = {(dnnl_dim_t)K, (dnnl_dim_t)N},
	            dd = {(dnnl_dim_t)T, (dnnl_dim_t)N};
	dnnl_data_type_t wt = i8 ? dnnl_s8 : dnnl_f32;

	CHECK(dnnl_engine_create(&d.eng, dnnl_cpu, 0), "engine");
	CHECK(dnnl_stream_create(&d.str, d.eng, dnnl_stream_default_flags), "stream");
	CHECK(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, i8 ? dnnl_u8 : dnnl_f32, dnnl_ab),
	      "src desc");
	CHECK(dnnl_memory_desc_init_by_tag(&w_md, 2, wd, wt, dnnl_format_tag_any), "w desc");
	CHECK(dnnl_memory_desc_init_by_tag(&wuser_md, 2, wd, wt, dnnl_ab), "w desc");
	CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab), "dst desc");
	CHECK(dnnl_primitive_attr_create(&attr), "attr");
	if (i8) {
		scale = malloc(N * sizeof(float));
		wq = scale ? quantize_w(w, K, N, scale) : NULL;
		if (!wq) {
			snprintf(err, errlen, "oneDNN: out of memory");
			goto out;
		}
		CHECK(dnnl_primitive_attr_set_output_scales(attr, (dnnl_dim_t)N, 1 << 1, scale),
		      "output scales");
	}
	dnnl_matmul_desc_t mmd;
	CHECK(dnnl_matmul_desc_init(&mmd, &src_md, &w_md, NULL, &dst_md), "matmul desc");
	/* The primitive fixes its team size when it is created (dnnl_get_max_threads() then):
	 * create it under the row's thread count, as the call runs it. */
	int old_threads = omp_get_max_threads();
	omp_set_num_threads(d.threads);
	dnnl_status_t made = dnnl_primitive_desc_create(&d.pd, &mmd, attr, d.eng, NULL);
	if (made == dnnl_success)
		made = dnnl_primitive_create(&d.mm, d.pd);
	omp_set_num_threads(old_threads);
	CHECK(made, i8 ? "int8 matmul (unsupported on this CPU?)" : "matmul");
	const char *impl = NULL;
	dnnl_primitive_desc_query(d.pd, dnnl_query_impl_info_str, 0, &impl);
	if (i8 && !onednn_isa_int8_exact()) /* the backend refuses int8 here for this reason */
		snprintf(detail, dlen, "%s %s; inexact here (%s)", bench_onednn_status(),
		         impl ? impl : "", onednn_isa_int8_refused());
	else
		snprintf(detail, dlen, "%s %s", bench_onednn_status(), impl ? impl : "");

	/* Weights into the primitive's layout, once. */
	const dnnl_memory_desc_t *w_pd =
	    dnnl_primitive_desc_query_md(d.pd, dnnl_query_weights_md, 0);
	CHECK(dnnl_memory_create(&wuser, &wuser_md, d.eng, i8 ? (void *)wq : (void *)w), "memory");
	CHECK(dnnl_memory_create(&d.wmem, w_pd, d.eng, DNNL_MEMORY_ALLOCATE), "memory");
	CHECK(dnnl_reorder_primitive_desc_create(&rpd, &wuser_md, d.eng, w_pd, d.eng, NULL),
	      "reorder");
	CHECK(dnnl_primitive_create(&reorder, rpd), "reorder");
	dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, wuser}, {DNNL_ARG_TO, d.wmem}};
	CHECK(dnnl_primitive_execute(reorder, d.str, 2, rargs), "reorder");
	CHECK(dnnl_stream_wait(d.str), "reorder");

	d.nbuf = b->nbuf;
	for (size_t i = 0; i < b->nbuf; i++) {
		void *src = b->x[i];
		if (i8) {
			d.src_u8[i] = malloc(T * K);
			if (!d.src_u8[i]) {
				snprintf(err, errlen, "oneDNN: out of memory");
				goto out;
			}
			for (size_t e = 0; e < T * K; e++) /* x in [-1, 1) -> [1, 255] */
				d.src_u8[i][e] = (uint8_t)(128.0f + 127.0f * b->x[i][e]);
			src = d.src_u8[i];
		}
		CHECK(dnnl_memory_create(&d.src[i], &src_md, d.eng, src), "memory");
		CHECK(dnnl_memory_create(&d.dst[i], &dst_md, d.eng, b->y[i]), "memory");
	}
	ok = true;
out:
	if (reorder)
		dnnl_primitive_destroy(reorder);
	if (rpd)
		dnnl_primitive_desc_destroy(rpd);
	if (wuser)
		dnnl_memory_destroy(wuser);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	free(wq);
	free(scale);
	*dp = d;
	if (!ok) {
		bench_onednn_free(dp);
		return NULL;
	}
	return dp;
}
