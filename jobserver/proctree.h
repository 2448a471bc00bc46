/*
 * proctree.h: how many jobserver tokens the makes of a build hold now,
 * read from /proc.
 *
 * A make with N children (recipes, sub-makes, zombies not yet reaped)
 * holds N - 1 tokens from the pool: its first child runs on its implicit
 * token.  A sub-make's implicit token is the one its parent took for the
 * recipe that runs it, so the sum over every make below the build's root
 * is what the pool is missing, no more.  Tokens a killed make took are
 * counted nowhere: the difference is the leak.
 */
#ifndef DMAKE_PROCTREE_H
#define DMAKE_PROCTREE_H

#include <stdint.h>
#include <sys/types.h>

/* Sums the tokens held by make processes at or below root (its comm is
 * make or gmake).  *sig identifies the snapshot (which makes, how many
 * children each), so two equal readings a while apart are the same
 * state, not a race with a make between reading a token and forking.
 * 0 or -errno. */
int proctree_tokens_held(pid_t root, unsigned *held, uint64_t *sig);

/* pid's parent, from /proc/PID/stat; -1 when pid is gone. */
pid_t proctree_parent(pid_t pid);

#endif
