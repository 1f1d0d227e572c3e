/* listener.c — listening sockets, their hand-over between generations,
 * and the accept path. */
#include "listener.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "log.h"
#include "net.h"
#include "reactor.h"
#include "runtime.h"
#include "session.h"

/* Connections taken per readiness event: enough to drain a burst cheaply,
 * few enough that established sessions are not starved by a flood. */
#define LISTENER_ACCEPT_BATCH 64

struct listener *listener_new(const struct config_listener *cl, struct backend *b,
			      const struct listener *prev, struct runtime *rt)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->refs = 1;
	l->rt = rt;
	l->backend = backend_ref(b);
	l->idle_timeout_ms = cl->idle_timeout_ms;
	l->name = strdup(cl->name);
	l->ctr = counters_share(prev ? prev->ctr : NULL, reactor_now(rt->reactor));
	l->socks = calloc(cl->nlisten, sizeof(*l->socks));
	if (l->name == NULL || l->ctr == NULL || l->socks == NULL) {
		listener_unref(l);
		return NULL;
	}
	l->nsocks = cl->nlisten;
	return l;
}

struct listener *listener_ref(struct listener *l)
{
	l->refs++;
	return l;
}

void listener_unref(struct listener *l)
{
	if (l == NULL || --l->refs > 0)
		return;
	listener_close(l);
	free(l->socks);
	backend_unref(l->backend);
	counters_release(l->ctr);
	free(l->name);
	free(l);
}

/* Slot I exists afterwards (I is at most nsocks). */
static int listener_slot(struct listener *l, size_t i)
{
	struct listen_sock **socks;

	if (i < l->nsocks)
		return 0;
	socks = realloc(l->socks, (i + 1) * sizeof(*socks));
	if (socks == NULL)
		return -1;
	socks[i] = NULL;
	l->socks = socks;
	l->nsocks = i + 1;
	return 0;
}

int listener_new_socket(struct listener *l, size_t i, int fd, bool inherited,
			const char *text, const struct addr *a)
{
	struct listen_sock *sock;

	if (listener_slot(l, i) < 0)
		return -1;
	sock = calloc(1, sizeof(*sock));
	if (sock == NULL || (sock->text = strdup(text)) == NULL) {
		free(sock);
		return -1;
	}
	sock->addr = *a;
	sock->fd = fd;
	sock->inherited = inherited;
	sock->owner = l;
	l->socks[i] = sock;
	return 0;
}

int listener_share_socket(struct listener *l, size_t i, struct listen_sock *sock)
{
	if (listener_slot(l, i) < 0)
		return -1;
	l->socks[i] = sock;
	return 0;
}

struct listen_sock *listener_find_socket(const struct listener *l, const struct addr *a)
{
	for (size_t i = 0; i < l->nsocks; i++)
		if (l->socks[i] != NULL && addr_equal(&l->socks[i]->addr, a))
			return l->socks[i];
	return NULL;
}

static void listener_on_accept(struct reactor *r, int fd, unsigned events, void *arg)
{
	struct listen_sock *ls = arg;
	struct listener *l = ls->owner;

	(void)r;
	(void)events;
	for (int i = 0; i < LISTENER_ACCEPT_BATCH && runtime_can_accept(l->rt); i++) {
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
				runtime_pause_accept(l->rt, errno);
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

/* Removes SOCK from the listener that owned it before the hand-over. */
static void listener_forget_socket(struct listener *from, const struct listen_sock *sock)
{
	for (size_t i = 0; i < from->nsocks; i++)
		if (from->socks[i] == sock)
			from->socks[i] = NULL;
}

int listener_take(struct listener *l, bool accepting)
{
	struct reactor *r = l->rt->reactor;

	for (size_t i = 0; i < l->nsocks; i++) {
		struct listen_sock *ls = l->socks[i];

		if (ls == NULL)
			continue;
		if (ls->owner != l) {
			/* Same socket, same reactor registration: only the
			 * owner its events reach changes. */
			listener_forget_socket(ls->owner, ls);
			ls->owner = l;
		} else if (reactor_add(r, ls->fd, 0, listener_on_accept, ls) < 0) {
			log_errorx("listener %s: cannot watch %s: out of memory", l->name, ls->text);
			return -1;
		} else if (ls->inherited) {
			reactor_share(r, ls->fd);
		}
	}
	listener_set_accepting(l, accepting);
	return 0;
}

void listener_close(struct listener *l)
{
	for (size_t i = 0; i < l->nsocks; i++) {
		struct listen_sock *ls = l->socks[i];

		if (ls == NULL || ls->owner != l)
			continue;
		reactor_close(l->rt->reactor, ls->fd);
		/* systemd owns the path of a socket it made. */
		if (!ls->inherited)
			net_unlink(&ls->addr);
		free(ls->text);
		free(ls);
		l->socks[i] = NULL;
	}
}

void listener_set_accepting(struct listener *l, bool on)
{
	for (size_t i = 0; i < l->nsocks; i++)
		if (l->socks[i] != NULL && l->socks[i]->owner == l)
			reactor_set(l->rt->reactor, l->socks[i]->fd, on ? REACTOR_READ : 0);
}

const char *listener_status(const struct listener *l)
{
	if (l->rt->stopping)
		return "STOPPED";
	return l->rt->accept_paused ? "FULL" : "OPEN";
}
