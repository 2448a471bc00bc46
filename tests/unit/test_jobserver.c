/*
 * test_jobserver.c: lib/jobserver.c against the real GNU make installed
 * here (a pipe-pool client, make 4.3): a build's concurrency follows the
 * pool's target while make runs, tokens owed back are reclaimed as jobs
 * end, and the pool ends holding exactly its target.  Also: the MAKEFLAGS
 * rewriting table, the client on FIFO and pipe pools, and which pool kind
 * a make gets.
 *
 * The make jobs block until the test creates their gate file, so what
 * runs at once is decided by the test, never by timing: each job records
 * how many jobs were running when it started (it is one of them), and
 * every wait is a bounded poll of a condition.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "../../lib/clock.h"
#include "../../lib/buf.h"
#include "../../lib/err.h"
#include "../../lib/jobserver.h"
#include "tap.h"

#define WAIT_MS 20000
#define MAXJOBS 16

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ASSERT_TRUE(f != NULL);
	fputs(text, f);
	ASSERT_EQ_INT(fclose(f), 0);
	ASSERT_EQ_INT(chmod(path, mode), 0);
}

static int
exists(const char *dir, const char *sub, int job)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s/t%d", dir, sub, job);
	return access(path, F_OK) == 0;
}

static int
count(const char *dir, const char *sub)
{
	char path[1024];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* How many jobs were running when job t<job> started. */
static int
conc(const char *dir, int job)
{
	char path[1024];
	int n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/conc/t%d", dir, job);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fscanf(f, "%d", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

static void
release(const char *dir, int job)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/gate/t%d", dir, job);
	write_file(path, "", 0644);
}

static void
nap(void)
{
	struct timespec ts = {0, 2 * 1000 * 1000};

	nanosleep(&ts, NULL);
}

/* Bytes in the pool right now. */
static int
in_pool(const struct dm_pool *p)
{
	int n = -1;

	ASSERT_EQ_INT(ioctl(dm_pool_fd_for_poll(p), FIONREAD, &n), 0);
	return n;
}

/* A build of n gated jobs t1..tn (see the top).  With barrier > 0,
 * t<barrier+1>..tn wait for t1..t<barrier> to end, so after those make
 * has a moment with nothing to start. */
static void
make_project(char *dir, size_t len, int n, int barrier)
{
	static const char *const subs[] = {"running", "started", "done",
					   "gate", "conc"};
	char mk[4096], path[1024];
	size_t o;

	snprintf(dir, len, "%s/proj", tap_tmpdir());
	ASSERT_EQ_INT(mkdir(dir, 0755), 0);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
		ASSERT_EQ_INT(mkdir(path, 0755), 0);
	}
	o = (size_t)snprintf(mk, sizeof(mk), "A :=");
	for (int i = 1; i <= n; i++) {
		if (barrier > 0 && i == barrier + 1)
			o += (size_t)snprintf(mk + o, sizeof(mk) - o,
					      "\nB :=");
		o += (size_t)snprintf(mk + o, sizeof(mk) - o, " t%d", i);
	}
	if (barrier > 0)
		o += (size_t)snprintf(mk + o, sizeof(mk) - o,
				      "\nall: $(B)\n"
				      "$(B): barrier\n"
				      "barrier: $(A)\n"
				      "\t@:\n");
	else
		o += (size_t)snprintf(mk + o, sizeof(mk) - o, "\nall: $(A)\n");
	snprintf(mk + o, sizeof(mk) - o,
		 "$(A) $(B):\n"
		 "\t@mkdir running/$@; ls running | wc -l > conc/$@; "
		 "mkdir started/$@; "
		 "while [ ! -e gate/$@ ]; do sleep 0.01; done; "
		 "rmdir running/$@; mkdir done/$@\n"
		 ".PHONY: all barrier $(A) $(B)\n");
	snprintf(path, sizeof(path), "%s/Makefile", dir);
	write_file(path, mk, 0644);
}

/* Starts `make -f Makefile` in dir as a client of the pool: MAKEFLAGS
 * from dm_pool_merge_makeflags, the pipe's child fds inherited. */
static pid_t
start_make(const char *dir, const struct dm_pool *p)
{
	struct dm_buf mf;
	char log[512];
	int removed = -1, fd;
	pid_t pid;

	dm_buf_init(&mf);
	ASSERT_OK(dm_pool_merge_makeflags(p, "", &mf, &removed));
	ASSERT_EQ_INT(removed, 0);
	snprintf(log, sizeof(log), "%s/make.log", dir);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		if (chdir(dir) != 0)
			_exit(126);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		setenv("MAKEFLAGS", dm_buf_cstr(&mf), 1);
		execlp("make", "make", "-f", "Makefile", (char *)NULL);
		_exit(127);
	}
	dm_buf_free(&mf);
	return pid;
}

/* Non-blocking: 1 and *status once make has exited. */
static int
make_exited(pid_t pid, int *status)
{
	return waitpid(pid, status, WNOHANG) == pid;
}

#define WAIT_FOR(cond)                                                        \
	do {                                                                  \
		uint64_t end_ = dm_now_ms() + WAIT_MS;                          \
		while (!(cond)) {                                             \
			if (dm_now_ms() > end_)                                  \
				tap_fail(__FILE__, __LINE__,                  \
					 "timed out waiting for %s", #cond);  \
			nap();                                                \
		}                                                             \
	} while (0)

/* Runs n jobs with the pool at `target` for the whole build.  A job is
 * let go only once target + 1 jobs run (or every job has started), so the
 * build must reach that concurrency, and no job may ever see more. */
static void
run_at_target(unsigned target, int n)
{
	struct dm_pool *p;
	char dir[512];
	int status, released[MAXJOBS + 1] = {0}, max = 0;
	uint64_t end;
	pid_t pid;

	make_project(dir, sizeof(dir), n, 0);
	ASSERT_OK(dm_pool_create(DM_POOL_PIPE, NULL, &p));
	ASSERT_OK(dm_pool_set_target(p, target));
	ASSERT_EQ_INT(in_pool(p), target);
	pid = start_make(dir, p);
	end = dm_now_ms() + WAIT_MS;
	while (!make_exited(pid, &status)) {
		int running = count(dir, "running");
		int all = count(dir, "started") == n;

		ASSERT_TRUE(dm_now_ms() < end);
		for (int i = 1; i <= n; i++) {
			if (released[i] || !exists(dir, "started", i))
				continue;
			if (running < (int)target + 1 && !all)
				break;
			release(dir, i);
			released[i] = 1;
			break;
		}
		nap();
	}
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ_INT(WEXITSTATUS(status), 0);
	ASSERT_EQ_INT(count(dir, "done"), n);
	for (int i = 1; i <= n; i++) {
		ASSERT_GE_INT(conc(dir, i), 1);
		ASSERT_GE_INT(target + 1, conc(dir, i));
		if (conc(dir, i) > max)
			max = conc(dir, i);
	}
	ASSERT_EQ_INT(max, target + 1);
	/* Every token came back. */
	ASSERT_EQ_INT(dm_pool_debt(p), 0);
	ASSERT_EQ_INT(in_pool(p), target);
	dm_pool_destroy(p);
}

TEST_TIMEOUT(jobserver_make_serial_at_target_0, 60)
{
	run_at_target(0, 6);
}

TEST_TIMEOUT(jobserver_make_three_at_target_2, 60)
{
	run_at_target(2, 6);
}

/* The target moves while make runs: 0 (serial), up to 2 (two more jobs
 * start at once), down to 1 while both tokens are held (owed, read back
 * when a job ends and make has nothing to start), after which at most two
 * jobs run; the pool ends holding exactly 1. */
TEST_TIMEOUT(jobserver_make_follows_target, 60)
{
	enum { N = 10, BARRIER = 4 };
	struct dm_pool *p;
	char dir[512];
	int status, released[N + 1] = {0}, max = 0;
	uint64_t end;
	pid_t pid;

	make_project(dir, sizeof(dir), N, BARRIER);
	ASSERT_OK(dm_pool_create(DM_POOL_PIPE, NULL, &p));
	ASSERT_OK(dm_pool_set_target(p, 0));
	pid = start_make(dir, p);

	/* Target 0: make runs on its implicit token alone. */
	WAIT_FOR(count(dir, "started") == 1);
	ASSERT_TRUE(exists(dir, "started", 1));
	ASSERT_EQ_INT(conc(dir, 1), 1);
	release(dir, 1);
	WAIT_FOR(count(dir, "started") == 2);
	ASSERT_TRUE(exists(dir, "done", 1));
	ASSERT_EQ_INT(conc(dir, 2), 1);
	ASSERT_EQ_INT(count(dir, "running"), 1);

	/* Raise to 2: make wakes and starts two more beside t2. */
	ASSERT_OK(dm_pool_set_target(p, 2));
	ASSERT_EQ_INT(dm_pool_debt(p), 0);
	WAIT_FOR(count(dir, "started") == 4);
	ASSERT_EQ_INT(count(dir, "running"), 3);
	ASSERT_TRUE(exists(dir, "started", 3) && exists(dir, "started", 4));
	/* Both tokens are held: nothing to read back. */
	WAIT_FOR(in_pool(p) == 0);

	/* Lower to 1: one token is owed until a job gives one back. */
	ASSERT_OK(dm_pool_set_target(p, 1));
	ASSERT_EQ_INT(dm_pool_target(p), 1);
	ASSERT_EQ_INT(dm_pool_debt(p), 1);
	ASSERT_OK(dm_pool_reclaim(p));
	ASSERT_EQ_INT(dm_pool_debt(p), 1);
	/* t2 ends; make returns its token and, the rest waiting for t3 and
	 * t4, has nothing to start: the token is ours to read back. */
	release(dir, 2);
	WAIT_FOR(dm_pool_reclaim(p) == 0 && dm_pool_debt(p) == 0);
	ASSERT_TRUE(exists(dir, "done", 2));
	ASSERT_EQ_INT(in_pool(p), 0);
	release(dir, 3);
	release(dir, 4);

	/* Now at most two run (the pool's one and make's own): a job is let
	 * go only once two run (or all have started), so two must be
	 * reached and never passed. */
	end = dm_now_ms() + WAIT_MS;
	while (!make_exited(pid, &status)) {
		int running = count(dir, "running");
		int all = count(dir, "started") == N;

		ASSERT_TRUE(dm_now_ms() < end);
		for (int i = BARRIER + 1; i <= N; i++) {
			if (released[i] || !exists(dir, "started", i))
				continue;
			if (running < 2 && !all)
				break;
			release(dir, i);
			released[i] = 1;
			break;
		}
		nap();
	}
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ_INT(WEXITSTATUS(status), 0);
	ASSERT_EQ_INT(count(dir, "done"), N);
	/* t3 and t4 started together beside t2. */
	ASSERT_GE_INT(3, conc(dir, 3));
	ASSERT_GE_INT(3, conc(dir, 4));
	ASSERT_EQ_INT(
		conc(dir, 3) > conc(dir, 4) ? conc(dir, 3) : conc(dir, 4), 3);
	for (int i = BARRIER + 1; i <= N; i++) {
		ASSERT_GE_INT(conc(dir, i), 1);
		ASSERT_GE_INT(2, conc(dir, i));
		if (conc(dir, i) > max)
			max = conc(dir, i);
	}
	ASSERT_EQ_INT(max, 2);
	/* make gave every token back on its way out. */
	ASSERT_OK(dm_pool_reclaim(p));
	ASSERT_EQ_INT(dm_pool_debt(p), 0);
	ASSERT_EQ_INT(dm_pool_target(p), 1);
	ASSERT_EQ_INT(in_pool(p), 1);
	dm_pool_destroy(p);
}

/* ---- MAKEFLAGS ---------------------------------------------------------- */

TEST(jobserver_merge_makeflags_table)
{
	/* "@" stands for our options. */
	static const struct {
		const char *in, *out;
		int removed_j;
	} t[] = {
		{"", "@", 0},
		{" -j4 --jobserver-auth=3,4", "@", 1},
		{"ks -j2 --jobserver-auth=3,4 -- VAR=val", "ks@ -- VAR=val",
		 1},
		{"k --jobserver-fds=5,6 -j", "k@", 1},
		{" --jobserver-fds=5,6 --jobserver-auth=5,6", "@", 0},
		{"--jobserver-auth=fifo:/tmp/x", "@", 0},
		{"-j 8 -k", "-k@", 1},
		{"-j8", "@", 1},
		{"--jobs=8 --no-print-directory", "--no-print-directory@", 1},
		{"--jobs 8 -s", "-s@", 1},
		{"kj8 -- A=b\\ c", "k@ -- A=b\\ c", 1},
		{"j8", "@", 1},
		{"-kj8 -l4", "-k -l4@", 1},
		{"-kj", "-k@", 1},
		{"rR --warn-undefined-variables -I/usr/x\\ y -- CC=gcc X=-j8",
		 "rR --warn-undefined-variables -I/usr/x\\ y@ -- CC=gcc X=-j8",
		 0},
		{"  w   -j3  ", "w@", 1},
		{"FOO=1", "FOO=1@", 0},
		{"-Ojobs -C dir", "-Ojobs -C dir@", 0},
		{"-- X=1 --jobserver-auth=3,4",
		 "@ -- X=1 --jobserver-auth=3,4", 0},
	};
	struct dm_pool *p;
	struct dm_buf out, want, ours;
	int r, w, removed;

	ASSERT_OK(dm_pool_create(DM_POOL_PIPE, NULL, &p));
	dm_pool_child_fds(p, &r, &w);
	ASSERT_TRUE(r >= 0 && w >= 0 && r != w);
	dm_buf_init(&ours);
	ASSERT_OK(dm_buf_appendf(&ours,
				 " -j --jobserver-fds=%d,%d"
				 " --jobserver-auth=%d,%d",
				 r, w, r, w));
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *at = strchr(t[i].out, '@');

		dm_buf_init(&out);
		dm_buf_init(&want);
		dm_buf_append(&want, t[i].out, (size_t)(at - t[i].out));
		dm_buf_append(&want, ours.p, ours.len);
		dm_buf_append(&want, at + 1, strlen(at + 1));
		removed = -1;
		ASSERT_OK(dm_pool_merge_makeflags(p, t[i].in, &out, &removed));
		ASSERT_EQ_STR(dm_buf_cstr(&out), dm_buf_cstr(&want));
		ASSERT_EQ_INT(removed, t[i].removed_j);
		dm_buf_free(&out);
		dm_buf_free(&want);
	}
	dm_buf_free(&ours);
	dm_pool_destroy(p);
}

/* ---- pools and the client ----------------------------------------------- */

TEST(jobserver_pipe_fds_flags)
{
	struct dm_pool *p;
	int r, w;

	ASSERT_OK(dm_pool_create(DM_POOL_PIPE, NULL, &p));
	dm_pool_child_fds(p, &r, &w);
	/* The child's ends: inherited and blocking (make <= 4.2 reads them
	 * blocking). */
	ASSERT_EQ_INT(fcntl(r, F_GETFD) & FD_CLOEXEC, 0);
	ASSERT_EQ_INT(fcntl(w, F_GETFD) & FD_CLOEXEC, 0);
	ASSERT_EQ_INT(fcntl(r, F_GETFL) & O_NONBLOCK, 0);
	ASSERT_EQ_INT(fcntl(w, F_GETFL) & O_NONBLOCK, 0);
	/* The server's: non-blocking and close-on-exec. */
	ASSERT_TRUE(fcntl(dm_pool_fd_for_poll(p), F_GETFD) & FD_CLOEXEC);
	ASSERT_TRUE(fcntl(dm_pool_fd_for_poll(p), F_GETFL) & O_NONBLOCK);
	/* Lowering an untouched pool reads its own tokens back at once. */
	ASSERT_OK(dm_pool_set_target(p, 5));
	ASSERT_EQ_INT(in_pool(p), 5);
	ASSERT_OK(dm_pool_set_target(p, 2));
	ASSERT_EQ_INT(dm_pool_debt(p), 0);
	ASSERT_EQ_INT(in_pool(p), 2);
	ASSERT_OK(dm_pool_set_target(p, 0));
	ASSERT_EQ_INT(in_pool(p), 0);
	/* Nothing to read back: the server never blocks. */
	ASSERT_OK(dm_pool_reclaim(p));
	dm_pool_destroy(p);
}

TEST(jobserver_fifo_client_and_debt)
{
	struct dm_pool *p;
	struct dm_pool_client *c;
	struct dm_buf mf, want;
	char path[512], b = 0;
	struct stat st;
	int r, w, other;

	snprintf(path, sizeof(path), "%s/jobserver", tap_tmpdir());
	ASSERT_OK(dm_pool_create(DM_POOL_FIFO, path, &p));
	ASSERT_EQ_INT(stat(path, &st), 0);
	ASSERT_TRUE(S_ISFIFO(st.st_mode));
	ASSERT_EQ_INT(st.st_mode & 0777, 0600);
	dm_pool_child_fds(p, &r, &w);
	ASSERT_EQ_INT(r, -1);
	ASSERT_EQ_INT(w, -1);
	dm_buf_init(&mf);
	dm_buf_init(&want);
	ASSERT_OK(dm_pool_merge_makeflags(p, "k -j4 --jobserver-auth=3,4", &mf,
					  NULL));
	ASSERT_OK(
		dm_buf_appendf(&want, "k -j --jobserver-auth=fifo:%s", path));
	ASSERT_EQ_STR(dm_buf_cstr(&mf), dm_buf_cstr(&want));

	ASSERT_OK(dm_pool_set_target(p, 3));
	ASSERT_OK(dm_pool_client_open(dm_buf_cstr(&mf), &c));
	for (int i = 0; i < 3; i++)
		ASSERT_OK(dm_pool_client_acquire(c, WAIT_MS));
	ASSERT_EQ_INT(dm_pool_client_acquire(c, 50), DM_ETIMEOUT);

	/* The client holds all three: lowering to 1 owes two. */
	ASSERT_OK(dm_pool_set_target(p, 1));
	ASSERT_EQ_INT(dm_pool_target(p), 1);
	ASSERT_EQ_INT(dm_pool_debt(p), 2);
	ASSERT_OK(dm_pool_client_release(c));
	ASSERT_OK(dm_pool_reclaim(p));
	ASSERT_EQ_INT(dm_pool_debt(p), 1);
	ASSERT_OK(dm_pool_client_release(c));
	ASSERT_OK(dm_pool_reclaim(p));
	ASSERT_EQ_INT(dm_pool_debt(p), 0);
	ASSERT_OK(dm_pool_client_release(c));
	ASSERT_EQ_INT(dm_pool_client_release(c), -EINVAL);
	ASSERT_EQ_INT(in_pool(p), 1);

	/* Raising while tokens are owed cancels debt before adding any. */
	ASSERT_OK(dm_pool_client_acquire(c, WAIT_MS));
	ASSERT_OK(dm_pool_set_target(p, 0));
	ASSERT_EQ_INT(dm_pool_debt(p), 1);
	ASSERT_OK(dm_pool_set_target(p, 2));
	ASSERT_EQ_INT(dm_pool_debt(p), 0);
	ASSERT_EQ_INT(in_pool(p), 1);
	ASSERT_OK(dm_pool_client_acquire(c, WAIT_MS));
	ASSERT_EQ_INT(dm_pool_client_acquire(c, 50), DM_ETIMEOUT);
	/* Closing gives back what the client still holds. */
	dm_pool_client_close(c);
	ASSERT_EQ_INT(in_pool(p), 2);

	/* The client gives back the very byte it took. */
	ASSERT_OK(dm_pool_set_target(p, 0));
	ASSERT_EQ_INT(in_pool(p), 0);
	other = open(path, O_RDWR | O_NONBLOCK);
	ASSERT_TRUE(other >= 0);
	ASSERT_EQ_INT(write(other, "x", 1), 1);
	ASSERT_OK(dm_pool_client_open(dm_buf_cstr(&mf), &c));
	ASSERT_OK(dm_pool_client_acquire(c, WAIT_MS));
	ASSERT_EQ_INT(read(other, &b, 1), -1);
	ASSERT_OK(dm_pool_client_release(c));
	ASSERT_EQ_INT(read(other, &b, 1), 1);
	ASSERT_EQ_INT(b, 'x');
	dm_pool_client_close(c);
	close(other);

	dm_buf_free(&mf);
	dm_buf_free(&want);
	dm_pool_destroy(p);
	ASSERT_TRUE(access(path, F_OK) != 0);
}

TEST(jobserver_pipe_client)
{
	struct dm_pool *p;
	struct dm_pool_client *c;
	struct dm_buf mf, two;
	char path[1024];
	int r, w;

	ASSERT_OK(dm_pool_create(DM_POOL_PIPE, NULL, &p));
	ASSERT_OK(dm_pool_set_target(p, 2));
	dm_buf_init(&mf);
	ASSERT_OK(dm_pool_merge_makeflags(p, "", &mf, NULL));
	ASSERT_OK(dm_pool_client_open(dm_buf_cstr(&mf), &c));
	ASSERT_OK(dm_pool_client_acquire(c, WAIT_MS));
	ASSERT_OK(dm_pool_client_acquire(c, WAIT_MS));
	ASSERT_EQ_INT(dm_pool_client_acquire(c, 50), DM_ETIMEOUT);
	ASSERT_EQ_INT(in_pool(p), 0);
	ASSERT_OK(dm_pool_client_release(c));
	ASSERT_OK(dm_pool_client_release(c));
	ASSERT_EQ_INT(in_pool(p), 2);
	dm_pool_client_close(c);
	/* The client's reads did not make the child's end non-blocking. */
	dm_pool_child_fds(p, &r, &w);
	ASSERT_EQ_INT(fcntl(r, F_GETFL) & O_NONBLOCK, 0);

	/* Where there is no jobserver, or a dead one. */
	ASSERT_EQ_INT(dm_pool_client_open("", &c), -ENOENT);
	ASSERT_EQ_INT(dm_pool_client_open(" -k -j4", &c), -ENOENT);
	ASSERT_EQ_INT(dm_pool_client_open("k -- X=--jobserver-auth=3,4", &c),
		      -ENOENT);
	ASSERT_EQ_INT(dm_pool_client_open(" -j --jobserver-auth=900,901", &c),
		      -EBADF);
	ASSERT_EQ_INT(dm_pool_client_open(" -j --jobserver-auth=-2,-2", &c),
		      -EBADF);
	ASSERT_EQ_INT(dm_pool_client_open(" -j --jobserver-auth=x", &c),
		      -EINVAL);
	snprintf(path, sizeof(path), "%s/none/fifo", tap_tmpdir());
	dm_buf_init(&two);
	ASSERT_OK(dm_buf_appendf(&two, " -j --jobserver-auth=fifo:%s", path));
	ASSERT_EQ_INT(dm_pool_client_open(dm_buf_cstr(&two), &c), -ENOENT);
	/* Only the last --jobserver-auth counts. */
	dm_buf_reset(&two);
	ASSERT_OK(dm_buf_appendf(&two, "--jobserver-auth=fifo:%s %s", path,
				 dm_buf_cstr(&mf)));
	ASSERT_OK(dm_pool_client_open(dm_buf_cstr(&two), &c));
	ASSERT_OK(dm_pool_client_acquire(c, WAIT_MS));
	dm_pool_client_close(c);
	ASSERT_EQ_INT(in_pool(p), 2);
	/* make 4.1 wrote only --jobserver-fds. */
	dm_buf_reset(&two);
	dm_pool_child_fds(p, &r, &w);
	ASSERT_OK(dm_buf_appendf(&two, " -j --jobserver-fds=%d,%d", r, w));
	ASSERT_OK(dm_pool_client_open(dm_buf_cstr(&two), &c));
	ASSERT_OK(dm_pool_client_acquire(c, WAIT_MS));
	ASSERT_EQ_INT(in_pool(p), 1);
	dm_pool_client_close(c);

	dm_buf_free(&two);
	dm_buf_free(&mf);
	dm_pool_destroy(p);
}

/* ---- which make --------------------------------------------------------- */

TEST(jobserver_parse_make_version)
{
	static const struct {
		const char *text;
		int rc, major, minor;
	} t[] = {
		{"GNU Make 4.3\nBuilt for x86_64-pc-linux-gnu\n", 0, 4, 3},
		{"GNU Make 4.4.1\nBuilt for x86_64-pc-linux-gnu\n", 0, 4, 4},
		{"GNU Make 4.4\n", 0, 4, 4},
		{"GNU Make 3.81\nCopyright (C) 2006\n", 0, 3, 81},
		{"GNU Make 4.2.90\n", 0, 4, 2},
		{"GNU Make 5\n", 0, 5, 0},
		{"\nGNU Make 4.1\n", 0, 4, 1},
		{"", DM_ECONFIG, 0, 0},
		{"bmake: unknown option --version\n", DM_ECONFIG, 0, 0},
		{"GNU Make x.y\n", DM_ECONFIG, 0, 0},
		{"GNU Make 4.\n", DM_ECONFIG, 0, 0},
		{"Make 4.4\n", DM_ECONFIG, 0, 0},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int ma = -1, mi = -1;

		ASSERT_EQ_INT(dm_pool_parse_make_version(t[i].text, &ma, &mi),
			      t[i].rc);
		if (t[i].rc == 0) {
			ASSERT_EQ_INT(ma, t[i].major);
			ASSERT_EQ_INT(mi, t[i].minor);
		}
	}
}

TEST(jobserver_kind_for_make)
{
	enum dm_pool_kind kind = DM_POOL_FIFO;
	char path[1024];
	int ma = 0, mi = 0;

	/* The make installed here is 4.3: a pipe. */
	ASSERT_OK(dm_pool_kind_for_make("make", &kind, &ma, &mi));
	ASSERT_EQ_INT(kind, DM_POOL_PIPE);
	ASSERT_EQ_INT(ma, 4);
	ASSERT_EQ_INT(mi, 3);

	/* A program that prints what make 4.4.1 prints gets a FIFO. */
	snprintf(path, sizeof(path), "%s/make441", tap_tmpdir());
	write_file(path,
		   "#!/bin/sh\n"
		   "[ \"$1\" = --version ] || exit 2\n"
		   "echo 'GNU Make 4.4.1'\n"
		   "echo 'Built for x86_64-pc-linux-gnu'\n",
		   0755);
	ASSERT_OK(dm_pool_kind_for_make(path, &kind, &ma, &mi));
	ASSERT_EQ_INT(kind, DM_POOL_FIFO);
	ASSERT_EQ_INT(ma, 4);
	ASSERT_EQ_INT(mi, 4);
	ASSERT_OK(dm_pool_kind_for_make(path, &kind, NULL, NULL));

	/* Right words, failed run. */
	snprintf(path, sizeof(path), "%s/badmake", tap_tmpdir());
	write_file(path, "#!/bin/sh\necho 'GNU Make 4.4'\nexit 2\n", 0755);
	ASSERT_EQ_INT(dm_pool_kind_for_make(path, &kind, &ma, &mi),
		      DM_ECONFIG);
	ASSERT_EQ_INT(dm_pool_kind_for_make("true", &kind, &ma, &mi),
		      DM_ECONFIG);
	snprintf(path, sizeof(path), "%s/nothing-here", tap_tmpdir());
	ASSERT_EQ_INT(dm_pool_kind_for_make(path, &kind, &ma, &mi), -ENOENT);
	ASSERT_EQ_INT(
		dm_pool_kind_for_make("dmake-no-such-make", &kind, &ma, &mi),
		-ENOENT);
}
