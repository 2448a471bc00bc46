/*
 * jobserver.h: GNU make's jobserver, the server side and a client.
 *
 * The server (the coordinator) owns a pool: a pipe (make <= 4.3) or a
 * named FIFO (make >= 4.4, ninja >= 1.13) holding one byte per token.
 * dm_pool_set_target() makes the pool hold N tokens: it writes bytes when
 * N grows and reads bytes back when N shrinks; bytes that clients hold
 * right now cannot be read back, so they stay owed (the debt) and are
 * reclaimed as clients return them (dm_pool_reclaim when the read end is
 * readable).  Every make process also holds one implicit token that is
 * never in the pool, so the coordinator targets tokens - 1.
 */
#ifndef DM_JOBSERVER_H
#define DM_JOBSERVER_H

#include "buf.h"

/* DM_POOL_DUAL is a FIFO whose two ends are also inherited as pipe
 * descriptors: make >= 4.4 and ninja >= 1.13 open it by path, make <= 4.3
 * (which rejects a fifo: auth as fatal) reads and writes the descriptors.
 * Both reach the same kernel pipe, so it is one pool for every client. */
enum dm_pool_kind { DM_POOL_PIPE, DM_POOL_FIFO, DM_POOL_DUAL };

struct dm_pool;

/* Runs `make --version` (make is a name on PATH or a path) and picks the
 * pool kind: FIFO for GNU make >= 4.4, pipe below.  Returns DM_ECONFIG
 * when the output is not GNU make's. */
int dm_pool_kind_for_make(const char *make, enum dm_pool_kind *kind,
			  int *major, int *minor);
/* The parsing half of the above, on the text `make --version` printed:
 * "GNU Make 4.4.1" gives 4, 4.  DM_ECONFIG when it is not GNU make's. */
int dm_pool_parse_make_version(const char *text, int *major, int *minor);

/* Creates an empty pool.  fifo_path is where a FIFO (or dual) pool lives
 * (created mode 0600, removed by dm_pool_destroy); ignored for a pipe.  The
 * server's own descriptors are non-blocking and close-on-exec; the
 * descriptors for the child (pipe kind) are not close-on-exec. */
int dm_pool_create(enum dm_pool_kind kind, const char *fifo_path,
		   struct dm_pool **out);
void dm_pool_destroy(struct dm_pool *p);

int dm_pool_set_target(struct dm_pool *p, unsigned tokens);
unsigned dm_pool_target(const struct dm_pool *p);
/* Tokens the pool should give back but clients hold right now. */
unsigned dm_pool_debt(const struct dm_pool *p);
/* Reads back owed tokens that are in the pool now; never blocks. */
int dm_pool_reclaim(struct dm_pool *p);
/* The descriptor to poll for readability while debt > 0. */
int dm_pool_fd_for_poll(const struct dm_pool *p);

/* Writes into *out the MAKEFLAGS a child should get: `old` with any -j,
 * -jN, --jobs, --jobserver-fds=, --jobserver-auth= removed (sets
 * *removed_j when a -j was there), plus ` -j --jobserver-fds=R,W
 * --jobserver-auth=R,W` (pipe), ` -j --jobserver-auth=fifo:PATH`
 * (FIFO) or ` -j --jobserver-auth=fifo:PATH --jobserver-fds=R,W
 * --jobserver-auth=R,W` (dual: the last auth is the one make and ninja
 * use, and make 4.3 takes only descriptors). */
int dm_pool_merge_makeflags(const struct dm_pool *p, const char *old,
			    struct dm_buf *out, int *removed_j);
/* The pipe's descriptors the child must inherit at these numbers; both
 * -1 for a FIFO pool. */
void dm_pool_child_fds(const struct dm_pool *p, int *rfd, int *wfd);
/* The FIFO's path (FIFO and dual pools), NULL for a pipe. */
const char *dm_pool_fifo_path(const struct dm_pool *p);
/* Tokens sitting in the pool now (FIONREAD), or a negative error. */
int dm_pool_available(const struct dm_pool *p);
/* Makes the pool hold exactly its target, forgetting any debt.  Only
 * right when no client holds a token (every client is gone): tokens that
 * a client killed with SIGKILL took are put back this way.  *delta (may
 * be NULL) is the number of tokens written (> 0) or read back (< 0). */
int dm_pool_resync(struct dm_pool *p, int *delta);
/* Writes n tokens that clients took and will never give back (a make
 * killed with SIGKILL); the target is unchanged.  Returns how many went
 * in. */
unsigned dm_pool_put_back(struct dm_pool *p, unsigned n);

/* ---- client: what make does with the pool ---------------------------- */

struct dm_pool_client;

/* Finds the jobserver in a MAKEFLAGS string (fifo:PATH or R,W).  Returns
 * -ENOENT when there is none. */
int dm_pool_client_open(const char *makeflags, struct dm_pool_client **out);
/* Blocks until a token is read (timeout_ms 0: forever). */
int dm_pool_client_acquire(struct dm_pool_client *c, unsigned timeout_ms);
int dm_pool_client_release(struct dm_pool_client *c);
void dm_pool_client_close(struct dm_pool_client *c);

#endif
