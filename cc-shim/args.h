/*
 * args.h: the compiler command line, classified and rewritten.
 *
 * args_parse() decides whether a command line is one compile of one
 * source to one object that a node can do (ARGS_REMOTE) or must run here
 * (ARGS_LOCAL, with the reason), and derives the two command lines the
 * remote path needs: the local preprocessing (which also writes any .d
 * file exactly where and as the full compile would) and the flags the
 * node compiles the unit with.
 */
#ifndef DM_ARGS_H
#define DM_ARGS_H

#include <stddef.h>

enum args_where { ARGS_REMOTE, ARGS_LOCAL };
enum args_family { ARGS_GCC, ARGS_CLANG };

struct args {
	int is_compile;	      /* a -c (or -S) compile of source files, not a
				 link, not -E/-M alone */
	enum args_where where;
	char why[160];	      /* why ARGS_LOCAL, for the log */
	enum args_family family;
	int cxx;	      /* the language is C++ */
	const char *source;   /* the one source, as given (points into argv) */
	char *object;	      /* -o, or derived the way the compiler does */
	char **remote_flags;  /* flags for the node (no -c, -o, source,
				 include-path options or dependency options) */
	size_t n_remote_flags;
	int split_dwarf; /* -gsplit-dwarf: a .dwo beside the object (named by
			    dm_jobdir_dwo_name), the node must compile to
			    the object's own name */
	/* private */
	char **expanded; /* argv with response files read (args_expand) */
	char **argv;
	int argc;
	char **own; /* storage owned by args */
	size_t n_own;
	char **cpp_flags; /* the preprocessing argv between argv[0] and
			     "-o out": everything but -c/-S/-o, plus the
			     dependency target and file made explicit */
	size_t n_cpp_flags;
};

/* The largest response file read (a larger one stays a word, and the
 * compile local). */
#define ARGS_RESPONSE_MAX (1u << 20)

/* argv with each @FILE replaced by the words of FILE, as the compiler
 * driver reads them (libiberty's expandargv: files may name files; one
 * that cannot be read stays a word).  *out is NULL when there is no
 * @FILE, else a new NULL-terminated array (free with args_argv_free).
 * Returns 0 or -ENOMEM. */
int args_expand(int argc, char **argv, char ***out, int *out_argc);

/* argv[0] is the real compiler.  Response files are read first
 * (args_expand).  Returns 0 (a classification in *a, free with
 * args_free) or a negative error (out of memory). */
int args_parse(int argc, char **argv, struct args *a);
void args_free(struct args *a);

/* The preprocessing command line for an ARGS_REMOTE compile: the unit
 * goes to `out` ("-" for stdout); -fdirectives-only (gcc) or
 * -frewrite-includes (clang); dependency options kept and made to name
 * the target and file the full compile would have.  Free with
 * args_argv_free. */
int args_cpp_argv(const struct args *a, const char *out, char ***argv);
void args_argv_free(char **argv);

#endif
