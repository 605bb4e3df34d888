/* The quant backend: precision stored, every block-quantized weight type of
 * <qkv/wtype.h> (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), plus F16/BF16 (and F32 in out_in) rows.
 *
 * prepare picks a kernel set. A set with a panel for a block type gets that type's rows
 * rearranged into panels (kernel.h's layouts; the core then lets the file's pages go);
 * otherwise it keeps the core's pointers (no copy: resident weight memory is the file's
 * tensor bytes). project quantizes each X row once per activation format the layer's
 * types need (Q8_0 blocks of 32, Q8_K super-blocks of 256), then threads take units of
 * QUANT_UNIT_ROWS output rows in turn, so every thread streams its own weight rows; a
 * panel or row kernel decodes a weight block once for several X rows. Results are the
 * type table's reference bit for bit (kernel.h). */
#include <omp.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define QKV_BACKEND_NAME "quant"
#include <qkv/backend_util.h>
#include <qkv/plugin.h>
#include <qkv/wtype.h>

#include "../big_alloc.h"
#include "kernel.h"

/* Below this many multiply-adds per call one thread does the work: a fork/join costs
 * more than it saves. */
#define QUANT_PAR_MIN (1u << 18)
/* Output rows per unit of work (a multiple of every panel's rows, so no panel is split):
 * threads take units in turn (dynamic schedule), each streaming its unit's weight rows,
 * so a core that runs slower (a busy neighbour on a shared host, an efficiency core)
 * takes fewer units instead of holding up the call. Zen 3, Llama-3-8B Q4_K, 2 threads,
 * a busy loop on one CPU: T = 128 28.8-29.0 ms against 42.2-47.8 with each thread's
 * half fixed; decode 0.89 against 0.94-0.99 ms a layer; unloaded, decode the same
 * (0.43-0.46 ms). Units of 128 rows made unloaded decode slower (0.50-0.74 ms against
 * 0.43-0.48: each unit's stream starts its prefetch again). */
#define QUANT_UNIT_ROWS 512
_Static_assert(QUANT_UNIT_ROWS % QUANT_WIDE_ROWS == 0, "a unit holds whole panels");

struct quant_handle {
	struct qkv_problem pb;
	const struct quant_kernel *k;
	const uint8_t *w[3]; /* rows as stored (borrowed from the core), NULL when in panels */
	size_t row_bytes[3];
	uint8_t *panel[3];     /* rows repacked in groups of 16 (panel_layouts), or NULL */
	size_t panel_bytes[3]; /* their sizes (qkv_big_alloc) */
	float *bias[3];        /* copies: the handle keeps no bias pointer of the core's */
	uint32_t layout;       /* out_in, or in_out for F32 weights (the f32 loop below) */
	uint64_t bytes;        /* what the handle allocated */
};

static void quant_release(void *hp)
{
	struct quant_handle *h = hp;
	if (!h)
		return;
	for (int p = 0; p < 3; p++) {
		qkv_big_free(h->panel[p], h->panel_bytes[p]);
		free(h->bias[p]);
	}
	free(h);
}

static void quant_memory(const void *hp, struct qkv_handle_memory *out)
{
	const struct quant_handle *h = hp;
	out->keeps_weights = h->w[0] || h->w[1] || h->w[2]; /* rows in place, as stored */
	out->bytes_made = h->bytes;
}

/* One block of `rows` Q8_0 or Q4_0 rows (src[r] NULL past d_out: zero weights, scale 0) in
 * kernel.h's layouts: the digits grouped by 4 k (Q8_0: w + 128 as u8; Q4_0: the nibbles
 * q + 8 of k-groups j and j + 4 in one byte), then the fp16 scales as stored. */
static void pack_0_block(uint32_t t, size_t rows, const uint8_t *const *src, uint8_t *blk)
{
	bool q4 = t == QKV_WT_Q4_0;
	size_t pb = (q4 ? 4 * 4 + 2 : 8 * 4 + 2) * rows;
	memset(blk, 0, pb);
	uint8_t *d = blk + pb - 2 * rows;
	for (size_t r = 0; r < rows; r++) {
		int8_t q[32] = {0};
		if (src[r])
			memcpy(d + 2 * r, src[r], 2); /* fp16 bits, as stored */
		if (src[r] && q4)
			qkv_q4_0_ints((const struct qkv_blk_q4_0 *)(const void *)src[r], q);
		else if (src[r])
			memcpy(q, src[r] + 2, 32);
		for (int k = 0; k < 32; k++) {
			size_t at =
			    ((size_t)(k / 4 % (q4 ? 4 : 8)) * rows + r) * 4 + (size_t)(k % 4);
			if (!q4)
				blk[at] = (uint8_t)(q[k] + 128);
			else /* k-groups 0-3 low nibbles, 4-7 high */
				blk[at] |= (uint8_t)((q[k] + 8) << (k >= 16 ? 4 : 0));
		}
	}
}

/* One super-block of 16 Q4_K or Q5_K rows in kernel.h's panel layouts (src[r] NULL past
 * d_out: zero digits, scales, mins and d). */
static void pack_k_block(uint32_t t, size_t rows, const uint8_t *const *src, uint8_t *blk)
{
	(void)rows; /* QUANT_PANEL_ROWS */
	bool five = t == QKV_WT_Q5_K;
	size_t qs = five ? 48 : 16; /* where the nibbles start in the stored block */
	memset(blk, 0, five ? QUANT_PANEL5_BLOCK : QUANT_PANELK_BLOCK);
	uint8_t *qh = blk + 2048, *scm = qh + (five ? 512 : 0), *dd = scm + 256;
	for (size_t r = 0; r < QUANT_PANEL_ROWS; r++) {
		if (!src[r])
			continue;
		for (int c = 0; c < 4; c++) /* the chunk's bytes keep the nibble pairing */
			for (int k = 0; k < 32; k++)
				blk[(((size_t)c * 8 + (size_t)(k / 4)) * QUANT_PANEL_ROWS + r) * 4 +
				    (size_t)(k % 4)] = src[r][qs + 32 * c + k];
		for (int k = 0; five && k < 32; k++) /* qh[k]: bit j for sub-block j's value k */
			qh[((size_t)(k / 4) * QUANT_PANEL_ROWS + r) * 4 + (size_t)(k % 4)] =
			    src[r][16 + k];
		for (int j = 0; j < 8; j++)
			qkv_k_scale_min(src[r] + 4, j, &scm[16 * j + r], &scm[128 + 16 * j + r]);
		memcpy(dd + 2 * r, src[r], 2);          /* d */
		memcpy(dd + 32 + 2 * r, src[r] + 2, 2); /* dmin */
	}
}

/* One super-block of 32 Q4_K or Q5_K rows: two 16-row halves back to back (kernel.h). */
static void pack_k2_block(uint32_t t, size_t rows, const uint8_t *const *src, uint8_t *blk)
{
	(void)rows; /* QUANT_WIDE_ROWS */
	pack_k_block(t, QUANT_PANEL_ROWS, src, blk);
	pack_k_block(t, QUANT_PANEL_ROWS, src + QUANT_PANEL_ROWS,
	             blk + (t == QKV_WT_Q5_K ? QUANT_PANEL5_BLOCK : QUANT_PANELK_BLOCK));
}

/* One super-block of 16 Q6_K rows in kernel.h's panel layout (src[r] NULL past d_out:
 * zero digits, scales and d). */
static void pack_q6_k_block(uint32_t t, size_t rows, const uint8_t *const *src, uint8_t *blk)
{
	(void)t, (void)rows; /* QUANT_PANEL_ROWS */
	memset(blk, 0, QUANT_PANEL6_BLOCK);
	uint8_t *qh = blk + 2048, *sc = qh + 1024, *dd = sc + 256;
	for (size_t r = 0; r < QUANT_PANEL_ROWS; r++) {
		const struct qkv_blk_q6_k *b = (const struct qkv_blk_q6_k *)(const void *)src[r];
		if (!b)
			continue;
		for (size_t k = 0; k < 32; k++) {
			size_t at = (k / 4 * QUANT_PANEL_ROWS + r) * 4 + k % 4; /* in [8][16][4] */
			for (size_t h = 0; h < 2; h++) { /* ql chunk c: values +32c and +32c + 64 */
				for (size_t c = 0; c < 2; c++)
					blk[(h * 2 + c) * 512 + at] = b->ql[64 * h + 32 * c + k];
				qh[h * 512 + at] = b->qh[32 * h + k];
			}
		}
		for (size_t j = 0; j < 16; j++)
			sc[j * QUANT_PANEL_ROWS + r] = (uint8_t)b->scales[j];
		memcpy(dd + 2 * r, &b->d, 2);
	}
}

/* One super-block of 32 Q6_K rows: two 16-row halves back to back (kernel.h). */
static void pack_q6_k2_block(uint32_t t, size_t rows, const uint8_t *const *src, uint8_t *blk)
{
	(void)rows; /* QUANT_WIDE_ROWS */
	pack_q6_k_block(t, QUANT_PANEL_ROWS, src, blk);
	pack_q6_k_block(t, QUANT_PANEL_ROWS, src + QUANT_PANEL_ROWS, blk + QUANT_PANEL6_BLOCK);
}

/* Each panel type's layout (kernel.h): the weight rows of a panel, the bytes of one packed
 * block of `rows` rows and the function that packs it (src[r] NULL past d_out). The X
 * rows per panel call are the kernel set's (struct quant_kernel's tile). A new panel
 * type is one row here and its kernel and tile in an ISA file. */
static const struct panel_layout {
	size_t rows, block;
	void (*pack)(uint32_t t, size_t rows, const uint8_t *const *src, uint8_t *blk);
} panel_layouts[QKV_WTYPE_COUNT] = {
    [QKV_WT_Q8_0] = {QUANT_WIDE_ROWS, QUANT_WIDE_BLOCK, pack_0_block},
    [QKV_WT_Q4_0] = {QUANT_WIDE_ROWS, QUANT_WIDE4_BLOCK, pack_0_block},
    [QKV_WT_Q4_K] = {QUANT_WIDE_ROWS, 2 * QUANT_PANELK_BLOCK, pack_k2_block},
    [QKV_WT_Q5_K] = {QUANT_WIDE_ROWS, 2 * QUANT_PANEL5_BLOCK, pack_k2_block},
    [QKV_WT_Q6_K] = {QUANT_WIDE_ROWS, 2 * QUANT_PANEL6_BLOCK, pack_q6_k2_block},
};

/* The kernel's panel function for type t, or NULL: rows in place (also for a set that
 * names no X tile for t). */
static quant_panel_fn panel_fn(const struct quant_kernel *k, uint32_t t)
{
	return panel_layouts[t].pack && k->panel && k->tile[t] ? k->panel[t] : NULL;
}

/* Rows [d_out x nb blocks] of type t into panels of panel_layouts[t].rows rows (kernel.h's
 * layouts). The stored rows are not read again (the core may let the file go). */
static uint8_t *pack_panels(uint32_t t, const uint8_t *w, size_t d_out, size_t nb, size_t *bytes)
{
	const struct panel_layout *L = &panel_layouts[t];
	size_t sb = qkv_wtype_traits(t)->bytes, groups = (d_out + L->rows - 1) / L->rows;
	*bytes = (groups * nb * L->block + 63) / 64 * 64;
	uint8_t *pan = qkv_big_alloc(*bytes);
	if (!pan)
		return NULL;
	for (size_t g = 0; g < groups; g++)
		for (size_t b = 0; b < nb; b++) {
			const uint8_t *src[QUANT_WIDE_ROWS];
			for (size_t r = 0; r < L->rows; r++) {
				size_t n = g * L->rows + r;
				src[r] = n < d_out ? w + (n * nb + b) * sb : NULL;
			}
			L->pack(t, L->rows, src, pan + (g * nb + b) * L->block);
		}
	return pan;
}

static enum qkv_status quant_prepare(const struct qkv_problem *pb, const struct qkv_weights *wt,
                                     void **handle, char *err, size_t errlen)
{
	*handle = NULL;
	if (pb->precision != QKV_STORED)
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED,
		                        "precision %u: this backend computes precision stored only",
		                        pb->precision);
	if (!QKV_HAS_MEMBER(pb, struct qkv_problem, wtype) ||
	    !QKV_HAS_MEMBER(wt, struct qkv_weights, w_blk))
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
		                        "precision stored needs the ABI 1.1 problem and weights");
	struct quant_handle *h = calloc(1, sizeof(*h));
	if (!h)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory");
	*handle = h;
	h->pb = *pb;
	h->layout = wt->layout;
	char why[256];
	h->k = quant_kernel_select(why, sizeof(why));
	if (!h->k)
		return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED, "QKV_QUANT_KERNEL: %s",
		                        why);
	for (int p = 0; p < 3; p++) {
		uint32_t t = pb->wtype[p];
		const struct qkv_wtype_traits *r = qkv_wtype_traits(t);
		if (!r)
			return qkv_backend_fail(err, errlen, QKV_ERR_UNSUPPORTED,
			                        "unknown weight type %u (%s)", t, qkv_proj_name(p));
		h->row_bytes[p] = qkv_wtype_row_bytes(t, pb->d_model);
		h->w[p] =
		    t == QKV_WT_F32 ? (const uint8_t *)wt->w[p] : (const uint8_t *)wt->w_blk[p];
		if (!h->row_bytes[p] || !h->w[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT,
			                        "%s weights of %s missing or d_model %u not whole "
			                        "blocks of %u",
			                        r->name, qkv_proj_name(p), pb->d_model, r->block);
		if (wt->layout != QKV_LAYOUT_OUT_IN && t != QKV_WT_F32)
			return qkv_backend_fail(
			    err, errlen, QKV_ERR_ARGUMENT,
			    "%s weights in layout in_out: block types are out_in "
			    "rows",
			    r->name);
	}
	long long bias_bytes = qkv_biases_copy(pb, wt, h->bias);
	if (bias_bytes < 0)
		return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM, "out of memory for the biases");
	h->bytes = sizeof(*h) + (uint64_t)bias_bytes;
	for (int p = 0; p < 3; p++) {
		uint32_t t = pb->wtype[p];
		if (!panel_fn(h->k, t))
			continue;
		size_t bytes = 0;
		h->panel[p] = pack_panels(t, h->w[p], qkv_out_width(pb, p),
		                          pb->d_model / qkv_wtype_traits(t)->block, &bytes);
		if (!h->panel[p])
			return qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
			                        "out of memory for the %s panels of %s",
			                        qkv_wtype_name(t), qkv_proj_name(p));
		h->w[p] = NULL;
		h->panel_bytes[p] = bytes;
		h->bytes += bytes;
	}
	return QKV_OK;
}

/* Does a call of T rows give kernel set k X + 128 after its Q8_K rows (kernel.h)? */
static bool q8_k_unsigned_wanted(const struct quant_kernel *k, size_t T)
{
	return k->x_unsigned && T >= k->x_unsigned;
}

/* Bytes of one X row of a call of T rows prepared for type t by kernel set k:
 * <qkv/wtype.h>'s row, and after it for Q8_0 activations the blocks' offsets (kernel.h,
 * quant_act_q8_0_offsets), for Q8_K ones X + 128 as u8 where the set asks for it
 * (quant_act_q8_k_unsigned). */
static size_t act_row_bytes(const struct quant_kernel *k, uint32_t t, size_t K, size_t T)
{
	enum qkv_act a = qkv_wtype_traits(t)->act;
	size_t extra = a == QKV_ACT_Q8_0 ? 2 * (K / 32) * sizeof(int32_t)
	               : a == QKV_ACT_Q8_K && q8_k_unsigned_wanted(k, T) ? K
	                                                                 : 0;
	return qkv_act_row_bytes(t, K) + extra;
}

/* After a Q8_0 row of nb blocks, -128 and -8 x each block's sum of q (kernel.h's
 * quant_act_q8_0_offsets). */
static void q8_0_block_offsets(uint8_t *row, size_t nb)
{
	const struct qkv_act_q8_0 *a = (const struct qkv_act_q8_0 *)(const void *)row;
	int32_t *off = (int32_t *)(void *)(row + nb * sizeof(*a));
	for (size_t blk = 0; blk < nb; blk++) {
		int32_t s = 0;
		for (int k = 0; k < 32; k++)
			s += a[blk].q[k];
		off[blk] = -128 * s;
		off[nb + blk] = -8 * s;
	}
}

/* After a Q8_K row of nb blocks, every q + 128 as u8 (kernel.h's
 * quant_act_q8_k_unsigned). */
static void q8_k_unsigned(uint8_t *row, size_t nb)
{
	const struct qkv_act_q8_k *a = (const struct qkv_act_q8_k *)(const void *)row;
	uint8_t *u = row + nb * sizeof(*a);
	for (size_t blk = 0; blk < nb; blk++)
		for (int k = 0; k < 256; k++)
			u[256 * blk + k] = (uint8_t)(a[blk].q[k] + 128);
}

/* Each X row prepared for type t's activation format into buf: T rows of `rb` bytes
 * (act_row_bytes). */
static void prepare_rows(const struct quant_handle *h, const struct qkv_batch *b, size_t K,
                         uint32_t t, size_t rb, uint8_t *buf, int nthr)
{
	enum qkv_act act = qkv_wtype_traits(t)->act;
	float (*quantize)(const float *, size_t, int8_t *) =
	    h->k->quantize ? h->k->quantize : qkv_int8_quantize;
#pragma omp parallel for num_threads(nthr) schedule(static)
	for (size_t i = 0; i < b->T; i++) {
		uint8_t *row = buf + i * rb;
		qkv_act_quantize_with(t, b->x + i * b->ldx, K, row, quantize);
		if (act == QKV_ACT_Q8_0)
			q8_0_block_offsets(row, K / 32);
		else if (act == QKV_ACT_Q8_K && q8_k_unsigned_wanted(h->k, b->T))
			q8_k_unsigned(row, K / 256);
	}
}

/* F32 weights in in_out ([d_model x d_out], column n strided): one f32 dot product per
 * output, k in order (precision stored's F32 rows allow any order). */
static void rows_f32_in_out(const struct quant_handle *h, const struct qkv_batch *b, int p,
                            size_t n0, size_t n1)
{
	size_t K = h->pb.d_model, d_out = qkv_out_width(&h->pb, p);
	const float *w = (const float *)(const void *)h->w[p]; /* [K x d_out] */
	for (size_t t = 0; t < b->T; t++) {
		const float *x = b->x + t * b->ldx;
		float *y = b->out[p] + t * b->ld_out[p];
		for (size_t n = n0; n < n1; n++) {
			float acc = 0.0f;
			for (size_t k = 0; k < K; k++)
				acc += x[k] * w[k * d_out + n];
			y[n] = h->bias[p] ? acc + h->bias[p][n] : acc;
		}
	}
}

/* Prepared X rows per chunk: the chunk stays in L2 while every weight row of the thread's
 * range passes over it. Without chunks each weight row streamed all T prepared rows again
 * (T = 512, K = 4096: 2 MiB of X per weight row, 12 GiB per Llama-3-8B call); with them
 * the weights are read ceil(T / chunk) times instead. */
#define X_CHUNK_BYTES ((size_t)256 << 10)

/* Output rows [n0, n1) of projection p from its panels, for X rows [t_lo, t_hi): every
 * panel that meets the range is computed, its rows in the range written. With more than
 * one X tile, the tiles of a panel read it from L2 and between them fetch the panel after
 * it (the range's next, else `after`: the first of the next X chunk) into L2, so that only
 * the first panel of a call waits on memory (kernel.h's struct quant_pf). */
static void panels(const struct quant_handle *h, const struct qkv_batch *b, int p,
                   const uint8_t *act, size_t arb, size_t nb, size_t n0, size_t n1, size_t t_lo,
                   size_t t_hi, const uint8_t *after)
{
	const struct panel_layout *L = &panel_layouts[h->pb.wtype[p]];
	size_t R = L->rows, tile = h->k->tile[h->pb.wtype[p]], bytes = nb * L->block;
	size_t tiles = (t_hi - t_lo + tile - 1) / tile;
	size_t share = (bytes + tiles - 1) / tiles; /* of the next panel, per tile */
	for (size_t g = n0 / R; g * R < n1; g++) {
		const uint8_t *pan = h->panel[p] + g * bytes;
		const uint8_t *next = (g + 1) * R < n1 ? pan + bytes : after;
		size_t lo = g * R < n0 ? n0 : g * R;
		size_t hi = (g + 1) * R < n1 ? (g + 1) * R : n1;
		for (size_t t0 = t_lo; t0 < t_hi; t0 += tile) {
			const void *xs[QUANT_TILE_MAX];
			float acc[QUANT_PANEL_OUT_MAX]; /* [nt][R] */
			int nt = t_hi - t0 < tile ? (int)(t_hi - t0) : (int)tile;
			struct quant_pf pf = {NULL, 0};
			if (tiles > 1) {
				size_t i = (t0 - t_lo) / tile;
				pf.next = next ? next + i * share : NULL;
				pf.step = (share + nb - 1) / nb;
			}
			for (int i = 0; i < nt; i++)
				xs[i] = act + (t0 + i) * arb;
			panel_fn(h->k, h->pb.wtype[p])(pan, xs, nt, nb, acc, pf);
			for (int i = 0; i < nt; i++) {
				float *y = b->out[p] + (t0 + i) * b->ld_out[p];
				for (size_t n = lo; n < hi; n++) {
					float v = acc[R * (size_t)i + (n - g * R)];
					y[n] = h->bias[p] ? v + h->bias[p][n] : v;
				}
			}
		}
	}
}

/* Output rows [n0, n1) of projection p for X rows [t_lo, t_hi). */
static void rows_chunk(const struct quant_handle *h, const struct qkv_batch *b, int p,
                       const uint8_t *act, size_t arb, size_t n0, size_t n1, size_t t_lo,
                       size_t t_hi, int last)
{
	uint32_t t = h->pb.wtype[p];
	size_t nb = h->pb.d_model / qkv_wtype_traits(t)->block;
	if (h->panel[p]) {
		size_t R = panel_layouts[t].rows;
		const uint8_t *first = h->panel[p] + n0 / R * nb * panel_layouts[t].block;
		panels(h, b, p, act, arb, nb, n0, n1, t_lo, t_hi, last ? NULL : first);
		return;
	}
	quant_row_fn fn = h->k->row[t] ? h->k->row[t] : quant_kernel_c.row[t];
	for (size_t n = n0; n < n1; n++) {
		const uint8_t *w = h->w[p] + n * h->row_bytes[p];
		float bias = h->bias[p] ? h->bias[p][n] : 0.0f;
		for (size_t t0 = t_lo; t0 < t_hi; t0 += QUANT_TILE) {
			const void *xs[QUANT_TILE];
			float acc[QUANT_TILE];
			int nt = t_hi - t0 < QUANT_TILE ? (int)(t_hi - t0) : QUANT_TILE;
			for (int i = 0; i < nt; i++)
				xs[i] = act ? (const void *)(act + (t0 + i) * arb)
				            : (const void *)(b->x + (t0 + i) * b->ldx);
			fn(w, xs, nt, nb, acc);
			for (int i = 0; i < nt; i++) {
				float *y = b->out[p] + (t0 + i) * b->ld_out[p];
				y[n] = h->bias[p] ? acc[i] + bias : acc[i];
			}
		}
	}
}

/* Output rows [n0, n1) of projection p for every X row, X in chunks (X_CHUNK_BYTES). */
static void rows(const struct quant_handle *h, const struct qkv_batch *b, int p, const uint8_t *act,
                 size_t arb, size_t n0, size_t n1)
{
	if (h->pb.wtype[p] == QKV_WT_F32 && h->layout == QKV_LAYOUT_IN_OUT) {
		rows_f32_in_out(h, b, p, n0, n1);
		return;
	}
	size_t row = act ? arb : h->pb.d_model * sizeof(float);
	size_t tile = h->panel[p] ? h->k->tile[h->pb.wtype[p]] : QUANT_TILE;
	size_t chunk = X_CHUNK_BYTES / row / tile * tile; /* whole X tiles */
	if (chunk < tile)
		chunk = tile;
	for (size_t t_lo = 0; t_lo < b->T; t_lo += chunk)
		rows_chunk(h, b, p, act, arb, n0, n1, t_lo,
		           b->T - t_lo < chunk ? b->T : t_lo + chunk, b->T - t_lo <= chunk);
}

static enum qkv_status quant_project(const void *hp, const struct qkv_batch *b, char *err,
                                     size_t errlen)
{
	const struct quant_handle *h = hp;
	if (!h || !b)
		return qkv_backend_fail(err, errlen, QKV_ERR_ARGUMENT, "NULL handle or batch");
	if (b->T == 0)
		return QKV_OK;
	size_t K = h->pb.d_model;
	size_t work = b->T * K * (size_t)qkv_fused_width(&h->pb);
	int nthr = omp_in_parallel() || work < QUANT_PAR_MIN ? 1 : (int)b->threads;
	/* one prepared copy of X per activation format in use, indexed by enum qkv_act
	 * (QKV_ACT_F32 rows read X itself) */
	uint8_t *buf[3] = {NULL, NULL, NULL};
	size_t rb[3] = {0, 0, 0};
	enum qkv_status st = QKV_OK;
	for (int p = 0; p < 3 && st == QKV_OK; p++) {
		uint32_t t = h->pb.wtype[p];
		enum qkv_act a = qkv_wtype_traits(t)->act;
		if (a == QKV_ACT_F32 || buf[a])
			continue;
		rb[a] = act_row_bytes(h->k, t, K, b->T);
		buf[a] = malloc(b->T * rb[a]); /* per-call scratch: [T][rb] */
		if (!buf[a])
			st = qkv_backend_fail(err, errlen, QKV_ERR_NOMEM,
			                      "out of memory for %zu quantized rows", b->T);
		else
			prepare_rows(h, b, K, t, rb[a], buf[a], nthr);
	}
	if (st == QKV_OK) {
		size_t units[3], total = 0;
		for (int p = 0; p < 3; p++) {
			units[p] =
			    (qkv_out_width(&h->pb, p) + QUANT_UNIT_ROWS - 1) / QUANT_UNIT_ROWS;
			total += units[p];
		}
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthr)
		for (size_t u = 0; u < total; u++) {
			int p = 0;
			size_t k = u;
			while (k >= units[p])
				k -= units[p++];
			size_t d = qkv_out_width(&h->pb, p), n0 = k * QUANT_UNIT_ROWS;
			enum qkv_act a = qkv_wtype_traits(h->pb.wtype[p])->act;
			rows(h, b, p, buf[a], rb[a], n0,
			     d - n0 < QUANT_UNIT_ROWS ? d : n0 + QUANT_UNIT_ROWS);
		}
	}
	for (int a = 0; a < 3; a++)
		free(buf[a]);
	return st;
}

static void quant_probe(struct qkv_probe_result *out)
{
	char why[160];
	const struct quant_kernel *k = quant_kernel_select(why, sizeof(why));
	out->score = k ? 65 : 0;
	snprintf(out->detail, sizeof(out->detail), "kernel %s (%s): %s; %s", k ? k->name : "none",
	         k ? k->desc : "-", why,
	         k && k->panel ? "block weights rearranged into panels at open (<= 1.03 x)"
	                       : "weights in place");
}

QKV_PLUGIN_EXPORT const struct qkv_backend qkv_backend_descriptor = {
    .abi_major = QKV_PLUGIN_ABI_MAJOR,
    .abi_minor = QKV_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(struct qkv_backend),
    .precisions = QKV_PRECISION_BIT(QKV_STORED),
    .name = "quant",
    .version = "1.1.0",
    .probe = quant_probe,
    .prepare = quant_prepare,
    .project = quant_project,
    .release = quant_release,
    .memory = quant_memory,
    .wtypes = QKV_WTYPE_ALL,
};
