/*
 * tccache.c: see tccache.h.
 *
 * Locking: one mutex over the entries, the transfers under way and the
 * sqlite index; nothing slow happens under it (no network, no unpack,
 * no compiler runs), only the index's few small writes.  An entry lives
 * while a job uses it: eviction of an entry in use only marks it gone,
 * and the last node_tccache_put() removes it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/clock.h"
#include "../lib/err.h"
#include "../lib/fs.h"
#include "../lib/io.h"
#include "../lib/jobdir.h"
#include "../lib/log.h"
#include "../lib/spawn.h"
#include "../lib/stream.h"
#include "../lib/tcarchive.h"
#include "../lib/toolchain.h"
#include "sandbox.h"
#include "tccache.h"

/* Another connection's transfer of the same toolchain: waited for at
 * most this long. */
#define WAIT_MS (10u * 60 * 1000)
/* The client may pack the archive before it answers NEED_TOOLCHAIN
 * (seconds for gcc, more for clang at a high level). */
#define ANSWER_MS (10 * 60 * 1000)
/* job.c's timeout for any one read or write, restored after. */
#define IO_MS 60000
/* last_used reaches the index at most this often per entry. */
#define USED_SAVE_S 60

struct entry {
	LIST_ENTRY(entry) link;
	char hash[65];
	char dir[PATH_MAX];
	char version[64];
	char machine[128];
	struct node_compiler cc;
	struct node_sandbox *box;
	char **env;
	char *path_var; /* env's PATH=..., owned */
	uint64_t bytes;
	int64_t last_used;
	int64_t saved_used;
	unsigned refs;
	int gone; /* on c->gone: dropped while in use */
};

/* A toolchain one connection is receiving now. */
struct fetch {
	LIST_ENTRY(fetch) link;
	char id[DM_TOOLCHAIN_ID_LEN + 1];
};

struct node_tc_use {
	struct entry *e;
};

struct node_tccache {
	struct node *n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sqlite3 *db;
	char dir[PATH_MAX + 16];
	uint64_t limit;
	uint64_t total;
	uint64_t gen;
	LIST_HEAD(, entry) entries;
	LIST_HEAD(, entry) gone; /* dropped while in use */
	LIST_HEAD(, fetch) fetches;
};

static int64_t
wall_now(void)
{
	return (int64_t)time(NULL);
}

/* ---- entries ------------------------------------------------------------- */

static void
entry_free(struct entry *e)
{
	if (e == NULL)
		return;
	node_sandbox_free(e->box);
	free(e->env);
	free(e->path_var);
	free(e);
}

/* The compilers' sandbox environment with the archive's PATH. */
static int
entry_env(struct node *n, struct entry *e, const char *path)
{
	size_t len = 0, k = 0;

	while (n->box_env[len] != NULL)
		len++;
	if ((e->env = calloc(len + 2, sizeof(char *))) == NULL)
		return -ENOMEM;
	if (asprintf(&e->path_var, "PATH=%s", path) < 0) {
		e->path_var = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < len; i++)
		if (strncmp(n->box_env[i], "PATH=", 5) != 0)
			e->env[k++] = n->box_env[i];
	e->env[k] = e->path_var;
	return 0;
}

/* An entry for the unpacked archive in dir, with its sandbox plan. */
static int
entry_new(struct node_tccache *c, const char *hash, const char *dir,
	  const struct dm_tcmanifest *m, uint64_t bytes, struct entry **out,
	  char *why, size_t why_len)
{
	struct entry *e = calloc(1, sizeof(*e));
	char root[PATH_MAX + 8];
	int rc;

	if (e == NULL)
		return -ENOMEM;
	snprintf(e->hash, sizeof(e->hash), "%s", hash);
	snprintf(e->dir, sizeof(e->dir), "%s", dir);
	snprintf(e->version, sizeof(e->version), "%s", m->version);
	snprintf(e->machine, sizeof(e->machine), "%s", m->machine);
	snprintf(e->cc.id, sizeof(e->cc.id), "%s", m->id);
	snprintf(e->cc.role, sizeof(e->cc.role), "%s", m->role);
	snprintf(e->cc.path, sizeof(e->cc.path), "%s", m->driver);
	snprintf(e->cc.advert, sizeof(e->cc.advert), "%s %s %.60s %.100s",
		 m->id, m->role, m->version, m->machine);
	e->cc.offered = 1;
	e->bytes = bytes;
	snprintf(root, sizeof(root), "%s/root", dir);
	if ((rc = node_sandbox_derive(c->n->sandbox, root, &e->box, why,
				      why_len)) != 0 ||
	    (rc = entry_env(c->n, e, m->path)) != 0) {
		entry_free(e);
		return rc;
	}
	e->cc.box = e->box;
	e->cc.env = e->env;
	*out = e;
	return 0;
}

static struct entry *
find_id(struct node_tccache *c, const char *id)
{
	struct entry *e, *best = NULL;

	LIST_FOREACH(e, &c->entries, link)
		if (strcmp(e->cc.id, id) == 0 &&
		    (best == NULL || e->last_used > best->last_used))
			best = e;
	return best;
}

static struct entry *
find_hash(struct node_tccache *c, const char *hash)
{
	struct entry *e;

	LIST_FOREACH(e, &c->entries, link)
		if (strcmp(e->hash, hash) == 0)
			return e;
	return NULL;
}

/* ---- the index ----------------------------------------------------------- */

static int
db_exec(struct node_tccache *c, const char *sql, const char *a, const char *b,
	int64_t x, int64_t y)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		dm_warn("toolchain index: %s", sqlite3_errmsg(c->db));
		return -EIO;
	}
	if (a != NULL)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, x);
	sqlite3_bind_int64(st, 4, y);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		dm_warn("toolchain index: %s", sqlite3_errmsg(c->db));
		return -EIO;
	}
	return 0;
}

static void
db_insert(struct node_tccache *c, const struct entry *e)
{
	db_exec(c,
		"INSERT OR REPLACE INTO toolchains (hash, id, bytes, "
		"last_used) VALUES (?1, ?2, ?3, ?4)",
		e->hash, e->cc.id, (int64_t)e->bytes, e->last_used);
}

static void
db_delete(struct node_tccache *c, const char *hash)
{
	db_exec(c, "DELETE FROM toolchains WHERE hash = ?1", hash, NULL, 0, 0);
}

static void
db_touch(struct node_tccache *c, struct entry *e)
{
	if (e->last_used - e->saved_used < USED_SAVE_S)
		return;
	if (db_exec(c, "UPDATE toolchains SET last_used = ?4 WHERE hash = ?1",
		    e->hash, NULL, 0, e->last_used) == 0)
		e->saved_used = e->last_used;
}

/* ---- eviction ------------------------------------------------------------ */

static void
drop(struct node_tccache *c, struct entry *e, const char *why)
{
	dm_info("toolchain %.16s (%s %s): dropped from the cache (%s), %" PRIu64
		" bytes",
		e->cc.id, e->cc.role, e->version, why, e->bytes);
	LIST_REMOVE(e, link);
	c->total -= e->bytes;
	c->gen++;
	db_delete(c, e->hash);
	if (e->refs > 0) {
		/* The jobs using it keep it; the last one removes it, unless
		 * a job asks for it again first. */
		e->gone = 1;
		LIST_INSERT_HEAD(&c->gone, e, link);
		return;
	}
	dm_rm_tree(e->dir);
	entry_free(e);
}

/* Makes room for need more bytes: least recently used first, never an
 * entry in use. */
static void
evict(struct node_tccache *c, uint64_t need)
{
	while (c->total + need > c->limit) {
		struct entry *e, *lru = NULL;

		LIST_FOREACH(e, &c->entries, link)
			if (e->refs == 0 &&
			    (lru == NULL || e->last_used < lru->last_used))
				lru = e;
		if (lru == NULL)
			return; /* all in use: over the limit until they end */
		drop(c, lru, "least recently used, --cache-limit");
	}
}

/* ---- opening ------------------------------------------------------------- */

static int
load(struct node_tccache *c)
{
	sqlite3_stmt *st;
	struct dirent *d;
	DIR *dir;
	int rc;

	if (sqlite3_prepare_v2(c->db,
			       "SELECT hash, id, bytes, last_used FROM "
			       "toolchains",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *hash = (const char *)sqlite3_column_text(st, 0);
		const char *id = (const char *)sqlite3_column_text(st, 1);
		char path[PATH_MAX + 96], *text = NULL, why[256];
		struct dm_tcmanifest m;
		struct entry *e = NULL;
		struct stat sb;
		FILE *f;
		long len = 0;

		if (hash == NULL || id == NULL || strlen(hash) != 64)
			continue;
		snprintf(path, sizeof(path), "%s/%s/manifest", c->dir, hash);
		if ((f = fopen(path, "re")) != NULL) {
			if (fstat(fileno(f), &sb) == 0 && sb.st_size < 65536 &&
			    (text = malloc((size_t)sb.st_size + 1)) != NULL)
				len = (long)fread(text, 1, (size_t)sb.st_size,
						  f);
			fclose(f);
		}
		snprintf(path, sizeof(path), "%s/%s", c->dir, hash);
		if (text != NULL &&
		    dm_tcmanifest_parse(text, (size_t)len, &m) == 0 &&
		    strcmp(m.id, id) == 0 &&
		    entry_new(c, hash, path, &m,
			      (uint64_t)sqlite3_column_int64(st, 2), &e, why,
			      sizeof(why)) == 0) {
			e->last_used = e->saved_used =
				sqlite3_column_int64(st, 3);
			LIST_INSERT_HEAD(&c->entries, e, link);
			c->total += e->bytes;
		} else {
			dm_warn("toolchain cache: %s is unusable; removed",
				path);
		}
		free(text);
	}
	sqlite3_finalize(st);
	/* Rows whose directory is unusable, directories with no row. */
	db_exec(c, "CREATE TEMP TABLE IF NOT EXISTS keep (hash TEXT)", NULL,
		NULL, 0, 0);
	{
		struct entry *e;

		db_exec(c, "DELETE FROM keep", NULL, NULL, 0, 0);
		LIST_FOREACH(e, &c->entries, link)
			db_exec(c, "INSERT INTO keep VALUES (?1)", e->hash,
				NULL, 0, 0);
		db_exec(c,
			"DELETE FROM toolchains WHERE hash NOT IN (SELECT "
			"hash FROM keep)",
			NULL, NULL, 0, 0);
	}
	if ((dir = opendir(c->dir)) == NULL)
		return -errno;
	while ((d = readdir(dir)) != NULL) {
		char path[PATH_MAX + 300];

		if (d->d_name[0] == '.' ||
		    strncmp(d->d_name, "index.sqlite", 12) == 0 ||
		    find_hash(c, d->d_name) != NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", c->dir, d->d_name);
		dm_rm_tree(path);
	}
	closedir(dir);
	return 0;
}

int
node_tccache_open(struct node *n, struct node_tccache **out)
{
	struct node_tccache *c = calloc(1, sizeof(*c));
	char path[PATH_MAX + 32];
	struct entry *e;
	unsigned count = 0;
	int rc;

	if (c == NULL)
		return -ENOMEM;
	if (sodium_init() < 0) {
		free(c);
		return -ENOMEM;
	}
	c->n = n;
	c->limit = n->opts.cache_limit;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	LIST_INIT(&c->entries);
	LIST_INIT(&c->gone);
	LIST_INIT(&c->fetches);
	snprintf(c->dir, sizeof(c->dir), "%s/unpacked", n->cache_dir);
	if (mkdir(c->dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		dm_error("cannot create %s: %s", c->dir, strerror(errno));
		goto err_after_c;
	}
	snprintf(path, sizeof(path), "%s/index.sqlite", c->dir);
	if (sqlite3_open_v2(path, &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		dm_error("%s: %s", path,
			 c->db ? sqlite3_errmsg(c->db) : "cannot open");
		rc = -EIO;
		goto err_after_c;
	}
	sqlite3_busy_timeout(c->db, 5000);
	if (db_exec(c,
		    "CREATE TABLE IF NOT EXISTS toolchains (hash TEXT PRIMARY "
		    "KEY, id TEXT NOT NULL, bytes INTEGER NOT NULL, last_used "
		    "INTEGER NOT NULL)",
		    NULL, NULL, 0, 0) != 0 ||
	    (rc = load(c)) != 0) {
		rc = -EIO;
		dm_error("%s: cannot read the toolchain index", path);
		goto err_after_db;
	}
	evict(c, 0);
	LIST_FOREACH(e, &c->entries, link)
		count++;
	dm_info("toolchain cache %s: %u toolchains, %" PRIu64 " of %" PRIu64
		" bytes",
		c->dir, count, c->total, c->limit);
	*out = c;
	return 0;

err_after_db:
	sqlite3_close(c->db);
err_after_c:
	free(c);
	return rc;
}

void
node_tccache_close(struct node_tccache *c)
{
	struct entry *e;

	if (c == NULL)
		return;
	while ((e = LIST_FIRST(&c->entries)) != NULL) {
		LIST_REMOVE(e, link);
		entry_free(e);
	}
	while ((e = LIST_FIRST(&c->gone)) != NULL) {
		LIST_REMOVE(e, link);
		entry_free(e);
	}
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

/* ---- a transfer ---------------------------------------------------------- */

static int
is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/* The spawn options of the identity queries: in the entry's sandbox,
 * from a scratch job directory. */
struct verify_ctx {
	struct node_sandbox_job sj;
	const char *cwd;
};

static void
verify_prepare(void *arg, struct dm_spawn_opts *o)
{
	struct verify_ctx *v = arg;

	node_sandbox_apply(&v->sj, o);
	o->cwd = v->cwd;
}

/* Asks the unpacked compiler, in its sandbox, who it is. */
static int
verify(struct node_tccache *c, struct entry *e, const struct dm_tcmanifest *m,
       char *why, size_t why_len)
{
	struct dm_toolchain_runner run = {.env = e->env,
					  .prepare = verify_prepare};
	struct verify_ctx v = {.sj = {.sb = e->box}};
	struct dm_toolchain tc;
	struct dm_jobdir jd;
	int rc;

	if ((rc = dm_jobdir_create(c->n->jobs_dir, "/dmake-verify", "verify.c",
				   &jd)) != 0) {
		snprintf(why, why_len, "cannot lay out a job in %s: %s",
			 c->n->jobs_dir, dm_strerror(rc));
		return rc;
	}
	v.sj.jobdir = jd.root;
	v.cwd = jd.cwd;
	run.arg = &v;
	if ((rc = node_sandbox_give(c->n->sandbox, jd.root)) == 0)
		rc = dm_toolchain_identify_in(m->name, m->driver, &run, &tc);
	dm_jobdir_remove(&jd);
	if (rc != 0) {
		snprintf(why, why_len,
			 "its compiler %s does not answer in the sandbox: %s",
			 m->driver, dm_strerror(rc));
		return rc;
	}
	if (strcmp(tc.id, m->id) != 0 || strcmp(tc.role, m->role) != 0) {
		snprintf(
			why, why_len,
			"its compiler %s is toolchain %.16s (%s %s) here, not "
			"%.16s: refused",
			m->driver, tc.id, tc.role, tc.version, m->id);
		return DM_ENOTOOLCHAIN;
	}
	return 0;
}

/* Receives, checks, unpacks and verifies the archive of id from the
 * peer.  Returns 0 with *out (not yet in the cache). */
static int
fetch(struct node_tccache *c, const char *id, int fd, struct dm_buf *frame,
      const char *peer, struct entry **out, int *conn_lost, char *why,
      size_t why_len)
{
	struct dm_msg_need_toolchain need = {.toolchain = (char *)id};
	char tmp[PATH_MAX + 96], final[PATH_MAX + 96], file[PATH_MAX + 128];
	char hash[65];
	unsigned char bin[32];
	struct dm_tcmanifest m;
	union dm_msg msg;
	uint64_t size = 0, bytes = 0, max, t0 = dm_now_ms(), ta, t1, t2;
	int afd = -1, rc;

	*out = NULL;
	*conn_lost = 1;
	if ((rc = dm_io_send(fd, DM_MSG_NEED_TOOLCHAIN, &need)) != 0)
		return rc;
	dm_io_set_timeout(fd, ANSWER_MS);
	rc = dm_io_expect(fd, frame, DM_MSG_TOOLCHAIN, &msg, why, why_len);
	dm_io_set_timeout(fd, IO_MS);
	if (rc != 0)
		return rc;
	ta = dm_now_ms(); /* the client may have packed it meanwhile */
	snprintf(hash, sizeof(hash), "%s", msg.toolchain.hash);
	size = msg.toolchain.size;
	rc = strcmp(msg.toolchain.toolchain, id) != 0 ? DM_EPROTO : 0;
	dm_msg_free(DM_MSG_TOOLCHAIN, &msg);
	if (rc != 0)
		return rc;
	if (hash[0] == '\0') {
		/* The client has no archive; its (empty) stream follows. */
		if ((rc = dm_stream_recv_fd(fd, -1, 0, frame, NULL)) != 0)
			return rc;
		*conn_lost = 0;
		snprintf(
			why, why_len,
			"node %s has no compiler with toolchain %.16s and the "
			"client sent none",
			c->n->name, id);
		return DM_ENOTOOLCHAIN;
	}
	if (!is_hex64(hash))
		return DM_EPROTO;
	max = c->limit < NODE_TC_ARCHIVE_MAX ? c->limit : NODE_TC_ARCHIVE_MAX;

	/* The stream goes to a file in a directory of its own, renamed
	 * to its hash once it is all there and checked. */
	snprintf(tmp, sizeof(tmp), "%s/tmp-%.16s-XXXXXX", c->dir, hash);
	if (mkdtemp(tmp) == NULL) {
		rc = -errno;
		snprintf(why, why_len, "cannot create a directory in %s: %s",
			 c->dir, strerror(errno));
		(void)dm_stream_recv_fd(fd, -1, NODE_TC_ARCHIVE_MAX, frame,
					NULL);
		*conn_lost = 0;
		return rc;
	}
	snprintf(file, sizeof(file), "%s/archive", tmp);
	if ((afd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
	    0) {
		rc = -errno;
		goto err_after_tmp;
	}
	unlink(file);
	rc = dm_stream_recv_fd_hashed(fd, afd, max, frame, bin, sizeof(bin),
				      &bytes);
	if (rc == DM_ETOOBIG) {
		snprintf(
			why, why_len,
			"the toolchain archive is larger than this node takes "
			"(%" PRIu64 " bytes, --cache-limit)",
			max);
		goto err_after_tmp;
	}
	if (rc != 0) {
		if (rc == -ENOSPC || rc == -EDQUOT || rc == -EIO) {
			snprintf(why, why_len,
				 "cannot store the toolchain archive: %s",
				 dm_strerror(rc));
		}
		goto err_after_tmp;
	}
	t1 = dm_now_ms();
	*conn_lost = 0;
	{
		char got[65];

		sodium_bin2hex(got, sizeof(got), bin, sizeof(bin));
		if (strcmp(got, hash) != 0 || bytes != size) {
			snprintf(why, why_len,
				 "the toolchain archive from %s is damaged: "
				 "BLAKE2b %.16s, size %" PRIu64
				 ", announced %.16s, %" PRIu64,
				 peer, got, bytes, hash, size);
			rc = DM_EPROTO;
			goto err_after_tmp;
		}
	}
	lseek(afd, 0, SEEK_SET);
	if ((rc = dm_tcarchive_unpack(afd, tmp, max, &m, &bytes, why,
				      why_len)) != 0)
		goto err_after_tmp;
	close(afd);
	afd = -1;
	if (strcmp(m.id, id) != 0 || strcmp(m.platform, c->n->platform) != 0) {
		snprintf(why, why_len,
			 "the archive from %s is toolchain %.16s for %s, not "
			 "%.16s for %s",
			 peer, m.id, m.platform, id, c->n->platform);
		rc = DM_ENOTOOLCHAIN;
		goto err_after_tmp;
	}
	snprintf(final, sizeof(final), "%s/%s", c->dir, hash);
	if (rename(tmp, final) != 0) {
		rc = -errno;
		snprintf(why, why_len, "cannot rename %s: %s", tmp,
			 strerror(errno));
		goto err_after_tmp;
	}
	if ((rc = entry_new(c, hash, final, &m, bytes, out, why, why_len)) !=
		    0 ||
	    (rc = verify(c, *out, &m, why, why_len)) != 0) {
		entry_free(*out);
		*out = NULL;
		dm_rm_tree(final);
		return rc;
	}
	t2 = dm_now_ms();
	dm_info("toolchain %.16s (%s %s %s) from %s: answered in %" PRIu64
		" ms, %" PRIu64 " bytes received in %" PRIu64 " ms, %" PRIu64
		" bytes unpacked and verified in %" PRIu64 " ms",
		id, m.role, m.version, m.machine, peer, ta - t0, size, t1 - ta,
		bytes, t2 - t1);
	return 0;

err_after_tmp:
	if (afd >= 0)
		close(afd);
	dm_rm_tree(tmp);
	if (why[0] == '\0')
		snprintf(why, why_len, "cannot receive toolchain %.16s: %s",
			 id, dm_strerror(rc));
	return rc;
}

/* ---- jobs ---------------------------------------------------------------- */

int
node_tccache_may_serve(struct node_tccache *c, const char *id, int can_fetch)
{
	int yes;

	if (c == NULL)
		return 0;
	if (can_fetch)
		return 1;
	pthread_mutex_lock(&c->mu);
	yes = find_id(c, id) != NULL;
	pthread_mutex_unlock(&c->mu);
	return yes;
}

static struct fetch *
fetching(struct node_tccache *c, const char *id)
{
	struct fetch *f;

	LIST_FOREACH(f, &c->fetches, link)
		if (strcmp(f->id, id) == 0)
			return f;
	return NULL;
}

int
node_tccache_get(struct node_tccache *c, const char *id, int can_fetch, int fd,
		 struct dm_buf *frame, const char *peer,
		 struct node_tc_use **out, int *conn_lost, char *why,
		 size_t why_len)
{
	struct node_tc_use *u = calloc(1, sizeof(*u));
	struct fetch me;
	struct entry *e = NULL;
	struct timespec until;
	int rc, waited = 0;

	*out = NULL;
	*conn_lost = 0;
	why[0] = '\0';
	if (u == NULL)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		/* Dropped while in use and still there: back it comes. */
		LIST_FOREACH(e, &c->gone, link)
			if (strcmp(e->cc.id, id) == 0)
				break;
		if (e != NULL) {
			LIST_REMOVE(e, link);
			e->gone = 0;
			evict(c, e->bytes);
			LIST_INSERT_HEAD(&c->entries, e, link);
			c->total += e->bytes;
			c->gen++;
			db_insert(c, e);
		}
		if ((e = find_id(c, id)) != NULL) {
			e->refs++;
			e->last_used = wall_now();
			db_touch(c, e);
			pthread_mutex_unlock(&c->mu);
			if (waited)
				dm_info("%s: toolchain %.16s arrived on "
					"another connection",
					peer, id);
			u->e = e;
			*out = u;
			return 0;
		}
		if (fetching(c, id) == NULL)
			break;
		/* One transfer per toolchain: wait for the one under way. */
		waited = 1;
		if (pthread_cond_timedwait(&c->cv, &c->mu, &until) ==
		    ETIMEDOUT) {
			pthread_mutex_unlock(&c->mu);
			snprintf(
				why, why_len,
				"waited %u s for toolchain %.16s to arrive on "
				"another connection",
				WAIT_MS / 1000, id);
			free(u);
			return DM_ETIMEOUT;
		}
	}
	if (!can_fetch) {
		pthread_mutex_unlock(&c->mu);
		snprintf(
			why, why_len,
			"node %s has no compiler with toolchain %.16s and the "
			"client sends no archives",
			c->n->name, id);
		free(u);
		return DM_ENOTOOLCHAIN;
	}
	snprintf(me.id, sizeof(me.id), "%s", id);
	LIST_INSERT_HEAD(&c->fetches, &me, link);
	pthread_mutex_unlock(&c->mu);

	rc = fetch(c, id, fd, frame, peer, &e, conn_lost, why, why_len);

	pthread_mutex_lock(&c->mu);
	LIST_REMOVE(&me, link);
	if (rc == 0) {
		struct entry *old = find_hash(c, e->hash);

		if (old != NULL)
			drop(c, old, "replaced");
		evict(c, e->bytes);
		e->refs = 1;
		e->last_used = e->saved_used = wall_now();
		LIST_INSERT_HEAD(&c->entries, e, link);
		c->total += e->bytes;
		c->gen++;
		db_insert(c, e);
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (rc != 0) {
		free(u);
		return rc;
	}
	u->e = e;
	*out = u;
	return 0;
}

const struct node_compiler *
node_tc_use_compiler(const struct node_tc_use *u)
{
	return &u->e->cc;
}

void
node_tccache_put(struct node_tccache *c, struct node_tc_use *u)
{
	struct entry *e;

	if (u == NULL)
		return;
	e = u->e;
	free(u);
	pthread_mutex_lock(&c->mu);
	if (--e->refs == 0 && e->gone) {
		LIST_REMOVE(e, link);
		dm_rm_tree(e->dir);
		entry_free(e);
	} else if (e->refs == 0 && c->total > c->limit) {
		evict(c, 0);
	}
	pthread_mutex_unlock(&c->mu);
}

int
node_tccache_adverts(struct node_tccache *c, char ***out, size_t *n,
		     uint64_t *gen)
{
	struct entry *e;
	size_t k = 0, cap = 0;
	char **v;

	pthread_mutex_lock(&c->mu);
	LIST_FOREACH(e, &c->entries, link)
		cap++;
	if ((v = calloc(cap + 1, sizeof(*v))) == NULL) {
		pthread_mutex_unlock(&c->mu);
		return -ENOMEM;
	}
	LIST_FOREACH(e, &c->entries, link) {
		if ((v[k] = strdup(e->cc.advert)) == NULL) {
			while (k > 0)
				free(v[--k]);
			free(v);
			pthread_mutex_unlock(&c->mu);
			return -ENOMEM;
		}
		k++;
	}
	*gen = c->gen;
	pthread_mutex_unlock(&c->mu);
	*out = v;
	*n = k;
	return 0;
}

uint64_t
node_tccache_gen(struct node_tccache *c)
{
	uint64_t g;

	pthread_mutex_lock(&c->mu);
	g = c->gen;
	pthread_mutex_unlock(&c->mu);
	return g;
}
