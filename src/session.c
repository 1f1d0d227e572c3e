/* session.c — the per-connection state machine.
 *
 *   accept ──────────────► PROXY_HEADER (accept_proxy) ── bad, late ──► CLOSED
 *     │ admitted (allow/deny)  │ header read: its addresses are the client's
 *     │◄───────────────────────┘
 *     │        refused or timed out, retries left: the next server
 *     ▼      ┌──────┐
 *   CONNECTING ◄────┘
 *     │  └── retries used up, or the client gone ─────────────► CLOSED
 *     │ connected
 *     ▼
 *   RELAYING ── a side lost (read error) ──► FLUSHING
 *     │                                         │ its last bytes delivered
 *     │ both directions shut                    │ to the other, then a FIN
 *     ▼                                         ▼
 *   LINGERING ◄─────────────────────────────────┘
 *     │ peers sent FIN, or acknowledged all we sent, or stopped moving
 *     ▼             (skipped when nothing is pending: the common case)
 *   CLOSED
 *
 * A session is two symmetric halves. Each half reads into its own ring
 * (bytes owed to its peer) and writes its peer's ring. Reading a half
 * stops while its ring is full and resumes when the peer drains it, so a
 * slow reader throttles its writer and memory stays bounded. A FIN from a
 * half becomes shutdown(peer, SHUT_WR) once its ring is empty, while the
 * other direction keeps flowing. Client bytes read while connecting stay
 * in the ring until a server accepts, so a retry never duplicates them.
 *
 * With global.splice, a direction whose read filled its ring carries a
 * bulk transfer: once that ring has drained, its next bytes go from
 * socket to socket through a kernel pipe with splice(), never copied
 * into the proxy. A direction is on its ring or on its pipe, never
 * both, so bytes cannot overtake one another; the pipe goes back to the
 * pool when the burst is over, and small request/response traffic never
 * leaves the ring.
 *
 * Nothing the kernel has acknowledged is given up: a side whose writes
 * fail may still hold readable bytes (Linux returns them before the
 * reset), so it is read to its end; and a socket is closed only once its
 * peer has finished sending or has acknowledged everything, because
 * closing with input pending answers with a reset that destroys what is
 * still queued. Everything ends in session_close(), the only teardown.
 */
#include "session.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acl.h"
#include "backend.h"
#include "config.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "net.h"

/* Spare sessions kept for reuse; beyond this they go back to malloc. */
#define SESSION_POOL_MAX 1024
/* Splice in, splice out: at most this many times per readiness event. */
#define SESSION_SPLICE_ROUNDS 4
/* How long an idle session with bytes queued for a peer watches whether
 * it takes any before calling it idle. */
#define SESSION_IDLE_LOOK_MS 1000
/* How often a lingering session looks whether its peers acknowledged. */
#define SESSION_LINGER_POLL_MS 100
/* accept_proxy: the whole header must arrive within this, so a client
 * that drips it (or sends nothing) cannot hold a slot for long. */
#define SESSION_PROXY_HEADER_MS 5000

static const char *const session_state_names[] = {
	[SESSION_PROXY_HEADER] = "PROXY_HEADER",
	[SESSION_CONNECTING] = "CONNECTING",
	[SESSION_RELAYING] = "RELAYING",
	[SESSION_FLUSHING] = "FLUSHING",
	[SESSION_LINGERING] = "LINGERING",
	[SESSION_CLOSED] = "CLOSED",
};

static const char *const session_end_names[] = {
	[SESSION_END_NONE] = "none",
	[SESSION_END_CLIENT_CLOSE] = "client_close",
	[SESSION_END_SERVER_CLOSE] = "server_close",
	[SESSION_END_CLIENT_RESET] = "client_reset",
	[SESSION_END_SERVER_RESET] = "server_reset",
	[SESSION_END_IDLE_TIMEOUT] = "idle_timeout",
	[SESSION_END_CONNECT_REFUSED] = "connect_refused",
	[SESSION_END_CONNECT_TIMEOUT] = "connect_timeout",
	[SESSION_END_NO_SERVER] = "no_server",
	[SESSION_END_DENIED] = "denied",
	[SESSION_END_LIMIT] = "limit",
	[SESSION_END_PROXY_HEADER_ERROR] = "proxy_header_error",
	[SESSION_END_SHUTDOWN] = "shutdown",
	[SESSION_END_ERROR] = "error",
};

/* legal[from][to]: the only transitions session_set_state() allows. */
static const bool session_legal[][SESSION_CLOSED + 1] = {
	[SESSION_PROXY_HEADER] = { [SESSION_CONNECTING] = true, [SESSION_CLOSED] = true },
	[SESSION_CONNECTING] = { [SESSION_RELAYING] = true, [SESSION_CLOSED] = true },
	[SESSION_RELAYING] = { [SESSION_FLUSHING] = true, [SESSION_LINGERING] = true,
			       [SESSION_CLOSED] = true },
	[SESSION_FLUSHING] = { [SESSION_LINGERING] = true, [SESSION_CLOSED] = true },
	[SESSION_LINGERING] = { [SESSION_CLOSED] = true },
	[SESSION_CLOSED] = { false },
};

static struct session *session_spares;  /* pool of free sessions */
static size_t session_nspares;

static void session_on_io(struct reactor *r, int fd, unsigned events, void *arg);
static void session_on_timer(void *arg);
static void session_connect(struct session *s, enum session_end if_none);
static int session_build_header(struct session *s);
static void session_connect_over(struct session *s);
static void session_read_header(struct session *s);

static struct reactor *session_reactor(const struct session *s)
{
	return s->rt->reactor;
}

static struct session *session_of(struct runtime_link *l)
{
	return (struct session *)((char *)l - offsetof(struct session, link));
}

static const char *session_side(const struct session *s, const struct session_half *h)
{
	return h == &s->client ? "client" : "server";
}

static void session_set_state(struct session *s, enum session_state to)
{
	assert(session_legal[s->state][to]);
	log_debug("session %" PRIu64 ": %s -> %s", s->id, session_state_names[s->state],
		  session_state_names[to]);
	s->state = to;
}

static void session_release(void *arg)
{
	struct session *s = arg;

	/* The objects it used may go with the last session of an old
	 * generation: only now, when no event can reach S any more. */
	server_unref(s->target);
	backend_unref(s->backend);
	listener_unref(s->listener);
	free(s->proxy);

	if (session_nspares >= SESSION_POOL_MAX) {
		free(s);
		return;
	}
	s->spare_next = session_spares;
	session_spares = s;
	session_nspares++;
}

void session_pool_drain(void)
{
	while (session_spares != NULL) {
		struct session *s = session_spares;
		session_spares = s->spare_next;
		free(s);
	}
	session_nspares = 0;
}

static struct session *session_alloc(void)
{
	struct session *s = session_spares;

	if (s == NULL)
		return malloc(sizeof(*s));
	session_spares = s->spare_next;
	session_nspares--;
	return s;
}

static void session_half_init(struct session *s, struct session_half *h,
			      struct session_half *peer, int fd)
{
	memset(h, 0, sizeof(*h));
	h->fd = fd;
	h->pipe.rd = h->pipe.wr = -1;
	h->peer = peer;
	h->session = s;
}

static void session_log(const struct session *s, uint64_t now)
{
	char client[ADDR_STRLEN];

	if (!s->rt->log_connections)
		return;
	log_conn("conn=%" PRIu64 " client=%s listener=%s backend=%s server=%s connect_ms=%" PRIu64
		 " duration_ms=%" PRIu64 " bytes_in=%" PRIu64 " bytes_out=%" PRIu64
		 " retries=%d end=%s",
		 s->id, addr_format(&s->client_addr, client, sizeof(client)), s->listener->name,
		 s->backend->name, s->connected ? s->target->name : "-", s->connect_ms,
		 now - s->start_ms, s->server.sent, s->client.sent, s->retries,
		 session_end_names[s->end]);
}

/* Bytes are counted where they are written, for the process and for
 * each object the session uses: additions, never a system call. */
static void session_count_bytes(struct session *s, const struct session_half *h, size_t n)
{
	if (h == &s->server) {
		s->rt->bytes_in += n;
		s->listener->ctr->bytes_in += n;
		s->backend->ctr->bytes_in += n;
		s->target->ctr->bytes_in += n;
	} else {
		s->rt->bytes_out += n;
		s->listener->ctr->bytes_out += n;
		s->backend->ctr->bytes_out += n;
		s->target->ctr->bytes_out += n;
	}
}

/* A reset or an error is the fault of the side it came from. */
static void session_count_close(struct session *s)
{
	bool client_err = s->end == SESSION_END_CLIENT_RESET || s->end == SESSION_END_ERROR;
	bool server_err = s->end == SESSION_END_SERVER_RESET || s->end == SESSION_END_ERROR;

	counters_close(s->listener->ctr);
	listener_conn_closed(s->listener);
	if (client_err)
		s->listener->ctr->errors++;
	if (!s->routed)
		return;
	counters_close(s->backend->ctr);
	if (server_err)
		s->backend->ctr->errors++;
	if (s->connected) {
		counters_close(s->target->ctr);
		if (server_err)
			s->target->ctr->errors++;
	}
}

/* H is gone for good: no more reading from it or writing to it. Its ring
 * is kept, for the peer may still be owed those bytes. */
static void session_half_drop(struct session *s, struct session_half *h)
{
	if (h->fd >= 0)
		reactor_close(session_reactor(s), h->fd);
	h->fd = -1;
	h->eof = h->shut = true;
}

/* Whether H holds bytes its peer is owed, in its ring or its pipe. */
static bool session_owes(const struct session_half *h)
{
	return !ring_empty(&h->in) || h->piped > 0;
}

/* Whether H's input has nowhere to go until its peer takes some. */
static bool session_half_full(const struct session *s, const struct session_half *h)
{
	if (h->pipe.rd >= 0)
		return h->pipe_full || h->piped >= h->pipe.size;
	return ring_full(&h->in, &s->rt->pool);
}

/* Gives H's pipe back; bytes still in it go with it. */
static void session_pipe_release(struct session *s, struct session_half *h)
{
	runtime_pipe_put(s->rt, &h->pipe, h->piped == 0);
	h->piped = 0;
	h->pipe_full = false;
}

/* What H read can no longer be delivered: forget it. */
static void session_discard(struct session *s, struct session_half *h)
{
	ring_clear(&h->in, &s->rt->pool);
	session_pipe_release(s, h);
}

void session_close(struct session *s, enum session_end why)
{
	struct runtime *rt = s->rt;
	uint64_t now = reactor_now(rt->reactor);

	if (s->state == SESSION_CLOSED)
		return;
	s->end = why == SESSION_END_NONE ? SESSION_END_ERROR : why;
	reactor_timer_cancel(rt->reactor, &s->timer);
	session_half_drop(s, &s->client);
	session_half_drop(s, &s->server);
	session_discard(s, &s->client);
	session_discard(s, &s->server);
	if (!s->connected)
		s->connect_ms = now - s->start_ms;
	session_set_state(s, SESSION_CLOSED);
	session_log(s, now);
	session_connect_over(s);
	session_count_close(s);
	runtime_conn_closed(rt, &s->link);
	/* Callers up the stack may still hold S: free it after this turn. */
	reactor_defer(rt->reactor, &s->release);
}

void session_close_all(struct runtime *rt)
{
	while (rt->conns != NULL)
		session_close(session_of(rt->conns), SESSION_END_SHUTDOWN);
}

static int session_arm(struct session *s, uint64_t delay_ms)
{
	if (reactor_timer_arm(session_reactor(s), &s->timer, delay_ms) == 0)
		return 0;
	log_warnx("session %" PRIu64 ": cannot arm timer: out of memory", s->id);
	session_close(s, SESSION_END_ERROR);
	return -1;
}

/* The first failure names the end; a reset from a side that had already
 * sent its FIN only ends that close. */
static void session_note_failure(struct session *s, struct session_half *h, int err)
{
	enum session_end why;

	if (s->failed)
		return;
	s->failed = true;
	if (h->eof && s->end != SESSION_END_NONE)
		return;
	if (err == ECONNRESET || err == EPIPE) {
		why = h == &s->client ? SESSION_END_CLIENT_RESET : SESSION_END_SERVER_RESET;
	} else {
		why = SESSION_END_ERROR;
		log_warnx("session %" PRIu64 ": %s side: %s", s->id, session_side(s, h),
			  strerror(err));
	}
	s->end = why;
}

/* Writing to H failed: it takes no more bytes, and those owed to it are
 * undeliverable. It may still hold bytes for its peer, readable before
 * the error is reported, so it stays open and is read to its end. */
static void session_write_failed(struct session *s, struct session_half *h, int err)
{
	session_note_failure(s, h, err);
	h->shut = true;
	session_discard(s, h->peer);
}

/* Reading H failed: nothing more will come from it and nothing can go to
 * it. What it sent before failing still goes to its peer. */
static void session_read_failed(struct session *s, struct session_half *h, int err)
{
	session_note_failure(s, h, err);
	switch (s->state) {
	case SESSION_PROXY_HEADER:
	case SESSION_CONNECTING:
		session_close(s, s->end);
		return;
	case SESSION_RELAYING:
		session_set_state(s, SESSION_FLUSHING);
		break;
	case SESSION_FLUSHING:
	case SESSION_LINGERING:
		break;
	case SESSION_CLOSED:
		return;
	}
	session_discard(s, h->peer);
	session_half_drop(s, h);
}

/* send_proxy bytes still owed to H (the server side only). */
static size_t session_header_owed(const struct session *s, const struct session_half *h)
{
	return h == &s->server && s->proxy != NULL ? (size_t)(s->proxy->len - s->proxy->sent) : 0;
}

/* send_proxy bytes written to H: not in h->sent, which counts relayed bytes. */
static size_t session_header_written(const struct session *s, const struct session_half *h)
{
	return h == &s->server && s->proxy != NULL ? s->proxy->sent : 0;
}

static void session_got_eof(struct session *s, struct session_half *h)
{
	h->eof = true;
	if (s->end == SESSION_END_NONE)
		s->end = h == &s->client ? SESSION_END_CLIENT_CLOSE : SESSION_END_SERVER_CLOSE;
	log_debug("session %" PRIu64 ": %s sent FIN", s->id, session_side(s, h));
}

/* One read from H into its ring: bounded work per wakeup. Bytes its peer
 * can no longer take are read all the same and dropped: leaving them in
 * the socket would turn our eventual close into a reset. */
static void session_recv_ring(struct session *s, struct session_half *h, bool fin_in)
{
	struct runtime *rt = s->rt;
	struct iovec iov[2];
	size_t n, room;
	int cnt = ring_space(&h->in, &rt->pool, iov);

	if (cnt == 0)
		return;
	if (cnt < 0) {
		log_warnx("session %" PRIu64 ": no memory for a buffer", s->id);
		session_close(s, SESSION_END_ERROR);
		return;
	}
	room = iov[0].iov_len + (cnt > 1 ? iov[1].iov_len : 0);
	switch (net_readv(h->fd, iov, cnt, &n)) {
	case IO_OK:
		ring_produce(&h->in, &rt->pool, n);
		/* The FIN was in behind the data, and this read took all
		 * there was: the next read could only say end of file. */
		if (fin_in && n < room)
			session_got_eof(s, h);
		if (h->peer->shut) {
			ring_clear(&h->in, &rt->pool);
			return;
		}
		s->last_active_ms = reactor_now(rt->reactor);
		/* A whole buffer at once: more is coming than a ring holds. */
		if (n == rt->pool.size && rt->splice && s->state != SESSION_CONNECTING)
			h->bulk = true;
		return;
	case IO_AGAIN:
		break;
	case IO_EOF:
		session_got_eof(s, h);
		break;
	case IO_ERR:
		session_read_failed(s, h, errno);
		return;
	}
	/* Nothing arrived: hand back the buffer ring_space() lent us. */
	if (ring_empty(&h->in))
		ring_clear(&h->in, &rt->pool);
}

/* One splice from H into its pipe. No end-of-file shortcut here: a pipe
 * counts slots, so a short splice does not mean the socket is drained. */
static void session_recv_pipe(struct session *s, struct session_half *h, bool reported)
{
	size_t n, room = h->pipe.size - h->piped;

	switch (net_splice_in(h->fd, h->pipe.wr, room, &n)) {
	case IO_OK:
		h->piped += (uint32_t)n;
		s->last_active_ms = reactor_now(session_reactor(s));
		return;
	case IO_AGAIN:
		/* A pipe counts slots, not bytes: it can be full before its
		 * capacity. Read again once the peer has taken some. */
		if (h->piped > 0) {
			h->pipe_full = true;
			return;
		}
		if (!reported)
			return;     /* only trying for more: nothing yet is no news */
		/* Readable, yet nothing there: the burst is over, and what comes next
		 * may be small; it starts on the ring again. */
		h->bulk = false;
		session_pipe_release(s, h);
		return;
	case IO_EOF:
		session_got_eof(s, h);
		if (h->piped == 0)
			session_pipe_release(s, h);
		return;
	case IO_ERR:
		if (errno == EINVAL && h->piped == 0) {
			/* This kind of socket cannot splice: the ring it is. */
			h->no_splice = true;
			session_pipe_release(s, h);
			session_recv_ring(s, h, false);
			return;
		}
		session_read_failed(s, h, errno);
		return;
	}
}

/* Whether H's input goes through a pipe: it holds one, or a bulk
 * transfer is on, its ring has drained (so nothing can be overtaken),
 * and the PROXY header owed ahead of it is out. */
static bool session_use_pipe(struct session *s, struct session_half *h)
{
	if (h->pipe.rd >= 0)
		return true;
	if (!h->bulk || h->no_splice || !ring_empty(&h->in) || h->peer->shut ||
	    session_header_owed(s, h->peer) > 0)
		return false;
	if (runtime_pipe_get(s->rt, &h->pipe) == 0)
		return true;
	h->bulk = false;        /* no pipe to be had: do not ask on every read */
	return false;
}

/* EVENTS: what the reactor reported (0: not reported readable, only
 * trying for more); REACTOR_HUP there saves the read that would only
 * find the end of file. */
static void session_recv(struct session *s, struct session_half *h, unsigned events)
{
	/* A reset says "hung up" too, and must be read to be told apart. */
	bool fin_in = (events & REACTOR_STATUS) == REACTOR_HUP;

	if (h->fd < 0 || h->eof)
		return;
	if (session_use_pipe(s, h))
		session_recv_pipe(s, h, (events & REACTOR_READ) != 0);
	else
		session_recv_ring(s, h, fin_in);
}

/* N of the bytes H was owed went out to it (0: only the PROXY header). */
static void session_delivered(struct session *s, struct session_half *h, size_t n)
{
	s->last_active_ms = reactor_now(session_reactor(s));
	h->sent += n;
	session_count_bytes(s, h, n);
}

/* One splice of what H's peer put in its pipe out to H. */
static void session_send_pipe(struct session *s, struct session_half *h)
{
	struct session_half *src = h->peer;
	size_t n;

	switch (net_splice_out(src->pipe.rd, h->fd, src->piped, &n)) {
	case IO_OK:
		src->piped -= (uint32_t)n;
		src->pipe_full = false;
		session_delivered(s, h, n);
		if (src->piped == 0 && src->eof)
			session_pipe_release(s, src);
		return;
	case IO_AGAIN:
	case IO_EOF:
		return;
	case IO_ERR:
		session_write_failed(s, h, errno);
		return;
	}
}

/* One write of what H's peer sent to H; towards the server, the PROXY
 * header goes first, in the same write. */
static void session_send(struct session *s, struct session_half *h)
{
	struct runtime *rt = s->rt;
	struct ring *src = &h->peer->in;
	size_t n, hdr = session_header_owed(s, h);
	struct iovec iov[3];
	int cnt = 0;

	if (h->fd < 0 || h->shut)
		return;
	if (h->peer->piped > 0) {
		session_send_pipe(s, h);
		return;
	}
	if (ring_empty(src) && hdr == 0)
		return;
	if (hdr > 0) {
		iov[0].iov_base = s->proxy->hdr + s->proxy->sent;
		iov[0].iov_len = hdr;
		cnt = 1;
	}
	cnt += ring_data(src, &rt->pool, iov + cnt);
	switch (net_writev(h->fd, iov, cnt, &n)) {
	case IO_OK:
		if (hdr > 0) {
			size_t k = n < hdr ? n : hdr;
			s->proxy->sent = (uint8_t)(s->proxy->sent + k);
			n -= k;
		}
		if (n > 0)
			ring_consume(src, &rt->pool, n);
		session_delivered(s, h, n);
		return;
	case IO_AGAIN:
	case IO_EOF:
		return;
	case IO_ERR:
		session_write_failed(s, h, errno);
		return;
	}
}

/* SRC finished and everything it sent is delivered: pass its FIN on. */
static void session_forward_fin(struct session *s, struct session_half *src)
{
	struct session_half *dst = src->peer;

	if (!src->eof || session_owes(src) || dst->shut || session_header_owed(s, dst) > 0)
		return;
	dst->shut = true;
	/* DST has finished sending and SRC takes nothing more: the session
	 * closes in this very turn, and close() sends the FIN. One system
	 * call fewer for nearly every connection. */
	if (dst->eof && src->shut)
		return;
	/* ENOTCONN: the peer is gone already; its own error comes next. */
	if (shutdown(dst->fd, SHUT_WR) < 0 && errno != ENOTCONN)
		log_debug("session %" PRIu64 ": shutdown %s: %s", s->id, session_side(s, dst),
			  strerror(errno));
}

static void session_set_interest(struct session *s, struct session_half *h)
{
	unsigned mask = 0;

	if (h->fd < 0)
		return;
	if (!h->eof && !session_half_full(s, h))
		mask |= REACTOR_READ;
	if (!h->shut && (session_owes(h->peer) || session_header_owed(s, h) > 0))
		mask |= REACTOR_WRITE;
	reactor_set(session_reactor(s), h->fd, mask);
}

/* Bytes we gave the kernel for every half still open whose peer has not
 * finished sending: 0 means closing now destroys nothing. */
static size_t session_unsent(const struct session *s)
{
	const struct session_half *halves[] = { &s->client, &s->server };
	size_t total = 0;

	for (size_t i = 0; i < 2; i++)
		if (halves[i]->fd >= 0 && !halves[i]->eof)
			total += net_unsent(halves[i]->fd);
	return total;
}

/* What the peers have taken from the kernel's send queues: what we wrote
 * less what is still queued, which grows only as they read (on TCP, as
 * they acknowledge); our own writes add to both terms. */
static uint64_t session_taken(const struct session *s, size_t *queued)
{
	const struct session_half *halves[] = { &s->client, &s->server };
	uint64_t taken = 0;

	*queued = 0;
	for (size_t i = 0; i < 2; i++) {
		size_t q;

		if (halves[i]->fd < 0)
			continue;
		q = net_unsent(halves[i]->fd);
		*queued += q;
		taken += halves[i]->sent + session_header_written(s, halves[i]) - q;
	}
	return taken;
}

/* Whether the peers took bytes from our send queues since the last look,
 * which becomes this one. */
static bool session_peers_took(struct session *s, uint64_t now, size_t *queued)
{
	uint64_t taken = session_taken(s, queued);
	bool took = taken != s->taken;

	s->taken = taken;
	s->taken_ms = now;
	return took;
}

/* What an expired idle timer finds, nothing having been read or written
 * for idle_timeout. */
enum session_idle {
	SESSION_IDLE,                   /* close it */
	SESSION_MOVING,                 /* a peer is draining its send queue */
	SESSION_UNSURE,                 /* look again in a moment */
};

/* That moment: a second, or half the idle_timeout if that is shorter. */
static uint64_t session_idle_look(const struct session *s)
{
	uint64_t half = s->listener->idle_timeout_ms / 2;

	return half < SESSION_IDLE_LOOK_MS ? half : SESSION_IDLE_LOOK_MS;
}

/* A peer still draining a deep send queue is not idle. A look at what
 * the peers took tells only of the time since the last look, and counts
 * only if that look came after our last write: the kernel passing on
 * what we wrote at once is no sign of life. Without such a look while
 * bytes still wait, one is taken now and read a moment later. */

static enum session_idle session_idle_verdict(struct session *s, uint64_t now)
{
	bool fresh = s->taken_ms >= s->last_active_ms;
	bool long_look, took;
	size_t queued;

	long_look = fresh && now - s->taken_ms >= session_idle_look(s);
	took = session_peers_took(s, now, &queued);
	if (took && fresh)
		return SESSION_MOVING;
	return queued > 0 && !long_look ? SESSION_UNSURE : SESSION_IDLE;
}

/* Both directions are shut. Close now if that destroys nothing; else
 * linger, reading and dropping what the peers still send, until they
 * finish or acknowledge everything. */
static void session_finish(struct session *s)
{
	uint64_t now = reactor_now(session_reactor(s));
	size_t queued;

	if (session_unsent(s) == 0) {
		session_close(s, s->end);
		return;
	}
	if (s->state == SESSION_LINGERING) {
		/* Nothing is written any more: any change is the peers'. */
		if (session_peers_took(s, now, &queued))
			s->last_active_ms = now;
		return;
	}
	session_set_state(s, SESSION_LINGERING);
	session_peers_took(s, now, &queued);
	s->last_active_ms = now;
	session_arm(s, SESSION_LINGER_POLL_MS);
}

/* After any progress: pass FINs on, finish when both directions are shut,
 * and ask for exactly the readiness that can move bytes. */
static void session_update(struct session *s)
{
	switch (s->state) {
	case SESSION_PROXY_HEADER:
	case SESSION_CONNECTING:
		/* The server fd waits for writability (connect done) only;
		 * the client may fill its ring, nothing more. */
		reactor_set(session_reactor(s), s->client.fd,
			    s->client.eof || ring_full(&s->client.in, &s->rt->pool)
				    ? 0 : REACTOR_READ);
		return;
	case SESSION_RELAYING:
	case SESSION_FLUSHING:
	case SESSION_LINGERING:
		break;
	case SESSION_CLOSED:
		return;
	}
	session_forward_fin(s, &s->client);
	session_forward_fin(s, &s->server);
	if (s->client.shut && s->server.shut) {
		session_finish(s);
		if (s->state == SESSION_CLOSED)
			return;
	}
	session_set_interest(s, &s->client);
	session_set_interest(s, &s->server);
}

static void session_connected(struct session *s)
{
	uint64_t now = reactor_now(session_reactor(s));

	reactor_timer_cancel(session_reactor(s), &s->timer);
	session_connect_over(s);
	s->connected = true;
	counters_open(s->target->ctr);
	health_connect_ok(s->backend, s->target, now);
	s->connect_ms = now - s->start_ms;
	s->last_active_ms = now;
	log_debug("session %" PRIu64 ": connected to %s", s->id, s->target->name);
	session_set_state(s, SESSION_RELAYING);
	if (session_build_header(s) < 0) {
		log_warnx("session %" PRIu64 ": no memory for the PROXY header", s->id);
		session_close(s, SESSION_END_ERROR);
		return;
	}
	if (session_arm(s, s->listener->idle_timeout_ms) < 0)
		return;
	/* Bytes the client sent early go now, exactly once. */
	session_send(s, &s->server);
	session_update(s);
}

static enum session_end session_connect_end(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return SESSION_END_CONNECT_REFUSED;
	case ETIMEDOUT:
		return SESSION_END_CONNECT_TIMEOUT;
	default:
		return SESSION_END_ERROR;
	}
}

static void session_connect_failed(struct session *s, int err)
{
	struct reactor *r = session_reactor(s);
	bool retry = s->retries < s->backend->retries;

	log_warnx("session %" PRIu64 ": connect to %s: %s%s", s->id, s->target->name,
		  strerror(err), retry ? "; trying the next server" : "");
	session_connect_over(s);
	s->target->ctr->connect_errors++;
	s->backend->ctr->connect_errors++;
	health_connect_failed(s->backend, s->target, err, reactor_now(r));
	reactor_timer_cancel(r, &s->timer);
	if (s->server.fd >= 0)
		reactor_close(r, s->server.fd);
	s->server.fd = -1;
	if (!retry) {
		session_close(s, session_connect_end(err));
		return;
	}
	s->retries++;
	s->target->ctr->retries++;
	s->backend->ctr->retries++;
	session_connect(s, session_connect_end(err));
}

/* The next server to try, by the backend's algorithm; for a retry, one
 * other than the server that failed if any can take it. Holds a
 * reference to it. NULL with the end to give when none can. */
static bool session_pick_server(struct session *s, enum session_end *none)
{
	enum backend_none why;
	struct server *next = backend_pick(s->backend, &s->client_addr, s->target,
					   reactor_now(session_reactor(s)), &why);

	if (next == NULL) {
		if (why == BACKEND_NONE_FULL)
			*none = SESSION_END_LIMIT;
		return false;
	}
	server_unref(s->target);
	s->target = server_ref(next);
	s->target->ctr->connecting++;
	s->connecting = true;
	return true;
}

/* The connect in flight has an answer (or is abandoned). */
static void session_connect_over(struct session *s)
{
	if (s->connecting)
		s->target->ctr->connecting--;
	s->connecting = false;
}

/* IF_NONE is the end to give when no server can be tried: no_server for
 * a first attempt, the last failure's for a retry. */
static void session_connect(struct session *s, enum session_end if_none)
{
	struct reactor *r = session_reactor(s);
	int fd, rc;

	if (!session_pick_server(s, &if_none)) {
		session_close(s, if_none);
		return;
	}
	rc = net_connect(&s->target->addr, &fd);
	if (rc < 0 && (errno == EMFILE || errno == ENFILE)) {
		/* No descriptor for the server side: another server cannot
		 * help. Give up this one client and stop taking new ones
		 * until descriptors come back, rather than fail them all. */
		int err = errno;
		session_close(s, SESSION_END_ERROR);
		runtime_pause_accept(s->rt, err);
		return;
	}
	if (rc < 0) {
		session_connect_failed(s, errno);
		return;
	}
	s->server.fd = fd;
	if (reactor_add(r, fd, REACTOR_WRITE, session_on_io, &s->server) < 0) {
		session_connect_failed(s, ENOMEM);
		return;
	}
	if (rc == 0) {
		session_connected(s);
		return;
	}
	if (session_arm(s, s->backend->connect_timeout_ms) < 0)
		return;
	session_update(s);
}

/* The connect in flight has an answer: writable means done or failed.
 * A failure always comes with an error pending, so without one there is
 * nothing to ask the kernel. */
static void session_connect_check(struct session *s, unsigned events)
{
	int err = events & REACTOR_ERR ? net_connect_error(s->server.fd) : 0;

	if (err != 0)
		session_connect_failed(s, err);
	else
		session_connected(s);
}

/* Reads H and passes it on at once: usually the peer can take it and the
 * buffer goes straight back to the pool. A bulk transfer on its pipe goes
 * round a few times while the peer takes everything: a splice costs less
 * than the wait for the next readiness, and the rounds stay bounded so
 * that one transfer cannot starve the other connections. */
static void session_relay(struct session *s, struct session_half *h, unsigned events)
{
	for (int round = 0; round < SESSION_SPLICE_ROUNDS; round++) {
		uint64_t before = h->peer->sent;

		session_recv(s, h, round == 0 ? events : 0);
		if (s->state == SESSION_CLOSED)
			return;
		session_send(s, h->peer);
		if (s->state == SESSION_CLOSED || h->pipe.rd < 0 || h->piped > 0 ||
		    h->peer->sent == before || h->eof)
			return;
	}
}

static void session_on_io(struct reactor *r, int fd, unsigned events, void *arg)
{
	struct session_half *h = arg;
	struct session *s = h->session;

	(void)r;
	(void)fd;
	switch (s->state) {
	case SESSION_PROXY_HEADER:
		session_recv(s, h, events);
		if (s->state == SESSION_PROXY_HEADER)
			session_read_header(s);
		break;
	case SESSION_CONNECTING:
		if (h == &s->server)
			session_connect_check(s, events);
		else
			session_recv(s, h, events);
		break;
	case SESSION_RELAYING:
	case SESSION_FLUSHING:
	case SESSION_LINGERING:
		if (events & REACTOR_WRITE)
			session_send(s, h);
		if ((events & REACTOR_READ) && s->state != SESSION_CLOSED)
			session_relay(s, h, events);
		break;
	case SESSION_CLOSED:
		return;
	}
	session_update(s);
}

/* One timer per session. Activity does not touch it: it only moves
 * last_active_ms, and an expiring idle timer re-arms for the remainder.
 * So an idle period costs one heap operation, not one per byte. */
static void session_on_timer(void *arg)
{
	struct session *s = arg;
	uint64_t quiet, idle = s->listener->idle_timeout_ms;

	switch (s->state) {
	case SESSION_PROXY_HEADER:
		log_debug("session %" PRIu64 ": no whole PROXY header within %d ms", s->id,
			  SESSION_PROXY_HEADER_MS);
		session_close(s, SESSION_END_PROXY_HEADER_ERROR);
		return;
	case SESSION_CONNECTING:
		session_connect_failed(s, ETIMEDOUT);
		return;
	case SESSION_RELAYING:
	case SESSION_FLUSHING:
		quiet = reactor_now(session_reactor(s)) - s->last_active_ms;
		if (quiet < idle) {
			session_arm(s, idle - quiet);
			return;
		}
		switch (session_idle_verdict(s, reactor_now(session_reactor(s)))) {
		case SESSION_IDLE:
			session_close(s, SESSION_END_IDLE_TIMEOUT);
			return;
		case SESSION_MOVING:
			s->last_active_ms = reactor_now(session_reactor(s));
			session_arm(s, idle);
			return;
		case SESSION_UNSURE:
			session_arm(s, session_idle_look(s));
			return;
		}
		return;
	case SESSION_LINGERING:
		/* No event says "acknowledged": look again shortly. A peer
		 * that stops taking our bytes ends it after idle_timeout. */
		session_finish(s);
		if (s->state != SESSION_LINGERING)
			return;
		if (reactor_now(session_reactor(s)) - s->last_active_ms >= idle)
			session_close(s, s->end);
		else
			session_arm(s, SESSION_LINGER_POLL_MS);
		return;
	case SESSION_CLOSED:
		return;
	}
}

/* send_proxy's state, made the first time it is needed; NULL if memory
 * ran out. */
static struct session_proxy *session_proxy_state(struct session *s)
{
	if (s->proxy == NULL)
		s->proxy = calloc(1, sizeof(*s->proxy));
	return s->proxy;
}

/* send_proxy: the header for this connect (again for each retry, as
 * each is a new connection), written before any client byte. -1 if
 * memory ran out. */
static int session_build_header(struct session *s)
{
	struct session_proxy *p;

	if (s->backend->send_proxy == CONFIG_SEND_PROXY_OFF)
		return 0;
	if ((p = session_proxy_state(s)) == NULL)
		return -1;
	p->sent = 0;
	if (p->local.len == 0) {
		p->local.len = sizeof(p->local.u);
		if (getsockname(s->client.fd, &p->local.u.sa, &p->local.len) < 0)
			memset(&p->local, 0, sizeof(p->local));
	}
	if (s->backend->send_proxy == CONFIG_SEND_PROXY_V1)
		p->len = (uint8_t)proxyproto_v1_encode((char *)p->hdr, &s->client_addr, &p->local);
	else
		p->len = (uint8_t)proxyproto_v2_encode(p->hdr, &s->client_addr, &p->local);
	return 0;
}

/* The client is known (accepted, or its PROXY header read): check it
 * against the listener's rules, then route it. */
static void session_admit(struct session *s)
{
	struct listener *l = s->listener;

	if (!acl_permits(&l->acl, &s->client_addr)) {
		l->ctr->denied++;
		session_close(s, SESSION_END_DENIED);
		return;
	}
	s->routed = true;
	counters_open(s->backend->ctr);
	if (s->state == SESSION_PROXY_HEADER)
		session_set_state(s, SESSION_CONNECTING);
	session_connect(s, SESSION_END_NO_SERVER);
}

/* accept_proxy: parse what the client sent so far. The header takes the
 * front of the client's ring (empty until now, so it is contiguous);
 * what follows it is payload and stays for the server. */
static void session_read_header(struct session *s)
{
	struct proxyproto_header h;
	struct iovec iov[2];
	const char *err = NULL;
	int n = ring_data(&s->client.in, &s->rt->pool, iov);
	enum proxyproto_result r = n == 0 ? PROXYPROTO_INCOMPLETE
		: proxyproto_parse((const unsigned char *)iov[0].iov_base, iov[0].iov_len, &h, &err);

	if (r == PROXYPROTO_INCOMPLETE && ring_full(&s->client.in, &s->rt->pool)) {
		r = PROXYPROTO_ERROR;
		err = "larger than buffer_size";
	}
	if (r == PROXYPROTO_INCOMPLETE && s->client.eof) {
		r = PROXYPROTO_ERROR;
		err = "the client closed before its end";
	}
	if (r == PROXYPROTO_INCOMPLETE)
		return;
	if (r == PROXYPROTO_ERROR) {
		log_debug("session %" PRIu64 ": PROXY header: %s", s->id, err);
		session_close(s, SESSION_END_PROXY_HEADER_ERROR);
		return;
	}
	ring_consume(&s->client.in, &s->rt->pool, h.len);
	if (h.has_addr) {
		s->client_addr = h.src;
		/* An outgoing header names what the client really reached. */
		if (s->backend->send_proxy != CONFIG_SEND_PROXY_OFF && session_proxy_state(s) != NULL)
			s->proxy->local = h.dst;
	}
	reactor_timer_cancel(session_reactor(s), &s->timer);
	session_admit(s);
}

void session_start(struct listener *l, int fd, const struct addr *client)
{
	struct runtime *rt = l->rt;
	struct session *s = session_alloc();

	if (s == NULL) {
		log_warnx("listener %s: no memory for a session; connection dropped", l->name);
		close(fd);
		return;
	}
	memset(s, 0, sizeof(*s));
	s->rt = rt;
	s->state = l->accept_proxy ? SESSION_PROXY_HEADER : SESSION_CONNECTING;
	s->end = SESSION_END_NONE;
	s->listener = listener_ref(l);
	s->backend = backend_ref(l->backend);
	s->client_addr = *client;
	s->start_ms = s->last_active_ms = reactor_now(rt->reactor);
	session_half_init(s, &s->client, &s->server, fd);
	session_half_init(s, &s->server, &s->client, -1);
	timer_init(&s->timer, session_on_timer, s);
	reactor_task_init(&s->release, session_release, s);
	s->id = runtime_conn_opened(rt, &s->link);
	counters_open(l->ctr);
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		char buf[ADDR_STRLEN];
		log_debug("session %" PRIu64 ": accepted %s on %s", s->id,
			  addr_format(client, buf, sizeof(buf)), l->name);
	}
	if (reactor_add(rt->reactor, fd, REACTOR_READ, session_on_io, &s->client) < 0) {
		log_warnx("session %" PRIu64 ": cannot watch the client: out of memory", s->id);
		session_close(s, SESSION_END_ERROR);
		return;
	}
	if (s->state == SESSION_PROXY_HEADER)
		session_arm(s, SESSION_PROXY_HEADER_MS);
	else
		session_admit(s);
}

void session_describe_all(const struct runtime *rt, struct strbuf *out)
{
	uint64_t now = reactor_now(rt->reactor);

	for (struct runtime_link *l = rt->conns; l != NULL; l = l->next) {
		const struct session *s = session_of(l);
		char client[ADDR_STRLEN];

		strbuf_printf(out, "conn=%" PRIu64 " client=%s listener=%s backend=%s server=%s"
			      " state=%s age_ms=%" PRIu64 " bytes_in=%" PRIu64 " bytes_out=%" PRIu64 "\n",
			      s->id, addr_format(&s->client_addr, client, sizeof(client)),
			      s->listener->name, s->backend->name,
			      s->connected ? s->target->name : "-", session_state_names[s->state],
			      now - s->start_ms, s->server.sent, s->client.sent);
	}
}
