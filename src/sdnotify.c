/* sdnotify.c — systemd notifications through libsystemd's sd-daemon. */
#include "sdnotify.h"

#include <systemd/sd-daemon.h>

#include "log.h"

void sdnotify_send(const char *state)
{
	int r = sd_notify(0, state);

	/* Failing to notify is worth a line, never worth stopping. */
	if (r < 0)
		log_warnx("sd_notify: cannot send notification: error %d", -r);
}
