#!/bin/sh
# The build follows the cluster while it runs.  Nodes here use dmaked's
# stand-in compiler (--standin, a test feature: each job sleeps for a
# drawn time and returns an empty object), so jobs are slow enough for
# nodes to come and go in the middle of a build, and every job start and
# end is logged (--standin-log) with the node that ran it.
#
# (a) A node joining mid-build raises the build's concurrency: one node
#     of 1 slot runs the build, a node of 3 slots joins; the grant goes
#     from 1 to 4 and, counted from the stand-in log, more remote jobs
#     run at once after the join than the one slot allowed before.
# (b) A node removed mid-build, with SIGTERM (it finishes what it runs
#     and leaves) and with SIGKILL (its jobs die with it): no job is
#     lost, the build succeeds, every object is there and valid.
#
# Nothing here depends on timing: each kill waits until the node runs a
# job, and each check is on what happened, not how fast.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 19
setup
start_sched
SLOG="$T/standin.log"
: >"$SLOG"
echo 1500 >"$T/slow.ms"  # every job 1.5 s
echo 1000 >"$T/one.ms"   # every job 1 s
KERNEL_MS="$DMAKE_SRC_DIR/bench/kernel-tu-ms.txt"

# project DIR N: N small C files whose objects are archived into lib.a.
project() {
	mkdir -p "$1"
	i=1
	while [ "$i" -le "$2" ]; do
		printf 'int f%d(int x) { return x * %d + 1; }\n' "$i" "$i" >"$1/f$i.c"
		i=$((i + 1))
	done
	printf '%s\n' 'OBJS = $(patsubst %.c,%.o,$(sort $(wildcard *.c)))' \
		'lib.a: $(OBJS)' '	ar rcs $@ $^' \
		'%.o: %.c' '	cc -O2 -c $< -o $@' >"$1/Makefile"
}

# The log's lines for the sources of DIR.
log_of() { grep " $1/" "$SLOG"; }
# The most jobs running at once in the log lines on stdin (an end
# sorts before a start of the same millisecond: a slot handed on).
peak_running() {
	awk '{ print $2, ($1 == "end" ? 0 : 1) }' | sort -n -k1,1 -k2,2 |
		awk '{ n += $2 ? 1 : -1; if (n > m) m = n } END { print m + 0 }'
}
# Jobs NODE is running now for DIR: started, not ended.
running_on() { log_of "$2" | awk -v n="$1" '$3 == n { c += $1 == "start" ? 1 : -1 } END { exit !(c > 0) }'; }
# Sources of DIR that NODE started and has not ended, one per line.
in_flight_on() {
	log_of "$2" | awk -v n="$1" '$3 == n { c[$5] += $1 == "start" ? 1 : -1 }
		END { for (s in c) if (c[s] > 0) print s }'
}
granted_is() {
	dmake status --json | grep -o '"builds":\[.*' |
		grep -q "\"label\":\"make $1\",\"granted\":$2,"
}
# Every object of DIR is there, a valid relocatable object, and lib.a
# holds all N of them; every source has a job that ended on some node.
all_objects() {
	n=0
	for c in "$1"/f*.c; do
		o=${c%.c}.o
		if ! readelf -h "$o" 2>/dev/null | grep -q 'REL (Relocatable file)'; then
			diag "missing or invalid: $o"; return 1
		fi
		# The node names the source as the shim sent it: the file
		# itself, or a copy under a directory of the job (relocated
		# units), so match the name in the build's tree.
		if ! log_of "$1" | grep -Eq "^end .* $1/(.*/)?${c##*/}\$"; then
			diag "no job ended for $c"; return 1
		fi
		n=$((n + 1))
	done
	[ "$n" -eq "$2" ] && [ "$(ar t "$1/lib.a" | wc -l)" -eq "$2" ]
}

# ---- (a) a node joins mid-build ------------------------------------------
start_node n1 1 --standin "$T/slow.ms" --standin-log "$SLOG"
A="$T/src/a"
project "$A" 24
cd "$A"
DMAKE_PLACEMENT=remote dmake make >"$T/a.log" 2>&1 &
build=$!
PIDS="$PIDS $build"
started() { log_of "$A" | grep -q '^start'; }
ok "the build runs on the one-slot node" wait_for 60 started
ok "its grant is the one slot" wait_for 20 granted_is "$A" 1
start_node n2 3 --standin "$KERNEL_MS" --standin-log "$SLOG"
ok "after n2 joins, the grant is 4" wait_for 30 granted_is "$A" 4
wait "$build"
is "dmake make exits 0" "$?" 0
sum=$(summary_of "$T/a.log")
diag "$sum"
is "every compile ran remotely" "$(echo "$sum" | field_of - remote)" 24
# Before n2's first job only n1's one slot could run; the log shows
# how many ran at once after it.
first_n2=$(log_of "$A" | awk '$1 == "start" && $3 == "n2" { print $2; exit }')
before=$(log_of "$A" | awk -v t="${first_n2:-0}" '$2 < t' | peak_running)
peak=$(log_of "$A" | peak_running)
diag "remote jobs at once: $before before n2's first job, $peak at the peak"
ok "n2 ran at least one job" test -n "$first_n2"
is "before the join, one job at a time" "$before" 1
ok "after the join, more remote jobs at once than before ($peak > 1)" \
	test "$peak" -gt 1
ok "every object is there and valid" all_objects "$A" 24

# ---- (b) a node leaves mid-build: SIGTERM --------------------------------
# n1 and n2 leave the stage: two nodes of 2 slots, jobs of 1 s.
kill "$NODE_PID_n1" "$NODE_PID_n2"
start_node n3 2 --standin "$T/one.ms" --standin-log "$SLOG"
start_node n4 2 --standin "$T/one.ms" --standin-log "$SLOG"
B="$T/src/b"
project "$B" 20
cd "$B"
DMAKE_PLACEMENT=remote dmake make >"$T/b.log" 2>&1 &
build=$!
PIDS="$PIDS $build"
ok "n4 runs a job of the build" wait_for 60 running_on n4 "$B"
in_flight=$(in_flight_on n4 "$B")
kill -TERM "$NODE_PID_n4"
diag "SIGTERM to n4 while it ran: $(echo $in_flight)"
wait "$build"
is "dmake make exits 0 after SIGTERM to a node" "$?" 0
sum=$(summary_of "$T/b.log")
diag "$sum"
is "every compile ran remotely, none was lost" \
	"$(echo "$sum" | field_of - remote)/$(echo "$sum" | field_of - fallback)" "20/0"
finished_there() {
	for s in $in_flight; do
		log_of "$B" | grep -q "^end [0-9]* n4 .* $s\$" || return 1
	done
}
ok "the jobs n4 ran at SIGTERM finished there" finished_there
ok "every object is there and valid" all_objects "$B" 20

# ---- (b) a node leaves mid-build: SIGKILL --------------------------------
start_node n5 2 --standin "$T/one.ms" --standin-log "$SLOG"
C="$T/src/c"
project "$C" 20
cd "$C"
DMAKE_PLACEMENT=remote dmake make >"$T/c.log" 2>&1 &
build=$!
PIDS="$PIDS $build"
ok "n5 runs a job of the build" wait_for 60 running_on n5 "$C"
kill -KILL "$NODE_PID_n5"
in_flight=$(in_flight_on n5 "$C")
diag "SIGKILL to n5 while it ran: $(echo $in_flight)"
wait "$build"
is "dmake make exits 0 after SIGKILL to a node" "$?" 0
sum=$(summary_of "$T/c.log")
diag "$sum"
is "every compile ran remotely, none was lost" \
	"$(echo "$sum" | field_of - remote)/$(echo "$sum" | field_of - fallback)" "20/0"
redone() {
	[ -n "$in_flight" ] || return 1
	for s in $in_flight; do
		log_of "$C" | grep -q "^end [0-9]* n3 .* $s\$" || return 1
	done
}
ok "the jobs that died with n5 were done again on n3" redone
ok "every object is there and valid" all_objects "$C" 20
finish
