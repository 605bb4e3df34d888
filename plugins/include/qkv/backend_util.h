/* Boilerplate every backend writes, once: the descriptor's fixed fields, an error message
 * into the core's buffer and the width of each projection. Header-only, optional: a backend needs
 * only <qkv/plugin.h>.
 *
 * Define QKV_BACKEND_NAME ("scalar") before including this header to prefix every
 * message with "scalar: ".
 */
#ifndef QKV_BACKEND_UTIL_H
#define QKV_BACKEND_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkv/plugin.h>

#if defined(__GNUC__) || defined(__clang__)
#define QKV_PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define QKV_PRINTF_LIKE(f, a)
#endif

/* The descriptor's fixed part: the ABI the plugin is built against, its precisions, name
 * and version, and its four functions, named PREFIX_probe, PREFIX_prepare, PREFIX_project
 * and PREFIX_release. Optional members follow it:
 *     QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
 *         QKV_BACKEND_FIELDS(mine, "mine", "1.0.0", QKV_PRECISION_BIT(QKV_F32)),
 *         .memory = mine_memory,
 *     };
 */
#define QKV_BACKEND_FIELDS(prefix, plugin_name, plugin_version, precision_bits)                    \
	.abi_major = QKV_PLUGIN_ABI_MAJOR, .abi_minor = QKV_PLUGIN_ABI_MINOR,                      \
	.struct_size = sizeof(struct qkv_backend), .precisions = precision_bits,                   \
	.name = plugin_name, .version = plugin_version, .probe = prefix##_probe,                   \
	.prepare = prefix##_prepare, .project = prefix##_project, .release = prefix##_release

/* Write "QKV_BACKEND_NAME: <formatted message>" into err[errlen] (truncating; err may be
 * NULL) and return `status`, so that a failure is one line:
 *     return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory for %zu rows", T);
 */
static inline enum qkv_status qkv_backend_fail(char *err, size_t errlen, enum qkv_status status,
                                               const char *fmt, ...) QKV_PRINTF_LIKE(4, 5);
static inline enum qkv_status qkv_backend_fail(char *err, size_t errlen, enum qkv_status status,
                                               const char *fmt, ...)
{
	if (!err || errlen == 0)
		return status;
	size_t used = 0;
#ifdef QKV_BACKEND_NAME
	int n = snprintf(err, errlen, "%s: ", QKV_BACKEND_NAME);
	used = n < 0 ? 0 : ((size_t)n < errlen ? (size_t)n : errlen - 1);
#endif
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + used, errlen - used, fmt, ap);
	va_end(ap);
	return status;
}

/* Columns of projection p (QKV_Q, QKV_K, QKV_V): d_q for Q, d_kv for K and V. */
static inline uint32_t qkv_out_width(const struct qkv_problem *problem, int p)
{
	return p == QKV_Q ? problem->d_q : problem->d_kv;
}

/* Total columns of the fused [q | k | v] row: d_q + 2*d_kv (fits 32 bits, see
 * struct qkv_problem). */
static inline uint32_t qkv_fused_width(const struct qkv_problem *problem)
{
	return problem->d_q + 2 * problem->d_kv;
}

/* Copies of the biases, for a handle that keeps nothing of the qkv_weights it was given
 * (qkv_handle_memory.keeps_weights 0): out[p] is a malloc'd copy of bias[p], or NULL where
 * there is none. Returns the bytes copied, or -1 when an allocation failed (the copies
 * made so far are in out[], for the handle's release to free). */
static inline long long qkv_biases_copy(const struct qkv_problem *problem,
                                        const struct qkv_weights *weights, float *out[3])
{
	long long bytes = 0;
	out[0] = out[1] = out[2] = NULL;
	for (int p = 0; p < 3; p++) {
		if (!weights->bias[p])
			continue;
		size_t n = (size_t)qkv_out_width(problem, p) * sizeof(float);
		out[p] = (float *)malloc(n);
		if (!out[p])
			return -1;
		memcpy(out[p], weights->bias[p], n);
		bytes += (long long)n;
	}
	return bytes;
}

#endif
