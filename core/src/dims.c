#include "dims.h"

#include <stdio.h>

#include <qkv/precision.h>

#include "util.h"

static const char *fault(char *msg, size_t len, enum qkv_status *status, enum qkv_status st,
                         const char *key, const char *text)
{
	snprintf(msg, len, "%s", text);
	*status = st;
	return key;
}

const char *qkv_dims_check(struct qkv_dims *d, char *msg, size_t len, enum qkv_status *status)
{
	char text[300];
	if (d->d_model == 0)
		return fault(msg, len, status, QKV_ERR_ARGUMENT, "d_model", "must be >= 1");
	if (d->n_heads == 0)
		return fault(msg, len, status, QKV_ERR_ARGUMENT, "n_heads", "must be >= 1");
	if (d->precision >= QKV_PRECISION_COUNT) {
		snprintf(text, sizeof(text), "unknown value %u", d->precision);
		return fault(msg, len, status, QKV_ERR_ARGUMENT, "precision", text);
	}
	if (d->n_kv_heads == 0)
		d->n_kv_heads = d->n_heads;
	if (d->n_kv_heads > d->n_heads || d->n_heads % d->n_kv_heads != 0) {
		snprintf(text, sizeof(text),
		         "n_heads %u is not a multiple of n_kv_heads %u (grouped-query attention "
		         "shares each K/V head among a whole number of query heads)",
		         d->n_heads, d->n_kv_heads);
		return fault(msg, len, status, QKV_ERR_ARGUMENT, "n_kv_heads", text);
	}
	if (d->head_dim == 0) {
		if (d->d_model % d->n_heads != 0) {
			snprintf(
			    text, sizeof(text),
			    "d_model %u is not divisible by n_heads %u; set head_dim explicitly",
			    d->d_model, d->n_heads);
			return fault(msg, len, status, QKV_ERR_ARGUMENT, "n_heads", text);
		}
		d->head_dim = d->d_model / d->n_heads;
	}
	uint32_t d_q, d_kv, kv2, n;
	size_t bytes;
	if (__builtin_mul_overflow(d->n_heads, d->head_dim, &d_q) ||
	    __builtin_mul_overflow(d->n_kv_heads, d->head_dim, &d_kv) ||
	    __builtin_mul_overflow(d_kv, 2u, &kv2) || __builtin_add_overflow(d_q, kv2, &n) ||
	    !qkv_mul_size(d->d_model, n, &bytes) || !qkv_mul_size(bytes, sizeof(float), &bytes)) {
		snprintf(text, sizeof(text),
		         "the projection widths overflow: n_heads %u x head_dim %u (+ 2 x "
		         "n_kv_heads %u x head_dim) must fit in 32 bits, and d_model %u times that "
		         "f32 weights in memory",
		         d->n_heads, d->head_dim, d->n_kv_heads, d->d_model);
		return fault(msg, len, status, QKV_ERR_ARGUMENT, "head_dim", text);
	}
	if (d->precision == QKV_INT8 && d->d_model > QKV_INT8_MAX_D_MODEL) {
		snprintf(text, sizeof(text),
		         "%u is above %u, the largest int8 d_model whose int32 accumulator cannot "
		         "overflow (127*127*d_model <= INT32_MAX)",
		         d->d_model, QKV_INT8_MAX_D_MODEL);
		return fault(msg, len, status, QKV_ERR_UNSUPPORTED, "d_model", text);
	}
	d->d_q = d_q;
	d->d_kv = d_kv;
	return NULL;
}
