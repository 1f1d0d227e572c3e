/* log.h — one line per message on stderr; syslog priority prefixes when
 * stderr is the journal, a timestamp otherwise. Lines go through a bounded
 * queue drained without blocking, so a stalled log reader never stalls the
 * reactor: what does not fit is dropped, counted and later reported. */
#ifndef NETPOLLD_LOG_H
#define NETPOLLD_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* Bytes of formatted lines held while the reader is slow: some 2,000
 * connection lines, enough to ride out a journal hiccup at thousands of
 * connections a second, and four times a default pipe's 64 KiB so one
 * reactor turn's batch fits. It is all the memory a stuck reader costs. */
#define LOG_QUEUE_SIZE (256u * 1024u)

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Decides plain or journal format from JOURNAL_STREAM and how to write to
 * stderr without blocking from what stderr is; call at start. Calling it
 * again (stderr was redirected) closes what the last call opened and
 * discards lines still queued for the old stderr. */
void log_init(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" -> 0 and *out; anything else -> -1. */
int log_level_parse(const char *name, enum log_level *out);

/* log_warn and log_error append ": strerror(errno)"; the x variants do not.
 * Every log_* call leaves errno as it found it. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Connection log lines: info priority, but switched by log_connections
 * rather than by the level, like an access log beside an error log. */
void log_conn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The fd the queue drains to, for the reactor to watch for writability
 * while log_pending(); -1 when there is nothing to wait for (a regular
 * file, or the blocking fallback when no non-blocking path exists). */
int log_fd(void);
/* Bytes are queued and not yet written. */
bool log_pending(void);
/* Writes what the fd takes now (a few write calls at most) and never
 * blocks. Once the queue is empty after lines were dropped, queues one
 * warning saying how many ("log: N lines dropped: ...") and tries it. */
void log_flush(void);
/* Lines dropped since start because the queue was full; never decreases. */
uint64_t log_dropped(void);
/* For exit paths: flush, waiting up to TIMEOUT_MS in all (negative counts
 * as 0) for the reader, then give up silently on what is left. */
void log_flush_blocking(int timeout_ms);
/* ON (the default at start): each line is flushed as it is logged, so
 * start-up messages and `-t` output appear at once. OFF: lines wait for
 * the reactor's log_flush() once a turn, many lines to one write. Either
 * way nothing blocks. Switching ON flushes what is queued. */
void log_set_immediate(bool on);

/* Cheap guard for callers that would format expensive arguments. */
#define log_enabled(level) ((level) <= log_get_level())

#endif
