/*
 * state.c: see state.h.
 *
 * Every public call that changes the picture ends in settle(): serve the
 * waiting PLACE requests that fit now, fail the ones no live node can
 * ever take, and push the grants that changed.  Keeping that one path
 * means "a node joined", "a job ended" and "a build left" cannot forget
 * one of the three.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/msgs.h"
#include "json.h"
#include "state.h"

/* Ticket numbers are sequential, so id % buckets spreads them evenly. */
#define TICKET_BUCKETS 256
/* How much of a toolchain id a human needs to see in a PLACE_FAIL. */
#define TC_SHOWN 16

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
	int dirty;
	struct sched_node *live;
};

struct ticket {
	uint64_t id;
	uint64_t deadline;
	struct sched_node *node;
	struct sched_build *build;
	LIST_ENTRY(ticket) hash;
	TAILQ_ENTRY(ticket) by_node;
	TAILQ_ENTRY(ticket) by_build;
};

struct sched_node {
	TAILQ_ENTRY(sched_node) link;
	uint64_t id;
	char *name;
	char *addr;
	char *platform;
	uint32_t slots;
	uint32_t used; /* tickets reserved on it */
	char **tc;     /* toolchain ids: the first word of each entry */
	uint32_t ntc;
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
	void *ctx;
	TAILQ_HEAD(, ticket) tickets;
};

/* A PLACE waiting for a slot. */
struct pending {
	TAILQ_ENTRY(pending) link;
	struct sched_build *b;
	uint64_t req;
	uint64_t unit_bytes;
	char *toolchain;
};

struct sched {
	const struct sched_ops *ops;
	uint64_t now;
	int64_t wall;
	uint64_t next_node;
	uint64_t next_build;
	uint64_t next_ticket;
	uint32_t nnodes;
	uint32_t nbuilds;
	TAILQ_HEAD(, sched_node) nodes;   /* in join order */
	TAILQ_HEAD(, sched_build) builds; /* oldest first: the share order */
	TAILQ_HEAD(, pending) queue;      /* FIFO over all builds */
	TAILQ_HEAD(, known) known;
	LIST_HEAD(, ticket) tickets[TICKET_BUCKETS];
};

uint32_t
sched_fair_share(uint32_t total, uint32_t nbuilds, uint32_t rank)
{
	if (nbuilds == 0)
		return 0;
	return total / nbuilds + (rank < total % nbuilds ? 1 : 0);
}

int
sched_new(const struct sched_ops *ops, uint64_t first_ticket,
	  struct sched **out)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->ops = ops;
	s->next_node = 1;
	s->next_build = 1;
	s->next_ticket = first_ticket != 0 ? first_ticket : 1;
	TAILQ_INIT(&s->nodes);
	TAILQ_INIT(&s->builds);
	TAILQ_INIT(&s->queue);
	TAILQ_INIT(&s->known);
	for (int i = 0; i < TICKET_BUCKETS; i++)
		LIST_INIT(&s->tickets[i]);
	*out = s;
	return 0;
}

void
sched_set_clock(struct sched *s, uint64_t mono_ms, int64_t wall_s)
{
	s->now = mono_ms;
	s->wall = wall_s;
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

/* Tickets */

static struct ticket *
ticket_find(struct sched *s, uint64_t id)
{
	struct ticket *t;

	LIST_FOREACH(t, &s->tickets[id % TICKET_BUCKETS], hash)
		if (t->id == id)
			return t;
	return NULL;
}

static struct ticket *
ticket_new(struct sched *s, struct sched_node *n, struct sched_build *b)
{
	struct ticket *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->id = s->next_ticket++;
	t->deadline = s->now + SCHED_TICKET_TTL_MS;
	t->node = n;
	t->build = b;
	LIST_INSERT_HEAD(&s->tickets[t->id % TICKET_BUCKETS], t, hash);
	TAILQ_INSERT_TAIL(&n->tickets, t, by_node);
	TAILQ_INSERT_TAIL(&b->tickets, t, by_build);
	n->used++;
	b->running++;
	return t;
}

static void
ticket_free(struct ticket *t)
{
	LIST_REMOVE(t, hash);
	TAILQ_REMOVE(&t->node->tickets, t, by_node);
	TAILQ_REMOVE(&t->build->tickets, t, by_build);
	t->node->used--;
	t->build->running--;
	free(t);
}

/* Placement */

static int
node_has(const struct sched_node *n, const char *toolchain)
{
	for (uint32_t i = 0; i < n->ntc; i++)
		if (strcmp(n->tc[i], toolchain) == 0)
			return 1;
	return 0;
}

/* The node with the toolchain and the most free slots, so that load
 * spreads over the cluster instead of filling nodes in join order (ties
 * go to the older node).  NULL if none has a free slot; *exists says
 * whether any live node has the toolchain at all. */
static struct sched_node *
pick(struct sched *s, const char *toolchain, int *exists)
{
	struct sched_node *n, *best = NULL;

	*exists = 0;
	TAILQ_FOREACH(n, &s->nodes, link) {
		if (!node_has(n, toolchain))
			continue;
		*exists = 1;
		if (n->used < n->slots &&
		    (best == NULL ||
		     n->slots - n->used > best->slots - best->used))
			best = n;
	}
	return best;
}

static int
any_free_slot(struct sched *s)
{
	struct sched_node *n;

	TAILQ_FOREACH(n, &s->nodes, link)
		if (n->used < n->slots)
			return 1;
	return 0;
}

static void
fail_reason(struct sched *s, const char *toolchain, char *out, size_t len)
{
	snprintf(out, len, "no node has toolchain %.*s%s (%" PRIu32
		 " nodes connected)",
		 TC_SHOWN, toolchain,
		 strlen(toolchain) > TC_SHOWN ? "\xe2\x80\xa6" : "",
		 s->nnodes);
}

static void
pending_free(struct sched *s, struct pending *p)
{
	TAILQ_REMOVE(&s->queue, p, link);
	p->b->queued--;
	free(p->toolchain);
	free(p);
}

/* Gives queued requests the slots that are free now, oldest first.  A
 * request whose toolchain has no free slot is skipped, not a barrier:
 * the requests behind it may want another toolchain. */
static void
serve_queue(struct sched *s)
{
	struct pending *p, *next;

	for (p = TAILQ_FIRST(&s->queue); p != NULL; p = next) {
		struct sched_node *n;
		struct ticket *t;
		int exists;

		next = TAILQ_NEXT(p, link);
		if (!any_free_slot(s))
			return;
		if ((n = pick(s, p->toolchain, &exists)) == NULL)
			continue;
		if ((t = ticket_new(s, n, p->b)) == NULL)
			return; /* the next event tries again */
		dm_debug("queued request %" PRIu64 " of build %" PRIu64
			 " placed on %s",
			 p->req, p->b->id, n->name);
		s->ops->placed(p->b->ctx, p->req, t->id, n->addr, n->name);
		pending_free(s, p);
	}
}

/* A queued request for a toolchain that no live node has any more would
 * wait for ever: answer it now so the build compiles locally. */
static void
fail_orphans(struct sched *s)
{
	struct pending *p, *next;
	char reason[256];

	for (p = TAILQ_FIRST(&s->queue); p != NULL; p = next) {
		int exists;

		next = TAILQ_NEXT(p, link);
		pick(s, p->toolchain, &exists);
		if (exists)
			continue;
		fail_reason(s, p->toolchain, reason, sizeof(reason));
		s->ops->place_fail(p->b->ctx, p->req, (uint32_t)-DM_ENOSLOT,
				   reason);
		pending_free(s, p);
	}
}

/* The grant policy lives in sched_fair_share(); this applies it and
 * sends what changed. */
static void
push_grants(struct sched *s)
{
	struct sched_build *b;
	struct sched_node *n;
	uint64_t total = 0;
	uint32_t rank = 0;

	TAILQ_FOREACH(n, &s->nodes, link)
		total += n->slots;
	if (total > UINT32_MAX)
		total = UINT32_MAX;
	TAILQ_FOREACH(b, &s->builds, link) {
		uint32_t share =
			sched_fair_share((uint32_t)total, s->nbuilds, rank++);

		if (b->grant_sent && share == b->granted)
			continue;
		b->granted = share;
		b->grant_sent = 1;
		s->ops->grant(b->ctx, b->id, share);
	}
}

static void
settle(struct sched *s)
{
	serve_queue(s);
	fail_orphans(s);
	push_grants(s);
}

/* Nodes */

static void
node_free(struct sched_node *n)
{
	for (uint32_t i = 0; i < n->ntc; i++)
		free(n->tc[i]);
	free(n->tc);
	free(n->name);
	free(n->addr);
	free(n->platform);
	free(n);
}

/* Takes the node out of the picture; the caller settles. */
static void
unlink_node(struct sched *s, struct sched_node *n, const char *why)
{
	struct ticket *t;
	uint32_t lost = 0;

	while ((t = TAILQ_FIRST(&n->tickets)) != NULL) {
		ticket_free(t);
		lost++;
	}
	n->k->last_seen = s->wall;
	n->k->dirty = 1;
	n->k->live = NULL;
	TAILQ_REMOVE(&s->nodes, n, link);
	s->nnodes--;
	dm_info("node left: %s %s (%" PRIu32 " slots, %" PRIu32
		" jobs lost): %s",
		n->name, n->addr, n->slots, lost, why);
	node_free(n);
}

static struct sched_node *
node_new(const char *name, const char *addr, const char *platform,
	 uint32_t slots, char *const *toolchains, uint32_t ntoolchains)
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
	    (n->tc = calloc(ntoolchains, sizeof(char *))) == NULL)
		goto err_after_node;
	for (uint32_t i = 0; i < ntoolchains; i++) {
		size_t len = strcspn(toolchains[i], " ");

		if (len == 0)
			continue;
		if ((n->tc[n->ntc] = strndup(toolchains[i], len)) == NULL)
			goto err_after_node;
		n->ntc++;
	}
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
	n = node_new(name, addr, platform, slots, toolchains, ntoolchains);
	if (n == NULL)
		return -ENOMEM;
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
	dm_info("node joined: %s %s (%" PRIu32 " slots, %" PRIu32
		" toolchains, %s)",
		n->name, n->addr, n->slots, n->ntc, n->platform);
	*out = n;
	settle(s);
	return 0;

err_after_node:
	free(kaddr);
	free(kplat);
	node_free(n);
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
	b->id = s->next_build++;
	b->local_slots = local_slots;
	b->ctx = ctx;
	TAILQ_INSERT_TAIL(&s->builds, b, link);
	s->nbuilds++;
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
	struct pending *p, *next;
	struct ticket *t;
	uint32_t released = 0, dropped = 0;

	while ((t = TAILQ_FIRST(&b->tickets)) != NULL) {
		ticket_free(t);
		released++;
	}
	for (p = TAILQ_FIRST(&s->queue); p != NULL; p = next) {
		next = TAILQ_NEXT(p, link);
		if (p->b == b) {
			pending_free(s, p);
			dropped++;
		}
	}
	TAILQ_REMOVE(&s->builds, b, link);
	s->nbuilds--;
	dm_info("build left: %" PRIu64 " from %s (%" PRIu32
		" slots released, %" PRIu32 " queued requests dropped)",
		b->id, b->host, released, dropped);
	free(b->host);
	free(b->label);
	free(b);
	settle(s);
}

int
sched_place(struct sched *s, struct sched_build *b, uint64_t req,
	    const char *toolchain, uint64_t unit_bytes)
{
	struct sched_node *n;
	struct pending *p;
	struct ticket *t;
	char reason[256];
	int exists;

	if ((n = pick(s, toolchain, &exists)) != NULL) {
		if ((t = ticket_new(s, n, b)) == NULL)
			return -ENOMEM;
		s->ops->placed(b->ctx, req, t->id, n->addr, n->name);
		return 0;
	}
	if (exists) {
		if ((p = calloc(1, sizeof(*p))) == NULL ||
		    (p->toolchain = strdup(toolchain)) == NULL) {
			free(p);
			return -ENOMEM;
		}
		p->b = b;
		p->req = req;
		p->unit_bytes = unit_bytes;
		TAILQ_INSERT_TAIL(&s->queue, p, link);
		b->queued++;
		return 0;
	}
	fail_reason(s, toolchain, reason, sizeof(reason));
	s->ops->place_fail(b->ctx, req, (uint32_t)-DM_ENOSLOT, reason);
	return 0;
}

int
sched_job_end(struct sched *s, struct sched_build *b, uint64_t ticket,
	      uint32_t result, uint32_t cpu_ms, uint64_t unit_bytes)
{
	struct ticket *t = ticket_find(s, ticket);
	struct known *k;

	/* Late JOB_ENDs are normal: the node may have been dropped, or the
	 * ticket expired, while the job ran. */
	if (t == NULL || t->build != b) {
		dm_debug("build %" PRIu64 ": JOB_END for unknown ticket %" PRIu64,
			 b->id, ticket);
		return -ENOENT;
	}
	k = t->node->k;
	if (result == DM_JOB_INFRA)
		k->jobs_failed++;
	else
		k->jobs_done++;
	k->cpu_ms += cpu_ms;
	k->unit_bytes += unit_bytes;
	k->last_seen = s->wall;
	k->dirty = 1;
	ticket_free(t);
	settle(s);
	return 0;
}

void
sched_sweep(struct sched *s)
{
	struct sched_node *n, *next;

	for (n = TAILQ_FIRST(&s->nodes); n != NULL; n = next) {
		void *ctx = n->ctx;

		next = TAILQ_NEXT(n, link);
		if (s->now - n->last_heard <= SCHED_NODE_TIMEOUT_MS)
			continue;
		unlink_node(s, n, "silent for more than 5 s");
		s->ops->node_gone(ctx, "silent for more than 5 s");
	}
	for (int i = 0; i < TICKET_BUCKETS; i++) {
		struct ticket *t, *tnext;

		for (t = LIST_FIRST(&s->tickets[i]); t != NULL; t = tnext) {
			tnext = LIST_NEXT(t, hash);
			if (s->now < t->deadline)
				continue;
			dm_warn("ticket %" PRIu64 " of build %" PRIu64
				" on %s: no JOB_END within %u min; slot freed",
				t->id, t->build->id, t->node->name,
				SCHED_TICKET_TTL_MS / 60000);
			ticket_free(t);
		}
	}
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
				     ",\"load_milli\":%" PRIu32 "}",
				     n->k->jobs_done, n->ntc, n->load_milli);
		sep = ",";
	}
	rc |= dm_buf_appendf(out, "],\"builds\":[");
	sep = "";
	TAILQ_FOREACH(b, &s->builds, link) {
		rc |= dm_buf_appendf(out, "%s{\"id\":%" PRIu64 ",\"host\":",
				     sep, b->id);
		rc |= sched_json_str(out, b->host);
		rc |= dm_buf_appendf(out, ",\"label\":");
		rc |= sched_json_str(out, b->label);
		rc |= dm_buf_appendf(out,
				     ",\"granted\":%" PRIu32
				     ",\"running\":%" PRIu32
				     ",\"queued\":%" PRIu32 "}",
				     b->granted, b->running, b->queued);
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

void
sched_free(struct sched *s)
{
	struct sched_build *b;
	struct sched_node *n;
	struct pending *p;
	struct known *k;

	if (s == NULL)
		return;
	while ((p = TAILQ_FIRST(&s->queue)) != NULL)
		pending_free(s, p);
	for (int i = 0; i < TICKET_BUCKETS; i++) {
		struct ticket *t;

		while ((t = LIST_FIRST(&s->tickets[i])) != NULL)
			ticket_free(t);
	}
	while ((n = TAILQ_FIRST(&s->nodes)) != NULL) {
		TAILQ_REMOVE(&s->nodes, n, link);
		node_free(n);
	}
	while ((b = TAILQ_FIRST(&s->builds)) != NULL) {
		TAILQ_REMOVE(&s->builds, b, link);
		free(b->host);
		free(b->label);
		free(b);
	}
	while ((k = TAILQ_FIRST(&s->known)) != NULL) {
		TAILQ_REMOVE(&s->known, k, link);
		known_free(k);
	}
	free(s);
}
