/*
 * jobclient.c: a minimal shim for t04-node.t, which builds it against
 * libdmake.a.  It sends one JOB to a node exactly as doc/protocol.md
 * says, or misbehaves on purpose after a good handshake, so the test
 * controls what the node receives without involving dmake-cc.
 *
 *   jobclient ADDR KEYFILE MODE TOOLCHAIN ROLE CWD SOURCE UNIT OUT [FLAG...]
 *
 *   job      send the unit, print "status=S flags=F", write the stderr
 *            stream to OUT.err and the object stream to OUT.o
 *   badunit  send JOB, then a DATA frame that is no zstd frame; print
 *            "closed" once the node hangs up
 *   cut      send JOB and a chunk of half the unit, then vanish (no
 *            DATA_END); print "sent"
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "lib/auth.h"
#include "lib/err.h"
#include "lib/io.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/stream.h"

static int
die(const char *what, int rc)
{
	fprintf(stderr, "jobclient: %s: %s\n", what, dm_strerror(rc));
	exit(1);
}

/* Waits up to 10 s for the node to close the connection. */
static int
wait_closed(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};
	char buf[4096];

	for (int i = 0; i < 100; i++) {
		ssize_t r;

		if (poll(&p, 1, 100) <= 0)
			continue;
		r = read(fd, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct dm_msg_job j = {0};
	struct dm_buf frame;
	struct dm_key key;
	union dm_msg m;
	char path[4096], why[512];
	const char *mode;
	int fd, ufd, efd, ofd, rc;
	uint64_t got;

	if (argc < 10) {
		fprintf(stderr, "usage: jobclient ADDR KEYFILE MODE TOOLCHAIN "
				"ROLE CWD SOURCE UNIT OUT [FLAG...]\n");
		return 2;
	}
	dm_log_init("jobclient", DM_LOG_WARN);
	mode = argv[3];
	if ((rc = dm_key_load(argv[2], &key)) != 0)
		die(argv[2], rc);
	if ((ufd = open(argv[8], O_RDONLY)) < 0)
		die(argv[8], -errno);
	if ((fd = dm_net_connect(argv[1], 3000)) < 0)
		die(argv[1], fd);
	dm_io_set_timeout(fd, 30000);
	if ((rc = dm_auth_client(fd, &key, DM_ROLE_SHIM)) != 0)
		die("handshake", rc);
	j.ticket = 1;
	j.toolchain = argv[4];
	j.role = argv[5];
	j.cwd = argv[6];
	j.source = argv[7];
	j.args = argv + 10;
	j.args_n = (uint32_t)(argc - 10);
	j.want = 1;
	if ((rc = dm_io_send(fd, DM_MSG_JOB, &j)) != 0)
		die("JOB", rc);

	if (strcmp(mode, "badunit") == 0) {
		struct dm_msg_data d = {.chunk = (const uint8_t *)"garbage!",
					.chunk_n = 8};

		dm_io_send(fd, DM_MSG_DATA, &d);
		puts(wait_closed(fd) ? "closed" : "still open");
		return 0;
	}
	if (strcmp(mode, "cut") == 0) {
		char buf[512], z[1024];
		ssize_t n = read(ufd, buf, sizeof(buf));
		size_t zn;

		/* One valid chunk of half the unit, then no DATA_END. */
		zn = ZSTD_compress(z, sizeof(z), buf,
				   n > 0 ? (size_t)n / 2 : 0, 1);
		if (!ZSTD_isError(zn)) {
			struct dm_msg_data d = {.chunk = (const uint8_t *)z,
						.chunk_n = (uint32_t)zn};

			dm_io_send(fd, DM_MSG_DATA, &d);
		}
		puts("sent");
		return 0;
	}
	if (strcmp(mode, "job") != 0) {
		fprintf(stderr, "jobclient: unknown mode %s\n", mode);
		return 2;
	}
	if ((rc = dm_stream_send_fd(fd, ufd)) != 0)
		die("unit", rc);
	dm_buf_init(&frame);
	if ((rc = dm_io_expect(fd, &frame, DM_MSG_JOB_RESULT, &m, why,
			       sizeof(why))) != 0) {
		fprintf(stderr, "jobclient: JOB_RESULT: %s: %s\n",
			dm_strerror(rc), why);
		return 1;
	}
	printf("status=%u flags=%u\n", m.job_result.status,
	       m.job_result.flags);
	snprintf(path, sizeof(path), "%s.err", argv[9]);
	if ((efd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		die(path, -errno);
	if ((rc = dm_stream_recv_fd(fd, efd, 1u << 30, &frame, &got)) != 0)
		die("stderr stream", rc);
	close(efd);
	snprintf(path, sizeof(path), "%s.o", argv[9]);
	if ((ofd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		die(path, -errno);
	if ((rc = dm_stream_recv_fd(fd, ofd, 1u << 30, &frame, &got)) != 0)
		die("object stream", rc);
	close(ofd);
	if (got == 0)
		unlink(path);
	return 0;
}
