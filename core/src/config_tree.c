/* Step 1 of reading a config: libyaml events -> a small node tree.
 *
 * Everything that is wrong at the YAML level is refused here, over the event stream,
 * before any key is interpreted: syntax errors, invalid UTF-8 and control bytes (from
 * libyaml's reader), an empty file or document, more than one document, anchors,
 * aliases, tags, non-scalar keys, collections with too many entries, and nesting
 * deeper than QKV_CONFIG_MAX_DEPTH. Depth is counted as events arrive, so a
 * 200,000-deep file fails after 17 events. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "config_internal.h"
#include "util.h"

struct builder {
	yaml_parser_t parser;
	const struct cfg_ctx *c;
	const char *text;
	size_t len;
	struct cfg_path path;
	unsigned depth; /* open mappings and lists */
};

static struct qkv_mark mark_of(yaml_mark_t m)
{
	return (struct qkv_mark){(unsigned)m.line + 1, (unsigned)m.column + 1};
}

/* libyaml's reader reports a byte offset only; find its line and column. */
static struct qkv_mark mark_at_offset(const char *text, size_t len, size_t off)
{
	struct qkv_mark m = {1, 1};
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			m.line++;
			m.column = 1;
		} else {
			m.column++;
		}
	}
	return m;
}

/* `{layer}` unquoted inside a flow mapping (`q: {tensor: a.{layer}.b}`), from line
 * `first` to `last` (0-based) of text: YAML reads its braces as a nested mapping and
 * libyaml's error does not say so. Its 0-based line and column, or false. */
static bool unquoted_layer(const char *text, size_t len, size_t first, size_t last, size_t *line,
                           size_t *col)
{
	static const char tag[] = "{layer}";
	size_t n = 0, start = 0;
	bool open = false; /* a '{' seen since line `first` */
	char quote = 0;    /* the quote we are inside, or 0 */
	for (size_t i = 0; i < len && n <= last; i++) {
		if (text[i] == '\n') {
			n++, start = i + 1;
			continue;
		}
		if (n < first)
			continue;
		if (quote) {
			quote = text[i] == quote ? 0 : quote;
		} else if (text[i] == '\'' || text[i] == '"') {
			quote = text[i];
		} else if (open && len - i >= sizeof(tag) - 1 &&
		           !memcmp(text + i, tag, sizeof(tag) - 1)) {
			*line = n;
			*col = i - start;
			return true;
		} else if (text[i] == '{') {
			open = true;
		}
	}
	return false;
}

/* Turn libyaml's error into ours; its strings live in the parser, so format now. */
static enum qkv_status yaml_failure(struct builder *b)
{
	const yaml_parser_t *p = &b->parser;
	const char *problem = p->problem ? p->problem : "unknown YAML error";
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return cfg_fail(b->c, mark_of(p->mark), b->path.buf, QKV_ERR_NOMEM,
		                "out of memory while reading YAML");
	case YAML_READER_ERROR:
		return cfg_fail(b->c, mark_at_offset(b->text, b->len, p->problem_offset),
		                b->path.buf, QKV_ERR_CONFIG,
		                "%s (byte 0x%02x at offset %zu): a config must be UTF-8 text",
		                problem, (unsigned)(p->problem_value & 0xff), p->problem_offset);
	default: {
		size_t line, col, first = p->context ? p->context_mark.line : p->problem_mark.line;
		if (unquoted_layer(b->text, b->len, first, p->problem_mark.line, &line, &col))
			return cfg_fail(b->c,
			                (struct qkv_mark){(unsigned)line + 1, (unsigned)col + 1},
			                b->path.buf, QKV_ERR_CONFIG,
			                "a name holding {layer} inside { } must be quoted, or YAML "
			                "reads its braces as a mapping: q: {tensor: "
			                "'model.layers.{layer}.self_attn.q_proj.weight'} (YAML "
			                "syntax: %s)",
			                problem);
	}
		if (p->context)
			return cfg_fail(b->c, mark_of(p->problem_mark), b->path.buf, QKV_ERR_CONFIG,
			                "YAML syntax: %s (%s at line %u column %u)", problem,
			                p->context, (unsigned)p->context_mark.line + 1,
			                (unsigned)p->context_mark.column + 1);
		return cfg_fail(b->c, mark_of(p->problem_mark), b->path.buf, QKV_ERR_CONFIG,
		                "YAML syntax: %s", problem);
	}
}

/* Refuse what a config never needs: anchors, aliases and tags. */
static enum qkv_status check_plain_node(struct builder *b, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;
	char shown[48];
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		anchor = ev->data.alias.anchor;
		return cfg_fail(b->c, mark_of(ev->start_mark), b->path.buf, QKV_ERR_CONFIG,
		                "aliases (`*%s`) are not allowed in a config",
		                cfg_show((const char *)anchor, strlen((const char *)anchor), shown,
		                         sizeof(shown)));
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		return QKV_OK;
	}
	if (anchor)
		return cfg_fail(b->c, mark_of(ev->start_mark), b->path.buf, QKV_ERR_CONFIG,
		                "anchors (`&%s`) are not allowed in a config",
		                cfg_show((const char *)anchor, strlen((const char *)anchor), shown,
		                         sizeof(shown)));
	if (tag)
		return cfg_fail(
		    b->c, mark_of(ev->start_mark), b->path.buf, QKV_ERR_CONFIG,
		    "tags (`%s`) are not allowed in a config; write the plain value",
		    cfg_show((const char *)tag, strlen((const char *)tag), shown, sizeof(shown)));
	return QKV_OK;
}

/* Pull one event and apply the stream-level checks. On failure no event is held. */
static enum qkv_status next_event(struct builder *b, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&b->parser, ev))
		return yaml_failure(b);
	enum qkv_status st = check_plain_node(b, ev);
	if (st == QKV_OK &&
	    (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT)) {
		if (++b->depth > QKV_CONFIG_MAX_DEPTH)
			st = cfg_fail(b->c, mark_of(ev->start_mark), b->path.buf, QKV_ERR_CONFIG,
			              "nesting is deeper than %d levels", QKV_CONFIG_MAX_DEPTH);
	} else if (ev->type == YAML_MAPPING_END_EVENT || ev->type == YAML_SEQUENCE_END_EVENT) {
		b->depth--;
	}
	if (st != QKV_OK)
		yaml_event_delete(ev);
	return st;
}

/* Append a new empty node to parent (which then owns it). */
static struct cfg_node *add_kid(struct cfg_node *parent)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 4;
		struct cfg_node **k = qkv_realloc(parent->kids, cap * sizeof(*k));
		if (!k)
			return NULL;
		parent->kids = k;
		parent->cap = cap;
	}
	struct cfg_node *n = qkv_calloc(1, sizeof(*n));
	if (n)
		parent->kids[parent->n++] = n;
	return n;
}

static enum qkv_status build(struct builder *b, yaml_event_t *ev, struct cfg_node *node);

/* Read entries until the end event; `map` alternates key and value. */
static enum qkv_status build_entries(struct builder *b, struct cfg_node *node, bool map)
{
	for (;;) {
		yaml_event_t ev;
		/* A list entry is named before it is read, so errors inside it name it. */
		if (!map)
			cfg_path_index(&b->path, node->n);
		enum qkv_status st = next_event(b, &ev);
		if (st == QKV_OK &&
		    (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT)) {
			yaml_event_delete(&ev);
			if (!map)
				cfg_path_pop(&b->path);
			return QKV_OK;
		}
		if (st != QKV_OK)
			return st;
		size_t entries = map ? node->n / 2 : node->n;
		if (entries >= CFG_MAX_ENTRIES) {
			st = cfg_fail(b->c, mark_of(ev.start_mark), b->path.buf, QKV_ERR_CONFIG,
			              "more than %d entries in one %s", CFG_MAX_ENTRIES,
			              map ? "mapping" : "list");
			yaml_event_delete(&ev);
			return st;
		}
		if (map && ev.type != YAML_SCALAR_EVENT) {
			st = cfg_fail(b->c, mark_of(ev.start_mark), b->path.buf, QKV_ERR_CONFIG,
			              "a key must be a plain name, not a %s",
			              ev.type == YAML_MAPPING_START_EVENT ? "mapping" : "list");
			yaml_event_delete(&ev);
			return st;
		}
		struct cfg_node *kid = add_kid(node);
		if (!kid) {
			yaml_event_delete(&ev);
			return cfg_fail(b->c, node->mark, b->path.buf, QKV_ERR_NOMEM,
			                "out of memory");
		}
		st = build(b, &ev, kid);
		if (!map)
			cfg_path_pop(&b->path);
		if (st != QKV_OK)
			return st;
		if (!map)
			continue;
		/* The value of the key just read, named by the key. */
		cfg_path_key(&b->path, kid->str);
		st = next_event(b, &ev);
		if (st != QKV_OK)
			return st;
		struct cfg_node *val = add_kid(node);
		if (!val) {
			yaml_event_delete(&ev);
			return cfg_fail(b->c, node->mark, b->path.buf, QKV_ERR_NOMEM,
			                "out of memory");
		}
		st = build(b, &ev, val);
		cfg_path_pop(&b->path);
		if (st != QKV_OK)
			return st;
	}
}

/* Fill `node` from the event `ev` (consumed) and, for collections, what follows. */
static enum qkv_status build(struct builder *b, yaml_event_t *ev, struct cfg_node *node)
{
	node->mark = mark_of(ev->start_mark);
	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		node->kind = CFG_SCALAR;
		node->len = ev->data.scalar.length;
		node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		node->str = qkv_malloc(node->len + 1);
		if (node->str) {
			memcpy(node->str, ev->data.scalar.value, node->len);
			node->str[node->len] = '\0';
		}
		yaml_event_delete(ev);
		if (!node->str)
			return cfg_fail(b->c, node->mark, b->path.buf, QKV_ERR_NOMEM,
			                "out of memory");
		return QKV_OK;
	}
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT: {
		bool map = ev->type == YAML_MAPPING_START_EVENT;
		node->kind = map ? CFG_MAP : CFG_SEQ;
		yaml_event_delete(ev);
		return build_entries(b, node, map);
	}
	default: {
		/* libyaml only sends node events here; anything else is its bug or ours. */
		struct qkv_mark m = mark_of(ev->start_mark);
		yaml_event_delete(ev);
		return cfg_fail(b->c, m, b->path.buf, QKV_ERR_INTERNAL, "unexpected YAML event");
	}
	}
}

/* Expect one event type; anything else is reported with `what`. */
static enum qkv_status expect(struct builder *b, yaml_event_type_t type, const char *what)
{
	yaml_event_t ev;
	enum qkv_status st = next_event(b, &ev);
	if (st != QKV_OK)
		return st;
	if (ev.type != type)
		st = cfg_fail(b->c, mark_of(ev.start_mark), "", QKV_ERR_CONFIG, "%s", what);
	yaml_event_delete(&ev);
	return st;
}

static enum qkv_status read_document(struct builder *b, struct cfg_node *root)
{
	yaml_event_t ev;
	enum qkv_status st = expect(b, YAML_STREAM_START_EVENT, "no YAML stream");
	if (st == QKV_OK)
		st = next_event(b, &ev);
	if (st != QKV_OK)
		return st;
	if (ev.type != YAML_DOCUMENT_START_EVENT) {
		st = cfg_fail(b->c, mark_of(ev.start_mark), "", QKV_ERR_CONFIG,
		              "the file is empty: a config needs at least one key");
		yaml_event_delete(&ev);
		return st;
	}
	yaml_event_delete(&ev);
	st = next_event(b, &ev);
	if (st != QKV_OK)
		return st;
	if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0 &&
	    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		st = cfg_fail(b->c, mark_of(ev.start_mark), "", QKV_ERR_CONFIG,
		              "the document is empty: a config needs at least one key");
		yaml_event_delete(&ev);
		return st;
	}
	if (ev.type != YAML_MAPPING_START_EVENT) {
		st = cfg_fail(b->c, mark_of(ev.start_mark), "", QKV_ERR_CONFIG,
		              "the top level must be a mapping of keys (such as `model:`)");
		yaml_event_delete(&ev);
		return st;
	}
	st = build(b, &ev, root);
	if (st == QKV_OK)
		st = expect(b, YAML_DOCUMENT_END_EVENT, "expected the end of the document");
	if (st != QKV_OK)
		return st;
	st = next_event(b, &ev);
	if (st != QKV_OK)
		return st;
	if (ev.type == YAML_DOCUMENT_START_EVENT)
		st = cfg_fail(b->c, mark_of(ev.start_mark), "", QKV_ERR_CONFIG,
		              "more than one YAML document: a config is exactly one");
	else if (ev.type != YAML_STREAM_END_EVENT)
		st = cfg_fail(b->c, mark_of(ev.start_mark), "", QKV_ERR_CONFIG,
		              "expected the end of the file");
	yaml_event_delete(&ev);
	return st;
}

enum qkv_status cfg_tree_read(const struct cfg_ctx *c, const char *text, size_t len,
                              struct cfg_node **root)
{
	*root = NULL;
	/* With the encoding set explicitly libyaml keeps a leading BOM and counts it as a
	 * column, which shifts the top level's indentation: drop it here. */
	if (text && len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	struct builder b = {.c = c, .text = text, .len = len};
	struct cfg_node *r = qkv_calloc(1, sizeof(*r));
	if (!r)
		return cfg_fail(c, (struct qkv_mark){1, 1}, "", QKV_ERR_NOMEM, "out of memory");
	r->mark = (struct qkv_mark){1, 1};
	if (!yaml_parser_initialize(&b.parser)) {
		qkv_free(r);
		return cfg_fail(c, (struct qkv_mark){1, 1}, "", QKV_ERR_NOMEM,
		                "out of memory (YAML parser)");
	}
	/* Text in any other encoding is refused as invalid UTF-8, not guessed. */
	yaml_parser_set_encoding(&b.parser, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)(text ? text : ""),
	                             text ? len : 0);
	enum qkv_status st = read_document(&b, r);
	yaml_parser_delete(&b.parser);
	if (st != QKV_OK) {
		cfg_tree_free(r);
		return st;
	}
	*root = r;
	return QKV_OK;
}

void cfg_tree_free(struct cfg_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		cfg_tree_free(n->kids[i]);
	qkv_free(n->kids);
	qkv_free(n->str);
	qkv_free(n);
}

const struct cfg_node *cfg_get(const struct cfg_node *map, const char *key)
{
	if (!map || map->kind != CFG_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (map->kids[i]->len == strlen(key) && strcmp(map->kids[i]->str, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

void cfg_path_key(struct cfg_path *p, const char *key)
{
	if (p->depth < sizeof(p->saved) / sizeof(p->saved[0]))
		p->saved[p->depth] = p->len;
	p->depth++;
	char shown[48];
	cfg_show(key, strlen(key), shown, sizeof(shown));
	int n =
	    snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "%s%s", p->len ? "." : "", shown);
	if (n > 0)
		p->len +=
		    (size_t)n < sizeof(p->buf) - p->len ? (size_t)n : sizeof(p->buf) - p->len - 1;
}

void cfg_path_index(struct cfg_path *p, size_t i)
{
	if (p->depth < sizeof(p->saved) / sizeof(p->saved[0]))
		p->saved[p->depth] = p->len;
	p->depth++;
	int n = snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "[%zu]", i);
	if (n > 0)
		p->len +=
		    (size_t)n < sizeof(p->buf) - p->len ? (size_t)n : sizeof(p->buf) - p->len - 1;
}

void cfg_path_pop(struct cfg_path *p)
{
	if (p->depth == 0)
		return;
	p->depth--;
	if (p->depth < sizeof(p->saved) / sizeof(p->saved[0]))
		p->len = p->saved[p->depth];
	p->buf[p->len] = '\0';
}

const char *cfg_show(const char *s, size_t len, char *out, size_t outlen)
{
	if (outlen == 0)
		return out;
	/* Keep what fits; a cut string ends in "..." so the reader knows. */
	size_t keep = len < outlen ? len : (outlen > 4 ? outlen - 4 : outlen - 1);
	for (size_t i = 0; i < keep; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	size_t o = keep;
	if (keep < len && outlen > 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

enum qkv_status cfg_fail(const struct cfg_ctx *c, struct qkv_mark m, const char *path,
                         enum qkv_status status, const char *fmt, ...)
{
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path && path[0])
		return qkv_fail(c->err, c->errlen, status, "%s:%u:%u: key `%s`: %s", c->name,
		                m.line, m.column, path, msg);
	return qkv_fail(c->err, c->errlen, status, "%s:%u:%u: %s", c->name, m.line, m.column, msg);
}
