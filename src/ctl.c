/* ctl.c — the control endpoints' bounded client handling. */
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "reactor.h"

/* Few clients are expected (an operator, a scraper): a small backlog. */
#define CTL_BACKLOG 64
/* Clients taken per readiness event. */
#define CTL_ACCEPT_BATCH 16
/* After the last answer, how long the client may take to close. */
#define CTL_DRAIN_MS 2000

struct ctl_server {
	struct reactor *reactor;        /* the loop it is served by */
	const struct ctl_ops *ops;      /* the endpoint */
	void *arg;                      /* the endpoint's */
	struct addr addr;               /* bound */
	int fd;                         /* listening socket */
	struct ctl_conn *conns;         /* open clients */
	size_t nconns;
};

void *ctl_server_arg(const struct ctl_server *srv)
{
	return srv->arg;
}

size_t ctl_server_fds(const struct ctl_server *srv)
{
	return srv != NULL ? 1 + srv->ops->max_clients : 0;
}

static void ctl_conn_close(struct ctl_conn *c)
{
	struct ctl_server *srv = c->srv;

	if (srv->ops->closed != NULL)
		srv->ops->closed(c);
	reactor_timer_cancel(srv->reactor, &c->timer);
	reactor_close(srv->reactor, c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->nconns--;
	strbuf_free(&c->out);
	free(c->in);
	free(c);
}

/* Writes what is queued; false if the client is gone. */
static bool ctl_conn_flush(struct ctl_conn *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		strbuf_consume(&c->out, (size_t)n);
	}
	return true;
}

/* Hands input to the endpoint while it consumes, nothing waits to go
 * out and nothing holds it. */
static void ctl_conn_process(struct ctl_conn *c)
{
	const struct ctl_ops *ops = c->srv->ops;

	while (!c->held && !c->finishing && c->out.len == 0 && c->inlen > 0) {
		size_t used;

		c->in_input = true;
		used = ops->input(c, c->in, c->inlen, c->inlen == ops->in_max);
		c->in_input = false;

		if (used == 0)
			break;
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
		if (!ctl_conn_flush(c)) {
			c->finishing = true;
			c->out.len = 0;
		}
	}
}

/* After any progress: close, or ask for exactly what can move. */
static void ctl_conn_update(struct ctl_conn *c)
{
	struct ctl_server *srv = c->srv;
	unsigned mask = 0;

	if (c->out.len == 0 && (c->finishing || (c->eof && !c->held))) {
		if (c->eof) {
			ctl_conn_close(c);
			return;
		}
		/* All said: a FIN tells the client, and what it still sends
		 * is read and dropped until its own FIN, because closing with
		 * unread input would answer with a reset that can destroy the
		 * answer still in flight. */
		if (!c->shut) {
			c->shut = true;
			shutdown(c->fd, SHUT_WR);
			reactor_timer_arm(srv->reactor, &c->timer, CTL_DRAIN_MS);
		}
		c->inlen = 0;
		reactor_set(srv->reactor, c->fd, REACTOR_READ);
		return;
	}
	if (!c->eof && c->inlen < srv->ops->in_max && c->out.len == 0 && !c->held)
		mask |= REACTOR_READ;
	if (c->out.len > 0)
		mask |= REACTOR_WRITE;
	reactor_set(srv->reactor, c->fd, mask);
}

static void ctl_conn_read(struct ctl_conn *c)
{
	ssize_t n = recv(c->fd, c->in + c->inlen, c->srv->ops->in_max - c->inlen, 0);

	if (n > 0 && c->shut) {
		c->inlen = 0;           /* draining: dropped */
	} else if (n > 0) {
		c->inlen += (size_t)n;
		if (!c->srv->ops->request_deadline)
			reactor_timer_arm(c->srv->reactor, &c->timer, c->srv->ops->timeout_ms);
	} else if (n == 0) {
		c->eof = true;
	} else if (errno != EAGAIN && errno != EINTR) {
		c->eof = true;
		c->finishing = true;    /* reset: nobody to answer */
		strbuf_reset(&c->out);
	}
}

static void ctl_conn_on_io(struct reactor *r, int fd, unsigned events, void *arg)
{
	struct ctl_conn *c = arg;

	(void)r;
	(void)fd;
	if (events & REACTOR_WRITE) {
		size_t before = c->out.len;
		if (!ctl_conn_flush(c)) {
			c->finishing = true;
			strbuf_reset(&c->out);
		} else if (c->out.len < before) {
			reactor_timer_arm(c->srv->reactor, &c->timer, c->srv->ops->timeout_ms);
		}
	}
	if (events & REACTOR_READ)
		ctl_conn_read(c);
	ctl_conn_process(c);
	ctl_conn_update(c);
}

static void ctl_conn_on_timer(void *arg)
{
	struct ctl_conn *c = arg;

	if (c->shut) {
		ctl_conn_close(c);      /* it never closed its side */
		return;
	}
	if (c->srv->ops->timeout != NULL && !c->finishing) {
		c->srv->ops->timeout(c);
		c->finishing = true;
		/* The last answer gets one more period to go out. */
		if (ctl_conn_flush(c) &&
		    reactor_timer_arm(c->srv->reactor, &c->timer, c->srv->ops->timeout_ms) == 0) {
			ctl_conn_update(c);
			return;
		}
	}
	ctl_conn_close(c);
}

static void ctl_server_add(struct ctl_server *srv, int fd)
{
	struct ctl_conn *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->in = malloc(srv->ops->in_max)) == NULL ||
	    reactor_add(srv->reactor, fd, REACTOR_READ, ctl_conn_on_io, c) < 0) {
		log_warnx("%s: no memory for a client", srv->ops->what);
		if (c != NULL)
			free(c->in);
		free(c);
		reactor_close(srv->reactor, fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	strbuf_init(&c->out, srv->ops->out_max);
	timer_init(&c->timer, ctl_conn_on_timer, c);
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	if (reactor_timer_arm(srv->reactor, &c->timer, srv->ops->timeout_ms) < 0)
		ctl_conn_close(c);
}

static void ctl_server_on_accept(struct reactor *r, int fd, unsigned events, void *arg)
{
	struct ctl_server *srv = arg;

	(void)r;
	(void)events;
	for (int i = 0; i < CTL_ACCEPT_BATCH; i++) {
		int cfd = net_accept(fd, NULL);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("%s: accept", srv->ops->what);
			return;
		}
		if (srv->nconns >= srv->ops->max_clients) {
			close(cfd);     /* never registered: a plain close */
			continue;
		}
		ctl_server_add(srv, cfd);
	}
}

struct ctl_server *ctl_server_open(struct reactor *r, const struct addr *a, const char *text,
				   mode_t mode, const struct ctl_ops *ops, void *arg)
{
	struct ctl_server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL) {
		log_errorx("%s: out of memory", ops->what);
		return NULL;
	}
	srv->reactor = r;
	srv->ops = ops;
	srv->arg = arg;
	srv->addr = *a;
	srv->fd = net_listen(a, CTL_BACKLOG);
	if (srv->fd < 0) {
		log_error("%s: cannot listen on %s", ops->what, text);
		free(srv);
		return NULL;
	}
	/* The umask (UMask=0077 under systemd) must not decide who may talk
	 * to the daemon: the mode is part of the contract. */
	if (a->u.sa.sa_family == AF_UNIX && chmod(a->u.sun.sun_path, mode) < 0)
		log_warn("%s: chmod %s", ops->what, text);
	if (reactor_add(r, srv->fd, REACTOR_READ, ctl_server_on_accept, srv) < 0) {
		log_errorx("%s: cannot watch %s: out of memory", ops->what, text);
		close(srv->fd);
		net_unlink(a);
		free(srv);
		return NULL;
	}
	log_info("%s: listening on %s", ops->what, text);
	return srv;
}

void ctl_server_close(struct ctl_server *srv)
{
	if (srv == NULL)
		return;
	while (srv->conns != NULL)
		ctl_conn_close(srv->conns);     /* NOLINT(clang-analyzer-unix.Malloc): unlinks it from srv */
	reactor_close(srv->reactor, srv->fd);
	net_unlink(&srv->addr);
	free(srv);
}

void ctl_conn_out(struct ctl_conn *c, const char *data, size_t len)
{
	strbuf_add(&c->out, data, len);
}

void ctl_conn_hold(struct ctl_conn *c)
{
	c->held = true;
}

void ctl_conn_release(struct ctl_conn *c)
{
	c->held = false;
	if (c->in_input)
		return;
	if (!ctl_conn_flush(c)) {
		c->finishing = true;
		strbuf_reset(&c->out);
	}
	ctl_conn_process(c);
	ctl_conn_update(c);
}

void ctl_conn_finish(struct ctl_conn *c)
{
	c->finishing = true;
}
