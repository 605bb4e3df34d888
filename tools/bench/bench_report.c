#include "bench_report.h"

#include <string.h>
#include <time.h>

#include <qkv/qkv.h>

#include "jsonw.h"

void bench_row_key(const struct bench_row *row, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/T=%zu/threads=%u", row->backend,
	         bench_precision_name(row->precision), row->T, row->threads);
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

const char *bench_layout_name(const struct bench_plan *p)
{
	return p->config_path ? "config" : p->layout ? "out_in" : "in_out";
}

static double spread_pct(const struct bench_row *row)
{
	return row->st.median > 0 ? 100.0 * (row->st.p90 - row->st.p10) / row->st.median : 0.0;
}

enum { NCOL = 14 };

/* The cells of one row (a failed row: its status in the median's cell). */
static void cells(const struct bench_row *row, bool md, char c[NCOL][48])
{
	const char *ref = row->kind == BENCH_REFERENCE ? "*" : "";
	snprintf(c[0], 48, "%s%s%s", ref, row->backend, md ? ref : "");
	snprintf(c[1], 48, "%s", bench_precision_name(row->precision));
	snprintf(c[2], 48, "%zu", row->T);
	snprintf(c[3], 48, "%u", row->threads);
	for (int i = 4; i < NCOL; i++)
		c[i][0] = '\0';
	if (!row->ok) {
		snprintf(c[4], 48, "%.47s", row->status);
		return;
	}
	snprintf(c[4], 48, md ? "%.4g" : "%.4f", row->st.median * 1e3);
	snprintf(c[5], 48, "%.1f%%", spread_pct(row));
	snprintf(c[6], 48, "%zu", row->st.n);
	const double v[4] = {row->gflops, row->weight_gbs, row->peak_pct, row->bw_pct};
	for (int i = 0; i < 4; i++)
		snprintf(c[7 + i], 48, i < 2 ? "%.2f" : "%.1f", v[i]);
	if (bench_row_peak_broken(row)) /* not a figure: the peak loop measured too low */
		snprintf(c[9], 48, "peak?");
	if (row->ok && row->bw_pct > 100.0) /* the same for the read bandwidth */
		snprintf(c[10], 48, "bw?");
	snprintf(c[11], 48, row->vs_sgemm > 0 ? "%.2f" : "-", row->vs_sgemm);
	snprintf(c[12], 48, row->vs_sgemv > 0 ? "%.2f" : "-", row->vs_sgemv);
	int k = 0;
	if (row->noisy)
		k = snprintf(c[13], 48, "noisy");
	else if (row->attempts > 1)
		k = snprintf(c[13], 48, "attempt %u", row->attempts);
	if (bench_row_threads_differ(row))
		snprintf(c[13] + k, (size_t)(48 - k), "%sran on %u thr", k ? ", " : "",
		         row->threads_busy);
}

bool bench_row_peak_broken(const struct bench_row *row)
{
	return row->ok && row->peak_pct > 100.0;
}

bool bench_row_threads_differ(const struct bench_row *row)
{
	return row->ok && row->threads_busy && row->threads_busy != row->threads;
}

/* Warnings under the table: rows whose figures cannot be taken at face value. */
static void row_warnings(FILE *f, const struct bench_result *r)
{
	char key[128];
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		bench_row_key(row, key, sizeof(key));
		if (bench_row_peak_broken(row))
			fprintf(
			    f,
			    "warning: %s reaches %.0f%% of the measured peak: the peak was "
			    "measured too low (a busy machine when it was cached, or a loop too "
			    "slow for this CPU): %%peak not printed; `--remeasure` on a quiet "
			    "machine measures it again\n",
			    key, row->peak_pct);
		if (bench_row_threads_differ(row) && row->kind == BENCH_REFERENCE)
			fprintf(
			    f,
			    "warning: %s kept %u thread(s) busy, not %u: the library did not run "
			    "the row's thread count; its ratios are not comparable\n",
			    key, row->threads_busy, row->threads);
	}
}

/* The rows as the fixed-width table (md false) or a Markdown table; returns how many
 * stayed noisy. */
static size_t rows(FILE *f, const struct bench_result *r, bool md)
{
	static const char *const head[NCOL] = {
	    "backend", "prec",   "T",     "thr", "median ms", "p10-90",  "reps",
	    "GFLOP/s", "W GB/s", "%peak", "%bw", "x sgemm",   "x sgemv", ""};
	static const int width[NCOL] = {-14, -6, 5, 3, 11, 7, 6, 8, 7, 6, 6, 7, 7, -1};
	char c[NCOL][48];
	size_t noisy = 0;
	for (size_t i = 0; i <= r->n; i++) {
		if (i)
			cells(&r->rows[i - 1], md, c);
		for (int k = 0; k < NCOL; k++) {
			const char *t = i ? c[k] : head[k];
			if (md)
				fprintf(f, "| %s ", t);
			else if (i && !r->rows[i - 1].ok &&
			         k == 4) /* the whole status, unaligned */
				fprintf(f, " %s", r->rows[i - 1].status);
			else if (k == NCOL - 1)
				fprintf(f, "%s%s", t[0] ? "  " : "", t);
			else
				fprintf(f, "%s%*s", k ? " " : "", width[k], t);
		}
		fputs(md ? "|\n" : "\n", f);
		if (md && !i)
			fprintf(f, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
		noisy += i && r->rows[i - 1].noisy;
	}
	return noisy;
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
	        p->config_path ? "as the config says" : bench_layout_name(p), p->min_time);
	if (r->load[0] >= 0)
		fprintf(f,
		        "load:    1-minute load average %.1f at the start, %.1f at the end (%u "
		        "cores)\n",
		        r->load[0], r->load[1], m->cores);
	if (r->load[0] > m->cores || r->load[1] > m->cores)
		fprintf(f,
		        "warning: more runnable processes than cores: other work competes for the "
		        "CPUs, expect noisy rows\n");
	fputc('\n', f);
	size_t noisy = rows(f, r, false);
	fprintf(
	    f,
	    "\n* reference rows (direct library calls on the same shape, same run). "
	    "x sgemm = sgemm time / row time (> 1: faster).\n"
	    "%%peak and %%bw are against this machine's measured fp32 FMA peak (int8 rows: its "
	    "int8 peak) and read bandwidth for the row's thread count; W GB/s counts the "
	    "precision's weight bytes.\n"
	    "reps = timed calls behind the median. A row whose p10-p90 spread exceeds %.0f%% "
	    "or with more than %.0f%% of calls stalled (> %.0fx the median) was measured again, "
	    "up to 3 times.\n",
	    100 * BENCH_NOISY_SPREAD, 100 * BENCH_NOISY_STALLS, BENCH_STALL);
	if (noisy)
		fprintf(f,
		        "warning: %zu row(s) stayed noisy: the machine is busy; compare their "
		        "medians with care\n",
		        noisy);
	row_warnings(f, r);
	fprintf(f, "what ran:\n");
	for (size_t i = 0; i < r->n; i++) { /* each backend/precision's detail once */
		const struct bench_row *row = &r->rows[i];
		bool seen = !row->detail[0];
		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(r->rows[j].backend, row->backend) &&
			       r->rows[j].precision == row->precision;
		if (seen)
			continue;
		fprintf(f, "  %-12s %-6s %s\n", row->backend, bench_precision_name(row->precision),
		        row->detail);
		if (row->kind == BENCH_BACKEND &&
		    (row->bytes_prepared > 0 || row->bytes_in_place > 0))
			fprintf(
			    f,
			    "  %-12s %-6s memory: %.1f MiB made at prepare, %.1f MiB of weights "
			    "read in place\n",
			    "", "", row->bytes_prepared / 1048576.0,
			    row->bytes_in_place / 1048576.0);
	}
	if (r->notes[0])
		fprintf(f, "notes:\n%s", r->notes);
}

bool bench_report_json(FILE *f, const struct bench_result *r, const struct bench_machine *m,
                       const struct bench_plan *p, const char *command)
{
	char date[32];
	time_t now = time(NULL);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	struct jsonw w;
	jsonw_init(&w, f, 2);
	jsonw_object(&w);
	jsonw_kv_uint(&w, "qkv_bench", 2);
	jsonw_kv_string(&w, "qkv_version", qkv_version());
	jsonw_kv_string(&w, "date", date);
	jsonw_kv_string(&w, "command", command);
	jsonw_key(&w, "machine");
	jsonw_object(&w);
	jsonw_kv_string(&w, "cpu", m->cpu);
	jsonw_kv_string(&w, "flags", m->flags);
	jsonw_kv_uint(&w, "cores", m->cores);
	jsonw_kv_string(&w, "kernel", m->kernel);
	jsonw_kv_string(&w, "kernel_int8", m->kernel_int8);
	jsonw_key(&w, "measured");
	jsonw_array(&w);
	for (size_t i = 0; i < m->n; i++) {
		jsonw_object(&w);
		jsonw_kv_uint(&w, "threads", m->threads[i]);
		jsonw_kv_double(&w, "peak_gflops", m->peak_gflops[i], 6);
		jsonw_kv_double(&w, "read_gbs", m->read_gbs[i], 6);
		jsonw_kv_double(&w, "peak_int8_gops", m->peak_int8_gops[i], 6);
		jsonw_end(&w);
	}
	jsonw_end(&w);
	jsonw_end(&w);
	const struct bench_shape *s = &r->shape;
	jsonw_key(&w, "shape");
	jsonw_object(&w);
	jsonw_kv_string(&w, "name", s->name);
	const char *dn[] = {"d_model", "n_heads", "n_kv_heads", "head_dim", "d_q", "d_kv", "n"};
	const uint32_t dv[] = {s->d_model, s->n_heads, s->n_kv_heads, s->head_dim,
	                       s->d_q,     s->d_kv,    s->n};
	for (size_t i = 0; i < 7; i++)
		jsonw_kv_uint(&w, dn[i], dv[i]);
	jsonw_kv_string(&w, "layout", bench_layout_name(p));
	jsonw_end(&w);
	jsonw_kv_double(&w, "min_time", p->min_time, 4);
	jsonw_key(&w, "load_average");
	jsonw_array(&w);
	jsonw_double(&w, r->load[0], 3);
	jsonw_double(&w, r->load[1], 3);
	jsonw_end(&w);
	jsonw_kv_string(&w, "notes", r->notes);
	jsonw_key(&w, "rows");
	jsonw_array(&w);
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		char key[128];
		bench_row_key(row, key, sizeof(key));
		jsonw_object(&w);
		jsonw_kv_string(&w, "key", key);
		jsonw_kv_string(&w, "backend", row->backend);
		jsonw_kv_string(&w, "kind", row->kind == BENCH_REFERENCE ? "reference" : "backend");
		jsonw_kv_string(&w, "precision", bench_precision_name(row->precision));
		jsonw_kv_uint(&w, "T", row->T);
		jsonw_kv_uint(&w, "threads", row->threads);
		jsonw_kv_string(&w, "status", row->status);
		jsonw_kv_string(&w, "detail", row->detail);
		if (row->ok) {
			jsonw_kv_uint(&w, "reps", row->st.n);
			jsonw_kv_uint(&w, "attempts", row->attempts);
			jsonw_key(&w, "noisy");
			jsonw_bool(&w, row->noisy);
			jsonw_kv_uint(&w, "stalls", row->st.stalls);
			const char *tn[] = {"median_s", "p10_s", "p90_s",
			                    "min_s",    "max_s", "mad_s"};
			const double tv[] = {row->st.median, row->st.p10, row->st.p90,
			                     row->st.min,    row->st.max, row->st.mad};
			for (size_t k = 0; k < 6; k++)
				jsonw_kv_double(&w, tn[k], tv[k], 9);
			jsonw_kv_double(&w, "prepare_s", row->prepare_s, 6);
			jsonw_kv_double(&w, "first_call_s", row->first_call_s, 6);
			jsonw_kv_uint(&w, "threads_busy", row->threads_busy);
			jsonw_kv_double(&w, "bytes_prepared", row->bytes_prepared, 15);
			jsonw_kv_double(&w, "bytes_in_place", row->bytes_in_place, 15);
			jsonw_kv_double(&w, "cpu_per_wall", row->cpu_per_wall, 4);
			jsonw_key(&w, "peak_broken");
			jsonw_bool(&w, bench_row_peak_broken(row));
			jsonw_kv_double(&w, "gflops", row->gflops, 6);
			jsonw_kv_double(&w, "weight_gbs", row->weight_gbs, 6);
			jsonw_kv_double(&w, "peak_pct", row->peak_pct, 4);
			jsonw_kv_double(&w, "bw_pct", row->bw_pct, 4);
			jsonw_kv_double(&w, "vs_sgemm", row->vs_sgemm, 4);
			jsonw_kv_double(&w, "vs_sgemv", row->vs_sgemv, 4);
		}
		jsonw_end(&w);
	}
	jsonw_end(&w);
	jsonw_end(&w);
	return jsonw_ok(&w);
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

bool bench_report_csv(FILE *f, const struct bench_result *r, const struct bench_machine *m,
                      const struct bench_plan *p, const char *command)
{
	(void)m;
	(void)p;
	(void)command;
	fprintf(
	    f,
	    "shape,backend,kind,precision,T,threads,status,reps,median_s,p10_s,p90_s,"
	    "gflops,weight_gbs,peak_pct,bw_pct,vs_sgemm,vs_sgemv,prepare_s,first_call_s,detail\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		csv_field(f, r->shape.name);
		fprintf(f, ",%s,%s,%s,%zu,%u,", row->backend,
		        row->kind == BENCH_REFERENCE ? "reference" : "backend",
		        bench_precision_name(row->precision), row->T, row->threads);
		csv_field(f, row->status);
		if (row->ok)
			fprintf(f, ",%zu,%.9g,%.9g,%.9g,%.6g,%.6g,%.4g,%.4g,%.4g,%.4g,%.6g,%.6g,",
			        row->st.n, row->st.median, row->st.p10, row->st.p90, row->gflops,
			        row->weight_gbs, row->peak_pct, row->bw_pct, row->vs_sgemm,
			        row->vs_sgemv, row->prepare_s, row->first_call_s);
		else
			fprintf(f, ",,,,,,,,,,,,,");
		csv_field(f, row->detail);
		fputc('\n', f);
	}
	return !ferror(f);
}

bool bench_report_markdown(FILE *f, const struct bench_result *r, const struct bench_machine *m,
                           const struct bench_plan *p, const char *command)
{
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
	rows(f, r, true);
	fprintf(f,
	        "\n*Starred* rows are reference library calls on the same shape in the same run. "
	        "x sgemm = sgemm time / row time (> 1: faster than sgemm). For int8 rows GFLOP/s "
	        "counts integer multiply-adds as 2 operations, like f32.\n");
	return !ferror(f);
}
