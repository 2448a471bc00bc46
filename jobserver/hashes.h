/*
 * hashes.h: the coordinator's memory of header hashes, for its shims.
 *
 * Every gcc unit names its headers by BLAKE2b-256 (doc/protocol.md,
 * JOB_FILES); a kernel unit names 800 of them, 6 MB, and hashing them is
 * a third of what the shim adds to the preprocessing.  The build's
 * coordinator lives as long as the build, so it keeps what its shims
 * computed, keyed by what stat() says of the file (device, inode, size,
 * mtime and ctime in ns): a file written since has another ctime, hence
 * another key.  Shims do not report files changed in the last 2 s (a
 * write within the same clock tick would keep the key).
 *
 * Bounded: past DM_HASHES_MAX entries the table starts over.
 */
#ifndef DMAKE_HASHES_H
#define DMAKE_HASHES_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/msgs.h"

#define DM_HASHES_MAX 262144

struct hashes;

struct hashes *hashes_new(void);
void hashes_free(struct hashes *h);

/* For each of the n keys (DM_HASH_KEY bytes each), its hash into
 * out + 32 i and bit i of known (n/8 bytes, cleared first) when held. */
void hashes_lookup(struct hashes *h, const uint8_t *keys, size_t n,
		   uint8_t *out, uint8_t *known);
/* Keeps the n hashes (32 bytes each) of the n keys.  0 or -ENOMEM. */
int hashes_put(struct hashes *h, const uint8_t *keys, const uint8_t *hashes,
	       size_t n);
size_t hashes_count(const struct hashes *h);

#endif
