/*
 * test_ninja_pool.c: ninja-pool/, the part of `dmake ninja` and
 * `dmake-gate` with no event loop: which commands the gate hands to the
 * shim or leaves to the shim already in them (a table of real command
 * lines), ninja's arguments and version, the rewrite of build files
 * (rules, continuations, include and subninja with variables, the
 * manifest's own build statement), and reading the command back from
 * the parent shell.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/buf.h"
#include "../../ninja-pool/ninja.h"
#include "tap.h"

#define LOCAL NINJA_CMD_LOCAL
#define COMPILER NINJA_CMD_COMPILER
#define SHIM NINJA_CMD_SHIM

static const struct {
	const char *cmd;
	enum ninja_cmd kind;
} commands[] = {
	/* CMake's compile rule, evaluated. */
	{"/usr/bin/cc -DFOO -I/src/include -O2 -g -MD -MT a.o -MF a.o.d -o a.o "
	 "-c /src/a.c",
	 COMPILER},
	{"  gcc -c x.c", COMPILER},
	{"x86_64-linux-gnu-gcc-12 -c x.c", COMPILER},
	{"/usr/lib/llvm-14/bin/clang++ -c x.cc -o x.o", COMPILER},
	{"g++-12.2 -c x.cc", COMPILER},
	/* Operators inside quotes, and redirections, are still one command. */
	{"cc '-DSEP=\";\"' -DX=\"a|b&c\" -c x.c -o x.o", COMPILER},
	{"cc -c x.c -o x.o 2>x.log", COMPILER},
	/* CMake's link rule: not a compiler first, runs under the gate. */
	{": && /usr/bin/cc -O2 a.o b.o -o app && :", LOCAL},
	{"/usr/bin/cc -c a.c -o a.o && touch stamp", LOCAL},
	{"cc -c a.c; cc -c b.c", LOCAL},
	{"cc -c a.c | tee log", LOCAL},
	{"cc $(cat flags) -c a.c", LOCAL},
	{"cc `cat flags` -c a.c", LOCAL},
	{"cc -DX=\"$(id)\" -c a.c", LOCAL},
	{"(cc -c a.c)", LOCAL},
	{"FOO=1 cc -c a.c", LOCAL},
	{"env FOO=1 cc -c a.c", LOCAL},
	{"\"/usr/bin/cc\" -c a.c", LOCAL},
	{"$CC -c a.c", LOCAL},
	{"cd /x && cc -c a.c", LOCAL},
	{"/usr/bin/ar qc libx.a a.o", LOCAL},
	{"/usr/bin/gcc-ar qc libx.a a.o", LOCAL},
	{"c++filt _Z1fv", LOCAL},
	{"ccache cc -c a.c", LOCAL},
	{"cc -c 'unterminated", LOCAL},
	{"", LOCAL},
	/* The shim as CMake's compiler launcher: the compile runs as it is,
	 * the shim takes its own slot. */
	{"/usr/local/bin/dmake-cc /usr/bin/cc -DFOO -I/src/include -O2 -g -MD "
	 "-MT a.o -MF a.o.d -o a.o -c /src/a.c",
	 SHIM},
	{"dmake-cc /usr/bin/c++ -o a.o -c /src/a.cc", SHIM},
	{"dmake-cc cc -c a.c", SHIM},
	{"../tools/dmake-cc gcc-12 -c a.c -o a.o", SHIM},
	{"./dmake-cc x86_64-linux-gnu-gcc -c a.c", SHIM},
	{"  dmake-cc\t/usr/lib/llvm-14/bin/clang++ -c a.cc 2>a.log", SHIM},
	{"env CCACHE_DISABLE=1 dmake-cc cc -c a.c", SHIM},
	{"/usr/bin/env dmake-cc cc -c a.c", SHIM},
	{"A=1 B=x/y dmake-cc cc -c a.c", SHIM},
	/* A link through the launcher: the shim holds a slot for it. */
	{"dmake-cc /usr/bin/cc a.o b.o -o app", SHIM},
	/* Not a compile behind the shim, or not one command. */
	{"dmake-cc", LOCAL},
	{"/usr/bin/dmake-cc   ", LOCAL},
	{"dmake-cc --help", LOCAL},
	{"dmake-cc -c a.c", LOCAL},
	{"dmake-cc ccache cc -c a.c", LOCAL},
	{"dmake-cc dmake-cc cc -c a.c", LOCAL},
	{"dmake-cc ar qc libx.a a.o", LOCAL},
	{"dmake-cc cc -c a.c && touch stamp", LOCAL},
	{"dmake-cc $CC -c a.c", LOCAL},
	{"dmake-cc \"cc\" -c a.c", LOCAL},
	{"\"dmake-cc\" cc -c a.c", LOCAL},
	{"env -i dmake-cc cc -c a.c", LOCAL},
	{"env A=\"x y\" dmake-cc cc -c a.c", LOCAL},
	{"A=1\nrm dmake-cc cc -c a.c", LOCAL},
	{"dmake-cc cc\nrm -c a.c", LOCAL},
	{"env", LOCAL},
	{"ccache dmake-cc cc -c a.c", LOCAL},
	{"dmake-cc-wrapper cc -c a.c", LOCAL},
};

TEST(ninja_gate_command_kinds)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		enum ninja_cmd got = ninja_command_kind(commands[i].cmd);

		if (got != commands[i].kind)
			tap_fail(__FILE__, __LINE__, "\"%s\": got %d, want %d",
				 commands[i].cmd, (int)got,
				 (int)commands[i].kind);
	}
}

/* The shim's own name is not a target-prefixed `cc`. */
TEST(ninja_gate_compiler_names)
{
	ASSERT_EQ_INT(ninja_is_compiler_name("cc"), 1);
	ASSERT_EQ_INT(ninja_is_compiler_name("aarch64-linux-gnu-cc"), 1);
	ASSERT_EQ_INT(ninja_is_compiler_name("clang-14"), 1);
	ASSERT_EQ_INT(ninja_is_compiler_name("dmake-cc"), 0);
	ASSERT_EQ_INT(ninja_is_compiler_name("ccache"), 0);
	ASSERT_EQ_INT(ninja_is_compiler_name(""), 0);
}

TEST(ninja_args)
{
	char *a1[] = {"ninja", "-C", "b", "-f", "x.ninja", "-j4", "all", NULL};
	char *a2[] = {"ninja", "-Cb", "-vfx.ninja", "-k", "0", NULL};
	char *a3[] = {"ninja", "-C", "b", "-t", "clean", NULL};
	char *a4[] = {"ninja", "-nv", NULL};
	char *a5[] = {"ninja", "app", "-j", "8", NULL};
	struct ninja_args a;

	ninja_args_scan(a1, &a);
	ASSERT_EQ_STR(a.dir, "b");
	ASSERT_EQ_STR(a.manifest, "x.ninja");
	ASSERT_EQ_INT(a.manifest_idx, 4);
	ASSERT_EQ_INT(a.manifest_off, 0);
	ASSERT_EQ_INT(a.has_j, 1);
	ASSERT_EQ_INT(a.passthrough, 0);
	ninja_args_scan(a2, &a);
	ASSERT_EQ_STR(a.dir, "b");
	ASSERT_EQ_STR(a.manifest, "x.ninja");
	ASSERT_EQ_INT(a.manifest_idx, 2);
	ASSERT_EQ_INT(a.manifest_off, 3);
	ASSERT_EQ_INT(a.has_j, 0);
	ninja_args_scan(a3, &a);
	ASSERT_EQ_INT(a.passthrough, 1);
	ASSERT_TRUE(a.manifest == NULL);
	ninja_args_scan(a4, &a);
	ASSERT_EQ_INT(a.passthrough, 1);
	ninja_args_scan(a5, &a);
	ASSERT_EQ_INT(a.has_j, 1);
	ASSERT_EQ_INT(a.passthrough, 0);
}

TEST(ninja_version_text)
{
	int ma = 0, mi = 0;

	ASSERT_OK(ninja_parse_version("1.11.1\n", &ma, &mi));
	ASSERT_EQ_INT(ma, 1);
	ASSERT_EQ_INT(mi, 11);
	ASSERT_EQ_INT(ninja_has_jobserver(ma, mi), 0);
	ASSERT_OK(ninja_parse_version("1.13.0.git", &ma, &mi));
	ASSERT_EQ_INT(ninja_has_jobserver(ma, mi), 1);
	ASSERT_TRUE(ninja_parse_version("usage: samu [-C dir]", &ma, &mi) !=
		    0);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ASSERT_TRUE(f != NULL);
	fputs(text, f);
	fclose(f);
}

static char *
slurp(const char *path)
{
	static char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	ASSERT_TRUE(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

TEST(ninja_wrap_build_files)
{
	char dir[512], out[512], path[1024], why[512], inc[1024];
	struct ninja_wrap w;
	const char *text;

	snprintf(dir, sizeof(dir), "%s/proj", tap_tmpdir());
	snprintf(out, sizeof(out), "%s/out", tap_tmpdir());
	ASSERT_OK(mkdir(dir, 0755) == 0 ? 0 : -1);
	ASSERT_OK(mkdir(out, 0755) == 0 ? 0 : -1);
	snprintf(path, sizeof(path), "%s/sub", dir);
	ASSERT_OK(mkdir(path, 0755) == 0 ? 0 : -1);
	snprintf(path, sizeof(path), "%s/build.ninja", dir);
	write_file(path, "# top\n"
			 "ninja_required_version = 1.5\n"
			 "cfg = sub\n"
			 "include $cfg/rules.ninja\n"
			 "rule cc\n"
			 "  depfile = $out.d\n"
			 "  command = gcc -c $in $\n"
			 "      -o $out\n"
			 "  description = CC $out\n"
			 "build a.o: cc a.c\n"
			 "  command = not a rule binding, left alone\n"
			 "build build.ninja: regen CMakeLists.txt\n"
			 "subninja ${cfg}/more.ninja\n"
			 "default a.o\n");
	snprintf(path, sizeof(path), "%s/sub/rules.ninja", dir);
	write_file(path, "rule regen\n  command=cmake .\n  generator = 1\n");
	snprintf(path, sizeof(path), "%s/sub/more.ninja", dir);
	write_file(path, "rule ld\n  command = : && cc $in -o $out && :\n"
			 "build app: ld a.o\n");

	ASSERT_OK(ninja_wrap_manifest(dir, NULL, out, "/bin/dmake-gate", &w,
				      why, sizeof(why)));
	ASSERT_EQ_INT(w.files, 3);
	ASSERT_EQ_INT(w.rules, 3);
	ASSERT_EQ_INT(w.manifest_is_output, 1);
	text = slurp(w.out);
	ASSERT_TRUE(strstr(text,
			   "  command = '/bin/dmake-gate' --ninja; exit; "
			   "gcc -c $in $\n      -o $out\n") != NULL);
	ASSERT_TRUE(
		strstr(text, "  command = not a rule binding, left alone\n") !=
		NULL);
	ASSERT_TRUE(strstr(text, "# top\nninja_required_version = 1.5\n") !=
		    NULL);
	snprintf(inc, sizeof(inc), "include %s/1-rules.ninja\n", out);
	ASSERT_TRUE(strstr(text, inc) != NULL);
	snprintf(inc, sizeof(inc), "subninja %s/2-more.ninja\n", out);
	ASSERT_TRUE(strstr(text, inc) != NULL);
	snprintf(path, sizeof(path), "%s/1-rules.ninja", out);
	ASSERT_EQ_STR(slurp(path),
		      "rule regen\n  command='/bin/dmake-gate' "
		      "--ninja; exit; cmake .\n  generator = 1\n");
	snprintf(path, sizeof(path), "%s/2-more.ninja", out);
	ASSERT_EQ_STR(slurp(path), "rule ld\n  command = '/bin/dmake-gate' "
				   "--ninja; exit; : && cc $in -o $out && :\n"
				   "build app: ld a.o\n");

	/* A missing include is the user's error, named. */
	snprintf(path, sizeof(path), "%s/bad.ninja", dir);
	write_file(path, "include nowhere.ninja\n");
	ASSERT_TRUE(ninja_wrap_manifest(dir, "bad.ninja", out, "/g", &w, why,
					sizeof(why)) != 0);
	ASSERT_TRUE(strstr(why, "nowhere.ninja") != NULL);
}

TEST(ninja_gate_reads_parent_shell)
{
	char *cmd = NULL;
	pid_t pid;
	int st;

	/* A shell as ninja starts one: while `sleep` runs, its argv holds
	 * the whole command. */
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "/bin/sh", "-c",
		      "sleep 5 || : --ninja; exit; cc -DX='a b' -c x.c",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (ninja_gate_parent_command((int)pid, &cmd) == 0)
			break;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	ASSERT_EQ_STR(cmd, "cc -DX='a b' -c x.c");
	free(cmd);
	/* Our own parent is no such shell. */
	ASSERT_TRUE(ninja_gate_parent_command((int)getpid(), &cmd) != 0);
}
