/* backend.h — a pool of servers, their state, and the choice of the next
 * one to try. Backends and servers are reference counted: a generation
 * holds its own, and every session holds the backend and server it uses,
 * so an object outlives a reload for as long as a connection needs it. */
#ifndef NETPOLLD_BACKEND_H
#define NETPOLLD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "balance.h"
#include "config.h"
#include "counters.h"

struct health_check;

struct server {
	unsigned refs;                  /* the backend's, and each session's */
	char *name;                     /* owned: the address as configured */
	struct addr addr;               /* where to connect */
	size_t max_conns;               /* max_connections; 0 = none */
	struct balance_slot slot;       /* what the balancing algorithm sees */
	struct counters *ctr;           /* shared with same-named predecessors */
};

struct backend {
	unsigned refs;                  /* its generation's, listeners', sessions' */
	char *name;                     /* owned copy */
	uint32_t connect_timeout_ms;    /* per connect attempt */
	int retries;                    /* further attempts after a failed one */
	enum balance_algo algo;         /* balance */
	struct balance_state bal;       /* the algorithm's memory */
	enum config_send_proxy send_proxy;  /* header for each server connection */
	struct config_health health;    /* active checks' settings */
	struct health_check *checks;    /* one per server while checks run, else NULL */
	struct server **servers;        /* at least one; each holds a reference */
	struct balance_slot **slots;    /* servers[i]->slot, for balance_pick() */
	size_t nservers;
	struct counters *ctr;           /* shared with a same-named predecessor */
};

/* Why backend_pick() found no server. */
enum backend_none {
	BACKEND_NONE_DOWN,              /* none up and enabled */
	BACKEND_NONE_FULL,              /* those up are at their max_connections */
};

/* Builds a backend from CB. PREV, the same-named backend of the last
 * generation (or NULL), hands its counters and those of same-addressed
 * servers on, health state included. NULL if memory ran out. */
struct backend *backend_new(const struct config_backend *cb, const struct backend *prev,
			    uint64_t now_ms);
struct backend *backend_ref(struct backend *b);
void backend_unref(struct backend *b);

struct server *server_ref(struct server *s);
void server_unref(struct server *s);
/* UP, DOWN, DRAIN or MAINT. */
const char *server_status(const struct server *s);
/* Operator state; logs the change. */
void server_set_admin(struct server *s, const char *backend, enum counters_admin admin,
		      uint64_t now_ms);
/* Health verdict; logs a change once ("server B/A is DOWN: REASON"). */
void server_set_down(struct server *s, const char *backend, bool down, const char *reason,
		     uint64_t now_ms);

/* The server for a new connection from CLIENT (its address, or the PROXY
 * header's), by the backend's algorithm, among those that may take one.
 * FAILED, if not NULL, is the server a retry moves away from: it is
 * tried again only when no other can take the connection. NULL with
 * *WHY when none can. */
struct server *backend_pick(struct backend *b, const struct addr *client,
			    const struct server *failed, uint64_t now_ms, enum backend_none *why);
/* The server whose configured address is NAME, or NULL. */
struct server *backend_find_server(const struct backend *b, const char *name);
/* UP while a server may take connections, DOWN otherwise. */
const char *backend_status(const struct backend *b, uint64_t now_ms);

#endif
