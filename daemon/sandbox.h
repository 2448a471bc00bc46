/*
 * sandbox.h: the box every job's compiler runs in.
 *
 * A job starts in new mount, pid, ipc and net namespaces and, unless the
 * kernel refuses it to root, a new user namespace.  Its file system is a
 * small tmpfs made the root with pivot_root: the toolchain read-only
 * (/usr and the /lib, /bin, /sbin links or binds, the few /etc files
 * compilers read, each compiler's own directories), /dev with null, zero,
 * full, random and urandom only, a private /tmp, the /proc of its own pid
 * namespace, and its job directory read-write at the very path it has on
 * the host, so the debug prefix maps of lib/jobdir.c stay what they are.
 * Nothing else of the host is there: no /etc/shadow, /root, /home, no
 * other job directory, no cache, no host /tmp, no network but a loopback
 * that is down.
 *
 * It runs as an unprivileged user: as root, dmaked gives it a dedicated
 * user (the user namespace maps only that one uid and gid); as a normal
 * user, its own ids in a user namespace.  Either way the compiler holds no
 * capability, with no_new_privs set.  The user namespace also makes
 * RLIMIT_NPROC count this job's processes alone (the kernel counts per
 * user namespace and uid).
 *
 * The plan (what to mount where) is made once by node_sandbox_new(); the
 * box itself is built per job in the child, by lib/spawn.c's hooks.
 */
#ifndef DM_NODE_SANDBOX_H
#define DM_NODE_SANDBOX_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../lib/spawn.h"

struct node_sandbox_conf {
	const char *root_dir; /* an empty directory, the box's mount point */
	const char *jobs_dir; /* where the job directories are */
	const char *const *extra; /* more host directories to show read-only
				     (the compilers'), NULL-terminated */
	uid_t uid;		  /* who the compiler runs as */
	gid_t gid;
	int userns;	    /* 1: a user namespace per job */
	uint64_t tmp_bytes; /* size of the private /tmp */
};

struct node_sandbox; /* opaque */

/* Makes the plan.  Paths of c are copied.  Fails with why (a sentence)
 * when the plan cannot work, e.g. a jobs dir inside a read-only part. */
int node_sandbox_new(const struct node_sandbox_conf *c,
		     struct node_sandbox **out, char *why, size_t why_len);
void node_sandbox_free(struct node_sandbox *sb);

/* A plan like base (same user, limits, mount point, /dev, /tmp, /proc)
 * whose system is not the host's but the directory sysroot, an
 * unpacked toolchain archive: every entry at the top of sysroot is shown
 * at `/` (directories and files read-only, links as links), nothing of
 * the host's /usr, /lib or /etc.  A compiler run in it finds what it
 * finds on the client it came from, at the same paths.  Fails with why
 * when sysroot would hide the job directories (it has their first
 * component) or holds more than the plan can take. */
int node_sandbox_derive(const struct node_sandbox *base, const char *sysroot,
			struct node_sandbox **out, char *why, size_t why_len);

/* Whether the kernel lets this process create the namespaces of flags
 * (CLONE_NEW*): 0, or -errno with why naming the first one refused and
 * *refused its name ("user", "net"...; static). */
int node_sandbox_kernel_check(int flags, char *why, size_t why_len,
			      const char **refused);

/* The namespaces a job gets (CLONE_NEW* flags). */
int node_sandbox_flags(const struct node_sandbox *sb);

/* One job's box.  Lives on the caller's stack until dm_spawn_run returns. */
struct node_sandbox_job {
	const struct node_sandbox *sb;
	const char *jobdir; /* absolute and resolved, shown read-write */
};

/* Hands the job directory (and all in it) to the job's user, when that
 * is not dmaked's own.  Returns 0 or -errno. */
int node_sandbox_give(const struct node_sandbox *sb, const char *jobdir);

/* Sets o's clone flags and hooks so the program runs in j's box. */
void node_sandbox_apply(struct node_sandbox_job *j, struct dm_spawn_opts *o);

/* What dm_spawn_result.setup_step names: "mount proc on /proc". */
void node_sandbox_step_text(const struct node_sandbox *sb, int step, char *out,
			    size_t len);

/* Adds host path dir to the list of directories to show (deduplicated:
 * nothing inside a directory already listed).  list holds *n entries,
 * at most max; dir must be absolute.  Returns 1 when added, 0 when
 * already covered, -ENOSPC when full.  Pure, for the unit tests. */
int node_sandbox_add_dir(char **list, size_t *n, size_t max, const char *dir);
/* 1 when path is dir or inside it (by name, no file system access). */
int node_sandbox_path_under(const char *path, const char *dir);

#endif
