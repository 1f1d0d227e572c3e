/* log.c — the daemon's only way to say something. A line is formatted
 * whole into a bounded queue and written from there without blocking, so
 * lines are never interleaved or cut, and a reader that stops reading costs
 * dropped lines (counted, then reported) instead of a frozen reactor. */
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Longer lines are cut to this, so a runaway message cannot hog the queue. */
#define LOG_LINE_MAX 2048
/* Write calls per log_flush(): enough for the whole queue in PIPE_BUF
 * pieces (below) and a retry after a signal, yet bounded so a flush is
 * always short. */
#define LOG_FLUSH_WRITES (LOG_QUEUE_SIZE / PIPE_BUF + 4)

/* How the queue reaches stderr without touching the file status flags of
 * a stderr that a shell or parent shares with us: O_NONBLOCK lives in the
 * open file description, so setting it on fd 2 would change theirs too. */
enum log_sink {
	LOG_SINK_PLAIN,   /* write(2) on fd 2: a regular file, or the fallback */
	LOG_SINK_SOCKET,  /* send(2) on fd 2 with MSG_DONTWAIT: the journal */
	LOG_SINK_OWN_FD,  /* our own non-blocking description of fd 2's pipe/tty */
};

/* The ring of whole formatted lines waiting for the reader. */
static struct {
	char buf[LOG_QUEUE_SIZE];  /* the bytes */
	size_t head;               /* offset of the oldest unwritten byte */
	size_t len;                /* bytes queued from head on, wrapping */
} log_queue;

static enum log_level log_threshold = LOG_LEVEL_INFO;
/* stderr is the journal: it adds time and pid, we add "<N>" priorities. */
static bool log_to_journal;
static enum log_sink log_sink = LOG_SINK_PLAIN;
/* The description LOG_SINK_OWN_FD writes to; -1 otherwise. */
static int log_own_fd = -1;
/* stderr is a pipe, which others may write to as well: each write is
 * whole lines of at most PIPE_BUF bytes, which the kernel writes all or
 * nothing, so no line is ever cut or has another writer's inside it. */
static bool log_whole_lines;
/* Start-up output must appear at once; the reactor switches this off. */
static bool log_immediate = true;
/* Lines dropped since start, for stats. */
static uint64_t log_dropped_total;
/* Lines dropped since the last "lines dropped" warning. */
static uint64_t log_dropped_unreported;

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
static bool log_is_journal(const struct stat *st)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	char *end;

	/* strtoull: sscanf's %llu is undefined for a number out of range. */
	if (js == NULL)
		return false;
	dev = strtoull(js, &end, 10);
	if (end == js || *end != ':')
		return false;
	js = end + 1;
	ino = strtoull(js, &end, 10);
	if (end == js)
		return false;
	return (unsigned long long)st->st_dev == dev && (unsigned long long)st->st_ino == ino;
}

/* A pipe or tty reopened through /proc is a new open file description of
 * the same object, so O_NONBLOCK there leaves fd 2's own flags alone.
 * O_NOCTTY: reopening a tty must not make it our controlling terminal.
 * Without /proc (a bare chroot) we fall back to blocking writes on fd 2:
 * the old behaviour, rather than no log at all. */
static void log_open_own_fd(void)
{
	log_own_fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	log_sink = log_own_fd >= 0 ? LOG_SINK_OWN_FD : LOG_SINK_PLAIN;
}

void log_init(void)
{
	int saved = errno;
	struct stat st;

	if (log_own_fd >= 0)
		close(log_own_fd);
	log_own_fd = -1;
	log_sink = LOG_SINK_PLAIN;
	log_whole_lines = false;
	log_to_journal = false;
	/* What was queued was meant for the stderr we had before. */
	log_queue.head = log_queue.len = 0;
	log_dropped_unreported = 0;
	/* A failing fstat (fd 2 closed) leaves plain writes, which fail fast. */
	if (fstat(STDERR_FILENO, &st) == 0) {
		log_to_journal = log_is_journal(&st);
		if (S_ISSOCK(st.st_mode))
			log_sink = LOG_SINK_SOCKET;
		else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))
			log_open_own_fd();
		log_whole_lines = S_ISFIFO(st.st_mode);
		/* Regular files never wait for a reader: plain write(2), and
		 * O_APPEND stays whatever the opener chose. */
	}
	errno = saved;
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

/* Fills IOV with the queued bytes (two slices when they wrap). */
static int log_queue_data(struct iovec iov[2])
{
	size_t first = LOG_QUEUE_SIZE - log_queue.head;

	if (first > log_queue.len)
		first = log_queue.len;
	iov[0].iov_base = log_queue.buf + log_queue.head;
	iov[0].iov_len = first;
	iov[1].iov_base = log_queue.buf;
	iov[1].iov_len = log_queue.len - first;
	return iov[1].iov_len > 0 ? 2 : 1;
}

_Static_assert(LOG_LINE_MAX < PIPE_BUF, "a line must fit in one atomic pipe write");

/* Cuts IOV to the whole lines within the first PIPE_BUF bytes (a line is
 * at most LOG_LINE_MAX, less than PIPE_BUF, so there is always one). */
static int log_queue_whole_lines(struct iovec iov[2], int n)
{
	size_t len = log_queue.len < PIPE_BUF ? log_queue.len : PIPE_BUF;

	while (len > 0 && log_queue.buf[(log_queue.head + len - 1) % LOG_QUEUE_SIZE] != '\n')
		len--;
	if (iov[0].iov_len >= len) {
		iov[0].iov_len = len;
		return 1;
	}
	iov[1].iov_len = len - iov[0].iov_len;
	return n;
}

static void log_queue_consume(size_t n)
{
	log_queue.head = (log_queue.head + n) % LOG_QUEUE_SIZE;
	log_queue.len -= n;
	if (log_queue.len == 0)
		log_queue.head = 0;  /* keeps the next batch in one slice */
}

/* Queues LINE whole or not at all: a reader must never see half a line
 * followed by another one. */
static void log_queue_line(const char *line, size_t n)
{
	size_t tail, first;

	if (n > LOG_QUEUE_SIZE - log_queue.len) {
		log_dropped_total++;
		log_dropped_unreported++;
		return;
	}
	tail = (log_queue.head + log_queue.len) % LOG_QUEUE_SIZE;
	first = LOG_QUEUE_SIZE - tail < n ? LOG_QUEUE_SIZE - tail : n;
	memcpy(log_queue.buf + tail, line, first);
	memcpy(log_queue.buf, line + first, n - first);
	log_queue.len += n;
}

/* MSG_NOSIGNAL: a journal that went away must not kill us with SIGPIPE. */
static ssize_t log_sink_write(struct iovec *iov, int iovcnt)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };

	switch (log_sink) {
	case LOG_SINK_SOCKET:
		return sendmsg(STDERR_FILENO, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	case LOG_SINK_OWN_FD:
		return writev(log_own_fd, iov, iovcnt);
	case LOG_SINK_PLAIN:
		return writev(STDERR_FILENO, iov, iovcnt);
	}
	return -1;
}

/* Writes queued bytes until the fd would block. On any other error (EPIPE:
 * the reader is gone; EBADF, EIO) the queue is discarded, uncounted: those
 * lines were not lost to slowness and no reader is left to be told. Later
 * lines are still tried, one failing write each, so a dead fd costs a
 * syscall per flush and is never spun on. */
static void log_drain(void)
{
	for (size_t i = 0; i < LOG_FLUSH_WRITES && log_queue.len > 0; i++) {
		struct iovec iov[2];
		int n = log_queue_data(iov);
		ssize_t w;

		if (log_whole_lines)
			n = log_queue_whole_lines(iov, n);
		w = log_sink_write(iov, n);

		if (w > 0) {
			log_queue_consume((size_t)w);
		} else if (w == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
			return;
		} else if (errno != EINTR) {
			log_queue.head = log_queue.len = 0;
			return;
		}
	}
}

/* Formats a whole line ("<N>" or timestamp and level, message, optional
 * strerror, newline) into LINE and returns its length. */
static size_t log_format(char line[LOG_LINE_MAX], enum log_level level, int errnum,
			 const char *fmt, va_list ap)
{
	size_t n;
	int r;

	if (log_to_journal) {
		r = snprintf(line, LOG_LINE_MAX, "<%d>", log_priorities[level]);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		r = snprintf(line, LOG_LINE_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_names[level]);
	}
	n = (size_t)r;
	r = vsnprintf(line + n, LOG_LINE_MAX - n, fmt, ap);
	n = r < 0 ? n : n + (size_t)r;
	if (n >= LOG_LINE_MAX - 1)
		n = LOG_LINE_MAX - 2;   /* truncated: keep room for "\n" */
	if (errnum != 0) {
		r = snprintf(line + n, LOG_LINE_MAX - n, ": %s", strerror(errnum));
		n = r < 0 ? n : n + (size_t)r;
		if (n >= LOG_LINE_MAX - 1)
			n = LOG_LINE_MAX - 2;
	}
	line[n++] = '\n';
	return n;
}

static void log_enqueue(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];

	log_queue_line(line, log_format(line, level, errnum, fmt, ap));
}

static void log_enqueuef(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void log_enqueuef(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_enqueue(level, 0, fmt, ap);
	va_end(ap);
}

/* Even a dropped line tries a flush: that is how an immediate-mode
 * process notices the reader caught up. */
static void log_write(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	log_enqueue(level, errnum, fmt, ap);
	if (log_immediate)
		log_flush();
}

/* The report waits for an empty queue so it comes after the lines that
 * did get through and always fits. It ignores the level: the lost lines
 * may have been errors the operator asked to see. */
void log_flush(void)
{
	int saved = errno;

	log_drain();
	if (log_queue.len == 0 && log_dropped_unreported > 0) {
		uint64_t lost = log_dropped_unreported;

		log_dropped_unreported = 0;
		log_enqueuef(LOG_LEVEL_WARN, "log: %" PRIu64 " lines dropped: the log reader was too slow",
			     lost);
		log_drain();
	}
	errno = saved;
}

int log_fd(void)
{
	switch (log_sink) {
	case LOG_SINK_SOCKET:
		return STDERR_FILENO;
	case LOG_SINK_OWN_FD:
		return log_own_fd;
	case LOG_SINK_PLAIN:
		return -1;
	}
	return -1;
}

bool log_pending(void)
{
	return log_queue.len > 0;
}

uint64_t log_dropped(void)
{
	return log_dropped_total;
}

static int64_t log_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Without a pollable fd the writes themselves block (or fail), so one
 * flush is all there is to do. */
void log_flush_blocking(int timeout_ms)
{
	int saved = errno;
	int64_t deadline = log_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		struct pollfd pfd = { .fd = log_fd(), .events = POLLOUT };
		int64_t left;
		int r;

		log_flush();
		left = deadline - log_now_ms();
		if (!log_pending() || pfd.fd < 0 || left <= 0)
			break;
		/* POLLERR/POLLHUP come back as ready: the next write then
		 * fails and discards the queue, which ends the loop. */
		r = poll(&pfd, 1, (int)left);
		if (r == 0 || (r < 0 && errno != EINTR))
			break;
	}
	errno = saved;
}

void log_set_immediate(bool on)
{
	log_immediate = on;
	if (on)
		log_flush();
}

static void log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	if (level <= log_threshold)
		log_write(level, errnum, fmt, ap);
}

void log_conn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_INFO, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

#define LOG_DEFINE(fn, level, with_errno)                           \
	void fn(const char *fmt, ...)                               \
	{                                                           \
		int saved = errno;                                  \
		va_list ap;                                         \
		va_start(ap, fmt);                                  \
		log_emit(level, (with_errno) ? saved : 0, fmt, ap); \
		va_end(ap);                                         \
		errno = saved;                                      \
	}

LOG_DEFINE(log_error, LOG_LEVEL_ERROR, true)
LOG_DEFINE(log_errorx, LOG_LEVEL_ERROR, false)
LOG_DEFINE(log_warn, LOG_LEVEL_WARN, true)
LOG_DEFINE(log_warnx, LOG_LEVEL_WARN, false)
LOG_DEFINE(log_info, LOG_LEVEL_INFO, false)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG, false)
