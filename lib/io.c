/* io.c: see io.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "err.h"
#include "io.h"
#include "log.h"

int
dm_io_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? DM_ETIMEOUT : -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
dm_io_read_all(int fd, void *p, size_t n)
{
	char *c = p;

	while (n > 0) {
		ssize_t r = read(fd, c, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? DM_ETIMEOUT : -errno;
		}
		if (r == 0)
			return DM_ECLOSED;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

int
dm_io_set_timeout(int fd, int timeout_ms)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
		return -errno;
	return 0;
}

int
dm_io_send(int fd, uint16_t type, const void *msg)
{
	struct dm_buf b;
	int rc;

	dm_buf_init(&b);
	if ((rc = dm_msg_encode(&b, type, msg)) == 0)
		rc = dm_io_write_all(fd, b.p, b.len);
	else
		dm_warn("cannot send %s: %s", dm_msg_name(type),
			dm_wire_errmsg());
	dm_buf_free(&b);
	return rc;
}

int
dm_io_recv(int fd, struct dm_buf *frame, uint16_t *type, union dm_msg *m)
{
	const uint8_t *payload;
	size_t flen, plen;
	int rc;

	dm_buf_reset(frame);
	if ((rc = dm_buf_reserve(frame, 4)) != 0)
		return rc;
	if ((rc = dm_io_read_all(fd, frame->p, 4)) != 0)
		return rc;
	frame->len = 4;
	if ((rc = dm_frame_peek(frame->p, 4, &flen)) != 0)
		return rc;
	if (dm_buf_grow(frame, flen - 4) == NULL)
		return -ENOMEM;
	if ((rc = dm_io_read_all(fd, frame->p + 4, flen - 4)) != 0)
		return rc;
	dm_frame_split(frame->p, flen, type, &payload, &plen);
	return dm_msg_decode(*type, payload, plen, m);
}

int
dm_io_expect(int fd, struct dm_buf *frame, uint16_t type, union dm_msg *m,
	     char *why, size_t why_len)
{
	uint16_t got;
	int rc;

	if ((rc = dm_io_recv(fd, frame, &got, m)) != 0)
		return rc;
	if (got == type)
		return 0;
	if (got == DM_MSG_ERROR) {
		if (why != NULL)
			snprintf(why, why_len, "%s", m->error.text);
		dm_msg_free(got, m);
		return DM_EREMOTE;
	}
	if (why != NULL)
		snprintf(why, why_len, "expected %s, got %s",
			 dm_msg_name(type), dm_msg_name(got));
	dm_msg_free(got, m);
	return DM_EUNEXPECTED;
}

int
dm_io_bufw_flush(struct dm_io_bufw *w)
{
	int rc = dm_io_write_all(w->fd, w->b.p, w->b.len);

	dm_buf_reset(&w->b);
	return rc;
}

int
dm_io_bufw_write(void *arg, const void *p, size_t n)
{
	struct dm_io_bufw *w = arg;
	int rc;

	if ((rc = dm_buf_append(&w->b, p, n)) != 0)
		return rc;
	return w->b.len >= 65536 ? dm_io_bufw_flush(w) : 0;
}
