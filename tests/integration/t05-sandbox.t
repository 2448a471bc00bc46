#!/bin/sh
# The sandbox every job runs in.  Node n1 finds as `gcc` a wrapper that is
# gcc (it execs the real one, so it has gcc's toolchain identity) unless
# the unit names an attack (an identifier dmake_t05_WHAT, which survives
# preprocessing): read /etc/shadow, a secret in the node's cache dir, a
# secret in another job's directory, a secret in the host's /tmp; connect
# to a listener the test runs on 127.0.0.1; fork 10000 processes; write a
# 20 GB file; take 2 GB of memory; burn CPU; sleep past the wall-clock
# limit.  Each attack must fail as an infrastructure failure (never as a
# compile error: the shim must compile it locally and the build go on)
# with the reason on stderr; no secret may come back, the listener must
# see no connection from a job, no process of a job may outlive it, and
# the node must go on compiling the same objects as a local compiler, for
# gcc, g++ and clang.  Then the same through dmake-cc: the build does not
# fail, the unit is compiled locally.  Node n2 runs where the kernel
# refuses a new net namespace: it says so in one line at start, offers no
# toolchain, and answers a job with an infrastructure failure.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 54
setup
start_sched

real_gcc=$(command -v gcc) || skip_all "no gcc"
command -v perl >/dev/null || skip_all "no perl"
secret="t05-SECRET-$$-$(date +%N)"
LPORT=$(free_port)

# The wrapper.  A successful attack prints what it got to stderr and then
# compiles as if nothing happened, so a leak would come back as a
# successful compile with the secret in its diagnostics.
mkdir -p "$T/wbin"
cat >"$T/wbin/gcc" <<EOF
#!/bin/sh
real=$real_gcc
mode=
for a; do
	case \$a in
	*.c|*.cc|*.i) [ -f "\$a" ] &&
		mode=\$(sed -n 's/.*dmake_t05_\([a-z]*\).*/\1/p' "\$a" | head -n 1) ;;
	esac
done
file=
case \$mode in
'') exec "\$real" "\$@" ;;
shadow) file=/etc/shadow ;;
cache) file=$T/n1/secret ;;
otherjob) file=$T/n1/jobs/job-other/secret ;;
hosttmp) file=$T/secret ;;
net) exec perl -MIO::Socket::INET -e '
	IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $LPORT,
		Timeout => 5) or die "t05: cannot connect to 127.0.0.1: \$!\n";
	print STDERR "t05: connected\n"; exec @ARGV' "\$real" "\$@" ;;
fork) exec perl -e '
	\$0 = "t05-forkbomb"; my \$n = 0;
	for (1 .. 10000) {
		my \$p = fork;
		die "t05: fork failed after \$n processes: \$!\n" unless defined \$p;
		if (\$p == 0) { sleep 600; exit 0 }
		\$n++;
	}
	print STDERR "t05: forked \$n processes\n"; exec @ARGV' "\$real" "\$@" ;;
bigfile) exec head -c 20G /dev/zero >big.bin ;;
mem) exec perl -e '
	\$0 = "t05-memhog"; my \$x = "x" x (2 * 1024 * 1024 * 1024);
	print STDERR "t05: got ", length(\$x), " bytes\n"; exec @ARGV' "\$real" "\$@" ;;
cpu) exec perl -e '\$0 = "t05-cpuhog"; 1 while 1' ;;
sleep) exec sleep 600.$$ ;;
esac
if cat "\$file" >&2; then exec "\$real" "\$@"; fi
echo "t05: cannot read \$file" >&2
exit 1
EOF
chmod +x "$T/wbin/gcc"

# A listener on loopback that logs every connection it accepts.
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
		LocalPort => $ARGV[0], Listen => 16, ReuseAddr => 1)
		or die "listen: $!\n";
	open my $log, ">>", $ARGV[1] or die; select $log; $| = 1;
	print "listening\n";
	while (my $c = $s->accept) { print "connection\n"; close $c }
' "$LPORT" "$T/listener.log" 2>"$T/listener.err" &
PIDS="$PIDS $!"
wait_for 10 grep -q listening "$T/listener.log" ||
	bail "the listener did not start"
perl -MIO::Socket::INET -e 'IO::Socket::INET->new("127.0.0.1:$ARGV[0]") or exit 1' "$LPORT"
connections() { grep -c '^connection' "$T/listener.log"; }
wait_for 5 test "$(connections)" -eq 1
is "the listener takes a connection from the host" "$(connections)" 1

saved_path=$PATH
PATH="$T/wbin:$PATH"
start_node n1 2 --job-timeout 5 --job-cpu 2 --job-mem 512M \
	--job-fsize 64M --job-procs 32
PATH=$saved_path
ok "n1 says how jobs run" \
	grep -q "sandbox: compiles run as .* in new user, mount, pid, ipc and net namespaces; per job: 5 s wall, 2 s CPU, 512 MiB memory, 64 MiB files, 32 processes" "$T/n1.log"
tc_gcc=$(awk '$2 == "compiler" && $5 == "gcc" { print $4; exit }' "$T/n1.log")
tc_gxx=$(awk '$2 == "compiler" && $5 == "g++" { print $4; exit }' "$T/n1.log")
tc_clang=$(awk '$2 == "compiler" && $5 == "clang" { print $4; exit }' "$T/n1.log")
ok "n1 offers the wrapper as gcc" \
	grep -q "compiler $T/wbin/gcc: $tc_gcc gcc " "$T/n1.log"
ok "... and every compiler passed the check in the sandbox" \
	test -n "$tc_gxx" -a -n "$tc_clang" -a -z "$(grep 'not offered' "$T/n1.log")"
n1_addr="127.0.0.1:$port"

# Secrets where a job must not reach: the cache dir, another job's
# directory, the host's /tmp.
printf '%s cache\n' "$secret" >"$T/n1/secret"
mkdir -p "$T/n1/jobs/job-other"
printf '%s otherjob\n' "$secret" >"$T/n1/jobs/job-other/secret"
printf '%s hosttmp\n' "$secret" >"$T/secret"

libs=$(sed -n 's/^PKG_LIBS = //p' "$DMAKE_BUILD_DIR/Makefile")
# shellcheck disable=SC2086
ok "the test client builds" ${CC:-cc} -I"$DMAKE_SRC_DIR" \
	-o "$T/jobclient" "$DMAKE_SRC_DIR/tests/integration/jobclient.c" \
	"$DMAKE_BUILD_DIR/libdmake.a" $libs

# job TOOLCHAIN ROLE OUT SOURCE [FLAG...]: the source is its own unit,
# sent to $node.
node=$n1_addr
job() {
	tc=$1; role=$2; out=$3; src=$4; shift 4
	"$T/jobclient" "$node" "$T/key" job "$tc" "$role" "$T/src/p" \
		"$src" "$T/src/p/$src" "$T/$out" "$@" 2>>"$T/client.log"
}

mkdir -p "$T/src/p" && cd "$T/src/p" || bail "setup failed"
cat >a.c <<'EOF'
static const char greeting[] = "hello from a sandbox";
int counter;
const char *greet(int n) { counter += n; return greeting + (n & 3); }
EOF
cat >a.cc <<'EOF'
template <typename T> struct box { T v; T twice() const { return v + v; } };
int use(int x) { return box<int>{x}.twice(); }
EOF
gcc -O2 -g -c a.c -o a.o || bail "setup failed"
clang -O2 -g -c a.c -o a-clang.o || bail "setup failed"
g++ -O2 -g -c a.cc -o a-cxx.o || bail "setup failed"

is "gcc -g in the sandbox" "$(job "$tc_gcc" gcc a a.c -O2 -g)" "status=0 flags=1"
ok "... writes the object a local gcc writes" cmp "$T/a.o" a.o
is "clang -g in the sandbox" "$(job "$tc_clang" clang ac a.c -O2 -g)" \
	"status=0 flags=1"
ok "... writes the object a local clang writes" cmp "$T/ac.o" a-clang.o
is "g++ -g in the sandbox" "$(job "$tc_gxx" g++ ax a.cc -O2 -g)" \
	"status=0 flags=1"
ok "... writes the object a local g++ writes" cmp "$T/ax.o" a-cxx.o

# attack WHAT: a unit that asks the wrapper for WHAT, sent to n1.
attack() {
	printf 'int dmake_t05_%s;\n' "$1" >"$1.c"
	job "$tc_gcc" gcc "$1" "$1.c" -O2
}
infra="status=255 flags=2"

is "reading /etc/shadow: an infrastructure failure" "$(attack shadow)" "$infra"
ok "... that says why" grep -q "t05: cannot read /etc/shadow" "$T/shadow.err"
ok "... and nothing of the file came back" \
	test -z "$(grep -s '^root:' "$T/shadow.err" "$T/shadow.o")"

is "reading the node's cache dir: an infrastructure failure" \
	"$(attack cache)" "$infra"
ok "... that says why" grep -q "t05: cannot read $T/n1/secret" "$T/cache.err"
is "reading another job's directory: an infrastructure failure" \
	"$(attack otherjob)" "$infra"
ok "... that says why" \
	grep -q "t05: cannot read $T/n1/jobs/job-other/secret" "$T/otherjob.err"
is "reading the host's /tmp: an infrastructure failure" \
	"$(attack hosttmp)" "$infra"
ok "... that says why" grep -q "t05: cannot read $T/secret" "$T/hosttmp.err"

is "connecting to 127.0.0.1: an infrastructure failure" "$(attack net)" \
	"$infra"
ok "... that says why" grep -q "t05: cannot connect to 127.0.0.1: Network is unreachable" "$T/net.err"
is "... and the listener saw no connection" "$(connections)" 1

is "forking 10000 processes: an infrastructure failure" "$(attack fork)" \
	"$infra"
ok "... that names the limit" \
	grep -q "limit of 32 per job (dmaked --job-procs): t05: fork failed after" "$T/fork.err"
ok "... and no process of the job is left" \
	test -z "$(pgrep -f t05-forkbomb)"

is "writing a 20 GB file: an infrastructure failure" "$(attack bigfile)" \
	"$infra"
ok "... that names the limit" \
	grep -q "larger than this node's limit of 64 MiB (dmaked --job-fsize)" "$T/bigfile.err"

is "taking 2 GB of memory: an infrastructure failure" "$(attack mem)" \
	"$infra"
ok "... that names the limit" \
	grep -q "out of memory .* limit of 512 MiB per process (dmaked --job-mem)" "$T/mem.err"

is "burning CPU: an infrastructure failure" "$(attack cpu)" "$infra"
ok "... that names the limit" \
	grep -q "limit of 2 s (dmaked --job-cpu)" "$T/cpu.err"
ok "... and no process of the job is left" test -z "$(pgrep -f t05-cpuhog)"

is "sleeping past --job-timeout: an infrastructure failure" \
	"$(attack sleep)" "$infra"
ok "... that names the limit" grep -q "limit of 5 s (dmaked --job-timeout)" \
	"$T/sleep.err"

ok "no secret came back in any answer or the node's log" \
	test -z "$(grep -rls "$secret" "$T"/*.err "$T"/*.o "$T/n1.log" "$T/client.log")"
is "no job reached the listener" "$(connections)" 1
ok "no process of any job is left" \
	test -z "$(pgrep -f 't05-(forkbomb|memhog|cpuhog)'; pgrep -f "sleep 600.$$")"

rm -f "$T/a.o"
is "n1 still compiles after all that" "$(job "$tc_gcc" gcc a a.c -O2 -g)" \
	"status=0 flags=1"
ok "... the same object" cmp "$T/a.o" a.o
ok "n1 is still registered" node_listed n1

# A real compile error is still the compiler's verdict, byte for byte.
printf 'int f(void) { return undeclared_thing; }\n' >bad.c
gcc -c bad.c -o bad.o 2>bad.err
is "a compile error in the sandbox is status 1" \
	"$(job "$tc_gcc" gcc bad bad.c)" "status=1 flags=0"
ok "... with gcc's stderr byte for byte" cmp "$T/bad.err" bad.err

# The same attack through the real shim: a build does not fail, the
# unit is compiled locally after the node's infrastructure failures.
printf '#include <stdio.h>\nint dmake_t05_shadow;\nint main(void) { return puts("x"); }\n' >evil.c
gcc -O2 -c evil.c -o evil-local.o || bail "setup failed"
dmake run -- gcc -O2 -c evil.c -o evil.o >"$T/shim.log" 2>&1
is "dmake-cc: the build goes on (exit 0)" "$?" 0
sum=$(summary_of "$T/shim.log")
diag "$sum"
is "... the compile was done locally after the node failed" \
	"$(echo "$sum" | field_of - remote)/$(echo "$sum" | field_of - fallback)" "0/1"
ok "... into the object a local compile makes" cmp evil.o evil-local.o
ok "... and the user saw no secret" test -z "$(grep '^root:' "$T/shim.log")"

# A node where the kernel refuses a net namespace (a per user namespace
# limit of 0, so nothing else on the host is touched).
port2=$(free_port)
mkdir -p "$T/n2"
unshare -U -r -m --propagation private sh -c \
	'echo 0 >/proc/sys/user/max_net_namespaces &&
	mount -t tmpfs none "$1" && shift && exec "$@"' sh "$T/src" \
	dmaked --scheduler "$DMAKE_SCHEDULER" --listen "127.0.0.1:$port2" \
	--slots 1 --cache-dir "$T/n2" --key-file "$T/key" --name n2 \
	>"$T/n2.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 20 node_listed n2 || bail "n2 did not register"
ok "n2 says in one line that the kernel refuses a net namespace" \
	test "$(grep -c 'sandbox: the kernel refuses a new net namespace' "$T/n2.log")" -eq 1
ok "... and what to do" grep -q -- "--no-sandbox" "$T/n2.log"
ok "... and registers with no toolchain" \
	grep -q "node joined: n2 .*, 0 toolchains" "$T/sched.log"
node="127.0.0.1:$port2"
is "n2 answers a job with an infrastructure failure" \
	"$(job "$tc_gcc" gcc n2 a.c -O2)" "$infra"
ok "... that says why" grep -q "refuses jobs: its sandbox does not work: the kernel refuses a new net namespace" "$T/n2.err"
ok "... and compiled nothing" test ! -e "$T/n2.o"

rm -rf "$T/n1/jobs/job-other"
ok "no job directory is left behind" \
	test "$(find "$T/n1/jobs" "$T/n2/jobs" -mindepth 1 | wc -l)" -eq 0
finish
