/*
 * db.c: see db.h.
 *
 * The table grows by columns at its end only: a database written by an
 * older scheduler gets the missing ones (with their defaults) when it is
 * opened, so history is never lost to an upgrade.
 */
#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../lib/fs.h"
#include "../lib/log.h"
#include "db.h"

struct sched_db {
	sqlite3 *h;
	sqlite3_stmt *put;
	sqlite3_stmt *begin;
	sqlite3_stmt *commit;
	sqlite3_stmt *rollback;
	char path[PATH_MAX];
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS nodes("
	" name TEXT PRIMARY KEY,"
	" addr TEXT NOT NULL DEFAULT '',"
	" platform TEXT NOT NULL DEFAULT '',"
	" slots INTEGER NOT NULL DEFAULT 0,"
	" first_seen INTEGER NOT NULL DEFAULT 0,"
	" last_seen INTEGER NOT NULL DEFAULT 0,"
	" jobs_done INTEGER NOT NULL DEFAULT 0,"
	" jobs_failed INTEGER NOT NULL DEFAULT 0,"
	" cpu_ms INTEGER NOT NULL DEFAULT 0,"
	" unit_bytes INTEGER NOT NULL DEFAULT 0,"
	" speed_cpu_ms REAL NOT NULL DEFAULT 0,"
	" speed_mb REAL NOT NULL DEFAULT 0,"
	" speed_jobs REAL NOT NULL DEFAULT 0,"
	" speed_at INTEGER NOT NULL DEFAULT 0);";

/* Columns added after the first version, in the order they were added. */
static const struct {
	const char *name;
	const char *decl;
} added[] = {
	{"speed_cpu_ms", "REAL NOT NULL DEFAULT 0"},
	{"speed_mb", "REAL NOT NULL DEFAULT 0"},
	{"speed_jobs", "REAL NOT NULL DEFAULT 0"},
	{"speed_at", "INTEGER NOT NULL DEFAULT 0"},
};

static int
fail(struct sched_db *db, const char *what)
{
	dm_error("%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
	return -EIO;
}

static int
prepare(struct sched_db *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK)
		return fail(db, "prepare");
	return 0;
}

/* Adds the columns an older scheduler's table lacks. */
static int
upgrade(struct sched_db *db)
{
	int have[sizeof(added) / sizeof(added[0])] = {0};
	sqlite3_stmt *st;
	char sql[256];
	int rc, step;

	if ((rc = prepare(db, "PRAGMA table_info(nodes)", &st)) != 0)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *col = sqlite3_column_text(st, 1);

		for (size_t i = 0; col != NULL && i < sizeof(added) /
							  sizeof(added[0]);
		     i++)
			if (strcmp((const char *)col, added[i].name) == 0)
				have[i] = 1;
	}
	sqlite3_finalize(st);
	if (step != SQLITE_DONE)
		return fail(db, "read table_info");
	for (size_t i = 0; i < sizeof(added) / sizeof(added[0]); i++) {
		if (have[i])
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE nodes ADD COLUMN %s %s",
			 added[i].name, added[i].decl);
		if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
			return fail(db, "add column");
		dm_info("%s: added column %s", db->path, added[i].name);
	}
	return 0;
}

int
sched_db_open(const char *path, struct sched_db **out)
{
	struct sched_db *db;
	int rc;

	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	if ((rc = dm_mkdir_parents(path, 0700)) != 0) {
		dm_error("%s: cannot create its directory: %s", path,
			 strerror(-rc));
		return rc;
	}
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return -ENOMEM;
	strcpy(db->path, path);
	if (sqlite3_open_v2(path, &db->h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = fail(db, "open");
		goto err_after_open;
	}
	/* Another scheduler on the same file holds its lock briefly. */
	sqlite3_busy_timeout(db->h, 2000);
	if (sqlite3_exec(db->h, schema, NULL, NULL, NULL) != SQLITE_OK) {
		rc = fail(db, "create table");
		goto err_after_open;
	}
	if ((rc = upgrade(db)) != 0)
		goto err_after_open;
	if ((rc = prepare(db,
			  "INSERT OR REPLACE INTO nodes(name, addr, platform,"
			  " slots, first_seen, last_seen, jobs_done,"
			  " jobs_failed, cpu_ms, unit_bytes, speed_cpu_ms,"
			  " speed_mb, speed_jobs, speed_at)"
			  " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
			  "?13,?14)",
			  &db->put)) != 0 ||
	    (rc = prepare(db, "BEGIN", &db->begin)) != 0 ||
	    (rc = prepare(db, "COMMIT", &db->commit)) != 0 ||
	    (rc = prepare(db, "ROLLBACK", &db->rollback)) != 0)
		goto err_after_open;
	*out = db;
	return 0;

err_after_open:
	sched_db_close(db);
	return rc;
}

void
sched_db_close(struct sched_db *db)
{
	if (db == NULL)
		return;
	sqlite3_finalize(db->put);
	sqlite3_finalize(db->begin);
	sqlite3_finalize(db->commit);
	sqlite3_finalize(db->rollback);
	sqlite3_close(db->h);
	free(db);
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

int
sched_db_load(struct sched_db *db,
	      int (*fn)(void *arg, const struct sched_history *h), void *arg)
{
	sqlite3_stmt *st;
	int rc, step;

	if ((rc = prepare(db,
			  "SELECT name, addr, platform, slots, first_seen,"
			  " last_seen, jobs_done, jobs_failed, cpu_ms,"
			  " unit_bytes, speed_cpu_ms, speed_mb, speed_jobs,"
			  " speed_at FROM nodes",
			  &st)) != 0)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct sched_history h = {
			.name = col_text(st, 0),
			.addr = col_text(st, 1),
			.platform = col_text(st, 2),
			.slots = (uint32_t)sqlite3_column_int64(st, 3),
			.first_seen = sqlite3_column_int64(st, 4),
			.last_seen = sqlite3_column_int64(st, 5),
			.jobs_done = (uint64_t)sqlite3_column_int64(st, 6),
			.jobs_failed = (uint64_t)sqlite3_column_int64(st, 7),
			.cpu_ms = (uint64_t)sqlite3_column_int64(st, 8),
			.unit_bytes = (uint64_t)sqlite3_column_int64(st, 9),
			.speed_cpu_ms = sqlite3_column_double(st, 10),
			.speed_mb = sqlite3_column_double(st, 11),
			.speed_jobs = sqlite3_column_double(st, 12),
			.speed_at = sqlite3_column_int64(st, 13),
		};

		if ((rc = fn(arg, &h)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = fail(db, "read nodes");
	sqlite3_finalize(st);
	return rc;
}

/* Runs a prepared statement that returns no rows. */
static int
run(struct sched_db *db, sqlite3_stmt *st, const char *what)
{
	int step = sqlite3_step(st);

	sqlite3_reset(st);
	return step == SQLITE_DONE ? 0 : fail(db, what);
}

int
sched_db_begin(struct sched_db *db)
{
	return run(db, db->begin, "begin");
}

int
sched_db_commit(struct sched_db *db)
{
	return run(db, db->commit, "commit");
}

void
sched_db_rollback(struct sched_db *db)
{
	run(db, db->rollback, "rollback");
}

int
sched_db_put(void *arg, const struct sched_history *h)
{
	struct sched_db *db = arg;
	sqlite3_stmt *st = db->put;

	sqlite3_bind_text(st, 1, h->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, h->addr, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, h->platform, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, h->slots);
	sqlite3_bind_int64(st, 5, h->first_seen);
	sqlite3_bind_int64(st, 6, h->last_seen);
	/* sqlite integers are signed 64-bit; counters never get near. */
	sqlite3_bind_int64(st, 7, (sqlite3_int64)h->jobs_done);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)h->jobs_failed);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)h->cpu_ms);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)h->unit_bytes);
	sqlite3_bind_double(st, 11, h->speed_cpu_ms);
	sqlite3_bind_double(st, 12, h->speed_mb);
	sqlite3_bind_double(st, 13, h->speed_jobs);
	sqlite3_bind_int64(st, 14, h->speed_at);
	return run(db, st, "write node");
}
