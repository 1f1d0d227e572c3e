/* reactor.h — the event loop: one thread waits for readiness on many fds,
 * fires timers and delivers signals, and calls back (fd, mask, arg). It
 * knows nothing of what the fds are for. */
#ifndef NETPOLLD_REACTOR_H
#define NETPOLLD_REACTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "timer.h"

#define REACTOR_READ  0x1u
#define REACTOR_WRITE 0x2u
/* Reported along with READ or WRITE, never asked for: the peer has
 * finished sending (its FIN is queued behind whatever data is left), or
 * an error or hang-up is pending. They let a handler skip the system
 * call that would only have told it so. */
#define REACTOR_HUP   0x4u
#define REACTOR_ERR   0x8u
#define REACTOR_STATUS (REACTOR_HUP | REACTOR_ERR)

struct reactor;

/* EVENTS is a subset of the interest FD asked for, plus the status bits
 * the system reported with it. */
typedef void (*reactor_io_cb)(struct reactor *r, int fd, unsigned events, void *arg);
typedef void (*reactor_signal_cb)(struct reactor *r, int signo, void *arg);
typedef void (*reactor_task_cb)(void *arg);

/* Work run at the end of the current loop turn, after every event of the
 * batch has been dispatched: the safe moment to free an object that a
 * pending event or a caller up the stack may still point at. */
struct reactor_task {
	struct reactor_task *next;  /* queue link */
	reactor_task_cb cb;         /* the work */
	void *arg;                  /* handed to cb */
	bool queued;                /* already waiting to run */
};

struct reactor *reactor_create(void);
void reactor_destroy(struct reactor *r);

/* Watch FD for MASK (may be 0) and call CB with ARG when it is ready.
 * On an fd already registered it changes the owner (CB, ARG) and the
 * interest, keeping what the kernel already watches. */
int reactor_add(struct reactor *r, int fd, unsigned mask, reactor_io_cb cb, void *arg);
/* FD's open file is also held by another descriptor (inherited from
 * systemd, dup'ed): closing ours does not take it out of the kernel's
 * set, so reactor_close() must remove it explicitly. */
void reactor_share(struct reactor *r, int fd);
/* Record the interest FD wants; applied once before the next wait, and
 * only if it differs from what the kernel already watches. */
void reactor_set(struct reactor *r, int fd, unsigned mask);
/* Stop watching FD, invalidate its events still pending in this batch,
 * and close it. */
void reactor_close(struct reactor *r, int fd);

/* Monotonic milliseconds, read once per loop turn. */
uint64_t reactor_now(const struct reactor *r);
/* The callback of T runs DELAY_MS from now (re-arming moves it). */
int reactor_timer_arm(struct reactor *r, struct timer *t, uint64_t delay_ms);
void reactor_timer_cancel(struct reactor *r, struct timer *t);

/* Deliver SIGNO to CB inside the loop; the handler itself only records it
 * and wakes the loop. One reactor per process may own signals. */
int reactor_signal(struct reactor *r, int signo, reactor_signal_cb cb, void *arg);

void reactor_task_init(struct reactor_task *t, reactor_task_cb cb, void *arg);
void reactor_defer(struct reactor *r, struct reactor_task *t);

/* CB runs once per loop turn, before interest changes are applied and the
 * loop waits: for work best batched per turn (writing the log). */
void reactor_on_turn(struct reactor *r, reactor_task_cb cb, void *arg);

/* Runs until reactor_stop(); 0, or -1 if waiting itself failed. */
int reactor_run(struct reactor *r);
void reactor_stop(struct reactor *r);
const char *reactor_backend(void);

#endif
