#!/bin/sh
# Token hygiene under dmake make: a sub-make killed with SIGKILL while it
# holds jobserver tokens takes them with it; the coordinator sees the
# pool and the living makes hold fewer than it owes, puts them back, and
# the rest of the build runs at full width again.  At the end the count
# is checked.  No timing: the jobs of the last phase wait until three of
# them run at once, which only happens once the tokens are back (or give
# up after 30 s, and the check fails).
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 6
setup
rec_tool
P="$T/src/tok"; mkdir -p "$P"
cd "$P"
cat >Makefile <<'M'
all: p1 p2 p3
p1 p2 p3: killed
	@"$(REC)" sh ./wait3.sh
killed:
	+@sh ./killsub.sh
M
cat >sub.mk <<'M'
all: s1 s2 s3
s1 s2 s3:
	@echo $$$$ >$@.pid; exec sleep 300
M
cat >killsub.sh <<'S'
# A sub-make runs three jobs (two of them on tokens from the pool), and
# is killed with them.
make -s -f sub.mk &
sub=$!
i=0
until [ -s s1.pid ] && [ -s s2.pid ] && [ -s s3.pid ]; do
	i=$((i + 1)); [ $i -gt 300 ] && { echo "sub-make never ran 3 jobs" >&2; exit 1; }
	sleep 0.1
done
kill -9 $sub
kill -9 $(cat s1.pid s2.pid s3.pid)
wait $sub 2>/dev/null
exit 0
S
cat >wait3.sh <<'S'
i=0
while ! grep -q '^start 3 ' "$REC_LOG" && [ $i -lt 300 ]; do
	sleep 0.1; i=$((i + 1))
done
S

REC="$T/tools/rec" REC_LOG="$T/p.rec" DMAKE_LOCAL_SLOTS=3 dmake make >"$T/build.log" 2>&1
is "dmake make exits 0" "$?" 0
is "the three last jobs ran" "$(grep -c '^start' "$T/p.rec")" 3
diag "jobs at once after the kill: $(peak_of "$T/p.rec") (3 tokens)"
is "after the kill, three jobs ran at once again" "$(peak_of "$T/p.rec")" 3
ok "the coordinator said it put back the 2 lost tokens" \
	grep -q 'put back 2 jobserver tokens lost' "$T/build.log"
ok "and found the count right at the end" \
	sh -c "! grep -q 'tokens at the end' '$T/build.log'"

# A build where nothing is killed: nothing is put back, nothing is off.
small_project
(cd "$P" && DMAKE_LOCAL_SLOTS=3 dmake make >"$T/plain.log" 2>&1)
ok "a build with no killed make reports no tokens put back or off" \
	sh -c "! grep -qE 'put back|tokens at the end' '$T/plain.log'"
finish
