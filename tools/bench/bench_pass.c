/* Decode passes over every layer (bench_pass.h). */
#include "bench_pass.h"

#include <stdio.h>
#include <stdlib.h>

#include <qkv/qkv.h>

#include "bench_shape.h"

#define PASS_WARM 2
#define PASS_MIN 5
#define PASS_MAX 10000

static bool open_layers(const struct bench_pass *p, qkv_model **m, double *bytes, char *err,
                        size_t errlen)
{
	*bytes = 0;
	for (uint32_t l = 0; l < p->layers; l++) {
		struct qkv_open_options o = QKV_OPEN_OPTIONS_INIT;
		o.backend = p->backend;
		o.threads = (int32_t)p->threads;
		o.strict = 1;
		o.layer_set = 1;
		o.layer = l;
		o.precision = p->precision;
		char why[768];
		if (qkv_model_open(p->config, &o, &m[l], why, sizeof(why)) != QKV_OK) {
			snprintf(err, errlen, "layer %u: %s", l, why);
			return false;
		}
		struct qkv_model_info info = {.struct_size = sizeof(info)};
		qkv_model_get_info(m[l], &info);
		*bytes += (double)info.weight_bytes;
	}
	return true;
}

/* One pass: every layer once, each reading the same X and writing the same outputs (a
 * decode loop's next layer reads the previous one's result; the data are a few KiB). */
static bool one_pass(const struct bench_pass *p, qkv_model **m, const float *x, size_t d_model,
                     float *y, const size_t *width, char *err, size_t errlen)
{
	for (uint32_t l = 0; l < p->layers; l++) {
		float *q = y, *k = q + p->T * width[0], *v = k + p->T * width[1];
		if (qkv_project(m[l], p->T, x, d_model, q, width[0], k, width[1], v, width[2], err,
		                errlen) != QKV_OK)
			return false;
	}
	return true;
}

bool bench_pass_run(const struct bench_pass *p, struct bench_pass_result *r, char *err,
                    size_t errlen)
{
	bool ok = false;
	qkv_model **m = calloc(p->layers, sizeof(*m));
	double *s = malloc(PASS_MAX * sizeof(double));
	float *x = NULL, *y = NULL;
	if (!m || !s) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!open_layers(p, m, &r->weight_bytes, err, errlen))
		goto out;
	struct qkv_model_info info = {.struct_size = sizeof(info)};
	qkv_model_get_info(m[0], &info);
	size_t width[3] = {info.d_q, info.d_kv, info.d_kv};
	x = malloc(p->T * info.d_model * sizeof(float));
	y = malloc(p->T * (width[0] + width[1] + width[2]) * sizeof(float));
	if (!x || !y) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	bench_fill_random(x, p->T * info.d_model, 7);
	size_t n = 0;
	for (int w = 0; w < PASS_WARM; w++)
		if (!one_pass(p, m, x, info.d_model, y, width, err, errlen))
			goto out;
	for (double t0 = bench_now();
	     n < PASS_MAX && (n < PASS_MIN || bench_now() - t0 < p->min_time); n++) {
		double a = bench_now();
		if (!one_pass(p, m, x, info.d_model, y, width, err, errlen))
			goto out;
		s[n] = bench_now() - a;
	}
	bench_stats_compute(s, n, &r->st);
	ok = true;
out:
	for (uint32_t l = 0; m && l < p->layers; l++)
		qkv_model_close(m[l]);
	free(m);
	free(s);
	free(x);
	free(y);
	return ok;
}
