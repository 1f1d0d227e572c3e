/* proxy.h — the running proxy: the objects built from one configuration
 * (listeners, backends), the open sessions, and the process-wide events
 * that concern them all (accept pause, graceful stop). */
#ifndef NETPOLLD_PROXY_H
#define NETPOLLD_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "timer.h"

struct reactor;
struct config;
struct listener;
struct backend;
struct session;

struct proxy {
	struct reactor *reactor;        /* the loop everything runs on */
	struct config *cfg;             /* owned; names below point into it */
	struct buffer_pool pool;        /* relay buffers */
	struct backend *backends;
	size_t nbackends;
	struct listener *listeners;
	size_t nlisteners;
	struct session *sessions;       /* every open session */
	size_t nsessions;
	uint64_t next_session_id;       /* conn= of the next session */
	size_t max_sessions;            /* what the open-file limit can carry */
	bool accept_paused;             /* out of fds: listeners rest a while */
	struct timer accept_timer;      /* ends the pause */
	uint64_t accept_warned_ms;      /* last "out of fds" warning */
	bool stopping;                  /* graceful stop in progress */
	struct timer stop_timer;        /* shutdown_timeout */
};

/* Takes ownership of CFG. NULL if memory ran out. */
struct proxy *proxy_create(struct reactor *r, struct config *cfg);
void proxy_destroy(struct proxy *p);
/* Binds every listener; -1 (logged) if one cannot be bound. */
int proxy_start(struct proxy *p);
/* Stop accepting; let sessions finish within shutdown_timeout, or close
 * them now if NOW. The reactor is stopped when the last one is gone. */
void proxy_stop(struct proxy *p, bool now);
/* No room for another session: at max_sessions (ERR 0), or out of file
 * descriptors all the same (ERR is EMFILE, ENFILE...). Rest all listeners
 * until a session closes, rather than spin on a backlog we cannot take
 * from; new clients wait in the kernel's backlog meanwhile. */
void proxy_pause_accept(struct proxy *p, int err);
/* Whether a listener may accept one more client now. */
bool proxy_can_accept(struct proxy *p);
/* Bookkeeping for session.c. */
void proxy_session_opened(struct proxy *p, struct session *s);
void proxy_session_closed(struct proxy *p, struct session *s);

#endif
