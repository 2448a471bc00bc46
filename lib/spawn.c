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
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
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
	int pidfd; /* -1: poll waitid() instead */
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

static int
set_limit(int resource, uint64_t v)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) != 0)
		return -1;
	/* An unprivileged process cannot raise its hard limit: a request
	 * above it gets the hard limit, which is already in force. */
	if (rl.rlim_max == RLIM_INFINITY || v < rl.rlim_max)
		rl.rlim_max = v;
	rl.rlim_cur = rl.rlim_max;
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

/* The forked child: never returns.  Every signal is blocked on entry. */
static void __attribute__((noreturn))
child(const struct dm_spawn_opts *o, const char *file, const char *pathenv,
      char *const *envp, int errfd)
{
	const int want[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
	struct sigaction dfl;
	sigset_t none;
	int hi[3], e;

	/* Keep the error pipe clear of the descriptors about to be
	 * replaced (the caller may have closed 0, 1 or 2). */
	if (errfd < 3 && (errfd = fcntl(errfd, F_DUPFD_CLOEXEC, 3)) < 0)
		_exit(127);

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

	if (o->cwd != NULL && chdir(o->cwd) != 0)
		goto fail;
	if (o->limit_as != 0 && set_limit(RLIMIT_AS, o->limit_as) != 0)
		goto fail;
	if (o->limit_fsize != 0 &&
	    set_limit(RLIMIT_FSIZE, o->limit_fsize) != 0)
		goto fail;

	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
		goto fail;

	if (pathenv != NULL)
		exec_search(file, pathenv, (char *const *)o->argv, envp);
	else
		execve(file, (char *const *)o->argv, envp);
fail:
	e = -errno;
	while (write(errfd, &e, sizeof(e)) < 0 && errno == EINTR)
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

/* Starts the program; on success it has exec'd and *p describes it. */
static int
launch(const struct dm_spawn_opts *o, struct proc *p)
{
	const char *file, *pathenv = NULL;
	char *const *envp;
	sigset_t all, old;
	int ep[2], e = 0;
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

	/* Blocked across fork so that none of the caller's handlers can run
	 * in the child before it resets them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	p->start_ms = dm_now_ms();
	pid = fork();
	if (pid == 0) {
		close(ep[0]);
		child(o, file, pathenv, envp, ep[1]);
	}
	if (pid < 0)
		e = -errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		return e;
	}

	/* EOF: the exec closed the pipe.  A number: the child's -errno. */
	do
		n = read(ep[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(e)) {
		reap(pid);
		return e < 0 ? e : -EIO;
	}
	if (n != 0) {
		kill(pid, SIGKILL);
		reap(pid);
		return n < 0 ? -errno : -EIO;
	}

	p->pid = pid;
	p->pidfd = open_pidfd(pid);
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
out:
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
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
	struct proc p = {.pid = -1, .pidfd = -1};
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

	rc = launch(&co, &p);
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
