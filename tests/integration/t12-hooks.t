#!/bin/sh
# The distribution hooks against `dmake serve`: a kiss-style queue of
# packages built the way kiss runs them (hooks/kiss called with kiss's
# events and arguments, the build's environment from the profile lines
# `dmake serve --env` prints, `kill 0` after a failed build), and a build
# as user nobody inside `unshare --net --ipc`, as portage runs its
# phases, that reaches the server only through the socket's path and
# compiles on the node through the server's relay; the relay refuses
# addresses it never placed a job on.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

command -v cmake >/dev/null || skip_all "cmake is not installed"
command -v ninja >/dev/null || skip_all "ninja-build is not installed"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"

plan 30
setup
start_sched
start_node n1 3

# nobody must reach the server's directory and its own build.
chmod 711 "$T"
R="$T/run"
DMAKE_LOCAL_SLOTS=2 dmake serve --fifo "$R/jobserver" --socket "$R/sock" \
	--group nogroup >"$T/serve.out" 2>"$T/serve.log" &
SERVE_PID=$!
PIDS="$PIDS $SERVE_PID"
wait_for 10 test -S "$R/sock" || bail "dmake serve did not start"
ok "--group: the FIFO and the socket are the group's (0660, dir 0710)" \
	sh -c "[ \"\$(stat -c %a:%G '$R/jobserver')\" = 660:nogroup ] &&
		[ \"\$(stat -c %a:%G '$R/sock')\" = 660:nogroup ] &&
		[ \"\$(stat -c %a:%G '$R')\" = 710:nogroup ]"
dmake serve --env --fifo "$R/jobserver" --socket "$R/sock" >"$T/profile"

# ---- packages ------------------------------------------------------------
S="$T/src/repo"
mkdir -p "$S/liba" "$S/tool" "$S/broken"
for i in 1 2 3 4 5 6; do
	printf 'int a%d(int x) { int r = 0; for (int k = 0; k < x; k++) r += k ^ %d; return r; }\n' \
		"$i" "$i" >"$S/liba/a$i.c"
done
printf 'OBJS = a1.o a2.o a3.o a4.o a5.o a6.o\nliba.a: $(OBJS)\n\tar rcs $@ $(OBJS)\n%%.o: %%.c\n\tcc -O2 -c $< -o $@\n' \
	>"$S/liba/Makefile"
printf '#!/bin/sh -e\nmake\nmkdir -p "$1/usr/lib"\ncp liba.a "$1/usr/lib/"\n' >"$S/liba.build"
for i in 1 2 3 4; do
	printf 'int t%d(int x) { return x * %d; }\n' "$i" "$i" >"$S/tool/t$i.c"
done
printf '#include <stdio.h>\nint t1(int); int t2(int); int t3(int); int t4(int);\nint main(void) { printf("%%d\\n", t1(1) + t2(2) + t3(3) + t4(4)); return 0; }\n' \
	>"$S/tool/main.c"
cat >"$S/tool/CMakeLists.txt" <<'M'
cmake_minimum_required(VERSION 3.20)
project(tool C)
add_executable(tool main.c t1.c t2.c t3.c t4.c)
install(TARGETS tool)
M
printf '#!/bin/sh -e\ncmake -B build -G Ninja -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=Release\nninja -C build\nDESTDIR="$1" ninja -C build install\n' \
	>"$S/tool.build"
printf 'int broken(void) { return }\n' >"$S/broken/b.c"
printf '#!/bin/sh -e\ncc -c b.c\n' >"$S/broken.build"
chmod +x "$S"/*.build

# fake-kiss PKG...: what kiss does around each build, hooks included: it
# copies the sources to a build directory and runs the repository's
# build script there with the package directory as its argument.
cat >"$T/fake-kiss" <<'K'
#!/bin/sh
. "$PROFILE"
run_hook() {
	old_ifs=$IFS; IFS=:
	for h in $KISS_HOOK; do
		IFS=$old_ifs
		"$h" "$@" || { echo "fake-kiss: $1 hook failed" >&2; exit 1; }
	done
	IFS=$old_ifs
}
n=$#; i=0
for pkg; do
	i=$((i + 1))
	run_hook queue-status "$pkg" "$i" "$n"
	mak=$KISS_TMP/build/$pkg dest=$KISS_TMP/pkg/$pkg
	rm -rf "$mak" "$dest"; mkdir -p "$mak" "$dest"
	cp -R "$REPO/$pkg/." "$mak/"
	run_hook pre-build "$pkg" "$mak"
	if (cd "$mak" && "$REPO/$pkg.build" "$dest") >"$KISS_TMP/$pkg.log" 2>&1; then
		run_hook post-build "$pkg" "$dest"
	else
		run_hook build-fail "$pkg" "$mak"
		echo "fake-kiss: $pkg failed" >&2
		kill 0
	fi
done
K
chmod +x "$T/fake-kiss"
mkdir -p "$T/src/kiss"
(PROFILE="$T/profile" REPO="$S" KISS_TMP="$T/src/kiss" \
	KISS_HOOK="$DMAKE_SRC_DIR/hooks/kiss" DMAKE_PLACEMENT=remote \
	setsid "$T/fake-kiss" liba tool broken >"$T/kiss.out" 2>"$T/kiss.err")
rc=$?
sed 's/^/# /' "$T/kiss.err"
ok "queue-status prints each package's place in the queue" \
	sh -c "grep -q '^dmake: \[1/3\] liba' '$T/kiss.err' && grep -q '^dmake: \[3/3\] broken' '$T/kiss.err'"
ok "pre-build finds the server" grep -q '^dmake: liba: building on the cluster' "$T/kiss.err"
ok "liba: its 6 compiles ran on the cluster" \
	grep -q '^dmake: liba: remote=6 local=0 fallback=0' "$T/kiss.err"
ok "liba: the package holds the library" test -s "$T/src/kiss/pkg/liba/usr/lib/liba.a"
ok "tool (cmake, ninja): its 5 compiles ran on the cluster" \
	sh -c "grep '^dmake: tool: remote=' '$T/kiss.err' | grep -Eq 'remote=([5-9]|[1-9][0-9]) .*fallback=0'"
ok "tool: cmake found the compiler through the masquerade directory" \
	grep -q "CMAKE_C_COMPILER:.*=$(dirname "$(command -v dmake)")/masq/cc\$" \
	"$T/src/kiss/build/tool/build/CMakeCache.txt"
ok "tool: the program runs" sh -c "[ \"\$('$T/src/kiss/pkg/tool/usr/bin/tool')\" = 30 ]"
ok "broken: the compile error is the compiler's, reported once" \
	sh -c "[ \$(grep -c 'error: expected expression' '$T/src/kiss/broken.log') -eq 1 ]"
ok "broken: build-fail runs, then kiss kills its process group" \
	sh -c "[ $rc -ne 0 ] && grep -q '^dmake: broken: remote=' '$T/kiss.err' &&
		grep -q 'fake-kiss: broken failed' '$T/kiss.err'"
ok "dmake serve outlived the kill 0" kill -0 "$SERVE_PID"
ok "hooks ignore events they do not know, and succeed" \
	sh -c "'$DMAKE_SRC_DIR/hooks/kiss' post-install liba && '$DMAKE_SRC_DIR/hooks/kiss'"

# ---- portage's view: nobody, no network, only the socket's path --------
# The programs and masquerade links where nobody may run them, and a copy
# of the cluster key that is nobody's (the shim proves it to the node
# through the relay, as portage's user does with its own copy).
NB="$T/nb"
mkdir -p "$NB/bin/masq" "$NB/p"
cp "$(command -v dmake-cc)" "$(command -v dmake-gate)" "$NB/bin/"
for n in cc gcc; do ln -s ../dmake-cc "$NB/bin/masq/$n"; done
cp "$S"/liba/*.c "$S/liba/Makefile" "$NB/p/"
(cd "$NB/p" && make -s liba.a >/dev/null && mkdir ../ref && mv ./*.o ../ref/ && rm liba.a)
chown -R nobody:nogroup "$NB"
chmod -R go+rX "$NB"
install -m 600 -o nobody "$T/key" "$NB/key"
cat >"$NB/build.sh" <<B
#!/bin/sh
. "$T/profile"
export DMAKE_MASQ_DIR="$NB/bin/masq" PATH="$NB/bin/masq:$NB/bin:/usr/bin:/bin"
export DMAKE_KEY_FILE="$NB/key" DMAKE_LOG=info
# What the sandbox leaves: no interface but loopback.
ip -o link 2>/dev/null | grep -v ' lo:' && exit 99
id -un
cd "$NB/p" && rm -f ./*.o liba.a && make
B
chmod 755 "$NB/build.sh"
# counter NAME STATS-LINE
counter() { echo " $2" | field_of - "$1"; }
# as_portage NAME [SETUP]: the build as nobody in new net and ipc
# namespaces after SETUP (run as root inside them); the server's
# counters before and after are kept in $before and $after.
as_portage() {
	DMAKE_LOG=error dmake-gate true 2>/dev/null # settle, as the hook does
	before=$(cat "$R/stats")
	unshare --net --ipc sh -c "${2:-:} && exec setpriv --reuid=nobody \
		--regid=nogroup --clear-groups '$NB/build.sh'" >"$T/$1.log" 2>&1
	rc=$?
	DMAKE_LOG=error dmake-gate true 2>/dev/null
	after=$(cat "$R/stats")
	sed 's/^/# /' "$T/$1.log" | head -n 20
	diag "server counters before: $before"
	diag "server counters after:  $after"
	is "$1: as nobody in new net and ipc namespaces, make succeeds" "$rc" 0
}
delta() { echo $(( $(counter "$1" "$after") - $(counter "$1" "$before") )); }
same() {
	for i in 1 2 3 4 5 6; do cmp -s "$NB/p/a$i.o" "$NB/ref/a$i.o" || return 1; done
}
# Its 6 compiles went to the node, through the server's relay: the shim
# cannot dial a node from an empty network namespace.
through_relay() {
	is "$1: the server counted 6 remote compiles, no fallback" \
		"$(delta remote) $(delta local) $(delta fallback)" "6 0 0"
	ok "$1: each through the relay" test "$(delta relayed)" -ge 6
	ok "$1: objects equal plain make's" same
}
# Only a loopback that is down: connect fails with ENETUNREACH.
as_portage sandbox
ok "it ran as nobody" grep -q '^nobody$' "$T/sandbox.log"
ok "and used the server's jobserver (no -j1 fallback)" \
	sh -c "! grep -q 'jobserver unavailable' '$T/sandbox.log'"
through_relay sandbox
# As portage's network-sandbox leaves it: lo up with 10.0.0.1/8 on it,
# so the node's loopback address answers "refused" from inside.
as_portage network-sandbox "ip link set lo up && ip addr add 10.0.0.1/8 dev lo"
through_relay network-sandbox

# ---- the relay is no proxy --------------------------------------------------
libs=$(sed -n 's/^PKG_LIBS = //p' "$DMAKE_BUILD_DIR/Makefile")
# shellcheck disable=SC2086
ok "the test client builds" ${CC:-cc} -I"$DMAKE_SRC_DIR" \
	-o "$T/relayclient" "$DMAKE_SRC_DIR/tests/integration/relayclient.c" \
	"$DMAKE_BUILD_DIR/libdmake.a" $libs
# The scheduler: a TCP service the server is connected to, never a node.
"$T/relayclient" "$R/sock" "$DMAKE_SCHEDULER" >"$T/relayclient.out" \
	2>"$T/relayclient.log"
sed 's/^/# /' "$T/relayclient.out"
is "a relay to an address never placed on is refused, and that connection closed" \
	"$(sed -n 2,3p "$T/relayclient.out" | tr '\n' ' ')" \
	"RELAY_FAIL EPERM not a node this build was placed on closed "
is "the client's other connection is still served" \
	"$(sed -n 4p "$T/relayclient.out")" "granted again"
ok "RELAY after another message is a protocol error on that connection" \
	sh -c "sed -n 5,6p '$T/relayclient.out' | tr '\n' ' ' |
		grep -q '^not first: ERROR .* closed \$'"
ok "the server says whom it refused" \
	grep -q "refused a relay to $DMAKE_SCHEDULER" "$T/serve.log"
ok "and still serves" kill -0 "$SERVE_PID"

# ---- portage's bashrc fragment, pointed at this server ------------------
frag() {
	sed "s|/run/dmake/sock|$R/sock|g; s|/etc/dmake/portage.key|$NB/key|g" \
		"$DMAKE_SRC_DIR/hooks/portage.bashrc"
}
frag >"$T/bashrc"
ok "portage.bashrc: the compile phase gets the masquerade dir, the socket and the key" \
	bash -c "EBUILD_PHASE=compile DMAKE_MASQ_DIR=/x/masq PATH=/usr/bin:/bin
		. '$T/bashrc'
		[ \"\$DMAKE_SOCKET\" = '$R/sock' ] && [ \"\${PATH%%:*}\" = /x/masq ] &&
		[ \"\$DMAKE_KEY_FILE\" = '$NB/key' ]"
ok "portage.bashrc: the setup phase is left alone" \
	bash -c "EBUILD_PHASE=setup PATH=/usr/bin:/bin; unset DMAKE_SOCKET
		. '$T/bashrc'
		[ -z \"\${DMAKE_SOCKET:-}\" ] && [ \"\$PATH\" = /usr/bin:/bin ]"
finish
