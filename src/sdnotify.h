/* sdnotify.h — telling the service manager how we are doing (sd_notify).
 * Without NOTIFY_SOCKET every call is a no-op. */
#ifndef NETPOLLD_SDNOTIFY_H
#define NETPOLLD_SDNOTIFY_H

#include <stdint.h>

/* STATE is a newline-separated list such as "READY=1\nSTATUS=...". */
void sdnotify_send(const char *state);
/* printf-style STATE. */
void sdnotify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog period systemd asked for (WATCHDOG_USEC, for this pid)
 * in milliseconds; 0 when there is no watchdog. */
uint64_t sdnotify_watchdog_ms(void);

#endif
