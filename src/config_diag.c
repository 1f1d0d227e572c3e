/* config_diag.c — collect validation problems, then report them in file
 * order. Errors are few, so one realloc each is fine. */
#include "config_diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

/* Longer messages are cut: they only ever quote a value back. */
#define CONFIG_DIAG_MSG_MAX 1024

void config_diags_add(struct config_diags *diags, int line, const char *label,
		      const char *fmt, ...)
{
	char msg[CONFIG_DIAG_MSG_MAX], *text;
	struct config_diag *items;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&text, "%s%s%s", label, *label != '\0' ? ": " : "", msg) < 0)
		goto oom;
	items = realloc(diags->items, (diags->count + 1) * sizeof(*items));
	if (items == NULL) {
		free(text);
		goto oom;
	}
	diags->items = items;
	items[diags->count] = (struct config_diag){ line, diags->count, text };
	diags->count++;
	return;
oom:
	diags->oom = true;
}

static int config_diag_cmp(const void *a, const void *b)
{
	const struct config_diag *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int config_diags_flush(struct config_diags *diags, const char *path,
		       struct config_errors *errs)
{
	int rc = diags->count > 0 || diags->oom ? -1 : 0;

	if (diags->count > 0)
		qsort(diags->items, diags->count, sizeof(*diags->items), config_diag_cmp);
	for (size_t i = 0; i < diags->count; i++) {
		if (config_errors_add(errs, path, diags->items[i].line, "%s",
				      diags->items[i].msg) == -1)
			diags->oom = true;
		free(diags->items[i].msg);
	}
	if (diags->oom)
		config_errors_add(errs, path, 0, "out of memory");
	free(diags->items);
	*diags = (struct config_diags){ 0 };
	return rc;
}
