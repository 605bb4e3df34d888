/* Config -> loaded weights: map each distinct file once, find every tensor the config
 * names, check its dtype and shape against the model, and hand out f32 pointers
 * (into the mapping when the data is aligned little-endian f32, else into owned
 * widened copies) or int8 pointers for pre-quantized weights.
 * Every message starts with "CONFIG:LINE: weights.ROLE:" then names the file, the
 * tensor and both values of a mismatch. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <qkv/wtype.h>

#include "shard.h"
#include "util.h"
#include "weights.h"
#include "weights_format.h"

#define MAX_FILES (sizeof(((struct qkv_loaded_weights *)0)->files) / sizeof(struct qkv_mapped_file))
#define MAX_OWNED (sizeof(((struct qkv_loaded_weights *)0)->owned) / sizeof(void *))

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LE 1
#else
#define HOST_LE 0
#endif

struct loader {
	const struct qkv_config *cfg;
	struct qkv_loaded_weights *lw;
	const struct qkv_format_row *fmt[MAX_FILES]; /* parallel to lw->files */
	void *parsed[MAX_FILES];                     /* what fmt[i]->open made of the file */
	bool last_raw;                               /* the last view found came from a raw file */
	size_t last_file;                            /* and the file it came from */
	struct qkv_shard shard;                      /* world 1 = the whole model */
	char *err;
	size_t errlen;
};

/* Put "CONFIG:LINE: weights.ROLE: " in front of the message already in err. */
static enum qkv_status with_role(struct loader *L, const struct qkv_tensor_ref *r, const char *role,
                                 enum qkv_status s)
{
	if (!L->err || !L->errlen)
		return s;
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", L->err);
	const char *cp = L->cfg->path ? L->cfg->path : "(config)";
	if (r->mark.line)
		snprintf(L->err, L->errlen, "%s:%u: weights.%s: %s", cp, r->mark.line, role, tmp);
	else
		snprintf(L->err, L->errlen, "%s: weights.%s: %s", cp, role, tmp);
	return s;
}

/* Index of the mapped `path` in lw->files, mapping (and parsing) it on first use. */
static enum qkv_status open_file(struct loader *L, const char *path, size_t *idx)
{
	struct qkv_loaded_weights *lw = L->lw;
	for (size_t i = 0; i < lw->n_files; i++)
		if (!strcmp(lw->files[i].path, path)) {
			*idx = i;
			return QKV_OK;
		}
	if (lw->n_files == MAX_FILES)
		return qkv_fail(L->err, L->errlen, QKV_ERR_INTERNAL, "more than %zu weight files",
		                (size_t)MAX_FILES);
	size_t i = lw->n_files;
	enum qkv_status s = qkv_file_map(path, &lw->files[i], L->err, L->errlen);
	if (s != QKV_OK)
		return s;
	lw->n_files++;
	L->fmt[i] = qkv_format_row_for(L->cfg->format, path);
	if (L->fmt[i]->open)
		s = L->fmt[i]->open(&lw->files[i], &L->parsed[i], L->err, L->errlen);
	if (s != QKV_OK)
		return s;
	*idx = i;
	return QKV_OK;
}

/* Add the type of view v to what file i is listed as holding, once. */
static void note_type(struct loader *L, size_t i, const struct qkv_tensor_view *v)
{
	char *list = L->lw->file_types[i], name[16];
	size_t n = 0, used = strlen(list);
	for (const char *t = qkv_view_type_name(v); t[n] && n + 1 < sizeof(name); n++)
		name[n] = (char)toupper((unsigned char)t[n]); /* as the files spell it: Q4_K, F16 */
	name[n] = '\0';
	for (const char *s = list; *s; s += strspn(s, ", ")) {
		size_t len = strcspn(s, ",");
		if (len == n && !strncmp(s, name, n))
			return;
		s += len;
	}
	if (used + n + 3 <= sizeof(L->lw->file_types[i]))
		snprintf(list + used, sizeof(L->lw->file_types[i]) - used, "%s%s", used ? ", " : "",
		         name);
}

/* Find the tensor `r` names. `count` is the element count a raw file must hold. */
/* `what` receives "FILE" or "FILE: tensor NAME" for later messages. */
static enum qkv_status find_view_in(struct loader *L, const struct qkv_tensor_ref *r,
                                    uint64_t count, struct qkv_tensor_view *v, char *what,
                                    size_t what_len)
{
	const char *path = r->file ? r->file : L->cfg->file;
	if (!path)
		return qkv_fail(L->err, L->errlen, QKV_ERR_CONFIG,
		                "no file: set weights.file or `file:` in this reference");
	size_t i = 0;
	enum qkv_status s = open_file(L, path, &i);
	if (s != QKV_OK)
		return s;
	const struct qkv_mapped_file *f = &L->lw->files[i];
	snprintf(what, what_len, "%s", path);
	L->last_raw = L->fmt[i]->id == QKV_FMT_RAW;
	char name[512];
	if ((L->fmt[i]->flags & QKV_FMT_NAMED) && !r->tensor)
		return qkv_fail(L->err, L->errlen, QKV_ERR_CONFIG,
		                "%s: a %s file needs `tensor: NAME`", path, L->fmt[i]->name);
	if (r->tensor && !qkv_layer_name(r->tensor, L->cfg->has_layer, L->cfg->layer, name,
	                                 sizeof(name), L->err, L->errlen))
		return QKV_ERR_CONFIG;
	if (L->fmt[i]->shard_of) { /* a sharded checkpoint: find the shard, then the tensor */
		const char *shard;
		s = L->fmt[i]->shard_of(L->parsed[i], name, &shard, L->err, L->errlen);
		if (s != QKV_OK)
			return s;
		const char *slash = strrchr(path, '/');
		int dl = slash ? (int)(slash - path + 1) : 0;
		char sp[4200];
		if (snprintf(sp, sizeof(sp), "%.*s%s", dl, path, shard) >= (int)sizeof(sp))
			return qkv_fail(L->err, L->errlen, QKV_ERR_CONFIG,
			                "%s: shard path too long", path);
		s = open_file(L, sp, &i); /* each shard mapped once, shared by its tensors */
		if (s != QKV_OK)
			return s;
		if (!L->fmt[i]->find)
			return qkv_fail(L->err, L->errlen, QKV_ERR_FORMAT,
			                "%s: shard `%s` of tensor %s is itself an index", path, sp,
			                name);
		snprintf(what, what_len, "%.200s: tensor %.150s (via %.100s)", sp, name, path);
		f = &L->lw->files[i];
		L->last_file = i;
		return L->fmt[i]->find(L->parsed[i], f, name, r->dtype, count, v, L->err,
		                       L->errlen);
	}
	if (r->tensor)
		snprintf(what, what_len, "%.250s: tensor %.200s", path, name);
	L->last_file = i;
	s = L->fmt[i]->find(L->parsed[i], f, r->tensor ? name : NULL, r->dtype, count, v, L->err,
	                    L->errlen);
	if (s == QKV_OK && !L->last_raw && r->dtype != QKV_DT_NONE && r->dtype != v->dtype)
		return qkv_fail(L->err, L->errlen, QKV_ERR_FORMAT,
		                "%s: holds %s, config says dtype %s", path,
		                qkv_dtype_name(v->dtype), qkv_dtype_name(r->dtype));
	return s;
}

static enum qkv_status find_view(struct loader *L, const struct qkv_tensor_ref *r, uint64_t count,
                                 struct qkv_tensor_view *v, char *what, size_t what_len)
{
	enum qkv_status s = find_view_in(L, r, count, v, what, what_len);
	if (s == QKV_OK)
		note_type(L, L->last_file, v);
	return s;
}

static void shape_str(const struct qkv_tensor_view *v, char *buf, size_t len)
{
	size_t w = (size_t)snprintf(buf, len, "[");
	for (uint32_t i = 0; i < v->ndim && w < len; i++)
		w += (size_t)snprintf(buf + w, len - w, "%s%llu", i ? ", " : "",
		                      (unsigned long long)v->shape[i]);
	if (w < len)
		snprintf(buf + w, len - w, "]");
}

/* Is v [a, b] (b == 0: 1-D [a])? A 1-D raw view of a*b elements also fits. */
static enum qkv_status check_shape(struct loader *L, const struct qkv_tensor_view *v,
                                   const char *what, uint64_t a, uint64_t b, const char *expect)
{
	bool ok;
	if (b == 0)
		ok = v->ndim == 1 && v->shape[0] == a;
	else
		ok = (v->ndim == 2 && v->shape[0] == a && v->shape[1] == b) ||
		     (v->ndim == 1 && L->last_raw && v->shape[0] == a * b);
	if (ok)
		return QKV_OK;
	char got[128];
	shape_str(v, got, sizeof(got));
	return qkv_fail(L->err, L->errlen, QKV_ERR_FORMAT, "%s: shape %s, expected %s", what, got,
	                expect);
}

static enum qkv_status own(struct loader *L, void *p)
{
	if (L->lw->n_owned == MAX_OWNED) {
		qkv_free(p);
		return qkv_fail(L->err, L->errlen, QKV_ERR_INTERNAL, "too many owned buffers");
	}
	L->lw->owned[L->lw->n_owned++] = p;
	return QKV_OK;
}

/* f32 data for a float tensor: in place when possible, else a widened copy. */
static enum qkv_status as_f32(struct loader *L, const struct qkv_tensor_view *v, const char *what,
                              const float **out)
{
	size_t count = (size_t)qkv_tensor_count(v), bytes;
	if (v->dtype == QKV_DT_I8)
		return qkv_fail(L->err, L->errlen, QKV_ERR_FORMAT,
		                "%s: dtype I8 here needs a float tensor (F32, F16, BF16)", what);
	if (v->dtype == QKV_DT_F32 && HOST_LE && (uintptr_t)v->data % sizeof(float) == 0) {
		*out = (const float *)(const void *)v->data;
		return QKV_OK;
	}
	if (!qkv_mul_size(count, sizeof(float), &bytes))
		return qkv_fail(L->err, L->errlen, QKV_ERR_FORMAT, "%s: too large", what);
	float *buf = qkv_malloc(bytes); /* [count] */
	if (!buf)
		return qkv_fail(L->err, L->errlen, QKV_ERR_NOMEM,
		                "%s: out of memory widening %zu elements to f32", what, count);
	enum qkv_status s = own(L, buf);
	if (s != QKV_OK)
		return s;
	qkv_convert_to_f32(v, buf, count);
	*out = buf;
	return QKV_OK;
}

/* Projection p's weights (or bias) out of the fused tensor `r` (weights.qkv or
 * weights.qkv_bias), split as weights.qkv says: a sub-view or an owned f32 copy. */
static enum qkv_status fused_view(struct loader *L, const struct qkv_tensor_ref *r, bool is_bias,
                                  int p, struct qkv_tensor_view *v, char *what, size_t what_len)
{
	const struct qkv_config *cfg = L->cfg;
	struct qkv_fused_dims d = {cfg->d_model, cfg->n_heads, cfg->n_kv_heads, cfg->head_dim};
	uint64_t n = ((uint64_t)cfg->n_heads + 2ull * cfg->n_kv_heads) * cfg->head_dim;
	struct qkv_tensor_view full;
	enum qkv_status s = find_view(L, r, is_bias ? n : n * d.d_model, &full, what, what_len);
	if (s != QKV_OK)
		return s;
	if (L->last_raw && !is_bias) { /* a raw file is 1-D: give it the fused shape */
		bool out_in = cfg->layout == QKV_LAYOUT_OUT_IN;
		full.ndim = 2;
		full.shape[0] = out_in ? n : d.d_model;
		full.shape[1] = out_in ? d.d_model : n;
	}
	void *copy = NULL;
	s = qkv_fused_slice(&full, cfg->qkv.split, cfg->layout, is_bias, &d, p, v, &copy, L->err,
	                    L->errlen);
	if (s != QKV_OK) {
		char tmp[400];
		snprintf(tmp, sizeof(tmp), "%s", L->err ? L->err : "");
		return qkv_fail(L->err, L->errlen, s, "%s: %s", what, tmp);
	}
	size_t w = strlen(what);
	snprintf(what + w, what_len - w, " (fused, split %s, %s part%s)",
	         qkv_split_name(cfg->qkv.split), qkv_ref_names[0][p], copy ? ", copied" : "");
	return copy ? own(L, copy) : QKV_OK;
}

/* Does p point into one of the mapped weight files? */
static bool in_mapping(const struct loader *L, const void *p)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < L->lw->n_files; i++) {
		const struct qkv_mapped_file *f = &L->lw->files[i];
		if (f->data && b >= f->data && b < f->data + f->size)
			return true;
	}
	return false;
}

/* After slicing a view that was itself an owned copy of the whole projection (a fused
 * tensor split by columns or heads), keep only the slice: copy it out when it still
 * points into the whole copy, then free the whole copy. */
static enum qkv_status drop_whole_copy(struct loader *L, const struct qkv_tensor_view *full,
                                       struct qkv_tensor_view *v)
{
	struct qkv_loaded_weights *lw = L->lw;
	size_t i = lw->n_owned;
	while (i > 0 && lw->owned[i - 1] != (const void *)full->data)
		i--;
	if (i == 0)
		return QKV_OK;
	if (v->data >= full->data && v->data < full->data + full->nbytes) {
		uint8_t *buf = qkv_malloc(v->nbytes ? v->nbytes : 1);
		if (!buf)
			return qkv_fail(L->err, L->errlen, QKV_ERR_NOMEM,
			                "out of memory copying a %zu-byte shard slice", v->nbytes);
		memcpy(buf, v->data, v->nbytes);
		enum qkv_status s = own(L, buf);
		if (s != QKV_OK)
			return s;
		v->data = buf;
	}
	qkv_free(lw->owned[i - 1]);
	memmove(&lw->owned[i - 1], &lw->owned[i], (lw->n_owned - i) * sizeof(lw->owned[0]));
	lw->n_owned--;
	return QKV_OK;
}

/* Precision stored: the weights in their own type, used in place (out_in rows as the
 * file holds them); F32 goes the f32 way; 16-bit types in in_out are widened to F32. */
static enum qkv_status keep_stored(struct loader *L, const struct qkv_tensor_view *v,
                                   const char *what, int p)
{
	struct qkv_loaded_weights *lw = L->lw;
	if (L->cfg->scale[p].present)
		return qkv_fail(L->err, L->errlen, QKV_ERR_FORMAT,
		                "%s: is %s, but %s is given: scales go with I8 weights", what,
		                qkv_view_type_name(v), qkv_ref_names[2][p]);
	bool wide = v->dtype == QKV_DT_F32 ||
	            (v->dtype != QKV_DT_BLOCK && L->cfg->layout != QKV_LAYOUT_OUT_IN);
	if (v->dtype == QKV_DT_BLOCK && L->cfg->layout != QKV_LAYOUT_OUT_IN)
		return qkv_fail(L->err, L->errlen, QKV_ERR_FORMAT,
		                "%s: %s weights need layout out_in (whole blocks along d_model)",
		                what, qkv_view_type_name(v));
	if (wide) {
		lw->wtype[p] = QKV_WT_F32;
		lw->weight_bytes += (size_t)qkv_tensor_count(v) * sizeof(float);
		if (v->dtype != QKV_DT_F32)
			lw->weight_bytes += v->nbytes;
		return as_f32(L, v, what, &lw->w[p]);
	}
	lw->wtype[p] = v->dtype == QKV_DT_F16    ? QKV_WT_F16
	               : v->dtype == QKV_DT_BF16 ? QKV_WT_BF16
	                                         : v->wtype;
	lw->weight_bytes += v->nbytes;
	if ((uintptr_t)v->data % 2 == 0) {
		lw->w_blk[p] = v->data; /* in place */
		return QKV_OK;
	}
	uint8_t *copy = qkv_malloc(v->nbytes ? v->nbytes : 1); /* the ABI's 2-byte alignment */
	if (!copy)
		return qkv_fail(L->err, L->errlen, QKV_ERR_NOMEM, "%s: out of memory", what);
	memcpy(copy, v->data, v->nbytes);
	lw->w_blk[p] = copy;
	return own(L, copy);
}

static enum qkv_status load_weight(struct loader *L, int p, uint64_t d_out)
{
	const struct qkv_config *cfg = L->cfg;
	const struct qkv_tensor_ref *r = &cfg->w[p];
	uint64_t dm = cfg->d_model;
	char what[512];
	struct qkv_tensor_view v = {0};
	char expect[128];
	enum qkv_status s;
	if (cfg->qkv.present)
		s = fused_view(L, &cfg->qkv, false, p, &v, what, sizeof(what));
	else if (!r->present)
		return qkv_fail(L->err, L->errlen, QKV_ERR_CONFIG, "required tensor is missing");
	else
		s = find_view(L, r, dm * d_out, &v, what, sizeof(what));
	if (s != QKV_OK)
		return s;
	bool in_out = cfg->layout == QKV_LAYOUT_IN_OUT;
	snprintf(expect, sizeof(expect), "[%s=%llu, %s=%llu] (layout %s)",
	         in_out ? "d_model" : "d_out", (unsigned long long)(in_out ? dm : d_out),
	         in_out ? "d_out" : "d_model", (unsigned long long)(in_out ? d_out : dm),
	         in_out ? "in_out" : "out_in");
	s = check_shape(L, &v, what, in_out ? dm : d_out, in_out ? d_out : dm, expect);
	if (s != QKV_OK)
		return s;
	if (L->shard.world > 1) {
		uint64_t c0, n;
		void *copy = NULL;
		struct qkv_tensor_view full = v;
		qkv_shard_cols(&L->shard, p, cfg->head_dim, &c0, &n);
		s = qkv_view_slice(&full, cfg->layout, dm, d_out, c0, n, &v, &copy, L->err,
		                   L->errlen);
		if (s == QKV_ERR_UNSUPPORTED)
			return qkv_fail(L->err, L->errlen, QKV_ERR_CONFIG,
			                "%s: cannot be sliced for shard %u/%u", what, L->shard.rank,
			                L->shard.world);
		if (s != QKV_OK || (copy && (s = own(L, copy)) != QKV_OK))
			return s;
		if (copy && full.dtype != QKV_DT_F32 && full.dtype != QKV_DT_I8)
			L->lw->weight_bytes += (size_t)(n * dm * qkv_dtype_size(full.dtype));
		if (copy && in_mapping(L, full.data)) /* columns copied: the pages can go */
			qkv_release_pages(full.data, full.nbytes);
		if ((s = drop_whole_copy(L, &full, &v)) != QKV_OK)
			return s;
	}
	if (v.dtype != QKV_DT_I8 && cfg->precision == QKV_STORED)
		return keep_stored(L, &v, what, p);
	if (v.dtype == QKV_DT_F16 || v.dtype == QKV_DT_BF16 || v.dtype == QKV_DT_BLOCK)
		L->lw->weight_bytes += v.nbytes; /* the source pages read while widening */
	L->lw->weight_bytes += (size_t)qkv_tensor_count(&v) * (v.dtype == QKV_DT_I8 ? 1 : 4);
	if (v.dtype != QKV_DT_I8) {
		if (cfg->scale[p].present)
			return qkv_fail(L->err, L->errlen, QKV_ERR_FORMAT,
			                "%s: is %s, but %s is given: scales go with I8 weights",
			                what, qkv_view_type_name(&v), qkv_ref_names[2][p]);
		return as_f32(L, &v, what, &L->lw->w[p]);
	}
	if (cfg->precision != QKV_INT8)
		return qkv_fail(L->err, L->errlen, QKV_ERR_FORMAT,
		                "%s: I8 weights need model.precision int8", what);
	if (!cfg->scale[p].present)
		return qkv_fail(L->err, L->errlen, QKV_ERR_CONFIG,
		                "%s: I8 weights need per-column scales (weights.%s)", what,
		                qkv_ref_names[2][p]);
	const int8_t *q = (const int8_t *)v.data; /* [d_model * d_out] */
	for (size_t i = 0; i < v.nbytes; i++)
		if (q[i] == -128)
			return qkv_fail(L->err, L->errlen, QKV_ERR_FORMAT,
			                "%s: value -128 at element %zu; int8 weights must be in "
			                "[-127, 127]",
			                what, i);
	L->lw->w_i8[p] = q;
	return QKV_OK;
}

/* A bias or scale vector [d_out]; scales must be finite and >= 0. */
static enum qkv_status load_vector(struct loader *L, const struct qkv_tensor_ref *r, int p,
                                   uint64_t d_out, bool is_scale, const float **out)
{
	char what[512];
	struct qkv_tensor_view v = {0};
	char expect[64];
	enum qkv_status s = r == &L->cfg->qkv_bias
	                        ? fused_view(L, r, true, p, &v, what, sizeof(what))
	                        : find_view(L, r, d_out, &v, what, sizeof(what));
	if (s != QKV_OK)
		return s;
	snprintf(expect, sizeof(expect), "[d_out=%llu]", (unsigned long long)d_out);
	s = check_shape(L, &v, what, d_out, 0, expect);
	if (s == QKV_OK && L->shard.world > 1) {
		uint64_t c0;
		struct qkv_tensor_view full = v;
		qkv_shard_cols(&L->shard, p, L->cfg->head_dim, &c0, &d_out);
		qkv_vec_slice(&full, c0, d_out, &v);
	}
	if (s == QKV_OK)
		s = as_f32(L, &v, what, out);
	if (s != QKV_OK)
		return s;
	L->lw->weight_bytes += (size_t)d_out * sizeof(float);
	if (!is_scale)
		return s;
	for (uint64_t i = 0; i < d_out; i++)
		if (!((*out)[i] >= 0.0f && (*out)[i] <= 3.4e38f))
			return qkv_fail(L->err, L->errlen, QKV_ERR_FORMAT,
			                "%s: scale %llu is %g; scales must be finite and >= 0",
			                what, (unsigned long long)i, (double)(*out)[i]);
	return QKV_OK;
}

static enum qkv_status load_all(struct loader *L)
{
	const struct qkv_config *cfg = L->cfg;
	for (int p = 0; p < 3; p++) {
		uint64_t d_out =
		    (uint64_t)(p == QKV_Q ? cfg->n_heads : cfg->n_kv_heads) * cfg->head_dim;
		enum qkv_status s = load_weight(L, p, d_out);
		if (s != QKV_OK && cfg->qkv.present)
			return with_role(L, &cfg->qkv, "qkv", s);
		if (s != QKV_OK)
			return with_role(L, &cfg->w[p], qkv_ref_names[0][p], s);
		const struct qkv_tensor_ref *b =
		    cfg->qkv_bias.present ? &cfg->qkv_bias : &cfg->bias[p];
		if (b->present) {
			s = load_vector(L, b, p, d_out, false, &L->lw->bias[p]);
			if (s != QKV_OK)
				return with_role(
				    L, b, b == &cfg->qkv_bias ? "qkv_bias" : qkv_ref_names[1][p],
				    s);
		}
		if (cfg->scale[p].present && L->lw->w_i8[p]) {
			s = load_vector(L, &cfg->scale[p], p, d_out, true, &L->lw->w_scale[p]);
			if (s != QKV_OK)
				return with_role(L, &cfg->scale[p], qkv_ref_names[2][p], s);
		}
	}
	return QKV_OK;
}

enum qkv_status qkv_weights_load(const struct qkv_config *cfg, struct qkv_loaded_weights *out,
                                 char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct loader L = {.cfg = cfg, .lw = out, .err = err, .errlen = errlen};
	out->layout = cfg->layout;
	enum qkv_status s = QKV_OK;
	if (cfg->shard_world > 1 &&
	    qkv_shard_plan(cfg->n_heads, cfg->n_kv_heads, cfg->shard_rank, cfg->shard_world,
	                   &L.shard, err, errlen) != QKV_SHARD_OK)
		s = QKV_ERR_CONFIG; /* the validator checked it already; callers may not have */
	if (s == QKV_OK)
		s = load_all(&L);
	/* Views point into the mappings, not into the parsed headers: those can go now. */
	for (size_t i = 0; i < MAX_FILES; i++) {
		if (L.fmt[i] && L.fmt[i]->close)
			L.fmt[i]->close(L.parsed[i]);
	}
	if (s != QKV_OK) {
		qkv_weights_free(out);
		return s;
	}
	for (size_t i = 0; i < out->n_files; i++) {
		if (L.fmt[i]->shard_of)
			snprintf(out->file_types[i], sizeof(out->file_types[i]), "index");
		out->file_path[i] = out->files[i].path;
		out->file_type[i] = out->file_types[i];
	}
	return s;
}

/* The copies the loader made (widened, gathered, sliced). */
static void free_owned(struct qkv_loaded_weights *lw)
{
	for (size_t i = 0; i < lw->n_owned; i++)
		qkv_free(lw->owned[i]);
	lw->n_owned = 0;
}

void qkv_weights_let_go(struct qkv_loaded_weights *lw)
{
	for (size_t i = 0; i < lw->n_files; i++)
		qkv_release_pages(lw->files[i].data, lw->files[i].size); /* mapping stays */
	free_owned(lw);
	for (int p = 0; p < 3; p++) {
		lw->w[p] = lw->bias[p] = lw->w_scale[p] = NULL;
		lw->w_i8[p] = NULL;
		lw->w_blk[p] = NULL;
	}
}

void qkv_weights_free(struct qkv_loaded_weights *lw)
{
	if (!lw)
		return;
	for (size_t i = 0; i < lw->n_files; i++)
		qkv_file_unmap(&lw->files[i]);
	free_owned(lw);
	memset(lw, 0, sizeof(*lw));
}
