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
#include "../../cc-shim/fidelity.h"
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
	"\tint s = 0, \tunused_here;\n"
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
			  "#define SQ(x) ((x) * \\\n"
			  "\t(x))\n"
			  "static inline int hf(int a) { return SQ(a) + "
			  "__LINE__; }\n"
			  "static inline int hwarn(void) {\tint unused_in_h; "
			  "return 1; }\n"
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
	"\tint unused_cpp;\n"
	"\treturn sq(v) + (int)sq<long>(xs.back()) + global_s.f();\n"
	"}\n";

/* The corners of issue 3 (README "What you see is the local compile"),
 * each a file of its own. */
static const char counter_h[] =
	"#define UNIQUE2(a, b) a##b\n"
	"#define UNIQUE1(a, b) UNIQUE2(a, b)\n"
	"#define UNIQUE(a) UNIQUE1(a, __COUNTER__)\n"
	"#define WHERE() (__FILE__ \":\" STR_(__LINE__))\n"
	"#define STR2_(x) #x\n"
	"#define STR_(x) STR2_(x)\n"
	"#define BASE_IN_HEADER __BASE_FILE__\n";
static const char counter_c[] =
	"#include \"counter.h\"\n"
	"int UNIQUE(v) = __COUNTER__;\n"
	"int UNIQUE(v) = __COUNTER__;\n"
	"const char *here = WHERE();\n"
	"const char *base = __BASE_FILE__;\n"
	"const char *hbase = BASE_IN_HEADER;\n"
	"int counted(void) { return __COUNTER__ + __LINE__; }\n";
static const char counter_if_c[] = "#if __COUNTER__ == 0\n"
				   "int first;\n"
				   "#endif\n"
				   "int after_if = __COUNTER__;\n";
static const char once_h[] = "#pragma once\n"
			     "struct once { int a; };\n"
			     "static inline int once_f(void) { int "
			     "unused_once; return 2; }\n";
static const char pack_h[] = "#pragma pack(push, 1)\n"
			     "struct packed { char c; int i; };\n"
			     "#pragma pack(pop)\n"
			     "struct unpacked { char c; int i; };\n";
static const char pragma_c[] =
	"#include \"once.h\"\n"
	"#include \"once.h\"\n"
	"#include \"pack.h\"\n"
	"#define QUIET _Pragma(\"GCC diagnostic push\") "
	"_Pragma(\"GCC diagnostic ignored \\\"-Wunused-variable\\\"\")\n"
	"#define LOUD _Pragma(\"GCC diagnostic pop\")\n"
	"int sizes[] = {sizeof(struct packed), sizeof(struct unpacked)};\n"
	"int f(void)\n"
	"{\n"
	"#pragma GCC diagnostic push\n"
	"#pragma GCC diagnostic ignored \"-Wunused-variable\"\n"
	"\tint hidden;\n"
	"#pragma GCC diagnostic pop\n"
	"\tint shown;\n"
	"\tQUIET int hidden2; LOUD\n"
	"\tstruct once o = {once_f()};\n"
	"\treturn o.a;\n"
	"}\n";
static const char raw_cpp[] =
	"#include <cstring>\n"
	"const char *r1 = R\"(#include \"nowhere.h\"\n"
	"back\\slash \\\\ \"quote\" \\\n"
	"#define NOT_A_MACRO 1\n"
	"#if 0\n"
	")\";\n"
	"const char *r2 = R\"xy(a)\"b)x\" )xy\";\n"
	"const char *r3 = u8R\"(__DATE__ __TIME__)\";\n"
	"#ifdef NOT_A_MACRO\n"
	"int wrong;\n"
	"#endif\n"
	"unsigned long lens() { return std::strlen(r1) + std::strlen(r2) + "
	"std::strlen(r3); }\n";
static const char time_c[] = "const char *when = __DATE__ \" \" __TIME__;\n";
static const char stamp_h[] = "#define STAMP __TIMESTAMP__\n";
static const char stamp_c[] = "#include \"stamp.h\"\n"
			      "const char *stamp = STAMP;\n";
/* Mentions in comments and literals are not uses. */
static const char notime_c[] = "/* __DATE__ */ // __TIME__\n"
			       "const char *s = \"__TIMESTAMP__\";\n"
			       "char c = '_';\n"
			       "int __DATE__x = 1;\n";
static const char cxx20_cpp[] =
	"#include <compare>\n"
	"#include <concepts>\n"
	"#include <span>\n"
	"template <std::integral T> T twice(T v) { return v * 2; }\n"
	"struct P { int x, y; auto operator<=>(const P &) const = default; };\n"
	"consteval int sq(int v) { return v * v; }\n"
	"int total(std::span<const int> s)\n"
	"{\n"
	"\tint t = sq(3);\n"
	"\tfor (int v : s) t += twice(v);\n"
	"\tP a{.x = 1, .y = 2}, b{.x = 1, .y = 3};\n"
	"\treturn t + (a < b);\n"
	"}\n";
static const char pch_h[] =
	"#define PCH_VAL 42\n"
	"static inline int pch_f(void) { return PCH_VAL; }\n";
static const char pch_c[] = "#include \"pch.h\"\n"
			    "int u(void) { return pch_f(); }\n";

/* Lays out ROOT/proj: src/{a.c,k.c,b.cpp,...}, src/inc/{h.h,force.h,
 * sub/deep.h,...}, build/{obj,deps}/, build/sub/. */
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
	put(dir, "src/inc/counter.h", counter_h);
	put(dir, "src/counter.c", counter_c);
	put(dir, "src/counter_if.c", counter_if_c);
	put(dir, "src/inc/once.h", once_h);
	put(dir, "src/inc/pack.h", pack_h);
	put(dir, "src/pragma.c", pragma_c);
	put(dir, "src/raw.cpp", raw_cpp);
	put(dir, "src/time.c", time_c);
	put(dir, "src/inc/stamp.h", stamp_h);
	put(dir, "src/stamp.c", stamp_c);
	put(dir, "src/notime.c", notime_c);
	put(dir, "src/cxx20.cpp", cxx20_cpp);
	put(dir, "src/inc/pch.h", pch_h);
	put(dir, "src/pch.c", pch_c);
	put(dir, "build/obj/.keep", "");
	put(dir, "build/deps/.keep", "");
	put(dir, "build/sub/.keep", "");
}

/* ---- one fidelity check ---------------------------------------------- */

/* SAME: remote, and the node's object and stderr are the local ones.
 * DIFFERENT: a measured difference the classifier keeps local.
 * HERE: remote by its command line, but the unit keeps it here
 * (fid_prepare: a time macro, a precompiled header...).
 * SPEAKS: the preprocessing for the node fails or warns, so the shim
 * compiles here. */
enum expect { SAME, DIFFERENT, HERE, SPEAKS };

static int seq;
/* When set, the project's header that gets a precompiled header (gcc
 * -x c-header) before the case runs. */
static const char *pch_header;

/* What gcc reads its excerpts from, read before the sources move. */
struct shipped {
	struct dm_buf content[512];
	size_t n;
};

static int
unname_sink(void *arg, const void *p, size_t n)
{
	return dm_buf_append(arg, p, n);
}

/* Compiles `args` (after the compiler; "@P" in an argument stands for
 * the project's absolute path) in proj/`cwd_rel` locally and
 * through the recipe; `dfile` is the dependency file the compile writes
 * (relative to the cwd), or NULL.  For SAME the node's stderr, with the
 * node's names turned back, must be the local stderr byte for byte. */
static void
fidelity(const char *cc, const char *cwd_rel, const char *dfile,
	 enum expect expect, const char *const *args)
{
	char root[400], proj[512], cwd[1024], gone[1024], src[1024];
	char compiler[PATH_MAX], raw[1024], err[1024], node[512];
	char why[512], place[PATH_MAX];
	char *argv[64], **cpp = NULL, **nargv = NULL;
	struct dm_buf A, B, dA, dB, rawb, unit, eA, eB, eBn;
	static struct shipped ship;
	struct args a;
	struct unit_filter f;
	struct unit_unname un;
	struct dm_jobdir jd;
	struct fid fid;
	struct stat st;
	int argc = 0, rc;
	size_t off, piece = 1;
	FILE *uf;

	snprintf(root, sizeof(root), "%s/case%d", tap_tmpdir(), seq++);
	mkdir(root, 0755);
	project(root);
	snprintf(proj, sizeof(proj), "%s/proj", root);
	if (pch_header != NULL) {
		char h[1024], g[1100], e[1024];
		char *gv[] = {"/usr/bin/gcc", "-x", "c-header", h,
			      "-o",	      g,    NULL};

		snprintf(h, sizeof(h), "%s/%s", proj, pch_header);
		snprintf(g, sizeof(g), "%s.gch", h);
		snprintf(e, sizeof(e), "%s/gch.err", root);
		ASSERT_EQ_INT(run(gv, NULL, NULL, e), 0);
	}
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
	dm_buf_init(&eA);
	dm_buf_init(&eB);
	dm_buf_init(&eBn);
	fid_init(&fid);

	ASSERT_OK(args_parse(argc, argv, &a));
	ASSERT_TRUE(a.is_compile);
	if (expect != DIFFERENT && a.where != ARGS_REMOTE)
		tap_fail(__FILE__, __LINE__, "classified local: %s", a.why);
	if (expect == DIFFERENT)
		ASSERT_EQ_INT(a.where, ARGS_LOCAL);

	/* (a) the local compile */
	if ((rc = run(argv, NULL, NULL, err)) != 0) {
		show_file(err);
		tap_fail(__FILE__, __LINE__, "local compile exited %d", rc);
	}
	ASSERT_OK(slurp(err, &eA));
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
	rc = run(cpp, NULL, raw, err);
	ASSERT_OK(stat(err, &st) == 0 ? 0 : -errno);
	if (expect == SPEAKS) {
		/* The shim compiles here when the preprocessor speaks. */
		ASSERT_TRUE(rc != 0 || st.st_size != 0);
		goto done;
	}
	if (rc != 0) {
		show_file(err);
		tap_fail(__FILE__, __LINE__, "preprocessing exited %d", rc);
	}
	if (st.st_size != 0) {
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
	fid_filter(&fid, &f);
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
	rc = fid_prepare(&fid, &a, &f, why, sizeof(why));
	if (expect == HERE) {
		printf("# kept here: %s\n", why);
		ASSERT_EQ_INT(rc, 1);
		goto done;
	}
	if (rc != 0)
		tap_fail(__FILE__, __LINE__, "fid_prepare: %d (%s)", rc,
			 rc == 1 ? why : "");
	/* gcc: the files its excerpts come from, read here (the shim
	 * sends them after the unit). */
	ship.n = 0;
	for (size_t i = 0; fid.node_source && i < fid.files.n; i++) {
		ASSERT_TRUE(ship.n < 512);
		dm_buf_init(&ship.content[ship.n]);
		if (slurp(fid.files.v[i].name, &ship.content[ship.n]) != 0)
			tap_fail(__FILE__, __LINE__, "cannot read %s",
				 fid.files.v[i].name);
		ship.n++;
	}

	/* The node never sees the sources: move them out of reach. */
	snprintf(src, sizeof(src), "%s/src", proj);
	snprintf(gone, sizeof(gone), "%s/src-gone", proj);
	ASSERT_OK(rename(src, gone) == 0 ? 0 : -errno);

	/* (c) the node: the unit under the name the shim gives it, the
	 * shipped files at theirs, the flags the shim sends */
	ASSERT_OK(dm_jobdir_create(
		node, cwd, fid.node_source ? fid.node_source : a.source, &jd));
	ASSERT_TRUE(strncmp(jd.unit, jd.root, strlen(jd.root)) == 0);
	ASSERT_TRUE(strncmp(jd.cwd, jd.root, strlen(jd.root)) == 0);
	ASSERT_TRUE(strncmp(jd.object, jd.root, strlen(jd.root)) == 0);
	uf = fopen(jd.unit, "w");
	ASSERT_TRUE(uf != NULL);
	ASSERT_EQ_INT(fwrite(unit.p, 1, unit.len, uf), unit.len);
	fclose(uf);
	for (size_t i = 0; i < ship.n; i++) {
		ASSERT_OK(dm_jobdir_place(&jd, fid.files.v[i].node, place,
					  sizeof(place)));
		uf = fopen(place, "wx");
		if (uf == NULL)
			tap_fail(__FILE__, __LINE__, "%s: %s", place,
				 strerror(errno));
		fwrite(ship.content[i].p, 1, ship.content[i].len, uf);
		fclose(uf);
		dm_buf_free(&ship.content[i]);
	}
	if (fid.node_source != NULL)
		ASSERT_OK(dm_jobdir_argv(&jd, compiler,
					 (const char *const *)fid.node_flags,
					 fid.n_node_flags, &nargv));
	else
		ASSERT_OK(dm_jobdir_argv(&jd, compiler,
					 (const char *const *)a.remote_flags,
					 a.n_remote_flags, &nargv));
	if ((rc = run(nargv, jd.cwd, NULL, err)) != 0) {
		show_file(err);
		tap_fail(__FILE__, __LINE__, "node compile exited %d", rc);
	}
	ASSERT_OK(slurp(err, &eB));
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
	/* The diagnostics, as the shim writes them. */
	unit_unname_init(&un, fid.node_source, a.source, unname_sink, &eBn);
	ASSERT_OK(unit_unname_feed(&un, eB.p, eB.len));
	ASSERT_OK(unit_unname_finish(&un));
	if (expect == SAME &&
	    (eA.len != eBn.len || (eA.len > 0 && memcmp(eA.p, eBn.p, eA.len))))
		tap_fail(__FILE__, __LINE__,
			 "stderr differs:\nlocal:\n%.*s\nnode:\n%.*s",
			 (int)eA.len, eA.p ? (char *)eA.p : "", (int)eBn.len,
			 eBn.p ? (char *)eBn.p : "");
	if (expect == SAME && eA.len > 0)
		printf("# stderr identical, %zu bytes\n", eA.len);
	if (expect == DIFFERENT)
		ASSERT_TRUE(A.len != B.len || memcmp(A.p, B.p, A.len) != 0);
	dm_jobdir_remove(&jd);
	ASSERT_TRUE(stat(jd.cwd, &st) != 0);

	ASSERT_OK(rename(gone, src) == 0 ? 0 : -errno);
done:
	fid_free(&fid);
	dm_jobdir_argv_free(nargv);
	args_argv_free(cpp);
	args_free(&a);
	dm_buf_free(&A);
	dm_buf_free(&B);
	dm_buf_free(&dA);
	dm_buf_free(&dB);
	dm_buf_free(&rawb);
	dm_buf_free(&unit);
	dm_buf_free(&eA);
	dm_buf_free(&eB);
	dm_buf_free(&eBn);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The flag sets every case runs with. */
static const char *const optsets[][4] = {
	{"-O2", "-Wall", NULL},
	{"-g", "-O2", "-Wall", NULL},
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
	/* -g3: the measurement behind ARGS_LOCAL for it (the node's name
	 * for the unit enters the macro table), then the user's own
	 * prefix maps, which must compose with the job's. */
	fidelity("gcc", "build", NULL, DIFFERENT,
		 ARGS("-g3", "-O1", "-DVAL=3", "-I../src/inc", "-c",
		      "../src/a.c", "-o", "obj/a.o"));
	fidelity("gcc", "build", NULL, SAME,
		 ARGS("-g", "-O2", "-Wall", "-DVAL=3", "-I@P/src/inc",
		      "-fmacro-prefix-map=@P/src=/S",
		      "-ffile-prefix-map=@P/src/inc=/I", "-c", "@P/src/a.c",
		      "-o", "obj/a.o"));
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

/* The corners of issue 3, with gcc: __COUNTER__, __BASE_FILE__ and
 * __FILE__/__LINE__ in header macros; #pragma GCC diagnostic, pack,
 * once, _Pragma (and their effect on the warnings); raw strings holding
 * directives, backslashes and __DATE__; C++20; -x none.  Each compared
 * object for object and stderr for stderr. */
TEST_TIMEOUT(fidelity_gcc_corners, 240)
{
	each("gcc", "build", NULL, SAME,
	     ARGS("-I../src/inc", "-c", "../src/counter.c", "-o",
		  "obj/counter.o"));
	each("gcc", "build", NULL, SAME,
	     ARGS("-I@P/src/inc", "-c", "@P/src/pragma.c", "-o",
		  "obj/pragma.o"));
	each("g++", "build", NULL, SAME,
	     ARGS("-std=gnu++17", "-c", "../src/raw.cpp", "-o", "obj/raw.o"));
	each("g++", "build", NULL, SAME,
	     ARGS("-std=c++20", "-c", "../src/cxx20.cpp", "-o",
		  "obj/cxx20.o"));
	fidelity("gcc", "build", NULL, SAME,
		 ARGS("-O2", "-Wall", "-c", "../src/notime.c"));
	fidelity("gcc", "build", NULL, SAME,
		 ARGS("-g", "-DVAL=2", "-I../src/inc", "-x", "c++", "-x",
		      "none", "-c", "../src/a.c", "-o", "obj/a.o"));
	/* gcc refuses __COUNTER__ in a directive under -fdirectives-only:
	 * the shim compiles here. */
	fidelity("gcc", "build", NULL, SPEAKS,
		 ARGS("-O2", "-c", "../src/counter_if.c"));
}

/* A node compiles at another time (and __TIMESTAMP__ is the time of the
 * file it compiles): a unit that uses them is compiled here, one that
 * only mentions them in comments or literals is not. */
TEST_TIMEOUT(fidelity_time_macros_stay_here, 120)
{
	static const char *const ccs[] = {"gcc", "clang"};

	for (size_t i = 0; i < 2; i++) {
		fidelity(ccs[i], "build", NULL, HERE,
			 ARGS("-O2", "-c", "../src/time.c"));
		fidelity(ccs[i], "build", NULL, HERE,
			 ARGS("-O2", "-I../src/inc", "-c", "../src/stamp.c"));
		fidelity(ccs[i], "build", NULL, SAME,
			 ARGS("-O2", "-c", "../src/notime.c"));
	}
	/* With SOURCE_DATE_EPOCH (which the node gets in JOB_ENV; here
	 * the node's compile inherits it) gcc's __DATE__ and __TIME__ are
	 * the same anywhere; clang 14 ignores it, and __TIMESTAMP__ is the
	 * file's time whatever it says. */
	setenv("SOURCE_DATE_EPOCH", "86400", 1);
	fidelity("gcc", "build", NULL, SAME,
		 ARGS("-O2", "-g", "-c", "../src/time.c"));
	fidelity("gcc", "build", NULL, HERE,
		 ARGS("-O2", "-I../src/inc", "-c", "../src/stamp.c"));
	fidelity("clang", "build", NULL, HERE,
		 ARGS("-O2", "-c", "../src/time.c"));
	unsetenv("SOURCE_DATE_EPOCH");
}

/* A precompiled header beside a header: the local compile uses it, so
 * the classifier (-include) or the unit (#include) keeps it here. */
TEST_TIMEOUT(fidelity_pch_stays_here, 120)
{
	char *gch[] = {"/usr/bin/gcc",
		       "-x",
		       "c-header",
		       "../src/inc/pch.h",
		       "-o",
		       "../src/inc/pch.h.gch",
		       NULL};
	char *inc[] = {"/usr/bin/gcc", "-I../src/inc", "-include", "pch.h",
		       "-c",	       "../src/a.c",   NULL};
	char *iquote[] = {"/usr/bin/gcc", "-iquote", "../src/inc", "-include",
			  "pch.h",	  "-c",	     "../src/a.c", NULL};
	char root[400], err[512];
	struct args a;

	pch_header = "src/inc/pch.h";
	fidelity("gcc", "build", NULL, HERE,
		 ARGS("-O2", "-I../src/inc", "-c", "../src/pch.c"));
	fidelity("gcc", "build", NULL, HERE,
		 ARGS("-O2", "-iquote", "@P/src/inc", "-c", "@P/src/pch.c"));
	pch_header = NULL;
	/* no .gch: remote as usual */
	fidelity("gcc", "build", NULL, SAME,
		 ARGS("-O2", "-I../src/inc", "-c", "../src/pch.c"));

	snprintf(root, sizeof(root), "%s/pchargs", tap_tmpdir());
	mkdir(root, 0755);
	project(root);
	snprintf(err, sizeof(err), "%s/proj/build", root);
	ASSERT_OK(chdir(err) == 0 ? 0 : -errno);
	snprintf(err, sizeof(err), "%s/stderr", root);
	ASSERT_EQ_INT(run(gch, NULL, NULL, err), 0);
	ASSERT_OK(args_parse(6, inc, &a));
	ASSERT_EQ_INT(a.where, ARGS_LOCAL);
	ASSERT_TRUE(strstr(a.why, "precompiled header") != NULL);
	args_free(&a);
	ASSERT_OK(args_parse(7, iquote, &a));
	ASSERT_EQ_INT(a.where, ARGS_LOCAL);
	args_free(&a);
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

TEST_TIMEOUT(fidelity_clang_corners, 240)
{
	fidelity("clang", "build", NULL, SAME,
		 ARGS("-O2", "-Wall", "-I@P/src/inc", "-c", "@P/src/pragma.c",
		      "-o", "obj/pragma.o"));
	fidelity("clang", "build", NULL, SAME,
		 ARGS("-g", "-gdwarf-4", "-O0", "-Wall", "-I../src/inc", "-c",
		      "../src/pragma.c", "-o", "obj/pragma.o"));
	fidelity("clang++", "build", NULL, SAME,
		 ARGS("-O2", "-Wall", "-std=c++17", "-c", "../src/raw.cpp",
		      "-o", "obj/raw.o"));
	fidelity("clang++", "build", NULL, SAME,
		 ARGS("-O2", "-Wall", "-std=c++20", "-c", "../src/cxx20.cpp",
		      "-o", "obj/cxx20.o"));
	fidelity("clang", "build", NULL, SAME,
		 ARGS("-O1", "-DVAL=2", "-I../src/inc", "-x", "c++", "-x",
		      "none", "-c", "../src/a.c", "-o", "obj/a.o"));
	/* Measured: -frewrite-includes evaluates `#if __COUNTER__` here
	 * and the node's counter starts one lower; any __COUNTER__ keeps
	 * a clang unit here. */
	fidelity("clang", "build", NULL, HERE,
		 ARGS("-O2", "-c", "../src/counter_if.c"));
	fidelity("clang", "build", NULL, HERE,
		 ARGS("-O2", "-I../src/inc", "-c", "../src/counter.c"));
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

TEST(unit_filter_gcc_relocates_and_lists)
{
	static const char in[] = "# 0 \"../src/a.c\"\n"
				 "# 0 \"<built-in>\"\n"
				 "#define __GNUC__ 12\n"
				 "# 0 \"<command-line>\"\n"
				 "# 1 \"/usr/include/stdc-predef.h\" 1 3 4\n"
				 "# 0 \"<command-line>\" 2\n"
				 "# 1 \"/abs/force.h\" 1\n"
				 "int forced;\n"
				 "# 0 \"<command-line>\" 2\n"
				 "# 1 \"../src/a.c\"\n"
				 "# 1 \"/usr/include/stdio.h\" 1 3 4\n"
				 "# 1 \"/usr/include/bits/x.h\" 1 3 4\n"
				 "# 2 \"/usr/include/stdio.h\" 2 3 4\n"
				 "# 2 \"../src/a.c\" 2\n"
				 "# 1 \"../../up/q\\\\\\\"x.h\" 1\n"
				 "# 3 \"../src/a.c\" 2\n"
				 "# 1 \"../src/inc/h.h\" 1\n"
				 "# 4 \"../src/a.c\" 2\n"
				 "int main;\n";
	static const char want[] =
		"# 0 \"../src/a.c\"\n"
		"# 0 \"<command-line>\"\n"
		"# 1 \".dmake-abs/abs/force.h\" 1\n"
		"int forced;\n"
		"# 0 \"<command-line>\" 2\n"
		"# 1 \"../src/a.c\"\n"
		"# 1 \".dmake-abs/usr/include/stdio.h\" 1 3 4\n"
		"# 1 \".dmake-abs/usr/include/bits/x.h\" 1 3 4\n"
		"# 2 \".dmake-abs/usr/include/stdio.h\" 2 3 4\n"
		"# 2 \"../src/a.c\" 2\n"
		"# 1 \"../../up/q\\\\\\\"x.h\" 1\n"
		"# 3 \"../src/a.c\" 2\n"
		"# 1 \"../src/inc/h.h\" 1\n"
		"# 4 \"../src/a.c\" 2\n"
		"int main;\n";
	static const struct {
		const char *name, *node;
		int included;
	} files[] = {
		{"../src/a.c", "../src/a.c", 0},
		{"/abs/force.h", ".dmake-abs/abs/force.h", 1},
		{"/usr/include/stdio.h", ".dmake-abs/usr/include/stdio.h", 1},
		{"/usr/include/bits/x.h", ".dmake-abs/usr/include/bits/x.h",
		 0},
		{"../../up/q\\\"x.h", "../../up/q\\\"x.h", 1},
		{"../src/inc/h.h", "../src/inc/h.h", 1},
	};
	struct unit_filter f;
	struct unit_files u;
	struct dm_buf out;

	for (size_t cut = 0; cut <= sizeof(in) - 1; cut++) {
		memset(&u, 0, sizeof(u));
		dm_buf_init(&out);
		unit_filter_init(&f, ARGS_GCC, collect, &out);
		unit_filter_relocate(&f, &u);
		ASSERT_OK(unit_filter_feed(&f, in, cut));
		ASSERT_OK(
			unit_filter_feed(&f, in + cut, sizeof(in) - 1 - cut));
		ASSERT_OK(unit_filter_finish(&f));
		dm_buf_cstr(&out);
		ASSERT_EQ_STR((char *)out.p, want);
		ASSERT_EQ_INT(u.n, sizeof(files) / sizeof(files[0]));
		for (size_t i = 0; i < u.n; i++) {
			ASSERT_EQ_STR(u.v[i].name, files[i].name);
			ASSERT_EQ_STR(u.v[i].node, files[i].node);
			ASSERT_EQ_INT(u.v[i].included, files[i].included);
		}
		ASSERT_EQ_INT(u.levels, 2);
		ASSERT_EQ_STR(f.time_macro, "");
		unit_files_free(&u);
		dm_buf_free(&out);
	}
	/* clang units are never relocated */
	memset(&u, 0, sizeof(u));
	dm_buf_init(&out);
	unit_filter_init(&f, ARGS_CLANG, collect, &out);
	unit_filter_relocate(&f, &u);
	ASSERT_OK(unit_filter_feed(&f, in, sizeof(in) - 1));
	ASSERT_OK(unit_filter_finish(&f));
	ASSERT_EQ_INT(out.len, sizeof(in) - 1);
	ASSERT_EQ_INT(u.n, 0);
	dm_buf_free(&out);
}

/* Many files: the list's table grows, each name once. */
TEST(unit_files_many)
{
	struct unit_filter f;
	struct unit_files u;
	struct dm_buf in, out;

	memset(&u, 0, sizeof(u));
	dm_buf_init(&in);
	dm_buf_init(&out);
	dm_buf_appendf(&in, "# 0 \"m.c\"\n# 1 \"m.c\"\n");
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 1000; i++)
			dm_buf_appendf(&in,
				       "# 1 \"/inc/h%d.h\" 1\nint x%d;\n"
				       "# 2 \"m.c\" 2\n",
				       i, i);
	unit_filter_init(&f, ARGS_GCC, collect, &out);
	unit_filter_relocate(&f, &u);
	ASSERT_OK(unit_filter_feed(&f, in.p, in.len));
	ASSERT_OK(unit_filter_finish(&f));
	ASSERT_EQ_INT(u.n, 1001);
	ASSERT_EQ_STR(u.v[1000].name, "/inc/h999.h");
	ASSERT_EQ_STR(u.v[1000].node, ".dmake-abs/inc/h999.h");
	unit_files_free(&u);
	dm_buf_free(&in);
	dm_buf_free(&out);
}

/* __DATE__, __TIME__, __TIMESTAMP__ and __COUNTER__ as tokens, never in
 * comments or literals, raw strings included. */
TEST(unit_scan_time_macros)
{
	static const struct {
		const char *text, *macro;
		int counter;
	} rows[] = {
		{"const char *d = __DATE__;\n", "__DATE__", 0},
		{"x(__TIME__)", "__TIME__", 0},
		{"#define S __TIMESTAMP__\n", "__TIMESTAMP__", 0},
		{"/* __DATE__ */ int a;\n", "", 0},
		{"// __DATE__ \\\n __TIME__\nint b;\n", "", 0},
		{"// x\n__TIME__\n", "__TIME__", 0},
		{"\"__DATE__\" '\"' __TIME__", "__TIME__", 0},
		{"\"a\\\"__DATE__\"", "", 0},
		{"int __DATE__x, y__TIME__, __TIME;", "", 0},
		{"R\"(__DATE__)\" __TIME__", "__TIME__", 0},
		{"R\"d()\" __DATE__ )\")d\" x", "", 0},
		{"u8R\"x(\n__DATE__\n)x\"", "", 0},
		{"LR\"(a)\" __DATE__", "__DATE__", 0},
		{"int a = 1'000'000; char c = '_'; __DATE__", "__DATE__", 0},
		{"1.5e+3 __TIME__", "__TIME__", 0},
		{"a/ *b; __DATE__", "__DATE__", 0},
		{"/* a ** / */ __DATE__", "__DATE__", 0},
		{"int UNIQUE(__COUNTER__);", "", 1},
		{"/* __COUNTER__ */", "", 0},
		{"#if __COUNTER__ == 0", "", 1},
		{"__TIME__ __DATE__ __TIMESTAMP__", "__TIME__", 0},
	};
	struct unit_filter f;
	struct dm_buf out;

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		size_t n = strlen(rows[r].text);

		for (size_t cut = 0; cut <= n; cut++) {
			dm_buf_init(&out);
			unit_filter_init(&f, ARGS_CLANG, collect, &out);
			ASSERT_OK(unit_filter_feed(&f, rows[r].text, cut));
			ASSERT_OK(unit_filter_feed(&f, rows[r].text + cut,
						   n - cut));
			ASSERT_OK(unit_filter_finish(&f));
			if (strcmp(f.time_macro, rows[r].macro) != 0 ||
			    f.counter != rows[r].counter ||
			    (r + 1 == sizeof(rows) / sizeof(rows[0]) &&
			     f.time_uses != 7))
				tap_fail(__FILE__, __LINE__,
					 "row %zu cut %zu: \"%s\" %d", r, cut,
					 f.time_macro, f.counter);
			dm_buf_free(&out);
		}
	}
}

static int
collect_pieces(void *arg, const void *p, size_t n)
{
	return dm_buf_append(arg, p, n);
}

/* The node's names in its stderr, turned back, in pieces of any size. */
TEST(unit_unname_streams)
{
	static const char in[] =
		"In file included from .dmake-abs/usr/include/stdio.h:28,\n"
		"                 from ../src/a.c:1:\n"
		".dmake-abs/usr/include/x.h:3:1: note: here\n"
		"cc1: ../.dmake-unit/a.c: warning\n"
		".dmake-ab not this; .dmake-abs/";
	static const char want[] =
		"In file included from /usr/include/stdio.h:28,\n"
		"                 from ../src/a.c:1:\n"
		"/usr/include/x.h:3:1: note: here\n"
		"cc1: ../src/a.c: warning\n"
		".dmake-ab not this; /";
	struct unit_unname u;
	struct dm_buf out;
	struct dm_buf big;

	for (size_t step = 1; step <= sizeof(in); step++) {
		dm_buf_init(&out);
		unit_unname_init(&u, "../.dmake-unit/a.c", "../src/a.c",
				 collect_pieces, &out);
		for (size_t off = 0; off < sizeof(in) - 1; off += step)
			ASSERT_OK(
				unit_unname_feed(&u, in + off,
						 off + step > sizeof(in) - 1
							 ? sizeof(in) - 1 - off
							 : step));
		ASSERT_OK(unit_unname_finish(&u));
		dm_buf_cstr(&out);
		ASSERT_EQ_STR((char *)out.p, want);
		dm_buf_free(&out);
	}
	/* megabytes in one feed */
	dm_buf_init(&big);
	dm_buf_init(&out);
	for (int i = 0; i < 100000; i++)
		dm_buf_appendf(&big, ".dmake-abs/inc/h%d.h:1: warning\n", i);
	unit_unname_init(&u, NULL, NULL, collect_pieces, &out);
	ASSERT_OK(unit_unname_feed(&u, big.p, big.len));
	ASSERT_OK(unit_unname_finish(&u));
	ASSERT_EQ_INT(out.len, big.len - 100000 * 10);
	ASSERT_TRUE(memmem(out.p, out.len, ".dmake-abs", 10) == NULL);
	dm_buf_free(&big);
	dm_buf_free(&out);
}

/* The node's source name climbs as far as any file, and the maps turn
 * every node name back, composed with the user's. */
TEST(unit_node_job_names_and_maps)
{
	char *argv[] = {"gcc",
			"-O2",
			"-fdebug-prefix-map=/home/u=/U",
			"-fmacro-prefix-map=../=X/",
			"-ffile-prefix-map=/s=/S",
			"-c",
			"../src/a.c",
			NULL};
	struct unit_files u;
	struct args a;
	struct dm_buf b;
	char *src, **flags;
	size_t n;

	memset(&u, 0, sizeof(u));
	u.levels = 3;
	dm_buf_init(&b);
	ASSERT_OK(args_parse(7, argv, &a));
	ASSERT_OK(unit_node_job(&a, &u, &src, &flags, &n));
	ASSERT_EQ_STR(src, "../../../.dmake-unit/a.c");
	for (size_t i = 0; i < n; i++)
		dm_buf_appendf(&b, "%s%s", i ? " " : "", flags[i]);
	dm_buf_cstr(&b);
	ASSERT_EQ_STR((char *)b.p,
		      "-O2 -fdebug-prefix-map=/home/u=/U "
		      "-fmacro-prefix-map=../=X/ -ffile-prefix-map=/s=/S "
		      "-fdebug-prefix-map=../../../.dmake-unit/a.c=../src/a.c "
		      "-fdebug-prefix-map=.dmake-abs= "
		      "-fdebug-prefix-map=.dmake-abs/home/u=/U "
		      "-fdebug-prefix-map=.dmake-abs/s=/S "
		      "-fmacro-prefix-map=../../../.dmake-unit/a.c=X/src/a.c "
		      "-fmacro-prefix-map=.dmake-abs= "
		      "-fmacro-prefix-map=.dmake-abs/s=/S");
	ASSERT_TRUE(flags[n] == NULL);
	free(src);
	args_argv_free(flags);
	args_free(&a);
	dm_buf_free(&b);
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
