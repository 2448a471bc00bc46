/*
 * server.h: dmake-sched's network side, on one libuv loop.
 *
 * Accepts authenticated TCP connections (lib/conn.c runs the handshake),
 * dispatches each message by the peer's role and state to the state in
 * state.c, sends what the state answers, sweeps once a second (silent
 * nodes, expired tickets; every 10 s the history batch to sqlite, written
 * on libuv's thread pool so that placement never waits for the disk) and
 * optionally serves GET /status over HTTP.
 *
 * Lifetime: sched_server_start() on a loop; sched_server_stop() closes the
 * listeners and every connection, and writes the history one last time
 * (after the batch on the thread pool, if one is out); run the loop until
 * sched_server_done(), then sched_server_free().  The
 * key and the database belong to the caller and must outlive the server.
 */
#ifndef SCHED_SERVER_H
#define SCHED_SERVER_H

#include <uv.h>

#include "../lib/auth.h"
#include "db.h"

struct sched_server;

struct sched_server_config {
	const char *listen;       /* ADDR:PORT; port 0 picks a free one */
	const char *http;         /* ADDR:PORT for GET /status, or NULL */
	const struct dm_key *key;
	struct sched_db *db;      /* NULL: no history kept */
};

int sched_server_start(uv_loop_t *loop, const struct sched_server_config *cfg,
		       struct sched_server **out);
void sched_server_stop(struct sched_server *srv);
/* True once everything stop closed has finished closing. */
int sched_server_done(const struct sched_server *srv);
void sched_server_free(struct sched_server *srv);

#endif
