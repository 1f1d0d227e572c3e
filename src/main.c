/* main.c — netpolld: command line, configuration, signals, the loop.
 * It stays in the foreground; a supervisor (systemd, a terminal, a
 * container runtime) owns its life. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "config_libconfig.h"
#include "daemon.h"
#include "log.h"
#include "reactor.h"
#include "session.h"

/* At exit, a slow log reader gets this long to take the last lines. */
#define MAIN_LOG_EXIT_MS 2000

enum main_exit {
	EXIT_OK = 0,
	EXIT_CONFIG = 1,        /* the configuration is invalid */
	EXIT_USAGE = 2,         /* the command line is */
	EXIT_STARTUP = 3,       /* a listener or resource could not be had */
};

struct main_options {
	const char *config_path;        /* -c */
	bool test_only;                 /* -t */
	bool level_given;               /* -l overrides the file */
	enum log_level level;
};

static void main_usage(FILE *f)
{
	fprintf(f,
		"usage: netpolld [-c FILE] [-t] [-l LEVEL] [-V] [-h]\n"
		"  -c, --config FILE      configuration file (default %s)\n"
		"                         .yaml/.yml: YAML, anything else: libconfig\n"
		"  -t, --test             check the configuration and exit\n"
		"  -l, --log-level LEVEL  error, warn, info or debug; overrides the file\n"
		"  -V, --version          print the version and exit\n"
		"  -h, --help             print this help and exit\n",
		NETPOLLD_CONFIG_DEFAULT);
}

/* Returns -1 to continue, or the exit code to leave with. */
static int main_parse_args(int argc, char **argv, struct main_options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->config_path = NETPOLLD_CONFIG_DEFAULT;
	while ((c = getopt_long(argc, argv, "c:tl:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config_path = optarg;
			break;
		case 't':
			o->test_only = true;
			break;
		case 'l':
			if (log_level_parse(optarg, &o->level) < 0) {
				fprintf(stderr, "netpolld: unknown log level '%s' "
					"(use error, warn, info or debug)\n", optarg);
				return EXIT_USAGE;
			}
			o->level_given = true;
			break;
		case 'V':
			printf("netpolld %s (%s)\n", NETPOLLD_VERSION, reactor_backend());
			return EXIT_OK;
		case 'h':
			main_usage(stdout);
			return EXIT_OK;
		default:
			main_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netpolld: unexpected argument '%s'\n", argv[optind]);
		main_usage(stderr);
		return EXIT_USAGE;
	}
	return -1;
}

static struct config *main_load_config(const struct main_options *o)
{
	struct config_errors errs = { 0 };
	struct config *cfg = config_load(o->config_path, &errs);

	for (size_t i = 0; i < errs.count; i++) {
		if (o->test_only)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		else
			log_errorx("%s", errs.msgs[i]);
	}
	config_errors_free(&errs);
	return cfg;
}

static void main_on_stop(struct reactor *r, int signo, void *arg)
{
	struct daemon *d = arg;
	const char *name = signo == SIGTERM ? "SIGTERM" : "SIGINT";

	(void)r;
	if (d->rt.stopping) {
		log_info("%s again: stopping now", name);
		daemon_stop(d, true);
		return;
	}
	log_info("%s: stopping gracefully", name);
	daemon_stop(d, false);
}

static void main_on_hup(struct reactor *r, int signo, void *arg)
{
	(void)r;
	(void)signo;
	log_info("SIGHUP: reloading");
	daemon_reload(arg, NULL);
}

/* The log is written once per loop turn, many lines in one write; a
 * reader that cannot keep up makes the loop wait for it to be writable,
 * never blocks it. */
static void main_on_log_writable(struct reactor *r, int fd, unsigned events, void *arg)
{
	(void)r;
	(void)fd;
	(void)events;
	(void)arg;
	log_flush();
}

static void main_on_turn(void *arg)
{
	struct reactor *r = arg;
	int fd = log_fd();

	log_flush();
	if (fd >= 0)
		reactor_set(r, fd, log_pending() ? REACTOR_WRITE : 0);
}

static int main_watch_log(struct reactor *r)
{
	int fd = log_fd();

	if (fd >= 0 && reactor_add(r, fd, 0, main_on_log_writable, NULL) < 0)
		return -1;
	reactor_on_turn(r, main_on_turn, r);
	log_set_immediate(false);
	return 0;
}

/* Every connection costs two descriptors: take all the kernel allows. */
static void main_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the open-file limit");
	}
}

static int main_serve(struct config *cfg, const struct main_options *o)
{
	struct reactor *r = reactor_create();
	struct daemon *d = NULL;
	int rc = EXIT_STARTUP;

	if (r == NULL) {
		log_error("cannot create the event loop");
		config_free(cfg);
		return EXIT_STARTUP;
	}
	d = daemon_create(r, cfg, o->config_path, o->level_given);
	if (d == NULL)
		goto out;
	if (reactor_signal(r, SIGTERM, main_on_stop, d) < 0 ||
	    reactor_signal(r, SIGINT, main_on_stop, d) < 0 ||
	    reactor_signal(r, SIGHUP, main_on_hup, d) < 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	if (daemon_start(d) < 0)
		goto out;
	log_info("netpolld %s ready (%s, pid %ld)", NETPOLLD_VERSION, reactor_backend(),
		 (long)getpid());
	if (main_watch_log(r) < 0) {
		log_errorx("cannot watch the log: out of memory");
		goto out;
	}
	rc = reactor_run(r) < 0 ? EXIT_STARTUP : EXIT_OK;
	log_set_immediate(true);
	if (rc != EXIT_OK)
		log_error("event loop failed");
	else
		log_info("stopped");
out:
	log_set_immediate(true);
	daemon_destroy(d);
	/* Last: destroying the reactor runs the releases still deferred,
	 * which hand their sessions to the pool. */
	reactor_destroy(r);
	session_pool_drain();
	log_flush_blocking(MAIN_LOG_EXIT_MS);
	return rc;
}

int main(int argc, char **argv)
{
	struct main_options opts = { 0 };
	struct config *cfg;
	int rc;

	/* Before anything is logged: a log reader that went away must not
	 * kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	log_init();
	rc = main_parse_args(argc, argv, &opts);
	if (rc >= 0)
		return rc;
	if (opts.level_given)
		log_set_level(opts.level);
	/* Reloads for months, some with broken files: libconfig's leak on
	 * a syntax error stays in a child process. */
	config_libconfig_isolate(true);
	cfg = main_load_config(&opts);
	if (cfg == NULL) {
		log_flush_blocking(MAIN_LOG_EXIT_MS);
		return EXIT_CONFIG;
	}
	if (opts.test_only) {
		printf("configuration OK\n");
		config_free(cfg);
		return EXIT_OK;
	}
	if (!opts.level_given)
		log_set_level(cfg->log_level);
	main_raise_nofile();
	return main_serve(cfg, &opts);
}
