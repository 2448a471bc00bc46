#!/bin/sh
# Fair share through the real programs: two builds on one cluster of 4
# remote slots.  Every build gets a grant at once (its demand is not known
# yet), the grants never add up to more than the slots, a build that
# compiles nothing keeps one slot and no more, and a build that compiles
# gets the rest.  `dmake status --json` shows each build's grant and
# running jobs and each node's slots and running jobs throughout.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 9
setup
prepare_libiberty || bail "libiberty could not be prepared"
start_sched
start_node n1 2
start_node n2 2

# The builds array of the status JSON, one object per line.
builds() {
	dmake status --json | sed 's/.*"builds":\[\(.*\)\],"known_nodes".*/\1/' |
		grep -o '{[^{}]*}'
}
nodes_json() {
	dmake status --json | sed 's/.*"nodes":\[\(.*\)\],"builds".*/\1/' |
		grep -o '{[^{}]*}'
}
num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
sum() { num "$1" | awk '{ s += $1 } END { print s + 0 }'; }
# The grant of build number $1 (1 the idle one, 2 the busy one).
granted_of() { builds | grep "^{\"id\":$1," | num granted; }

# Checks every few tenths of a second, while the builds run, that no
# more is granted than there are slots and no node runs more than its
# slots; writes "bad" to $T/watch on the first breach.
watch_status() {
	while :; do
		b=$(builds 2>/dev/null) || continue
		n=$(nodes_json 2>/dev/null) || continue
		[ "$(echo "$b" | sum granted)" -le 4 ] || echo "bad grants: $b" >>"$T/watch"
		echo "$n" | while read -r o; do
			[ "$(echo "$o" | num running)" -le "$(echo "$o" | num slots)" ] ||
				echo "bad node: $o" >>"$T/watch"
		done
		sleep 0.2
	done
}

# One build that compiles nothing: a jobserver around a sleep (whose pid
# is kept, so cleanup ends it too).
dmake run -- sh -c 'echo $$ >"$1"; exec sleep 600' sh "$T/idle.pid" \
	>"$T/idle.log" 2>&1 &
idle=$!
PIDS="$PIDS $idle"
listed() { [ "$(builds | wc -l)" -eq "$1" ]; }
ok "the idle build is listed" wait_for 20 listed 1
wait_for 5 test -s "$T/idle.pid" && PIDS="$PIDS $(cat "$T/idle.pid")"
g=$(granted_of 1)
ok "it got a grant at once, its demand unknown (granted $g)" test "${g:-0}" -ge 1

watch_status &
PIDS="$PIDS $!"
one() { [ "$(granted_of 1)" = 1 ]; }
ok "after a demand window of no compiles it keeps one slot" wait_for 20 one

# A real build next to it takes what the idle one leaves.
cd "$PROJ"
DMAKE_PLACEMENT=remote dmake make >"$T/busy.log" 2>&1 &
busy=$!
PIDS="$PIDS $busy"
busy_has() {
	builds | grep "^{\"id\":2," | grep -q "\"granted\":$1,\"running\":[1-9]"
}
ok "the busy build is granted the other 3 slots and uses them" wait_for 60 busy_has 3
is "the idle build still has 1" "$(granted_of 1)" 1
wait "$busy"
is "the busy build exits 0" "$?" 0
sum=$(summary_of "$T/busy.log")
diag "$sum"
is "its compiles all ran remotely" "$(echo "$sum" | field_of - fallback)" 0
two() { [ "$(builds | wc -l)" -eq 1 ]; }
ok "the busy build is gone from the list" wait_for 20 two
is "grants never exceeded the slots, nodes never ran past theirs" \
	"$(cat "$T/watch" 2>/dev/null)" ""
finish
