/* metrics.c — one request per connection, answered and closed, like a
 * Prometheus scrape expects. Requests are bounded in size and time. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "http.h"
#include "stats.h"

/* A scrape's request is a few hundred bytes. */
#define METRICS_REQUEST_MAX 8192
#define METRICS_OUT_MAX (32u << 20)
/* The whole request must arrive within this. */
#define METRICS_TIMEOUT_MS 10000
#define METRICS_MAX_CLIENTS 16

#define METRICS_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_JSON "application/json"
#define METRICS_PLAIN "text/plain; charset=utf-8"

static void metrics_reply(struct ctl_conn *c, int status, const char *type,
			  const struct strbuf *body, bool head_only)
{
	struct strbuf head;

	strbuf_init(&head, 1024);
	/* RFC 9110: a 405 names the methods that would work. */
	http_format_head_with(&head, status, type, body->len,
			      status == 405 ? "Allow: GET, HEAD\r\n" : NULL);
	ctl_conn_out(c, head.data, head.len);
	if (!head_only)
		ctl_conn_out(c, body->data, body->len);
	strbuf_free(&head);
	ctl_conn_finish(c);
}

/* HEAD_ONLY: the request was HEAD, whose answer never has a body. */
static void metrics_error(struct ctl_conn *c, int status, const char *text, bool head_only)
{
	struct strbuf body;

	strbuf_init(&body, 256);
	strbuf_printf(&body, "%s\n", text);
	metrics_reply(c, status, METRICS_PLAIN, &body, head_only);
	strbuf_free(&body);
}

static void metrics_serve(struct ctl_conn *c, const struct http_request *req)
{
	struct daemon *d = ctl_server_arg(c->srv);
	bool head = strcmp(req->method, "HEAD") == 0;
	bool prom = strcmp(req->path, "/metrics") == 0;
	struct stats_snapshot snap;
	struct stats_row *rows = NULL;
	struct strbuf body;

	if (!head && strcmp(req->method, "GET") != 0) {
		metrics_error(c, 405, "only GET and HEAD", false);
		return;
	}
	if (!prom && strcmp(req->path, "/stats") != 0) {
		metrics_error(c, 404, "not found: try /metrics or /stats", head);
		return;
	}
	if (daemon_snapshot(d, &snap, &rows) < 0) {
		metrics_error(c, 500, "out of memory", head);
		return;
	}
	strbuf_init(&body, METRICS_OUT_MAX);
	if (prom)
		stats_format_prometheus(&body, &snap);
	else
		stats_format_json(&body, snap.rows, snap.nrows);
	free(rows);
	if (body.overflow)
		metrics_error(c, 500, "answer too large", head);
	else
		metrics_reply(c, 200, prom ? METRICS_TEXT : METRICS_JSON, &body, head);
	strbuf_free(&body);
}

static size_t metrics_input(struct ctl_conn *c, const char *data, size_t len, bool full)
{
	struct http_request req;

	switch (http_parse_request(data, len, &req)) {
	case HTTP_PARSE_INCOMPLETE:
		if (!full)
			return 0;
		metrics_error(c, 413, "request too large", false);
		return len;
	case HTTP_PARSE_BAD:
		metrics_error(c, 400, "bad request", false);
		return len;
	case HTTP_PARSE_DONE:
		metrics_serve(c, &req);
		return len;
	}
	return len;
}

static void metrics_timeout(struct ctl_conn *c)
{
	metrics_error(c, 408, "request timeout", false);
}

static const struct ctl_ops metrics_ops = {
	.input = metrics_input,
	.timeout = metrics_timeout,
	.what = "metrics",
	.in_max = METRICS_REQUEST_MAX,
	.out_max = METRICS_OUT_MAX,
	.timeout_ms = METRICS_TIMEOUT_MS,
	.request_deadline = true,
	.max_clients = METRICS_MAX_CLIENTS,
};

struct ctl_server *metrics_open(struct daemon *d, const struct config_address *addr)
{
	return ctl_server_open(d->reactor, &addr->addr, addr->text, 0660, &metrics_ops, d);
}
