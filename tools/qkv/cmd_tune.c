/* `qkv tune`: measure every available backend on this machine for a spread of T and
 * write the machine profile that routes each call to the fastest one. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qkv/precision.h>
#include <qkv/qkv.h>

#include "bench_args.h"
#include "bench_machine.h"
#include "bench_report.h"
#include "yaml_out.h"

static const struct cli_opt tune_opts[] = {
    {OPT_OUT, "FILE", "profile to write (default machine.yaml; checked before measuring)"},
    {OPT_TOKENS, "LIST", "T values (default 1,2,4,8,16,32,64,128,256,512)"},
    {OPT_THREADS, NULL, "the thread budget to tune for (default 0)"},
    {OPT_LAYER, NULL,
     "layer N of a CONFIG with {layer} in its tensor names (replaces its\n"
     "weights.layer); the layers share one shape, so the profile serves all"},
    BENCH_COMMON_OPTS,
    {OPT_FORCE, NULL, "write the profile although rows that decide a route stayed noisy"},
    {OPT_COUNT, NULL, NULL},
};

/* tune measures each backend itself and writes the profile: none is read or selected. */
static const struct cli_refused tune_refused[] = {
    {OPT_MACHINE, "tune writes the machine profile (--out FILE); it reads none"},
    {OPT_STRICT, "tune times exactly the backends named: nothing falls back"},
    {OPT_SHARD, "tune measures the whole model's shape; qkv bench --shard R/W\n"
                "times the backends on one slice"},
    {OPT_JSON, "tune writes its result as the YAML profile (--out FILE);\n"
               "qkv bench --json has every measured row"},
    {OPT_COUNT, NULL},
};

const struct cli_spec qkv_tune_spec = {
    "tune",
    "CONFIG | --preset NAME [options]",
    "Measures every backend on the plugin search path (or --backend) for each precision\n"
    "the model allows (default f32,int8; a CONFIG fixes its own) and a spread of T, picks\n"
    "the fastest per T, merges neighbouring T with the same winner into ranges, and writes\n"
    "a machine profile: backend.prefer (best overall first, scalar last), backend.threads,\n"
    "backend.routes (one T range per entry), and under tuned: the CPU, its flags, the date,\n"
    "the qkv version, the shape, threads and load it was measured under (the library warns\n"
    "when the profile is used on another CPU, shape or version). Rows are re-measured\n"
    "while noisy; when a row that decides a route stays noisy, or is more than 3 x slower\n"
    "than the same backend on 1 thread (measured beside it: its threads waited for busy\n"
    "cores), nothing is written (exit 1) unless --force. Use it with\n"
    "`qkv run CONFIG --machine FILE`.\n",
    tune_opts,
    0,
    1,
    NULL,
    tune_refused};

/* The profile's thread budget (--threads): only its rows decide; rows at 1 thread are
 * measured beside them to catch a budget row a contended machine slowed (suspect()). */
static unsigned budget;

/* Fastest measured backend row for (precision, T) at the budget; NULL when none ran. */
static const struct bench_row *winner(const struct bench_result *r, uint32_t prec, size_t T)
{
	const struct bench_row *best = NULL;
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		if (row->ok && row->kind == BENCH_BACKEND && row->T == T &&
		    row->threads == budget && row->precision == prec &&
		    (!best || row->st.median < best->st.median))
			best = row;
	}
	return best;
}

struct score {
	char name[40];
	double sum; /* sum of log(time / best time) over the (precision, T) it ran */
	size_t n;
};

/* Backends ordered best overall first (mean log slowdown against each T's winner),
 * scalar last: it is the fallback that runs everywhere. */
static size_t rank(const struct bench_result *r, struct score *s, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		if (!row->ok || row->kind != BENCH_BACKEND || row->threads != budget)
			continue;
		const struct bench_row *best = winner(r, row->precision, row->T);
		size_t k = 0;
		while (k < n && strcmp(s[k].name, row->backend))
			k++;
		if (k == n) {
			if (n == max)
				continue;
			memset(&s[n], 0, sizeof(s[n]));
			bench_strcpy(s[n].name, sizeof(s[n].name), row->backend);
			n++;
		}
		s[k].sum += log(row->st.median / best->st.median);
		s[k].n++;
	}
	for (size_t i = 1; i < n; i++) /* insertion sort: a handful of backends */
		for (size_t j = i; j > 0; j--) {
			bool a_scalar = !strcmp(s[j - 1].name, "scalar");
			bool b_scalar = !strcmp(s[j].name, "scalar");
			double a = s[j - 1].sum / (double)s[j - 1].n, b = s[j].sum / (double)s[j].n;
			if (a_scalar == b_scalar ? b < a : a_scalar) {
				struct score t = s[j];
				s[j] = s[j - 1];
				s[j - 1] = t;
			}
		}
	return n;
}

/* The row of backend `name` for (precision, T) at `threads`, or NULL. */
static const struct bench_row *row_of(const struct bench_result *r, const char *name, uint32_t prec,
                                      size_t T, unsigned threads)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		if (row->ok && row->kind == BENCH_BACKEND && row->T == T &&
		    row->threads == threads && row->precision == prec &&
		    !strcmp(row->backend, name))
			return row;
	}
	return NULL;
}

/* A winner more than SUSPECT_X times slower (and SUSPECT_S seconds) than the same backend
 * on one thread: its threads waited for cores another process held (a steady 8 ms row
 * against 0.1 ms at 1 thread, issue 24). Spread cannot show it: every call stalls alike.
 * Such a route is refused like a noisy one. */
#define SUSPECT_X 3.0
#define SUSPECT_S 0.5e-3
static bool suspect(const struct bench_result *r, const struct bench_row *w, FILE *summary)
{
	const struct bench_row *one =
	    budget == 1 ? NULL : row_of(r, w->backend, w->precision, w->T, 1);
	if (!one || w->st.median <= SUSPECT_X * one->st.median ||
	    w->st.median - one->st.median <= SUSPECT_S)
		return false;
	fprintf(summary,
	        "  %-5s T %zu: %s on %u threads took %.3f ms, %.1f x its %.3f ms on 1 thread: "
	        "its threads waited for busy cores\n",
	        bench_precision_name(w->precision), w->T, w->backend, budget, 1e3 * w->st.median,
	        w->st.median / one->st.median, 1e3 * one->st.median);
	return true;
}

/* Within this fraction of the fastest, the backend of the range below keeps T: on a
 * noisy machine near-ties would otherwise flip back and forth and split the routes. */
#define TIE 0.05

/* Routes for one precision: the backend per measured T (fastest, or the previous one
 * when within TIE of it; a T nothing could measure goes with its neighbours), then
 * runs of equal backends merged. T between two measured values goes with the smaller;
 * the last range is open-ended. *noisy counts winners that stayed noisy. */
static void write_routes(struct yaml_out *y, FILE *summary, const struct bench_result *r,
                         const struct bench_plan *p, unsigned prec, size_t *noisy)
{
	const char *pn = qkv_precision_name(prec);
	const char *pick[BENCH_MAX_LIST] = {0}; /* [nT] backend name per T */
	for (size_t i = 0; i < p->nT; i++) {
		const struct bench_row *w = winner(r, prec, p->T[i]);
		const struct bench_row *prev =
		    i && pick[i - 1] ? row_of(r, pick[i - 1], prec, p->T[i], budget) : NULL;
		if (prev && w && prev->st.median <= w->st.median * (1 + TIE))
			w = prev;
		if (w && w->noisy) {
			fprintf(summary, "  %-5s T %zu: %s won on a noisy measurement\n", pn,
			        p->T[i], w->backend);
			(*noisy)++;
		} else if (w && suspect(r, w, summary)) {
			(*noisy)++;
		}
		pick[i] = w ? w->backend : (i ? pick[i - 1] : NULL);
	}
	for (size_t i = p->nT; i-- > 1;) /* leading T without a measurement */
		if (!pick[i - 1])
			pick[i - 1] = pick[i];
	if (!p->nT || !pick[0]) {
		fprintf(summary, "  %-5s no backend measured\n", pn);
		return;
	}
	for (size_t i = 0; i < p->nT;) {
		size_t j = i;
		while (j + 1 < p->nT && !strcmp(pick[j + 1], pick[i]))
			j++;
		size_t t_min = i == 0 ? 1 : p->T[i];
		yo_map(y, true);
		yo_kv_str(y, "precision", pn);
		yo_kv_uint(y, "t_min", t_min);
		fprintf(summary, "  %-5s T %zu..", pn, t_min);
		if (j + 1 < p->nT) {
			yo_kv_uint(y, "t_max", p->T[j + 1] - 1);
			fprintf(summary, "%zu", p->T[j + 1] - 1);
		}
		yo_kv_str(y, "backend", pick[i]);
		yo_end_map(y);
		fprintf(summary, ": %s\n", pick[i]);
		i = j + 1;
	}
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

/* The profile: comment lines, then backend: and tuned: through libyaml's emitter.
 * Returns how many route winners stayed noisy. */
static size_t write_profile(FILE *f, const struct bench_result *r, const struct bench_plan *p,
                            const struct bench_machine *m, const struct score *s, size_t ns,
                            const char *command, bool *ok)
{
	char date[16], buf[64];
	time_t now = time(NULL);
	strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&now));
	fprintf(f, "# Machine profile written by `%s`.\n", command);
	fprintf(f, "# Fastest backend per precision and range of T, measured on %s (%s).\n",
	        r->shape.name, date);
	struct yaml_out y;
	size_t noisy = 0;
	*ok = yo_begin(&y, f);
	yo_map(&y, false);
	yo_str(&y, "backend");
	yo_map(&y, false);
	yo_str(&y, "prefer");
	yo_seq(&y, true);
	for (size_t i = 0; i < ns; i++)
		yo_str(&y, s[i].name);
	yo_end_seq(&y);
	yo_kv_uint(&y, "threads", p->threads[0]);
	yo_str(&y, "routes");
	yo_seq(&y, false);
	printf("\nroutes:\n");
	for (unsigned prec = 0; prec < QKV_PRECISION_COUNT; prec++)
		if (p->precisions & QKV_PRECISION_BIT(prec))
			write_routes(&y, stdout, r, p, prec, &noisy);
	yo_end_seq(&y);
	yo_end_map(&y);
	yo_str(&y, "tuned");
	yo_map(&y, false);
	yo_str(&y, "cpu");
	yo_quoted(&y, m->cpu);
	yo_str(&y, "flags");
	yo_quoted(&y, m->flags);
	yo_str(&y, "date");
	yo_quoted(&y, date);
	yo_str(&y, "qkv_version");
	yo_quoted(&y, qkv_version());
	const struct bench_shape *sh = &r->shape;
	snprintf(buf, sizeof(buf), "%u,%u,%u,%u", sh->d_model, sh->n_heads, sh->n_kv_heads,
	         sh->head_dim);
	yo_str(&y, "shape"); /* d_model,n_heads,n_kv_heads,head_dim */
	yo_quoted(&y, buf);
	yo_kv_uint(&y, "threads", p->threads[0]);
	snprintf(buf, sizeof(buf), "%.2f,%.2f", r->load[0], r->load[1]);
	yo_str(&y, "load"); /* 1-minute load average at the start and the end */
	yo_quoted(&y, buf);
	yo_kv_uint(&y, "noisy", noisy);
	yo_end_map(&y);
	yo_end_map(&y);
	*ok = yo_finish(&y) && *ok;
	return noisy;
}

int qkv_cmd_tune(int argc, char **argv)
{
	const struct cli_spec *sp = &qkv_tune_spec;
	struct cli_args a;
	struct bench_plan plan, *p = &plan;
	int rc = cli_parse(sp, argc, argv, &a);
	if (rc)
		return rc < 0 ? QKV_EXIT_OK : rc;
	if ((rc = bench_args_plan(sp, &a, p, "1,2,4,8,16,32,64,128,256,512", 0.2)))
		return rc;
	if (p->nthreads != 1)
		return cli_usage_error(sp, "--threads takes one value: the profile has one budget");
	budget = (unsigned)p->threads[0];
	if (budget != 1) /* 1-thread rows beside the budget's: suspect() */
		p->threads[p->nthreads++] = 1;
	if (!p->precisions && !p->config_path)
		p->precisions = QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_INT8);
	p->references = false;
	qsort(p->T, p->nT, sizeof(p->T[0]), cmp_size);
	const char *out = a.val[OPT_OUT] ? a.val[OPT_OUT] : "machine.yaml";
	/* Written to OUT.tmp and renamed at the end: a failed run keeps the old profile,
	 * and an unwritable --out is reported before minutes of measuring. */
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", out) >= (int)sizeof(tmp))
		return cli_usage_error(sp, "--out: path too long");
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "qkv tune: --out %s: cannot create %s: %s\n", out, tmp,
		        strerror(errno));
		return QKV_EXIT_ERROR;
	}
	char err[1024];
	struct bench_machine m;
	struct bench_result r = {0};
	rc = QKV_EXIT_ERROR;
	if (!bench_machine_get(&m, false, NULL, err, sizeof(err)) ||
	    !bench_plan_run(p, &m, &r, err, sizeof(err))) {
		fprintf(stderr, "qkv tune: %s\n", err);
		goto fail;
	}
	bench_report_table(stdout, &r, &m, p);
	struct score s[BENCH_MAX_LIST];
	size_t ns = rank(&r, s, BENCH_MAX_LIST);
	if (ns == 0) {
		fprintf(stderr, "qkv tune: no backend could be measured; nothing written\n");
		goto fail;
	}
	char command[2048];
	bench_args_command(argc, argv, command, sizeof(command));
	bool ok;
	size_t noisy = write_profile(f, &r, p, &m, s, ns, command, &ok);
	if (noisy && !a.val[OPT_FORCE]) {
		fprintf(stderr,
		        "qkv tune: %zu route(s) were decided by rows that stayed noisy after 3 "
		        "measurements or ran far slower than on 1 thread (1-minute load %.1f -> "
		        "%.1f on %u cores): %s not written; "
		        "run again on a quieter machine, raise --min-time, or --force\n",
		        noisy, r.load[0], r.load[1], m.cores, out);
		goto fail;
	}
	ok = !ferror(f) && ok;
	if (fclose(f) || !ok || rename(tmp, out)) {
		fprintf(stderr, "qkv tune: --out %s: write failed: %s\n", out, strerror(errno));
		f = NULL;
		goto fail;
	}
	printf("profile written to %s\n", out);
	bench_result_free(&r);
	return QKV_EXIT_OK;
fail:
	if (f)
		fclose(f);
	remove(tmp);
	bench_result_free(&r);
	return rc;
}
