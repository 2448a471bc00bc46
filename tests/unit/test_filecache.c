/*
 * test_filecache.c: the node's cache of the files jobs carry
 * (daemon/filecache.h): files are kept by the hash of what arrived, laid
 * out read-only as links (or copies), refused at a taken path, and
 * dropped least recently used past the limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../daemon/filecache.h"
#include "../../lib/buf.h"
#include "../../lib/fs.h"
#include "../../lib/stream.h"
#include "tap.h"

struct fx {
	char dir[64];
	char cache[96];
	struct node_files *c;
	struct dm_buf frame;
};

static void
fx_open(struct fx *f, uint64_t limit, int copy)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/dmake-fc-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		tap_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
	snprintf(f->cache, sizeof(f->cache), "%s/files", f->dir);
	dm_buf_init(&f->frame);
	if (node_files_open(f->cache, limit, copy, &f->c) != 0)
		tap_fail(__FILE__, __LINE__, "node_files_open");
}

static void
fx_close(struct fx *f)
{
	node_files_close(f->c);
	dm_buf_free(&f->frame);
	dm_rm_tree(f->dir);
}

static void
hash_of(const char *text, uint8_t *out)
{
	crypto_generichash(out, NODE_FILE_HASH, (const uint8_t *)text,
			   strlen(text), NULL, 0);
}

/* node_files_take of text, streamed through a socket pair by a child. */
static int
take(struct fx *f, const char *text, const char *dest)
{
	int sv[2], rc, st;
	uint64_t got;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -errno;
	if ((pid = fork()) == 0) {
		int in[2];

		close(sv[0]);
		if (pipe(in) != 0 ||
		    write(in[1], text, strlen(text)) != (ssize_t)strlen(text))
			_exit(1);
		close(in[1]);
		_exit(dm_stream_send_fd(sv[1], in[0]) == 0 ? 0 : 1);
	}
	close(sv[1]);
	rc = node_files_take(f->c, sv[0], &f->frame, 1 << 20, dest, &got);
	close(sv[0]);
	waitpid(pid, &st, 0);
	if (rc == 0 && got != strlen(text))
		rc = -EPROTO;
	return rc;
}

static char *
slurp(const char *path)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

TEST(filecache_by_content)
{
	struct fx f;
	uint8_t h1[NODE_FILE_HASH], h2[NODE_FILE_HASH];
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	struct node_files_stats s;
	struct stat sa, sb;

	ASSERT_TRUE(sodium_init() >= 0);
	fx_open(&f, 1 << 20, 0);
	hash_of("int a;\n", h1);
	hash_of("int b;\n", h2);
	snprintf(a, sizeof(a), "%s/a.h", f.dir);
	snprintf(b, sizeof(b), "%s/b.h", f.dir);
	snprintf(c, sizeof(c), "%s/c.h", f.dir);
	/* not held: asked for */
	ASSERT_EQ_INT(node_files_place(f.c, h1, a), 1);
	ASSERT_EQ_INT(take(&f, "int a;\n", a), 0);
	ASSERT_EQ_STR(slurp(a), "int a;\n");
	/* held now, under the hash of what came: laid out as a link */
	ASSERT_EQ_INT(node_files_place(f.c, h1, b), 0);
	ASSERT_EQ_STR(slurp(b), "int a;\n");
	ASSERT_OK(stat(a, &sa));
	ASSERT_OK(stat(b, &sb));
	ASSERT_TRUE(sa.st_ino == sb.st_ino);
	ASSERT_EQ_INT(sb.st_mode & 07777, 0444);
	/* a taken path is refused, not overwritten */
	ASSERT_EQ_INT(node_files_place(f.c, h1, b), -EEXIST);
	/* other content, other hash */
	ASSERT_EQ_INT(node_files_place(f.c, h2, c), 1);
	ASSERT_EQ_INT(take(&f, "int b;\n", c), 0);
	/* the same content twice is held once */
	ASSERT_EQ_INT(take(&f, "int a;\n", NULL), 1);
	node_files_stats(f.c, &s);
	ASSERT_EQ_INT(s.files, 2);
	ASSERT_EQ_INT(s.bytes, 14);
	ASSERT_EQ_INT(s.hits, 1);
	fx_close(&f);
}

/* What a client says a file's hash is does not matter: only what it
 * sends.  A file sent for h1 with other content is not found by h1. */
TEST(filecache_claims_are_not_trusted)
{
	struct fx f;
	uint8_t h1[NODE_FILE_HASH], h2[NODE_FILE_HASH];
	char a[PATH_MAX], b[PATH_MAX];

	ASSERT_TRUE(sodium_init() >= 0);
	fx_open(&f, 1 << 20, 0);
	hash_of("int good;\n", h1);
	hash_of("int evil;\n", h2);
	snprintf(a, sizeof(a), "%s/a.h", f.dir);
	snprintf(b, sizeof(b), "%s/b.h", f.dir);
	ASSERT_EQ_INT(node_files_place(f.c, h1, a), 1);
	ASSERT_EQ_INT(take(&f, "int evil;\n", a), 0);
	ASSERT_EQ_INT(node_files_place(f.c, h1, b), 1);
	ASSERT_EQ_INT(node_files_place(f.c, h2, b), 0);
	ASSERT_EQ_STR(slurp(b), "int evil;\n");
	fx_close(&f);
}

/* Copies for jobs that run as the node's uid: a job that made its copy
 * writable and changed it leaves the cache as it was. */
TEST(filecache_copies)
{
	struct fx f;
	uint8_t h[NODE_FILE_HASH];
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	struct stat sa, sb;
	int fd;

	ASSERT_TRUE(sodium_init() >= 0);
	fx_open(&f, 1 << 20, 1);
	hash_of("int a;\n", h);
	snprintf(a, sizeof(a), "%s/a.h", f.dir);
	snprintf(b, sizeof(b), "%s/b.h", f.dir);
	snprintf(c, sizeof(c), "%s/c.h", f.dir);
	ASSERT_EQ_INT(take(&f, "int a;\n", a), 0);
	ASSERT_EQ_INT(node_files_place(f.c, h, b), 0);
	ASSERT_OK(stat(a, &sa));
	ASSERT_OK(stat(b, &sb));
	ASSERT_TRUE(sa.st_ino != sb.st_ino);
	ASSERT_OK(chmod(a, 0644));
	ASSERT_TRUE((fd = open(a, O_WRONLY | O_TRUNC)) >= 0);
	ASSERT_EQ_INT(write(fd, "evil\n", 5), 5);
	close(fd);
	ASSERT_EQ_INT(node_files_place(f.c, h, c), 0);
	ASSERT_EQ_STR(slurp(c), "int a;\n");
	fx_close(&f);
}

/* Past the limit the least recently laid out go first, down to 9/10 of
 * it; a job's link outlives its file's eviction. */
TEST(filecache_evicts_least_recently_used)
{
	struct fx f;
	char text[8][1024], path[PATH_MAX];
	uint8_t h[8][NODE_FILE_HASH];
	struct node_files_stats s;

	ASSERT_TRUE(sodium_init() >= 0);
	fx_open(&f, 4096, 0);
	for (int i = 0; i < 8; i++) {
		memset(text[i], 'a' + i, 1000);
		text[i][1000] = '\0';
		hash_of(text[i], h[i]);
	}
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/f%d", f.dir, i);
		ASSERT_EQ_INT(take(&f, text[i], path), 0);
	}
	/* 0 is used again: 1 is now the oldest */
	snprintf(path, sizeof(path), "%s/g0", f.dir);
	ASSERT_EQ_INT(node_files_place(f.c, h[0], path), 0);
	snprintf(path, sizeof(path), "%s/f4", f.dir);
	ASSERT_EQ_INT(take(&f, text[4], path), 0);
	node_files_stats(f.c, &s);
	ASSERT_TRUE(s.bytes <= 4096 / 10 * 9);
	ASSERT_EQ_INT(s.evicted, 2);
	snprintf(path, sizeof(path), "%s/x", f.dir);
	ASSERT_EQ_INT(node_files_place(f.c, h[1], path), 1);
	ASSERT_EQ_INT(node_files_place(f.c, h[2], path), 1);
	ASSERT_EQ_INT(node_files_place(f.c, h[0], path), 0);
	snprintf(path, sizeof(path), "%s/f1", f.dir);
	ASSERT_EQ_STR(slurp(path), text[1]);
	fx_close(&f);
}
