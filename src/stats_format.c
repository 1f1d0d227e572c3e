/* stats_format.c — a stats snapshot as text: `show info`, `show stat` as
 * CSV and JSON, and the Prometheus exposition. The columns and the
 * metrics are tables (after twemproxy's nc_stats.h), so CSV, JSON and
 * the header line cannot drift apart, and a new metric is one entry.
 * Pure: it only appends to a strbuf. */
#include "stats.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static const char *stats_type_name(enum stats_type t)
{
	switch (t) {
	case STATS_LISTENER:
		return "listener";
	case STATS_BACKEND:
		return "backend";
	case STATS_SERVER:
		return "server";
	}
	return "unknown";
}

/* A snapshot filled in a hurry may leave a string out; print it empty. */
static const char *stats_str(const char *s)
{
	return s != NULL ? s : "";
}

/* Copies S with every byte of BAD replaced by '_', so no value can
 * break the line (or the CSV row) it sits in. */
static void stats_put_clean(struct strbuf *out, const char *s, const char *bad)
{
	s = stats_str(s);
	while (*s != '\0') {
		size_t n = strcspn(s, bad);

		strbuf_add(out, s, n);
		s += n;
		if (*s != '\0') {
			strbuf_add(out, "_", 1);
			s++;
		}
	}
}

/* --- show info ---------------------------------------------------------- */

static void stats_info_u64(struct strbuf *out, const char *key, uint64_t v)
{
	strbuf_printf(out, "%s: %" PRIu64 "\n", key, v);
}

void stats_format_info(struct strbuf *out, const struct stats_info *info)
{
	strbuf_puts(out, "version: ");
	stats_put_clean(out, info->version, "\r\n");
	strbuf_printf(out, "\npid: %ld\n", info->pid);
	stats_info_u64(out, "uptime_s", info->uptime_s);
	stats_info_u64(out, "generation", info->generation);
	strbuf_puts(out, "last_reload: ");
	stats_put_clean(out, info->last_reload, "\r\n");
	strbuf_puts(out, "\n");
	stats_info_u64(out, "connections_current", info->connections_current);
	stats_info_u64(out, "connections_total", info->connections_total);
	stats_info_u64(out, "bytes_in", info->bytes_in);
	stats_info_u64(out, "bytes_out", info->bytes_out);
	stats_info_u64(out, "accept_paused", info->accept_paused != 0);
	stats_info_u64(out, "buffers_in_use", info->buffers_in_use);
	stats_info_u64(out, "pipes_in_use", info->pipes_in_use);
	stats_info_u64(out, "log_dropped", info->log_dropped);
}

/* --- show stat: CSV and JSON ------------------------------------------- */

enum stats_col_kind {
	STATS_COL_TYPE,                 /* the row's type, as a word */
	STATS_COL_STR,                  /* a const char * at off */
	STATS_COL_U64,                  /* a uint64_t at off */
	STATS_COL_WEIGHT,               /* weight: negative = none (empty / null) */
};

struct stats_col {
	const char *name;               /* the column's name in both formats */
	enum stats_col_kind kind;       /* how to read and print it */
	size_t off;                     /* where in struct stats_row */
};

#define STATS_COL(kind, field) { #field, kind, offsetof(struct stats_row, field) }

/* SPEC "Stats socket": the columns, in order. */
static const struct stats_col stats_cols[] = {
	STATS_COL(STATS_COL_TYPE, type),
	STATS_COL(STATS_COL_STR, name),
	STATS_COL(STATS_COL_STR, parent),
	STATS_COL(STATS_COL_STR, status),
	STATS_COL(STATS_COL_U64, cur),
	STATS_COL(STATS_COL_U64, max),
	STATS_COL(STATS_COL_U64, limit),
	STATS_COL(STATS_COL_U64, total),
	STATS_COL(STATS_COL_U64, bytes_in),
	STATS_COL(STATS_COL_U64, bytes_out),
	STATS_COL(STATS_COL_U64, denied),
	STATS_COL(STATS_COL_U64, errors),
	STATS_COL(STATS_COL_U64, connect_errors),
	STATS_COL(STATS_COL_U64, retries),
	STATS_COL(STATS_COL_STR, health),
	STATS_COL(STATS_COL_WEIGHT, weight),
	STATS_COL(STATS_COL_U64, last_change_s),
};

#define STATS_NCOLS (sizeof(stats_cols) / sizeof(stats_cols[0]))

static const char *stats_row_str(const struct stats_row *r, size_t off)
{
	return stats_str(*(const char *const *)(const void *)((const char *)r + off));
}

static uint64_t stats_row_u64(const struct stats_row *r, size_t off)
{
	return *(const uint64_t *)(const void *)((const char *)r + off);
}

static void stats_csv_cell(struct strbuf *out, const struct stats_row *r,
			   const struct stats_col *c)
{
	switch (c->kind) {
	case STATS_COL_TYPE:
		strbuf_puts(out, stats_type_name(r->type));
		break;
	case STATS_COL_STR:
		stats_put_clean(out, stats_row_str(r, c->off), ",\r\n");
		break;
	case STATS_COL_U64:
		strbuf_printf(out, "%" PRIu64, stats_row_u64(r, c->off));
		break;
	case STATS_COL_WEIGHT:
		if (r->weight >= 0)
			strbuf_printf(out, "%" PRId64, r->weight);
		break;
	}
}

/* HAProxy's layout: "# " before the names, so tools that strip "# "
 * read the header as a plain CSV header. */
void stats_format_csv(struct strbuf *out, const struct stats_row *rows, size_t n)
{
	strbuf_puts(out, "# ");
	for (size_t c = 0; c < STATS_NCOLS; c++) {
		strbuf_puts(out, c > 0 ? "," : "");
		strbuf_puts(out, stats_cols[c].name);
	}
	strbuf_puts(out, "\n");
	for (size_t i = 0; i < n; i++) {
		for (size_t c = 0; c < STATS_NCOLS; c++) {
			strbuf_puts(out, c > 0 ? "," : "");
			stats_csv_cell(out, &rows[i], &stats_cols[c]);
		}
		strbuf_puts(out, "\n");
	}
}

/* RFC 8259: '"', '\\' and control bytes must be escaped; other bytes
 * pass through as they are. */
static void stats_json_string(struct strbuf *out, const char *s)
{
	strbuf_add(out, "\"", 1);
	while (*s != '\0') {
		size_t n = 0;
		unsigned char ch;

		while (s[n] != '\0' && s[n] != '"' && s[n] != '\\' && (unsigned char)s[n] >= 0x20)
			n++;
		strbuf_add(out, s, n);
		s += n;
		if (*s == '\0')
			break;
		ch = (unsigned char)*s++;
		if (ch == '"' || ch == '\\')
			strbuf_printf(out, "\\%c", ch);
		else
			strbuf_printf(out, "\\u%04x", ch);
	}
	strbuf_add(out, "\"", 1);
}

static void stats_json_value(struct strbuf *out, const struct stats_row *r,
			     const struct stats_col *c)
{
	switch (c->kind) {
	case STATS_COL_TYPE:
		stats_json_string(out, stats_type_name(r->type));
		break;
	case STATS_COL_STR:
		stats_json_string(out, stats_row_str(r, c->off));
		break;
	case STATS_COL_U64:
		strbuf_printf(out, "%" PRIu64, stats_row_u64(r, c->off));
		break;
	case STATS_COL_WEIGHT:
		if (r->weight >= 0)
			strbuf_printf(out, "%" PRId64, r->weight);
		else
			strbuf_puts(out, "null");
		break;
	}
}

/* One object a line: diff- and grep-friendly, and still one document. */
void stats_format_json(struct strbuf *out, const struct stats_row *rows, size_t n)
{
	strbuf_puts(out, "[");
	for (size_t i = 0; i < n; i++) {
		strbuf_puts(out, i > 0 ? ",\n{" : "\n{");
		for (size_t c = 0; c < STATS_NCOLS; c++) {
			strbuf_printf(out, "%s\"%s\":", c > 0 ? "," : "", stats_cols[c].name);
			stats_json_value(out, &rows[i], &stats_cols[c]);
		}
		strbuf_puts(out, "}");
	}
	strbuf_puts(out, "\n]\n");
}

/* --- Prometheus --------------------------------------------------------- */

enum stats_metric_type {
	STATS_GAUGE,
	STATS_COUNTER,                  /* its name ends in _total */
};

/* Which object a metric reads, and so which labels it carries. */
enum stats_metric_scope {
	STATS_PROCESS,                  /* stats_info; no labels */
	STATS_PER_LISTENER,             /* listener rows; listener="NAME" */
	STATS_PER_BACKEND,              /* backend rows; backend="NAME" */
	STATS_PER_SERVER,               /* server rows; backend="B",server="ADDR" */
};

struct stats_metric {
	const char *name;               /* the full family (and sample) name */
	enum stats_metric_type type;    /* gauge or counter */
	enum stats_metric_scope scope;  /* what it reads and how it is labelled */
	size_t off;                     /* a uint64_t in the object, unless fn */
	uint64_t (*fn)(const void *obj);  /* a derived value; NULL: read off */
	const char *label;              /* one more label's name; NULL: none */
	size_t label_off;               /* its value: a const char * in the object */
	const char *help;               /* the # HELP text */
};

static uint64_t stats_one(const void *obj)
{
	(void)obj;
	return 1;
}

static uint64_t stats_reload_ok(const void *obj)
{
	const char *s = stats_str(((const struct stats_info *)obj)->last_reload);

	return strncmp(s, "failed", 6) != 0;
}

static uint64_t stats_accept_paused(const void *obj)
{
	return ((const struct stats_info *)obj)->accept_paused != 0;
}

static uint64_t stats_status_up(const void *obj)
{
	return strcmp(stats_str(((const struct stats_row *)obj)->status), "UP") == 0;
}

/* A draining server is healthy; it only takes no new connections. */
static uint64_t stats_server_up(const void *obj)
{
	const char *s = stats_str(((const struct stats_row *)obj)->status);

	return strcmp(s, "UP") == 0 || strcmp(s, "DRAIN") == 0;
}

static uint64_t stats_weight(const void *obj)
{
	int64_t w = ((const struct stats_row *)obj)->weight;

	return w > 0 ? (uint64_t)w : 0;
}

/* The value: a field, or a function of the whole object. */
#define INFO(field)   offsetof(struct stats_info, field), NULL
#define ROW(field)    offsetof(struct stats_row, field), NULL
#define DERIVED(fn)   0, fn
/* The extra label. */
#define NO_LABEL      NULL, 0
#define INFO_LABEL(name, field) name, offsetof(struct stats_info, field)
#define ROW_LABEL(name, field)  name, offsetof(struct stats_row, field)

#define G STATS_GAUGE
#define C STATS_COUNTER

/* Every family, in output order: name, type, scope, value, label, help. */
static const struct stats_metric stats_metrics[] = {
	{ "netpolld_build_info", G, STATS_PROCESS, DERIVED(stats_one), INFO_LABEL("version", version),
	  "Always 1; the version label names the running netpolld." },
	{ "netpolld_uptime_seconds", G, STATS_PROCESS, INFO(uptime_s), NO_LABEL,
	  "Seconds since netpolld started." },
	{ "netpolld_generation", G, STATS_PROCESS, INFO(generation), NO_LABEL,
	  "Successful configuration reloads since start." },
	{ "netpolld_last_reload_success", G, STATS_PROCESS, DERIVED(stats_reload_ok), NO_LABEL,
	  "0 if the last reload failed, else 1 (also before any reload)." },
	{ "netpolld_reload_failures_total", C, STATS_PROCESS, INFO(reload_failures), NO_LABEL,
	  "Configuration reloads that failed." },
	{ "netpolld_process_connections_current", G, STATS_PROCESS, INFO(connections_current), NO_LABEL,
	  "Client connections open now." },
	{ "netpolld_process_connections_total", C, STATS_PROCESS, INFO(connections_total), NO_LABEL,
	  "Client connections accepted." },
	{ "netpolld_process_bytes_in_total", C, STATS_PROCESS, INFO(bytes_in), NO_LABEL,
	  "Bytes relayed from clients to servers." },
	{ "netpolld_process_bytes_out_total", C, STATS_PROCESS, INFO(bytes_out), NO_LABEL,
	  "Bytes relayed from servers to clients." },
	{ "netpolld_accept_paused", G, STATS_PROCESS, DERIVED(stats_accept_paused), NO_LABEL,
	  "1 while accepting is paused at a connection or file-descriptor limit." },
	{ "netpolld_buffers_in_use", G, STATS_PROCESS, INFO(buffers_in_use), NO_LABEL,
	  "Relay buffers holding memory." },
	{ "netpolld_pipes_in_use", G, STATS_PROCESS, INFO(pipes_in_use), NO_LABEL,
	  "Splice pipes lent out to connections." },
	{ "netpolld_log_dropped_total", C, STATS_PROCESS, INFO(log_dropped), NO_LABEL,
	  "Log lines dropped because the log reader was too slow." },

	{ "netpolld_connections_current", G, STATS_PER_LISTENER, ROW(cur), NO_LABEL,
	  "Client connections open now on the listener." },
	{ "netpolld_connections_max", G, STATS_PER_LISTENER, ROW(max), NO_LABEL,
	  "Most client connections open at once on the listener." },
	{ "netpolld_connections_limit", G, STATS_PER_LISTENER, ROW(limit), NO_LABEL,
	  "The listener's max_connections; 0 means no limit." },
	{ "netpolld_connections_total", C, STATS_PER_LISTENER, ROW(total), NO_LABEL,
	  "Client connections accepted by the listener." },
	{ "netpolld_bytes_in_total", C, STATS_PER_LISTENER, ROW(bytes_in), NO_LABEL,
	  "Bytes relayed from the listener's clients to servers." },
	{ "netpolld_bytes_out_total", C, STATS_PER_LISTENER, ROW(bytes_out), NO_LABEL,
	  "Bytes relayed from servers to the listener's clients." },
	{ "netpolld_denied_total", C, STATS_PER_LISTENER, ROW(denied), NO_LABEL,
	  "Clients refused by the listener's allow and deny rules." },
	{ "netpolld_errors_total", C, STATS_PER_LISTENER, ROW(errors), NO_LABEL,
	  "The listener's connections ended by an error." },
	{ "netpolld_listener_status", G, STATS_PER_LISTENER, DERIVED(stats_one), ROW_LABEL("status", status),
	  "1 for the listener's current status (OPEN, FULL or STOPPED)." },

	{ "netpolld_backend_connections_current", G, STATS_PER_BACKEND, ROW(cur), NO_LABEL,
	  "Connections open now to the backend's servers." },
	{ "netpolld_backend_connections_max", G, STATS_PER_BACKEND, ROW(max), NO_LABEL,
	  "Most connections open at once to the backend's servers." },
	{ "netpolld_backend_connections_total", C, STATS_PER_BACKEND, ROW(total), NO_LABEL,
	  "Connections the backend has served." },
	{ "netpolld_backend_bytes_in_total", C, STATS_PER_BACKEND, ROW(bytes_in), NO_LABEL,
	  "Bytes relayed from clients to the backend's servers." },
	{ "netpolld_backend_bytes_out_total", C, STATS_PER_BACKEND, ROW(bytes_out), NO_LABEL,
	  "Bytes relayed from the backend's servers to clients." },
	{ "netpolld_backend_errors_total", C, STATS_PER_BACKEND, ROW(errors), NO_LABEL,
	  "The backend's connections ended by an error." },
	{ "netpolld_backend_connect_errors_total", C, STATS_PER_BACKEND, ROW(connect_errors), NO_LABEL,
	  "Failed connects to the backend's servers." },
	{ "netpolld_backend_retries_total", C, STATS_PER_BACKEND, ROW(retries), NO_LABEL,
	  "Connects retried on another of the backend's servers." },
	{ "netpolld_backend_up", G, STATS_PER_BACKEND, DERIVED(stats_status_up), NO_LABEL,
	  "1 if the backend's status is UP, else 0." },

	{ "netpolld_server_connections_current", G, STATS_PER_SERVER, ROW(cur), NO_LABEL,
	  "Connections open now to the server." },
	{ "netpolld_server_connections_max", G, STATS_PER_SERVER, ROW(max), NO_LABEL,
	  "Most connections open at once to the server." },
	{ "netpolld_server_connections_limit", G, STATS_PER_SERVER, ROW(limit), NO_LABEL,
	  "The server's max_connections; 0 means no limit." },
	{ "netpolld_server_connections_total", C, STATS_PER_SERVER, ROW(total), NO_LABEL,
	  "Connections made to the server." },
	{ "netpolld_server_bytes_in_total", C, STATS_PER_SERVER, ROW(bytes_in), NO_LABEL,
	  "Bytes relayed from clients to the server." },
	{ "netpolld_server_bytes_out_total", C, STATS_PER_SERVER, ROW(bytes_out), NO_LABEL,
	  "Bytes relayed from the server to clients." },
	{ "netpolld_server_errors_total", C, STATS_PER_SERVER, ROW(errors), NO_LABEL,
	  "The server's connections ended by an error." },
	{ "netpolld_server_connect_errors_total", C, STATS_PER_SERVER, ROW(connect_errors), NO_LABEL,
	  "Failed connects to the server." },
	{ "netpolld_server_retries_total", C, STATS_PER_SERVER, ROW(retries), NO_LABEL,
	  "Connects to the server that were retried elsewhere." },
	{ "netpolld_server_up", G, STATS_PER_SERVER, DERIVED(stats_server_up), NO_LABEL,
	  "1 if the server is UP or DRAIN, else 0." },
	{ "netpolld_server_weight", G, STATS_PER_SERVER, DERIVED(stats_weight), NO_LABEL,
	  "The server's balancing weight." },
	{ "netpolld_server_status", G, STATS_PER_SERVER, DERIVED(stats_one), ROW_LABEL("status", status),
	  "1 for the server's current status (UP, DOWN, DRAIN or MAINT)." },
	{ "netpolld_server_last_change_seconds", G, STATS_PER_SERVER, ROW(last_change_s), NO_LABEL,
	  "Seconds since the server's status last changed." },
};

#undef G
#undef C
#undef INFO
#undef ROW
#undef DERIVED
#undef NO_LABEL
#undef INFO_LABEL
#undef ROW_LABEL

#define STATS_NMETRICS (sizeof(stats_metrics) / sizeof(stats_metrics[0]))

static bool stats_metric_reads(const struct stats_metric *m, const struct stats_row *r)
{
	switch (m->scope) {
	case STATS_PROCESS:
		return false;
	case STATS_PER_LISTENER:
		return r->type == STATS_LISTENER;
	case STATS_PER_BACKEND:
		return r->type == STATS_BACKEND;
	case STATS_PER_SERVER:
		return r->type == STATS_SERVER;
	}
	return false;
}

/* Label values escape '\\', '"' and newline (exposition format 0.0.4). */
static void stats_prom_label(struct strbuf *out, int *nlabels, const char *name,
			     const char *value)
{
	strbuf_printf(out, "%s%s=\"", *nlabels > 0 ? "," : "{", name);
	value = stats_str(value);
	while (*value != '\0') {
		size_t n = strcspn(value, "\\\"\n");

		strbuf_add(out, value, n);
		value += n;
		if (*value == '\0')
			break;
		strbuf_puts(out, *value == '\\' ? "\\\\" : *value == '"' ? "\\\"" : "\\n");
		value++;
	}
	strbuf_puts(out, "\"");
	(*nlabels)++;
}

/* One sample of M read from OBJ (ROW too when it is a row). */
static void stats_prom_sample(struct strbuf *out, const struct stats_metric *m,
			      const void *obj, const struct stats_row *row)
{
	uint64_t v;
	int nlabels = 0;

	strbuf_puts(out, m->name);
	if (row != NULL && m->scope == STATS_PER_SERVER) {
		stats_prom_label(out, &nlabels, "backend", row->parent);
		stats_prom_label(out, &nlabels, "server", row->name);
	} else if (row != NULL) {
		stats_prom_label(out, &nlabels,
				 m->scope == STATS_PER_LISTENER ? "listener" : "backend", row->name);
	}
	if (m->label != NULL)
		stats_prom_label(out, &nlabels, m->label,
				 *(const char *const *)(const void *)((const char *)obj + m->label_off));
	if (nlabels > 0)
		strbuf_puts(out, "}");
	if (m->fn != NULL)
		v = m->fn(obj);
	else
		v = *(const uint64_t *)(const void *)((const char *)obj + m->off);
	strbuf_printf(out, " %" PRIu64 "\n", v);
}

/* Families are written whole, one after another: HELP and TYPE once,
 * then every sample, as the format requires. A family without rows
 * still says what it is. */
void stats_format_prometheus(struct strbuf *out, const struct stats_snapshot *snap)
{
	for (size_t i = 0; i < STATS_NMETRICS; i++) {
		const struct stats_metric *m = &stats_metrics[i];

		strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
			      m->type == STATS_COUNTER ? "counter" : "gauge");
		if (m->scope == STATS_PROCESS) {
			stats_prom_sample(out, m, &snap->info, NULL);
			continue;
		}
		for (size_t r = 0; r < snap->nrows; r++)
			if (stats_metric_reads(m, &snap->rows[r]))
				stats_prom_sample(out, m, &snap->rows[r], &snap->rows[r]);
	}
}
