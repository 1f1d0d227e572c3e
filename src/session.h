/* session.h — one proxied connection: a client half, a server half, and
 * the state machine that relays bytes between them. */
#ifndef NETPOLLD_SESSION_H
#define NETPOLLD_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "buffer.h"
#include "pipe_pool.h"
#include "proxyproto.h"
#include "reactor.h"
#include "runtime.h"
#include "strbuf.h"
#include "timer.h"

struct listener;
struct backend;
struct server;

enum session_state {
	SESSION_PROXY_HEADER,   /* accept_proxy: reading the client's PROXY header */
	SESSION_CONNECTING,     /* server connect in flight; client bytes wait */
	SESSION_RELAYING,       /* both sides open (each may be half-closed) */
	SESSION_FLUSHING,       /* one side is gone; the other gets what is left */
	SESSION_LINGERING,      /* both directions shut; waiting until closing loses nothing */
	SESSION_CLOSED,         /* torn down; memory released after this turn */
};

/* Why a session ended: the log line's end= field. */
enum session_end {
	SESSION_END_NONE,
	SESSION_END_CLIENT_CLOSE,
	SESSION_END_SERVER_CLOSE,
	SESSION_END_CLIENT_RESET,
	SESSION_END_SERVER_RESET,
	SESSION_END_IDLE_TIMEOUT,
	SESSION_END_CONNECT_REFUSED,
	SESSION_END_CONNECT_TIMEOUT,
	SESSION_END_NO_SERVER,
	SESSION_END_DENIED,
	SESSION_END_LIMIT,
	SESSION_END_PROXY_HEADER_ERROR,
	SESSION_END_SHUTDOWN,
	SESSION_END_ERROR,
};

/* What send_proxy needs, apart so that sessions without it stay small
 * (an idle connection should cost a few hundred bytes). */
struct session_proxy {
	struct addr local;              /* the address the client reached; len 0: unknown */
	uint8_t len;                    /* header bytes for this connect */
	uint8_t sent;                   /* of them written */
	unsigned char hdr[PROXYPROTO_V1_MAX];  /* the header itself */
};

struct session_half {
	int fd;                         /* -1 when not connected or gone */
	struct session_half *peer;      /* the other side */
	struct session *session;        /* owner */
	struct ring in;                 /* read from this side, owed to the peer */
	struct relay_pipe pipe;         /* or, in a bulk transfer, spliced into this */
	uint32_t piped;                 /* bytes in the pipe, owed to the peer */
	uint64_t sent;                  /* bytes written to this side */
	bool eof;                       /* this side will send no more (FIN, or gone) */
	bool shut;                      /* we write no more to it (FIN sent, failed, gone) */
	bool bulk;                      /* a read filled the ring: splice the next ones */
	bool pipe_full;                 /* the pipe refused more before its capacity */
	bool no_splice;                 /* this socket cannot splice (not TCP, say) */
};

struct session {
	uint64_t id;                    /* conn= in the log */
	enum session_state state;
	enum session_end end;           /* provisional until the session closes */
	bool failed;                    /* a side failed: end is no longer provisional */
	struct session_half client;
	struct session_half server;
	struct runtime *rt;             /* what it runs on */
	struct listener *listener;      /* where it came in (a reference) */
	struct backend *backend;        /* where it goes (a reference) */
	struct server *target;          /* server being tried or connected (a reference) */
	bool connected;                 /* target accepted the connection */
	bool connecting;                /* counted in target's connects in flight */
	int retries;                    /* connects tried after the first failed */
	struct addr client_addr;        /* the client's address (the PROXY header's) */
	bool routed;                    /* admitted: counted on its backend */
	struct session_proxy *proxy;    /* send_proxy's state, only where it is on */
	uint64_t start_ms;              /* accepted at */
	uint64_t connect_ms;            /* accept until connected / given up */
	uint64_t last_active_ms;        /* last byte moved either way */
	uint64_t taken;                 /* bytes the peers took from our send queues, last look */
	uint64_t taken_ms;              /* when that look was */
	struct timer timer;             /* connect deadline, then idle deadline */
	struct reactor_task release;    /* frees the memory after the turn */
	struct runtime_link link;       /* in the runtime's list of open connections */
	struct session *spare_next;     /* in the pool of free sessions */
};

/* Takes ownership of FD, a freshly accepted client of L. */
void session_start(struct listener *l, int fd, const struct addr *client);
/* Ends S at once (graceful stop ran out of time, ...). */
void session_close(struct session *s, enum session_end why);
/* Ends every open session of RT with end=shutdown. */
void session_close_all(struct runtime *rt);
/* One `show conns` line per open session of RT. */
void session_describe_all(const struct runtime *rt, struct strbuf *out);
/* Frees the spare sessions kept for reuse (at exit). */
void session_pool_drain(void);

#endif
