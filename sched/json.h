/*
 * json.h: the little JSON the scheduler writes (STATUS and GET /status).
 *
 * Strings come from peers (node names, build labels, platforms) and may
 * hold any byte but NUL, so they are escaped here rather than trusted:
 * the output is always valid JSON in valid UTF-8.
 */
#ifndef SCHED_JSON_H
#define SCHED_JSON_H

#include "../lib/buf.h"

/* Appends s as a quoted JSON string: '"' and '\\' escaped, control
 * characters as \n, \t ... or \u00XX, and every byte that is not part of
 * a well-formed UTF-8 sequence replaced by U+FFFD.  Returns 0 or -ENOMEM
 * (b then holds a partial string; callers discard b). */
int sched_json_str(struct dm_buf *b, const char *s);

#endif
