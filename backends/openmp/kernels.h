/* Micro-kernels of the openmp backend and the table that picks one at run time.
 *
 * The driver (gemm.c) owns blocking, packing, threading and edges; a kernel sees only
 * dimensions, packed pointers and strides (BLIS style). Every kernel set shares one
 * weight packing: column panels of QKV_OMP_NR columns, K-major:
 *   panel[k][0..NR)  = W[k][n0 .. n0+NR), zero past the projection's last column.
 * X is packed per call into tiles of `mr` rows, K-major: tile[k][0..mr).
 * bf16 weights use the same panels with 16-bit elements (the upper half of the
 * bf16-rounded f32); the GEMM path widens a KC x NR slice into an f32 buffer and runs
 * the f32 kernel, the matrix-vector path widens in registers (half the bytes read).
 *
 * Adding an ISA (e.g. AVX-512) is one new file defining a `struct omp_kernels` plus
 * one line in dispatch.c; nothing else changes.
 */
#ifndef QKV_OPENMP_KERNELS_H
#define QKV_OPENMP_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define QKV_OMP_NR 16      /* panel width: columns per packed weight panel */
#define QKV_OMP_GEMV_MAX 4 /* T up to this uses the matrix-vector path */

/* C tile [mr x NR] (only rows < m, columns < n are touched) from
 *   acc = sum_{k < kc} xp[k][r] * wp[k][j]
 * first: C = acc (+ bias[j] when bias != NULL); else: C += acc.
 * xp is [kc][mr] (rows >= m are padding), wp is [kc][NR] 32-byte aligned. */
typedef void (*omp_gemm_ukr)(size_t kc, const float *xp, const float *wp, float *c, size_t ldc,
                             size_t m, size_t n, int first, const float *bias);

/* y_r[j] = sum_{k < K} x_r[k] * wp[k][j] (+ bias[j]) for rows r < m (1 <= m <= GEMV_MAX),
 * j < n; x row r at x + r*ldx, y row r at y + r*ldy; wp is one whole panel [K][NR]. */
typedef void (*omp_gemv_ukr)(size_t K, const float *x, size_t ldx, const float *wp, float *y,
                             size_t ldy, size_t m, size_t n, const float *bias);

/* The same with a bf16 panel wb[K][NR]: element = f32 bits >> 16. */
typedef void (*omp_gemv_bf16_ukr)(size_t K, const float *x, size_t ldx, const uint16_t *wb,
                                  float *y, size_t ldy, size_t m, size_t n, const float *bias);

struct omp_kernels {
	const char *name; /* "avx2+fma 6x16" */
	size_t mr;        /* rows of the GEMM micro-tile (X is packed in tiles of mr) */
	omp_gemm_ukr gemm;
	omp_gemv_ukr gemv;
	omp_gemv_bf16_ukr gemv_bf16;
};

extern const struct omp_kernels qkv_omp_kernels_c;
#if defined(__x86_64__)
extern const struct omp_kernels qkv_omp_kernels_avx2;
#endif

/* The best kernel set this CPU and OS can run; writes why into why[len]. */
const struct omp_kernels *qkv_omp_kernels_pick(char *why, size_t len);

#endif
