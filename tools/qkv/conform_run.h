/* `qkv conform` internals: run one case in a forked child with a timeout, and write
 * the JSON report. */
#ifndef QKV_TOOLS_CONFORM_RUN_H
#define QKV_TOOLS_CONFORM_RUN_H

#include <stddef.h>
#include <stdio.h>

#include "conform.h"

/* One case's outcome as the parent saw it. */
struct conform_outcome {
	const struct cf_case *c;
	struct cf_report r; /* from the child, or made up for a crash or a timeout */
	double seconds;
	int timed_out;
};

/* Fork; the child loads the plugin at `path` itself (so a plugin that crashes while
 * loading only takes the child down), runs case c with `seed` and sends its report
 * back through a pipe. A child killed by a signal is reported as "crashed (signal
 * N: NAME) during: STEP", one still running after timeout_s as "timed out after N s
 * during: STEP" (STEP: what the case was doing, from a page shared with the child).
 * The child's stdout and stderr go to temporary files: a case whose plugin printed
 * anything fails. */
void conform_run_case(const char *path, const struct cf_case *c, uint64_t seed, unsigned timeout_s,
                      struct conform_outcome *out);

/* The JSON report of one plugin's run; `first` says whether it opens the list. */
void conform_json_plugin(FILE *f, const char *path, const struct conform_outcome *o, size_t n,
                         int first);

/* `in` made printable on one line: valid UTF-8 is kept, control characters become
 * spaces, invalid bytes '?'. Always NUL-terminates out (len >= 1). */
void conform_text_clean(const char *in, char *out, size_t len);

#endif
