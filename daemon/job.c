/*
 * job.c: see job.h.  The blocking path of one job, run by a worker
 * thread of main.c.
 *
 * The order on the wire is fixed by doc/protocol.md: after JOB the shim
 * sends the whole unit before it reads anything, so even a job the node
 * refuses (unknown toolchain, bad source name) has its unit read to the
 * end before the JOB_RESULT goes out; closing a socket with unread data
 * would reset the connection and lose the answer.
 *
 * Every compile runs in the sandbox of sandbox.h unless the node was
 * started with --no-sandbox; a node whose sandbox failed at start
 * (NODE_SANDBOX_BROKEN) answers every job with an infrastructure failure
 * that says why, so the shim compiles it locally.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/err.h"
#include "../lib/io.h"
#include "../lib/jobdir.h"
#include "../lib/log.h"
#include "../lib/stream.h"
#include "extras.h"
#include "job.h"
#include "sandbox.h"
#include "standin.h"
#include "tccache.h"

/* A peer has this long to prove the key, as lib/conn.c allows. */
#define AUTH_MS 10000
/* Any one read or write after that (not the whole job). */
#define IO_MS 60000
/* How much of the compiler's output is searched for NODE_HINT_*: the
 * messages that matter come last. */
#define HINT_TAIL 65536

struct job {
	struct node *n;
	int fd;
	const char *peer;
	struct dm_buf frame;
	uint32_t status;
	uint32_t flags;
	uint32_t cpu_ms;
	uint32_t wall_ms;
	char why[1024]; /* the node's explanation, for an INFRA result */
	int outfd;	/* the compiler's stdout and stderr */
	int objfd;	/* the object, when flags has OBJECT */
	int dwofd;	/* its .dwo, when flags has DWO */
	uint32_t want;	/* JOB.want */
	struct node_extras extras; /* JOB_ENV, JOB_FILE (extras.h) */
};

static const char *
size_text(uint64_t n, char *buf, size_t len)
{
	if (n >= (1ull << 30) && n % (1ull << 30) == 0)
		snprintf(buf, len, "%" PRIu64 " GiB", n >> 30);
	else if (n >= (1ull << 20) && n % (1ull << 20) == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", n >> 20);
	else
		snprintf(buf, len, "%" PRIu64 " bytes", n);
	return buf;
}

/* Copies src (n bytes) to dst without terminal escapes (colours, and
 * the OSC 8 links of -fdiagnostics-urls) and control characters. */
static size_t
plain_text(const char *src, size_t n, char *dst, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == 0x1b && i + 1 < n && src[i + 1] == '[') {
			for (i += 2; i < n; i++)
				if (src[i] >= 0x40 && src[i] <= 0x7e)
					break;
			continue;
		}
		if (c == 0x1b && i + 1 < n && src[i + 1] == ']') {
			for (i += 2; i < n; i++) {
				if (src[i] == '\a')
					break;
				if (src[i] == 0x1b && i + 1 < n &&
				    src[i + 1] == '\\') {
					i++;
					break;
				}
			}
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			continue;
		dst[k++] = (char)c;
	}
	dst[k] = '\0';
	return k;
}

/* 1 when a line of plain text is an error at a place in the code:
 * "x.c:3:7: error: ...", "x.c:3: fatal error: ...", gcc's "sorry". */
static int
located_error(const char *line)
{
	static const char *const kinds[] = {
		": error: ", ": fatal error: ", ": sorry, unimplemented: "};

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (const char *p = strstr(line, kinds[k]); p != NULL;
		     p = strstr(p + 1, kinds[k])) {
			const char *d = p;

			while (d > line && d[-1] >= '0' && d[-1] <= '9')
				d--;
			/* ":LINE" or ":LINE:COL" right before, after a name */
			if (d < p && d - line >= 2 && d[-1] == ':')
				return 1;
		}
	}
	return 0;
}

int
node_job_hints(const char *text, size_t len)
{
	char line[4096];
	int h = 0;

	if (memmem(text, len, "No space left on device", 23) != NULL ||
	    memmem(text, len, "Disk quota exceeded", 19) != NULL)
		h |= NODE_HINT_NOSPACE;
	/* gcc: cc1 crashed or was killed (the OOM killer); clang: the
	 * frontend died.  A real compiler bug shows again in the local
	 * compile the shim falls back to, so nothing is lost by blaming
	 * the node. */
	if (memmem(text, len, "internal compiler error", 23) != NULL ||
	    memmem(text, len, "command failed due to signal", 28) != NULL ||
	    memmem(text, len, "unable to execute command", 25) != NULL)
		h |= NODE_HINT_CRASH;
	/* gcc's xmalloc and ggc, clang, the C++ runtime, perl and errno. */
	if (memmem(text, len, "out of memory", 13) != NULL ||
	    memmem(text, len, "Out of memory", 13) != NULL ||
	    memmem(text, len, "virtual memory exhausted", 24) != NULL ||
	    memmem(text, len, "std::bad_alloc", 14) != NULL ||
	    memmem(text, len, "Cannot allocate memory", 22) != NULL)
		h |= NODE_HINT_NOMEM;
	if (memmem(text, len, "Resource temporarily unavailable", 32) != NULL)
		h |= NODE_HINT_NOPROC;
	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		plain_text(p, n, line, sizeof(line));
		if (located_error(line)) {
			h |= NODE_HINT_DIAGNOSED;
			break;
		}
		p += n + 1;
	}
	return h;
}

void
node_job_last_line(const char *text, size_t len, char *out, size_t out_len)
{
	size_t end = len, start;

	out[0] = '\0';
	for (;;) {
		while (end > 0 &&
		       (text[end - 1] == '\n' || text[end - 1] == ' ' ||
			text[end - 1] == '\r' || text[end - 1] == '\t'))
			end--;
		if (end == 0)
			return;
		start = end;
		while (start > 0 && text[start - 1] != '\n')
			start--;
		if (plain_text(text + start, end - start, out, out_len) > 0)
			return;
		end = start;
	}
}

void
node_job_verdict(const char *compiler, int spawn_rc,
		 const struct dm_spawn_result *r, int object_exists, int hints,
		 const char *tail, const struct node_job_limits *lim,
		 uint32_t *status, uint32_t *flags, char *why, size_t why_len)
{
	char sz[32];
	const char *sep = tail != NULL && tail[0] ? ": " : "";

	if (tail == NULL)
		tail = "";

	why[0] = '\0';
	/* For an INFRA result status means nothing; 255 keeps anything
	 * that ignores the flag from taking it for success. */
	*status = 255;
	*flags = DM_JOB_RESULT_INFRA;
	if (spawn_rc != 0) {
		snprintf(why, why_len, "cannot run %s: %s", compiler,
			 dm_strerror(spawn_rc));
	} else if (r->timed_out) {
		snprintf(why, why_len,
			 "the compile ran longer than this node's limit of "
			 "%u s (dmaked --job-timeout) and was killed",
			 lim->timeout_s);
	} else if (r->signal == SIGXFSZ) {
		snprintf(why, why_len,
			 "%s wrote a file larger than this node's limit of %s "
			 "(dmaked --job-fsize)",
			 compiler, size_text(lim->fsize, sz, sizeof(sz)));
	} else if (r->signal == SIGXCPU) {
		snprintf(why, why_len,
			 "%s used more CPU time than this node's limit of "
			 "%u s (dmaked --job-cpu)",
			 compiler, lim->cpu_s);
	} else if (r->signal != 0) {
		snprintf(why, why_len, "%s was killed by signal %d (%s)",
			 compiler, r->signal, strsignal(r->signal));
	} else if (r->exit_code == 0 && !object_exists) {
		snprintf(why, why_len, "%s exited 0 but wrote no object",
			 compiler);
	} else if (r->exit_code == 0) {
		*status = 0;
		*flags = DM_JOB_RESULT_OBJECT;
	} else if (hints & NODE_HINT_NOSPACE) {
		snprintf(why, why_len,
			 "the node ran out of disk space (%s exited %d)",
			 compiler, r->exit_code);
	} else if (hints & NODE_HINT_CRASH) {
		snprintf(why, why_len,
			 "%s crashed on this node (exit %d); the compile is "
			 "worth repeating elsewhere%s%s",
			 compiler, r->exit_code, sep, tail);
	} else if (hints & NODE_HINT_NOMEM) {
		snprintf(why, why_len,
			 "%s ran out of memory (exit %d) under this node's "
			 "limit of %s per process (dmaked --job-mem)%s%s",
			 compiler, r->exit_code,
			 size_text(lim->mem, sz, sizeof(sz)), sep, tail);
	} else if (hints & NODE_HINT_NOPROC) {
		snprintf(why, why_len,
			 "%s could not start a process (exit %d) under this "
			 "node's limit of %u per job (dmaked --job-procs)%s%s",
			 compiler, r->exit_code, lim->procs, sep, tail);
	} else if (!(hints & NODE_HINT_DIAGNOSED)) {
		snprintf(why, why_len,
			 "%s exited %d without reporting an error in the "
			 "code%s%s",
			 compiler, r->exit_code, sep, tail);
	} else {
		*status = (uint32_t)(r->exit_code & 0xff);
		*flags = 0;
	}
}

static void infra(struct job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
infra(struct job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->why, sizeof(j->why), fmt, ap);
	va_end(ap);
	j->status = 255;
	j->flags = DM_JOB_RESULT_INFRA;
}

/* Logs why a stream or message from the peer ended the connection. */
static void
log_peer_failure(struct job *j, const char *what, int rc)
{
	char sz[32];

	if (rc == DM_EPROTO || rc == DM_ETOOBIG) {
		if (rc == DM_ETOOBIG && strcmp(what, "unit") == 0)
			dm_warn("%s: unit larger than this node's limit of "
				"%s; closing",
				j->peer,
				size_text(NODE_UNIT_LIMIT, sz, sizeof(sz)));
		else
			dm_warn("%s: malformed %s: %s; closing", j->peer, what,
				dm_wire_errmsg()[0] ? dm_wire_errmsg()
						    : dm_strerror(rc));
	} else if (rc == DM_EZSTD || rc == DM_EUNEXPECTED) {
		dm_warn("%s: malformed %s: %s; closing", j->peer, what,
			dm_strerror(rc));
	} else {
		dm_info("%s: connection lost during the %s: %s", j->peer, what,
			dm_strerror(rc));
	}
}

/* Reads the rest of the unit (and the job's extras, which follow it)
 * when the node has given up on it, so that the answer can still be
 * sent.  Returns 0 once DATA_END (JOB_START with extras) is read. */
static int
drain(struct job *j)
{
	int extras = (j->want & DM_JOB_WANT_EXTRAS) != 0;
	union dm_msg m;
	uint16_t type;
	int rc;

	for (;;) {
		if ((rc = dm_io_recv(j->fd, &j->frame, &type, &m)) != 0)
			break;
		dm_msg_free(type, &m);
		if ((type == DM_MSG_DATA_END && !extras) ||
		    (type == DM_MSG_JOB_START && extras))
			return 0;
		if (extras && type == DM_MSG_JOB_FILES) {
			/* The shim waits for the answer: it needs nothing. */
			rc = dm_io_send(j->fd, DM_MSG_JOB_FILES_NEED,
					&(struct dm_msg_job_files_need){0});
			if (rc != 0)
				break;
			continue;
		}
		if (type != DM_MSG_DATA && type != DM_MSG_DATA_END &&
		    !(extras && (type == DM_MSG_JOB_ENV ||
				 type == DM_MSG_JOB_FILE))) {
			rc = DM_EUNEXPECTED;
			break;
		}
	}
	log_peer_failure(j, "rest of the unit", rc);
	return rc;
}

static void
send_error(struct job *j, int code, const char *text)
{
	struct dm_msg_error e = {.code = (uint32_t)-code,
				 .text = (char *)text};

	(void)dm_io_send(j->fd, DM_MSG_ERROR, &e);
}

/* Where the compiler's output goes: an unnamed file in the cache dir,
 * gone by itself when closed. */
static int
output_file(struct node *n)
{
	char path[PATH_MAX + 16];
	int fd;

	fd = open(n->cache_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd >= 0 ? fd : -errno;
	snprintf(path, sizeof(path), "%s/out-XXXXXX", n->jobs_dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) < 0)
		return -errno;
	unlink(path);
	return fd;
}

/* 1 when the output in fd before `end` reports an error in the code.
 * A compile can report an error and then thousands of warnings (gcc
 * goes on after an error): the tail alone would make a real error look
 * like the node's failure, and the job would be compiled again.  Read in
 * pieces of HINT_TAIL bytes (buf), cut at the last newline. */
static int
diagnosed_before(int fd, off_t end, char *buf)
{
	off_t at = 0;

	while (at < end) {
		size_t want = end - at > HINT_TAIL ? HINT_TAIL
						   : (size_t)(end - at);
		ssize_t got = pread(fd, buf, want, at);
		size_t n;
		char *nl;

		if (got <= 0)
			return 0;
		n = (size_t)got;
		nl = at + got < end ? memrchr(buf, '\n', n) : NULL;
		if (nl != NULL)
			n = (size_t)(nl - buf) + 1;
		if (node_job_hints(buf, n) & NODE_HINT_DIAGNOSED)
			return 1;
		at += (off_t)n;
	}
	return 0;
}

/* The hints and the last line of the compiler's output in fd. */
static int
hints_of(int fd, char *tail, size_t tail_len)
{
	char *buf;
	off_t size = lseek(fd, 0, SEEK_END), from;
	ssize_t got;
	int h = 0;

	tail[0] = '\0';
	if (size <= 0 || (buf = malloc(HINT_TAIL)) == NULL)
		return 0;
	from = size > HINT_TAIL ? size - HINT_TAIL : 0;
	got = pread(fd, buf, (size_t)(size - from), from);
	if (got > 0) {
		h = node_job_hints(buf, (size_t)got);
		node_job_last_line(buf, (size_t)got, tail, tail_len);
	}
	if (!(h & NODE_HINT_DIAGNOSED) && from > 0 &&
	    diagnosed_before(fd, from, buf))
		h |= NODE_HINT_DIAGNOSED;
	free(buf);
	return h;
}

static void
limits_of(const struct node *n, struct node_job_limits *lim)
{
	lim->timeout_s = n->job_timeout_s;
	lim->cpu_s = n->opts.job_cpu_s;
	lim->mem = n->opts.job_mem;
	lim->fsize = n->opts.job_fsize;
	lim->procs = n->opts.job_procs;
}

/* dm_spawn_run with the client's environment and terminal (extras.h). */
static int
run_with_extras(const struct node_extras *x, struct dm_spawn_opts *o,
		int outfd, uint64_t limit, struct dm_spawn_result *r,
		char *why, size_t why_len)
{
	struct node_tty *tty = NULL;
	char **env = NULL;
	int rc;

	if (x->have_env) {
		if ((env = node_extras_env(x, o->envp)) == NULL)
			return -ENOMEM;
		o->envp = env;
	}
	if ((rc = node_extras_tty_begin(x, outfd, limit, &tty, &o->stdin_fd,
					&o->stderr_fd)) != 0)
		snprintf(why, why_len, "cannot make a terminal for the job: %s",
			 dm_strerror(rc));
	else
		rc = dm_spawn_run(o, r);
	node_extras_tty_end(tty);
	free(env);
	return rc;
}

/* Runs argv in jd, in the sandbox when box is set, with its output to
 * outfd.  Returns dm_spawn_run's result; a failure to build the sandbox
 * is explained in why (else why is left alone). */
static int
run_compiler(struct node *n, const struct node_compiler *cc,
	     struct dm_jobdir *jd, char **argv, int outfd, int box,
	     struct dm_spawn_result *r, char *why, size_t why_len,
	     const struct node_extras *x)
{
	/* A compiler from a toolchain archive has a sandbox of its own. */
	struct node_sandbox_job sj = {
		.sb = cc->box != NULL ? cc->box : n->sandbox,
		.jobdir = jd->root};
	struct dm_spawn_opts o = {0};
	char step[256];
	int rc;

	o.argv = (const char *const *)argv;
	o.cwd = jd->cwd;
	o.envp = box ? (cc->env != NULL ? cc->env : n->box_env) : n->env;
	o.stdin_fd = -1;
	o.stdout_fd = outfd;
	o.stderr_fd = outfd;
	o.timeout_ms = n->job_timeout_s * 1000u;
	o.limit_as = n->opts.job_mem;
	o.limit_fsize = n->opts.job_fsize;
	o.limit_cpu = n->opts.job_cpu_s;
	if (box) {
		if ((rc = node_sandbox_give(n->sandbox, jd->root)) != 0) {
			snprintf(why, why_len,
				 "the sandbox failed: cannot give the job "
				 "directory to user %s: %s",
				 n->job_user, dm_strerror(rc));
			return rc;
		}
		/* Counted per job only in a user namespace of its own. */
		o.limit_nproc = n->opts.job_procs;
		node_sandbox_apply(&sj, &o);
	}
	memset(r, 0, sizeof(*r));
	if (x != NULL)
		rc = run_with_extras(x, &o, outfd, n->opts.job_fsize, r, why,
				     why_len);
	else
		rc = dm_spawn_run(&o, r);
	if (rc != 0 && box && r->setup_step == DM_SPAWN_STEP_CLONE)
		snprintf(why, why_len,
			 "the sandbox failed: the kernel refused the job's "
			 "namespaces: %s",
			 dm_strerror(rc));
	else if (rc != 0 && box && r->setup_step != 0) {
		node_sandbox_step_text(sj.sb, r->setup_step, step,
				       sizeof(step));
		snprintf(why, why_len, "the sandbox failed: cannot %s: %s",
			 step, dm_strerror(rc));
	}
	return rc;
}

static void
compile(struct job *j, const struct dm_msg_job *m,
	const struct node_compiler *cc, struct dm_jobdir *jd)
{
	struct node *n = j->n;
	struct dm_spawn_result r = {0};
	struct node_job_limits lim;
	struct stat st;
	char **argv, tail[300], box_why[sizeof(j->why)], dwo[PATH_MAX];
	int rc, exists, hints = 0;

	if ((rc = dm_jobdir_argv(jd, cc->path, (const char *const *)m->args,
				 m->args_n, &argv)) != 0) {
		infra(j, "cannot build the command line: %s", dm_strerror(rc));
		return;
	}
	if ((j->outfd = output_file(n)) < 0) {
		infra(j, "cannot create a file in %s: %s", n->cache_dir,
		      dm_strerror(j->outfd));
		goto out;
	}
	atomic_fetch_add(&n->running, 1);
	box_why[0] = '\0';
	if (n->opts.standin != NULL) /* a test node: see standin.h */
		rc = node_standin_run(n->opts.standin, cc->path, n->cache_dir,
				      n->name, m->cwd, m->source, jd->object,
				      &r);
	else
		rc = run_compiler(n, cc, jd, argv, j->outfd,
				  n->sandbox_state == NODE_SANDBOX_ON, &r,
				  box_why, sizeof(box_why), &j->extras);
	atomic_fetch_sub(&n->running, 1);
	if (rc != 0 && box_why[0] != '\0') {
		infra(j, "%s", box_why);
		goto out;
	}
	exists = stat(jd->object, &st) == 0 && S_ISREG(st.st_mode);
	tail[0] = '\0';
	if (rc == 0 && r.signal == 0 && r.exit_code != 0)
		hints = hints_of(j->outfd, tail, sizeof(tail));
	limits_of(n, &lim);
	node_job_verdict(cc->path, rc, &r, exists, hints, tail, &lim,
			 &j->status, &j->flags, j->why, sizeof(j->why));
	j->cpu_ms = r.cpu_ms;
	j->wall_ms = r.wall_ms;
	/* Opened now, so that an object that cannot be read turns into an
	 * INFRA result rather than a promise the node cannot keep. */
	if ((j->flags & DM_JOB_RESULT_OBJECT) && !(m->want & 1)) {
		j->flags &= ~DM_JOB_RESULT_OBJECT;
	} else if (j->flags & DM_JOB_RESULT_OBJECT) {
		j->objfd = open(jd->object, O_RDONLY | O_CLOEXEC);
		if (j->objfd < 0)
			infra(j, "cannot read the object %s: %s", jd->object,
			      strerror(errno));
	}
	/* -gsplit-dwarf: the .dwo, where the compiler wrote it, when it
	 * wrote one (without -g it writes none, here as on the client). */
	if ((j->flags & DM_JOB_RESULT_OBJECT) && (m->want & DM_JOB_WANT_DWO) &&
	    dm_jobdir_dwo_name(jd->object, dwo, sizeof(dwo)) == 0 &&
	    (j->dwofd = open(dwo, O_RDONLY | O_CLOEXEC)) >= 0)
		j->flags |= DM_JOB_RESULT_DWO;
out:
	dm_jobdir_argv_free(argv);
}

/* The whole content of a small file, or NULL. */
static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && st.st_size < (64 << 20) &&
	    (buf = malloc((size_t)st.st_size + 1)) != NULL) {
		if (pread(fd, buf, (size_t)st.st_size, 0) == st.st_size) {
			*len = (size_t)st.st_size;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	close(fd);
	return buf;
}

int
node_job_probe(struct node *n, const struct node_compiler *cc, char *why,
	       size_t why_len)
{
	static const char unit[] =
		"static const char probe_text[] = \"dmake\";\n"
		"int dmake_probe(int x) { return probe_text[x & 3] * 3; }\n";
	static const char *const flags[] = {"-O2", "-g"};
	struct dm_spawn_result r;
	struct dm_jobdir jd;
	char ref[PATH_MAX + 8], tail[300], **argv = NULL, *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	int fd, rc, out = NODE_PROBE_COMPILER;

	why[0] = '\0';
	if ((rc = dm_jobdir_create(n->jobs_dir, "/dmake-probe", "probe.c",
				   &jd)) != 0) {
		snprintf(why, why_len, "cannot lay out a job in %s: %s",
			 n->jobs_dir, dm_strerror(rc));
		return NODE_PROBE_SANDBOX;
	}
	fd = open(jd.unit, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 ||
	    write(fd, unit, sizeof(unit) - 1) != (ssize_t)sizeof(unit) - 1) {
		snprintf(why, why_len, "cannot write %s: %s", jd.unit,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		out = NODE_PROBE_SANDBOX;
		goto err_after_jobdir;
	}
	close(fd);
	if ((rc = dm_jobdir_argv(&jd, cc->path, flags, 2, &argv)) != 0) {
		snprintf(why, why_len, "%s", dm_strerror(rc));
		goto err_after_jobdir;
	}
	snprintf(ref, sizeof(ref), "%s/ref.o", jd.root);
	for (int box = 0; box <= 1; box++) {
		if ((fd = output_file(n)) < 0) {
			snprintf(why, why_len, "cannot create a file in %s",
				 n->cache_dir);
			goto err_after_argv;
		}
		rc = run_compiler(n, cc, &jd, argv, fd, box, &r, why, why_len,
				  NULL);
		tail[0] = '\0';
		if (rc == 0 && (r.exit_code != 0 || r.signal != 0))
			hints_of(fd, tail, sizeof(tail));
		close(fd);
		if (rc != 0 && why[0] != '\0') {
			out = NODE_PROBE_SANDBOX;
			goto err_after_argv;
		}
		if (rc != 0 || r.exit_code != 0 || r.signal != 0 ||
		    r.timed_out) {
			snprintf(why, why_len,
				 "%s compiling a test unit%s: %s%s%s",
				 rc != 0    ? "cannot run it"
				 : r.signal ? "killed"
					    : "failed",
				 box ? " in the sandbox" : "",
				 rc != 0    ? dm_strerror(rc)
				 : r.signal ? strsignal(r.signal)
					    : "exit status not 0",
				 tail[0] ? "; " : "", tail);
			goto err_after_argv;
		}
		if (box == 0 && rename(jd.object, ref) != 0) {
			snprintf(why, why_len, "cannot rename %s: %s",
				 jd.object, strerror(errno));
			goto err_after_argv;
		}
	}
	a = slurp(ref, &alen);
	b = slurp(jd.object, &blen);
	if (a == NULL || b == NULL || alen != blen ||
	    memcmp(a, b, alen) != 0) {
		snprintf(why, why_len,
			 "it writes another object in the sandbox than "
			 "outside it (%zu and %zu bytes)",
			 blen, alen);
		goto err_after_argv;
	}
	out = 0;

err_after_argv:
	free(a);
	free(b);
	dm_jobdir_argv_free(argv);
err_after_jobdir:
	dm_jobdir_remove(&jd);
	return out;
}

/* The compiler of a toolchain the node has none of, from its cache of
 * toolchain archives (tccache.h), which may ask the client for the
 * archive first.  Returns 0 with *cc, 0 with an INFRA result and *cc
 * NULL, or nonzero when the connection can carry no answer. */
static int
cached_compiler(struct job *j, const struct dm_msg_job *m,
		struct node_tc_use **use, const struct node_compiler **cc)
{
	char why[sizeof(j->why)];
	int lost = 0, rc;

	*cc = NULL;
	rc = node_tccache_get(j->n->tcc, m->toolchain,
			      (m->want & DM_JOB_WANT_TOOLCHAIN) != 0, j->fd,
			      &j->frame, j->peer, use, &lost, why,
			      sizeof(why));
	if (rc != 0 && lost) {
		dm_warn("%s: toolchain %.16s: %s; closing", j->peer,
			m->toolchain, why[0] ? why : dm_strerror(rc));
		return rc;
	}
	if (rc != 0) {
		infra(j, "%s", why[0] ? why : dm_strerror(rc));
		return 0;
	}
	*cc = node_tc_use_compiler(*use);
	if (m->role[0] != '\0' && strcmp(m->role, (*cc)->role) != 0) {
		infra(j, "toolchain %.16s is %s here, not %s", m->toolchain,
		      (*cc)->role, m->role);
		*cc = NULL;
	}
	return 0;
}

/* The JOB and its unit, up to the compile's verdict.  Returns nonzero
 * when the connection cannot carry an answer any more. */
static int
run(struct job *j, const struct dm_msg_job *m)
{
	const struct node_compiler *cc;
	struct node_tc_use *use = NULL;
	struct dm_jobdir jd;
	uint64_t size = 0;
	int rc, ufd;

	/* No compiler of its own: one from an archive, cached or sent. */
	cc = node_compiler_by_id(j->n, m->toolchain);
	if (cc == NULL &&
	    !node_tccache_may_serve(j->n->tcc, m->toolchain,
				    (m->want & DM_JOB_WANT_TOOLCHAIN) != 0)) {
		infra(j, "node %s has no compiler with toolchain %.16s (%s)",
		      j->n->name, m->toolchain, m->role);
		return drain(j);
	}
	if (cc != NULL && m->role[0] != '\0' && strcmp(m->role, cc->role) != 0) {
		infra(j, "toolchain %.16s is %s here, not %s", m->toolchain,
		      cc->role, m->role);
		return drain(j);
	}
	/* Never unsandboxed in place of a sandbox that does not work. */
	if (j->n->sandbox_state == NODE_SANDBOX_BROKEN) {
		infra(j, "this node refuses jobs: %s", j->n->sandbox_why);
		return drain(j);
	}
	if (cc != NULL && !cc->offered) {
		infra(j, "%s failed this node's start-up check", cc->path);
		return drain(j);
	}
	if ((rc = dm_jobdir_create(j->n->jobs_dir, m->cwd, m->source, &jd)) !=
	    0) {
		infra(j, "cannot lay out a job for source '%s' in '%s': %s",
		      m->source, m->cwd, dm_strerror(rc));
		return drain(j);
	}
	/* -gsplit-dwarf: the object under the client's name, which the
	 * skeleton names its .dwo after. */
	if (m->object != NULL && m->object[0] != '\0' &&
	    (rc = dm_jobdir_name_object(&jd, m->object)) != 0) {
		infra(j, "cannot lay out the object '%s': %s", m->object,
		      dm_strerror(rc));
		rc = drain(j);
		goto out;
	}
	ufd = open(jd.unit, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (ufd < 0) {
		infra(j, "cannot create %s: %s", jd.unit, strerror(errno));
		rc = drain(j);
		goto out;
	}
	rc = dm_stream_recv_fd(j->fd, ufd, NODE_UNIT_LIMIT, &j->frame, &size);
	if (close(ufd) != 0 && rc == 0)
		rc = -errno;
	if (rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG || rc == -EIO) {
		/* Only the file gives these: the stream is intact. */
		infra(j,
		      "cannot store the unit (%" PRIu64 " bytes so far): %s",
		      size, dm_strerror(rc));
		rc = drain(j);
		goto out;
	}
	if (rc != 0) {
		log_peer_failure(j, "unit", rc);
		if (rc == DM_ETOOBIG)
			send_error(j, rc,
				   "unit larger than the node's limit "
				   "of 1 GiB");
		goto out;
	}
	/* The extras follow the unit: read before anything is asked. */
	if ((m->want & DM_JOB_WANT_EXTRAS) &&
	    (rc = node_extras_recv(&j->extras, j->fd, &j->frame, &jd,
				   j->n->files, NODE_UNIT_LIMIT, j->peer)) != 0) {
		if (rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG ||
		    rc == -EIO) {
			infra(j, "cannot store the job's files: %s",
			      dm_strerror(rc));
			rc = drain(j);
		}
		goto out;
	}
	if (cc == NULL && ((rc = cached_compiler(j, m, &use, &cc)) != 0 ||
			   cc == NULL))
		goto out;
	dm_debug("%s: job %" PRIu64 ": %s %s (%" PRIu64 " bytes)", j->peer,
		 m->ticket, cc->role, m->source, size);
	compile(j, m, cc, &jd);
out:
	node_tccache_put(j->n->tcc, use);
	dm_jobdir_remove(&jd);
	return rc;
}

static int
reply(struct job *j)
{
	struct dm_msg_job_result res = {
		.status = j->status,
		.flags = j->flags,
		.cpu_ms = j->cpu_ms,
		.wall_ms = j->wall_ms,
	};
	char line[1100];
	int rc;

	if ((rc = dm_io_send(j->fd, DM_MSG_JOB_RESULT, &res)) != 0)
		return rc;
	if (j->flags & DM_JOB_RESULT_INFRA) {
		int n = snprintf(line, sizeof(line), "dmaked %s: %s\n",
				 j->n->name, j->why);

		rc = dm_stream_send_mem(j->fd, line,
					n < (int)sizeof(line) ? (size_t)n
							      : strlen(line));
	} else if (j->outfd >= 0) {
		lseek(j->outfd, 0, SEEK_SET);
		rc = dm_stream_send_fd(j->fd, j->outfd);
	} else {
		rc = dm_stream_send_mem(j->fd, NULL, 0);
	}
	if (rc != 0)
		return rc;
	rc = j->objfd >= 0 ? dm_stream_send_fd(j->fd, j->objfd)
			   : dm_stream_send_mem(j->fd, NULL, 0);
	if (rc == 0 && (j->flags & DM_JOB_RESULT_DWO))
		rc = dm_stream_send_fd(j->fd, j->dwofd);
	return rc;
}

static void
serve_job(struct job *j)
{
	union dm_msg m;
	uint16_t type;
	int rc;

	if ((rc = dm_io_recv(j->fd, &j->frame, &type, &m)) != 0) {
		log_peer_failure(j, "frame", rc);
		return;
	}
	if (type != DM_MSG_JOB) {
		dm_warn("%s: expected JOB, got %s; closing", j->peer,
			dm_msg_name(type));
		dm_msg_free(type, &m);
		send_error(j, DM_EUNEXPECTED, "expected JOB");
		return;
	}
	j->want = m.job.want;
	if (run(j, &m.job) == 0) {
		if (j->flags & DM_JOB_RESULT_INFRA)
			dm_warn("%s: job %" PRIu64 " (%s): %s", j->peer,
				m.job.ticket, m.job.source, j->why);
		else
			dm_debug("%s: job %" PRIu64 ": status %" PRIu32
				 ", %" PRIu32 " ms",
				 j->peer, m.job.ticket, j->status, j->wall_ms);
		if ((rc = reply(j)) != 0)
			dm_info("%s: job %" PRIu64 ": cannot send the result: "
				"%s",
				j->peer, m.job.ticket, dm_strerror(rc));
	}
	dm_msg_free(type, &m);
}

void
node_job_serve(struct node *n, int fd, const char *peer)
{
	struct job j = {
		.n = n, .fd = fd, .peer = peer, .outfd = -1, .objfd = -1,
		.dwofd = -1};
	int cap = n->slots * 4 + 8;
	uint16_t role;
	int rc;

	dm_buf_init(&j.frame);
	node_extras_init(&j.extras);
	dm_io_set_timeout(fd, AUTH_MS);
	if ((rc = dm_auth_server(fd, &n->key, &role)) != 0) {
		/* A port scanner or a client of another cluster: one line. */
		dm_warn("%s: refused: %s", peer, dm_strerror(rc));
		goto out;
	}
	if (role != DM_ROLE_SHIM) {
		dm_warn("%s: refused: role %u; this node serves only dmake-cc",
			peer, role);
		send_error(&j, DM_EUNEXPECTED,
			   "this is a node; only dmake-cc sends it jobs");
		goto out;
	}
	if (atomic_load(&n->conns) > cap) {
		char text[96];

		snprintf(text, sizeof(text),
			 "busy: %d connections open, limit %d",
			 atomic_load(&n->conns) - 1, cap);
		dm_warn("%s: refused: %s", peer, text);
		send_error(&j, DM_ENOSLOT, text);
		goto out;
	}
	dm_io_set_timeout(fd, IO_MS);
	serve_job(&j);
out:
	if (j.outfd >= 0)
		close(j.outfd);
	if (j.objfd >= 0)
		close(j.objfd);
	if (j.dwofd >= 0)
		close(j.dwofd);
	node_extras_free(&j.extras);
	dm_buf_free(&j.frame);
	close(fd);
}
