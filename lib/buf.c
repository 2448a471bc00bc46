/* buf.c: see buf.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
dm_buf_init(struct dm_buf *b)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

void
dm_buf_free(struct dm_buf *b)
{
	free(b->p);
	dm_buf_init(b);
}

void
dm_buf_reset(struct dm_buf *b)
{
	b->len = 0;
}

int
dm_buf_reserve(struct dm_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len - 1)
		return -ENOMEM;
	need = b->len + extra + 1; /* room for dm_buf_cstr's NUL */
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

uint8_t *
dm_buf_grow(struct dm_buf *b, size_t n)
{
	uint8_t *p;

	if (dm_buf_reserve(b, n) != 0)
		return NULL;
	p = b->p + b->len;
	b->len += n;
	return p;
}

int
dm_buf_append(struct dm_buf *b, const void *data, size_t n)
{
	int rc;

	if (n == 0)
		return 0;
	if ((rc = dm_buf_reserve(b, n)) != 0)
		return rc;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

int
dm_buf_appendf(struct dm_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((rc = dm_buf_reserve(b, (size_t)n + 1)) != 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
dm_buf_consume(struct dm_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

char *
dm_buf_cstr(struct dm_buf *b)
{
	if (dm_buf_reserve(b, 0) != 0)
		return NULL;
	b->p[b->len] = '\0';
	return (char *)b->p;
}
