/* http.c: see http.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "../lib/log.h"
#include "../lib/net.h"
#include "http.h"

#define REQ_MAX 8192
#define REQ_TIMEOUT_MS 5000

struct client {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct sched_http *h;
	LIST_ENTRY(client) link;
	int closes_pending; /* 0 while open */
	int answered;
	size_t len;
	char req[REQ_MAX];
};

struct sched_http {
	uv_tcp_t server;
	sched_http_body_fn fn;
	void *arg;
	LIST_HEAD(, client) clients;
};

struct reply {
	uv_write_t req;
	struct client *cl;
	struct dm_buf data;
};

static void
on_client_closed(uv_handle_t *handle)
{
	struct client *cl = handle->data;

	if (--cl->closes_pending == 0)
		free(cl);
}

static void
client_close(struct client *cl)
{
	if (cl->closes_pending != 0)
		return;
	LIST_REMOVE(cl, link);
	cl->closes_pending = 2;
	uv_close((uv_handle_t *)&cl->timer, on_client_closed);
	uv_close((uv_handle_t *)&cl->tcp, on_client_closed);
}

static void
on_reply_written(uv_write_t *req, int status)
{
	struct reply *r = (struct reply *)req;

	(void)status;
	client_close(r->cl);
	dm_buf_free(&r->data);
	free(r);
}

static void
respond(struct client *cl, const char *status, const char *type,
	const struct dm_buf *body)
{
	struct reply *r = calloc(1, sizeof(*r));
	size_t blen = body != NULL ? body->len : 0;
	uv_buf_t b;

	cl->answered = 1;
	uv_read_stop((uv_stream_t *)&cl->tcp);
	if (r == NULL)
		goto err;
	dm_buf_init(&r->data);
	r->cl = cl;
	if (dm_buf_appendf(&r->data,
			   "HTTP/1.0 %s\r\nContent-Type: %s\r\n"
			   "Content-Length: %zu\r\nCache-Control: no-store\r\n"
			   "Connection: close\r\n\r\n",
			   status, type, blen) != 0 ||
	    (blen > 0 && dm_buf_append(&r->data, body->p, blen) != 0))
		goto err_after_reply;
	b = uv_buf_init((char *)r->data.p, (unsigned)r->data.len);
	if (uv_write(&r->req, (uv_stream_t *)&cl->tcp, &b, 1,
		     on_reply_written) != 0)
		goto err_after_reply;
	return;

err_after_reply:
	dm_buf_free(&r->data);
	free(r);
err:
	client_close(cl);
}

static void
respond_text(struct client *cl, const char *status)
{
	struct dm_buf body;

	dm_buf_init(&body);
	if (dm_buf_appendf(&body, "%s\n", status) != 0) {
		client_close(cl);
		return;
	}
	respond(cl, status, "text/plain", &body);
	dm_buf_free(&body);
}

/* Answers once the request head is complete.  Only the request line
 * matters; headers are skipped. */
static void
handle(struct client *cl)
{
	char *line_end, *path, *sp;
	struct dm_buf body;

	if (memmem(cl->req, cl->len, "\r\n\r\n", 4) == NULL &&
	    memmem(cl->req, cl->len, "\n\n", 2) == NULL) {
		if (cl->len == REQ_MAX)
			respond_text(cl, "400 Bad Request");
		return;
	}
	line_end = memchr(cl->req, '\n', cl->len);
	*line_end = '\0';
	if (strncmp(cl->req, "GET ", 4) != 0) {
		respond_text(cl, "405 Method Not Allowed");
		return;
	}
	path = cl->req + 4;
	if ((sp = strpbrk(path, " \r?")) != NULL)
		*sp = '\0';
	if (strcmp(path, "/status") != 0) {
		respond_text(cl, "404 Not Found");
		return;
	}
	dm_buf_init(&body);
	if (cl->h->fn(cl->h->arg, &body) != 0 ||
	    dm_buf_append(&body, "\n", 1) != 0)
		respond_text(cl, "500 Internal Server Error");
	else
		respond(cl, "200 OK", "application/json", &body);
	dm_buf_free(&body);
}

static void
on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct client *cl = handle->data;

	(void)suggested;
	*buf = uv_buf_init(cl->req + cl->len, (unsigned)(REQ_MAX - cl->len));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *cl = s->data;

	(void)buf;
	if (n < 0) {
		client_close(cl);
		return;
	}
	cl->len += (size_t)n;
	if (!cl->answered)
		handle(cl);
}

static void
on_timeout(uv_timer_t *t)
{
	client_close(t->data);
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct sched_http *h = server->data;
	struct client *cl;

	if (status < 0 || (cl = calloc(1, sizeof(*cl))) == NULL)
		return;
	cl->h = h;
	uv_tcp_init(server->loop, &cl->tcp);
	uv_timer_init(server->loop, &cl->timer);
	cl->tcp.data = cl;
	cl->timer.data = cl;
	LIST_INSERT_HEAD(&h->clients, cl, link);
	if (uv_accept(server, (uv_stream_t *)&cl->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&cl->tcp, on_alloc, on_read) != 0) {
		client_close(cl);
		return;
	}
	uv_timer_start(&cl->timer, on_timeout, REQ_TIMEOUT_MS, 0);
}

int
sched_http_start(uv_loop_t *loop, const char *addr, sched_http_body_fn fn,
		 void *arg, struct sched_http **out)
{
	struct sched_http *h;
	int fd, rc;

	if ((fd = dm_net_listen(addr, 64)) < 0)
		return fd;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	h->fn = fn;
	h->arg = arg;
	LIST_INIT(&h->clients);
	uv_tcp_init(loop, &h->server);
	h->server.data = h;
	if ((rc = uv_tcp_open(&h->server, fd)) != 0) {
		close(fd);
		goto err_after_handle;
	}
	if ((rc = uv_listen((uv_stream_t *)&h->server, 64, on_connection)) !=
	    0)
		goto err_after_handle;
	*out = h;
	return 0;

err_after_handle:
	sched_http_close(h);
	return rc;
}

static void
on_server_closed(uv_handle_t *handle)
{
	free(handle->data);
}

void
sched_http_close(struct sched_http *h)
{
	struct client *cl;

	if (h == NULL)
		return;
	while ((cl = LIST_FIRST(&h->clients)) != NULL)
		client_close(cl);
	uv_close((uv_handle_t *)&h->server, on_server_closed);
}
