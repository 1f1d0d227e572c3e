/* listener.c — listening sockets and the accept path. */
#include "listener.h"

#include <errno.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "net.h"
#include "proxy.h"
#include "reactor.h"
#include "session.h"

/* Connections taken per readiness event: enough to drain a burst cheaply,
 * few enough that established sessions are not starved by a flood. */
#define LISTENER_ACCEPT_BATCH 64
/* The kernel caps this at net.core.somaxconn. */
#define LISTENER_BACKLOG 4096

int listener_init(struct listener *l, const struct config_listener *cl, struct proxy *p,
		  struct backend *b)
{
	l->name = cl->name;
	l->proxy = p;
	l->backend = b;
	l->idle_timeout_ms = cl->idle_timeout_ms;
	l->nsocks = cl->nlisten;
	l->socks = calloc(cl->nlisten, sizeof(*l->socks));
	if (l->socks == NULL)
		return -1;
	for (size_t i = 0; i < cl->nlisten; i++) {
		l->socks[i].text = cl->listen[i].text;
		l->socks[i].addr = cl->listen[i].addr;
		l->socks[i].fd = -1;
		l->socks[i].listener = l;
	}
	return 0;
}

void listener_fini(struct listener *l)
{
	listener_stop(l);
	free(l->socks);
	l->socks = NULL;
	l->nsocks = 0;
}

static void listener_on_accept(struct reactor *r, int fd, unsigned events, void *arg)
{
	struct listener_socket *ls = arg;
	struct listener *l = ls->listener;

	(void)r;
	(void)events;
	for (int i = 0; i < LISTENER_ACCEPT_BATCH && proxy_can_accept(l->proxy); i++) {
		struct addr peer;
		int cfd = net_accept(fd, &peer);

		if (cfd < 0) {
			switch (errno) {
			case EAGAIN:
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;   /* that client gave up; take the next */
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				proxy_pause_accept(l->proxy, errno);
				return;
			default:
				log_warn("listener %s: accept on %s", l->name, ls->text);
				return;
			}
		}
		net_nodelay(cfd, &peer);
		session_start(l, cfd, &peer);
	}
}

int listener_start(struct listener *l)
{
	struct reactor *r = l->proxy->reactor;

	for (size_t i = 0; i < l->nsocks; i++) {
		struct listener_socket *ls = &l->socks[i];

		ls->fd = net_listen(&ls->addr, LISTENER_BACKLOG);
		if (ls->fd < 0) {
			log_error("listener %s: cannot listen on %s", l->name, ls->text);
			return -1;
		}
		if (reactor_add(r, ls->fd, REACTOR_READ, listener_on_accept, ls) < 0) {
			log_errorx("listener %s: cannot watch %s: out of memory", l->name, ls->text);
			return -1;
		}
		log_info("listener %s: listening on %s", l->name, ls->text);
	}
	return 0;
}

static void listener_set(struct listener *l, unsigned mask)
{
	for (size_t i = 0; i < l->nsocks; i++)
		if (l->socks[i].fd >= 0)
			reactor_set(l->proxy->reactor, l->socks[i].fd, mask);
}

void listener_pause(struct listener *l)
{
	listener_set(l, 0);
}

void listener_resume(struct listener *l)
{
	listener_set(l, REACTOR_READ);
}

void listener_stop(struct listener *l)
{
	for (size_t i = 0; i < l->nsocks; i++) {
		struct listener_socket *ls = &l->socks[i];

		if (ls->fd < 0)
			continue;
		reactor_close(l->proxy->reactor, ls->fd);
		net_unlink(&ls->addr);
		ls->fd = -1;
	}
}
