/* `qkv bench`: measure backends against reference library calls on one shape. */
#include <stdio.h>
#include <string.h>

#include "bench_baseline.h"
#include "bench_cli.h"
#include "bench_machine.h"
#include "bench_plot.h"
#include "bench_report.h"

enum { OPT_JSON, OPT_CSV, OPT_PLOT, OPT_BASELINE, OPT_MARKDOWN };

static const char usage[] =
    "usage: qkv bench CONFIG | --preset gpt2-small|llama2-7b|llama3-8b|tiny [options]\n"
    "\n"
    "Times every backend (warm-up, then repetitions until --min-time; median and\n"
    "p10-p90 spread; rotating input/output buffers) next to reference rows measured in\n"
    "the same run (direct cblas_sgemm, cblas_sgemv at T = 1, oneDNN matmul when built),\n"
    "and reports GFLOP/s (2*T*d_model*N/s), weight GB/s, % of this machine's measured\n"
    "fp32 peak and read bandwidth (measured once, cached in $XDG_CACHE_HOME/qkv).\n"
    "\n"
    "  --tokens LIST       T values (default 1,16,128,512)\n"
    "  --backends LIST|all backend names, or every plugin found (default all)\n"
    "  --precision LIST    f32,bf16,int8 (default f32; a CONFIG fixes its own)\n"
    "  --threads LIST      thread counts (default: all cores)\n"
    "  --min-time S        seconds of repetitions per row (default 0.3)\n"
    "  --max-call S        skip rows estimated slower than S per call (default 2)\n"
    "  --interleave S      time the rows of each (T, threads) in turns of S seconds\n"
    "                      (default 0.05; 0: one row after the other)\n"
    "  --json F, --csv F   write every row to F\n"
    "  --markdown F        the table as Markdown, with the machine line and command\n"
    "  --plot F.svg|F.png  GFLOP/s against T per backend (PNG needs gnuplot)\n"
    "  --baseline OLD.json compare with an earlier --json run; exit 3 when a row is\n"
    "                      slower by more than --threshold PCT (default 10) beyond noise\n"
    "  --layout L          in_out (default) or out_in: how a preset's weights are stored\n"
    "  --plugin-dir DIR    search DIR for plugins first\n"
    "  --no-reference      no reference rows\n"
    "  --overhead          also time each plugin called directly (no core): the\n"
    "                      difference is the dispatcher's cost per call (presets only)\n"
    "  --remeasure         measure the machine's peak and bandwidth again\n"
    "  --quiet             no progress on stderr\n"
    "\n"
    "Exit status: 0 ok, 1 error, 2 usage error, 3 slower than the baseline.\n";

int qkv_cmd_bench(int argc, char **argv)
{
	static const struct bench_extra_opt extra[] = {
	    {"--json", OPT_JSON, true},         {"--csv", OPT_CSV, true},
	    {"--plot", OPT_PLOT, true},         {"--baseline", OPT_BASELINE, true},
	    {"--markdown", OPT_MARKDOWN, true}, {NULL, 0, false},
	};
	struct bench_cli cli;
	int rc = bench_cli_parse(argc, argv, &cli, extra, usage, "1,16,128,512");
	if (rc)
		return rc < 0 ? 0 : rc;
	char err[1024];
	/* Read the baseline first: a typo should not cost a whole run. */
	struct bench_baseline base = {0};
	if (cli.opt[OPT_BASELINE] &&
	    !bench_baseline_load(cli.opt[OPT_BASELINE], &base, err, sizeof(err))) {
		fprintf(stderr, "qkv bench: %s\n", err);
		return 1;
	}
	struct bench_machine m;
	if (!bench_machine_get(&m, cli.remeasure, cli.plan.quiet ? NULL : bench_cli_log, err,
	                       sizeof(err))) {
		fprintf(stderr, "qkv bench: %s\n", err);
		bench_baseline_free(&base);
		return 1;
	}
	struct bench_result r;
	if (!bench_plan_run(&cli.plan, &m, &r, err, sizeof(err))) {
		fprintf(stderr, "qkv bench: %s\n", err);
		bench_baseline_free(&base);
		return 1;
	}
	bench_report_table(stdout, &r, &m, &cli.plan);
	char command[2048];
	bench_cli_command(argc, argv, command, sizeof(command));
	rc = 0;
	if (cli.opt[OPT_JSON] &&
	    !bench_report_json(cli.opt[OPT_JSON], &r, &m, &cli.plan, command, err, sizeof(err)))
		rc = 1;
	if (!rc && cli.opt[OPT_CSV] && !bench_report_csv(cli.opt[OPT_CSV], &r, err, sizeof(err)))
		rc = 1;
	if (!rc && cli.opt[OPT_MARKDOWN] &&
	    !bench_report_markdown(cli.opt[OPT_MARKDOWN], &r, &m, &cli.plan, command, err,
	                           sizeof(err)))
		rc = 1;
	if (!rc && cli.opt[OPT_PLOT]) {
		char title[256];
		snprintf(title, sizeof(title), "qkv bench: %s on %s", r.shape.name, m.cpu);
		if (!bench_plot_write(cli.opt[OPT_PLOT], &r, title, err, sizeof(err)))
			rc = 1;
	}
	if (rc)
		fprintf(stderr, "qkv bench: %s\n", err);
	if (!rc && cli.opt[OPT_BASELINE]) {
		if (base.cpu[0] && strcmp(base.cpu, m.cpu))
			fprintf(stdout,
			        "warning: the baseline was measured on \"%s\", this is \"%s\"\n",
			        base.cpu, m.cpu);
		if (bench_baseline_compare(&base, &r, cli.threshold, stdout) > 0)
			rc = 3;
	}
	if (!rc && r.failed_named) {
		fprintf(stderr,
		        "qkv bench: %zu requested backend(s) could not be measured (see notes)\n",
		        r.failed_named);
		rc = 1;
	}
	bench_baseline_free(&base);
	bench_result_free(&r);
	return rc;
}
