/*
 * jobserver.c: GNU make's jobserver (see jobserver.h): the pool the
 * coordinator owns, the MAKEFLAGS that point make at it, and a client
 * that takes and gives back tokens the way make does.
 *
 * The pool counts two numbers: the target (tokens that should be in
 * circulation, in the pool or held by clients) and the debt (tokens in
 * circulation beyond the target, read back as clients return them).  The
 * server never blocks: its descriptors are non-blocking and a token that
 * cannot be read back now is simply still owed.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "buf.h"
#include "err.h"
#include "jobserver.h"

extern char **environ;

#define TOKEN '+'

struct dm_pool {
	enum dm_pool_kind kind;
	unsigned target;
	unsigned debt;
	/* The server's ends: for a FIFO one O_RDWR descriptor in both. */
	int rfd, wfd;
	/* What the child inherits (pipe and dual): blocking, not
	 * close-on-exec, a different open file description from rfd/wfd. */
	int child_rfd, child_wfd;
	char *fifo_path;
};

/* ---- which make --------------------------------------------------------- */

int
dm_pool_parse_make_version(const char *text, int *major, int *minor)
{
	static const char tag[] = "GNU Make ";
	char *end;
	long ma, mi = 0;

	while (*text == ' ' || *text == '\t' || *text == '\n')
		text++;
	if (strncmp(text, tag, sizeof(tag) - 1) != 0)
		return DM_ECONFIG;
	text += sizeof(tag) - 1;
	if (!isdigit((unsigned char)*text))
		return DM_ECONFIG;
	ma = strtol(text, &end, 10);
	if (*end == '.') {
		if (!isdigit((unsigned char)end[1]))
			return DM_ECONFIG;
		mi = strtol(end + 1, &end, 10);
	}
	if (ma < 0 || ma > 1000 || mi < 0 || mi > 1000)
		return DM_ECONFIG;
	*major = (int)ma;
	*minor = (int)mi;
	return 0;
}

/* Runs `make --version` and returns what it printed on stdout (at most
 * cap - 1 bytes, the rest read and dropped).  posix_spawnp reports a
 * failed exec as its own error, so a missing make is -ENOENT, not a
 * status 127 to guess from. */
static int
run_version(const char *make, char *out, size_t cap)
{
	char *argv[] = {(char *)make, "--version", NULL};
	posix_spawn_file_actions_t fa;
	size_t len = 0;
	int fds[2], rc, status;
	pid_t pid;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -errno;
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		goto err_after_pipe;
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, make, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		goto err_after_pipe;
	close(fds[1]);
	for (;;) {
		char sink[512];

		if (len + 1 < cap)
			n = read(fds[0], out + len, cap - 1 - len);
		else
			n = read(fds[0], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len + 1 < cap)
			len += (size_t)n;
	}
	out[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	/* Where posix_spawnp cannot report a failed exec (valgrind, some
	 * libcs), the child exits 127 having printed nothing. */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && len == 0)
		return -ENOENT;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return DM_ECONFIG;
	return 0;

err_after_pipe:
	close(fds[0]);
	close(fds[1]);
	return -rc;
}

int
dm_pool_kind_for_make(const char *make, enum dm_pool_kind *kind, int *major,
		      int *minor)
{
	char text[1024];
	int rc, ma, mi;

	if ((rc = run_version(make, text, sizeof(text))) != 0)
		return rc;
	if ((rc = dm_pool_parse_make_version(text, &ma, &mi)) != 0)
		return rc;
	/* fifo: auth arrived in 4.4; 4.3 rejects it as a fatal error. */
	*kind = ma > 4 || (ma == 4 && mi >= 4) ? DM_POOL_FIFO : DM_POOL_PIPE;
	if (major != NULL)
		*major = ma;
	if (minor != NULL)
		*minor = mi;
	return 0;
}

/* ---- the pool ---------------------------------------------------------- */

/* Opens a pipe end again through /proc.  The new descriptor has its own
 * open file description, so O_NONBLOCK on it does not reach the child's
 * descriptor: make <= 4.2 reads the pipe blocking and treats EAGAIN as
 * fatal. */
static int
reopen(int fd, int flags)
{
	char path[64];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((nfd = open(path, flags | O_NONBLOCK | O_CLOEXEC)) < 0)
		return -errno;
	return nfd;
}

static int
create_pipe(struct dm_pool *p)
{
	int fds[2], rc;

	/* The child's ends first, so they get the lowest free numbers (the
	 * coordinator passes them at their own numbers). */
	if (pipe2(fds, 0) != 0)
		return -errno;
	if ((p->rfd = reopen(fds[0], O_RDONLY)) < 0) {
		rc = p->rfd;
		goto err_after_pipe;
	}
	if ((p->wfd = reopen(fds[1], O_WRONLY)) < 0) {
		rc = p->wfd;
		goto err_after_rfd;
	}
	p->child_rfd = fds[0];
	p->child_wfd = fds[1];
	return 0;

err_after_rfd:
	close(p->rfd);
err_after_pipe:
	close(fds[0]);
	close(fds[1]);
	return rc;
}

static int
create_fifo(struct dm_pool *p, const char *path)
{
	int rc;

	if (path == NULL || path[0] == '\0')
		return -EINVAL;
	if ((p->fifo_path = strdup(path)) == NULL)
		return -ENOMEM;
	if (mkfifo(path, 0600) != 0) {
		rc = -errno;
		goto err_after_path;
	}
	/* Read-write for the whole build: a make 4.4 client opens the FIFO
	 * read-only, then write-only, and would block on either open (and
	 * tokens in the FIFO would be lost) if no one else held it open. */
	if ((p->rfd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto err_after_fifo;
	}
	p->wfd = p->rfd;
	return 0;

err_after_fifo:
	unlink(path);
err_after_path:
	free(p->fifo_path);
	p->fifo_path = NULL;
	return rc;
}

/* The dual pool's descriptors for children: the FIFO opened once for
 * reading and once for writing, each its own open file description (make
 * 4.3 sets O_NONBLOCK on the one it inherits; ours must not change).
 * Opening never blocks: the server already holds the FIFO read-write. */
static int
open_fifo_child_fds(struct dm_pool *p)
{
	int fl;

	p->child_rfd = open(p->fifo_path, O_RDONLY | O_NONBLOCK);
	if (p->child_rfd < 0)
		return -errno;
	p->child_wfd = open(p->fifo_path, O_WRONLY | O_NONBLOCK);
	if (p->child_wfd < 0) {
		int rc = -errno;

		close(p->child_rfd);
		p->child_rfd = -1;
		return rc;
	}
	/* make <= 4.2 reads the descriptor blocking, as a pipe would be. */
	if ((fl = fcntl(p->child_rfd, F_GETFL)) >= 0)
		fcntl(p->child_rfd, F_SETFL, fl & ~O_NONBLOCK);
	if ((fl = fcntl(p->child_wfd, F_GETFL)) >= 0)
		fcntl(p->child_wfd, F_SETFL, fl & ~O_NONBLOCK);
	return 0;
}

int
dm_pool_create(enum dm_pool_kind kind, const char *fifo_path,
	       struct dm_pool **out)
{
	struct dm_pool *p;
	int rc;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	p->kind = kind;
	p->rfd = p->wfd = p->child_rfd = p->child_wfd = -1;
	rc = kind == DM_POOL_PIPE ? create_pipe(p) : create_fifo(p, fifo_path);
	if (rc != 0) {
		free(p);
		return rc;
	}
	if (kind == DM_POOL_DUAL && (rc = open_fifo_child_fds(p)) != 0) {
		dm_pool_destroy(p);
		return rc;
	}
	*out = p;
	return 0;
}

void
dm_pool_destroy(struct dm_pool *p)
{
	if (p == NULL)
		return;
	if (p->wfd >= 0 && p->wfd != p->rfd)
		close(p->wfd);
	if (p->rfd >= 0)
		close(p->rfd);
	if (p->child_rfd >= 0)
		close(p->child_rfd);
	if (p->child_wfd >= 0)
		close(p->child_wfd);
	if (p->fifo_path != NULL) {
		unlink(p->fifo_path);
		free(p->fifo_path);
	}
	free(p);
}

/* Writes n tokens; returns how many went in (a full pipe stops early). */
static unsigned
put_tokens(struct dm_pool *p, unsigned n)
{
	char b[256];
	unsigned done = 0;
	ssize_t w;

	memset(b, TOKEN, sizeof(b));
	while (done < n) {
		size_t chunk = n - done < sizeof(b) ? n - done : sizeof(b);

		w = write(p->wfd, b, chunk);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (unsigned)w;
	}
	return done;
}

unsigned
dm_pool_put_back(struct dm_pool *p, unsigned n)
{
	return put_tokens(p, n);
}

int
dm_pool_reclaim(struct dm_pool *p)
{
	char b[256];
	ssize_t n;

	/* Whatever byte a client wrote back counts as one token. */
	while (p->debt > 0) {
		size_t want = p->debt < sizeof(b) ? p->debt : sizeof(b);

		n = read(p->rfd, b, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0; /* cannot happen: we hold a write end */
		p->debt -= (unsigned)n;
	}
	return 0;
}

int
dm_pool_set_target(struct dm_pool *p, unsigned tokens)
{
	/* Tokens in circulation now: in the pool or held by clients. */
	unsigned live = p->target + p->debt, put;

	if (tokens >= live) {
		/* New tokens first pay off the debt, then go in. */
		put = put_tokens(p, tokens - live);
		p->debt = 0;
		p->target = live + put;
		return p->target == tokens ? 0 : -EAGAIN;
	}
	p->target = tokens;
	p->debt = live - tokens;
	return dm_pool_reclaim(p);
}

unsigned
dm_pool_target(const struct dm_pool *p)
{
	return p->target;
}

unsigned
dm_pool_debt(const struct dm_pool *p)
{
	return p->debt;
}

int
dm_pool_fd_for_poll(const struct dm_pool *p)
{
	return p->rfd;
}

void
dm_pool_child_fds(const struct dm_pool *p, int *rfd, int *wfd)
{
	*rfd = p->child_rfd;
	*wfd = p->child_wfd;
}

const char *
dm_pool_fifo_path(const struct dm_pool *p)
{
	return p->fifo_path;
}

int
dm_pool_available(const struct dm_pool *p)
{
	int n = 0;

	if (ioctl(p->rfd, FIONREAD, &n) != 0)
		return -errno;
	return n;
}

int
dm_pool_resync(struct dm_pool *p, int *delta)
{
	char b[256];
	int avail, d = 0;
	ssize_t n;

	if ((avail = dm_pool_available(p)) < 0)
		return avail;
	while ((unsigned)avail > p->target) {
		size_t want = (unsigned)avail - p->target;

		n = read(p->rfd, b, want < sizeof(b) ? want : sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		avail -= (int)n;
		d -= (int)n;
	}
	if ((unsigned)avail < p->target) {
		unsigned put = put_tokens(p, p->target - (unsigned)avail);

		d += (int)put;
	}
	p->debt = 0;
	if (delta != NULL)
		*delta = d;
	return 0;
}

/* ---- MAKEFLAGS ---------------------------------------------------------- */

struct word {
	const char *s;
	size_t n;
};

/* Splits at blanks; make escapes a blank inside a word with '\'. */
static int
next_word(const char **pp, struct word *w)
{
	const char *p = *pp;

	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (*p == '\0')
		return 0;
	w->s = p;
	while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
		p += p[0] == '\\' && p[1] != '\0' ? 2 : 1;
	w->n = (size_t)(p - w->s);
	*pp = p;
	return 1;
}

static int
word_is(const struct word *w, const char *s)
{
	return w->n == strlen(s) && memcmp(w->s, s, w->n) == 0;
}

static int
word_starts(const struct word *w, const char *s)
{
	return w->n >= strlen(s) && memcmp(w->s, s, strlen(s)) == 0;
}

static int
word_is_number(const struct word *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (!isdigit((unsigned char)w->s[i]))
			return 0;
	return w->n > 0;
}

/* Filters a cluster of single-letter options ("ks", or "kj8" after a
 * dash) into out, dropping j and its number.  Make's options that take
 * no argument may precede j; any other letter takes the rest of the word
 * as its argument, so the rest is kept as it is.  Returns 1 when a j was
 * dropped, 2 when it was the word's last letter (its number may be the
 * next word). */
static int
filter_cluster(const char *s, size_t n, struct dm_buf *out)
{
	static const char noarg[] = "bBdehikLnpqrRsStvw";
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == 'j') {
			/* -j's number is the rest of the word. */
			return i + 1 == n ? 2 : 1;
		}
		if (strchr(noarg, s[i]) == NULL || s[i] == '\0')
			break;
		dm_buf_append(out, &s[i], 1);
	}
	dm_buf_append(out, s + i, n - i);
	return 0;
}

int
dm_pool_merge_makeflags(const struct dm_pool *p, const char *old,
			struct dm_buf *out, int *removed_j)
{
	struct dm_buf kept, w1;
	struct word w;
	const char *cur = old != NULL ? old : "", *tail = NULL;
	int first = 1, number_may_follow = 0, dropped_j = 0, rc, r;

	dm_buf_init(&kept);
	dm_buf_init(&w1);
	while (next_word(&cur, &w)) {
		int was_first = first, maybe_number = number_may_follow;

		first = 0;
		number_may_follow = 0;
		if (word_is(&w, "--")) {
			/* Variable assignments from here on, kept as they
			 * are. */
			tail = w.s;
			break;
		}
		if (maybe_number && word_is_number(&w))
			continue;
		dm_buf_reset(&w1);
		if (word_is(&w, "--jobs")) {
			dropped_j = 1;
			number_may_follow = 1;
			continue;
		}
		if (word_starts(&w, "--jobs=")) {
			dropped_j = 1;
			continue;
		}
		if (word_starts(&w, "--jobserver-auth=") ||
		    word_starts(&w, "--jobserver-fds="))
			continue;
		if (word_starts(&w, "--")) {
			dm_buf_append(&w1, w.s, w.n);
		} else if (w.s[0] == '-' && w.n > 1) {
			dm_buf_append(&w1, "-", 1);
			r = filter_cluster(w.s + 1, w.n - 1, &w1);
			if (r != 0)
				dropped_j = 1;
			number_may_follow = r == 2;
			if (w1.len == 1)
				continue; /* nothing left but the dash */
		} else if (was_first && memchr(w.s, '=', w.n) == NULL) {
			/* Make's own first word: flag letters without a
			 * dash. */
			r = filter_cluster(w.s, w.n, &w1);
			if (r != 0)
				dropped_j = 1;
			number_may_follow = r == 2;
			if (w1.len == 0)
				continue;
		} else {
			dm_buf_append(&w1, w.s, w.n);
		}
		if (kept.len > 0)
			dm_buf_append(&kept, " ", 1);
		dm_buf_append(&kept, w1.p, w1.len);
	}
	dm_buf_free(&w1);

	if ((rc = dm_buf_append(out, kept.p, kept.len)) != 0)
		goto err_after_kept;
	/* Every make from 4.1 to 4.4 takes this pair for a pipe; the last
	 * --jobserver-auth counts, so ours must come after any other. */
	if (p->kind == DM_POOL_DUAL)
		rc = dm_buf_appendf(out,
				    " -j --jobserver-auth=fifo:%s"
				    " --jobserver-fds=%d,%d"
				    " --jobserver-auth=%d,%d",
				    p->fifo_path, p->child_rfd, p->child_wfd,
				    p->child_rfd, p->child_wfd);
	else if (p->kind == DM_POOL_PIPE)
		rc = dm_buf_appendf(out,
				    " -j --jobserver-fds=%d,%d"
				    " --jobserver-auth=%d,%d",
				    p->child_rfd, p->child_wfd, p->child_rfd,
				    p->child_wfd);
	else
		rc = dm_buf_appendf(out, " -j --jobserver-auth=fifo:%s",
				    p->fifo_path);
	if (rc == 0 && tail != NULL)
		rc = dm_buf_appendf(out, " %s", tail);
	if (rc == 0)
		dm_buf_cstr(out);
	if (rc == 0 && removed_j != NULL)
		*removed_j = dropped_j;
err_after_kept:
	dm_buf_free(&kept);
	return rc;
}

/* ---- the client ------------------------------------------------------ */

struct dm_pool_client {
	int rfd, wfd;
	int close_w; /* wfd is ours to close (FIFO, or a reopened pipe) */
	struct dm_buf held; /* the bytes we took, to give the same back */
};

/* Finds the value of the last --jobserver-auth= (or, for make 4.1's
 * MAKEFLAGS, --jobserver-fds=) before any " -- ". */
static int
find_auth(const char *makeflags, struct dm_buf *val)
{
	struct word w, auth = {NULL, 0}, fds = {NULL, 0};
	const char *cur = makeflags;
	static const char a[] = "--jobserver-auth=", f[] = "--jobserver-fds=";

	while (next_word(&cur, &w) && !word_is(&w, "--")) {
		if (word_starts(&w, a)) {
			auth.s = w.s + sizeof(a) - 1;
			auth.n = w.n - (sizeof(a) - 1);
		} else if (word_starts(&w, f)) {
			fds.s = w.s + sizeof(f) - 1;
			fds.n = w.n - (sizeof(f) - 1);
		}
	}
	if (auth.s == NULL)
		auth = fds;
	if (auth.s == NULL || auth.n == 0)
		return -ENOENT;
	/* Undo make's escaping of blanks and backslashes. */
	for (size_t i = 0; i < auth.n; i++) {
		if (auth.s[i] == '\\' && i + 1 < auth.n)
			i++;
		dm_buf_append(val, &auth.s[i], 1);
	}
	dm_buf_cstr(val);
	return 0;
}

static int
open_pipe_fds(const char *val, struct dm_pool_client *c)
{
	char *end;
	long r, w;
	int fd;

	r = strtol(val, &end, 10);
	if (end == val || *end != ',')
		return -EINVAL;
	w = strtol(end + 1, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	/* make passes -1,-1 (or -2) when it did not pass the fds on. */
	if (r < 0 || w < 0 || r > 65535 || w > 65535 ||
	    fcntl((int)r, F_GETFD) < 0 || fcntl((int)w, F_GETFD) < 0)
		return -EBADF;
	/* Our own non-blocking description of the read end: another reader
	 * may take the byte between our poll and our read, and a read on
	 * the shared (perhaps blocking) description would then hang. */
	if ((fd = reopen((int)r, O_RDONLY)) < 0)
		return fd;
	c->rfd = fd;
	c->wfd = (int)w;
	c->close_w = 0;
	return 0;
}

int
dm_pool_client_open(const char *makeflags, struct dm_pool_client **out)
{
	struct dm_pool_client *c;
	struct dm_buf val;
	const char *v;
	int rc;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	dm_buf_init(&c->held);
	dm_buf_init(&val);
	if ((rc = find_auth(makeflags != NULL ? makeflags : "", &val)) != 0)
		goto err_after_alloc;
	v = (const char *)val.p;
	if (strncmp(v, "fifo:", 5) == 0) {
		c->rfd = open(v + 5, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (c->rfd < 0) {
			rc = -errno;
			goto err_after_alloc;
		}
		c->wfd = c->rfd;
	} else if ((rc = open_pipe_fds(v, c)) != 0) {
		goto err_after_alloc;
	}
	dm_buf_free(&val);
	*out = c;
	return 0;

err_after_alloc:
	dm_buf_free(&val);
	free(c);
	return rc;
}

int
dm_pool_client_acquire(struct dm_pool_client *c, unsigned timeout_ms)
{
	uint64_t deadline = dm_now_ms() + timeout_ms;
	struct pollfd pfd = {.fd = c->rfd, .events = POLLIN};
	char b;
	ssize_t n;
	int wait;

	for (;;) {
		n = read(c->rfd, &b, 1);
		if (n == 1)
			return dm_buf_append(&c->held, &b, 1);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			return -errno;
		if (n == 0)
			return DM_ECLOSED; /* every writer is gone */
		wait = -1;
		if (timeout_ms != 0) {
			long long left = (long long)(deadline - dm_now_ms());

			if (left <= 0)
				return DM_ETIMEOUT;
			wait = (int)left;
		}
		/* The owner may add a byte or another client may take the
		 * one we saw: readable is a hint, the read decides. */
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			return -errno;
	}
}

int
dm_pool_client_release(struct dm_pool_client *c)
{
	ssize_t n;

	if (c->held.len == 0)
		return -EINVAL;
	for (;;) {
		n = write(c->wfd, &c->held.p[c->held.len - 1], 1);
		if (n == 1)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* A full pipe (64 KiB of tokens): wait for room. */
			struct pollfd pfd = {.fd = c->wfd, .events = POLLOUT};

			poll(&pfd, 1, -1);
			continue;
		}
		return n < 0 ? -errno : -EIO;
	}
	c->held.len--;
	return 0;
}

/* Tokens still held go back to the pool: a client that forgets one
 * would shrink the build for good. */
void
dm_pool_client_close(struct dm_pool_client *c)
{
	if (c == NULL)
		return;
	while (c->held.len > 0 && dm_pool_client_release(c) == 0)
		;
	if (c->close_w && c->wfd != c->rfd)
		close(c->wfd);
	close(c->rfd);
	dm_buf_free(&c->held);
	free(c);
}
