/* The `qkv` command's subcommands: each is `int qkv_cmd_NAME(int argc, char **argv)`
 * with argv[0] the subcommand name; it returns the process exit status. */
#ifndef QKV_TOOLS_COMMANDS_H
#define QKV_TOOLS_COMMANDS_H

#include <stddef.h>
#include <stdio.h>

int qkv_cmd_run(int argc, char **argv);
int qkv_cmd_info(int argc, char **argv);
int qkv_cmd_conform(int argc, char **argv);
int qkv_cmd_bench(int argc, char **argv);
int qkv_cmd_tune(int argc, char **argv);
int qkv_cmd_quantize(int argc, char **argv);

/* Shared helpers (cli_util.c). */

/* Parse a non-negative decimal integer option value; prints an error naming `opt` and
 * returns -1 when invalid or above max. */
int qkv_cli_parse_u64(const char *opt, const char *s, unsigned long long max,
                      unsigned long long *out);

/* Print each line of `text` that starts with `only` (NULL: every line) to `out`,
 * after `prefix`. For the selection log of a model. */
void qkv_cli_print_lines(FILE *out, const char *prefix, const char *text, const char *only);

/* Monotonic seconds. */
double qkv_cli_now(void);

/* Write a 2-D float32 .npy file [rows x cols] from a strided buffer. Returns 0 or
 * prints an error naming the file and returns -1. */
int qkv_cli_write_npy(const char *path, const float *data, size_t rows, size_t cols, size_t ld);

#endif
