/* netpollctl_fmt.c — reading the stats socket's answers and showing
 * them: JSON for --json, aligned tables for people (netpollctl_fmt.h). */
#include "netpollctl_fmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing answers ---------------------------------------------- */

void info_parse(char *answer, struct kv_list *kv)
{
	char *cur = answer, *line, *colon;

	kv->n = 0;
	while ((line = line_next(&cur)) && kv->n < CTL_INFO_MAX) {
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon++ = '\0';
		while (*colon == ' ')
			colon++;
		kv->key[kv->n] = line;
		kv->val[kv->n++] = colon;
	}
}

const char *kv_get(const struct kv_list *kv, const char *key)
{
	for (size_t i = 0; i < kv->n; i++)
		if (strcmp(kv->key[i], key) == 0)
			return kv->val[i];
	return NULL;
}

/* `show stat` columns, in the order SPEC gives them; used when the
 * answer carries no `#` header line. */
static const char *const stat_keys[] = {
	"type", "name", "parent", "status", "cur", "max", "limit", "total",
	"bytes_in", "bytes_out", "denied", "errors", "connect_errors", "retries",
	"health", "weight", "last_change_s",
};

/* Splits LINE in place into N fields, missing ones "". RFC 4180 quotes
 * are honoured: a unix: path may hold a comma. */
static void csv_split(char *line, const char **out, size_t n)
{
	char *r = line, *w = line;
	size_t i = 0;

	while (i < n) {
		bool quoted = *r == '"', more;

		out[i++] = w;
		r += quoted;
		while (*r && (quoted || *r != ',')) {
			if (quoted && *r == '"') {
				quoted = r[1] == '"';   /* "" is a quote; " alone ends it */
				if (quoted)
					*w++ = '"';
				r += quoted ? 2 : 1;
			} else {
				*w++ = *r++;
			}
		}
		more = *r == ',';
		*w++ = '\0';
		if (!more)
			break;
		r++;
	}
	while (i < n)
		out[i++] = "";
}

void csv_parse(char *text, struct csv *t)
{
	size_t lines = count_char(text, '\n') + 1;
	char *cur = text, *line = line_next(&cur);
	bool header = line && line[0] == '#';

	if (header) {
		line += strspn(line, "# ");
		t->ncols = count_char(line, ',') + 1;
	} else {
		t->ncols = ARRAY_LEN(stat_keys);
	}
	t->cell = xreallocarray(NULL, (lines + 1) * t->ncols, sizeof *t->cell);
	if (header)
		csv_split(line, t->cell, t->ncols);
	else
		memcpy(t->cell, stat_keys, sizeof stat_keys);
	t->nrows = 1;
	for (line = header ? line_next(&cur) : line; line; line = line_next(&cur)) {
		if (!*line)
			continue;
		csv_split(line, t->cell + t->nrows * t->ncols, t->ncols);
		t->nrows++;
	}
}

const char *csv_get(const struct csv *t, size_t row, const char *key)
{
	for (size_t c = 0; c < t->ncols; c++)
		if (strcmp(t->cell[c], key) == 0)
			return t->cell[row * t->ncols + c];
	return "";
}

void csv_free(struct csv *t)
{
	free(t->cell);
	t->cell = NULL;
}

/* ---- JSON output -------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
	putc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			putc(c, f);
	}
	putc('"', f);
}

/* True when S is already a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)? */
static bool json_is_number(const char *s)
{
	s += *s == '-';
	if (*s == '0')
		s++;
	else if (is_digit(*s))
		while (is_digit(*s))
			s++;
	else
		return false;
	if (*s == '.') {
		if (!is_digit(*++s))
			return false;
		while (is_digit(*s))
			s++;
	}
	return *s == '\0';
}

/* A value as a number when it is one, else as a string. */
static void json_scalar(FILE *f, const char *v, bool quoted)
{
	if (!quoted && json_is_number(v))
		fputs(v, f);
	else
		json_string(f, v);
}

void info_print_json(char *answer)
{
	struct kv_list kv;

	info_parse(answer, &kv);
	fputs("{", stdout);
	for (size_t i = 0; i < kv.n; i++) {
		fputs(i ? ",\n  " : "\n  ", stdout);
		json_string(stdout, kv.key[i]);
		fputs(": ", stdout);
		json_scalar(stdout, kv.val[i], false);
	}
	fputs(kv.n ? "\n}\n" : "}\n", stdout);
}

/* Cuts a logfmt value at *P in place: bare up to a space, or "quoted"
 * with \" and \\ escapes. */
static char *logfmt_value(char **p, bool *quoted)
{
	char *r = *p, *w = *p, *start = *p;

	*quoted = *r == '"';
	if (!*quoted) {
		r += strcspn(r, " ");
		*p = *r ? r + 1 : r;
		*r = '\0';
		return start;
	}
	for (r++; *r && *r != '"'; *w++ = *r++)
		if (*r == '\\' && r[1])
			r++;
	*p = *r ? r + 1 : r;
	*w = '\0';
	return start;
}

/* One `show conns` line as JSON members; "-" (no server) becomes null. */
static void logfmt_print_json(char *line)
{
	char *p = line;
	bool first = true;

	while (*(p += strspn(p, " "))) {
		char *key = p, *val = NULL;
		bool quoted = false;

		p += strcspn(p, "= ");
		if (*p == '=') {
			*p++ = '\0';
			val = logfmt_value(&p, &quoted);
		} else if (*p) {
			*p++ = '\0';
		}
		fputs(first ? "" : ", ", stdout);
		first = false;
		json_string(stdout, key);
		fputs(": ", stdout);
		if (!val || (!quoted && strcmp(val, "-") == 0))
			fputs("null", stdout);
		else
			json_scalar(stdout, val, quoted);
	}
}

void conns_print_json(char *answer)
{
	char *cur = answer, *line;
	bool first = true;

	fputs("[", stdout);
	while ((line = line_next(&cur))) {
		if (!*line)
			continue;
		fputs(first ? "\n  {" : ",\n  {", stdout);
		first = false;
		logfmt_print_json(line);
		fputs("}", stdout);
	}
	fputs(first ? "]\n" : "\n]\n", stdout);
}

/* ---- aligned tables ----------------------------------------------- */

static size_t table_lead(const struct table *t, size_t r, size_t c)
{
	return t->indent && t->indent[r] && c == t->indent_col ? 2 : 0;
}

void table_render(struct buf *out, const struct table *t)
{
	size_t *width = xreallocarray(NULL, t->ncols, sizeof *width);

	for (size_t c = 0; c < t->ncols; c++) {
		width[c] = 0;
		for (size_t r = 0; r < t->nrows; r++) {
			size_t w = strlen(t->cell[r * t->ncols + c]) + table_lead(t, r, c);

			width[c] = w > width[c] ? w : width[c];
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cell[r * t->ncols + c];
			size_t lead = table_lead(t, r, c), pad = width[c] - strlen(s) - lead;

			buf_pad(out, (c ? 2 : 0) + (t->right[c] ? pad : 0) + lead);
			buf_puts(out, s);
			buf_pad(out, t->right[c] ? 0 : pad);
		}
		while (out->len && out->data[out->len - 1] == ' ')
			out->data[--out->len] = '\0';   /* no trailing blanks */
		buf_puts(out, "\n");
	}
	free(width);
}

/* The `stat` table: heading, `show stat` column, right-aligned. */
static const struct stat_column {
	const char *title;              /* the heading */
	const char *key;                /* the `show stat` column shown under it */
	bool numeric;                   /* aligned right */
} stat_columns[] = {
	{ "TYPE", "type", false },           { "NAME", "name", false },
	{ "PARENT", "parent", false },       { "STATUS", "status", false },
	{ "CUR", "cur", true },              { "MAX", "max", true },
	{ "LIMIT", "limit", true },          { "TOTAL", "total", true },
	{ "BYTES_IN", "bytes_in", true },    { "BYTES_OUT", "bytes_out", true },
	{ "DENIED", "denied", true },        { "ERRORS", "errors", true },
	{ "CONN_ERR", "connect_errors", true }, { "RETRIES", "retries", true },
	{ "HEALTH", "health", false },       { "WEIGHT", "weight", true },
	{ "CHANGE", "last_change_s", true },
};

void stat_print_table(char *answer)
{
	enum { NC = ARRAY_LEN(stat_columns) };
	struct csv t;
	struct buf out = {0};
	bool right[NC];
	const char **cell;
	bool *indent;

	csv_parse(answer, &t);
	cell = xreallocarray(NULL, t.nrows * NC, sizeof *cell);
	indent = xreallocarray(NULL, t.nrows, sizeof *indent);
	for (size_t c = 0; c < NC; c++) {
		cell[c] = stat_columns[c].title;
		right[c] = stat_columns[c].numeric;
	}
	indent[0] = false;
	for (size_t r = 1; r < t.nrows; r++) {
		for (size_t c = 0; c < NC; c++) {
			const char *v = csv_get(&t, r, stat_columns[c].key);

			cell[r * NC + c] = *v ? v : "-";   /* keeps columns for awk */
		}
		indent[r] = strcmp(csv_get(&t, r, "type"), "server") == 0;
	}
	table_render(&out, &(struct table){ cell, t.nrows, NC, right, indent, 1 });
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	free(indent);
	free(cell);
	csv_free(&t);
}
