/*
 * coord.h: the coordinator behind `dmake make`, `dmake ninja`, `dmake run`
 * and `dmake serve`.
 *
 * It owns the build's jobserver pool, keeps `local slots + remote grant`
 * tokens in it as the scheduler's grant changes, serves the shims and
 * gates of the build on a Unix socket (local slots, toolchain identities,
 * placement forwarded to the scheduler, outcomes, toolchain archives for
 * nodes that lack a compiler: tcship.h, connections to nodes for shims
 * that cannot dial them: relay.h), runs the build command
 * as its child and prints the summary line when the child ends.  `serve`
 * runs no child: it serves whoever finds its FIFO and socket, until it is
 * told to stop.
 */
#ifndef COORD_H
#define COORD_H

#include <stddef.h>

enum coord_mode { COORD_MAKE, COORD_RUN, COORD_NINJA, COORD_SERVE };

struct coord_opts {
	enum coord_mode mode;
	char **argv; /* the command to run, NULL-terminated (not SERVE) */
	/* SERVE: where the FIFO and the socket live (their directory is
	 * created if missing), and the group allowed to use them (NULL:
	 * the owner only). */
	const char *fifo, *socket, *group;
};

/* Runs the build; returns the exit status for dmake itself (the child's
 * status, 128+signal if it was killed, or 2 on a setup failure).  SERVE
 * returns 0 when stopped by SIGINT or SIGTERM. */
int coord_run(const struct coord_opts *o);

/* The masquerade directory: $DMAKE_MASQ_DIR, else masq/ beside the dmake
 * binary (a build tree), else the installed LIBEXECDIR/dmake/bin. */
int coord_masq_dir(char *out, size_t len);

/* `dmake-gate` (or another program installed beside dmake): beside the
 * dmake binary, else in BINDIR. */
int coord_sibling(const char *name, char *out, size_t len);

#endif
