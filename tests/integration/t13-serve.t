#!/bin/sh
# dmake serve: a coordinator at fixed paths for builds it did not start.
# A build that only evals the printed environment compiles on the cluster
# through the shared jobserver; the server survives `kill 0` from the
# process group that started it (kiss does that on a failed build); and
# tokens that a client took with it when it was killed with SIGKILL are
# put back once nothing holds the FIFO.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 14
setup
start_sched
start_node n1 3

R="$T/run"
DMAKE_LOCAL_SLOTS=2 dmake serve --fifo "$R/jobserver" --socket "$R/sock" \
	>"$T/serve.out" 2>"$T/serve.log" &
SERVE_PID=$!
PIDS="$PIDS $SERVE_PID"
wait_for 10 test -S "$R/sock" || bail "dmake serve did not start"
ok "it prints the environment, MAKEFLAGS with the FIFO" \
	grep -q "MAKEFLAGS=' -j --jobserver-auth=fifo:$R/jobserver" "$T/serve.out"
ok "the FIFO and the socket are the owner's only" \
	sh -c "[ \"\$(stat -c %a '$R/jobserver')\" = 600 ] && [ \"\$(stat -c %a '$R')\" = 700 ]"
dmake serve --fifo "$R/jobserver" --socket "$R/sock" >/dev/null 2>"$T/second.log"
rc=$?
ok "a second server on the same socket refuses to start" \
	sh -c "[ $rc -ne 0 ] && grep -q 'another dmake serve' '$T/second.log'"

# A build that knows nothing but the environment.
small_project
dmake serve --env --fifo "$R/jobserver" --socket "$R/sock" >"$T/env.sh"
(. "$T/env.sh" && cd "$P" && DMAKE_PLACEMENT=remote make -s >"$T/build.log" 2>&1)
is "make with the served environment succeeds" "$?" 0
ok "its objects equal plain make's" same6
ok "and make used the jobserver (no -j1 fallback)" \
	sh -c "! grep -q 'jobserver unavailable' '$T/build.log'"

# ---- kill 0 -----------------------------------------------------------------
R2="$T/run2"
cat >"$T/killer.sh" <<S
#!/bin/sh
# Starts a server in this process group, then kills the group.
env -u DMAKE_SCHEDULER DMAKE_LOCAL_SLOTS=3 dmake serve --fifo "$R2/jobserver" \
	--socket "$R2/sock" >"$T/serve2.out" 2>"$T/serve2.log" &
echo \$! >"$T/serve2.pid"
i=0
while [ ! -S "$R2/sock" ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
kill 0
S
chmod +x "$T/killer.sh"
(setsid "$T/killer.sh") 2>/dev/null
PID2=$(cat "$T/serve2.pid")
PIDS="$PIDS $PID2"
ok "the server outlives kill 0 from the group that started it" kill -0 "$PID2"
DMAKE_SOCKET="$R2/sock" dmake-gate true 2>"$T/gate.err"
ok "and still grants slots" sh -c "[ $? -eq 0 ] && ! [ -s '$T/gate.err' ]"

# ---- tokens lost with a client killed by SIGKILL ---------------------------
# Jobs wait for a gate file, so how many run at once is the pool's doing,
# not timing's.  3 local slots: 3 tokens, one of them make's own.
mkdir -p "$T/recl"
printf 'all: j1 j2 j3 j4 j5 j6\nj1 j2 j3 j4 j5 j6:\n\t@touch started.$@; while [ ! -e gate ]; do sleep 0.05; done\n.PHONY: all j1 j2 j3 j4 j5 j6\n' \
	>"$T/recl/Makefile"
dmake serve --env --fifo "$R2/jobserver" --socket "$R2/sock" >"$T/env2.sh"
started() { ls "$T/recl" | grep -c '^started\.'; }
setsid sh -c ". '$T/env2.sh'; exec make -C '$T/recl'" >/dev/null 2>&1 &
MAKE_PID=$!
wait_for 20 sh -c "[ \$(ls '$T/recl' | grep -c '^started\.') -eq 3 ]"
is "a make client runs 3 jobs at once" "$(started)" 3
/bin/kill -s KILL -- "-$MAKE_PID"
wait "$MAKE_PID" 2>/dev/null
ok "killed with its 2 tokens, they are put back" \
	wait_for 20 grep -q 'put back 2 jobserver tokens' "$T/serve2.log"
rm -f "$T/recl"/started.*
setsid sh -c ". '$T/env2.sh'; exec make -C '$T/recl'" >"$T/recl.log" 2>&1 &
MAKE_PID=$!
wait_for 20 sh -c "[ \$(ls '$T/recl' | grep -c '^started\.') -eq 3 ]"
is "the next make runs 3 jobs at once again" "$(started)" 3
touch "$T/recl/gate"
wait "$MAKE_PID"
is "and finishes" "$?" 0

# ---- stopping ------------------------------------------------------------
kill -TERM "$SERVE_PID" "$PID2"
wait "$SERVE_PID" 2>/dev/null
sum=$(summary_of "$T/serve.log")
diag "$sum"
is "the server's summary counts the 6 remote compiles" "$(echo "$sum" | field_of - remote)" 6
ok "its FIFO and socket are gone" sh -c "! [ -e '$R/sock' ] && ! [ -e '$R/jobserver' ]"
finish
