/*
 * http.h: `--http ADDR:PORT`, the STATUS JSON for dashboards and curl.
 *
 * Plain HTTP/1.0, one request per connection: `GET /status` (a query
 * string is ignored) answers 200 with the JSON, anything else 404 or 400.
 * It is read-only and unauthenticated, so it is off unless asked for; it
 * shows what `dmake status --json` shows and accepts nothing.  A client
 * gets 5 s and 8 KiB for its request.
 *
 * Lifetime: sched_http_start() / sched_http_close(); close stops the
 * listener and drops open clients, and the memory goes in libuv's close
 * callbacks, so the loop must run after it.
 */
#ifndef SCHED_HTTP_H
#define SCHED_HTTP_H

#include <uv.h>

#include "../lib/buf.h"

struct sched_http;

/* Appends the JSON body to out; 0 or a negative error (then 500). */
typedef int (*sched_http_body_fn)(void *arg, struct dm_buf *out);

int sched_http_start(uv_loop_t *loop, const char *addr, sched_http_body_fn fn,
		     void *arg, struct sched_http **out);
void sched_http_close(struct sched_http *h);

#endif
