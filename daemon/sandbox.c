/*
 * sandbox.c: see sandbox.h.
 *
 * The box is built by the job's first process, the init of its new pid
 * namespace, between clone and exec (lib/spawn.c), so this file has two
 * halves.  node_sandbox_new() runs once at start and turns everything
 * that needs the C library (stat, realpath, readlink, formatting) into a
 * list of operations on preformatted paths.  sb_child() replays that list
 * with system calls only: it runs in a copy of a multithreaded process.
 *
 * Order in the child, and why:
 *  1. every host path the box shows is opened (O_PATH) while the process
 *     still has its original ids: a job user cannot walk into dmaked's
 *     private cache dir, but its job directory must be mounted from there.
 *  2. the box's tmpfs root is mounted on the node's empty root dir and
 *     made the cwd; from here on every path is relative to it.
 *  3. in a user namespace the ids change now: the tmpfs refuses inodes
 *     to an id the namespace does not map (root, for a root dmaked).  The
 *     namespace's capabilities survive the change, because its own root
 *     (uid 0 inside) is not mapped at all.  Without a user namespace
 *     (root, kernel refuses one) the ids change last, as usual.
 *  4. mount points are made and the opened paths bound onto them, then
 *     made read-only, keeping the flags the kernel locks on a mount that
 *     came from a more privileged namespace (nosuid, noexec, atime...).
 *  5. /proc, pivot_root, the tmpfs root read-only, no_new_privs and no
 *     capabilities left.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/err.h"
#include "sandbox.h"

#define OPS_MAX 96

enum op_kind {
	OP_BIND_RO,  /* a host file or directory, read-only */
	OP_BIND_DEV, /* a host device node, as it is */
	OP_SYMLINK,  /* a symbolic link with the host's target */
	OP_TMPFS,    /* the private /tmp */
};

struct op {
	enum op_kind kind;
	int is_dir;
	char *host;	    /* bind source, or the link's target */
	char *rel;	    /* where in the box, without the leading '/' */
	unsigned long keep; /* MS_* of the source's mount to keep */
};

struct node_sandbox {
	char *root_dir;
	char *jobs_real; /* the jobs directory, resolved */
	struct op ops[OPS_MAX];
	int nops;
	uid_t uid;
	gid_t gid;
	int userns;
	int setgroups_ok; /* setgroups() works in the box */
	char uid_map[64];
	char gid_map[64];
	char root_opts[128]; /* the tmpfs root's mount options */
	char tmp_opts[128];
};

/* Steps, for dm_spawn_result.setup_step.  Per-operation steps are
 * STEP_OP_* + the operation's index. */
enum {
	STEP_SETGROUPS_FILE = 1,
	STEP_UID_MAP,
	STEP_GID_MAP,
	STEP_PRIVATE,
	STEP_JOB_OPEN,
	STEP_ROOT_TMPFS,
	STEP_ROOT_CHDIR,
	STEP_GROUPS,
	STEP_IDS,
	STEP_JOB_MKDIR,
	STEP_JOB_BIND,
	STEP_PROC_MKDIR,
	STEP_PROC,
	STEP_NO_NESTING,
	STEP_PIVOT,
	STEP_ROOT_RO,
	STEP_NO_NEW_PRIVS,
	STEP_BOUNDING,
	STEP_DUMPABLE,
	STEP_CAPS,
	STEP_CORE,
	STEP_OP_OPEN = 1000,
	STEP_OP_MKDIR = 2000,
	STEP_OP_MOUNT = 3000,
	STEP_OP_RDONLY = 4000,
};

/* What the toolchain needs of the host besides its own directories:
 * measured with strace on gcc 12 and clang 14 (clang's driver reads the
 * distribution's release files), plus the dynamic loader's cache and
 * Debian's alternatives, which /usr/bin/cc goes through. */
static const char *const system_paths[] = {
	"/usr",
	"/bin",
	"/sbin",
	"/lib",
	"/lib32",
	"/lib64",
	"/libx32",
	"/etc/alternatives",
	"/etc/ld.so.cache",
	"/etc/ld.so.conf",
	"/etc/ld.so.conf.d",
	"/etc/os-release",
	"/etc/lsb-release",
	"/etc/debian_version",
	"/etc/redhat-release",
	"/etc/SuSE-release",
	"/etc/alpine-release",
	"/etc/gentoo-release",
	"/etc/env.d/gcc",
	"/etc/clang",
	NULL,
};
static const char *const devices[] = {"/dev/null",    "/dev/zero",
				      "/dev/full",    "/dev/random",
				      "/dev/urandom", NULL};
static const char *const dev_links[][2] = {
	{"/dev/fd", "/proc/self/fd"},
	{"/dev/stdin", "/proc/self/fd/0"},
	{"/dev/stdout", "/proc/self/fd/1"},
	{"/dev/stderr", "/proc/self/fd/2"},
};

/* ---- the plan -------------------------------------------------------- */

int
node_sandbox_path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

int
node_sandbox_add_dir(char **list, size_t *n, size_t max, const char *dir)
{
	size_t k = 0;
	char *copy;

	for (size_t i = 0; i < *n; i++)
		if (node_sandbox_path_under(dir, list[i]))
			return 0;
	if ((copy = strdup(dir)) == NULL)
		return -ENOMEM;
	/* Entries inside the new one are covered by it now. */
	for (size_t i = 0; i < *n; i++) {
		if (node_sandbox_path_under(list[i], dir))
			free(list[i]);
		else
			list[k++] = list[i];
	}
	*n = k;
	if (*n >= max) {
		free(copy);
		return -ENOSPC;
	}
	list[(*n)++] = copy;
	return 1;
}

/* The MS_* flags of the mount holding path that a bind of it must keep. */
static unsigned long
locked_flags(const char *path)
{
	struct statvfs v;
	unsigned long f = 0;

	if (statvfs(path, &v) != 0)
		return 0;
	if (v.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (v.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (v.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (v.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (v.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (v.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	/* Neither: strictatime, which must be asked for or it changes. */
	if (!(f & (MS_NOATIME | MS_RELATIME)))
		f |= MS_STRICTATIME;
	return f;
}

static int
add_op(struct node_sandbox *sb, enum op_kind kind, const char *host,
       const char *at, int is_dir)
{
	struct op *op;

	if (sb->nops >= OPS_MAX)
		return -ENOSPC;
	op = &sb->ops[sb->nops];
	op->kind = kind;
	op->is_dir = is_dir;
	op->host = strdup(host);
	op->rel = strdup(at + 1);
	if (op->host == NULL || op->rel == NULL) {
		free(op->host);
		free(op->rel);
		return -ENOMEM;
	}
	op->keep = kind == OP_BIND_RO ? locked_flags(host) : 0;
	sb->nops++;
	return 0;
}

/* The host path `path` shown at `at` in the box as it is: a symbolic
 * link as a link (/lib -> usr/lib on a merged /usr), anything else bound
 * with `bind`, or with files_and_dirs_only only directories and regular
 * files.  Absent paths are skipped. */
static int
add_path_as(struct node_sandbox *sb, const char *path, const char *at,
	    enum op_kind bind, int files_and_dirs_only)
{
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (lstat(path, &st) != 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	if (S_ISLNK(st.st_mode)) {
		if ((n = readlink(path, target, sizeof(target) - 1)) < 0)
			return -errno;
		target[n] = '\0';
		return add_op(sb, OP_SYMLINK, target, at, 0);
	}
	if (files_and_dirs_only && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return 0;
	return add_op(sb, bind, path, at, S_ISDIR(st.st_mode));
}

/* A directory or regular file bound read-only at `at`. */
static int
add_path_at(struct node_sandbox *sb, const char *path, const char *at)
{
	return add_path_as(sb, path, at, OP_BIND_RO, 1);
}

/* A host path shown as it is: a symbolic link as a link (/lib -> usr/lib
 * on a merged /usr), anything else bound.  Absent paths are skipped. */
static int
add_path(struct node_sandbox *sb, const char *path, enum op_kind bind)
{
	return add_path_as(sb, path, path, bind, 0);
}

/* 1 when path lies in a part of the box that is read-only, or is a
 * path the plan already shows (a link like /bin). */
static int
covered(const struct node_sandbox *sb, const char *path)
{
	char rpath[PATH_MAX];
	int have_rpath = realpath(path, rpath) != NULL;

	for (int i = 0; i < sb->nops; i++) {
		const struct op *op = &sb->ops[i];
		char real[PATH_MAX];

		if (strcmp(path + 1, op->rel) == 0)
			return 1;
		if (op->kind != OP_BIND_RO || !op->is_dir)
			continue;
		if (node_sandbox_path_under(path, op->host) ||
		    (have_rpath && node_sandbox_path_under(rpath, op->host)))
			return 1;
		if (realpath(op->host, real) == NULL)
			continue;
		if (node_sandbox_path_under(path, real) ||
		    (have_rpath && node_sandbox_path_under(rpath, real)))
			return 1;
	}
	return 0;
}

/* The box's own parts and the plumbing every plan has: /dev's few
 * devices and links, the private /tmp. */
static int
add_box_parts(struct node_sandbox *sb)
{
	int rc;

	for (size_t i = 0; devices[i] != NULL; i++)
		if ((rc = add_path(sb, devices[i], OP_BIND_DEV)) != 0)
			return rc;
	for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++)
		if ((rc = add_op(sb, OP_SYMLINK, dev_links[i][1],
				 dev_links[i][0], 0)) != 0)
			return rc;
	return add_op(sb, OP_TMPFS, "tmpfs", "/tmp", 1);
}

int
node_sandbox_new(const struct node_sandbox_conf *c, struct node_sandbox **out,
		 char *why, size_t why_len)
{
	struct node_sandbox *sb = calloc(1, sizeof(*sb));
	char real[PATH_MAX];
	int rc;

	why[0] = '\0';
	if (sb == NULL)
		return -ENOMEM;
	sb->uid = c->uid;
	sb->gid = c->gid;
	sb->userns = c->userns;
	/* Only a gid_map written with CAP_SETGID leaves setgroups() open
	 * (user_namespaces(7)); without a user namespace root has it. */
	sb->setgroups_ok = !c->userns || geteuid() == 0;
	snprintf(sb->uid_map, sizeof(sb->uid_map), "%u %u 1\n",
		 (unsigned)c->uid, (unsigned)c->uid);
	snprintf(sb->gid_map, sizeof(sb->gid_map), "%u %u 1\n",
		 (unsigned)c->gid, (unsigned)c->gid);
	/* The root holds only mount points: a few inodes, no data. */
	snprintf(sb->root_opts, sizeof(sb->root_opts),
		 "mode=0755,uid=%u,gid=%u,size=64k,nr_inodes=4096",
		 (unsigned)c->uid, (unsigned)c->gid);
	snprintf(sb->tmp_opts, sizeof(sb->tmp_opts), "mode=1777,size=%llu",
		 (unsigned long long)c->tmp_bytes);
	if ((sb->root_dir = strdup(c->root_dir)) == NULL) {
		rc = -ENOMEM;
		goto err_after_sb;
	}
	for (size_t i = 0; system_paths[i] != NULL; i++)
		if ((rc = add_path(sb, system_paths[i], OP_BIND_RO)) != 0)
			goto err_plan;
	/* /tmp before the compilers' directories: a compiler may live in a
	 * directory under /tmp, whose mount point must be on this /tmp. */
	if ((rc = add_box_parts(sb)) != 0)
		goto err_plan;
	for (size_t i = 0; c->extra != NULL && c->extra[i] != NULL; i++) {
		if (covered(sb, c->extra[i]))
			continue;
		if ((rc = add_path(sb, c->extra[i], OP_BIND_RO)) != 0)
			goto err_plan;
	}
	if (realpath(c->jobs_dir, real) == NULL) {
		rc = -errno;
		snprintf(why, why_len, "%s: %s", c->jobs_dir, strerror(errno));
		goto err_after_sb;
	}
	if (covered(sb, real)) {
		snprintf(why, why_len,
			 "the jobs directory %s lies inside a part of the "
			 "sandbox that is read-only; give --cache-dir "
			 "elsewhere",
			 real);
		rc = DM_ECONFIG;
		goto err_after_sb;
	}
	if ((sb->jobs_real = strdup(real)) == NULL) {
		rc = -ENOMEM;
		goto err_after_sb;
	}
	*out = sb;
	return 0;

err_plan:
	snprintf(why, why_len, "cannot plan the sandbox: %s", dm_strerror(rc));
err_after_sb:
	node_sandbox_free(sb);
	return rc;
}

int
node_sandbox_derive(const struct node_sandbox *base, const char *sysroot,
		    struct node_sandbox **out, char *why, size_t why_len)
{
	struct node_sandbox *sb = calloc(1, sizeof(*sb));
	struct dirent **names = NULL;
	int n = -1, rc = 0;

	why[0] = '\0';
	if (sb == NULL)
		return -ENOMEM;
	sb->uid = base->uid;
	sb->gid = base->gid;
	sb->userns = base->userns;
	sb->setgroups_ok = base->setgroups_ok;
	memcpy(sb->uid_map, base->uid_map, sizeof(sb->uid_map));
	memcpy(sb->gid_map, base->gid_map, sizeof(sb->gid_map));
	memcpy(sb->root_opts, base->root_opts, sizeof(sb->root_opts));
	memcpy(sb->tmp_opts, base->tmp_opts, sizeof(sb->tmp_opts));
	if ((sb->root_dir = strdup(base->root_dir)) == NULL) {
		rc = -ENOMEM;
		goto err_after_sb;
	}
	/* Sorted, so that a step number means the same every time. */
	if ((n = scandir(sysroot, &names, NULL, alphasort)) < 0) {
		rc = -errno;
		snprintf(why, why_len, "%s: %s", sysroot, strerror(errno));
		goto err_after_sb;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		const char *name = names[i]->d_name;
		char host[PATH_MAX], at[NAME_MAX + 2];

		/* The box's own: its /dev, /proc and /tmp. */
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    strcmp(name, "dev") == 0 || strcmp(name, "proc") == 0 ||
		    strcmp(name, "tmp") == 0)
			continue;
		snprintf(at, sizeof(at), "/%s", name);
		if (node_sandbox_path_under(base->jobs_real, at)) {
			snprintf(why, why_len,
				 "the toolchain has a /%s, where this node's "
				 "job directories are (%s)",
				 name, base->jobs_real);
			rc = DM_ECONFIG;
			break;
		}
		snprintf(host, sizeof(host), "%s/%s", sysroot, name);
		rc = add_path_at(sb, host, at);
	}
	if (rc == 0)
		rc = add_box_parts(sb);
	if (rc != 0 && why[0] == '\0')
		snprintf(why, why_len, "cannot plan the sandbox: %s",
			 dm_strerror(rc));
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rc != 0)
		goto err_after_sb;
	if ((sb->jobs_real = strdup(base->jobs_real)) == NULL) {
		rc = -ENOMEM;
		goto err_after_sb;
	}
	*out = sb;
	return 0;

err_after_sb:
	node_sandbox_free(sb);
	return rc;
}

void
node_sandbox_free(struct node_sandbox *sb)
{
	if (sb == NULL)
		return;
	for (int i = 0; i < sb->nops; i++) {
		free(sb->ops[i].host);
		free(sb->ops[i].rel);
	}
	free(sb->root_dir);
	free(sb->jobs_real);
	free(sb);
}

int
node_sandbox_kernel_check(int flags, char *why, size_t why_len,
			  const char **refused)
{
	static const struct {
		int flag;
		const char *name;
	} ns[] = {
		{CLONE_NEWUSER, "user"}, {CLONE_NEWNS, "mount"},
		{CLONE_NEWPID, "pid"},	 {CLONE_NEWIPC, "ipc"},
		{CLONE_NEWNET, "net"},
	};
	int sofar = 0;

	why[0] = '\0';
	*refused = NULL;
	/* One more each time, so the first refusal names its namespace
	 * (without a user namespace an unprivileged user gets none). */
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		int st = 0;
		pid_t pid;

		if (!(flags & ns[i].flag))
			continue;
		sofar |= ns[i].flag;
		if ((pid = fork()) < 0)
			return -errno;
		if (pid == 0)
			_exit(unshare(sofar) == 0 ? 0 : errno);
		while (waitpid(pid, &st, 0) < 0)
			if (errno != EINTR)
				return -errno;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			continue;
		*refused = ns[i].name;
		snprintf(why, why_len,
			 "the kernel refuses a new %s namespace (%s)",
			 ns[i].name,
			 WIFEXITED(st) ? strerror(WEXITSTATUS(st))
				       : "the test was killed");
		return WIFEXITED(st) ? -WEXITSTATUS(st) : -EIO;
	}
	return 0;
}

int
node_sandbox_flags(const struct node_sandbox *sb)
{
	return CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET |
	       (sb->userns ? CLONE_NEWUSER : 0);
}

static uid_t give_uid;
static gid_t give_gid;

static int
give_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return lchown(path, give_uid, give_gid) != 0 ? -1 : 0;
}

int
node_sandbox_give(const struct node_sandbox *sb, const char *jobdir)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	int rc = 0;

	if (sb->uid == geteuid() && sb->gid == getegid())
		return 0;
	/* nftw() passes no argument to its callback. */
	pthread_mutex_lock(&mu);
	give_uid = sb->uid;
	give_gid = sb->gid;
	if (nftw(jobdir, give_one, 16, FTW_PHYS) != 0)
		rc = errno ? -errno : -EIO;
	pthread_mutex_unlock(&mu);
	return rc;
}

void
node_sandbox_step_text(const struct node_sandbox *sb, int step, char *out,
		       size_t len)
{
	static const char *const fixed[] = {
		[STEP_SETGROUPS_FILE] = "deny setgroups in the user namespace",
		[STEP_UID_MAP] = "write the user namespace's uid_map",
		[STEP_GID_MAP] = "write the user namespace's gid_map",
		[STEP_PRIVATE] = "make the mount tree private",
		[STEP_JOB_OPEN] = "open the job directory",
		[STEP_ROOT_TMPFS] = "mount the sandbox's tmpfs root",
		[STEP_ROOT_CHDIR] = "enter the sandbox's root",
		[STEP_GROUPS] = "drop supplementary groups",
		[STEP_IDS] = "switch to the job's uid and gid",
		[STEP_JOB_MKDIR] = "create the job directory's mount point",
		[STEP_JOB_BIND] = "mount the job directory",
		[STEP_PROC_MKDIR] = "create /proc",
		[STEP_PROC] = "mount proc on /proc",
		[STEP_NO_NESTING] = "forbid user namespaces inside the job",
		[STEP_PIVOT] = "pivot_root into the sandbox",
		[STEP_ROOT_RO] = "make the sandbox's root read-only",
		[STEP_NO_NEW_PRIVS] = "set no_new_privs",
		[STEP_BOUNDING] = "empty the capability bounding set",
		[STEP_DUMPABLE] = "make the sandbox's init undumpable",
		[STEP_CAPS] = "drop capabilities",
		[STEP_CORE] = "disable core dumps",
	};
	int i = step % 1000;

	if (step >= STEP_OP_OPEN && i < sb->nops) {
		const struct op *op = &sb->ops[i];
		const char *what =
			step < STEP_OP_MKDIR   ? "open"
			: step < STEP_OP_MOUNT ? "create /"
			: step < STEP_OP_RDONLY
				? (op->kind == OP_TMPFS ? "mount a tmpfs on /"
							: "bind-mount")
				: "make read-only /";

		if (step < STEP_OP_MKDIR ||
		    (step >= STEP_OP_MOUNT && step < STEP_OP_RDONLY &&
		     op->kind != OP_TMPFS))
			snprintf(out, len, "%s %s%s%s", what, op->host,
				 step >= STEP_OP_MOUNT ? " on /" : "",
				 step >= STEP_OP_MOUNT ? op->rel : "");
		else
			snprintf(out, len, "%s%s", what, op->rel);
	} else if (step > 0 &&
		   step < (int)(sizeof(fixed) / sizeof(fixed[0])) &&
		   fixed[step] != NULL) {
		snprintf(out, len, "%s", fixed[step]);
	} else {
		snprintf(out, len, "set up the sandbox (step %d)", step);
	}
}

/* ---- the parent's part: the user namespace's ids --------------------- */

static int
write_proc(pid_t pid, const char *file, const char *text)
{
	char path[64];
	size_t len = strlen(text);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = write(fd, text, len);
	if (n != (ssize_t)len) {
		int e = n < 0 ? errno : EIO;

		close(fd);
		return -e;
	}
	return close(fd) != 0 ? -errno : 0;
}

static int
sb_parent(void *arg, pid_t pid, int *step)
{
	const struct node_sandbox *sb = ((struct node_sandbox_job *)arg)->sb;
	int rc;

	if (!sb->setgroups_ok) {
		*step = STEP_SETGROUPS_FILE;
		if ((rc = write_proc(pid, "setgroups", "deny")) != 0)
			return rc;
	}
	*step = STEP_UID_MAP;
	if ((rc = write_proc(pid, "uid_map", sb->uid_map)) != 0)
		return rc;
	*step = STEP_GID_MAP;
	return write_proc(pid, "gid_map", sb->gid_map);
}

/* ---- the child's part: system calls only ----------------------------- */

/* "/proc/self/fd/N" without the C library's formatting. */
static void
fd_path(int fd, char out[32])
{
	char digits[12];
	int n = 0, k = 0;

	memcpy(out, "/proc/self/fd/", 14);
	k = 14;
	do
		digits[n++] = (char)('0' + fd % 10);
	while ((fd /= 10) > 0);
	while (n > 0)
		out[k++] = digits[--n];
	out[k] = '\0';
}

/* Creates the directories of rel (relative to the cwd) up to, and with
 * last, the last component itself. */
static int
mkdirs(const char *rel, int last)
{
	char buf[PATH_MAX];
	size_t len = strlen(rel);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, rel, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i] == '\0' && !last)
			break;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

static int
set_ids(const struct node_sandbox *sb, int *step)
{
	if (sb->setgroups_ok) {
		*step = STEP_GROUPS;
		if (syscall(SYS_setgroups, 0, NULL) != 0)
			return -errno;
	}
	*step = STEP_IDS;
	if (syscall(SYS_setresgid, sb->gid, sb->gid, sb->gid) != 0 ||
	    syscall(SYS_setresuid, sb->uid, sb->uid, sb->uid) != 0)
		return -errno;
	return 0;
}

#define TRY(s, call)                                                          \
	do {                                                                  \
		*step = (s);                                                  \
		if ((call) != 0)                                              \
			return -errno;                                        \
	} while (0)

static int
sb_child(void *arg, int *step)
{
	const struct node_sandbox_job *j = arg;
	const struct node_sandbox *sb = j->sb;
	struct __user_cap_header_struct caph = {_LINUX_CAPABILITY_VERSION_3,
						0};
	struct __user_cap_data_struct capd[2];
	const struct rlimit nocore = {0, 0};
	int fds[OPS_MAX], jfd, rc;
	char src[32];

	TRY(STEP_PRIVATE, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	/* 1. Everything from the host, opened with dmaked's own ids. */
	for (int i = 0; i < sb->nops; i++) {
		const struct op *op = &sb->ops[i];

		fds[i] = -1;
		if (op->kind != OP_BIND_RO && op->kind != OP_BIND_DEV)
			continue;
		*step = STEP_OP_OPEN + i;
		if ((fds[i] = open(op->host, O_PATH | O_CLOEXEC)) < 0)
			return -errno;
	}
	*step = STEP_JOB_OPEN;
	if ((jfd = open(j->jobdir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;

	/* 2. The root. */
	TRY(STEP_ROOT_TMPFS, mount("dmake", sb->root_dir, "tmpfs",
				   MS_NOSUID | MS_NODEV, sb->root_opts));
	TRY(STEP_ROOT_CHDIR, chdir(sb->root_dir));

	/* 3. */
	if (sb->userns && (rc = set_ids(sb, step)) != 0)
		return rc;

	/* 4. */
	for (int i = 0; i < sb->nops; i++) {
		const struct op *op = &sb->ops[i];

		*step = STEP_OP_MKDIR + i;
		if ((rc = mkdirs(op->rel,
				 op->is_dir || op->kind == OP_TMPFS)) != 0)
			return rc;
		if (op->kind == OP_SYMLINK) {
			if (symlink(op->host, op->rel) != 0)
				return -errno;
			continue;
		}
		if (op->kind == OP_TMPFS) {
			TRY(STEP_OP_MOUNT + i,
			    mount("tmpfs", op->rel, "tmpfs",
				  MS_NOSUID | MS_NODEV, sb->tmp_opts));
			continue;
		}
		if (!op->is_dir) {
			int fd = open(op->rel,
				      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				      0444);

			if (fd < 0)
				return -errno;
			close(fd);
		}
		fd_path(fds[i], src);
		TRY(STEP_OP_MOUNT + i,
		    mount(src, op->rel, NULL, MS_BIND | MS_REC, NULL));
		close(fds[i]);
		if (op->kind == OP_BIND_RO)
			TRY(STEP_OP_RDONLY + i,
			    mount(NULL, op->rel, NULL,
				  MS_REMOUNT | MS_BIND | MS_RDONLY |
					  MS_NOSUID | MS_NODEV | op->keep,
				  NULL));
	}
	*step = STEP_JOB_MKDIR;
	if ((rc = mkdirs(j->jobdir + 1, 1)) != 0)
		return rc;
	fd_path(jfd, src);
	TRY(STEP_JOB_BIND,
	    mount(src, j->jobdir + 1, NULL, MS_BIND | MS_REC, NULL));
	close(jfd);

	/* 5. */
	*step = STEP_PROC_MKDIR;
	if (mkdir("proc", 0555) != 0 && errno != EEXIST)
		return -errno;
	TRY(STEP_PROC, mount("proc", "proc", "proc",
			     MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
	/* No user namespace inside this one: through one the compiler
	 * would gain every other kind, and with them kernel code it has
	 * no business reaching.  The limit is this namespace's own. */
	if (sb->userns) {
		int fd;

		*step = STEP_NO_NESTING;
		fd = open("proc/sys/user/max_user_namespaces",
			  O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0\n", 2) != 2) {
			rc = -errno;
			if (fd >= 0)
				close(fd);
			return rc;
		}
		close(fd);
	}
	/* The old root goes under the new one and is detached at once. */
	TRY(STEP_PIVOT, syscall(SYS_pivot_root, ".", "."));
	TRY(STEP_PIVOT, umount2(".", MNT_DETACH));
	TRY(STEP_PIVOT, chdir("/"));
	TRY(STEP_ROOT_RO,
	    mount(NULL, "/", NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
		  NULL));
	/* While capabilities are still held (CAP_SETPCAP); up to the first
	 * the kernel does not know. */
	*step = STEP_BOUNDING;
	for (int cap = 0;; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL)
			break;
		return -errno;
	}
	if (!sb->userns && (rc = set_ids(sb, step)) != 0)
		return rc;
	/* This process is a copy of dmaked (the cluster key is in its
	 * memory) and outlives the compiler's exec: the compiler, same uid,
	 * must not read it through ptrace or /proc/1/mem. */
	TRY(STEP_DUMPABLE, prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
	TRY(STEP_NO_NEW_PRIVS, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	memset(capd, 0, sizeof(capd));
	TRY(STEP_CAPS, syscall(SYS_capset, &caph, capd));
	TRY(STEP_CORE, setrlimit(RLIMIT_CORE, &nocore));
	return 0;
}

void
node_sandbox_apply(struct node_sandbox_job *j, struct dm_spawn_opts *o)
{
	o->clone_flags = node_sandbox_flags(j->sb);
	o->parent_fn = j->sb->userns ? sb_parent : NULL;
	o->child_fn = sb_child;
	o->fn_arg = j;
}
