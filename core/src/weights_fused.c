/* Fused Q/K/V tensors: cut one projection's weights (or bias) out of a tensor that holds
 * all three along its output dimension, N = d_q + 2 d_kv outputs.
 *
 *   split rows   out_in [N x d_model], rows q | k | v           (Phi-3 qkv_proj, GGUF attn_qkv)
 *   split cols   in_out [d_model x N], columns q | k | v        (GPT-2 Conv1D c_attn)
 *   split heads  per K/V head group g (n_kv_heads groups): the group's n_heads/n_kv_heads
 *                query heads, then its K head, then its V head, head_dim outputs each
 *                (GPT-NeoX / Falcon query_key_value; with n_kv_heads 1 this is q | k | v)
 *                along the output dimension of either layout.
 * A bias [N] splits the same way along its only dimension.
 *
 * Zero copy when the projection's outputs are one contiguous run in the file: rows or
 * heads-with-one-group in out_in, and every bias block. Otherwise the outputs are gathered
 * into one f32 buffer (widened from F16/BF16 on the way): one copy, made here at open. */
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "weights.h"

const char *qkv_split_name(enum qkv_split s)
{
	return s == QKV_SPLIT_ROWS ? "rows" : s == QKV_SPLIT_COLS ? "cols" : "heads";
}

/* Source output index of run `i` (runs are `run` outputs long) of projection p. */
static uint64_t run_src(const struct qkv_fused_dims *d, enum qkv_split split, int p, uint64_t i,
                        uint64_t run)
{
	uint64_t d_q = (uint64_t)d->n_heads * d->head_dim,
	         d_kv = (uint64_t)d->n_kv_heads * d->head_dim;
	if (split != QKV_SPLIT_HEADS)
		return (p == 0 ? 0 : p == 1 ? d_q : d_q + d_kv) + i * run;
	uint64_t qpk = d->n_heads / d->n_kv_heads, hd = d->head_dim, gs = (qpk + 2) * hd;
	if (p == 0)
		return (i / qpk) * gs + (i % qpk) * hd;
	return i * gs + (qpk + (uint64_t)(p - 1)) * hd;
}

enum qkv_status qkv_fused_slice(const struct qkv_tensor_view *full, enum qkv_split split,
                                uint32_t layout, bool is_bias, const struct qkv_fused_dims *d,
                                int p, struct qkv_tensor_view *out, void **owned, char *err,
                                size_t errlen)
{
	*owned = NULL;
	memset(out, 0, sizeof(*out));
	uint64_t dm = d->d_model, hd = d->head_dim;
	uint64_t d_q = (uint64_t)d->n_heads * hd, d_kv = (uint64_t)d->n_kv_heads * hd;
	uint64_t N = d_q + 2 * d_kv, d_out = p == 0 ? d_q : d_kv;
	bool out_in = layout == QKV_LAYOUT_OUT_IN;
	bool ok = is_bias ? full->ndim == 1 && full->shape[0] == N
	                  : full->ndim == 2 && full->shape[0] == (out_in ? N : dm) &&
	                        full->shape[1] == (out_in ? dm : N);
	if (!ok) {
		char got[96];
		size_t w = (size_t)snprintf(got, sizeof(got), "[");
		for (uint32_t i = 0; i < full->ndim && i < QKV_MAX_DIMS && w < sizeof(got); i++)
			w += (size_t)snprintf(got + w, sizeof(got) - w, "%s%llu", i ? ", " : "",
			                      (unsigned long long)full->shape[i]);
		if (w < sizeof(got))
			snprintf(got + w, sizeof(got) - w, "]");
		if (is_bias)
			return qkv_fail(
			    err, errlen, QKV_ERR_FORMAT,
			    "fused bias has shape %s, expected [N=%llu] (d_q %llu + 2 x "
			    "d_kv %llu)",
			    got, (unsigned long long)N, (unsigned long long)d_q,
			    (unsigned long long)d_kv);
		return qkv_fail(
		    err, errlen, QKV_ERR_FORMAT,
		    "fused tensor has shape %s, expected [%s=%llu, %s=%llu] (layout %s, "
		    "N = d_q %llu + 2 x d_kv %llu)",
		    got, out_in ? "N" : "d_model", (unsigned long long)(out_in ? N : dm),
		    out_in ? "d_model" : "N", (unsigned long long)(out_in ? dm : N),
		    out_in ? "out_in" : "in_out", (unsigned long long)d_q,
		    (unsigned long long)d_kv);
	}
	size_t es = qkv_dtype_size(full->dtype);
	uint64_t run = split == QKV_SPLIT_HEADS ? hd : d_out;
	uint64_t n_runs = d_out / run;
	/* Contiguous in the file when the runs follow each other. */
	bool contiguous = true;
	for (uint64_t i = 1; i < n_runs && contiguous; i++)
		contiguous = run_src(d, split, p, i, run) == run_src(d, split, p, 0, run) + i * run;
	uint64_t s0 = run_src(d, split, p, 0, run);
	size_t row = is_bias ? es : qkv_view_span(full, dm); /* bytes per output */
	if (row == 0)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "fused tensor of type %s: d_model %llu is not whole blocks",
		                qkv_view_type_name(full), (unsigned long long)dm);
	if (contiguous && (is_bias || out_in)) {
		*out = *full;
		out->shape[0] = d_out;
		out->data = full->data + s0 * row;
		out->nbytes = (size_t)(d_out * row);
		return QKV_OK;
	}
	if (full->dtype == QKV_DT_BLOCK && !out_in)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "a %s fused tensor must be out_in (whole blocks along d_model)",
		                qkv_view_type_name(full));
	if (full->dtype == QKV_DT_I8)
		return qkv_fail(err, errlen, QKV_ERR_FORMAT,
		                "an I8 fused tensor split `%s` would need a copy; pre-quantized "
		                "fused weights are not supported",
		                qkv_split_name(split));
	uint64_t count = is_bias ? d_out : d_out * dm;
	size_t bytes;
	if (!qkv_mul_size((size_t)count, sizeof(float), &bytes))
		return qkv_fail(err, errlen, QKV_ERR_FORMAT, "fused slice too large");
	float *buf = qkv_malloc(bytes ? bytes : 1); /* [count] */
	if (!buf)
		return qkv_fail(err, errlen, QKV_ERR_NOMEM,
		                "out of memory copying a %llu-output slice of a fused tensor",
		                (unsigned long long)d_out);
	/* Gather run by run; a run is `len` contiguous source elements. */
	uint64_t rows = (is_bias || out_in) ? 1 : dm;
	for (uint64_t r = 0; r < rows; r++)
		for (uint64_t i = 0; i < n_runs; i++) {
			uint64_t src = run_src(d, split, p, i, run), len, so, dof;
			if (is_bias) {
				so = src, dof = i * run, len = run;
			} else if (out_in) {
				so = src * dm, dof = i * run * dm, len = run * dm;
			} else {
				so = r * N + src, dof = r * d_out + i * run, len = run;
			}
			struct qkv_tensor_view piece = {.dtype = full->dtype,
			                                .wtype = full->wtype,
			                                .ndim = 1,
			                                .shape = {len},
			                                .nbytes = qkv_view_span(full, len),
			                                .data =
			                                    full->data + qkv_view_span(full, so)};
			qkv_convert_to_f32(&piece, buf + dof, (size_t)len);
		}
	out->dtype = QKV_DT_F32;
	out->ndim = is_bias ? 1 : 2;
	out->shape[0] = is_bias ? d_out : out_in ? d_out : dm;
	out->shape[1] = is_bias ? 0 : out_in ? dm : d_out;
	out->data = (const uint8_t *)buf;
	out->nbytes = bytes;
	*owned = buf;
	return QKV_OK;
}

bool qkv_layer_name(const char *name, bool has_layer, uint32_t layer, char *out, size_t outlen,
                    char *err, size_t errlen)
{
	static const char tag[] = "{layer}";
	size_t w = 0;
	for (const char *s = name; *s;) {
		const char *hit = strstr(s, tag);
		size_t lit = hit ? (size_t)(hit - s) : strlen(s);
		if (lit >= outlen - w)
			goto too_long;
		memcpy(out + w, s, lit);
		w += lit;
		s += lit;
		if (!hit)
			break;
		if (!has_layer) {
			qkv_fail(
			    err, errlen, QKV_ERR_CONFIG,
			    "tensor name `%.200s` has {layer}: set weights.layer in the config "
			    "or pass --layer N (qkv_open_options.layer)",
			    name);
			return false;
		}
		int n = snprintf(out + w, outlen - w, "%u", layer);
		if (n < 0 || (size_t)n >= outlen - w)
			goto too_long;
		w += (size_t)n;
		s += sizeof(tag) - 1;
	}
	out[w] = '\0';
	return true;
too_long:
	qkv_fail(err, errlen, QKV_ERR_CONFIG, "tensor name `%.200s` is longer than %zu bytes", name,
	         outlen - 1);
	return false;
}

enum qkv_status qkv_config_set_layer(struct qkv_config *cfg, uint32_t layer, const char *what,
                                     char *err, size_t errlen)
{
	if (cfg->n_layers && layer >= cfg->n_layers)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "%s: layer %u is not below the model's %u layers (%s)", what, layer,
		                cfg->n_layers, cfg->path ? cfg->path : "config");
	cfg->layer = layer;
	cfg->has_layer = true;
	return QKV_OK;
}
