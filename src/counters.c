/* counters.c — the shared, reference-counted blocks of counters.h. */
#include "counters.h"

#include <stdlib.h>

struct counters *counters_new(uint64_t now_ms)
{
	struct counters *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->refs = 1;
	c->admin = COUNTERS_ADMIN_READY;
	c->last_change_ms = now_ms;
	c->check = "-";
	return c;
}

struct counters *counters_share(struct counters *c, uint64_t now_ms)
{
	if (c == NULL)
		return counters_new(now_ms);
	c->refs++;
	return c;
}

void counters_release(struct counters *c)
{
	if (c != NULL && --c->refs == 0)
		free(c);
}
