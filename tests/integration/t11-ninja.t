#!/bin/sh
# dmake ninja on a real CMake project generated with -G Ninja (ninja 1.11,
# no jobserver): 25 C units in 3 static libraries and 2 executables, plus
# 3 generated sources.  Every compile runs on the loopback cluster, every
# object equals the one of a plain `ninja` build, and the local steps
# (generators, ar, ranlib, links), each recorded by a wrapper that counts
# under flock how many run at once, never exceed the local slots, though
# ninja runs with a -j far above them.  The same project configured with
# dmake-cc as CMake's compiler launcher builds as well.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

command -v cmake >/dev/null || skip_all "cmake is not installed"
command -v ninja >/dev/null || skip_all "ninja-build is not installed"

plan 31
setup

# make_project DIR: 3 libraries of 6 units and one generated unit each,
# 2 executables of 2 units.
make_project() {
	d=$1; mkdir -p "$d/tools" "$d/include"
	cat >"$d/tools/gen.sh" <<'G'
#!/bin/sh
# gen.sh LIB OUT: writes LIB's generated unit.
printf '#include "farm.h"\nint %s_generated(int x) { return x * %d + 7; }\n' \
	"$1" "${#1}" >"$2.tmp" && mv "$2.tmp" "$2"
G
	chmod +x "$d/tools/gen.sh"
	{
		echo '#ifndef FARM_H'; echo '#define FARM_H'
		for l in alpha beta gamma; do
			for i in 1 2 3 4 5 6; do echo "int ${l}_f$i(int);"; done
			echo "int ${l}_generated(int);"
		done
		echo 'int app_util(int);'; echo '#endif'
	} >"$d/include/farm.h"
	for l in alpha beta gamma; do
		mkdir -p "$d/$l"
		for i in 1 2 3 4 5 6; do
			cat >"$d/$l/f$i.c" <<C
#include <stdio.h>
#include <string.h>
#include "farm.h"
/* ${l} unit $i */
static const char table_$i[] = "${l}-$i-table";
struct acc { int v[16]; };
static int mix(struct acc *a, int x)
{
	for (int k = 0; k < 16; k++)
		a->v[k] = a->v[k] * 31 + x + k * $i;
	return a->v[x & 15];
}
int ${l}_f$i(int x)
{
	struct acc a;
	int r = 0;

	memset(&a, 0, sizeof(a));
	for (int k = 0; k < x; k++)
		r ^= mix(&a, k + (int)strlen(table_$i));
	if (x < 0)
		fprintf(stderr, "${l}_f$i: %d\n", x);
	return r + ${l}_generated(x);
}
C
		done
	done
	for a in app1 app2; do
		mkdir -p "$d/$a"
		cat >"$d/$a/main.c" <<C
#include <stdio.h>
#include "farm.h"
int main(void)
{
	int s = app_util(3);

	s += alpha_f1(5) + beta_f2(6) + gamma_f3(7) + alpha_f6(2);
	printf("$a %d\n", s);
	return 0;
}
C
		cat >"$d/$a/util.c" <<C
#include "farm.h"
int app_util(int x) { return x * 7 + beta_f4(x) + gamma_f1(x); }
C
	done
	cat >"$d/CMakeLists.txt" <<'M'
cmake_minimum_required(VERSION 3.20)
project(farm C)
set(REC "" CACHE STRING "a wrapper for the generators")
include_directories(include)
foreach(lib alpha beta gamma)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/gen_${lib}.c
    COMMAND ${REC} ${CMAKE_SOURCE_DIR}/tools/gen.sh ${lib}
            ${CMAKE_BINARY_DIR}/gen_${lib}.c
    DEPENDS tools/gen.sh VERBATIM)
  add_library(${lib} STATIC ${lib}/f1.c ${lib}/f2.c ${lib}/f3.c ${lib}/f4.c
    ${lib}/f5.c ${lib}/f6.c ${CMAKE_BINARY_DIR}/gen_${lib}.c)
endforeach()
foreach(app app1 app2)
  add_executable(${app} ${app}/main.c ${app}/util.c)
  target_link_libraries(${app} alpha beta gamma alpha beta)
endforeach()
M
}

rec_tool
printf '#!/bin/sh\nexec "%s" /usr/bin/ar "$@"\n' "$T/tools/rec" >"$T/tools/ar"
printf '#!/bin/sh\nexec "%s" /usr/bin/ranlib "$@"\n' "$T/tools/rec" >"$T/tools/ranlib"
chmod +x "$T/tools/ar" "$T/tools/ranlib"
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
steps_of() { grep -c '^start' "$1"; }
# keep_objects DIR LIST REF: lists DIR's objects in LIST, copies them to REF.
keep_objects() {
	(cd "$1" && find . -name '*.o' | sort >"$2" &&
		mkdir -p "$3" && tar -cf - -T "$2" | tar -C "$3" -xf -)
}
# compare_objects REF DIR LIST: bad = how many objects of LIST differ.
compare_objects() {
	n=0; bad=0
	while read -r o; do
		n=$((n + 1))
		cmp -s "$1/$o" "$2/$o" || { bad=$((bad + 1)); diag "differs: $o"; }
	done <"$3"
	diag "$n objects compared, $bad differ"
}

PROJ="$T/src/proj"
B="$PROJ/build"
make_project "$PROJ"
ok "cmake -G Ninja configures the project" \
	sh -c "cmake -S '$PROJ' -B '$B' -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DREC='$T/tools/rec' -DCMAKE_AR='$T/tools/ar' \
		-DCMAKE_RANLIB='$T/tools/ranlib' \
		-DCMAKE_C_LINKER_LAUNCHER='$T/tools/rec' >'$T/cmake.log' 2>&1"

# The reference: plain ninja.
t0=$(date +%s.%N)
REC_LOG="$T/ref.rec" ninja -C "$B" -j2 >"$T/ref-build.log" 2>&1
is "plain ninja builds it" "$?" 0
t1=$(date +%s.%N)
diag "plain ninja -j2: $(elapsed "$t0" "$t1") s"
keep_objects "$B" "$T/objects" "$T/ref"
ref_out="$("$B/app1") $("$B/app2")"
is "25 objects in the reference" "$(wc -l <"$T/objects")" 25
ninja -C "$B" -t clean >/dev/null

start_sched
start_node n1 2
start_node n2 2
is "both nodes registered" "$(node_count)" 2

t0=$(date +%s.%N)
DMAKE_PLACEMENT=remote DMAKE_LOCAL_SLOTS=2 REC_LOG="$T/dmake.rec" REC_HOLD=0.2 \
	dmake ninja -C "$B" >"$T/dmake-build.log" 2>&1
is "dmake ninja exits 0" "$?" 0
t1=$(date +%s.%N)
sum=$(summary_of "$T/dmake-build.log")
diag "$sum"
diag "dmake ninja: $(elapsed "$t0" "$t1") s"
is "every compile ran remotely" "$(echo "$sum" | field_of - remote)" 25
is "none locally" "$(echo "$sum" | field_of - local)$(echo "$sum" | field_of - fallback)" "00"

compare_objects "$T/ref" "$B" "$T/objects"
is "every object equals plain ninja's" "$bad" 0
is "the programs print what they printed" "$("$B/app1") $("$B/app2")" "$ref_out"

# 3 generators, 3 ar, 3 ranlib, 2 links.
is "all 11 local steps were recorded" "$(steps_of "$T/dmake.rec")" 11
peak=$(peak_of "$T/dmake.rec")
diag "local steps at once: peak $peak with 2 local slots"
ok "local steps never exceeded the 2 local slots" test "$peak" -le 2
pl=$(echo "$sum" | sed -n 's/.*peak_local=\([0-9]*\).*/\1/p')
ok "the coordinator never granted more than 2 local slots" test "$pl" -le 2

# Nothing to do the second time: the gated copy is stable.
DMAKE_LOCAL_SLOTS=2 dmake ninja -C "$B" >"$T/again.log" 2>&1
ok "a second dmake ninja has no work to do" grep -q 'no work to do' "$T/again.log"

# CMake's re-run rule: regenerated first, as ninja itself would, and the
# objects stay built.
sleep 1; touch "$PROJ/CMakeLists.txt"
DMAKE_LOCAL_SLOTS=2 dmake ninja -C "$B" >"$T/regen.log" 2>&1
rc=$?
ok "after touching CMakeLists.txt the build regenerates, rebuilds no object" \
	sh -c "[ $rc -eq 0 ] && ! grep -q 'Building C object' '$T/regen.log' &&
		[ '$B/build.ninja' -nt '$PROJ/CMakeLists.txt' ]"

# Tools see the build files as they are.
ok "dmake ninja -t passes through to ninja" \
	sh -c "dmake ninja -C '$B' -t commands app1 | grep -q '^/usr/bin/cc' &&
		! dmake ninja -C '$B' -t commands app1 | grep -q dmake-gate"

# A hand-written build file (named with -f) whose steps run make, which
# compiles through the masquerade directory: with one local slot, each
# gated step lends its slot to the compiler it starts, instead of both
# waiting for ever.
N="$T/src/nested"
for d in a b; do
	mkdir -p "$N/$d"
	printf 'int %s(void) { return 1; }\n' "$d" >"$N/$d/$d.c"
	printf '%s.o: %s.c\n\tcc -c %s.c -o %s.o\n' "$d" "$d" "$d" "$d" >"$N/$d/Makefile"
done
cat >"$N/steps.ninja" <<'J'
rule submake
  command = make -s -C $dir && touch $out
  description = make in $dir
build a.stamp: submake
  dir = a
build b.stamp: submake
  dir = b
J
env -u DMAKE_SCHEDULER DMAKE_LOCAL_SLOTS=1 timeout 120 \
	dmake ninja -C "$N" -f steps.ninja >"$T/nested.log" 2>&1
rc=$?
diag "$(summary_of "$T/nested.log")"
ok "one local slot, steps that run make and cc: no deadlock, all built" \
	sh -c "[ $rc -eq 0 ] && [ -f '$N/a/a.o' ] && [ -f '$N/b/b.o' ] && [ -f '$N/b.stamp' ]"

# CMake's compiler launcher instead of the masquerade directory (not on
# PATH here): every compile rule runs `dmake-cc /usr/bin/cc ...`, which
# the gate must leave to the shim in it.  (It took `dmake-cc` for a
# target-prefixed cc and put a second shim in front: the build failed
# with the launcher named `dmake-cc` and hung with it named by its path.)
# Objects record their build directory (DW_AT_comp_dir), so the
# reference is a plain build in the same directory, configured without
# the launcher.
LB="$PROJ/build-launcher"
# launcher_build LOG WHAT: DMAKE_PLACEMENT=remote dmake ninja in $LB,
# killed after 300 s; checks that it exits 0 and sets sum.
launcher_build() {
	DMAKE_PLACEMENT=remote DMAKE_LOCAL_SLOTS=2 DMAKE_LOG=debug timeout 300 \
		dmake ninja -C "$LB" >"$1" 2>&1
	rc=$?
	[ "$rc" -ne 124 ] || diag "dmake ninja with $2 hung: killed after 300 s"
	is "dmake ninja with $2 exits 0, no hang" "$rc" 0
	sum=$(summary_of "$1")
	diag "$sum"
}
ok "plain ninja builds the reference of the launcher build directory" \
	sh -c "cmake -S '$PROJ' -B '$LB' -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		>'$T/cmake-lref.log' 2>&1 &&
		ninja -C '$LB' -j2 >'$T/lref-build.log' 2>&1"
keep_objects "$LB" "$T/lobjects" "$T/lref"
rm -rf "$LB"
ok "cmake -G Ninja with dmake-cc as the C and C++ compiler launcher" \
	sh -c "cmake -S '$PROJ' -B '$LB' -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_C_COMPILER_LAUNCHER=dmake-cc \
		-DCMAKE_CXX_COMPILER_LAUNCHER=dmake-cc >'$T/cmake-launcher.log' 2>&1 &&
		grep -q '^  command = dmake-cc /usr/bin/cc ' '$LB/CMakeFiles/rules.ninja'"
launcher_build "$T/launcher-build.log" "the launcher"
is "all 25 launcher compiles ran remotely" "$(echo "$sum" | field_of - remote)" 25
is "no launcher compile locally, none fell back" \
	"$(echo "$sum" | field_of - local)$(echo "$sum" | field_of - fallback)" "00"
# A shim borrows a slot only from a gate that holds one around it: none
# may, or each remote compile would hold a local slot.
is "no shim ran in a slot of the gate's" \
	"$(grep -c 'runs in the local slot of its ancestor' "$T/launcher-build.log")" 0
compare_objects "$T/lref" "$LB" "$T/lobjects"
is "all 25 launcher objects equal plain ninja's" "$n $bad" "25 0"

# The launcher named by its path, as it is when it is not on PATH.
ok "cmake puts the launcher's path before the compiler" \
	sh -c "cmake -S '$PROJ' -B '$LB' \
		-DCMAKE_C_COMPILER_LAUNCHER='$DMAKE_BUILD_DIR/dmake-cc' \
		>>'$T/cmake-launcher.log' 2>&1 &&
		grep -q '^  command = $DMAKE_BUILD_DIR/dmake-cc /usr/bin/cc ' \
			'$LB/CMakeFiles/rules.ninja' &&
		ninja -C '$LB' -t clean >/dev/null"
launcher_build "$T/launcher-path.log" "the launcher's path"
compare_objects "$T/lref" "$LB" "$T/lobjects"
is "all 25 remote, none fell back, all 25 objects equal plain ninja's" \
	"$(echo "$sum" | field_of - remote) $(echo "$sum" | field_of - fallback) $n $bad" \
	"25 0 25 0"

# ninja >= 1.13 takes its parallelism from the jobserver: dmake must
# hand it the FIFO in MAKEFLAGS and no -j.  Debian 12 has no ninja 1.13,
# so the real 1.11 stands behind a script that says it is 1.13 and
# records what it was given; 1.11 ignores MAKEFLAGS and runs its own
# default -j, which the gate still holds to the local slots.
mkdir -p "$T/n13"
cat >"$T/n13/ninja" <<N13
#!/bin/sh
[ "\$1" = --version ] && { echo 1.13.1; exit 0; }
printf 'MAKEFLAGS=%s\nARGS=%s\n' "\$MAKEFLAGS" "\$*" >>"$T/n13.env"
exec $(command -v ninja) "\$@"
N13
chmod +x "$T/n13/ninja"
ninja -C "$B" -t clean >/dev/null
PATH="$T/n13:$PATH" DMAKE_PLACEMENT=remote DMAKE_LOCAL_SLOTS=2 \
	REC_LOG="$T/n13.rec" timeout 300 dmake ninja -C "$B" >"$T/n13-build.log" 2>&1
is "a ninja that says 1.13: dmake ninja exits 0" "$?" 0
ok "... its MAKEFLAGS name the FIFO jobserver" \
	grep -q '^MAKEFLAGS=.*--jobserver-auth=fifo:/' "$T/n13.env"
ok "... and dmake gave it no -j" \
	sh -c "grep -q '^ARGS=' '$T/n13.env' &&
		! grep -qE '^ARGS=(.* )?-j' '$T/n13.env'"
sum=$(summary_of "$T/n13-build.log")
compare_objects "$T/ref" "$B" "$T/objects"
is "... all 25 compiles remote, objects equal plain ninja's" \
	"$(echo "$sum" | field_of - remote) $bad" "25 0"
ok "... local steps within the 2 local slots" test "$(peak_of "$T/n13.rec")" -le 2

# For comparison only: the same steps under plain ninja with the -j
# dmake gave it, and no gate.
ninja -C "$B" -t clean >/dev/null
REC_LOG="$T/plain.rec" REC_HOLD=0.2 ninja -C "$B" -j 66 >/dev/null 2>&1
diag "for comparison, plain ninja -j 66: peak $(peak_of "$T/plain.rec") local steps at once"
finish
