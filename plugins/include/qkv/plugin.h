/* qkv plugin ABI: the one header a backend needs.
 *
 * A backend is a shared object that exports exactly one symbol, the data object
 * QKV_BACKEND_SYMBOL, of type `const struct qkv_backend`. The core reads its ABI
 * fields before it calls any function of the plugin.
 *
 * Versioning (SQLite style): within one ABI major, structs only grow by appending
 * members; every member says the minor it arrived in. Each struct that crosses the
 * boundary starts with `struct_size`, so either side reads a member only when
 * struct_size covers it. A different major is refused by the loader.
 *
 * Ownership: the core owns the problem, the weights and the batch (and every array
 * they point to); a backend owns what its `prepare` returns until `release`.
 * Errors are values: a status and a message written into the caller's buffer. A
 * backend never prints, exits or aborts.
 *
 * This header is C11 and includes nothing from the core.
 */
#ifndef QKV_PLUGIN_H
#define QKV_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QKV_PLUGIN_ABI_MAJOR 1
#define QKV_PLUGIN_ABI_MINOR 2

/* Name of the one exported symbol: `const struct qkv_backend qkv_backend_descriptor`. */
#define QKV_BACKEND_SYMBOL "qkv_backend_descriptor"

#if defined(_WIN32)
#define QKV_PLUGIN_EXPORT __declspec(dllexport)
#else
#define QKV_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Struct growth. Every struct that crosses the boundary starts with `struct_size`;
 * a member may be read only when that size covers it:
 *
 *     if (QKV_HAS_MEMBER(pb, struct qkv_problem, threads)) use(pb->threads);
 *
 * QKV_SIZE_THROUGH(type, member) is the smallest struct_size that covers `member`:
 * the size an older caller built when `member` was the last one (e.g. the 1.0 size of
 * struct qkv_batch is QKV_SIZE_THROUGH(struct qkv_batch, ld_out)). Check the members a
 * side needs, never `struct_size >= sizeof(...)`: that refuses every older peer. */
#define QKV_SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))
#define QKV_HAS_MEMBER(ptr, type, member)                                                          \
	((size_t)(ptr)->struct_size >= QKV_SIZE_THROUGH(type, member))

/* Most threads the core passes in qkv_problem.threads and qkv_batch.threads, and the
 * largest thread count any option, variable or profile may ask for. */
#define QKV_MAX_THREADS 1024

/* Status codes shared by the plugin ABI and the public API (<qkv/qkv.h>).
 * Values are fixed forever; new codes are appended. */
enum qkv_status {
	QKV_OK = 0,
	QKV_ERR_ARGUMENT = 1,    /* a pointer, size or stride is invalid */
	QKV_ERR_NOMEM = 2,       /* an allocation failed */
	QKV_ERR_IO = 3,          /* a file could not be opened, read or mapped */
	QKV_ERR_CONFIG = 4,      /* a YAML config or machine profile is invalid */
	QKV_ERR_FORMAT = 5,      /* a weight file is malformed or does not match the config */
	QKV_ERR_PLUGIN = 6,      /* no usable backend plugin (load, ABI, probe) */
	QKV_ERR_UNSUPPORTED = 7, /* valid request the backend or machine cannot serve */
	QKV_ERR_BACKEND = 8,     /* a backend failed while computing */
	QKV_ERR_INTERNAL = 9     /* a bug in qkv: please report */
};

/* Precisions (docs/DESIGN.md "Precision"; their names and the int8 limits are in
 * <qkv/precision.h>). A backend declares a bitmask of QKV_PRECISION_BIT(p) in
 * `qkv_backend.precisions`. */
enum qkv_precision {
	QKV_F32 = 0,   /* f32 weights, f32 arithmetic in any order, f32 out */
	QKV_BF16 = 1,  /* weights rounded to bf16 (nearest-even), X stays f32, f32 accumulate */
	QKV_INT8 = 2,  /* per-column int8 weights, per-row int8 X, exact int32 accumulate */
	QKV_STORED = 3 /* since 1.1: each projection's weights in their stored type
	                * (qkv_problem.wtype, <qkv/wtype.h>): f32/f16/bf16 with f32 X, or
	                * block-quantized with X quantized per block, exact integer block sums */
};
#define QKV_PRECISION_COUNT 4
#define QKV_PRECISION_BIT(p) (1u << (unsigned)(p))

/* Layout of a weight matrix in memory. */
enum qkv_layout {
	QKV_LAYOUT_IN_OUT = 0, /* W[k][n] at w[k*d_out + n]: [d_model x d_out], y = x.W */
	QKV_LAYOUT_OUT_IN = 1  /* W[k][n] at w[n*d_model + k]: [d_out x d_model], nn.Linear */
};

/* Index of the three projections in every array of three below. */
enum qkv_proj { QKV_Q = 0, QKV_K = 1, QKV_V = 2 };

/* The one-letter name of a projection ("q", "k" or "v"; "?" out of range), the name every
 * message, file and table uses for it. */
static inline const char *qkv_proj_name(unsigned p)
{
	return p == QKV_Q ? "q" : p == QKV_K ? "k" : p == QKV_V ? "v" : "?";
}

/* The shape of one layer's projection, validated by the core before a backend sees it.
 * d_model, n_heads, n_kv_heads, head_dim >= 1; n_heads % n_kv_heads == 0;
 * d_q = n_heads*head_dim, d_kv = n_kv_heads*head_dim; every product fits in
 * 32 bits and d_model*(d_q + 2*d_kv) fits in size_t; for int8, d_model <=
 * QKV_INT8_MAX_D_MODEL (<qkv/precision.h>), so the int32 accumulator cannot overflow.
 * threads is in 1..QKV_MAX_THREADS. */
struct qkv_problem {
	uint32_t struct_size; /* since 1.0: sizeof(struct qkv_problem) of the core */
	uint32_t precision;   /* since 1.0: enum qkv_precision, one the backend declares */
	uint32_t d_model;     /* since 1.0: K, length of an input row */
	uint32_t n_heads;     /* since 1.0 */
	uint32_t n_kv_heads;  /* since 1.0: GQA when < n_heads */
	uint32_t head_dim;    /* since 1.0 */
	uint32_t d_q;         /* since 1.0: n_heads * head_dim, width of Q */
	uint32_t d_kv;        /* since 1.0: n_kv_heads * head_dim, width of K and V */
	uint32_t threads;     /* since 1.0: the model's thread budget, >= 1 */
	uint32_t wtype[3];    /* since 1.1: enum qkv_wtype (<qkv/wtype.h>) of each projection's
	                       * weights; all QKV_WT_F32 unless precision is QKV_STORED. Under
	                       * QKV_STORED, d_model is a multiple of each type's block. */
};

/* Weights handed to `prepare`. They stay valid and unchanged until `release`
 * (the core keeps them mapped), so a backend may use them in place (zero copy)
 * instead of copying. w[p] has shape [d_model x d_out(p)] read through `layout`,
 * where d_out(Q) = d_q and d_out(K) = d_out(V) = d_kv. */
struct qkv_weights {
	uint32_t struct_size;    /* since 1.0 */
	uint32_t layout;         /* since 1.0: enum qkv_layout of w[] and w_i8[] */
	const float *w[3];       /* since 1.0: f32 weights; NULL only when w_i8 is set */
	const float *bias[3];    /* since 1.0: [d_out] each, or NULL for no bias */
	const int8_t *w_i8[3];   /* since 1.0: pre-quantized int8 weights in [-127, 127]
	                          * (precision int8 only), else NULL */
	const float *w_scale[3]; /* since 1.0: [d_out] per-column scales for w_i8, else NULL */
	const void *w_blk[3];    /* since 1.1: precision QKV_STORED, wtype[p] != QKV_WT_F32: the
	                          * weights as stored, layout out_in only: row n (output n) at
	                          * w_blk[p] + n * qkv_wtype_row_bytes(wtype[p], d_model), 2-byte
	                          * aligned; w[p] is then NULL. F32 weights stay in w[p]. */
};

/* One call: Q = X.Wq (+bq), K = X.Wk (+bk), V = X.Wv (+bv). Strides are in
 * elements (floats) between consecutive rows; pointers need only float alignment.
 * Outputs never overlap each other or X within the rows written. Only the
 * T x d_out elements addressed through (out[p], ld_out[p]) may be written. */
struct qkv_batch {
	uint32_t struct_size; /* since 1.0 */
	uint32_t threads;     /* since 1.0: thread budget for this call, 1..QKV_MAX_THREADS */
	size_t T;             /* since 1.0: rows; 0 means nothing to do */
	const float *x;       /* since 1.0: X [T x d_model], row stride ldx >= d_model */
	size_t ldx;           /* since 1.0 */
	float *out[3];        /* since 1.0: Q [T x d_q], K [T x d_kv], V [T x d_kv] */
	size_t ld_out[3];     /* since 1.0: row strides, >= the row width */
};

/* What `probe` reports about this machine. */
struct qkv_probe_result {
	uint32_t struct_size; /* since 1.0: set by the core */
	int32_t score;        /* since 1.0: > 0 usable here (higher is expected faster); 0 not */
	char detail[256];     /* since 1.0: why not, or what it will use (kernel, ISA, library) */
};

/* What a prepared handle holds (since 1.2, `qkv_backend.memory`). The core lets go of the
 * weights it loaded from a file once no handle reads them, and tells a caller that gave
 * weights from memory whether it may free them (qkv_model_info.weights_needed). */
struct qkv_handle_memory {
	uint32_t struct_size;   /* since 1.2: set by the core */
	uint32_t keeps_weights; /* since 1.2: 1 when project reads through the qkv_weights
	                         * pointers prepare was given (weights, biases, scales: any
	                         * of them); 0 when the handle holds everything it needs */
	uint64_t bytes_made;    /* since 1.2: bytes the handle allocated and holds (packed or
	                         * quantized weights, copies of biases, caches), 0 for none */
};

/* The descriptor a plugin exports as QKV_BACKEND_SYMBOL. The core checks, in order
 * (qkv_descriptor_check below): abi_major == QKV_PLUGIN_ABI_MAJOR, struct_size covers the
 * 1.0 members, name matches [a-z0-9_]{1,31}, a non-empty version, precisions declares one
 * this header knows (and no unknown one unless built for a newer minor), and
 * probe/prepare/project/release are non-NULL.
 *
 * Thread safety: `probe` may be called from any thread. `prepare` and `release` are
 * called once per handle. `project` is reentrant: many threads may call it at the
 * same time on one prepared handle with different outputs; a backend keeps no
 * mutable global state and allocates per-call scratch per call. One exception is
 * allowed: process-wide scheduling hints held in atomics that change only how many
 * threads later calls use, never a result (the openmp backend's back-off after a
 * stalled join, backends/openmp/README.md; its partitions never split K, so every
 * thread count gives the same bits). */
struct qkv_backend {
	uint32_t abi_major;   /* since 1.0: QKV_PLUGIN_ABI_MAJOR the plugin was built with */
	uint32_t abi_minor;   /* since 1.0: QKV_PLUGIN_ABI_MINOR the plugin was built with */
	uint32_t struct_size; /* since 1.0: sizeof(struct qkv_backend) the plugin was built with */
	uint32_t precisions;  /* since 1.0: mask of QKV_PRECISION_BIT() it computes */
	const char *name;     /* since 1.0: [a-z0-9_]{1,31}, the name configs use */
	const char *version;  /* since 1.0: free text, e.g. "1.0.0" */

	/* since 1.0: can this backend run on this CPU and OS? Fills `out`. */
	void (*probe)(struct qkv_probe_result *out);

	/* since 1.0: take validated weights once (repack, quantize, or keep pointers);
	 * on success *handle is the backend's. On failure returns non-OK, writes a
	 * message into err[errlen], and *handle may be NULL or half built: the core then
	 * calls release(*handle). Must refuse a precision it does not declare with
	 * QKV_ERR_UNSUPPORTED. */
	enum qkv_status (*prepare)(const struct qkv_problem *problem,
	                           const struct qkv_weights *weights, void **handle, char *err,
	                           size_t errlen);

	/* since 1.0: compute one batch. Reentrant (see above). */
	enum qkv_status (*project)(const void *handle, const struct qkv_batch *batch, char *err,
	                           size_t errlen);

	/* since 1.0: free a handle; accepts NULL and half-built handles. */
	void (*release)(void *handle);

	/* since 1.1: with QKV_PRECISION_BIT(QKV_STORED) declared, the mask of
	 * QKV_WTYPE_BIT(enum qkv_wtype) it computes; the core gives it only problems whose
	 * three types are in the mask. A descriptor without this member (1.0) or 0 means
	 * QKV_WT_F32 only. */
	uint32_t wtypes;

	/* since 1.2, may be NULL: what a prepared handle holds (struct qkv_handle_memory).
	 * Called once after a successful prepare, from the thread that prepared it. A
	 * descriptor without it counts as keeping the weights and making nothing known. */
	void (*memory)(const void *handle, struct qkv_handle_memory *out);
};

/* The one check of a descriptor, used by the core's loader and by the conformance harness,
 * in the loader's order. Returns the first fault (codes, for control flow; each side words
 * its own message).
 *
 * Unknown precision bits: a plugin built for a newer 1.x minor may declare precisions this
 * header does not know; it is accepted (SQLite-style growth: a newer plugin runs on an older
 * core) and simply never asked for them. From a plugin built for this minor or an older one,
 * a bit for a precision that did not exist in its minor is a mistake (a 1.0 plugin cannot
 * know what `stored` hands it): refused. plugins/README.md section 1 says the same. */
#define QKV_BACKEND_NAME_MAX 31 /* name is [a-z0-9_]{1,31} */
#define QKV_PRECISIONS_KNOWN ((1u << QKV_PRECISION_COUNT) - 1u)

/* The precisions that existed in ABI 1.`minor` (all this header knows for a newer minor):
 * one row per precision, the minor it arrived in. */
static inline uint32_t qkv_precisions_at_minor(uint32_t minor)
{
	static const unsigned char since[QKV_PRECISION_COUNT] = {0, 0, 0, 1}; /* f32 .. stored */
	uint32_t mask = 0;
	for (unsigned p = 0; p < QKV_PRECISION_COUNT; p++)
		if (since[p] <= minor)
			mask |= QKV_PRECISION_BIT(p);
	return mask;
}

enum qkv_descriptor_fault {
	QKV_DESCRIPTOR_OK = 0,
	QKV_DESCRIPTOR_NULL = 1,
	QKV_DESCRIPTOR_ABI_MAJOR = 2,         /* abi_major != QKV_PLUGIN_ABI_MAJOR */
	QKV_DESCRIPTOR_STRUCT_SIZE = 3,       /* struct_size does not cover the 1.0 members */
	QKV_DESCRIPTOR_NAME = 4,              /* name NULL or not [a-z0-9_]{1,31} */
	QKV_DESCRIPTOR_VERSION = 5,           /* version NULL or empty */
	QKV_DESCRIPTOR_NO_PRECISION = 6,      /* no precision this header knows */
	QKV_DESCRIPTOR_UNKNOWN_PRECISION = 7, /* a bit its minor did not have, not a newer minor */
	QKV_DESCRIPTOR_MEMBERS = 8            /* probe, prepare, project or release is NULL */
};

/* 1 when `name` matches [a-z0-9_]{1,31}, else 0. */
static inline int qkv_backend_name_ok(const char *name)
{
	size_t n = 0;
	if (!name)
		return 0;
	for (; name[n]; n++) {
		char c = name[n];
		if (n >= QKV_BACKEND_NAME_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return n > 0;
}

static inline enum qkv_descriptor_fault qkv_descriptor_check(const struct qkv_backend *be)
{
	if (!be)
		return QKV_DESCRIPTOR_NULL;
	if (be->abi_major != QKV_PLUGIN_ABI_MAJOR)
		return QKV_DESCRIPTOR_ABI_MAJOR;
	if (!QKV_HAS_MEMBER(be, struct qkv_backend, release))
		return QKV_DESCRIPTOR_STRUCT_SIZE;
	if (!qkv_backend_name_ok(be->name))
		return QKV_DESCRIPTOR_NAME;
	if (!be->version || !be->version[0])
		return QKV_DESCRIPTOR_VERSION;
	if (!(be->precisions & QKV_PRECISIONS_KNOWN))
		return QKV_DESCRIPTOR_NO_PRECISION;
	if (be->abi_minor <= QKV_PLUGIN_ABI_MINOR &&
	    (be->precisions & ~qkv_precisions_at_minor(be->abi_minor)))
		return QKV_DESCRIPTOR_UNKNOWN_PRECISION;
	if (!be->probe || !be->prepare || !be->project || !be->release)
		return QKV_DESCRIPTOR_MEMBERS;
	return QKV_DESCRIPTOR_OK;
}

#ifdef __cplusplus
}
#endif
#endif /* QKV_PLUGIN_H */
