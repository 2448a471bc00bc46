/* proctree.c: see proctree.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proctree.h"

struct proc {
	pid_t pid, ppid;
	int is_make;
	int in_tree; /* 0 not known yet, 1 root's descendant, 2 not */
};

/* pid, ppid and whether comm is make, from /proc/PID/stat ("PID (COMM)
 * S PPID ..."; COMM may hold spaces and parentheses: the last ')' ends
 * it).  0, or -1 for a process that is gone. */
static int
read_stat(const char *pid, struct proc *p)
{
	char path[64], buf[512], *open_p, *close_p;
	ssize_t n;
	size_t clen;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	open_p = strchr(buf, '(');
	close_p = strrchr(buf, ')');
	if (open_p == NULL || close_p == NULL || close_p < open_p ||
	    close_p[1] == '\0')
		return -1;
	clen = (size_t)(close_p - open_p - 1);
	p->pid = (pid_t)atol(buf);
	p->is_make = (clen == 4 && memcmp(open_p + 1, "make", 4) == 0) ||
		     (clen == 5 && memcmp(open_p + 1, "gmake", 5) == 0);
	/* ") S PPID" */
	if (sscanf(close_p + 2, "%*c %d", &p->ppid) != 1)
		return -1;
	p->in_tree = 0;
	return 0;
}

pid_t
proctree_parent(pid_t pid)
{
	char name[24];
	struct proc p;

	snprintf(name, sizeof(name), "%d", (int)pid);
	return read_stat(name, &p) == 0 ? p.ppid : -1;
}

static int
cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

static int
by_pid(const void *a, const void *b)
{
	return cmp_pid(&((const struct proc *)a)->pid,
		       &((const struct proc *)b)->pid);
}

static struct proc *
find(struct proc *v, size_t n, pid_t pid)
{
	struct proc key = {.pid = pid};

	return bsearch(&key, v, n, sizeof(*v), by_pid);
}

/* Whether p is root or below it; the answer is kept in in_tree along the
 * way up, so each process is climbed through once. */
static int
descends(struct proc *v, size_t n, struct proc *p, pid_t root)
{
	struct proc *chain[256];
	size_t k = 0;
	int yes = 0;

	for (struct proc *q = p; q != NULL;) {
		if (q->in_tree != 0) {
			yes = q->in_tree == 1;
			break;
		}
		if (q->pid == root) {
			yes = 1;
			chain[k++] = q;
			break;
		}
		if (k == sizeof(chain) / sizeof(chain[0]))
			return 0; /* deeper than any build: not ours (and
				     nothing cached: the rest is unknown) */
		chain[k++] = q;
		q = q->ppid > 0 ? find(v, n, q->ppid) : NULL;
	}
	while (k > 0)
		chain[--k]->in_tree = yes ? 1 : 2;
	return yes;
}

/* How many entries of the sorted pp equal pid. */
static unsigned
count_of(const pid_t *pp, size_t n, pid_t pid)
{
	size_t lo = 0, hi = n, c = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pp[mid] < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo + c < n && pp[lo + c] == pid)
		c++;
	return (unsigned)c;
}

static uint64_t
mix(uint64_t h, uint64_t v)
{
	h ^= v;
	return h * 1099511628211ull;
}

int
proctree_tokens_held(pid_t root, unsigned *held, uint64_t *sig)
{
	struct proc *v = NULL, *nv;
	size_t n = 0, cap = 0;
	struct dirent *e;
	uint64_t h = 14695981039346656037ull;
	unsigned total = 0;
	pid_t *pp;
	DIR *d;

	if ((d = opendir("/proc")) == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		if (read_stat(e->d_name, &v[n]) == 0)
			n++;
	}
	closedir(d);

	/* Sorted by pid, for lookups; ppids sorted apart, for counting
	 * children: O(n log n) however many processes the machine runs. */
	qsort(v, n, sizeof(*v), by_pid);
	if ((pp = malloc((n ? n : 1) * sizeof(*pp))) == NULL) {
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		pp[i] = v[i].ppid;
	qsort(pp, n, sizeof(*pp), cmp_pid);
	for (size_t i = 0; i < n; i++) {
		unsigned children;

		if (!v[i].is_make || !descends(v, n, &v[i], root))
			continue;
		children = count_of(pp, n, v[i].pid);
		if (children > 1)
			total += children - 1;
		h = mix(mix(h, (uint64_t)v[i].pid), children);
	}
	free(pp);
	free(v);
	*held = total;
	*sig = mix(h, total);
	return 0;
}
