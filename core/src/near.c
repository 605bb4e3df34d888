/* The edit distance behind every "did you mean": backend, tensor and config key names
 * (near.h). Its own file so that config, weights and the API's tools share it without
 * depending on each other. */
#include <string.h>

#include "near.h"

size_t qkv_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 64;
	size_t row[64];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

void qkv_near_try(struct qkv_near *nr, const char *candidate)
{
	if (!candidate || !nr->name)
		return;
	size_t d = qkv_edit_distance(nr->name, candidate), len = strlen(nr->name);
	if (d > 0 && 2 * d <= len && (d <= 2 || 5 * d <= len) && (!nr->best || d < nr->dist)) {
		nr->best = candidate;
		nr->dist = d;
	}
}
