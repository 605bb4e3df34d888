/* The `qkv` command's subcommands and what they share: ONE option vocabulary (each
 * option has one name and one meaning in every command), one parser (getopt_long:
 * `--opt value`, `--opt=value`, options before or after CONFIG), one help layout with
 * the exit codes, `qkv help CMD` = `qkv CMD --help`.
 *
 * A subcommand is `int qkv_cmd_NAME(int argc, char **argv)` with argv[0] its name,
 * returning the exit status, plus a `struct cli_spec` describing its options. */
#ifndef QKV_TOOLS_COMMANDS_H
#define QKV_TOOLS_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses of every command. */
enum { QKV_EXIT_OK = 0, QKV_EXIT_ERROR = 1, QKV_EXIT_USAGE = 2, QKV_EXIT_SLOWER = 3 };

/* Every option of every command (the help line of each is in cli_util.c). */
enum cli_opt_id {
	OPT_BACKEND,    /* --backend LIST */
	OPT_THREADS,    /* --threads N|LIST, 0 = all cores */
	OPT_PRECISION,  /* --precision LIST */
	OPT_PLUGIN_DIR, /* --plugin-dir DIR (repeatable: searched first, in order) */
	OPT_MACHINE,    /* --machine FILE */
	OPT_STRICT,
	OPT_VERBOSE,
	OPT_QUIET,
	OPT_INPUT,
	OPT_TOKENS,
	OPT_SEED,
	OPT_OUT,
	OPT_REPEAT,
	OPT_JSON, /* --json FILE, - = stdout (qkv conform: --report, the old name) */
	OPT_CSV,
	OPT_MARKDOWN,
	OPT_PLOT,
	OPT_BASELINE,
	OPT_THRESHOLD,
	OPT_GATE,
	OPT_PRESET,
	OPT_MIN_TIME,
	OPT_MAX_CALL,
	OPT_INTERLEAVE,
	OPT_LAYOUT,
	OPT_NO_REFERENCE,
	OPT_OVERHEAD,
	OPT_REMEASURE,
	OPT_FORCE,
	OPT_CONFIG_OUT,
	OPT_CASES,
	OPT_TIMEOUT,
	OPT_LIST,
	OPT_SHARD,      /* --shard R/W: slice R of W of the heads (tensor parallelism) */
	OPT_LAYER,      /* --layer N: the layer substituted for {layer} in tensor names */
	OPT_ALL_LAYERS, /* --all-layers: every layer of the model, per layer and in total */
	OPT_CHECK,      /* --check ROWS: rows compared with a float64 reference */
	OPT_TYPE,       /* --type T: a weight type of <qkv/wtype.h> (qkv quantize) */
	OPT_COUNT
};

/* One option as a command offers it: arg/help replace the vocabulary's text where the
 * command says more (NULL: the shared text). */
struct cli_opt {
	enum cli_opt_id id;
	const char *arg, *help;
};

/* An option of the vocabulary that a command does not take because its one meaning
 * has nothing to act on there: its help lists it with `why`, and giving it is a usage
 * error saying why (not an "unknown option", not silence). */
struct cli_refused {
	enum cli_opt_id id;
	const char *why;
};

struct cli_spec {
	const char *name;                  /* "run" */
	const char *usage;                 /* after "usage: qkv NAME " */
	const char *about;                 /* paragraph(s) after the usage line */
	const struct cli_opt *opts;        /* terminated by {OPT_COUNT} */
	size_t min_pos, max_pos;           /* positional arguments allowed */
	const char *exit_extra;            /* command-specific exit statuses, or NULL */
	const struct cli_refused *refused; /* terminated by {OPT_COUNT}, or NULL */
};

struct cli_args {
	const char *val[OPT_COUNT]; /* last value given ("" for a flag); NULL = not given */
	const char *plugin_dirs[16];
	size_t n_plugin_dirs;
	const char *pos[64];
	size_t npos;
};

/* Parse argv[1..] for `spec`. Returns -1 after printing the help (exit 0), 2 after
 * printing a usage error, 0 to go on. --plugin-dir folders are prepended to
 * QKV_PLUGIN_PATH, so every model and plugin listing searches them first. */
int cli_parse(const struct cli_spec *spec, int argc, char **argv, struct cli_args *a);
void cli_help(const struct cli_spec *spec, FILE *out);

/* Typed values, checked: 0 and *out (def when not given), or 2 after printing an
 * error naming the option. */
int cli_uint(const struct cli_spec *spec, const struct cli_args *a, enum cli_opt_id id,
             unsigned long long min, unsigned long long max, unsigned long long def,
             unsigned long long *out);
/* --shard R/W into *rank, *world (0, 0 when not given): R < W, W >= 1; the model's
 * rules (W divides n_heads, ...) are the library's, checked at open. */
int cli_shard(const struct cli_spec *spec, const struct cli_args *a, uint32_t *rank,
              uint32_t *world);
/* --layer N into *set (1 when given) and *layer; the model's n_layers is the library's
 * check, at open. */
int cli_layer(const struct cli_spec *spec, const struct cli_args *a, uint32_t *set,
              uint32_t *layer);
/* --precision LIST (comma-separated names of <qkv/precision.h>) into the mask *out of
 * QKV_PRECISION_BIT (0 when not given). 0, or 2 after printing the unknown name. */
int cli_precisions(const struct cli_spec *spec, const struct cli_args *a, uint32_t *out);
/* The same where a block type of <qkv/wtype.h> (q8_0, q4_k, ...) may stand among them
 * (qkv bench on a preset): it sets *wtype (-1 when none; two different ones are a usage
 * error) and the bit of precision `stored`. */
int cli_precisions_types(const struct cli_spec *spec, const struct cli_args *a, uint32_t *out,
                         int32_t *wtype);
int cli_double(const struct cli_spec *spec, const struct cli_args *a, enum cli_opt_id id,
               double min, double def, double *out);
/* A usage error: "qkv CMD: MESSAGE (see qkv help CMD)", returns 2. */
int cli_usage_error(const struct cli_spec *spec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An output file given as option `id`: "-" is stdout. Checked before any work is done:
 * the folder exists and is writable, and the file (when it exists) is writable. Returns
 * 0, or 1 after printing why not. */
int cli_check_output(const struct cli_spec *spec, const struct cli_args *a, enum cli_opt_id id);
/* Open it: stdout for "-". Close with cli_close_output (not fclose on stdout). */
FILE *cli_open_output(const char *path);
/* 0, or -1 after printing "qkv CMD: PATH: write failed". */
int cli_close_output(const struct cli_spec *spec, FILE *f, const char *path);

/* Backend names in a comma-separated LIST ("all" allowed when all_ok): each must be a
 * plugin on the search path that loads; an unknown one is refused with the near name
 * ("did you mean `openmp`?") and the list of those found. 0, or 2 after printing. */
int cli_check_backends(const struct cli_spec *spec, const char *list, bool all_ok);

/* The options of a model open (--machine, --backend, --threads, --precision, --shard,
 * --layer, --strict) checked into *o: 0, or the exit status after printing why. */
struct qkv_open_options;
typedef struct qkv_model qkv_model;
int cli_open_options(const struct cli_spec *spec, const struct cli_args *a,
                     struct qkv_open_options *o);
/* qkv_model_open, its failure printed (with a hint chosen by the status): 0 or 1. */
int cli_model_open(const struct cli_spec *spec, const char *config,
                   const struct qkv_open_options *o, qkv_model **m);

/* Print each line of `text` that starts with `only` (NULL: every line) to `out`,
 * after `prefix`. For the selection log of a model. */
void qkv_cli_print_lines(FILE *out, const char *prefix, const char *text, const char *only);
/* Write a 2-D float32 .npy file [rows x cols] from a strided buffer. 0, or -1 after
 * printing an error naming the file. */
int qkv_cli_write_npy(const char *path, const float *data, size_t rows, size_t cols, size_t ld);

/* qkv run --check (run_check.c): the first `rows` rows of out [T x d_q | d_kv] for the
 * input x against a float64 reference; prints one line; 0, or 1 when outside the bound. */
struct qkv_model_info;
int run_check(const char *config, const struct qkv_open_options *o,
              const struct qkv_model_info *info, const float *x, size_t rows, float *const out[3]);

int qkv_cmd_run(int argc, char **argv);
int qkv_cmd_info(int argc, char **argv);
int qkv_cmd_conform(int argc, char **argv);
int qkv_cmd_bench(int argc, char **argv);
int qkv_cmd_tune(int argc, char **argv);
int qkv_cmd_quantize(int argc, char **argv);
extern const struct cli_spec qkv_run_spec, qkv_info_spec, qkv_bench_spec, qkv_tune_spec,
    qkv_quantize_spec, qkv_conform_spec;

#endif
