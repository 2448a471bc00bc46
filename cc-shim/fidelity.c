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
#include <time.h>
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

/* What stat() says of a regular file, as the coordinator keys its hash
 * memory (DM_HASH_KEY: device, inode, size, mtime, ctime).  *recent:
 * changed in the last 2 s, so a write within the same clock tick could
 * keep the key; such a hash is not handed to the coordinator. */
static int
file_key(const char *name, time_t now, uint8_t *key, int *recent)
{
	struct stat st;
	uint64_t v[5];

	if (stat(name, &st) != 0 || !S_ISREG(st.st_mode))
		return -1;
	v[0] = (uint64_t)st.st_dev;
	v[1] = (uint64_t)st.st_ino;
	v[2] = (uint64_t)st.st_size;
	v[3] = (uint64_t)st.st_mtim.tv_sec * 1000000000u +
	       (uint64_t)st.st_mtim.tv_nsec;
	v[4] = (uint64_t)st.st_ctim.tv_sec * 1000000000u +
	       (uint64_t)st.st_ctim.tv_nsec;
	for (int i = 0; i < 5; i++)
		for (int b = 0; b < 8; b++)
			key[i * 8 + b] = (uint8_t)(v[i] >> (56 - 8 * b));
	*recent = st.st_ctim.tv_sec + 2 >= now || st.st_mtim.tv_sec + 2 >= now;
	return 0;
}

/* The hashes of files v[0..n) into hashes: those the coordinator
 * remembers, the others computed here (and told to it).  Without a
 * coordinator, or when it does not answer, all computed here. */
static int
resolve_hashes(int coord, struct dm_buf *frame, struct unit_file *const *v,
	       uint32_t n, const uint8_t *keys, const uint8_t *recent,
	       uint8_t *hashes, struct fid_sent *sent)
{
	struct dm_msg_hash_req q = {.keys = keys, .keys_n = n * DM_HASH_KEY};
	uint8_t known[DM_JOB_FILES_MAX / 8] = {0};
	uint8_t fresh[DM_JOB_FILES_MAX / 8] = {0}; /* computed, to tell */
	union dm_msg r;
	char why[256];
	uint32_t put = 0;
	int asked = 0;

	if (coord >= 0 && dm_io_send(coord, DM_MSG_HASH_REQ, &q) == 0 &&
	    dm_io_expect(coord, frame, DM_MSG_HASH_ANS, &r, why,
			 sizeof(why)) == 0) {
		if (r.hash_ans.hashes_n == n * FID_HASH &&
		    r.hash_ans.known_n == (n + 7) / 8) {
			memcpy(hashes, r.hash_ans.hashes, (size_t)n * FID_HASH);
			memcpy(known, r.hash_ans.known, (n + 7) / 8);
			asked = 1;
		}
		dm_msg_free(DM_MSG_HASH_ANS, &r);
	}
	for (uint32_t i = 0; i < n; i++) {
		if (known[i / 8] & (1u << (i % 8))) {
			sent->remembered++;
			continue;
		}
		if (hash_file(v[i]->name, hashes + (size_t)i * FID_HASH) != 0) {
			memset(hashes + (size_t)i * FID_HASH, 0, FID_HASH);
		} else if (asked && !recent[i]) {
			fresh[i / 8] |= (uint8_t)(1u << (i % 8));
			put++;
		}
	}
	if (put > 0) {
		/* Pack the new ones to the front of scratch copies. */
		uint8_t *pk = malloc((size_t)put * DM_HASH_KEY);
		uint8_t *ph = malloc((size_t)put * FID_HASH);
		uint32_t k = 0;

		for (uint32_t i = 0; pk != NULL && ph != NULL && i < n; i++) {
			if (!(fresh[i / 8] & (1u << (i % 8))))
				continue;
			memcpy(pk + (size_t)k * DM_HASH_KEY,
			       keys + (size_t)i * DM_HASH_KEY, DM_HASH_KEY);
			memcpy(ph + (size_t)k * FID_HASH,
			       hashes + (size_t)i * FID_HASH, FID_HASH);
			k++;
		}
		if (pk != NULL && ph != NULL && k > 0)
			(void)dm_io_send(coord, DM_MSG_HASH_PUT,
					 &(struct dm_msg_hash_put){
						 .keys = pk,
						 .keys_n = k * DM_HASH_KEY,
						 .hashes = ph,
						 .hashes_n = k * FID_HASH});
		free(pk);
		free(ph);
	}
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
send_files(const struct fid *f, int sock, int coord, struct dm_buf *frame,
	   struct fid_sent *sent)
{
	struct unit_file **v = calloc(DM_JOB_FILES_MAX, sizeof(*v));
	char **paths = calloc(DM_JOB_FILES_MAX, sizeof(*paths));
	uint8_t *hashes = malloc((size_t)DM_JOB_FILES_MAX * FID_HASH);
	uint8_t *keys = malloc((size_t)DM_JOB_FILES_MAX * DM_HASH_KEY);
	uint8_t *recent = malloc(DM_JOB_FILES_MAX);
	uint32_t n = 0;
	size_t bytes = 0;
	time_t now = time(NULL); /* once: a unit names hundreds of files */
	int rc = 0, fresh;

	if (v == NULL || paths == NULL || hashes == NULL || keys == NULL ||
	    recent == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i <= f->files.n && rc == 0; i++) {
		struct unit_file *u = i < f->files.n ? &f->files.v[i] : NULL;
		size_t len = u != NULL ? strlen(u->node) : 0;

		if (n > 0 && (u == NULL || n == DM_JOB_FILES_MAX ||
			      bytes + len > 256 * 1024)) {
			if ((rc = resolve_hashes(coord, frame, v, n, keys,
						 recent, hashes, sent)) == 0)
				rc = send_batch(sock, frame, v, n, paths,
						hashes, sent);
			n = 0;
			bytes = 0;
		}
		if (u == NULL || rc != 0 ||
		    file_key(u->name, now, keys + (size_t)n * DM_HASH_KEY,
			     &fresh))
			continue;
		recent[n] = (uint8_t)fresh;
		v[n++] = u;
		bytes += len;
	}
out:
	free(v);
	free(paths);
	free(hashes);
	free(keys);
	free(recent);
	return rc;
}

int
fid_send_extras(const struct fid *f, int fd, int coord, struct dm_buf *frame,
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
	    (rc = send_files(f, fd, coord, frame, sent)) != 0)
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
