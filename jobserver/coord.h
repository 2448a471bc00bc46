/*
 * coord.h: the coordinator behind `dmake make` and `dmake run`.
 *
 * It owns the build's jobserver pool, keeps `local slots + remote grant`
 * tokens in it as the scheduler's grant changes, serves the shims of the
 * build on a Unix socket (local slots, toolchain identities, placement
 * forwarded to the scheduler, outcomes), runs the build command as its
 * child and prints the summary line when the child ends.
 */
#ifndef COORD_H
#define COORD_H

enum coord_mode { COORD_MAKE, COORD_RUN };

struct coord_opts {
	enum coord_mode mode;
	char **argv; /* the command to run, NULL-terminated */
};

/* Runs the build; returns the exit status for dmake itself (the child's
 * status, 128+signal if it was killed, or 2 on a setup failure). */
int coord_run(const struct coord_opts *o);

/* The masquerade directory: $DMAKE_MASQ_DIR, else masq/ beside the dmake
 * binary (a build tree), else the installed LIBEXECDIR/dmake/bin. */
int coord_masq_dir(char *out, size_t len);

#endif
