/*
 * tccache.h: the node's cache of toolchains that builds sent it.
 *
 * A job whose toolchain the node has no compiler of is run from an
 * archive the client sends once (lib/tcarchive.h, doc/protocol.md
 * "Toolchain archives"): the node answers the unit with NEED_TOOLCHAIN,
 * receives TOOLCHAIN and the archive's stream, checks its BLAKE2b
 * against the hash announced, unpacks it into CACHE/unpacked/HASH,
 * and then asks the unpacked compiler, inside a sandbox that shows the
 * archive as `/` (sandbox.h, node_sandbox_derive), for its identity:
 * only a compiler that is the toolchain the job named is kept.  Jobs of
 * that toolchain then run with it in that sandbox, at the paths it had
 * on the client, so the object is the client's.
 *
 * One transfer per toolchain and node: while one connection receives a
 * toolchain, the others that need it wait for it (a condition variable
 * under the cache's one mutex), and only if that transfer fails does
 * the next one ask its own client.
 *
 * The cache is bounded by --cache-limit (bytes of files unpacked); when
 * a new toolchain needs room the least recently used ones that no job
 * is using go.  An sqlite index (CACHE/unpacked/index.sqlite) keeps
 * what is there, its identity and when it was last used, across
 * restarts; directories it does not list (a transfer cut short by a
 * crash) are removed at start.
 *
 * Thread-safe: every job thread calls in.  Lifetime: node_tccache_open()
 * at start, after the sandbox is set up; never closed while jobs run.
 */
#ifndef DM_NODE_TCCACHE_H
#define DM_NODE_TCCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "node.h"

struct node_tccache;
struct node_tc_use;

/* Largest archive a node receives, whatever its --cache-limit. */
#define NODE_TC_ARCHIVE_MAX (2ull << 30)

/* Opens (creating) CACHE/unpacked and its index, drops what the index
 * does not know, trims to the limit.  n->sandbox must be set (the
 * cache's sandboxes derive from it). */
int node_tccache_open(struct node *n, struct node_tccache **out);
void node_tccache_close(struct node_tccache *c);

/* 1 when a job of toolchain id may be served from the cache: it holds
 * it now, or can_fetch (the client sends archives).  A quick look for
 * refusing early; node_tccache_get() decides. */
int node_tccache_may_serve(struct node_tccache *c, const char *id,
			   int can_fetch);

/* The compiler of toolchain id from the cache, for one job: at once if
 * it is there, else after another connection's transfer of it, else,
 * with can_fetch, from this connection's client (NEED_TOOLCHAIN on fd,
 * then TOOLCHAIN and its stream).  Returns 0 with *out (release with
 * node_tccache_put()), or an error with why: *conn_lost set when the
 * connection can carry no answer any more (the peer went away or broke
 * the protocol), else the job gets an infrastructure failure. */
int node_tccache_get(struct node_tccache *c, const char *id, int can_fetch,
		     int fd, struct dm_buf *frame, const char *peer,
		     struct node_tc_use **out, int *conn_lost, char *why,
		     size_t why_len);
const struct node_compiler *node_tc_use_compiler(const struct node_tc_use *u);
void node_tccache_put(struct node_tccache *c, struct node_tc_use *u);

/* What NODE_TOOLCHAINS says: the adverts (dm_toolchain_format) of the
 * toolchains held, newly allocated (free each and the array), and the
 * generation they are of; the generation changes with every change. */
int node_tccache_adverts(struct node_tccache *c, char ***out, size_t *n,
			 uint64_t *gen);
uint64_t node_tccache_gen(struct node_tccache *c);

#endif
