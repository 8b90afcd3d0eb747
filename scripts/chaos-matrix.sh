#!/usr/bin/env bash
# The whole chaos matrix (chaos-tests/tests/matrix.rs) for several seeds:
# each fault on five `meridian node` processes in network namespaces under a
# recorded S3 and gRPC workload, checked for linearizability and placement.
# Needs root (namespaces, tc, a tmpfs mount). The test command runs it for
# one seed; this runs SEEDS (default 1,2,3), one scenario at a time, and
# leaves each history under ${TMPDIR:-/tmp}/meridian-chaos-history/ and the
# whole output in ${TMPDIR:-/tmp}/meridian-chaos-matrix.log.
# Arguments: [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/ensure-deps.sh --test
. scripts/env.sh
cargo build -q --workspace --bins
export MERIDIAN_BIN="$CARGO_TARGET_DIR/debug/meridian"
export MERIDIANCTL_BIN="$CARGO_TARGET_DIR/debug/meridianctl"
export MERIDIAN_CHAOS_SEEDS="${1:-1,2,3}"
log="${TMPDIR:-/tmp}/meridian-chaos-matrix.log"
status=0
cargo nextest run -p meridian-chaos-tests --test matrix --no-fail-fast --test-threads 1 \
  --no-capture >"$log" 2>&1 || status=$?
grep -E "while faulty|every key|acknowledged again|SKIPPED|^ +(PASS|FAIL) " "$log" || true
[ "$status" = 0 ] || echo "failed: the whole output is in $log"
exit "$status"
