/* runtime.c — the connection budget, the accept pause and the graceful
 * stop, for whatever generation of listeners is current. */
#include "runtime.h"

#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "log.h"
#include "reactor.h"

/* Listeners rest after running out of descriptors until a connection
 * closes (freeing two), or at most this long: descriptors may also come
 * back from elsewhere (ENFILE is system-wide). */
#define RUNTIME_ACCEPT_PAUSE_MS 1000
/* At most one "pausing accepts" warning per this many ms. */
#define RUNTIME_ACCEPT_WARN_MS 10000
/* Spare relay buffers kept at most, and kept for good after a burst:
 * spares a whole trim period did not need go back to the system. */
#define RUNTIME_POOL_SPARES 256
#define RUNTIME_POOL_FLOOR 16
#define RUNTIME_PIPE_SPARES 64
#define RUNTIME_PIPE_FLOOR 4
#define RUNTIME_TRIM_MS 1000
/* A pipe is made only while this many descriptors stay free beyond the
 * open connections and the reserve: connections come first. */
#define RUNTIME_PIPE_HEADROOM 64
/* Descriptors kept out of the connection budget besides listening and
 * control sockets: stdio, the reactor's own, the log, a reload's file
 * and pipe, and slack for what comes and goes (the notify socket). */
#define RUNTIME_FD_RESERVE 24

static void runtime_resume_accept(struct runtime *rt)
{
	reactor_timer_cancel(rt->reactor, &rt->accept_timer);
	rt->accept_paused = false;
	if (!rt->stopping)
		rt->cb.set_accepting(rt->cb.arg, true);
}

static void runtime_on_accept_timer(void *arg)
{
	runtime_resume_accept(arg);
}

/* After a burst the spares are memory (and, for pipes, descriptors)
 * nothing uses: give back what a whole period did not touch, so an idle
 * proxy shrinks to what its open connections hold. Re-armed only while
 * there is something to give back. */
static void runtime_on_trim_timer(void *arg)
{
	struct runtime *rt = arg;
	size_t freed = buffer_pool_trim(&rt->pool, RUNTIME_POOL_FLOOR);

	pipe_pool_trim_unused(&rt->pipes, RUNTIME_PIPE_FLOOR);
#ifdef __GLIBC__
	/* free() keeps pages in the middle of the heap: hand them back. */
	if (freed > 0)
		malloc_trim(0);
#else
	(void)freed;
#endif
	if (rt->pool.nfree > RUNTIME_POOL_FLOOR || rt->pipes.nspares > RUNTIME_PIPE_FLOOR)
		reactor_timer_arm(rt->reactor, &rt->trim_timer, RUNTIME_TRIM_MS);
}

static void runtime_on_stop_timer(void *arg)
{
	struct runtime *rt = arg;

	log_info("shutdown_timeout reached: closing %zu connections", rt->nconns);
	runtime_stop(rt, true);
}

void runtime_init(struct runtime *rt, struct reactor *r, size_t buffer_size,
		  const struct runtime_callbacks *cb)
{
	memset(rt, 0, sizeof(*rt));
	rt->reactor = r;
	rt->cb = *cb;
	rt->max_conns = SIZE_MAX;
	rt->log_connections = true;
	rt->start_ms = reactor_now(r);
	rt->fd_limit = SIZE_MAX;
	buffer_pool_init(&rt->pool, buffer_size, RUNTIME_POOL_SPARES);
	if (pipe_pool_init(&rt->pipes, RUNTIME_PIPE_SPARES) < 0)
		rt->pipes.max_spares = 0;
	timer_init(&rt->trim_timer, runtime_on_trim_timer, rt);
	timer_init(&rt->accept_timer, runtime_on_accept_timer, rt);
	timer_init(&rt->stop_timer, runtime_on_stop_timer, rt);
}

void runtime_fini(struct runtime *rt)
{
	reactor_timer_cancel(rt->reactor, &rt->accept_timer);
	reactor_timer_cancel(rt->reactor, &rt->stop_timer);
	reactor_timer_cancel(rt->reactor, &rt->trim_timer);
	buffer_pool_destroy(&rt->pool);
	pipe_pool_destroy(&rt->pipes);
}

/* Every connection costs two descriptors (client and server). Accepting
 * beyond what the open-file limit can carry would only mean accepting a
 * client and then dropping it for want of a server socket. */
void runtime_set_budget(struct runtime *rt, size_t reserved, size_t wanted, bool loud)
{
	size_t reserve = RUNTIME_FD_RESERVE + reserved, carried = SIZE_MAX;
	struct rlimit rl;
	bool limited = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;

	rt->fd_limit = limited ? (size_t)rl.rlim_cur : SIZE_MAX;
	rt->fd_reserved = reserve;
	if (limited)
		carried = rl.rlim_cur > reserve + 2 ? (size_t)(rl.rlim_cur - reserve) / 2 : 1;
	rt->max_conns = wanted != 0 && wanted < carried ? wanted : carried;
	if (wanted > carried)
		log_warnx("max_connections %zu is more than the open-file limit %llu carries; "
			  "using %zu", wanted, (unsigned long long)rl.rlim_cur, carried);
	else if (loud && limited)
		log_info("connection limit %zu (open-file limit %llu)", rt->max_conns,
			 (unsigned long long)rl.rlim_cur);
	/* A lower limit than the connections open: no new ones until below;
	 * a higher one lets the clients waiting in the backlog in now. */
	if (rt->nconns >= rt->max_conns)
		runtime_pause_accept(rt, 0);
	else if (rt->accept_paused)
		runtime_resume_accept(rt);
}

bool runtime_can_accept(struct runtime *rt)
{
	if (rt->accept_paused || rt->stopping)
		return false;
	if (rt->nconns < rt->max_conns)
		return true;
	runtime_pause_accept(rt, 0);
	return false;
}

void runtime_pause_accept(struct runtime *rt, int err)
{
	uint64_t now = reactor_now(rt->reactor);

	if (rt->accept_paused)
		return;
	/* At the limit a connection's close is sure to come (or the idle
	 * timeout's); out of descriptors, they may come back from elsewhere. */
	if (err != 0 &&
	    reactor_timer_arm(rt->reactor, &rt->accept_timer, RUNTIME_ACCEPT_PAUSE_MS) < 0)
		return;     /* cannot promise a resume: keep accepting instead */
	rt->accept_paused = true;
	rt->cb.set_accepting(rt->cb.arg, false);
	if (err != 0)
		pipe_pool_trim(&rt->pipes, 0);  /* their descriptors may let one in */
	if (rt->accept_warned_ms != 0 && now - rt->accept_warned_ms < RUNTIME_ACCEPT_WARN_MS)
		return;
	rt->accept_warned_ms = now;
	if (err == 0)
		log_warnx("accept: connection limit %zu reached; pausing accepts", rt->max_conns);
	else
		log_warnx("accept: %s with %zu connections open; pausing accepts",
			  strerror(err), rt->nconns);
}

int runtime_pipe_get(struct runtime *rt, struct relay_pipe *pipe)
{
	size_t used = rt->fd_reserved + 2 * rt->nconns + pipe_pool_fds(&rt->pipes);
	bool room = rt->fd_limit == SIZE_MAX || used + 2 + RUNTIME_PIPE_HEADROOM <= rt->fd_limit;

	pipe->rd = pipe->wr = -1;
	if (!rt->splice)
		return -1;
	return pipe_pool_get(&rt->pipes, room, pipe);
}

void runtime_pipe_put(struct runtime *rt, struct relay_pipe *pipe, bool empty)
{
	pipe_pool_put(&rt->pipes, pipe, empty);
}

uint64_t runtime_conn_opened(struct runtime *rt, struct runtime_link *l)
{
	/* A burst of connections may leave spares behind: look at them
	 * once it is over. */
	if (!timer_armed(&rt->trim_timer))
		reactor_timer_arm(rt->reactor, &rt->trim_timer, RUNTIME_TRIM_MS);
	l->prev = NULL;
	l->next = rt->conns;
	if (rt->conns != NULL)
		rt->conns->prev = l;
	rt->conns = l;
	rt->nconns++;
	rt->conns_total++;
	return ++rt->next_conn_id;
}

void runtime_conn_closed(struct runtime *rt, struct runtime_link *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		rt->conns = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	l->prev = l->next = NULL;
	rt->nconns--;
	if (rt->stopping && rt->nconns == 0)
		reactor_stop(rt->reactor);
	else if (rt->accept_paused)
		runtime_resume_accept(rt);     /* its descriptors are free again */
}

void runtime_stop(struct runtime *rt, bool now)
{
	if (!rt->stopping) {
		rt->stopping = true;
		reactor_timer_cancel(rt->reactor, &rt->accept_timer);
		if (!now && rt->nconns > 0 && rt->shutdown_timeout_ms > 0) {
			log_info("listeners closed; waiting up to %u ms for %zu connections",
				 rt->shutdown_timeout_ms, rt->nconns);
			if (reactor_timer_arm(rt->reactor, &rt->stop_timer,
					      rt->shutdown_timeout_ms) == 0)
				return;
		}
	}
	rt->cb.close_all(rt->cb.arg);
	reactor_stop(rt->reactor);
}
