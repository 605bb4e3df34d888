/* qkv: command-line front end of the library. One binary, subcommands. */
#include <stdio.h>
#include <string.h>

#include <qkv/qkv.h>

#include "commands.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* Add a subcommand here and in commands.h. */
static const struct command commands[] = {
    {"run", qkv_cmd_run, "load a model, project a batch, write q/k/v .npy files"},
    {"info", qkv_cmd_info, "CPU features, plugins found, which backend is selected and why"},
    {"conform", qkv_cmd_conform, "run the conformance cases on backend plugins (file or name)"},
    {"bench", qkv_cmd_bench, "time backends against cblas/oneDNN reference rows; --baseline"},
    {"tune", qkv_cmd_tune, "measure backends per T and write the machine profile"},
    {"quantize", qkv_cmd_quantize, "write an f32 model as int8 safetensors; int8 accuracy"},
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: qkv COMMAND [ARGS...]   (qkv COMMAND --help for details)\n\n"
	        "Attention Q/K/V projections on run-time backends (libqkv %s).\n\n"
	        "commands:\n",
	        qkv_version());
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nenvironment: QKV_BACKEND (backend list), QKV_THREADS, QKV_PLUGIN_PATH\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("qkv %s\n", qkv_version());
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "qkv: unknown command `%s`\n\n", argv[1]);
	usage(stderr);
	return 2;
}
