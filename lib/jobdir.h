/*
 * jobdir.h: the node's half of the fidelity recipe.
 *
 * A job directory is laid out so that the compiler, run there on the
 * unit, writes the object the client's compiler would have written in
 * the client's cwd: the unit sits at the source's own name (relative
 * names resolve inside the job directory, however many "../" they hold),
 * and debug paths are mapped back to the client's cwd
 * (-fdebug-prefix-map).  doc/protocol.md's JOB message carries what this
 * needs: args (the flags for the node, from cc-shim/args.c), cwd and
 * source.
 */
#ifndef DM_JOBDIR_H
#define DM_JOBDIR_H

#include <limits.h>
#include <stddef.h>

struct dm_jobdir {
	char root[PATH_MAX];   /* private, removed by dm_jobdir_remove */
	char cwd[PATH_MAX];    /* where the compiler runs */
	char unit[PATH_MAX];   /* absolute path the unit must be written to */
	char object[PATH_MAX]; /* absolute path the compiler writes */
	char object_arg[PATH_MAX]; /* what -o says: object, or the client's
				      own name (dm_jobdir_name_object) */
	char client_cwd[PATH_MAX];
	char source[PATH_MAX]; /* the client's source name, as given */
};

/* Creates a fresh directory under `base` laid out for a job whose client
 * ran in client_cwd (absolute) on `source` (as the client's command line
 * named it).  Refuses (DM_EPROTO) names that would escape the job
 * directory or are not plausible paths. */
int dm_jobdir_create(const char *base, const char *client_cwd,
		     const char *source, struct dm_jobdir *jd);

/* Where a file the client sends with the job (protocol.md, JOB_FILE)
 * goes: `path`, relative, resolved from the job's cwd, its directories
 * created; the path of the file into out.  Refuses (DM_EPROTO) a path
 * that is absolute or leaves ROOT/c. */
int dm_jobdir_place(const struct dm_jobdir *jd, const char *path, char *out,
		    size_t len);

/* Has the compiler write the object under the client's name for it,
 * `name` (relative, from the job's cwd, its directories created), given
 * to -o as it is: with -gsplit-dwarf the object names its .dwo after it.
 * Refuses (DM_EPROTO) what dm_jobdir_place refuses. */
int dm_jobdir_name_object(struct dm_jobdir *jd, const char *name);

/* The split DWARF file a compile with -gsplit-dwarf writes beside
 * `object` (gcc 12 and clang 14, measured): the object's name without its
 * last extension, plus ".dwo" ("sub/a.o" -> "sub/a.dwo", "a" ->
 * "a.dwo", ".d.o" -> ".d.dwo").  -ENAMETOOLONG when it does not fit. */
int dm_jobdir_dwo_name(const char *object, char *out, size_t len);

/* The compiler's argv for the job: compiler, the client's flags for the
 * node, the prefix maps, -c, the source name, -o the object.  Free with
 * dm_jobdir_argv_free. */
int dm_jobdir_argv(const struct dm_jobdir *jd, const char *compiler,
		   const char *const *flags, size_t n_flags, char ***argv);
void dm_jobdir_argv_free(char **argv);

/* Removes the job directory and everything in it. */
void dm_jobdir_remove(struct dm_jobdir *jd);

/* How many directory levels the relative name `source` climbs above
 * where it starts: 0 for "a.c" or "x/../a.c", 2 for "../../src/a.c". */
int dm_jobdir_levels_above(const char *source);

#endif
