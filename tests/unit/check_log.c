/* check_log.c — logging never blocks on a stalled reader: lines queue,
 * overflow is dropped whole and counted, one warning reports the loss once
 * the reader catches up, and stderr's shared flags stay untouched. Each
 * test points fd 2 at a pipe, socket or file of its own. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "log.h"

/* Enough to overflow the queue many times over. */
#define MANY_LINES 20000
/* Bound on drain rounds, so a broken flush fails instead of hanging. */
#define DRAIN_ROUNDS 10000

static int saved_stderr = -1;
/* Everything read back from the reader's end. */
static char got[4 * 1024 * 1024];
static const char pad[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

static void setup(void)
{
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	unsetenv("JOURNAL_STREAM");
	/* As in the daemon: a vanished reader is EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_LEVEL_INFO);
}

static void teardown(void)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	unsetenv("JOURNAL_STREAM");
	log_init();
	log_set_immediate(true);
}

/* Makes FD our stderr and lets log_init() look at it afresh. */
static void use_as_stderr(int fd, bool journal)
{
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	if (journal) {
		struct stat st;
		char js[64];
		ck_assert_int_eq(fstat(fd, &st), 0);
		snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
		setenv("JOURNAL_STREAM", js, 1);
	}
	log_init();
}

/* A pipe whose read end (ends[0]) never blocks the test. */
static void make_pipe(int ends[2])
{
	ck_assert_int_eq(pipe2(ends, O_CLOEXEC), 0);
	ck_assert_int_eq(fcntl(ends[0], F_SETFL, O_NONBLOCK), 0);
}

static void make_socketpair(int ends[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
	ck_assert_int_eq(fcntl(ends[0], F_SETFL, O_NONBLOCK), 0);
}

static ssize_t fill_write(int fd, bool sock, const char *buf, size_t n)
{
	return sock ? send(fd, buf, n, MSG_DONTWAIT) : write(fd, buf, n);
}

/* Fills the object behind FD with 'F' until it would block; returns the
 * byte count. A pipe is written through a description of our own, since
 * O_NONBLOCK on FD would also land on fd 2 (dup2 shares it). */
static size_t fill(int fd, bool sock)
{
	static char chunk[4096];
	size_t total = 0;
	int wfd = fd;
	ssize_t w;

	memset(chunk, 'F', sizeof(chunk));
	if (!sock) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		wfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		ck_assert_int_ge(wfd, 0);
	}
	while ((w = fill_write(wfd, sock, chunk, sizeof(chunk))) > 0)
		total += (size_t)w;
	while ((w = fill_write(wfd, sock, chunk, 1)) > 0)
		total += (size_t)w;
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	if (!sock)
		close(wfd);
	return total;
}

/* Appends whatever is readable on RFD to got[] at *LEN. */
static void read_available(int rfd, size_t *len)
{
	ssize_t r;

	while ((r = read(rfd, got + *len, sizeof(got) - *len)) > 0)
		*len += (size_t)r;
	ck_assert(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/* The reader catches up: read, flush, until nothing is queued. */
static size_t drain_all(int rfd, size_t len)
{
	for (int i = 0; i < DRAIN_ROUNDS; i++) {
		log_flush();
		read_available(rfd, &len);
		if (!log_pending())
			return len;
	}
	ck_abort_msg("log queue never drained");
	return len;
}

/* Checks one line's prefix ("<N>" or "TIMESTAMP level ") and returns the
 * message after it. */
static const char *line_msg(const char *line, bool journal, const char *level, int prio)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
	char want[16];

	if (journal) {
		snprintf(want, sizeof(want), "<%d>", prio);
		ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "bad prefix: %.40s", line);
		return line + strlen(want);
	}
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		bool ok = shape[i] == 'd' ? line[i] >= '0' && line[i] <= '9' : line[i] == shape[i];
		ck_assert_msg(ok, "bad timestamp: %.40s", line);
	}
	line += sizeof(shape) - 1;
	ck_assert_msg(strncmp(line, level, strlen(level)) == 0 && line[strlen(level)] == ' ',
		      "bad level: %.40s", line);
	return line + strlen(level) + 1;
}

/* Splits got[*pos..len) at the next newline; NULL at the end. A trailing
 * piece without its newline would be a partial line: that fails. */
static char *next_line(size_t *pos, size_t len)
{
	char *start = got + *pos, *nl;

	if (*pos >= len)
		return NULL;
	nl = memchr(start, '\n', len - *pos);
	ck_assert_msg(nl != NULL, "partial line: %.60s", start);
	*nl = '\0';
	*pos = (size_t)(nl - got) + 1;
	return start;
}

static void assert_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	ck_assert_int_ge(fl, 0);
	ck_assert_msg((fl & O_NONBLOCK) == 0, "fd %d was made non-blocking", fd);
}

START_TEST(test_lines_arrive_in_order_with_plain_format)
{
	int p[2];
	size_t len = 0, pos = 0;

	make_pipe(p);
	use_as_stderr(p[1], false);
	ck_assert_int_gt(log_fd(), STDERR_FILENO);
	log_set_immediate(true);
	log_info("first %d", 1);
	read_available(p[0], &len);
	ck_assert_str_eq(line_msg(next_line(&pos, len), false, "info", 6), "first 1");

	log_set_immediate(false);
	log_info("second");
	log_debug("hidden at info level");
	log_warnx("third");
	log_conn("conn=1 end=client_close");
	read_available(p[0], &len);
	ck_assert_uint_eq(len, pos);   /* batched: nothing written yet */
	ck_assert(log_pending());
	log_flush();
	ck_assert(!log_pending());
	read_available(p[0], &len);
	ck_assert_str_eq(line_msg(next_line(&pos, len), false, "info", 6), "second");
	ck_assert_str_eq(line_msg(next_line(&pos, len), false, "warn", 4), "third");
	ck_assert_str_eq(line_msg(next_line(&pos, len), false, "info", 6),
			 "conn=1 end=client_close");
	ck_assert_ptr_null(next_line(&pos, len));
	assert_blocking(STDERR_FILENO);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* Loop index: bit 0 = socket (the journal) instead of a pipe, bit 1 =
 * batched (immediate off) instead of immediate. */
START_TEST(test_stalled_reader_drops_then_reports_once)
{
	bool sock = _i & 1, batched = _i & 2;
	uint64_t dropped0 = log_dropped(), dropped;
	size_t filled, len = 0, pos, kept_end, k = 0;
	char want[160], *line;
	int p[2];

	if (sock)
		make_socketpair(p);
	else
		make_pipe(p);
	use_as_stderr(p[1], sock);
	ck_assert_int_eq(log_fd() == STDERR_FILENO, sock);   /* send(2) on fd 2 */
	ck_assert_int_ge(log_fd(), 0);
	log_set_immediate(!batched);
	filled = fill(p[1], sock);

	/* Would hang (and time out) if a call blocked on the full reader. */
	for (int i = 0; i < MANY_LINES; i++)
		log_info("line %05d %s", i, pad);
	dropped = log_dropped() - dropped0;
	ck_assert_uint_gt(dropped, 0);
	ck_assert(log_pending());
	assert_blocking(STDERR_FILENO);

	len = drain_all(p[0], 0);
	ck_assert_uint_ge(len, filled);
	for (pos = 0; pos < filled; pos++)
		ck_assert_int_eq(got[pos], 'F');
	/* Lines kept are the first ones, whole, in order, within the bound. */
	for (kept_end = pos; (line = next_line(&pos, len)) != NULL; kept_end = pos) {
		if (strstr(line, "dropped") != NULL)
			break;
		snprintf(want, sizeof(want), "line %05zu %s", k, pad);
		ck_assert_str_eq(line_msg(line, sock, "info", 6), want);
		k++;
	}
	ck_assert_uint_gt(k, 0);
	ck_assert_uint_le(kept_end - filled, LOG_QUEUE_SIZE);
	ck_assert_uint_eq(k + dropped, MANY_LINES);
	ck_assert_ptr_nonnull(line);
	snprintf(want, sizeof(want), "log: %" PRIu64 " lines dropped: the log reader was too slow",
		 dropped);
	ck_assert_str_eq(line_msg(line, sock, "warn", 4), want);
	ck_assert_ptr_null(next_line(&pos, len));

	/* Later lines resume, and the loss is not reported twice. */
	log_info("after");
	len = drain_all(p[0], len);
	ck_assert_str_eq(line_msg(next_line(&pos, len), sock, "info", 6), "after");
	ck_assert_ptr_null(next_line(&pos, len));
	ck_assert_uint_eq(log_dropped() - dropped0, dropped);
	assert_blocking(STDERR_FILENO);
	assert_blocking(p[1]);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_regular_file_is_written_directly)
{
	char path[] = "/tmp/check_log.XXXXXX", buf[256];
	int tmp = mkstemp(path), fd;
	ssize_t n;

	ck_assert_int_ge(tmp, 0);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	use_as_stderr(fd, false);
	ck_assert_int_eq(log_fd(), -1);   /* nothing to wait for */
	log_set_immediate(true);
	log_info("one");
	n = pread(tmp, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, " info one\n"));

	log_set_immediate(false);
	log_info("two");
	ck_assert(log_pending());
	ck_assert_int_eq(pread(tmp, buf, sizeof(buf) - 1, 0), n);
	log_flush();
	ck_assert(!log_pending());
	n = pread(tmp, buf, sizeof(buf) - 1, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, " info one\n"));
	ck_assert_ptr_nonnull(strstr(buf, " info two\n"));
	ck_assert_int_ne(fcntl(STDERR_FILENO, F_GETFL) & O_APPEND, 0);
	assert_blocking(STDERR_FILENO);
	close(fd);
	close(tmp);
}
END_TEST

START_TEST(test_errno_is_preserved)
{
	char want[128];
	size_t len = 0, pos = 0, filled;
	int p[2];

	make_pipe(p);
	errno = EMFILE;
	use_as_stderr(p[1], false);
	ck_assert_int_eq(errno, EMFILE);
	log_set_immediate(true);
	ck_assert_int_eq(errno, EMFILE);
	log_warn("open %s", "x");
	ck_assert_int_eq(errno, EMFILE);
	log_info("plain");
	log_conn("conn=2");
	log_error("err");
	ck_assert_int_eq(errno, EMFILE);
	read_available(p[0], &len);
	snprintf(want, sizeof(want), "open x: %s", strerror(EMFILE));
	ck_assert_str_eq(line_msg(next_line(&pos, len), false, "warn", 4), want);

	/* Inside, writes now fail with EAGAIN; callers must not see it. */
	filled = fill(p[1], false);
	ck_assert_uint_gt(filled, 0);
	errno = ECONNRESET;
	log_info("into a full pipe");
	ck_assert_int_eq(errno, ECONNRESET);
	log_set_immediate(false);
	log_info("queued");
	log_flush();
	ck_assert_int_eq(errno, ECONNRESET);
	log_flush_blocking(10);
	ck_assert_int_eq(errno, ECONNRESET);
	(void)log_pending();
	(void)log_fd();
	(void)log_dropped();
	ck_assert_int_eq(errno, ECONNRESET);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_vanished_reader_discards_without_spinning)
{
	uint64_t dropped0 = log_dropped();
	int p[2];

	make_pipe(p);
	use_as_stderr(p[1], false);
	close(p[0]);
	log_set_immediate(true);
	for (int i = 0; i < MANY_LINES; i++)
		log_info("nobody reads %d", i);
	ck_assert(!log_pending());
	log_set_immediate(false);
	log_info("batched");
	ck_assert(log_pending());
	log_flush();
	ck_assert(!log_pending());
	log_flush_blocking(10000);   /* returns at once: nothing left */
	ck_assert_uint_eq(log_dropped(), dropped0);
	close(p[1]);
}
END_TEST

START_TEST(test_flush_blocking_waits_for_a_slow_reader)
{
	int p[2], res[2], status;
	long count = -1;
	pid_t pid;

	make_pipe(p);
	ck_assert_int_eq(pipe2(res, O_CLOEXEC), 0);
	use_as_stderr(p[1], false);
	fill(p[1], false);
	log_set_immediate(false);
	for (int i = 0; i < 10; i++)
		log_info("exit line %d", i);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char buf[4096];
		long lines = 0;
		ssize_t r;
		/* Hold no writer, or our own EOF would never come. */
		close(log_fd());
		close(p[1]);
		dup2(saved_stderr, STDERR_FILENO);
		fcntl(p[0], F_SETFL, 0);
		usleep(100 * 1000);   /* the reader is late, not gone */
		while ((r = read(p[0], buf, sizeof(buf))) > 0)
			for (ssize_t i = 0; i < r; i++)
				lines += buf[i] == '\n';
		_exit(write(res[1], &lines, sizeof(lines)) == sizeof(lines) ? 0 : 1);
	}
	close(p[0]);
	close(res[1]);
	log_flush_blocking(30000);
	ck_assert(!log_pending());
	/* Closing every writer (our own description too) lets the child end. */
	dup2(saved_stderr, STDERR_FILENO);
	log_init();
	close(p[1]);
	ck_assert_int_eq(read(res[0], &count, sizeof(count)), sizeof(count));
	ck_assert_int_eq(count, 10);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(res[0]);
}
END_TEST

START_TEST(test_flush_blocking_gives_up_on_a_stuck_reader)
{
	int p[2];

	make_pipe(p);
	use_as_stderr(p[1], false);
	fill(p[1], false);
	log_set_immediate(false);
	log_info("stuck");
	log_flush_blocking(50);
	ck_assert(log_pending());
	close(p[0]);
	close(p[1]);
}
END_TEST

/* The pipe's reader sees EOF only when no writer is left, so EOF after
 * closing ours proves log_init() closed the description it had opened. */
START_TEST(test_reinit_closes_its_own_descriptor)
{
	char path[] = "/tmp/check_log.XXXXXX", c;
	int p[2], tmp = mkstemp(path);

	ck_assert_int_ge(tmp, 0);
	unlink(path);
	make_pipe(p);
	use_as_stderr(p[1], false);
	ck_assert_int_ge(log_fd(), 0);
	use_as_stderr(tmp, false);
	ck_assert_int_eq(log_fd(), -1);
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 0);
	close(p[0]);
	close(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("queue");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lines_arrive_in_order_with_plain_format);
	tcase_add_loop_test(tc, test_stalled_reader_drops_then_reports_once, 0, 4);
	tcase_add_test(tc, test_regular_file_is_written_directly);
	tcase_add_test(tc, test_errno_is_preserved);
	tcase_add_test(tc, test_vanished_reader_discards_without_spinning);
	tcase_add_test(tc, test_flush_blocking_waits_for_a_slow_reader);
	tcase_add_test(tc, test_flush_blocking_gives_up_on_a_stuck_reader);
	tcase_add_test(tc, test_reinit_closes_its_own_descriptor);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return check_run(s);
}
