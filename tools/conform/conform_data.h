/* Input generation and references for one problem (internal to the case library). */
#ifndef QKV_CONFORM_DATA_H
#define QKV_CONFORM_DATA_H

#include "conform_int.h"

/* Index of W(k, n) of a [d_model x d_out] matrix stored in `layout`. */
size_t cf_w_index(uint32_t layout, size_t k, size_t n, size_t d_model, size_t d_out);

/* Fill s->w, s->bias, s->x (and x_copy) from the seed, per s->o.fill. */
bool cf_data_make(struct cf_setup *s, uint64_t seed);

/* Quantize s->w into s->w_i8 / s->w_scale (precision.h's scheme, per column). */
bool cf_data_prequantize(struct cf_setup *s);

/* X refilled in place from `seed` (x_copy too); keeps X read-only when asked. */
bool cf_data_refill_x(struct cf_setup *s, uint64_t seed);

/* Copies of every weight-side array (checked by cf_check_weights); with w_paged,
 * the arrays become read-only. Call after prequantize. */
bool cf_data_protect(struct cf_setup *s);

/* Free one weight-side array allocated by the data code (kind: 0 w, 1 bias, 2 w_i8,
 * 3 w_scale). */
void cf_data_wfree(struct cf_setup *s, int kind, int p, void *ptr);

/* Fill s->ref/bound (and ref8/bound8 for int8) from the data. */
bool cf_ref_make(struct cf_setup *s);

#endif
