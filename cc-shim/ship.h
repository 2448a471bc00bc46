/*
 * ship.h: the shim's half of shipping a toolchain (doc/protocol.md,
 * "Toolchain archives").
 *
 * A node that has no compiler of the job's toolchain, but can run one
 * from an archive, reads the unit and then answers NEED_TOOLCHAIN
 * instead of JOB_RESULT.  The shim asks its coordinator for the
 * compiler's archive (packed once per compiler and cached on this host,
 * lib/tcarchive.h), streams it to the node after a TOOLCHAIN message,
 * tells the coordinator how much it sent (for the summary line), and
 * reads the JOB_RESULT as usual.
 */
#ifndef DM_SHIP_H
#define DM_SHIP_H

#include <stddef.h>

#include "../lib/buf.h"
#include "../lib/wire.h"

/* Reads the node's answer to a job on node_fd into *m (JOB_RESULT, which
 * the caller frees), sending the toolchain archive first if the node
 * asks for it.  coord_fd is the coordinator (-1: none, and the node is
 * told there is no archive).  An ERROR from the node is -DM_EREMOTE
 * with its text in why; anything else unexpected -DM_EUNEXPECTED. */
int ship_expect_result(int node_fd, int coord_fd, struct dm_buf *frame,
		       const char *toolchain, union dm_msg *m, char *why,
		       size_t why_len);

#endif
