/*
 * test_tcarchive.c: toolchain archives (lib/tcarchive.c): the manifest,
 * ELF inspection, packing this host's gcc (deterministic, reused while
 * the installation is unchanged, complete enough to compile in a root
 * of its own) and an unpacker that refuses every entry that could reach
 * outside its directory.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/err.h"
#include "../../lib/log.h"
#include "../../lib/tcarchive.h"
#include "../../lib/toolchain.h"
#include "tap.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char good_manifest[] =
	"dmake-toolchain 1\nid " ID "\nrole gcc\nversion 12.2.0\n"
	"machine x86_64-linux-gnu\nplatform x86_64\nname gcc\n"
	"driver /usr/bin/gcc\npath /usr/bin:/bin\n";

TEST(tcmanifest_round_trip)
{
	struct dm_tcmanifest m, m2;
	struct dm_buf b;

	ASSERT_OK(
		dm_tcmanifest_parse(good_manifest, strlen(good_manifest), &m));
	ASSERT_EQ_STR(m.id, ID);
	ASSERT_EQ_STR(m.driver, "/usr/bin/gcc");
	ASSERT_EQ_STR(m.path, "/usr/bin:/bin");
	dm_buf_init(&b);
	ASSERT_OK(dm_tcmanifest_format(&m, &b));
	ASSERT_EQ_STR(dm_buf_cstr(&b), good_manifest);
	/* Unknown keys are a later packer's: ignored. */
	dm_buf_appendf(&b, "future thing\n");
	ASSERT_OK(dm_tcmanifest_parse((char *)b.p, b.len, &m2));
	dm_buf_free(&b);
}

TEST(tcmanifest_refuses_nonsense)
{
	static const struct {
		const char *from, *to;
	} bad[] = {
		{"dmake-toolchain 1", "dmake-toolchain 2"},
		{"id " ID, "id 0123"},
		{"role gcc", "role cc1"},
		{"driver /usr/bin/gcc", "driver usr/bin/gcc"},
		{"driver /usr/bin/gcc", "driver /usr/../etc/gcc"},
		{"path /usr/bin:/bin", "path /usr/bin::/bin"},
		{"path /usr/bin:/bin", "path .:/bin"},
		{"name gcc", "name ../gcc"},
		{"platform x86_64\n", ""},
	};
	struct dm_tcmanifest m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[1024], *at;

		snprintf(text, sizeof(text), "%s", good_manifest);
		at = strstr(text, bad[i].from);
		ASSERT_TRUE(at != NULL);
		memmove(at + strlen(bad[i].to), at + strlen(bad[i].from),
			strlen(at + strlen(bad[i].from)) + 1);
		memcpy(at, bad[i].to, strlen(bad[i].to));
		if (dm_tcmanifest_parse(text, strlen(text), &m) != DM_EPROTO)
			tap_fail(__FILE__, __LINE__, "accepted: %s", text);
	}
}

/* An archive with one root entry of the given kind, and a manifest. */
static void
craft(const char *path, const char *name, mode_t type, mode_t perm,
      const char *link, const char *hardlink)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e;

	archive_write_add_filter_zstd(a);
	archive_write_set_format_pax_restricted(a);
	ASSERT_EQ_INT(archive_write_open_filename(a, path), ARCHIVE_OK);
	e = archive_entry_new();
	archive_entry_set_pathname(e, "manifest");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)strlen(good_manifest));
	archive_write_header(a, e);
	archive_write_data(a, good_manifest, strlen(good_manifest));
	archive_entry_free(e);
	e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	if (link != NULL)
		archive_entry_set_symlink(e, link);
	if (hardlink != NULL)
		archive_entry_set_hardlink(e, hardlink);
	archive_entry_set_size(e,
			       type == AE_IFREG && hardlink == NULL ? 2 : 0);
	archive_write_header(a, e);
	if (type == AE_IFREG && hardlink == NULL)
		archive_write_data(a, "x\n", 2);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
}

static int
unpack(const char *archive, const char *dir, char *why, size_t len)
{
	struct dm_tcmanifest m;
	uint64_t bytes;
	int fd = open(archive, O_RDONLY), rc;

	ASSERT_TRUE(fd >= 0);
	mkdir(dir, 0755);
	rc = dm_tcarchive_unpack(fd, dir, 1 << 20, &m, &bytes, why, len);
	close(fd);
	return rc;
}

TEST(tcarchive_unpack_refuses_escapes)
{
	static const struct {
		const char *name;
		mode_t type, perm;
		const char *link, *hardlink;
	} bad[] = {
		{"../evil", AE_IFREG, 0644, NULL, NULL},
		{"/etc/evil", AE_IFREG, 0644, NULL, NULL},
		{"root/../../evil", AE_IFREG, 0644, NULL, NULL},
		{"elsewhere/x", AE_IFREG, 0644, NULL, NULL},
		{"root/usr/bin/su", AE_IFREG, 04755, NULL, NULL},
		{"root/dev/sda", AE_IFBLK, 0644, NULL, NULL},
		{"root/fifo", AE_IFIFO, 0644, NULL, NULL},
		{"root/shadow", AE_IFREG, 0644, NULL, "/etc/shadow"},
	};
	char archive[PATH_MAX], dir[PATH_MAX], why[256];

	snprintf(archive, sizeof(archive), "%s/a.tar.zst", tap_tmpdir());
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		craft(archive, bad[i].name, bad[i].type, bad[i].perm,
		      bad[i].link, bad[i].hardlink);
		snprintf(dir, sizeof(dir), "%s/u%zu", tap_tmpdir(), i);
		if (unpack(archive, dir, why, sizeof(why)) == 0)
			tap_fail(__FILE__, __LINE__, "unpacked %s",
				 bad[i].name);
	}
	/* A link may point anywhere (it means something only in the
	 * sandbox), but nothing is ever written through it. */
	craft(archive, "root/lib", AE_IFLNK, 0777, "/etc", NULL);
	snprintf(dir, sizeof(dir), "%s/ok", tap_tmpdir());
	ASSERT_OK(unpack(archive, dir, why, sizeof(why)));
	{
		struct archive *a = archive_write_new();
		struct archive_entry *e = archive_entry_new();

		archive_write_add_filter_zstd(a);
		archive_write_set_format_pax_restricted(a);
		archive_write_open_filename(a, archive);
		archive_entry_set_pathname(e, "root/lib");
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_perm(e, 0777);
		archive_entry_set_symlink(e, "/tmp");
		archive_write_header(a, e);
		archive_entry_clear(e);
		archive_entry_set_pathname(e, "root/lib/evil");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, 0);
		archive_write_header(a, e);
		archive_entry_free(e);
		archive_write_close(a);
		archive_write_free(a);
	}
	snprintf(dir, sizeof(dir), "%s/through", tap_tmpdir());
	ASSERT_TRUE(unpack(archive, dir, why, sizeof(why)) != 0);
	ASSERT_TRUE(access("/tmp/evil", F_OK) != 0);
}

TEST_TIMEOUT(tcarchive_packs_gcc, 120)
{
	char dir[PATH_MAX], out[1024], why[512], cmd[3 * PATH_MAX + 256];
	struct dm_tcarchive a, b;
	struct dm_tcmanifest m;
	struct dm_toolchain tc;
	uint64_t bytes;
	struct stat st;
	int fd;

	dm_log_init("test", DM_LOG_ERROR);
	if (access("/usr/bin/gcc", X_OK) != 0)
		return; /* nothing to pack */
	ASSERT_OK(dm_toolchain_identify("gcc", "/usr/bin/gcc", &tc));
	snprintf(dir, sizeof(dir), "%s/cache", tap_tmpdir());
	ASSERT_OK(dm_tcarchive_pack(dir, "/usr/bin/gcc", "gcc", &tc, 1, &a,
				    why, sizeof(why)));
	ASSERT_TRUE(!a.reused && a.size > 1000000 && a.content > a.size);
	ASSERT_TRUE(strstr(a.path, a.hash) != NULL);
	/* Unchanged: the same archive, not packed again. */
	ASSERT_OK(dm_tcarchive_pack(dir, "/usr/bin/gcc", "gcc", &tc, 1, &b,
				    why, sizeof(why)));
	ASSERT_TRUE(b.reused);
	ASSERT_EQ_STR(b.hash, a.hash);
	/* Deterministic: packed afresh, the same bytes. */
	snprintf(cmd, sizeof(cmd), "%s/%s.ref", dir, tc.id);
	ASSERT_OK(unlink(cmd) == 0 ? 0 : -errno);
	ASSERT_OK(dm_tcarchive_pack(dir, "/usr/bin/gcc", "gcc", &tc, 1, &b,
				    why, sizeof(why)));
	ASSERT_TRUE(!b.reused);
	ASSERT_EQ_STR(b.hash, a.hash);

	snprintf(out, sizeof(out), "%s/unpacked", tap_tmpdir());
	ASSERT_OK(mkdir(out, 0700) == 0 ? 0 : -errno);
	fd = open(a.path, O_RDONLY);
	ASSERT_OK(dm_tcarchive_unpack(fd, out, 1ull << 32, &m, &bytes, why,
				      sizeof(why)));
	close(fd);
	ASSERT_EQ_STR(m.id, tc.id);
	ASSERT_EQ_STR(m.driver, "/usr/bin/gcc");
	ASSERT_EQ_INT(bytes, a.content);
	snprintf(cmd, sizeof(cmd), "%s/manifest", out);
	ASSERT_OK(stat(cmd, &st));
	/* The driver, cc1, as, the loader and libc, at their paths. */
	snprintf(cmd, sizeof(cmd), "%s/root/usr/bin/gcc", out);
	ASSERT_OK(lstat(cmd, &st));
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	snprintf(cmd, sizeof(cmd), "%s/root/usr/lib/gcc/%s", out, tc.machine);
	ASSERT_OK(stat(cmd, &st));
	snprintf(cmd, sizeof(cmd), "%s/root/usr/include/stdc-predef.h", out);
	ASSERT_OK(stat(cmd, &st));
	/* Compiles in a root of its own (a mount namespace, as root). */
	if (geteuid() == 0) {
		snprintf(cmd, sizeof(cmd),
			 "printf 'int f(int x) { return x * 7; }\\n' "
			 ">%s/root/t.c && unshare -m --root=%s/root --wd=/ "
			 "/usr/bin/gcc -O2 -c t.c -o t.o && "
			 "test -s %s/root/t.o",
			 out, out, out);
		ASSERT_OK(system(cmd));
	}
}
