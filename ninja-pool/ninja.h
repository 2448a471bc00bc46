/*
 * ninja.h: what `dmake ninja` and `dmake-gate` need to know about ninja.
 *
 * ninja 1.12 and older (and samurai) have no jobserver: `dmake ninja`
 * runs them with a -j as large as the cluster can use and routes every
 * command of the build through `dmake-gate`, so that links and other
 * local steps never run more than the local slots at once.  Routing is a
 * rewrite of the build files, not of the project: every rule's command
 * C becomes
 *
 *     'GATE' --ninja; exit; C
 *
 * in copies of build.ninja and of the files it includes, kept in the
 * coordinator's runtime directory.  ninja runs commands as `/bin/sh -c
 * COMMAND` (samurai too), so the gate reads the evaluated C from its
 * parent shell's argv (/proc/PPID/cmdline) with no quoting to get wrong,
 * runs it in a fresh `/bin/sh -c C`, and the outer shell's `exit` makes
 * sure C never runs twice.  Rules are rewritten, never build statements,
 * variables or paths, so an arbitrary build.ninja keeps its meaning.
 *
 * This module is the part with no event loop: argument scanning, version
 * parsing, the rewrite, and the gate's classification of a command.  It
 * uses lib/ only (DESIGN.md); jobserver/ calls it.
 */
#ifndef NINJA_POOL_NINJA_H
#define NINJA_POOL_NINJA_H

#include <stddef.h>

/* The word the gate is called with from a rewritten rule, and what
 * follows it in the command: the gate looks for exactly this. */
#define NINJA_GATE_MARK " --ninja; exit; "

/* ---- ninja's command line ---------------------------------------------- */

struct ninja_args {
	const char *dir;      /* -C DIR, or NULL */
	const char *manifest; /* -f FILE, or NULL (build.ninja) */
	int manifest_idx;     /* argv index of the word holding FILE, or -1 */
	size_t manifest_off;  /* FILE's offset in that word (-vfFILE: 3) */
	int has_j;	      /* -j N given */
	/* -t TOOL, -n, --version, -h: nothing is built; run ninja as it is. */
	int passthrough;
};

/* Scans ninja's arguments (argv[0] is ninja) the way its getopt would.
 * Pointers point into argv. */
void ninja_args_scan(char **argv, struct ninja_args *a);

/* "1.11.1" gives 1, 11.  -1 when the text is no ninja version (samurai
 * prints none). */
int ninja_parse_version(const char *text, int *major, int *minor);

/* Runs `NINJA --version` and parses it; -ENOENT when ninja cannot be
 * run, DM_ECONFIG when it printed no version (samurai: treated as a
 * ninja without jobserver). */
int ninja_version(const char *ninja, int *major, int *minor);

/* ninja >= 1.13 reads a FIFO jobserver from MAKEFLAGS. */
int ninja_has_jobserver(int major, int minor);

/* ---- the rewrite --------------------------------------------------------- */

struct ninja_wrap {
	char out[4096]; /* the rewritten top manifest (absolute path) */
	unsigned files; /* manifests written (top, include, subninja) */
	unsigned rules; /* rules whose command was wrapped */
	/* Some build statement outputs the top manifest itself (CMake's
	 * re-run rule): bring it up to date with plain ninja first, as
	 * ninja does before it reads a manifest. */
	int manifest_is_output;
};

/* Writes rewritten copies of DIR/MANIFEST (DIR NULL: the current
 * directory; MANIFEST NULL: build.ninja) and of every file it includes
 * or subninjas into OUTDIR, every rule's command prefixed by
 *     'GATE' --ninja; exit;
 * On failure returns a negative code with a sentence in why. */
int ninja_wrap_manifest(const char *dir, const char *manifest,
			const char *outdir, const char *gate,
			struct ninja_wrap *w, char *why, size_t why_len);

/* ---- the gate ---------------------------------------------------------- */

/* Reads /proc/PID/cmdline of the shell that ran the gate and returns, in
 * a malloc'd string the caller frees, the original command that follows
 * NINJA_GATE_MARK in its `-c` argument.  -ENOENT when the parent is not
 * such a shell (the gate was run by hand). */
int ninja_gate_parent_command(int ppid, char **cmd);

/* The shim's name, as a launcher puts it first in a command. */
#define NINJA_SHIM_NAME "dmake-cc"

/* What the gate does with a rule's command. */
enum ninja_cmd {
	/* Anything else: it runs as it is in a local slot the gate holds
	 * until it and everything it started have exited. */
	NINJA_CMD_LOCAL,
	/* One compiler call (`/usr/bin/cc ... -c x.c`): the gate hands it
	 * to dmake-cc, which takes a local slot only while it preprocesses
	 * (or links), instead of holding one for the whole remote compile. */
	NINJA_CMD_COMPILER,
	/* A compiler call behind the shim as a launcher (`dmake-cc
	 * /usr/bin/cc ... -c x.c`, CMAKE_<LANG>_COMPILER_LAUNCHER): it runs
	 * as it is, with no slot of the gate's, since the shim takes its
	 * own.  A gate's slot would be held for the whole remote compile;
	 * and where /bin/sh execs a lone command (bash does, Debian's dash
	 * forks) the shim has the gate's pid, finds no ancestor to borrow
	 * the slot from, and waits for a second one: for ever, once every
	 * slot is held that way. */
	NINJA_CMD_SHIM,
};

/* Classifies cmd.  A compiler is a driver name ninja_is_compiler_name
 * accepts, by basename; the shim is `dmake-cc` by basename, wherever it
 * lives, followed by such a compiler (`dmake-cc` alone, `dmake-cc
 * --help`, `dmake-cc ccache cc` are LOCAL).  Anything with a shell
 * operator (; & | ( ) ` $( or a newline) outside quotes, quoting or an
 * expansion in the program's word, or any other program is LOCAL.
 * Redirections are allowed.  Assignments (`A=1 dmake-cc cc`, `env A=1
 * dmake-cc cc`) are allowed before the shim only: before a bare compiler
 * the gate could not put the shim in front of it by a prefix. */
enum ninja_cmd ninja_command_kind(const char *cmd);

/* 1 when NAME (a basename) is a compiler driver name dmake-cc handles:
 * cc, gcc, g++, c++, clang, clang++, with a target prefix or a version
 * suffix, and not dmake-cc itself. */
int ninja_is_compiler_name(const char *name);

#endif
