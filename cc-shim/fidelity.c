/*
 * fidelity.c: see fidelity.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/err.h"
#include "../lib/io.h"
#include "../lib/stream.h"
#include "fidelity.h"

extern char **environ;

void
fid_init(struct fid *f)
{
	memset(f, 0, sizeof(*f));
}

void
fid_free(struct fid *f)
{
	unit_files_free(&f->files);
	free(f->node_source);
	args_argv_free(f->node_flags);
	free(f->env);
	memset(f, 0, sizeof(*f));
}

int
fid_env_name(const char *entry)
{
	static const char *const names[] = {
		"LANG=",
		"LANGUAGE=",
		"TERM=",
		"COLORTERM=",
		"COLUMNS=",
		"GCC_COLORS=",
		"GCC_URLS=",
		"TERM_URLS=",
		"GCC_EXTRA_DIAGNOSTIC_OUTPUT=",
		"SOURCE_DATE_EPOCH=",
	};
	const char *eq;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(entry, names[i], strlen(names[i])) == 0)
			return 1;
	if (strncmp(entry, "LC_", 3) != 0 ||
	    (eq = strchr(entry, '=')) == NULL || eq == entry + 3)
		return 0;
	for (const char *s = entry + 3; s < eq; s++)
		if (!((*s >= 'A' && *s <= 'Z') || *s == '_'))
			return 0;
	return 1;
}

/* SOURCE_DATE_EPOCH holds a number gcc accepts. */
static int
epoch_set(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");

	if (e == NULL || *e == '\0' || strlen(e) > 12)
		return 0;
	for (; *e; e++)
		if (*e < '0' || *e > '9')
			return 0;
	return 1;
}

void
fid_filter(struct fid *f, struct unit_filter *uf)
{
	unit_filter_relocate(uf, &f->files);
}

/* The first file the local compile would take a precompiled header
 * for: gcc uses NAME.gch (a file, or a directory of them) for a header
 * included from the main file or the command line, when it exists. */
static const char *
pch_beside(const struct fid *f)
{
	char path[PATH_MAX + 8];
	struct stat st;

	for (size_t i = 0; i < f->files.n; i++) {
		if (!f->files.v[i].included)
			continue;
		snprintf(path, sizeof(path), "%s.gch", f->files.v[i].name);
		if (stat(path, &st) == 0)
			return f->files.v[i].name;
	}
	return NULL;
}

static void
terminal(struct fid *f)
{
	struct winsize ws;

	f->tty = 0;
	if (isatty(0))
		f->tty |= DM_JOB_TTY_STDIN;
	if (isatty(2))
		f->tty |= DM_JOB_TTY_STDERR;
	/* gcc sizes its excerpts from stdin's terminal (COLUMNS first) */
	if (((f->tty & DM_JOB_TTY_STDIN) && ioctl(0, TIOCGWINSZ, &ws) == 0) ||
	    ((f->tty & DM_JOB_TTY_STDERR) && ioctl(2, TIOCGWINSZ, &ws) == 0)) {
		f->cols = ws.ws_col;
		f->rows = ws.ws_row;
	}
}

int
fid_prepare(struct fid *f, const struct args *a, const struct unit_filter *uf,
	    char *why, size_t why_len)
{
	const char *pch;
	size_t n = 0;
	int rc;

	f->a = a;
	snprintf(f->time_macro, sizeof(f->time_macro), "%s", uf->time_macro);
	/* gcc takes __DATE__ and __TIME__ from SOURCE_DATE_EPOCH when it
	 * is set (the node gets it in JOB_ENV); clang 14 does not, and
	 * __TIMESTAMP__ is always the file's time (measured). */
	if (f->time_macro[0] != '\0' &&
	    !(a->family == ARGS_GCC &&
	      !(uf->time_uses & UNIT_USES_TIMESTAMP) && epoch_set())) {
		snprintf(why, why_len,
			 "the unit uses %s: a node compiles at another time",
			 f->time_macro);
		return 1;
	}
	/* Measured, clang 14: `#if __COUNTER__` is evaluated by the
	 * -frewrite-includes run and kept disabled in the unit, so the
	 * node's counter starts one lower.  gcc refuses a __COUNTER__ in a
	 * directive under -fdirectives-only, and the compile is local. */
	if (uf->counter && a->family == ARGS_CLANG) {
		snprintf(why, why_len,
			 "the unit uses __COUNTER__, which clang's "
			 "-frewrite-includes may have counted already");
		return 1;
	}
	if (uf->files != NULL) {
		if ((pch = pch_beside(f)) != NULL) {
			snprintf(why, why_len,
				 "%s.gch: the local compile uses the "
				 "precompiled header",
				 pch);
			return 1;
		}
		if ((rc = unit_node_job(a, &f->files, &f->node_source,
					&f->node_flags, &f->n_node_flags)) !=
		    0)
			return rc;
	}
	for (char **e = environ; e != NULL && *e != NULL; e++)
		n += fid_env_name(*e);
	if ((f->env = calloc(n + 1, sizeof(*f->env))) == NULL)
		return -ENOMEM;
	for (char **e = environ; e != NULL && *e != NULL; e++)
		if (fid_env_name(*e))
			f->env[f->n_env++] = *e;
	terminal(f);
	return 0;
}

void
fid_job(const struct fid *f, struct dm_msg_job *j)
{
	if (f->node_source != NULL) {
		j->source = f->node_source;
		j->args = f->node_flags;
		j->args_n = (uint32_t)f->n_node_flags;
	}
	j->want |= DM_JOB_WANT_EXTRAS;
}

/* One original file; one that cannot be read here is left out (gcc then
 * prints no excerpt for it, as it would here). */
static int
send_file(int sock, const struct unit_file *u)
{
	struct dm_msg_job_file m = {0};
	struct stat st;
	int fd = open(u->name, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	m.path = u->node;
	m.size = (uint64_t)st.st_size;
	if ((rc = dm_io_send(sock, DM_MSG_JOB_FILE, &m)) == 0)
		rc = dm_stream_send_fd(sock, fd);
	close(fd);
	return rc;
}

int
fid_send_extras(const struct fid *f, int fd)
{
	struct dm_msg_job_env e = {0};
	int rc;

	e.env = f->env;
	e.env_n = (uint32_t)f->n_env;
	e.tty = f->tty;
	e.cols = f->cols;
	e.rows = f->rows;
	if ((rc = dm_io_send(fd, DM_MSG_JOB_ENV, &e)) != 0)
		return rc;
	for (size_t i = 0; f->node_source != NULL && i < f->files.n; i++)
		if ((rc = send_file(fd, &f->files.v[i])) != 0)
			return rc;
	return dm_io_send(fd, DM_MSG_JOB_START, &(struct dm_msg_job_start){0});
}

int
fid_spool_open(const char *object)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 32];
	const char *slash = strrchr(object, '/');
	int fd;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == object)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - object),
			 object);
	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
		return fd;
	snprintf(tmp, sizeof(tmp), "%s/.dmake-err-XXXXXX", dir);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) >= 0) {
		unlink(tmp);
		return fd;
	}
	/* Nowhere on disk: memory, but never the shim's own. */
	if ((fd = memfd_create("dmake-stderr", MFD_CLOEXEC)) >= 0)
		return fd;
	return -errno;
}

static int
write_fd(void *arg, const void *p, size_t n)
{
	return n > 0 ? dm_io_write_all(*(int *)arg, p, n) : 0;
}

int
fid_spool_emit(const struct fid *f, int spool, int out)
{
	struct unit_unname un;
	char buf[65536];
	ssize_t n;
	int rc = 0;

	if (lseek(spool, 0, SEEK_SET) != 0)
		return -errno;
	if (f->node_source != NULL)
		unit_unname_init(&un, f->node_source, f->a->source, write_fd,
				 &out);
	while ((n = read(spool, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		rc = f->node_source != NULL
			     ? unit_unname_feed(&un, buf, (size_t)n)
			     : dm_io_write_all(out, buf, (size_t)n);
		if (rc != 0)
			return rc;
	}
	return f->node_source != NULL ? unit_unname_finish(&un) : 0;
}
