/*
 * server.c: see server.h.
 *
 * One rule shapes this file: lib/conn.c calls on_close synchronously,
 * also from inside dm_conn_send() when a peer stops reading.  The state's
 * callbacks send messages, so a send made while the state walks its lists
 * could re-enter the state through on_close.  Every entry point therefore
 * runs between enter() and leave(); a connection that closes in between
 * is parked on srv->dead and its node or build is taken out of the state
 * only in leave(), when nothing is walking anything.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "../lib/conn.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/net.h"
#include "http.h"
#include "server.h"
#include "state.h"

#define SWEEP_MS 1000
/* History goes to sqlite every this many sweeps: a busy cluster changes
 * every row every second, and losing ten seconds of it in a crash costs
 * nothing that matters (the speeds move slowly). */
#define HISTORY_EVERY 10
/* A node or build that sends no first message this long after the
 * handshake is closed, so authenticated but idle sockets do not pile up. */
#define FIRST_MSG_MS 10000

enum { ST_NEW = 1, ST_ACTIVE = 2 };

struct peer {
	TAILQ_ENTRY(peer) link; /* on srv->peers, then on srv->dead */
	struct sched_server *srv;
	struct dm_conn *c;      /* NULL until ready and once closed */
	int ready;              /* authenticated with a role we serve */
	int accepting;          /* inside dm_conn_accept() */
	uint16_t role;
	int st;
	int close_reason;
	uint64_t since;
	struct sched_node *node;
	struct sched_build *build;
	char addr[64];
};

/* Changed history rows, copied out of the state and written to sqlite on
 * libuv's thread pool, so a slow disk never stalls placement.  One batch
 * at a time; the loop thread does not touch the database meanwhile. */
struct batch {
	uv_work_t work;
	struct sched_server *srv;
	struct sched_history *rows;
	size_t n;
	size_t cap;
	int rc;
};

struct sched_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_timer_t sweep;
	int handles_open;
	int stopping;
	unsigned sweeps;
	int depth;
	const struct dm_key *key;
	struct sched_db *db;
	struct batch *writing;  /* on the thread pool, or NULL */
	int flush_at_end;       /* stop came while a batch was out */
	struct sched *s;
	struct sched_http *http;
	TAILQ_HEAD(, peer) peers;
	TAILQ_HEAD(, peer) dead;
};

struct handler {
	uint16_t role;
	int states;
	uint16_t type;
	void (*fn)(struct peer *p, union dm_msg *m);
};

static const char *
role_name(uint16_t role)
{
	switch (role) {
	case DM_ROLE_NODE: return "node";
	case DM_ROLE_BUILD: return "build";
	case DM_ROLE_SHIM: return "shim";
	case DM_ROLE_MONITOR: return "monitor";
	}
	return "unknown";
}

/* Re-entrancy guard (see the top of the file) */

static void forget(struct peer *p);

static void
enter(struct sched_server *srv)
{
	if (srv->depth++ == 0)
		sched_set_clock(srv->s, uv_now(srv->loop), (int64_t)time(NULL));
}

static void
leave(struct sched_server *srv)
{
	struct peer *p;

	if (srv->depth > 1) {
		srv->depth--;
		return;
	}
	/* Still at depth 1: a close caused by forget() parks its peer too. */
	while ((p = TAILQ_FIRST(&srv->dead)) != NULL) {
		TAILQ_REMOVE(&srv->dead, p, link);
		forget(p);
	}
	srv->depth = 0;
}

static void
forget(struct peer *p)
{
	struct sched_server *srv = p->srv;
	char why[128];

	if (p->node != NULL) {
		snprintf(why, sizeof(why), "connection closed: %s",
			 srv->stopping ? "scheduler stopping"
				       : dm_strerror(p->close_reason));
		sched_node_drop(srv->s, p->node, why);
	}
	if (p->build != NULL)
		sched_build_leave(srv->s, p->build);
	free(p);
}

/* The state's callbacks */

static void
cb_grant(void *ctx, uint64_t build_id, uint32_t slots)
{
	struct peer *p = ctx;
	struct dm_msg_grant g = {.build_id = build_id, .slots = slots};

	if (p->c != NULL && !p->srv->stopping)
		dm_conn_send(p->c, DM_MSG_GRANT, &g);
}

static void
cb_placed(void *ctx, uint64_t req, uint64_t ticket, const char *node_addr,
	  const char *node_name)
{
	struct peer *p = ctx;
	struct dm_msg_placed m = {
		.req = req,
		.ticket = ticket,
		.node_addr = (char *)node_addr,
		.node_name = (char *)node_name,
	};

	if (p->c != NULL && !p->srv->stopping)
		dm_conn_send(p->c, DM_MSG_PLACED, &m);
}

static void
cb_place_fail(void *ctx, uint64_t req, uint32_t code, const char *reason)
{
	struct peer *p = ctx;
	struct dm_msg_place_fail m = {
		.req = req, .code = code, .reason = (char *)reason};

	if (p->c != NULL && !p->srv->stopping)
		dm_conn_send(p->c, DM_MSG_PLACE_FAIL, &m);
}

/* The state already dropped the node (and logged why).  No ERROR is sent:
 * a silent node is most likely gone, and a write it never reads would
 * keep the socket open. */
static void
cb_node_gone(void *ctx, const char *why)
{
	struct peer *p = ctx;

	(void)why;
	p->node = NULL;
	if (p->c != NULL)
		dm_conn_close(p->c, DM_ETIMEOUT);
}

static const struct sched_ops state_ops = {
	.grant = cb_grant,
	.placed = cb_placed,
	.place_fail = cb_place_fail,
	.node_gone = cb_node_gone,
};

/* Handlers */

static void
on_node_register(struct peer *p, union dm_msg *m)
{
	struct dm_msg_node_register *r = &m->node_register;
	struct dm_msg_node_accept a;
	char why[128];
	int rc;

	rc = sched_node_register(p->srv->s, r->name, r->addr, r->platform,
				 r->slots, r->toolchains, r->toolchains_n, p,
				 &p->node);
	if (rc == -EINVAL) {
		snprintf(why, sizeof(why),
			 "bad NODE_REGISTER: empty name or %" PRIu32
			 " slots (limit %u)",
			 r->slots, SCHED_SLOTS_MAX);
		dm_warn("%s: %s", p->addr, why);
		dm_conn_fail(p->c, DM_ECONFIG, why);
		return;
	}
	if (rc != 0) {
		dm_conn_fail(p->c, rc, dm_strerror(rc));
		return;
	}
	p->st = ST_ACTIVE;
	a.node_id = sched_node_id(p->node);
	a.heartbeat_ms = SCHED_HEARTBEAT_MS;
	if (p->c != NULL)
		dm_conn_send(p->c, DM_MSG_NODE_ACCEPT, &a);
}

static void
on_node_load(struct peer *p, union dm_msg *m)
{
	sched_node_load(p->srv->s, p->node, m->node_load.running,
			m->node_load.load_milli);
}

static void
on_node_toolchains(struct peer *p, union dm_msg *m)
{
	struct dm_msg_node_toolchains *t = &m->node_toolchains;

	if (sched_node_toolchains(p->srv->s, p->node, t->archives != 0,
				  t->cached, t->cached_n) != 0)
		dm_warn("%s: NODE_TOOLCHAINS: out of memory", p->addr);
}

static void
on_build_hello(struct peer *p, union dm_msg *m)
{
	struct dm_msg_build_hello *h = &m->build_hello;
	int rc;

	/* Active before the call: the first GRANT goes out from inside it. */
	p->st = ST_ACTIVE;
	rc = sched_build_hello(p->srv->s, h->host, h->local_slots, h->label, p,
			       &p->build);
	if (rc != 0)
		dm_conn_fail(p->c, rc, dm_strerror(rc));
}

static void
on_place(struct peer *p, union dm_msg *m)
{
	struct dm_msg_place *pl = &m->place;
	int rc;

	rc = sched_place_ship(p->srv->s, p->build, pl->req, pl->toolchain,
			      pl->platform, pl->unit_bytes);
	if (rc != 0)
		cb_place_fail(p, pl->req, (uint32_t)-rc, dm_strerror(rc));
}

static void
on_job_end(struct peer *p, union dm_msg *m)
{
	struct dm_msg_job_end *e = &m->job_end;

	sched_job_end(p->srv->s, p->build, e->ticket, e->result, e->cpu_ms,
		      e->unit_bytes);
}

static void
on_demand(struct peer *p, union dm_msg *m)
{
	sched_build_demand(p->srv->s, p->build, m->demand.want);
}

static void
on_status_req(struct peer *p, union dm_msg *m)
{
	struct dm_msg_status st;
	struct dm_buf json;
	int rc;

	(void)m;
	dm_buf_init(&json);
	if ((rc = sched_status_json(p->srv->s, &json)) == 0) {
		st.json = dm_buf_cstr(&json);
		rc = dm_conn_send(p->c, DM_MSG_STATUS, &st);
	}
	if (rc != 0 && p->c != NULL)
		dm_conn_fail(p->c, rc, "cannot send STATUS");
	dm_buf_free(&json);
}

static const struct handler handlers[] = {
	{DM_ROLE_NODE, ST_NEW, DM_MSG_NODE_REGISTER, on_node_register},
	{DM_ROLE_NODE, ST_ACTIVE, DM_MSG_NODE_LOAD, on_node_load},
	{DM_ROLE_NODE, ST_ACTIVE, DM_MSG_NODE_TOOLCHAINS, on_node_toolchains},
	{DM_ROLE_BUILD, ST_NEW, DM_MSG_BUILD_HELLO, on_build_hello},
	{DM_ROLE_BUILD, ST_ACTIVE, DM_MSG_PLACE, on_place},
	{DM_ROLE_BUILD, ST_ACTIVE, DM_MSG_JOB_END, on_job_end},
	{DM_ROLE_BUILD, ST_ACTIVE, DM_MSG_DEMAND, on_demand},
	{DM_ROLE_MONITOR, ST_ACTIVE, DM_MSG_STATUS_REQ, on_status_req},
};

/* Connections */

static void
dispatch(struct peer *p, uint16_t type, union dm_msg *m)
{
	char why[128];

	/* Liveness and refusals are the same for every role and state. */
	if (type == DM_MSG_PING) {
		struct dm_msg_pong pong = {.seq = m->ping.seq};

		dm_conn_send(p->c, DM_MSG_PONG, &pong);
		return;
	}
	if (type == DM_MSG_PONG)
		return;
	if (type == DM_MSG_ERROR) {
		dm_warn("%s (%s): peer reports error %" PRIu32 ": %s", p->addr,
			role_name(p->role), m->error.code, m->error.text);
		return;
	}
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		const struct handler *h = &handlers[i];

		if (h->role == p->role && h->type == type &&
		    (h->states & p->st) != 0) {
			h->fn(p, m);
			return;
		}
	}
	snprintf(why, sizeof(why), "%s not expected from a %s %s",
		 dm_msg_name(type), role_name(p->role),
		 p->st == ST_NEW ? "before its first message" : "here");
	dm_warn("%s: %s; closing", p->addr, why);
	dm_conn_fail(p->c, DM_EUNEXPECTED, why);
}

static void
on_msg(struct dm_conn *c, uint16_t type, union dm_msg *m)
{
	struct peer *p = dm_conn_data(c);

	enter(p->srv);
	if (p->node != NULL)
		sched_node_seen(p->srv->s, p->node);
	dispatch(p, type, m);
	leave(p->srv);
}

static void
on_close(struct dm_conn *c, int reason)
{
	struct peer *p = dm_conn_data(c);
	struct sched_server *srv = p->srv;

	dm_conn_set_data(c, NULL);
	if (!p->ready) {
		/* Refused at the handshake or for its role: nothing of it is
		 * in the state.  During dm_conn_accept() on_connection frees
		 * it, as it cannot tell whether this ran. */
		if (!p->accepting)
			free(p);
		return;
	}
	p->c = NULL;
	p->close_reason = reason;
	dm_debug("%s (%s): closed: %s", p->addr, role_name(p->role),
		 dm_strerror(reason));
	enter(srv);
	TAILQ_REMOVE(&srv->peers, p, link);
	TAILQ_INSERT_TAIL(&srv->dead, p, link);
	leave(srv);
}

static void
on_ready(struct dm_conn *c, uint16_t role)
{
	struct peer *p = dm_conn_data(c);
	struct sched_server *srv = p->srv;
	char why[96];

	if (role != DM_ROLE_NODE && role != DM_ROLE_BUILD &&
	    role != DM_ROLE_MONITOR) {
		snprintf(why, sizeof(why),
			 "this is the scheduler; a %s (role %u) has nothing to "
			 "say to it",
			 role_name(role), role);
		dm_warn("%s: %s", dm_conn_peer(c), why);
		dm_conn_fail(c, DM_EUNEXPECTED, why);
		return;
	}
	if (srv->stopping) {
		dm_conn_close(c, DM_ECLOSED);
		return;
	}
	p->ready = 1;
	p->c = c;
	p->role = role;
	p->st = role == DM_ROLE_MONITOR ? ST_ACTIVE : ST_NEW;
	p->since = uv_now(srv->loop);
	snprintf(p->addr, sizeof(p->addr), "%s", dm_conn_peer(c));
	TAILQ_INSERT_TAIL(&srv->peers, p, link);
	dm_debug("%s: authenticated as %s", p->addr, role_name(role));
}

static const struct dm_conn_ops conn_ops = {
	.on_ready = on_ready,
	.on_msg = on_msg,
	.on_close = on_close,
};

static void
on_connection(uv_stream_t *server, int status)
{
	struct sched_server *srv = server->data;
	struct peer *p;
	int rc;

	if (status < 0) {
		dm_warn("accept: %s", uv_strerror(status));
		return;
	}
	/* The peer exists from the start so that on_ready and on_close
	 * always find one; it joins srv->peers only once authenticated. */
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		dm_warn("accept: %s", strerror(ENOMEM));
		return;
	}
	p->srv = srv;
	p->accepting = 1;
	rc = dm_conn_accept(server, srv->key, &conn_ops, p);
	p->accepting = 0;
	if (rc != 0) {
		dm_warn("accept: %s", dm_strerror(rc));
		free(p);
	}
}

/* History and the sweep */

static void
batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free((char *)b->rows[i].name); /* holds addr and platform */
	free(b->rows);
	free(b);
}

/* sched_history_flush's callback: copies one row into the batch. */
static int
batch_add(void *arg, const struct sched_history *h)
{
	struct batch *b = arg;
	size_t ln = strlen(h->name) + 1, la = strlen(h->addr) + 1;
	size_t lp = strlen(h->platform) + 1;
	struct sched_history *row;
	char *mem;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct sched_history *r = realloc(b->rows, cap * sizeof(*r));

		if (r == NULL)
			return -ENOMEM;
		b->rows = r;
		b->cap = cap;
	}
	if ((mem = malloc(ln + la + lp)) == NULL)
		return -ENOMEM;
	row = &b->rows[b->n++];
	*row = *h;
	row->name = memcpy(mem, h->name, ln);
	row->addr = memcpy(mem + ln, h->addr, la);
	row->platform = memcpy(mem + ln + la, h->platform, lp);
	return 0;
}

/* One transaction for the whole batch (thread pool or loop thread). */
static int
batch_write(struct sched_db *db, const struct batch *b)
{
	int rc;

	if ((rc = sched_db_begin(db)) != 0)
		return rc;
	for (size_t i = 0; i < b->n && rc == 0; i++)
		rc = sched_db_put(db, &b->rows[i]);
	if (rc == 0)
		rc = sched_db_commit(db);
	if (rc != 0)
		sched_db_rollback(db);
	return rc;
}

/* Takes the changed rows out of the state; NULL if none (or no memory:
 * the rows stay changed and the next sweep tries again). */
static struct batch *
batch_take(struct sched_server *srv)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->srv = srv;
	if (sched_history_flush(srv->s, batch_add, b) != 0)
		sched_history_touch_all(srv->s);
	if (b->n == 0) {
		batch_free(b);
		return NULL;
	}
	return b;
}

static void
on_batch_work(uv_work_t *w)
{
	struct batch *b = w->data;

	b->rc = batch_write(b->srv->db, b);
}

static void flush_history_now(struct sched_server *srv);

static void
on_batch_done(uv_work_t *w, int status)
{
	struct batch *b = w->data;
	struct sched_server *srv = b->srv;

	/* Rows marked clean were not stored after all. */
	if (status != 0 || b->rc != 0)
		sched_history_touch_all(srv->s);
	srv->writing = NULL;
	batch_free(b);
	if (srv->flush_at_end) {
		enter(srv);
		flush_history_now(srv);
		leave(srv);
	}
}

/* The sweep's write: on the thread pool, unless one is still out. */
static void
flush_history(struct sched_server *srv)
{
	struct batch *b;

	if (srv->db == NULL || srv->writing != NULL ||
	    (b = batch_take(srv)) == NULL)
		return;
	b->work.data = b;
	if (uv_queue_work(srv->loop, &b->work, on_batch_work,
			  on_batch_done) != 0) {
		sched_history_touch_all(srv->s);
		batch_free(b);
		return;
	}
	srv->writing = b;
}

/* The last write at stop, on the loop thread, once no batch is out. */
static void
flush_history_now(struct sched_server *srv)
{
	struct batch *b;

	srv->flush_at_end = 0;
	if (srv->db == NULL)
		return;
	if (srv->writing != NULL) {
		srv->flush_at_end = 1;
		return;
	}
	if ((b = batch_take(srv)) == NULL)
		return;
	if (batch_write(srv->db, b) != 0)
		sched_history_touch_all(srv->s);
	batch_free(b);
}

static void
on_sweep(uv_timer_t *t)
{
	struct sched_server *srv = t->data;
	uint64_t now = uv_now(srv->loop);
	struct peer *p, *next;

	enter(srv);
	sched_sweep(srv->s);
	for (p = TAILQ_FIRST(&srv->peers); p != NULL; p = next) {
		next = TAILQ_NEXT(p, link);
		if (p->st != ST_NEW || now - p->since < FIRST_MSG_MS)
			continue;
		dm_warn("%s (%s): no first message within %d s; closing",
			p->addr, role_name(p->role), FIRST_MSG_MS / 1000);
		dm_conn_close(p->c, DM_ETIMEOUT);
	}
	if (++srv->sweeps % HISTORY_EVERY == 0)
		flush_history(srv);
	leave(srv);
}

static int
load_row(void *arg, const struct sched_history *h)
{
	return sched_history_load(arg, h);
}

static int
status_body(void *arg, struct dm_buf *out)
{
	struct sched_server *srv = arg;
	int rc;

	enter(srv);
	rc = sched_status_json(srv->s, out);
	leave(srv);
	return rc;
}

/* Start and stop */

static void
on_handle_closed(uv_handle_t *h)
{
	struct sched_server *srv = h->data;

	srv->handles_open--;
}

int
sched_server_start(uv_loop_t *loop, const struct sched_server_config *cfg,
		   struct sched_server **out)
{
	struct sched_server *srv;
	char name[80];
	int fd, rc;

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return -ENOMEM;
	srv->loop = loop;
	srv->key = cfg->key;
	srv->db = cfg->db;
	TAILQ_INIT(&srv->peers);
	TAILQ_INIT(&srv->dead);
	/* Seeded from the clock so a restarted scheduler never hands out a
	 * ticket number a node may still remember from the previous run. */
	rc = sched_new(&state_ops, (uint64_t)time(NULL) << 20, &srv->s);
	if (rc != 0)
		goto err_after_srv;
	if (srv->db != NULL &&
	    (rc = sched_db_load(srv->db, load_row, srv->s)) != 0)
		goto err_after_state;

	if ((fd = dm_net_listen(cfg->listen, 128)) < 0) {
		rc = fd;
		dm_error("cannot listen on %s: %s", cfg->listen,
			 dm_strerror(rc));
		goto err_after_state;
	}
	if (dm_net_name(fd, 0, name, sizeof(name)) != 0)
		snprintf(name, sizeof(name), "%s", cfg->listen);
	uv_tcp_init(loop, &srv->listener);
	srv->listener.data = srv;
	srv->handles_open++;
	if ((rc = uv_tcp_open(&srv->listener, fd)) != 0) {
		close(fd);
		goto err_after_listener;
	}
	if ((rc = uv_listen((uv_stream_t *)&srv->listener, 128,
			    on_connection)) != 0)
		goto err_after_listener;
	if (cfg->http != NULL &&
	    (rc = sched_http_start(loop, cfg->http, status_body, srv,
				   &srv->http)) != 0) {
		dm_error("cannot serve HTTP on %s: %s", cfg->http,
			 dm_strerror(rc));
		goto err_after_listener;
	}
	uv_timer_init(loop, &srv->sweep);
	srv->sweep.data = srv;
	srv->handles_open++;
	uv_timer_start(&srv->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	/* Tests and scripts read the real port from this line. */
	dm_info("listening on %s%s%s", name, cfg->http ? ", HTTP on " : "",
		cfg->http ? cfg->http : "");
	*out = srv;
	return 0;

err_after_listener:
	/* One turn of the loop runs the close callback before srv goes. */
	uv_close((uv_handle_t *)&srv->listener, on_handle_closed);
	uv_run(loop, UV_RUN_NOWAIT);
err_after_state:
	sched_free(srv->s);
err_after_srv:
	free(srv);
	return rc;
}

void
sched_server_stop(struct sched_server *srv)
{
	struct peer *p;

	if (srv->stopping)
		return;
	srv->stopping = 1;
	enter(srv);
	uv_close((uv_handle_t *)&srv->listener, on_handle_closed);
	uv_close((uv_handle_t *)&srv->sweep, on_handle_closed);
	sched_http_close(srv->http);
	srv->http = NULL;
	while ((p = TAILQ_FIRST(&srv->peers)) != NULL)
		dm_conn_close(p->c, 0);
	leave(srv);
	/* After leave(): the nodes just dropped have their last_seen. */
	enter(srv);
	flush_history_now(srv);
	leave(srv);
}

int
sched_server_done(const struct sched_server *srv)
{
	return srv->stopping && srv->handles_open == 0 &&
	       srv->writing == NULL && TAILQ_EMPTY(&srv->peers) &&
	       TAILQ_EMPTY(&srv->dead);
}

void
sched_server_free(struct sched_server *srv)
{
	if (srv == NULL)
		return;
	sched_free(srv->s);
	free(srv);
}
