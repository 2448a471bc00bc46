/*
 * test_toolchain.c: lib/toolchain.c against the real compilers of this
 * machine (gcc 12, clang 14 in /usr/bin): roles from the invoked name,
 * ids that follow behaviour and not paths, and refusal of programs that
 * are not gcc or clang.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../lib/buf.h"
#include "../../lib/err.h"
#include "../../lib/spawn.h"
#include "../../lib/toolchain.h"
#include "tap.h"

static struct dm_toolchain *
ident(const char *name, const char *path)
{
	struct dm_toolchain *tc = calloc(1, sizeof(*tc));
	int rc;

	if (tc == NULL)
		tap_fail(__FILE__, __LINE__, "out of memory");
	if ((rc = dm_toolchain_identify(name, path, tc)) != 0)
		tap_fail(__FILE__, __LINE__, "identify %s (%s): %s", name,
			 path, dm_strerror(rc));
	return tc;
}

static const char *
script(const char *name, const char *body)
{
	static char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tap_tmpdir(), name);
	f = fopen(path, "w");
	if (f == NULL)
		tap_fail(__FILE__, __LINE__, "fopen %s", path);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0755);
	return path;
}

/* What the compiler itself prints, first line, for comparison. */
static char *
ask(const char *cc, const char *arg)
{
	const char *argv[] = {cc, arg, NULL};
	struct dm_buf out;
	char *nl;

	dm_buf_init(&out);
	if (dm_spawn_capture(argv, &out, NULL, 0) != 0)
		tap_fail(__FILE__, __LINE__, "%s %s failed", cc, arg);
	if ((nl = strchr((char *)out.p, '\n')) != NULL)
		*nl = '\0';
	return (char *)out.p;
}

static int
is_hex_id(const char *id)
{
	if (strlen(id) != DM_TOOLCHAIN_ID_LEN)
		return 0;
	for (; *id; id++)
		if (!((*id >= '0' && *id <= '9') ||
		      (*id >= 'a' && *id <= 'f')))
			return 0;
	return 1;
}

TEST(toolchain_gcc_and_cc)
{
	struct dm_toolchain *gcc = ident("gcc", "/usr/bin/gcc");
	struct dm_toolchain *cc = ident("cc", "/usr/bin/cc");
	struct dm_toolchain *again = ident("gcc", "/usr/bin/gcc");
	char real[PATH_MAX];

	ASSERT_EQ_STR(gcc->role, "gcc");
	ASSERT_EQ_STR(gcc->version, ask("/usr/bin/gcc", "-dumpfullversion"));
	ASSERT_EQ_STR(gcc->machine, ask("/usr/bin/gcc", "-dumpmachine"));
	ASSERT_TRUE(is_hex_id(gcc->id));
	ASSERT_TRUE(realpath("/usr/bin/gcc", real) != NULL);
	ASSERT_EQ_STR(gcc->path, real);
	ASSERT_TRUE(strcmp(gcc->path, "/usr/bin/gcc") != 0); /* a symlink */

	/* A gcc binary invoked as cc is gcc. */
	ASSERT_EQ_STR(cc->role, "gcc");
	ASSERT_EQ_STR(cc->id, gcc->id);
	ASSERT_EQ_STR(again->id, gcc->id);
	free(gcc);
	free(cc);
	free(again);
}

TEST(toolchain_gxx_differs_from_gcc)
{
	struct dm_toolchain *gcc = ident("gcc", "/usr/bin/gcc");
	struct dm_toolchain *gxx = ident("g++", "/usr/bin/g++");
	struct dm_toolchain *cxx = ident("c++", "/usr/bin/c++");
	struct dm_toolchain *cross =
		ident("x86_64-linux-gnu-g++-12", "/usr/bin/g++");

	ASSERT_EQ_STR(gxx->role, "g++");
	ASSERT_EQ_STR(gxx->version, gcc->version);
	ASSERT_TRUE(strcmp(gxx->id, gcc->id) != 0);
	ASSERT_EQ_STR(cxx->role, "g++");
	ASSERT_EQ_STR(cxx->id, gxx->id);
	ASSERT_EQ_STR(cross->role, "g++");
	ASSERT_EQ_STR(cross->id, gxx->id);
	free(gcc);
	free(gxx);
	free(cxx);
	free(cross);
}

TEST(toolchain_clang)
{
	struct dm_toolchain *gcc = ident("gcc", "/usr/bin/gcc");
	struct dm_toolchain *clang = ident("clang", "/usr/bin/clang");
	struct dm_toolchain *clangxx = ident("clang++", "/usr/bin/clang++");
	struct dm_toolchain *clang14 = ident("clang-14", "/usr/bin/clang-14");
	char want[64];

	ASSERT_EQ_STR(clang->role, "clang");
	ASSERT_EQ_STR(clangxx->role, "clang++");
	ASSERT_EQ_STR(clang->machine, ask("/usr/bin/clang", "-dumpmachine"));
	/* The banner's version is the one -dumpversion gives. */
	snprintf(want, sizeof(want), "%s",
		 ask("/usr/bin/clang", "-dumpversion"));
	ASSERT_EQ_STR(clang->version, want);
	ASSERT_TRUE(is_hex_id(clang->id));
	ASSERT_TRUE(strcmp(clang->id, gcc->id) != 0);
	ASSERT_TRUE(strcmp(clang->id, clangxx->id) != 0);
	ASSERT_EQ_STR(clang14->id, clang->id);
	ASSERT_EQ_STR(clang14->path, clang->path);
	free(gcc);
	free(clang);
	free(clangxx);
	free(clang14);
}

TEST(toolchain_family_from_behaviour_not_name)
{
	struct dm_toolchain *gcc = ident("gcc", "/usr/bin/gcc");
	struct dm_toolchain *clang = ident("clang", "/usr/bin/clang");
	struct dm_toolchain *g_as_clang = ident("clang", "/usr/bin/gcc");
	struct dm_toolchain *c_as_cc = ident("cc", "/usr/bin/clang");
	struct dm_toolchain *c_as_cxx = ident("c++", "/usr/bin/clang");

	ASSERT_EQ_STR(g_as_clang->role, "gcc");
	ASSERT_EQ_STR(g_as_clang->id, gcc->id);
	ASSERT_EQ_STR(c_as_cc->role, "clang");
	ASSERT_EQ_STR(c_as_cc->id, clang->id);
	ASSERT_EQ_STR(c_as_cxx->role, "clang++");
	free(gcc);
	free(clang);
	free(g_as_clang);
	free(c_as_cc);
	free(c_as_cxx);
}

TEST(toolchain_wrapper_script_is_its_compiler)
{
	struct dm_toolchain *gcc = ident("gcc", "/usr/bin/gcc");
	const char *wrapper = script("gcc", "exec /usr/bin/gcc \"$@\"");
	struct dm_toolchain *w = ident("gcc", wrapper);
	const char *nopie =
		script("gcc-nopie", "exec /usr/bin/gcc -fno-pie \"$@\"");
	struct dm_toolchain *np = ident("gcc", nopie);
	char real[PATH_MAX];

	/* Same behaviour, same id, wherever it lives. */
	ASSERT_EQ_STR(w->id, gcc->id);
	ASSERT_TRUE(realpath(tap_tmpdir(), real) != NULL);
	strcat(real, "/gcc");
	ASSERT_EQ_STR(w->path, real);
	/* A different default (no PIE) is a different toolchain. */
	ASSERT_EQ_STR(np->version, gcc->version);
	ASSERT_TRUE(strcmp(np->id, gcc->id) != 0);
	free(gcc);
	free(w);
	free(np);
}

TEST(toolchain_driver_defaults_count)
{
	/* -fno-plt and -fstack-clash-protection change no predefined macro:
	 * only the options the driver hands cc1 (-###) tell these apart,
	 * and code compiled by them differs. */
	struct dm_toolchain *gcc = ident("gcc", "/usr/bin/gcc");
	struct dm_toolchain *noplt = ident(
		"gcc", script("gcc-noplt", "exec /usr/bin/gcc -fno-plt \"$@\""));
	struct dm_toolchain *clash = ident(
		"gcc", script("gcc-clash",
			      "exec /usr/bin/gcc -fstack-clash-protection \"$@\""));

	ASSERT_TRUE(strcmp(noplt->id, gcc->id) != 0);
	ASSERT_TRUE(strcmp(clash->id, gcc->id) != 0);
	ASSERT_TRUE(strcmp(clash->id, noplt->id) != 0);
	free(gcc);
	free(noplt);
	free(clash);
}

TEST(toolchain_refuses_non_compilers)
{
	struct dm_toolchain tc;
	const char *s;

	ASSERT_EQ_INT(dm_toolchain_identify("gcc", "/bin/true", &tc),
		      DM_ENOTOOLCHAIN);
	ASSERT_EQ_INT(tc.id[0], '\0');
	ASSERT_EQ_INT(dm_toolchain_identify("gcc", "/bin/false", &tc),
		      DM_ENOTOOLCHAIN);
	s = script("nonsense", "echo 'frobnicator 1.0'");
	ASSERT_EQ_INT(dm_toolchain_identify("gcc", s, &tc), DM_ENOTOOLCHAIN);
	/* A banner alone is not enough: the macros must agree. */
	s = script("fake-clang",
		   "echo 'clang version 99.1.2'; echo '#define X 1'");
	ASSERT_EQ_INT(dm_toolchain_identify("clang", s, &tc), DM_ENOTOOLCHAIN);
	s = script("fake-gcc", "echo 'gcc (GCC) 12.2.0'");
	ASSERT_EQ_INT(dm_toolchain_identify("gcc", s, &tc), DM_ENOTOOLCHAIN);
	/* A preprocessor is a gcc binary but not a compiler of jobs. */
	ASSERT_EQ_INT(dm_toolchain_identify("cpp", "/usr/bin/gcc", &tc),
		      DM_ENOTOOLCHAIN);
	ASSERT_EQ_INT(dm_toolchain_identify("gcc", "/nonexistent/gcc", &tc),
		      -ENOENT);
}

TEST(toolchain_format)
{
	struct dm_toolchain *gcc = ident("gcc", "gcc"); /* found on PATH */
	char line[512], want[512], tiny[16];

	ASSERT_TRUE(gcc->path[0] == '/');
	ASSERT_OK(dm_toolchain_format(gcc, line, sizeof(line)));
	snprintf(want, sizeof(want), "%s gcc %s %s", gcc->id, gcc->version,
		 gcc->machine);
	ASSERT_EQ_STR(line, want);
	ASSERT_TRUE(dm_toolchain_format(gcc, tiny, sizeof(tiny)) < 0);
	free(gcc);
}

/* Whether progs (NUL-separated) holds a word ending in tail. */
static int
has_prog(const struct dm_buf *progs, const char *tail)
{
	for (size_t off = 0; off < progs->len;) {
		const char *w = (const char *)progs->p + off;
		size_t n = strlen(w), t = strlen(tail);

		if (n >= t && strcmp(w + n - t, tail) == 0)
			return 1;
		off += n + 1;
	}
	return 0;
}

TEST(toolchain_programs_the_driver_runs)
{
	struct dm_toolchain *gcc = ident("gcc", "/usr/bin/gcc");
	struct dm_toolchain tc;
	struct dm_buf progs;
	char real[PATH_MAX];

	dm_buf_init(&progs);
	ASSERT_OK(dm_toolchain_identify_progs("gcc", "/usr/bin/gcc", &tc,
					      &progs));
	ASSERT_EQ_STR(tc.id, gcc->id);
	ASSERT_TRUE(has_prog(&progs, "/cc1"));
	ASSERT_TRUE(!has_prog(&progs, "/cc1plus"));
	ASSERT_TRUE(has_prog(&progs, "as")); /* bare or a path */
	dm_buf_reset(&progs);
	ASSERT_OK(dm_toolchain_identify_progs("g++", "/usr/bin/g++", &tc,
					      &progs));
	ASSERT_TRUE(has_prog(&progs, "/cc1plus"));
	/* clang is its own compiler: -cc1 runs the driver's binary. */
	dm_buf_reset(&progs);
	ASSERT_OK(dm_toolchain_identify_progs("clang", "/usr/bin/clang", &tc,
					      &progs));
	ASSERT_TRUE(realpath("/usr/bin/clang", real) != NULL);
	ASSERT_TRUE(has_prog(&progs, real));
	ASSERT_OK(dm_toolchain_resolve("clang", real));
	ASSERT_EQ_STR(real, tc.path);
	dm_buf_free(&progs);
	free(gcc);
}
