/*
 * sched-load.c: a load generator for dmake-sched.  Not a test: it prints
 * figures (bench/RESULTS.md keeps them), it asserts nothing about time.
 *
 * Starts the real dmake-sched (next to this program's build directory,
 * or --sched PATH) on a free loopback port with a fresh key and database,
 * then, over real TCP and the real handshake (lib/auth.c) and codec
 * (lib/wire.c):
 *
 * - registers --nodes nodes (default 1000) of 4..16 slots each, most
 *   with one toolchain, some with a second, which send NODE_LOAD every
 *   second as dmaked does;
 * - connects --builds builds (default 100), each of which keeps
 *   --inflight PLACE requests outstanding (default 1) and, on each
 *   PLACED, sends JOB_END for its oldest running job once it holds more
 *   than --hold (default 50), with a made-up cpu_ms and unit size: so the
 *   cluster runs builds x hold jobs at all times and every placement is
 *   matched by one JOB_END, as in a real build; or, with --job-ms D,
 *   ends each job D ms after its PLACED, so that a rate above
 *   slots / D fills the cluster and requests wait for slots;
 * - measures, after --warmup seconds, for --seconds seconds: placements
 *   per second (PLACED received) and the latency of each, PLACE written
 *   to PLACED read (p50, p99, p99.9, max).
 *
 * Two ways to load it.  Closed loop (the default): each build sends its
 * next PLACE as soon as one is answered, so the figure is the most the
 * scheduler (and this client) can do, and the latency is set by how many
 * requests wait (Little's law: in flight / rate).  Open loop (--rate R):
 * R PLACEs a second in all, spread evenly over the builds whatever the
 * answers, so the latency is that of a scheduler offered R a second.
 *
 * One thread and one epoll set hold every connection; writes are
 * batched per connection per turn of the loop, as a coordinator with many
 * shims would; between events it sleeps (epoll_pwait2, ns timeout) until
 * the next PLACE or job end is due.  The figures include this client's
 * own cost: run it on an otherwise idle machine.
 *
 *   bench/sched-load [--nodes N] [--builds N] [--inflight K] [--hold H]
 *                    [--job-ms D] [--rate R] [--seconds S] [--warmup S]
 *                    [--sched PATH] [--keep]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/auth.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/io.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/wire.h"

enum { PEER_NODE, PEER_BUILD };

struct peer {
	int kind;
	int fd;
	int idx;
	int want_out; /* EPOLLOUT is armed */
	struct dm_buf in;
	struct dm_buf out;
	/* Builds only. */
	uint64_t next_req;
	uint64_t *sent_ns;  /* by req % ring: when its PLACE was written */
	uint32_t waiting;   /* PLACEs not answered yet */
	uint64_t *held;	    /* tickets of running jobs, a ring of held_cap */
	uint64_t *held_end; /* with --job-ms: when each is to end */
	uint32_t nheld;
	uint32_t held_head;
	uint32_t held_cap;
	uint32_t granted;
};

struct opts {
	int nodes;
	int builds;
	int inflight;
	int hold;
	int job_ms;
	double rate;
	int seconds;
	int warmup;
	const char *sched;
	int keep;
};

static struct opts o = {1000, 100, 1, 50, 0, 0, 10, 2, NULL, 0};
/* Requests one build may have unanswered: --inflight closed, this open. */
#define OPEN_RING 1024
static uint32_t ring;
static uint64_t overrun;
static struct peer *nodes, *builds;
static int ep;
static uint32_t *lat_ns; /* latencies recorded while measuring */
static size_t nlat, caplat;
static uint64_t placed_total, place_fail_total, grants_total;
static int measuring;

static void
die(const char *what, int rc)
{
	fprintf(stderr, "sched-load: %s: %s\n", what, dm_strerror(rc));
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Starting the scheduler */

static pid_t sched_pid;
static char tmpdir[PATH_MAX];

static void
find_sched(char *out, size_t len, const char *argv0)
{
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (o.sched != NULL) {
		snprintf(out, len, "%s", o.sched);
		return;
	}
	/* The build directory's top: this program is BUILD/bench/sched-load. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		snprintf(self, sizeof(self), "%s", argv0);
		n = (ssize_t)strlen(self);
	}
	self[n] = '\0';
	for (int i = 0; i < 2 && (slash = strrchr(self, '/')) != NULL; i++)
		*slash = '\0';
	snprintf(out, len, "%s/dmake-sched", self);
}

/* Runs dmake-sched and returns the address it listens on. */
static void
start_sched(const char *path, char *addr, size_t len)
{
	char key[PATH_MAX + 8], db[PATH_MAX + 16], log[PATH_MAX + 16];
	char line[512];

	snprintf(key, sizeof(key), "%s/key", tmpdir);
	snprintf(db, sizeof(db), "%s/sched.db", tmpdir);
	snprintf(log, sizeof(log), "%s/sched.log", tmpdir);
	if ((sched_pid = fork()) < 0)
		die("fork", -errno);
	if (sched_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(127);
		setenv("DMAKE_LOG", "info", 1);
		execl(path, path, "--listen", "127.0.0.1:0", "--db", db,
		      "--key-file", key, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	/* It says where it listens in its log. */
	for (int tries = 0; tries < 200; tries++) {
		FILE *f = fopen(log, "r");

		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			char *p = strstr(line, "listening on ");

			if (p != NULL) {
				p += strlen("listening on ");
				p[strcspn(p, ", \n")] = '\0';
				snprintf(addr, len, "%s", p);
				fclose(f);
				return;
			}
		}
		if (f != NULL)
			fclose(f);
		usleep(20000);
	}
	fprintf(stderr, "sched-load: %s did not start; see %s\n", path, log);
	exit(1);
}

/* Connections */

static int
connect_peer(const char *addr, const struct dm_key *key, uint16_t role)
{
	int fd, rc;

	if ((fd = dm_net_connect(addr, 5000)) < 0)
		die("connect", fd);
	dm_io_set_timeout(fd, 10000);
	if ((rc = dm_auth_client(fd, key, role)) != 0)
		die("handshake", rc);
	return fd;
}

static void
watch(struct peer *p)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};

	fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p->fd, &ev) != 0)
		die("epoll_ctl", -errno);
}

static void
queue(struct peer *p, uint16_t type, const void *msg)
{
	int rc;

	if ((rc = dm_msg_encode(&p->out, type, msg)) != 0)
		die(dm_wire_errmsg(), rc);
}

/* Writes what is queued; arms EPOLLOUT for the rest. */
static void
flush(struct peer *p)
{
	while (p->out.len > 0) {
		ssize_t n = write(p->fd, p->out.p, p->out.len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			die("write", -errno);
		dm_buf_consume(&p->out, (size_t)n);
	}
	if ((p->out.len > 0) != p->want_out) {
		struct epoll_event ev = {
			.events = EPOLLIN | (p->out.len > 0 ? EPOLLOUT : 0),
			.data.ptr = p};

		p->want_out = p->out.len > 0;
		epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &ev);
	}
}

static void
send_place(struct peer *b)
{
	struct dm_msg_place m = {
		.req = b->next_req,
		.toolchain = "tcA",
		.unit_bytes = 200000 + (b->next_req % 7) * 100000,
	};

	b->sent_ns[b->next_req % ring] = now_ns();
	b->next_req++;
	b->waiting++;
	queue(b, DM_MSG_PLACE, &m);
}

static void
record(uint64_t ns)
{
	if (!measuring)
		return;
	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 1u << 20;
		if ((lat_ns = realloc(lat_ns, caplat * sizeof(*lat_ns))) ==
		    NULL)
			die("realloc", -ENOMEM);
	}
	lat_ns[nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static void
hold_job(struct peer *b, uint64_t ticket, uint64_t t)
{
	uint32_t i;

	if (b->nheld == b->held_cap) {
		uint32_t cap = b->held_cap ? b->held_cap * 2 : 64;
		uint64_t *h = calloc(cap, sizeof(*h)),
			 *e = calloc(cap, sizeof(*e));

		if (h == NULL || e == NULL)
			die("calloc", -ENOMEM);
		for (uint32_t k = 0; k < b->nheld; k++) {
			h[k] = b->held[(b->held_head + k) % b->held_cap];
			e[k] = b->held_end[(b->held_head + k) % b->held_cap];
		}
		free(b->held);
		free(b->held_end);
		b->held = h;
		b->held_end = e;
		b->held_head = 0;
		b->held_cap = cap;
	}
	i = (b->held_head + b->nheld) % b->held_cap;
	b->held[i] = ticket;
	b->held_end[i] = t + (uint64_t)o.job_ms * 1000000u;
	b->nheld++;
}

/* JOB_END for the build's oldest running job. */
static void
end_oldest(struct peer *b)
{
	struct dm_msg_job_end e = {
		.ticket = b->held[b->held_head],
		.result = DM_JOB_OK,
		.cpu_ms = 100 + (uint32_t)(b->held[b->held_head] % 300),
		.unit_bytes = 400000,
	};

	b->held_head = (b->held_head + 1) % b->held_cap;
	b->nheld--;
	queue(b, DM_MSG_JOB_END, &e);
}

static void
on_build_msg(struct peer *b, uint16_t type, union dm_msg *m)
{
	uint64_t t = now_ns();

	switch (type) {
	case DM_MSG_GRANT:
		b->granted = m->grant.slots;
		grants_total++;
		break;
	case DM_MSG_PLACED:
		record(t - b->sent_ns[m->placed.req % ring]);
		b->waiting--;
		if (measuring)
			placed_total++;
		hold_job(b, m->placed.ticket, t);
		/* The job runs until hold newer ones do. */
		if (o.job_ms == 0 && b->nheld > (uint32_t)o.hold)
			end_oldest(b);
		if (o.rate == 0)
			send_place(b);
		break;
	case DM_MSG_PLACE_FAIL:
		place_fail_total++;
		b->waiting--;
		if (o.rate == 0)
			send_place(b);
		break;
	case DM_MSG_ERROR:
		fprintf(stderr, "sched-load: build %d: ERROR %s\n", b->idx,
			m->error.text);
		exit(1);
	default:
		break;
	}
}

/* Reads what is there and handles every whole frame. */
static void
on_readable(struct peer *p)
{
	for (;;) {
		uint8_t *dst;
		ssize_t n;

		if (dm_buf_reserve(&p->in, 65536) != 0)
			die("read buffer", -ENOMEM);
		dst = p->in.p + p->in.len;
		n = read(p->fd, dst, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			fprintf(stderr,
				"sched-load: the scheduler closed %s %d\n",
				p->kind == PEER_NODE ? "node" : "build",
				p->idx);
			exit(1);
		}
		p->in.len += (size_t)n;
		if (n < 65536)
			break;
	}
	for (;;) {
		const uint8_t *payload;
		size_t flen, plen;
		union dm_msg m;
		uint16_t type;
		int rc;

		rc = dm_frame_peek(p->in.p, p->in.len, &flen);
		if (rc != 0)
			die("frame", rc);
		if (flen == 0 || flen > p->in.len)
			break;
		dm_frame_split(p->in.p, flen, &type, &payload, &plen);
		if ((rc = dm_msg_decode(type, payload, plen, &m)) != 0)
			die(dm_wire_errmsg(), rc);
		if (p->kind == PEER_BUILD)
			on_build_msg(p, type, &m);
		dm_msg_free(type, &m);
		dm_buf_consume(&p->in, flen);
	}
}

/* The status JSON, read as `dmake status --json` does. */
static char *
status(const char *addr, const struct dm_key *key)
{
	struct dm_buf frame;
	union dm_msg m;
	char *json;
	int fd = connect_peer(addr, key, DM_ROLE_MONITOR), rc;

	dm_buf_init(&frame);
	if ((rc = dm_io_send(fd, DM_MSG_STATUS_REQ,
			     &(struct dm_msg_status_req){0})) != 0 ||
	    (rc = dm_io_expect(fd, &frame, DM_MSG_STATUS, &m, NULL, 0)) != 0)
		die("status", rc);
	json = strdup(m.status.json);
	dm_msg_free(DM_MSG_STATUS, &m);
	dm_buf_free(&frame);
	close(fd);
	return json;
}

/* Sum of the numbers after "key": in the array that starts at from. */
static uint64_t
sum_key(const char *from, const char *to, const char *key)
{
	char pat[64];
	uint64_t sum = 0;
	const char *p = from;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	while ((p = strstr(p, pat)) != NULL && (to == NULL || p < to)) {
		p += strlen(pat);
		sum += strtoull(p, NULL, 10);
	}
	return sum;
}

/* CPU seconds (user + system) a process has used so far. */
static double
cpu_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	/* Fields 14 and 15, after the command name in parentheses. */
	if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		   &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double p)
{
	size_t i = (size_t)(p * (double)(nlat - 1) + 0.5);

	return lat_ns[i] / 1000.0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: sched-load [--nodes N] [--builds N] [--inflight K] "
		   "[--hold H]\n"
		   "                  [--job-ms D] [--rate R] [--seconds S] "
		   "[--warmup S]\n"
		   "                  [--sched PATH] [--keep]\n");
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"nodes", required_argument, NULL, 'n'},
		{"builds", required_argument, NULL, 'b'},
		{"inflight", required_argument, NULL, 'i'},
		{"hold", required_argument, NULL, 'H'},
		{"job-ms", required_argument, NULL, 'j'},
		{"rate", required_argument, NULL, 'r'},
		{"seconds", required_argument, NULL, 's'},
		{"warmup", required_argument, NULL, 'w'},
		{"sched", required_argument, NULL, 'S'},
		{"keep", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct epoll_event evs[256];
	struct rlimit rl;
	struct dm_key key;
	char path[PATH_MAX], addr[128], keyfile[PATH_MAX + 8];
	char *json, *nodes_end;
	uint64_t t0, t_hb, t_measure, t_end, t_stop, total_slots = 0;
	uint64_t t_open, opened = 0;
	double cpu_sched0 = 0, cpu_self0 = 0, cpu_sched, cpu_self;
	int next_build = 0;
	int c, rc, status_rc;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.nodes = atoi(optarg);
			break;
		case 'b':
			o.builds = atoi(optarg);
			break;
		case 'i':
			o.inflight = atoi(optarg);
			break;
		case 'H':
			o.hold = atoi(optarg);
			break;
		case 'j':
			o.job_ms = atoi(optarg);
			break;
		case 'r':
			o.rate = atof(optarg);
			break;
		case 's':
			o.seconds = atoi(optarg);
			break;
		case 'w':
			o.warmup = atoi(optarg);
			break;
		case 'S':
			o.sched = optarg;
			break;
		case 'k':
			o.keep = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.nodes < 1 || o.builds < 1 || o.inflight < 1 || o.hold < 0 ||
	    o.job_ms < 0 || o.seconds < 1 || o.warmup < 0 || o.rate < 0) {
		usage(stderr);
		return 2;
	}
	dm_log_init("sched-load", DM_LOG_WARN);
	ring = o.rate > 0 ? OPEN_RING : (uint32_t)o.inflight;
	signal(SIGPIPE, SIG_IGN);
	/* Every connection is a descriptor here and in the scheduler. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)(o.nodes + o.builds + 64)) {
			fprintf(stderr,
				"sched-load: %d connections need more "
				"than the %llu descriptors allowed\n",
				o.nodes + o.builds,
				(unsigned long long)rl.rlim_cur);
			return 1;
		}
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/sched-load-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp", -errno);
	snprintf(keyfile, sizeof(keyfile), "%s/key", tmpdir);
	if ((rc = dm_key_generate(keyfile)) != 0 ||
	    (rc = dm_key_load(keyfile, &key)) != 0)
		die("key", rc);
	find_sched(path, sizeof(path), argv[0]);
	start_sched(path, addr, sizeof(addr));
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1", -errno);

	t0 = now_ns();
	nodes = calloc((size_t)o.nodes, sizeof(*nodes));
	builds = calloc((size_t)o.builds, sizeof(*builds));
	if (nodes == NULL || builds == NULL)
		die("calloc", -ENOMEM);
	for (int i = 0; i < o.nodes; i++) {
		struct peer *p = &nodes[i];
		char name[32], naddr[32];
		char *tcs[] = {"tcA gcc 12.2.0", "tcB clang 14.0.6"};
		struct dm_msg_node_register r = {
			.name = name,
			.addr = naddr,
			.platform = "x86_64-linux-gnu",
			.slots = 4 + (uint32_t)(i % 13),
			.toolchains = tcs,
			.toolchains_n = i % 5 == 0 ? 2 : 1};
		struct dm_buf frame;
		union dm_msg m;

		snprintf(name, sizeof(name), "node-%04d", i);
		snprintf(naddr, sizeof(naddr), "10.%d.%d.%d:7371", i >> 16,
			 (i >> 8) & 255, i & 255);
		p->kind = PEER_NODE;
		p->idx = i;
		p->fd = connect_peer(addr, &key, DM_ROLE_NODE);
		dm_buf_init(&frame);
		if ((rc = dm_io_send(p->fd, DM_MSG_NODE_REGISTER, &r)) != 0 ||
		    (rc = dm_io_expect(p->fd, &frame, DM_MSG_NODE_ACCEPT, &m,
				       NULL, 0)) != 0)
			die("register", rc);
		dm_msg_free(DM_MSG_NODE_ACCEPT, &m);
		dm_buf_free(&frame);
		total_slots += r.slots;
		watch(p);
	}
	fprintf(stderr,
		"sched-load: %d nodes (%" PRIu64 " slots) registered "
		"in %.2f s\n",
		o.nodes, total_slots, (now_ns() - t0) / 1e9);
	for (int i = 0; i < o.builds; i++) {
		struct peer *p = &builds[i];
		char host[32];
		struct dm_msg_build_hello h = {
			.host = host, .local_slots = 4, .label = "sched-load"};
		struct dm_buf frame;
		union dm_msg m;

		snprintf(host, sizeof(host), "build-%03d", i);
		p->kind = PEER_BUILD;
		p->idx = i;
		p->sent_ns = calloc(ring, sizeof(uint64_t));
		if (p->sent_ns == NULL)
			die("calloc", -ENOMEM);
		p->next_req = 1;
		p->fd = connect_peer(addr, &key, DM_ROLE_BUILD);
		dm_buf_init(&frame);
		if ((rc = dm_io_send(p->fd, DM_MSG_BUILD_HELLO, &h)) != 0 ||
		    (rc = dm_io_expect(p->fd, &frame, DM_MSG_GRANT, &m, NULL,
				       0)) != 0)
			die("hello", rc);
		p->granted = m.grant.slots;
		dm_msg_free(DM_MSG_GRANT, &m);
		dm_buf_free(&frame);
		watch(p);
	}
	fprintf(stderr,
		"sched-load: %d builds connected; %d s warm-up, "
		"%d s measured\n",
		o.builds, o.warmup, o.seconds);

	for (int i = 0; i < o.builds && o.rate == 0; i++) {
		for (int k = 0; k < o.inflight; k++)
			send_place(&builds[i]);
		flush(&builds[i]);
	}
	t_hb = t_open = now_ns();
	t_measure = t_hb + (uint64_t)o.warmup * 1000000000u;
	t_end = t_measure + (uint64_t)o.seconds * 1000000000u;
	t_stop = 0;
	for (;;) {
		uint64_t t = now_ns();
		int n;

		if (!measuring && t_stop == 0 && t >= t_measure) {
			measuring = 1;
			t_measure = t;
			cpu_sched0 = cpu_of(sched_pid);
			cpu_self0 = cpu_of(getpid());
		}
		if (measuring && t >= t_end) {
			measuring = 0;
			t_stop = t;
			cpu_sched = cpu_of(sched_pid) - cpu_sched0;
			cpu_self = cpu_of(getpid()) - cpu_self0;
			break;
		}
		/* Nodes report load every second, as dmaked does. */
		if (t - t_hb >= 1000000000u) {
			struct dm_msg_node_load l = {.running = 0,
						     .load_milli = 500};

			t_hb = t;
			for (int i = 0; i < o.nodes; i++) {
				queue(&nodes[i], DM_MSG_NODE_LOAD, &l);
				flush(&nodes[i]);
			}
		}
		/* Open loop: the PLACEs due by now, one build after the
		 * other; the loop spins so that they go out evenly. */
		if (o.rate > 0) {
			uint64_t due = (uint64_t)((double)(t - t_open) / 1e9 *
						  o.rate);

			for (; opened < due; opened++) {
				struct peer *b = &builds[next_build];

				next_build = (next_build + 1) % o.builds;
				if (b->waiting >= ring) {
					overrun++;
					continue;
				}
				send_place(b);
				flush(b);
			}
		}
		/* Jobs that have run their time end. */
		for (int i = 0; i < o.builds && o.job_ms > 0; i++) {
			struct peer *b = &builds[i];
			int ended = 0;

			while (b->nheld > 0 &&
			       b->held_end[b->held_head] <= t) {
				end_oldest(b);
				ended = 1;
			}
			if (ended)
				flush(b);
		}
		/* Sleep until the next PLACE or job end is due, not a
		 * moment more: spinning would take the core the scheduler
		 * needs on a small machine. */
		{
			uint64_t wake = t + 100000000u, now2;
			struct timespec ts;

			if (o.rate > 0) {
				uint64_t next =
					t_open +
					(uint64_t)((double)(opened + 1) * 1e9 /
						   o.rate);

				if (next < wake)
					wake = next;
			}
			for (int i = 0; i < o.builds && o.job_ms > 0; i++)
				if (builds[i].nheld > 0 &&
				    builds[i].held_end[builds[i].held_head] <
					    wake)
					wake = builds[i].held_end
						       [builds[i].held_head];
			now2 = now_ns();
			wake = wake > now2 ? wake - now2 : 0;
			ts.tv_sec = (time_t)(wake / 1000000000u);
			ts.tv_nsec = (long)(wake % 1000000000u);
			n = epoll_pwait2(ep, evs,
					 (int)(sizeof(evs) / sizeof(evs[0])),
					 &ts, NULL);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait", -errno);
		for (int i = 0; i < n; i++) {
			struct peer *p = evs[i].data.ptr;

			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(p);
		}
		/* One write per connection per turn, whatever it carries. */
		for (int i = 0; i < n; i++)
			flush(evs[i].data.ptr);
	}

	/* What the scheduler says now, before anything is torn down. */
	json = status(addr, &key);
	nodes_end = strstr(json, "\"builds\":");
	qsort(lat_ns, nlat, sizeof(*lat_ns), cmp_u32);
	if (o.rate > 0)
		printf("nodes %d (%" PRIu64 " slots), builds %d, open loop at "
		       "%.0f PLACE/s, ",
		       o.nodes, total_slots, o.builds, o.rate);
	else
		printf("nodes %d (%" PRIu64 " slots), builds %d, closed loop "
		       "with %d in flight per build, ",
		       o.nodes, total_slots, o.builds, o.inflight);
	if (o.job_ms > 0)
		printf("jobs of %d ms\n", o.job_ms);
	else
		printf("%d running jobs held per build\n", o.hold);
	if (overrun > 0)
		printf("overrun: %" PRIu64 " PLACEs not sent (a build had %u "
		       "unanswered)\n",
		       overrun, ring);
	printf("placements: %" PRIu64
	       " in %.2f s = %.0f/s (PLACE_FAIL %" PRIu64
	       ", GRANT messages %" PRIu64 ")\n",
	       placed_total, (t_stop - t_measure) / 1e9,
	       placed_total / ((t_stop - t_measure) / 1e9), place_fail_total,
	       grants_total);
	if (nlat > 0)
		printf("latency PLACE->PLACED: p50 %.1f us, p99 %.1f us, "
		       "p99.9 %.1f us, max %.1f us\n",
		       pct(0.50), pct(0.99), pct(0.999),
		       lat_ns[nlat - 1] / 1000.0);
	if (placed_total > 0)
		printf("cpu: dmake-sched %.2f s = %.2f us per placement "
		       "(%.0f%% of a core); this client %.2f s\n",
		       cpu_sched, cpu_sched * 1e6 / (double)placed_total,
		       100 * cpu_sched / ((t_stop - t_measure) / 1e9),
		       cpu_self);
	printf("status: %" PRIu64 " jobs running on nodes, %" PRIu64
	       " by builds, %" PRIu64 " waiting, %" PRIu64 " slots granted\n",
	       sum_key(json, nodes_end, "running"),
	       sum_key(nodes_end, NULL, "running"),
	       sum_key(nodes_end, NULL, "queued"),
	       sum_key(nodes_end, NULL, "granted"));
	free(json);

	kill(sched_pid, SIGTERM);
	waitpid(sched_pid, &status_rc, 0);
	if (!WIFEXITED(status_rc) || WEXITSTATUS(status_rc) != 0)
		fprintf(stderr,
			"sched-load: dmake-sched ended badly (%d); "
			"see %s/sched.log\n",
			status_rc, tmpdir);
	if (o.keep) {
		fprintf(stderr, "sched-load: kept %s\n", tmpdir);
	} else {
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		(void)!system(cmd);
	}
	return 0;
}
