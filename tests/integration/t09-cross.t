#!/bin/sh
# Compilers are matched by identity, never by name.
#
# Cross: libiberty configured for aarch64 and built with
# CC=aarch64-linux-gnu-gcc on two nodes: "cross" offers that compiler
# (--compiler aarch64-linux-gnu-gcc), "plain" is told to but cannot find
# it on its PATH.  With archives off every job lands on "cross"; every
# object equals a local cross compile.  clang takes its target as a flag
# (--target=aarch64-linux-gnu travels with the job), so an aarch64 clang
# compile is a job for the node's own clang.  With archives on and
# "cross" gone, "plain" runs the cross compiler from its archive, and the
# objects are still the local ones.
#
# Defaults: node "wrap" finds as gcc and cc a wrapper that adds -fno-plt
# (which changes every call to another object).  Its gcc is another
# toolchain than the real one, so with archives off a project's compiles
# all land on "plain"; with "plain" gone and archives on they land on
# "wrap", which runs the real gcc from its archive and not its own: the
# objects are still the local ones.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

CROSS=aarch64-linux-gnu-gcc
command -v "$CROSS" >/dev/null || skip_all "no $CROSS (apt-get install gcc-aarch64-linux-gnu)"
command -v clang >/dev/null || skip_all "no clang"

plan 33
setup

node_json() {
	dmake status --json | grep -o "{[^{}]*\"name\":\"$1\",\"addr\"[^{}]*}"
}
jobs_of() { node_json "$1" | sed -n 's/.*"jobs_done":\([0-9]*\).*/\1/p'; }
stop_node() {
	eval "kill -TERM \$NODE_PID_$1; wait \$NODE_PID_$1"
	wait_for 5 sh -c "! dmake status --json | grep -q '\"name\":\"$1\",\"addr\"'"
}
clean_tree() { (cd "$PROJ" && find . -name '*.o' -delete && rm -f libiberty.a); }

prepare_libiberty aarch64-linux-gnu "$CROSS" || bail "libiberty could not be prepared"
ok "reference cross build with plain make" reference_build
start_sched

# plain: the native gcc on a PATH without the cross compiler.
mkdir -p "$T/pbin"
for p in gcc g++ cc as; do ln -s "$(command -v $p)" "$T/pbin/$p"; done
start_node cross 2 --compiler "$CROSS"
# start_node with dmaked's PATH set to $T/pbin alone.
port=$(free_port)
mkdir -p "$T/plain"
unshare -m --propagation private sh -c \
	'mount -t tmpfs none "$1" && p=$2 && shift 2 && exec env PATH="$p" "$@"' \
	sh "$T/src" "$T/pbin" "$DMAKE_BUILD_DIR/dmaked" \
	--scheduler "$DMAKE_SCHEDULER" --listen "127.0.0.1:$port" --slots 2 \
	--cache-dir "$T/plain" --key-file "$T/key" --name plain \
	--compiler "$CROSS" >"$T/plain.log" 2>&1 &
NODE_PID_plain=$!
PIDS="$PIDS $!"
wait_for 20 node_listed plain ||
	bail "plain did not register"
saved_path=$PATH
tc_cross=$(awk -v c="$(command -v $CROSS)" '$2 == "compiler" && $3 == c":" { print $4; exit }' "$T/cross.log")
ok "cross offers $CROSS for aarch64" \
	grep -q "compiler $(command -v $CROSS): $tc_cross gcc .* aarch64-linux-gnu" "$T/cross.log"
ok "plain cannot find it and says so" \
	grep -q "compiler $CROSS: not offered: not found on PATH" "$T/plain.log"
ok "... and offers no aarch64 compiler" test -z "$(grep 'aarch64' "$T/plain.log" | grep -v 'not offered')"

cd "$PROJ" || bail "setup failed"
compiles=$(wc -l <"$T/objects")
DMAKE_SHIP_TOOLCHAINS=no DMAKE_PLACEMENT=remote \
	dmake make CC="dmake-cc $CROSS" >"$T/build1.log" 2>&1
is "the cross build exits 0" "$?" 0
sum=$(summary_of "$T/build1.log")
diag "$sum"
is "every compile ran remotely" "$(echo "$sum" | field_of - remote)" "$compiles"
ok "every object is byte-identical to the local cross build" same_objects
ok "... and is an aarch64 object" \
	sh -c "readelf -h '$PROJ/regex.o' | grep -q 'Machine:.*AArch64'"
is "every job ran on cross" "$(jobs_of cross)" "$compiles"
is "none on plain" "$(jobs_of plain)" 0

# clang: one binary, the target a flag of the job.
mkdir -p "$T/src/c" && cd "$T/src/c" || bail "setup failed"
printf '#include <stdint.h>\nuint64_t mix(uint64_t x) { return (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ull; }\n' >mix.c
clang --target=aarch64-linux-gnu -O2 -c mix.c -o ref-mix.o || bail "setup failed"
DMAKE_SHIP_TOOLCHAINS=no DMAKE_PLACEMENT=remote \
	dmake run -- clang --target=aarch64-linux-gnu -O2 -c mix.c -o mix.o >"$T/clang.log" 2>&1
is "clang --target=aarch64-linux-gnu compiles remotely" \
	"$(summary_of "$T/clang.log" | field_of - remote)" 1
ok "... into the local object" cmp mix.o ref-mix.o
ok "... for aarch64" sh -c "readelf -h mix.o | grep -q 'Machine:.*AArch64'"
is "... on cross, which has clang" "$(jobs_of cross)" "$((compiles + 1))"

# Archives on, cross gone: plain runs the cross compiler from its archive.
stop_node cross
cd "$PROJ" && clean_tree
DMAKE_PLACEMENT=remote dmake make CC="dmake-cc $CROSS" >"$T/build2.log" 2>&1
is "with cross gone, the build exits 0" "$?" 0
sum=$(summary_of "$T/build2.log")
diag "$sum"
is "... every compile remote" "$(echo "$sum" | field_of - remote)" "$compiles"
ok "... the archive of $CROSS was sent" \
	test "$(echo "$sum" | field_of - toolchain_bytes)" -gt 1000000
ok "... plain received it once" \
	test "$(grep -c "toolchain $(echo "$tc_cross" | cut -c1-16) (gcc .* aarch64-linux-gnu) from" "$T/plain.log")" -eq 1
is "... and ran every job" "$(jobs_of plain)" "$compiles"
ok "... objects still byte-identical to the local cross build" same_objects

# Defaults: a gcc that adds -fno-plt is another toolchain.
real_gcc=$(command -v gcc)
mkdir -p "$T/wbin"
for w in gcc cc; do
	printf '#!/bin/sh\nexec %s -fno-plt "$@"\n' "$real_gcc" >"$T/wbin/$w"
	chmod +x "$T/wbin/$w"
done
PATH="$T/wbin:$PATH"
start_node wrap 2
PATH=$saved_path
tc_wrap=$(awk '$2 == "compiler" && $5 == "gcc" { print $4; exit }' "$T/wrap.log")
tc_real=$(awk '$2 == "compiler" && $5 == "gcc" && $4 != "'"$tc_cross"'" { print $4; exit }' "$T/plain.log")
ok "wrap offers its gcc" test -n "$tc_wrap"
ok "... as another toolchain than plain's gcc" \
	test -n "$tc_real" -a "$tc_wrap" != "$tc_real"
ok "... and has no compiler of plain's gcc toolchain" \
	test -z "$(grep "compiler .*: $tc_real " "$T/wrap.log")"
# Four files that call functions of other objects: -fno-plt changes how.
D="$T/src/d"; mkdir -p "$D" && cd "$D" || bail "setup failed"
for i in 1 2 3 4; do
	printf 'extern int ext%d(int);\nint d%d(int x) { return ext%d(x) * %d + 1; }\n' \
		"$i" "$i" "$i" "$i" >"d$i.c"
done
printf 'OBJS = d1.o d2.o d3.o d4.o\nall: $(OBJS)\n%%.o: %%.c\n\tcc -O2 -c $< -o $@\n' >Makefile
make -s && mkdir ref && mv ./*.o ref/ || bail "setup failed"
"$T/wbin/cc" -O2 -c d1.c -o noplt.o
differ() { ! cmp -s "$1" "$2"; }
ok "the wrapper's compiler writes other objects" differ noplt.o ref/d1.o
rm -f noplt.o
same_d() {
	for i in 1 2 3 4; do cmp -s "d$i.o" "ref/d$i.o" || return 1; done
}
before_plain=$(jobs_of plain)
DMAKE_SHIP_TOOLCHAINS=no DMAKE_PLACEMENT=remote dmake make >"$T/d1.log" 2>&1
is "the project builds" "$?" 0
is "... all 4 compiles remote" "$(summary_of "$T/d1.log" | field_of - remote)" 4
ok "... into the local objects" same_d
is "... all on plain" "$(($(jobs_of plain) - before_plain))" 4
is "... none on wrap" "$(jobs_of wrap)" 0

stop_node plain
rm -f ./*.o
DMAKE_PLACEMENT=remote dmake make >"$T/d2.log" 2>&1
is "with plain gone, the project builds" "$?" 0
is "... all 4 compiles on wrap" "$(jobs_of wrap)" 4
ok "... which ran the real gcc from its archive" \
	grep -q "toolchain $(echo "$tc_real" | cut -c1-16) (gcc .*) from" "$T/wrap.log"
ok "... so the objects are the local ones, not -fno-plt's" same_d
finish
