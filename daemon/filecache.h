/*
 * filecache.h: the original source files jobs carry, kept by content.
 *
 * A gcc unit comes with the files it names (doc/protocol.md, "Job
 * extras") so that the node's diagnostics quote the real source lines.
 * A kernel unit names some 300 headers, nearly all of them the same from
 * one unit to the next: the shim names each file by its BLAKE2b-256
 * (JOB_FILES) and sends only those this cache lacks (JOB_FILES_NEED).
 *
 * Files live in CACHE_DIR/files/HEX, named by the hash of what the node
 * received (never by what a client claimed), mode 0444.  A job gets a
 * file as a hard link into its directory (the compiler's uid cannot
 * write a file it does not own) or, when jobs run as the node's own uid
 * (user namespace, --no-sandbox), as a copy.  The directory is emptied
 * at start; a byte limit (--file-cache-limit) drops the least recently
 * used files.  A link made for a job outlives its file's eviction.
 *
 * Thread-safe: one mutex around the index; file I/O outside it.
 */
#ifndef DM_NODE_FILECACHE_H
#define DM_NODE_FILECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"

#define NODE_FILE_HASH 32 /* bytes of BLAKE2b in JOB_FILES.hashes */

struct node_files;

/* Opens (and empties) dir, creating it.  copy: lay files out as copies,
 * not links.  Returns 0 or a negative error (logged). */
int node_files_open(const char *dir, uint64_t limit, int copy,
		    struct node_files **out);
void node_files_close(struct node_files *c);

/* Lays out the cached file of hash at dest (a path that does not exist
 * yet).  Returns 0, 1 when the cache does not hold it, or a negative
 * error from the filesystem. */
int node_files_place(struct node_files *c, const uint8_t *hash,
		     const char *dest);

/* Takes one stream from fd (at most limit bytes) into the cache and lays
 * it out at dest (NULL: nowhere).  *got: the stream's bytes.  Returns 0
 * when laid out, 1 when the stream was read but not laid out (logged),
 * or as dm_stream_recv_fd: -ENOSPC, -EDQUOT, -EFBIG, -EIO for the disk
 * (the rest of the stream is unread), anything else for the stream. */
int node_files_take(struct node_files *c, int fd, struct dm_buf *frame,
		    uint64_t limit, const char *dest, uint64_t *got);

struct node_files_stats {
	uint64_t files, bytes; /* held now */
	uint64_t hits, misses; /* node_files_place */
	uint64_t evicted;
};
void node_files_stats(struct node_files *c, struct node_files_stats *s);

#endif
