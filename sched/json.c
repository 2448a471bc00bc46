/* json.c: see json.h. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0 if it is not one.
 * The string is NUL-terminated, so a truncated sequence fails on the NUL
 * before anything past it is read. */
static size_t
utf8_len(const uint8_t *p)
{
	uint8_t c = p[0];
	size_t n, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int
sched_json_str(struct dm_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)s;
	int rc;

	if ((rc = dm_buf_append(b, "\"", 1)) != 0)
		return rc;
	while (*p != '\0') {
		const char *esc = NULL;
		char u[6];
		size_t n;

		switch (*p) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		}
		if (esc != NULL) {
			rc = dm_buf_append(b, esc, 2);
			n = 1;
		} else if (*p < 0x20) {
			u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0';
			u[4] = hex[*p >> 4], u[5] = hex[*p & 15];
			rc = dm_buf_append(b, u, 6);
			n = 1;
		} else if ((n = utf8_len(p)) != 0) {
			rc = dm_buf_append(b, p, n);
		} else {
			/* One replacement per bad byte, as decoders do. */
			rc = dm_buf_append(b, "\xef\xbf\xbd", 3);
			n = 1;
		}
		if (rc != 0)
			return rc;
		p += n;
	}
	return dm_buf_append(b, "\"", 1);
}
