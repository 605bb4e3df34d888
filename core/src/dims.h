/* The dimension rules of one layer's projection, in one place: checked for a config
 * (config_validate.c: errors at file:line:col under `model.<key>`) and for the API
 * (qkv_problem_init: errors naming the argument). See struct qkv_problem in
 * <qkv/plugin.h> for the rules a backend may rely on. */
#ifndef QKV_CORE_DIMS_H
#define QKV_CORE_DIMS_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/plugin.h>

struct qkv_dims {
	uint32_t d_model, n_heads;
	uint32_t n_kv_heads; /* 0 = n_heads (filled in) */
	uint32_t head_dim;   /* 0 = d_model / n_heads (filled in) */
	uint32_t precision;  /* enum qkv_precision */
	uint32_t d_q, d_kv;  /* out: n_heads * head_dim, n_kv_heads * head_dim */
};

/* Fill the defaults and the widths. On a broken rule, returns the name of the member at
 * fault ("d_model", "n_heads", "n_kv_heads", "head_dim", "precision"), writes what is
 * wrong into msg[len] (without the name) and sets *status: QKV_ERR_UNSUPPORTED for the
 * int8 limit (a valid shape no int8 backend can compute exactly), else
 * QKV_ERR_ARGUMENT. Returns NULL when every rule holds. */
const char *qkv_dims_check(struct qkv_dims *d, char *msg, size_t len, enum qkv_status *status);

#endif
