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
	int in_tree;
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
	int changed;
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

	/* Mark root's descendants: parents may be listed after children,
	 * so repeat until nothing changes (a build's tree is shallow). */
	for (size_t i = 0; i < n; i++)
		if (v[i].pid == root)
			v[i].in_tree = 1;
	do {
		changed = 0;
		for (size_t i = 0; i < n; i++) {
			if (v[i].in_tree)
				continue;
			for (size_t j = 0; j < n; j++)
				if (v[j].in_tree && v[j].pid == v[i].ppid) {
					v[i].in_tree = changed = 1;
					break;
				}
		}
	} while (changed);

	for (size_t i = 0; i < n; i++) {
		unsigned children = 0;

		if (!v[i].in_tree || !v[i].is_make)
			continue;
		for (size_t j = 0; j < n; j++)
			if (v[j].ppid == v[i].pid)
				children++;
		if (children > 1)
			total += children - 1;
		h = mix(mix(h, (uint64_t)v[i].pid), children);
	}
	free(v);
	*held = total;
	*sig = mix(h, total);
	return 0;
}
