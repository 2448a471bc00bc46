/*
 * ninja.c: ninja's command line, its version, and the gate's view of a
 * command (see ninja.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/err.h"
#include "../lib/spawn.h"
#include "ninja.h"

/* ---- arguments ---------------------------------------------------------- */

/* ninja's getopt string is "d:f:j:k:l:nt:vw:C:h"; GNU getopt permutes, so
 * options may follow targets. */
void
ninja_args_scan(char **argv, struct ninja_args *a)
{
	memset(a, 0, sizeof(*a));
	a->manifest_idx = -1;
	for (int i = 1; argv[i] != NULL; i++) {
		const char *s = argv[i];

		if (strcmp(s, "--") == 0)
			break;
		if (strcmp(s, "--version") == 0 || strcmp(s, "--help") == 0) {
			a->passthrough = 1;
			continue;
		}
		if (s[0] != '-' || s[1] == '-' || s[1] == '\0')
			continue;
		for (size_t k = 1; s[k] != '\0'; k++) {
			char c = s[k];
			const char *val;
			int joined;

			if (strchr("dfjkltwC", c) == NULL) {
				if (c == 'n' || c == 'h')
					a->passthrough = 1;
				continue;
			}
			/* The rest of the word, or the next argument. */
			joined = s[k + 1] != '\0';
			val = joined ? s + k + 1 : argv[i + 1];
			if (!joined && val != NULL)
				i++;
			if (c == 'C')
				a->dir = val;
			else if (c == 'f') {
				a->manifest = val;
				a->manifest_idx = i;
				a->manifest_off = joined ? k + 1 : 0;
			} else if (c == 'j')
				a->has_j = 1;
			else if (c == 't')
				a->passthrough = 1;
			break;
		}
	}
}

/* ---- version ------------------------------------------------------------ */

int
ninja_parse_version(const char *text, int *major, int *minor)
{
	char *end;
	long ma, mi;

	while (isspace((unsigned char)*text))
		text++;
	if (!isdigit((unsigned char)*text))
		return -1;
	ma = strtol(text, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]))
		return -1;
	mi = strtol(end + 1, &end, 10);
	if (ma > 1000 || mi > 1000)
		return -1;
	*major = (int)ma;
	*minor = (int)mi;
	return 0;
}

int
ninja_version(const char *ninja, int *major, int *minor)
{
	const char *argv[] = {ninja, "--version", NULL};
	struct dm_buf out;
	int rc;

	dm_buf_init(&out);
	rc = dm_spawn_capture(argv, &out, NULL, 10000);
	if (rc == 0 &&
	    ninja_parse_version(dm_buf_cstr(&out), major, minor) != 0)
		rc = DM_ECONFIG;
	else if (rc == DM_ECHILD)
		rc = DM_ECONFIG; /* samurai: "usage: ..." and status 2 */
	dm_buf_free(&out);
	return rc;
}

int
ninja_has_jobserver(int major, int minor)
{
	return major > 1 || (major == 1 && minor >= 13);
}

/* ---- the gate's view of a command --------------------------------------- */

int
ninja_gate_parent_command(int ppid, char **cmd)
{
	char path[64], *mark;
	struct dm_buf b;
	ssize_t n;
	size_t a1, a2;
	int fd, rc = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", ppid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	dm_buf_init(&b);
	for (;;) {
		uint8_t *p = dm_buf_grow(&b, 65536);

		if (p == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		n = read(fd, p, 65536);
		if (n < 0 && errno == EINTR)
			n = 0;
		else if (n < 0) {
			rc = -errno;
			goto out;
		}
		b.len -= 65536 - (size_t)n;
		if (n == 0)
			break;
	}
	dm_buf_cstr(&b);
	/* argv: SHELL, "-c", COMMAND. */
	a1 = strnlen((char *)b.p, b.len) + 1;
	if (a1 >= b.len || strcmp((char *)b.p + a1, "-c") != 0)
		goto out;
	a2 = a1 + 3;
	if (a2 >= b.len)
		goto out;
	if ((mark = strstr((char *)b.p + a2, NINJA_GATE_MARK)) == NULL)
		goto out;
	if ((*cmd = strdup(mark + strlen(NINJA_GATE_MARK))) == NULL)
		rc = -ENOMEM;
	else
		rc = 0;
out:
	close(fd);
	dm_buf_free(&b);
	return rc;
}

int
ninja_is_compiler_name(const char *name)
{
	static const char *const drivers[] = {"c++", "g++",	"gcc",
					      "cc",  "clang++", "clang"};
	char base[256];
	size_t n = strlen(name);

	/* The shim's own name reads like a target-prefixed `cc`. */
	if (n == 0 || n >= sizeof(base) || strcmp(name, NINJA_SHIM_NAME) == 0)
		return 0;
	memcpy(base, name, n + 1);
	/* A version suffix: gcc-12, clang-14, clang++-14, gcc-12.2. */
	for (size_t i = n; i > 0; i--) {
		if (base[i - 1] == '-') {
			int digits = i < n;

			for (size_t k = i; k < n; k++)
				if (!isdigit((unsigned char)base[k]) &&
				    base[k] != '.')
					digits = 0;
			if (digits)
				base[i - 1] = '\0';
			break;
		}
	}
	n = strlen(base);
	for (size_t d = 0; d < sizeof(drivers) / sizeof(drivers[0]); d++) {
		size_t l = strlen(drivers[d]);

		if (n == l && strcmp(base, drivers[d]) == 0)
			return 1;
		/* A target prefix: x86_64-linux-gnu-gcc. */
		if (n > l + 1 && base[n - l - 1] == '-' &&
		    strcmp(base + n - l, drivers[d]) == 0)
			return 1;
	}
	return 0;
}

/* The next blank-separated word of *p into out, *p moved past it.  0, or
 * -1 when there is none or it does not fit. */
static int
next_word(const char **p, char *out, size_t len)
{
	const char *w;
	size_t n;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	w = *p;
	while (**p != '\0' && **p != ' ' && **p != '\t')
		(*p)++;
	n = (size_t)(*p - w);
	if (n == 0 || n >= len)
		return -1;
	memcpy(out, w, n);
	out[n] = '\0';
	return 0;
}

/* A word the shell would take as it is: no quoting, expansion, pattern,
 * assignment or newline that would make our splitting differ from its
 * own. */
static int
plain_word(const char *w)
{
	return strpbrk(w, "'\"\\$`=*?[~{\n") == NULL;
}

static const char *
basename_of(const char *w)
{
	const char *slash = strrchr(w, '/');

	return slash != NULL ? slash + 1 : w;
}

/* NAME=VALUE with a plain NAME and VALUE. */
static int
assignment_word(const char *w)
{
	const char *eq = strchr(w, '=');

	if (eq == NULL || eq == w || isdigit((unsigned char)w[0]))
		return 0;
	for (const char *c = w; c < eq; c++)
		if (!isalnum((unsigned char)*c) && *c != '_')
			return 0;
	return plain_word(eq + 1);
}

/* 1 when the rest of the command, from p, holds no shell operator outside
 * quotes and closes its quotes: one simple command (redirections are
 * allowed). */
static int
one_simple_command(const char *p)
{
	int sq = 0, dq = 0;

	for (; *p != '\0'; p++) {
		char c = *p;

		if (sq) {
			sq = c != '\'';
			continue;
		}
		if (c == '\\') {
			if (p[1] == '\n')
				return 0;
			if (p[1] != '\0')
				p++;
			continue;
		}
		if (dq) {
			if (c == '"')
				dq = 0;
			else if (c == '`' || (c == '$' && p[1] == '('))
				return 0;
			continue;
		}
		switch (c) {
		case '\'':
			sq = 1;
			break;
		case '"':
			dq = 1;
			break;
		case ';':
		case '&':
		case '|':
		case '(':
		case ')':
		case '`':
		case '\n':
			return 0;
		case '$':
			if (p[1] == '(')
				return 0;
			break;
		default:
			break;
		}
	}
	return !sq && !dq;
}

enum ninja_cmd
ninja_command_kind(const char *cmd)
{
	const char *p = cmd;
	char w[4096];
	int prefixed = 0;

	if (next_word(&p, w, sizeof(w)) != 0)
		return NINJA_CMD_LOCAL;
	/* `env A=1 B=2` or `A=1 B=2` only set the program's environment.
	 * They may come before the shim alone: the gate runs that command
	 * as it is, but puts dmake-cc in front of a bare compiler call,
	 * which would be in front of the assignments. */
	if (plain_word(w) && strcmp(basename_of(w), "env") == 0) {
		prefixed = 1;
		if (next_word(&p, w, sizeof(w)) != 0)
			return NINJA_CMD_LOCAL;
	}
	while (assignment_word(w)) {
		prefixed = 1;
		if (next_word(&p, w, sizeof(w)) != 0)
			return NINJA_CMD_LOCAL;
	}
	if (!plain_word(w))
		return NINJA_CMD_LOCAL;
	if (strcmp(basename_of(w), NINJA_SHIM_NAME) == 0) {
		/* A launcher (CMAKE_<LANG>_COMPILER_LAUNCHER=dmake-cc): the
		 * compiler is the next word, as the shim reads it. */
		if (next_word(&p, w, sizeof(w)) != 0 || !plain_word(w) ||
		    !ninja_is_compiler_name(basename_of(w)))
			return NINJA_CMD_LOCAL;
		return one_simple_command(p) ? NINJA_CMD_SHIM
					     : NINJA_CMD_LOCAL;
	}
	if (prefixed || !ninja_is_compiler_name(basename_of(w)))
		return NINJA_CMD_LOCAL;
	return one_simple_command(p) ? NINJA_CMD_COMPILER : NINJA_CMD_LOCAL;
}
