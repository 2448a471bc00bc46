/*
 * test_fs.c: lib/fs.c, the helpers whose answer depends on the
 * environment.
 */
#include <errno.h>
#include <stdlib.h>

#include "../../lib/err.h"
#include "../../lib/fs.h"
#include "tap.h"

TEST(fs_user_cache_path)
{
	char out[64];

	setenv("XDG_CACHE_HOME", "/x/cache", 1);
	setenv("HOME", "/home/u", 1);
	ASSERT_OK(dm_user_cache_path("toolchains", out, sizeof(out)));
	ASSERT_EQ_STR(out, "/x/cache/dmake/toolchains");
	/* A relative XDG_CACHE_HOME is to be ignored (XDG base dirs). */
	setenv("XDG_CACHE_HOME", "rel", 1);
	ASSERT_OK(dm_user_cache_path("identities.db", out, sizeof(out)));
	ASSERT_EQ_STR(out, "/home/u/.cache/dmake/identities.db");
	unsetenv("XDG_CACHE_HOME");
	ASSERT_OK(dm_user_cache_path("a", out, sizeof(out)));
	ASSERT_EQ_STR(out, "/home/u/.cache/dmake/a");
	ASSERT_EQ_INT(dm_user_cache_path("a", out, 8), -ENAMETOOLONG);
	setenv("HOME", "", 1);
	ASSERT_EQ_INT(dm_user_cache_path("a", out, sizeof(out)), DM_ECONFIG);
}
