/*
 * test_args.c: real compiler command lines and what args.c makes of them.
 *
 * One table (distcc's habit): kernel, autotools/libtool (libiberty) and
 * cmake lines, the joined and separate option forms, and every reason to
 * stay local, each with the expected decision, reason, object, the flags
 * the node gets and the local preprocessing command line.  That the
 * preprocessing really writes the .d the compile would is checked against
 * the real compilers in test_fidelity.c.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cc-shim/args.h"
#include "../../lib/jobdir.h"
#include "../../lib/buf.h"
#include "tap.h"

enum { L = ARGS_LOCAL, R = ARGS_REMOTE };
enum { LINK = 0, COMPILE = 1 };

struct row {
	const char *argv[48]; /* argv[0] is the compiler */
	int where;
	int is_compile;
	const char *why;    /* a substring of a.why (LOCAL rows) */
	const char *object; /* NULL: not checked */
	const char *remote; /* the node's flags joined by ' '; NULL: not
			       checked */
	const char *cpp;    /* the preprocessing argv after argv[0], out
			       "-"; NULL: not checked */
	int cxx;
};

/* clang-format off */
static const struct row rows[] = {
	/* ---- the kernel (make V=1) ---- */
	{{"gcc", "-Wp,-MMD,kernel/.fork.o.d", "-nostdinc",
	  "-I./arch/x86/include", "-I./arch/x86/include/generated",
	  "-I./include", "-I./arch/x86/include/uapi", "-include",
	  "./include/linux/compiler-version.h", "-include",
	  "./include/linux/kconfig.h", "-include",
	  "./include/linux/compiler_types.h", "-D__KERNEL__",
	  "-fmacro-prefix-map=./=", "-std=gnu11", "-fno-PIE", "-O2",
	  "-mno-sse", "-Wall", "-DKBUILD_MODFILE=\"kernel/fork\"",
	  "-DKBUILD_BASENAME=\"fork\"", "-DKBUILD_MODNAME=\"fork\"",
	  "-D__KBUILD_MODNAME=kmod_fork", "-c", "-o", "kernel/fork.o",
	  "kernel/fork.c"},
	 R, COMPILE, NULL, "kernel/fork.o",
	 "-nostdinc -D__KERNEL__ -fmacro-prefix-map=./= -std=gnu11 -fno-PIE "
	 "-O2 -mno-sse -Wall -DKBUILD_MODFILE=\"kernel/fork\" "
	 "-DKBUILD_BASENAME=\"fork\" -DKBUILD_MODNAME=\"fork\" "
	 "-D__KBUILD_MODNAME=kmod_fork",
	 "-E -fdirectives-only -Wp,-MMD,kernel/.fork.o.d -nostdinc "
	 "-I./arch/x86/include -I./arch/x86/include/generated -I./include "
	 "-I./arch/x86/include/uapi -include "
	 "./include/linux/compiler-version.h -include "
	 "./include/linux/kconfig.h -include "
	 "./include/linux/compiler_types.h -D__KERNEL__ "
	 "-fmacro-prefix-map=./= -std=gnu11 -fno-PIE -O2 -mno-sse -Wall "
	 "-DKBUILD_MODFILE=\"kernel/fork\" -DKBUILD_BASENAME=\"fork\" "
	 "-DKBUILD_MODNAME=\"fork\" -D__KBUILD_MODNAME=kmod_fork "
	 "kernel/fork.c -o -",
	 0},
	{{"gcc", "-Wp,-MD,lib/.string.o.d", "-nostdinc", "-isystem",
	  "/usr/lib/gcc/x86_64-linux-gnu/12/include", "-I./include",
	  "-D__KERNEL__", "-mcmodel=kernel", "-fno-pie", "-g", "-gdwarf-5",
	  "-c", "-o", "lib/string.o", "lib/string.c"},
	 R, COMPILE, NULL, "lib/string.o",
	 "-nostdinc -D__KERNEL__ -mcmodel=kernel -fno-pie -g -gdwarf-5", NULL,
	 0},
	{{"gcc", "-Wp,-MMD,arch/x86/entry/.entry_64.o.d", "-nostdinc",
	  "-D__ASSEMBLY__", "-c", "-o", "arch/x86/entry/entry_64.o",
	  "arch/x86/entry/entry_64.S"},
	 L, COMPILE, "assembler", "arch/x86/entry/entry_64.o", NULL, NULL, 0},
	{{"gcc", "-E", "-Wp,-MD,arch/x86/kernel/.vmlinux.lds.d", "-P", "-x",
	  "c", "-D__ASSEMBLY__", "-o", "arch/x86/kernel/vmlinux.lds",
	  "arch/x86/kernel/vmlinux.lds.S"},
	 L, LINK, "preprocessing only", NULL, NULL, NULL, 0},
	{{"gcc", "-o", "scripts/basic/fixdep", "scripts/basic/fixdep.c"},
	 L, LINK, "link", NULL, NULL, NULL, 0},
	/* a host program's object: system headers, no -nostdinc */
	{{"gcc", "-Wp,-MMD,scripts/mod/.modpost.o.d", "-Wall",
	  "-Wmissing-prototypes", "-Wstrict-prototypes", "-O2",
	  "-fomit-frame-pointer", "-std=gnu11", "-c", "-o",
	  "scripts/mod/modpost.o", "scripts/mod/modpost.c"},
	 R, COMPILE, NULL, "scripts/mod/modpost.o",
	 "-Wall -Wmissing-prototypes -Wstrict-prototypes -O2 "
	 "-fomit-frame-pointer -std=gnu11",
	 "-E -fdirectives-only -Wp,-MMD,scripts/mod/.modpost.o.d -Wall "
	 "-Wmissing-prototypes -Wstrict-prototypes -O2 -fomit-frame-pointer "
	 "-std=gnu11 scripts/mod/modpost.c -o -",
	 0},
	/* the 32-bit vDSO: -fpic and -m32 after the kernel's own flags */
	{{"gcc", "-Wp,-MMD,arch/x86/entry/vdso/vdso32/.vclock_gettime.o.d",
	  "-nostdinc", "-I./include", "-include",
	  "./include/linux/compiler_types.h", "-D__KERNEL__",
	  "-fmacro-prefix-map=./=", "-m32", "-Wa,-mtune=generic32", "-Os",
	  "-m32", "-msoft-float", "-mregparm=0", "-fpic",
	  "-fno-stack-protector", "-DDISABLE_BRANCH_PROFILING",
	  "-DKBUILD_MODFILE='\"arch/x86/entry/vdso/vclock_gettime\"'",
	  "-c", "-o", "arch/x86/entry/vdso/vdso32/vclock_gettime.o",
	  "arch/x86/entry/vdso/vdso32/vclock_gettime.c"},
	 R, COMPILE, NULL, "arch/x86/entry/vdso/vdso32/vclock_gettime.o",
	 "-nostdinc -D__KERNEL__ -fmacro-prefix-map=./= -m32 "
	 "-Wa,-mtune=generic32 -Os -m32 -msoft-float -mregparm=0 -fpic "
	 "-fno-stack-protector -DDISABLE_BRANCH_PROFILING "
	 "-DKBUILD_MODFILE='\"arch/x86/entry/vdso/vclock_gettime\"'",
	 NULL, 0},
	/* asm-offsets and friends: assembly output, here */
	{{"gcc", "-Wp,-MMD,arch/x86/kernel/.asm-offsets.s.d", "-nostdinc",
	  "-I./include", "-D__KERNEL__", "-Os", "-S", "-o",
	  "arch/x86/kernel/asm-offsets.s", "arch/x86/kernel/asm-offsets.c"},
	 L, COMPILE, "-S", "arch/x86/kernel/asm-offsets.s", NULL, NULL, 0},
	/* the probes of scripts/Makefile.compiler and Kconfig.include:
	 * here, the local compiler's answer, and no node's time */
	{{"gcc", "-Werror", "-nostdinc", "-I./include", "-D__KERNEL__",
	  "-std=gnu11", "-m32", "-fno-stack-protector", "-c", "-x", "c",
	  "/dev/null", "-o", ".tmp_4242/tmp"},
	 L, COMPILE, "/dev/null", ".tmp_4242/tmp", NULL, NULL, 0},
	{{"gcc", "-Werror", "-mno-outline-atomics", "-c", "-x", "c",
	  "/dev/null", "-o", ".tmp_77/tmp.o"},
	 L, COMPILE, "/dev/null", NULL, NULL, NULL, 0},
	{{"gcc", "-Werror", "-S", "-x", "c", "/dev/null", "-o", "/dev/null"},
	 L, COMPILE, "/dev/null", "/dev/null", NULL, NULL, 0},
	{{"gcc", "-Werror", "-Wa,--32", "-c", "-x", "assembler-with-cpp",
	  "/dev/null", "-o", ".tmp_9/tmp"},
	 L, COMPILE, "assembler", NULL, NULL, NULL, 0},
	{{"gcc", "-Werror", "-c", "-x", "assembler-with-cpp", "-o",
	  ".tmp_9/tmp", "-"},
	 L, COMPILE, "stdin", NULL, NULL, NULL, 0},
	{{"gcc", "-E", "-x", "c", "/dev/null"},
	 L, LINK, "preprocessing only", NULL, NULL, NULL, 0},
	/* gcc plugins (CONFIG_GCC_PLUGINS): the node lacks the .so */
	{{"gcc", "-Wp,-MMD,init/.main.o.d", "-nostdinc",
	  "-fplugin=./scripts/gcc-plugins/latent_entropy_plugin.so",
	  "-DLATENT_ENTROPY_PLUGIN",
	  "-fplugin-arg-latent_entropy_plugin-disable", "-c", "-o",
	  "init/main.o", "init/main.c"},
	 L, COMPILE, "-fplugin", NULL, NULL, NULL, 0},
	/* CONFIG_DEBUG_INFO_SPLIT: a .dwo beside the object, which the node
	 * writes under the object's own relative name */
	{{"gcc", "-Wp,-MMD,init/.main.o.d", "-nostdinc", "-g", "-gdwarf-5",
	  "-gsplit-dwarf", "-c", "-o", "init/main.o", "init/main.c"},
	 R, COMPILE, NULL, "init/main.o", "-nostdinc -g -gdwarf-5 -gsplit-dwarf",
	 NULL, 0},
	/* ... but an absolute or climbing -o is what the skeleton records */
	{{"gcc", "-g", "-gsplit-dwarf", "-c", "-o", "/tmp/main.o", "main.c"},
	 L, COMPILE, "-gsplit-dwarf with the object at /tmp/main.o", NULL, NULL,
	 NULL, 0},
	{{"gcc", "-g", "-gsplit-dwarf", "-c", "-o", "../obj/main.o", "main.c"},
	 L, COMPILE, "-gsplit-dwarf with the object at ../obj/main.o", NULL,
	 NULL, NULL, 0},
	/* clang's =single keeps the DWARF in the object; =split is the
	 * default form; the last one wins */
	{{"clang", "-g", "-gdwarf-4", "-gsplit-dwarf=single", "-c", "-o",
	  "/tmp/a.o", "a.c"},
	 R, COMPILE, NULL, "/tmp/a.o", NULL, NULL, 0},
	{{"gcc", "-g", "-gsplit-dwarf", "-gno-split-dwarf", "-c", "-o",
	  "/tmp/a.o", "a.c"},
	 R, COMPILE, NULL, "/tmp/a.o", NULL, NULL, 0},
	/* CONFIG_DEBUG_INFO_DWARF5 and COMPRESSED: remote */
	{{"gcc", "-Wp,-MMD,init/.main.o.d", "-nostdinc", "-g", "-gdwarf-5",
	  "-gz=zlib", "-fno-var-tracking", "-femit-struct-debug-baseonly",
	  "-c", "-o", "init/main.o", "init/main.c"},
	 R, COMPILE, NULL, "init/main.o",
	 "-nostdinc -g -gdwarf-5 -gz=zlib -fno-var-tracking "
	 "-femit-struct-debug-baseonly",
	 NULL, 0},
	/* CONFIG_GCOV_KERNEL: notes files beside the object */
	{{"gcc", "-Wp,-MMD,init/.main.o.d", "-fprofile-arcs",
	  "-ftest-coverage", "-fno-tree-loop-im", "-c", "-o", "init/main.o",
	  "init/main.c"},
	 L, COMPILE, "-fprofile-arcs", NULL, NULL, NULL, 0},
	/* LLVM=1: clang, -Wp,-MMD and an explicit target */
	{{"clang", "-Wp,-MMD,kernel/.fork.o.d", "-nostdinc", "-I./include",
	  "-include", "./include/linux/compiler_types.h", "-D__KERNEL__",
	  "--target=x86_64-linux-gnu", "-fintegrated-as",
	  "-fmacro-prefix-map=./=", "-O2", "-c", "-o", "kernel/fork.o",
	  "kernel/fork.c"},
	 R, COMPILE, NULL, "kernel/fork.o",
	 "-nostdinc -D__KERNEL__ --target=x86_64-linux-gnu -fintegrated-as "
	 "-fmacro-prefix-map=./= -O2",
	 "-E -frewrite-includes -Wp,-MMD,kernel/.fork.o.d -nostdinc "
	 "-I./include -include ./include/linux/compiler_types.h -D__KERNEL__ "
	 "--target=x86_64-linux-gnu -fintegrated-as -fmacro-prefix-map=./= "
	 "-O2 kernel/fork.c -MQ kernel/fork.o -o -",
	 0},

	/* ---- autotools: libiberty, libtool ---- */
	{{"gcc", "-c", "-DHAVE_CONFIG_H", "-g", "-O2", "-I.",
	  "-I../../libiberty/../include", "-W", "-Wall", "-Wwrite-strings",
	  "-Wc++-compat", "-Wstrict-prototypes", "-pedantic",
	  "-D_GNU_SOURCE", "../../libiberty/regex.c", "-o", "regex.o"},
	 R, COMPILE, NULL, "regex.o",
	 "-DHAVE_CONFIG_H -g -O2 -W -Wall -Wwrite-strings -Wc++-compat "
	 "-Wstrict-prototypes -pedantic -D_GNU_SOURCE",
	 "-E -fdirectives-only -DHAVE_CONFIG_H -g -O2 -I. "
	 "-I../../libiberty/../include -W -Wall -Wwrite-strings "
	 "-Wc++-compat -Wstrict-prototypes -pedantic -D_GNU_SOURCE "
	 "../../libiberty/regex.c -o -",
	 0},
	{{"gcc", "-c", "-DHAVE_CONFIG_H", "-g", "-O2", "-I.",
	  "-I../../libiberty/../include", "-fPIC",
	  "../../libiberty/cplus-dem.c", "-o", "pic/cplus-dem.o"},
	 R, COMPILE, NULL, "pic/cplus-dem.o", "-DHAVE_CONFIG_H -g -O2 -fPIC",
	 NULL, 0},
	{{"gcc", "-DHAVE_CONFIG_H", "-I.", "-I..", "-g", "-O2", "-MT",
	  "foo.lo", "-MD", "-MP", "-MF", ".deps/foo.Tpo", "-c",
	  "../lib/foo.c", "-fPIC", "-DPIC", "-o", ".libs/foo.o"},
	 R, COMPILE, NULL, ".libs/foo.o", "-DHAVE_CONFIG_H -g -O2 -fPIC -DPIC",
	 "-E -fdirectives-only -DHAVE_CONFIG_H -I. -I.. -g -O2 -MT foo.lo "
	 "-MD -MP -MF .deps/foo.Tpo ../lib/foo.c -fPIC -DPIC -o -",
	 0},
	{{"gcc", "-DHAVE_CONFIG_H", "-I.", "-g", "-O2", "-MT", "foo.o",
	  "-MD", "-MP", "-MF", ".deps/foo.Tpo", "-c", "-o", "foo.o", "foo.c"},
	 R, COMPILE, NULL, "foo.o", "-DHAVE_CONFIG_H -g -O2",
	 "-E -fdirectives-only -DHAVE_CONFIG_H -I. -g -O2 -MT foo.o -MD -MP "
	 "-MF .deps/foo.Tpo foo.c -o -",
	 0},
	{{"gcc", "-o", "conftest", "-g", "-O2", "conftest.c"},
	 L, LINK, "link", NULL, NULL, NULL, 0},
	{{"gcc", "-c", "-g", "-O2", "conftest.c"},
	 R, COMPILE, NULL, "conftest.o", "-g -O2", NULL, 0},
	{{"gcc", "-E", "conftest.c"},
	 L, LINK, "preprocessing only", NULL, NULL, NULL, 0},
	{{"gcc", "-o", "libfoo.so", "-shared", ".libs/a.o", ".libs/b.o",
	  "-lm"},
	 L, LINK, "link", NULL, NULL, NULL, 0},

	/* ---- cmake (Unix Makefiles and Ninja generators) ---- */
	{{"/usr/bin/cc", "-DFOO_EXPORTS", "-I/home/u/p/include", "-isystem",
	  "/home/u/p/third", "-O3", "-DNDEBUG", "-fPIC", "-std=gnu11", "-MD",
	  "-MT", "CMakeFiles/foo.dir/src/a.c.o", "-MF",
	  "CMakeFiles/foo.dir/src/a.c.o.d", "-o",
	  "CMakeFiles/foo.dir/src/a.c.o", "-c", "/home/u/p/src/a.c"},
	 R, COMPILE, NULL, "CMakeFiles/foo.dir/src/a.c.o",
	 "-DFOO_EXPORTS -O3 -DNDEBUG -fPIC -std=gnu11",
	 "-E -fdirectives-only -DFOO_EXPORTS -I/home/u/p/include -isystem "
	 "/home/u/p/third -O3 -DNDEBUG -fPIC -std=gnu11 -MD -MT "
	 "CMakeFiles/foo.dir/src/a.c.o -MF CMakeFiles/foo.dir/src/a.c.o.d "
	 "/home/u/p/src/a.c -o -",
	 0},
	{{"/usr/bin/c++", "-I/p/include", "-g", "-std=gnu++17", "-MD", "-MT",
	  "CMakeFiles/x.dir/b.cpp.o", "-MF", "CMakeFiles/x.dir/b.cpp.o.d",
	  "-o", "CMakeFiles/x.dir/b.cpp.o", "-c", "/p/b.cpp"},
	 R, COMPILE, NULL, "CMakeFiles/x.dir/b.cpp.o", "-g -std=gnu++17", NULL,
	 1},
	{{"/usr/bin/clang++", "-I/p/include", "-g", "-std=c++17", "-o",
	  "CMakeFiles/x.dir/b.cpp.o", "-c", "/p/b.cpp"},
	 L, COMPILE, "DWARF 5", "CMakeFiles/x.dir/b.cpp.o", NULL, NULL, 1},
	{{"clang", "-g", "-gdwarf-4", "-O2", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "-g -gdwarf-4 -O2", NULL, 0},
	{{"clang", "-g", "-fdebug-default-version=4", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", NULL, NULL, 0},
	{{"clang", "-g", "-g0", "-c", "a.c"}, R, COMPILE, NULL, "a.o", NULL,
	 NULL, 0},
	{{"clang", "-gline-tables-only", "-c", "a.c"},
	 L, COMPILE, "DWARF 5", NULL, NULL, NULL, 0},
	{{"clang", "-gdwarf-5", "-gdwarf-4", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", NULL, NULL, 0},

	/* ---- dependency files: made explicit for the -E run ---- */
	{{"clang", "-O2", "-MD", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "-O2",
	 "-E -frewrite-includes -O2 -MD a.c -MQ a.o -MF a.d -o -", 0},
	{{"clang", "-Wp,-MD,dir/.a.o.d", "-c", "-o", "dir/a.o", "dir/a.c"},
	 R, COMPILE, NULL, "dir/a.o", "",
	 "-E -frewrite-includes -Wp,-MD,dir/.a.o.d dir/a.c -MQ dir/a.o -o -",
	 0},
	{{"gcc", "-MD", "-c", "src/a.c"},
	 R, COMPILE, NULL, "a.o", "",
	 "-E -fdirectives-only -MD src/a.c -MQ a.o -MF a.d -o -", 0},
	{{"gcc", "-MMD", "-c", "src/x.c", "-o", "out/x"},
	 R, COMPILE, NULL, "out/x", "",
	 "-E -fdirectives-only -MMD src/x.c -MQ out/x -MF out/x.d -o -", 0},
	{{"gcc", "-MD", "-c", "x.c", "-o", "o.d/x.y.obj"},
	 R, COMPILE, NULL, "o.d/x.y.obj", "",
	 "-E -fdirectives-only -MD x.c -MQ o.d/x.y.obj -MF o.d/x.y.d -o -",
	 0},
	{{"gcc", "-MD", "-MF", "x.d", "-MQ", "t", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "",
	 "-E -fdirectives-only -MD -MF x.d -MQ t a.c -o -", 0},
	{{"gcc", "-Wp,-MD,.a.o.d", "-c", "-o", "a.o", "a.c"},
	 R, COMPILE, NULL, "a.o", "",
	 "-E -fdirectives-only -Wp,-MD,.a.o.d a.c -o -", 0},
	{{"gcc", "-Wp,-MMD,sub/.a.o.d", "-O2", "-c", "-o", "sub/a.o",
	  "sub/a.c"},
	 R, COMPILE, NULL, "sub/a.o", "-O2",
	 "-E -fdirectives-only -Wp,-MMD,sub/.a.o.d -O2 sub/a.c -o -", 0},
	{{"clang", "-Wp,-MMD,sub/.a.o.d", "-MT", "x", "-c", "-o", "sub/a.o",
	  "sub/a.c"},
	 R, COMPILE, NULL, "sub/a.o", "",
	 "-E -frewrite-includes -Wp,-MMD,sub/.a.o.d -MT x sub/a.c -o -", 0},
	/* Every dependency option: all kept, in order, for the -E run.
	 * (-MG with -MD is an error of gcc 12 and clang 14: the -E run
	 * says so, and the shim then compiles here to report it.) */
	{{"gcc", "-MD", "-MF", "x.d", "-MT", "t1", "-MQ", "$t2", "-MP",
	  "-MG", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "",
	 "-E -fdirectives-only -MD -MF x.d -MT t1 -MQ $t2 -MP -MG a.c -o -",
	 0},
	{{"gcc", "-MMD", "-MP", "-MTout/a.o", "-c", "a.c", "-o", "out/a.o"},
	 R, COMPILE, NULL, "out/a.o", "",
	 "-E -fdirectives-only -MMD -MP -MTout/a.o a.c -MF out/a.d -o -", 0},
	/* -o in another directory: the .d follows the object */
	{{"gcc", "-MD", "-c", "src/a.c", "-o", "../out/dir/a.o"},
	 R, COMPILE, NULL, "../out/dir/a.o", "",
	 "-E -fdirectives-only -MD src/a.c -MQ ../out/dir/a.o -MF "
	 "../out/dir/a.d -o -",
	 0},
	{{"gcc", "-c", "/abs/src/a.c", "-o", "/abs/obj/a.o"},
	 R, COMPILE, NULL, "/abs/obj/a.o", "",
	 "-E -fdirectives-only /abs/src/a.c -o -", 0},

	/* ---- joined and separate forms ---- */
	{{"gcc", "-I", "inc", "-D", "X=1", "-U", "Y", "-o", "out.o", "-c",
	  "a.c"},
	 R, COMPILE, NULL, "out.o", "-D X=1 -U Y",
	 "-E -fdirectives-only -I inc -D X=1 -U Y a.c -o -", 0},
	{{"gcc", "-ofoo.o", "-Iinc", "-MFdeps.d", "-MTfoo.o", "-MD", "-c",
	  "a.c"},
	 R, COMPILE, NULL, "foo.o", "",
	 "-E -fdirectives-only -Iinc -MFdeps.d -MTfoo.o -MD a.c -o -", 0},
	{{"gcc", "-c", "-o", "obj/a.o", "-iquote", "q", "-idirafter", "d",
	  "-include", "config.h", "-imacros", "m.h", "-includeforce.h",
	  "-O2", "a.c"},
	 R, COMPILE, NULL, "obj/a.o", "-O2", NULL, 0},
	{{"gcc", "-isystemsys", "-iquoteq", "-idirafterd", "-imacrosm.h",
	  "-includec.h", "-O2", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "-O2",
	 "-E -fdirectives-only -isystemsys -iquoteq -idirafterd -imacrosm.h "
	 "-includec.h -O2 a.c -o -",
	 0},
	{{"gcc", "-isystem", "sys", "-iquote", "q", "-idirafter", "d",
	  "-imacros", "m.h", "-include", "c.h", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "",
	 "-E -fdirectives-only -isystem sys -iquote q -idirafter d -imacros "
	 "m.h -include c.h a.c -o -",
	 0},
	{{"clang", "-isystem", "sys", "-iquote", "q", "-idirafter", "d",
	  "-include", "c.h", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "",
	 "-E -frewrite-includes -isystem sys -iquote q -idirafter d "
	 "-include c.h a.c -o -",
	 0},
	{{"gcc", "-x", "c++", "-c", "foo.inc"},
	 R, COMPILE, NULL, "foo.o", "-x c++", NULL, 1},
	{{"gcc", "-x", "c++", "-x", "none", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "-x c++ -x none", NULL, 0},
	{{"g++", "-x", "c", "-c", "a.cc"},
	 R, COMPILE, NULL, "a.o", "-x c", NULL, 0},
	{{"clang", "--sysroot", "/sr", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "",
	 "-E -frewrite-includes --sysroot /sr a.c -o -", 0},
	{{"gcc", "-xc", "-c", "noext"}, R, COMPILE, NULL, "noext.o", "-xc",
	 NULL, 0},
	{{"gcc", "-c", "dir/a.b.c"}, R, COMPILE, NULL, "a.b.o", "", NULL, 0},
	{{"g++", "-c", "a.c"}, R, COMPILE, NULL, "a.o", "", NULL, 1},
	{{"gcc", "-c", "a.cc"}, R, COMPILE, NULL, "a.o", "", NULL, 1},
	{{"gcc", "-Wp,-DFOO=1", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "-Wp,-DFOO=1", NULL, 0},
	{{"gcc", "-Wl,--as-needed", "-Wa,--noexecstack", "-pipe", "-c",
	  "a.c"},
	 R, COMPILE, NULL, "a.o", "-Wl,--as-needed -Wa,--noexecstack -pipe",
	 NULL, 0},
	{{"clang", "--sysroot=/sr", "-isysroot", "/sr2", "-O2", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "-O2", NULL, 0},
	/* gcc -g3: the unit's own name would enter the macro table */
	{{"gcc", "-g3", "-c", "a.c"}, L, COMPILE, "-g3", "a.o", NULL, NULL, 0},
	{{"gcc", "-ggdb3", "-O2", "-c", "a.c"}, L, COMPILE, "-g3", NULL, NULL,
	 NULL, 0},
	{{"gcc", "-g3", "-g", "-c", "a.c"}, L, COMPILE, "-g3", NULL, NULL,
	 NULL, 0},
	{{"gcc", "-g3", "-g0", "-g", "-c", "a.c"}, R, COMPILE, NULL, "a.o",
	 "-g3 -g0 -g", NULL, 0},
	{{"clang", "-g3", "-gdwarf-4", "-c", "a.c"}, R, COMPILE, NULL, "a.o",
	 NULL, NULL, 0},
	{{"gcc", "-fno-lto", "-O2", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "-fno-lto -O2", NULL, 0},
	{{"gcc", "-imacros", "m.h", "-g", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "-g", NULL, 0},

	/* ---- local, with a reason ---- */
	{{"gcc", "-c", "a.c", "b.c"}, L, COMPILE, "2 sources", NULL, NULL, NULL,
	 0},
	{{"gcc", "-c", "-"}, L, COMPILE, "stdin", NULL, NULL, NULL, 0},
	{{"gcc", "-x", "c", "-c", "-"}, L, COMPILE, "stdin", NULL, NULL, NULL,
	 0},
	{{"gcc", "-c", "a.s"}, L, COMPILE, "assembler", NULL, NULL, NULL, 0},
	{{"gcc", "-c", "a.S"}, L, COMPILE, "assembler", "a.o", NULL, NULL, 0},
	{{"gcc", "-c", "a.sx"}, L, COMPILE, "assembler", NULL, NULL, NULL, 0},
	{{"clang", "-c", "a.S"}, L, COMPILE, "assembler", NULL, NULL, NULL,
	 0},
	{{"gcc", "-x", "assembler", "-c", "a.c"},
	 L, COMPILE, "assembler", NULL, NULL, NULL, 0},
	{{"gcc", "-x", "c", "-c", "a.c", "-x", "none"},
	 L, COMPILE, "-x after", NULL, NULL, NULL, 0},
	{{"gcc", "--sysroot", "/sr", "-c", "a.c"}, L, COMPILE, "sysroot",
	 NULL, NULL, NULL, 0},
	{{"gcc", "-isysroot", "/sr", "-c", "a.c"}, L, COMPILE, "sysroot",
	 NULL, NULL, NULL, 0},
	{{"gcc", "-save-temps=obj", "-c", "a.c"}, L, COMPILE, "-save-temps",
	 NULL, NULL, NULL, 0},
	{{"clang", "-gsplit-dwarf", "-gdwarf-4", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", NULL, NULL, 0},
	{{"gcc", "-mcpu=native", "-c", "a.c"}, L, COMPILE, "native", NULL,
	 NULL, NULL, 0},
	{{"gcc", "-fprofile-generate", "-c", "a.c"}, L, COMPILE,
	 "-fprofile-generate", NULL, NULL, NULL, 0},
	{{"gcc", "-fprofile-update=atomic", "-c", "a.c"}, L, COMPILE,
	 "-fprofile-update", NULL, NULL, NULL, 0},
	{{"clang", "-fprofile-instr-generate", "-fcoverage-mapping", "-c",
	  "a.c"},
	 L, COMPILE, "-fprofile-instr-generate", NULL, NULL, NULL, 0},
	{{"gcc", "-fplugin=foo.so", "-c", "a.c"}, L, COMPILE, "-fplugin",
	 NULL, NULL, NULL, 0},
	{{"gcc", "-flto=auto", "-c", "a.c"}, L, COMPILE, "-flto", NULL, NULL,
	 NULL, 0},
	{{"clang", "-flto=thin", "-c", "a.c"}, L, COMPILE, "-flto", NULL,
	 NULL, NULL, 0},
	{{"gcc", "-x", "assembler-with-cpp", "-c", "a.inc"},
	 L, COMPILE, "assembler", NULL, NULL, NULL, 0},
	{{"gcc", "-S", "a.c"}, L, COMPILE, "-S", "a.s", NULL, NULL, 0},
	{{"gcc", "-M", "a.c"}, L, LINK, "preprocessing only", NULL, NULL, NULL,
	 0},
	{{"gcc", "-MM", "-MF", "a.d", "a.c"},
	 L, LINK, "preprocessing only", NULL, NULL, NULL, 0},
	{{"gcc", "-c", "-save-temps", "a.c"}, L, COMPILE, "-save-temps", NULL,
	 NULL, NULL, 0},
	{{"gcc", "-c", "--coverage", "a.c"}, L, COMPILE, "--coverage", NULL,
	 NULL, NULL, 0},
	{{"gcc", "-c", "-fprofile-arcs", "-ftest-coverage", "a.c"},
	 L, COMPILE, "-fprofile-arcs", NULL, NULL, NULL, 0},
	{{"gcc", "-c", "-fprofile-use=prof", "a.c"},
	 L, COMPILE, "-fprofile-use", NULL, NULL, NULL, 0},
	{{"gcc", "-c", "-march=native", "a.c"}, L, COMPILE, "native", NULL,
	 NULL, NULL, 0},
	{{"clang", "-c", "-mtune=native", "a.c"}, L, COMPILE, "native", NULL,
	 NULL, NULL, 0},
	{{"gcc", "@args.rsp"}, L, LINK, "response file", NULL, NULL, NULL, 0},
	{{"gcc", "-c", "@args.rsp", "a.c"}, L, COMPILE, "response file", NULL,
	 NULL, NULL, 0},
	{{"gcc", "a.c"}, L, LINK, "link", NULL, NULL, NULL, 0},
	{{"gcc", "-c"}, L, COMPILE, "no source", NULL, NULL, NULL, 0},
	{{"gcc", "-c", "a.c", "-o", "-"}, L, COMPILE, "stdout", NULL, NULL,
	 NULL, 0},
	{{"gcc", "-c", "foo.o"}, L, COMPILE, "not a source", NULL, NULL, NULL,
	 0},
	{{"gcc", "-g3", "-c", "/abs/a.c"}, L, COMPILE, "-g3", NULL, NULL,
	 NULL, 0},
	{{"gcc", "-imacros", "m.h", "-g3", "-c", "a.c"},
	 L, COMPILE, "-g3", NULL, NULL, NULL, 0},
	/* gcc reads a prefix map's old part up to its first '=' */
	{{"gcc", "-c", "x=y.c"}, L, COMPILE, "'='", NULL, NULL, NULL, 0},
	{{"clang", "-c", "x=y.c"}, R, COMPILE, NULL, "x=y.o", "", NULL, 0},
	/* the node knows a compile error by its text diagnostics */
	{{"gcc", "-fdiagnostics-format=json", "-c", "a.c"}, L, COMPILE,
	 "text format", NULL, NULL, NULL, 0},
	{{"gcc", "-fdiagnostics-format=text", "-c", "a.c"}, R, COMPILE, NULL,
	 "a.o", "-fdiagnostics-format=text", NULL, 0},
	/* colours and URLs: the node's compiler is given the client's
	 * terminal (protocol.md, "Job extras"), so the flags just travel */
	{{"gcc", "-fdiagnostics-color=always", "-fdiagnostics-urls=always",
	  "-Werror", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o",
	 "-fdiagnostics-color=always -fdiagnostics-urls=always -Werror", NULL,
	 0},
	{{"clang", "-fcolor-diagnostics", "-fansi-escape-codes", "-c", "a.c"},
	 R, COMPILE, NULL, "a.o", "-fcolor-diagnostics -fansi-escape-codes",
	 NULL, 0},
	/* C++20, and -x none back to the suffix's language */
	{{"g++", "-std=c++20", "-c", "m.cc"}, R, COMPILE, NULL, "m.o",
	 "-std=c++20", NULL, 1},
	{{"gcc", "-x", "c++", "-x", "none", "-c", "a.cc"}, R, COMPILE, NULL,
	 "a.o", "-x c++ -x none", NULL, 1},
	{{"gcc", "-x", "c", "-x", "none", "-c", "a.S"}, L, COMPILE,
	 "assembler", NULL, NULL, NULL, 0},
	{{"clang", "-imacros", "m.h", "-c", "a.c"}, L, COMPILE, "-imacros",
	 NULL, NULL, NULL, 0},
	{{"gcc", "--sysroot=/sr", "-c", "a.c"}, L, COMPILE, "sysroot", NULL,
	 NULL, NULL, 0},
	{{"gcc", "-include", "stdc-predef.h", "-c", "a.c"},
	 L, COMPILE, "stdc-predef", NULL, NULL, NULL, 0},
	{{"gcc", "-gsplit-dwarf", "-c", "a.c"}, R, COMPILE, NULL, "a.o", NULL,
	 NULL, 0},
	{{"gcc", "-flto", "-c", "a.c"}, L, COMPILE, "-flto", NULL, NULL, NULL,
	 0},
	{{"gcc", "-Wp,-C", "-c", "a.c"}, L, COMPILE, "preprocessor option",
	 NULL, NULL, NULL, 0},
	{{"gcc", "-c", "a.c", "-x", "c++"}, L, COMPILE, "-x after", NULL, NULL,
	 NULL, 0},
	{{"gcc", "-B/opt/bin", "-c", "a.c"}, L, COMPILE, "-B", NULL, NULL, NULL,
	 0},
	{{"gcc", "-c", "a.i"}, L, COMPILE, "preprocessed", NULL, NULL, NULL, 0},
	{{"gcc", "-c", "a.m"}, L, COMPILE, "not C or C++", NULL, NULL, NULL, 0},
	{{"gcc", "-c", "a.h"}, L, COMPILE, "not C or C++", NULL, NULL, NULL, 0},
	{{"gcc", "--version"}, L, LINK, "not a compile", NULL, NULL, NULL, 0},
	{{"gcc", "-c", "-o", "a.o", "-o", "b.o", "a.c"},
	 L, COMPILE, "several -o", NULL, NULL, NULL, 0},
	{{"gcc", "-c", "a.c", "-o"}, L, COMPILE, "without its value", NULL,
	 NULL, NULL, 0},
	{{"clang", "-Xclang", "-load", "-Xclang", "x.so", "-c", "a.c"},
	 L, COMPILE, "-Xclang", NULL, NULL, NULL, 0},
	{{"gcc", "-fsyntax-only", "a.c"}, L, LINK, NULL, NULL, NULL, NULL, 0},
	{{"gcc", "-c", "-fdump-tree-all", "a.c"}, L, COMPILE, "-fdump", NULL,
	 NULL, NULL, 0},
	{{"gcc", "-c", "-fstack-usage", "a.c"}, L, COMPILE, "-fstack-usage",
	 NULL, NULL, NULL, 0},
	{{"gcc", "-v", "-c", "a.c"}, L, COMPILE, "-v", NULL, NULL, NULL, 0},
};
/* clang-format on */

static void
join(struct dm_buf *b, char *const *v, size_t n)
{
	dm_buf_reset(b);
	for (size_t i = 0; i < n; i++)
		dm_buf_appendf(b, "%s%s", i ? " " : "", v[i]);
	dm_buf_cstr(b);
	if (b->p == NULL)
		dm_buf_appendf(b, "%s", "");
}

TEST(args_table)
{
	struct dm_buf b;
	size_t nrows = sizeof(rows) / sizeof(rows[0]);

	ASSERT_GE_INT(nrows, 40);
	dm_buf_init(&b);
	for (size_t r = 0; r < nrows; r++) {
		const struct row *w = &rows[r];
		char *argv[48];
		int argc = 0;
		struct args a;

		for (; w->argv[argc] != NULL; argc++)
			argv[argc] = (char *)w->argv[argc];
		argv[argc] = NULL;
		printf("# row %zu: %s %s %s ...\n", r, argv[0],
		       argc > 1 ? argv[1] : "", argc > 2 ? argv[2] : "");
		ASSERT_OK(args_parse(argc, argv, &a));
		if ((int)a.where != w->where)
			tap_fail(__FILE__, __LINE__, "row %zu: where %s (%s)",
				 r, a.where == ARGS_LOCAL ? "local" : "remote",
				 a.why);
		ASSERT_EQ_INT(a.is_compile, w->is_compile);
		if (w->why != NULL && strstr(a.why, w->why) == NULL)
			tap_fail(__FILE__, __LINE__,
				 "row %zu: why \"%s\" lacks \"%s\"", r, a.why,
				 w->why);
		if (w->where == R)
			ASSERT_EQ_STR(a.why, "");
		if (w->object != NULL)
			ASSERT_EQ_STR(a.object, w->object);
		if (w->where == R || w->cxx)
			ASSERT_EQ_INT(a.cxx, w->cxx);
		if (w->remote != NULL) {
			join(&b, a.remote_flags, a.n_remote_flags);
			ASSERT_EQ_STR((char *)b.p, w->remote);
			ASSERT_TRUE(a.remote_flags[a.n_remote_flags] == NULL);
		}
		if (w->cpp != NULL) {
			char **cpp;
			size_t n = 0;

			ASSERT_OK(args_cpp_argv(&a, "-", &cpp));
			ASSERT_EQ_STR(cpp[0], w->argv[0]);
			while (cpp[n] != NULL)
				n++;
			join(&b, cpp + 1, n - 1);
			ASSERT_EQ_STR((char *)b.p, w->cpp);
			args_argv_free(cpp);
		}
		if (w->where == R) {
			/* The node never gets what names local files. */
			for (size_t i = 0; i < a.n_remote_flags; i++) {
				const char *f = a.remote_flags[i];

				ASSERT_TRUE(strncmp(f, "-I", 2) != 0);
				ASSERT_TRUE(strcmp(f, "-c") != 0);
				ASSERT_TRUE(strcmp(f, "-o") != 0);
				ASSERT_TRUE(strncmp(f, "-M", 2) != 0);
				ASSERT_TRUE(strncmp(f, "-include", 8) != 0);
				ASSERT_TRUE(strncmp(f, "-isystem", 8) != 0);
				ASSERT_TRUE(strncmp(f, "-Wp,-M", 6) != 0);
				ASSERT_TRUE(a.source == NULL ||
					    strcmp(f, a.source) != 0);
			}
			ASSERT_TRUE(a.source != NULL);
		}
		args_free(&a);
	}
	dm_buf_free(&b);
}

TEST(args_family_and_out)
{
	char *gcc[] = {"x86_64-linux-gnu-gcc-12", "-c", "a.c", NULL};
	char *clang[] = {"/usr/lib/llvm-14/bin/clang", "-c", "a.c", NULL};
	char **cpp;
	struct args a;

	ASSERT_OK(args_parse(3, gcc, &a));
	ASSERT_EQ_INT(a.family, ARGS_GCC);
	ASSERT_EQ_STR(a.source, "a.c");
	ASSERT_TRUE(a.source == gcc[2]); /* points into argv */
	ASSERT_OK(args_cpp_argv(&a, "/tmp/unit.i", &cpp));
	ASSERT_EQ_STR(cpp[1], "-E");
	ASSERT_EQ_STR(cpp[2], "-fdirectives-only");
	ASSERT_EQ_STR(cpp[3], "a.c");
	ASSERT_EQ_STR(cpp[4], "-o");
	ASSERT_EQ_STR(cpp[5], "/tmp/unit.i");
	ASSERT_TRUE(cpp[6] == NULL);
	args_argv_free(cpp);
	args_free(&a);
	args_free(&a); /* twice is harmless */

	ASSERT_OK(args_parse(3, clang, &a));
	ASSERT_EQ_INT(a.family, ARGS_CLANG);
	ASSERT_EQ_INT(a.where, ARGS_REMOTE);
	args_free(&a);
}

/* A precompiled header beside an -include file: the local compile uses
 * it, the preprocessing for the node reads the header's text, so the
 * classifier must see it (found the way the compiler finds the header:
 * the working directory, then -iquote and -I). */
TEST(args_include_pch)
{
	static const char *const gch[] = {"x.h.gch", "inc/y.h.gch",
					  "q/z.h.pch"};
	struct {
		const char *argv[10];
		int where;
		const char *why;
	} pch_rows[] = {
		{{"gcc", "-include", "x.h", "-c", "a.c"}, L, "x.h"},
		{{"gcc", "-includex.h", "-c", "a.c"}, L, "x.h"},
		{{"clang", "-include", "x.h", "-c", "a.c"}, L, "x.h"},
		{{"gcc", "-Iinc", "-include", "y.h", "-c", "a.c"}, L, "y.h"},
		{{"gcc", "-include", "y.h", "-iquote", "inc", "-c", "a.c"},
		 L,
		 "y.h"},
		{{"gcc", "-include", "y.h", "-c", "a.c"}, R, NULL},
		{{"gcc", "-include", "w.h", "-c", "a.c"}, R, NULL},
		/* .pch is clang's name, not gcc's */
		{{"gcc", "-Iq", "-include", "z.h", "-c", "a.c"}, R, NULL},
		{{"clang", "-Iq", "-include", "z.h", "-c", "a.c"}, L, "z.h"},
		/* -imacros never uses one */
		{{"gcc", "-imacros", "x.h", "-c", "a.c"}, R, NULL},
	};
	char dir[1024];

	snprintf(dir, sizeof(dir), "%s/pch", tap_tmpdir());
	ASSERT_OK(mkdir(dir, 0755) == 0 ? 0 : -errno);
	ASSERT_OK(chdir(dir) == 0 ? 0 : -errno);
	ASSERT_OK(mkdir("inc", 0755) == 0 ? 0 : -errno);
	ASSERT_OK(mkdir("q", 0755) == 0 ? 0 : -errno);
	for (size_t i = 0; i < sizeof(gch) / sizeof(gch[0]); i++) {
		FILE *f = fopen(gch[i], "w");

		ASSERT_TRUE(f != NULL);
		fclose(f);
	}
	for (size_t r = 0; r < sizeof(pch_rows) / sizeof(pch_rows[0]); r++) {
		char *argv[10];
		int argc = 0;
		struct args a;

		for (; pch_rows[r].argv[argc] != NULL; argc++)
			argv[argc] = (char *)pch_rows[r].argv[argc];
		argv[argc] = NULL;
		ASSERT_OK(args_parse(argc, argv, &a));
		if ((int)a.where != pch_rows[r].where)
			tap_fail(__FILE__, __LINE__, "row %zu: where %s (%s)",
				 r, a.where == ARGS_LOCAL ? "local" : "remote",
				 a.why);
		if (pch_rows[r].why != NULL &&
		    (strstr(a.why, pch_rows[r].why) == NULL ||
		     strstr(a.why, "precompiled") == NULL))
			tap_fail(__FILE__, __LINE__, "row %zu: why \"%s\"", r,
				 a.why);
		args_free(&a);
	}
}

/* Response files, read as gcc's driver reads them (libiberty's
 * expandargv and buildargv): the words of each file in its place, quotes
 * and backslashes, files that name files, and a file that cannot be read
 * left as a word (the compile then stays here, where the compiler says
 * what is wrong). */
TEST(args_response_files)
{
	static const struct {
		const char *name, *text;
	} files[] = {
		{"flags.rsp", "-O2 -DNAME='\"two words\"'\n\t-DX=a\\ b "
			      "-I inc\n"},
		{"compile.rsp", "-c 'my file.c' -o \"out dir/o.o\" @flags.rsp"},
		{"empty.rsp", " \n\t \n"},
		{"quoted.rsp", "'' \"a'b\" 'c\"d' e\\\\f g\\'h"},
		{"loop.rsp", "-c @loop.rsp"},
	};
	static const struct {
		const char *argv[8];
		const char *words; /* the expanded argv after argv[0] */
		int where;
		const char *why;
	} cases[] = {
		{{"gcc", "@compile.rsp"},
		 "-c|my file.c|-o|out dir/o.o|-O2|-DNAME=\"two words\"|-DX=a "
		 "b|-I|inc",
		 R, NULL},
		{{"gcc", "@empty.rsp", "-c", "a.c"}, "-c|a.c", R, NULL},
		{{"gcc", "@quoted.rsp"}, "|a'b|c\"d|e\\f|g'h", L, NULL},
		{{"gcc", "-c", "@missing.rsp", "a.c"},
		 "-c|@missing.rsp|a.c",
		 L,
		 "response file @missing.rsp cannot be read"},
		{{"gcc", "@.", "-c", "a.c"}, "@.|-c|a.c", L, "response file @."},
	};
	char dir[1024];
	struct dm_buf b;

	snprintf(dir, sizeof(dir), "%s/rsp", tap_tmpdir());
	ASSERT_OK(mkdir(dir, 0755) == 0 ? 0 : -errno);
	ASSERT_OK(chdir(dir) == 0 ? 0 : -errno);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		FILE *f = fopen(files[i].name, "w");

		ASSERT_TRUE(f != NULL);
		fputs(files[i].text, f);
		fclose(f);
	}
	dm_buf_init(&b);
	for (size_t r = 0; r < sizeof(cases) / sizeof(cases[0]); r++) {
		char *argv[8], **x;
		int argc = 0, xn;
		struct args a;

		for (; cases[r].argv[argc] != NULL; argc++)
			argv[argc] = (char *)cases[r].argv[argc];
		argv[argc] = NULL;
		printf("# case %zu: %s\n", r, argv[1]);
		ASSERT_OK(args_expand(argc, argv, &x, &xn));
		ASSERT_TRUE(x != NULL);
		dm_buf_reset(&b);
		for (int i = 1; i < xn; i++)
			dm_buf_appendf(&b, "%s%s", i > 1 ? "|" : "", x[i]);
		dm_buf_cstr(&b);
		ASSERT_EQ_STR(b.p ? (char *)b.p : "", cases[r].words);
		ASSERT_TRUE(x[xn] == NULL);
		args_argv_free(x);
		ASSERT_OK(args_parse(argc, argv, &a));
		if ((int)a.where != cases[r].where)
			tap_fail(__FILE__, __LINE__, "case %zu: %s (%s)", r,
				 a.where == ARGS_LOCAL ? "local" : "remote",
				 a.why);
		if (cases[r].why != NULL && strstr(a.why, cases[r].why) == NULL)
			tap_fail(__FILE__, __LINE__, "case %zu: why \"%s\"", r,
				 a.why);
		args_free(&a);
	}
	/* the words of the file, as the node gets them */
	{
		char *argv[] = {"gcc", "@compile.rsp", NULL};
		struct args a;

		ASSERT_OK(args_parse(2, argv, &a));
		ASSERT_EQ_STR(a.source, "my file.c");
		ASSERT_EQ_STR(a.object, "out dir/o.o");
		join(&b, a.remote_flags, a.n_remote_flags);
		ASSERT_EQ_STR((char *)b.p, "-O2 -DNAME=\"two words\" -DX=a b");
		args_free(&a);
	}
	/* a file that names itself: expanded 2000 times, then left */
	{
		char *argv[] = {"gcc", "@loop.rsp", "a.c", NULL}, **x;
		int xn;

		ASSERT_OK(args_expand(3, argv, &x, &xn));
		ASSERT_EQ_INT(xn, 1 + 2000 + 1 + 1);
		ASSERT_EQ_STR(x[2000 + 1], "@loop.rsp");
		args_argv_free(x);
	}
	/* no @: nothing copied */
	{
		char *argv[] = {"gcc", "-c", "a.c", NULL}, **x;
		int xn;

		ASSERT_OK(args_expand(3, argv, &x, &xn));
		ASSERT_TRUE(x == NULL);
		ASSERT_EQ_INT(xn, 3);
	}
	dm_buf_free(&b);
}

/* Where -gsplit-dwarf puts the .dwo (measured with gcc 12 and clang 14:
 * the same rule for both). */
TEST(args_dwo_name)
{
	static const char *const dwo_rows[][2] = {
		{"a.o", "a.dwo"},
		{"sub/a.o", "sub/a.dwo"},
		{"t/a", "t/a.dwo"},
		{"t/b.obj", "t/b.dwo"},
		{"t/c.x.o", "t/c.x.dwo"},
		{"t/.d.o", "t/.d.dwo"},
		{"x.y/a", "x.y/a.dwo"},
	};
	char out[64];

	for (size_t i = 0; i < sizeof(dwo_rows) / sizeof(dwo_rows[0]); i++) {
		ASSERT_OK(dm_jobdir_dwo_name(dwo_rows[i][0], out, sizeof(out)));
		ASSERT_EQ_STR(out, dwo_rows[i][1]);
	}
	ASSERT_EQ_INT(dm_jobdir_dwo_name("abcdef.o", out, 10), -ENAMETOOLONG);
}
