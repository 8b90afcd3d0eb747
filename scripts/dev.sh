#!/usr/bin/env bash
# Builds (release) and runs `meridian dev`: the five-site federation in one
# process. Extra arguments go to `meridian dev`, e.g. --data-dir /tmp/m.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/ensure-deps.sh
. scripts/env.sh
exec cargo run --release -p meridian-node --bin meridian -- dev "$@"
