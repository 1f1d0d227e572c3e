/* log.h — one line per message on stderr; syslog priority prefixes when
 * stderr is the journal, a timestamp otherwise. */
#ifndef NETPOLLD_LOG_H
#define NETPOLLD_LOG_H

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Decides plain or journal format from JOURNAL_STREAM; call once at start. */
void log_init(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" -> 0 and *out; anything else -> -1. */
int log_level_parse(const char *name, enum log_level *out);

/* log_warn and log_error append ": strerror(errno)"; the x variants do not. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Connection log lines: info priority, but switched by log_connections
 * rather than by the level, like an access log beside an error log. */
void log_conn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Cheap guard for callers that would format expensive arguments. */
#define log_enabled(level) ((level) <= log_get_level())

#endif
