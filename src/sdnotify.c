/* sdnotify.c — systemd notifications through libsystemd's sd-daemon. */
#include "sdnotify.h"

#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "log.h"

void sdnotify_send(const char *state)
{
	int r = sd_notify(0, state);

	/* Failing to notify is worth a line, never worth stopping. */
	if (r < 0)
		log_warnx("sd_notify: cannot send notification: error %d", -r);
}

void sdnotify_sendf(const char *fmt, ...)
{
	char state[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(state, sizeof(state), fmt, ap);
	va_end(ap);
	sdnotify_send(state);
}

uint64_t sdnotify_watchdog_ms(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec / 1000 > 0 ? usec / 1000 : 1;
}
