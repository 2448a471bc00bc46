/*
 * toolchain.h: a compiler's identity, named by what it does.
 *
 * Two compilers with the same id are interchangeable for every job: same
 * driver family and language role, same version, same target triple, same
 * predefined macros (`-dM -E`, which also captures default PIE, default
 * -std, default arch) for the role's language, same options handed by the
 * driver to cc1 and as (`-###`: -fno-plt, stack-clash protection and
 * other defaults no macro shows).  The id is the hex
 * BLAKE2b-256 (libsodium crypto_generichash) of those facts.
 */
#ifndef DM_TOOLCHAIN_H
#define DM_TOOLCHAIN_H

#include <limits.h>
#include <stddef.h>

#define DM_TOOLCHAIN_ID_LEN 64

/* Bumped when the facts hashed or their layout change: ids of different
 * schemes must never match, and whatever keeps ids (the identity cache)
 * keeps them apart by it. */
#define DM_TOOLCHAIN_SCHEME "dmake-toolchain-2"

struct dm_toolchain {
	char id[DM_TOOLCHAIN_ID_LEN + 1]; /* hex */
	char role[17];	    /* "gcc", "g++", "clang" or "clang++" */
	char version[64];   /* e.g. "12.2.0", "14.0.6" */
	char machine[128];  /* target triple, e.g. "x86_64-linux-gnu" */
	char path[PATH_MAX]; /* the compiler as found, symlinks resolved */
};

/* Identifies the compiler at `path` that was invoked as `name` (the name
 * decides the role when the binary serves several: `cc` -> gcc, `c++` ->
 * g++; a clang invoked as clang++ is clang++).  Runs the compiler a few
 * times (blocking, well under a second).  Returns 0, DM_ENOTOOLCHAIN for a
 * compiler that is neither gcc nor clang, or a negative error. */
int dm_toolchain_identify(const char *name, const char *path,
			  struct dm_toolchain *tc);

struct dm_buf;

/* dm_toolchain_identify(), also appending to progs the program of each
 * command the driver's `-###` printed for a compile, each NUL-terminated,
 * as printed: an absolute path (gcc's cc1 or cc1plus, clang itself) or a
 * bare name the driver looks for on PATH (gcc's `as` on Debian).  These
 * run besides the driver and decide what it does; the identity cache
 * watches them.  progs may hold a partial list when this fails. */
int dm_toolchain_identify_progs(const char *name, const char *path,
				struct dm_toolchain *tc, struct dm_buf *progs);

/* The compiler as dm_toolchain_identify() finds it: a bare name looked
 * up on PATH as exec would, then realpath(), into out (PATH_MAX bytes).
 * 0 or -errno. */
int dm_toolchain_resolve(const char *path, char *out);

struct dm_spawn_opts;

/* How dm_toolchain_identify_in() runs its queries, for a compiler that
 * is not this host's own: one unpacked from a toolchain archive, which
 * only makes sense inside the sandbox that shows the archive as `/`.
 * env replaces the caller's environment (LC_ALL=C is still forced);
 * prepare, when set, is called on each query's spawn options before it
 * runs (to set namespaces and hooks, a working directory). */
struct dm_toolchain_runner {
	char *const *env;
	void (*prepare)(void *arg, struct dm_spawn_opts *o);
	void *arg;
};

/* dm_toolchain_identify() through run: path is taken as it is (it
 * names a file where run runs the compiler, not on this host), and
 * tc->path is that path. */
int dm_toolchain_identify_in(const char *name, const char *path,
			     const struct dm_toolchain_runner *run,
			     struct dm_toolchain *tc);

/* "ID ROLE VERSION MACHINE": the form a node advertises in
 * NODE_REGISTER.toolchains. */
int dm_toolchain_format(const struct dm_toolchain *tc, char *out,
			size_t len);

/* Walks the commands `-###` printed into text (lines that begin with a
 * space; gcc quotes some words, clang all), splitting text in place:
 * fn(ctx, word, first) for each word, first set for the command's
 * program, then fn(ctx, NULL, 0) at the end of each command.  Stops at
 * the first non-zero fn() and returns it. */
typedef int (*dm_driver_word_fn)(void *ctx, const char *word, int first);
int dm_toolchain_driver_words(char *text, dm_driver_word_fn fn, void *ctx);

#endif
