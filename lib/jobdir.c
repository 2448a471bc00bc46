/*
 * jobdir.c: the node's half of the fidelity recipe.
 *
 * Layout under a fresh ROOT (base/job-XXXXXX, resolved so that it is what
 * getcwd() will say):
 *
 *   ROOT/c/w/w...   the compiler's cwd, one "w" per level the source
 *                   climbs above the client's cwd ("../../src/a.c" needs
 *                   two), so every relative name resolves inside ROOT/c
 *   ROOT/c/...      a relative source's unit, at its own name
 *   ROOT/a/PATH     an absolute source's unit (the compiler is given
 *                   ROOT/a/PATH, mapped back to PATH)
 *   ROOT/NAME.o     the object
 *
 * The compiler gets the relative source name exactly as the client's
 * command line had it, so DW_AT_name, __FILE__ and the line table name
 * the same file, and -fdebug-prefix-map turns the job's cwd (comp_dir)
 * back into the client's.  Our maps come last: gcc tries the last map
 * first, clang the greatest old prefix first (measured: gcc 12, clang
 * 14), and ours, being the job's own paths, are never shadowed by the
 * user's.  The user's maps still apply to the client paths we map to, so
 * the new side of our maps is the client path already remapped by the
 * user's maps, with the compiler's own precedence.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "jobdir.h"

#define MAX_LEVELS 64

/* out = a/b */
static int
join(char *out, size_t len, const char *a, const char *b)
{
	int n = snprintf(out, len, "%s/%s", a, b);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int
make_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int
dm_jobdir_levels_above(const char *source)
{
	int depth = 0, low = 0;
	const char *s = source;

	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);

		if (n == 2 && s[0] == '.' && s[1] == '.')
			depth--;
		else if (n > 0 && !(n == 1 && s[0] == '.'))
			depth++;
		if (depth < low)
			low = depth;
		if (e == NULL)
			break;
		s = e + 1;
	}
	return -low;
}

/* Creates every directory `name` walks through, starting at `dir`
 * (which it may leave only as far as `floor`), and writes the resolved
 * file path into `out`. */
static int
walk(const char *dir, const char *floor, const char *name, char *out,
     size_t len)
{
	char cur[PATH_MAX];
	const char *s = name;
	size_t floor_len = strlen(floor);
	int rc;

	if (strlen(dir) >= sizeof(cur))
		return -ENAMETOOLONG;
	strcpy(cur, dir);
	for (;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);

		if (e == NULL) {
			if (n == 0 || (n == 1 && s[0] == '.') ||
			    (n == 2 && s[0] == '.' && s[1] == '.'))
				return DM_EPROTO;
			return join(out, len, cur, s);
		}
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			char *slash = strrchr(cur, '/');

			if (slash == NULL || (size_t)(slash - cur) < floor_len)
				return DM_EPROTO;
			*slash = '\0';
		} else if (n > 0 && !(n == 1 && s[0] == '.')) {
			size_t l = strlen(cur);

			if (l + 1 + n >= sizeof(cur))
				return -ENAMETOOLONG;
			cur[l] = '/';
			memcpy(cur + l + 1, s, n);
			cur[l + 1 + n] = '\0';
			if ((rc = make_dir(cur)) != 0)
				return rc;
		}
		s = e + 1;
	}
}

static int
plausible(const char *client_cwd, const char *source)
{
	if (client_cwd[0] != '/' || strlen(client_cwd) >= PATH_MAX ||
	    source[0] == '\0' || strlen(source) >= PATH_MAX)
		return 0;
	if (strchr(client_cwd, '\n') != NULL || strchr(source, '\n') != NULL)
		return 0;
	return 1;
}

int
dm_jobdir_create(const char *base, const char *client_cwd, const char *source,
		 struct dm_jobdir *jd)
{
	char real[PATH_MAX], dir[PATH_MAX];
	const char *stem, *dot;
	int levels = 0, rc;

	memset(jd, 0, sizeof(*jd));
	if (!plausible(client_cwd, source))
		return DM_EPROTO;
	if (source[0] != '/' &&
	    ((levels = dm_jobdir_levels_above(source)) < 0 || levels > MAX_LEVELS))
		return DM_EPROTO;
	/* getcwd() in the job will name the resolved path: the prefix map
	 * must too.  '=' would end the map's old prefix early. */
	if (realpath(base, real) == NULL)
		return -errno;
	if (strchr(real, '=') != NULL)
		return -EINVAL;
	if ((rc = join(jd->root, sizeof(jd->root), real, "job-XXXXXX")) != 0)
		return rc;
	if (mkdtemp(jd->root) == NULL) {
		rc = -errno;
		jd->root[0] = '\0';
		return rc;
	}
	snprintf(jd->client_cwd, sizeof(jd->client_cwd), "%s", client_cwd);
	snprintf(jd->source, sizeof(jd->source), "%s", source);
	if ((rc = join(jd->cwd, sizeof(jd->cwd), jd->root, "c")) != 0)
		goto err_after_root;
	if ((rc = make_dir(jd->cwd)) != 0)
		goto err_after_root;
	for (int i = 0; i < levels; i++) {
		size_t l = strlen(jd->cwd);

		if (l + 2 >= sizeof(jd->cwd)) {
			rc = -ENAMETOOLONG;
			goto err_after_root;
		}
		strcpy(jd->cwd + l, "/w");
		if ((rc = make_dir(jd->cwd)) != 0)
			goto err_after_root;
	}
	if (source[0] == '/') {
		if ((rc = join(dir, sizeof(dir), jd->root, "a")) != 0 ||
		    (rc = make_dir(dir)) != 0 ||
		    (rc = walk(dir, dir, source + 1, jd->unit,
			       sizeof(jd->unit))) != 0)
			goto err_after_root;
	} else {
		if ((rc = join(dir, sizeof(dir), jd->root, "c")) != 0 ||
		    (rc = walk(jd->cwd, dir, source, jd->unit,
			       sizeof(jd->unit))) != 0)
			goto err_after_root;
	}
	stem = strrchr(source, '/') ? strrchr(source, '/') + 1 : source;
	dot = strrchr(stem, '.');
	rc = snprintf(
		jd->object, sizeof(jd->object), "%s/%.*s.o", jd->root,
		(int)(dot && dot != stem ? dot - stem : (long)strlen(stem)),
		stem);
	if (rc < 0 || (size_t)rc >= sizeof(jd->object)) {
		rc = -ENAMETOOLONG;
		goto err_after_root;
	}
	memcpy(jd->object_arg, jd->object, sizeof(jd->object_arg));
	return 0;

err_after_root:
	dm_jobdir_remove(jd);
	return rc;
}

int
dm_jobdir_name_object(struct dm_jobdir *jd, const char *name)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = dm_jobdir_place(jd, name, path, sizeof(path))) != 0)
		return rc;
	memcpy(jd->object, path, sizeof(jd->object));
	snprintf(jd->object_arg, sizeof(jd->object_arg), "%s", name);
	return 0;
}

int
dm_jobdir_dwo_name(const char *object, char *out, size_t len)
{
	const char *stem = strrchr(object, '/');
	const char *dot;
	size_t keep;

	stem = stem ? stem + 1 : object;
	dot = strrchr(stem, '.');
	keep = dot && dot != stem ? (size_t)(dot - object) : strlen(object);
	if (keep + 5 > len)
		return -ENAMETOOLONG;
	memcpy(out, object, keep);
	memcpy(out + keep, ".dwo", 5);
	return 0;
}

int
dm_jobdir_place(const struct dm_jobdir *jd, const char *path, char *out,
		size_t len)
{
	char floor[PATH_MAX];
	int rc;

	if (path[0] == '/' || path[0] == '\0' || strlen(path) >= PATH_MAX ||
	    strchr(path, '\n') != NULL)
		return DM_EPROTO;
	if ((rc = join(floor, sizeof(floor), jd->root, "c")) != 0)
		return rc;
	return walk(jd->cwd, floor, path, out, len);
}

/* ---- the compiler's argv ---------------------------------------------- */

static int
is_clang(const char *compiler)
{
	const char *b = strrchr(compiler, '/');
	char real[PATH_MAX];

	if (strstr(b ? b + 1 : compiler, "clang") != NULL)
		return 1;
	if (realpath(compiler, real) == NULL)
		return 0;
	b = strrchr(real, '/');
	return strstr(b ? b + 1 : real, "clang") != NULL;
}

/* The user's debug prefix map value in `flag`, or NULL. */
static const char *
user_map(const char *flag)
{
	static const char *const names[] = {"-fdebug-prefix-map=",
					    "-ffile-prefix-map="};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(flag, names[i], strlen(names[i])) == 0 &&
		    strchr(flag + strlen(names[i]), '=') != NULL)
			return flag + strlen(names[i]);
	return NULL;
}

/* `path` as the client's compiler would record it after the user's own
 * maps: gcc applies the last matching map given, clang the matching map
 * with the greatest old prefix. */
static char *
user_remap(const char *path, const char *const *flags, size_t n, int clang)
{
	const char *best = NULL;
	size_t best_len = 0;
	char *out;

	for (size_t i = 0; i < n; i++) {
		const char *m = user_map(flags[i]);
		size_t old;

		if (m == NULL)
			continue;
		old = (size_t)(strchr(m, '=') - m);
		if (old == 0 || strncmp(path, m, old) != 0)
			continue;
		if (best == NULL || !clang)
			best = m, best_len = old;
		else if (strncmp(m, best, old < best_len ? old : best_len) >
				 0 ||
			 (strncmp(m, best, old < best_len ? old : best_len) ==
				  0 &&
			  old > best_len))
			best = m, best_len = old;
	}
	if (best == NULL)
		return strdup(path);
	if ((out = malloc(strlen(best) + strlen(path) + 1)) == NULL)
		return NULL;
	sprintf(out, "%s%s", best + best_len + 1, path + best_len);
	return out;
}

static char *
prefix_map(const char *old, const char *path, const char *const *flags,
	   size_t n, int clang)
{
	char *new = user_remap(path, flags, n, clang), *s;

	if (new == NULL)
		return NULL;
	s = malloc(strlen(old) + strlen(new) + 22);
	if (s != NULL)
		sprintf(s, "-fdebug-prefix-map=%s=%s", old, new);
	free(new);
	return s;
}

int
dm_jobdir_argv(const struct dm_jobdir *jd, const char *compiler,
	       const char *const *flags, size_t n_flags, char ***argv)
{
	size_t n = 0;
	char **v = calloc(n_flags + 9, sizeof(*v));
	char src[PATH_MAX];
	int clang = is_clang(compiler), rc = -ENOMEM;

	if (v == NULL)
		return -ENOMEM;
	if (jd->source[0] == '/') {
		if ((rc = join(src, sizeof(src), jd->root, "a")) != 0 ||
		    strlen(src) + strlen(jd->source) >= sizeof(src)) {
			rc = rc ? rc : -ENAMETOOLONG;
			goto err_after_argv;
		}
		strcat(src, jd->source);
		rc = -ENOMEM;
	} else {
		snprintf(src, sizeof(src), "%s", jd->source);
	}
	if ((v[n++] = strdup(compiler)) == NULL)
		goto err_after_argv;
	for (size_t i = 0; i < n_flags; i++)
		if ((v[n++] = strdup(flags[i])) == NULL)
			goto err_after_argv;
	if ((v[n++] = prefix_map(jd->cwd, jd->client_cwd, flags, n_flags,
				 clang)) == NULL)
		goto err_after_argv;
	if (jd->source[0] == '/' &&
	    (v[n++] = prefix_map(src, jd->source, flags, n_flags, clang)) ==
		    NULL)
		goto err_after_argv;
	if ((v[n++] = strdup("-c")) == NULL ||
	    (v[n++] = strdup(src)) == NULL ||
	    (v[n++] = strdup("-o")) == NULL ||
	    (v[n++] = strdup(jd->object_arg)) == NULL)
		goto err_after_argv;
	*argv = v;
	return 0;

err_after_argv:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return rc;
}

void
dm_jobdir_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (size_t i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void
dm_jobdir_remove(struct dm_jobdir *jd)
{
	if (jd->root[0] == '\0')
		return;
	nftw(jd->root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	jd->root[0] = '\0';
}
