/* daemon.h — the running netpolld: the runtime, the current generation,
 * reloads, the control endpoints (stats socket, metrics) and what it
 * tells systemd. main.c builds one; the control endpoints ask it for
 * numbers and hand it operator commands. */
#ifndef NETPOLLD_DAEMON_H
#define NETPOLLD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "runtime.h"
#include "stats.h"
#include "timer.h"

struct config;
struct config_errors;
struct ctl_server;
struct generation;
struct reactor;
struct reload_job;

/* Someone waiting for the outcome of a reload (a stats client). */
struct reload_waiter {
	struct reload_waiter *next;     /* in the daemon's lists */
	/* OK, the generation now serving, and why it failed (ERRS, may be
	 * empty when OK). Called once; the waiter is off every list by then. */
	void (*done)(struct reload_waiter *w, bool ok, uint64_t generation,
		     const struct config_errors *errs);
};

struct daemon {
	struct reactor *reactor;        /* everything runs on it */
	struct runtime rt;              /* process side: pool, budget, connections */
	struct generation *gen;         /* the configuration serving now */
	char *config_path;              /* what SIGHUP reads again */
	bool level_given;               /* -l beats log_level in the file */
	uint64_t reload_failures;       /* failed reloads so far */
	char last_reload[256];          /* never | ok | failed: ... */
	struct reload_job *job;         /* a load in flight, or NULL */
	bool again;                     /* asked again while loading */
	struct reload_waiter *waiting;  /* answered when the load in flight ends */
	struct reload_waiter *queued;   /* asked during it: answered by the next */
	struct ctl_server *stats;       /* global.stats_socket, or NULL */
	struct ctl_server *metrics;     /* global.metrics_listen, or NULL */
	uint64_t watchdog_ms;           /* WATCHDOG=1 period; 0 = none */
	struct timer watchdog_timer;    /* pings systemd from the loop itself */
	struct timer status_timer;      /* refreshes systemd's STATUS= */
	uint64_t status_conns;          /* connections in the last STATUS= */
};

/* Takes CFG. NULL (logged) if memory ran out. */
struct daemon *daemon_create(struct reactor *r, struct config *cfg, const char *path,
			     bool level_given);
void daemon_destroy(struct daemon *d);
/* Binds (or inherits) every listener, opens the control endpoints and
 * says READY=1. -1 (logged) if something cannot be had. */
int daemon_start(struct daemon *d);
/* SIGHUP / `reload`: load the file again off the loop; W (may be NULL)
 * hears the outcome. */
void daemon_reload(struct daemon *d, struct reload_waiter *w);
/* W gave up waiting (its client went away). */
void daemon_reload_forget(struct daemon *d, struct reload_waiter *w);
/* Graceful stop (or at once if NOW). */
void daemon_stop(struct daemon *d, bool now);

/* Fills SNAP from the live objects; *ROWS is the caller's to free. */
int daemon_snapshot(const struct daemon *d, struct stats_snapshot *snap,
		    struct stats_row **rows);
/* `server enable|disable|drain BACKEND/ADDR`; -1 with a reason in ERR. */
int daemon_server_admin(struct daemon *d, const char *backend, const char *server,
			enum counters_admin admin, const char **err);

#endif
