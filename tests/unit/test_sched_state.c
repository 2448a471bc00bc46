/*
 * test_sched_state.c: the scheduler's bookkeeping (sched/state.c) without
 * sockets: grants, placement, the queue, tickets, dropping nodes, the
 * history and the STATUS JSON.  The ops record what the state would send.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/err.h"
#include "../../lib/log.h"
#include "../../lib/msgs.h"
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

static struct ev evs[256];
static int nev;

static void
rec(enum ev_kind kind, void *ctx, uint64_t a, uint64_t b, const char *s)
{
	if (nev == (int)(sizeof(evs) / sizeof(evs[0])))
		tap_fail(__FILE__, __LINE__, "too many events");
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

static struct sched *
mk(void)
{
	struct sched *s;

	dm_log_init("test", DM_LOG_ERROR);
	nev = 0;
	ASSERT_OK(sched_new(&ops, 1, &s));
	sched_set_clock(s, 1000, 1700000000);
	return s;
}

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

TEST(sched_fair_share_policy)
{
	/* Equal shares, the remainder to the oldest builds. */
	ASSERT_EQ_INT(sched_fair_share(10, 0, 0), 0);
	ASSERT_EQ_INT(sched_fair_share(10, 1, 0), 10);
	ASSERT_EQ_INT(sched_fair_share(10, 3, 0), 4);
	ASSERT_EQ_INT(sched_fair_share(10, 3, 1), 3);
	ASSERT_EQ_INT(sched_fair_share(10, 3, 2), 3);
	ASSERT_EQ_INT(sched_fair_share(11, 3, 1), 4);
	ASSERT_EQ_INT(sched_fair_share(11, 3, 2), 3);
	ASSERT_EQ_INT(sched_fair_share(2, 5, 1), 1);
	ASSERT_EQ_INT(sched_fair_share(2, 5, 2), 0);
	/* The shares always add up to the total. */
	for (uint32_t total = 0; total < 50; total++)
		for (uint32_t n = 1; n < 9; n++) {
			uint32_t sum = 0;

			for (uint32_t r = 0; r < n; r++)
				sum += sched_fair_share(total, n, r);
			ASSERT_EQ_INT(sum, total);
		}
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

TEST(sched_place_prefers_most_free_slots)
{
	struct sched *s = mk();
	int bc, n1c, n2c;
	struct sched_build *b;

	node(s, "small", 2, "abc gcc 12", &n1c);
	node(s, "big", 8, "abc gcc 12", &n2c);
	b = build(s, &bc);
	nev = 0;
	/* big has 8 free against 2: the first six go there. */
	for (int i = 0; i < 6; i++)
		ASSERT_OK(sched_place(s, b, i, "abc", 0));
	for (int i = 0; i < 6; i++)
		ASSERT_EQ_STR(evs[i].s, "big");
	/* Now 2 free each: the tie goes to the older node. */
	ASSERT_OK(sched_place(s, b, 6, "abc", 0));
	ASSERT_EQ_STR(evs[6].s, "small");
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
	ASSERT_EQ_STR(evs[0].s, "no node has toolchain abc (0 nodes connected)");

	node(s, "n", 2, "abc gcc 12", &nc);
	nev = 0;
	ASSERT_OK(sched_place(s, b, 8,
			      "0123456789abcdef0123456789abcdef", 0));
	ASSERT_EQ_INT(evs[0].kind, EV_FAIL);
	/* A long id is shortened for humans. */
	ASSERT_EQ_STR(evs[0].s, "no node has toolchain 0123456789abcdef\xe2\x80\xa6"
				" (1 nodes connected)");
	sched_free(s);
}

TEST(sched_full_cluster_queues_fifo)
{
	struct sched *s = mk();
	int bc, b2c, nc;
	struct sched_build *b, *b2;
	uint64_t t1, t2;

	node(s, "n", 2, "abc gcc 12", &nc);
	b = build(s, &bc);
	b2 = build(s, &b2c);
	nev = 0;
	ASSERT_OK(sched_place(s, b, 1, "abc", 0));
	ASSERT_OK(sched_place(s, b, 2, "abc", 0));
	ASSERT_EQ_INT(count(EV_PLACED), 2);
	t1 = evs[0].b;
	t2 = evs[1].b;
	/* Full: queued, no answer yet. */
	ASSERT_OK(sched_place(s, b, 3, "abc", 0));
	ASSERT_OK(sched_place(s, b2, 4, "abc", 0));
	ASSERT_OK(sched_place(s, b, 5, "abc", 0));
	ASSERT_EQ_INT(nev, 2);

	/* Each freed slot goes to the oldest waiting request. */
	ASSERT_OK(sched_job_end(s, b, t1, DM_JOB_OK, 10, 100));
	ASSERT_EQ_INT(nev, 3);
	ASSERT_EQ_INT(evs[2].kind, EV_PLACED);
	ASSERT_EQ_INT(evs[2].a, 3);
	ASSERT_TRUE(evs[2].ctx == &bc);

	/* A JOB_END for a ticket of another build changes nothing. */
	ASSERT_EQ_INT(sched_job_end(s, b2, t2, DM_JOB_OK, 0, 0), -ENOENT);
	ASSERT_EQ_INT(nev, 3);
	/* Nor does one for a ticket already ended. */
	ASSERT_EQ_INT(sched_job_end(s, b, t1, DM_JOB_OK, 0, 0), -ENOENT);

	ASSERT_OK(sched_job_end(s, b, t2, DM_JOB_COMPILE_ERROR, 10, 100));
	ASSERT_EQ_INT(nev, 4);
	ASSERT_EQ_INT(evs[3].a, 4);
	ASSERT_TRUE(evs[3].ctx == &b2c);

	/* A build that leaves takes its queued requests along: request 5
	 * is never answered, and its slots go back. */
	sched_build_leave(s, b);
	nev = 0;
	ASSERT_OK(sched_place(s, b2, 6, "abc", 0));
	ASSERT_EQ_INT(count(EV_PLACED), 1);
	ASSERT_EQ_INT(evs[nev - 1].a, 6);
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

	/* n1 keeps talking, n2 goes quiet. */
	sched_set_clock(s, 1000 + SCHED_NODE_TIMEOUT_MS, 1700000005);
	sched_node_seen(s, n1);
	nev = 0;
	sched_sweep(s);
	ASSERT_EQ_INT(nev, 0); /* exactly at the limit: still alive */
	sched_set_clock(s, 1000 + SCHED_NODE_TIMEOUT_MS + 1, 1700000006);
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
		sched_set_clock(s, t, 1700000000 + t / 1000);
		sched_node_seen(s, n1);
		sched_sweep(s);
	}
	ASSERT_EQ_INT(count(EV_PLACED), 2);
	sched_set_clock(s, 7000 + SCHED_TICKET_TTL_MS, 1700001000);
	sched_node_seen(s, n1);
	sched_sweep(s);
	/* Both expired; the queued request got one of the slots. */
	ASSERT_EQ_INT(count(EV_PLACED), 3);
	ASSERT_EQ_INT(evs[nev - 1].a, 3);
	sched_free(s);
}

static int
collect(void *arg, const struct sched_history *h)
{
	struct sched_history *out = arg;

	for (int i = 0; i < 8; i++)
		if (out[i].name == NULL) {
			out[i] = *h;
			out[i].name = strdup(h->name);
			return 0;
		}
	return -ENOSPC;
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
	ASSERT_EQ_INT(rows[0].last_seen, 1700000000);
	/* Flushed rows are clean until the next change. */
	ASSERT_OK(sched_history_flush(s, collect, rows));
	ASSERT_TRUE(rows[1].name == NULL);
	sched_history_touch_all(s);
	ASSERT_OK(sched_history_flush(s, collect, rows));
	ASSERT_EQ_STR(rows[1].name, "n1");
	sched_free(s);
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
	ASSERT_EQ_STR(dm_buf_cstr(&out),
		      "{\"nodes\":[{\"name\":\"n\\u0001\",\"addr\":\"127.0.0.1:1\","
		      "\"slots\":2,\"running\":1,\"platform\":\"x86_64-linux\","
		      "\"jobs_done\":0,\"toolchains\":2,\"load_milli\":0}],"
		      "\"builds\":[{\"id\":1,\"host\":\"h\",\"label\":\"l\\\\\","
		      "\"granted\":2,\"running\":1,\"queued\":0}],"
		      "\"known_nodes\":[{\"name\":\"gone \\\"old\\\"\","
		      "\"last_seen\":123,\"jobs_done\":9,\"jobs_failed\":0},"
		      "{\"name\":\"n\\u0001\",\"last_seen\":1700000000,"
		      "\"jobs_done\":0,\"jobs_failed\":0}]}");
	dm_buf_free(&out);
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
