/*
 * relay.c: see relay.h.
 *
 * A tunnel has two sides, the shim's Unix connection and the node's TCP
 * connection.  Bytes read on one side are written to the other in the
 * buffer they were read into; while the other side has bytes queued
 * (uv_stream_get_write_queue_size), the side is not read, and the write
 * callback that empties the queue starts reading it again.  So a slow
 * reader holds at most one read's worth of bytes here, whichever side it
 * is.  An end of file on one side becomes a shutdown of the other side's
 * writing (libuv does it after the queued writes); a tunnel whose two
 * shutdowns are done, or that meets an error anywhere, is closed whole.
 * Its memory goes with the last of its handles (and a pending
 * getaddrinfo, which counts as one).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>
#include <uv.h>

#include "../lib/buf.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/net.h"
#include "../lib/wire.h"
#include "relay.h"

/* As long as a shim waits for a node it dials itself (cc-shim/main.c). */
#define CONNECT_MS 3000
#define CHUNK 65536
/* Node addresses remembered; past this many the one placed on least
 * recently is forgotten (a farm has far fewer nodes). */
#define ALLOWED_MAX 4096

struct allowed {
	TAILQ_ENTRY(allowed) link;
	char addr[];
};

struct side {
	union {
		uv_pipe_t pipe;
		uv_tcp_t tcp;
		uv_stream_t stream;
		uv_handle_t handle;
	} h;
	int open;    /* initialised and not yet closed */
	int reading; /* uv_read_start is on */
	int eof;     /* its peer sends nothing more */
	int shut;    /* our writing to it is shut down */
	uv_shutdown_t shutdown;
};

struct tunnel {
	TAILQ_ENTRY(tunnel) link;
	struct relay *r;
	struct side shim, node;
	uv_timer_t timer; /* the deadline for reaching the node */
	uv_connect_t connect;
	uv_getaddrinfo_t gai;
	int gai_pending;
	int refs;   /* handles not yet closed, plus a pending getaddrinfo */
	int failed; /* RELAY_FAIL is on its way; nothing else happens */
	int closing;
	struct dm_buf early; /* what the shim sent after RELAY */
	char addr[257];
};

struct relay {
	uv_loop_t *loop;
	TAILQ_HEAD(allowed_head, allowed) allowed;
	unsigned n_allowed;
	TAILQ_HEAD(, tunnel) tunnels;
	unsigned relayed;
	int stopping;
};

/* One write: bytes read on `from` (or a frame of ours, from NULL). */
struct chunk {
	uv_write_t req;
	struct tunnel *t;
	struct side *from;
	int close_after;
	char data[];
};

/* ---- addresses ---------------------------------------------------------- */

static struct allowed *
find_allowed(struct relay *r, const char *addr)
{
	struct allowed *a;

	TAILQ_FOREACH(a, &r->allowed, link) {
		if (strcmp(a->addr, addr) == 0)
			return a;
	}
	return NULL;
}

void
relay_allow(struct relay *r, const char *node_addr)
{
	struct allowed *a = find_allowed(r, node_addr);
	size_t n = strlen(node_addr) + 1;

	if (a != NULL) {
		/* Most recently placed first: they are the ones asked for. */
		TAILQ_REMOVE(&r->allowed, a, link);
		TAILQ_INSERT_HEAD(&r->allowed, a, link);
		return;
	}
	if ((a = malloc(sizeof(*a) + n)) == NULL)
		return; /* that node's relays are refused: a local compile */
	memcpy(a->addr, node_addr, n);
	TAILQ_INSERT_HEAD(&r->allowed, a, link);
	if (++r->n_allowed > ALLOWED_MAX) {
		a = TAILQ_LAST(&r->allowed, allowed_head);
		TAILQ_REMOVE(&r->allowed, a, link);
		free(a);
		r->n_allowed--;
	}
}

/* ---- closing ------------------------------------------------------------ */

static void
unref(struct tunnel *t)
{
	if (--t->refs > 0)
		return;
	TAILQ_REMOVE(&t->r->tunnels, t, link);
	dm_buf_free(&t->early);
	free(t);
}

static void
on_closed(uv_handle_t *h)
{
	unref(h->data);
}

static void
close_side(struct side *s)
{
	if (!s->open)
		return;
	s->open = 0;
	s->reading = 0;
	uv_close(&s->h.handle, on_closed);
}

/* Pending writes and the connect request are cancelled by the closes;
 * their callbacks run first and see `closing`. */
static void
close_tunnel(struct tunnel *t)
{
	if (t->closing)
		return;
	t->closing = 1;
	if (t->gai_pending)
		uv_cancel((uv_req_t *)&t->gai);
	uv_close((uv_handle_t *)&t->timer, on_closed);
	close_side(&t->shim);
	close_side(&t->node);
}

/* ---- writing ------------------------------------------------------------ */

static struct side *
other(struct tunnel *t, struct side *s)
{
	return s == &t->shim ? &t->node : &t->shim;
}

static void start_reading(struct tunnel *t, struct side *s);

static void
on_written(uv_write_t *req, int status)
{
	struct chunk *c = (struct chunk *)req;
	struct tunnel *t = c->t;
	struct side *from = c->from;
	int close_after = c->close_after;

	free(c);
	if (t->closing)
		return;
	if (status < 0 || close_after) {
		close_tunnel(t);
		return;
	}
	/* The queue this side's bytes went to has drained: read it again. */
	if (from != NULL &&
	    uv_stream_get_write_queue_size(&other(t, from)->h.stream) == 0)
		start_reading(t, from);
}

/* Writes c's first n bytes to side `to`; c is the write's from now on.
 * Reading c->from stops while `to` cannot take more. */
static int
write_chunk(struct tunnel *t, struct side *to, struct chunk *c, size_t n)
{
	uv_buf_t b = uv_buf_init(c->data, (unsigned)n);
	int rc;

	c->t = t;
	if ((rc = uv_write(&c->req, &to->h.stream, &b, 1, on_written)) != 0) {
		free(c);
		return rc;
	}
	if (c->from != NULL && c->from->reading &&
	    uv_stream_get_write_queue_size(&to->h.stream) > 0) {
		uv_read_stop(&c->from->h.stream);
		c->from->reading = 0;
	}
	return 0;
}

/* A copy of n bytes, written to `to` as if read on `from`. */
static int
write_copy(struct tunnel *t, struct side *to, struct side *from, const void *p,
	   size_t n, int close_after)
{
	struct chunk *c = malloc(sizeof(*c) + n);

	if (c == NULL)
		return -ENOMEM;
	memcpy(c->data, p, n);
	c->from = from;
	c->close_after = close_after;
	return write_chunk(t, to, c, n);
}

static int
send_frame(struct tunnel *t, uint16_t type, const void *msg, int close_after)
{
	struct dm_buf b;
	int rc;

	dm_buf_init(&b);
	if ((rc = dm_msg_encode(&b, type, msg)) == 0)
		rc = write_copy(t, &t->shim, NULL, b.p, b.len, close_after);
	dm_buf_free(&b);
	return rc;
}

/* RELAY_FAIL, then the tunnel closes once it is written. */
static void
refuse(struct tunnel *t, int code, const char *why)
{
	struct dm_msg_relay_fail f = {(uint32_t)-code, (char *)why, 0};

	if (t->failed || t->closing)
		return;
	t->failed = 1;
	uv_timer_stop(&t->timer);
	if (t->gai_pending)
		uv_cancel((uv_req_t *)&t->gai);
	close_side(&t->node);
	if (send_frame(t, DM_MSG_RELAY_FAIL, &f, 1) != 0)
		close_tunnel(t);
}

/* ---- reading ------------------------------------------------------------ */

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct chunk *c = malloc(sizeof(*c) + CHUNK);

	(void)h;
	(void)suggested;
	*buf = c != NULL ? uv_buf_init(c->data, CHUNK) : uv_buf_init(NULL, 0);
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
	struct tunnel *t = req->handle->data;

	if (t->closing)
		return;
	if (req == &t->shim.shutdown)
		t->shim.shut = 1;
	else
		t->node.shut = 1;
	if (status < 0 || (t->shim.shut && t->node.shut))
		close_tunnel(t);
}

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct tunnel *t = st->data;
	struct side *from = st == &t->shim.h.stream ? &t->shim : &t->node;
	struct side *to = other(t, from);
	struct chunk *c =
		buf->base != NULL
			? (struct chunk *)(buf->base -
					   offsetof(struct chunk, data))
			: NULL;

	if (n > 0) {
		c->from = from;
		c->close_after = 0;
		if (write_chunk(t, to, c, (size_t)n) != 0)
			close_tunnel(t);
		return;
	}
	free(c);
	if (n == 0)
		return; /* nothing this time (EAGAIN) */
	if (n != UV_EOF) {
		close_tunnel(t);
		return;
	}
	/* Passed on once what came before it is written. */
	from->eof = 1;
	from->reading = 0;
	uv_read_stop(st);
	if (uv_shutdown(&to->shutdown, &to->h.stream, on_shutdown) != 0)
		close_tunnel(t);
}

static void
start_reading(struct tunnel *t, struct side *s)
{
	if (s->reading || s->eof || !s->open || t->closing)
		return;
	if (uv_read_start(&s->h.stream, on_alloc, on_read) != 0) {
		close_tunnel(t);
		return;
	}
	s->reading = 1;
}

/* ---- reaching the node -------------------------------------------------- */

static void
on_connected(uv_connect_t *req, int status)
{
	struct tunnel *t = req->data;
	char why[512];

	if (t->failed || t->closing)
		return;
	if (status < 0) {
		snprintf(why, sizeof(why), "cannot connect to %s: %s", t->addr,
			 dm_strerror(status));
		dm_info("relay: %s", why);
		refuse(t, status, why);
		return;
	}
	uv_timer_stop(&t->timer);
	t->r->relayed++;
	dm_debug("relay: a shim is connected to node %s", t->addr);
	if (send_frame(t, DM_MSG_RELAY_OK, &(struct dm_msg_relay_ok){0}, 0) !=
		    0 ||
	    (t->early.len > 0 && write_copy(t, &t->node, &t->shim, t->early.p,
					    t->early.len, 0) != 0)) {
		close_tunnel(t);
		return;
	}
	dm_buf_free(&t->early);
	start_reading(t, &t->node);
	if (uv_stream_get_write_queue_size(&t->node.h.stream) == 0)
		start_reading(t, &t->shim);
}

static void
connect_to(struct tunnel *t, const struct sockaddr *sa)
{
	int rc;

	if ((rc = uv_tcp_init(t->r->loop, &t->node.h.tcp)) != 0) {
		refuse(t, rc, "cannot make a TCP handle");
		return;
	}
	t->node.h.handle.data = t;
	t->node.open = 1;
	t->refs++;
	uv_tcp_nodelay(&t->node.h.tcp, 1);
	t->connect.data = t;
	if ((rc = uv_tcp_connect(&t->connect, &t->node.h.tcp, sa,
				 on_connected)) != 0)
		on_connected(&t->connect, rc);
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct tunnel *t = req->data;
	char why[512];

	t->gai_pending = 0;
	if (!t->failed && !t->closing) {
		if (status < 0 || res == NULL) {
			snprintf(why, sizeof(why), "cannot resolve %s: %s",
				 t->addr, uv_strerror(status));
			refuse(t, DM_EADDR, why);
		} else {
			connect_to(t, res->ai_addr);
		}
	}
	uv_freeaddrinfo(res);
	unref(t);
}

static void
on_timeout(uv_timer_t *timer)
{
	struct tunnel *t = timer->data;
	char why[512];

	snprintf(why, sizeof(why), "no connection to %s within %d ms", t->addr,
		 CONNECT_MS);
	dm_info("relay: %s", why);
	refuse(t, DM_ETIMEOUT, why);
}

/* Numeric addresses at once, names through libuv's getaddrinfo. */
static void
reach(struct tunnel *t)
{
	struct addrinfo hints = {0};
	struct sockaddr_storage ss;
	char host[256], port_s[8];
	int port, rc;

	if (dm_net_split(t->addr, host, sizeof(host), &port) != 0) {
		refuse(t, DM_EADDR, "bad node address");
		return;
	}
	uv_timer_start(&t->timer, on_timeout, CONNECT_MS, 0);
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
		connect_to(t, (struct sockaddr *)&ss);
		return;
	}
	snprintf(port_s, sizeof(port_s), "%d", port);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	t->gai.data = t;
	if ((rc = uv_getaddrinfo(t->r->loop, &t->gai, on_resolved, host,
				 port_s, &hints)) != 0) {
		refuse(t, DM_EADDR, uv_strerror(rc));
		return;
	}
	t->gai_pending = 1;
	t->refs++;
}

/* ---- the relay ---------------------------------------------------------- */

void
relay_open(struct relay *r, struct dm_conn *c, const char *node_addr)
{
	struct tunnel *t;
	int fd, rc;

	if (r->stopping || (t = calloc(1, sizeof(*t))) == NULL) {
		dm_conn_close(c, DM_ECLOSED);
		return;
	}
	t->r = r;
	dm_buf_init(&t->early);
	snprintf(t->addr, sizeof(t->addr), "%s", node_addr);
	TAILQ_INSERT_TAIL(&r->tunnels, t, link);
	uv_timer_init(r->loop, &t->timer);
	t->timer.data = t;
	t->refs = 1;
	if ((rc = dm_conn_detach(c, &fd, &t->early)) != 0) {
		dm_warn("relay to %s: %s", node_addr, dm_strerror(rc));
		close_tunnel(t);
		return;
	}
	uv_pipe_init(r->loop, &t->shim.h.pipe, 0);
	t->shim.h.handle.data = t;
	t->shim.open = 1;
	t->refs++;
	if ((rc = uv_pipe_open(&t->shim.h.pipe, fd)) != 0) {
		close(fd);
		close_tunnel(t);
		return;
	}
	if (find_allowed(r, node_addr) == NULL) {
		dm_warn("refused a relay to %s: no job of this build was "
			"placed there",
			node_addr);
		refuse(t, -EPERM, "not a node this build was placed on");
		return;
	}
	reach(t);
}

unsigned
relay_count(const struct relay *r)
{
	return r->relayed;
}

int
relay_new(uv_loop_t *loop, struct relay **out)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -ENOMEM;
	r->loop = loop;
	TAILQ_INIT(&r->allowed);
	TAILQ_INIT(&r->tunnels);
	*out = r;
	return 0;
}

void
relay_stop(struct relay *r)
{
	struct tunnel *t;

	r->stopping = 1;
	TAILQ_FOREACH(t, &r->tunnels, link) {
		close_tunnel(t);
	}
}

void
relay_free(struct relay *r)
{
	struct allowed *a;
	struct tunnel *t;

	if (r == NULL)
		return;
	/* Closed by the loop's end (uv_walk) without our callbacks. */
	while ((t = TAILQ_FIRST(&r->tunnels)) != NULL) {
		TAILQ_REMOVE(&r->tunnels, t, link);
		dm_buf_free(&t->early);
		free(t);
	}
	while ((a = TAILQ_FIRST(&r->allowed)) != NULL) {
		TAILQ_REMOVE(&r->allowed, a, link);
		free(a);
	}
	free(r);
}
