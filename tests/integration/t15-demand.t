#!/bin/sh
# What `dmake make` tells the scheduler and the user while it runs.
#
# DEMAND: while make runs a serial step the jobserver's tokens lie
# unused, so the build asks for no remote slot (demand 0, grant 0) and
# the other builds may have them; once make compiles again and takes
# every token, the build is back to "any" and gets the node's slots.
# Under DMAKE_PLACEMENT=local it asks for nothing at all.
#
# The progress line: on a terminal (script(1) gives the build one), one
# line "dmake: N tokens, local L/S, remote R, done D" rewritten in place
# and erased before the summary; none with DMAKE_PROGRESS=0 or when
# stderr is a file.
#
# The nodes run the stand-in compiler (dmaked --standin, a test
# feature), so the compiles take long enough to be seen.  No check
# depends on timing: each step waits on a file or for the state it
# checks.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

command -v script >/dev/null || skip_all "no script(1) to give a build a terminal"
plan 12
setup
start_sched
echo 1000 >"$T/ms"  # every job 1 s
start_node n1 2 --standin "$T/ms"

# project DIR N: a serial step that waits for DIR/go, then N compiles.
project() {
	mkdir -p "$1"
	i=1
	while [ "$i" -le "$2" ]; do
		printf 'int f%d(void) { return %d; }\n' "$i" "$i" >"$1/f$i.c"
		i=$((i + 1))
	done
	printf '%s\n' 'OBJS = $(patsubst %.c,%.o,$(sort $(wildcard *.c)))' \
		'all: $(OBJS)' '$(OBJS): serial' \
		'serial:' '	@touch waiting; while [ ! -f go ]; do sleep 0.1; done' \
		'%.o: %.c' '	cc -c $< -o $@' >"$1/Makefile"
}
# The build of DIR as the scheduler lists it.
build_of() {
	dmake status --json | grep -o '"builds":\[.*' |
		grep -o "{[^{}]*\"label\":\"make $1\"[^{}]*}"
}
shows() { build_of "$1" | grep -q "$2"; }

# ---- demand ------------------------------------------------------------
A="$T/src/a"
project "$A" 12
cd "$A"
DMAKE_PLACEMENT=remote dmake make >"$T/a.log" 2>&1 &
build=$!
PIDS="$PIDS $build"
ok "the build waits in its serial step" wait_for 30 test -f waiting
ok "it asks for nothing then: demand 0, grant 0" \
	wait_for 20 shows "$A" '"granted":0,.*"demand":0'
diag "$(build_of "$A")"
touch go
ok "compiling again, it gets both slots, its demand open" \
	wait_for 30 shows "$A" '"granted":2,.*"demand":null'
diag "$(build_of "$A")"
wait "$build"
is "the build exits 0" "$?" 0
is "every compile ran remotely" "$(summary_of "$T/a.log" | field_of - remote)" 12

L="$T/src/l"
project "$L" 2
cd "$L"
DMAKE_PLACEMENT=local dmake make >"$T/l.log" 2>&1 &
build=$!
PIDS="$PIDS $build"
ok "a local build waits in its serial step" wait_for 30 test -f waiting
ok "DMAKE_PLACEMENT=local asks for nothing: demand 0, grant 0" \
	wait_for 20 shows "$L" '"granted":0,.*"demand":0'
touch go
wait "$build"
is "the local build exits 0" "$?" 0

# ---- the progress line ---------------------------------------------------
P="$T/src/p"
mkdir -p "$P"
for i in 1 2 3 4 5 6; do printf 'int g%d(void) { return %d; }\n' "$i" "$i" >"$P/g$i.c"; done
printf '%s\n' 'all: g1.o g2.o g3.o g4.o g5.o g6.o' '%.o: %.c' '	cc -c $< -o $@' >"$P/Makefile"
cd "$P"
script -qec "dmake make" /dev/null >"$T/tty.out" 2>&1
is "dmake make on a terminal exits 0" "$?" 0
esc=$(printf '\033')
ok "it showed the progress line" grep -q "dmake: [0-9]* tokens, local [0-9]*/[0-9]*, remote [0-9]*, done [0-9]*" "$T/tty.out"
ok "and erased it before the summary" grep -q "$(printf '\r')${esc}\[Kdmake: remote=" "$T/tty.out"
rm -f ./*.o
DMAKE_PROGRESS=0 script -qec "dmake make" /dev/null >"$T/tty0.out" 2>&1
rm -f ./*.o
dmake make >"$T/file.out" 2>&1
ok "none with DMAKE_PROGRESS=0, none when stderr is a file" \
	sh -c "! grep -q ' tokens, local ' '$T/tty0.out' '$T/file.out'"
finish
