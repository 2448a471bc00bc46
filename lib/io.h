/*
 * io.h: framed messages on blocking sockets.
 *
 * Used where one thread serves one peer: the shim (a short-lived process)
 * and the node's job workers.  Timeouts come from the socket itself
 * (dm_io_set_timeout, SO_RCVTIMEO/SO_SNDTIMEO) and surface as
 * -DM_ETIMEOUT; EOF surfaces as -DM_ECLOSED.
 */
#ifndef DM_IO_H
#define DM_IO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "wire.h"

int dm_io_write_all(int fd, const void *p, size_t n);
int dm_io_read_all(int fd, void *p, size_t n);
int dm_io_set_timeout(int fd, int timeout_ms);

/* Writes to fd through a buffer, for producers that hand over a line at
 * a time: dm_io_bufw_write (the callback form: arg is the dm_io_bufw)
 * writes whenever 64 KiB have gathered, dm_io_bufw_flush writes the rest
 * (call it before reading fd back, and dm_buf_free(&w->b) at the end). */
struct dm_io_bufw {
	int fd;
	struct dm_buf b;
};
int dm_io_bufw_write(void *w, const void *p, size_t n);
int dm_io_bufw_flush(struct dm_io_bufw *w);

/* Encodes and writes one message. */
int dm_io_send(int fd, uint16_t type, const void *msg);
/* Reads one frame into frame (reused between calls) and decodes it.
 * The caller dm_msg_free()s *m.  BLOB fields point into frame. */
int dm_io_recv(int fd, struct dm_buf *frame, uint16_t *type,
	       union dm_msg *m);
/* dm_io_recv that insists on one type.  An ERROR message from the peer
 * becomes -DM_EREMOTE with its text copied to why (may be NULL). */
int dm_io_expect(int fd, struct dm_buf *frame, uint16_t type,
		 union dm_msg *m, char *why, size_t why_len);

#endif
