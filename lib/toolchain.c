/*
 * toolchain.c: a compiler's identity from what it does (see toolchain.h).
 *
 * The compiler is asked, never trusted by name or path: `--version` for
 * the driver family, `-dumpmachine` for the target, `-dumpfullversion` (gcc)
 * or the `--version` banner (clang) for the version, `-dM -E` on an
 * empty input, in the role's language, for the predefined macros, which
 * carry the defaults that change code (PIE, -std, arch, ABI), and `-###`
 * for the options the driver hands its cc1 and as.  The macros
 * must also agree with the family (__GNUC__ without __clang__ for gcc,
 * __clang__ for clang), so a program that merely prints a plausible banner
 * is refused.
 *
 * The name it was invoked by only picks the language: gcc, cc and
 * x86_64-linux-gnu-gcc-12 compile C, g++ and c++ compile C++.  A gcc
 * invoked as clang is still gcc.
 */
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "spawn.h"
#include "toolchain.h"

extern char **environ;

#define ID_SCHEME DM_TOOLCHAIN_SCHEME "\n"

/* Each query is a fraction of a second; this only bounds a hung one. */
#define QUERY_TIMEOUT_MS 20000

enum family { FAMILY_GCC, FAMILY_CLANG };

static const char *
base_name(const char *s)
{
	const char *slash = strrchr(s, '/');

	return slash ? slash + 1 : s;
}

/* cpp, clang-cpp-14, x86_64-linux-gnu-cpp-12: a gcc or clang binary, but
 * a preprocessor, not a compiler of jobs. */
static int
is_preprocessor_name(const char *base)
{
	return strcmp(base, "cpp") == 0 || strncmp(base, "cpp-", 4) == 0 ||
	       strstr(base, "-cpp") != NULL;
}

/* The environment for the queries: the caller's, in the C locale so that
 * the banners parse the same everywhere.  NULL on -ENOMEM. */
static char **
query_env(char *const *base)
{
	size_t n = 0, k = 0;
	char **env;

	while (base[n] != NULL)
		n++;
	if ((env = calloc(n + 2, sizeof(*env))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(base[i], "LC_ALL=", 7) == 0 ||
		    strncmp(base[i], "LANG=", 5) == 0 ||
		    strncmp(base[i], "LANGUAGE=", 9) == 0)
			continue;
		env[k++] = base[i];
	}
	env[k++] = "LC_ALL=C";
	env[k] = NULL;
	return env;
}

/* Runs `path args...` and collects its stdout.  A compiler that cannot
 * answer (fails, dies, hangs) is not a toolchain; one that cannot be run
 * at all is an error (-ENOENT, -EACCES...). */
static int
query_fd(const char *path, char **env, const struct dm_toolchain_runner *run,
	 const char *const *args, struct dm_buf *out, int from_stderr)
{
	const char *argv[12];
	struct dm_spawn_opts o = {
		.argv = argv,
		.envp = env,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = -1,
		.timeout_ms = QUERY_TIMEOUT_MS,
	};
	struct dm_spawn_result r;
	size_t n = 0;
	int rc;

	/* argv[0] is the path: gcc finds its own installation from it, and
	 * a bare name would send it searching PATH for another gcc. */
	argv[n++] = path;
	while (*args != NULL && n < sizeof(argv) / sizeof(argv[0]) - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	dm_buf_reset(out);
	if (run != NULL && run->prepare != NULL)
		run->prepare(run->arg, &o);
	if ((rc = dm_spawn_run_capture(&o, &r, from_stderr ? NULL : out,
				       from_stderr ? out : NULL)) != 0)
		return rc;
	if (r.exit_code != 0 || r.signal != 0 || r.timed_out)
		return DM_ENOTOOLCHAIN;
	return 0;
}

static int
query(const char *path, char **env, const struct dm_toolchain_runner *run,
      const char *const *args, struct dm_buf *out)
{
	return query_fd(path, env, run, args, out, 0);
}

int
dm_toolchain_driver_words(char *text, dm_driver_word_fn fn, void *ctx)
{
	char *save = NULL, *line;
	int rc;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		int first = 1;

		if (line[0] != ' ')
			continue;
		for (char *p = line;;) {
			char *w;

			while (*p == ' ')
				p++;
			if (*p == '\0')
				break;
			if (*p == '"') {
				w = ++p;
				while (*p != '\0' && *p != '"')
					p++;
			} else {
				w = p;
				while (*p != '\0' && *p != ' ')
					p++;
			}
			if (*p != '\0')
				*p++ = '\0';
			if ((rc = fn(ctx, w, first)) != 0)
				return rc;
			first = 0;
		}
		if ((rc = fn(ctx, NULL, 0)) != 0)
			return rc;
	}
	return 0;
}

/* Hashes the options of the commands `-###` prints: the defaults the
 * driver passes to cc1 and as (-march, -mtune, PIE, -fasynchronous-
 * unwind-tables...).  The program of each command and every word that
 * holds a '/' are left out: they name where the compiler is installed
 * and the temporary files of this run, not what it does.  The programs
 * go to progs when the caller wants them. */
struct driver_hash {
	crypto_generichash_state *st;
	struct dm_buf *progs;
};

static int
hash_word(void *ctx, const char *w, int first)
{
	struct driver_hash *d = ctx;

	if (w == NULL)
		crypto_generichash_update(d->st, (const unsigned char *)"\n",
					  1);
	else if (first && d->progs != NULL)
		return dm_buf_append(d->progs, w, strlen(w) + 1);
	else if (!first && strchr(w, '/') == NULL)
		crypto_generichash_update(d->st, (const unsigned char *)w,
					  strlen(w) + 1);
	return 0;
}

static int
hash_driver(crypto_generichash_state *st, struct dm_buf *b,
	    struct dm_buf *progs)
{
	struct driver_hash d = {st, progs};
	char *s = dm_buf_cstr(b);

	if (s == NULL)
		return -ENOMEM;
	return dm_toolchain_driver_words(s, hash_word, &d);
}

/* Copies the first line of s, trimmed, into dst; DM_ENOTOOLCHAIN when it
 * is empty, too long or holds characters no version or triple has. */
static int
first_word(const char *s, char *dst, size_t len)
{
	size_t n = 0;

	if (s == NULL)
		return -ENOMEM; /* from dm_buf_cstr() */
	while (*s == ' ' || *s == '\t')
		s++;
	while (s[n] != '\0' && s[n] != '\n' && s[n] != ' ' && s[n] != '\t' &&
	       s[n] != '\r')
		n++;
	if (n == 0 || n >= len)
		return DM_ENOTOOLCHAIN;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || c == '.' || c == '_' ||
		      c == '-' || c == '+'))
			return DM_ENOTOOLCHAIN;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int
cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits the `-dM -E` output into lines in place and sorts them: gcc
 * prints its macros in hash-table order, which is not promised to be
 * stable across builds of the same compiler.  *lines is malloc'd. */
static int
sort_macros(struct dm_buf *b, char ***lines, size_t *count)
{
	char *s = dm_buf_cstr(b), *save = NULL, *line;
	size_t n = 0, cap = 0;
	char **v = NULL;

	if (s == NULL)
		return -ENOMEM;
	for (line = strtok_r(s, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (n == cap) {
			char **nv;

			cap = cap ? cap * 2 : 512;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = line;
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_lines);
	*lines = v;
	*count = n;
	return 0;
}

static int
has_macro(char **lines, size_t n, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < n; i++)
		if (strncmp(lines[i], "#define ", 8) == 0 &&
		    strncmp(lines[i] + 8, name, len) == 0 &&
		    (lines[i][8 + len] == ' ' || lines[i][8 + len] == '\0'))
			return 1;
	return 0;
}

int
dm_toolchain_resolve(const char *path, char *out)
{
	char cand[PATH_MAX];
	const char *p, *end;

	if (strchr(path, '/') != NULL)
		return realpath(path, out) ? 0 : -errno;
	p = getenv("PATH");
	if (p == NULL)
		p = "/bin:/usr/bin";
	for (;; p = end + 1) {
		size_t dlen;

		end = strchr(p, ':');
		dlen = end ? (size_t)(end - p) : strlen(p);
		if (snprintf(cand, sizeof(cand), "%.*s%s%s", (int)dlen, p,
			     dlen ? "/" : "", path) < (int)sizeof(cand) &&
		    access(cand, X_OK) == 0)
			return realpath(cand, out) ? 0 : -errno;
		if (end == NULL)
			return -ENOENT;
	}
}

static void
hash_str(crypto_generichash_state *st, const char *s)
{
	crypto_generichash_update(st, (const unsigned char *)s, strlen(s));
	crypto_generichash_update(st, (const unsigned char *)"\n", 1);
}

static int
identify(const char *name, const char *path,
	 const struct dm_toolchain_runner *run, struct dm_toolchain *tc,
	 struct dm_buf *progs)
{
	static const char *const a_version[] = {"--version", NULL};
	static const char *const a_machine[] = {"-dumpmachine", NULL};
	static const char *const a_full[] = {"-dumpfullversion", NULL};
	static const char *const a_short[] = {"-dumpversion", NULL};
	const char *a_macros[] = {"-dM", "-E", "-x", NULL, "/dev/null", NULL};
	const char *a_driver[] = {"-###", "-c",	      "-x", NULL,
				  "/dev/null", "-o", "/dev/null", NULL};
	const char *base, *banner, *v;
	unsigned char hash[32];
	crypto_generichash_state st;
	enum family fam;
	struct dm_buf out;
	char **env, **lines = NULL;
	size_t nlines = 0;
	int cxx, rc;

	memset(tc, 0, sizeof(*tc));
	if (path == NULL)
		path = name;
	if (name == NULL)
		name = path;
	if (path == NULL || *path == '\0')
		return -EINVAL;
	base = base_name(name);
	if (is_preprocessor_name(base))
		return DM_ENOTOOLCHAIN;
	cxx = strstr(base, "++") != NULL;
	if (sodium_init() < 0)
		return -ENOMEM;
	if (run != NULL) {
		if (path[0] != '/' || strlen(path) >= sizeof(tc->path))
			return -EINVAL;
		memcpy(tc->path, path, strlen(path) + 1);
	} else if ((rc = dm_toolchain_resolve(path, tc->path)) != 0) {
		return rc;
	}
	if ((env = query_env(run != NULL && run->env != NULL ? run->env
							      : environ)) ==
	    NULL)
		return -ENOMEM;
	dm_buf_init(&out);

	/* Family.  clang's banner says "clang version"; gcc's names the
	 * program as invoked (cc, x86_64-linux-gnu-gcc-12...) but always
	 * credits the FSF. */
	if ((rc = query(path, env, run, a_version, &out)) != 0)
		goto err_after_buf;
	banner = dm_buf_cstr(&out);
	if (banner == NULL) {
		rc = -ENOMEM;
		goto err_after_buf;
	}
	if ((v = strstr(banner, "clang version ")) != NULL) {
		fam = FAMILY_CLANG;
		if ((rc = first_word(v + strlen("clang version "), tc->version,
				     sizeof(tc->version))) != 0)
			goto err_after_buf;
	} else if (strstr(banner, "Free Software Foundation") != NULL ||
		   strstr(banner, "gcc") != NULL ||
		   strstr(banner, "GCC") != NULL) {
		fam = FAMILY_GCC;
	} else {
		rc = DM_ENOTOOLCHAIN;
		goto err_after_buf;
	}
	snprintf(tc->role, sizeof(tc->role), "%s%s",
		 fam == FAMILY_CLANG ? "clang" : (cxx ? "g" : "gcc"),
		 cxx ? "++" : "");

	if ((rc = query(path, env, run, a_machine, &out)) != 0 ||
	    (rc = first_word(dm_buf_cstr(&out), tc->machine,
			     sizeof(tc->machine))) != 0)
		goto err_after_buf;

	/* gcc >= 7 gives only the major number to -dumpversion. */
	if (fam == FAMILY_GCC &&
	    ((rc = query(path, env, run, a_full, &out)) != 0 ||
	     (rc = first_word(dm_buf_cstr(&out), tc->version,
			      sizeof(tc->version))) != 0) &&
	    ((rc = query(path, env, run, a_short, &out)) != 0 ||
	     (rc = first_word(dm_buf_cstr(&out), tc->version,
			      sizeof(tc->version))) != 0))
		goto err_after_buf;
	if (tc->version[0] < '0' || tc->version[0] > '9') {
		rc = DM_ENOTOOLCHAIN;
		goto err_after_buf;
	}

	a_macros[3] = cxx ? "c++" : "c";
	if ((rc = query(path, env, run, a_macros, &out)) != 0 ||
	    (rc = sort_macros(&out, &lines, &nlines)) != 0)
		goto err_after_buf;
	if (fam == FAMILY_CLANG ? !has_macro(lines, nlines, "__clang__")
				: (!has_macro(lines, nlines, "__GNUC__") ||
				   has_macro(lines, nlines, "__clang__"))) {
		rc = DM_ENOTOOLCHAIN;
		goto err_after_lines;
	}

	crypto_generichash_init(&st, NULL, 0, sizeof(hash));
	crypto_generichash_update(&st, (const unsigned char *)ID_SCHEME,
				  strlen(ID_SCHEME));
	hash_str(&st, tc->role);
	hash_str(&st, tc->version);
	hash_str(&st, tc->machine);
	for (size_t i = 0; i < nlines; i++)
		hash_str(&st, lines[i]);
	a_driver[3] = a_macros[3];
	if ((rc = query_fd(path, env, run, a_driver, &out, 1)) != 0 ||
	    (rc = hash_driver(&st, &out, progs)) != 0)
		goto err_after_lines;
	crypto_generichash_final(&st, hash, sizeof(hash));
	sodium_bin2hex(tc->id, sizeof(tc->id), hash, sizeof(hash));
	rc = 0;

err_after_lines:
	free(lines);
err_after_buf:
	dm_buf_free(&out);
	free(env);
	if (rc != 0)
		memset(tc, 0, sizeof(*tc));
	return rc;
}

int
dm_toolchain_identify(const char *name, const char *path,
		      struct dm_toolchain *tc)
{
	return identify(name, path, NULL, tc, NULL);
}

int
dm_toolchain_identify_progs(const char *name, const char *path,
			    struct dm_toolchain *tc, struct dm_buf *progs)
{
	return identify(name, path, NULL, tc, progs);
}

int
dm_toolchain_identify_in(const char *name, const char *path,
			 const struct dm_toolchain_runner *run,
			 struct dm_toolchain *tc)
{
	return identify(name, path, run, tc, NULL);
}

int
dm_toolchain_format(const struct dm_toolchain *tc, char *out, size_t len)
{
	int n = snprintf(out, len, "%s %s %s %s", tc->id, tc->role,
			 tc->version, tc->machine);

	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return DM_ETOOBIG;
	return 0;
}
