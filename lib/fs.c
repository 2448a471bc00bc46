/* fs.c: see fs.h. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fs.h"
#include "io.h"

/* Creates each prefix of path ending before a '/', with `parents`; then
 * path itself with `leaf` unless leaf is 0. */
static int
make(const char *path, mode_t parents, mode_t leaf)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, parents) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (leaf != 0 && mkdir(tmp, leaf) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int
dm_mkdir_p(const char *dir, mode_t mode)
{
	return make(dir, 0755, mode);
}

int
dm_mkdir_parents(const char *path, mode_t mode)
{
	return make(path, mode, 0);
}

int
dm_user_cache_path(const char *name, char *out, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, len, "%s/dmake/%s", xdg, name);
	else if (home != NULL && home[0] == '/')
		n = snprintf(out, len, "%s/.cache/dmake/%s", home, name);
	else
		return DM_ECONFIG;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	(flag == FTW_DP ? rmdir : unlink)(path);
	return 0;
}

void
dm_rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
dm_copy_fd(int from, int to)
{
	char buf[65536];
	ssize_t n;

	for (;;) {
		n = copy_file_range(from, NULL, to, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
		    errno != EOPNOTSUPP)
			return -errno;
		break; /* not between these two: by hand */
	}
	while ((n = read(from, buf, sizeof(buf))) != 0) {
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if ((rc = dm_io_write_all(to, buf, (size_t)n)) != 0)
			return rc;
	}
	return 0;
}
