/*
 * main.c: dmaked, the node daemon of a dmake cluster.
 *
 * Reads the command line (DESIGN.md, "Command-line contract"), finds the
 * native compilers, prepares the cache directory, starts the scheduler
 * link (link.c) and accepts shim connections, each served start to end
 * by its own thread (job.c).  SIGINT or SIGTERM stops accepting, leaves
 * the scheduler, gives running jobs a grace period and exits 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../lib/config.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/net.h"
#include "job.h"
#include "link.h"
#include "node.h"

#ifndef DM_VERSION
#define DM_VERSION "0.1.0"
#endif

/* How long running jobs get to finish after SIGINT or SIGTERM. */
#define GRACE_MS 10000
/* Connections beyond the busy limit still get a thread, so that they hear
 * "busy" after the handshake; past this many more they are just closed. */
#define BUSY_EXTRA 16

extern char **environ;

static int sig_pipe[2] = {-1, -1};

static void
on_stop_signal(int signum)
{
	int saved = errno;

	(void)!write(sig_pipe[1], &signum, sizeof(signum));
	errno = saved;
}

/* A handler, not SIG_IGN: a write to a vanished peer still returns EPIPE
 * instead of killing the node, and unlike SIG_IGN a handler is reset by
 * exec, so the compilers start with the default disposition. */
static void
on_sigpipe(int signum)
{
	(void)signum;
}

static int
signals_init(void)
{
	struct sigaction sa = {0};

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_stop_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_sigpipe;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

/* Settings */

static int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	(flag == FTW_DP ? rmdir : unlink)(path);
	return 0;
}

/* The cache dir, locked for this process, with an empty jobs/ in it.  A
 * second node on the same directory would delete the first one's jobs,
 * so it is refused instead; the lock dies with the process, so what a
 * crashed node left behind is removed by the next one. */
static int
cache_init(struct node *n)
{
	char lock[PATH_MAX + 16];
	int fd, rc;

	if (n->opts.cache_dir != NULL)
		snprintf(n->cache_dir, sizeof(n->cache_dir), "%s",
			 n->opts.cache_dir);
	else if (node_default_cache_dir(geteuid(), getenv("XDG_CACHE_HOME"),
					getenv("HOME"), n->cache_dir,
					sizeof(n->cache_dir)) != 0) {
		dm_error("no --cache-dir given and neither XDG_CACHE_HOME nor "
			 "HOME is set");
		return DM_ECONFIG;
	}
	if ((rc = mkdir_p(n->cache_dir, 0700)) != 0) {
		dm_error("cannot create %s: %s", n->cache_dir,
			 dm_strerror(rc));
		return rc;
	}
	snprintf(lock, sizeof(lock), "%s/dmaked.lock", n->cache_dir);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		rc = -errno;
		dm_error("cannot open %s: %s", lock, strerror(errno));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		dm_error("%s is in use by another dmaked (give each node its "
			 "own --cache-dir)",
			 n->cache_dir);
		close(fd);
		return -EBUSY;
	}
	/* fd stays open: it holds the lock until the process ends. */
	snprintf(n->jobs_dir, sizeof(n->jobs_dir), "%s/jobs", n->cache_dir);
	nftw(n->jobs_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(n->jobs_dir, 0700) != 0) {
		rc = -errno;
		dm_error("cannot create %s: %s", n->jobs_dir, strerror(errno));
		return rc;
	}
	return 0;
}

static int
settings(struct node *n)
{
	struct dm_config cfg;
	struct utsname u;
	const char *key_file;
	char why[512], host[256];
	int rc;

	if ((rc = dm_config_load(&cfg, why, sizeof(why))) != 0) {
		dm_error("%s", why);
		return rc;
	}
	snprintf(n->scheduler, sizeof(n->scheduler), "%s",
		 n->opts.scheduler != NULL ? n->opts.scheduler
					   : cfg.scheduler);
	key_file = n->opts.key_file;
	if (key_file == NULL)
		key_file = cfg.key_file; /* includes DMAKE_KEY_FILE */
	if (key_file == NULL || key_file[0] == '\0') {
		dm_error("no cluster key: pass --key-file FILE or set "
			 "DMAKE_KEY_FILE (make one with `dmake keygen FILE` "
			 "and copy it to every machine, mode 0600)");
		return DM_ECONFIG;
	}
	if ((rc = dm_key_load(key_file, &n->key)) != 0) {
		dm_error("%s: %s", key_file, dm_strerror(rc));
		return rc;
	}
	if (n->opts.name != NULL) {
		snprintf(n->name, sizeof(n->name), "%s", n->opts.name);
	} else {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "node");
		host[sizeof(host) - 1] = '\0';
		/* NODE_REGISTER.name holds 64 bytes; a longer FQDN is cut. */
		snprintf(n->name, sizeof(n->name), "%.*s", NODE_NAME_MAX,
			 host);
	}
	if (uname(&u) != 0)
		snprintf(u.machine, sizeof(u.machine), "unknown");
	snprintf(n->platform, sizeof(n->platform), "%s", u.machine);
	n->slots = n->opts.slots > 0 ? n->opts.slots : dm_cpu_count();
	n->job_timeout_s = n->opts.job_timeout_s;
	if ((n->env = node_compiler_env(environ)) == NULL)
		return -ENOMEM;
	return cache_init(n);
}

/* Accepting */

struct conn {
	struct node *n;
	int fd;
	char peer[64];
};

static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conns_cv = PTHREAD_COND_INITIALIZER;

static void *
conn_thread(void *arg)
{
	struct conn *c = arg;
	struct node *n = c->n;

	node_job_serve(n, c->fd, c->peer);
	free(c);
	pthread_mutex_lock(&conns_mu);
	atomic_fetch_sub(&n->conns, 1);
	pthread_cond_broadcast(&conns_cv);
	pthread_mutex_unlock(&conns_mu);
	return NULL;
}

static void
accept_one(struct node *n, int lfd)
{
	pthread_attr_t attr;
	pthread_t t;
	struct conn *c;
	int fd, one = 1, rc;
	char peer[64];

	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		if (errno != EINTR && errno != EAGAIN &&
		    errno != ECONNABORTED) {
			dm_warn("accept: %s", strerror(errno));
			/* EMFILE and friends: do not spin on them. */
			poll(NULL, 0, 100);
		}
		return;
	}
	if (dm_net_name(fd, 1, peer, sizeof(peer)) != 0)
		snprintf(peer, sizeof(peer), "?");
	if (atomic_load(&n->conns) >= n->slots * 4 + 8 + BUSY_EXTRA) {
		dm_warn("%s: refused: %d connections open", peer,
			atomic_load(&n->conns));
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c = malloc(sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->n = n;
	c->fd = fd;
	memcpy(c->peer, peer, sizeof(peer));
	atomic_fetch_add(&n->conns, 1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, conn_thread, c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		dm_warn("%s: refused: cannot start a thread: %s", peer,
			strerror(rc));
		atomic_fetch_sub(&n->conns, 1);
		close(fd);
		free(c);
	}
}

/* Waits for the job threads, at most GRACE_MS. */
static void
drain_jobs(struct node *n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += GRACE_MS / 1000;
	pthread_mutex_lock(&conns_mu);
	if (atomic_load(&n->conns) > 0)
		dm_info("waiting up to %d s for %d job connections",
			GRACE_MS / 1000, atomic_load(&n->conns));
	while (atomic_load(&n->conns) > 0)
		if (pthread_cond_timedwait(&conns_cv, &conns_mu, &until) ==
		    ETIMEDOUT)
			break;
	if (atomic_load(&n->conns) > 0)
		dm_warn("leaving %d unfinished jobs behind",
			atomic_load(&n->conns));
	pthread_mutex_unlock(&conns_mu);
}

int
main(int argc, char **argv)
{
	static struct node n; /* threads may still read it while exiting */
	struct node_link *link = NULL;
	struct pollfd p[2];
	char why[256];
	int lfd, rc, signum = 0;

	dm_log_init("dmaked", DM_LOG_INFO);
	rc = node_opts_parse(argc, argv, &n.opts, why, sizeof(why));
	if (rc == NODE_OPTS_HELP) {
		node_usage(stdout);
		return 0;
	}
	if (rc == NODE_OPTS_VERSION) {
		printf("dmaked %s\n", DM_VERSION);
		return 0;
	}
	if (rc != 0) {
		fprintf(stderr, "dmaked: %s\nTry 'dmaked --help'.\n", why);
		return 2;
	}
	if (settings(&n) != 0)
		return 1;
	if ((rc = signals_init()) != 0) {
		dm_error("signals: %s", dm_strerror(rc));
		return 1;
	}
	if ((lfd = dm_net_listen(n.opts.listen, 128)) < 0) {
		dm_error("cannot listen on %s: %s", n.opts.listen,
			 dm_strerror(lfd));
		return 1;
	}
	/* poll() then accept(): a peer that resets in between must not
	 * block the loop. */
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	if (dm_net_name(lfd, 0, n.listen, sizeof(n.listen)) != 0)
		snprintf(n.listen, sizeof(n.listen), "%s", n.opts.listen);
	/* After the listen socket, so a shim told about the node can reach
	 * it; the compilers are known before the scheduler hears of them. */
	node_compilers_find(&n);
	/* Tests and scripts read the real port from this line. */
	dm_info("listening on %s (%s, %d slots, %zu toolchains)", n.listen,
		n.name, n.slots, n.ncc);
	if (n.scheduler[0] == '\0')
		dm_warn("no scheduler configured (--scheduler, "
			"DMAKE_SCHEDULER): serving jobs, but no build will "
			"find this node");
	else if ((rc = node_link_start(&n, &link)) != 0) {
		dm_error("cannot start the scheduler link: %s",
			 dm_strerror(rc));
		return 1;
	}

	rc = 0;
	p[0] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
	p[1] = (struct pollfd){.fd = lfd, .events = POLLIN};
	while (signum == 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			dm_error("poll: %s", strerror(errno));
			rc = 1;
			break;
		}
		if (p[0].revents & POLLIN) {
			if (read(sig_pipe[0], &signum, sizeof(signum)) !=
			    sizeof(signum))
				signum = SIGTERM;
			break;
		}
		if (p[1].revents & POLLIN)
			accept_one(&n, lfd);
	}
	dm_info("%s: stopping", strsignal(signum ? signum : SIGTERM));
	atomic_store(&n.stopping, 1);
	close(lfd);
	node_link_stop(link);
	drain_jobs(&n);
	return rc;
}
