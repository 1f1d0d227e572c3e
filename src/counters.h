/* counters.h — what a named object (listener, backend, server) keeps
 * across reloads. Each generation builds new objects, but a listener,
 * backend or server with the same name as one of the last generation
 * shares its predecessor's block: sessions still running on the old
 * object and new ones on the new object count into the same numbers,
 * and a server keeps its operator state. Plain additions on the relay
 * path; no system call is ever made to count. */
#ifndef NETPOLLD_COUNTERS_H
#define NETPOLLD_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>

/* Operator state of a server (`server enable|disable|drain`). */
enum counters_admin {
	COUNTERS_ADMIN_READY,           /* takes new connections */
	COUNTERS_ADMIN_DRAIN,           /* keeps its open ones, takes no new ones */
	COUNTERS_ADMIN_MAINT,           /* disabled: takes no new ones */
};

struct counters {
	unsigned refs;                  /* objects sharing it */
	uint64_t cur;                   /* connections open now */
	uint64_t connecting;            /* servers: connects in flight to it */
	uint64_t max;                   /* the most open at once */
	uint64_t total;                 /* connections ever */
	uint64_t bytes_in;              /* client -> server */
	uint64_t bytes_out;             /* server -> client */
	uint64_t denied;                /* refused by an ACL */
	uint64_t errors;                /* ended by an error or a reset */
	uint64_t connect_errors;        /* failed connects (backends, servers) */
	uint64_t retries;               /* connects retried elsewhere after failing here */
	enum counters_admin admin;      /* servers only */
	uint64_t last_change_ms;        /* status changed at (reactor clock) */
	/* Health of a server, kept across reloads like its counters. */
	bool down;                      /* failed its checks, or its connects */
	unsigned passes;                /* checks passed in a row while down */
	unsigned failures;              /* checks or connects failed in a row while up */
	const char *check;              /* last check's result (static text); "-": none yet */
	uint64_t trial_ms;              /* down without checks: its last trial began or failed at */
	void *owner;                    /* listeners: the one accepting now (full-pause wake-up) */
};

/* A zeroed block with one reference, or NULL if memory ran out. */
struct counters *counters_new(uint64_t now_ms);
/* Another reference to C (may be NULL: then a new block). */
struct counters *counters_share(struct counters *c, uint64_t now_ms);
void counters_release(struct counters *c);

static inline void counters_open(struct counters *c)
{
	c->total++;
	if (++c->cur > c->max)
		c->max = c->cur;
}

static inline void counters_close(struct counters *c)
{
	c->cur--;
}

#endif
