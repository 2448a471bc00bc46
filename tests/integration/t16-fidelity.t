#!/bin/sh
# What a user sees from a remote compile is what the local compile
# shows, at any size and in the corners users leave icecream over:
# - a 300 MB object and 5 MB of warnings travel through a real node byte
#   for byte, and neither the shim nor the node holds them in memory
#   (peak RSS, VmHWM, measured: the shim's own through rsspeak.c, the
#   node's from /proc before and after);
# - a compile with warnings, an error or -Werror runs once, on the node:
#   a counting wrapper stands in for the real compiler on the client's
#   PATH and sees no local compile, the node's log shows one job each;
# - colours (-fdiagnostics-color=always, GCC_COLORS, and the default
#   "auto" on a terminal, URLs and excerpt width included) and the
#   client's locale (quotes) reach stderr as a local compile writes them;
# - gcc's source excerpts under a warning come from the original files
#   (the node never sees the sources: a tmpfs hides them);
# - clang deletes the object of a failed compile and gcc keeps it.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 72
setup
command -v script >/dev/null || skip_all "script(1) is not installed"
export DMAKE_LOG=debug
start_sched
start_node n1 2
unset DMAKE_LOG

ok "the RSS probe builds" ${CC:-cc} -shared -fPIC -o "$T/rsspeak.so" \
	"$DMAKE_SRC_DIR/tests/integration/rsspeak.c"

# The client's compilers, counted: each call appends its arguments to
# $T/calls.log and runs the real one.  The shim finds these on PATH
# after the masquerade directory, as it would find /usr/bin/gcc.
mkdir -p "$T/wrap"
for c in gcc clang; do
	printf '#!/bin/sh\nprintf "%%s\\n" "%s $*" >>"%s/calls.log"\nexec /usr/bin/%s "$@"\n' \
		"$c" "$T" "$c" >"$T/wrap/$c"
	chmod +x "$T/wrap/$c"
done
# Compiles the client ran itself: -c without -E (the shim's own
# preprocessing and the coordinator's identity probes do not count).
local_compiles() {
	grep -e ' -c ' "$T/calls.log" 2>/dev/null | grep -v -e ' -E ' |
		grep -c -e "$1" || true
}
node_jobs() { grep -c ': job [0-9]*: status ' "$T/n1.log"; }

P="$T/src/p"
mkdir -p "$P"
cd "$P" || bail "setup failed"

# remote NAME CMD...: CMD (a compile by name, so through the
# masquerade) under `dmake run` with every compile placed on a node, in
# $P, with the counted compilers first after the masquerade and the RSS
# probe preloaded.  stderr to $T/NAME.err, status to $T/NAME.rc, dmake's
# summary line to $T/NAME.sum, the shim's peak RSS to $T/NAME.rss.
remote() {
	name=$1; shift
	rm -f "$T/$name.rss"
	ERR="$T/$name.err" RC="$T/$name.rc" PATH="$T/wrap:$PATH" \
		DMAKE_PLACEMENT=remote LD_PRELOAD="$T/rsspeak.so" \
		DMAKE_TEST_RSS_LOG="$T/$name.rss" \
		dmake run -- sh -c '"$@" 2>"$ERR"; echo $? >"$RC"' sh "$@" \
		2>"$T/$name.sum"
}
# here NAME CMD...: the same compile by the real compiler, no dmake.
here() {
	name=$1; shift
	"$@" 2>"$T/$name.lerr"
	echo $? >"$T/$name.lrc"
}
summary() { summary_of "$T/$1.sum"; }
rss_of() { awk '{ print $2 }' "$T/$1.rss" 2>/dev/null | sort -n | tail -n 1; }
hwm_of_node() {
	eval "pid=\$NODE_PID_$1"
	awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"
}

# ---- a baseline: a small remote compile --------------------------------

printf 'int small(int x) { return x * 3; }\n' >small.c
remote small gcc -O2 -c small.c -o small.o
is "a small compile runs on the node" "$(summary small | field_of - remote)" 1
small_rss=$(rss_of small)
node_before=$(hwm_of_node n1)
diag "shim peak RSS, small compile: ${small_rss} kB; dmaked VmHWM: ${node_before} kB"

# ---- a 300 MB object --------------------------------------------------------

# A generated table: initialized, so all 300 MB are in the object.
printf 'char table[300 << 20] = {1, [(300 << 20) - 1] = 2};\nint after = 3;\n' >big.c
here big gcc -O0 -c big.c -o big.o && mv big.o "$T/big-local.o"
is "the 300 MB object compiles here" "$(cat "$T/big.lrc")" 0
remote big gcc -O0 -c big.c -o big.o
is "... and on the node (exit status)" "$(cat "$T/big.rc")" 0
is "... placed remotely, no fallback" \
	"$(summary big | field_of - remote) $(summary big | field_of - fallback)" "1 0"
ok "... byte-identical to the local object" cmp -s big.o "$T/big-local.o"
size=$(wc -c <big.o)
ok "... which is over 300 MB ($size bytes)" test "$size" -gt 314572800
big_rss=$(rss_of big)
diag "shim peak RSS with the 300 MB object: ${big_rss} kB"
ok "the shim's peak RSS stays under 64 MB" test "${big_rss:-999999}" -lt 65536
ok "... within 8 MB of a small compile's" \
	test "$((big_rss - small_rss))" -lt 8192
rm -f big.o "$T/big-local.o"

# ---- 5 MB of warnings -----------------------------------------------------

awk 'BEGIN { print "void many(void)\n{"; for (i = 0; i < 36000; i++) printf "\tint unused_%d;\n", i; print "}" }' >warn.c
here warn gcc -Wall -c warn.c -o warn.o && mv warn.o "$T/warn-local.o"
jobs_before=$(node_jobs)
remote warn gcc -Wall -c warn.c -o warn.o
is "36000 warnings: exit 0 on the node" "$(cat "$T/warn.rc")" 0
ok "... stderr byte-identical to the local one" cmp -s "$T/warn.err" "$T/warn.lerr"
esize=$(wc -c <"$T/warn.err")
ok "... which is over 5 MB ($esize bytes)" test "$esize" -gt 5000000
ok "... with gcc's excerpts under each warning" \
	grep -q '^36002 |  *int unused_35999;$' "$T/warn.err"
ok "... and the same object" cmp -s warn.o "$T/warn-local.o"
is "... compiled once: on the node (one job)" "$(($(node_jobs) - jobs_before))" 1
is "... and never here" "$(local_compiles warn.c)" 0
warn_rss=$(rss_of warn)
diag "shim peak RSS with 5 MB of stderr: ${warn_rss} kB"
ok "the shim's peak RSS stays within 4 MB of a small compile's" \
	test "$((warn_rss - small_rss))" -lt 4096
node_after=$(hwm_of_node n1)
diag "dmaked VmHWM after both: ${node_after} kB (before: ${node_before} kB)"
ok "dmaked's peak RSS grew by less than 32 MB" \
	test "$((node_after - node_before))" -lt 32768

# ---- the files a unit names travel once -----------------------------------

# A header whose excerpt a warning quotes, in two units.  The node keeps
# the files by content: the second unit sends only itself; a changed
# header is sent again and quoted as it is now, never as it was.
files_line() { grep 'files laid out:' "$T/n1.log" | tail -n 1; }
printf 'static inline int hf(void)\n{\n\tint stale_%s;\n\treturn 0;\n}\n' one >hh.h
for u in ha hb; do
	printf '#include <stdio.h>\n#include "hh.h"\nint %s(void) { return hf() + printf("x"); }\n' "$u" >"$u.c"
	here "$u" gcc -Wall -c "$u.c" -o "$T/$u-local.o"
done
remote ha gcc -Wall -c ha.c -o ha.o
ok "a warning in a header: stderr byte-identical" cmp -s "$T/ha.err" "$T/ha.lerr"
ok "... quoting the header's line" grep -q 'int stale_one;' "$T/ha.err"
first=$(files_line)
diag "first unit: $first"
ok "... the node had none of its files: all received" \
	sh -c "echo '$first' | grep -q ': 0 from the cache, [1-9][0-9]* received'"
remote hb gcc -Wall -c hb.c -o hb.o
ok "a second unit with the same header: stderr byte-identical" \
	cmp -s "$T/hb.err" "$T/hb.lerr"
second=$(files_line)
diag "second unit: $second"
ok "... only the unit's own source was sent, the rest came from the cache" \
	sh -c "echo '$second' | grep -q ': [1-9][0-9]* from the cache, 1 received'"
ok "... and the object is the local one" cmp -s hb.o "$T/hb-local.o"
sed -i 's/stale_one/fresh_two/' hh.h
here hb2 gcc -Wall -c hb.c -o "$T/hb2-local.o"
remote hb2 gcc -Wall -c hb.c -o hb.o
ok "the header changed: stderr byte-identical to the local one" \
	cmp -s "$T/hb2.err" "$T/hb2.lerr"
ok "... quoting the header as it is now" grep -q 'int fresh_two;' "$T/hb2.err"
ok "... which was sent again" \
	sh -c "files_line() { grep 'files laid out:' '$T/n1.log' | tail -n 1; }; files_line | grep -q ', 1 received'"

# The build's coordinator remembers the hashes its shims computed: the
# second unit of one build hashes none of the headers it shares.  (The
# files must be older than 2 s: a newer one may still change within its
# clock tick, and its hash is not kept.)
touch -d '-1 minute' hh.h ha.c hb.c
DMAKE_PLACEMENT=remote DMAKE_LOG=debug PATH="$T/wrap:$PATH" \
	dmake run -- sh -c 'gcc -Wall -c ha.c -o ha.o && gcc -Wall -c hb.c -o hb.o' \
	>"$T/hashes.log" 2>&1
hashes_line() { grep 'hashes from dmake' "$T/hashes.log" | sed -n "$1p"; }
diag "first: $(hashes_line 1 | sed 's/.*: //')"
diag "second: $(hashes_line 2 | sed 's/.*: //')"
ok "the first unit of a build computes its hashes" \
	sh -c "echo '$(hashes_line 1)' | grep -q '; 0 hashes from dmake'"
ok "... the second takes those it shares from the coordinator" \
	sh -c "echo '$(hashes_line 2)' | grep -q '; 2[0-9] hashes from dmake'"
ok "... and its object is still the local one" cmp -s hb.o "$T/hb2-local.o"

# ---- a response file: read here as gcc reads it, compiled there ----------

printf -- "-O2 -Wall\n-c 'ha.c' -o \"rsp out.o\"\n" >cc.rsp
here rsp gcc @cc.rsp && mv "rsp out.o" "$T/rsp-local.o"
remote rsp gcc @cc.rsp
is "gcc @FILE: placed remotely, no fallback" \
	"$(summary rsp | field_of - remote) $(summary rsp | field_of - fallback)" "1 0"
ok "... the local object, where the file says" cmp -s "rsp out.o" "$T/rsp-local.o"
ok "... and the local stderr" cmp -s "$T/rsp.err" "$T/rsp.lerr"

# ---- -gsplit-dwarf: the .dwo comes back beside the object -----------------

printf '#include <stdio.h>\nstatic int g(int x) { return x + 1; }\nint f(int x) { printf("%%d", x); return g(x) * 2; }\n' >sd.c
mkdir -p sd ref
split_case() {
	name=$1; shift
	rm -f sd/* ref/*
	"$@" -O2 -gsplit-dwarf -c sd.c -o sd/sd.o && mv sd/* ref/
	remote "$name" "$@" -O2 -gsplit-dwarf -c sd.c -o sd/sd.o
	is "$name -gsplit-dwarf: placed remotely, no fallback" \
		"$(summary "$name" | field_of - remote) $(summary "$name" | field_of - fallback)" "1 0"
	ok "... the local object and the local .dwo" \
		sh -c 'cmp -s sd/sd.o ref/sd.o && cmp -s sd/sd.dwo ref/sd.dwo'
}
split_case sdgcc gcc -g
split_case sdgxx g++ -g -x c++
split_case sdclang clang -g -gdwarf-4
# gcc 12 writes a .dwo without -g as well (measured)
split_case sdnog gcc
remote sdabs gcc -g -gsplit-dwarf -c sd.c -o "$P/sd/abs.o"
is "... an absolute -o, which the object records, compiles here" \
	"$(summary sdabs | field_of - local)" 1

# ---- -Werror, compile errors: once, as here --------------------------------

printf '#include <stdio.h>\nint f(void)\n{\n\tint x;\n\treturn printf("%%d\\n", 1);\n}\n' >werr.c
here werr gcc -Wall -Werror -fdiagnostics-color=always -c werr.c -o werr.o
jobs_before=$(node_jobs)
remote werr gcc -Wall -Werror -fdiagnostics-color=always -c werr.c -o werr.o
is "-Werror with colours: the local exit status" "$(cat "$T/werr.rc")" "$(cat "$T/werr.lrc")"
ok "... not 0" test "$(cat "$T/werr.rc")" -ne 0
ok "... stderr byte-identical, escapes included" cmp -s "$T/werr.err" "$T/werr.lerr"
ok "... which has colour escapes" grep -q "$(printf '\033')\\[" "$T/werr.err"
is "... one job on the node" "$(($(node_jobs) - jobs_before))" 1
is "... none here" "$(local_compiles werr.c)" 0
ok "... and no object" test ! -e werr.o

# An error, then many warnings after it: the node must see the error
# even when it is far from the end of the output.
{ printf 'int broken(void) { return missing; }\n'
  awk 'BEGIN { print "void later(void)\n{"; for (i = 0; i < 3000; i++) printf "\tint later_%d;\n", i; print "}" }'
} >err.c
here err gcc -Wall -c err.c -o err.o
jobs_before=$(node_jobs)
remote err gcc -Wall -c err.c -o err.o
is "an error before 3000 warnings: exit status 1" "$(cat "$T/err.rc")" 1
ok "... stderr byte-identical" cmp -s "$T/err.err" "$T/err.lerr"
is "... one job, not retried elsewhere" "$(($(node_jobs) - jobs_before))" 1
is "... no local compile, no fallback" \
	"$(local_compiles err.c) $(summary err | field_of - fallback)" "0 0"

# gcc leaves the object of an earlier compile when one fails, clang
# removes it (measured); the shim does as they do.
for c in gcc clang; do
	echo stale >err.o
	here "stale-$c" "$c" -c err.c -o err.o
	if [ -e err.o ]; then l=kept; else l=removed; fi
	echo stale >err.o
	remote "stale-$c" "$c" -c err.c -o err.o
	if [ -e err.o ]; then r=kept; else r=removed; fi
	is "$c: a failed compile leaves an older object as here ($l)" "$r" "$l"
done
rm -f err.o

# ---- colours, the palette, a terminal --------------------------------------

printf 'int g(int v)\n{\n\tint quiet;\n\tunsigned u = 3;\n\t\treturn /* %s */ u < v;\n}\n' \
	"a comment long enough to push the warning past a narrow terminal" >col.c
export GCC_COLORS='error=01;33:warning=04;32:note=01;34:locus=03:quote=07'
here pal gcc -Wall -Wextra -fdiagnostics-color=always -c col.c -o col.o
remote pal gcc -Wall -Wextra -fdiagnostics-color=always -c col.c -o col.o
unset GCC_COLORS
ok "GCC_COLORS: the palette travels, stderr byte-identical" \
	cmp -s "$T/pal.err" "$T/pal.lerr"
ok "... and it is the custom palette" grep -q "$(printf '\033')\\[04;32m" "$T/pal.err"

# On a terminal, with no colour option: "auto", decided by the node's
# compiler on a terminal like the client's (xterm-256color: colours and
# URLs; 50 columns: gcc scrolls the long line to show the warning).  script(1) gives both runs
# a terminal; the compile's stderr is the terminal, dmake's own is not.
term_compile() {
	name=$1; shift
	TERM=xterm-256color script -qec "stty cols 50 rows 20; $*" /dev/null \
		>"$T/$name.tty" 2>&1
}
for c in gcc clang; do
	term_compile "tty-$c-here" "$c -Wall -Wextra -c col.c -o col.o"
	term_compile "tty-$c-remote" "exec 3>&2; \
		PATH='$T/wrap:$PATH' DMAKE_PLACEMENT=remote \
		dmake run -- sh -c '$c -Wall -Wextra -c col.c -o col.o 2>&3' \
		2>'$T/tty-$c.sum'"
	is "$c on a terminal: placed remotely" \
		"$(summary "tty-$c" | field_of - remote)" 1
	ok "$c on a terminal: what the terminal shows is byte-identical" \
		cmp -s "$T/tty-$c-here.tty" "$T/tty-$c-remote.tty"
	ok "... and it is in colour" \
		grep -q "$(printf '\033')\\[" "$T/tty-$c-remote.tty"
done
ok "gcc on a terminal: with its URLs" \
	grep -q "$(printf '\033')\\]8;;http" "$T/tty-gcc-remote.tty"
ok "... and the excerpt scrolled to the terminal's 50 columns" \
	grep -q '^    5 |  warning past a narrow terminal' "$T/tty-gcc-remote.tty"
is "no terminal compile ran here" "$(local_compiles col.c)" 0

# ---- __DATE__ and SOURCE_DATE_EPOCH ---------------------------------------

# A node compiles at another time: a unit with __DATE__ stays here,
# unless SOURCE_DATE_EPOCH fixes the date for gcc (Debian's package
# builds set it); then the node gets it and the object is the same.
printf 'const char *built = "built " __DATE__ " " __TIME__;\n' >when.c
remote when gcc -O2 -c when.c -o when.o
is "__DATE__: compiled here" \
	"$(summary when | field_of - remote) $(summary when | field_of - local)" "0 1"
export SOURCE_DATE_EPOCH=1700000000
here when-sde gcc -O2 -c when.c -o when.o && mv when.o "$T/when-local.o"
remote when-sde gcc -O2 -c when.c -o when.o
unset SOURCE_DATE_EPOCH
is "__DATE__ with SOURCE_DATE_EPOCH: compiled on the node" \
	"$(summary when-sde | field_of - remote)" 1
ok "... into the local object" cmp -s when.o "$T/when-local.o"

# ---- the client's locale -------------------------------------------------

# A node whose own locale is C writes '...' where a client in C.UTF-8
# gets curly quotes: the job runs in the client's locale.
kill -9 "$NODE_PID_n1"
old_lang=${LANG-}
export LANG=C
unset LC_ALL LC_MESSAGES LC_CTYPE
start_node n2 1
export LANG=C.UTF-8
here quote gcc -Wall -c col.c -o col.o
remote quote gcc -Wall -c col.c -o col.o
ok "a node in the C locale: the client's curly quotes" \
	cmp -s "$T/quote.err" "$T/quote.lerr"
ok "... which are curly" grep -q '‘quiet’' "$T/quote.err"
if [ -n "$old_lang" ]; then export LANG="$old_lang"; else unset LANG; fi

ok "no job directory is left behind" \
	test "$(find "$T/n1/jobs" "$T/n2/jobs" -mindepth 1 | wc -l)" -eq 0
finish
