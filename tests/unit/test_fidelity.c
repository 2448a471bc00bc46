/*
 * test_fidelity.c: the remote recipe gives the local object, byte for
 * byte, with the real gcc and clang.
 *
 * Each case writes a small project (macro-heavy sources, a header in a
 * subdirectory found through -I, a forced -include, __FILE__ and
 * __LINE__), compiles it the ordinary way (object A and its .d), then
 * walks the remote path without a network: args_parse, the preprocessing
 * argv (which must write the same .d), the unit filter (fed in odd-sized
 * pieces), the sources moved out of reach, dm_jobdir_create under another
 * directory, dm_jobdir_argv run in the job's cwd: object B.  A == B.
 * Compilers run through a small fork/exec helper of our own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../cc-shim/args.h"
#include "../../cc-shim/unit.h"
#include "../../lib/buf.h"
#include "../../lib/err.h"
#include "../../lib/jobdir.h"
#include "tap.h"

/* ---- helpers -------------------------------------------------------- */

static void
put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* mkdir -p the parent */
	for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
		memcpy(tmp, path, (size_t)(s - path));
		tmp[s - path] = '\0';
		mkdir(tmp, 0755);
	}
	f = fopen(path, "w");
	if (f == NULL)
		tap_fail(__FILE__, __LINE__, "fopen %s: %s", path,
			 strerror(errno));
	fputs(text, f);
	fclose(f);
}

static int
slurp(const char *path, struct dm_buf *b)
{
	char chunk[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	dm_buf_reset(b);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		dm_buf_append(b, chunk, (size_t)n);
	close(fd);
	return 0;
}

/* Runs argv[0] (a path) in `dir` (NULL: here) with stdout to `out` (NULL:
 * /dev/null) and stderr to `err`; returns the exit status, -1 if it did
 * not exit normally. */
static int
run(char **argv, const char *dir, const char *out, const char *err)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int o = open(out ? out : "/dev/null",
			     O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (o < 0 || e < 0 || (dir && chdir(dir) != 0))
			_exit(126);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
which(const char *name, char *out, size_t len)
{
	const char *dirs[] = {"/usr/local/bin", "/usr/bin", "/bin"};

	for (size_t i = 0; i < 3; i++) {
		snprintf(out, len, "%s/%s", dirs[i], name);
		if (access(out, X_OK) == 0)
			return;
	}
	tap_fail(__FILE__, __LINE__, "no %s installed", name);
}

static void
show_file(const char *path)
{
	struct dm_buf b;

	dm_buf_init(&b);
	if (slurp(path, &b) == 0 && b.len > 0)
		printf("# %s: %.*s\n", path,
		       (int)(b.len > 2000 ? 2000 : b.len), (char *)b.p);
	dm_buf_free(&b);
}

static int
collect(void *arg, const void *p, size_t n)
{
	return dm_buf_append(arg, p, n);
}

/* ---- the project ------------------------------------------------------ */

static const char a_c[] =
	"#include <stdio.h>\n"
	"#include \"h.h\"\n"
	"#include \"sub/deep.h\"\n"
	"#ifndef NAME\n"
	"#define NAME \"none\"\n"
	"#endif\n"
	"#define STR2(x) #x\n"
	"#define STR(x) STR2(x)\n"
	"#define CAT(a, b) a##b\n"
	"struct point { int x, y; };\n"
	"static const char *file = __FILE__;\n"
	"static int line = __LINE__;\n"
	"const char *name = NAME;\n"
	"const char *where(void) { return file; }\n"
	"int CAT(get_, VAL)(void) { return SQ(VAL) + line + __LINE__; }\n"
	"static inline int twice(int v) { return v * 2; }\n"
	"int compute(const struct point *p, int n)\n"
	"{\n"
	"\tint s = 0;\n"
	"\tfor (int i = 0; i < n; i++)\n"
	"\t\ts += twice(p[i].x) * DEEP(p[i].y) + hf(i);\n"
	"\treturn s;\n"
	"}\n"
	"int show(void)\n"
	"{\n"
	"\treturn printf(\"%s:%d %s %s %s\\n\", file, line, name, STR(VAL),\n"
	"\t\t      DEEP_FILE);\n"
	"}\n";

static const char h_h[] = "#ifndef H_H\n"
			  "#define H_H\n"
			  "#define SQ(x) ((x) * (x))\n"
			  "static inline int hf(int a) { return SQ(a) + "
			  "__LINE__; }\n"
			  "#endif\n";

static const char deep_h[] = "#define DEEP(x) ((x) + 1)\n"
			     "#define DEEP_FILE __FILE__\n"
			     "static const int deep_line = __LINE__;\n";

static const char force_h[] = "#ifndef FORCE_H\n"
			      "#define FORCE_H\n"
			      "#define FORCED 42\n"
			      "static const char *forced_file = __FILE__;\n"
			      "#endif\n";

/* No system headers: compiled with -nostdinc, the kernel's way. */
static const char k_c[] =
	"#include \"h.h\"\n"
	"#include \"sub/deep.h\"\n"
	"const char *kname = KBUILD_BASENAME;\n"
	"const char *kfile = __FILE__;\n"
	"int kfun(int v) { return hf(v) + FORCED + deep_line + __LINE__; }\n"
	"const char *kforced(void) { return forced_file; }\n";

static const char b_cpp[] =
	"#include \"h.h\"\n"
	"#include <string>\n"
	"#include <vector>\n"
	"namespace {\n"
	"template <typename T> T sq(T v) { return SQ(v); }\n"
	"}\n"
	"struct S {\n"
	"\tstd::string s;\n"
	"\tS() : s(__FILE__) {}\n"
	"\tint f() const { return (int)s.size() + __LINE__; }\n"
	"};\n"
	"static S global_s;\n"
	"int use(int v)\n"
	"{\n"
	"\tstd::vector<long> xs{1, 2, VAL};\n"
	"\treturn sq(v) + (int)sq<long>(xs.back()) + global_s.f();\n"
	"}\n";

/* Lays out ROOT/proj: src/{a.c,k.c,b.cpp}, src/inc/{h.h,force.h,
 * sub/deep.h}, build/{obj,deps}/, build/sub/. */
static void
project(const char *root)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/proj", root);
	put(dir, "src/a.c", a_c);
	put(dir, "src/k.c", k_c);
	put(dir, "src/b.cpp", b_cpp);
	put(dir, "src/inc/h.h", h_h);
	put(dir, "src/inc/force.h", force_h);
	put(dir, "src/inc/sub/deep.h", deep_h);
	put(dir, "build/obj/.keep", "");
	put(dir, "build/deps/.keep", "");
	put(dir, "build/sub/.keep", "");
}

/* ---- one fidelity check ---------------------------------------------- */

enum expect { SAME, DIFFERENT };

static int seq;

/* Compiles `args` (after the compiler; "@P" in an argument stands for
 * the project's absolute path) in proj/`cwd_rel` locally and
 * through the recipe; `dfile` is the dependency file the compile writes
 * (relative to the cwd), or NULL.  expect DIFFERENT is for the measured
 * cases the classifier keeps local. */
static void
fidelity(const char *cc, const char *cwd_rel, const char *dfile,
	 enum expect expect, const char *const *args)
{
	char root[400], proj[512], cwd[1024], gone[1024], src[1024];
	char compiler[PATH_MAX], raw[1024], err[1024], node[512];
	char *argv[64], **cpp = NULL, **nargv = NULL;
	struct dm_buf A, B, dA, dB, rawb, unit;
	struct args a;
	struct unit_filter f;
	struct dm_jobdir jd;
	struct stat st;
	int argc = 0, rc;
	size_t off, piece = 1;
	FILE *uf;

	snprintf(root, sizeof(root), "%s/case%d", tap_tmpdir(), seq++);
	mkdir(root, 0755);
	project(root);
	snprintf(proj, sizeof(proj), "%s/proj", root);
	snprintf(cwd, sizeof(cwd), "%s/%s", proj, cwd_rel);
	snprintf(raw, sizeof(raw), "%s/raw.i", root);
	snprintf(err, sizeof(err), "%s/stderr", root);
	snprintf(node, sizeof(node), "%s/node", tap_tmpdir());
	mkdir(node, 0755);
	ASSERT_OK(chdir(cwd) == 0 ? 0 : -errno);
	ASSERT_TRUE(getcwd(cwd, sizeof(cwd)) !=
		    NULL); /* what the shim sends */
	/* Compilers take $PWD for the cwd when it names "."; the shim sends
	 * getcwd(): keep them in agreement. */
	unsetenv("PWD");
	which(cc, compiler, sizeof(compiler));
	argv[argc++] = compiler;
	for (size_t i = 0; args[i] != NULL; i++) {
		const char *at = strstr(args[i], "@P");

		if (at != NULL) {
			char *s = malloc(strlen(proj) + strlen(args[i]));

			sprintf(s, "%.*s%s%s", (int)(at - args[i]), args[i],
				proj, at + 2);
			argv[argc++] = s;
		} else {
			argv[argc++] = (char *)args[i];
		}
	}
	argv[argc] = NULL;
	dm_buf_init(&A);
	dm_buf_init(&B);
	dm_buf_init(&dA);
	dm_buf_init(&dB);
	dm_buf_init(&rawb);
	dm_buf_init(&unit);

	ASSERT_OK(args_parse(argc, argv, &a));
	ASSERT_TRUE(a.is_compile);
	if (expect == SAME && a.where != ARGS_REMOTE)
		tap_fail(__FILE__, __LINE__, "classified local: %s", a.why);
	if (expect == DIFFERENT)
		ASSERT_EQ_INT(a.where, ARGS_LOCAL);

	/* (a) the local compile */
	if ((rc = run(argv, NULL, NULL, err)) != 0) {
		show_file(err);
		tap_fail(__FILE__, __LINE__, "local compile exited %d", rc);
	}
	if (slurp(a.object, &A) != 0)
		tap_fail(__FILE__, __LINE__, "no object at %s", a.object);
	unlink(a.object);
	if (dfile != NULL) {
		if (slurp(dfile, &dA) != 0)
			tap_fail(__FILE__, __LINE__, "no %s", dfile);
		unlink(dfile);
	}

	/* (b) preprocess here, as the shim does */
	ASSERT_OK(args_cpp_argv(&a, "-", &cpp));
	if ((rc = run(cpp, NULL, raw, err)) != 0) {
		show_file(err);
		tap_fail(__FILE__, __LINE__, "preprocessing exited %d", rc);
	}
	ASSERT_OK(stat(err, &st) == 0 ? 0 : -errno);
	if (st.st_size != 0) {
		/* The shim compiles locally when the preprocessor speaks. */
		show_file(err);
		tap_fail(__FILE__, __LINE__, "preprocessing wrote to stderr");
	}
	if (dfile != NULL) {
		if (slurp(dfile, &dB) != 0)
			tap_fail(__FILE__, __LINE__, "cpp wrote no %s", dfile);
		if (dA.len != dB.len || memcmp(dA.p, dB.p, dA.len) != 0)
			tap_fail(__FILE__, __LINE__,
				 ".d differs:\nlocal:\n%.*s\ncpp:\n%.*s",
				 (int)dA.len, (char *)dA.p, (int)dB.len,
				 (char *)dB.p);
	}
	/* No other file may appear beside the object (a "-.d"...). */
	ASSERT_TRUE(access("-.d", F_OK) != 0);
	ASSERT_TRUE(access("-", F_OK) != 0);

	/* the filter, fed in pieces of 1..97 bytes: lines split anywhere */
	ASSERT_OK(slurp(raw, &rawb));
	unit_filter_init(&f, a.family, collect, &unit);
	for (off = 0; off < rawb.len; off += piece) {
		piece = piece % 97 + 1;
		if (piece > rawb.len - off)
			piece = rawb.len - off;
		ASSERT_OK(unit_filter_feed(&f, rawb.p + off, piece));
	}
	ASSERT_OK(unit_filter_finish(&f));
	ASSERT_TRUE(unit.len > 0);
	if (a.family == ARGS_GCC) {
		ASSERT_TRUE(memmem(unit.p, unit.len, "<built-in>", 10) ==
			    NULL);
		ASSERT_TRUE(memmem(unit.p, unit.len, "stdc-predef", 11) ==
			    NULL);
	}

	/* The node never sees the sources: move them out of reach. */
	snprintf(src, sizeof(src), "%s/src", proj);
	snprintf(gone, sizeof(gone), "%s/src-gone", proj);
	ASSERT_OK(rename(src, gone) == 0 ? 0 : -errno);

	/* (c) the node */
	ASSERT_OK(dm_jobdir_create(node, cwd, a.source, &jd));
	ASSERT_TRUE(strncmp(jd.unit, jd.root, strlen(jd.root)) == 0);
	ASSERT_TRUE(strncmp(jd.cwd, jd.root, strlen(jd.root)) == 0);
	ASSERT_TRUE(strncmp(jd.object, jd.root, strlen(jd.root)) == 0);
	uf = fopen(jd.unit, "w");
	ASSERT_TRUE(uf != NULL);
	ASSERT_EQ_INT(fwrite(unit.p, 1, unit.len, uf), unit.len);
	fclose(uf);
	ASSERT_OK(dm_jobdir_argv(&jd, compiler,
				 (const char *const *)a.remote_flags,
				 a.n_remote_flags, &nargv));
	if ((rc = run(nargv, jd.cwd, NULL, err)) != 0) {
		show_file(err);
		tap_fail(__FILE__, __LINE__, "node compile exited %d", rc);
	}
	ASSERT_OK(slurp(jd.object, &B));
	if (expect == SAME && (A.len != B.len || memcmp(A.p, B.p, A.len))) {
		size_t i = 0;

		while (i < A.len && i < B.len && A.p[i] == B.p[i])
			i++;
		/* Keep both for objdump / readelf. */
		uf = fopen("A.o", "w");
		fwrite(A.p, 1, A.len, uf);
		fclose(uf);
		uf = fopen("B.o", "w");
		fwrite(B.p, 1, B.len, uf);
		fclose(uf);
		tap_fail(__FILE__, __LINE__,
			 "objects differ: %zu vs %zu bytes, first at %zu "
			 "(A.o, B.o kept in %s)",
			 A.len, B.len, i, cwd);
	}
	if (expect == DIFFERENT)
		ASSERT_TRUE(A.len != B.len || memcmp(A.p, B.p, A.len) != 0);
	dm_jobdir_remove(&jd);
	ASSERT_TRUE(stat(jd.cwd, &st) != 0);

	ASSERT_OK(rename(gone, src) == 0 ? 0 : -errno);
	dm_jobdir_argv_free(nargv);
	args_argv_free(cpp);
	args_free(&a);
	dm_buf_free(&A);
	dm_buf_free(&B);
	dm_buf_free(&dA);
	dm_buf_free(&dB);
	dm_buf_free(&rawb);
	dm_buf_free(&unit);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The flag sets every case runs with. */
static const char *const optsets[][3] = {
	{"-O2", NULL},
	{"-g", "-O2", NULL},
	{"-g", "-O0", NULL},
};

/* Runs `args` once per flag set, the set's flags first. */
static void
each(const char *cc, const char *cwd, const char *dfile, enum expect e,
     const char *const *args)
{
	for (size_t s = 0; s < sizeof(optsets) / sizeof(optsets[0]); s++) {
		const char *v[48];
		size_t n = 0;

		for (size_t i = 0; optsets[s][i]; i++)
			v[n++] = optsets[s][i];
		for (size_t i = 0; args[i]; i++)
			v[n++] = args[i];
		v[n] = NULL;
		fidelity(cc, cwd, dfile, e, v);
	}
}

/* ---- gcc -------------------------------------------------------------- */

TEST_TIMEOUT(fidelity_gcc_relative_build_dir, 120)
{
	/* autotools-style: cwd build/, source ../src/a.c, object in a
	 * subdirectory, -MD naming obj/a.d after the object. */
	each("gcc", "build", "obj/a.d", SAME,
	     ARGS("-DVAL=3", "-DNAME=\"x y\"", "-I../src/inc", "-I", "..",
		  "-MD", "-MP", "-c", "../src/a.c", "-o", "obj/a.o"));
}

TEST_TIMEOUT(fidelity_gcc_absolute_source, 120)
{
	/* cmake-style: absolute source and include paths, -MD -MT -MF. */
	each("gcc", "build", "deps/a.o.d", SAME,
	     ARGS("-DVAL=4", "-DNAME=\"q\\\"uote\"", "-I@P/src/inc", "-MD",
		  "-MT", "obj/a.o", "-MF", "deps/a.o.d", "-o", "obj/a.o", "-c",
		  "@P/src/a.c"));
}

TEST_TIMEOUT(fidelity_gcc_kernel_style, 120)
{
	/* The kernel: cwd is the tree, -nostdinc, forced includes,
	 * -Wp,-MMD, string macros, -fmacro-prefix-map. */
	each("gcc", ".", "src/.k.o.d", SAME,
	     ARGS("-Wp,-MMD,src/.k.o.d", "-nostdinc", "-Isrc/inc", "-include",
		  "src/inc/force.h", "-D__KERNEL__", "-std=gnu11",
		  "-fno-common",
		  "-fmacro-prefix-map=./=", "-DKBUILD_BASENAME=\"k\"",
		  "-DKBUILD_MODNAME=\"k\"", "-c", "-o", "src/k.o", "src/k.c"));
}

TEST_TIMEOUT(fidelity_gcc_deep_relative_no_o, 120)
{
	/* Two levels up, no -o: the object and .d land in the cwd. */
	each("gcc", "build/sub", "a.d", SAME,
	     ARGS("-DVAL=5", "-I../../src/inc", "-MMD", "-c",
		  "../../src/a.c"));
}

TEST_TIMEOUT(fidelity_gcc_joined_forms, 120)
{
	each("gcc", "build", "obj/a.dep", SAME,
	     ARGS("-DVAL=6", "-I../src/inc", "-include../src/inc/force.h",
		  "-MD", "-MFobj/a.dep", "-MQ$(OBJ)/a.o", "-oobj/a.o", "-c",
		  "../src/a.c"));
}

TEST_TIMEOUT(fidelity_gcc_include_options, 180)
{
	/* Every way of naming a header is the preprocessor's business: the
	 * node's compile of the unit never needs them. */
	each("gcc", "build", "obj/a.d", SAME,
	     ARGS("-DVAL=8", "-iquote", "../src/inc", "-isystem",
		  "../src/inc/sub", "-idirafter", "..", "-imacros",
		  "../src/inc/force.h", "-MD", "-MP", "-MT", "obj/a.o", "-MQ",
		  "$(x)", "-c", "../src/a.c", "-o", "obj/a.o"));
	/* The object (and so the .d) in a directory beside the cwd. */
	each("gcc", "build/sub", "../obj/a.d", SAME,
	     ARGS("-DVAL=9", "-iquote../../src/inc", "-MMD", "-c",
		  "../../src/a.c", "-o", "../obj/a.o"));
}

TEST_TIMEOUT(fidelity_gcc_g3_and_user_prefix_map, 120)
{
	/* -g3 (macro tables) and the user's own prefix maps, which must
	 * compose with the job's. */
	fidelity("gcc", "build", NULL, SAME,
		 ARGS("-g3", "-O1", "-DVAL=3", "-I../src/inc", "-c",
		      "../src/a.c", "-o", "obj/a.o"));
	fidelity("gcc", "build", NULL, SAME,
		 ARGS("-g", "-O2", "-DVAL=3", "-I../src/inc",
		      "-ffile-prefix-map=@P=/usr/src/proj",
		      "-fdebug-prefix-map=@P/build=/B", "-c", "../src/a.c",
		      "-o", "obj/a.o"));
	fidelity("gcc", "build", NULL, SAME,
		 ARGS("-g", "-O2", "-DVAL=3", "-I@P/src/inc",
		      "-fdebug-prefix-map=@P/build=/B",
		      "-fdebug-prefix-map=@P=/P", "-c", "@P/src/a.c", "-o",
		      "obj/a.o"));
}

TEST_TIMEOUT(fidelity_gxx, 180)
{
	each("g++", "build", "obj/b.d", SAME,
	     ARGS("-std=c++17", "-DVAL=7", "-I../src/inc", "-MMD", "-c",
		  "../src/b.cpp", "-o", "obj/b.o"));
	fidelity("g++", "build", NULL, SAME,
		 ARGS("-g", "-O2", "-DVAL=7", "-I@P/src/inc", "-c",
		      "@P/src/b.cpp", "-o", "obj/b.o"));
}

/* ---- clang ------------------------------------------------------------- */

TEST_TIMEOUT(fidelity_clang_no_debug, 120)
{
	fidelity("clang", "build", "obj/a.d", SAME,
		 ARGS("-O2", "-DVAL=3", "-DNAME=\"x y\"", "-I../src/inc",
		      "-include", "../src/inc/force.h", "-MD", "-c",
		      "../src/a.c", "-o", "obj/a.o"));
	fidelity("clang", "build", "obj/.a.o.d", SAME,
		 ARGS("-O0", "-DVAL=3", "-I@P/src/inc", "-Wp,-MD,obj/.a.o.d",
		      "-c", "@P/src/a.c", "-o", "obj/a.o"));
	fidelity("clang", "build/sub", "a.d", SAME,
		 ARGS("-O1", "-DVAL=3", "-I../../src/inc", "-MMD", "-MP", "-c",
		      "../../src/a.c"));
}

TEST_TIMEOUT(fidelity_clang_include_options, 120)
{
	fidelity("clang", "build", "obj/a.d", SAME,
		 ARGS("-O2", "-DVAL=8", "-iquote", "../src/inc", "-isystem",
		      "../src/inc/sub", "-idirafter", "..", "-include",
		      "../src/inc/force.h", "-MMD", "-MP", "-c", "../src/a.c",
		      "-o", "obj/a.o"));
	fidelity("clang", "build/sub", "../obj/a.d", SAME,
		 ARGS("-O1", "-DVAL=9", "-iquote../../src/inc", "-MD", "-c",
		      "../../src/a.c", "-o", "../obj/a.o"));
}

TEST_TIMEOUT(fidelity_clang_dwarf4, 120)
{
	fidelity("clang", "build", NULL, SAME,
		 ARGS("-g", "-gdwarf-4", "-O2", "-DVAL=3", "-I../src/inc",
		      "-c", "../src/a.c", "-o", "obj/a.o"));
	fidelity("clang", "build", NULL, SAME,
		 ARGS("-gdwarf-4", "-O0", "-DVAL=3", "-I@P/src/inc", "-c",
		      "@P/src/a.c", "-o", "obj/a.o"));
}

TEST_TIMEOUT(fidelity_clang_dwarf5_differs_so_local, 120)
{
	/* The measurement behind ARGS_LOCAL for clang -g: the recipe's
	 * object differs (the line table's MD5 of the main file). */
	fidelity("clang", "build", NULL, DIFFERENT,
		 ARGS("-g", "-O2", "-DVAL=3", "-I../src/inc", "-c",
		      "../src/a.c", "-o", "obj/a.o"));
}

TEST_TIMEOUT(fidelity_clangxx, 180)
{
	fidelity("clang++", "build", "obj/b.d", SAME,
		 ARGS("-O2", "-std=c++17", "-DVAL=7", "-I../src/inc", "-MD",
		      "-c", "../src/b.cpp", "-o", "obj/b.o"));
	fidelity("clang++", "build", NULL, SAME,
		 ARGS("-g", "-gdwarf-4", "-O2", "-std=c++17", "-DVAL=7",
		      "-I@P/src/inc", "-c", "@P/src/b.cpp", "-o", "obj/b.o"));
}

/* ---- the filter on its own ------------------------------------------- */

TEST(unit_filter_gcc_sections)
{
	static const char in[] = "# 0 \"../src/a.c\"\n"
				 "# 1 \"/home/u/build//\"\n"
				 "# 0 \"<built-in>\"\n"
				 "#define __STDC__ 1\n"
				 "# 0 \"<built-in>\"\n"
				 "#define __GNUC__ 12\n"
				 "# 0 \"<command-line>\"\n"
				 "#define VAL 3\n"
				 "# 0 \"<command-line>\"\n"
				 "#undef FOO\n"
				 "# 0 \"<command-line>\"\n"
				 "# 1 \"/usr/include/stdc-predef.h\" 1 3 4\n"
				 "#define _STDC_PREDEF_H 1\n"
				 "# 1 \"/usr/include/nested.h\" 1 3 4\n"
				 "#define NESTED 1\n"
				 "# 2 \"/usr/include/stdc-predef.h\" 2 3 4\n"
				 "# 0 \"<command-line>\" 2\n"
				 "# 1 \"./inc/force.h\" 1\n"
				 "#define FORCED 1\n"
				 "# 0 \"<command-line>\" 2\n"
				 "# 1 \"../src/a.c\"\n"
				 "int x = VAL;\n"
				 "# 1 \"../src/h.h\" 1\n"
				 "#define H 1\n"
				 "# 2 \"../src/a.c\" 2\n"
				 "int y;";
	static const char want[] = "# 0 \"../src/a.c\"\n"
				   "# 0 \"<command-line>\"\n"
				   "# 1 \"./inc/force.h\" 1\n"
				   "#define FORCED 1\n"
				   "# 0 \"<command-line>\" 2\n"
				   "# 1 \"../src/a.c\"\n"
				   "int x = VAL;\n"
				   "# 1 \"../src/h.h\" 1\n"
				   "#define H 1\n"
				   "# 2 \"../src/a.c\" 2\n"
				   "int y;";
	struct unit_filter f;
	struct dm_buf out;

	/* Every split point, including inside markers. */
	for (size_t cut = 0; cut <= sizeof(in) - 1; cut++) {
		dm_buf_init(&out);
		unit_filter_init(&f, ARGS_GCC, collect, &out);
		ASSERT_OK(unit_filter_feed(&f, in, cut));
		ASSERT_OK(
			unit_filter_feed(&f, in + cut, sizeof(in) - 1 - cut));
		ASSERT_OK(unit_filter_finish(&f));
		dm_buf_cstr(&out);
		ASSERT_EQ_STR((char *)out.p, want);
		dm_buf_free(&out);
	}
}

TEST(unit_filter_gcc_no_include_and_long_lines)
{
	struct unit_filter f;
	struct dm_buf out, want, in;
	char big[20000];

	memset(big, 'x', sizeof(big));
	dm_buf_init(&out);
	dm_buf_init(&want);
	dm_buf_init(&in);
	dm_buf_appendf(&in, "# 0 \"a.c\"\n# 0 \"<built-in>\"\n#define ");
	dm_buf_append(&in, big, sizeof(big)); /* dropped: in <built-in> */
	dm_buf_appendf(&in, "\n# 0 \"<command-line>\"\n#define A 1\n"
			    "# 0 \"<command-line>\"\n"
			    "# 1 \"/usr/include/stdc-predef.h\" 1 3 4\n"
			    "#define X\n# 0 \"<command-line>\" 2\n"
			    "# 1 \"a.c\"\nchar *s = \"");
	dm_buf_append(&in, big, sizeof(big)); /* kept */
	dm_buf_appendf(&in, "\";\n");
	dm_buf_appendf(&want, "# 0 \"a.c\"\n# 1 \"a.c\"\nchar *s = \"");
	dm_buf_append(&want, big, sizeof(big));
	dm_buf_appendf(&want, "\";\n");
	unit_filter_init(&f, ARGS_GCC, collect, &out);
	for (size_t off = 0; off < in.len; off += 4093)
		ASSERT_OK(unit_filter_feed(&f, in.p + off,
					   in.len - off < 4093 ? in.len - off
							       : 4093));
	ASSERT_OK(unit_filter_finish(&f));
	ASSERT_EQ_INT(out.len, want.len);
	ASSERT_TRUE(memcmp(out.p, want.p, out.len) == 0);
	dm_buf_free(&out);
	dm_buf_free(&want);
	dm_buf_free(&in);
}

TEST(unit_filter_clang_passes_through)
{
	static const char in[] = "# 1 \"<built-in>\"\n"
				 "# 1 \"./inc/force.h\" 1\n"
				 "#define F 1\n"
				 "# 1 \"<built-in>\" 2\n"
				 "# 1 \"a.c\"\nint x;\n";
	struct unit_filter f;
	struct dm_buf out;

	dm_buf_init(&out);
	unit_filter_init(&f, ARGS_CLANG, collect, &out);
	ASSERT_OK(unit_filter_feed(&f, in, 10));
	ASSERT_OK(unit_filter_feed(&f, in + 10, sizeof(in) - 11));
	ASSERT_OK(unit_filter_finish(&f));
	dm_buf_cstr(&out);
	ASSERT_EQ_STR((char *)out.p, in);
	dm_buf_free(&out);
}

/* ---- the job directory ------------------------------------------------- */

TEST(jobdir_layout)
{
	struct dm_jobdir jd;
	char base[PATH_MAX], want[2 * PATH_MAX], **argv = NULL;
	const char *flags[] = {"-O2", "-fdebug-prefix-map=/home/u=/U",
			       "-ffile-prefix-map=/home=/H"};
	struct stat st;

	snprintf(base, sizeof(base), "%s/node", tap_tmpdir());
	mkdir(base, 0755);

	ASSERT_OK(dm_jobdir_create(base, "/home/u/w/build", "../../src/x/a.c",
				   &jd));
	snprintf(want, sizeof(want), "%s/c/w/w", jd.root);
	ASSERT_EQ_STR(jd.cwd, want);
	snprintf(want, sizeof(want), "%s/c/src/x/a.c", jd.root);
	ASSERT_EQ_STR(jd.unit, want);
	snprintf(want, sizeof(want), "%s/a.o", jd.root);
	ASSERT_EQ_STR(jd.object, want);
	ASSERT_TRUE(stat(jd.cwd, &st) == 0 && S_ISDIR(st.st_mode));
	/* gcc: the last matching user map is the one that applies. */
	ASSERT_OK(dm_jobdir_argv(&jd, "/usr/bin/gcc", flags, 3, &argv));
	ASSERT_EQ_STR(argv[0], "/usr/bin/gcc");
	ASSERT_EQ_STR(argv[1], "-O2");
	snprintf(want, sizeof(want), "-fdebug-prefix-map=%s=/H/u/w/build",
		 jd.cwd);
	ASSERT_EQ_STR(argv[4], want);
	ASSERT_EQ_STR(argv[5], "-c");
	ASSERT_EQ_STR(argv[6], "../../src/x/a.c");
	ASSERT_EQ_STR(argv[7], "-o");
	ASSERT_EQ_STR(argv[8], jd.object);
	ASSERT_TRUE(argv[9] == NULL);
	dm_jobdir_argv_free(argv);
	/* clang: the greatest old prefix applies. */
	ASSERT_OK(dm_jobdir_argv(&jd, "/usr/bin/clang-14", flags, 3, &argv));
	snprintf(want, sizeof(want), "-fdebug-prefix-map=%s=/U/w/build",
		 jd.cwd);
	ASSERT_EQ_STR(argv[4], want);
	dm_jobdir_argv_free(argv);
	dm_jobdir_remove(&jd);
	ASSERT_TRUE(stat(want, &st) != 0);

	/* "x/../../a.c": x must exist for the path to resolve. */
	ASSERT_OK(dm_jobdir_create(base, "/w", "x/../../a.c", &jd));
	snprintf(want, sizeof(want), "%s/c/a.c", jd.root);
	ASSERT_EQ_STR(jd.unit, want);
	snprintf(want, sizeof(want), "%s/c/w/x", jd.root);
	ASSERT_TRUE(stat(want, &st) == 0 && S_ISDIR(st.st_mode));
	dm_jobdir_remove(&jd);

	/* Absolute: ROOT/a/PATH, named so and mapped back. */
	ASSERT_OK(dm_jobdir_create(base, "/w", "/usr/src/p/m.cc", &jd));
	snprintf(want, sizeof(want), "%s/a/usr/src/p/m.cc", jd.root);
	ASSERT_EQ_STR(jd.unit, want);
	ASSERT_OK(dm_jobdir_argv(&jd, "gcc", flags, 0, &argv));
	snprintf(want, sizeof(want), "-fdebug-prefix-map=%s=/w", jd.cwd);
	ASSERT_EQ_STR(argv[1], want);
	snprintf(want, sizeof(want),
		 "-fdebug-prefix-map=%s/a/usr/src/p/m.cc=/usr/src/p/m.cc",
		 jd.root);
	ASSERT_EQ_STR(argv[2], want);
	snprintf(want, sizeof(want), "%s/a/usr/src/p/m.cc", jd.root);
	ASSERT_EQ_STR(argv[4], want);
	dm_jobdir_argv_free(argv);
	dm_jobdir_remove(&jd);

	/* Refused: names that are not files or escape. */
	ASSERT_EQ_INT(dm_jobdir_create(base, "relative", "a.c", &jd),
		      DM_EPROTO);
	ASSERT_EQ_INT(dm_jobdir_create(base, "/w", "", &jd), DM_EPROTO);
	ASSERT_EQ_INT(dm_jobdir_create(base, "/w", "src/..", &jd), DM_EPROTO);
	ASSERT_EQ_INT(dm_jobdir_create(base, "/w", "/../etc/a.c", &jd),
		      DM_EPROTO);
	ASSERT_EQ_INT(dm_jobdir_create(base, "/w", "src/", &jd), DM_EPROTO);
}
