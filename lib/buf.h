/*
 * buf.h: a growable byte buffer.
 *
 * The struct is public because it is embedded everywhere.  A dm_buf owns
 * its memory: dm_buf_init() sets it empty, dm_buf_free() releases it.
 * Growth failure returns -ENOMEM and leaves the contents intact.
 */
#ifndef DM_BUF_H
#define DM_BUF_H

#include <stddef.h>
#include <stdint.h>

struct dm_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

void dm_buf_init(struct dm_buf *b);
void dm_buf_free(struct dm_buf *b);
int dm_buf_reserve(struct dm_buf *b, size_t extra);
int dm_buf_append(struct dm_buf *b, const void *data, size_t n);
int dm_buf_appendf(struct dm_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends n bytes of uninitialised space and returns a pointer to it. */
uint8_t *dm_buf_grow(struct dm_buf *b, size_t n);
/* Drops the first n bytes. */
void dm_buf_consume(struct dm_buf *b, size_t n);
/* Ensures a NUL after the contents (not counted in len); returns p. */
char *dm_buf_cstr(struct dm_buf *b);
void dm_buf_reset(struct dm_buf *b);

#endif
