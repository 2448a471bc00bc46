/*
 * test_sched_state.c: the scheduler's bookkeeping (sched/state.c) without
 * sockets: the fair-share function alone, grants by demand, placement by
 * speed and load, exploration, back-off, the queue, tickets, dropping
 * nodes, the history (and its sqlite table) and the STATUS JSON.  The ops
 * record what the state would send; the clock is set by hand.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/err.h"
#include "../../lib/log.h"
#include "../../lib/msgs.h"
#include "../../sched/db.h"
#include "../../sched/state.h"
#include "tap.h"

enum ev_kind { EV_GRANT, EV_PLACED, EV_FAIL, EV_GONE };

struct ev {
	enum ev_kind kind;
	void *ctx;
	uint64_t a;   /* build_id or req */
	uint64_t b;   /* slots, ticket or code */
	char s[256];  /* node name or reason */
};

static struct ev evs[4096];
static int nev;

static void
rec(enum ev_kind kind, void *ctx, uint64_t a, uint64_t b, const char *s)
{
	if (nev == (int)(sizeof(evs) / sizeof(evs[0])))
		nev = 0; /* long runs look only at the latest events */
	evs[nev] = (struct ev){.kind = kind, .ctx = ctx, .a = a, .b = b};
	snprintf(evs[nev].s, sizeof(evs[nev].s), "%s", s ? s : "");
	nev++;
}

static void
grant(void *ctx, uint64_t build_id, uint32_t slots)
{
	rec(EV_GRANT, ctx, build_id, slots, NULL);
}

static void
placed(void *ctx, uint64_t req, uint64_t ticket, const char *addr,
       const char *name)
{
	(void)addr;
	rec(EV_PLACED, ctx, req, ticket, name);
}

static void
place_fail(void *ctx, uint64_t req, uint32_t code, const char *reason)
{
	rec(EV_FAIL, ctx, req, code, reason);
}

static void
node_gone(void *ctx, const char *why)
{
	rec(EV_GONE, ctx, 0, 0, why);
}

static const struct sched_ops ops = {grant, placed, place_fail, node_gone};

#define T0_MONO 1000
#define T0_WALL 1700000000

static struct sched *
mk(void)
{
	struct sched *s;

	dm_log_init("test", DM_LOG_ERROR);
	nev = 0;
	ASSERT_OK(sched_new(&ops, 1, &s));
	sched_set_clock(s, T0_MONO, T0_WALL);
	return s;
}

/* Checks the state's invariants after a step. */
#define CHECK(s)                                                              \
	do {                                                                  \
		const char *why_ = sched_check(s);                            \
		if (why_ != NULL)                                             \
			tap_fail(__FILE__, __LINE__, "invariant: %s", why_);  \
	} while (0)

static struct sched_node *
node(struct sched *s, const char *name, uint32_t slots, const char *tc,
     void *ctx)
{
	char *tcs[] = {(char *)tc, "zzz gcc 12"};
	struct sched_node *n;

	ASSERT_OK(sched_node_register(s, name, "127.0.0.1:1", "x86_64-linux",
				      slots, tcs, 2, ctx, &n));
	return n;
}

/* A node whose speed the scheduler knows already (10 recent jobs at
 * ms_per_mb), so no probe job goes to it. */
static struct sched_node *
known_node(struct sched *s, const char *name, uint32_t slots,
	   double ms_per_mb, void *ctx)
{
	struct sched_history h = {
		.name = name, .addr = "", .platform = "",
		.speed_cpu_ms = ms_per_mb * 10, .speed_mb = 10,
		.speed_jobs = 10, .speed_at = T0_WALL};

	ASSERT_OK(sched_history_load(s, &h));
	return node(s, name, slots, "abc gcc 12", ctx);
}

static struct sched_build *
build(struct sched *s, void *ctx)
{
	struct sched_build *b;

	ASSERT_OK(sched_build_hello(s, "host", 4, "label", ctx, &b));
	return b;
}

/* The last grant event sent to ctx, or -1. */
static long long
last_grant(void *ctx)
{
	for (int i = nev - 1; i >= 0; i--)
		if (evs[i].kind == EV_GRANT && evs[i].ctx == ctx)
			return (long long)evs[i].b;
	return -1;
}

static int
count(enum ev_kind kind)
{
	int n = 0;

	for (int i = 0; i < nev; i++)
		n += evs[i].kind == kind;
	return n;
}

/* The last PLACED event, which must be for req. */
static const struct ev *
placed_ev(uint64_t req)
{
	for (int i = nev - 1; i >= 0; i--)
		if (evs[i].kind == EV_PLACED) {
			if (evs[i].a != req)
				tap_fail(__FILE__, __LINE__,
					 "last PLACED is for %llu, not %llu",
					 (unsigned long long)evs[i].a,
					 (unsigned long long)req);
			return &evs[i];
		}
	tap_fail(__FILE__, __LINE__, "no PLACED for %llu",
		 (unsigned long long)req);
}

/* PLACE req and return the node it went to. */
static const char *
place(struct sched *s, struct sched_build *b, uint64_t req, uint64_t *ticket)
{
	const struct ev *e;

	ASSERT_OK(sched_place(s, b, req, "abc", 1000000));
	e = placed_ev(req);
	if (ticket != NULL)
		*ticket = e->b;
	CHECK(s);
	return e->s;
}

/* Moves both clocks on by ms, with every listed node heard from. */
static void
advance(struct sched *s, uint64_t *mono, int64_t *wall, uint64_t ms,
	struct sched_node **alive, int nalive)
{
	*mono += ms;
	*wall += (int64_t)(ms / 1000);
	sched_set_clock(s, *mono, *wall);
	for (int i = 0; i < nalive; i++)
		sched_node_seen(s, alive[i]);
}

/* A number from the STATUS JSON: the field `key` of the object that
 * holds "name":"NAME" (nodes) or "id":ID (builds); -1 for null. */
static double
status_num(struct sched *s, const char *obj, const char *key)
{
	struct dm_buf out;
	char pat[96], *p, *end;
	double v;

	dm_buf_init(&out);
	ASSERT_OK(sched_status_json(s, &out));
	snprintf(pat, sizeof(pat), "{%s", obj);
	if ((p = strstr(dm_buf_cstr(&out), pat)) == NULL)
		tap_fail(__FILE__, __LINE__, "no %s in %s", obj,
			 dm_buf_cstr(&out));
	end = strchr(p, '}');
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(p, pat);
	if (p == NULL || p > end)
		tap_fail(__FILE__, __LINE__, "no %s", key);
	p += strlen(pat);
	v = strncmp(p, "null", 4) == 0 ? -1 : strtod(p, NULL);
	dm_buf_free(&out);
	return v;
}

/* Keeps copies of up to 8 flushed history rows in arg. */
static int
collect(void *arg, const struct sched_history *h)
{
	struct sched_history *out = arg;

	for (int i = 0; i < 8; i++)
		if (out[i].name == NULL) {
			out[i] = *h;
			out[i].name = strdup(h->name);
			out[i].addr = strdup(h->addr);
			out[i].platform = strdup(h->platform);
			return 0;
		}
	return -ENOSPC;
}

static void
free_rows(struct sched_history *rows)
{
	for (int i = 0; i < 8; i++) {
		free((char *)rows[i].name);
		free((char *)rows[i].addr);
		free((char *)rows[i].platform);
	}
}

/* The fair-share function alone */

#define ANY SCHED_WANT_ANY

static const struct share_case {
	const char *what;
	uint32_t pool;
	uint32_t n;
	uint32_t want[6];
	uint32_t grant[6];
} share_cases[] = {
	{"no builds", 10, 0, {0}, {0}},
	{"1 build, demand unknown: all of it", 10, 1, {ANY}, {10}},
	{"1 build, demand below the pool", 10, 1, {4}, {4}},
	{"1 build, no node", 0, 1, {ANY}, {0}},
	{"2 equal builds", 10, 2, {ANY, ANY}, {5, 5}},
	{"2 equal builds, odd pool: the older gets the extra", 11, 2,
	 {ANY, ANY}, {6, 5}},
	{"2 equal demands above the pool", 10, 2, {8, 8}, {5, 5}},
	{"unequal demands, both above the share", 12, 2, {20, 9}, {6, 6}},
	{"unequal demands, one below the share", 12, 2, {20, 4}, {8, 4}},
	{"demand below the share: the rest to the other", 12, 2, {2, ANY},
	 {2, 10}},
	{"demand below the share, three builds", 12, 3, {1, 3, ANY},
	 {1, 3, 8}},
	{"every demand met: slots left over", 20, 3, {2, 3, 4}, {2, 3, 4}},
	{"no demand, no slots", 10, 3, {0, ANY, ANY}, {0, 5, 5}},
	{"more builds than slots: one each, oldest first", 2, 5,
	 {ANY, ANY, ANY, ANY, ANY}, {1, 1, 0, 0, 0}},
	{"the remainder skips satisfied builds", 10, 4, {1, ANY, ANY, ANY},
	 {1, 3, 3, 3}},
	{"nodes joined: pool 4 -> 40", 40, 3, {5, ANY, ANY}, {5, 18, 17}},
	{"nodes left: pool 40 -> 4", 4, 3, {5, ANY, ANY}, {2, 1, 1}},
	{"nodes left: pool 0", 0, 3, {5, ANY, ANY}, {0, 0, 0}},
};

TEST(sched_fair_share_table)
{
	for (size_t c = 0; c < sizeof(share_cases) / sizeof(share_cases[0]);
	     c++) {
		const struct share_case *k = &share_cases[c];
		uint32_t g[6];

		sched_fair_share(k->pool, k->want, k->n, g);
		for (uint32_t i = 0; i < k->n; i++)
			if (g[i] != k->grant[i])
				tap_fail(__FILE__, __LINE__,
					 "%s: build %u got %u, expected %u",
					 k->what, i, g[i], k->grant[i]);
	}
}

TEST(sched_fair_share_properties)
{
	srand(7);
	for (int round = 0; round < 20000; round++) {
		uint32_t n = (uint32_t)(rand() % 9),
			 pool = (uint32_t)(rand() % 70);
		uint32_t want[8], g[8], sum = 0, lowest_unmet = ANY;

		for (uint32_t i = 0; i < n; i++)
			want[i] = rand() % 4 == 0 ? ANY
						  : (uint32_t)(rand() % 20);
		sched_fair_share(pool, want, n, g);
		for (uint32_t i = 0; i < n; i++) {
			ASSERT_TRUE(g[i] <= want[i]);
			sum += g[i];
			if (g[i] < want[i] && g[i] < lowest_unmet)
				lowest_unmet = g[i];
		}
		/* Never more than the pool; nothing left over while a build
		 * wants more. */
		ASSERT_TRUE(sum <= pool);
		if (lowest_unmet != ANY)
			ASSERT_EQ_INT(sum, pool);
		/* Max-min: a build short of its demand has at least what any
		 * other has, less the one slot of an uneven split. */
		for (uint32_t i = 0; i < n; i++)
			if (lowest_unmet != ANY)
				ASSERT_TRUE(g[i] <= lowest_unmet + 1);
	}
}


/* Grants in the state */

TEST(sched_grants_follow_demand)
{
	struct sched *s = mk();
	int b1c, b2c, b3c, nc;
	struct sched_build *b1, *b2, *b3;
	struct sched_node *n;
	uint64_t mono = T0_MONO, t[8];
	int64_t wall = T0_WALL;

	n = known_node(s, "n", 10, 100, &nc);
	/* A build whose demand is unknown starts with all it can get. */
	b1 = build(s, &b1c);
	ASSERT_EQ_INT(last_grant(&b1c), 10);
	for (int i = 0; i < 3; i++)
		place(s, b1, (uint64_t)i, &t[i]);
	/* A whole window below its grant: it keeps what it used plus
	 * room to show it wants more, not slots it cannot use. */
	advance(s, &mono, &wall, SCHED_DEMAND_WINDOW_MS, &n, 1);
	sched_sweep(s);
	CHECK(s);
	ASSERT_EQ_INT(last_grant(&b1c), 4);
	ASSERT_EQ_INT(status_num(s, "\"id\":1", "demand"), 4);

	/* A new build gets the rest at once: its demand is unknown. */
	b2 = build(s, &b2c);
	ASSERT_EQ_INT(last_grant(&b2c), 6);
	ASSERT_EQ_INT(last_grant(&b1c), 4);
	ASSERT_EQ_INT(status_num(s, "\"id\":2", "demand"), -1);

	/* b1 uses its whole grant: it may want more, and the two share. */
	place(s, b1, 3, &t[3]);
	ASSERT_EQ_INT(last_grant(&b1c), 5);
	ASSERT_EQ_INT(last_grant(&b2c), 5);

	/* A build that says how much it can use gets no more than that,
	 * and the other gets what it leaves. */
	sched_build_demand(s, b2, 2);
	ASSERT_EQ_INT(last_grant(&b2c), 2);
	ASSERT_EQ_INT(last_grant(&b1c), 8);
	sched_build_demand(s, b2, 0);
	ASSERT_EQ_INT(last_grant(&b2c), 0);
	ASSERT_EQ_INT(last_grant(&b1c), 10);
	CHECK(s);
	/* Whatever it said, what it runs counts. */
	place(s, b2, 100, NULL);
	ASSERT_EQ_INT(status_num(s, "\"id\":2", "demand"), 1);
	ASSERT_EQ_INT(last_grant(&b2c), 1);
	ASSERT_EQ_INT(last_grant(&b1c), 9);
	/* Back to unknown: a full share again. */
	sched_build_demand(s, b2, DM_DEMAND_UNKNOWN);
	ASSERT_EQ_INT(last_grant(&b2c), 5);
	ASSERT_EQ_INT(last_grant(&b1c), 5);

	/* A third build with no demand yet still gets a share to start. */
	b3 = build(s, &b3c);
	ASSERT_GE_INT(last_grant(&b3c), 3);
	ASSERT_EQ_INT(sched_build_id(b3), 3);
	CHECK(s);
	sched_free(s);
}

TEST(sched_grant_shrinks_when_idle_and_holds_when_busy)
{
	struct sched *s = mk();
	int bc, nc, grants;
	struct sched_build *b;
	struct sched_node *n;
	uint64_t mono = T0_MONO, t[8];
	int64_t wall = T0_WALL;

	n = known_node(s, "n", 10, 100, &nc);
	b = build(s, &bc);
	for (int i = 0; i < 6; i++)
		place(s, b, (uint64_t)i, &t[i]);
	advance(s, &mono, &wall, SCHED_DEMAND_WINDOW_MS, &n, 1);
	sched_sweep(s);
	ASSERT_EQ_INT(last_grant(&bc), 7); /* 6 used, + 1 of room */
	/* Steady use: no GRANT churn window after window. */
	grants = count(EV_GRANT);
	for (int w = 0; w < 5; w++) {
		advance(s, &mono, &wall, SCHED_DEMAND_WINDOW_MS, &n, 1);
		sched_sweep(s);
	}
	ASSERT_EQ_INT(count(EV_GRANT), grants);
	/* Using the whole grant brings the whole pool back at once. */
	place(s, b, 6, &t[6]);
	ASSERT_EQ_INT(last_grant(&bc), 10);
	/* Everything ends: one window later the build still had its full
	 * grant in use during the last one; the window after, it is idle
	 * and keeps one slot, to start again. */
	for (int i = 0; i < 7; i++)
		ASSERT_OK(sched_job_end(s, b, t[i], DM_JOB_OK, 10, 1000000));
	advance(s, &mono, &wall, SCHED_DEMAND_WINDOW_MS, &n, 1);
	sched_sweep(s);
	ASSERT_EQ_INT(last_grant(&bc), 10);
	advance(s, &mono, &wall, SCHED_DEMAND_WINDOW_MS, &n, 1);
	sched_sweep(s);
	ASSERT_EQ_INT(last_grant(&bc), 1);
	/* Starting again: use reaches the grant, the pool comes back. */
	place(s, b, 7, NULL);
	ASSERT_EQ_INT(last_grant(&bc), 10);
	CHECK(s);
	sched_free(s);
}

TEST(sched_grants_follow_nodes_and_builds)
{
	struct sched *s = mk();
	int b1c, b2c, b3c, n1c, n2c;
	struct sched_build *b1, *b2, *b3;
	struct sched_node *n2;

	/* No node yet: the first GRANT still goes out, with 0. */
	b1 = build(s, &b1c);
	ASSERT_EQ_INT(nev, 1);
	ASSERT_EQ_INT(last_grant(&b1c), 0);
	ASSERT_EQ_INT(evs[0].a, sched_build_id(b1));

	node(s, "n1", 4, "abc gcc 12", &n1c);
	ASSERT_EQ_INT(last_grant(&b1c), 4);
	n2 = node(s, "n2", 3, "abc gcc 12", &n2c);
	ASSERT_EQ_INT(last_grant(&b1c), 7);

	b2 = build(s, &b2c);
	ASSERT_EQ_INT(last_grant(&b1c), 4); /* the oldest gets the extra */
	ASSERT_EQ_INT(last_grant(&b2c), 3);
	b3 = build(s, &b3c);
	ASSERT_EQ_INT(last_grant(&b1c), 3);
	ASSERT_EQ_INT(last_grant(&b2c), 2);
	ASSERT_EQ_INT(last_grant(&b3c), 2);

	/* Unchanged grants are not sent again. */
	nev = 0;
	sched_node_seen(s, n2);
	sched_sweep(s);
	ASSERT_EQ_INT(nev, 0);

	sched_node_drop(s, n2, "test");
	ASSERT_EQ_INT(last_grant(&b1c), 2);
	ASSERT_EQ_INT(last_grant(&b2c), 1);
	ASSERT_EQ_INT(last_grant(&b3c), 1);

	nev = 0;
	sched_build_leave(s, b1);
	ASSERT_EQ_INT(last_grant(&b2c), 2);
	ASSERT_EQ_INT(last_grant(&b3c), 2);
	ASSERT_EQ_INT(last_grant(&b1c), -1); /* nothing to a gone build */
	sched_build_leave(s, b2);
	ASSERT_EQ_INT(last_grant(&b3c), 4);
	sched_build_leave(s, b3);
	CHECK(s);
	sched_free(s);
}

/* Placement */

TEST(sched_place_prefers_faster_nodes)
{
	struct sched *s = mk();
	int bc, fc, sc;
	struct sched_build *b;

	known_node(s, "slow", 4, 300, &sc);
	known_node(s, "fast", 4, 100, &fc);
	b = build(s, &bc);
	/* Even three quarters full, the fast node beats the idle slow
	 * one; full, it has to give way. */
	for (int i = 0; i < 4; i++)
		ASSERT_EQ_STR(place(s, b, (uint64_t)i, NULL), "fast");
	for (int i = 4; i < 8; i++)
		ASSERT_EQ_STR(place(s, b, (uint64_t)i, NULL), "slow");
	sched_free(s);
}

TEST(sched_place_spreads_over_similar_nodes)
{
	struct sched *s = mk();
	int bc, ac, cc;
	struct sched_build *b;
	int on_a = 0;

	known_node(s, "a", 4, 100, &ac);
	known_node(s, "b", 4, 110, &cc);
	b = build(s, &bc);
	/* 10% apart: the load decides, not the join order. */
	ASSERT_EQ_STR(place(s, b, 0, NULL), "a");
	ASSERT_EQ_STR(place(s, b, 1, NULL), "b");
	for (int i = 2; i < 4; i++)
		on_a += strcmp(place(s, b, (uint64_t)i, NULL), "a") == 0;
	ASSERT_EQ_INT(on_a, 1);
	sched_free(s);
}

TEST(sched_place_spreads_relative_to_slots)
{
	struct sched *s = mk();
	int bc, n1c, n2c;
	struct sched_build *b;
	uint32_t used_small = 0, used_big = 0;

	known_node(s, "small", 2, 100, &n1c);
	known_node(s, "big", 8, 100, &n2c);
	b = build(s, &bc);
	/* Equal speed: each job goes to the node with the lowest share of
	 * its slots in use (ties to the older node), so both fill at the
	 * same pace and neither is filled first. */
	for (int i = 0; i < 10; i++) {
		double rs = (double)used_small / 2, rb = (double)used_big / 8;
		const char *on = place(s, b, (uint64_t)i, NULL);

		if (strcmp(on, "small") == 0) {
			ASSERT_TRUE(rs <= rb);
			used_small++;
		} else {
			ASSERT_TRUE(rb < rs);
			used_big++;
		}
	}
	ASSERT_EQ_INT(used_small, 2);
	ASSERT_EQ_INT(used_big, 8);
	ASSERT_EQ_INT(status_num(s, "\"name\":\"big\"", "running"), 8);
	ASSERT_EQ_INT(status_num(s, "\"name\":\"big\"", "slots"), 8);
	sched_free(s);
}

TEST(sched_place_honours_slots)
{
	struct sched *s = mk();
	int bc, n1c, n2c;
	struct sched_build *b;

	known_node(s, "a", 2, 100, &n1c);
	known_node(s, "b", 1, 500, &n2c);
	b = build(s, &bc);
	nev = 0;
	for (int i = 0; i < 6; i++) {
		ASSERT_OK(sched_place(s, b, (uint64_t)i, "abc", 0));
		CHECK(s);
	}
	/* Three slots, three jobs; the rest wait, none fails. */
	ASSERT_EQ_INT(count(EV_PLACED), 3);
	ASSERT_EQ_INT(count(EV_FAIL), 0);
	ASSERT_EQ_INT(status_num(s, "\"name\":\"a\"", "running"), 2);
	ASSERT_EQ_INT(status_num(s, "\"name\":\"b\"", "running"), 1);
	ASSERT_EQ_INT(status_num(s, "\"id\":1", "queued"), 3);
	sched_free(s);
}

TEST(sched_place_explores_new_and_stale_nodes)
{
	struct sched *s = mk();
	int bc, oc, nc;
	struct sched_build *b;
	struct sched_node *nodes[2];
	uint64_t mono = T0_MONO, t[16];
	int64_t wall = T0_WALL;

	nodes[0] = known_node(s, "old", 4, 100, &oc);
	nodes[1] = node(s, "new", 4, "abc gcc 12", &nc);
	b = build(s, &bc);
	/* The new node gets a probe job first, though the old one is
	 * known to be fast... */
	ASSERT_EQ_STR(place(s, b, 0, &t[0]), "new");
	ASSERT_EQ_INT(status_num(s, "\"name\":\"new\"", "ms_per_mb"), -1);
	/* ...and one probe at a time. */
	ASSERT_EQ_STR(place(s, b, 1, &t[1]), "old");
	/* The probe comes back slow (400 ms per MB); the next probe goes
	 * out at once, until the node has enough jobs behind it. */
	ASSERT_OK(sched_job_end(s, b, t[0], DM_JOB_OK, 400, 1000000));
	ASSERT_EQ_STR(place(s, b, 2, &t[2]), "new");
	ASSERT_OK(sched_job_end(s, b, t[2], DM_JOB_OK, 400, 1000000));
	ASSERT_EQ_STR(place(s, b, 3, &t[3]), "new");
	ASSERT_OK(sched_job_end(s, b, t[3], DM_JOB_OK, 400, 1000000));
	ASSERT_EQ_INT(status_num(s, "\"name\":\"new\"", "ms_per_mb"), 400);
	/* Measured and slow: it now gets jobs only when old is full. */
	ASSERT_EQ_STR(place(s, b, 4, &t[4]), "old");
	ASSERT_EQ_STR(place(s, b, 5, &t[5]), "old");
	ASSERT_EQ_STR(place(s, b, 6, &t[6]), "old");
	ASSERT_EQ_STR(place(s, b, 7, &t[7]), "new");
	for (int i = 1; i < 8; i++)
		if (i != 2 && i != 3)
			ASSERT_OK(sched_job_end(s, b, t[i], DM_JOB_OK, 0, 0));

	/* Half an hour without a job: both are measured again, one probe
	 * each, before any other placement. */
	advance(s, &mono, &wall, (SCHED_SPEED_STALE_S + 1) * 1000ull, nodes,
		2);
	sched_sweep(s);
	ASSERT_EQ_STR(place(s, b, 8, &t[8]), "old");
	ASSERT_EQ_STR(place(s, b, 9, &t[9]), "new");
	/* A fresh probe result counts for a lot after a long gap: new got
	 * 4x faster (100 ms per MB). */
	ASSERT_OK(sched_job_end(s, b, t[9], DM_JOB_OK, 100, 1000000));
	ASSERT_TRUE(status_num(s, "\"name\":\"new\"", "ms_per_mb") < 350);
	CHECK(s);
	sched_free(s);
}

TEST(sched_speed_follows_recent_jobs)
{
	struct sched *s = mk();
	int bc, nc;
	struct sched_build *b;
	uint64_t mono = T0_MONO, t;
	int64_t wall = T0_WALL;
	struct sched_node *n;
	double prev, v;

	n = node(s, "a", 1, "abc gcc 12", &nc);
	b = build(s, &bc);
	/* Jobs of other sizes, the same rate: 250 ms per MB. */
	for (int i = 0; i < 10; i++) {
		place(s, b, (uint64_t)i, &t);
		ASSERT_OK(sched_job_end(s, b, t, DM_JOB_OK, 250u * (i + 1),
					1000000ull * (i + 1)));
	}
	ASSERT_EQ_INT(status_num(s, "\"name\":\"a\"", "ms_per_mb"), 250);
	/* Compile errors, failures and abandoned jobs say nothing about
	 * speed. */
	place(s, b, 10, &t);
	ASSERT_OK(sched_job_end(s, b, t, DM_JOB_COMPILE_ERROR, 1, 1000000));
	place(s, b, 11, &t);
	ASSERT_OK(sched_job_end(s, b, t, DM_JOB_ABANDONED, 1, 1000000));
	ASSERT_EQ_INT(status_num(s, "\"name\":\"a\"", "ms_per_mb"), 250);
	/* The node slows down to 500: the estimate follows, step by step,
	 * and ends up there: old history fades. */
	prev = 250;
	for (int i = 0; i < 400; i++) {
		advance(s, &mono, &wall, 1000, &n, 1);
		place(s, b, (uint64_t)(100 + i), &t);
		ASSERT_OK(sched_job_end(s, b, t, DM_JOB_OK, 500, 1000000));
		v = status_num(s, "\"name\":\"a\"", "ms_per_mb");
		ASSERT_TRUE(v >= prev);
		prev = v;
	}
	ASSERT_TRUE(prev > 495 && prev <= 500);
	sched_free(s);
}

TEST(sched_speed_survives_restart)
{
	struct sched *s = mk();
	struct sched_history rows[8] = {{0}};
	int bc, ac, cc;
	struct sched_build *b;
	uint64_t t;

	node(s, "a", 4, "abc gcc 12", &ac);
	node(s, "b", 4, "abc gcc 12", &cc);
	b = build(s, &bc);
	/* Probes measure both: a at 100, b at 300 ms per MB. */
	for (int i = 0; i < 2 * SCHED_SPEED_MIN_JOBS; i++) {
		const char *on = place(s, b, (uint64_t)i, &t);

		ASSERT_OK(sched_job_end(s, b, t, DM_JOB_OK,
					strcmp(on, "a") == 0 ? 100 : 300,
					1000000));
	}
	ASSERT_EQ_INT(status_num(s, "\"name\":\"a\"", "ms_per_mb"), 100);
	ASSERT_EQ_INT(status_num(s, "\"name\":\"b\"", "ms_per_mb"), 300);
	ASSERT_OK(sched_history_flush(s, collect, rows));
	sched_free(s);

	/* A new scheduler, the history read back, b joining first: a is
	 * preferred at once and neither is probed. */
	s = mk();
	for (int i = 0; i < 8 && rows[i].name != NULL; i++)
		ASSERT_OK(sched_history_load(s, &rows[i]));
	node(s, "b", 4, "abc gcc 12", &cc);
	node(s, "a", 4, "abc gcc 12", &ac);
	b = build(s, &bc);
	ASSERT_EQ_STR(place(s, b, 0, NULL), "a");
	ASSERT_EQ_STR(place(s, b, 1, NULL), "a");
	ASSERT_EQ_INT(status_num(s, "\"name\":\"b\"", "ms_per_mb"), 300);
	sched_free(s);
	free_rows(rows);
}

TEST(sched_backoff_after_infra_failures)
{
	struct sched *s = mk();
	int bc, ac, cc;
	struct sched_build *b;
	struct sched_node *alive[2];
	uint64_t mono = T0_MONO, t[8], tc;
	int64_t wall = T0_WALL;

	alive[0] = known_node(s, "a", 2, 100, &ac);
	alive[1] = known_node(s, "c", 1, 1000, &cc);
	b = build(s, &bc);
	ASSERT_EQ_INT(last_grant(&bc), 3);
	ASSERT_EQ_STR(place(s, b, 0, &t[0]), "a");
	ASSERT_EQ_STR(place(s, b, 1, &t[1]), "a");
	ASSERT_EQ_STR(place(s, b, 2, &tc), "c");
	/* Two jobs fail on a at once: one back-off of the base length,
	 * not two in a row. */
	ASSERT_OK(sched_job_end(s, b, t[0], DM_JOB_INFRA, 0, 0));
	ASSERT_EQ_INT(status_num(s, "\"name\":\"a\"", "backoff_ms"),
		      SCHED_BACKOFF_MS);
	ASSERT_EQ_INT(last_grant(&bc), 1); /* its slots leave the pool */
	ASSERT_OK(sched_job_end(s, b, t[1], DM_JOB_INFRA, 0, 0));
	ASSERT_EQ_INT(status_num(s, "\"name\":\"a\"", "backoff_ms"),
		      SCHED_BACKOFF_MS);
	/* Meanwhile a PLACE waits for c rather than going to a. */
	nev = 0;
	ASSERT_OK(sched_place(s, b, 3, "abc", 0));
	ASSERT_EQ_INT(nev, 0);
	CHECK(s);
	advance(s, &mono, &wall, SCHED_BACKOFF_MS - 1, alive, 2);
	sched_sweep(s);
	ASSERT_EQ_INT(count(EV_PLACED), 0);
	advance(s, &mono, &wall, 1, alive, 2);
	sched_sweep(s);
	ASSERT_EQ_STR(placed_ev(3)->s, "a");
	t[3] = placed_ev(3)->b;
	ASSERT_EQ_INT(last_grant(&bc), 3);
	/* It fails again: twice as long. */
	ASSERT_OK(sched_job_end(s, b, t[3], DM_JOB_INFRA, 0, 0));
	ASSERT_EQ_INT(status_num(s, "\"name\":\"a\"", "backoff_ms"),
		      2 * SCHED_BACKOFF_MS);
	advance(s, &mono, &wall, SCHED_BACKOFF_MS, alive, 2);
	sched_sweep(s);
	ASSERT_EQ_INT(status_num(s, "\"name\":\"a\"", "backoff_ms"),
		      SCHED_BACKOFF_MS);
	/* Leaving and registering again does not reset it. */
	sched_node_drop(s, alive[0], "test");
	alive[0] = known_node(s, "a", 2, 100, &ac);
	ASSERT_EQ_INT(status_num(s, "\"name\":\"a\"", "backoff_ms"),
		      SCHED_BACKOFF_MS);
	CHECK(s);
	advance(s, &mono, &wall, SCHED_BACKOFF_MS, alive, 2);
	sched_sweep(s);
	/* A good job ends the streak: the next failure starts over. */
	ASSERT_EQ_STR(place(s, b, 4, &t[4]), "a");
	ASSERT_OK(sched_job_end(s, b, t[4], DM_JOB_OK, 100, 1000000));
	ASSERT_EQ_STR(place(s, b, 5, &t[5]), "a");
	ASSERT_OK(sched_job_end(s, b, t[5], DM_JOB_INFRA, 0, 0));
	ASSERT_EQ_INT(status_num(s, "\"name\":\"a\"", "backoff_ms"),
		      SCHED_BACKOFF_MS);
	CHECK(s);

	/* With c gone, no node can take the toolchain for a while: a
	 * waiting request and a new one fail at once (the build compiles
	 * locally) instead of waiting out the back-off. */
	ASSERT_OK(sched_job_end(s, b, tc, DM_JOB_OK, 1000, 1000000));
	sched_node_drop(s, alive[1], "test");
	advance(s, &mono, &wall, SCHED_BACKOFF_MS, alive, 1);
	sched_sweep(s);
	ASSERT_EQ_STR(place(s, b, 6, &t[6]), "a");
	ASSERT_EQ_STR(place(s, b, 7, &t[7]), "a");
	nev = 0;
	ASSERT_OK(sched_place(s, b, 8, "abc", 0)); /* waits for a */
	ASSERT_EQ_INT(nev, 0);
	ASSERT_OK(sched_job_end(s, b, t[6], DM_JOB_INFRA, 0, 0));
	ASSERT_EQ_INT(count(EV_FAIL), 1);
	ASSERT_EQ_INT(evs[0].a, 8);
	ASSERT_EQ_STR(evs[0].s, "the 1 nodes with toolchain abc are backed "
				"off after failures or have no slots");
	ASSERT_OK(sched_place(s, b, 9, "abc", 0));
	ASSERT_EQ_INT(count(EV_FAIL), 2);
	CHECK(s);
	/* The second failure in a row; once over, placements resume. */
	ASSERT_EQ_INT(status_num(s, "\"name\":\"a\"", "backoff_ms"),
		      2 * SCHED_BACKOFF_MS);
	advance(s, &mono, &wall, 2 * SCHED_BACKOFF_MS, alive, 1);
	sched_sweep(s);
	ASSERT_EQ_STR(place(s, b, 10, NULL), "a");
	sched_free(s);
}

TEST(sched_backoff_is_capped)
{
	struct sched *s = mk();
	int bc, ac;
	struct sched_build *b;
	struct sched_node *a;
	uint64_t mono = T0_MONO, t;
	int64_t wall = T0_WALL;

	a = known_node(s, "a", 1, 100, &ac);
	b = build(s, &bc);
	for (int i = 0; i < 30; i++) {
		place(s, b, (uint64_t)i, &t);
		ASSERT_OK(sched_job_end(s, b, t, DM_JOB_INFRA, 0, 0));
		ASSERT_TRUE(status_num(s, "\"name\":\"a\"", "backoff_ms") <=
			    SCHED_BACKOFF_MAX_MS);
		advance(s, &mono, &wall, SCHED_BACKOFF_MAX_MS, &a, 1);
		sched_sweep(s);
	}
	sched_free(s);
}

TEST(sched_queue_serves_builds_below_grant_first)
{
	struct sched *s = mk();
	int bc, b2c, nc;
	struct sched_build *b, *b2;
	uint64_t t1, t2;

	known_node(s, "n", 2, 100, &nc);
	b = build(s, &bc);
	b2 = build(s, &b2c);
	ASSERT_EQ_INT(last_grant(&bc), 1);
	ASSERT_EQ_INT(last_grant(&b2c), 1);
	nev = 0;
	/* b runs past its grant while nobody else asks. */
	place(s, b, 1, &t1);
	place(s, b, 2, &t2);
	/* Full: queued, no answer yet. */
	ASSERT_OK(sched_place(s, b, 3, "abc", 0));
	ASSERT_OK(sched_place(s, b2, 4, "abc", 0));
	ASSERT_OK(sched_place(s, b, 5, "abc", 0));
	ASSERT_EQ_INT(count(EV_PLACED), 2);
	CHECK(s);

	/* The freed slot goes to b2, which runs nothing of its grant,
	 * though b's request is older. */
	ASSERT_OK(sched_job_end(s, b, t1, DM_JOB_OK, 10, 100));
	ASSERT_TRUE(placed_ev(4)->ctx == &b2c);

	/* A JOB_END for a ticket of another build changes nothing. */
	nev = 0;
	ASSERT_EQ_INT(sched_job_end(s, b2, t2, DM_JOB_OK, 0, 0), -ENOENT);
	ASSERT_EQ_INT(nev, 0);
	/* Nor does one for a ticket already ended. */
	ASSERT_EQ_INT(sched_job_end(s, b, t1, DM_JOB_OK, 0, 0), -ENOENT);

	/* Both at their grant now: the oldest request first. */
	ASSERT_OK(sched_job_end(s, b, t2, DM_JOB_COMPILE_ERROR, 10, 100));
	ASSERT_TRUE(placed_ev(3)->ctx == &bc);
	CHECK(s);

	/* A build that leaves takes its queued requests along: request 5
	 * is never answered, and its slots go back. */
	sched_build_leave(s, b);
	CHECK(s);
	nev = 0;
	place(s, b2, 6, NULL);
	ASSERT_EQ_INT(count(EV_PLACED), 1);
	sched_free(s);
}

TEST(sched_place_spreads_over_nodes)
{
	struct sched *s = mk();
	int bc, n1c, n2c;
	struct sched_build *b;
	int on_a = 0, on_b = 0;

	node(s, "a", 4, "abc gcc 12", &n1c);
	node(s, "b", 4, "abc gcc 12", &n2c);
	b = build(s, &bc);
	nev = 0;
	for (int i = 0; i < 4; i++)
		ASSERT_OK(sched_place(s, b, 100 + i, "abc", 10));
	ASSERT_EQ_INT(count(EV_PLACED), 4);
	for (int i = 0; i < nev; i++) {
		on_a += strcmp(evs[i].s, "a") == 0;
		on_b += strcmp(evs[i].s, "b") == 0;
		ASSERT_EQ_INT(evs[i].a, 100 + i);
		for (int j = 0; j < i; j++)
			ASSERT_TRUE(evs[i].b != evs[j].b); /* unique tickets */
	}
	/* Not "fill a, then b": two each. */
	ASSERT_EQ_INT(on_a, 2);
	ASSERT_EQ_INT(on_b, 2);
	/* The first two went to different nodes. */
	ASSERT_TRUE(strcmp(evs[0].s, evs[1].s) != 0);
	sched_free(s);
}
TEST(sched_place_matches_toolchain_id)
{
	struct sched *s = mk();
	int bc, n1c, n2c;
	struct sched_build *b;

	node(s, "gcc", 4, "abc gcc 12", &n1c);
	node(s, "clang", 4, "def clang 14", &n2c);
	b = build(s, &bc);
	nev = 0;
	ASSERT_OK(sched_place(s, b, 1, "def", 0));
	ASSERT_OK(sched_place(s, b, 2, "abc", 0));
	ASSERT_OK(sched_place(s, b, 3, "zzz", 0)); /* both have it */
	ASSERT_EQ_INT(count(EV_PLACED), 3);
	ASSERT_EQ_STR(evs[0].s, "clang");
	ASSERT_EQ_STR(evs[1].s, "gcc");
	/* The ID is the whole first word, not a prefix. */
	ASSERT_OK(sched_place(s, b, 4, "ab", 0));
	ASSERT_OK(sched_place(s, b, 5, "abc gcc 12", 0));
	ASSERT_EQ_INT(count(EV_FAIL), 2);
	sched_free(s);
}
TEST(sched_unknown_toolchain_fails_at_once)
{
	struct sched *s = mk();
	int bc, nc;
	struct sched_build *b;

	b = build(s, &bc);
	nev = 0;
	ASSERT_OK(sched_place(s, b, 7, "abc", 0));
	ASSERT_EQ_INT(nev, 1);
	ASSERT_EQ_INT(evs[0].kind, EV_FAIL);
	ASSERT_EQ_INT(evs[0].a, 7);
	ASSERT_EQ_INT(evs[0].b, -DM_ENOSLOT);
	ASSERT_EQ_STR(evs[0].s,
		      "no node has toolchain abc (0 nodes connected)");

	node(s, "n", 2, "abc gcc 12", &nc);
	nev = 0;
	ASSERT_OK(sched_place(s, b, 8,
			      "0123456789abcdef0123456789abcdef", 0));
	ASSERT_EQ_INT(evs[0].kind, EV_FAIL);
	/* A long id is shortened for humans. */
	ASSERT_EQ_STR(evs[0].s,
		      "no node has toolchain 0123456789abcdef\xe2\x80\xa6"
		      " (1 nodes connected)");
	sched_free(s);
}
TEST(sched_new_node_serves_queue)
{
	struct sched *s = mk();
	int bc, n1c, n2c, n3c;
	struct sched_build *b;

	node(s, "n1", 1, "abc gcc 12", &n1c);
	b = build(s, &bc);
	nev = 0;
	ASSERT_OK(sched_place(s, b, 1, "abc", 0));
	ASSERT_OK(sched_place(s, b, 2, "abc", 0));
	ASSERT_OK(sched_place(s, b, 3, "abc", 0));
	ASSERT_EQ_INT(count(EV_PLACED), 1);
	/* A node without the toolchain does not help. */
	node(s, "other", 4, "def clang 14", &n3c);
	ASSERT_EQ_INT(count(EV_PLACED), 1);
	node(s, "n2", 1, "abc gcc 12", &n2c);
	ASSERT_EQ_INT(count(EV_PLACED), 2);
	for (int i = 0; i < nev; i++)
		if (evs[i].kind == EV_PLACED && evs[i].a == 2)
			ASSERT_EQ_STR(evs[i].s, "n2");
	sched_free(s);
}
TEST(sched_node_drop_forgets_tickets)
{
	struct sched *s = mk();
	int bc, n1c, n2c;
	struct sched_build *b;
	struct sched_node *n1;
	uint64_t t;

	n1 = node(s, "n1", 1, "abc gcc 12", &n1c);
	b = build(s, &bc);
	nev = 0;
	ASSERT_OK(sched_place(s, b, 1, "abc", 0));
	t = evs[0].b;
	ASSERT_OK(sched_place(s, b, 2, "abc", 0)); /* queued */
	ASSERT_EQ_INT(nev, 1);
	/* The last node with the toolchain goes: the queued request is
	 * answered with PLACE_FAIL rather than left waiting for ever. */
	sched_node_drop(s, n1, "test");
	ASSERT_EQ_INT(count(EV_FAIL), 1);
	ASSERT_EQ_INT(last_grant(&bc), 0);
	/* Its ticket is gone with it. */
	ASSERT_EQ_INT(sched_job_end(s, b, t, DM_JOB_OK, 0, 0), -ENOENT);

	/* Re-registering under the same name replaces the old entry and
	 * tells the server to close the old connection. */
	node(s, "n2", 2, "abc gcc 12", &n1c);
	nev = 0;
	node(s, "n2", 3, "abc gcc 12", &n2c);
	ASSERT_EQ_INT(count(EV_GONE), 1);
	ASSERT_TRUE(evs[0].ctx == &n1c);
	ASSERT_EQ_INT(last_grant(&bc), 3);
	sched_free(s);
}
TEST(sched_register_rejects_nonsense)
{
	struct sched *s = mk();
	struct sched_node *n;
	char *tcs[] = {"abc gcc 12", "", " x y"};
	int c;

	ASSERT_EQ_INT(sched_node_register(s, "", "a:1", "p", 1, tcs, 1, &c,
					  &n),
		      -EINVAL);
	ASSERT_EQ_INT(sched_node_register(s, "n", "a:1", "p",
					  SCHED_SLOTS_MAX + 1, tcs, 1, &c, &n),
		      -EINVAL);
	/* Empty toolchain entries are skipped, not matched. */
	ASSERT_OK(sched_node_register(s, "n", "a:1", "p", 1, tcs, 3, &c, &n));
	ASSERT_OK(sched_node_register(s, "n0", "a:1", "p", 0, tcs, 0, &c,
				      &n));
	sched_free(s);
}

TEST(sched_sweep_drops_silent_nodes_and_old_tickets)
{
	struct sched *s = mk();
	int bc, n1c, n2c;
	struct sched_build *b;
	struct sched_node *n1;

	n1 = node(s, "n1", 2, "abc gcc 12", &n1c);
	node(s, "n2", 2, "abc gcc 12", &n2c);
	b = build(s, &bc);
	ASSERT_EQ_INT(last_grant(&bc), 4);
	/* It says it can use more than there is, so its grant follows the
	 * nodes alone here. */
	sched_build_demand(s, b, 100);

	/* n1 keeps talking, n2 goes quiet. */
	sched_set_clock(s, T0_MONO + SCHED_NODE_TIMEOUT_MS, T0_WALL + 5);
	sched_node_seen(s, n1);
	nev = 0;
	sched_sweep(s);
	ASSERT_EQ_INT(nev, 0); /* exactly at the limit: still alive */
	sched_set_clock(s, T0_MONO + SCHED_NODE_TIMEOUT_MS + 1, T0_WALL + 6);
	sched_sweep(s);
	ASSERT_EQ_INT(count(EV_GONE), 1);
	ASSERT_TRUE(evs[0].ctx == &n2c);
	ASSERT_EQ_INT(last_grant(&bc), 2);

	/* A ticket nobody ends is taken back after its deadline. */
	sched_node_seen(s, n1);
	nev = 0;
	ASSERT_OK(sched_place(s, b, 1, "abc", 0));
	ASSERT_OK(sched_place(s, b, 2, "abc", 0));
	ASSERT_OK(sched_place(s, b, 3, "abc", 0)); /* queued */
	ASSERT_EQ_INT(count(EV_PLACED), 2);
	for (uint64_t t = 6000; t < 6000 + SCHED_TICKET_TTL_MS; t += 60000) {
		sched_set_clock(s, t, T0_WALL + (int64_t)(t / 1000));
		sched_node_seen(s, n1);
		sched_sweep(s);
	}
	ASSERT_EQ_INT(count(EV_PLACED), 2);
	sched_set_clock(s, 7000 + SCHED_TICKET_TTL_MS, T0_WALL + 1000);
	sched_node_seen(s, n1);
	sched_sweep(s);
	/* Both expired; the queued request got one of the slots. */
	ASSERT_EQ_INT(count(EV_PLACED), 3);
	ASSERT_EQ_INT(evs[nev - 1].a, 3);
	CHECK(s);
	sched_free(s);
}

TEST(sched_history_counts_jobs)
{
	struct sched *s = mk();
	struct sched_history rows[8] = {{0}};
	struct sched_history old = {
		.name = "n1", .addr = "a:1", .platform = "p", .slots = 2,
		.first_seen = 100, .last_seen = 200, .jobs_done = 40,
		.jobs_failed = 1, .cpu_ms = 5, .unit_bytes = 6};
	int bc, nc;
	struct sched_build *b;
	uint64_t t[3];

	ASSERT_OK(sched_history_load(s, &old));
	/* Loaded rows are clean. */
	ASSERT_OK(sched_history_flush(s, collect, rows));
	ASSERT_TRUE(rows[0].name == NULL);

	node(s, "n1", 3, "abc gcc 12", &nc);
	b = build(s, &bc);
	nev = 0;
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(sched_place(s, b, i, "abc", 0));
		t[i] = evs[i].b;
	}
	ASSERT_OK(sched_job_end(s, b, t[0], DM_JOB_OK, 100, 1000));
	ASSERT_OK(sched_job_end(s, b, t[1], DM_JOB_COMPILE_ERROR, 10, 10));
	ASSERT_OK(sched_job_end(s, b, t[2], DM_JOB_INFRA, 1, 1));
	ASSERT_OK(sched_history_flush(s, collect, rows));
	ASSERT_EQ_STR(rows[0].name, "n1");
	ASSERT_EQ_INT(rows[0].first_seen, 100); /* kept from the db */
	ASSERT_EQ_INT(rows[0].slots, 3);
	ASSERT_EQ_INT(rows[0].jobs_done, 42);
	ASSERT_EQ_INT(rows[0].jobs_failed, 2);
	ASSERT_EQ_INT(rows[0].cpu_ms, 116);
	ASSERT_EQ_INT(rows[0].unit_bytes, 1017);
	ASSERT_EQ_INT(rows[0].last_seen, T0_WALL);
	/* One job measured the speed: 100 ms for 1000 bytes. */
	ASSERT_EQ_INT(rows[0].speed_jobs, 1);
	ASSERT_EQ_INT(rows[0].speed_cpu_ms, 100);
	ASSERT_TRUE(rows[0].speed_mb == 0.001);
	ASSERT_EQ_INT(rows[0].speed_at, T0_WALL);
	/* Flushed rows are clean until the next change. */
	ASSERT_OK(sched_history_flush(s, collect, rows));
	ASSERT_TRUE(rows[1].name == NULL);
	sched_history_touch_all(s);
	ASSERT_OK(sched_history_flush(s, collect, rows));
	ASSERT_EQ_STR(rows[1].name, "n1");
	free_rows(rows);
	/* Nonsense from the database is not taken for a speed. */
	old.speed_cpu_ms = -1;
	old.speed_mb = 1;
	old.speed_jobs = 50;
	ASSERT_OK(sched_history_load(s, &old));
	ASSERT_EQ_INT(status_num(s, "\"name\":\"n1\"", "ms_per_mb"), -1);
	sched_free(s);
}

static int
put_row(void *db, const struct sched_history *h)
{
	return sched_db_put(db, h);
}

TEST(sched_db_keeps_speed_and_upgrades_old_tables)
{
	char path[512];
	struct sched_db *db;
	struct sched_history rows[8] = {{0}};
	struct sched_history h = {
		.name = "n1", .addr = "a:1", .platform = "p", .slots = 4,
		.first_seen = 1, .last_seen = 2, .jobs_done = 3,
		.jobs_failed = 4, .cpu_ms = 5, .unit_bytes = 6,
		.speed_cpu_ms = 1234.5, .speed_mb = 6.25, .speed_jobs = 17.75,
		.speed_at = 1700000123};
	sqlite3 *raw;

	/* A table as the first scheduler wrote it, with one row. */
	snprintf(path, sizeof(path), "%s/old.db", tap_tmpdir());
	ASSERT_EQ_INT(sqlite3_open(path, &raw), SQLITE_OK);
	ASSERT_EQ_INT(sqlite3_exec(raw,
				   "CREATE TABLE nodes(name TEXT PRIMARY KEY,"
				   " addr TEXT NOT NULL DEFAULT '',"
				   " platform TEXT NOT NULL DEFAULT '',"
				   " slots INTEGER NOT NULL DEFAULT 0,"
				   " first_seen INTEGER NOT NULL DEFAULT 0,"
				   " last_seen INTEGER NOT NULL DEFAULT 0,"
				   " jobs_done INTEGER NOT NULL DEFAULT 0,"
				   " jobs_failed INTEGER NOT NULL DEFAULT 0,"
				   " cpu_ms INTEGER NOT NULL DEFAULT 0,"
				   " unit_bytes INTEGER NOT NULL DEFAULT 0);"
				   "INSERT INTO nodes(name, jobs_done)"
				   " VALUES('old', 9);",
				   NULL, NULL, NULL),
		      SQLITE_OK);
	sqlite3_close(raw);

	ASSERT_OK(sched_db_open(path, &db));
	ASSERT_OK(sched_db_load(
		db, (int (*)(void *, const struct sched_history *))collect,
		rows));
	ASSERT_EQ_STR(rows[0].name, "old");
	ASSERT_EQ_INT(rows[0].jobs_done, 9);
	ASSERT_TRUE(rows[0].speed_jobs == 0 && rows[0].speed_at == 0);
	free_rows(rows);
	ASSERT_OK(sched_db_begin(db));
	ASSERT_OK(put_row(db, &h));
	ASSERT_OK(sched_db_commit(db));
	sched_db_close(db);

	/* Opened again (no second upgrade), the speed comes back exact. */
	memset(rows, 0, sizeof(rows));
	ASSERT_OK(sched_db_open(path, &db));
	ASSERT_OK(sched_db_load(db, collect, rows));
	sched_db_close(db);
	for (int i = 0; i < 2; i++) {
		if (strcmp(rows[i].name, "n1") != 0)
			continue;
		ASSERT_TRUE(rows[i].speed_cpu_ms == 1234.5);
		ASSERT_TRUE(rows[i].speed_mb == 6.25);
		ASSERT_TRUE(rows[i].speed_jobs == 17.75);
		ASSERT_EQ_INT(rows[i].speed_at, 1700000123);
		ASSERT_EQ_INT(rows[i].slots, 4);
		free_rows(rows);
		return;
	}
	tap_fail(__FILE__, __LINE__, "n1 not read back");
}

TEST(sched_status_json_shape)
{
	struct sched *s = mk();
	struct sched_history old = {.name = "gone \"old\"", .addr = "",
				    .platform = "", .last_seen = 123,
				    .jobs_done = 9};
	int bc, nc;
	struct sched_build *b;
	struct dm_buf out;

	ASSERT_OK(sched_history_load(s, &old));
	node(s, "n\x01", 2, "abc gcc 12", &nc);
	ASSERT_OK(sched_build_hello(s, "h", 1, "l\\", &bc, &b));
	nev = 0;
	ASSERT_OK(sched_place(s, b, 1, "abc", 0));
	dm_buf_init(&out);
	ASSERT_OK(sched_status_json(s, &out));
	ASSERT_EQ_STR(
		dm_buf_cstr(&out),
		"{\"nodes\":[{\"name\":\"n\\u0001\",\"addr\":\"127.0.0.1:1\","
		"\"slots\":2,\"running\":1,\"platform\":\"x86_64-linux\","
		"\"jobs_done\":0,\"toolchains\":2,\"cached\":0,"
		"\"archives\":false,\"load_milli\":0,"
		"\"ms_per_mb\":null,\"backoff_ms\":0}],"
		"\"builds\":[{\"id\":1,\"host\":\"h\",\"label\":\"l\\\\\","
		"\"granted\":2,\"running\":1,\"queued\":0,"
		"\"demand\":null}],"
		"\"known_nodes\":[{\"name\":\"gone \\\"old\\\"\","
		"\"last_seen\":123,\"jobs_done\":9,\"jobs_failed\":0},"
		"{\"name\":\"n\\u0001\",\"last_seen\":1700000000,"
		"\"jobs_done\":0,\"jobs_failed\":0}]}");
	dm_buf_free(&out);
	sched_free(s);
}

/* Random events, with the state's invariants and the grant total
 * checked after each: no sequence may break the heaps, the counts, or
 * give out more than the pool. */
TEST(sched_random_events_keep_invariants)
{
	struct sched *s = mk();
	struct sched_node *nodes[12] = {0};
	struct sched_build *builds[6] = {0};
	int nctx[12], bctx[6];
	uint64_t mono = T0_MONO, req = 0;
	int64_t wall = T0_WALL;
	static const char *const tcs[] = {"abc", "def", "ghi"};

	srand(11);
	for (int step = 0; step < 20000; step++) {
		int r = rand() % 100, i;
		char name[16];

		if (r < 4) {
			i = rand() % 12;
			snprintf(name, sizeof(name), "n%d", i);
			if (nodes[i] != NULL && rand() % 2)
				sched_node_drop(s, nodes[i], "test");
			nodes[i] = node(s, name, (uint32_t)(rand() % 5),
					tcs[rand() % 3], &nctx[i]);
		} else if (r < 6) {
			i = rand() % 12;
			if (nodes[i] != NULL)
				sched_node_drop(s, nodes[i], "test");
			nodes[i] = NULL;
		} else if (r < 9) {
			i = rand() % 6;
			if (builds[i] != NULL)
				sched_build_leave(s, builds[i]);
			builds[i] = rand() % 3 ? build(s, &bctx[i]) : NULL;
		} else if (r < 11) {
			i = rand() % 6;
			if (builds[i] != NULL)
				sched_build_demand(
					s, builds[i],
					rand() % 3 ? (uint32_t)(rand() % 8)
						   : DM_DEMAND_UNKNOWN);
		} else if (r < 50) {
			i = rand() % 6;
			if (builds[i] != NULL)
				ASSERT_OK(sched_place(
					s, builds[i], req++,
					tcs[rand() % 3 ? 0 : rand() % 3],
					1000));
		} else if (r < 90) {
			/* End the job of a recent PLACED, if still known. */
			int e = nev > 0 ? rand() % nev : -1;

			for (i = 0; i < 6 && e >= 0; i++)
				if (builds[i] != NULL &&
				    evs[e].kind == EV_PLACED &&
				    evs[e].ctx == &bctx[i])
					sched_job_end(
						s, builds[i], evs[e].b,
						(uint32_t)(rand() % 4),
						(uint32_t)(rand() % 500),
						(uint64_t)(rand() % 100000));
		} else {
			mono += (uint64_t)(rand() % 3000);
			wall += rand() % 3;
			sched_set_clock(s, mono, wall);
			for (i = 0; i < 12; i++)
				if (nodes[i] != NULL)
					sched_node_seen(s, nodes[i]);
			sched_sweep(s);
		}
		CHECK(s);
	}
	sched_free(s);
}

/* Shipping toolchains (sched_place_ship, sched_node_toolchains) */

/* A node of platform plat with the toolchains of tcs (NULL: none). */
static struct sched_node *
node_on(struct sched *s, const char *name, uint32_t slots, const char *plat,
	const char *tc, void *ctx)
{
	char *tcs[] = {(char *)tc};
	struct sched_node *n;

	ASSERT_OK(sched_node_register(s, name, "127.0.0.1:1", plat, slots,
				      tcs, tc != NULL ? 1 : 0, ctx, &n));
	return n;
}

static const char *
place_ship(struct sched *s, struct sched_build *b, uint64_t req,
	   const char *tc, const char *plat)
{
	int before = count(EV_PLACED);

	ASSERT_OK(sched_place_ship(s, b, req, tc, plat, 1000));
	CHECK(s);
	return count(EV_PLACED) > before ? placed_ev(req)->s : NULL;
}

TEST(sched_ship_prefers_nodes_with_the_toolchain)
{
	struct sched *s = mk();
	int bc, b2c, hc, xc;
	struct sched_node *has, *bare;
	struct sched_build *b, *b2;
	uint64_t t1, t2;

	has = node_on(s, "has", 1, "x86_64", "abc gcc 12", &hc);
	bare = node_on(s, "bare", 1, "x86_64", NULL, &xc);
	ASSERT_OK(sched_node_toolchains(s, bare, 1, NULL, 0));
	CHECK(s);
	b = build(s, &bc);
	b2 = build(s, &b2c); /* one that cannot ship (a coordinator says
				the same in every PLACE) */
	nev = 0;
	/* The node that has it first, even though both are free. */
	ASSERT_EQ_STR(place_ship(s, b, 1, "abc", "x86_64"), "has");
	t1 = placed_ev(1)->b;
	/* It is full: the node that can take the archive. */
	ASSERT_EQ_STR(place_ship(s, b, 2, "abc", "x86_64"), "bare");
	t2 = placed_ev(2)->b;
	/* Both full: it waits, and takes whichever frees first. */
	ASSERT_TRUE(place_ship(s, b, 3, "abc", "x86_64") == NULL);
	ASSERT_TRUE(place_ship(s, b2, 4, "abc", NULL) == NULL);
	ASSERT_OK(sched_job_end(s, b, t2, DM_JOB_OK, 10, 1000));
	CHECK(s);
	ASSERT_EQ_STR(placed_ev(3)->s, "bare");
	/* A request that cannot ship waits for the node that has it. */
	ASSERT_OK(sched_job_end(s, b, t1, DM_JOB_OK, 10, 1000));
	CHECK(s);
	ASSERT_EQ_STR(placed_ev(4)->s, "has");
	/* Without a platform, a node without the toolchain never. */
	sched_node_drop(s, has, "test");
	CHECK(s);
	nev = 0;
	ASSERT_TRUE(place_ship(s, b2, 5, "abc", NULL) == NULL);
	ASSERT_EQ_INT(count(EV_FAIL), 1);
	sched_free(s);
}

TEST(sched_ship_only_to_the_same_platform)
{
	struct sched *s = mk();
	int bc, ac, cc;
	struct sched_node *arm;
	struct sched_build *b;

	arm = node_on(s, "arm", 2, "aarch64", NULL, &ac);
	ASSERT_OK(sched_node_toolchains(s, arm, 1, NULL, 0));
	b = build(s, &bc);
	nev = 0;
	/* An x86_64 compiler's archive does not run on an aarch64 node. */
	ASSERT_TRUE(place_ship(s, b, 1, "abc", "x86_64") == NULL);
	ASSERT_EQ_INT(count(EV_FAIL), 1);
	ASSERT_EQ_STR(evs[0].s,
		      "no node has toolchain abc (1 nodes connected), and no "
		      "node of platform x86_64 takes toolchain archives");
	/* A configured compiler of the same identity is another matter. */
	node_on(s, "armcross", 2, "aarch64", "abc gcc 12", &cc);
	ASSERT_EQ_STR(place_ship(s, b, 2, "abc", "x86_64"), "armcross");
	/* The platform entries are the scheduler's own, not a toolchain. */
	nev = 0;
	ASSERT_TRUE(place_ship(s, b, 3, "platform:aarch64", "aarch64") ==
		    NULL);
	ASSERT_EQ_INT(count(EV_FAIL), 1);
	sched_free(s);
}

TEST(sched_cached_toolchains_count_as_had)
{
	struct sched *s = mk();
	int bc, xc;
	char *cached[] = {"abc gcc 12.2.0 x86_64-linux-gnu", "def clang 14"};
	struct sched_node *bare;
	struct sched_build *b;

	bare = node_on(s, "bare", 2, "x86_64", NULL, &xc);
	b = build(s, &bc);
	ASSERT_OK(sched_node_toolchains(s, bare, 1, cached, 2));
	CHECK(s);
	ASSERT_EQ_INT(status_num(s, "\"name\":\"bare\"", "cached"), 2);
	ASSERT_EQ_INT(status_num(s, "\"name\":\"bare\"", "toolchains"), 0);
	nev = 0;
	ASSERT_EQ_STR(place_ship(s, b, 1, "abc", NULL), "bare");
	/* Evicted: gone from the heaps, its running job still counted. */
	ASSERT_OK(sched_node_toolchains(s, bare, 1, cached + 1, 1));
	CHECK(s);
	ASSERT_TRUE(place_ship(s, b, 2, "abc", NULL) == NULL);
	ASSERT_EQ_INT(count(EV_FAIL), 1);
	ASSERT_EQ_STR(place_ship(s, b, 3, "def", NULL), "bare");
	/* No longer takes archives: only what it holds. */
	ASSERT_OK(sched_node_toolchains(s, bare, 0, cached + 1, 1));
	CHECK(s);
	nev = 0;
	ASSERT_TRUE(place_ship(s, b, 4, "abc", "x86_64") == NULL);
	ASSERT_EQ_INT(count(EV_FAIL), 1);
	ASSERT_EQ_INT(status_num(s, "\"name\":\"bare\"", "running"), 2);
	sched_free(s);
}

TEST(sched_ship_waiters_fail_when_the_platform_goes)
{
	struct sched *s = mk();
	int bc, xc;
	struct sched_node *bare;
	struct sched_build *b;

	bare = node_on(s, "bare", 1, "x86_64", NULL, &xc);
	ASSERT_OK(sched_node_toolchains(s, bare, 1, NULL, 0));
	b = build(s, &bc);
	nev = 0;
	ASSERT_EQ_STR(place_ship(s, b, 1, "abc", "x86_64"), "bare");
	ASSERT_TRUE(place_ship(s, b, 2, "abc", "x86_64") == NULL);
	ASSERT_TRUE(place_ship(s, b, 3, "abc", "x86_64") == NULL);
	ASSERT_EQ_INT(count(EV_FAIL), 0);
	/* It stops taking archives: nothing else could serve them. */
	ASSERT_OK(sched_node_toolchains(s, bare, 0, NULL, 0));
	CHECK(s);
	ASSERT_EQ_INT(count(EV_FAIL), 2);
	ASSERT_EQ_INT(status_num(s, "\"id\":1", "queued"), 0);
	sched_free(s);
}

TEST(sched_random_ship_events_keep_invariants)
{
	struct sched *s = mk();
	struct sched_node *nodes[8] = {0};
	struct sched_build *builds[4] = {0};
	int nctx[8], bctx[4];
	uint64_t mono = T0_MONO, req = 0;
	int64_t wall = T0_WALL;
	static const char *const tcs[] = {"abc gcc", "def gcc", "ghi gcc"};
	static const char *const plats[] = {"x86_64", "aarch64"};

	srand(5);
	for (int step = 0; step < 20000; step++) {
		int r = rand() % 100, i;
		char name[16];

		if (r < 4) {
			i = rand() % 8;
			snprintf(name, sizeof(name), "n%d", i);
			if (nodes[i] != NULL && rand() % 2)
				sched_node_drop(s, nodes[i], "test");
			nodes[i] = node_on(s, name, (uint32_t)(rand() % 4),
					   plats[rand() % 2],
					   rand() % 2 ? tcs[rand() % 3] : NULL,
					   &nctx[i]);
		} else if (r < 6) {
			i = rand() % 8;
			if (nodes[i] != NULL)
				sched_node_drop(s, nodes[i], "test");
			nodes[i] = NULL;
		} else if (r < 12) {
			char *cached[3];
			uint32_t nc = 0;

			i = rand() % 8;
			for (int k = 0; k < 3; k++)
				if (rand() % 2)
					cached[nc++] = (char *)tcs[k];
			if (nodes[i] != NULL)
				ASSERT_OK(sched_node_toolchains(
					s, nodes[i], rand() % 3 != 0, cached,
					nc));
		} else if (r < 15) {
			i = rand() % 4;
			if (builds[i] != NULL)
				sched_build_leave(s, builds[i]);
			builds[i] = rand() % 3 ? build(s, &bctx[i]) : NULL;
		} else if (r < 50) {
			char id[4];

			i = rand() % 4;
			snprintf(id, sizeof(id), "%.3s", tcs[rand() % 3]);
			if (builds[i] != NULL)
				ASSERT_OK(sched_place_ship(
					s, builds[i], req++, id,
					rand() % 3 ? plats[i % 2] : NULL,
					1000));
		} else if (r < 90) {
			int e = nev > 0 ? rand() % nev : -1;

			for (i = 0; i < 4 && e >= 0; i++)
				if (builds[i] != NULL &&
				    evs[e].kind == EV_PLACED &&
				    evs[e].ctx == &bctx[i])
					sched_job_end(
						s, builds[i], evs[e].b,
						(uint32_t)(rand() % 4),
						(uint32_t)(rand() % 500),
						(uint64_t)(rand() % 100000));
		} else {
			mono += (uint64_t)(rand() % 3000);
			wall += rand() % 3;
			sched_set_clock(s, mono, wall);
			for (i = 0; i < 8; i++)
				if (nodes[i] != NULL)
					sched_node_seen(s, nodes[i]);
			sched_sweep(s);
		}
		CHECK(s);
	}
	sched_free(s);
}
