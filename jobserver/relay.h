/*
 * relay.h: the coordinator's relay from shims to nodes (doc/protocol.md,
 * "Relay").
 *
 * A shim that cannot reach a node by TCP (portage compiles in a network
 * namespace of its own) opens a connection of its own to the
 * coordinator's socket and sends RELAY with the node's address.  The
 * coordinator hands that connection to relay_open(), which connects to
 * the node, answers RELAY_OK or RELAY_FAIL, and from then on copies bytes
 * both ways without looking at them, reading neither side faster than
 * the other drains.  Only addresses the scheduler gave out in a PLACED
 * (relay_allow) are ever connected to: the socket is no TCP proxy for
 * whoever can open it.
 *
 * Lifetimes: relay_new() and relay_free() (after the loop has run to its
 * end); relay_stop() closes every pipe from inside the loop and refuses
 * new ones.  relay_open() owns the dm_conn it is given from then on.
 */
#ifndef RELAY_H
#define RELAY_H

#include <uv.h>

#include "../lib/conn.h"

struct relay;

int relay_new(uv_loop_t *loop, struct relay **out);
/* A node address the scheduler placed a job of this build on. */
void relay_allow(struct relay *r, const char *node_addr);
/* c's first message was RELAY for node_addr: c is detached (closed as a
 * dm_conn, its on_close runs now) and its socket becomes one end of a
 * relay, or gets RELAY_FAIL and is closed. */
void relay_open(struct relay *r, struct dm_conn *c, const char *node_addr);
/* Relays that reached their node (RELAY_OK sent), since relay_new. */
unsigned relay_count(const struct relay *r);
void relay_stop(struct relay *r);
void relay_free(struct relay *r);

#endif
