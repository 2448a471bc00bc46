/*
 * coord.c: the coordinator (see coord.h).
 *
 * One libuv loop holds: the child build process, the jobserver pool (and a
 * poll on its read end while tokens are owed back), the Unix socket the
 * shims and gates connect to, the connection to the scheduler
 * (reconnected in the background when it drops), and the
 * toolchain-identity cache whose entries are computed on libuv's thread
 * pool, through the identities kept on disk by earlier runs
 * (lib/idcache.h).
 *
 * The pool is a FIFO in every mode.  make <= 4.3 cannot open a FIFO by
 * path, so for it (and for `run`, whose command may be any make) the
 * FIFO's ends are also passed as pipe descriptors: one pool, whichever
 * way a client finds it (lib/jobserver.h, DM_POOL_DUAL).
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <uv.h>

#include "../lib/auth.h"
#include "../lib/buf.h"
#include "../lib/config.h"
#include "../lib/conn.h"
#include "../lib/err.h"
#include "../lib/fs.h"
#include "../lib/idcache.h"
#include "../lib/io.h"
#include "../lib/jobserver.h"
#include "../lib/log.h"
#include "../lib/net.h"
#include "../lib/spawn.h"
#include "../lib/toolchain.h"
#include "../ninja-pool/ninja.h"
#include "coord.h"
#include "hashes.h"
#include "proctree.h"
#include "relay.h"
#include "serve.h"
#include "tcship.h"

#ifndef DM_MASQDIR
#define DM_MASQDIR "/usr/local/libexec/dmake/bin"
#endif
#ifndef DM_BINDIR
#define DM_BINDIR "/usr/local/bin"
#endif

#define RECONNECT_MS 2000
#define CONNECT_TIMEOUT_MS 3000
/* `dmake ninja` waits this long for the scheduler's first grant before it
 * sizes ninja's -j without it. */
#define FIRST_GRANT_MS 3000
/* `dmake serve` looks for tokens lost with killed clients this often. */
#define RECLAIM_MS 2000
/* `dmake make` counts the tokens its makes hold this often. */
#define LEAK_CHECK_MS 500
/* ninja's -j for ninja without jobserver: local slots plus this many, or
 * four times the first grant if that is more (a -j is fixed for the
 * whole run, the grant is not), at most NINJA_JOBS_MAX in all.  Jobs
 * beyond what the cluster takes wait, cheaply, for a slot. */
#define NINJA_JOBS_EXTRA 64
#define NINJA_JOBS_MAX 1024

struct coord;

/* A compiler's identity, found once per (path, name, size, mtime) in
 * this run: read from the identity cache or computed (on the thread
 * pool, where the cache's files and locks cannot hold up the loop). */
struct tc_entry {
	LIST_ENTRY(tc_entry) link;
	char *compiler, *name;
	off_t size;
	struct timespec mtime;
	enum { TC_PENDING, TC_READY, TC_FAILED } state;
	struct dm_idcache *ids; /* the coordinator's */
	struct dm_toolchain tc;
	int err;
	int cached; /* read from the identity cache */
	uv_work_t work;
	TAILQ_HEAD(, shim) waiters;
};

struct shim {
	LIST_ENTRY(shim) all;
	TAILQ_ENTRY(shim) wait; /* on the slot queue or a tc_entry */
	struct coord *co;
	struct dm_conn *c;
	int queued;	       /* on co->slot_wait */
	struct tc_entry *tcw; /* waiting for this identity */
	int holds_local;
	pid_t pid;	    /* as the shim or gate said (LOCAL_ACQUIRE) */
	int lent;	    /* its slot is lent to a process it started */
	struct shim *lender; /* the ancestor whose slot this one borrowed */
	char *want_compiler, *want_name;
	uint64_t shim_req, coord_req; /* an outstanding PLACE */
	uint64_t ticket;	      /* a PLACED job not yet ended */
	int finished;		      /* sent its OUTCOME */
	int spoke;		      /* sent a message (RELAY must be first) */
};

struct coord {
	uv_loop_t *loop;
	const struct coord_opts *o;
	struct dm_config cfg;
	struct dm_key key;
	int local_slots;
	int local_busy;
	int local_peak; /* most local slots in use at once */
	TAILQ_HEAD(, shim) slot_wait;
	LIST_HEAD(, shim) shims;
	LIST_HEAD(, tc_entry) tcs;
	struct dm_idcache *ids; /* NULL when out of memory: none kept */

	struct dm_pool *pool;
	uv_poll_t pool_poll;
	int pool_polling;

	char rundir[PATH_MAX], sockpath[PATH_MAX + 8], fifopath[PATH_MAX + 16];
	int own_rundir; /* made by us, removed at the end (not serve) */
	uv_pipe_t shim_server;

	struct dm_conn *sched;
	int sched_connecting;
	uv_timer_t reconnect;
	uv_work_t connect_work;
	int connect_fd;
	unsigned grant;
	uint64_t build_id;
	uint64_t next_req;

	uv_process_t child;
	int child_running;
	int exit_code;
	uv_signal_t sig[3];
	char masq[PATH_MAX];

	/* dmake ninja */
	char **ninja_argv; /* ninja's final arguments, -j added at spawn */
	char ninja_out[4096]; /* the gated copy of the manifest */
	char *ninja_fopt;     /* the user's -fFILE word, rewritten; ours */
	char ninja_j[16];     /* the N of our -j N */
	int ninja_jobs;	   /* 0: no -j of ours (ninja >= 1.13, user -j) */
	int await_grant;   /* the child starts at the first grant */
	uv_timer_t start_timer;

	/* dmake serve */
	uv_timer_t reclaim_timer; /* serve: on_reclaim_timer; make: leaks */
	unsigned reclaimed;
	unsigned leak_lost; /* the last reading of on_leak_timer */
	uint64_t leak_sig;
	char statspath[PATH_MAX + 8]; /* "" when not serving */
	unsigned stats_written;	      /* outcomes counted in the file */

	/* DEMAND (see "demand" below) */
	uv_timer_t demand_timer;
	uint32_t demand_sent; /* DM_DEMAND_UNKNOWN until one is sent */
	int demand_idle;      /* readings in a row with tokens unused */

	/* The progress line on a terminal (see "progress" below) */
	uv_timer_t progress_timer;
	char progress_last[160];
	int progress_shown; /* a line is on the terminal now */

	/* Toolchain archives for nodes that lack the compiler (tcship.h):
	 * the platform they run on ("" when not shipped), what was sent. */
	struct {
		struct tcship *t;
		char platform[65];
		uint64_t bytes;
		unsigned sent;
	} ship;

	struct relay *relay; /* shims' connections to nodes (relay.h) */
	struct hashes *hashes; /* header hashes shims computed (hashes.h) */

	unsigned n_remote, n_local, n_fallback;
	unsigned peak_tokens;
	uint64_t t_start;
	int stopping;
};

static void update_tokens(struct coord *co);
static void start_child(struct coord *co);
static void progress_clear(struct coord *co);
static void send_demand(struct coord *co, uint32_t want);

/* ---- tokens ---------------------------------------------------------- */

static void
on_pool_readable(uv_poll_t *p, int status, int events)
{
	struct coord *co = p->data;

	(void)status;
	(void)events;
	dm_pool_reclaim(co->pool);
	if (dm_pool_debt(co->pool) == 0 && co->pool_polling) {
		uv_poll_stop(&co->pool_poll);
		co->pool_polling = 0;
	}
}

/* Tokens follow the grant: local slots plus the remote slots the
 * scheduler granted this build, minus the one every client holds
 * implicitly. */
static void
update_tokens(struct coord *co)
{
	unsigned tokens = (unsigned)co->local_slots + co->grant;
	int rc;

	if (tokens > co->peak_tokens)
		co->peak_tokens = tokens;
	if ((rc = dm_pool_set_target(co->pool, tokens - 1)) != 0)
		dm_warn("cannot change the jobserver's tokens: %s",
			dm_strerror(rc));
	if (dm_pool_debt(co->pool) > 0 && !co->pool_polling && !co->stopping) {
		uv_poll_start(&co->pool_poll, UV_READABLE, on_pool_readable);
		co->pool_polling = 1;
	}
	dm_debug("tokens: %u (local %d + remote %u), owed back %u", tokens,
		 co->local_slots, co->grant, dm_pool_debt(co->pool));
}

/* ---- toolchain identities -------------------------------------------- */

static void
tc_work(uv_work_t *w)
{
	struct tc_entry *e = w->data;

	e->err = dm_idcache_identify(e->ids, e->name, e->compiler, &e->tc,
				     &e->cached);
}

static void grant_local(struct shim *s);

static void
tc_done(uv_work_t *w, int status)
{
	struct tc_entry *e = w->data;
	struct shim *s;

	(void)status;
	e->state = e->err == 0 ? TC_READY : TC_FAILED;
	if (e->err != 0)
		dm_warn("cannot identify compiler %s: %s; its compiles stay "
			"local",
			e->compiler, dm_strerror(e->err));
	else
		dm_info("compiler %s (%s %s %s) is toolchain %.16s%s",
			e->compiler, e->tc.role, e->tc.version, e->tc.machine,
			e->tc.id, e->cached ? " (identity cache)" : "");
	while ((s = TAILQ_FIRST(&e->waiters)) != NULL) {
		TAILQ_REMOVE(&e->waiters, s, wait);
		s->tcw = NULL;
		grant_local(s);
	}
}

/* Returns the entry for a compiler, starting its computation if new.  A
 * compiler replaced on disk (size or mtime) gets a new entry. */
static struct tc_entry *
tc_lookup(struct coord *co, const char *compiler, const char *name)
{
	struct tc_entry *e;
	struct stat st;

	if (stat(compiler, &st) != 0)
		return NULL;
	LIST_FOREACH(e, &co->tcs, link)
	{
		if (strcmp(e->compiler, compiler) == 0 &&
		    strcmp(e->name, name) == 0 && e->size == st.st_size &&
		    e->mtime.tv_sec == st.st_mtim.tv_sec &&
		    e->mtime.tv_nsec == st.st_mtim.tv_nsec)
			return e;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->compiler = strdup(compiler);
	e->name = strdup(name);
	e->size = st.st_size;
	e->mtime = st.st_mtim;
	e->state = TC_PENDING;
	e->ids = co->ids;
	TAILQ_INIT(&e->waiters);
	e->work.data = e;
	LIST_INSERT_HEAD(&co->tcs, e, link);
	uv_queue_work(co->loop, &e->work, tc_work, tc_done);
	return e;
}

/* ---- shims ------------------------------------------------------------ */

/* Second half of LOCAL_ACQUIRE: the shim has its slot; answer once the
 * compiler's identity is known. */
static void
grant_local(struct shim *s)
{
	struct coord *co = s->co;
	struct dm_msg_local_granted g = {0};
	struct tc_entry *e = NULL;

	if (s->want_compiler != NULL && s->want_compiler[0] != '\0' &&
	    co->cfg.placement != DM_PLACE_LOCAL)
		e = tc_lookup(co, s->want_compiler, s->want_name);
	if (e != NULL && e->state == TC_PENDING) {
		s->tcw = e;
		TAILQ_INSERT_TAIL(&e->waiters, s, wait);
		return;
	}
	g.remote = co->sched != NULL && co->cfg.placement != DM_PLACE_LOCAL;
	g.toolchain = e != NULL && e->state == TC_READY ? e->tc.id : "";
	g.role = e != NULL && e->state == TC_READY ? e->tc.role : "";
	dm_conn_send(s->c, DM_MSG_LOCAL_GRANTED, &g);
}

static void
serve_slot_queue(struct coord *co)
{
	struct shim *s;

	while (co->local_busy < co->local_slots &&
	       (s = TAILQ_FIRST(&co->slot_wait)) != NULL) {
		TAILQ_REMOVE(&co->slot_wait, s, wait);
		s->queued = 0;
		s->holds_local = 1;
		co->local_busy++;
		if (co->local_busy > co->local_peak)
			co->local_peak = co->local_busy;
		grant_local(s);
	}
}

/* ---- lent slots --------------------------------------------------------
 *
 * A process that asks for a local slot while one of its ancestors holds
 * one (a gated ninja step that runs make, an LTO link whose wrapper runs
 * the compiler again) would wait for ever once every slot is held that
 * way.  So, like make's implicit token, each holder lends its slot to one
 * descendant at a time: the descendant runs while the ancestor waits for
 * it, and the local CPU count is still respected.  Pids are the ones the
 * shims send; a shim in another pid namespace finds no lender and simply
 * waits its turn. */

/* The slot holder among pid and its ancestors (nearest first) with no loan
 * out now, or NULL.  only: look for that holder alone. */
static struct shim *
find_lender(struct coord *co, pid_t pid, struct shim *only)
{
	struct shim *h;

	/* depth 0 is the process itself: a gate (or any launcher holding
	 * a slot) that exec'd the command, or a shell that exec'd its last
	 * command, is the shim now, under the same pid. */
	for (int depth = 0; depth < 64 && pid > 1; depth++) {
		if (depth > 0 && (pid = proctree_parent(pid)) <= 1)
			break;
		LIST_FOREACH(h, &co->shims, all)
		{
			if (h->holds_local && !h->lent && h->pid == pid &&
			    (only == NULL || h == only))
				return h;
		}
	}
	return NULL;
}

static void
lend(struct shim *lender, struct shim *s)
{
	struct coord *co = s->co;

	if (s->queued) {
		TAILQ_REMOVE(&co->slot_wait, s, wait);
		s->queued = 0;
	}
	lender->lent = 1;
	s->lender = lender;
	s->holds_local = 1;
	dm_debug("pid %d runs in the local slot of its ancestor %d",
		 (int)s->pid, (int)lender->pid);
	grant_local(s);
}

/* A loan came back: the next waiting descendant of the lender gets it. */
static void
lend_to_waiter(struct coord *co, struct shim *lender)
{
	struct shim *s;

	TAILQ_FOREACH(s, &co->slot_wait, wait)
	{
		if (find_lender(co, s->pid, lender) != NULL) {
			lend(lender, s);
			return;
		}
	}
}

static void
release_local(struct shim *s)
{
	struct coord *co = s->co;
	struct shim *b;

	if (!s->holds_local)
		return;
	s->holds_local = 0;
	if (s->lender != NULL) {
		struct shim *l = s->lender;

		s->lender = NULL;
		l->lent = 0;
		lend_to_waiter(co, l);
		return;
	}
	if (s->lent) {
		/* The borrower keeps running: the slot is its own now. */
		s->lent = 0;
		LIST_FOREACH(b, &co->shims, all)
		{
			if (b->lender == s)
				b->lender = NULL;
		}
		return;
	}
	co->local_busy--;
	serve_slot_queue(co);
}

static void
send_job_end(struct coord *co, uint64_t ticket, uint32_t result,
	     uint32_t cpu_ms, uint64_t unit_bytes)
{
	struct dm_msg_job_end m = {ticket, result, cpu_ms, unit_bytes, 0};

	if (co->sched != NULL)
		dm_conn_send(co->sched, DM_MSG_JOB_END, &m);
}

static void
place_fail(struct shim *s, uint64_t req, int code, const char *why)
{
	struct dm_msg_place_fail f = {req, (uint32_t)-code, (char *)why, 0};

	dm_conn_send(s->c, DM_MSG_PLACE_FAIL, &f);
}

/* ---- toolchain archives ----------------------------------------------
 *
 * PLACE carries the platform this host's compilers run on, so that the
 * scheduler may choose a node that lacks the compiler; such a node asks
 * the shim for the archive, and the shim asks here (TOOLCHAIN_REQ).
 * ship_toolchains = no (DMAKE_SHIP_TOOLCHAINS=no) keeps every job on
 * nodes that have the compiler. */

static int
ship_init(struct coord *co)
{
	struct utsname u;

	if (!co->cfg.no_ship && uname(&u) == 0)
		snprintf(co->ship.platform, sizeof(co->ship.platform), "%s",
			 u.machine);
	return tcship_new(co->loop, &co->ship.t);
}

static void
ship_answer(void *waiter, const char *toolchain, const struct dm_tcarchive *a,
	    const char *error)
{
	struct shim *s = waiter;
	struct dm_msg_toolchain_archive m = {.toolchain = (char *)toolchain};

	if (a != NULL) {
		m.path = (char *)a->path;
		m.hash = (char *)a->hash;
		m.size = a->size;
	} else {
		m.error = (char *)error;
	}
	dm_conn_send(s->c, DM_MSG_TOOLCHAIN_ARCHIVE, &m);
}

/* The compiler of that identity is one this coordinator identified for
 * a shim; the one this shim asked about first. */
static void
ship_request(struct shim *s, const char *id)
{
	struct coord *co = s->co;
	struct tc_entry *e, *found = NULL;
	struct dm_msg_toolchain_archive m = {.toolchain = (char *)id};

	LIST_FOREACH(e, &co->tcs, link) {
		if (e->state != TC_READY || strcmp(e->tc.id, id) != 0)
			continue;
		if (found == NULL ||
		    (s->want_compiler != NULL &&
		     strcmp(e->compiler, s->want_compiler) == 0))
			found = e;
	}
	if (found == NULL)
		m.error = "no compiler of this build has that identity";
	else if (co->cfg.no_ship)
		m.error = "ship_toolchains is off";
	else if (tcship_get(co->ship.t, found->compiler, found->name,
			    &found->tc, s, ship_answer) != 0)
		m.error = "out of memory";
	if (m.error != NULL)
		dm_conn_send(s->c, DM_MSG_TOOLCHAIN_ARCHIVE, &m);
}

static void
shim_msg(struct dm_conn *c, uint16_t type, union dm_msg *m)
{
	struct shim *s = dm_conn_data(c);
	struct coord *co = s->co;
	int first = !s->spoke;

	s->spoke = 1;
	switch (type) {
	case DM_MSG_LOCAL_ACQUIRE:
		if (s->holds_local || s->queued || s->tcw != NULL) {
			dm_conn_fail(c, DM_EUNEXPECTED, "local slot asked twice");
			return;
		}
		free(s->want_compiler);
		free(s->want_name);
		s->want_compiler = strdup(m->local_acquire.compiler);
		s->want_name = strdup(m->local_acquire.name);
		s->pid = (pid_t)m->local_acquire.pid;
		s->queued = 1;
		TAILQ_INSERT_TAIL(&co->slot_wait, s, wait);
		serve_slot_queue(co);
		if (s->queued) {
			struct shim *l = find_lender(co, s->pid, NULL);

			if (l != NULL)
				lend(l, s);
		}
		break;
	case DM_MSG_LOCAL_RELEASE:
		release_local(s);
		break;
	case DM_MSG_PLACE: {
		struct dm_msg_place p = m->place;

		if (s->coord_req != 0 || s->ticket != 0) {
			dm_conn_fail(c, DM_EUNEXPECTED, "one job at a time");
			return;
		}
		if (co->sched == NULL) {
			place_fail(s, p.req, DM_ENOSLOT,
				   co->cfg.scheduler[0]
					   ? "the scheduler is not connected"
					   : "no scheduler configured");
			return;
		}
		s->shim_req = p.req;
		s->coord_req = p.req = ++co->next_req;
		p.platform = co->ship.platform;
		dm_conn_send(co->sched, DM_MSG_PLACE, &p);
		break;
	}
	case DM_MSG_JOB_END:
		if (m->job_end.ticket != s->ticket || s->ticket == 0) {
			dm_conn_fail(c, DM_EUNEXPECTED, "unknown ticket");
			return;
		}
		s->ticket = 0;
		send_job_end(co, m->job_end.ticket, m->job_end.result,
			     m->job_end.cpu_ms, m->job_end.unit_bytes);
		break;
	case DM_MSG_TOOLCHAIN_REQ:
		ship_request(s, m->toolchain_req.toolchain);
		break;
	case DM_MSG_TOOLCHAIN_SENT:
		co->ship.bytes += m->toolchain_sent.bytes;
		co->ship.sent++;
		break;
	case DM_MSG_HASH_REQ: {
		const struct dm_msg_hash_req *r = &m->hash_req;
		size_t n = r->keys_n / DM_HASH_KEY;
		uint8_t known[DM_JOB_FILES_MAX / 8], *out;
		struct dm_msg_hash_ans a = {0};

		if (r->keys_n % DM_HASH_KEY != 0 ||
		    (out = malloc(n * 32 + 1)) == NULL) {
			dm_conn_fail(c, DM_EPROTO, "HASH_REQ: keys of 40 bytes");
			return;
		}
		if (co->hashes != NULL)
			hashes_lookup(co->hashes, r->keys, n, out, known);
		else
			memset(known, 0, sizeof(known));
		a.hashes = out;
		a.hashes_n = (uint32_t)(n * 32);
		a.known = known;
		a.known_n = (uint32_t)((n + 7) / 8);
		dm_conn_send(c, DM_MSG_HASH_ANS, &a);
		free(out);
		break;
	}
	case DM_MSG_HASH_PUT: {
		const struct dm_msg_hash_put *r = &m->hash_put;

		if (r->keys_n % DM_HASH_KEY != 0 ||
		    r->hashes_n != r->keys_n / DM_HASH_KEY * 32) {
			dm_conn_fail(c, DM_EPROTO,
				     "HASH_PUT: a 32-byte hash per 40-byte key");
			return;
		}
		if (co->hashes != NULL)
			(void)hashes_put(co->hashes, r->keys, r->hashes,
					 r->keys_n / DM_HASH_KEY);
		break;
	}
	case DM_MSG_RELAY:
		/* First, so the connection holds nothing (slot, ticket) that
		 * its closing as a shim would have to give back. */
		if (!first) {
			dm_conn_fail(c, DM_EUNEXPECTED,
				     "RELAY must be a connection's first message");
			return;
		}
		relay_open(co->relay, c, m->relay.node_addr); /* frees s */
		break;
	case DM_MSG_OUTCOME:
		s->finished = 1;
		if (m->outcome.kind == DM_OUTCOME_REMOTE)
			co->n_remote++;
		else if (m->outcome.kind == DM_OUTCOME_LOCAL)
			co->n_local++;
		else
			co->n_fallback++;
		break;
	default:
		dm_conn_fail(c, DM_EUNEXPECTED, "message not allowed here");
	}
}

/* `dmake serve` keeps its counters in a file beside the socket, for
 * hooks that report per package (hooks/kiss): one line, rewritten
 * whole when a shim that changed them leaves. */
static void
write_stats(struct coord *co)
{
	char tmp[sizeof(co->statspath) + 8];
	unsigned n = co->n_remote + co->n_local + co->n_fallback;
	FILE *f;

	if (co->statspath[0] == '\0' || n == co->stats_written)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", co->statspath);
	if ((f = fopen(tmp, "we")) == NULL)
		return;
	fprintf(f, "remote=%u local=%u fallback=%u reclaimed=%u relayed=%u\n",
		co->n_remote, co->n_local, co->n_fallback, co->reclaimed,
		relay_count(co->relay));
	if (fclose(f) == 0 && rename(tmp, co->statspath) == 0)
		co->stats_written = n;
	else
		unlink(tmp);
}

static void
shim_close(struct dm_conn *c, int reason)
{
	struct shim *s = dm_conn_data(c);
	struct coord *co = s->co;

	(void)reason;
	if (s->queued)
		TAILQ_REMOVE(&co->slot_wait, s, wait);
	if (s->tcw != NULL)
		TAILQ_REMOVE(&s->tcw->waiters, s, wait);
	tcship_cancel(co->ship.t, s);
	release_local(s);
	/* A shim killed mid-job: give its node slot back. */
	if (s->ticket != 0)
		send_job_end(co, s->ticket, DM_JOB_ABANDONED, 0, 0);
	LIST_REMOVE(s, all);
	free(s->want_compiler);
	free(s->want_name);
	free(s);
	write_stats(co);
}

static void shim_ready(struct dm_conn *c, uint16_t role);

static const struct dm_conn_ops shim_ops = {
	.on_ready = shim_ready,
	.on_msg = shim_msg,
	.on_close = shim_close,
};

static void
on_shim_connect(uv_stream_t *server, int status)
{
	struct coord *co = server->data;
	struct shim *s;

	if (status < 0)
		return;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return;
	s->co = co;
	LIST_INSERT_HEAD(&co->shims, s, all);
	/* The handshake-free accept: the socket lives in a 0700 directory. */
	if (dm_conn_accept(server, NULL, &shim_ops, s) != 0)
		return; /* shim_close already ran */
}

/* conn.c hands us the conn in on_ready for accepted connections. */
static void
shim_ready(struct dm_conn *c, uint16_t role)
{
	struct shim *s = dm_conn_data(c);

	(void)role;
	s->c = c;
}

/* ---- scheduler link --------------------------------------------------- */

static struct shim *
shim_by_req(struct coord *co, uint64_t req)
{
	struct shim *s;

	LIST_FOREACH(s, &co->shims, all)
	{
		if (s->coord_req == req)
			return s;
	}
	return NULL;
}

static void
sched_msg(struct dm_conn *c, uint16_t type, union dm_msg *m)
{
	struct coord *co = dm_conn_data(c);
	struct shim *s;

	switch (type) {
	case DM_MSG_GRANT:
		if (co->build_id == 0)
			dm_info("connected to scheduler %s as build %llu",
				co->cfg.scheduler,
				(unsigned long long)m->grant.build_id);
		co->build_id = m->grant.build_id;
		co->grant = m->grant.slots;
		update_tokens(co);
		if (co->await_grant)
			start_child(co);
		break;
	case DM_MSG_PLACED:
		s = shim_by_req(co, m->placed.req);
		if (s == NULL) {
			/* The shim left while we waited: free the slot. */
			send_job_end(co, m->placed.ticket, DM_JOB_ABANDONED, 0,
				     0);
			return;
		}
		s->coord_req = 0;
		s->ticket = m->placed.ticket;
		relay_allow(co->relay, m->placed.node_addr);
		m->placed.req = s->shim_req;
		dm_conn_send(s->c, DM_MSG_PLACED, &m->placed);
		break;
	case DM_MSG_PLACE_FAIL:
		if ((s = shim_by_req(co, m->place_fail.req)) == NULL)
			return;
		s->coord_req = 0;
		m->place_fail.req = s->shim_req;
		dm_conn_send(s->c, DM_MSG_PLACE_FAIL, &m->place_fail);
		break;
	case DM_MSG_ERROR:
		dm_warn("scheduler: %s", m->error.text);
		break;
	default:
		dm_warn("scheduler sent unexpected %s", dm_msg_name(type));
	}
}

static void start_reconnect(struct coord *co);

static void
sched_close(struct dm_conn *c, int reason)
{
	struct coord *co = dm_conn_data(c);
	struct shim *s;

	co->sched = NULL;
	co->build_id = 0;
	if (co->stopping)
		return;
	dm_warn("lost the scheduler (%s); building with local slots until it "
		"is back",
		dm_strerror(reason));
	/* Jobs in flight finish on their nodes; placements in flight are
	 * answered here so no shim waits for an answer that cannot come. */
	LIST_FOREACH(s, &co->shims, all)
	{
		if (s->coord_req != 0) {
			s->coord_req = 0;
			place_fail(s, s->shim_req, DM_ENOSLOT,
				   "lost the scheduler");
		}
		s->ticket = 0;
	}
	co->grant = 0;
	update_tokens(co);
	start_reconnect(co);
}

static const struct dm_conn_ops sched_ops = {
	.on_msg = sched_msg,
	.on_close = sched_close,
};

/* Blocking connect and handshake; runs on the thread pool or at start. */
static int
connect_sched(struct coord *co)
{
	int fd, rc;

	fd = dm_net_connect(co->cfg.scheduler, CONNECT_TIMEOUT_MS);
	if (fd < 0)
		return fd;
	dm_io_set_timeout(fd, CONNECT_TIMEOUT_MS);
	if ((rc = dm_auth_client(fd, &co->key, DM_ROLE_BUILD)) != 0) {
		close(fd);
		return rc;
	}
	dm_io_set_timeout(fd, 0);
	return fd;
}

static int
attach_sched(struct coord *co, int fd)
{
	static const char *const modes[] = {"make", "run", "ninja", "serve"};
	struct dm_msg_build_hello h = {0};
	char host[256], label[256], cwd[PATH_MAX];
	const char *dir = cwd;
	int rc;

	if ((rc = dm_conn_open_fd(co->loop, fd, 0, &sched_ops, co,
				  &co->sched)) != 0)
		return rc;
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	/* What `dmake status` shows to tell builds apart: the mode and
	 * the directory, its end when it is long. */
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		snprintf(cwd, sizeof(cwd), "?");
	if (strlen(cwd) > 240)
		dir = cwd + strlen(cwd) - 240;
	snprintf(label, sizeof(label), "%s %.240s", modes[co->o->mode], dir);
	h.host = host;
	h.local_slots = (uint32_t)co->local_slots;
	h.label = label;
	co->demand_sent = DM_DEMAND_UNKNOWN;
	co->demand_idle = 0;
	if ((rc = dm_conn_send(co->sched, DM_MSG_BUILD_HELLO, &h)) != 0)
		return rc;
	if (co->cfg.placement == DM_PLACE_LOCAL)
		send_demand(co, 0);
	return 0;
}

static void
connect_work(uv_work_t *w)
{
	struct coord *co = w->data;

	co->connect_fd = connect_sched(co);
}

static void
connect_done(uv_work_t *w, int status)
{
	struct coord *co = w->data;

	(void)status;
	co->sched_connecting = 0;
	if (co->stopping) {
		if (co->connect_fd >= 0)
			close(co->connect_fd);
		return;
	}
	if (co->connect_fd < 0 || attach_sched(co, co->connect_fd) != 0) {
		dm_debug("scheduler still unreachable: %s",
			 dm_strerror(co->connect_fd));
		start_reconnect(co);
		return;
	}
	dm_warn("scheduler %s is back", co->cfg.scheduler);
}

static void
on_reconnect_timer(uv_timer_t *t)
{
	struct coord *co = t->data;

	if (co->sched != NULL || co->sched_connecting || co->stopping)
		return;
	co->sched_connecting = 1;
	co->connect_work.data = co;
	uv_queue_work(co->loop, &co->connect_work, connect_work, connect_done);
}

static void
start_reconnect(struct coord *co)
{
	if (!co->stopping)
		uv_timer_start(&co->reconnect, on_reconnect_timer, RECONNECT_MS,
			       0);
}

/* ---- demand ------------------------------------------------------------
 *
 * DEMAND tells the scheduler what this build can use, when the
 * coordinator knows it, and nothing it does not know (doc/protocol.md,
 * "Grants"):
 *
 * - DMAKE_PLACEMENT=local: 0, whatever runs; nothing is ever placed.
 * - `dmake make` and `dmake serve`, whose clients take every job from
 *   the pool: when tokens sat unused in the pool at two readings
 *   DEMAND_MS apart, the clients had no more jobs ready than they were
 *   running, so no more remote jobs can run at once than there are shims
 *   that may still place one (running one, waiting for a placement, or
 *   a compiler's shim that has not finished).  When the pool is empty
 *   the clients may have more ready than they got: unknown, and the
 *   scheduler judges the build by its use.  A build that was told less
 *   than it then needs takes the tokens it has, empties the pool and is
 *   back to unknown at the next reading.
 * - `dmake run` and `dmake ninja`: the command may run anything (ninja
 *   before 1.13 reads no pool at all), so unknown. */

#define DEMAND_MS 500

static void
send_demand(struct coord *co, uint32_t want)
{
	struct dm_msg_demand d = {want, 0};

	if (co->sched == NULL || want == co->demand_sent)
		return;
	if (dm_conn_send(co->sched, DM_MSG_DEMAND, &d) != 0)
		return;
	co->demand_sent = want;
	if (want == DM_DEMAND_UNKNOWN)
		dm_debug("demand: unknown (the clients take every token)");
	else
		dm_debug("demand: %u remote jobs at most", want);
}

static uint32_t
shims_that_may_place(struct coord *co)
{
	struct shim *s;
	uint32_t n = 0;

	LIST_FOREACH(s, &co->shims, all)
	{
		if (s->ticket != 0 || s->coord_req != 0 ||
		    (!s->finished && s->want_compiler != NULL &&
		     s->want_compiler[0] != '\0'))
			n++;
	}
	return n;
}

static void
on_demand_timer(uv_timer_t *t)
{
	struct coord *co = t->data;
	int avail;

	if (co->sched == NULL || co->cfg.placement == DM_PLACE_LOCAL)
		return;
	avail = dm_pool_available(co->pool);
	if (avail <= 0 || dm_pool_debt(co->pool) > 0) {
		co->demand_idle = 0;
		send_demand(co, DM_DEMAND_UNKNOWN);
		return;
	}
	if (++co->demand_idle >= 2)
		send_demand(co, shims_that_may_place(co));
}

/* ---- progress ------------------------------------------------------------
 *
 * Under `dmake make` on a terminal, one line on stderr says what the
 * build is doing: tokens in the jobserver, local slots in use, remote
 * jobs running, compiles done.  It is redrawn at most every PROGRESS_MS
 * when it changed, as "\r LINE ERASE-TO-END \r": make's own output then
 * starts at the line's first column and covers it (a line of make's
 * shorter than it leaves its end visible until the next redraw moves
 * on).  It is erased before the summary line.  DMAKE_PROGRESS=0 turns
 * it off. */

#define PROGRESS_MS 250

static void
on_progress_timer(uv_timer_t *t)
{
	struct coord *co = t->data;
	struct winsize ws;
	struct shim *s;
	unsigned remote = 0, cols = 80;
	char line[sizeof(co->progress_last)], out[sizeof(line) + 16];
	int n;

	LIST_FOREACH(s, &co->shims, all)
	{
		if (s->ticket != 0)
			remote++;
	}
	if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		cols = ws.ws_col;
	n = snprintf(line, sizeof(line),
		     "dmake: %u tokens, local %d/%d, remote %u, done %u",
		     co->local_slots + co->grant, co->local_busy,
		     co->local_slots, remote,
		     co->n_remote + co->n_local + co->n_fallback);
	if (n < 0)
		return;
	/* A line that wraps cannot be rewritten with \r. */
	if ((unsigned)n >= cols)
		line[cols > 1 ? cols - 1 : 0] = '\0';
	if (strcmp(line, co->progress_last) == 0)
		return;
	memcpy(co->progress_last, line, sizeof(line));
	n = snprintf(out, sizeof(out), "\r%s\033[K\r", line);
	if (n > 0 && dm_io_write_all(2, out, (size_t)n) == 0)
		co->progress_shown = 1;
}

static void
progress_start(struct coord *co)
{
	const char *env = getenv("DMAKE_PROGRESS");

	if (co->o->mode != COORD_MAKE || !isatty(2) ||
	    (env != NULL && strcmp(env, "0") == 0))
		return;
	uv_timer_start(&co->progress_timer, on_progress_timer, PROGRESS_MS,
		       PROGRESS_MS);
}

static void
progress_clear(struct coord *co)
{
	if (co->progress_shown)
		(void)dm_io_write_all(2, "\r\033[K", 4);
	co->progress_shown = 0;
	co->progress_last[0] = '\0';
}

/* ---- the child -------------------------------------------------------- */

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void
stop(struct coord *co)
{
	struct shim *s, *next;

	co->stopping = 1;
	relay_stop(co->relay);
	for (s = LIST_FIRST(&co->shims); s != NULL; s = next) {
		next = LIST_NEXT(s, all);
		if (s->c != NULL)
			dm_conn_close(s->c, DM_ECLOSED);
	}
	if (co->sched != NULL)
		dm_conn_close(co->sched, DM_ECLOSED);
	uv_walk(co->loop, close_walk, NULL);
}

static void
on_child_exit(uv_process_t *p, int64_t status, int sig)
{
	struct coord *co = p->data;

	co->child_running = 0;
	co->exit_code = sig ? 128 + sig : (int)status;
	progress_clear(co);
	stop(co);
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct coord *co = h->data;

	if (co->o->mode == COORD_SERVE) {
		/* A server has no terminal to hang up on it. */
		if (signum != SIGHUP) {
			co->exit_code = 0;
			stop(co);
		}
		return;
	}
	/* Ctrl-C reaches make through the terminal too; a signal sent to
	 * dmake alone is passed on so the build stops the same way. */
	if (co->child_running)
		uv_process_kill(&co->child, signum);
}

/* The environment of the build: environ without the entries we set, then
 * CHILD_ENV_OWN malloc'd ones (PATH with the masquerade dir first,
 * MAKEFLAGS, DMAKE_SOCKET, DMAKE_MASQ_DIR). */
#define CHILD_ENV_OWN 4
static char **
child_env(struct coord *co, const char *masq, const char *makeflags)
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **env;
	const char *path = getenv("PATH");
	struct dm_buf b;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 8, sizeof(char *))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "PATH=", 5) == 0 ||
		    strncmp(environ[i], "MAKEFLAGS=", 10) == 0 ||
		    strncmp(environ[i], "DMAKE_SOCKET=", 13) == 0 ||
		    strncmp(environ[i], "DMAKE_MASQ_DIR=", 15) == 0)
			continue;
		env[k++] = environ[i];
	}
	dm_buf_init(&b);
	dm_buf_appendf(&b, "PATH=%s:%s", masq, path ? path : "/usr/bin:/bin");
	env[k++] = strdup(dm_buf_cstr(&b));
	dm_buf_reset(&b);
	dm_buf_appendf(&b, "MAKEFLAGS=%s", makeflags);
	env[k++] = strdup(dm_buf_cstr(&b));
	dm_buf_reset(&b);
	dm_buf_appendf(&b, "DMAKE_SOCKET=%s", co->sockpath);
	env[k++] = strdup(dm_buf_cstr(&b));
	dm_buf_reset(&b);
	dm_buf_appendf(&b, "DMAKE_MASQ_DIR=%s", masq);
	env[k++] = strdup(dm_buf_cstr(&b));
	dm_buf_free(&b);
	env[k] = NULL;
	for (size_t i = k - CHILD_ENV_OWN; i < k; i++)
		if (env[i] == NULL) {
			for (size_t j = k - CHILD_ENV_OWN; j < k; j++)
				free(env[j]);
			free(env);
			return NULL;
		}
	return env;
}

/* Tokens a make killed with SIGKILL took are gone for good.  Under
 * dmake make every client is a make below our child, so the tokens held
 * can be counted from /proc (proctree.h): when the pool and the makes
 * together hold fewer than the pool owes them, in two readings of the
 * same process state LEAK_CHECK_MS apart (so a make between reading a
 * token and forking is not taken for a leak), the missing ones are put
 * back. */
static void
on_leak_timer(uv_timer_t *t)
{
	struct coord *co = t->data;
	unsigned want = dm_pool_target(co->pool) + dm_pool_debt(co->pool);
	int avail = dm_pool_available(co->pool);
	unsigned held, lost;
	uint64_t sig;

	if (!co->child_running || avail < 0 ||
	    proctree_tokens_held(co->child.pid, &held, &sig) != 0 ||
	    (unsigned)avail + held >= want) {
		co->leak_lost = 0;
		return;
	}
	lost = want - (unsigned)avail - held;
	sig ^= (uint64_t)avail << 32;
	if (co->leak_lost != lost || co->leak_sig != sig) {
		co->leak_lost = lost;
		co->leak_sig = sig;
		return;
	}
	co->leak_lost = 0;
	lost = dm_pool_put_back(co->pool, lost);
	co->reclaimed += lost;
	dm_warn("put back %u jobserver tokens lost with a make that was "
		"killed", lost);
}

/* At the end every make is gone: the pool must hold all it owes. */
static void
check_tokens_at_exit(struct coord *co)
{
	unsigned want = dm_pool_target(co->pool) + dm_pool_debt(co->pool);
	int avail = dm_pool_available(co->pool);

	if (co->o->mode != COORD_MAKE || avail < 0 || (unsigned)avail == want)
		return;
	dm_warn("the jobserver held %d tokens at the end instead of %u: a "
		"client %s", avail, want,
		(unsigned)avail < want ? "kept some (killed with SIGKILL?)"
				       : "wrote tokens it never took");
}

static int
spawn_child(struct coord *co, char **argv, const char *masq)
{
	uv_stdio_container_t stdio[16];
	uv_process_options_t po = {0};
	struct dm_buf mf;
	const char *old = getenv("MAKEFLAGS");
	int rfd = -1, wfd = -1, n, rc, removed_j = 0;
	char **env;

	dm_buf_init(&mf);
	if ((rc = dm_pool_merge_makeflags(co->pool, old ? old : "", &mf,
					  &removed_j)) != 0)
		return rc;
	if (removed_j)
		dm_warn("dropped a -j from MAKEFLAGS: the cluster sizes the "
			"build");
	env = child_env(co, masq, dm_buf_cstr(&mf));
	dm_buf_free(&mf);
	if (env == NULL)
		return -ENOMEM;
	/* libuv closes every fd not named in stdio[]: pass the pipe's ends
	 * at their own numbers so make finds them. */
	dm_pool_child_fds(co->pool, &rfd, &wfd);
	n = 3;
	for (int i = 0; i < 3; i++) {
		stdio[i].flags = UV_INHERIT_FD;
		stdio[i].data.fd = i;
	}
	for (int fd = 3; fd <= (rfd > wfd ? rfd : wfd) && fd < 16; fd++) {
		stdio[fd].flags = (fd == rfd || fd == wfd) ? UV_INHERIT_FD
							   : UV_IGNORE;
		stdio[fd].data.fd = fd;
		n = fd + 1;
	}
	po.file = argv[0];
	po.args = argv;
	po.env = env;
	po.stdio = stdio;
	po.stdio_count = n;
	po.exit_cb = on_child_exit;
	co->child.data = co;
	rc = uv_spawn(co->loop, &co->child, &po);
	/* child_env() allocated only the last CHILD_ENV_OWN entries; the
	 * rest (DMAKE_KEY_FILE and the like) belong to environ. */
	n = 0;
	while (env[n] != NULL)
		n++;
	for (int i = n - CHILD_ENV_OWN; i < n; i++)
		free(env[i]);
	free(env);
	if (rc != 0) {
		dm_error("cannot run %s: %s", argv[0], uv_strerror(rc));
		return rc;
	}
	co->child_running = 1;
	return 0;
}

/* ---- dmake ninja ------------------------------------------------------ */

/* What runs after the first grant (or without one): ninja with its -j,
 * or the command. */
static void
start_child(struct coord *co)
{
	char **argv = co->o->argv;
	int rc;

	co->await_grant = 0;
	if (uv_is_active((uv_handle_t *)&co->start_timer))
		uv_timer_stop(&co->start_timer);
	if (co->ninja_argv != NULL) {
		argv = co->ninja_argv;
		if (co->ninja_jobs > 0) {
			unsigned extra = 4 * co->grant > NINJA_JOBS_EXTRA
						 ? 4 * co->grant
						 : NINJA_JOBS_EXTRA;

			co->ninja_jobs = co->local_slots + (int)extra;
			if (co->ninja_jobs > NINJA_JOBS_MAX)
				co->ninja_jobs = NINJA_JOBS_MAX;
			snprintf(co->ninja_j, sizeof(co->ninja_j), "%d",
				 co->ninja_jobs);
			/* argv[1] and argv[2] were kept free for "-j N". */
			argv[1] = "-j";
			argv[2] = co->ninja_j;
			dm_info("ninja runs with -j %s; dmake-gate keeps local "
				"steps to %d slots",
				co->ninja_j, co->local_slots);
		} else {
			/* No -j of ours: start two places later. */
			argv[2] = argv[0];
			argv += 2;
		}
	}
	if ((rc = spawn_child(co, argv, co->masq)) != 0)
		stop(co);
	else if (co->o->mode == COORD_MAKE) {
		uv_timer_start(&co->reclaim_timer, on_leak_timer, LEAK_CHECK_MS,
			       LEAK_CHECK_MS);
		progress_start(co);
	}
}

static void
on_start_timer(uv_timer_t *t)
{
	struct coord *co = t->data;

	if (co->await_grant)
		start_child(co);
}

/* Runs plain ninja once to bring the manifest up to date when a build
 * statement of its own regenerates it (CMake's re-run rule), as ninja
 * does first thing; the rewritten copy has no such statement. */
static int
regenerate(struct coord *co, const struct ninja_args *na)
{
	const char *argv[8];
	struct dm_spawn_opts so = {0};
	struct dm_spawn_result r = {0};
	const char *mf = na->manifest != NULL ? na->manifest : "build.ninja";
	int n = 0, rc;

	argv[n++] = co->o->argv[0];
	if (na->dir != NULL) {
		argv[n++] = "-C";
		argv[n++] = na->dir;
	}
	argv[n++] = "-f";
	argv[n++] = mf;
	argv[n++] = mf;
	argv[n] = NULL;
	so.argv = argv;
	so.stdin_fd = 0;
	so.stdout_fd = -1; /* "no work to do" is not news */
	so.stderr_fd = 2;
	if ((rc = dm_spawn_run(&so, &r)) != 0)
		return rc;
	if (r.exit_code != 0 || r.signal != 0) {
		dm_error("regenerating %s failed", mf);
		return DM_ECHILD;
	}
	return 0;
}

/* Reads ninja's version (ninja >= 1.13 gets the FIFO pool and no -j),
 * writes the gated copy of the build files and ninja's final arguments
 * (co->ninja_argv, freed by coord_run). */
static int
prepare_ninja(struct coord *co, enum dm_pool_kind *kind)
{
	const struct coord_opts *o = co->o;
	struct ninja_args na;
	struct ninja_wrap w;
	char outdir[PATH_MAX + 8], gate[PATH_MAX], why[1024];
	int major = 0, minor = 0, rc, argc = 0, jobserver;

	while (o->argv[argc] != NULL)
		argc++;
	ninja_args_scan(o->argv, &na);
	rc = ninja_version(o->argv[0], &major, &minor);
	if (rc == -ENOENT) {
		dm_error("cannot run %s: %s", o->argv[0], dm_strerror(rc));
		return rc;
	}
	jobserver = rc == 0 && ninja_has_jobserver(major, minor);
	if (jobserver)
		*kind = DM_POOL_FIFO; /* ninja takes the last auth: the FIFO */
	if (coord_sibling("dmake-gate", gate, sizeof(gate)) != 0) {
		dm_error("cannot find dmake-gate beside dmake or in %s",
			 DM_BINDIR);
		return -ENOENT;
	}
	snprintf(outdir, sizeof(outdir), "%s/ninja", co->rundir);
	if (mkdir(outdir, 0700) != 0)
		return -errno;
	rc = ninja_wrap_manifest(na.dir, na.manifest, outdir, gate, &w, why,
				 sizeof(why));
	if (rc == 0 && w.manifest_is_output) {
		if ((rc = regenerate(co, &na)) != 0)
			return rc;
		rc = ninja_wrap_manifest(na.dir, na.manifest, outdir, gate, &w,
					 why, sizeof(why));
	}
	if (rc != 0) {
		dm_error("%s", why);
		return rc;
	}
	dm_info("gated %u rules in %u build files", w.rules, w.files);
	/* argv: ninja, two places for "-j N" (see start_child), -f FILE
	 * unless the user gave one, then the user's arguments with their
	 * -f FILE pointing at the copy. */
	memcpy(co->ninja_out, w.out, sizeof(co->ninja_out));
	if ((co->ninja_argv = calloc((size_t)argc + 6, sizeof(char *))) == NULL)
		return -ENOMEM;
	{
		int k = 3;

		co->ninja_argv[0] = o->argv[0];
		if (na.manifest_idx < 0) {
			co->ninja_argv[k++] = "-f";
			co->ninja_argv[k++] = co->ninja_out;
		}
		for (int i = 1; i < argc; i++) {
			char *a = o->argv[i];

			if (i == na.manifest_idx) {
				struct dm_buf b;

				dm_buf_init(&b);
				dm_buf_appendf(&b, "%.*s%s",
					       (int)na.manifest_off, a,
					       co->ninja_out);
				a = co->ninja_fopt = dm_buf_cstr(&b);
			}
			co->ninja_argv[k++] = a;
		}
		co->ninja_argv[k] = NULL;
	}
	/* ninja >= 1.13 reads the pool; a -j of the user's wins anyway. */
	co->ninja_jobs = jobserver || na.has_j ? 0 : 1;
	return 0;
}

/* ---- dmake serve ------------------------------------------------------ */

/* Does any process but us have the FIFO open?  Read from /proc; a
 * process we may not look at counts as not holding it. */
static int
fifo_in_use(struct coord *co)
{
	struct stat fst, st;
	DIR *proc, *fds;
	struct dirent *p, *f;
	char path[PATH_MAX];
	int found = 0;

	if (stat(co->fifopath, &fst) != 0 || (proc = opendir("/proc")) == NULL)
		return 1;
	while (!found && (p = readdir(proc)) != NULL) {
		if (p->d_name[0] < '0' || p->d_name[0] > '9' ||
		    atoi(p->d_name) == (int)getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		if ((fds = opendir(path)) == NULL)
			continue;
		while ((f = readdir(fds)) != NULL) {
			if (f->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fd/%s",
				 p->d_name, f->d_name);
			if (stat(path, &st) == 0 && st.st_dev == fst.st_dev &&
			    st.st_ino == fst.st_ino) {
				found = 1;
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

/* Tokens taken by a client killed with SIGKILL are gone from the FIFO
 * for good.  When nothing else has the FIFO open and no shim is here,
 * nobody can hold a token: the FIFO must hold them all, and is made to. */
static void
on_reclaim_timer(uv_timer_t *t)
{
	struct coord *co = t->data;
	unsigned want = dm_pool_target(co->pool) + dm_pool_debt(co->pool);
	int avail = dm_pool_available(co->pool), delta = 0;

	if (avail < 0 || (unsigned)avail == want)
		return;
	if (co->local_busy > 0 || !LIST_EMPTY(&co->shims) || fifo_in_use(co))
		return;
	if (dm_pool_resync(co->pool, &delta) == 0 && delta != 0) {
		if (delta > 0)
			co->reclaimed += (unsigned)delta;
		dm_warn("%s %d jobserver tokens lost with clients that were "
			"killed",
			delta > 0 ? "put back" : "took back",
			delta > 0 ? delta : -delta);
	}
}

/* The serve's directories and stale files: a socket nobody answers on
 * and a FIFO from a server that is gone are removed; a live server is an
 * error. */
static int
serve_paths(struct coord *co, gid_t gid)
{
	const struct coord_opts *o = co->o;
	char dir[PATH_MAX], *slash;
	mode_t mode = gid != (gid_t)-1 ? 0710 : 0700;
	int fd, rc;

	snprintf(co->sockpath, sizeof(co->sockpath), "%s", o->socket);
	snprintf(co->fifopath, sizeof(co->fifopath), "%s", o->fifo);
	for (int i = 0; i < 2; i++) {
		snprintf(dir, sizeof(dir), "%s", i == 0 ? o->socket : o->fifo);
		if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
			continue;
		*slash = '\0';
		if ((rc = dm_mkdir_p(dir, mode)) != 0) {
			dm_error("cannot create %s: %s", dir, dm_strerror(rc));
			return rc;
		}
		if (gid != (gid_t)-1 && (chown(dir, (uid_t)-1, gid) != 0 ||
					 chmod(dir, mode) != 0))
			dm_warn("cannot give group access to %s: %s", dir,
				strerror(errno));
	}
	if ((fd = dm_net_connect_unix(co->sockpath)) >= 0) {
		close(fd);
		dm_error("another dmake serve answers on %s", co->sockpath);
		return -EADDRINUSE;
	}
	unlink(co->sockpath);
	unlink(co->fifopath);
	return 0;
}

static void
serve_perms(struct coord *co, gid_t gid)
{
	mode_t mode = gid != (gid_t)-1 ? 0660 : 0600;
	const char *paths[2] = {co->sockpath, co->fifopath};

	for (int i = 0; i < 2; i++) {
		if (gid != (gid_t)-1 && chown(paths[i], (uid_t)-1, gid) != 0)
			dm_warn("cannot give %s to the group: %s", paths[i],
				strerror(errno));
		if (chmod(paths[i], mode) != 0)
			dm_warn("cannot chmod %s: %s", paths[i],
				strerror(errno));
	}
}

/* ---- setup ------------------------------------------------------------ */

int
coord_masq_dir(char *out, size_t len)
{
	const char *env = getenv("DMAKE_MASQ_DIR");
	char self[PATH_MAX], *slash;
	struct stat st;
	ssize_t n;

	if (env != NULL && env[0] != '\0') {
		snprintf(out, len, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(out, len, "%s/masq", self);
			if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
				return 0;
		}
	}
	snprintf(out, len, "%s", DM_MASQDIR);
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return -ENOENT;
}

int
coord_sibling(const char *name, char *out, size_t len)
{
	char self[PATH_MAX - 64], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(out, len, "%s/%s", self, name);
			if (access(out, X_OK) == 0)
				return 0;
		}
	}
	snprintf(out, len, "%s/%s", DM_BINDIR, name);
	return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

static int
make_rundir(struct coord *co)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (base == NULL || stat(base, &st) != 0 || access(base, W_OK) != 0)
		base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(co->rundir, sizeof(co->rundir), "%s/dmake-XXXXXX", base);
	if (mkdtemp(co->rundir) == NULL)
		return -errno;
	snprintf(co->sockpath, sizeof(co->sockpath), "%s/sock", co->rundir);
	snprintf(co->fifopath, sizeof(co->fifopath), "%s/jobserver",
		 co->rundir);
	co->own_rundir = 1;
	return 0;
}

static void
summary(struct coord *co)
{
	double wall = (double)(uv_hrtime() - co->t_start) / 1e9;

	progress_clear(co);
	fprintf(stderr,
		"dmake: remote=%u local=%u fallback=%u wall=%.1fs "
		"peak_tokens=%u peak_local=%d toolchain_bytes=%llu "
		"relayed=%u\n",
		co->n_remote, co->n_local, co->n_fallback, wall,
		co->peak_tokens, co->local_peak,
		(unsigned long long)co->ship.bytes, relay_count(co->relay));
}

static void
free_tcs(struct coord *co)
{
	struct tc_entry *e;

	while ((e = LIST_FIRST(&co->tcs)) != NULL) {
		LIST_REMOVE(e, link);
		free(e->compiler);
		free(e->name);
		free(e);
	}
}

/* The pool for a make that is not told apart (`run`, ninja's children):
 * FIFO alone when the make on PATH reads one, else dual. */
static enum dm_pool_kind
kind_for_path_make(void)
{
	const char *make = getenv("MAKE");
	enum dm_pool_kind k;

	if (dm_pool_kind_for_make(make != NULL && make[0] != '\0' ? make
								  : "make",
				  &k, NULL, NULL) == 0 &&
	    k == DM_POOL_FIFO)
		return DM_POOL_FIFO;
	return DM_POOL_DUAL;
}

int
coord_run(const struct coord_opts *o)
{
	static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
	struct coord *co;
	enum dm_pool_kind kind = DM_POOL_DUAL;
	char why[512];
	gid_t gid = (gid_t)-1;
	int rc, major = 0, minor = 0, fd, ret = 2;

	if ((co = calloc(1, sizeof(*co))) == NULL)
		return 2;
	/* A closed stderr (`dmake ninja | head`) must not kill us before we
	 * clean up; libuv gives children back the default. */
	signal(SIGPIPE, SIG_IGN);
	co->o = o;
	co->t_start = uv_hrtime();
	co->exit_code = 2;
	TAILQ_INIT(&co->slot_wait);
	LIST_INIT(&co->shims);
	LIST_INIT(&co->tcs);
	if (dm_idcache_new(NULL, &co->ids) != 0)
		co->ids = NULL;
	if ((rc = dm_config_load(&co->cfg, why, sizeof(why))) != 0) {
		dm_error("%s", why);
		goto err_after_alloc;
	}
	co->local_slots = co->cfg.local_slots > 0 ? co->cfg.local_slots
						  : dm_cpu_count();
	if (coord_masq_dir(co->masq, sizeof(co->masq)) != 0) {
		dm_error("cannot find the compiler masquerade directory; set "
			 "DMAKE_MASQ_DIR or reinstall dmake");
		goto err_after_alloc;
	}
	switch (o->mode) {
	case COORD_MAKE:
		if ((rc = dm_pool_kind_for_make(o->argv[0], &kind, &major,
						&minor)) != 0) {
			dm_error("%s does not look like GNU make (%s)",
				 o->argv[0], dm_strerror(rc));
			goto err_after_alloc;
		}
		/* make <= 4.3: the FIFO's ends as descriptors. */
		if (kind == DM_POOL_PIPE)
			kind = DM_POOL_DUAL;
		break;
	case COORD_RUN:
	case COORD_NINJA:
		kind = kind_for_path_make();
		break;
	case COORD_SERVE:
		kind = DM_POOL_FIFO;
		if (o->group != NULL) {
			struct group *g = getgrnam(o->group);

			if (g == NULL) {
				dm_error("no group named %s", o->group);
				goto err_after_alloc;
			}
			gid = g->gr_gid;
		}
		break;
	}
	rc = o->mode == COORD_SERVE ? serve_paths(co, gid) : make_rundir(co);
	if (rc != 0) {
		if (o->mode != COORD_SERVE)
			dm_error("cannot create a runtime directory: %s",
				 dm_strerror(rc));
		goto err_after_alloc;
	}
	if (o->mode == COORD_NINJA && prepare_ninja(co, &kind) != 0)
		goto err_after_rundir;
	if ((rc = dm_pool_create(kind, co->fifopath, &co->pool)) != 0) {
		dm_error("cannot create the jobserver at %s: %s", co->fifopath,
			 dm_strerror(rc));
		goto err_after_rundir;
	}
	co->loop = uv_default_loop();
	co->hashes = hashes_new(); /* NULL: shims hash every file */
	if ((rc = ship_init(co)) != 0 ||
	    (rc = relay_new(co->loop, &co->relay)) != 0) {
		dm_error("%s", dm_strerror(rc));
		goto err_after_pool;
	}

	/* The scheduler first, so the first shims find it. */
	if (co->cfg.scheduler[0] != '\0') {
		const char *kf = co->cfg.key_file;

		if (kf[0] == '\0') {
			dm_error("a scheduler is set (%s) but no key: set "
				 "DMAKE_KEY_FILE or key_file in dmake.conf "
				 "(make one with: dmake keygen FILE)",
				 co->cfg.scheduler);
			goto err_after_pool;
		}
		if ((rc = dm_key_load(kf, &co->key)) != 0) {
			dm_error("cannot use key file %s: %s", kf,
				 dm_strerror(rc));
			goto err_after_pool;
		}
	}
	uv_timer_init(co->loop, &co->reconnect);
	co->reconnect.data = co;
	uv_timer_init(co->loop, &co->start_timer);
	co->start_timer.data = co;
	uv_timer_init(co->loop, &co->reclaim_timer);
	co->reclaim_timer.data = co;
	uv_timer_init(co->loop, &co->demand_timer);
	co->demand_timer.data = co;
	uv_timer_init(co->loop, &co->progress_timer);
	co->progress_timer.data = co;
	co->demand_sent = DM_DEMAND_UNKNOWN;
	if (co->cfg.scheduler[0] != '\0') {
		fd = connect_sched(co);
		if (fd < 0 || attach_sched(co, fd) != 0) {
			dm_warn("cannot reach scheduler %s (%s); building with "
				"local slots, retrying in the background",
				co->cfg.scheduler, dm_strerror(fd));
			start_reconnect(co);
		}
	}
	if (co->cfg.placement == DM_PLACE_REMOTE && co->sched == NULL)
		dm_warn("DMAKE_PLACEMENT=remote without a scheduler: every "
			"distributable compile will fail");

	uv_pipe_init(co->loop, &co->shim_server, 0);
	co->shim_server.data = co;
	if ((rc = uv_pipe_bind(&co->shim_server, co->sockpath)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&co->shim_server, 128,
			    on_shim_connect)) != 0) {
		dm_error("cannot listen on %s: %s", co->sockpath,
			 uv_strerror(rc));
		stop(co);
		uv_run(co->loop, UV_RUN_DEFAULT);
		goto err_after_loop;
	}
	uv_poll_init(co->loop, &co->pool_poll, dm_pool_fd_for_poll(co->pool));
	co->pool_poll.data = co;
	update_tokens(co);
	for (int i = 0; i < 3; i++) {
		uv_signal_init(co->loop, &co->sig[i]);
		co->sig[i].data = co;
		uv_signal_start(&co->sig[i], on_signal, sigs[i]);
	}
	if (o->mode == COORD_MAKE || o->mode == COORD_SERVE)
		uv_timer_start(&co->demand_timer, on_demand_timer, DEMAND_MS,
			       DEMAND_MS);
	if (o->mode == COORD_SERVE) {
		char *slash;

		serve_perms(co, gid);
		snprintf(co->statspath, sizeof(co->statspath), "%s",
			 co->sockpath);
		if ((slash = strrchr(co->statspath, '/')) != NULL)
			snprintf(slash + 1,
				 sizeof(co->statspath) -
					 (size_t)(slash + 1 - co->statspath),
				 "stats");
		co->stats_written = ~0u; /* write the zeros once */
		write_stats(co);
		serve_print_env(stdout, co->fifopath, co->sockpath, co->masq,
				co->local_slots);
		fflush(stdout);
		uv_timer_start(&co->reclaim_timer, on_reclaim_timer, RECLAIM_MS,
			       RECLAIM_MS);
	} else if (o->mode == COORD_NINJA && co->ninja_jobs > 0 &&
		   co->sched != NULL) {
		/* -j is fixed for the run: size it from the first grant. */
		co->await_grant = 1;
		uv_timer_start(&co->start_timer, on_start_timer, FIRST_GRANT_MS,
			       0);
	} else {
		start_child(co);
	}
	uv_run(co->loop, UV_RUN_DEFAULT);
	ret = co->exit_code;
	if (co->pool != NULL)
		check_tokens_at_exit(co);
	if (co->pool != NULL && dm_pool_debt(co->pool) == 0)
		dm_debug("jobserver drained: %u tokens", dm_pool_target(co->pool));
	summary(co);

err_after_loop:
	uv_loop_close(co->loop);
err_after_pool:
	hashes_free(co->hashes);
	co->hashes = NULL;
	dm_pool_destroy(co->pool);
err_after_rundir:
	unlink(co->sockpath);
	if (co->statspath[0] != '\0')
		unlink(co->statspath);
	if (co->own_rundir) {
		char ninja_dir[PATH_MAX + 8];

		snprintf(ninja_dir, sizeof(ninja_dir), "%s/ninja", co->rundir);
		dm_rm_tree(ninja_dir);
		rmdir(co->rundir);
	}
err_after_alloc:
	free(co->ninja_argv);
	free(co->ninja_fopt);
	free_tcs(co);
	/* After uv_run(): no identification runs on the pool any more. */
	dm_idcache_free(co->ids);
	tcship_free(co->ship.t);
	relay_free(co->relay);
	hashes_free(co->hashes);
	free(co);
	return ret;
}
