/*
 * test_spawn.c: lib/spawn.c against real programs (/bin/sh, coreutils):
 * exit codes and signals, exec failures reported as errors, stdio on the
 * given descriptors, cwd, environment, limits, the timeout killing the
 * whole process group, and captures from several threads at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/buf.h"
#include "../../lib/err.h"
#include "../../lib/spawn.h"
#include "tap.h"

static struct dm_spawn_opts
opts(const char *const *argv)
{
	return (struct dm_spawn_opts){
		.argv = argv,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = -1,
	};
}

static int
sh(const char *script, struct dm_spawn_result *r)
{
	const char *argv[] = {"sh", "-c", script, NULL};
	struct dm_spawn_opts o = opts(argv);

	return dm_spawn_run(&o, r);
}

static char *
slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

TEST(spawn_exit_codes)
{
	struct dm_spawn_result r;

	ASSERT_OK(sh("exit 0", &r));
	ASSERT_EQ_INT(r.exit_code, 0);
	ASSERT_EQ_INT(r.signal, 0);
	ASSERT_EQ_INT(r.timed_out, 0);
	ASSERT_OK(sh("exit 7", &r));
	ASSERT_EQ_INT(r.exit_code, 7);
	ASSERT_EQ_INT(r.signal, 0);
	/* A program that exists but fails is a status, not an error. */
	ASSERT_OK(sh("exit 127", &r));
	ASSERT_EQ_INT(r.exit_code, 127);
}

TEST(spawn_signal_reported)
{
	struct dm_spawn_result r;

	ASSERT_OK(sh("kill -TERM $$", &r));
	ASSERT_EQ_INT(r.signal, SIGTERM);
	ASSERT_EQ_INT(r.exit_code, 0);
	ASSERT_EQ_INT(r.timed_out, 0);
	ASSERT_OK(sh("kill -SEGV $$", &r));
	ASSERT_EQ_INT(r.signal, SIGSEGV);
}

TEST(spawn_exec_failures_are_errors)
{
	const char *missing[] = {"dmake-no-such-program-4711", NULL};
	const char *abs[] = {"/nonexistent/dmake/prog", NULL};
	const char *plain[] = {"x", NULL};
	const char *sh_true[] = {"sh", "-c", "true", NULL};
	struct dm_spawn_opts o;
	struct dm_spawn_result r;
	char file[PATH_MAX];
	int fd;

	o = opts(missing);
	ASSERT_EQ_INT(dm_spawn_run(&o, &r), -ENOENT);
	o = opts(abs);
	ASSERT_EQ_INT(dm_spawn_run(&o, &r), -ENOENT);

	/* Exists but is not executable. */
	snprintf(file, sizeof(file), "%s/not-exec", tap_tmpdir());
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ_INT(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	o = opts(plain);
	o.path = file;
	ASSERT_EQ_INT(dm_spawn_run(&o, &r), -EACCES);
	/* A bare name in path is searched on PATH, like one in argv[0]. */
	o = opts(sh_true);
	o.path = "dmake-no-such-program-4711";
	ASSERT_EQ_INT(dm_spawn_run(&o, &r), -ENOENT);
	o.path = "sh";
	ASSERT_OK(dm_spawn_run(&o, &r));
	ASSERT_EQ_INT(r.exit_code, 0);

	/* Failures before the exec travel the same way. */
	o = opts(sh_true);
	o.cwd = "/nonexistent/dmake/dir";
	ASSERT_EQ_INT(dm_spawn_run(&o, &r), -ENOENT);
	o = opts(sh_true);
	o.stdout_fd = 999; /* not open */
	ASSERT_EQ_INT(dm_spawn_run(&o, &r), -EBADF);
	ASSERT_EQ_INT(dm_spawn_capture(missing, NULL, NULL, 0), -ENOENT);
}

TEST(spawn_stdio_on_given_fds)
{
	const char *argv[] = {"sh", "-c", "tr a-z A-Z; echo to-err >&2", NULL};
	struct dm_spawn_opts o = opts(argv);
	struct dm_spawn_result r;
	char in[PATH_MAX], out[PATH_MAX], buf[256];
	int ifd, ofd, efd;

	snprintf(in, sizeof(in), "%s/in", tap_tmpdir());
	snprintf(out, sizeof(out), "%s/out", tap_tmpdir());
	ifd = open(in, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_TRUE(ifd >= 0);
	ASSERT_EQ_INT(write(ifd, "hello\n", 6), 6);
	ASSERT_EQ_INT(lseek(ifd, 0, SEEK_SET), 0);
	ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_TRUE(ofd >= 0);
	/* stdout and stderr on one descriptor, as 2>&1 would. */
	efd = ofd;
	o.stdin_fd = ifd;
	o.stdout_fd = ofd;
	o.stderr_fd = efd;
	ASSERT_OK(dm_spawn_run(&o, &r));
	ASSERT_EQ_INT(r.exit_code, 0);
	ASSERT_EQ_STR(slurp(out, buf, sizeof(buf)), "HELLO\nto-err\n");
	close(ifd);
	close(ofd);
}

TEST(spawn_stdio_swapped_low_fds)
{
	/* The child's stdout is the parent's fd 0 and its stdin the
	 * parent's stdout's slot: each must be copied before any dup2. */
	const char *argv[] = {"sh", "-c", "cat; echo x", NULL};
	struct dm_spawn_opts o = opts(argv);
	struct dm_spawn_result r;
	char in[PATH_MAX], out[PATH_MAX], buf[64];
	int ifd, ofd, save0;

	snprintf(in, sizeof(in), "%s/in", tap_tmpdir());
	snprintf(out, sizeof(out), "%s/out", tap_tmpdir());
	ifd = open(in, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_TRUE(ifd >= 0);
	ASSERT_EQ_INT(write(ifd, "in\n", 3), 3);
	ASSERT_EQ_INT(lseek(ifd, 0, SEEK_SET), 0);
	save0 = dup(0);
	ASSERT_TRUE(save0 >= 0);
	ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_TRUE(ofd >= 0);
	ASSERT_EQ_INT(dup2(ofd, 0), 0);
	o.stdout_fd = 0;
	o.stdin_fd = ifd;
	ASSERT_OK(dm_spawn_run(&o, &r));
	dup2(save0, 0);
	ASSERT_EQ_INT(r.exit_code, 0);
	ASSERT_EQ_STR(slurp(out, buf, sizeof(buf)), "in\nx\n");
}

TEST(spawn_devnull_for_minus_one)
{
	const char *argv[] = {"sh", "-c", "cat; echo hidden; echo hidden >&2",
			      NULL};
	struct dm_spawn_opts o = opts(argv);
	struct dm_spawn_result r;

	/* cat must see EOF at once, or this hangs to the test's timeout. */
	ASSERT_OK(dm_spawn_run(&o, &r));
	ASSERT_EQ_INT(r.exit_code, 0);
}

TEST(spawn_cwd)
{
	const char *argv[] = {"sh", "-c", "pwd -P", NULL};
	struct dm_spawn_opts o = opts(argv);
	struct dm_spawn_result r;
	struct dm_buf out;
	char want[PATH_MAX + 2];

	dm_buf_init(&out);
	o.cwd = tap_tmpdir();
	ASSERT_OK(dm_spawn_run_capture(&o, &r, &out, NULL));
	ASSERT_EQ_INT(r.exit_code, 0);
	ASSERT_TRUE(realpath(tap_tmpdir(), want) != NULL);
	strcat(want, "\n");
	ASSERT_EQ_STR((char *)out.p, want);
	dm_buf_free(&out);
}

TEST(spawn_env)
{
	const char *argv[] = {"/bin/sh", "-c", "echo \"[$DMAKE_T][$HOME]\"",
			      NULL};
	char *env[] = {"DMAKE_T=given", NULL};
	struct dm_spawn_opts o = opts(argv);
	struct dm_spawn_result r;
	struct dm_buf out;

	dm_buf_init(&out);
	o.envp = env;
	ASSERT_OK(dm_spawn_run_capture(&o, &r, &out, NULL));
	ASSERT_EQ_STR((char *)out.p, "[given][]\n");

	/* NULL: the caller's environment. */
	dm_buf_reset(&out);
	setenv("DMAKE_T", "inherited", 1);
	setenv("HOME", "/h", 1);
	o.envp = NULL;
	ASSERT_OK(dm_spawn_run_capture(&o, &r, &out, NULL));
	ASSERT_EQ_STR((char *)out.p, "[inherited][/h]\n");
	dm_buf_free(&out);
}

TEST(spawn_signals_reset_in_child)
{
	/* The runner ignores SIGPIPE; a test thread may block signals.  The
	 * program must see neither. */
	const char *argv[] = {"grep", "^Sig[IB]", "/proc/self/status", NULL};
	struct dm_spawn_opts o = opts(argv);
	struct dm_spawn_result r;
	struct dm_buf out;
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	dm_buf_init(&out);
	ASSERT_OK(dm_spawn_run_capture(&o, &r, &out, NULL));
	ASSERT_EQ_INT(r.exit_code, 0);
	ASSERT_EQ_STR((char *)out.p, "SigBlk:\t0000000000000000\n"
				     "SigIgn:\t0000000000000000\n");
	dm_buf_free(&out);
}

TEST(spawn_fd_inheritance)
{
	/* O_CLOEXEC descriptors stay home; others (a jobserver's) pass. */
	char script[128], file[PATH_MAX];
	const char *argv[] = {"sh", "-c", script, NULL};
	struct dm_spawn_opts o = opts(argv);
	struct dm_spawn_result r;
	int cfd, ifd;

	snprintf(file, sizeof(file), "%s/f", tap_tmpdir());
	cfd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	ifd = open(file, O_RDWR);
	ASSERT_TRUE(cfd >= 0 && ifd >= 0);
	snprintf(script, sizeof(script),
		 "[ -e /proc/$$/fd/%d ] && exit 1; [ -e /proc/$$/fd/%d ]", cfd,
		 ifd);
	ASSERT_OK(dm_spawn_run(&o, &r));
	ASSERT_EQ_INT(r.exit_code, 0);
	close(cfd);
	close(ifd);
}

TEST(spawn_timeout_kills_process_group)
{
	char script[PATH_MAX + 64], pidfile[PATH_MAX], buf[32];
	const char *argv[] = {"sh", "-c", script, NULL};
	struct dm_spawn_opts o = opts(argv);
	struct dm_spawn_result r;
	int status, reaped = 0;
	pid_t pgid, w;

	/* Orphans come to us, so the grandchild can be reaped and
	 * inspected instead of lingering as a zombie of init. */
	ASSERT_EQ_INT(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/pid", tap_tmpdir());
	snprintf(script, sizeof(script),
		 "echo $$ > '%s'; sleep 100 & sleep 100", pidfile);
	o.timeout_ms = 300;
	ASSERT_OK(dm_spawn_run(&o, &r));
	ASSERT_EQ_INT(r.timed_out, 1);
	ASSERT_EQ_INT(r.signal, SIGKILL);
	ASSERT_EQ_INT(r.exit_code, 0);
	ASSERT_TRUE(slurp(pidfile, buf, sizeof(buf)) != NULL);
	pgid = (pid_t)atoi(buf);
	ASSERT_TRUE(pgid > 1);

	/* Every process left of the group was SIGKILLed: if one had
	 * survived, this waitpid would block to the test's timeout. */
	while ((w = waitpid(-pgid, &status, 0)) > 0 || errno == EINTR) {
		if (w <= 0)
			continue;
		reaped++;
		ASSERT_TRUE(WIFSIGNALED(status));
		ASSERT_EQ_INT(WTERMSIG(status), SIGKILL);
	}
	ASSERT_EQ_INT(errno, ECHILD);
	ASSERT_GE_INT(reaped, 1); /* the background sleep */
	ASSERT_EQ_INT(kill(-pgid, 0), -1);
	ASSERT_EQ_INT(errno, ESRCH);
}

TEST(spawn_capture_does_not_wait_for_background_children)
{
	/* The background sleep holds stdout; it dies with its group when
	 * sh exits, or this would hang to the test's timeout. */
	const char *argv[] = {"sh", "-c", "sleep 100 & echo done", NULL};
	struct dm_buf out;

	dm_buf_init(&out);
	ASSERT_OK(dm_spawn_capture(argv, &out, NULL, 0));
	ASSERT_EQ_STR((char *)out.p, "done\n");
	dm_buf_free(&out);
}

TEST(spawn_capture_large_and_failing)
{
	/* Far beyond a pipe's buffer on both streams at once. */
	const char *big[] = {"sh", "-c",
			     "head -c 3000000 /dev/zero; "
			     "head -c 2000000 /dev/zero >&2",
			     NULL};
	const char *fail[] = {"sh", "-c", "echo partial; exit 3", NULL};
	const char *slow[] = {"sleep", "100", NULL};
	struct dm_buf out, err;

	dm_buf_init(&out);
	dm_buf_init(&err);
	ASSERT_OK(dm_buf_append(&out, "M", 1));
	ASSERT_OK(dm_spawn_capture(big, &out, &err, 0));
	ASSERT_EQ_INT(out.len, 3000000 + 1);
	ASSERT_EQ_INT(out.p[0], 'M'); /* appended, not replaced */
	ASSERT_EQ_INT(err.len, 2000000);
	ASSERT_EQ_INT(out.p[out.len], 0);

	dm_buf_reset(&out);
	ASSERT_EQ_INT(dm_spawn_capture(fail, &out, NULL, 0), DM_ECHILD);
	ASSERT_EQ_STR((char *)out.p, "partial\n");
	ASSERT_EQ_INT(dm_spawn_capture(slow, NULL, NULL, 200), DM_ECHILD);
	dm_buf_free(&out);
	dm_buf_free(&err);
}

TEST(spawn_limit_fsize)
{
	const char *argv[] = {"head", "-c", "100000", "/dev/zero", NULL};
	struct dm_spawn_opts o = opts(argv);
	struct dm_spawn_result r;
	char file[PATH_MAX];
	struct stat st;
	int fd;

	snprintf(file, sizeof(file), "%s/big", tap_tmpdir());
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_TRUE(fd >= 0);
	o.stdout_fd = fd;
	o.limit_fsize = 4096;
	ASSERT_OK(dm_spawn_run(&o, &r));
	ASSERT_EQ_INT(r.signal, SIGXFSZ);
	ASSERT_EQ_INT(fstat(fd, &st), 0);
	ASSERT_TRUE(st.st_size <= 4096);
	close(fd);
}

TEST(spawn_cpu_ms)
{
	struct dm_spawn_result r;

	ASSERT_OK(sh("i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done", &r));
	ASSERT_EQ_INT(r.exit_code, 0);
	ASSERT_TRUE(r.cpu_ms > 0);
	ASSERT_TRUE(r.wall_ms > 0);
}

struct worker {
	int id;
	int failures;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char script[128], want[4096];
	const char *argv[] = {"sh", "-c", script, NULL};
	struct dm_buf out, err;

	snprintf(script, sizeof(script),
		 "i=0; while [ $i -lt 100 ]; do echo t%d-$i; i=$((i+1)); "
		 "done; echo e%d >&2",
		 w->id, w->id);
	want[0] = '\0';
	for (int i = 0; i < 100; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
			 "t%d-%d\n", w->id, i);
	for (int round = 0; round < 10; round++) {
		char ewant[16];

		dm_buf_init(&out);
		dm_buf_init(&err);
		snprintf(ewant, sizeof(ewant), "e%d\n", w->id);
		if (dm_spawn_capture(argv, &out, &err, 0) != 0 ||
		    strcmp((char *)out.p, want) != 0 ||
		    strcmp((char *)err.p, ewant) != 0)
			w->failures++;
		dm_buf_free(&out);
		dm_buf_free(&err);
	}
	return NULL;
}

TEST_TIMEOUT(spawn_concurrent_captures, 60)
{
	pthread_t t[8];
	struct worker w[8];

	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){.id = i};
		ASSERT_EQ_INT(pthread_create(&t[i], NULL, worker_main, &w[i]),
			      0);
	}
	for (int i = 0; i < 8; i++)
		ASSERT_EQ_INT(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < 8; i++)
		ASSERT_EQ_INT(w[i].failures, 0);
}
