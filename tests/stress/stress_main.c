/* Standalone stress run for ThreadSanitizer (tools/tsan.sh): no Criterion, no fork.
 * usage: stress [BACKEND [THREADS [CALLS]]]; exit 1 on any failure or mismatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress.h"

static int check(const char *what, const char *backend, const struct stress_report *r)
{
	if (!r->opened) {
		printf("%-7s %-14s skipped: %s\n", backend, what, r->msg);
		return 0;
	}
	printf("%-7s %-14s calls %lu failures %lu mismatches %lu thread growth %ld\n", backend,
	       what, r->calls, r->failures, r->mismatch, r->thread_growth);
	return r->failures || r->mismatch || r->thread_growth > 1;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 16;
	int calls = argc > 3 ? atoi(argv[3]) : 1000;
	int bad = 0;
	for (int b = 0; stress_backends[b]; b++) {
		const char *name = stress_backends[b];
		if (argc > 1 && strcmp(argv[1], "all") && strcmp(argv[1], name))
			continue;
		struct stress_report r;
		stress_threads(name, threads, calls, &r);
		bad |= check("threads", name, &r);
		stress_omp_region(name, 4, calls / 5 + 1, &r);
		bad |= check("omp-region", name, &r);
	}
	return bad;
}
