/* strbuf.c — the bounded text buffer behind stats and metrics answers.
 * An append either fits whole or adds nothing and sets `overflow`; after
 * that the buffer refuses every append until it is reset, so what it
 * holds is always a clean prefix of the answer (never one with a hole in
 * the middle), and the caller checks `overflow` once at the end.
 * `max` bounds the text; the allocation is at most max + 1 for the NUL. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First allocation: enough for a `show info` answer in one go. */
#define STRBUF_MIN_CAP 256

void strbuf_init(struct strbuf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->overflow = false;
}

void strbuf_free(struct strbuf *b)
{
	free(b->data);
	strbuf_init(b, b->max);
}

void strbuf_reset(struct strbuf *b)
{
	b->len = 0;
	b->overflow = false;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Makes room for ADD more bytes and the NUL, or sets overflow and
 * returns false, leaving the contents as they were. */
static bool strbuf_reserve(struct strbuf *b, size_t add)
{
	/* The NUL must fit in a size_t too. */
	size_t max = b->max < SIZE_MAX ? b->max : SIZE_MAX - 1;
	size_t need, cap;
	char *p;

	if (b->overflow)
		return false;
	if (b->len > max || add > max - b->len) {
		b->overflow = true;
		return false;
	}
	need = b->len + add + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap > 0 ? b->cap : STRBUF_MIN_CAP;
	while (cap < need && cap <= (max + 1) / 2)
		cap *= 2;
	if (cap > max + 1)
		cap = max + 1;
	if (cap < need)
		cap = need;
	p = realloc(b->data, cap);
	if (p == NULL) {
		b->overflow = true;
		return false;
	}
	if (b->data == NULL)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return true;
}

void strbuf_add(struct strbuf *b, const char *data, size_t len)
{
	if (len == 0 || !strbuf_reserve(b, len))
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void strbuf_puts(struct strbuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
}

/* Formats straight into the free space when it fits; otherwise grows
 * to the exact size vsnprintf reported and formats again. */
void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room = b->data != NULL ? b->cap - b->len : 0;
	int n;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(room > 0 ? b->data + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		/* An encoding error: nothing sensible to add. */
		b->overflow = true;
	} else if ((size_t)n < room) {
		b->len += (size_t)n;
		return;
	} else if (strbuf_reserve(b, (size_t)n)) {
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
		b->len += (size_t)n;
		return;
	}
	/* vsnprintf may have written a truncated tail: take it back. */
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

void strbuf_consume(struct strbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data != NULL)
		b->data[b->len] = '\0';
}
