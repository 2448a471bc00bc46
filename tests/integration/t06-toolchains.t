#!/bin/sh
# Toolchain archives.  Node "bare" has no compiler: dmaked runs with
# PATH=/nonexistent, and in its mount namespace /usr/lib/gcc is an empty
# tmpfs and every gcc, g++ and clang binary an empty file.  It registers
# with no toolchain of its own, yet compiles libiberty through the
# archive of gcc the build sends it (once, though its first jobs arrive
# together): every compile remote, every object identical to plain
# make's.  A second build sends nothing (the summary's toolchain_bytes),
# and neither does a build after the node restarted (its cache index).
# The second build's coordinator does not identify gcc again: it reads
# the identity the first one kept ($XDG_CACHE_HOME/dmake/identities.db),
# seen in its log and, from outside, in the -dumpmachine runs strace
# counts.
# Then the cache's bound: with room for one toolchain, g++ after gcc
# drops gcc, and the object is still right.  And clang, whose archive is
# its one binary and its libraries.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 33
setup
prepare_libiberty || bail "libiberty could not be prepared"
ok "reference build with plain make" reference_build
start_sched

# start_bare NAME [dmaked args]: a node that cannot run any compiler of
# this host.
: >"$T/empty"
start_bare() {
	name=$1; shift
	port=$(free_port)
	mkdir -p "$T/$name"
	unshare -m --propagation private sh -c '
		src=$1 empty=$2; shift 2
		mount -t tmpfs none "$src" && mount -t tmpfs none /usr/lib/gcc &&
		for f in /usr/bin/*gcc* /usr/bin/*g++* /usr/bin/*-cpp* \
			/usr/lib/llvm-*/bin/clang*; do
			[ -f "$f" ] && [ ! -L "$f" ] && mount --bind "$empty" "$f"
		done
		exec env PATH=/nonexistent "$@"' sh "$T/src" "$T/empty" \
		"$DMAKE_BUILD_DIR/dmaked" --scheduler "$DMAKE_SCHEDULER" \
		--listen "127.0.0.1:$port" --slots 2 --cache-dir "$T/$name" \
		--key-file "$T/key" --name "$name" "$@" >>"$T/$name.log" 2>&1 &
	eval "NODE_PID_$name=$!"
	PIDS="$PIDS $!"
	wait_for 20 live_node "$name" "$port" ||
		bail "node $name did not register"
}
# Listed among the live nodes at that port (not just in the history).
live_node() {
	dmake status --json 2>/dev/null |
		grep -q "\"name\":\"$1\",\"addr\":\"127.0.0.1:$2\""
}
node_json() {
	dmake status --json | grep -o "{[^{}]*\"name\":\"$1\"[^{}]*}"
}
json_num() { sed -n "s/.*\"$1\":\\([0-9a-z]*\\).*/\\1/p"; }
received() { grep -c "toolchain [0-9a-f]* (gcc .*) from .* bytes received" "$T/bare.log"; }

start_bare bare
ok "bare says it has no compiler" grep -q "no usable compiler on PATH" "$T/bare.log"
ok "... registers with no toolchain of its own" \
	grep -q "node joined: bare .*, 0 toolchains" "$T/sched.log"
is "... and runs toolchain archives" "$(node_json bare | json_num archives)" true

cd "$PROJ" || bail "setup failed"
compiles=$(wc -l <"$T/objects")
DMAKE_PLACEMENT=remote DMAKE_LOG=info dmake make >"$T/build1.log" 2>&1
is "dmake make on bare alone exits 0" "$?" 0
sum=$(summary_of "$T/build1.log")
diag "$sum"
is "every compile ran remotely" "$(echo "$sum" | field_of - remote)" "$compiles"
ok "every object is byte-identical to the local build" same_objects
bytes1=$(echo "$sum" | field_of - toolchain_bytes)
ok "the toolchain was sent ($bytes1 bytes)" test "${bytes1:-0}" -gt 1000000
is "... once, though the first jobs came together" "$(received)" 1
diag "$(grep -c 'arrived on another connection' "$T/bare.log") jobs waited for that one transfer"
ok "... and checked in the sandbox before use" \
	grep -q "bytes unpacked and verified" "$T/bare.log"
ok "the client packed it into its cache" \
	test "$(ls "$XDG_CACHE_HOME"/dmake/toolchains/*.tar.zst | wc -l)" -eq 1
wait_for 5 sh -c "dmake status --json | grep -q '\"name\":\"bare\"[^{}]*\"cached\":1'"
is "bare tells the scheduler it holds it" "$(node_json bare | json_num cached)" 1

find . -name '*.o' -delete; rm -f libiberty.a
DMAKE_PLACEMENT=remote DMAKE_LOG=info dmake make >"$T/build2.log" 2>&1
is "a second build exits 0" "$?" 0
sum=$(summary_of "$T/build2.log")
diag "$sum"
is "... every compile remote" "$(echo "$sum" | field_of - remote)" "$compiles"
is "... and no toolchain sent" "$(echo "$sum" | field_of - toolchain_bytes)" 0
ok "... same objects" same_objects
is "... nothing received" "$(received)" 1

# Identities: computed by the first coordinator, read by the second.
identified() { grep 'is toolchain [0-9a-f]*' "$1" | grep -v '(identity cache)'; }
ok "the first build identified gcc and kept it" \
	sh -c "grep -q 'is toolchain' '$T/build1.log' && ! grep -q '(identity cache)' '$T/build1.log' && test -s '$XDG_CACHE_HOME/dmake/identities.db'"
ok "the second took it from the identity cache" \
	grep -q 'is toolchain [0-9a-f]* (identity cache)' "$T/build2.log"
is "... and identified no compiler itself" "$(identified "$T/build2.log")" ""
# From outside: every identification runs the compiler's -dumpmachine
# once.  A coordinator with the cache runs none; one with an empty
# cache (the control) runs one.
dumpmachine_runs() {
	(cd "$T/src" && printf 'int one(void) { return 1; }\n' >one.c &&
		DMAKE_SHIP_TOOLCHAINS=no strace -f -qq -e trace=execve -o "$1" \
		dmake run -- gcc -c one.c -o one.o >"$1.out" 2>&1) ||
		{ cat "$1.out" >>"$T/strace.log"; echo failed; return; }
	grep -c '"-dumpmachine"' "$1"
}
if command -v strace >/dev/null; then
	is "dmake run with the cache runs no -dumpmachine" \
		"$(dumpmachine_runs "$T/strace-warm.log")" 0
	is "... with an empty cache, one" \
		"$(export XDG_CACHE_HOME="$T/cache-empty"
		   dumpmachine_runs "$T/strace-cold.log")" 1
else
	pass "dmake run with the cache runs no -dumpmachine # SKIP no strace"
	pass "... with an empty cache, one # SKIP no strace"
fi

# The cache outlives the node: its index is read back at start.
eval "kill -TERM \$NODE_PID_bare; wait \$NODE_PID_bare"
wait_for 5 sh -c '! dmake status --json | grep -q "\"name\":\"bare\",\"addr\""'
start_bare bare
ok "a restarted bare finds the toolchain in its cache" \
	grep -q "toolchain cache .*: 1 toolchains" "$T/bare.log"
find . -name '*.o' -delete; rm -f libiberty.a
DMAKE_PLACEMENT=remote dmake make >"$T/build3.log" 2>&1
is "a build after the restart exits 0" "$?" 0
sum=$(summary_of "$T/build3.log")
diag "$sum"
is "... sends no toolchain" "$(echo "$sum" | field_of - toolchain_bytes)" 0
ok "... same objects" same_objects

# The bound: room for gcc's 45 MB or g++'s 80 MB, not both.
start_bare small --cache-limit 100M
eval "kill -TERM \$NODE_PID_bare; wait \$NODE_PID_bare"
mkdir -p "$T/src/q" && cd "$T/src/q" || bail "setup failed"
printf 'int sq(int x) { return x * x; }\n' >q.c
printf 'template <class T> T tw(T x) { return x + x; }\nint use(int x) { return tw(x); }\n' >q.cc
gcc -O2 -c q.c -o ref-q.o && g++ -O2 -c q.cc -o ref-qq.o || bail "setup failed"
DMAKE_PLACEMENT=remote dmake run -- gcc -O2 -c q.c -o q.o >"$T/q1.log" 2>&1
is "small compiles with gcc's archive" "$?" 0
ok "... the same object" cmp q.o ref-q.o
DMAKE_PLACEMENT=remote dmake run -- g++ -O2 -c q.cc -o qq.o >"$T/q2.log" 2>&1
is "small compiles with g++'s archive" "$?" 0
ok "... the same object" cmp qq.o ref-qq.o
ok "... and dropped gcc's for room (--cache-limit)" \
	grep -q "dropped from the cache (least recently used" "$T/small.log"

# clang: one binary that is its own compiler, 250 MB of libraries.
start_bare big
eval "kill -TERM \$NODE_PID_small; wait \$NODE_PID_small"
clang -O2 -c q.c -o ref-qc.o || bail "setup failed"
DMAKE_PLACEMENT=remote dmake run -- clang -O2 -c q.c -o qc.o >"$T/q3.log" 2>&1
is "big compiles with clang's archive" "$?" 0
ok "... the same object" cmp qc.o ref-qc.o
finish
