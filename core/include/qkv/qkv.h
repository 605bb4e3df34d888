/* qkv: the attention Q/K/V projections of one transformer layer on run-time backends.
 *
 *     Q = X.Wq (+bq)    K = X.Wk (+bk)    V = X.Wv (+bv)
 *
 * X is [T x d_model] f32, row-major with a row stride. Q is [T x d_q], K and V are
 * [T x d_kv], each with its own row stride, so a runtime can write K and V straight
 * into a KV cache. d_q = n_heads*head_dim, d_kv = n_kv_heads*head_dim.
 *
 * Errors are values: every function that can fail returns enum qkv_status and, when
 * err is not NULL, writes a NUL-terminated message of at most errlen bytes naming the
 * file, line, key or argument at fault. The library never prints, exits or aborts.
 *
 * Thread safety: qkv_model_open* and qkv_model_close may be called from any thread
 * on different models. qkv_project* may be called by many threads at once on one
 * model (the model is immutable after open; per-call scratch belongs to the call).
 * qkv_model_close must not race with calls on the same model.
 */
#ifndef QKV_QKV_H
#define QKV_QKV_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/plugin.h> /* enum qkv_status, qkv_precision, qkv_layout */

#ifdef __cplusplus
extern "C" {
#endif

#define QKV_VERSION_MAJOR 0
#define QKV_VERSION_MINOR 3
#define QKV_VERSION_PATCH 0

#if defined(QKV_BUILDING_LIBRARY)
#define QKV_API __attribute__((visibility("default")))
#else
#define QKV_API
#endif

/* An opened model: weights loaded, backend(s) selected and prepared. Opaque. */
typedef struct qkv_model qkv_model;

/* Static English text for a status ("ok", "invalid argument", ...). Never NULL. */
QKV_API const char *qkv_status_str(enum qkv_status status);

/* "major.minor.patch" of the library. */
QKV_API const char *qkv_version(void);

/* Options for qkv_model_open. Zero-initialise, then set struct_size (or use
 * QKV_OPEN_OPTIONS_INIT). Every member means "not set" when 0/NULL, and then the
 * environment (QKV_BACKEND, QKV_THREADS; QKV_PLUGIN_PATH adds folders), the machine
 * profile and the model config decide, in that order. Precedence: options >
 * environment > machine profile > model config. A thread budget that is still 0 at the
 * end means all cores: OMP_NUM_THREADS when set, else the CPUs of the affinity mask. */
struct qkv_open_options {
	uint32_t struct_size;     /* since 0.1: sizeof(struct qkv_open_options) */
	const char *machine_path; /* since 0.1: machine profile YAML (a `backend:` section) */
	const char *backend;      /* since 0.1: force one backend by name ("blas") */
	int32_t threads;          /* since 0.1: > 0 thread budget; 0 = not set */
	int32_t strict;           /* since 0.1: 1 = any fallback is an error; 0 = not set */
	uint32_t shard_rank;      /* since 0.2: with shard_world: open slice shard_rank */
	uint32_t shard_world;     /* since 0.2: of shard_world (tensor parallelism by heads,
	                           * replaces the config's `shard:`); 0 = not set */
	uint32_t layer_set;       /* since 0.2: 1 = open layer `layer` (replaces the config's
	                           * weights.layer, substituted for {layer} in tensor names) */
	uint32_t layer;           /* since 0.2 */
	const char *precision;    /* since 0.2: "f32", "bf16" or "int8": replaces the config's
	                           * model.precision (f32 weights are rounded or quantized
	                           * at open); NULL = the config's */
	const char *plugin_dirs;  /* since 0.2: extra plugin folders, ':'-separated, searched
	                           * with the config's plugin_dirs (before QKV_PLUGIN_PATH);
	                           * NULL = none */
	uint32_t zero_copy;       /* since 0.3: 1 = only backends that read the weights in place
	                           * from the file (no prepared copy); others are passed over
	                           * with the reason in the selection log; 0 = not set */
};
#define QKV_OPEN_OPTIONS_INIT                                                                      \
	{                                                                                          \
		sizeof(struct qkv_open_options), NULL, NULL, 0, 0, 0, 0, 0, 0, NULL, NULL, 0       \
	}

/* Open a model from a YAML config (see configs/README.md). Weight files are memory
 * mapped read-only and stay mapped until qkv_model_close. On success *out is a
 * model the caller owns and must close; on failure *out is NULL.
 * opts may be NULL. */
QKV_API enum qkv_status qkv_model_open(const char *config_path, const struct qkv_open_options *opts,
                                       qkv_model **out, char *err, size_t errlen);

/* A model described by tensors the caller already holds (for runtimes).
 * Weights are f32 in `layout`; w[p] is [d_model x d_out] (in_out) or
 * [d_out x d_model] (out_in), contiguous. A backend that can use them as they are keeps
 * the pointers (zero copy); one that repacks makes one prepared copy at open. The caller
 * keeps every pointer valid and unchanged until qkv_model_close, unless
 * qkv_model_info.weights_needed is 0 after open: then every backend holds its own copy
 * and the caller may free or reuse the weights and biases (`zero_copy` asks for the
 * other kind: backends that read them in place, no second copy). */
struct qkv_model_desc {
	uint32_t struct_size; /* since 0.1: sizeof(struct qkv_model_desc) */
	uint32_t d_model;     /* since 0.1 */
	uint32_t n_heads;     /* since 0.1 */
	uint32_t n_kv_heads;  /* since 0.1: 0 = n_heads */
	uint32_t head_dim;    /* since 0.1: 0 = d_model / n_heads */
	uint32_t precision;   /* since 0.1: enum qkv_precision */
	uint32_t layout;      /* since 0.1: enum qkv_layout of w[] */
	const float *w[3];    /* since 0.1: Wq, Wk, Wv */
	const float *bias[3]; /* since 0.1: [d_out] each, or NULL */
	/* prefer, threads, strict: the program's choice, never overridden by the environment
	 * (descriptor > QKV_BACKEND / QKV_THREADS > machine_path's profile); NULL / 0 = not
	 * set, and the next source decides. */
	const char *prefer;       /* since 0.1: "blas,openmp,scalar"; NULL = default order */
	int32_t threads;          /* since 0.1: thread budget, 0 = all cores (see
	                           * qkv_open_options) */
	int32_t strict;           /* since 0.1: 1 = fail rather than fall back */
	const char *plugin_dirs;  /* since 0.1: extra plugin folders, ':'-separated, or NULL */
	uint32_t shard_rank;      /* since 0.2: with shard_world > 1, use only slice */
	uint32_t shard_world;     /* since 0.2: shard_rank of shard_world of the heads: the
	                           * dimensions and w[] above describe the whole model; out_in
	                           * rows of the slice are used in place (other rows are
	                           * never read), in_out columns are copied at open.
	                           * 0 or 1 = the whole model */
	const char *machine_path; /* since 0.2: machine profile YAML (`qkv tune`'s output): its
	                           * prefer, threads, strict, plugin_dirs and routes by T
	                           * apply under this descriptor's own values and the
	                           * environment's; NULL = none */
	uint32_t zero_copy;       /* since 0.3: 1 = only backends that read w[] and bias[] in
	                           * place (no prepared copy of the weights); others are
	                           * passed over with the reason in the selection log */
};

/* Initializers for the structs a caller fills or hands in (C99 designated initializers:
 * struct_size set, every other member "not set"; in C++, value-initialise and set
 * struct_size). */
#define QKV_MODEL_DESC_INIT                                                                        \
	{                                                                                          \
		.struct_size = sizeof(struct qkv_model_desc)                                       \
	}

QKV_API enum qkv_status qkv_model_open_memory(const struct qkv_model_desc *desc, qkv_model **out,
                                              char *err, size_t errlen);

/* Close a model; accepts NULL. Not concurrently with calls on the same model. */
QKV_API void qkv_model_close(qkv_model *model);

/* Project T rows. x is [T x d_model] with row stride ldx >= d_model (elements);
 * q [T x d_q] with ldq >= d_q; k, v [T x d_kv] with ldk, ldv >= d_kv. T = 0 writes
 * nothing and succeeds. Only the addressed T x width elements of each output are
 * written. Outputs must not overlap each other or x. Reentrant.
 *
 * Any one or two of q, k, v may be NULL: that projection is not returned (its stride is
 * then ignored), e.g. K and V only for a cache refill or cross-attention. Cost: backends
 * compute q, k and v together, so a NULL output is still computed, into scratch the
 * library allocates for the call (T x its width floats): it saves no arithmetic, only
 * the caller's buffer. All three NULL is an argument error. */
QKV_API enum qkv_status qkv_project(const qkv_model *model, size_t T, const float *x, size_t ldx,
                                    float *q, size_t ldq, float *k, size_t ldk, float *v,
                                    size_t ldv, char *err, size_t errlen);

/* The same into one fused row [q | k | v] of width N = d_q + 2*d_kv per token:
 * y is [T x N] with row stride ldy >= N. */
QKV_API enum qkv_status qkv_project_fused(const qkv_model *model, size_t T, const float *x,
                                          size_t ldx, float *y, size_t ldy, char *err,
                                          size_t errlen);

/* Everything about one call, for callers that need more control. Start from
 * QKV_CALL_INIT (or zero it and set struct_size).
 *
 * Head strides (head-major KV caches): element d of head h of token row t of output p is
 * out[p][t * ld_out[p] + h * head_stride[p] + d], h < the output's heads (n_heads for q,
 * n_kv_heads for k and v), d < head_dim. head_stride 0 or head_dim is the plain row
 * layout (heads side by side; ld_out >= the row width) and is written in place, zero
 * copy. Any other head stride needs ld_out >= head_dim and strides under which no two
 * elements share an address (e.g. a cache [heads][max_T][head_dim] at row t: ld_out =
 * head_dim, head_stride = max_T * head_dim); the output's address range must not overlap
 * x or another output. Cost: the backend writes such an output into per-call scratch
 * (T x its width floats, allocated by the library) that is then copied out head by head,
 * one extra pass over that output. */
struct qkv_call {
	uint32_t struct_size;  /* since 0.1 */
	size_t T;              /* since 0.1 */
	const float *x;        /* since 0.1 */
	size_t ldx;            /* since 0.1 */
	float *out[3];         /* since 0.1: q, k, v; any may be NULL (see qkv_project) */
	size_t ld_out[3];      /* since 0.1 */
	int32_t threads;       /* since 0.1: > 0 use this many threads for this call (e.g.
	                        * the caller's own count); 0 = the model's budget */
	size_t head_stride[3]; /* since 0.2: elements between heads of out[p]; 0 = head_dim */
};

#define QKV_CALL_INIT                                                                              \
	{                                                                                          \
		.struct_size = sizeof(struct qkv_call)                                             \
	}

QKV_API enum qkv_status qkv_project_call(const qkv_model *model, const struct qkv_call *call,
                                         char *err, size_t errlen);

/* A description of an opened model. Strings are owned by the model and valid until
 * qkv_model_close. */
struct qkv_model_info {
	uint32_t struct_size; /* since 0.1: set by the caller */
	uint32_t d_model, n_heads, n_kv_heads, head_dim, d_q, d_kv; /* since 0.1 */
	uint32_t precision;          /* since 0.1: enum qkv_precision */
	uint32_t threads;            /* since 0.1: resolved thread budget */
	const char *backend;         /* since 0.1: name of the backend serving all T (or the
	                              * first route when tuned per T) */
	const char *backend_version; /* since 0.1 */
	const char *backend_path;    /* since 0.1: the plugin file */
	const char *backend_detail;  /* since 0.1: what its probe said (kernel, library) */
	const char *selection_log;   /* since 0.1: one line per candidate considered:
	                              * "name: selected" or "name: passed over: reason" */
	/* Head shard (tensor parallelism). n_heads, n_kv_heads, d_q and d_kv above count
	 * the slice this model computes; without a shard the slice is the whole model. */
	uint32_t shard_rank, shard_world;         /* since 0.2: world 1 = not sharded */
	uint32_t q_head_begin, kv_head_begin;     /* since 0.2: first global head of the
	                                           * slice's query / K/V heads */
	uint32_t model_n_heads, model_n_kv_heads; /* since 0.2: the whole model's heads */
	uint64_t weight_bytes; /* since 0.2: weight bytes this model reads and keeps (the
	                        * loader's count: mapped pages it touches and copies it
	                        * owns; the slice only when sharded; backends' prepared
	                        * copies not included) */
	uint32_t wtype[3];     /* since 0.2: enum qkv_wtype (<qkv/wtype.h>) of the q, k, v weights
	                        * as the backend gets them (QKV_WT_F32 unless precision stored) */
	uint64_t wbytes[3];    /* since 0.2: bytes of each projection's weights as held */
	uint32_t in_place;     /* since 0.2: bit p set when projection p's weights were handed
	                        * to the backend in place from the mapped file or the caller's
	                        * memory (no copy by the core; whether the backend still reads
	                        * them after open: weights_needed) */
	const char *order;     /* since 0.2: the backend order in force: "openmp, blas, ..." */
	const char *order_source;      /* since 0.2: where it came from: "the default", "the model
	                                * config (backend.prefer)", "the machine profile", "the
	                                * environment (QKV_BACKEND)", "the API ..." */
	uint32_t n_files;              /* since 0.3: weight files the open read (0 for a model from
	                                * qkv_model_open_memory) */
	const char *const *file;       /* since 0.3: [n_files] their paths, as opened (a sharded
	                                * checkpoint: its index, then each shard used) */
	const char *const *file_types; /* since 0.3: [n_files] the on-disk types of the
	                                * tensors read from each, ", "-separated in first-use
	                                * order ("F16"; "Q4_K, F32" for a GGUF with f32
	                                * biases), or "index" for a sharded checkpoint's index */
	/* Memory after open (docs/DESIGN.md "Memory"): */
	uint64_t bytes_prepared;   /* since 0.3: bytes the backend(s) made at prepare and hold
	                            * (packed or quantized weights, copies, caches) */
	uint32_t prepared_known;   /* since 0.3: 0 when a backend does not report it (ABI < 1.2):
	                            * bytes_prepared then counts only those that do */
	uint32_t weights_needed;   /* since 0.3: 1 when a backend reads the weights it was given
	                            * for the model's life; 0: a program that gave them from
	                            * memory may free them after open */
	uint64_t bytes_in_place;   /* since 0.3: weight bytes the backend(s) read in place from
	                            * the file or the caller's memory (0 when not needed) */
	uint32_t weights_released; /* since 0.3: 1 when the core let go of the weights it loaded
	                            * (file pages dropped, widened copies freed) after prepare */
};

#define QKV_MODEL_INFO_INIT                                                                        \
	{                                                                                          \
		.struct_size = sizeof(struct qkv_model_info)                                       \
	}

QKV_API enum qkv_status qkv_model_get_info(const qkv_model *model, struct qkv_model_info *info);

/* Which backend a call with T rows will use (models tuned per range of T route by T). */
QKV_API const char *qkv_model_backend_for(const qkv_model *model, size_t T);

/* ---- For tools (qkv info, bench, quantize) and runtimes that list what is there ---- */

/* This machine as the library sees it. Strings are static, valid for the process. */
struct qkv_system_info {
	uint32_t struct_size;     /* since 0.2: set by the caller */
	const char *cpu_name;     /* since 0.2: "Intel(R) Xeon(R) ..." or "unknown" */
	const char *cpu_features; /* since 0.2: SIMD features CPUID and the OS allow, space-
	                           * separated (<qkv/cpu_features.h>'s string); "" = none */
	uint32_t cpus;            /* since 0.2: logical CPUs this process may run on */
};

#define QKV_SYSTEM_INFO_INIT                                                                       \
	{                                                                                          \
		.struct_size = sizeof(struct qkv_system_info)                                      \
	}

/* Fill what info->struct_size covers. QKV_ERR_ARGUMENT when info is NULL or its
 * struct_size is smaller than the 0.2 struct. */
QKV_API enum qkv_status qkv_system_get_info(struct qkv_system_info *info);

/* The backend plugins on the search path, each loaded and probed, as the registry sees
 * them (files it refuses are listed with the reason). Opaque; the plugins stay loaded
 * until qkv_plugins_free. */
typedef struct qkv_plugin_set qkv_plugin_set;

struct qkv_plugin_info {
	uint32_t struct_size; /* since 0.2: set by the caller */
	const char *path;     /* since 0.2: the plugin file */
	const char *name;     /* since 0.2: backend name; NULL when the file was refused */
	const char *version;  /* since 0.2: NULL when refused */
	uint32_t precisions;  /* since 0.2: QKV_PRECISION_BIT mask it declares */
	int32_t score;        /* since 0.2: probe score; > 0 = runs on this machine */
	const char *detail;   /* since 0.2: what the probe said, or why the file was refused */
	const struct qkv_backend *backend; /* since 0.2: its descriptor (NULL when refused),
	                                    * for calling a backend without the core */
};

#define QKV_PLUGIN_INFO_INIT                                                                       \
	{                                                                                          \
		.struct_size = sizeof(struct qkv_plugin_info)                                      \
	}

/* Every qkv_*.so on the search path: plugin_dirs (':'-separated, may be NULL) first,
 * then QKV_PLUGIN_PATH, the build tree (when libqkv runs from it), the install folder.
 * A file name found in two folders is listed once, from the first (the one models
 * use). QKV_ERR_NOMEM is the only failure. */
QKV_API enum qkv_status qkv_plugins_scan(const char *plugin_dirs, qkv_plugin_set **out, char *err,
                                         size_t errlen);
/* A set of the one plugin file `path` (refused or not: see its info). */
QKV_API enum qkv_status qkv_plugins_load(const char *path, qkv_plugin_set **out, char *err,
                                         size_t errlen);
QKV_API size_t qkv_plugins_count(const qkv_plugin_set *set);
/* Folder i of the search path that was scanned; NULL past the end (or for _load). */
QKV_API const char *qkv_plugins_dir(const qkv_plugin_set *set, size_t i);
/* Fill what info->struct_size covers about plugin i. QKV_ERR_ARGUMENT past the end. */
QKV_API enum qkv_status qkv_plugins_get(const qkv_plugin_set *set, size_t i,
                                        struct qkv_plugin_info *info);
/* Index of the first usable (loaded) plugin named `name`, or -1. When there is none and
 * `near` is not NULL, *near is the loaded plugin name closest to `name` (at most two
 * edits away) or NULL. */
QKV_API long qkv_plugins_find(const qkv_plugin_set *set, const char *name, const char **near);
QKV_API void qkv_plugins_free(qkv_plugin_set *set);

/* The candidate nearest to `name` when `name` looks like a typo of it, or NULL: the
 * library's one rule for "did you mean" (at most 2 edits, and fewer than half the name),
 * for tools that check names of their own (options, keys). */
QKV_API const char *qkv_near_name(const char *name, const char *const *candidates, size_t n);

/* A model config read without selecting a backend: its dimensions and, with
 * QKV_CHECKPOINT_WEIGHTS, its weights as the loader hands them to backends. */
typedef struct qkv_checkpoint qkv_checkpoint;
#define QKV_CHECKPOINT_WEIGHTS 1u

struct qkv_checkpoint_info {
	uint32_t struct_size;                                       /* since 0.2 */
	uint32_t d_model, n_heads, n_kv_heads, head_dim, d_q, d_kv; /* since 0.2 */
	uint32_t precision;         /* since 0.2: enum qkv_precision */
	uint32_t layout;            /* since 0.2: enum qkv_layout of the weights */
	const char *tensor[3];      /* since 0.2: source tensor names of Wq, Wk, Wv (a fused
	                             * q|k|v tensor's name three times), or NULL (npy, raw);
	                             * {layer} substituted when a layer is set (the config's
	                             * weights.layer or qkv_checkpoint_open_layer) */
	const char *bias_tensor[3]; /* since 0.2 */
	const float *w[3];          /* since 0.2: f32 weights (loaded only; NULL when int8) */
	const float *bias[3];       /* since 0.2: or NULL */
	uint32_t n_layers;  /* since 0.2: model.n_layers, or GGUF <arch>.block_count; 0 = unknown */
	uint32_t layer_set; /* since 0.2: 1 = the config sets weights.layer: */
	uint32_t layer;     /* since 0.2 */
	const char *tensor_pattern[3]; /* since 0.2: tensor[] as the config writes them, with
	                                * {layer} (the same as tensor[] without it) */
	const char *bias_pattern[3];   /* since 0.2: the same for bias_tensor[] */
};

#define QKV_CHECKPOINT_INFO_INIT                                                                   \
	{                                                                                          \
		.struct_size = sizeof(struct qkv_checkpoint_info)                                  \
	}

QKV_API enum qkv_status qkv_checkpoint_open(const char *config_path, uint32_t flags,
                                            qkv_checkpoint **out, char *err, size_t errlen);
/* The same for layer `layer` of a config whose tensor names hold {layer} (replacing its
 * weights.layer, as qkv_open_options.layer does); refused when the config knows n_layers
 * and layer is not below it. */
QKV_API enum qkv_status qkv_checkpoint_open_layer(const char *config_path, uint32_t layer,
                                                  uint32_t flags, qkv_checkpoint **out, char *err,
                                                  size_t errlen);
QKV_API enum qkv_status qkv_checkpoint_get_info(const qkv_checkpoint *ck,
                                                struct qkv_checkpoint_info *info);
QKV_API void qkv_checkpoint_close(qkv_checkpoint *ck);

/* Read a .npy array of float32 or float16 with 1 or 2 dimensions ([n] is one row) as
 * float32: *data [rows x cols], freed with qkv_array_free. Errors name the file:
 * QKV_ERR_IO when it cannot be read (or is not a regular file), QKV_ERR_UNSUPPORTED for
 * a well-formed array of another dtype (float64, int8, int32, big-endian, ...: the
 * message lists the dtypes read), QKV_ERR_FORMAT for a header that is not valid .npy. */
QKV_API enum qkv_status qkv_npy_read_f32(const char *path, float **data, uint64_t *rows,
                                         uint64_t *cols, char *err, size_t errlen);
QKV_API void qkv_array_free(float *data);

#ifdef __cplusplus
}
#endif
#endif /* QKV_QKV_H */
