/* The openmp backend: f32 Q/K/V on our own packed, register-blocked kernels,
 * parallel with OpenMP. This file is the plugin face: descriptor, probe, prepare,
 * argument checks; pack.c, gemm.c and the kernel_*.c files do the work. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define QKV_BACKEND_NAME "openmp"
#include <qkv/backend_util.h>

#include "../big_alloc.h"
#include "ompb.h"

static void ompb_release(void *handle)
{
	struct ompb_handle *h = handle;
	if (!h)
		return;
	free(h->panels);
	qkv_big_free(h->wp, h->w_bytes);
	qkv_big_free(h->wb, h->w_bytes);
	for (int p = 0; p < 3; p++)
		free(h->bias[p]);
	free(h);
}

enum qkv_status qkv_omp_prepare_with(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                     const struct ompb_kernels *kern, void **handle, char *err,
                                     size_t errlen)
{
	*handle = NULL;
	if (pb->precision != QKV_F32 && pb->precision != QKV_BF16)
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED,
		                        "only precisions f32 and bf16");
	if (wt->layout != QKV_LAYOUT_IN_OUT && wt->layout != QKV_LAYOUT_OUT_IN)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "unknown weight layout");
	if (pb->d_model == 0 || pb->d_q == 0 || pb->d_kv == 0)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
		                        "d_model, d_q and d_kv must be >= 1");
	for (int p = 0; p < 3; p++)
		if (!wt->w[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
			                        "f32 weights missing");
	struct ompb_handle *h = calloc(1, sizeof(*h));
	if (!h)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	*handle = h;
	h->pb = *pb;
	h->kern = kern;
	long long bias_bytes = qkv_biases_copy(pb, wt, h->bias);
	if (bias_bytes < 0 || qkv_omp_pack(h, wt) != QKV_OK)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
		                        "out of memory for the packed weights");
	h->bytes += (uint64_t)bias_bytes + sizeof(*h);
	return QKV_OK;
}

static enum qkv_status ompb_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                    void **handle, char *err, size_t errlen)
{
	char why[256];
	const struct ompb_kernels *k = qkv_omp_kernels_pick(why, sizeof(why));
	if (!k) {
		*handle = NULL;
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED, "%s", why);
	}
	return qkv_omp_prepare_with(pb, wt, k, handle, err, errlen);
}

static void ompb_memory(const void *handle, struct qkv_handle_memory *out)
{
	const struct ompb_handle *h = handle;
	out->keeps_weights = 0; /* packed panels and bias copies */
	out->bytes_made = h->bytes;
}

static enum qkv_status ompb_project(const void *handle, const struct qkv_batch *b, char *err,
                                    size_t errlen)
{
	const struct ompb_handle *h = handle;
	if (!h || !b)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "NULL handle or batch");
	if (b->T == 0)
		return QKV_OK;
	if (!b->x || b->ldx < h->pb.d_model)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
		                        "x is NULL or ldx is below d_model");
	for (int p = 0; p < 3; p++)
		if (!b->out[p] || b->ld_out[p] < (p == QKV_Q ? h->pb.d_q : h->pb.d_kv))
			return qkv_backend_fail(
			    err, errlen, QKV_ERR_ARGUMENT,
			    "an output is NULL or its stride is below its width");
	return qkv_omp_run(h, b, err, errlen);
}

static void ompb_probe(struct qkv_probe_result *out)
{
	char why[192];
	const struct ompb_kernels *k = qkv_omp_kernels_pick(why, sizeof(why));
	out->score = !k ? 0 : (k == &qkv_omp_kernels_c ? 10 : 60);
	snprintf(out->detail, sizeof(out->detail), "%s; f32, bf16; OpenMP, %d cores", why,
	         omp_get_num_procs());
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    QKV_BACKEND_FIELDS(ompb, "openmp", "1.0.0",
                       QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_BF16)),
    .memory = ompb_memory,
};
