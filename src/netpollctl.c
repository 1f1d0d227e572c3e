/* netpollctl.c — the client of netpolld's stats socket (SPEC "Stats
 * socket"): one-shot commands that print an answer, and `watch`, a
 * top(1)-like view redrawn every second. It links nothing from the
 * daemon and needs only libc, so it can be copied to any host that can
 * reach the socket. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE                     /* localtime_r, SIGWINCH under -std=c11 */
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef NETPOLLD_VERSION
#define NETPOLLD_VERSION "unknown"
#endif

#define CTL_SOCKET_DEFAULT   "/run/netpolld/stats.sock"
/* A stats answer is a few KiB per thousand servers; anything this large
 * is not netpolld talking, and holding more would only hurt the host. */
#define CTL_REPLY_MAX        ((size_t)64 << 20)
/* The whole exchange, connect to last byte. A reload parses the file and
 * resolves host names before it answers, so it gets longer. */
#define CTL_TIMEOUT_MS       5000
#define CTL_RELOAD_TIMEOUT_MS 30000
/* watch must stay responsive to q and signals while the daemon is stuck. */
#define CTL_WATCH_TIMEOUT_MS 2000
#define CTL_ANSWERS_MAX      2          /* watch asks two questions at once */
#define CTL_INFO_MAX         256        /* `show info` keys kept */
#define WATCH_PERIOD_MS      1000

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Exit codes: documented in netpollctl(1). */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_ANSWER = 1,            /* the daemon answered `error: ...` */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_IO = 3,                /* socket unreachable, timeout, I/O error */
};

/* Set by watch's signal handlers; an interrupted wait gives up when it is
 * set instead of retrying, so SIGTERM ends watch within a moment. */
static volatile sig_atomic_t ctl_stop_signal;

/* ---- small utilities ---------------------------------------------- */

static void die_nomem(void)
{
	/* exit() runs watch's atexit handler, so the terminal is restored. */
	fputs("netpollctl: out of memory\n", stderr);
	exit(CTL_EXIT_IO);
}

static void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		die_nomem();
	p = realloc(p, n && size ? n * size : 1);     /* never realloc(p, 0) */
	if (!p)
		die_nomem();
	return p;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Parses a whole decimal string; false for anything else. */
static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !is_digit(*s))
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* Cuts the next line out of *CUR in place; NULL when none is left. */
static char *line_next(char **cur)
{
	char *s = *cur, *nl;

	if (!s || !*s)
		return NULL;
	nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		*cur = nl + 1;
	} else {
		*cur = s + strlen(s);
	}
	return s;
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

/* ---- growable text -------------------------------------------------- */

struct buf {
	char *data;                     /* NUL-terminated once anything was added */
	size_t len;                     /* bytes held, without the NUL */
	size_t cap;                     /* bytes allocated */
};

static void buf_reserve(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;

	if (b->len + more + 1 <= b->cap)
		return;
	while (cap < b->len + more + 1)
		cap *= 2;
	b->data = xreallocarray(b->data, cap, 1);
	b->cap = cap;
}

static void buf_append(struct buf *b, const char *s, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static void buf_pad(struct buf *b, size_t n)
{
	while (n--)
		buf_append(b, " ", 1);
}

static void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){0};
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- talking to the socket ---------------------------------------- */

struct ctl_error {
	bool connecting;                /* failed before a connection existed */
	char reason[256];               /* strerror() text or what went wrong */
};

/* One exchange's raw reply and where its answers lie in it. */
struct ctl_reply {
	struct buf raw;
	size_t start[CTL_ANSWERS_MAX];  /* answer I is raw.data[start[I] .. end[I]) */
	size_t end[CTL_ANSWERS_MAX];    /* the '\n' of the empty line closing it */
	size_t n;                       /* complete answers so far */
	size_t want;                    /* answers expected */
	size_t scan;                    /* next byte to look at for a terminator */
};

/* One connection being used for an exchange. */
struct ctl_conn {
	int fd;
	int64_t deadline_ms;            /* monotonic; the exchange is over by then */
	int timeout_ms;                 /* the budget, for the message */
	struct ctl_error *err;
};

static int ctl_fail(struct ctl_conn *c, const char *reason)
{
	snprintf(c->err->reason, sizeof c->err->reason, "%s", reason);
	return -1;
}

/* A failed call's errno, worded for a user. */
static int ctl_fail_errno(struct ctl_conn *c)
{
	char msg[64];

	if (errno == ETIMEDOUT || errno == EAGAIN || errno == EWOULDBLOCK) {
		snprintf(msg, sizeof msg, "timed out after %d s", c->timeout_ms / 1000);
		return ctl_fail(c, msg);
	}
	if (errno == EINTR)
		return ctl_fail(c, "interrupted");
	return ctl_fail(c, strerror(errno));
}

/* Waits until FD is ready for EVENTS or the deadline passes (errno
 * ETIMEDOUT). A signal is waited through unless it asked watch to stop. */
static int ctl_wait(struct ctl_conn *c, short events)
{
	for (;;) {
		int64_t left = c->deadline_ms - now_ms();
		struct pollfd p = { .fd = c->fd, .events = events };
		int n;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			errno = ETIMEDOUT;
		if (n == 0 || errno != EINTR || ctl_stop_signal)
			return -1;
	}
}

static int ctl_connect(struct ctl_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000 };

	c->err->connecting = true;
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return ctl_fail_errno(c);
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (c->fd < 0)
		return ctl_fail_errno(c);
	/* A daemon whose listen backlog is full makes connect() wait;
	 * SO_SNDTIMEO bounds that wait for unix sockets. */
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
#ifdef SO_NOSIGPIPE
	setsockopt(c->fd, SOL_SOCKET, SO_NOSIGPIPE, &(int){ 1 }, sizeof(int));
#endif
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		if (errno != EINTR || ctl_stop_signal)
			return ctl_fail_errno(c);
	c->err->connecting = false;
	/* From here on every wait goes through poll() and the deadline. */
	return fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0 ? ctl_fail_errno(c) : 0;
}

#ifdef MSG_NOSIGNAL
#define CTL_SEND_FLAGS MSG_NOSIGNAL     /* a closed socket is an error, not a death */
#else
#define CTL_SEND_FLAGS 0                /* SO_NOSIGPIPE does it there */
#endif

static int ctl_send(struct ctl_conn *c, const char *text)
{
	size_t len = strlen(text), off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, text + off, len - off, CTL_SEND_FLAGS);

		if (n >= 0)
			off += (size_t)n;
		else if (errno == EINTR && !ctl_stop_signal)
			continue;
		else if ((errno == EAGAIN || errno == EWOULDBLOCK) && ctl_wait(c, POLLOUT) == 0)
			continue;
		else
			return ctl_fail_errno(c);
	}
	return 0;
}

/* An answer ends with an empty line: a '\n' at the answer's very start
 * or right after another '\n'. Scans only bytes not yet looked at. */
static void reply_scan(struct ctl_reply *r)
{
	const char *d = r->raw.data;

	for (; r->scan < r->raw.len && r->n < r->want; r->scan++) {
		size_t start = r->n ? r->end[r->n - 1] + 1 : 0;

		if (d[r->scan] != '\n' || (r->scan > start && d[r->scan - 1] != '\n'))
			continue;
		r->start[r->n] = start;
		r->end[r->n] = r->scan;
		r->n++;
	}
}

static int ctl_recv(struct ctl_conn *c, struct ctl_reply *r)
{
	while (r->n < r->want) {
		ssize_t n;

		if (r->raw.len > CTL_REPLY_MAX)
			return ctl_fail(c, "answer larger than 64 MiB");
		buf_reserve(&r->raw, 65536);
		n = recv(c->fd, r->raw.data + r->raw.len, r->raw.cap - r->raw.len - 1, 0);
		if (n > 0) {
			r->raw.len += (size_t)n;
			r->raw.data[r->raw.len] = '\0';
			reply_scan(r);
		} else if (n == 0) {
			return ctl_fail(c, "connection closed before the answer ended");
		} else if (errno == EINTR && !ctl_stop_signal) {
			continue;
		} else if ((errno != EAGAIN && errno != EWOULDBLOCK) || ctl_wait(c, POLLIN) < 0) {
			return ctl_fail_errno(c);
		}
	}
	return 0;
}

/* Sends CMDS (WANT command lines) on a fresh connection and collects
 * WANT answers; each is then a NUL-terminated string (reply_answer). */
static int ctl_query(const char *path, const char *cmds, size_t want, int timeout_ms,
		     struct ctl_reply *r, struct ctl_error *err)
{
	struct ctl_conn c = { .fd = -1, .deadline_ms = now_ms() + timeout_ms,
			      .timeout_ms = timeout_ms, .err = err };
	int rc;

	*r = (struct ctl_reply){ .want = want };
	rc = ctl_connect(&c, path);
	if (rc == 0)
		rc = ctl_send(&c, cmds);
	if (rc == 0)
		rc = ctl_recv(&c, r);
	if (c.fd >= 0)
		close(c.fd);
	for (size_t i = 0; rc == 0 && i < r->n; i++)
		r->raw.data[r->end[i]] = '\0';
	return rc;
}

static char *reply_answer(struct ctl_reply *r, size_t i)
{
	return r->raw.data + r->start[i];
}

static void reply_free(struct ctl_reply *r)
{
	buf_free(&r->raw);
}

static bool answer_is_error(const char *a)
{
	return strncmp(a, "error:", 6) == 0;
}

/* ---- parsing answers ---------------------------------------------- */

/* `show info` split in place into key/value pairs. */
struct kv_list {
	char *key[CTL_INFO_MAX];
	char *val[CTL_INFO_MAX];
	size_t n;
};

static void info_parse(char *answer, struct kv_list *kv)
{
	char *cur = answer, *line, *colon;

	kv->n = 0;
	while ((line = line_next(&cur)) && kv->n < CTL_INFO_MAX) {
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon++ = '\0';
		while (*colon == ' ')
			colon++;
		kv->key[kv->n] = line;
		kv->val[kv->n++] = colon;
	}
}

static const char *kv_get(const struct kv_list *kv, const char *key)
{
	for (size_t i = 0; i < kv->n; i++)
		if (strcmp(kv->key[i], key) == 0)
			return kv->val[i];
	return NULL;
}

/* `show stat` columns, in the order SPEC gives them; used when the
 * answer carries no `#` header line. */
static const char *const stat_keys[] = {
	"type", "name", "parent", "status", "cur", "max", "limit", "total",
	"bytes_in", "bytes_out", "denied", "errors", "connect_errors", "retries",
	"health", "weight", "last_change_s",
};

/* `show stat` parsed in place: cells point into the answer. Columns are
 * found by their header name, so added or reordered columns still work. */
struct csv {
	const char **cell;              /* nrows * ncols, row-major; row 0 the header */
	size_t ncols;
	size_t nrows;                   /* header included */
};

/* Splits LINE in place into N fields, missing ones "". RFC 4180 quotes
 * are honoured: a unix: path may hold a comma. */
static void csv_split(char *line, const char **out, size_t n)
{
	char *r = line, *w = line;
	size_t i = 0;

	while (i < n) {
		bool quoted = *r == '"', more;

		out[i++] = w;
		r += quoted;
		while (*r && (quoted || *r != ',')) {
			if (quoted && *r == '"') {
				quoted = r[1] == '"';   /* "" is a quote; " alone ends it */
				if (quoted)
					*w++ = '"';
				r += quoted ? 2 : 1;
			} else {
				*w++ = *r++;
			}
		}
		more = *r == ',';
		*w++ = '\0';
		if (!more)
			break;
		r++;
	}
	while (i < n)
		out[i++] = "";
}

static void csv_parse(char *text, struct csv *t)
{
	size_t lines = count_char(text, '\n') + 1;
	char *cur = text, *line = line_next(&cur);
	bool header = line && line[0] == '#';

	if (header) {
		line += strspn(line, "# ");
		t->ncols = count_char(line, ',') + 1;
	} else {
		t->ncols = ARRAY_LEN(stat_keys);
	}
	t->cell = xreallocarray(NULL, (lines + 1) * t->ncols, sizeof *t->cell);
	if (header)
		csv_split(line, t->cell, t->ncols);
	else
		memcpy(t->cell, stat_keys, sizeof stat_keys);
	t->nrows = 1;
	for (line = header ? line_next(&cur) : line; line; line = line_next(&cur)) {
		if (!*line)
			continue;
		csv_split(line, t->cell + t->nrows * t->ncols, t->ncols);
		t->nrows++;
	}
}

static const char *csv_get(const struct csv *t, size_t row, const char *key)
{
	for (size_t c = 0; c < t->ncols; c++)
		if (strcmp(t->cell[c], key) == 0)
			return t->cell[row * t->ncols + c];
	return "";
}

static void csv_free(struct csv *t)
{
	free(t->cell);
	t->cell = NULL;
}

/* ---- JSON output -------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
	putc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			putc(c, f);
	}
	putc('"', f);
}

/* True when S is already a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)? */
static bool json_is_number(const char *s)
{
	s += *s == '-';
	if (*s == '0')
		s++;
	else if (is_digit(*s))
		while (is_digit(*s))
			s++;
	else
		return false;
	if (*s == '.') {
		if (!is_digit(*++s))
			return false;
		while (is_digit(*s))
			s++;
	}
	return *s == '\0';
}

/* A value as a number when it is one, else as a string. */
static void json_scalar(FILE *f, const char *v, bool quoted)
{
	if (!quoted && json_is_number(v))
		fputs(v, f);
	else
		json_string(f, v);
}

static void info_print_json(char *answer)
{
	struct kv_list kv;

	info_parse(answer, &kv);
	fputs("{", stdout);
	for (size_t i = 0; i < kv.n; i++) {
		fputs(i ? ",\n  " : "\n  ", stdout);
		json_string(stdout, kv.key[i]);
		fputs(": ", stdout);
		json_scalar(stdout, kv.val[i], false);
	}
	fputs(kv.n ? "\n}\n" : "}\n", stdout);
}

/* Cuts a logfmt value at *P in place: bare up to a space, or "quoted"
 * with \" and \\ escapes. */
static char *logfmt_value(char **p, bool *quoted)
{
	char *r = *p, *w = *p, *start = *p;

	*quoted = *r == '"';
	if (!*quoted) {
		r += strcspn(r, " ");
		*p = *r ? r + 1 : r;
		*r = '\0';
		return start;
	}
	for (r++; *r && *r != '"'; *w++ = *r++)
		if (*r == '\\' && r[1])
			r++;
	*p = *r ? r + 1 : r;
	*w = '\0';
	return start;
}

/* One `show conns` line as JSON members; "-" (no server) becomes null. */
static void logfmt_print_json(char *line)
{
	char *p = line;
	bool first = true;

	while (*(p += strspn(p, " "))) {
		char *key = p, *val = NULL;
		bool quoted = false;

		p += strcspn(p, "= ");
		if (*p == '=') {
			*p++ = '\0';
			val = logfmt_value(&p, &quoted);
		} else if (*p) {
			*p++ = '\0';
		}
		fputs(first ? "" : ", ", stdout);
		first = false;
		json_string(stdout, key);
		fputs(": ", stdout);
		if (!val || (!quoted && strcmp(val, "-") == 0))
			fputs("null", stdout);
		else
			json_scalar(stdout, val, quoted);
	}
}

static void conns_print_json(char *answer)
{
	char *cur = answer, *line;
	bool first = true;

	fputs("[", stdout);
	while ((line = line_next(&cur))) {
		if (!*line)
			continue;
		fputs(first ? "\n  {" : ",\n  {", stdout);
		first = false;
		logfmt_print_json(line);
		fputs("}", stdout);
	}
	fputs(first ? "]\n" : "\n]\n", stdout);
}

/* ---- aligned tables ----------------------------------------------- */

struct table {
	const char **cell;              /* nrows * ncols, row 0 the headings */
	size_t nrows;
	size_t ncols;
	const bool *right;              /* per column: align right (numbers) */
	const bool *indent;             /* per row: indent column INDENT_COL, or NULL */
	size_t indent_col;
};

static size_t table_lead(const struct table *t, size_t r, size_t c)
{
	return t->indent && t->indent[r] && c == t->indent_col ? 2 : 0;
}

static void table_render(struct buf *out, const struct table *t)
{
	size_t *width = xreallocarray(NULL, t->ncols, sizeof *width);

	for (size_t c = 0; c < t->ncols; c++) {
		width[c] = 0;
		for (size_t r = 0; r < t->nrows; r++) {
			size_t w = strlen(t->cell[r * t->ncols + c]) + table_lead(t, r, c);

			width[c] = w > width[c] ? w : width[c];
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cell[r * t->ncols + c];
			size_t lead = table_lead(t, r, c), pad = width[c] - strlen(s) - lead;

			buf_pad(out, (c ? 2 : 0) + (t->right[c] ? pad : 0) + lead);
			buf_puts(out, s);
			buf_pad(out, t->right[c] ? 0 : pad);
		}
		while (out->len && out->data[out->len - 1] == ' ')
			out->data[--out->len] = '\0';   /* no trailing blanks */
		buf_puts(out, "\n");
	}
	free(width);
}

/* The `stat` table: heading, `show stat` column, right-aligned. */
static const struct stat_column {
	const char *title;
	const char *key;
	bool numeric;
} stat_columns[] = {
	{ "TYPE", "type", false },           { "NAME", "name", false },
	{ "PARENT", "parent", false },       { "STATUS", "status", false },
	{ "CUR", "cur", true },              { "MAX", "max", true },
	{ "LIMIT", "limit", true },          { "TOTAL", "total", true },
	{ "BYTES_IN", "bytes_in", true },    { "BYTES_OUT", "bytes_out", true },
	{ "DENIED", "denied", true },        { "ERRORS", "errors", true },
	{ "CONN_ERR", "connect_errors", true }, { "RETRIES", "retries", true },
	{ "HEALTH", "health", false },       { "WEIGHT", "weight", true },
	{ "CHANGE", "last_change_s", true },
};

static void stat_print_table(char *answer)
{
	enum { NC = ARRAY_LEN(stat_columns) };
	struct csv t;
	struct buf out = {0};
	bool right[NC];
	const char **cell;
	bool *indent;

	csv_parse(answer, &t);
	cell = xreallocarray(NULL, t.nrows * NC, sizeof *cell);
	indent = xreallocarray(NULL, t.nrows, sizeof *indent);
	for (size_t c = 0; c < NC; c++) {
		cell[c] = stat_columns[c].title;
		right[c] = stat_columns[c].numeric;
	}
	indent[0] = false;
	for (size_t r = 1; r < t.nrows; r++) {
		for (size_t c = 0; c < NC; c++) {
			const char *v = csv_get(&t, r, stat_columns[c].key);

			cell[r * NC + c] = *v ? v : "-";   /* keeps columns for awk */
		}
		indent[r] = strcmp(csv_get(&t, r, "type"), "server") == 0;
	}
	table_render(&out, &(struct table){ cell, t.nrows, NC, right, indent, 1 });
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	free(indent);
	free(cell);
	csv_free(&t);
}

/* ---- command line ------------------------------------------------- */

struct ctl_opts {
	const char *socket;             /* stats socket path */
	bool json;                      /* --json */
	const char *cmd;                /* the command word */
	char **args;                    /* its arguments */
	int nargs;
};

static const char ctl_usage_line[] =
	"usage: netpollctl [-s SOCKET] [--json] COMMAND [ARGS]\n";

static void usage_help(void)
{
	fputs(ctl_usage_line, stdout);
	fputs("commands:\n"
	      "  info                     daemon counters (show info)\n"
	      "  stat                     listeners, backends and servers (show stat)\n"
	      "  conns                    open connections (show conns)\n"
	      "  enable BACKEND/ADDR      put a server back in rotation\n"
	      "  disable BACKEND/ADDR     take a server out (maintenance)\n"
	      "  drain BACKEND/ADDR       no new connections, keep the open ones\n"
	      "  reload                   reload the configuration, print the outcome\n"
	      "  watch                    live view every second; q quits\n"
	      "options:\n"
	      "  -s, --socket SOCKET      stats socket (default " CTL_SOCKET_DEFAULT ")\n"
	      "      --json               JSON output for info, stat and conns\n"
	      "  -h, --help               this help\n"
	      "  -V, --version            print the version\n", stdout);
}

static int usage_error(const char *fmt, const char *arg)
	__attribute__((format(printf, 1, 0)));

static int usage_error(const char *fmt, const char *arg)
{
	fputs("netpollctl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	fputs(ctl_usage_line, stderr);
	return CTL_EXIT_USAGE;
}

enum { OPTS_GO = -1 };                  /* parsed; run the command */

/* One option at ARGV[*I]; returns OPTS_GO or an exit code. */
static int opts_one(int argc, char **argv, int *i, struct ctl_opts *o)
{
	const char *a = argv[*i];

	if (strcmp(a, "--json") == 0) {
		o->json = true;
	} else if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
		if (++*i >= argc)
			return usage_error("%s needs a socket path", a);
		o->socket = argv[*i];
	} else if (strncmp(a, "--socket=", 9) == 0) {
		o->socket = a + 9;
	} else if (strncmp(a, "-s", 2) == 0) {
		o->socket = a + 2;
	} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		usage_help();
		return CTL_EXIT_OK;
	} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
		puts("netpollctl " NETPOLLD_VERSION);
		return CTL_EXIT_OK;
	} else {
		return usage_error("unknown option %s", a);
	}
	return OPTS_GO;
}

/* Options may come before or after the command (`stat --json`). Done by
 * hand because only glibc's getopt reorders argv; positional words are
 * moved to the front of ARGV, which C lets a program modify. */
static int opts_parse(int argc, char **argv, struct ctl_opts *o)
{
	int npos = 0;
	bool only_words = false;

	for (int i = 1; i < argc; i++) {
		int rc;

		if (only_words || argv[i][0] != '-' || argv[i][1] == '\0') {
			argv[npos++] = argv[i];
			continue;
		}
		if (strcmp(argv[i], "--") == 0) {
			only_words = true;
			continue;
		}
		if ((rc = opts_one(argc, argv, &i, o)) != OPTS_GO)
			return rc;
	}
	if (npos == 0)
		return usage_error("%s", "no command given");
	if (!*o->socket)
		return usage_error("%s", "the socket path is empty");
	o->cmd = argv[0];
	o->args = argv + 1;
	o->nargs = npos - 1;
	return OPTS_GO;
}

/* The socket's failure, the way a shell user reads it. */
static void cli_report(const char *path, const struct ctl_error *err)
{
	if (err->connecting)
		fprintf(stderr, "netpollctl: cannot connect to %s: %s\n", path, err->reason);
	else
		fprintf(stderr, "netpollctl: %s: %s\n", path, err->reason);
}

/* One command, one answer. Returns the answer, or NULL with *STATUS set
 * after reporting: a socket failure, or an `error:` answer on stderr. */
static char *cli_ask(const struct ctl_opts *o, const char *cmd, int timeout_ms,
		     struct ctl_reply *r, int *status)
{
	struct ctl_error err = {0};
	char *a;

	if (ctl_query(o->socket, cmd, 1, timeout_ms, r, &err) < 0) {
		cli_report(o->socket, &err);
		*status = CTL_EXIT_IO;
		return NULL;
	}
	a = reply_answer(r, 0);
	if (answer_is_error(a)) {
		fputs(a, stderr);
		*status = CTL_EXIT_ANSWER;
		return NULL;
	}
	*status = CTL_EXIT_OK;
	return a;
}

static int cli_print_answer(const struct ctl_opts *o, const char *cmd, int timeout_ms)
{
	struct ctl_reply r;
	int status;
	char *a = cli_ask(o, cmd, timeout_ms, &r, &status);

	if (a)
		fputs(a, stdout);
	reply_free(&r);
	return status;
}

static int cmd_info(const struct ctl_opts *o)
{
	struct ctl_reply r;
	int status;
	char *a = cli_ask(o, "show info\n", CTL_TIMEOUT_MS, &r, &status);

	if (a && o->json)
		info_print_json(a);
	else if (a)
		fputs(a, stdout);
	reply_free(&r);
	return status;
}

static int cmd_stat(const struct ctl_opts *o)
{
	struct ctl_reply r;
	int status;
	char *a = cli_ask(o, o->json ? "show stat json\n" : "show stat\n", CTL_TIMEOUT_MS,
			  &r, &status);

	if (a && o->json)
		fputs(a, stdout);       /* the daemon's document, unchanged */
	else if (a)
		stat_print_table(a);
	reply_free(&r);
	return status;
}

/* logfmt as the daemon sends it: the same shape as the connection log
 * line, so what works with grep on the log works here. */
static int cmd_conns(const struct ctl_opts *o)
{
	struct ctl_reply r;
	int status;
	char *a = cli_ask(o, "show conns\n", CTL_TIMEOUT_MS, &r, &status);

	if (a && o->json)
		conns_print_json(a);
	else if (a)
		fputs(a, stdout);
	reply_free(&r);
	return status;
}

static int cmd_server(const struct ctl_opts *o)
{
	const char *target = o->args[0], *slash = strchr(target, '/');
	struct buf cmd = {0};
	int status;

	if (!slash || slash == target || !slash[1])
		return usage_error("%s: expected BACKEND/ADDR", target);
	buf_printf(&cmd, "server %s %s\n", o->cmd, target);
	status = cli_print_answer(o, cmd.data, CTL_TIMEOUT_MS);
	buf_free(&cmd);
	return status;
}

static int cmd_reload(const struct ctl_opts *o)
{
	return cli_print_answer(o, "reload\n", CTL_RELOAD_TIMEOUT_MS);
}

/* ---- watch: samples and rates ------------------------------------- */

/* One row's connection count, found again next tick by its key. */
struct watch_row {
	char *key;                      /* "type\nparent\nname" */
	uint64_t total;
	bool has_total;                 /* the answer carried a number */
};

/* What one tick learnt; the next tick's rates are deltas against it. */
struct watch_sample {
	bool valid;                     /* counters parsed; usable as a base */
	int64_t t_ms;                   /* monotonic, when the answer came */
	uint64_t pid;
	uint64_t uptime_s;
	uint64_t conns;                 /* connections_total */
	uint64_t bytes_in;
	uint64_t bytes_out;
	struct watch_row *rows;         /* parallel to the `show stat` rows */
	size_t nrows;
};

static void sample_free(struct watch_sample *s)
{
	for (size_t i = 0; i < s->nrows; i++)
		free(s->rows[i].key);
	free(s->rows);
	*s = (struct watch_sample){0};
}

static char *row_key(const struct csv *t, size_t r)
{
	struct buf b = {0};

	buf_printf(&b, "%s\n%s\n%s", csv_get(t, r, "type"), csv_get(t, r, "parent"),
		   csv_get(t, r, "name"));
	return b.data;
}

static void sample_take(struct watch_sample *s, const struct kv_list *kv,
			const struct csv *t, int64_t t_ms)
{
	s->t_ms = t_ms;
	s->valid = parse_u64(kv_get(kv, "pid"), &s->pid) &&
		   parse_u64(kv_get(kv, "uptime_s"), &s->uptime_s) &&
		   parse_u64(kv_get(kv, "connections_total"), &s->conns) &&
		   parse_u64(kv_get(kv, "bytes_in"), &s->bytes_in) &&
		   parse_u64(kv_get(kv, "bytes_out"), &s->bytes_out);
	s->nrows = t->nrows - 1;
	s->rows = xreallocarray(NULL, s->nrows, sizeof *s->rows);
	for (size_t i = 0; i < s->nrows; i++) {
		s->rows[i].key = row_key(t, i + 1);
		s->rows[i].has_total = parse_u64(csv_get(t, i + 1, "total"), &s->rows[i].total);
	}
}

/* Deltas only mean something within one life of the daemon: a new pid,
 * or a counter or the uptime going back, means it restarted, and the
 * old sample must not produce a negative or huge rate. */
static bool sample_comparable(const struct watch_sample *a, const struct watch_sample *b)
{
	return a->valid && b->valid && a->pid == b->pid && b->t_ms - a->t_ms >= 100 &&
	       b->uptime_s >= a->uptime_s && b->conns >= a->conns &&
	       b->bytes_in >= a->bytes_in && b->bytes_out >= a->bytes_out;
}

/* The same row in PREV: usually at the same index, else searched. */
static const struct watch_row *sample_find(const struct watch_sample *prev, size_t hint,
					   const char *key)
{
	if (hint < prev->nrows && strcmp(prev->rows[hint].key, key) == 0)
		return &prev->rows[hint];
	for (size_t i = 0; i < prev->nrows; i++)
		if (strcmp(prev->rows[i].key, key) == 0)
			return &prev->rows[i];
	return NULL;
}

/* "-" when there is no earlier reading of the same life to compare. */
static void rate_format(char *out, size_t n, bool ok, uint64_t now, uint64_t then, int64_t dt_ms)
{
	if (!ok || now < then || dt_ms <= 0)
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%.1f", (double)(now - then) * 1000.0 / (double)dt_ms);
}

static void bytes_rate_format(char *out, size_t n, bool ok, uint64_t now, uint64_t then,
			      int64_t dt_ms)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double r;
	size_t u = 0;

	if (!ok || now < then || dt_ms <= 0) {
		snprintf(out, n, "-");
		return;
	}
	for (r = (double)(now - then) * 1000.0 / (double)dt_ms; r >= 1024 && u + 1 < ARRAY_LEN(unit); u++)
		r /= 1024;
	snprintf(out, n, u ? "%.1f %s/s" : "%.0f %s/s", r, unit[u]);
}

/* ---- watch: the frame --------------------------------------------- */

struct watch {
	const char *socket;
	bool tty_in;                    /* stdin is a terminal: read q from it */
	bool tty_out;                   /* stdout is a terminal: redraw in place */
	struct watch_sample prev;       /* the last good tick, or !valid */
	struct buf frame;               /* the last frame's text, kept for SIGWINCH */
	struct buf screen;              /* what is written to the terminal */
};

static void watch_title(struct watch *w)
{
	char clock[32];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(clock, sizeof clock, "%Y-%m-%d %H:%M:%S", &tm);
	buf_printf(&w->frame, "netpollctl watch  %s  %s%s\n", w->socket, clock,
		   w->tty_in ? "  (q quits)" : "");
}

static const char *or_unknown(const char *v)
{
	return v ? v : "?";
}

static void uptime_format(char *out, size_t n, const char *v)
{
	uint64_t s;

	if (!parse_u64(v, &s))
		snprintf(out, n, "%s", or_unknown(v));
	else if (s >= 86400)
		snprintf(out, n, "%llud %02u:%02u:%02u", (unsigned long long)(s / 86400),
			 (unsigned)(s % 86400 / 3600), (unsigned)(s % 3600 / 60), (unsigned)(s % 60));
	else
		snprintf(out, n, "%02u:%02u:%02u", (unsigned)(s / 3600), (unsigned)(s % 3600 / 60),
			 (unsigned)(s % 60));
}

static void watch_summary(struct watch *w, const struct kv_list *kv,
			  const struct watch_sample *cur, bool ok)
{
	const struct watch_sample *p = &w->prev;
	int64_t dt = cur->t_ms - p->t_ms;
	char up[48], cps[32], bin[32], bout[32];

	uptime_format(up, sizeof up, kv_get(kv, "uptime_s"));
	rate_format(cps, sizeof cps, ok, cur->conns, p->conns, dt);
	bytes_rate_format(bin, sizeof bin, ok, cur->bytes_in, p->bytes_in, dt);
	bytes_rate_format(bout, sizeof bout, ok, cur->bytes_out, p->bytes_out, dt);
	buf_printf(&w->frame, "netpolld %s  pid %s  uptime %s  generation %s  last reload: %s\n",
		   or_unknown(kv_get(kv, "version")), or_unknown(kv_get(kv, "pid")), up,
		   or_unknown(kv_get(kv, "generation")), or_unknown(kv_get(kv, "last_reload")));
	buf_printf(&w->frame, "conn/s %s  in %s  out %s  current %s  accept_paused %s"
		   "  log_dropped %s\n\n", cps, bin, bout,
		   or_unknown(kv_get(kv, "connections_current")),
		   or_unknown(kv_get(kv, "accept_paused")), or_unknown(kv_get(kv, "log_dropped")));
}

/* Listeners, backends and, indented under theirs, servers. */
static void watch_table(struct watch *w, const struct csv *t, const struct watch_sample *cur,
			bool ok)
{
	static const char *const head[] = { "NAME", "TYPE", "STATUS", "CUR", "TOTAL", "CONN/S", "HEALTH" };
	static const bool right[] = { false, false, false, true, true, true, false };
	enum { NC = ARRAY_LEN(head) };
	const char **cell = xreallocarray(NULL, t->nrows * NC, sizeof *cell);
	bool *indent = xreallocarray(NULL, t->nrows, sizeof *indent);
	char (*rate)[32] = xreallocarray(NULL, t->nrows, sizeof *rate);

	memcpy(cell, head, sizeof head);
	indent[0] = false;
	for (size_t r = 1; r < t->nrows; r++) {
		const struct watch_row *now = &cur->rows[r - 1];
		const struct watch_row *then = ok ? sample_find(&w->prev, r - 1, now->key) : NULL;
		bool server = strcmp(csv_get(t, r, "type"), "server") == 0;
		const char **row = cell + r * NC;

		rate_format(rate[r], sizeof rate[r], then && then->has_total && now->has_total,
			    now->total, then ? then->total : 0, cur->t_ms - w->prev.t_ms);
		row[0] = csv_get(t, r, "name");
		row[1] = csv_get(t, r, "type");
		row[2] = csv_get(t, r, "status");
		row[3] = csv_get(t, r, "cur");
		row[4] = csv_get(t, r, "total");
		row[5] = rate[r];
		row[6] = server ? csv_get(t, r, "health") : "";
		indent[r] = server;
	}
	table_render(&w->frame, &(struct table){ cell, t->nrows, NC, right, indent, 0 });
	free(rate);
	free(indent);
	free(cell);
}

static void watch_frame_up(struct watch *w, char *info, char *stat, int64_t t_ms)
{
	struct kv_list kv;
	struct csv t;
	struct watch_sample cur = {0};
	bool ok;

	info_parse(info, &kv);
	csv_parse(stat, &t);
	sample_take(&cur, &kv, &t, t_ms);
	ok = sample_comparable(&w->prev, &cur);
	watch_summary(w, &kv, &cur, ok);
	watch_table(w, &t, &cur, ok);
	sample_free(&w->prev);
	w->prev = cur;
	csv_free(&t);
}

/* The daemon is away (or answered an error): say so, and forget the last
 * sample so that rates start afresh when it is back. */
static void watch_frame_down(struct watch *w, const char *reason)
{
	buf_printf(&w->frame, "netpolld not reachable at %s: %.*s; retrying\n", w->socket,
		   (int)strcspn(reason, "\n"), reason);
	sample_free(&w->prev);
}

static void watch_compose(struct watch *w)
{
	struct ctl_reply r;
	struct ctl_error err = {0};
	int rc = ctl_query(w->socket, "show info\nshow stat\n", 2, CTL_WATCH_TIMEOUT_MS, &r, &err);
	int64_t t_ms = now_ms();

	w->frame.len = 0;
	watch_title(w);
	if (rc < 0)
		watch_frame_down(w, err.reason);
	else if (answer_is_error(reply_answer(&r, 0)))
		watch_frame_down(w, reply_answer(&r, 0));
	else if (answer_is_error(reply_answer(&r, 1)))
		watch_frame_down(w, reply_answer(&r, 1));
	else
		watch_frame_up(w, reply_answer(&r, 0), reply_answer(&r, 1), t_ms);
	reply_free(&r);
}

/* ---- watch: the terminal ------------------------------------------ */

static struct termios watch_saved_tio;  /* stdin's mode before watch */
static bool watch_tio_changed;          /* it must be put back */
static bool watch_screen_on;            /* alternate screen on, cursor hidden */
static volatile sig_atomic_t watch_winch;       /* the terminal was resized */
static volatile sig_atomic_t watch_tstp;        /* Ctrl-Z: suspend */

/* Idempotent, and registered with atexit(), so every way out of watch —
 * q, a signal, an error, die_nomem() — leaves the terminal as it was. */
static void watch_term_restore(void)
{
	static const char leave[] = "\033[?25h\033[?1049l";

	if (watch_screen_on)
		write_all(STDOUT_FILENO, leave, sizeof leave - 1);    /* best effort */
	watch_screen_on = false;
	if (watch_tio_changed)
		tcsetattr(STDIN_FILENO, TCSANOW, &watch_saved_tio);
	watch_tio_changed = false;
}

/* Keys arrive one by one without echo (q needs no Enter); ISIG stays on
 * so Ctrl-C and Ctrl-Z still become signals. */
static void watch_term_enter(struct watch *w)
{
	static const char enter[] = "\033[?1049h\033[?25l";
	struct termios raw;

	if (w->tty_in && tcgetattr(STDIN_FILENO, &watch_saved_tio) == 0) {
		raw = watch_saved_tio;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		watch_tio_changed = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	w->tty_in = watch_tio_changed;
	if (w->tty_out) {
		watch_screen_on = true;
		write_all(STDOUT_FILENO, enter, sizeof enter - 1);
	}
}

static void watch_on_signal(int sig)
{
	if (sig == SIGWINCH)
		watch_winch = 1;
	else if (sig == SIGTSTP)
		watch_tstp = 1;
	else
		ctl_stop_signal = sig;
}

/* No SA_RESTART: a signal must cut poll() short so watch reacts at once. */
static void watch_signals_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGTSTP };
	struct sigaction sa = { .sa_handler = watch_on_signal };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	/* A closed pipe on stdout is an error to handle, not a death that
	 * would leave stdin's terminal raw. */
	signal(SIGPIPE, SIG_IGN);
}

static void window_size(size_t *cols, size_t *rows)
{
	struct winsize ws;

	*cols = 80;
	*rows = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

/* Clear, home, and no more lines or columns than fit, so the alternate
 * screen never scrolls; the last line says what did not fit. */
static void screen_fit(struct buf *s, const char *frame)
{
	size_t cols, rows, total = count_char(frame, '\n'), shown = 0;
	const char *p = frame;

	window_size(&cols, &rows);
	buf_puts(s, "\033[H\033[2J");
	for (; *p && shown < rows; shown++) {
		size_t len = strcspn(p, "\n");

		buf_puts(s, shown ? "\n" : "");
		if (shown + 1 == rows && total > rows) {
			buf_printf(s, "(%zu more lines)", total - shown);
			break;
		}
		buf_append(s, p, len < cols ? len : cols);
		p += len + (p[len] == '\n');
	}
}

/* Without a terminal, frames simply follow each other, an empty line
 * between them. */
static int watch_show(struct watch *w)
{
	w->screen.len = 0;
	if (w->tty_out) {
		screen_fit(&w->screen, w->frame.data);
	} else {
		buf_append(&w->screen, w->frame.data, w->frame.len);
		buf_puts(&w->screen, "\n");
	}
	return write_all(STDOUT_FILENO, w->screen.data, w->screen.len);
}

/* Ctrl-Z: hand the terminal back as it was, stop, take it again on
 * SIGCONT and redraw. */
static int watch_suspend(struct watch *w)
{
	watch_tstp = 0;
	watch_term_restore();
	signal(SIGTSTP, SIG_DFL);
	raise(SIGTSTP);
	watch_signals_install();
	w->tty_in = isatty(STDIN_FILENO);
	watch_term_enter(w);
	return watch_show(w);
}

/* Sleeps until DEADLINE_MS or a key or signal comes. Returns 1 when q
 * was pressed, 0 otherwise. */
static int watch_wait(struct watch *w, int64_t deadline_ms)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	int64_t left = deadline_ms - now_ms();
	char keys[64];
	ssize_t n;

	if (poll(&p, w->tty_in ? 1 : 0, left > 0 ? (int)left : 0) <= 0)
		return 0;
	n = read(STDIN_FILENO, keys, sizeof keys);
	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
		w->tty_in = false;      /* the terminal went away; signals still work */
	return n > 0 && (memchr(keys, 'q', (size_t)n) || memchr(keys, 'Q', (size_t)n));
}

/* Ticks on a fixed schedule, so a slow answer does not shift the rest. */
static int watch_loop(struct watch *w)
{
	int64_t next = now_ms();

	while (!ctl_stop_signal) {
		if (now_ms() >= next) {
			watch_compose(w);
			if (ctl_stop_signal)
				break;
			if (watch_show(w) < 0)
				return -1;
			next += WATCH_PERIOD_MS;
			if (next < now_ms())
				next = now_ms() + WATCH_PERIOD_MS;
		}
		if (watch_wait(w, next) == 1)
			break;
		if (watch_tstp && watch_suspend(w) < 0)
			return -1;
		if (watch_winch) {
			watch_winch = 0;
			if (watch_show(w) < 0)
				return -1;
		}
	}
	return 0;
}

static int cmd_watch(const struct ctl_opts *o)
{
	struct watch w = { .socket = o->socket, .tty_in = isatty(STDIN_FILENO),
			   .tty_out = isatty(STDOUT_FILENO) };
	int rc, saved_errno;

	watch_signals_install();
	atexit(watch_term_restore);
	watch_term_enter(&w);
	rc = watch_loop(&w);
	saved_errno = errno;
	watch_term_restore();
	sample_free(&w.prev);
	buf_free(&w.frame);
	buf_free(&w.screen);
	/* A write failing because a signal hung the terminal up is a stop. */
	if (rc < 0 && !ctl_stop_signal) {
		fprintf(stderr, "netpollctl: writing the screen: %s\n", strerror(saved_errno));
		return CTL_EXIT_IO;
	}
	return CTL_EXIT_OK;
}

/* ---- main ------------------------------------------------------------ */

static const struct ctl_command {
	const char *name;
	int nargs;                      /* arguments it takes */
	int (*run)(const struct ctl_opts *o);
} ctl_commands[] = {
	{ "info", 0, cmd_info },        { "stat", 0, cmd_stat },
	{ "conns", 0, cmd_conns },      { "enable", 1, cmd_server },
	{ "disable", 1, cmd_server },   { "drain", 1, cmd_server },
	{ "reload", 0, cmd_reload },    { "watch", 0, cmd_watch },
};

/* A newline in an argument would smuggle a second command onto the line. */
static bool args_safe(const struct ctl_opts *o)
{
	for (int i = 0; i < o->nargs; i++)
		for (const char *p = o->args[i]; *p; p++)
			if ((unsigned char)*p < 0x20)
				return false;
	return true;
}

int main(int argc, char **argv)
{
	struct ctl_opts o = { .socket = CTL_SOCKET_DEFAULT };
	int rc = opts_parse(argc, argv, &o);

	if (rc != OPTS_GO)
		return rc;
	for (size_t i = 0; i < ARRAY_LEN(ctl_commands); i++) {
		const struct ctl_command *c = &ctl_commands[i];

		if (strcmp(o.cmd, c->name) != 0)
			continue;
		if (o.nargs != c->nargs)
			return usage_error(c->nargs ? "%s takes one argument: BACKEND/ADDR"
					   : "%s takes no argument", c->name);
		if (!args_safe(&o))
			return usage_error("%s: control characters in the argument", c->name);
		rc = c->run(&o);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "netpollctl: writing the output: %s\n", strerror(errno));
			return CTL_EXIT_IO;
		}
		return rc;
	}
	return usage_error("unknown command %s", o.cmd);
}
