/* netpollctl_io.h — one exchange with netpolld's stats socket: connect,
 * send command lines, read their answers, all within one deadline and a
 * size bound. Failures come back as text for the caller to word; nothing
 * here prints. */
#ifndef NETPOLLD_NETPOLLCTL_IO_H
#define NETPOLLD_NETPOLLCTL_IO_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "netpollctl_util.h"

#define CTL_ANSWERS_MAX      2          /* watch asks two questions at once */

/* Set by watch's signal handlers; an interrupted wait gives up when it is
 * set instead of retrying, so SIGTERM ends watch within a moment. */
extern volatile sig_atomic_t ctl_stop_signal;

struct ctl_error {
	bool connecting;                /* failed before a connection existed */
	char reason[256];               /* strerror() text or what went wrong */
};

/* One exchange's raw reply and where its answers lie in it. */
struct ctl_reply {
	struct buf raw;                 /* every byte received, NUL-terminated */
	size_t start[CTL_ANSWERS_MAX];  /* answer I is raw.data[start[I] .. end[I]) */
	size_t end[CTL_ANSWERS_MAX];    /* the '\n' of the empty line closing it */
	size_t n;                       /* complete answers so far */
	size_t want;                    /* answers expected */
	size_t scan;                    /* next byte to look at for a terminator */
};

/* Sends CMDS (WANT command lines, WANT <= CTL_ANSWERS_MAX) to the socket
 * at PATH on a fresh connection and collects WANT answers within
 * TIMEOUT_MS; each is then a NUL-terminated string (reply_answer). On
 * failure returns -1 with ERR filled in. Either way R must be freed with
 * reply_free(). */
int ctl_query(const char *path, const char *cmds, size_t want, int timeout_ms,
	      struct ctl_reply *r, struct ctl_error *err);
/* Answer I of a successful ctl_query(), without its closing empty line. */
char *reply_answer(struct ctl_reply *r, size_t i);
void reply_free(struct ctl_reply *r);
/* The daemon refused the command: the answer starts with `error:`. */
bool answer_is_error(const char *a);

#endif
