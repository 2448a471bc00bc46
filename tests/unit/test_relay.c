/*
 * test_relay.c: jobserver/relay.c, the coordinator's relay from shims to
 * nodes, with the coordinator's own pieces around it: a libuv loop, a
 * Unix socket served through dm_conn whose first message RELAY is handed
 * to relay_open(), and a "node" that is a plain TCP listener on
 * loopback.  The shim side and the node side are blocking sockets in
 * threads; the loop runs in the test's thread.
 *
 * Checked: an address no placement named is refused (RELAY_FAIL EPERM,
 * then end of file) and nothing connects; an allowed address that
 * refuses connections is RELAY_FAIL with that error; through an open
 * relay, bytes the shim sent right behind RELAY reach the node first,
 * megabytes go both ways intact and an end of file is passed on in
 * each direction; and a node that reads nothing stalls the shim's
 * writes after a bounded amount (backpressure), then gets every byte
 * once it reads.  No check depends on timing: the stall is found by a
 * poll that sees no room for a while, and a slow machine can only make
 * the bound easier to meet.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <uv.h>

#include "../../jobserver/relay.h"
#include "../../lib/buf.h"
#include "../../lib/conn.h"
#include "../../lib/err.h"
#include "../../lib/io.h"
#include "../../lib/net.h"
#include "tap.h"

#define BIG (3u << 20)		/* bytes each way through an open relay */
#define STALL_CAP (64u << 20)	/* a relay without backpressure takes this */
#define STALL_BOUND (40u << 20) /* socket buffers and one read, with room */

struct harness {
	uv_loop_t loop;
	uv_pipe_t server;
	uv_async_t done;
	struct relay *r;
	char sock[512];
	int node_fd; /* listening, blocking */
	char node_addr[64];
	int not_first; /* the connection sent something before RELAY */
	unsigned relayed; /* relay_count() at the end */
};

static void
on_msg(struct dm_conn *c, uint16_t type, union dm_msg *m)
{
	struct harness *h = dm_conn_data(c);

	if (type == DM_MSG_RELAY)
		relay_open(h->r, c, m->relay.node_addr);
	else
		h->not_first = 1;
}

static void
on_close(struct dm_conn *c, int reason)
{
	(void)c;
	(void)reason;
}

static const struct dm_conn_ops ops = {.on_msg = on_msg,
				       .on_close = on_close};

static void
on_connection(uv_stream_t *server, int status)
{
	struct harness *h = server->data;

	if (status == 0)
		dm_conn_accept(server, NULL, &ops, h);
}

static void
on_done(uv_async_t *a)
{
	struct harness *h = a->data;

	relay_stop(h->r);
	uv_close((uv_handle_t *)&h->server, NULL);
	uv_close((uv_handle_t *)&h->done, NULL);
}

static void
harness_init(struct harness *h)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	memset(h, 0, sizeof(*h));
	ASSERT_OK(uv_loop_init(&h->loop));
	ASSERT_OK(relay_new(&h->loop, &h->r));
	snprintf(h->sock, sizeof(h->sock), "%s/sock", tap_tmpdir());
	ASSERT_OK(uv_pipe_init(&h->loop, &h->server, 0));
	h->server.data = h;
	ASSERT_OK(uv_pipe_bind(&h->server, h->sock));
	ASSERT_OK(uv_listen((uv_stream_t *)&h->server, 8, on_connection));
	ASSERT_OK(uv_async_init(&h->loop, &h->done, on_done));
	h->done.data = h;
	h->node_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_TRUE(h->node_fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ_INT(bind(h->node_fd, (struct sockaddr *)&sin, sizeof(sin)),
		      0);
	ASSERT_EQ_INT(listen(h->node_fd, 8), 0);
	ASSERT_EQ_INT(getsockname(h->node_fd, (struct sockaddr *)&sin, &len),
		      0);
	snprintf(h->node_addr, sizeof(h->node_addr), "127.0.0.1:%d",
		 ntohs(sin.sin_port));
}

struct shim_thread {
	struct harness *h;
	void (*fn)(void *);
	void *arg;
};

static void *
shim_main(void *arg)
{
	struct shim_thread *st = arg;

	st->fn(st->arg);
	uv_async_send(&st->h->done);
	return NULL;
}

/* Runs fn(arg), the shim's side, in a thread and the loop here until fn
 * has returned and every handle has closed; then frees the relay. */
static void
harness_run(struct harness *h, void (*fn)(void *), void *arg)
{
	struct shim_thread st = {h, fn, arg};
	pthread_t shim;

	ASSERT_EQ_INT(pthread_create(&shim, NULL, shim_main, &st), 0);
	ASSERT_EQ_INT(uv_run(&h->loop, UV_RUN_DEFAULT), 0);
	ASSERT_EQ_INT(pthread_join(shim, NULL), 0);
	ASSERT_EQ_INT(uv_loop_close(&h->loop), 0);
	h->relayed = relay_count(h->r);
	relay_free(h->r);
}

/* The shim's side: connects, sends RELAY and `early` in one write. */
static int
shim_open(struct harness *h, const char *addr, const char *early)
{
	struct dm_msg_relay r = {(char *)addr, 0};
	struct dm_buf b;
	int fd;

	if ((fd = dm_net_connect_unix(h->sock)) < 0)
		return fd;
	dm_buf_init(&b);
	if (dm_msg_encode(&b, DM_MSG_RELAY, &r) != 0 ||
	    dm_buf_append(&b, early, strlen(early)) != 0 ||
	    dm_io_write_all(fd, b.p, b.len) != 0) {
		close(fd);
		fd = -1;
	}
	dm_buf_free(&b);
	dm_io_set_timeout(fd, 20000);
	return fd;
}

/* The answer to RELAY: 0 for RELAY_OK, else RELAY_FAIL's code negated. */
static int
shim_answer(int fd)
{
	struct dm_buf frame;
	union dm_msg m;
	uint16_t type;
	int rc;

	dm_buf_init(&frame);
	if ((rc = dm_io_recv(fd, &frame, &type, &m)) == 0) {
		if (type == DM_MSG_RELAY_FAIL)
			rc = -(int)m.relay_fail.code;
		else if (type != DM_MSG_RELAY_OK)
			rc = DM_EUNEXPECTED;
		dm_msg_free(type, &m);
	}
	dm_buf_free(&frame);
	return rc;
}

/* 1 when the peer closes with nothing more to read. */
static int
at_eof(int fd)
{
	char c;

	return read(fd, &c, 1) == 0;
}

static uint8_t
pattern(size_t i, unsigned salt)
{
	return (uint8_t)((i * 7 + salt + (i >> 12)) & 0xff);
}

static int
send_pattern(int fd, size_t n, unsigned salt)
{
	static uint8_t buf[65536];

	for (size_t off = 0; off < n;) {
		size_t k = n - off < sizeof(buf) ? n - off : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(off + i, salt);
		if (dm_io_write_all(fd, buf, k) != 0)
			return -1;
		off += k;
	}
	return 0;
}

/* Reads to end of file; returns the bytes read, or -1 if one differs
 * from the pattern. */
static long
recv_pattern(int fd, unsigned salt)
{
	uint8_t buf[65536];
	size_t total = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(total + (size_t)i, salt))
				return -1;
		total += (size_t)n;
	}
	return n < 0 ? -1 : (long)total;
}

/* ---- refusals ------------------------------------------------------------- */

struct refusals {
	struct harness *h;
	char closed_addr[64];
	int never_placed, never_placed_eof, refused, refused_eof;
};

static void
refusals_shim(void *arg)
{
	struct refusals *t = arg;
	int fd;

	fd = shim_open(t->h, t->h->node_addr, "");
	t->never_placed = shim_answer(fd);
	t->never_placed_eof = at_eof(fd);
	close(fd);
	fd = shim_open(t->h, t->closed_addr, "");
	t->refused = shim_answer(fd);
	t->refused_eof = at_eof(fd);
	close(fd);
}

TEST(relay_refuses_what_no_placement_named)
{
	struct harness h;
	struct refusals t = {.h = &h};
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, flags;

	harness_init(&h);
	/* A port nothing listens on: bound, then closed. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ_INT(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ASSERT_EQ_INT(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(t.closed_addr, sizeof(t.closed_addr), "127.0.0.1:%d",
		 ntohs(sin.sin_port));
	close(fd);
	relay_allow(h.r, t.closed_addr);
	harness_run(&h, refusals_shim, &t);
	ASSERT_EQ_INT(t.never_placed, -EPERM);
	ASSERT_TRUE(t.never_placed_eof);
	ASSERT_EQ_INT(t.refused, -ECONNREFUSED);
	ASSERT_TRUE(t.refused_eof);
	ASSERT_EQ_INT(h.relayed, 0);
	ASSERT_EQ_INT(h.not_first, 0);
	/* Nothing ever connected to the node that was not placed on. */
	flags = fcntl(h.node_fd, F_GETFL);
	fcntl(h.node_fd, F_SETFL, flags | O_NONBLOCK);
	ASSERT_EQ_INT(accept(h.node_fd, NULL, NULL), -1);
	ASSERT_EQ_INT(errno, EAGAIN);
	close(h.node_fd);
}

/* ---- both ways -------------------------------------------------------------- */

struct both {
	struct harness *h;
	int answer;
	long node_got, shim_got;
	int early_first;
};

static void *
both_node(void *arg)
{
	struct both *t = arg;
	char hello[5];
	int fd = accept(t->h->node_fd, NULL, NULL);

	if (fd < 0)
		return NULL;
	t->early_first = dm_io_read_all(fd, hello, 5) == 0 &&
			 memcmp(hello, "hello", 5) == 0;
	t->node_got = recv_pattern(fd, 1);
	/* The shim's end of file came through: answer, then close. */
	send_pattern(fd, BIG, 2);
	close(fd);
	return NULL;
}

static void
both_shim(void *arg)
{
	struct both *t = arg;
	pthread_t node;
	int fd;

	pthread_create(&node, NULL, both_node, t);
	fd = shim_open(t->h, t->h->node_addr, "hello");
	if ((t->answer = shim_answer(fd)) == 0) {
		send_pattern(fd, BIG, 1);
		shutdown(fd, SHUT_WR);
		t->shim_got = recv_pattern(fd, 2);
	}
	close(fd);
	pthread_join(node, NULL);
}

TEST(relay_carries_bytes_both_ways)
{
	struct harness h;
	struct both t = {.h = &h};
	harness_init(&h);
	relay_allow(h.r, "10.9.9.9:1"); /* others may be allowed too */
	relay_allow(h.r, h.node_addr);
	harness_run(&h, both_shim, &t);
	ASSERT_EQ_INT(t.answer, 0);
	ASSERT_TRUE(t.early_first);
	ASSERT_EQ_INT(t.node_got, BIG);
	ASSERT_EQ_INT(t.shim_got, BIG);
	ASSERT_EQ_INT(h.relayed, 1);
	close(h.node_fd);
}

/* ---- backpressure ------------------------------------------------------------ */

struct stall {
	struct harness *h;
	int answer, node_fd;
	size_t written;
	long node_got;
};

/* Writes without blocking until no room shows up for a while. */
static size_t
write_until_stalled(int fd)
{
	static uint8_t buf[65536];
	struct pollfd p = {fd, POLLOUT, 0};
	size_t total = 0;
	int flags = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	while (total < STALL_CAP) {
		ssize_t n;

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(total + i, 3);
		n = write(fd, buf, sizeof(buf));
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN)
			break;
		if (poll(&p, 1, 500) == 0)
			break; /* the relay stopped reading us */
	}
	fcntl(fd, F_SETFL, flags);
	return total;
}

static void
stall_shim(void *arg)
{
	struct stall *t = arg;
	int fd = shim_open(t->h, t->h->node_addr, "");

	if ((t->answer = shim_answer(fd)) == 0) {
		/* The node accepted and reads nothing yet. */
		t->node_fd = accept(t->h->node_fd, NULL, NULL);
		t->written = write_until_stalled(fd);
		shutdown(fd, SHUT_WR);
		t->node_got = recv_pattern(t->node_fd, 3);
		close(t->node_fd);
		(void)at_eof(fd);
	}
	close(fd);
}

TEST(relay_holds_back_a_fast_writer)
{
	struct harness h;
	struct stall t = {.h = &h};
	harness_init(&h);
	relay_allow(h.r, h.node_addr);
	harness_run(&h, stall_shim, &t);
	ASSERT_EQ_INT(t.answer, 0);
	ASSERT_GE_INT(STALL_BOUND, t.written);
	ASSERT_GE_INT(t.written, 1);
	ASSERT_EQ_INT(t.node_got, (long)t.written);
	close(h.node_fd);
}
