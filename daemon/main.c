/*
 * main.c: dmaked, the node daemon of a dmake cluster.
 *
 * Reads the command line (DESIGN.md, "Command-line contract"), finds the
 * native compilers, prepares the cache directory, starts the scheduler
 * link (link.c) and accepts shim connections, each served start to end
 * by its own thread (job.c).  SIGINT or SIGTERM stops accepting, leaves
 * the scheduler, gives running jobs a grace period and exits 0.
 *
 * Before it registers, the node checks its sandbox (sandbox.h) with a
 * real compile per compiler, inside and outside, and offers only the
 * compilers that write the same object in it.  When the kernel refuses
 * the sandbox the node says so in one line, registers with no toolchain
 * and answers any job with an infrastructure failure: it never runs a
 * job unsandboxed unless told to with --no-sandbox.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
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
#include "../lib/fs.h"
#include "../lib/log.h"
#include "../lib/buf.h"
#include "../lib/net.h"
#include "../lib/spawn.h"
#include "filecache.h"
#include "job.h"
#include "link.h"
#include "node.h"
#include "sandbox.h"
#include "tccache.h"

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

/* Descriptors dmaked inherited (from a shell, a service manager) are
 * nothing a compiler should hold: they are made close-on-exec, so that
 * jobs start with stdin, stdout and stderr alone. */
static void
cloexec_inherited(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name), fl;

		if (fd > 2 && fd != dirfd(d) &&
		    (fl = fcntl(fd, F_GETFD)) >= 0 && !(fl & FD_CLOEXEC))
			fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	}
	closedir(d);
}

/* Settings */

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
	if ((rc = dm_mkdir_p(n->cache_dir, 0700)) != 0) {
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
	if (snprintf(n->jobs_dir, sizeof(n->jobs_dir), "%s/jobs",
		     n->cache_dir) >= (int)sizeof(n->jobs_dir)) {
		dm_error("--cache-dir %s: too long", n->cache_dir);
		return -ENAMETOOLONG;
	}
	dm_rm_tree(n->jobs_dir);
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
	snprintf(n->compilers_conf, sizeof(n->compilers_conf), "%s",
		 cfg.compilers);
	if ((n->env = node_compiler_env(environ)) == NULL)
		return -ENOMEM;
	return cache_init(n);
}

/* The sandbox */

#define EXTRA_MAX 32

/* Who compiles: --user (or dmake, or nobody) for root, else ourselves. */
static int
job_identity(struct node *n)
{
	const char *name = n->opts.user;
	struct passwd *pw;

	if (geteuid() != 0) {
		if (name != NULL) {
			dm_error("--user needs dmaked to run as root; as uid "
				 "%u it runs compiles as itself in a user "
				 "namespace",
				 (unsigned)geteuid());
			return DM_ECONFIG;
		}
		n->job_uid = geteuid();
		n->job_gid = getegid();
		pw = getpwuid(n->job_uid);
		if (pw != NULL)
			snprintf(n->job_user, sizeof(n->job_user), "%s",
				 pw->pw_name);
		else
			snprintf(n->job_user, sizeof(n->job_user), "uid %u",
				 (unsigned)n->job_uid);
		return 0;
	}
	if (name == NULL)
		name = getpwnam("dmake") != NULL ? "dmake" : "nobody";
	if ((pw = getpwnam(name)) == NULL) {
		dm_error("--user %s: no such user", name);
		return DM_ECONFIG;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		dm_error("--user %s: uid or gid 0; compiles must not run as "
			 "root",
			 name);
		return DM_ECONFIG;
	}
	n->job_uid = pw->pw_uid;
	n->job_gid = pw->pw_gid;
	snprintf(n->job_user, sizeof(n->job_user), "%s", name);
	return 0;
}

/* The compilers' environment without TMPDIR: the sandbox's /tmp is
 * /tmp.  Shares the strings of n->env. */
static int
box_env(struct node *n)
{
	size_t k = 0, len = 0;

	while (n->env[len] != NULL)
		len++;
	if ((n->box_env = calloc(len + 1, sizeof(char *))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++)
		if (strncmp(n->env[i], "TMPDIR=", 7) != 0)
			n->box_env[k++] = n->env[i];
	return 0;
}

static void
add_dir(char **list, size_t *nl, const char *dir)
{
	if (dir[0] == '/' && strcmp(dir, "/") != 0)
		(void)node_sandbox_add_dir(list, nl, EXTRA_MAX, dir);
}

static void
add_dir_of(char **list, size_t *nl, const char *file)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", file);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return;
	*slash = '\0';
	add_dir(list, nl, dir);
}

/* The directories a compiler runs from: where it was found, where it
 * really is, and where it finds its parts (gcc's and clang's
 * -print-search-dirs: "install:" and "programs:"). */
static void
compiler_dirs(const struct node_compiler *cc, char **list, size_t *nl)
{
	const char *argv[] = {cc->path, "-print-search-dirs", NULL};
	char real[PATH_MAX], *text, *line, *save = NULL;
	struct dm_buf out;

	add_dir_of(list, nl, cc->path);
	if (realpath(cc->path, real) != NULL)
		add_dir_of(list, nl, real);
	dm_buf_init(&out);
	if (dm_spawn_capture(argv, &out, NULL, 20000) != 0 ||
	    (text = dm_buf_cstr(&out)) == NULL) {
		dm_buf_free(&out);
		return;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *p, *save2 = NULL;

		if (strncmp(line, "install: ", 9) == 0)
			p = line + 9;
		else if (strncmp(line, "programs: =", 11) == 0)
			p = line + 11;
		else
			continue;
		for (p = strtok_r(p, ":", &save2); p != NULL;
		     p = strtok_r(NULL, ":", &save2)) {
			struct stat st;

			if (realpath(p, real) != NULL &&
			    stat(real, &st) == 0 && S_ISDIR(st.st_mode))
				add_dir(list, nl, real);
		}
	}
	dm_buf_free(&out);
}

/* ns: the namespace the kernel refused, or NULL for another failure. */
static void
sandbox_broken(struct node *n, const char *what, const char *ns)
{
	char fix[256];

	n->sandbox_state = NODE_SANDBOX_BROKEN;
	snprintf(n->sandbox_why, sizeof(n->sandbox_why),
		 "its sandbox does not work: %s", what);
	for (size_t i = 0; i < n->ncc; i++)
		n->cc[i].offered = 0;
	if (ns != NULL && strcmp(ns, "user") == 0)
		snprintf(fix, sizeof(fix),
			 "allow user namespaces (sysctl "
			 "user.max_user_namespaces, "
			 "kernel.unprivileged_userns_clone=1, "
			 "kernel.apparmor_restrict_unprivileged_userns=0) or "
			 "run dmaked as root");
	else if (ns != NULL)
		snprintf(fix, sizeof(fix),
			 "allow %s namespaces (sysctl user.max_%s_namespaces, "
			 "or the container or seccomp policy dmaked runs "
			 "under)",
			 ns, ns);
	else
		snprintf(fix, sizeof(fix),
			 "run dmaked where it may mount in its own namespaces "
			 "(not in a container that forbids it)");
	dm_error("sandbox: %s; this node refuses every job (builds compile "
		 "them locally): %s, or on a host that runs only trusted "
		 "builds pass --no-sandbox",
		 what, fix);
}

/* Plans the sandbox and checks every compiler in it.  Returns 0 or, for
 * a faulty probe of the plan itself, NODE_PROBE_SANDBOX with why. */
static int
sandbox_try(struct node *n, char **extra, int userns, char *why,
	    size_t why_len)
{
	struct node_sandbox_conf c = {
		.jobs_dir = n->jobs_dir,
		.extra = (const char *const *)extra,
		.uid = n->job_uid,
		.gid = n->job_gid,
		.userns = userns,
		.tmp_bytes = n->opts.job_fsize,
	};
	char root[PATH_MAX + 8], cwhy[512];
	int rc;

	snprintf(root, sizeof(root), "%s/root", n->cache_dir);
	if (mkdir(root, 0700) != 0 && errno != EEXIST) {
		snprintf(why, why_len, "cannot create %.400s: %s", root,
			 strerror(errno));
		return NODE_PROBE_SANDBOX;
	}
	c.root_dir = root;
	node_sandbox_free(n->sandbox);
	n->sandbox = NULL;
	if ((rc = node_sandbox_new(&c, &n->sandbox, why, why_len)) != 0)
		return NODE_PROBE_SANDBOX;
	for (size_t i = 0; i < n->ncc; i++) {
		struct node_compiler *cc = &n->cc[i];

		rc = node_job_probe(n, cc, cwhy, sizeof(cwhy));
		if (rc == NODE_PROBE_SANDBOX) {
			snprintf(why, why_len, "%s", cwhy);
			return rc;
		}
		cc->offered = rc == 0;
		if (rc != 0)
			dm_warn("compiler %s: not offered: %s", cc->path,
				cwhy);
	}
	return 0;
}

static const char *
size_words(uint64_t v, char *buf, size_t len)
{
	if (v % (1ull << 30) == 0)
		snprintf(buf, len, "%llu GiB", (unsigned long long)(v >> 30));
	else
		snprintf(buf, len, "%llu MiB", (unsigned long long)(v >> 20));
	return buf;
}

static int
sandbox_setup(struct node *n)
{
	const int base =
		CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET;
	char *extra[EXTRA_MAX + 1] = {0}, why[512], why2[512], m[32], f[32];
	char nouser[512] = "";
	const char *ns, *ns2;
	size_t nextra = 0;
	int rc, userns = 1;

	if (n->opts.no_sandbox) {
		n->sandbox_state = NODE_SANDBOX_OFF;
		for (size_t i = 0; i < n->ncc; i++)
			n->cc[i].offered = 1;
		dm_warn("--no-sandbox: compiles run UNSANDBOXED as uid %u, "
			"with this host's files and network; any holder of "
			"the cluster key can run code here",
			(unsigned)geteuid());
		return 0;
	}
	if ((rc = job_identity(n)) != 0)
		return rc;
	if ((rc = box_env(n)) != 0)
		return rc;
	if (node_sandbox_kernel_check(base | CLONE_NEWUSER, why, sizeof(why),
				      &ns) != 0) {
		/* Root can do without a user namespace, at a price. */
		if (geteuid() != 0 ||
		    node_sandbox_kernel_check(base, why2, sizeof(why2),
					      &ns2) != 0) {
			if (geteuid() == 0)
				sandbox_broken(n, why2, ns2);
			else
				sandbox_broken(n, why, ns);
			return 0;
		}
		snprintf(nouser, sizeof(nouser), "%s", why);
		userns = 0;
	}
	for (size_t i = 0; i < n->ncc; i++)
		compiler_dirs(&n->cc[i], extra, &nextra);
	rc = sandbox_try(n, extra, userns, why, sizeof(why));
	if (rc != 0 && userns && geteuid() == 0 &&
	    sandbox_try(n, extra, 0, why2, sizeof(why2)) == 0) {
		snprintf(nouser, sizeof(nouser), "%s", why);
		userns = 0;
		rc = 0;
	}
	for (size_t i = 0; i < nextra; i++)
		free(extra[i]);
	if (rc != 0) {
		sandbox_broken(n, why, NULL);
		return 0;
	}
	if (!userns)
		dm_warn("sandbox: no user namespace: %s; compiles run as %s "
			"without one, so --job-procs counts every process of "
			"that user on this host",
			nouser, n->job_user);
	dm_info("sandbox: compiles run as %s (uid %u, gid %u) in new %smount, "
		"pid, ipc and net namespaces; per job: %u s wall, %u s CPU, "
		"%s memory, %s files, %u processes",
		n->job_user, (unsigned)n->job_uid, (unsigned)n->job_gid,
		userns ? "user, " : "", n->job_timeout_s, n->opts.job_cpu_s,
		size_words(n->opts.job_mem, m, sizeof(m)),
		size_words(n->opts.job_fsize, f, sizeof(f)),
		n->opts.job_procs);
	return 0;
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
	char why[256], files_dir[PATH_MAX + 8];
	size_t offered = 0;
	int lfd, rc, signum = 0;

	dm_log_init("dmaked", DM_LOG_INFO);
	cloexec_inherited();
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
	if (sandbox_setup(&n) != 0)
		return 1;
	/* A job whose compiler runs as this uid could write to a link
	 * into the cache: it gets copies then (filecache.h). */
	snprintf(files_dir, sizeof(files_dir), "%s/files", n.cache_dir);
	if (node_files_open(files_dir, n.opts.file_cache_limit,
			    n.sandbox_state != NODE_SANDBOX_ON ||
				    n.job_uid == geteuid(),
			    &n.files) != 0)
		return 1;
	/* Toolchains sent by builds run only in a sandbox (tccache.h). */
	if (n.sandbox_state == NODE_SANDBOX_ON &&
	    node_tccache_open(&n, &n.tcc) != 0)
		dm_warn("no toolchain cache: this node runs only jobs of its "
			"own compilers");
	/* Tests and scripts read the real port from this line. */
	for (size_t i = 0; i < n.ncc; i++)
		offered += n.cc[i].offered;
	dm_info("listening on %s (%s, %d slots, %zu toolchains)", n.listen,
		n.name, n.slots, offered);
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
