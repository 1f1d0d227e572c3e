/* backend.c — servers of a backend and plain round-robin selection. */
#include "backend.h"

#include <stdlib.h>

#include "config.h"

int backend_init(struct backend *b, const struct config_backend *cb)
{
	b->name = cb->name;
	b->connect_timeout_ms = cb->connect_timeout_ms;
	b->retries = cb->retries;
	b->rr_next = 0;
	b->nservers = cb->nservers;
	b->servers = calloc(cb->nservers, sizeof(*b->servers));
	if (b->servers == NULL)
		return -1;
	for (size_t i = 0; i < cb->nservers; i++) {
		b->servers[i].name = cb->servers[i].address.text;
		b->servers[i].addr = cb->servers[i].address.addr;
		b->servers[i].backend = b;
	}
	return 0;
}

void backend_fini(struct backend *b)
{
	free(b->servers);
	b->servers = NULL;
	b->nservers = 0;
}

struct server *backend_next_server(struct backend *b)
{
	struct server *s = &b->servers[b->rr_next];

	b->rr_next = (b->rr_next + 1) % b->nservers;
	return s;
}

struct server *backend_server_after(struct backend *b, const struct server *failed)
{
	size_t i = (size_t)(failed - b->servers);

	return &b->servers[(i + 1) % b->nservers];
}
