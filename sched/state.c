/*
 * state.c: see state.h.
 *
 * Every public call that changes the picture ends in settle(): serve the
 * waiting PLACE requests that fit now, fail the ones no live node can
 * ever take, and push the grants that changed.  Keeping that one path
 * means "a node joined", "a job ended" and "a build left" cannot forget
 * one of the three.
 *
 * The scheduler answers every PLACE and JOB_END of the cluster, so the
 * paths they take cost O(log nodes), never a walk over every node or
 * every waiting request:
 *
 * - Toolchain ids are interned (struct tc, found by hash).  Each keeps a
 *   binary heap of the live nodes that have it, ordered by the node's
 *   key (lowest first, ties to the older node), so the best node for a
 *   PLACE is the top of one heap.  A node's key changes when one of its
 *   slots is taken or freed, when a job of it ends (its speed), and when
 *   it is backed off; rekey() puts it back in order in each of its heaps.
 * - Requests that have to wait are kept per toolchain and per build
 *   (struct bq), so a freed slot goes to the build furthest below its
 *   grant, then to the oldest request, by looking at one request per
 *   waiting build.
 * - Grants are recomputed only when something they depend on changed
 *   (grants_dirty): the pool, the builds, a build's demand.
 * - Shipping: a node that runs toolchain archives (NODE_TOOLCHAINS) is
 *   also a member of a pseudo-toolchain "platform:P" (SHIP_PREFIX), whose
 *   heap is every such node of platform P, and of the toolchains it
 *   holds unpacked.  A PLACE that names the platform its build can ship
 *   the compiler to takes the best node that has the toolchain (native or
 *   cached) and, only when none has a free slot, the best node of that
 *   platform: one transfer, then the node has it too.  A request waits
 *   only while both are full.
 *
 * Speed.  A node's speed is the cpu time its real jobs took per MB of
 * preprocessed unit (JOB_END.cpu_ms / JOB_END.unit_bytes), kept as
 * decayed sums (see speed_sample) in the node's history, which outlives
 * its connections and is persisted by db.c.  A node that has no estimate
 * worth the name (new, or not measured for SCHED_SPEED_STALE_S) is
 * explored: it gets one probe job at a time ahead of every other node,
 * and until it has SCHED_SPEED_MIN_JOBS behind it its estimate leans on
 * the cluster's average.  Placement then takes the node with the lowest
 *
 *     key = ms_per_mb * (1 + used / slots)
 *
 * so that among nodes of similar speed the least loaded relative to its
 * slots wins (load spreads instead of filling nodes in join order), and a
 * node twice as fast as another is preferred even when full up to its
 * last slot.  A full or backed-off node has key +inf.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/msgs.h"
#include "json.h"
#include "state.h"

/* The pseudo-toolchain of the nodes of one platform that run archives;
 * never a real id (those are hex). */
#define SHIP_PREFIX "platform:"
/* How much of a toolchain id a human needs to see in a PLACE_FAIL. */
#define TC_SHOWN 16
/* Ticket and toolchain tables start this small and double as needed. */
#define TICKET_BUCKETS_MIN 256u
#define TC_BUCKETS_MIN 16u
/* How many jobs' worth of weight the cluster's average speed has in the
 * estimate of a node (see speed_of). */
#define PRIOR_JOBS 2.0
/* The speed assumed when no node at all has been measured: any value
 * does, as every node then gets the same. */
#define PRIOR_DEFAULT 1000.0
/* The key of a node that is due a probe job: ahead of everything. */
#define KEY_PROBE (-1.0)
#define KEY_FULL HUGE_VAL

/* The history of one node name; outlives the node's connections. */
struct known {
	TAILQ_ENTRY(known) link;
	char *name;
	char *addr;
	char *platform;
	uint32_t slots;
	int64_t first_seen;
	int64_t last_seen;
	uint64_t jobs_done;
	uint64_t jobs_failed;
	uint64_t cpu_ms;
	uint64_t unit_bytes;
	double speed_cpu_ms;
	double speed_mb;
	double speed_jobs;
	int64_t speed_at;
	/* Back-off after DM_JOB_INFRA (not persisted: a restarted
	 * scheduler gives every node a fresh chance). */
	uint32_t fail_streak;
	uint64_t backoff_from;  /* mono ms the current back-off began */
	uint64_t backoff_until; /* mono ms; 0: none */
	int dirty;
	struct sched_node *live;
};

struct ticket {
	uint64_t id;
	uint64_t placed; /* mono ms */
	int probe;       /* placed to measure the node */
	struct sched_node *node;
	struct sched_build *build;
	LIST_ENTRY(ticket) hash;
	TAILQ_ENTRY(ticket) by_node;
	TAILQ_ENTRY(ticket) by_build;
	TAILQ_ENTRY(ticket) by_age; /* placement order = deadline order */
};

/* A node's place in the heap of one of its toolchains. */
struct member {
	struct sched_node *n;
	struct tc *tc;
	uint32_t pos;
};

/* One heap entry: the node's key and id are copied in, so that sifting
 * compares within the array instead of following pointers. */
struct hent {
	double key;
	uint64_t id;
	struct member *m;
};

/* One toolchain id: the nodes that have it, the requests waiting for it. */
struct tc {
	LIST_ENTRY(tc) hash;
	TAILQ_ENTRY(tc) waiting_link; /* on s->waiting while bqs is not empty */
	TAILQ_ENTRY(tc) empty_link;   /* on s->empty while heap is empty */
	int on_waiting;
	int on_empty;
	char *id;
	uint64_t hv;
	struct hent *heap;
	uint32_t n;
	uint32_t cap;
	uint32_t usable; /* nodes in heap that can take jobs at all */
	TAILQ_HEAD(, bq) bqs;
};

/* A PLACE waiting for a slot. */
struct pending {
	TAILQ_ENTRY(pending) link;
	uint64_t req;
	uint64_t seq; /* arrival order over all requests */
};

/* One build's waiting requests for one toolchain, oldest first. */
struct bq {
	TAILQ_ENTRY(bq) by_tc;
	LIST_ENTRY(bq) by_build;
	struct tc *tc;
	struct sched_build *b;
	char *ship; /* the platform the build can ship to, NULL: none */
	TAILQ_HEAD(, pending) reqs;
};

struct sched_node {
	TAILQ_ENTRY(sched_node) link;
	uint64_t id;
	char *name;
	char *addr;
	char *platform;
	uint32_t slots;
	uint32_t used;    /* tickets reserved on it */
	uint32_t probing; /* of which probe jobs */
	int usable;       /* has slots and is not backed off */
	double key;
	struct member *m; /* one per distinct toolchain id */
	uint32_t nm;
	uint32_t nnative; /* m[0..nnative): from NODE_REGISTER; the rest
			     from NODE_TOOLCHAINS (cached, the platform) */
	int archives;	  /* runs toolchain archives */
	uint32_t ncached;
	uint64_t last_heard;
	uint32_t load_running;
	uint32_t load_milli;
	struct known *k;
	void *ctx;
	TAILQ_HEAD(, ticket) tickets;
};

struct sched_build {
	TAILQ_ENTRY(sched_build) link;
	uint64_t id;
	char *host;
	char *label;
	uint32_t local_slots;
	uint32_t granted;
	int grant_sent;
	uint32_t running;
	uint32_t queued;
	/* Demand: what it said (DEMAND), else what it showed. */
	uint32_t told;
	uint64_t born;
	int hungry;    /* had all its grant in use: may use any number */
	int saturated; /* reached its grant in the current window */
	uint32_t peak_cur;
	uint32_t peak_prev;
	void *ctx;
	TAILQ_HEAD(, ticket) tickets;
	LIST_HEAD(, bq) bqs;
};

LIST_HEAD(ticket_list, ticket);
LIST_HEAD(tc_list, tc);

struct sched {
	const struct sched_ops *ops;
	uint64_t now;
	int64_t wall;
	uint64_t next_node;
	uint64_t next_build;
	uint64_t next_ticket;
	uint64_t next_seq;
	uint32_t nnodes;
	uint32_t nbuilds;
	uint64_t window_start;
	int grants_dirty;
	double prior; /* ms per MB assumed where nothing is measured */
	TAILQ_HEAD(, sched_node) nodes;   /* in join order */
	TAILQ_HEAD(, sched_build) builds; /* oldest first: the share order */
	TAILQ_HEAD(, known) known;
	TAILQ_HEAD(, tc) waiting;
	TAILQ_HEAD(, tc) empty;
	TAILQ_HEAD(, ticket) by_age;
	struct tc_list *tch;
	uint32_t tc_mask;
	uint32_t ntc;
	struct ticket_list *th;
	uint32_t t_mask;
	uint32_t ntickets;
	/* Scratch for push_grants, nbuilds long. */
	uint32_t *want;
	uint32_t *grant;
	uint32_t scratch_cap;
};

static void settle(struct sched *s);

/* Fair share */

void
sched_fair_share(uint32_t pool, const uint32_t *want, uint32_t n,
		 uint32_t *grant)
{
	uint32_t left = pool, active = 0;

	for (uint32_t i = 0; i < n; i++) {
		grant[i] = 0;
		active += want[i] > 0;
	}
	/* Each round either gives every unsatisfied build a full level or
	 * satisfies one of them, so it ends within n + 1 rounds. */
	while (left > 0 && active > 0) {
		uint32_t level = left / active;

		if (level == 0) {
			for (uint32_t i = 0; i < n && left > 0; i++)
				if (grant[i] < want[i]) {
					grant[i]++;
					left--;
				}
			break;
		}
		for (uint32_t i = 0; i < n; i++) {
			uint32_t give;

			if (grant[i] >= want[i])
				continue;
			give = want[i] - grant[i];
			if (give > level)
				give = level;
			grant[i] += give;
			left -= give;
			if (grant[i] == want[i])
				active--;
		}
	}
}

/* What build b can use now (see doc/protocol.md, "Grants"). */
static uint32_t
want_of(const struct sched_build *b)
{
	uint32_t use = b->running + b->queued, obs, room;

	if (b->told != DM_DEMAND_UNKNOWN)
		return b->told > use ? b->told : use;
	if (b->hungry)
		return SCHED_WANT_ANY;
	obs = b->peak_prev > b->peak_cur ? b->peak_prev : b->peak_cur;
	if (use > obs)
		obs = use;
	room = obs / 4 > 0 ? obs / 4 : 1;
	return obs > SCHED_WANT_ANY - room ? SCHED_WANT_ANY : obs + room;
}

/* After b's running or waiting jobs changed. */
static void
note_use(struct sched *s, struct sched_build *b)
{
	uint32_t use = b->running + b->queued;

	if (use > b->peak_cur)
		b->peak_cur = use;
	if (use < b->granted)
		return;
	b->saturated = 1;
	if (b->told != DM_DEMAND_UNKNOWN) {
		/* It runs more than it said: that is its demand now. */
		if (use > b->told)
			s->grants_dirty = 1;
	} else if (!b->hungry) {
		b->hungry = 1;
		s->grants_dirty = 1;
	}
}

/* Closes the demand window: a build that never reached its grant in
 * it is judged by what it used. */
static void
rotate_window(struct sched *s)
{
	struct sched_build *b;

	TAILQ_FOREACH(b, &s->builds, link) {
		uint32_t use = b->running + b->queued;

		b->peak_prev = b->peak_cur;
		b->peak_cur = use;
		if (s->now >= b->born + SCHED_DEMAND_WINDOW_MS)
			b->hungry = b->saturated;
		b->saturated = use >= b->granted;
	}
	s->window_start = s->now;
	s->grants_dirty = 1;
}

/* Speed */

/* 2^-x for x >= 0, without libm: whole halvings, then a Taylor series of
 * e^-y for the fraction (y < ln 2, error below 2e-5). */
static double
halves(double x)
{
	double r = 1.0, y, term, sum;

	if (!(x > 0))
		return 1.0;
	if (x > 1100)
		return 0.0;
	while (x >= 1.0) {
		r *= 0.5;
		x -= 1.0;
	}
	y = x * 0.69314718055994531;
	sum = term = 1.0;
	for (int i = 1; i <= 7; i++) {
		term *= -y / i;
		sum += term;
	}
	return r * sum;
}

/* The decayed job count, rounded: SCHED_SPEED_MIN_JOBS jobs in a row
 * weigh a little less than that many. */
static int
enough_jobs(const struct known *k)
{
	return k->speed_jobs + 0.5 >= SCHED_SPEED_MIN_JOBS;
}

static int
measured(const struct known *k)
{
	return k->speed_mb > 0 && enough_jobs(k);
}

static int
needs_probe(const struct sched *s, const struct known *k)
{
	return !enough_jobs(k) || s->wall - k->speed_at > SCHED_SPEED_STALE_S;
}

/* ms per MB: the node's own figure, leaning on the cluster's average
 * while few jobs stand behind it. */
static double
speed_of(const struct sched *s, const struct known *k)
{
	double w = k->speed_mb > 0 ? k->speed_jobs : 0;
	double own = w > 0 ? k->speed_cpu_ms / k->speed_mb : 0;

	return (w * own + PRIOR_JOBS * s->prior) / (w + PRIOR_JOBS);
}

/* One finished job of the node.  The sums fade by half every
 * SCHED_SPEED_HALF_LIFE_S and by 1/SCHED_SPEED_JOBS per job; after a
 * gap longer than SCHED_SPEED_STALE_S the old history keeps at most
 * SCHED_SPEED_MIN_JOBS jobs of weight, so the new measurement counts. */
static void
speed_sample(struct sched *s, struct known *k, uint32_t cpu_ms,
	     uint64_t unit_bytes)
{
	double f = 1.0 - 1.0 / SCHED_SPEED_JOBS;

	if (k->speed_at != 0 && s->wall > k->speed_at) {
		double dt = (double)(s->wall - k->speed_at);

		f *= halves(dt / SCHED_SPEED_HALF_LIFE_S);
		if (dt > SCHED_SPEED_STALE_S &&
		    k->speed_jobs * f > SCHED_SPEED_MIN_JOBS)
			f = SCHED_SPEED_MIN_JOBS / k->speed_jobs;
	}
	k->speed_cpu_ms = k->speed_cpu_ms * f + cpu_ms;
	k->speed_mb = k->speed_mb * f + (double)unit_bytes / 1e6;
	k->speed_jobs = k->speed_jobs * f + 1;
	k->speed_at = s->wall;
}

/* The mean speed of the live measured nodes. */
static void
update_prior(struct sched *s)
{
	struct sched_node *n;
	double sum = 0;
	uint32_t cnt = 0;

	TAILQ_FOREACH(n, &s->nodes, link)
		if (measured(n->k)) {
			sum += n->k->speed_cpu_ms / n->k->speed_mb;
			cnt++;
		}
	s->prior = cnt > 0 ? sum / cnt : PRIOR_DEFAULT;
}

static int
backed_off(const struct sched *s, const struct known *k)
{
	return k->backoff_until != 0 && s->now < k->backoff_until;
}

static double
key_of(const struct sched *s, const struct sched_node *n)
{
	if (n->used >= n->slots || backed_off(s, n->k))
		return KEY_FULL;
	if (n->probing == 0 && needs_probe(s, n->k))
		return KEY_PROBE;
	return speed_of(s, n->k) * (1.0 + (double)n->used / n->slots);
}

/* Heaps */

static int
before(const struct hent *a, const struct hent *b)
{
	return a->key < b->key || (a->key == b->key && a->id < b->id);
}

static void
heap_set(struct tc *tc, uint32_t pos, struct hent e)
{
	tc->heap[pos] = e;
	e.m->pos = pos;
}

static void
sift_up(struct tc *tc, uint32_t pos)
{
	struct hent e = tc->heap[pos];

	while (pos > 0) {
		uint32_t up = (pos - 1) / 2;

		if (!before(&e, &tc->heap[up]))
			break;
		heap_set(tc, pos, tc->heap[up]);
		pos = up;
	}
	heap_set(tc, pos, e);
}

static void
sift_down(struct tc *tc, uint32_t pos)
{
	struct hent e = tc->heap[pos];

	for (;;) {
		uint32_t c = 2 * pos + 1;

		if (c >= tc->n)
			break;
		if (c + 1 < tc->n && before(&tc->heap[c + 1], &tc->heap[c]))
			c++;
		if (!before(&tc->heap[c], &e))
			break;
		heap_set(tc, pos, tc->heap[c]);
		pos = c;
	}
	heap_set(tc, pos, e);
}

static void
heap_fix(struct tc *tc, uint32_t pos)
{
	if (pos > 0 && before(&tc->heap[pos], &tc->heap[(pos - 1) / 2]))
		sift_up(tc, pos);
	else
		sift_down(tc, pos);
}

static void
heap_remove(struct sched *s, struct member *m)
{
	struct tc *tc = m->tc;
	uint32_t pos = m->pos;

	tc->n--;
	if (pos != tc->n) {
		heap_set(tc, pos, tc->heap[tc->n]);
		heap_fix(tc, pos);
	}
	if (tc->n == 0 && !tc->on_empty) {
		TAILQ_INSERT_TAIL(&s->empty, tc, empty_link);
		tc->on_empty = 1;
	}
}

/* Counts n in or out of the usable nodes of its toolchains.  A toolchain
 * whose nodes are all unusable goes on s->empty: its waiting requests
 * would wait for minutes, so settle() fails them (the build compiles
 * locally). */
static void
set_usable(struct sched *s, struct sched_node *n, int usable)
{
	if (usable == n->usable)
		return;
	n->usable = usable;
	for (uint32_t i = 0; i < n->nm; i++) {
		struct tc *tc = n->m[i].tc;

		tc->usable += usable ? 1 : -1;
		if (tc->usable == 0 && !tc->on_empty) {
			TAILQ_INSERT_TAIL(&s->empty, tc, empty_link);
			tc->on_empty = 1;
		}
	}
}

/* Puts n back in order after its key may have changed. */
static void
rekey(struct sched *s, struct sched_node *n)
{
	double key = key_of(s, n);

	if (key == n->key)
		return;
	n->key = key;
	for (uint32_t i = 0; i < n->nm; i++) {
		struct tc *tc = n->m[i].tc;

		tc->heap[n->m[i].pos].key = key;
		heap_fix(tc, n->m[i].pos);
	}
}

/* Every key again (the prior or the clock moved), every heap rebuilt. */
static void
rekey_all(struct sched *s)
{
	struct sched_node *n;

	update_prior(s);
	TAILQ_FOREACH(n, &s->nodes, link) {
		n->key = key_of(s, n);
		for (uint32_t i = 0; i < n->nm; i++)
			n->m[i].tc->heap[n->m[i].pos].key = n->key;
	}
	for (uint32_t b = 0; b <= s->tc_mask; b++) {
		struct tc *tc;

		LIST_FOREACH(tc, &s->tch[b], hash)
			for (uint32_t i = tc->n / 2; i-- > 0;)
				sift_down(tc, i);
	}
}

/* The best node for tc, or NULL if every node that has it is full. */
static struct sched_node *
pick(const struct tc *tc)
{
	if (tc->n == 0 || tc->heap[0].key == KEY_FULL)
		return NULL;
	return tc->heap[0].m->n;
}

/* Toolchains */

static uint64_t
hash_str(const char *p)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return h;
}

static struct tc *
tc_find(const struct sched *s, const char *id)
{
	uint64_t hv = hash_str(id);
	struct tc *tc;

	LIST_FOREACH(tc, &s->tch[hv & s->tc_mask], hash)
		if (tc->hv == hv && strcmp(tc->id, id) == 0)
			return tc;
	return NULL;
}

static void
tc_grow(struct sched *s)
{
	uint32_t nb = (s->tc_mask + 1) * 2;
	struct tc_list *h = calloc(nb, sizeof(*h));

	if (h == NULL)
		return; /* longer chains, nothing worse */
	for (uint32_t b = 0; b <= s->tc_mask; b++) {
		struct tc *tc;

		while ((tc = LIST_FIRST(&s->tch[b])) != NULL) {
			LIST_REMOVE(tc, hash);
			LIST_INSERT_HEAD(&h[tc->hv & (nb - 1)], tc, hash);
		}
	}
	free(s->tch);
	s->tch = h;
	s->tc_mask = nb - 1;
}

/* Finds or makes the entry of id, with room for one more node.  A new
 * entry starts on s->empty, so one that never gets a node goes again in
 * the next settle. */
static struct tc *
tc_get(struct sched *s, const char *id, size_t len)
{
	struct tc *tc;
	char *dup;

	if ((dup = strndup(id, len)) == NULL)
		return NULL;
	if ((tc = tc_find(s, dup)) != NULL) {
		free(dup);
	} else {
		if ((tc = calloc(1, sizeof(*tc))) == NULL) {
			free(dup);
			return NULL;
		}
		tc->id = dup;
		tc->hv = hash_str(dup);
		TAILQ_INIT(&tc->bqs);
		LIST_INSERT_HEAD(&s->tch[tc->hv & s->tc_mask], tc, hash);
		TAILQ_INSERT_TAIL(&s->empty, tc, empty_link);
		tc->on_empty = 1;
		if (++s->ntc > s->tc_mask + 1)
			tc_grow(s);
	}
	if (tc->n == tc->cap) {
		uint32_t cap = tc->cap ? tc->cap * 2 : 8;
		struct hent *h = realloc(tc->heap, cap * sizeof(*h));

		if (h == NULL)
			return NULL;
		tc->heap = h;
		tc->cap = cap;
	}
	return tc;
}

static void
tc_free(struct sched *s, struct tc *tc)
{
	LIST_REMOVE(tc, hash);
	if (tc->on_empty)
		TAILQ_REMOVE(&s->empty, tc, empty_link);
	if (tc->on_waiting)
		TAILQ_REMOVE(&s->waiting, tc, waiting_link);
	s->ntc--;
	free(tc->heap);
	free(tc->id);
	free(tc);
}

/* Tickets */

static struct ticket *
ticket_find(struct sched *s, uint64_t id)
{
	struct ticket *t;

	LIST_FOREACH(t, &s->th[id & s->t_mask], hash)
		if (t->id == id)
			return t;
	return NULL;
}

/* Ticket numbers are sequential, so id & mask spreads them evenly; the
 * table doubles to keep chains short however many jobs run. */
static void
ticket_grow(struct sched *s)
{
	uint32_t nb = (s->t_mask + 1) * 2;
	struct ticket_list *h = calloc(nb, sizeof(*h));

	if (h == NULL)
		return;
	for (uint32_t b = 0; b <= s->t_mask; b++) {
		struct ticket *t;

		while ((t = LIST_FIRST(&s->th[b])) != NULL) {
			LIST_REMOVE(t, hash);
			LIST_INSERT_HEAD(&h[t->id & (nb - 1)], t, hash);
		}
	}
	free(s->th);
	s->th = h;
	s->t_mask = nb - 1;
}

/* Reserves a slot of n for b; the caller rekeys n. */
static struct ticket *
ticket_new(struct sched *s, struct sched_node *n, struct sched_build *b)
{
	struct ticket *t = malloc(sizeof(*t));

	if (t == NULL)
		return NULL;
	t->id = s->next_ticket++;
	t->placed = s->now;
	t->probe = n->key == KEY_PROBE;
	t->node = n;
	t->build = b;
	LIST_INSERT_HEAD(&s->th[t->id & s->t_mask], t, hash);
	TAILQ_INSERT_TAIL(&n->tickets, t, by_node);
	TAILQ_INSERT_TAIL(&b->tickets, t, by_build);
	TAILQ_INSERT_TAIL(&s->by_age, t, by_age);
	n->used++;
	n->probing += t->probe;
	b->running++;
	if (++s->ntickets > 2 * (s->t_mask + 1))
		ticket_grow(s);
	return t;
}

/* Frees the slot; the caller rekeys the node if it stays. */
static void
ticket_free(struct sched *s, struct ticket *t)
{
	LIST_REMOVE(t, hash);
	TAILQ_REMOVE(&t->node->tickets, t, by_node);
	TAILQ_REMOVE(&t->build->tickets, t, by_build);
	TAILQ_REMOVE(&s->by_age, t, by_age);
	t->node->used--;
	t->node->probing -= t->probe;
	t->build->running--;
	s->ntickets--;
	free(t);
}

/* Placement */

/* Takes a slot of n (the top of a heap) for b and tells b. */
static int
place_on(struct sched *s, struct sched_node *n, struct sched_build *b,
	 uint64_t req)
{
	struct ticket *t;

	if ((t = ticket_new(s, n, b)) == NULL)
		return -ENOMEM;
	if (t->probe)
		dm_debug("probe job on %s (ticket %" PRIu64 ")", n->name,
			 t->id);
	rekey(s, n);
	s->ops->placed(b->ctx, req, t->id, n->addr, n->name);
	return 0;
}

/* The pseudo-toolchain of platform's archive nodes, or NULL. */
static struct tc *
ship_tc(const struct sched *s, const char *platform)
{
	char id[sizeof(SHIP_PREFIX) + 64];

	if (platform == NULL || platform[0] == '\0' ||
	    strlen(platform) > 64)
		return NULL;
	snprintf(id, sizeof(id), SHIP_PREFIX "%s", platform);
	return tc_find(s, id);
}

static int
is_ship_tc(const struct tc *tc)
{
	return strncmp(tc->id, SHIP_PREFIX, strlen(SHIP_PREFIX)) == 0;
}

/* Nodes of the platform that could take an archive job at all. */
static int
ship_usable(const struct sched *s, const char *platform)
{
	const struct tc *st = ship_tc(s, platform);

	return st != NULL && st->usable > 0;
}

/* Why a request for toolchain (entry tc, or NULL if none) cannot be
 * placed; platform: where its build could ship it (NULL: nowhere). */
static void
fail_reason(struct sched *s, const char *toolchain, const struct tc *tc,
	    const char *platform, char *out, size_t len)
{
	const char *more = strlen(toolchain) > TC_SHOWN ? "\xe2\x80\xa6" : "";
	char ship[160] = "";

	if (platform != NULL && platform[0] != '\0')
		snprintf(ship, sizeof(ship),
			 ", and no node of platform %.64s takes toolchain "
			 "archives",
			 platform);
	if (tc != NULL && tc->n > 0)
		snprintf(out, len,
			 "the %" PRIu32 " nodes with toolchain %.*s%s are "
			 "backed off after failures or have no slots%s",
			 tc->n, TC_SHOWN, toolchain, more, ship);
	else
		snprintf(out, len,
			 "no node has toolchain %.*s%s (%" PRIu32
			 " nodes connected)%s",
			 TC_SHOWN, toolchain, more, s->nnodes, ship);
}

static void
bq_free(struct sched *s, struct bq *q)
{
	struct pending *p;

	while ((p = TAILQ_FIRST(&q->reqs)) != NULL) {
		TAILQ_REMOVE(&q->reqs, p, link);
		q->b->queued--;
		free(p);
	}
	TAILQ_REMOVE(&q->tc->bqs, q, by_tc);
	LIST_REMOVE(q, by_build);
	if (TAILQ_EMPTY(&q->tc->bqs) && q->tc->on_waiting) {
		TAILQ_REMOVE(&s->waiting, q->tc, waiting_link);
		q->tc->on_waiting = 0;
	}
	/* An entry made only to hold requests goes with the last one. */
	if (TAILQ_EMPTY(&q->tc->bqs) && q->tc->n == 0 && !q->tc->on_empty) {
		TAILQ_INSERT_TAIL(&s->empty, q->tc, empty_link);
		q->tc->on_empty = 1;
	}
	free(q->ship);
	free(q);
}

/* The node a request of q would get now: the best that has the
 * toolchain, else the best of the platform q's build can ship to. */
static struct sched_node *
node_for(const struct sched *s, const struct bq *q, struct sched_node *own)
{
	const struct tc *st;

	if (own != NULL || q->ship == NULL)
		return own;
	return (st = ship_tc(s, q->ship)) != NULL ? pick(st) : NULL;
}

/* The waiting build that gets the next free slot of tc (or of its
 * platform's archive nodes): among those a node is free for, the one
 * furthest below its grant, then the one whose request is oldest.
 * *node: the node. */
static struct bq *
next_bq(const struct sched *s, const struct tc *tc, struct sched_node **node)
{
	struct sched_node *own = pick(tc);
	struct bq *q, *best = NULL;
	int64_t bk = 0;

	*node = NULL;
	TAILQ_FOREACH(q, &tc->bqs, by_tc) {
		int64_t k = (int64_t)q->b->running - (int64_t)q->b->granted;
		struct sched_node *n = node_for(s, q, own);

		if (n == NULL)
			continue;
		if (best == NULL || k < bk ||
		    (k == bk && TAILQ_FIRST(&q->reqs)->seq <
					TAILQ_FIRST(&best->reqs)->seq)) {
			best = q;
			bk = k;
			*node = n;
		}
	}
	return best;
}

/* Gives the free slots of tc's nodes, and of the archive nodes of the
 * waiting builds' platforms, to its waiting requests. */
static void
serve(struct sched *s, struct tc *tc)
{
	struct sched_node *n;
	struct bq *q;

	while ((q = next_bq(s, tc, &n)) != NULL) {
		struct pending *p = TAILQ_FIRST(&q->reqs);
		struct sched_build *b = q->b;
		uint64_t req = p->req;

		TAILQ_REMOVE(&q->reqs, p, link);
		b->queued--;
		free(p);
		if (TAILQ_EMPTY(&q->reqs))
			bq_free(s, q);
		if (place_on(s, n, b, req) != 0) {
			/* Out of memory: the build learns at once rather
			 * than waiting for a slot it will not get. */
			s->ops->place_fail(b->ctx, req, (uint32_t)-ENOMEM,
					   dm_strerror(-ENOMEM));
			note_use(s, b);
			return;
		}
		dm_debug("queued request %" PRIu64 " of build %" PRIu64
			 " placed on %s",
			 req, b->id, n->name);
	}
}

/* A toolchain no live node can take jobs for any more (none has it, or
 * all that have it are backed off or have no slots, and no archive node
 * of the platform its builds ship to can either): its waiting requests
 * would wait for ever or for minutes, so they are answered now (the
 * build compiles locally).  An entry no node has and no request waits
 * for goes.  A platform whose archive nodes all went sends the
 * toolchains waiting on it through the same check. */
static void
fail_orphans(struct sched *s)
{
	struct tc *tc;
	char reason[256];

	while ((tc = TAILQ_FIRST(&s->empty)) != NULL) {
		struct bq *q, *next;

		TAILQ_REMOVE(&s->empty, tc, empty_link);
		tc->on_empty = 0;
		if (tc->usable > 0)
			continue;
		if (is_ship_tc(tc)) {
			struct tc *w;

			TAILQ_FOREACH(w, &s->waiting, waiting_link)
				if (w->usable == 0 && !w->on_empty) {
					TAILQ_INSERT_TAIL(&s->empty, w,
							  empty_link);
					w->on_empty = 1;
				}
		}
		for (q = TAILQ_FIRST(&tc->bqs); q != NULL; q = next) {
			struct sched_build *b = q->b;
			struct pending *p;

			next = TAILQ_NEXT(q, by_tc);
			if (q->ship != NULL && ship_usable(s, q->ship))
				continue;
			fail_reason(s, tc->id, tc, q->ship, reason,
				    sizeof(reason));
			while ((p = TAILQ_FIRST(&q->reqs)) != NULL) {
				uint64_t req = p->req;

				TAILQ_REMOVE(&q->reqs, p, link);
				b->queued--;
				free(p);
				s->ops->place_fail(b->ctx, req,
						   (uint32_t)-DM_ENOSLOT,
						   reason);
			}
			bq_free(s, q);
			/* bq_free may have put tc back on the list. */
			if (tc->on_empty) {
				TAILQ_REMOVE(&s->empty, tc, empty_link);
				tc->on_empty = 0;
			}
		}
		if (tc->n == 0 && TAILQ_EMPTY(&tc->bqs))
			tc_free(s, tc);
	}
}

/* The grant policy lives in sched_fair_share(); this applies it to the
 * slots of the nodes that can take jobs and sends what changed. */
static void
push_grants(struct sched *s)
{
	struct sched_build *b;
	struct sched_node *n;
	uint64_t pool = 0;
	uint32_t i = 0;

	if (!s->grants_dirty)
		return;
	if (s->nbuilds > s->scratch_cap) {
		uint32_t cap = s->nbuilds * 2;
		uint32_t *w = realloc(s->want, cap * sizeof(*w));
		uint32_t *g;

		if (w == NULL)
			return; /* still dirty: the next event tries again */
		s->want = w;
		if ((g = realloc(s->grant, cap * sizeof(*g))) == NULL)
			return;
		s->grant = g;
		s->scratch_cap = cap;
	}
	s->grants_dirty = 0;
	TAILQ_FOREACH(n, &s->nodes, link)
		if (!backed_off(s, n->k))
			pool += n->slots;
	if (pool > UINT32_MAX)
		pool = UINT32_MAX;
	TAILQ_FOREACH(b, &s->builds, link)
		s->want[i++] = want_of(b);
	sched_fair_share((uint32_t)pool, s->want, s->nbuilds, s->grant);
	i = 0;
	TAILQ_FOREACH(b, &s->builds, link) {
		uint32_t g = s->grant[i++];

		if (b->grant_sent && g == b->granted)
			continue;
		b->granted = g;
		b->grant_sent = 1;
		s->ops->grant(b->ctx, b->id, g);
	}
}

static void
settle(struct sched *s)
{
	struct tc *tc, *next;

	for (tc = TAILQ_FIRST(&s->waiting); tc != NULL; tc = next) {
		next = TAILQ_NEXT(tc, waiting_link);
		serve(s, tc);
	}
	fail_orphans(s);
	push_grants(s);
}

/* Lifetime of the state */

int
sched_new(const struct sched_ops *ops, uint64_t first_ticket,
	  struct sched **out)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->tch = calloc(TC_BUCKETS_MIN, sizeof(*s->tch));
	s->th = calloc(TICKET_BUCKETS_MIN, sizeof(*s->th));
	if (s->tch == NULL || s->th == NULL) {
		free(s->tch);
		free(s->th);
		free(s);
		return -ENOMEM;
	}
	s->tc_mask = TC_BUCKETS_MIN - 1;
	s->t_mask = TICKET_BUCKETS_MIN - 1;
	s->ops = ops;
	s->next_node = 1;
	s->next_build = 1;
	s->next_ticket = first_ticket != 0 ? first_ticket : 1;
	s->prior = PRIOR_DEFAULT;
	TAILQ_INIT(&s->nodes);
	TAILQ_INIT(&s->builds);
	TAILQ_INIT(&s->known);
	TAILQ_INIT(&s->waiting);
	TAILQ_INIT(&s->empty);
	TAILQ_INIT(&s->by_age);
	*out = s;
	return 0;
}

void
sched_set_clock(struct sched *s, uint64_t mono_ms, int64_t wall_s)
{
	s->now = mono_ms;
	s->wall = wall_s;
	if (s->window_start == 0)
		s->window_start = mono_ms;
}

/* Replaces *dst with a copy of src; on failure *dst is left as it was. */
static int
set_str(char **dst, const char *src)
{
	char *p = strdup(src != NULL ? src : "");

	if (p == NULL)
		return -ENOMEM;
	free(*dst);
	*dst = p;
	return 0;
}

/* History */

static struct known *
known_find(struct sched *s, const char *name)
{
	struct known *k;

	TAILQ_FOREACH(k, &s->known, link)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static struct known *
known_new(struct sched *s, const char *name)
{
	struct known *k = calloc(1, sizeof(*k));

	if (k == NULL || set_str(&k->name, name) != 0) {
		free(k);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&s->known, k, link);
	return k;
}

static void
known_free(struct known *k)
{
	free(k->name);
	free(k->addr);
	free(k->platform);
	free(k);
}

int
sched_history_load(struct sched *s, const struct sched_history *h)
{
	struct known *k = known_find(s, h->name);

	if (k == NULL && (k = known_new(s, h->name)) == NULL)
		return -ENOMEM;
	if (set_str(&k->addr, h->addr) != 0 ||
	    set_str(&k->platform, h->platform) != 0)
		return -ENOMEM;
	k->slots = h->slots;
	k->first_seen = h->first_seen;
	k->last_seen = h->last_seen;
	k->jobs_done = h->jobs_done;
	k->jobs_failed = h->jobs_failed;
	k->cpu_ms = h->cpu_ms;
	k->unit_bytes = h->unit_bytes;
	/* Nonsense from a hand-edited database would poison the keys. */
	if (h->speed_cpu_ms >= 0 && h->speed_mb >= 0 && h->speed_jobs >= 0 &&
	    isfinite(h->speed_cpu_ms) && isfinite(h->speed_mb) &&
	    isfinite(h->speed_jobs)) {
		k->speed_cpu_ms = h->speed_cpu_ms;
		k->speed_mb = h->speed_mb;
		k->speed_jobs = h->speed_jobs;
		k->speed_at = h->speed_at;
	}
	return 0;
}

int
sched_history_flush(struct sched *s,
		    int (*fn)(void *arg, const struct sched_history *h),
		    void *arg)
{
	struct known *k;
	int rc;

	TAILQ_FOREACH(k, &s->known, link) {
		struct sched_history h;

		if (!k->dirty)
			continue;
		if (k->live != NULL)
			k->last_seen = s->wall;
		h = (struct sched_history){
			.name = k->name,
			.addr = k->addr != NULL ? k->addr : "",
			.platform = k->platform != NULL ? k->platform : "",
			.slots = k->slots,
			.first_seen = k->first_seen,
			.last_seen = k->last_seen,
			.jobs_done = k->jobs_done,
			.jobs_failed = k->jobs_failed,
			.cpu_ms = k->cpu_ms,
			.unit_bytes = k->unit_bytes,
			.speed_cpu_ms = k->speed_cpu_ms,
			.speed_mb = k->speed_mb,
			.speed_jobs = k->speed_jobs,
			.speed_at = k->speed_at,
		};
		if ((rc = fn(arg, &h)) != 0)
			return rc;
		k->dirty = 0;
	}
	return 0;
}

void
sched_history_touch_all(struct sched *s)
{
	struct known *k;

	TAILQ_FOREACH(k, &s->known, link)
		k->dirty = 1;
}

/* Nodes */

static void
node_free(struct sched_node *n)
{
	free(n->m);
	free(n->name);
	free(n->addr);
	free(n->platform);
	free(n);
}

/* Takes the node out of the picture; the caller settles (which fails
 * the requests that only it could have served). */
static void
unlink_node(struct sched *s, struct sched_node *n, const char *why)
{
	struct ticket *t;
	uint32_t lost = 0;

	while ((t = TAILQ_FIRST(&n->tickets)) != NULL) {
		struct sched_build *b = t->build;

		ticket_free(s, t);
		note_use(s, b);
		lost++;
	}
	set_usable(s, n, 0);
	for (uint32_t i = 0; i < n->nm; i++)
		heap_remove(s, &n->m[i]);
	n->k->last_seen = s->wall;
	n->k->dirty = 1;
	n->k->live = NULL;
	TAILQ_REMOVE(&s->nodes, n, link);
	s->nnodes--;
	s->grants_dirty = 1;
	dm_info("node left: %s %s (%" PRIu32 " slots, %" PRIu32
		" jobs lost): %s",
		n->name, n->addr, n->slots, lost, why);
	node_free(n);
}

/* A node with its toolchains interned and room in each heap, not yet in
 * any: nothing of the state has changed but for new, empty toolchain
 * entries (which settle() removes again if they stay empty). */
static struct sched_node *
node_new(struct sched *s, const char *name, const char *addr,
	 const char *platform, uint32_t slots, char *const *toolchains,
	 uint32_t ntoolchains)
{
	struct sched_node *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	TAILQ_INIT(&n->tickets);
	n->slots = slots;
	if (set_str(&n->name, name) != 0 || set_str(&n->addr, addr) != 0 ||
	    set_str(&n->platform, platform) != 0)
		goto err_after_node;
	if (ntoolchains > 0 &&
	    (n->m = calloc(ntoolchains, sizeof(*n->m))) == NULL)
		goto err_after_node;
	for (uint32_t i = 0; i < ntoolchains; i++) {
		size_t len = strcspn(toolchains[i], " ");
		struct tc *tc;
		uint32_t j;

		/* The platform entries are the scheduler's own. */
		if (len == 0 || strncmp(toolchains[i], SHIP_PREFIX,
					strlen(SHIP_PREFIX)) == 0)
			continue;
		if ((tc = tc_get(s, toolchains[i], len)) == NULL)
			goto err_after_node;
		/* One id may come with several roles (gcc, g++). */
		for (j = 0; j < n->nm && n->m[j].tc != tc; j++)
			;
		if (j < n->nm)
			continue;
		n->m[n->nm++] = (struct member){.n = n, .tc = tc};
	}
	n->nnative = n->nm;
	return n;

err_after_node:
	node_free(n);
	return NULL;
}

int
sched_node_register(struct sched *s, const char *name, const char *addr,
		    const char *platform, uint32_t slots,
		    char *const *toolchains, uint32_t ntoolchains, void *ctx,
		    struct sched_node **out)
{
	struct sched_node *n, *old;
	struct known *k;
	char *kaddr = NULL, *kplat = NULL;

	if (name[0] == '\0' || slots > SCHED_SLOTS_MAX)
		return -EINVAL;
	n = node_new(s, name, addr, platform, slots, toolchains, ntoolchains);
	if (n == NULL)
		goto err_nomem;
	/* Everything that can fail happens before the state changes. */
	if (set_str(&kaddr, addr) != 0 || set_str(&kplat, platform) != 0)
		goto err_after_node;
	if ((k = known_find(s, name)) == NULL) {
		if ((k = known_new(s, name)) == NULL)
			goto err_after_node;
		k->first_seen = s->wall;
	}
	if ((old = k->live) != NULL) {
		void *octx = old->ctx;

		/* Its toolchain entries stay: they are on s->empty at
		 * worst, and n takes its place in them below. */
		unlink_node(s, old, "replaced by a new registration");
		s->ops->node_gone(octx, "replaced by a new registration");
	}
	free(k->addr);
	free(k->platform);
	k->addr = kaddr;
	k->platform = kplat;
	k->slots = slots;
	k->last_seen = s->wall;
	k->dirty = 1;
	k->live = n;
	n->k = k;
	n->id = s->next_node++;
	n->ctx = ctx;
	n->last_heard = s->now;
	TAILQ_INSERT_TAIL(&s->nodes, n, link);
	s->nnodes++;
	update_prior(s);
	n->key = key_of(s, n);
	for (uint32_t i = 0; i < n->nm; i++) {
		struct tc *tc = n->m[i].tc;

		/* tc_get() made the room; a node replaced above only
		 * freed more. */
		heap_set(tc, tc->n++,
			 (struct hent){.key = n->key, .id = n->id,
				       .m = &n->m[i]});
		sift_up(tc, tc->n - 1);
	}
	set_usable(s, n, n->slots > 0 && !backed_off(s, k));
	s->grants_dirty = 1;
	dm_info("node joined: %s %s (%" PRIu32 " slots, %" PRIu32
		" toolchains, %s)",
		n->name, n->addr, n->slots, n->nm, n->platform);
	*out = n;
	settle(s);
	return 0;

err_after_node:
	free(kaddr);
	free(kplat);
	node_free(n);
err_nomem:
	fail_orphans(s); /* toolchain entries made for nothing */
	return -ENOMEM;
}

uint64_t
sched_node_id(const struct sched_node *n)
{
	return n->id;
}

void
sched_node_seen(struct sched *s, struct sched_node *n)
{
	n->last_heard = s->now;
}

void
sched_node_load(struct sched *s, struct sched_node *n, uint32_t running,
		uint32_t load_milli)
{
	(void)s;
	n->load_running = running;
	n->load_milli = load_milli;
}

/* Takes member i of n out of its heap, as a node leaving it. */
static void
member_remove(struct sched *s, struct sched_node *n, uint32_t i)
{
	struct tc *tc = n->m[i].tc;

	if (n->usable && --tc->usable == 0 && !tc->on_empty) {
		TAILQ_INSERT_TAIL(&s->empty, tc, empty_link);
		tc->on_empty = 1;
	}
	heap_remove(s, &n->m[i]);
}

/* Makes n a member of the toolchain id (len bytes of it), unless it is
 * one already.  n->m has room. */
static int
member_add(struct sched *s, struct sched_node *n, const char *id, size_t len)
{
	struct member *m;
	struct tc *tc;

	if ((tc = tc_get(s, id, len)) == NULL)
		return -ENOMEM;
	for (uint32_t j = 0; j < n->nm; j++)
		if (n->m[j].tc == tc)
			return 0;
	m = &n->m[n->nm++];
	*m = (struct member){.n = n, .tc = tc};
	heap_set(tc, tc->n++,
		 (struct hent){.key = n->key, .id = n->id, .m = m});
	sift_up(tc, tc->n - 1);
	if (n->usable)
		tc->usable++;
	return 0;
}

int
sched_node_toolchains(struct sched *s, struct sched_node *n, int archives,
		      char *const *cached, uint32_t ncached)
{
	char ship[sizeof(SHIP_PREFIX) + 64];
	struct member *m;
	int rc = 0;

	/* Out with the old extras; the heaps lose nothing else. */
	while (n->nm > n->nnative)
		member_remove(s, n, --n->nm);
	m = realloc(n->m, (n->nnative + ncached + 1) * sizeof(*m));
	if (m == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (m != n->m) {
		/* The heaps point at the members: tell them where. */
		n->m = m;
		for (uint32_t i = 0; i < n->nm; i++)
			n->m[i].tc->heap[n->m[i].pos].m = &n->m[i];
	}
	n->archives = archives && n->platform[0] != '\0' &&
		      strlen(n->platform) <= 64;
	if (n->archives) {
		snprintf(ship, sizeof(ship), SHIP_PREFIX "%s", n->platform);
		if ((rc = member_add(s, n, ship, strlen(ship))) != 0)
			goto out;
	}
	n->ncached = 0;
	for (uint32_t i = 0; i < ncached; i++) {
		size_t len = strcspn(cached[i], " ");

		if (len == 0 || strncmp(cached[i], SHIP_PREFIX,
					strlen(SHIP_PREFIX)) == 0)
			continue;
		if ((rc = member_add(s, n, cached[i], len)) != 0)
			goto out;
		n->ncached++;
	}
out:
	dm_debug("node %s: %s toolchain archives, %" PRIu32 " cached",
		 n->name, n->archives ? "runs" : "runs no", n->ncached);
	settle(s);
	return rc;
}

void
sched_node_drop(struct sched *s, struct sched_node *n, const char *why)
{
	unlink_node(s, n, why);
	settle(s);
}

/* Builds */

int
sched_build_hello(struct sched *s, const char *host, uint32_t local_slots,
		  const char *label, void *ctx, struct sched_build **out)
{
	struct sched_build *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return -ENOMEM;
	if (set_str(&b->host, host) != 0 || set_str(&b->label, label) != 0) {
		free(b->host);
		free(b);
		return -ENOMEM;
	}
	TAILQ_INIT(&b->tickets);
	LIST_INIT(&b->bqs);
	b->id = s->next_build++;
	b->local_slots = local_slots;
	b->ctx = ctx;
	/* Its demand is unknown: it may use any number until it shows
	 * otherwise, so it starts with a full share. */
	b->told = DM_DEMAND_UNKNOWN;
	b->hungry = 1;
	b->born = s->now;
	TAILQ_INSERT_TAIL(&s->builds, b, link);
	s->nbuilds++;
	s->grants_dirty = 1;
	dm_info("build connected: %" PRIu64 " from %s%s%s (%" PRIu32
		" local slots)",
		b->id, b->host, b->label[0] != '\0' ? ", " : "", b->label,
		local_slots);
	*out = b;
	settle(s);
	return 0;
}

uint64_t
sched_build_id(const struct sched_build *b)
{
	return b->id;
}

void
sched_build_leave(struct sched *s, struct sched_build *b)
{
	struct ticket *t;
	struct bq *q;
	uint32_t released = 0, dropped = b->queued;

	while ((t = TAILQ_FIRST(&b->tickets)) != NULL) {
		struct sched_node *n = t->node;

		ticket_free(s, t);
		rekey(s, n);
		released++;
	}
	while ((q = LIST_FIRST(&b->bqs)) != NULL)
		bq_free(s, q);
	TAILQ_REMOVE(&s->builds, b, link);
	s->nbuilds--;
	s->grants_dirty = 1;
	dm_info("build left: %" PRIu64 " from %s (%" PRIu32
		" slots released, %" PRIu32 " queued requests dropped)",
		b->id, b->host, released, dropped);
	free(b->host);
	free(b->label);
	free(b);
	settle(s);
}

void
sched_build_demand(struct sched *s, struct sched_build *b, uint32_t want)
{
	if (want == b->told)
		return;
	b->told = want;
	/* Back to judging by use: it starts over as unknown. */
	if (want == DM_DEMAND_UNKNOWN)
		b->hungry = 1;
	s->grants_dirty = 1;
	settle(s);
}

int
sched_place(struct sched *s, struct sched_build *b, uint64_t req,
	    const char *toolchain, uint64_t unit_bytes)
{
	return sched_place_ship(s, b, req, toolchain, NULL, unit_bytes);
}

int
sched_place_ship(struct sched *s, struct sched_build *b, uint64_t req,
		 const char *toolchain, const char *platform,
		 uint64_t unit_bytes)
{
	struct tc *tc = tc_find(s, toolchain), *st;
	struct sched_node *n = NULL;
	struct pending *p;
	struct bq *q;
	char reason[256];
	int rc;

	(void)unit_bytes;
	if (platform != NULL && platform[0] == '\0')
		platform = NULL;
	st = ship_tc(s, platform);
	if ((tc != NULL && is_ship_tc(tc)) ||
	    ((tc == NULL || tc->usable == 0) &&
	     (st == NULL || st->usable == 0))) {
		fail_reason(s, toolchain, tc, platform, reason, sizeof(reason));
		s->ops->place_fail(b->ctx, req, (uint32_t)-DM_ENOSLOT, reason);
		return 0;
	}
	/* Requests wait only while every node of tc, and of the platform
	 * they may ship to, is full: a free node means nobody is waiting
	 * for it.  A node that has the toolchain first. */
	if (tc != NULL)
		n = pick(tc);
	if (n == NULL && st != NULL)
		n = pick(st);
	if (n != NULL) {
		if ((rc = place_on(s, n, b, req)) != 0)
			return rc;
	} else {
		if (tc == NULL &&
		    (tc = tc_get(s, toolchain, strlen(toolchain))) == NULL)
			return -ENOMEM;
		LIST_FOREACH(q, &b->bqs, by_build)
			if (q->tc == tc)
				break;
		if ((p = malloc(sizeof(*p))) == NULL)
			return -ENOMEM;
		if (q == NULL) {
			if ((q = calloc(1, sizeof(*q))) == NULL) {
				free(p);
				return -ENOMEM;
			}
			q->tc = tc;
			q->b = b;
			TAILQ_INIT(&q->reqs);
			TAILQ_INSERT_TAIL(&tc->bqs, q, by_tc);
			LIST_INSERT_HEAD(&b->bqs, q, by_build);
			if (!tc->on_waiting) {
				TAILQ_INSERT_TAIL(&s->waiting, tc,
						  waiting_link);
				tc->on_waiting = 1;
			}
		}
		/* The build's latest word on where it can ship. */
		if (platform == NULL) {
			free(q->ship);
			q->ship = NULL;
		} else if (q->ship == NULL || strcmp(q->ship, platform) != 0) {
			char *dup = strdup(platform);

			if (dup != NULL) {
				free(q->ship);
				q->ship = dup;
			}
		}
		p->req = req;
		p->seq = s->next_seq++;
		TAILQ_INSERT_TAIL(&q->reqs, p, link);
		b->queued++;
	}
	note_use(s, b);
	push_grants(s);
	return 0;
}

/* A DM_JOB_INFRA of a job placed on k's node at `placed`: back off,
 * longer with each failure in a row.  Jobs that were already running
 * when the back-off began fail for the same cause and do not make it
 * longer. */
static void
backoff(struct sched *s, struct known *k, uint64_t placed)
{
	uint32_t ms;

	if (k->fail_streak > 0 && placed <= k->backoff_from)
		return;
	k->fail_streak++;
	ms = SCHED_BACKOFF_MS << (k->fail_streak < 16 ? k->fail_streak - 1
						     : 15);
	if (ms > SCHED_BACKOFF_MAX_MS || ms < SCHED_BACKOFF_MS)
		ms = SCHED_BACKOFF_MAX_MS;
	k->backoff_from = s->now;
	k->backoff_until = s->now + ms;
	if (k->live != NULL)
		set_usable(s, k->live, 0);
	s->grants_dirty = 1;
	dm_warn("node %s: infrastructure failure #%" PRIu32
		" in a row; no jobs for %" PRIu32 " s",
		k->name, k->fail_streak, (ms + 999) / 1000);
}

int
sched_job_end(struct sched *s, struct sched_build *b, uint64_t ticket,
	      uint32_t result, uint32_t cpu_ms, uint64_t unit_bytes)
{
	struct ticket *t = ticket_find(s, ticket);
	struct sched_node *n;
	struct known *k;

	/* Late JOB_ENDs are normal: the node may have been dropped, or the
	 * ticket expired, while the job ran. */
	if (t == NULL || t->build != b) {
		dm_debug("build %" PRIu64 ": JOB_END for unknown ticket %" PRIu64,
			 b->id, ticket);
		return -ENOENT;
	}
	n = t->node;
	k = n->k;
	switch (result) {
	case DM_JOB_OK:
		if (unit_bytes > 0)
			speed_sample(s, k, cpu_ms, unit_bytes);
		/* fallthrough */
	case DM_JOB_COMPILE_ERROR:
		k->jobs_done++;
		k->fail_streak = 0;
		break;
	case DM_JOB_INFRA:
		k->jobs_failed++;
		backoff(s, k, t->placed);
		break;
	default: /* DM_JOB_ABANDONED: counts against no one */
		break;
	}
	k->cpu_ms += cpu_ms;
	k->unit_bytes += unit_bytes;
	k->last_seen = s->wall;
	k->dirty = 1;
	ticket_free(s, t);
	rekey(s, n);
	note_use(s, b);
	settle(s);
	return 0;
}

void
sched_sweep(struct sched *s)
{
	struct sched_node *n, *next;
	struct ticket *t;

	for (n = TAILQ_FIRST(&s->nodes); n != NULL; n = next) {
		void *ctx = n->ctx;

		next = TAILQ_NEXT(n, link);
		if (s->now - n->last_heard <= SCHED_NODE_TIMEOUT_MS)
			continue;
		unlink_node(s, n, "silent for more than 5 s");
		s->ops->node_gone(ctx, "silent for more than 5 s");
	}
	/* Tickets are in placement order, so the expired ones lead. */
	while ((t = TAILQ_FIRST(&s->by_age)) != NULL &&
	       s->now >= t->placed + SCHED_TICKET_TTL_MS) {
		struct sched_build *b = t->build;

		dm_warn("ticket %" PRIu64 " of build %" PRIu64
			" on %s: no JOB_END within %u min; slot freed",
			t->id, b->id, t->node->name,
			SCHED_TICKET_TTL_MS / 60000);
		ticket_free(s, t);
		note_use(s, b);
	}
	TAILQ_FOREACH(n, &s->nodes, link)
		if (n->k->backoff_until != 0 &&
		    s->now >= n->k->backoff_until) {
			dm_info("node %s: back-off over", n->name);
			n->k->backoff_until = 0;
			set_usable(s, n, n->slots > 0);
			s->grants_dirty = 1;
		}
	if (s->now >= s->window_start + SCHED_DEMAND_WINDOW_MS)
		rotate_window(s);
	/* Probes become due and the average moves with the clock. */
	rekey_all(s);
	settle(s);
}

/* Status */

int
sched_status_json(struct sched *s, struct dm_buf *out)
{
	struct sched_node *n;
	struct sched_build *b;
	struct known *k;
	const char *sep = "";
	int rc = 0;

	rc |= dm_buf_appendf(out, "{\"nodes\":[");
	TAILQ_FOREACH(n, &s->nodes, link) {
		uint64_t off = backed_off(s, n->k)
				       ? n->k->backoff_until - s->now
				       : 0;

		rc |= dm_buf_appendf(out, "%s{\"name\":", sep);
		rc |= sched_json_str(out, n->name);
		rc |= dm_buf_appendf(out, ",\"addr\":");
		rc |= sched_json_str(out, n->addr);
		rc |= dm_buf_appendf(out,
				     ",\"slots\":%" PRIu32 ",\"running\":%" PRIu32
				     ",\"platform\":",
				     n->slots, n->used);
		rc |= sched_json_str(out, n->platform);
		rc |= dm_buf_appendf(out,
				     ",\"jobs_done\":%" PRIu64
				     ",\"toolchains\":%" PRIu32
				     ",\"cached\":%" PRIu32
				     ",\"archives\":%s"
				     ",\"load_milli\":%" PRIu32,
				     n->k->jobs_done, n->nnative, n->ncached,
				     n->archives ? "true" : "false",
				     n->load_milli);
		if (measured(n->k))
			rc |= dm_buf_appendf(out, ",\"ms_per_mb\":%.1f",
					     n->k->speed_cpu_ms /
						     n->k->speed_mb);
		else
			rc |= dm_buf_appendf(out, ",\"ms_per_mb\":null");
		rc |= dm_buf_appendf(out, ",\"backoff_ms\":%" PRIu64 "}", off);
		sep = ",";
	}
	rc |= dm_buf_appendf(out, "],\"builds\":[");
	sep = "";
	TAILQ_FOREACH(b, &s->builds, link) {
		uint32_t want = want_of(b);

		rc |= dm_buf_appendf(out, "%s{\"id\":%" PRIu64 ",\"host\":",
				     sep, b->id);
		rc |= sched_json_str(out, b->host);
		rc |= dm_buf_appendf(out, ",\"label\":");
		rc |= sched_json_str(out, b->label);
		rc |= dm_buf_appendf(out,
				     ",\"granted\":%" PRIu32
				     ",\"running\":%" PRIu32
				     ",\"queued\":%" PRIu32,
				     b->granted, b->running, b->queued);
		if (want == SCHED_WANT_ANY)
			rc |= dm_buf_appendf(out, ",\"demand\":null}");
		else
			rc |= dm_buf_appendf(out, ",\"demand\":%" PRIu32 "}",
					     want);
		sep = ",";
	}
	rc |= dm_buf_appendf(out, "],\"known_nodes\":[");
	sep = "";
	TAILQ_FOREACH(k, &s->known, link) {
		rc |= dm_buf_appendf(out, "%s{\"name\":", sep);
		rc |= sched_json_str(out, k->name);
		rc |= dm_buf_appendf(out,
				     ",\"last_seen\":%" PRId64
				     ",\"jobs_done\":%" PRIu64
				     ",\"jobs_failed\":%" PRIu64 "}",
				     k->live != NULL ? s->wall : k->last_seen,
				     k->jobs_done, k->jobs_failed);
		sep = ",";
	}
	rc |= dm_buf_appendf(out, "]}");
	/* Every step fails only with -ENOMEM, so the OR of them says it. */
	return rc != 0 ? -ENOMEM : 0;
}

const char *
sched_check(struct sched *s)
{
	static char why[160];
	struct sched_build *b;
	struct sched_node *n;
	uint64_t pool = 0, granted = 0;
	uint32_t ntickets = 0;

#define BROKEN(...)                                                           \
	do {                                                                  \
		snprintf(why, sizeof(why), __VA_ARGS__);                      \
		return why;                                                   \
	} while (0)
	TAILQ_FOREACH(n, &s->nodes, link) {
		struct ticket *t;
		uint32_t used = 0, probing = 0;

		TAILQ_FOREACH(t, &n->tickets, by_node) {
			used++;
			probing += t->probe;
		}
		if (used != n->used || probing != n->probing)
			BROKEN("node %s: used %u probing %u, tickets %u/%u",
			       n->name, n->used, n->probing, used, probing);
		if (n->used > n->slots)
			BROKEN("node %s: %u jobs on %u slots", n->name,
			       n->used, n->slots);
		if (n->probing > 1)
			BROKEN("node %s: %u probes", n->name, n->probing);
		if (n->usable != (n->slots > 0 && !backed_off(s, n->k)) &&
		    !(n->k->backoff_until != 0 && !backed_off(s, n->k)))
			BROKEN("node %s: usable %d", n->name, n->usable);
		for (uint32_t i = 0; i < n->nm; i++) {
			struct member *m = &n->m[i];

			if (m->n != n || m->pos >= m->tc->n ||
			    m->tc->heap[m->pos].m != m ||
			    m->tc->heap[m->pos].key != n->key ||
			    m->tc->heap[m->pos].id != n->id)
				BROKEN("node %s: lost in heap %s", n->name,
				       m->tc->id);
		}
		if (!backed_off(s, n->k))
			pool += n->slots;
		ntickets += used;
	}
	for (uint32_t h = 0; h <= s->tc_mask; h++) {
		struct tc *tc;

		LIST_FOREACH(tc, &s->tch[h], hash) {
			for (uint32_t i = 1; i < tc->n; i++)
				if (before(&tc->heap[i],
					   &tc->heap[(i - 1) / 2]))
					BROKEN("heap %s out of order at %u",
					       tc->id, i);
			if (!TAILQ_EMPTY(&tc->bqs) && pick(tc) != NULL)
				BROKEN("requests wait for %s while %s is free",
				       tc->id, pick(tc)->name);
			{
				struct bq *q;

				TAILQ_FOREACH(q, &tc->bqs, by_tc) {
					const struct tc *st =
						ship_tc(s, q->ship);

					if (st != NULL && pick(st) != NULL)
						BROKEN("requests wait for %s "
						       "while %s of %s is "
						       "free",
						       tc->id, pick(st)->name,
						       q->ship);
				}
			}
			if (!TAILQ_EMPTY(&tc->bqs) != tc->on_waiting)
				BROKEN("heap %s: waiting list", tc->id);
			{
				uint32_t usable = 0;

				for (uint32_t i = 0; i < tc->n; i++)
					usable += tc->heap[i].m->n->usable;
				if (usable != tc->usable)
					BROKEN("heap %s: %u usable, counted %u",
					       tc->id, tc->usable, usable);
				if (usable == 0) {
					struct bq *q;

					TAILQ_FOREACH(q, &tc->bqs, by_tc)
						if (q->ship == NULL ||
						    !ship_usable(s, q->ship))
							BROKEN("requests wait "
							       "for %s, which "
							       "no node can "
							       "take",
							       tc->id);
				}
			}
		}
	}
	TAILQ_FOREACH(b, &s->builds, link) {
		struct ticket *t;
		struct bq *q;
		uint32_t running = 0, queued = 0;

		TAILQ_FOREACH(t, &b->tickets, by_build)
			running++;
		LIST_FOREACH(q, &b->bqs, by_build) {
			struct pending *p;

			if (TAILQ_EMPTY(&q->reqs))
				BROKEN("build %" PRIu64 ": empty queue",
				       b->id);
			TAILQ_FOREACH(p, &q->reqs, link)
				queued++;
		}
		if (running != b->running || queued != b->queued)
			BROKEN("build %" PRIu64 ": running %u queued %u, "
			       "counted %u/%u",
			       b->id, b->running, b->queued, running, queued);
		granted += b->granted;
	}
	if (ntickets != s->ntickets)
		BROKEN("%u tickets, counted %u", s->ntickets, ntickets);
	if (!s->grants_dirty && granted > pool)
		BROKEN("grants %" PRIu64 " over the pool %" PRIu64, granted,
		       pool);
#undef BROKEN
	return NULL;
}

void
sched_free(struct sched *s)
{
	struct sched_build *b;
	struct sched_node *n;
	struct ticket *t;
	struct known *k;

	if (s == NULL)
		return;
	while ((t = TAILQ_FIRST(&s->by_age)) != NULL)
		ticket_free(s, t);
	while ((b = TAILQ_FIRST(&s->builds)) != NULL) {
		struct bq *q;

		while ((q = LIST_FIRST(&b->bqs)) != NULL)
			bq_free(s, q);
		TAILQ_REMOVE(&s->builds, b, link);
		free(b->host);
		free(b->label);
		free(b);
	}
	while ((n = TAILQ_FIRST(&s->nodes)) != NULL) {
		TAILQ_REMOVE(&s->nodes, n, link);
		node_free(n);
	}
	for (uint32_t i = 0; i <= s->tc_mask; i++) {
		struct tc *tc;

		while ((tc = LIST_FIRST(&s->tch[i])) != NULL)
			tc_free(s, tc);
	}
	while ((k = TAILQ_FIRST(&s->known)) != NULL) {
		TAILQ_REMOVE(&s->known, k, link);
		known_free(k);
	}
	free(s->tch);
	free(s->th);
	free(s->want);
	free(s->grant);
	free(s);
}
