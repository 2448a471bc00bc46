/* fs.c: see fs.h. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"

/* Creates each prefix of tmp (modified in place, restored) ending before
 * a '/', with `parents`; then tmp itself with `leaf` unless leaf is 0. */
static int
make(char *tmp, mode_t parents, mode_t leaf)
{
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
	char tmp[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, len + 1);
	return make(tmp, 0755, mode);
}

int
dm_mkdir_parents(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	return make(tmp, mode, 0);
}
