/*
 * state.h: the scheduler's bookkeeping, with no I/O of its own.
 *
 * Nodes and their slots, connected builds and their grants, the tickets
 * that reserve a slot for one job, the PLACE requests waiting for a slot,
 * and the history of every node ever seen (its job counts and measured
 * speed).  The server (server.c) feeds it what arrives on the wire and
 * gets the answers back through struct sched_ops; the unit tests drive
 * the same functions with a recording ops and a hand-set clock.
 *
 * The policies, in short (state.c says why):
 * - Grants: the slots of the nodes that can take jobs are shared between
 *   the builds by demand, max-min fair (sched_fair_share()); a build's
 *   demand is what it said (DEMAND) or, if it said nothing, what it used
 *   over the last demand window, unbounded while it is new or uses all
 *   it has.  doc/protocol.md, "Grants", is the contract.
 * - Placement: among the nodes that have the toolchain and a free slot,
 *   the one with the lowest ms_per_mb * (1 + used / slots), the speed
 *   measured from real jobs; a node without a recent measurement gets
 *   one probe job at a time first.  A node "has" a toolchain when it has
 *   a compiler of it (NODE_REGISTER) or holds its archive unpacked
 *   (NODE_TOOLCHAINS); when none of those has a free slot and the build
 *   can ship its compiler (PLACE.platform), a node of that platform that
 *   runs toolchain archives takes the job, by the same order.  A node
 *   whose jobs fail with DM_JOB_INFRA is backed off (no jobs, its slots
 *   out of the grants) for a time that doubles with each failure in a
 *   row.
 * - Waiting: a request no free slot can take waits; a freed slot goes to
 *   the waiting build furthest below its grant, then to the oldest
 *   request; requests no node can take soon (toolchain gone, or all its
 *   nodes backed off) fail at once, so the build compiles locally.
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

/* Demand (see sched_fair_share).  A build's use is judged over windows
 * of this length: the peak of running + waiting jobs in the current and
 * the previous window is what it showed it can use. */
#define SCHED_DEMAND_WINDOW_MS 2000
/* sched_fair_share()'s "no known bound": the build may use any number. */
#define SCHED_WANT_ANY UINT32_MAX

/* Speed (see state.c, "Speed").  History fades with a half-life in wall
 * time and by 1/SCHED_SPEED_JOBS per new job, so the estimate follows
 * the last few dozen jobs of the last hours. */
#define SCHED_SPEED_HALF_LIFE_S 3600
#define SCHED_SPEED_JOBS 64
/* A node with fewer (decayed) jobs than this behind its estimate, or no
 * job for SCHED_SPEED_STALE_S, is measured again: it gets one probe job
 * at a time ahead of every other node until it has enough. */
#define SCHED_SPEED_MIN_JOBS 3
#define SCHED_SPEED_STALE_S 1800

/* A node whose job fails with DM_JOB_INFRA is left out of placement and
 * of the grants for SCHED_BACKOFF_MS, doubling with each further failure
 * in a row up to SCHED_BACKOFF_MAX_MS; a good job ends the streak. */
#define SCHED_BACKOFF_MS 2000u
#define SCHED_BACKOFF_MAX_MS (5u * 60 * 1000)

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
	/* The speed estimate: decayed sums over real jobs (DM_JOB_OK with a
	 * unit size) of cpu ms and MB (10^6 bytes) of unit, the decayed
	 * number of jobs behind them, and the wall time of the last one
	 * (0: never measured). */
	double speed_cpu_ms;
	double speed_mb;
	double speed_jobs;
	int64_t speed_at;
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
/* NODE_TOOLCHAINS: whether the node runs toolchain archives (for jobs
 * whose build can ship to its platform) and the toolchains it holds
 * unpacked ("ID ROLE VERSION MACHINE" strings), replacing what it said
 * before.  Waiting requests it can take are served at once.  Returns 0
 * or -ENOMEM (the node then has fewer toolchains than it said). */
int sched_node_toolchains(struct sched *s, struct sched_node *n, int archives,
			  char *const *cached, uint32_t ncached);
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
/* DEMAND: the most remote jobs the build says it can run at once from
 * now on; DM_DEMAND_UNKNOWN (lib/msgs.h) goes back to judging it by its
 * use.  Grants are recomputed at once. */
void sched_build_demand(struct sched *s, struct sched_build *b,
			uint32_t want);

/* PLACE: answered at once through placed or place_fail, or queued until
 * a slot frees when nodes that can take the toolchain exist but all are
 * full (nodes that are backed off or have no slots cannot: with only
 * those, place_fail).  unit_bytes is not used yet.  Returns 0 or
 * -ENOMEM. */
int sched_place(struct sched *s, struct sched_build *b, uint64_t req,
		const char *toolchain, uint64_t unit_bytes);
/* sched_place() for a build that can ship the compiler to a node of
 * platform (PLACE.platform; NULL or "": it cannot): a node with the
 * toolchain first, else an archive node of that platform. */
int sched_place_ship(struct sched *s, struct sched_build *b, uint64_t req,
		     const char *toolchain, const char *platform,
		     uint64_t unit_bytes);
/* JOB_END from build b: frees the slot; DM_JOB_OK with a unit size
 * updates the node's speed, DM_JOB_INFRA backs the node off, any other
 * result but DM_JOB_ABANDONED ends a back-off streak.  A ticket that is
 * unknown (dropped node, expired) or belongs to another build is
 * ignored.  Returns 0 or -ENOENT. */
int sched_job_end(struct sched *s, struct sched_build *b, uint64_t ticket,
		  uint32_t result, uint32_t cpu_ms, uint64_t unit_bytes);

/* Once a second: drops silent nodes, takes back expired tickets, ends
 * back-offs, closes the demand window when it is due. */
void sched_sweep(struct sched *s);

/* Appends the STATUS JSON (see doc/protocol.md, `dmake status --json`). */
int sched_status_json(struct sched *s, struct dm_buf *out);

/* For tests: checks the state's own invariants (heap order, slot and
 * job counts, grants within the pool) and returns a description of the
 * first one broken, or NULL. */
const char *sched_check(struct sched *s);

/* The fair-share policy, a pure function so it can be tested alone.
 * Shares pool slots between n builds: want[i] is the most build i can
 * use (SCHED_WANT_ANY: no known bound), grant[i] what it gets.  Max-min
 * fair ("water filling"): every build gets the same share, except that
 * a build never gets more than it wants and what it leaves goes to the
 * others, so sum(grant) <= pool, grant[i] <= want[i], and a slot stays
 * unshared only when every build has all it wants.  A remainder too
 * small to split goes one slot each to the lowest indices (the oldest
 * builds). */
void sched_fair_share(uint32_t pool, const uint32_t *want, uint32_t n,
		      uint32_t *grant);

#endif
