/* The one way a backend picks its ISA kernel set at run time (openmp, int8).
 *
 * A backend keeps a table, fastest first, of rows {name, need, usable, set}: `set` points
 * at the backend's own kernel struct, `usable` tests <qkv/cpu_features.h>, and the last
 * row is the portable C set, usable everywhere. Adding an ISA is its kernel file, one row
 * and its test. One environment variable per backend (QKV_<BACKEND>_KERNEL=name) forces
 * a row: a name that is not in the table, or a set this CPU cannot run, is refused (the
 * backend then reports itself unusable and says why), never silently replaced.
 *
 * In a build through SIMDe (-DQKV_SIMDE, backends/simd_compat.h) every row is usable:
 * the emulation runs on any CPU. Header-only, so no backend compiles another's sources.
 */
#ifndef QKV_KERNEL_TABLE_H
#define QKV_KERNEL_TABLE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/cpu_features.h>

struct qkv_kernel_row {
	const char *name; /* the value of QKV_<BACKEND>_KERNEL: "avx2", "neon_dot", "c" */
	const char *need; /* the features usable() asks for, for the reason string */
	int (*usable)(const struct qkv_cpu_features *f);
	const void *set; /* the backend's kernel struct */
};

/* usable() tests more than one backend's table needs */
static inline int qkv_kernel_any_cpu(const struct qkv_cpu_features *f)
{
	(void)f;
	return 1;
}
static inline int qkv_kernel_has_neon(const struct qkv_cpu_features *f)
{
	return f->neon;
}
static inline int qkv_kernel_has_avx2(const struct qkv_cpu_features *f)
{
	return f->avx2;
}
static inline int qkv_kernel_has_avxvnni(const struct qkv_cpu_features *f)
{
	return f->avx2 && f->avxvnni;
}
static inline int qkv_kernel_has_avx512vnni_ymm(const struct qkv_cpu_features *f)
{
	return f->avx2 && f->avx512vl && f->avx512vnni;
}

static inline int qkv_kernel_row_usable(const struct qkv_kernel_row *r,
                                        const struct qkv_cpu_features *f)
{
#if defined(QKV_SIMDE)
	(void)r;
	(void)f;
	return 1;
#else
	return r->usable(f);
#endif
}

/* The row to use: the one `env` (an environment variable's name) forces, or the first
 * usable one. NULL only when the variable names a row that is absent or not usable here.
 * why[len] (may be NULL) gets the reason: the rows passed over and what they lack, or
 * the forcing, or the refusal with the names the table knows. */
static inline const struct qkv_kernel_row *
qkv_kernel_pick(const struct qkv_kernel_row *rows, size_t n, const char *env, char *why, size_t len)
{
	struct qkv_cpu_features f;
	qkv_cpu_features_detect(&f);
	char tmp[8];
	if (!why || !len) {
		why = tmp;
		len = sizeof(tmp);
	}
	why[0] = '\0';
	const char *want = getenv(env);
	if (want && *want) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(want, rows[i].name) != 0)
				continue;
			if (qkv_kernel_row_usable(&rows[i], &f)) {
				snprintf(why, len, "forced by %s=%s", env, want);
				return &rows[i];
			}
			snprintf(why, len, "%s=%s refused: this CPU lacks %s", env, want,
			         rows[i].need);
			return NULL;
		}
		size_t used =
		    (size_t)snprintf(why, len, "%s=%.32s refused: no such kernel (", env, want);
		for (size_t i = 0; i < n && used < len; i++)
			used += (size_t)snprintf(why + used, len - used, "%s%s", i ? ", " : "",
			                         rows[i].name);
		if (used < len)
			snprintf(why + used, len - used, ")");
		return NULL;
	}
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		int ok = qkv_kernel_row_usable(&rows[i], &f);
		if (used < len) {
			int w = ok ? snprintf(why + used, len - used, "%sCPU has %s",
			                      used ? "; " : "", rows[i].need)
			           : snprintf(why + used, len - used, "%snot %s (needs %s)",
			                      used ? ", " : "", rows[i].name, rows[i].need);
			used += w > 0 ? (size_t)w : 0;
		}
		if (ok)
			return &rows[i];
	}
	return NULL; /* unreachable when the last row is the portable one */
}

#endif /* QKV_KERNEL_TABLE_H */
