/* config_files.h — what the configuration unit tests share: a directory
 * of files per test, written and loaded through config_load(), and the
 * check that a file fails with exactly the messages wanted. Included by
 * one test program each (check_config.c, check_config_edges.c). */
#ifndef NETPOLLD_TEST_CONFIG_FILES_H
#define NETPOLLD_TEST_CONFIG_FILES_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* Each test's own directory; set afresh so CK_FORK=no works too. */
static char tmpdir[64];

/* The files a test wrote, removed by the teardown. */
static char written[8][128];
static size_t nwritten;

static inline void setup(void)
{
	strcpy(tmpdir, "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	nwritten = 0;
}

static inline void teardown(void)
{
	for (size_t i = 0; i < nwritten; i++)
		unlink(written[i]);
	rmdir(tmpdir);
}

/* Writes TEXT to NAME in the test's directory; returns the path. */
static inline const char *write_file(const char *name, const char *text)
{
	char path[sizeof(written[0])];
	size_t i;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	for (i = 0; i < nwritten && strcmp(written[i], path) != 0; i++)
		;
	ck_assert_uint_lt(i, sizeof(written) / sizeof(written[0]));
	if (i == nwritten)
		strcpy(written[nwritten++], path);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	return written[i];
}

/* All of ERRS on one line each, for failure messages. */
static inline const char *dump(const struct config_errors *errs)
{
	static char buf[8192];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < errs->count && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\n  %s", errs->msgs[i]);
	return buf;
}

/* Loading TEXT as NAME fails with exactly WANT, in order: each entry is
 * "LINE: message" (or ": message"), to follow the file's path. */
static inline void check_errors(const char *name, const char *text, const char *const *want)
{
	struct config_errors errs = { 0 };
	const char *path = write_file(name, text);
	struct config *cfg = config_load(path, &errs);
	size_t n = 0;
	char line[2048];

	ck_assert_msg(cfg == NULL, "%s was accepted", name);
	for (; want[n] != NULL; n++) {
		snprintf(line, sizeof(line), "%s:%s", path, want[n]);
		ck_assert_msg(n < errs.count && strcmp(errs.msgs[n], line) == 0,
			      "%s: message %zu should be\n  %s\ngot:%s", name, n, line, dump(&errs));
	}
	ck_assert_msg(errs.count == n, "%s: %zu messages, want %zu:%s", name, errs.count, n,
		      dump(&errs));
	config_errors_free(&errs);
}

/* The same case in both syntaxes gives the same messages. */
#define CHECK_BOTH(conf, yaml, ...)                                                   \
	do {                                                                          \
		const char *const want_[] = { __VA_ARGS__, NULL };                    \
		check_errors("t.conf", conf, want_);                                  \
		check_errors("t.yaml", yaml, want_);                                  \
	} while (0)
#define CHECK_CONF(conf, ...) check_errors("t.conf", conf, (const char *const[]){ __VA_ARGS__, NULL })
#define CHECK_YAML(yaml, ...) check_errors("t.yaml", yaml, (const char *const[]){ __VA_ARGS__, NULL })

/* Loads TEXT as NAME, which must be valid. */
static inline struct config *load_ok(const char *name, const char *text)
{
	struct config_errors errs = { 0 };
	struct config *cfg = config_load(write_file(name, text), &errs);

	ck_assert_msg(cfg != NULL && errs.count == 0, "%s refused:%s", name, dump(&errs));
	config_errors_free(&errs);
	return cfg;
}

#endif
