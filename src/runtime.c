/* runtime.c — the connection budget, the accept pause and the graceful
 * stop, for whatever generation of listeners is current. */
#include "runtime.h"

#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"
#include "reactor.h"

/* Listeners rest after running out of descriptors until a connection
 * closes (freeing two), or at most this long: descriptors may also come
 * back from elsewhere (ENFILE is system-wide). */
#define RUNTIME_ACCEPT_PAUSE_MS 1000
/* At most one "pausing accepts" warning per this many ms. */
#define RUNTIME_ACCEPT_WARN_MS 10000
/* Spare relay buffers kept after a burst. */
#define RUNTIME_POOL_SPARES 256
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
	buffer_pool_init(&rt->pool, buffer_size, RUNTIME_POOL_SPARES);
	timer_init(&rt->accept_timer, runtime_on_accept_timer, rt);
	timer_init(&rt->stop_timer, runtime_on_stop_timer, rt);
}

void runtime_fini(struct runtime *rt)
{
	reactor_timer_cancel(rt->reactor, &rt->accept_timer);
	reactor_timer_cancel(rt->reactor, &rt->stop_timer);
	buffer_pool_destroy(&rt->pool);
}

/* Every connection costs two descriptors (client and server). Accepting
 * beyond what the open-file limit can carry would only mean accepting a
 * client and then dropping it for want of a server socket. */
void runtime_set_budget(struct runtime *rt, size_t reserved, size_t wanted, bool loud)
{
	size_t reserve = RUNTIME_FD_RESERVE + reserved, carried = SIZE_MAX;
	struct rlimit rl;
	bool limited = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;

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
	if (rt->accept_warned_ms != 0 && now - rt->accept_warned_ms < RUNTIME_ACCEPT_WARN_MS)
		return;
	rt->accept_warned_ms = now;
	if (err == 0)
		log_warnx("accept: connection limit %zu reached; pausing accepts", rt->max_conns);
	else
		log_warnx("accept: %s with %zu connections open; pausing accepts",
			  strerror(err), rt->nconns);
}

uint64_t runtime_conn_opened(struct runtime *rt, struct runtime_link *l)
{
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
