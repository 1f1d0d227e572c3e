/* backend.c — servers of a backend, their state, and round-robin
 * selection among the usable ones. */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

static const char *const server_admin_names[] = {
	[COUNTERS_ADMIN_READY] = "UP",
	[COUNTERS_ADMIN_DRAIN] = "DRAIN",
	[COUNTERS_ADMIN_MAINT] = "MAINT",
};

static struct server *server_new(const struct config_server *cs, const struct backend *prev,
				 uint64_t now_ms)
{
	struct server *s = calloc(1, sizeof(*s));
	struct server *before = prev ? backend_find_server(prev, cs->address.text) : NULL;

	if (s == NULL)
		return NULL;
	s->refs = 1;
	s->addr = cs->address.addr;
	s->name = strdup(cs->address.text);
	s->ctr = counters_share(before ? before->ctr : NULL, now_ms);
	if (s->name == NULL || s->ctr == NULL) {
		server_unref(s);
		return NULL;
	}
	return s;
}

struct server *server_ref(struct server *s)
{
	s->refs++;
	return s;
}

void server_unref(struct server *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	counters_release(s->ctr);
	free(s->name);
	free(s);
}

bool server_usable(const struct server *s)
{
	return s->ctr->admin == COUNTERS_ADMIN_READY;
}

const char *server_status(const struct server *s)
{
	return server_admin_names[s->ctr->admin];
}

void server_set_admin(struct server *s, const char *backend, enum counters_admin admin,
		      uint64_t now_ms)
{
	if (s->ctr->admin == admin)
		return;
	log_info("server %s/%s is %s (operator)", backend, s->name, server_admin_names[admin]);
	s->ctr->admin = admin;
	s->ctr->last_change_ms = now_ms;
}

struct backend *backend_new(const struct config_backend *cb, const struct backend *prev,
			    uint64_t now_ms)
{
	struct backend *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->refs = 1;
	b->connect_timeout_ms = cb->connect_timeout_ms;
	b->retries = cb->retries;
	b->name = strdup(cb->name);
	b->ctr = counters_share(prev ? prev->ctr : NULL, now_ms);
	b->servers = calloc(cb->nservers, sizeof(*b->servers));
	if (b->name == NULL || b->ctr == NULL || b->servers == NULL)
		goto fail;
	for (; b->nservers < cb->nservers; b->nservers++) {
		b->servers[b->nservers] = server_new(&cb->servers[b->nservers], prev, now_ms);
		if (b->servers[b->nservers] == NULL)
			goto fail;
	}
	return b;
fail:
	backend_unref(b);
	return NULL;
}

struct backend *backend_ref(struct backend *b)
{
	b->refs++;
	return b;
}

void backend_unref(struct backend *b)
{
	if (b == NULL || --b->refs > 0)
		return;
	for (size_t i = 0; i < b->nservers; i++)
		server_unref(b->servers[i]);
	free(b->servers);
	counters_release(b->ctr);
	free(b->name);
	free(b);
}

/* The first usable server at or after index FROM, wrapping; NULL if none. */
static struct server *backend_usable_from(const struct backend *b, size_t from, size_t *at)
{
	for (size_t k = 0; k < b->nservers; k++) {
		size_t i = (from + k) % b->nservers;
		if (server_usable(b->servers[i])) {
			*at = i;
			return b->servers[i];
		}
	}
	return NULL;
}

struct server *backend_next_server(struct backend *b)
{
	size_t at;
	struct server *s = backend_usable_from(b, b->rr_next, &at);

	if (s != NULL)
		b->rr_next = (at + 1) % b->nservers;
	return s;
}

struct server *backend_server_after(struct backend *b, const struct server *failed)
{
	size_t at;

	for (size_t i = 0; i < b->nservers; i++)
		if (b->servers[i] == failed)
			return backend_usable_from(b, i + 1, &at);
	return backend_next_server(b);
}

struct server *backend_find_server(const struct backend *b, const char *name)
{
	for (size_t i = 0; i < b->nservers; i++)
		if (strcmp(b->servers[i]->name, name) == 0)
			return b->servers[i];
	return NULL;
}

const char *backend_status(const struct backend *b)
{
	for (size_t i = 0; i < b->nservers; i++)
		if (server_usable(b->servers[i]))
			return "UP";
	return "DOWN";
}
