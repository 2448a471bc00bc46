/*
 * tcarchive.c: see tcarchive.h.
 *
 * The packer collects a set of entries (directories, files, links) at
 * their absolute client paths, walking every path the way the kernel
 * does so that each link on the way is recorded as a link and each
 * directory as a directory; then it writes them sorted into a tar
 * through libarchive's zstd filter, hashing the bytes as they leave.
 *
 * The unpacker does not use archive_write_disk: that works relative to
 * the process's cwd, which a node with a thread per job cannot move.  It
 * writes the three kinds of entry itself, each through directory
 * descriptors opened one component at a time with O_NOFOLLOW, so that
 * no entry can reach outside the target directory, however the links
 * in the archive point.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "elf.h"
#include "err.h"
#include "fs.h"
#include "io.h"
#include "log.h"
#include "spawn.h"
#include "tcarchive.h"

#define QUERY_MS 20000
#define LINKS_MAX 40
#define MANIFEST_MAX 65536
#define REF_MAX (4u << 20)

/* Files drivers read besides their own (clang's distribution check,
 * the loader's cache); the sandbox of daemon/sandbox.c shows the same. */
static const char *const etc_files[] = {
	"/etc/ld.so.cache",    "/etc/os-release",     "/etc/lsb-release",
	"/etc/debian_version", "/etc/redhat-release", "/etc/SuSE-release",
	"/etc/alpine-release", "/etc/gentoo-release", NULL,
};

static void say(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || why_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* ---- the manifest ------------------------------------------------------ */

static int
is_hex64(const char *s)
{
	size_t n = strlen(s);

	if (n != DM_TOOLCHAIN_ID_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* The components of the relative path c (not empty, not starting with
 * '/'): none "." or "..", none empty but, when trailing_slash, the last
 * (a directory's "dir/"). */
static int
clean_components(const char *c, int trailing_slash)
{
	for (;;) {
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);

		if ((n == 0 && !(trailing_slash && *end == '\0')) ||
		    (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (*end == '\0')
			return 1;
		c = end + 1;
	}
}

/* An absolute path with no empty, "." or ".." component. */
static int
clean_abs_path(const char *p)
{
	return p[0] == '/' && p[1] != '\0' && clean_components(p + 1, 0);
}

static int
set_field(char *dst, size_t len, const char *val, size_t n)
{
	if (n >= len || memchr(val, '\0', n) != NULL)
		return DM_EPROTO;
	memcpy(dst, val, n);
	dst[n] = '\0';
	return 0;
}

int
dm_tcmanifest_parse(const char *text, size_t len, struct dm_tcmanifest *m)
{
	static const char *const roles[] = {"gcc", "g++", "clang", "clang++"};
	int version = 0, role_ok = 0;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < len;) {
		const char *line = text + i, *nl = memchr(line, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - line) : len - i;
		const char *sp = memchr(line, ' ', ll);
		size_t kl, vl;
		const char *v;
		int rc = 0;

		i += ll + 1;
		if (ll == 0)
			continue;
		if (sp == NULL)
			return DM_EPROTO;
		kl = (size_t)(sp - line);
		v = sp + 1;
		vl = ll - kl - 1;
#define KEY(k) (kl == strlen(k) && memcmp(line, k, kl) == 0)
		if (KEY("dmake-toolchain"))
			version = vl == 1 && v[0] == '1';
		else if (KEY("id"))
			rc = set_field(m->id, sizeof(m->id), v, vl);
		else if (KEY("role"))
			rc = set_field(m->role, sizeof(m->role), v, vl);
		else if (KEY("version"))
			rc = set_field(m->version, sizeof(m->version), v, vl);
		else if (KEY("machine"))
			rc = set_field(m->machine, sizeof(m->machine), v, vl);
		else if (KEY("platform"))
			rc = set_field(m->platform, sizeof(m->platform), v,
				       vl);
		else if (KEY("name"))
			rc = set_field(m->name, sizeof(m->name), v, vl);
		else if (KEY("driver"))
			rc = set_field(m->driver, sizeof(m->driver), v, vl);
		else if (KEY("path"))
			rc = set_field(m->path, sizeof(m->path), v, vl);
#undef KEY
		/* Unknown keys: a later packer may say more. */
		if (rc != 0)
			return rc;
	}
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		role_ok |= strcmp(m->role, roles[i]) == 0;
	if (!version || !is_hex64(m->id) || !role_ok || m->name[0] == '\0' ||
	    strchr(m->name, '/') != NULL || m->platform[0] == '\0' ||
	    !clean_abs_path(m->driver))
		return DM_EPROTO;
	/* PATH: absolute directories only, never the cwd. */
	for (const char *p = m->path; *p != '\0';) {
		const char *end = strchrnul(p, ':');
		char dir[PATH_MAX];

		if (end == p || (size_t)(end - p) >= sizeof(dir))
			return DM_EPROTO;
		memcpy(dir, p, (size_t)(end - p));
		dir[end - p] = '\0';
		if (!clean_abs_path(dir))
			return DM_EPROTO;
		p = *end ? end + 1 : end;
	}
	return 0;
}

int
dm_tcmanifest_format(const struct dm_tcmanifest *m, struct dm_buf *out)
{
	return dm_buf_appendf(out,
			      "dmake-toolchain 1\nid %s\nrole %s\nversion %s\n"
			      "machine %s\nplatform %s\nname %s\ndriver %s\n"
			      "path %s\n",
			      m->id, m->role, m->version, m->machine,
			      m->platform, m->name, m->driver, m->path);
}

/* ---- the set of entries -------------------------------------------------- */

enum ent_kind { ENT_DIR, ENT_FILE, ENT_LINK };

struct ent {
	char *path; /* absolute, as on the client */
	enum ent_kind kind;
	char *target;	 /* ENT_LINK */
	int libs_done;	 /* ENT_FILE: its shared libraries are in */
	uint64_t size;	 /* ENT_FILE, at collection */
	int64_t mtime_s; /* ENT_FILE */
	long mtime_ns;
};

struct set {
	struct ent *v;
	size_t n, cap;
	char path_dirs[1024]; /* PATH for the manifest */
};

static struct ent *
set_find(struct set *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].path, path) == 0)
			return &s->v[i];
	return NULL;
}

static int
set_add(struct set *s, const char *path, enum ent_kind kind,
	const char *target, const struct stat *st)
{
	struct ent *e;

	if (set_find(s, path) != NULL)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct ent *v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	e = &s->v[s->n];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	if ((e->path = strdup(path)) == NULL)
		return -ENOMEM;
	if (target != NULL && (e->target = strdup(target)) == NULL) {
		free(e->path);
		return -ENOMEM;
	}
	if (st != NULL) {
		e->size = (uint64_t)st->st_size;
		e->mtime_s = st->st_mtim.tv_sec;
		e->mtime_ns = st->st_mtim.tv_nsec;
	}
	s->n++;
	return 0;
}

static void
set_free(struct set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].target);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Adds path as the kernel resolves it: each link met on the way (as a
 * link, then walked on from its target), each directory of the real
 * path, and what it ends in, a file or (empty) directory.  real, when
 * not NULL, gets the real path.  Devices, sockets and FIFOs are not
 * what a compiler is made of: -EINVAL. */
static int
add_chain(struct set *s, const char *path, char *real, size_t real_len)
{
	char cur[PATH_MAX] = "", rest[2 * PATH_MAX], cand[PATH_MAX];
	char comp[NAME_MAX + 1], target[PATH_MAX], next[2 * PATH_MAX];
	const char *p;
	struct stat st;
	int links = 0, rc;

	if (path[0] != '/')
		return -EINVAL;
	if (snprintf(rest, sizeof(rest), "%s", path) >= (int)sizeof(rest))
		return -ENAMETOOLONG;
	p = rest;
	for (;;) {
		const char *end;
		size_t len;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		end = strchrnul(p, '/');
		len = (size_t)(end - p);
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, p, len);
		comp[len] = '\0';
		p = end;
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *sl = strrchr(cur, '/');

			if (sl != NULL)
				*sl = '\0';
			continue;
		}
		if (snprintf(cand, sizeof(cand), "%s/%s", cur, comp) >=
		    (int)sizeof(cand))
			return -ENAMETOOLONG;
		if (lstat(cand, &st) != 0)
			return -errno;
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(cand, target, sizeof(target) - 1);

			if (n < 0)
				return -errno;
			target[n] = '\0';
			if (++links > LINKS_MAX)
				return -ELOOP;
			if ((rc = set_add(s, cand, ENT_LINK, target, NULL)) !=
			    0)
				return rc;
			/* The walk goes on from the target, then the rest. */
			if (snprintf(next, sizeof(next), "%s%s", target, p) >=
			    (int)sizeof(next))
				return -ENAMETOOLONG;
			memcpy(rest, next, strlen(next) + 1);
			p = rest;
			if (target[0] == '/')
				cur[0] = '\0';
			continue;
		}
		if (S_ISDIR(st.st_mode))
			rc = set_add(s, cand, ENT_DIR, NULL, NULL);
		else if (S_ISREG(st.st_mode) && *p == '\0')
			rc = set_add(s, cand, ENT_FILE, NULL, &st);
		else
			return S_ISREG(st.st_mode) ? -ENOTDIR : -EINVAL;
		if (rc != 0)
			return rc;
		memcpy(cur, cand, strlen(cand) + 1);
	}
	if (real != NULL)
		snprintf(real, real_len, "%s", cur[0] ? cur : "/");
	return 0;
}

/* A tree (clang's resource directory), without the subdirectory skip
 * (its runtime libraries, needed only to link).  nftw passes no
 * argument to its callback: the walk's state is per thread. */
static __thread struct set *tree_set;
static __thread const char *tree_skip;
static __thread int tree_err;

static int
tree_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (tree_skip != NULL && strcmp(path, tree_skip) == 0)
		return FTW_SKIP_SUBTREE;
	if (flag == FTW_NS || flag == FTW_DNR)
		return FTW_CONTINUE;
	if ((tree_err = add_chain(tree_set, path, NULL, 0)) != 0 &&
	    tree_err != -EINVAL && tree_err != -ENOENT)
		return FTW_STOP;
	tree_err = 0;
	return FTW_CONTINUE;
}

static int
add_tree(struct set *s, const char *dir, const char *skip)
{
	tree_set = s;
	tree_skip = skip;
	tree_err = 0;
	if (nftw(dir, tree_one, 16, FTW_PHYS | FTW_ACTIONRETVAL) != 0 &&
	    tree_err == 0)
		tree_err = -errno;
	return tree_err;
}

/* ---- asking the driver ------------------------------------------------- */

/* Runs the compiler with args in /, its stdout (or stderr) into out. */
static int
ask(const char *compiler, const char *const *args, struct dm_buf *out,
    int from_stderr)
{
	const char *argv[12];
	struct dm_spawn_opts o = {
		.argv = argv,
		.cwd = "/",
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = -1,
		.timeout_ms = QUERY_MS,
	};
	struct dm_spawn_result r;
	size_t n = 0;
	int rc;

	argv[n++] = compiler;
	while (*args != NULL && n < sizeof(argv) / sizeof(argv[0]) - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	dm_buf_reset(out);
	if ((rc = dm_spawn_run_capture(&o, &r, from_stderr ? NULL : out,
				       from_stderr ? out : NULL)) != 0)
		return rc;
	if (dm_buf_cstr(out) == NULL)
		return -ENOMEM;
	return r.exit_code == 0 && r.signal == 0 && !r.timed_out ? 0
								 : DM_ECHILD;
}

static void
chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 &&
	       (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* Finds name on PATH; 0 with its path in out. */
static int
on_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH"), *p, *end;

	if (path == NULL || path[0] == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p != '\0'; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		if (end == p || p[0] != '/')
			continue;
		if (snprintf(out, len, "%.*s/%s", (int)(end - p), p, name) >=
		    (int)len)
			continue;
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static void
path_dirs_add(struct set *s, const char *file)
{
	char dir[PATH_MAX];
	char *sl;
	size_t have = strlen(s->path_dirs);

	snprintf(dir, sizeof(dir), "%s", file);
	if ((sl = strrchr(dir, '/')) == NULL || sl == dir)
		return;
	*sl = '\0';
	/* Already there? */
	for (const char *p = s->path_dirs; *p != '\0';) {
		const char *end = strchrnul(p, ':');

		if ((size_t)(end - p) == strlen(dir) &&
		    memcmp(p, dir, (size_t)(end - p)) == 0)
			return;
		p = *end ? end + 1 : end;
	}
	if (have + strlen(dir) + 2 < sizeof(s->path_dirs))
		snprintf(s->path_dirs + have, sizeof(s->path_dirs) - have,
			 "%s%s", have ? ":" : "", dir);
}

/* A program the driver runs: by its path when the driver has one,
 * else from PATH (gcc's `as` on Debian), whose directory then goes on
 * the manifest's PATH.  Missing programs are left out: the driver did
 * not have them on the client either. */
static int
add_prog(struct set *s, const char *compiler, const char *prog,
	 struct dm_buf *out)
{
	char arg[64], found[PATH_MAX];
	const char *args[] = {arg, NULL};
	char *answer;
	int rc;

	snprintf(arg, sizeof(arg), "-print-prog-name=%s", prog);
	if (ask(compiler, args, out, 0) != 0)
		return 0;
	answer = (char *)out->p;
	chomp(answer);
	if (answer[0] == '/') {
		rc = add_chain(s, answer, NULL, 0);
		return rc == -ENOENT ? 0 : rc;
	}
	if (strchr(answer, '/') != NULL ||
	    on_path(answer, found, sizeof(found)) != 0)
		return 0;
	path_dirs_add(s, found);
	return add_chain(s, found, NULL, 0);
}

/* A file the driver would load if it has it (-print-file-name answers
 * the bare name when it has not). */
static int
add_file_named(struct set *s, const char *compiler, const char *file,
	       struct dm_buf *out)
{
	char arg[128];
	const char *args[] = {arg, NULL};
	char *answer;
	int rc;

	snprintf(arg, sizeof(arg), "-print-file-name=%s", file);
	if (ask(compiler, args, out, 0) != 0)
		return 0;
	answer = (char *)out->p;
	chomp(answer);
	if (answer[0] != '/')
		return 0;
	rc = add_chain(s, answer, NULL, 0);
	return rc == -ENOENT ? 0 : rc;
}

/* A path named in the driver's commands: temporary files, devices and
 * the like say nothing about the installation. */
static int
worth_a_look(const char *w)
{
	return w[0] == '/' && strncmp(w, "/dev/", 5) != 0 &&
	       strncmp(w, "/tmp/", 5) != 0 && strncmp(w, "/proc/", 6) != 0 &&
	       strcmp(w, "/dev/null") != 0;
}

/* The GCC installation under a path that has "/lib/gcc/T/V/" or
 * "/lib/gcc-cross/T/V/" in it: its crtbegin.o is what clang looks for
 * to select it (and with it the libstdc++ include directories). */
static int
add_gcc_install(struct set *s, const char *w)
{
	const char *k = strstr(w, "/lib/gcc/"), *p;
	char dir[PATH_MAX], file[PATH_MAX + 16];
	int slashes = 0;

	if (k == NULL)
		k = strstr(w, "/lib/gcc-cross/");
	if (k == NULL)
		return 0;
	p = strchr(k + 5, '/'); /* after "/lib/gcc" or "/lib/gcc-cross" */
	for (; p != NULL && *p != '\0'; p++)
		if (*p == '/' && ++slashes == 3)
			break;
	if (p == NULL || (size_t)(p - w) >= sizeof(dir))
		return 0;
	memcpy(dir, w, (size_t)(p - w));
	dir[p - w] = '\0';
	snprintf(file, sizeof(file), "%s/crtbegin.o", dir);
	if (access(file, R_OK) != 0)
		return 0;
	return add_chain(s, file, NULL, 0);
}

/* Every absolute path in the driver's `-###` commands: files whole,
 * directories empty.  clang adds some include directories only if they
 * exist, and which ones it adds shows in the identity (lib/toolchain.c
 * hashes the words between them). */
struct driver_paths {
	struct set *s;
	int clang;
};

static int
add_driver_word(void *ctx, const char *w, int first)
{
	struct driver_paths *d = ctx;
	int rc;

	(void)first; /* the program's own path is wanted too */
	if (w == NULL || !worth_a_look(w))
		return 0;
	if (d->clang && (rc = add_gcc_install(d->s, w)) != 0)
		return rc;
	rc = add_chain(d->s, w, NULL, 0);
	if (rc != 0 && rc != -ENOENT && rc != -ENOTDIR && rc != -EINVAL &&
	    rc != -EACCES)
		return rc;
	return 0;
}

static int
add_driver_paths(struct set *s, const char *compiler, const char *lang,
		 int clang, struct dm_buf *out)
{
	const char *args[] = {"-###",	   "-c", "-x",	      lang,
			      "/dev/null", "-o", "/dev/null", NULL};
	struct driver_paths d = {s, clang};
	char *text;
	int rc;

	if ((rc = ask(compiler, args, out, 1)) != 0)
		return rc;
	if ((text = dm_buf_cstr(out)) == NULL)
		return -ENOMEM;
	return dm_toolchain_driver_words(text, add_driver_word, &d);
}

/* The files the preprocessor reads for an empty input: gcc's implicit
 * stdc-predef.h (the node's compile reads it again, see cc-shim/unit.c). */
static int
add_implicit_includes(struct set *s, const char *compiler, const char *lang,
		      struct dm_buf *out)
{
	const char *args[] = {"-E", "-x", lang, "/dev/null", NULL};
	char *text, *save = NULL, *line;
	int rc;

	if (ask(compiler, args, out, 0) != 0)
		return 0;
	text = (char *)out->p;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *q, *end;

		if (line[0] != '#' || (q = strchr(line, '"')) == NULL ||
		    (end = strchr(q + 1, '"')) == NULL)
			continue;
		*end = '\0';
		if (!worth_a_look(q + 1))
			continue;
		rc = add_chain(s, q + 1, NULL, 0);
		if (rc != 0 && rc != -ENOENT)
			return rc;
	}
	return 0;
}

/* One library of lib_ctx.path, with every link on its way. */
struct lib_ctx {
	struct set *s;
	const char *path;
	char *why;
	size_t why_len;
	int said;
};

static int
add_lib(void *arg, const char *lib)
{
	struct lib_ctx *c = arg;
	char real[PATH_MAX];
	int rc;

	if ((rc = add_chain(c->s, lib, real, sizeof(real))) != 0) {
		say(c->why, c->why_len, "%s needs %s: %s", c->path, lib,
		    dm_strerror(rc));
		c->said = 1;
		return rc;
	}
	/* Its own libraries are in this list already. */
	set_find(c->s, real)->libs_done = 1;
	return 0;
}

/* The shared libraries of every dynamic ELF file in the set, as its
 * interpreter resolves them (`ld.so --list`); files without an
 * interpreter of their own (a plugin) are resolved by the driver's. */
static int
add_libs(struct set *s, char *why, size_t why_len)
{
	char loader[PATH_MAX] = "", interp[PATH_MAX], real[PATH_MAX];
	int rc = 0, dynamic;

	/* The loader: the interpreter of the first program (the driver
	 * comes first). */
	for (size_t i = 0; i < s->n && loader[0] == '\0'; i++)
		if (s->v[i].kind == ENT_FILE &&
		    dm_elf_inspect(s->v[i].path, &dynamic, interp,
				   sizeof(interp)) > 0)
			snprintf(loader, sizeof(loader), "%s", interp);
	if (loader[0] == '\0')
		return 0; /* static binaries only */
	/* The set grows while this runs: an index, not a pointer. */
	for (size_t i = 0; i < s->n && rc == 0; i++) {
		struct lib_ctx c = {s, NULL, why, why_len, 0};
		char *path;

		if (s->v[i].kind != ENT_FILE || s->v[i].libs_done)
			continue;
		s->v[i].libs_done = 1;
		if ((path = strdup(s->v[i].path)) == NULL) {
			rc = -ENOMEM;
			break;
		}
		if (dm_elf_inspect(path, &dynamic, interp, sizeof(interp)) <=
			    0 ||
		    !dynamic) {
			free(path);
			continue;
		}
		if (interp[0] == '\0')
			snprintf(interp, sizeof(interp), "%s", loader);
		if ((rc = add_chain(s, interp, real, sizeof(real))) != 0) {
			say(why, why_len, "%s: its interpreter %s: %s", path,
			    interp, dm_strerror(rc));
			free(path);
			break;
		}
		set_find(s, real)->libs_done = 1;
		c.path = path;
		if ((rc = dm_elf_libs(interp, path, add_lib, &c)) != 0 &&
		    !c.said)
			say(why, why_len, "%s --list %s: %s", interp, path,
			    dm_strerror(rc));
		free(path);
	}
	return rc;
}

static int
collect(struct set *s, const char *compiler, const struct dm_toolchain *tc,
	char *why, size_t why_len)
{
	int clang = strncmp(tc->role, "clang", 5) == 0;
	int cxx = strstr(tc->role, "++") != NULL;
	const char *lang = cxx ? "c++" : "c";
	struct dm_buf out;
	int rc;

	dm_buf_init(&out);
	if ((rc = add_chain(s, compiler, NULL, 0)) != 0) {
		say(why, why_len, "%s: %s", compiler, dm_strerror(rc));
		goto out;
	}
	if (!clang) {
		static const char *const progs[] = {"cc1", "collect2", "as",
						    NULL};

		for (size_t i = 0; progs[i] != NULL && rc == 0; i++)
			rc = add_prog(s, compiler, progs[i], &out);
		if (rc == 0 && cxx)
			rc = add_prog(s, compiler, "cc1plus", &out);
		if (rc == 0)
			rc = add_file_named(s, compiler, "specs", &out);
		if (rc == 0)
			rc = add_file_named(s, compiler, "liblto_plugin.so",
					    &out);
	} else {
		static const char *const a_res[] = {"-print-resource-dir",
						    NULL};

		rc = add_prog(s, compiler, "as", &out);
		if (rc == 0 && ask(compiler, a_res, &out, 0) == 0) {
			char res[PATH_MAX], skip[PATH_MAX + 8];

			snprintf(res, sizeof(res), "%s", (char *)out.p);
			chomp(res);
			snprintf(skip, sizeof(skip), "%s/lib", res);
			if (res[0] == '/' && access(res, X_OK) == 0)
				rc = add_tree(s, res, skip);
		}
	}
	if (rc == 0)
		rc = add_driver_paths(s, compiler, lang, clang, &out);
	if (rc == 0)
		rc = add_implicit_includes(s, compiler, lang, &out);
	for (size_t i = 0; etc_files[i] != NULL && rc == 0; i++) {
		rc = add_chain(s, etc_files[i], NULL, 0);
		if (rc == -ENOENT || rc == -EACCES)
			rc = 0;
	}
	if (rc != 0 && why[0] == '\0')
		say(why, why_len, "collecting the files of %s: %s", compiler,
		    dm_strerror(rc));
	if (rc == 0)
		rc = add_libs(s, why, why_len);
	if (s->path_dirs[0] == '\0')
		snprintf(s->path_dirs, sizeof(s->path_dirs), "/usr/bin:/bin");
out:
	dm_buf_free(&out);
	return rc;
}

/* ---- writing ----------------------------------------------------------- */

struct wctx {
	int fd;
	crypto_generichash_state st;
	uint64_t size;
	int err;
};

static la_ssize_t
w_write(struct archive *a, void *arg, const void *buf, size_t n)
{
	struct wctx *w = arg;
	int rc;

	if ((rc = dm_io_write_all(w->fd, buf, n)) != 0) {
		w->err = rc;
		archive_set_error(a, -rc, "write: %s", dm_strerror(rc));
		return -1;
	}
	crypto_generichash_update(&w->st, buf, n);
	w->size += n;
	return (la_ssize_t)n;
}

static int
cmp_ent(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->path,
		      ((const struct ent *)b)->path);
}

static struct archive_entry *
new_entry(const char *name, mode_t type, mode_t perm, int64_t size)
{
	struct archive_entry *e = archive_entry_new();

	if (e == NULL)
		return NULL;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	return e;
}

static int
write_header(struct archive *a, struct archive_entry *e, char *why,
	     size_t why_len)
{
	int rc = archive_write_header(a, e);

	if (rc != ARCHIVE_OK) {
		say(why, why_len, "writing the archive: %s",
		    archive_error_string(a));
		return rc == ARCHIVE_WARN ? 0 : -EIO;
	}
	return 0;
}

static int
write_file(struct archive *a, const struct ent *ent, char *why, size_t why_len)
{
	char name[PATH_MAX + 8], buf[65536];
	struct archive_entry *e;
	struct stat st;
	uint64_t left;
	int fd, rc;

	if ((fd = open(ent->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		rc = -errno;
		say(why, why_len, "%s: %s", ent->path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		say(why, why_len, "%s: not a regular file", ent->path);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "root%s", ent->path);
	if ((e = new_entry(name, AE_IFREG, st.st_mode & 0111 ? 0755 : 0644,
			   st.st_size)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	rc = write_header(a, e, why, why_len);
	archive_entry_free(e);
	for (left = (uint64_t)st.st_size; rc == 0 && left > 0;) {
		ssize_t n =
			read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			say(why, why_len, "%s: %s", ent->path,
			    n < 0 ? strerror(errno) : "shrank while read");
			break;
		}
		if (archive_write_data(a, buf, (size_t)n) != n) {
			say(why, why_len, "writing the archive: %s",
			    archive_error_string(a));
			rc = -EIO;
		}
		left -= (uint64_t)n;
	}
	close(fd);
	return rc;
}

static int
write_archive(int fd, const struct set *s, const struct dm_tcmanifest *m,
	      int level, struct wctx *w, uint64_t *content, char *why,
	      size_t why_len)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e;
	struct dm_buf man;
	char lvl[16], name[PATH_MAX + 8];
	int rc = -EIO;

	*content = 0;
	dm_buf_init(&man);
	if (a == NULL || dm_tcmanifest_format(m, &man) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	w->fd = fd;
	w->size = 0;
	w->err = 0;
	crypto_generichash_init(&w->st, NULL, 0, 32);
	snprintf(lvl, sizeof(lvl), "%d", level);
	if (archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
	    archive_write_set_filter_option(a, "zstd", "compression-level",
					    lvl) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    /* No zero padding after the zstd frame: plain zstd and tar
	     * read the file then, and nothing is hashed for nothing. */
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, w, NULL, w_write, NULL) != ARCHIVE_OK) {
		say(why, why_len, "libarchive: %s", archive_error_string(a));
		goto out;
	}
	if ((e = new_entry("manifest", AE_IFREG, 0644, (int64_t)man.len)) ==
	    NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = write_header(a, e, why, why_len);
	archive_entry_free(e);
	if (rc != 0)
		goto out;
	if (archive_write_data(a, man.p, man.len) != (la_ssize_t)man.len)
		goto out_err;
	if ((e = new_entry("root", AE_IFDIR, 0755, 0)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = write_header(a, e, why, why_len);
	archive_entry_free(e);
	for (size_t i = 0; i < s->n && rc == 0; i++) {
		const struct ent *ent = &s->v[i];

		if (ent->kind == ENT_FILE) {
			rc = write_file(a, ent, why, why_len);
			*content += ent->size;
			continue;
		}
		snprintf(name, sizeof(name), "root%s", ent->path);
		e = ent->kind == ENT_DIR ? new_entry(name, AE_IFDIR, 0755, 0)
					 : new_entry(name, AE_IFLNK, 0777, 0);
		if (e == NULL) {
			rc = -ENOMEM;
			break;
		}
		if (ent->kind == ENT_LINK)
			archive_entry_set_symlink(e, ent->target);
		rc = write_header(a, e, why, why_len);
		archive_entry_free(e);
	}
	if (rc != 0)
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK)
		goto out_err;
	rc = w->err;
	goto out;
out_err:
	say(why, why_len, "writing the archive: %s", archive_error_string(a));
	rc = w->err ? w->err : -EIO;
out:
	if (a != NULL)
		archive_write_free(a);
	dm_buf_free(&man);
	return rc;
}

/* ---- the client's cache ------------------------------------------------- */

/* DIR/ID.ref: the archive's hash and size, then one line per entry it
 * was packed from, "F size mtime_s mtime_ns path", "L path\ttarget" or
 * "D path", so a changed installation is packed again. */
static int
ref_write(const char *dir, const struct dm_toolchain *tc, const struct set *s,
	  const struct dm_tcarchive *a)
{
	char path[PATH_MAX + 96], tmp[PATH_MAX + 112];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s.ref", dir, tc->id);
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	if ((f = fopen(tmp, "we")) == NULL)
		return -errno;
	fprintf(f, "dmake-toolchain-ref 1\n%s %llu %llu %u\n", a->hash,
		(unsigned long long)a->size, (unsigned long long)a->content,
		a->entries);
	for (size_t i = 0; i < s->n; i++) {
		const struct ent *e = &s->v[i];

		if (e->kind == ENT_FILE)
			fprintf(f, "F %llu %lld %ld %s\n",
				(unsigned long long)e->size,
				(long long)e->mtime_s, e->mtime_ns, e->path);
		else if (e->kind == ENT_LINK)
			fprintf(f, "L %s\t%s\n", e->path, e->target);
		else
			fprintf(f, "D %s\n", e->path);
	}
	if (ferror(f))
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* 1 when DIR/ID.ref names an archive that is there and whose sources
 * are unchanged; fills *a. */
static int
ref_check(const char *dir, const char *id, struct dm_tcarchive *a)
{
	char path[PATH_MAX + 96], line[2 * PATH_MAX + 64], target[PATH_MAX];
	unsigned long long size, content;
	struct stat st;
	FILE *f;
	int ok = 0;

	snprintf(path, sizeof(path), "%s/%s.ref", dir, id);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, "dmake-toolchain-ref 1\n") != 0 ||
	    fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, "%64s %llu %llu %u", a->hash, &size, &content,
		   &a->entries) != 4 ||
	    strlen(a->hash) != 64)
		goto out;
	a->size = size;
	a->content = content;
	snprintf(a->path, sizeof(a->path), "%s/%s%s", dir, a->hash,
		 DM_TCARCHIVE_SUFFIX);
	if (stat(a->path, &st) != 0 || (uint64_t)st.st_size != a->size)
		goto out;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);

		if (n == 0 || line[n - 1] != '\n')
			goto out;
		line[n - 1] = '\0';
		if (line[0] == 'F') {
			unsigned long long fs;
			long long ms;
			long mn;
			int off = 0;

			if (sscanf(line, "F %llu %lld %ld %n", &fs, &ms, &mn,
				   &off) != 3 ||
			    off == 0 || lstat(line + off, &st) != 0 ||
			    !S_ISREG(st.st_mode) ||
			    (unsigned long long)st.st_size != fs ||
			    st.st_mtim.tv_sec != ms ||
			    st.st_mtim.tv_nsec != mn)
				goto out;
		} else if (line[0] == 'L' && line[1] == ' ') {
			char *tab = strchr(line, '\t');
			ssize_t tn;

			if (tab == NULL)
				goto out;
			*tab = '\0';
			tn = readlink(line + 2, target, sizeof(target) - 1);
			if (tn < 0)
				goto out;
			target[tn] = '\0';
			if (strcmp(target, tab + 1) != 0)
				goto out;
		} else if (line[0] == 'D' && line[1] == ' ') {
			if (lstat(line + 2, &st) != 0 || !S_ISDIR(st.st_mode))
				goto out;
		} else {
			goto out;
		}
	}
	ok = 1;
out:
	fclose(f);
	return ok;
}

int
dm_tcarchive_pack(const char *dir, const char *compiler, const char *name,
		  const struct dm_toolchain *tc, int level,
		  struct dm_tcarchive *out, char *why, size_t why_len)
{
	char lock[PATH_MAX + 96], tmp[PATH_MAX + 32], old_hash[65] = "";
	unsigned char hash[32];
	struct dm_tcmanifest m = {0};
	struct set s = {0};
	struct utsname u;
	struct wctx w;
	const char *base;
	int lfd, fd, rc;

	memset(out, 0, sizeof(*out));
	if (why_len > 0)
		why[0] = '\0';
	if (sodium_init() < 0)
		return -ENOMEM;
	if ((rc = dm_mkdir_p(dir, 0700)) != 0) {
		say(why, why_len, "cannot create %s: %s", dir,
		    dm_strerror(rc));
		return rc;
	}
	snprintf(lock, sizeof(lock), "%s/%s.lock", dir, tc->id);
	if ((lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		rc = -errno;
		say(why, why_len, "%s: %s", lock, strerror(errno));
		return rc;
	}
	while (flock(lfd, LOCK_EX) != 0)
		if (errno != EINTR) {
			rc = -errno;
			goto out_lock;
		}
	if (ref_check(dir, tc->id, out)) {
		out->reused = 1;
		rc = 0;
		goto out_lock;
	}
	/* What the last packing made, to be removed when replaced. */
	if (strlen(out->hash) == 64)
		snprintf(old_hash, sizeof(old_hash), "%s", out->hash);
	memset(out, 0, sizeof(*out));

	if ((rc = collect(&s, compiler, tc, why, why_len)) != 0)
		goto out_set;
	qsort(s.v, s.n, sizeof(*s.v), cmp_ent);
	base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	snprintf(m.id, sizeof(m.id), "%s", tc->id);
	snprintf(m.role, sizeof(m.role), "%s", tc->role);
	snprintf(m.version, sizeof(m.version), "%s", tc->version);
	snprintf(m.machine, sizeof(m.machine), "%s", tc->machine);
	if (uname(&u) != 0)
		snprintf(u.machine, sizeof(u.machine), "unknown");
	snprintf(m.platform, sizeof(m.platform), "%s", u.machine);
	snprintf(m.name, sizeof(m.name), "%s", base);
	snprintf(m.driver, sizeof(m.driver), "%s", compiler);
	snprintf(m.path, sizeof(m.path), "%s", s.path_dirs);

	snprintf(tmp, sizeof(tmp), "%s/tmp-XXXXXX", dir);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = -errno;
		say(why, why_len, "cannot create a file in %s: %s", dir,
		    strerror(errno));
		goto out_set;
	}
	fchmod(fd, 0644);
	rc = write_archive(fd, &s, &m, level, &w, &out->content, why, why_len);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		goto out_set;
	}
	crypto_generichash_final(&w.st, hash, sizeof(hash));
	sodium_bin2hex(out->hash, sizeof(out->hash), hash, sizeof(hash));
	out->size = w.size;
	out->entries = (unsigned)s.n + 2;
	snprintf(out->path, sizeof(out->path), "%s/%s%s", dir, out->hash,
		 DM_TCARCHIVE_SUFFIX);
	if (rename(tmp, out->path) != 0) {
		rc = -errno;
		unlink(tmp);
		goto out_set;
	}
	if ((rc = ref_write(dir, tc, &s, out)) != 0)
		say(why, why_len, "cannot write %s/%s.ref: %s", dir, tc->id,
		    dm_strerror(rc));
	/* The archive this one replaces, unless it is the same bytes. */
	if (rc == 0 && old_hash[0] != '\0' &&
	    strcmp(old_hash, out->hash) != 0) {
		snprintf(tmp, sizeof(tmp), "%s/%s%s", dir, old_hash,
			 DM_TCARCHIVE_SUFFIX);
		unlink(tmp);
	}
out_set:
	set_free(&s);
out_lock:
	close(lfd);
	return rc;
}

/* ---- the node's side --------------------------------------------------- */

/* Splits a member name into checked components: "manifest", "root" or
 * "root/..." with no empty, "." or ".." component. */
static int
member_ok(const char *name)
{
	if (name == NULL || name[0] == '/' || strlen(name) >= PATH_MAX)
		return 0;
	if (strcmp(name, "manifest") != 0 && strcmp(name, "root") != 0 &&
	    strncmp(name, "root/", 5) != 0)
		return 0;
	return clean_components(name, 1);
}

/* Opens the directory that holds name's last component, below dirfd,
 * creating missing directories; never follows a link.  *leaf points
 * into name.  Returns a descriptor or -errno. */
static int
open_parent(int dirfd, const char *name, const char **leaf)
{
	char comp[NAME_MAX + 1];
	int fd = dup(dirfd);

	if (fd < 0)
		return -errno;
	for (const char *c = name;;) {
		const char *end = strchr(c, '/');
		size_t n;
		int next;

		if (end == NULL) {
			*leaf = c;
			return fd;
		}
		n = (size_t)(end - c);
		if (n > NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, c, n);
		comp[n] = '\0';
		next = openat(fd, comp,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
				int e = errno;

				close(fd);
				return -e;
			}
			next = openat(fd, comp,
				      O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					      O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno == ELOOP ? ENOTDIR : errno;

			close(fd);
			return -e;
		}
		close(fd);
		fd = next;
		c = end + 1;
	}
}

static int
unpack_data(struct archive *a, int fd, uint64_t *total, uint64_t max,
	    char *why, size_t why_len)
{
	const void *buf;
	size_t n;
	la_int64_t off;
	int r, rc;

	while ((r = archive_read_data_block(a, &buf, &n, &off)) ==
	       ARCHIVE_OK) {
		if ((*total += n) > max) {
			say(why, why_len,
			    "the toolchain is larger than the node's limit of "
			    "%llu bytes",
			    (unsigned long long)max);
			return DM_ETOOBIG;
		}
		if (pwrite(fd, buf, n, off) != (ssize_t)n) {
			rc = -errno;
			say(why, why_len, "cannot write the toolchain: %s",
			    strerror(errno));
			return rc ? rc : -EIO;
		}
	}
	if (r != ARCHIVE_EOF) {
		say(why, why_len, "the archive is damaged: %s",
		    archive_error_string(a));
		return DM_EPROTO;
	}
	return 0;
}

int
dm_tcarchive_unpack(int fd, const char *dir, uint64_t max_bytes,
		    struct dm_tcmanifest *m, uint64_t *bytes, char *why,
		    size_t why_len)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char man[MANIFEST_MAX];
	unsigned entries = 0;
	int dirfd, rc = 0, r, have_manifest = 0;
	uint64_t total = 0;

	*bytes = 0;
	if (why_len > 0)
		why[0] = '\0';
	if (a == NULL)
		return -ENOMEM;
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		say(why, why_len, "%s: %s", dir, strerror(errno));
		goto out_archive;
	}
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
		say(why, why_len, "not a toolchain archive: %s",
		    archive_error_string(a));
		rc = DM_EPROTO;
		goto out_dir;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *raw = archive_entry_pathname(e), *leaf = NULL;
		mode_t type = archive_entry_filetype(e);
		char name[PATH_MAX];
		size_t nl;
		int pfd, ofd;

		/* tar names directories "root/usr/". */
		if (raw == NULL || (nl = strlen(raw)) >= sizeof(name)) {
			say(why, why_len, "an entry without a usable name");
			rc = DM_EPROTO;
			break;
		}
		memcpy(name, raw, nl + 1);
		while (nl > 1 && name[nl - 1] == '/' && type == AE_IFDIR)
			name[--nl] = '\0';

		if (++entries > DM_TCARCHIVE_ENTRIES_MAX) {
			say(why, why_len, "more than %u entries",
			    DM_TCARCHIVE_ENTRIES_MAX);
			rc = DM_EPROTO;
			break;
		}
		if (!member_ok(name)) {
			say(why, why_len, "refused entry name '%.200s'", name);
			rc = DM_EPROTO;
			break;
		}
		if (archive_entry_hardlink(e) != NULL ||
		    (type != AE_IFREG && type != AE_IFDIR &&
		     type != AE_IFLNK) ||
		    (archive_entry_perm(e) & 07000) != 0) {
			say(why, why_len,
			    "refused entry '%.200s': only plain files, "
			    "directories and symbolic links",
			    name);
			rc = DM_EPROTO;
			break;
		}
		if (strcmp(name, "manifest") == 0) {
			la_ssize_t n;

			if (type != AE_IFREG ||
			    archive_entry_size(e) >= (la_int64_t)sizeof(man) ||
			    have_manifest) {
				say(why, why_len, "a bad manifest entry");
				rc = DM_EPROTO;
				break;
			}
			n = archive_read_data(a, man, sizeof(man) - 1);
			if (n < 0 || n != archive_entry_size(e) ||
			    dm_tcmanifest_parse(man, (size_t)n, m) != 0) {
				say(why, why_len, "a bad manifest");
				rc = DM_EPROTO;
				break;
			}
			have_manifest = 1;
			/* Kept beside root/: a node reads it back at start. */
			ofd = openat(dirfd, "manifest",
				     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					     O_CLOEXEC,
				     0644);
			if (ofd < 0 ||
			    (rc = dm_io_write_all(ofd, man, (size_t)n)) != 0 ||
			    close(ofd) != 0) {
				if (rc == 0)
					rc = -errno;
				if (ofd >= 0)
					close(ofd);
				say(why, why_len,
				    "cannot write the manifest: %s",
				    dm_strerror(rc));
				break;
			}
			continue;
		}
		if ((pfd = open_parent(dirfd, name, &leaf)) < 0) {
			rc = pfd;
			say(why, why_len, "cannot unpack %.200s: %s", name,
			    dm_strerror(rc));
			break;
		}
		if (type == AE_IFDIR) {
			struct stat st;

			if (mkdirat(pfd, leaf, 0755) != 0 &&
			    (errno != EEXIST ||
			     fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) !=
				     0 ||
			     !S_ISDIR(st.st_mode)))
				rc = errno == EEXIST ? DM_EPROTO : -errno;
		} else if (type == AE_IFLNK) {
			const char *t = archive_entry_symlink(e);

			if (t == NULL || t[0] == '\0' || strlen(t) >= PATH_MAX)
				rc = DM_EPROTO;
			else if (symlinkat(t, pfd, leaf) != 0)
				rc = -errno;
		} else {
			ofd = openat(pfd, leaf,
				     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					     O_CLOEXEC,
				     archive_entry_perm(e) & 0111 ? 0755
								  : 0644);
			if (ofd < 0) {
				rc = -errno;
			} else {
				rc = unpack_data(a, ofd, &total, max_bytes,
						 why, why_len);
				if (close(ofd) != 0 && rc == 0)
					rc = -errno;
			}
		}
		close(pfd);
		if (rc != 0) {
			if (why_len > 0 && why[0] == '\0')
				say(why, why_len, "cannot unpack %.200s: %s",
				    name, dm_strerror(rc));
			break;
		}
	}
	if (rc == 0 && r != ARCHIVE_EOF) {
		say(why, why_len, "the archive is damaged: %s",
		    archive_error_string(a));
		rc = DM_EPROTO;
	}
	if (rc == 0 && !have_manifest) {
		say(why, why_len, "the archive has no manifest");
		rc = DM_EPROTO;
	}
	*bytes = total;
out_dir:
	close(dirfd);
out_archive:
	archive_read_free(a);
	return rc;
}
