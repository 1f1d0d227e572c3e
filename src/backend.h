/* backend.h — a pool of servers and the choice of the next one to try. */
#ifndef NETPOLLD_BACKEND_H
#define NETPOLLD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct config_backend;

struct server {
	const char *name;               /* the address as configured */
	struct addr addr;               /* where to connect */
	struct backend *backend;        /* owner */
};

struct backend {
	const char *name;               /* as configured */
	uint32_t connect_timeout_ms;    /* per connect attempt */
	int retries;                    /* further attempts after a failed one */
	struct server *servers;         /* at least one */
	size_t nservers;
	size_t rr_next;                 /* round-robin cursor */
};

/* Builds B from its configuration; names point into CB, which must
 * outlive B. -1 if memory ran out. */
int backend_init(struct backend *b, const struct config_backend *cb);
void backend_fini(struct backend *b);
/* Round-robin: each new connection takes the next server in turn. */
struct server *backend_next_server(struct backend *b);
/* For a retry: the server after FAILED, without taking a turn from the
 * round-robin, so a dead server does not come first for every client. */
struct server *backend_server_after(struct backend *b, const struct server *failed);

#endif
