/* The model: a validated problem, its weights, and the prepared backend(s) that serve
 * calls, routed by T when a tuned machine profile says so. Internal to the core. */
#ifndef QKV_CORE_MODEL_H
#define QKV_CORE_MODEL_H

#include <qkv/qkv.h>

#include "config.h"
#include "registry.h"
#include "shard.h"
#include "weights.h"

/* One prepared backend and the range of T it serves (all T for the default route). */
struct qkv_model_route {
	uint64_t t_min, t_max;
	struct qkv_plugin *plugin;    /* shared, refcounted */
	void *handle;                 /* the plugin's prepared weights */
	bool owns_handle;             /* false when it reuses another route's handle */
	struct qkv_handle_memory mem; /* what the handle holds (keeps_weights 1 when unknown) */
	bool mem_known;               /* the plugin has `memory` (ABI 1.2) */
};

struct qkv_model {
	struct qkv_problem pb;
	struct qkv_weights wt;
	struct qkv_loaded_weights lw; /* files and buffers behind wt (config opens only) */
	bool has_lw;
	struct qkv_model_route def; /* serves every T no route claims */
	struct qkv_model_route routes[QKV_CONFIG_MAX_LIST];
	size_t n_routes;
	char *log;                 /* selection log, one line per candidate */
	const char *prefer_source; /* static: where the backend list came from (model_open.c) */
	char order[400];           /* the backend list in force, ", "-separated */
	size_t log_len, log_cap;
	struct qkv_shard shard; /* the slice pb describes (world 1 = whole model) */
	uint32_t model_n_heads, model_n_kv_heads; /* the whole model's heads */
	size_t weight_bytes; /* weight bytes read and kept (see qkv_model_info) */
	/* The weights as the backends were given them (weights_info), recorded before the
	 * core lets them go (qkv_model_let_go_weights). */
	uint32_t wtype[3];
	uint64_t wbytes[3];
	uint32_t in_place;
	bool weights_released; /* no handle reads them: file pages dropped, copies freed */
	bool zero_copy;        /* only backends that read the weights in place (open option) */
};

/* After selection: record what the backends were given, and when no prepared handle
 * reads the weights, let go of what the core loaded for them (weights.h
 * qkv_weights_let_go); m->wt's pointers are cleared then. */
void qkv_model_let_go_weights(struct qkv_model *m);

/* Check dimensions (dims.h, the rules configs are checked by too) and fill the problem. */
enum qkv_status qkv_problem_init(struct qkv_problem *pb, uint32_t d_model, uint32_t n_heads,
                                 uint32_t n_kv_heads, uint32_t head_dim, uint32_t precision,
                                 char *err, size_t errlen);

struct qkv_cpu_features;
/* The default backend order on a CPU with features f (<qkv/cpu_features.h>) into
 * out[max]; returns the count. On AMX machines onednn comes before int8. */
size_t qkv_default_order(const struct qkv_cpu_features *f, const char *out[], size_t max);

/* Select and prepare backends for m->pb and m->wt following `bc`, whose values are
 * final (config < machine profile < environment < options, see model_open.c).
 * m->pb.threads must be set. On failure the model keeps what it allocated;
 * qkv_model_close frees it. */
enum qkv_status qkv_model_select(struct qkv_model *m, const struct qkv_backend_cfg *bc, char *err,
                                 size_t errlen);

/* Apply the environment (QKV_BACKEND, QKV_THREADS; QKV_PLUGIN_PATH is read by the
 * search path) and then the caller's options to `bc`. Errors name the variable or
 * the option. */
enum qkv_status qkv_backend_cfg_override(struct qkv_model *m, struct qkv_backend_cfg *bc,
                                         const struct qkv_open_options *opts, char *err,
                                         size_t errlen);

/* Replace bc->prefer with the names of a comma-separated list; `what` names the
 * source in errors ("QKV_BACKEND", "option `backend`"). */
enum qkv_status qkv_prefer_parse(struct qkv_backend_cfg *bc, const char *list, const char *what,
                                 char *err, size_t errlen);

/* Head shards (model_shard.c). The open option `shard_world`/`shard_rank`, when set,
 * replaces cfg's `shard:` (errors name the option). */
enum qkv_status qkv_shard_options(struct qkv_config *cfg, const struct qkv_open_options *opts,
                                  char *err, size_t errlen);
/* qkv_problem_init for slice rank/world (world 0 or 1 = whole model): m->pb gets the
 * slice's heads, m->shard the plan. `what` prefixes the shard's key in errors. */
enum qkv_status qkv_shard_problem(struct qkv_model *m, uint32_t d_model, uint32_t n_heads,
                                  uint32_t n_kv_heads, uint32_t head_dim, uint32_t precision,
                                  uint32_t rank, uint32_t world, const char *what, char *err,
                                  size_t errlen);
/* m->wt from a descriptor's whole-model tensors, cut to m->shard. */
enum qkv_status qkv_shard_desc_weights(struct qkv_model *m, const struct qkv_model_desc *d,
                                       uint64_t full_d_q, uint64_t full_d_kv, char *err,
                                       size_t errlen);
/* The since-0.2 shard members of info, when its struct_size has them. */
void qkv_shard_info(const struct qkv_model *m, struct qkv_model_info *info);

/* The route serving T rows: a tuned range that holds T, else the default. */
const struct qkv_model_route *qkv_model_route_for(const qkv_model *m, size_t T);

/* Allocate an empty model (unset values -1). */
struct qkv_model *qkv_model_new(void);

/* Append a line to the selection log (ignored on allocation failure). */
void qkv_model_log(struct qkv_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
