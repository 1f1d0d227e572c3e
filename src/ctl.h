/* ctl.h — a small server for the control endpoints (stats socket,
 * metrics): accepts clients on the reactor, reads their requests into a
 * bounded buffer, and writes answers from a bounded queue. A client's
 * next request is looked at only once the last answer has gone out, so
 * a client that sends and never reads holds one answer at most; every
 * client has a deadline. None of it can stall the relay: no blocking
 * call, no unbounded memory. */
#ifndef NETPOLLD_CTL_H
#define NETPOLLD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "strbuf.h"
#include "timer.h"

struct reactor;
struct ctl_conn;

struct ctl_ops {
	/* DATA holds what the client sent and was not consumed yet; FULL
	 * says the input buffer is full. Returns how much it consumed; it
	 * may queue an answer (ctl_conn_out), hold the client
	 * (ctl_conn_hold) or end it (ctl_conn_finish). Called again while
	 * it consumes and nothing is queued or held. */
	size_t (*input)(struct ctl_conn *c, const char *data, size_t len, bool full);
	/* The deadline passed; NULL: just close. */
	void (*timeout)(struct ctl_conn *c);
	/* C is about to be freed. NULL: nothing to do. */
	void (*closed)(struct ctl_conn *c);
	const char *what;               /* "stats", "metrics": for logs */
	size_t in_max;                  /* input buffer bytes */
	size_t out_max;                 /* answer queue bytes */
	uint32_t timeout_ms;            /* without progress, the client goes */
	bool request_deadline;          /* reads do not extend it: the whole
					   request must come within timeout_ms */
	size_t max_clients;             /* more are closed at once */
};

struct ctl_conn {
	struct ctl_server *srv;         /* owner */
	int fd;                         /* the client */
	char *in;                       /* ops.in_max bytes */
	size_t inlen;                   /* bytes held in in */
	struct strbuf out;              /* answers not yet written */
	bool eof;                       /* the client sent FIN */
	bool finishing;                 /* close once out is written */
	bool shut;                      /* FIN sent; its input is drained and dropped */
	bool held;                      /* input waits (an answer is pending) */
	bool in_input;                  /* inside ops.input: a release must not recurse */
	struct timer timer;             /* the deadline */
	void *ctx;                      /* the endpoint's own state, or NULL */
	struct ctl_conn *prev, *next;   /* in the server's list */
};

struct ctl_server;

/* Listens on A (TEXT for logs); a unix socket gets MODE whatever the
 * umask. ARG is for the endpoint (ctl_server_arg). NULL (logged) on
 * failure. */
struct ctl_server *ctl_server_open(struct reactor *r, const struct addr *a, const char *text,
				   mode_t mode, const struct ctl_ops *ops, void *arg);
/* Closes the socket (unlinking its path) and every client. */
void ctl_server_close(struct ctl_server *srv);
void *ctl_server_arg(const struct ctl_server *srv);
/* Descriptors SRV may hold at most (0 for NULL): for the budget. */
size_t ctl_server_fds(const struct ctl_server *srv);

/* Queues an answer. */
void ctl_conn_out(struct ctl_conn *c, const char *data, size_t len);
/* The answer is being built elsewhere (a reload): read no more input
 * until ctl_conn_release(). */
void ctl_conn_hold(struct ctl_conn *c);
/* Goes on with input after a hold (writes what was queued meanwhile).
 * From inside ops.input (an answer that came at once) it only lifts the
 * hold: the loop that called input goes on by itself. */
void ctl_conn_release(struct ctl_conn *c);
/* Close once what is queued has been written. */
void ctl_conn_finish(struct ctl_conn *c);

#endif
