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
 * run only after dispatch.c's table said the CPU has the features) and, for the tests,
 * through SIMDe (simd.h) into the non-installed module quant_simde_test.so, where every
 * row of the table is usable (../kernel_table.h, the idiom openmp and int8 share).
 *
 * Adding an ISA = one new file defining a `const struct quant_kernel`, one row in
 * dispatch.c's table (name for QKV_QUANT_KERNEL, features, usable test) and one line in
 * meson.build.
 */
#ifndef QKV_QUANT_KERNEL_H
#define QKV_QUANT_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/wtype.h>

#include "../kernel_table.h"

#define QUANT_TILE 4 /* X rows per row call */

typedef void (*quant_row_fn)(const uint8_t *wrow, const void *const *x, int nt, size_t nb,
                             float *acc);

struct quant_kernel {
	const char *desc;                  /* the integer instruction, for probe */
	quant_row_fn row[QKV_WTYPE_COUNT]; /* NULL: the C kernel's row serves that type */
};

extern const struct quant_kernel quant_kernel_c;
#if defined(__x86_64__) || defined(QKV_SIMDE)
extern const struct quant_kernel quant_kernel_avx2;
extern const struct quant_kernel quant_kernel_avxvnni;
extern const struct quant_kernel quant_kernel_avx512vnni;
#endif

/* The table row (../kernel_table.h; row->set is a struct quant_kernel) of the kernel to
 * use: QKV_QUANT_KERNEL's if set, else the fastest usable here. NULL only when
 * QKV_QUANT_KERNEL names a kernel that is absent or not usable here; why (may be NULL)
 * says why. */
const struct qkv_kernel_row *quant_kernel_select(char *why, size_t whylen);

#endif
