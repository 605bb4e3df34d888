/* quant kernels: the interface every ISA file implements.
 *
 * A row function computes, for one weight row of type t (nb blocks, as stored) and nt <=
 * QUANT_TILE prepared X rows (struct qkv_act_q8_0 / qkv_act_q8_k of <qkv/wtype.h>),
 *     acc[i] = the float accumulation of <qkv/wtype.h>'s scheme, i < nt,
 * with the integer part of every block exact and the float steps in the table's order,
 * so the result equals qkv_wtype_dot bit for bit. The weight block is decoded once and
 * used for all nt rows. Kernels see pointers and counts only.
 *
 * Every ISA file is compiled twice: natively (its functions carry target attributes and
 * run only after usable() said yes) and, for the tests, through SIMDe (simd.h) into the
 * non-installed module quant_simde_test.so.
 *
 * Adding an ISA = one new file defining a `const struct quant_kernel`, one row in
 * dispatch.c's table (../kernel_table.h, the one idiom of every backend) and its test.
 */
#ifndef QKV_QUANT_KERNEL_H
#define QKV_QUANT_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/cpu_features.h>
#include <qkv/wtype.h>

#define QUANT_TILE 4 /* X rows per row call */

typedef void (*quant_row_fn)(const uint8_t *wrow, const void *const *x, int nt, size_t nb,
                             float *acc);

/* Panels: weight rows repacked at prepare (quant.c's panel_layouts: the rows per panel,
 * the X rows per call and the packer of each type), so that one vpdpbusd zmm multiplies 4
 * weights of each of 16 rows with 4 values of X broadcast, and the float steps run with
 * row r in lane r (<qkv/wtype.h>'s order per lane: bit-identical). A panel function
 * writes out[rows * i + r] for X row i < nt (nt <= its kernel set's X tile for the type).
 *
 * Q8_0 and Q4_0 wide panels, 32 rows. Q8_0: per block QUANT_WIDE_BLOCK bytes, [8 k-groups][32
 * rows][4] bytes of w + 128 (u8), then the 32 rows' fp16 scales as stored (widened by F16C: exact;
 * a signalling NaN comes out quiet, as the first multiply would make it anyway). The
 * kernel keeps 2 x QUANT_WIDE_TILE int32 accumulators (rows 0-15, 16-31 for each X row),
 * every weight register used for QUANT_WIDE_TILE X rows. */
#define QUANT_PANEL_ROWS 16
#define QUANT_PANEL_TILE 8
#define QUANT_WIDE_ROWS 32
#define QUANT_WIDE_TILE 6
/* The X tiles of the ymm kernels, which keep their sums in memory: each unpacked weight
 * register serves up to 32 X rows (16 for Q8_0 and Q4_0). Zen 3, 1 thread, T = 128 / 512,
 * against the zmm kernels' 8 and 6: Q4_K +15 / +11 %, Q5_K +19 %, Q6_K +18-19 %, Q8_0
 * +10-11 %, Q4_0 +6 %; 12, 24, 48 and 64 K-type rows were slower than 32
 * (backends/quant/README.md). */
#define QUANT_YMM_TILE 32
#define QUANT_YMM_WIDE_TILE 16
#define QUANT_TILE_MAX 32 /* the largest X tile of any set */
#define QUANT_WIDE_BLOCK (8 * 32 * 4 + 32 * 2)
/* The K types' panels: the same lanes, 32 rows as two halves of 16, up to the set's X
 * tile of X rows. */
/* Room for one panel call's outputs, every layout's rows x X tile */
#define QUANT_PANEL_OUT_MAX (QUANT_TILE_MAX * QUANT_WIDE_ROWS)
/* Q4_0 wide panels keep the digits as nibbles: per block [4 k-groups][32 rows][4] bytes
 * whose low nibble is the digit (q + 8) of k-group j and high nibble that of k-group j + 4,
 * then the 32 fp16 scales (the stored bytes, rearranged). */
#define QUANT_WIDE4_BLOCK (4 * 32 * 4 + 32 * 2)
/* Q4_K panels, 32 rows: per super-block of 256 two halves of 16 rows, each [4 chunks][8
 * k-groups][16 rows][4] bytes whose low nibble is the digit of sub-block 2c and high nibble
 * that of sub-block 2c + 1 (as Q4_K packs them), then the 6-bit scales [8][16] and mins
 * [8][16] as u8, then d [16] and dmin [16] as fp16 (1.03 x the stored bytes); a panel block
 * is 2 x QUANT_PANELK_BLOCK. The kernel broadcasts each 4 values of X once for both halves. */
#define QUANT_PANELK_BLOCK (4 * 8 * 16 * 4 + 2 * 8 * 16 + 2 * 16 * 2)
/* Q5_K panels: the Q4_K layout (two halves) with, after each half's digits, each row's 32
 * qh bytes (bit j of qh[k] is the fifth bit of sub-block j's value k) as [8 k-groups][16
 * rows][4] (1.02 x). */
#define QUANT_PANEL5_BLOCK (QUANT_PANELK_BLOCK + 8 * 16 * 4)
/* Q6_K panels, 32 rows: per super-block of 256 two halves of 16 rows, each QUANT_PANEL6_BLOCK
 * bytes (the stored bytes, rearranged: 1.00 x): the low
 * nibbles as Q6_K pairs them, [2 halves][2 ql chunks][8 k-groups][16 rows][4] bytes (byte
 * l of chunk c of half h: low nibble that of value 128h + 32c + l, high nibble that of
 * value 128h + 32c + 64 + l), then the high two bits as Q6_K's qh, [2 halves][8
 * k-groups][16 rows][4] (bits 2s, 2s + 1 of byte l: value 128h + 32s + l), then the int8
 * scales [16 sub-blocks][16 rows], then d [16] as fp16. */
#define QUANT_PANEL6_BLOCK (2 * 2 * 8 * 16 * 4 + 2 * 8 * 16 * 4 + 16 * 16 + 16 * 2)
/* The backend's Q8_0 activation row, made once per call (quant.c): the nb blocks of struct
 * qkv_act_q8_0 as qkv_act_quantize makes them, then nb int32 -128 x each block's sum of q,
 * then nb int32 -8 x that sum (exact): the starting values of the Q8_0 and Q4_0 panels'
 * accumulators, whose digits are offset (w + 128, q + 8), for every group of 16 rows.
 * Stored multiplied, the kernel broadcasts them straight from memory (a multiply and a
 * move from a general register per block and X row cost 5-8 % of the Q8_0 kernel on a
 * Zen 5). Row kernels read the blocks only. */
static inline const int32_t *quant_act_q8_0_offsets(const void *xrow, size_t nb, int q4)
{
	return (const int32_t *)(const void *)((const struct qkv_act_q8_0 *)xrow + nb) +
	       (q4 ? nb : 0);
}
/* A Q8_K activation row of a set with x_unsigned (quant.c): after its nb blocks of struct
 * qkv_act_q8_k, every q + 128 as u8 (K bytes), the u8 operand of vpmaddubsw against
 * signed weights (panel_avx2.c's Q6_K). */
static inline const uint8_t *quant_act_q8_k_unsigned(const void *xrow, size_t nb)
{
	return (const uint8_t *)((const struct qkv_act_q8_k *)xrow + nb);
}
/* The AVX2 Q6_K panels take the weights' sums from this many X rows of a call on
 * (panel_avx2.c's q6_octet), against X + 128 */
#define QUANT_AVX2_Q6_WSUM_ROWS 8
/* Where a panel call sends its prefetches. step 0: its own panel, a fixed distance ahead
 * (the panel streams from memory: one X tile per panel, as in decode). Else the panel is
 * in L2 from an earlier call and the call sends step bytes at next + b * step into L2
 * during block b: the driver spreads the panel it computes next over the X tiles of the
 * one it computes now (next NULL: nothing to fetch). */
struct quant_pf {
	const uint8_t *next;
	size_t step;
};
typedef void (*quant_panel_fn)(const uint8_t *panel, const void *const *x, int nt, size_t nb,
                               float *out, struct quant_pf pf);

struct quant_kernel {
	const char *name; /* "avx512vnni", ...: for probe (dispatch.c's table row has it too) */
	const char *desc; /* the integer instruction, for probe */
	quant_row_fn row[QKV_WTYPE_COUNT]; /* NULL: the C kernel's row serves that type */
	/* per type, NULL (or the whole table NULL): that type stays in place and uses the
	 * row kernels; else its rows are packed at prepare into quant.c's panel layout of
	 * the type (kernel.h's QUANT_PANEL*) */
	const quant_panel_fn *panel;
	/* per type with a panel: the X rows per panel call (its kernel's tile, at most
	 * QUANT_TILE_MAX) */
	unsigned char tile[QKV_WTYPE_COUNT];
	/* 0, or the fewest X rows of a call whose Q8_K activation rows carry X + 128 as u8
	 * (quant_act_q8_k_unsigned): smaller calls do not pay for the copy */
	unsigned char x_unsigned;
	/* quantizes X's blocks, bit for bit as qkv_int8_quantize; NULL: that one */
	float (*quantize)(const float *v, size_t n, int8_t *q);
};

extern const struct quant_kernel quant_kernel_c;
#if defined(__x86_64__) || defined(QKV_SIMDE)
extern const struct quant_kernel quant_kernel_avx2;
extern const struct quant_kernel quant_kernel_avxvnni;
extern const struct quant_kernel quant_kernel_avx512vnni;
extern const quant_panel_fn quant_panels_avx2[QKV_WTYPE_COUNT];       /* panel_avx2.c */
extern const quant_panel_fn quant_panels_avxvnni[QKV_WTYPE_COUNT];    /* panel_avxvnni.c */
extern const quant_panel_fn quant_panels_avx512vnni[QKV_WTYPE_COUNT]; /* panel_avx512.c */
#endif
#if defined(__aarch64__) || defined(QKV_SIMDE)
extern const struct quant_kernel quant_kernel_neon_dot;
#endif

/* The kernel set to use (../kernel_table.h: the first usable row, or the one
 * QKV_QUANT_KERNEL forces; NULL when that one is refused); why (may be NULL) says why. */
const struct quant_kernel *quant_kernel_select(char *why, size_t whylen);

#endif
