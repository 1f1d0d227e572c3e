/* config_diag.h — problems the validator finds, collected and reported
 * sorted by line: the checks run in dependency order (backends before the
 * listeners that name them), but people read a file top to bottom. */
#ifndef NETPOLLD_CONFIG_DIAG_H
#define NETPOLLD_CONFIG_DIAG_H

#include <stdbool.h>
#include <stddef.h>

struct config_errors;

struct config_diag {
	int line;                       /* where the problem is */
	size_t seq;                     /* order found: keeps ties stable */
	char *msg;                      /* without the "FILE:LINE: " */
};

/* Start zeroed. */
struct config_diags {
	struct config_diag *items;      /* owned, count of them */
	size_t count;                   /* problems recorded */
	bool oom;                       /* memory ran out: the result is unusable */
};

/* Records "LABEL: message" (just the message when LABEL is ""); a failed
 * allocation sets oom instead. */
void config_diags_add(struct config_diags *diags, int line, const char *label,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Appends every problem, by line, to ERRS as "PATH:LINE: ...", then
 * "PATH: out of memory" if oom, and empties DIAGS. 0 when there was
 * nothing to report, -1 otherwise. */
int config_diags_flush(struct config_diags *diags, const char *path,
		       struct config_errors *errs);

#endif
