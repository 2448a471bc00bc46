/*
 * fidelity.h: what a remote compile needs beyond its unit so that
 * everything the user sees is what the local compile would show
 * (doc/DESIGN.md, "The result is the local result").
 *
 * - the job's extras (doc/protocol.md, "Job extras"): the environment
 *   that shapes diagnostics (locale, GCC_COLORS...), whether stdin and
 *   stderr are terminals and of what size, and for gcc the original
 *   files the unit came from (unit.h, relocation);
 * - the units that must be compiled here after all: one that uses
 *   __DATE__, __TIME__ or __TIMESTAMP__ (a node compiles at another
 *   time), one whose headers have a precompiled header beside them (the
 *   local compile would use it, the node cannot);
 * - the stderr of the node, kept in a file (never in memory, whatever
 *   its size) until the object is in place, then written once, with the
 *   node's names of relocated files turned back into this host's.
 *
 * Lifetime: fid_init() before preprocessing, fid_free() at the end; the
 * strings of a filled JOB message point into the struct fid.
 */
#ifndef DM_FIDELITY_H
#define DM_FIDELITY_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/wire.h"
#include "args.h"
#include "unit.h"

struct fid {
	struct unit_files files; /* gcc: the files the unit names */
	char time_macro[16];	 /* from the unit filter */
	const struct args *a;
	char *node_source; /* gcc: the unit's name on the node */
	char **node_flags; /* gcc: the node's flags */
	size_t n_node_flags;
	char **env; /* NAME=VALUE sent in JOB_ENV (points into environ) */
	size_t n_env;
	uint32_t tty, cols, rows;
};

void fid_init(struct fid *f);
void fid_free(struct fid *f);

/* Makes the unit filter relocate and list files when the compiler is
 * gcc.  Call after unit_filter_init. */
void fid_filter(struct fid *f, struct unit_filter *uf);

/* After preprocessing (uf finished).  Returns 0 when the job can go to
 * a node, 1 when it must be compiled here (why says why), or a negative
 * error. */
int fid_prepare(struct fid *f, const struct args *a,
		const struct unit_filter *uf, char *why, size_t why_len);

/* Fills the JOB fields that depend on it: source, args and the extras
 * bit of want. */
void fid_job(const struct fid *f, struct dm_msg_job *j);

/* What became of the files a gcc unit names. */
struct fid_sent {
	uint32_t cached;     /* the node had them (JOB_FILES_NEED) */
	uint32_t sent;	     /* sent whole */
	uint32_t remembered; /* hashes the coordinator had (HASH_REQ) */
};
#define FID_HASH 32 /* BLAKE2b-256, JOB_FILES.hashes */

/* Sends the extras on the node's socket, right after the unit: the
 * files by hash first (hashes the coordinator remembers taken from it,
 * when coord >= 0), then those the node asks for (read with frame). */
int fid_send_extras(const struct fid *f, int fd, int coord,
		    struct dm_buf *frame, struct fid_sent *sent);

/* A file for the node's stderr, beside the object (the user can write
 * there; the object goes there too), unnamed.  Returns the fd or a
 * negative error. */
int fid_spool_open(const char *object);
/* Writes the spool (from its start) to out, the node's names turned
 * into this host's. */
int fid_spool_emit(const struct fid *f, int spool, int out);

/* The environment names JOB_ENV carries (the node accepts these and no
 * others). */
int fid_env_name(const char *entry);

#endif
