#!/bin/sh
# dmake run -- CMD: any command runs with the jobserver exported (the FIFO
# for make >= 4.4 and ninja >= 1.13, its descriptors for make 4.3), the
# masquerade directory first on PATH and DMAKE_SOCKET set; nested makes
# and scripts draw from the one pool, and compiles run on the cluster.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 16
setup

rec_tool

# ---- what the command sees -------------------------------------------
cat >"$T/env.sh" <<'S'
#!/bin/sh
echo "MAKEFLAGS=$MAKEFLAGS"
[ -S "$DMAKE_SOCKET" ] && echo "socket ok"
fifo=$(printf '%s\n' "$MAKEFLAGS" | sed -n 's/.*--jobserver-auth=fifo:\([^ ]*\).*/\1/p')
[ -p "$fifo" ] && echo "fifo ok"
first=${PATH%%:*}
[ "$(readlink -f "$first/cc")" = "$(readlink -f "$(command -v dmake-cc)")" ] && echo "masq first"
S
chmod +x "$T/env.sh"
DMAKE_LOCAL_SLOTS=3 dmake run -- "$T/env.sh" >"$T/env.out" 2>"$T/env.err"
is "dmake run exits with the command's status (0)" "$?" 0
mf=$(sed -n 's/^MAKEFLAGS=//p' "$T/env.out")
diag "MAKEFLAGS: $mf"
ok "MAKEFLAGS names the FIFO for make >= 4.4 and ninja >= 1.13" \
	sh -c "printf '%s\n' '$mf' | grep -q -- '--jobserver-auth=fifo:/'"
ok "and ends with the descriptors make 4.3 reads" \
	sh -c "printf '%s\n' '$mf' | grep -Eq -- ' -j .*--jobserver-fds=[0-9]+,[0-9]+ --jobserver-auth=[0-9]+,[0-9]+\$'"
ok "DMAKE_SOCKET is the coordinator's socket, the FIFO exists" \
	sh -c "grep -q 'socket ok' '$T/env.out' && grep -q 'fifo ok' '$T/env.out'"
ok "the masquerade directory is first on PATH" grep -q 'masq first' "$T/env.out"
ok "the summary line ends the run" grep -q '^dmake: remote=0 local=0 fallback=0 ' "$T/env.err"
dmake run -- sh -c 'exit 3' 2>/dev/null
is "the command's exit status is dmake's" "$?" 3

# ---- one pool for scripts and nested makes -----------------------------
mkdir -p "$T/rec/top"
cat >"$T/rec/top/Makefile" <<'M'
SUBS = s1 s2 s3
all: $(SUBS)
$(SUBS):
	$(MAKE) -s -C ../$@
.PHONY: all $(SUBS)
M
for s in s1 s2 s3; do
	mkdir -p "$T/rec/$s"
	printf 'all: j1 j2 j3 j4\nj1 j2 j3 j4:\n\t@"$(REC)" true $@ %s\n.PHONY: all j1 j2 j3 j4\n' \
		"$s" >"$T/rec/$s/Makefile"
done
cat >"$T/rec/build.sh" <<'S'
#!/bin/sh
# A build script: a recursive make, then one more make while the script
# itself holds a token taken through the FIFO's path.
set -e
make -s -C top
fifo=$(printf '%s\n' "$MAKEFLAGS" | sed -n 's/.*--jobserver-auth=fifo:\([^ ]*\).*/\1/p')
tok=$(dd if="$fifo" bs=1 count=1 2>/dev/null)
REC_LOG=$REC_LOG2 make -s -C s1
printf '%s' "$tok" >"$fifo"
S
chmod +x "$T/rec/build.sh"
(cd "$T/rec" && REC="$T/tools/rec" REC_LOG="$T/pool.rec" REC_LOG2="$T/held.rec" \
	REC_HOLD=0.2 DMAKE_LOCAL_SLOTS=3 dmake run -- ./build.sh >"$T/pool.log" 2>&1)
is "the script and its makes succeed" "$?" 0
is "all 12 jobs of the recursive make ran" "$(grep -c '^start' "$T/pool.rec")" 12
diag "jobs at once: recursive make $(peak_of "$T/pool.rec"), with a token held $(peak_of "$T/held.rec"); 3 tokens"
ok "the recursive make never ran more jobs than the pool's 3 tokens" \
	test "$(peak_of "$T/pool.rec")" -le 3
ok "a token taken through the FIFO path is missing for the make (<= 2)" \
	test "$(peak_of "$T/held.rec")" -le 2
ok "no make fell back to -j1 or its own pool" \
	sh -c "! grep -Eq 'jobserver unavailable|-jN forced' '$T/pool.log'"

# ---- compiles through dmake run go to the cluster ------------------------
start_sched
start_node n1 3
small_project
(cd "$P" && DMAKE_PLACEMENT=remote dmake run -- sh -c 'make -s' >"$T/cc.log" 2>&1)
sum=$(summary_of "$T/cc.log")
diag "$sum"
is "6 compiles ran remotely" "$(echo "$sum" | field_of - remote)" 6
ok "the objects equal plain make's" same6

# A launcher that holds the only local slot and execs the compiler: the
# shim is then the same process (same pid), and must run in that slot
# rather than wait for a second one that will never come.
printf 'int one(void) { return 1; }\n' >"$P/one.c"
(cd "$P" && DMAKE_LOCAL_SLOTS=1 timeout 60 dmake run -- \
	dmake-gate gcc -O2 -c one.c -o one.o >"$T/exec.log" 2>&1)
is "a gate exec'ing the shim in the one local slot: exit 0, no hang" "$?" 0
ok "... the object is there" test -s "$P/one.o"
finish
