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

/* Sessions check the rules after the generation (and its configuration)
 * may be gone: a PROXY header can come late. */
static int listener_copy_acl(struct acl *to, const struct acl *from)
{
	*to = *from;
	to->allow = to->deny = NULL;
	if (from->nallow > 0 && (to->allow = malloc(from->nallow * sizeof(*to->allow))) == NULL)
		return -1;
	if (from->ndeny > 0 && (to->deny = malloc(from->ndeny * sizeof(*to->deny))) == NULL)
		return -1;
	if (from->nallow > 0)
		memcpy(to->allow, from->allow, from->nallow * sizeof(*to->allow));
	if (from->ndeny > 0)
		memcpy(to->deny, from->deny, from->ndeny * sizeof(*to->deny));
	return 0;
}

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
	l->max_conns = cl->max_connections;
	l->accept_proxy = cl->accept_proxy;
	l->name = strdup(cl->name);
	l->ctr = counters_share(prev ? prev->ctr : NULL, reactor_now(rt->reactor));
	l->socks = calloc(cl->nlisten, sizeof(*l->socks));
	if (l->name == NULL || l->ctr == NULL || l->socks == NULL ||
	    listener_copy_acl(&l->acl, &cl->acl) < 0) {
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
	if (l->ctr != NULL && l->ctr->owner == l)
		l->ctr->owner = NULL;
	free(l->socks);
	free(l->acl.allow);
	free(l->acl.deny);
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
	/* On the listening socket, so that (where the system passes it
	 * on) accepted clients have it without a system call each. */
	net_nodelay(fd, a);
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

/* Watches the sockets L owns for what the runtime and its limit allow. */
static void listener_apply(struct listener *l)
{
	unsigned mask = l->accepting && !l->full ? REACTOR_READ : 0;

	for (size_t i = 0; i < l->nsocks; i++)
		if (l->socks[i] != NULL && l->socks[i]->owner == l)
			reactor_set(l->rt->reactor, l->socks[i]->fd, mask);
}

static void listener_on_accept(struct reactor *r, int fd, unsigned events, void *arg)
{
	struct listen_sock *ls = arg;
	struct listener *l = ls->owner;

	(void)r;
	(void)events;
	for (int i = 0; i < LISTENER_ACCEPT_BATCH && runtime_can_accept(l->rt); i++) {
		struct addr peer;
		int cfd;

		if (l->max_conns > 0 && l->ctr->cur >= l->max_conns) {
			/* Its own limit: the rest wait in the backlog, and the
			 * listener leaves the poller until one of its closes. */
			l->full = true;
			listener_apply(l);
			return;
		}
		cfd = net_accept(fd, &peer);
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
		net_accepted_nodelay(cfd, &peer);
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
	l->ctr->owner = l;
	/* A successor at its predecessor's limit starts full. */
	l->full = l->max_conns > 0 && l->ctr->cur >= l->max_conns;
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
	l->accepting = on;
	listener_apply(l);
}

void listener_conn_closed(const struct listener *l)
{
	struct listener *now = l->ctr->owner;

	/* Only a full listener changes anything: no system call otherwise. */
	if (now != NULL && now->full && now->ctr->cur < now->max_conns) {
		now->full = false;
		listener_apply(now);
	}
}

const char *listener_status(const struct listener *l)
{
	if (l->rt->stopping)
		return "STOPPED";
	return l->rt->accept_paused || l->full ? "FULL" : "OPEN";
}
