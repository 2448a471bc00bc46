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

/* Serves the connection fd from peer (for the log) and closes fd. */
void node_job_serve(struct node *n, int fd, const char *peer);

/* Compiles a small unit with cc outside and inside the sandbox and
 * compares the objects.  Returns 0 when they are the same,
 * NODE_PROBE_SANDBOX when the sandbox could not be built (why says which
 * step failed), NODE_PROBE_COMPILER when the compiler failed or wrote
 * another object in it (why says how).  Blocking; for the start. */
enum { NODE_PROBE_SANDBOX = 1, NODE_PROBE_COMPILER = 2 };
int node_job_probe(struct node *n, const struct node_compiler *cc, char *why,
		   size_t why_len);

/* What the compiler's output says about the node rather than the code. */
enum {
	NODE_HINT_NOSPACE = 1,	 /* the disk filled up */
	NODE_HINT_CRASH = 2,	 /* the compiler crashed or was killed */
	NODE_HINT_NOMEM = 4,	 /* it ran out of memory (--job-mem) */
	NODE_HINT_NOPROC = 8,	 /* it could not fork (--job-procs) */
	NODE_HINT_DIAGNOSED = 16 /* it reported an error in the code, at a
				    place in it ("x.c:3:7: error: ...") */
};
/* Scans compiler output (the tail of it is enough) for NODE_HINT_*. */
int node_job_hints(const char *text, size_t len);
/* The last non-empty line of text, escapes and control characters
 * removed, cut to fit out. */
void node_job_last_line(const char *text, size_t len, char *out,
			size_t out_len);

/* The limits a job ran under, for the explanations. */
struct node_job_limits {
	unsigned timeout_s;
	unsigned cpu_s;
	uint64_t mem;
	uint64_t fsize;
	unsigned procs;
};

/* What a finished compile means for JOB_RESULT: status and flags, and
 * for an infrastructure failure the node's explanation in why.  spawn_rc
 * is dm_spawn_run's return, compiler the program it ran, object_exists
 * whether the object file is there, hints from node_job_hints, tail the
 * last line of the compiler's output (node_job_last_line; may be "").
 *
 * A failed compile is the code's fault, to be shown to the user and not
 * repeated, only when the compiler said so: it exited with a status and
 * reported an error at a place in the code (NODE_HINT_DIAGNOSED).  Any
 * other failure (a signal, a limit, a crash, a compiler that cannot start
 * its parts, anything the sandbox refused) is the node's: the shim
 * compiles again elsewhere or locally, where a real error shows again.
 * A pure function, so the table of outcomes has a unit test. */
void node_job_verdict(const char *compiler, int spawn_rc,
		      const struct dm_spawn_result *r, int object_exists,
		      int hints, const char *tail,
		      const struct node_job_limits *lim, uint32_t *status,
		      uint32_t *flags, char *why, size_t why_len);

#endif
