#!/bin/sh
# dmake ninja on a real CMake project generated with -G Ninja (ninja 1.11,
# no jobserver): 25 C units in 3 static libraries and 2 executables, plus
# 3 generated sources.  Every compile runs on the loopback cluster, every
# object equals the one of a plain `ninja` build, and the local steps
# (generators, ar, ranlib, links), each recorded by a wrapper that counts
# under flock how many run at once, never exceed the local slots, though
# ninja runs with a -j far above them.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

command -v cmake >/dev/null || skip_all "cmake is not installed"
command -v ninja >/dev/null || skip_all "ninja-build is not installed"

plan 16
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
(cd "$B" && find . -name '*.o' | sort >"$T/objects" &&
	mkdir -p "$T/ref" && tar -cf - -T "$T/objects" | tar -C "$T/ref" -xf -)
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

n=0; bad=0
while read -r o; do
	n=$((n + 1))
	cmp -s "$T/ref/$o" "$B/$o" || { bad=$((bad + 1)); diag "differs: $o"; }
done <"$T/objects"
diag "$n objects compared, $bad differ"
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

# For comparison only: the same steps under plain ninja with the -j
# dmake gave it, and no gate.
ninja -C "$B" -t clean >/dev/null
REC_LOG="$T/plain.rec" REC_HOLD=0.2 ninja -C "$B" -j 66 >/dev/null 2>&1
diag "for comparison, plain ninja -j 66: peak $(peak_of "$T/plain.rec") local steps at once"
finish
