/* Options shared by `qkv bench` and `qkv tune`, and the two command entry points. */
#ifndef QKV_TOOL_BENCH_CLI_H
#define QKV_TOOL_BENCH_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "bench_plan.h"

/* Entry points for the command table in main.c. argv[0] is the command name;
 * return the process exit status. */
int qkv_cmd_bench(int argc, char **argv);
int qkv_cmd_tune(int argc, char **argv);

struct bench_cli {
	struct bench_plan plan;
	bool remeasure;
	const char *opt[8]; /* command-specific string options, by index (see parse) */
	double threshold;
};

/* An option a command accepts beyond the shared ones: --name VALUE (or --name=VALUE)
 * stored in cli->opt[slot], or a flag (has_value false) stored as "1". */
struct bench_extra_opt {
	const char *name;
	int slot;
	bool has_value;
};

/* Parse argv[1..]: CONFIG | --preset, --tokens, --backends, --precision, --threads,
 * --min-time, --max-call, --threshold, --plugin-dir, --remeasure, --quiet,
 * --no-reference, and the extras. Returns 0 to go on, -1 after printing `usage` for
 * --help, 2 after printing a usage error. */
int bench_cli_parse(int argc, char **argv, struct bench_cli *cli,
                    const struct bench_extra_opt *extra, const char *usage,
                    const char *default_tokens);

/* Log callback printing to stderr (machine measurement). */
void bench_cli_log(const char *msg);

/* argv joined with spaces, "qkv" first, into buf. */
void bench_cli_command(int argc, char **argv, char *buf, size_t len);

#endif
