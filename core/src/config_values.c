/* Step 2 helpers: read one value of a known type from the tree, or check a mapping's
 * keys. Each check names the key and the line; numbers accept plain decimal only. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <qkv/precision.h>

#include "config_internal.h"
#include "near.h"
#include "util.h"

const char *const cfg_precision_names[QKV_PRECISION_COUNT] = QKV_PRECISION_NAMES;

const char *const qkv_ref_names[4][3] = {{"q", "k", "v"},
                                         {"q_bias", "k_bias", "v_bias"},
                                         {"q_scale", "k_scale", "v_scale"},
                                         {"qkv", "qkv_bias", "qkv"}};

const char *cfg_kind_name(const struct cfg_node *n)
{
	if (n->kind == CFG_MAP)
		return "a mapping";
	if (n->kind == CFG_SEQ)
		return "a list";
	return n->plain ? "a plain value" : "a quoted string";
}

/* `map` must be a mapping whose keys are all in keys[n] (n <= 32), each at most once.
 * `hint` (may be NULL) is added to the unknown-key message. */
enum qkv_status cfg_check_keys(const struct cfg_ctx *c, const struct cfg_node *map,
                               struct cfg_path *path, const char *const *keys, size_t n,
                               const char *hint)
{
	char shown[48];
	if (map->kind != CFG_MAP)
		return cfg_fail(c, map->mark, path->buf, QKV_ERR_CONFIG,
		                "expected a mapping of keys, got %s", cfg_kind_name(map));
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
				size_t d = qkv_edit_distance(k->str, keys[j]);
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
bool cfg_is_null(const struct cfg_node *n)
{
	if (n->kind != CFG_SCALAR || !n->plain)
		return false;
	return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
	       strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

/* A plain decimal integer in [min, max]. */
enum qkv_status cfg_get_uint(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                             uint64_t min, uint64_t max, uint64_t *out)
{
	char shown[48];
	if (n->kind != CFG_SCALAR)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG, "expected a whole number, got %s",
		                cfg_kind_name(n));
	cfg_show(n->str, n->len, shown, sizeof(shown));
	if (!n->plain)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG,
		                "expected a whole number, got the quoted string \"%s\"; "
		                "write the number without quotes",
		                shown);
	if (cfg_is_null(n))
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

enum qkv_status cfg_get_bool(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
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
		                cfg_kind_name(n));
	return cfg_fail(
	    c, n->mark, path, QKV_ERR_CONFIG, "expected true or false (unquoted), got %s`%s`",
	    n->plain ? "" : "the quoted string ", cfg_show(n->str, n->len, shown, sizeof(shown)));
}

/* A non-empty string without NUL bytes; *out points into the tree. */
enum qkv_status cfg_get_text(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                             const char **out)
{
	if (n->kind != CFG_SCALAR)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG, "expected a string, got %s",
		                cfg_kind_name(n));
	if (cfg_is_null(n) || n->len == 0)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG,
		                "expected a string, got no value");
	if (strlen(n->str) != n->len)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG, "the string contains a NUL byte");
	*out = n->str;
	return QKV_OK;
}

enum qkv_status cfg_get_strdup(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                               char **out)
{
	const char *s = NULL;
	enum qkv_status st = cfg_get_text(c, n, path, &s);
	if (st != QKV_OK)
		return st;
	*out = qkv_strdup(s);
	if (!*out)
		return cfg_fail(c, n->mark, path, QKV_ERR_NOMEM, "out of memory");
	return QKV_OK;
}

/* One of names[n]; *out is its index. */
enum qkv_status cfg_get_enum(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                             const char *const *names, size_t count, uint32_t *out)
{
	const char *s = NULL;
	char shown[48], list[96] = "";
	enum qkv_status st = cfg_get_text(c, n, path, &s);
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
enum qkv_status cfg_get_path(const struct cfg_ctx *c, const struct cfg_node *n, const char *path,
                             char **out)
{
	const char *s = NULL;
	enum qkv_status st = cfg_get_text(c, n, path, &s);
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
const struct cfg_node *cfg_field(const struct cfg_node *map, struct cfg_path *path, const char *k)
{
	cfg_path_key(path, k);
	return cfg_get(map, k);
}

enum qkv_status cfg_missing(const struct cfg_ctx *c, const struct cfg_node *map,
                            struct cfg_path *path)
{
	return cfg_fail(c, map->mark, path->buf, QKV_ERR_CONFIG, "required key is missing");
}

enum qkv_status cfg_check_list(const struct cfg_ctx *c, const struct cfg_node *n, const char *path)
{
	if (n->kind != CFG_SEQ)
		return cfg_fail(c, n->mark, path, QKV_ERR_CONFIG, "expected a list, got %s",
		                cfg_kind_name(n));
	if (n->n > QKV_CONFIG_MAX_LIST)
		return cfg_fail(c, n->kids[QKV_CONFIG_MAX_LIST]->mark, path, QKV_ERR_CONFIG,
		                "a list of %zu entries; at most %d are allowed", n->n,
		                QKV_CONFIG_MAX_LIST);
	return QKV_OK;
}
