/* log.c — the daemon's only way to say something. One write(2) per line,
 * so lines from a dying process are never interleaved or half-buffered. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_threshold = LOG_LEVEL_INFO;
/* stderr is the journal: it adds time and pid, we add "<N>" priorities. */
static bool log_to_journal;

static const char *const log_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

/* syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static const int log_priorities[] = {
	[LOG_LEVEL_ERROR] = 3,
	[LOG_LEVEL_WARN] = 4,
	[LOG_LEVEL_INFO] = 6,
	[LOG_LEVEL_DEBUG] = 7,
};

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected; it only
 * counts if stderr is still that very stream (not redirected since). */
void log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_to_journal = false;
	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return;
	if (fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		log_to_journal = true;
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level log_get_level(void)
{
	return log_threshold;
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void log_write(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0;
	int r;

	if (log_to_journal) {
		r = snprintf(line, sizeof(line), "<%d>", log_priorities[level]);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		r = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_names[level]);
	}
	n = (size_t)r;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = r < 0 ? n : n + (size_t)r;
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;   /* truncated: keep room for "\n" */
	if (errnum != 0) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(errnum));
		n = r < 0 ? n : n + (size_t)r;
		if (n >= sizeof(line) - 1)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	/* Best effort: there is nowhere to report a failing stderr. */
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

static void log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	if (level <= log_threshold)
		log_write(level, errnum, fmt, ap);
}

void log_conn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_INFO, 0, fmt, ap);
	va_end(ap);
}

#define LOG_DEFINE(fn, level, with_errno)                          \
	void fn(const char *fmt, ...)                              \
	{                                                          \
		int saved = errno;                                 \
		va_list ap;                                        \
		va_start(ap, fmt);                                 \
		log_emit(level, with_errno ? saved : 0, fmt, ap);  \
		va_end(ap);                                        \
		errno = saved;                                     \
	}

LOG_DEFINE(log_error, LOG_LEVEL_ERROR, true)
LOG_DEFINE(log_errorx, LOG_LEVEL_ERROR, false)
LOG_DEFINE(log_warn, LOG_LEVEL_WARN, true)
LOG_DEFINE(log_warnx, LOG_LEVEL_WARN, false)
LOG_DEFINE(log_info, LOG_LEVEL_INFO, false)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG, false)
