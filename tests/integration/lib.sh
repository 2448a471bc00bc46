# lib.sh: what every integration test shares (sourced, POSIX sh).
#
# Each test gets its own temp dir, key, ports, scheduler and nodes on
# loopback; everything it started is killed on exit; logs are printed
# (as TAP comments) only when a check failed.  Nodes run in their own
# mount namespace with a tmpfs over the build's source tree, so a node
# that quietly read the client's files would fail here as on a real farm.
#
#   . "$DMAKE_SRC_DIR/tests/integration/lib.sh"
#   plan 3; setup; start_sched; start_node n1 4; ...; ok "desc" cmd...

set -u
: "${DMAKE_SRC_DIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${DMAKE_BUILD_DIR:=$DMAKE_SRC_DIR}"
PATH="$DMAKE_BUILD_DIR:$PATH"
export PATH DMAKE_SRC_DIR DMAKE_BUILD_DIR

T=""
PIDS=""

# Nodes run in their own mount namespace: that needs root (CI has it).
if ! unshare -m --propagation private true 2>/dev/null; then
	echo "1..0 # SKIP needs root for unshare -m (nodes must not see the sources)"
	exit 0
fi
NTEST=0
FAILED=0

plan() { echo "1..$1"; }
diag() { printf '# %s\n' "$*"; }

pass() { NTEST=$((NTEST + 1)); echo "ok $NTEST - $1"; }
fail() {
	NTEST=$((NTEST + 1)); FAILED=$((FAILED + 1))
	echo "not ok $NTEST - $1"
}
# ok DESC CMD...: passes when CMD exits 0.
ok() {
	d=$1; shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
# is DESC GOT WANT
is() {
	if [ "$2" = "$3" ]; then pass "$1"; else
		fail "$1"; diag "got:  '$2'"; diag "want: '$3'"
	fi
}
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
# bail MSG: the test cannot go on.  Says why on stderr (prove shows it
# even when not verbose) and leaves the logs to cleanup, which prints them.
bail() {
	FAILED=$((FAILED + 1))
	printf '# %s\n' "$*" >&2
	exit 1
}

cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	if [ "$FAILED" -ne 0 ] && [ -n "$T" ]; then
		# On stderr: what CI shows of a failing test.
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			diag "---- $f"
			tail -n 40 "$f" | sed 's/^/#   /'
		done >&2
		diag "kept $T" >&2
	elif [ -n "$T" ]; then
		rm -rf "$T"
	fi
}

setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/dmake-it-XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$T/src"
	dmake keygen "$T/key" >/dev/null || bail "dmake keygen failed"
	export DMAKE_KEY_FILE="$T/key"
	# Nothing from the user's own config may leak into a test.
	export XDG_CONFIG_HOME="$T/config" XDG_STATE_HOME="$T/state"
	export XDG_CACHE_HOME="$T/cache"
	unset DMAKE_SCHEDULER DMAKE_PLACEMENT DMAKE_LOCAL_SLOTS MAKEFLAGS
}

# A TCP port on 127.0.0.1 no socket uses now, below the kernel's
# ephemeral range: a port in that range may be taken at any moment as the
# local end of an outgoing connection (the scheduler link, a shim's), and
# a node that then cannot listen never registers.
free_port() {
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	[ "${low:-0}" -gt 12000 ] || low=32768
	while :; do
		p=$(( (($$ * 7919 + $(date +%N | sed 's/^0*//;s/^$/0/')) % (low - 10000)) + 10000 ))
		if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"; return
		fi
	done
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s; fails after SECONDS.
wait_for() {
	limit=$(( $1 * 10 )); shift
	i=0
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -ge "$limit" ] && return 1
		sleep 0.1
	done
}

start_sched() {
	SCHED_PORT=$(free_port)
	DMAKE_SCHEDULER="127.0.0.1:$SCHED_PORT"
	export DMAKE_SCHEDULER
	dmake-sched --listen "$DMAKE_SCHEDULER" --db "$T/sched.db" \
		--key-file "$T/key" >"$T/sched.log" 2>&1 &
	SCHED_PID=$!
	PIDS="$PIDS $SCHED_PID"
	wait_for 10 ss -Hltn "sport = :$SCHED_PORT" ||
		bail "scheduler did not start"
}

# How many nodes the scheduler lists now.
node_count() {
	dmake status --json 2>/dev/null | grep -o '"addr"' | wc -l
}

# start_node NAME SLOTS [extra dmaked args]: a node that cannot see $T/src.
start_node() {
	name=$1; slots=$2; shift 2
	port=$(free_port)
	mkdir -p "$T/$name"
	before=$(node_count)
	unshare -m --propagation private sh -c \
		'mount -t tmpfs none "$1" && shift && exec "$@"' sh "$T/src" \
		dmaked --scheduler "$DMAKE_SCHEDULER" --listen "127.0.0.1:$port" \
		--slots "$slots" --cache-dir "$T/$name" --key-file "$T/key" \
		--name "$name" "$@" >"$T/$name.log" 2>&1 &
	eval "NODE_PID_$name=$!"
	PIDS="$PIDS $!"
	wait_for 60 node_listed "$name" || bail "node $name did not register"
}

node_listed() {
	dmake status --json 2>/dev/null | grep -q "\"name\":\"$1\""
}

# The real project: libiberty from Debian's binutils-source, configured
# once per build tree (configure is slow) and copied into $T/src.
# prepare_libiberty [HOST CC]: configured for another host with a cross
# compiler (cached apart).
prepare_libiberty() {
	tarball=$(ls /usr/src/binutils/binutils-*.tar.* 2>/dev/null | head -n 1)
	[ -n "$tarball" ] || skip_all "binutils-source is not installed (apt-get install binutils-source)"
	cache="$DMAKE_BUILD_DIR/tests/cache"
	name=libiberty${1:+-${1%%-*}}
	if [ ! -f "$cache/$name.tar" ]; then
		mkdir -p "$cache"
		rm -rf "$cache/tmp-$name"; mkdir "$cache/tmp-$name"
		tar -C "$cache/tmp-$name" -xf "$tarball" --strip-components=1 \
			--wildcards '*/libiberty' '*/include' '*/config' \
			'*/config.guess' '*/config.sub' '*/install-sh' \
			'*/mkinstalldirs' '*/move-if-change' || return 1
		(cd "$cache/tmp-$name/libiberty" && CC=${2:-gcc} ./configure \
			${1:+--host=$1} >configure.log 2>&1) ||
			{ diag "libiberty configure failed"; return 1; }
		tar -C "$cache/tmp-$name" -cf "$cache/$name.tar" . &&
			rm -rf "$cache/tmp-$name"
	fi
	tar -C "$T/src" -xf "$cache/$name.tar"
	PROJ="$T/src/libiberty"
}

# Builds the project with plain make (the reference), keeps the objects
# in $T/ref and deletes them from the tree so the next build redoes all.
reference_build() {
	(cd "$PROJ" && make -j2 >"$T/ref-build.log" 2>&1) || return 1
	(cd "$PROJ" && find . -name '*.o' | sort >"$T/objects" &&
		mkdir -p "$T/ref" && tar -cf - -T "$T/objects" | tar -C "$T/ref" -xf - &&
		find . -name '*.o' -delete && rm -f libiberty.a)
}

# The cluster of the libiberty tests: the project and its reference
# build (check 1), a scheduler and two nodes of 2 slots (check 2).
libiberty_farm() {
	prepare_libiberty || bail "libiberty could not be prepared"
	ok "reference build with plain make" reference_build
	start_sched
	start_node n1 2
	start_node n2 2
	is "both nodes registered" "$(node_count)" 2
}

# Every object of the reference equals the one in the tree.
same_objects() {
	n=0; bad=0
	while read -r o; do
		n=$((n + 1))
		if ! cmp -s "$T/ref/$o" "$PROJ/$o"; then
			bad=$((bad + 1)); diag "differs: $o"
		fi
	done <"$T/objects"
	diag "$n objects compared, $bad differ"
	[ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
}

# The summary line dmake printed into a log.
summary_of() { grep '^dmake: remote=' "$1" | tail -n 1; }
field_of() { sed -n "s/.*[ :]$2=\\([0-9]*\\).*/\\1/p"; }

# small_project: six C files and a Makefile in $T/src/p (P), built once
# with plain make; the objects are kept in $T/src/ref.
small_project() {
	P="$T/src/p"; mkdir -p "$P"
	for i in 1 2 3 4 5 6; do
		printf 'int f%d(int x) { int r = 1; for (int k = 0; k < x; k++) r = r * 3 + k * %d; return r; }\n' \
			"$i" "$i" >"$P/f$i.c"
	done
	printf 'OBJS = f1.o f2.o f3.o f4.o f5.o f6.o\nall: $(OBJS)\n%%.o: %%.c\n\tcc -O2 -c $< -o $@\n' >"$P/Makefile"
	(cd "$P" && make -s -j2 && mkdir ../ref && mv ./*.o ../ref/)
}
# The small project's objects equal plain make's.
same6() {
	for i in 1 2 3 4 5 6; do cmp -s "$P/f$i.o" "$T/src/ref/f$i.o" || return 1; done
}

# rec_tool: $T/tools/rec CMD... runs CMD as one step recorded under flock
# into $REC_LOG as "start N NAME" / "end N NAME", N the steps running
# then (nothing is recorded without REC_LOG).  REC_HOLD=S keeps each step
# open S seconds longer, so overlaps are likely if nothing prevented
# them; no check depends on it.  peak_of LOG: the most steps at once.
rec_tool() {
	mkdir -p "$T/tools"
	cat >"$T/tools/rec" <<'R'
#!/bin/sh
log=${REC_LOG:-}
[ -n "$log" ] || exec "$@"
step() {
	flock "$log.lock" sh -c 'n=$(cat "$1.cur" 2>/dev/null || echo 0)
		n=$((n $2 1)); echo $n >"$1.cur"; echo "$3 $n $4" >>"$1"' \
		sh "$log" "$1" "$2" "${3##*/}"
}
step + start "$1"
"$@"; rc=$?
[ -z "${REC_HOLD:-}" ] || sleep "$REC_HOLD"
step - end "$1"
exit $rc
R
	chmod +x "$T/tools/rec"
}
peak_of() { awk '$1 == "start" && $2 > m { m = $2 } END { print m + 0 }' "$1"; }

finish() {
	[ "$FAILED" -eq 0 ]
}
