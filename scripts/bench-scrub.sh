#!/usr/bin/env bash
# Reproduces the scrub figures of docs/benchmarks.md: a release `meridian
# dev` (five sites, three copies, links at full emulated speed) scrubbing at
# SCRUB_RATE per site with a 1 s rest between passes; `meridian-bench
# scrub` writes objects, injects FAULTS faults (flipped bits, truncated and
# deleted chunk files, one per object, seeded), waits until every one is
# found and repaired while two readers check every byte they get, then
# measures one task re-hashing 1 GiB of chunks (warm page cache, then cold).
# Arguments: [FAULTS] [OBJECTS] [SEED]. Prints one JSON object per run.
set -euo pipefail
cd "$(dirname "$0")/.."
faults="${1:-30}"
objects="${2:-60}"
seed="${3:-1}"
rate="${SCRUB_RATE:-64MiB}"
. scripts/bench-common.sh
start_meridian "" --link-scale 1.0 --chunk-size 256KiB --scrub-rate "$rate" --scrub-rest 1s
"$bin/meridian-bench" scrub --data-dir "$data/d" --faults "$faults" --objects "$objects" \
  --seed "$seed" --chunk-size 256KiB --access-key "$ak" --secret-key "$sk" --throughput-bytes 1GiB
cleanup
if [ "$(id -u)" = 0 ]; then
  "$bin/meridian-bench" scrub --data-dir /nonexistent --faults 0 --seed "$seed" \
    --throughput-bytes 1GiB --cold
fi
