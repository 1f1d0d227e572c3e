/* listener.h — a configured listener: its listening sockets and the
 * accept path that turns connections into sessions.
 *
 * A listener is reference counted (its generation, each of its
 * sessions). Its sockets are objects of their own, owned by exactly one
 * listener at a time: a reload hands a socket whose address is unchanged
 * to the new generation's listener, so it is never closed and re-bound
 * and no client is ever refused. */
#ifndef NETPOLLD_LISTENER_H
#define NETPOLLD_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "addr.h"
#include "counters.h"

struct runtime;
struct backend;
struct config_listener;

struct listen_sock {
	char *text;                     /* owned: the address as configured */
	struct addr addr;               /* address bound */
	int fd;                         /* listening socket */
	bool inherited;                 /* from systemd: its path is never unlinked */
	struct listener *owner;         /* the listener accepting on it */
};

struct listener {
	unsigned refs;                  /* its generation's and its sessions' */
	char *name;                     /* owned copy */
	struct runtime *rt;             /* what its sessions run on */
	struct backend *backend;        /* where its sessions go (a reference) */
	uint32_t idle_timeout_ms;       /* for its sessions */
	size_t max_conns;               /* max_connections; 0 = none of its own */
	bool accept_proxy;              /* clients start with a PROXY header */
	struct acl acl;                 /* allow / deny (owned copies of the rules) */
	bool accepting;                 /* what the runtime wants (not paused) */
	bool full;                      /* at max_conns: out of the poller until one closes */
	struct listen_sock **socks;     /* one per listen address; NULL once handed on */
	size_t nsocks;
	struct counters *ctr;           /* shared with a same-named predecessor */
};

/* Builds L from CL, routing to B (a reference is taken). PREV, the
 * same-named listener of the last generation or NULL, hands its
 * counters on. No socket is opened yet. NULL if memory ran out. */
struct listener *listener_new(const struct config_listener *cl, struct backend *b,
			      const struct listener *prev, struct runtime *rt);
struct listener *listener_ref(struct listener *l);
/* The last reference must come after listener_close(). */
void listener_unref(struct listener *l);

/* Slot I of L gets a new socket on FD (inherited or just bound), which
 * L owns at once. I may be nsocks: one more slot, for an inherited
 * socket named after L. -1 if memory ran out (FD is then left open for
 * the caller). */
int listener_new_socket(struct listener *l, size_t i, int fd, bool inherited,
			const char *text, const struct addr *a);
/* Slot I of L (or one more, as above) will take over SOCK, an open
 * socket of another listener, at listener_take(). -1 if memory ran out. */
int listener_share_socket(struct listener *l, size_t i, struct listen_sock *sock);
/* L's socket bound to A, or NULL. */
struct listen_sock *listener_find_socket(const struct listener *l, const struct addr *a);
/* Takes every socket set from another listener (which forgets it) and
 * watches the new ones. ACCEPTING says whether to accept right away. */
int listener_take(struct listener *l, bool accepting);
/* Closes what L owns (a failed reload's new sockets, a removed or
 * stopped listener): from here on its addresses refuse connections. */
void listener_close(struct listener *l);
/* Accepting on or off as the runtime wants, without giving up the
 * sockets (a listener at its own limit stays off until one closes). */
void listener_set_accepting(struct listener *l, bool on);
/* One of L's connections ended: the listener now accepting under L's
 * name (L itself, or its successor after a reload) may take one more. */
void listener_conn_closed(const struct listener *l);
/* OPEN, FULL (accepts paused) or STOPPED. */
const char *listener_status(const struct listener *l);

#endif
