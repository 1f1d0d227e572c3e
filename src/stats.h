/* stats.h — what the stats socket, netpollctl and /metrics report, as
 * plain values: the daemon fills these from its live objects (a
 * snapshot), and stats_format.c turns a snapshot into text. Keeping the
 * two apart makes every output format testable without a daemon. */
#ifndef NETPOLLD_STATS_H
#define NETPOLLD_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* `show info` (SPEC "Stats socket"), in the order printed. */
struct stats_info {
	const char *version;            /* NETPOLLD_VERSION */
	long pid;
	uint64_t uptime_s;
	uint64_t generation;            /* successful reloads so far */
	const char *last_reload;        /* "never", "ok" or "failed: ..." */
	uint64_t reload_failures;       /* failed reloads so far (metrics only) */
	uint64_t connections_current;
	uint64_t connections_total;
	uint64_t bytes_in;              /* client -> server, all connections */
	uint64_t bytes_out;             /* server -> client */
	int accept_paused;              /* 0 or 1 */
	uint64_t buffers_in_use;        /* relay rings holding memory */
	uint64_t pipes_in_use;          /* splice pipes lent out */
	uint64_t log_dropped;           /* log lines lost to a slow reader */
};

enum stats_type {
	STATS_LISTENER,
	STATS_BACKEND,
	STATS_SERVER,
};

/* One row of `show stat`. Columns, in order (SPEC):
 * type,name,parent,status,cur,max,limit,total,bytes_in,bytes_out,denied,
 * errors,connect_errors,retries,health,weight,last_change_s */
struct stats_row {
	enum stats_type type;
	const char *name;               /* listener/backend name; a server's address */
	const char *parent;             /* server: its backend; listener: its backend; backend: "" */
	const char *status;             /* UP DOWN DRAIN MAINT | OPEN FULL STOPPED */
	uint64_t cur;                   /* connections open now */
	uint64_t max;                   /* the most open at once */
	uint64_t limit;                 /* max_connections; 0 = none */
	uint64_t total;                 /* connections ever */
	uint64_t bytes_in;              /* client -> server */
	uint64_t bytes_out;             /* server -> client */
	uint64_t denied;                /* clients refused by an ACL */
	uint64_t errors;                /* connections ended by an error */
	uint64_t connect_errors;        /* failed connects to servers */
	uint64_t retries;               /* connects retried on another server */
	const char *health;             /* server: last check result ("-" = none); others: "" */
	int64_t weight;                 /* server: its weight; backend: sum of its servers'; listener: -1 = none */
	uint64_t last_change_s;         /* seconds since status last changed */
};

struct stats_snapshot {
	struct stats_info info;
	const struct stats_row *rows;   /* listeners, then backends each followed by its servers */
	size_t nrows;
};

/* Each appends to OUT; none adds the stats socket's closing empty line. */
void stats_format_info(struct strbuf *out, const struct stats_info *info);
void stats_format_csv(struct strbuf *out, const struct stats_row *rows, size_t n);
void stats_format_json(struct strbuf *out, const struct stats_row *rows, size_t n);
/* Prometheus text exposition format 0.0.4. */
void stats_format_prometheus(struct strbuf *out, const struct stats_snapshot *snap);

#endif
