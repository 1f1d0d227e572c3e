/* config.c — the configuration's life cycle: open the file, let the
 * front end its name calls for read it into the neutral tree
 * (config_tree.h), have config_validate.c judge that, free the result.
 * Also the pieces of it others use: the error list and durations. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_libconfig.h"
#include "config_tree.h"
#include "config_validate.h"
#include "config_yaml.h"

/* Longer messages are cut: they only ever quote a value back. */
#define CONFIG_MSG_MAX 1024

/* Durations are kept in a uint32_t of milliseconds. */
#define CONFIG_DURATION_TOO_LARGE "too large (the maximum is about 49 days)"
#define CONFIG_DURATION_NEGATIVE "must not be negative"

int config_errors_add(struct config_errors *errs, const char *file, int line,
		      const char *fmt, ...)
{
	char msg[CONFIG_MSG_MAX], *text, **msgs;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (file == NULL)
		rc = asprintf(&text, "%s", msg);
	else if (line > 0)
		rc = asprintf(&text, "%s:%d: %s", file, line, msg);
	else
		rc = asprintf(&text, "%s: %s", file, msg);
	if (rc < 0)
		return -1;
	msgs = realloc(errs->msgs, (errs->count + 1) * sizeof(*msgs));
	if (msgs == NULL) {
		free(text);
		return -1;
	}
	errs->msgs = msgs;
	msgs[errs->count++] = text;
	return 0;
}

void config_errors_free(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->count; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->count = 0;
}

int config_parse_duration(const char *text, uint64_t *ms, const char **err)
{
	/* Largest first: parts must come in this order, each at most once. */
	static const struct {
		const char *name;
		uint64_t ms;
	} units[] = { { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 } };
	const size_t nunits = sizeof(units) / sizeof(units[0]);
	size_t next = 0;                /* first unit still allowed */
	uint64_t total = 0;
	const char *p = text;

	*err = *p == '\0' ? "empty duration" : *p == '-' ? CONFIG_DURATION_NEGATIVE : NULL;
	while (*err == NULL && *p != '\0') {
		uint64_t n = 0;
		const char *digits = p, *unit;
		size_t i, len;

		for (; *p >= '0' && *p <= '9' && n <= UINT32_MAX; p++)
			n = n * 10 + (uint64_t)(*p - '0');
		if (*p == '.') {
			*err = "no fractions (write \"1500ms\", not \"1.5s\")";
			break;
		}
		for (unit = p; (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'); p++)
			;
		len = (size_t)(p - unit);
		for (i = 0; i < nunits; i++)
			if (strlen(units[i].name) == len && strncmp(unit, units[i].name, len) == 0)
				break;
		if (n > UINT32_MAX)
			*err = CONFIG_DURATION_TOO_LARGE;
		else if (unit == digits)
			*err = "expected a number and a unit, such as \"5s\"";
		else if (len == 0)
			*err = "missing unit (use ms, s, m, h)";
		else if (i == nunits)
			*err = "unknown unit (use ms, s, m, h)";
		else if (i < next)
			*err = "units must go from largest to smallest, each once (e.g. \"1m30s\")";
		next = i + 1;
		total += n * units[i < nunits ? i : 0].ms;
	}
	if (*err == NULL && total > UINT32_MAX)
		*err = CONFIG_DURATION_TOO_LARGE;
	if (*err != NULL)
		return -1;
	*ms = total;
	return 0;
}

static bool config_is_yaml(const char *path)
{
	size_t n = strlen(path);

	return (n >= 5 && strcmp(path + n - 5, ".yaml") == 0) ||
	       (n >= 4 && strcmp(path + n - 4, ".yml") == 0);
}

/* "FILE: cannot open: ..." carries no line: it is about the whole file. */
static FILE *config_open(const char *path, struct config_errors *errs)
{
	FILE *fp = fopen(path, "r");
	struct stat st;

	if (fp == NULL) {
		config_errors_add(errs, path, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	/* A directory opens, but libconfig's scanner exits the process when
	 * reading it fails. */
	if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		config_errors_add(errs, path, 0, "cannot open: %s", strerror(EISDIR));
		fclose(fp);
		return NULL;
	}
	return fp;
}

struct config *config_load(const char *path, struct config_errors *errs)
{
	size_t before = errs->count;
	struct config_node *root;
	struct config *cfg = NULL;
	FILE *fp = config_open(path, errs);

	if (fp == NULL)
		return NULL;
	if (config_is_yaml(path))
		root = config_yaml_read(fp, path, errs);
	else
		root = config_libconfig_read(fp, path, errs);
	fclose(fp);
	if (root != NULL)
		cfg = config_validate(root, path, errs);
	config_tree_free(root);
	/* Never NULL without a reason, even when memory is what ran out. */
	if (cfg == NULL && errs->count == before)
		config_errors_add(errs, path, 0, "out of memory");
	return cfg;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		struct config_listener *l = &cfg->listeners[i];
		for (size_t j = 0; j < l->nlisten; j++)
			free(l->listen[j].text);
		free(l->listen);
		free(l->name);
		free(l->backend);
		free(l->acl.allow);
		free(l->acl.deny);
	}
	free(cfg->listeners);
	for (size_t i = 0; i < cfg->nbackends; i++) {
		struct config_backend *b = &cfg->backends[i];
		for (size_t j = 0; j < b->nservers; j++)
			free(b->servers[j].address.text);
		free(b->servers);
		free(b->name);
	}
	free(cfg->backends);
	free(cfg->stats_socket.text);
	free(cfg->metrics_listen.text);
	free(cfg->path);
	free(cfg);
}
