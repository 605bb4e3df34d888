/* Internals shared by the case files: guarded buffers, one prepared problem with its
 * float64 references, the call and the checks. */
#ifndef QKV_CONFORM_INT_H
#define QKV_CONFORM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conform.h"

#define CF_U 0x1p-24 /* unit roundoff of f32 */
#define CF_C 2.0     /* the worst-case bound's safety factor (conform_ref.c) */
#define CF_TINY 0x1p-120

/* The calling thread's rounding mode and (x86) MXCSR control bits. */
unsigned cf_fp_env(void);

/* Record a failure (first one wins: it is the root cause). Returns false. */
bool cf_fail(struct cf_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keep the worst |err|/bound seen so far. */
void cf_note_error(struct cf_report *r, double err, double bound);

/* ---- guarded buffers ------------------------------------------------------------ */

/* `rows` rows of `width` floats with row stride `ld`, surrounded by CF_GUARD floats
 * on both sides; the gaps between rows are guarded too. Every float, written or
 * not, starts as the sentinel, so an element a backend forgets shows up as well. */
#define CF_GUARD 64
struct cf_gbuf {
	float *base; /* [total] allocation, 64-byte aligned */
	float *p;    /* first row: base + CF_GUARD (+1 when unaligned) */
	size_t rows, width, ld, total;
	void *map; /* paged buffers: the mapping, with PROT_NONE first and last pages */
	size_t map_len;
};

bool cf_gbuf_alloc(struct cf_gbuf *b, size_t rows, size_t width, size_t ld, bool unaligned);
/* The rows between two PROT_NONE pages, touching the one after the last row (at_end)
 * or the one before the first row: any read outside the rows faults. */
bool cf_gbuf_alloc_paged(struct cf_gbuf *b, size_t rows, size_t width, size_t ld, bool at_end);
void cf_gbuf_free(struct cf_gbuf *b);
bool cf_is_sentinel(float f);
void cf_fill_sentinel(float *f, size_t n);
/* False (and a message naming `name` and where) when any float outside the rows
 * changed. */
bool cf_gbuf_check(const struct cf_gbuf *b, const char *name, struct cf_report *r, const char *ctx);

/* ---- one problem ---------------------------------------------------------------- */

enum cf_fill {
	CF_FILL_RANDOM,   /* U(-1, 1) */
	CF_FILL_INTEGER,  /* integers in [-127, 127], +-127 in each row and column */
	CF_FILL_SPECIAL,  /* random plus NaN, +Inf, -Inf in some rows of X */
	CF_FILL_SATURATE, /* +-1 patterns: every quantized value is +-127 */
	CF_FILL_SEED,     /* docs/DESIGN.md's worked example */
	/* exact in f32 in any summation order (every partial sum an integer < 2^24), but
	 * not with bf16 or f16 operands (values need 12 significant bits): */
	CF_FILL_WIDE_W, /* W integers in [-4095, 4095], X in {-1, 0, 1} */
	CF_FILL_WIDE_X, /* X integers in [-4095, 4095], W in {-1, 0, 1} */
	CF_FILL_SPARSE, /* WIDE_W with at most 4000 non-zero X per row: any K */
	CF_FILL_TINY,   /* X integers * 2^-140 (subnormal), W integers: exact, FTZ/DAZ not */
	CF_FILL_INT8,   /* int8 special rows and columns: zero, subnormal / tiny amax, huge,
	                 * one non-zero, rounding ties, scales 2^-20..2^60 */
	/* +-Inf, NaN and exact zeros in W, NaN / Inf biases, X rows with zeros, Inf, NaN
	 * where W has them (conform_data.c) */
	CF_FILL_NONFINITE_W
};

struct cf_shape {
	size_t T;
	uint32_t d_model, n_heads, n_kv_heads, head_dim;
};

struct cf_opts {
	uint32_t precision, layout;
	uint32_t threads; /* batch->threads (0 = 1) */
	bool bias, unaligned;
	bool exact;          /* results must match the reference bit for bit */
	size_t x_pad, y_pad; /* row stride minus row width, X and outputs */
	enum cf_fill fill;
	bool prequantized;   /* int8: hand prepare w_i8 + w_scale and w = NULL */
	int x_paged;         /* X between PROT_NONE pages: 1 = ends at one, 2 = starts at one */
	bool x_readonly;     /* with x_paged: X is PROT_READ during the calls */
	int w_paged;         /* each weight, bias, scale array read-only between PROT_NONE
	                      * pages: 1 = ends at one, 2 = starts at one */
	int y_paged;         /* outputs between PROT_NONE pages: 1 = ends at one, 2 = starts */
	unsigned no_bias;    /* with bias: bit p set = projection p has bias NULL */
	size_t struct_extra; /* problem, weights, batch passed with struct_size = sizeof +
	                      * this (zeroed tail), as a newer core would */
	bool w_misalign;     /* w, bias, w_scale start at 4 mod 64, w_i8 at an odd address
	                      * (zero-copy from a mapped file); not with w_paged */
};

struct cf_setup {
	struct cf_shape sh;
	struct cf_opts o;
	uint32_t width[3];
	struct qkv_problem pb;
	struct qkv_weights wt;
	float *w[3];       /* [d_model x width] stored in o.layout */
	float *bias[3];    /* [width] or NULL */
	int8_t *w_i8[3];   /* prequantized: [d_model x width] in o.layout */
	float *w_scale[3]; /* prequantized: [width] */
	void *wmap[4][3];  /* w_paged: mappings of w, bias, w_i8, w_scale */
	size_t wmap_len[4][3];
	void *wraw[4][3];  /* w_misalign: the malloc'd blocks the arrays sit in */
	void *wcopy[4][3]; /* copies: the weights must not change */
	size_t wbytes[4][3];
	void *pb_big, *wt_big;       /* struct_extra: the enlarged structs passed */
	struct cf_gbuf x;            /* [T x d_model], stride d_model + x_pad */
	float *x_copy;               /* [x.total]: X must not change */
	double *ref[3], *bound[3];   /* [T x width]: f64 reference and per-element bound */
	double *ref8[3], *bound8[3]; /* int8 only: exact int8 reference, a few ulps */
	const struct qkv_backend *be;
	void *handle;
	char desc[160]; /* "T=7 K=31 heads=3/3 hd=7 in_out bias ..." for messages */
};

/* Build data and references from `seed`, then prepare. On failure reports, frees
 * what it built and returns false. */
bool cf_setup_init(struct cf_setup *s, const struct qkv_backend *be, const struct cf_shape *sh,
                   const struct cf_opts *o, uint64_t seed, struct cf_report *r);
void cf_setup_free(struct cf_setup *s);
/* A fresh handle for the same problem and weights: release, then prepare again (the
 * data and references stay). On failure reports and returns false; free s as usual. */
bool cf_setup_reprepare(struct cf_setup *s, struct cf_report *r);

/* The outputs of one call of `rows` rows. */
struct cf_out {
	struct cf_gbuf y[3];
};
bool cf_out_alloc(struct cf_out *out, const struct cf_setup *s, size_t rows, struct cf_report *r);
void cf_out_free(struct cf_out *out);

/* project rows [t0, t0 + rows) of X into out; reports a non-OK status. */
bool cf_call(const struct cf_setup *s, size_t t0, size_t rows, struct cf_out *out, uint32_t threads,
             struct cf_report *r);
/* Guards of out and X unchanged. */
bool cf_check_guards(const struct cf_setup *s, const struct cf_out *out, struct cf_report *r);
/* Every element of out (rows from t0) within bound of the references. */
bool cf_check_values(const struct cf_setup *s, size_t t0, const struct cf_out *out,
                     struct cf_report *r);
/* Bit-identical outputs (what = "repeated call 2", "thread 3", ...). */
bool cf_check_same(const struct cf_setup *s, const struct cf_out *a, const struct cf_out *b,
                   const char *what, struct cf_report *r);

/* Give X new values in place (same pointer, same fill, data from `seed`) and remake
 * the references. */
bool cf_setup_refill_x(struct cf_setup *s, uint64_t seed, struct cf_report *r);
/* Weights, biases and scales unchanged since the setup built them. */
bool cf_check_weights(const struct cf_setup *s, const char *when, struct cf_report *r);
/* The weight arrays prepare was given, by kind (w, bias, w_i8, w_scale; wcopy's order)
 * and projection; NULL where there is none. */
void cf_weight_arrays(const struct cf_setup *s, void *arr[4][3]);
/* The statistical accuracy check (f32, bf16): with e = got - ref and
 * m = sum|x*w| + |b|, mean over all elements of (e / (u*sqrt(2K+2)*m))^2 <= 1. */
bool cf_check_stat(const struct cf_setup *s, const struct cf_out *out, double *ms_out,
                   struct cf_report *r);

/* The usual path: init, one call of all rows, guards, values, free. */
bool cf_check_problem(const struct qkv_backend *be, const struct cf_shape *sh,
                      const struct cf_opts *o, uint64_t seed, struct cf_report *r);
/* cf_check_problem on every shape sh[n] in both layouts (o as the template), each
 * problem with its own seed drawn from `seed`. */
bool cf_check_shapes(const struct qkv_backend *be, const struct cf_shape *sh, size_t n,
                     struct cf_opts o, uint64_t seed, struct cf_report *r);
/* The same with a batch budget of `threads` (the problem's stays o->threads). */
bool cf_check_problem_threads(const struct qkv_backend *be, const struct cf_shape *sh,
                              const struct cf_opts *o, uint32_t threads, uint64_t seed,
                              struct cf_report *r);

#define CF_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* True when `be` declares precision p. */
static inline bool cf_declares(const struct qkv_backend *be, int p)
{
	return (be->precisions & QKV_PRECISION_BIT(p)) != 0;
}

/* The precisions `be` declares, in order, into p[QKV_PRECISION_COUNT]; returns how many. */
static inline int cf_declared(const struct qkv_backend *be, int *p)
{
	int n = 0;
	for (int i = 0; i < QKV_PRECISION_COUNT; i++)
		if (cf_declares(be, i))
			p[n++] = i;
	return n;
}

/* The options most cases start from: random data, one thread, packed and aligned. */
static inline struct cf_opts cf_opts_make(int precision, uint32_t layout, bool bias)
{
	struct cf_opts o = {.precision = (uint32_t)precision,
	                    .layout = layout,
	                    .threads = 1,
	                    .bias = bias,
	                    .fill = CF_FILL_RANDOM};
	return o;
}

/* Run before(arg_i) (may be NULL) then work(arg_i), arg_i = args + i * arg_size, on n <= 16
 * new threads that pass a spinning start line together after `before` (conform_together.c).
 * False and a message when a thread could not start (those that did have run). */
bool cf_together(int n, void (*before)(void *), void (*work)(void *), void *args, size_t arg_size,
                 struct cf_report *r);

/* ---- small prepares of the contract checks (conform_prepare.c) ---------------------- */

/* prepare a valid 4 x 2 f32 problem with `precision`, then release whatever it left
 * (after a failure too); returns prepare's status. */
enum qkv_status cf_try_prepare(const struct qkv_backend *be, uint32_t precision, char *err,
                               size_t errlen);
/* A prepare that must fail (precision 0xffffffff) and its release: the error path. */
void cf_failed_prepare(const struct qkv_backend *be);
/* prepare with every undeclared and unknown precision: each must be refused with
 * QKV_ERR_UNSUPPORTED and a message. Returns how many were refused, or -1 (and a
 * message in r) at the first that was not. */
int cf_refuse_unknown(const struct qkv_backend *be, struct cf_report *r);

#endif
