/*
 * link.c: see link.h.
 *
 * A blocking thread rather than a libuv loop: the link is one socket
 * with one message every second, and the rest of the node (one thread
 * per job) is blocking too.  The thread waits in poll() on the socket
 * and on a pipe that node_link_stop() writes to, so stopping never waits
 * for a heartbeat or a retry delay.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/clock.h"
#include "../lib/err.h"
#include "../lib/io.h"
#include "../lib/log.h"
#include "../lib/net.h"
#include "link.h"
#include "tccache.h"

#define RETRY_MS 2000
#define CONNECT_MS 3000
/* Reads and writes on the link; a scheduler slower than this is gone. */
#define IO_MS 10000
/* The scheduler drops a node silent for 5 s: never wait that long, even
 * if told to. */
#define HEARTBEAT_MAX_MS 4000
#define HEARTBEAT_MIN_MS 50

struct node_link {
	struct node *n;
	pthread_t thread;
	int wake[2]; /* written to stop the thread */
	int fd;
	uint32_t heartbeat_ms;
	int last_err; /* so a scheduler that stays away is logged once */
	uint64_t tc_gen; /* the cache generation NODE_TOOLCHAINS last said */
	int tc_sent;	 /* on this connection */
};

/* Waits up to ms for the socket (fd >= 0) to be readable.  Returns 1
 * readable, 0 timeout, -1 stop requested. */
static int
wait_for(struct node_link *l, int fd, int ms)
{
	struct pollfd p[2] = {{l->wake[0], POLLIN, 0}, {fd, POLLIN, 0}};
	int rc;

	do
		rc = poll(p, fd >= 0 ? 2 : 1, ms);
	while (rc < 0 && errno == EINTR);
	if (atomic_load(&l->n->stopping) || (p[0].revents & POLLIN))
		return -1;
	return rc > 0 && p[1].revents != 0 ? 1 : 0;
}

static uint32_t
load_milli(void)
{
	char buf[128];
	uint32_t milli = 0;
	ssize_t got;
	int fd;

	if ((fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got <= 0)
		return 0;
	buf[got] = '\0';
	(void)node_parse_loadavg(buf, &milli);
	return milli;
}

static int
send_load(struct node_link *l)
{
	struct dm_msg_node_load m = {
		.running = (uint32_t)atomic_load(&l->n->running),
		.load_milli = load_milli(),
	};

	return dm_io_send(l->fd, DM_MSG_NODE_LOAD, &m);
}

/* NODE_TOOLCHAINS: that this node runs toolchains builds send it, and
 * the ones it holds, whenever they changed (checked every heartbeat). */
static int
send_toolchains(struct node_link *l)
{
	struct dm_msg_node_toolchains m = {.archives = 1};
	struct node_tccache *c = l->n->tcc;
	uint64_t gen;
	size_t n = 0;
	char **v;
	int rc;

	if (c == NULL || (l->tc_sent && node_tccache_gen(c) == l->tc_gen))
		return 0;
	if ((rc = node_tccache_adverts(c, &v, &n, &gen)) != 0)
		return rc;
	m.cached = v;
	m.cached_n = (uint32_t)n;
	rc = dm_io_send(l->fd, DM_MSG_NODE_TOOLCHAINS, &m);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	if (rc == 0) {
		l->tc_gen = gen;
		l->tc_sent = 1;
		dm_debug("told the scheduler of %zu cached toolchains", n);
	}
	return rc;
}

/* Connects, authenticates and registers.  Returns 0 with l->fd open. */
static int
connect_register(struct node_link *l, char *why, size_t why_len)
{
	struct node *n = l->n;
	struct dm_msg_node_register r = {0};
	char local[300], addr[300];
	char **tcs = NULL;
	size_t ntc = 0;
	struct dm_buf frame;
	union dm_msg m;
	int fd, rc;

	why[0] = '\0';
	if ((fd = dm_net_connect(n->scheduler, CONNECT_MS)) < 0)
		return fd;
	dm_io_set_timeout(fd, IO_MS);
	dm_buf_init(&frame);
	if ((rc = dm_auth_client(fd, &n->key, DM_ROLE_NODE)) != 0)
		goto err_after_fd;
	/* Where this link leaves from is where shims can find the node too,
	 * when it listens on every address. */
	if (dm_net_name(fd, 0, local, sizeof(local)) != 0)
		local[0] = '\0';
	if (n->opts.advertise != NULL)
		snprintf(addr, sizeof(addr), "%s", n->opts.advertise);
	else if ((rc = node_advertise(n->listen, local[0] ? local : NULL, addr,
				      sizeof(addr))) != 0)
		goto err_after_fd;
	if (n->ncc > 0 && (tcs = calloc(n->ncc, sizeof(*tcs))) == NULL) {
		rc = -ENOMEM;
		goto err_after_fd;
	}
	/* Only what passed the start-up check: a node whose sandbox does
	 * not work offers nothing, and is placed nothing. */
	for (size_t i = 0; i < n->ncc; i++)
		if (n->cc[i].offered)
			tcs[ntc++] = n->cc[i].advert;
	r.name = n->name;
	r.addr = addr;
	r.platform = n->platform;
	r.slots = (uint32_t)n->slots;
	r.toolchains = tcs;
	r.toolchains_n = (uint32_t)ntc;
	rc = dm_io_send(fd, DM_MSG_NODE_REGISTER, &r);
	free(tcs);
	if (rc != 0)
		goto err_after_fd;
	if ((rc = dm_io_expect(fd, &frame, DM_MSG_NODE_ACCEPT, &m, why,
			       why_len)) != 0) {
		if (rc == DM_EPROTO || rc == DM_ETOOBIG)
			snprintf(why, why_len, "%s", dm_wire_errmsg());
		goto err_after_fd;
	}
	l->heartbeat_ms = m.node_accept.heartbeat_ms;
	if (l->heartbeat_ms > HEARTBEAT_MAX_MS)
		l->heartbeat_ms = HEARTBEAT_MAX_MS;
	if (l->heartbeat_ms < HEARTBEAT_MIN_MS)
		l->heartbeat_ms = HEARTBEAT_MIN_MS;
	dm_info("registered with %s as node %" PRIu64 ": %s, %d slots, "
		"%zu toolchains",
		n->scheduler, m.node_accept.node_id, addr, n->slots, ntc);
	dm_msg_free(DM_MSG_NODE_ACCEPT, &m);
	dm_buf_free(&frame);
	l->fd = fd;
	return 0;

err_after_fd:
	dm_buf_free(&frame);
	close(fd);
	return rc;
}

/* Serves a registered link until it fails (returns the reason) or the
 * node stops (returns 0). */
static int
serve(struct node_link *l)
{
	struct dm_buf frame;
	uint64_t next = dm_now_ms();
	union dm_msg m;
	uint16_t type;
	int rc = 0;

	dm_buf_init(&frame);
	for (;;) {
		uint64_t t = dm_now_ms();
		int w;

		if (t >= next) {
			if ((rc = send_load(l)) != 0 ||
			    (rc = send_toolchains(l)) != 0)
				break;
			next = t + l->heartbeat_ms;
		}
		if ((w = wait_for(l, l->fd, (int)(next - t))) < 0) {
			rc = 0;
			break;
		}
		if (w == 0)
			continue;
		if ((rc = dm_io_recv(l->fd, &frame, &type, &m)) != 0) {
			if (rc == DM_EPROTO || rc == DM_ETOOBIG)
				dm_warn("scheduler %s: malformed frame: %s",
					l->n->scheduler, dm_wire_errmsg());
			break;
		}
		if (type == DM_MSG_PING) {
			struct dm_msg_pong p = {.seq = m.ping.seq};

			rc = dm_io_send(l->fd, DM_MSG_PONG, &p);
		} else if (type == DM_MSG_ERROR) {
			dm_warn("scheduler %s: %s", l->n->scheduler,
				m.error.text);
		} else if (type != DM_MSG_PONG) {
			dm_debug("scheduler %s: ignoring %s", l->n->scheduler,
				 dm_msg_name(type));
		}
		dm_msg_free(type, &m);
		if (rc != 0)
			break;
	}
	dm_buf_free(&frame);
	close(l->fd);
	l->fd = -1;
	l->tc_sent = 0;
	return rc;
}

static void *
run(void *arg)
{
	struct node_link *l = arg;
	char why[256];
	int rc;

	while (!atomic_load(&l->n->stopping)) {
		if ((rc = connect_register(l, why, sizeof(why))) == 0) {
			l->last_err = 0;
			rc = serve(l);
			if (rc == 0)
				break;
			dm_warn("lost the scheduler %s: %s; reconnecting",
				l->n->scheduler, dm_strerror(rc));
		} else if (rc != l->last_err) {
			/* Once per kind of failure, not every 2 s. */
			dm_warn("cannot register with the scheduler %s: "
				"%s%s%s",
				l->n->scheduler, dm_strerror(rc),
				why[0] ? ": " : "", why);
			l->last_err = rc;
		}
		if (wait_for(l, -1, RETRY_MS) < 0)
			break;
	}
	return NULL;
}

int
node_link_start(struct node *n, struct node_link **out)
{
	struct node_link *l = calloc(1, sizeof(*l));
	int rc;

	if (l == NULL)
		return -ENOMEM;
	l->n = n;
	l->fd = -1;
	if (pipe2(l->wake, O_CLOEXEC) != 0) {
		rc = -errno;
		goto err_after_link;
	}
	if ((rc = -pthread_create(&l->thread, NULL, run, l)) != 0)
		goto err_after_pipe;
	*out = l;
	return 0;

err_after_pipe:
	close(l->wake[0]);
	close(l->wake[1]);
err_after_link:
	free(l);
	return rc;
}

void
node_link_stop(struct node_link *l)
{
	if (l == NULL)
		return;
	(void)!write(l->wake[1], "x", 1);
	pthread_join(l->thread, NULL);
	close(l->wake[0]);
	close(l->wake[1]);
	free(l);
}
