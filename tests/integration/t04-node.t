#!/bin/sh
# The node on its own: it registers and is listed, it refuses a wrong key
# and drops malformed peers while it goes on serving, it compiles a unit
# into the object a local compile makes, it returns a compile error with
# gcc's stderr byte for byte, a compile past --job-timeout comes back as
# an infrastructure failure, and SIGTERM ends it cleanly.  Jobs are sent
# by tests/integration/jobclient.c, a minimal shim, so the test controls
# every byte the node receives.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 30
setup
start_sched
start_node n1 2

node_json() {
	dmake status --json | grep -o "{[^{}]*\"name\":\"$1\"[^{}]*}"
}
json_field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p"; }
n1_addr=$(node_json n1 | json_field addr)
diag "n1 at $n1_addr"
is "n1 is listed with its listen address" "$n1_addr" "127.0.0.1:$port"
is "n1 reports its platform" "$(node_json n1 | json_field platform)" \
	"$(uname -m)"
is "n1 reports its slots" "$(node_json n1 | json_field slots)" 2

# The test client, built against the tree's libdmake.a.
libs=$(sed -n 's/^PKG_LIBS = //p' "$DMAKE_BUILD_DIR/Makefile")
# shellcheck disable=SC2086
ok "the test client builds" ${CC:-cc} -I"$DMAKE_SRC_DIR" \
	-o "$T/jobclient" "$DMAKE_SRC_DIR/tests/integration/jobclient.c" \
	"$DMAKE_BUILD_DIR/libdmake.a" $libs
# gcc's toolchain id, as the node announced it ("compiler PATH: ID ROLE...").
tc_gcc=$(awk '$2 == "compiler" && $5 == "gcc" { print $4; exit }' "$T/n1.log")
[ -n "$tc_gcc" ] || diag "no gcc toolchain in n1.log"

# job ADDR OUT SOURCE [FLAG...]: the unit is the source itself (it has no
# directive to expand), sent from $T/src/p as dmake-cc would.
job() {
	addr=$1; out=$2; src=$3; shift 3
	"$T/jobclient" "$addr" "$T/key" job "$tc_gcc" gcc "$T/src/p" "$src" \
		"$T/src/p/$src" "$T/$out" "$@" 2>>"$T/client.log"
}
probe() { perl "$DMAKE_SRC_DIR/tests/integration/probe.pl" "$@" 2>>"$T/probe.log"; }

mkdir -p "$T/src/p" && cd "$T/src/p" || bail "setup failed"
cat >a.c <<'EOF'
static const char greeting[] = "hello from a node";
int counter;
const char *greet(int n) { counter += n; return greeting + (n & 3); }
EOF
printf 'int f(void) { return undeclared_thing; }\n' >bad.c
gcc -O2 -c a.c -o a.o || bail "setup failed"
gcc -O2 -g -c a.c -o ag.o || bail "setup failed"
gcc -c bad.c -o bad.o 2>bad.err
is "the local compile of bad.c fails with 1" "$?" 1

is "a unit compiles remotely" "$(job "$n1_addr" a a.c -O2)" "status=0 flags=1"
ok "... into the object a local compile makes" cmp "$T/a.o" a.o
is "a -g unit compiles remotely" "$(job "$n1_addr" ag a.c -O2 -g)" \
	"status=0 flags=1"
ok "... into the object a local -g compile makes" cmp "$T/ag.o" ag.o
is "a compile error comes back as status 1" "$(job "$n1_addr" bad bad.c)" \
	"status=1 flags=0"
ok "... with gcc's stderr byte for byte" cmp "$T/bad.err" bad.err
ok "... and no object" test ! -e "$T/bad.o"
is "an unknown toolchain is an infrastructure failure" \
	"$(tc_gcc=0123456789abcdef job "$n1_addr" unk a.c -O2)" \
	"status=255 flags=2"
ok "... explained on stderr" grep -q "no compiler with toolchain" "$T/unk.err"

# Peers that must cost nothing but their own connection.
is "a wrong key is refused, connection closed" \
	"$(probe "$n1_addr" "$T/key" wrongkey)" closed
ok "... and logged with the peer address" \
	grep -q "127.0.0.1:[0-9]*: refused: authentication failed" "$T/n1.log"
is "a frame of unknown type after the handshake closes the connection" \
	"$(PROBE_ROLE=3 probe "$n1_addr" "$T/key" garbage)" closed
ok "... and is logged with what was wrong" \
	grep -q "127.0.0.1:[0-9]*: malformed frame: .*9999" "$T/n1.log"
is "a unit stream that is not zstd closes the connection" \
	"$("$T/jobclient" "$n1_addr" "$T/key" badunit "$tc_gcc" gcc \
		"$T/src/p" a.c a.c "$T/x" -O2 2>>"$T/client.log")" closed
is "a client vanishing mid-unit is survived" \
	"$("$T/jobclient" "$n1_addr" "$T/key" cut "$tc_gcc" gcc \
		"$T/src/p" a.c a.c "$T/x" -O2 2>>"$T/client.log")" sent
rm -f "$T/a.o"
is "the node still compiles after all that" \
	"$(job "$n1_addr" a a.c -O2)" "status=0 flags=1"
ok "... the same object" cmp "$T/a.o" a.o

# A compile that never ends: the unit includes a FIFO nobody writes to
# (outside the tree the node cannot see), so gcc blocks in open() with no
# CPU or memory used, on a node whose limit is 1 s.  Only a node without
# the sandbox sees the FIFO in the client's /tmp at all (t05-sandbox.t
# times out a compile in the sandbox); this also runs --no-sandbox.
start_node n2 1 --job-timeout 1 --listen 127.0.0.1:0 --no-sandbox
n2_addr=$(node_json n2 | json_field addr)
ok "with --listen PORT 0 the real port is advertised" \
	grep -q "listening on $n2_addr " "$T/n2.log"
mkfifo "$T/fifo"
printf '#include "%s"\nint x;\n' "$T/fifo" >hang.c
is "a compile past --job-timeout is an infrastructure failure" \
	"$(job "$n2_addr" hang hang.c -O2)" "status=255 flags=2"
ok "... that names the limit" grep -q "limit of 1 s" "$T/hang.err"
rm -f "$T/a.o"
is "... and the node serves the next job" "$(job "$n2_addr" a a.c -O2)" \
	"status=0 flags=1"

is "both nodes are still registered" "$(node_count)" 2
ok "no job directory is left behind" \
	test "$(find "$T/n1/jobs" "$T/n2/jobs" -mindepth 1 | wc -l)" -eq 0

eval "n1=\$NODE_PID_n1"
kill -TERM "$n1"
wait "$n1"
is "SIGTERM: the node exits 0" "$?" 0
one_left() { [ "$(node_count)" -eq 1 ]; }
ok "... and the scheduler drops it at once" wait_for 3 one_left
finish
