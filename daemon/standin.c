/*
 * standin.c: see standin.h.  A test and benchmark feature only.
 *
 * Durations are drawn uniformly from the sample, so the jobs follow the
 * sample's own distribution, long tail included, with no model fitted
 * to it.  The generator is splitmix64 over one atomic counter: any
 * number of job threads draw without a lock, and two nodes started in
 * the same millisecond still draw differently (the seed mixes the pid).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/err.h"
#include "../lib/io.h"
#include "../lib/log.h"
#include "standin.h"

/* An empty object is at most this big (gcc's is under 1 KiB). */
#define EMPTY_OBJECT_MAX (1u << 20)
/* Making one may take this long on a loaded machine. */
#define EMPTY_COMPILE_MS 60000u

/* The empty object of one compiler. */
struct empty {
	struct empty *next;
	char *compiler;
	char *bytes;
	size_t len;
};

struct node_standin {
	uint32_t *ms;
	size_t n;
	double mean;
	_Atomic uint64_t draws;
	uint64_t seed;
	int log_fd;
	pthread_mutex_t mu; /* guards empties, and making one */
	struct empty *empties;
};

static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Parses the lines of text into s->ms. */
static int
parse(struct node_standin *s, const char *path, char *text, char *why,
      size_t why_len)
{
	size_t cap = 0, line = 0;
	double sum = 0;
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		unsigned long v;
		char *end;

		line++;
		while (*l == ' ' || *l == '\t')
			l++;
		if (*l == '\0' || *l == '#' || *l == '\r')
			continue;
		errno = 0;
		v = strtoul(l, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\r')
			end++;
		if (l[0] < '0' || l[0] > '9' || errno != 0 || *end != '\0' ||
		    v > NODE_STANDIN_MS_MAX) {
			snprintf(why, why_len,
				 "--standin %s: line %zu is not a number of "
				 "milliseconds from 0 to %u",
				 path, line, NODE_STANDIN_MS_MAX);
			return DM_ECONFIG;
		}
		if (s->n == NODE_STANDIN_SAMPLES_MAX) {
			snprintf(why, why_len,
				 "--standin %s: more than %d durations", path,
				 NODE_STANDIN_SAMPLES_MAX);
			return DM_ECONFIG;
		}
		if (s->n == cap) {
			uint32_t *nm;

			cap = cap ? cap * 2 : 256;
			if ((nm = realloc(s->ms, cap * sizeof(*nm))) == NULL)
				return -ENOMEM;
			s->ms = nm;
		}
		s->ms[s->n++] = (uint32_t)v;
		sum += (double)v;
	}
	if (s->n == 0) {
		snprintf(why, why_len, "--standin %s: no duration in it",
			 path);
		return DM_ECONFIG;
	}
	s->mean = sum / (double)s->n;
	return 0;
}

int
node_standin_load(const char *path, const char *log_path,
		  struct node_standin **out, char *why, size_t why_len)
{
	struct node_standin *s;
	struct stat st;
	char *text = NULL;
	int fd, rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->log_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(fd, &st) != 0 || st.st_size > 64 * 1024 * 1024) {
		snprintf(why, why_len, "--standin %s: %s", path,
			 fd < 0 ? strerror(errno) : "not a small file");
		rc = DM_ECONFIG;
		goto err_after_fd;
	}
	if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
		rc = -ENOMEM;
		goto err_after_fd;
	}
	if ((rc = dm_io_read_all(fd, text, (size_t)st.st_size)) != 0) {
		snprintf(why, why_len, "--standin %s: %s", path,
			 dm_strerror(rc));
		rc = DM_ECONFIG;
		goto err_after_text;
	}
	text[st.st_size] = '\0';
	if ((rc = parse(s, path, text, why, why_len)) != 0)
		goto err_after_text;
	if (log_path != NULL &&
	    (s->log_fd =
		     open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0644)) < 0) {
		snprintf(why, why_len, "--standin-log %s: %s", log_path,
			 strerror(errno));
		rc = DM_ECONFIG;
		goto err_after_text;
	}
	s->seed = now_ms() ^ ((uint64_t)getpid() << 32);
	free(text);
	close(fd);
	*out = s;
	return 0;

err_after_text:
	free(text);
err_after_fd:
	if (fd >= 0)
		close(fd);
	node_standin_free(s);
	return rc;
}

void
node_standin_free(struct node_standin *s)
{
	struct empty *e;

	if (s == NULL)
		return;
	while ((e = s->empties) != NULL) {
		s->empties = e->next;
		free(e->compiler);
		free(e->bytes);
		free(e);
	}
	if (s->log_fd >= 0)
		close(s->log_fd);
	pthread_mutex_destroy(&s->mu);
	free(s->ms);
	free(s);
}

size_t
node_standin_count(const struct node_standin *s)
{
	return s->n;
}

double
node_standin_mean_ms(const struct node_standin *s)
{
	return s->mean;
}

uint32_t
node_standin_draw(struct node_standin *s)
{
	uint64_t k = atomic_fetch_add(&s->draws, 1);

	return s->ms[splitmix64(s->seed + k) % s->n];
}

/* Compiles an empty unit with compiler in work_dir/standin and reads
 * the object back into e. */
static int
make_empty(const char *compiler, const char *work_dir, struct empty *e)
{
	char dir[4096], src[4200], obj[4200];
	const char *argv[] = {compiler, "-c", "-o", obj, src, NULL};
	struct dm_spawn_opts o = {0};
	struct dm_spawn_result r = {0};
	uint64_t h = 1469598103934665603ull;
	struct stat st;
	int fd, rc;

	for (const char *p = compiler; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	snprintf(dir, sizeof(dir), "%s/standin", work_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	snprintf(src, sizeof(src), "%s/empty.c", dir);
	snprintf(obj, sizeof(obj), "%s/empty-%016" PRIx64 ".o", dir, h);
	fd = open(src, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = dm_io_write_all(fd, "/* dmaked --standin */\n", 23);
	close(fd);
	if (rc != 0)
		return rc;
	o.argv = argv;
	o.cwd = dir;
	o.stdin_fd = o.stdout_fd = o.stderr_fd = -1;
	o.timeout_ms = EMPTY_COMPILE_MS;
	if ((rc = dm_spawn_run(&o, &r)) != 0)
		return rc;
	if (r.exit_code != 0 || r.signal != 0)
		return DM_ECHILD;
	if ((fd = open(obj, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || st.st_size <= 0 ||
	    st.st_size > EMPTY_OBJECT_MAX) {
		close(fd);
		return DM_EPROTO;
	}
	e->len = (size_t)st.st_size;
	if ((e->bytes = malloc(e->len)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	rc = dm_io_read_all(fd, e->bytes, e->len);
	close(fd);
	return rc;
}

/* The empty object of compiler, made on first use.  The pointer stays
 * valid for the stand-in's life. */
static int
empty_of(struct node_standin *s, const char *compiler, const char *work_dir,
	 const struct empty **out)
{
	struct empty *e;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	for (e = s->empties; e != NULL; e = e->next)
		if (strcmp(e->compiler, compiler) == 0)
			break;
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL ||
		    (e->compiler = strdup(compiler)) == NULL) {
			rc = -ENOMEM;
		} else if ((rc = make_empty(compiler, work_dir, e)) == 0) {
			e->next = s->empties;
			s->empties = e;
		}
		if (rc != 0) {
			dm_warn("--standin: cannot make the empty object of "
				"%s: %s",
				compiler, dm_strerror(rc));
			if (e != NULL) {
				free(e->compiler);
				free(e->bytes);
				free(e);
			}
			e = NULL;
		}
	}
	pthread_mutex_unlock(&s->mu);
	*out = e;
	return rc;
}

static void
log_line(struct node_standin *s, const char *what, const char *node_name,
	 uint32_t ms, const char *cwd, const char *source)
{
	char line[8400];
	int n;

	if (s->log_fd < 0)
		return;
	n = snprintf(line, sizeof(line),
		     "%s %" PRIu64 " %s %" PRIu32 " %s/%s\n", what, now_ms(),
		     node_name, ms, cwd, source);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)!write(s->log_fd, line, (size_t)n);
}

int
node_standin_run(struct node_standin *s, const char *compiler,
		 const char *work_dir, const char *node_name, const char *cwd,
		 const char *source, const char *object,
		 struct dm_spawn_result *r)
{
	const struct empty *e;
	struct timespec ts;
	uint32_t ms = node_standin_draw(s);
	int fd, rc;

	memset(r, 0, sizeof(*r));
	if ((rc = empty_of(s, compiler, work_dir, &e)) != 0)
		return rc;
	log_line(s, "start", node_name, ms, cwd, source);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	fd = open(object, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		rc = -errno;
	else {
		rc = dm_io_write_all(fd, e->bytes, e->len);
		if (close(fd) != 0 && rc == 0)
			rc = -errno;
	}
	log_line(s, "end", node_name, ms, cwd, source);
	if (rc != 0)
		return rc;
	r->cpu_ms = ms;
	r->wall_ms = ms;
	return 0;
}
