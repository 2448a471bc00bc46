/*
 * filecache.c: see filecache.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/err.h"
#include "../lib/fs.h"
#include "../lib/io.h"
#include "../lib/log.h"
#include "../lib/stream.h"
#include "filecache.h"

struct entry {
	uint8_t hash[NODE_FILE_HASH];
	uint64_t size;
	uint64_t used; /* c->tick when last laid out */
	struct entry *next;
};

struct node_files {
	char dir[PATH_MAX];
	uint64_t limit;
	int copy;
	pthread_mutex_t mu;
	struct entry **bucket;
	size_t nbucket, count;
	uint64_t bytes, tick;
	uint64_t hits, misses, evicted;
};

static size_t
slot_of(const struct node_files *c, const uint8_t *hash)
{
	uint64_t h;

	memcpy(&h, hash, sizeof(h)); /* a hash already */
	return (size_t)(h % c->nbucket);
}

static struct entry *
find(const struct node_files *c, const uint8_t *hash)
{
	struct entry *e = c->bucket[slot_of(c, hash)];

	while (e != NULL && memcmp(e->hash, hash, NODE_FILE_HASH) != 0)
		e = e->next;
	return e;
}

static void
name_of(const struct node_files *c, const uint8_t *hash, char *out,
	size_t len)
{
	char hex[2 * NODE_FILE_HASH + 1];

	sodium_bin2hex(hex, sizeof(hex), hash, NODE_FILE_HASH);
	snprintf(out, len, "%s/%s", c->dir, hex);
}

static int
grow(struct node_files *c)
{
	size_t n = c->nbucket * 2;
	struct entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->nbucket; i++) {
		struct entry *e = c->bucket[i], *next;

		for (; e != NULL; e = next) {
			uint64_t h;

			next = e->next;
			memcpy(&h, e->hash, sizeof(h));
			e->next = b[h % n];
			b[h % n] = e;
		}
	}
	free(c->bucket);
	c->bucket = b;
	c->nbucket = n;
	return 0;
}

static int
by_use(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a;
	const struct entry *y = *(struct entry *const *)b;

	return x->used < y->used ? -1 : x->used > y->used;
}

static void
unhook(struct node_files *c, struct entry *e)
{
	struct entry **p = &c->bucket[slot_of(c, e->hash)];

	while (*p != e)
		p = &(*p)->next;
	*p = e->next;
	c->count--;
	c->bytes -= e->size;
}

/* Down to 9/10 of the limit, least recently used first, so that a full
 * cache does not sort on every new file.  Called with c->mu held. */
static void
evict(struct node_files *c)
{
	struct entry **all;
	char path[PATH_MAX + 80];
	size_t k = 0;

	if (c->bytes <= c->limit)
		return;
	if ((all = malloc(c->count * sizeof(*all))) == NULL)
		return; /* over the limit until memory allows */
	for (size_t i = 0; i < c->nbucket; i++)
		for (struct entry *e = c->bucket[i]; e != NULL; e = e->next)
			all[k++] = e;
	qsort(all, k, sizeof(*all), by_use);
	for (size_t i = 0; i < k && c->bytes > c->limit / 10 * 9; i++) {
		name_of(c, all[i]->hash, path, sizeof(path));
		unlink(path);
		unhook(c, all[i]);
		free(all[i]);
		c->evicted++;
	}
	free(all);
}

int
node_files_open(const char *dir, uint64_t limit, int copy,
		struct node_files **out)
{
	struct node_files *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (c == NULL || sodium_init() < 0) {
		free(c);
		return -ENOMEM;
	}
	if (snprintf(c->dir, sizeof(c->dir), "%s", dir) >=
	    (int)sizeof(c->dir)) {
		free(c);
		return -ENAMETOOLONG;
	}
	c->limit = limit;
	c->copy = copy;
	c->nbucket = 1024;
	if ((c->bucket = calloc(c->nbucket, sizeof(*c->bucket))) == NULL) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->mu, NULL);
	/* What an earlier run left is not in the index: start empty. */
	dm_rm_tree(c->dir);
	if ((rc = dm_mkdir_p(c->dir, 0700)) != 0) {
		dm_error("cannot create %s: %s", c->dir, dm_strerror(rc));
		node_files_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
node_files_close(struct node_files *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nbucket; i++) {
		struct entry *e = c->bucket[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(c->bucket);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* A copy of the open file src at dest, 0444. */
static int
copy_to(int src, const char *dest)
{
	int out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	int rc;

	if (out < 0)
		return -errno;
	rc = dm_copy_fd(src, out);
	if (close(out) != 0 && rc == 0)
		rc = -errno;
	if (rc != 0)
		unlink(dest);
	return rc;
}

int
node_files_place(struct node_files *c, const uint8_t *hash, const char *dest)
{
	char path[PATH_MAX + 80];
	struct entry *e;
	int rc = 0, fd = -1;

	pthread_mutex_lock(&c->mu);
	if ((e = find(c, hash)) == NULL) {
		c->misses++;
		pthread_mutex_unlock(&c->mu);
		return 1;
	}
	e->used = ++c->tick;
	name_of(c, hash, path, sizeof(path));
	/* Under the lock: evict() cannot take the file away meanwhile;
	 * once linked or open, its eviction does not matter. */
	if (!c->copy)
		rc = link(path, dest) == 0 ? 0 : -errno;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		rc = -errno;
	c->hits += rc == 0;
	pthread_mutex_unlock(&c->mu);
	if (fd >= 0) {
		rc = copy_to(fd, dest);
		close(fd);
	}
	return rc;
}

/* The job's copy of the file just received (tmp), made before the file
 * is in the index, where no other job can touch it. */
static int
place_new(const struct node_files *c, const char *tmp, const char *dest)
{
	int fd, rc;

	if (!c->copy)
		return link(tmp, dest) == 0 ? 0 : -errno;
	if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	rc = copy_to(fd, dest);
	close(fd);
	return rc;
}

int
node_files_take(struct node_files *c, int fd, struct dm_buf *frame,
		uint64_t limit, const char *dest, uint64_t *got)
{
	char tmp[PATH_MAX + 32], path[PATH_MAX + 80];
	uint8_t hash[NODE_FILE_HASH];
	struct entry *e = NULL;
	int rc, placed = 1, out;

	*got = 0;
	snprintf(tmp, sizeof(tmp), "%s/.in-XXXXXX", c->dir);
	if ((out = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = -errno;
		dm_warn("cannot create a file in %s: %s", c->dir,
			strerror(errno));
		if (rc == -ENOSPC || rc == -EDQUOT)
			return rc;
		/* Read the stream anyway: the connection stays usable. */
		rc = dm_stream_recv_fd(fd, -1, limit, frame, got);
		return rc != 0 ? rc : 1;
	}
	rc = dm_stream_recv_fd_hashed(fd, out, limit, frame, hash,
				      sizeof(hash), got);
	if (rc == 0 && fchmod(out, 0444) != 0)
		rc = -EIO;
	if (close(out) != 0 && rc == 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	if (dest != NULL && (rc = place_new(c, tmp, dest)) != 0)
		dm_info("cannot lay out %s: %s", dest, dm_strerror(rc));
	else if (dest != NULL)
		placed = 0;
	name_of(c, hash, path, sizeof(path));
	pthread_mutex_lock(&c->mu);
	if (find(c, hash) != NULL || (c->count >= c->nbucket && grow(c) != 0) ||
	    (e = calloc(1, sizeof(*e))) == NULL || rename(tmp, path) != 0) {
		unlink(tmp);
		free(e);
	} else {
		memcpy(e->hash, hash, sizeof(hash));
		e->size = *got;
		e->used = ++c->tick;
		e->next = c->bucket[slot_of(c, hash)];
		c->bucket[slot_of(c, hash)] = e;
		c->count++;
		c->bytes += e->size;
		evict(c);
	}
	pthread_mutex_unlock(&c->mu);
	return placed;
}

void
node_files_stats(struct node_files *c, struct node_files_stats *s)
{
	pthread_mutex_lock(&c->mu);
	s->files = c->count;
	s->bytes = c->bytes;
	s->hits = c->hits;
	s->misses = c->misses;
	s->evicted = c->evicted;
	pthread_mutex_unlock(&c->mu);
}
