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
#include "log.h"
#include "proxy.h"
#include "reactor.h"
#include "sdnotify.h"
#include "session.h"

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
	struct proxy *p = arg;
	const char *name = signo == SIGTERM ? "SIGTERM" : "SIGINT";

	(void)r;
	if (p->stopping) {
		log_info("%s again: stopping now", name);
		proxy_stop(p, true);
		return;
	}
	log_info("%s: stopping gracefully", name);
	sdnotify_send("STOPPING=1");
	proxy_stop(p, false);
}

static void main_on_hup(struct reactor *r, int signo, void *arg)
{
	(void)r;
	(void)signo;
	(void)arg;
	log_warnx("HUP ignored: this version does not reload; the running configuration stays");
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

static int main_serve(struct config *cfg)
{
	struct reactor *r = reactor_create();
	struct proxy *p = NULL;
	char status[128];
	int rc = EXIT_STARTUP;

	if (r == NULL) {
		log_error("cannot create the event loop");
		config_free(cfg);
		return EXIT_STARTUP;
	}
	p = proxy_create(r, cfg);
	if (p == NULL) {
		log_errorx("out of memory building the proxy");
		config_free(cfg);
		goto out;
	}
	if (reactor_signal(r, SIGTERM, main_on_stop, p) < 0 ||
	    reactor_signal(r, SIGINT, main_on_stop, p) < 0 ||
	    reactor_signal(r, SIGHUP, main_on_hup, p) < 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	if (proxy_start(p) < 0)
		goto out;
	snprintf(status, sizeof(status), "READY=1\nSTATUS=serving %zu listeners",
		 p->nlisteners);
	sdnotify_send(status);
	log_info("netpolld %s ready (%s, pid %ld)", NETPOLLD_VERSION, reactor_backend(),
		 (long)getpid());
	rc = reactor_run(r) < 0 ? EXIT_STARTUP : EXIT_OK;
	if (rc != EXIT_OK)
		log_error("event loop failed");
	else
		log_info("stopped");
out:
	proxy_destroy(p);
	session_pool_drain();
	reactor_destroy(r);
	return rc;
}

int main(int argc, char **argv)
{
	struct main_options opts = { 0 };
	struct config *cfg;
	int rc;

	log_init();
	rc = main_parse_args(argc, argv, &opts);
	if (rc >= 0)
		return rc;
	if (opts.level_given)
		log_set_level(opts.level);
	cfg = main_load_config(&opts);
	if (cfg == NULL)
		return EXIT_CONFIG;
	if (opts.test_only) {
		printf("configuration OK\n");
		config_free(cfg);
		return EXIT_OK;
	}
	if (!opts.level_given)
		log_set_level(cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	main_raise_nofile();
	return main_serve(cfg);
}
