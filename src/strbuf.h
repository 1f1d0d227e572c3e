/* strbuf.h — a growable text buffer with a hard size bound, for answers
 * built in memory (stats, metrics). Once the bound is hit the buffer
 * stops growing and remembers it overflowed; callers check once at the
 * end instead of after every append. */
#ifndef NETPOLLD_STRBUF_H
#define NETPOLLD_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *data;             /* NUL-terminated while len < cap; NULL until first append */
	size_t len;             /* bytes held, without the NUL */
	size_t cap;             /* bytes allocated */
	size_t max;             /* never grows past this many bytes */
	bool overflow;          /* an append did not fit (or memory ran out) */
};

void strbuf_init(struct strbuf *b, size_t max);
void strbuf_free(struct strbuf *b);
/* Empties it, keeping the memory. */
void strbuf_reset(struct strbuf *b);
/* Not strbuf_append: libconfig exports a function of that name. */
void strbuf_add(struct strbuf *b, const char *data, size_t len);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first N bytes (what a writer has sent). */
void strbuf_consume(struct strbuf *b, size_t n);

#endif
