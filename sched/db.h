/*
 * db.h: the scheduler's node history in sqlite3 (--db FILE).
 *
 * One table, nodes(name PRIMARY KEY, addr, platform, slots, first_seen,
 * last_seen, jobs_done, jobs_failed, cpu_ms, unit_bytes, speed_cpu_ms,
 * speed_mb, speed_jobs, speed_at), in WAL mode so a reader (a person with
 * the sqlite3 shell) never blocks the scheduler.  It is history for
 * speed-based placement (the speed_* columns: see struct sched_history):
 * losing the last ten seconds of it in a crash is harmless, so writes are
 * batched (sched_db_begin/commit around the rows the state marked
 * changed).
 *
 * Lifetime: sched_db_open() / sched_db_close().  sqlite errors are
 * logged with sqlite's message and returned as -EIO.
 */
#ifndef SCHED_DB_H
#define SCHED_DB_H

#include "state.h"

struct sched_db;

/* Opens or creates the database, creating missing parent directories
 * (mode 0700: the history names every machine of the cluster). */
int sched_db_open(const char *path, struct sched_db **out);
void sched_db_close(struct sched_db *db);

/* Calls fn for every stored row (strings live only during the call). */
int sched_db_load(struct sched_db *db,
		  int (*fn)(void *arg, const struct sched_history *h),
		  void *arg);

int sched_db_begin(struct sched_db *db);
/* Inserts or replaces one row; the signature fits sched_history_flush(). */
int sched_db_put(void *db, const struct sched_history *h);
int sched_db_commit(struct sched_db *db);
/* Undoes a failed batch. */
void sched_db_rollback(struct sched_db *db);

#endif
