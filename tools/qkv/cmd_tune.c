/* `qkv tune`: measure every available backend on this machine for a spread of T and
 * write the machine profile that routes each call to the fastest one. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_cli.h"
#include "bench_machine.h"
#include "bench_report.h"

enum { OPT_OUT };

static const char usage[] =
    "usage: qkv tune CONFIG | --preset gpt2-small|llama2-7b|llama3-8b|tiny [options]\n"
    "\n"
    "Measures every backend on the plugin search path (or --backends) for each\n"
    "precision the model allows and a spread of T, picks the fastest per T, merges\n"
    "neighbouring T with the same winner into ranges, and writes a machine profile:\n"
    "backend.prefer (best overall first, scalar last), backend.threads, backend.routes\n"
    "(one T range per entry), and tuned.cpu/flags/date (a profile from another CPU is\n"
    "ignored with a warning). Use it with `qkv run CONFIG --machine FILE`.\n"
    "\n"
    "  --out FILE          profile to write (default machine.yaml)\n"
    "  --tokens LIST       T values (default 1,2,4,8,16,32,64,128,256,512)\n"
    "  --backends LIST|all candidates (default all)\n"
    "  --precision LIST    precisions to route (default f32,int8; a CONFIG fixes its own)\n"
    "  --threads N         the thread budget to tune for (default: all cores)\n"
    "  --min-time S        seconds of repetitions per measurement (default 0.2)\n"
    "  --max-call S        skip measurements estimated slower than S per call (default 2)\n"
    "  --interleave S      time the candidates for one T in turns of S seconds (default 0.05)\n"
    "  --layout L          in_out (default) or out_in: how a preset's weights are stored\n"
    "  --plugin-dir DIR    search DIR for plugins first\n"
    "  --quiet             no progress on stderr\n";

/* Fastest measured backend row for (precision, T); NULL when none ran. */
static const struct bench_row *winner(const struct bench_result *r, const char *prec, size_t T)
{
	const struct bench_row *best = NULL;
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		if (row->ok && row->kind == BENCH_BACKEND && row->T == T &&
		    !strcmp(row->precision, prec) && (!best || row->st.median < best->st.median))
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
		if (!row->ok || row->kind != BENCH_BACKEND)
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

static void yaml_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* The row of backend `name` for (precision, T), or NULL. */
static const struct bench_row *row_of(const struct bench_result *r, const char *name,
                                      const char *prec, size_t T)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct bench_row *row = &r->rows[i];
		if (row->ok && row->kind == BENCH_BACKEND && row->T == T &&
		    !strcmp(row->precision, prec) && !strcmp(row->backend, name))
			return row;
	}
	return NULL;
}

/* Within this fraction of the fastest, the backend of the range below keeps T: on a
 * noisy machine near-ties would otherwise flip back and forth and split the routes. */
#define TIE 0.05

/* Routes for one precision: the backend per measured T (fastest, or the previous one
 * when within TIE of it; a T nothing could measure goes with its neighbours), then
 * runs of equal backends merged. T between two measured values goes with the smaller;
 * the last range is open-ended. */
static void write_routes(FILE *f, FILE *summary, const struct bench_result *r,
                         const struct bench_plan *p, unsigned prec)
{
	const char *pn = bench_precision_name(prec);
	const char *pick[BENCH_MAX_LIST] = {0}; /* [nT] backend name per T */
	for (size_t i = 0; i < p->nT; i++) {
		const struct bench_row *w = winner(r, pn, p->T[i]);
		const struct bench_row *prev =
		    i && pick[i - 1] ? row_of(r, pick[i - 1], pn, p->T[i]) : NULL;
		if (prev && w && prev->st.median <= w->st.median * (1 + TIE))
			w = prev;
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
		fprintf(f, "    - {precision: %s, t_min: %zu", pn, t_min);
		fprintf(summary, "  %-5s T %zu..", pn, t_min);
		if (j + 1 < p->nT) {
			fprintf(f, ", t_max: %zu", p->T[j + 1] - 1);
			fprintf(summary, "%zu", p->T[j + 1] - 1);
		}
		fprintf(f, ", backend: %s}\n", pick[i]);
		fprintf(summary, ": %s\n", pick[i]);
		i = j + 1;
	}
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

int qkv_cmd_tune(int argc, char **argv)
{
	static const struct bench_extra_opt extra[] = {{"--out", OPT_OUT, true}, {NULL, 0, false}};
	struct bench_cli cli;
	int rc = bench_cli_parse(argc, argv, &cli, extra, usage, "1,2,4,8,16,32,64,128,256,512");
	if (rc)
		return rc < 0 ? 0 : rc;
	struct bench_plan *p = &cli.plan;
	if (p->nthreads != 1) {
		fprintf(stderr,
		        "qkv tune: --threads takes one value: the profile has one budget\n");
		return 2;
	}
	bool min_time_default = true;
	for (int i = 1; i < argc; i++)
		if (!strncmp(argv[i], "--min-time", 10))
			min_time_default = false;
	if (min_time_default)
		p->min_time = 0.2;
	if (!p->precisions && !p->config_path)
		p->precisions = QKV_PRECISION_BIT(QKV_F32) | QKV_PRECISION_BIT(QKV_INT8);
	p->references = false;
	qsort(p->T, p->nT, sizeof(p->T[0]), cmp_size);
	const char *out = cli.opt[OPT_OUT] ? cli.opt[OPT_OUT] : "machine.yaml";
	/* Written to OUT.tmp and renamed at the end: a failed run keeps the old profile,
	 * and an unwritable --out is reported before minutes of measuring. */
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", out) >= (int)sizeof(tmp)) {
		fprintf(stderr, "qkv tune: --out: path too long\n");
		return 2;
	}
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "qkv tune: --out %s: cannot create %s: %s\n", out, tmp,
		        strerror(errno));
		return 1;
	}
	char err[1024];
	struct bench_machine m;
	if (!bench_machine_get(&m, false, NULL, err, sizeof(err))) {
		fprintf(stderr, "qkv tune: %s\n", err);
		fclose(f);
		remove(tmp);
		return 1;
	}
	struct bench_result r;
	if (!bench_plan_run(p, &m, &r, err, sizeof(err))) {
		fprintf(stderr, "qkv tune: %s\n", err);
		fclose(f);
		remove(tmp);
		return 1;
	}
	bench_report_table(stdout, &r, &m, p);
	struct score s[BENCH_MAX_LIST];
	size_t ns = rank(&r, s, BENCH_MAX_LIST);
	if (ns == 0) {
		fprintf(stderr, "qkv tune: no backend could be measured; nothing written\n");
		bench_result_free(&r);
		fclose(f);
		remove(tmp);
		return 1;
	}
	char date[16];
	time_t now = time(NULL);
	strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&now));
	char command[2048];
	bench_cli_command(argc, argv, command, sizeof(command));
	fprintf(f, "# Machine profile written by `%s`.\n", command);
	fprintf(f, "# Fastest backend per precision and range of T, measured on %s (%s).\n",
	        r.shape.name, date);
	fprintf(f, "backend:\n  prefer: [");
	for (size_t i = 0; i < ns; i++)
		fprintf(f, "%s%s", i ? ", " : "", s[i].name);
	fprintf(f, "]\n  threads: %zu\n", p->threads[0]);
	char *routes = NULL;
	size_t routes_len = 0;
	FILE *rf = open_memstream(&routes, &routes_len);
	printf("\nroutes written to %s:\n", out);
	for (unsigned prec = 0; rf && prec < QKV_PRECISION_COUNT; prec++)
		if (p->precisions & QKV_PRECISION_BIT(prec))
			write_routes(rf, stdout, &r, p, prec);
	if (rf)
		fclose(rf);
	fprintf(f, "  routes:%s%s", routes_len ? "\n" : " []\n", routes_len ? routes : "");
	free(routes);
	fprintf(f, "tuned:\n  cpu: ");
	yaml_quoted(f, m.cpu);
	fprintf(f, "\n  flags: ");
	yaml_quoted(f, m.flags);
	fprintf(f, "\n  date: \"%s\"\n", date);
	bool bad = ferror(f);
	if (fclose(f) || bad || rename(tmp, out)) {
		fprintf(stderr, "qkv tune: --out %s: write failed: %s\n", out, strerror(errno));
		remove(tmp);
		rc = 1;
	}
	bench_result_free(&r);
	return rc;
}
