/*
 * spawn.h: run one program to completion, blocking, with its stdio on
 * given descriptors, an optional working directory, environment,
 * wall-clock limit and resource limits.  Safe to call from several
 * threads at once (it waits for its own pid only, never for any child).
 *
 * The program leads a process group of its own.  When it exits or times
 * out, whatever is left in that group is killed with SIGKILL, so nothing
 * it started outlives it (and a capture never waits on a background child
 * that holds its pipes).  Descriptors above 2 without FD_CLOEXEC are
 * inherited, as a jobserver's must be; dmake opens all its own with
 * O_CLOEXEC.
 */
#ifndef DM_SPAWN_H
#define DM_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Hooks for a program started in new namespaces (dm_spawn_opts.clone_flags).
 * Each returns 0 or -errno and, on failure, may set *step to a number of
 * its own (>= 1) that names what failed; dm_spawn_result.setup_step
 * carries it back to the caller.
 *
 * The parent hook runs in the caller right after the child is created and
 * before the child goes on: for what only a process outside the new
 * namespaces can do (write a user namespace's uid_map).  On failure the
 * child is killed.
 *
 * The child hook runs in the child, with every signal blocked, stdio in
 * place, before the cwd, the limits and the exec.  It runs in a copy of a
 * possibly multithreaded caller: async-signal-safe calls only, no malloc,
 * no stdio; whatever it needs is prepared by the caller beforehand. */
typedef int (*dm_spawn_parent_fn)(void *arg, pid_t pid, int *step);
typedef int (*dm_spawn_child_fn)(void *arg, int *step);

struct dm_spawn_opts {
	const char *const *argv; /* argv[0] is what the program sees */
	const char *path;	 /* file to execute; NULL: argv[0], searched
				    on PATH when it has no '/' */
	const char *cwd;	 /* NULL: the caller's */
	char *const *envp;	 /* NULL: the caller's environment */
	int stdin_fd;		 /* -1: /dev/null */
	int stdout_fd;		 /* -1: /dev/null */
	int stderr_fd;		 /* -1: /dev/null */
	unsigned timeout_ms;	 /* 0: none; on expiry the child's process
				    group is killed with SIGKILL */
	uint64_t limit_as;	 /* RLIMIT_AS bytes, 0: unchanged */
	uint64_t limit_fsize;	 /* RLIMIT_FSIZE bytes, 0: unchanged */
	uint64_t limit_cpu;	 /* RLIMIT_CPU seconds, 0: unchanged (SIGXCPU
				    then, one second later, SIGKILL) */
	uint64_t limit_nproc;	 /* RLIMIT_NPROC, 0: unchanged */
	/* CLONE_NEW* flags the child starts in; 0: none (a plain fork).
	 * With CLONE_NEWPID the child is the new namespace's init: after
	 * child_fn it runs the program as its own child, reaps whatever
	 * is orphaned, and reports the program's status, which becomes
	 * the result; when the program ends the init exits and the
	 * kernel kills everything left in the namespace. */
	int clone_flags;
	dm_spawn_parent_fn parent_fn; /* NULL: none */
	dm_spawn_child_fn child_fn;   /* NULL: none */
	void *fn_arg;		      /* passed to both */
};

struct dm_spawn_result {
	int exit_code;	 /* when it exited normally, else 0 */
	int signal;	 /* the signal that killed it, else 0 */
	int timed_out;	 /* killed for timeout_ms */
	uint32_t cpu_ms; /* user + system time of the child */
	uint32_t wall_ms;
	int setup_step; /* when the run failed in parent_fn or child_fn:
			    the step the hook named; DM_SPAWN_STEP_CLONE
			    when the clone with clone_flags failed; else 0 */
};
#define DM_SPAWN_STEP_CLONE (-1)

/* Runs the program and waits for it.  Returns 0 when it ran (whatever its
 * status: see *r), or a negative error when it could not be started
 * (-ENOENT, -EACCES...: exec failures are reported, not turned into exit
 * code 127). */
int dm_spawn_run(const struct dm_spawn_opts *o, struct dm_spawn_result *r);

/* Runs argv (searched on PATH) with stdin from /dev/null and collects its
 * stdout into *out (appended, NUL-terminated; may be NULL to discard) and
 * stderr into *err (may be NULL).  Returns 0 if it ran and exited 0,
 * DM_ECHILD if it ran and failed, or a negative error. */
struct dm_buf;
int dm_spawn_capture(const char *const *argv, struct dm_buf *out,
		     struct dm_buf *err, unsigned timeout_ms);

/* dm_spawn_run() with the child's stdout and stderr collected into
 * *out and *err (appended, NUL-terminated) instead of going to
 * o->stdout_fd and o->stderr_fd; a NULL buffer leaves that stream to the
 * descriptor in *o.  Same returns as dm_spawn_run(). */
int dm_spawn_run_capture(const struct dm_spawn_opts *o,
			 struct dm_spawn_result *r, struct dm_buf *out,
			 struct dm_buf *err);

#endif
