/* Head shards at the model level: the `shard` open option over the config's, the
 * from-memory descriptor's slice, and the slice reported in qkv_model_info.
 * The rules and the cutting of tensors are in weights_slice.c (see shard.h). */
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "shard.h"
#include "util.h"

enum qkv_status qkv_shard_options(struct qkv_config *cfg, const struct qkv_open_options *opts,
                                  char *err, size_t errlen)
{
	if (!opts || !QKV_HAS_MEMBER(opts, struct qkv_open_options, shard_world) ||
	    opts->shard_world == 0)
		return QKV_OK;
	struct qkv_shard plan;
	char why[200];
	enum qkv_shard_fault f = qkv_shard_plan(cfg->n_heads, cfg->n_kv_heads, opts->shard_rank,
	                                        opts->shard_world, &plan, why, sizeof(why));
	if (f != QKV_SHARD_OK)
		return qkv_fail(
		    err, errlen, QKV_ERR_ARGUMENT, "option `%s` (shard %u/%u of %s): %s",
		    f == QKV_SHARD_BAD_RANK ? "shard_rank" : "shard_world", opts->shard_rank,
		    opts->shard_world, cfg->path ? cfg->path : "config", why);
	cfg->shard_rank = opts->shard_rank;
	cfg->shard_world = opts->shard_world;
	return QKV_OK;
}

enum qkv_status qkv_shard_problem(struct qkv_model *m, uint32_t d_model, uint32_t n_heads,
                                  uint32_t n_kv_heads, uint32_t head_dim, uint32_t precision,
                                  uint32_t rank, uint32_t world, const char *what, char *err,
                                  size_t errlen)
{
	enum qkv_status st = qkv_problem_init(&m->pb, d_model, n_heads, n_kv_heads, head_dim,
	                                      precision, err, errlen);
	if (st != QKV_OK)
		return st;
	char why[200];
	enum qkv_shard_fault f = qkv_shard_plan(m->pb.n_heads, m->pb.n_kv_heads, rank,
	                                        world ? world : 1, &m->shard, why, sizeof(why));
	if (f != QKV_SHARD_OK)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "%s%s: %s", what,
		                f == QKV_SHARD_BAD_RANK ? "shard_rank" : "shard_world", why);
	m->model_n_heads = m->pb.n_heads;
	m->model_n_kv_heads = m->pb.n_kv_heads;
	if (m->shard.world == 1)
		return QKV_OK;
	return qkv_problem_init(&m->pb, d_model, m->shard.q_heads, m->shard.kv_heads,
	                        m->pb.head_dim, precision, err, errlen);
}

enum qkv_status qkv_shard_desc_weights(struct qkv_model *m, const struct qkv_model_desc *d,
                                       uint64_t full_d_q, uint64_t full_d_kv, char *err,
                                       size_t errlen)
{
	static const char *const wn[3] = {"desc.w[0] (Wq)", "desc.w[1] (Wk)", "desc.w[2] (Wv)"};
	m->wt.layout = d->layout;
	m->weight_bytes = 0;
	for (int p = 0; p < 3; p++) {
		uint64_t d_out = p == QKV_Q ? full_d_q : full_d_kv, c0 = 0, n = d_out;
		if (m->shard.world > 1)
			qkv_shard_cols(&m->shard, p, m->pb.head_dim, &c0, &n);
		m->wt.bias[p] = d->bias[p] ? d->bias[p] + c0 : NULL;
		m->weight_bytes += (d->bias[p] ? n : 0) * sizeof(float) + n * m->pb.d_model * 4;
		if (m->shard.world == 1) {
			m->wt.w[p] = d->w[p];
			continue;
		}
		uint64_t dm = m->pb.d_model;
		struct qkv_tensor_view full = {
		    .dtype = QKV_DT_F32,
		    .ndim = 2,
		    .shape = {d->layout == QKV_LAYOUT_OUT_IN ? d_out : dm,
		              d->layout == QKV_LAYOUT_OUT_IN ? dm : d_out},
		    .nbytes = (size_t)(dm * d_out * sizeof(float)),
		    .data = (const uint8_t *)(const void *)d->w[p]};
		struct qkv_tensor_view v;
		void *copy = NULL;
		enum qkv_status st =
		    qkv_view_slice(&full, d->layout, dm, d_out, c0, n, &v, &copy, err, errlen);
		if (st != QKV_OK)
			return qkv_fail(err, errlen, st, "argument `%s`: cannot take slice %u/%u",
			                wn[p], m->shard.rank, m->shard.world);
		if (copy) {
			if (m->lw.n_owned == sizeof(m->lw.owned) / sizeof(m->lw.owned[0])) {
				qkv_free(copy);
				return qkv_fail(err, errlen, QKV_ERR_INTERNAL, "too many buffers");
			}
			m->lw.owned[m->lw.n_owned++] = copy;
			m->has_lw = true;
		}
		m->wt.w[p] = (const float *)(const void *)v.data;
	}
	return QKV_OK;
}

void qkv_shard_info(const struct qkv_model *m, struct qkv_model_info *info)
{
	if (!QKV_HAS_MEMBER(info, struct qkv_model_info, weight_bytes))
		return;
	const struct qkv_shard *s = &m->shard;
	info->shard_rank = s->rank;
	info->shard_world = s->world ? s->world : 1;
	info->q_head_begin = s->q_head0;
	info->kv_head_begin = s->kv_head0;
	info->model_n_heads = m->model_n_heads;
	info->model_n_kv_heads = m->model_n_kv_heads;
	info->weight_bytes = m->weight_bytes;
}
