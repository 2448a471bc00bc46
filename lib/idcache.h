/*
 * idcache.h: toolchain identities kept across runs, in sqlite3.
 *
 * Identifying a compiler runs it five or six times (toolchain.h), a few
 * hundred milliseconds of a build's start for every compiler it uses.
 * The cache keeps each identity in a database, by default
 * $XDG_CACHE_HOME/dmake/identities.db (else ~/.cache/dmake/), under the
 * compiler as invoked, the name it is invoked as and the values of the
 * environment variables that steer a driver (GCC_EXEC_PREFIX,
 * COMPILER_PATH, CCC_OVERRIDE_OPTIONS, the include path variables,
 * LD_LIBRARY_PATH, LD_PRELOAD).  An entry is used only while
 *
 *  - it was computed by this toolchain scheme and this dmake version,
 *  - the compiler still resolves to the same binary, and
 *  - every file it was computed from is as it was (device, inode, size,
 *    mtime and ctime to the nanosecond): the driver, the programs its
 *    `-###` runs (cc1 or cc1plus and as; clang's -cc1 is clang), the
 *    directories those are installed in (a new specs file or config
 *    file there), the shared libraries the loader maps for each of them
 *    (clang's compiler is libclang-cpp) and the loader's cache.
 *
 * Anything else is a miss: the compiler is identified again and the
 * entry replaced.  Nothing is kept for a compiler that could run
 * something the stat of its files does not show: a driver that is not
 * an ELF file (a `#!` script may exec anything), a known wrapper
 * (ccache, sccache, distcc, icecc: they pick the real compiler by PATH),
 * or one whose `-###` runs a program that is not an ELF file.  Those
 * are identified every time, as without a cache.
 *
 * A database that cannot be created, opened or read (a corrupt file, a
 * read-only home) is never a build's failure: one warning, and every
 * identity of this cache's life is computed.  Several processes may
 * share the file: sqlite's locks with a busy timeout; a lock held past
 * it counts as a miss (or a store skipped), never an error.
 */
#ifndef DM_IDCACHE_H
#define DM_IDCACHE_H

#include "toolchain.h"

struct dm_idcache;

/* A cache on the database at path, or with path NULL at
 * dm_user_cache_path("identities.db") (with neither XDG_CACHE_HOME nor
 * HOME set, a cache that keeps nothing).  Touches no file: the first
 * dm_idcache_identify() opens the database, creating it and its
 * directory.  0 or -ENOMEM; *out is freed with dm_idcache_free(), which
 * must not run while a dm_idcache_identify() on it does. */
int dm_idcache_new(const char *path, struct dm_idcache **out);
void dm_idcache_free(struct dm_idcache *c);

/* dm_toolchain_identify(name, path, tc) through the cache c (NULL: no
 * cache).  *cached (when not NULL) is set to 1 for an identity read
 * from the database, else 0.  Returns what dm_toolchain_identify()
 * would; the database's own troubles are logged, never returned.
 * Blocking (the file system, sqlite's locks, the compiler): call it off
 * an event loop.  Threads may share one cache: they take turns at the
 * database, never at identifying. */
int dm_idcache_identify(struct dm_idcache *c, const char *name,
			const char *path, struct dm_toolchain *tc,
			int *cached);

#endif
