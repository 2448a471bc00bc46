/*
 * extras.c: see extras.h.
 *
 * The environment is an allow-list: a client may set what shapes a
 * compiler's messages (locale, colours, URLs, terminal width) and
 * nothing that changes what runs (PATH, LD_*, GCC_EXEC_PREFIX...).
 *
 * The terminal: gcc and clang decide colours and URLs ("auto", their
 * default), gcc the width of its source excerpts and clang the width of
 * its messages, from isatty() and the terminal's size.  Reproducing
 * those rules here would tie the node to one version of each compiler;
 * giving the compiler a terminal like the client's makes it decide as it
 * would have there.  The terminal is raw (no \n -> \r\n), so the bytes
 * are the compiler's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "../lib/err.h"
#include "../lib/io.h"
#include "../lib/log.h"
#include "../lib/stream.h"
#include "extras.h"
#include "filecache.h"

void
node_extras_init(struct node_extras *x)
{
	memset(x, 0, sizeof(*x));
}

void
node_extras_free(struct node_extras *x)
{
	for (size_t i = 0; i < x->n_env; i++)
		free(x->env[i]);
	free(x->env);
	memset(x, 0, sizeof(*x));
}

/* The length of NAME in NAME=VALUE, 0 when there is no '='. */
static size_t
name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq != NULL ? (size_t)(eq - entry) : 0;
}

static int
name_allowed(const char *name, size_t n)
{
	static const char *const names[] = {
		"LANG",
		"LANGUAGE",
		"TERM",
		"COLORTERM",
		"COLUMNS",
		"GCC_COLORS",
		"GCC_URLS",
		"TERM_URLS",
		"GCC_EXTRA_DIAGNOSTIC_OUTPUT",
		"SOURCE_DATE_EPOCH",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
			return 1;
	/* LC_ALL, LC_MESSAGES, LC_CTYPE...: capitals and '_' */
	if (n > 3 && memcmp(name, "LC_", 3) == 0) {
		for (size_t i = 3; i < n; i++)
			if (!((name[i] >= 'A' && name[i] <= 'Z') ||
			      name[i] == '_'))
				return 0;
		return 1;
	}
	return 0;
}

int
node_extras_env_allowed(const char *entry)
{
	size_t n = name_len(entry);

	return n > 0 && name_allowed(entry, n);
}

static int
take_env(struct node_extras *x, const struct dm_msg_job_env *m,
	 const char *peer)
{
	char **env = calloc((size_t)m->env_n + 1, sizeof(*env));
	size_t k = 0;

	if (env == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->env_n; i++) {
		if (!node_extras_env_allowed(m->env[i])) {
			dm_debug(
				"%s: JOB_ENV: %.*s is not a variable a client "
				"may set; ignored",
				peer, (int)name_len(m->env[i]), m->env[i]);
			continue;
		}
		if ((env[k] = strdup(m->env[i])) == NULL) {
			while (k > 0)
				free(env[--k]);
			free(env);
			return -ENOMEM;
		}
		k++;
	}
	for (size_t i = 0; i < x->n_env; i++)
		free(x->env[i]);
	free(x->env);
	x->env = env;
	x->n_env = k;
	x->have_env = 1;
	x->tty = m->tty & (DM_JOB_TTY_STDIN | DM_JOB_TTY_STDERR);
	x->cols = m->cols > 0xffff ? 0xffff : m->cols;
	x->rows = m->rows > 0xffff ? 0xffff : m->rows;
	return 0;
}

/* One JOB_FILE's stream, into the cache and the job directory or, when
 * its path is refused, the cache alone. */
static int
take_file(struct node_extras *x, int fd, struct dm_buf *frame,
	  const struct dm_jobdir *jd, struct node_files *fc,
	  const struct dm_msg_job_file *m, uint64_t limit, const char *peer)
{
	char path[PATH_MAX];
	uint64_t got = 0;
	int rc;

	if ((rc = dm_jobdir_place(jd, m->path, path, sizeof(path))) != 0)
		dm_info("%s: JOB_FILE %s does not fit in the job directory "
			"(%s); skipped",
			peer, m->path, dm_strerror(rc));
	rc = node_files_take(fc, fd, frame, limit - x->bytes,
			     rc == 0 ? path : NULL, &got);
	x->bytes += got;
	if (rc == 1)
		x->refused++;
	else if (rc == 0)
		x->files++;
	if (rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG || rc == -EIO) {
		/* The file's fault, not the stream's: the rest is unread. */
		dm_warn("%s: cannot store JOB_FILE %s: %s", peer, m->path,
			dm_strerror(rc));
		return rc;
	}
	return rc == 1 ? 0 : rc;
}

/* JOB_FILES: each file the cache holds is laid out now; the answer asks
 * for the others.  A path that does not fit, or that is taken, is
 * neither laid out nor asked for. */
static int
take_names(struct node_extras *x, int fd, const struct dm_jobdir *jd,
	   struct node_files *fc, const struct dm_msg_job_files *m,
	   const char *peer)
{
	uint8_t need[DM_JOB_FILES_MAX / 8] = {0};
	struct dm_msg_job_files_need r = {.need = need};
	char path[PATH_MAX];
	int rc;

	if (m->paths_n > DM_JOB_FILES_MAX ||
	    m->hashes_n != (uint64_t)m->paths_n * NODE_FILE_HASH) {
		dm_warn("%s: JOB_FILES with %u paths and %u bytes of hashes; "
			"closing",
			peer, m->paths_n, m->hashes_n);
		return DM_EPROTO;
	}
	for (uint32_t i = 0; i < m->paths_n; i++) {
		if (dm_jobdir_place(jd, m->paths[i], path, sizeof(path)) != 0) {
			dm_info("%s: JOB_FILES %s does not fit in the job "
				"directory; skipped",
				peer, m->paths[i]);
			x->refused++;
			continue;
		}
		rc = node_files_place(fc, m->hashes + (size_t)i * NODE_FILE_HASH,
				      path);
		if (rc == 0)
			x->cached++;
		else if (rc == -EEXIST)
			x->refused++; /* a second file at one path */
		else
			need[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	r.need_n = (m->paths_n + 7) / 8;
	return dm_io_send(fd, DM_MSG_JOB_FILES_NEED, &r);
}

int
node_extras_recv(struct node_extras *x, int fd, struct dm_buf *frame,
		 const struct dm_jobdir *jd, struct node_files *fc,
		 uint64_t limit, const char *peer)
{
	union dm_msg m;
	uint16_t type;
	int rc;

	for (;;) {
		if ((rc = dm_io_recv(fd, frame, &type, &m)) != 0) {
			dm_info("%s: connection lost during the job's extras: "
				"%s",
				peer, dm_strerror(rc));
			return rc;
		}
		switch (type) {
		case DM_MSG_JOB_START:
			rc = 1;
			break;
		case DM_MSG_JOB_ENV:
			rc = take_env(x, &m.job_env, peer);
			break;
		case DM_MSG_JOB_FILES:
			rc = take_names(x, fd, jd, fc, &m.job_files, peer);
			break;
		case DM_MSG_JOB_FILE:
			rc = take_file(x, fd, frame, jd, fc, &m.job_file,
				       limit, peer);
			break;
		default:
			dm_warn("%s: expected a job extra, got %s; closing",
				peer, dm_msg_name(type));
			rc = DM_EUNEXPECTED;
		}
		dm_msg_free(type, &m);
		if (rc == 1)
			break;
		if (rc != 0) {
			if (rc == DM_ETOOBIG)
				dm_warn("%s: job extras larger than %" PRIu64
					" bytes; closing",
					peer, limit);
			return rc;
		}
	}
	if (x->files > 0 || x->cached > 0 || x->refused > 0)
		dm_debug("%s: files laid out: %" PRIu64 " from the cache, "
			 "%" PRIu64 " received (%" PRIu64 " bytes); "
			 "%" PRIu64 " skipped",
			 peer, x->cached, x->files, x->bytes, x->refused);
	return 0;
}

char **
node_extras_env(const struct node_extras *x, char *const *base)
{
	size_t n = 0, k = 0;
	char **env;

	while (base != NULL && base[n] != NULL)
		n++;
	if ((env = calloc(n + x->n_env + 1, sizeof(*env))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!x->have_env || !node_extras_env_allowed(base[i]))
			env[k++] = base[i];
	for (size_t i = 0; i < x->n_env; i++)
		env[k++] = x->env[i];
	return env;
}

/* ---- the terminal ------------------------------------------------------- */

struct node_tty {
	int master, slave;
	int outfd;
	uint64_t limit, written;
	pthread_t thread;
};

static void *
copy_out(void *arg)
{
	struct node_tty *t = arg;
	char buf[65536];

	for (;;) {
		ssize_t r = read(t->master, buf, sizeof(buf));
		size_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* EIO: every copy of the slave is closed */
		n = (size_t)r;
		if (t->limit != 0 && t->written + n > t->limit)
			n = (size_t)(t->limit - t->written);
		if (n > 0 && dm_io_write_all(t->outfd, buf, n) == 0)
			t->written += n;
	}
	return NULL;
}

int
node_extras_tty_begin(const struct node_extras *x, int outfd, uint64_t limit,
		      struct node_tty **out, int *in_fd, int *err_fd)
{
	struct node_tty *t;
	struct termios tio;
	struct winsize ws = {0};
	char name[128];
	int rc;

	*out = NULL;
	if (x->tty == 0)
		return 0;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	t->slave = -1;
	t->outfd = outfd;
	t->limit = limit;
	t->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (t->master < 0 || grantpt(t->master) != 0 ||
	    unlockpt(t->master) != 0 ||
	    ptsname_r(t->master, name, sizeof(name)) != 0)
		goto err_errno;
	if ((t->slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		goto err_errno;
	if (tcgetattr(t->slave, &tio) != 0)
		goto err_errno;
	cfmakeraw(&tio);
	if (tcsetattr(t->slave, TCSANOW, &tio) != 0)
		goto err_errno;
	ws.ws_col = (unsigned short)x->cols;
	ws.ws_row = (unsigned short)x->rows;
	if ((ws.ws_col != 0 || ws.ws_row != 0) &&
	    ioctl(t->slave, TIOCSWINSZ, &ws) != 0)
		goto err_errno;
	if ((rc = pthread_create(&t->thread, NULL, copy_out, t)) != 0) {
		rc = -rc;
		goto err_after_open;
	}
	if (x->tty & DM_JOB_TTY_STDIN)
		*in_fd = t->slave;
	if (x->tty & DM_JOB_TTY_STDERR)
		*err_fd = t->slave;
	*out = t;
	return 0;

err_errno:
	rc = -errno;
err_after_open:
	if (t->slave >= 0)
		close(t->slave);
	if (t->master >= 0)
		close(t->master);
	free(t);
	return rc;
}

void
node_extras_tty_end(struct node_tty *t)
{
	if (t == NULL)
		return;
	/* The compiler is gone: with this last copy of the slave closed,
	 * the thread reads what is left, then EIO. */
	close(t->slave);
	pthread_join(t->thread, NULL);
	close(t->master);
	free(t);
}
