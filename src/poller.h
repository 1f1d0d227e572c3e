/* poller.h — the private contract between the reactor and one kernel
 * readiness API. Exactly one backend (poller_epoll.c, poller_kqueue.c ...)
 * is linked in; its state stays file-private. Backends speak only of fds
 * and REACTOR_READ/REACTOR_WRITE masks, and fold error and hang-up
 * conditions into READ|WRITE so handlers learn of them from the I/O call;
 * where the kernel says so, they add REACTOR_HUP (the peer's FIN is in)
 * and REACTOR_ERR (an error or hang-up), which a handler may use to skip
 * a call but need not. */
#ifndef NETPOLLD_POLLER_H
#define NETPOLLD_POLLER_H

#include <stdbool.h>

struct poller;

struct poller_event {
	int fd;                 /* -1 once invalidated by the reactor */
	unsigned mask;          /* REACTOR_READ | REACTOR_WRITE, REACTOR_STATUS bits */
};

struct poller *poller_create(void);
void poller_destroy(struct poller *p);
/* Make the kernel watch FD for exactly NEW_MASK; it was watching OLD_MASK
 * (0 = not registered). NEW_MASK 0 unregisters: a socket with no interest
 * must not be reported at all, or a hung-up peer would spin the loop. */
int poller_apply(struct poller *p, int fd, unsigned old_mask, unsigned new_mask);
/* FD is about to be closed while registered: drop any private state.
 * Closing removes it from the kernel set only when no other descriptor
 * shares its open file; SHARED says one may (then remove it explicitly,
 * or a closed listener would go on reporting events). */
void poller_forget(struct poller *p, int fd, bool shared);
/* Up to MAX events; TIMEOUT_MS -1 blocks. Returns the count, or -1. */
int poller_wait(struct poller *p, struct poller_event *events, int max, int timeout_ms);
const char *poller_name(void);

#endif
