/* stats_server.c — the stats socket's commands, answered from the
 * daemon's live objects. */
#include "stats_server.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "session.h"
#include "stats.h"
#include "stats_cmd.h"

/* A command line, with room to spare. */
#define STATS_LINE_MAX 4096
/* The largest answer: `show conns` with every connection the open-file
 * limit allows, at about 200 bytes a line. */
#define STATS_OUT_MAX (32u << 20)
/* An idle operator's connection goes after this long. */
#define STATS_TIMEOUT_MS 60000
#define STATS_MAX_CLIENTS 16

/* A stats client waiting for its reload. */
struct stats_client {
	struct reload_waiter waiter;    /* first: the daemon hands it back */
	struct ctl_conn *conn;          /* who asked */
	struct daemon *daemon;
};

static void stats_answer(struct ctl_conn *c, struct strbuf *body)
{
	if (body->overflow) {
		strbuf_reset(body);
		body->overflow = false;
		strbuf_puts(body, "error: answer too large\n");
	}
	strbuf_puts(body, "\n");
	ctl_conn_out(c, body->data, body->len);
}

static void stats_show(struct daemon *d, const struct stats_cmd *cmd, struct strbuf *out)
{
	struct stats_snapshot snap;
	struct stats_row *rows = NULL;

	if (cmd->kind == STATS_CMD_SHOW_CONNS) {
		session_describe_all(&d->rt, out);
		return;
	}
	if (daemon_snapshot(d, &snap, &rows) < 0) {
		strbuf_puts(out, "error: out of memory\n");
		return;
	}
	if (cmd->kind == STATS_CMD_SHOW_INFO)
		stats_format_info(out, &snap.info);
	else if (cmd->kind == STATS_CMD_SHOW_STAT)
		stats_format_csv(out, snap.rows, snap.nrows);
	else
		stats_format_json(out, snap.rows, snap.nrows);
	free(rows);
}

static void stats_admin(struct daemon *d, const struct stats_cmd *cmd, struct strbuf *out)
{
	static const enum counters_admin admins[] = {
		[STATS_CMD_SERVER_ENABLE] = COUNTERS_ADMIN_READY,
		[STATS_CMD_SERVER_DISABLE] = COUNTERS_ADMIN_MAINT,
		[STATS_CMD_SERVER_DRAIN] = COUNTERS_ADMIN_DRAIN,
	};
	static const char *const names[] = {
		[COUNTERS_ADMIN_READY] = "UP", [COUNTERS_ADMIN_DRAIN] = "DRAIN",
		[COUNTERS_ADMIN_MAINT] = "MAINT",
	};
	enum counters_admin admin = admins[cmd->kind];
	const char *err;

	if (daemon_server_admin(d, cmd->backend, cmd->server, admin, &err) < 0)
		strbuf_printf(out, "error: %s\n", err);
	else
		strbuf_printf(out, "ok: server %s/%s is %s\n", cmd->backend, cmd->server,
			      names[admin]);
}

static void stats_reload_done(struct reload_waiter *w, bool ok, uint64_t generation,
			      const struct config_errors *errs)
{
	struct stats_client *sc = (struct stats_client *)w;
	struct ctl_conn *c = sc->conn;
	struct strbuf out;

	strbuf_init(&out, STATS_OUT_MAX);
	if (ok) {
		strbuf_printf(&out, "ok: generation %llu\n", (unsigned long long)generation);
	} else {
		strbuf_puts(&out, "error: reload failed\n");
		for (size_t i = 0; errs != NULL && i < errs->count; i++)
			strbuf_printf(&out, "error: %s\n", errs->msgs[i]);
	}
	c->ctx = NULL;
	free(sc);
	stats_answer(c, &out);
	strbuf_free(&out);
	ctl_conn_release(c);
}

static void stats_reload(struct daemon *d, struct ctl_conn *c)
{
	struct stats_client *sc = calloc(1, sizeof(*sc));

	if (sc == NULL) {
		ctl_conn_out(c, "error: out of memory\n\n", 22);
		return;
	}
	sc->waiter.done = stats_reload_done;
	sc->conn = c;
	sc->daemon = d;
	c->ctx = sc;
	ctl_conn_hold(c);
	daemon_reload(d, &sc->waiter);
}

static void stats_run(struct ctl_conn *c, const struct stats_cmd *cmd)
{
	struct daemon *d = ctl_server_arg(c->srv);
	struct strbuf out;

	switch (cmd->kind) {
	case STATS_CMD_RELOAD:
		stats_reload(d, c);
		return;
	case STATS_CMD_QUIT:
		ctl_conn_finish(c);
		return;
	case STATS_CMD_SHOW_INFO:
	case STATS_CMD_SHOW_STAT:
	case STATS_CMD_SHOW_STAT_JSON:
	case STATS_CMD_SHOW_CONNS:
	case STATS_CMD_SERVER_ENABLE:
	case STATS_CMD_SERVER_DISABLE:
	case STATS_CMD_SERVER_DRAIN:
	case STATS_CMD_HELP:
		break;
	}
	strbuf_init(&out, STATS_OUT_MAX);
	if (cmd->kind == STATS_CMD_HELP)
		strbuf_puts(&out, stats_cmd_help);
	else if (cmd->kind == STATS_CMD_SERVER_ENABLE || cmd->kind == STATS_CMD_SERVER_DISABLE ||
		 cmd->kind == STATS_CMD_SERVER_DRAIN)
		stats_admin(d, cmd, &out);
	else
		stats_show(d, cmd, &out);
	stats_answer(c, &out);
	strbuf_free(&out);
}

/* One line at a time: the next is looked at once this answer is out. */
static size_t stats_input(struct ctl_conn *c, const char *data, size_t len, bool full)
{
	const char *nl = memchr(data, '\n', len);
	struct stats_cmd cmd;
	const char *err;

	if (nl == NULL) {
		if (full) {
			static const char msg[] = "error: line too long\n\n";
			ctl_conn_out(c, msg, sizeof(msg) - 1);
			ctl_conn_finish(c);
			return len;
		}
		return 0;
	}
	if (stats_cmd_parse(data, (size_t)(nl - data), &cmd, &err) < 0) {
		struct strbuf out;
		strbuf_init(&out, STATS_LINE_MAX);
		strbuf_printf(&out, "error: %s\n", err);
		stats_answer(c, &out);
		strbuf_free(&out);
	} else {
		stats_run(c, &cmd);
	}
	return (size_t)(nl - data) + 1;
}

static void stats_closed(struct ctl_conn *c)
{
	struct stats_client *sc = c->ctx;

	if (sc != NULL) {
		daemon_reload_forget(sc->daemon, &sc->waiter);
		free(sc);
		c->ctx = NULL;
	}
}

static const struct ctl_ops stats_ops = {
	.input = stats_input,
	.closed = stats_closed,
	.what = "stats socket",
	.in_max = STATS_LINE_MAX,
	.out_max = STATS_OUT_MAX,
	.timeout_ms = STATS_TIMEOUT_MS,
	.max_clients = STATS_MAX_CLIENTS,
};

struct ctl_server *stats_server_open(struct daemon *d, const struct config_address *path)
{
	return ctl_server_open(d->reactor, &path->addr, path->text, 0660, &stats_ops, d);
}
