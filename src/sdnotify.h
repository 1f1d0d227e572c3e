/* sdnotify.h — telling the service manager how we are doing (sd_notify).
 * Without NOTIFY_SOCKET every call is a no-op. */
#ifndef NETPOLLD_SDNOTIFY_H
#define NETPOLLD_SDNOTIFY_H

/* STATE is a newline-separated list such as "READY=1\nSTATUS=...". */
void sdnotify_send(const char *state);

#endif
