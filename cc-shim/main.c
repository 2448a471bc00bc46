/*
 * main.c: `dmake-cc`, the compiler shim.
 *
 * Invoked as `dmake-cc COMPILER ARGS...` (a launcher) or through a
 * masquerade link named like the compiler (`gcc`, `cc`, `clang++`...).
 * Without DMAKE_SOCKET it is the compiler: it execs it.  Under dmake it
 * takes a local slot, and either compiles here (links, anything args.c
 * cannot distribute, no cluster) or preprocesses here, gives the slot
 * back, and has a node compile the unit.  Any failure of the farm means
 * the job is placed again or compiled here; the user sees the compiler's
 * output and exit status, nothing else.  A shim that cannot dial the
 * node (a network namespace of its own) reaches it through the
 * coordinator's relay.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/auth.h"
#include "../lib/clock.h"
#include "../lib/config.h"
#include "../lib/err.h"
#include "../lib/io.h"
#include "../lib/jobdir.h"
#include "../lib/log.h"
#include "../lib/net.h"
#include "../lib/spawn.h"
#include "../lib/stream.h"
#include "args.h"
#include "fidelity.h"
#include "ship.h"
#include "unit.h"

/* The shim's own exit codes, far from any compiler's (distcc's habit). */
enum {
	SHIM_EXIT_REMOTE_FAILED = 110, /* DMAKE_PLACEMENT=remote, no node did it */
	SHIM_EXIT_NO_COMPILER = 111,   /* the real compiler is not on PATH */
	SHIM_EXIT_USAGE = 112,
};

#define ATTEMPTS 3
#define NODE_CONNECT_MS 3000
/* The coordinator answers RELAY within its own connect timeout (3 s). */
#define RELAY_ANSWER_MS 10000
#define NODE_IO_MS 600000 /* a node compiles for at most this long */
/* Both go to files, never to memory: limits only against a node gone
 * mad, far above anything a real compile writes. */
#define STDERR_LIMIT (16ull << 30)
#define OBJECT_LIMIT (16ull << 30)

struct shim {
	char compiler[PATH_MAX]; /* the real compiler, as found on PATH */
	const char *name;	 /* the name it was invoked as */
	char **argv;		 /* argv[0] = compiler */
	int argc;
	int coord;	  /* socket to the coordinator, -1 without one */
	const char *sock; /* its path (DMAKE_SOCKET) */
	enum { RELAY_AUTO, RELAY_ALWAYS, RELAY_NEVER } relay;
	struct dm_config cfg;
	struct dm_key key;
	struct dm_buf frame;
	char toolchain[129], role[17];
	int remote_ok;
	struct fid fid; /* what the job needs beyond its unit (fidelity.h) */
	/* When each step ended, µs on CLOCK_MONOTONIC (the debug log's
	 * account of a remote compile). */
	uint64_t t_start, t_slot, t_pp;
};

/* ---- finding the real compiler --------------------------------------- */

static int
same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The next `name` on PATH that is not this shim (nor its masquerade
 * directory), so a masquerade link never finds itself. */
static int
find_compiler(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH"), *masq = getenv("DMAKE_MASQ_DIR");
	char self[PATH_MAX];
	ssize_t n;

	if (strchr(name, '/') != NULL) {
		snprintf(out, len, "%s", name);
		return access(out, X_OK) == 0 ? 0 : -errno;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t dl = end ? (size_t)(end - path) : strlen(path);

		if (dl > 0 && !(masq && strlen(masq) == dl &&
				strncmp(masq, path, dl) == 0)) {
			snprintf(out, len, "%.*s/%s", (int)dl, path, name);
			if (access(out, X_OK) == 0 && !same_file(out, self))
				return 0;
		}
		path += dl;
		if (*path == ':')
			path++;
	}
	return -ENOENT;
}

/* ---- the coordinator ---------------------------------------------------- */

static void
outcome(struct shim *s, uint32_t kind, uint64_t ticket, uint32_t cpu_ms)
{
	struct dm_msg_outcome o = {kind, ticket, cpu_ms, 0};

	if (s->coord >= 0)
		dm_io_send(s->coord, DM_MSG_OUTCOME, &o);
}

/* Waits for a local slot; the answer also says whether remote placement
 * is possible now and names the compiler's toolchain. */
static int
acquire_local(struct shim *s)
{
	struct dm_msg_local_acquire a = {(uint32_t)getpid(), s->compiler,
					 (char *)s->name, 0};
	union dm_msg m;
	int rc;

	if ((rc = dm_io_send(s->coord, DM_MSG_LOCAL_ACQUIRE, &a)) != 0)
		return rc;
	if ((rc = dm_io_expect(s->coord, &s->frame, DM_MSG_LOCAL_GRANTED, &m,
			       NULL, 0)) != 0)
		return rc;
	s->remote_ok = m.local_granted.remote != 0;
	snprintf(s->toolchain, sizeof(s->toolchain), "%s",
		 m.local_granted.toolchain);
	snprintf(s->role, sizeof(s->role), "%s", m.local_granted.role);
	dm_msg_free(DM_MSG_LOCAL_GRANTED, &m);
	return 0;
}

/* Runs the compiler here, in this process: the coordinator socket stays
 * open across exec, so the local slot is held until the compiler (and
 * everything it runs) has exited. */
static void __attribute__((noreturn))
exec_local(struct shim *s)
{
	if (s->coord >= 0)
		fcntl(s->coord, F_SETFD, 0);
	execv(s->compiler, s->argv);
	fprintf(stderr, "dmake-cc: cannot run %s: %s\n", s->compiler,
		strerror(errno));
	_exit(SHIM_EXIT_NO_COMPILER);
}

/* ---- preprocessing ---------------------------------------------------- */


/* Preprocesses into a memory file, filtered as the node wants it.
 * Returns 0 with *unit_fd, 1 when the compile must happen here instead
 * (the preprocessor failed or spoke: the local compile reports it
 * exactly), or a negative error.  The raw output goes to a memory file
 * first: the preprocessor never waits on us, and the filter reads it in
 * one pass. */
static int
preprocess(struct shim *s, const struct args *a, int *unit_fd,
	   uint64_t *unit_bytes)
{
	struct dm_spawn_opts o = {0};
	struct dm_spawn_result r = {0};
	struct unit_filter f;
	/* The filter hands over a line or less at a time: buffered, or a
	 * kernel unit costs tens of thousands of write()s. */
	struct dm_io_bufw uo = {.fd = -1};
	struct stat st;
	char **cpp = NULL, buf[65536];
	int rawfd = -1, errfd = -1, ufd = -1, rc;
	ssize_t n;

	if ((rc = args_cpp_argv(a, "-", &cpp)) != 0)
		return rc;
	rawfd = memfd_create("dmake-cpp", MFD_CLOEXEC);
	ufd = memfd_create("dmake-unit", MFD_CLOEXEC);
	errfd = memfd_create("dmake-cpp-stderr", MFD_CLOEXEC);
	if (rawfd < 0 || ufd < 0 || errfd < 0) {
		rc = -errno;
		goto out;
	}
	o.argv = (const char *const *)cpp;
	o.path = s->compiler;
	o.stdin_fd = -1;
	o.stdout_fd = rawfd;
	o.stderr_fd = errfd;
	if ((rc = dm_spawn_run(&o, &r)) != 0)
		goto out;
	if (r.exit_code != 0 || r.signal != 0 ||
	    (fstat(errfd, &st) == 0 && st.st_size > 0)) {
		rc = 1;
		goto out;
	}
	uo.fd = ufd;
	unit_filter_init(&f, a->family, dm_io_bufw_write, &uo);
	fid_filter(&s->fid, &f);
	lseek(rawfd, 0, SEEK_SET);
	while ((n = read(rawfd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if ((rc = unit_filter_feed(&f, buf, (size_t)n)) != 0)
			goto out;
	}
	if ((rc = unit_filter_finish(&f)) != 0 ||
	    (rc = dm_io_bufw_flush(&uo)) != 0)
		goto out;
	/* What the unit says may keep the compile here (fidelity.h). */
	if ((rc = fid_prepare(&s->fid, a, &f, buf, sizeof(buf))) != 0) {
		if (rc == 1)
			dm_debug("%s: local: %s", a->source, buf);
		goto out;
	}
	*unit_bytes = (uint64_t)lseek(ufd, 0, SEEK_CUR);
	*unit_fd = ufd;
	ufd = -1;
out:
	dm_buf_free(&uo.b);
	if (rawfd >= 0)
		close(rawfd);
	if (errfd >= 0)
		close(errfd);
	if (ufd >= 0)
		close(ufd);
	args_argv_free(cpp);
	return rc;
}

/* ---- one remote attempt ---------------------------------------------- */

struct attempt {
	uint64_t ticket;
	char node[257], node_name[65];
	char why[512];
	int status;	 /* the compiler's exit status */
	uint32_t cpu_ms; /* on the node */
	uint32_t wall_ms; /* the compiler's, on the node */
	int infra;	 /* the failure was the farm's, not the code's */
	int here;	 /* the node was never reached for a reason of this
			    side's: the failure counts against no node */
	int relayed;	 /* through the coordinator */
	int dwo;	 /* a .dwo came with the object */
	/* µs when placed, connected (and authenticated), the job sent,
	 * JOB_RESULT read, everything read */
	uint64_t t_placed, t_conn, t_sent, t_result, t_done;
};

static int
place(struct shim *s, uint64_t unit_bytes, struct attempt *at)
{
	static uint64_t req;
	/* platform: the coordinator fills it in (can it ship the compiler). */
	struct dm_msg_place p = {++req, s->toolchain, unit_bytes, NULL, 0};
	union dm_msg m;
	uint16_t type;
	int rc;

	if ((rc = dm_io_send(s->coord, DM_MSG_PLACE, &p)) != 0)
		return rc;
	if ((rc = dm_io_recv(s->coord, &s->frame, &type, &m)) != 0)
		return rc;
	if (type == DM_MSG_PLACED) {
		at->ticket = m.placed.ticket;
		snprintf(at->node, sizeof(at->node), "%s", m.placed.node_addr);
		snprintf(at->node_name, sizeof(at->node_name), "%s",
			 m.placed.node_name);
	} else if (type == DM_MSG_PLACE_FAIL) {
		snprintf(at->why, sizeof(at->why), "%s", m.place_fail.reason);
		rc = DM_ENOSLOT;
	} else {
		rc = DM_EUNEXPECTED;
	}
	dm_msg_free(type, &m);
	return rc;
}

/* ---- reaching the node --------------------------------------------------
 *
 * The shim dials nodes itself.  In a network namespace of its own (portage
 * compiles in one) it cannot: connect fails at once, for want of a route
 * or of an interface that is not loopback.  Its coordinator can, and
 * relays the connection (doc/protocol.md, "Relay"); the node protocol
 * runs through it unchanged.  DMAKE_RELAY=1 always relays, =0 never;
 * otherwise the first connect that fails that way sends this process's
 * later ones through the relay at once. */

/* No interface up but loopback.  Then a refused connect may be this
 * namespace's own loopback answering for an address that is the node's
 * outside it (portage puts 10.0.0.1/8 on its lo); where the node is
 * really down, the relay is refused too, for the price of one more
 * local connection. */
static int
only_loopback(void)
{
	struct ifaddrs *all, *i;
	int only = 1;

	if (getifaddrs(&all) != 0)
		return 0;
	for (i = all; i != NULL; i = i->ifa_next)
		if ((i->ifa_flags & IFF_UP) && !(i->ifa_flags & IFF_LOOPBACK))
			only = 0;
	freeifaddrs(all);
	return only;
}

/* connect's error says the node cannot be reached from here, though it
 * may well be up (a name that does not resolve here counts too). */
static int
no_route(int rc)
{
	return rc == -ENETUNREACH || rc == -EHOSTUNREACH ||
	       rc == -EADDRNOTAVAIL || rc == DM_EADDR ||
	       (rc == -ECONNREFUSED && only_loopback());
}

static int
relay_connect(struct shim *s, struct attempt *at)
{
	struct dm_msg_relay r = {at->node, 0};
	union dm_msg m;
	uint16_t type;
	int fd, rc;

	at->relayed = 1;
	if ((fd = dm_net_connect_unix(s->sock)) < 0) {
		at->here = 1;
		return fd;
	}
	dm_io_set_timeout(fd, RELAY_ANSWER_MS);
	if ((rc = dm_io_send(fd, DM_MSG_RELAY, &r)) != 0 ||
	    (rc = dm_io_recv(fd, &s->frame, &type, &m)) != 0) {
		at->here = 1;
		close(fd);
		return rc;
	}
	if (type == DM_MSG_RELAY_FAIL) {
		snprintf(at->why, sizeof(at->why), "node %s through dmake: %s",
			 at->node_name, m.relay_fail.reason);
		rc = m.relay_fail.code != 0 ? -(int)m.relay_fail.code
					    : DM_EREMOTE;
		/* Refused (not a node of ours): no fault of the node's. */
		at->here = rc == -EPERM;
	} else if (type != DM_MSG_RELAY_OK) {
		rc = DM_EUNEXPECTED;
		at->here = 1;
	}
	dm_msg_free(type, &m);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* A connected descriptor to the node of at, or a negative error. */
static int
node_connect(struct shim *s, struct attempt *at)
{
	int fd;

	if (s->relay != RELAY_ALWAYS) {
		fd = dm_net_connect(at->node, NODE_CONNECT_MS);
		if (fd >= 0 || !no_route(fd))
			return fd;
		if (s->relay == RELAY_NEVER) {
			at->here = 1;
			return fd;
		}
		dm_debug("node %s: %s from here; relaying through dmake",
			 at->node, dm_strerror(fd));
		s->relay = RELAY_ALWAYS;
	}
	return relay_connect(s, at);
}

/* A temporary file beside the object, renamed over it only when the
 * whole object arrived: make never sees a half-written .o. */
static int
object_tmp(const char *object, char *tmp, size_t len)
{
	mode_t mask;
	int fd;

	snprintf(tmp, len, "%s.dmake-XXXXXX", object);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return -errno;
	mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask); /* what the compiler's open() would give */
	return fd;
}

static int
run_remote(struct shim *s, const struct args *a, int unit_fd,
	   struct attempt *at, int errfd, int objfd, int dwofd)
{
	struct dm_msg_job j = {0};
	struct fid_sent sent;
	union dm_msg m;
	char cwd[PATH_MAX], text[401];
	uint64_t got;
	ssize_t tn;
	int fd, rc;

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -errno;
	if ((fd = node_connect(s, at)) < 0) {
		if (at->why[0] == '\0')
			snprintf(at->why, sizeof(at->why), "node %s: %s",
				 at->node_name[0] ? at->node_name : at->node,
				 dm_strerror(fd));
		return fd;
	}
	dm_io_set_timeout(fd, NODE_IO_MS);
	if ((rc = dm_auth_client(fd, &s->key, DM_ROLE_SHIM)) != 0)
		goto out;
	at->t_conn = dm_now_us();
	j.ticket = at->ticket;
	j.toolchain = s->toolchain;
	j.role = s->role;
	j.args = a->remote_flags;
	j.args_n = (uint32_t)a->n_remote_flags;
	j.cwd = cwd;
	j.source = (char *)a->source;
	j.want = DM_JOB_WANT_OBJECT;
	/* A node that lacks the compiler asks for its archive (ship.h). */
	if (s->coord >= 0 && !s->cfg.no_ship)
		j.want |= DM_JOB_WANT_TOOLCHAIN;
	fid_job(&s->fid, &j); /* the unit's name, flags, extras */
	if (a->split_dwarf) {
		j.object = a->object;
		j.want |= DM_JOB_WANT_DWO;
	}
	if ((rc = dm_io_send(fd, DM_MSG_JOB, &j)) != 0)
		goto out;
	lseek(unit_fd, 0, SEEK_SET);
	if ((rc = dm_stream_send_fd(fd, unit_fd)) != 0 ||
	    (rc = fid_send_extras(&s->fid, fd, s->coord, &s->frame, &sent)) !=
		    0)
		goto out;
	if (sent.cached + sent.sent > 0)
		dm_debug("%s: %u files the node had, %u sent; %u hashes "
			 "from dmake",
			 at->node, sent.cached, sent.sent, sent.remembered);
	at->t_sent = dm_now_us();
	if ((rc = ship_expect_result(fd, s->coord, &s->frame, s->toolchain, &m,
				     at->why, sizeof(at->why))) != 0)
		goto out;
	at->t_result = dm_now_us();
	at->status = (int)m.job_result.status;
	at->wall_ms = m.job_result.wall_ms;
	at->cpu_ms = m.job_result.cpu_ms;
	at->infra = (m.job_result.flags & DM_JOB_RESULT_INFRA) != 0;
	/* stderr to a file: a compile may print megabytes of warnings. */
	if (ftruncate(errfd, 0) != 0 || lseek(errfd, 0, SEEK_SET) != 0 ||
	    ftruncate(objfd, 0) != 0 || lseek(objfd, 0, SEEK_SET) != 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = dm_stream_recv_fd(fd, errfd, STDERR_LIMIT, &s->frame,
				    &got)) != 0)
		goto out;
	if ((rc = dm_stream_recv_fd(fd, objfd, OBJECT_LIMIT, &s->frame,
				    &got)) != 0)
		goto out;
	at->dwo = (m.job_result.flags & DM_JOB_RESULT_DWO) != 0;
	if (at->dwo && (dwofd < 0 || ftruncate(dwofd, 0) != 0 ||
			lseek(dwofd, 0, SEEK_SET) != 0)) {
		rc = dwofd < 0 ? DM_EUNEXPECTED : -errno;
		goto out;
	}
	if (at->dwo && (rc = dm_stream_recv_fd(fd, dwofd, OBJECT_LIMIT,
					       &s->frame, &got)) != 0)
		goto out;
	if (at->infra) {
		tn = pread(errfd, text, sizeof(text) - 1, 0);
		text[tn > 0 ? tn : 0] = '\0';
		snprintf(at->why, sizeof(at->why), "node %s: %s",
			 at->node_name, text);
		rc = DM_EREMOTE;
		goto out;
	}
	if (at->status == 0 && !(m.job_result.flags & DM_JOB_RESULT_OBJECT)) {
		snprintf(at->why, sizeof(at->why), "node %s sent no object",
			 at->node_name);
		at->infra = 1;
		rc = DM_EREMOTE;
		goto out;
	}
	/* The compiler's verdict; its diagnostics are written by
	 * distribute() once the object is in place. */
out:
	if (rc != 0 && at->why[0] == '\0')
		snprintf(at->why, sizeof(at->why), "node %s: %s",
			 at->node_name[0] ? at->node_name : at->node,
			 dm_strerror(rc));
	close(fd);
	return rc;
}

static void
job_end(struct shim *s, const struct attempt *at, uint32_t result,
	uint64_t unit_bytes)
{
	struct dm_msg_job_end e = {at->ticket, result, at->cpu_ms, unit_bytes,
				   0};

	dm_io_send(s->coord, DM_MSG_JOB_END, &e);
}

/* Returns the exit status of the compile, or -1 if no node managed it. */
static int
distribute(struct shim *s, const struct args *a, int unit_fd,
	   uint64_t unit_bytes, char *why, size_t why_len)
{
	char tmp[PATH_MAX + 16], dwo[PATH_MAX], dwotmp[PATH_MAX + 16];
	int objfd, errfd, dwofd = -1, status = -1, got_dwo = 0;

	if ((objfd = object_tmp(a->object, tmp, sizeof(tmp))) < 0) {
		snprintf(why, why_len, "cannot write beside %s: %s", a->object,
			 strerror(-objfd));
		return -1;
	}
	if (a->split_dwarf &&
	    (dm_jobdir_dwo_name(a->object, dwo, sizeof(dwo)) != 0 ||
	     (dwofd = object_tmp(dwo, dwotmp, sizeof(dwotmp))) < 0)) {
		snprintf(why, why_len, "cannot write the .dwo beside %s",
			 a->object);
		unlink(tmp);
		close(objfd);
		return -1;
	}
	if ((errfd = fid_spool_open(a->object)) < 0) {
		snprintf(why, why_len, "cannot write beside %s: %s", a->object,
			 strerror(-errfd));
		unlink(tmp);
		close(objfd);
		if (dwofd >= 0) {
			unlink(dwotmp);
			close(dwofd);
		}
		return -1;
	}
	for (int i = 0; i < ATTEMPTS; i++) {
		struct attempt at = {0};
		int rc;

		rc = place(s, unit_bytes, &at);
		at.t_placed = dm_now_us();
		if (rc != 0) {
			snprintf(why, why_len, "%s",
				 at.why[0] ? at.why : dm_strerror(rc));
			if (rc == DM_ENOSLOT)
				break; /* asking again cannot help */
			continue;
		}
		rc = run_remote(s, a, unit_fd, &at, errfd, objfd, dwofd);
		if (rc != 0) {
			job_end(s, &at,
				at.here ? DM_JOB_ABANDONED : DM_JOB_INFRA,
				unit_bytes);
			snprintf(why, why_len, "%s", at.why);
			dm_info("%s: %s; placing it again", a->source, at.why);
			continue;
		}
		job_end(s, &at,
			at.status == 0 ? DM_JOB_OK : DM_JOB_COMPILE_ERROR,
			unit_bytes);
		outcome(s, DM_OUTCOME_REMOTE, at.ticket, at.cpu_ms);
		at.t_done = dm_now_us();
		dm_debug("%s: remote: node %s%s, exit %d; ms: slot %.1f, "
			 "preprocess %.1f, place %.1f, connect %.1f, send "
			 "%.1f, node %.1f (its compiler %u), results %.1f",
			 a->source, at.node_name,
			 at.relayed ? " (relayed)" : "", at.status,
			 (s->t_slot - s->t_start) / 1e3,
			 (s->t_pp - s->t_slot) / 1e3,
			 (at.t_placed - s->t_pp) / 1e3,
			 (at.t_conn - at.t_placed) / 1e3,
			 (at.t_sent - at.t_conn) / 1e3,
			 (at.t_result - at.t_sent) / 1e3, at.wall_ms,
			 (at.t_done - at.t_result) / 1e3);
		status = at.status;
		got_dwo = at.dwo;
		break;
	}
	/* The .dwo first: a make that sees the object sees its .dwo. */
	if (status == 0 && got_dwo && rename(dwotmp, dwo) != 0) {
		snprintf(why, why_len, "cannot rename the .dwo into place: %s",
			 strerror(errno));
		status = -1;
	}
	if (dwofd >= 0) {
		if (status != 0 || !got_dwo)
			unlink(dwotmp);
		close(dwofd);
	}
	if (status == 0 && rename(tmp, a->object) != 0) {
		snprintf(why, why_len, "cannot rename the object into place: %s",
			 strerror(errno));
		status = -1;
	}
	if (status != 0)
		unlink(tmp);
	/* clang removes the object of a failed compile, gcc leaves it
	 * (measured: gcc 12, clang 14). */
	if (status > 0 && a->family == ARGS_CLANG)
		unlink(a->object);
	/* The diagnostics, exactly once: the compile is over and a local
	 * compile will not follow. */
	if (status >= 0)
		fid_spool_emit(&s->fid, errfd, 2);
	close(errfd);
	close(objfd);
	return status;
}

/* ---- main ------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: dmake-cc COMPILER [ARGS...]\n"
		"   or: a link to dmake-cc named cc, gcc, g++, c++, clang or clang++\n"
		"\n"
		"Run under `dmake make|run`, it preprocesses compiles here and has\n"
		"the cluster compile them; objects, dependency files, diagnostics and\n"
		"exit status are those of the local compiler.  Without DMAKE_SOCKET\n"
		"it runs the compiler unchanged.  DMAKE_PLACEMENT=local keeps every\n"
		"compile here; =remote makes a failure to compile remotely an error\n"
		"(exit %d) instead of a local compile.\n",
		SHIM_EXIT_REMOTE_FAILED);
}

int
main(int argc, char **argv)
{
	struct shim s = {.coord = -1};
	struct args a;
	const char *base = strrchr(argv[0], '/');
	const char *sock, *relay;
	char why[600] = "";
	uint64_t unit_bytes = 0;
	int unit_fd = -1, rc, status;

	s.t_start = dm_now_us();
	dm_log_init("dmake-cc", DM_LOG_WARN);
	signal(SIGPIPE, SIG_IGN);
	base = base ? base + 1 : argv[0];
	if (strcmp(base, "dmake-cc") == 0) {
		if (argc < 2 || strcmp(argv[1], "--help") == 0) {
			usage(argc < 2 ? stderr : stdout);
			return argc < 2 ? SHIM_EXIT_USAGE : 0;
		}
		argv++;
		argc--;
		base = argv[0];
	}
	s.name = strrchr(base, '/') ? strrchr(base, '/') + 1 : base;
	if (find_compiler(base, s.compiler, sizeof(s.compiler)) != 0) {
		fprintf(stderr,
			"dmake-cc: cannot find the real %s on PATH (after the "
			"dmake masquerade directory); install it or fix PATH\n",
			base);
		return SHIM_EXIT_NO_COMPILER;
	}
	argv[0] = s.compiler;
	s.argv = argv;
	s.argc = argc;
	dm_buf_init(&s.frame);
	fid_init(&s.fid);

	sock = getenv("DMAKE_SOCKET");
	if (sock == NULL || sock[0] == '\0')
		exec_local(&s);
	s.sock = sock;
	if ((relay = getenv("DMAKE_RELAY")) != NULL)
		s.relay = strcmp(relay, "1") == 0   ? RELAY_ALWAYS
			  : strcmp(relay, "0") == 0 ? RELAY_NEVER
						    : RELAY_AUTO;
	if (dm_config_load(&s.cfg, why, sizeof(why)) != 0) {
		dm_warn("%s; compiling locally", why);
		exec_local(&s);
	}
	if ((s.coord = dm_net_connect_unix(sock)) < 0) {
		dm_warn("cannot reach dmake at %s (%s); compiling locally",
			sock, dm_strerror(s.coord));
		exec_local(&s);
	}
	if (args_parse(argc, argv, &a) != 0) {
		/* Not ours to understand: the compiler will say what is wrong. */
		memset(&a, 0, sizeof(a));
	}
	rc = acquire_local(&s);
	s.t_slot = dm_now_us();
	if (rc != 0) {
		dm_warn("dmake coordinator: %s; compiling locally",
			dm_strerror(rc));
		close(s.coord);
		s.coord = -1;
		exec_local(&s);
	}
	if (!a.is_compile)
		exec_local(&s);
	if (a.where == ARGS_LOCAL || s.cfg.placement == DM_PLACE_LOCAL) {
		dm_debug("%s: local: %s", a.source ? a.source : "-",
			 a.where == ARGS_LOCAL ? a.why : "DMAKE_PLACEMENT=local");
		outcome(&s, DM_OUTCOME_LOCAL, 0, 0);
		exec_local(&s);
	}
	if (!s.remote_ok && s.cfg.scheduler[0] == '\0' &&
	    s.cfg.placement != DM_PLACE_REMOTE) {
		/* No cluster at all: a purely local build. */
		outcome(&s, DM_OUTCOME_LOCAL, 0, 0);
		exec_local(&s);
	}
	if (!s.remote_ok || s.toolchain[0] == '\0') {
		snprintf(why, sizeof(why), "%s",
			 !s.remote_ok ? "no scheduler connected"
				      : "the compiler has no toolchain identity");
		goto fallback;
	}
	if (s.cfg.key_file[0] == '\0' ||
	    (rc = dm_key_load(s.cfg.key_file, &s.key)) != 0) {
		snprintf(why, sizeof(why), "no usable cluster key (%s)",
			 s.cfg.key_file[0] ? dm_strerror(rc)
					   : "DMAKE_KEY_FILE unset");
		goto fallback;
	}
	rc = preprocess(&s, &a, &unit_fd, &unit_bytes);
	s.t_pp = dm_now_us();
	if (rc == 1) {
		/* The local compile reports the preprocessor's words. */
		outcome(&s, DM_OUTCOME_LOCAL, 0, 0);
		exec_local(&s);
	}
	if (rc != 0) {
		snprintf(why, sizeof(why), "preprocessing: %s", dm_strerror(rc));
		goto fallback;
	}
	dm_io_send(s.coord, DM_MSG_LOCAL_RELEASE,
		   &(struct dm_msg_local_release){0});
	status = distribute(&s, &a, unit_fd, unit_bytes, why, sizeof(why));
	close(unit_fd);
	if (status >= 0)
		return status;
	if (acquire_local(&s) != 0) {
		close(s.coord);
		s.coord = -1;
	}

fallback:
	if (s.cfg.placement == DM_PLACE_REMOTE) {
		fprintf(stderr,
			"dmake-cc: %s: no node compiled it (%s); "
			"DMAKE_PLACEMENT=remote forbids a local compile\n",
			a.source, why);
		return SHIM_EXIT_REMOTE_FAILED;
	}
	dm_info("%s: compiling locally: %s", a.source, why);
	outcome(&s, DM_OUTCOME_FALLBACK, 0, 0);
	exec_local(&s);
}
