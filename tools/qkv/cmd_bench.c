/* `qkv bench`: measure backends against reference library calls on one shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/precision.h>
#include <qkv/wtype.h>
#include <qkv/qkv.h>

#include "bench_args.h"
#include "bench_baseline.h"
#include "bench_machine.h"
#include "bench_pass.h"
#include "bench_plot.h"
#include "bench_progress.h"
#include "bench_report.h"

static const struct cli_opt bench_opts[] = {
    {OPT_TOKENS, "LIST", "T values (default 1,16,128,512)"},
    {OPT_LAYER, NULL, NULL},
    {OPT_ALL_LAYERS, NULL,
     "time every layer of CONFIG (model.n_layers, or GGUF block_count): one\n"
     "line per layer, backend, precision, T and threads, then each one's total\n"
     "over the layers (sum of the per-layer medians); reference rows once;\n"
     "then, for T <= 16, decode passes: every layer once per pass, in order, as\n"
     "a decode loop runs (with a model larger than the caches the weights come\n"
     "from memory, which timing one layer again and again never shows): time\n"
     "per pass and per layer, weight GB/s and % of the read bandwidth"},
    {OPT_THREADS, "LIST", "thread counts, 0 = every core this process may use (default 0)"},
    {OPT_SHARD, NULL,
     "measure the slice R of W of the heads one rank computes (a config\n"
     "loads only its weights; a preset measures the slice's shape)"},
    BENCH_COMMON_OPTS,
    {OPT_JSON, NULL, "every row as JSON (- = stdout)"},
    {OPT_CSV, NULL, "every row as CSV (- = stdout)"},
    {OPT_MARKDOWN, NULL, "the table as Markdown, with the machine line and command"},
    {OPT_PLOT, NULL, "GFLOP/s against T per backend (PNG needs gnuplot)"},
    {OPT_BASELINE, NULL,
     "compare with an earlier --json run of the same shape on the same machine;\n"
     "exit 3 when a gated row is slower by more than --threshold beyond noise"},
    {OPT_THRESHOLD, NULL, "regression threshold in percent (default 10)"},
    {OPT_GATE, "backend|all",
     "rows that can fail --baseline (default backend: not the\n"
     "reference rows, which measure the libraries, not qkv)"},
    {OPT_NO_REFERENCE, NULL, NULL},
    {OPT_OVERHEAD, NULL,
     "also time each plugin called directly (no core): the difference is the\n"
     "dispatcher's cost per call (presets only)"},
    {OPT_REMEASURE, NULL, NULL},
    {OPT_COUNT, NULL, NULL},
};

/* bench times each backend it is given itself: nothing is selected, so nothing falls
 * back and no profile's order applies. */
static const struct cli_refused bench_refused[] = {
    {OPT_MACHINE, "bench times each backend of --backend itself; qkv run and\n"
                  "qkv info --machine apply a profile, qkv tune writes one"},
    {OPT_STRICT, "bench times exactly the backends named: nothing falls back"},
    {OPT_COUNT, NULL},
};

const struct cli_spec qkv_bench_spec = {
    "bench",
    "CONFIG | --preset NAME [options]",
    "Times every backend (warm-up, then repetitions until --min-time; median, p10-p90\n"
    "spread and repetitions; rotating input/output buffers) next to reference rows\n"
    "measured in the same run (direct cblas_sgemm, cblas_sgemv at T = 1, oneDNN matmul\n"
    "when built), and reports GFLOP/s (2*T*d_model*N/s), weight GB/s, % of this machine's\n"
    "measured fp32 peak and read bandwidth (measured once, cached in $XDG_CACHE_HOME/qkv).\n"
    "A row whose spread or stalls say the machine was busy is measured again (twice at\n"
    "most) and marked `noisy` when it stays so.\n"
    "ARM (aarch64): the peaks come from NEON loops, fmla for fp32 and for int8 the\n"
    "fastest exact instruction the CPU has (smmla with i8mm, sdot, else smull+sadalp);\n"
    "qkv's speed on ARM has not been measured yet (no ARM machine; docs/PERFORMANCE.md).\n",
    bench_opts,
    0,
    1,
    "3 slower than the baseline",
    bench_refused};

void bench_args_command(int argc, char **argv, char *buf, size_t len)
{
	int n = snprintf(buf, len, "qkv");
	for (int i = 0; i < argc && n >= 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n, " %s", argv[i]);
}

/* "--threads 0,1" with 0 = every core: 0 becomes the core count. */
static size_t thread_list(const char *text, unsigned cpus, size_t *v, char *err, size_t errlen)
{
	char buf[512], *o = buf;
	for (const char *s = text; *s && o < buf + sizeof(buf) - 16;) {
		size_t len = strcspn(s, ",");
		if (len == 1 && *s == '0')
			o += snprintf(o, 16, "%u", cpus);
		else
			o += snprintf(o, (size_t)(buf + sizeof(buf) - o), "%.*s", (int)len, s);
		s += len;
		if (*s)
			*o++ = *s++;
		*o = '\0';
	}
	*o = '\0';
	return bench_parse_sizes(buf, "--threads", QKV_MAX_THREADS, v, BENCH_MAX_LIST, err, errlen);
}

int bench_args_plan(const struct cli_spec *sp, const struct cli_args *a, struct bench_plan *p,
                    const char *default_tokens, double default_min_time)
{
	char err[512];
	memset(p, 0, sizeof(*p));
	p->references = !a->val[OPT_NO_REFERENCE];
	p->overhead = a->val[OPT_OVERHEAD] != NULL;
	p->quiet = a->val[OPT_QUIET] != NULL;
	if (cli_shard(sp, a, &p->shard_rank, &p->shard_world) ||
	    cli_layer(sp, a, &p->layer_set, &p->layer) ||
	    cli_double(sp, a, OPT_MIN_TIME, 1e-4, default_min_time, &p->min_time) ||
	    cli_double(sp, a, OPT_MAX_CALL, 1e-6, 2.0, &p->max_call) ||
	    /* turns of 50 ms: fair ratios on a shared machine (bench_time_group) */
	    cli_double(sp, a, OPT_INTERLEAVE, 0, 0.05, &p->interleave))
		return QKV_EXIT_USAGE;
	p->config_path = a->npos ? a->pos[0] : NULL;
	const char *preset = a->val[OPT_PRESET];
	if (!preset == !p->config_path)
		return cli_usage_error(sp, "give either CONFIG or --preset NAME");
	if (preset && !bench_shape_preset(preset, &p->shape))
		return cli_usage_error(sp, "--preset: unknown preset `%s` (%s)", preset,
		                       bench_shape_preset_names());
	struct qkv_system_info sys = {.struct_size = sizeof(sys)};
	qkv_system_get_info(&sys);
	p->nthreads = thread_list(a->val[OPT_THREADS] ? a->val[OPT_THREADS] : "0", sys.cpus,
	                          p->threads, err, sizeof(err));
	p->nT =
	    bench_parse_sizes(a->val[OPT_TOKENS] ? a->val[OPT_TOKENS] : default_tokens, "--tokens",
	                      (size_t)1 << 20, p->T, BENCH_MAX_LIST, err, sizeof(err));
	if (!p->nthreads || !p->nT)
		return cli_usage_error(sp, "%s", err);
	if (cli_precisions_types(sp, a, &p->precisions, &p->wtype))
		return QKV_EXIT_USAGE;
	if (p->wtype >= 0 && p->config_path)
		return cli_usage_error(sp,
		                       "--precision %s: a config's weight file fixes its types "
		                       "(block types are for --preset)",
		                       qkv_wtype_name((uint32_t)p->wtype));
	const char *layout = a->val[OPT_LAYOUT];
	if (layout && strcmp(layout, "in_out") && strcmp(layout, "out_in"))
		return cli_usage_error(sp, "--layout: `%s` is not in_out or out_in", layout);
	p->layout = layout && !strcmp(layout, "out_in") ? QKV_LAYOUT_OUT_IN : QKV_LAYOUT_IN_OUT;
	const char *list = a->val[OPT_BACKEND];
	int rc = cli_check_backends(sp, list, true);
	if (rc)
		return rc;
	for (const char *s = list && strcmp(list, "all") ? list : ""; *s;) {
		size_t len = strcspn(s, ",");
		if (p->nbackends == BENCH_MAX_LIST || len >= sizeof(p->backends[0]))
			return cli_usage_error(sp, "--backend: too many or too long names");
		snprintf(p->backends[p->nbackends++], sizeof(p->backends[0]), "%.*s", (int)len, s);
		s += len + (s[len] == ',');
	}
	return 0;
}

/* Every check that can fail is made before measuring: a typo must not cost a run. */
static int check_outputs(const struct cli_spec *sp, const struct cli_args *a)
{
	static const enum cli_opt_id files[] = {OPT_JSON, OPT_CSV, OPT_MARKDOWN, OPT_PLOT};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (cli_check_output(sp, a, files[i]))
			return QKV_EXIT_ERROR;
	char err[512];
	if (a->val[OPT_PLOT] && !bench_plot_check(a->val[OPT_PLOT], err, sizeof(err))) {
		fprintf(stderr, "qkv bench: %s\n", err);
		return QKV_EXIT_USAGE;
	}
	const char *gate = a->val[OPT_GATE];
	if (gate && strcmp(gate, "backend") && strcmp(gate, "all"))
		return cli_usage_error(sp, "--gate: `%s` is not backend or all", gate);
	return 0;
}

typedef bool (*writer_fn)(FILE *f, const struct bench_result *r, const struct bench_machine *m,
                          const struct bench_plan *p, const char *command);

static int write_file(const struct cli_spec *sp, const char *path, writer_fn fn,
                      const struct bench_result *r, const struct bench_machine *m,
                      const struct bench_plan *p, const char *command)
{
	FILE *f = cli_open_output(path);
	if (!f) {
		fprintf(stderr, "qkv bench: %s: cannot create\n", path);
		return QKV_EXIT_ERROR;
	}
	fn(f, r, m, p, command);
	return cli_close_output(sp, f, path) ? QKV_EXIT_ERROR : 0;
}

/* One backend, precision, T and threads of --all-layers: the sum of its layers' medians. */
struct layer_total {
	char backend[40];
	uint32_t precision;
	size_t T;
	unsigned threads, layers;
	double sum;
};

#define PASS_MAX_T 16 /* decode passes at T <= 16: larger T is compute-bound anyway */

/* After --all-layers' totals: decode passes (bench_pass.h), the weights streaming from
 * memory when the model is larger than the caches, as in a decode loop. */
static int print_passes(const struct bench_plan *plan, const struct bench_machine *m,
                        const struct layer_total *tot, size_t ntot, uint32_t layers)
{
	printf("\ndecode passes (every layer once per pass, in order; T <= %d):\n", PASS_MAX_T);
	printf("%-16s %-9s %7s %7s %12s %12s %9s %7s\n", "backend", "precision", "T", "threads",
	       "pass_ms", "ms_per_layer", "W_GB/s", "%bw");
	for (size_t k = 0; k < ntot; k++) {
		if (tot[k].T > PASS_MAX_T || tot[k].layers < layers)
			continue;
		struct bench_pass p = {
		    .config = plan->config_path,
		    .backend = tot[k].backend,
		    .precision = tot[k].precision == QKV_STORED
		                     ? NULL
		                     : bench_precision_name(tot[k].precision),
		    .threads = tot[k].threads,
		    .T = tot[k].T,
		    .layers = layers,
		    .min_time = plan->min_time,
		};
		struct bench_pass_result r;
		char err[1024];
		if (!bench_pass_run(&p, &r, err, sizeof(err))) {
			fprintf(stderr, "qkv bench: decode pass of %s: %s\n", tot[k].backend, err);
			return QKV_EXIT_ERROR;
		}
		double gbs = r.weight_bytes / r.st.median / 1e9;
		double bw = bench_machine_bw(m, tot[k].threads);
		char pct[16] = "-"; /* above 100 %: the bandwidth was measured too low (busy) */
		if (bw > 0)
			snprintf(pct, sizeof(pct), gbs > bw ? "bw?" : "%.0f%%", 100 * gbs / bw);
		printf("%-16s %-9s %7zu %7u %12.4f %12.4f %9.2f %7s%s\n", tot[k].backend,
		       bench_precision_name(tot[k].precision), tot[k].T, tot[k].threads,
		       r.st.median * 1e3, r.st.median * 1e3 / layers, gbs, pct,
		       bench_stats_noisy(&r.st) ? "  noisy" : "");
	}
	return 0;
}

/* --all-layers: the plan once per layer; per-layer lines, then the totals. */
static int bench_all_layers(const struct cli_spec *sp, struct bench_plan *plan,
                            const struct bench_machine *m)
{
	char err[1024];
	qkv_checkpoint *ck = NULL;
	if (qkv_checkpoint_open(plan->config_path, 0, &ck, err, sizeof(err)) != QKV_OK) {
		fprintf(stderr, "qkv bench: %s\n", err);
		return QKV_EXIT_ERROR;
	}
	struct qkv_checkpoint_info info = {.struct_size = sizeof(info)};
	qkv_checkpoint_get_info(ck, &info);
	qkv_checkpoint_close(ck);
	if (!info.n_layers) {
		fprintf(stderr,
		        "qkv bench: --all-layers: %s does not say how many layers the model has: "
		        "set model.n_layers\n",
		        plan->config_path);
		return QKV_EXIT_ERROR;
	}
	struct layer_total *tot = calloc(BENCH_MAX_LIST * BENCH_MAX_LIST * 8, sizeof(*tot));
	size_t ntot = 0, cap = BENCH_MAX_LIST * BENCH_MAX_LIST * 8;
	if (!tot)
		return QKV_EXIT_ERROR;
	printf("%-6s %-16s %-9s %7s %7s %12s %10s\n", "layer", "backend", "precision", "T",
	       "threads", "median_ms", "GFLOP/s");
	int rc = 0;
	bool refs = plan->references;
	for (uint32_t layer = 0; layer < info.n_layers && !rc; layer++) {
		struct bench_result r;
		plan->layer_set = 1;
		plan->layer = layer;
		plan->references = refs && layer == 0;
		if (!bench_plan_run(plan, m, &r, err, sizeof(err))) {
			fprintf(stderr, "qkv bench: layer %u: %s\n", layer, err);
			rc = QKV_EXIT_ERROR;
			break;
		}
		if (layer == 0 && refs)
			for (size_t i = 0; i < r.n; i++)
				if (r.rows[i].kind == BENCH_REFERENCE && r.rows[i].ok)
					printf("%-6s %-16s %-9s %7zu %7u %12.4f %10.2f\n", "ref",
					       r.rows[i].backend,
					       bench_precision_name(r.rows[i].precision),
					       r.rows[i].T, r.rows[i].threads,
					       r.rows[i].st.median * 1e3, r.rows[i].gflops);
		for (size_t i = 0; i < r.n; i++) {
			const struct bench_row *w = &r.rows[i];
			if (w->kind != BENCH_BACKEND)
				continue;
			if (!w->ok) {
				printf("%-6u %-16s %-9s %7zu %7u %12s   %s\n", layer, w->backend,
				       bench_precision_name(w->precision), w->T, w->threads, "-",
				       w->status);
				continue;
			}
			printf("%-6u %-16s %-9s %7zu %7u %12.4f %10.2f%s\n", layer, w->backend,
			       bench_precision_name(w->precision), w->T, w->threads,
			       w->st.median * 1e3, w->gflops, w->noisy ? "  noisy" : "");
			size_t k = 0;
			while (k < ntot && (strcmp(tot[k].backend, w->backend) ||
			                    tot[k].precision != w->precision || tot[k].T != w->T ||
			                    tot[k].threads != w->threads))
				k++;
			if (k == ntot && ntot < cap) {
				snprintf(tot[k].backend, sizeof(tot[k].backend), "%s", w->backend);
				tot[k].precision = w->precision;
				tot[k].T = w->T;
				tot[k].threads = w->threads;
				ntot++;
			}
			if (k < ntot) {
				tot[k].sum += w->st.median;
				tot[k].layers++;
			}
		}
		fflush(stdout);
		bench_result_free(&r);
	}
	if (!rc) {
		printf("\ntotal over %u layers (sum of the per-layer medians):\n", info.n_layers);
		printf("%-16s %-9s %7s %7s %12s %8s\n", "backend", "precision", "T", "threads",
		       "total_ms", "layers");
		for (size_t k = 0; k < ntot; k++)
			printf("%-16s %-9s %7zu %7u %12.4f %8u%s\n", tot[k].backend,
			       bench_precision_name(tot[k].precision), tot[k].T, tot[k].threads,
			       tot[k].sum * 1e3, tot[k].layers,
			       tot[k].layers < info.n_layers ? "  (some layers not measured)" : "");
		rc = print_passes(plan, m, tot, ntot, info.n_layers);
	}
	free(tot);
	(void)sp;
	return rc;
}

int qkv_cmd_bench(int argc, char **argv)
{
	const struct cli_spec *sp = &qkv_bench_spec;
	struct cli_args a;
	struct bench_plan plan;
	double threshold;
	int rc = cli_parse(sp, argc, argv, &a);
	if (rc)
		return rc < 0 ? QKV_EXIT_OK : rc;
	if ((rc = bench_args_plan(sp, &a, &plan, "1,16,128,512", 0.3)) ||
	    (rc = check_outputs(sp, &a)))
		return rc;
	if (cli_double(sp, &a, OPT_THRESHOLD, 0, 10.0, &threshold))
		return QKV_EXIT_USAGE;
	char err[1024];
	if (a.val[OPT_ALL_LAYERS]) {
		if (!plan.config_path)
			return cli_usage_error(
			    sp, "--all-layers needs CONFIG (a preset has no layers)");
		if (a.val[OPT_LAYER])
			return cli_usage_error(sp, "give --layer N or --all-layers, not both");
		for (int id = OPT_JSON; id <= OPT_BASELINE; id++)
			if (a.val[id])
				return cli_usage_error(
				    sp, "--all-layers prints its own table; --json, "
				        "--csv, --markdown, --plot and --baseline are "
				        "for one layer (--layer N)");
		struct bench_machine m;
		if (!bench_machine_get(&m, a.val[OPT_REMEASURE] != NULL,
		                       plan.quiet ? NULL : bench_log, err, sizeof(err))) {
			fprintf(stderr, "qkv bench: %s\n", err);
			return QKV_EXIT_ERROR;
		}
		return bench_all_layers(sp, &plan, &m);
	}
	struct bench_baseline base = {0};
	if (a.val[OPT_BASELINE] &&
	    !bench_baseline_load(a.val[OPT_BASELINE], &base, err, sizeof(err))) {
		fprintf(stderr, "qkv bench: %s\n", err);
		return QKV_EXIT_ERROR;
	}
	struct bench_machine m;
	struct bench_result r;
	if (!bench_machine_get(&m, a.val[OPT_REMEASURE] != NULL, plan.quiet ? NULL : bench_log, err,
	                       sizeof(err)) ||
	    !bench_plan_run(&plan, &m, &r, err, sizeof(err))) {
		fprintf(stderr, "qkv bench: %s\n", err);
		bench_baseline_free(&base);
		return QKV_EXIT_ERROR;
	}
	/* With an output on stdout, the table goes to stderr. */
	bool stdout_taken = false;
	for (int id = OPT_JSON; id <= OPT_MARKDOWN; id++)
		stdout_taken |= a.val[id] && !strcmp(a.val[id], "-");
	FILE *table = stdout_taken ? stderr : stdout;
	bench_report_table(table, &r, &m, &plan);
	char command[2048];
	bench_args_command(argc, argv, command, sizeof(command));
	rc = 0;
	const struct {
		enum cli_opt_id id;
		writer_fn fn;
	} outs[] = {{OPT_JSON, bench_report_json},
	            {OPT_CSV, bench_report_csv},
	            {OPT_MARKDOWN, bench_report_markdown}};
	for (size_t i = 0; i < 3 && !rc; i++)
		if (a.val[outs[i].id])
			rc = write_file(sp, a.val[outs[i].id], outs[i].fn, &r, &m, &plan, command);
	if (!rc && a.val[OPT_PLOT]) {
		char title[256];
		snprintf(title, sizeof(title), "qkv bench: %s on %s", r.shape.name, m.cpu);
		if (!bench_plot_write(a.val[OPT_PLOT], &r, title, err, sizeof(err))) {
			fprintf(stderr, "qkv bench: %s\n", err);
			rc = QKV_EXIT_ERROR;
		}
	}
	if (!rc && a.val[OPT_BASELINE]) {
		bool gate_all = a.val[OPT_GATE] && !strcmp(a.val[OPT_GATE], "all");
		long slower = bench_baseline_compare(&base, &r, &m, bench_layout_name(&plan),
		                                     threshold, gate_all, table);
		rc = slower < 0 ? QKV_EXIT_ERROR : slower > 0 ? QKV_EXIT_SLOWER : 0;
	}
	if (!rc && r.failed_named) {
		fprintf(stderr,
		        "qkv bench: %zu requested backend(s) could not be measured (see notes)\n",
		        r.failed_named);
		rc = QKV_EXIT_ERROR;
	}
	bench_baseline_free(&base);
	bench_result_free(&r);
	return rc;
}
