#include "bench_baseline.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/qkv.h>
#include <yaml.h>

#include "bench_report.h"
#include "bench_stats.h"

/* The value of `key` in mapping node `map`, or NULL. */
static yaml_node_t *get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *text(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	yaml_node_t *v = get(d, map, key);
	return v && v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
}

static double number(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	const char *s = text(d, map, key);
	char *end;
	double v = strtod(s, &end);
	return *s && !*end && isfinite(v) ? v : 0.0;
}

bool bench_baseline_load(const char *path, struct bench_baseline *b, char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "--baseline %s: cannot open: %s", path, strerror(errno));
		return false;
	}
	yaml_parser_t parser;
	yaml_document_t doc;
	bool ok = yaml_parser_initialize(&parser);
	if (ok) {
		yaml_parser_set_input_file(&parser, f);
		ok = yaml_parser_load(&parser, &doc);
		yaml_document_t next; /* must be the end of the stream: nothing after the object */
		bool more = false;
		if (ok && !(more = !yaml_parser_load(&parser, &next))) {
			more = yaml_document_get_root_node(&next) != NULL;
			yaml_document_delete(&next);
		}
		if (!ok || more)
			snprintf(err, errlen, "--baseline %s: line %zu: %s", path,
			         parser.problem_mark.line + 1,
			         parser.problem ? parser.problem : "text after the JSON object");
		if (ok && more)
			yaml_document_delete(&doc);
		ok = ok && !more;
		yaml_parser_delete(&parser);
	} else {
		snprintf(err, errlen, "--baseline %s: out of memory", path);
	}
	fclose(f);
	if (!ok)
		return false;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	yaml_node_t *rows = get(&doc, root, "rows");
	yaml_node_t *machine = get(&doc, root, "machine"), *shape = get(&doc, root, "shape");
	if (!rows || rows->type != YAML_SEQUENCE_NODE) {
		snprintf(err, errlen, "--baseline %s: no \"rows\": not a `qkv bench --json` file",
		         path);
		ok = false;
	}
	size_t n =
	    ok ? (size_t)(rows->data.sequence.items.top - rows->data.sequence.items.start) : 0;
	if (ok && !(b->rows = calloc(n ? n : 1, sizeof(*b->rows)))) {
		snprintf(err, errlen, "--baseline %s: out of memory", path);
		ok = false;
	}
	bench_strcpy(b->cpu, sizeof(b->cpu), text(&doc, machine, "cpu"));
	bench_strcpy(b->flags, sizeof(b->flags), text(&doc, machine, "flags"));
	b->cores = number(&doc, machine, "cores");
	bench_strcpy(b->version, sizeof(b->version), text(&doc, root, "qkv_version"));
	bench_strcpy(b->shape_name, sizeof(b->shape_name), text(&doc, shape, "name"));
	bench_strcpy(b->layout, sizeof(b->layout), text(&doc, shape, "layout"));
	const char *dn[] = {"d_model", "n_heads", "n_kv_heads", "head_dim"};
	for (int i = 0; i < 4; i++)
		b->dims[i] = number(&doc, shape, dn[i]);
	for (size_t i = 0; ok && i < n; i++) {
		yaml_node_t *row = yaml_document_get_node(&doc, rows->data.sequence.items.start[i]);
		struct bench_base_row *o = &b->rows[b->n++];
		bench_strcpy(o->key, sizeof(o->key), text(&doc, row, "key"));
		if (!o->key[0]) {
			snprintf(err, errlen, "--baseline %s: line %zu: row %zu has no \"key\"",
			         path, row ? row->start_mark.line + 1 : 0, i + 1);
			ok = false;
		}
		o->ok = !strcmp(text(&doc, row, "status"), "ok");
		o->reference = !strcmp(text(&doc, row, "kind"), "reference");
		o->median = number(&doc, row, "median_s");
		o->p10 = number(&doc, row, "p10_s");
		o->p90 = number(&doc, row, "p90_s");
		o->mad = number(&doc, row, "mad_s");
		o->reps = number(&doc, row, "reps");
	}
	if (ok && b->n == 0) {
		snprintf(err, errlen, "--baseline %s: \"rows\" is empty", path);
		ok = false;
	}
	yaml_document_delete(&doc);
	if (!ok)
		bench_baseline_free(b);
	return ok;
}

void bench_baseline_free(struct bench_baseline *b)
{
	free(b->rows);
	memset(b, 0, sizeof(*b));
}

/* Why the baseline cannot be compared with this run, or NULL. */
static const char *mismatch(const struct bench_baseline *b, const struct bench_result *r,
                            const struct bench_machine *m, const char *layout, char *buf,
                            size_t len)
{
	const struct bench_shape *s = &r->shape;
	const double dims[4] = {s->d_model, s->n_heads, s->n_kv_heads, s->head_dim};
	if (memcmp(dims, b->dims, sizeof(dims))) {
		snprintf(
		    buf, len,
		    "the baseline is shape %s (d_model %.0f, heads %.0f, kv heads %.0f, head_dim "
		    "%.0f), this run is %s (d_model %u, heads %u, kv heads %u, head_dim %u)",
		    b->shape_name, b->dims[0], b->dims[1], b->dims[2], b->dims[3], s->name,
		    s->d_model, s->n_heads, s->n_kv_heads, s->head_dim);
		return buf;
	}
	if (b->layout[0] && strcmp(b->layout, layout)) {
		snprintf(buf, len,
		         "the baseline's weights are layout %s, this run's are %s (--layout): "
		         "their kernels and times differ",
		         b->layout, layout);
		return buf;
	}
	if (strcmp(b->cpu, m->cpu) || strcmp(b->flags, m->flags) || b->cores != m->cores) {
		snprintf(buf, len,
		         "the baseline was measured on \"%s\" (%.0f cores), this is \"%s\" (%u "
		         "cores)%s",
		         b->cpu, b->cores, m->cpu, m->cores,
		         strcmp(b->flags, m->flags) ? " with other SIMD flags" : "");
		return buf;
	}
	return NULL;
}

long bench_baseline_compare(const struct bench_baseline *b, const struct bench_result *r,
                            const struct bench_machine *m, const char *layout, double threshold_pct,
                            bool gate_all, FILE *out)
{
	char why[512];
	if (mismatch(b, r, m, layout, why, sizeof(why))) {
		fprintf(out, "\nbaseline not compared: %s\n", why);
		return -1;
	}
	size_t bad = 0, compared = 0;
	fprintf(out,
	        "\nbaseline comparison (qkv %s -> %s; threshold %.1f%% beyond noise; gating %s "
	        "rows):\n",
	        b->version[0] ? b->version : "?", qkv_version(), threshold_pct,
	        gate_all ? "all" : "backend");
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		char key[128];
		bench_row_key(row, key, sizeof(key));
		const struct bench_base_row *old = NULL;
		for (size_t k = 0; k < b->n && !old; k++)
			if (!strcmp(b->rows[k].key, key))
				old = &b->rows[k];
		if (!old || !old->ok || !row->ok || old->median <= 0) {
			fprintf(out, "  %-40s %s\n", key,
			        !old       ? "new row, not in the baseline"
			        : !row->ok ? "not measured now"
			                   : "not measured in the baseline");
			continue;
		}
		bool gated = gate_all || row->kind == BENCH_BACKEND;
		compared += gated;
		double se_old = old->reps >= 1 ? 1.86 * old->mad / sqrt(old->reps) : 0;
		double se_new = row->st.n ? 1.86 * row->st.mad / sqrt((double)row->st.n) : 0;
		double noise = 3 * sqrt(se_old * se_old + se_new * se_new);
		double limit = old->median * (1 + threshold_pct / 100) + noise;
		bool slow = row->st.median > limit;
		bad += slow && gated;
		fprintf(out, "  %-40s %10.4f ms -> %10.4f ms (%+6.1f%%, noise %.1f%%)%s%s\n", key,
		        old->median * 1e3, row->st.median * 1e3,
		        100 * (row->st.median / old->median - 1), 100 * noise / old->median,
		        slow ? "  SLOWER" : "", gated ? "" : "  (reference, not gated)");
	}
	fprintf(out,
	        "%zu of %zu compared rows slower than the baseline by more than %.1f%% "
	        "beyond noise\n",
	        bad, compared, threshold_pct);
	if (!compared) {
		fprintf(out,
		        "baseline not compared: no gated row of this run is in the baseline\n");
		return -1;
	}
	return (long)bad;
}
