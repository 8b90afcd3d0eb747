#!/usr/bin/env bash
# The test command: format, lints, then every test (unit, openraft's storage
# suite, end-to-end with the real aws CLI, boto3 and the AWS SDK for Rust,
# and the kill -9 chaos test), against the real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/ensure-deps.sh --test
. scripts/env.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The end-to-end and chaos tests drive the real binaries.
cargo build --workspace --bins
export MERIDIAN_BIN="$CARGO_TARGET_DIR/debug/meridian"
export MERIDIANCTL_BIN="$CARGO_TARGET_DIR/debug/meridianctl"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
