/* Micro-kernels of the openmp backend and the table that picks one at run time.
 *
 * The driver (gemm.c) owns blocking, packing, threading and edges; a kernel sees only
 * dimensions, packed pointers and strides (BLIS style). Each kernel set declares its own
 * tile: `mr` rows of X by `nr` columns of W, and the packing follows the set picked at
 * prepare:
 *   weights: column panels of nr columns, K-major, panel[k][0..nr) = W[k][n0 .. n0+nr),
 *            zero past the projection's last column;
 *   X:       packed per call into tiles of mr rows, K-major: tile[k][0..mr).
 * bf16 weights use the same panels with 16-bit elements (the upper half of the
 * bf16-rounded f32); the GEMM path widens a KC x nr slice into an f32 buffer and runs
 * the f32 kernel, the matrix-vector path widens in registers (half the bytes read).
 *
 * Adding an ISA is one new file defining a `struct ompb_kernels`, one row in dispatch.c's
 * table (../kernel_table.h) and its name in the test's list; ISA files include
 * ../simd_compat.h so the tests also build them through SIMDe (the whole module again,
 * openmp_simde_test.so) and run them on any CPU.
 */
#ifndef QKV_OPENMP_KERNELS_H
#define QKV_OPENMP_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define QKV_OMP_NR_MAX 32  /* widest panel of any kernel set */
#define QKV_OMP_GEMV_MAX 4 /* T up to this uses the matrix-vector path */

/* C tile [mr x nr] (only rows < m, columns < n are touched) from
 *   acc = sum_{k < kc} xp[k][r] * wp[k][j]
 * first: C = acc (+ bias[j] when bias != NULL); else: C += acc.
 * xp is [kc][mr] (rows >= m are padding), wp is [kc][nr] 32-byte aligned (64 for nr >= 16).
 * pf: when the set has `prefetches`, the kernel prefetches lines pf[0 .. pf_lines*64) into
 * L2, one or two lines per k step, spread over its k loop (the driver hands each tile its share
 * of the next panel's slice); other sets ignore pf and the driver prefetches for them. */
typedef void (*ompb_gemm_ukr)(size_t kc, const float *xp, const float *wp, float *c, size_t ldc,
                              size_t m, size_t n, int first, const float *bias, const char *pf,
                              size_t pf_lines);

/* y_r[j] = sum_{k < K} x_r[k] * wp[k][j] (+ bias[j]) for rows r < m (1 <= m <= GEMV_MAX),
 * j < n; x row r at x + r*ldx, y row r at y + r*ldy; wp is one whole panel [K][nr]. */
typedef void (*ompb_gemv_ukr)(size_t K, const float *x, size_t ldx, const float *wp, float *y,
                              size_t ldy, size_t m, size_t n, const float *bias);

/* The same with a bf16 panel wb[K][nr]: element = f32 bits >> 16. */
typedef void (*ompb_gemv_bf16_ukr)(size_t K, const float *x, size_t ldx, const uint16_t *wb,
                                   float *y, size_t ldy, size_t m, size_t n, const float *bias);

/* A second GEMM tile for large T, optional (gemm NULL: the set's one tile serves every T).
 * A taller tile and longer K slices cut the loads per FMA and the passes over C, but leave
 * a small batch a ragged last tile; so it starts at from_T. Results do not depend on the
 * tile height; they do depend on kc (C adds one partial sum per K slice), so T below and
 * above from_T may differ in the last bits (f32 is "any order"). */
struct ompb_tall {
	size_t mr, kc, mc; /* rows, K slice, rows per packed X block */
	size_t from_T;
	ompb_gemm_ukr gemm;
};

struct ompb_kernels {
	const char *name; /* "avx2+fma 6x16" */
	size_t mr;        /* rows of the GEMM micro-tile (X is packed in tiles of mr) */
	size_t nr;        /* columns: the weight panel width, <= QKV_OMP_NR_MAX */
	size_t kc;        /* K slice of the GEMM path: a kc x nr panel slice stays in L1 */
	int prefetches;   /* 1: gemm prefetches the next panel itself (pf, pf_lines) */
	ompb_gemm_ukr gemm;
	struct ompb_tall tall;
	ompb_gemv_ukr gemv;
	ompb_gemv_bf16_ukr gemv_bf16;
};

extern const struct ompb_kernels qkv_omp_kernels_c;
#if defined(__x86_64__) || defined(QKV_SIMDE)
extern const struct ompb_kernels qkv_omp_kernels_avx2;
extern const struct ompb_kernels qkv_omp_kernels_avx512;
#endif
#if defined(__aarch64__) || defined(QKV_SIMDE)
extern const struct ompb_kernels qkv_omp_kernels_neon;
#endif

/* The kernel set to use: QKV_OPENMP_KERNEL's when set and usable, else the best this CPU
 * and OS can run; writes why into why[len]. NULL when QKV_OPENMP_KERNEL names a set that
 * is absent or not usable here (why says which and why). */
const struct ompb_kernels *qkv_omp_kernels_pick(char *why, size_t len);

#endif
