/*
 * idcache.c: see idcache.h.
 *
 * One table, one row per (compiler, name, env).  A row's files column is
 * the fingerprint of its identity, a line per file: "PATH\tDEV INO SIZE
 * MTIME CTIME", or "PATH\t-" for one that did not exist, the driver
 * first.  A lookup stats them all again and takes the row only if every
 * line comes out the same and the compiler still resolves to the first.
 * A later layout goes in a new table (identities_v2), never an ALTER:
 * two versions of dmake may share the file.
 *
 * The journal is sqlite's default rollback journal, not WAL: the file
 * lives under the home directory, which may be on NFS, where WAL's
 * shared memory does not work.  Writes are rare (once per compiler
 * installed) and short, so readers hardly wait for them.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "elf.h"
#include "err.h"
#include "fs.h"
#include "idcache.h"
#include "log.h"

#ifndef DM_VERSION
#define DM_VERSION "unknown"
#endif

/* A row counts only for the scheme and the dmake that wrote it: a newer
 * dmake may read a compiler's answers otherwise under the same scheme. */
#define SCHEME DM_TOOLCHAIN_SCHEME " " DM_VERSION

/* Another process's write holds the lock for milliseconds; this bounds
 * what a build waits for its cache. */
#define BUSY_MS 1000

/* What the drivers read from the environment that changes their
 * answers: where gcc finds cc1, options clang adds to every command,
 * the include path (which stdc-predef.h), which libraries load. */
static const char *const steering_env[] = {
	"GCC_EXEC_PREFIX",	"COMPILER_PATH",
	"CCC_OVERRIDE_OPTIONS", "CPATH",
	"C_INCLUDE_PATH",	"CPLUS_INCLUDE_PATH",
	"OBJC_INCLUDE_PATH",	"LD_LIBRARY_PATH",
	"LD_PRELOAD",		NULL,
};

/* ELF programs that run whichever compiler they find next on PATH. */
static const char *const wrappers[] = {
	"ccache", "sccache", "distcc", "icecc", "buildcache", "dmake-cc", NULL,
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS identities_v1("
	" compiler TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" env TEXT NOT NULL,"
	" scheme TEXT NOT NULL,"
	" files TEXT NOT NULL,"
	" id TEXT NOT NULL,"
	" role TEXT NOT NULL,"
	" version TEXT NOT NULL,"
	" machine TEXT NOT NULL,"
	" path TEXT NOT NULL,"
	" stored INTEGER NOT NULL," /* unix time, for the curious */
	" PRIMARY KEY(compiler, name, env)) WITHOUT ROWID;";

enum db_state { DB_UNOPENED, DB_OPEN, DB_OFF };

struct dm_idcache {
	pthread_mutex_t mu;  /* guards all below */
	char path[PATH_MAX]; /* "" when there is nowhere to keep it */
	enum db_state state;
	sqlite3 *h;
	sqlite3_stmt *get, *put;
};

/* ---- the database ------------------------------------------------------ */

static void
db_close(struct dm_idcache *c)
{
	sqlite3_finalize(c->get);
	sqlite3_finalize(c->put);
	sqlite3_close(c->h);
	c->get = c->put = NULL;
	c->h = NULL;
}

/* Something went wrong with the database.  Another process holding its
 * lock past BUSY_MS is passing: this lookup or store is skipped.
 * Anything else (not a database, corrupt, read-only, disk full) turns
 * the cache off for good, with the one warning of its life.  -1. */
static int
db_trouble(struct dm_idcache *c, const char *what)
{
	int code = c->h != NULL ? sqlite3_errcode(c->h) : SQLITE_NOMEM;

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
		dm_debug("identity cache %s: %s: %s", c->path, what,
			 sqlite3_errmsg(c->h));
		if (c->state == DB_UNOPENED)
			db_close(c); /* opened again next time */
		return -1;
	}
	dm_warn("identity cache %s: %s: %s; compilers are identified anew "
		"(remove the file if it is damaged)",
		c->path, what,
		c->h != NULL ? sqlite3_errmsg(c->h) : "no memory");
	db_close(c);
	c->state = DB_OFF;
	return -1;
}

/* Opens the database the first time it is needed.  0 when it is open. */
static int
db_open(struct dm_idcache *c)
{
	int rc;

	if (c->state != DB_UNOPENED)
		return c->state == DB_OPEN ? 0 : -1;
	if (c->path[0] == '\0') {
		dm_debug("identity cache: neither XDG_CACHE_HOME nor HOME is "
			 "set; nothing is kept");
		c->state = DB_OFF;
		return -1;
	}
	if ((rc = dm_mkdir_parents(c->path, 0700)) != 0) {
		dm_warn("identity cache %s: cannot create its directory: %s; "
			"compilers are identified anew",
			c->path, dm_strerror(rc));
		c->state = DB_OFF;
		return -1;
	}
	if (sqlite3_open_v2(c->path, &c->h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK)
		return db_trouble(c, "open");
	sqlite3_busy_timeout(c->h, BUSY_MS);
	/* A file that is not a database fails here, at its first read. */
	if (sqlite3_exec(c->h, schema, NULL, NULL, NULL) != SQLITE_OK)
		return db_trouble(c, "create table");
	if (sqlite3_prepare_v2(
		    c->h,
		    "SELECT scheme, files, id, role, version,"
		    " machine, path FROM identities_v1"
		    " WHERE compiler = ?1 AND name = ?2 AND env = ?3",
		    -1, &c->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->h,
			       "INSERT OR REPLACE INTO identities_v1(compiler,"
			       " name, env, scheme, files, id, role, version,"
			       " machine, path, stored)"
			       " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
			       -1, &c->put, NULL) != SQLITE_OK)
		return db_trouble(c, "prepare");
	c->state = DB_OPEN;
	return 0;
}

/* Copies column i of the current row into dst; 0, or -1 when it does
 * not fit (a damaged row is a miss). */
static int
col_copy(sqlite3_stmt *st, int i, char *dst, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);

	if (t == NULL || n < 0 || (size_t)n >= len)
		return -1;
	memcpy(dst, t, (size_t)n);
	dst[n] = '\0';
	return 0;
}

/* The row st stands on, if this scheme wrote it: 1 with its identity
 * in tc and its fingerprint in files, else 0 (a damaged row is a miss
 * like any other). */
static int
row_read(sqlite3_stmt *st, struct dm_toolchain *tc, struct dm_buf *files)
{
	const void *f = sqlite3_column_text(st, 1);
	int n = sqlite3_column_bytes(st, 1);
	char scheme[128];

	if (col_copy(st, 0, scheme, sizeof(scheme)) != 0 ||
	    strcmp(scheme, SCHEME) != 0 || f == NULL || n <= 0)
		return 0;
	if (col_copy(st, 2, tc->id, sizeof(tc->id)) != 0 ||
	    strlen(tc->id) != DM_TOOLCHAIN_ID_LEN ||
	    col_copy(st, 3, tc->role, sizeof(tc->role)) != 0 ||
	    col_copy(st, 4, tc->version, sizeof(tc->version)) != 0 ||
	    col_copy(st, 5, tc->machine, sizeof(tc->machine)) != 0 ||
	    col_copy(st, 6, tc->path, sizeof(tc->path)) != 0)
		return 0;
	return dm_buf_append(files, f, (size_t)n) == 0 &&
	       dm_buf_cstr(files) != NULL;
}

/* The row of (compiler, name, env): 1 when there is one of this scheme
 * (see row_read), 0 when there is none or the database is in trouble. */
static int
db_get(struct dm_idcache *c, const char *compiler, const char *name,
       const char *env, struct dm_toolchain *tc, struct dm_buf *files)
{
	int step, found = 0;

	if (db_open(c) != 0)
		return 0;
	sqlite3_bind_text(c->get, 1, compiler, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->get, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->get, 3, env, -1, SQLITE_STATIC);
	step = sqlite3_step(c->get);
	if (step == SQLITE_ROW)
		found = row_read(c->get, tc, files);
	else if (step != SQLITE_DONE)
		db_trouble(c, "read");
	if (c->get != NULL) { /* db_trouble() may have closed it */
		sqlite3_reset(c->get);
		sqlite3_clear_bindings(c->get);
	}
	return found;
}

static void
db_put(struct dm_idcache *c, const char *compiler, const char *name,
       const char *env, const struct dm_toolchain *tc,
       const struct dm_buf *files)
{
	sqlite3_stmt *st;
	int step;

	if (db_open(c) != 0)
		return;
	st = c->put;
	sqlite3_bind_text(st, 1, compiler, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, env, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, SCHEME, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, (const char *)files->p, (int)files->len,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 6, tc->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, tc->role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, tc->version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, tc->machine, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, tc->path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)time(NULL));
	step = sqlite3_step(st);
	if (step != SQLITE_DONE)
		db_trouble(c, "write");
	if (c->put != NULL) { /* db_trouble() may have closed it */
		sqlite3_reset(c->put);
		sqlite3_clear_bindings(c->put);
	}
}

/* ---- the fingerprint ---------------------------------------------------- */

/* Appends path's line.  -EINVAL for a name the format cannot hold. */
static int
fp_line(struct dm_buf *fp, const char *path)
{
	struct stat st;

	if (strpbrk(path, "\t\n") != NULL)
		return -EINVAL;
	if (stat(path, &st) != 0)
		return errno == ENOENT || errno == ENOTDIR
			       ? dm_buf_appendf(fp, "%s\t-\n", path)
			       : -errno;
	return dm_buf_appendf(fp, "%s\t%ju %ju %jd %jd.%09ld %jd.%09ld\n",
			      path, (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
			      (intmax_t)st.st_size,
			      (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			      (intmax_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

/* Whether the files of a stored fingerprint are as they were, the first
 * being real (where the compiler resolves now). */
static int
fp_holds(char *files, const char *real)
{
	struct dm_buf now;
	char *save = NULL, *line;
	int first = 1, same = 1;

	dm_buf_init(&now);
	for (line = strtok_r(files, "\n", &save); line != NULL && same;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');

		if (tab == NULL) {
			same = 0;
			break;
		}
		*tab = '\0';
		if (first && strcmp(line, real) != 0)
			same = 0;
		first = 0;
		dm_buf_reset(&now);
		if (same && fp_line(&now, line) == 0) {
			*tab = '\t';
			same = now.len == strlen(line) + 1 &&
			       memcmp(now.p, line, now.len - 1) == 0;
		} else {
			same = 0;
		}
	}
	dm_buf_free(&now);
	return same && !first;
}

/* The files an identity was computed from, being collected. */
struct files {
	struct dm_buf fp;
	char loader[PATH_MAX]; /* the driver's, for programs without one */
	int libs;	       /* some were found: the loader's cache too */
};

static int
add_file(struct files *f, const char *path)
{
	size_t n = strlen(path);

	for (size_t off = 0; off < f->fp.len;) {
		const char *line = (const char *)f->fp.p + off;
		const char *nl = memchr(line, '\n', f->fp.len - off);

		if (strncmp(line, path, n) == 0 && line[n] == '\t')
			return 0;
		off = nl != NULL ? (size_t)(nl - (const char *)f->fp.p) + 1
				 : f->fp.len;
	}
	return fp_line(&f->fp, path);
}

static int
add_lib(void *arg, const char *lib)
{
	struct files *f = arg;

	f->libs = 1;
	return add_file(f, lib);
}

/* A program the identity comes from, and the libraries it maps.  1 when
 * it is not an ELF file. */
static int
add_program(struct files *f, const char *path)
{
	char interp[PATH_MAX];
	int dynamic, rc;

	if ((rc = dm_elf_inspect(path, &dynamic, interp, sizeof(interp))) <= 0)
		return rc < 0 ? rc : 1;
	if ((rc = add_file(f, path)) != 0 || !dynamic)
		return rc;
	if (interp[0] == '\0')
		snprintf(interp, sizeof(interp), "%s", f->loader);
	else if (f->loader[0] == '\0')
		snprintf(f->loader, sizeof(f->loader), "%s", interp);
	if (interp[0] == '\0')
		return 0; /* a shared object run by nobody we know */
	return dm_elf_libs(interp, path, add_lib, f);
}

/* Collects the files of tc, whose driver's `-###` ran progs.  0, 1 with
 * why said when the identity is not to be kept, or a negative error. */
static int
collect(struct files *f, const struct dm_toolchain *tc,
	const struct dm_buf *progs, char *why, size_t why_len)
{
	char found[PATH_MAX], dir[PATH_MAX];
	int rc;

	if ((rc = add_program(f, tc->path)) != 0) {
		if (rc == 1)
			snprintf(why, why_len, "%s is not an ELF file",
				 tc->path);
		return rc;
	}
	for (size_t off = 0; off < progs->len;) {
		const char *w = (const char *)progs->p + off, *p = w;

		off += strlen(w) + 1;
		if (w[0] != '/') {
			/* gcc runs a bare `as` from PATH. */
			if (strchr(w, '/') != NULL ||
			    dm_toolchain_resolve(w, found) != 0)
				continue; /* the driver would not find it */
			p = found;
		} else {
			/* Where a specs file or a config file would appear. */
			char *sl;

			snprintf(dir, sizeof(dir), "%s", w);
			if ((sl = strrchr(dir, '/')) != NULL && sl != dir) {
				*sl = '\0';
				if ((rc = add_file(f, dir)) != 0)
					return rc;
			}
		}
		rc = add_program(f, p);
		if (rc == -ENOENT) /* its coming must be seen */
			rc = add_file(f, p);
		if (rc == 1)
			snprintf(why, why_len,
				 "the driver runs %s, not an ELF file", p);
		if (rc != 0)
			return rc;
	}
	return f->libs ? add_file(f, "/etc/ld.so.cache") : 0;
}

/* ---- the cache ------------------------------------------------------------ */

int
dm_idcache_new(const char *path, struct dm_idcache **out)
{
	struct dm_idcache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -ENOMEM;
	if (path != NULL)
		snprintf(c->path, sizeof(c->path), "%s", path);
	else if (dm_user_cache_path("identities.db", c->path,
				    sizeof(c->path)) != 0)
		c->path[0] = '\0';
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
}

void
dm_idcache_free(struct dm_idcache *c)
{
	if (c == NULL)
		return;
	db_close(c);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Why the compiler that resolves to real is identified every time, or
 * NULL when its identity may be kept. */
static const char *
not_kept(const char *real)
{
	const char *base = strrchr(real, '/');
	char interp[PATH_MAX];
	int dynamic;

	base = base != NULL ? base + 1 : real;
	if (dm_elf_inspect(real, &dynamic, interp, sizeof(interp)) != 1)
		return "not an ELF file: a script may run anything";
	for (size_t i = 0; wrappers[i] != NULL; i++)
		if (strcmp(base, wrappers[i]) == 0)
			return "a wrapper that runs the compiler it finds";
	return NULL;
}

static size_t
lines(const struct dm_buf *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->len; i++)
		n += b->p[i] == '\n';
	return n;
}

static int
env_key(struct dm_buf *env)
{
	int rc = 0;

	for (size_t i = 0; steering_env[i] != NULL && rc == 0; i++) {
		const char *v = getenv(steering_env[i]);

		if (v != NULL)
			rc = dm_buf_appendf(env, "%s=%s\n", steering_env[i],
					    v);
	}
	return rc == 0 && dm_buf_cstr(env) != NULL ? 0 : -ENOMEM;
}

int
dm_idcache_identify(struct dm_idcache *c, const char *name, const char *path,
		    struct dm_toolchain *tc, int *cached)
{
	char real[PATH_MAX], why[PATH_MAX + 64] = "";
	struct dm_buf env, stored, before, progs;
	struct files *f = NULL;
	const char *no;
	uint64_t t0 = dm_now_ms();
	int rc, hit, kept;

	if (cached != NULL)
		*cached = 0;
	if (path == NULL)
		path = name;
	if (name == NULL)
		name = path;
	if (c == NULL || path == NULL || dm_toolchain_resolve(path, real) != 0)
		return dm_toolchain_identify(name, path, tc);
	if ((no = not_kept(real)) != NULL) {
		dm_debug("identity of %s: not cached: %s is %s", path, real,
			 no);
		return dm_toolchain_identify(name, path, tc);
	}
	dm_buf_init(&env);
	dm_buf_init(&stored);
	dm_buf_init(&before);
	dm_buf_init(&progs);
	if ((rc = env_key(&env)) != 0)
		goto out;

	pthread_mutex_lock(&c->mu);
	hit = db_get(c, path, name, (char *)env.p, tc, &stored);
	pthread_mutex_unlock(&c->mu);
	if (hit && fp_holds((char *)stored.p, real)) {
		dm_debug("identity of %s (as %s): from the cache", path, name);
		if (cached != NULL)
			*cached = 1;
		rc = 0;
		goto out;
	}

	/* The driver as it is before it runs: one replaced while it answers
	 * must not leave its old answers under its new file. */
	kept = fp_line(&before, real);
	if ((rc = dm_toolchain_identify_progs(name, path, tc, &progs)) != 0)
		goto out;
	if (kept == 0 && (f = calloc(1, sizeof(*f))) == NULL)
		kept = -ENOMEM;
	if (kept == 0) {
		dm_buf_init(&f->fp);
		kept = collect(f, tc, &progs, why, sizeof(why));
	}
	if (kept == 0 && (f->fp.len < before.len ||
			  memcmp(f->fp.p, before.p, before.len) != 0)) {
		snprintf(why, sizeof(why), "%s changed while it ran", real);
		kept = 1;
	}
	if (kept == 0 && dm_buf_cstr(&f->fp) == NULL)
		kept = -ENOMEM;
	if (kept == 0) {
		pthread_mutex_lock(&c->mu);
		db_put(c, path, name, (char *)env.p, tc, &f->fp);
		pthread_mutex_unlock(&c->mu);
		dm_debug("identity of %s (as %s): computed in %" PRIu64
			 " ms, kept with the state of %zu files",
			 path, name, dm_now_ms() - t0, lines(&f->fp));
	} else {
		dm_debug("identity of %s (as %s): computed, not cached: %s",
			 path, name, kept == 1 ? why : dm_strerror(kept));
	}

out:
	if (f != NULL) {
		dm_buf_free(&f->fp);
		free(f);
	}
	dm_buf_free(&env);
	dm_buf_free(&stored);
	dm_buf_free(&before);
	dm_buf_free(&progs);
	return rc;
}
