/* reactor.c — the loop: apply interest changes, wait, dispatch the batch,
 * fire due timers, run deferred tasks. One turn, top to bottom, in
 * reactor_run(). The kernel API lives behind poller.h. */
#include "reactor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "poller.h"

/* Events handled per wait: large enough to amortise the system call,
 * small enough that timers and deferred work are never starved. */
#define REACTOR_BATCH 256
/* Signals 1..64 on Linux and the BSDs. */
#define REACTOR_NSIG 65

struct reactor_fd {
	reactor_io_cb cb;       /* NULL: slot not in use */
	void *arg;              /* handed to cb */
	unsigned want;          /* interest the owner asked for */
	unsigned have;          /* interest the kernel is watching */
	bool dirty;             /* listed in reactor.changes */
	bool shared;            /* another descriptor holds the same open file */
};

struct reactor_sig {
	reactor_signal_cb cb;   /* NULL: not ours */
	void *arg;              /* handed to cb */
};

struct reactor {
	struct poller *poller;                  /* the kernel readiness API */
	struct reactor_fd *fds;                 /* indexed by fd */
	size_t nfds;                            /* slots in fds */
	int *changes;                           /* fds whose want may differ from have */
	size_t nchanges, capchanges;
	struct poller_event events[REACTOR_BATCH];  /* the batch being dispatched */
	int nevents;                            /* events in the batch */
	int cursor;                             /* event being dispatched */
	struct timer_heap timers;               /* every armed timer */
	uint64_t now;                           /* monotonic ms, once per turn */
	struct reactor_task *tasks;             /* deferred work, FIFO */
	struct reactor_task **tasks_tail;
	struct reactor_sig sigs[REACTOR_NSIG];  /* signal callbacks */
	reactor_task_cb turn_cb;                /* runs before every wait */
	void *turn_arg;                         /* handed to turn_cb */
	int sigpipe[2];                         /* self-pipe: handler -> loop */
	bool stopping;                          /* reactor_stop() was called */
};

/* A signal handler cannot find its reactor any other way. */
static volatile sig_atomic_t reactor_sig_pending[REACTOR_NSIG];
static volatile sig_atomic_t reactor_sig_wfd = -1;

static uint64_t reactor_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct reactor *reactor_create(void)
{
	struct reactor *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->poller = poller_create();
	if (r->poller == NULL) {
		free(r);
		return NULL;
	}
	timer_heap_init(&r->timers);
	r->tasks_tail = &r->tasks;
	r->sigpipe[0] = r->sigpipe[1] = -1;
	r->now = reactor_clock();
	return r;
}

static void reactor_run_tasks(struct reactor *r);

void reactor_destroy(struct reactor *r)
{
	if (r == NULL)
		return;
	/* Deferred releases still queued would otherwise leak. */
	reactor_run_tasks(r);
	for (int s = 1; s < REACTOR_NSIG; s++)
		if (r->sigs[s].cb != NULL)
			signal(s, SIG_DFL);
	if (r->sigpipe[0] >= 0) {
		reactor_sig_wfd = -1;
		close(r->sigpipe[0]);
		close(r->sigpipe[1]);
	}
	timer_heap_free(&r->timers);
	poller_destroy(r->poller);
	free(r->fds);
	free(r->changes);
	free(r);
}

static int reactor_grow(struct reactor *r, int fd)
{
	size_t n = r->nfds ? r->nfds : 64;
	struct reactor_fd *fds;

	if ((size_t)fd < r->nfds)
		return 0;
	while (n <= (size_t)fd)
		n *= 2;
	fds = realloc(r->fds, n * sizeof(*fds));
	if (fds == NULL)
		return -1;
	memset(fds + r->nfds, 0, (n - r->nfds) * sizeof(*fds));
	r->fds = fds;
	r->nfds = n;
	return 0;
}

static int reactor_mark_dirty(struct reactor *r, int fd)
{
	if (r->fds[fd].dirty)
		return 0;
	if (r->nchanges == r->capchanges) {
		size_t cap = r->capchanges ? r->capchanges * 2 : 64;
		int *c = realloc(r->changes, cap * sizeof(*c));
		if (c == NULL)
			return -1;
		r->changes = c;
		r->capchanges = cap;
	}
	r->changes[r->nchanges++] = fd;
	r->fds[fd].dirty = true;
	return 0;
}

int reactor_add(struct reactor *r, int fd, unsigned mask, reactor_io_cb cb, void *arg)
{
	struct reactor_fd *e;

	if (fd < 0 || reactor_grow(r, fd) < 0)
		return -1;
	e = &r->fds[fd];
	if (e->cb == NULL) {
		/* A new registration: the kernel watches nothing yet. An fd
		 * already registered keeps what the kernel watches, so handing
		 * it to a new owner never re-adds it (EEXIST). */
		e->want = 0;
		e->have = 0;
		e->shared = false;
	}
	e->cb = cb;
	e->arg = arg;
	if (mask != e->want) {
		if (reactor_mark_dirty(r, fd) < 0) {
			if (e->have == 0)
				e->cb = NULL;
			return -1;
		}
		e->want = mask;
	}
	return 0;
}

void reactor_share(struct reactor *r, int fd)
{
	if ((size_t)fd < r->nfds && r->fds[fd].cb != NULL)
		r->fds[fd].shared = true;
}

void reactor_set(struct reactor *r, int fd, unsigned mask)
{
	struct reactor_fd *e = &r->fds[fd];

	if (e->want == mask)
		return;
	e->want = mask;
	if (reactor_mark_dirty(r, fd) < 0) {
		/* No room to queue the change: apply it now instead. */
		if (poller_apply(r->poller, fd, e->have, mask) == 0)
			e->have = mask;
	}
}

/* Events for FD later in this batch must not reach whoever gets the
 * number next, nor an owner that has already let go. */
static void reactor_invalidate(struct reactor *r, int fd)
{
	for (int i = r->cursor + 1; i < r->nevents; i++)
		if (r->events[i].fd == fd)
			r->events[i].fd = -1;
}

static void reactor_clear(struct reactor *r, int fd)
{
	struct reactor_fd *e = &r->fds[fd];

	e->cb = NULL;
	e->arg = NULL;
	e->want = 0;
	e->have = 0;
	e->dirty = false;   /* a stale entry in changes is skipped */
	e->shared = false;
	reactor_invalidate(r, fd);
}

void reactor_close(struct reactor *r, int fd)
{
	/* Also for an fd whose registration failed: it is ours to close. */
	if ((size_t)fd < r->nfds) {
		if (r->fds[fd].have != 0)
			poller_forget(r->poller, fd, r->fds[fd].shared);
		reactor_clear(r, fd);
	}
	close(fd);
}

uint64_t reactor_now(const struct reactor *r)
{
	return r->now;
}

int reactor_timer_arm(struct reactor *r, struct timer *t, uint64_t delay_ms)
{
	return timer_heap_arm(&r->timers, t, r->now + delay_ms);
}

void reactor_timer_cancel(struct reactor *r, struct timer *t)
{
	timer_heap_cancel(&r->timers, t);
}

void reactor_task_init(struct reactor_task *t, reactor_task_cb cb, void *arg)
{
	t->next = NULL;
	t->cb = cb;
	t->arg = arg;
	t->queued = false;
}

void reactor_defer(struct reactor *r, struct reactor_task *t)
{
	if (t->queued)
		return;
	t->queued = true;
	t->next = NULL;
	*r->tasks_tail = t;
	r->tasks_tail = &t->next;
}

static void reactor_sig_handler(int signo)
{
	int saved = errno;
	char c = (char)signo;

	reactor_sig_pending[signo] = 1;
	if (reactor_sig_wfd >= 0 && write(reactor_sig_wfd, &c, 1) < 0) {
		/* Full pipe: a wake-up is already pending. */
	}
	errno = saved;
}

static void reactor_sig_dispatch(struct reactor *r, int fd, unsigned events, void *arg)
{
	char drain[64];

	(void)events;
	(void)arg;
	while (read(fd, drain, sizeof(drain)) > 0)
		;
	for (int s = 1; s < REACTOR_NSIG; s++) {
		if (!reactor_sig_pending[s])
			continue;
		reactor_sig_pending[s] = 0;
		if (r->sigs[s].cb != NULL)
			r->sigs[s].cb(r, s, r->sigs[s].arg);
	}
}

int reactor_signal(struct reactor *r, int signo, reactor_signal_cb cb, void *arg)
{
	struct sigaction sa;

	if (signo <= 0 || signo >= REACTOR_NSIG)
		return -1;
	if (r->sigpipe[0] < 0) {
		if (pipe2(r->sigpipe, O_NONBLOCK | O_CLOEXEC) < 0)
			return -1;
		if (reactor_add(r, r->sigpipe[0], REACTOR_READ, reactor_sig_dispatch, NULL) < 0)
			return -1;
		reactor_sig_wfd = r->sigpipe[1];
	}
	r->sigs[signo].cb = cb;
	r->sigs[signo].arg = arg;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = reactor_sig_handler;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	return sigaction(signo, &sa, NULL);
}

/* Interest recorded since the last wait reaches the kernel here, once per
 * fd, and only where it really changed. */
static void reactor_flush_changes(struct reactor *r)
{
	for (size_t i = 0; i < r->nchanges; i++) {
		int fd = r->changes[i];
		struct reactor_fd *e = &r->fds[fd];

		if (!e->dirty)
			continue;
		e->dirty = false;
		if (e->cb == NULL || e->want == e->have)
			continue;
		if (poller_apply(r->poller, fd, e->have, e->want) < 0) {
			log_warn("reactor: watch fd %d", fd);
			continue;
		}
		e->have = e->want;
	}
	r->nchanges = 0;
}

static int reactor_wait_timeout(const struct reactor *r)
{
	const struct timer *t;

	if (r->tasks != NULL || r->stopping)
		return 0;
	t = timer_heap_peek(&r->timers);
	if (t == NULL)
		return -1;
	if (t->deadline <= r->now)
		return 0;
	return t->deadline - r->now > INT_MAX ? INT_MAX : (int)(t->deadline - r->now);
}

static void reactor_dispatch(struct reactor *r)
{
	for (r->cursor = 0; r->cursor < r->nevents; r->cursor++) {
		struct poller_event ev = r->events[r->cursor];
		struct reactor_fd *e;
		unsigned mask;

		if (ev.fd < 0 || (size_t)ev.fd >= r->nfds)
			continue;
		e = &r->fds[ev.fd];
		/* Deliver only what the owner still wants: it may have paused
		 * reading earlier in this very batch. */
		mask = ev.mask & e->want;
		if (e->cb != NULL && mask != 0)
			e->cb(r, ev.fd, mask | (ev.mask & REACTOR_STATUS), e->arg);
	}
	r->nevents = 0;
	r->cursor = 0;
}

/* Only timers armed before this pass fire in it, so a callback that
 * re-arms itself for "now" cannot keep the loop here forever. */
static void reactor_run_timers(struct reactor *r)
{
	uint64_t last_seq = r->timers.next_seq;
	struct timer *t;

	while ((t = timer_heap_peek(&r->timers)) != NULL && t->deadline <= r->now &&
	       t->seq < last_seq) {
		timer_heap_cancel(&r->timers, t);
		t->cb(t->arg);
	}
}

static void reactor_run_tasks(struct reactor *r)
{
	struct reactor_task *t;

	/* Tasks queued by tasks run in this pass too: the queue is FIFO and
	 * every task is a bounded piece of work. */
	while ((t = r->tasks) != NULL) {
		r->tasks = t->next;
		if (r->tasks == NULL)
			r->tasks_tail = &r->tasks;
		t->queued = false;
		t->next = NULL;
		t->cb(t->arg);
	}
}

void reactor_on_turn(struct reactor *r, reactor_task_cb cb, void *arg)
{
	r->turn_cb = cb;
	r->turn_arg = arg;
}

int reactor_run(struct reactor *r)
{
	r->stopping = false;
	while (!r->stopping) {
		int n;

		if (r->turn_cb != NULL)
			r->turn_cb(r->turn_arg);
		reactor_flush_changes(r);
		n = poller_wait(r->poller, r->events, REACTOR_BATCH, reactor_wait_timeout(r));
		if (n < 0)
			return -1;
		r->now = reactor_clock();
		r->nevents = n;
		reactor_dispatch(r);
		reactor_run_timers(r);
		reactor_run_tasks(r);
	}
	return 0;
}

void reactor_stop(struct reactor *r)
{
	r->stopping = true;
}

const char *reactor_backend(void)
{
	return poller_name();
}
