/*
 * test_elf.c: lib/elf.c against this machine's own binaries.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/elf.h"
#include "../../lib/err.h"
#include "tap.h"

TEST(elf_inspect_finds_the_interpreter)
{
	char interp[PATH_MAX], path[PATH_MAX];
	int dynamic;
	FILE *f;

	ASSERT_EQ_INT(
		dm_elf_inspect("/bin/sh", &dynamic, interp, sizeof(interp)),
		1);
	ASSERT_TRUE(dynamic);
	ASSERT_TRUE(interp[0] == '/' && strstr(interp, "ld") != NULL);
	snprintf(path, sizeof(path), "%s/text", tap_tmpdir());
	f = fopen(path, "w");
	fputs("#!/bin/sh\n", f);
	fclose(f);
	ASSERT_EQ_INT(dm_elf_inspect(path, &dynamic, interp, sizeof(interp)),
		      0);
	ASSERT_EQ_INT(dm_elf_inspect("/nonexistent", &dynamic, interp,
				     sizeof(interp)),
		      -ENOENT);
}

struct libs {
	int n, libc, loader;
	char interp[PATH_MAX];
};

static int
count_lib(void *arg, const char *lib)
{
	struct libs *l = arg;

	if (lib[0] != '/')
		tap_fail(__FILE__, __LINE__, "not absolute: %s", lib);
	l->n++;
	if (strstr(lib, "/libc.so") != NULL)
		l->libc = 1;
	if (strcmp(lib, l->interp) == 0)
		l->loader = 1;
	return 0;
}

static int
stop_at_first(void *arg, const char *lib)
{
	(void)lib;
	++*(int *)arg;
	return -EINTR;
}

TEST(elf_libs_as_the_loader_finds_them)
{
	struct libs l = {0};
	int dynamic, calls = 0;

	ASSERT_EQ_INT(dm_elf_inspect("/bin/sh", &dynamic, l.interp,
				     sizeof(l.interp)),
		      1);
	ASSERT_OK(dm_elf_libs(l.interp, "/bin/sh", count_lib, &l));
	ASSERT_TRUE(l.libc);
	ASSERT_TRUE(l.loader);
	ASSERT_GE_INT(l.n, 2);
	ASSERT_EQ_INT(dm_elf_libs(l.interp, "/bin/sh", stop_at_first, &calls),
		      -EINTR);
	ASSERT_EQ_INT(calls, 1);
	/* The loader refuses what is not an ELF file. */
	ASSERT_EQ_INT(dm_elf_libs(l.interp, "/etc/passwd", count_lib, &l),
		      DM_ECHILD);
}
