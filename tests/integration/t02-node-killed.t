#!/bin/sh
# A node killed with SIGKILL in the middle of a build: the shims whose jobs
# it held place them again, the scheduler drops it, and the build ends
# with every object byte-identical to a plain local make.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 7
setup
libiberty_farm

cd "$PROJ"
DMAKE_PLACEMENT=remote dmake make >"$T/dmake-build.log" 2>&1 &
build=$!
PIDS="$PIDS $build"
# Once a few objects exist, freeze n2 and wait until the scheduler has
# placed jobs on it (their shims are then connected to it and waiting),
# then kill it: the death surely hits jobs in flight.
objs() { [ "$(find . -name '*.o' | wc -l)" -ge "$1" ]; }
n2_busy() {
	dmake status --json | grep -o '{[^{}]*"name":"n2"[^{}]*}' |
		grep -q '"running":[1-9]'
}
wait_for 120 objs 4 || diag "the build made no progress"
eval "n2=\$NODE_PID_n2"
kill -STOP "$n2"
ok "jobs were placed on n2 while it was frozen" wait_for 20 n2_busy
kill -9 "$n2"
diag "killed n2 after $(find . -name '*.o' | wc -l) objects"
wait "$build"
rc=$?
is "dmake make exits 0 despite the dead node" "$rc" 0
sum=$(summary_of "$T/dmake-build.log")
diag "$sum"
is "every compile ran remotely" "$(echo "$sum" | field_of - remote)" \
	"$(wc -l <"$T/objects")"
ok "every object is byte-identical to the local build" same_objects
gone() { [ "$(node_count)" -eq 1 ]; }
ok "the scheduler dropped the dead node within 10 s" wait_for 10 gone
finish
