/*
 * job.h: one shim connection, served start to end on a blocking socket:
 * handshake, JOB, the unit, the compile, JOB_RESULT and its two streams.
 *
 * Whatever the peer sends or the compiler does, the damage stays inside
 * the connection: every failure ends in node_job_serve() returning, with
 * the job directory removed and the socket closed.
 */
#ifndef DM_NODE_JOB_H
#define DM_NODE_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/spawn.h"
#include "node.h"

/* Largest unit the node accepts (the stream is refused past it). */
#define NODE_UNIT_LIMIT (1ull << 30)
/* Largest file the compiler may write (object, diagnostics). */
#define NODE_FSIZE_LIMIT (4ull << 30)

/* Serves the connection fd from peer (for the log) and closes fd. */
void node_job_serve(struct node *n, int fd, const char *peer);

/* What the compiler's output says about the node rather than the code. */
enum {
	NODE_HINT_NOSPACE = 1, /* the disk filled up */
	NODE_HINT_CRASH = 2,   /* the compiler crashed or was killed */
};
/* Scans compiler output (the tail of it is enough) for NODE_HINT_*. */
int node_job_hints(const char *text, size_t len);

/* What a finished compile means for JOB_RESULT: status and flags, and
 * for an infrastructure failure the node's explanation in why.  spawn_rc
 * is dm_spawn_run's return, compiler the program it ran, object_exists
 * whether the object file is there, hints from node_job_hints.  A pure
 * function, so the table of outcomes has a unit test. */
void node_job_verdict(const char *compiler, int spawn_rc,
		      const struct dm_spawn_result *r, int object_exists,
		      int hints, unsigned timeout_s, uint32_t *status,
		      uint32_t *flags, char *why, size_t why_len);

#endif
