/*
 * main.c: `dmake-gate`, the launcher that keeps a build's local steps
 * within the local slots.
 *
 *   dmake-gate --ninja        from a rule that `dmake ninja` rewrote: the
 *                             command is read from the parent shell
 *   dmake-gate CMD [ARGS...]  a launcher (CMAKE_<LANG>_LINKER_LAUNCHER,
 *                             RULE_LAUNCH_LINK, RULE_LAUNCH_CUSTOM...)
 *
 * It asks the coordinator at DMAKE_SOCKET for a local slot (the shim's
 * LOCAL_ACQUIRE), then execs the command with the connection open and
 * inherited: the slot is the command's until it, and everything it
 * started, has exited and the connection closes.  A compiler command from
 * a rewritten rule is handed to dmake-cc instead, which takes a local
 * slot only while it preprocesses, so remote compiles are not held to
 * the local slots; one that already runs through dmake-cc (a compiler
 * launcher) runs as it is, with no slot of the gate's.  Without a
 * coordinator, or when it cannot be reached, the command simply runs: a
 * farm that is down never fails a build.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/err.h"
#include "../lib/io.h"
#include "../lib/log.h"
#include "../lib/net.h"
#include "ninja.h"

/* The gate's own exit codes, beside the shim's (110-112). */
enum {
	GATE_EXIT_EXEC = 113,  /* the command cannot be run */
	GATE_EXIT_USAGE = 114, /* bad arguments, or --ninja not from a rule */
};

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: dmake-gate CMD [ARGS...]\n"
		"   or: dmake-gate --ninja   (in a rule rewritten by `dmake ninja`)\n"
		"\n"
		"Runs CMD in one of the build's local slots: under `dmake make|\n"
		"ninja|run|serve` (DMAKE_SOCKET set) it waits until the coordinator\n"
		"grants a slot and holds it until CMD and its children exit.\n"
		"Without DMAKE_SOCKET it just runs CMD.  Exit status: CMD's; %d\n"
		"when CMD cannot be run, %d on a usage error.\n",
		GATE_EXIT_EXEC, GATE_EXIT_USAGE);
}

/* Connects and waits for a local slot.  Returns the connection (to keep
 * open across exec) or -1: the command then runs ungated. */
static int
take_slot(const char *what)
{
	struct dm_msg_local_acquire a = {(uint32_t)getpid(), "", "dmake-gate",
					 0};
	const char *sock = getenv("DMAKE_SOCKET");
	struct dm_buf frame;
	union dm_msg m;
	int fd, rc;

	if (sock == NULL || sock[0] == '\0')
		return -1;
	if ((fd = dm_net_connect_unix(sock)) < 0) {
		dm_warn("cannot reach dmake at %s (%s); running %s ungated",
			sock, dm_strerror(fd), what);
		return -1;
	}
	dm_buf_init(&frame);
	if ((rc = dm_io_send(fd, DM_MSG_LOCAL_ACQUIRE, &a)) == 0 &&
	    (rc = dm_io_expect(fd, &frame, DM_MSG_LOCAL_GRANTED, &m, NULL,
			       0)) == 0)
		dm_msg_free(DM_MSG_LOCAL_GRANTED, &m);
	dm_buf_free(&frame);
	if (rc != 0) {
		dm_warn("dmake coordinator: %s; running %s ungated",
			dm_strerror(rc), what);
		close(fd);
		return -1;
	}
	/* Inherited by the command: the slot lasts as long as it does. */
	fcntl(fd, F_SETFD, 0);
	return fd;
}

/* dmake-cc beside this program (both live in bindir, or in the top of a
 * build tree). */
static int
find_shim(char *out, size_t len)
{
	char self[PATH_MAX - 16], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -ENOENT;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return -ENOENT;
	*slash = '\0';
	snprintf(out, len, "%s/dmake-cc", self);
	return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

static void __attribute__((noreturn)) run_shell(const char *cmd)
{
	signal(SIGPIPE, SIG_DFL); /* ignored only for our own socket */
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	fprintf(stderr, "dmake-gate: cannot run /bin/sh: %s\n",
		strerror(errno));
	_exit(GATE_EXIT_EXEC);
}

static int
gate_ninja(void)
{
	char *cmd = NULL, shim[PATH_MAX];
	enum ninja_cmd kind;
	int rc;

	if ((rc = ninja_gate_parent_command((int)getppid(), &cmd)) != 0) {
		fprintf(stderr,
			"dmake-gate: --ninja belongs in a rule rewritten by "
			"`dmake ninja` (cannot read the command from the parent "
			"shell: %s)\n",
			dm_strerror(rc));
		return GATE_EXIT_USAGE;
	}
	kind = getenv("DMAKE_SOCKET") != NULL ? ninja_command_kind(cmd)
					      : NINJA_CMD_LOCAL;
	/* The shim in the command takes its own slot for preprocessing or
	 * a link. */
	if (kind == NINJA_CMD_SHIM)
		run_shell(cmd);
	if (kind == NINJA_CMD_COMPILER && find_shim(shim, sizeof(shim)) == 0) {
		/* The shell splits the words exactly as it would have. */
		struct dm_buf b;

		dm_buf_init(&b);
		dm_buf_appendf(&b, "exec '%s' %s", shim, cmd);
		run_shell(dm_buf_cstr(&b));
	}
	take_slot("a ninja command");
	run_shell(cmd);
}

int
main(int argc, char **argv)
{
	dm_log_init("dmake-gate", DM_LOG_WARN);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return GATE_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--ninja") == 0)
		return gate_ninja();
	if (strcmp(argv[1], "--") == 0) {
		argv++;
		if (argv[1] == NULL) {
			usage(stderr);
			return GATE_EXIT_USAGE;
		}
	}
	/* SIGPIPE back to its default for the command. */
	signal(SIGPIPE, SIG_DFL);
	take_slot(argv[1]);
	execvp(argv[1], argv + 1);
	fprintf(stderr, "dmake-gate: cannot run %s: %s\n", argv[1],
		strerror(errno));
	return errno == ENOENT ? 127 : GATE_EXIT_EXEC;
}
