/* Precisions: their names, and the exact arithmetic of bf16 and int8 (docs/DESIGN.md
 * "Precision"), shared by the core, every in-tree backend, the conformance references
 * and the tools, so that they name precisions alike and quantize bit for bit alike.
 * Header-only; no state. Public and installed: a third-party backend follows the same
 * scheme by including it.
 *
 * int8 (symmetric, per output column for W, per token row for X):
 *   amax  = max_k |v[k]|                       (f32)
 *   scale = amax / 127                         (f32 division)
 *   q[k]  = clamp(nearbyint(v[k] * (127 / amax)), -127, 127)   round half to even
 *   amax < QKV_INT8_AMAX_MIN (= 2^-120: zero, every subnormal, and the tiny normal
 *   values for which 127/amax would overflow to +Inf): the vector counts as all zero,
 *   scale = 0 and q = 0, so its outputs are exactly the bias. (Without this rule
 *   127/amax is +Inf for amax < 127/FLT_MAX, a zero element becomes 0*Inf = NaN and
 *   its conversion to int8 is undefined.) For amax >= 2^-120, 127/amax <= 1.7e38 is
 *   finite and every |v[k]*(127/amax)| <= 127 (+ rounding) before the clamp.
 *   acc   = sum_k qx[k] * qw[k]                (exact int32; |acc| <= 127*127*K)
 *   y     = ((float)acc * scale_x) * scale_w + bias   (f32, in this order)
 * A row of X holding NaN or Inf has no finite scale: its outputs are NaN.
 * The int32 accumulator is exact while 127*127*d_model <= INT32_MAX, that is
 * d_model <= QKV_INT8_MAX_D_MODEL; the core refuses a larger int8 model before any
 * backend sees it, so no backend needs its own check.
 *
 * bf16: weights rounded to the nearest bf16, ties to even; NaN stays NaN.
 */
#ifndef QKV_PRECISION_H
#define QKV_PRECISION_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Smallest amax that is quantized; below it a row or column counts as all zero.
 * 2^-120 exactly (written in decimal: hexadecimal floats are not C++ before C++17). */
#define QKV_INT8_AMAX_MIN 7.52316384526264005e-37f

#include <qkv/plugin.h>

/* Largest d_model of an int8 model: floor(INT32_MAX / (127 * 127)) = 133144. */
#define QKV_INT8_MAX_D_MODEL 133144u

/* The names configs, options and messages use, in enum qkv_precision order: an
 * initializer for a `const char *const [QKV_PRECISION_COUNT]` (e.g. a table of choices). */
#define QKV_PRECISION_NAMES                                                                        \
	{                                                                                          \
		"f32", "bf16", "int8", "stored"                                                    \
	}

/* The name of a precision: "f32", "bf16", "int8", "stored"; NULL for a value that is not an enum
 * qkv_precision. */
static inline const char *qkv_precision_name(uint32_t precision)
{
	static const char *const names[QKV_PRECISION_COUNT] = QKV_PRECISION_NAMES;
	return precision < QKV_PRECISION_COUNT ? names[precision] : NULL;
}

/* The precision named `name` (exact, lower case) into *out; returns 0 if the name is
 * not one, leaving *out unchanged. */
static inline int qkv_precision_parse(const char *name, uint32_t *out)
{
	for (uint32_t p = 0; name && p < QKV_PRECISION_COUNT; p++)
		if (strcmp(name, qkv_precision_name(p)) == 0) {
			*out = p;
			return 1;
		}
	return 0;
}

/* Largest |v| over n values; NaN if any value is NaN or +Inf if any is infinite. */
static inline float qkv_absmax(const float *v, size_t n)
{
	float m = 0.0f;
	for (size_t i = 0; i < n; i++) {
		float a = fabsf(v[i]);
		if (a > m || a != a)
			m = a;
		if (m != m)
			return m;
	}
	return m;
}

/* Quantize n values into q[n]; returns the scale (0 for an all-zero vector and for
 * amax < QKV_INT8_AMAX_MIN, NaN when amax is not finite: then q is all zero). */
static inline float qkv_int8_quantize(const float *v, size_t n, int8_t *q)
{
	float amax = qkv_absmax(v, n);
	if (!(amax >= QKV_INT8_AMAX_MIN) || !isfinite(amax)) {
		memset(q, 0, n);
		return isfinite(amax) ? 0.0f : NAN;
	}
	float inv = 127.0f / amax;
	for (size_t i = 0; i < n; i++) {
		float r = nearbyintf(v[i] * inv);
		r = r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r);
		q[i] = (int8_t)r;
	}
	return amax / 127.0f;
}

static inline float qkv_int8_dequant(int32_t acc, float scale_x, float scale_w, float bias)
{
	return ((float)acc * scale_x) * scale_w + bias;
}

/* Round an f32 to the nearest bf16 (ties to even) and widen it back to f32. */
static inline float qkv_bf16_round(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) {
		u |= 0x00400000u; /* quiet NaN, keep it NaN after truncation */
	} else {
		u += 0x7fffu + ((u >> 16) & 1u);
	}
	u &= 0xffff0000u;
	memcpy(&f, &u, sizeof(f));
	return f;
}

#endif
