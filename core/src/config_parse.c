/* Step 2 of reading a config: node tree -> plain structs.
 *
 * Here each key is looked up in the schema (unknown keys are refused with the closest
 * valid key as a hint; duplicates are refused) and each value is checked for its
 * type, its syntax and its range. Rules that involve several keys (defaults, shapes,
 * formats, route overlaps) are the next step's, in config_validate.c. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "util.h"

static const char *kind_name(const struct cfg_node *n)
{
	if (n->kind == CFG_MAP)
		return "a mapping";
	if (n->kind == CFG_SEQ)
		return "a list";
	return n->plain ? "a plain value" : "a quoted string";
}

/* Levenshtein distance, capped: only small distances matter for hints. */
static size_t edit_distance(const char *a, size_t la, const char *b)
{
	size_t lb = strlen(b);
	size_t row[40];
	if (la >= 39 || lb >= 39)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* `map` must be a mapping whose keys are all in keys[n] (n <= 32), each at most once.
 * `hint` (may be NULL) is added to the unknown-key message. */
static enum qkv_status check_keys(const struct cfg_ctx *c, const struct cfg_node *map,
                                  struct cfg_path *path, const char *const *keys, size_t n,
                                  const char *hint)
{
	char shown[48];
	if (map->kind != CFG_MAP)
		return cfg_fail(c, map->mark, path->buf, QKV_ERR_CONFIG,
		                "expected a mapping of keys, got %s", kind_name(map));
	uint32_t seen = 0;
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct cfg_node *k = map->kids[i];
		size_t found = n;
		for (size_t j = 0; j < n; j++)
			if (k->len == strlen(keys[j]) && strcmp(k->str, keys[j]) == 0)
				found = j;
		cfg_show(k->str, k->len, shown, sizeof(shown));
		enum qkv_status st = QKV_OK;
		cfg_path_key(path, shown);
		if (found == n) {
			size_t best = 3, best_j = n;
			for (size_t j = 0; j < n; j++) {
				size_t d = edit_distance(k->str, k->len, keys[j]);
				if (d < best) {
					best = d;
					best_j = j;
				}
			}
			if (best_j < n)
				st = cfg_fail(c, k->mark, path->buf, QKV_ERR_CONFIG,
				              "unknown key `%s` (did you mean `%s`?)", shown,
				              keys[best_j]);
			else
				st = cfg_fail(c, k->mark, path->buf, QKV_ERR_CONFIG,
				              "unknown key `%s`%s%s", shown, hint ? " " : "",
				              hint ? hint : "");
		} else if (seen & (1u << found)) {
			st = cfg_fail(c, k->mark, path->buf, QKV_ERR_CONFIG,
			              "duplicate key `%s`: it is already set above", shown);
		}
		cfg_path_pop(path);
		if (st != QKV_OK)
			return st;
		seen |= 1u << found;
	}
	return QKV_OK;
}

/* A plain scalar that YAML reads as null: no value was written. */
static bool is_null(const struct cfg_node *n)
{
	if (n->kind != CFG_SCALAR || !n->plain)
		return false;
	return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
	       strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

/* A plain decimal integer in [min, max]. */
static enum qkv_status get_uint(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                                uint64_t min, uint64_t max, uint64_t *out)
{
	char shown[48];
	if (n->kind != CFG_SCALAR)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG, "expected a whole number, got %s",
		                kind_name(n));
	cfg_show(n->str, n->len, shown, sizeof(shown));
	if (!n->plain)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG,
		                "expected a whole number, got the quoted string \"%s\"; "
		                "write the number without quotes",
		                shown);
	if (is_null(n))
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG,
		                "expected a whole number, got no value");
	const char *why = NULL;
	const char *s = n->str;
	if (s[0] == '-')
		why = "it must not be negative";
	else if (s[0] == '+')
		why = "write it without a leading `+`";
	else if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		why = "hexadecimal is not allowed";
	else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'b'))
		why = "octal and binary are not allowed";
	else if (s[0] == '0' && n->len > 1)
		why = "a leading zero is not allowed (YAML 1.1 reads 012 as octal)";
	else if (((s[0] >= '0' && s[0] <= '9') || s[0] == '.') && strpbrk(s, ".eE"))
		why = "it must be a whole number without a fraction or exponent";
	for (size_t i = 0; !why && i < n->len; i++)
		if (s[i] < '0' || s[i] > '9')
			why = "it must be a plain decimal number";
	if (why)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG, "`%s` is not a valid value: %s",
		                shown, why);
	uint64_t v = 0;
	for (size_t i = 0; i < n->len; i++) {
		if (v > (UINT64_MAX - 9) / 10) {
			v = UINT64_MAX;
			break;
		}
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG,
		                "%s is above the maximum %" PRIu64, shown, max);
	if (v < min)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG,
		                "%s is below the minimum %" PRIu64, shown, min);
	*out = v;
	return QKV_OK;
}

static enum qkv_status get_bool(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                                int32_t *out)
{
	char shown[48];
	if (n->kind == CFG_SCALAR && n->plain && strcmp(n->str, "true") == 0) {
		*out = 1;
		return QKV_OK;
	}
	if (n->kind == CFG_SCALAR && n->plain && strcmp(n->str, "false") == 0) {
		*out = 0;
		return QKV_OK;
	}
	if (n->kind != CFG_SCALAR)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG, "expected true or false, got %s",
		                kind_name(n));
	return cfg_fail(
	    c, n->mark, path, QKV_ERR_CONFIG, "expected true or false (unquoted), got %s`%s`",
	    n->plain ? "" : "the quoted string ", cfg_show(n->str, n->len, shown, sizeof(shown)));
}

/* A non-empty string without NUL bytes; *out points into the tree. */
static enum qkv_status get_text(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                                const char **out)
{
	if (n->kind != CFG_SCALAR)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG, "expected a string, got %s",
		                kind_name(n));
	if (is_null(n) || n->len == 0)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG,
		                "expected a string, got no value");
	if (strlen(n->str) != n->len)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG, "the string contains a NUL byte");
	*out = n->str;
	return QKV_OK;
}

static enum qkv_status get_strdup(const struct cfg_ctx *c, const struct cfg_node *n,
                                  const char *path, char **out)
{
	const char *s;
	enum qkv_status st = get_text(c, n, path, &s);
	if (st != QKV_OK)
		return st;
	*out = qkv_strdup(s);
	if (!*out)
		return cfg_fail(c, n->mark, path, QKV_ERR_NOMEM, "out of memory");
	return QKV_OK;
}

/* One of names[n]; *out is its index. */
static enum qkv_status get_enum(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                                const char *const *names, size_t count, uint32_t *out)
{
	const char *s;
	char shown[48], list[96] = "";
	enum qkv_status st = get_text(c, n, path, &s);
	if (st != QKV_OK)
		return st;
	for (size_t i = 0; i < count; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (uint32_t)i;
			return QKV_OK;
		}
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s%s", i ? " | " : "", names[i]);
	}
	return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG, "`%s` is not one of %s",
	                cfg_show(n->str, n->len, shown, sizeof(shown)), list);
}

/* A path as written, resolved against the config's folder unless absolute. */
static enum qkv_status get_path(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                                char **out)
{
	const char *s;
	enum qkv_status st = get_text(c, n, path, &s);
	if (st != QKV_OK)
		return st;
	size_t ls = strlen(s), ld = (c->dir && s[0] != '/') ? strlen(c->dir) : 0;
	if (ls + ld + 2 > 4096)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG,
		                "the path is longer than 4096 bytes");
	*out = qkv_malloc(ls + ld + 2);
	if (!*out)
		return cfg_fail(c, n->mark, path, QKV_ERR_NOMEM, "out of memory");
	if (ld)
		snprintf(*out, ls + ld + 2, "%s/%s", c->dir, s);
	else
		memcpy(*out, s, ls + 1);
	return QKV_OK;
}

/* Look up key `k` of a checked mapping; on return path names it. Pop after use. */
static const struct cfg_node *field(const struct cfg_node *map, struct cfg_path *path,
                                    const char *k)
{
	cfg_path_key(path, k);
	return cfg_get(map, k);
}

static enum qkv_status missing(const struct cfg_ctx *c, const struct cfg_node *map,
                               struct cfg_path *path)
{
	return cfg_fail(c, map->mark, path->buf, QKV_ERR_CONFIG, "required key is missing");
}

static const char *const precision_names[] = {"f32", "bf16", "int8"};

static enum qkv_status parse_model_section(const struct cfg_ctx *c, const struct cfg_node *m,
                                           struct cfg_path *path, struct qkv_config *cfg)
{
	static const char *const keys[] = {"d_model", "n_heads", "n_kv_heads", "head_dim",
	                                   "precision"};
	/* key, minimum, maximum, destination, required */
	struct {
		const char *key;
		uint64_t max;
		uint32_t *dst;
		bool required;
	} dims[] = {
	    {"d_model", 1u << 20, &cfg->d_model, true},
	    {"n_heads", 1u << 16, &cfg->n_heads, true},
	    {"n_kv_heads", 1u << 16, &cfg->n_kv_heads, false},
	    {"head_dim", 1u << 16, &cfg->head_dim, false},
	};
	enum qkv_status st = check_keys(c, m, path, keys, 5, NULL);
	for (size_t i = 0; st == QKV_OK && i < sizeof(dims) / sizeof(dims[0]); i++) {
		const struct cfg_node *v = field(m, path, dims[i].key);
		uint64_t x = 0;
		if (v)
			st = get_uint(c, v, path->buf, 1, dims[i].max, &x);
		else if (dims[i].required)
			st = missing(c, m, path);
		*dims[i].dst = (uint32_t)x; /* 0 = not set: defaults come in validation */
		cfg_path_pop(path);
	}
	if (st != QKV_OK)
		return st;
	const struct cfg_node *v = field(m, path, "precision");
	cfg->precision = QKV_F32;
	if (v)
		st = get_enum(c, v, path->buf, precision_names, 3, &cfg->precision);
	cfg_path_pop(path);
	return st;
}

static enum qkv_status parse_ref(const struct cfg_ctx *c, const struct cfg_node *n,
                                 struct cfg_path *path, struct qkv_tensor_ref *ref)
{
	static const char *const keys[] = {"tensor", "file", "dtype"};
	static const char *const dtypes[] = {"none", "f32", "f16", "bf16", "i8"};
	ref->mark = n->mark;
	if (n->kind != CFG_MAP)
		return cfg_fail(c, n->mark, path->buf, QKV_ERR_CONFIG,
		                "expected a tensor reference such as {tensor: NAME} or "
		                "{file: PATH}, got %s",
		                kind_name(n));
	enum qkv_status st = check_keys(c, n, path, keys, 3, NULL);
	if (st != QKV_OK)
		return st;
	if (n->n == 0)
		return cfg_fail(c, n->mark, path->buf, QKV_ERR_CONFIG,
		                "an empty tensor reference: give `tensor`, `file` or both");
	ref->present = true;
	const struct cfg_node *v = field(n, path, "tensor");
	if (v)
		st = get_strdup(c, v, path->buf, &ref->tensor);
	cfg_path_pop(path);
	v = field(n, path, "file");
	if (v && st == QKV_OK)
		st = get_path(c, v, path->buf, &ref->file);
	cfg_path_pop(path);
	v = field(n, path, "dtype");
	if (v && st == QKV_OK) {
		uint32_t d = 0;
		st = get_enum(c, v, path->buf, dtypes + 1, 4, &d);
		ref->dtype = (enum qkv_dtype)(d + 1);
	}
	cfg_path_pop(path);
	return st;
}

static enum qkv_status parse_weights_section(const struct cfg_ctx *c, const struct cfg_node *w,
                                             struct cfg_path *path, struct qkv_config *cfg)
{
	static const char *const keys[] = {"layout", "file",    "format",  "q",
	                                   "k",      "v",       "q_bias",  "k_bias",
	                                   "v_bias", "q_scale", "k_scale", "v_scale"};
	static const char *const layouts[] = {"in_out", "out_in"}; /* enum qkv_layout order */
	static const char *const formats[] = {"safetensors", "npy", "raw"};
	enum qkv_status st = check_keys(c, w, path, keys, 12, NULL);
	if (st != QKV_OK)
		return st;
	const struct cfg_node *v = field(w, path, "layout");
	st = v ? get_enum(c, v, path->buf, layouts, 2, &cfg->layout) : missing(c, w, path);
	cfg_path_pop(path);
	v = field(w, path, "file");
	if (v && st == QKV_OK)
		st = get_path(c, v, path->buf, &cfg->file);
	cfg_path_pop(path);
	v = field(w, path, "format");
	if (v && st == QKV_OK) {
		uint32_t f = 0;
		st = get_enum(c, v, path->buf, formats, 3, &f);
		cfg->format = (enum qkv_file_format)(QKV_FMT_SAFETENSORS + f);
	}
	cfg_path_pop(path);
	static const char *const names[3][3] = {
	    {"q", "k", "v"}, {"q_bias", "k_bias", "v_bias"}, {"q_scale", "k_scale", "v_scale"}};
	struct qkv_tensor_ref *dst[3] = {cfg->w, cfg->bias, cfg->scale};
	for (size_t g = 0; g < 3 && st == QKV_OK; g++) {
		for (size_t p = 0; p < 3 && st == QKV_OK; p++) {
			v = field(w, path, names[g][p]);
			if (v)
				st = parse_ref(c, v, path, &dst[g][p]);
			else if (g == 0)
				st = missing(c, w, path);
			cfg_path_pop(path);
		}
	}
	return st;
}

static enum qkv_status parse_route(const struct cfg_ctx *c, const struct cfg_node *n,
                                   struct cfg_path *path, struct qkv_route *r)
{
	static const char *const keys[] = {"precision", "t_min", "t_max", "backend"};
	/* T values are row counts; 2^40 is far above any batch and keeps sums exact. */
	const uint64_t t_cap = 1ull << 40;
	enum qkv_status st = check_keys(c, n, path, keys, 4, NULL);
	if (st != QKV_OK)
		return st;
	const struct cfg_node *v = field(n, path, "precision");
	st = v ? get_enum(c, v, path->buf, precision_names, 3, &r->precision) : missing(c, n, path);
	cfg_path_pop(path);
	v = field(n, path, "t_min");
	if (st == QKV_OK)
		st = v ? get_uint(c, v, path->buf, 0, t_cap, &r->t_min) : missing(c, n, path);
	cfg_path_pop(path);
	v = field(n, path, "t_max");
	r->t_max = UINT64_MAX;
	if (v && st == QKV_OK)
		st = get_uint(c, v, path->buf, 0, t_cap, &r->t_max);
	cfg_path_pop(path);
	v = field(n, path, "backend");
	const char *name = NULL;
	if (st == QKV_OK)
		st = v ? get_text(c, v, path->buf, &name) : missing(c, n, path);
	if (st == QKV_OK && !qkv_backend_name_valid(name)) {
		char shown[48];
		st = cfg_fail(c, v->mark, path->buf, QKV_ERR_CONFIG,
		              "`%s` is not a backend name ([a-z0-9_], 1 to %d characters)",
		              cfg_show(v->str, v->len, shown, sizeof(shown)), QKV_NAME_MAX);
	}
	if (st == QKV_OK)
		memcpy(r->name, name, strlen(name) + 1);
	cfg_path_pop(path);
	return st;
}

/* A list of at most QKV_CONFIG_MAX_LIST entries. */
static enum qkv_status check_list(const struct cfg_ctx *c, const struct cfg_node *n,
                                  const char *path)
{
	if (n->kind != CFG_SEQ)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG, "expected a list, got %s",
		                kind_name(n));
	if (n->n > QKV_CONFIG_MAX_LIST)
		return cfg_fail(c, n->kids[QKV_CONFIG_MAX_LIST]->mark, path, QKV_ERR_CONFIG,
		                "a list of %zu entries; at most %d are allowed", n->n,
		                QKV_CONFIG_MAX_LIST);
	return QKV_OK;
}

static enum qkv_status parse_prefer(const struct cfg_ctx *c, const struct cfg_node *n,
                                    struct cfg_path *path, struct qkv_backend_cfg *b)
{
	enum qkv_status st = check_list(c, n, path->buf);
	for (size_t i = 0; st == QKV_OK && i < n->n; i++) {
		const struct cfg_node *e = n->kids[i];
		const char *name;
		char shown[48];
		cfg_path_index(path, i);
		st = get_text(c, e, path->buf, &name);
		if (st == QKV_OK && !qkv_backend_name_valid(name))
			st = cfg_fail(c, e->mark, path->buf, QKV_ERR_CONFIG,
			              "`%s` is not a backend name ([a-z0-9_], 1 to %d characters)",
			              cfg_show(e->str, e->len, shown, sizeof(shown)), QKV_NAME_MAX);
		for (size_t j = 0; st == QKV_OK && j < b->n_prefer; j++)
			if (strcmp(b->prefer[j], name) == 0)
				st = cfg_fail(c, e->mark, path->buf, QKV_ERR_CONFIG,
				              "`%s` is listed twice (first as entry %zu)", name, j);
		if (st == QKV_OK) {
			b->prefer[b->n_prefer] = qkv_strdup(name);
			if (!b->prefer[b->n_prefer])
				st =
				    cfg_fail(c, e->mark, path->buf, QKV_ERR_NOMEM, "out of memory");
			else
				b->n_prefer++;
		}
		cfg_path_pop(path);
	}
	return st;
}

static enum qkv_status parse_backend_section(const struct cfg_ctx *c, const struct cfg_node *n,
                                             struct cfg_path *path, struct qkv_backend_cfg *b)
{
	static const char *const keys[] = {"prefer", "threads", "strict", "plugin_dirs", "routes"};
	enum qkv_status st = check_keys(c, n, path, keys, 5, NULL);
	if (st != QKV_OK)
		return st;
	b->path = qkv_strdup(c->name);
	if (!b->path)
		return cfg_fail(c, n->mark, path->buf, QKV_ERR_NOMEM, "out of memory");
	const struct cfg_node *v = field(n, path, "prefer");
	if (v)
		st = parse_prefer(c, v, path, b);
	cfg_path_pop(path);
	v = field(n, path, "threads");
	if (v && st == QKV_OK) {
		uint64_t t = 0;
		st = get_uint(c, v, path->buf, 0, 1024, &t);
		b->threads = (int32_t)t;
	}
	cfg_path_pop(path);
	v = field(n, path, "strict");
	if (v && st == QKV_OK)
		st = get_bool(c, v, path->buf, &b->strict);
	cfg_path_pop(path);
	v = field(n, path, "plugin_dirs");
	if (v && st == QKV_OK)
		st = check_list(c, v, path->buf);
	for (size_t i = 0; v && st == QKV_OK && i < v->n; i++) {
		cfg_path_index(path, i);
		st = get_path(c, v->kids[i], path->buf, &b->plugin_dirs[i]);
		if (st == QKV_OK)
			b->n_plugin_dirs++;
		cfg_path_pop(path);
	}
	cfg_path_pop(path);
	v = field(n, path, "routes");
	if (v && st == QKV_OK)
		st = check_list(c, v, path->buf);
	for (size_t i = 0; v && st == QKV_OK && i < v->n; i++) {
		cfg_path_index(path, i);
		st = parse_route(c, v->kids[i], path, &b->routes[i]);
		if (st == QKV_OK)
			b->n_routes++;
		cfg_path_pop(path);
	}
	cfg_path_pop(path);
	return st;
}

enum qkv_status cfg_parse_model(const struct cfg_ctx *c, const struct cfg_node *root,
                                struct qkv_config *cfg)
{
	static const char *const keys[] = {"model", "weights", "backend"};
	struct cfg_path path = {.len = 0};
	const struct cfg_node *tuned = cfg_get(root, "tuned");
	if (tuned) {
		const struct cfg_node *k = root->kids[0];
		for (size_t i = 0; i < root->n; i += 2)
			if (root->kids[i + 1] == tuned)
				k = root->kids[i];
		return cfg_fail(c, k->mark, "tuned", QKV_ERR_CONFIG,
		                "`tuned` belongs in a machine profile (--machine FILE), not in a "
		                "model config");
	}
	enum qkv_status st = check_keys(c, root, &path, keys, 3, NULL);
	if (st != QKV_OK)
		return st;
	const struct cfg_node *v = field(root, &path, "model");
	st = v ? parse_model_section(c, v, &path, cfg) : missing(c, root, &path);
	cfg_path_pop(&path);
	if (st != QKV_OK)
		return st;
	v = field(root, &path, "weights");
	st = v ? parse_weights_section(c, v, &path, cfg) : missing(c, root, &path);
	cfg_path_pop(&path);
	if (st != QKV_OK)
		return st;
	v = field(root, &path, "backend");
	if (v)
		st = parse_backend_section(c, v, &path, &cfg->backend);
	cfg_path_pop(&path);
	return st;
}

enum qkv_status cfg_parse_machine(const struct cfg_ctx *c, const struct cfg_node *root,
                                  struct qkv_backend_cfg *b)
{
	static const char *const keys[] = {"backend", "tuned"};
	static const char *const tuned_keys[] = {"cpu", "flags", "date"};
	struct cfg_path path = {.len = 0};
	enum qkv_status st =
	    check_keys(c, root, &path, keys, 2,
	               "(a machine profile holds only `backend` and `tuned`; model and "
	               "weights go in the model config)");
	if (st != QKV_OK)
		return st;
	const struct cfg_node *v = field(root, &path, "backend");
	st = v ? parse_backend_section(c, v, &path, b) : missing(c, root, &path);
	cfg_path_pop(&path);
	if (st != QKV_OK)
		return st;
	v = field(root, &path, "tuned");
	if (v)
		st = check_keys(c, v, &path, tuned_keys, 3, NULL);
	char **dst[3] = {&b->cpu, &b->flags, &b->date};
	for (size_t i = 0; v && st == QKV_OK && i < 3; i++) {
		const struct cfg_node *t = field(v, &path, tuned_keys[i]);
		if (t)
			st = get_strdup(c, t, path.buf, dst[i]);
		cfg_path_pop(&path);
	}
	cfg_path_pop(&path);
	return st;
}
