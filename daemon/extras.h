/*
 * extras.h: what a job carries beyond its unit (doc/protocol.md, "Job
 * extras"), so that the node's diagnostics are the client's: the
 * client's locale and colour settings, its terminal, and the original
 * files gcc reads its source excerpts from.
 *
 * Lifetime: a struct node_extras per job, node_extras_init() before
 * anything, node_extras_free() when the job ends.  A node_tty lives from
 * node_extras_tty_begin() to node_extras_tty_end() around one compile.
 */
#ifndef DM_NODE_EXTRAS_H
#define DM_NODE_EXTRAS_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/jobdir.h"

struct node_extras {
	char **env; /* the client's NAME=VALUE of the names node_extras_env
		       takes; owned, NULL-terminated (NULL: none) */
	size_t n_env;
	int have_env; /* a JOB_ENV came: the locale is the client's */
	uint32_t tty; /* DM_JOB_TTY_* */
	uint32_t cols, rows;
	uint64_t files, bytes; /* received and laid out */
	uint64_t cached;       /* laid out from the node's file cache */
	uint64_t refused;      /* files skipped: bad path, second copy */
};

void node_extras_init(struct node_extras *x);
void node_extras_free(struct node_extras *x);

/* 1 when NAME=VALUE names a variable a client may set for its job's
 * compiler. */
int node_extras_env_allowed(const char *entry);

struct node_files;

/* Reads the extras of a job from fd up to JOB_START, laying the files
 * out in jd from the file cache fc or as received (at most limit bytes
 * received in all), answering each JOB_FILES with JOB_FILES_NEED.  Returns 0; -ENOSPC, -EDQUOT,
 * -EFBIG or -EIO when a file could not be stored (the rest of the
 * extras is unread but the connection is sound); anything else nonzero
 * when the connection can carry no answer any more (logged with peer). */
int node_extras_recv(struct node_extras *x, int fd, struct dm_buf *frame,
		     const struct dm_jobdir *jd, struct node_files *fc,
		     uint64_t limit, const char *peer);

/* The job compiler's environment: base without the variables a client
 * sets (its locale among them), then the client's.  A new array whose
 * strings belong to base and x: free() the array alone.  NULL: no
 * memory. */
char **node_extras_env(const struct node_extras *x, char *const *base);

/* When the client's stdin or stderr is a terminal (x->tty), a
 * pseudo-terminal of its size in raw mode: *in_fd and *err_fd are set to
 * it for the descriptors that were terminals on the client, and a thread
 * copies what the compiler writes to it into outfd (at most limit bytes,
 * 0: no limit) until node_extras_tty_end(), called after the compiler
 * and everything it started have exited.  *t is NULL when there is no
 * terminal to make.  What the compiler writes to stdout reaches outfd
 * directly, so the order between the two streams is not kept (under -c
 * compilers write nothing to stdout).  Returns 0 or a negative error. */
struct node_tty;
int node_extras_tty_begin(const struct node_extras *x, int outfd,
			  uint64_t limit, struct node_tty **t, int *in_fd,
			  int *err_fd);
void node_extras_tty_end(struct node_tty *t);

#endif
