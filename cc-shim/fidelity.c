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
#include <sodium.h>
#include <unistd.h>

#include "../lib/err.h"
#include "../lib/io.h"
#include "../lib/log.h"
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

/* BLAKE2b-256 of a regular file's content; nonzero when it cannot be
 * read (it is not sent then). */
static int
hash_file(const char *name, uint8_t *out)
{
	crypto_generichash_state st;
	uint8_t buf[65536];
	struct stat sb;
	ssize_t n;
	int fd = open(name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -1;
	}
	crypto_generichash_init(&st, NULL, 0, FID_HASH);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		crypto_generichash_update(&st, buf, (size_t)n);
	}
	close(fd);
	crypto_generichash_final(&st, out, FID_HASH);
	return 0;
}

/* One JOB_FILES of files v[0..n), then those the node asks for. */
static int
send_batch(int sock, struct dm_buf *frame, struct unit_file *const *v,
	   uint32_t n, char **paths, uint8_t *hashes, struct fid_sent *sent)
{
	struct dm_msg_job_files m = {.paths = paths, .hashes = hashes};
	union dm_msg r;
	char why[256];
	int rc;

	for (uint32_t i = 0; i < n; i++)
		paths[i] = v[i]->node;
	m.paths_n = n;
	m.hashes_n = n * FID_HASH;
	if ((rc = dm_io_send(sock, DM_MSG_JOB_FILES, &m)) != 0)
		return rc;
	if ((rc = dm_io_expect(sock, frame, DM_MSG_JOB_FILES_NEED, &r, why,
			       sizeof(why))) != 0) {
		dm_debug("JOB_FILES: %s", why);
		return rc;
	}
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		if (i / 8 >= r.job_files_need.need_n ||
		    !(r.job_files_need.need[i / 8] & (1u << (i % 8)))) {
			sent->cached++;
			continue;
		}
		sent->sent++;
		rc = send_file(sock, v[i]);
	}
	dm_msg_free(DM_MSG_JOB_FILES_NEED, &r);
	return rc;
}

/* The files the unit names: their hashes first, in batches that fit a
 * JOB_FILES, and the content of those the node's cache lacks. */
static int
send_files(const struct fid *f, int sock, struct dm_buf *frame,
	   struct fid_sent *sent)
{
	struct unit_file **v = calloc(DM_JOB_FILES_MAX, sizeof(*v));
	char **paths = calloc(DM_JOB_FILES_MAX, sizeof(*paths));
	uint8_t *hashes = malloc((size_t)DM_JOB_FILES_MAX * FID_HASH);
	uint32_t n = 0;
	size_t bytes = 0;
	int rc = 0;

	if (v == NULL || paths == NULL || hashes == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < f->files.n && rc == 0; i++) {
		struct unit_file *u = &f->files.v[i];
		size_t len = strlen(u->node);

		if (n == DM_JOB_FILES_MAX || bytes + len > 256 * 1024) {
			rc = send_batch(sock, frame, v, n, paths, hashes, sent);
			n = 0;
			bytes = 0;
		}
		if (rc != 0 || hash_file(u->name, hashes + (size_t)n * FID_HASH))
			continue;
		v[n++] = u;
		bytes += len;
	}
	if (rc == 0 && n > 0)
		rc = send_batch(sock, frame, v, n, paths, hashes, sent);
out:
	free(v);
	free(paths);
	free(hashes);
	return rc;
}

int
fid_send_extras(const struct fid *f, int fd, struct dm_buf *frame,
		struct fid_sent *sent)
{
	struct dm_msg_job_env e = {0};
	int rc;

	memset(sent, 0, sizeof(*sent));
	e.env = f->env;
	e.env_n = (uint32_t)f->n_env;
	e.tty = f->tty;
	e.cols = f->cols;
	e.rows = f->rows;
	if ((rc = dm_io_send(fd, DM_MSG_JOB_ENV, &e)) != 0)
		return rc;
	if (f->node_source != NULL &&
	    (rc = send_files(f, fd, frame, sent)) != 0)
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

int
fid_spool_emit(const struct fid *f, int spool, int out)
{
	struct dm_io_bufw w = {.fd = out};
	struct unit_unname un;
	char buf[65536];
	ssize_t n;
	int rc = 0;

	if (lseek(spool, 0, SEEK_SET) != 0)
		return -errno;
	if (f->node_source != NULL)
		unit_unname_init(&un, f->node_source, f->a->source,
				 dm_io_bufw_write, &w);
	while ((n = read(spool, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		rc = f->node_source != NULL
			     ? unit_unname_feed(&un, buf, (size_t)n)
			     : dm_io_write_all(out, buf, (size_t)n);
		if (rc != 0)
			break;
	}
	if (rc == 0 && f->node_source != NULL &&
	    (rc = unit_unname_finish(&un)) == 0)
		rc = dm_io_bufw_flush(&w);
	dm_buf_free(&w.b);
	return rc;
}
