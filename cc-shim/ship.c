/* ship.c: see ship.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/clock.h"
#include "../lib/err.h"
#include "../lib/io.h"
#include "../lib/log.h"
#include "../lib/stream.h"
#include "ship.h"

/* Tells the node there is no archive: TOOLCHAIN with no hash and an
 * empty stream.  It answers with an infrastructure failure. */
static int
send_none(int node_fd, const char *toolchain)
{
	struct dm_msg_toolchain t = {.toolchain = (char *)toolchain};
	int rc;

	if ((rc = dm_io_send(node_fd, DM_MSG_TOOLCHAIN, &t)) != 0)
		return rc;
	return dm_stream_send_mem(node_fd, NULL, 0);
}

/* The archive from the coordinator: 0 with the message in *a (freed by
 * the caller), or an error; a coordinator that could not pack it
 * answers with its reason, logged here, and *a->hash empty. */
static int
ask_coordinator(int coord_fd, struct dm_buf *frame, const char *toolchain,
		union dm_msg *a)
{
	struct dm_msg_toolchain_req r = {.toolchain = (char *)toolchain};
	int rc;

	if ((rc = dm_io_send(coord_fd, DM_MSG_TOOLCHAIN_REQ, &r)) != 0)
		return rc;
	if ((rc = dm_io_expect(coord_fd, frame, DM_MSG_TOOLCHAIN_ARCHIVE, a,
			       NULL, 0)) != 0)
		return rc;
	if (a->toolchain_archive.error[0] != '\0')
		dm_warn("no archive of toolchain %.16s: %s", toolchain,
			a->toolchain_archive.error);
	return 0;
}

static int
send_archive(int node_fd, int coord_fd, struct dm_buf *frame,
	     const char *toolchain)
{
	struct dm_msg_toolchain t = {.toolchain = (char *)toolchain};
	struct dm_msg_toolchain_sent sent = {.toolchain = (char *)toolchain};
	union dm_msg a;
	struct stat st;
	uint64_t t0 = dm_now_ms();
	int fd, rc;

	if (coord_fd < 0)
		return send_none(node_fd, toolchain);
	if ((rc = ask_coordinator(coord_fd, frame, toolchain, &a)) != 0)
		return rc;
	if (a.toolchain_archive.hash[0] == '\0') {
		dm_msg_free(DM_MSG_TOOLCHAIN_ARCHIVE, &a);
		return send_none(node_fd, toolchain);
	}
	fd = open(a.toolchain_archive.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 ||
	    (uint64_t)st.st_size != a.toolchain_archive.size) {
		dm_warn("cannot read the toolchain archive %s: %s",
			a.toolchain_archive.path,
			fd < 0 ? strerror(errno) : "its size changed");
		if (fd >= 0)
			close(fd);
		dm_msg_free(DM_MSG_TOOLCHAIN_ARCHIVE, &a);
		return send_none(node_fd, toolchain);
	}
	t.hash = a.toolchain_archive.hash;
	t.size = a.toolchain_archive.size;
	if ((rc = dm_io_send(node_fd, DM_MSG_TOOLCHAIN, &t)) == 0)
		rc = dm_stream_send_fd(node_fd, fd);
	close(fd);
	if (rc == 0) {
		sent.bytes = t.size;
		sent.wall_ms = (uint32_t)(dm_now_ms() - t0);
		dm_debug("sent toolchain %.16s (%llu bytes) in %u ms",
			 toolchain, (unsigned long long)sent.bytes,
			 sent.wall_ms);
		(void)dm_io_send(coord_fd, DM_MSG_TOOLCHAIN_SENT, &sent);
	}
	dm_msg_free(DM_MSG_TOOLCHAIN_ARCHIVE, &a);
	return rc;
}

int
ship_expect_result(int node_fd, int coord_fd, struct dm_buf *frame,
		   const char *toolchain, union dm_msg *m, char *why,
		   size_t why_len)
{
	int asked = 0, rc;
	uint16_t type;

	for (;;) {
		if ((rc = dm_io_recv(node_fd, frame, &type, m)) != 0)
			return rc;
		if (type == DM_MSG_JOB_RESULT)
			return 0;
		if (type == DM_MSG_ERROR) {
			if (why != NULL && why_len > 0)
				snprintf(why, why_len, "%s", m->error.text);
			dm_msg_free(type, m);
			return DM_EREMOTE;
		}
		dm_msg_free(type, m);
		/* One archive per job: a node asking twice is broken. */
		if (type != DM_MSG_NEED_TOOLCHAIN || asked++)
			return DM_EUNEXPECTED;
		if ((rc = send_archive(node_fd, coord_fd, frame, toolchain)) !=
		    0)
			return rc;
	}
}
