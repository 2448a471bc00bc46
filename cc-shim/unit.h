/*
 * unit.h: the preprocessed unit, made ready for the node.
 *
 * A streaming filter over the preprocessor's output: it removes what the
 * node's compiler would add again itself (gcc's `<built-in>` and
 * `<command-line>` sections of a -fdirectives-only unit), so that the
 * unit compiled as an ordinary source with the original flags gives the
 * local object byte for byte.  Feeds may split lines anywhere.
 *
 * For gcc it can also relocate the unit (unit_filter_relocate): gcc
 * prints the source line under each diagnostic by reading the file its
 * location names from disk, so the node must hold the original files at
 * those names.  Absolute names become names under UNIT_ABS_DIR, relative
 * to the job's cwd, and the list of files (unit_files) says what to send.
 * unit_node_job() then names the unit and the flags for the node so
 * that the object, __FILE__, __BASE_FILE__ and the debug information
 * name the files as the local compile does.
 *
 * Every filter also scans what it passes for __DATE__, __TIME__ and
 * __TIMESTAMP__ outside comments and literals (unit_filter.time_macro):
 * a node compiles at another time, and its __TIMESTAMP__ would be the
 * unit's, so such a unit is compiled here.  The same scan notes
 * __COUNTER__ (unit_filter.counter), which clang units cannot carry.
 */
#ifndef DM_UNIT_H
#define DM_UNIT_H

#include <stddef.h>

#include "args.h"

typedef int (*unit_out_fn)(void *arg, const void *p, size_t n);

/* unit_filter.time_uses */
#define UNIT_USES_DATE 0x1
#define UNIT_USES_TIME 0x2
#define UNIT_USES_TIMESTAMP 0x4

/* Where a relocated unit's absolute names live, relative to the job's
 * cwd on the node, and where the unit itself goes. */
#define UNIT_ABS_DIR ".dmake-abs"
#define UNIT_MAIN_DIR ".dmake-unit"

struct unit_file {
	char *name;   /* as this host names it: open it here */
	char *node;   /* where the node puts it, relative to the job's cwd */
	int included; /* entered from the main file or the command line */
};

/* The files a relocated gcc unit names, each once, in order of first
 * mention.  Free with unit_files_free. */
struct unit_files {
	struct unit_file *v;
	size_t n, cap;
	int levels; /* the most "../" a relative name climbs */
	/* private */
	size_t *slot; /* open addressing over v, by name */
	size_t nslot;
	int depth; /* include depth while filtering */
};

void unit_files_free(struct unit_files *u);

/* The token scanner's state (private). */
struct unit_scan {
	int state;
	int prefix; /* raw string prefix letters seen */
	char ident[16];
	size_t ident_len;
	int ident_long;
	char delim[20]; /* raw string delimiter */
	size_t delim_len, match;
	int esc;
};

struct unit_filter {
	enum args_family family;
	unit_out_fn out;
	void *arg;
	/* "__DATE__", "__TIME__" or "__TIMESTAMP__" when the unit uses one,
	 * else empty */
	char time_macro[16];
	int time_uses; /* UNIT_USES_*: every one of them the unit uses */
	/* the unit names __COUNTER__: clang -frewrite-includes evaluates
	 * #if here, so a counter used in one would count twice */
	int counter;
	/* private */
	int state;
	char line[8192];
	size_t len;
	int overlong;
	int skip;	      /* depth inside an include being removed */
	int pending;	      /* a `<command-line>` marker not yet written */
	unsigned long lineno; /* lines seen so far */
	struct unit_files *files; /* relocating (gcc), else NULL */
	int nomem;
	struct unit_scan scan;
};

void unit_filter_init(struct unit_filter *f, enum args_family family,
		      unit_out_fn out, void *arg);
/* gcc only: rewrite absolute file names in line markers to names under
 * UNIT_ABS_DIR and list every file named in *files (which must be
 * zeroed, and outlives f). */
void unit_filter_relocate(struct unit_filter *f, struct unit_files *files);
int unit_filter_feed(struct unit_filter *f, const void *p, size_t n);
int unit_filter_finish(struct unit_filter *f);

/* For a relocated gcc unit: the source name the node gets (under
 * UNIT_MAIN_DIR, climbing as far as any file of the unit, so that every
 * relative name resolves inside the job directory) and the node's flags:
 * the args' remote flags followed by the prefix maps that turn the
 * node's names back into the names the local compile records, composed
 * with the user's own maps as gcc applies them.  Free both with
 * args_argv_free (source is a plain string: free()). */
int unit_node_job(const struct args *a, const struct unit_files *u,
		  char **source, char ***flags, size_t *n_flags);

/* Replaces the node's names with this host's in the compiler's output
 * (diagnostics name the relocated files): a streaming substitution of
 * UNIT_ABS_DIR "/" by "/", and of the node's source name by the
 * source's, that may be fed in pieces of any size. */
struct unit_unname {
	unit_out_fn out;
	void *arg;
	const char *from[2], *to[2];
	char carry[4096 + 32];
	size_t len;
};
void unit_unname_init(struct unit_unname *u, const char *node_source,
		      const char *source, unit_out_fn out, void *arg);
int unit_unname_feed(struct unit_unname *u, const void *p, size_t n);
int unit_unname_finish(struct unit_unname *u);

#endif
