/* backend.c — servers of a backend, their state (operator's and
 * health's), and the pick of a server for each new connection. */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Without active checks, a server marked down by failed connects is given
 * one trial connection after this long: nothing else could bring it back. */
#define BACKEND_PASSIVE_RETRY_MS 10000

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
	s->max_conns = cs->max_connections;
	s->slot.weight = cs->weight;
	s->slot.backup = cs->backup;
	s->name = strdup(cs->address.text);
	s->ctr = counters_share(before ? before->ctr : NULL, now_ms);
	if (s->name == NULL || s->ctr == NULL) {
		server_unref(s);
		return NULL;
	}
	s->slot.id_hash = balance_hash_name(s->name);
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

const char *server_status(const struct server *s)
{
	if (s->ctr->admin == COUNTERS_ADMIN_READY && s->ctr->down)
		return "DOWN";
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

void server_set_down(struct server *s, const char *backend, bool down, const char *reason,
		     uint64_t now_ms)
{
	struct counters *c = s->ctr;

	c->passes = c->failures = 0;
	if (c->down == down)
		return;
	c->down = down;
	c->last_change_ms = now_ms;
	if (down)
		log_warnx("server %s/%s is DOWN: %s", backend, s->name, reason);
	else
		log_info("server %s/%s is UP: %s", backend, s->name, reason);
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
	b->algo = cb->balance;
	b->send_proxy = cb->send_proxy;
	b->health = cb->health;
	b->name = strdup(cb->name);
	b->ctr = counters_share(prev ? prev->ctr : NULL, now_ms);
	b->servers = calloc(cb->nservers, sizeof(*b->servers));
	b->slots = calloc(cb->nservers, sizeof(*b->slots));
	if (b->name == NULL || b->ctr == NULL || b->servers == NULL || b->slots == NULL)
		goto fail;
	for (; b->nservers < cb->nservers; b->nservers++) {
		struct server *s = server_new(&cb->servers[b->nservers], prev, now_ms);
		if (s == NULL)
			goto fail;
		b->servers[b->nservers] = s;
		b->slots[b->nservers] = &s->slot;
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
	free(b->slots);
	counters_release(b->ctr);
	free(b->name);
	free(b);
}

/* Up for new connections: enabled, and healthy or due a passive trial. */
static bool backend_server_up(const struct backend *b, const struct server *s, uint64_t now)
{
	const struct counters *c = s->ctr;

	if (c->admin != COUNTERS_ADMIN_READY)
		return false;
	if (!c->down)
		return true;
	return b->checks == NULL && now - c->last_change_ms >= BACKEND_PASSIVE_RETRY_MS &&
	       now - c->trial_ms >= BACKEND_PASSIVE_RETRY_MS;
}

/* Refreshes what the algorithm sees; true if some up server is full. */
static bool backend_refresh(struct backend *b, const struct server *skip, uint64_t now)
{
	bool full = false;

	for (size_t i = 0; i < b->nservers; i++) {
		struct server *s = b->servers[i];
		bool up = backend_server_up(b, s, now);
		/* Connects in flight count: a burst must not overshoot. */
		uint64_t load = s->ctr->cur + s->ctr->connecting;
		bool room = s->max_conns == 0 || load < s->max_conns;

		full |= up && !room;
		s->slot.eligible = up && room && s != skip;
		s->slot.conns = load;
	}
	return full;
}

/* A retry: the next eligible server after FAILED in configuration order
 * (primaries while any is eligible), without a turn of the algorithm, so
 * a dead server does not shift every client's first choice. */
static ssize_t backend_after(const struct backend *b, const struct server *failed)
{
	size_t from = 0;
	ssize_t backup = -1;

	for (size_t i = 0; i < b->nservers; i++)
		if (b->servers[i] == failed)
			from = i + 1;
	for (size_t k = 0; k < b->nservers; k++) {
		size_t i = (from + k) % b->nservers;
		const struct balance_slot *slot = &b->servers[i]->slot;

		if (slot->eligible && !slot->backup)
			return (ssize_t)i;
		if (slot->eligible && backup < 0)
			backup = (ssize_t)i;
	}
	return backup;
}

struct server *backend_pick(struct backend *b, const struct addr *client,
			    const struct server *failed, uint64_t now_ms, enum backend_none *why)
{
	bool full = backend_refresh(b, failed, now_ms);
	ssize_t i = failed == NULL ? balance_pick(b->algo, b->slots, b->nservers, client, &b->bal)
				   : backend_after(b, failed);

	if (i < 0 && failed != NULL) {
		/* Nothing else: the failed one again (a single server). */
		full = backend_refresh(b, NULL, now_ms);
		i = backend_after(b, failed);
	}
	if (i >= 0) {
		/* A down server picked is its passive trial: one per period. */
		if (b->servers[i]->ctr->down)
			b->servers[i]->ctr->trial_ms = now_ms;
		return b->servers[i];
	}
	*why = full ? BACKEND_NONE_FULL : BACKEND_NONE_DOWN;
	return NULL;
}

struct server *backend_find_server(const struct backend *b, const char *name)
{
	for (size_t i = 0; i < b->nservers; i++)
		if (strcmp(b->servers[i]->name, name) == 0)
			return b->servers[i];
	return NULL;
}

const char *backend_status(const struct backend *b, uint64_t now_ms)
{
	for (size_t i = 0; i < b->nservers; i++)
		if (backend_server_up(b, b->servers[i], now_ms))
			return "UP";
	return "DOWN";
}
