/*
 * link.h: the node's connection to the scheduler, kept by one thread.
 *
 * The thread connects, proves the key, registers (NODE_REGISTER ->
 * NODE_ACCEPT) and sends NODE_LOAD every heartbeat; when the scheduler
 * goes away it tries again every 2 s and registers anew.  Jobs do not
 * depend on it: a node keeps serving the jobs it has while the link is
 * down.
 */
#ifndef DM_NODE_LINK_H
#define DM_NODE_LINK_H

#include "node.h"

struct node_link; /* opaque */

/* Starts the thread; n must outlive node_link_stop(). */
int node_link_start(struct node *n, struct node_link **out);
/* Closes the scheduler connection (the scheduler drops the node at once
 * rather than after its silence limit), joins the thread, frees l. */
void node_link_stop(struct node_link *l);

#endif
