/*
 * spawn.c: run one program to completion (see spawn.h).
 *
 * fork + execve, because the child has to do more than posix_spawn can
 * (setrlimit) and must report every failure before exec, chdir and limits
 * included, as an error rather than an exit status.  The child runs only
 * async-signal-safe calls: other threads of the caller may hold malloc's
 * or stdio's locks at the moment of the fork.  Failures travel to the
 * parent as -errno through a close-on-exec pipe, whose EOF means the exec
 * succeeded.
 *
 * The parent then waits for its own pid alone: on a pidfd when the kernel
 * has them (Linux >= 5.3), else by polling waitid() every few
 * milliseconds.  It looks at the exited child with WNOWAIT first, so the
 * pid (and with it the process group id) stays reserved while the rest of
 * the group is killed; only then is the child reaped with wait4() for its
 * rusage.
 *
 * A child started in new namespaces (clone_flags) is made with the raw
 * clone system call, which copies the caller as fork() does but takes none
 * of libc's locks, so the child can never inherit one held by another
 * thread; for the same reason it changes ids and forks with raw system
 * calls only (libc's setresuid() would try to reach the caller's other
 * threads).  The parent hook runs while the child waits on a pipe.  With
 * CLONE_NEWPID the child becomes the namespace's init and the program its
 * child: a program that is not init keeps the ordinary signal semantics
 * (an init ignores SIGXFSZ, SIGXCPU...), and the init's exit takes down
 * everything left in the namespace.  The init hands the program's wait
 * status to the parent through a pipe, read after the init is reaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "buf.h"
#include "err.h"
#include "spawn.h"

extern char **environ;

/* Polling interval when there is no pidfd to wait on. */
#define POLL_FALLBACK_MS 10

struct proc {
	pid_t pid;
	int pidfd;    /* -1: poll waitid() instead */
	int statusfd; /* the init's report of the program's status, or -1 */
	uint64_t start_ms;
};

/* Where one captured stream goes. */
struct sink {
	int fd; /* read end, -1 once at EOF */
	struct dm_buf *b;
};

static void
close_keep_errno(int fd)
{
	int e = errno;

	if (fd >= 0)
		close(fd);
	errno = e;
}

static int
open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	/* pidfd_open() sets close-on-exec by itself. */
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* Soft limit v, hard limit v + slack. */
static int
set_limit(int resource, uint64_t v, uint64_t slack)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) != 0)
		return -1;
	/* An unprivileged process cannot raise its hard limit: a request
	 * above it gets the hard limit, which is already in force. */
	if (rl.rlim_max == RLIM_INFINITY || v + slack < rl.rlim_max)
		rl.rlim_max = v + slack;
	rl.rlim_cur = v < rl.rlim_max ? v : rl.rlim_max;
	return setrlimit(resource, &rl);
}

/* Tries each PATH entry in turn as execvp() does, with the errors it
 * reports: EACCES when some candidate exists but cannot be run, else
 * ENOENT.  Stack memory only: this runs in the forked child. */
static void
exec_search(const char *file, const char *pathenv, char *const *argv,
	    char *const *envp)
{
	char buf[PATH_MAX];
	size_t flen = strlen(file);
	int saw_eacces = 0;
	const char *p = pathenv;

	for (;;) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);

		/* An empty entry means the current directory. */
		if (dlen + 1 + flen + 1 <= sizeof(buf)) {
			size_t n = 0;

			if (dlen > 0) {
				memcpy(buf, p, dlen);
				buf[dlen] = '/';
				n = dlen + 1;
			}
			memcpy(buf + n, file, flen + 1);
			execve(buf, argv, envp);
			switch (errno) {
			case EACCES:
				saw_eacces = 1;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ENODEV:
			case ETIMEDOUT:
			case ENAMETOOLONG:
			case ELOOP:
				break;
			default:
				return;
			}
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	errno = saw_eacces ? EACCES : ENOENT;
}

/* fork() without libc: see the top of the file.  With no new stack the
 * child returns here on a copy of the caller's, as from fork(). */
static pid_t
raw_clone(int flags)
{
#if defined(__s390__) || defined(__CRIS__)
	return (pid_t)syscall(SYS_clone, 0L, (long)flags | SIGCHLD, 0L, 0L,
			      0L);
#else
	return (pid_t)syscall(SYS_clone, (long)flags | SIGCHLD, 0L, 0L, 0L,
			      0L);
#endif
}

/* What an exec would do to the descriptors, for a child that stays
 * without exec (the init of a pid namespace): closes every close-on-exec
 * descriptor but keep1 and keep2, so the caller's sockets and files do
 * not live on in it.  Reads /proc/self/fd with getdents64: no malloc. */
static int
close_cloexec(int keep1, int keep2)
{
	char buf[4096];
	long n;
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return -1;
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			/* struct linux_dirent64: ino, off, reclen, type, name */
			unsigned short reclen;
			const char *name = buf + off + 19;
			int fd = 0, fl;

			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			off += reclen;
			if (name[0] < '0' || name[0] > '9')
				continue;
			for (const char *c = name; *c >= '0' && *c <= '9'; c++)
				fd = fd * 10 + (*c - '0');
			if (fd <= 2 || fd == dfd || fd == keep1 || fd == keep2)
				continue;
			if ((fl = fcntl(fd, F_GETFD)) >= 0 &&
			    (fl & FD_CLOEXEC))
				close(fd);
		}
	}
	close(dfd);
	return n < 0 ? -1 : 0;
}

/* The namespace's init, once the program is started as its child: reaps
 * every child until the program's status is known, reports it and exits,
 * which kills whatever is left in the namespace.  Signals stay blocked:
 * only a SIGKILL from outside ends it early. */
static void __attribute__((noreturn)) be_init(pid_t program, int statusfd)
{
	int st;

	for (;;) {
		pid_t w = waitpid(-1, &st, __WALL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			_exit(127);
		if (w == program)
			break;
	}
	while (write(statusfd, &st, sizeof(st)) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* glibc refuses sigaction() on the signals it reserves for threads (32
 * and 33), yet an ignored one is inherited across exec: make 4.3 hands
 * them to its recipes ignored.  The kernel's own call resets them. */
static void
reset_reserved(int sig)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} k = {0};

	k.handler = (void *)SIG_DFL;
	(void)syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof(k.mask));
}

/* The forked child: never returns.  Every signal is blocked on entry.
 * syncfd (or -1) is read once the parent hook is done; statusfd (or -1)
 * is where the init of a new pid namespace reports the program's status. */
static void __attribute__((noreturn))
child(const struct dm_spawn_opts *o, const char *file, const char *pathenv,
      char *const *envp, int errfd, int syncfd, int statusfd)
{
	const int want[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
	struct sigaction dfl;
	sigset_t none;
	int hi[3], rec[2], step = 0, rc;

	/* Keep the error and status pipes clear of the descriptors about
	 * to be replaced (the caller may have closed 0, 1 or 2). */
	if (errfd < 3 && (errfd = fcntl(errfd, F_DUPFD_CLOEXEC, 3)) < 0)
		_exit(127);
	if (statusfd >= 0 && statusfd < 3 &&
	    (statusfd = fcntl(statusfd, F_DUPFD_CLOEXEC, 3)) < 0)
		_exit(127);
	/* Nothing may happen in new namespaces before the parent has set
	 * them up (a user namespace has no ids until then).  EOF: the
	 * parent gave up and is about to kill us. */
	if (syncfd >= 0) {
		char c;
		ssize_t n;

		do
			n = read(syncfd, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			_exit(127);
		close(syncfd);
	}

	/* The caller's handlers must not run here, and its ignored signals
	 * (SIGPIPE in most daemons) must not be ignored by the program. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP &&
		    sigaction(sig, &dfl, NULL) != 0)
			reset_reserved(sig);

	/* Its own group, so a timeout can kill everything it started. */
	if (setpgid(0, 0) != 0)
		goto fail;

	/* Copy every source above 2 before any dup2(), so that a source
	 * that is itself 0, 1 or 2 is not overwritten before it is used. */
	for (int i = 0; i < 3; i++) {
		int src = want[i];

		if (src < 0) {
			src = open("/dev/null",
				   (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
			if (src < 0)
				goto fail;
		}
		if ((hi[i] = fcntl(src, F_DUPFD_CLOEXEC, 3)) < 0)
			goto fail;
	}
	/* dup2() clears FD_CLOEXEC on 0, 1 and 2; the copies above close
	 * at exec. */
	for (int i = 0; i < 3; i++)
		if (dup2(hi[i], i) < 0)
			goto fail;

	/* Best effort: without /proc the descriptors stay in the init,
	 * which runs nothing but waitpid(). */
	if (o->clone_flags & CLONE_NEWPID)
		(void)close_cloexec(errfd, statusfd);
	if (o->child_fn != NULL && (rc = o->child_fn(o->fn_arg, &step)) != 0) {
		errno = -rc;
		goto fail;
	}
	step = 0;
	if (o->clone_flags & CLONE_NEWPID) {
		pid_t pid = raw_clone(0);

		if (pid < 0)
			goto fail;
		if (pid > 0) {
			/* The program holds the error pipe until its exec:
			 * the init must not keep it open. */
			close(errfd);
			be_init(pid, statusfd);
		}
		close(statusfd);
	}

	if (o->cwd != NULL && chdir(o->cwd) != 0)
		goto fail;
	if (o->limit_as != 0 && set_limit(RLIMIT_AS, o->limit_as, 0) != 0)
		goto fail;
	if (o->limit_fsize != 0 &&
	    set_limit(RLIMIT_FSIZE, o->limit_fsize, 0) != 0)
		goto fail;
	/* SIGXCPU at the limit, which says what happened; SIGKILL a second
	 * later for a program that ignores it. */
	if (o->limit_cpu != 0 && set_limit(RLIMIT_CPU, o->limit_cpu, 1) != 0)
		goto fail;
	if (o->limit_nproc != 0 &&
	    set_limit(RLIMIT_NPROC, o->limit_nproc, 0) != 0)
		goto fail;

	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
		goto fail;

	if (pathenv != NULL)
		exec_search(file, pathenv, (char *const *)o->argv, envp);
	else
		execve(file, (char *const *)o->argv, envp);
fail:
	rec[0] = -errno;
	rec[1] = step;
	while (write(errfd, rec, sizeof(rec)) < 0 && errno == EINTR)
		;
	_exit(127);
}

/* Reaps a child that failed before exec, whose status says nothing. */
static void
reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static void
close_pair(int fds[2])
{
	close_keep_errno(fds[0]);
	close_keep_errno(fds[1]);
	fds[0] = fds[1] = -1;
}

/* Starts the program; on success it has exec'd and *p describes it.  On
 * failure in a hook, *step is the step it named. */
static int
launch(const struct dm_spawn_opts *o, struct proc *p, int *step)
{
	const char *file, *pathenv = NULL;
	char *const *envp;
	sigset_t all, old;
	int ep[2], sp[2] = {-1, -1}, st[2] = {-1, -1}, rec[2], e = 0;
	ssize_t n;
	pid_t pid;

	if (o->argv == NULL || o->argv[0] == NULL)
		return -EINVAL;
	file = o->path ? o->path : o->argv[0];
	if (*file == '\0')
		return -ENOENT;
	/* A bare name, in o->path too, is searched on the caller's PATH
	 * (as execvp() does, whatever envp holds); a relative path is taken
	 * in o->cwd, since the child is already there when it execs. */
	if (strchr(file, '/') == NULL) {
		pathenv = getenv("PATH");
		if (pathenv == NULL)
			pathenv = "/bin:/usr/bin";
	}
	envp = o->envp ? o->envp : environ;

	if (pipe2(ep, O_CLOEXEC) != 0)
		return -errno;
	if ((o->parent_fn != NULL && pipe2(sp, O_CLOEXEC) != 0) ||
	    ((o->clone_flags & CLONE_NEWPID) && pipe2(st, O_CLOEXEC) != 0)) {
		e = -errno;
		close_pair(ep);
		close_pair(sp);
		return e;
	}

	/* Blocked across fork so that none of the caller's handlers can run
	 * in the child before it resets them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	p->start_ms = dm_now_ms();
	pid = o->clone_flags != 0 ? raw_clone(o->clone_flags) : fork();
	if (pid == 0) {
		close(ep[0]);
		if (sp[1] >= 0)
			close(sp[1]);
		if (st[0] >= 0)
			close(st[0]);
		child(o, file, pathenv, envp, ep[1], sp[0], st[1]);
	}
	if (pid < 0)
		e = -errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(ep[1]);
	close_keep_errno(sp[0]);
	close_keep_errno(st[1]);
	if (pid < 0) {
		close(ep[0]);
		close_keep_errno(sp[1]);
		close_keep_errno(st[0]);
		if (o->clone_flags != 0)
			*step = DM_SPAWN_STEP_CLONE;
		return e;
	}
	if (o->parent_fn != NULL) {
		if ((e = o->parent_fn(o->fn_arg, pid, step)) != 0) {
			close(sp[1]);
			close(ep[0]);
			close_keep_errno(st[0]);
			kill(pid, SIGKILL);
			reap(pid);
			return e;
		}
		while (write(sp[1], "", 1) < 0 && errno == EINTR)
			;
		close(sp[1]);
	}

	/* EOF: the exec closed the pipe.  A record: the child's -errno and
	 * the hook's step. */
	do
		n = read(ep[0], rec, sizeof(rec));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(rec)) {
		close_keep_errno(st[0]);
		reap(pid);
		*step = rec[1];
		return rec[0] < 0 ? rec[0] : -EIO;
	}
	if (n != 0) {
		e = n < 0 ? -errno : -EIO;
		close_keep_errno(st[0]);
		kill(pid, SIGKILL);
		reap(pid);
		return e;
	}

	p->pid = pid;
	p->pidfd = open_pidfd(pid);
	p->statusfd = st[0];
	return 0;
}

/* 1 when the child has exited (it is left a zombie, not reaped), 0 while
 * it runs, -errno when it cannot be waited for: someone else reaped it
 * (a waitpid(-1) elsewhere in the program), so its pid may already name
 * another process. */
static int
leader_exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) !=
	       0) {
		if (errno != EINTR)
			return -errno;
	}
	return si.si_pid != 0;
}

static void
close_sinks(struct sink *s, int n)
{
	for (int i = 0; i < n; i++) {
		if (s[i].fd >= 0)
			close(s[i].fd);
		s[i].fd = -1;
	}
}

/* Reads what one sink has; returns 0 or -ENOMEM.  Closes it at EOF. */
static int
drain(struct sink *s)
{
	uint8_t *dst;
	ssize_t n;

	if (dm_buf_reserve(s->b, 65536) != 0)
		return -ENOMEM;
	dst = s->b->p + s->b->len;
	n = read(s->fd, dst, s->b->cap - s->b->len - 1);
	if (n > 0) {
		s->b->len += (size_t)n;
		return 0;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	close(s->fd);
	s->fd = -1;
	return 0;
}

/* Waits for the child, reading the sinks until EOF, enforcing the
 * timeout; then kills the rest of its group and reaps it. */
static int
supervise(struct proc *p, unsigned timeout_ms, struct sink *s, int ns,
	  struct dm_spawn_result *r)
{
	uint64_t deadline = p->start_ms + timeout_ms;
	struct pollfd pf[3];
	struct sink *of[3]; /* the sink behind each pf[], NULL: pidfd */
	struct rusage ru;
	int exited = 0, rc = 0, status = 0;
	uint64_t cpu;

	for (;;) {
		int nf = 0, wait_ms = -1, open_sinks = 0;

		if (!exited) {
			int st = leader_exited(p->pid);

			if (st < 0) {
				/* Not ours any more: signal and wait for
				 * nothing under its pid. */
				close_sinks(s, ns);
				rc = st;
				goto out;
			}
			if (st > 0) {
				exited = 1;
				/* Background children would otherwise hold
				 * the pipes open and outlive the job. */
				kill(-p->pid, SIGKILL);
			}
		}
		for (int i = 0; i < ns; i++)
			open_sinks += s[i].fd >= 0;
		if (exited && open_sinks == 0)
			break;
		if (timeout_ms != 0) {
			uint64_t t = dm_now_ms();

			if (t >= deadline) {
				if (!exited) {
					kill(-p->pid, SIGKILL);
					r->timed_out = 1;
				}
				/* Something outside the group may hold the
				 * pipes: stop reading. */
				close_sinks(s, ns);
				break;
			}
			wait_ms = deadline - t > INT_MAX ? INT_MAX
							 : (int)(deadline - t);
		}
		if (!exited) {
			if (p->pidfd >= 0) {
				of[nf] = NULL;
				pf[nf].fd = p->pidfd;
				pf[nf++].events = POLLIN;
			} else if (wait_ms < 0 || wait_ms > POLL_FALLBACK_MS) {
				wait_ms = POLL_FALLBACK_MS;
			}
		}
		for (int i = 0; i < ns; i++) {
			if (s[i].fd < 0)
				continue;
			of[nf] = &s[i];
			pf[nf].fd = s[i].fd;
			pf[nf++].events = POLLIN;
		}
		if (poll(pf, (nfds_t)nf, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			kill(-p->pid, SIGKILL);
			close_sinks(s, ns);
			break;
		}
		for (int i = 0; i < nf; i++) {
			if (of[i] == NULL || pf[i].revents == 0)
				continue;
			if (drain(of[i]) != 0) {
				rc = -ENOMEM;
				kill(-p->pid, SIGKILL);
				close_sinks(s, ns);
				break;
			}
		}
		if (rc != 0)
			break;
	}

	memset(&ru, 0, sizeof(ru));
	while (wait4(p->pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			if (rc == 0)
				rc = -errno;
			break;
		}
	}
	/* The init of a pid namespace reported the program's status; a
	 * killed init (timeout) reported nothing and its own status stands. */
	if (rc == 0 && p->statusfd >= 0) {
		int st;
		ssize_t n;

		do
			n = read(p->statusfd, &st, sizeof(st));
		while (n < 0 && errno == EINTR);
		if (n == (ssize_t)sizeof(st))
			status = st;
	}
out:
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	if (p->statusfd >= 0)
		close(p->statusfd);
	p->statusfd = -1;
	r->wall_ms = (uint32_t)(dm_now_ms() - p->start_ms);
	if (rc != 0)
		return rc;
	if (WIFEXITED(status))
		r->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		r->signal = WTERMSIG(status);
	cpu = (uint64_t)ru.ru_utime.tv_sec * 1000 +
	      (uint64_t)ru.ru_utime.tv_usec / 1000 +
	      (uint64_t)ru.ru_stime.tv_sec * 1000 +
	      (uint64_t)ru.ru_stime.tv_usec / 1000;
	r->cpu_ms = cpu > UINT32_MAX ? UINT32_MAX : (uint32_t)cpu;
	return 0;
}

int
dm_spawn_run_capture(const struct dm_spawn_opts *o, struct dm_spawn_result *r,
		     struct dm_buf *out, struct dm_buf *err)
{
	struct dm_buf *bufs[2] = {out, err};
	struct dm_spawn_opts co = *o;
	struct sink s[2];
	struct proc p = {.pid = -1, .pidfd = -1, .statusfd = -1};
	int wr[2] = {-1, -1};
	int ns = 0, rc;

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 2; i++) {
		int fds[2];

		if (bufs[i] == NULL)
			continue;
		if (pipe2(fds, O_CLOEXEC) != 0) {
			rc = -errno;
			goto err_after_pipes;
		}
		s[ns].fd = fds[0];
		s[ns++].b = bufs[i];
		wr[i] = fds[1];
	}
	if (wr[0] >= 0)
		co.stdout_fd = wr[0];
	if (wr[1] >= 0)
		co.stderr_fd = wr[1];

	rc = launch(&co, &p, &r->setup_step);
	/* Only the child may hold the write ends, or EOF never comes. */
	for (int i = 0; i < 2; i++)
		close_keep_errno(wr[i]);
	wr[0] = wr[1] = -1;
	if (rc != 0)
		goto err_after_pipes;

	rc = supervise(&p, o->timeout_ms, s, ns, r);
	for (int i = 0; i < 2; i++)
		if (bufs[i] != NULL && dm_buf_cstr(bufs[i]) == NULL && rc == 0)
			rc = -ENOMEM;
	return rc;

err_after_pipes:
	for (int i = 0; i < 2; i++)
		close_keep_errno(wr[i]);
	close_sinks(s, ns);
	return rc;
}

int
dm_spawn_run(const struct dm_spawn_opts *o, struct dm_spawn_result *r)
{
	return dm_spawn_run_capture(o, r, NULL, NULL);
}

int
dm_spawn_capture(const char *const *argv, struct dm_buf *out,
		 struct dm_buf *err, unsigned timeout_ms)
{
	struct dm_spawn_opts o = {
		.argv = argv,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = -1,
		.timeout_ms = timeout_ms,
	};
	struct dm_spawn_result r;
	int rc;

	if ((rc = dm_spawn_run_capture(&o, &r, out, err)) != 0)
		return rc;
	if (r.exit_code != 0 || r.signal != 0 || r.timed_out)
		return DM_ECHILD;
	return 0;
}
