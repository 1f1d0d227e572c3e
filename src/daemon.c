/* daemon.c — the running netpolld: start, reload, stop, and the numbers
 * the control endpoints show.
 *
 * A reload, step by step: the file is read and validated by a loader
 * thread (reload.c) while the loop goes on; back on the loop, a new
 * generation is built beside the current one, finds a socket for each
 * address (the current one's where the address is unchanged, else a new
 * bind), and only if every address could be had does it take over: the
 * swap happens inside one callback, between two loop turns, so no event
 * ever sees half of it. An invalid file or an address that cannot be
 * bound changes nothing. */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"
#include "backend.h"
#include "buffer.h"
#include "config.h"
#include "ctl.h"
#include "generation.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "reactor.h"
#include "reload.h"
#include "sdnotify.h"
#include "session.h"
#include "stats_server.h"

/* systemd's STATUS= line is refreshed this often when it changed. */
#define DAEMON_STATUS_MS 2000

static void daemon_set_accepting(void *arg, bool on)
{
	struct daemon *d = arg;

	generation_set_accepting(d->gen, on);
}

static void daemon_close_all(void *arg)
{
	struct daemon *d = arg;

	session_close_all(&d->rt);
}

/* STATE (may be "") goes with a fresh STATUS= line. */
static void daemon_notify(struct daemon *d, const char *state)
{
	d->status_conns = d->rt.nconns;
	sdnotify_sendf("%sSTATUS=%zu connections, %llu total, generation %llu", state,
		       d->rt.nconns, (unsigned long long)d->rt.conns_total,
		       (unsigned long long)d->gen->number);
}

static void daemon_on_status_timer(void *arg)
{
	struct daemon *d = arg;

	if (d->rt.nconns != d->status_conns)
		daemon_notify(d, "");
	reactor_timer_arm(d->reactor, &d->status_timer, DAEMON_STATUS_MS);
}

/* From the loop's own timer: a loop that stops turning stops pinging. */
static void daemon_on_watchdog(void *arg)
{
	struct daemon *d = arg;

	sdnotify_send("WATCHDOG=1");
	reactor_timer_arm(d->reactor, &d->watchdog_timer, d->watchdog_ms / 2);
}

/* The settings a running generation takes from its file. */
static void daemon_apply_settings(struct daemon *d, const struct config *cfg)
{
	d->rt.log_connections = cfg->log_connections;
	/* Directions already on a pipe finish their burst on it. */
	d->rt.splice = cfg->splice && pipe_pool_supported();
	d->rt.shutdown_timeout_ms = cfg->shutdown_timeout_ms;
	if (!d->level_given)
		log_set_level(cfg->log_level);
}

struct daemon *daemon_create(struct reactor *r, struct config *cfg, const char *path,
			     bool level_given)
{
	struct daemon *d = calloc(1, sizeof(*d));
	struct runtime_callbacks cb = { daemon_set_accepting, daemon_close_all, d };

	if (d == NULL || (d->config_path = strdup(path)) == NULL) {
		free(d);
		config_free(cfg);
		log_errorx("out of memory");
		return NULL;
	}
	d->reactor = r;
	d->level_given = level_given;
	snprintf(d->last_reload, sizeof(d->last_reload), "never");
	runtime_init(&d->rt, r, cfg->buffer_size, &cb);
	timer_init(&d->watchdog_timer, daemon_on_watchdog, d);
	timer_init(&d->status_timer, daemon_on_status_timer, d);
	daemon_apply_settings(d, cfg);
	d->gen = generation_new(cfg, NULL, &d->rt, 0);
	if (d->gen == NULL) {
		log_errorx("out of memory building the configuration");
		daemon_destroy(d);
		return NULL;
	}
	return d;
}

static void daemon_answer_all(struct reload_waiter **list, bool ok, uint64_t generation,
			      const struct config_errors *errs)
{
	while (*list != NULL) {
		struct reload_waiter *w = *list;
		*list = w->next;
		w->next = NULL;
		w->done(w, ok, generation, errs);
	}
}

void daemon_destroy(struct daemon *d)
{
	if (d == NULL)
		return;
	reload_cancel(d->job);
	d->job = NULL;
	ctl_server_close(d->stats);
	ctl_server_close(d->metrics);
	d->waiting = d->queued = NULL;  /* their clients are gone with stats */
	session_close_all(&d->rt);
	if (d->gen != NULL)
		generation_stop_checks(d->gen);
	generation_free(d->gen);
	reactor_timer_cancel(d->reactor, &d->watchdog_timer);
	reactor_timer_cancel(d->reactor, &d->status_timer);
	runtime_fini(&d->rt);
	free(d->config_path);
	free(d);
}

static void daemon_log_errors(const struct config_errors *errs)
{
	for (size_t i = 0; i < errs->count; i++)
		log_errorx("%s", errs->msgs[i]);
}

/* Descriptors that are not connections': listening and control sockets,
 * and one per server under active checks. */
static size_t daemon_reserved_fds(const struct daemon *d, const struct generation *g)
{
	return generation_nsockets(g) + generation_nchecks(g) + ctl_server_fds(d->stats) +
	       ctl_server_fds(d->metrics);
}

static int daemon_open_control(struct daemon *d, const struct config *cfg)
{
	if (cfg->stats_socket.text != NULL &&
	    (d->stats = stats_server_open(d, &cfg->stats_socket)) == NULL)
		return -1;
	if (cfg->metrics_listen.text != NULL &&
	    (d->metrics = metrics_open(d, &cfg->metrics_listen)) == NULL)
		return -1;
	return 0;
}

int daemon_start(struct daemon *d)
{
	struct config_errors errs = { 0 };
	struct activation act;
	int rc;

	if (activation_init(&act) < 0) {
		activation_fini(&act);
		return -1;
	}
	rc = generation_open(d->gen, NULL, &act, &errs);
	daemon_log_errors(&errs);
	config_errors_free(&errs);
	if (rc == 0) {
		activation_warn_unused(&act);
		rc = generation_commit(d->gen, NULL, true);
	}
	activation_fini(&act);
	if (rc < 0 || daemon_open_control(d, d->gen->cfg) < 0)
		return -1;
	runtime_set_budget(&d->rt, daemon_reserved_fds(d, d->gen), d->gen->cfg->max_connections,
			   true);
	generation_start_checks(d->gen);
	d->watchdog_ms = sdnotify_watchdog_ms();
	if (d->watchdog_ms > 0)
		daemon_on_watchdog(d);
	reactor_timer_arm(d->reactor, &d->status_timer, DAEMON_STATUS_MS);
	/* listen() has run for every address: the kernel takes connections
	 * into the backlog from here on, so READY=1 is true now. */
	daemon_notify(d, "READY=1\n");
	return 0;
}

/* What a reload cannot change in a running process. */
static void daemon_warn_fixed(const struct config *old, const struct config *cfg)
{
	const struct { const char *key; const char *was, *now; } paths[] = {
		{ "stats_socket", old->stats_socket.text, cfg->stats_socket.text },
		{ "metrics_listen", old->metrics_listen.text, cfg->metrics_listen.text },
	};

	if (old->buffer_size != cfg->buffer_size)
		log_warnx("reload: buffer_size takes effect at restart; keeping %zu",
			  old->buffer_size);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const char *was = paths[i].was ? paths[i].was : "", *now = paths[i].now ? paths[i].now : "";
		if (strcmp(was, now) == 0)
			continue;
		if (*was == '\0')
			log_warnx("reload: %s takes effect at restart; none until then",
				  paths[i].key);
		else
			log_warnx("reload: %s takes effect at restart; keeping \"%s\"",
				  paths[i].key, was);
	}
}

static void daemon_swap_address(struct config_address *a, struct config_address *b)
{
	struct config_address t = *a;

	*a = *b;
	*b = t;
}

/* Swaps a valid CFG in; -1 with ERRS filled if it cannot be had. */
static int daemon_swap(struct daemon *d, struct config *cfg, struct config_errors *errs)
{
	struct generation *old = d->gen, *g;

	daemon_warn_fixed(old->cfg, cfg);
	g = generation_new(cfg, old, &d->rt, old->number + 1);
	if (g == NULL) {
		config_errors_add(errs, d->config_path, 0, "out of memory");
		return -1;
	}
	if (generation_open(g, old, NULL, errs) < 0) {
		generation_free(g);
		return -1;
	}
	/* What a reload cannot change stays as it runs, so the next reload
	 * compares against what is in effect: one buffer pool serves every
	 * generation (rings in use keep their size), and the control
	 * endpoints stay where they are. */
	g->cfg->buffer_size = old->cfg->buffer_size;
	daemon_swap_address(&g->cfg->stats_socket, &old->cfg->stats_socket);
	daemon_swap_address(&g->cfg->metrics_listen, &old->cfg->metrics_listen);
	if (generation_commit(g, old, !d->rt.accept_paused) < 0)
		log_warnx("reload: generation %llu: a listener cannot be watched",
			  (unsigned long long)g->number);
	/* Checks run for the generation serving: the old one's stop, the new
	 * one's start from the health state they share. */
	generation_stop_checks(old);
	generation_start_checks(g);
	d->gen = g;
	generation_free(old);
	daemon_apply_settings(d, g->cfg);
	runtime_set_budget(&d->rt, daemon_reserved_fds(d, g), g->cfg->max_connections, false);
	return 0;
}

static void daemon_reload_begin(struct daemon *d);

static void daemon_on_loaded(void *arg, struct config *cfg, struct config_errors *errs)
{
	struct daemon *d = arg;
	struct reload_waiter *answer;
	uint64_t generation;
	bool ok = false;

	d->job = NULL;
	if (d->rt.stopping) {
		config_free(cfg);
		config_errors_add(errs, d->config_path, 0, "stopping: reload abandoned");
	} else if (cfg != NULL) {
		ok = daemon_swap(d, cfg, errs) == 0;
	}
	if (ok) {
		snprintf(d->last_reload, sizeof(d->last_reload), "ok");
		log_info("reload: generation %llu serving (%zu listeners)",
			 (unsigned long long)d->gen->number, d->gen->nlisteners);
	} else {
		d->reload_failures++;
		daemon_log_errors(errs);
		snprintf(d->last_reload, sizeof(d->last_reload), "failed: %s%s",
			 errs->count > 0 ? errs->msgs[0] : "unknown error",
			 errs->count > 1 ? " (and more)" : "");
		log_warnx("reload failed; generation %llu goes on serving",
			  (unsigned long long)d->gen->number);
	}
	generation = d->gen->number;
	daemon_notify(d, "READY=1\n");
	/* Those asked for during this load get the next one, which starts
	 * before anyone is answered: an answer may well bring the next
	 * request (a stats client's next line), which must wait for a load
	 * of its own, not take this one's outcome. */
	answer = d->waiting;
	d->waiting = d->queued;
	d->queued = NULL;
	if (d->again || d->waiting != NULL) {
		d->again = false;
		daemon_reload_begin(d);
	}
	daemon_answer_all(&answer, ok, generation, errs);
	config_errors_free(errs);
}

static void daemon_reload_begin(struct daemon *d)
{
	struct config_errors errs = { 0 };

	log_info("reload: reading %s", d->config_path);
	/* MONOTONIC_USEC: what systemd 253+ wants with RELOADING=1. */
	sdnotify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu",
		       (unsigned long long)reactor_now(d->reactor) * 1000);
	d->job = reload_start(d->reactor, d->config_path, daemon_on_loaded, d);
	if (d->job != NULL)
		return;
	config_errors_add(&errs, d->config_path, 0, "cannot start the loader: %s",
			  strerror(errno));
	daemon_on_loaded(d, NULL, &errs);
}

void daemon_reload(struct daemon *d, struct reload_waiter *w)
{
	if (d->rt.stopping) {
		struct config_errors errs = { 0 };
		log_warnx("reload: ignored while stopping");
		config_errors_add(&errs, d->config_path, 0, "stopping: not reloading");
		if (w != NULL)
			w->done(w, false, d->gen->number, &errs);
		config_errors_free(&errs);
		return;
	}
	if (d->job != NULL) {
		/* Read again after this one: it may have read the old file. */
		if (w != NULL) {
			w->next = d->queued;
			d->queued = w;
		} else {
			d->again = true;
		}
		return;
	}
	if (w != NULL) {
		w->next = d->waiting;
		d->waiting = w;
	}
	daemon_reload_begin(d);
}

static void daemon_unlink_waiter(struct reload_waiter **list, struct reload_waiter *w)
{
	for (; *list != NULL; list = &(*list)->next) {
		if (*list == w) {
			*list = w->next;
			return;
		}
	}
}

void daemon_reload_forget(struct daemon *d, struct reload_waiter *w)
{
	daemon_unlink_waiter(&d->waiting, w);
	daemon_unlink_waiter(&d->queued, w);
}

void daemon_stop(struct daemon *d, bool now)
{
	if (!d->rt.stopping) {
		sdnotify_send("STOPPING=1");
		generation_close(d->gen);
	}
	runtime_stop(&d->rt, now);
}

static size_t daemon_count_rows(const struct generation *g)
{
	size_t n = g->nlisteners + g->nbackends;

	for (size_t i = 0; i < g->nbackends; i++)
		n += g->backends[i]->nservers;
	return n;
}

static void daemon_row(struct stats_row *r, enum stats_type type, const char *name,
		       const char *parent, const char *status, const struct counters *c,
		       uint64_t now)
{
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->name = name;
	r->parent = parent;
	r->status = status;
	r->cur = c->cur;
	r->max = c->max;
	r->total = c->total;
	r->bytes_in = c->bytes_in;
	r->bytes_out = c->bytes_out;
	r->denied = c->denied;
	r->errors = c->errors;
	r->connect_errors = c->connect_errors;
	r->retries = c->retries;
	r->health = "";
	r->weight = -1;
	r->last_change_s = (now - c->last_change_ms) / 1000;
}

static void daemon_info(const struct daemon *d, struct stats_info *info, uint64_t now)
{
	memset(info, 0, sizeof(*info));
	info->version = NETPOLLD_VERSION;
	info->pid = (long)getpid();
	info->uptime_s = (now - d->rt.start_ms) / 1000;
	info->generation = d->gen->number;
	info->last_reload = d->last_reload;
	info->reload_failures = d->reload_failures;
	info->connections_current = d->rt.nconns;
	info->connections_total = d->rt.conns_total;
	info->bytes_in = d->rt.bytes_in;
	info->bytes_out = d->rt.bytes_out;
	info->accept_paused = d->rt.accept_paused;
	info->buffers_in_use = d->rt.pool.in_use;
	info->pipes_in_use = d->rt.pipes.in_use;
	info->log_dropped = log_dropped();
}

int daemon_snapshot(const struct daemon *d, struct stats_snapshot *snap,
		    struct stats_row **rows)
{
	const struct generation *g = d->gen;
	uint64_t now = reactor_now(d->reactor);
	struct stats_row *r = calloc(daemon_count_rows(g), sizeof(*r));
	size_t n = 0;

	*rows = r;
	if (r == NULL)
		return -1;
	daemon_info(d, &snap->info, now);
	for (size_t i = 0; i < g->nlisteners; i++) {
		const struct listener *l = g->listeners[i];
		daemon_row(&r[n], STATS_LISTENER, l->name, l->backend->name, listener_status(l),
			   l->ctr, now);
		r[n++].limit = l->max_conns;
	}
	for (size_t i = 0; i < g->nbackends; i++) {
		const struct backend *b = g->backends[i];
		struct stats_row *br = &r[n++];

		daemon_row(br, STATS_BACKEND, b->name, "", backend_status(b, now), b->ctr, now);
		br->weight = 0;
		for (size_t j = 0; j < b->nservers; j++) {
			const struct server *s = b->servers[j];
			struct stats_row *sr = &r[n++];

			daemon_row(sr, STATS_SERVER, s->name, b->name, server_status(s), s->ctr, now);
			sr->health = s->ctr->check;
			sr->weight = s->slot.weight;
			sr->limit = s->max_conns;
			br->weight += sr->weight;
		}
	}
	snap->rows = r;
	snap->nrows = n;
	return 0;
}

int daemon_server_admin(struct daemon *d, const char *backend, const char *server,
			enum counters_admin admin, const char **err)
{
	struct backend *b = generation_find_backend(d->gen, backend);
	struct server *s = b != NULL ? backend_find_server(b, server) : NULL;

	if (b == NULL) {
		*err = "no such backend";
		return -1;
	}
	if (s == NULL) {
		*err = "no such server in that backend (use its address as configured)";
		return -1;
	}
	server_set_admin(s, b->name, admin, reactor_now(d->reactor));
	return 0;
}
