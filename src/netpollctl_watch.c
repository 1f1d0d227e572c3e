/* netpollctl_watch.c — `netpollctl watch`: each tick asks `show info`
 * and `show stat` in one exchange, turns them into a frame (rates are
 * deltas against the last tick of the same daemon life), and shows it
 * on the alternate screen, or as plain frames when stdout is no terminal. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE                     /* localtime_r, SIGWINCH under -std=c11 */
#endif
#include "netpollctl_watch.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "netpollctl_fmt.h"
#include "netpollctl_io.h"
#include "netpollctl_util.h"

/* watch must stay responsive to q and signals while the daemon is stuck. */
#define CTL_WATCH_TIMEOUT_MS 2000
#define WATCH_PERIOD_MS      1000

/* ---- watch: samples and rates ------------------------------------- */

/* One row's connection count, found again next tick by its key. */
struct watch_row {
	char *key;                      /* "type\nparent\nname" */
	uint64_t total;                 /* its `total` column */
	bool has_total;                 /* the answer carried a number */
};

/* What one tick learnt; the next tick's rates are deltas against it. */
struct watch_sample {
	bool valid;                     /* counters parsed; usable as a base */
	int64_t t_ms;                   /* monotonic, when the answer came */
	uint64_t pid;                   /* the daemon's, to notice a restart */
	uint64_t uptime_s;              /* going back means a restart too */
	uint64_t conns;                 /* connections_total */
	uint64_t bytes_in;              /* `show info` bytes_in */
	uint64_t bytes_out;             /* `show info` bytes_out */
	struct watch_row *rows;         /* parallel to the `show stat` rows */
	size_t nrows;                   /* rows held, the header not counted */
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
	const char *socket;             /* stats socket path */
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

int watch_run(const char *socket)
{
	struct watch w = { .socket = socket, .tty_in = isatty(STDIN_FILENO),
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
		errno = saved_errno;
		return -1;
	}
	return 0;
}
