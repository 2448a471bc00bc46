/*
 * tcarchive.h: toolchain archives, a compiler packed with everything it
 * runs so that a node without it can run it unchanged.
 *
 * An archive is a zstd-compressed tar (libarchive) holding two things:
 *
 *   manifest        what the toolchain is and how to start it (below)
 *   root/...        the files, at their absolute paths on the client
 *
 * root/ is laid out as the client's own file system, symbolic links
 * included (/usr/bin/gcc -> gcc-12 -> x86_64-linux-gnu-gcc-12, /lib ->
 * usr/lib), so a node that makes root/ the `/` of a job's sandbox runs
 * the driver at the path it has on the client, the driver finds cc1, as
 * and its shared libraries where it always does, and the object is the
 * one the client's compiler writes.  Nothing is relocated, nothing
 * relies on the node's own /usr.
 *
 * What goes in (dm_tcarchive_pack):
 *  - the driver as invoked, every link on the way to the binary;
 *  - the programs the driver runs for a compile, as it names them
 *    (-print-prog-name: cc1, cc1plus for C++, collect2, as; for clang the
 *    assembler only, its compiler is itself), its specs file and LTO
 *    plugin if it has them, clang's resource directory without its
 *    runtime libraries, and the GCC installation clang selects;
 *  - every path the driver's own commands name (`-###`: include
 *    directories, resource directory), files whole and directories as
 *    empty ones, so that the driver makes the same decisions where it
 *    checks that something exists; the files the preprocessor reads for
 *    an empty input (stdc-predef.h);
 *  - for every ELF file among them, the program interpreter and the
 *    shared libraries it resolves (asked of the interpreter itself,
 *    `ld.so --list`, so the answer is the loader's), the loader's cache
 *    and the few /etc files drivers read (os-release and the like).
 * Entries are sorted, with mode 0755 or 0644, owner 0 and time 0, so
 * the same compiler packs into the same bytes: the archive is named by
 * the BLAKE2b-256 of its content and two clients with one compiler make
 * one archive.
 *
 * The manifest is text, one "key value" per line:
 *
 *   dmake-toolchain 1
 *   id 9f0c...            the toolchain identity (lib/toolchain.h)
 *   role gcc
 *   version 12.2.0
 *   machine x86_64-linux-gnu
 *   platform x86_64       the machine the binaries run on (uname -m)
 *   name gcc              the name the driver was invoked by
 *   driver /usr/bin/gcc   the path to run it by, inside root/
 *   path /usr/bin         PATH for programs the driver finds by PATH
 */
#ifndef DM_TCARCHIVE_H
#define DM_TCARCHIVE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "toolchain.h"

#define DM_TCARCHIVE_SUFFIX ".tar.zst"
/* The zstd level archives are packed with.  Packing holds up the first
 * job of a compiler on a node that lacks it; measured here, level 3
 * packs gcc 12 into 17.7 MB in 0.5 s and clang 14 into 75 MB in 2.1 s,
 * level 6 into 16.6 and 69.5 MB in 1.3 and 4.2 s: a megabyte saved is
 * 8 ms on a gigabit link, so the faster level wins on a LAN. */
#define DM_TCARCHIVE_LEVEL 3

struct dm_tcmanifest {
	char id[DM_TOOLCHAIN_ID_LEN + 1];
	char role[17];
	char version[64];
	char machine[128];
	char platform[65];
	char name[256];
	char driver[PATH_MAX];
	char path[1024];
};

/* Parses a manifest; -DM_EPROTO for anything but a complete, plausible
 * one (an id of 64 hex digits, a known role, an absolute driver path
 * without "..", a PATH of absolute directories). */
int dm_tcmanifest_parse(const char *text, size_t len, struct dm_tcmanifest *m);
/* Appends the manifest's text to out. */
int dm_tcmanifest_format(const struct dm_tcmanifest *m, struct dm_buf *out);

/* ---- the client's side ------------------------------------------------ */

struct dm_tcarchive {
	char path[PATH_MAX + 96]; /* DIR/HASH.tar.zst */
	char hash[65];		  /* BLAKE2b-256 of the file, hex */
	uint64_t size;		  /* bytes of the archive */
	uint64_t content;	  /* bytes of the files in it */
	unsigned entries;	  /* files, directories and links */
	int reused;		  /* found in DIR, not packed now */
};

/* Packs the compiler at `compiler` (as found on PATH, not resolved),
 * invoked as `name`, whose identity is tc, into DIR (created if
 * missing), or finds the archive packed for it before.  An archive is
 * reused while every file, link and directory it was packed from is as
 * it was (size, mtime, link target); the file DIR/ID.ref says which.
 * Concurrent packers of one toolchain (threads, other coordinators)
 * wait for each other on DIR/ID.lock.  level: zstd's.  Blocking: runs
 * the compiler a few times and compresses tens of megabytes. */
int dm_tcarchive_pack(const char *dir, const char *compiler, const char *name,
		      const struct dm_toolchain *tc, int level,
		      struct dm_tcarchive *out, char *why, size_t why_len);

/* ---- the node's side -------------------------------------------------- */

/* Unpacks the archive read from fd into dir, an empty directory: its
 * manifest into *m and dir/manifest, and root/ as dir/root.  Refuses
 * (-DM_EPROTO, with why) anything but regular files, directories and
 * symbolic links, a name outside manifest and root/ or with "." or ".."
 * in it, set-id bits, an archive past max_bytes of files or
 * DM_TCARCHIVE_ENTRIES_MAX entries, one without a manifest.  Nothing is
 * ever written through a link: every directory on the way is opened with
 * O_NOFOLLOW.  Link targets are left as they are: they mean something
 * only inside the sandbox that shows root/ as `/`.  *bytes: the files'
 * size. */
#define DM_TCARCHIVE_ENTRIES_MAX 100000u
int dm_tcarchive_unpack(int fd, const char *dir, uint64_t max_bytes,
			struct dm_tcmanifest *m, uint64_t *bytes, char *why,
			size_t why_len);

#endif
