/* netpollctl_fmt.h — the stats socket's answers read and shown: `show
 * info` as key/value pairs, `show stat` as CSV, `show conns` as logfmt;
 * their JSON forms for --json, and aligned text tables. Parsing is done
 * in place: results point into the answer, which must outlive them. */
#ifndef NETPOLLD_NETPOLLCTL_FMT_H
#define NETPOLLD_NETPOLLCTL_FMT_H

#include <stdbool.h>
#include <stddef.h>

#include "netpollctl_util.h"

#define CTL_INFO_MAX         256        /* `show info` keys kept */

/* `show info` split in place into key/value pairs. */
struct kv_list {
	char *key[CTL_INFO_MAX];        /* the text before each line's ':' */
	char *val[CTL_INFO_MAX];        /* the text after it, leading blanks cut */
	size_t n;                       /* pairs held */
};

void info_parse(char *answer, struct kv_list *kv);
/* KEY's value, or NULL when the answer lacked it. */
const char *kv_get(const struct kv_list *kv, const char *key);

/* `show stat` parsed in place: cells point into the answer. Columns are
 * found by their header name, so added or reordered columns still work. */
struct csv {
	const char **cell;              /* nrows * ncols, row-major; row 0 the header */
	size_t ncols;                   /* fields per row: the header's, else SPEC's */
	size_t nrows;                   /* header included */
};

/* Free it with csv_free(). */
void csv_parse(char *text, struct csv *t);
/* ROW's cell in column KEY; "" when there is no such column. */
const char *csv_get(const struct csv *t, size_t row, const char *key);
void csv_free(struct csv *t);

/* --json forms of `show info` and `show conns`, on stdout. */
void info_print_json(char *answer);
void conns_print_json(char *answer);

struct table {
	const char **cell;              /* nrows * ncols, row 0 the headings */
	size_t nrows;                   /* headings included */
	size_t ncols;                   /* cells per row */
	const bool *right;              /* per column: align right (numbers) */
	const bool *indent;             /* per row: indent column INDENT_COL, or NULL */
	size_t indent_col;              /* the column INDENT shifts by two */
};

/* T as columns two blanks apart, each as wide as its widest cell, no
 * trailing blanks; appended to OUT. */
void table_render(struct buf *out, const struct table *t);
/* `show stat` as the `stat` command's table, on stdout. */
void stat_print_table(char *answer);

#endif
