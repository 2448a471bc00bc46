/*
 * state.h: the scheduler's bookkeeping, with no I/O of its own.
 *
 * Nodes and their slots, connected builds and their grants, the tickets
 * that reserve a slot for one job, the FIFO of PLACE requests waiting for
 * a slot, and the history of every node ever seen.  The server (server.c)
 * feeds it what arrives on the wire and gets the answers back through
 * struct sched_ops; the unit tests drive the same functions with a
 * recording ops and a hand-set clock.
 *
 * Callbacks run synchronously inside the sched_* call that caused them
 * and must not call back into the state: a connection that breaks while
 * being written to has to be dropped later (server.c defers it).
 *
 * Lifetime: sched_new() / sched_free().  A node lives from
 * sched_node_register() until sched_node_drop(), or until the state drops
 * it itself (sched_sweep(), or a newer node with the same name), which it
 * announces with ops->node_gone(ctx); after either the caller must not use
 * the node pointer again.  A build lives from sched_build_hello() to
 * sched_build_leave().  Strings passed in are copied.
 */
#ifndef SCHED_STATE_H
#define SCHED_STATE_H

#include <stdint.h>

#include "../lib/buf.h"

/* A node with no message of any kind for this long is dropped. */
#define SCHED_NODE_TIMEOUT_MS 5000
/* What the node is asked to keep to (NODE_ACCEPT.heartbeat_ms). */
#define SCHED_HEARTBEAT_MS 1000
/* A ticket with no JOB_END after this long is taken back: the build lost
 * track of it, and keeping it would leak the slot for good. */
#define SCHED_TICKET_TTL_MS (15u * 60 * 1000)
/* The most slots one node may announce; more is a broken node. */
#define SCHED_SLOTS_MAX 4096

struct sched;
struct sched_node;
struct sched_build;

struct sched_ops {
	/* The build's remote grant is now `slots` (sent once at hello, then
	 * whenever it changes). */
	void (*grant)(void *ctx, uint64_t build_id, uint32_t slots);
	/* Request req of the build got a slot. */
	void (*placed)(void *ctx, uint64_t req, uint64_t ticket,
		       const char *node_addr, const char *node_name);
	/* Request req cannot be placed; code is positive (-DM_ENOSLOT). */
	void (*place_fail)(void *ctx, uint64_t req, uint32_t code,
			   const char *reason);
	/* The state dropped this node on its own (silent, or replaced by a
	 * newer registration of the same name): close its connection. */
	void (*node_gone)(void *ctx, const char *why);
};

/* One row of node history, as persisted (db.c) and shown in STATUS.
 * Times are Unix seconds. */
struct sched_history {
	const char *name;
	const char *addr;
	const char *platform;
	uint32_t slots;
	int64_t first_seen;
	int64_t last_seen;
	uint64_t jobs_done;
	uint64_t jobs_failed;
	uint64_t cpu_ms;
	uint64_t unit_bytes;
};

/* first_ticket seeds the ticket numbers, so that tickets stay unique
 * across restarts of the scheduler (the server seeds it from the clock). */
int sched_new(const struct sched_ops *ops, uint64_t first_ticket,
	      struct sched **out);
/* Frees everything without calling any callback. */
void sched_free(struct sched *s);

/* The clock every following call works with: mono_ms for deadlines,
 * wall_s for the history.  The server sets it before each event. */
void sched_set_clock(struct sched *s, uint64_t mono_ms, int64_t wall_s);

/* Adds a history row read back at start (a later row for the same name
 * replaces the earlier one). */
int sched_history_load(struct sched *s, const struct sched_history *h);
/* Calls fn for every history row changed since the last successful
 * flush; rows fn accepts (returns 0) are clean again.  Stops at and
 * returns fn's first error. */
int sched_history_flush(struct sched *s,
			int (*fn)(void *arg, const struct sched_history *h),
			void *arg);
/* Marks every row changed, so the next flush writes them all again (after
 * a flush whose transaction failed). */
void sched_history_touch_all(struct sched *s);

/* NODE_REGISTER.  toolchains are "ID ROLE VERSION" strings; placement
 * matches PLACE.toolchain against ID.  Returns -EINVAL for an empty name
 * or too many slots, -ENOMEM. */
int sched_node_register(struct sched *s, const char *name, const char *addr,
			const char *platform, uint32_t slots,
			char *const *toolchains, uint32_t ntoolchains,
			void *ctx, struct sched_node **out);
uint64_t sched_node_id(const struct sched_node *n);
/* Any message from the node: it is alive. */
void sched_node_seen(struct sched *s, struct sched_node *n);
/* NODE_LOAD: kept for STATUS. */
void sched_node_load(struct sched *s, struct sched_node *n, uint32_t running,
		     uint32_t load_milli);
/* The node's connection closed.  Its tickets are forgotten (the shims see
 * their node connection fail and ask again), grants recomputed.  No
 * node_gone callback. */
void sched_node_drop(struct sched *s, struct sched_node *n, const char *why);

/* BUILD_HELLO.  The first GRANT goes out through ops->grant before this
 * returns. */
int sched_build_hello(struct sched *s, const char *host, uint32_t local_slots,
		      const char *label, void *ctx, struct sched_build **out);
uint64_t sched_build_id(const struct sched_build *b);
/* The build's connection closed: its tickets and queued requests go. */
void sched_build_leave(struct sched *s, struct sched_build *b);

/* PLACE: answered at once through placed or place_fail, or queued until
 * a slot frees when nodes with the toolchain exist but all are full.
 * Returns 0 or -ENOMEM. */
int sched_place(struct sched *s, struct sched_build *b, uint64_t req,
		const char *toolchain, uint64_t unit_bytes);
/* JOB_END from build b.  A ticket that is unknown (dropped node, expired)
 * or belongs to another build is ignored.  Returns 0 or -ENOENT. */
int sched_job_end(struct sched *s, struct sched_build *b, uint64_t ticket,
		  uint32_t result, uint32_t cpu_ms, uint64_t unit_bytes);

/* Once a second: drops silent nodes, takes back expired tickets. */
void sched_sweep(struct sched *s);

/* Appends the STATUS JSON (see doc/protocol.md, `dmake status --json`). */
int sched_status_json(struct sched *s, struct dm_buf *out);

/* The fair-share policy, alone so it can be tested and replaced: the
 * grant of the build at position rank (0 = oldest) of nbuilds when total
 * remote slots are shared. */
uint32_t sched_fair_share(uint32_t total, uint32_t nbuilds, uint32_t rank);

#endif
