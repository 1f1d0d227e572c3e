/* poller_epoll.c — the Linux backend: level-triggered epoll. Level
 * triggering keeps the contract simple (no event is ever lost if a handler
 * stops early), and the reactor keeps interest changes rare. */
#include "poller.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "reactor.h"

/* epoll_wait fills this many at most per call; the reactor's batch size. */
#define POLLER_EPOLL_BATCH 256

struct poller {
	int epfd;                                       /* the epoll instance */
	struct epoll_event events[POLLER_EPOLL_BATCH];  /* kernel's answers */
};

struct poller *poller_create(void)
{
	struct poller *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0) {
		int saved = errno;
		free(p);
		errno = saved;
		return NULL;
	}
	return p;
}

void poller_destroy(struct poller *p)
{
	if (p == NULL)
		return;
	close(p->epfd);
	free(p);
}

int poller_apply(struct poller *p, int fd, unsigned old_mask, unsigned new_mask)
{
	struct epoll_event ev = { 0 };
	int op;

	if (new_mask == 0)
		op = EPOLL_CTL_DEL;
	else
		op = old_mask == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	ev.data.fd = fd;
	if (new_mask & REACTOR_READ)
		ev.events |= EPOLLIN | EPOLLRDHUP;
	if (new_mask & REACTOR_WRITE)
		ev.events |= EPOLLOUT;
	return epoll_ctl(p->epfd, op, fd, &ev);
}

void poller_forget(struct poller *p, int fd, bool shared)
{
	struct epoll_event ev = { 0 };

	/* epoll watches the open file, not the descriptor: with another
	 * descriptor on it, close() alone would leave it in the set. */
	if (shared)
		(void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, &ev);
}

int poller_wait(struct poller *p, struct poller_event *events, int max, int timeout_ms)
{
	int n;

	if (max > POLLER_EPOLL_BATCH)
		max = POLLER_EPOLL_BATCH;
	n = epoll_wait(p->epfd, p->events, max, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++) {
		uint32_t e = p->events[i].events;
		unsigned mask = 0;

		if (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
			mask |= REACTOR_READ;
		if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			mask |= REACTOR_WRITE;
		if (e & EPOLLRDHUP)
			mask |= REACTOR_HUP;
		if (e & (EPOLLERR | EPOLLHUP))
			mask |= REACTOR_ERR;
		events[i].fd = p->events[i].data.fd;
		events[i].mask = mask;
	}
	return n;
}

const char *poller_name(void)
{
	return "epoll";
}
