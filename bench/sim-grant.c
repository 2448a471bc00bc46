/*
 * sim-grant.c: how fast a change of the cluster reaches make's
 * jobserver.  Part of bench/sim; a benchmark, not a test.
 *
 *   dmake run -- bench/sim-grant [--slots S] [--rounds R]
 *
 * Between the real dmake-sched (DMAKE_SCHEDULER, DMAKE_KEY_FILE) and the
 * real coordinator it runs under (its jobserver FIFO from MAKEFLAGS, its
 * socket from DMAKE_SOCKET), this program plays the rest of a cluster
 * over the real protocol:
 *
 * - node A of S slots, and 2S shims that place jobs through the
 *   coordinator on toolchain "simtc", which only the fake nodes have: S
 *   run on A and S wait, so the build always wants more than it has (as
 *   a build that keeps a full farm busy does) and is granted every slot;
 * - node B of S slots, which joins and leaves R times.
 *
 * Each round measures, in the jobserver as make sees it:
 *   join:  B's NODE_REGISTER written -> the first, and the S-th, new
 *          token readable in the FIFO (the grant went from S to 2S);
 *   leave: B's connection closed, with every token back in the FIFO ->
 *          the FIFO holding S tokens fewer (the coordinator read back
 *          what the smaller grant no longer covers).
 * and prints the median, the 90th percentile and the worst, in ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "../lib/auth.h"
#include "../lib/buf.h"
#include "../lib/clock.h"
#include "../lib/err.h"
#include "../lib/io.h"
#include "../lib/msgs.h"
#include "../lib/net.h"
#include "../lib/wire.h"

#define TC "simtc"
#define WAIT_MS 5000 /* a step that takes longer than this failed */
#define MAX_SHIMS 512

struct shim {
	int fd;
	uint64_t ticket; /* 0: its PLACE waits */
	int on_b;	 /* the ticket is on node B */
};

static const char *sched_addr;
static struct dm_key key;
static int fifo = -1;
static struct shim shims[MAX_SHIMS];
static int nshims;
static int node_a = -1, node_b = -1;
static uint64_t next_req;
static struct dm_buf frame;
static char b_name[32] = "sim-B";
static double last_load;

static void
die(const char *what, int rc)
{
	fprintf(stderr, "sim-grant: %s: %s\n", what, dm_strerror(rc));
	exit(1);
}

static double
now_ms(void)
{
	return (double)dm_now_us() / 1e3;
}

static int
fifo_count(void)
{
	int n = 0;

	if (ioctl(fifo, FIONREAD, &n) != 0)
		die("FIONREAD on the jobserver", -errno);
	return n;
}

/* Reads every token in the FIFO; returns how many. */
static int
drain(void)
{
	char buf[4096];
	int got = 0;
	ssize_t n;

	while ((n = read(fifo, buf, sizeof(buf))) > 0)
		got += (int)n;
	if (n < 0 && errno != EAGAIN)
		die("reading the jobserver", -errno);
	return got;
}

static void
put_back(int n)
{
	char buf[4096];

	memset(buf, '+', sizeof(buf));
	while (n > 0) {
		int k = n > (int)sizeof(buf) ? (int)sizeof(buf) : n;

		if (write(fifo, buf, (size_t)k) != k)
			die("writing the jobserver", -errno);
		n -= k;
	}
}

static int
node_connect(const char *name, uint32_t slots)
{
	char *tcs[] = {TC " gcc 0.0.0"};
	struct dm_msg_node_register r = {
		.name = (char *)name,
		.addr = "127.0.0.1:9", /* never connected to: no job runs */
		.platform = "x86_64",
		.slots = slots,
		.toolchains = tcs,
		.toolchains_n = 1,
	};
	union dm_msg m;
	int fd, rc;

	if ((fd = dm_net_connect(sched_addr, WAIT_MS)) < 0)
		die("connecting to the scheduler", fd);
	dm_io_set_timeout(fd, WAIT_MS);
	if ((rc = dm_auth_client(fd, &key, DM_ROLE_NODE)) != 0)
		die("handshake", rc);
	if ((rc = dm_io_send(fd, DM_MSG_NODE_REGISTER, &r)) != 0 ||
	    (rc = dm_io_expect(fd, &frame, DM_MSG_NODE_ACCEPT, &m, NULL, 0)) !=
		    0)
		die("registering a node", rc);
	dm_msg_free(DM_MSG_NODE_ACCEPT, &m);
	return fd;
}

static void
place(struct shim *s)
{
	struct dm_msg_place p = {
		.req = ++next_req, .toolchain = TC, .unit_bytes = 1000};
	int rc;

	s->ticket = 0;
	s->on_b = 0;
	if ((rc = dm_io_send(s->fd, DM_MSG_PLACE, &p)) != 0)
		die("PLACE", rc);
}

/* Node A's heartbeat; the scheduler drops a node silent for 5 s. */
static void
heartbeat(void)
{
	struct dm_msg_node_load l = {0};

	if (now_ms() - last_load < 500)
		return;
	last_load = now_ms();
	if (dm_io_send(node_a, DM_MSG_NODE_LOAD, &l) != 0)
		die("NODE_LOAD", -EPIPE);
	if (node_b >= 0)
		(void)dm_io_send(node_b, DM_MSG_NODE_LOAD, &l);
}

/* Reads whatever the shims got (PLACED), for up to ms; returns when
 * want_placed shims hold a ticket (or at once with want_placed < 0). */
static void
pump(int ms, int want_placed)
{
	struct pollfd p[MAX_SHIMS];
	double until = now_ms() + ms;

	for (;;) {
		int placed = 0, left = (int)(until - now_ms());

		for (int i = 0; i < nshims; i++)
			placed += shims[i].ticket != 0;
		if (want_placed >= 0 && placed >= want_placed)
			return;
		if (left <= 0) {
			if (want_placed >= 0)
				die("waiting for placements", DM_ETIMEOUT);
			return;
		}
		heartbeat();
		for (int i = 0; i < nshims; i++)
			p[i] = (struct pollfd){.fd = shims[i].fd,
					       .events = POLLIN};
		if (poll(p, (nfds_t)nshims, left < 100 ? left : 100) < 0 &&
		    errno != EINTR)
			die("poll", -errno);
		for (int i = 0; i < nshims; i++) {
			union dm_msg m;
			uint16_t type;
			int rc;

			if (!(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			if ((rc = dm_io_recv(shims[i].fd, &frame, &type,
					     &m)) != 0)
				die("reading from the coordinator", rc);
			if (type == DM_MSG_PLACED) {
				shims[i].ticket = m.placed.ticket;
				shims[i].on_b = strcmp(m.placed.node_name,
						       b_name) == 0;
			} else if (type == DM_MSG_PLACE_FAIL) {
				fprintf(stderr, "sim-grant: PLACE_FAIL: %s\n",
					m.place_fail.reason);
				exit(1);
			}
			dm_msg_free(type, &m);
		}
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	printf("%-34s median %7.2f ms   p90 %7.2f ms   max %7.2f ms   (%d rounds)\n",
	       what, v[n / 2], v[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1],
	       v[n - 1], n);
}

int
main(int argc, char **argv)
{
	const char *mf = getenv("MAKEFLAGS"), *sock = getenv("DMAKE_SOCKET");
	const char *kf = getenv("DMAKE_KEY_FILE"), *p;
	char path[4096];
	int slots = 8, rounds = 20, rc, held;
	double *join1, *joinall, *leave;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--slots") == 0 && i + 1 < argc)
			slots = atoi(argv[++i]);
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: dmake run -- sim-grant "
					"[--slots S] [--rounds R]\n");
			return 2;
		}
	}
	if (slots < 1 || 2 * slots > MAX_SHIMS || rounds < 1) {
		fprintf(stderr, "sim-grant: --slots 1..%d, --rounds >= 1\n",
			MAX_SHIMS / 2);
		return 2;
	}
	sched_addr = getenv("DMAKE_SCHEDULER");
	if (mf == NULL || (p = strstr(mf, "fifo:")) == NULL || sock == NULL ||
	    sched_addr == NULL || kf == NULL) {
		fprintf(stderr, "sim-grant: run me under `dmake run` with "
				"DMAKE_SCHEDULER and DMAKE_KEY_FILE set\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%.*s", (int)strcspn(p + 5, " "), p + 5);
	if ((fifo = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
		die(path, -errno);
	if ((rc = dm_key_load(kf, &key)) != 0)
		die(kf, rc);
	dm_buf_init(&frame);
	join1 = calloc((size_t)rounds, sizeof(double));
	joinall = calloc((size_t)rounds, sizeof(double));
	leave = calloc((size_t)rounds, sizeof(double));

	node_a = node_connect("sim-A", (uint32_t)slots);
	last_load = now_ms();
	nshims = 2 * slots;
	for (int i = 0; i < nshims; i++) {
		if ((shims[i].fd = dm_net_connect_unix(sock)) < 0)
			die("connecting to the coordinator", shims[i].fd);
		dm_io_set_timeout(shims[i].fd, WAIT_MS);
		place(&shims[i]);
	}
	pump(WAIT_MS, slots); /* S run on A, S wait */
	held = drain();
	pump(300, -1);
	held += drain();

	for (int r = 0; r < rounds; r++) {
		double t0, t1 = 0, t2 = 0, t3, t4 = 0;
		int got = 0, before, c;

		/* join */
		t0 = now_ms();
		node_b = node_connect(b_name, (uint32_t)slots);
		while (got < slots) {
			struct pollfd pf = {.fd = fifo, .events = POLLIN};
			int n;

			if (now_ms() - t0 > WAIT_MS)
				die("waiting for the new tokens", DM_ETIMEOUT);
			if (poll(&pf, 1, 50) < 0 && errno != EINTR)
				die("poll", -errno);
			if ((n = drain()) > 0) {
				if (got == 0)
					t1 = now_ms();
				got += n;
				if (got >= slots)
					t2 = now_ms();
			}
		}
		held += got;
		join1[r] = t1 - t0;
		joinall[r] = t2 - t0;
		/* the S waiting PLACEs go to B */
		pump(WAIT_MS, 2 * slots);

		/* leave: every token back in the FIFO first, so the
		 * coordinator can take back at once what it owes. */
		put_back(held);
		held = 0;
		pump(300, -1);
		before = fifo_count();
		t3 = now_ms();
		close(node_b);
		node_b = -1;
		for (;;) {
			struct timespec ts = {0, 100000};

			if ((c = fifo_count()) <= before - slots) {
				t4 = now_ms();
				break;
			}
			if (now_ms() - t3 > WAIT_MS)
				die("waiting for the tokens to go",
				    DM_ETIMEOUT);
			nanosleep(&ts, NULL);
		}
		leave[r] = t4 - t3;
		/* B's jobs are gone with it: their shims ask again and
		 * wait, so the build wants more than A again. */
		for (int i = 0; i < nshims; i++) {
			if (shims[i].ticket != 0 && shims[i].on_b) {
				struct dm_msg_job_end e = {
					.ticket = shims[i].ticket,
					.result = DM_JOB_ABANDONED};

				if ((rc = dm_io_send(shims[i].fd,
						     DM_MSG_JOB_END, &e)) != 0)
					die("JOB_END", rc);
				place(&shims[i]);
			}
		}
		pump(200, -1);
		held += drain();
	}
	printf("sim-grant: node of %d slots joining and leaving a build "
	       "that wants more (%d slots busy, %d jobs waiting)\n",
	       slots, slots, slots);
	report("join: first new token", join1, rounds);
	report("join: all new tokens", joinall, rounds);
	report("leave: tokens taken back", leave, rounds);
	put_back(held);
	return 0;
}
