#!/bin/sh
# Bad input loses nothing: a connection with the wrong key is refused
# before anything it sent is read; a malformed or oversize frame closes
# that connection only; the scheduler and the node go on serving.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 11
setup
start_sched
start_node n1 2
probe() { perl "$DMAKE_SRC_DIR/tests/integration/probe.pl" "$@" 2>>"$T/probe.log"; }
node_addr=$(dmake status --json | sed -n 's/.*"addr":"\([^"]*\)".*/\1/p')
diag "node at $node_addr"

is "scheduler: wrong key refused, connection closed" \
	"$(probe "$DMAKE_SCHEDULER" "$T/key" wrongkey)" closed
if dmake status --json | grep -q intruder; then
	fail "nothing the refused peer sent was processed"
else
	pass "nothing the refused peer sent was processed"
fi
ok "scheduler logged the refusal" grep -q "127.0.0.1" "$T/sched.log"

dmake keygen "$T/other-key" >/dev/null
if DMAKE_KEY_FILE="$T/other-key" dmake status >"$T/status-wrong.log" 2>&1; then
	fail "dmake status with another cluster's key fails"
else
	pass "dmake status with another cluster's key fails"
fi
ok "... and says the key is wrong" grep -qi "key" "$T/status-wrong.log"

is "scheduler: a frame of unknown type closes the connection" \
	"$(probe "$DMAKE_SCHEDULER" "$T/key" garbage)" closed
is "scheduler: a 16 MiB frame header closes the connection" \
	"$(probe "$DMAKE_SCHEDULER" "$T/key" oversize)" closed
is "node: wrong key refused" "$(probe "$node_addr" "$T/key" wrongkey)" closed
is "node: a malformed frame closes the connection" \
	"$(PROBE_ROLE=3 probe "$node_addr" "$T/key" garbage)" closed

# Still serving: the node is still registered (so its heartbeats went on)
# and a real compile goes through it.
is "the node is still registered" "$(node_count)" 1
mkdir -p "$T/src/p" && cd "$T/src/p"
printf 'int answer(void) { return 42; }\n' >a.c
printf 'a.o: a.c\n\t$(CC) -O2 -c a.c -o a.o\n' >Makefile
DMAKE_PLACEMENT=remote dmake make >"$T/build.log" 2>&1
is "a remote compile still works" \
	"$(summary_of "$T/build.log" | field_of - remote)" 1
finish
