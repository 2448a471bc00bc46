/*
 * args.c: the compiler command line, classified and rewritten.
 *
 * One pass over argv sorts every argument into the two command lines a
 * remote compile needs: the local preprocessing (everything that finds
 * or names files: include paths, -include, dependency options) and the
 * node's compile (everything that shapes the code: -D/-U, -O, -g, -f,
 * -m, -W, -std...).  Whatever the node could not reproduce byte for byte
 * (see DESIGN.md, "The result is the local result") makes the compile
 * ARGS_LOCAL with the first reason found.  Unknown options go to both
 * lines: the compiler knows them, and an option we do not know that takes
 * a separate value makes its value look like a second source, which is
 * local anyway.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../lib/buf.h"
#include "../lib/jobdir.h"
#include "args.h"

enum {
	TO_CPP = 1,    /* the local preprocessing */
	TO_REMOTE = 2, /* the node's compile */
	TO_BOTH = TO_CPP | TO_REMOTE,
};

/* Options whose value may be the next argument. */
enum kind {
	K_OUT,	   /* -o */
	K_INC,	   /* include search: preprocessing only */
	K_INCFILE, /* -include, -imacros: preprocessing only, in the unit */
	K_DEP,	   /* -MF -MT -MQ: preprocessing only */
	K_DEF,	   /* -D -U -A: both (the node re-creates the macros) */
	K_LANG,	   /* -x */
	K_BOTH,	   /* anything else with a value: both */
	K_SYSROOT, /* --sysroot, -isysroot */
	K_LOCAL,   /* cannot be reproduced on a node */
};

struct opt {
	const char *name;
	enum kind kind;
	int joined; /* "-Ifoo" as well as "-I foo" */
};

/* Longer names first where one is a prefix of another (joined forms). */
static const struct opt opts[] = {
	{"-o", K_OUT, 1},
	{"-I", K_INC, 1},
	{"-isystem", K_INC, 1},
	{"-iquote", K_INC, 1},
	{"-idirafter", K_INC, 1},
	{"-iprefix", K_INC, 1},
	{"-iwithprefixbefore", K_INC, 1},
	{"-iwithprefix", K_INC, 1},
	{"-imultilib", K_INC, 1},
	{"-imultiarch", K_INC, 1},
	{"-isysroot", K_SYSROOT, 1},
	{"--sysroot", K_SYSROOT, 0},
	{"-include-pch", K_LOCAL, 0},
	{"-include", K_INCFILE, 1},
	{"-imacros", K_INCFILE, 1},
	{"-iframework", K_LOCAL, 1},
	{"-MF", K_DEP, 1},
	{"-MT", K_DEP, 1},
	{"-MQ", K_DEP, 1},
	{"-D", K_DEF, 1},
	{"-U", K_DEF, 1},
	{"-A", K_DEF, 1},
	{"-x", K_LANG, 1},
	{"-L", K_BOTH, 1},
	{"-l", K_BOTH, 1},
	{"-T", K_BOTH, 0},
	{"-u", K_BOTH, 0},
	{"-e", K_BOTH, 0},
	{"-z", K_BOTH, 0},
	{"-Xlinker", K_BOTH, 0},
	{"-Xassembler", K_BOTH, 0},
	{"--param", K_BOTH, 0},
	{"-target", K_BOTH, 0},
	{"-arch", K_BOTH, 0},
	{"-mllvm", K_BOTH, 0},
	{"-B", K_LOCAL, 1},
	{"-specs", K_LOCAL, 0},
	{"-wrapper", K_LOCAL, 0},
	{"-Xclang", K_LOCAL, 0},
	{"-Xpreprocessor", K_LOCAL, 0},
	{"-ivfsoverlay", K_LOCAL, 0},
	{"-working-directory", K_LOCAL, 0},
	{"-aux-info", K_LOCAL, 0},
	{"-dumpbase", K_LOCAL, 0},
	{"-dumpbase-ext", K_LOCAL, 0},
	{"-dumpdir", K_LOCAL, 0},
	{"-gcc-toolchain", K_LOCAL, 0},
	{"--serialize-diagnostics", K_LOCAL, 0},
};

/* Joined-only options (prefixes) that write files beside the object,
 * read files the node lacks, or change what the compiler is. */
/* clang-format off */
static const char *const local_prefixes[] = {
	"-save-temps", "-fprofile", "-fauto-profile", "-fbranch-probabilities",
	"-ftest-coverage", "--coverage", "-fcreate-profile", "-fdump-",
	"-fstack-usage", "-fcallgraph-info", "-fcompare-debug", "-flto",
	"-fplugin", "-fpch-preprocess", "-frecord-command-line",
	"-grecord-command-line", "-fmodules", "-fcxx-modules",
	"-fprebuilt-module", "-fmodule-", "-traditional", "-fdirectives-only",
	"-frewrite-includes", "-fsyntax-only", "-gembed-source",
	"-gmodules", "-gtoggle", "--specs", "-specs=", "-fopt-info=",
	"-ftime-report", "-fmem-report", "-fsave-optimization-record",
	"-foptimization-record-file", "-fproc-stat-report", "-fcrash-diagnostics",
	"-fembed-bitcode", "-fpch-", "-emit-", "--analyze",
};
/* clang-format on */

/* -g options that turn debug information on (or set its level). */
/* clang-format off */
static const char *const debug_on[] = {
	"-g", "-g1", "-g2", "-g3", "-ggdb", "-ggdb1", "-ggdb2", "-ggdb3",
	"-gdwarf", "-gdwarf-2", "-gdwarf-3", "-gdwarf-4", "-gdwarf-5",
	"-gline-tables-only", "-gline-directives-only", "-gmlt", "-glldb",
	"-gsce", "-gdbx", "-gfull", "-gused", "-gbtf", "-gctf", "-gctf1",
	"-gctf2", "-gstabs", "-gstabs+", "-gxcoff", "-gxcoff+", "-gvms",
	"-gcodeview",
};
/* clang-format on */

/* -g options that only shape debug information already on. */
/* clang-format off */
static const char *const debug_shape[] = {
	"-gz", "-gcolumn-info", "-gstrict-dwarf", "-gpubnames", "-ggnu-pubnames",
	"-grecord-gcc-switches", "-gstatement-frontiers",
	"-gvariable-location-views", "-ginline-points",
	"-ginternal-reset-location-views", "-gdescribe-dies", "-gas-loc-support",
	"-gas-locview-support", "-gdwarf32", "-gdwarf64",
	"-gsimple-template-names", "-gdwarf-aranges", "-gcodeview-ghash",
};
/* clang-format on */

struct vec {
	char **v;
	size_t n, cap;
};

struct parse {
	struct args *a;
	struct vec cpp, remote, own;
	const char *out; /* -o's value */
	int n_out;
	int c, S, E, M, MM, info;
	int md;	   /* -MD or -MMD given to the driver */
	int wp_md; /* -Wp,-MD,FILE or -Wp,-MMD,FILE */
	int mf;	   /* -MF given */
	int mt;	   /* -MT or -MQ given */
	int n_sources, n_inputs;
	int src_index;
	const char *lang; /* -x in effect, NULL: by suffix */
	int lang_after_source;
	int imacros, include_predef, sysroot;
	const char *inc_dirs[64]; /* -I and -iquote, for -include's search */
	int n_inc_dirs;
	const char *include[16]; /* the -include files */
	int n_include;
	int diag_format;   /* -fdiagnostics-format= other than text */
	int debug_level;   /* the last -g's level, 0: no debug info */
	int split_dwarf;   /* -gsplit-dwarf[=split] last, not =single */
	int dwarf_version; /* the last -gdwarf-N, 0: the compiler's default */
	int dwarf_default; /* clang's -fdebug-default-version=N */
	int unknown_g;	   /* a -g option we do not know */
	char local[160];   /* the first reason to stay local */
	int nomem;
};

/* Room for `extra` more entries and the NULL after them. */
static int
vec_reserve(struct vec *v, size_t extra)
{
	size_t cap = v->cap ? v->cap : 16;
	char **nv;

	while (v->n + extra + 1 > cap)
		cap *= 2;
	if (cap == v->cap)
		return 0;
	if ((nv = realloc(v->v, cap * sizeof(*nv))) == NULL)
		return -ENOMEM;
	v->v = nv;
	v->cap = cap;
	return 0;
}

static int
vec_push(struct vec *v, char *s)
{
	if (vec_reserve(v, 1) != 0)
		return -ENOMEM;
	v->v[v->n++] = s;
	v->v[v->n] = NULL;
	return 0;
}

static void
vec_free(struct vec *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	memset(v, 0, sizeof(*v));
}

static void
push(struct parse *p, int to, char *s)
{
	if ((to & TO_CPP) && vec_push(&p->cpp, s) != 0)
		p->nomem = 1;
	if ((to & TO_REMOTE) && vec_push(&p->remote, s) != 0)
		p->nomem = 1;
}

/* A string the args own (freed by args_free). */
static char *
own(struct parse *p, char *s)
{
	if (s == NULL || vec_push(&p->own, s) != 0) {
		free(s);
		p->nomem = 1;
		return NULL;
	}
	return s;
}

static void __attribute__((format(printf, 2, 3)))
stay_local(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->local[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(p->local, sizeof(p->local), fmt, ap);
	va_end(ap);
}

static int
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int
in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

#define N(x) (sizeof(x) / sizeof((x)[0]))

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The compiler family, from the name it was invoked by or, for names like
 * cc and c++, from the file the name resolves to. */
static enum args_family
family_of(const char *compiler)
{
	char real[PATH_MAX];

	if (strstr(base_name(compiler), "clang") != NULL)
		return ARGS_CLANG;
	if (realpath(compiler, real) != NULL &&
	    strstr(base_name(real), "clang") != NULL)
		return ARGS_CLANG;
	return ARGS_GCC;
}

/* A C++ driver (g++, c++, clang++) compiles .c files as C++. */
static int
cxx_driver(const char *compiler)
{
	return strstr(base_name(compiler), "++") != NULL;
}

/* path with the suffix of its last component replaced by `suffix` (or
 * `suffix` appended when it has none), in a new string. */
static char *
with_suffix(const char *path, const char *suffix, int basename_only)
{
	const char *b = basename_only ? base_name(path) : path;
	const char *dot = strrchr(base_name(b), '.');
	size_t stem = dot ? (size_t)(dot - b) : strlen(b);
	char *s = malloc(stem + strlen(suffix) + 1);

	if (s != NULL) {
		memcpy(s, b, stem);
		strcpy(s + stem, suffix);
	}
	return s;
}

enum lang { L_C, L_CXX, L_OTHER };

/* The language of a source from -x or its suffix; names why not C/C++. */
static enum lang
lang_of(struct parse *p, const char *src, const char **what)
{
	const char *dot = strrchr(base_name(src), '.');
	const char *suf = dot ? dot + 1 : "";
	static const char *const cxx[] = {"cc",	 "cp",	"cxx", "cpp",
					  "CPP", "c++", "C"};

	if (p->lang != NULL) {
		*what = p->lang;
		if (strcmp(p->lang, "c") == 0)
			return L_C;
		if (strcmp(p->lang, "c++") == 0)
			return L_CXX;
		return L_OTHER;
	}
	*what = suf;
	if (strcmp(suf, "c") == 0)
		return cxx_driver(p->a->argv[0]) ? L_CXX : L_C;
	if (in_list(suf, cxx, N(cxx)))
		return L_CXX;
	return L_OTHER;
}

static int
is_source_suffix(const char *arg)
{
	/* clang-format off */
	static const char *const src[] = {
		"c",  "cc", "cp", "cxx", "cpp", "CPP", "c++", "C",  "i",
		"ii", "s",  "S",  "sx",	 "m",	"mm",  "M",   "h",  "hh",
		"H",  "hp", "hxx", "hpp", "HPP", "h++", "tcc", "F", "f",
		"for", "f90", "f95", "d", "go", "ads", "adb", "cu", "cl",
	};
	/* clang-format on */
	const char *dot = strrchr(base_name(arg), '.');

	return dot != NULL && in_list(dot + 1, src, N(src));
}

static void
source(struct parse *p, int i)
{
	const char *arg = p->a->argv[i], *what;

	p->n_inputs++;
	if (p->lang == NULL && !is_source_suffix(arg)) {
		stay_local(p, "input %s is not a source (a link input?)", arg);
		push(p, TO_CPP, p->a->argv[i]);
		return;
	}
	p->n_sources++;
	p->src_index = i;
	push(p, TO_CPP, p->a->argv[i]);
	switch (lang_of(p, arg, &what)) {
	case L_C:
		break;
	case L_CXX:
		p->a->cxx = 1;
		break;
	default:
		if (strcmp(what, "i") == 0 || strcmp(what, "ii") == 0 ||
		    strstr(what, "cpp-output") != NULL)
			stay_local(p, "%s is already preprocessed", arg);
		else if (strcmp(what, "s") == 0 || strcmp(what, "S") == 0 ||
			 strcmp(what, "sx") == 0 || starts(what, "assembler"))
			/* Nothing to gain: as takes milliseconds (measured
			 * on the kernel's entry_32.S), and a .S file's real
			 * work, its preprocessing, happens here anyway. */
			stay_local(p, "%s is assembler", arg);
		else
			stay_local(p, "language of %s (%s) is not C or C++",
				   arg, what);
	}
}

/* -g and friends: tracks whether debug information ends up on, its level
 * and DWARF version, as the compilers do (the last option wins). */
static void
debug_option(struct parse *p, const char *arg)
{
	/* A .dwo beside the object (clang's =single keeps it inside). */
	if (strcmp(arg, "-gsplit-dwarf") == 0 ||
	    strcmp(arg, "-gsplit-dwarf=split") == 0) {
		p->split_dwarf = 1;
		return;
	}
	if (strcmp(arg, "-gsplit-dwarf=single") == 0 ||
	    strcmp(arg, "-gno-split-dwarf") == 0) {
		p->split_dwarf = 0;
		return;
	}
	if (strcmp(arg, "-g0") == 0 || strcmp(arg, "-ggdb0") == 0 ||
	    strcmp(arg, "-gno-line-tables-only") == 0) {
		p->debug_level = 0;
		return;
	}
	if (in_list(arg, debug_on, N(debug_on))) {
		size_t n = strlen(arg);
		char last = arg[n - 1];

		if (starts(arg, "-gdwarf-"))
			p->dwarf_version = atoi(arg + 8);
		if (strcmp(arg, "-g3") == 0 || strcmp(arg, "-ggdb3") == 0)
			p->debug_level = 3;
		else if (strcmp(arg, "-g1") == 0 ||
			 strcmp(arg, "-ggdb1") == 0 ||
			 strcmp(arg, "-gline-tables-only") == 0 ||
			 strcmp(arg, "-gmlt") == 0 ||
			 strcmp(arg, "-gline-directives-only") == 0)
			p->debug_level = 1;
		else if (last == '2' && !starts(arg, "-gdwarf") &&
			 !starts(arg, "-gctf"))
			p->debug_level = 2;
		else if (p->debug_level == 0)
			p->debug_level = 2;
		return;
	}
	if (starts(arg, "-gno-") || starts(arg, "-gz") ||
	    in_list(arg, debug_shape, N(debug_shape)))
		return;
	p->unknown_g = 1;
}

/* -Wp,A,B,...: the kernel's -Wp,-MD,FILE is a dependency option; macro
 * definitions reach both lines; anything else is the preprocessor's
 * business we do not follow. */
static void
wp_option(struct parse *p, int i)
{
	const char *arg = p->a->argv[i] + 4;
	char *copy = strdup(arg), *save = NULL, *tok, *parts[3];
	int n = 0, defs = 1;

	if (copy == NULL) {
		p->nomem = 1;
		return;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n < 3)
			parts[n] = tok;
		n++;
		if (!(starts(tok, "-D") && tok[2]) &&
		    !(starts(tok, "-U") && tok[2]))
			defs = 0;
	}
	if (n == 2 &&
	    (strcmp(parts[0], "-MD") == 0 || strcmp(parts[0], "-MMD") == 0)) {
		p->wp_md = 1;
		push(p, TO_CPP, p->a->argv[i]);
	} else if (n > 0 && defs) {
		push(p, TO_BOTH, p->a->argv[i]);
	} else {
		stay_local(p, "preprocessor option %s", p->a->argv[i]);
		push(p, TO_BOTH, p->a->argv[i]);
	}
	free(copy);
}

/* Returns the number of arguments used (1 or 2). */
static int
valued_option(struct parse *p, int i, const struct opt *o, const char *val,
	      int separate)
{
	char **argv = p->a->argv;
	int n = separate ? 2 : 1;
	int to;

	switch (o->kind) {
	case K_OUT:
		p->out = val;
		p->n_out++;
		return n;
	case K_INC:
		to = TO_CPP;
		if ((strcmp(o->name, "-I") == 0 ||
		     strcmp(o->name, "-iquote") == 0) &&
		    p->n_inc_dirs < (int)N(p->inc_dirs))
			p->inc_dirs[p->n_inc_dirs++] = val;
		break;
	case K_INCFILE:
		to = TO_CPP;
		if (strcmp(o->name, "-imacros") == 0)
			p->imacros = 1;
		else if (p->n_include < (int)N(p->include))
			p->include[p->n_include++] = val;
		if (strcmp(base_name(val), "stdc-predef.h") == 0)
			p->include_predef = 1;
		break;
	case K_DEP:
		to = TO_CPP;
		if (strcmp(o->name, "-MF") == 0)
			p->mf = 1;
		else
			p->mt = 1;
		break;
	case K_DEF:
		to = TO_BOTH;
		break;
	case K_LANG:
		to = TO_BOTH;
		p->lang = strcmp(val, "none") == 0 ? NULL : val;
		if (p->n_inputs > 0)
			p->lang_after_source = 1;
		break;
	case K_SYSROOT:
		to = TO_CPP;
		p->sysroot = 1;
		break;
	case K_LOCAL:
		to = TO_BOTH;
		stay_local(p, "option %s", o->name);
		break;
	default:
		to = TO_BOTH;
		break;
	}
	push(p, to, argv[i]);
	if (separate)
		push(p, to, argv[i + 1]);
	return n;
}

/* Returns the number of arguments used. */
static int
option(struct parse *p, int i)
{
	char *arg = p->a->argv[i];
	const struct opt *best = NULL;

	for (size_t k = 0; k < N(opts); k++)
		if (strcmp(arg, opts[k].name) == 0) {
			if (i + 1 >= p->a->argc) {
				stay_local(p, "%s without its value", arg);
				push(p, TO_BOTH, arg);
				return 1;
			}
			return valued_option(p, i, &opts[k], p->a->argv[i + 1],
					     1);
		}
	for (size_t k = 0; k < N(opts); k++)
		if (opts[k].joined && starts(arg, opts[k].name) &&
		    (best == NULL ||
		     strlen(opts[k].name) > strlen(best->name)))
			best = &opts[k];
	if (best != NULL)
		return valued_option(p, i, best, arg + strlen(best->name), 0);

	if (strcmp(arg, "-c") == 0) {
		p->c = 1;
		return 1;
	}
	if (strcmp(arg, "-S") == 0) {
		p->S = 1;
		return 1;
	}
	if (strcmp(arg, "-E") == 0 || strcmp(arg, "-M") == 0 ||
	    strcmp(arg, "-MM") == 0) {
		p->E |= arg[1] == 'E';
		p->M |= arg[1] == 'M';
		push(p, TO_CPP, arg);
		return 1;
	}
	if (strcmp(arg, "-MD") == 0 || strcmp(arg, "-MMD") == 0) {
		p->md = 1;
		push(p, TO_CPP, arg);
		return 1;
	}
	if (strcmp(arg, "-MP") == 0 || strcmp(arg, "-MG") == 0) {
		push(p, TO_CPP, arg);
		return 1;
	}
	if (starts(arg, "-Wp,")) {
		wp_option(p, i);
		return 1;
	}
	if (starts(arg, "--sysroot=")) {
		p->sysroot = 1;
		push(p, TO_CPP, arg);
		return 1;
	}
	if (strcmp(arg, "-v") == 0 || strcmp(arg, "-###") == 0 ||
	    strcmp(arg, "-H") == 0)
		stay_local(p, "option %s", arg);
	else if (strcmp(arg, "--version") == 0 || strcmp(arg, "--help") == 0 ||
		 starts(arg, "-print-") || starts(arg, "-dump"))
		p->info = 1;
	else if (starts(arg, "-g"))
		debug_option(p, arg);
	else if (starts(arg, "-fdebug-default-version="))
		p->dwarf_default = atoi(arg + 24);
	else if (starts(arg, "-fdiagnostics-format=") &&
		 strcmp(arg + 21, "text") != 0)
		p->diag_format = 1;
	else if (strstr(arg, "=native") != NULL &&
		 (starts(arg, "-march=") || starts(arg, "-mtune=") ||
		  starts(arg, "-mcpu=")))
		stay_local(p, "%s: the node's CPU may differ", arg);
	for (size_t k = 0; k < N(local_prefixes); k++)
		if (starts(arg, local_prefixes[k]))
			stay_local(p, "option %s", arg);
	push(p, TO_BOTH, arg);
	return 1;
}

/* The first -include file that has a precompiled header beside it
 * (NAME.gch, and for clang NAME.pch), found where the compiler looks:
 * the working directory, then the -iquote and -I directories.  The
 * local compile would use it; the preprocessing for the node reads the
 * header's text instead (measured, gcc 12: -E ignores NAME.gch). */
static const char *
include_pch(const struct parse *p)
{
	static const char *const ext[] = {".gch", ".pch"};
	char path[PATH_MAX];
	struct stat st;

	for (int i = 0; i < p->n_include; i++)
		for (int d = -1; d < p->n_inc_dirs; d++) {
			if (d >= 0 && p->include[i][0] == '/')
				break;
			for (size_t e = 0; e < N(ext); e++) {
				if (e == 1 && p->a->family != ARGS_CLANG)
					continue;
				if (d < 0)
					snprintf(path, sizeof(path), "%s%s",
						 p->include[i], ext[e]);
				else
					snprintf(path, sizeof(path), "%s/%s%s",
						 p->inc_dirs[d], p->include[i],
						 ext[e]);
				if (stat(path, &st) == 0)
					return p->include[i];
			}
		}
	return NULL;
}

/* The checks that need the whole command line. */
static void
verdict(struct parse *p)
{
	struct args *a = p->a;
	const char *pch;

	if (p->info) {
		a->is_compile = 0;
		stay_local(p, "not a compile");
		return;
	}
	if (p->E || p->M) {
		a->is_compile = 0;
		stay_local(p, "preprocessing only (-E, -M or -MM)");
		return;
	}
	if (!p->c && !p->S) {
		a->is_compile = 0;
		stay_local(p, "no -c: a link");
		return;
	}
	a->is_compile = 1;
	if (p->n_sources == 0)
		stay_local(p, "no source file");
	else if (p->n_sources > 1)
		stay_local(p, "%d sources in one command", p->n_sources);
	/* The kernel's cc-option and its kin (`-c -x c /dev/null -o TMP`)
	 * ask the compiler whether it takes a flag, one probe after another
	 * while make reads its makefiles, before anything runs in parallel.
	 * Here an empty unit costs nothing; on a node it costs a placement
	 * and a round trip.  And the answer configures the build, so it
	 * must be the local compiler's, never a node's refusal. */
	else if (strcmp(a->argv[p->src_index], "/dev/null") == 0)
		stay_local(p, "source /dev/null: a compiler probe");
	if (p->S)
		stay_local(p, "-S: assembly output");
	if (p->n_out > 1)
		stay_local(p, "several -o");
	if (p->out != NULL && strcmp(p->out, "-") == 0)
		stay_local(p, "object to stdout");
	if (p->lang_after_source)
		stay_local(p, "-x after the source");
	if ((pch = include_pch(p)) != NULL)
		stay_local(p, "-include %s has a precompiled header", pch);
	/* The object names its .dwo by -o as given: the node compiles to
	 * the same name, which must then lie inside the job's cwd. */
	if (p->split_dwarf && p->out != NULL &&
	    (p->out[0] == '/' || dm_jobdir_levels_above(p->out) > 0))
		stay_local(p, "-gsplit-dwarf with the object at %s: the "
			      "object names its .dwo by that path",
			   p->out);
	a->split_dwarf = p->split_dwarf;
	/* The node tells an error in the code from its own failure by the
	 * compiler's text diagnostics ("x.c:3:7: error: "). */
	if (p->diag_format)
		stay_local(p, "diagnostics not in text format");
	if (a->family == ARGS_CLANG) {
		int v = p->dwarf_version   ? p->dwarf_version
			: p->dwarf_default ? p->dwarf_default
					   : 5;

		/* Measured: the DWARF 5 line table holds the main file's
		 * MD5, which the rewritten unit cannot have.  DWARF 4 gives
		 * the local object. */
		if (p->debug_level > 0 && v >= 5)
			stay_local(p, "clang -g with DWARF 5 records the "
				      "source's MD5");
		if (p->unknown_g)
			stay_local(p, "a clang -g option dmake does not know");
		if (p->imacros)
			stay_local(p, "clang -frewrite-includes drops "
				      "-imacros");
	} else {
		/* The node compiles the unit under another name than the
		 * source's, so that gcc reads the original source for its
		 * excerpts (unit.h); measured: -g3's macro table then lists
		 * the main file twice. */
		if (p->debug_level >= 3)
			stay_local(p, "gcc -g3 records the unit's own name in "
				      "its macro table");
		/* gcc reads a prefix map's old part up to the first '='. */
		if (p->n_sources == 1 && strchr(a->argv[p->src_index], '='))
			stay_local(p, "a source name with '=' cannot be "
				      "mapped back on the node");
		/* The node's gcc would read its own stdc-predef.h. */
		if (p->sysroot)
			stay_local(p, "gcc with a sysroot");
		if (p->include_predef)
			stay_local(p, "stdc-predef.h included explicitly");
	}
}

static int
finish(struct parse *p)
{
	struct args *a = p->a;
	char *d;

	if (p->n_sources == 1)
		a->source = a->argv[p->src_index];
	if (p->out != NULL)
		a->object = strdup(p->out);
	else if (a->source != NULL)
		a->object = with_suffix(a->source, p->S ? ".s" : ".o", 1);
	if (a->source != NULL && a->object == NULL)
		return -ENOMEM;
	/* Make the dependency file's name and target explicit: a -E run
	 * would otherwise name them after its own output ("-.d", "-"). */
	if (a->object != NULL &&
	    (p->md || (a->family == ARGS_CLANG && p->wp_md)) && !p->mt) {
		push(p, TO_CPP, (char *)"-MQ");
		push(p, TO_CPP, a->object);
	}
	if (a->object != NULL && p->md && !p->mf) {
		d = own(p, p->out ? with_suffix(p->out, ".d", 0)
				  : with_suffix(a->source, ".d", 1));
		push(p, TO_CPP, (char *)"-MF");
		push(p, TO_CPP, d);
	}
	if (p->nomem)
		return -ENOMEM;
	a->where = p->local[0] ? ARGS_LOCAL : ARGS_REMOTE;
	snprintf(a->why, sizeof(a->why), "%s", p->local);
	return 0;
}

/* ---- response files --------------------------------------------------- */

/* The words of a response file as gcc's driver (libiberty's buildargv)
 * splits them: white space separates; '...' and "..." quote; a backslash
 * takes the next character as it is, in quotes too.  The text ends at
 * its first NUL.  Appended to w (strings it owns). */
static int
split_words(const char *text, struct vec *w)
{
	static const char space[] = " \t\n\v\f\r";
	struct dm_buf b;
	const char *t = text;
	int rc = 0;

	dm_buf_init(&b);
	while (rc == 0) {
		char q = 0, *word;

		while (*t != '\0' && strchr(space, *t) != NULL)
			t++;
		if (*t == '\0')
			break;
		dm_buf_reset(&b);
		for (; *t != '\0' && rc == 0; t++) {
			char c = *t;

			if (c == '\\' && t[1] != '\0') {
				c = *++t;
			} else if (q != 0 && c == q) {
				q = 0;
				continue;
			} else if (q == 0 && (c == '\'' || c == '"')) {
				q = c;
				continue;
			} else if (q == 0 && strchr(space, c) != NULL) {
				break;
			}
			rc = dm_buf_append(&b, &c, 1);
		}
		/* '' is a word of its own, empty, as in gcc */
		if (rc == 0 && ((word = strndup(b.len ? (char *)b.p : "",
					       b.len)) == NULL ||
				(rc = vec_push(w, word)) != 0)) {
			free(word);
			rc = -ENOMEM;
		}
	}
	dm_buf_free(&b);
	return rc;
}

/* A response file's text, or NULL when the driver would take the word
 * as it is: a file that cannot be read, or a directory. */
static char *
read_response(const char *name)
{
	struct dm_buf b;
	struct stat st;
	char buf[8192];
	size_t r;
	FILE *f;

	if (stat(name, &st) != 0 || S_ISDIR(st.st_mode) ||
	    (f = fopen(name, "re")) == NULL)
		return NULL;
	dm_buf_init(&b);
	while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
		if (dm_buf_append(&b, buf, r) != 0 ||
		    b.len > ARGS_RESPONSE_MAX) {
			dm_buf_free(&b);
			fclose(f);
			return NULL;
		}
	fclose(f);
	if (dm_buf_cstr(&b) == NULL) {
		dm_buf_free(&b);
		return NULL;
	}
	return (char *)b.p;
}

int
args_expand(int argc, char **argv, char ***out, int *out_argc)
{
	struct vec x = {0};
	int rc = 0, iter = 0, any = 0;

	*out = NULL;
	*out_argc = argc;
	for (int i = 1; i < argc; i++)
		any |= argv[i][0] == '@';
	if (!any)
		return 0;
	/* Every word copied, so that one free releases them all. */
	for (int i = 0; i < argc && rc == 0; i++) {
		char *c = strdup(argv[i]);

		if (c == NULL || (rc = vec_push(&x, c)) != 0) {
			free(c);
			rc = -ENOMEM;
		}
	}
	/* Each word is expanded where it stands, and what a file held is
	 * read again (files may name files), as libiberty's expandargv;
	 * like it, at most 2000 expansions. */
	for (size_t i = 1; i < x.n && rc == 0;) {
		struct vec w = {0};
		char *text;

		if (x.v[i][0] != '@' || iter >= 2000 ||
		    (text = read_response(x.v[i] + 1)) == NULL) {
			i++;
			continue;
		}
		iter++;
		rc = split_words(text, &w);
		free(text);
		if (rc == 0)
			rc = vec_reserve(&x, w.n);
		if (rc != 0) {
			vec_free(&w);
			break;
		}
		free(x.v[i]);
		memmove(x.v + i + w.n, x.v + i + 1,
			(x.n - i) * sizeof(*x.v)); /* the NULL too */
		if (w.n > 0)
			memcpy(x.v + i, w.v, w.n * sizeof(*x.v));
		x.n = x.n - 1 + w.n;
		free(w.v);
	}
	if (rc != 0 || x.n > INT_MAX) {
		vec_free(&x);
		return rc != 0 ? rc : -E2BIG;
	}
	*out = x.v;
	*out_argc = (int)x.n;
	return 0;
}

int
args_parse(int argc, char **argv, struct args *a)
{
	struct parse p;
	char **x;
	int rc, xn;

	memset(a, 0, sizeof(*a));
	memset(&p, 0, sizeof(p));
	a->where = ARGS_LOCAL;
	p.a = a;
	if (argc < 1)
		return -EINVAL;
	if ((rc = args_expand(argc, argv, &x, &xn)) != 0)
		return rc;
	if (x != NULL) {
		a->expanded = x;
		argv = x;
		argc = xn;
	}
	a->argv = argv;
	a->argc = argc;
	a->family = family_of(argv[0]);
	for (int i = 1; i < argc;) {
		const char *arg = argv[i];

		if (arg[0] == '@') {
			/* Left by args_expand: the driver reads the word
			 * as a file name, and says what is wrong. */
			stay_local(&p, "response file %s cannot be read", arg);
			push(&p, TO_BOTH, argv[i++]);
		} else if (strcmp(arg, "-") == 0) {
			stay_local(&p, "source on stdin");
			p.n_inputs++;
			p.n_sources++;
			push(&p, TO_CPP, argv[i++]);
		} else if (arg[0] == '-' && arg[1] != '\0') {
			i += option(&p, i);
		} else {
			source(&p, i++);
		}
	}
	verdict(&p);
	rc = finish(&p);
	a->remote_flags = p.remote.v;
	a->n_remote_flags = p.remote.n;
	a->cpp_flags = p.cpp.v;
	a->n_cpp_flags = p.cpp.n;
	a->own = p.own.v;
	a->n_own = p.own.n;
	if (a->remote_flags == NULL && rc == 0) {
		/* An empty list is still a list. */
		rc = vec_push(&p.remote, NULL);
		p.remote.n = 0;
		a->remote_flags = p.remote.v;
	}
	if (rc != 0) {
		args_free(a);
		return rc;
	}
	return 0;
}

void
args_free(struct args *a)
{
	for (size_t i = 0; i < a->n_own; i++)
		free(a->own[i]);
	free(a->own);
	free(a->remote_flags);
	free(a->cpp_flags);
	free(a->object);
	args_argv_free(a->expanded);
	a->expanded = NULL;
	a->own = a->remote_flags = a->cpp_flags = NULL;
	a->object = NULL;
	a->n_own = a->n_remote_flags = a->n_cpp_flags = 0;
}

int
args_cpp_argv(const struct args *a, const char *out, char ***argv)
{
	size_t n = 0, max = a->n_cpp_flags + 6;
	char **v = calloc(max, sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	v[n++] = strdup(a->argv[0]);
	v[n++] = strdup("-E");
	v[n++] = strdup(a->family == ARGS_CLANG ? "-frewrite-includes"
						: "-fdirectives-only");
	for (size_t i = 0; i < a->n_cpp_flags; i++)
		v[n++] = strdup(a->cpp_flags[i]);
	v[n++] = strdup("-o");
	v[n++] = strdup(out);
	for (size_t i = 0; i < n; i++)
		if (v[i] == NULL) {
			for (size_t k = 0; k < n; k++)
				free(v[k]);
			free(v);
			return -ENOMEM;
		}
	*argv = v;
	return 0;
}

void
args_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (size_t i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}
