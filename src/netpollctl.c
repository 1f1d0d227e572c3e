/* netpollctl.c — the client of netpolld's stats socket (SPEC "Stats
 * socket"): one-shot commands that print an answer, and `watch`, a
 * top(1)-like view redrawn every second. It links nothing from the
 * daemon and needs only libc, so it can be copied to any host that can
 * reach the socket. This file holds main, the options and the one-shot
 * commands; the exchange is netpollctl_io.c, the output formats
 * netpollctl_fmt.c, the live view netpollctl_watch.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "netpollctl_fmt.h"
#include "netpollctl_io.h"
#include "netpollctl_util.h"
#include "netpollctl_watch.h"

#ifndef NETPOLLD_VERSION
#define NETPOLLD_VERSION "unknown"
#endif

#define CTL_SOCKET_DEFAULT   "/run/netpolld/stats.sock"
/* The whole exchange, connect to last byte. A reload parses the file and
 * resolves host names before it answers, so it gets longer. */
#define CTL_TIMEOUT_MS       5000
#define CTL_RELOAD_TIMEOUT_MS 30000

/* ---- command line ------------------------------------------------- */

struct ctl_opts {
	const char *socket;             /* stats socket path */
	bool json;                      /* --json */
	const char *cmd;                /* the command word */
	char **args;                    /* its arguments */
	int nargs;                      /* how many */
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

/* watch restores the terminal itself; what is left is the exit code. */
static int cmd_watch(const struct ctl_opts *o)
{
	if (watch_run(o->socket) < 0) {
		fprintf(stderr, "netpollctl: writing the screen: %s\n", strerror(errno));
		return CTL_EXIT_IO;
	}
	return CTL_EXIT_OK;
}

/* ---- main ------------------------------------------------------------ */

static const struct ctl_command {
	const char *name;               /* the command word */
	int nargs;                      /* arguments it takes */
	int (*run)(const struct ctl_opts *o);   /* returns the exit code */
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
