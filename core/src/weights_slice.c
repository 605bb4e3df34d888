/* Head shards: the plan (which heads a rank owns) and the cutting of weight views down
 * to a rank's output columns. See shard.h for the rules. */
#define _DEFAULT_SOURCE /* madvise, MADV_DONTNEED */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shard.h"
#include "util.h"

enum qkv_shard_fault qkv_shard_plan(uint32_t n_heads, uint32_t n_kv_heads, uint32_t rank,
                                    uint32_t world, struct qkv_shard *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	if (world == 0) {
		qkv_fail(why, whylen, QKV_ERR_CONFIG, "world must be >= 1");
		return QKV_SHARD_BAD_WORLD;
	}
	if (n_heads % world) {
		qkv_fail(why, whylen, QKV_ERR_CONFIG,
		         "world %u does not divide n_heads %u: each rank owns a whole number of "
		         "query heads",
		         world, n_heads);
		return QKV_SHARD_BAD_WORLD;
	}
	if (world <= n_kv_heads && n_kv_heads % world) {
		qkv_fail(why, whylen, QKV_ERR_CONFIG,
		         "world %u does not divide n_kv_heads %u: with world <= n_kv_heads the "
		         "K/V heads are split evenly",
		         world, n_kv_heads);
		return QKV_SHARD_BAD_WORLD;
	}
	if (world > n_kv_heads && world % n_kv_heads) {
		qkv_fail(why, whylen, QKV_ERR_CONFIG,
		         "world %u is above n_kv_heads %u but not a multiple of it: a rank's "
		         "query heads would need parts of two K/V heads",
		         world, n_kv_heads);
		return QKV_SHARD_BAD_WORLD;
	}
	if (rank >= world) {
		qkv_fail(why, whylen, QKV_ERR_CONFIG,
		         "rank %u is not below world %u (ranks are 0..%u)", rank, world, world - 1);
		return QKV_SHARD_BAD_RANK;
	}
	out->rank = rank;
	out->world = world;
	out->q_heads = n_heads / world;
	out->q_head0 = rank * out->q_heads;
	if (world <= n_kv_heads) {
		out->kv_heads = n_kv_heads / world;
		out->kv_head0 = rank * out->kv_heads;
	} else {
		out->kv_heads = 1;
		out->kv_head0 = rank / (world / n_kv_heads);
	}
	return QKV_SHARD_OK;
}

void qkv_shard_cols(const struct qkv_shard *s, int p, uint32_t head_dim, uint64_t *c0, uint64_t *n)
{
	uint32_t h0 = p == QKV_Q ? s->q_head0 : s->kv_head0;
	uint32_t nh = p == QKV_Q ? s->q_heads : s->kv_heads;
	*c0 = (uint64_t)h0 * head_dim;
	*n = (uint64_t)nh * head_dim;
}

enum qkv_status qkv_view_slice(const struct qkv_tensor_view *v, uint32_t layout, uint64_t d_model,
                               uint64_t d_out, uint64_t c0, uint64_t n, struct qkv_tensor_view *out,
                               void **owned, char *err, size_t errlen)
{
	*owned = NULL;
	size_t es = qkv_dtype_size(v->dtype), row = qkv_view_span(v, d_model);
	if (row == 0 || c0 + n > d_out || qkv_tensor_count(v) != d_model * d_out ||
	    v->nbytes != d_out * row || v->ndim == 0 || v->ndim > 2 ||
	    (v->dtype == QKV_DT_BLOCK && layout != QKV_LAYOUT_OUT_IN))
		return qkv_fail(err, errlen, QKV_ERR_UNSUPPORTED,
		                "this tensor view cannot be sliced by heads (it is not a "
		                "contiguous [d_model x d_out] or [d_out x d_model] tensor)");
	*out = *v;
	out->ndim = 2;
	out->shape[2] = out->shape[3] = 0;
	if (layout == QKV_LAYOUT_OUT_IN) {
		/* rows [c0, c0 + n) of [d_out x d_model]: one contiguous run */
		out->shape[0] = n;
		out->shape[1] = d_model;
		out->data = v->data + c0 * row;
		out->nbytes = (size_t)(n * row);
		return QKV_OK;
	}
	/* columns [c0, c0 + n) of [d_model x d_out]: copy, widening floats to f32 */
	bool is_i8 = v->dtype == QKV_DT_I8;
	size_t oes = is_i8 ? 1 : sizeof(float), bytes;
	if (!qkv_mul_size((size_t)(d_model * n), oes, &bytes))
		return qkv_fail(err, errlen, QKV_ERR_FORMAT, "slice too large");
	uint8_t *buf = qkv_malloc(bytes ? bytes : 1); /* [d_model x n] */
	if (!buf)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM,
		                "out of memory copying a %llu x %llu column slice",
		                (unsigned long long)d_model, (unsigned long long)n);
	for (uint64_t r = 0; r < d_model; r++) {
		const uint8_t *src = v->data + (r * d_out + c0) * es;
		uint8_t *dst = buf + r * n * oes;
		if (is_i8) {
			memcpy(dst, src, (size_t)n);
		} else {
			struct qkv_tensor_view row = {.dtype = v->dtype,
			                              .ndim = 1,
			                              .shape = {n},
			                              .nbytes = (size_t)(n * es),
			                              .data = src};
			qkv_convert_to_f32(&row, (float *)(void *)dst, (size_t)n);
		}
	}
	out->dtype = is_i8 ? QKV_DT_I8 : QKV_DT_F32;
	out->shape[0] = d_model;
	out->shape[1] = n;
	out->data = buf;
	out->nbytes = bytes;
	*owned = buf;
	return QKV_OK;
}

void qkv_vec_slice(const struct qkv_tensor_view *v, uint64_t c0, uint64_t n,
                   struct qkv_tensor_view *out)
{
	size_t es = qkv_dtype_size(v->dtype);
	*out = *v;
	out->ndim = 1;
	out->shape[0] = n;
	out->shape[1] = out->shape[2] = out->shape[3] = 0;
	out->data = v->data + c0 * es;
	out->nbytes = (size_t)(n * es);
}

void qkv_release_pages(const void *p, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	if (pg <= 0 || !p || !len)
		return;
	uintptr_t a = (uintptr_t)p, e = a + len;
	uintptr_t first = (a + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
	uintptr_t last = e & ~((uintptr_t)pg - 1);
	if (last > first)
		(void)madvise((void *)first, last - first, MADV_DONTNEED);
}
