/*
 * relayclient.c: a local client of a coordinator's socket for t12-hooks.t,
 * which builds it against libdmake.a.  It asks the coordinator to relay
 * to an address of the test's choosing, as doc/protocol.md says, while
 * it holds a local slot on another connection, and prints what happened,
 * one line per step:
 *
 *   relayclient SOCKET ADDR
 *
 *   granted                 connection A got a local slot
 *   RELAY_OK | RELAY_FAIL CODE REASON | ...
 *                           connection B's answer to RELAY ADDR (CODE an
 *                           errno name when it is one)
 *   closed | open           whether the coordinator then closed B
 *   granted again           A, after B: released and granted again
 *   not first: ERROR TEXT   connection C sent RELAY after another message
 *                           (a LOCAL_RELEASE, which holds nothing)
 *   closed | open           whether the coordinator then closed C
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/io.h"
#include "lib/log.h"
#include "lib/net.h"

static struct dm_buf frame;

static int
open_sock(const char *path)
{
	int fd = dm_net_connect_unix(path);

	if (fd < 0) {
		fprintf(stderr, "relayclient: %s: %s\n", path, dm_strerror(fd));
		_exit(1);
	}
	dm_io_set_timeout(fd, 30000);
	return fd;
}

static int
acquire(int fd)
{
	struct dm_msg_local_acquire a = {(uint32_t)getpid(), "", "relayclient",
					 0};
	union dm_msg m;
	int rc;

	if ((rc = dm_io_send(fd, DM_MSG_LOCAL_ACQUIRE, &a)) != 0 ||
	    (rc = dm_io_expect(fd, &frame, DM_MSG_LOCAL_GRANTED, &m, NULL,
			       0)) != 0)
		return rc;
	dm_msg_free(DM_MSG_LOCAL_GRANTED, &m);
	return 0;
}

/* Prints the answer to RELAY on fd. */
static void
relay(int fd, const char *addr)
{
	struct dm_msg_relay r = {(char *)addr, 0};
	union dm_msg m;
	uint16_t type;
	int rc;

	if ((rc = dm_io_send(fd, DM_MSG_RELAY, &r)) != 0 ||
	    (rc = dm_io_recv(fd, &frame, &type, &m)) != 0) {
		printf("no answer: %s\n", dm_strerror(rc));
		return;
	}
	if (type == DM_MSG_RELAY_FAIL)
		printf("RELAY_FAIL %s %s\n",
		       m.relay_fail.code == EPERM ? "EPERM" : "other",
		       m.relay_fail.reason);
	else if (type == DM_MSG_ERROR)
		printf("not first: ERROR %s\n", m.error.text);
	else
		printf("%s\n", dm_msg_name(type));
	dm_msg_free(type, &m);
}

/* Whether the coordinator closes fd; 20 s is only a bound for a hung
 * coordinator, it closes at once. */
static void
closed(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};
	char c;

	puts(poll(&p, 1, 20000) == 1 && read(fd, &c, 1) <= 0 ? "closed"
							       : "open");
}

int
main(int argc, char **argv)
{
	int a, b, c;

	if (argc != 3) {
		fprintf(stderr, "usage: relayclient SOCKET ADDR\n");
		return 2;
	}
	dm_log_init("relayclient", DM_LOG_WARN);
	dm_buf_init(&frame);
	a = open_sock(argv[1]);
	if (acquire(a) != 0)
		return 1;
	puts("granted");
	b = open_sock(argv[1]);
	relay(b, argv[2]);
	closed(b);
	if (dm_io_send(a, DM_MSG_LOCAL_RELEASE,
		       &(struct dm_msg_local_release){0}) == 0 &&
	    acquire(a) == 0)
		puts("granted again");
	c = open_sock(argv[1]);
	dm_io_send(c, DM_MSG_LOCAL_RELEASE, &(struct dm_msg_local_release){0});
	relay(c, argv[2]);
	closed(c);
	return 0;
}
