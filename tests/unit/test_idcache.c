/*
 * test_idcache.c: lib/idcache.c with this machine's gcc 12.  A cache
 * that a later process (here: a new dm_idcache on the same file) reads
 * back; misses when the driver, or the cc1 it runs, is not the file it
 * was; nothing kept for a script; a damaged database costs a warning,
 * never an identity.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/err.h"
#include "../../lib/idcache.h"
#include "../../lib/toolchain.h"
#include "tap.h"

#define GCC_LIBEXEC "/usr/lib/gcc/x86_64-linux-gnu/12"

static const char *
tmp(const char *name)
{
	static char path[8][PATH_MAX];
	static int next;
	char *p = path[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", tap_tmpdir(), name);
	return p;
}

/* Identifies through a cache opened on db for this one call, as a new
 * coordinator would; returns whether the answer came from the file. */
static int
through(const char *db, const char *name, const char *path,
	struct dm_toolchain *tc)
{
	struct dm_idcache *c;
	int cached = -1, rc;

	ASSERT_OK(dm_idcache_new(db, &c));
	if ((rc = dm_idcache_identify(c, name, path, tc, &cached)) != 0)
		tap_fail(__FILE__, __LINE__, "identify %s: %s", path,
			 dm_strerror(rc));
	dm_idcache_free(c);
	ASSERT_TRUE(cached == 0 || cached == 1);
	return cached;
}

static long long
rows(const char *db)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	long long n = -1;

	ASSERT_TRUE(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) ==
		    SQLITE_OK);
	ASSERT_TRUE(sqlite3_prepare_v2(h, "SELECT count(*) FROM identities_v1",
				       -1, &st, NULL) == SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static void
copy(const char *from, const char *to)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	ASSERT_OK(system(cmd));
}

static void
same_identity(const struct dm_toolchain *a, const struct dm_toolchain *b)
{
	ASSERT_EQ_STR(a->id, b->id);
	ASSERT_EQ_STR(a->role, b->role);
	ASSERT_EQ_STR(a->version, b->version);
	ASSERT_EQ_STR(a->machine, b->machine);
	ASSERT_EQ_STR(a->path, b->path);
}

TEST_TIMEOUT(idcache_hit_on_an_unchanged_compiler, 120)
{
	const char *db = tmp("cache/dmake/identities.db");
	struct dm_toolchain want, tc;

	ASSERT_OK(dm_toolchain_identify("gcc", "/usr/bin/gcc", &want));
	ASSERT_EQ_INT(through(db, "gcc", "/usr/bin/gcc", &tc), 0);
	same_identity(&tc, &want);
	ASSERT_EQ_INT(rows(db), 1);
	memset(&tc, 0, sizeof(tc));
	ASSERT_EQ_INT(through(db, "gcc", "/usr/bin/gcc", &tc), 1);
	same_identity(&tc, &want);
	/* The name is part of the key: g++ is another identity. */
	ASSERT_EQ_INT(through(db, "g++", "/usr/bin/gcc", &tc), 0);
	ASSERT_EQ_STR(tc.role, "g++");
	ASSERT_EQ_INT(through(db, "g++", "/usr/bin/gcc", &tc), 1);
	ASSERT_EQ_STR(tc.role, "g++");
	ASSERT_EQ_INT(rows(db), 2);
	/* So are the variables that steer the driver. */
	setenv("GCC_EXEC_PREFIX", "/usr/lib/gcc/", 1);
	ASSERT_EQ_INT(through(db, "gcc", "/usr/bin/gcc", &tc), 0);
	ASSERT_EQ_INT(through(db, "gcc", "/usr/bin/gcc", &tc), 1);
	unsetenv("GCC_EXEC_PREFIX");
	ASSERT_EQ_INT(through(db, "gcc", "/usr/bin/gcc", &tc), 1);
	same_identity(&tc, &want);
	/* No cache at all is dm_toolchain_identify(). */
	ASSERT_OK(dm_idcache_identify(NULL, "gcc", "/usr/bin/gcc", &tc, NULL));
	same_identity(&tc, &want);
}

/* A gcc of its own: the driver copied to DIR/bin/gcc, and its cc1 where
 * a relocated driver looks for it, DIR/lib/gcc/TRIPLE/12/cc1 (a copied
 * driver finds no cc1 in /usr/lib/gcc), a link to the real one. */
static const char *
own_gcc(char *cc1, size_t len)
{
	char driver[PATH_MAX], cmd[2 * PATH_MAX];
	const char *gcc = tmp("own/bin/gcc");

	ASSERT_TRUE(realpath("/usr/bin/gcc-12", driver) != NULL);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/own/bin %s/own/lib/gcc/%s",
		 tap_tmpdir(), tap_tmpdir(), "x86_64-linux-gnu/12");
	ASSERT_OK(system(cmd));
	copy(driver, gcc);
	snprintf(cc1, len, "%s/own/lib/gcc/x86_64-linux-gnu/12/cc1",
		 tap_tmpdir());
	ASSERT_OK(symlink(GCC_LIBEXEC "/cc1", cc1) == 0 ? 0 : -errno);
	return gcc;
}

TEST_TIMEOUT(idcache_miss_when_the_driver_changes, 180)
{
	const char *db = tmp("identities.db");
	struct dm_toolchain want, tc;
	struct timespec ts[2] = {{1000000000, 5}, {1000000000, 5}};
	char cc1[PATH_MAX];
	const char *gcc = own_gcc(cc1, sizeof(cc1));
	int fd;

	ASSERT_OK(dm_toolchain_identify("gcc", gcc, &want));
	ASSERT_EQ_INT(through(db, "gcc", gcc, &tc), 0);
	same_identity(&tc, &want);
	ASSERT_EQ_INT(through(db, "gcc", gcc, &tc), 1);
	same_identity(&tc, &want);
	/* Another mtime (touch -d), then another size (a byte appended,
	 * which the ELF file does not mind). */
	ASSERT_OK(utimensat(AT_FDCWD, gcc, ts, 0) == 0 ? 0 : -errno);
	ASSERT_EQ_INT(through(db, "gcc", gcc, &tc), 0);
	ASSERT_EQ_INT(through(db, "gcc", gcc, &tc), 1);
	fd = open(gcc, O_WRONLY | O_APPEND);
	ASSERT_TRUE(fd >= 0 && write(fd, "", 1) == 1);
	close(fd);
	ASSERT_EQ_INT(through(db, "gcc", gcc, &tc), 0);
	ASSERT_EQ_INT(through(db, "gcc", gcc, &tc), 1);
	same_identity(&tc, &want);
	ASSERT_EQ_INT(rows(db), 1); /* replaced, not added */
}

TEST_TIMEOUT(idcache_miss_when_cc1_changes_under_the_driver, 180)
{
	const char *db = tmp("identities.db");
	struct dm_toolchain c_id, tc;
	char cc1[PATH_MAX];
	const char *gcc = own_gcc(cc1, sizeof(cc1));

	ASSERT_EQ_INT(through(db, "gcc", gcc, &c_id), 0);
	ASSERT_EQ_INT(through(db, "gcc", gcc, &tc), 1);
	/* The same driver now runs cc1plus as its cc1: its predefined
	 * macros are C++'s, another compiler, which a cache keyed on the
	 * driver alone would take for the old one. */
	ASSERT_OK(unlink(cc1) == 0 ? 0 : -errno);
	ASSERT_OK(symlink(GCC_LIBEXEC "/cc1plus", cc1) == 0 ? 0 : -errno);
	ASSERT_EQ_INT(through(db, "gcc", gcc, &tc), 0);
	ASSERT_TRUE(strcmp(tc.id, c_id.id) != 0);
	ASSERT_EQ_INT(through(db, "gcc", gcc, &tc), 1);
	ASSERT_TRUE(strcmp(tc.id, c_id.id) != 0);
	/* And back. */
	ASSERT_OK(unlink(cc1) == 0 ? 0 : -errno);
	ASSERT_OK(symlink(GCC_LIBEXEC "/cc1", cc1) == 0 ? 0 : -errno);
	ASSERT_EQ_INT(through(db, "gcc", gcc, &tc), 0);
	ASSERT_EQ_STR(tc.id, c_id.id);
}

TEST_TIMEOUT(idcache_keeps_nothing_for_a_script, 120)
{
	const char *db = tmp("identities.db");
	const char *wrapper = tmp("gcc");
	struct dm_toolchain want, tc;
	FILE *f;

	ASSERT_OK(dm_toolchain_identify("gcc", "/usr/bin/gcc", &want));
	f = fopen(wrapper, "w");
	ASSERT_TRUE(f != NULL);
	fprintf(f, "#!/bin/sh\nexec /usr/bin/gcc \"$@\"\n");
	fclose(f);
	ASSERT_OK(chmod(wrapper, 0755) == 0 ? 0 : -errno);
	ASSERT_EQ_INT(through(db, "gcc", wrapper, &tc), 0);
	ASSERT_EQ_STR(tc.id, want.id);
	ASSERT_EQ_INT(through(db, "gcc", wrapper, &tc), 0);
	ASSERT_EQ_STR(tc.id, want.id);
	/* The database was never needed, so never made. */
	ASSERT_TRUE(access(db, F_OK) != 0);
}

/* Runs fn with stderr going to a file; returns what it wrote. */
static char *
stderr_of(void (*fn)(const char *db), const char *db)
{
	static char text[8192];
	const char *log = tmp("stderr.log");
	int fd = open(log, O_CREAT | O_TRUNC | O_RDWR, 0600), saved = dup(2);
	ssize_t n;

	ASSERT_TRUE(fd >= 0 && saved >= 0);
	dup2(fd, 2);
	fn(db);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return text;
}

static void
identify_twice(const char *db)
{
	struct dm_toolchain want, tc;
	struct dm_idcache *c;
	int cached = -1;

	ASSERT_OK(dm_toolchain_identify("gcc", "/usr/bin/gcc", &want));
	ASSERT_OK(dm_idcache_new(db, &c));
	for (int i = 0; i < 2; i++) {
		ASSERT_OK(dm_idcache_identify(c, "gcc", "/usr/bin/gcc", &tc,
					      &cached));
		ASSERT_EQ_INT(cached, 0);
		same_identity(&tc, &want);
	}
	dm_idcache_free(c);
}

static int
count(const char *text, const char *word)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, word)) != NULL; p++)
		n++;
	return n;
}

TEST_TIMEOUT(idcache_damaged_database_warns_once, 180)
{
	const char *db = tmp("identities.db");
	char garbage[4096], *err;
	int fd;

	/* Not a database at all. */
	memset(garbage, 'x', sizeof(garbage));
	fd = open(db, O_CREAT | O_WRONLY, 0600);
	ASSERT_TRUE(fd >= 0 &&
		    write(fd, garbage, sizeof(garbage)) == sizeof(garbage));
	close(fd);
	err = stderr_of(identify_twice, db);
	ASSERT_EQ_INT(count(err, "identity cache"), 1);
	ASSERT_TRUE(strstr(err, db) != NULL);
	ASSERT_TRUE(strstr(err, "not a database") != NULL);

	/* A database whose pages were overwritten. */
	unlink(db);
	ASSERT_EQ_INT(
		through(db, "gcc", "/usr/bin/gcc", &(struct dm_toolchain){0}),
		0);
	fd = open(db, O_WRONLY);
	ASSERT_TRUE(fd >= 0 && pwrite(fd, garbage, sizeof(garbage), 100) ==
				       sizeof(garbage));
	close(fd);
	err = stderr_of(identify_twice, db);
	ASSERT_EQ_INT(count(err, "identity cache"), 1);

	/* Nowhere to create it: its directory would be under a file. */
	err = stderr_of(identify_twice, tmp("identities.db/sub/x.db"));
	ASSERT_EQ_INT(count(err, "identity cache"), 1);
	ASSERT_TRUE(strstr(err, "cannot create its directory") != NULL);
}

/* Builds that start together: processes that create, read and write the
 * one file at once.  Each gets its identity, none warns (a lock held by
 * another is waited for, or is a miss), and one row is left. */
static void
identify_in_children(const char *db)
{
	pid_t pids[6];
	int status;

	for (int i = 0; i < 6; i++) {
		if ((pids[i] = fork()) == 0) {
			struct dm_toolchain tc;
			struct dm_idcache *c;
			int cached;

			if (dm_idcache_new(db, &c) != 0 ||
			    dm_idcache_identify(c, "gcc", "/usr/bin/gcc", &tc,
						&cached) != 0)
				_exit(1);
			dm_idcache_free(c);
			_exit(0);
		}
		ASSERT_TRUE(pids[i] > 0);
	}
	for (int i = 0; i < 6; i++) {
		ASSERT_EQ_INT(waitpid(pids[i], &status, 0), pids[i]);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

TEST_TIMEOUT(idcache_shared_by_processes, 180)
{
	const char *db = tmp("cache/identities.db");
	struct dm_toolchain tc;
	char *err;

	err = stderr_of(identify_in_children, db);
	ASSERT_EQ_STR(err, "");
	ASSERT_EQ_INT(rows(db), 1);
	ASSERT_EQ_INT(through(db, "gcc", "/usr/bin/gcc", &tc), 1);
}
