/*
 * conn.h: a framed, optionally authenticated message connection on a
 * libuv stream (TCP or Unix pipe).  The scheduler, the node's scheduler
 * link and the coordinator all speak through it.
 *
 * Accepting side: dm_conn_accept() with a key runs the server half of the
 * handshake first and reads no message before the peer proved the key; a
 * peer that fails (or stays silent for 10 s) is closed and logged.
 * Connecting side: do the handshake on a blocking fd (dm_auth_client) and
 * hand the fd over with dm_conn_open_fd().
 *
 * Any malformed frame closes that connection alone, with a log line
 * naming the limit or field it broke.
 *
 * Lifetime: ops->on_close(c, reason) is called exactly once, from
 * dm_conn_close() or when the peer goes away; after it returns the caller
 * must not touch c.  The memory is released later, in libuv's close
 * callback.
 */
#ifndef DM_CONN_H
#define DM_CONN_H

#include <stdint.h>
#include <uv.h>

#include "auth.h"
#include "wire.h"

struct dm_conn;

struct dm_conn_ops {
	/* Server side, after a good handshake (role from the client). */
	void (*on_ready)(struct dm_conn *c, uint16_t role);
	/* One decoded message; m is freed when this returns. */
	void (*on_msg)(struct dm_conn *c, uint16_t type, union dm_msg *m);
	void (*on_close)(struct dm_conn *c, int reason);
};

/* Accepts one pending connection from server.  key NULL: no handshake
 * (Unix sockets); on_ready is then called at once with role 0. */
int dm_conn_accept(uv_stream_t *server, const struct dm_key *key,
		   const struct dm_conn_ops *ops, void *data);
/* Wraps an already connected (and authenticated) fd; takes the fd. */
int dm_conn_open_fd(uv_loop_t *loop, int fd, int is_unix,
		    const struct dm_conn_ops *ops, void *data,
		    struct dm_conn **out);
int dm_conn_send(struct dm_conn *c, uint16_t type, const void *msg);
/* Sends an ERROR with text, then closes after it is written. */
void dm_conn_fail(struct dm_conn *c, int code, const char *text);
void dm_conn_close(struct dm_conn *c, int reason);
/* Takes the socket out of c, for a connection that stops speaking
 * frames (the coordinator's relay): *fd is a new descriptor of the same
 * socket (CLOEXEC, the caller's to close) and rest gets the bytes read
 * but not yet handed to on_msg (those after the current message, when
 * called from on_msg).  c is closed in every case (on_close runs with
 * reason 0); -EBUSY when c still had bytes queued for writing, which
 * would be lost. */
int dm_conn_detach(struct dm_conn *c, int *fd, struct dm_buf *rest);
void *dm_conn_data(const struct dm_conn *c);
void dm_conn_set_data(struct dm_conn *c, void *data);
const char *dm_conn_peer(const struct dm_conn *c);

#endif
