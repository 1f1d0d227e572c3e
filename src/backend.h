/* backend.h — a pool of servers and the choice of the next one to try.
 * Backends and servers are reference counted: a generation holds its
 * own, and every session holds the backend and server it uses, so an
 * object outlives a reload for as long as a connection still needs it. */
#ifndef NETPOLLD_BACKEND_H
#define NETPOLLD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "counters.h"

struct config_backend;

struct server {
	unsigned refs;                  /* the backend's, and each session's */
	char *name;                     /* owned: the address as configured */
	struct addr addr;               /* where to connect */
	struct counters *ctr;           /* shared with same-named predecessors */
};

struct backend {
	unsigned refs;                  /* its generation's, listeners', sessions' */
	char *name;                     /* owned copy */
	uint32_t connect_timeout_ms;    /* per connect attempt */
	int retries;                    /* further attempts after a failed one */
	struct server **servers;        /* at least one; each holds a reference */
	size_t nservers;
	size_t rr_next;                 /* round-robin cursor */
	struct counters *ctr;           /* shared with a same-named predecessor */
};

/* Builds a backend from CB. PREV, the same-named backend of the last
 * generation (or NULL), hands its counters and those of same-addressed
 * servers on. NULL if memory ran out. */
struct backend *backend_new(const struct config_backend *cb, const struct backend *prev,
			    uint64_t now_ms);
struct backend *backend_ref(struct backend *b);
void backend_unref(struct backend *b);

struct server *server_ref(struct server *s);
void server_unref(struct server *s);
/* May take new connections (not drained, not disabled). */
bool server_usable(const struct server *s);
/* UP, DRAIN or MAINT (DOWN comes with health checks). */
const char *server_status(const struct server *s);
/* Operator state; logs the change. */
void server_set_admin(struct server *s, const char *backend, enum counters_admin admin,
		      uint64_t now_ms);

/* Round-robin over the usable servers; NULL if none is usable. */
struct server *backend_next_server(struct backend *b);
/* For a retry: the usable server after FAILED, without taking a turn
 * from the round-robin, so a dead server does not come first for every
 * client. NULL if none is usable. */
struct server *backend_server_after(struct backend *b, const struct server *failed);
/* The server whose configured address is NAME, or NULL. */
struct server *backend_find_server(const struct backend *b, const char *name);
/* UP while a server is usable, DOWN otherwise. */
const char *backend_status(const struct backend *b);

#endif
