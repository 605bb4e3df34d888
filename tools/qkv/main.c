/* qkv: command-line front end of the library. One binary, subcommands. */
#include <stdio.h>
#include <string.h>

#include <qkv/qkv.h>

#include "commands.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const struct cli_spec *spec; /* NULL: the command prints its own help */
	const char *summary;
};

/* Add a subcommand here and in commands.h. */
static const struct command commands[] = {
    {"run", qkv_cmd_run, &qkv_run_spec, "load a model, project a batch, write q/k/v .npy files"},
    {"info", qkv_cmd_info, &qkv_info_spec,
     "CPU, plugins, which backend is selected and why, weight files read"},
    {"conform", qkv_cmd_conform, &qkv_conform_spec,
     "run the conformance cases on backend plugins (file or name)"},
    {"bench", qkv_cmd_bench, &qkv_bench_spec,
     "time backends against cblas/oneDNN reference rows; --baseline"},
    {"tune", qkv_cmd_tune, &qkv_tune_spec, "measure backends per T and write the machine profile"},
    {"quantize", qkv_cmd_quantize, &qkv_quantize_spec,
     "write an f32 model as int8 safetensors or GGUF Q4_K etc.; accuracy"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: qkv COMMAND [ARGS...]   (qkv help COMMAND, or qkv COMMAND --help)\n\n"
	        "Attention Q/K/V projections on run-time backends (libqkv %s).\n\n"
	        "commands:\n",
	        qkv_version());
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(
	    out,
	    "\nEvery command takes the same option names with the same meaning\n"
	    "(--backend, --threads 0 = all cores, --plugin-dir, --precision, ...),\n"
	    "as --opt VALUE or --opt=VALUE; one a command has nothing to act on is\n"
	    "refused with the reason (its help lists it under \"not taken\").\n"
	    "environment: QKV_BACKEND (backend list), QKV_THREADS, QKV_PLUGIN_PATH\n"
	    "weights for the shipped configs: qkv-genweights --help (build/tools/genweights/);\n"
	    "first run: qkv run configs/seed-example.yaml --input configs/seed-example/x.npy\n"
	    "exit status: 0 ok, 1 error, 2 usage error (qkv bench: 3 slower than the "
	    "baseline)\n");
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return QKV_EXIT_USAGE;
	}
	const char *a = argv[1];
	if (!strcmp(a, "--help") || !strcmp(a, "-h") || (!strcmp(a, "help") && argc == 2)) {
		usage(stdout);
		return QKV_EXIT_OK;
	}
	if (!strcmp(a, "--version")) {
		printf("qkv %s\n", qkv_version());
		return QKV_EXIT_OK;
	}
	if (!strcmp(a, "help")) {
		const struct command *c = find(argv[2]);
		if (!c) {
			fprintf(stderr, "qkv help: unknown command `%s`\n\n", argv[2]);
			usage(stderr);
			return QKV_EXIT_USAGE;
		}
		if (c->spec) {
			cli_help(c->spec, stdout);
			return QKV_EXIT_OK;
		}
		char *args[] = {argv[2], "--help", NULL};
		return c->run(2, args);
	}
	const struct command *c = find(a);
	if (c)
		return c->run(argc - 1, argv + 1);
	fprintf(stderr, "qkv: unknown command `%s`\n\n", a);
	usage(stderr);
	return QKV_EXIT_USAGE;
}
