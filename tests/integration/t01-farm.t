#!/bin/sh
# The farm end to end: libiberty (from Debian's binutils-source) built by
# `dmake make` with no -j on a loopback cluster of one scheduler and two
# nodes that cannot see the sources, every compile placed remotely, every
# object byte-identical to a plain local make.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

plan 7
setup
libiberty_farm

cd "$PROJ"
DMAKE_PLACEMENT=remote dmake make >"$T/dmake-build.log" 2>&1
rc=$?
is "dmake make exits 0" "$rc" 0
sum=$(summary_of "$T/dmake-build.log")
diag "$sum"
compiles=$(wc -l <"$T/objects")
is "every compile ran remotely" "$(echo "$sum" | field_of - remote)" "$compiles"
is "none locally" "$(echo "$sum" | field_of - local)$(echo "$sum" | field_of - fallback)" "00"
ok "every object is byte-identical to the local build" same_objects
ok "the library links" test -s "$PROJ/libiberty.a"
finish
