/* The project entry points: argument checks, routing by T, and the two output shapes the
 * plugin ABI does not know (a skipped projection, a per-head stride), served through
 * per-call scratch so that backends keep seeing three dense [T x width] outputs. */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"

/* One output (or x) as the caller described it, checked. */
struct mat {
	float *p;         /* NULL: a skipped projection */
	size_t ld, hs;    /* row stride, head stride (elements); dense when hs == hd */
	size_t nh, hd;    /* heads and head_dim (x: 1 head of d_model) */
	uintptr_t lo, hi; /* bytes it spans, hi exclusive */
	bool dense;       /* heads side by side in a row: the backend can write it in place */
};

/* Interleaved rows (the fused [q|k|v] layout) share a row stride with disjoint columns;
 * any other pair of outputs must not share bytes at all. */
static bool clash(const struct mat *a, const struct mat *b)
{
	if (!a->p || !b->p || a->hi <= b->lo || b->hi <= a->lo)
		return false;
	if (!a->dense || !b->dense || a->ld != b->ld)
		return true;
	intptr_t d = (intptr_t)((const char *)b->p - (const char *)a->p);
	if (d % (intptr_t)sizeof(float))
		return true;
	intptr_t ld = (intptr_t)a->ld, c = (d / (intptr_t)sizeof(float)) % ld;
	if (c < 0)
		c += ld;
	/* b's columns, relative to a's row start: [c, c + wb), possibly wrapping. */
	intptr_t wa = (intptr_t)(a->nh * a->hd), wb = (intptr_t)(b->nh * b->hd);
	if (c < wa)
		return true;
	return c + wb > ld; /* wraps into the next row, where a's columns start */
}

/* Rows (stride ld, T of them) and heads (stride hs, nh of them) of head_dim contiguous
 * floats never share an element: the smaller stride steps over one head_dim, the larger
 * over everything the smaller one spans. A dimension of extent 1 has no stride. */
static bool strides_disjoint(size_t T, size_t ld, size_t nh, size_t hs, size_t hd)
{
	size_t s[2], n[2], k = 0;
	if (T > 1)
		s[k] = ld, n[k++] = T;
	if (nh > 1)
		s[k] = hs, n[k++] = nh;
	if (k == 2 && s[0] > s[1]) {
		size_t t = s[0];
		s[0] = s[1], s[1] = t;
		t = n[0], n[0] = n[1], n[1] = t;
	}
	if (k >= 1 && s[0] < hd)
		return false;
	size_t inner;
	return k < 2 || (qkv_mul_size(n[0] - 1, s[0], &inner) && qkv_add_size(inner, hd, &inner) &&
	                 s[1] >= inner);
}

static enum qkv_status check_mat(const char *name, const char *ldname, struct mat *m, size_t T,
                                 char *err, size_t errlen)
{
	if (((uintptr_t)m->p) % _Alignof(float))
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `%s` is not aligned to a float (%p)", name, (void *)m->p);
	size_t width = m->nh * m->hd;
	if (m->hs == 0)
		m->hs = m->hd;
	m->dense = m->hs == m->hd || m->nh == 1;
	if (m->dense && m->ld < width)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `%s` = %zu is smaller than the row width %zu", ldname,
		                m->ld, width);
	if (!m->dense && !strides_disjoint(T, m->ld, m->nh, m->hs, m->hd))
		return qkv_fail(
		    err, errlen, QKV_ERR_ARGUMENT,
		    "argument `%s`: row stride %zu and head stride %zu make rows or heads "
		    "overlap (T = %zu, %zu heads of head_dim %zu)",
		    name, m->ld, m->hs, T, m->nh, m->hd);
	size_t rows, heads, elems, bytes;
	if (!qkv_mul_size(T - 1, m->ld, &rows) ||
	    !qkv_mul_size(m->dense ? 0 : m->nh - 1, m->hs, &heads) ||
	    !qkv_add_size(rows, heads, &elems) ||
	    !qkv_add_size(elems, m->dense ? width : m->hd, &elems) ||
	    !qkv_mul_size(elems, sizeof(float), &bytes) ||
	    (uintptr_t)m->p + bytes < (uintptr_t)m->p)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "arguments `T` = %zu and `%s` = %zu overflow the address space", T,
		                ldname, m->ld);
	m->lo = (uintptr_t)m->p;
	m->hi = m->lo + bytes;
	return QKV_OK;
}

const struct qkv_model_route *qkv_model_route_for(const qkv_model *m, size_t T)
{
	for (size_t i = 0; i < m->n_routes; i++)
		if (T >= m->routes[i].t_min && T <= m->routes[i].t_max)
			return &m->routes[i];
	return &m->def;
}

/* Copy the dense [T x nh*hd] block the backend wrote into the caller's head layout. */
static void scatter_heads(const struct mat *o, const float *dense, size_t T)
{
	size_t width = o->nh * o->hd;
	for (size_t t = 0; t < T; t++)
		for (size_t h = 0; h < o->nh; h++)
			memcpy(o->p + t * o->ld + h * o->hs, dense + t * width + h * o->hd,
			       o->hd * sizeof(float));
}

static enum qkv_status run_backend(const qkv_model *m, const struct qkv_call *call,
                                   const struct mat o[3], char *err, size_t errlen)
{
	size_t T = call->T, need = 0, width[3];
	for (int p = 0; p < 3; p++) {
		width[p] = o[p].nh * o[p].hd;
		if (!o[p].p || !o[p].dense)
			need += width[p];
	}
	float *scratch = NULL;
	if (need) {
		size_t bytes;
		if (!qkv_mul_size(T, need, &bytes) || !qkv_mul_size(bytes, sizeof(float), &bytes) ||
		    !(scratch = malloc(bytes)))
			return qkv_fail(
			    err, errlen, QKV_ERR_NOMEM,
			    "out of memory for the scratch of a skipped or head-strided "
			    "output (T = %zu rows of %zu floats)",
			    T, need);
	}
	struct qkv_batch b = {
	    .struct_size = sizeof(b),
	    .threads =
	        call->threads > 0
	            ? (uint32_t)(call->threads > QKV_MAX_THREADS ? QKV_MAX_THREADS : call->threads)
	            : m->pb.threads,
	    .T = T,
	    .x = call->x,
	    .ldx = call->ldx,
	};
	float *next = scratch;
	for (int p = 0; p < 3; p++) {
		bool direct = o[p].p && o[p].dense;
		b.out[p] = direct ? o[p].p : next;
		b.ld_out[p] = direct ? o[p].ld : width[p];
		if (!direct)
			next += T * width[p];
	}
	const struct qkv_model_route *r = qkv_model_route_for(m, T);
	char msg[256] = "";
	enum qkv_status st = r->plugin->be->project(r->handle, &b, msg, sizeof(msg));
	if (st == QKV_OK)
		for (int p = 0; p < 3; p++)
			if (o[p].p && !o[p].dense)
				scatter_heads(&o[p], b.out[p], T);
	free(scratch);
	if (st != QKV_OK) {
		msg[sizeof(msg) - 1] = '\0';
		return qkv_fail(err, errlen, st, "backend %s: %s", r->plugin->be->name, msg);
	}
	return QKV_OK;
}

enum qkv_status qkv_project_call(const qkv_model *m, const struct qkv_call *call, char *err,
                                 size_t errlen)
{
	if (!m)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `model` is NULL");
	if (!call)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `call` is NULL");
	if (!QKV_HAS_MEMBER(call, struct qkv_call, threads))
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `call`: struct_size %u is too small", call->struct_size);
	if (call->threads < 0)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `threads` = %d is negative", (int)call->threads);
	size_t T = call->T;
	if (T == 0)
		return QKV_OK;
	static const char *const ldnames[3] = {"ldq", "ldk", "ldv"};
	bool has_hs = QKV_HAS_MEMBER(call, struct qkv_call, head_stride);
	struct mat o[4] = {{0}};
	o[3] = (struct mat){.p = (float *)call->x, .ld = call->ldx, .nh = 1, .hd = m->pb.d_model};
	if (!call->x)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `x` is NULL");
	enum qkv_status st = check_mat("x", "ldx", &o[3], T, err, errlen);
	for (int p = 0; p < 3 && st == QKV_OK; p++) {
		o[p] = (struct mat){.p = call->out[p],
		                    .ld = call->ld_out[p],
		                    .hs = has_hs ? call->head_stride[p] : 0,
		                    .nh = p ? m->pb.n_kv_heads : m->pb.n_heads,
		                    .hd = m->pb.head_dim};
		if (o[p].p)
			st = check_mat(qkv_proj_name((unsigned)p), ldnames[p], &o[p], T, err,
			               errlen);
	}
	if (st != QKV_OK)
		return st;
	if (!o[0].p && !o[1].p && !o[2].p)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "arguments `q`, `k` and `v` are all NULL: nothing to compute");
	for (int a = 0; a < 4; a++)
		for (int b = a + 1; b < 4; b++)
			if (clash(&o[a], &o[b]))
				return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
				                "arguments `%s` and `%s` overlap",
				                a == 3 ? "x" : qkv_proj_name((unsigned)a),
				                b == 3 ? "x" : qkv_proj_name((unsigned)b));
	return run_backend(m, call, o, err, errlen);
}

enum qkv_status qkv_project(const qkv_model *m, size_t T, const float *x, size_t ldx, float *q,
                            size_t ldq, float *k, size_t ldk, float *v, size_t ldv, char *err,
                            size_t errlen)
{
	struct qkv_call c = QKV_CALL_INIT;
	c.T = T;
	c.x = x;
	c.ldx = ldx;
	float *out[3] = {q, k, v};
	size_t ld[3] = {ldq, ldk, ldv};
	memcpy(c.out, out, sizeof(out));
	memcpy(c.ld_out, ld, sizeof(ld));
	return qkv_project_call(m, &c, err, errlen);
}

enum qkv_status qkv_project_fused(const qkv_model *m, size_t T, const float *x, size_t ldx,
                                  float *y, size_t ldy, char *err, size_t errlen)
{
	if (!m)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `model` is NULL");
	size_t n = (size_t)m->pb.d_q + 2 * (size_t)m->pb.d_kv;
	if (T > 0 && !y)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT, "argument `y` is NULL");
	if (T > 0 && ldy < n)
		return qkv_fail(err, errlen, QKV_ERR_ARGUMENT,
		                "argument `ldy` = %zu is smaller than the row width N = %zu", ldy,
		                n);
	struct qkv_call c = QKV_CALL_INIT;
	c.T = T;
	c.x = x;
	c.ldx = ldx;
	if (y) {
		c.out[0] = y;
		c.out[1] = y + m->pb.d_q;
		c.out[2] = y + m->pb.d_q + m->pb.d_kv;
	}
	c.ld_out[0] = c.ld_out[1] = c.ld_out[2] = ldy;
	return qkv_project_call(m, &c, err, errlen);
}
