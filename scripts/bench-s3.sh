#!/usr/bin/env bash
# Reproduces the S3 figures of docs/benchmarks.md: starts `meridian dev`
# (release) on a fresh data directory, runs `meridian-bench s3` for PUT and
# GET at 4 KiB, 1 MiB and 64 MiB, prints one JSON line per run, and stops
# the server. Arguments: [DURATION_S] (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/ensure-deps.sh
. scripts/env.sh
duration="${1:-20}"
cargo build --release -q -p meridian-node -p meridian-bench
bin="$CARGO_TARGET_DIR/release"
data="$(mktemp -d /var/tmp/meridian-bench.XXXXXX)"
"$bin/meridian" dev --data-dir "$data" --s3-addr 127.0.0.1:19000 --grpc-addr 127.0.0.1:19050 >"$data.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 1 120); do grep -q "meridian: ready" "$data.log" && break; sleep 0.5; done
grep -q "meridian: ready" "$data.log" || { cat "$data.log"; exit 1; }
ep=http://127.0.0.1:19000
for spec in "4KiB 16" "1MiB 8" "64MiB 4"; do
  set -- $spec
  for op in put get; do
    "$bin/meridian-bench" s3 --endpoint "$ep" --op "$op" --size "$1" --concurrency "$2" --duration "$duration" --json
  done
done
