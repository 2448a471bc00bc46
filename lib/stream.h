/*
 * stream.h: bulk data as zstd-compressed DATA chunks on a blocking socket
 * (doc/protocol.md "Bulk data").
 *
 * A writer buffers at most DM_CHUNK_IN bytes, compresses each full buffer
 * into one independent zstd frame and sends it; a reader decompresses one
 * chunk at a time into a file descriptor.  Memory stays bounded by a chunk
 * whatever the stream's size.
 */
#ifndef DM_STREAM_H
#define DM_STREAM_H

#include <stdint.h>

#include "buf.h"

struct dm_stream_out; /* opaque */

/* Starts a stream on socket fd; free with dm_stream_out_end() or
 * dm_stream_out_abort(). */
int dm_stream_out_new(int fd, struct dm_stream_out **out);
int dm_stream_out_write(struct dm_stream_out *s, const void *p, size_t n);
/* Flushes, sends DATA_END and frees s.  Returns the first error seen. */
int dm_stream_out_end(struct dm_stream_out *s);
/* Frees s without ending the stream (the connection is unusable after). */
void dm_stream_out_abort(struct dm_stream_out *s);

/* Sends the whole content of file descriptor src as one stream. */
int dm_stream_send_fd(int sock, int src);
/* Sends n bytes from memory as one stream. */
int dm_stream_send_mem(int sock, const void *p, size_t n);

/* Receives one stream and writes it to dst (dst < 0: discard).  A stream
 * longer than limit bytes is refused with -DM_ETOOBIG after reading no
 * more of it.  frame is scratch space reused between calls. */
int dm_stream_recv_fd(int sock, int dst, uint64_t limit, struct dm_buf *frame,
		      uint64_t *size);
/* Same, each decompressed chunk handed to sink(arg, p, n) as it comes
 * (a toolchain archive is hashed while it is written); a sink's nonzero
 * return ends the receive with that error, the rest of the stream
 * unread. */
int dm_stream_recv_sink(int sock, uint64_t limit, struct dm_buf *frame,
			int (*sink)(void *arg, const void *p, size_t n),
			void *arg, uint64_t *size);
/* dm_stream_recv_fd that also gives the BLAKE2b of what it wrote
 * (hash_len bytes, 16 to 64) in hash. */
int dm_stream_recv_fd_hashed(int sock, int dst, uint64_t limit,
			     struct dm_buf *frame, uint8_t *hash,
			     size_t hash_len, uint64_t *size);
/* Same, into memory (appended to out). */
int dm_stream_recv_buf(int sock, struct dm_buf *out, uint64_t limit,
		       struct dm_buf *frame);

#endif
