/* health.c — active connect checks and passive marking.
 *
 * A check is a non-blocking connect: writable with no error is a pass,
 * anything else (refused, timed out) a failure. `fall` failures in a row
 * take an UP server DOWN, `rise` passes bring it back. Checks of one
 * backend are spread evenly over the interval so they never fire at once.
 * A session's failed connect counts as a failure too (passive marking);
 * without active checks, a DOWN server is given a trial connection now
 * and then (backend.c) and its first good connect brings it back. */
#include "health.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "net.h"
#include "reactor.h"

/* Failures in a row that mark a server down when it has no health_check. */
#define HEALTH_PASSIVE_FALL CONFIG_DEFAULT_CHECK_FALL

struct health_check {
	struct backend *backend;        /* owner (raw: it stops us first) */
	struct server *server;          /* what is checked */
	struct reactor *reactor;        /* where it runs */
	struct timer timer;             /* next check, or this one's timeout */
	int fd;                         /* the connect in flight, or -1 */
};

const char *health_reason(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connect refused";
	case ETIMEDOUT:
		return "connect timeout";
	case EHOSTUNREACH:
	case ENETUNREACH:
		return "no route to host";
	default:
		return strerror(err);
	}
}

static void health_result(struct health_check *hc, int err)
{
	struct backend *b = hc->backend;
	struct server *s = hc->server;
	struct counters *c = s->ctr;
	uint64_t now = reactor_now(hc->reactor);

	if (hc->fd >= 0)
		reactor_close(hc->reactor, hc->fd);
	hc->fd = -1;
	c->check = err == 0 ? "ok" : health_reason(err);
	if (err == 0) {
		c->failures = 0;
		if (c->down && ++c->passes >= (unsigned)b->health.rise)
			server_set_down(s, b->name, false, "check passed", now);
	} else {
		c->passes = 0;
		if (!c->down && ++c->failures >= (unsigned)b->health.fall)
			server_set_down(s, b->name, true, c->check, now);
	}
	reactor_timer_arm(hc->reactor, &hc->timer, b->health.interval_ms);
}

static void health_on_io(struct reactor *r, int fd, unsigned events, void *arg)
{
	(void)r;
	(void)events;
	health_result(arg, net_connect_error(fd));
}

static void health_on_timer(void *arg)
{
	struct health_check *hc = arg;
	int fd, rc;

	if (hc->fd >= 0) {              /* this check's time is up */
		health_result(hc, ETIMEDOUT);
		return;
	}
	rc = net_connect(&hc->server->addr, &fd);
	if (rc < 0 && (errno == EMFILE || errno == ENFILE)) {
		/* Our shortage says nothing of the server: try next time. */
		reactor_timer_arm(hc->reactor, &hc->timer, hc->backend->health.interval_ms);
		return;
	}
	if (rc < 0) {
		health_result(hc, errno);
		return;
	}
	hc->fd = fd;
	if (rc == 0) {
		health_result(hc, 0);
		return;
	}
	if (reactor_add(hc->reactor, fd, REACTOR_WRITE, health_on_io, hc) < 0) {
		health_result(hc, ENOMEM);
		return;
	}
	reactor_timer_arm(hc->reactor, &hc->timer, hc->backend->health.timeout_ms);
}

int health_start(struct backend *b, struct reactor *r)
{
	if (!b->health.enabled || b->checks != NULL)
		return 0;
	b->checks = calloc(b->nservers, sizeof(*b->checks));
	if (b->checks == NULL)
		return -1;
	for (size_t i = 0; i < b->nservers; i++) {
		struct health_check *hc = &b->checks[i];

		hc->backend = b;
		hc->server = b->servers[i];
		hc->reactor = r;
		hc->fd = -1;
		timer_init(&hc->timer, health_on_timer, hc);
		/* Spread: server i of n is first checked i/n into the interval. */
		reactor_timer_arm(r, &hc->timer, (uint64_t)b->health.interval_ms * i / b->nservers);
	}
	return 0;
}

void health_stop(struct backend *b, struct reactor *r)
{
	if (b->checks == NULL)
		return;
	for (size_t i = 0; i < b->nservers; i++) {
		reactor_timer_cancel(r, &b->checks[i].timer);
		if (b->checks[i].fd >= 0)
			reactor_close(r, b->checks[i].fd);
	}
	free(b->checks);
	b->checks = NULL;
}

void health_connect_failed(struct backend *b, struct server *s, int err, uint64_t now_ms)
{
	struct counters *c = s->ctr;
	unsigned fall = b->health.enabled ? (unsigned)b->health.fall : HEALTH_PASSIVE_FALL;

	c->passes = 0;
	if (c->down) {
		/* A failed trial: wait another period before the next. */
		c->trial_ms = now_ms;
		return;
	}
	if (++c->failures >= fall)
		server_set_down(s, b->name, true, health_reason(err), now_ms);
}

void health_connect_ok(struct backend *b, struct server *s, uint64_t now_ms)
{
	struct counters *c = s->ctr;

	c->failures = 0;
	/* With active checks, only checks bring a server back. */
	if (c->down && b->checks == NULL)
		server_set_down(s, b->name, false, "connect succeeded", now_ms);
}
