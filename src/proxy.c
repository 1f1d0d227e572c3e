/* proxy.c — builds the running objects from a configuration and handles
 * the events that concern all of them: running out of file descriptors
 * and the graceful stop. */
#include "proxy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "backend.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "reactor.h"
#include "session.h"

/* Listeners rest after running out of descriptors until a connection
 * closes (freeing two), or at most this long: descriptors may also come
 * back from elsewhere (ENFILE is system-wide). */
#define PROXY_ACCEPT_PAUSE_MS 1000
/* At most one "out of descriptors" warning per this many ms. */
#define PROXY_ACCEPT_WARN_MS 10000
/* Spare relay buffers kept after a burst. */
#define PROXY_POOL_SPARES 256
/* Descriptors kept out of the connection budget besides listening
 * sockets: stdio, the reactor's own, and slack for what comes and goes
 * (the notify socket, a file being read). */
#define PROXY_FD_RESERVE 24

static void proxy_resume_accept(struct proxy *p)
{
	reactor_timer_cancel(p->reactor, &p->accept_timer);
	p->accept_paused = false;
	if (p->stopping)
		return;
	for (size_t i = 0; i < p->nlisteners; i++)
		listener_resume(&p->listeners[i]);
}

static void proxy_on_accept_timer(void *arg)
{
	proxy_resume_accept(arg);
}

static void proxy_close_all(struct proxy *p)
{
	while (p->sessions != NULL)
		session_close(p->sessions, SESSION_END_SHUTDOWN);
}

static void proxy_on_stop_timer(void *arg)
{
	struct proxy *p = arg;

	log_info("shutdown_timeout reached: closing %zu connections", p->nsessions);
	proxy_stop(p, true);
}

struct proxy *proxy_create(struct reactor *r, struct config *cfg)
{
	struct proxy *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->reactor = r;
	p->cfg = cfg;
	buffer_pool_init(&p->pool, cfg->buffer_size, PROXY_POOL_SPARES);
	timer_init(&p->accept_timer, proxy_on_accept_timer, p);
	timer_init(&p->stop_timer, proxy_on_stop_timer, p);
	p->backends = calloc(cfg->nbackends, sizeof(*p->backends));
	p->listeners = calloc(cfg->nlisteners, sizeof(*p->listeners));
	if (p->backends == NULL || p->listeners == NULL)
		goto fail;
	for (; p->nbackends < cfg->nbackends; p->nbackends++)
		if (backend_init(&p->backends[p->nbackends], &cfg->backends[p->nbackends]) < 0)
			goto fail;
	for (; p->nlisteners < cfg->nlisteners; p->nlisteners++) {
		const struct config_listener *cl = &cfg->listeners[p->nlisteners];
		if (listener_init(&p->listeners[p->nlisteners], cl, p,
				  &p->backends[cl->backend_index]) < 0)
			goto fail;
	}
	return p;
fail:
	p->cfg = NULL;  /* the caller still owns it */
	proxy_destroy(p);
	return NULL;
}

void proxy_destroy(struct proxy *p)
{
	if (p == NULL)
		return;
	proxy_close_all(p);
	reactor_timer_cancel(p->reactor, &p->accept_timer);
	reactor_timer_cancel(p->reactor, &p->stop_timer);
	for (size_t i = 0; i < p->nlisteners; i++)
		listener_fini(&p->listeners[i]);
	for (size_t i = 0; i < p->nbackends; i++)
		backend_fini(&p->backends[i]);
	free(p->listeners);
	free(p->backends);
	buffer_pool_destroy(&p->pool);
	config_free(p->cfg);
	free(p);
}

/* Every session costs two descriptors (client and server). Accepting
 * beyond what the open-file limit can carry would only mean accepting a
 * client and then dropping it for want of a server socket. */
static size_t proxy_fd_budget(const struct proxy *p, rlim_t *nofile)
{
	size_t reserve = PROXY_FD_RESERVE;
	struct rlimit rl;

	for (size_t i = 0; i < p->nlisteners; i++)
		reserve += p->listeners[i].nsocks;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) {
		*nofile = RLIM_INFINITY;
		return SIZE_MAX;
	}
	*nofile = rl.rlim_cur;
	return rl.rlim_cur > reserve + 2 ? (size_t)(rl.rlim_cur - reserve) / 2 : 1;
}

int proxy_start(struct proxy *p)
{
	rlim_t nofile;

	for (size_t i = 0; i < p->nlisteners; i++)
		if (listener_start(&p->listeners[i]) < 0)
			return -1;
	p->max_sessions = proxy_fd_budget(p, &nofile);
	if (nofile != RLIM_INFINITY)
		log_info("connection limit %zu (open-file limit %llu)", p->max_sessions,
			 (unsigned long long)nofile);
	return 0;
}

bool proxy_can_accept(struct proxy *p)
{
	if (p->accept_paused)
		return false;   /* a session just found no descriptor left */
	if (p->nsessions < p->max_sessions)
		return true;
	proxy_pause_accept(p, 0);
	return false;
}

void proxy_stop(struct proxy *p, bool now)
{
	if (!p->stopping) {
		p->stopping = true;
		for (size_t i = 0; i < p->nlisteners; i++)
			listener_stop(&p->listeners[i]);
		reactor_timer_cancel(p->reactor, &p->accept_timer);
		if (!now && p->nsessions > 0 && p->cfg->shutdown_timeout_ms > 0) {
			log_info("listeners closed; waiting up to %u ms for %zu connections",
				 p->cfg->shutdown_timeout_ms, p->nsessions);
			if (reactor_timer_arm(p->reactor, &p->stop_timer,
					      p->cfg->shutdown_timeout_ms) == 0)
				return;
		}
	}
	proxy_close_all(p);
	reactor_stop(p->reactor);
}

void proxy_pause_accept(struct proxy *p, int err)
{
	uint64_t now = reactor_now(p->reactor);

	if (p->accept_paused)
		return;
	/* At the limit a session's close is sure to come (or the idle
	 * timeout's); out of descriptors, they may come back from elsewhere. */
	if (err != 0 &&
	    reactor_timer_arm(p->reactor, &p->accept_timer, PROXY_ACCEPT_PAUSE_MS) < 0)
		return;     /* cannot promise a resume: keep accepting instead */
	p->accept_paused = true;
	for (size_t i = 0; i < p->nlisteners; i++)
		listener_pause(&p->listeners[i]);
	if (p->accept_warned_ms != 0 && now - p->accept_warned_ms < PROXY_ACCEPT_WARN_MS)
		return;
	p->accept_warned_ms = now;
	if (err == 0)
		log_warnx("accept: connection limit %zu reached; pausing accepts", p->max_sessions);
	else
		log_warnx("accept: %s with %zu connections open; pausing accepts",
			  strerror(err), p->nsessions);
}

void proxy_session_opened(struct proxy *p, struct session *s)
{
	s->prev = NULL;
	s->next = p->sessions;
	if (p->sessions != NULL)
		p->sessions->prev = s;
	p->sessions = s;
	p->nsessions++;
}

void proxy_session_closed(struct proxy *p, struct session *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		p->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	p->nsessions--;
	if (p->stopping && p->nsessions == 0)
		reactor_stop(p->reactor);
	else if (p->accept_paused)
		proxy_resume_accept(p);     /* its descriptors are free again */
}
