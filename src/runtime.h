/* runtime.h — the process side of the proxy, below every configuration
 * generation: the reactor, the relay buffer pool, the list of open
 * connections, the descriptor budget and the accept pause that guards
 * it, the graceful stop, and process-wide totals. Listeners and sessions
 * use it; it reaches the layer above (which knows the listeners) only
 * through the callbacks it was given. */
#ifndef NETPOLLD_RUNTIME_H
#define NETPOLLD_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "pipe_pool.h"
#include "timer.h"

struct reactor;

/* Embedded in each connection: the runtime's list of open ones. */
struct runtime_link {
	struct runtime_link *prev, *next;
};

struct runtime_callbacks {
	/* Listeners must stop (false) or resume (true) accepting. */
	void (*set_accepting)(void *arg, bool on);
	/* Close every open connection now (the stop's time is up). */
	void (*close_all)(void *arg);
	void *arg;                      /* handed to both */
};

struct runtime {
	struct reactor *reactor;        /* the loop everything runs on */
	struct buffer_pool pool;        /* relay buffers */
	struct pipe_pool pipes;         /* splice pipes */
	bool splice;                    /* global.splice, where the system has it */
	struct timer trim_timer;        /* gives spare buffers and pipes back */
	struct runtime_callbacks cb;    /* up to the layer that owns listeners */
	struct runtime_link *conns;     /* every open connection, newest first */
	size_t nconns;
	uint64_t next_conn_id;          /* conn= of the next connection */
	size_t max_conns;               /* what the open-file limit can carry */
	size_t fd_limit;                /* RLIMIT_NOFILE (SIZE_MAX: none) */
	size_t fd_reserved;             /* of it, kept out of the connection budget */
	bool accept_paused;             /* at the limit or out of fds */
	struct timer accept_timer;      /* ends an out-of-fds pause */
	uint64_t accept_warned_ms;      /* last "pausing accepts" warning */
	bool stopping;                  /* graceful stop in progress */
	struct timer stop_timer;        /* shutdown_timeout */
	uint32_t shutdown_timeout_ms;   /* from the current configuration */
	bool log_connections;           /* likewise */
	uint64_t start_ms;              /* for uptime */
	uint64_t conns_total;           /* connections accepted ever */
	uint64_t bytes_in;              /* client -> server, all connections */
	uint64_t bytes_out;             /* server -> client */
};

void runtime_init(struct runtime *rt, struct reactor *r, size_t buffer_size,
		  const struct runtime_callbacks *cb);
void runtime_fini(struct runtime *rt);
/* Sizes the connection budget from RLIMIT_NOFILE, keeping RESERVED
 * descriptors (listening and control sockets, checks) out of it, and at
 * most WANTED (global.max_connections; 0 = what the limit carries).
 * Logs it if LOUD (at start). */
void runtime_set_budget(struct runtime *rt, size_t reserved, size_t wanted, bool loud);
/* Whether a listener may accept one more client now; at the budget it
 * pauses every listener until a connection closes. */
bool runtime_can_accept(struct runtime *rt);
/* Out of descriptors (ERR is EMFILE, ENFILE...) or at the budget (ERR
 * 0): listeners rest until a connection closes, rather than spin on a
 * backlog the process cannot take from. */
void runtime_pause_accept(struct runtime *rt, int err);
/* A pipe for one direction's splice relay, if splicing is on and the
 * open-file limit has room for it beyond the connections': pipes only
 * take descriptors connections are far from needing. 0 or -1. */
int runtime_pipe_get(struct runtime *rt, struct relay_pipe *pipe);
/* PIPE back; EMPTY false if it still holds bytes (they are dropped). */
void runtime_pipe_put(struct runtime *rt, struct relay_pipe *pipe, bool empty);
/* Bookkeeping for sessions. */
uint64_t runtime_conn_opened(struct runtime *rt, struct runtime_link *l);
void runtime_conn_closed(struct runtime *rt, struct runtime_link *l);
/* Listeners are closed already. Let connections finish within
 * shutdown_timeout, or close them now if NOW; the reactor is stopped
 * when the last one is gone. */
void runtime_stop(struct runtime *rt, bool now);

#endif
