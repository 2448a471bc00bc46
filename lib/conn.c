/* conn.c: see conn.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "err.h"
#include "log.h"
#include "net.h"

/* A peer that does not drain what we send is dropped past this. */
#define QUEUE_MAX (64u << 20)
#define AUTH_TIMEOUT_MS 10000

enum state { ST_AUTH, ST_OPEN, ST_CLOSED };

struct dm_conn {
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
		uv_stream_t stream;
		uv_handle_t handle;
	} h;
	uv_timer_t timer; /* handshake deadline; initialised when used */
	int has_timer;
	int closes_pending;
	enum state state;
	const struct dm_conn_ops *ops;
	const struct dm_key *key;
	void *data;
	uint8_t ns[32];
	struct dm_buf in;
	size_t handed; /* bytes of in handed to on_msg (dm_conn_detach) */
	size_t queued;
	char peer[64];
};

struct wreq {
	uv_write_t req;
	struct dm_conn *c;
	size_t len;
	int close_after;
	uint8_t data[];
};

void *
dm_conn_data(const struct dm_conn *c)
{
	return c->data;
}

void
dm_conn_set_data(struct dm_conn *c, void *data)
{
	c->data = data;
}

const char *
dm_conn_peer(const struct dm_conn *c)
{
	return c->peer;
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct dm_conn *c = h->data;

	if (--c->closes_pending > 0)
		return;
	dm_buf_free(&c->in);
	free(c);
}

void
dm_conn_close(struct dm_conn *c, int reason)
{
	if (c->state == ST_CLOSED)
		return;
	c->state = ST_CLOSED;
	c->closes_pending = 1 + c->has_timer;
	if (c->has_timer)
		uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	uv_close(&c->h.handle, on_handle_closed);
	if (c->ops->on_close != NULL)
		c->ops->on_close(c, reason);
}

int
dm_conn_detach(struct dm_conn *c, int *fd, struct dm_buf *rest)
{
	uv_os_fd_t ofd;
	int rc = 0;

	*fd = -1;
	if (c->state != ST_OPEN)
		rc = DM_ECLOSED;
	else if (c->queued > 0)
		rc = -EBUSY;
	else if ((rc = uv_fileno(&c->h.handle, &ofd)) == 0 &&
		 (*fd = fcntl(ofd, F_DUPFD_CLOEXEC, 3)) < 0)
		rc = -errno;
	if (rc == 0 && (rc = dm_buf_append(rest, c->in.p + c->handed,
					   c->in.len - c->handed)) != 0) {
		close(*fd);
		*fd = -1;
	}
	/* libuv takes the old descriptor out of its epoll set before it
	 * closes it, so the new one is no longer watched by the loop. */
	dm_conn_close(c, rc);
	return rc;
}

static void
on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct dm_conn *c = w->c;

	c->queued -= w->len;
	if (c->state != ST_CLOSED && (status < 0 || w->close_after))
		dm_conn_close(c, status < 0 ? status : 0);
	free(w);
}

static int
write_raw(struct dm_conn *c, const void *p, size_t n, int close_after)
{
	struct wreq *w;
	uv_buf_t b;
	int rc;

	if (c->state == ST_CLOSED)
		return DM_ECLOSED;
	if (c->queued + n > QUEUE_MAX) {
		dm_warn("%s: peer is not reading (%zu bytes queued); closing",
			c->peer, c->queued);
		dm_conn_close(c, DM_ETOOBIG);
		return DM_ETOOBIG;
	}
	/* Most messages fit the socket's buffer at once: write them now and
	 * spare the queue's malloc and libuv's epoll_ctl (a quarter of the
	 * scheduler's CPU per placement, bench/sched-load).  uv_try_write
	 * refuses (EAGAIN) while earlier writes are queued: order is kept. */
	if (!close_after) {
		b = uv_buf_init((char *)p, (unsigned)n);
		rc = uv_try_write(&c->h.stream, &b, 1);
		if (rc == (int)n)
			return 0;
		if (rc > 0) {
			p = (const char *)p + rc;
			n -= (size_t)rc;
		}
		/* An error (EPIPE, ECONNRESET) is left to uv_write below: its
		 * callback closes the connection from the loop, never from
		 * inside a caller that is walking its peers. */
	}
	if ((w = malloc(sizeof(*w) + n)) == NULL)
		return -ENOMEM;
	memcpy(w->data, p, n);
	w->c = c;
	w->len = n;
	w->close_after = close_after;
	b = uv_buf_init((char *)w->data, (unsigned)n);
	if ((rc = uv_write(&w->req, &c->h.stream, &b, 1, on_write)) != 0) {
		free(w);
		return rc;
	}
	c->queued += n;
	return 0;
}

static int
send_msg(struct dm_conn *c, uint16_t type, const void *msg, int close_after)
{
	struct dm_buf b;
	int rc;

	dm_buf_init(&b);
	if ((rc = dm_msg_encode(&b, type, msg)) != 0)
		dm_warn("%s: cannot send %s: %s", c->peer, dm_msg_name(type),
			dm_wire_errmsg());
	else
		rc = write_raw(c, b.p, b.len, close_after);
	dm_buf_free(&b);
	return rc;
}

int
dm_conn_send(struct dm_conn *c, uint16_t type, const void *msg)
{
	return send_msg(c, type, msg, 0);
}

void
dm_conn_fail(struct dm_conn *c, int code, const char *text)
{
	struct dm_msg_error e = {.code = (uint32_t)-code, .text = (char *)text};

	if (send_msg(c, DM_MSG_ERROR, &e, 1) != 0)
		dm_conn_close(c, code);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct dm_conn *c = h->data;

	(void)suggested;
	if (dm_buf_reserve(&c->in, 65536) != 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)c->in.p + c->in.len, 65536);
}

/* Handles the client's 72 handshake bytes; returns bytes used or -1. */
static int
do_auth(struct dm_conn *c)
{
	uint8_t proof[DM_AUTH_PROOF_LEN];
	uint16_t role;
	int rc;

	if (c->in.len < DM_AUTH_CLIENT_LEN)
		return 0;
	rc = dm_auth_check(c->key, c->ns, c->in.p, &role, proof);
	if (rc != 0) {
		dm_warn("%s: refused: %s", c->peer, dm_strerror(rc));
		dm_conn_close(c, rc);
		return -1;
	}
	if (c->has_timer)
		uv_timer_stop(&c->timer);
	c->state = ST_OPEN;
	write_raw(c, proof, sizeof(proof), 0);
	if (c->ops->on_ready != NULL)
		c->ops->on_ready(c, role);
	return DM_AUTH_CLIENT_LEN;
}

static void
process(struct dm_conn *c)
{
	size_t off = 0;

	if (c->state == ST_AUTH) {
		int used = do_auth(c);

		if (used <= 0)
			return;
		off = (size_t)used;
	}
	while (c->state == ST_OPEN) {
		const uint8_t *payload;
		size_t flen, plen;
		union dm_msg m;
		uint16_t type;
		int rc;

		rc = dm_frame_peek(c->in.p + off, c->in.len - off, &flen);
		if (rc == 0 && (flen == 0 || flen > c->in.len - off))
			break;
		if (rc == 0) {
			dm_frame_split(c->in.p + off, flen, &type, &payload,
				       &plen);
			rc = dm_msg_decode(type, payload, plen, &m);
		}
		if (rc != 0) {
			dm_warn("%s: closing: %s", c->peer, dm_wire_errmsg());
			dm_conn_close(c, rc);
			return;
		}
		off += flen;
		c->handed = off;
		c->ops->on_msg(c, type, &m);
		dm_msg_free(type, &m);
	}
	if (c->state != ST_CLOSED) {
		dm_buf_consume(&c->in, off);
		c->handed = 0;
	}
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct dm_conn *c = s->data;

	(void)buf;
	if (n < 0) {
		dm_conn_close(c, n == UV_EOF ? DM_ECLOSED : (int)n);
		return;
	}
	c->in.len += (size_t)n;
	process(c);
}

static void
on_auth_timeout(uv_timer_t *t)
{
	struct dm_conn *c = t->data;

	dm_warn("%s: no handshake within %d ms; closing", c->peer,
		AUTH_TIMEOUT_MS);
	dm_conn_close(c, DM_ETIMEOUT);
}

static struct dm_conn *
conn_new(const struct dm_conn_ops *ops, void *data)
{
	struct dm_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->ops = ops;
	c->data = data;
	c->h.handle.data = c;
	dm_buf_init(&c->in);
	return c;
}

static void
fill_peer(struct dm_conn *c, int is_unix)
{
	uv_os_fd_t fd;

	if (is_unix || uv_fileno(&c->h.handle, &fd) != 0 ||
	    dm_net_name(fd, 1, c->peer, sizeof(c->peer)) != 0)
		snprintf(c->peer, sizeof(c->peer), "local client");
}

int
dm_conn_accept(uv_stream_t *server, const struct dm_key *key,
	       const struct dm_conn_ops *ops, void *data)
{
	int is_unix = server->type == UV_NAMED_PIPE;
	uint8_t hello[DM_AUTH_HELLO_LEN];
	struct dm_conn *c = conn_new(ops, data);
	int rc;

	if (c == NULL)
		return -ENOMEM;
	if (is_unix)
		rc = uv_pipe_init(server->loop, &c->h.pipe, 0);
	else
		rc = uv_tcp_init(server->loop, &c->h.tcp);
	if (rc != 0) {
		free(c);
		return rc;
	}
	c->state = ST_OPEN;
	if ((rc = uv_accept(server, &c->h.stream)) != 0) {
		dm_conn_close(c, rc);
		return rc;
	}
	fill_peer(c, is_unix);
	if (!is_unix)
		uv_tcp_nodelay(&c->h.tcp, 1);
	if (key != NULL) {
		c->key = key;
		c->state = ST_AUTH;
		dm_auth_hello(hello, c->ns);
		uv_timer_init(server->loop, &c->timer);
		c->timer.data = c;
		c->has_timer = 1;
		uv_timer_start(&c->timer, on_auth_timeout, AUTH_TIMEOUT_MS, 0);
		write_raw(c, hello, sizeof(hello), 0);
	}
	if ((rc = uv_read_start(&c->h.stream, on_alloc, on_read)) != 0) {
		dm_conn_close(c, rc);
		return rc;
	}
	if (key == NULL && ops->on_ready != NULL)
		ops->on_ready(c, 0);
	return 0;
}

int
dm_conn_open_fd(uv_loop_t *loop, int fd, int is_unix,
		const struct dm_conn_ops *ops, void *data, struct dm_conn **out)
{
	struct dm_conn *c = conn_new(ops, data);
	int rc;

	if (c == NULL)
		return -ENOMEM;
	rc = is_unix ? uv_pipe_init(loop, &c->h.pipe, 0)
		     : uv_tcp_init(loop, &c->h.tcp);
	if (rc != 0) {
		free(c);
		return rc;
	}
	c->state = ST_OPEN;
	rc = is_unix ? uv_pipe_open(&c->h.pipe, fd) : uv_tcp_open(&c->h.tcp, fd);
	if (rc == 0)
		rc = uv_read_start(&c->h.stream, on_alloc, on_read);
	if (rc != 0) {
		c->ops = &(const struct dm_conn_ops){0};
		dm_conn_close(c, rc);
		return rc;
	}
	fill_peer(c, is_unix);
	*out = c;
	return 0;
}
