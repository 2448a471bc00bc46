/* fs.h: small filesystem helpers the programs share. */
#ifndef DM_FS_H
#define DM_FS_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: creates dir and every missing parent.  New parents get 0755,
 * dir itself `mode`; existing ones are left as they are.  0 or -errno
 * (-ENAMETOOLONG past PATH_MAX). */
int dm_mkdir_p(const char *dir, mode_t mode);

/* dm_mkdir_p() of everything before the last '/' of path, all `mode`:
 * the directory a file is about to be created in. */
int dm_mkdir_parents(const char *path, mode_t mode);

/* The user's cache of dmake, NAME under it: $XDG_CACHE_HOME/dmake/NAME,
 * else $HOME/.cache/dmake/NAME (each only when absolute).  Nothing is
 * created.  0, DM_ECONFIG when neither is set, or -ENAMETOOLONG. */
int dm_user_cache_path(const char *name, char *out, size_t len);

/* rm -rf dir: what can be removed is, errors are ignored (a cleanup). */
void dm_rm_tree(const char *dir);

/* Copies what is left of from into to (copy_file_range, else read and
 * write).  0 or -errno. */
int dm_copy_fd(int from, int to);

#endif
