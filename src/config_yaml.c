/* config_yaml.c — libyaml's event parser read into the neutral tree.
 *
 * libyaml only knows text; typing plain scalars is ours. The rules are
 * chosen so that YAML means what the libconfig file would: true/false are
 * booleans, decimal digits an integer, digits with a dot a float (to be
 * refused by type), anything quoted a string. YAML's sharper edges are
 * refused instead of guessed at: null values, aliases, duplicate keys
 * (which libyaml lets through), custom tags and further documents. */
#include "config_yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config.h"
#include "config_diag.h"
#include "config_tree.h"

/* Far beyond any real config; stops a hostile file from exhausting the
 * stack through recursion. */
#define CONFIG_YAML_MAX_DEPTH 64

/* Tags under this prefix ("!!str", "!!map", ...) say nothing our typing
 * does not; any other tag asks for meaning we do not have. */
#define CONFIG_YAML_STD_TAG "tag:yaml.org,2002:"

struct config_yaml {
	yaml_parser_t parser;           /* libyaml's event parser */
	const char *path;               /* names the file in messages */
	struct config_diags diags;      /* problems, reported by line at the end */
	bool failed;                    /* a problem was reported: no tree */
	bool broken;                    /* libyaml gave up: read no further */
	FILE *fp;                       /* what it reads */
};

static struct config_node *config_yaml_node(struct config_yaml *y, yaml_event_t *ev,
					    const char *key, int key_line, int depth);

__attribute__((format(printf, 3, 4)))
static void config_yaml_error(struct config_yaml *y, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Sorted at the end: a value's problem may be about its key's
	 * earlier line, and libyaml's reader runs ahead of its parser. */
	config_diags_add(&y->diags, line, "", "%s", msg);
	y->failed = true;
}

static int config_yaml_line(const yaml_event_t *ev)
{
	return (int)ev->start_mark.line + 1;
}

/* The line of byte OFFSET of the file. libyaml's reader decodes ahead of
 * the parser, so for bad UTF-8 its mark is elsewhere; only the byte
 * offset of the problem is right. 0 if the file cannot be read again. */
static int config_yaml_offset_line(struct config_yaml *y, size_t offset)
{
	int line = 1, c, prev = 0;

	if (fseek(y->fp, 0, SEEK_SET) != 0)
		return 0;
	/* YAML breaks lines at LF, CR LF and a lone CR. */
	for (size_t i = 0; i < offset && (c = getc(y->fp)) != EOF; prev = c, i++)
		if (c == '\r' || (c == '\n' && prev != '\r'))
			line++;
	return line;
}

/* The next event into EV; on a syntax error, says so and marks Y broken. */
static int config_yaml_next(struct config_yaml *y, yaml_event_t *ev)
{
	yaml_parser_t *p = &y->parser;
	const yaml_mark_t *mark;
	int line;

	if (yaml_parser_parse(p, ev))
		return 0;
	y->broken = true;
	if (p->error == YAML_MEMORY_ERROR) {
		config_yaml_error(y, 0, "out of memory");
		return -1;
	}
	mark = &p->problem_mark;
	line = (int)mark->line + 1;
	/* A reader error (bad UTF-8) has only a byte offset. */
	if (p->error == YAML_READER_ERROR) {
		line = config_yaml_offset_line(y, p->problem_offset);
		if (line == 0)
			line = (int)p->mark.line + 1;
	}
	config_yaml_error(y, line, "%s%s%s",
			  p->problem != NULL ? p->problem : "syntax error",
			  p->context != NULL ? " " : "", p->context != NULL ? p->context : "");
	return -1;
}

static void config_yaml_check_tag(struct config_yaml *y, const yaml_char_t *tag, int line)
{
	if (tag != NULL && strncmp((const char *)tag, CONFIG_YAML_STD_TAG,
				   strlen(CONFIG_YAML_STD_TAG)) != 0)
		config_yaml_error(y, line, "unsupported YAML tag '%s'", (const char *)tag);
}

static bool config_yaml_is_null(const char *s)
{
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* [+-] digits ( "." digits* )? — or "." digits: only the forms the
 * libconfig syntax has too. Sets *DOT when a fraction part is present. */
static bool config_yaml_is_number(const char *s, bool *dot)
{
	size_t digits = 0;

	*dot = false;
	if (*s == '+' || *s == '-')
		s++;
	for (; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9')
			digits++;
		else if (*s == '.' && !*dot)
			*dot = true;
		else
			return false;
	}
	return digits > 0;
}

static struct config_node *config_yaml_plain(struct config_yaml *y, const char *s,
					     const char *key, int line, int key_line)
{
	struct config_node *node;
	bool dot;

	if (config_yaml_is_null(s)) {
		/* An empty value's own mark can be on a later line: use the key's. */
		if (key != NULL)
			config_yaml_error(y, key_line, "%s: null value", key);
		else
			config_yaml_error(y, line, "null value");
		return NULL;
	}
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0 ||
	    strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
		node = config_tree_new(CONFIG_NODE_BOOL, line);
		if (node != NULL)
			node->u.boolean = (s[0] == 't' || s[0] == 'T');
		return node;
	}
	if (!config_yaml_is_number(s, &dot))
		return config_tree_new_string(s, strlen(s), line);
	node = config_tree_new(dot ? CONFIG_NODE_FLOAT : CONFIG_NODE_INT, line);
	if (node == NULL)
		return NULL;
	errno = 0;
	if (dot)
		node->u.real = strtod(s, NULL);
	else
		node->u.integer = strtoll(s, NULL, 10);
	if (errno == ERANGE) {
		config_yaml_error(y, line, "number %s is out of range", s);
		config_tree_free(node);
		return NULL;
	}
	return node;
}

static struct config_node *config_yaml_scalar(struct config_yaml *y, const yaml_event_t *ev,
					      const char *key, int key_line)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	int line = config_yaml_line(ev);
	struct config_node *node = NULL;

	/* A "\0" escape would cut the C string short without anyone noticing. */
	if (memchr(s, '\0', len) != NULL)
		config_yaml_error(y, line, "strings must not contain NUL characters");
	else if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		node = config_tree_new_string(s, len, line);
	else
		node = config_yaml_plain(y, s, key, line, key_line);
	/* After the value: what it says may be about the key's earlier line,
	 * and errors come in file order. */
	config_yaml_check_tag(y, ev->data.scalar.tag, line);
	return node;
}

/* Reads one value after a key and adds it to MAP. The key event EV is the
 * caller's. Anything that cannot be added is read and dropped, so the
 * rest of the file is still checked. */
static void config_yaml_member(struct config_yaml *y, struct config_node *map,
			       const yaml_event_t *kev, int depth)
{
	const char *key = (const char *)kev->data.scalar.value;
	const struct config_member *first = config_tree_map_find(map, key);
	int line = config_yaml_line(kev);
	struct config_node *value;
	yaml_event_t ev;

	if (first != NULL)
		config_yaml_error(y, line, "duplicate key '%s' (first at line %d)", key, first->line);
	if (config_yaml_next(y, &ev) == -1)
		return;
	value = config_yaml_node(y, &ev, key, line, depth + 1);
	if (value == NULL || first != NULL)
		goto drop;
	if (config_tree_map_add(map, key, line, value) == -1) {
		config_yaml_error(y, 0, "out of memory");
		goto drop;
	}
	return;
drop:
	config_tree_free(value);
}

static void config_yaml_mapping(struct config_yaml *y, struct config_node *map, int depth)
{
	yaml_event_t kev;

	while (!y->broken && config_yaml_next(y, &kev) == 0) {
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			return;
		}
		if (kev.type == YAML_SCALAR_EVENT) {
			config_yaml_member(y, map, &kev, depth);
			yaml_event_delete(&kev);
			continue;
		}
		/* A list or a map as a key: read it, and its value, and drop both. */
		config_yaml_error(y, config_yaml_line(&kev), "keys must be plain names");
		config_tree_free(config_yaml_node(y, &kev, NULL, 0, depth + 1));
		if (!y->broken && config_yaml_next(y, &kev) == 0)
			config_tree_free(config_yaml_node(y, &kev, NULL, 0, depth + 1));
	}
}

static void config_yaml_sequence(struct config_yaml *y, struct config_node *list, int depth)
{
	struct config_node *item;
	yaml_event_t ev;

	while (!y->broken && config_yaml_next(y, &ev) == 0) {
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return;
		}
		item = config_yaml_node(y, &ev, NULL, 0, depth + 1);
		if (item != NULL && config_tree_list_add(list, item) == -1) {
			config_yaml_error(y, 0, "out of memory");
			config_tree_free(item);
		}
	}
}

/* The node that starts with EV (which this deletes), read to its end.
 * NULL when it was refused (already reported) or memory ran out. KEY and
 * KEY_LINE name the mapping key it is the value of, if any. */
static struct config_node *config_yaml_node(struct config_yaml *y, yaml_event_t *ev,
					    const char *key, int key_line, int depth)
{
	struct config_node *node = NULL;
	int line = config_yaml_line(ev);
	/* A block-style group or list starts on the line after its key;
	 * libconfig gives a collection its key's line, and so do we, so both
	 * syntaxes report the same line for it. */
	int cline = key != NULL && key_line > 0 ? key_line : line;

	if (depth > CONFIG_YAML_MAX_DEPTH) {
		config_yaml_error(y, line, "nesting is deeper than %d levels", CONFIG_YAML_MAX_DEPTH);
		y->broken = true;
		goto out;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		node = config_yaml_scalar(y, ev, key, key_line);
		break;
	case YAML_ALIAS_EVENT:
		config_yaml_error(y, line, "YAML aliases are not supported");
		break;
	case YAML_MAPPING_START_EVENT:
		config_yaml_check_tag(y, ev->data.mapping_start.tag, line);
		node = config_tree_new(CONFIG_NODE_MAP, cline);
		if (node != NULL)
			config_yaml_mapping(y, node, depth);
		break;
	case YAML_SEQUENCE_START_EVENT:
		config_yaml_check_tag(y, ev->data.sequence_start.tag, line);
		node = config_tree_new(CONFIG_NODE_LIST, cline);
		if (node != NULL)
			config_yaml_sequence(y, node, depth);
		break;
	default:
		/* libyaml only starts a node with the events above. */
		config_yaml_error(y, line, "unexpected YAML event");
		y->broken = true;
		break;
	}
	if (node == NULL && !y->failed)
		config_yaml_error(y, 0, "out of memory");
out:
	yaml_event_delete(ev);
	return node;
}

/* The document's root: a null (a file of just "---") reads as an empty
 * map at line 1, like an empty file, so the validator says "empty
 * configuration" for both. */
static struct config_node *config_yaml_root(struct config_yaml *y, yaml_event_t *ev)
{
	if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    config_yaml_is_null((const char *)ev->data.scalar.value)) {
		yaml_event_delete(ev);
		return config_tree_new(CONFIG_NODE_MAP, 1);
	}
	return config_yaml_node(y, ev, NULL, 0, 0);
}

/* Stream start, then a document or (an empty file) the stream's end. */
static struct config_node *config_yaml_document(struct config_yaml *y)
{
	struct config_node *root = NULL;
	yaml_event_t ev;

	if (config_yaml_next(y, &ev) == -1)
		return NULL;
	yaml_event_delete(&ev);         /* YAML_STREAM_START_EVENT */
	if (config_yaml_next(y, &ev) == -1)
		return NULL;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return config_tree_new(CONFIG_NODE_MAP, 1);
	}
	yaml_event_delete(&ev);         /* YAML_DOCUMENT_START_EVENT */
	if (config_yaml_next(y, &ev) == -1)
		return NULL;
	root = config_yaml_root(y, &ev);
	/* Then the document's end, and the stream's unless a document follows. */
	for (int i = 0; i < 2 && !y->broken && config_yaml_next(y, &ev) == 0; i++) {
		if (ev.type == YAML_DOCUMENT_START_EVENT) {
			config_yaml_error(y, config_yaml_line(&ev),
					  "only one YAML document is allowed");
			i = 2;
		}
		yaml_event_delete(&ev);
	}
	return root;
}

struct config_node *config_yaml_read(FILE *fp, const char *path, struct config_errors *errs)
{
	struct config_yaml y = { .path = path, .fp = fp };
	struct config_node *root;

	if (!yaml_parser_initialize(&y.parser)) {
		config_errors_add(errs, path, 0, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_file(&y.parser, fp);
	root = config_yaml_document(&y);
	yaml_parser_delete(&y.parser);
	if (config_diags_flush(&y.diags, path, errs) < 0 || y.failed || y.broken) {
		config_tree_free(root);
		return NULL;
	}
	if (root == NULL)
		config_errors_add(errs, path, 0, "out of memory");
	return root;
}
