#!/bin/sh
# demo.sh (`make demo`): the main job, shown.  Starts a scheduler and two
# nodes on 127.0.0.1 (the nodes cannot see the sources), builds libiberty
# from Debian's binutils-source once with plain `make -j2` and once with
# `dmake make` (no -j) through the cluster, checks that every object is
# byte-identical, prints dmake's summary line and stops everything.
# It reuses the integration tests' helpers, so it runs what they test.
. "${DMAKE_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}/tests/integration/lib.sh"

say() { printf 'demo: %s\n' "$*"; }
setup
say "preparing libiberty (configured once, then cached)"
prepare_libiberty || exit 1
say "reference: plain make -j2"
start=$(date +%s.%N)
reference_build || { FAILED=1; say "plain make failed"; exit 1; }
say "plain make took $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $start }")s"
start_sched
say "scheduler on $DMAKE_SCHEDULER"
start_node n1 2
start_node n2 2
say "2 nodes registered:"
dmake status
say "dmake make (no -j) in $PROJ"
cd "$PROJ"
if ! DMAKE_PLACEMENT=remote dmake make >"$T/dmake-build.log" 2>&1; then
	FAILED=1
	say "dmake make failed (log below)"
	exit 1
fi
grep '^dmake: ' "$T/dmake-build.log"
if same_objects; then
	say "every object is byte-identical to plain make's"
else
	FAILED=1
	exit 1
fi
say "stopping the cluster"
