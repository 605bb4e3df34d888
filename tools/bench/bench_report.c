#include "bench_report.h"

#include <errno.h>
#include <string.h>
#include <time.h>

void bench_row_key(const struct bench_row *row, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/T=%zu/threads=%u", row->backend, row->precision, row->T,
	         row->threads);
}

void bench_machine_line(const struct bench_machine *m, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s, %u cores [%s]; measured (%s):", m->cpu, m->cores, m->flags,
	                 m->kernel);
	for (size_t i = 0; i < m->n && n > 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n,
		              " %u thread%s %.1f GFLOP/s fp32 peak, %.1f GB/s read;", m->threads[i],
		              m->threads[i] == 1 ? "" : "s", m->peak_gflops[i], m->read_gbs[i]);
	if (n > 0 && (size_t)n < len) /* the denominator of int8 rows' %peak */
		n += snprintf(buf + n, len - (size_t)n, " int8 peak (%s):", m->kernel_int8);
	for (size_t i = 0; i < m->n && n > 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n, " %u thread%s %.1f GOP/s;", m->threads[i],
		              m->threads[i] == 1 ? "" : "s", m->peak_int8_gops[i]);
}

static double spread_pct(const struct bench_row *row)
{
	return row->st.median > 0 ? 100.0 * (row->st.p90 - row->st.p10) / row->st.median : 0.0;
}

void bench_report_table(FILE *f, const struct bench_result *r, const struct bench_machine *m,
                        const struct bench_plan *p)
{
	const struct bench_shape *s = &r->shape;
	char line[1024];
	bench_machine_line(m, line, sizeof(line));
	fprintf(f, "machine: %s\n", line);
	fprintf(f,
	        "shape:   %s  d_model=%u heads=%u kv_heads=%u head_dim=%u  N=%u  weights %s  "
	        "(min-time %.2f s per row)\n",
	        s->name, s->d_model, s->n_heads, s->n_kv_heads, s->head_dim, s->n,
	        p->config_path ? "as the config says"
	        : p->layout    ? "out_in"
	                       : "in_out",
	        p->min_time);
	if (r->load[0] >= 0)
		fprintf(f,
		        "load:    1-minute load average %.1f at the start, %.1f at the end (%u "
		        "cores)\n",
		        r->load[0], r->load[1], m->cores);
	fputc('\n', f);
	fprintf(f, "%-14s %-5s %5s %3s %11s %7s %8s %7s %6s %6s %7s %7s\n", "backend", "prec", "T",
	        "thr", "median ms", "p10-90", "GFLOP/s", "W GB/s", "%peak", "%bw", "x sgemm",
	        "x sgemv");
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		char name[48];
		snprintf(name, sizeof(name), "%s%s", row->kind == BENCH_REFERENCE ? "*" : "",
		         row->backend);
		fprintf(f, "%-14s %-5s %5zu %3u ", name, row->precision, row->T, row->threads);
		if (!row->ok) {
			fprintf(f, "%s\n", row->status);
			continue;
		}
		fprintf(f, "%11.4f %6.1f%% %8.2f %7.2f %6.1f %6.1f", row->st.median * 1e3,
		        spread_pct(row), row->gflops, row->weight_gbs, row->peak_pct, row->bw_pct);
		if (row->vs_sgemm > 0)
			fprintf(f, " %7.2f", row->vs_sgemm);
		else
			fprintf(f, " %7s", "-");
		if (row->vs_sgemv > 0)
			fprintf(f, " %7.2f", row->vs_sgemv);
		else
			fprintf(f, " %7s", "-");
		fputc('\n', f);
	}
	fprintf(
	    f,
	    "\n* reference rows (direct library calls on the same shape, same run). "
	    "x sgemm = sgemm time / row time (> 1: faster).\n"
	    "%%peak and %%bw are against this machine's measured fp32 FMA peak and read "
	    "bandwidth for the row's thread count; W GB/s counts the precision's weight bytes.\n");
	fprintf(f, "what ran:\n");
	for (size_t i = 0; i < r->n; i++) { /* each backend/precision's detail once */
		const struct bench_row *row = &r->rows[i];
		bool seen = !row->detail[0];
		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(r->rows[j].backend, row->backend) &&
			       !strcmp(r->rows[j].precision, row->precision);
		if (!seen)
			fprintf(f, "  %-12s %-5s %s\n", row->backend, row->precision, row->detail);
	}
	if (r->notes[0])
		fprintf(f, "notes:\n%s", r->notes);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static bool close_file(FILE *f, const char *path, char *err, size_t errlen)
{
	bool bad = ferror(f);
	if (fclose(f) || bad) {
		snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
		return false;
	}
	return true;
}

bool bench_report_json(const char *path, const struct bench_result *r,
                       const struct bench_machine *m, const struct bench_plan *p,
                       const char *command, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "--json %s: cannot create: %s", path, strerror(errno));
		return false;
	}
	char date[32];
	time_t now = time(NULL);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(f, "{\n  \"qkv_bench\": 1,\n  \"date\": ");
	json_str(f, date);
	fprintf(f, ",\n  \"command\": ");
	json_str(f, command);
	fprintf(f, ",\n  \"machine\": {\"cpu\": ");
	json_str(f, m->cpu);
	fprintf(f, ", \"flags\": ");
	json_str(f, m->flags);
	fprintf(f, ", \"cores\": %u, \"kernel\": ", m->cores);
	json_str(f, m->kernel);
	fprintf(f, ", \"kernel_int8\": ");
	json_str(f, m->kernel_int8);
	fprintf(f, ", \"measured\": [");
	for (size_t i = 0; i < m->n; i++)
		fprintf(f,
		        "%s{\"threads\": %u, \"peak_gflops\": %.3f, \"read_gbs\": %.3f, "
		        "\"peak_int8_gops\": %.3f}",
		        i ? ", " : "", m->threads[i], m->peak_gflops[i], m->read_gbs[i],
		        m->peak_int8_gops[i]);
	const struct bench_shape *s = &r->shape;
	fprintf(f, "]},\n  \"shape\": {\"name\": ");
	json_str(f, s->name);
	fprintf(f,
	        ", \"d_model\": %u, \"n_heads\": %u, \"n_kv_heads\": %u, \"head_dim\": %u, "
	        "\"d_q\": %u, \"d_kv\": %u, \"n\": %u, \"layout\": \"%s\"},\n",
	        s->d_model, s->n_heads, s->n_kv_heads, s->head_dim, s->d_q, s->d_kv, s->n,
	        p->config_path ? "config"
	        : p->layout    ? "out_in"
	                       : "in_out");
	fprintf(f, "  \"min_time\": %.4f,\n  \"load_average\": [%.2f, %.2f],\n  \"notes\": ",
	        p->min_time, r->load[0], r->load[1]);
	json_str(f, r->notes);
	fprintf(f, ",\n  \"rows\": [");
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		char key[128];
		bench_row_key(row, key, sizeof(key));
		fprintf(f, "%s\n    {\"key\": ", i ? "," : "");
		json_str(f, key);
		fprintf(f, ", \"backend\": ");
		json_str(f, row->backend);
		fprintf(f, ", \"kind\": \"%s\", \"precision\": \"%s\", \"T\": %zu, \"threads\": %u",
		        row->kind == BENCH_REFERENCE ? "reference" : "backend", row->precision,
		        row->T, row->threads);
		fprintf(f, ", \"status\": ");
		json_str(f, row->status);
		fprintf(f, ", \"detail\": ");
		json_str(f, row->detail);
		if (row->ok)
			fprintf(f,
			        ", \"reps\": %zu, \"median_s\": %.9g, \"p10_s\": %.9g, \"p90_s\": "
			        "%.9g, \"min_s\": %.9g, \"mad_s\": %.9g, \"prepare_s\": %.6g, "
			        "\"gflops\": %.6g, \"weight_gbs\": %.6g, \"peak_pct\": %.4g, "
			        "\"bw_pct\": %.4g, \"vs_sgemm\": %.4g, \"vs_sgemv\": %.4g",
			        row->st.n, row->st.median, row->st.p10, row->st.p90, row->st.min,
			        row->st.mad, row->prepare_s, row->gflops, row->weight_gbs,
			        row->peak_pct, row->bw_pct, row->vs_sgemm, row->vs_sgemv);
		fputc('}', f);
	}
	fprintf(f, "\n  ]\n}\n");
	return close_file(f, path, err, errlen);
}

static void csv_field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

bool bench_report_csv(const char *path, const struct bench_result *r, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "--csv %s: cannot create: %s", path, strerror(errno));
		return false;
	}
	fprintf(f, "shape,backend,kind,precision,T,threads,status,reps,median_s,p10_s,p90_s,"
	           "gflops,weight_gbs,peak_pct,bw_pct,vs_sgemm,vs_sgemv,prepare_s,detail\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		csv_field(f, r->shape.name);
		fprintf(f, ",%s,%s,%s,%zu,%u,", row->backend,
		        row->kind == BENCH_REFERENCE ? "reference" : "backend", row->precision,
		        row->T, row->threads);
		csv_field(f, row->status);
		if (row->ok)
			fprintf(f, ",%zu,%.9g,%.9g,%.9g,%.6g,%.6g,%.4g,%.4g,%.4g,%.4g,%.6g,",
			        row->st.n, row->st.median, row->st.p10, row->st.p90, row->gflops,
			        row->weight_gbs, row->peak_pct, row->bw_pct, row->vs_sgemm,
			        row->vs_sgemv, row->prepare_s);
		else
			fprintf(f, ",,,,,,,,,,,,");
		csv_field(f, row->detail);
		fputc('\n', f);
	}
	return close_file(f, path, err, errlen);
}

bool bench_report_markdown(const char *path, const struct bench_result *r,
                           const struct bench_machine *m, const struct bench_plan *p,
                           const char *command, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "--markdown %s: cannot create: %s", path, strerror(errno));
		return false;
	}
	char line[1024];
	bench_machine_line(m, line, sizeof(line));
	const struct bench_shape *s = &r->shape;
	fprintf(f, "`%s`\n\n", command);
	fprintf(f,
	        "Machine: %s  \nShape: %s, d_model %u, %u heads, %u KV heads, head_dim %u, N %u; "
	        "min-time %.2f s per row; 1-minute load average %.1f at the start, %.1f at the "
	        "end.\n\n",
	        line, s->name, s->d_model, s->n_heads, s->n_kv_heads, s->head_dim, s->n,
	        p->min_time, r->load[0], r->load[1]);
	fprintf(f, "| backend | prec | T | threads | median ms | p10-p90 | GFLOP/s | weight GB/s | "
	           "%% peak | %% bw | x sgemm | x sgemv |\n"
	           "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		const char *ref = row->kind == BENCH_REFERENCE ? "*" : "";
		fprintf(f, "| %s%s%s | %s | %zu | %u |", ref, row->backend, ref, row->precision,
		        row->T, row->threads);
		if (!row->ok) {
			fprintf(f, " %s |||||||||\n", row->status);
			continue;
		}
		fprintf(f, " %.4g | %.0f%% | %.1f | %.1f | %.1f | %.1f |", row->st.median * 1e3,
		        spread_pct(row), row->gflops, row->weight_gbs, row->peak_pct, row->bw_pct);
		if (row->vs_sgemm > 0)
			fprintf(f, " %.2f |", row->vs_sgemm);
		else
			fprintf(f, " |");
		if (row->vs_sgemv > 0)
			fprintf(f, " %.2f |\n", row->vs_sgemv);
		else
			fprintf(f, " |\n");
	}
	fprintf(f,
	        "\n*Italic* rows are reference library calls on the same shape in the same run. "
	        "x sgemm = sgemm time / row time (> 1: faster than sgemm). For int8 rows GFLOP/s "
	        "counts integer multiply-adds as 2 operations, like f32.\n");
	return close_file(f, path, err, errlen);
}
