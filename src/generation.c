/* generation.c — building a generation, handing listening sockets over
 * from the previous one, and letting it go. */
#include "generation.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"
#include "backend.h"
#include "config.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "net.h"
#include "reactor.h"
#include "runtime.h"

/* The kernel caps this at net.core.somaxconn. */
#define GENERATION_BACKLOG 4096

static struct listener *generation_find_listener(const struct generation *g, const char *name)
{
	for (size_t i = 0; g != NULL && i < g->nlisteners; i++)
		if (strcmp(g->listeners[i]->name, name) == 0)
			return g->listeners[i];
	return NULL;
}

struct backend *generation_find_backend(const struct generation *g, const char *name)
{
	for (size_t i = 0; g != NULL && i < g->nbackends; i++)
		if (strcmp(g->backends[i]->name, name) == 0)
			return g->backends[i];
	return NULL;
}

static int generation_build(struct generation *g, const struct generation *prev)
{
	const struct config *cfg = g->cfg;
	uint64_t now = reactor_now(g->rt->reactor);

	g->backends = calloc(cfg->nbackends, sizeof(*g->backends));
	g->listeners = calloc(cfg->nlisteners, sizeof(*g->listeners));
	if (g->backends == NULL || g->listeners == NULL)
		return -1;
	for (; g->nbackends < cfg->nbackends; g->nbackends++) {
		const struct config_backend *cb = &cfg->backends[g->nbackends];
		struct backend *b = backend_new(cb, generation_find_backend(prev, cb->name), now);
		if (b == NULL)
			return -1;
		g->backends[g->nbackends] = b;
	}
	for (; g->nlisteners < cfg->nlisteners; g->nlisteners++) {
		const struct config_listener *cl = &cfg->listeners[g->nlisteners];
		struct listener *l = listener_new(cl, g->backends[cl->backend_index],
						  generation_find_listener(prev, cl->name), g->rt);
		if (l == NULL)
			return -1;
		g->listeners[g->nlisteners] = l;
	}
	return 0;
}

struct generation *generation_new(struct config *cfg, const struct generation *prev,
				  struct runtime *rt, uint64_t number)
{
	struct generation *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		config_free(cfg);
		return NULL;
	}
	g->number = number;
	g->cfg = cfg;
	g->rt = rt;
	if (generation_build(g, prev) < 0) {
		generation_free(g);
		return NULL;
	}
	return g;
}

void generation_free(struct generation *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->nlisteners; i++) {
		listener_close(g->listeners[i]);
		listener_unref(g->listeners[i]);
	}
	for (size_t i = 0; i < g->nbackends; i++)
		backend_unref(g->backends[i]);
	free(g->listeners);
	free(g->backends);
	config_free(g->cfg);
	free(g);
}

/* PREV's open socket bound to A, or NULL. */
static struct listen_sock *generation_find_socket(const struct generation *prev,
						  const struct addr *a)
{
	for (size_t i = 0; prev != NULL && i < prev->nlisteners; i++) {
		struct listen_sock *ls = listener_find_socket(prev->listeners[i], a);
		if (ls != NULL)
			return ls;
	}
	return NULL;
}

/* Slot I of L for address CA: kept, inherited or bound. */
static int generation_open_addr(struct listener *l, size_t i, const struct config_address *ca,
				const struct generation *prev, struct activation *act,
				struct config_errors *errs)
{
	struct listen_sock *kept = generation_find_socket(prev, &ca->addr);
	int fd;
	bool inherited;

	if (kept != NULL) {
		if (listener_share_socket(l, i, kept) == 0)
			return 0;
		config_errors_add(errs, NULL, 0, "listener %s: out of memory", l->name);
		return -1;
	}
	fd = act != NULL ? activation_take_addr(act, &ca->addr) : -1;
	inherited = fd >= 0;
	if (!inherited)
		fd = net_listen(&ca->addr, GENERATION_BACKLOG);
	if (fd < 0) {
		config_errors_add(errs, NULL, 0, "listener %s: cannot listen on %s: %s", l->name,
				  ca->text, strerror(errno));
		return -1;
	}
	if (listener_new_socket(l, i, fd, inherited, ca->text, &ca->addr) < 0) {
		close(fd);
		config_errors_add(errs, NULL, 0, "listener %s: out of memory", l->name);
		return -1;
	}
	log_info("listener %s: %s %s", l->name, inherited ? "inherited from systemd:" :
		 "listening on", ca->text);
	return 0;
}

/* Inherited sockets beyond L's addresses that belong to it by name:
 * systemd's FileDescriptorName at start, and what the same-named
 * listener of PREV had taken that way on a reload. */
static int generation_open_named(struct listener *l, const struct generation *prev,
				 struct activation *act, struct config_errors *errs)
{
	const struct listener *old = generation_find_listener(prev, l->name);
	const struct activation_sock *as;
	char text[ADDR_STRLEN];

	for (size_t i = 0; old != NULL && i < old->nsocks; i++) {
		struct listen_sock *ls = old->socks[i];
		if (ls != NULL && ls->inherited && listener_find_socket(l, &ls->addr) == NULL &&
		    listener_share_socket(l, l->nsocks, ls) < 0)
			goto oom;
	}
	while (act != NULL && (as = activation_take_named(act, l->name)) != NULL) {
		addr_format(&as->addr, text, sizeof(text));
		if (listener_new_socket(l, l->nsocks, as->fd, true, text, &as->addr) < 0)
			goto oom;
		log_info("listener %s: inherited from systemd: %s (by name)", l->name, text);
	}
	return 0;
oom:
	config_errors_add(errs, NULL, 0, "listener %s: out of memory", l->name);
	return -1;
}

int generation_open(struct generation *g, const struct generation *prev,
		    struct activation *act, struct config_errors *errs)
{
	int rc = 0;

	for (size_t i = 0; i < g->nlisteners; i++) {
		const struct config_listener *cl = &g->cfg->listeners[i];
		struct listener *l = g->listeners[i];

		for (size_t j = 0; j < cl->nlisten; j++)
			if (generation_open_addr(l, j, &cl->listen[j], prev, act, errs) < 0)
				rc = -1;
		if (rc == 0 && generation_open_named(l, prev, act, errs) < 0)
			rc = -1;
	}
	if (rc < 0) {
		/* Only what G opened itself: shared slots still belong to PREV. */
		for (size_t i = 0; i < g->nlisteners; i++)
			listener_close(g->listeners[i]);
	}
	return rc;
}

int generation_commit(struct generation *g, struct generation *prev, bool accepting)
{
	int rc = 0;

	for (size_t i = 0; i < g->nlisteners; i++)
		if (listener_take(g->listeners[i], accepting) < 0)
			rc = -1;
	/* What PREV still owns was not asked for: those addresses close. */
	for (size_t i = 0; prev != NULL && i < prev->nlisteners; i++)
		listener_close(prev->listeners[i]);
	return rc;
}

void generation_set_accepting(struct generation *g, bool on)
{
	for (size_t i = 0; i < g->nlisteners; i++)
		listener_set_accepting(g->listeners[i], on);
}

void generation_close(struct generation *g)
{
	for (size_t i = 0; i < g->nlisteners; i++)
		listener_close(g->listeners[i]);
}

size_t generation_nsockets(const struct generation *g)
{
	size_t n = 0;

	for (size_t i = 0; i < g->nlisteners; i++)
		n += g->listeners[i]->nsocks;
	return n;
}

void generation_start_checks(struct generation *g)
{
	for (size_t i = 0; i < g->nbackends; i++)
		if (health_start(g->backends[i], g->rt->reactor) < 0)
			log_warnx("backend %s: no memory for health checks; passive marking only",
				  g->backends[i]->name);
}

void generation_stop_checks(struct generation *g)
{
	for (size_t i = 0; i < g->nbackends; i++)
		health_stop(g->backends[i], g->rt->reactor);
}

size_t generation_nchecks(const struct generation *g)
{
	size_t n = 0;

	for (size_t i = 0; i < g->nbackends; i++)
		if (g->backends[i]->health.enabled)
			n += g->backends[i]->nservers;
	return n;
}
